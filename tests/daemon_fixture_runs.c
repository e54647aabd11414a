/* The JSON and run helpers of daemon_fixture.h: specs, submissions and
 * polling a run until it reaches a state or a step. */
#include "daemon_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    ck_assert_msg(cJSON_IsString(v), "member '%s' is not a string", name);
    return v->valuestring;
}

double json_num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    ck_assert_msg(cJSON_IsNumber(v), "member '%s' is not a number", name);
    return v->valuedouble;
}

bool json_is_null(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    ck_assert_msg(v != NULL, "member '%s' is missing", name);
    return cJSON_IsNull(v);
}

/* ---- runs ---- */

void run_spec(const gand_daemon *d, const char *model, long steps, const char *extra, char *out,
              size_t n)
{
    static const char *const defaults[] = {"\"batch_size\":8", "\"g_width\":16", "\"d_width\":8",
                                           "\"sample_every\":5", "\"checkpoint_every\":10"};
    int len = snprintf(out, n, "{\"model\":\"%s\",\"dataset\":\"%s\",\"steps\":%ld",
                       model ? model : "dcgan", d->data_dir, steps);
    /* a default the extra members name is left out */
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) {
        size_t key = (size_t)(strchr(defaults[i], ':') - defaults[i]);
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)key, defaults[i]);
        if (!extra || !strstr(extra, name))
            len += snprintf(out + len, n - (size_t)len, ",%s", defaults[i]);
        ck_assert_int_lt(len, (int)n);
    }
    len += snprintf(out + len, n - (size_t)len, "%s%s}", extra ? "," : "", extra ? extra : "");
    ck_assert_int_lt(len, (int)n);
}

int64_t submit_model(const gand_daemon *d, const char *model, long steps, const char *extra)
{
    char spec[2048];
    run_spec(d, model, steps, extra, spec, sizeof spec);
    reply r = client_post(d, "/runs", spec);
    ck_assert_msg(r.status == 201, "POST /runs: %ld %s", r.status, r.body);
    int64_t id = (int64_t)json_num(r.json, "id");
    reply_free(&r);
    return id;
}

int64_t submit_run(const gand_daemon *d, long steps, const char *extra)
{
    return submit_model(d, NULL, steps, extra);
}

cJSON *get_run(const gand_daemon *d, int64_t id)
{
    char path[64];
    snprintf(path, sizeof path, "/runs/%lld", (long long)id);
    reply r = client_get(d, path);
    ck_assert_msg(r.status == 200, "GET %.200s: %ld %.300s", path, r.status, r.body);
    cJSON *run = r.json;
    r.json = NULL;
    reply_free(&r);
    return run;
}

static bool final_status(const char *s)
{
    return strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 ||
           strcmp(s, "canceled") == 0;
}

cJSON *wait_run(const gand_daemon *d, int64_t id, const char *status, double timeout_s)
{
    double t0 = now_s();
    for (;;) {
        cJSON *run = get_run(d, id);
        const char *now = json_str(run, "status");
        if (strcmp(now, status) == 0)
            return run;
        char *text = cJSON_PrintUnformatted(run);
        ck_assert_msg(!final_status(now), "run %lld ended %s, want %s: %s", (long long)id, now,
                      status, text);
        ck_assert_msg(now_s() - t0 < timeout_s, "run %lld still %s after %.0f s: %s",
                      (long long)id, now, timeout_s, text);
        free(text);
        cJSON_Delete(run);
        sleep_ms(10);
    }
}

void wait_step(const gand_daemon *d, int64_t id, long step, double timeout_s)
{
    double t0 = now_s();
    for (;;) {
        cJSON *run = get_run(d, id);
        bool there = strcmp(json_str(run, "status"), "running") == 0 &&
                     json_num(run, "step") >= (double)step;
        ck_assert_msg(!final_status(json_str(run, "status")), "run %lld ended before step %ld",
                      (long long)id, step);
        cJSON_Delete(run);
        if (there)
            return;
        ck_assert_msg(now_s() - t0 < timeout_s, "run %lld did not reach step %ld in %.0f s",
                      (long long)id, step, timeout_s);
        sleep_ms(5);
    }
}

void assert_metric_steps(const gand_daemon *d, int64_t id, long n, const char *const *names)
{
    char path[96];
    snprintf(path, sizeof path, "/runs/%lld/metrics", (long long)id);
    reply r = client_get(d, path);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_num(r.json, "run_id"), (int)id);
    const cJSON *series = cJSON_GetObjectItemCaseSensitive(r.json, "series");
    for (int k = 0; names[k]; k++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(series, names[k]);
        ck_assert_msg(s != NULL, "run %lld has no series %s", (long long)id, names[k]);
        const cJSON *steps = cJSON_GetObjectItemCaseSensitive(s, "steps");
        const cJSON *values = cJSON_GetObjectItemCaseSensitive(s, "values");
        ck_assert_int_eq(cJSON_GetArraySize(steps), (int)n);
        ck_assert_int_eq(cJSON_GetArraySize(values), (int)n);
        long want = 1;
        for (const cJSON *v = steps->child; v; v = v->next, want++)
            ck_assert_msg(v->valuedouble == (double)want, "%s: step %ld where %ld belongs",
                          names[k], (long)v->valuedouble, want);
        for (const cJSON *v = values->child; v; v = v->next)
            ck_assert(cJSON_IsNumber(v));
    }
    reply_free(&r);
}
