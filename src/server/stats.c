/* Request counters and a latency histogram, written as Prometheus text. */
#include "internal.h"

#include "gand/alloc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STATS_CODES 12 /* distinct statuses kept per route; the rest count as "other" */

static const double bucket_s[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof bucket_s / sizeof bucket_s[0])

typedef struct {
    int code; /* 0: free slot, -1: other */
    uint64_t count;
} code_count;

struct http_stats {
    pthread_mutex_t lock;
    const http_route *routes;
    int nroutes;
    code_count *codes;                /* (nroutes + 1, STATS_CODES); the last row: unmatched */
    uint64_t buckets[NBUCKETS + 1];   /* per bucket, not cumulative; the last is +Inf */
    double sum_s;
    uint64_t count;
};

http_stats *http_stats_create(const http_route *routes)
{
    http_stats *st = gand_calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->routes = routes;
    st->nroutes = http_routes_count(routes);
    st->codes = gand_calloc((size_t)(st->nroutes + 1) * STATS_CODES, sizeof *st->codes);
    if (!st->codes)
        goto err;
    pthread_mutex_init(&st->lock, NULL);
    return st;
err:
    gand_free(st);
    return NULL;
}

void http_stats_free(http_stats *st)
{
    if (!st)
        return;
    pthread_mutex_destroy(&st->lock);
    gand_free(st->codes);
    gand_free(st);
}

void http_stats_record(http_stats *st, int route_index, int status, double seconds, bool stream)
{
    int row = route_index >= 0 && route_index < st->nroutes ? route_index : st->nroutes;
    code_count *c = st->codes + (size_t)row * STATS_CODES;
    pthread_mutex_lock(&st->lock);
    int k = 0;
    while (k < STATS_CODES - 1 && c[k].code != 0 && c[k].code != status)
        k++;
    if (c[k].code == 0)
        c[k].code = status;
    else if (c[k].code != status)
        c[k].code = -1;
    c[k].count++;
    if (!stream) {
        size_t b = 0;
        while (b < NBUCKETS && seconds > bucket_s[b])
            b++;
        st->buckets[b]++;
        st->sum_s += seconds;
        st->count++;
    }
    pthread_mutex_unlock(&st->lock);
}

typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *s = gand_realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* Label values escape backslash, quote and newline (the text format's rule). */
static void sb_label(strbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sb_printf(b, "\\%c", *v);
        else if (*v == '\n')
            sb_printf(b, "\\n");
        else
            sb_printf(b, "%c", *v);
    }
}

char *http_stats_text(http_stats *st, http_sse_hub *hub)
{
    strbuf b = {gand_malloc(4096), 0, 4096, false};
    if (!b.s)
        return NULL;
    b.s[0] = '\0';
    pthread_mutex_lock(&st->lock);
    sb_printf(&b, "# HELP gand_http_requests_total HTTP requests answered, by route and status.\n"
                  "# TYPE gand_http_requests_total counter\n");
    for (int r = 0; r <= st->nroutes; r++) {
        const code_count *c = st->codes + (size_t)r * STATS_CODES;
        for (int k = 0; k < STATS_CODES && c[k].code != 0; k++) {
            sb_printf(&b, "gand_http_requests_total{route=\"");
            if (r < st->nroutes) {
                sb_label(&b, st->routes[r].method);
                sb_printf(&b, " ");
                sb_label(&b, st->routes[r].pattern);
            } else {
                sb_printf(&b, "unmatched");
            }
            if (c[k].code > 0)
                sb_printf(&b, "\",code=\"%d\"} %" PRIu64 "\n", c[k].code, c[k].count);
            else
                sb_printf(&b, "\",code=\"other\"} %" PRIu64 "\n", c[k].count);
        }
    }
    sb_printf(&b, "# HELP gand_http_request_duration_seconds Time from a request's headers to "
                  "the end of its response; event streams excluded.\n"
                  "# TYPE gand_http_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += st->buckets[i];
        sb_printf(&b, "gand_http_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                  bucket_s[i], cum);
    }
    cum += st->buckets[NBUCKETS];
    sb_printf(&b, "gand_http_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    sb_printf(&b, "gand_http_request_duration_seconds_sum %.6f\n", st->sum_s);
    sb_printf(&b, "gand_http_request_duration_seconds_count %" PRIu64 "\n", st->count);
    pthread_mutex_unlock(&st->lock);
    if (hub)
        sb_printf(&b, "# HELP gand_http_sse_streams Open event streams.\n"
                      "# TYPE gand_http_sse_streams gauge\n"
                      "gand_http_sse_streams %zu\n", http_sse_streams(hub));
    if (b.failed) {
        gand_free(b.s);
        return NULL;
    }
    return b.s;
}
