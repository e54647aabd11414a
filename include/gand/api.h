/* The daemon's REST API: the route table and the handlers behind it.
 *
 * Handlers read and write the store, ask the scheduler to queue and cancel
 * runs, and stream events from the SSE hub. They never train: generating
 * images loads a run's checkpoint into a trainer of its own. The README's
 * "API" section is the contract. (src/api)
 */
#ifndef GAND_API_H
#define GAND_API_H

#include "gand/http.h"
#include "gand/sched.h"
#include "gand/store.h"

#include <stdatomic.h>
#include <stdbool.h>

#define API_MAX_GENERATE 256
#define API_TOPIC_ALL 0 /* the SSE topic of every run's events */

typedef struct {
    store *db;            /* the HTTP threads' connection */
    sched *sched;
    http_sse_hub *hub;
    const char *state_dir;
    http_server *server;  /* for its request statistics; set once started */
    atomic_bool ready;    /* set once recovery is done; /readyz */
} api_ctx;

/* The routes, ending in the static-file route and the 404 sentinel; the
 * app pointer of the server must be an api_ctx. */
extern const http_route api_routes[];

/* The scheduler's sched_event_fn with ctx an api_ctx: publishes each
 * committed event to the run's topic and, with "run_id" added to its data,
 * to API_TOPIC_ALL. */
void api_on_event(void *ctx, int64_t event_id, int64_t run_id, const char *type,
                  const char *json_data);

#endif
