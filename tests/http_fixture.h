/* Test helpers for the HTTP suites: a real server on 127.0.0.1 (port 0)
 * with a small route table, a web root and an SSE hub fed by a tiny event
 * store, fresh for each test; and a libcurl client for plain requests and
 * for event streams held open in a thread. */
#ifndef GAND_TEST_HTTP_FIXTURE_H
#define GAND_TEST_HTTP_FIXTURE_H

#include "gand/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FIXTURE_MAX_BODY 4096 /* the server's body limit */
#define FIXTURE_PING_MS 200   /* the hub's keep-alive interval */

typedef struct {
    int64_t topic, id;
    char data[64];
} stored_event;

/* What the handlers see as their application: the hub and an event store. */
typedef struct {
    http_sse_hub *hub;
    http_server *srv;
    pthread_mutex_t lock;
    stored_event events[256];
    int nevents;
    int64_t next_id;
    _Atomic bool race; /* the backlog publishes one event before and one after its read */
} fixture_app;

extern fixture_app app;
extern char fixture_base[];       /* "http://127.0.0.1:PORT" */
extern const char fixture_png[];  /* the bytes of www/pic.png */
extern const size_t fixture_png_len;

/* Checked fixture. The web root holds index.html ("<h1>gand</h1>"),
 * app.js ("let x = 1;"), pic.png, .hidden and escape.html, a symlink to
 * ../secret.txt ("TOP SECRET"). Routes:
 *   GET /livez, POST /echo (JSON in, 201 {"got": ...}), GET /query
 *   (echoes ?n as an integer 1..9 and ?flag), GET and DELETE
 *   /runs/{id:int} (ETag "run-ID"), GET /runs/{id:int}/events (SSE of
 *   topic id, backlog from the store), GET /slow (100 ms), static files. */
void fixture_setup(void);
void fixture_teardown(void);

double now_s(void);

/* Stores an event of topic with the next id, then publishes it. */
void store_and_publish(int64_t topic, const char *data);

typedef struct {
    char *data;
    size_t len;
} buf;

typedef struct {
    long status;
    buf body, headers; /* NUL-terminated */
    CURLcode rc;
} reply;

typedef struct {
    const char *method; /* NULL: GET, or POST with a body */
    const char *path;   /* sent as is, dots and escapes included */
    const char *body;
    long body_len;
    const char *headers[4];
    bool chunked; /* send the body with Transfer-Encoding: chunked */
} request_opts;

reply do_request(request_opts o);
reply get(const char *path);
void reply_free(reply *r);
/* Value of a response header copied into out, "" when absent. */
const char *header(const reply *r, const char *name, char *out, size_t n);

typedef struct {
    char path[64];
    char last_id[48];
    int want_events; /* abort once this many events arrived; 0: on the first ping */
    pthread_mutex_t lock;
    buf data, headers;
    CURLcode rc;
    double ended; /* now_s() when the transfer ended */
    pthread_t thread;
    bool joined;
} sse_client;

/* Opens an event stream in a new thread; last_id may be NULL. */
sse_client *sse_open(const char *path, const char *last_id, int want);
/* Waits for the stream's transfer to end. */
void sse_join(sse_client *c);
/* Joins, frees the client and returns what it received less the pings
 * (malloc'd). */
char *sse_close(sse_client *c);
/* Waits (at most 5 s) until the hub has n streams. */
void wait_streams(size_t n);

#endif
