/* The real daemon's refusals: every error status of the API with its
 * problem+json body, a run that fails, and bursts of garbage that must each
 * get a 4xx while the daemon keeps serving. The daemon's path is argv[1]. */
#include "daemon_fixture.h"

#include "idx_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(test_spec_errors)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    reply r = client_post(&d, "/runs", "{\"model\": \"dcgan\",\n  \"steps\": 5]");
    assert_problem(&r, 400, "line 2, column 13 (byte 31)");
    reply_free(&r);
    r = client_post(&d, "/runs", "");
    assert_problem(&r, 400, NULL);
    reply_free(&r);

    char spec[2048];
    run_spec(&d, NULL, 5, "\"batch_size\":0", spec, sizeof spec);
    r = client_post(&d, "/runs", spec);
    assert_problem(&r, 422, "'batch_size' must be between 1 and 1024, got 0");
    ck_assert_str_eq(json_str(r.json, "field"), "batch_size");
    reply_free(&r);
    run_spec(&d, "gan9000", 5, NULL, spec, sizeof spec);
    r = client_post(&d, "/runs", spec);
    assert_problem(&r, 422, "gan9000");
    ck_assert_str_eq(json_str(r.json, "field"), "model");
    reply_free(&r);
    run_spec(&d, NULL, 5, "\"colour\":\"blue\"", spec, sizeof spec);
    r = client_post(&d, "/runs", spec);
    assert_problem(&r, 422, "colour");
    reply_free(&r);
    /* a class the data does not have, checked against the files */
    run_spec(&d, NULL, 5, "\"classes\":[1,7]", spec, sizeof spec);
    r = client_post(&d, "/runs", spec);
    assert_problem(&r, 422, "7");
    ck_assert_str_eq(json_str(r.json, "field"), "classes");
    reply_free(&r);

    char missing[1300];
    snprintf(missing, sizeof missing,
             "{\"model\":\"dcgan\",\"dataset\":\"%s/nowhere\",\"steps\":5}", d.root);
    r = client_post(&d, "/runs", missing);
    assert_problem(&r, 422, "nowhere");
    ck_assert_str_eq(json_str(r.json, "field"), "dataset");
    reply_free(&r);
    /* a directory without the images file */
    snprintf(missing, sizeof missing, "{\"model\":\"dcgan\",\"dataset\":\"%s\",\"steps\":5}",
             d.www_dir);
    r = client_post(&d, "/runs", missing);
    assert_problem(&r, 422, "train-images-idx3-ubyte");
    ck_assert_str_eq(json_str(r.json, "field"), "dataset");
    reply_free(&r);

    r = client_request(&d, "POST", "/runs", "{}",
                       (const char *const[]){"Content-Type: image/png", NULL});
    assert_problem(&r, 415, "image/png");
    reply_free(&r);
    /* none of these left a run behind */
    r = client_get(&d, "/runs");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "runs")), 0);
    reply_free(&r);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_not_found_and_methods)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    static const char *const missing[] = {
        "/runs/1",         "/runs/1/metrics",    "/runs/1/samples",  "/runs/1/samples/5.png",
        "/runs/1/samples/latest.png", "/runs/1/generate", "/runs/1/checkpoint",
        "/runs/1/events",  "/runs/0",            "/runs/x",          "/nothing/here",
        "/runs/1/nothing", "/www/index.html",    "/.hidden"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        reply r = client_get(&d, missing[i]);
        assert_problem(&r, 404, NULL);
        reply_free(&r);
    }
    static const struct {
        const char *path, *field;
    } queries[] = {
        {"/runs?limit=0", "limit"},
        {"/runs?limit=1001", "limit"},
        {"/runs?limit=ten", "limit"},
        {"/runs?status=done", "status"},
        {"/runs?status=queued,,sleeping", "status"},
        {"/runs?cursor=zzz", "cursor"},
    };
    for (size_t i = 0; i < sizeof queries / sizeof *queries; i++) {
        reply r = client_get(&d, queries[i].path);
        assert_problem(&r, 400, queries[i].field);
        ck_assert_str_eq(json_str(r.json, "field"), queries[i].field);
        reply_free(&r);
    }
    reply r = client_post(&d, "/runs/1/cancel", NULL);
    assert_problem(&r, 404, "run 1 does not exist");
    reply_free(&r);
    r = client_delete(&d, "/runs/1");
    assert_problem(&r, 404, "run 1 does not exist");
    reply_free(&r);

    static const struct {
        const char *method, *path, *allow;
    } wrong[] = {
        {"PUT", "/runs/1", "GET, HEAD, DELETE"},
        {"POST", "/runs/1", "GET, HEAD, DELETE"},
        {"DELETE", "/runs", "POST, GET, HEAD"},
        {"GET", "/runs/1/cancel", "POST"},
        {"POST", "/runs/1/metrics", "GET, HEAD"},
        {"POST", "/livez", "GET, HEAD"},
        {"DELETE", "/models", "GET, HEAD"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
        r = client_request(&d, wrong[i].method, wrong[i].path, NULL, NULL);
        assert_problem(&r, 405, wrong[i].method);
        char allow[64];
        ck_assert_str_eq(reply_header(&r, "Allow", allow, sizeof allow), wrong[i].allow);
        reply_free(&r);
    }
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_conflicts_and_failed_run)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t id = submit_run(&d, 5, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    reply r = client_post(&d, "/runs/1/cancel", NULL);
    assert_problem(&r, 409, "already succeeded");
    reply_free(&r);

    /* a data file cut short passes the header check and fails the run */
    char *bad = fixture_tmpdir();
    fixture_write_blocks(bad, DAEMON_IMAGES, 8, 4, 3);
    char img[1100], spec[2048];
    snprintf(img, sizeof img, "%s/train-images-idx3-ubyte", bad);
    ck_assert_int_eq(truncate(img, 16 + 8 * 64), 0);
    snprintf(spec, sizeof spec, "{\"model\":\"dcgan\",\"dataset\":\"%s\",\"steps\":5,"
             "\"batch_size\":8,\"g_width\":16,\"d_width\":8}", bad);
    r = client_post(&d, "/runs", spec);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    reply_free(&r);
    cJSON *run = wait_run(&d, 2, "failed", 60);
    char error[512];
    snprintf(error, sizeof error, "%s", json_str(run, "error"));
    ck_assert_msg(strstr(error, "truncated"), "%s", error);
    cJSON_Delete(run);
    sse_list l = sse_read(&d, (sse_opts){.path = "/runs/2/events?after_id=0", .final_of = 2});
    ck_assert_int_ge(l.n, 1);
    const sse_event *last = &l.ev[l.n - 1];
    ck_assert_str_eq(last->event, "state");
    ck_assert_str_eq(json_str(last->json, "state"), "failed");
    ck_assert_str_eq(json_str(last->json, "error"), error);
    sse_list_free(&l);
    r = client_post(&d, "/runs/2/cancel", NULL);
    assert_problem(&r, 409, "failed");
    reply_free(&r);
    r = client_delete(&d, "/runs/2");
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    fixture_rmdir(bad);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_body_too_large)
{
    gand_daemon d;
    daemon_up(&d, (const char *const[]){"--max-body-bytes", "1024", NULL});
    char spec[4096];
    run_spec(&d, NULL, 5, NULL, spec, sizeof spec);
    /* the same spec padded with white space past the limit */
    size_t n = strlen(spec);
    memmove(spec + 1 + 1200, spec + 1, n);
    memset(spec + 1, ' ', 1200);
    reply r = client_post(&d, "/runs", spec);
    assert_problem(&r, 413, "1024");
    reply_free(&r);
    r = client_request(&d, "POST", "/runs", spec,
                       (const char *const[]){"Transfer-Encoding: chunked", NULL});
    assert_problem(&r, 413, NULL);
    reply_free(&r);
    run_spec(&d, NULL, 5, NULL, spec, sizeof spec);
    r = client_post(&d, "/runs", spec);
    ck_assert_int_eq(r.status, 201);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, 1, "succeeded", 60));
    daemon_cleanup(&d);
}
END_TEST

/* Asserts /readyz counts n queued runs. */
static void assert_queued(const gand_daemon *d, int n)
{
    reply r = client_get(d, "/readyz");
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_num(r.json, "queued"), n);
    reply_free(&r);
}

START_TEST(test_queue_full)
{
    gand_daemon d;
    daemon_up(&d, (const char *const[]){"--queue-max", "1", NULL});
    int64_t busy = submit_run(&d, 1000000, NULL);
    wait_step(&d, busy, 1, 60);
    int64_t waiting = submit_run(&d, 5, NULL);
    char spec[2048], retry[16];
    run_spec(&d, NULL, 5, NULL, spec, sizeof spec);
    reply r = client_post(&d, "/runs", spec);
    assert_problem(&r, 503, "queue is full");
    ck_assert_str_eq(reply_header(&r, "Retry-After", retry, sizeof retry), "30");
    reply_free(&r);
    /* the refused run was not kept */
    r = client_get(&d, "/runs");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "runs")), 2);
    reply_free(&r);

    /* a queued run deleted or canceled gives its place back at once */
    char path[64];
    snprintf(path, sizeof path, "/runs/%lld", (long long)waiting);
    r = client_delete(&d, path);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    assert_queued(&d, 0);
    waiting = submit_run(&d, 5, NULL);
    snprintf(path, sizeof path, "/runs/%lld/cancel", (long long)waiting);
    r = client_post(&d, path, NULL);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    assert_queued(&d, 0);
    waiting = submit_run(&d, 5, NULL);
    assert_queued(&d, 1);

    /* once the queued run starts, there is room again */
    r = client_post(&d, "/runs/1/cancel", NULL);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, waiting, "succeeded", 60));
    int64_t next = submit_run(&d, 5, NULL);
    ck_assert_int_gt(next, waiting);
    cJSON_Delete(wait_run(&d, next, "succeeded", 60));
    daemon_cleanup(&d);
}
END_TEST

/* Sends each request of a burst on its own connection; every one must get
 * a 4xx and the daemon must keep answering. */
static void assert_burst_4xx(const gand_daemon *d, const char *const *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int st = raw_status(d, reqs[i], strlen(reqs[i]), 10000);
        ck_assert_msg(st >= 400 && st < 500, "request %zu got %d: %.120s", i, st, reqs[i]);
    }
}

static char *repeat(const char *head, const char *unit, int times, const char *tail)
{
    size_t hn = strlen(head), un = strlen(unit), tn = strlen(tail);
    char *s = malloc(hn + un * (size_t)times + tn + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, head, hn);
    for (int i = 0; i < times; i++)
        memcpy(s + hn + un * (size_t)i, unit, un);
    memcpy(s + hn + un * (size_t)times, tail, tn + 1);
    return s;
}

/* "POST /runs" with body (Content-Length set), malloc'd. */
static char *post_raw(const char *body)
{
    char head[128];
    snprintf(head, sizeof head, "POST /runs HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             strlen(body));
    return repeat(head, "", 0, body);
}

START_TEST(test_garbage_burst)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t id = submit_run(&d, 10, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    char *owned[8];
    int nown = 0;
    owned[nown++] = repeat("GET /runs?limit=", "9", 20000, " HTTP/1.1\r\nHost: x\r\n\r\n");
    owned[nown++] = repeat("GET /runs?cursor=", "%ff", 5000, " HTTP/1.1\r\nHost: x\r\n\r\n");
    owned[nown++] =
        repeat("GET /runs/1/metrics?name=", "x", 200000, " HTTP/1.1\r\nHost: x\r\n\r\n");
    owned[nown++] = repeat("GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ", "a", 100000, "\r\n\r\n");
    char *deep = repeat("", "[", 200000, "");
    owned[nown++] = post_raw(deep);
    free(deep);
    deep = repeat("", "{\"a\":", 100000, "");
    owned[nown++] = post_raw(deep);
    free(deep);
    owned[nown++] = post_raw("{\"model\":\"dcgan\xff\xfe\",\"steps\":5}");
    owned[nown++] = post_raw("{\"model\":\"dcgan\",\"name\":\"\\ud800\"}");
    const char *const reqs[] = {
        owned[0], owned[1], owned[2], owned[3], owned[4], owned[5], owned[6], owned[7],
        "GET /runs/1/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs/1/samples/..%2f..%2fgand.db HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs?status=\xff HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs?limit=99999999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs/99999999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs/1/metrics?after_step=9223372036854775808 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs/1/generate?seed=18446744073709551616 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs/1/generate?n=1e9 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs/1/samples/-5.png HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /events?after_id=-1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs/1/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: \xff\r\n\r\n",
        "GET /livez HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
        "POST /runs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /runs HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST /runs HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n\x01\x02\x03",
        "POST /runs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Type: x\r\n\r\n{}",
        "BREW /runs HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    assert_burst_4xx(&d, reqs, sizeof reqs / sizeof *reqs);
    for (int i = 0; i < nown; i++)
        free(owned[i]);

    /* garbage that is not even a request: the daemon may close, or wait for
     * the rest until its idle timeout */
    static const struct {
        const char *bytes;
        size_t len;
    } junk[] = {
        {"HELLO\r\n\r\n", 9},
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 9}, /* a TLS client hello */
        {"GET\r\n\r\n", 7},
        {"\r\n\r\n\r\n", 6},
    };
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
        int st = raw_status(&d, junk[i].bytes, junk[i].len, 200);
        ck_assert_msg(st == 0 || (st >= 400 && st < 500), "junk %zu got %d", i, st);
    }

    reply r = client_get(&d, "/livez");
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    /* and nothing stored was touched */
    cJSON *run = get_run(&d, id);
    ck_assert_str_eq(json_str(run, "status"), "succeeded");
    cJSON_Delete(run);
    static const char *const names[] = {"loss_d", "loss_g", NULL};
    assert_metric_steps(&d, id, 10, names);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_bad_text_in_body)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    char spec[2048];
    /* a NUL would cut the name short */
    run_spec(&d, NULL, 5, "\"name\":\"a\\u0000b\"", spec, sizeof spec);
    reply r = client_post(&d, "/runs", spec);
    assert_problem(&r, 400, "NUL");
    reply_free(&r);
    /* text that is not UTF-8 is refused, with where it is */
    run_spec(&d, NULL, 5, "\"name\":\"caf\xe9\"", spec, sizeof spec);
    r = client_post(&d, "/runs", spec);
    assert_problem(&r, 400, "UTF-8 at byte");
    reply_free(&r);
    static const char *const bad_utf8[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                           "\xe2\x82", "\x80"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof *bad_utf8; i++) {
        char extra[64];
        snprintf(extra, sizeof extra, "\"name\":\"x%sy\"", bad_utf8[i]);
        run_spec(&d, NULL, 5, extra, spec, sizeof spec);
        r = client_post(&d, "/runs", spec);
        assert_problem(&r, 400, "UTF-8");
        reply_free(&r);
    }
    /* UTF-8, escapes and an escaped backslash before "u0000" are fine */
    run_spec(&d, NULL, 5, "\"name\":\"caf\xc3\xa9 \\u00e9 \\\\u0000 \xf0\x9f\x98\x80\"", spec,
             sizeof spec);
    r = client_post(&d, "/runs", spec);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    ck_assert_str_eq(json_str(r.json, "name"), "caf\xc3\xa9 \xc3\xa9 \\u0000 \xf0\x9f\x98\x80");
    reply_free(&r);
    r = client_get(&d, "/runs");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "runs")), 1);
    reply_free(&r);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_nul_in_target)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t id = submit_run(&d, 5, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    /* a NUL must not cut a path or a query short into another request */
    static const char *const reqs[] = {
        "GET /runs/1%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /index.html%00.png HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /runs?status=queued%00running HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    assert_burst_4xx(&d, reqs, sizeof reqs / sizeof *reqs);
    daemon_cleanup(&d);
}
END_TEST

/* With a token file, everything but the health checks and the page needs
 * the bearer token (or ?access_token= on a GET, for EventSource). */
START_TEST(test_auth_token)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    char file[1200];
    snprintf(file, sizeof file, "%s/token", d.root);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("s3cret-t0ken-0123456789\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(file, 0600), 0); /* gand refuses a token others can read */
    d.flags[0] = "--auth-token-file";
    d.flags[1] = file;
    daemon_start(&d); /* /readyz answers without the token */
    static const char *const open_paths[] = {"/livez", "/readyz", "/", "/index.html"};
    for (size_t i = 0; i < sizeof open_paths / sizeof *open_paths; i++) {
        reply r = client_get(&d, open_paths[i]);
        ck_assert_msg(r.status == 200, "GET %s: %ld", open_paths[i], r.status);
        reply_free(&r);
    }
    static const char *const closed[] = {"/runs", "/runs/1", "/models", "/datasets", "/events",
                                         "/runs/1/events", "/runs/1/samples/latest.png"};
    char www[64];
    for (size_t i = 0; i < sizeof closed / sizeof *closed; i++) {
        reply r = client_get(&d, closed[i]);
        assert_problem(&r, 401, "bearer token");
        ck_assert_str_eq(reply_header(&r, "WWW-Authenticate", www, sizeof www),
                         "Bearer realm=\"gand\"");
        reply_free(&r);
    }
    char spec[2048];
    run_spec(&d, NULL, 5, NULL, spec, sizeof spec);
    reply r = client_post(&d, "/runs", spec);
    assert_problem(&r, 401, NULL);
    reply_free(&r);
    d.auth = "wrong";
    r = client_get(&d, "/runs");
    assert_problem(&r, 401, NULL);
    reply_free(&r);

    d.auth = "s3cret-t0ken-0123456789";
    int64_t id = submit_run(&d, 5, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    d.auth = NULL;
    sse_list l = sse_read(
        &d, (sse_opts){.path = "/runs/1/events?after_id=0&access_token=s3cret-t0ken-0123456789",
                       .final_of = id});
    ck_assert_int_eq(l.status, 200);
    ck_assert_str_eq(json_str(l.ev[l.n - 1].json, "state"), "succeeded");
    sse_list_free(&l);
    r = client_request(&d, "DELETE", "/runs/1?access_token=s3cret-t0ken-0123456789", NULL, NULL);
    assert_problem(&r, 401, NULL); /* the query token is for GET only */
    reply_free(&r);
    daemon_cleanup(&d);
}
END_TEST

static Suite *api_errors_suite(void)
{
    Suite *s = suite_create("api_errors");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_spec_errors);
    tcase_add_test(tc, test_not_found_and_methods);
    tcase_add_test(tc, test_conflicts_and_failed_run);
    tcase_add_test(tc, test_body_too_large);
    tcase_add_test(tc, test_queue_full);
    tcase_add_test(tc, test_garbage_burst);
    tcase_add_test(tc, test_bad_text_in_body);
    tcase_add_test(tc, test_auth_token);
    tcase_add_test(tc, test_nul_in_target);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, api_errors_suite()); }
