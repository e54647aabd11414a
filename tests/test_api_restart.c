/* The real daemon across restarts on one state directory: finished runs,
 * their metrics, samples and events survive a SIGTERM; a run interrupted
 * by SIGTERM or SIGKILL resumes and ends with every step recorded once.
 * The daemon's path is argv[1]. */
#include "daemon_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"loss_d", "loss_g", "d_real", "d_fake", NULL};

/* The body of GET path, asserted 200 (malloc'd). */
static char *body_of(const gand_daemon *d, const char *path, size_t *len)
{
    reply r = client_get(d, path);
    ck_assert_msg(r.status == 200, "GET %s: %ld", path, r.status);
    char *b = r.body;
    *len = r.len;
    r.body = NULL;
    reply_free(&r);
    return b;
}

typedef struct {
    const char *path;
    char *body;
    size_t len;
} snapshot;

START_TEST(test_finished_runs_survive)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t a = submit_run(&d, 20, NULL);
    int64_t b = submit_model(&d, "cgan", 15, NULL);
    int64_t c = submit_run(&d, 1000000, NULL);
    cJSON_Delete(wait_run(&d, b, "succeeded", 60));
    reply r = client_post(&d, "/runs/3/cancel", NULL);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, c, "canceled", 60));
    ck_assert_int_eq(a, 1);

    snapshot snap[] = {
        {"/runs"},
        {"/runs/1"},
        {"/runs/2"},
        {"/runs/3"},
        {"/runs/1/metrics"},
        {"/runs/2/metrics"},
        {"/runs/1/samples"},
        {"/runs/2/samples"},
        {"/runs/1/samples/5.png"},
        {"/runs/1/samples/20.png"},
        {"/runs/2/samples/latest.png"},
        {"/runs/1/checkpoint"},
        {"/runs/1/generate?n=9&seed=4"},
        {"/runs/2/generate?n=4&seed=4&label=1"},
    };
    size_t n = sizeof snap / sizeof *snap;
    for (size_t i = 0; i < n; i++)
        snap[i].body = body_of(&d, snap[i].path, &snap[i].len);
    sse_list events = sse_read(&d, (sse_opts){.path = "/events?after_id=0", .final_of = c});
    ck_assert_int_eq(daemon_stop(&d), 0);

    daemon_start(&d);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *now = body_of(&d, snap[i].path, &len);
        ck_assert_msg(len == snap[i].len && memcmp(now, snap[i].body, len) == 0,
                      "GET %s changed across the restart:\n%.300s\n%.300s", snap[i].path,
                      snap[i].body, now);
        free(now);
        free(snap[i].body);
    }
    sse_list again = sse_read(&d, (sse_opts){.path = "/events?after_id=0", .final_of = c});
    ck_assert_uint_eq(again.n, events.n);
    for (size_t i = 0; i < events.n; i++) {
        ck_assert_int_eq(again.ev[i].id, events.ev[i].id);
        ck_assert_str_eq(again.ev[i].data, events.ev[i].data);
    }
    sse_list_free(&again);
    sse_list_free(&events);
    assert_metric_steps(&d, a, 20, names);
    assert_metric_steps(&d, b, 15, names);

    /* the new daemon takes new runs, with new ids */
    int64_t next = submit_run(&d, 5, NULL);
    ck_assert_int_eq(next, 4);
    cJSON_Delete(wait_run(&d, next, "succeeded", 60));
    daemon_cleanup(&d);
}
END_TEST

/* Asserts the samples of run id are at steps every, 2 every, ..., steps. */
static void assert_sample_steps(const gand_daemon *d, int64_t id, long every, long steps)
{
    char path[64];
    snprintf(path, sizeof path, "/runs/%lld/samples", (long long)id);
    reply r = client_get(d, path);
    ck_assert_int_eq(r.status, 200);
    const cJSON *list = cJSON_GetObjectItem(r.json, "samples");
    ck_assert_int_eq(cJSON_GetArraySize(list), (int)(steps / every));
    long want = every;
    for (const cJSON *s = list->child; s; s = s->next, want += every) {
        ck_assert_int_eq((long)json_num(s, "step"), want);
        char png[96];
        snprintf(png, sizeof png, "/runs/%lld/samples/%ld.png", (long long)id, want);
        reply img = client_get(d, png);
        ck_assert_msg(img.status == 200, "GET %s: %ld", png, img.status);
        reply_free(&img);
    }
    reply_free(&r);
}

/* The state events of run id in order, as "running queued running ...". */
static void state_story(const gand_daemon *d, int64_t id, char *out, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/runs/%lld/events?after_id=0", (long long)id);
    sse_opts o = {.final_of = id};
    snprintf(o.path, sizeof o.path, "%s", path);
    sse_list l = sse_read(d, o);
    out[0] = '\0';
    for (size_t i = 0; i < l.n; i++) {
        if (i > 0)
            ck_assert_int_gt(l.ev[i].id, l.ev[i - 1].id);
        if (strcmp(l.ev[i].event, "state") == 0)
            snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? " " : "",
                     json_str(l.ev[i].json, "state"));
    }
    sse_list_free(&l);
}

/* Interrupts a run of steps steps with sig mid-way, restarts, and checks
 * that it resumed and recorded every step once. */
static void interrupt_and_resume(int sig)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    long steps = 600;
    int64_t id = submit_run(&d, steps, "\"sample_every\":50,\"checkpoint_every\":25");
    /* the same spec again, queued behind: the uninterrupted twin */
    int64_t after = submit_run(&d, steps, "\"sample_every\":50,\"checkpoint_every\":25");
    wait_step(&d, id, 60, 60);
    cJSON *run = get_run(&d, id);
    long at = (long)json_num(run, "step");
    cJSON_Delete(run);
    ck_assert_msg(at < steps, "the run ended before it was interrupted (step %ld)", at);
    if (sig == SIGTERM)
        ck_assert_int_eq(daemon_stop(&d), 0);
    else
        daemon_kill(&d);

    daemon_start(&d);
    run = wait_run(&d, id, "succeeded", 120);
    ck_assert_int_eq((long)json_num(run, "step"), steps);
    ck_assert_int_eq((long)json_num(run, "checkpoint_step"), steps);
    cJSON_Delete(run);
    assert_metric_steps(&d, id, steps, names);
    assert_sample_steps(&d, id, 50, steps);
    char story[256];
    state_story(&d, id, story, sizeof story);
    ck_assert_str_eq(story, "running queued running succeeded");
    /* the run queued behind it kept its place and ran after it */
    cJSON_Delete(wait_run(&d, after, "succeeded", 60));
    state_story(&d, after, story, sizeof story);
    ck_assert_str_eq(story, "running succeeded");
    /* and the resumed run trained exactly as its uninterrupted twin */
    reply m1 = client_get(&d, "/runs/1/metrics"), m2 = client_get(&d, "/runs/2/metrics");
    for (int i = 0; names[i]; i++) {
        const cJSON *v1 = cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(m1.json, "series"), names[i]), "values");
        const cJSON *v2 = cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(m2.json, "series"), names[i]), "values");
        ck_assert_int_eq(cJSON_GetArraySize(v1), (int)steps);
        ck_assert_msg(cJSON_Compare(v1, v2, 1), "%s differs from the uninterrupted run",
                      names[i]);
    }
    reply_free(&m1);
    reply_free(&m2);
    char *log = daemon_log(&d);
    ck_assert_msg(strstr(log, sig == SIGTERM ? "resumes at the next start" : "was interrupted"),
                  "%s", log);
    /* the second start went on from a checkpoint, not from step 0 */
    const char *starts = strstr(log, "run 1: training 600 steps from step ");
    ck_assert_ptr_nonnull(starts);
    starts = strstr(starts + 1, "run 1: training 600 steps from step ");
    ck_assert_msg(starts != NULL, "%s", log);
    long from = atol(starts + strlen("run 1: training 600 steps from step "));
    /* SIGTERM checkpoints where it stops; SIGKILL leaves the last periodic one */
    if (sig == SIGTERM)
        ck_assert_msg(from >= at && from < steps, "resumed from %ld, stopped after %ld", from, at);
    else
        ck_assert_msg(from >= 50 && from % 25 == 0, "resumed from %ld", from);
    free(log);
    daemon_cleanup(&d);
}

START_TEST(test_sigterm_mid_run_resumes) { interrupt_and_resume(SIGTERM); }
END_TEST

START_TEST(test_sigkill_mid_run_resumes) { interrupt_and_resume(SIGKILL); }
END_TEST

static Suite *api_restart_suite(void)
{
    Suite *s = suite_create("api_restart");
    TCase *tc = tcase_create("restart");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_finished_runs_survive);
    tcase_add_test(tc, test_sigterm_mid_run_resumes);
    tcase_add_test(tc, test_sigkill_mid_run_resumes);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, api_restart_suite()); }
