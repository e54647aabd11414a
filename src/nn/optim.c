/* Optimisers over a net's contiguous parameter buffer. */
#include "gand/nn.h"

#include <math.h>

nn_adam_params nn_adam_default_params(void)
{
    return (nn_adam_params){.lr = 2e-4f, .beta1 = 0.5f, .beta2 = 0.999f, .eps = 1e-8f};
}

/* As torch.optim.Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps). */
void nn_adam_step(nn_net *net, const nn_adam_params *p)
{
    size_t n = nn_net_num_params(net);
    float *w = nn_net_params(net), *g = nn_net_grads(net);
    float *m = nn_net_moment1(net), *v = nn_net_moment2(net);
    long t = nn_net_steps(net) + 1;
    nn_net_set_steps(net, t);
    float bc1 = 1.0f - powf(p->beta1, (float)t);
    float bc2 = 1.0f - powf(p->beta2, (float)t);
    float step = p->lr / bc1;
    float inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    float b1 = p->beta1, b2 = p->beta2, wd = p->weight_decay, eps = p->eps;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * w[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        w[i] -= step * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
}

void nn_sgd_step(nn_net *net, const nn_sgd_params *p)
{
    size_t n = nn_net_num_params(net);
    float *w = nn_net_params(net), *g = nn_net_grads(net), *buf = nn_net_moment1(net);
    long t = nn_net_steps(net) + 1;
    nn_net_set_steps(net, t);
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + p->weight_decay * w[i];
        if (p->momentum != 0.0f) {
            buf[i] = t == 1 ? gi : p->momentum * buf[i] + gi;
            gi = buf[i];
        }
        w[i] -= p->lr * gi;
    }
}

void nn_rmsprop_step(nn_net *net, const nn_rmsprop_params *p)
{
    size_t n = nn_net_num_params(net);
    float *w = nn_net_params(net), *g = nn_net_grads(net), *v = nn_net_moment2(net);
    nn_net_set_steps(net, nn_net_steps(net) + 1);
    for (size_t i = 0; i < n; i++) {
        v[i] = p->alpha * v[i] + (1.0f - p->alpha) * g[i] * g[i];
        w[i] -= p->lr * g[i] / (sqrtf(v[i]) + p->eps);
    }
}

void nn_net_clip_params(nn_net *net, float c)
{
    size_t n = nn_net_num_params(net);
    float *w = nn_net_params(net);
    for (size_t i = 0; i < n; i++)
        w[i] = w[i] > c ? c : (w[i] < -c ? -c : w[i]);
}
