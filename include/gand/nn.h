/* gand's neural network engine: sequential nets of layers over NCHW float32.
 *
 * A net is built layer by layer, then finalized for a maximum batch size:
 *
 *     nn_net *d = nn_net_create((nn_shape){1, 28, 28});
 *     nn_net_add(d, nn_conv2d(64, 4, 2, 1, true));
 *     nn_net_add(d, nn_leaky_relu(0.2f));
 *     ...
 *     if (nn_net_finalize(d, 64, err, sizeof err) != GAND_OK) ...
 *     nn_net_init(d, &rng, NN_INIT_DCGAN);
 *
 * Building is sticky: nn_net_add() takes ownership of the layer (also of NULL,
 * from a failed constructor) and records the first error, which
 * nn_net_finalize() returns, so a model is a flat list of adds and one check.
 *
 * A finalized net owns one contiguous buffer each for parameters, gradients
 * and the two optimiser moments (layers point into them), one for
 * non-trainable state (batch norm running statistics, spectral norm vectors),
 * and a workspace for every activation, activation gradient and layer scratch
 * at the maximum batch size: training allocates nothing per step.
 *
 * Gradients accumulate: nn_net_backward() adds to the parameter gradients
 * until nn_net_zero_grad(). Input gradients are overwritten.
 */
#ifndef GAND_NN_H
#define GAND_NN_H

#include "gand/rng.h"
#include "gand/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Shape of one sample: channels, height, width. A vector of n features is
 * {n, 1, 1}. A batch of N samples is N consecutive samples (NCHW). */
typedef struct {
    int c, h, w;
} nn_shape;

static inline size_t nn_shape_size(nn_shape s) { return (size_t)s.c * s.h * s.w; }

typedef enum {
    NN_INIT_DEFAULT,         /* PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    NN_INIT_DCGAN,           /* weights N(0, 0.02), norm scales N(1, 0.02), biases 0 */
    NN_INIT_XAVIER_UNIFORM,  /* U(-a, a), a = sqrt(6 / (fan_in + fan_out)), biases 0 */
    NN_INIT_KAIMING_UNIFORM, /* U(-a, a), a = sqrt(6 / fan_in) (ReLU gain), biases 0 */
} nn_init;

#define NN_PARAM_NAME_MAX 32
#define NN_MAX_DIMS 4

/* One named tensor of a layer. Trainable ones live in the net's parameter
 * buffer (with gradient and moments at the same offset), the others in its
 * state buffer (g is NULL for those). */
typedef struct {
    char name[NN_PARAM_NAME_MAX]; /* "weight", "bias", "running_mean", ... */
    int ndim;
    int dims[NN_MAX_DIMS];
    size_t count;
    bool trainable;
    int fan_in, fan_out; /* for initialisers; 0 when not a weight */
    float *w;            /* values */
    float *g;            /* gradient, trainable only */
} nn_param;

typedef struct nn_layer nn_layer;
typedef struct nn_net nn_net;

/* ---- nets ---- */

/* Creates an empty net taking samples of shape in. NULL on allocation failure. */
nn_net *nn_net_create(nn_shape in);
/* Frees the net, its layers and buffers. NULL is a no-op. */
void nn_net_free(nn_net *net);

/* Appends layer (ownership passes to the net, also on error; NULL records
 * GAND_ENOMEM). The layer's input shape is the previous layer's output; a
 * layer that cannot take it records GAND_EINVAL with a message naming both. */
void nn_net_add(nn_net *net, nn_layer *layer);

/* Allocates parameters and the workspace for batches of up to max_batch.
 * Returns the first error recorded while building (message in err) or
 * GAND_ENOMEM. Parameters start at zero; call nn_net_init(). */
gand_status nn_net_finalize(nn_net *net, int max_batch, char *err, size_t errlen);

/* Initialises every parameter with scheme, drawing from rng in layer order.
 * Norm layers get scale 1 (N(1, 0.02) under NN_INIT_DCGAN) and shift 0. */
void nn_net_init(nn_net *net, gand_rng *rng, nn_init scheme);

nn_shape nn_net_in_shape(const nn_net *net);
nn_shape nn_net_out_shape(const nn_net *net);
int nn_net_max_batch(const nn_net *net);

/* Runs the net on x ((n, in) floats, n <= max_batch). The net keeps x's
 * address for the backward pass, so x must stay unchanged until then.
 * train selects batch statistics and dropout. rng is used by stochastic
 * layers (dropout) in training and may be NULL otherwise. Returns the output,
 * (n, out) floats owned by the net, valid until the next forward. */
const float *nn_net_forward(nn_net *net, const float *x, int n, bool train, gand_rng *rng);

/* Back-propagates dy ((n, out), for the last forward's n) through the net,
 * adding parameter gradients. Returns the gradient with respect to x,
 * (n, in) floats owned by the net, when want_dx, else NULL (and the first
 * layer skips computing it). */
const float *nn_net_backward(nn_net *net, const float *dy, bool want_dx);

/* Sets every parameter gradient to zero (one memset). */
void nn_net_zero_grad(nn_net *net);

/* Parameters in depth-first layer order. */
int nn_net_param_count(const nn_net *net);
nn_param *nn_net_param(nn_net *net, int i);
/* Total trainable floats and non-trainable state floats. */
size_t nn_net_num_params(const nn_net *net);
size_t nn_net_num_state(const nn_net *net);
/* The contiguous buffers: parameters, gradients, the two moments (each
 * nn_net_num_params() floats) and state (nn_net_num_state() floats). */
float *nn_net_params(nn_net *net);
float *nn_net_grads(nn_net *net);
float *nn_net_moment1(nn_net *net);
float *nn_net_moment2(nn_net *net);
float *nn_net_state(nn_net *net);

/* Number of optimiser steps taken (Adam's t). */
long nn_net_steps(const nn_net *net);
void nn_net_set_steps(nn_net *net, long steps);

/* Number of layers at the top level, and layer i's kind name and shapes. */
int nn_net_layer_count(const nn_net *net);
const char *nn_net_layer_kind(const nn_net *net, int i);
nn_shape nn_net_layer_out_shape(const nn_net *net, int i);

/* ---- optimisers (src/nn/optim.c) ---- */

typedef struct {
    float lr, beta1, beta2, eps;
    float weight_decay; /* L2 added to the gradient, as torch.optim.Adam */
} nn_adam_params;

/* lr 2e-4, betas (0.5, 0.999), eps 1e-8, no weight decay: DCGAN's settings. */
nn_adam_params nn_adam_default_params(void);

/* One Adam step over the whole net (bias-corrected, as torch.optim.Adam). */
void nn_adam_step(nn_net *net, const nn_adam_params *p);

typedef struct {
    float lr, momentum, weight_decay;
} nn_sgd_params;

/* One SGD step with momentum (torch.optim.SGD semantics: the first step
 * sets the velocity to the gradient); velocity lives in moment1. */
void nn_sgd_step(nn_net *net, const nn_sgd_params *p);

/* Clamps every trainable parameter to [-c, c] (WGAN weight clipping). */
void nn_net_clip_params(nn_net *net, float c);

/* ---- layers ----
 * Constructors return NULL on allocation failure. Input sizes come from the
 * net at nn_net_add(). */

nn_layer *nn_linear(int out_features, bool bias);
nn_layer *nn_relu(void);
nn_layer *nn_leaky_relu(float slope);
nn_layer *nn_tanh(void);
nn_layer *nn_sigmoid(void);
/* Reinterprets the sample as shape (c, h, w); sizes must match. Flatten is
 * nn_reshape(size, 1, 1). */
nn_layer *nn_reshape(int c, int h, int w);
nn_layer *nn_flatten(void);

#endif
