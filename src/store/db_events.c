/* The event log behind the SSE streams. */
#include "store_internal.h"

#include "gand/alloc.h"

#include <string.h>

#define EVENT_COLS "id, run_id, type, coalesce(step, -1), data, created_at"

static const char *const type_names[] = {
    [STORE_EVENT_STATE] = "state",
    [STORE_EVENT_PROGRESS] = "progress",
    [STORE_EVENT_METRICS] = "metrics",
    [STORE_EVENT_SAMPLE] = "sample",
};

#define NTYPES ((int)(sizeof type_names / sizeof type_names[0]))

const char *store_event_type_name(store_event_type type)
{
    if ((unsigned)type >= (unsigned)NTYPES)
        return "unknown";
    return type_names[type];
}

static int type_from_text(const unsigned char *text)
{
    for (int i = 0; text && i < NTYPES; i++)
        if (strcmp((const char *)text, type_names[i]) == 0)
            return i;
    return -1;
}

void store_event_list_clear(store_event_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        gand_free(list->events[i].data);
    gand_free(list->events);
    memset(list, 0, sizeof *list);
}

gand_status store_event_append(store *s, int64_t run_id, store_event_type type, int64_t step,
                               const char *data, int64_t *id, char *err, size_t errlen)
{
    if ((unsigned)type >= (unsigned)NTYPES)
        return gand_errorf(err, errlen, GAND_EINVAL, "%d is not an event type", (int)type);
    if (step < -1)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "event step %lld is negative; use -1 for an event without a step",
                           (long long)step);
    if (!data)
        return gand_errorf(err, errlen, GAND_EINVAL, "a %s event of run %lld has no data",
                           type_names[type], (long long)run_id);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = db_stmt(s, STMT_EVENT_INSERT,
                     "INSERT INTO events (run_id, type, step, data, created_at)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)",
                     &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, type_names[type], -1, SQLITE_STATIC);
        if (step >= 0)
            sqlite3_bind_int64(st, 3, step);
        sqlite3_bind_text(st, 4, data, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, db_now_ms());
        rc = db_exec_stmt(st);
    }
    gand_status ret = GAND_OK;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        ret = db_run_not_found(run_id, err, errlen);
    else if (rc != SQLITE_OK)
        ret = db_fail(s, rc, err, errlen, "cannot record a %s event of run %lld",
                      type_names[type], (long long)run_id);
    else if (id)
        *id = sqlite3_last_insert_rowid(s->db);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

static gand_status read_event(sqlite3_stmt *st, store_event *out)
{
    memset(out, 0, sizeof *out);
    int k = type_from_text(sqlite3_column_text(st, 2));
    if (k < 0)
        return GAND_EINTERNAL;
    out->id = sqlite3_column_int64(st, 0);
    out->run_id = sqlite3_column_int64(st, 1);
    out->type = (store_event_type)k;
    out->step = sqlite3_column_int64(st, 3);
    out->created_at_ms = sqlite3_column_int64(st, 5);
    return db_column_strdup(st, 4, &out->data);
}

gand_status store_event_list_after(store *s, int64_t run_id, int64_t after_id, int limit,
                                   store_event_list *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    sqlite3_int64 lim;
    gand_status ret = db_limit(limit, &lim, err, errlen);
    if (ret != GAND_OK)
        return ret;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc;
    if (run_id > 0) {
        rc = db_stmt(s, STMT_EVENT_LIST_RUN,
                     "SELECT " EVENT_COLS " FROM events WHERE run_id = ?3 AND id > ?1"
                     " ORDER BY id LIMIT ?2",
                     &st);
    } else {
        rc = db_stmt(s, STMT_EVENT_LIST,
                     "SELECT " EVENT_COLS " FROM events WHERE id > ?1 ORDER BY id LIMIT ?2", &st);
    }
    if (rc != SQLITE_OK) {
        ret = db_fail(s, rc, err, errlen, "cannot list events");
        goto out;
    }
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, lim);
    if (run_id > 0)
        sqlite3_bind_int64(st, 3, run_id);
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ret = db_grow((void **)&out->events, &cap, out->n + 1, sizeof *out->events);
        if (ret == GAND_OK)
            ret = read_event(st, &out->events[out->n]);
        if (ret != GAND_OK)
            break;
        out->n++;
    }
    if (ret == GAND_EINTERNAL)
        gand_errorf(err, errlen, ret, "an event in %s has an unknown type", s->path);
    else if (ret == GAND_ENOMEM)
        gand_errorf(err, errlen, ret, "out of memory while listing events");
    else if (rc != SQLITE_DONE)
        ret = db_fail(s, rc, err, errlen, "cannot list events");
    sqlite3_reset(st);
    if (ret != GAND_OK)
        store_event_list_clear(out);
out:
    pthread_mutex_unlock(&s->mu);
    return ret;
}

gand_status store_event_last_id(store *s, int64_t run_id, int64_t *id, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc;
    if (run_id > 0) {
        rc = db_stmt(s, STMT_EVENT_LAST_RUN,
                     "SELECT coalesce(max(id), 0) FROM events WHERE run_id = ?1", &st);
        if (rc == SQLITE_OK)
            sqlite3_bind_int64(st, 1, run_id);
    } else {
        rc = db_stmt(s, STMT_EVENT_LAST, "SELECT coalesce(max(id), 0) FROM events", &st);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    gand_status ret = GAND_OK;
    if (rc != SQLITE_ROW)
        ret = db_fail(s, rc, err, errlen, "cannot read the last event id");
    pthread_mutex_unlock(&s->mu);
    return ret;
}

gand_status store_event_prune(store *s, int64_t keep_per_run, int64_t *deleted, char *err,
                              size_t errlen)
{
    if (keep_per_run < 0)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "cannot keep %lld events per run; give 0 or more",
                           (long long)keep_per_run);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = db_stmt(s, STMT_EVENT_PRUNE,
                     "DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, row_number()"
                     " OVER (PARTITION BY run_id ORDER BY id DESC) AS newer FROM events)"
                     " WHERE newer > ?1)",
                     &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, keep_per_run);
        rc = db_exec_stmt(st);
    }
    gand_status ret = GAND_OK;
    if (rc != SQLITE_OK)
        ret = db_fail(s, rc, err, errlen, "cannot prune old events");
    else if (deleted)
        *deleted = sqlite3_changes(s->db);
    pthread_mutex_unlock(&s->mu);
    return ret;
}
