/* The store's per-run data: metric series, samples, the event log and the
 * rewind after a crash. */
#include "store_fixture.h"

#include "gand/alloc.h"
#include "gand/store.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const metric_names[] = {"fcd", "loss_d", "loss_g", "lr"};
#define NMETRICS 4

/* The value stored for metric m at step: exact in a double. */
static double metric_value(int m, int64_t step) { return m * 100000.0 + (double)step * 0.5; }

/* Adds steps first..last of every metric name in one batch. */
static void add_steps(store *s, int64_t run, int64_t first, int64_t last)
{
    size_t n = (size_t)(last - first + 1) * NMETRICS, k = 0;
    store_metric *pts = gand_calloc(n, sizeof *pts);
    ck_assert_ptr_nonnull(pts);
    for (int64_t step = first; step <= last; step++)
        for (int m = 0; m < NMETRICS; m++)
            pts[k++] = (store_metric){step, metric_names[m], metric_value(m, step)};
    char err[256];
    ck_assert_msg(store_metrics_add(s, run, pts, n, err, sizeof err) == GAND_OK, "%s", err);
    gand_free(pts);
}

/* Checks set holds every metric with exactly steps first..last. */
static void check_series(const store_series_set *set, int64_t first, int64_t last)
{
    ck_assert_uint_eq(set->n, NMETRICS);
    for (int m = 0; m < NMETRICS; m++) {
        const store_series *ser = &set->series[m];
        ck_assert_str_eq(ser->name, metric_names[m]);
        ck_assert_uint_eq(ser->n, (size_t)(last - first + 1));
        for (size_t i = 0; i < ser->n; i++) {
            ck_assert_int_eq(ser->steps[i], first + (int64_t)i);
            ck_assert(ser->values[i] == metric_value(m, ser->steps[i]));
        }
    }
}

START_TEST(test_metrics_batch_and_range_queries)
{
    store *s = fixture_open(fixture_dir);
    int64_t run = fixture_run(s, "m", 5000);
    int64_t other = fixture_run(s, "other", 5000);
    add_steps(s, run, 1, 2500); /* 10,000 points in one call */
    add_steps(s, other, 1, 3);
    ck_assert_int_eq(
        fixture_query_int(fixture_dir, "SELECT count(*) FROM metrics WHERE run_id = 1"), 10000);

    store_series_set set;
    char err[256];
    ck_assert_int_eq(store_metrics_query(s, run, NULL, 0, 0, &set, err, sizeof err), GAND_OK);
    check_series(&set, 1, 2500);
    store_series_set_clear(&set);
    ck_assert_int_eq(store_metrics_query(s, run, NULL, 1000, 500, &set, err, sizeof err),
                     GAND_OK);
    check_series(&set, 1001, 1500);
    store_series_set_clear(&set);
    ck_assert_int_eq(store_metrics_query(s, run, NULL, 2499, 500, &set, err, sizeof err),
                     GAND_OK);
    check_series(&set, 2500, 2500);
    store_series_set_clear(&set);
    ck_assert_int_eq(store_metrics_query(s, run, NULL, 2500, 10, &set, err, sizeof err),
                     GAND_OK);
    ck_assert_uint_eq(set.n, 0);
    store_series_set_clear(&set);

    ck_assert_int_eq(store_metrics_query(s, run, "loss_g", 10, 3, &set, err, sizeof err),
                     GAND_OK);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_str_eq(set.series[0].name, "loss_g");
    ck_assert_uint_eq(set.series[0].n, 3);
    ck_assert_int_eq(set.series[0].steps[0], 11);
    ck_assert(set.series[0].values[2] == metric_value(2, 13));
    store_series_set_clear(&set);
    ck_assert_int_eq(store_metrics_query(s, run, "nope", 0, 0, &set, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(set.n, 0);
    store_series_set_clear(NULL);

    ck_assert_int_eq(store_metrics_query(s, 99, NULL, 0, 0, &set, err, sizeof err),
                     GAND_ENOTFOUND);
    ck_assert_str_eq(err, "run 99 does not exist");
    ck_assert_int_eq(store_metrics_query(s, run, NULL, 0, -1, &set, err, sizeof err),
                     GAND_EINVAL);
    store_close(s);
}
END_TEST

START_TEST(test_metrics_duplicates_replace_and_bad_batches_write_nothing)
{
    store *s = fixture_open(fixture_dir);
    int64_t run = fixture_run(s, "d", 100);
    char err[256];
    store_metric a[] = {{5, "loss", 1.0}, {6, "loss", 1.5}};
    ck_assert_int_eq(store_metrics_add(s, run, a, 2, err, sizeof err), GAND_OK);
    store_metric b[] = {{5, "loss", 2.0}, {7, "loss", 3.0}, {7, "loss", 4.0}};
    ck_assert_int_eq(store_metrics_add(s, run, b, 3, err, sizeof err), GAND_OK);
    store_series_set set;
    ck_assert_int_eq(store_metrics_query(s, run, NULL, 0, 0, &set, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_uint_eq(set.series[0].n, 3);
    double want[] = {2.0, 1.5, 4.0};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(set.series[0].steps[i], 5 + i);
        ck_assert(set.series[0].values[i] == want[i]);
    }
    store_series_set_clear(&set);

    /* A bad point anywhere refuses the whole batch. */
    store_metric c[] = {{8, "loss", 1.0}, {9, "", 1.0}};
    ck_assert_int_eq(store_metrics_add(s, run, c, 2, err, sizeof err), GAND_EINVAL);
    store_metric d[] = {{8, "loss", 1.0}, {-9, "loss", 1.0}};
    ck_assert_int_eq(store_metrics_add(s, run, d, 2, err, sizeof err), GAND_EINVAL);
    ck_assert_int_eq(store_metrics_add(s, 42, a, 2, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_str_eq(err, "run 42 does not exist");
    ck_assert_int_eq(store_metrics_add(s, run, NULL, 0, err, sizeof err), GAND_OK);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM metrics"), 3);

    /* NaN survives as NaN, infinities as themselves. */
    store_metric e[] = {{1, "fcd", NAN}, {2, "fcd", INFINITY}, {3, "fcd", -INFINITY}};
    ck_assert_int_eq(store_metrics_add(s, run, e, 3, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_metrics_query(s, run, "fcd", 0, 0, &set, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(set.series[0].n, 3);
    ck_assert(isnan(set.series[0].values[0]));
    ck_assert(isinf(set.series[0].values[1]) && set.series[0].values[1] > 0);
    ck_assert(isinf(set.series[0].values[2]) && set.series[0].values[2] < 0);
    store_series_set_clear(&set);
    store_close(s);
}
END_TEST

START_TEST(test_samples)
{
    store *s = fixture_open(fixture_dir);
    int64_t run = fixture_run(s, "s", 1000);
    char err[256];
    store_sample sm;
    ck_assert_int_eq(store_sample_latest(s, run, &sm, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_str_eq(err, "run 1 has no samples yet");
    int64_t steps[] = {300, 100, 500, 200, 400};
    for (int i = 0; i < 5; i++) {
        char file[64];
        snprintf(file, sizeof file, "runs/1/samples/%lld.png", (long long)steps[i]);
        ck_assert_int_eq(store_sample_add(s, run, steps[i], file, err, sizeof err), GAND_OK);
    }
    store_sample_list list;
    ck_assert_int_eq(store_sample_list_run(s, run, -1, 0, &list, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(list.n, 5);
    for (size_t i = 0; i < list.n; i++) {
        ck_assert_int_eq(list.samples[i].step, 100 * (int64_t)(i + 1));
        ck_assert_int_gt(list.samples[i].created_at_ms, 0);
    }
    ck_assert_str_eq(list.samples[2].file, "runs/1/samples/300.png");
    store_sample_list_clear(&list);
    ck_assert_int_eq(store_sample_list_run(s, run, 200, 2, &list, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(list.n, 2);
    ck_assert_int_eq(list.samples[0].step, 300);
    ck_assert_int_eq(list.samples[1].step, 400);
    store_sample_list_clear(&list);

    ck_assert_int_eq(store_sample_latest(s, run, &sm, err, sizeof err), GAND_OK);
    ck_assert_int_eq(sm.step, 500);
    ck_assert_str_eq(sm.file, "runs/1/samples/500.png");
    store_sample_clear(&sm);
    ck_assert_int_eq(store_sample_get(s, run, 200, &sm, err, sizeof err), GAND_OK);
    ck_assert_str_eq(sm.file, "runs/1/samples/200.png");
    store_sample_clear(&sm);
    ck_assert_int_eq(store_sample_get(s, run, 250, &sm, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_str_eq(err, "run 1 has no sample at step 250");
    ck_assert_ptr_null(sm.file);

    ck_assert_int_eq(store_sample_add(s, run, 200, "again.png", err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_sample_get(s, run, 200, &sm, err, sizeof err), GAND_OK);
    ck_assert_str_eq(sm.file, "again.png");
    store_sample_clear(&sm);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM samples"), 5);

    ck_assert_int_eq(store_sample_add(s, 9, 1, "x.png", err, sizeof err), GAND_ENOTFOUND);
    ck_assert_int_eq(store_sample_add(s, run, 1, "", err, sizeof err), GAND_EINVAL);
    ck_assert_int_eq(store_sample_list_run(s, 9, 0, 0, &list, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_int_eq(store_sample_get(s, 9, 100, &sm, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_str_eq(err, "run 9 does not exist");
    store_close(s);
}
END_TEST

/* Retention: all but the newest samples of one run go, and their rows come
 * back so their files can be deleted. */
START_TEST(test_sample_prune)
{
    store *s = fixture_open(fixture_dir);
    int64_t run = fixture_run(s, "kept", 1000);
    int64_t other = fixture_run(s, "other", 1000);
    char err[256], file[64];
    for (int64_t step = 100; step <= 500; step += 100) {
        snprintf(file, sizeof file, "runs/1/samples/%lld.png", (long long)step);
        ck_assert_int_eq(store_sample_add(s, run, step, file, err, sizeof err), GAND_OK);
    }
    for (int64_t step = 1; step <= 3; step++)
        ck_assert_int_eq(store_sample_add(s, other, step, "o.png", err, sizeof err), GAND_OK);

    store_sample_list removed;
    ck_assert_int_eq(store_sample_prune(s, run, 2, &removed, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(removed.n, 3);
    for (size_t i = 0; i < removed.n; i++) {
        snprintf(file, sizeof file, "runs/1/samples/%zu.png", 100 * (i + 1));
        ck_assert_int_eq(removed.samples[i].step, 100 * (int64_t)(i + 1));
        ck_assert_str_eq(removed.samples[i].file, file);
        ck_assert_int_gt(removed.samples[i].created_at_ms, 0);
    }
    store_sample_list_clear(&removed);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT group_concat(step) = '400,500' FROM"
                                                    " (SELECT step FROM samples WHERE run_id = 1"
                                                    " ORDER BY step)"),
                     1);
    ck_assert_int_eq(
        fixture_query_int(fixture_dir, "SELECT count(*) FROM samples WHERE run_id = 2"), 3);

    /* nothing beyond the limit: nothing goes */
    ck_assert_int_eq(store_sample_prune(s, run, 2, &removed, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(removed.n, 0);
    ck_assert_int_eq(store_sample_prune(s, run, 50, &removed, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(removed.n, 0);
    ck_assert_int_eq(
        fixture_query_int(fixture_dir, "SELECT count(*) FROM samples WHERE run_id = 1"), 2);

    /* keep 1 without a list; keep 0 takes the rest */
    ck_assert_int_eq(store_sample_prune(s, run, 1, NULL, err, sizeof err), GAND_OK);
    ck_assert_int_eq(
        fixture_query_int(fixture_dir, "SELECT max(step) FROM samples WHERE run_id = 1"), 500);
    ck_assert_int_eq(store_sample_prune(s, other, 0, &removed, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(removed.n, 3);
    store_sample_list_clear(&removed);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM samples"), 1);

    /* refusals and failures change nothing and hand back no list */
    ck_assert_int_eq(store_sample_add(s, run, 600, "600.png", err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_sample_prune(s, run, -1, &removed, err, sizeof err), GAND_EINVAL);
    ck_assert_uint_eq(removed.n, 0);
    ck_assert_int_eq(store_sample_prune(s, 99, 1, &removed, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_str_eq(err, "run 99 does not exist");
    ck_assert_uint_eq(removed.n, 0);
    gand_alloc_fail_at(1, true);
    ck_assert_int_eq(store_sample_prune(s, run, 1, &removed, err, sizeof err), GAND_ENOMEM);
    gand_alloc_fail_at(0, false);
    ck_assert_uint_eq(removed.n, 0);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM samples"), 2);
    store_close(s);
}
END_TEST

START_TEST(test_events_after_id)
{
    store *s = fixture_open(fixture_dir);
    int64_t a = fixture_run(s, "a", 100), b = fixture_run(s, "b", 100);
    char err[256], data[64];
    int64_t ids[20], last = 0;
    ck_assert_int_eq(store_event_last_id(s, 0, &last, err, sizeof err), GAND_OK);
    ck_assert_int_eq(last, 0);
    for (int i = 0; i < 20; i++) {
        snprintf(data, sizeof data, "{\"i\":%d}", i);
        int64_t run = i % 2 ? b : a;
        store_event_type type = i % 4 == 0 ? STORE_EVENT_STATE : STORE_EVENT_PROGRESS;
        ck_assert_int_eq(store_event_append(s, run, type, i % 4 == 0 ? -1 : i, data, &ids[i], err,
                                            sizeof err),
                         GAND_OK);
        if (i)
            ck_assert_int_gt(ids[i], ids[i - 1]);
    }
    store_event_list list;
    ck_assert_int_eq(store_event_list_after(s, 0, ids[4], 0, &list, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(list.n, 15);
    for (size_t i = 0; i < list.n; i++) {
        int k = (int)i + 5;
        snprintf(data, sizeof data, "{\"i\":%d}", k);
        ck_assert_int_eq(list.events[i].id, ids[k]);
        ck_assert_int_eq(list.events[i].run_id, k % 2 ? b : a);
        ck_assert_str_eq(list.events[i].data, data);
        ck_assert_int_eq(list.events[i].step, k % 4 == 0 ? -1 : k);
        ck_assert_int_eq(list.events[i].type,
                         k % 4 == 0 ? STORE_EVENT_STATE : STORE_EVENT_PROGRESS);
    }
    store_event_list_clear(&list);
    ck_assert_int_eq(store_event_list_after(s, b, ids[4], 3, &list, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(list.n, 3);
    ck_assert_int_eq(list.events[0].id, ids[5]);
    ck_assert_int_eq(list.events[1].id, ids[7]);
    ck_assert_int_eq(list.events[2].id, ids[9]);
    store_event_list_clear(&list);
    ck_assert_int_eq(store_event_list_after(s, 0, ids[19], 0, &list, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(list.n, 0);
    ck_assert_int_eq(store_event_list_after(s, 77, 0, 0, &list, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(list.n, 0);

    ck_assert_int_eq(store_event_last_id(s, 0, &last, err, sizeof err), GAND_OK);
    ck_assert_int_eq(last, ids[19]);
    ck_assert_int_eq(store_event_last_id(s, a, &last, err, sizeof err), GAND_OK);
    ck_assert_int_eq(last, ids[18]);

    ck_assert_int_eq(store_event_append(s, 77, STORE_EVENT_STATE, -1, "{}", NULL, err, sizeof err),
                     GAND_ENOTFOUND);
    ck_assert_int_eq(store_event_append(s, a, (store_event_type)9, -1, "{}", NULL, err, sizeof err),
                     GAND_EINVAL);
    ck_assert_int_eq(store_event_append(s, a, STORE_EVENT_SAMPLE, -2, "{}", NULL, err, sizeof err),
                     GAND_EINVAL);
    ck_assert_int_eq(store_event_append(s, a, STORE_EVENT_SAMPLE, 1, NULL, NULL, err, sizeof err),
                     GAND_EINVAL);
    ck_assert_str_eq(store_event_type_name(STORE_EVENT_METRICS), "metrics");

    /* Pruning keeps the newest 3 of each run; ids are not reused after. */
    int64_t deleted = 0;
    ck_assert_int_eq(store_event_prune(s, 3, &deleted, err, sizeof err), GAND_OK);
    ck_assert_int_eq(deleted, 14);
    ck_assert_int_eq(store_event_list_after(s, 0, 0, 0, &list, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(list.n, 6);
    int64_t kept[] = {ids[14], ids[15], ids[16], ids[17], ids[18], ids[19]};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(list.events[i].id, kept[i]);
    store_event_list_clear(&list);
    ck_assert_int_eq(store_event_prune(s, -1, NULL, err, sizeof err), GAND_EINVAL);
    int64_t next;
    ck_assert_int_eq(store_event_append(s, a, STORE_EVENT_STATE, -1, "{}", &next, err, sizeof err),
                     GAND_OK);
    ck_assert_int_gt(next, ids[19]);
    store_close(s);
}
END_TEST

START_TEST(test_crash_recovery_truncates_exactly)
{
    store *s = fixture_open(fixture_dir);
    char err[256];
    int64_t run = fixture_run(s, "crashed", 200);
    int64_t done = fixture_run(s, "finished", 200);
    int64_t bystander = fixture_run(s, "bystander", 200);
    fixture_to_state(s, run, STORE_RUN_RUNNING);
    fixture_to_state(s, done, STORE_RUN_SUCCEEDED);
    fixture_to_state(s, bystander, STORE_RUN_RUNNING);
    add_steps(s, run, 1, 100);
    add_steps(s, bystander, 1, 100);
    for (int64_t step = 10; step <= 100; step += 10) {
        char file[32];
        snprintf(file, sizeof file, "%lld.png", (long long)step);
        ck_assert_int_eq(store_sample_add(s, run, step, file, err, sizeof err), GAND_OK);
        ck_assert_int_eq(store_event_append(s, run, STORE_EVENT_PROGRESS, step, "{}", NULL, err,
                                            sizeof err),
                         GAND_OK);
    }
    ck_assert_int_eq(store_event_append(s, run, STORE_EVENT_STATE, -1, "{\"status\":\"running\"}",
                                        NULL, err, sizeof err),
                     GAND_OK);
    ck_assert_int_eq(store_run_set_step(s, run, 100, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_run_set_checkpoint(s, run, 50, err, sizeof err), GAND_OK);
    store_close(s); /* the "crash" */

    s = fixture_open(fixture_dir);
    store_run_page running;
    ck_assert_int_eq(store_run_list_state(s, STORE_RUN_RUNNING, &running, err, sizeof err),
                     GAND_OK);
    ck_assert_uint_eq(running.n, 2);
    ck_assert_int_eq(running.runs[0].id, run);
    ck_assert_int_eq(running.runs[1].id, bystander);
    ck_assert_int_eq(running.runs[0].checkpoint_step, 50);
    ck_assert_str_eq(running.next_cursor, "");
    store_run_page_clear(&running);

    store_sample_list removed;
    ck_assert_int_eq(store_run_truncate(s, run, 55, &removed, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(removed.n, 5);
    for (size_t i = 0; i < removed.n; i++) {
        char file[32];
        snprintf(file, sizeof file, "%lld.png", (long long)(60 + 10 * i));
        ck_assert_int_eq(removed.samples[i].step, 60 + 10 * (int64_t)i);
        ck_assert_str_eq(removed.samples[i].file, file);
    }
    store_sample_list_clear(&removed);

    store_run r;
    ck_assert_int_eq(store_run_get(s, run, &r, err, sizeof err), GAND_OK);
    ck_assert_int_eq(r.state, STORE_RUN_QUEUED);
    ck_assert_int_eq(r.step, 55);
    ck_assert_int_eq(r.checkpoint_step, 50);
    ck_assert_int_gt(r.started_at_ms, 0);
    store_run_clear(&r);
    store_series_set set;
    ck_assert_int_eq(store_metrics_query(s, run, NULL, 0, 0, &set, err, sizeof err), GAND_OK);
    check_series(&set, 1, 55);
    store_series_set_clear(&set);
    ck_assert_int_eq(
        fixture_query_int(fixture_dir, "SELECT count(*) FROM samples WHERE run_id = 1"), 5);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM events"
                                                    " WHERE run_id = 1 AND step > 55"),
                     0);
    ck_assert_int_eq(
        fixture_query_int(fixture_dir, "SELECT count(*) FROM events WHERE run_id = 1"), 6);
    ck_assert_int_eq(
        fixture_query_int(fixture_dir, "SELECT count(*) FROM metrics WHERE run_id = 3"), 400);

    /* Resuming rewrites 56..100: one continuous series, no duplicates. */
    fixture_to_state(s, run, STORE_RUN_RUNNING);
    add_steps(s, run, 56, 100);
    ck_assert_int_eq(store_metrics_query(s, run, NULL, 0, 0, &set, err, sizeof err), GAND_OK);
    check_series(&set, 1, 100);
    store_series_set_clear(&set);

    /* Rewinding before the checkpoint forgets the checkpoint. */
    ck_assert_int_eq(store_run_truncate(s, run, 20, NULL, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_run_get(s, run, &r, err, sizeof err), GAND_OK);
    ck_assert_int_eq(r.checkpoint_step, -1);
    ck_assert_int_eq(r.step, 20);
    store_run_clear(&r);

    ck_assert_int_eq(store_run_truncate(s, done, 10, NULL, err, sizeof err), GAND_EBUSY);
    ck_assert_str_eq(err, "run 2 is succeeded; only a running or queued run can be rewound");
    ck_assert_int_eq(store_run_truncate(s, run, 201, NULL, err, sizeof err), GAND_EINVAL);
    ck_assert_int_eq(store_run_truncate(s, 99, 1, NULL, err, sizeof err), GAND_ENOTFOUND);
    store_close(s);
}
END_TEST

START_TEST(test_out_of_memory_in_reads)
{
    store *s = fixture_open(fixture_dir);
    int64_t run = fixture_run(s, "oom", 100);
    add_steps(s, run, 1, 40);
    char err[256];
    for (int k = 1; k <= 5; k++) {
        char file[16];
        snprintf(file, sizeof file, "%d.png", k);
        ck_assert_int_eq(store_sample_add(s, run, k, file, err, sizeof err), GAND_OK);
        ck_assert_int_eq(store_event_append(s, run, STORE_EVENT_SAMPLE, k, "{}", NULL, err,
                                            sizeof err),
                         GAND_OK);
    }
    fixture_to_state(s, run, STORE_RUN_RUNNING);
    for (long n = 1;; n++) {
        gand_status st[3];
        store_series_set set;
        gand_alloc_fail_at(n, false);
        st[0] = store_metrics_query(s, run, NULL, 0, 0, &set, err, sizeof err);
        gand_alloc_fail_at(0, false);
        if (st[0] == GAND_OK)
            check_series(&set, 1, 40);
        else
            ck_assert_uint_eq(set.n, 0);
        store_series_set_clear(&set);
        store_sample_list list;
        gand_alloc_fail_at(n, false);
        st[1] = store_sample_list_run(s, run, 0, 0, &list, err, sizeof err);
        store_sample_list_clear(&list);
        store_event_list ev;
        gand_alloc_fail_at(n, false);
        st[2] = store_event_list_after(s, 0, 0, 0, &ev, err, sizeof err);
        store_event_list_clear(&ev);
        gand_alloc_fail_at(0, false);
        bool all_ok = true;
        for (int i = 0; i < 3; i++) {
            ck_assert(st[i] == GAND_OK || st[i] == GAND_ENOMEM);
            all_ok = all_ok && st[i] == GAND_OK;
        }
        if (all_ok)
            break;
        ck_assert_int_lt(n, 200);
    }
    /* A failed rewind changes nothing and hands back no list. */
    store_sample_list removed;
    gand_alloc_fail_at(1, true);
    ck_assert_int_eq(store_run_truncate(s, run, 2, &removed, err, sizeof err), GAND_ENOMEM);
    gand_alloc_fail_at(0, false);
    ck_assert_uint_eq(removed.n, 0);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM samples"), 5);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM metrics"), 160);
    store_close(s);
}
END_TEST

static Suite *store_data_suite(void)
{
    Suite *s = suite_create("store_data");
    TCase *tc = tcase_create("data");
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_add_test(tc, test_metrics_batch_and_range_queries);
    tcase_add_test(tc, test_metrics_duplicates_replace_and_bad_batches_write_nothing);
    tcase_add_test(tc, test_samples);
    tcase_add_test(tc, test_sample_prune);
    tcase_add_test(tc, test_events_after_id);
    tcase_add_test(tc, test_crash_recovery_truncates_exactly);
    tcase_add_test(tc, test_out_of_memory_in_reads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_data_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
