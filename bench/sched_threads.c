/* Workers against BLAS threads: the same DCGAN job trained through the
 * scheduler under one split of the cores.
 *
 * usage: sched_threads WORKERS BLAS_THREADS [JOBS [STEPS [DATASET]]]
 *
 * Creates a scratch state directory under $TMPDIR (or /tmp), submits JOBS
 * copies (default 2) of a DCGAN spec of STEPS steps (default 60, batch 64,
 * the kind's default widths) on DATASET (default fashion-mnist), waits for
 * them all and prints one line:
 *   workers=W blas=B jobs=J steps=S wall_s=X total_steps_per_s=T job_steps_per_s=a,b,...
 * where each job's steps/s is its trainer's own rate (from its last progress
 * event: training only, after the dataset is loaded) and the total is
 * JOBS * STEPS over the wall time from the first submission to the last
 * run's end (loading included). The directory is removed at the end. */
#define _XOPEN_SOURCE 700
#include "gand/sched.h"
#include "gand/store.h"

#include <cJSON.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_JOBS 16

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static double rate[MAX_JOBS + 1]; /* by run id: ids are 1.. in a fresh store */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_event(void *ctx, int64_t id, int64_t run_id, const char *type, const char *data)
{
    (void)ctx;
    (void)id;
    if (strcmp(type, "progress") != 0 || run_id < 1 || run_id > MAX_JOBS)
        return;
    cJSON *o = cJSON_Parse(data);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "steps_per_s");
    if (cJSON_IsNumber(r)) {
        pthread_mutex_lock(&mu);
        rate[run_id] = r->valuedouble;
        pthread_mutex_unlock(&mu);
    }
    cJSON_Delete(o);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s WORKERS BLAS_THREADS [JOBS [STEPS [DATASET]]]\n", argv[0]);
        return 2;
    }
    int workers = atoi(argv[1]), blas = atoi(argv[2]);
    int jobs = argc > 3 ? atoi(argv[3]) : 2;
    long steps = argc > 4 ? atol(argv[4]) : 60;
    const char *dataset = argc > 5 ? argv[5] : "fashion-mnist";
    if (jobs < 1 || jobs > MAX_JOBS || steps < 1) {
        fprintf(stderr, "%s: JOBS must be 1..%d and STEPS at least 1\n", argv[0], MAX_JOBS);
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/gand-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char err[1024], spec[2048];
    snprintf(spec, sizeof spec,
             "{\"model\":\"dcgan\",\"dataset\":\"%s\",\"steps\":%ld,\"batch_size\":64,"
             "\"sample_every\":%ld,\"checkpoint_every\":%ld}",
             dataset, steps, steps, steps);
    sched_params p = sched_default_params();
    p.state_dir = dir;
    p.workers = workers;
    p.blas_threads = blas;
    p.queue_max = MAX_JOBS;
    p.on_event = on_event;
    gand_status st;
    int rc = 1;
    store *db = NULL;
    sched *s = sched_create(&p, &st, err, sizeof err);
    if (!s || store_open(dir, &db, err, sizeof err) != GAND_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        goto out;
    }
    int64_t ids[MAX_JOBS];
    for (int i = 0; i < jobs; i++) {
        store_run_new r = {.name = "bench", .kind = "dcgan", .dataset = dataset, .spec = spec,
                           .total_steps = steps};
        if (store_run_create(db, &r, &ids[i], err, sizeof err) != GAND_OK) {
            fprintf(stderr, "%s: %s\n", argv[0], err);
            goto out;
        }
    }
    double t0 = now_s();
    for (int i = 0; i < jobs; i++)
        if (sched_submit(s, ids[i], err, sizeof err) != GAND_OK) {
            fprintf(stderr, "%s: %s\n", argv[0], err);
            goto out;
        }
    for (int i = 0; i < jobs; i++) {
        for (;;) {
            store_run r;
            if (store_run_get(db, ids[i], &r, err, sizeof err) != GAND_OK) {
                fprintf(stderr, "%s: %s\n", argv[0], err);
                goto out;
            }
            bool done = store_run_state_is_final(r.state);
            if (done && r.state != STORE_RUN_SUCCEEDED)
                fprintf(stderr, "%s: run %lld %s: %s\n", argv[0], (long long)ids[i],
                        store_run_state_name(r.state), r.error ? r.error : "");
            store_run_clear(&r);
            if (done)
                break;
            nanosleep(&(struct timespec){0, 10000000}, NULL);
        }
    }
    double wall = now_s() - t0;
    sched_snapshot snap;
    sched_stats(s, &snap);
    printf("workers=%d blas=%d jobs=%d steps=%ld wall_s=%.2f total_steps_per_s=%.2f "
           "job_steps_per_s=",
           snap.workers, snap.blas_threads, jobs, steps, wall, jobs * steps / wall);
    pthread_mutex_lock(&mu);
    for (int i = 0; i < jobs; i++)
        printf("%s%.2f", i ? "," : "", rate[ids[i]]);
    pthread_mutex_unlock(&mu);
    printf("\n");
    rc = 0;
out:
    sched_free(s);
    store_close(db);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
