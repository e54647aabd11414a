/* Loss functions for the nn engine.
 *
 * Every loss takes n predictions (and targets where it has them), returns
 * the loss value with mean reduction over the n values (PyTorch's default;
 * sums are accumulated in double) and, when grad is non-NULL, WRITES
 * d loss / d pred into grad (n floats, overwritten, not accumulated), ready
 * to be passed to nn_net_backward(). grad may alias neither input.
 * None of these functions can fail; n must be positive.
 *
 * The GAN objectives in terms of these:
 *
 *   vanilla / DCGAN   D: bce_logits_const(real, 1) + bce_logits_const(fake, 0)
 *                     G: bce_logits_const(fake, 1)     (label smoothing: 0.9)
 *   LSGAN (a, b, c)   D: 0.5 mse_const(real, b) + 0.5 mse_const(fake, a)
 *                     G: 0.5 mse_const(fake, c)
 *   WGAN              critic: mean(fake, +1) + mean(real, -1)
 *                     G:      mean(fake, -1)
 *   hinge             D: hinge_real(real) + hinge_fake(fake)
 *                     G: mean(fake, -1)
 */
#ifndef GAND_NN_LOSS_H
#define GAND_NN_LOSS_H

/* Binary cross-entropy on logits x (n) against targets t (n) in [0, 1]:
 * mean of max(x, 0) - x t + log1p(exp(-|x|)), which stays finite and exact
 * for any finite logit (no sigmoid is formed and then logged).
 * grad = (sigmoid(x) - t) / n. */
float nn_loss_bce_logits(const float *x, const float *t, int n, float *grad);
/* The same against one target for every value (1 real, 0 fake, 0.9 for
 * one-sided label smoothing). */
float nn_loss_bce_logits_const(const float *x, int n, float target, float *grad);

/* Mean squared error: mean of (pred - t)^2; grad = 2 (pred - t) / n. */
float nn_loss_mse(const float *pred, const float *t, int n, float *grad);
/* The same against one target for every value (LSGAN's a, b, c). */
float nn_loss_mse_const(const float *pred, int n, float target, float *grad);

/* Mean absolute error: mean of |pred - t|; grad = sign(pred - t) / n, with
 * sign(0) = 0 as in PyTorch. */
float nn_loss_l1(const float *pred, const float *t, int n, float *grad);

/* Hinge losses for a discriminator: real mean(relu(1 - x)), fake
 * mean(relu(1 + x)). At the kink the gradient is 0. The generator's hinge
 * loss is nn_loss_mean(x, n, -1, grad). */
float nn_loss_hinge_real(const float *x, int n, float *grad);
float nn_loss_hinge_fake(const float *x, int n, float *grad);

/* Signed mean: sign * mean(x); grad = sign / n. The Wasserstein critic
 * loss mean(fake) - mean(real) is nn_loss_mean(fake, n, +1, gf) +
 * nn_loss_mean(real, n, -1, gr), the generator's is nn_loss_mean(fake, n,
 * -1, g). */
float nn_loss_mean(const float *x, int n, float sign, float *grad);

/* Softmax cross-entropy of logits (n, k) against labels (n), each label in
 * [0, k) (asserted): mean over the n rows of logsumexp(z) - z[label],
 * computed with the row maximum subtracted so large logits cannot overflow.
 * grad (n, k) = (softmax(z) - one_hot(label)) / n. */
float nn_loss_softmax_ce(const float *logits, const int *labels, int n, int k, float *grad);

/* Number of rows of logits (n, k) whose argmax (the first, on ties) equals
 * the label: the numerator of a classification accuracy (ACGAN). */
int nn_loss_count_correct(const float *logits, const int *labels, int n, int k);

/* Gaussian negative log-likelihood of targets t (n, d) under means mu
 * (n, d) and log-variances logvar (n, d), for InfoGAN's continuous codes:
 * mean over the n rows of the sum over d of
 *     0.5 (logvar + (t - mu)^2 exp(-logvar)).
 * The constant 0.5 log(2 pi) per value is NOT included: it moves no
 * gradient, and without it unit variance gives 0.5 sum (t - mu)^2.
 * logvar NULL means unit variance (logvar = 0). grad_mu (n, d) and
 * grad_logvar (n, d) are written when non-NULL (grad_logvar is ignored
 * when logvar is NULL):
 *     d/dmu = (mu - t) exp(-logvar) / n,
 *     d/dlogvar = 0.5 (1 - (t - mu)^2 exp(-logvar)) / n.
 * Very negative log-variances make exp(-logvar) overflow to infinity; a
 * head that predicts them should bound them (tanh, clamp) first. */
float nn_loss_gaussian_nll(const float *mu, const float *logvar, const float *t, int n, int d,
                           float *grad_mu, float *grad_logvar);

#endif
