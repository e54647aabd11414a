/* The scheduler: a FIFO queue of runs and the worker threads that train them.
 *
 * The daemon creates one scheduler at start and frees it at shutdown; the
 * HTTP layer submits and cancels runs through it. Each worker takes the
 * oldest queued run, moves it to running, builds a gan_trainer from the
 * run's stored spec, resumes it from its newest checkpoint, trains it and
 * moves it to succeeded, failed (with the trainer's sentence saying what to
 * fix) or canceled. (src/sched)
 *
 * Submission contract. The caller first creates the run with
 * store_run_create() (state queued, committed) and then calls
 * sched_submit(). When sched_submit() refuses the run (a full queue, a
 * scheduler shutting down) the run is still queued in the store and the
 * caller must not leave it there: it deletes the run with store_run_delete()
 * (or cancels it) before answering 503. The run's total_steps must be the
 * number of steps its trainer will run (gan_spec_check_data() gives it); a
 * worker fails a run stored with fewer.
 *
 * A file the run cannot write (a full disk, a directory it may not write
 * in) fails it with a sentence naming the file. When the store cannot
 * record a final state (a full disk again), the worker tries every second
 * until it can or the scheduler stops, and takes no other run meanwhile;
 * the run shows as running until then (after a stop, until the next start
 * recovers it).
 *
 * Files. Everything a run writes lives under <state_dir>/runs/<id>/:
 *     samples/step-NNNNNNN.png       sample grids (rows in the store name
 *                                    them as runs/<id>/samples/...)
 *     checkpoints/step-NNNNNNN.ckpt  the two newest checkpoints
 * Deleting a finished run's directory is the caller's job.
 *
 * Metrics. Workers buffer metric rows and write them in one transaction
 * just before each progress event (so at most every event_interval_ms),
 * when flush_steps steps are buffered, and always before a checkpoint, a
 * state change and the end of the run. The run's step in the store advances
 * with each write, so a client that saw progress at step N finds every
 * metric up to N in the store.
 *
 * Events. Every state change appends a "state" event {state, error?}; a
 * running run appends "progress" {step, total, steps_per_s, eta_s} and
 * "metrics" {step, values: {name: value}} at most every event_interval_ms
 * (and at its last step), and "sample" {step, url} for each grid. After each
 * event is committed, on_event (when set) gets its store id, so live SSE
 * clients and a client catching up from the store see the same ids.
 *
 * Shutdown and recovery. sched_stop() makes every running trainer stop at
 * its next step boundary and checkpoint; with requeue the run is rewound to
 * that checkpoint and queued again (store_run_truncate()), so the next start
 * resumes it. sched_create() recovers what a killed process left: each run
 * still marked running is rewound to its newest checkpoint file at or
 * before its recorded step (step 0 without one), dropping the metrics, samples and events recorded after it,
 * and queued ahead of the queued runs, which follow oldest first. A resumed
 * run continues bit for bit as an uninterrupted one would (gan.h), provided
 * the BLAS thread count is the same.
 *
 * Threads. Every function may be called from any thread, except that
 * sched_stop() and sched_free() must not run concurrently with each other or
 * from inside on_event. One state directory belongs to one scheduler at a
 * time: two processes sharing it would each take the other's running runs
 * for crashed ones.
 */
#ifndef GAND_SCHED_H
#define GAND_SCHED_H

#include "gand/status.h"
#include "gand/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_MAX_WORKERS 64
#define SCHED_KEEP_CHECKPOINTS 2

typedef struct sched sched;

/* Called after an event is committed: event_id is the store's id, type one
 * of "state", "progress", "metrics", "sample", json_data the event's JSON
 * (valid during the call only). It runs on a worker thread (or on the thread
 * calling sched_create() or sched_cancel() for the state changes those make),
 * with no scheduler lock held; it must return quickly. */
typedef void (*sched_event_fn)(void *ctx, int64_t event_id, int64_t run_id, const char *type,
                               const char *json_data);

typedef struct {
    const char *state_dir;  /* the store's directory (required) */
    int workers;            /* runs trained at once, 1..SCHED_MAX_WORKERS (1) */
    int queue_max;          /* queued runs before sched_submit() refuses, >= 1 (64) */
    int blas_threads;       /* OpenBLAS threads, 0: max(1, cores / workers) (0) */
    /* Newest sample grids kept per run, 0: all (0). Older grids are
     * deleted, their rows in the store first and then their files
     * (store_sample_prune()), so a listing names only grids on disk. */
    int sample_retention;
    sched_event_fn on_event; /* may be NULL */
    void *event_ctx;
    /* Cadences; the defaults suit the daemon, tests shorten them. */
    int event_interval_ms;  /* progress and metrics events at most this often (500) */
    int flush_steps;        /* metric rows buffered for at most this many steps, >= 1 (200) */
    int cancel_poll_ms;     /* the store's cancel flag is read at most this often (500) */
} sched_params;

/* The defaults above (state_dir NULL). This function can't fail. */
sched_params sched_default_params(void);

/* Opens the store (one connection for the scheduler and one per worker),
 * sets OpenBLAS's process-wide thread count, recovers the runs a previous
 * process left running or queued (see above) and starts the workers. NULL
 * on failure with the status in *status and a sentence in err: GAND_EINVAL
 * for a parameter out of range, the errors of store_open(), GAND_EIO when
 * <state_dir>/runs cannot be created, GAND_ENOMEM (also when a thread cannot
 * be started). A run that cannot be rewound is marked failed and logged; it
 * does not stop the start. */
sched *sched_create(const sched_params *p, gand_status *status, char *err, size_t errlen);

/* sched_stop(s, true) if not stopped yet, then frees everything. NULL is a
 * no-op. */
void sched_free(sched *s);

/* Appends run_id (created queued by the caller, see the contract above) to
 * the queue. GAND_EBUSY when queue_max runs are already waiting or the
 * scheduler is stopping (HTTP: 503); GAND_EEXIST when the run is already
 * queued or running here (runs already queued in the store when
 * sched_create() ran are queued by it); GAND_EINVAL for an id <= 0. Runs
 * recovered at start may exceed queue_max; new runs wait until the queue is
 * below it. */
gand_status sched_submit(sched *s, int64_t run_id, char *err, size_t errlen);

/* Cancels run_id and sets *state (may be NULL) to what happened:
 *   STORE_RUN_CANCELED  the run was queued; it is canceled now (state event
 *                       appended) and will never start;
 *   STORE_RUN_RUNNING   the run is training; it stops at its next step
 *                       boundary, checkpoints and becomes canceled shortly.
 * The request is also recorded in the store, so it holds across a restart.
 * Errors are those of store_run_request_cancel(): GAND_ENOTFOUND for no such
 * run, GAND_EBUSY for a finished one (HTTP: 409). A queued run canceled
 * here, or found canceled or deleted by another connection (those two
 * errors), leaves the queue at once: it stops counting against queue_max
 * and in sched_stats(). */
gand_status sched_cancel(sched *s, int64_t run_id, store_run_state *state, char *err,
                         size_t errlen);

/* Stops taking runs and makes every running trainer stop at its next step
 * boundary (within a step, about 0.1 s for DCGAN on Fashion-MNIST) and
 * checkpoint, then joins the workers. An interrupted run is rewound to the
 * checkpoint just taken and queued again with requeue (the daemon's
 * SIGTERM: the next start resumes it), or canceled without; when that
 * checkpoint cannot be written (a full disk), a requeued run goes back to
 * its newest earlier checkpoint (step 0 without one) rather than failing.
 * A run whose cancel was requested ends canceled either way; runs that had
 * not started stay queued in the store. Later calls do nothing. This
 * function can't fail. */
void sched_stop(sched *s, bool requeue);

typedef struct {
    int64_t run_id;
    int64_t step, total_steps;
    double steps_per_s; /* since the run started in this worker; 0 until its first step */
} sched_running;

typedef struct {
    int workers, blas_threads;
    bool stopping;
    size_t queued; /* runs waiting in the queue */
    int running;   /* runs[0..running) are being trained (or prepared) */
    sched_running runs[SCHED_MAX_WORKERS];
} sched_snapshot;

/* Fills *out with the current state (for /readyz, /metrics and systemd's
 * STATUS=). This function can't fail. */
void sched_stats(sched *s, sched_snapshot *out);

#endif
