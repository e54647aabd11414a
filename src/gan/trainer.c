/* The trainer: creation, data order, the generator's input, checkpoints and
 * the run loop. One step is gan_step() (adversarial.c) with the kind's
 * heads (acgan.c, infogan.c); D's losses are in discriminator.c and the
 * sample grids in sample.c. */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/nn_ckpt.h"

#include <math.h>
#include <string.h>
#include <time.h>

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
    gand_rng_seed(&r, gan_mix(t->spec.seed, GAN_STREAM_PERM, (uint64_t)epoch));
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
    gand_rng_seed(&r, gan_mix(spec->seed, GAN_STREAM_INIT, 0));
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
    gand_rng_seed(&rng, gan_mix(t->spec.seed, GAN_STREAM_STEP, (uint64_t)t->step));
    /* batches consumed so far are a function of the step: resume-safe */
    t->batch_cursor = t->step * t->spec.n_critic;
    *nm = 0;
    gan_step(t, &rng, m, nm);
    t->step++;
    gan_metric_add(m, nm, "step_ms", now_ms() - t0);
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
    gand_status st = h->on_sample(h->ctx, t->step, images, n, t->img, GAN_SAMPLE_COLS, err, errlen);
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
