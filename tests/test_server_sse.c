/* Server-sent events over real sockets: order, ids, catch-up without gap
 * or duplicate, keep-alive pings, shutdown with streams open, and requests
 * served while streams are held. */
#include "http_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_sse_events_in_order)
{
    sse_client *c = sse_open("/runs/3/events", NULL, 5);
    wait_streams(1);
    ck_assert_int_eq(http_sse_publish(app.hub, 4, 1, "metrics", "other run"), GAND_OK);
    for (int i = 1; i <= 4; i++) {
        char d[32];
        snprintf(d, sizeof d, "{\"step\":%d}", i);
        ck_assert_int_eq(http_sse_publish(app.hub, 3, i, "metrics", d), GAND_OK);
    }
    /* a repeated id is dropped, multi-line data becomes several data lines */
    ck_assert_int_eq(http_sse_publish(app.hub, 3, 4, "metrics", "again"), GAND_OK);
    ck_assert_int_eq(http_sse_publish(app.hub, 3, 5, NULL, "a\nb\r\nc"), GAND_OK);
    char *text = sse_close(c);
    ck_assert_str_eq(text, "id: 1\nevent: metrics\ndata: {\"step\":1}\n\n"
                           "id: 2\nevent: metrics\ndata: {\"step\":2}\n\n"
                           "id: 3\nevent: metrics\ndata: {\"step\":3}\n\n"
                           "id: 4\nevent: metrics\ndata: {\"step\":4}\n\n"
                           "id: 5\ndata: a\ndata: b\ndata: c\n\n");
    free(text);
    wait_streams(0);
}
END_TEST

static void expect_ids(const char *text, int64_t first, int64_t last)
{
    int64_t want = first;
    for (const char *p = text; (p = strstr(p, "id: ")); p += 4) {
        if (p != text && p[-1] != '\n')
            continue;
        ck_assert_msg(want <= last, "extra event in:\n%s", text);
        ck_assert_int_eq(strtoll(p + 4, NULL, 10), want);
        want++;
    }
    ck_assert_msg(want == last + 1, "events stop before %lld in:\n%s", (long long)want, text);
}

START_TEST(test_sse_catch_up_then_live)
{
    for (int i = 1; i <= 10; i++)
        store_and_publish(5, "stored"); /* nobody listens yet: stored only */
    /* while the backlog is read, event 11 is stored and published before
     * the read (so it is in both) and 12 after it (live only) */
    app.race = true;
    sse_client *c = sse_open("/runs/5/events", "4", 9);
    wait_streams(1);
    double t0 = now_s();
    for (bool done = false; !done && now_s() - t0 < 5; usleep(1000)) {
        pthread_mutex_lock(&app.lock);
        done = app.next_id >= 13;
        pthread_mutex_unlock(&app.lock);
    }
    app.race = false;
    store_and_publish(5, "live");
    char *text = sse_close(c);
    expect_ids(text, 5, 13);
    ck_assert_ptr_nonnull(strstr(text, "id: 11\nevent: metrics\ndata: before-read\n\n"
                                       "id: 12\nevent: metrics\ndata: after-read\n\n"
                                       "id: 13\nevent: metrics\ndata: live\n\n"));
    free(text);

    /* no Last-Event-ID: everything stored, then live */
    c = sse_open("/runs/5/events", NULL, 14);
    wait_streams(1);
    store_and_publish(5, "live");
    text = sse_close(c);
    expect_ids(text, 1, 14);
    free(text);

    /* caught up already: live events only */
    c = sse_open("/runs/5/events", "14", 1);
    wait_streams(1);
    store_and_publish(5, "live");
    text = sse_close(c);
    ck_assert_str_eq(text, "id: 15\nevent: metrics\ndata: live\n\n");
    free(text);
}
END_TEST

START_TEST(test_sse_ping_and_headers)
{
    sse_client *c = sse_open("/runs/9/events", NULL, 0);
    sse_join(c);
    ck_assert_ptr_nonnull(c->data.data);
    ck_assert_str_eq(c->data.data, ": ping\n\n");
    ck_assert_ptr_nonnull(strstr(c->headers.data, "Content-Type: text/event-stream"));
    ck_assert_ptr_nonnull(strstr(c->headers.data, "Cache-Control: no-store"));
    free(sse_close(c));

    reply r = do_request((request_opts){.path = "/runs/9/events", .headers = {"Last-Event-ID: x"}});
    ck_assert_int_eq(r.status, 400);
    reply_free(&r);
}
END_TEST

START_TEST(test_stop_with_stream_open)
{
    sse_client *c = sse_open("/runs/1/events", NULL, 1000);
    wait_streams(1);
    ck_assert_int_eq(http_sse_publish(app.hub, 1, 1, NULL, "x"), GAND_OK);
    double t0 = now_s();
    http_stop(app.srv);
    app.srv = NULL;
    double stopped = now_s() - t0;
    sse_join(c);
    ck_assert_msg(stopped < 2.0, "http_stop took %.3f s", stopped);
    ck_assert_msg(c->ended - t0 < 2.0, "the client ended %.3f s after the stop", c->ended - t0);
    /* the stream was ended properly (last chunk sent), not cut */
    ck_assert_int_eq(c->rc, CURLE_OK);
    ck_assert_ptr_nonnull(strstr(c->data.data, "id: 1\ndata: x\n\n"));
    free(sse_close(c));
}
END_TEST

typedef struct {
    pthread_t t;
    long status;
} getter;

static void *get_main(void *arg)
{
    getter *g = arg;
    reply r = get("/slow");
    g->status = r.status;
    reply_free(&r);
    return NULL;
}

START_TEST(test_concurrent_requests_with_streams)
{
    sse_client *a = sse_open("/runs/1/events", NULL, 1);
    sse_client *b = sse_open("/runs/2/events", NULL, 1);
    wait_streams(2);
    getter g[20];
    double t0 = now_s();
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(pthread_create(&g[i].t, NULL, get_main, &g[i]), 0);
    for (int i = 0; i < 20; i++) {
        pthread_join(g[i].t, NULL);
        ck_assert_int_eq(g[i].status, 200);
    }
    double took = now_s() - t0;
    /* 20 handlers of 100 ms on 4 workers: 0.5 s at best; the held streams
     * occupy no worker */
    ck_assert_msg(took < 5.0, "20 requests took %.2f s", took);
    ck_assert_uint_eq(http_sse_streams(app.hub), 2);
    ck_assert_int_eq(http_sse_publish(app.hub, 1, 1, NULL, "one"), GAND_OK);
    ck_assert_int_eq(http_sse_publish(app.hub, 2, 1, NULL, "two"), GAND_OK);
    char *ta = sse_close(a), *tb = sse_close(b);
    ck_assert_str_eq(ta, "id: 1\ndata: one\n\n");
    ck_assert_str_eq(tb, "id: 1\ndata: two\n\n");
    free(ta);
    free(tb);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("server_sse");
    TCase *tc = tcase_create("sse");
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sse_events_in_order);
    tcase_add_test(tc, test_sse_catch_up_then_live);
    tcase_add_test(tc, test_sse_ping_and_headers);
    tcase_add_test(tc, test_stop_with_stream_open);
    tcase_add_test(tc, test_concurrent_requests_with_streams);
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
