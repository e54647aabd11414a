/* The store: opening, the schema and its version, creating, reading,
 * listing, paging and counting runs. */
#include "store_fixture.h"

#include "gand/alloc.h"
#include "gand/store.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_open_creates_schema_in_wal_mode)
{
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/var/lib/gand", fixture_dir); /* parents are created */
    store *s = fixture_open(dir);
    ck_assert_int_eq(store_schema_version(), 1);
    ck_assert_int_eq(fixture_query_int(dir, "PRAGMA user_version"), 1);
    ck_assert_int_eq(fixture_query_int(dir, "PRAGMA application_id"), 0x67616e64);
    char mode[16];
    fixture_query_text(dir, "PRAGMA journal_mode", mode, sizeof mode);
    ck_assert_str_eq(mode, "wal");
    ck_assert_int_eq(fixture_query_int(dir, "SELECT count(*) FROM sqlite_master WHERE type = "
                                            "'table' AND name IN ('runs', 'metrics', 'samples', "
                                            "'events')"),
                     4);
    ck_assert_int_eq(fixture_query_int(dir, "SELECT count(*) FROM sqlite_master WHERE type = "
                                            "'index' AND name IN ('runs_status', 'events_run')"),
                     2);
    store_close(s);
    store_close(NULL);
}
END_TEST

START_TEST(test_reopen_keeps_data)
{
    store *s = fixture_open(fixture_dir);
    int64_t a = fixture_run(s, "first", 100);
    int64_t b = fixture_run(s, "second", 200);
    fixture_to_state(s, b, STORE_RUN_RUNNING);
    store_close(s);

    s = fixture_open(fixture_dir);
    store_run r;
    char err[256];
    ck_assert_int_eq(store_run_get(s, a, &r, err, sizeof err), GAND_OK);
    ck_assert_str_eq(r.name, "first");
    ck_assert_int_eq(r.state, STORE_RUN_QUEUED);
    store_run_clear(&r);
    ck_assert_int_eq(store_run_get(s, b, &r, err, sizeof err), GAND_OK);
    ck_assert_str_eq(r.name, "second");
    ck_assert_int_eq(r.state, STORE_RUN_RUNNING);
    ck_assert_int_eq(r.total_steps, 200);
    store_run_clear(&r);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "PRAGMA user_version"), 1);
    store_close(s);
}
END_TEST

START_TEST(test_newer_schema_is_refused)
{
    store *s = fixture_open(fixture_dir);
    fixture_run(s, "kept", 10);
    store_close(s);
    fixture_exec(fixture_dir, "PRAGMA user_version = 7");

    char err[512] = "";
    s = (store *)1;
    ck_assert_int_eq(store_open(fixture_dir, &s, err, sizeof err), GAND_ERANGE);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "schema version 7") && strstr(err, "version 1 this gand knows") &&
                      strstr(err, STORE_DB_FILE),
                  "message: %s", err);
    /* Refused means untouched. */
    ck_assert_int_eq(fixture_query_int(fixture_dir, "PRAGMA user_version"), 7);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM runs"), 1);
}
END_TEST

START_TEST(test_foreign_files_are_refused)
{
    char path[PATH_MAX + 32], err[512] = "";
    store *s = NULL;
    snprintf(path, sizeof path, "%s/%s", fixture_dir, STORE_DB_FILE);
    write_file(path, "these bytes are not a database, they are a note to self\n");
    ck_assert_int_eq(store_open(fixture_dir, &s, err, sizeof err), GAND_EFORMAT);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "not a SQLite database") && strstr(err, path), "message: %s", err);

    /* A SQLite file of another program. */
    unlink(path);
    fixture_exec(fixture_dir, "CREATE TABLE notes (body TEXT)");
    ck_assert_int_eq(store_open(fixture_dir, &s, err, sizeof err), GAND_EFORMAT);
    ck_assert_msg(strstr(err, "tables gand did not create"), "message: %s", err);
    fixture_exec(fixture_dir, "PRAGMA user_version = 1");
    ck_assert_int_eq(store_open(fixture_dir, &s, err, sizeof err), GAND_EFORMAT);
    ck_assert_msg(strstr(err, "not a gand database"), "message: %s", err);
}
END_TEST

START_TEST(test_bad_state_dirs_are_refused)
{
    char path[PATH_MAX + 32], err[512] = "";
    store *s = NULL;
    snprintf(path, sizeof path, "%s/plain-file", fixture_dir);
    write_file(path, "x");
    ck_assert_int_eq(store_open(path, &s, err, sizeof err), GAND_EIO);
    ck_assert_msg(strstr(err, "is not a directory") && strstr(err, path), "message: %s", err);
    snprintf(path, sizeof path, "%s/plain-file/state", fixture_dir);
    ck_assert_int_eq(store_open(path, &s, err, sizeof err), GAND_EIO);
    ck_assert_msg(strstr(err, "cannot create state directory"), "message: %s", err);
    ck_assert_int_eq(store_open("", &s, err, sizeof err), GAND_EINVAL);
    ck_assert_int_eq(store_open(NULL, &s, err, sizeof err), GAND_EINVAL);
    ck_assert_ptr_null(s);
}
END_TEST

/* Root writes anywhere, so as root the check runs in a child that has
 * become nobody; the message comes back through a pipe. */
START_TEST(test_unwritable_state_dir_is_refused)
{
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/locked", fixture_dir);
    ck_assert_int_eq(chmod(fixture_dir, 0755), 0); /* mkdtemp made it 0700 */
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(2);
        char err[512] = "";
        store *s = NULL;
        gand_status st = store_open(dir, &s, err, sizeof err);
        char msg[600];
        int n = snprintf(msg, sizeof msg, "%d %s", (int)st, err);
        if (write(fds[1], msg, (size_t)n) != n)
            _exit(3);
        _exit(s == NULL ? 0 : 4);
    }
    close(fds[1]);
    char msg[600] = "";
    ssize_t n = read(fds[0], msg, sizeof msg - 1);
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    chmod(dir, 0755);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert_int_gt(n, 0);
    char expect[32];
    snprintf(expect, sizeof expect, "%d ", (int)GAND_EIO);
    ck_assert_msg(strncmp(msg, expect, strlen(expect)) == 0, "status and message: %s", msg);
    ck_assert_msg(strstr(msg, "is not writable") && strstr(msg, dir), "message: %s", msg);
}
END_TEST

START_TEST(test_create_and_get_every_column)
{
    store *s = fixture_open(fixture_dir);
    /* Quotes and SQL in user text must arrive verbatim: text is bound. */
    const char *name = "bob's run'); DROP TABLE runs; --";
    store_run_new nr = {.name = name, .kind = "wgan", .dataset = "fashion-mnist",
                        .spec = "{\"kind\":\"wgan\",\"steps\":5000}", .total_steps = 5000};
    int64_t t0 = now_ms(), id = 0;
    char err[256];
    ck_assert_int_eq(store_run_create(s, &nr, &id, err, sizeof err), GAND_OK);
    int64_t t1 = now_ms();
    store_run r;
    ck_assert_int_eq(store_run_get(s, id, &r, err, sizeof err), GAND_OK);
    ck_assert_int_eq(r.id, id);
    ck_assert_str_eq(r.name, name);
    ck_assert_str_eq(r.kind, "wgan");
    ck_assert_str_eq(r.dataset, "fashion-mnist");
    ck_assert_str_eq(r.spec, "{\"kind\":\"wgan\",\"steps\":5000}");
    ck_assert_int_eq(r.state, STORE_RUN_QUEUED);
    ck_assert(r.created_at_ms >= t0 && r.created_at_ms <= t1);
    ck_assert_int_eq(r.started_at_ms, 0);
    ck_assert_int_eq(r.finished_at_ms, 0);
    ck_assert_int_eq(r.step, 0);
    ck_assert_int_eq(r.total_steps, 5000);
    ck_assert_ptr_null(r.error);
    ck_assert(!r.cancel_requested);
    ck_assert_int_eq(r.checkpoint_step, -1);
    store_run_clear(&r);
    ck_assert_ptr_null(r.name);
    store_run_clear(NULL);
    ck_assert_int_eq(fixture_query_int(fixture_dir, "SELECT count(*) FROM runs"), 1);

    ck_assert_int_eq(store_run_get(s, 4242, &r, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_str_eq(err, "run 4242 does not exist");
    nr.kind = NULL;
    ck_assert_int_eq(store_run_create(s, &nr, &id, err, sizeof err), GAND_EINVAL);
    nr.kind = "wgan";
    nr.total_steps = -1;
    ck_assert_int_eq(store_run_create(s, &nr, &id, err, sizeof err), GAND_EINVAL);
    store_close(s);
}
END_TEST

START_TEST(test_ids_are_never_reused)
{
    store *s = fixture_open(fixture_dir);
    int64_t a = fixture_run(s, "a", 1);
    char err[256];
    ck_assert_int_eq(store_run_delete(s, a, err, sizeof err), GAND_OK);
    int64_t b = fixture_run(s, "b", 1);
    ck_assert_int_gt(b, a);
    store_close(s);
}
END_TEST

/* Pages through every run matching mask with page size limit; checks the
 * ids come newest first, each once, and equal expect[0..n). */
static void check_paging(store *s, unsigned mask, int limit, const int64_t *expect, size_t n)
{
    char cursor[STORE_CURSOR_MAX] = "";
    size_t seen = 0;
    int pages = 0;
    for (;;) {
        store_run_filter f = {.state_mask = mask, .cursor = cursor, .limit = limit};
        store_run_page p;
        char err[256];
        ck_assert_msg(store_run_list(s, &f, &p, err, sizeof err) == GAND_OK, "%s", err);
        pages++;
        ck_assert_uint_le(p.n, (size_t)limit);
        for (size_t i = 0; i < p.n; i++) {
            ck_assert_uint_lt(seen, n);
            ck_assert_int_eq(p.runs[i].id, expect[seen]);
            ck_assert(mask == 0 || (mask & (1u << p.runs[i].state)));
            seen++;
        }
        bool last = p.next_cursor[0] == '\0';
        if (!last)
            ck_assert_uint_eq(p.n, (size_t)limit);
        snprintf(cursor, sizeof cursor, "%s", p.next_cursor);
        store_run_page_clear(&p);
        if (last)
            break;
    }
    ck_assert_uint_eq(seen, n);
    ck_assert_int_eq(pages, n == 0 ? 1 : (int)((n + (size_t)limit - 1) / (size_t)limit));
}

START_TEST(test_list_filters_and_pages)
{
    store *s = fixture_open(fixture_dir);
    enum { N = 23 };
    int64_t ids[N];
    store_run_state states[N];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "run-%d", i);
        ids[i] = fixture_run(s, name, 10);
        states[i] = (store_run_state)(i % 3 == 0 ? STORE_RUN_QUEUED
                                      : i % 3 == 1 ? STORE_RUN_RUNNING
                                                   : STORE_RUN_SUCCEEDED);
        fixture_to_state(s, ids[i], states[i]);
    }
    unsigned masks[] = {0, 1u << STORE_RUN_RUNNING,
                        (1u << STORE_RUN_QUEUED) | (1u << STORE_RUN_SUCCEEDED),
                        1u << STORE_RUN_FAILED};
    int limits[] = {1, 4, 7, 8, 23, 1000};
    for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++) {
        int64_t expect[N];
        size_t n = 0;
        for (int i = N - 1; i >= 0; i--)
            if (masks[m] == 0 || (masks[m] & (1u << states[i])))
                expect[n++] = ids[i];
        for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++)
            check_paging(s, masks[m], limits[l], expect, n);
    }

    /* Runs created while paging land before the cursor: never on a later page. */
    store_run_filter f = {.limit = 5};
    store_run_page p1, p2;
    char err[256];
    ck_assert_int_eq(store_run_list(s, &f, &p1, err, sizeof err), GAND_OK);
    fixture_run(s, "late", 1);
    f.cursor = p1.next_cursor;
    ck_assert_int_eq(store_run_list(s, &f, &p2, err, sizeof err), GAND_OK);
    ck_assert_int_eq(p2.runs[0].id, p1.runs[4].id - 1);
    store_run_page_clear(&p1);
    store_run_page_clear(&p2);
    store_run_page_clear(NULL);
    store_close(s);
}
END_TEST

START_TEST(test_list_refuses_bad_cursors_and_limits)
{
    store *s = fixture_open(fixture_dir);
    fixture_run(s, "a", 1);
    const char *bad[] = {"abc", "r", "r0", "R1", "r1G", "r-1", "r 1", "r8000000000000000",
                         "r11111111111111111", "1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        store_run_filter f = {.cursor = bad[i], .limit = 10};
        store_run_page p;
        char err[256] = "";
        ck_assert_msg(store_run_list(s, &f, &p, err, sizeof err) == GAND_EINVAL, "%s", bad[i]);
        ck_assert_msg(strstr(err, "is not valid"), "%s: %s", bad[i], err);
        ck_assert_uint_eq(p.n, 0);
    }
    store_run_filter f = {.cursor = "r7fffffffffffffff", .limit = 10};
    store_run_page p;
    char err[256] = "";
    ck_assert_int_eq(store_run_list(s, &f, &p, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(p.n, 1);
    store_run_page_clear(&p);
    f.limit = 0;
    ck_assert_int_eq(store_run_list(s, &f, &p, err, sizeof err), GAND_EINVAL);
    f.limit = STORE_PAGE_MAX + 1;
    ck_assert_int_eq(store_run_list(s, &f, &p, err, sizeof err), GAND_EINVAL);
    f.limit = 1;
    f.state_mask = 1u << STORE_RUN_NSTATES;
    ck_assert_int_eq(store_run_list(s, &f, &p, err, sizeof err), GAND_EINVAL);
    store_close(s);
}
END_TEST

START_TEST(test_count_and_list_by_state)
{
    store *s = fixture_open(fixture_dir);
    store_run_state plan[] = {STORE_RUN_QUEUED,    STORE_RUN_QUEUED, STORE_RUN_RUNNING,
                              STORE_RUN_SUCCEEDED, STORE_RUN_FAILED, STORE_RUN_FAILED,
                              STORE_RUN_FAILED,    STORE_RUN_CANCELED};
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++)
        fixture_to_state(s, fixture_run(s, "r", 5), plan[i]);
    int64_t counts[STORE_RUN_NSTATES];
    char err[256];
    ck_assert_int_eq(store_run_count(s, counts, err, sizeof err), GAND_OK);
    ck_assert_int_eq(counts[STORE_RUN_QUEUED], 2);
    ck_assert_int_eq(counts[STORE_RUN_RUNNING], 1);
    ck_assert_int_eq(counts[STORE_RUN_SUCCEEDED], 1);
    ck_assert_int_eq(counts[STORE_RUN_FAILED], 3);
    ck_assert_int_eq(counts[STORE_RUN_CANCELED], 1);

    /* The scheduler's view at start-up: oldest first, no paging. */
    store_run_page p;
    ck_assert_int_eq(store_run_list_state(s, STORE_RUN_FAILED, &p, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(p.n, 3);
    for (size_t i = 0; i < p.n; i++) {
        ck_assert_int_eq(p.runs[i].id, 5 + (int64_t)i);
        ck_assert_int_eq(p.runs[i].state, STORE_RUN_FAILED);
        ck_assert_str_eq(p.runs[i].error, "the discriminator loss became NaN");
    }
    ck_assert_str_eq(p.next_cursor, "");
    store_run_page_clear(&p);
    ck_assert_int_eq(store_run_list_state(s, STORE_RUN_QUEUED, &p, err, sizeof err), GAND_OK);
    ck_assert_uint_eq(p.n, 2);
    ck_assert_int_eq(p.runs[0].id, 1);
    ck_assert_int_eq(p.runs[1].id, 2);
    store_run_page_clear(&p);
    ck_assert_int_eq(store_run_list_state(s, (store_run_state)5, &p, err, sizeof err),
                     GAND_EINVAL);
    store_close(s);
}
END_TEST

START_TEST(test_state_names)
{
    store_run_state st;
    char err[256];
    for (int k = 0; k < STORE_RUN_NSTATES; k++) {
        ck_assert_int_eq(store_run_state_parse(store_run_state_name((store_run_state)k), &st, err,
                                               sizeof err),
                         GAND_OK);
        ck_assert_int_eq(st, k);
    }
    ck_assert_str_eq(store_run_state_name(STORE_RUN_CANCELED), "canceled");
    ck_assert_str_eq(store_run_state_name((store_run_state)9), "unknown");
    ck_assert_int_eq(store_run_state_parse("done", &st, err, sizeof err), GAND_EINVAL);
    ck_assert_msg(strstr(err, "'done' is not a run status"), "%s", err);
    ck_assert(!store_run_state_is_final(STORE_RUN_RUNNING));
    ck_assert(store_run_state_is_final(STORE_RUN_FAILED));
}
END_TEST

/* Every allocation of these calls in turn fails: each reports GAND_ENOMEM,
 * leaves its outputs empty, and leaks nothing (AddressSanitizer checks). */
START_TEST(test_out_of_memory_everywhere)
{
    store *s = fixture_open(fixture_dir);
    int64_t id = fixture_run(s, "oom", 10);
    fixture_run(s, "oom2", 10);
    char err[256];
    for (long n = 1;; n++) {
        gand_alloc_fail_at(n, false);
        store_run r;
        gand_status a = store_run_get(s, id, &r, err, sizeof err);
        store_run_clear(&r);
        store_run_filter f = {.limit = 10};
        store_run_page p;
        gand_alloc_fail_at(n, false);
        gand_status b = store_run_list(s, &f, &p, err, sizeof err);
        if (b != GAND_OK)
            ck_assert_uint_eq(p.n, 0);
        store_run_page_clear(&p);
        store *t = NULL;
        gand_alloc_fail_at(n, false);
        gand_status c = store_open(fixture_dir, &t, err, sizeof err);
        store_close(t);
        gand_alloc_fail_at(0, false);
        ck_assert(a == GAND_OK || a == GAND_ENOMEM);
        ck_assert(b == GAND_OK || b == GAND_ENOMEM);
        ck_assert(c == GAND_OK || c == GAND_ENOMEM);
        if (a == GAND_OK && b == GAND_OK && c == GAND_OK)
            break;
        ck_assert_int_lt(n, 100);
    }
    store_close(s);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("runs");
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_add_test(tc, test_open_creates_schema_in_wal_mode);
    tcase_add_test(tc, test_reopen_keeps_data);
    tcase_add_test(tc, test_newer_schema_is_refused);
    tcase_add_test(tc, test_foreign_files_are_refused);
    tcase_add_test(tc, test_bad_state_dirs_are_refused);
    tcase_add_test(tc, test_unwritable_state_dir_is_refused);
    tcase_add_test(tc, test_create_and_get_every_column);
    tcase_add_test(tc, test_ids_are_never_reused);
    tcase_add_test(tc, test_list_filters_and_pages);
    tcase_add_test(tc, test_list_refuses_bad_cursors_and_limits);
    tcase_add_test(tc, test_count_and_list_by_state);
    tcase_add_test(tc, test_state_names);
    tcase_add_test(tc, test_out_of_memory_everywhere);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
