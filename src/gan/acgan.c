/* ACGAN (Odena et al. 2017): G is conditioned on a class; D has a real/fake
 * head (output 0) and a class head (outputs 1..K) on a shared trunk, and
 * both nets also minimise the class head's cross-entropy (no softmax before
 * it: the loss takes the logits). */
#include "internal.h"

#include "gand/nn_loss.h"

static gand_status build(gan_trainer *t, char *err, size_t errlen)
{
    int k = t->num_classes;
    if (k < 2)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "acgan needs a labelled dataset with at least 2 classes; '%s' has %d",
                           t->spec.dataset, k);
    return gan_build_pair(t, k, 0, 1 + k, err, errlen);
}

/* Class loss of out's class head against labels; gradient added to d_grad.
 * *correct receives the number of right predictions. */
static double class_loss(gan_trainer *t, const float *out, const int *labels, int n, int *correct)
{
    int k = t->num_classes;
    gan_head_gather(t, out, n, 1, k);
    double l = nn_loss_softmax_ce(t->head, labels, n, k, t->head_grad);
    *correct = nn_loss_count_correct(t->head, labels, n, k);
    gan_head_scatter(t, n, 1, k, 1.0f);
    return l;
}

static void step(gan_trainer *t, gand_rng *rng, gan_metric *m, int *nm)
{
    int n = t->batch;
    double loss_d = 0, d_real = 0, d_fake = 0;
    int right_real = 0, right_fake = 0;
    const float *fake = NULL;
    for (int c = 0; c < t->spec.n_critic; c++) {
        gan_next_real(t);
        gan_fill_g_input(t, rng, n, true);
        fake = nn_net_forward(t->g, t->g_input, n, true, rng);

        nn_net_zero_grad(t->d);
        const float *out = gan_d_forward(t, t->real, t->labels, n, true);
        double l = gan_d_adv_loss(t, out, n, true, &d_real);
        l += class_loss(t, out, t->labels, n, &right_real);
        gan_d_backward(t, n, false);
        out = gan_d_forward(t, fake, t->fake_labels, n, true);
        l += gan_d_adv_loss(t, out, n, false, &d_fake);
        l += class_loss(t, out, t->fake_labels, n, &right_fake);
        gan_d_backward(t, n, false);
        gan_optimizer_step(t, t->d, t->spec.lr_d);
        loss_d = l;
    }
    if (t->spec.n_critic > 1) {
        gan_fill_g_input(t, rng, n, true);
        fake = nn_net_forward(t->g, t->g_input, n, true, rng);
    }
    nn_net_zero_grad(t->g);
    const float *out = gan_d_forward(t, fake, t->fake_labels, n, true);
    int right_g;
    double loss_g = gan_g_adv_loss(t, out, n);
    loss_g += class_loss(t, out, t->fake_labels, n, &right_g);
    nn_net_backward(t->g, gan_d_backward(t, n, true), false);
    gan_optimizer_step(t, t->g, t->spec.lr_g);

    gan_metric_add(m, nm, "loss_d", loss_d);
    gan_metric_add(m, nm, "loss_g", loss_g);
    gan_metric_add(m, nm, "d_real", d_real);
    gan_metric_add(m, nm, "d_fake", d_fake);
    gan_metric_add(m, nm, "acc_real", (double)right_real / n);
    gan_metric_add(m, nm, "acc_fake", (double)right_fake / n);
}

const gan_kind_ops gan_acgan_ops = {.build = build, .step = step};
