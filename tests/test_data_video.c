/* Synthetic video clips: determinism, layout, values and motion. */
#include "gand/alloc.h"
#include "gand/data.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define ERRLEN 256

static data_set *synth(int count, int frames, int size, uint64_t seed)
{
    char err[ERRLEN];
    data_set *ds = NULL;
    ck_assert_msg(data_video_synth(count, frames, size, seed, &ds, err, ERRLEN) == GAND_OK, "%s",
                  err);
    return ds;
}

/* All samples as floats, (count, frames, size, size); free() it. */
static float *all(const data_set *ds)
{
    int n = data_count(ds);
    size_t per = nn_shape_size(data_shape(ds));
    float *x = malloc((size_t)n * per * sizeof *x);
    int *idx = malloc((size_t)n * sizeof *idx);
    for (int i = 0; i < n; i++)
        idx[i] = i;
    data_batch(ds, idx, n, x, NULL);
    free(idx);
    return x;
}

/* Top-left corner of the square in frame f (size x size floats), checking
 * that the frame holds exactly one side x side square of 1 on -1. */
static void corner(const float *f, int size, int *cx, int *cy)
{
    int side = DATA_VIDEO_SQUARE(size), bright = 0;
    *cx = *cy = -1;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            float v = f[y * size + x];
            ck_assert_msg(v == 1.0f || v == -1.0f, "value %g", v);
            if (v == 1.0f) {
                if (*cx < 0) {
                    *cx = x;
                    *cy = y;
                }
                bright++;
                ck_assert(x >= *cx && x < *cx + side && y >= *cy && y < *cy + side);
            }
        }
    ck_assert_int_eq(bright, side * side);
}

START_TEST(test_layout_and_determinism)
{
    data_set *a = synth(6, 8, 16, 42), *b = synth(6, 8, 16, 42), *c = synth(6, 8, 16, 43);
    nn_shape s = data_shape(a);
    ck_assert_int_eq(data_count(a), 6);
    ck_assert_int_eq(s.c, 8);
    ck_assert_int_eq(s.h, 16);
    ck_assert_int_eq(s.w, 16);
    ck_assert(!data_has_labels(a));
    ck_assert_int_eq(data_label(a, 0), -1);
    float *xa = all(a), *xb = all(b), *xc = all(c);
    size_t bytes = 6 * nn_shape_size(s) * sizeof(float);
    ck_assert(memcmp(xa, xb, bytes) == 0);
    ck_assert(memcmp(xa, xc, bytes) != 0);
    free(xa);
    free(xb);
    free(xc);
    data_free(a);
    data_free(b);
    data_free(c);
}
END_TEST

START_TEST(test_square_moves_and_bounces)
{
    /* size 16: one pixel per frame on each axis, so every step moves the
     * square diagonally by exactly one, and 40 frames must bounce. */
    int size = 16, frames = 40, limit = size - DATA_VIDEO_SQUARE(size);
    data_set *ds = synth(5, frames, size, 7);
    float *x = all(ds);
    for (int i = 0; i < 5; i++) {
        int px = 0, py = 0, turns = 0, pdx = 0;
        for (int t = 0; t < frames; t++) {
            int cx, cy;
            corner(x + ((size_t)i * frames + t) * size * size, size, &cx, &cy);
            ck_assert(cx >= 0 && cx <= limit && cy >= 0 && cy <= limit);
            if (t > 0) {
                ck_assert_int_eq(abs(cx - px), 1);
                ck_assert_int_eq(abs(cy - py), 1);
                if (t > 1 && cx - px != pdx)
                    turns++;
                pdx = cx - px;
            }
            px = cx;
            py = cy;
        }
        ck_assert_int_ge(turns, 2); /* 39 steps across 12 positions */
    }
    free(x);
    data_free(ds);

    /* size 32: speeds up to 2 pixels per frame */
    size = 32;
    ds = synth(20, 6, size, 9);
    x = all(ds);
    int moved = 0;
    for (int i = 0; i < 20; i++) {
        int px, py, cx, cy;
        corner(x + (size_t)i * 6 * size * size, size, &px, &py);
        for (int t = 1; t < 6; t++) {
            corner(x + ((size_t)i * 6 + t) * size * size, size, &cx, &cy);
            ck_assert_int_le(abs(cx - px), 2);
            ck_assert_int_le(abs(cy - py), 2);
            moved += cx != px || cy != py;
            px = cx;
            py = cy;
        }
    }
    ck_assert_int_ge(moved, 90); /* of 100 steps; only a bounce can keep it still */
    free(x);
    data_free(ds);
}
END_TEST

START_TEST(test_errors_and_out_of_memory)
{
    char err[ERRLEN];
    data_set *ds = (data_set *)1;
    ck_assert_int_eq(data_video_synth(0, 8, 16, 1, &ds, err, ERRLEN), GAND_EINVAL);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(err, "clip count 0 is out of range; give 1..1000000"), "%s", err);
    ck_assert_int_eq(data_video_synth(1, 0, 16, 1, &ds, err, ERRLEN), GAND_EINVAL);
    ck_assert_msg(strstr(err, "frame count 0"), "%s", err);
    ck_assert_int_eq(data_video_synth(1, 8, 3, 1, &ds, err, ERRLEN), GAND_EINVAL);
    ck_assert_msg(strstr(err, "frame size 3 is out of range; give 4..256"), "%s", err);
    ck_assert_int_eq(data_video_synth(1000000, 256, 256, 1, &ds, err, ERRLEN), GAND_EINVAL);
    ck_assert_msg(strstr(err, "more than"), "%s", err);
    for (long k = 1; k <= 2; k++) {
        gand_alloc_fail_at(k, false);
        ck_assert_int_eq(data_video_synth(3, 4, 8, 1, &ds, err, ERRLEN), GAND_ENOMEM);
        gand_alloc_fail_at(0, false);
        ck_assert_ptr_null(ds);
        ck_assert_msg(strstr(err, "out of memory"), "%s", err);
    }
    ds = synth(3, 4, 8, 1);
    data_free(ds);
}
END_TEST

static Suite *data_video_suite(void)
{
    Suite *s = suite_create("data_video");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_layout_and_determinism);
    tcase_add_test(tc, test_square_moves_and_bounces);
    tcase_add_test(tc, test_errors_and_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(data_video_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
