/* The scheduler across restarts: a run stopped by shutdown and one left
 * running by a killed process resume from their checkpoints, their metric
 * series stay continuous and free of duplicates, and they end with the same
 * bytes as an uninterrupted run. */
#include "sched_fixture.h"
#include "store_fixture.h"

#include "gand/gan.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Runs spec uninterrupted in dir and returns the path of its final checkpoint. */
static void run_uninterrupted(const char *dir, const char *spec, long steps, char *ckpt,
                              size_t n)
{
    char err[512], sub[64];
    sched_params p = sf_params(dir);
    p.on_event = NULL;
    sched *s = sf_sched(&p);
    int64_t id = sf_create_run(dir, spec);
    ck_assert_int_eq(sched_submit(s, id, err, sizeof err), GAND_OK);
    store_run r = sf_wait_final(dir, id, 60);
    sched_free(s);
    ck_assert_int_eq(r.state, STORE_RUN_SUCCEEDED);
    store_run_clear(&r);
    snprintf(sub, sizeof sub, "checkpoints/step-%07ld.ckpt", steps);
    sf_run_file(dir, id, sub, ckpt, n);
}

/* Values of metric name of run id in dir's store, steps 1..n, into v. */
static void series(const char *dir, int64_t id, const char *name, double *v, size_t n)
{
    store *db = fixture_open(dir);
    store_series_set set;
    char err[512];
    ck_assert_int_eq(store_metrics_query(db, id, name, -1, 0, &set, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_uint_eq(set.series[0].n, n);
    memcpy(v, set.series[0].values, n * sizeof *v);
    store_series_set_clear(&set);
    store_close(db);
}

START_TEST(test_shutdown_then_resume)
{
    enum { STEPS = 150 };
    char spec[1024], err[512], path[PATH_MAX + 64], ref[PATH_MAX + 64], sub[64];
    sf_spec(spec, sizeof spec, STEPS, 25, 40);
    sched_params p = sf_params(sf_state);
    sf_set_throttle_us(4000);
    sched *s = sf_sched(&p);
    int64_t id = sf_create_run(sf_state, spec);
    ck_assert_int_eq(sched_submit(s, id, err, sizeof err), GAND_OK);
    sf_wait_step(s, id, 30, 60);
    double t0 = sf_now_s();
    sched_stop(s, true);
    ck_assert_double_lt(sf_now_s() - t0, 3.0);
    sched_free(s);
    sf_set_throttle_us(0);

    /* queued again at the checkpoint the stop took, with nothing after it */
    store *db = fixture_open(sf_state);
    store_run r;
    ck_assert_int_eq(store_run_get(db, id, &r, err, sizeof err), GAND_OK);
    store_close(db);
    ck_assert_int_eq(r.state, STORE_RUN_QUEUED);
    ck_assert_int_ge(r.step, 30);
    ck_assert_int_lt(r.step, STEPS);
    ck_assert_int_eq(r.checkpoint_step, r.step);
    ck_assert_int_gt(r.started_at_ms, 0);
    int64_t stopped_at = r.step, first_start = r.started_at_ms;
    store_run_clear(&r);
    snprintf(sub, sizeof sub, "checkpoints/step-%07lld.ckpt", (long long)stopped_at);
    sf_run_file(sf_state, id, sub, path, sizeof path);
    ck_assert_msg(sf_file_exists(path), "%s is missing", path);
    sf_check_series(sf_state, id, stopped_at);

    /* a new scheduler on the same directory finishes it */
    s = sf_sched(&p);
    r = sf_wait_final(sf_state, id, 60);
    sched_free(s);
    ck_assert_msg(r.state == STORE_RUN_SUCCEEDED, "%s", r.error ? r.error : "");
    ck_assert_int_eq(r.step, STEPS);
    ck_assert_int_eq(r.started_at_ms, first_start);
    store_run_clear(&r);
    size_t names = sf_check_series(sf_state, id, STEPS);
    ck_assert_uint_ge(names, 3);
    ck_assert_int_eq(fixture_query_int(sf_state, "SELECT group_concat(step) = '25,50,75,100,125,150'"
                                                 " FROM (SELECT step FROM samples ORDER BY step)"),
                     1);

    /* bit for bit the run that was never interrupted */
    run_uninterrupted(sf_state2, spec, STEPS, ref, sizeof ref);
    sf_run_file(sf_state, id, "checkpoints/step-0000150.ckpt", path, sizeof path);
    ck_assert_msg(sf_files_equal(path, ref), "%s differs from %s", path, ref);
    static double va[STEPS], vb[STEPS];
    series(sf_state, id, "loss_d", va, STEPS);
    series(sf_state2, 1, "loss_d", vb, STEPS);
    ck_assert_mem_eq(va, vb, sizeof va);
}
END_TEST

/* Creates <state>/runs/<id>/<sub> and its parents. */
static void make_run_dir(int64_t id, const char *sub)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/runs", sf_state);
    mkdir(path, 0750);
    sf_run_file(sf_state, id, "", path, sizeof path);
    mkdir(path, 0750);
    sf_run_file(sf_state, id, sub, path, sizeof path);
    ck_assert_int_eq(mkdir(path, 0750), 0);
}

/* What a worker killed after its checkpoint at step 4 leaves: the run
 * running at step 7, metrics, samples and events past the checkpoint, and
 * a half-written checkpoint. */
static int64_t simulate_crash(const char *spec)
{
    char err[512], path[PATH_MAX + 64];
    int64_t id = sf_create_run(sf_state, spec);
    gan_spec gs;
    char field[64];
    ck_assert_int_eq(gan_spec_parse(spec, strlen(spec), &gs, err, sizeof err, field,
                                    sizeof field),
                     GAND_OK);
    gand_status st;
    gan_trainer *t = gan_trainer_create(&gs, &st, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    store *db = fixture_open(sf_state);
    ck_assert_int_eq(store_run_transition(db, id, STORE_RUN_RUNNING, NULL, err, sizeof err),
                     GAND_OK);
    store_metric pts[7 * GAN_MAX_METRICS];
    size_t np = 0;
    for (long step = 1; step <= 7; step++) {
        gan_metric m[GAN_MAX_METRICS];
        int nm;
        gan_trainer_step_once(t, m, &nm);
        for (int i = 0; i < nm; i++)
            pts[np++] = (store_metric){step, m[i].name, step > 4 ? 12345.0 : m[i].value};
        if (step == 4) {
            make_run_dir(id, "checkpoints");
            sf_run_file(sf_state, id, "checkpoints/step-0000004.ckpt", path, sizeof path);
            ck_assert_int_eq(gan_trainer_save(t, path, err, sizeof err), GAND_OK);
        }
    }
    gan_trainer_free(t);
    ck_assert_int_eq(store_metrics_add(db, id, pts, np, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_run_set_step(db, id, 7, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_run_set_checkpoint(db, id, 4, err, sizeof err), GAND_OK);
    make_run_dir(id, "samples");
    for (int step = 2; step <= 6; step += 2) {
        char rel[128];
        snprintf(rel, sizeof rel, "runs/%lld/samples/step-%07d.png", (long long)id, step);
        snprintf(path, sizeof path, "%s/%s", sf_state, rel);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs("stale", f);
        fclose(f);
        ck_assert_int_eq(store_sample_add(db, id, step, rel, err, sizeof err), GAND_OK);
    }
    ck_assert_int_eq(store_event_append(db, id, STORE_EVENT_PROGRESS, 6, "{\"stale\":1}", NULL,
                                        err, sizeof err),
                     GAND_OK);
    store_close(db);
    sf_run_file(sf_state, id, "checkpoints/step-0000008.ckpt.tmp", path, sizeof path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("partial", f);
    fclose(f);
    return id;
}

START_TEST(test_crash_recovery)
{
    enum { STEPS = 12 };
    char spec[1024], path[PATH_MAX + 64], ref[PATH_MAX + 64];
    sf_spec(spec, sizeof spec, STEPS, 2, 4);
    /* a run queued before the crashed one started waits behind it */
    int64_t later = sf_create_run(sf_state, spec);
    int64_t id = simulate_crash(spec);
    ck_assert_int_gt(id, later);

    sched_params p = sf_params(sf_state);
    sched *s = sf_sched(&p);
    store_run r = sf_wait_final(sf_state, id, 60);
    store_run rl = sf_wait_final(sf_state, later, 60);
    sched_free(s);
    ck_assert_msg(r.state == STORE_RUN_SUCCEEDED, "%s", r.error ? r.error : "");
    ck_assert_int_eq(rl.state, STORE_RUN_SUCCEEDED);
    ck_assert_int_ge(rl.started_at_ms, r.finished_at_ms);
    store_run_clear(&r);
    store_run_clear(&rl);

    sf_check_series(sf_state, id, STEPS);
    ck_assert_int_eq(fixture_query_int(sf_state, "SELECT count(*) FROM metrics WHERE value = 12345"),
                     0);
    ck_assert_int_eq(fixture_query_int(sf_state, "SELECT count(*) FROM events WHERE data LIKE"
                                                 " '%stale%'"),
                     0);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM samples WHERE run_id = %lld", (long long)id);
    ck_assert_int_eq(fixture_query_int(sf_state, sql), STEPS / 2);
    sf_run_file(sf_state, id, "samples/step-0000006.png", path, sizeof path);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char head[8] = "";
    ck_assert_uint_eq(fread(head, 1, 8, f), 8);
    fclose(f);
    ck_assert_mem_eq(head, "\x89PNG\r\n\x1a\n", 8);

    /* the rewind was announced; the queue order put the interrupted run first */
    static sf_event evs[SF_MAX_EVENTS];
    size_t n = sf_events(evs);
    ck_assert_uint_gt(n, 2);
    ck_assert_int_eq(evs[0].run_id, id);
    ck_assert_str_eq(evs[0].data, "{\"state\":\"queued\"}");
    ck_assert_int_eq(evs[1].run_id, id);
    ck_assert_str_eq(evs[1].data, "{\"state\":\"running\"}");

    run_uninterrupted(sf_state2, spec, STEPS, ref, sizeof ref);
    sf_run_file(sf_state, id, "checkpoints/step-0000012.ckpt", path, sizeof path);
    ck_assert_msg(sf_files_equal(path, ref), "%s differs from %s", path, ref);
}
END_TEST

/* A run with no checkpoint file restarts from step 0. */
START_TEST(test_crash_without_checkpoint_restarts)
{
    char spec[1024], err[512];
    sf_spec(spec, sizeof spec, 6, 3, 3);
    int64_t id = sf_create_run(sf_state, spec);
    store *db = fixture_open(sf_state);
    ck_assert_int_eq(store_run_transition(db, id, STORE_RUN_RUNNING, NULL, err, sizeof err),
                     GAND_OK);
    store_metric pts[2] = {{1, "loss_d", 12345.0}, {2, "loss_d", 12345.0}};
    ck_assert_int_eq(store_metrics_add(db, id, pts, 2, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_run_set_step(db, id, 2, err, sizeof err), GAND_OK);
    store_close(db);
    sched_params p = sf_params(sf_state);
    sched *s = sf_sched(&p);
    store_run r = sf_wait_final(sf_state, id, 60);
    sched_free(s);
    ck_assert_int_eq(r.state, STORE_RUN_SUCCEEDED);
    store_run_clear(&r);
    sf_check_series(sf_state, id, 6);
    ck_assert_int_eq(fixture_query_int(sf_state, "SELECT count(*) FROM metrics WHERE value = 12345"),
                     0);
}
END_TEST

static Suite *sched_resume_suite(void)
{
    Suite *s = suite_create("sched_resume");
    TCase *tc = tcase_create("resume");
    tcase_add_checked_fixture(tc, sf_setup, sf_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_shutdown_then_resume);
    tcase_add_test(tc, test_crash_recovery);
    tcase_add_test(tc, test_crash_without_checkpoint_restarts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sched_resume_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
