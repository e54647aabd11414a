/* 2-D convolution as PyTorch's Conv2d, lowered to one GEMM over the batch:
 * cols = im2col(x) is (K, N) with K = ic*k*k and N = n*oh*ow, and
 * Y' (oc, N) = W (oc, K) x cols is scattered into NCHW with the bias.
 *
 * The forward's cols stay in scratch for the weight gradient, and the
 * backward then reuses that buffer for the columns of the input gradient:
 * the largest buffer of a net exists once (13 MB for DCGAN's second
 * discriminator layer at batch 64). A second backward after the same
 * forward rebuilds cols from x. */
#include "im2col.h"
#include "layer.h"

#include <cblas.h>
#include <string.h>

typedef struct {
    nn_conv_args a;
    nn_conv_geom g;  /* image side is the input */
    bool cols_valid; /* scratch holds im2col of the last forward's x */
} conv_priv;

static gand_status conv_setup(nn_layer *l, char *err, size_t errlen)
{
    conv_priv *p = l->priv;
    const nn_conv_args *a = &p->a;
    gand_status st = nn_conv_check_args(a, err, errlen);
    if (st != GAND_OK)
        return st;
    if (l->in.h > NN_CONV_MAX_SIZE || l->in.w > NN_CONV_MAX_SIZE)
        return gand_errorf(err, errlen, GAND_EINVAL, "the input is %dx%d, more than %d on a side",
                           l->in.h, l->in.w, NN_CONV_MAX_SIZE);
    if (l->in.h + 2 * a->padding < a->kernel || l->in.w + 2 * a->padding < a->kernel)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "kernel %d is larger than the padded input %dx%d (%dx%d plus "
                           "padding %d on each side); use a smaller kernel or more padding",
                           a->kernel, l->in.h + 2 * a->padding, l->in.w + 2 * a->padding, l->in.h,
                           l->in.w, a->padding);
    nn_conv_geom_init(&p->g, l->in.c, l->in.h, l->in.w, a->kernel, a->stride, a->padding);
    l->out = (nn_shape){a->out_channels, p->g.oh, p->g.ow};
    int ic = l->in.c, oc = a->out_channels, kk = a->kernel * a->kernel;
    nn_layer_param(l, "weight", true, ic * kk, oc * kk, 4, (int[]){oc, ic, a->kernel, a->kernel});
    if (a->bias)
        nn_layer_param(l, "bias", true, ic * kk, 0, 1, (int[]){oc});
    return GAND_OK;
}

/* Scratch for a batch of n: cols or dcols (K, N), Y' or dY' (oc, N), then
 * the padded plane of im2col. */
typedef struct {
    float *cols, *yt, *pad;
} conv_scratch;

static size_t conv_rows(const conv_priv *p) { return (size_t)p->g.c * p->g.k * p->g.k; }

static conv_scratch conv_scratch_at(const nn_layer *l, int n)
{
    const conv_priv *p = l->priv;
    size_t N = (size_t)n * p->g.oh * p->g.ow, K = conv_rows(p);
    conv_scratch s;
    s.cols = l->scratch;
    s.yt = s.cols + K * N;
    s.pad = s.yt + (size_t)p->a.out_channels * N;
    return s;
}

static size_t conv_scratch_floats(const nn_layer *l, int n)
{
    const conv_priv *p = l->priv;
    size_t N = (size_t)n * p->g.oh * p->g.ow;
    return (conv_rows(p) + (size_t)p->a.out_channels) * N + nn_conv_pad_floats(&p->g);
}

/* x is (n, ic, h, w), W is (oc, K), y is (n, oc, oh, ow) */
static void conv_forward(nn_layer *l, const float *x, float *y, int n, bool train, gand_rng *rng)
{
    conv_priv *p = l->priv;
    int oc = p->a.out_channels, K = (int)conv_rows(p);
    size_t ohw = (size_t)p->g.oh * p->g.ow;
    int N = (int)(n * ohw);
    conv_scratch s = conv_scratch_at(l, n);
    const float *bias = p->a.bias ? l->params[1].w : NULL;
    nn_im2col(x, s.cols, n, &p->g, s.pad);
    p->cols_valid = true;
    /* With one image Y' is already NCHW: the GEMM writes y directly. */
    float *yt = n == 1 ? y : s.yt;
    if (n == 1 && bias)
        for (int o = 0; o < oc; o++)
            for (size_t i = 0; i < ohw; i++)
                y[o * ohw + i] = bias[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, oc, N, K, 1.0f, l->params[0].w, K,
                s.cols, N, n == 1 && bias ? 1.0f : 0.0f, yt, N);
    if (n > 1)
        nn_permute_from_rows(s.yt, bias, y, n, oc, ohw);
}

/* dy is (n, oc, oh, ow); dW (oc, K) += dY' cols^T; db += row sums of dY';
 * dcols (K, N) = W^T dY' over cols; dx = col2im(dcols) */
static void conv_backward(nn_layer *l, const float *x, const float *y, const float *dy, float *dx,
                          int n)
{
    conv_priv *p = l->priv;
    int oc = p->a.out_channels, K = (int)conv_rows(p);
    size_t ohw = (size_t)p->g.oh * p->g.ow;
    int N = (int)(n * ohw);
    conv_scratch s = conv_scratch_at(l, n);
    const float *dyt = dy;
    if (n > 1) {
        nn_permute_to_rows(dy, s.yt, n, oc, ohw);
        dyt = s.yt;
    }
    if (!p->cols_valid) {
        nn_im2col(x, s.cols, n, &p->g, s.pad);
        p->cols_valid = true;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, oc, K, N, 1.0f, dyt, N, s.cols, N, 1.0f,
                l->params[0].g, K);
    if (p->a.bias) {
        float *db = l->params[1].g;
        for (int o = 0; o < oc; o++)
            db[o] += nn_sum(dyt + (size_t)o * N, (size_t)N);
    }
    if (!dx)
        return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, oc, 1.0f, l->params[0].w, K, dyt, N,
                0.0f, s.cols, N);
    p->cols_valid = false;
    memset(dx, 0, (size_t)n * nn_shape_size(l->in) * sizeof(float));
    nn_col2im(s.cols, dx, n, &p->g, s.pad);
}

static const nn_layer_ops conv_ops = {
    .kind = "conv2d",
    .setup = conv_setup,
    .scratch_floats = conv_scratch_floats,
    .forward = conv_forward,
    .backward = conv_backward,
};

nn_layer *nn_conv2d(int out_channels, int kernel, int stride, int padding, bool bias)
{
    nn_layer *l = nn_layer_alloc(&conv_ops, sizeof(conv_priv));
    if (l)
        ((conv_priv *)l->priv)->a = (nn_conv_args){out_channels, kernel, stride, padding, bias};
    return l;
}

gand_status nn_conv_check_args(const nn_conv_args *a, char *err, size_t errlen)
{
    if (a->out_channels <= 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "out_channels %d must be positive",
                           a->out_channels);
    if (a->kernel <= 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "kernel size %d must be positive", a->kernel);
    if (a->stride <= 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "stride %d must be positive", a->stride);
    if (a->padding < 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "padding %d must not be negative", a->padding);
    if (a->kernel > NN_CONV_MAX_SIZE || a->stride > NN_CONV_MAX_SIZE ||
        a->padding > NN_CONV_MAX_SIZE)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "kernel %d, stride %d and padding %d must each be at most %d", a->kernel,
                           a->stride, a->padding, NN_CONV_MAX_SIZE);
    return GAND_OK;
}
