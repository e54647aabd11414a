/* Fully connected layer: y = x W^T + b, W is (out, in) as in PyTorch. */
#include "layer.h"

#include <cblas.h>
#include <string.h>

typedef struct {
    int out_features;
    bool bias;
} linear_priv;

static gand_status linear_setup(nn_layer *l, char *err, size_t errlen)
{
    linear_priv *p = l->priv;
    int in = (int)nn_shape_size(l->in);
    if (p->out_features <= 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "out_features %d must be positive",
                           p->out_features);
    l->out = (nn_shape){p->out_features, 1, 1};
    nn_layer_param(l, "weight", true, in, p->out_features, 2, (int[]){p->out_features, in});
    if (p->bias)
        nn_layer_param(l, "bias", true, in, 0, 1, (int[]){p->out_features});
    return GAND_OK;
}

/* x is (n, in), W is (out, in), b is (out), y is (n, out) */
static void linear_forward(nn_layer *l, const float *x, float *y, int n, bool train,
                           gand_rng *rng)
{
    linear_priv *p = l->priv;
    int in = (int)nn_shape_size(l->in), out = p->out_features;
    const float *w = l->params[0].w;
    if (p->bias) {
        const float *b = l->params[1].w;
        for (int i = 0; i < n; i++)
            memcpy(y + (size_t)i * out, b, (size_t)out * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in,
                p->bias ? 1.0f : 0.0f, y, out);
}

/* dy is (n, out); dW += dy^T x; db += sum_n dy; dx = dy W */
static void linear_backward(nn_layer *l, const float *x, const float *y, const float *dy,
                            float *dx, int n)
{
    linear_priv *p = l->priv;
    int in = (int)nn_shape_size(l->in), out = p->out_features;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f,
                l->params[0].g, in);
    if (p->bias) {
        float *db = l->params[1].g;
        for (int i = 0; i < n; i++) {
            const float *r = dy + (size_t)i * out;
            for (int o = 0; o < out; o++)
                db[o] += r[o];
        }
    }
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out,
                    l->params[0].w, in, 0.0f, dx, in);
}

static const nn_layer_ops linear_ops = {
    .kind = "linear",
    .setup = linear_setup,
    .forward = linear_forward,
    .backward = linear_backward,
};

nn_layer *nn_linear(int out_features, bool bias)
{
    nn_layer *l = nn_layer_alloc(&linear_ops, sizeof(linear_priv));
    if (l) {
        linear_priv *p = l->priv;
        p->out_features = out_features;
        p->bias = bias;
    }
    return l;
}
