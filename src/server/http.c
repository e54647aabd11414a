/* The libmicrohttpd daemon: setup, the access handler, request logging.
 *
 * libmicrohttpd calls the access handler several times per request: once
 * with the headers, once per piece of body, and once more when the request
 * is complete. The first call allocates the request state (*con_cls) and
 * routes; body pieces are kept up to the limit; the last call runs the
 * handler and queues the response. Only a body declared too large is
 * refused on the first call: a response queued then makes libmicrohttpd
 * skip the body and close the connection, which is what such a client
 * deserves and what keeps it from sending megabytes nobody reads. The
 * completion callback logs the request, counts it and frees the state.
 */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/log.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

struct http_server {
    struct MHD_Daemon *mhd;
    const http_route *routes;
    void *app;
    char *www_root; /* resolved at start */
    http_sse_hub *hub;
    size_t max_body;
    int port;
    http_stats *stats;
    char *token; /* NULL: no authentication */
    pthread_mutex_t log_lock;
    char last_log[256]; /* libmicrohttpd's last message, for start-up errors */
    _Atomic time_t limit_logged; /* when a connection-limit refusal was last warned of */
    _Atomic bool running;
};

typedef struct {
    http_req req;
    http_resp resp;
    http_match match;
    struct timespec t0;
    bool too_large, no_memory, responded, stream;
    int status;
} conn_state;

void http_config_default(http_config *cfg)
{
    *cfg = (http_config){
        .listen = HTTP_DEFAULT_LISTEN,
        .threads = 4,
        .connection_limit = 256,
        .per_ip_limit = 64,
        .timeout_s = 30,
        .memory_limit_bytes = 64 * 1024,
        .max_body_bytes = 1024 * 1024,
    };
}

gand_status http_ignore_sigpipe(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGPIPE, &sa, NULL) == 0 ? GAND_OK : GAND_EINTERNAL;
}

#define LISTEN_FORMS "write HOST:PORT (127.0.0.1:8080, localhost:8080), [IPv6]:PORT ([::1]:8080) " \
                     "or :PORT (127.0.0.1)"

gand_status http_parse_listen(const char *spec, struct sockaddr_storage *addr, char *err,
                              size_t errlen)
{
    memset(addr, 0, sizeof *addr);
    if (!spec || !*spec)
        return gand_errorf(err, errlen, GAND_EINVAL, "the listen address is empty: " LISTEN_FORMS);
    char host[256];
    const char *port;
    bool v6 = spec[0] == '[';
    if (v6) {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "listen address '%s' lacks ']:PORT' after the IPv6 address: "
                               LISTEN_FORMS, spec);
        if ((size_t)(close - spec - 1) >= sizeof host)
            return gand_errorf(err, errlen, GAND_EINVAL, "listen address '%.40s...' is too long",
                               spec);
        snprintf(host, sizeof host, "%.*s", (int)(close - spec - 1), spec + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon)
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "listen address '%s' lacks a port: " LISTEN_FORMS, spec);
        if (strchr(spec, ':') != colon)
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "listen address '%s' looks like an IPv6 address: put it in "
                               "brackets, as in [::1]:8080", spec);
        if ((size_t)(colon - spec) >= sizeof host)
            return gand_errorf(err, errlen, GAND_EINVAL, "listen address '%.40s...' is too long",
                               spec);
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
        if (!host[0])
            strcpy(host, "127.0.0.1");
        port = colon + 1;
    }
    size_t pn = strlen(port);
    long p = pn >= 1 && pn <= 5 && strspn(port, "0123456789") == pn ? strtol(port, NULL, 10) : -1;
    if (p < 0 || p > 65535)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "port '%s' in listen address '%s' must be a number from 0 to 65535 "
                           "(0 picks a free port)", port, spec);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "'%s' in listen address '%s' is not an IPv6 address", host, spec);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)p);
        return GAND_OK;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)addr;
    if (inet_pton(AF_INET, host, &a->sin_addr) == 1) {
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)p);
        return GAND_OK;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "cannot resolve host '%s' of listen address '%s' (%s): use an IP "
                           "address or a name this machine knows", host, spec, gai_strerror(rc));
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    if (addr->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)p);
    else
        a->sin_port = htons((uint16_t)p);
    freeaddrinfo(res);
    return GAND_OK;
}

#define LIMIT_LOG_S 60

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *srv = cls;
    char line[256];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    pthread_mutex_lock(&srv->log_lock);
    memcpy(srv->last_log, line, n + 1);
    pthread_mutex_unlock(&srv->log_lock);
    /* a client that hangs up (a closed browser tab ends its event stream)
     * is routine, not a warning */
    bool client_gone = strstr(line, "Failed to send") || strstr(line, "Failed to receive") ||
                       strstr(line, "no longer available") || strstr(line, "reset by peer");
    /* a flood of refused connections would flood the log: one warning per
     * LIMIT_LOG_S seconds says it is happening, the rest go to debug */
    bool limit = strstr(line, "connection limit") != NULL;
    if (limit) {
        time_t now = time(NULL);
        time_t last = atomic_load(&srv->limit_logged);
        if (now - last < LIMIT_LOG_S || !atomic_compare_exchange_strong(&srv->limit_logged, &last, now))
            client_gone = true;
    }
    if (!srv->running)
        gand_log_error("http: %s", line);
    else if (client_gone)
        gand_log_debug("http: %s", line);
    else
        gand_log_warn("http: %s%s", line,
                      limit ? " (further refusals in the next minute are logged at debug)" : "");
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* Hands resp to libmicrohttpd and queues it. */
static enum MHD_Result respond(conn_state *st, struct MHD_Connection *conn)
{
    http_resp *resp = &st->resp;
    struct MHD_Response *r = NULL;
    st->stream = resp->kind == RESP_STREAM;
    if (resp->kind == RESP_BYTES && resp->body_free) {
        r = MHD_create_response_from_buffer_with_free_callback(resp->len, resp->body,
                                                               resp->body_free);
        if (r)
            resp->body_free = NULL;
    } else if (resp->kind == RESP_BYTES) {
        r = MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_PERSISTENT);
    } else if (resp->kind == RESP_FILE) {
        r = MHD_create_response_from_fd64(resp->fd_size, resp->fd);
        if (r)
            resp->fd = -1;
    } else if (resp->kind == RESP_STREAM) {
        r = http_sse_mhd_response(resp, conn);
    }
    if (!r)
        return MHD_NO;
    bool ok = true;
    if (resp->content_type[0])
        ok = MHD_add_response_header(r, "Content-Type", resp->content_type) == MHD_YES;
    ok = ok && MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") == MHD_YES;
    for (int i = 0; ok && i < resp->nheaders; i++)
        ok = MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value) == MHD_YES;
    enum MHD_Result res = ok ? MHD_queue_response(conn, (unsigned)resp->status, r) : MHD_NO;
    MHD_destroy_response(r);
    st->responded = res == MHD_YES;
    st->status = resp->status;
    return res;
}

/* The first call, with the headers: state, routing, early refusals. */
/* Compares in time that depends on the lengths only, not on where the
 * first difference is. */
static bool same_secret(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < na; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
    return diff == 0;
}

static bool authorized(const http_server *srv, struct MHD_Connection *conn, const char *method)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0)
        return same_secret(h + 7, srv->token);
    const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "access_token");
    return q && strcmp(method, "GET") == 0 && same_secret(q, srv->token);
}

static enum MHD_Result first_call(http_server *srv, struct MHD_Connection *conn, const char *url,
                                  const char *method, void **con_cls)
{
    conn_state *st = gand_malloc(sizeof *st);
    if (!st)
        return MHD_NO;
    memset(&st->match, 0, sizeof st->match);
    http_req_init(&st->req);
    http_resp_init(&st->resp);
    clock_gettime(CLOCK_MONOTONIC, &st->t0);
    st->too_large = st->no_memory = st->responded = st->stream = false;
    st->status = 0;
    *con_cls = st;

    http_req *req = &st->req;
    req->conn = conn;
    req->app = srv->app;
    req->www_root = srv->www_root;
    snprintf(req->method, sizeof req->method, "%s", method);
    snprintf(req->path, sizeof req->path, "%s", url);
    st->match.route_index = -1;
    if (strlen(method) >= sizeof req->method) {
        http_problem(&st->resp, 501, "method '%.20s...' is not supported: use GET, POST or DELETE",
                     method);
        return respond(st, conn);
    }
    if (strlen(url) > HTTP_PATH_MAX) {
        http_problem(&st->resp, 414, "the path is longer than %d bytes: shorten it",
                     HTTP_PATH_MAX);
        return respond(st, conn);
    }
    http_route_find(srv->routes, req, &st->match);
    if (srv->token && !(req->route && (req->route->flags & HTTP_ROUTE_PUBLIC)) &&
        !authorized(srv, conn, method)) {
        st->match.status = 401; /* no body is read for a refused request */
        http_problem(&st->resp, 401,
                     "this gand requires a bearer token: send 'Authorization: Bearer <token>' "
                     "(the token is in the file auth_token_file of gand.conf names)");
        http_resp_add_header(&st->resp, "WWW-Authenticate", "Bearer realm=\"gand\"");
        return respond(st, conn);
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > srv->max_body) {
        if (st->match.status)
            http_route_fail(srv->routes, &st->match, req, &st->resp);
        else
            http_problem(&st->resp, 413, "the request body is %s bytes, more than the %zu this "
                         "server accepts: send a smaller body", cl, srv->max_body);
        return respond(st, conn);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    http_server *srv = cls;
    conn_state *st = *con_cls;
    if (!st)
        return first_call(srv, conn, url, method, con_cls);
    if (*upload_size) {
        /* a body nobody will read (no route) is dropped as it arrives; one
         * past the limit is dropped too, and answered when it ends */
        if (!st->match.status && !st->too_large && !st->no_memory) {
            if (st->req.body_len + *upload_size > srv->max_body)
                st->too_large = true;
            else if (http_req_body_append(&st->req, upload_data, *upload_size) != GAND_OK)
                st->no_memory = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->match.status)
        http_route_fail(srv->routes, &st->match, &st->req, &st->resp);
    else if (st->too_large)
        http_problem(&st->resp, 413, "the request body is larger than the %zu bytes this server "
                     "accepts: send a smaller body", srv->max_body);
    else if (st->no_memory)
        http_problem(&st->resp, 503, "the server ran out of memory reading the body; retry later");
    else
        http_run_handler(&st->req, &st->resp);
    return respond(st, conn);
}

/* Copies s for a log line with control bytes (a decoded %0a) made visible. */
static void loggable(char *out, size_t n, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = '\0';
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *srv = cls;
    conn_state *st = *con_cls;
    if (!st)
        return;
    double s = seconds_since(&st->t0);
    if (st->responded)
        /* a request refused before its handler (401) still counts under its
         * route; only unmatched paths count as "unmatched" */
        http_stats_record(srv->stats, st->match.route_index, st->status, s,
                          st->stream);
    if (gand_log_get_level() >= GAND_LOG_DEBUG) {
        char path[256];
        loggable(path, sizeof path, st->req.path);
        gand_log_debug("%s %s %d %.1f ms%s", st->req.method, path, st->status, s * 1e3,
                       toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (ended early)");
    }
    http_resp_clear(&st->resp);
    http_req_clear(&st->req);
    gand_free(st);
    *con_cls = NULL;
}

/* libmicrohttpd's unescaping, except that text holding "%00" is left as
 * it is: a decoded NUL would silently cut a path or a query value short
 * ("/runs/1%00x" read as "/runs/1"), while the undecoded "%" makes every
 * route, integer and static name refuse it. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    for (const char *p = s; (p = strchr(p, '%')); p++)
        if (p[1] == '0' && p[2] == '0')
            return strlen(s);
    return MHD_http_unescape(s);
}

gand_status http_start(const http_config *cfg, http_server **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->routes)
        return gand_errorf(err, errlen, GAND_EINVAL, "the server has no route table");
    gand_status s = http_routes_check(cfg->routes, err, errlen);
    if (s != GAND_OK)
        return s;
    struct sockaddr_storage addr;
    const char *listen = cfg->listen ? cfg->listen : HTTP_DEFAULT_LISTEN;
    s = http_parse_listen(listen, &addr, err, errlen);
    if (s != GAND_OK)
        return s;
    http_server *srv = gand_calloc(1, sizeof *srv);
    if (!srv)
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory starting the server");
    pthread_mutex_init(&srv->log_lock, NULL);
    srv->routes = cfg->routes;
    srv->app = cfg->app;
    srv->hub = cfg->sse_hub;
    if (cfg->auth_token && !(srv->token = gand_strdup(cfg->auth_token))) {
        s = gand_errorf(err, errlen, GAND_ENOMEM, "out of memory starting the server");
        goto err;
    }
    srv->max_body = cfg->max_body_bytes ? cfg->max_body_bytes : 1024 * 1024;
    if (cfg->www_root) {
        char real[PATH_MAX];
        struct stat st;
        if (!realpath(cfg->www_root, real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
            s = gand_errorf(err, errlen, GAND_ENOTFOUND, "the web root '%s' is not a directory: "
                            "create it or point www_root elsewhere", cfg->www_root);
            goto err;
        }
        if (!(srv->www_root = gand_strdup(real))) {
            s = gand_errorf(err, errlen, GAND_ENOMEM, "out of memory starting the server");
            goto err;
        }
    }
    if (!(srv->stats = http_stats_create(cfg->routes))) {
        s = gand_errorf(err, errlen, GAND_ENOMEM, "out of memory starting the server");
        goto err;
    }
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv,
        /* first, so that every message goes to the log */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads ? cfg->threads : 4),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->timeout_s ? cfg->timeout_s : 30),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(cfg->memory_limit_bytes ? cfg->memory_limit_bytes : 64 * 1024),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->connection_limit ? cfg->connection_limit : 256),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(cfg->per_ip_limit ? cfg->per_ip_limit : 64),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, srv,
        MHD_OPTION_END);
    if (!srv->mhd) {
        s = gand_errorf(err, errlen, GAND_EIO, "cannot serve HTTP on %s (%s): choose a free port "
                        "or an address of this machine", listen,
                        srv->last_log[0] ? srv->last_log : "libmicrohttpd refused to start");
        goto err;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    srv->running = true;
    *out = srv;
    return GAND_OK;
err:
    http_stats_free(srv->stats);
    gand_free(srv->www_root);
    gand_free(srv->token);
    pthread_mutex_destroy(&srv->log_lock);
    gand_free(srv);
    return s;
}

int http_server_port(const http_server *srv) { return srv->port; }

char *http_stats_prometheus(const http_server *srv) { return http_stats_text(srv->stats, srv->hub); }

void http_stop(http_server *srv)
{
    if (!srv)
        return;
    /* libmicrohttpd must not be stopped with a connection suspended: the
     * hub resumes every stream and ends it before the daemon goes */
    if (srv->hub)
        http_sse_hub_shutdown(srv->hub, 1000);
    MHD_stop_daemon(srv->mhd);
    http_stats_free(srv->stats);
    gand_free(srv->www_root);
    gand_free(srv->token);
    pthread_mutex_destroy(&srv->log_lock);
    gand_free(srv);
}
