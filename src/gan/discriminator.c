/* D's side of a step for every kind: its conditioned input, the
 * adversarial losses the spec names, the columns of the heads, and the
 * optimiser step. */
#include "internal.h"

#include "gand/nn_loss.h"

#include <math.h>
#include <string.h>


const float *gan_d_forward(gan_trainer *t, const float *images, const int *labels, int n,
                           bool train)
{
    if (t->d_cond_channels == 0)
        return nn_net_forward(t->d, images, n, train, NULL);
    /* one-hot labels broadcast as extra channels */
    float *onehot = t->img_grad; /* free until the G backward, sized (B, img) >= (B, K) */
    nn_one_hot(labels, t->d_cond_channels, onehot, n);
    nn_concat_channels(images, t->img, onehot, t->d_cond_channels, t->d_input, n);
    return nn_net_forward(t->d, t->d_input, n, train, NULL);
}

const float *gan_d_backward(gan_trainer *t, int n, bool want_img)
{
    const float *dx = nn_net_backward(t->d, t->d_grad, want_img);
    if (!want_img || t->d_cond_channels == 0)
        return dx;
    nn_concat_channels_backward(dx, t->img, t->d_cond_channels, t->img_grad, NULL, n);
    return t->img_grad;
}

void gan_optimizer_step(gan_trainer *t, nn_net *net, float lr)
{
    if (t->spec.optimizer == GAN_OPT_RMSPROP) {
        nn_rmsprop_params p = {.lr = lr, .alpha = t->spec.beta2, .eps = 1e-8f};
        nn_rmsprop_step(net, &p);
    } else {
        nn_adam_params p = {.lr = lr, .beta1 = t->spec.beta1, .beta2 = t->spec.beta2,
                            .eps = 1e-8f};
        nn_adam_step(net, &p);
    }
}

/* Copies column 0 of out (n, d_out) into t->col. */
static const float *adv_column(gan_trainer *t, const float *out, int n)
{
    if (t->d_out == 1)
        return out;
    for (int i = 0; i < n; i++)
        t->col[i] = out[(size_t)i * t->d_out];
    return t->col;
}

/* Sets column 0 of t->d_grad (n, d_out) to t->col_grad and the other
 * columns to 0; heads add their gradients after. */
static void put_column(gan_trainer *t, int n)
{
    memset(t->d_grad, 0, (size_t)n * t->d_out * sizeof(float));
    for (int i = 0; i < n; i++)
        t->d_grad[(size_t)i * t->d_out] = t->col_grad[i];
}

void gan_head_gather(gan_trainer *t, const float *out, int n, int c0, int k)
{
    for (int i = 0; i < n; i++)
        memcpy(t->head + (size_t)i * k, out + (size_t)i * t->d_out + c0, (size_t)k * sizeof(float));
}

void gan_head_scatter(gan_trainer *t, int n, int c0, int k, float scale)
{
    for (int i = 0; i < n; i++) {
        float *g = t->d_grad + (size_t)i * t->d_out + c0;
        const float *h = t->head_grad + (size_t)i * k;
        for (int j = 0; j < k; j++)
            g[j] += scale * h[j];
    }
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

double gan_d_adv_loss(gan_trainer *t, const float *out, int n, bool real, double *score)
{
    const float *x = adv_column(t, out, n);
    double loss = 0.0, s = 0.0;
    switch (t->spec.loss) {
    case GAN_LOSS_BCE:
        loss = nn_loss_bce_logits_const(x, n, real ? 1.0f : 0.0f, t->col_grad);
        for (int i = 0; i < n; i++)
            s += sigmoid(x[i]);
        break;
    case GAN_LOSS_MSE: /* LSGAN with a = 0, b = 1: 0.5 (D(x) - b)^2 + 0.5 D(G(z))^2 */
        loss = 0.5 * nn_loss_mse_const(x, n, real ? 1.0f : 0.0f, t->col_grad);
        for (int i = 0; i < n; i++) {
            t->col_grad[i] *= 0.5f;
            s += x[i];
        }
        break;
    case GAN_LOSS_HINGE:
        loss = real ? nn_loss_hinge_real(x, n, t->col_grad) : nn_loss_hinge_fake(x, n, t->col_grad);
        for (int i = 0; i < n; i++)
            s += x[i];
        break;
    case GAN_LOSS_WASSERSTEIN: /* critic minimises mean(fake) - mean(real) */
        loss = nn_loss_mean(x, n, real ? -1.0f : 1.0f, t->col_grad);
        for (int i = 0; i < n; i++)
            s += x[i];
        break;
    }
    *score = s / n;
    if (t->d_out == 1)
        memcpy(t->d_grad, t->col_grad, (size_t)n * sizeof(float));
    else
        put_column(t, n);
    return loss;
}

double gan_g_adv_loss(gan_trainer *t, const float *out, int n)
{
    const float *x = adv_column(t, out, n);
    double loss;
    switch (t->spec.loss) {
    case GAN_LOSS_BCE:
        loss = nn_loss_bce_logits_const(x, n, 1.0f, t->col_grad);
        break;
    case GAN_LOSS_MSE: /* c = 1 */
        loss = 0.5 * nn_loss_mse_const(x, n, 1.0f, t->col_grad);
        for (int i = 0; i < n; i++)
            t->col_grad[i] *= 0.5f;
        break;
    default: /* hinge and Wasserstein generators: -mean(D(G(z))) */
        loss = nn_loss_mean(x, n, -1.0f, t->col_grad);
        break;
    }
    if (t->d_out == 1)
        memcpy(t->d_grad, t->col_grad, (size_t)n * sizeof(float));
    else
        put_column(t, n);
    return loss;
}
