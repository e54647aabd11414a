/* The scheduler: a run from queued to succeeded with its metrics, samples,
 * checkpoints and events; FIFO order; the queue bound; cancellation of
 * running and queued runs; failures that tell what to fix; parameters. */
#include "sched_fixture.h"
#include "store_fixture.h"

#include "gand/alloc.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LONG_STEPS 100000

static sf_event evs[SF_MAX_EVENTS];

/* Events of run id among evs[0..n), into out; returns their count. */
static size_t run_events(size_t n, int64_t id, const sf_event **out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (evs[i].run_id == id)
            out[k++] = &evs[i];
    return k;
}

static long json_long(const char *data, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(data, pat);
    ck_assert_msg(p != NULL, "no %s in %s", key, data);
    return strtol(p + strlen(pat), NULL, 10);
}

START_TEST(test_run_succeeds)
{
    char spec[1024], path[PATH_MAX + 64], want[128], err[512];
    sf_spec(spec, sizeof spec, 6, 2, 3);
    sched_params p = sf_params(sf_state);
    sched *s = sf_sched(&p);
    int64_t id = sf_create_run(sf_state, spec);
    ck_assert_int_eq(sched_submit(s, id, err, sizeof err), GAND_OK);
    store_run r = sf_wait_final(sf_state, id, 60);
    ck_assert_msg(r.state == STORE_RUN_SUCCEEDED, "%s: %s", store_run_state_name(r.state),
                  r.error ? r.error : "");
    ck_assert_int_eq(r.step, 6);
    ck_assert_int_eq(r.checkpoint_step, 6);
    ck_assert_ptr_null(r.error);
    ck_assert_int_gt(r.started_at_ms, 0);
    ck_assert_int_ge(r.finished_at_ms, r.started_at_ms);
    store_run_clear(&r);
    sched_free(s);

    /* every metric at every step, once */
    size_t names = sf_check_series(sf_state, id, 6);
    ck_assert_uint_ge(names, 3);
    ck_assert_int_eq(fixture_query_int(sf_state, "SELECT count(*) FROM metrics"),
                     (int64_t)names * 6);
    ck_assert_int_eq(fixture_query_int(sf_state, "SELECT count(DISTINCT name) FROM metrics"
                                                 " WHERE name IN ('loss_d', 'loss_g')"),
                     2);

    /* samples at 2, 4, 6 as PNG files; the two newest checkpoints */
    ck_assert_int_eq(fixture_query_int(sf_state, "SELECT group_concat(step) = '2,4,6' FROM"
                                                 " (SELECT step FROM samples ORDER BY step)"),
                     1);
    for (int step = 2; step <= 6; step += 2) {
        char sub[64];
        snprintf(sub, sizeof sub, "samples/step-%07d.png", step);
        sf_run_file(sf_state, id, sub, path, sizeof path);
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "%s is missing", path);
        unsigned char magic[8];
        ck_assert_uint_eq(fread(magic, 1, 8, f), 8);
        fclose(f);
        ck_assert_mem_eq(magic, "\x89PNG\r\n\x1a\n", 8);
    }
    sf_run_file(sf_state, id, "checkpoints/step-0000006.ckpt", path, sizeof path);
    ck_assert(sf_file_exists(path));
    sf_run_file(sf_state, id, "checkpoints/step-0000003.ckpt", path, sizeof path);
    ck_assert(sf_file_exists(path));

    /* events: running first, succeeded last, ids increasing, the same as stored */
    size_t n = sf_events(evs);
    const sf_event *e[SF_MAX_EVENTS];
    size_t k = run_events(n, id, e);
    ck_assert_uint_ge(k, 2 + 3 + 2);
    ck_assert_str_eq(e[0]->type, "state");
    ck_assert_str_eq(e[0]->data, "{\"state\":\"running\"}");
    ck_assert_str_eq(e[k - 1]->type, "state");
    ck_assert_str_eq(e[k - 1]->data, "{\"state\":\"succeeded\"}");
    long last_progress = 0, next_sample = 2;
    for (size_t i = 1; i < k; i++) {
        ck_assert_int_gt(e[i]->id, e[i - 1]->id);
        if (strcmp(e[i]->type, "progress") == 0) {
            long step = json_long(e[i]->data, "step");
            ck_assert_int_ge(step, last_progress);
            ck_assert_int_eq(json_long(e[i]->data, "total"), 6);
            ck_assert_ptr_nonnull(strstr(e[i]->data, "\"steps_per_s\":"));
            ck_assert_ptr_nonnull(strstr(e[i]->data, "\"eta_s\":"));
            last_progress = step;
        } else if (strcmp(e[i]->type, "sample") == 0) {
            snprintf(want, sizeof want, "{\"step\":%ld,\"url\":\"/runs/%lld/samples/%ld.png\"}",
                     next_sample, (long long)id, next_sample);
            ck_assert_str_eq(e[i]->data, want);
            next_sample += 2;
        } else if (strcmp(e[i]->type, "metrics") == 0) {
            ck_assert_ptr_nonnull(strstr(e[i]->data, "\"loss_d\":"));
        }
    }
    ck_assert_int_eq(last_progress, 6);
    ck_assert_int_eq(next_sample, 8);
    store *db = fixture_open(sf_state);
    store_event_list stored;
    ck_assert_int_eq(store_event_list_after(db, id, 0, 0, &stored, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(stored.n, k);
    for (size_t i = 0; i < k; i++) {
        ck_assert_int_eq(stored.events[i].id, e[i]->id);
        ck_assert_str_eq(store_event_type_name(stored.events[i].type), e[i]->type);
        ck_assert_str_eq(stored.events[i].data, e[i]->data);
    }
    store_event_list_clear(&stored);
    store_close(db);
}
END_TEST

/* Three runs behind one worker: the first is taken at once, the other two
 * wait together and must still start in submission order. */
START_TEST(test_fifo_one_worker)
{
    enum { N = 3 };
    char spec[1024], err[512];
    sf_spec(spec, sizeof spec, 6, 3, 3);
    sched_params p = sf_params(sf_state);
    sched *s = sf_sched(&p);
    int64_t id[N];
    for (int i = 0; i < N; i++)
        id[i] = sf_create_run(sf_state, spec);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(sched_submit(s, id[i], err, sizeof err), GAND_OK);
    store_run r[N];
    for (int i = 0; i < N; i++) {
        r[i] = sf_wait_final(sf_state, id[i], 60);
        ck_assert_int_eq(r[i].state, STORE_RUN_SUCCEEDED);
    }
    sched_free(s);
    for (int i = 1; i < N; i++)
        ck_assert_int_ge(r[i].started_at_ms, r[i - 1].finished_at_ms);
    /* nothing of a run happened before the one ahead of it ended */
    size_t n = sf_events(evs);
    for (int k = 1; k < N; k++) {
        int64_t prev_end = 0, first = 0;
        for (size_t i = 0; i < n; i++) {
            if (evs[i].run_id == id[k - 1] && strstr(evs[i].data, "succeeded"))
                prev_end = evs[i].id;
            if (evs[i].run_id == id[k] && first == 0)
                first = evs[i].id;
        }
        ck_assert_int_gt(prev_end, 0);
        ck_assert_int_gt(first, prev_end);
    }
    for (int i = 0; i < N; i++)
        store_run_clear(&r[i]);
}
END_TEST

START_TEST(test_queue_bound_and_stop_without_requeue)
{
    char spec[1024], err[512];
    sf_spec(spec, sizeof spec, LONG_STEPS, 1000, 1000);
    sched_params p = sf_params(sf_state);
    p.queue_max = 1;
    sched *s = sf_sched(&p);
    int64_t a = sf_create_run(sf_state, spec);
    int64_t b = sf_create_run(sf_state, spec);
    int64_t c = sf_create_run(sf_state, spec);
    ck_assert_int_eq(sched_submit(s, a, err, sizeof err), GAND_OK);
    sf_wait_step(s, a, 1, 30);
    ck_assert_int_eq(sched_submit(s, b, err, sizeof err), GAND_OK);
    ck_assert_int_eq(sched_submit(s, c, err, sizeof err), GAND_EBUSY);
    ck_assert_ptr_nonnull(strstr(err, "queue is full"));
    ck_assert_int_eq(sched_submit(s, a, err, sizeof err), GAND_EEXIST);
    ck_assert_int_eq(sched_submit(s, b, err, sizeof err), GAND_EEXIST);
    ck_assert_int_eq(sched_submit(s, 0, err, sizeof err), GAND_EINVAL);

    sched_snapshot snap;
    sched_stats(s, &snap);
    ck_assert_int_eq(snap.workers, 1);
    ck_assert_int_eq(snap.blas_threads, 1);
    ck_assert(!snap.stopping);
    ck_assert_uint_eq(snap.queued, 1);
    ck_assert_int_eq(snap.running, 1);
    ck_assert_int_eq(snap.runs[0].run_id, a);
    ck_assert_int_eq(snap.runs[0].total_steps, LONG_STEPS);
    ck_assert_int_ge(snap.runs[0].step, 1);

    double t0 = sf_now_s();
    sched_stop(s, false);
    ck_assert_double_lt(sf_now_s() - t0, 5.0);
    sched_stats(s, &snap);
    ck_assert(snap.stopping);
    ck_assert_int_eq(snap.running, 0);
    ck_assert_int_eq(sched_submit(s, c, err, sizeof err), GAND_EBUSY);
    ck_assert_ptr_nonnull(strstr(err, "shutting down"));
    sched_free(s);

    /* a stopped without requeue is canceled at a checkpoint; b never started */
    store_run ra = sf_wait_final(sf_state, a, 1);
    ck_assert_int_eq(ra.state, STORE_RUN_CANCELED);
    ck_assert_int_ge(ra.checkpoint_step, 1);
    ck_assert_int_eq(ra.checkpoint_step, ra.step);
    store_run_clear(&ra);
    ck_assert_int_eq(fixture_query_int(sf_state, "SELECT count(*) FROM runs WHERE"
                                                 " status = 'queued' AND started_at IS NULL"),
                     2);
}
END_TEST

START_TEST(test_cancel_running_and_queued)
{
    char spec[1024], err[512], path[PATH_MAX + 64], sub[64];
    sf_spec(spec, sizeof spec, LONG_STEPS, 1000, 1000);
    sched_params p = sf_params(sf_state);
    sched *s = sf_sched(&p);
    int64_t a = sf_create_run(sf_state, spec);
    int64_t b = sf_create_run(sf_state, spec);
    ck_assert_int_eq(sched_submit(s, a, err, sizeof err), GAND_OK);
    ck_assert_int_eq(sched_submit(s, b, err, sizeof err), GAND_OK);
    sf_wait_step(s, a, 2, 30);

    store_run_state state = STORE_RUN_FAILED;
    ck_assert_int_eq(sched_cancel(s, b, &state, err, sizeof err), GAND_OK);
    ck_assert_int_eq(state, STORE_RUN_CANCELED);
    sched_snapshot snap;
    sched_stats(s, &snap);
    ck_assert_uint_eq(snap.queued, 0);

    double t0 = sf_now_s();
    ck_assert_int_eq(sched_cancel(s, a, &state, err, sizeof err), GAND_OK);
    ck_assert_int_eq(state, STORE_RUN_RUNNING);
    store_run ra = sf_wait_final(sf_state, a, 5);
    ck_assert_double_lt(sf_now_s() - t0, 3.0);
    ck_assert_int_eq(ra.state, STORE_RUN_CANCELED);
    ck_assert(ra.cancel_requested);
    ck_assert_int_gt(ra.step, 0);
    ck_assert_int_lt(ra.step, LONG_STEPS);
    ck_assert_int_eq(ra.checkpoint_step, ra.step);
    snprintf(sub, sizeof sub, "checkpoints/step-%07lld.ckpt", (long long)ra.step);
    sf_run_file(sf_state, a, sub, path, sizeof path);
    ck_assert_msg(sf_file_exists(path), "%s is missing", path);
    store_run_clear(&ra);

    /* a finished run cannot be canceled; an unknown one does not exist */
    ck_assert_int_eq(sched_cancel(s, a, &state, err, sizeof err), GAND_EBUSY);
    ck_assert_int_eq(sched_cancel(s, b, &state, err, sizeof err), GAND_EBUSY);
    ck_assert_int_eq(sched_cancel(s, 999, &state, err, sizeof err), GAND_ENOTFOUND);
    sched_free(s);

    store_run rb = sf_wait_final(sf_state, b, 1);
    ck_assert_int_eq(rb.state, STORE_RUN_CANCELED);
    ck_assert_int_eq(rb.started_at_ms, 0);
    store_run_clear(&rb);
    size_t n = sf_events(evs);
    const sf_event *e[SF_MAX_EVENTS];
    ck_assert_uint_eq(run_events(n, b, e), 1);
    ck_assert_str_eq(e[0]->data, "{\"state\":\"canceled\"}");
    size_t k = run_events(n, a, e);
    ck_assert_str_eq(e[k - 1]->data, "{\"state\":\"canceled\"}");
}
END_TEST

/* With queue_max 1 and the worker busy, a queued run that is canceled or
 * deleted gives its place back at once: through sched_cancel(), and also
 * when another connection canceled or deleted it first, which sched_cancel()
 * then answers with the store's refusal. */
START_TEST(test_canceled_runs_leave_the_queue)
{
    char spec[1024], err[512];
    sf_spec(spec, sizeof spec, LONG_STEPS, 1000, 1000);
    sched_params p = sf_params(sf_state);
    p.queue_max = 1;
    sched *s = sf_sched(&p);
    int64_t busy = sf_create_run(sf_state, spec);
    ck_assert_int_eq(sched_submit(s, busy, err, sizeof err), GAND_OK);
    sf_wait_step(s, busy, 1, 30);
    store *db = fixture_open(sf_state);
    sched_snapshot snap;
    store_run_state state;
    for (int how = 0; how < 3; how++) {
        int64_t queued = sf_create_run(sf_state, spec);
        ck_assert_int_eq(sched_submit(s, queued, err, sizeof err), GAND_OK);
        sched_stats(s, &snap);
        ck_assert_uint_eq(snap.queued, 1);
        gand_status want = GAND_OK;
        if (how == 1) {
            ck_assert_int_eq(store_run_request_cancel(db, queued, &state, err, sizeof err),
                             GAND_OK);
            want = GAND_EBUSY;
        } else if (how == 2) {
            ck_assert_int_eq(store_run_delete(db, queued, err, sizeof err), GAND_OK);
            want = GAND_ENOTFOUND;
        }
        ck_assert_int_eq(sched_cancel(s, queued, &state, err, sizeof err), want);
        sched_stats(s, &snap);
        ck_assert_msg(snap.queued == 0, "way %d: %zu queued", how, snap.queued);
        ck_assert_int_eq(snap.running, 1);
        int64_t next = sf_create_run(sf_state, spec);
        ck_assert_msg(sched_submit(s, next, err, sizeof err) == GAND_OK, "way %d: %s", how, err);
        ck_assert_int_eq(sched_cancel(s, next, &state, err, sizeof err), GAND_OK);
        ck_assert_int_eq(state, STORE_RUN_CANCELED);
    }
    store_close(db);
    sched_free(s);
}
END_TEST

/* A cancel recorded in the store by another connection (another process
 * or the HTTP pool) is seen by the worker's poll. */
START_TEST(test_cancel_through_store)
{
    char spec[1024], err[512];
    sf_spec(spec, sizeof spec, LONG_STEPS, 1000, 1000);
    sched_params p = sf_params(sf_state);
    sched *s = sf_sched(&p);
    int64_t a = sf_create_run(sf_state, spec);
    ck_assert_int_eq(sched_submit(s, a, err, sizeof err), GAND_OK);
    sf_wait_step(s, a, 1, 30);
    store *db = fixture_open(sf_state);
    store_run_state state;
    ck_assert_int_eq(store_run_request_cancel(db, a, &state, err, sizeof err), GAND_OK);
    ck_assert_int_eq(state, STORE_RUN_RUNNING);
    store_close(db);
    store_run ra = sf_wait_final(sf_state, a, 5);
    ck_assert_int_eq(ra.state, STORE_RUN_CANCELED);
    ck_assert_int_eq(ra.checkpoint_step, ra.step);
    store_run_clear(&ra);
    sched_free(s);
}
END_TEST

START_TEST(test_missing_dataset_fails_with_sentence)
{
    char err[512];
    const char *spec = "{\"model\":\"dcgan\",\"dataset\":\"/nonexistent/gand-data\",\"steps\":6}";
    sched_params p = sf_params(sf_state);
    sched *s = sf_sched(&p);
    int64_t id = sf_create_run(sf_state, spec);
    ck_assert_int_eq(sched_submit(s, id, err, sizeof err), GAND_OK);
    store_run r = sf_wait_final(sf_state, id, 30);
    sched_free(s);
    ck_assert_int_eq(r.state, STORE_RUN_FAILED);
    ck_assert_ptr_nonnull(r.error);
    ck_assert_msg(strstr(r.error, "dataset '/nonexistent/gand-data'") &&
                      strstr(r.error, "directory"),
                  "%s", r.error);
    size_t n = sf_events(evs);
    const sf_event *e[SF_MAX_EVENTS];
    size_t k = run_events(n, id, e);
    ck_assert_uint_eq(k, 2);
    ck_assert_str_eq(e[0]->data, "{\"state\":\"running\"}");
    ck_assert_ptr_nonnull(strstr(e[1]->data, "\"state\":\"failed\",\"error\":\"unknown dataset"));
    store_run_clear(&r);
}
END_TEST

/* A run stored with fewer total steps than its spec trains cannot record
 * its progress; it fails saying so instead of failing midway. */
START_TEST(test_total_steps_mismatch_fails)
{
    char spec[1024], err[512];
    sf_spec(spec, sizeof spec, 6, 3, 3);
    sched_params p = sf_params(sf_state);
    sched *s = sf_sched(&p);
    store *db = fixture_open(sf_state);
    store_run_new nr = {.name = "", .kind = "dcgan", .dataset = sf_data, .spec = spec,
                        .total_steps = 4};
    int64_t id;
    ck_assert_int_eq(store_run_create(db, &nr, &id, err, sizeof err), GAND_OK);
    store_close(db);
    ck_assert_int_eq(sched_submit(s, id, err, sizeof err), GAND_OK);
    store_run r = sf_wait_final(sf_state, id, 30);
    sched_free(s);
    ck_assert_int_eq(r.state, STORE_RUN_FAILED);
    ck_assert_msg(strstr(r.error, "4 total steps but its spec trains 6"), "%s", r.error);
    store_run_clear(&r);
}
END_TEST

START_TEST(test_sample_retention)
{
    char spec[1024], err[512], path[PATH_MAX + 64], sub[64];
    sf_spec(spec, sizeof spec, 6, 1, 6);
    sched_params p = sf_params(sf_state);
    p.sample_retention = 2;
    sched *s = sf_sched(&p);
    int64_t id = sf_create_run(sf_state, spec);
    ck_assert_int_eq(sched_submit(s, id, err, sizeof err), GAND_OK);
    store_run r = sf_wait_final(sf_state, id, 30);
    sched_free(s);
    ck_assert_int_eq(r.state, STORE_RUN_SUCCEEDED);
    store_run_clear(&r);
    for (int step = 1; step <= 6; step++) {
        snprintf(sub, sizeof sub, "samples/step-%07d.png", step);
        sf_run_file(sf_state, id, sub, path, sizeof path);
        ck_assert_msg(sf_file_exists(path) == (step >= 5), "step %d", step);
    }
    /* the rows of the deleted grids went with them */
    ck_assert_int_eq(fixture_query_int(sf_state, "SELECT group_concat(step) = '5,6' FROM"
                                                 " (SELECT step FROM samples ORDER BY step)"),
                     1);
}
END_TEST

/* With the daemon's cadence a short run sends progress at most twice a
 * second and at its last step, not at every step. */
START_TEST(test_progress_events_are_rate_limited)
{
    enum { STEPS = 120 };
    char spec[1024], err[512];
    sf_spec(spec, sizeof spec, STEPS, STEPS, STEPS);
    sched_params p = sf_params(sf_state);
    p.event_interval_ms = 500;
    p.flush_steps = 7;
    sched *s = sf_sched(&p);
    int64_t id = sf_create_run(sf_state, spec);
    double t0 = sf_now_s();
    ck_assert_int_eq(sched_submit(s, id, err, sizeof err), GAND_OK);
    store_run r = sf_wait_final(sf_state, id, 60);
    double elapsed = sf_now_s() - t0;
    sched_free(s);
    ck_assert_int_eq(r.state, STORE_RUN_SUCCEEDED);
    store_run_clear(&r);
    sf_check_series(sf_state, id, STEPS);
    size_t n = sf_events(evs);
    const sf_event *e[SF_MAX_EVENTS];
    size_t k = run_events(n, id, e);
    int progress = 0, metrics = 0;
    long last = 0;
    for (size_t i = 0; i < k; i++) {
        if (strcmp(e[i]->type, "progress") == 0) {
            progress++;
            last = json_long(e[i]->data, "step");
        }
        metrics += strcmp(e[i]->type, "metrics") == 0;
    }
    ck_assert_int_ge(progress, 1);
    ck_assert_int_le(progress, 1 + (int)(elapsed / 0.5));
    ck_assert_int_eq(metrics, progress);
    ck_assert_int_eq(last, STEPS);
}
END_TEST

/* Two workers train two runs at once; a shutdown with requeue stops both at
 * a checkpoint and leaves them queued to resume. */
START_TEST(test_two_workers_stop_with_requeue)
{
    char spec[1024], err[512], path[PATH_MAX + 64], sub[64];
    sf_spec(spec, sizeof spec, LONG_STEPS, 1000, 1000);
    sched_params p = sf_params(sf_state);
    p.workers = 2;
    p.blas_threads = 0;
    sched *s = sf_sched(&p);
    int64_t a = sf_create_run(sf_state, spec);
    int64_t b = sf_create_run(sf_state, spec);
    ck_assert_int_eq(sched_submit(s, a, err, sizeof err), GAND_OK);
    ck_assert_int_eq(sched_submit(s, b, err, sizeof err), GAND_OK);
    sf_wait_step(s, a, 2, 30);
    sf_wait_step(s, b, 2, 30);
    sched_snapshot snap;
    sched_stats(s, &snap);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_eq(snap.blas_threads, cores / 2 > 0 ? cores / 2 : 1);
    ck_assert_int_eq(snap.running, 2);
    ck_assert_uint_eq(snap.queued, 0);
    ck_assert_double_gt(snap.runs[0].steps_per_s, 0.0);
    double t0 = sf_now_s();
    sched_stop(s, true);
    ck_assert_double_lt(sf_now_s() - t0, 3.0);
    sched_free(s);
    int64_t ids[2] = {a, b};
    store *db = fixture_open(sf_state);
    for (int i = 0; i < 2; i++) {
        store_run r;
        ck_assert_int_eq(store_run_get(db, ids[i], &r, err, sizeof err), GAND_OK);
        ck_assert_int_eq(r.state, STORE_RUN_QUEUED);
        ck_assert_int_ge(r.step, 2);
        ck_assert_int_eq(r.checkpoint_step, r.step);
        snprintf(sub, sizeof sub, "checkpoints/step-%07lld.ckpt", (long long)r.step);
        sf_run_file(sf_state, ids[i], sub, path, sizeof path);
        ck_assert_msg(sf_file_exists(path), "%s is missing", path);
        int64_t step = r.step;
        store_run_clear(&r);
        sf_check_series(sf_state, ids[i], step);
    }
    store_close(db);
}
END_TEST

START_TEST(test_bad_params)
{
    char err[512] = "";
    gand_status st = GAND_OK;
    sched_params p = sf_params(sf_state);
    p.workers = 0;
    ck_assert_ptr_null(sched_create(&p, &st, err, sizeof err));
    ck_assert_int_eq(st, GAND_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "workers must be between 1 and 64"));
    p = sf_params(sf_state);
    p.queue_max = 0;
    ck_assert_ptr_null(sched_create(&p, &st, err, sizeof err));
    ck_assert_int_eq(st, GAND_EINVAL);
    p = sf_params(NULL);
    ck_assert_ptr_null(sched_create(&p, &st, err, sizeof err));
    ck_assert_int_eq(st, GAND_EINVAL);
    sched_free(NULL);
}
END_TEST

/* Every allocation sched_create makes may fail; each failure is reported
 * and cleaned up (AddressSanitizer checks for leaks). */
START_TEST(test_create_out_of_memory)
{
    char err[512];
    sched_params p = sf_params(sf_state);
    p.workers = 2;
    bool done = false;
    for (long n = 1; n < 500 && !done; n++) {
        gand_status st = GAND_OK;
        gand_alloc_fail_at(n, false);
        sched *s = sched_create(&p, &st, err, sizeof err);
        bool failed = gand_alloc_failures() > 0;
        gand_alloc_fail_at(0, false);
        if (s) {
            sched_free(s);
            done = !failed;
        } else {
            ck_assert_msg(failed, "allocation %ld: %s", n, err);
            ck_assert_int_ne(st, GAND_OK);
        }
    }
    ck_assert(done);
}
END_TEST

static Suite *sched_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("sched");
    tcase_add_checked_fixture(tc, sf_setup, sf_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_run_succeeds);
    tcase_add_test(tc, test_fifo_one_worker);
    tcase_add_test(tc, test_queue_bound_and_stop_without_requeue);
    tcase_add_test(tc, test_cancel_running_and_queued);
    tcase_add_test(tc, test_canceled_runs_leave_the_queue);
    tcase_add_test(tc, test_cancel_through_store);
    tcase_add_test(tc, test_missing_dataset_fails_with_sentence);
    tcase_add_test(tc, test_total_steps_mismatch_fails);
    tcase_add_test(tc, test_sample_retention);
    tcase_add_test(tc, test_progress_events_are_rate_limited);
    tcase_add_test(tc, test_two_workers_stop_with_requeue);
    tcase_add_test(tc, test_bad_params);
    tcase_add_test(tc, test_create_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sched_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
