/* Bearer-token authentication: public routes answer without it, every
 * other request needs the header (or ?access_token= on a GET), and a wrong
 * or missing token gets 401 with WWW-Authenticate and no handler runs. */
#include "gand/http.h"

#include <check.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "s3cret-token-of-32-characters-xx"

static _Atomic int handled;

static void open_handler(const http_req *req, http_resp *resp)
{
    http_send(resp, 200, "text/plain", "open", 4, HTTP_BODY_STATIC);
}

static void secret_handler(const http_req *req, http_resp *resp)
{
    handled++;
    http_send(resp, 200, "text/plain", "secret", 6, HTTP_BODY_STATIC);
}

static const http_route routes[] = {
    {"GET", "/livez", open_handler, HTTP_ROUTE_PUBLIC},
    {"GET", "/runs", secret_handler},
    {"POST", "/runs", secret_handler},
    HTTP_STATIC_ROUTE,
    HTTP_ROUTES_END,
};

static http_server *srv;
static char base[64];
static char www[64];

static void setup(void)
{
    snprintf(www, sizeof www, "/tmp/gand-auth-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(www));
    char p[128];
    snprintf(p, sizeof p, "%s/index.html", www);
    FILE *f = fopen(p, "w");
    fputs("<h1>page</h1>", f);
    fclose(f);
    http_config cfg;
    http_config_default(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.routes = routes;
    cfg.www_root = www;
    cfg.auth_token = TOKEN;
    char err[256];
    ck_assert_msg(http_start(&cfg, &srv, err, sizeof err) == GAND_OK, "%s", err);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", http_server_port(srv));
    handled = 0;
}

static void teardown(void)
{
    http_stop(srv);
    char p[128];
    snprintf(p, sizeof p, "%s/index.html", www);
    unlink(p);
    rmdir(www);
}

static size_t sink(char *d, size_t s, size_t n, void *u)
{
    strncat(u, d, s * n < 200 ? s * n : 200);
    return s * n;
}

/* Returns the status; headers and body are appended to hdr and body. */
static long request(const char *method, const char *path, const char *auth, char *hdr, char *body)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    struct curl_slist *h = NULL;
    if (auth)
        h = curl_slist_append(h, auth);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    long status;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

START_TEST(test_public_routes_and_static_need_no_token)
{
    char h[4096] = "", b[4096] = "";
    ck_assert_int_eq(request("GET", "/livez", NULL, h, b), 200);
    ck_assert_int_eq(request("GET", "/", NULL, h, b), 200);
    ck_assert_ptr_nonnull(strstr(b, "<h1>page</h1>"));
}
END_TEST

START_TEST(test_missing_or_wrong_token_is_401)
{
    const char *bad[] = {NULL, "Authorization: Bearer nope", "Authorization: Basic " TOKEN,
                         "Authorization: Bearer " TOKEN "x", "Authorization: Bearer"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char h[4096] = "", b[4096] = "";
        ck_assert_int_eq(request("GET", "/runs", bad[i], h, b), 401);
        ck_assert_msg(strstr(h, "WWW-Authenticate: Bearer"), "%s", h);
        ck_assert_msg(strstr(h, "application/problem+json"), "%s", h);
        ck_assert_msg(strstr(b, "bearer token"), "%s", b);
    }
    char h[4096] = "", b[4096] = "";
    ck_assert_int_eq(request("POST", "/runs", NULL, h, b), 401);
    /* unknown paths do not tell what exists */
    ck_assert_int_eq(request("DELETE", "/nothing", NULL, h, b), 401);
    ck_assert_int_eq(handled, 0);
}
END_TEST

START_TEST(test_right_token_passes)
{
    char h[4096] = "", b[4096] = "";
    ck_assert_int_eq(request("GET", "/runs", "Authorization: Bearer " TOKEN, h, b), 200);
    ck_assert_int_eq(request("POST", "/runs", "authorization: bearer " TOKEN, h, b), 200);
    ck_assert_int_eq(request("GET", "/runs?access_token=" TOKEN, NULL, h, b), 200);
    ck_assert_int_eq(handled, 3);
    /* the query form is for GETs (EventSource) only */
    ck_assert_int_eq(request("POST", "/runs?access_token=" TOKEN, NULL, h, b), 401);
    ck_assert_int_eq(handled, 3);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    Suite *s = suite_create("server_auth");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_public_routes_and_static_need_no_token);
    tcase_add_test(tc, test_missing_or_wrong_token_is_401);
    tcase_add_test(tc, test_right_token_passes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
