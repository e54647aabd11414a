#define _XOPEN_SOURCE 700
#include "store_fixture.h"

#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char fixture_dir[PATH_MAX];

void fixture_setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(fixture_dir, PATH_MAX, "%s/gand-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(fixture_dir));
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fixture_rm_rf(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

void fixture_teardown(void) { fixture_rm_rf(fixture_dir); }

store *fixture_open(const char *dir)
{
    store *s = NULL;
    char err[512] = "";
    gand_status st = store_open(dir, &s, err, sizeof err);
    ck_assert_msg(st == GAND_OK, "store_open(%s): %s", dir, err);
    return s;
}

int64_t fixture_run(store *s, const char *name, int64_t total_steps)
{
    store_run_new r = {.name = name, .kind = "dcgan", .dataset = "mnist",
                       .spec = "{\"kind\":\"dcgan\"}", .total_steps = total_steps};
    int64_t id = 0;
    char err[256] = "";
    ck_assert_msg(store_run_create(s, &r, &id, err, sizeof err) == GAND_OK, "%s", err);
    ck_assert_int_gt(id, 0);
    return id;
}

static void move(store *s, int64_t id, store_run_state to)
{
    char err[256] = "";
    const char *why = to == STORE_RUN_FAILED ? "the discriminator loss became NaN" : NULL;
    ck_assert_msg(store_run_transition(s, id, to, why, err, sizeof err) == GAND_OK, "%s", err);
}

void fixture_to_state(store *s, int64_t id, store_run_state state)
{
    if (state == STORE_RUN_QUEUED)
        return;
    if (state == STORE_RUN_CANCELED) {
        move(s, id, STORE_RUN_CANCELED);
        return;
    }
    move(s, id, STORE_RUN_RUNNING);
    if (state != STORE_RUN_RUNNING)
        move(s, id, state);
}

static sqlite3_stmt *raw_query(const char *dir, const char *sql, sqlite3 **db)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", dir, STORE_DB_FILE);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    ck_assert_int_eq(sqlite3_open_v2(path, db, flags, NULL), SQLITE_OK);
    sqlite3_busy_timeout(*db, 5000);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(*db, sql, -1, &st, NULL);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(*db));
    return st;
}

int64_t fixture_query_int(const char *dir, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st = raw_query(dir, sql, &db);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

void fixture_query_text(const char *dir, const char *sql, char *out, size_t n)
{
    sqlite3 *db;
    sqlite3_stmt *st = raw_query(dir, sql, &db);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(out, n, "%s", t ? (const char *)t : "(null)");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

void fixture_exec(const char *dir, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st = raw_query(dir, sql, &db);
    int rc = sqlite3_step(st);
    ck_assert_msg(rc == SQLITE_DONE || rc == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
}
