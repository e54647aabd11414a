/* The scheduler: the queue, the worker threads, cancellation, shutdown and
 * the recovery of runs a previous process left behind. */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/log.h"

#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

sched_params sched_default_params(void)
{
    return (sched_params){
        .workers = 1,
        .queue_max = 64,
        .event_interval_ms = 500,
        .flush_steps = 200,
        .cancel_poll_ms = 500,
    };
}

static gand_status check_params(const sched_params *p, char *err, size_t errlen)
{
    if (!p->state_dir || !*p->state_dir)
        return gand_errorf(err, errlen, GAND_EINVAL, "the scheduler needs a state directory");
    if (strlen(p->state_dir) >= SCHED_DIR_MAX)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "state directory path is %zu characters long; use one shorter than %d",
                           strlen(p->state_dir), SCHED_DIR_MAX);
    if (p->workers < 1 || p->workers > SCHED_MAX_WORKERS)
        return gand_errorf(err, errlen, GAND_EINVAL, "workers must be between 1 and %d, got %d",
                           SCHED_MAX_WORKERS, p->workers);
    if (p->queue_max < 1)
        return gand_errorf(err, errlen, GAND_EINVAL, "queue_max must be at least 1, got %d",
                           p->queue_max);
    if (p->blas_threads < 0 || p->blas_threads > 1024)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "blas_threads must be between 0 (automatic) and 1024, got %d",
                           p->blas_threads);
    if (p->sample_retention < 0)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "sample_retention must be 0 (keep all) or more, got %d",
                           p->sample_retention);
    if (p->flush_steps < 1 || p->flush_steps > 1000000)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "flush_steps must be between 1 and 1000000, got %d", p->flush_steps);
    if (p->event_interval_ms < 0 || p->cancel_poll_ms < 0)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "event_interval_ms and cancel_poll_ms must not be negative");
    return GAND_OK;
}

/* Appends id to the queue; the caller holds mu (or no worker runs yet). */
static gand_status push(sched *s, int64_t id)
{
    if (s->qlen == s->qcap) {
        size_t ncap = s->qcap ? 2 * s->qcap : 64;
        int64_t *q = gand_realloc(s->queue, ncap * sizeof *q);
        if (!q)
            return GAND_ENOMEM;
        s->queue = q;
        s->qcap = ncap;
    }
    s->queue[s->qlen++] = id;
    return GAND_OK;
}

/* Index of id in the queue, or -1. The caller holds mu. */
static long find_queued(const sched *s, int64_t id)
{
    for (size_t i = 0; i < s->qlen; i++)
        if (s->queue[i] == id)
            return (long)i;
    return -1;
}

static void remove_at(sched *s, size_t i)
{
    memmove(s->queue + i, s->queue + i + 1, (s->qlen - i - 1) * sizeof *s->queue);
    s->qlen--;
}

/* ---- recovery ---- */

/* Rewinds a run a killed process left running to its newest checkpoint.
 * A run that cannot be rewound is failed so it does not block the start. */
static gand_status recover_run(sched *s, const store_run *r, bool *queued, char *err,
                               size_t errlen)
{
    int64_t ckpt = sched_newest_checkpoint(s, r->id, r->step);
    int64_t step = ckpt >= 0 ? ckpt : 0;
    char rerr[1024];
    *queued = false;
    gand_status st = sched_rewind(s, s->db, r->id, step, rerr, sizeof rerr);
    if (st == GAND_OK) {
        gand_log_info("run %lld was interrupted at step %lld; it resumes from step %lld",
                      (long long)r->id, (long long)r->step, (long long)step);
        sched_state_event(s, s->db, r->id, STORE_RUN_QUEUED, NULL);
        *queued = true;
        return GAND_OK;
    }
    if (st == GAND_ENOMEM || st == GAND_ENOSPC || st == GAND_EIO || st == GAND_EDB)
        return gand_errorf(err, errlen, st, "cannot recover run %lld: %s", (long long)r->id,
                           rerr);
    char why[1200];
    snprintf(why, sizeof why, "the run was interrupted and cannot resume: %s", rerr);
    st = store_run_transition(s->db, r->id, STORE_RUN_FAILED, why, err, errlen);
    if (st == GAND_OK)
        sched_state_event(s, s->db, r->id, STORE_RUN_FAILED, why);
    return st;
}

static gand_status recover(sched *s, char *err, size_t errlen)
{
    store_run_page page;
    gand_status st = store_run_list_state(s->db, STORE_RUN_RUNNING, &page, err, errlen);
    for (size_t i = 0; st == GAND_OK && i < page.n; i++) {
        bool queued;
        st = recover_run(s, &page.runs[i], &queued, err, errlen);
        if (st == GAND_OK && queued && push(s, page.runs[i].id) != GAND_OK)
            st = gand_errorf(err, errlen, GAND_ENOMEM, "out of memory rebuilding the queue");
    }
    store_run_page_clear(&page);
    if (st != GAND_OK)
        return st;
    size_t interrupted = s->qlen;
    st = store_run_list_state(s->db, STORE_RUN_QUEUED, &page, err, errlen);
    for (size_t i = 0; st == GAND_OK && i < page.n; i++) {
        if (find_queued(s, page.runs[i].id) >= 0)
            continue;
        if (push(s, page.runs[i].id) != GAND_OK)
            st = gand_errorf(err, errlen, GAND_ENOMEM, "out of memory rebuilding the queue");
    }
    store_run_page_clear(&page);
    if (st == GAND_OK && s->qlen > 0)
        gand_log_info("queue rebuilt: %zu interrupted and %zu queued runs", interrupted,
                      s->qlen - interrupted);
    return st;
}

/* ---- workers ---- */

static void *worker_main(void *arg)
{
    sched_worker *w = arg;
    sched *s = w->s;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!atomic_load(&s->stopping) && s->qlen == 0)
            pthread_cond_wait(&s->cv, &s->mu);
        if (atomic_load(&s->stopping)) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        int64_t id = s->queue[0];
        remove_at(s, 0);
        w->run_id = id;
        w->step = w->total_steps = 0;
        w->steps_per_s = 0.0;
        atomic_store(&w->cancel, false);
        pthread_mutex_unlock(&s->mu);

        sched_run_job(w, id);

        pthread_mutex_lock(&s->mu);
        w->run_id = 0;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static int auto_blas_threads(int workers)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cores > 0 ? (int)(cores / workers) : 1;
    return n > 0 ? n : 1;
}

sched *sched_create(const sched_params *p, gand_status *status, char *err, size_t errlen)
{
    gand_status st = check_params(p, err, errlen);
    sched *s = NULL;
    if (st != GAND_OK)
        goto err;
    st = GAND_ENOMEM;
    s = gand_calloc(1, sizeof *s);
    if (!s) {
        gand_errorf(err, errlen, st, "out of memory creating the scheduler");
        goto err;
    }
    s->p = *p;
    snprintf(s->state_dir, sizeof s->state_dir, "%s", p->state_dir);
    s->p.state_dir = s->state_dir;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->joined = true; /* nothing to join until a thread starts */
    s->workers = gand_calloc((size_t)p->workers, sizeof *s->workers);
    if (!s->workers) {
        gand_errorf(err, errlen, st, "out of memory creating the scheduler");
        goto err;
    }
    s->nworkers = p->workers;
    if ((st = store_open(s->state_dir, &s->db, err, errlen)) != GAND_OK)
        goto err;
    for (int i = 0; i < p->workers; i++) {
        s->workers[i].s = s;
        if ((st = store_open(s->state_dir, &s->workers[i].db, err, errlen)) != GAND_OK)
            goto err;
    }
    char runs[PATH_MAX];
    snprintf(runs, sizeof runs, "%s/runs", s->state_dir);
    if (mkdir(runs, 0750) != 0 && errno != EEXIST) {
        st = gand_errorf(err, errlen, GAND_EIO,
                         "cannot create %s: %s; check that the state directory is writable",
                         runs, strerror(errno));
        goto err;
    }
    s->blas_threads = p->blas_threads > 0 ? p->blas_threads : auto_blas_threads(p->workers);
    openblas_set_num_threads(s->blas_threads);
    if ((st = recover(s, err, errlen)) != GAND_OK)
        goto err;
    s->joined = false;
    for (int i = 0; i < p->workers; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
            st = gand_errorf(err, errlen, GAND_ENOMEM, "cannot start worker thread %d of %d",
                             i + 1, p->workers);
            goto err;
        }
        s->workers[i].started = true;
    }
    if (status)
        *status = GAND_OK;
    return s;
err:
    if (status)
        *status = st;
    sched_free(s);
    return NULL;
}

void sched_stop(sched *s, bool requeue)
{
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->stopping)) {
        atomic_store(&s->requeue, requeue);
        atomic_store(&s->stopping, true);
    }
    pthread_cond_broadcast(&s->cv);
    bool join = !s->joined;
    s->joined = true;
    pthread_mutex_unlock(&s->mu);
    if (!join)
        return;
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].started)
            pthread_join(s->workers[i].thread, NULL);
}

void sched_free(sched *s)
{
    if (!s)
        return;
    sched_stop(s, true);
    for (int i = 0; s->workers && i < s->nworkers; i++)
        store_close(s->workers[i].db);
    store_close(s->db);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    gand_free(s->workers);
    gand_free(s->queue);
    gand_free(s);
}

/* ---- the API the daemon calls ---- */

/* True when a worker holds id; the caller holds mu. */
static sched_worker *worker_of(sched *s, int64_t id)
{
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].run_id == id)
            return &s->workers[i];
    return NULL;
}

gand_status sched_submit(sched *s, int64_t run_id, char *err, size_t errlen)
{
    if (run_id <= 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "run id %lld is not valid",
                           (long long)run_id);
    gand_status st = GAND_OK;
    pthread_mutex_lock(&s->mu);
    if (atomic_load(&s->stopping))
        st = gand_errorf(err, errlen, GAND_EBUSY,
                         "gand is shutting down and takes no new runs; submit the run again "
                         "after it restarts");
    else if (find_queued(s, run_id) >= 0 || worker_of(s, run_id))
        st = gand_errorf(err, errlen, GAND_EEXIST, "run %lld is already queued or running",
                         (long long)run_id);
    else if (s->qlen >= (size_t)s->p.queue_max)
        st = gand_errorf(err, errlen, GAND_EBUSY,
                         "the queue is full: %zu runs are waiting (queue_max %d); try again "
                         "when one has started",
                         s->qlen, s->p.queue_max);
    else if (push(s, run_id) != GAND_OK)
        st = gand_errorf(err, errlen, GAND_ENOMEM, "out of memory queueing run %lld",
                         (long long)run_id);
    if (st == GAND_OK)
        pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return st;
}

gand_status sched_cancel(sched *s, int64_t run_id, store_run_state *state, char *err,
                         size_t errlen)
{
    store_run_state now;
    gand_status st = store_run_request_cancel(s->db, run_id, &now, err, errlen);
    if (st == GAND_EBUSY || st == GAND_ENOTFOUND) {
        /* Finished or deleted through another connection while queued here:
         * its place would count against queue_max and /readyz until a
         * worker reached it and skipped it. */
        pthread_mutex_lock(&s->mu);
        long i = find_queued(s, run_id);
        if (i >= 0)
            remove_at(s, (size_t)i);
        pthread_mutex_unlock(&s->mu);
    }
    if (st != GAND_OK)
        return st;
    pthread_mutex_lock(&s->mu);
    if (now == STORE_RUN_CANCELED) {
        long i = find_queued(s, run_id);
        if (i >= 0)
            remove_at(s, (size_t)i);
    } else {
        sched_worker *w = worker_of(s, run_id);
        if (w)
            atomic_store(&w->cancel, true);
    }
    pthread_mutex_unlock(&s->mu);
    if (now == STORE_RUN_CANCELED) {
        gand_log_info("run %lld canceled before it started", (long long)run_id);
        sched_state_event(s, s->db, run_id, STORE_RUN_CANCELED, NULL);
    }
    if (state)
        *state = now;
    return GAND_OK;
}

void sched_stats(sched *s, sched_snapshot *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    out->workers = s->nworkers;
    out->blas_threads = s->blas_threads;
    out->stopping = atomic_load(&s->stopping);
    out->queued = s->qlen;
    for (int i = 0; i < s->nworkers; i++) {
        const sched_worker *w = &s->workers[i];
        if (w->run_id == 0)
            continue;
        out->runs[out->running++] = (sched_running){.run_id = w->run_id,
                                                    .step = w->step,
                                                    .total_steps = w->total_steps,
                                                    .steps_per_s = w->steps_per_s};
    }
    pthread_mutex_unlock(&s->mu);
}
