/* Batch and instance normalisation: values and running statistics against
 * a direct computation, initialisation, finite-difference gradients in
 * training and evaluation modes, shape errors. */
#include "gradcheck.h"

#include "gand/nn.h"
#include "gand/rng.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-5

static nn_param *param(nn_net *net, const char *name)
{
    for (int i = 0; i < nn_net_param_count(net); i++)
        if (strcmp(nn_net_param(net, i)->name, name) == 0)
            return nn_net_param(net, i);
    ck_abort_msg("no parameter %s", name);
    return NULL;
}

/* Mean and biased variance of channel ch over x (n, c, len), over every
 * sample, or over sample only when sample >= 0. */
static void ref_stats(const float *x, int n, int c, int len, int ch, int sample, double *mean,
                      double *var)
{
    double s = 0, v = 0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (sample >= 0 && i != sample)
            continue;
        for (int j = 0; j < len; j++) {
            s += x[((size_t)i * c + ch) * len + j];
            m++;
        }
    }
    *mean = s / m;
    for (int i = 0; i < n; i++) {
        if (sample >= 0 && i != sample)
            continue;
        for (int j = 0; j < len; j++) {
            double d = x[((size_t)i * c + ch) * len + j] - *mean;
            v += d * d;
        }
    }
    *var = v / m;
}

/* A batch norm layer on (n, c, len) with scale 1 + ch/2 and shift ch - 1:
 * two training forwards, each checked for values and for running stats of
 * 0.9 old + 0.1 batch (unbiased variance), then an evaluation forward that
 * must use the running stats and leave them alone. */
static void check_batchnorm(nn_shape in, bool two_d, int n)
{
    nn_net *net = nn_net_create(in);
    nn_net_add(net, two_d ? nn_batchnorm2d() : nn_batchnorm1d());
    gradcheck_finalized(net, n + 1);
    int c = two_d ? in.c : (int)nn_shape_size(in);
    int len = (int)nn_shape_size(in) / c;
    size_t total = (size_t)n * nn_shape_size(in);
    float *scale = param(net, "scale")->w, *shift = param(net, "shift")->w;
    float *rm = param(net, "running_mean")->w, *rv = param(net, "running_var")->w;
    ck_assert(!param(net, "running_mean")->trainable && param(net, "scale")->trainable);
    for (int ch = 0; ch < c; ch++) {
        ck_assert_float_eq(rm[ch], 0.0f);
        ck_assert_float_eq(rv[ch], 1.0f);
        scale[ch] = 1.0f + 0.5f * ch;
        shift[ch] = (float)ch - 1.0f;
    }
    double *old_m = malloc(c * sizeof *old_m), *old_v = malloc(c * sizeof *old_v);
    float *x = malloc(total * sizeof *x);
    for (int round = 0; round < 2; round++) {
        gradcheck_fill(x, total, -2.0f + round, 3.0f, 40 + round);
        for (int ch = 0; ch < c; ch++) {
            old_m[ch] = rm[ch];
            old_v[ch] = rv[ch];
        }
        const float *y = nn_net_forward(net, x, n, true, NULL);
        for (int ch = 0; ch < c; ch++) {
            double mu, var;
            ref_stats(x, n, c, len, ch, -1, &mu, &var);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < len; j++) {
                    size_t at = ((size_t)i * c + ch) * len + j;
                    double want = (x[at] - mu) / sqrt(var + EPS) * scale[ch] + shift[ch];
                    ck_assert_msg(fabs(y[at] - want) < 1e-4 * (1 + fabs(want)),
                                  "y[%zu] = %g, want %g", at, y[at], want);
                }
            double m = (double)n * len;
            ck_assert_double_eq_tol(rm[ch], 0.9 * old_m[ch] + 0.1 * mu, 1e-5);
            ck_assert_double_eq_tol(rv[ch], 0.9 * old_v[ch] + 0.1 * var * m / (m - 1), 1e-5);
        }
    }
    gradcheck_fill(x, total, -1.0f, 1.0f, 44);
    for (int ch = 0; ch < c; ch++) {
        old_m[ch] = rm[ch];
        old_v[ch] = rv[ch];
    }
    const float *y = nn_net_forward(net, x, n, false, NULL);
    for (size_t at = 0; at < total; at++) {
        int ch = (int)(at / len % c);
        double want = (x[at] - rm[ch]) / sqrt(rv[ch] + EPS) * scale[ch] + shift[ch];
        ck_assert_msg(fabs(y[at] - want) < 1e-4 * (1 + fabs(want)), "eval y[%zu] = %g, want %g", at,
                      y[at], want);
    }
    for (int ch = 0; ch < c; ch++)
        ck_assert(rm[ch] == (float)old_m[ch] && rv[ch] == (float)old_v[ch]);
    free(old_m);
    free(old_v);
    free(x);
    nn_net_free(net);
}

START_TEST(test_batchnorm2d_values_and_running_stats)
{
    check_batchnorm((nn_shape){3, 2, 3}, true, 4);
    check_batchnorm((nn_shape){2, 5, 5}, true, 1);
    check_batchnorm((nn_shape){5, 1, 1}, true, 3); /* 1x1 planes */
}
END_TEST

START_TEST(test_batchnorm1d_values_and_running_stats)
{
    check_batchnorm((nn_shape){6, 1, 1}, false, 5);
    check_batchnorm((nn_shape){2, 2, 3}, false, 3);    /* any sample shape: 12 features */
    check_batchnorm((nn_shape){1100, 1, 1}, false, 2); /* more than one feature chunk */
}
END_TEST

/* Inputs around 1000 with spread 1: statistics must not lose the spread to
 * the offset (float holds 1000 + u to about 6e-5). */
static void check_offset(nn_layer *layer, nn_shape in, int n, bool per_sample)
{
    nn_net *net = nn_net_create(in);
    nn_net_add(net, layer);
    gradcheck_finalized(net, n);
    gand_rng rng;
    gand_rng_seed(&rng, 1);
    nn_net_init(net, &rng, NN_INIT_DEFAULT); /* scale 1, shift 0 */
    int c = per_sample || in.h * in.w > 1 ? in.c : (int)nn_shape_size(in);
    int len = (int)nn_shape_size(in) / c;
    size_t total = (size_t)n * nn_shape_size(in);
    float *x = malloc(total * sizeof *x);
    gradcheck_fill(x, total, 999.0f, 1001.0f, 77);
    const float *y = nn_net_forward(net, x, n, true, NULL);
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            double mu, var;
            ref_stats(x, n, c, len, ch, per_sample ? i : -1, &mu, &var);
            for (int j = 0; j < len; j++) {
                size_t at = ((size_t)i * c + ch) * len + j;
                worst = fmax(worst, fabs(y[at] - (x[at] - mu) / sqrt(var + EPS)));
            }
        }
    ck_assert_msg(worst < 5e-4, "%s: largest error %g", nn_net_layer_kind(net, 0), worst);
    free(x);
    nn_net_free(net);
}

START_TEST(test_norms_keep_precision_far_from_zero)
{
    check_offset(nn_batchnorm2d(), (nn_shape){3, 16, 16}, 64, false);
    check_offset(nn_batchnorm1d(), (nn_shape){40, 1, 1}, 256, false);
    check_offset(nn_instancenorm2d(false), (nn_shape){2, 96, 96}, 2, true);
}
END_TEST

START_TEST(test_batchnorm_eval_leaves_running_stats)
{
    nn_net *net = nn_net_create((nn_shape){2, 2, 2});
    nn_net_add(net, nn_batchnorm2d());
    gradcheck_finalized(net, 2);
    float x[16];
    gradcheck_fill(x, 16, -1, 1, 3);
    nn_net_forward(net, x, 2, true, NULL);
    float state[8];
    ck_assert_uint_eq(nn_net_num_state(net), 4);
    memcpy(state, nn_net_state(net), 4 * sizeof(float));
    nn_net_forward(net, x, 2, false, NULL);
    ck_assert_int_eq(memcmp(state, nn_net_state(net), 4 * sizeof(float)), 0);
    nn_net_free(net);
}
END_TEST

START_TEST(test_batchnorm_single_value_stays_finite)
{
    /* One sample in training: nothing to normalise, y is the shift, and the
     * running variance takes the (zero) spread without dividing by zero. */
    nn_net *net = nn_net_create((nn_shape){3, 1, 1});
    nn_net_add(net, nn_batchnorm1d());
    gradcheck_finalized(net, 1);
    param(net, "shift")->w[1] = 0.25f;
    float x[3] = {5.0f, -2.0f, 0.5f};
    const float *y = nn_net_forward(net, x, 1, true, NULL);
    ck_assert_float_eq(y[0], 0.0f);
    ck_assert_float_eq(y[1], 0.25f);
    ck_assert_float_eq_tol(param(net, "running_mean")->w[0], 0.5f, 1e-6f);
    ck_assert_float_eq_tol(param(net, "running_var")->w[0], 0.9f, 1e-6f);
    nn_net_free(net);
}
END_TEST

START_TEST(test_norm_init)
{
    gand_rng rng;
    gand_rng_seed(&rng, 1);
    nn_net *net = nn_net_create((nn_shape){400, 1, 1});
    nn_net_add(net, nn_batchnorm1d());
    gradcheck_finalized(net, 2);
    nn_param *scale = param(net, "scale"), *shift = param(net, "shift");
    nn_param *rm = param(net, "running_mean"), *rv = param(net, "running_var");
    for (int i = 0; i < 400; i++) {
        rm->w[i] = 3.0f;
        rv->w[i] = 7.0f;
        shift->w[i] = 2.0f;
    }
    nn_net_init(net, &rng, NN_INIT_DCGAN);
    double s = 0, sq = 0;
    for (int i = 0; i < 400; i++) {
        ck_assert_float_eq(rm->w[i], 0.0f);
        ck_assert_float_eq(rv->w[i], 1.0f);
        ck_assert_float_eq(shift->w[i], 0.0f);
        s += scale->w[i];
        sq += (scale->w[i] - 1.0) * (scale->w[i] - 1.0);
    }
    ck_assert_double_lt(fabs(s / 400 - 1.0), 0.005);
    ck_assert_double_lt(fabs(sqrt(sq / 400) - 0.02), 0.004);
    nn_net_init(net, &rng, NN_INIT_DEFAULT);
    for (int i = 0; i < 400; i++)
        ck_assert_float_eq(scale->w[i], 1.0f);
    nn_net_free(net);
}
END_TEST

START_TEST(test_instancenorm_values)
{
    for (int affine = 0; affine < 2; affine++) {
        int n = 3, c = 2, len = 12;
        nn_net *net = nn_net_create((nn_shape){c, 3, 4});
        nn_net_add(net, nn_instancenorm2d(affine));
        gradcheck_finalized(net, n);
        ck_assert_uint_eq(nn_net_num_state(net), 0);
        ck_assert_int_eq(nn_net_param_count(net), affine ? 2 : 0);
        float sc[2] = {1.0f, 1.0f}, sh[2] = {0.0f, 0.0f};
        if (affine) {
            sc[0] = 2.0f;
            sc[1] = -0.5f;
            sh[0] = 0.3f;
            sh[1] = 1.0f;
            memcpy(param(net, "scale")->w, sc, sizeof sc);
            memcpy(param(net, "shift")->w, sh, sizeof sh);
        }
        float x[72];
        gradcheck_fill(x, 72, -1.0f, 4.0f, 9);
        float y_train[72];
        memcpy(y_train, nn_net_forward(net, x, n, true, NULL), sizeof y_train);
        const float *y = nn_net_forward(net, x, n, false, NULL);
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++) {
                double mu, var;
                ref_stats(x, n, c, len, ch, i, &mu, &var);
                for (int j = 0; j < len; j++) {
                    size_t at = ((size_t)i * c + ch) * len + j;
                    double want = (x[at] - mu) / sqrt(var + EPS) * sc[ch] + sh[ch];
                    ck_assert_msg(fabs(y[at] - want) < 1e-4 * (1 + fabs(want)),
                                  "y[%zu] = %g, want %g", at, y[at], want);
                    ck_assert_float_eq(y[at], y_train[at]);
                }
            }
        nn_net_free(net);
    }
}
END_TEST

START_TEST(test_instancenorm_needs_a_plane)
{
    char err[256];
    nn_net *net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_instancenorm2d(true));
    ck_assert_int_eq(nn_net_finalize(net, 2, err, sizeof err), GAND_EINVAL);
    ck_assert_msg(strstr(err, "layer 0 (instancenorm2d)") &&
                      strstr(err, "more than one value per channel"),
                  "%s", err);
    nn_net_free(net);
}
END_TEST

/* Gradient check of net on n random samples; in evaluation mode after a few
 * training forwards so the running statistics are not the identity. */
static void check_net(nn_net *net, int n, bool train)
{
    gand_rng rng;
    gand_rng_seed(&rng, 17);
    gradcheck_finalized(net, n);
    nn_net_init(net, &rng, NN_INIT_DCGAN);
    size_t nx = (size_t)n * nn_shape_size(nn_net_in_shape(net));
    float *x = malloc(nx * sizeof *x);
    for (int k = 0; k < 3; k++) {
        gradcheck_fill(x, nx, -2.0f, 1.0f + k, 60 + k);
        nn_net_forward(net, x, n, true, NULL);
    }
    /* DCGAN scales are near 1; spread them so a swapped term shows. */
    for (int i = 0; i < nn_net_param_count(net); i++) {
        nn_param *p = nn_net_param(net, i);
        if (strcmp(p->name, "scale") == 0 || strcmp(p->name, "shift") == 0)
            gradcheck_fill(p->w, p->count, 0.5f, 1.5f, 70 + i);
        if (strcmp(p->name, "weight") == 0)
            gradcheck_fill(p->w, p->count, -0.5f, 0.5f, 80 + i);
    }
    gradcheck_fill(x, nx, -2.0f, 2.0f, 99);
    gradcheck_result r =
        gradcheck_net(net, x, n, train, 0, 0, GRADCHECK_H, GRADCHECK_ATOL, GRADCHECK_RTOL);
    ASSERT_GRADS_OK(r);
    free(x);
    nn_net_free(net);
}

START_TEST(test_batchnorm1d_gradcheck)
{
    for (int train = 0; train < 2; train++) {
        nn_net *net = nn_net_create((nn_shape){5, 1, 1});
        nn_net_add(net, nn_batchnorm1d());
        check_net(net, 4, train);

        net = nn_net_create((nn_shape){2, 2, 2});
        nn_net_add(net, nn_batchnorm1d());
        nn_net_add(net, nn_linear(3, true));
        check_net(net, 3, train);

        net = nn_net_create((nn_shape){4, 1, 1});
        nn_net_add(net, nn_linear(6, true));
        nn_net_add(net, nn_batchnorm1d());
        nn_net_add(net, nn_tanh());
        nn_net_add(net, nn_linear(2, false));
        check_net(net, 5, train);
    }
}
END_TEST

START_TEST(test_batchnorm2d_gradcheck)
{
    for (int train = 0; train < 2; train++) {
        nn_net *net = nn_net_create((nn_shape){3, 3, 3});
        nn_net_add(net, nn_batchnorm2d());
        check_net(net, 3, train);

        net = nn_net_create((nn_shape){2, 4, 4});
        nn_net_add(net, nn_conv2d(3, 3, 1, 1, false));
        nn_net_add(net, nn_batchnorm2d());
        nn_net_add(net, nn_tanh());
        nn_net_add(net, nn_conv2d(2, 4, 2, 1, true));
        check_net(net, 2, train);

        net = nn_net_create((nn_shape){4, 1, 1}); /* 1x1 planes */
        nn_net_add(net, nn_batchnorm2d());
        check_net(net, 4, train);

        net = nn_net_create((nn_shape){2, 3, 3}); /* one sample: stats over the plane */
        nn_net_add(net, nn_batchnorm2d());
        check_net(net, 1, train);
    }
}
END_TEST

START_TEST(test_instancenorm2d_gradcheck)
{
    for (int affine = 0; affine < 2; affine++) {
        nn_net *net = nn_net_create((nn_shape){2, 3, 4});
        nn_net_add(net, nn_instancenorm2d(affine));
        check_net(net, 2, true);

        net = nn_net_create((nn_shape){2, 4, 4});
        nn_net_add(net, nn_conv2d(2, 3, 1, 1, true));
        nn_net_add(net, nn_instancenorm2d(affine));
        nn_net_add(net, nn_tanh());
        check_net(net, 3, false);
    }
}
END_TEST

static Suite *norm_suite(void)
{
    Suite *s = suite_create("nn_norm");
    TCase *tc = tcase_create("norm");
    tcase_add_test(tc, test_batchnorm2d_values_and_running_stats);
    tcase_add_test(tc, test_batchnorm1d_values_and_running_stats);
    tcase_add_test(tc, test_norms_keep_precision_far_from_zero);
    tcase_add_test(tc, test_batchnorm_eval_leaves_running_stats);
    tcase_add_test(tc, test_batchnorm_single_value_stays_finite);
    tcase_add_test(tc, test_norm_init);
    tcase_add_test(tc, test_instancenorm_values);
    tcase_add_test(tc, test_instancenorm_needs_a_plane);
    tcase_add_test(tc, test_batchnorm1d_gradcheck);
    tcase_add_test(tc, test_batchnorm2d_gradcheck);
    tcase_add_test(tc, test_instancenorm2d_gradcheck);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(norm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
