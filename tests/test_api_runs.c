/* The real daemon's /runs resource and service routes: create, get, list
 * with filters and paging, cancel, delete, FIFO order of one worker, and
 * /livez, /readyz, /models, /datasets and the page. The daemon's path is
 * argv[1]. */
#include "daemon_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LONG_RUN 1000000L /* steps no test waits for: the run holds the worker */

static const char *const loss_names[] = {"loss_d", "loss_g", "d_real", "d_fake", NULL};

static bool is_iso_time(const cJSON *o, const char *name)
{
    const char *s = json_str(o, name);
    int y, mo, d, h, mi, sec, ms;
    char z;
    return strlen(s) == 24 &&
           sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z) == 8 &&
           z == 'Z' && y >= 2024 && mo >= 1 && mo <= 12;
}

static void path_of(char *out, size_t n, int64_t id, const char *suffix)
{
    snprintf(out, n, "/runs/%lld%s", (long long)id, suffix ? suffix : "");
}

START_TEST(test_create_get_and_finish)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    char spec[2048];
    run_spec(&d, NULL, 12, "\"name\":\"tiny\",\"seed\":5", spec, sizeof spec);
    reply r = client_post(&d, "/runs", spec);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    char loc[64], want[64];
    int64_t id = (int64_t)json_num(r.json, "id");
    ck_assert_int_eq(id, 1);
    path_of(want, sizeof want, id, NULL);
    ck_assert_str_eq(reply_header(&r, "Location", loc, sizeof loc), want);
    ck_assert_str_eq(json_str(r.json, "name"), "tiny");
    ck_assert_str_eq(json_str(r.json, "model"), "dcgan");
    ck_assert_str_eq(json_str(r.json, "dataset"), d.data_dir);
    const char *st = json_str(r.json, "status");
    ck_assert_msg(!strcmp(st, "queued") || !strcmp(st, "running"), "new run is %s", st);
    ck_assert_int_eq((int)json_num(r.json, "total_steps"), 12);
    ck_assert(is_iso_time(r.json, "created_at"));
    ck_assert(json_is_null(r.json, "finished_at"));
    ck_assert(json_is_null(r.json, "error"));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "cancel_requested")));
    /* the spec comes back normalised: given fields kept, defaults filled in */
    const cJSON *sp = cJSON_GetObjectItem(r.json, "spec");
    ck_assert_int_eq((int)json_num(sp, "steps"), 12);
    ck_assert_int_eq((int)json_num(sp, "seed"), 5);
    ck_assert_int_eq((int)json_num(sp, "g_width"), 16);
    ck_assert_int_eq((int)json_num(sp, "z_dim"), 100);
    ck_assert_str_eq(json_str(sp, "loss"), "bce");
    reply_free(&r);

    cJSON *run = wait_run(&d, id, "succeeded", 60);
    ck_assert_int_eq((int)json_num(run, "step"), 12);
    ck_assert_int_eq((int)json_num(run, "checkpoint_step"), 12);
    ck_assert(is_iso_time(run, "started_at"));
    ck_assert(is_iso_time(run, "finished_at"));
    ck_assert(strcmp(json_str(run, "finished_at"), json_str(run, "started_at")) >= 0);
    ck_assert(json_is_null(run, "steps_per_s"));
    ck_assert(json_is_null(run, "error"));
    /* running, metrics and progress at the last step, samples 5, 10, 12, succeeded */
    ck_assert_int_eq((int)json_num(run, "last_event_id"), 7);
    cJSON_Delete(run);
    assert_metric_steps(&d, id, 12, loss_names);
    daemon_cleanup(&d);
}
END_TEST

/* ids of the runs of GET path, newest first, into ids; returns the count and
 * copies next_cursor ("" for null) into cursor. */
static int list_ids(const gand_daemon *d, const char *path, int64_t *ids, char *cursor)
{
    reply r = client_get(d, path);
    ck_assert_msg(r.status == 200, "GET %.100s: %ld %.300s", path, r.status, r.body);
    const cJSON *runs = cJSON_GetObjectItem(r.json, "runs");
    ck_assert(cJSON_IsArray(runs));
    int n = 0;
    for (const cJSON *o = runs->child; o; o = o->next)
        ids[n++] = (int64_t)json_num(o, "id");
    const cJSON *next = cJSON_GetObjectItem(r.json, "next_cursor");
    ck_assert(cJSON_IsNull(next) || cJSON_IsString(next));
    snprintf(cursor, 64, "%s", cJSON_IsString(next) ? next->valuestring : "");
    reply_free(&r);
    return n;
}

/* Asserts GET path lists the runs want ("5,4,1", newest first) on one page. */
static void assert_ids(const gand_daemon *d, const char *path, const char *want)
{
    int64_t ids[16];
    char cursor[64], got[128] = "";
    int n = list_ids(d, path, ids, cursor);
    for (int i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "",
                 (long long)ids[i]);
    ck_assert_msg(strcmp(got, want) == 0, "GET %.100s lists [%s], want [%s]", path, got, want);
    ck_assert_str_eq(cursor, "");
}

START_TEST(test_list_filter_and_pages)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    for (int i = 0; i < 3; i++)
        submit_run(&d, 5, NULL);
    for (int64_t id = 1; id <= 3; id++)
        cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    int64_t busy = submit_run(&d, LONG_RUN, NULL);
    wait_step(&d, busy, 1, 60);
    int64_t waiting = submit_run(&d, 5, NULL);

    assert_ids(&d, "/runs", "5,4,3,2,1");
    assert_ids(&d, "/runs?status=succeeded", "3,2,1");
    assert_ids(&d, "/runs?status=running", "4");
    assert_ids(&d, "/runs?status=queued", "5");
    assert_ids(&d, "/runs?status=queued,running", "5,4");
    assert_ids(&d, "/runs?status=failed,canceled", "");
    /* a long list is read whole, however often it repeats itself */
    char *many = malloc(30000);
    strcpy(many, "/runs?status=");
    for (int i = 0; i < 2000; i++)
        strcat(many, i % 2 ? "queued," : "succeeded,");
    assert_ids(&d, many, "5,3,2,1");
    free(many);

    /* pages of two, following next_cursor to the end */
    int64_t ids[16], all[16];
    int total = 0;
    char cursor[64] = "", path[160];
    do {
        snprintf(path, sizeof path, "/runs?limit=2%s%s", cursor[0] ? "&cursor=" : "", cursor);
        int n = list_ids(&d, path, ids, cursor);
        ck_assert_int_eq(n, total < 4 ? 2 : 1);
        memcpy(all + total, ids, (size_t)n * sizeof *ids);
        total += n;
    } while (cursor[0]);
    ck_assert_int_eq(total, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(all[i], 5 - i);

    /* a filter holds across pages */
    int n = list_ids(&d, "/runs?status=succeeded&limit=2", ids, cursor);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 3);
    ck_assert_int_eq(ids[1], 2);
    ck_assert(cursor[0]);
    snprintf(path, sizeof path, "/runs?status=succeeded&limit=2&cursor=%s", cursor);
    n = list_ids(&d, path, ids, cursor);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_str_eq(cursor, "");

    reply r = client_post(&d, "/runs/4/cancel", NULL);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, busy, "canceled", 60));
    cJSON_Delete(wait_run(&d, waiting, "succeeded", 60));
    assert_ids(&d, "/runs?status=canceled", "4");
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_cancel)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t busy = submit_run(&d, LONG_RUN, NULL);
    int64_t waiting = submit_run(&d, 5, NULL);
    wait_step(&d, busy, 1, 60);
    /* a running run reports its speed and what is left */
    for (double t0 = now_s();;) {
        cJSON *run = get_run(&d, busy);
        bool rated = cJSON_IsNumber(cJSON_GetObjectItem(run, "steps_per_s"));
        if (rated) {
            ck_assert(json_num(run, "steps_per_s") > 0);
            ck_assert(json_num(run, "eta_s") > 0);
            ck_assert(json_is_null(run, "finished_at"));
        }
        cJSON_Delete(run);
        if (rated)
            break;
        ck_assert_msg(now_s() - t0 < 30, "no steps_per_s after 30 s of training");
    }

    /* a queued run is canceled at once and never starts */
    reply r = client_post(&d, "/runs/2/cancel", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_int_eq((int)json_num(r.json, "id"), (int)waiting);
    ck_assert_str_eq(json_str(r.json, "status"), "canceled");
    ck_assert(json_is_null(r.json, "started_at"));
    reply_free(&r);

    /* a running one stops at its next step */
    r = client_post(&d, "/runs/1/cancel", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    const char *st = json_str(r.json, "status");
    ck_assert_msg(!strcmp(st, "running") || !strcmp(st, "canceled"), "%s", st);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "cancel_requested")));
    reply_free(&r);
    cJSON *run = wait_run(&d, busy, "canceled", 30);
    ck_assert(is_iso_time(run, "finished_at"));
    ck_assert(json_num(run, "step") < (double)LONG_RUN);
    cJSON_Delete(run);
    run = get_run(&d, waiting);
    ck_assert_str_eq(json_str(run, "status"), "canceled");
    ck_assert(json_is_null(run, "started_at"));
    cJSON_Delete(run);

    r = client_post(&d, "/runs/1/cancel", NULL);
    assert_problem(&r, 409, "canceled");
    reply_free(&r);
    daemon_cleanup(&d);
}
END_TEST

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

START_TEST(test_delete)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t busy = submit_run(&d, LONG_RUN, NULL);
    int64_t waiting = submit_run(&d, 5, NULL);
    wait_step(&d, busy, 1, 60);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/runs/%lld", d.state_dir, (long long)busy);
    ck_assert(exists(dir));

    reply r = client_delete(&d, "/runs/1");
    assert_problem(&r, 409, "cancel");
    reply_free(&r);
    ck_assert(exists(dir));

    /* a queued run goes at once, and leaves the queue */
    char path[64];
    path_of(path, sizeof path, waiting, NULL);
    r = client_delete(&d, path);
    ck_assert_msg(r.status == 204, "%ld %s", r.status, r.body);
    ck_assert_uint_eq(r.len, 0);
    reply_free(&r);
    r = client_get(&d, "/readyz");
    ck_assert_int_eq((int)json_num(r.json, "queued"), 0);
    ck_assert_int_eq((int)json_num(r.json, "running"), 1);
    reply_free(&r);

    r = client_post(&d, "/runs/1/cancel", NULL);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, busy, "canceled", 30));
    r = client_delete(&d, "/runs/1");
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    ck_assert(!exists(dir));
    static const char *const gone[] = {"/runs/1",         "/runs/1/metrics",
                                       "/runs/1/samples", "/runs/1/samples/5.png",
                                       "/runs/1/checkpoint", "/runs/2"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++) {
        r = client_get(&d, gone[i]);
        assert_problem(&r, 404, NULL);
        reply_free(&r);
    }
    r = client_delete(&d, "/runs/1");
    assert_problem(&r, 404, "does not exist");
    reply_free(&r);
    assert_ids(&d, "/runs", "");

    /* the worker is free for the next run; ids are never reused */
    int64_t next = submit_run(&d, 5, NULL);
    ck_assert_int_eq(next, 3);
    cJSON_Delete(wait_run(&d, next, "succeeded", 60));
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_fifo_one_worker)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t a = submit_run(&d, 40, NULL);
    int64_t b = submit_run(&d, 5, NULL);
    int64_t c = submit_run(&d, 5, NULL);
    cJSON *rc = wait_run(&d, c, "succeeded", 60);
    cJSON *ra = get_run(&d, a), *rb = get_run(&d, b);
    ck_assert_str_eq(json_str(ra, "status"), "succeeded");
    ck_assert_str_eq(json_str(rb, "status"), "succeeded");
    /* each starts once the one before has finished (ISO times sort as text) */
    ck_assert(strcmp(json_str(rb, "started_at"), json_str(ra, "finished_at")) >= 0);
    ck_assert(strcmp(json_str(rc, "started_at"), json_str(rb, "finished_at")) >= 0);
    cJSON_Delete(ra);
    cJSON_Delete(rb);
    cJSON_Delete(rc);

    /* and the event log says so exactly: the state events in id order */
    sse_list l = sse_read(&d, (sse_opts){.path = "/events?after_id=0", .final_of = c});
    char seq[256] = "";
    for (size_t i = 0; i < l.n; i++) {
        if (strcmp(l.ev[i].event, "state") != 0)
            continue;
        char item[48];
        snprintf(item, sizeof item, "%d:%s ", (int)json_num(l.ev[i].json, "run_id"),
                 json_str(l.ev[i].json, "state"));
        strcat(seq, item);
    }
    ck_assert_str_eq(seq, "1:running 1:succeeded 2:running 2:succeeded 3:running 3:succeeded ");
    sse_list_free(&l);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_service_routes)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    reply r = client_get(&d, "/livez");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_str(r.json, "status"), "ok");
    reply_free(&r);
    r = client_get(&d, "/readyz");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_str(r.json, "status"), "ready");
    ck_assert_int_eq((int)json_num(r.json, "queued"), 0);
    ck_assert_int_eq((int)json_num(r.json, "running"), 0);
    reply_free(&r);

    r = client_get(&d, "/models");
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(r.json);
    ck_assert_ptr_nonnull(strstr(r.body, "\"dcgan\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"batch_size\""));
    reply_free(&r);

    r = client_get(&d, "/datasets");
    ck_assert_int_eq(r.status, 200);
    const cJSON *list = cJSON_GetObjectItem(r.json, "datasets");
    ck_assert_int_ge(cJSON_GetArraySize(list), 1);
    const cJSON *first = cJSON_GetArrayItem(list, 0);
    ck_assert_str_eq(json_str(first, "name"), "fashion-mnist");
    ck_assert(cJSON_IsBool(cJSON_GetObjectItem(first, "available")));
    reply_free(&r);

    char type[64], tag[64];
    r = client_get(&d, "/");
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(reply_header(&r, "Content-Type", type, sizeof type),
                                 "text/html"));
    ck_assert_str_eq(r.body, DAEMON_INDEX_HTML);
    reply_header(&r, "ETag", tag, sizeof tag);
    reply_free(&r);
    ck_assert(tag[0] == '"');
    char inm[96];
    snprintf(inm, sizeof inm, "If-None-Match: %s", tag);
    r = client_request(&d, "GET", "/index.html", NULL, (const char *const[]){inm, NULL});
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(r.len, 0);
    reply_free(&r);

    r = client_request(&d, "HEAD", "/livez", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, 0);
    reply_free(&r);
    daemon_cleanup(&d);
}
END_TEST

static Suite *api_runs_suite(void)
{
    Suite *s = suite_create("api_runs");
    TCase *tc = tcase_create("runs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_create_get_and_finish);
    tcase_add_test(tc, test_list_filter_and_pages);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_fifo_one_worker);
    tcase_add_test(tc, test_service_routes);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, api_runs_suite()); }
