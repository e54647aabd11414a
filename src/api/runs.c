/* /runs: create, list, get, cancel, delete. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/gan.h"
#include "gand/log.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>

static void send_run(http_resp *resp, api_ctx *app, int status, const store_run *run)
{
    cJSON *o = api_run_json(app, run);
    if (!o) {
        http_problem(resp, 500, "out of memory");
        return;
    }
    http_json(resp, status, o);
    cJSON_Delete(o);
}

/* POST /runs: validate the spec, check its data, commit the run, queue it. */
void api_runs_create(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    cJSON *body = NULL;
    /* content type and JSON syntax, with the position of a syntax error */
    if (http_req_json(req, resp, &body) != GAND_OK)
        return;
    cJSON_Delete(body);
    size_t len;
    const char *text = http_req_body(req, &len);
    gan_spec spec;
    char err[API_ERRLEN], field[64];
    gand_status st = gan_spec_parse(text, len, &spec, err, sizeof err, field, sizeof field);
    if (st == GAND_EINVAL) {
        http_problem(resp, 400, "%s", err);
        return;
    }
    long total = 0;
    if (st == GAND_OK)
        st = gan_spec_check_data(&spec, &total, field, sizeof field, err, sizeof err);
    if (st != GAND_OK) {
        if (st == GAND_ENOMEM || st == GAND_EIO)
            api_fail(resp, st, err);
        else if (field[0])
            http_problem_field(resp, 422, field, "%s", err);
        else
            http_problem(resp, 422, "%s", err);
        return;
    }
    char *norm = gan_spec_to_json(&spec);
    if (!norm) {
        http_problem(resp, 500, "out of memory");
        return;
    }
    store_run_new nr = {.name = spec.name,
                        .kind = gan_kind_name(spec.kind),
                        .dataset = spec.dataset,
                        .spec = norm,
                        .total_steps = total};
    int64_t id;
    st = store_run_create(app->db, &nr, &id, err, sizeof err);
    gand_free(norm);
    if (st != GAND_OK) {
        api_fail(resp, st, err);
        return;
    }
    st = sched_submit(app->sched, id, err, sizeof err);
    if (st != GAND_OK) {
        char err2[API_ERRLEN];
        if (store_run_delete(app->db, id, err2, sizeof err2) != GAND_OK)
            gand_log_error("run %lld: could not remove the refused run: %s", (long long)id, err2);
        if (st == GAND_EBUSY) {
            http_problem(resp, 503, "%s; try again when runs have finished", err);
            http_resp_add_header(resp, "Retry-After", "30");
        } else {
            api_fail(resp, st, err);
        }
        return;
    }
    gand_log_info("run %lld queued: %s (%s on %s, %ld steps)", (long long)id, spec.name,
                  gan_kind_name(spec.kind), spec.dataset, total);
    store_run run;
    if (store_run_get(app->db, id, &run, err, sizeof err) != GAND_OK) {
        api_fail(resp, GAND_EINTERNAL, err);
        return;
    }
    char loc[64];
    snprintf(loc, sizeof loc, "/runs/%lld", (long long)id);
    send_run(resp, app, 201, &run);
    http_resp_add_header(resp, "Location", loc);
    store_run_clear(&run);
}

/* ?status=running,queued into a state mask; false (and a 400) when bad.
 * Tokens are read in place: a long list is no reason to cut one short. */
static bool parse_status(const http_req *req, http_resp *resp, unsigned *mask)
{
    const char *q = http_req_query(req, "status");
    *mask = 0;
    for (const char *tok = q; tok && *tok;) {
        size_t n = strcspn(tok, ",");
        char name[16];
        store_run_state s;
        char err[API_ERRLEN];
        if (n > 0) {
            snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1),
                     tok);
            if (n >= sizeof name ||
                store_run_state_parse(name, &s, err, sizeof err) != GAND_OK) {
                http_problem_field(resp, 400, "status",
                                   "query 'status': '%.*s%s' is not a run status; use one or "
                                   "more of queued, running, succeeded, failed, canceled, "
                                   "separated by commas",
                                   (int)(n < 40 ? n : 40), tok, n > 40 ? "..." : "");
                return false;
            }
            *mask |= 1u << s;
        }
        tok += n + (tok[n] == ',');
    }
    return true;
}

void api_runs_list(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    int64_t limit;
    store_run_filter f = {0};
    if (http_req_query_int(req, resp, "limit", 1, STORE_PAGE_MAX, 50, &limit) != GAND_OK ||
        !parse_status(req, resp, &f.state_mask))
        return;
    f.limit = (int)limit;
    f.cursor = http_req_query(req, "cursor");
    store_run_page page;
    char err[API_ERRLEN];
    gand_status st = store_run_list(app->db, &f, &page, err, sizeof err);
    if (st != GAND_OK) {
        if (st == GAND_EINVAL)
            http_problem_field(resp, 400, "cursor", "%s", err);
        else
            api_fail(resp, st, err);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "runs") : NULL;
    for (size_t i = 0; arr && i < page.n; i++) {
        cJSON *o = api_run_json(app, &page.runs[i]);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            arr = NULL;
        }
    }
    bool ok = arr && (page.next_cursor[0]
                          ? cJSON_AddStringToObject(root, "next_cursor", page.next_cursor) != NULL
                          : cJSON_AddNullToObject(root, "next_cursor") != NULL);
    store_run_page_clear(&page);
    if (!ok)
        http_problem(resp, 500, "out of memory");
    else
        http_json(resp, 200, root);
    cJSON_Delete(root);
}

void api_runs_get(const http_req *req, http_resp *resp)
{
    store_run run;
    if (!api_load_run(req, resp, &run))
        return;
    send_run(resp, api_of(req), 200, &run);
    store_run_clear(&run);
}

void api_runs_cancel(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    int64_t id = http_req_param_int(req, "id");
    char err[API_ERRLEN];
    store_run_state after;
    gand_status st = sched_cancel(app->sched, id, &after, err, sizeof err);
    if (st != GAND_OK) {
        api_fail(resp, st, err);
        return;
    }
    gand_log_info("run %lld: cancel requested", (long long)id);
    api_runs_get(req, resp);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        gand_log_warn("cannot remove %s: %m", path);
    return 0;
}

void api_runs_delete(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    int64_t id = http_req_param_int(req, "id");
    char err[API_ERRLEN];
    store_run run;
    if (!api_load_run(req, resp, &run))
        return;
    store_run_state state = run.state;
    store_run_clear(&run);
    gand_status st;
    if (state == STORE_RUN_QUEUED) {
        /* A deleted run left in the scheduler's queue would hold a place
         * there (queue_max, /readyz) until a worker reached it; canceling
         * takes it out. */
        store_run_state after;
        st = sched_cancel(app->sched, id, &after, err, sizeof err);
        if (st == GAND_OK && after == STORE_RUN_RUNNING) {
            http_problem(resp, 409,
                         "run %lld started as it was being deleted; it is being canceled now: "
                         "delete it again once it has stopped",
                         (long long)id);
            return;
        }
        if (st != GAND_OK && st != GAND_EBUSY) { /* EBUSY: it ended meanwhile */
            api_fail(resp, st, err);
            return;
        }
    }
    st = store_run_delete(app->db, id, err, sizeof err);
    if (st != GAND_OK) {
        api_fail(resp, st, err);
        return;
    }
    char dir[1024];
    api_run_dir(app, id, NULL, dir, sizeof dir);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    gand_log_info("run %lld deleted", (long long)id);
    http_send(resp, 204, NULL, NULL, 0, HTTP_BODY_STATIC);
}
