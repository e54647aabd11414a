/* Engine core: nets, linear, activations, reshape, optimisers, rng. */
#include "gradcheck.h"

#include "gand/alloc.h"
#include "gand/nn.h"
#include "gand/rng.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_rng_deterministic_and_distributed)
{
    gand_rng a, b;
    gand_rng_seed(&a, 7);
    gand_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(gand_rng_next(&a), gand_rng_next(&b));
    gand_rng_seed(&b, 8);
    ck_assert_uint_ne(gand_rng_next(&a), gand_rng_next(&b));

    double sum = 0, sq = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = gand_rng_normal(&a);
        sum += z;
        sq += z * z;
    }
    /* standard errors: mean 1/sqrt(n) = 0.0022, var sqrt(2/n) = 0.0032 */
    ck_assert_double_lt(fabs(sum / n), 0.012);
    ck_assert_double_lt(fabs(sq / n - 1.0), 0.016);
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++)
        counts[gand_rng_below(&a, 10)]++;
    for (int k = 0; k < 10; k++)
        ck_assert_int_gt(counts[k], 9500);
    for (int i = 0; i < 1000; i++) {
        float u = gand_rng_uniform(&a);
        ck_assert(u >= 0.0f && u < 1.0f);
    }
}
END_TEST

START_TEST(test_linear_forward_values)
{
    nn_net *net = nn_net_create((nn_shape){3, 1, 1});
    nn_net_add(net, nn_linear(2, true));
    gradcheck_finalized(net, 2);
    float *w = nn_net_param(net, 0)->w, *b = nn_net_param(net, 1)->w;
    const float W[6] = {1, 2, 3, -1, 0, 1}; /* (2, 3) */
    memcpy(w, W, sizeof W);
    b[0] = 0.5f;
    b[1] = -2.0f;
    float x[6] = {1, 1, 1, 2, 0, -1};
    const float *y = nn_net_forward(net, x, 2, true, NULL);
    ck_assert_float_eq_tol(y[0], 6.5f, 1e-6f);
    ck_assert_float_eq_tol(y[1], -2.0f, 1e-6f);
    ck_assert_float_eq_tol(y[2], -0.5f, 1e-6f);
    ck_assert_float_eq_tol(y[3], -5.0f, 1e-6f);
    nn_net_free(net);
}
END_TEST

START_TEST(test_linear_gradcheck)
{
    gand_rng rng;
    gand_rng_seed(&rng, 1);
    nn_net *net = nn_net_create((nn_shape){2, 2, 2});
    nn_net_add(net, nn_flatten());
    nn_net_add(net, nn_linear(5, true));
    nn_net_add(net, nn_linear(3, false));
    gradcheck_finalized(net, 4);
    nn_net_init(net, &rng, NN_INIT_DEFAULT);
    float x[32];
    gradcheck_fill(x, 32, -1, 1, 2);
    gradcheck_result r = gradcheck_net(net, x, 4, true, 0, 0, GRADCHECK_H, GRADCHECK_ATOL,
                                       GRADCHECK_RTOL);
    ASSERT_GRADS_OK(r);
    ck_assert_int_eq(r.checked, 32 + 5 * 8 + 5 + 3 * 5);
    nn_net_free(net);
}
END_TEST

/* Activations: a linear layer before each so its parameters see the
 * activation's input gradient; inputs kept away from the ReLU kink. */
static void check_activation(nn_layer *act)
{
    gand_rng rng;
    gand_rng_seed(&rng, 3);
    nn_net *net = nn_net_create((nn_shape){6, 1, 1});
    nn_net_add(net, nn_linear(6, true));
    nn_net_add(net, act);
    gradcheck_finalized(net, 3);
    nn_net_init(net, &rng, NN_INIT_DEFAULT);
    float x[18];
    gradcheck_fill(x, 18, -2, 2, 4);
    /* Make the pre-activations big enough that h never crosses zero. */
    const float *y = nn_net_forward(net, x, 3, true, NULL);
    (void)y;
    gradcheck_result r = gradcheck_net(net, x, 3, true, 0, 0, 1e-3, GRADCHECK_ATOL,
                                       GRADCHECK_RTOL);
    ASSERT_GRADS_OK(r);
    nn_net_free(net);
}

START_TEST(test_activation_gradchecks)
{
    check_activation(nn_relu());
    check_activation(nn_leaky_relu(0.2f));
    check_activation(nn_tanh());
    check_activation(nn_sigmoid());
}
END_TEST

START_TEST(test_activation_values)
{
    nn_net *net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_leaky_relu(0.2f));
    gradcheck_finalized(net, 1);
    float x[4] = {-1.0f, 0.5f, -100.0f, 3.0f};
    const float *y = nn_net_forward(net, x, 1, false, NULL);
    ck_assert_float_eq(y[0], -0.2f);
    ck_assert_float_eq(y[1], 0.5f);
    ck_assert_float_eq(y[2], -20.0f);
    nn_net_free(net);

    net = nn_net_create((nn_shape){3, 1, 1});
    nn_net_add(net, nn_sigmoid());
    gradcheck_finalized(net, 1);
    float z[3] = {-200.0f, 0.0f, 200.0f};
    y = nn_net_forward(net, z, 1, false, NULL);
    ck_assert(isfinite(y[0]) && y[0] >= 0.0f && y[0] < 1e-30f);
    ck_assert_float_eq(y[1], 0.5f);
    ck_assert_float_eq(y[2], 1.0f);
    nn_net_free(net);
}
END_TEST

START_TEST(test_shape_errors_are_explained)
{
    char err[256];
    nn_net *net = nn_net_create((nn_shape){1, 4, 4});
    nn_net_add(net, nn_reshape(3, 2, 2));
    nn_net_add(net, nn_relu());
    ck_assert_int_eq(nn_net_finalize(net, 2, err, sizeof err), GAND_EINVAL);
    ck_assert_msg(strstr(err, "layer 0 (reshape)") && strstr(err, "16 values"), "%s", err);
    nn_net_free(net);

    net = nn_net_create((nn_shape){1, 4, 4});
    nn_net_add(net, nn_linear(0, true));
    ck_assert_int_eq(nn_net_finalize(net, 2, err, sizeof err), GAND_EINVAL);
    ck_assert_msg(strstr(err, "out_features 0"), "%s", err);
    nn_net_free(net);
}
END_TEST

START_TEST(test_reshape_shapes)
{
    nn_net *net = nn_net_create((nn_shape){12, 1, 1});
    nn_net_add(net, nn_reshape(3, 2, 2));
    nn_net_add(net, nn_flatten());
    gradcheck_finalized(net, 1);
    nn_shape s = nn_net_layer_out_shape(net, 0);
    ck_assert(s.c == 3 && s.h == 2 && s.w == 2);
    s = nn_net_out_shape(net);
    ck_assert(s.c == 12 && s.h == 1 && s.w == 1);
    nn_net_free(net);
}
END_TEST

START_TEST(test_params_are_contiguous)
{
    nn_net *net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_linear(3, true));
    nn_net_add(net, nn_relu());
    nn_net_add(net, nn_linear(2, true));
    gradcheck_finalized(net, 8);
    ck_assert_int_eq(nn_net_param_count(net), 4);
    ck_assert_uint_eq(nn_net_num_params(net), 12 + 3 + 6 + 2);
    float *base = nn_net_params(net);
    size_t off = 0;
    for (int i = 0; i < 4; i++) {
        nn_param *p = nn_net_param(net, i);
        ck_assert_ptr_eq(p->w, base + off);
        ck_assert_ptr_eq(p->g, nn_net_grads(net) + off);
        off += p->count;
    }
    nn_net_free(net);
}
END_TEST

START_TEST(test_finalize_out_of_memory_every_allocation)
{
    /* Fail each allocation of finalize in turn: each must report ENOMEM and
     * leave a net that frees cleanly (ASan checks the leaks). */
    for (long k = 1; k < 40; k++) {
        nn_net *net = nn_net_create((nn_shape){4, 1, 1});
        nn_net_add(net, nn_linear(3, true));
        nn_net_add(net, nn_relu());
        char err[256];
        gand_alloc_fail_at(k, false);
        gand_status st = nn_net_finalize(net, 8, err, sizeof err);
        long failed = gand_alloc_failures();
        gand_alloc_fail_at(0, false);
        if (failed == 0) {
            ck_assert_int_eq(st, GAND_OK);
            nn_net_free(net);
            ck_assert_int_gt(k, 3);
            return;
        }
        ck_assert_int_eq(st, GAND_ENOMEM);
        ck_assert_msg(strstr(err, "out of memory"), "%s", err);
        nn_net_free(net);
    }
    ck_abort_msg("finalize never succeeded");
}
END_TEST

START_TEST(test_constructor_oom_is_recorded)
{
    nn_net *net = nn_net_create((nn_shape){4, 1, 1});
    gand_alloc_fail_at(1, false);
    nn_net_add(net, nn_linear(3, true));
    gand_alloc_fail_at(0, false);
    nn_net_add(net, nn_relu());
    char err[256];
    ck_assert_int_eq(nn_net_finalize(net, 2, err, sizeof err), GAND_ENOMEM);
    nn_net_free(net);
}
END_TEST

START_TEST(test_adam_matches_closed_form)
{
    nn_net *net = nn_net_create((nn_shape){1, 1, 1});
    nn_net_add(net, nn_linear(1, true));
    gradcheck_finalized(net, 1);
    float *w = nn_net_params(net), *g = nn_net_grads(net);
    w[0] = 1.0f;
    w[1] = -1.0f;
    nn_adam_params p = {.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    /* Constant gradients: each step moves by lr * m_hat / sqrt(v_hat) = lr. */
    for (int t = 0; t < 3; t++) {
        g[0] = 0.5f;
        g[1] = -2.0f;
        nn_adam_step(net, &p);
    }
    ck_assert_float_eq_tol(w[0], 1.0f - 0.3f, 1e-5f);
    ck_assert_float_eq_tol(w[1], -1.0f + 0.3f, 1e-5f);
    ck_assert_int_eq(nn_net_steps(net), 3);
    /* m after 3 steps of constant g: g (1 - 0.9^3) */
    ck_assert_float_eq_tol(nn_net_moment1(net)[0], 0.5f * (1.0f - 0.729f), 1e-6f);

    /* weight decay adds wd * w to the gradient */
    nn_net_set_steps(net, 0);
    memset(nn_net_moment1(net), 0, 2 * sizeof(float));
    memset(nn_net_moment2(net), 0, 2 * sizeof(float));
    w[0] = 2.0f;
    g[0] = 0.0f;
    p.weight_decay = 0.5f;
    nn_adam_step(net, &p);
    /* g_eff = 1.0 > 0: step of exactly -lr */
    ck_assert_float_eq_tol(w[0], 1.9f, 1e-5f);
    nn_net_free(net);
}
END_TEST

START_TEST(test_sgd_momentum)
{
    nn_net *net = nn_net_create((nn_shape){1, 1, 1});
    nn_net_add(net, nn_linear(1, false));
    gradcheck_finalized(net, 1);
    float *w = nn_net_params(net), *g = nn_net_grads(net);
    w[0] = 0.0f;
    nn_sgd_params p = {.lr = 0.1f, .momentum = 0.9f};
    g[0] = 1.0f;
    nn_sgd_step(net, &p); /* buf = 1, w = -0.1 */
    nn_sgd_step(net, &p); /* buf = 1.9, w = -0.29 */
    ck_assert_float_eq_tol(w[0], -0.29f, 1e-6f);
    nn_net_clip_params(net, 0.01f);
    ck_assert_float_eq(w[0], -0.01f);
    nn_net_free(net);
}
END_TEST

START_TEST(test_rmsprop)
{
    nn_net *net = nn_net_create((nn_shape){1, 1, 1});
    nn_net_add(net, nn_linear(1, false));
    gradcheck_finalized(net, 1);
    float *w = nn_net_params(net), *g = nn_net_grads(net);
    w[0] = 1.0f;
    nn_rmsprop_params p = {.lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f};
    g[0] = 2.0f;
    nn_rmsprop_step(net, &p); /* v = 0.04, step = 0.01 * 2 / 0.2 = 0.1 */
    ck_assert_float_eq_tol(w[0], 0.9f, 1e-6f);
    g[0] = 2.0f;
    nn_rmsprop_step(net, &p); /* v = 0.0796, step = 0.02 / sqrt(0.0796) */
    ck_assert_float_eq_tol(w[0], 0.9f - 0.02f / sqrtf(0.0796f), 1e-6f);
    ck_assert_float_eq_tol(nn_net_moment2(net)[0], 0.0796f, 1e-7f);
    nn_net_free(net);
}
END_TEST

START_TEST(test_init_schemes)
{
    gand_rng rng;
    gand_rng_seed(&rng, 5);
    nn_net *net = nn_net_create((nn_shape){400, 1, 1});
    nn_net_add(net, nn_linear(100, true));
    gradcheck_finalized(net, 1);
    nn_param *w = nn_net_param(net, 0), *b = nn_net_param(net, 1);

    nn_net_init(net, &rng, NN_INIT_DCGAN);
    double s = 0, sq = 0;
    for (size_t i = 0; i < w->count; i++) {
        s += w->w[i];
        sq += (double)w->w[i] * w->w[i];
    }
    ck_assert_double_lt(fabs(s / w->count), 0.001);
    ck_assert_double_lt(fabs(sqrt(sq / w->count) - 0.02), 0.001);
    for (size_t i = 0; i < b->count; i++)
        ck_assert(b->w[i] == 0.0f);

    nn_net_init(net, &rng, NN_INIT_XAVIER_UNIFORM);
    float a = sqrtf(6.0f / 500.0f), mx = 0;
    for (size_t i = 0; i < w->count; i++)
        mx = fmaxf(mx, fabsf(w->w[i]));
    ck_assert(mx <= a && mx > 0.95f * a);

    nn_net_init(net, &rng, NN_INIT_KAIMING_UNIFORM);
    a = sqrtf(6.0f / 400.0f);
    mx = 0;
    for (size_t i = 0; i < w->count; i++)
        mx = fmaxf(mx, fabsf(w->w[i]));
    ck_assert(mx <= a && mx > 0.95f * a);

    nn_net_init(net, &rng, NN_INIT_DEFAULT);
    a = 1.0f / 20.0f;
    mx = 0;
    for (size_t i = 0; i < b->count; i++)
        mx = fmaxf(mx, fabsf(b->w[i]));
    ck_assert(mx <= a && mx > 0.8f * a);

    /* same seed, same bytes */
    float *copy = malloc(nn_net_num_params(net) * sizeof(float));
    gand_rng_seed(&rng, 9);
    nn_net_init(net, &rng, NN_INIT_DCGAN);
    memcpy(copy, nn_net_params(net), nn_net_num_params(net) * sizeof(float));
    gand_rng_seed(&rng, 9);
    nn_net_init(net, &rng, NN_INIT_DCGAN);
    ck_assert_int_eq(memcmp(copy, nn_net_params(net), nn_net_num_params(net) * sizeof(float)), 0);
    free(copy);
    nn_net_free(net);
}
END_TEST

START_TEST(test_grads_accumulate_until_zeroed)
{
    gand_rng rng;
    gand_rng_seed(&rng, 11);
    nn_net *net = nn_net_create((nn_shape){3, 1, 1});
    nn_net_add(net, nn_linear(2, true));
    gradcheck_finalized(net, 2);
    nn_net_init(net, &rng, NN_INIT_DEFAULT);
    float x[6] = {1, 2, 3, 4, 5, 6}, dy[4] = {1, -1, 0.5f, 2};
    nn_net_zero_grad(net);
    nn_net_forward(net, x, 2, true, NULL);
    nn_net_backward(net, dy, false);
    float once[8];
    memcpy(once, nn_net_grads(net), sizeof once);
    nn_net_forward(net, x, 2, true, NULL);
    nn_net_backward(net, dy, false);
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq_tol(nn_net_grads(net)[i], 2 * once[i], 1e-5f);
    nn_net_zero_grad(net);
    for (int i = 0; i < 8; i++)
        ck_assert(nn_net_grads(net)[i] == 0.0f);
    nn_net_free(net);
}
END_TEST

static Suite *nn_suite(void)
{
    Suite *s = suite_create("nn");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rng_deterministic_and_distributed);
    tcase_add_test(tc, test_linear_forward_values);
    tcase_add_test(tc, test_linear_gradcheck);
    tcase_add_test(tc, test_activation_gradchecks);
    tcase_add_test(tc, test_activation_values);
    tcase_add_test(tc, test_shape_errors_are_explained);
    tcase_add_test(tc, test_reshape_shapes);
    tcase_add_test(tc, test_params_are_contiguous);
    tcase_add_test(tc, test_finalize_out_of_memory_every_allocation);
    tcase_add_test(tc, test_constructor_oom_is_recorded);
    tcase_add_test(tc, test_adam_matches_closed_form);
    tcase_add_test(tc, test_sgd_momentum);
    tcase_add_test(tc, test_rmsprop);
    tcase_add_test(tc, test_init_schemes);
    tcase_add_test(tc, test_grads_accumulate_until_zeroed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(nn_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
