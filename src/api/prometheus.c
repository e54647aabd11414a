/* GET /metrics: Prometheus text exposition of runs, the queue, HTTP
 * traffic and the process's memory. */
#include "internal.h"

#include "gand/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *b = gand_realloc(t->buf, cap);
        if (!b) {
            t->oom = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

/* Resident memory from /proc/self/statm (pages), 0 when unreadable. */
static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

void api_prometheus(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    text t = {.cap = 4096};
    t.buf = gand_malloc(t.cap);
    if (!t.buf) {
        http_problem(resp, 500, "out of memory");
        return;
    }
    t.buf[0] = '\0';
    int64_t counts[STORE_RUN_NSTATES] = {0};
    char err[API_ERRLEN];
    if (store_run_count(app->db, counts, err, sizeof err) == GAND_OK) {
        add(&t, "# HELP gand_runs Runs in the database by state.\n# TYPE gand_runs gauge\n");
        for (int s = 0; s < STORE_RUN_NSTATES; s++)
            add(&t, "gand_runs{state=\"%s\"} %lld\n", store_run_state_name((store_run_state)s),
                (long long)counts[s]);
    }
    sched_snapshot snap;
    sched_stats(app->sched, &snap);
    add(&t, "# HELP gand_queue_depth Runs waiting for a worker.\n# TYPE gand_queue_depth gauge\n"
            "gand_queue_depth %zu\n",
        snap.queued);
    add(&t, "# HELP gand_workers Worker threads.\n# TYPE gand_workers gauge\ngand_workers %d\n",
        snap.workers);
    add(&t, "# HELP gand_run_steps_per_second Training speed of each running run.\n"
            "# TYPE gand_run_steps_per_second gauge\n");
    for (int i = 0; i < snap.running; i++)
        add(&t, "gand_run_steps_per_second{run=\"%lld\"} %.6g\n", (long long)snap.runs[i].run_id,
            snap.runs[i].steps_per_s);
    add(&t, "# HELP gand_run_step Current step of each running run.\n# TYPE gand_run_step gauge\n");
    for (int i = 0; i < snap.running; i++)
        add(&t, "gand_run_step{run=\"%lld\"} %lld\n", (long long)snap.runs[i].run_id,
            (long long)snap.runs[i].step);
    add(&t, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n",
        rss_bytes());
    char *http = app->server ? http_stats_prometheus(app->server) : NULL;
    if (http)
        add(&t, "%s", http);
    gand_free(http);
    if (t.oom) {
        gand_free(t.buf);
        http_problem(resp, 500, "out of memory");
        return;
    }
    http_send(resp, 200, "text/plain; version=0.0.4; charset=utf-8", t.buf, t.len, HTTP_BODY_TAKE);
}
