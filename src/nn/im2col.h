/* Internal: the data movement around convolution GEMMs (src/nn/im2col.c).
 *
 * A convolution geometry relates an image side, (c, h, w) per sample, to a
 * column side of oh x ow kernel positions, oh = (h + 2 pad - k) / stride + 1.
 * Columns cover the whole batch: cols is (c*k*k, n*oh*ow), row (ci, ki, kj),
 * column (img, oy, ox), so one GEMM serves every image. Conv2d reads its
 * input through nn_im2col and writes its input gradient through nn_col2im;
 * transposed convolution does the reverse with its output as the image. */
#ifndef GAND_NN_IM2COL_H
#define GAND_NN_IM2COL_H

#include "gand/status.h"

#include <stdbool.h>
#include <stddef.h>

/* Constructor arguments shared by nn_conv2d and nn_conv_transpose2d. */
typedef struct {
    int out_channels, kernel, stride, padding;
    bool bias;
} nn_conv_args;

/* Bound on kernel, stride, padding and image sides, so that the geometry
 * stays far from int overflow. */
#define NN_CONV_MAX_SIZE 65536

/* Checks the arguments alone (not against an input): GAND_OK or GAND_EINVAL
 * with a message. (src/nn/conv.c) */
gand_status nn_conv_check_args(const nn_conv_args *a, char *err, size_t errlen);

typedef struct {
    int c, h, w; /* image side, per sample */
    int k, s, p; /* square kernel, stride, zero padding */
    int oh, ow;  /* column side: kernel positions per sample */
} nn_conv_geom;

/* Fills g for an image of (c, h, w); sets oh, ow. The caller has checked
 * that h + 2p >= k and w + 2p >= k. This function can't fail. */
void nn_conv_geom_init(nn_conv_geom *g, int c, int h, int w, int k, int s, int p);

/* Floats of the scratch plane that nn_im2col and nn_col2im take as pad:
 * (h + 2p) * (w + 2p), 0 without padding. */
size_t nn_conv_pad_floats(const nn_conv_geom *g);

/* cols (c*k*k, n*oh*ow) = the patches of x (n, c, h, w), zero outside.
 * pad is nn_conv_pad_floats(g) floats of scratch. */
void nn_im2col(const float *x, float *cols, int n, const nn_conv_geom *g, float *pad);

/* x (n, c, h, w) += every patch of cols (c*k*k, n*oh*ow) at its place: the
 * adjoint of nn_im2col. x must be initialised (zeros, or a bias). pad is
 * nn_conv_pad_floats(g) floats of scratch. */
void nn_col2im(const float *cols, float *x, int n, const nn_conv_geom *g, float *pad);

/* out (c, n*len) = x (n, c, len) with each (c) row gathering the batch. */
void nn_permute_to_rows(const float *x, float *out, int n, int c, size_t len);
/* out (n, c, len) = x (c, n*len), the inverse of nn_permute_to_rows; adds
 * bias[ci] to every value of channel ci when bias is non-NULL. */
void nn_permute_from_rows(const float *x, const float *bias, float *out, int n, int c, size_t len);

/* Sum of x[0..len), with independent partial sums so the loop vectorises
 * without reassociation flags. */
float nn_sum(const float *x, size_t len);

#endif
