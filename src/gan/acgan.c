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

/* The class head against the real labels or the generated ones. */
static double heads(gan_trainer *t, const float *out, int n, gan_pass pass)
{
    int k = t->num_classes;
    const int *labels = pass == GAN_PASS_REAL ? t->labels : t->fake_labels;
    gan_head_gather(t, out, n, 1, k);
    double l = nn_loss_softmax_ce(t->head, labels, n, k, t->head_grad);
    t->head_right[pass] = nn_loss_count_correct(t->head, labels, n, k);
    gan_head_scatter(t, n, 1, k, 1.0f);
    return l;
}

static void metrics(gan_trainer *t, gan_metric *m, int *nm)
{
    gan_metric_add(m, nm, "acc_real", (double)t->head_right[GAN_PASS_REAL] / t->batch);
    gan_metric_add(m, nm, "acc_fake", (double)t->head_right[GAN_PASS_FAKE] / t->batch);
}

const gan_kind_ops gan_acgan_ops = {.build = build, .heads = heads, .metrics = metrics};
