/* The trainer: data order, the run loop, sampling and checkpoints. The
 * kinds (adversarial.c, acgan.c, infogan.c) say how D and G are stepped. */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/nn_ckpt.h"
#include "gand/nn_loss.h"

#include <math.h>
#include <string.h>
#include <time.h>

#define SAMPLE_COLS 8

/* Distinct streams of the run's random numbers, mixed into the seed. */
enum { STREAM_STEP = 1, STREAM_PERM = 2, STREAM_FIXED = 3, STREAM_INIT = 4 };

static uint64_t mix(uint64_t seed, uint64_t stream, uint64_t n)
{
    uint64_t x = seed ^ (stream * 0x9e3779b97f4a7c15ULL) ^ (n * 0xd1b54a32d192ed03ULL);
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    return x;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- data order: epoch e is a Fisher-Yates shuffle seeded by (seed, e) ---- */

static void make_perm(gan_trainer *t, long epoch)
{
    int n = data_count(t->data);
    gand_rng r;
    gand_rng_seed(&r, mix(t->spec.seed, STREAM_PERM, (uint64_t)epoch));
    for (int i = 0; i < n; i++)
        t->perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)gand_rng_below(&r, (uint32_t)i + 1);
        int tmp = t->perm[i];
        t->perm[i] = t->perm[j];
        t->perm[j] = tmp;
    }
    t->perm_epoch = epoch;
}

void gan_next_real(gan_trainer *t)
{
    long epoch = t->batch_cursor / t->batches_per_epoch;
    long pos = t->batch_cursor % t->batches_per_epoch;
    if (epoch != t->perm_epoch)
        make_perm(t, epoch);
    const int *idx = t->perm + pos * t->batch;
    data_batch(t->data, idx, t->batch, t->real, data_has_labels(t->data) ? t->labels : NULL);
    t->batch_cursor++;
}

/* ---- generator input ---- */

void gan_write_cond(gan_trainer *t, int n)
{
    if (t->g_cond == 0)
        return;
    int zd = t->spec.z_dim;
    for (int i = 0; i < n; i++) {
        float *c = t->g_input + (size_t)i * t->g_in + zd;
        memset(c, 0, (size_t)t->g_cond * sizeof(float));
        if (t->spec.kind == GAN_INFOGAN) {
            c[t->fake_labels[i]] = 1.0f;
            memcpy(c + t->spec.n_cat, t->fake_cont + (size_t)i * t->spec.n_cont,
                   (size_t)t->spec.n_cont * sizeof(float));
        } else {
            c[t->fake_labels[i]] = 1.0f;
        }
    }
}

void gan_fill_g_input(gan_trainer *t, gand_rng *rng, int n, bool draw_codes)
{
    if (draw_codes) {
        for (int i = 0; i < n; i++) {
            if (t->spec.kind == GAN_INFOGAN) {
                t->fake_labels[i] = (int)gand_rng_below(rng, (uint32_t)t->spec.n_cat);
                for (int k = 0; k < t->spec.n_cont; k++)
                    t->fake_cont[(size_t)i * t->spec.n_cont + k] =
                        2.0f * gand_rng_uniform(rng) - 1.0f;
            } else if (t->nclass_list > 0) {
                t->fake_labels[i] =
                    t->class_list[gand_rng_below(rng, (uint32_t)t->nclass_list)];
            }
        }
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < t->spec.z_dim; k++)
            t->g_input[(size_t)i * t->g_in + k] = gand_rng_normal(rng);
    gan_write_cond(t, n);
}

/* ---- discriminator plumbing ---- */

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

/* ---- creation ---- */

static gand_status alloc_workspace(gan_trainer *t)
{
    size_t B = (size_t)t->batch, img = nn_shape_size(t->img);
    size_t dcin = (size_t)(t->img.c + t->d_cond_channels) * t->img.h * t->img.w;
    size_t imgbuf = img > (size_t)t->d_cond_channels ? img : (size_t)t->d_cond_channels;
    t->real = gand_aligned_alloc(B * img * sizeof(float));
    t->labels = gand_calloc(B, sizeof(int));
    t->fake_labels = gand_calloc(B, sizeof(int));
    t->fake_cont = gand_calloc(B * (size_t)(t->spec.n_cont + 1), sizeof(float));
    t->g_input = gand_aligned_alloc(B * (size_t)t->g_in * sizeof(float));
    t->d_input = gand_aligned_alloc(B * dcin * sizeof(float));
    t->d_grad = gand_aligned_alloc(B * (size_t)t->d_out * sizeof(float));
    t->img_grad = gand_aligned_alloc(B * imgbuf * sizeof(float));
    t->head = gand_calloc(B * (size_t)t->d_out, sizeof(float));
    t->head_grad = gand_calloc(B * (size_t)t->d_out, sizeof(float));
    t->col = gand_calloc(B, sizeof(float));
    t->col_grad = gand_calloc(B, sizeof(float));
    t->perm = gand_calloc(t->data ? (size_t)t->count : 1, sizeof(int));
    if (!t->real || !t->labels || !t->fake_labels || !t->fake_cont || !t->g_input ||
        !t->d_input || !t->d_grad || !t->img_grad || !t->head || !t->head_grad || !t->col || !t->col_grad || !t->perm)
        return GAND_ENOMEM;
    return GAND_OK;
}

/* The classes fake labels are drawn from: the subset, or all. */
static gand_status setup_classes(gan_trainer *t, char *err, size_t errlen)
{
    const gan_spec *s = &t->spec;
    if (t->data && s->nclasses > 0) {
        gand_status st = data_subset(t->data, s->classes, s->nclasses, err, errlen);
        if (st != GAND_OK)
            return st;
    }
    int n = s->nclasses > 0 ? s->nclasses : t->num_classes;
    if (n > 0) {
        t->class_list = gand_calloc((size_t)n, sizeof(int));
        if (!t->class_list)
            return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory");
        for (int i = 0; i < n; i++)
            t->class_list[i] = s->nclasses > 0 ? s->classes[i] : i;
        t->nclass_list = n;
    }
    return GAND_OK;
}

static gan_trainer *create(const gan_spec *spec, bool with_data, gand_status *status, char *err,
                           size_t errlen)
{
    gand_status st = GAND_ENOMEM;
    gan_trainer *t = gand_calloc(1, sizeof *t);
    if (!t) {
        gand_errorf(err, errlen, GAND_ENOMEM, "out of memory creating the trainer");
        goto err;
    }
    t->spec = *spec;
    t->perm_epoch = -1;
    t->batch = spec->batch_size;
    t->ops = gan_kind_ops_get(spec->kind);
    data_info info;
    st = gan_spec_probe(spec, &info, &t->count, &t->total, NULL, 0, err, errlen);
    if (st != GAND_OK)
        goto err;
    t->img = info.shape;
    t->num_classes = info.num_classes;
    if (with_data && (st = data_open(spec->dataset, true, &t->data, err, errlen)) != GAND_OK)
        goto err;
    if ((st = setup_classes(t, err, errlen)) != GAND_OK)
        goto err;
    if (t->data && (nn_shape_size(data_shape(t->data)) != nn_shape_size(t->img) ||
                    data_count(t->data) != t->count)) {
        st = gand_errorf(err, errlen, GAND_EFORMAT,
                         "dataset '%s' changed while it was being opened; try again",
                         spec->dataset);
        goto err;
    }
    t->batches_per_epoch = t->count / t->batch;
    if ((st = t->ops->build(t, err, errlen)) != GAND_OK)
        goto err;
    t->g_in = spec->z_dim + t->g_cond;
    if ((st = alloc_workspace(t)) != GAND_OK) {
        gand_errorf(err, errlen, st, "out of memory allocating the training buffers");
        goto err;
    }
    gand_rng r;
    gand_rng_seed(&r, mix(spec->seed, STREAM_INIT, 0));
    nn_init scheme = spec->kind == GAN_VANILLA ? NN_INIT_DEFAULT : NN_INIT_DCGAN;
    for (int i = 0; i < t->nnets; i++)
        nn_net_init(t->nets[i], &r, scheme);
    if (status)
        *status = GAND_OK;
    return t;
err:
    if (status)
        *status = st;
    gan_trainer_free(t);
    return NULL;
}

gan_trainer *gan_trainer_create(const gan_spec *spec, gand_status *status, char *err,
                                size_t errlen)
{
    return create(spec, true, status, err, errlen);
}

gan_trainer *gan_trainer_create_for_generating(const gan_spec *spec, gand_status *status,
                                               char *err, size_t errlen)
{
    return create(spec, false, status, err, errlen);
}

void gan_trainer_free(gan_trainer *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->nnets; i++)
        nn_net_free(t->nets[i]);
    data_free(t->data);
    gand_free(t->class_list);
    gand_free(t->perm);
    gand_free(t->real);
    gand_free(t->labels);
    gand_free(t->fake_labels);
    gand_free(t->fake_cont);
    gand_free(t->g_input);
    gand_free(t->d_input);
    gand_free(t->d_grad);
    gand_free(t->img_grad);
    gand_free(t->head);
    gand_free(t->head_grad);
    gand_free(t->col);
    gand_free(t->col_grad);
    gand_free(t);
}

const gan_spec *gan_trainer_spec(const gan_trainer *t) { return &t->spec; }
long gan_trainer_step(const gan_trainer *t) { return t->step; }
long gan_trainer_total_steps(const gan_trainer *t) { return t->total; }
int gan_trainer_num_classes(const gan_trainer *t) { return t->num_classes; }
int gan_trainer_num_images(const gan_trainer *t) { return t->count; }
nn_shape gan_trainer_image_shape(const gan_trainer *t) { return t->img; }

/* ---- stepping ---- */

void gan_trainer_step_once(gan_trainer *t, gan_metric *m, int *nm)
{
    *nm = 0;
    if (!t->data) /* made for generating: nothing to train on */
        return;
    double t0 = now_ms();
    gand_rng rng;
    gand_rng_seed(&rng, mix(t->spec.seed, STREAM_STEP, (uint64_t)t->step));
    /* batches consumed so far are a function of the step: resume-safe */
    t->batch_cursor = t->step * t->spec.n_critic;
    *nm = 0;
    gan_step(t, &rng, m, nm);
    t->step++;
    gan_metric_add(m, nm, "step_ms", now_ms() - t0);
}

/* ---- sampling ---- */

int gan_trainer_sample_count(const gan_trainer *t)
{
    return SAMPLE_COLS * gan_trainer_sample_rows(t);
}

int gan_trainer_sample_rows(const gan_trainer *t)
{
    if (t->spec.kind == GAN_INFOGAN)
        return t->spec.n_cat <= 16 ? t->spec.n_cat : 16;
    if (gan_kind_conditional(t->spec.kind) && t->nclass_list <= 16)
        return t->nclass_list;
    return 8;
}

/* Runs G in evaluation mode on t->g_input rows [0, n) in batch-sized
 * chunks, writing images. The caller has filled g_input for the chunk. */
static void g_eval(gan_trainer *t, int n, float *images)
{
    const float *y = nn_net_forward(t->g, t->g_input, n, false, NULL);
    memcpy(images, y, (size_t)n * nn_shape_size(t->img) * sizeof(float));
}

/* Fills the conditioning of generated image i of the sample grid: rows are
 * classes (conditional kinds) or categorical codes (InfoGAN), and InfoGAN's
 * columns sweep the first continuous code from -1 to 1. */
static void sample_codes(gan_trainer *t, int i, int row_of_chunk)
{
    int row = i / SAMPLE_COLS, col = i % SAMPLE_COLS;
    if (t->spec.kind == GAN_INFOGAN) {
        t->fake_labels[row_of_chunk] = row % t->spec.n_cat;
        float *c = t->fake_cont + (size_t)row_of_chunk * t->spec.n_cont;
        for (int k = 0; k < t->spec.n_cont; k++)
            c[k] = k == 0 ? -1.0f + 2.0f * col / (SAMPLE_COLS - 1) : 0.0f;
    } else if (t->nclass_list > 0) {
        t->fake_labels[row_of_chunk] = t->class_list[row % t->nclass_list];
    }
}

void gan_trainer_sample(gan_trainer *t, float *images)
{
    int total = gan_trainer_sample_count(t);
    size_t img = nn_shape_size(t->img);
    for (int start = 0; start < total; start += t->batch) {
        int n = total - start < t->batch ? total - start : t->batch;
        for (int j = 0; j < n; j++) {
            int i = start + j;
            /* InfoGAN shares one noise vector along a row, so the row shows
             * the continuous code alone changing */
            gand_rng zr;
            int key = t->spec.kind == GAN_INFOGAN ? i / SAMPLE_COLS : i;
            gand_rng_seed(&zr, mix(t->spec.seed, STREAM_FIXED, (uint64_t)key + 1));
            for (int k = 0; k < t->spec.z_dim; k++)
                t->g_input[(size_t)j * t->g_in + k] = gand_rng_normal(&zr);
            sample_codes(t, i, j);
        }
        gan_write_cond(t, n);
        g_eval(t, n, images + (size_t)start * img);
    }
}

gand_status gan_trainer_generate(gan_trainer *t, int n, uint64_t seed, int label, float *images,
                                 char *err, size_t errlen)
{
    bool conditional = gan_kind_conditional(t->spec.kind) || t->spec.kind == GAN_INFOGAN;
    int nlabels = t->spec.kind == GAN_INFOGAN ? t->spec.n_cat : t->num_classes;
    if (label >= 0 && !conditional)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "model '%s' is not conditional; leave 'label' out",
                           gan_kind_name(t->spec.kind));
    if (label >= nlabels)
        return gand_errorf(err, errlen, GAND_EINVAL, "label %d is out of range: 0 to %d", label,
                           nlabels - 1);
    if (n < 1)
        return gand_errorf(err, errlen, GAND_EINVAL, "n must be at least 1");
    gand_rng r;
    gand_rng_seed(&r, seed);
    size_t img = nn_shape_size(t->img);
    for (int start = 0; start < n; start += t->batch) {
        int c = n - start < t->batch ? n - start : t->batch;
        gan_fill_g_input(t, &r, c, true);
        if (label >= 0) {
            for (int j = 0; j < c; j++)
                t->fake_labels[j] = label;
            gan_write_cond(t, c);
        }
        g_eval(t, c, images + (size_t)start * img);
    }
    return GAND_OK;
}

/* ---- checkpoints: the nets plus (magic, step, seed, total) ---- */

#define TRAINER_MAGIC 0x4e52544447ULL /* "GDTRN" */
enum { EXTRA_WORDS = 4 };

gand_status gan_trainer_save(gan_trainer *t, const char *path, char *err, size_t errlen)
{
    uint64_t extra[EXTRA_WORDS] = {TRAINER_MAGIC, (uint64_t)t->step, t->spec.seed,
                                   (uint64_t)t->total};
    return nn_ckpt_save(path, t->nets, t->net_names, t->nnets, extra, sizeof extra, err, errlen);
}

gand_status gan_trainer_load(gan_trainer *t, const char *path, char *err, size_t errlen)
{
    uint64_t extra[EXTRA_WORDS];
    gand_status st =
        nn_ckpt_load(path, t->nets, t->net_names, t->nnets, extra, sizeof extra, err, errlen);
    if (st != GAND_OK)
        return st;
    if (extra[0] != TRAINER_MAGIC)
        return gand_errorf(err, errlen, GAND_EFORMAT, "%s: not a gand trainer checkpoint", path);
    if (extra[2] != t->spec.seed)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s: the checkpoint is of seed %llu, the spec says %llu", path,
                           (unsigned long long)extra[2], (unsigned long long)t->spec.seed);
    if ((long)extra[1] > t->total)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s: the checkpoint is at step %ld, past the run's %ld steps", path,
                           (long)extra[1], t->total);
    t->step = (long)extra[1];
    return GAND_OK;
}

/* ---- the run loop ---- */

static gand_status do_sample(gan_trainer *t, const gan_host *h, char *err, size_t errlen)
{
    if (!h->on_sample)
        return GAND_OK;
    int n = gan_trainer_sample_count(t);
    float *images = gand_aligned_alloc((size_t)n * nn_shape_size(t->img) * sizeof(float));
    if (!images)
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory making a sample grid");
    gan_trainer_sample(t, images);
    gand_status st = h->on_sample(h->ctx, t->step, images, n, t->img, SAMPLE_COLS, err, errlen);
    gand_free(images);
    return st;
}

gand_status gan_trainer_run(gan_trainer *t, const gan_host *h, char *err, size_t errlen)
{
    gan_metric m[GAN_MAX_METRICS];
    int nm;
    gand_status st;
    if (!t->data)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "this trainer was made for generating only and has no data");
    while (t->step < t->total) {
        if (h->should_stop && h->should_stop(h->ctx)) {
            if (h->on_checkpoint && (st = h->on_checkpoint(h->ctx, t, t->step, err, errlen)))
                return st;
            return gand_errorf(err, errlen, GAND_ECANCELED, "stopped at step %ld of %ld",
                               t->step, t->total);
        }
        gan_trainer_step_once(t, m, &nm);
        for (int i = 0; i < nm; i++) {
            if (!isfinite(m[i].value) && strcmp(m[i].name, "step_ms") != 0)
                return gand_errorf(err, errlen, GAND_ERANGE,
                                   "training diverged at step %ld: %s is %g; try a lower "
                                   "learning rate",
                                   t->step, m[i].name, m[i].value);
        }
        if (h->on_metrics)
            h->on_metrics(h->ctx, t->step, m, nm);
        bool last = t->step == t->total;
        if ((t->step % t->spec.sample_every == 0 || last) &&
            (st = do_sample(t, h, err, errlen)) != GAND_OK)
            return st;
        if ((t->step % t->spec.checkpoint_every == 0 || last) && h->on_checkpoint &&
            (st = h->on_checkpoint(h->ctx, t, t->step, err, errlen)) != GAND_OK)
            return st;
    }
    return GAND_OK;
}
