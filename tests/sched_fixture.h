/* Test helpers for the scheduler suites: a fresh directory per test holding
 * a tiny labelled IDX dataset (64 images of 8x8, classes 0..3) and state
 * directories, job specs over it, an event recorder and waits. */
#ifndef GAND_TEST_SCHED_FIXTURE_H
#define GAND_TEST_SCHED_FIXTURE_H

#include "gand/sched.h"
#include "gand/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* <top>/state, <top>/state2 and <top>/data of the current test. */
extern char sf_state[], sf_state2[], sf_data[];

/* Checked fixture: fresh top directory with the dataset / removes it. */
void sf_setup(void);
void sf_teardown(void);

/* A DCGAN spec over the test dataset (batch 8, g_width 16, d_width 8). */
void sf_spec(char *buf, size_t n, long steps, int sample_every, int checkpoint_every);

/* Creates a queued run of spec in dir's store (total_steps from the spec). */
int64_t sf_create_run(const char *dir, const char *spec);

/* The scheduler parameters of the tests: one worker, one BLAS thread,
 * events at every step, cancel polled every 20 ms, events recorded. */
sched_params sf_params(const char *dir);

/* Creates a scheduler, failing the test on error. */
sched *sf_sched(const sched_params *p);

/* ---- events seen by on_event ---- */

typedef struct {
    int64_t id, run_id;
    char type[16];
    char data[512];
} sf_event;

#define SF_MAX_EVENTS 4096

/* Copies the recorded events into out (SF_MAX_EVENTS slots); returns the count. */
size_t sf_events(sf_event *out);
/* Microseconds the recorder sleeps on each progress event (slows training). */
void sf_set_throttle_us(long us);

/* ---- waiting and checking ---- */

/* Polls until run id is final (fails the test after timeout_s) and returns it. */
store_run sf_wait_final(const char *dir, int64_t id, double timeout_s);
/* Polls the scheduler until run id is running at step >= step. */
void sf_wait_step(sched *s, int64_t id, int64_t step, double timeout_s);
/* Polls the store until run id's state is state. */
void sf_wait_state(const char *dir, int64_t id, store_run_state state, double timeout_s);

/* Every metric of run id has exactly the steps 1..total, once each; returns
 * the number of metric names. */
size_t sf_check_series(const char *dir, int64_t id, int64_t total);

/* Path of run id's file under dir (e.g. "checkpoints/step-0000006.ckpt"). */
void sf_run_file(const char *dir, int64_t id, const char *sub, char *buf, size_t n);
bool sf_file_exists(const char *path);
bool sf_files_equal(const char *a, const char *b);

double sf_now_s(void);

#endif
