/* The event-stream client of daemon_fixture.h: reads text/event-stream,
 * splits it into events and stops when the caller's condition holds. */
#include "daemon_fixture.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    sse_opts o;
    sse_list out;
    char *pending; /* bytes not yet ending in a blank line */
    size_t npending;
    bool stop;
    atomic_bool open;
} reader;

static bool is_final_of(const reader *r, const sse_event *e)
{
    if (r->o.final_of <= 0 || strcmp(e->event, "state") != 0 || !e->json)
        return false;
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(e->json, "run_id");
    if (run && (int64_t)run->valuedouble != r->o.final_of)
        return false;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(e->json, "state");
    return cJSON_IsString(st) &&
           (strcmp(st->valuestring, "succeeded") == 0 || strcmp(st->valuestring, "failed") == 0 ||
            strcmp(st->valuestring, "canceled") == 0);
}

/* One event block (without its blank line); comments and pings add nothing. */
static void take_block(reader *r, char *block)
{
    sse_event e = {.id = -1};
    char *data = NULL;
    size_t ndata = 0;
    for (char *save = NULL, *line = strtok_r(block, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "id: ", 4) == 0) {
            e.id = strtoll(line + 4, NULL, 10);
        } else if (strncmp(line, "event: ", 7) == 0) {
            snprintf(e.event, sizeof e.event, "%s", line + 7);
        } else if (strncmp(line, "data: ", 6) == 0) {
            size_t n = strlen(line + 6);
            data = realloc(data, ndata + n + 2);
            ck_assert_ptr_nonnull(data);
            if (ndata)
                data[ndata++] = '\n';
            memcpy(data + ndata, line + 6, n + 1);
            ndata += n;
        }
    }
    if (!data)
        return;
    e.data = data;
    e.json = cJSON_Parse(data);
    ck_assert_msg(e.json != NULL, "event %lld carries data that is not JSON: %s",
                  (long long)e.id, data);
    r->out.ev = realloc(r->out.ev, (r->out.n + 1) * sizeof *r->out.ev);
    ck_assert_ptr_nonnull(r->out.ev);
    r->out.ev[r->out.n++] = e;
    if ((r->o.max_events && r->out.n >= r->o.max_events) || is_final_of(r, &e))
        r->stop = true;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ctx)
{
    reader *r = ctx;
    size_t n = size * nmemb;
    r->pending = realloc(r->pending, r->npending + n + 1);
    ck_assert_ptr_nonnull(r->pending);
    memcpy(r->pending + r->npending, p, n);
    r->npending += n;
    r->pending[r->npending] = '\0';
    char *end;
    while (!r->stop && (end = strstr(r->pending, "\n\n"))) {
        *end = '\0';
        size_t used = (size_t)(end - r->pending) + 2;
        char *block = strdup(r->pending);
        take_block(r, block);
        free(block);
        memmove(r->pending, r->pending + used, r->npending - used + 1);
        r->npending -= used;
    }
    return r->stop ? 0 : n; /* 0 ends the transfer */
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ctx)
{
    reader *r = ctx;
    size_t n = size * nmemb;
    if (n == 2 && p[0] == '\r' && p[1] == '\n')
        atomic_store(&r->open, true);
    return n;
}

static void read_stream(const gand_daemon *d, reader *r)
{
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    char url[512], lei[96];
    snprintf(url, sizeof url, "%s%s", d->base, r->o.path);
    struct curl_slist *hl = NULL;
    if (r->o.last_event_id) {
        snprintf(lei, sizeof lei, "Last-Event-ID: %s", r->o.last_event_id);
        hl = curl_slist_append(hl, lei);
    }
    char bearer[300];
    if (d->auth) {
        snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", d->auth);
        hl = curl_slist_append(hl, bearer);
    }
    double timeout = r->o.timeout_s > 0 ? r->o.timeout_s : 20;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    CURLcode rc = curl_easy_perform(c);
    ck_assert_msg(rc == CURLE_OK || rc == CURLE_WRITE_ERROR || rc == CURLE_OPERATION_TIMEDOUT,
                  "GET %s: %s", r->o.path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->out.status);
    char *type = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    snprintf(r->out.content_type, sizeof r->out.content_type, "%s", type ? type : "");
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    free(r->pending);
    r->pending = NULL;
}

sse_list sse_read(const gand_daemon *d, sse_opts o)
{
    reader r = {.o = o};
    read_stream(d, &r);
    return r.out;
}

void sse_list_free(sse_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->ev[i].data);
        cJSON_Delete(l->ev[i].json);
    }
    free(l->ev);
    memset(l, 0, sizeof *l);
}

struct sse_async {
    const gand_daemon *d;
    reader r;
    pthread_t thread;
};

static void *async_main(void *arg)
{
    sse_async *a = arg;
    read_stream(a->d, &a->r);
    atomic_store(&a->r.open, true); /* also when it failed to open */
    return NULL;
}

sse_async *sse_start(const gand_daemon *d, sse_opts o)
{
    sse_async *a = calloc(1, sizeof *a);
    ck_assert_ptr_nonnull(a);
    a->d = d;
    a->r.o = o;
    ck_assert_int_eq(pthread_create(&a->thread, NULL, async_main, a), 0);
    return a;
}

void sse_wait_open(sse_async *a)
{
    double t0 = now_s();
    while (!atomic_load(&a->r.open)) {
        ck_assert_msg(now_s() - t0 < 20, "the event stream did not open in 20 s");
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

sse_list sse_finish(sse_async *a)
{
    pthread_join(a->thread, NULL);
    sse_list out = a->r.out;
    free(a);
    return out;
}
