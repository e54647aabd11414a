#include "gradcheck.h"

#include "gand/rng.h"

#include <check.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gradcheck_fill(float *a, size_t n, float lo, float hi, unsigned long seed)
{
    gand_rng r;
    gand_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        a[i] = lo + (hi - lo) * gand_rng_uniform(&r);
}

static void compare(gradcheck_result *res, const char *what, size_t idx, double a, double f,
                    double atol, double rtol)
{
    double d = fabs(a - f);
    double m = fmax(fabs(a), fabs(f));
    double rel = d / fmax(m, 1e-3);
    res->checked++;
    if (d > res->max_abs_err)
        res->max_abs_err = d;
    if (rel > res->max_rel_err)
        res->max_rel_err = rel;
    if (d > atol + rtol * m) {
        if (res->failures == 0)
            snprintf(res->first_failure, sizeof res->first_failure,
                     "%s[%zu]: analytic %.6g, numeric %.6g", what, idx, a, f);
        res->failures++;
    }
}

static double eval(nn_net *net, const float *x, int n, bool train, unsigned long seed,
                   const float *r)
{
    gand_rng rng;
    gand_rng_seed(&rng, seed);
    const float *y = nn_net_forward(net, x, n, train, &rng);
    size_t ny = (size_t)n * nn_shape_size(nn_net_out_shape(net));
    double L = 0.0;
    for (size_t i = 0; i < ny; i++)
        L += (double)r[i] * y[i];
    return L;
}

/* Non-trainable state (running statistics) changes on every training
 * forward; restore it so each evaluation sees the same net. */
gradcheck_result gradcheck_net(nn_net *net, float *x, int n, bool train, unsigned long rng_seed,
                               int max_per_tensor, double h, double atol, double rtol)
{
    gradcheck_result res = {0};
    size_t ny = (size_t)n * nn_shape_size(nn_net_out_shape(net));
    size_t nx = (size_t)n * nn_shape_size(nn_net_in_shape(net));
    size_t ns = nn_net_num_state(net);
    float *r = malloc(ny * sizeof *r);
    float *state0 = malloc((ns ? ns : 1) * sizeof *state0);
    float *dx = malloc(nx * sizeof *dx);
    float *grads = malloc((nn_net_num_params(net) + 1) * sizeof *grads);
    gradcheck_fill(r, ny, -1.0f, 1.0f, 4242);
    memcpy(state0, nn_net_state(net), ns * sizeof(float));

    nn_net_zero_grad(net);
    eval(net, x, n, train, rng_seed, r);
    memcpy(dx, nn_net_backward(net, r, true), nx * sizeof(float));
    memcpy(grads, nn_net_grads(net), nn_net_num_params(net) * sizeof(float));

    size_t stride = max_per_tensor > 0 && nx > (size_t)max_per_tensor ? nx / max_per_tensor : 1;
    for (size_t i = 0; i < nx; i += stride) {
        float save = x[i];
        x[i] = (float)(save + h);
        memcpy(nn_net_state(net), state0, ns * sizeof(float));
        double lp = eval(net, x, n, train, rng_seed, r);
        x[i] = (float)(save - h);
        memcpy(nn_net_state(net), state0, ns * sizeof(float));
        double lm = eval(net, x, n, train, rng_seed, r);
        x[i] = save;
        compare(&res, "input", i, dx[i], (lp - lm) / (2.0 * h), atol, rtol);
    }
    float *pbase = nn_net_params(net);
    for (int k = 0; k < nn_net_param_count(net); k++) {
        nn_param *p = nn_net_param(net, k);
        if (!p->trainable)
            continue;
        size_t off = (size_t)(p->w - pbase);
        size_t st = max_per_tensor > 0 && p->count > (size_t)max_per_tensor
                        ? p->count / max_per_tensor
                        : 1;
        for (size_t i = 0; i < p->count; i += st) {
            float save = p->w[i];
            p->w[i] = (float)(save + h);
            memcpy(nn_net_state(net), state0, ns * sizeof(float));
            double lp = eval(net, x, n, train, rng_seed, r);
            p->w[i] = (float)(save - h);
            memcpy(nn_net_state(net), state0, ns * sizeof(float));
            double lm = eval(net, x, n, train, rng_seed, r);
            p->w[i] = save;
            compare(&res, p->name, i, grads[off + i], (lp - lm) / (2.0 * h), atol, rtol);
        }
    }
    memcpy(nn_net_state(net), state0, ns * sizeof(float));
    free(r);
    free(state0);
    free(dx);
    free(grads);
    return res;
}

gradcheck_result gradcheck_loss(gradcheck_loss_fn f, void *ctx, float *pred, int n, double h,
                                double atol, double rtol)
{
    gradcheck_result res = {0};
    float *g = malloc((size_t)n * sizeof *g);
    float *scratch = malloc((size_t)n * sizeof *scratch);
    f(pred, n, g, ctx);
    for (int i = 0; i < n; i++) {
        float save = pred[i];
        pred[i] = (float)(save + h);
        double lp = f(pred, n, scratch, ctx);
        pred[i] = (float)(save - h);
        double lm = f(pred, n, scratch, ctx);
        pred[i] = save;
        compare(&res, "pred", (size_t)i, g[i], (lp - lm) / (2.0 * h), atol, rtol);
    }
    free(g);
    free(scratch);
    return res;
}

nn_net *gradcheck_finalized(nn_net *net, int batch)
{
    char err[256];
    ck_assert_msg(nn_net_finalize(net, batch, err, sizeof err) == GAND_OK, "%s", err);
    return net;
}

void gradcheck_init(nn_net *net, unsigned long seed)
{
    gand_rng rng;
    gand_rng_seed(&rng, seed);
    nn_net_init(net, &rng, NN_INIT_DEFAULT);
}

void gradcheck_assert_net(nn_net *net, int n, bool train, float lo, float hi,
                          unsigned long seed)
{
    size_t nx = (size_t)n * nn_shape_size(nn_net_in_shape(net));
    float *x = malloc(nx * sizeof *x);
    gradcheck_fill(x, nx, lo, hi, seed);
    gradcheck_result r = gradcheck_net(net, x, n, train, 99, 0, GRADCHECK_H, GRADCHECK_ATOL,
                                       GRADCHECK_RTOL);
    free(x);
    ASSERT_GRADS_OK(r);
}
