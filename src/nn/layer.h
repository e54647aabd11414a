/* Internal: the layer vtable every layer kind implements. */
#ifndef GAND_NN_LAYER_H
#define GAND_NN_LAYER_H

#include "gand/nn.h"

#define NN_LAYER_MAX_PARAMS 8

typedef struct nn_layer_ops {
    const char *kind;
    /* Given the input shape, sets l->out and declares parameters with
     * nn_layer_param(). Returns GAND_OK, or GAND_EINVAL with a message when the
     * shape is not one this layer accepts, or GAND_ENOMEM. */
    gand_status (*setup)(nn_layer *l, char *err, size_t errlen);
    /* Scratch floats needed for a batch of n (saved statistics, im2col
     * columns, masks). May be NULL for none. */
    size_t (*scratch_floats)(const nn_layer *l, int n);
    /* Called once the net has placed parameters and scratch; may be NULL. */
    void (*bind)(nn_layer *l);
    /* x is (n, in), y is (n, out). rng may be NULL outside training. */
    void (*forward)(nn_layer *l, const float *x, float *y, int n, bool train, gand_rng *rng);
    /* x, y as in the forward just run, dy is (n, out). Adds to parameter
     * gradients; writes dx (n, in) unless dx is NULL. */
    void (*backward)(nn_layer *l, const float *x, const float *y, const float *dy, float *dx,
                     int n);
    /* Initialises parameters; NULL means the generic scheme in net.c
     * (weights by fan, "bias"/"shift" 0, "scale" 1). */
    void (*init)(nn_layer *l, gand_rng *rng, nn_init scheme);
    /* Frees the kind's private state (not the layer itself); may be NULL. */
    void (*free)(nn_layer *l);
} nn_layer_ops;

struct nn_layer {
    const nn_layer_ops *ops;
    nn_shape in, out;
    nn_param params[NN_LAYER_MAX_PARAMS];
    int nparams;
    /* Sub-layers (a residual block's body); their parameters are placed in
     * the net's buffers after this layer's own, depth first. */
    nn_layer **children;
    int nchildren;
    float *scratch; /* scratch_floats(max_batch) floats, set by the net */
    int max_batch;
    void *priv; /* per-kind state, freed by ops->free */
};

/* Allocates a layer with ops and zeroed private state of priv_size bytes.
 * NULL on allocation failure. */
nn_layer *nn_layer_alloc(const nn_layer_ops *ops, size_t priv_size);

/* Declares a parameter during setup(); dims has ndim entries. fan_in and
 * fan_out feed the initialisers (0 for non-weights). Returns its index. */
int nn_layer_param(nn_layer *l, const char *name, bool trainable, int fan_in, int fan_out,
                   int ndim, const int *dims);

/* Frees a layer and its children. NULL is a no-op. */
void nn_layer_free(nn_layer *l);

/* Runs setup on l for input shape in, then on its children (set up by the
 * layer itself in its setup). */
gand_status nn_layer_setup(nn_layer *l, nn_shape in, char *err, size_t errlen);

/* Default initialisation of one parameter under scheme (what init == NULL
 * does for each parameter). */
void nn_param_init_default(nn_param *p, gand_rng *rng, nn_init scheme);

#endif
