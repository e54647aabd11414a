/* Server-sent event streams fed from other threads.
 *
 * Each stream is a subscriber with a byte queue. libmicrohttpd pulls from
 * the queue through a content reader; when the queue is empty the reader
 * suspends the connection (no thread waits, nothing spins) and a publisher
 * that queues bytes resumes it. The suspend happens under the subscriber's
 * lock and the publisher resumes only a connection it finds marked
 * suspended under that lock, so a wake-up is never lost and a connection
 * that is not suspended is never resumed.
 *
 * Lock order: hub, then subscriber, then libmicrohttpd's own (taken by
 * suspend and resume). libmicrohttpd calls the release callback with none
 * of its locks held, so taking the hub lock there cannot invert the order.
 */
#include "internal.h"

#include "gand/alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pending {
    struct pending *next;
    int64_t id;
    size_t len;
    char text[];
} pending;

struct sse_sub {
    http_sse_hub *hub;
    sse_sub *prev, *next; /* hub list, under the hub lock */
    int64_t topic;
    pthread_mutex_t lock; /* guards the fields below */
    char *buf;            /* bytes for the client are buf[off, len) */
    size_t off, len, cap;
    int64_t last_id;  /* highest event id queued; later events at or below it are dropped */
    bool catching_up; /* the backlog is being written: live events wait in pending */
    pending *pend_head, *pend_tail;
    size_t pend_bytes;
    bool suspended, closed, full, idle;
    struct MHD_Connection *conn;
};

struct http_sse_hub {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* ping ticks, quitting, a stream ending */
    sse_sub *subs;
    size_t nsubs;
    bool closed, quit;
    unsigned ping_ms;
    pthread_t thread;
};

struct http_sse_sink {
    sse_sub *sub;
};

static const char ping_text[] = ": ping\n\n";

/* Formats one event; NULL when out of memory. */
static char *format_event(int64_t id, const char *event, const char *data, size_t *out_len)
{
    size_t dlen = strlen(data), lines = 1;
    for (size_t i = 0; i < dlen; i++)
        lines += data[i] == '\n' || data[i] == '\r';
    size_t cap = 32 + (event ? strlen(event) + 8 : 0) + dlen + lines * 7 + 2;
    char *t = gand_malloc(cap);
    if (!t)
        return NULL;
    size_t n = (size_t)snprintf(t, cap, "id: %" PRId64 "\n", id);
    if (event)
        n += (size_t)snprintf(t + n, cap - n, "event: %s\n", event);
    /* the SSE format ends a line at CR, LF or CRLF: each becomes a data line */
    const char *p = data;
    for (;;) {
        size_t l = strcspn(p, "\r\n");
        memcpy(t + n, "data: ", 6);
        memcpy(t + n + 6, p, l);
        n += 6 + l;
        t[n++] = '\n';
        p += l;
        if (!*p)
            break;
        p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
    }
    t[n++] = '\n';
    *out_len = n;
    return t;
}

/* Queues n bytes for the client; false when the stream is closed or full
 * (marking it full: it ends once drained and the client catches up). */
static bool sub_append(sse_sub *s, const char *text, size_t n)
{
    if (s->closed || s->full)
        return false;
    size_t queued = s->len - s->off;
    if (queued + s->pend_bytes + n > HTTP_SSE_BUFFER_BYTES) {
        s->full = true;
        return false;
    }
    if (s->off > 0) {
        memmove(s->buf, s->buf + s->off, queued);
        s->off = 0;
        s->len = queued;
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        char *b = gand_realloc(s->buf, cap);
        if (!b) {
            s->full = true;
            return false;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    s->idle = false;
    return true;
}

/* Called with the subscriber locked. */
static void sub_wake(sse_sub *s)
{
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

static void sub_destroy(sse_sub *s)
{
    pending *p = s->pend_head;
    while (p) {
        pending *next = p->next;
        gand_free(p);
        p = next;
    }
    gand_free(s->buf);
    pthread_mutex_destroy(&s->lock);
    gand_free(s);
}

static void sub_unlink(sse_sub *s)
{
    http_sse_hub *hub = s->hub;
    pthread_mutex_lock(&hub->lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        hub->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    hub->nsubs--;
    pthread_cond_broadcast(&hub->cond);
    pthread_mutex_unlock(&hub->lock);
}

void http_sse_sub_free(sse_sub *s)
{
    if (!s)
        return;
    sub_unlink(s);
    sub_destroy(s);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_sub *s = cls;
    pthread_mutex_lock(&s->lock);
    if (s->len > s->off) {
        size_t n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        if (s->off == s->len)
            s->off = s->len = 0;
        pthread_mutex_unlock(&s->lock);
        return (ssize_t)n;
    }
    if (s->closed || s->full) {
        pthread_mutex_unlock(&s->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void sse_release(void *cls) { http_sse_sub_free(cls); }

struct MHD_Response *http_sse_mhd_response(http_resp *resp, struct MHD_Connection *conn)
{
    sse_sub *s = resp->stream;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s, sse_release);
    if (!r)
        return NULL;
    pthread_mutex_lock(&s->lock);
    s->conn = conn;
    pthread_mutex_unlock(&s->lock);
    resp->stream = NULL;
    return r;
}

static bool event_name_ok(const char *event) { return !event || !strpbrk(event, "\r\n"); }

gand_status http_sse_publish(http_sse_hub *hub, int64_t topic, int64_t id, const char *event,
                             const char *data)
{
    if (!event_name_ok(event) || id < 0)
        return GAND_EINVAL;
    size_t n;
    char *text = format_event(id, event, data ? data : "", &n);
    if (!text)
        return GAND_ENOMEM;
    pthread_mutex_lock(&hub->lock);
    for (sse_sub *s = hub->subs; s; s = s->next) {
        if (s->topic != topic)
            continue;
        pthread_mutex_lock(&s->lock);
        if (s->catching_up) {
            pending *p = NULL;
            if (!s->full && s->len - s->off + s->pend_bytes + n <= HTTP_SSE_BUFFER_BYTES)
                p = gand_malloc(sizeof *p + n);
            if (p) {
                *p = (pending){NULL, id, n};
                memcpy(p->text, text, n);
                if (s->pend_tail)
                    s->pend_tail->next = p;
                else
                    s->pend_head = p;
                s->pend_tail = p;
                s->pend_bytes += n;
            } else {
                s->full = true;
            }
        } else if (id > s->last_id && sub_append(s, text, n)) {
            s->last_id = id;
        }
        sub_wake(s);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&hub->lock);
    gand_free(text);
    return GAND_OK;
}

gand_status http_sse_sink_event(http_sse_sink *sink, int64_t id, const char *event,
                                const char *data)
{
    if (!event_name_ok(event) || id < 0)
        return GAND_EINVAL;
    size_t n;
    char *text = format_event(id, event, data ? data : "", &n);
    if (!text)
        return GAND_ENOMEM;
    sse_sub *s = sink->sub;
    gand_status st = GAND_OK;
    pthread_mutex_lock(&s->lock);
    if (id > s->last_id) {
        if (sub_append(s, text, n))
            s->last_id = id;
        else
            st = GAND_EBUSY;
    }
    pthread_mutex_unlock(&s->lock);
    gand_free(text);
    return st;
}

/* Ends the catch-up: live events that arrived meanwhile follow the backlog,
 * less those the backlog already held. */
static void finish_catch_up(sse_sub *s)
{
    pthread_mutex_lock(&s->lock);
    pending *p = s->pend_head;
    s->pend_head = s->pend_tail = NULL;
    s->pend_bytes = 0;
    s->catching_up = false;
    while (p) {
        pending *next = p->next;
        if (p->id > s->last_id && sub_append(s, p->text, p->len))
            s->last_id = p->id;
        gand_free(p);
        p = next;
    }
    pthread_mutex_unlock(&s->lock);
}

gand_status http_sse_start(const http_req *req, http_resp *resp, http_sse_hub *hub, int64_t topic,
                           http_sse_backlog_fn backlog, void *ctx)
{
    int64_t after = -1;
    const char *last = http_req_header(req, "Last-Event-ID");
    if (last && *last) {
        char *end;
        errno = 0;
        long long v = strtoll(last, &end, 10);
        if (*end || errno || v < 0 || last[0] < '0' || last[0] > '9') {
            http_problem_field(resp, 400, "Last-Event-ID",
                               "Last-Event-ID '%.40s' is not an event id: send the id of the last "
                               "event received, a whole number, or no Last-Event-ID",
                               last);
            return GAND_EINVAL;
        }
        after = v;
    }
    sse_sub *s = gand_calloc(1, sizeof *s);
    if (!s) {
        http_problem(resp, 500, "the server ran out of memory; retry later");
        return GAND_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->hub = hub;
    s->topic = topic;
    s->last_id = after;
    s->catching_up = true;

    /* subscribe before reading the backlog: an event stored after the read
     * is then published to this stream, one stored before is in the read */
    pthread_mutex_lock(&hub->lock);
    bool closed = hub->closed;
    if (!closed) {
        s->next = hub->subs;
        if (hub->subs)
            hub->subs->prev = s;
        hub->subs = s;
        hub->nsubs++;
    }
    pthread_mutex_unlock(&hub->lock);
    if (closed) {
        sub_destroy(s);
        http_problem(resp, 503, "the server is shutting down; reconnect in a moment");
        return GAND_EBUSY;
    }
    if (backlog) {
        http_sse_sink sink = {s};
        gand_status st = backlog(ctx, topic, after, &sink);
        if (st != GAND_OK && st != GAND_EBUSY) {
            http_sse_sub_free(s);
            http_problem(resp, 500, "reading the stored events failed (%s); retry later",
                         gand_strerror(st));
            return st;
        }
    }
    finish_catch_up(s);

    http_resp_clear(resp);
    resp->status = 200;
    resp->kind = RESP_STREAM;
    resp->stream = s;
    strcpy(resp->content_type, "text/event-stream");
    http_resp_add_header(resp, "Cache-Control", "no-store");
    /* proxies such as nginx would otherwise hold events back */
    http_resp_add_header(resp, "X-Accel-Buffering", "no");
    return GAND_OK;
}

/* ---- the hub ---- */

static void *ping_main(void *arg)
{
    http_sse_hub *hub = arg;
    pthread_mutex_lock(&hub->lock);
    while (!hub->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += hub->ping_ms / 1000;
        ts.tv_nsec += (long)(hub->ping_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!hub->quit && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&hub->cond, &hub->lock, &ts);
        if (hub->quit)
            break;
        /* a stream silent for a whole tick gets a ping; the ping itself does
         * not count as traffic, so an idle stream is pinged every tick */
        for (sse_sub *s = hub->subs; s; s = s->next) {
            pthread_mutex_lock(&s->lock);
            if (s->idle && !s->catching_up && sub_append(s, ping_text, sizeof ping_text - 1))
                sub_wake(s);
            s->idle = true;
            pthread_mutex_unlock(&s->lock);
        }
    }
    pthread_mutex_unlock(&hub->lock);
    return NULL;
}

http_sse_hub *http_sse_hub_create(unsigned ping_ms)
{
    http_sse_hub *hub = gand_calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    hub->ping_ms = ping_ms ? ping_ms : 15000;
    pthread_mutex_init(&hub->lock, NULL);
    pthread_cond_init(&hub->cond, NULL);
    if (pthread_create(&hub->thread, NULL, ping_main, hub) != 0)
        goto err;
    return hub;
err:
    pthread_cond_destroy(&hub->cond);
    pthread_mutex_destroy(&hub->lock);
    gand_free(hub);
    return NULL;
}

void http_sse_hub_shutdown(http_sse_hub *hub, unsigned wait_ms)
{
    pthread_mutex_lock(&hub->lock);
    hub->closed = true;
    for (sse_sub *s = hub->subs; s; s = s->next) {
        pthread_mutex_lock(&s->lock);
        s->closed = true;
        sub_wake(s);
        pthread_mutex_unlock(&s->lock);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    while (hub->nsubs > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&hub->cond, &hub->lock, &ts);
    pthread_mutex_unlock(&hub->lock);
}

size_t http_sse_streams(http_sse_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    size_t n = hub->nsubs;
    pthread_mutex_unlock(&hub->lock);
    return n;
}

void http_sse_hub_free(http_sse_hub *hub)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->lock);
    hub->quit = true;
    pthread_cond_broadcast(&hub->cond);
    pthread_mutex_unlock(&hub->lock);
    pthread_join(hub->thread, NULL);
    pthread_cond_destroy(&hub->cond);
    pthread_mutex_destroy(&hub->lock);
    gand_free(hub);
}
