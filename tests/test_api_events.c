/* The real daemon's Server-Sent Events: live delivery of a run's state,
 * progress, metrics and sample events, reconnection with Last-Event-ID or
 * ?after_id= getting exactly the missed events, and /events carrying
 * run_id. The daemon's path is argv[1]. */
#include "daemon_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 30

/* Asserts a holds the nb events of b: same ids, names and data. */
static void assert_same_events(const sse_list *a, const sse_event *b, size_t nb)
{
    ck_assert_uint_eq(a->n, nb);
    for (size_t i = 0; i < nb; i++) {
        ck_assert_int_eq(a->ev[i].id, b[i].id);
        ck_assert_str_eq(a->ev[i].event, b[i].event);
        ck_assert_str_eq(a->ev[i].data, b[i].data);
    }
}

/* What a finished run's stream must hold: increasing ids, running first
 * and succeeded last, a sample event for each grid, and the last progress
 * and metrics at the last step. */
static void assert_run_story(const sse_list *l, int64_t id, long steps)
{
    ck_assert_int_ge(l->n, 4);
    for (size_t i = 1; i < l->n; i++)
        ck_assert_int_gt(l->ev[i].id, l->ev[i - 1].id);
    ck_assert_str_eq(l->ev[0].event, "state");
    ck_assert_str_eq(json_str(l->ev[0].json, "state"), "running");
    ck_assert_str_eq(l->ev[l->n - 1].event, "state");
    ck_assert_str_eq(json_str(l->ev[l->n - 1].json, "state"), "succeeded");
    long next_sample = 5, progress = 0, metrics = 0;
    for (size_t i = 0; i < l->n; i++) {
        const sse_event *e = &l->ev[i];
        if (strcmp(e->event, "sample") == 0) {
            char url[64];
            snprintf(url, sizeof url, "/runs/%lld/samples/%ld.png", (long long)id, next_sample);
            ck_assert_int_eq((long)json_num(e->json, "step"), next_sample);
            ck_assert_str_eq(json_str(e->json, "url"), url);
            next_sample += 5;
        } else if (strcmp(e->event, "progress") == 0) {
            ck_assert_int_gt((long)json_num(e->json, "step"), progress);
            progress = (long)json_num(e->json, "step");
            ck_assert_int_eq((long)json_num(e->json, "total"), steps);
            ck_assert(json_num(e->json, "steps_per_s") >= 0);
            ck_assert(json_num(e->json, "eta_s") >= 0);
        } else if (strcmp(e->event, "metrics") == 0) {
            ck_assert_int_gt((long)json_num(e->json, "step"), metrics);
            metrics = (long)json_num(e->json, "step");
            const cJSON *v = cJSON_GetObjectItem(e->json, "values");
            ck_assert(json_num(v, "loss_d") > 0);
            ck_assert(json_num(v, "loss_g") > 0);
        } else {
            ck_assert_str_eq(e->event, "state");
        }
    }
    ck_assert_int_eq(next_sample, steps + 5);
    ck_assert_int_eq(progress, steps);
    ck_assert_int_eq(metrics, steps);
}

START_TEST(test_live_stream)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    /* the run waits behind another while its stream opens */
    int64_t busy = submit_run(&d, 1000000, NULL);
    int64_t id = submit_run(&d, STEPS, NULL);
    sse_async *live = sse_start(&d, (sse_opts){.path = "/runs/2/events", .final_of = id});
    sse_wait_open(live);
    reply r = client_post(&d, "/runs/1/cancel", NULL);
    reply_free(&r);
    sse_list l = sse_finish(live);
    ck_assert_int_eq(l.status, 200);
    ck_assert_str_eq(l.content_type, "text/event-stream");
    assert_run_story(&l, id, STEPS);

    /* the store holds the very same events, ids included */
    sse_list all = sse_read(&d, (sse_opts){.path = "/runs/2/events?after_id=0", .final_of = id});
    assert_same_events(&all, l.ev, l.n);
    cJSON *run = get_run(&d, id);
    ck_assert_int_eq((int64_t)json_num(run, "last_event_id"), l.ev[l.n - 1].id);
    cJSON_Delete(run);
    run = get_run(&d, busy);
    ck_assert_str_eq(json_str(run, "status"), "canceled");
    cJSON_Delete(run);
    sse_list_free(&all);
    sse_list_free(&l);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_reconnect_after_end)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t id = submit_run(&d, STEPS, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    sse_list all = sse_read(&d, (sse_opts){.path = "/runs/1/events?after_id=0", .final_of = id});
    assert_run_story(&all, id, STEPS);

    for (size_t k = 0; k + 1 < all.n; k += 3) {
        char last[32], path[64];
        snprintf(last, sizeof last, "%lld", (long long)all.ev[k].id);
        sse_list again = sse_read(&d, (sse_opts){.path = "/runs/1/events",
                                                 .last_event_id = last,
                                                 .final_of = id});
        assert_same_events(&again, all.ev + k + 1, all.n - k - 1);
        sse_list_free(&again);
        snprintf(path, sizeof path, "/runs/1/events?after_id=%s", last);
        sse_opts o = {.final_of = id};
        snprintf(o.path, sizeof o.path, "%s", path);
        again = sse_read(&d, o);
        assert_same_events(&again, all.ev + k + 1, all.n - k - 1);
        sse_list_free(&again);
    }
    /* Last-Event-ID wins over ?after_id= (a browser reconnects with both) */
    char last[32];
    snprintf(last, sizeof last, "%lld", (long long)all.ev[all.n - 2].id);
    sse_list tail = sse_read(&d, (sse_opts){.path = "/runs/1/events?after_id=0",
                                            .last_event_id = last,
                                            .final_of = id});
    assert_same_events(&tail, all.ev + all.n - 1, 1);
    sse_list_free(&tail);

    /* a client with nothing to catch up gets nothing old; bad ids are refused */
    snprintf(last, sizeof last, "%lld", (long long)all.ev[all.n - 1].id);
    tail = sse_read(&d, (sse_opts){.path = "/runs/1/events", .last_event_id = last,
                                   .timeout_s = 0.5});
    ck_assert_int_eq(tail.status, 200);
    ck_assert_uint_eq(tail.n, 0);
    sse_list_free(&tail);
    tail = sse_read(&d, (sse_opts){.path = "/runs/1/events", .timeout_s = 0.5});
    ck_assert_uint_eq(tail.n, 0);
    sse_list_free(&tail);
    reply r = client_request(&d, "GET", "/runs/1/events", NULL,
                             (const char *const[]){"Last-Event-ID: soon", NULL});
    assert_problem(&r, 400, "Last-Event-ID");
    reply_free(&r);
    r = client_get(&d, "/runs/1/events?after_id=x");
    assert_problem(&r, 400, "after_id");
    reply_free(&r);
    sse_list_free(&all);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_reconnect_mid_run)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    long steps = 400; /* long enough to span several progress events */
    int64_t id = submit_run(&d, steps, "\"sample_every\":50,\"checkpoint_every\":100");
    sse_list first =
        sse_read(&d, (sse_opts){.path = "/runs/1/events?after_id=0", .max_events = 3});
    ck_assert_uint_eq(first.n, 3);
    char last[32];
    snprintf(last, sizeof last, "%lld", (long long)first.ev[2].id);
    sse_list rest = sse_read(&d, (sse_opts){.path = "/runs/1/events", .last_event_id = last,
                                            .final_of = id, .timeout_s = 60});
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    sse_list all = sse_read(&d, (sse_opts){.path = "/runs/1/events?after_id=0", .final_of = id});
    /* the two connections together saw every event once */
    ck_assert_uint_eq(first.n + rest.n, all.n);
    for (size_t i = 0; i < all.n; i++) {
        const sse_event *e = i < 3 ? &first.ev[i] : &rest.ev[i - 3];
        ck_assert_int_eq(e->id, all.ev[i].id);
        ck_assert_str_eq(e->data, all.ev[i].data);
    }
    ck_assert_str_eq(json_str(all.ev[all.n - 1].json, "state"), "succeeded");
    sse_list_free(&first);
    sse_list_free(&rest);
    sse_list_free(&all);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_all_runs_stream)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    /* live: open before anything happens */
    sse_async *live = sse_start(&d, (sse_opts){.path = "/events", .final_of = 2});
    sse_wait_open(live);
    int64_t a = submit_run(&d, 10, NULL);
    int64_t b = submit_run(&d, 15, NULL);
    sse_list l = sse_finish(live);
    ck_assert_int_eq(l.status, 200);
    ck_assert_str_eq(l.content_type, "text/event-stream");

    /* every event names its run; split by run they are the runs' own streams */
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < l.n; i++) {
        int64_t run = (int64_t)json_num(l.ev[i].json, "run_id");
        ck_assert(run == a || run == b);
        na += run == a;
        nb += run == b;
        if (i > 0)
            ck_assert_int_gt(l.ev[i].id, l.ev[i - 1].id);
    }
    sse_list ra = sse_read(&d, (sse_opts){.path = "/runs/1/events?after_id=0", .final_of = a});
    sse_list rb = sse_read(&d, (sse_opts){.path = "/runs/2/events?after_id=0", .final_of = b});
    ck_assert_uint_eq(na, ra.n);
    ck_assert_uint_eq(nb, rb.n);
    size_t ia = 0, ib = 0;
    for (size_t i = 0; i < l.n; i++) {
        int64_t run = (int64_t)json_num(l.ev[i].json, "run_id");
        const sse_event *own = run == a ? &ra.ev[ia++] : &rb.ev[ib++];
        ck_assert_int_eq(l.ev[i].id, own->id);
        ck_assert_str_eq(l.ev[i].event, own->event);
        /* the same members plus run_id */
        cJSON *copy = cJSON_Duplicate(l.ev[i].json, 1);
        cJSON_DeleteItemFromObject(copy, "run_id");
        ck_assert_msg(cJSON_Compare(copy, own->json, 1), "event %lld: %s vs %s",
                      (long long)own->id, l.ev[i].data, own->data);
        cJSON_Delete(copy);
    }
    assert_run_story(&ra, a, 10);
    assert_run_story(&rb, b, 15);

    /* catching up on /events gives the same */
    sse_list again = sse_read(&d, (sse_opts){.path = "/events?after_id=0", .final_of = b});
    assert_same_events(&again, l.ev, l.n);
    char last[32];
    snprintf(last, sizeof last, "%lld", (long long)l.ev[4].id);
    sse_list_free(&again);
    again = sse_read(&d, (sse_opts){.path = "/events", .last_event_id = last, .final_of = b});
    assert_same_events(&again, l.ev + 5, l.n - 5);
    sse_list_free(&again);
    sse_list_free(&ra);
    sse_list_free(&rb);
    sse_list_free(&l);
    daemon_cleanup(&d);
}
END_TEST

/* SIGTERM ends open streams: the daemon stops promptly and cleanly. */
START_TEST(test_streams_end_at_shutdown)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t id = submit_run(&d, 1000000, NULL);
    wait_step(&d, id, 1, 60);
    sse_async *one = sse_start(&d, (sse_opts){.path = "/runs/1/events", .timeout_s = 30});
    sse_async *all = sse_start(&d, (sse_opts){.path = "/events", .timeout_s = 30});
    sse_wait_open(one);
    sse_wait_open(all);
    double t0 = now_s();
    ck_assert_int_eq(daemon_stop(&d), 0);
    sse_list a = sse_finish(one), b = sse_finish(all);
    ck_assert_msg(now_s() - t0 < 5, "stopping took %.1f s", now_s() - t0);
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(b.status, 200);
    sse_list_free(&a);
    sse_list_free(&b);
    /* the interrupted run waits in the queue for the next start */
    daemon_start(&d);
    cJSON *run = get_run(&d, id);
    const char *st = json_str(run, "status");
    ck_assert_msg(!strcmp(st, "queued") || !strcmp(st, "running"), "%s", st);
    cJSON_Delete(run);
    reply r = client_post(&d, "/runs/1/cancel", NULL);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, id, "canceled", 30));
    daemon_cleanup(&d);
}
END_TEST

static Suite *api_events_suite(void)
{
    Suite *s = suite_create("api_events");
    TCase *tc = tcase_create("events");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_live_stream);
    tcase_add_test(tc, test_reconnect_after_end);
    tcase_add_test(tc, test_reconnect_mid_run);
    tcase_add_test(tc, test_all_runs_stream);
    tcase_add_test(tc, test_streams_end_at_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, api_events_suite()); }
