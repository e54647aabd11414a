/* Opening and closing the database; the statement cache, transactions and
 * error mapping shared by the query files. */
#include "store_internal.h"

#include "gand/alloc.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static gand_status status_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM: return GAND_ENOMEM;
    case SQLITE_FULL: return GAND_ENOSPC;
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN: return GAND_EIO;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return GAND_EFORMAT;
    default: return GAND_EDB;
    }
}

/* A full disk gets a status of its own, so the HTTP layer can answer 507
 * rather than a bare 500. SQLite reports it as SQLITE_FULL, or as an I/O
 * error when ENOSPC hit it growing the shared-memory file. */
static bool disk_full(const store *s, int rc)
{
    if (!s || !s->path || !s->db)
        return false;
    return (rc & 0xff) == SQLITE_FULL ||
           ((rc & 0xff) == SQLITE_IOERR && sqlite3_system_errno(s->db) == ENOSPC);
}

gand_status db_fail(store *s, int rc, char *err, size_t errlen, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *why = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return gand_errorf(err, errlen, GAND_EDB,
                           "%s: %s (another connection held %s for over %d ms)", what, why,
                           s ? s->path : "the database", STORE_BUSY_TIMEOUT_MS);
    if (disk_full(s, rc)) {
        /* s->path is <state_dir>/gand.db */
        int dirlen = (int)(strlen(s->path) - sizeof STORE_DB_FILE);
        return gand_errorf(err, errlen, GAND_ENOSPC, "%s: %s; free disk space under %.*s", what,
                           why, dirlen, s->path);
    }
    if ((rc & 0xff) == SQLITE_NOTADB)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s: %s is not a SQLite database; move it away or choose another "
                           "state directory",
                           what, s ? s->path : "the file");
    return gand_errorf(err, errlen, status_of(rc), "%s: %s", what, why);
}

int db_stmt(store *s, stmt_id id, const char *sql, sqlite3_stmt **out)
{
    sqlite3_stmt *st = s->stmts[id];
    if (!st) {
        int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK) {
            *out = NULL;
            return rc;
        }
        s->stmts[id] = st;
    }
    /* Each slot is used by one call site with one SQL text. */
    assert(strcmp(sqlite3_sql(st), sql) == 0);
    sqlite3_clear_bindings(st);
    *out = st;
    return SQLITE_OK;
}

int db_exec_stmt(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static gand_status run_fixed(store *s, stmt_id id, const char *sql, const char *what, char *err,
                             size_t errlen)
{
    sqlite3_stmt *st;
    int rc = db_stmt(s, id, sql, &st);
    if (rc == SQLITE_OK)
        rc = db_exec_stmt(st);
    return rc == SQLITE_OK ? GAND_OK : db_fail(s, rc, err, errlen, "%s", what);
}

gand_status db_begin_write(store *s, char *err, size_t errlen)
{
    return run_fixed(s, STMT_BEGIN_WRITE, "BEGIN IMMEDIATE", "cannot start a write transaction",
                     err, errlen);
}

gand_status db_begin_read(store *s, char *err, size_t errlen)
{
    return run_fixed(s, STMT_BEGIN_READ, "BEGIN", "cannot start a read transaction", err,
                     errlen);
}

gand_status db_commit(store *s, char *err, size_t errlen)
{
    gand_status st = run_fixed(s, STMT_COMMIT, "COMMIT", "cannot commit", err, errlen);
    if (st != GAND_OK)
        db_rollback(s);
    return st;
}

void db_rollback(store *s)
{
    /* Some errors (disk full, I/O) end the transaction themselves. */
    if (sqlite3_get_autocommit(s->db))
        return;
    sqlite3_stmt *st;
    if (db_stmt(s, STMT_ROLLBACK, "ROLLBACK", &st) == SQLITE_OK)
        db_exec_stmt(st);
    else
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

gand_status db_run_not_found(int64_t id, char *err, size_t errlen)
{
    return gand_errorf(err, errlen, GAND_ENOTFOUND, "run %lld does not exist", (long long)id);
}

int db_state_from_text(const unsigned char *text)
{
    for (int i = 0; text && i < STORE_RUN_NSTATES; i++)
        if (strcmp((const char *)text, store_run_state_name((store_run_state)i)) == 0)
            return i;
    return -1;
}

gand_status db_run_state(store *s, int64_t id, store_run_state *state, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = db_stmt(s, STMT_RUN_STATE, "SELECT status FROM runs WHERE id = ?1", &st);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, err, errlen, "cannot read run %lld", (long long)id);
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    gand_status ret = GAND_OK;
    if (rc == SQLITE_ROW) {
        int k = db_state_from_text(sqlite3_column_text(st, 0));
        if (k < 0)
            ret = gand_errorf(err, errlen, GAND_EINTERNAL, "run %lld has an unknown status",
                              (long long)id);
        else
            *state = (store_run_state)k;
    } else if (rc == SQLITE_DONE) {
        ret = db_run_not_found(id, err, errlen);
    } else {
        ret = db_fail(s, rc, err, errlen, "cannot read run %lld", (long long)id);
    }
    sqlite3_reset(st);
    return ret;
}

gand_status db_column_strdup(sqlite3_stmt *st, int col, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return GAND_OK;
    const unsigned char *t = sqlite3_column_text(st, col);
    if (!t)
        return GAND_ENOMEM; /* SQLite could not convert the value */
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    *out = gand_malloc(n + 1);
    if (!*out)
        return GAND_ENOMEM;
    memcpy(*out, t, n);
    (*out)[n] = '\0';
    return GAND_OK;
}

gand_status db_limit(int limit, sqlite3_int64 *bind, char *err, size_t errlen)
{
    if (limit < 0)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "limit %d is negative; give a positive limit, or 0 for no limit",
                           limit);
    *bind = limit == 0 ? -1 : limit;
    return GAND_OK;
}

gand_status db_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return GAND_OK;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / elem)
        return GAND_ENOMEM;
    void *p = gand_realloc(*arr, n * elem);
    if (!p)
        return GAND_ENOMEM;
    *arr = p;
    *cap = n;
    return GAND_OK;
}

int64_t db_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Creates dir and its missing parents, then checks it is a directory we may
 * create files in (SQLite adds gand.db-wal and gand.db-shm beside gand.db). */
static gand_status prepare_dir(const char *dir, char *err, size_t errlen)
{
    char *p = gand_strdup(dir);
    if (!p)
        return GAND_ENOMEM;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char save = *c;
        *c = '\0';
        struct stat sb;
        if (stat(p, &sb) != 0 && mkdir(p, 0750) != 0 && errno != EEXIST) {
            gand_status st = gand_errorf(err, errlen, GAND_EIO,
                                         "cannot create state directory '%s': %s", p,
                                         strerror(errno));
            gand_free(p);
            return st;
        }
        *c = save;
        if (!save)
            break;
    }
    gand_free(p);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return gand_errorf(err, errlen, GAND_EIO, "cannot use state directory '%s': %s", dir,
                           strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return gand_errorf(err, errlen, GAND_EIO,
                           "state directory '%s' is not a directory; choose another path", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return gand_errorf(err, errlen, GAND_EIO,
                           "state directory '%s' is not writable (%s); give the user gand runs "
                           "as write access to it or choose another directory",
                           dir, strerror(errno));
    return GAND_OK;
}

/* Per-connection settings. synchronous=NORMAL is safe for what gand
 * promises: in WAL mode a commit appends its frames to gand.db-wal, which is
 * fsynced at checkpoints rather than at every commit. A committed
 * transaction is in the kernel's page cache when COMMIT returns, so it
 * survives the process being killed (kill -9, a crash, the OOM killer): a run
 * acknowledged with 201 is never lost that way, and FULL would add nothing
 * there. Only a power loss or kernel panic can lose the last commits since
 * the previous checkpoint; the WAL's checksummed frames then make SQLite roll
 * back to an earlier commit, so the database is never corrupted. FULL would
 * cost one fsync per commit, i.e. per metrics batch of every training run. */
static gand_status configure(store *s, char *err, size_t errlen)
{
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        gand_status ret = db_fail(s, rc, err, errlen, "cannot open %s", s->path);
        sqlite3_finalize(st);
        return ret;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    bool wal = mode && strcmp(mode, "wal") == 0;
    gand_status ret = wal ? GAND_OK
                          : gand_errorf(err, errlen, GAND_EIO,
                                        "%s cannot use write-ahead logging (journal mode stays "
                                        "'%s'); put the state directory on a local filesystem",
                                        s->path, mode ? mode : "unknown");
    sqlite3_finalize(st);
    if (ret != GAND_OK)
        return ret;
    rc = sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", NULL, NULL,
                      NULL);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, err, errlen, "cannot configure %s", s->path);
    return GAND_OK;
}

gand_status store_open(const char *state_dir, store **out, char *err, size_t errlen)
{
    if (!out)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "store_open needs somewhere to put the handle");
    *out = NULL;
    if (!state_dir || !*state_dir)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "no state directory given; set one for the database");
    /* The handle's mutex serialises calls, but SQLite must still allow
     * connections to be used from threads other than their opener. */
    if (!sqlite3_threadsafe())
        return gand_errorf(err, errlen, GAND_EINTERNAL,
                           "the SQLite library was built without thread support");
    gand_status ret = prepare_dir(state_dir, err, errlen);
    if (ret != GAND_OK)
        return ret;

    store *s = gand_calloc(1, sizeof *s);
    if (!s)
        return GAND_ENOMEM;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        gand_free(s);
        return gand_errorf(err, errlen, GAND_ENOMEM, "cannot create the database mutex");
    }
    size_t n = strlen(state_dir) + 1 + sizeof STORE_DB_FILE;
    s->path = gand_malloc(n);
    if (!s->path) {
        ret = GAND_ENOMEM;
        goto err;
    }
    snprintf(s->path, n, "%s/%s", state_dir, STORE_DB_FILE);

    int rc = sqlite3_open_v2(s->path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        ret = db_fail(s, rc, err, errlen, "cannot open %s", s->path);
        goto err;
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* SQLite silently opens a file it may not write read-only. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        ret = gand_errorf(err, errlen, GAND_EIO,
                          "%s is read-only; give the user gand runs as write access to it",
                          s->path);
        goto err;
    }
    ret = configure(s, err, errlen);
    if (ret != GAND_OK)
        goto err;
    ret = db_migrate(s, err, errlen);
    if (ret != GAND_OK)
        goto err;
    s->opened = true;
    *out = s;
    return GAND_OK;
err:
    store_close(s);
    return ret;
}

void store_close(store *s)
{
    if (!s)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    if (s->db) {
        /* Cheap, and keeps the planner's statistics fresh as tables grow;
         * skipped for a database that was refused, which stays untouched. */
        if (s->opened)
            sqlite3_exec(s->db, "PRAGMA optimize", NULL, NULL, NULL);
        sqlite3_close(s->db);
    }
    pthread_mutex_destroy(&s->mu);
    gand_free(s->path);
    gand_free(s);
}
