/* The daemon's configuration from the outside: --check-config, bad flag
 * values and bad files refuse to start with the exit status and the
 * sentence a service manager shows, and the file sits between the defaults
 * and the flags. The daemon's path is argv[1]. */
#include "daemon_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes text to <root>/name and puts the path in out. */
static void conf_file(const gand_daemon *d, const char *name, const char *text, char *out,
                      size_t n)
{
    snprintf(out, n, "%s/%s", d->root, name);
    FILE *f = fopen(out, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void assert_has(const char *text, const char *part)
{
    ck_assert_msg(strstr(text, part), "'%s' is not in: %.1500s", part, text);
}

START_TEST(test_check_config_valid)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    char path[1200], want[1300];
    conf_file(&d, "good.conf",
              "# a comment\n[gand]\nlisten = 127.0.0.1:9\nworkers = 2\n; another\n"
              "max_body_bytes = 2M\nlog_level = debug\nconnection_limit = 8\n"
              "per_ip_connection_limit = 8\n",
              path, sizeof path);
    char *out, *err;
    int rc = gand_exec((const char *const[]){"--check-config", path, NULL}, 30, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    snprintf(want, sizeof want, "%s: valid\n", path);
    ck_assert_str_eq(out, want);
    ck_assert_str_eq(err, "");
    free(out);
    free(err);

    /* the documented file as shipped: every key commented out */
    char shipped[1200];
    snprintf(shipped, sizeof shipped, "%s/etc/gand.conf.in", getenv("GAND_TEST_SRCDIR"));
    rc = gand_exec((const char *const[]){"--check-config", shipped, NULL}, 30, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    assert_has(out, "valid");
    free(out);
    free(err);
    daemon_cleanup(&d);
}
END_TEST

/* --check-config on text whose error is on line, naming key. */
static void assert_bad_file(const gand_daemon *d, const char *text, int line, const char *key)
{
    char path[1200], where[1300];
    conf_file(d, "bad.conf", text, path, sizeof path);
    char *out, *err;
    int rc = gand_exec((const char *const[]){"--check-config", path, NULL}, 30, &out, &err);
    ck_assert_msg(rc == 1, "exit %d for %s: %s", rc, text, err);
    ck_assert_str_eq(out, "");
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    assert_has(err, where);
    assert_has(err, key);
    free(out);
    free(err);
}

START_TEST(test_check_config_invalid)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    assert_bad_file(&d, "[gand]\nlisten = 127.0.0.1:9\n\nworkers = many\n", 4, "'workers'");
    assert_bad_file(&d, "[gand]\nwrokers = 2\n", 2, "wrokers");
    assert_bad_file(&d, "[gand]\nlog_level = loud\n", 2, "'log_level'");
    assert_bad_file(&d, "[gand]\nworkers = 2\nworkers = 3\n", 3, "'workers'");
    assert_bad_file(&d, "workers = 2\n", 1, "workers");
    assert_bad_file(&d, "[gand]\nqueue_max = 4\n[gnad]\nworkers = 2\n", 3, "[gnad]");
    assert_bad_file(&d, "[gand]\nmax_body_bytes = 12Q\n", 2, "'max_body_bytes'");

    char missing[1200];
    snprintf(missing, sizeof missing, "%s/nowhere.conf", d.root);
    char *err;
    int rc = gand_exec((const char *const[]){"--check-config", missing, NULL}, 30, NULL, &err);
    ck_assert_int_eq(rc, 1);
    assert_has(err, missing);
    free(err);
    daemon_cleanup(&d);
}
END_TEST

/* gand args must exit 2 with a message holding part and the usage hint. */
static void assert_usage_error(const char *const *args, const char *part)
{
    char *out, *err;
    int rc = gand_exec(args, 30, &out, &err);
    ck_assert_msg(rc == 2, "%s: exit %d: %s", args[0], rc, err);
    assert_has(err, part);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
}

START_TEST(test_bad_flags)
{
    assert_usage_error((const char *const[]){"--workers", "many", NULL},
                       "option --workers: must be an integer between 1 and 64, got 'many'");
    assert_usage_error((const char *const[]){"--log-level", "loud", NULL}, "--log-level");
    assert_usage_error((const char *const[]){"--connection-timeout", "-1", NULL},
                       "--connection-timeout");
    assert_usage_error((const char *const[]){"--listen", "localhost", NULL}, "--listen");
    assert_usage_error((const char *const[]){"--max-body-bytes", "lots", NULL},
                       "--max-body-bytes");
    /* two keys that contradict each other name both */
    assert_usage_error(
        (const char *const[]){"--per-ip-connection-limit", "8", "--connection-limit", "4", NULL},
        "per_ip_connection_limit");
    /* a flag without its value says so, by its name */
    assert_usage_error((const char *const[]){"--state-dir", "/tmp", "--workers", NULL},
                       "option '--workers' needs a value");
    assert_usage_error((const char *const[]){"-c", NULL}, "option '-c' needs a value");
    assert_usage_error((const char *const[]){"-x", NULL}, "unknown option '-x'");
    assert_usage_error((const char *const[]){"--version=2", NULL},
                       "option '--version=2' takes no value");
}
END_TEST

START_TEST(test_bad_config_refuses_to_start)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    char path[1200];
    conf_file(&d, "bad.conf", "[gand]\nstate_dir = /tmp\nworkers = 0\n", path, sizeof path);
    char *err;
    int rc = gand_exec((const char *const[]){"--config", path, "--state-dir", d.state_dir,
                                             "--listen", "127.0.0.1:0", NULL},
                       30, NULL, &err);
    ck_assert_msg(rc == 2, "exit %d: %s", rc, err);
    char where[1300];
    snprintf(where, sizeof where, "%s:3: key 'workers'", path);
    assert_has(err, where);
    free(err);

    char missing[1200];
    snprintf(missing, sizeof missing, "%s/nowhere.conf", d.root);
    rc = gand_exec((const char *const[]){"--config", missing, "--listen", "127.0.0.1:0", NULL},
                   30, NULL, &err);
    ck_assert_msg(rc == 2, "exit %d: %s", rc, err);
    assert_has(err, missing);
    free(err);
    daemon_cleanup(&d);
}
END_TEST

/* Defaults < file < flags: the file's queue_max holds, the flags' workers
 * and BLAS threads (the fixture passes 1 and 1) beat the file's. */
START_TEST(test_file_between_defaults_and_flags)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    char path[1200];
    conf_file(&d, "gand.conf", "[gand]\nworkers = 3\nblas_threads = 2\nqueue_max = 1\n", path,
              sizeof path);
    /* --config comes after the flags it loses to: order does not matter */
    d.flags[0] = "--config";
    d.flags[1] = path;
    daemon_start(&d);
    char *log = daemon_log(&d);
    assert_has(log, "1 workers, 1 BLAS threads");
    free(log);
    int64_t busy = submit_run(&d, 1000000, NULL);
    wait_step(&d, busy, 1, 60);
    submit_run(&d, 5, NULL);
    char spec[2048];
    run_spec(&d, NULL, 5, NULL, spec, sizeof spec);
    reply r = client_post(&d, "/runs", spec);
    assert_problem(&r, 503, "queue_max 1");
    reply_free(&r);
    r = client_post(&d, "/runs/1/cancel", NULL);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, busy, "canceled", 60));
    daemon_cleanup(&d);
}
END_TEST

static Suite *service_config_suite(void)
{
    Suite *s = suite_create("service_config");
    TCase *tc = tcase_create("config");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_check_config_valid);
    tcase_add_test(tc, test_check_config_invalid);
    tcase_add_test(tc, test_bad_flags);
    tcase_add_test(tc, test_bad_config_refuses_to_start);
    tcase_add_test(tc, test_file_between_defaults_and_flags);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, service_config_suite()); }
