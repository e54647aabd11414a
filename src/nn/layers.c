/* Dropout, nearest upsampling, pixel shuffle and PReLU. */
#include "layer.h"

#include <assert.h>
#include <string.h>

static size_t in_total(const nn_layer *l, int n) { return (size_t)n * nn_shape_size(l->in); }

/* ---- Dropout ---- */

typedef struct {
    float p;
    bool masked; /* the last forward applied the mask in scratch */
} dropout_priv;

static gand_status dropout_setup(nn_layer *l, char *err, size_t errlen)
{
    float p = ((dropout_priv *)l->priv)->p;
    /* p = 1 would scale the kept values by infinity; !(p >= 0) also refuses NaN */
    if (!(p >= 0.0f) || p >= 1.0f)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "dropout probability %g must be at least 0 and below 1", (double)p);
    return GAND_OK;
}

static size_t dropout_scratch(const nn_layer *l, int n) { return in_total(l, n); }

/* x, y are (n, size); scratch holds the mask (n, size): 0 or 1 / (1 - p). */
static void dropout_forward(nn_layer *l, const float *x, float *y, int n, bool train,
                            gand_rng *rng)
{
    dropout_priv *p = l->priv;
    size_t t = in_total(l, n);
    p->masked = train && p->p > 0.0f;
    if (!p->masked) {
        memcpy(y, x, t * sizeof(float));
        return;
    }
    assert(rng); /* nn_net_forward's contract: training forwards carry an rng */
    float keep = 1.0f / (1.0f - p->p);
    float *mask = l->scratch;
    for (size_t i = 0; i < t; i++) {
        mask[i] = gand_rng_uniform(rng) < p->p ? 0.0f : keep;
        y[i] = x[i] * mask[i];
    }
}

static void dropout_backward(nn_layer *l, const float *x, const float *y, const float *dy,
                             float *dx, int n)
{
    if (!dx)
        return;
    dropout_priv *p = l->priv;
    size_t t = in_total(l, n);
    if (!p->masked) {
        memcpy(dx, dy, t * sizeof(float));
        return;
    }
    const float *mask = l->scratch;
    for (size_t i = 0; i < t; i++)
        dx[i] = dy[i] * mask[i];
}

static const nn_layer_ops dropout_ops = {
    .kind = "dropout",
    .setup = dropout_setup,
    .scratch_floats = dropout_scratch,
    .forward = dropout_forward,
    .backward = dropout_backward,
};

nn_layer *nn_dropout(float p)
{
    nn_layer *l = nn_layer_alloc(&dropout_ops, sizeof(dropout_priv));
    if (l)
        ((dropout_priv *)l->priv)->p = p;
    return l;
}

/* ---- Nearest-neighbour upsampling ---- */

typedef struct {
    int factor;
} factor_priv;

static gand_status upsample_setup(nn_layer *l, char *err, size_t errlen)
{
    int f = ((factor_priv *)l->priv)->factor;
    if (f <= 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "upsampling factor %d must be positive", f);
    l->out = (nn_shape){l->in.c, l->in.h * f, l->in.w * f};
    return GAND_OK;
}

/* x is (n, C, H, W), y is (n, C, H f, W f): y[c, i, j] = x[c, i / f, j / f] */
static void upsample_forward(nn_layer *l, const float *x, float *y, int n, bool train,
                             gand_rng *rng)
{
    int f = ((factor_priv *)l->priv)->factor;
    int h = l->in.h, w = l->in.w, ow = w * f;
    size_t planes = (size_t)n * l->in.c;
    for (size_t p = 0; p < planes; p++) {
        const float *xp = x + p * h * w;
        float *yp = y + p * h * w * f * f;
        for (int i = 0; i < h; i++) {
            float *row = yp + (size_t)i * f * ow;
            for (int j = 0; j < w; j++)
                for (int b = 0; b < f; b++)
                    row[j * f + b] = xp[i * w + j];
            for (int a = 1; a < f; a++)
                memcpy(row + (size_t)a * ow, row, (size_t)ow * sizeof(float));
        }
    }
}

/* dx[c, i, j] is the sum of dy over the f x f block it was copied to */
static void upsample_backward(nn_layer *l, const float *x, const float *y, const float *dy,
                              float *dx, int n)
{
    if (!dx)
        return;
    int f = ((factor_priv *)l->priv)->factor;
    int h = l->in.h, w = l->in.w, ow = w * f;
    size_t planes = (size_t)n * l->in.c;
    for (size_t p = 0; p < planes; p++) {
        const float *dyp = dy + p * h * w * f * f;
        float *dxp = dx + p * h * w;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                float s = 0.0f;
                for (int a = 0; a < f; a++)
                    for (int b = 0; b < f; b++)
                        s += dyp[(size_t)(i * f + a) * ow + j * f + b];
                dxp[i * w + j] = s;
            }
    }
}

static const nn_layer_ops upsample_ops = {
    .kind = "upsample_nearest",
    .setup = upsample_setup,
    .forward = upsample_forward,
    .backward = upsample_backward,
};

nn_layer *nn_upsample_nearest(int factor)
{
    nn_layer *l = nn_layer_alloc(&upsample_ops, sizeof(factor_priv));
    if (l)
        ((factor_priv *)l->priv)->factor = factor;
    return l;
}

/* ---- Pixel shuffle ---- */

static gand_status shuffle_setup(nn_layer *l, char *err, size_t errlen)
{
    int r = ((factor_priv *)l->priv)->factor;
    if (r <= 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "pixel shuffle factor %d must be positive",
                           r);
    if (l->in.c % (r * r))
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "pixel shuffle by %d needs channels divisible by %d, got %d", r, r * r,
                           l->in.c);
    l->out = (nn_shape){l->in.c / (r * r), l->in.h * r, l->in.w * r};
    return GAND_OK;
}

/* PyTorch's order: x (n, C r^2, H, W) viewed as (n, C, r, r, H, W) and
 * permuted to (n, C, H, r, W, r), so y[c, h r + a, w r + b] = x[c r^2 + a r + b, h, w].
 * The same index map serves both directions; backward just swaps the roles. */
static void shuffle_map(const nn_layer *l, const float *src, float *dst, int n, bool forward)
{
    int r = ((const factor_priv *)l->priv)->factor;
    int c = l->out.c, h = l->in.h, w = l->in.w, ow = w * r;
    size_t plane = (size_t)h * w;
    for (int s = 0; s < n; s++)
        for (int k = 0; k < c; k++) {
            size_t base = ((size_t)s * c + k) * plane * r * r;
            for (int a = 0; a < r; a++)
                for (int b = 0; b < r; b++) {
                    size_t in_off = base + (size_t)(a * r + b) * plane;
                    for (int i = 0; i < h; i++)
                        for (int j = 0; j < w; j++) {
                            size_t io = in_off + (size_t)i * w + j;
                            size_t oo = base + (size_t)(i * r + a) * ow + (size_t)j * r + b;
                            if (forward)
                                dst[oo] = src[io];
                            else
                                dst[io] = src[oo];
                        }
                }
        }
}

static void shuffle_forward(nn_layer *l, const float *x, float *y, int n, bool train,
                            gand_rng *rng)
{
    shuffle_map(l, x, y, n, true);
}

static void shuffle_backward(nn_layer *l, const float *x, const float *y, const float *dy,
                             float *dx, int n)
{
    if (dx)
        shuffle_map(l, dy, dx, n, false);
}

static const nn_layer_ops shuffle_ops = {
    .kind = "pixel_shuffle",
    .setup = shuffle_setup,
    .forward = shuffle_forward,
    .backward = shuffle_backward,
};

nn_layer *nn_pixel_shuffle(int factor)
{
    nn_layer *l = nn_layer_alloc(&shuffle_ops, sizeof(factor_priv));
    if (l)
        ((factor_priv *)l->priv)->factor = factor;
    return l;
}

/* ---- PReLU: y = x for x > 0, a_c x otherwise, one slope a_c per channel ---- */

static gand_status prelu_setup(nn_layer *l, char *err, size_t errlen)
{
    nn_layer_param(l, "weight", true, 0, 0, 1, (int[]){l->in.c});
    return GAND_OK;
}

/* x, y are (n, C, H, W); weight is (C) */
static void prelu_forward(nn_layer *l, const float *x, float *y, int n, bool train,
                          gand_rng *rng)
{
    const float *a = l->params[0].w;
    int c = l->in.c;
    size_t plane = (size_t)l->in.h * l->in.w;
    for (int s = 0; s < n; s++)
        for (int k = 0; k < c; k++) {
            size_t off = ((size_t)s * c + k) * plane;
            for (size_t i = off; i < off + plane; i++)
                y[i] = x[i] > 0.0f ? x[i] : a[k] * x[i];
        }
}

/* dweight[c] += sum of dy x over the negative inputs of channel c */
static void prelu_backward(nn_layer *l, const float *x, const float *y, const float *dy,
                           float *dx, int n)
{
    const float *a = l->params[0].w;
    float *da = l->params[0].g;
    int c = l->in.c;
    size_t plane = (size_t)l->in.h * l->in.w;
    for (int s = 0; s < n; s++)
        for (int k = 0; k < c; k++) {
            size_t off = ((size_t)s * c + k) * plane;
            float acc = 0.0f;
            for (size_t i = off; i < off + plane; i++) {
                bool pos = x[i] > 0.0f;
                if (!pos)
                    acc += dy[i] * x[i];
                if (dx)
                    dx[i] = pos ? dy[i] : a[k] * dy[i];
            }
            da[k] += acc;
        }
}

/* The generic scheme would treat "weight" as a fan-based weight; PReLU's
 * slopes start at 0.25 under every scheme, as in PyTorch. */
static void prelu_init(nn_layer *l, gand_rng *rng, nn_init scheme)
{
    nn_param *p = &l->params[0];
    for (size_t i = 0; i < p->count; i++)
        p->w[i] = 0.25f;
}

static const nn_layer_ops prelu_ops = {
    .kind = "prelu",
    .setup = prelu_setup,
    .forward = prelu_forward,
    .backward = prelu_backward,
    .init = prelu_init,
};

nn_layer *nn_prelu(void) { return nn_layer_alloc(&prelu_ops, 0); }
