/* Server module without sockets: route matching, 404/405, requests,
 * problems, JSON bodies, listen addresses, stream set-up errors. */
#include "gand/alloc.h"
#include "gand/http.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Echoes the route and its parameters as "pattern|name=value|...". */
static void echo(const http_req *req, http_resp *resp)
{
    static const char *const names[] = {"id", "step", "name", "path"};
    char out[512];
    int n = snprintf(out, sizeof out, "%s %s", http_req_method(req), http_req_route(req));
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = http_req_param(req, names[i]);
        if (v)
            n += snprintf(out + n, sizeof out - (size_t)n, "|%s=%s(%lld)", names[i], v,
                          (long long)http_req_param_int(req, names[i]));
    }
    http_send(resp, 200, "text/plain", out, (size_t)n, HTTP_BODY_COPY);
}

static void livez(const http_req *req, http_resp *resp)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    http_json(resp, 200, o);
    cJSON_Delete(o);
}

static void silent(const http_req *req, http_resp *resp) {}

static void custom_404(const http_req *req, http_resp *resp)
{
    http_problem(resp, 404, "custom: %s", http_req_path(req));
}

static const http_route routes[] = {
    {"GET", "/livez", livez},
    {"GET", "/runs", echo},
    {"POST", "/runs", echo},
    {"GET", "/runs/{id:int}", echo},
    {"DELETE", "/runs/{id:int}", echo},
    {"POST", "/runs/{id:int}/cancel", echo},
    {"GET", "/runs/{id:int}/samples/{step:int}.png", echo},
    {"GET", "/datasets/{name}", echo},
    {"GET", "/silent", silent},
    {"GET", "/files/{path*}", echo},
    {"GET", "/{path*}", echo},
    HTTP_ROUTES_END,
};

static const http_route routes_custom[] = {
    {"GET", "/livez", livez},
    {NULL, NULL, custom_404},
};

typedef struct {
    int status;
    char body[2048];
    char allow[96];
    char ctype[96];
} result;

static result run(const http_route *table, const char *method, const char *target)
{
    result r = {0};
    http_req *req = http_req_create(method, target, NULL);
    ck_assert_ptr_nonnull(req);
    http_resp *resp = http_resp_create();
    http_dispatch(table, req, resp);
    r.status = http_resp_status(resp);
    size_t len;
    const char *b = http_resp_body(resp, &len);
    ck_assert_uint_lt(len, sizeof r.body);
    if (b)
        memcpy(r.body, b, len);
    const char *allow = http_resp_header(resp, "allow");
    snprintf(r.allow, sizeof r.allow, "%s", allow ? allow : "");
    snprintf(r.ctype, sizeof r.ctype, "%s", http_resp_content_type(resp));
    http_resp_free(resp);
    http_req_free(req);
    return r;
}

START_TEST(test_routes_check)
{
    char err[256];
    ck_assert_int_eq(http_routes_check(routes, err, sizeof err), GAND_OK);
    static const struct {
        const char *method, *pattern, *expect;
    } bad[] = {
        {"GET", "runs", "must start with '/'"},
        {"GET", "/runs/{id", "malformed"},
        {"GET", "/runs/{id:float}", "malformed"},
        {"GET", "/runs/{Id}", "malformed"},
        {"GET", "/runs/{}", "malformed"},
        {"GET", "/runs/{a}{b}", "malformed"},
        {"GET", "/x{path*}", "malformed"},
        {"GET", "/{path*}/more", "last segment"},
        {"get", "/runs", "upper-case"},
        {"GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", "more than 8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_route t[] = {{bad[i].method, bad[i].pattern, echo}, HTTP_ROUTES_END};
        ck_assert_int_eq(http_routes_check(t, err, sizeof err), GAND_EINVAL);
        ck_assert_msg(strstr(err, bad[i].expect), "%s: %s", bad[i].pattern, err);
    }
    http_route nohandler[] = {{"GET", "/x", NULL}, HTTP_ROUTES_END};
    ck_assert_int_eq(http_routes_check(nohandler, err, sizeof err), GAND_EINVAL);
    http_route *endless = calloc(HTTP_MAX_ROUTES, sizeof *endless);
    for (int i = 0; i < HTTP_MAX_ROUTES; i++)
        endless[i] = (http_route){"GET", "/x", echo};
    ck_assert_int_eq(http_routes_check(endless, err, sizeof err), GAND_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "sentinel"));
    free(endless);
}
END_TEST

START_TEST(test_match_params)
{
    result r = run(routes, "GET", "/livez");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    ck_assert_str_eq(r.ctype, "application/json");

    ck_assert_str_eq(run(routes, "GET", "/runs").body, "GET /runs");
    ck_assert_str_eq(run(routes, "POST", "/runs").body, "POST /runs");
    ck_assert_str_eq(run(routes, "GET", "/runs/42").body, "GET /runs/{id:int}|id=42(42)");
    ck_assert_str_eq(run(routes, "GET", "/runs/0").body, "GET /runs/{id:int}|id=0(0)");
    ck_assert_str_eq(run(routes, "GET", "/runs/9223372036854775807").body,
                     "GET /runs/{id:int}|id=9223372036854775807(9223372036854775807)");
    ck_assert_str_eq(run(routes, "DELETE", "/runs/7").body, "DELETE /runs/{id:int}|id=7(7)");
    ck_assert_str_eq(run(routes, "POST", "/runs/7/cancel").body,
                     "POST /runs/{id:int}/cancel|id=7(7)");
    ck_assert_str_eq(run(routes, "GET", "/runs/42/samples/1500.png").body,
                     "GET /runs/{id:int}/samples/{step:int}.png|id=42(42)|step=1500(1500)");
    /* a string parameter has no integer value */
    ck_assert_str_eq(run(routes, "GET", "/datasets/fashion-mnist").body,
                     "GET /datasets/{name}|name=fashion-mnist(-1)");
    /* the path is percent-decoded before matching, as libmicrohttpd does */
    ck_assert_str_eq(run(routes, "GET", "/datasets/a%20b").body,
                     "GET /datasets/{name}|name=a b(-1)");
    /* catch-alls take the rest of the path, slashes and empty included */
    ck_assert_str_eq(run(routes, "GET", "/files/a/b.txt").body,
                     "GET /files/{path*}|path=a/b.txt(-1)");
    ck_assert_str_eq(run(routes, "GET", "/files/").body, "GET /files/{path*}|path=(-1)");
    ck_assert_str_eq(run(routes, "GET", "/").body, "GET /{path*}|path=(-1)");
    /* near misses fall through to the catch-all */
    ck_assert_str_eq(run(routes, "GET", "/runs/42/samples/1500.gif").body,
                     "GET /{path*}|path=runs/42/samples/1500.gif(-1)");
    ck_assert_str_eq(run(routes, "GET", "/runs/").body, "GET /{path*}|path=runs/(-1)");
    ck_assert_str_eq(run(routes, "GET", "/runs/42/").body, "GET /{path*}|path=runs/42/(-1)");
    ck_assert_str_eq(run(routes, "GET", "/livez/x").body, "GET /{path*}|path=livez/x(-1)");
    ck_assert_str_eq(run(routes, "GET", "/runs//samples/1.png").body,
                     "GET /{path*}|path=runs//samples/1.png(-1)");
    /* HEAD goes to the GET route and keeps its method */
    ck_assert_str_eq(run(routes, "HEAD", "/runs/3").body, "HEAD /runs/{id:int}|id=3(3)");
}
END_TEST

START_TEST(test_bad_integer_param_is_404)
{
    static const char *const bad[] = {"/runs/abc", "/runs/-1", "/runs/+1", "/runs/1e3",
                                      "/runs/9223372036854775808", "/runs/abc/samples/1.png",
                                      "/runs/1/samples/x.png", "/runs/%201"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        result r = run(routes, "GET", bad[i]);
        ck_assert_msg(r.status == 404, "%s: %d", bad[i], r.status);
        ck_assert_str_eq(r.ctype, "application/problem+json");
        ck_assert_msg(strstr(r.body, "must be a whole number"), "%s: %s", bad[i], r.body);
        ck_assert_msg(strstr(r.body, "\"field\":"), "%s: %s", bad[i], r.body);
    }
    result r = run(routes, "GET", "/runs/abc");
    ck_assert_str_eq(r.body, "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
                             "\"detail\":\"'abc' in /runs/abc is not a valid id: it must be a "
                             "whole number such as 42\",\"field\":\"id\"}");
    r = run(routes, "GET", "/runs/1/samples/x.png");
    ck_assert_ptr_nonnull(strstr(r.body, "\"field\":\"step\""));
}
END_TEST

START_TEST(test_405_allow)
{
    result r = run(routes, "PUT", "/runs/5");
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(r.allow, "GET, HEAD, DELETE");
    ck_assert_str_eq(r.ctype, "application/problem+json");
    ck_assert_str_eq(r.body, "{\"type\":\"about:blank\",\"title\":\"Method Not Allowed\","
                             "\"status\":405,\"detail\":\"PUT is not allowed on /runs/5: use "
                             "GET, HEAD, DELETE\"}");
    r = run(routes, "DELETE", "/runs");
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(r.allow, "GET, HEAD, POST");
    r = run(routes, "GET", "/runs/5/cancel");
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(r.allow, "POST");
    r = run(routes, "POST", "/livez");
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(r.allow, "GET, HEAD");
    /* a catch-all never makes a 405: an unknown path is a 404 for any method */
    r = run(routes, "POST", "/nowhere");
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.allow, "");
    ck_assert_ptr_nonnull(strstr(r.body, "nothing is at POST /nowhere"));
}
END_TEST

START_TEST(test_sentinel_and_default_404)
{
    result r = run(routes_custom, "GET", "/nowhere");
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "custom: /nowhere"));
    static const http_route plain[] = {{"GET", "/livez", livez}, HTTP_ROUTES_END};
    r = run(plain, "GET", "/nowhere");
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.ctype, "application/problem+json");
    ck_assert_str_eq(r.body, "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
                             "\"detail\":\"nothing is at GET /nowhere: check the method and the "
                             "path\"}");
    /* a handler that answers nothing is a 500, not an empty 200 */
    r = run(routes, "GET", "/silent");
    ck_assert_int_eq(r.status, 500);
    ck_assert_ptr_nonnull(strstr(r.body, "GET /silent produced no response"));
}
END_TEST

START_TEST(test_query_and_headers)
{
    http_req *req = http_req_create("GET", "/runs?limit=5&name=a%20b&flag&x=1+2&limit=9", NULL);
    ck_assert_ptr_nonnull(req);
    ck_assert_str_eq(http_req_path(req), "/runs");
    ck_assert_str_eq(http_req_query(req, "limit"), "5");
    ck_assert_str_eq(http_req_query(req, "name"), "a b");
    ck_assert_str_eq(http_req_query(req, "flag"), "");
    ck_assert_str_eq(http_req_query(req, "x"), "1 2");
    ck_assert_ptr_null(http_req_query(req, "missing"));
    ck_assert_int_eq(http_req_add_header(req, "X-Thing", "v"), GAND_OK);
    ck_assert_str_eq(http_req_header(req, "x-thing"), "v");
    ck_assert_ptr_null(http_req_header(req, "Content-Type"));

    http_resp *resp = http_resp_create();
    int64_t v;
    ck_assert_int_eq(http_req_query_int(req, resp, "limit", 1, 100, 20, &v), GAND_OK);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(http_req_query_int(req, resp, "missing", 1, 100, 20, &v), GAND_OK);
    ck_assert_int_eq(v, 20);
    ck_assert_int_eq(http_resp_status(resp), 0);
    ck_assert_int_eq(http_req_query_int(req, resp, "limit", 6, 100, 20, &v), GAND_EINVAL);
    ck_assert_int_eq(http_resp_status(resp), 400);
    const char *b = http_resp_body(resp, NULL);
    ck_assert_ptr_nonnull(strstr(b, "query parameter 'limit' must be an integer from 6 to 100, "
                                    "got '5'"));
    ck_assert_ptr_nonnull(strstr(b, "\"field\":\"limit\""));
    ck_assert_int_eq(http_req_query_int(req, resp, "name", 0, 9, 0, &v), GAND_EINVAL);
    http_resp_free(resp);
    http_req_free(req);

    ck_assert_ptr_null(http_req_create("GET", "runs", NULL));
    char longpath[HTTP_PATH_MAX + 3];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    ck_assert_ptr_null(http_req_create("GET", longpath, NULL));
}
END_TEST

START_TEST(test_problem_bodies)
{
    http_resp *resp = http_resp_create();
    http_resp_add_header(resp, "Location", "/runs/1");
    http_problem(resp, 422, "field \"lr\" must be > 0, got %d", -1);
    ck_assert_int_eq(http_resp_status(resp), 422);
    ck_assert_str_eq(http_resp_content_type(resp), "application/problem+json");
    ck_assert_ptr_null(http_resp_header(resp, "Location"));
    ck_assert_str_eq(http_resp_body(resp, NULL),
                     "{\"type\":\"about:blank\",\"title\":\"Unprocessable Content\",\"status\":422,"
                     "\"detail\":\"field \\\"lr\\\" must be > 0, got -1\"}");
    http_problem_field(resp, 409, "state", "run %d is running: cancel it first", 3);
    ck_assert_str_eq(http_resp_body(resp, NULL),
                     "{\"type\":\"about:blank\",\"title\":\"Conflict\",\"status\":409,"
                     "\"detail\":\"run 3 is running: cancel it first\",\"field\":\"state\"}");
    http_problem(resp, 503, "busy");
    ck_assert_ptr_nonnull(strstr(http_resp_body(resp, NULL), "\"title\":\"Service Unavailable\""));
    http_problem(resp, 413, "big");
    ck_assert_ptr_nonnull(strstr(http_resp_body(resp, NULL), "\"status\":413"));

    ck_assert_int_eq(http_resp_add_header(resp, "X-A", "b\r\nInjected: 1"), GAND_EINVAL);
    ck_assert_int_eq(http_resp_add_header(resp, "Bad Name", "v"), GAND_EINVAL);
    http_resp_free(resp);
}
END_TEST

START_TEST(test_send_out_of_memory)
{
    /* a copy that cannot be made leaves a 500 problem, never a half response */
    http_resp *resp = http_resp_create();
    gand_alloc_fail_at(1, false);
    ck_assert_int_eq(http_send(resp, 200, "text/plain", "hello", 5, HTTP_BODY_COPY), GAND_ENOMEM);
    gand_alloc_fail_at(0, false);
    ck_assert_int_eq(http_resp_status(resp), 500);
    ck_assert_str_eq(http_resp_content_type(resp), "application/problem+json");
    http_resp_free(resp);

    /* every allocation of request creation may fail without a leak */
    for (long n = 1;; n++) {
        gand_alloc_fail_at(n, false);
        http_req *req = http_req_create("GET", "/runs?a=1&b=2", NULL);
        long failures = gand_alloc_failures();
        gand_alloc_fail_at(0, false);
        if (failures == 0) {
            ck_assert_ptr_nonnull(req);
            ck_assert_str_eq(http_req_query(req, "b"), "2");
            http_req_free(req);
            break;
        }
        ck_assert_ptr_null(req);
        ck_assert_int_lt(n, 50);
    }
}
END_TEST

START_TEST(test_json_parse_positions)
{
    char err[320];
    cJSON *j;
    ck_assert_int_eq(http_json_parse("{\"a\":1,}", 8, &j, err, sizeof err), GAND_EFORMAT);
    ck_assert_ptr_null(j);
    ck_assert_msg(strstr(err, "line 1, column 8 (byte 7), near '{\"a\":1,}'"), "%s", err);

    const char *multi = "{\n  \"a\": 1\n  \"b\": 2\n}";
    ck_assert_int_eq(http_json_parse(multi, strlen(multi), &j, err, sizeof err), GAND_EFORMAT);
    ck_assert_msg(strstr(err, "line 3, column 3 (byte 13), near '  \"b\": 2'"), "%s", err);
    ck_assert_ptr_null(strstr(err, "cut short"));

    ck_assert_int_eq(http_json_parse("{\"a\":", 5, &j, err, sizeof err), GAND_EFORMAT);
    ck_assert_msg(strstr(err, "near '{\"a\":'"), "%s", err);
    ck_assert_msg(strstr(err, "cut short before its closing brace"), "%s", err);

    ck_assert_int_eq(http_json_parse("{} x", 4, &j, err, sizeof err), GAND_EFORMAT);
    ck_assert_msg(strstr(err, "unexpected text after the JSON value at line 1, column 4"), "%s",
                  err);

    ck_assert_int_eq(http_json_parse(" \n ", 3, &j, err, sizeof err), GAND_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "empty"));

    /* a NUL inside the length is an error at its position, not the end */
    ck_assert_int_eq(http_json_parse("{}\0{}", 5, &j, err, sizeof err), GAND_EFORMAT);
    ck_assert_msg(strstr(err, "byte 2"), "%s", err);

    ck_assert_int_eq(http_json_parse("{\"a\": [1, 2]}\n", 14, &j, err, sizeof err), GAND_OK);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "a")), 2);
    cJSON_Delete(j);
}
END_TEST

static result json_request(const char *ctype, const char *body)
{
    result r = {0};
    http_req *req = http_req_create("POST", "/runs", NULL);
    if (ctype)
        http_req_add_header(req, "Content-Type", ctype);
    http_req_set_body(req, body, strlen(body));
    http_resp *resp = http_resp_create();
    cJSON *j = NULL;
    gand_status s = http_req_json(req, resp, &j);
    r.status = s == GAND_OK ? 200 : http_resp_status(resp);
    if (s == GAND_OK) {
        ck_assert_ptr_nonnull(j);
        char *t = cJSON_PrintUnformatted(j);
        snprintf(r.body, sizeof r.body, "%s", t);
        cJSON_free(t);
    } else {
        ck_assert_ptr_null(j);
        snprintf(r.body, sizeof r.body, "%s", (const char *)http_resp_body(resp, NULL));
    }
    cJSON_Delete(j);
    http_resp_free(resp);
    http_req_free(req);
    return r;
}

START_TEST(test_json_body_content_types)
{
    static const char *const ok[] = {NULL,
                                     "application/json",
                                     "application/json; charset=utf-8",
                                     "Application/JSON",
                                     "application/x-www-form-urlencoded",
                                     "text/plain",
                                     "application/merge-patch+json"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        result r = json_request(ok[i], "{\"kind\":\"dcgan\"}");
        ck_assert_msg(r.status == 200, "%s: %d %s", ok[i], r.status, r.body);
        ck_assert_str_eq(r.body, "{\"kind\":\"dcgan\"}");
    }
    static const char *const refused[] = {"multipart/form-data; boundary=x", "text/html",
                                          "application/xml", "application/+json"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        result r = json_request(refused[i], "{}");
        ck_assert_msg(r.status == 415, "%s: %d", refused[i], r.status);
        ck_assert_ptr_nonnull(strstr(r.body, "Content-Type: application/json"));
    }
    result r = json_request("application/json", "");
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "the request body is empty"));
    r = json_request(NULL, "{\"kind\" \"dcgan\"}");
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(strstr(r.body, "not valid JSON: malformed JSON at line 1, column 9 (byte 8)"),
                  "%s", r.body);
}
END_TEST

START_TEST(test_parse_listen)
{
    struct sockaddr_storage a;
    char err[256];
    char ip[64];
    ck_assert_int_eq(http_parse_listen("127.0.0.1:8080", &a, err, sizeof err), GAND_OK);
    ck_assert_int_eq(a.ss_family, AF_INET);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&a)->sin_port), 8080);
    ck_assert_int_eq(http_parse_listen(":9001", &a, err, sizeof err), GAND_OK);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, ip, sizeof ip);
    ck_assert_str_eq(ip, "127.0.0.1");
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&a)->sin_port), 9001);
    ck_assert_int_eq(http_parse_listen("0.0.0.0:0", &a, err, sizeof err), GAND_OK);
    ck_assert_int_eq(http_parse_listen("[::1]:65535", &a, err, sizeof err), GAND_OK);
    ck_assert_int_eq(a.ss_family, AF_INET6);
    ck_assert_int_eq(ntohs(((struct sockaddr_in6 *)&a)->sin6_port), 65535);
    ck_assert_int_eq(http_parse_listen("localhost:80", &a, err, sizeof err), GAND_OK);
    ck_assert(a.ss_family == AF_INET || a.ss_family == AF_INET6);

    static const char *const bad[][2] = {
        {"", "empty"},
        {"8080", "lacks a port"},
        {"localhost", "lacks a port"},
        {"::1:8080", "put it in brackets"},
        {"127.0.0.1:", "must be a number from 0 to 65535"},
        {"127.0.0.1:65536", "must be a number from 0 to 65535"},
        {"127.0.0.1:80a", "must be a number from 0 to 65535"},
        {"127.0.0.1:-1", "must be a number from 0 to 65535"},
        {"[::1]8080", "lacks ']:PORT'"},
        {"[::1", "lacks ']:PORT'"},
        {"[zz]:80", "is not an IPv6 address"},
        {"no.such.host.invalid:80", "cannot resolve host"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(http_parse_listen(bad[i][0], &a, err, sizeof err), GAND_EINVAL);
        ck_assert_msg(strstr(err, bad[i][1]), "'%s': %s", bad[i][0], err);
    }
}
END_TEST

static gand_status failing_backlog(void *ctx, int64_t topic, int64_t after, http_sse_sink *sink)
{
    return GAND_EDB;
}

START_TEST(test_sse_start_errors)
{
    http_sse_hub *hub = http_sse_hub_create(0);
    ck_assert_ptr_nonnull(hub);
    static const char *const bad[] = {"abc", "-1", "1x", " 1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_req *req = http_req_create("GET", "/runs/1/events", NULL);
        http_req_add_header(req, "Last-Event-ID", bad[i]);
        http_resp *resp = http_resp_create();
        ck_assert_int_eq(http_sse_start(req, resp, hub, 1, NULL, NULL), GAND_EINVAL);
        ck_assert_int_eq(http_resp_status(resp), 400);
        ck_assert_ptr_nonnull(strstr(http_resp_body(resp, NULL), "is not an event id"));
        http_resp_free(resp);
        http_req_free(req);
    }
    http_req *req = http_req_create("GET", "/runs/1/events", NULL);
    http_resp *resp = http_resp_create();
    ck_assert_int_eq(http_sse_start(req, resp, hub, 1, failing_backlog, NULL), GAND_EDB);
    ck_assert_int_eq(http_resp_status(resp), 500);
    ck_assert_uint_eq(http_sse_streams(hub), 0);

    ck_assert_int_eq(http_sse_start(req, resp, hub, 1, NULL, NULL), GAND_OK);
    ck_assert_int_eq(http_resp_status(resp), 200);
    ck_assert(http_resp_is_stream(resp));
    ck_assert_str_eq(http_resp_content_type(resp), "text/event-stream");
    ck_assert_str_eq(http_resp_header(resp, "Cache-Control"), "no-store");
    ck_assert_uint_eq(http_sse_streams(hub), 1);
    ck_assert_int_eq(http_sse_publish(hub, 1, 1, "bad\nname", "x"), GAND_EINVAL);
    ck_assert_int_eq(http_sse_publish(hub, 1, -1, NULL, "x"), GAND_EINVAL);
    ck_assert_int_eq(http_sse_publish(hub, 1, 1, NULL, "x"), GAND_OK);
    /* a stream that never reached a socket unsubscribes when its response goes */
    http_problem(resp, 500, "replaced");
    ck_assert_uint_eq(http_sse_streams(hub), 0);
    http_resp_free(resp);
    http_req_free(req);
    http_sse_hub_free(hub);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("server_router");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_routes_check);
    tcase_add_test(tc, test_match_params);
    tcase_add_test(tc, test_bad_integer_param_is_404);
    tcase_add_test(tc, test_405_allow);
    tcase_add_test(tc, test_sentinel_and_default_404);
    tcase_add_test(tc, test_query_and_headers);
    tcase_add_test(tc, test_problem_bodies);
    tcase_add_test(tc, test_send_out_of_memory);
    tcase_add_test(tc, test_json_parse_positions);
    tcase_add_test(tc, test_json_body_content_types);
    tcase_add_test(tc, test_parse_listen);
    tcase_add_test(tc, test_sse_start_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
