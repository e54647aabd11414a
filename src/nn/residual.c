/* Residual block: y = x + body(x), the body a short sequence of layers held
 * as children so that net.c places their parameters after the block's own
 * (it has none), depth first.
 *
 * The block's scratch holds, for each child i in turn, its output act_i,
 * the gradient with respect to it dact_i (both (n, out_i)) and the child's
 * own scratch. The last child's dact is never used: its output gradient is
 * the block's dy. */
#include "layer.h"

#include "gand/alloc.h"

#include <string.h>

#define RES_ALIGN16(x) (((x) + 15) & ~(size_t)15)

#define RES_MAX_BODY 16

typedef struct {
    float *act[RES_MAX_BODY];
    float *dact[RES_MAX_BODY];
} residual_priv;

static gand_status residual_setup(nn_layer *l, char *err, size_t errlen)
{
    if (l->nchildren == 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "a residual block needs at least one layer");
    if (l->nchildren > RES_MAX_BODY)
        return gand_errorf(err, errlen, GAND_ERANGE, "a residual block holds at most %d layers",
                           RES_MAX_BODY);
    nn_shape s = l->in;
    for (int i = 0; i < l->nchildren; i++) {
        nn_layer *c = l->children[i];
        char msg[160] = "";
        gand_status st = nn_layer_setup(c, s, msg, sizeof msg);
        if (st != GAND_OK)
            return gand_errorf(err, errlen, st, "body layer %d (%s) on input (%d,%d,%d): %s", i,
                               c->ops->kind, s.c, s.h, s.w, msg);
        s = c->out;
    }
    if (s.c != l->in.c || s.h != l->in.h || s.w != l->in.w)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "the body maps (%d,%d,%d) to (%d,%d,%d); a residual body must keep "
                           "the shape",
                           l->in.c, l->in.h, l->in.w, s.c, s.h, s.w);
    return GAND_OK;
}

static size_t child_scratch(const nn_layer *c, int n)
{
    return c->ops->scratch_floats ? RES_ALIGN16(c->ops->scratch_floats(c, n)) : 0;
}

static size_t residual_scratch(const nn_layer *l, int n)
{
    size_t t = 0;
    for (int i = 0; i < l->nchildren; i++) {
        const nn_layer *c = l->children[i];
        t += 2 * RES_ALIGN16((size_t)n * nn_shape_size(c->out)) + child_scratch(c, n);
    }
    return t;
}

static void residual_bind(nn_layer *l)
{
    residual_priv *p = l->priv;
    float *w = l->scratch;
    for (int i = 0; i < l->nchildren; i++) {
        nn_layer *c = l->children[i];
        size_t sz = RES_ALIGN16((size_t)l->max_batch * nn_shape_size(c->out));
        p->act[i] = w;
        p->dact[i] = w + sz;
        w += 2 * sz;
        c->max_batch = l->max_batch;
        if (c->ops->scratch_floats) {
            c->scratch = w;
            w += child_scratch(c, l->max_batch);
        }
        if (c->ops->bind)
            c->ops->bind(c);
    }
}

/* x, y are (n, size) */
static void residual_forward(nn_layer *l, const float *x, float *y, int n, bool train,
                             gand_rng *rng)
{
    residual_priv *p = l->priv;
    const float *in = x;
    for (int i = 0; i < l->nchildren; i++) {
        nn_layer *c = l->children[i];
        c->ops->forward(c, in, p->act[i], n, train, rng);
        in = p->act[i];
    }
    size_t t = (size_t)n * nn_shape_size(l->in);
    for (size_t i = 0; i < t; i++)
        y[i] = x[i] + in[i];
}

/* dx = dy + d body / dx; the body's input gradient lands in dx first. */
static void residual_backward(nn_layer *l, const float *x, const float *y, const float *dy,
                              float *dx, int n)
{
    residual_priv *p = l->priv;
    const float *d = dy;
    for (int i = l->nchildren - 1; i >= 0; i--) {
        nn_layer *c = l->children[i];
        const float *cx = i ? p->act[i - 1] : x;
        float *cdx = i ? p->dact[i - 1] : dx;
        c->ops->backward(c, cx, p->act[i], d, cdx, n);
        d = cdx;
    }
    if (dx) {
        size_t t = (size_t)n * nn_shape_size(l->in);
        for (size_t i = 0; i < t; i++)
            dx[i] += dy[i];
    }
}

static const nn_layer_ops residual_ops = {
    .kind = "residual",
    .setup = residual_setup,
    .scratch_floats = residual_scratch,
    .bind = residual_bind,
    .forward = residual_forward,
    .backward = residual_backward,
};

nn_layer *nn_residual(nn_layer **body, int n)
{
    nn_layer *l = NULL;
    for (int i = 0; i < n; i++)
        if (!body[i])
            goto err;
    l = nn_layer_alloc(&residual_ops, sizeof(residual_priv));
    if (!l)
        goto err;
    if (n > 0) {
        l->children = gand_calloc((size_t)n, sizeof *l->children);
        if (!l->children)
            goto err;
        memcpy(l->children, body, (size_t)n * sizeof *body);
        l->nchildren = n;
    }
    return l;

err:
    nn_layer_free(l); /* holds no children yet */
    for (int i = 0; i < n; i++)
        nn_layer_free(body[i]);
    return NULL;
}
