/* Metric series: batched writes and per-name range reads. */
#include "store_internal.h"

#include "gand/alloc.h"

#include <math.h>
#include <string.h>

void store_series_set_clear(store_series_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++) {
        gand_free(set->series[i].name);
        gand_free(set->series[i].steps);
        gand_free(set->series[i].values);
    }
    gand_free(set->series);
    memset(set, 0, sizeof *set);
}

gand_status store_metrics_add(store *s, int64_t run_id, const store_metric *points, size_t n,
                              char *err, size_t errlen)
{
    if (n && !points)
        return gand_errorf(err, errlen, GAND_EINVAL, "a batch of %zu metrics has no points", n);
    for (size_t i = 0; i < n; i++) {
        if (!points[i].name || !*points[i].name)
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "metric %zu of the batch for run %lld has no name", i,
                               (long long)run_id);
        if (points[i].step < 0)
            return gand_errorf(err, errlen, GAND_EINVAL, "metric '%s' has negative step %lld",
                               points[i].name, (long long)points[i].step);
    }
    if (n == 0)
        return GAND_OK;
    pthread_mutex_lock(&s->mu);
    gand_status ret = db_begin_write(s, err, errlen);
    if (ret != GAND_OK)
        goto out;
    sqlite3_stmt *st;
    int rc = db_stmt(s, STMT_METRIC_UPSERT,
                     "INSERT INTO metrics (run_id, name, step, value) VALUES (?1, ?2, ?3, ?4)"
                     " ON CONFLICT (run_id, name, step) DO UPDATE SET value = excluded.value",
                     &st);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, points[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, points[i].step);
        if (isnan(points[i].value))
            sqlite3_bind_null(st, 4);
        else
            sqlite3_bind_double(st, 4, points[i].value);
        rc = db_exec_stmt(st);
    }
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        ret = db_run_not_found(run_id, err, errlen);
    else if (rc != SQLITE_OK)
        ret = db_fail(s, rc, err, errlen, "cannot store %zu metrics of run %lld", n,
                      (long long)run_id);
    if (ret == GAND_OK) {
        ret = db_commit(s, err, errlen);
    } else {
        db_rollback(s);
    }
out:
    pthread_mutex_unlock(&s->mu);
    return ret;
}

/* Reads the points of series name into *ser, inside the caller's read
 * transaction. */
static gand_status read_series(store *s, int64_t run_id, const char *name, int64_t after_step,
                               sqlite3_int64 limit, store_series *ser, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = db_stmt(s, STMT_METRIC_SERIES,
                     "SELECT step, value FROM metrics WHERE run_id = ?1 AND name = ?2"
                     " AND step > ?3 ORDER BY step LIMIT ?4",
                     &st);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, err, errlen, "cannot read metric '%s'", name);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, after_step);
    sqlite3_bind_int64(st, 4, limit);
    size_t cap_steps = 0, cap_values = 0;
    gand_status ret = GAND_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ret = db_grow((void **)&ser->steps, &cap_steps, ser->n + 1, sizeof *ser->steps);
        if (ret == GAND_OK)
            ret = db_grow((void **)&ser->values, &cap_values, ser->n + 1, sizeof *ser->values);
        if (ret != GAND_OK)
            break;
        ser->steps[ser->n] = sqlite3_column_int64(st, 0);
        ser->values[ser->n] =
            sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
        ser->n++;
    }
    if (ret == GAND_ENOMEM)
        gand_errorf(err, errlen, ret, "out of memory while reading metric '%s'", name);
    else if (rc != SQLITE_DONE)
        ret = db_fail(s, rc, err, errlen, "cannot read metric '%s'", name);
    sqlite3_reset(st);
    return ret;
}

/* Sets *name to a copy of the first metric name of run_id after prev ("" for
 * the first), or NULL when there is none. Each call is one seek in the
 * primary key, so finding k names costs k seeks instead of a scan of every
 * point of the run. */
static gand_status next_name(store *s, int64_t run_id, const char *prev, char **name, char *err,
                             size_t errlen)
{
    *name = NULL;
    sqlite3_stmt *st;
    int rc = db_stmt(s, STMT_METRIC_NEXT_NAME,
                     "SELECT name FROM metrics WHERE run_id = ?1 AND name > ?2"
                     " ORDER BY name LIMIT 1",
                     &st);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, err, errlen, "cannot list the metrics of run %lld",
                       (long long)run_id);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, prev, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    gand_status ret = GAND_OK;
    if (rc == SQLITE_ROW) {
        ret = db_column_strdup(st, 0, name);
        if (ret != GAND_OK)
            gand_errorf(err, errlen, ret, "out of memory while listing metrics");
    } else if (rc != SQLITE_DONE) {
        ret = db_fail(s, rc, err, errlen, "cannot list the metrics of run %lld",
                      (long long)run_id);
    }
    sqlite3_reset(st);
    return ret;
}

/* Reads series name and appends it to out when it has points. */
static gand_status add_series(store *s, int64_t run_id, const char *name, int64_t after_step,
                              sqlite3_int64 limit, store_series_set *out, size_t *cap, char *err,
                              size_t errlen)
{
    store_series ser = {0};
    gand_status ret = read_series(s, run_id, name, after_step, limit, &ser, err, errlen);
    if (ret == GAND_OK && ser.n > 0) {
        ser.name = gand_strdup(name);
        ret = ser.name ? db_grow((void **)&out->series, cap, out->n + 1, sizeof *out->series)
                       : GAND_ENOMEM;
        if (ret == GAND_OK) {
            out->series[out->n++] = ser;
            return GAND_OK;
        }
        gand_errorf(err, errlen, ret, "out of memory while reading metrics");
    }
    gand_free(ser.name);
    gand_free(ser.steps);
    gand_free(ser.values);
    return ret;
}

gand_status store_metrics_query(store *s, int64_t run_id, const char *name, int64_t after_step,
                                int limit, store_series_set *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    sqlite3_int64 lim;
    gand_status ret = db_limit(limit, &lim, err, errlen);
    if (ret != GAND_OK)
        return ret;
    pthread_mutex_lock(&s->mu);
    ret = db_begin_read(s, err, errlen);
    if (ret != GAND_OK)
        goto out;
    store_run_state state;
    ret = db_run_state(s, run_id, &state, err, errlen);
    size_t cap = 0;
    if (ret == GAND_OK && name) {
        ret = add_series(s, run_id, name, after_step, lim, out, &cap, err, errlen);
    } else if (ret == GAND_OK) {
        char *prev = NULL; /* the name last visited, the key to seek past */
        for (;;) {
            char *next;
            ret = next_name(s, run_id, prev ? prev : "", &next, err, errlen);
            gand_free(prev);
            prev = next;
            if (ret != GAND_OK || !next)
                break;
            ret = add_series(s, run_id, next, after_step, lim, out, &cap, err, errlen);
            if (ret != GAND_OK)
                break;
        }
        gand_free(prev);
    }
    db_rollback(s); /* ends the read transaction; nothing was written */
    if (ret != GAND_OK)
        store_series_set_clear(out);
out:
    pthread_mutex_unlock(&s->mu);
    return ret;
}
