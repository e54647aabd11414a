/* Network builders: DCGAN and MLP generator/discriminator pairs. */
#include "gand/arch.h"

/* Keeps every layer size far from int overflow. */
#define ARCH_MAX_SIZE (1 << 20)

arch_params arch_default_params(void)
{
    return (arch_params){
        .z_dim = 100,
        .image = {1, 28, 28},
        .g_width = 128,
        .d_width = 64,
        .d_out = 1,
        .mlp_g_hidden = {256, 512, 1024},
        .mlp_d_hidden = {512, 256},
    };
}

static bool in_range(int v, int lo) { return v >= lo && v <= ARCH_MAX_SIZE; }

/* Checks what every builder uses. */
static gand_status check_common(const arch_params *p, char *err, size_t errlen)
{
    if (!in_range(p->z_dim, 1))
        return gand_errorf(err, errlen, GAND_EINVAL, "z_dim %d must be between 1 and %d",
                           p->z_dim, ARCH_MAX_SIZE);
    if (!in_range(p->d_out, 1))
        return gand_errorf(err, errlen, GAND_EINVAL, "d_out %d must be between 1 and %d",
                           p->d_out, ARCH_MAX_SIZE);
    if (!in_range(p->g_cond, 0) || !in_range(p->d_cond_channels, 0))
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "conditioning sizes (g_cond %d, d_cond_channels %d) must be between "
                           "0 and %d",
                           p->g_cond, p->d_cond_channels, ARCH_MAX_SIZE);
    nn_shape s = p->image;
    if (!in_range(s.c, 1) || !in_range(s.h, 1) || !in_range(s.w, 1) ||
        nn_shape_size(s) > ARCH_MAX_SIZE)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "image shape (%d,%d,%d) must be positive and hold at most %d values",
                           s.c, s.h, s.w, ARCH_MAX_SIZE);
    return GAND_OK;
}

static gand_status check_dcgan(const arch_params *p, char *err, size_t errlen)
{
    gand_status st = check_common(p, err, errlen);
    if (st != GAND_OK)
        return st;
    if (p->image.h % 4 || p->image.w % 4)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "the DCGAN nets halve the image twice, so its sides (%d x %d) must be "
                           "multiples of 4",
                           p->image.h, p->image.w);
    if (!in_range(p->g_width, 2) || p->g_width % 2)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "g_width %d must be even and between 2 and %d", p->g_width,
                           ARCH_MAX_SIZE);
    if (!in_range(p->d_width, 1) || p->d_width > ARCH_MAX_SIZE / 2)
        return gand_errorf(err, errlen, GAND_EINVAL, "d_width %d must be between 1 and %d",
                           p->d_width, ARCH_MAX_SIZE / 2);
    /* the largest layer: G's and D's flattened 1/4-size maps */
    long map = (long)(p->image.h / 4) * (p->image.w / 4);
    if (map * p->g_width > ARCH_MAX_SIZE || map * 2 * p->d_width > ARCH_MAX_SIZE)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "g_width %d or d_width %d is too large for %d x %d images",
                           p->g_width, p->d_width, p->image.h, p->image.w);
    return GAND_OK;
}

/* Number of hidden widths in list (up to the first 0), or -1 with a
 * message when one is out of range or there is none. */
static int mlp_hidden_count(const int *list, const char *field, char *err, size_t errlen)
{
    int n = 0;
    while (n < ARCH_MLP_MAX_HIDDEN && list[n] != 0) {
        if (!in_range(list[n], 1)) {
            gand_errorf(err, errlen, GAND_EINVAL, "%s[%d] = %d must be between 1 and %d", field,
                        n, list[n], ARCH_MAX_SIZE);
            return -1;
        }
        n++;
    }
    if (n == 0) {
        gand_errorf(err, errlen, GAND_EINVAL, "%s needs at least one hidden width", field);
        return -1;
    }
    return n;
}

/* Finalizes a built net; on failure frees it and returns NULL, the message
 * in err. */
static nn_net *finish(nn_net *net, const char *what, int max_batch, char *err, size_t errlen)
{
    if (!net) {
        gand_errorf(err, errlen, GAND_ENOMEM, "out of memory building the %s", what);
        return NULL;
    }
    char msg[256];
    if (nn_net_finalize(net, max_batch, msg, sizeof msg) != GAND_OK) {
        gand_errorf(err, errlen, GAND_EINVAL, "cannot build the %s: %s", what, msg);
        nn_net_free(net);
        return NULL;
    }
    return net;
}

static nn_layer *maybe_sn(bool sn, nn_layer *l) { return sn ? nn_spectral_norm(l) : l; }

gand_status arch_check(const arch_params *p, bool mlp, char *err, size_t errlen)
{
    if (!mlp)
        return check_dcgan(p, err, errlen);
    gand_status st = check_common(p, err, errlen);
    if (st == GAND_OK && (mlp_hidden_count(p->mlp_g_hidden, "mlp_g_hidden", err, errlen) < 0 ||
                          mlp_hidden_count(p->mlp_d_hidden, "mlp_d_hidden", err, errlen) < 0))
        st = GAND_EINVAL;
    return st;
}

nn_net *arch_dcgan28_generator(const arch_params *p, int max_batch, char *err, size_t errlen)
{
    if (check_dcgan(p, err, errlen) != GAND_OK)
        return NULL;
    int h0 = p->image.h / 4, w0 = p->image.w / 4;
    nn_net *g = nn_net_create((nn_shape){p->z_dim + p->g_cond, 1, 1});
    if (g) {
        nn_net_add(g, nn_linear(p->g_width * h0 * w0, false));
        nn_net_add(g, nn_batchnorm1d());
        nn_net_add(g, nn_relu());
        nn_net_add(g, nn_reshape(p->g_width, h0, w0));
        nn_net_add(g, nn_conv_transpose2d(p->g_width / 2, 4, 2, 1, false));
        nn_net_add(g, nn_batchnorm2d());
        nn_net_add(g, nn_relu());
        nn_net_add(g, nn_conv_transpose2d(p->image.c, 4, 2, 1, true));
        nn_net_add(g, nn_tanh());
    }
    return finish(g, "DCGAN generator", max_batch, err, errlen);
}

nn_net *arch_dcgan28_discriminator(const arch_params *p, int max_batch, char *err,
                                   size_t errlen)
{
    if (check_dcgan(p, err, errlen) != GAND_OK)
        return NULL;
    bool sn = p->d_spectral_norm;
    nn_shape in = {p->image.c + p->d_cond_channels, p->image.h, p->image.w};
    nn_net *d = nn_net_create(in);
    if (d) {
        nn_net_add(d, maybe_sn(sn, nn_conv2d(p->d_width, 4, 2, 1, true)));
        nn_net_add(d, nn_leaky_relu(0.2f));
        nn_net_add(d, maybe_sn(sn, nn_conv2d(2 * p->d_width, 4, 2, 1, sn)));
        if (!sn)
            nn_net_add(d, nn_batchnorm2d());
        nn_net_add(d, nn_leaky_relu(0.2f));
        nn_net_add(d, nn_flatten());
        nn_net_add(d, maybe_sn(sn, nn_linear(p->d_out, true)));
    }
    return finish(d, "DCGAN discriminator", max_batch, err, errlen);
}

nn_net *arch_mlp_generator(const arch_params *p, int max_batch, char *err, size_t errlen)
{
    if (check_common(p, err, errlen) != GAND_OK)
        return NULL;
    int nh = mlp_hidden_count(p->mlp_g_hidden, "mlp_g_hidden", err, errlen);
    if (nh < 0)
        return NULL;
    nn_net *g = nn_net_create((nn_shape){p->z_dim + p->g_cond, 1, 1});
    if (g) {
        for (int i = 0; i < nh; i++) {
            nn_net_add(g, nn_linear(p->mlp_g_hidden[i], true));
            nn_net_add(g, nn_leaky_relu(0.2f));
        }
        nn_net_add(g, nn_linear((int)nn_shape_size(p->image), true));
        nn_net_add(g, nn_tanh());
        nn_net_add(g, nn_reshape(p->image.c, p->image.h, p->image.w));
    }
    return finish(g, "MLP generator", max_batch, err, errlen);
}

nn_net *arch_mlp_discriminator(const arch_params *p, int max_batch, char *err, size_t errlen)
{
    if (check_common(p, err, errlen) != GAND_OK)
        return NULL;
    int nh = mlp_hidden_count(p->mlp_d_hidden, "mlp_d_hidden", err, errlen);
    if (nh < 0)
        return NULL;
    int in = (int)nn_shape_size(p->image) + p->d_cond_channels;
    nn_net *d = nn_net_create((nn_shape){in, 1, 1});
    if (d) {
        for (int i = 0; i < nh; i++) {
            nn_net_add(d, nn_linear(p->mlp_d_hidden[i], true));
            nn_net_add(d, nn_leaky_relu(0.2f));
        }
        nn_net_add(d, nn_linear(p->d_out, true));
    }
    return finish(d, "MLP discriminator", max_batch, err, errlen);
}
