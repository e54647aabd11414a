/* Sample images: one row per (run, step) naming the image file. */
#include "store_internal.h"

#include "gand/alloc.h"

#include <stdio.h>
#include <string.h>

#define SAMPLE_COLS "step, file, created_at"

void store_sample_clear(store_sample *sm)
{
    if (!sm)
        return;
    gand_free(sm->file);
    memset(sm, 0, sizeof *sm);
}

void store_sample_list_clear(store_sample_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        store_sample_clear(&list->samples[i]);
    gand_free(list->samples);
    memset(list, 0, sizeof *list);
}

static gand_status read_sample(sqlite3_stmt *st, store_sample *out)
{
    out->step = sqlite3_column_int64(st, 0);
    out->created_at_ms = sqlite3_column_int64(st, 2);
    return db_column_strdup(st, 1, &out->file);
}

gand_status db_collect_samples(store *s, sqlite3_stmt *st, store_sample_list *list, char *err,
                               size_t errlen)
{
    size_t cap = 0;
    gand_status ret = GAND_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ret = db_grow((void **)&list->samples, &cap, list->n + 1, sizeof *list->samples);
        if (ret == GAND_OK)
            ret = read_sample(st, &list->samples[list->n]);
        if (ret != GAND_OK)
            break;
        list->n++;
    }
    if (ret != GAND_OK)
        gand_errorf(err, errlen, ret, "out of memory while listing samples");
    else if (rc != SQLITE_DONE)
        ret = db_fail(s, rc, err, errlen, "cannot list samples");
    sqlite3_reset(st);
    if (ret != GAND_OK)
        store_sample_list_clear(list);
    return ret;
}

gand_status store_sample_add(store *s, int64_t run_id, int64_t step, const char *file, char *err,
                             size_t errlen)
{
    if (!file || !*file)
        return gand_errorf(err, errlen, GAND_EINVAL, "sample of run %lld at step %lld has no file",
                           (long long)run_id, (long long)step);
    if (step < 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "sample step %lld is negative",
                           (long long)step);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = db_stmt(s, STMT_SAMPLE_UPSERT,
                     "INSERT INTO samples (run_id, step, file, created_at)"
                     " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (run_id, step)"
                     " DO UPDATE SET file = excluded.file, created_at = excluded.created_at",
                     &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, step);
        sqlite3_bind_text(st, 3, file, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, db_now_ms());
        rc = db_exec_stmt(st);
    }
    gand_status ret = GAND_OK;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        ret = db_run_not_found(run_id, err, errlen);
    else if (rc != SQLITE_OK)
        ret = db_fail(s, rc, err, errlen, "cannot record the sample of run %lld at step %lld",
                      (long long)run_id, (long long)step);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

gand_status store_sample_list_run(store *s, int64_t run_id, int64_t after_step, int limit,
                                  store_sample_list *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    sqlite3_int64 lim;
    gand_status ret = db_limit(limit, &lim, err, errlen);
    if (ret != GAND_OK)
        return ret;
    pthread_mutex_lock(&s->mu);
    /* One snapshot, so "no such run" and the list agree. */
    ret = db_begin_read(s, err, errlen);
    if (ret != GAND_OK)
        goto out;
    store_run_state state;
    ret = db_run_state(s, run_id, &state, err, errlen);
    if (ret == GAND_OK) {
        sqlite3_stmt *st;
        int rc = db_stmt(s, STMT_SAMPLE_LIST,
                         "SELECT " SAMPLE_COLS " FROM samples WHERE run_id = ?1 AND step > ?2"
                         " ORDER BY step LIMIT ?3",
                         &st);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, run_id);
            sqlite3_bind_int64(st, 2, after_step);
            sqlite3_bind_int64(st, 3, lim);
            ret = db_collect_samples(s, st, out, err, errlen);
        } else {
            ret = db_fail(s, rc, err, errlen, "cannot list the samples of run %lld",
                          (long long)run_id);
        }
    }
    db_rollback(s); /* ends the read transaction */
out:
    pthread_mutex_unlock(&s->mu);
    return ret;
}

/* Runs a bound statement selecting at most one sample. When there is none,
 * tells a missing run from a missing sample (missing is that message). */
static gand_status one_sample(store *s, sqlite3_stmt *st, int64_t run_id, store_sample *out,
                              const char *missing, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    gand_status ret = GAND_OK;
    if (rc == SQLITE_ROW) {
        ret = read_sample(st, out);
        if (ret != GAND_OK)
            gand_errorf(err, errlen, ret, "out of memory while reading a sample");
    } else if (rc != SQLITE_DONE) {
        ret = db_fail(s, rc, err, errlen, "cannot read the samples of run %lld",
                      (long long)run_id);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        store_run_state state;
        ret = db_run_state(s, run_id, &state, err, errlen);
        if (ret == GAND_OK)
            ret = gand_errorf(err, errlen, GAND_ENOTFOUND, "run %lld has %s", (long long)run_id,
                              missing);
    }
    if (ret != GAND_OK)
        store_sample_clear(out);
    return ret;
}

gand_status store_sample_latest(store *s, int64_t run_id, store_sample *out, char *err,
                                size_t errlen)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    gand_status ret;
    int rc = db_stmt(s, STMT_SAMPLE_LATEST,
                     "SELECT " SAMPLE_COLS " FROM samples WHERE run_id = ?1"
                     " ORDER BY step DESC LIMIT 1",
                     &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        ret = one_sample(s, st, run_id, out, "no samples yet", err, errlen);
    } else {
        ret = db_fail(s, rc, err, errlen, "cannot read the samples of run %lld",
                      (long long)run_id);
    }
    pthread_mutex_unlock(&s->mu);
    return ret;
}

gand_status store_sample_get(store *s, int64_t run_id, int64_t step, store_sample *out, char *err,
                             size_t errlen)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    gand_status ret;
    int rc = db_stmt(s, STMT_SAMPLE_GET,
                     "SELECT " SAMPLE_COLS " FROM samples WHERE run_id = ?1 AND step = ?2", &st);
    if (rc == SQLITE_OK) {
        char missing[64];
        snprintf(missing, sizeof missing, "no sample at step %lld", (long long)step);
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, step);
        ret = one_sample(s, st, run_id, out, missing, err, errlen);
    } else {
        ret = db_fail(s, rc, err, errlen, "cannot read the samples of run %lld",
                      (long long)run_id);
    }
    pthread_mutex_unlock(&s->mu);
    return ret;
}

/* The rows a prune removes: those at or below the step of the run's
 * (keep + 1)-th newest sample, none when it has keep or fewer. Both
 * statements use it inside one transaction, so they agree. */
#define PRUNED_ROWS \
    "run_id = ?1 AND step <= (SELECT step FROM samples WHERE run_id = ?1" \
    " ORDER BY step DESC LIMIT 1 OFFSET ?2)"

gand_status store_sample_prune(store *s, int64_t run_id, int64_t keep_newest,
                               store_sample_list *removed, char *err, size_t errlen)
{
    store_sample_list gone = {0};
    if (removed)
        memset(removed, 0, sizeof *removed);
    if (keep_newest < 0)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "cannot keep %lld samples of run %lld; give 0 or more",
                           (long long)keep_newest, (long long)run_id);
    pthread_mutex_lock(&s->mu);
    gand_status ret = db_begin_write(s, err, errlen);
    if (ret != GAND_OK)
        goto out;
    store_run_state state;
    ret = db_run_state(s, run_id, &state, err, errlen);
    sqlite3_stmt *st;
    if (ret == GAND_OK) {
        int rc = db_stmt(s, STMT_SAMPLE_PRUNE_LIST,
                         "SELECT " SAMPLE_COLS " FROM samples WHERE " PRUNED_ROWS " ORDER BY step",
                         &st);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, run_id);
            sqlite3_bind_int64(st, 2, keep_newest);
            ret = db_collect_samples(s, st, &gone, err, errlen);
        } else {
            ret = db_fail(s, rc, err, errlen, "cannot list the samples of run %lld",
                          (long long)run_id);
        }
    }
    if (ret == GAND_OK && gone.n > 0) {
        int rc = db_stmt(s, STMT_SAMPLE_PRUNE, "DELETE FROM samples WHERE " PRUNED_ROWS, &st);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, run_id);
            sqlite3_bind_int64(st, 2, keep_newest);
            rc = db_exec_stmt(st);
        }
        if (rc != SQLITE_OK)
            ret = db_fail(s, rc, err, errlen, "cannot delete the old samples of run %lld",
                          (long long)run_id);
    }
    if (ret == GAND_OK)
        ret = db_commit(s, err, errlen);
    else
        db_rollback(s);
out:
    pthread_mutex_unlock(&s->mu);
    if (ret == GAND_OK && removed)
        *removed = gone;
    else
        store_sample_list_clear(&gone);
    return ret;
}
