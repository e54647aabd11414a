/* The real daemon's run data: metric series, sample grids with ETag/304
 * and their GIF timelapse, fresh samples from /generate, the checkpoint
 * download. The daemon's path
 * is argv[1]. */
#include "daemon_fixture.h"

#include "idx_fixture.h"

#include <gif_lib.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 23 /* samples at 5, 10, 15, 20 and the last step */

static const char png_magic[8] = {(char)0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Width and height from a PNG's IHDR. */
static void png_size(const reply *r, int *w, int *h)
{
    ck_assert_uint_ge(r->len, 24);
    ck_assert_int_eq(memcmp(r->body, png_magic, 8), 0);
    const unsigned char *p = (const unsigned char *)r->body + 16;
    *w = p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
    *h = p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7];
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* A reply body being read by giflib. */
typedef struct {
    const reply *r;
    size_t at;
} gif_src;

static int gif_input(GifFileType *gif, GifByteType *buf, int n)
{
    gif_src *s = gif->UserData;
    size_t k = s->r->len - s->at < (size_t)n ? s->r->len - s->at : (size_t)n;
    memcpy(buf, s->r->body + s->at, k);
    s->at += k;
    return (int)k;
}

/* Decodes a GIF reply, asserting it is one; DGifCloseFile() frees it. */
static GifFileType *slurp_gif(const reply *r)
{
    ck_assert_uint_ge(r->len, 6);
    ck_assert_int_eq(memcmp(r->body, "GIF89a", 6), 0);
    gif_src src = {r, 0};
    int gerr = 0;
    GifFileType *gif = DGifOpen(&src, gif_input, &gerr);
    ck_assert_msg(gif != NULL, "DGifOpen: %d", gerr);
    ck_assert_int_eq(DGifSlurp(gif), GIF_OK);
    gif->UserData = NULL;
    return gif;
}

/* Asserts that frame f of gif shows the grey PNG grid GET path byte for
 * byte (a grey GIF's palette index is the grey byte). */
static void assert_frame_is(const gand_daemon *d, GifFileType *gif, int f, const char *path)
{
    reply r = client_get(d, path);
    ck_assert_msg(r.status == 200, "GET %s: %ld", path, r.status);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    ck_assert(png_image_begin_read_from_memory(&img, r.body, r.len));
    ck_assert(img.format == PNG_FORMAT_GRAY);
    ck_assert_int_eq((int)img.width, gif->SWidth);
    ck_assert_int_eq((int)img.height, gif->SHeight);
    unsigned char *pix = malloc(PNG_IMAGE_SIZE(img));
    ck_assert(png_image_finish_read(&img, NULL, pix, 0, NULL));
    ck_assert_msg(memcmp(gif->SavedImages[f].RasterBits, pix, PNG_IMAGE_SIZE(img)) == 0,
                  "frame %d is not %s", f, path);
    free(pix);
    reply_free(&r);
}

/* Steps of series name in GET path, as "1,2,3". */
static void series_steps(const gand_daemon *d, const char *path, const char *name, char *out,
                         size_t n)
{
    reply r = client_get(d, path);
    ck_assert_msg(r.status == 200, "GET %.100s: %ld %.300s", path, r.status, r.body);
    const cJSON *s = cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "series"), name);
    out[0] = '\0';
    if (s) {
        const cJSON *steps = cJSON_GetObjectItem(s, "steps");
        ck_assert_int_eq(cJSON_GetArraySize(steps),
                         cJSON_GetArraySize(cJSON_GetObjectItem(s, "values")));
        for (const cJSON *v = steps->child; v; v = v->next)
            snprintf(out + strlen(out), n - strlen(out), "%s%d", v == steps->child ? "" : ",",
                     (int)v->valuedouble);
    }
    reply_free(&r);
}

START_TEST(test_metrics)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t id = submit_run(&d, STEPS, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    static const char *const names[] = {"loss_d", "loss_g", "d_real", "d_fake", NULL};
    assert_metric_steps(&d, id, STEPS, names);

    char steps[256];
    series_steps(&d, "/runs/1/metrics?after_step=20", "loss_d", steps, sizeof steps);
    ck_assert_str_eq(steps, "21,22,23");
    series_steps(&d, "/runs/1/metrics?limit=4", "loss_g", steps, sizeof steps);
    ck_assert_str_eq(steps, "1,2,3,4");
    series_steps(&d, "/runs/1/metrics?after_step=10&limit=3", "d_fake", steps, sizeof steps);
    ck_assert_str_eq(steps, "11,12,13");
    series_steps(&d, "/runs/1/metrics?after_step=0&limit=1", "d_real", steps, sizeof steps);
    ck_assert_str_eq(steps, "1");

    /* one series by name; none past the end */
    reply r = client_get(&d, "/runs/1/metrics?name=loss_g&after_step=21");
    ck_assert_int_eq(r.status, 200);
    const cJSON *series = cJSON_GetObjectItem(r.json, "series");
    ck_assert_int_eq(cJSON_GetArraySize(series), 1);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(series, "loss_g"));
    /* the values are the losses of a real GAN: positive and finite */
    const cJSON *vals = cJSON_GetObjectItem(cJSON_GetObjectItem(series, "loss_g"), "values");
    for (const cJSON *v = vals->child; v; v = v->next)
        ck_assert(v->valuedouble > 0 && v->valuedouble < 100);
    reply_free(&r);
    r = client_get(&d, "/runs/1/metrics?after_step=23");
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "series")), 0);
    reply_free(&r);

    static const char *const bad[] = {"/runs/1/metrics?after_step=-2", "/runs/1/metrics?limit=0",
                                      "/runs/1/metrics?limit=x", "/runs/1/metrics?after_step=1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = client_get(&d, bad[i]);
        assert_problem(&r, 400, "query parameter");
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(r.json, "field"));
        reply_free(&r);
    }
    r = client_get(&d, "/runs/2/metrics");
    assert_problem(&r, 404, "run 2");
    reply_free(&r);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_samples_etag)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t id = submit_run(&d, STEPS, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    reply r = client_get(&d, "/runs/1/samples");
    ck_assert_int_eq(r.status, 200);
    const cJSON *list = cJSON_GetObjectItem(r.json, "samples");
    static const int want[] = {5, 10, 15, 20, 23};
    ck_assert_int_eq(cJSON_GetArraySize(list), 5);
    for (int i = 0; i < 5; i++) {
        const cJSON *s = cJSON_GetArrayItem(list, i);
        char url[64];
        snprintf(url, sizeof url, "/runs/1/samples/%d.png", want[i]);
        ck_assert_int_eq((int)json_num(s, "step"), want[i]);
        ck_assert_str_eq(json_str(s, "url"), url);
    }
    reply_free(&r);

    char tag[128], cc[128], type[64], inm[160];
    r = client_get(&d, "/runs/1/samples/10.png");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(reply_header(&r, "Content-Type", type, sizeof type), "image/png");
    int w, h;
    png_size(&r, &w, &h);
    /* the DCGAN grid: 8 columns and 8 rows of 8x8 images with 2-pixel borders */
    ck_assert_int_eq(w, 8 * 10 + 2);
    ck_assert_int_eq(h, 8 * 10 + 2);
    reply_header(&r, "ETag", tag, sizeof tag);
    ck_assert_msg(tag[0] == '"' && tag[strlen(tag) - 1] == '"', "not a strong ETag: %s", tag);
    ck_assert_ptr_nonnull(strstr(reply_header(&r, "Cache-Control", cc, sizeof cc), "immutable"));
    /* the file the run wrote, byte for byte */
    char path[1300];
    size_t len;
    snprintf(path, sizeof path, "%s/runs/1/samples/step-0000010.png", d.state_dir);
    char *disk = read_file(path, &len);
    ck_assert_uint_eq(r.len, len);
    ck_assert_int_eq(memcmp(r.body, disk, len), 0);
    free(disk);
    reply_free(&r);

    snprintf(inm, sizeof inm, "If-None-Match: %s", tag);
    r = client_request(&d, "GET", "/runs/1/samples/10.png", NULL, (const char *const[]){inm, NULL});
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(r.len, 0);
    reply_free(&r);
    /* another step's grid has another tag */
    r = client_request(&d, "GET", "/runs/1/samples/15.png", NULL, (const char *const[]){inm, NULL});
    ck_assert_int_eq(r.status, 200);
    char tag15[128];
    ck_assert_str_ne(reply_header(&r, "ETag", tag15, sizeof tag15), tag);
    reply_free(&r);

    /* latest.png is the newest grid, revalidated each time */
    reply last = client_get(&d, "/runs/1/samples/23.png");
    r = client_get(&d, "/runs/1/samples/latest.png");
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, last.len);
    ck_assert_int_eq(memcmp(r.body, last.body, r.len), 0);
    ck_assert_ptr_null(strstr(reply_header(&r, "Cache-Control", cc, sizeof cc), "immutable"));
    ck_assert_str_eq(cc, "no-cache");
    snprintf(inm, sizeof inm, "If-None-Match: %s", reply_header(&r, "ETag", tag, sizeof tag));
    reply_free(&r);
    reply_free(&last);
    r = client_request(&d, "GET", "/runs/1/samples/latest.png", NULL,
                       (const char *const[]){inm, NULL});
    ck_assert_int_eq(r.status, 304);
    reply_free(&r);

    /* the timelapse: every grid, in step order, the size of one grid */
    r = client_get(&d, "/runs/1/samples.gif");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(reply_header(&r, "Content-Type", type, sizeof type), "image/gif");
    ck_assert_str_eq(reply_header(&r, "Cache-Control", cc, sizeof cc), "no-cache");
    GifFileType *gif = slurp_gif(&r);
    ck_assert_int_eq(gif->ImageCount, 5);
    ck_assert_int_eq(gif->SWidth, w);
    ck_assert_int_eq(gif->SHeight, h);
    for (int i = 0; i < 5; i++) {
        GraphicsControlBlock gcb;
        ck_assert_int_eq(DGifSavedExtensionToGCB(gif, i, &gcb), GIF_OK);
        ck_assert_int_eq(gcb.DelayTime, 20);
        snprintf(path, sizeof path, "/runs/1/samples/%d.png", want[i]);
        assert_frame_is(&d, gif, i, path);
    }
    int gerr;
    DGifCloseFile(gif, &gerr);
    reply_free(&r);
    r = client_get(&d, "/runs/9/samples.gif");
    assert_problem(&r, 404, NULL);
    reply_free(&r);
    r = client_get(&d, "/runs/1/samples/7.png");
    assert_problem(&r, 404, "step 7");
    reply_free(&r);
    r = client_get(&d, "/runs/9/samples/latest.png");
    assert_problem(&r, 404, NULL);
    reply_free(&r);
    r = client_get(&d, "/runs/9/samples");
    assert_problem(&r, 404, NULL);
    reply_free(&r);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_generate)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t id = submit_run(&d, 10, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    char cc[64], type[64];
    reply a = client_get(&d, "/runs/1/generate?n=5&seed=3");
    ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
    ck_assert_str_eq(reply_header(&a, "Content-Type", type, sizeof type), "image/png");
    ck_assert_str_eq(reply_header(&a, "Cache-Control", cc, sizeof cc), "no-store");
    int w, h;
    png_size(&a, &w, &h);
    ck_assert_int_eq(w, 5 * 10 + 2);
    ck_assert_int_eq(h, 12);
    reply b = client_get(&d, "/runs/1/generate?n=5&seed=3");
    ck_assert_uint_eq(a.len, b.len);
    ck_assert_int_eq(memcmp(a.body, b.body, a.len), 0);
    reply_free(&b);
    b = client_get(&d, "/runs/1/generate?n=5&seed=4");
    ck_assert_int_eq(b.status, 200);
    ck_assert(b.len != a.len || memcmp(a.body, b.body, a.len) != 0);
    reply_free(&b);
    reply_free(&a);
    a = client_get(&d, "/runs/1/generate?n=256");
    ck_assert_int_eq(a.status, 200);
    png_size(&a, &w, &h);
    ck_assert_int_eq(w, 8 * 10 + 2);
    ck_assert_int_eq(h, 32 * 10 + 2);
    reply_free(&a);

    static const char *const bad_n[] = {"n=257", "n=0", "n=-1", "n=abc", "seed=-5", "label=x"};
    for (size_t i = 0; i < sizeof bad_n / sizeof *bad_n; i++) {
        char path[64];
        snprintf(path, sizeof path, "/runs/1/generate?%s", bad_n[i]);
        a = client_get(&d, path);
        assert_problem(&a, 400, NULL);
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(a.json, "field"));
        reply_free(&a);
    }
    /* dcgan is not conditional */
    a = client_get(&d, "/runs/1/generate?n=4&label=1");
    assert_problem(&a, 400, "not conditional");
    ck_assert_str_eq(json_str(a.json, "field"), "label");
    reply_free(&a);

    /* a conditional model takes a label within its classes */
    int64_t cg = submit_model(&d, "cgan", 10, NULL);
    cJSON_Delete(wait_run(&d, cg, "succeeded", 60));
    a = client_get(&d, "/runs/2/generate?n=4&label=2&seed=1");
    ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
    b = client_get(&d, "/runs/2/generate?n=4&label=3&seed=1");
    ck_assert_int_eq(b.status, 200);
    ck_assert(b.len != a.len || memcmp(a.body, b.body, a.len) != 0);
    reply_free(&a);
    reply_free(&b);
    a = client_get(&d, "/runs/2/generate?n=4&label=4");
    assert_problem(&a, 400, NULL);
    ck_assert_str_eq(json_str(a.json, "field"), "label");
    reply_free(&a);

    a = client_get(&d, "/runs/7/generate");
    assert_problem(&a, 404, NULL);
    reply_free(&a);
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_checkpoint_download)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t id = submit_run(&d, STEPS, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    reply r = client_get(&d, "/runs/1/checkpoint");
    ck_assert_int_eq(r.status, 200);
    char type[64], disp[128];
    ck_assert_str_eq(reply_header(&r, "Content-Type", type, sizeof type),
                     "application/octet-stream");
    ck_assert_str_eq(reply_header(&r, "Content-Disposition", disp, sizeof disp),
                     "attachment; filename=\"run-1-step-0000023.ckpt\"");
    char path[1300];
    size_t len;
    snprintf(path, sizeof path, "%s/runs/1/checkpoints/step-0000023.ckpt", d.state_dir);
    char *disk = read_file(path, &len);
    ck_assert_uint_gt(len, 1000);
    ck_assert_uint_eq(r.len, len);
    ck_assert_int_eq(memcmp(r.body, disk, len), 0);
    free(disk);
    reply_free(&r);

    /* a run that has not started has neither checkpoint nor samples */
    int64_t busy = submit_run(&d, 1000000, NULL);
    int64_t waiting = submit_run(&d, 5, NULL);
    ck_assert_int_eq(waiting, 3);
    r = client_get(&d, "/runs/3/checkpoint");
    assert_problem(&r, 404, "no checkpoint yet");
    reply_free(&r);
    r = client_get(&d, "/runs/3/generate");
    assert_problem(&r, 409, "no checkpoint yet");
    reply_free(&r);
    r = client_get(&d, "/runs/3/samples/latest.png");
    assert_problem(&r, 404, NULL);
    reply_free(&r);
    r = client_get(&d, "/runs/3/samples.gif");
    assert_problem(&r, 404, "run 3 has no sample grids yet");
    reply_free(&r);
    r = client_get(&d, "/runs/3/samples");
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "samples")), 0);
    reply_free(&r);
    r = client_post(&d, "/runs/2/cancel", NULL);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, busy, "canceled", 30));
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_sample_retention)
{
    gand_daemon d;
    daemon_up(&d, (const char *const[]){"--sample-retention", "2", NULL});
    int64_t id = submit_run(&d, STEPS, NULL);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    /* only the grids kept on disk are listed, and each can be fetched */
    reply r = client_get(&d, "/runs/1/samples");
    ck_assert_int_eq(r.status, 200);
    const cJSON *list = cJSON_GetObjectItem(r.json, "samples");
    ck_assert_int_eq(cJSON_GetArraySize(list), 2);
    ck_assert_int_eq((int)json_num(cJSON_GetArrayItem(list, 0), "step"), 20);
    ck_assert_int_eq((int)json_num(cJSON_GetArrayItem(list, 1), "step"), 23);
    for (const cJSON *s = list->child; s; s = s->next) {
        reply img = client_get(&d, json_str(s, "url"));
        ck_assert_int_eq(img.status, 200);
        reply_free(&img);
    }
    reply_free(&r);
    /* the deleted grids' rows are gone too: pages count only grids kept */
    r = client_get(&d, "/runs/1/samples?limit=1");
    ck_assert_int_eq(r.status, 200);
    list = cJSON_GetObjectItem(r.json, "samples");
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    ck_assert_int_eq((int)json_num(cJSON_GetArrayItem(list, 0), "step"), 20);
    reply_free(&r);
    r = client_get(&d, "/runs/1/samples/5.png");
    assert_problem(&r, 404, "run 1 has no sample at step 5");
    reply_free(&r);
    r = client_get(&d, "/runs/1/samples/latest.png");
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    daemon_cleanup(&d);
}
END_TEST

/* The checkpoint download and /generate while the run writes (and prunes)
 * a checkpoint at every step: each request gets the newest file whole. */
START_TEST(test_downloads_while_training)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    /* a dataset that takes /generate a while to load */
    fixture_write_blocks(d.data_dir, 20000, 8, 4, 11);
    int64_t id = submit_run(&d, 400, "\"checkpoint_every\":1,\"sample_every\":100");
    for (double t0 = now_s();; ) {
        cJSON *run = get_run(&d, id);
        bool has = cJSON_IsNumber(cJSON_GetObjectItem(run, "checkpoint_step"));
        cJSON_Delete(run);
        if (has)
            break;
        ck_assert(now_s() - t0 < 60);
    }
    int downloads = 0;
    for (;;) {
        cJSON *run = get_run(&d, id);
        bool running = strcmp(json_str(run, "status"), "running") == 0;
        cJSON_Delete(run);
        if (!running)
            break;
        reply r = client_get(&d, "/runs/1/checkpoint");
        ck_assert_msg(r.status == 200, "download %d: %ld %s", downloads, r.status, r.body);
        ck_assert_uint_gt(r.len, 1000);
        reply_free(&r);
        r = client_get(&d, "/runs/1/generate?n=1");
        ck_assert_msg(r.status == 200, "generate %d: %ld %s", downloads, r.status, r.body);
        reply_free(&r);
        downloads++;
    }
    ck_assert_int_gt(downloads, 3);
    cJSON_Delete(wait_run(&d, id, "succeeded", 60));
    daemon_cleanup(&d);
}
END_TEST

/* A run with more grids than the timelapse holds: 60 frames evenly
 * spaced, the first and the last grid included. */
START_TEST(test_samples_gif_cap)
{
    gand_daemon d;
    daemon_up(&d, NULL);
    int64_t id = submit_run(&d, 70, "\"sample_every\":1");
    cJSON_Delete(wait_run(&d, id, "succeeded", 90));
    reply r = client_get(&d, "/runs/1/samples.gif");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    GifFileType *gif = slurp_gif(&r);
    ck_assert_int_eq(gif->ImageCount, 60);
    ck_assert_int_eq(gif->SWidth, 8 * 10 + 2);
    ck_assert_int_eq(gif->SHeight, 8 * 10 + 2);
    /* frame i shows step 1 + i * 69 / 59 */
    assert_frame_is(&d, gif, 0, "/runs/1/samples/1.png");
    assert_frame_is(&d, gif, 1, "/runs/1/samples/2.png");
    assert_frame_is(&d, gif, 30, "/runs/1/samples/36.png");
    assert_frame_is(&d, gif, 58, "/runs/1/samples/68.png");
    assert_frame_is(&d, gif, 59, "/runs/1/samples/70.png");
    int gerr;
    DGifCloseFile(gif, &gerr);
    reply_free(&r);
    daemon_cleanup(&d);
}
END_TEST

static Suite *api_data_suite(void)
{
    Suite *s = suite_create("api_data");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_samples_etag);
    tcase_add_test(tc, test_samples_gif_cap);
    tcase_add_test(tc, test_generate);
    tcase_add_test(tc, test_checkpoint_download);
    tcase_add_test(tc, test_sample_retention);
    tcase_add_test(tc, test_downloads_while_training);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, api_data_suite()); }
