/* Shared internals of the server module: request, response and stream
 * structs and the functions the files of src/server call in each other. */
#ifndef GAND_SERVER_INTERNAL_H
#define GAND_SERVER_INTERNAL_H

#include "gand/http.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#define HTTP_METHOD_MAX 16
#define HTTP_RESP_MAX_HEADERS 16

typedef struct {
    char *name, *value;
} http_kv;

typedef struct {
    const char *name; /* points into the route's pattern */
    size_t name_len;
    const char *value; /* points into param_buf */
    bool is_int;
    int64_t ival;
} http_param;

struct http_req {
    char method[HTTP_METHOD_MAX];
    char path[HTTP_PATH_MAX + 1];
    struct MHD_Connection *conn; /* NULL for requests made by http_req_create */
    void *app;
    const char *www_root;
    const http_route *route;
    int nparams;
    http_param params[HTTP_MAX_PARAMS];
    char param_buf[HTTP_PATH_MAX + HTTP_MAX_PARAMS + 1];
    char *body; /* gand_malloc'd, one byte more than body_len for the NUL */
    size_t body_len, body_cap;
    /* requests without a socket keep their own query and headers */
    http_kv *query, *headers;
    int nquery, nheaders;
};

typedef enum { RESP_NONE, RESP_BYTES, RESP_FILE, RESP_STREAM } http_resp_kind;

typedef struct sse_sub sse_sub;

struct http_resp {
    int status;
    http_resp_kind kind;
    char content_type[96];
    void *body; /* RESP_BYTES */
    size_t len;
    void (*body_free)(void *); /* NULL: static bytes */
    int fd;                    /* RESP_FILE, -1 otherwise */
    uint64_t fd_size;
    sse_sub *stream; /* RESP_STREAM */
    http_kv headers[HTTP_RESP_MAX_HEADERS];
    int nheaders;
};

/* request.c / response.c */
void http_req_init(http_req *req);
void http_req_clear(http_req *req);
void http_resp_init(http_resp *resp);
void http_resp_clear(http_resp *resp);   /* releases everything, back to init state */
void http_resp_drop_body(http_resp *resp);
gand_status http_req_body_append(http_req *req, const char *data, size_t n);

/* router.c: outcome of routing one request */
typedef struct {
    int status;      /* 0 when a route matched, else 404 or 405 */
    int route_index; /* index into the table, -1 for none */
    char allow[96];  /* 405: the Allow header */
    char detail[HTTP_PATH_MAX + 160];
    char field[32];
} http_match;

/* Routes req (method and path) through the table, filling req's params
 * and route on a match. */
void http_route_find(const http_route *routes, http_req *req, http_match *m);
/* Turns a failed match into the response the sentinel gives. */
void http_route_fail(const http_route *routes, const http_match *m, http_req *req,
                     http_resp *resp);
/* Runs the matched handler and makes sure resp holds a response. */
void http_run_handler(http_req *req, http_resp *resp);
int http_routes_count(const http_route *routes);

/* sse.c */
/* Creates libmicrohttpd's response for a stream and hands the stream to
 * it (resp->stream becomes NULL). NULL on failure (the stream stays). */
struct MHD_Response *http_sse_mhd_response(http_resp *resp, struct MHD_Connection *conn);
void http_sse_sub_free(sse_sub *sub); /* a stream that never reached a socket */
/* Ends every stream and refuses new ones; then waits up to wait_ms for
 * the streams to finish. */
void http_sse_hub_shutdown(http_sse_hub *hub, unsigned wait_ms);

/* stats.c */
typedef struct http_stats http_stats;
http_stats *http_stats_create(const http_route *routes);
void http_stats_free(http_stats *st);
/* route_index -1: no route matched */
void http_stats_record(http_stats *st, int route_index, int status, double seconds, bool stream);
char *http_stats_text(http_stats *st, http_sse_hub *hub);

/* problem.c */
const char *http_reason(int status);

#endif
