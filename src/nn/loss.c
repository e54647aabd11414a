/* Losses with mean reduction; see include/gand/nn_loss.h for the formulas.
 * Each term is formed in double so that a mean over a large batch of small
 * losses keeps its digits. */
#include "gand/nn_loss.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>

/* Stable sigmoid: exp only ever sees a non-positive argument. */
static double sigmoid(double x)
{
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static double bce_term(double x, double t)
{
    return fmax(x, 0.0) - x * t + log1p(exp(-fabs(x)));
}

/* x is (n); t is (n), or NULL with every target tc */
static float bce(const float *x, const float *t, float tc, int n, float *grad)
{
    double sum = 0.0, inv = 1.0 / n;
    for (int i = 0; i < n; i++) {
        double ti = t ? t[i] : tc;
        sum += bce_term(x[i], ti);
        if (grad)
            grad[i] = (float)((sigmoid(x[i]) - ti) * inv);
    }
    return (float)(sum * inv);
}

float nn_loss_bce_logits(const float *x, const float *t, int n, float *grad)
{
    return bce(x, t, 0.0f, n, grad);
}

float nn_loss_bce_logits_const(const float *x, int n, float target, float *grad)
{
    return bce(x, NULL, target, n, grad);
}

/* pred is (n); t is (n), or NULL with every target tc */
static float mse(const float *pred, const float *t, float tc, int n, float *grad)
{
    double sum = 0.0, inv = 1.0 / n;
    for (int i = 0; i < n; i++) {
        double d = (double)pred[i] - (t ? t[i] : tc);
        sum += d * d;
        if (grad)
            grad[i] = (float)(2.0 * d * inv);
    }
    return (float)(sum * inv);
}

float nn_loss_mse(const float *pred, const float *t, int n, float *grad)
{
    return mse(pred, t, 0.0f, n, grad);
}

float nn_loss_mse_const(const float *pred, int n, float target, float *grad)
{
    return mse(pred, NULL, target, n, grad);
}

float nn_loss_l1(const float *pred, const float *t, int n, float *grad)
{
    double sum = 0.0, inv = 1.0 / n;
    for (int i = 0; i < n; i++) {
        double d = (double)pred[i] - t[i];
        sum += fabs(d);
        if (grad)
            grad[i] = (float)((d > 0.0) - (d < 0.0)) * (float)inv;
    }
    return (float)(sum * inv);
}

/* mean(relu(1 - sign x)); sign +1 for real, -1 for fake */
static float hinge(const float *x, int n, double sign, float *grad)
{
    double sum = 0.0, inv = 1.0 / n;
    for (int i = 0; i < n; i++) {
        double m = 1.0 - sign * x[i];
        if (m > 0.0)
            sum += m;
        if (grad)
            grad[i] = m > 0.0 ? (float)(-sign * inv) : 0.0f;
    }
    return (float)(sum * inv);
}

float nn_loss_hinge_real(const float *x, int n, float *grad) { return hinge(x, n, 1.0, grad); }
float nn_loss_hinge_fake(const float *x, int n, float *grad) { return hinge(x, n, -1.0, grad); }

float nn_loss_mean(const float *x, int n, float sign, float *grad)
{
    double sum = 0.0, inv = 1.0 / n;
    for (int i = 0; i < n; i++) {
        sum += x[i];
        if (grad)
            grad[i] = (float)(sign * inv);
    }
    return (float)(sign * sum * inv);
}

/* logits is (n, k), labels is (n), grad is (n, k) */
float nn_loss_softmax_ce(const float *logits, const int *labels, int n, int k, float *grad)
{
    double sum = 0.0, inv = 1.0 / n;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int y = labels[i];
        assert(y >= 0 && y < k);
        double mx = z[0];
        for (int j = 1; j < k; j++)
            mx = fmax(mx, z[j]);
        double se = 0.0;
        for (int j = 0; j < k; j++)
            se += exp(z[j] - mx);
        double lse = mx + log(se);
        sum += lse - z[y];
        if (grad) {
            float *g = grad + (size_t)i * k;
            for (int j = 0; j < k; j++)
                g[j] = (float)((exp(z[j] - lse) - (j == y)) * inv);
        }
    }
    return (float)(sum * inv);
}

int nn_loss_count_correct(const float *logits, const int *labels, int n, int k)
{
    int hits = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[best])
                best = j;
        hits += best == labels[i];
    }
    return hits;
}

/* mu, logvar, t, grad_mu, grad_logvar are (n, d) */
float nn_loss_gaussian_nll(const float *mu, const float *logvar, const float *t, int n, int d,
                           float *grad_mu, float *grad_logvar)
{
    double sum = 0.0, inv = 1.0 / n;
    size_t total = (size_t)n * d;
    for (size_t i = 0; i < total; i++) {
        double lv = logvar ? logvar[i] : 0.0;
        double prec = exp(-lv);
        double diff = (double)t[i] - mu[i];
        double sq = diff * diff;
        sum += 0.5 * (lv + sq * prec);
        if (grad_mu)
            grad_mu[i] = (float)(-diff * prec * inv);
        if (logvar && grad_logvar)
            grad_logvar[i] = (float)(0.5 * (1.0 - sq * prec) * inv);
    }
    return (float)(sum * inv);
}
