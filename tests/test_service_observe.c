/* What an operator sees of the real daemon: GET /metrics in the
 * Prometheus text format (runs, queue, speed, HTTP counters by route and
 * status, a latency histogram, memory), behind the bearer token when one is
 * set; and the log: one line per request at debug, the lifecycle at info.
 * The daemon's path is argv[1]. */
#include "daemon_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* The value of the sample line that starts with series (name and labels,
 * exactly as written); asserts there is exactly one. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    double v = 0;
    int found = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        ck_assert_msg(end != NULL, "the exposition does not end in a newline");
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            char *stop;
            v = strtod(line + n + 1, &stop);
            ck_assert_msg(stop == end, "bad value: %.*s", (int)(end - line), line);
            found++;
        }
        line = end + 1;
    }
    ck_assert_msg(found == 1, "%d lines for %s in:\n%.3000s", found, series, text);
    return v;
}

/* The sum of the sample lines starting with prefix and holding part. */
static double sum_of(const char *text, const char *prefix, const char *part)
{
    double sum = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        const char *p = strstr(line, part);
        if (strncmp(line, prefix, strlen(prefix)) == 0 && p && p < end) {
            const char *value = end;
            while (value > line && value[-1] != ' ')
                value--;
            sum += strtod(value, NULL);
        }
        line = end + 1;
    }
    return sum;
}

/* Every line is a comment or "name{labels} value", and every sample's
 * metric was declared by a # TYPE line before it. */
static void assert_well_formed(const char *text)
{
    char declared[4096] = " ";
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        int len = (int)(end - line);
        char name[128];
        if (strncmp(line, "# TYPE ", 7) == 0) {
            ck_assert_int_eq(sscanf(line + 7, "%127s", name), 1);
            snprintf(declared + strlen(declared), sizeof declared - strlen(declared), "%s ", name);
        } else if (line[0] != '#') {
            size_t nl = strspn(line, "abcdefghijklmnopqrstuvwxyz_0123456789");
            ck_assert_msg(nl > 0 && nl < sizeof name && (line[nl] == '{' || line[nl] == ' '),
                          "bad line: %.*s", len, line);
            snprintf(name, sizeof name, "%.*s", (int)nl, line);
            /* histogram series carry suffixes after the declared name */
            static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
            char key[140];
            snprintf(key, sizeof key, " %s ", name);
            bool ok = strstr(declared, key) != NULL;
            for (size_t i = 0; !ok && i < 3; i++) {
                size_t sl = strlen(suffixes[i]);
                if (nl > sl && strcmp(name + nl - sl, suffixes[i]) == 0) {
                    snprintf(key, sizeof key, " %.*s ", (int)(nl - sl), name);
                    ok = strstr(declared, key) != NULL;
                }
            }
            ck_assert_msg(ok, "%s has no # TYPE line before it", name);
            const char *space = memchr(line, ' ', (size_t)len);
            if (line[nl] == '{')
                space = strstr(line, "} ") ? strstr(line, "} ") + 1 : NULL;
            ck_assert_msg(space && space < end, "no value: %.*s", len, line);
        }
        line = end + 1;
    }
}

static char *get_metrics(const gand_daemon *d)
{
    reply r = client_get(d, "/metrics");
    ck_assert_msg(r.status == 200, "GET /metrics: %ld %s", r.status, r.body);
    char type[128];
    reply_header(&r, "Content-Type", type, sizeof type);
    ck_assert_msg(strncmp(type, "text/plain; version=0.0.4", 25) == 0, "%s", type);
    char *text = r.body;
    r.body = NULL;
    reply_free(&r);
    assert_well_formed(text);
    return text;
}

static void get_n(const gand_daemon *d, const char *path, int n, long status)
{
    for (int i = 0; i < n; i++) {
        reply r = client_get(d, path);
        ck_assert_int_eq(r.status, status);
        reply_free(&r);
    }
}

START_TEST(test_prometheus)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    get_n(&d, "/livez", 3, 200);
    get_n(&d, "/no/such/page", 2, 404);
    reply r = client_post(&d, "/runs", "{");
    ck_assert_int_eq(r.status, 400);
    reply_free(&r);
    int64_t done = submit_run(&d, 10, NULL);
    cJSON_Delete(wait_run(&d, done, "succeeded", 60));
    int64_t busy = submit_run(&d, 1000000, NULL);
    int64_t waiting = submit_run(&d, 1000000, NULL);
    wait_step(&d, busy, 20, 60);

    char *m = get_metrics(&d);
    ck_assert(sample(m, "gand_runs{state=\"succeeded\"}") == 1);
    ck_assert(sample(m, "gand_runs{state=\"running\"}") == 1);
    ck_assert(sample(m, "gand_runs{state=\"queued\"}") == 1);
    ck_assert(sample(m, "gand_runs{state=\"failed\"}") == 0);
    ck_assert(sample(m, "gand_queue_depth") == 1);
    char series[96];
    snprintf(series, sizeof series, "gand_run_steps_per_second{run=\"%lld\"}", (long long)busy);
    ck_assert_msg(sample(m, series) > 0, "%s", m);
    ck_assert(!strstr(m, "gand_run_steps_per_second{run=\"1\"}"));
    ck_assert(sample(m, "gand_http_requests_total{route=\"GET /livez\",code=\"200\"}") == 3);
    ck_assert(sample(m, "gand_http_requests_total{route=\"GET /{path*}\",code=\"404\"}") == 2);
    ck_assert(sample(m, "gand_http_requests_total{route=\"POST /runs\",code=\"400\"}") == 1);
    ck_assert(sample(m, "gand_http_requests_total{route=\"POST /runs\",code=\"201\"}") == 3);
    ck_assert(sample(m, "gand_http_requests_total{route=\"GET /readyz\",code=\"200\"}") >= 1);

    /* the histogram: cumulative buckets ending in +Inf = _count */
    static const char *const les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                      "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
    double prev = 0;
    for (size_t i = 0; i < sizeof les / sizeof *les; i++) {
        snprintf(series, sizeof series, "gand_http_request_duration_seconds_bucket{le=\"%s\"}",
                 les[i]);
        double v = sample(m, series);
        ck_assert_msg(v >= prev, "bucket le=%s holds %g, fewer than %g", les[i], v, prev);
        prev = v;
    }
    double count = sample(m, "gand_http_request_duration_seconds_count");
    ck_assert(prev == count);
    ck_assert_msg(count >= 3 + 2 + 1 + 3, "%g requests timed", count);
    ck_assert(sample(m, "gand_http_request_duration_seconds_sum") > 0);
    ck_assert(sample(m, "process_resident_memory_bytes") > 1e6);
    free(m);

    /* a scrape is counted once libmicrohttpd reports it complete, which
     * the next scrape sees (after a moment at most) */
    double scrapes = 0;
    for (int i = 0; i < 50 && scrapes < 1; i++) {
        m = get_metrics(&d);
        scrapes = sample(m, "gand_http_requests_total{route=\"GET /metrics\",code=\"200\"}");
        free(m);
        if (scrapes < 1)
            usleep(20000);
    }
    ck_assert(scrapes >= 1);
    char path[64];
    snprintf(path, sizeof path, "/runs/%lld/cancel", (long long)waiting);
    r = client_post(&d, path, NULL);
    reply_free(&r);
    snprintf(path, sizeof path, "/runs/%lld/cancel", (long long)busy);
    r = client_post(&d, path, NULL);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, busy, "canceled", 60));
    m = get_metrics(&d);
    ck_assert(sample(m, "gand_runs{state=\"canceled\"}") == 2);
    ck_assert(sample(m, "gand_queue_depth") == 0);
    ck_assert(!strstr(m, "gand_run_steps_per_second{"));
    free(m);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_prometheus_needs_token)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    char file[1200];
    snprintf(file, sizeof file, "%s/token", d.root);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("scrape-t0ken-0123456789\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(file, 0600), 0);
    d.flags[0] = "--auth-token-file";
    d.flags[1] = file;
    daemon_start(&d);
    reply r = client_get(&d, "/metrics");
    assert_problem(&r, 401, "bearer token");
    reply_free(&r);
    d.auth = "scrape-t0ken-0123456789";
    /* the refusal was counted too, under its route: a request is counted when libmicrohttpd
     * reports it complete, which may come after the client has its answer */
    double refused = 0;
    for (int i = 0; i < 50 && refused != 1; i++) {
        char *m = get_metrics(&d);
        refused = sum_of(m, "gand_http_requests_total{route=\"GET /metrics\"", "code=\"401\"");
        free(m);
        if (refused != 1)
            usleep(20000);
    }
    ck_assert(refused == 1);
    daemon_cleanup(&d);
}
END_TEST

/* Lines of log holding text. */
static int count_lines(const char *log, const char *text)
{
    int n = 0;
    for (const char *p = log; (p = strstr(p, text)); p += strlen(text))
        n++;
    return n;
}

START_TEST(test_logs)
{
    gand_daemon d;
    daemon_up(&d, (const char *const[]){"--log-level", "debug", NULL});
    get_n(&d, "/livez", 2, 200);
    get_n(&d, "/runs/424242", 1, 404);
    reply r = client_post(&d, "/runs", "{");
    reply_free(&r);
    r = client_delete(&d, "/runs");
    reply_free(&r);
    int64_t id = submit_run(&d, 5, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    ck_assert_int_eq(daemon_stop(&d), 0);
    char *log = daemon_log(&d);
    /* one debug line per request: method, path, status, time */
    ck_assert_int_eq(count_lines(log, "debug GET /livez 200 "), 2);
    ck_assert_int_eq(count_lines(log, "debug GET /runs/424242 404 "), 1);
    ck_assert_int_eq(count_lines(log, "debug POST /runs 400 "), 1);
    ck_assert_int_eq(count_lines(log, "debug DELETE /runs 405 "), 1);
    ck_assert_int_eq(count_lines(log, "debug POST /runs 201 "), 1);
    ck_assert_int_ge(count_lines(log, "debug GET /readyz 200 "), 1);
    ck_assert_msg(strstr(log, "debug GET /runs/424242 404 ") &&
                      strstr(strstr(log, "debug GET /runs/424242 404 "), " ms\n"),
                  "%s", log);
    /* the lifecycle at info */
    static const char *const info[] = {
        "info  gand 0.1.0 listening on http://127.0.0.1:",
        "info  run 1 queued: ",
        "info  run 1: training 5 steps from step 0",
        "info  run 1 succeeded at step 5",
        "info  SIGTERM: stopping",
        "info  stopped",
    };
    for (size_t i = 0; i < sizeof info / sizeof *info; i++)
        ck_assert_msg(count_lines(log, info[i]) == 1, "'%s' once in:\n%s", info[i], log);
    ck_assert_msg(!strstr(log, "warn ") && !strstr(log, "error "), "%s", log);
    free(log);

    /* at info, requests are not logged */
    size_t before = strlen(log = daemon_log(&d));
    free(log);
    d.flags[0] = NULL;
    daemon_start(&d);
    get_n(&d, "/runs/434343", 1, 404);
    ck_assert_int_eq(daemon_stop(&d), 0);
    log = daemon_log(&d);
    ck_assert_msg(!strstr(log + before, "434343") && !strstr(log + before, "debug"), "%s",
                  log + before);
    ck_assert_int_eq(count_lines(log + before, "info  stopped"), 1);
    free(log);
    daemon_cleanup(&d);
}
END_TEST

static Suite *service_observe_suite(void)
{
    Suite *s = suite_create("service_observe");
    TCase *tc = tcase_create("observe");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_prometheus);
    tcase_add_test(tc, test_prometheus_needs_token);
    tcase_add_test(tc, test_logs);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, service_observe_suite()); }
