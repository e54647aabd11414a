/* DCGAN-28 training throughput: gand's side of the comparison with
 * bench/dcgan28_torch.py (bench/run_dcgan28.sh runs both).
 *
 * usage: dcgan28_bench [STEPS [WARMUP]]
 *
 * Loads the Fashion-MNIST train set (kept as bytes, converted to floats one
 * batch at a time), builds the DCGAN-28 pair with the default arch_params and
 * trains it with the classic step at batch 64 on shuffled batches: D on real
 * (label 1) and generated (label 0) images, one Adam step, then G through D
 * (label 1), one Adam step. After WARMUP untimed steps it times STEPS steps
 * and prints one line:
 *   gand threads=T batch=64 steps=N seconds=S img_per_s=X rss_mb=M
 * where one D+G iteration counts as 64 images and rss_mb is the peak
 * resident set size (getrusage). */
#include "gand/alloc.h"
#include "gand/arch.h"
#include "gand/data.h"
#include "gand/nn.h"
#include "gand/nn_loss.h"
#include "gand/rng.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#define BATCH 64

typedef struct {
    const data_set *ds;
    nn_net *g, *d;
    nn_adam_params adam;
    gand_rng rng;
    int *perm; /* shuffled sample indices, one epoch */
    int pos;
    float *x; /* (BATCH, 1, 28, 28) */
    float *z; /* (BATCH, z_dim) */
    float dl[BATCH];
    float loss_d, loss_g;
} bench;

static void shuffle(bench *b)
{
    int n = data_count(b->ds);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)gand_rng_below(&b->rng, (uint32_t)i + 1);
        int t = b->perm[i];
        b->perm[i] = b->perm[j];
        b->perm[j] = t;
    }
    b->pos = 0;
}

static void step(bench *b, int z_dim)
{
    if (b->pos + BATCH > data_count(b->ds))
        shuffle(b);
    data_batch(b->ds, b->perm + b->pos, BATCH, b->x, NULL);
    b->pos += BATCH;
    for (int i = 0; i < BATCH * z_dim; i++)
        b->z[i] = gand_rng_normal(&b->rng);

    nn_net_zero_grad(b->d);
    const float *logit = nn_net_forward(b->d, b->x, BATCH, true, NULL);
    float loss = nn_loss_bce_logits_const(logit, BATCH, 1.0f, b->dl);
    nn_net_backward(b->d, b->dl, false);
    const float *fake = nn_net_forward(b->g, b->z, BATCH, true, NULL);
    logit = nn_net_forward(b->d, fake, BATCH, true, NULL);
    loss += nn_loss_bce_logits_const(logit, BATCH, 0.0f, b->dl);
    nn_net_backward(b->d, b->dl, false);
    nn_adam_step(b->d, &b->adam);
    b->loss_d = loss;

    nn_net_zero_grad(b->g);
    logit = nn_net_forward(b->d, fake, BATCH, true, NULL);
    b->loss_g = nn_loss_bce_logits_const(logit, BATCH, 1.0f, b->dl);
    nn_net_backward(b->g, nn_net_backward(b->d, b->dl, true), false);
    nn_adam_step(b->g, &b->adam);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 200;
    int warmup = argc > 2 ? atoi(argv[2]) : 5;
    if (steps <= 0 || warmup < 0) {
        fprintf(stderr, "usage: %s [STEPS [WARMUP]]\n", argv[0]);
        return 2;
    }
    char err[512];
    data_set *ds = NULL;
    if (data_open("fashion-mnist", true, &ds, err, sizeof err) != GAND_OK) {
        fprintf(stderr, "dcgan28_bench: %s\n", err);
        return 1;
    }
    arch_params ap = arch_default_params();
    bench b = {.ds = ds, .adam = nn_adam_default_params()};
    gand_rng_seed(&b.rng, 1);
    b.g = arch_dcgan28_generator(&ap, BATCH, err, sizeof err);
    if (b.g)
        b.d = arch_dcgan28_discriminator(&ap, BATCH, err, sizeof err);
    b.perm = gand_malloc((size_t)data_count(ds) * sizeof *b.perm);
    b.x = gand_malloc((size_t)BATCH * nn_shape_size(data_shape(ds)) * sizeof *b.x);
    b.z = gand_malloc((size_t)BATCH * ap.z_dim * sizeof *b.z);
    int rc = 1;
    if (!b.g || !b.d) {
        fprintf(stderr, "dcgan28_bench: %s\n", err);
        goto out;
    }
    if (!b.perm || !b.x || !b.z) {
        fprintf(stderr, "dcgan28_bench: out of memory\n");
        goto out;
    }
    nn_net_init(b.g, &b.rng, NN_INIT_DCGAN);
    nn_net_init(b.d, &b.rng, NN_INIT_DCGAN);
    for (int i = 0; i < data_count(ds); i++)
        b.perm[i] = i;
    shuffle(&b);

    for (int i = 0; i < warmup; i++)
        step(&b, ap.z_dim);
    double t0 = now_s();
    for (int i = 0; i < steps; i++)
        step(&b, ap.z_dim);
    double secs = now_s() - t0;
    if (!isfinite(b.loss_d) || !isfinite(b.loss_g)) {
        fprintf(stderr, "dcgan28_bench: losses are not finite (D %g, G %g)\n", b.loss_d,
                b.loss_g);
        goto out;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("gand threads=%d batch=%d steps=%d seconds=%.3f img_per_s=%.1f rss_mb=%.1f\n",
           openblas_get_num_threads(), BATCH, steps, secs, BATCH * steps / secs,
           ru.ru_maxrss / 1024.0);
    rc = 0;

out:
    gand_free(b.perm);
    gand_free(b.x);
    gand_free(b.z);
    nn_net_free(b.g);
    nn_net_free(b.d);
    data_free(ds);
    return rc;
}
