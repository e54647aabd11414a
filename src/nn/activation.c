/* Element-wise activations and shape-only layers. Each works on n*size
 * floats; x, y, dy, dx are all (n, size). The loops are written without
 * branches on the data (both sides computed, then selected) so the
 * compiler vectorises them: a branchy leaky ReLU cost a sixth of a DCGAN
 * step. */
#include "layer.h"

#include <math.h>
#include <string.h>

static size_t total(const nn_layer *l, int n) { return (size_t)n * nn_shape_size(l->in); }

/* ---- ReLU ---- */
static void relu_forward(nn_layer *l, const float *restrict x, float *restrict y, int n,
                         bool train, gand_rng *rng)
{
    size_t t = total(l, n);
    for (size_t i = 0; i < t; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
static void relu_backward(nn_layer *l, const float *restrict x, const float *y,
                          const float *restrict dy, float *restrict dx, int n)
{
    if (!dx)
        return;
    size_t t = total(l, n);
    for (size_t i = 0; i < t; i++)
        dx[i] = dy[i] * (x[i] > 0.0f ? 1.0f : 0.0f);
}
static const nn_layer_ops relu_ops = {
    .kind = "relu", .forward = relu_forward, .backward = relu_backward};
nn_layer *nn_relu(void) { return nn_layer_alloc(&relu_ops, 0); }

/* ---- LeakyReLU ---- */
typedef struct {
    float slope;
} leaky_priv;
static void leaky_forward(nn_layer *l, const float *restrict x, float *restrict y, int n,
                          bool train, gand_rng *rng)
{
    float s = ((leaky_priv *)l->priv)->slope;
    size_t t = total(l, n);
    for (size_t i = 0; i < t; i++)
        y[i] = x[i] * (x[i] > 0.0f ? 1.0f : s);
}
static void leaky_backward(nn_layer *l, const float *restrict x, const float *y,
                           const float *restrict dy, float *restrict dx, int n)
{
    if (!dx)
        return;
    float s = ((leaky_priv *)l->priv)->slope;
    size_t t = total(l, n);
    for (size_t i = 0; i < t; i++)
        dx[i] = dy[i] * (x[i] > 0.0f ? 1.0f : s);
}
static const nn_layer_ops leaky_ops = {
    .kind = "leaky_relu", .forward = leaky_forward, .backward = leaky_backward};
nn_layer *nn_leaky_relu(float slope)
{
    nn_layer *l = nn_layer_alloc(&leaky_ops, sizeof(leaky_priv));
    if (l)
        ((leaky_priv *)l->priv)->slope = slope;
    return l;
}

/* ---- Tanh: dy/dx = 1 - y^2 ---- */
static void tanh_forward(nn_layer *l, const float *x, float *y, int n, bool train, gand_rng *rng)
{
    size_t t = total(l, n);
    for (size_t i = 0; i < t; i++)
        y[i] = tanhf(x[i]);
}
static void tanh_backward(nn_layer *l, const float *x, const float *y, const float *dy,
                          float *dx, int n)
{
    if (!dx)
        return;
    size_t t = total(l, n);
    for (size_t i = 0; i < t; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}
static const nn_layer_ops tanh_ops = {
    .kind = "tanh", .forward = tanh_forward, .backward = tanh_backward};
nn_layer *nn_tanh(void) { return nn_layer_alloc(&tanh_ops, 0); }

/* ---- Sigmoid: dy/dx = y (1 - y) ---- */
static void sigmoid_forward(nn_layer *l, const float *x, float *y, int n, bool train,
                            gand_rng *rng)
{
    size_t t = total(l, n);
    for (size_t i = 0; i < t; i++) {
        /* split by sign so exp never overflows */
        if (x[i] >= 0.0f) {
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        } else {
            float e = expf(x[i]);
            y[i] = e / (1.0f + e);
        }
    }
}
static void sigmoid_backward(nn_layer *l, const float *x, const float *y, const float *dy,
                             float *dx, int n)
{
    if (!dx)
        return;
    size_t t = total(l, n);
    for (size_t i = 0; i < t; i++)
        dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
static const nn_layer_ops sigmoid_ops = {
    .kind = "sigmoid", .forward = sigmoid_forward, .backward = sigmoid_backward};
nn_layer *nn_sigmoid(void) { return nn_layer_alloc(&sigmoid_ops, 0); }

/* ---- Reshape / Flatten: a copy with a new per-sample shape ---- */
static gand_status reshape_setup(nn_layer *l, char *err, size_t errlen)
{
    nn_shape *want = l->priv;
    if (want->c == 0) /* flatten */
        *want = (nn_shape){(int)nn_shape_size(l->in), 1, 1};
    if (nn_shape_size(*want) != nn_shape_size(l->in))
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "cannot reshape %zu values per sample to (%d,%d,%d)",
                           nn_shape_size(l->in), want->c, want->h, want->w);
    l->out = *want;
    return GAND_OK;
}
static void copy_forward(nn_layer *l, const float *x, float *y, int n, bool train, gand_rng *rng)
{
    memcpy(y, x, total(l, n) * sizeof(float));
}
static void copy_backward(nn_layer *l, const float *x, const float *y, const float *dy,
                          float *dx, int n)
{
    if (dx)
        memcpy(dx, dy, total(l, n) * sizeof(float));
}
static const nn_layer_ops reshape_ops = {
    .kind = "reshape", .setup = reshape_setup, .forward = copy_forward, .backward = copy_backward};
static const nn_layer_ops flatten_ops = {
    .kind = "flatten", .setup = reshape_setup, .forward = copy_forward, .backward = copy_backward};

nn_layer *nn_reshape(int c, int h, int w)
{
    nn_layer *l = nn_layer_alloc(&reshape_ops, sizeof(nn_shape));
    if (l)
        *(nn_shape *)l->priv = (nn_shape){c > 0 ? c : -1, h, w};
    return l;
}
nn_layer *nn_flatten(void) { return nn_layer_alloc(&flatten_ops, sizeof(nn_shape)); }
