/* Losses: values against hand-computed numbers (extreme logits included)
 * and finite-difference gradient checks. */
#include "gradcheck.h"

#include "gand/nn_loss.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Loss gradient checks use their own tolerances. The losses are smooth
 * functions formed in double, so with step h = 1e-3 the truncation error
 * (h^2 / 6 times a third derivative of order 1 / n) is below 1e-7. What
 * remains is float rounding: x +- h is rounded to float (6e-8 per unit of
 * |x| on a 2h = 2e-3 difference: 3e-5 relative for |x| ~ 1), and the loss
 * is returned as a float (6e-8 |L| / 2h = 3e-5 per unit of loss; the MSE
 * here reaches L ~ 5, measured worst error 1.3e-4). Gradients here are of
 * order 1/n = 0.125, so atol 5e-4 + rtol 1e-3 admits rounding while a
 * wrong factor, sign or missing term (off by 10% or more) fails. Inputs are
 * kept further than h from the kinks of L1 and hinge. */
#define LOSS_H 1e-3
#define LOSS_ATOL 5e-4
#define LOSS_RTOL 1e-3

static void assert_close(const float *a, const double *b, int n, double tol)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(fabs(a[i] - b[i]) <= tol, "[%d]: got %.9g, expected %.9g", i, a[i], b[i]);
}

START_TEST(test_bce_values_and_extreme_logits)
{
    const float x[5] = {0.0f, 2.0f, -3.0f, 100.0f, -100.0f};
    float g[5];
    /* max(x,0) - x t + log1p(exp(-|x|)), each term by hand:
     * t = 1: log 2, log1p(e^-2), 3 + log1p(e^-3), ~3.7e-44, 100 */
    float v = nn_loss_bce_logits_const(x, 5, 1.0f, g);
    ck_assert_float_eq_tol(v, 20.77373250863533f, 2e-5f);
    assert_close(g, (double[]){-0.1, -0.023840584404423538, -0.19051482536448666, 0.0, -0.2}, 5,
                 1e-7);
    /* t = 0: log 2, 2 + log1p(e^-2), log1p(e^-3), 100, ~0 */
    v = nn_loss_bce_logits_const(x, 5, 0.0f, g);
    ck_assert_float_eq_tol(v, 20.57373250863533f, 2e-5f);
    ck_assert_float_eq_tol(g[3], 0.2f, 1e-7f);
    ck_assert_float_eq_tol(g[4], 0.0f, 1e-7f);
    /* label smoothing, t = 0.9: x = 100 costs 100 - 90, x = -100 costs 90 */
    v = nn_loss_bce_logits_const(x, 5, 0.9f, NULL);
    ck_assert_float_eq_tol(v, 20.75373250863533f, 2e-5f);
    for (int i = 0; i < 5; i++)
        ck_assert(isfinite(g[i]));

    /* one logit alone at each extreme: exact, finite */
    ck_assert_float_eq(nn_loss_bce_logits_const(&x[4], 1, 1.0f, g), 100.0f);
    ck_assert_float_eq_tol(g[0], -1.0f, 1e-7f);
    v = nn_loss_bce_logits_const(&x[3], 1, 1.0f, g); /* log1p(e^-100), a float denormal */
    ck_assert(v >= 0.0f && v < 1e-40f);
    ck_assert_float_eq(g[0], 0.0f);
    float huge[2] = {1e30f, -1e30f};
    v = nn_loss_bce_logits_const(huge, 2, 1.0f, g);
    ck_assert(isfinite(v) && isfinite(g[0]) && isfinite(g[1]));
    ck_assert_float_eq_tol(v, 0.5e30f, 1e24f);

    /* per-element targets give the same terms */
    const float t[5] = {1.0f, 0.0f, 0.9f, 1.0f, 0.0f};
    v = nn_loss_bce_logits(x, t, 5, g);
    ck_assert_float_eq_tol(v, (0.6931471805599453 + 2.1269280110429727 + 2.7485873515737422 +
                               3.72e-44 + 3.72e-44) /
                                  5,
                           1e-5f);
    ck_assert_float_eq_tol(g[2], (1.0 / (1.0 + exp(3.0)) - 0.9) / 5, 1e-7f);
}
END_TEST

START_TEST(test_mse_l1_values)
{
    const float p[3] = {1.0f, 2.0f, 3.0f}, t[3] = {0.0f, 2.0f, 5.0f};
    float g[3];
    ck_assert_float_eq_tol(nn_loss_mse(p, t, 3, g), 5.0f / 3.0f, 1e-6f);
    assert_close(g, (double[]){2.0 / 3, 0.0, -4.0 / 3}, 3, 1e-7);
    ck_assert_float_eq_tol(nn_loss_l1(p, t, 3, g), 1.0f, 1e-6f);
    assert_close(g, (double[]){1.0 / 3, 0.0, -1.0 / 3}, 3, 1e-7);

    const float q[2] = {1.0f, -1.0f};
    ck_assert_float_eq_tol(nn_loss_mse_const(q, 2, 1.0f, g), 2.0f, 1e-6f);
    assert_close(g, (double[]){0.0, -2.0}, 2, 1e-7);
    /* LSGAN with a = -1: (2^2 + 0^2) / 2 */
    ck_assert_float_eq_tol(nn_loss_mse_const(q, 2, -1.0f, NULL), 2.0f, 1e-6f);
}
END_TEST

START_TEST(test_hinge_and_mean_values)
{
    const float x[3] = {-2.0f, 0.5f, 3.0f};
    float g[3];
    /* relu(1 - x) = 3, 0.5, 0 */
    ck_assert_float_eq_tol(nn_loss_hinge_real(x, 3, g), 3.5f / 3.0f, 1e-6f);
    assert_close(g, (double[]){-1.0 / 3, -1.0 / 3, 0.0}, 3, 1e-7);
    /* relu(1 + x) = 0, 1.5, 4 */
    ck_assert_float_eq_tol(nn_loss_hinge_fake(x, 3, g), 5.5f / 3.0f, 1e-6f);
    assert_close(g, (double[]){0.0, 1.0 / 3, 1.0 / 3}, 3, 1e-7);

    const float real[4] = {1.0f, 2.0f, 3.0f, 6.0f}, fake[2] = {-1.0f, 0.0f};
    float gr[4], gf[2];
    ck_assert_float_eq_tol(nn_loss_mean(real, 4, -1.0f, gr), -3.0f, 1e-6f);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(gr[i], -0.25f, 1e-7f);
    /* Wasserstein critic: mean(fake) - mean(real) = -0.5 - 3 */
    float critic = nn_loss_mean(fake, 2, 1.0f, gf) + nn_loss_mean(real, 4, -1.0f, gr);
    ck_assert_float_eq_tol(critic, -3.5f, 1e-6f);
    ck_assert_float_eq_tol(gf[0], 0.5f, 1e-7f);
}
END_TEST

START_TEST(test_softmax_ce_values_and_accuracy)
{
    const float z[9] = {1.0f, 2.0f, 3.0f, 1000.0f, 0.0f, -1000.0f, 5.0f, 5.0f, 0.0f};
    const int y[3] = {2, 1, 0};
    float g[9];
    /* row 0: log(e + e^2 + e^3) - 3; row 1: 1000 (no overflow);
     * row 2: log(2 e^5 + 1) - 5 */
    double r0 = 3.4076059644443806 - 3.0, r1 = 1000.0;
    double r2 = log(2.0 * exp(5.0) + 1.0) - 5.0;
    float v = nn_loss_softmax_ce(z, y, 3, 3, g);
    ck_assert(isfinite(v));
    ck_assert_float_eq_tol(v, (r0 + r1 + r2) / 3.0, 1e-4f);
    double e1 = exp(1.0), e2 = exp(2.0), e3 = exp(3.0), s = e1 + e2 + e3;
    assert_close(g, (double[]){e1 / s / 3, e2 / s / 3, (e3 / s - 1) / 3, 1.0 / 3, -1.0 / 3, 0.0},
                 6, 1e-7);
    for (int i = 0; i < 9; i++)
        ck_assert(isfinite(g[i]));
    /* argmax 2, 0, 0 (first of the tie): rows 0 and 2 right */
    ck_assert_int_eq(nn_loss_count_correct(z, y, 3, 3), 2);
    const int none[3] = {0, 2, 1};
    ck_assert_int_eq(nn_loss_count_correct(z, none, 3, 3), 0);
}
END_TEST

START_TEST(test_gaussian_nll_values)
{
    const float mu[4] = {0.0f, 1.0f, 2.0f, -1.0f}, t[4] = {1.0f, 1.0f, 0.0f, -1.0f};
    float gm[4], gl[4];
    /* unit variance: per row 0.5 sum (t - mu)^2: 0.5, 2; mean 1.25 */
    ck_assert_float_eq_tol(nn_loss_gaussian_nll(mu, NULL, t, 2, 2, gm, gl), 1.25f, 1e-6f);
    assert_close(gm, (double[]){-0.5, 0.0, 1.0, 0.0}, 4, 1e-7);
    /* row 0: 0.5 (log 4 + 1/4) + 0.5 (0 + 0); row 1: 0.5 (-log 2 + 4 * 2) + 0 */
    const float lv[4] = {logf(4.0f), 0.0f, -logf(2.0f), 0.0f};
    float v = nn_loss_gaussian_nll(mu, lv, t, 2, 2, gm, gl);
    ck_assert_float_eq_tol(v, (0.8181471805599453 + 0.5 * (8.0 - log(2.0))) / 2.0, 1e-6f);
    assert_close(gm, (double[]){-0.25 / 2, 0.0, 2.0 * 2.0 / 2, 0.0}, 4, 1e-6);
    assert_close(gl, (double[]){0.5 * 0.75 / 2, 0.25, 0.5 * (1 - 8.0) / 2, 0.25}, 4, 1e-6);
}
END_TEST

/* ---- gradient checks ---- */

typedef struct {
    const float *t;
    const int *labels;
    float target, sign;
    int k, d;
    int which;
} loss_ctx;

enum { L_BCE, L_BCE_CONST, L_MSE, L_MSE_CONST, L_L1, L_HINGE_REAL, L_HINGE_FAKE, L_MEAN };

static double elementwise(const float *p, int n, float *g, void *vctx)
{
    loss_ctx *c = vctx;
    switch (c->which) {
    case L_BCE:
        return nn_loss_bce_logits(p, c->t, n, g);
    case L_BCE_CONST:
        return nn_loss_bce_logits_const(p, n, c->target, g);
    case L_MSE:
        return nn_loss_mse(p, c->t, n, g);
    case L_MSE_CONST:
        return nn_loss_mse_const(p, n, c->target, g);
    case L_L1:
        return nn_loss_l1(p, c->t, n, g);
    case L_HINGE_REAL:
        return nn_loss_hinge_real(p, n, g);
    case L_HINGE_FAKE:
        return nn_loss_hinge_fake(p, n, g);
    default:
        return nn_loss_mean(p, n, c->sign, g);
    }
}

/* Moves values within 0.05 of a kink at k to k +- 0.05. */
static void avoid(float *p, const float *t, int n, float k)
{
    for (int i = 0; i < n; i++) {
        float d = p[i] - (t ? t[i] : k);
        if (fabsf(d) < 0.05f)
            p[i] = (t ? t[i] : k) + (d < 0 ? -0.05f : 0.05f);
    }
}

START_TEST(test_elementwise_gradchecks)
{
    enum { N = 8 };
    float p[N], t[N];
    gradcheck_fill(t, N, 0.0f, 1.0f, 21);
    for (int which = L_BCE; which <= L_MEAN; which++) {
        loss_ctx c = {.t = t, .target = 0.9f, .sign = -1.0f, .which = which};
        gradcheck_fill(p, N, -3.0f, 3.0f, 22 + (unsigned long)which);
        if (which == L_L1)
            avoid(p, t, N, 0.0f);
        if (which == L_HINGE_REAL)
            avoid(p, NULL, N, 1.0f);
        if (which == L_HINGE_FAKE)
            avoid(p, NULL, N, -1.0f);
        gradcheck_result r = gradcheck_loss(elementwise, &c, p, N, LOSS_H, LOSS_ATOL, LOSS_RTOL);
        ck_assert_msg(r.failures == 0, "loss %d: %s", which, r.first_failure);
        ck_assert_int_eq(r.checked, N);
    }
}
END_TEST

static double softmax_fn(const float *p, int n, float *g, void *vctx)
{
    loss_ctx *c = vctx;
    return nn_loss_softmax_ce(p, c->labels, n / c->k, c->k, g);
}

START_TEST(test_softmax_ce_gradcheck)
{
    enum { ROWS = 3, K = 4 };
    const int labels[ROWS] = {0, 3, 2};
    float z[ROWS * K];
    gradcheck_fill(z, ROWS * K, -4.0f, 4.0f, 31);
    loss_ctx c = {.labels = labels, .k = K};
    gradcheck_result r = gradcheck_loss(softmax_fn, &c, z, ROWS * K, LOSS_H, LOSS_ATOL, LOSS_RTOL);
    ASSERT_GRADS_OK(r);
}
END_TEST

/* pred is [mu (n, d) | logvar (n, d)], or mu alone for unit variance */
static double nll_fn(const float *p, int len, float *g, void *vctx)
{
    loss_ctx *c = vctx;
    if (c->which == 0)
        return nn_loss_gaussian_nll(p, NULL, c->t, len / c->d, c->d, g, NULL);
    int nd = len / 2;
    return nn_loss_gaussian_nll(p, p + nd, c->t, nd / c->d, c->d, g, g + nd);
}

START_TEST(test_gaussian_nll_gradcheck)
{
    enum { ROWS = 3, D = 2 };
    float t[ROWS * D], p[2 * ROWS * D];
    gradcheck_fill(t, ROWS * D, -1.0f, 1.0f, 41);
    gradcheck_fill(p, ROWS * D, -1.0f, 1.0f, 42);
    gradcheck_fill(p + ROWS * D, ROWS * D, -1.0f, 1.0f, 43);
    loss_ctx c = {.t = t, .d = D, .which = 1};
    gradcheck_result r = gradcheck_loss(nll_fn, &c, p, 2 * ROWS * D, LOSS_H, LOSS_ATOL, LOSS_RTOL);
    ASSERT_GRADS_OK(r);
    c.which = 0;
    r = gradcheck_loss(nll_fn, &c, p, ROWS * D, LOSS_H, LOSS_ATOL, LOSS_RTOL);
    ASSERT_GRADS_OK(r);
}
END_TEST

START_TEST(test_grad_is_written_not_accumulated)
{
    const float x[2] = {0.0f, 1.0f};
    float g[2] = {123.0f, -7.0f};
    nn_loss_mse_const(x, 2, 0.0f, g);
    ck_assert_float_eq(g[0], 0.0f);
    ck_assert_float_eq_tol(g[1], 1.0f, 1e-7f);
    g[0] = 55.0f;
    nn_loss_bce_logits_const(x, 2, 0.5f, g);
    ck_assert_float_eq(g[0], 0.0f);
}
END_TEST

static Suite *loss_suite(void)
{
    Suite *s = suite_create("nn_loss");
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, test_bce_values_and_extreme_logits);
    tcase_add_test(tc, test_mse_l1_values);
    tcase_add_test(tc, test_hinge_and_mean_values);
    tcase_add_test(tc, test_softmax_ce_values_and_accuracy);
    tcase_add_test(tc, test_gaussian_nll_values);
    tcase_add_test(tc, test_elementwise_gradchecks);
    tcase_add_test(tc, test_softmax_ce_gradcheck);
    tcase_add_test(tc, test_gaussian_nll_gradcheck);
    tcase_add_test(tc, test_grad_is_written_not_accumulated);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loss_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
