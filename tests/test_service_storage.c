/* The daemon and storage it cannot write: a state directory that is not
 * one refuses the start; a run whose files cannot be written (a directory
 * replaced by a file, a full disk through /dev/full, a really full disk)
 * fails with a sentence naming the path while the daemon keeps serving and
 * training other runs; a run submitted to a full disk is refused with 507. Every method here works as root, where permission
 * bits stop nothing. The daemon's path is argv[1]. */
#define _GNU_SOURCE /* unshare */
#include "daemon_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void assert_has(const char *text, const char *part)
{
    ck_assert_msg(strstr(text, part), "'%s' is not in: %.1500s", part, text);
}

/* gand on state_dir must exit 1 before serving, saying part. */
static void assert_refused(const char *state_dir, const char *part)
{
    char *out, *err;
    int rc = gand_exec((const char *const[]){"--state-dir", state_dir, "--listen", "127.0.0.1:0",
                                             "--www", "/", NULL},
                       30, &out, &err);
    ck_assert_msg(rc == 1, "state dir %s: exit %d: %s", state_dir, rc, err);
    assert_has(err, "state directory");
    assert_has(err, part);
    ck_assert_msg(!strstr(err, "listening"), "%s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
}

START_TEST(test_bad_state_dir_refuses_to_start)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    char file[1200], under[1300];
    snprintf(file, sizeof file, "%s/plain-file", d.root);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    assert_refused(file, "is not a directory");
    snprintf(under, sizeof under, "%s/state", file);
    assert_refused(under, file);
    /* a directory no one may create files in, root included */
    assert_refused("/proc", "/proc");
    if (geteuid() != 0) {
        ck_assert_int_eq(mkdir(d.state_dir, 0500), 0);
        assert_refused(d.state_dir, "not writable");
    }
    daemon_cleanup(&d);
}
END_TEST

static void run_file(const gand_daemon *d, int64_t id, const char *sub, char *out, size_t n)
{
    snprintf(out, n, "%s/runs/%lld/%s", d->state_dir, (long long)id, sub);
}

/* Puts a regular file where run id's directory sub was. */
static void replace_with_file(const gand_daemon *d, int64_t id, const char *sub)
{
    char path[1300], gone[1400];
    run_file(d, id, sub, path, sizeof path);
    snprintf(gone, sizeof gone, "%s.gone", path);
    ck_assert_int_eq(rename(path, gone), 0);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
}

/* Asserts run id failed with an error naming path_part and that its last
 * event says so. */
static void assert_failed_naming(const gand_daemon *d, int64_t id, const char *path_part,
                                 const char *why)
{
    cJSON *run = wait_run(d, id, "failed", 60);
    const char *error = json_str(run, "error");
    assert_has(error, path_part);
    /* why is one reason or several separated by '|' */
    bool found = false;
    char reasons[128];
    snprintf(reasons, sizeof reasons, "%s", why);
    for (char *save = NULL, *w = strtok_r(reasons, "|", &save); w && !found;
         w = strtok_r(NULL, "|", &save))
        found = strstr(error, w) != NULL;
    ck_assert_msg(found, "'%s' gives none of the reasons '%s'", error, why);
    assert_has(error, "free disk space or fix the permissions under");
    char path[96];
    sse_opts o = {.final_of = id};
    snprintf(o.path, sizeof o.path, "/runs/%lld/events?after_id=0", (long long)id);
    sse_list l = sse_read(d, o);
    ck_assert_int_ge(l.n, 1);
    ck_assert_str_eq(json_str(l.ev[l.n - 1].json, "state"), "failed");
    ck_assert_str_eq(json_str(l.ev[l.n - 1].json, "error"), error);
    sse_list_free(&l);
    cJSON_Delete(run);
    /* what it recorded before stays readable */
    snprintf(path, sizeof path, "/runs/%lld/metrics", (long long)id);
    reply r = client_get(d, path);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
}

/* With two workers, breaks run 1's directory sub mid-run: run 1 fails,
 * run 2 keeps training, and a run submitted afterwards succeeds. */
static void break_mid_run(const char *sub, const char *extra)
{
    gand_daemon d;
    daemon_up(&d, (const char *const[]){"--workers", "2", NULL});
    int64_t victim = submit_run(&d, 1000000, extra);
    int64_t bystander = submit_run(&d, 1000000, NULL);
    wait_step(&d, victim, 1, 60);
    wait_step(&d, bystander, 1, 60);
    replace_with_file(&d, victim, sub);

    char dir[1300];
    run_file(&d, victim, sub, dir, sizeof dir);
    /* the write may fall between the directory's leaving and the file's arrival */
    assert_failed_naming(&d, victim, dir, "Not a directory|No such file or directory");
    char *log = daemon_log(&d);
    assert_has(log, "run 1 failed: ");
    free(log);

    /* the daemon still serves, and the other run still trains */
    reply r = client_get(&d, "/livez");
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    cJSON *run = get_run(&d, bystander);
    long at = (long)json_num(run, "step");
    cJSON_Delete(run);
    wait_step(&d, bystander, at + 3, 60);
    r = client_post(&d, "/runs/2/cancel", NULL);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, bystander, "canceled", 60));
    int64_t next = submit_run(&d, 10, NULL);
    cJSON_Delete(wait_run(&d, next, "succeeded", 60));
    /* and the failed run can be deleted, file in the way or not */
    r = client_delete(&d, "/runs/1");
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    daemon_cleanup(&d);
}

START_TEST(test_samples_dir_replaced)
{
    break_mid_run("samples", "\"sample_every\":3,\"checkpoint_every\":100000");
}
END_TEST

START_TEST(test_checkpoints_dir_replaced)
{
    break_mid_run("checkpoints", "\"sample_every\":100000,\"checkpoint_every\":3");
}
END_TEST

/* A full disk for one file: its .tmp is a link to /dev/full, where every
 * write fails with ENOSPC. */
static void full_disk_at(const char *sub, const char *name, const char *extra)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    char dir[1300], link[1400];
    snprintf(dir, sizeof dir, "%s/runs/1", d.state_dir);
    ck_assert_int_eq(mkdir(dir, 0750), 0);
    run_file(&d, 1, sub, dir, sizeof dir);
    ck_assert_int_eq(mkdir(dir, 0750), 0);
    snprintf(link, sizeof link, "%s/%s.tmp", dir, name);
    ck_assert_int_eq(symlink("/dev/full", link), 0);

    int64_t id = submit_run(&d, 40, extra);
    ck_assert_int_eq(id, 1);
    assert_failed_naming(&d, id, link, "No space left on device");
    reply r = client_get(&d, "/livez");
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    int64_t next = submit_run(&d, 10, NULL);
    cJSON_Delete(wait_run(&d, next, "succeeded", 60));
    daemon_cleanup(&d);
}

START_TEST(test_disk_full_sample)
{
    full_disk_at("samples", "step-0000010.png", "\"sample_every\":10,\"checkpoint_every\":40");
}
END_TEST

START_TEST(test_disk_full_checkpoint)
{
    full_disk_at("checkpoints", "step-0000020.ckpt", "\"sample_every\":40,\"checkpoint_every\":20");
}
END_TEST

/* Fills the filesystem holding dir with one file; returns its path. */
static char *fill_disk(const char *dir)
{
    char *path = malloc(strlen(dir) + 16);
    ck_assert_ptr_nonnull(path);
    sprintf(path, "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    static char chunk[65536];
    while (write(fd, chunk, sizeof chunk) > 0)
        continue;
    ck_assert_int_eq(errno, ENOSPC);
    close(fd);
    return path;
}

/* Puts the state directory on a small filesystem of its own: a tmpfs in a
 * mount namespace of this test's process, which the daemon inherits. False
 * (the test is skipped, with a note) where mounting is not allowed. */
static bool small_state_dir(gand_daemon *d, const char *test)
{
    ck_assert_int_eq(mkdir(d->state_dir, 0700), 0);
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", d->state_dir, "tmpfs", 0, "size=16m,mode=0700") != 0) {
        fprintf(stderr, "%s skipped: cannot mount a tmpfs (%s)\n", test, strerror(errno));
        return false;
    }
    return true;
}

/* Asserts a refusal of a run for want of disk space: 507, saying where to
 * free it. */
static void assert_no_space(const gand_daemon *d, const reply *r)
{
    char want[1200];
    snprintf(want, sizeof want, "free disk space under %s", d->state_dir);
    assert_problem(r, 507, want);
    ck_assert_str_eq(json_str(r->json, "title"), "Insufficient Storage");
}

/* A run submitted while the disk is full is refused with 507 (not 500),
 * and taken once there is room again. The daemon has written little, so
 * SQLite's log must grow to take the run and cannot. */
START_TEST(test_disk_full_refuses_runs)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    if (!small_state_dir(&d, "test_disk_full_refuses_runs")) {
        daemon_cleanup(&d);
        return;
    }
    daemon_start(&d);
    char *filler = fill_disk(d.state_dir);
    char spec[2048];
    run_spec(&d, NULL, 10, NULL, spec, sizeof spec);
    reply r = client_post(&d, "/runs", spec);
    assert_no_space(&d, &r);
    reply_free(&r);
    r = client_get(&d, "/runs");
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "runs")), 0);
    reply_free(&r);
    r = client_get(&d, "/livez");
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);

    ck_assert_int_eq(unlink(filler), 0);
    free(filler);
    int64_t id = submit_run(&d, 10, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    daemon_cleanup(&d);
}
END_TEST

/* The state directory on a small filesystem that the test fills up while a
 * run trains, then frees. */
START_TEST(test_disk_full_database)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    if (!small_state_dir(&d, "test_disk_full_database")) {
        daemon_cleanup(&d);
        return;
    }
    daemon_start(&d);
    int64_t id = submit_run(&d, 1000000, "\"sample_every\":1,\"checkpoint_every\":20");
    wait_step(&d, id, 25, 60);
    char *filler = fill_disk(d.state_dir);

    /* the daemon answers, and says why it cannot take a run (unless
     * SQLite still had room in its log for it) */
    char spec[2048];
    run_spec(&d, NULL, 10, NULL, spec, sizeof spec);
    reply r = client_post(&d, "/runs", spec);
    if (r.status != 201)
        assert_no_space(&d, &r);
    int64_t taken = r.status == 201 ? (int64_t)json_num(r.json, "id") : 0;
    reply_free(&r);
    r = client_get(&d, "/livez");
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    /* reads keep working for as long as the disk stays full */
    for (int i = 0; i < 20; i++) {
        cJSON_Delete(get_run(&d, id));
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }

    /* once there is room again, the run is recorded failed, saying why */
    ck_assert_int_eq(unlink(filler), 0);
    free(filler);
    cJSON *run = wait_run(&d, id, "failed", 20);
    const char *error = json_str(run, "error");
    ck_assert_msg(strstr(error, "No space left on device") || strstr(error, "disk is full"),
                  "%s", error);
    cJSON_Delete(run);
    if (taken)
        cJSON_Delete(wait_run(&d, taken, "succeeded", 60));
    int64_t next = submit_run(&d, 10, NULL);
    cJSON_Delete(wait_run(&d, next, "succeeded", 60));
    daemon_cleanup(&d); /* the mount goes with this test's process */
}
END_TEST

static Suite *service_storage_suite(void)
{
    Suite *s = suite_create("service_storage");
    TCase *tc = tcase_create("storage");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bad_state_dir_refuses_to_start);
    tcase_add_test(tc, test_samples_dir_replaced);
    tcase_add_test(tc, test_checkpoints_dir_replaced);
    tcase_add_test(tc, test_disk_full_sample);
    tcase_add_test(tc, test_disk_full_checkpoint);
    tcase_add_test(tc, test_disk_full_refuses_runs);
    tcase_add_test(tc, test_disk_full_database);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, service_storage_suite()); }
