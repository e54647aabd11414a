/* Static files and caching without sockets: file names, content types,
 * serving from a root with symlinks, ETag and If-None-Match. */
#include "gand/http.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    int status;
    char body[2048];
    char etag[96];
    char ctype[96];
} result;

START_TEST(test_etag)
{
    static const struct {
        const char *inm;
        bool hit;
    } cases[] = {
        {NULL, false},
        {"\"v1\"", true},
        {"W/\"v1\"", true},
        {"\"v0\", \"v1\"", true},
        {"\"v0\" ,W/\"v1\" ", true},
        {"*", true},
        {"\"v11\"", false},
        {"v1", false},
        {"\"v0\"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_req *req = http_req_create("GET", "/runs/1", NULL);
        if (cases[i].inm)
            http_req_add_header(req, "If-None-Match", cases[i].inm);
        http_resp *resp = http_resp_create();
        ck_assert_msg(http_etag(req, resp, "v1") == cases[i].hit, "%s", cases[i].inm);
        ck_assert_str_eq(http_resp_header(resp, "ETag"), "\"v1\"");
        ck_assert_int_eq(http_resp_status(resp), cases[i].hit ? 304 : 0);
        size_t len = 99;
        http_resp_body(resp, &len);
        ck_assert_uint_eq(len, 0);
        http_resp_free(resp);
        http_req_free(req);
    }
}
END_TEST

START_TEST(test_content_types)
{
    static const char *const pairs[][2] = {
        {"index.html", "text/html; charset=utf-8"}, {"app.js", "text/javascript; charset=utf-8"},
        {"m.mjs", "text/javascript; charset=utf-8"}, {"a.css", "text/css; charset=utf-8"},
        {"d.json", "application/json"},            {"a.js.map", "application/json"},
        {"s.png", "image/png"},                    {"i.svg", "image/svg+xml"},
        {"favicon.ico", "image/vnd.microsoft.icon"}, {"r.txt", "text/plain; charset=utf-8"},
        {"f.woff2", "font/woff2"},                 {"INDEX.HTML", "text/html; charset=utf-8"},
        {"noext", "application/octet-stream"},     {"a.exe", "application/octet-stream"},
        {"dir.d/file", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        ck_assert_str_eq(http_content_type_for(pairs[i][0]), pairs[i][1]);
}
END_TEST

START_TEST(test_static_path_names)
{
    static const char *const ok[] = {"", "index.html", "js/app.js", "a-b_c.1.css", "x..y",
                                     "A/B/C.png"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        ck_assert_msg(http_static_path_ok(ok[i]), "'%s' refused", ok[i]);
    /* libmicrohttpd decodes %2e%2e to ".." before routing, so both forms
     * must be refused here */
    static const char *const bad[] = {"..", "../etc/passwd", "a/../b", "a/..", ".", "./a",
                                      "a//b", "/etc/passwd", "a/", ".hidden", "a/.hidden",
                                      "a b", "caf\xc3\xa9.html", "a\\b", "%2e%2e/x", "a\nb",
                                      "a?b", "a:b", "~root"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!http_static_path_ok(bad[i]), "'%s' allowed", bad[i]);
    char name[300];
    memset(name, 'a', sizeof name);
    name[255] = '\0';
    ck_assert(http_static_path_ok(name));
    name[255] = 'a';
    name[256] = '\0';
    ck_assert(!http_static_path_ok(name));
}
END_TEST

static char tmpdir[PATH_MAX];

static void write_file(const char *rel, const char *text)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static result serve(const char *root, const char *rel, const char *inm)
{
    result r = {0};
    http_req *req = http_req_create("GET", "/", NULL);
    if (inm)
        http_req_add_header(req, "If-None-Match", inm);
    http_resp *resp = http_resp_create();
    http_static_serve(req, resp, root, rel);
    r.status = http_resp_status(resp);
    if (http_resp_is_file(resp))
        strcpy(r.body, "<file>");
    else
        snprintf(r.body, sizeof r.body, "%s", (const char *)http_resp_body(resp, NULL));
    const char *etag = http_resp_header(resp, "ETag");
    snprintf(r.etag, sizeof r.etag, "%s", etag ? etag : "");
    snprintf(r.ctype, sizeof r.ctype, "%s", http_resp_content_type(resp));
    http_resp_free(resp);
    http_req_free(req);
    return r;
}

START_TEST(test_static_serve)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gand-www-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    char root[PATH_MAX + 8], p[PATH_MAX + 64];
    snprintf(root, sizeof root, "%s/www", tmpdir);
    ck_assert_int_eq(mkdir(root, 0755), 0);
    write_file("secret.txt", "outside the root");
    write_file("www/index.html", "<h1>gand</h1>");
    write_file("www/app.js", "1;");
    write_file("www/.hidden", "no");
    snprintf(p, sizeof p, "%s/js", root);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    write_file("www/js/m.mjs", "export {};");
    snprintf(p, sizeof p, "%s/escape.html", root);
    ck_assert_int_eq(symlink("../secret.txt", p), 0);
    snprintf(p, sizeof p, "%s/etc.txt", root);
    ck_assert_int_eq(symlink("/etc/hostname", p), 0);
    snprintf(p, sizeof p, "%s/alias.html", root);
    ck_assert_int_eq(symlink("index.html", p), 0);
    snprintf(p, sizeof p, "%s/jsdir", root);
    ck_assert_int_eq(symlink("js", p), 0);

    result r = serve(root, "", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "<file>");
    ck_assert_str_eq(r.ctype, "text/html; charset=utf-8");
    ck_assert_int_eq(serve(root, "index.html", NULL).status, 200);
    ck_assert_str_eq(serve(root, "app.js", NULL).ctype, "text/javascript; charset=utf-8");
    ck_assert_str_eq(serve(root, "js/m.mjs", NULL).ctype, "text/javascript; charset=utf-8");
    /* symlinks that stay inside the root are fine */
    ck_assert_int_eq(serve(root, "alias.html", NULL).status, 200);
    ck_assert_int_eq(serve(root, "jsdir/m.mjs", NULL).status, 200);

    static const char *const refused[] = {"escape.html", "etc.txt", "../secret.txt",
                                          ".hidden",     "js",      "js/",
                                          "missing.html", "a//b",   "..",
                                          "js/../app.js"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        r = serve(root, refused[i], NULL);
        ck_assert_msg(r.status == 404, "'%s': %d", refused[i], r.status);
        ck_assert_str_eq(r.ctype, "application/problem+json");
        ck_assert_ptr_nonnull(strstr(r.body, "check the address"));
        ck_assert_ptr_null(strstr(r.body, "outside the root"));
    }
    ck_assert_int_eq(serve(NULL, "index.html", NULL).status, 404);
    ck_assert_int_eq(serve("/nonexistent-gand-root", "index.html", NULL).status, 404);

    /* the ETag revalidates: same tag gives 304, a changed file a new tag */
    r = serve(root, "app.js", NULL);
    ck_assert_str_ne(r.etag, "");
    char etag[96];
    snprintf(etag, sizeof etag, "%s", r.etag);
    result again = serve(root, "app.js", etag);
    ck_assert_int_eq(again.status, 304);
    ck_assert_str_eq(again.body, "");
    write_file("www/app.js", "2;;");
    again = serve(root, "app.js", etag);
    ck_assert_int_eq(again.status, 200);
    ck_assert_str_ne(again.etag, etag);

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("server_static");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_etag);
    tcase_add_test(tc, test_content_types);
    tcase_add_test(tc, test_static_path_names);
    tcase_add_test(tc, test_static_serve);
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
