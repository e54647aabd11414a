/* A run's life: state transitions, cancellation, progress, deletion and the
 * rewind to a checkpoint after a crash. Each check of a run's state and the
 * change it guards share one write transaction, so no other connection can
 * slip in between. */
#include "store_internal.h"

#include <string.h>

static const struct {
    store_run_state from, to;
} legal_moves[] = {
    {STORE_RUN_QUEUED, STORE_RUN_RUNNING},    {STORE_RUN_QUEUED, STORE_RUN_CANCELED},
    {STORE_RUN_RUNNING, STORE_RUN_SUCCEEDED}, {STORE_RUN_RUNNING, STORE_RUN_FAILED},
    {STORE_RUN_RUNNING, STORE_RUN_CANCELED},
};

static bool is_legal(store_run_state from, store_run_state to)
{
    for (size_t i = 0; i < sizeof legal_moves / sizeof legal_moves[0]; i++)
        if (legal_moves[i].from == from && legal_moves[i].to == to)
            return true;
    return false;
}

/* Inside a write transaction: writes the new state, its time stamp and error. */
static gand_status set_state(store *s, int64_t id, store_run_state to, const char *error,
                             char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = db_stmt(s, STMT_RUN_SET_STATE,
                     "UPDATE runs SET status = ?2,"
                     " started_at = CASE WHEN ?2 = 'running' THEN coalesce(started_at, ?3)"
                     " ELSE started_at END,"
                     " finished_at = CASE WHEN ?2 = 'running' THEN NULL ELSE ?3 END,"
                     " error = ?4 WHERE id = ?1",
                     &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, store_run_state_name(to), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, db_now_ms());
        if (error)
            sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
        rc = db_exec_stmt(st);
    }
    if (rc != SQLITE_OK)
        return db_fail(s, rc, err, errlen, "cannot mark run %lld %s", (long long)id,
                       store_run_state_name(to));
    return GAND_OK;
}

/* Ends the transaction of a public call: commits when ret is GAND_OK, else
 * rolls back. Returns the call's final status. */
static gand_status finish(store *s, gand_status ret, char *err, size_t errlen)
{
    if (ret == GAND_OK)
        return db_commit(s, err, errlen);
    db_rollback(s);
    return ret;
}

gand_status store_run_transition(store *s, int64_t id, store_run_state to, const char *error,
                                 char *err, size_t errlen)
{
    if ((unsigned)to >= STORE_RUN_NSTATES)
        return gand_errorf(err, errlen, GAND_EINVAL, "%d is not a run state", (int)to);
    if (to == STORE_RUN_FAILED && (!error || !*error))
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "run %lld cannot fail without a sentence saying why", (long long)id);
    if (to != STORE_RUN_FAILED && error)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "only a failed run carries an error; run %lld is to become %s",
                           (long long)id, store_run_state_name(to));
    pthread_mutex_lock(&s->mu);
    gand_status ret = db_begin_write(s, err, errlen);
    if (ret == GAND_OK) {
        store_run_state from;
        ret = db_run_state(s, id, &from, err, errlen);
        if (ret == GAND_OK && !is_legal(from, to))
            ret = gand_errorf(err, errlen, GAND_EBUSY, "run %lld is %s and cannot become %s",
                              (long long)id, store_run_state_name(from),
                              store_run_state_name(to));
        if (ret == GAND_OK)
            ret = set_state(s, id, to, error, err, errlen);
        ret = finish(s, ret, err, errlen);
    }
    pthread_mutex_unlock(&s->mu);
    return ret;
}

gand_status store_run_request_cancel(store *s, int64_t id, store_run_state *state, char *err,
                                     size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    store_run_state now = STORE_RUN_QUEUED;
    gand_status ret = db_begin_write(s, err, errlen);
    if (ret != GAND_OK)
        goto out;
    ret = db_run_state(s, id, &now, err, errlen);
    if (ret == GAND_OK && store_run_state_is_final(now))
        ret = gand_errorf(err, errlen, GAND_EBUSY,
                          "run %lld already %s; there is nothing to cancel", (long long)id,
                          store_run_state_name(now));
    if (ret == GAND_OK) {
        sqlite3_stmt *st;
        int rc = db_stmt(s, STMT_RUN_SET_CANCEL,
                         "UPDATE runs SET cancel_requested = 1 WHERE id = ?1", &st);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, id);
            rc = db_exec_stmt(st);
        }
        if (rc != SQLITE_OK)
            ret = db_fail(s, rc, err, errlen, "cannot cancel run %lld", (long long)id);
    }
    /* Nothing runs a queued run yet, so it can stop at once. */
    if (ret == GAND_OK && now == STORE_RUN_QUEUED) {
        ret = set_state(s, id, STORE_RUN_CANCELED, NULL, err, errlen);
        now = STORE_RUN_CANCELED;
    }
    ret = finish(s, ret, err, errlen);
    if (ret == GAND_OK && state)
        *state = now;
out:
    pthread_mutex_unlock(&s->mu);
    return ret;
}

gand_status store_run_cancel_requested(store *s, int64_t id, bool *requested, char *err,
                                       size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    gand_status ret = GAND_OK;
    int rc = db_stmt(s, STMT_RUN_GET_CANCEL, "SELECT cancel_requested FROM runs WHERE id = ?1",
                     &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *requested = sqlite3_column_int(st, 0) != 0;
        sqlite3_reset(st);
    }
    if (rc == SQLITE_DONE)
        ret = db_run_not_found(id, err, errlen);
    else if (rc != SQLITE_ROW)
        ret = db_fail(s, rc, err, errlen, "cannot read run %lld", (long long)id);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

typedef struct {
    store_run_state state;
    int64_t step, total_steps, checkpoint_step; /* checkpoint_step -1: none */
} progress;

static gand_status read_progress(store *s, int64_t id, progress *p, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = db_stmt(s, STMT_RUN_PROGRESS,
                     "SELECT status, step, total_steps, coalesce(checkpoint_step, -1)"
                     " FROM runs WHERE id = ?1",
                     &st);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, err, errlen, "cannot read run %lld", (long long)id);
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    gand_status ret = GAND_OK;
    if (rc == SQLITE_ROW) {
        int k = db_state_from_text(sqlite3_column_text(st, 0));
        p->state = k < 0 ? STORE_RUN_FAILED : (store_run_state)k;
        p->step = sqlite3_column_int64(st, 1);
        p->total_steps = sqlite3_column_int64(st, 2);
        p->checkpoint_step = sqlite3_column_int64(st, 3);
        if (k < 0)
            ret = gand_errorf(err, errlen, GAND_EINTERNAL, "run %lld has an unknown status",
                              (long long)id);
    } else if (rc == SQLITE_DONE) {
        ret = db_run_not_found(id, err, errlen);
    } else {
        ret = db_fail(s, rc, err, errlen, "cannot read run %lld", (long long)id);
    }
    sqlite3_reset(st);
    return ret;
}

/* The guards of store_run_set_step() and store_run_set_checkpoint(). */
static gand_status check_counter(const progress *p, int64_t id, int64_t step, bool checkpoint,
                                 char *err, size_t errlen)
{
    const char *what = checkpoint ? "checkpoint step" : "step";
    int64_t prev = checkpoint ? p->checkpoint_step : p->step;
    if (p->state != STORE_RUN_RUNNING)
        return gand_errorf(err, errlen, GAND_EBUSY,
                           "run %lld is %s; only a running run records a %s", (long long)id,
                           store_run_state_name(p->state), what);
    if (step < 0 || step > p->total_steps)
        return gand_errorf(err, errlen, GAND_EINVAL, "%s %lld is outside run %lld's 0..%lld",
                           what, (long long)step, (long long)id, (long long)p->total_steps);
    if (step < prev)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "%s %lld is behind run %lld's %s %lld; it never goes backwards", what,
                           (long long)step, (long long)id, what, (long long)prev);
    return GAND_OK;
}

static gand_status set_counter(store *s, int64_t id, int64_t step, bool checkpoint, char *err,
                               size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    gand_status ret = db_begin_write(s, err, errlen);
    if (ret != GAND_OK)
        goto out;
    progress p;
    ret = read_progress(s, id, &p, err, errlen);
    if (ret == GAND_OK)
        ret = check_counter(&p, id, step, checkpoint, err, errlen);
    if (ret == GAND_OK) {
        sqlite3_stmt *st;
        int rc = checkpoint ? db_stmt(s, STMT_RUN_SET_CHECKPOINT,
                                      "UPDATE runs SET checkpoint_step = ?2 WHERE id = ?1", &st)
                            : db_stmt(s, STMT_RUN_SET_STEP,
                                      "UPDATE runs SET step = ?2 WHERE id = ?1", &st);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, step);
            rc = db_exec_stmt(st);
        }
        if (rc != SQLITE_OK)
            ret = db_fail(s, rc, err, errlen, "cannot record run %lld's %s", (long long)id,
                          checkpoint ? "checkpoint step" : "step");
    }
    ret = finish(s, ret, err, errlen);
out:
    pthread_mutex_unlock(&s->mu);
    return ret;
}

gand_status store_run_set_step(store *s, int64_t id, int64_t step, char *err, size_t errlen)
{
    return set_counter(s, id, step, false, err, errlen);
}

gand_status store_run_set_checkpoint(store *s, int64_t id, int64_t step, char *err,
                                     size_t errlen)
{
    return set_counter(s, id, step, true, err, errlen);
}

gand_status store_run_delete(store *s, int64_t id, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    gand_status ret = db_begin_write(s, err, errlen);
    if (ret != GAND_OK)
        goto out;
    store_run_state state;
    ret = db_run_state(s, id, &state, err, errlen);
    if (ret == GAND_OK && state == STORE_RUN_RUNNING)
        ret = gand_errorf(err, errlen, GAND_EBUSY,
                          "cannot delete run %lld while it is running; cancel it first",
                          (long long)id);
    if (ret == GAND_OK) {
        sqlite3_stmt *st;
        int rc = db_stmt(s, STMT_RUN_DELETE, "DELETE FROM runs WHERE id = ?1", &st);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, id);
            rc = db_exec_stmt(st);
        }
        if (rc != SQLITE_OK)
            ret = db_fail(s, rc, err, errlen, "cannot delete run %lld", (long long)id);
    }
    ret = finish(s, ret, err, errlen);
out:
    pthread_mutex_unlock(&s->mu);
    return ret;
}

/* Binds (id, step) to a cached statement and runs it. */
static int exec_id_step(store *s, stmt_id slot, const char *sql, int64_t id, int64_t step)
{
    sqlite3_stmt *st;
    int rc = db_stmt(s, slot, sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, step);
    return db_exec_stmt(st);
}

gand_status store_run_truncate(store *s, int64_t id, int64_t step, store_sample_list *removed,
                               char *err, size_t errlen)
{
    store_sample_list gone = {0};
    if (removed)
        memset(removed, 0, sizeof *removed);
    pthread_mutex_lock(&s->mu);
    gand_status ret = db_begin_write(s, err, errlen);
    if (ret != GAND_OK)
        goto out;
    progress p;
    ret = read_progress(s, id, &p, err, errlen);
    if (ret == GAND_OK && p.state != STORE_RUN_RUNNING && p.state != STORE_RUN_QUEUED)
        ret = gand_errorf(err, errlen, GAND_EBUSY,
                          "run %lld is %s; only a running or queued run can be rewound",
                          (long long)id, store_run_state_name(p.state));
    else if (ret == GAND_OK && (step < 0 || step > p.total_steps))
        ret = gand_errorf(err, errlen, GAND_EINVAL, "step %lld is outside run %lld's 0..%lld",
                          (long long)step, (long long)id, (long long)p.total_steps);
    if (ret == GAND_OK) {
        sqlite3_stmt *st;
        int rc = db_stmt(s, STMT_SAMPLE_LIST_AFTER,
                         "SELECT step, file, created_at FROM samples"
                         " WHERE run_id = ?1 AND step > ?2 ORDER BY step",
                         &st);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, step);
            ret = db_collect_samples(s, st, &gone, err, errlen);
        } else {
            ret = db_fail(s, rc, err, errlen, "cannot list run %lld's samples", (long long)id);
        }
    }
    if (ret == GAND_OK) {
        int rc = exec_id_step(s, STMT_METRIC_TRUNCATE,
                              "DELETE FROM metrics WHERE run_id = ?1 AND step > ?2", id, step);
        if (rc == SQLITE_OK)
            rc = exec_id_step(s, STMT_SAMPLE_TRUNCATE,
                              "DELETE FROM samples WHERE run_id = ?1 AND step > ?2", id, step);
        if (rc == SQLITE_OK)
            rc = exec_id_step(s, STMT_EVENT_TRUNCATE,
                              "DELETE FROM events WHERE run_id = ?1 AND step > ?2", id, step);
        if (rc == SQLITE_OK)
            rc = exec_id_step(s, STMT_RUN_REWIND,
                              "UPDATE runs SET status = 'queued', step = ?2, finished_at = NULL,"
                              " checkpoint_step = CASE WHEN checkpoint_step > ?2 THEN NULL"
                              " ELSE checkpoint_step END WHERE id = ?1",
                              id, step);
        if (rc != SQLITE_OK)
            ret = db_fail(s, rc, err, errlen, "cannot rewind run %lld to step %lld",
                          (long long)id, (long long)step);
    }
    ret = finish(s, ret, err, errlen);
out:
    pthread_mutex_unlock(&s->mu);
    if (ret == GAND_OK && removed)
        *removed = gone;
    else
        store_sample_list_clear(&gone);
    return ret;
}
