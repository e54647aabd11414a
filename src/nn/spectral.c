/* Spectral normalisation, as torch.nn.utils.spectral_norm with one power
 * iteration and eps 1e-12.
 *
 * The wrapped layer (the single child) computes with W_sn = W / sigma. W is
 * viewed as a matrix (rows, cols): for linear (out, in) and conv2d
 * (oc, ic, k, k) the rows are dim 0; for conv_transpose2d (ic, oc, k, k)
 * they are dim 1, so the matrix is W permuted to (oc, ic, k, k). Both views
 * are handled as nblocks blocks: block a is the contiguous (rows, R) slab
 * W[a] whose columns are matrix columns a R .. a R + R - 1 (one block for
 * dim 0, ic blocks for dim 1).
 *
 * A training forward does one power iteration on the state vector u:
 * v = normalize(W^T u), u = normalize(W v), sigma = u^T W v. An evaluation
 * forward leaves u alone and uses v = normalize(W^T u), which is what the
 * last training forward's v would be for the stored u; PyTorch keeps v as
 * a buffer instead, and the two agree once the iteration has converged.
 *
 * The backward treats u and v as constants, as PyTorch does:
 * dW = (dW_sn - sum(dW_sn * W_sn) u v^T) / sigma. */
#include "layer.h"

#include "gand/alloc.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define SN_EPS 1e-12

typedef struct {
    int rows, cols, nblocks, R;
    float sigma;
    /* scratch: W_sn and its gradient (the weight's shape), v (cols), and the
     * u the forward used (rows) */
    float *wsn, *gsn, *v, *u;
} spectral_priv;

#define SN_ALIGN16(x) (((x) + 15) & ~(size_t)15)

static gand_status spectral_setup(nn_layer *l, char *err, size_t errlen)
{
    spectral_priv *p = l->priv;
    nn_layer *inner = l->children[0];
    const char *kind = inner->ops->kind;
    int dim;
    if (strcmp(kind, "linear") == 0 || strcmp(kind, "conv2d") == 0)
        dim = 0;
    else if (strcmp(kind, "conv_transpose2d") == 0)
        dim = 1;
    else
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "spectral normalisation wraps linear, conv2d or conv_transpose2d "
                           "layers, not %s",
                           kind);
    char msg[160] = "";
    gand_status st = nn_layer_setup(inner, l->in, msg, sizeof msg);
    if (st != GAND_OK)
        return gand_errorf(err, errlen, st, "%s: %s", kind, msg);
    l->out = inner->out;
    const nn_param *w = &inner->params[0];
    int d0 = w->dims[0], d1 = w->dims[1];
    p->rows = dim == 0 ? d0 : d1;
    p->cols = (int)(w->count / (size_t)p->rows);
    p->nblocks = dim == 0 ? 1 : d0;
    p->R = p->cols / p->nblocks;
    nn_layer_param(l, "u", false, 0, 0, 1, (int[]){p->rows});
    return GAND_OK;
}

static size_t own_scratch(const spectral_priv *p, size_t count)
{
    return 2 * SN_ALIGN16(count) + SN_ALIGN16((size_t)p->cols) + SN_ALIGN16((size_t)p->rows);
}

static size_t spectral_scratch(const nn_layer *l, int n)
{
    const nn_layer *inner = l->children[0];
    size_t t = own_scratch(l->priv, inner->params[0].count);
    if (inner->ops->scratch_floats)
        t += inner->ops->scratch_floats(inner, n);
    return t;
}

static void spectral_bind(nn_layer *l)
{
    spectral_priv *p = l->priv;
    nn_layer *inner = l->children[0];
    size_t count = inner->params[0].count;
    float *s = l->scratch;
    p->wsn = s;
    p->gsn = p->wsn + SN_ALIGN16(count);
    p->v = p->gsn + SN_ALIGN16(count);
    p->u = p->v + SN_ALIGN16((size_t)p->cols);
    inner->max_batch = l->max_batch;
    if (inner->ops->scratch_floats)
        inner->scratch = s + own_scratch(p, count);
    if (inner->ops->bind)
        inner->ops->bind(inner);
}

/* a /= max(|a|, eps); a is (len) */
static void normalize(float *a, int len)
{
    double s = 0.0;
    for (int i = 0; i < len; i++)
        s += (double)a[i] * a[i];
    float k = (float)(1.0 / fmax(sqrt(s), SN_EPS));
    for (int i = 0; i < len; i++)
        a[i] *= k;
}

/* v (cols) = W^T u, u is (rows); W as the blocks above */
static void mat_t_vec(const spectral_priv *p, const float *w, const float *u, float *v)
{
    for (int a = 0; a < p->nblocks; a++)
        cblas_sgemv(CblasRowMajor, CblasTrans, p->rows, p->R, 1.0f,
                    w + (size_t)a * p->rows * p->R, p->R, u, 1, 0.0f, v + (size_t)a * p->R, 1);
}

/* t (rows) = W v, v is (cols) */
static void mat_vec(const spectral_priv *p, const float *w, const float *v, float *t)
{
    for (int a = 0; a < p->nblocks; a++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, p->rows, p->R, 1.0f,
                    w + (size_t)a * p->rows * p->R, p->R, v + (size_t)a * p->R, 1,
                    a ? 1.0f : 0.0f, t, 1);
}

static void spectral_forward(nn_layer *l, const float *x, float *y, int n, bool train,
                             gand_rng *rng)
{
    spectral_priv *p = l->priv;
    nn_layer *inner = l->children[0];
    nn_param *wp = &inner->params[0];
    float *u_state = l->params[0].w;
    const float *w = wp->w;

    mat_t_vec(p, w, u_state, p->v);
    normalize(p->v, p->cols);
    mat_vec(p, w, p->v, p->u); /* p->u holds t = W v for now */
    if (train) {
        memcpy(u_state, p->u, (size_t)p->rows * sizeof(float));
        normalize(u_state, p->rows);
    }
    double sigma = 0.0;
    for (int i = 0; i < p->rows; i++)
        sigma += (double)u_state[i] * p->u[i];
    memcpy(p->u, u_state, (size_t)p->rows * sizeof(float));
    /* only an all-zero W gives sigma 0; keep W_sn finite (zero) then */
    p->sigma = (float)fmax(sigma, SN_EPS);

    float inv = 1.0f / p->sigma;
    for (size_t i = 0; i < wp->count; i++)
        p->wsn[i] = w[i] * inv;
    float *real = wp->w;
    wp->w = p->wsn;
    inner->ops->forward(inner, x, y, n, train, rng);
    wp->w = real;
}

static void spectral_backward(nn_layer *l, const float *x, const float *y, const float *dy,
                              float *dx, int n)
{
    spectral_priv *p = l->priv;
    nn_layer *inner = l->children[0];
    nn_param *wp = &inner->params[0];
    size_t count = wp->count;
    float *real_w = wp->w, *real_g = wp->g;

    memset(p->gsn, 0, count * sizeof(float));
    wp->w = p->wsn;
    wp->g = p->gsn;
    inner->ops->backward(inner, x, y, dy, dx, n);
    wp->w = real_w;
    wp->g = real_g;

    double s = 0.0;
    for (size_t i = 0; i < count; i++)
        s += (double)p->gsn[i] * p->wsn[i];
    cblas_saxpy((int)count, 1.0f / p->sigma, p->gsn, 1, real_g, 1);
    float alpha = (float)(-s / p->sigma);
    for (int a = 0; a < p->nblocks; a++)
        cblas_sger(CblasRowMajor, p->rows, p->R, alpha, p->u, 1, p->v + (size_t)a * p->R, 1,
                   real_g + (size_t)a * p->rows * p->R, p->R);
}

/* u starts as a normalised standard normal vector, as in PyTorch; the
 * wrapped layer is initialised by the net after this (it is a child). */
static void spectral_init(nn_layer *l, gand_rng *rng, nn_init scheme)
{
    nn_param *u = &l->params[0];
    for (size_t i = 0; i < u->count; i++)
        u->w[i] = gand_rng_normal(rng);
    normalize(u->w, (int)u->count);
}

static const nn_layer_ops spectral_ops = {
    .kind = "spectral_norm",
    .setup = spectral_setup,
    .scratch_floats = spectral_scratch,
    .bind = spectral_bind,
    .forward = spectral_forward,
    .backward = spectral_backward,
    .init = spectral_init,
};

nn_layer *nn_spectral_norm(nn_layer *inner)
{
    if (!inner)
        return NULL;
    nn_layer *l = nn_layer_alloc(&spectral_ops, sizeof(spectral_priv));
    if (!l)
        goto err;
    l->children = gand_calloc(1, sizeof *l->children);
    if (!l->children)
        goto err;
    l->children[0] = inner;
    l->nchildren = 1;
    return l;

err:
    nn_layer_free(l);
    nn_layer_free(inner);
    return NULL;
}
