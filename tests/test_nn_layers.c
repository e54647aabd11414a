/* Dropout, upsampling, pixel shuffle, PReLU and the conditioning helpers.
 * Residual blocks and spectral normalisation: test_nn_layers_composite.c. */
#include "gradcheck.h"

#include "gand/nn.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- dropout ---- */

START_TEST(test_dropout_statistics_and_eval_identity)
{
    enum { F = 1000, N = 4 };
    nn_net *net = nn_net_create((nn_shape){F, 1, 1});
    nn_net_add(net, nn_dropout(0.3f));
    gradcheck_finalized(net, N);
    float *x = malloc(N * F * sizeof *x), *dy = malloc(N * F * sizeof *dy);
    gradcheck_fill(x, N * F, 0.5f, 1.5f, 1);
    gradcheck_fill(dy, N * F, -1.0f, 1.0f, 2);
    gand_rng rng;
    gand_rng_seed(&rng, 3);
    const float *y = nn_net_forward(net, x, N, true, &rng);
    int zeros = 0;
    for (int i = 0; i < N * F; i++) {
        if (y[i] == 0.0f)
            zeros++;
        else
            ck_assert_float_eq_tol(y[i], x[i] / 0.7f, 1e-6f);
    }
    /* binomial(4000, 0.3): sd of the fraction 0.0072 */
    ck_assert_double_lt(fabs(zeros / (double)(N * F) - 0.3), 0.03);
    const float *dx = nn_net_backward(net, dy, true);
    for (int i = 0; i < N * F; i++)
        ck_assert_float_eq_tol(dx[i], y[i] == 0.0f ? 0.0f : dy[i] / 0.7f, 1e-6f);

    /* the same seed draws the same mask */
    float *first = malloc(N * F * sizeof *first);
    memcpy(first, y, N * F * sizeof *first);
    gand_rng_seed(&rng, 3);
    y = nn_net_forward(net, x, N, true, &rng);
    ck_assert_int_eq(memcmp(first, y, N * F * sizeof *first), 0);

    y = nn_net_forward(net, x, N, false, NULL);
    ck_assert_int_eq(memcmp(x, y, N * F * sizeof *x), 0);
    dx = nn_net_backward(net, dy, true);
    ck_assert_int_eq(memcmp(dx, dy, N * F * sizeof *dy), 0);
    free(first);
    free(x);
    free(dy);
    nn_net_free(net);
}
END_TEST

START_TEST(test_dropout_bad_probability)
{
    const float bad[3] = {1.0f, -0.1f, NAN};
    for (int i = 0; i < 3; i++) {
        nn_net *net = nn_net_create((nn_shape){4, 1, 1});
        nn_net_add(net, nn_dropout(bad[i]));
        char err[256];
        ck_assert_int_eq(nn_net_finalize(net, 2, err, sizeof err), GAND_EINVAL);
        ck_assert_msg(strstr(err, "dropout probability") && strstr(err, "below 1"), "%s", err);
        nn_net_free(net);
    }
}
END_TEST

START_TEST(test_dropout_gradcheck)
{
    nn_net *net = nn_net_create((nn_shape){5, 1, 1});
    nn_net_add(net, nn_linear(8, true));
    nn_net_add(net, nn_dropout(0.5f));
    gradcheck_finalized(net, 3);
    gradcheck_init(net, 4);
    /* the harness reseeds the forward's rng, so every evaluation drops the
     * same values; make sure some are dropped */
    float x[15];
    gradcheck_fill(x, 15, -1, 1, 5);
    gand_rng rng;
    gand_rng_seed(&rng, 99);
    const float *y = nn_net_forward(net, x, 3, true, &rng);
    int zeros = 0;
    for (int i = 0; i < 24; i++)
        zeros += y[i] == 0.0f;
    ck_assert_int_gt(zeros, 3);
    gradcheck_assert_net(net, 3, true, -1, 1, 5);
    nn_net_free(net);
}
END_TEST

/* ---- upsampling and pixel shuffle ---- */

START_TEST(test_upsample_values)
{
    nn_net *net = nn_net_create((nn_shape){2, 2, 2});
    nn_net_add(net, nn_upsample_nearest(2));
    gradcheck_finalized(net, 1);
    nn_shape s = nn_net_out_shape(net);
    ck_assert(s.c == 2 && s.h == 4 && s.w == 4);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float *y = nn_net_forward(net, x, 1, false, NULL);
    const float want[32] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4,
                            5, 5, 6, 6, 5, 5, 6, 6, 7, 7, 8, 8, 7, 7, 8, 8};
    for (int i = 0; i < 32; i++)
        ck_assert_float_eq(y[i], want[i]);
    float dy[32];
    for (int i = 0; i < 32; i++)
        dy[i] = (float)i;
    const float *dx = nn_net_backward(net, dy, true);
    /* dx[0] sums dy at (0,0), (0,1), (1,0), (1,1) = 0 + 1 + 4 + 5 */
    const float wdx[8] = {10, 18, 42, 50, 74, 82, 106, 114};
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(dx[i], wdx[i]);
    nn_net_free(net);
}
END_TEST

START_TEST(test_pixel_shuffle_matches_pytorch_order)
{
    /* x (8, 1, 2), x[k, 0, w] = 10 k + w, factor 2: PyTorch gives
     * y[c, a, 2 w + b] = x[4 c + 2 a + b, 0, w] */
    nn_net *net = nn_net_create((nn_shape){8, 1, 2});
    nn_net_add(net, nn_pixel_shuffle(2));
    gradcheck_finalized(net, 2);
    nn_shape s = nn_net_out_shape(net);
    ck_assert(s.c == 2 && s.h == 2 && s.w == 4);
    float x[32];
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 8; k++)
            for (int w = 0; w < 2; w++)
                x[n * 16 + k * 2 + w] = (float)(1000 * n + 10 * k + w);
    const float *y = nn_net_forward(net, x, 2, false, NULL);
    const float want[16] = {0, 10, 1, 11, 20, 30, 21, 31, 40, 50, 41, 51, 60, 70, 61, 71};
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 16; i++)
            ck_assert_float_eq(y[n * 16 + i], want[i] + 1000 * n);
    /* backward is the inverse permutation */
    const float *dx = nn_net_backward(net, y, true);
    ck_assert_int_eq(memcmp(dx, x, sizeof x), 0);
    nn_net_free(net);

    net = nn_net_create((nn_shape){6, 2, 2});
    nn_net_add(net, nn_pixel_shuffle(2));
    char err[256];
    ck_assert_int_eq(nn_net_finalize(net, 1, err, sizeof err), GAND_EINVAL);
    ck_assert_msg(strstr(err, "divisible by 4, got 6"), "%s", err);
    nn_net_free(net);
}
END_TEST

START_TEST(test_shape_layer_gradchecks)
{
    nn_net *net = nn_net_create((nn_shape){2, 2, 3});
    nn_net_add(net, nn_upsample_nearest(3));
    nn_net_add(net, nn_conv2d(2, 3, 2, 1, true));
    gradcheck_finalized(net, 2);
    gradcheck_init(net, 6);
    gradcheck_assert_net(net, 2, true, -1, 1, 7);
    nn_net_free(net);

    net = nn_net_create((nn_shape){8, 2, 3});
    nn_net_add(net, nn_pixel_shuffle(2));
    nn_net_add(net, nn_conv2d(3, 3, 1, 1, true));
    gradcheck_finalized(net, 2);
    gradcheck_init(net, 8);
    gradcheck_assert_net(net, 2, true, -1, 1, 9);
    nn_net_free(net);
}
END_TEST

/* ---- PReLU ---- */

START_TEST(test_prelu_values_init_and_gradcheck)
{
    nn_net *net = nn_net_create((nn_shape){2, 1, 2});
    nn_net_add(net, nn_prelu());
    gradcheck_finalized(net, 1);
    gand_rng rng;
    gand_rng_seed(&rng, 1);
    nn_net_init(net, &rng, NN_INIT_DCGAN);
    nn_param *a = nn_net_param(net, 0);
    ck_assert_str_eq(a->name, "weight");
    ck_assert_int_eq((int)a->count, 2);
    ck_assert(a->w[0] == 0.25f && a->w[1] == 0.25f);
    a->w[0] = 0.5f;
    a->w[1] = 0.1f;
    float x[4] = {-4, 2, -1, 3};
    const float *y = nn_net_forward(net, x, 1, true, NULL);
    ck_assert_float_eq(y[0], -2.0f);
    ck_assert_float_eq(y[1], 2.0f);
    ck_assert_float_eq_tol(y[2], -0.1f, 1e-7f);
    ck_assert_float_eq(y[3], 3.0f);
    float dy[4] = {1, 1, 2, 2};
    nn_net_zero_grad(net);
    const float *dx = nn_net_backward(net, dy, true);
    ck_assert_float_eq(dx[0], 0.5f);
    ck_assert_float_eq(dx[1], 1.0f);
    ck_assert_float_eq_tol(dx[2], 0.2f, 1e-7f);
    ck_assert_float_eq(a->g[0], -4.0f); /* dy x over the negative inputs */
    ck_assert_float_eq(a->g[1], -2.0f);
    nn_net_free(net);

    net = nn_net_create((nn_shape){3, 2, 2});
    nn_net_add(net, nn_prelu());
    gradcheck_finalized(net, 2);
    gradcheck_init(net, 2);
    a = nn_net_param(net, 0);
    a->w[1] = -0.3f;
    a->w[2] = 1.5f;
    float xs[24];
    gradcheck_fill(xs, 24, -1, 1, 3);
    for (int i = 0; i < 24; i++) /* stay clear of the kink */
        if (fabsf(xs[i]) < 0.05f)
            xs[i] = xs[i] < 0 ? -0.05f : 0.05f;
    gradcheck_result r = gradcheck_net(net, xs, 2, true, 0, 0, GRADCHECK_H, GRADCHECK_ATOL,
                                       GRADCHECK_RTOL);
    ASSERT_GRADS_OK(r);
    nn_net_free(net);
}
END_TEST

/* ---- conditioning helpers ---- */

START_TEST(test_concat_helpers)
{
    const float a[4] = {1, 2, 3, 4}, b[2] = {9, 8}; /* a (2, 2), b (2, 1) */
    float out[6], da[4], db[2];
    nn_concat_vec(a, 2, b, 1, out, 2);
    const float want[6] = {1, 2, 9, 3, 4, 8};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(out[i], want[i]);
    const float dout[6] = {10, 20, 30, 40, 50, 60};
    nn_concat_vec_backward(dout, 2, 1, da, db, 2);
    ck_assert(da[0] == 10 && da[1] == 20 && da[2] == 40 && da[3] == 50);
    ck_assert(db[0] == 30 && db[1] == 60);
    nn_concat_vec_backward(dout, 2, 1, NULL, db, 2);

    /* x (2, 1, 2, 2), cond (2, 2) -> (2, 3, 2, 2) */
    const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, cond[4] = {0.5f, -1, 2, 3};
    float o[24];
    nn_concat_channels(x, (nn_shape){1, 2, 2}, cond, 2, o, 2);
    const float wo[24] = {1, 2, 3, 4, 0.5f, 0.5f, 0.5f, 0.5f, -1, -1, -1, -1,
                          5, 6, 7, 8, 2,    2,    2,    2,    3,  3,  3,  3};
    for (int i = 0; i < 24; i++)
        ck_assert_float_eq(o[i], wo[i]);
    float d[24], dx[8], dc[4];
    for (int i = 0; i < 24; i++)
        d[i] = (float)i;
    nn_concat_channels_backward(d, (nn_shape){1, 2, 2}, 2, dx, dc, 2);
    const float wdx[8] = {0, 1, 2, 3, 12, 13, 14, 15};
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(dx[i], wdx[i]);
    /* channel sums: 4+5+6+7, 8+..+11, 16+..+19, 20+..+23 */
    ck_assert(dc[0] == 22 && dc[1] == 38 && dc[2] == 70 && dc[3] == 86);
    nn_concat_channels_backward(d, (nn_shape){1, 2, 2}, 2, NULL, dc, 2);
    ck_assert_float_eq(dc[3], 86);

    const int labels[3] = {2, 0, 1};
    float oh[9];
    memset(oh, 0x7f, sizeof oh);
    nn_one_hot(labels, 3, oh, 3);
    const float woh[9] = {0, 0, 1, 1, 0, 0, 0, 1, 0};
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(oh[i], woh[i]);
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *s = suite_create("nn_layers");
    TCase *tc = tcase_create("layers");
    tcase_add_test(tc, test_dropout_statistics_and_eval_identity);
    tcase_add_test(tc, test_dropout_bad_probability);
    tcase_add_test(tc, test_dropout_gradcheck);
    tcase_add_test(tc, test_upsample_values);
    tcase_add_test(tc, test_pixel_shuffle_matches_pytorch_order);
    tcase_add_test(tc, test_shape_layer_gradchecks);
    tcase_add_test(tc, test_prelu_values_init_and_gradcheck);
    tcase_add_test(tc, test_concat_helpers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(layers_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
