/* Internal: the trainer's state and the interface each GAN kind implements. */
#ifndef GAND_GAN_INTERNAL_H
#define GAND_GAN_INTERNAL_H

#include "gand/arch.h"
#include "gand/data.h"
#include "gand/gan.h"
#include "gand/rng.h"

#define GAN_MAX_NETS 4

/* Which batch D's output belongs to: real images in a D update, generated
 * ones in a D update, generated ones in the G update. */
typedef enum { GAN_PASS_REAL, GAN_PASS_FAKE, GAN_PASS_G, GAN_NPASSES } gan_pass;

/* What a GAN kind adds to the classic alternation (adversarial.c), which
 * steps every kind: n_critic D updates on a real and a generated batch,
 * then one G update through D. */
typedef struct gan_kind_ops {
    /* Builds t->g and t->d (and any other nets) for t's spec and data; sets
     * g_cond (extra generator inputs after z), d_cond_channels, d_out. */
    gand_status (*build)(gan_trainer *t, char *err, size_t errlen);
    /* For kinds whose D has heads after the logit (d_out > 1): the heads'
     * loss on D's output out (n, d_out) of pass, its gradient added to
     * t->d_grad. May keep per-pass figures in t->head_right/t->head_loss.
     * NULL for none. */
    double (*heads)(gan_trainer *t, const float *out, int n, gan_pass pass);
    /* Appends the kind's own metrics of the step just taken; may be NULL. */
    void (*metrics)(gan_trainer *t, gan_metric *m, int *nm);
} gan_kind_ops;

/* One training step of any kind, drawing every random number from rng.
 * Appends metrics. (adversarial.c) */
void gan_step(gan_trainer *t, gand_rng *rng, gan_metric *m, int *nm);

const gan_kind_ops *gan_kind_ops_get(gan_kind kind);

struct gan_trainer {
    gan_spec spec;
    const gan_kind_ops *ops;
    data_set *data;   /* NULL in a trainer made for generating only */
    int count;        /* images after the class subset */
    nn_shape img;
    int num_classes;  /* of the dataset's labels (0 without labels) */
    int *class_list;  /* classes fake labels are drawn from: the subset or all */
    int nclass_list;

    nn_net *g, *d;
    nn_net *nets[GAN_MAX_NETS];
    const char *net_names[GAN_MAX_NETS];
    int nnets;
    int g_in;            /* generator input features: z_dim + g_cond */
    int g_cond;          /* conditioning features after z */
    int d_cond_channels; /* conditioning channels broadcast onto D's input */
    int d_out;           /* discriminator outputs per sample */

    long step, total;
    long batches_per_epoch;
    long batch_cursor; /* batches consumed since the start of the run */
    int *perm;         /* order of the current epoch */
    long perm_epoch;   /* epoch perm belongs to, -1 none */

    /* workspace, sized for batch_size at create */
    int batch;
    float *real;     /* (B, img) */
    int *labels;     /* (B) real labels */
    int *fake_labels; /* (B) labels or categorical codes of generated images */
    float *fake_cont; /* (B, n_cont) InfoGAN continuous codes */
    float *g_input;  /* (B, g_in) */
    float *d_input;  /* (B, c + d_cond_channels, h, w) conditioned D input */
    float *d_grad;   /* (B, d_out) loss gradient w.r.t. D's output */
    float *img_grad; /* (B, img) gradient w.r.t. generated images */
    float *head;      /* (B, d_out) some columns of D's output */
    float *head_grad; /* (B, d_out) their gradient */
    int head_right[GAN_NPASSES];    /* heads' correct predictions per pass */
    double head_loss[GAN_NPASSES];  /* heads' loss per pass */
    float *col;      /* (B) one output column */
    float *col_grad; /* (B) its gradient */
    int *idx;        /* (B) dataset indices */
};

/* gan_spec_check_data() that also gives what the probe found and the
 * number of images after the class subset. (plan.c) */
gand_status gan_spec_probe(const gan_spec *spec, data_info *info, int *images, long *total_steps,
                           char *field, size_t fieldlen, char *err, size_t errlen);

/* ---- helpers for kinds (trainer.c) ---- */

/* Fills t->real (and t->labels) with the next real batch. */
void gan_next_real(gan_trainer *t);
/* Fills t->g_input for n samples: z ~ N(0, 1) from rng, then the
 * conditioning of t->fake_labels / t->fake_cont. When draw_codes, new
 * labels (cgan, acgan: from the class list; infogan: uniform categorical
 * codes and U(-1, 1) continuous codes) are drawn first. */
void gan_fill_g_input(gan_trainer *t, gand_rng *rng, int n, bool draw_codes);
/* Writes G's conditioning for the given labels and codes into g_input. */
void gan_write_cond(gan_trainer *t, int n);
/* Runs D on images (n, img) with labels (for the conditioned input of cgan);
 * returns D's output (n, d_out). */
const float *gan_d_forward(gan_trainer *t, const float *images, const int *labels, int n,
                           bool train);
/* Back-propagates t->d_grad through D; when want_img, returns the
 * gradient with respect to the images (n, img), else NULL. */
const float *gan_d_backward(gan_trainer *t, int n, bool want_img);
/* Updates net with the spec's optimiser and learning rate lr. */
void gan_optimizer_step(gan_trainer *t, nn_net *net, float lr);

/* Adversarial loss of D's column 0 of out (n, d_out) for real or fake
 * images, writing its gradient into column 0 of t->d_grad; *score gets
 * the mean D(x) reported as a metric (a probability for BCE, the raw
 * score otherwise). */
double gan_d_adv_loss(gan_trainer *t, const float *out, int n, bool real, double *score);
/* The generator's adversarial loss, gradient into column 0 of t->d_grad. */
double gan_g_adv_loss(gan_trainer *t, const float *out, int n);

/* Copies columns [c0, c0 + k) of out (n, d_out) into t->head (n, k). */
void gan_head_gather(gan_trainer *t, const float *out, int n, int c0, int k);
/* Adds t->head_grad (n, k) times scale into columns [c0, c0 + k) of
 * t->d_grad (n, d_out). */
void gan_head_scatter(gan_trainer *t, int n, int c0, int k, float scale);

/* Builds the G and D pair of the DCGAN (or, for vanilla, MLP) family with
 * g_cond extra G inputs, d_cond_channels extra D channels and d_out D
 * outputs, and registers them as the nets "G" and "D". */
gand_status gan_build_pair(gan_trainer *t, int g_cond, int d_cond_channels, int d_out,
                           char *err, size_t errlen);

/* Columns of the sample grid. */
#define GAN_SAMPLE_COLS 8

/* Distinct streams of the run's random numbers, mixed into the seed. */
enum { GAN_STREAM_STEP = 1, GAN_STREAM_PERM = 2, GAN_STREAM_FIXED = 3, GAN_STREAM_INIT = 4 };

/* A 64-bit hash of (seed, stream, n): the seed of one stream's draws. */
static inline uint64_t gan_mix(uint64_t seed, uint64_t stream, uint64_t n)
{
    uint64_t x = seed ^ (stream * 0x9e3779b97f4a7c15ULL) ^ (n * 0xd1b54a32d192ed03ULL);
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    return x;
}

/* Appends a metric. */
static inline void gan_metric_add(gan_metric *m, int *nm, const char *name, double v)
{
    if (*nm < GAN_MAX_METRICS) {
        m[*nm].name = name;
        m[*nm].value = v;
        (*nm)++;
    }
}

extern const gan_kind_ops gan_adversarial_ops;
extern const gan_kind_ops gan_acgan_ops;
extern const gan_kind_ops gan_infogan_ops;

#endif
