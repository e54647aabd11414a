/* The HTTP test fixture: see http_fixture.h. */
#include "http_fixture.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>



fixture_app app;
static char tmpdir[PATH_MAX];
char fixture_base[64];

double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void store_and_publish(int64_t topic, const char *data)
{
    pthread_mutex_lock(&app.lock);
    int64_t id = app.next_id++;
    stored_event *e = &app.events[app.nevents++];
    e->topic = topic;
    e->id = id;
    snprintf(e->data, sizeof e->data, "%s", data);
    pthread_mutex_unlock(&app.lock);
    ck_assert_int_eq(http_sse_publish(app.hub, topic, id, "metrics", data), GAND_OK);
}

static gand_status backlog(void *ctx, int64_t topic, int64_t after, http_sse_sink *sink)
{
    fixture_app *a = ctx;
    if (a->race)
        store_and_publish(topic, "before-read");
    pthread_mutex_lock(&a->lock);
    stored_event copy[256];
    int n = 0;
    for (int i = 0; i < a->nevents; i++)
        if (a->events[i].topic == topic && a->events[i].id > after)
            copy[n++] = a->events[i];
    pthread_mutex_unlock(&a->lock);
    for (int i = 0; i < n; i++)
        if (http_sse_sink_event(sink, copy[i].id, "metrics", copy[i].data) != GAND_OK)
            break;
    if (a->race)
        store_and_publish(topic, "after-read");
    return GAND_OK;
}

static void h_livez(const http_req *req, http_resp *resp)
{
    http_send(resp, 200, "application/json", "{\"status\":\"ok\"}", 15, HTTP_BODY_STATIC);
}

static void h_echo(const http_req *req, http_resp *resp)
{
    cJSON *j;
    if (http_req_json(req, resp, &j) != GAND_OK)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "got", j);
    http_json(resp, 201, o);
    cJSON_Delete(o);
    http_resp_add_header(resp, "Location", "/runs/1");
}

static void h_run(const http_req *req, http_resp *resp)
{
    char tag[32];
    int64_t id = http_req_param_int(req, "id");
    snprintf(tag, sizeof tag, "run-%lld", (long long)id);
    if (http_etag(req, resp, tag))
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    http_json(resp, 200, o);
    cJSON_Delete(o);
}

static void h_run_delete(const http_req *req, http_resp *resp)
{
    http_send(resp, 204, NULL, "", 0, HTTP_BODY_STATIC);
}

static void h_events(const http_req *req, http_resp *resp)
{
    fixture_app *a = http_req_app(req);
    http_sse_start(req, resp, a->hub, http_req_param_int(req, "id"), backlog, a);
}

static void h_query(const http_req *req, http_resp *resp)
{
    int64_t n;
    if (http_req_query_int(req, resp, "n", 1, 9, 5, &n) != GAND_OK)
        return;
    const char *flag = http_req_query(req, "flag");
    char out[96];
    int len = snprintf(out, sizeof out, "n=%lld flag=%s", (long long)n, flag ? flag : "(none)");
    http_send(resp, 200, "text/plain", out, (size_t)len, HTTP_BODY_COPY);
}

static void h_slow(const http_req *req, http_resp *resp)
{
    usleep(100 * 1000);
    http_send(resp, 200, "application/json", "{\"slow\":true}", 13, HTTP_BODY_STATIC);
}

static const http_route routes[] = {
    {"GET", "/livez", h_livez},
    {"POST", "/echo", h_echo},
    {"GET", "/query", h_query},
    {"GET", "/runs/{id:int}", h_run},
    {"DELETE", "/runs/{id:int}", h_run_delete},
    {"GET", "/runs/{id:int}/events", h_events},
    {"GET", "/slow", h_slow},
    HTTP_STATIC_ROUTE,
    HTTP_ROUTES_END,
};

static void write_file(const char *rel, const char *text, size_t n)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, n, f), n);
    fclose(f);
}

const char fixture_png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const size_t fixture_png_len = sizeof fixture_png - 1;

void fixture_setup(void)
{
    ck_assert_int_eq(http_ignore_sigpipe(), GAND_OK);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gand-http-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/www", tmpdir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    write_file("secret.txt", "TOP SECRET", 10);
    write_file("www/index.html", "<h1>gand</h1>", 13);
    write_file("www/app.js", "let x = 1;", 10);
    write_file("www/.hidden", "hidden", 6);
    write_file("www/pic.png", fixture_png, fixture_png_len);
    snprintf(p, sizeof p, "%s/www/escape.html", tmpdir);
    ck_assert_int_eq(symlink("../secret.txt", p), 0);

    memset(&app, 0, sizeof app);
    pthread_mutex_init(&app.lock, NULL);
    app.next_id = 1;
    app.hub = http_sse_hub_create(FIXTURE_PING_MS);
    ck_assert_ptr_nonnull(app.hub);

    http_config cfg;
    http_config_default(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.routes = routes;
    cfg.app = &app;
    snprintf(p, sizeof p, "%s/www", tmpdir);
    cfg.www_root = p;
    cfg.sse_hub = app.hub;
    cfg.max_body_bytes = FIXTURE_MAX_BODY;
    char err[256];
    ck_assert_msg(http_start(&cfg, &app.srv, err, sizeof err) == GAND_OK, "%s", err);
    ck_assert_int_gt(http_server_port(app.srv), 0);
    snprintf(fixture_base, sizeof fixture_base, "http://127.0.0.1:%d", http_server_port(app.srv));
}

void fixture_teardown(void)
{
    http_stop(app.srv);
    http_sse_hub_free(app.hub);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    curl_global_cleanup();
}

/* ---- a small curl client ---- */


static void buf_add(buf *b, const char *p, size_t n)
{
    b->data = realloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    buf_add(ud, p, size * n);
    return size * n;
}


void reply_free(reply *r)
{
    free(r->body.data);
    free(r->headers.data);
}

typedef struct {
    const char *data;
    size_t len, off;
} upload;

static size_t read_upload(char *p, size_t size, size_t n, void *ud)
{
    upload *u = ud;
    size_t k = u->len - u->off < size * n ? u->len - u->off : size * n;
    if (k > 700)
        k = 700; /* several chunks */
    memcpy(p, u->data + u->off, k);
    u->off += k;
    return k;
}


reply do_request(request_opts o)
{
    reply r = {0};
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "%s%s", fixture_base, o.path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
    struct curl_slist *hl = NULL;
    for (int i = 0; i < 4 && o.headers[i]; i++)
        hl = curl_slist_append(hl, o.headers[i]);
    upload up = {o.body, o.body ? (size_t)o.body_len : 0, 0};
    if (o.chunked) {
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (o.body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o.body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, o.body_len);
    }
    if (o.method && strcmp(o.method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (o.method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o.method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    r.rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!r.body.data)
        buf_add(&r.body, "", 0);
    if (!r.headers.data)
        buf_add(&r.headers, "", 0);
    return r;
}

reply get(const char *path) { return do_request((request_opts){.path = path}); }

const char *header(const reply *r, const char *name, char *out, size_t n)
{
    out[0] = '\0';
    size_t len = strlen(name);
    for (const char *p = r->headers.data; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - p) > len && strncasecmp(p, name, len) == 0 && p[len] == ':') {
            const char *v = p + len + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(eol - v), v);
        }
        p = eol + 2;
    }
    return out;
}

/* ---- event streams ---- */


static int count_events(const char *s)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, "id: ")); p += 4)
        if (p == s || p[-1] == '\n')
            n++;
    return n;
}

static size_t sse_write(char *p, size_t size, size_t n, void *ud)
{
    sse_client *c = ud;
    pthread_mutex_lock(&c->lock);
    buf_add(&c->data, p, size * n);
    bool enough = c->want_events ? count_events(c->data.data) >= c->want_events
                                 : strstr(c->data.data, ": ping\n\n") != NULL;
    pthread_mutex_unlock(&c->lock);
    return enough ? 0 : size * n;
}

static void *sse_main(void *arg)
{
    sse_client *c = arg;
    CURL *h = curl_easy_init();
    char url[256], hdr[80];
    snprintf(url, sizeof url, "%s%s", fixture_base, c->path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &c->headers);
    struct curl_slist *hl = NULL;
    if (c->last_id[0]) {
        snprintf(hdr, sizeof hdr, "Last-Event-ID: %s", c->last_id);
        hl = curl_slist_append(hl, hdr);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    c->rc = curl_easy_perform(h);
    c->ended = now_s();
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return NULL;
}

sse_client *sse_open(const char *path, const char *last_id, int want)
{
    sse_client *c = calloc(1, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    snprintf(c->last_id, sizeof c->last_id, "%s", last_id ? last_id : "");
    c->want_events = want;
    pthread_mutex_init(&c->lock, NULL);
    ck_assert_int_eq(pthread_create(&c->thread, NULL, sse_main, c), 0);
    return c;
}

void sse_join(sse_client *c)
{
    if (!c->joined)
        pthread_join(c->thread, NULL);
    c->joined = true;
}

/* The pings may fall anywhere, so they are taken out. */
char *sse_close(sse_client *c)
{
    sse_join(c);
    char *text = c->data.data ? c->data.data : strdup("");
    for (char *p; (p = strstr(text, ": ping\n\n"));)
        memmove(p, p + 8, strlen(p + 8) + 1);
    free(c->headers.data);
    free(c);
    return text;
}

void wait_streams(size_t n)
{
    double t0 = now_s();
    while (http_sse_streams(app.hub) != n) {
        ck_assert_msg(now_s() - t0 < 5, "%zu streams, expected %zu", http_sse_streams(app.hub), n);
        usleep(2000);
    }
}
