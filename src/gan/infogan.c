/* InfoGAN (Chen et al. 2016): G takes noise, a categorical code and
 * continuous codes; a Q head on D's trunk (D's outputs 1..n_cat are the
 * categorical logits, the next n_cont the continuous codes' means, unit
 * variance) recovers them. Both D (trunk and Q) and G minimise
 * lambda_info times the negative log-likelihood of the codes, the
 * variational lower bound of the mutual information. */
#include "internal.h"

#include "gand/nn_loss.h"

static gand_status build(gan_trainer *t, char *err, size_t errlen)
{
    int codes = t->spec.n_cat + t->spec.n_cont;
    return gan_build_pair(t, codes, 0, 1 + codes, err, errlen);
}

/* The information loss of out's Q outputs against the codes that made the
 * batch; gradient scaled by lambda_info added to d_grad. */
static double info_loss(gan_trainer *t, const float *out, int n, int *correct)
{
    int nc = t->spec.n_cat, nk = t->spec.n_cont;
    float lambda = t->spec.lambda_info;
    gan_head_gather(t, out, n, 1, nc);
    double l = nn_loss_softmax_ce(t->head, t->fake_labels, n, nc, t->head_grad);
    *correct = nn_loss_count_correct(t->head, t->fake_labels, n, nc);
    gan_head_scatter(t, n, 1, nc, lambda);
    if (nk > 0) {
        gan_head_gather(t, out, n, 1 + nc, nk);
        l += nn_loss_gaussian_nll(t->head, NULL, t->fake_cont, n, nk, t->head_grad, NULL);
        gan_head_scatter(t, n, 1 + nc, nk, lambda);
    }
    return l;
}

static void step(gan_trainer *t, gand_rng *rng, gan_metric *m, int *nm)
{
    int n = t->batch;
    float lambda = t->spec.lambda_info;
    double loss_d = 0, d_real = 0, d_fake = 0;
    int right;
    const float *fake = NULL;
    for (int c = 0; c < t->spec.n_critic; c++) {
        gan_next_real(t);
        gan_fill_g_input(t, rng, n, true);
        fake = nn_net_forward(t->g, t->g_input, n, true, rng);

        nn_net_zero_grad(t->d);
        const float *out = gan_d_forward(t, t->real, NULL, n, true);
        double l = gan_d_adv_loss(t, out, n, true, &d_real);
        gan_d_backward(t, n, false);
        out = gan_d_forward(t, fake, NULL, n, true);
        l += gan_d_adv_loss(t, out, n, false, &d_fake);
        l += lambda * info_loss(t, out, n, &right);
        gan_d_backward(t, n, false);
        gan_optimizer_step(t, t->d, t->spec.lr_d);
        loss_d = l;
    }
    if (t->spec.n_critic > 1) {
        gan_fill_g_input(t, rng, n, true);
        fake = nn_net_forward(t->g, t->g_input, n, true, rng);
    }
    nn_net_zero_grad(t->g);
    const float *out = gan_d_forward(t, fake, NULL, n, true);
    double loss_g = gan_g_adv_loss(t, out, n);
    double info = info_loss(t, out, n, &right);
    loss_g += lambda * info;
    nn_net_backward(t->g, gan_d_backward(t, n, true), false);
    gan_optimizer_step(t, t->g, t->spec.lr_g);

    gan_metric_add(m, nm, "loss_d", loss_d);
    gan_metric_add(m, nm, "loss_g", loss_g);
    gan_metric_add(m, nm, "d_real", d_real);
    gan_metric_add(m, nm, "d_fake", d_fake);
    gan_metric_add(m, nm, "info_loss", info);
    gan_metric_add(m, nm, "code_acc", (double)right / n);
}

const gan_kind_ops gan_infogan_ops = {.build = build, .step = step};
