/* One run on one worker: from queued to its final state, with the gan_host
 * that writes the trainer's metrics, samples and checkpoints to the store
 * and the run's directory. */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/data.h"
#include "gand/gan.h"
#include "gand/log.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ERRLEN 1024

typedef struct {
    sched *s;
    sched_worker *w;
    store *db;
    int64_t id;
    long total;
    /* metric rows not yet written, of steps (flushed_step, last_step] */
    store_metric *buf;
    size_t nbuf, cap;
    int buffered_steps;
    long last_step, flushed_step;
    gan_metric last[GAN_MAX_METRICS];
    int nlast;
    double start_ms, last_event_ms, last_poll_ms;
    long start_step;
    bool cancel_seen;
    /* the checkpoint taken because the scheduler stops could not be written */
    bool stop_checkpoint_failed;
    /* the first failed store write; it stops the run */
    gand_status io_status;
    char io_err[ERRLEN];
} run_ctx;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bool cancel_flagged(run_ctx *c)
{
    return c->cancel_seen || atomic_load(&c->w->cancel);
}

static double steps_per_s(const run_ctx *c, double now)
{
    double dt = (now - c->start_ms) / 1e3;
    return dt > 0 && c->last_step > c->start_step ? (c->last_step - c->start_step) / dt : 0.0;
}

/* Writes the buffered rows and the step. Keeps the first error in the ctx. */
static gand_status flush(run_ctx *c)
{
    if (c->io_status != GAND_OK)
        return c->io_status;
    gand_status st = GAND_OK;
    if (c->nbuf > 0)
        st = store_metrics_add(c->db, c->id, c->buf, c->nbuf, c->io_err, sizeof c->io_err);
    if (st == GAND_OK && c->last_step > c->flushed_step)
        st = store_run_set_step(c->db, c->id, c->last_step, c->io_err, sizeof c->io_err);
    if (st != GAND_OK) {
        c->io_status = st;
        return st;
    }
    c->nbuf = 0;
    c->buffered_steps = 0;
    c->flushed_step = c->last_step;
    return GAND_OK;
}

static void progress_events(run_ctx *c, double now)
{
    double rate = steps_per_s(c, now);
    cJSON *p = cJSON_CreateObject();
    if (p) {
        cJSON_AddNumberToObject(p, "step", (double)c->last_step);
        cJSON_AddNumberToObject(p, "total", (double)c->total);
        cJSON_AddNumberToObject(p, "steps_per_s", rate);
        cJSON_AddNumberToObject(p, "eta_s", rate > 0 ? (c->total - c->last_step) / rate : 0.0);
    }
    sched_event(c->s, c->db, c->id, STORE_EVENT_PROGRESS, c->last_step, p);
    cJSON *m = cJSON_CreateObject();
    if (m)
        cJSON_AddNumberToObject(m, "step", (double)c->last_step);
    cJSON *values = m ? cJSON_AddObjectToObject(m, "values") : NULL;
    if (values) {
        for (int i = 0; i < c->nlast; i++)
            cJSON_AddNumberToObject(values, c->last[i].name, c->last[i].value);
    }
    sched_event(c->s, c->db, c->id, STORE_EVENT_METRICS, c->last_step, m);
}

static void on_metrics(void *ctx, long step, const gan_metric *m, int n)
{
    run_ctx *c = ctx;
    if (c->io_status != GAND_OK)
        return;
    if (n > GAN_MAX_METRICS)
        n = GAN_MAX_METRICS;
    for (int i = 0; i < n; i++)
        c->buf[c->nbuf++] = (store_metric){.step = step, .name = m[i].name, .value = m[i].value};
    memcpy(c->last, m, (size_t)n * sizeof *m);
    c->nlast = n;
    c->last_step = step;
    c->buffered_steps++;
    double now = now_ms();
    pthread_mutex_lock(&c->s->mu);
    c->w->step = step;
    c->w->steps_per_s = steps_per_s(c, now);
    pthread_mutex_unlock(&c->s->mu);
    if (now - c->last_event_ms >= c->s->p.event_interval_ms || step == c->total) {
        if (flush(c) == GAND_OK) {
            progress_events(c, now);
            c->last_event_ms = now;
        }
    } else if (c->buffered_steps >= c->s->p.flush_steps) {
        flush(c);
    }
}

/* Deletes the grids beyond sample_retention, rows and files together (see
 * sched_remove_sample_files() for the order). A prune that fails leaves
 * both and is caught up by the next one, which removes every grid beyond
 * the limit. */
static void retain_samples(run_ctx *c)
{
    int keep = c->s->p.sample_retention;
    if (keep <= 0)
        return;
    store_sample_list removed;
    char err[ERRLEN];
    if (store_sample_prune(c->db, c->id, keep, &removed, err, sizeof err) != GAND_OK) {
        gand_log_warn("run %lld: cannot delete old sample grids: %s", (long long)c->id, err);
        return;
    }
    sched_remove_sample_files(c->s, c->id, &removed);
}

/* A file of the run that could not be written (a full disk, a directory
 * made unwritable) ends the run: err gets what was being saved and what to
 * do around the writer's sentence, which names the file. */
static gand_status file_failed(const run_ctx *c, gand_status st, const char *what, long step,
                               char *err, size_t errlen)
{
    if (st != GAND_EIO)
        return st;
    char why[ERRLEN];
    snprintf(why, sizeof why, "%s", err);
    return gand_errorf(err, errlen, st,
                       "cannot save the %s of step %ld: %s; free disk space or fix the "
                       "permissions under %s, then submit the run again",
                       what, step, why, c->s->state_dir);
}

static gand_status on_sample(void *ctx, long step, const float *images, int n, nn_shape shape,
                             int cols, char *err, size_t errlen)
{
    run_ctx *c = ctx;
    char rel[96], path[PATH_MAX];
    snprintf(rel, sizeof rel, "runs/%lld/samples/step-%07ld.png", (long long)c->id, step);
    snprintf(path, sizeof path, "%s/%s", c->s->state_dir, rel);
    gand_status st = img_write_png_grid(path, images, n, shape, cols, err, errlen);
    if (st != GAND_OK)
        return file_failed(c, st, "sample grid", step, err, errlen);
    st = store_sample_add(c->db, c->id, step, rel, err, errlen);
    if (st != GAND_OK)
        return st;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        char url[96];
        snprintf(url, sizeof url, "/runs/%lld/samples/%ld.png", (long long)c->id, step);
        cJSON_AddNumberToObject(o, "step", (double)step);
        cJSON_AddStringToObject(o, "url", url);
    }
    sched_event(c->s, c->db, c->id, STORE_EVENT_SAMPLE, step, o);
    retain_samples(c);
    return GAND_OK;
}

static gand_status on_checkpoint(void *ctx, gan_trainer *t, long step, char *err, size_t errlen)
{
    run_ctx *c = ctx;
    /* the metrics a checkpoint covers are in the store before it exists */
    if (flush(c) != GAND_OK)
        return gand_errorf(err, errlen, c->io_status, "%s", c->io_err);
    char name[64], path[PATH_MAX];
    snprintf(name, sizeof name, "checkpoints/step-%07ld.ckpt", step);
    sched_run_path(c->s, c->id, name, path);
    gand_status st = gan_trainer_save(t, path, err, errlen);
    if (st != GAND_OK) {
        c->stop_checkpoint_failed = atomic_load(&c->s->stopping);
        return file_failed(c, st, "checkpoint", step, err, errlen);
    }
    sched_prune_checkpoints(c->s, c->id, step, SCHED_KEEP_CHECKPOINTS);
    return store_run_set_checkpoint(c->db, c->id, step, err, errlen);
}

static bool should_stop(void *ctx)
{
    run_ctx *c = ctx;
    if (c->io_status != GAND_OK || cancel_flagged(c) || atomic_load(&c->s->stopping))
        return true;
    double now = now_ms();
    if (now - c->last_poll_ms >= c->s->p.cancel_poll_ms) {
        c->last_poll_ms = now;
        bool requested = false;
        char err[256];
        if (store_run_cancel_requested(c->db, c->id, &requested, err, sizeof err) == GAND_OK)
            c->cancel_seen = requested;
        else
            gand_log_warn("run %lld: %s", (long long)c->id, err);
    }
    return c->cancel_seen;
}

/* Moves the run to its final state and appends the state event. A store
 * that cannot write (a full disk: the failure being recorded is often that
 * very disk) is tried again every FINISH_RETRY_MS, with this worker held,
 * until it can or the scheduler stops: given up at once, the run would stay
 * "running" with nothing training it until the next start. A run still
 * unrecorded at the stop is left to the next start's recovery. */
#define FINISH_RETRY_MS 1000

static void finish(run_ctx *c, store_run_state to, const char *error)
{
    char err[ERRLEN];
    bool retrying = false;
    for (;;) {
        gand_status st = store_run_transition(c->db, c->id, to, error, err, sizeof err);
        if (st == GAND_OK)
            break;
        bool transient =
            st == GAND_ENOSPC || st == GAND_EIO || st == GAND_EDB || st == GAND_ENOMEM;
        if (!transient || atomic_load(&c->s->stopping)) {
            gand_log_error("run %lld: cannot mark it %s: %s%s", (long long)c->id,
                           store_run_state_name(to), err,
                           transient ? "; the next start queues it again from its newest "
                                       "checkpoint"
                                     : "");
            return;
        }
        if (!retrying)
            gand_log_error("run %lld: cannot mark it %s: %s; trying again every %d ms%s%s",
                           (long long)c->id, store_run_state_name(to), err, FINISH_RETRY_MS,
                           error ? "; it failed with: " : "", error ? error : "");
        retrying = true;
        for (int waited = 0; waited < FINISH_RETRY_MS && !atomic_load(&c->s->stopping);
             waited += 50)
            nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    }
    if (to == STORE_RUN_FAILED)
        gand_log_warn("run %lld failed: %s", (long long)c->id, error);
    else
        gand_log_info("run %lld %s at step %ld", (long long)c->id, store_run_state_name(to),
                      c->last_step);
    sched_state_event(c->s, c->db, c->id, to, error);
}

/* Rewinds the run to step and queues it for the next start. */
static void requeue(run_ctx *c, long step)
{
    char rerr[ERRLEN];
    if (sched_rewind(c->s, c->db, c->id, step, rerr, sizeof rerr) != GAND_OK) {
        gand_log_error("run %lld: cannot queue it again: %s", (long long)c->id, rerr);
        return;
    }
    gand_log_info("run %lld: stopped at step %ld; it resumes at the next start", (long long)c->id,
                  step);
    sched_state_event(c->s, c->db, c->id, STORE_RUN_QUEUED, NULL);
}

/* After the trainer returned st with err: records the outcome. */
static void conclude(run_ctx *c, gan_trainer *t, gand_status st, const char *err)
{
    gand_status fst = flush(c);
    if (st == GAND_OK && fst != GAND_OK)
        st = fst;
    if (st == GAND_OK) {
        finish(c, STORE_RUN_SUCCEEDED, NULL);
    } else if (st == GAND_ECANCELED && c->io_status != GAND_OK) {
        finish(c, STORE_RUN_FAILED, c->io_err);
    } else if (st == GAND_ECANCELED && !cancel_flagged(c) && atomic_load(&c->s->requeue)) {
        requeue(c, t ? gan_trainer_step(t) : 0);
    } else if (c->stop_checkpoint_failed && !cancel_flagged(c) && atomic_load(&c->s->requeue)) {
        /* a full disk at the stop must not cost the run: it goes back to
         * its newest checkpoint, and the next start may have room */
        gand_log_warn("run %lld: %s", (long long)c->id, err);
        int64_t ckpt = sched_newest_checkpoint(c->s, c->id, t ? gan_trainer_step(t) : 0);
        requeue(c, ckpt > 0 ? (long)ckpt : 0);
    } else if (st == GAND_ECANCELED) {
        finish(c, STORE_RUN_CANCELED, NULL);
    } else {
        finish(c, STORE_RUN_FAILED, *err ? err : gand_strerror(st));
    }
}

/* Builds the trainer and restores checkpoint step ckpt (-1: none). NULL
 * with the sentence in err. */
static gan_trainer *prepare(run_ctx *c, const store_run *r, int64_t ckpt, char *err,
                            size_t errlen)
{
    gan_spec spec;
    char field[64];
    gand_status st = gan_spec_parse(r->spec, strlen(r->spec), &spec, err, errlen, field,
                                    sizeof field);
    if (st != GAND_OK)
        return NULL;
    if (sched_run_dirs(c->s, c->id, err, errlen) != GAND_OK)
        return NULL;
    gan_trainer *t = gan_trainer_create(&spec, &st, err, errlen);
    if (!t)
        return NULL;
    c->total = gan_trainer_total_steps(t);
    if (c->total > r->total_steps) {
        gand_errorf(err, errlen, GAND_EINVAL,
                    "the run was stored with %lld total steps but its spec trains %ld; "
                    "submit it again",
                    (long long)r->total_steps, c->total);
        goto err;
    }
    if (ckpt >= 0) {
        char name[64], path[PATH_MAX], lerr[ERRLEN];
        snprintf(name, sizeof name, "checkpoints/step-%07lld.ckpt", (long long)ckpt);
        sched_run_path(c->s, c->id, name, path);
        if (gan_trainer_load(t, path, lerr, sizeof lerr) != GAND_OK) {
            gand_errorf(err, errlen, GAND_EFORMAT,
                        "cannot resume from checkpoint: %s; delete the file to restart the run "
                        "from step 0",
                        lerr);
            goto err;
        }
        if (r->checkpoint_step < ckpt &&
            store_run_set_checkpoint(c->db, c->id, ckpt, lerr, sizeof lerr) != GAND_OK)
            gand_log_warn("run %lld: %s", (long long)c->id, lerr);
    }
    return t;
err:
    gan_trainer_free(t);
    return NULL;
}

/* Brings a queued run to the step of its newest checkpoint (at or before its
 * recorded step), in case its files and rows disagree. Returns that
 * checkpoint's step (-1: none) or -2 when the run cannot start. */
static int64_t align(run_ctx *c, const store_run *r)
{
    int64_t ckpt = sched_newest_checkpoint(c->s, c->id, r->step);
    int64_t from = ckpt >= 0 ? ckpt : 0;
    if (from == r->step)
        return ckpt;
    char err[ERRLEN];
    gand_status st = sched_rewind(c->s, c->db, c->id, from, err, sizeof err);
    if (st == GAND_OK)
        return ckpt;
    if (st != GAND_EBUSY)
        gand_log_error("run %lld: cannot rewind it to step %lld: %s", (long long)c->id,
                       (long long)from, err);
    return -2;
}

void sched_run_job(sched_worker *w, int64_t id)
{
    run_ctx c = {.s = w->s, .w = w, .db = w->db, .id = id};
    char err[ERRLEN] = "";
    store_run r;
    gand_status st = store_run_get(c.db, id, &r, err, sizeof err);
    if (st != GAND_OK) {
        if (st == GAND_ENOTFOUND)
            gand_log_info("run %lld was deleted before it started", (long long)id);
        else
            gand_log_error("run %lld cannot start: %s", (long long)id, err);
        return;
    }
    gan_trainer *t = NULL;
    int64_t ckpt = r.state == STORE_RUN_QUEUED ? align(&c, &r) : -2;
    /* a run not yet started stays queued for the next start */
    if (ckpt < -1 || atomic_load(&c.s->stopping))
        goto out;
    st = store_run_transition(c.db, id, STORE_RUN_RUNNING, NULL, err, sizeof err);
    if (st != GAND_OK) {
        /* canceled or deleted while it waited */
        if (st != GAND_EBUSY && st != GAND_ENOTFOUND)
            gand_log_error("run %lld cannot start: %s", (long long)id, err);
        goto out;
    }
    sched_state_event(c.s, c.db, id, STORE_RUN_RUNNING, NULL);
    c.start_step = c.last_step = c.flushed_step = ckpt >= 0 ? (long)ckpt : 0;
    pthread_mutex_lock(&c.s->mu);
    w->step = c.start_step;
    w->total_steps = r.total_steps;
    pthread_mutex_unlock(&c.s->mu);

    c.cap = (size_t)c.s->p.flush_steps * GAN_MAX_METRICS;
    c.buf = gand_calloc(c.cap, sizeof *c.buf);
    t = c.buf ? prepare(&c, &r, ckpt, err, sizeof err) : NULL;
    if (!t) {
        if (!c.buf)
            gand_errorf(err, sizeof err, GAND_ENOMEM, "out of memory starting the run");
        finish(&c, STORE_RUN_FAILED, *err ? err : "the run could not be prepared");
        goto out;
    }
    gand_log_info("run %lld: training %ld steps from step %ld", (long long)id, c.total,
                  c.start_step);
    pthread_mutex_lock(&c.s->mu);
    w->total_steps = c.total;
    pthread_mutex_unlock(&c.s->mu);
    gan_host host = {.ctx = &c,
                     .on_metrics = on_metrics,
                     .on_sample = on_sample,
                     .on_checkpoint = on_checkpoint,
                     .should_stop = should_stop};
    c.start_ms = now_ms();
    c.last_event_ms = c.start_ms;
    err[0] = '\0';
    st = gan_trainer_run(t, &host, err, sizeof err);
    conclude(&c, t, st, err);
out:
    gan_trainer_free(t);
    gand_free(c.buf);
    store_run_clear(&r);
}
