/* GAN jobs: the job spec, the kinds of GAN, and the trainer.
 *
 * A job spec is one JSON document; the daemon's POST /runs and gand-train
 * take the same one. gan_spec_parse() validates it against a table of fields
 * (the same table GET /models publishes) and fills a gan_spec with the
 * kind's defaults for everything not given.
 *
 * The trainer runs a spec step by step and reports to its host through
 * gan_host callbacks, so one trainer serves both the daemon and gand-train.
 * A step is one generator update preceded by n_critic discriminator updates.
 * Every random draw of step s comes from a generator seeded by (seed, s), so
 * a run resumed from a checkpoint at step s continues exactly as an
 * uninterrupted one.
 */
#ifndef GAND_GAN_H
#define GAND_GAN_H

#include "gand/nn.h"
#include "gand/status.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    GAN_VANILLA,
    GAN_DCGAN,
    GAN_CGAN,
    GAN_LSGAN,
    GAN_ACGAN,
    GAN_INFOGAN,
    GAN_WGAN,
    GAN_HINGE,
    GAN_KIND_COUNT
} gan_kind;

typedef enum { GAN_LOSS_BCE, GAN_LOSS_MSE, GAN_LOSS_HINGE, GAN_LOSS_WASSERSTEIN } gan_loss;

typedef enum { GAN_OPT_ADAM, GAN_OPT_RMSPROP } gan_optimizer;

#define GAN_NAME_MAX 128
#define GAN_PATH_MAX 1024
#define GAN_MAX_CLASSES 256

typedef struct {
    char name[GAN_NAME_MAX];
    gan_kind kind;
    char dataset[GAN_PATH_MAX]; /* built-in name or absolute directory */
    int classes[GAN_MAX_CLASSES]; /* class subset; nclasses == 0: all */
    int nclasses;
    int z_dim;
    int g_width, d_width;
    gan_loss loss;
    gan_optimizer optimizer;
    float lr_g, lr_d, beta1, beta2;
    int batch_size;
    int epochs;  /* used when steps == 0 */
    long steps;  /* total generator steps; 0: epochs * batches per epoch */
    int n_critic;
    float clip;  /* wgan weight clipping */
    int sample_every, checkpoint_every;
    uint64_t seed;
    int n_cat, n_cont;  /* infogan codes */
    float lambda_info;
} gan_spec;

/* ---- kinds ---- */

const char *gan_kind_name(gan_kind kind);
const char *gan_kind_description(gan_kind kind);
/* GAND_ENOTFOUND for an unknown name. */
gand_status gan_kind_from_name(const char *name, gan_kind *out);
const char *gan_loss_name(gan_loss loss);
const char *gan_optimizer_name(gan_optimizer opt);
/* True for kinds that take class labels (cgan, acgan). */
bool gan_kind_conditional(gan_kind kind);

/* ---- spec ---- */

/* Fills spec with kind's defaults (dataset "fashion-mnist"). */
void gan_spec_defaults(gan_kind kind, gan_spec *spec);

/* Parses and validates a JSON job spec of len bytes. On error returns
 * GAND_EINVAL for malformed JSON (message gives the position) or
 * GAND_ERANGE for a well-formed document that is not a valid spec, with one
 * sentence in err naming the field and what is wrong, and the field's name
 * in field (empty when the error is not about one field). Does not touch the
 * dataset files. */
gand_status gan_spec_parse(const char *json, size_t len, gan_spec *spec, char *err,
                           size_t errlen, char *field, size_t fieldlen);

/* Checks spec against its dataset without loading the pixels (the files
 * exist, labels are there when needed, the class subset has images, there
 * are at least batch_size of them, the image shape suits the nets) and
 * gives the run's total steps. The message names the problem, field the
 * spec field to change. Errors as data_open(), or GAND_EINVAL. */
gand_status gan_spec_check_data(const gan_spec *spec, long *total_steps, char *field,
                                size_t fieldlen, char *err, size_t errlen);

/* Total generator steps: spec->steps, else epochs passes over count
 * images at n_critic batches per step (at least 1). */
long gan_total_steps(const gan_spec *spec, int count);

/* The spec as normalised JSON (every field, defaults filled in); malloc'd,
 * free with gand_free; NULL on allocation failure. */
char *gan_spec_to_json(const gan_spec *spec);

/* Describes every kind and its fields with types, limits and defaults as
 * JSON (the body of GET /models); malloc'd, free with gand_free. */
char *gan_models_json(void);

/* ---- trainer ---- */

typedef struct gan_trainer gan_trainer;

#define GAN_MAX_METRICS 12

typedef struct {
    const char *name; /* static string: "loss_d", "loss_g", "d_real", ... */
    double value;
} gan_metric;

/* How the trainer reports. Any callback may be NULL. Callbacks run on the
 * training thread. A non-OK status from on_sample or on_checkpoint stops the
 * run with that status and the host's message. */
typedef struct {
    void *ctx;
    /* Metrics of step (1-based, the step just finished). */
    void (*on_metrics)(void *ctx, long step, const gan_metric *m, int n);
    /* A sample grid of n images of shape s (values in [-1, 1]), cols per row. */
    gand_status (*on_sample)(void *ctx, long step, const float *images, int n, nn_shape s,
                             int cols, char *err, size_t errlen);
    /* Time to checkpoint: the host calls gan_trainer_save(). */
    gand_status (*on_checkpoint)(void *ctx, gan_trainer *t, long step, char *err,
                                 size_t errlen);
    /* Polled between steps; true stops the run (after a checkpoint). */
    bool (*should_stop)(void *ctx);
} gan_host;

/* Loads the dataset, builds and initialises the nets. NULL with a message
 * (a missing dataset, a class subset the data does not have, ...) and the
 * status in *status. */
gan_trainer *gan_trainer_create(const gan_spec *spec, gand_status *status, char *err,
                                size_t errlen);
/* A trainer for gan_trainer_load() and gan_trainer_generate() only: the
 * dataset is probed (image shape, classes) but not loaded, so it costs the
 * nets alone. gan_trainer_run() on it trains nothing. */
gan_trainer *gan_trainer_create_for_generating(const gan_spec *spec, gand_status *status,
                                               char *err, size_t errlen);
void gan_trainer_free(gan_trainer *t);

const gan_spec *gan_trainer_spec(const gan_trainer *t);
long gan_trainer_step(const gan_trainer *t);
long gan_trainer_total_steps(const gan_trainer *t);
int gan_trainer_num_classes(const gan_trainer *t);
/* Images the run trains on (after the class subset). */
int gan_trainer_num_images(const gan_trainer *t);
nn_shape gan_trainer_image_shape(const gan_trainer *t);

/* Trains from the current step to the total. Returns GAND_OK when done,
 * GAND_ECANCELED when should_stop asked (a checkpoint has been taken), or
 * the error of a failed callback. Samples every sample_every steps and at the
 * end; checkpoints every checkpoint_every steps, when stopped, and at the end. */
gand_status gan_trainer_run(gan_trainer *t, const gan_host *host, char *err, size_t errlen);

/* Runs exactly one step and returns its metrics (m has GAN_MAX_METRICS
 * slots; *nm receives the count). For tests and benchmarks. */
void gan_trainer_step_once(gan_trainer *t, gan_metric *m, int *nm);

/* The sample grid: 8 columns and gan_trainer_sample_rows() rows (8, or one
 * row per class of a conditional kind, or per categorical code of InfoGAN,
 * up to 16). */
int gan_trainer_sample_rows(const gan_trainer *t);
int gan_trainer_sample_count(const gan_trainer *t);

/* Writes the sample grid for the current weights from the run's fixed
 * noise, G in evaluation mode, so grids of different steps compare.
 * InfoGAN's columns sweep the first continuous code from -1 to 1 with the
 * noise fixed along a row. images holds gan_trainer_sample_count() images. */
void gan_trainer_sample(gan_trainer *t, float *images);

/* n images from noise seeded by seed; label >= 0 fixes the class of a
 * conditional kind (GAND_EINVAL otherwise or when out of range). */
gand_status gan_trainer_generate(gan_trainer *t, int n, uint64_t seed, int label, float *images,
                                 char *err, size_t errlen);

/* Checkpoint of nets, optimiser state and step, written atomically. */
gand_status gan_trainer_save(gan_trainer *t, const char *path, char *err, size_t errlen);
/* Restores a checkpoint written by a trainer of the same spec. */
gand_status gan_trainer_load(gan_trainer *t, const char *path, char *err, size_t errlen);

#endif
