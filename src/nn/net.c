/* Sequential nets: building, buffer placement, forward and backward. */
#include "layer.h"

#include "gand/alloc.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#define NN_NET_MAX_LAYERS 64

struct nn_net {
    nn_shape in;
    nn_layer *layers[NN_NET_MAX_LAYERS];
    int nlayers;
    gand_status error; /* first error recorded while building */
    char errmsg[256];
    bool finalized;
    int max_batch;

    /* every parameter, depth first */
    nn_param **params;
    int nparams;
    size_t num_params, num_state;
    float *p, *g, *m, *v, *state; /* one allocation each */
    long steps;

    /* workspace: act[i] is layer i's output (act of the input is x);
     * the backward pass alternates between two gradient buffers, each as
     * large as the largest layer output (a layer reads its output gradient
     * from one and writes its input gradient to the other); dx is the
     * gradient w.r.t. x */
    float *work;
    float *act[NN_NET_MAX_LAYERS];
    float *grad[2];
    float *dx;
    const float *x; /* input of the last forward */
    int n;          /* batch of the last forward */
};

nn_layer *nn_layer_alloc(const nn_layer_ops *ops, size_t priv_size)
{
    nn_layer *l = gand_calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->ops = ops;
    if (priv_size) {
        l->priv = gand_calloc(1, priv_size);
        if (!l->priv) {
            gand_free(l);
            return NULL;
        }
    }
    return l;
}

void nn_layer_free(nn_layer *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->nchildren; i++)
        nn_layer_free(l->children[i]);
    gand_free(l->children);
    if (l->ops->free)
        l->ops->free(l);
    gand_free(l->priv);
    gand_free(l);
}

int nn_layer_param(nn_layer *l, const char *name, bool trainable, int fan_in, int fan_out,
                   int ndim, const int *dims)
{
    /* Layers declare a fixed, small number of parameters; exceeding the table
     * is a programming error caught by the layer's own tests. */
    assert(l->nparams < NN_LAYER_MAX_PARAMS && ndim <= NN_MAX_DIMS);
    int i = l->nparams++;
    nn_param *p = &l->params[i];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->count = 1;
    for (int d = 0; d < ndim; d++) {
        p->dims[d] = dims[d];
        p->count *= (size_t)dims[d];
    }
    p->trainable = trainable;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    return i;
}

gand_status nn_layer_setup(nn_layer *l, nn_shape in, char *err, size_t errlen)
{
    l->in = in;
    l->out = in;
    l->nparams = 0;
    if (l->ops->setup)
        return l->ops->setup(l, err, errlen);
    return GAND_OK;
}

nn_net *nn_net_create(nn_shape in)
{
    nn_net *net = gand_calloc(1, sizeof *net);
    if (!net)
        return NULL;
    net->in = in;
    if (in.c <= 0 || in.h <= 0 || in.w <= 0)
        net->error = gand_errorf(net->errmsg, sizeof net->errmsg, GAND_EINVAL,
                                 "net input shape (%d,%d,%d) must be positive", in.c, in.h, in.w);
    return net;
}

void nn_net_free(nn_net *net)
{
    if (!net)
        return;
    for (int i = 0; i < net->nlayers; i++)
        nn_layer_free(net->layers[i]);
    gand_free(net->params);
    gand_free(net->p);
    gand_free(net->g);
    gand_free(net->m);
    gand_free(net->v);
    gand_free(net->state);
    gand_free(net->work);
    gand_free(net);
}

void nn_net_add(nn_net *net, nn_layer *layer)
{
    if (net->error || net->finalized) {
        if (!net->error)
            net->error = gand_errorf(net->errmsg, sizeof net->errmsg, GAND_EINVAL,
                                     "layers cannot be added to a finalized net");
        nn_layer_free(layer);
        return;
    }
    if (!layer) {
        net->error = gand_errorf(net->errmsg, sizeof net->errmsg, GAND_ENOMEM,
                                 "out of memory while building layer %d", net->nlayers);
        return;
    }
    if (net->nlayers == NN_NET_MAX_LAYERS) {
        net->error = gand_errorf(net->errmsg, sizeof net->errmsg, GAND_ERANGE,
                                 "a net holds at most %d layers", NN_NET_MAX_LAYERS);
        nn_layer_free(layer);
        return;
    }
    nn_shape in = net->nlayers ? net->layers[net->nlayers - 1]->out : net->in;
    char msg[200] = "";
    gand_status st = nn_layer_setup(layer, in, msg, sizeof msg);
    if (st != GAND_OK) {
        net->error = gand_errorf(net->errmsg, sizeof net->errmsg, st,
                                 "layer %d (%s) on input (%d,%d,%d): %s", net->nlayers,
                                 layer->ops->kind, in.c, in.h, in.w, msg);
        nn_layer_free(layer);
        return;
    }
    net->layers[net->nlayers++] = layer;
}

/* Visits l and its children depth first, collecting parameter pointers when
 * out is non-NULL; returns the number of parameters. */
static int collect_params(nn_layer *l, nn_param **out, int k)
{
    for (int i = 0; i < l->nparams; i++) {
        if (out)
            out[k] = &l->params[i];
        k++;
    }
    for (int c = 0; c < l->nchildren; c++)
        k = collect_params(l->children[c], out, k);
    return k;
}

gand_status nn_net_finalize(nn_net *net, int max_batch, char *err, size_t errlen)
{
    if (net->error)
        return gand_errorf(err, errlen, net->error, "%s", net->errmsg);
    if (net->finalized)
        return GAND_OK;
    if (net->nlayers == 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "the net has no layers");
    if (max_batch <= 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "max batch %d must be positive", max_batch);
    net->max_batch = max_batch;

    int np = 0;
    for (int i = 0; i < net->nlayers; i++)
        np = collect_params(net->layers[i], NULL, np);
    net->params = gand_calloc((size_t)(np ? np : 1), sizeof *net->params);
    if (!net->params)
        goto oom;
    np = 0;
    for (int i = 0; i < net->nlayers; i++)
        np = collect_params(net->layers[i], net->params, np);
    net->nparams = np;

    for (int i = 0; i < np; i++) {
        if (net->params[i]->trainable)
            net->num_params += net->params[i]->count;
        else
            net->num_state += net->params[i]->count;
    }
    size_t pbytes = net->num_params * sizeof(float);
    net->p = gand_aligned_alloc(pbytes);
    net->g = gand_aligned_alloc(pbytes);
    net->m = gand_aligned_alloc(pbytes);
    net->v = gand_aligned_alloc(pbytes);
    net->state = gand_aligned_alloc(net->num_state * sizeof(float));
    if (!net->p || !net->g || !net->m || !net->v || !net->state)
        goto oom;
    size_t po = 0, so = 0;
    for (int i = 0; i < np; i++) {
        nn_param *p = net->params[i];
        if (p->trainable) {
            p->w = net->p + po;
            p->g = net->g + po;
            po += p->count;
        } else {
            p->w = net->state + so;
            p->g = NULL;
            so += p->count;
        }
    }

    /* Workspace layout: for each layer its output and output gradient, the
     * input gradient, then each layer's scratch; every piece 16-float aligned. */
    size_t total = 0, largest = 0;
#define ALIGN16(x) (((x) + 15) & ~(size_t)15)
    for (int i = 0; i < net->nlayers; i++) {
        size_t sz = ALIGN16((size_t)max_batch * nn_shape_size(net->layers[i]->out));
        total += sz;
        if (sz > largest)
            largest = sz;
    }
    total += 2 * largest;
    total += ALIGN16((size_t)max_batch * nn_shape_size(net->in));
    for (int i = 0; i < net->nlayers; i++) {
        nn_layer *l = net->layers[i];
        if (l->ops->scratch_floats)
            total += ALIGN16(l->ops->scratch_floats(l, max_batch));
    }
    net->work = gand_aligned_alloc(total * sizeof(float));
    if (!net->work)
        goto oom;
    float *w = net->work;
    for (int i = 0; i < net->nlayers; i++) {
        net->act[i] = w;
        w += ALIGN16((size_t)max_batch * nn_shape_size(net->layers[i]->out));
    }
    net->grad[0] = w;
    net->grad[1] = w + largest;
    w += 2 * largest;
    net->dx = w;
    w += ALIGN16((size_t)max_batch * nn_shape_size(net->in));
    for (int i = 0; i < net->nlayers; i++) {
        nn_layer *l = net->layers[i];
        l->max_batch = max_batch;
        if (l->ops->scratch_floats) {
            l->scratch = w;
            w += ALIGN16(l->ops->scratch_floats(l, max_batch));
        }
    }
#undef ALIGN16
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i]->ops->bind)
            net->layers[i]->ops->bind(net->layers[i]);
    net->finalized = true;
    return GAND_OK;

oom:
    gand_free(net->params);
    gand_free(net->p);
    gand_free(net->g);
    gand_free(net->m);
    gand_free(net->v);
    gand_free(net->state);
    net->params = NULL;
    net->p = net->g = net->m = net->v = net->state = NULL;
    net->nparams = 0;
    net->num_params = net->num_state = 0;
    return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory allocating the net's buffers");
}

void nn_param_init_default(nn_param *p, gand_rng *rng, nn_init scheme)
{
    if (!p->trainable)
        return;
    bool is_scale = strcmp(p->name, "scale") == 0;
    bool is_weight = strcmp(p->name, "weight") == 0;
    if (is_scale) {
        for (size_t i = 0; i < p->count; i++)
            p->w[i] = scheme == NN_INIT_DCGAN ? 1.0f + 0.02f * gand_rng_normal(rng) : 1.0f;
        return;
    }
    if (!is_weight) { /* biases and shifts */
        if (scheme == NN_INIT_DEFAULT && p->fan_in > 0) {
            float a = 1.0f / sqrtf((float)p->fan_in);
            for (size_t i = 0; i < p->count; i++)
                p->w[i] = a * (2.0f * gand_rng_uniform(rng) - 1.0f);
        } else {
            memset(p->w, 0, p->count * sizeof(float));
        }
        return;
    }
    float a = 0.0f;
    switch (scheme) {
    case NN_INIT_DCGAN:
        for (size_t i = 0; i < p->count; i++)
            p->w[i] = 0.02f * gand_rng_normal(rng);
        return;
    case NN_INIT_DEFAULT:
        a = 1.0f / sqrtf((float)(p->fan_in > 0 ? p->fan_in : 1));
        break;
    case NN_INIT_XAVIER_UNIFORM:
        a = sqrtf(6.0f / (float)(p->fan_in + p->fan_out > 0 ? p->fan_in + p->fan_out : 1));
        break;
    case NN_INIT_KAIMING_UNIFORM:
        a = sqrtf(6.0f / (float)(p->fan_in > 0 ? p->fan_in : 1));
        break;
    }
    for (size_t i = 0; i < p->count; i++)
        p->w[i] = a * (2.0f * gand_rng_uniform(rng) - 1.0f);
}

static void init_layer(nn_layer *l, gand_rng *rng, nn_init scheme)
{
    if (l->ops->init)
        l->ops->init(l, rng, scheme);
    else
        for (int i = 0; i < l->nparams; i++)
            nn_param_init_default(&l->params[i], rng, scheme);
    for (int c = 0; c < l->nchildren; c++)
        init_layer(l->children[c], rng, scheme);
}

void nn_net_init(nn_net *net, gand_rng *rng, nn_init scheme)
{
    for (int i = 0; i < net->nlayers; i++)
        init_layer(net->layers[i], rng, scheme);
    memset(net->m, 0, net->num_params * sizeof(float));
    memset(net->v, 0, net->num_params * sizeof(float));
    net->steps = 0;
}

nn_shape nn_net_in_shape(const nn_net *net) { return net->in; }
nn_shape nn_net_out_shape(const nn_net *net)
{
    return net->nlayers ? net->layers[net->nlayers - 1]->out : net->in;
}
int nn_net_max_batch(const nn_net *net) { return net->max_batch; }

const float *nn_net_forward(nn_net *net, const float *x, int n, bool train, gand_rng *rng)
{
    net->x = x;
    net->n = n;
    const float *in = x;
    for (int i = 0; i < net->nlayers; i++) {
        nn_layer *l = net->layers[i];
        l->ops->forward(l, in, net->act[i], n, train, rng);
        in = net->act[i];
    }
    return in;
}

const float *nn_net_backward(nn_net *net, const float *dy, bool want_dx)
{
    int n = net->n;
    const float *d = dy;
    for (int i = net->nlayers - 1; i >= 0; i--) {
        nn_layer *l = net->layers[i];
        const float *x = i ? net->act[i - 1] : net->x;
        /* the caller's dy is never written: layer i writes buffer i % 2 */
        float *dx = i ? net->grad[i % 2] : (want_dx ? net->dx : NULL);
        l->ops->backward(l, x, net->act[i], d, dx, n);
        d = dx;
    }
    return want_dx ? net->dx : NULL;
}

void nn_net_zero_grad(nn_net *net) { memset(net->g, 0, net->num_params * sizeof(float)); }

int nn_net_param_count(const nn_net *net) { return net->nparams; }
nn_param *nn_net_param(nn_net *net, int i) { return net->params[i]; }
size_t nn_net_num_params(const nn_net *net) { return net->num_params; }
size_t nn_net_num_state(const nn_net *net) { return net->num_state; }
float *nn_net_params(nn_net *net) { return net->p; }
float *nn_net_grads(nn_net *net) { return net->g; }
float *nn_net_moment1(nn_net *net) { return net->m; }
float *nn_net_moment2(nn_net *net) { return net->v; }
float *nn_net_state(nn_net *net) { return net->state; }
long nn_net_steps(const nn_net *net) { return net->steps; }
void nn_net_set_steps(nn_net *net, long steps) { net->steps = steps; }
int nn_net_layer_count(const nn_net *net) { return net->nlayers; }
const char *nn_net_layer_kind(const nn_net *net, int i) { return net->layers[i]->ops->kind; }
nn_shape nn_net_layer_out_shape(const nn_net *net, int i) { return net->layers[i]->out; }
