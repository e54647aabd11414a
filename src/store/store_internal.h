/* Internal to src/store: the handle, the prepared statement cache and the
 * helpers the query files share. */
#ifndef GAND_STORE_INTERNAL_H
#define GAND_STORE_INTERNAL_H

#include "gand/store.h"

#include <pthread.h>
#include <sqlite3.h>

/* One slot per statement in the per-connection cache. The SQL text sits
 * beside the code that binds it; the slot only names it. */
typedef enum {
    STMT_BEGIN_READ,
    STMT_BEGIN_WRITE,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_RUN_INSERT,
    STMT_RUN_GET,
    STMT_RUN_STATE,
    STMT_RUN_LIST,
    STMT_RUN_LIST_STATE,
    STMT_RUN_LIST_STATES,
    STMT_RUN_LIST_OLDEST,
    STMT_RUN_COUNT,
    STMT_RUN_SET_STATE,
    STMT_RUN_SET_CANCEL,
    STMT_RUN_GET_CANCEL,
    STMT_RUN_SET_STEP,
    STMT_RUN_SET_CHECKPOINT,
    STMT_RUN_PROGRESS,
    STMT_RUN_DELETE,
    STMT_RUN_REWIND,
    STMT_METRIC_UPSERT,
    STMT_METRIC_NEXT_NAME,
    STMT_METRIC_SERIES,
    STMT_METRIC_TRUNCATE,
    STMT_SAMPLE_UPSERT,
    STMT_SAMPLE_LIST,
    STMT_SAMPLE_LATEST,
    STMT_SAMPLE_GET,
    STMT_SAMPLE_LIST_AFTER,
    STMT_SAMPLE_TRUNCATE,
    STMT_SAMPLE_PRUNE_LIST,
    STMT_SAMPLE_PRUNE,
    STMT_EVENT_INSERT,
    STMT_EVENT_LIST,
    STMT_EVENT_LIST_RUN,
    STMT_EVENT_LAST,
    STMT_EVENT_LAST_RUN,
    STMT_EVENT_PRUNE,
    STMT_EVENT_TRUNCATE,
    STMT_COUNT
} stmt_id;

struct store {
    pthread_mutex_t mu; /* held for the whole of every public call */
    sqlite3 *db;
    char *path;  /* <state_dir>/gand.db, for messages */
    bool opened; /* store_open() succeeded */
    sqlite3_stmt *stmts[STMT_COUNT];
};

/* Hands out the cached statement of slot id, preparing sql on first use,
 * with its bindings cleared. Returns an SQLite result code. Callers bind,
 * step, and call sqlite3_reset() before unlocking, so no statement keeps a
 * read transaction open between calls. */
int db_stmt(store *s, stmt_id id, const char *sql, sqlite3_stmt **out);

/* Turns an SQLite failure rc into a gand_status and a message
 * "<what>: <SQLite's message>" (what is printf-formatted). */
gand_status db_fail(store *s, int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Write transactions start with BEGIN IMMEDIATE: taking the write lock up
 * front lets the busy timeout wait for it. A deferred transaction that
 * reads first and writes later would instead fail at once with
 * SQLITE_BUSY_SNAPSHOT when another connection committed in between. */
gand_status db_begin_write(store *s, char *err, size_t errlen);
/* A read transaction: several SELECTs see one snapshot. */
gand_status db_begin_read(store *s, char *err, size_t errlen);
gand_status db_commit(store *s, char *err, size_t errlen);
/* Rolls back if a transaction is open; used on every error path after a
 * begin, so it can't fail in a way callers need to handle. */
void db_rollback(store *s);

/* Runs one statement that returns no rows (an UPDATE or DELETE whose
 * parameters are already bound) and resets it. */
int db_exec_stmt(sqlite3_stmt *st);

/* Reads run id's state inside the caller's transaction: GAND_ENOTFOUND
 * ("run 12 does not exist") when there is no such run. */
gand_status db_run_state(store *s, int64_t id, store_run_state *state, char *err,
                         size_t errlen);

gand_status db_run_not_found(int64_t id, char *err, size_t errlen);

/* Copies text column col (NULL stays NULL) into *out. */
gand_status db_column_strdup(sqlite3_stmt *st, int col, char **out);

/* Maps a state name read from the database; the CHECK constraint makes any
 * other text impossible, so failure means a broken database. */
int db_state_from_text(const unsigned char *text);

/* Checks that a list limit is 0 (no limit) or positive and returns the
 * value to bind for SQLite's LIMIT (-1 means none). */
gand_status db_limit(int limit, sqlite3_int64 *bind, char *err, size_t errlen);

/* Steps st (bound, selecting step, file, created_at) to the end, appending
 * each row to list, then resets it. Clears list on failure. */
gand_status db_collect_samples(store *s, sqlite3_stmt *st, store_sample_list *list, char *err,
                               size_t errlen);

/* Grows *arr (of elem bytes each, *cap slots) to hold at least need. */
gand_status db_grow(void **arr, size_t *cap, size_t need, size_t elem);

int64_t db_now_ms(void);

/* Applies the migrations gand.db lacks (schema.c); refuses newer or foreign
 * databases. */
gand_status db_migrate(store *s, char *err, size_t errlen);

#endif
