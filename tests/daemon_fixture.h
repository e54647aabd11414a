/* Test helpers for the end-to-end API suites: the real gand daemon (the
 * test program's argv[1]) run as a child process on a temporary state
 * directory, web root and tiny dataset; a libcurl client for requests and
 * event streams; raw sockets for bytes curl will not send.
 *
 * Every helper asserts what it needs (ck_assert), so a test reads as the
 * requests it makes. A daemon left running by a failed test dies with the
 * test process (PR_SET_PDEATHSIG); every test's files live under one
 * directory that daemon_suite_main() removes at the end. */
#ifndef GAND_TEST_DAEMON_FIXTURE_H
#define GAND_TEST_DAEMON_FIXTURE_H

#include <check.h>
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DAEMON_IMAGES 64 /* 8x8 images in the dataset, labels 0..3 */
#define DAEMON_MAX_FLAGS 8
#define DAEMON_INDEX_HTML "<!doctype html><h1>gand test page</h1>\n"

typedef struct {
    char *root; /* temporary directory holding the ones below */
    char state_dir[1100], www_dir[1100], data_dir[1100], log_path[1100];
    const char *flags[DAEMON_MAX_FLAGS + 1]; /* extra flags of every start, NULL-ended */
    pid_t pid;                               /* 0 when not running */
    int port;
    char base[64];    /* "http://127.0.0.1:PORT" */
    const char *auth; /* when set, requests send "Authorization: Bearer <auth>" */
} gand_daemon;

/* Runs suite in the test program's main: takes the daemon's path from
 * argv[1] and returns the exit status (0 when every test passed). */
int daemon_suite_main(int argc, char **argv, Suite *suite);

/* Creates the directories, index.html and the dataset; flags (NULL-ended,
 * at most DAEMON_MAX_FLAGS) are added to every start, e.g. "--queue-max",
 * "1". Does not start the daemon. */
void daemon_init(gand_daemon *d, const char *const *flags);
/* daemon_init then daemon_start. */
void daemon_up(gand_daemon *d, const char *const *flags);
/* Starts the daemon on port 0 with one worker and one BLAS thread and
 * reads its port from the log (it inherits the test's environment). */
void daemon_spawn(gand_daemon *d);
/* daemon_spawn, then waits until /readyz answers 200. */
void daemon_start(gand_daemon *d);
/* SIGTERM, then waits (at most 30 s); returns the exit status, or 128 plus
 * the signal that ended it. */
int daemon_stop(gand_daemon *d);
/* SIGKILL and wait. */
void daemon_kill(gand_daemon *d);
/* Stops a running daemon, asserts it exited 0 and that its log holds no
 * sanitizer report, and removes the files. */
void daemon_cleanup(gand_daemon *d);
/* Everything the daemon logged so far (malloc'd). */
char *daemon_log(const gand_daemon *d);
/* Runs gand with args (NULL-ended, argv[0] excluded) to its end, killing it
 * after timeout_s; returns its exit status (128 plus the signal that ended
 * it). Its stdout and stderr go to *out and *errout (malloc'd; either
 * pointer may be NULL to drop them). */
int gand_exec(const char *const *args, double timeout_s, char **out, char **errout);

/* ---- requests ---- */

typedef struct {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    char *headers; /* the raw header block, NUL-terminated */
    cJSON *json;   /* the body parsed, when it is JSON */
} reply;

/* Sends method path (as is: dots and escapes are not touched) with body
 * (NULL: none) and extra headers ("Name: value", NULL-ended, may be NULL). */
reply client_request(const gand_daemon *d, const char *method, const char *path,
                     const char *body, const char *const *headers);
reply client_get(const gand_daemon *d, const char *path);
reply client_post(const gand_daemon *d, const char *path, const char *body);
reply client_delete(const gand_daemon *d, const char *path);
void reply_free(reply *r);
/* Value of header name copied into out ("" when absent). */
const char *reply_header(const reply *r, const char *name, char *out, size_t n);
/* Asserts a problem+json reply with status, and a detail containing
 * detail_part (when not NULL). */
void assert_problem(const reply *r, long status, const char *detail_part);

/* Sends len raw bytes on a new connection and returns the status of the
 * response: 0 when the server closed without one or sent none within
 * timeout_ms. */
int raw_status(const gand_daemon *d, const void *bytes, size_t len, int timeout_ms);

/* ---- JSON ---- */

const char *json_str(const cJSON *o, const char *name); /* asserts a string member */
double json_num(const cJSON *o, const char *name);      /* asserts a number member */
bool json_is_null(const cJSON *o, const char *name);

/* ---- runs ---- */

/* Writes a spec of model (NULL: dcgan) on the fixture's dataset (batch 8,
 * widths 16/8, samples every 5 steps, checkpoints every 10) with extra
 * members (text like "\"seed\":3", may be NULL; they replace the defaults
 * they name) into out. */
void run_spec(const gand_daemon *d, const char *model, long steps, const char *extra, char *out,
              size_t n);
/* POSTs run_spec() and asserts 201; returns the run's id. */
int64_t submit_model(const gand_daemon *d, const char *model, long steps, const char *extra);
/* submit_model() of dcgan. */
int64_t submit_run(const gand_daemon *d, long steps, const char *extra);
/* GET /runs/<id>, asserted 200; the caller deletes the JSON. */
cJSON *get_run(const gand_daemon *d, int64_t id);
/* Polls the run until its status is status, failing after timeout_s or
 * when it reaches a different final status; returns the run. */
cJSON *wait_run(const gand_daemon *d, int64_t id, const char *status, double timeout_s);
/* Polls until the run's step is at least step (and it is running). */
void wait_step(const gand_daemon *d, int64_t id, long step, double timeout_s);
/* Asserts GET /runs/<id>/metrics holds, for each of the names (NULL-ended),
 * the steps 1..n exactly once in order. */
void assert_metric_steps(const gand_daemon *d, int64_t id, long n, const char *const *names);

double now_s(void);

/* ---- event streams ---- */

typedef struct {
    int64_t id;
    char event[16];
    char *data;
    cJSON *json; /* data parsed */
} sse_event;

typedef struct {
    long status;
    char content_type[64];
    sse_event *ev;
    size_t n;
} sse_list;

typedef struct {
    char path[256];
    const char *last_event_id; /* sent as Last-Event-ID; NULL: none */
    size_t max_events;         /* stop after this many (0: no limit) */
    int64_t final_of;          /* stop after run final_of's final state event (0: never) */
    double timeout_s;          /* stop after this long (default 20 s) */
} sse_opts;

/* Reads the stream until one of the stop conditions of o. */
sse_list sse_read(const gand_daemon *d, sse_opts o);
void sse_list_free(sse_list *l);

/* The same on a thread, for a stream held open while the test acts. */
typedef struct sse_async sse_async;
sse_async *sse_start(const gand_daemon *d, sse_opts o);
/* Waits until the stream has delivered its response headers. */
void sse_wait_open(sse_async *a);
sse_list sse_finish(sse_async *a);

#endif
