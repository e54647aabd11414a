/* Convolution and transposed convolution: values against direct loops,
 * finite-difference gradients, shape errors, out-of-memory paths. */
#include "gradcheck.h"

#include "gand/alloc.h"
#include "gand/nn.h"
#include "gand/rng.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int ic, oc, h, w, k, s, p, n;
    bool bias;
} conv_case;

/* Strides 1, 2, 3; padding 0, 1, 2; kernels 1, 3, 4; square and not;
 * batch 1 (its own code path) and more. */
static const conv_case cases[] = {
    {2, 3, 5, 5, 3, 1, 1, 2, true}, {3, 2, 6, 5, 4, 2, 1, 3, true}, {2, 2, 7, 7, 1, 1, 0, 2, false},
    {1, 4, 5, 6, 3, 2, 2, 2, true}, {3, 2, 4, 4, 4, 1, 0, 1, true}, {2, 3, 8, 7, 3, 3, 0, 2, false},
    {2, 2, 3, 3, 3, 1, 2, 2, true}, {4, 3, 7, 7, 4, 2, 1, 4, true}, {2, 3, 4, 6, 4, 2, 2, 1, false},
    {2, 2, 6, 5, 2, 2, 0, 2, true},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static float *random_floats(size_t n, unsigned long seed)
{
    float *a = malloc(n * sizeof *a);
    gradcheck_fill(a, n, -1.0f, 1.0f, seed);
    return a;
}

/* Direct Conv2d: x (n, ic, h, w), w (oc, ic, k, k), y (n, oc, oh, ow) */
static void ref_conv(const conv_case *c, const float *x, const float *w, const float *b, float *y,
                     int oh, int ow)
{
    for (int i = 0; i < c->n; i++)
        for (int o = 0; o < c->oc; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = b ? b[o] : 0.0;
                    for (int ci = 0; ci < c->ic; ci++)
                        for (int ki = 0; ki < c->k; ki++)
                            for (int kj = 0; kj < c->k; kj++) {
                                int iy = oy * c->s + ki - c->p, ix = ox * c->s + kj - c->p;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
                                    continue;
                                acc += (double)w[((o * c->ic + ci) * c->k + ki) * c->k + kj] *
                                       x[((i * c->ic + ci) * c->h + iy) * c->w + ix];
                            }
                    y[((i * c->oc + o) * oh + oy) * ow + ox] = (float)acc;
                }
}

/* Direct ConvTranspose2d, by scattering each input value:
 * x (n, ic, h, w), w (ic, oc, k, k), y (n, oc, oh, ow) */
static void ref_conv_transpose(const conv_case *c, const float *x, const float *w, const float *b,
                               float *y, int oh, int ow)
{
    double *acc = calloc((size_t)c->n * c->oc * oh * ow, sizeof *acc);
    for (int i = 0; i < c->n; i++)
        for (int ci = 0; ci < c->ic; ci++)
            for (int iy = 0; iy < c->h; iy++)
                for (int ix = 0; ix < c->w; ix++)
                    for (int o = 0; o < c->oc; o++)
                        for (int ki = 0; ki < c->k; ki++)
                            for (int kj = 0; kj < c->k; kj++) {
                                int oy = iy * c->s + ki - c->p, ox = ix * c->s + kj - c->p;
                                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow)
                                    continue;
                                acc[((i * c->oc + o) * oh + oy) * ow + ox] +=
                                    (double)x[((i * c->ic + ci) * c->h + iy) * c->w + ix] *
                                    w[((ci * c->oc + o) * c->k + ki) * c->k + kj];
                            }
    for (int i = 0; i < c->n; i++)
        for (int o = 0; o < c->oc; o++)
            for (int j = 0; j < oh * ow; j++) {
                size_t at = (size_t)(i * c->oc + o) * oh * ow + j;
                y[at] = (float)(acc[at] + (b ? b[o] : 0.0));
            }
    free(acc);
}

/* Runs case c through the layer (finalized for a larger batch than used, so
 * scratch offsets for a smaller n are exercised) and compares with ref. */
static void check_forward(const conv_case *c, bool transpose)
{
    nn_net *net = nn_net_create((nn_shape){c->ic, c->h, c->w});
    nn_net_add(net, transpose ? nn_conv_transpose2d(c->oc, c->k, c->s, c->p, c->bias)
                              : nn_conv2d(c->oc, c->k, c->s, c->p, c->bias));
    gradcheck_finalized(net, c->n + 2);
    nn_shape out = nn_net_out_shape(net);
    int oh = transpose ? (c->h - 1) * c->s - 2 * c->p + c->k : (c->h + 2 * c->p - c->k) / c->s + 1;
    int ow = transpose ? (c->w - 1) * c->s - 2 * c->p + c->k : (c->w + 2 * c->p - c->k) / c->s + 1;
    ck_assert_int_eq(out.c, c->oc);
    ck_assert_int_eq(out.h, oh);
    ck_assert_int_eq(out.w, ow);

    nn_param *w = nn_net_param(net, 0);
    ck_assert_int_eq(w->dims[0], transpose ? c->ic : c->oc);
    ck_assert_int_eq(w->dims[1], transpose ? c->oc : c->ic);
    gradcheck_fill(w->w, w->count, -1.0f, 1.0f, 11);
    const float *b = NULL;
    if (c->bias) {
        nn_param *bp = nn_net_param(net, 1);
        ck_assert_str_eq(bp->name, "bias");
        gradcheck_fill(bp->w, bp->count, -1.0f, 1.0f, 12);
        b = bp->w;
    }
    size_t nx = (size_t)c->n * c->ic * c->h * c->w, ny = (size_t)c->n * c->oc * oh * ow;
    float *x = random_floats(nx, 13);
    float *want = malloc(ny * sizeof *want);
    if (transpose)
        ref_conv_transpose(c, x, w->w, b, want, oh, ow);
    else
        ref_conv(c, x, w->w, b, want, oh, ow);
    const float *y = nn_net_forward(net, x, c->n, true, NULL);
    for (size_t i = 0; i < ny; i++)
        ck_assert_msg(fabsf(y[i] - want[i]) <= 1e-5f * (1.0f + fabsf(want[i])),
                      "%s case (ic %d oc %d %dx%d k%d s%d p%d n%d) y[%zu] = %g, want %g",
                      transpose ? "conv_transpose2d" : "conv2d", c->ic, c->oc, c->h, c->w, c->k,
                      c->s, c->p, c->n, i, y[i], want[i]);
    free(x);
    free(want);
    nn_net_free(net);
}

START_TEST(test_conv2d_matches_direct_loops)
{
    for (int i = 0; i < NCASES; i++)
        check_forward(&cases[i], false);
}
END_TEST

START_TEST(test_conv_transpose2d_matches_direct_loops)
{
    for (int i = 0; i < NCASES; i++)
        check_forward(&cases[i], true);
}
END_TEST

START_TEST(test_conv_transpose_known_values)
{
    /* One 2x2 input, one channel, kernel 2 of ones, stride 2: each input
     * value becomes a 2x2 block of itself, plus the bias. */
    nn_net *net = nn_net_create((nn_shape){1, 2, 2});
    nn_net_add(net, nn_conv_transpose2d(1, 2, 2, 0, true));
    gradcheck_finalized(net, 1);
    for (int i = 0; i < 4; i++)
        nn_net_param(net, 0)->w[i] = 1.0f;
    nn_net_param(net, 1)->w[0] = 0.5f;
    float x[4] = {1, 2, 3, 4};
    const float *y = nn_net_forward(net, x, 1, false, NULL);
    const float want[16] = {1.5f, 1.5f, 2.5f, 2.5f, 1.5f, 1.5f, 2.5f, 2.5f,
                            3.5f, 3.5f, 4.5f, 4.5f, 3.5f, 3.5f, 4.5f, 4.5f};
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(y[i], want[i]);
    nn_net_free(net);
}
END_TEST

static void check_grads(const conv_case *c, bool transpose)
{
    gand_rng rng;
    gand_rng_seed(&rng, 21);
    nn_net *net = nn_net_create((nn_shape){c->ic, c->h, c->w});
    nn_net_add(net, transpose ? nn_conv_transpose2d(c->oc, c->k, c->s, c->p, c->bias)
                              : nn_conv2d(c->oc, c->k, c->s, c->p, c->bias));
    gradcheck_finalized(net, c->n);
    nn_net_init(net, &rng, NN_INIT_DEFAULT);
    size_t nx = (size_t)c->n * c->ic * c->h * c->w;
    float *x = random_floats(nx, 22);
    gradcheck_result r =
        gradcheck_net(net, x, c->n, true, 0, 0, GRADCHECK_H, GRADCHECK_ATOL, GRADCHECK_RTOL);
    ck_assert_msg(r.failures == 0, "%s case (ic %d oc %d %dx%d k%d s%d p%d n%d): %d wrong, %s",
                  transpose ? "conv_transpose2d" : "conv2d", c->ic, c->oc, c->h, c->w, c->k, c->s,
                  c->p, c->n, r.failures, r.first_failure);
    size_t np = nn_net_num_params(net);
    ck_assert_int_eq(r.checked, (int)(nx + np));
    free(x);
    nn_net_free(net);
}

START_TEST(test_conv2d_gradcheck)
{
    for (int i = 0; i < NCASES; i++)
        check_grads(&cases[i], false);
}
END_TEST

START_TEST(test_conv_transpose2d_gradcheck)
{
    for (int i = 0; i < NCASES; i++)
        check_grads(&cases[i], true);
}
END_TEST

START_TEST(test_stacked_convs_gradcheck)
{
    /* A small DCGAN-shaped pair: the first layer's skipped input gradient
     * and the second's col2im into the first's output both matter here. */
    gand_rng rng;
    gand_rng_seed(&rng, 31);
    nn_net *net = nn_net_create((nn_shape){2, 3, 3});
    nn_net_add(net, nn_conv_transpose2d(3, 4, 2, 1, false));
    nn_net_add(net, nn_tanh());
    nn_net_add(net, nn_conv2d(2, 4, 2, 1, true));
    nn_net_add(net, nn_flatten());
    nn_net_add(net, nn_linear(1, true));
    gradcheck_finalized(net, 3);
    nn_net_init(net, &rng, NN_INIT_DEFAULT);
    ck_assert_int_eq(nn_net_layer_out_shape(net, 0).h, 6);
    ck_assert_int_eq(nn_net_layer_out_shape(net, 2).h, 3);
    float *x = random_floats(3 * 18, 32);
    gradcheck_result r =
        gradcheck_net(net, x, 3, true, 0, 0, GRADCHECK_H, GRADCHECK_ATOL, GRADCHECK_RTOL);
    ASSERT_GRADS_OK(r);

    /* Without the input gradient, parameter gradients are unchanged. */
    float dy[3] = {1.0f, -0.5f, 2.0f};
    size_t np = nn_net_num_params(net);
    float *with_dx = malloc(np * sizeof *with_dx);
    nn_net_zero_grad(net);
    nn_net_forward(net, x, 3, true, NULL);
    ck_assert_ptr_nonnull(nn_net_backward(net, dy, true));
    memcpy(with_dx, nn_net_grads(net), np * sizeof(float));
    nn_net_zero_grad(net);
    nn_net_forward(net, x, 3, true, NULL);
    ck_assert_ptr_null(nn_net_backward(net, dy, false));
    for (size_t i = 0; i < np; i++)
        ck_assert_float_eq(nn_net_grads(net)[i], with_dx[i]);

    /* The backward overwrites the forward's columns with its own; a second
     * backward after the same forward must rebuild them: same input
     * gradient, parameter gradients added once more. */
    float dx1[54];
    nn_net_zero_grad(net);
    nn_net_forward(net, x, 3, true, NULL);
    memcpy(dx1, nn_net_backward(net, dy, true), sizeof dx1);
    const float *dx2 = nn_net_backward(net, dy, true);
    for (int i = 0; i < 54; i++)
        ck_assert_float_eq(dx2[i], dx1[i]);
    for (size_t i = 0; i < np; i++)
        ck_assert_float_eq_tol(nn_net_grads(net)[i], 2 * with_dx[i], 1e-5f);
    free(with_dx);
    free(x);
    nn_net_free(net);
}
END_TEST

static void expect_error(nn_shape in, nn_layer *layer, const char *kind, const char *what)
{
    char err[256] = "";
    nn_net *net = nn_net_create(in);
    nn_net_add(net, layer);
    ck_assert_int_eq(nn_net_finalize(net, 2, err, sizeof err), GAND_EINVAL);
    ck_assert_msg(strstr(err, kind) && strstr(err, what), "message was: %s", err);
    nn_net_free(net);
}

START_TEST(test_shape_errors_are_explained)
{
    expect_error((nn_shape){1, 3, 3}, nn_conv2d(4, 6, 1, 1, true), "layer 0 (conv2d)",
                 "kernel 6 is larger than the padded input 5x5 (3x3 plus padding 1");
    expect_error((nn_shape){1, 8, 3}, nn_conv2d(4, 4, 1, 0, true), "(conv2d)", "padded input 8x3");
    expect_error((nn_shape){1, 4, 4}, nn_conv2d(0, 3, 1, 1, true), "(conv2d)",
                 "out_channels 0 must be positive");
    expect_error((nn_shape){1, 4, 4}, nn_conv2d(2, 0, 1, 1, true), "(conv2d)",
                 "kernel size 0 must be positive");
    expect_error((nn_shape){1, 4, 4}, nn_conv2d(2, 3, 0, 1, true), "(conv2d)",
                 "stride 0 must be positive");
    expect_error((nn_shape){1, 4, 4}, nn_conv2d(2, 3, 1, -1, true), "(conv2d)",
                 "padding -1 must not be negative");
    expect_error((nn_shape){1, 4, 4}, nn_conv2d(2, 3, 1, 100000, true), "(conv2d)",
                 "must each be at most 65536");
    expect_error((nn_shape){1, 1, 1}, nn_conv_transpose2d(2, 1, 1, 1, true),
                 "layer 0 (conv_transpose2d)", "the output would be -1x-1");
    expect_error((nn_shape){1, 2, 2}, nn_conv_transpose2d(-3, 4, 2, 1, true), "(conv_transpose2d)",
                 "out_channels -3 must be positive");
    expect_error((nn_shape){1, 2, 2}, nn_conv_transpose2d(3, 4, -2, 1, true), "(conv_transpose2d)",
                 "stride -2 must be positive");
}
END_TEST

START_TEST(test_param_shapes_and_fans)
{
    nn_net *net = nn_net_create((nn_shape){3, 8, 8});
    nn_net_add(net, nn_conv2d(5, 4, 2, 1, true));
    nn_net_add(net, nn_conv_transpose2d(2, 3, 1, 1, true));
    gradcheck_finalized(net, 1);
    ck_assert_int_eq(nn_net_param_count(net), 4);
    nn_param *w = nn_net_param(net, 0), *wt = nn_net_param(net, 2);
    ck_assert(w->dims[0] == 5 && w->dims[1] == 3 && w->dims[2] == 4 && w->dims[3] == 4);
    ck_assert_int_eq(w->fan_in, 3 * 16);
    ck_assert_int_eq(w->fan_out, 5 * 16);
    ck_assert(wt->dims[0] == 5 && wt->dims[1] == 2 && wt->dims[2] == 3 && wt->dims[3] == 3);
    /* as PyTorch: a transposed convolution's fan-in comes from its outputs */
    ck_assert_int_eq(wt->fan_in, 2 * 9);
    ck_assert_int_eq(nn_net_param(net, 3)->fan_in, 2 * 9);
    nn_shape s = nn_net_out_shape(net);
    ck_assert(s.c == 2 && s.h == 4 && s.w == 4);
    nn_net_free(net);
}
END_TEST

static gand_status build_conv_net(nn_net **out)
{
    char err[256];
    nn_net *net = nn_net_create((nn_shape){1, 8, 8});
    *out = net;
    if (!net)
        return GAND_ENOMEM;
    nn_net_add(net, nn_conv2d(4, 4, 2, 1, true));
    nn_net_add(net, nn_batchnorm2d());
    nn_net_add(net, nn_leaky_relu(0.2f));
    nn_net_add(net, nn_conv_transpose2d(2, 4, 2, 1, false));
    nn_net_add(net, nn_instancenorm2d(true));
    nn_net_add(net, nn_flatten());
    nn_net_add(net, nn_batchnorm1d());
    return nn_net_finalize(net, 4, err, sizeof err);
}

START_TEST(test_out_of_memory_every_allocation)
{
    /* Fail each allocation of building and finalizing in turn: each must
     * report ENOMEM and leave nothing behind (ASan checks the leaks). */
    for (long k = 1; k < 200; k++) {
        nn_net *net;
        gand_alloc_fail_at(k, false);
        gand_status st = build_conv_net(&net);
        long failed = gand_alloc_failures();
        gand_alloc_fail_at(0, false);
        if (failed == 0) {
            ck_assert_int_eq(st, GAND_OK);
            ck_assert_int_gt(k, 8);
            float x[4 * 64];
            gradcheck_fill(x, 4 * 64, -1, 1, 5);
            const float *y = nn_net_forward(net, x, 4, true, NULL);
            ck_assert(isfinite(y[0]));
            nn_net_free(net);
            return;
        }
        ck_assert_int_eq(st, GAND_ENOMEM);
        nn_net_free(net);
    }
    ck_abort_msg("building never succeeded");
}
END_TEST

static Suite *conv_suite(void)
{
    Suite *s = suite_create("nn_conv");
    TCase *tc = tcase_create("conv");
    tcase_add_test(tc, test_conv2d_matches_direct_loops);
    tcase_add_test(tc, test_conv_transpose2d_matches_direct_loops);
    tcase_add_test(tc, test_conv_transpose_known_values);
    tcase_add_test(tc, test_conv2d_gradcheck);
    tcase_add_test(tc, test_conv_transpose2d_gradcheck);
    tcase_add_test(tc, test_stacked_convs_gradcheck);
    tcase_add_test(tc, test_shape_errors_are_explained);
    tcase_add_test(tc, test_param_shapes_and_fans);
    tcase_add_test(tc, test_out_of_memory_every_allocation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conv_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
