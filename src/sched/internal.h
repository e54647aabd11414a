/* Shared between the scheduler's files: the scheduler and worker structs,
 * the job a worker runs (run_host.c) and a run's files and events (runs.c). */
#ifndef GAND_SCHED_INTERNAL_H
#define GAND_SCHED_INTERNAL_H

#include "gand/sched.h"
#include "gand/store.h"

#include <cJSON.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Room left in a PATH_MAX buffer for runs/<id>/<sub>/<file> after the
 * state directory. */
#define SCHED_DIR_MAX (PATH_MAX - 256)

typedef struct sched_worker sched_worker;

struct sched_worker {
    sched *s;
    store *db; /* this worker's own connection */
    pthread_t thread;
    bool started;
    /* Read and written under s->mu. run_id 0: idle. */
    int64_t run_id;
    int64_t step, total_steps;
    double steps_per_s;
    /* Set by sched_cancel() under s->mu, read by the training thread. */
    atomic_bool cancel;
};

struct sched {
    sched_params p;
    char state_dir[SCHED_DIR_MAX];
    int blas_threads;
    store *db; /* recovery and sched_cancel() */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* The queue, oldest first: queue[0..qlen). Guarded by mu. */
    int64_t *queue;
    size_t qlen, qcap;
    atomic_bool stopping;
    atomic_bool requeue;
    bool joined;
    int nworkers;
    sched_worker *workers;
};

/* Trains run id on worker w from start to its final state. */
void sched_run_job(sched_worker *w, int64_t id);

/* ---- a run's files and events (runs.c) ---- */

/* <state_dir>/runs/<id>[/sub] into buf (PATH_MAX bytes). */
void sched_run_path(const sched *s, int64_t id, const char *sub, char *buf);

/* Creates <state_dir>/runs/<id>/{samples,checkpoints}. GAND_EIO naming the
 * directory. */
gand_status sched_run_dirs(const sched *s, int64_t id, char *err, size_t errlen);

/* The newest checkpoint file of run id at or before max_step, -1 when there
 * is none. */
int64_t sched_newest_checkpoint(const sched *s, int64_t id, int64_t max_step);

/* Deletes the run's checkpoint files after step and all but the keep newest
 * of the others (keep 0: keeps them all). */
void sched_prune_checkpoints(const sched *s, int64_t id, int64_t after_step, int keep);

/* Deletes the files of the sample rows a store call removed, then clears
 * the list. The rows go first: a crash in between leaves a file that no row
 * names (deleted with the run's directory), never a listed sample whose
 * file is gone. */
void sched_remove_sample_files(const sched *s, int64_t id, store_sample_list *removed);

/* Rewinds run id to step (store_run_truncate(): the run becomes queued) and
 * deletes the sample files the store dropped and the checkpoints past step. */
gand_status sched_rewind(sched *s, store *db, int64_t id, int64_t step, char *err,
                         size_t errlen);

/* Appends an event built from data (always deleted here) and tells
 * on_event. Failures are logged: a lost event must not stop a run. */
void sched_event(sched *s, store *db, int64_t run_id, store_event_type type, int64_t step,
                 cJSON *data);

/* A state event {state, error?}. */
void sched_state_event(sched *s, store *db, int64_t run_id, store_run_state state,
                       const char *error);

#endif
