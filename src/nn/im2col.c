/* im2col / col2im over a whole batch, permutes between NCHW and the
 * channel-major layout of the GEMMs, and a vectorisable sum.
 *
 * Both im2col and col2im walk one plane (ci, img) at a time and visit its
 * k*k column rows, so the plane stays in L1 while the rows stream. The plane
 * goes through a zero-bordered copy, so no inner loop tests bounds; with
 * stride 2, kernel columns kj and kj+1 are handled together because their
 * taps interleave into one contiguous run (about 2x faster than one column
 * at a time for DCGAN's 4x4 stride-2 layers, where rows are only 7 to 14
 * long). */
#include "im2col.h"

#include <string.h>

void nn_conv_geom_init(nn_conv_geom *g, int c, int h, int w, int k, int s, int p)
{
    *g = (nn_conv_geom){.c = c, .h = h, .w = w, .k = k, .s = s, .p = p};
    g->oh = (h + 2 * p - k) / s + 1;
    g->ow = (w + 2 * p - k) / s + 1;
}

size_t nn_conv_pad_floats(const nn_conv_geom *g)
{
    return g->p ? (size_t)(g->h + 2 * g->p) * (g->w + 2 * g->p) : 0;
}

/* d[i] = r[i * s] */
static inline void gather_row(float *restrict d, const float *restrict r, int len, int s)
{
    if (s == 1) {
        for (int i = 0; i < len; i++)
            d[i] = r[i];
    } else {
        for (int i = 0; i < len; i++)
            d[i] = r[(size_t)i * s];
    }
}

/* a[i] = r[2i], b[i] = r[2i + 1]: two kernel columns of a stride-2
 * convolution read one contiguous run, which vectorises as a deinterleave. */
static inline void gather_pair(float *restrict a, float *restrict b, const float *restrict r,
                               int len)
{
    for (int i = 0; i < len; i++) {
        a[i] = r[2 * i];
        b[i] = r[2 * i + 1];
    }
}

/* r[i * s] += d[i] */
static inline void scatter_row(float *restrict r, const float *restrict d, int len, int s)
{
    if (s == 1) {
        for (int i = 0; i < len; i++)
            r[i] += d[i];
    } else {
        for (int i = 0; i < len; i++)
            r[(size_t)i * s] += d[i];
    }
}

/* r[2i] += a[i], r[2i + 1] += b[i] */
static inline void scatter_pair(float *restrict r, const float *restrict a, const float *restrict b,
                                int len)
{
    for (int i = 0; i < len; i++) {
        r[2 * i] += a[i];
        r[2 * i + 1] += b[i];
    }
}

/* x is (n, c, h, w), cols is (c*k*k, n*oh*ow), pad is (h+2p, w+2p) */
void nn_im2col(const float *restrict x, float *restrict cols, int n, const nn_conv_geom *g,
               float *restrict pad)
{
    const int k = g->k, s = g->s, p = g->p, h = g->h, w = g->w, oh = g->oh, ow = g->ow;
    const size_t ohw = (size_t)oh * ow, N = (size_t)n * ohw, hw = (size_t)h * w;
    const int pitch = w + 2 * p;
    if (p)
        memset(pad, 0, nn_conv_pad_floats(g) * sizeof(float)); /* the border stays zero */
    for (int ci = 0; ci < g->c; ci++) {
        for (int img = 0; img < n; img++) {
            const float *plane = x + ((size_t)img * g->c + ci) * hw;
            const float *src = plane;
            if (p) {
                for (int y = 0; y < h; y++)
                    memcpy(pad + (size_t)(y + p) * pitch + p, plane + (size_t)y * w,
                           (size_t)w * sizeof(float));
                src = pad;
            }
            float *dst = cols + (size_t)ci * k * k * N + (size_t)img * ohw;
            for (int ki = 0; ki < k; ki++) {
                float *row = dst + (size_t)ki * k * N; /* kernel column 0 */
                int kj = 0;
                for (; s == 2 && kj + 1 < k; kj += 2) {
                    float *a = row + (size_t)kj * N, *b = a + N;
                    for (int oy = 0; oy < oh; oy++)
                        gather_pair(a + (size_t)oy * ow, b + (size_t)oy * ow,
                                    src + (size_t)(2 * oy + ki) * pitch + kj, ow);
                }
                for (; kj < k; kj++) {
                    float *a = row + (size_t)kj * N;
                    for (int oy = 0; oy < oh; oy++)
                        gather_row(a + (size_t)oy * ow, src + (size_t)(s * oy + ki) * pitch + kj,
                                   ow, s);
                }
            }
        }
    }
}

/* cols is (c*k*k, n*oh*ow), x is (n, c, h, w) and is added to, pad is
 * (h+2p, w+2p) */
void nn_col2im(const float *restrict cols, float *restrict x, int n, const nn_conv_geom *g,
               float *restrict pad)
{
    const int k = g->k, s = g->s, p = g->p, h = g->h, w = g->w, oh = g->oh, ow = g->ow;
    const size_t ohw = (size_t)oh * ow, N = (size_t)n * ohw, hw = (size_t)h * w;
    const int pitch = w + 2 * p;
    for (int ci = 0; ci < g->c; ci++) {
        for (int img = 0; img < n; img++) {
            float *plane = x + ((size_t)img * g->c + ci) * hw;
            /* Without padding every tap lands in the plane; with it, taps
             * accumulate in a padded copy whose interior is added at the end. */
            float *dst = plane;
            if (p) {
                memset(pad, 0, nn_conv_pad_floats(g) * sizeof(float));
                dst = pad;
            }
            const float *src = cols + (size_t)ci * k * k * N + (size_t)img * ohw;
            for (int ki = 0; ki < k; ki++) {
                const float *row = src + (size_t)ki * k * N;
                int kj = 0;
                for (; s == 2 && kj + 1 < k; kj += 2) {
                    const float *a = row + (size_t)kj * N, *b = a + N;
                    for (int oy = 0; oy < oh; oy++)
                        scatter_pair(dst + (size_t)(2 * oy + ki) * pitch + kj, a + (size_t)oy * ow,
                                     b + (size_t)oy * ow, ow);
                }
                for (; kj < k; kj++) {
                    const float *a = row + (size_t)kj * N;
                    for (int oy = 0; oy < oh; oy++)
                        scatter_row(dst + (size_t)(s * oy + ki) * pitch + kj, a + (size_t)oy * ow,
                                    ow, s);
                }
            }
            if (p) {
                for (int y = 0; y < h; y++) {
                    const float *restrict r = pad + (size_t)(y + p) * pitch + p;
                    float *restrict o = plane + (size_t)y * w;
                    for (int i = 0; i < w; i++)
                        o[i] += r[i];
                }
            }
        }
    }
}

/* x is (n, c, len), out is (c, n*len) */
void nn_permute_to_rows(const float *restrict x, float *restrict out, int n, int c, size_t len)
{
    for (int img = 0; img < n; img++)
        for (int ci = 0; ci < c; ci++)
            memcpy(out + ((size_t)ci * n + img) * len, x + ((size_t)img * c + ci) * len,
                   len * sizeof(float));
}

/* x is (c, n*len), bias is (c) or NULL, out is (n, c, len) */
void nn_permute_from_rows(const float *restrict x, const float *restrict bias, float *restrict out,
                          int n, int c, size_t len)
{
    for (int img = 0; img < n; img++) {
        for (int ci = 0; ci < c; ci++) {
            const float *src = x + ((size_t)ci * n + img) * len;
            float *dst = out + ((size_t)img * c + ci) * len;
            if (bias) {
                float b = bias[ci];
                for (size_t i = 0; i < len; i++)
                    dst[i] = src[i] + b;
            } else {
                memcpy(dst, src, len * sizeof(float));
            }
        }
    }
}

float nn_sum(const float *restrict x, size_t len)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += x[i + j];
    float t = 0.0f;
    for (; i < len; i++)
        t += x[i];
    for (int j = 0; j < 8; j++)
        t += acc[j];
    return t;
}
