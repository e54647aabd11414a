/* Runs: creating, reading, listing with cursors, counting. */
#include "store_internal.h"

#include "gand/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RUN_COLS                                                                          \
    "id, name, kind, dataset, spec, status, created_at, started_at, finished_at, step, " \
    "total_steps, error, cancel_requested, checkpoint_step"

static const char *const state_names[STORE_RUN_NSTATES] = {
    [STORE_RUN_QUEUED] = "queued",       [STORE_RUN_RUNNING] = "running",
    [STORE_RUN_SUCCEEDED] = "succeeded", [STORE_RUN_FAILED] = "failed",
    [STORE_RUN_CANCELED] = "canceled",
};

const char *store_run_state_name(store_run_state state)
{
    if ((unsigned)state >= STORE_RUN_NSTATES)
        return "unknown";
    return state_names[state];
}

gand_status store_run_state_parse(const char *name, store_run_state *out, char *err,
                                  size_t errlen)
{
    int k = db_state_from_text((const unsigned char *)name);
    if (k < 0)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "'%s' is not a run status; use queued, running, succeeded, failed "
                           "or canceled",
                           name ? name : "(null)");
    *out = (store_run_state)k;
    return GAND_OK;
}

bool store_run_state_is_final(store_run_state state)
{
    return state == STORE_RUN_SUCCEEDED || state == STORE_RUN_FAILED ||
           state == STORE_RUN_CANCELED;
}

void store_run_clear(store_run *r)
{
    if (!r)
        return;
    gand_free(r->name);
    gand_free(r->kind);
    gand_free(r->dataset);
    gand_free(r->spec);
    gand_free(r->error);
    memset(r, 0, sizeof *r);
}

void store_run_page_clear(store_run_page *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        store_run_clear(&p->runs[i]);
    gand_free(p->runs);
    memset(p, 0, sizeof *p);
}

/* Reads a row selected as RUN_COLS into *out (zeroed on failure). */
static gand_status read_run(sqlite3_stmt *st, store_run *out)
{
    memset(out, 0, sizeof *out);
    int k = db_state_from_text(sqlite3_column_text(st, 5));
    if (k < 0)
        return GAND_EINTERNAL;
    out->id = sqlite3_column_int64(st, 0);
    out->state = (store_run_state)k;
    out->created_at_ms = sqlite3_column_int64(st, 6);
    out->started_at_ms = sqlite3_column_int64(st, 7);
    out->finished_at_ms = sqlite3_column_int64(st, 8);
    out->step = sqlite3_column_int64(st, 9);
    out->total_steps = sqlite3_column_int64(st, 10);
    out->cancel_requested = sqlite3_column_int(st, 12) != 0;
    out->checkpoint_step =
        sqlite3_column_type(st, 13) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 13);
    gand_status ret = db_column_strdup(st, 1, &out->name);
    if (ret == GAND_OK)
        ret = db_column_strdup(st, 2, &out->kind);
    if (ret == GAND_OK)
        ret = db_column_strdup(st, 3, &out->dataset);
    if (ret == GAND_OK)
        ret = db_column_strdup(st, 4, &out->spec);
    if (ret == GAND_OK)
        ret = db_column_strdup(st, 11, &out->error);
    if (ret != GAND_OK)
        store_run_clear(out);
    return ret;
}

/* Steps st (bound, not yet stepped) to the end, appending each row to p,
 * then resets it. */
static gand_status collect_runs(store *s, sqlite3_stmt *st, store_run_page *p, char *err,
                                size_t errlen)
{
    size_t cap = 0;
    gand_status ret = GAND_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ret = db_grow((void **)&p->runs, &cap, p->n + 1, sizeof *p->runs);
        if (ret == GAND_OK)
            ret = read_run(st, &p->runs[p->n]);
        if (ret != GAND_OK)
            break;
        p->n++;
    }
    if (ret == GAND_OK && rc != SQLITE_DONE)
        ret = db_fail(s, rc, err, errlen, "cannot list runs");
    else if (ret == GAND_EINTERNAL)
        gand_errorf(err, errlen, ret, "a run in %s has an unknown status", s->path);
    else if (ret == GAND_ENOMEM)
        gand_errorf(err, errlen, ret, "out of memory while listing runs");
    sqlite3_reset(st);
    if (ret != GAND_OK)
        store_run_page_clear(p);
    return ret;
}

gand_status store_run_create(store *s, const store_run_new *r, int64_t *id, char *err,
                             size_t errlen)
{
    if (!r || !r->name || !r->kind || !r->dataset || !r->spec)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "a new run needs a name, a kind, a dataset and a spec");
    if (r->total_steps < 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "total_steps %lld is negative",
                           (long long)r->total_steps);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = db_stmt(s, STMT_RUN_INSERT,
                     "INSERT INTO runs (name, kind, dataset, spec, created_at, total_steps) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                     &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->dataset, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->spec, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, db_now_ms());
        sqlite3_bind_int64(st, 6, r->total_steps);
        rc = db_exec_stmt(st);
    }
    gand_status ret = GAND_OK;
    if (rc != SQLITE_OK)
        ret = db_fail(s, rc, err, errlen, "cannot create run '%s'", r->name);
    else if (id)
        *id = sqlite3_last_insert_rowid(s->db);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

gand_status store_run_get(store *s, int64_t id, store_run *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    gand_status ret;
    int rc = db_stmt(s, STMT_RUN_GET, "SELECT " RUN_COLS " FROM runs WHERE id = ?1", &st);
    if (rc != SQLITE_OK) {
        ret = db_fail(s, rc, err, errlen, "cannot read run %lld", (long long)id);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ret = read_run(st, out);
        if (ret == GAND_EINTERNAL)
            gand_errorf(err, errlen, ret, "run %lld has an unknown status", (long long)id);
        else if (ret == GAND_ENOMEM)
            gand_errorf(err, errlen, ret, "out of memory while reading run %lld", (long long)id);
    } else if (rc == SQLITE_DONE) {
        ret = db_run_not_found(id, err, errlen);
    } else {
        ret = db_fail(s, rc, err, errlen, "cannot read run %lld", (long long)id);
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->mu);
    return ret;
}

/* A cursor is "r" and the last listed id in lowercase hex, exactly as
 * encode_cursor() writes it: any other text is refused rather than guessed
 * at, so clients cannot come to depend on a format. */
static void encode_cursor(int64_t id, char out[STORE_CURSOR_MAX])
{
    snprintf(out, STORE_CURSOR_MAX, "r%" PRIx64, (uint64_t)id);
}

static bool decode_cursor(const char *c, int64_t *id)
{
    if (c[0] != 'r' || c[1] == '0' || c[1] == '\0' || strlen(c) > 17)
        return false;
    uint64_t v = 0;
    for (const char *p = c + 1; *p; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v * 16 + (uint64_t)d;
    }
    if (v > INT64_MAX)
        return false;
    *id = (int64_t)v;
    return true;
}

gand_status store_run_list(store *s, const store_run_filter *f, store_run_page *out, char *err,
                           size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (f->limit < 1 || f->limit > STORE_PAGE_MAX)
        return gand_errorf(err, errlen, GAND_EINVAL, "limit %d is outside 1..%d", f->limit,
                           STORE_PAGE_MAX);
    if (f->state_mask >> STORE_RUN_NSTATES)
        return gand_errorf(err, errlen, GAND_EINVAL, "state mask 0x%x names unknown states",
                           f->state_mask);
    int64_t before = INT64_MAX;
    if (f->cursor && *f->cursor && !decode_cursor(f->cursor, &before))
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "cursor '%.40s' is not valid; pass the next_cursor of a previous "
                           "page, or none for the first page",
                           f->cursor);

    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc;
    /* Three statements, so that the common cases (no filter, one state)
     * walk an index backwards and stop after limit + 1 rows; only a set of
     * states merges index ranges and sorts. */
    if (f->state_mask == 0) {
        rc = db_stmt(s, STMT_RUN_LIST,
                     "SELECT " RUN_COLS " FROM runs WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
                     &st);
    } else if ((f->state_mask & (f->state_mask - 1)) == 0) { /* one bit set */
        rc = db_stmt(s, STMT_RUN_LIST_STATE,
                     "SELECT " RUN_COLS " FROM runs WHERE status = ?3 AND id < ?1"
                     " ORDER BY id DESC LIMIT ?2",
                     &st);
    } else {
        rc = db_stmt(s, STMT_RUN_LIST_STATES,
                     "SELECT " RUN_COLS " FROM runs WHERE id < ?1 AND status IN "
                     "(?3, ?4, ?5, ?6, ?7) ORDER BY id DESC LIMIT ?2",
                     &st);
    }
    gand_status ret;
    if (rc != SQLITE_OK) {
        ret = db_fail(s, rc, err, errlen, "cannot list runs");
        goto out;
    }
    sqlite3_bind_int64(st, 1, before);
    /* One row more than asked tells whether another page follows. */
    sqlite3_bind_int(st, 2, f->limit + 1);
    /* The one-state statement has only ?3; the set statement leaves the
     * parameters of unwanted states NULL, which IN never matches. */
    bool one_state = (f->state_mask & (f->state_mask - 1)) == 0;
    for (int k = 0; k < STORE_RUN_NSTATES; k++)
        if (f->state_mask & (1u << k))
            sqlite3_bind_text(st, one_state ? 3 : 3 + k, state_names[k], -1, SQLITE_STATIC);
    ret = collect_runs(s, st, out, err, errlen);
    if (ret == GAND_OK && out->n > (size_t)f->limit) {
        store_run_clear(&out->runs[--out->n]);
        encode_cursor(out->runs[out->n - 1].id, out->next_cursor);
    }
out:
    pthread_mutex_unlock(&s->mu);
    return ret;
}

gand_status store_run_list_state(store *s, store_run_state state, store_run_page *out, char *err,
                                 size_t errlen)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)state >= STORE_RUN_NSTATES)
        return gand_errorf(err, errlen, GAND_EINVAL, "%d is not a run state", (int)state);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    gand_status ret;
    int rc = db_stmt(s, STMT_RUN_LIST_OLDEST,
                     "SELECT " RUN_COLS " FROM runs WHERE status = ?1 ORDER BY id", &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, state_names[state], -1, SQLITE_STATIC);
        ret = collect_runs(s, st, out, err, errlen);
    } else {
        ret = db_fail(s, rc, err, errlen, "cannot list %s runs", state_names[state]);
    }
    pthread_mutex_unlock(&s->mu);
    return ret;
}

gand_status store_run_count(store *s, int64_t counts[STORE_RUN_NSTATES], char *err,
                            size_t errlen)
{
    for (int k = 0; k < STORE_RUN_NSTATES; k++)
        counts[k] = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    gand_status ret = GAND_OK;
    int rc = db_stmt(s, STMT_RUN_COUNT, "SELECT status, count(*) FROM runs GROUP BY status", &st);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int k = db_state_from_text(sqlite3_column_text(st, 0));
            if (k >= 0)
                counts[k] = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
    }
    if (rc != SQLITE_DONE) {
        ret = db_fail(s, rc, err, errlen, "cannot count runs");
        for (int k = 0; k < STORE_RUN_NSTATES; k++)
            counts[k] = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return ret;
}
