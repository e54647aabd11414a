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

/* Real images carry no codes; on generated ones the information loss of
 * the Q outputs against the codes that made them, its gradient scaled by
 * lambda_info. Returns lambda_info times the loss. */
static double heads(gan_trainer *t, const float *out, int n, gan_pass pass)
{
    if (pass == GAN_PASS_REAL)
        return 0.0;
    int nc = t->spec.n_cat, nk = t->spec.n_cont;
    float lambda = t->spec.lambda_info;
    gan_head_gather(t, out, n, 1, nc);
    double l = nn_loss_softmax_ce(t->head, t->fake_labels, n, nc, t->head_grad);
    t->head_right[pass] = nn_loss_count_correct(t->head, t->fake_labels, n, nc);
    gan_head_scatter(t, n, 1, nc, lambda);
    if (nk > 0) {
        gan_head_gather(t, out, n, 1 + nc, nk);
        l += nn_loss_gaussian_nll(t->head, NULL, t->fake_cont, n, nk, t->head_grad, NULL);
        gan_head_scatter(t, n, 1 + nc, nk, lambda);
    }
    t->head_loss[pass] = l;
    return lambda * l;
}

static void metrics(gan_trainer *t, gan_metric *m, int *nm)
{
    gan_metric_add(m, nm, "info_loss", t->head_loss[GAN_PASS_G]);
    gan_metric_add(m, nm, "code_acc", (double)t->head_right[GAN_PASS_G] / t->batch);
}

const gan_kind_ops gan_infogan_ops = {.build = build, .heads = heads, .metrics = metrics};
