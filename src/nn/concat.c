/* Conditioning helpers: joining labels or codes to a net's input or to a
 * feature map, and splitting the gradient back. */
#include "gand/nn.h"

#include <assert.h>
#include <string.h>

/* a is (n, da), b is (n, db), out is (n, da + db) */
void nn_concat_vec(const float *a, int da, const float *b, int db, float *out, int n)
{
    size_t w = (size_t)da + db;
    for (int i = 0; i < n; i++) {
        memcpy(out + i * w, a + (size_t)i * da, (size_t)da * sizeof(float));
        memcpy(out + i * w + da, b + (size_t)i * db, (size_t)db * sizeof(float));
    }
}

/* dout is (n, da + db), da_out is (n, da), db_out is (n, db) */
void nn_concat_vec_backward(const float *dout, int da, int db, float *da_out, float *db_out,
                            int n)
{
    size_t w = (size_t)da + db;
    for (int i = 0; i < n; i++) {
        if (da_out)
            memcpy(da_out + (size_t)i * da, dout + i * w, (size_t)da * sizeof(float));
        if (db_out)
            memcpy(db_out + (size_t)i * db, dout + i * w + da, (size_t)db * sizeof(float));
    }
}

/* x is (n, C, H, W), cond is (n, K), out is (n, C + K, H, W) */
void nn_concat_channels(const float *x, nn_shape xs, const float *cond, int k, float *out,
                        int n)
{
    size_t plane = (size_t)xs.h * xs.w, xsz = nn_shape_size(xs), osz = xsz + (size_t)k * plane;
    for (int i = 0; i < n; i++) {
        float *o = out + i * osz;
        memcpy(o, x + i * xsz, xsz * sizeof(float));
        for (int c = 0; c < k; c++) {
            float v = cond[(size_t)i * k + c];
            float *p = o + xsz + c * plane;
            for (size_t j = 0; j < plane; j++)
                p[j] = v;
        }
    }
}

/* dout is (n, C + K, H, W), dx is (n, C, H, W), dcond is (n, K) */
void nn_concat_channels_backward(const float *dout, nn_shape xs, int k, float *dx, float *dcond,
                                 int n)
{
    size_t plane = (size_t)xs.h * xs.w, xsz = nn_shape_size(xs), osz = xsz + (size_t)k * plane;
    for (int i = 0; i < n; i++) {
        const float *d = dout + i * osz;
        if (dx)
            memcpy(dx + i * xsz, d, xsz * sizeof(float));
        if (!dcond)
            continue;
        for (int c = 0; c < k; c++) {
            const float *p = d + xsz + c * plane;
            float s = 0.0f;
            for (size_t j = 0; j < plane; j++)
                s += p[j];
            dcond[(size_t)i * k + c] = s;
        }
    }
}

/* labels is (n), each in [0, k); one_hot is (n, k) */
void nn_one_hot(const int *labels, int k, float *one_hot, int n)
{
    memset(one_hot, 0, (size_t)n * k * sizeof(float));
    for (int i = 0; i < n; i++) {
        assert(labels[i] >= 0 && labels[i] < k);
        one_hot[(size_t)i * k + labels[i]] = 1.0f;
    }
}
