/* gand's database: runs, their metrics, samples and events, in SQLite.
 *
 * Everything lives in one file, <state_dir>/gand.db, in WAL mode. This module
 * owns every SQL statement gand runs; callers see plain structs and never
 * SQL. All text from users (names, specs) is bound as a parameter.
 *
 * Threads. A store handle is one SQLite connection guarded by a mutex: any
 * number of threads may share a handle (their calls run one at a time), and
 * store_open() may be called any number of times on the same directory to
 * give threads connections of their own. The daemon opens one handle per
 * worker and one for the HTTP pool, so a worker writing metrics never waits
 * behind a slow page of runs. In WAL mode readers never wait for the writer;
 * writers wait for each other up to STORE_BUSY_TIMEOUT_MS, which is far
 * longer than any transaction here, so SQLITE_BUSY does not reach callers.
 *
 * Durability. Every function that writes has committed when it returns GAND_OK
 * (a run acknowledged with 201 is in the database). A killed process loses
 * nothing committed; a power loss may lose the last few commits but leaves
 * the database consistent (see the comment on synchronous in db.c).
 *
 * Errors. Every fallible function returns a gand_status and, when err is not
 * NULL, writes a sentence into err (errlen bytes) naming what failed:
 *   GAND_EINVAL    an argument is malformed (NULL text, negative step, bad
 *                  cursor or limit, an error sentence where none belongs)
 *   GAND_ENOTFOUND the run (or the sample asked for) does not exist
 *   GAND_EBUSY     the run exists but its state forbids the operation
 *                  (an illegal transition, deleting a running run); for
 *                  HTTP this is 409 Conflict. Nothing was changed.
 *   GAND_ERANGE    the database was written by a newer gand
 *   GAND_EFORMAT   gand.db is not a gand database
 *   GAND_ENOSPC    the disk is full; the message says to free disk space
 *                  under the state directory (for HTTP, 507)
 *   GAND_EIO       the disk failed
 *   GAND_EDB       any other SQLite error, including a lock held too long
 *   GAND_ENOMEM    an allocation failed
 * On any error nothing was written and output structs are left empty.
 *
 * Times are Unix milliseconds; 0 means "not yet". Run ids and event ids are
 * positive and never reused, also after deletes.
 *
 * Limits. Functions returning lists take a limit: 0 means no limit, a
 * negative limit is GAND_EINVAL. store_run_list() pages with a cursor and
 * needs 1 <= limit <= STORE_PAGE_MAX.
 */
#ifndef GAND_STORE_H
#define GAND_STORE_H

#include "gand/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_DB_FILE "gand.db"
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_PAGE_MAX 1000
#define STORE_CURSOR_MAX 24 /* bytes of a cursor token, NUL included */

typedef struct store store;

/* ---- opening ---- */

/* Opens <state_dir>/gand.db, creating the directory (and missing parents,
 * mode 0750) and the database as needed, and brings the schema up to date.
 * Refuses, with a message naming the path and what to do:
 *   a state directory that is not a directory or not writable (GAND_EIO),
 *   a read-only gand.db (GAND_EIO),
 *   a gand.db whose schema version is newer than this gand's (GAND_ERANGE),
 *   a file that is not SQLite or holds another program's tables (GAND_EFORMAT).
 * On success *out is a handle for store_close(); on failure *out is NULL. */
gand_status store_open(const char *state_dir, store **out, char *err, size_t errlen);

/* Finalizes cached statements and closes the connection. NULL is a no-op.
 * No other thread may be using the handle. */
void store_close(store *s);

/* The schema version this gand creates and understands (PRAGMA user_version). */
int store_schema_version(void);

/* ---- runs ---- */

typedef enum {
    STORE_RUN_QUEUED,
    STORE_RUN_RUNNING,
    STORE_RUN_SUCCEEDED,
    STORE_RUN_FAILED,
    STORE_RUN_CANCELED,
} store_run_state;

#define STORE_RUN_NSTATES 5

/* "queued", "running", "succeeded", "failed", "canceled"; "unknown" for any
 * other value. This function can't fail. */
const char *store_run_state_name(store_run_state state);
/* Parses one of the names above; GAND_EINVAL (with a message listing them)
 * for anything else, leaving *out untouched. */
gand_status store_run_state_parse(const char *name, store_run_state *out, char *err,
                                  size_t errlen);
/* True for succeeded, failed and canceled: no transition leaves them. */
bool store_run_state_is_final(store_run_state state);

/* What a new run is made of. Every string is required (name may be "");
 * spec is the JSON as submitted, normalised by the caller. */
typedef struct {
    const char *name;
    const char *kind;
    const char *dataset;
    const char *spec;
    int64_t total_steps; /* >= 0 */
} store_run_new;

/* One row of runs. Strings are owned by the struct; free with store_run_clear(). */
typedef struct {
    int64_t id;
    char *name, *kind, *dataset, *spec;
    store_run_state state;
    int64_t created_at_ms, started_at_ms, finished_at_ms; /* 0: not yet */
    int64_t step, total_steps;
    char *error; /* the sentence a failed run ended with; NULL otherwise */
    bool cancel_requested;
    int64_t checkpoint_step; /* -1: no checkpoint */
} store_run;

/* Frees the strings of r and zeroes it. NULL is a no-op. */
void store_run_clear(store_run *r);

/* Inserts a queued run and sets *id. Committed when it returns. */
gand_status store_run_create(store *s, const store_run_new *r, int64_t *id, char *err,
                             size_t errlen);

/* Fills *out with run id (GAND_ENOTFOUND when there is none). */
gand_status store_run_get(store *s, int64_t id, store_run *out, char *err, size_t errlen);

typedef struct {
    unsigned state_mask; /* bits 1u << STORE_RUN_*; 0 = every state */
    const char *cursor;  /* NULL or "" for the first page, else a next_cursor */
    int limit;           /* 1..STORE_PAGE_MAX */
} store_run_filter;

typedef struct {
    store_run *runs;
    size_t n;
    /* Token for the next page, "" when this page is the last. Pages are
     * newest first; runs created while paging appear on no later page,
     * deleted ones simply do not appear, so paging never repeats or skips
     * a run that exists throughout. */
    char next_cursor[STORE_CURSOR_MAX];
} store_run_page;

/* Frees every run of p and zeroes it. NULL is a no-op. */
void store_run_page_clear(store_run_page *p);

/* Lists runs matching f, newest (highest id) first. A cursor that was not
 * produced by this function is GAND_EINVAL. */
gand_status store_run_list(store *s, const store_run_filter *f, store_run_page *out, char *err,
                           size_t errlen);

/* counts[state] = number of runs in each state (for /metrics and /readyz). */
gand_status store_run_count(store *s, int64_t counts[STORE_RUN_NSTATES], char *err,
                            size_t errlen);

/* Moves run id to state to. The legal moves are
 *     queued  -> running                  (sets started_at the first time)
 *     queued  -> canceled
 *     running -> succeeded | failed | canceled   (set finished_at)
 * error must be a non-empty sentence for failed and NULL otherwise
 * (GAND_EINVAL). Any other move is GAND_EBUSY ("run 12 is succeeded and
 * cannot become running") and changes nothing; the check and the change are
 * one transaction, so two threads racing to start a run cannot both win.
 * Runs go back to queued only through store_run_truncate(). */
gand_status store_run_transition(store *s, int64_t id, store_run_state to, const char *error,
                                 char *err, size_t errlen);

/* Records that the user asked to cancel run id and sets *state (may be NULL)
 * to the run's state afterwards. A queued run is canceled at once (so a
 * scheduler that later tries to start it gets GAND_EBUSY and skips it); a
 * running run gets cancel_requested = 1 and stays running until its worker,
 * which polls store_run_cancel_requested() between steps, moves it to
 * canceled. Asking again is harmless. A finished run is GAND_EBUSY. */
gand_status store_run_request_cancel(store *s, int64_t id, store_run_state *state, char *err,
                                     size_t errlen);

/* Sets *requested to the run's cancel_requested flag. */
gand_status store_run_cancel_requested(store *s, int64_t id, bool *requested, char *err,
                                       size_t errlen);

/* Records the step a running run has reached. The step never goes backwards
 * and never exceeds total_steps (GAND_EINVAL); a run that is not running is
 * GAND_EBUSY. */
gand_status store_run_set_step(store *s, int64_t id, int64_t step, char *err, size_t errlen);

/* Records the step of the run's latest checkpoint file, under the same rules
 * as store_run_set_step(). */
gand_status store_run_set_checkpoint(store *s, int64_t id, int64_t step, char *err,
                                     size_t errlen);

/* Deletes run id with its metrics, samples and events (ON DELETE CASCADE).
 * A running run is GAND_EBUSY: cancel it first. The caller removes the run's
 * files. */
gand_status store_run_delete(store *s, int64_t id, char *err, size_t errlen);

/* ---- metrics ---- */

/* One point of a metric series. NaN is stored (as SQL NULL) and read back
 * as NaN; infinities round-trip as they are. */
typedef struct {
    int64_t step; /* >= 0 */
    const char *name; /* non-empty */
    double value;
} store_metric;

/* Inserts n points of run run_id in one transaction: all or none. A point
 * whose (run, name, step) exists replaces its value (a resumed run rewrites
 * the steps after its checkpoint), also within one batch: the last wins. */
gand_status store_metrics_add(store *s, int64_t run_id, const store_metric *points, size_t n,
                              char *err, size_t errlen);

typedef struct {
    char *name;
    int64_t *steps; /* ascending */
    double *values;
    size_t n;
} store_series;

typedef struct {
    store_series *series; /* ordered by name */
    size_t n;
} store_series_set;

/* Frees every series of set and zeroes it. NULL is a no-op. */
void store_series_set_clear(store_series_set *set);

/* For each metric of run run_id (only the one called name, when name is not
 * NULL), the first limit points with step > after_step, in step order
 * (limit 0: all). Names with no such point are left out. Reads one
 * consistent snapshot; each series is one index range scan. */
gand_status store_metrics_query(store *s, int64_t run_id, const char *name, int64_t after_step,
                                int limit, store_series_set *out, char *err, size_t errlen);

/* ---- samples ---- */

typedef struct {
    int64_t step;
    char *file; /* as given to store_sample_add(), typically relative to the state dir */
    int64_t created_at_ms;
} store_sample;

typedef struct {
    store_sample *samples; /* ascending step */
    size_t n;
} store_sample_list;

void store_sample_clear(store_sample *sm);            /* NULL is a no-op */
void store_sample_list_clear(store_sample_list *list); /* NULL is a no-op */

/* Records that the image of run run_id at step is in file. A sample at the
 * same step is replaced (its old file name is forgotten). */
gand_status store_sample_add(store *s, int64_t run_id, int64_t step, const char *file, char *err,
                             size_t errlen);

/* Samples of run run_id with step > after_step, in step order. */
gand_status store_sample_list_run(store *s, int64_t run_id, int64_t after_step, int limit,
                                  store_sample_list *out, char *err, size_t errlen);

/* The sample with the highest step; GAND_ENOTFOUND when the run has none. */
gand_status store_sample_latest(store *s, int64_t run_id, store_sample *out, char *err,
                                size_t errlen);

/* The sample at step; GAND_ENOTFOUND when there is none. */
gand_status store_sample_get(store *s, int64_t run_id, int64_t step, store_sample *out, char *err,
                             size_t errlen);

/* Deletes every sample of run run_id but the keep_newest with the highest
 * steps (keep_newest 0: all of them, < 0: GAND_EINVAL) and hands their rows
 * to removed (may be NULL), ascending; the caller deletes their files, after
 * this call so that a crash in between leaves a file no row names rather
 * than a row naming no file. GAND_ENOTFOUND when the run does not exist. */
gand_status store_sample_prune(store *s, int64_t run_id, int64_t keep_newest,
                               store_sample_list *removed, char *err, size_t errlen);

/* ---- events (the SSE log) ---- */

typedef enum {
    STORE_EVENT_STATE,
    STORE_EVENT_PROGRESS,
    STORE_EVENT_METRICS,
    STORE_EVENT_SAMPLE,
} store_event_type;

/* "state", "progress", "metrics", "sample"; "unknown" otherwise. Can't fail. */
const char *store_event_type_name(store_event_type type);

typedef struct {
    int64_t id; /* global, increasing: the SSE id clients resume from */
    int64_t run_id;
    store_event_type type;
    int64_t step; /* -1 for events not tied to a step (state changes) */
    char *data;   /* JSON text as appended */
    int64_t created_at_ms;
} store_event;

typedef struct {
    store_event *events; /* ascending id */
    size_t n;
} store_event_list;

void store_event_list_clear(store_event_list *list); /* NULL is a no-op */

/* Appends an event of run run_id and sets *id (may be NULL). step is -1 or
 * the training step the event belongs to (store_run_truncate() removes
 * events after a step). Ids are handed out and committed in the same order
 * (SQLite has one writer at a time), so a reader that has seen id N never
 * later finds a new event below N. */
gand_status store_event_append(store *s, int64_t run_id, store_event_type type, int64_t step,
                               const char *data, int64_t *id, char *err, size_t errlen);

/* Events with id > after_id, ascending, of run run_id only when run_id > 0,
 * else of every run. An unknown run simply has no events. */
gand_status store_event_list_after(store *s, int64_t run_id, int64_t after_id, int limit,
                                   store_event_list *out, char *err, size_t errlen);

/* The highest event id (of run run_id when > 0), 0 when there is none: where
 * a new SSE client without Last-Event-ID starts. */
gand_status store_event_last_id(store *s, int64_t run_id, int64_t *id, char *err, size_t errlen);

/* Deletes all but the newest keep_per_run events of each run; *deleted (may
 * be NULL) gets the number removed. */
gand_status store_event_prune(store *s, int64_t keep_per_run, int64_t *deleted, char *err,
                              size_t errlen);

/* ---- crash recovery ---- */

/* Every run in state, oldest first; next_cursor is "". At start-up the
 * running ones are runs a previous process did not finish (rewind each with
 * store_run_truncate()), and the queued ones, in this order, rebuild the
 * scheduler's queue. */
gand_status store_run_list_state(store *s, store_run_state state, store_run_page *out, char *err,
                                 size_t errlen);

/* Rewinds run id to its checkpoint at step: in one transaction deletes its
 * metrics, samples and step-tied events with step > step, sets its step to
 * step (a later checkpoint_step is dropped, set to -1) and its state back to
 * queued, so the resumed series continues without gaps or duplicates.
 * removed (may be NULL) receives the deleted samples, whose files the caller
 * deletes. Only running and queued runs can be rewound (else GAND_EBUSY);
 * step must lie in 0..total_steps. */
gand_status store_run_truncate(store *s, int64_t id, int64_t step, store_sample_list *removed,
                               char *err, size_t errlen);

#endif
