/* Layers that hold other layers: residual blocks and spectral
 * normalisation (src/nn/residual.c, src/nn/spectral.c). */
#include "gradcheck.h"

#include "gand/alloc.h"
#include "gand/nn.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- residual ---- */

START_TEST(test_residual_values_and_param_order)
{
    nn_net *net = nn_net_create((nn_shape){2, 1, 1});
    nn_net_add(net, nn_residual((nn_layer *[]){nn_relu()}, 1));
    gradcheck_finalized(net, 1);
    float x[2] = {-1, 2};
    const float *y = nn_net_forward(net, x, 1, true, NULL);
    ck_assert_float_eq(y[0], -1.0f);
    ck_assert_float_eq(y[1], 4.0f);
    float dy[2] = {1, 1};
    const float *dx = nn_net_backward(net, dy, true);
    ck_assert_float_eq(dx[0], 1.0f);
    ck_assert_float_eq(dx[1], 2.0f);
    nn_net_free(net);

    net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_linear(6, true));
    nn_net_add(net, nn_residual((nn_layer *[]){nn_linear(3, true), nn_relu(), nn_linear(6, false)},
                                3));
    nn_net_add(net, nn_linear(2, true));
    gradcheck_finalized(net, 1);
    const char *names[] = {"weight", "bias", "weight", "bias", "weight", "weight", "bias"};
    const int rows[] = {6, 6, 3, 3, 6, 2, 2};
    ck_assert_int_eq(nn_net_param_count(net), 7);
    size_t off = 0;
    for (int i = 0; i < 7; i++) {
        nn_param *p = nn_net_param(net, i);
        ck_assert_str_eq(p->name, names[i]);
        ck_assert_int_eq(p->dims[0], rows[i]);
        ck_assert_ptr_eq(p->w, nn_net_params(net) + off);
        off += p->count;
    }
    ck_assert_uint_eq(off, nn_net_num_params(net));
    ck_assert_str_eq(nn_net_layer_kind(net, 1), "residual");
    nn_net_free(net);
}
END_TEST

START_TEST(test_residual_gradchecks)
{
    /* linear body with a ReLU; a small step keeps clear of its kink */
    nn_net *net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_linear(6, true));
    nn_net_add(net, nn_residual((nn_layer *[]){nn_linear(5, true), nn_relu(), nn_linear(6, true)},
                                3));
    gradcheck_finalized(net, 3);
    gradcheck_init(net, 10);
    float x[12];
    gradcheck_fill(x, 12, -1, 1, 11);
    gradcheck_result r = gradcheck_net(net, x, 3, true, 0, 0, 1e-3, GRADCHECK_ATOL,
                                       GRADCHECK_RTOL);
    ASSERT_GRADS_OK(r);
    nn_net_free(net);

    /* convolutional body, residual first so its input gradient is checked */
    net = nn_net_create((nn_shape){2, 4, 4});
    nn_net_add(net, nn_residual((nn_layer *[]){nn_conv2d(3, 3, 1, 1, true), nn_tanh(),
                                               nn_conv2d(2, 3, 1, 1, true)},
                                3));
    nn_net_add(net, nn_tanh());
    gradcheck_finalized(net, 2);
    gradcheck_init(net, 12);
    gradcheck_assert_net(net, 2, true, -1, 1, 13);
    nn_net_free(net);

    /* nested scratch users: spectral norm and dropout inside the body */
    net = nn_net_create((nn_shape){6, 1, 1});
    nn_net_add(net, nn_residual((nn_layer *[]){nn_spectral_norm(nn_linear(6, true)),
                                               nn_dropout(0.3f), nn_tanh()},
                                3));
    gradcheck_finalized(net, 4);
    gradcheck_init(net, 14);
    gradcheck_assert_net(net, 4, false, -1, 1, 15);
    float x6[24];
    gradcheck_fill(x6, 24, -1, 1, 15);
    gand_rng rng;
    gand_rng_seed(&rng, 1);
    for (int it = 0; it < 300; it++) /* converge u before a training check */
        nn_net_forward(net, x6, 4, true, &rng);
    gradcheck_assert_net(net, 4, true, -1, 1, 15);
    nn_net_free(net);
}
END_TEST

START_TEST(test_residual_first_layer_without_dx)
{
    nn_net *net = nn_net_create((nn_shape){3, 1, 1});
    nn_net_add(net, nn_residual((nn_layer *[]){nn_linear(3, true), nn_tanh()}, 2));
    gradcheck_finalized(net, 2);
    gradcheck_init(net, 16);
    float x[6] = {0.1f, -0.5f, 0.9f, 1, 2, -1}, dy[6] = {1, -1, 0.5f, 0.25f, 2, -2};
    nn_net_zero_grad(net);
    nn_net_forward(net, x, 2, true, NULL);
    ck_assert_ptr_nonnull(nn_net_backward(net, dy, true));
    float with[12];
    memcpy(with, nn_net_grads(net), sizeof with);
    nn_net_zero_grad(net);
    nn_net_forward(net, x, 2, true, NULL);
    ck_assert_ptr_null(nn_net_backward(net, dy, false));
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(nn_net_grads(net)[i], with[i]);
    nn_net_free(net);
}
END_TEST

START_TEST(test_residual_errors)
{
    char err[256];
    nn_net *net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_residual((nn_layer *[]){nn_linear(3, true)}, 1));
    ck_assert_int_eq(nn_net_finalize(net, 1, err, sizeof err), GAND_EINVAL);
    ck_assert_msg(strstr(err, "maps (4,1,1) to (3,1,1)") && strstr(err, "keep the shape"), "%s",
                  err);
    nn_net_free(net);

    net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_residual(NULL, 0));
    ck_assert_int_eq(nn_net_finalize(net, 1, err, sizeof err), GAND_EINVAL);
    ck_assert_msg(strstr(err, "at least one layer"), "%s", err);
    nn_net_free(net);

    net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_residual((nn_layer *[]){nn_relu(), nn_pixel_shuffle(3)}, 2));
    ck_assert_int_eq(nn_net_finalize(net, 1, err, sizeof err), GAND_EINVAL);
    ck_assert_msg(strstr(err, "body layer 1 (pixel_shuffle)"), "%s", err);
    nn_net_free(net);

    /* a failed body constructor: the others are freed (ASan checks) */
    ck_assert_ptr_null(nn_residual((nn_layer *[]){nn_relu(), NULL, nn_tanh()}, 3));
    /* every allocation of the block itself failing in turn */
    for (long k = 1; k <= 3; k++) {
        nn_layer *body[2] = {nn_linear(3, true), nn_relu()};
        gand_alloc_fail_at(k, false);
        nn_layer *l = nn_residual(body, 2);
        gand_alloc_fail_at(0, false);
        ck_assert_ptr_null(l);
        nn_layer *inner = nn_linear(2, false);
        gand_alloc_fail_at(k, false);
        l = nn_spectral_norm(inner);
        gand_alloc_fail_at(0, false);
        ck_assert_ptr_null(l);
    }
}
END_TEST

/* ---- spectral normalisation ---- */

/* Largest singular value of m (rows, cols) by power iteration in double. */
static double top_singular_value(const double *m, int rows, int cols)
{
    double *v = calloc((size_t)cols, sizeof *v), *t = calloc((size_t)rows, sizeof *t);
    for (int j = 0; j < cols; j++)
        v[j] = 1.0 + 0.1 * j;
    double s = 0.0;
    for (int it = 0; it < 2000; it++) {
        for (int i = 0; i < rows; i++) {
            t[i] = 0.0;
            for (int j = 0; j < cols; j++)
                t[i] += m[i * cols + j] * v[j];
        }
        double nv = 0.0;
        for (int j = 0; j < cols; j++) {
            v[j] = 0.0;
            for (int i = 0; i < rows; i++)
                v[j] += m[i * cols + j] * t[i];
            nv += v[j] * v[j];
        }
        nv = sqrt(nv);
        for (int j = 0; j < cols; j++)
            v[j] /= nv;
        s = sqrt(nv);
    }
    free(v);
    free(t);
    return s;
}

START_TEST(test_spectral_norm_known_matrix)
{
    /* singular values 3, 1 and 0.5 */
    const float W[12] = {1, 2, 0, 0, 2, 1, 0, 0, 0, 0, 0.5f, 0};
    nn_net *net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_spectral_norm(nn_linear(3, false)));
    gradcheck_finalized(net, 4);
    gradcheck_init(net, 20);
    ck_assert_int_eq(nn_net_param_count(net), 2);
    nn_param *u = nn_net_param(net, 0), *w = nn_net_param(net, 1);
    ck_assert_str_eq(u->name, "u");
    ck_assert(!u->trainable && u->count == 3);
    ck_assert_str_eq(w->name, "weight");
    double norm = 0;
    for (int i = 0; i < 3; i++)
        norm += (double)u->w[i] * u->w[i];
    ck_assert_double_eq_tol(norm, 1.0, 1e-6);
    memcpy(w->w, W, sizeof W);

    float x[16] = {0};
    for (int i = 0; i < 4; i++)
        x[i * 5] = 1.0f; /* the identity: row i of y is column i of W / sigma */
    float u0[3];
    memcpy(u0, u->w, sizeof u0);
    nn_net_forward(net, x, 4, false, NULL);
    ck_assert_int_eq(memcmp(u0, u->w, sizeof u0), 0); /* evaluation keeps u */
    nn_net_forward(net, x, 4, true, NULL);
    ck_assert_int_ne(memcmp(u0, u->w, sizeof u0), 0); /* training iterates */
    const float *y = NULL;
    for (int it = 0; it < 30; it++)
        y = nn_net_forward(net, x, 4, true, NULL);
    for (int i = 0; i < 4; i++)
        for (int r = 0; r < 3; r++)
            ck_assert_float_eq_tol(y[i * 3 + r], W[r * 4 + i] / 3.0f, 1e-6f);
    /* u has converged to the top left singular vector (1, 1, 0) / sqrt 2 */
    ck_assert_float_eq_tol(fabsf(u->w[0]), 0.70710678f, 1e-5f);
    ck_assert_float_eq_tol(u->w[0], u->w[1], 1e-5f);
    ck_assert_float_eq_tol(u->w[2], 0.0f, 1e-5f);
    /* the real weight is untouched */
    ck_assert_int_eq(memcmp(w->w, W, sizeof W), 0);
    y = nn_net_forward(net, x, 4, false, NULL);
    ck_assert_float_eq_tol(y[0], 1.0f / 3.0f, 1e-6f);
    nn_net_free(net);
}
END_TEST

/* One training step against numbers PyTorch 1.13 printed for
 *     sn = torch.nn.utils.spectral_norm(nn.Linear(3, 2, bias=False))
 * with weight_orig W and weight_u u0 below, y = sn(x), (y * r).sum().backward():
 * y, the updated weight_u and weight_orig.grad. Before u has converged the
 * u, v-constant gradient differs from the finite-difference one, so this
 * is what pins the backward to PyTorch's. */
START_TEST(test_spectral_norm_matches_pytorch_step)
{
    nn_net *net = nn_net_create((nn_shape){3, 1, 1});
    nn_net_add(net, nn_spectral_norm(nn_linear(2, false)));
    gradcheck_finalized(net, 2);
    nn_param *u = nn_net_param(net, 0), *w = nn_net_param(net, 1);
    const float W[6] = {0.5f, -1.0f, 0.25f, 1.5f, 0.75f, -0.5f};
    memcpy(w->w, W, sizeof W);
    u->w[0] = 0.6f;
    u->w[1] = 0.8f;
    float x[6] = {1.0f, 2.0f, -1.0f, 0.5f, -0.5f, 3.0f}, r[4] = {1.0f, -2.0f, 0.5f, 1.5f};
    nn_net_zero_grad(net);
    const float *y = nn_net_forward(net, x, 2, true, NULL);
    const float ty[4] = {-1.076320767402649f, 2.152641773223877f, 0.9225606918334961f,
                         -0.6919205188751221f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(y[i], ty[i], 2e-6f);
    ck_assert_float_eq_tol(u->w[0], 0.27805808186531067f, 1e-6f);
    ck_assert_float_eq_tol(u->w[1], 0.9605642557144165f, 1e-6f);
    nn_net_backward(net, r, false);
    const float tg[6] = {1.773890733718872f,  1.0763208866119385f,  0.1400052160024643f,
                         2.7033286094665527f, -2.9214422702789307f, 3.4190750122070312f};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(w->g[i], tg[i], 5e-6f);
    nn_net_free(net);
}
END_TEST

/* Runs inner wrapped and unwrapped with the same weight and checks that
 * after many training forwards the wrapped output is the unwrapped one
 * divided by the top singular value of the weight viewed with rows along
 * dim (0 for conv2d, 1 for conv_transpose2d). */
static void check_sigma(nn_layer *(*make)(void), nn_shape in, int dim)
{
    nn_net *sn = nn_net_create(in), *plain = nn_net_create(in);
    nn_net_add(sn, nn_spectral_norm(make()));
    nn_net_add(plain, make());
    gradcheck_finalized(sn, 2);
    gradcheck_finalized(plain, 2);
    gradcheck_init(sn, 21);
    nn_param *w = nn_net_param(sn, 1);
    memcpy(nn_net_param(plain, 0)->w, w->w, w->count * sizeof(float));

    int d0 = w->dims[0], d1 = w->dims[1], kk = w->dims[2] * w->dims[3];
    int rows = dim == 0 ? d0 : d1, cols = (int)w->count / rows;
    double *m = malloc(w->count * sizeof *m);
    for (int a = 0; a < d0; a++)
        for (int b = 0; b < d1; b++)
            for (int r = 0; r < kk; r++) {
                double v = w->w[((size_t)a * d1 + b) * kk + r];
                if (dim == 0)
                    m[(size_t)a * cols + b * kk + r] = v;
                else
                    m[(size_t)b * cols + a * kk + r] = v;
            }
    double sigma = top_singular_value(m, rows, cols);
    free(m);

    size_t nx = 2 * nn_shape_size(in), ny = 2 * nn_shape_size(nn_net_out_shape(sn));
    float *x = malloc(nx * sizeof *x);
    gradcheck_fill(x, nx, -1, 1, 22);
    const float *y = NULL;
    for (int it = 0; it < 300; it++)
        y = nn_net_forward(sn, x, 2, true, NULL);
    const float *yp = nn_net_forward(plain, x, 2, false, NULL);
    for (size_t i = 0; i < ny; i++)
        ck_assert_msg(fabs(y[i] * sigma - yp[i]) <= 1e-4 * (1 + fabs(yp[i])),
                      "[%zu]: %g * sigma %g != %g", i, y[i], sigma, yp[i]);
    free(x);
    nn_net_free(sn);
    nn_net_free(plain);
}

static nn_layer *make_conv(void) { return nn_conv2d(3, 3, 2, 1, false); }
static nn_layer *make_convt(void) { return nn_conv_transpose2d(2, 4, 2, 1, false); }

START_TEST(test_spectral_norm_conv_views)
{
    check_sigma(make_conv, (nn_shape){2, 5, 5}, 0);
    check_sigma(make_convt, (nn_shape){3, 3, 3}, 1);
}
END_TEST

static void check_spectral(nn_layer *inner, nn_shape in, unsigned long seed)
{
    nn_net *net = nn_net_create(in);
    nn_net_add(net, nn_spectral_norm(inner));
    gradcheck_finalized(net, 2);
    gradcheck_init(net, seed);
    /* evaluation: sigma = |W^T u| for the stored u, whose gradient is
     * exactly u v^T, so the check holds before any iteration */
    gradcheck_assert_net(net, 2, false, -1, 1, seed + 1);
    /* training: the iteration moves u, and the u, v-constant gradient is
     * the true one once u has converged to the top singular vector */
    size_t nx = 2 * nn_shape_size(in);
    float *x = malloc(nx * sizeof *x);
    gradcheck_fill(x, nx, -1, 1, seed + 1);
    for (int it = 0; it < 300; it++)
        nn_net_forward(net, x, 2, true, NULL);
    free(x);
    gradcheck_assert_net(net, 2, true, -1, 1, seed + 1);
    nn_net_free(net);
}

START_TEST(test_spectral_norm_gradchecks)
{
    check_spectral(nn_linear(4, true), (nn_shape){5, 1, 1}, 30);
    check_spectral(nn_conv2d(3, 3, 1, 1, true), (nn_shape){2, 4, 4}, 32);
    check_spectral(nn_conv_transpose2d(2, 4, 2, 1, true), (nn_shape){3, 3, 3}, 34);
}
END_TEST

START_TEST(test_spectral_norm_refuses_other_layers)
{
    nn_net *net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_spectral_norm(nn_relu()));
    char err[256];
    ck_assert_int_eq(nn_net_finalize(net, 1, err, sizeof err), GAND_EINVAL);
    ck_assert_msg(strstr(err, "wraps linear, conv2d or conv_transpose2d layers, not relu"), "%s",
                  err);
    nn_net_free(net);
    ck_assert_ptr_null(nn_spectral_norm(NULL));
}
END_TEST

static Suite *composite_suite(void)
{
    Suite *s = suite_create("nn_layers_composite");
    TCase *tc = tcase_create("composite");
    tcase_add_test(tc, test_residual_values_and_param_order);
    tcase_add_test(tc, test_residual_gradchecks);
    tcase_add_test(tc, test_residual_first_layer_without_dx);
    tcase_add_test(tc, test_residual_errors);
    tcase_add_test(tc, test_spectral_norm_known_matrix);
    tcase_add_test(tc, test_spectral_norm_matches_pytorch_step);
    tcase_add_test(tc, test_spectral_norm_conv_views);
    tcase_add_test(tc, test_spectral_norm_gradchecks);
    tcase_add_test(tc, test_spectral_norm_refuses_other_layers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(composite_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
