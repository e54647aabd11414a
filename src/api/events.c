/* Server-sent events: stored events after the client's last one, then live
 * ones from the scheduler through the hub. */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKLOG_PAGE 500

/* Data of an event on the all-runs stream: the run's data with "run_id"
 * first. Returns a gand_malloc'd string or NULL. */
static char *with_run_id(int64_t run_id, const char *data)
{
    size_t n = strlen(data) + 48;
    char *out = gand_malloc(n);
    if (!out)
        return NULL;
    if (data[0] == '{' && data[1] == '}')
        snprintf(out, n, "{\"run_id\":%lld}", (long long)run_id);
    else if (data[0] == '{')
        snprintf(out, n, "{\"run_id\":%lld,%s", (long long)run_id, data + 1);
    else
        snprintf(out, n, "{\"run_id\":%lld,\"data\":%s}", (long long)run_id, data);
    return out;
}

void api_on_event(void *ctx, int64_t event_id, int64_t run_id, const char *type,
                  const char *json_data)
{
    api_ctx *app = ctx;
    if (!app->hub)
        return;
    if (http_sse_publish(app->hub, run_id, event_id, type, json_data) != GAND_OK)
        gand_log_warn("run %lld: event %lld not published", (long long)run_id,
                      (long long)event_id);
    char *all = with_run_id(run_id, json_data);
    if (!all || http_sse_publish(app->hub, API_TOPIC_ALL, event_id, type, all) != GAND_OK)
        gand_log_warn("event %lld not published to /events", (long long)event_id);
    gand_free(all);
}

typedef struct {
    api_ctx *app;
    int64_t query_after; /* ?after_id=, -1 when absent */
} backlog_ctx;

static gand_status backlog(void *ctx, int64_t topic, int64_t after_id, http_sse_sink *sink)
{
    backlog_ctx *b = ctx;
    if (after_id < 0)
        after_id = b->query_after;
    if (after_id < 0) /* a new client: live events only */
        return GAND_OK;
    char err[API_ERRLEN];
    for (;;) {
        store_event_list list;
        gand_status st = store_event_list_after(b->app->db, topic, after_id, BACKLOG_PAGE, &list,
                                                err, sizeof err);
        if (st != GAND_OK) {
            gand_log_error("event backlog: %s", err);
            return st;
        }
        size_t n = list.n;
        for (size_t i = 0; i < list.n && st == GAND_OK; i++) {
            const store_event *e = &list.events[i];
            char *all = topic == API_TOPIC_ALL ? with_run_id(e->run_id, e->data) : NULL;
            if (topic == API_TOPIC_ALL && !all)
                st = GAND_ENOMEM;
            else
                st = http_sse_sink_event(sink, e->id, store_event_type_name(e->type),
                                         all ? all : e->data);
            gand_free(all);
            after_id = e->id;
        }
        store_event_list_clear(&list);
        if (st == GAND_EBUSY) /* the client catches up on its next connection */
            return GAND_OK;
        if (st != GAND_OK)
            return st;
        if (n < BACKLOG_PAGE)
            return GAND_OK;
    }
}

static void stream(const http_req *req, http_resp *resp, int64_t topic)
{
    backlog_ctx b = {.app = api_of(req), .query_after = -1};
    const char *q = http_req_query(req, "after_id");
    if (q && http_req_query_int(req, resp, "after_id", 0, INT64_MAX, -1, &b.query_after) != GAND_OK)
        return;
    http_sse_start(req, resp, b.app->hub, topic, backlog, &b);
}

void api_run_events(const http_req *req, http_resp *resp)
{
    if (!api_run_exists(req, resp))
        return;
    stream(req, resp, http_req_param_int(req, "id"));
}

void api_all_events(const http_req *req, http_resp *resp) { stream(req, resp, API_TOPIC_ALL); }
