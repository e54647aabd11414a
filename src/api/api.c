/* The route table, the service routes (models, datasets, health) and the
 * helpers the resource handlers share. */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/data.h"
#include "gand/gan.h"
#include "gand/log.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void api_fail(http_resp *resp, gand_status st, const char *err)
{
    switch (st) {
    case GAND_ENOTFOUND: http_problem(resp, 404, "%s", err); return;
    case GAND_EBUSY: http_problem(resp, 409, "%s", err); return;
    case GAND_EINVAL:
    case GAND_ERANGE: http_problem(resp, 422, "%s", err); return;
    case GAND_ENOSPC:
        gand_log_error("request refused: %s", err);
        http_problem(resp, 507, "%s", err);
        return;
    default:
        gand_log_error("request failed: %s: %s", gand_strerror(st), err);
        http_problem(resp, 500, "the server could not complete the request: %s", err);
    }
}

bool api_load_run(const http_req *req, http_resp *resp, store_run *run)
{
    char err[API_ERRLEN];
    gand_status st = store_run_get(api_of(req)->db, http_req_param_int(req, "id"), run, err,
                                   sizeof err);
    if (st != GAND_OK) {
        api_fail(resp, st, err);
        return false;
    }
    return true;
}

bool api_run_exists(const http_req *req, http_resp *resp)
{
    store_run run;
    if (!api_load_run(req, resp, &run))
        return false;
    store_run_clear(&run);
    return true;
}

void api_run_dir(const api_ctx *app, int64_t id, const char *suffix, char *buf, size_t len)
{
    snprintf(buf, len, "%s/runs/%lld%s", app->state_dir, (long long)id, suffix ? suffix : "");
}

bool api_latest_checkpoint(const api_ctx *app, int64_t id, char *path, size_t len)
{
    char dir[1024];
    api_run_dir(app, id, "/checkpoints", dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long step;
        char tail[8];
        if (sscanf(e->d_name, "step-%ld.%7s", &step, tail) == 2 && strcmp(tail, "ckpt") == 0 &&
            step > best)
            best = step;
    }
    closedir(d);
    if (best < 0)
        return false;
    snprintf(path, len, "%s/step-%07ld.ckpt", dir, best);
    return true;
}

/* ISO-8601 UTC with milliseconds, or JSON null for 0. */
static cJSON *time_json(int64_t ms)
{
    if (ms <= 0)
        return cJSON_CreateNull();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[64];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return cJSON_CreateString(buf);
}

cJSON *api_run_json(api_ctx *app, const store_run *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    double rate = 0;
    if (r->state == STORE_RUN_RUNNING && app->sched) {
        sched_snapshot snap;
        sched_stats(app->sched, &snap);
        for (int i = 0; i < snap.running; i++)
            if (snap.runs[i].run_id == r->id)
                rate = snap.runs[i].steps_per_s;
    }
    int64_t last_event = 0;
    char err[API_ERRLEN];
    if (store_event_last_id(app->db, r->id, &last_event, err, sizeof err) != GAND_OK)
        last_event = 0;
    cJSON *spec = cJSON_Parse(r->spec);
    bool ok = cJSON_AddNumberToObject(o, "id", (double)r->id) &&
              cJSON_AddStringToObject(o, "name", r->name) &&
              cJSON_AddStringToObject(o, "model", r->kind) &&
              cJSON_AddStringToObject(o, "dataset", r->dataset) &&
              cJSON_AddStringToObject(o, "status", store_run_state_name(r->state)) &&
              cJSON_AddNumberToObject(o, "step", (double)r->step) &&
              cJSON_AddNumberToObject(o, "total_steps", (double)r->total_steps) &&
              (rate > 0 ? cJSON_AddNumberToObject(o, "steps_per_s", rate) != NULL
                        : cJSON_AddNullToObject(o, "steps_per_s") != NULL) &&
              (rate > 0 ? cJSON_AddNumberToObject(o, "eta_s",
                                                  (double)(int64_t)((r->total_steps - r->step) /
                                                                    rate)) != NULL
                        : cJSON_AddNullToObject(o, "eta_s") != NULL) &&
              cJSON_AddItemToObject(o, "created_at", time_json(r->created_at_ms)) &&
              cJSON_AddItemToObject(o, "started_at", time_json(r->started_at_ms)) &&
              cJSON_AddItemToObject(o, "finished_at", time_json(r->finished_at_ms)) &&
              (r->error ? cJSON_AddStringToObject(o, "error", r->error) != NULL
                        : cJSON_AddNullToObject(o, "error") != NULL) &&
              cJSON_AddBoolToObject(o, "cancel_requested", r->cancel_requested) &&
              (r->checkpoint_step >= 0
                   ? cJSON_AddNumberToObject(o, "checkpoint_step", (double)r->checkpoint_step) !=
                         NULL
                   : cJSON_AddNullToObject(o, "checkpoint_step") != NULL) &&
              cJSON_AddNumberToObject(o, "last_event_id", (double)last_event) &&
              spec && cJSON_AddItemToObject(o, "spec", spec);
    if (!ok) {
        if (spec && !cJSON_GetObjectItem(o, "spec"))
            cJSON_Delete(spec);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static void send_text_json(http_resp *resp, char *text)
{
    if (!text) {
        http_problem(resp, 500, "out of memory");
        return;
    }
    http_send(resp, 200, "application/json", text, strlen(text), HTTP_BODY_TAKE);
}

static void models(const http_req *req, http_resp *resp)
{
    send_text_json(resp, gan_models_json());
}

static void datasets(const http_req *req, http_resp *resp)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "datasets") : NULL;
    for (int i = 0; arr && i < data_builtin_count(); i++) {
        const data_builtin *b = data_builtin_get(i);
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o) || !cJSON_AddStringToObject(o, "name", b->name) ||
            !cJSON_AddStringToObject(o, "description", b->description) ||
            !cJSON_AddStringToObject(o, "path", b->dir) ||
            !cJSON_AddBoolToObject(o, "available", data_builtin_available(b)))
            arr = NULL;
    }
    if (!arr || !cJSON_AddStringToObject(root, "custom",
                                         "any absolute directory holding "
                                         "train-images-idx3-ubyte[.gz] and optionally "
                                         "train-labels-idx1-ubyte[.gz]")) {
        cJSON_Delete(root);
        http_problem(resp, 500, "out of memory");
        return;
    }
    http_json(resp, 200, root);
    cJSON_Delete(root);
}

static void livez(const http_req *req, http_resp *resp)
{
    http_send(resp, 200, "application/json", "{\"status\":\"ok\"}", 15, HTTP_BODY_STATIC);
}

static void readyz(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    if (!atomic_load(&app->ready) || !app->sched) {
        http_problem(resp, 503, "gand is starting: the database is being opened and "
                                "interrupted runs re-queued");
        return;
    }
    sched_snapshot snap;
    sched_stats(app->sched, &snap);
    if (snap.stopping) {
        http_problem(resp, 503, "gand is shutting down");
        return;
    }
    char body[128];
    int n = snprintf(body, sizeof body, "{\"status\":\"ready\",\"queued\":%zu,\"running\":%d}",
                     snap.queued, snap.running);
    http_send(resp, 200, "application/json", body, (size_t)n, HTTP_BODY_COPY);
}

static void not_found(const http_req *req, http_resp *resp)
{
    http_problem(resp, 404, "no resource at %s; see GET /models, /runs and /datasets",
                 http_req_path(req));
}

const http_route api_routes[] = {
    {"GET", "/livez", livez, HTTP_ROUTE_PUBLIC},
    {"GET", "/readyz", readyz, HTTP_ROUTE_PUBLIC},
    {"GET", "/metrics", api_prometheus},
    {"GET", "/models", models, 0},
    {"GET", "/datasets", datasets, 0},
    {"POST", "/runs", api_runs_create, 0},
    {"GET", "/runs", api_runs_list, 0},
    {"GET", "/runs/{id:int}", api_runs_get, 0},
    {"DELETE", "/runs/{id:int}", api_runs_delete, 0},
    {"POST", "/runs/{id:int}/cancel", api_runs_cancel, 0},
    {"GET", "/runs/{id:int}/metrics", api_metrics, 0},
    {"GET", "/runs/{id:int}/samples", api_samples_list, 0},
    {"GET", "/runs/{id:int}/samples.gif", api_samples_gif, 0},
    {"GET", "/runs/{id:int}/samples/latest.png", api_sample_latest, 0},
    {"GET", "/runs/{id:int}/samples/{step:int}.png", api_sample_png, 0},
    {"GET", "/runs/{id:int}/generate", api_generate, 0},
    {"GET", "/runs/{id:int}/checkpoint", api_checkpoint, 0},
    {"GET", "/runs/{id:int}/events", api_run_events, 0},
    {"GET", "/events", api_all_events, 0},
    HTTP_STATIC_ROUTE,
    {NULL, NULL, not_found, 0},
};
