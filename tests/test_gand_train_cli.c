/* gand-train as a user runs it: the real binary (its path is argv[1]) on
 * tiny data: outputs, refusals with their messages and exit codes,
 * SIGTERM with a checkpoint and --resume to the same end. */
#include "idx_fixture.h"

#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *gand_train;

typedef struct {
    int status; /* exit code, or 128 + signal */
    char err[8192];
} result;

/* Starts gand-train with args, stderr to a file; returns the pid. */
static pid_t start(const char *errfile, char *const args[])
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        FILE *f = freopen(errfile, "w", stderr);
        if (!f)
            _exit(127);
        char *argv[16] = {(char *)gand_train};
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(gand_train, argv);
        _exit(127);
    }
    return pid;
}

static result finish(pid_t pid, const char *errfile)
{
    result r = {0};
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    FILE *f = fopen(errfile, "r");
    size_t n = f ? fread(r.err, 1, sizeof r.err - 1, f) : 0;
    r.err[n] = '\0';
    if (f)
        fclose(f);
    return r;
}

static result run(const char *dir, char *const args[])
{
    char errfile[1100];
    snprintf(errfile, sizeof errfile, "%s/stderr.txt", dir);
    return finish(start(errfile, args), errfile);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

START_TEST(test_trains_and_writes_outputs)
{
    char *dir = fixture_tmpdir();
    fixture_write_blocks(dir, 32, 8, 4, 1);
    char spec[1100], out[1100], json[2048], p[1200];
    snprintf(spec, sizeof spec, "%s/job.json", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(json, sizeof json,
             "{\"model\":\"dcgan\",\"dataset\":\"%s\",\"steps\":6,\"batch_size\":8,"
             "\"g_width\":16,\"d_width\":8,\"sample_every\":3,\"checkpoint_every\":2}",
             dir);
    write_text(spec, json);
    result r = run(dir, (char *[]){spec, "--out", out, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_msg(strstr(r.err, "step 6/6 (100.0%)") && strstr(r.err, "steps/s") &&
                      strstr(r.err, "ETA"),
                  "no progress line: %s", r.err);
    snprintf(p, sizeof p, "%s/metrics.jsonl", out);
    ck_assert_int_eq(count_lines(p), 6);
    snprintf(p, sizeof p, "%s/samples/step-0000003.png", out);
    ck_assert(exists(p));
    snprintf(p, sizeof p, "%s/samples/step-0000006.png", out);
    ck_assert(exists(p));
    /* the two newest checkpoints are kept */
    snprintf(p, sizeof p, "%s/checkpoints/step-0000006.ckpt", out);
    ck_assert(exists(p));
    snprintf(p, sizeof p, "%s/checkpoints/step-0000004.ckpt", out);
    ck_assert(exists(p));
    snprintf(p, sizeof p, "%s/checkpoints/step-0000002.ckpt", out);
    ck_assert(!exists(p));
    snprintf(p, sizeof p, "%s/spec.json", out);
    ck_assert(exists(p));

    /* the same --out again without --resume is refused */
    r = run(dir, (char *[]){spec, "--out", out, NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "already holds a run (checkpoint at step 6); use --resume"), "%s",
                  r.err);
    fixture_rmdir(dir);
}
END_TEST

START_TEST(test_refusals)
{
    char *dir = fixture_tmpdir();
    char spec[1100], out[1100];
    snprintf(spec, sizeof spec, "%s/job.json", dir);
    snprintf(out, sizeof out, "%s/out", dir);

    result r = run(dir, (char *[]){"--out", out, NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "missing SPEC.json"), "%s", r.err);

    r = run(dir, (char *[]){spec, NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "missing --out DIR"), "%s", r.err);

    r = run(dir, (char *[]){spec, "--out", out, NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "cannot open") && strstr(r.err, "job.json"), "%s", r.err);

    write_text(spec, "{\"model\": \"dcgan\", \"dataset\": \"fashion-mnist\", \"batch_size\": \"big\"}");
    r = run(dir, (char *[]){spec, "--out", out, NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "field 'batch_size' must be an integer, got a string"), "%s", r.err);

    write_text(spec, "{\"model\": \"dcgan\",");
    r = run(dir, (char *[]){spec, "--out", out, NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "not valid JSON"), "%s", r.err);

    char json[1400];
    snprintf(json, sizeof json, "{\"model\": \"dcgan\", \"dataset\": \"%s/missing\"}", dir);
    write_text(spec, json);
    r = run(dir, (char *[]){spec, "--out", out, NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "missing"), "%s", r.err);

    /* a data file that lies about its size */
    unsigned char px[8 * 64] = {0};
    fixture_write_idx(dir, 8, 8, 8, px, NULL);
    char img[1200];
    snprintf(img, sizeof img, "%s/train-images-idx3-ubyte", dir);
    ck_assert_int_eq(truncate(img, 100), 0);
    snprintf(json, sizeof json, "{\"model\": \"dcgan\", \"dataset\": \"%s\", \"batch_size\": 4}", dir);
    write_text(spec, json);
    r = run(dir, (char *[]){spec, "--out", out, NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "truncated"), "%s", r.err);

    r = run(dir, (char *[]){spec, "--out", out, "--resume", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "has no checkpoint to continue from"), "%s", r.err);

    r = run(dir, (char *[]){"--bogus", NULL});
    ck_assert_int_eq(r.status, 2);
    fixture_rmdir(dir);
}
END_TEST

/* Reads metrics.jsonl and checks it holds steps 1..n exactly once, in order. */
static void assert_continuous(const char *path, int n)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int want = 1;
    while (fgets(line, sizeof line, f)) {
        int step;
        ck_assert_int_eq(sscanf(line, "{\"step\":%d", &step), 1);
        ck_assert_msg(step == want, "line %d has step %d", want, step);
        want++;
    }
    fclose(f);
    ck_assert_int_eq(want - 1, n);
}

START_TEST(test_sigterm_checkpoints_and_resume_finishes)
{
    char *dir = fixture_tmpdir();
    fixture_write_blocks(dir, 32, 8, 4, 1);
    char spec[1100], out[1100], ref[1100], json[2048], p[1200], errfile[1200];
    snprintf(spec, sizeof spec, "%s/job.json", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(ref, sizeof ref, "%s/ref", dir);
    enum { STEPS = 20000 };
    snprintf(json, sizeof json,
             "{\"model\":\"dcgan\",\"dataset\":\"%s\",\"steps\":%d,\"batch_size\":4,"
             "\"g_width\":8,\"d_width\":8,\"z_dim\":4,\"sample_every\":100000,"
             "\"checkpoint_every\":100000}",
             dir, STEPS);
    write_text(spec, json);
    snprintf(errfile, sizeof errfile, "%s/err1.txt", dir);
    pid_t pid = start(errfile, (char *[]){spec, "--out", out, NULL});
    /* wait until it has taken some steps, then stop it */
    snprintf(p, sizeof p, "%s/metrics.jsonl", out);
    struct timespec ms100 = {0, 100000000};
    for (int i = 0; i < 300; i++) {
        nanosleep(&ms100, NULL);
        struct stat st;
        if (stat(p, &st) == 0 && st.st_size > 0)
            break;
    }
    nanosleep(&ms100, NULL);
    kill(pid, SIGTERM);
    result r = finish(pid, errfile);
    ck_assert_msg(r.status == 128 + SIGTERM, "exit %d: %s", r.status, r.err);
    ck_assert_msg(strstr(r.err, "--resume"), "%s", r.err);
    int done = count_lines(p);
    ck_assert_msg(done > 0 && done < STEPS, "stopped after %d steps", done);

    r = run(dir, (char *[]){spec, "--out", out, "--resume", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    assert_continuous(p, STEPS);

    /* the uninterrupted run ends with the same checkpoint bytes */
    r = run(dir, (char *[]){spec, "--out", ref, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    char a[1200], b[1200], cmd[2600];
    snprintf(a, sizeof a, "%s/checkpoints/step-%07d.ckpt", out, STEPS);
    snprintf(b, sizeof b, "%s/checkpoints/step-%07d.ckpt", ref, STEPS);
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    ck_assert_msg(system(cmd) == 0, "resumed and uninterrupted runs end differently");
    fixture_rmdir(dir);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-gand-train\n", argv[0]);
        return 2;
    }
    gand_train = argv[1];
    Suite *s = suite_create("gand_train_cli");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_trains_and_writes_outputs);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_sigterm_checkpoints_and_resume_finishes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
