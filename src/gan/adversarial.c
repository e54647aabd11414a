/* The single-head kinds: vanilla, dcgan, cgan, lsgan, wgan and hinge differ
 * only in their nets and their loss; one D head gives one logit or score. */
#include "internal.h"

#include <string.h>

static arch_params params_for(const gan_trainer *t)
{
    arch_params p = arch_default_params();
    p.z_dim = t->spec.z_dim;
    p.image = t->img;
    p.g_width = t->spec.g_width;
    p.d_width = t->spec.d_width;
    return p;
}

/* Builds G and D for the kinds with one adversarial output, plus extra
 * discriminator outputs (d_out > 1) for the kinds with heads. */
gand_status gan_build_pair(gan_trainer *t, int g_cond, int d_cond_channels, int d_out,
                           char *err, size_t errlen)
{
    arch_params p = params_for(t);
    p.g_cond = g_cond;
    p.d_cond_channels = d_cond_channels;
    p.d_out = d_out;
    p.d_spectral_norm = t->spec.kind == GAN_HINGE;
    if (t->spec.kind == GAN_VANILLA) {
        int g = t->spec.g_width, d = t->spec.d_width;
        memcpy(p.mlp_g_hidden, (int[]){g, 2 * g, 4 * g, 0}, sizeof p.mlp_g_hidden);
        memcpy(p.mlp_d_hidden, (int[]){2 * d, d, 0, 0}, sizeof p.mlp_d_hidden);
        t->g = arch_mlp_generator(&p, t->spec.batch_size, err, errlen);
        if (t->g)
            t->d = arch_mlp_discriminator(&p, t->spec.batch_size, err, errlen);
    } else {
        t->g = arch_dcgan28_generator(&p, t->spec.batch_size, err, errlen);
        if (t->g)
            t->d = arch_dcgan28_discriminator(&p, t->spec.batch_size, err, errlen);
    }
    if (!t->g || !t->d) {
        nn_net_free(t->g);
        t->g = NULL;
        /* valid parameters fail only for want of memory */
        char msg[256];
        gand_status st = arch_check(&p, t->spec.kind == GAN_VANILLA, msg, sizeof msg);
        return st != GAND_OK ? st : GAND_ENOMEM;
    }
    t->nets[0] = t->g;
    t->nets[1] = t->d;
    t->net_names[0] = "G";
    t->net_names[1] = "D";
    t->nnets = 2;
    t->g_cond = g_cond;
    t->d_cond_channels = d_cond_channels;
    t->d_out = d_out;
    return GAND_OK;
}

static gand_status build(gan_trainer *t, char *err, size_t errlen)
{
    int k = gan_kind_conditional(t->spec.kind) ? t->num_classes : 0;
    return gan_build_pair(t, k, k, 1, err, errlen);
}

/* D's loss on one pass: the adversarial column, plus the kind's heads. */
static double d_pass_loss(gan_trainer *t, const float *out, int n, gan_pass pass, double *score)
{
    double l = pass == GAN_PASS_G ? gan_g_adv_loss(t, out, n)
                                  : gan_d_adv_loss(t, out, n, pass == GAN_PASS_REAL, score);
    if (t->ops->heads)
        l += t->ops->heads(t, out, n, pass);
    return l;
}

/* The classic alternation: D on a real and a generated batch (n_critic
 * times), then G through the frozen D. With one critic step the G step
 * reuses the generated batch, as the DCGAN reference does; with several it
 * draws new noise, as the WGAN reference does. */
void gan_step(gan_trainer *t, gand_rng *rng, gan_metric *m, int *nm)
{
    int n = t->batch;
    double loss_d = 0, d_real = 0, d_fake = 0;
    const float *fake = NULL;
    for (int k = 0; k < t->spec.n_critic; k++) {
        gan_next_real(t);
        gan_fill_g_input(t, rng, n, true);
        fake = nn_net_forward(t->g, t->g_input, n, true, rng);

        nn_net_zero_grad(t->d);
        const float *out = gan_d_forward(t, t->real, t->labels, n, true);
        loss_d = d_pass_loss(t, out, n, GAN_PASS_REAL, &d_real);
        gan_d_backward(t, n, false);
        out = gan_d_forward(t, fake, t->fake_labels, n, true);
        loss_d += d_pass_loss(t, out, n, GAN_PASS_FAKE, &d_fake);
        gan_d_backward(t, n, false);
        gan_optimizer_step(t, t->d, t->spec.lr_d);
        if (t->spec.kind == GAN_WGAN)
            nn_net_clip_params(t->d, t->spec.clip);
    }
    if (t->spec.n_critic > 1) {
        gan_fill_g_input(t, rng, n, true);
        fake = nn_net_forward(t->g, t->g_input, n, true, rng);
    }
    nn_net_zero_grad(t->g);
    const float *out = gan_d_forward(t, fake, t->fake_labels, n, true);
    double loss_g = d_pass_loss(t, out, n, GAN_PASS_G, NULL);
    nn_net_backward(t->g, gan_d_backward(t, n, true), false);
    gan_optimizer_step(t, t->g, t->spec.lr_g);

    gan_metric_add(m, nm, "loss_d", loss_d);
    gan_metric_add(m, nm, "loss_g", loss_g);
    gan_metric_add(m, nm, "d_real", d_real);
    gan_metric_add(m, nm, "d_fake", d_fake);
    if (t->ops->metrics)
        t->ops->metrics(t, m, nm);
}

const gan_kind_ops gan_adversarial_ops = {.build = build};

const gan_kind_ops *gan_kind_ops_get(gan_kind kind)
{
    switch (kind) {
    case GAN_ACGAN: return &gan_acgan_ops;
    case GAN_INFOGAN: return &gan_infogan_ops;
    default: return &gan_adversarial_ops;
    }
}
