/* Finite-difference gradient checks for nn layers and nets (test helper).
 *
 * The scalar checked is L = sum_i r_i * y_i with fixed random r, so dL/dy = r.
 * Central differences use step h on each checked input and parameter value;
 * with float32 forwards and L summed in double, the truncation error is
 * O(h^2) and the rounding error about 1e-7 * |L| / h, so h = 1e-2 and a
 * tolerance of |a - f| <= 2e-3 + 2e-2 * max(|a|, |f|) catch any wrong term
 * (a wrong gradient is typically off by O(1) relative) without flagging
 * rounding. Layers with kinks (ReLU) must be fed inputs away from them. */
#ifndef GAND_TEST_GRADCHECK_H
#define GAND_TEST_GRADCHECK_H

#include "gand/nn.h"

typedef struct {
    double max_abs_err;  /* largest |analytic - numeric| */
    double max_rel_err;  /* largest |a - f| / max(|a|, |f|, 1e-3) */
    int checked;         /* values compared */
    int failures;        /* values outside the tolerance */
    char first_failure[200];
} gradcheck_result;

/* Checks d L / d x and d L / d every parameter of a finalized net on input
 * x (n samples). train selects training-mode forwards; rng_seed reseeds the
 * forward's rng before every evaluation so stochastic layers repeat their
 * masks. At most max_per_tensor values of each tensor are checked (spread
 * evenly), 0 = all. h is the finite difference step. */
gradcheck_result gradcheck_net(nn_net *net, float *x, int n, bool train, unsigned long rng_seed,
                               int max_per_tensor, double h, double atol, double rtol);

/* Default tolerances as justified above. */
#define GRADCHECK_H 1e-2
#define GRADCHECK_ATOL 2e-3
#define GRADCHECK_RTOL 2e-2

/* Checks the gradient of a loss function f(pred) -> value, writing grad. */
typedef double (*gradcheck_loss_fn)(const float *pred, int n, float *grad, void *ctx);
gradcheck_result gradcheck_loss(gradcheck_loss_fn f, void *ctx, float *pred, int n, double h,
                                double atol, double rtol);

/* Fails the test (libcheck) unless res checked something and found every
 * gradient within tolerance, naming the first wrong one. */
#define ASSERT_GRADS_OK(res)                                                                    \
    do {                                                                                         \
        ck_assert_msg((res).checked > 0, "nothing was checked");                                 \
        ck_assert_msg((res).failures == 0, "%d of %d gradients wrong, first %s", (res).failures, \
                      (res).checked, (res).first_failure);                                       \
    } while (0)

/* Finalizes net for batches of up to batch, failing the test with the
 * net's message when that fails. Returns net. */
nn_net *gradcheck_finalized(nn_net *net, int batch);

/* Initialises net's parameters with NN_INIT_DEFAULT from seed. */
void gradcheck_init(nn_net *net, unsigned long seed);

/* Checks net on n inputs uniform in [lo, hi) drawn from seed, with the
 * default tolerances, failing the test on any wrong gradient. */
void gradcheck_assert_net(nn_net *net, int n, bool train, float lo, float hi,
                          unsigned long seed);

/* Fills a with n values uniform in [lo, hi) from a fixed-seed generator. */
void gradcheck_fill(float *a, size_t n, float lo, float hi, unsigned long seed);

#endif
