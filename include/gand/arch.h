/* Network builders: the generator and discriminator architectures the GAN
 * kinds train, built from nn layers.
 *
 * Every builder returns a finalized net for batches of up to max_batch, with
 * parameters still zero (call nn_net_init(), NN_INIT_DCGAN for the DCGAN
 * pair), or NULL with a sentence in err saying which parameter is wrong
 * (or that memory ran out). The nets are the caller's; free them with
 * nn_net_free().
 *
 * Conditioning: a generator takes z followed by g_cond extra features per
 * sample (input (z_dim + g_cond, 1, 1), joined with nn_concat_vec). A
 * discriminator takes d_cond_channels extra inputs: the DCGAN one as
 * channels broadcast over the image (input (c + k, h, w), joined with
 * nn_concat_channels), the MLP one as features after the flattened image
 * (input (c*h*w + k, 1, 1), joined with nn_concat_vec; an image batch is
 * already its flattened form, so without conditioning it is fed as is).
 * Discriminators end in a linear layer of d_out outputs per sample: the
 * logit first, then the outputs of heads that share the trunk (ACGAN's
 * class logits, InfoGAN's Q outputs).
 */
#ifndef GAND_ARCH_H
#define GAND_ARCH_H

#include "gand/nn.h"

#include <stdbool.h>
#include <stddef.h>

/* Most hidden layers an MLP net takes. */
#define ARCH_MLP_MAX_HIDDEN 4

typedef struct {
    int z_dim;           /* noise features (100) */
    nn_shape image;      /* generated and discriminated images (1, 28, 28) */
    int g_cond;          /* extra generator input features (0) */
    int d_cond_channels; /* extra discriminator inputs, see above (0) */
    int d_out;           /* discriminator outputs per sample: the logit, then
                            any heads sharing the trunk (1) */

    /* DCGAN. G maps its input to a (g_width, h/4, w/4) feature map, then to
     * (g_width/2, h/2, w/2) and to the image with two stride-2 transposed
     * convolutions; D mirrors it with d_width and 2 d_width channels. The
     * image sides must be multiples of 4. */
    int g_width;          /* 128, even */
    int d_width;          /* 64 */
    bool d_spectral_norm; /* wrap D's convolutions and linear layer in
                             nn_spectral_norm and drop its batch norm, as
                             SN-GAN does (false) */

    /* MLP (vanilla GAN). Hidden layer widths in order; the first 0 ends the
     * list, which must hold at least one width. */
    int mlp_g_hidden[ARCH_MLP_MAX_HIDDEN]; /* 256, 512, 1024 */
    int mlp_d_hidden[ARCH_MLP_MAX_HIDDEN]; /* 512, 256 */
} arch_params;

/* The defaults above: the DCGAN-28 and vanilla MNIST models. This function
 * can't fail. */
arch_params arch_default_params(void);

/* Checks p for the DCGAN builders (mlp false) or the MLP ones: GAND_OK,
 * or GAND_EINVAL with the sentence a builder would give. With parameters
 * that pass, a builder fails only when memory runs out. */
gand_status arch_check(const arch_params *p, bool mlp, char *err, size_t errlen);

/* DCGAN generator. With the defaults:
 *   z(100) -> linear 100->6272 (no bias) -> batchnorm1d -> relu
 *   -> reshape (128, 7, 7) -> conv_transpose2d 128->64 k4 s2 p1 (no bias)
 *   -> batchnorm2d -> relu -> conv_transpose2d 64->1 k4 s2 p1 -> tanh
 * A layer followed by batch norm has no bias (the norm's shift takes its
 * place), as in the PyTorch reference tests/golden/make_dcgan28.py. */
nn_net *arch_dcgan28_generator(const arch_params *p, int max_batch, char *err, size_t errlen);

/* DCGAN discriminator. With the defaults:
 *   conv2d 1->64 k4 s2 p1 -> leaky_relu 0.2
 *   -> conv2d 64->128 k4 s2 p1 (no bias) -> batchnorm2d -> leaky_relu 0.2
 *   -> flatten -> linear 6272->1 (the logit)
 * With d_spectral_norm each conv2d and the linear layer is wrapped in
 * nn_spectral_norm and the batch norm is left out (the second conv2d then
 * has a bias). */
nn_net *arch_dcgan28_discriminator(const arch_params *p, int max_batch, char *err,
                                   size_t errlen);

/* MLP generator, Goodfellow et al. 2014 as commonly run on MNIST: for each
 * hidden width a linear layer and leaky_relu 0.2, then a linear layer to
 * c*h*w values, tanh, and a reshape to the image shape. */
nn_net *arch_mlp_generator(const arch_params *p, int max_batch, char *err, size_t errlen);

/* MLP discriminator: for each hidden width a linear layer and leaky_relu
 * 0.2, then a linear layer to one logit. */
nn_net *arch_mlp_discriminator(const arch_params *p, int max_batch, char *err, size_t errlen);

#endif
