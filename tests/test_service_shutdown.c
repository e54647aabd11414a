/* Stopping the real daemon as a service manager does: SIGTERM while a
 * moderately sized run (DCGAN on 28x28 images, batch 32) trains ends the
 * process promptly and cleanly, leaves the run queued with a checkpoint at
 * the step where it stopped (read back from the state directory with the
 * store, the daemon gone), and the next start resumes from the step after
 * it. The daemon's path is argv[1]. */
#include "daemon_fixture.h"

#include "idx_fixture.h"

#include "gand/store.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STOP_LIMIT_S 10.0

/* "run <id>: <what> <number>" in the log after byte from: the number, or
 * -1 when there is no such line. */
static long logged_step(const gand_daemon *d, size_t from, const char *what)
{
    char *log = daemon_log(d);
    long step = -1;
    const char *line = strlen(log) > from ? strstr(log + from, what) : NULL;
    if (line)
        step = atol(line + strlen(what));
    free(log);
    return step;
}

static size_t log_size(const gand_daemon *d)
{
    char *log = daemon_log(d);
    size_t n = strlen(log);
    free(log);
    return n;
}

/* The newest checkpoint file of run id, -1 when there is none. */
static long newest_checkpoint(const gand_daemon *d, int64_t id)
{
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/runs/%lld/checkpoints", d->state_dir, (long long)id);
    DIR *dp = opendir(dir);
    ck_assert_ptr_nonnull(dp);
    long best = -1;
    struct dirent *e;
    while ((e = readdir(dp))) {
        long step;
        char tail[8];
        if (sscanf(e->d_name, "step-%ld.%7s", &step, tail) == 2 && strcmp(tail, "ckpt") == 0 &&
            step > best)
            best = step;
    }
    closedir(dp);
    return best;
}

/* Asserts the loss_d series of run id is steps 1..n without a gap or a
 * repeat, n at least through_step; returns n. */
static long assert_series_through(const gand_daemon *d, int64_t id, long through_step)
{
    char path[96];
    snprintf(path, sizeof path, "/runs/%lld/metrics?name=loss_d&limit=100000", (long long)id);
    reply r = client_get(d, path);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    const cJSON *steps = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "series"), "loss_d"), "steps");
    long want = 1;
    for (const cJSON *v = steps ? steps->child : NULL; v; v = v->next, want++)
        ck_assert_msg((long)v->valuedouble == want, "step %ld where %ld belongs",
                      (long)v->valuedouble, want);
    reply_free(&r);
    ck_assert_msg(want - 1 >= through_step, "the series ends at %ld, before %ld", want - 1,
                  through_step);
    return want - 1;
}

START_TEST(test_sigterm_mid_run)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    /* the fixture's 8x8 images replaced by 28x28 ones, the size DCGAN-28 takes */
    fixture_write_blocks(d.data_dir, 128, 28, 4, 5);
    daemon_start(&d);
    const char *spec = "\"batch_size\":32,\"g_width\":64,\"d_width\":32,"
                       "\"sample_every\":4,\"checkpoint_every\":6";
    int64_t id = submit_run(&d, 1000000, spec);
    int64_t waiting = submit_run(&d, 1000000, spec);
    sse_async *stream = sse_start(&d, (sse_opts){.path = "/events", .timeout_s = 60});
    sse_wait_open(stream);
    wait_step(&d, id, 8, 120);

    size_t log_from = log_size(&d);
    double t0 = now_s();
    int rc = daemon_stop(&d);
    double took = now_s() - t0;
    ck_assert_msg(rc == 0, "gand exited with %d after SIGTERM", rc);
    ck_assert_msg(took < STOP_LIMIT_S, "gand took %.2f s to stop", took);
    fprintf(stderr, "SIGTERM to exit with a run in progress: %.3f s\n", took);
    /* the open stream ended with the process */
    sse_list events = sse_finish(stream);
    ck_assert_int_eq(events.status, 200);
    sse_list_free(&events);

    long stopped = logged_step(&d, log_from, "run 1: stopped at step ");
    ck_assert_msg(stopped >= 8, "no stop line, or an early one (%ld)", stopped);
    ck_assert_int_eq(newest_checkpoint(&d, id), stopped);
    char err[512];
    store *db;
    ck_assert_msg(store_open(d.state_dir, &db, err, sizeof err) == GAND_OK, "%s", err);
    store_run r;
    ck_assert_int_eq(store_run_get(db, id, &r, err, sizeof err), GAND_OK);
    ck_assert_str_eq(store_run_state_name(r.state), "queued");
    ck_assert_int_eq(r.step, stopped);
    ck_assert_int_eq(r.checkpoint_step, stopped);
    ck_assert(!r.cancel_requested);
    store_run_clear(&r);
    /* the run behind it did not start and keeps its place */
    ck_assert_int_eq(store_run_get(db, waiting, &r, err, sizeof err), GAND_OK);
    ck_assert_str_eq(store_run_state_name(r.state), "queued");
    ck_assert_int_eq(r.step, 0);
    store_run_clear(&r);
    store_close(db);

    log_from = log_size(&d);
    daemon_start(&d);
    wait_step(&d, id, stopped + 2, 120);
    ck_assert_int_eq(logged_step(&d, log_from, "run 1: training 1000000 steps from step "),
                     stopped);
    /* training went on at stopped + 1: no step is missing or recorded twice */
    assert_series_through(&d, id, stopped + 1);
    cJSON *run = get_run(&d, waiting);
    ck_assert_str_eq(json_str(run, "status"), "queued");
    cJSON_Delete(run);
    daemon_cleanup(&d);
}
END_TEST

/* SIGINT (Ctrl-C in a terminal) is the same clean stop, and a second
 * signal while stopping does not cut the stop short. */
START_TEST(test_sigint_and_repeated_signals)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    fixture_write_blocks(d.data_dir, 128, 28, 4, 5);
    daemon_start(&d);
    int64_t id = submit_run(&d, 1000000,
                            "\"batch_size\":32,\"g_width\":64,\"d_width\":32,"
                            "\"sample_every\":1000,\"checkpoint_every\":1000");
    wait_step(&d, id, 3, 120);
    pid_t pid = d.pid;
    ck_assert_int_eq(kill(pid, SIGINT), 0);
    kill(pid, SIGTERM);
    kill(pid, SIGINT);
    double t0 = now_s();
    int rc = daemon_stop(&d); /* a third SIGTERM, maybe to a process already gone */
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(now_s() - t0 < STOP_LIMIT_S, "gand took %.2f s to stop", now_s() - t0);
    char *log = daemon_log(&d);
    ck_assert_msg(strstr(log, "SIGINT: stopping"), "%s", log);
    ck_assert_msg(strstr(log, "it resumes at the next start"), "%s", log);
    free(log);
    long ckpt = newest_checkpoint(&d, id);
    ck_assert_int_ge(ckpt, 3);
    daemon_cleanup(&d);
}
END_TEST

/* Asserts the stored run id is queued at step with its checkpoint there. */
static void assert_queued_at(const gand_daemon *d, int64_t id, long step)
{
    char err[512];
    store *db;
    ck_assert_msg(store_open(d->state_dir, &db, err, sizeof err) == GAND_OK, "%s", err);
    store_run r;
    ck_assert_int_eq(store_run_get(db, id, &r, err, sizeof err), GAND_OK);
    ck_assert_str_eq(store_run_state_name(r.state), "queued");
    ck_assert_int_eq(r.step, step);
    ck_assert_int_eq(r.checkpoint_step, step);
    ck_assert_ptr_null(r.error);
    store_run_clear(&r);
    store_close(db);
}

/* Points (or, with make false, stops pointing) the checkpoint files of
 * steps from..to of run id at /dev/full, where every write fails ENOSPC. */
static void full_checkpoints(const gand_daemon *d, int64_t id, long from, long to, bool make)
{
    for (long step = from; step <= to; step++) {
        char path[1300];
        snprintf(path, sizeof path, "%s/runs/%lld/checkpoints/step-%07ld.ckpt.tmp",
                 d->state_dir, (long long)id, step);
        if (make)
            ck_assert_int_eq(symlink("/dev/full", path), 0);
        else
            unlink(path);
    }
}

/* A full disk when SIGTERM comes: the checkpoint of the stop cannot be
 * written, so the run goes back to its newest checkpoint instead of failing,
 * and trains on from there once there is room. */
START_TEST(test_sigterm_with_disk_full)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    /* steps of tens of ms, so the files made ready below are ahead of it */
    fixture_write_blocks(d.data_dir, 128, 28, 4, 5);
    daemon_start(&d);
    int64_t id = submit_run(&d, 1000000,
                            "\"batch_size\":32,\"g_width\":64,\"d_width\":32,"
                            "\"sample_every\":100000,\"checkpoint_every\":100000");
    wait_step(&d, id, 10, 60);
    ck_assert_int_eq(daemon_stop(&d), 0);
    long good = newest_checkpoint(&d, id);
    ck_assert_int_ge(good, 10);
    assert_queued_at(&d, id, good);

    daemon_start(&d);
    wait_step(&d, id, good + 2, 60);
    cJSON *run = get_run(&d, id);
    long at = (long)json_num(run, "step");
    cJSON_Delete(run);
    /* the stored step trails the trainer by at most a flush (200 steps) */
    full_checkpoints(&d, id, at + 1, at + 2000, true);
    size_t log_from = log_size(&d);
    ck_assert_int_eq(daemon_stop(&d), 0);
    char *log = daemon_log(&d);
    ck_assert_msg(strstr(log + log_from, "No space left on device"), "%s", log + log_from);
    free(log);
    ck_assert_int_eq(logged_step(&d, log_from, "run 1: stopped at step "), good);
    assert_queued_at(&d, id, good);
    ck_assert_int_eq(newest_checkpoint(&d, id), good);

    full_checkpoints(&d, id, at + 1, at + 2000, false);
    log_from = log_size(&d);
    daemon_start(&d);
    wait_step(&d, id, good + 2, 60);
    ck_assert_int_eq(logged_step(&d, log_from, "run 1: training 1000000 steps from step "), good);
    daemon_cleanup(&d);
}
END_TEST

static Suite *service_shutdown_suite(void)
{
    Suite *s = suite_create("service_shutdown");
    TCase *tc = tcase_create("shutdown");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_sigterm_mid_run);
    tcase_add_test(tc, test_sigint_and_repeated_signals);
    tcase_add_test(tc, test_sigterm_with_disk_full);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, service_shutdown_suite()); }
