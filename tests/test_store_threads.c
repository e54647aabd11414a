/* The store used from several threads at once: separate connections on one
 * database, and one connection shared through its mutex. No SQLITE_BUSY may
 * reach a caller. */
#include "store_fixture.h"

#include "gand/store.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    store *s;
    int64_t run;
    int failures;
    char first_error[300];
} worker;

static void record(worker *w, gand_status st, const char *err)
{
    if (st != GAND_OK && w->failures++ == 0)
        snprintf(w->first_error, sizeof w->first_error, "%d: %s", (int)st, err);
}

/* A training worker: metric batches, progress, events. */
static void *write_metrics(void *arg)
{
    worker *w = arg;
    char err[256];
    store_metric pts[50];
    for (int batch = 0; batch < 100; batch++) {
        for (int i = 0; i < 50; i++)
            pts[i] = (store_metric){batch * 50 + i, i % 2 ? "loss_g" : "loss_d", batch + i};
        record(w, store_metrics_add(w->s, w->run, pts, 50, err, sizeof err), err);
        record(w, store_run_set_step(w->s, w->run, batch * 50 + 49, err, sizeof err), err);
        record(w,
               store_event_append(w->s, w->run, STORE_EVENT_PROGRESS, batch * 50 + 49, "{}", NULL,
                                  err, sizeof err),
               err);
    }
    return NULL;
}

/* The HTTP side: listing, counting, reading series, creating runs. */
static void *read_runs(void *arg)
{
    worker *w = arg;
    char err[256];
    for (int i = 0; i < 150; i++) {
        store_run_filter f = {.limit = 20};
        store_run_page p;
        record(w, store_run_list(w->s, &f, &p, err, sizeof err), err);
        store_run_page_clear(&p);
        int64_t counts[STORE_RUN_NSTATES];
        record(w, store_run_count(w->s, counts, err, sizeof err), err);
        store_series_set set;
        record(w, store_metrics_query(w->s, w->run, NULL, 0, 100, &set, err, sizeof err), err);
        store_series_set_clear(&set);
        if (i % 10 == 0) {
            store_run_new nr = {"web", "dcgan", "mnist", "{}", 10};
            record(w, store_run_create(w->s, &nr, NULL, err, sizeof err), err);
        }
    }
    return NULL;
}

START_TEST(test_two_connections_at_once)
{
    store *setup = fixture_open(fixture_dir);
    int64_t run = fixture_run(setup, "busy", 1000000);
    int64_t run2 = fixture_run(setup, "busy2", 1000000);
    fixture_to_state(setup, run, STORE_RUN_RUNNING);
    fixture_to_state(setup, run2, STORE_RUN_RUNNING);
    store_close(setup);

    worker w[3] = {{.s = fixture_open(fixture_dir), .run = run},
                   {.s = fixture_open(fixture_dir), .run = run2},
                   {.s = fixture_open(fixture_dir), .run = run}};
    pthread_t t[3];
    ck_assert_int_eq(pthread_create(&t[0], NULL, write_metrics, &w[0]), 0);
    ck_assert_int_eq(pthread_create(&t[1], NULL, write_metrics, &w[1]), 0);
    ck_assert_int_eq(pthread_create(&t[2], NULL, read_runs, &w[2]), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(w[i].failures == 0, "thread %d: %d failures, first %s", i, w[i].failures,
                      w[i].first_error);
        store_close(w[i].s);
    }
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM metrics"), 10000);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM runs"), 17);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT max(step) FROM runs"), 4999);
}
END_TEST

/* One handle shared by threads: the mutex serialises them. */
START_TEST(test_one_handle_shared_by_threads)
{
    store *s = fixture_open(fixture_dir);
    int64_t run = fixture_run(s, "shared", 1000000);
    fixture_to_state(s, run, STORE_RUN_RUNNING);
    worker w[2] = {{.s = s, .run = run}, {.s = s, .run = run}};
    pthread_t t[2];
    ck_assert_int_eq(pthread_create(&t[0], NULL, write_metrics, &w[0]), 0);
    ck_assert_int_eq(pthread_create(&t[1], NULL, read_runs, &w[1]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(w[i].failures == 0, "thread %d: %d failures, first %s", i, w[i].failures,
                      w[i].first_error);
    }
    store_close(s);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM metrics"), 5000);
}
END_TEST

typedef struct {
    store *s;
    int64_t run;
    gand_status result;
} starter;

static void *start_run(void *arg)
{
    starter *st = arg;
    char err[256];
    st->result = store_run_transition(st->s, st->run, STORE_RUN_RUNNING, NULL, err, sizeof err);
    return NULL;
}

/* Schedulers on separate connections race to start the same queued runs:
 * each run is started by exactly one of them. */
START_TEST(test_racing_starts_have_one_winner)
{
    enum { THREADS = 4, RUNS = 20 };
    starter st[THREADS];
    for (int i = 0; i < THREADS; i++)
        st[i].s = fixture_open(fixture_dir);
    for (int r = 0; r < RUNS; r++) {
        int64_t run = fixture_run(st[0].s, "contested", 10);
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++) {
            st[i].run = run;
            ck_assert_int_eq(pthread_create(&t[i], NULL, start_run, &st[i]), 0);
        }
        int won = 0;
        for (int i = 0; i < THREADS; i++) {
            pthread_join(t[i], NULL);
            ck_assert(st[i].result == GAND_OK || st[i].result == GAND_EBUSY);
            won += st[i].result == GAND_OK;
        }
        ck_assert_int_eq(won, 1);
    }
    for (int i = 0; i < THREADS; i++)
        store_close(st[i].s);
}
END_TEST

static Suite *store_threads_suite(void)
{
    Suite *s = suite_create("store_threads");
    TCase *tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_add_test(tc, test_two_connections_at_once);
    tcase_add_test(tc, test_one_handle_shared_by_threads);
    tcase_add_test(tc, test_racing_starts_have_one_winner);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_threads_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
