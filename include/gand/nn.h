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
 * and a workspace for every activation, two alternating activation-gradient
 * buffers and every layer's scratch at the maximum batch size: training
 * allocates nothing per step.
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

typedef struct {
    float lr, alpha, eps;
} nn_rmsprop_params;

/* One RMSProp step (torch.optim.RMSprop without momentum or centring):
 * v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps); v in moment2. */
void nn_rmsprop_step(nn_net *net, const nn_rmsprop_params *p);

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

/* 2-D convolution, weight (out, in, k, k) as PyTorch's Conv2d; square kernel,
 * same stride and zero padding on both axes; parameters "weight" and, with
 * bias, "bias" (out). out = (in + 2 * padding - kernel) / stride + 1.
 * Lowered to im2col over the whole batch and one cblas_sgemm per pass; the
 * net's scratch holds the columns: in * k^2 + out floats per output pixel
 * of the batch. Finalize reports GAND_EINVAL for out_channels, kernel or
 * stride below 1, negative padding, any of them above 65536, or a kernel
 * larger than the padded input. (src/nn/conv.c) */
nn_layer *nn_conv2d(int out_channels, int kernel, int stride, int padding, bool bias);
/* Transposed convolution, weight (in, out, k, k) as PyTorch's
 * ConvTranspose2d (whose initialisers take the fan-in from out * k^2);
 * out = (in - 1) * stride - 2 * padding + kernel, no output padding.
 * Arguments are checked as for nn_conv2d, and an output below 1x1 is
 * GAND_EINVAL. (src/nn/conv_transpose.c) */
nn_layer *nn_conv_transpose2d(int out_channels, int kernel, int stride, int padding, bool bias);

/* Batch normalisation (eps 1e-5, momentum 0.1, as PyTorch): over the features
 * of (n, F) samples (any sample shape; each value is a feature), or over the
 * channels of (n, C, H, W) (C x 1 x 1 samples are normalised per channel
 * over the batch, as by nn_batchnorm1d). Parameters "scale", "shift" (one
 * per feature or channel); state "running_mean", "running_var" (unbiased),
 * 0 and 1 after finalize and after every nn_net_init. Training uses batch
 * statistics and updates the running ones; evaluation uses the running ones.
 * The backward differentiates whichever the last forward used. Where
 * PyTorch refuses a single value per channel in training, the running
 * variance takes its variance (0) unscaled. (src/nn/norm.c) */
nn_layer *nn_batchnorm1d(void);
nn_layer *nn_batchnorm2d(void);
/* Instance normalisation over each sample's channel (eps 1e-5, no running
 * statistics, so training and evaluation compute the same), with
 * per-channel "scale" and "shift" when affine. The plane must hold more
 * than one value (GAND_EINVAL otherwise). (src/nn/norm.c) */
nn_layer *nn_instancenorm2d(bool affine);

/* Inverted dropout: in training zeroes each value with probability p (drawn
 * from the forward's rng, which training forwards must then pass) and
 * scales the rest by 1 / (1 - p); identity in evaluation. p must be in
 * [0, 1), else finalize reports GAND_EINVAL. (src/nn/layers.c) */
nn_layer *nn_dropout(float p);
/* Nearest-neighbour upsampling by an integer factor. (src/nn/layers.c) */
nn_layer *nn_upsample_nearest(int factor);
/* (C r^2, H, W) -> (C, H r, W r), as PyTorch's PixelShuffle:
 * y[c, h r + a, w r + b] = x[c r^2 + a r + b, h, w]. (src/nn/layers.c) */
nn_layer *nn_pixel_shuffle(int factor);
/* PReLU with one learnable slope "weight" per channel (a vector sample
 * (F, 1, 1) has one per feature), 0.25 under every init scheme.
 * (src/nn/layers.c) */
nn_layer *nn_prelu(void);
/* y = x + body(x). Takes ownership of the n body layers (also on failure,
 * also when an entry is NULL from a failed constructor, which makes the
 * result NULL); 1 to 16 layers whose output shape equals the block's input
 * shape. Body parameters live in the enclosing net's buffers, in body
 * order, at the block's place among the net's layers. (src/nn/residual.c) */
nn_layer *nn_residual(nn_layer **body, int n);
/* Spectral normalisation of inner's weight (inner is nn_linear, nn_conv2d or
 * nn_conv_transpose2d; ownership passes): the layer computes with W / sigma,
 * sigma estimated by power iteration on a persistent vector "u" (state),
 * one iteration per training forward, as torch.nn.utils.spectral_norm
 * (eps 1e-12; W viewed with rows along dim 0, dim 1 for a transposed
 * convolution); the gradient flows through sigma with u and v held
 * constant, as in PyTorch. Evaluation forwards leave u alone and use
 * v = normalize(W^T u). The parameters are "u" (state, initialised to a
 * random unit vector) followed by inner's. (src/nn/spectral.c) */
nn_layer *nn_spectral_norm(nn_layer *inner);

/* ---- conditioning (src/nn/concat.c) ----
 * Free functions for joining a conditioning input to a net's input or to a
 * feature map between nets. */

/* out (n, da + db) = [a (n, da) | b (n, db)] per sample. */
void nn_concat_vec(const float *a, int da, const float *b, int db, float *out, int n);
/* Splits dout (n, da + db) into da_out (n, da) and db_out (n, db); either
 * output may be NULL. */
void nn_concat_vec_backward(const float *dout, int da, int db, float *da_out, float *db_out,
                            int n);
/* out (n, C + K, H, W): x (n, C, H, W) followed by K channels, channel k
 * filled with cond[k] (cond is (n, K)), the broadcast way of conditioning a
 * convolutional net. */
void nn_concat_channels(const float *x, nn_shape xs, const float *cond, int k, float *out,
                        int n);
/* dx (n, C, H, W) is the first C channels of dout; dcond (n, K) the sum of
 * each extra channel. Either output may be NULL. */
void nn_concat_channels_backward(const float *dout, nn_shape xs, int k, float *dx, float *dcond,
                                 int n);
/* one_hot (n, k): row i is 1 at labels[i], 0 elsewhere. Every label must
 * be in [0, k) (the caller validates labels when it loads them). */
void nn_one_hot(const int *labels, int k, float *one_hot, int n);

#endif
