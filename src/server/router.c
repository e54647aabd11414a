/* The route table: pattern matching, 404/405 answers, dispatch. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* One segment of a pattern: literal, or pre{name[:int|*]}post. */
typedef struct {
    const char *pre, *name, *post;
    size_t pre_len, name_len, post_len;
    bool is_int, rest;
} seg;

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* Parses the n bytes of segment s. False when it is malformed. */
static bool parse_seg(const char *s, size_t n, seg *g)
{
    memset(g, 0, sizeof *g);
    const char *open = memchr(s, '{', n);
    const char *close = memchr(s, '}', n);
    if (!open) {
        g->pre = s;
        g->pre_len = n;
        return !close;
    }
    if (!close || close < open)
        return false;
    g->pre = s;
    g->pre_len = (size_t)(open - s);
    g->name = open + 1;
    g->post = close + 1;
    g->post_len = n - (size_t)(g->post - s);
    if (memchr(g->post, '{', g->post_len) || memchr(g->post, '}', g->post_len))
        return false;
    const char *colon = memchr(g->name, ':', (size_t)(close - g->name));
    const char *end = colon ? colon : close;
    if (!colon && end > g->name && end[-1] == '*') {
        g->rest = true;
        end--;
        if (g->pre_len || g->post_len)
            return false;
    }
    if (colon) {
        if ((size_t)(close - colon - 1) != 3 || memcmp(colon + 1, "int", 3) != 0)
            return false;
        g->is_int = true;
    }
    g->name_len = (size_t)(end - g->name);
    if (g->name_len == 0)
        return false;
    for (size_t i = 0; i < g->name_len; i++)
        if (!name_char(g->name[i], i == 0))
            return false;
    return true;
}

static bool is_catch_all(const char *pattern) { return strstr(pattern, "*}") != NULL; }

enum { M_NO, M_YES, M_BADINT };

/* Parses a decimal integer 0..INT64_MAX made of digits only. */
static bool parse_int(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 19)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Matches path against pattern, filling req's params. M_BADINT: the path
 * fits the pattern but an integer parameter is not an integer; *bad then
 * points at that parameter. */
static int match(const char *pat, const char *path, http_req *req, const http_param **bad)
{
    req->nparams = 0;
    size_t used = 0;
    int result = M_YES;
    if (*pat != '/' || *path != '/')
        return M_NO;
    pat++;
    path++;
    for (;;) {
        size_t pn = strcspn(pat, "/");
        size_t xn = strcspn(path, "/");
        seg g;
        if (!parse_seg(pat, pn, &g))
            return M_NO;
        if (g.rest)
            xn = strlen(path);
        if (!g.name) {
            if (pn != xn || memcmp(pat, path, pn) != 0)
                return M_NO;
        } else {
            if ((!g.rest && xn < g.pre_len + g.post_len + 1) || req->nparams == HTTP_MAX_PARAMS ||
                memcmp(path, g.pre, g.pre_len) != 0 ||
                memcmp(path + xn - g.post_len, g.post, g.post_len) != 0)
                return M_NO;
            size_t vn = xn - g.pre_len - g.post_len;
            http_param *p = &req->params[req->nparams++];
            char *v = req->param_buf + used;
            memcpy(v, path + g.pre_len, vn);
            v[vn] = '\0';
            used += vn + 1;
            *p = (http_param){g.name, g.name_len, v, g.is_int, -1};
            if (g.is_int && !parse_int(v, vn, &p->ival) && result == M_YES) {
                result = M_BADINT;
                *bad = p;
            }
            if (g.rest)
                return result;
        }
        pat += pn;
        path += xn;
        if (*pat == '\0' && *path == '\0')
            return result;
        if (*pat != '/' || *path != '/')
            return M_NO;
        pat++;
        path++;
    }
}

static bool method_ok(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static void allow_add(char *allow, size_t n, const char *method)
{
    size_t len = strlen(method);
    for (const char *p = allow; *p;) {
        size_t t = strcspn(p, ",");
        if (t == len && memcmp(p, method, len) == 0)
            return;
        p += t;
        p += strspn(p, ", ");
    }
    size_t used = strlen(allow);
    snprintf(allow + used, n - used, "%s%s", used ? ", " : "", method);
}

void http_route_find(const http_route *routes, http_req *req, http_match *m)
{
    memset(m, 0, sizeof *m);
    m->route_index = -1;
    req->route = NULL;
    const http_param *bad = NULL;
    for (int i = 0; routes[i].pattern; i++) {
        const http_route *r = &routes[i];
        if (is_catch_all(r->pattern))
            continue;
        const http_param *b = NULL;
        int res = match(r->pattern, req->path, req, &b);
        if (res == M_YES && method_ok(r->method, req->method)) {
            req->route = r;
            m->route_index = i;
            return;
        }
        if (res == M_YES) {
            allow_add(m->allow, sizeof m->allow, r->method);
            if (strcmp(r->method, "GET") == 0)
                allow_add(m->allow, sizeof m->allow, "HEAD");
        } else if (res == M_BADINT && !bad) {
            bad = b;
            snprintf(m->field, sizeof m->field, "%.*s", (int)b->name_len, b->name);
            snprintf(m->detail, sizeof m->detail,
                     "'%s' in %s is not a valid %s: it must be a whole number such as 42",
                     b->value, req->path, m->field);
        }
    }
    req->nparams = 0;
    if (m->allow[0]) {
        m->status = 405;
        snprintf(m->detail, sizeof m->detail, "%s is not allowed on %s: use %s", req->method,
                 req->path, m->allow);
        m->field[0] = '\0';
        return;
    }
    if (bad) {
        m->status = 404;
        return;
    }
    for (int i = 0; routes[i].pattern; i++) {
        const http_route *r = &routes[i];
        const http_param *b;
        if (is_catch_all(r->pattern) && method_ok(r->method, req->method) &&
            match(r->pattern, req->path, req, &b) == M_YES) {
            req->route = r;
            m->route_index = i;
            return;
        }
    }
    req->nparams = 0;
    m->status = 404;
    snprintf(m->detail, sizeof m->detail, "nothing is at %s %s: check the method and the path",
             req->method, req->path);
}

void http_route_fail(const http_route *routes, const http_match *m, http_req *req,
                     http_resp *resp)
{
    if (m->status == 405) {
        http_problem(resp, 405, "%s", m->detail);
        http_resp_add_header(resp, "Allow", m->allow);
        return;
    }
    if (m->field[0]) {
        http_problem_field(resp, 404, m->field, "%s", m->detail);
        return;
    }
    const http_route *end = routes;
    while (end->pattern)
        end++;
    if (end->handler) {
        end->handler(req, resp);
        if (resp->kind != RESP_NONE)
            return;
    }
    http_problem(resp, 404, "%s", m->detail);
}

void http_run_handler(http_req *req, http_resp *resp)
{
    req->route->handler(req, resp);
    if (resp->kind == RESP_NONE || resp->status < 100 || resp->status > 999)
        http_problem(resp, 500, "the handler of %s %s produced no response; this is a bug in gand",
                     req->route->method, req->route->pattern);
}

void http_dispatch(const http_route *routes, http_req *req, http_resp *resp)
{
    http_match m;
    http_route_find(routes, req, &m);
    if (m.status)
        http_route_fail(routes, &m, req, resp);
    else
        http_run_handler(req, resp);
}

int http_routes_count(const http_route *routes)
{
    int n = 0;
    while (n < HTTP_MAX_ROUTES && routes[n].pattern)
        n++;
    return n;
}

static bool method_token(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n >= HTTP_METHOD_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return false;
    return true;
}

/* Checks one pattern's syntax; the message names the first fault. */
static gand_status check_pattern(const char *pat, int i, char *err, size_t errlen)
{
    if (pat[0] != '/')
        return gand_errorf(err, errlen, GAND_EINVAL, "route %d: pattern '%s' must start with '/'",
                           i, pat);
    int nparams = 0;
    for (const char *s = pat + 1;;) {
        size_t n = strcspn(s, "/");
        seg g;
        if (!parse_seg(s, n, &g))
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "route %d: segment '%.*s' of '%s' is malformed: use literal text "
                               "and at most one {name}, {name:int} or final {name*}",
                               i, (int)n, s, pat);
        if (g.name && ++nparams > HTTP_MAX_PARAMS)
            return gand_errorf(err, errlen, GAND_EINVAL, "route %d: '%s' has more than %d "
                               "parameters", i, pat, HTTP_MAX_PARAMS);
        if (g.rest && s[n] != '\0')
            return gand_errorf(err, errlen, GAND_EINVAL, "route %d: in '%s' a {name*} must be "
                               "the last segment", i, pat);
        if (s[n] == '\0')
            return GAND_OK;
        s += n + 1;
    }
}

gand_status http_routes_check(const http_route *routes, char *err, size_t errlen)
{
    for (int i = 0; i < HTTP_MAX_ROUTES; i++) {
        const http_route *r = &routes[i];
        if (!r->method && !r->pattern)
            return GAND_OK;
        if (!r->method || !r->pattern || !r->handler)
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "route %d lacks a method, pattern or handler", i);
        if (!method_token(r->method))
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "route %d: method '%s' must be an upper-case word like GET", i,
                               r->method);
        gand_status s = check_pattern(r->pattern, i, err, errlen);
        if (s != GAND_OK)
            return s;
    }
    return gand_errorf(err, errlen, GAND_EINVAL,
                       "the route table has no sentinel within %d entries: end it with "
                       "HTTP_ROUTES_END", HTTP_MAX_ROUTES);
}
