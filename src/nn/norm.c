/* Batch and instance normalisation.
 *
 * Every kind normalises groups of values with one mean and variance each:
 * batch norm 1d a feature over the batch, batch norm 2d a channel over the
 * batch and the plane, instance norm a channel over one sample's plane. The
 * forward saves each group's mean and 1/sqrt(var + eps) in scratch, and the
 * backward recomputes xhat from x, so nothing of size n is kept.
 *
 * Backward with batch statistics (the full batch-norm gradient, through the
 * mean and the variance), per group of M values:
 *     dx = scale * istd * (dy - mean(dy) - xhat * mean(dy * xhat))
 * which, with A = scale * istd and B = A * istd^2 * sum(dy * (x - mean)) / M,
 * is dx = A dy - B (x - mean) - A sum(dy) / M. With running statistics
 * (evaluation) the mean and variance are constants and only A dy remains.
 * Values are centred before scaling (here and in the forward), so a mean
 * far from zero costs no precision. */
#include "layer.h"

#include <math.h>
#include <string.h>

#define NORM_EPS 1e-5f
#define NORM_MOMENTUM 0.1f
/* Features normalised together by batch norm 1d: keeps a chunk of the batch
 * in L2 across the statistics and normalisation passes. */
#define NORM_FCHUNK 512

typedef enum { NORM_BATCH1D, NORM_BATCH2D, NORM_INSTANCE } norm_kind;

typedef struct {
    norm_kind kind;
    bool affine;
    bool batch_stats; /* the last forward used batch statistics */
    int c;            /* groups per sample: features or channels */
    size_t len;       /* contiguous values per group and sample */
} norm_priv;

static gand_status norm_setup(nn_layer *l, char *err, size_t errlen)
{
    norm_priv *p = l->priv;
    if (p->kind == NORM_BATCH1D) {
        p->c = (int)nn_shape_size(l->in);
        p->len = 1;
    } else {
        p->c = l->in.c;
        p->len = (size_t)l->in.h * l->in.w;
    }
    if (p->kind == NORM_INSTANCE && p->len < 2)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "instance norm needs more than one value per channel, the input "
                           "is (%d,%d,%d); use batch norm for vectors",
                           l->in.c, l->in.h, l->in.w);
    if (p->affine) {
        nn_layer_param(l, "scale", true, 0, 0, 1, (int[]){p->c});
        nn_layer_param(l, "shift", true, 0, 0, 1, (int[]){p->c});
    }
    if (p->kind != NORM_INSTANCE) {
        nn_layer_param(l, "running_mean", false, 0, 0, 1, (int[]){p->c});
        nn_layer_param(l, "running_var", false, 0, 0, 1, (int[]){p->c});
    }
    return GAND_OK;
}

/* Statistics groups for a batch of n: one per channel, or per sample and
 * channel for instance norm. */
static size_t norm_groups(const norm_priv *p, int n)
{
    return p->kind == NORM_INSTANCE ? (size_t)n * p->c : (size_t)p->c;
}

/* Scratch: mean and istd per group (saved by the forward), then three
 * per-feature vectors for batch norm 1d's vectorised passes. */
static size_t norm_scratch_floats(const nn_layer *l, int n)
{
    const norm_priv *p = l->priv;
    return 2 * norm_groups(p, n) + 3 * (size_t)p->c;
}

static void norm_reset_running(nn_layer *l)
{
    norm_priv *p = l->priv;
    if (p->kind == NORM_INSTANCE)
        return;
    memset(l->params[2].w, 0, (size_t)p->c * sizeof(float));
    for (int i = 0; i < p->c; i++)
        l->params[3].w[i] = 1.0f;
}

static void norm_init(nn_layer *l, gand_rng *rng, nn_init scheme)
{
    for (int i = 0; i < l->nparams; i++)
        nn_param_init_default(&l->params[i], rng, scheme);
    norm_reset_running(l);
}

/* ---- kernels over one contiguous plane of len values ---- */

/* sum of x - k */
static float plane_dev(const float *restrict x, size_t len, float k)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += x[i + j] - k;
    float t = 0.0f;
    for (; i < len; i++)
        t += x[i] - k;
    for (int j = 0; j < 8; j++)
        t += acc[j];
    return t;
}

/* sum of (x - mean)^2 */
static float plane_sq_dev(const float *restrict x, size_t len, float mean)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += (x[i + j] - mean) * (x[i + j] - mean);
    float t = 0.0f;
    for (; i < len; i++)
        t += (x[i] - mean) * (x[i] - mean);
    for (int j = 0; j < 8; j++)
        t += acc[j];
    return t;
}

/* *sdy += sum dy, *sdyx += sum dy * (x - mean) */
static void plane_grad_sums(const float *restrict x, const float *restrict dy, size_t len,
                            float mean, double *sdy, double *sdyx)
{
    float a[8] = {0}, b[8] = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        for (int j = 0; j < 8; j++) {
            a[j] += dy[i + j];
            b[j] += dy[i + j] * (x[i + j] - mean);
        }
    }
    float ta = 0.0f, tb = 0.0f;
    for (; i < len; i++) {
        ta += dy[i];
        tb += dy[i] * (x[i] - mean);
    }
    for (int j = 0; j < 8; j++) {
        ta += a[j];
        tb += b[j];
    }
    *sdy += ta;
    *sdyx += tb;
}

/* y = a (x - mean) + b */
static void plane_affine(const float *restrict x, float *restrict y, size_t len, float mean,
                         float a, float b)
{
    for (size_t i = 0; i < len; i++)
        y[i] = a * (x[i] - mean) + b;
}

/* dx = A dy - B (x - mean) + c0 */
static void plane_dx(const float *restrict x, const float *restrict dy, float *restrict dx,
                     size_t len, float mean, float A, float B, float c0)
{
    for (size_t i = 0; i < len; i++)
        dx[i] = A * dy[i] - B * (x[i] - mean) + c0;
}

/* ---- groups of planes: m planes of len values, plane i at x + i * stride ---- */

/* Batch mean and biased variance of the group, accumulated in double
 * across planes. The mean sums deviations from the group's first value so
 * that an offset far from zero does not eat the float accumulators. */
static void group_stats(const float *x, int m, size_t stride, size_t len, float *mean, float *var)
{
    double s = 0.0, v = 0.0;
    for (int i = 0; i < m; i++)
        s += plane_dev(x + i * stride, len, x[0]);
    float mu = (float)(x[0] + s / ((double)m * len));
    for (int i = 0; i < m; i++)
        v += plane_sq_dev(x + i * stride, len, mu);
    *mean = mu;
    *var = (float)(v / ((double)m * len));
}

/* Backward of one group. gamma is its scale (1 without affine); dscale and
 * dshift (NULL without affine) are added to. dx may be NULL. */
static void group_backward(const float *x, const float *dy, float *dx, int m, size_t stride,
                           size_t len, float mean, float istd, float gamma, bool batch_stats,
                           float *dscale, float *dshift)
{
    double sdy = 0.0, sdyx = 0.0;
    for (int i = 0; i < m; i++)
        plane_grad_sums(x + i * stride, dy + i * stride, len, mean, &sdy, &sdyx);
    if (dscale) {
        *dscale += (float)(istd * sdyx);
        *dshift += (float)sdy;
    }
    if (!dx)
        return;
    double M = (double)m * len;
    float A = gamma * istd, B = 0.0f, c0 = 0.0f;
    if (batch_stats) {
        B = (float)(A * (double)istd * istd * sdyx / M);
        c0 = (float)(-A * sdy / M);
    }
    for (int i = 0; i < m; i++)
        plane_dx(x + i * stride, dy + i * stride, dx + i * stride, len, mean, A, B, c0);
}

static void update_running(nn_layer *l, int ch, float mean, float var, double count)
{
    /* PyTorch's running variance is unbiased; one value has no spread to
     * correct, so it enters as is (0). */
    float unbiased = count > 1.0 ? (float)(var * count / (count - 1.0)) : var;
    float *rm = l->params[2].w, *rv = l->params[3].w;
    rm[ch] = (1.0f - NORM_MOMENTUM) * rm[ch] + NORM_MOMENTUM * mean;
    rv[ch] = (1.0f - NORM_MOMENTUM) * rv[ch] + NORM_MOMENTUM * unbiased;
}

/* ---- batch norm over planes (2d, len > 1) and instance norm ---- */

/* x, y are (n, c, len) */
static void planes_forward(nn_layer *l, const float *x, float *y, int n, bool batch_stats)
{
    norm_priv *p = l->priv;
    int c = p->c;
    size_t len = p->len, G = norm_groups(p, n);
    float *mean = l->scratch, *istd = mean + G;
    const float *scale = p->affine ? l->params[0].w : NULL;
    const float *shift = p->affine ? l->params[1].w : NULL;
    bool instance = p->kind == NORM_INSTANCE;
    /* Group gi starts at plane gi: instance norm has n*c groups of one
     * plane, batch norm c groups of n planes, c*len apart. */
    int m = instance ? 1 : n;
    size_t stride = (size_t)c * len;
    for (size_t gi = 0; gi < G; gi++) {
        int ch = (int)(gi % (size_t)c);
        const float *xg = x + gi * len;
        float mu, var;
        if (batch_stats) {
            group_stats(xg, m, stride, len, &mu, &var);
            if (!instance)
                update_running(l, ch, mu, var, (double)m * len);
        } else {
            mu = l->params[2].w[ch];
            var = l->params[3].w[ch];
        }
        float is = 1.0f / sqrtf(var + NORM_EPS);
        mean[gi] = mu;
        istd[gi] = is;
        float a = scale ? scale[ch] * is : is;
        float b = shift ? shift[ch] : 0.0f;
        for (int i = 0; i < m; i++)
            plane_affine(xg + i * stride, y + gi * len + i * stride, len, mu, a, b);
    }
}

static void planes_backward(nn_layer *l, const float *x, const float *dy, float *dx, int n)
{
    norm_priv *p = l->priv;
    int c = p->c;
    size_t len = p->len, G = norm_groups(p, n);
    const float *mean = l->scratch, *istd = mean + G;
    bool instance = p->kind == NORM_INSTANCE;
    int m = instance ? 1 : n;
    size_t stride = (size_t)c * len;
    for (size_t gi = 0; gi < G; gi++) {
        int ch = (int)(gi % (size_t)c);
        size_t off = gi * len;
        float gamma = p->affine ? l->params[0].w[ch] : 1.0f;
        group_backward(x + off, dy + off, dx ? dx + off : NULL, m, stride, len, mean[gi], istd[gi],
                       gamma, p->batch_stats, p->affine ? l->params[0].g + ch : NULL,
                       p->affine ? l->params[1].g + ch : NULL);
    }
}

/* ---- batch norm over features (1d, or 2d on 1x1 planes) ----
 * Loops run across features, so they vectorise without reductions. */

/* x, y are (n, c) */
static void features_forward(nn_layer *l, const float *x, float *y, int n, bool batch_stats)
{
    norm_priv *p = l->priv;
    int F = p->c;
    /* a holds sums, then scales; b squared deviations */
    float *restrict mean = l->scratch, *restrict istd = mean + F;
    float *restrict a = istd + F, *restrict b = a + F;
    const float *restrict scale = l->params[0].w, *restrict shift = l->params[1].w;
    const float *rm = l->params[2].w, *rv = l->params[3].w;
    for (int f0 = 0; f0 < F; f0 += NORM_FCHUNK) {
        int f1 = f0 + NORM_FCHUNK < F ? f0 + NORM_FCHUNK : F;
        if (batch_stats) {
            for (int f = f0; f < f1; f++)
                a[f] = b[f] = 0.0f;
            /* deviations from the first sample, as in group_stats */
            for (int i = 1; i < n; i++) {
                const float *restrict row = x + (size_t)i * F;
                for (int f = f0; f < f1; f++)
                    a[f] += row[f] - x[f];
            }
            for (int f = f0; f < f1; f++)
                mean[f] = x[f] + a[f] / (float)n;
            for (int i = 0; i < n; i++) {
                const float *restrict row = x + (size_t)i * F;
                for (int f = f0; f < f1; f++)
                    b[f] += (row[f] - mean[f]) * (row[f] - mean[f]);
            }
            for (int f = f0; f < f1; f++) {
                float var = b[f] / (float)n;
                istd[f] = 1.0f / sqrtf(var + NORM_EPS);
                update_running(l, f, mean[f], var, (double)n);
            }
        } else {
            for (int f = f0; f < f1; f++) {
                mean[f] = rm[f];
                istd[f] = 1.0f / sqrtf(rv[f] + NORM_EPS);
            }
        }
        for (int f = f0; f < f1; f++)
            a[f] = scale[f] * istd[f];
        for (int i = 0; i < n; i++) {
            const float *restrict xr = x + (size_t)i * F;
            float *restrict yr = y + (size_t)i * F;
            for (int f = f0; f < f1; f++)
                yr[f] = a[f] * (xr[f] - mean[f]) + shift[f];
        }
    }
}

/* x, dy, dx are (n, c) */
static void features_backward(nn_layer *l, const float *x, const float *dy, float *dx, int n)
{
    norm_priv *p = l->priv;
    int F = p->c;
    float *restrict mean = l->scratch, *restrict istd = mean + F;
    float *restrict sdy = istd + F, *restrict sdyx = sdy + F, *restrict c0 = sdyx + F;
    const float *restrict scale = l->params[0].w;
    float *restrict dscale = l->params[0].g, *restrict dshift = l->params[1].g;
    for (int f0 = 0; f0 < F; f0 += NORM_FCHUNK) {
        int f1 = f0 + NORM_FCHUNK < F ? f0 + NORM_FCHUNK : F;
        for (int f = f0; f < f1; f++)
            sdy[f] = sdyx[f] = 0.0f;
        for (int i = 0; i < n; i++) {
            const float *restrict xr = x + (size_t)i * F, *restrict dr = dy + (size_t)i * F;
            for (int f = f0; f < f1; f++) {
                sdy[f] += dr[f];
                sdyx[f] += dr[f] * (xr[f] - mean[f]);
            }
        }
        for (int f = f0; f < f1; f++) {
            dscale[f] += istd[f] * sdyx[f];
            dshift[f] += sdy[f];
        }
        if (!dx)
            continue;
        /* sdy, sdyx become A and B of the affine map in the header comment */
        for (int f = f0; f < f1; f++) {
            float A = scale[f] * istd[f], B = 0.0f, c = 0.0f;
            if (p->batch_stats) {
                B = A * istd[f] * istd[f] * sdyx[f] / (float)n;
                c = -A * sdy[f] / (float)n;
            }
            sdy[f] = A;
            sdyx[f] = B;
            c0[f] = c;
        }
        for (int i = 0; i < n; i++) {
            const float *restrict xr = x + (size_t)i * F, *restrict dr = dy + (size_t)i * F;
            float *restrict dxr = dx + (size_t)i * F;
            for (int f = f0; f < f1; f++)
                dxr[f] = sdy[f] * dr[f] - sdyx[f] * (xr[f] - mean[f]) + c0[f];
        }
    }
}

/* ---- the layer ---- */

static bool by_features(const norm_priv *p) { return p->kind != NORM_INSTANCE && p->len == 1; }

static void norm_forward(nn_layer *l, const float *x, float *y, int n, bool train, gand_rng *rng)
{
    norm_priv *p = l->priv;
    p->batch_stats = train || p->kind == NORM_INSTANCE;
    if (by_features(p))
        features_forward(l, x, y, n, p->batch_stats);
    else
        planes_forward(l, x, y, n, p->batch_stats);
}

static void norm_backward(nn_layer *l, const float *x, const float *y, const float *dy, float *dx,
                          int n)
{
    norm_priv *p = l->priv;
    if (by_features(p))
        features_backward(l, x, dy, dx, n);
    else
        planes_backward(l, x, dy, dx, n);
}

#define NORM_OPS(name, kind_name)                                                                  \
    static const nn_layer_ops name = {                                                             \
        .kind = kind_name,                                                                         \
        .setup = norm_setup,                                                                       \
        .scratch_floats = norm_scratch_floats,                                                     \
        .bind = norm_reset_running,                                                                \
        .forward = norm_forward,                                                                   \
        .backward = norm_backward,                                                                 \
        .init = norm_init,                                                                         \
    }
NORM_OPS(batchnorm1d_ops, "batchnorm1d");
NORM_OPS(batchnorm2d_ops, "batchnorm2d");
NORM_OPS(instancenorm2d_ops, "instancenorm2d");

static nn_layer *norm_create(const nn_layer_ops *ops, norm_kind kind, bool affine)
{
    nn_layer *l = nn_layer_alloc(ops, sizeof(norm_priv));
    if (l) {
        norm_priv *p = l->priv;
        p->kind = kind;
        p->affine = affine;
    }
    return l;
}

nn_layer *nn_batchnorm1d(void) { return norm_create(&batchnorm1d_ops, NORM_BATCH1D, true); }
nn_layer *nn_batchnorm2d(void) { return norm_create(&batchnorm2d_ops, NORM_BATCH2D, true); }
nn_layer *nn_instancenorm2d(bool affine)
{
    return norm_create(&instancenorm2d_ops, NORM_INSTANCE, affine);
}
