/* Transposed 2-D convolution as PyTorch's ConvTranspose2d: the adjoint of a
 * convolution whose image side is this layer's output. With X' (ic, N) the
 * input gathered by channel (N = n*h*w) and W (ic, oc*k*k), the forward is
 * cols (oc*k*k, N) = W^T X' followed by col2im into the output, one GEMM
 * over the batch. X' stays in scratch for the weight gradient; the backward
 * then writes dX' over it (a second backward after the same forward
 * gathers x again), and dcols reuse the forward's cols. */
#include "im2col.h"
#include "layer.h"

#include <cblas.h>

typedef struct {
    nn_conv_args a;
    nn_conv_geom g; /* image side is the output, column side the input */
    bool xt_valid;  /* scratch holds X' of the last forward's x */
} convt_priv;

static gand_status convt_setup(nn_layer *l, char *err, size_t errlen)
{
    convt_priv *p = l->priv;
    const nn_conv_args *a = &p->a;
    gand_status st = nn_conv_check_args(a, err, errlen);
    if (st != GAND_OK)
        return st;
    if (l->in.h > NN_CONV_MAX_SIZE || l->in.w > NN_CONV_MAX_SIZE)
        return gand_errorf(err, errlen, GAND_EINVAL, "the input is %dx%d, more than %d on a side",
                           l->in.h, l->in.w, NN_CONV_MAX_SIZE);
    long oh = (long)(l->in.h - 1) * a->stride - 2L * a->padding + a->kernel;
    long ow = (long)(l->in.w - 1) * a->stride - 2L * a->padding + a->kernel;
    if (oh < 1 || ow < 1)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "the output would be %ldx%ld ((in - 1) * stride %d - 2 * padding %d "
                           "+ kernel %d); use less padding or a larger kernel",
                           oh, ow, a->stride, a->padding, a->kernel);
    if (oh > NN_CONV_MAX_SIZE || ow > NN_CONV_MAX_SIZE)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "the output would be %ldx%ld, more than %d on a side", oh, ow,
                           NN_CONV_MAX_SIZE);
    nn_conv_geom_init(&p->g, a->out_channels, (int)oh, (int)ow, a->kernel, a->stride, a->padding);
    l->out = (nn_shape){a->out_channels, (int)oh, (int)ow};
    int ic = l->in.c, oc = a->out_channels, kk = a->kernel * a->kernel;
    /* PyTorch takes the fan-in from the weight's second dimension, which for
     * a transposed convolution is the output channels. */
    nn_layer_param(l, "weight", true, oc * kk, ic * kk, 4, (int[]){ic, oc, a->kernel, a->kernel});
    if (a->bias)
        nn_layer_param(l, "bias", true, oc * kk, 0, 1, (int[]){oc});
    return GAND_OK;
}

/* Scratch for a batch of n: X' or dX' (ic, N), cols or dcols (oc*k*k, N),
 * then the padded plane of col2im. */
typedef struct {
    float *xt, *cols, *pad;
} convt_scratch;

static size_t convt_rows(const convt_priv *p) { return (size_t)p->g.c * p->g.k * p->g.k; }

static convt_scratch convt_scratch_at(const nn_layer *l, int n)
{
    const convt_priv *p = l->priv;
    size_t N = (size_t)n * l->in.h * l->in.w;
    convt_scratch s;
    s.xt = l->scratch;
    s.cols = s.xt + (size_t)l->in.c * N;
    s.pad = s.cols + convt_rows(p) * N;
    return s;
}

static size_t convt_scratch_floats(const nn_layer *l, int n)
{
    const convt_priv *p = l->priv;
    size_t N = (size_t)n * l->in.h * l->in.w;
    return ((size_t)l->in.c + convt_rows(p)) * N + nn_conv_pad_floats(&p->g);
}

/* x is (n, ic, h, w), W is (ic, oc*k*k), y is (n, oc, oh, ow) */
static void convt_forward(nn_layer *l, const float *x, float *y, int n, bool train, gand_rng *rng)
{
    convt_priv *p = l->priv;
    int ic = l->in.c, oc = p->a.out_channels, M = (int)convt_rows(p);
    size_t hw = (size_t)l->in.h * l->in.w, ohw = (size_t)l->out.h * l->out.w;
    int N = (int)(n * hw);
    convt_scratch s = convt_scratch_at(l, n);
    const float *xt = x; /* with one image x is already (ic, N) */
    if (n > 1) {
        nn_permute_to_rows(x, s.xt, n, ic, hw);
        xt = s.xt;
    }
    p->xt_valid = true;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, ic, 1.0f, l->params[0].w, M, xt, N,
                0.0f, s.cols, N);
    const float *bias = p->a.bias ? l->params[1].w : NULL;
    for (int img = 0; img < n; img++) {
        for (int o = 0; o < oc; o++) {
            float *plane = y + ((size_t)img * oc + o) * ohw;
            float b = bias ? bias[o] : 0.0f;
            for (size_t i = 0; i < ohw; i++)
                plane[i] = b;
        }
    }
    nn_col2im(s.cols, y, n, &p->g, s.pad);
}

/* dy is (n, oc, oh, ow); dcols = im2col(dy); dW (ic, oc*k*k) += X' dcols^T;
 * db += plane sums of dy; dX' = W dcols */
static void convt_backward(nn_layer *l, const float *x, const float *y, const float *dy, float *dx,
                           int n)
{
    convt_priv *p = l->priv;
    int ic = l->in.c, oc = p->a.out_channels, M = (int)convt_rows(p);
    size_t hw = (size_t)l->in.h * l->in.w, ohw = (size_t)l->out.h * l->out.w;
    int N = (int)(n * hw);
    convt_scratch s = convt_scratch_at(l, n);
    const float *xt = n > 1 ? s.xt : x;
    if (n > 1 && !p->xt_valid)
        nn_permute_to_rows(x, s.xt, n, ic, hw);
    p->xt_valid = true;
    nn_im2col(dy, s.cols, n, &p->g, s.pad);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ic, M, N, 1.0f, xt, N, s.cols, N, 1.0f,
                l->params[0].g, M);
    if (p->a.bias) {
        float *db = l->params[1].g;
        for (int img = 0; img < n; img++)
            for (int o = 0; o < oc; o++)
                db[o] += nn_sum(dy + ((size_t)img * oc + o) * ohw, ohw);
    }
    if (!dx)
        return;
    float *dxt = n > 1 ? s.xt : dx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ic, N, M, 1.0f, l->params[0].w, M,
                s.cols, N, 0.0f, dxt, N);
    if (n > 1) {
        p->xt_valid = false;
        nn_permute_from_rows(dxt, NULL, dx, n, ic, hw);
    }
}

static const nn_layer_ops convt_ops = {
    .kind = "conv_transpose2d",
    .setup = convt_setup,
    .scratch_floats = convt_scratch_floats,
    .forward = convt_forward,
    .backward = convt_backward,
};

nn_layer *nn_conv_transpose2d(int out_channels, int kernel, int stride, int padding, bool bias)
{
    nn_layer *l = nn_layer_alloc(&convt_ops, sizeof(convt_priv));
    if (l)
        ((convt_priv *)l->priv)->a = (nn_conv_args){out_channels, kernel, stride, padding, bias};
    return l;
}
