/* The server over real sockets, with libcurl as the client: requests and
 * answers, limits, static files, ETags, statistics and start-up errors. */
#include "http_fixture.h"

#include "gand/log.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- requests and answers ---- */

START_TEST(test_json_get_and_head)
{
    reply r = get("/livez");
    char h[128];
    ck_assert_int_eq(r.rc, CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body.data, "{\"status\":\"ok\"}");
    ck_assert_str_eq(header(&r, "Content-Type", h, sizeof h), "application/json");
    ck_assert_str_eq(header(&r, "X-Content-Type-Options", h, sizeof h), "nosniff");
    reply_free(&r);

    /* HEAD: the GET's headers, its Content-Length, no body */
    r = do_request((request_opts){.method = "HEAD", .path = "/livez"});
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "Content-Length", h, sizeof h), "15");
    ck_assert_str_eq(header(&r, "Content-Type", h, sizeof h), "application/json");
    ck_assert_uint_eq(r.body.len, 0);
    reply_free(&r);

    r = do_request((request_opts){.method = "DELETE", .path = "/runs/3"});
    ck_assert_int_eq(r.status, 204);
    ck_assert_uint_eq(r.body.len, 0);
    reply_free(&r);
}
END_TEST

START_TEST(test_post_json_any_content_type)
{
    static const char *const cts[] = {NULL, "Content-Type: application/json"};
    for (int i = 0; i < 2; i++) {
        /* without a header libcurl sends application/x-www-form-urlencoded,
         * as `curl -d @job.json` does */
        reply r = do_request((request_opts){.path = "/echo", .body = "{\"kind\":\"dcgan\"}",
                                            .body_len = 16, .headers = {cts[i]}});
        char h[64];
        ck_assert_int_eq(r.status, 201);
        ck_assert_str_eq(r.body.data, "{\"got\":{\"kind\":\"dcgan\"}}");
        ck_assert_str_eq(header(&r, "Location", h, sizeof h), "/runs/1");
        reply_free(&r);
    }
    reply r = do_request((request_opts){.path = "/echo", .body = "{}", .body_len = 2,
                                        .headers = {"Content-Type: multipart/form-data; b=x"}});
    ck_assert_int_eq(r.status, 415);
    reply_free(&r);
    /* a chunked body is read too */
    r = do_request((request_opts){.path = "/echo", .body = "{\"a\": [1, 2, 3]}", .body_len = 16,
                                  .chunked = true});
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.body.data, "{\"got\":{\"a\":[1,2,3]}}");
    reply_free(&r);
}
END_TEST

START_TEST(test_malformed_json_400)
{
    const char *body = "{\n  \"kind\": \"dcgan\",\n  \"lr\": 0.0002,,\n}";
    reply r = do_request((request_opts){.path = "/echo", .body = body,
                                        .body_len = (long)strlen(body)});
    char h[64];
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(header(&r, "Content-Type", h, sizeof h), "application/problem+json");
    cJSON *p = cJSON_Parse(r.body.data);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(cJSON_GetObjectItem(p, "type")->valuestring, "about:blank");
    ck_assert_str_eq(cJSON_GetObjectItem(p, "title")->valuestring, "Bad Request");
    ck_assert_int_eq(cJSON_GetObjectItem(p, "status")->valueint, 400);
    const char *detail = cJSON_GetObjectItem(p, "detail")->valuestring;
    ck_assert_msg(strstr(detail, "line 3, column 17 (byte 37), near '  \"lr\": 0.0002,,'"), "%s", detail);
    cJSON_Delete(p);
    reply_free(&r);
}
END_TEST

START_TEST(test_body_limit_413)
{
    char *big = malloc(2 * FIXTURE_MAX_BODY);
    memset(big, ' ', 2 * FIXTURE_MAX_BODY);
    big[0] = '{';
    big[2 * FIXTURE_MAX_BODY - 1] = '}';
    char h[64];
    /* declared too large: refused from the headers, the body unread */
    reply r = do_request((request_opts){.path = "/echo", .body = big, .body_len = 2 * FIXTURE_MAX_BODY});
    ck_assert_int_eq(r.status, 413);
    ck_assert_str_eq(header(&r, "Content-Type", h, sizeof h), "application/problem+json");
    ck_assert_msg(strstr(r.body.data, "more than the 4096 this server accepts"), "%s",
                  r.body.data);
    reply_free(&r);
    r = do_request((request_opts){.path = "/echo", .body = big, .body_len = 2 * FIXTURE_MAX_BODY,
                                  .headers = {"Expect: 100-continue"}});
    ck_assert_int_eq(r.status, 413);
    reply_free(&r);
    /* chunked: nothing declared, so the excess is dropped as it arrives */
    r = do_request((request_opts){.path = "/echo", .body = big, .body_len = 2 * FIXTURE_MAX_BODY,
                                  .chunked = true});
    ck_assert_int_eq(r.status, 413);
    ck_assert_msg(strstr(r.body.data, "larger than the 4096 bytes"), "%s", r.body.data);
    reply_free(&r);
    /* the limit itself is allowed */
    big[FIXTURE_MAX_BODY - 1] = '}';
    r = do_request((request_opts){.path = "/echo", .body = big, .body_len = FIXTURE_MAX_BODY});
    ck_assert_int_eq(r.status, 201);
    reply_free(&r);
    r = do_request((request_opts){.path = "/echo", .body = big, .body_len = FIXTURE_MAX_BODY,
                                  .chunked = true});
    ck_assert_int_eq(r.status, 201);
    reply_free(&r);
    free(big);
}
END_TEST

START_TEST(test_404_and_405)
{
    char h[64];
    reply r = get("/nope/deeper");
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(header(&r, "Content-Type", h, sizeof h), "application/problem+json");
    ck_assert_ptr_nonnull(strstr(r.body.data, "\"status\":404"));
    reply_free(&r);
    r = do_request((request_opts){.path = "/nope", .body = "{}", .body_len = 2});
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body.data, "nothing is at POST /nope"));
    reply_free(&r);
    r = get("/runs/abc");
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body.data, "\"field\":\"id\""));
    reply_free(&r);

    r = do_request((request_opts){.method = "PUT", .path = "/runs/5"});
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(header(&r, "Allow", h, sizeof h), "GET, HEAD, DELETE");
    ck_assert_str_eq(header(&r, "Content-Type", h, sizeof h), "application/problem+json");
    reply_free(&r);
    r = do_request((request_opts){.path = "/livez", .body = "{}", .body_len = 2});
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(header(&r, "Allow", h, sizeof h), "GET, HEAD");
    reply_free(&r);
}
END_TEST

START_TEST(test_static_files)
{
    char h[128];
    reply r = get("/");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body.data, "<h1>gand</h1>");
    ck_assert_str_eq(header(&r, "Content-Type", h, sizeof h), "text/html; charset=utf-8");
    ck_assert_str_eq(header(&r, "Content-Length", h, sizeof h), "13");
    ck_assert_str_eq(header(&r, "Cache-Control", h, sizeof h), "no-cache");
    reply_free(&r);
    r = get("/app.js");
    ck_assert_str_eq(r.body.data, "let x = 1;");
    ck_assert_str_eq(header(&r, "Content-Type", h, sizeof h), "text/javascript; charset=utf-8");
    reply_free(&r);
    r = get("/pic.png");
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body.len, fixture_png_len);
    ck_assert_int_eq(memcmp(r.body.data, fixture_png, r.body.len), 0);
    ck_assert_str_eq(header(&r, "Content-Type", h, sizeof h), "image/png");
    reply_free(&r);

    static const char *const refused[] = {"/../secret.txt",    "/%2e%2e/secret.txt",
                                          "/%2E%2E/secret.txt", "/escape.html",
                                          "/.hidden",          "/js/../../secret.txt",
                                          "//etc/passwd",      "/..%2fsecret.txt",
                                          "/index.html/",      "/a%20b.html"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        r = get(refused[i]);
        ck_assert_msg(r.status == 404, "%s: %ld", refused[i], r.status);
        ck_assert_str_eq(header(&r, "Content-Type", h, sizeof h), "application/problem+json");
        ck_assert_ptr_null(strstr(r.body.data, "SECRET"));
        reply_free(&r);
    }
}
END_TEST

START_TEST(test_etag_304)
{
    char etag[64], h[64], inm[96];
    reply r = get("/runs/7");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body.data, "{\"id\":7}");
    ck_assert_str_eq(header(&r, "ETag", etag, sizeof etag), "\"run-7\"");
    reply_free(&r);
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    r = do_request((request_opts){.path = "/runs/7", .headers = {inm}});
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(r.body.len, 0);
    ck_assert_str_eq(header(&r, "ETag", h, sizeof h), "\"run-7\"");
    reply_free(&r);
    r = do_request((request_opts){.path = "/runs/8", .headers = {inm}});
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);

    r = get("/app.js");
    header(&r, "ETag", etag, sizeof etag);
    ck_assert_uint_gt(strlen(etag), 2);
    reply_free(&r);
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    r = do_request((request_opts){.path = "/app.js", .headers = {inm}});
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(r.body.len, 0);
    reply_free(&r);
}
END_TEST

/* ---- operations ---- */

static bool stats_have(const char *line)
{
    double t0 = now_s();
    for (;;) {
        char *text = http_stats_prometheus(app.srv);
        ck_assert_ptr_nonnull(text);
        bool found = strstr(text, line) != NULL;
        free(text);
        if (found || now_s() - t0 > 2)
            return found;
        usleep(5000);
    }
}

START_TEST(test_stats_and_log)
{
    char logpath[] = "/tmp/gand-http-log-XXXXXX";
    int fd = mkstemp(logpath);
    ck_assert_int_ge(fd, 0);
    gand_log_set_fd(fd);
    gand_log_set_level(GAND_LOG_DEBUG);

    for (int i = 0; i < 2; i++) {
        reply r = get("/livez");
        reply_free(&r);
    }
    reply r = do_request((request_opts){.method = "PUT", .path = "/runs/1"});
    reply_free(&r);
    r = get("/runs/x");
    reply_free(&r);
    sse_client *c = sse_open("/runs/1/events", NULL, 1);
    wait_streams(1);
    http_sse_publish(app.hub, 1, 1, NULL, "x");
    free(sse_close(c));
    wait_streams(0);

    ck_assert(stats_have("gand_http_requests_total{route=\"GET /livez\",code=\"200\"} 2\n"));
    ck_assert(stats_have("gand_http_requests_total{route=\"unmatched\",code=\"405\"} 1\n"));
    ck_assert(stats_have("gand_http_requests_total{route=\"unmatched\",code=\"404\"} 1\n"));
    ck_assert(stats_have(
        "gand_http_requests_total{route=\"GET /runs/{id:int}/events\",code=\"200\"} 1\n"));
    /* the stream is counted but kept out of the latency histogram */
    ck_assert(stats_have("gand_http_request_duration_seconds_count 4\n"));
    ck_assert(stats_have("gand_http_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"));
    ck_assert(stats_have("gand_http_sse_streams 0\n"));

    gand_log_set_fd(-1);
    gand_log_set_level(GAND_LOG_INFO);
    char text[8192] = {0};
    ck_assert_int_ge(pread(fd, text, sizeof text - 1, 0), 0);
    close(fd);
    unlink(logpath);
    ck_assert_msg(strstr(text, "debug GET /livez 200 "), "%s", text);
    ck_assert_msg(strstr(text, "debug PUT /runs/1 405 "), "%s", text);
    ck_assert_msg(strstr(text, " ms\n"), "%s", text);
}
END_TEST

static const http_route static_only[] = {HTTP_STATIC_ROUTE, HTTP_ROUTES_END};

START_TEST(test_start_errors)
{
    http_config cfg;
    http_config_default(&cfg);
    char listen[32], err[256];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", http_server_port(app.srv));
    cfg.listen = listen;
    cfg.routes = static_only;
    http_server *other = NULL;
    ck_assert_int_eq(http_start(&cfg, &other, err, sizeof err), GAND_EIO);
    ck_assert_ptr_null(other);
    ck_assert_msg(strstr(err, "cannot serve HTTP on 127.0.0.1:"), "%s", err);
    cfg.listen = "127.0.0.1:0";
    cfg.www_root = "/nonexistent-gand-www";
    ck_assert_int_eq(http_start(&cfg, &other, err, sizeof err), GAND_ENOTFOUND);
    ck_assert_msg(strstr(err, "is not a directory"), "%s", err);
    cfg.www_root = NULL;
    cfg.listen = "localhost";
    ck_assert_int_eq(http_start(&cfg, &other, err, sizeof err), GAND_EINVAL);
    http_route bad[] = {{"GET", "/{x", http_static_handler}, HTTP_ROUTES_END};
    cfg.listen = "127.0.0.1:0";
    cfg.routes = bad;
    ck_assert_int_eq(http_start(&cfg, &other, err, sizeof err), GAND_EINVAL);
    http_stop(NULL);
}
END_TEST

START_TEST(test_query_arguments)
{
    reply r = get("/query?n=3&flag");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body.data, "n=3 flag=");
    reply_free(&r);
    r = get("/query?flag=a%20b+c");
    ck_assert_str_eq(r.body.data, "n=5 flag=a b c");
    reply_free(&r);
    r = get("/query?n=10");
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body.data, "query parameter 'n' must be an integer from 1 to 9, "
                                              "got '10'"));
    reply_free(&r);
}
END_TEST

START_TEST(test_ipv6_listen)
{
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool have_v6 = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    if (!have_v6)
        return; /* no IPv6 loopback on this machine */
    http_config cfg;
    http_config_default(&cfg);
    cfg.listen = "[::1]:0";
    cfg.routes = static_only;
    http_server *srv;
    char err[256];
    ck_assert_msg(http_start(&cfg, &srv, err, sizeof err) == GAND_OK, "%s", err);
    char url[64];
    snprintf(url, sizeof url, "http://[::1]:%d/x", http_server_port(srv));
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    long status;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    ck_assert_int_eq(status, 404);
    curl_easy_cleanup(c);
    http_stop(srv);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("server_http");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_json_get_and_head);
    tcase_add_test(tc, test_post_json_any_content_type);
    tcase_add_test(tc, test_malformed_json_400);
    tcase_add_test(tc, test_body_limit_413);
    tcase_add_test(tc, test_404_and_405);
    tcase_add_test(tc, test_query_arguments);
    tcase_add_test(tc, test_static_files);
    tcase_add_test(tc, test_etag_304);
    tcase_add_test(tc, test_stats_and_log);
    tcase_add_test(tc, test_start_errors);
    tcase_add_test(tc, test_ipv6_listen);
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
