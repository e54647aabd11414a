/* The store: a run's life. Every state transition, cancellation, progress
 * and checkpoint guards, and deletion with its cascade. */
#include "store_fixture.h"

#include "gand/store.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool legal(store_run_state from, store_run_state to)
{
    return (from == STORE_RUN_QUEUED && (to == STORE_RUN_RUNNING || to == STORE_RUN_CANCELED)) ||
           (from == STORE_RUN_RUNNING &&
            (to == STORE_RUN_SUCCEEDED || to == STORE_RUN_FAILED || to == STORE_RUN_CANCELED));
}

/* Every (from, to) pair: legal ones change exactly what they should, the
 * others return GAND_EBUSY and leave the row identical. */
START_TEST(test_every_transition)
{
    store *s = fixture_open(fixture_dir);
    for (int from = 0; from < STORE_RUN_NSTATES; from++) {
        for (int to = 0; to < STORE_RUN_NSTATES; to++) {
            int64_t id = fixture_run(s, "t", 10);
            fixture_to_state(s, id, (store_run_state)from);
            store_run before, after;
            char err[256] = "";
            ck_assert_int_eq(store_run_get(s, id, &before, err, sizeof err), GAND_OK);
            const char *why = to == STORE_RUN_FAILED ? "out of memory on the GPU" : NULL;
            int64_t t0 = now_ms();
            gand_status st = store_run_transition(s, id, (store_run_state)to, why, err, sizeof err);
            ck_assert_int_eq(store_run_get(s, id, &after, err + 128, 128), GAND_OK);
            if (legal((store_run_state)from, (store_run_state)to)) {
                ck_assert_msg(st == GAND_OK, "%d -> %d: %s", from, to, err);
                ck_assert_int_eq(after.state, to);
                if (to == STORE_RUN_RUNNING) {
                    ck_assert_int_ge(after.started_at_ms, t0);
                    ck_assert_int_eq(after.finished_at_ms, 0);
                } else {
                    ck_assert_int_ge(after.finished_at_ms, t0);
                    ck_assert_int_eq(after.started_at_ms, before.started_at_ms);
                }
                if (to == STORE_RUN_FAILED)
                    ck_assert_str_eq(after.error, "out of memory on the GPU");
                else
                    ck_assert_ptr_null(after.error);
            } else {
                ck_assert_msg(st == GAND_EBUSY, "%d -> %d gave %d", from, to, st);
                char expect[128];
                snprintf(expect, sizeof expect, "run %lld is %s and cannot become %s",
                         (long long)id, store_run_state_name((store_run_state)from),
                         store_run_state_name((store_run_state)to));
                ck_assert_str_eq(err, expect);
                ck_assert_int_eq(after.state, before.state);
                ck_assert_int_eq(after.started_at_ms, before.started_at_ms);
                ck_assert_int_eq(after.finished_at_ms, before.finished_at_ms);
                ck_assert((after.error == NULL) == (before.error == NULL));
            }
            store_run_clear(&before);
            store_run_clear(&after);
        }
    }
    store_close(s);
}
END_TEST

START_TEST(test_transition_arguments)
{
    store *s = fixture_open(fixture_dir);
    int64_t id = fixture_run(s, "t", 10);
    fixture_to_state(s, id, STORE_RUN_RUNNING);
    char err[256];
    ck_assert_int_eq(store_run_transition(s, id, STORE_RUN_FAILED, NULL, err, sizeof err),
                     GAND_EINVAL);
    ck_assert_int_eq(store_run_transition(s, id, STORE_RUN_FAILED, "", err, sizeof err),
                     GAND_EINVAL);
    ck_assert_int_eq(store_run_transition(s, id, STORE_RUN_SUCCEEDED, "why", err, sizeof err),
                     GAND_EINVAL);
    ck_assert_int_eq(store_run_transition(s, id, (store_run_state)17, NULL, err, sizeof err),
                     GAND_EINVAL);
    ck_assert_int_eq(store_run_transition(s, 999, STORE_RUN_SUCCEEDED, NULL, err, sizeof err),
                     GAND_ENOTFOUND);
    ck_assert_str_eq(err, "run 999 does not exist");
    store_run r;
    ck_assert_int_eq(store_run_get(s, id, &r, err, sizeof err), GAND_OK);
    ck_assert_int_eq(r.state, STORE_RUN_RUNNING);
    store_run_clear(&r);
    store_close(s);
}
END_TEST

START_TEST(test_request_cancel)
{
    store *s = fixture_open(fixture_dir);
    char err[256];
    store_run_state st = STORE_RUN_FAILED;
    bool asked = true;

    int64_t q = fixture_run(s, "queued", 10);
    ck_assert_int_eq(store_run_request_cancel(s, q, &st, err, sizeof err), GAND_OK);
    ck_assert_int_eq(st, STORE_RUN_CANCELED);
    store_run r;
    ck_assert_int_eq(store_run_get(s, q, &r, err, sizeof err), GAND_OK);
    ck_assert_int_eq(r.state, STORE_RUN_CANCELED);
    ck_assert(r.cancel_requested);
    ck_assert_int_gt(r.finished_at_ms, 0);
    store_run_clear(&r);
    /* A scheduler that still holds it in its queue cannot start it. */
    ck_assert_int_eq(store_run_transition(s, q, STORE_RUN_RUNNING, NULL, err, sizeof err),
                     GAND_EBUSY);

    int64_t w = fixture_run(s, "running", 10);
    fixture_to_state(s, w, STORE_RUN_RUNNING);
    ck_assert_int_eq(store_run_cancel_requested(s, w, &asked, err, sizeof err), GAND_OK);
    ck_assert(!asked);
    ck_assert_int_eq(store_run_request_cancel(s, w, &st, err, sizeof err), GAND_OK);
    ck_assert_int_eq(st, STORE_RUN_RUNNING);
    ck_assert_int_eq(store_run_request_cancel(s, w, NULL, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_run_cancel_requested(s, w, &asked, err, sizeof err), GAND_OK);
    ck_assert(asked);
    ck_assert_int_eq(store_run_transition(s, w, STORE_RUN_CANCELED, NULL, err, sizeof err),
                     GAND_OK);

    ck_assert_int_eq(store_run_request_cancel(s, w, &st, err, sizeof err), GAND_EBUSY);
    ck_assert_str_eq(err, "run 2 already canceled; there is nothing to cancel");
    ck_assert_int_eq(store_run_request_cancel(s, 77, &st, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_int_eq(store_run_cancel_requested(s, 77, &asked, err, sizeof err), GAND_ENOTFOUND);
    store_close(s);
}
END_TEST

START_TEST(test_step_and_checkpoint_guards)
{
    store *s = fixture_open(fixture_dir);
    char err[256];
    int64_t id = fixture_run(s, "p", 100);
    ck_assert_int_eq(store_run_set_step(s, id, 1, err, sizeof err), GAND_EBUSY);
    ck_assert_str_eq(err, "run 1 is queued; only a running run records a step");
    fixture_to_state(s, id, STORE_RUN_RUNNING);
    ck_assert_int_eq(store_run_set_step(s, id, 40, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_run_set_step(s, id, 40, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_run_set_step(s, id, 39, err, sizeof err), GAND_EINVAL);
    ck_assert_str_eq(err, "step 39 is behind run 1's step 40; it never goes backwards");
    ck_assert_int_eq(store_run_set_step(s, id, 101, err, sizeof err), GAND_EINVAL);
    ck_assert_int_eq(store_run_set_step(s, id, -1, err, sizeof err), GAND_EINVAL);
    ck_assert_int_eq(store_run_set_checkpoint(s, id, 30, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_run_set_checkpoint(s, id, 20, err, sizeof err), GAND_EINVAL);
    ck_assert_int_eq(store_run_set_checkpoint(s, id, 200, err, sizeof err), GAND_EINVAL);
    ck_assert_int_eq(store_run_set_step(s, 55, 1, err, sizeof err), GAND_ENOTFOUND);
    store_run r;
    ck_assert_int_eq(store_run_get(s, id, &r, err, sizeof err), GAND_OK);
    ck_assert_int_eq(r.step, 40);
    ck_assert_int_eq(r.checkpoint_step, 30);
    store_run_clear(&r);
    store_close(s);
}
END_TEST

START_TEST(test_delete_refused_while_running_then_cascades)
{
    store *s = fixture_open(fixture_dir);
    char err[256];
    int64_t keep = fixture_run(s, "other", 10);
    int64_t id = fixture_run(s, "doomed", 10);
    for (int64_t r = keep; r <= id; r++) {
        fixture_to_state(s, r, STORE_RUN_RUNNING);
        store_metric m[] = {{1, "loss_d", 0.5}, {2, "loss_d", 0.25}, {1, "loss_g", 2.0}};
        ck_assert_int_eq(store_metrics_add(s, r, m, 3, err, sizeof err), GAND_OK);
        ck_assert_int_eq(store_sample_add(s, r, 2, "samples/2.png", err, sizeof err), GAND_OK);
        ck_assert_int_eq(
            store_event_append(s, r, STORE_EVENT_PROGRESS, 2, "{\"step\":2}", NULL, err,
                               sizeof err),
            GAND_OK);
    }
    ck_assert_int_eq(store_run_delete(s, id, err, sizeof err), GAND_EBUSY);
    ck_assert_str_eq(err, "cannot delete run 2 while it is running; cancel it first");
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM metrics"), 6);

    fixture_to_state(s, id, STORE_RUN_CANCELED);
    ck_assert_int_eq(store_run_delete(s, id, err, sizeof err), GAND_OK);
    store_run r;
    ck_assert_int_eq(store_run_get(s, id, &r, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM metrics"), 3);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM samples"), 1);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM events"), 1);
    ck_assert_int_eq(
        fixture_query_int(fixture_dir, "SELECT count(*) FROM metrics WHERE run_id = 2"), 0);
    ck_assert_int_eq(store_run_delete(s, id, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_str_eq(err, "run 2 does not exist");

    /* Queued runs may go too; a scheduler holding one then fails to start it. */
    int64_t q = fixture_run(s, "queued", 10);
    ck_assert_int_eq(store_run_delete(s, q, err, sizeof err), GAND_OK);
    ck_assert_int_eq(store_run_transition(s, q, STORE_RUN_RUNNING, NULL, err, sizeof err),
                     GAND_ENOTFOUND);
    store_close(s);
}
END_TEST

static Suite *store_lifecycle_suite(void)
{
    Suite *s = suite_create("store_lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_add_test(tc, test_every_transition);
    tcase_add_test(tc, test_transition_arguments);
    tcase_add_test(tc, test_request_cancel);
    tcase_add_test(tc, test_step_and_checkpoint_guards);
    tcase_add_test(tc, test_delete_refused_while_running_then_cascades);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_lifecycle_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
