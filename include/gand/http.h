/* The HTTP server: libmicrohttpd underneath, a route table on top.
 *
 * The caller (the daemon) owns a table of routes that ends in a sentinel:
 *
 *     static const http_route routes[] = {
 *         {"GET", "/livez", livez},
 *         {"POST", "/runs", runs_create},
 *         {"GET", "/runs/{id:int}", runs_get},
 *         {"DELETE", "/runs/{id:int}", runs_delete},
 *         {"GET", "/runs/{id:int}/samples/{step:int}.png", samples_png},
 *         HTTP_STATIC_ROUTE,
 *         HTTP_ROUTES_END,
 *     };
 *
 * Patterns. A pattern is "/" and segments separated by "/". A segment is
 * literal text, or one placeholder with optional literal text around it:
 * "{name}" matches one non-empty segment, "{name:int}" a decimal integer
 * from 0 to INT64_MAX (digits only), "{step:int}.png" an integer followed by
 * ".png". The last segment may be "{name*}", which matches the rest of the
 * path, slashes included, possibly empty (a catch-all). Matching is exact and
 * case-sensitive: "/runs/" does not match "/runs". Names are [a-z_][a-z0-9_]*.
 * At most HTTP_MAX_PARAMS placeholders per pattern.
 *
 * Routing. Specific routes (every route but catch-alls) are tried in table
 * order and the first whose pattern and method match gets the request.
 * Otherwise, when some specific pattern matches the path, the answer is 405
 * with an Allow header listing their methods in table order ("GET, HEAD,
 * DELETE"); when a specific pattern matches except that an integer parameter
 * is not one, the answer is 404 naming that parameter. Only then are
 * catch-all routes tried, in table order, by method; a catch-all never
 * causes a 405. Last comes the sentinel's handler, or the default 404.
 * A HEAD request goes to the GET route: libmicrohttpd sends the headers the
 * GET would get, Content-Length included, and no body.
 *
 * Handlers run on the server's worker threads, several at once. A
 * connection stays with the worker that accepted it, and libmicrohttpd
 * accepts up to ten at a time, so a handler that blocks delays the other
 * requests of its worker (20 concurrent 100 ms handlers on 4 workers take
 * 0.9 to 2 s, not 0.5): handlers must be short and bound their work.
 * A handler fills the response with exactly one of http_send, http_json,
 * http_problem, http_file or http_sse_start (a later call replaces an
 * earlier body), plus any headers. One that fills nothing produces a 500.
 *
 * Request bodies up to max_body_bytes are kept in memory; a larger one is
 * refused with 413 from its Content-Length before it is read, or, when
 * sent chunked, dropped as it arrives and answered 413 at its end. The
 * JSON content type is not required (see http_req_json).
 *
 * Errors are application/problem+json (RFC 9457):
 *     {"type":"about:blank","title":"Not Found","status":404,
 *      "detail":"<what is wrong and what to do>", "field":"<optional>"}
 *
 * Processes serving HTTP must ignore SIGPIPE (http_ignore_sigpipe), so that
 * a client hanging up mid-write cannot kill the daemon; libmicrohttpd blocks
 * it in its own threads, but not in the rest of the process.
 */
#ifndef GAND_HTTP_H
#define GAND_HTTP_H

#include "gand/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cJSON;

#define HTTP_MAX_PARAMS 8
#define HTTP_MAX_ROUTES 128
#define HTTP_PATH_MAX 1024 /* longer paths get 414 */

typedef struct http_server http_server;
typedef struct http_req http_req;
typedef struct http_resp http_resp;
typedef struct http_sse_hub http_sse_hub;
typedef struct http_sse_sink http_sse_sink;

typedef void (*http_handler)(const http_req *req, http_resp *resp);

typedef struct {
    const char *method;   /* "GET", "POST", "DELETE", ...; NULL in the sentinel */
    const char *pattern;  /* see above; NULL in the sentinel */
    http_handler handler; /* in the sentinel: the not-found handler, NULL for the default */
    unsigned flags;       /* HTTP_ROUTE_* */
} http_route;

/* The route answers without the bearer token (health checks, the page). */
#define HTTP_ROUTE_PUBLIC 1u

#define HTTP_ROUTES_END {NULL, NULL, NULL}
/* Serves GET / and every GET path no other route takes from the web root. */
#define HTTP_STATIC_ROUTE {"GET", "/{path*}", http_static_handler, HTTP_ROUTE_PUBLIC}

/* Checks every pattern, method and handler of a table and that it ends in a
 * sentinel within HTTP_MAX_ROUTES entries. GAND_EINVAL with a message
 * naming the bad entry. http_start calls it. */
gand_status http_routes_check(const http_route *routes, char *err, size_t errlen);

/* ---- the server ---- */

typedef struct {
    const char *listen;        /* "HOST:PORT", "[IPv6]:PORT" or ":PORT"; see http_parse_listen */
    const http_route *routes;  /* must outlive the server */
    void *app;                 /* handed to every handler by http_req_app */
    const char *www_root;      /* directory of static files; NULL: the static route answers 404 */
    http_sse_hub *sse_hub;     /* not owned; its streams are ended by http_stop; may be NULL */
    unsigned threads;          /* worker threads (default 4) */
    unsigned connection_limit; /* open connections, held streams included (default 256) */
    unsigned per_ip_limit;     /* open connections per client address (default 64) */
    unsigned timeout_s;        /* idle connections are closed after this (default 30) */
    size_t memory_limit_bytes; /* per connection, for headers and URL (default 64 KiB) */
    size_t max_body_bytes;     /* larger request bodies get 413 (default 1 MiB) */
    /* When set, every request but those of HTTP_ROUTE_PUBLIC routes needs
     * "Authorization: Bearer <token>" (or, for clients that cannot set
     * headers such as a browser's EventSource, "?access_token=<token>" on a
     * GET); others get 401 with "WWW-Authenticate: Bearer". Compared in
     * constant time. Copied at start. NULL: no authentication. */
    const char *auth_token;
} http_config;

#define HTTP_DEFAULT_LISTEN "127.0.0.1:8080"

/* Fills cfg with the defaults above (listen = HTTP_DEFAULT_LISTEN). */
void http_config_default(http_config *cfg);

/* Parses a listen address. "HOST:PORT" takes an IPv4 address or a host
 * name ("localhost"), "[ADDR]:PORT" an IPv6 address, ":PORT" means
 * 127.0.0.1 (say 0.0.0.0:PORT or [::]:PORT for every interface). PORT is
 * 0..65535; 0 picks a free port. GAND_EINVAL with a message showing the
 * accepted forms. */
gand_status http_parse_listen(const char *spec, struct sockaddr_storage *addr, char *err,
                              size_t errlen);

/* Starts listening and serving. On failure (bad config, address in use)
 * returns the status with a message and *out is NULL. */
gand_status http_start(const http_config *cfg, http_server **out, char *err, size_t errlen);

/* The port the server listens on (the chosen one when the config said 0). */
int http_server_port(const http_server *srv);

/* Ends the config's SSE streams (their clients see the stream end), waits
 * up to a second for them to finish, stops the server and frees it. Returns
 * after every handler has returned. NULL is a no-op. */
void http_stop(http_server *srv);

/* Sets SIGPIPE to be ignored in the whole process. The daemon's main calls
 * it before http_start. GAND_EINTERNAL if sigaction fails. */
gand_status http_ignore_sigpipe(void);

/* Prometheus text for the server's request counters (by route and status)
 * and latency histogram, and the number of open SSE streams: a NUL-ended
 * gand_malloc'd string, NULL when out of memory. Streams are counted but
 * left out of the latency histogram. */
char *http_stats_prometheus(const http_server *srv);

/* ---- requests ---- */

const char *http_req_method(const http_req *req); /* "GET", "HEAD", "POST", ... */
const char *http_req_path(const http_req *req);   /* percent-decoded, without the query */
void *http_req_app(const http_req *req);
/* The matched route's pattern, NULL before routing or when nothing matched. */
const char *http_req_route(const http_req *req);

/* Value of path parameter name, NULL when the pattern has none. */
const char *http_req_param(const http_req *req, const char *name);
/* Value of an integer parameter ("{id:int}"), -1 when there is none. */
int64_t http_req_param_int(const http_req *req, const char *name);

/* Percent-decoded query argument; "" for "?flag"; NULL when absent. */
const char *http_req_query(const http_req *req, const char *name);
/* Reads query argument name as a decimal integer in [min, max], def when
 * absent. Otherwise fills resp with a 400 problem naming the argument and
 * the range and returns GAND_EINVAL. */
gand_status http_req_query_int(const http_req *req, http_resp *resp, const char *name,
                               int64_t min, int64_t max, int64_t def, int64_t *out);

/* Request header (case-insensitive name), NULL when absent. */
const char *http_req_header(const http_req *req, const char *name);

/* The request body: NUL-terminated (the NUL is not counted), "" with
 * *len 0 when there is none. len may be NULL. */
const char *http_req_body(const http_req *req, size_t *len);

/* Parses the request body as JSON into *out (the caller cJSON_Deletes it).
 * The Content-Type may be absent, application/json, application/...+json,
 * text/plain or application/x-www-form-urlencoded (what `curl -d` sends);
 * others get 415. An empty body or malformed JSON gets 400 whose detail
 * gives the line, column and byte offset of the error. On failure resp
 * holds the problem and the status is returned (GAND_EINVAL, GAND_ENOMEM). */
gand_status http_req_json(const http_req *req, http_resp *resp, struct cJSON **out);

/* Parses len bytes of text as one JSON value (trailing whitespace only).
 * GAND_EFORMAT with a message giving line, column and byte offset and the
 * text near the error; GAND_ENOMEM. Thread-safe (no cJSON_GetErrorPtr). */
gand_status http_json_parse(const char *text, size_t len, struct cJSON **out, char *err,
                            size_t errlen);

/* Requests without a socket, for handler tests: target is "/path?query"
 * (percent-encoded as on the wire). NULL when out of memory, when target
 * does not start with "/" or its path is longer than HTTP_PATH_MAX, or
 * when method is longer than 15 bytes. */
http_req *http_req_create(const char *method, const char *target, void *app);
gand_status http_req_set_body(http_req *req, const void *body, size_t len);
gand_status http_req_add_header(http_req *req, const char *name, const char *value);
void http_req_free(http_req *req);

/* Routes req through the table and runs the handler into resp; what the
 * server does for each request, less the socket. */
void http_dispatch(const http_route *routes, http_req *req, http_resp *resp);

/* ---- responses ---- */

http_resp *http_resp_create(void);
void http_resp_free(http_resp *resp);

int http_resp_status(const http_resp *resp); /* 0 until something set it */
const char *http_resp_content_type(const http_resp *resp);
/* Body bytes of an in-memory response, NULL for none, files and streams. */
const void *http_resp_body(const http_resp *resp, size_t *len);
/* Value of an added header (case-insensitive), NULL when absent. */
const char *http_resp_header(const http_resp *resp, const char *name);
bool http_resp_is_file(const http_resp *resp);
bool http_resp_is_stream(const http_resp *resp);

/* Adds a header (name and value are copied), e.g. Location, Cache-Control.
 * Content-Type is set with the body, not here. GAND_EINVAL for a name or
 * value with CR/LF or an empty name, GAND_ENOMEM, GAND_ERANGE past 16. */
gand_status http_resp_add_header(http_resp *resp, const char *name, const char *value);

typedef enum {
    HTTP_BODY_STATIC, /* the bytes outlive the response (a literal) */
    HTTP_BODY_COPY,   /* copied now */
    HTTP_BODY_TAKE,   /* a gand_malloc'd buffer the response frees, also on failure */
} http_body_mode;

/* Sets status, Content-Type and body. On GAND_ENOMEM the response becomes
 * a 500 problem. */
gand_status http_send(http_resp *resp, int status, const char *content_type, const void *body,
                      size_t len, http_body_mode mode);

/* Sets status and the JSON text of json (application/json). json stays the
 * caller's. On GAND_ENOMEM the response becomes a 500 problem. */
gand_status http_json(http_resp *resp, int status, const struct cJSON *json);

/* Makes resp a problem+json response with status, its reason phrase as
 * title and the formatted detail, dropping any body and headers set
 * before. Never fails: when memory runs out the body is a fixed 500. */
void http_problem(http_resp *resp, int status, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same with a "field" member naming the input that is wrong. */
void http_problem_field(http_resp *resp, int status, const char *field, const char *detail_fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* Serves a regular file: 200, its size as Content-Length, content_type or
 * (NULL) the type for its extension. GAND_ENOTFOUND when path is missing
 * or not a regular file, GAND_EIO; resp is unchanged on failure, so the
 * caller writes its own 404 problem. */
gand_status http_file(http_resp *resp, const char *path, const char *content_type);

/* Sets the strong ETag "tag" (tag without quotes, no '"' or '\\' in it)
 * and, when the request's If-None-Match lists it (or is "*"), turns resp
 * into an empty 304 and returns true: the handler then stops. */
bool http_etag(const http_req *req, http_resp *resp, const char *tag);

/* Content-Type for a file name by extension: html, js, mjs, css, json,
 * png, svg, ico, txt, map, woff2; application/octet-stream otherwise. */
const char *http_content_type_for(const char *name);

/* ---- static files ---- */

/* Whether relpath (no leading "/") may name a static file: only
 * [A-Za-z0-9._/-], no empty segment, no segment starting with '.', at
 * most 255 bytes. "" is allowed and means index.html. */
bool http_static_path_ok(const char *relpath);

/* Serves root/relpath ("" = index.html) with ETag/304 and Cache-Control:
 * no-cache. A bad name, a missing file, anything but a regular file, or a
 * path that resolves outside root (a symlink) gets a 404 problem. */
void http_static_serve(const http_req *req, http_resp *resp, const char *root,
                       const char *relpath);

/* The handler of HTTP_STATIC_ROUTE: serves parameter "path" from the
 * config's www_root. */
void http_static_handler(const http_req *req, http_resp *resp);

/* ---- server-sent events ----
 *
 * A hub fans events out to the streams subscribed to a topic (a run id, or
 * any number the caller chooses). Publishers may be any thread. For each
 * topic, event ids must increase in the order events are published, and an
 * event must be published after it is stored (so a stream that reads the
 * store after subscribing misses nothing). Each event goes out as
 *     id: N\nevent: NAME\ndata: LINE\n...\n\n
 * with one data line per line of data. Streams get ": ping\n\n" when idle
 * for the ping interval, which also detects clients that went away.
 *
 * A stream whose client reads too slowly to keep HTTP_SSE_BUFFER_BYTES
 * queued is ended once what it holds is sent; the client reconnects with
 * Last-Event-ID and catches up from the store, so nothing is lost.
 */

#define HTTP_SSE_BUFFER_BYTES (1u << 20)

/* Creates a hub and its ping thread; ping_ms 0 means 15000. NULL on failure. */
http_sse_hub *http_sse_hub_create(unsigned ping_ms);
/* Frees the hub. Call it once no stream is left: after http_stop of every
 * server using it and http_resp_free of every response holding a stream.
 * NULL is a no-op. */
void http_sse_hub_free(http_sse_hub *hub);

/* Queues the event on every stream of topic. event may be NULL (the
 * client's default "message"); it and data must be UTF-8, event without
 * CR/LF (GAND_EINVAL). GAND_ENOMEM. */
gand_status http_sse_publish(http_sse_hub *hub, int64_t topic, int64_t id, const char *event,
                             const char *data);

/* Number of open streams. */
size_t http_sse_streams(http_sse_hub *hub);

/* Writes the stored events of topic with id > after_id (after_id is the
 * client's Last-Event-ID, -1 when it sent none) into sink, in id order,
 * with http_sse_sink_event, and returns GAND_OK; or an error status, which
 * becomes a 500 problem. */
typedef gand_status (*http_sse_backlog_fn)(void *ctx, int64_t topic, int64_t after_id,
                                           http_sse_sink *sink);

/* Appends one stored event to the stream being opened. GAND_EBUSY when
 * the stream's buffer is full: stop, the client will ask for the rest. */
gand_status http_sse_sink_event(http_sse_sink *sink, int64_t id, const char *event,
                                const char *data);

/* Makes resp a text/event-stream of topic: subscribes, then runs backlog
 * (may be NULL) for the events after the request's Last-Event-ID, then
 * streams live events, dropping those at or below the last id already
 * queued, so the client sees every event once, in order. On failure fills
 * resp with a problem (400 bad Last-Event-ID, 503 hub shutting down, 500)
 * and returns its status. */
gand_status http_sse_start(const http_req *req, http_resp *resp, http_sse_hub *hub, int64_t topic,
                           http_sse_backlog_fn backlog, void *ctx);

#endif
