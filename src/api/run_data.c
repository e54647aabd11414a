/* A run's data: metrics, sample grids and their timelapse, fresh samples, the
 * checkpoint. */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/data.h"
#include "gand/gan.h"

#include <stdio.h>
#include <string.h>

void api_metrics(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    int64_t id = http_req_param_int(req, "id"), after, limit;
    if (http_req_query_int(req, resp, "after_step", -1, INT64_MAX, -1, &after) != GAND_OK ||
        http_req_query_int(req, resp, "limit", 1, 1000000, 100000, &limit) != GAND_OK)
        return;
    if (!api_run_exists(req, resp))
        return;
    const char *name = http_req_query(req, "name");
    store_series_set set;
    char err[API_ERRLEN];
    gand_status st = store_metrics_query(app->db, id, name && *name ? name : NULL, after,
                                         (int)limit, &set, err, sizeof err);
    if (st != GAND_OK) {
        api_fail(resp, st, err);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *series = NULL;
    bool ok = root && cJSON_AddNumberToObject(root, "run_id", (double)id) &&
              (series = cJSON_AddObjectToObject(root, "series"));
    for (size_t i = 0; ok && i < set.n; i++) {
        const store_series *s = &set.series[i];
        cJSON *o = cJSON_AddObjectToObject(series, s->name);
        cJSON *steps = o ? cJSON_AddArrayToObject(o, "steps") : NULL;
        cJSON *values = o ? cJSON_AddArrayToObject(o, "values") : NULL;
        ok = steps && values;
        for (size_t k = 0; ok && k < s->n; k++) {
            cJSON *a = cJSON_CreateNumber((double)s->steps[k]);
            /* NaN is not JSON; cJSON prints it as null */
            cJSON *b = cJSON_CreateNumber(s->values[k]);
            ok = a && b && cJSON_AddItemToArray(steps, a) && cJSON_AddItemToArray(values, b);
            if (!ok) {
                cJSON_Delete(a);
                cJSON_Delete(b);
            }
        }
    }
    store_series_set_clear(&set);
    if (ok)
        http_json(resp, 200, root);
    else
        http_problem(resp, 500, "out of memory");
    cJSON_Delete(root);
}

void api_samples_list(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    int64_t id = http_req_param_int(req, "id"), after, limit;
    if (http_req_query_int(req, resp, "after_step", -1, INT64_MAX, -1, &after) != GAND_OK ||
        http_req_query_int(req, resp, "limit", 1, 100000, 10000, &limit) != GAND_OK)
        return;
    if (!api_run_exists(req, resp))
        return;
    store_sample_list list;
    char err[API_ERRLEN];
    gand_status st = store_sample_list_run(app->db, id, after, (int)limit, &list, err, sizeof err);
    if (st != GAND_OK) {
        api_fail(resp, st, err);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "samples") : NULL;
    for (size_t i = 0; arr && i < list.n; i++) {
        char url[96];
        snprintf(url, sizeof url, "/runs/%lld/samples/%lld.png", (long long)id,
                 (long long)list.samples[i].step);
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            arr = NULL;
        } else if (!cJSON_AddNumberToObject(o, "step", (double)list.samples[i].step) ||
                   !cJSON_AddStringToObject(o, "url", url)) {
            arr = NULL;
        }
    }
    store_sample_list_clear(&list);
    if (arr)
        http_json(resp, 200, root);
    else
        http_problem(resp, 500, "out of memory");
    cJSON_Delete(root);
}

/* Serves a stored sample file with ETag "r<id>-s<step>". */
static void serve_sample(const http_req *req, http_resp *resp, const store_sample *sm,
                         bool immutable)
{
    api_ctx *app = api_of(req);
    char tag[64], path[2048];
    snprintf(tag, sizeof tag, "r%lld-s%lld", (long long)http_req_param_int(req, "id"),
             (long long)sm->step);
    http_resp_add_header(resp, "Cache-Control",
                         immutable ? "public, max-age=31536000, immutable" : "no-cache");
    if (http_etag(req, resp, tag))
        return;
    snprintf(path, sizeof path, "%s/%s", app->state_dir, sm->file);
    if (http_file(resp, path, "image/png") != GAND_OK)
        http_problem(resp, 404, "the sample grid of step %lld is gone from disk",
                     (long long)sm->step);
}

void api_sample_png(const http_req *req, http_resp *resp)
{
    store_sample sm;
    char err[API_ERRLEN];
    gand_status st = store_sample_get(api_of(req)->db, http_req_param_int(req, "id"),
                                      http_req_param_int(req, "step"), &sm, err, sizeof err);
    if (st != GAND_OK) {
        api_fail(resp, st, err);
        return;
    }
    serve_sample(req, resp, &sm, true);
    store_sample_clear(&sm);
}

void api_sample_latest(const http_req *req, http_resp *resp)
{
    store_sample sm;
    char err[API_ERRLEN];
    gand_status st =
        store_sample_latest(api_of(req)->db, http_req_param_int(req, "id"), &sm, err, sizeof err);
    if (st != GAND_OK) {
        api_fail(resp, st, err);
        return;
    }
    serve_sample(req, resp, &sm, false);
    store_sample_clear(&sm);
}

/* The timelapse holds at most this many grids, so that it stays quick to
 * build and small to send however long the run. */
#define GIF_MAX_FRAMES 60
#define GIF_DELAY_CS 20

/* Grid k of n (n >= t) shown as frame i of t: evenly spaced, the newest
 * always last. Distinct for distinct i since (n - 1) / (t - 1) >= 1. */
static size_t gif_pick(size_t i, size_t t, size_t n)
{
    return t == 1 ? n - 1 : i * (n - 1) / (t - 1);
}

/* Border of a grid (data.h): drawn again around the single tile of each
 * GIF frame, so a frame is a grid without it. */
#define GIF_BORDER 2

/* Reads t grids picked from list into *frames, (*kept, c, h, w) as
 * x / 127.5 - 1 without their outer border, so that the GIF writer, as a
 * grid of one, draws them back as the same bytes at the same size. A grid
 * whose file is gone (sample retention pruned it meanwhile) is left out;
 * *kept is 0 when all are. */
static gand_status gif_frames(const api_ctx *app, const store_sample_list *list, size_t t,
                              float **frames, int *kept, nn_shape *shape, char *err,
                              size_t errlen)
{
    *frames = NULL;
    *kept = 0;
    size_t size = 0;
    for (size_t i = 0; i < t; i++) {
        const store_sample *sm = &list->samples[gif_pick(i, t, list->n)];
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", app->state_dir, sm->file);
        unsigned char *pix;
        int w, h, c;
        gand_status st = img_read_png(path, &pix, &w, &h, &c, err, errlen);
        if (st == GAND_ENOTFOUND)
            continue;
        if (st != GAND_OK)
            return st;
        if (w <= 2 * GIF_BORDER || h <= 2 * GIF_BORDER) {
            gand_free(pix);
            return gand_errorf(err, errlen, GAND_EINTERNAL,
                               "%s is %dx%d pixels, too small for a sample grid", path, w, h);
        }
        int iw = w - 2 * GIF_BORDER, ih = h - 2 * GIF_BORDER;
        if (!*frames) {
            *shape = (nn_shape){c, ih, iw};
            size = nn_shape_size(*shape);
            *frames = gand_malloc(t * size * sizeof(float));
            if (!*frames) {
                gand_free(pix);
                return gand_errorf(err, errlen, GAND_ENOMEM,
                                   "out of memory for %zu frames of %dx%d", t, iw, ih);
            }
        } else if (c != shape->c || ih != shape->h || iw != shape->w) {
            gand_free(pix);
            return gand_errorf(err, errlen, GAND_EINTERNAL,
                               "the grid of step %lld differs in size or channels from an "
                               "earlier one of the run",
                               (long long)sm->step);
        }
        /* pix is (h, w, c), the frame (c, ih, iw) */
        float *f = *frames + (size_t)*kept * size;
        size_t plane = (size_t)ih * iw;
        for (int y = 0; y < ih; y++) {
            const unsigned char *row = pix + ((size_t)(y + GIF_BORDER) * w + GIF_BORDER) * c;
            for (int x = 0; x < iw; x++)
                for (int ch = 0; ch < c; ch++)
                    f[ch * plane + (size_t)y * iw + x] =
                        (float)row[(size_t)x * c + ch] / 127.5f - 1.0f;
        }
        gand_free(pix);
        (*kept)++;
    }
    return GAND_OK;
}

/* GET /runs/<id>/samples.gif: the recorded grids as one animation. */
void api_samples_gif(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    int64_t id = http_req_param_int(req, "id");
    if (!api_run_exists(req, resp))
        return;
    store_sample_list list;
    char err[API_ERRLEN];
    gand_status st = store_sample_list_run(app->db, id, -1, 0, &list, err, sizeof err);
    if (st != GAND_OK) {
        api_fail(resp, st, err);
        return;
    }
    float *frames = NULL;
    int kept = 0;
    nn_shape shape = {0};
    if (list.n > 0)
        st = gif_frames(app, &list, list.n < GIF_MAX_FRAMES ? list.n : GIF_MAX_FRAMES, &frames,
                        &kept, &shape, err, sizeof err);
    store_sample_list_clear(&list);
    unsigned char *gif = NULL;
    size_t gif_len = 0;
    if (st == GAND_OK && kept > 0)
        st = img_encode_gif_grid(frames, kept, 1, shape, 1, GIF_DELAY_CS, &gif, &gif_len, err,
                                 sizeof err);
    gand_free(frames);
    if (st != GAND_OK) {
        /* the files on disk are at fault, not the request */
        api_fail(resp, st == GAND_ENOMEM ? st : GAND_EINTERNAL, err);
        return;
    }
    if (kept == 0) {
        http_problem(resp, 404,
                     "run %lld has no sample grids yet; the first comes after sample_every steps",
                     (long long)id);
        return;
    }
    http_resp_add_header(resp, "Cache-Control", "no-cache");
    http_send(resp, 200, "image/gif", gif, gif_len, HTTP_BODY_TAKE);
}

/* A worker keeps its newest checkpoints and deletes older ones as it
 * writes new ones, so the newest file found may be gone by the time it is
 * opened: then the search starts again, this many times. */
#define CKPT_TRIES 5

void api_checkpoint(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    int64_t id = http_req_param_int(req, "id");
    if (!api_run_exists(req, resp))
        return;
    char path[2048];
    gand_status st = GAND_ENOTFOUND;
    for (int i = 0; i < CKPT_TRIES && st == GAND_ENOTFOUND; i++) {
        if (!api_latest_checkpoint(app, id, path, sizeof path)) {
            http_problem(resp, 404,
                         "run %lld has no checkpoint yet; one is written every "
                         "checkpoint_every steps and at the end",
                         (long long)id);
            return;
        }
        st = http_file(resp, path, "application/octet-stream");
    }
    if (st != GAND_OK) {
        http_problem(resp, 500, "the checkpoint of run %lld could not be read: %s",
                     (long long)id, gand_strerror(st));
        return;
    }
    char disp[96];
    snprintf(disp, sizeof disp, "attachment; filename=\"run-%lld-%s\"", (long long)id,
             strrchr(path, '/') + 1);
    http_resp_add_header(resp, "Content-Disposition", disp);
}

/* Loads the run's newest checkpoint into t, looking again when the file
 * was replaced meanwhile. GAND_ENOTFOUND when the run has none. */
static gand_status load_latest(const api_ctx *app, int64_t id, gan_trainer *t, char *err,
                               size_t errlen)
{
    char path[2048], again[2048];
    gand_status st = GAND_ENOTFOUND;
    for (int i = 0; i < CKPT_TRIES; i++) {
        if (!api_latest_checkpoint(app, id, path, sizeof path))
            return gand_errorf(err, errlen, GAND_ENOTFOUND,
                               "run %lld has no checkpoint yet; samples can be generated once "
                               "it has written one (every checkpoint_every steps and at the "
                               "end)",
                               (long long)id);
        st = gan_trainer_load(t, path, err, errlen);
        if (st == GAND_OK || !api_latest_checkpoint(app, id, again, sizeof again) ||
            strcmp(path, again) == 0)
            return st;
    }
    return st;
}

/* GET /runs/<id>/generate?n=&seed=&label=: a fresh grid from the newest
 * checkpoint, G in evaluation mode. */
void api_generate(const http_req *req, http_resp *resp)
{
    api_ctx *app = api_of(req);
    int64_t id = http_req_param_int(req, "id"), n, seed, label;
    if (http_req_query_int(req, resp, "n", 1, API_MAX_GENERATE, 64, &n) != GAND_OK ||
        http_req_query_int(req, resp, "seed", 0, INT64_MAX, 1, &seed) != GAND_OK ||
        http_req_query_int(req, resp, "label", 0, 255, -1, &label) != GAND_OK)
        return;
    store_run run;
    if (!api_load_run(req, resp, &run))
        return;
    char err[API_ERRLEN], field[64];
    gan_spec spec;
    gand_status st = gan_spec_parse(run.spec, strlen(run.spec), &spec, err, sizeof err, field,
                                    sizeof field);
    store_run_clear(&run);
    if (st != GAND_OK) {
        api_fail(resp, GAND_EINTERNAL, err);
        return;
    }
    char probe[2048];
    if (!api_latest_checkpoint(app, id, probe, sizeof probe)) {
        http_problem(resp, 409,
                     "run %lld has no checkpoint yet; samples can be generated once it has "
                     "written one (every checkpoint_every steps and at the end)",
                     (long long)id);
        return;
    }
    gan_trainer *t = gan_trainer_create_for_generating(&spec, &st, err, sizeof err);
    if (!t) {
        http_problem(resp, st == GAND_ENOMEM ? 500 : 409, "cannot load run %lld: %s",
                     (long long)id, err);
        return;
    }
    float *images = NULL;
    unsigned char *png = NULL;
    size_t png_len = 0;
    nn_shape s = gan_trainer_image_shape(t);
    st = load_latest(app, id, t, err, sizeof err);
    if (st == GAND_ENOTFOUND) {
        gan_trainer_free(t);
        http_problem(resp, 409, "%s", err);
        return;
    }
    bool bad_label = false;
    if (st == GAND_OK) {
        images = gand_aligned_alloc((size_t)n * nn_shape_size(s) * sizeof(float));
        st = images ? gan_trainer_generate(t, (int)n, (uint64_t)seed, (int)label, images, err,
                                           sizeof err)
                    : GAND_ENOMEM;
        bad_label = st == GAND_EINVAL;
    }
    if (st == GAND_OK) {
        int cols = n < 8 ? (int)n : 8;
        st = img_encode_png_grid(images, (int)n, s, cols, &png, &png_len, err, sizeof err);
    }
    gand_free(images);
    gan_trainer_free(t);
    if (bad_label) {
        http_problem_field(resp, 400, "label", "%s", err);
        return;
    }
    if (st != GAND_OK) {
        /* the checkpoint or the image is at fault, not the request */
        api_fail(resp, GAND_EINTERNAL, err);
        return;
    }
    http_resp_add_header(resp, "Cache-Control", "no-store");
    http_send(resp, 200, "image/png", png, png_len, HTTP_BODY_TAKE);
}
