/* Requests: accessors, the request body, and requests without a socket. */
#include "internal.h"

#include "gand/alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_req_init(http_req *req)
{
    memset(req, 0, sizeof *req);
}

static void kv_free(http_kv *kv, int n)
{
    for (int i = 0; i < n; i++) {
        gand_free(kv[i].name);
        gand_free(kv[i].value);
    }
    gand_free(kv);
}

void http_req_clear(http_req *req)
{
    gand_free(req->body);
    kv_free(req->query, req->nquery);
    kv_free(req->headers, req->nheaders);
    http_req_init(req);
}

const char *http_req_method(const http_req *req) { return req->method; }
const char *http_req_path(const http_req *req) { return req->path; }
void *http_req_app(const http_req *req) { return req->app; }
const char *http_req_route(const http_req *req) { return req->route ? req->route->pattern : NULL; }

static const http_param *find_param(const http_req *req, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < req->nparams; i++)
        if (req->params[i].name_len == n && memcmp(req->params[i].name, name, n) == 0)
            return &req->params[i];
    return NULL;
}

const char *http_req_param(const http_req *req, const char *name)
{
    const http_param *p = find_param(req, name);
    return p ? p->value : NULL;
}

int64_t http_req_param_int(const http_req *req, const char *name)
{
    const http_param *p = find_param(req, name);
    return p && p->is_int ? p->ival : -1;
}

static const char *kv_find(const http_kv *kv, int n, const char *name, bool nocase)
{
    for (int i = 0; i < n; i++)
        if ((nocase ? strcasecmp(kv[i].name, name) : strcmp(kv[i].name, name)) == 0)
            return kv[i].value;
    return NULL;
}

const char *http_req_query(const http_req *req, const char *name)
{
    if (req->conn) {
        /* "?flag" is stored with a NULL value, which the plain lookup
         * cannot tell from an absent argument */
        const char *v = NULL;
        size_t n;
        if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                          &n) != MHD_YES)
            return NULL;
        return v ? v : "";
    }
    return kv_find(req->query, req->nquery, name, false);
}

const char *http_req_header(const http_req *req, const char *name)
{
    if (req->conn)
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
    return kv_find(req->headers, req->nheaders, name, true);
}

const char *http_req_body(const http_req *req, size_t *len)
{
    if (len)
        *len = req->body_len;
    return req->body ? req->body : "";
}

gand_status http_req_query_int(const http_req *req, http_resp *resp, const char *name,
                               int64_t min, int64_t max, int64_t def, int64_t *out)
{
    const char *s = http_req_query(req, name);
    if (!s) {
        *out = def;
        return GAND_OK;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    bool digits = *s && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'));
    if (!digits || *end || errno == ERANGE || v < min || v > max) {
        http_problem_field(resp, 400, name,
                           "query parameter '%s' must be an integer from %" PRId64 " to %" PRId64
                           ", got '%.64s'",
                           name, min, max, s);
        return GAND_EINVAL;
    }
    *out = v;
    return GAND_OK;
}

gand_status http_req_body_append(http_req *req, const char *data, size_t n)
{
    if (req->body_len + n + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 1024;
        while (cap < req->body_len + n + 1)
            cap *= 2;
        char *b = gand_realloc(req->body, cap);
        if (!b)
            return GAND_ENOMEM;
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return GAND_OK;
}

/* ---- requests without a socket ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX in place (and '+' as space when plus), as libmicrohttpd does
 * for the path and the query arguments. */
static void unescape(char *s, bool plus)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
            *w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
            r += 2;
        } else {
            *w++ = plus && *r == '+' ? ' ' : *r;
        }
    }
    *w = '\0';
}

static gand_status kv_add(http_kv **kv, int *n, const char *name, size_t nlen, const char *value,
                          size_t vlen, bool decode)
{
    http_kv *grown = gand_realloc(*kv, (size_t)(*n + 1) * sizeof **kv);
    if (!grown)
        return GAND_ENOMEM;
    *kv = grown;
    char *k = gand_malloc(nlen + 1), *v = gand_malloc(vlen + 1);
    if (!k || !v) {
        gand_free(k);
        gand_free(v);
        return GAND_ENOMEM;
    }
    memcpy(k, name, nlen);
    k[nlen] = '\0';
    memcpy(v, value, vlen);
    v[vlen] = '\0';
    if (decode) {
        unescape(k, true);
        unescape(v, true);
    }
    grown[*n] = (http_kv){k, v};
    (*n)++;
    return GAND_OK;
}

static gand_status parse_query(http_req *req, const char *q)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t klen = eq ? (size_t)(eq - q) : n;
        const char *v = eq ? eq + 1 : q + n;
        size_t vlen = eq ? n - klen - 1 : 0;
        if (klen > 0 && kv_add(&req->query, &req->nquery, q, klen, v, vlen, true) != GAND_OK)
            return GAND_ENOMEM;
        q += n;
        if (*q == '&')
            q++;
    }
    return GAND_OK;
}

http_req *http_req_create(const char *method, const char *target, void *app)
{
    size_t plen = strcspn(target, "?");
    if (target[0] != '/' || plen > HTTP_PATH_MAX || strlen(method) >= HTTP_METHOD_MAX)
        return NULL;
    http_req *req = gand_malloc(sizeof *req);
    if (!req)
        return NULL;
    http_req_init(req);
    strcpy(req->method, method);
    memcpy(req->path, target, plen);
    req->path[plen] = '\0';
    unescape(req->path, false);
    req->app = app;
    if (target[plen] == '?' && parse_query(req, target + plen + 1) != GAND_OK)
        goto err;
    return req;
err:
    http_req_free(req);
    return NULL;
}

gand_status http_req_set_body(http_req *req, const void *body, size_t len)
{
    req->body_len = 0;
    return http_req_body_append(req, body, len);
}

gand_status http_req_add_header(http_req *req, const char *name, const char *value)
{
    return kv_add(&req->headers, &req->nheaders, name, strlen(name), value, strlen(value), false);
}

void http_req_free(http_req *req)
{
    if (!req)
        return;
    http_req_clear(req);
    gand_free(req);
}
