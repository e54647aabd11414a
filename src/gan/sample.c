/* Sample grids from the run's fixed noise, and fresh images on request. */
#include "internal.h"

#include <string.h>


int gan_trainer_sample_count(const gan_trainer *t)
{
    return GAN_SAMPLE_COLS * gan_trainer_sample_rows(t);
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
    int row = i / GAN_SAMPLE_COLS, col = i % GAN_SAMPLE_COLS;
    if (t->spec.kind == GAN_INFOGAN) {
        t->fake_labels[row_of_chunk] = row % t->spec.n_cat;
        float *c = t->fake_cont + (size_t)row_of_chunk * t->spec.n_cont;
        for (int k = 0; k < t->spec.n_cont; k++)
            c[k] = k == 0 ? -1.0f + 2.0f * col / (GAN_SAMPLE_COLS - 1) : 0.0f;
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
            int key = t->spec.kind == GAN_INFOGAN ? i / GAN_SAMPLE_COLS : i;
            gand_rng_seed(&zr, gan_mix(t->spec.seed, GAN_STREAM_FIXED, (uint64_t)key + 1));
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
