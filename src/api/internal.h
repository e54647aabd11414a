/* Internal to src/api: handlers and the helpers they share. */
#ifndef GAND_API_INTERNAL_H
#define GAND_API_INTERNAL_H

#include "gand/api.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define API_ERRLEN 512

static inline api_ctx *api_of(const http_req *req) { return http_req_app(req); }

/* Answers a store or scheduler error with its status code: 404 not found,
 * 409 busy, 422 invalid, 507 a full disk (logged), 500 otherwise (logged). */
void api_fail(http_resp *resp, gand_status st, const char *err);

/* Loads run {id} of the request into *run; on failure the response holds
 * the problem and false is returned. */
bool api_load_run(const http_req *req, http_resp *resp, store_run *run);

/* True when run {id} of the request exists; otherwise the response holds
 * the problem. */
bool api_run_exists(const http_req *req, http_resp *resp);

/* The run as its JSON object; NULL when out of memory. */
cJSON *api_run_json(api_ctx *app, const store_run *run);

/* Writes "<state>/runs/<id>" (and a suffix) into buf. */
void api_run_dir(const api_ctx *app, int64_t id, const char *suffix, char *buf, size_t len);

/* Newest checkpoint file of a run into path; false when there is none. */
bool api_latest_checkpoint(const api_ctx *app, int64_t id, char *path, size_t len);

void api_runs_create(const http_req *req, http_resp *resp);
void api_runs_list(const http_req *req, http_resp *resp);
void api_runs_get(const http_req *req, http_resp *resp);
void api_runs_cancel(const http_req *req, http_resp *resp);
void api_runs_delete(const http_req *req, http_resp *resp);
void api_metrics(const http_req *req, http_resp *resp);
void api_samples_list(const http_req *req, http_resp *resp);
void api_sample_png(const http_req *req, http_resp *resp);
void api_sample_latest(const http_req *req, http_resp *resp);
void api_samples_gif(const http_req *req, http_resp *resp);
void api_generate(const http_req *req, http_resp *resp);
void api_checkpoint(const http_req *req, http_resp *resp);
void api_run_events(const http_req *req, http_resp *resp);
void api_all_events(const http_req *req, http_resp *resp);
void api_prometheus(const http_req *req, http_resp *resp);

#endif
