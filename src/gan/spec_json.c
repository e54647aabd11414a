/* The table of job spec fields (spec_table.h), and the JSON made from it:
 * the normalised spec the store keeps and the description of every model
 * GET /models serves. The parser is in spec.c. */
#include "spec_table.h"

#include "gand/alloc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define OFF(f) offsetof(gan_spec, f)

const field_def gan_spec_fields[] = {
    {"name", F_STR, OFF(name), 0, GAN_NAME_MAX - 1, ALL_KINDS, "a name for the run"},
    {"model", F_STR, 0, 0, 0, ALL_KINDS, "the kind of GAN (required)"},
    {"dataset", F_PATH, OFF(dataset), 0, GAN_PATH_MAX - 1, ALL_KINDS,
     "a built-in dataset name or an absolute path to a directory of IDX files (required)"},
    {"classes", F_CLASSES, OFF(classes), 0, GAN_MAX_CLASSES - 1, ALL_KINDS,
     "train on these classes only (labels of the dataset)"},
    {"z_dim", F_INT, OFF(z_dim), 1, 1024, ALL_KINDS, "size of the generator's noise vector"},
    {"g_width", F_INT, OFF(g_width), 8, 1024, ALL_KINDS, "generator base width (channels or units)"},
    {"d_width", F_INT, OFF(d_width), 8, 1024, ALL_KINDS,
     "discriminator base width (channels or units)"},
    {"loss", F_LOSS, OFF(loss), 0, 0, KIND(GAN_VANILLA) | KIND(GAN_DCGAN) | KIND(GAN_CGAN),
     "adversarial loss: bce, mse or hinge"},
    {"optimizer", F_OPT, OFF(optimizer), 0, 0, ALL_KINDS, "adam or rmsprop, for both nets"},
    {"lr_g", F_FLOAT, OFF(lr_g), 1e-7, 1.0, ALL_KINDS, "generator learning rate"},
    {"lr_d", F_FLOAT, OFF(lr_d), 1e-7, 1.0, ALL_KINDS, "discriminator learning rate"},
    {"beta1", F_FLOAT, OFF(beta1), 0.0, 0.9999, ALL_KINDS, "Adam beta1"},
    {"beta2", F_FLOAT, OFF(beta2), 0.0, 0.9999, ALL_KINDS, "Adam beta2 (RMSProp's alpha)"},
    {"batch_size", F_INT, OFF(batch_size), 1, 1024, ALL_KINDS, "images per step"},
    {"epochs", F_INT, OFF(epochs), 1, 10000, ALL_KINDS,
     "passes over the data (ignored when steps is given)"},
    {"steps", F_LONG, OFF(steps), 1, 100000000, ALL_KINDS, "total generator steps"},
    {"n_critic", F_INT, OFF(n_critic), 1, 100, ALL_KINDS, "discriminator steps per generator step"},
    {"clip", F_FLOAT, OFF(clip), 1e-6, 10.0, KIND(GAN_WGAN), "critic weight clipping bound"},
    {"sample_every", F_INT, OFF(sample_every), 1, 10000000, ALL_KINDS,
     "steps between sample grids"},
    {"checkpoint_every", F_INT, OFF(checkpoint_every), 1, 10000000, ALL_KINDS,
     "steps between checkpoints"},
    {"seed", F_U64, OFF(seed), 0, 9007199254740991.0, ALL_KINDS,
     "random seed: same spec and seed give the same run"},
    {"n_cat", F_INT, OFF(n_cat), 2, 64, KIND(GAN_INFOGAN), "InfoGAN categorical code size"},
    {"n_cont", F_INT, OFF(n_cont), 0, 16, KIND(GAN_INFOGAN), "InfoGAN continuous codes"},
    {"lambda_info", F_FLOAT, OFF(lambda_info), 0.0, 100.0, KIND(GAN_INFOGAN),
     "weight of InfoGAN's mutual information term"},
};
const size_t gan_spec_nfields = sizeof gan_spec_fields / sizeof gan_spec_fields[0];

static const char *type_name(field_type t)
{
    switch (t) {
    case F_STR:
    case F_PATH:
    case F_LOSS:
    case F_OPT: return "string";
    case F_INT:
    case F_LONG:
    case F_U64: return "integer";
    case F_FLOAT: return "number";
    case F_CLASSES: return "array of integers";
    }
    return "value";
}

static cJSON *add_value(cJSON *obj, const field_def *f, const gan_spec *s)
{
    const char *base = (const char *)s;
    switch (f->type) {
    case F_STR:
    case F_PATH:
        if (strcmp(f->name, "model") == 0)
            return cJSON_AddStringToObject(obj, f->name, gan_kind_name(s->kind));
        return cJSON_AddStringToObject(obj, f->name, base + f->offset);
    case F_LOSS: return cJSON_AddStringToObject(obj, f->name, gan_loss_name(s->loss));
    case F_OPT: return cJSON_AddStringToObject(obj, f->name, gan_optimizer_name(s->optimizer));
    case F_INT: return cJSON_AddNumberToObject(obj, f->name, *(const int *)(base + f->offset));
    case F_LONG:
        return cJSON_AddNumberToObject(obj, f->name, (double)*(const long *)(base + f->offset));
    case F_U64:
        return cJSON_AddNumberToObject(obj, f->name,
                                       (double)*(const uint64_t *)(base + f->offset));
    case F_FLOAT:
        /* print floats by their shortest decimal so 2e-4 stays 0.0002 */
        {
            char buf[32];
            snprintf(buf, sizeof buf, "%.7g", *(const float *)(base + f->offset));
            return cJSON_AddRawToObject(obj, f->name, buf);
        }
    case F_CLASSES: {
        cJSON *arr = cJSON_AddArrayToObject(obj, f->name);
        for (int i = 0; arr && i < s->nclasses; i++) {
            cJSON *n = cJSON_CreateNumber(s->classes[i]);
            if (!n || !cJSON_AddItemToArray(arr, n))
                return NULL;
        }
        return arr;
    }
    }
    return NULL;
}

static char *print_and_free(cJSON *root)
{
    char *out = NULL;
    if (root) {
        char *txt = cJSON_PrintUnformatted(root);
        if (txt) {
            out = gand_strdup(txt);
            cJSON_free(txt);
        }
        cJSON_Delete(root);
    }
    return out;
}

char *gan_spec_to_json(const gan_spec *s)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    for (size_t i = 0; i < gan_spec_nfields; i++) {
        const field_def *f = &gan_spec_fields[i];
        if (!(f->kinds & KIND(s->kind)))
            continue;
        if (f->type == F_CLASSES && s->nclasses == 0)
            continue;
        /* one of steps and epochs says how long the run is */
        if ((strcmp(f->name, "steps") == 0 && s->steps == 0) ||
            (strcmp(f->name, "epochs") == 0 && s->steps > 0))
            continue;
        if (!add_value(root, f, s)) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return print_and_free(root);
}

char *gan_models_json(void)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *models = root ? cJSON_AddArrayToObject(root, "models") : NULL;
    if (!models)
        goto err;
    for (int k = 0; k < GAN_KIND_COUNT; k++) {
        gan_spec d;
        gan_spec_defaults((gan_kind)k, &d);
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddItemToArray(models, m))
            goto err;
        cJSON *fl;
        if (!cJSON_AddStringToObject(m, "name", gan_kind_name((gan_kind)k)) ||
            !cJSON_AddStringToObject(m, "description", gan_kind_description((gan_kind)k)) ||
            !cJSON_AddBoolToObject(m, "conditional", gan_kind_conditional((gan_kind)k)) ||
            !(fl = cJSON_AddArrayToObject(m, "fields")))
            goto err;
        for (size_t i = 0; i < gan_spec_nfields; i++) {
            const field_def *f = &gan_spec_fields[i];
            if (!(f->kinds & KIND(k)))
                continue;
            cJSON *o = cJSON_CreateObject();
            if (!o || !cJSON_AddItemToArray(fl, o))
                goto err;
            bool required = strcmp(f->name, "model") == 0 || strcmp(f->name, "dataset") == 0;
            if (!cJSON_AddStringToObject(o, "name", f->name) ||
                !cJSON_AddStringToObject(o, "type", type_name(f->type)) ||
                !cJSON_AddBoolToObject(o, "required", required) ||
                !cJSON_AddStringToObject(o, "description", f->doc))
                goto err;
            if (f->type == F_INT || f->type == F_LONG || f->type == F_U64 ||
                f->type == F_FLOAT) {
                if (!cJSON_AddNumberToObject(o, "min", f->min) ||
                    !cJSON_AddNumberToObject(o, "max", f->max))
                    goto err;
            }
            if (f->type == F_LOSS || f->type == F_OPT) {
                const char *const *names = f->type == F_LOSS ? gan_loss_names : gan_opt_names;
                int count = f->type == F_LOSS ? 3 : 2;
                cJSON *e = cJSON_AddArrayToObject(o, "enum");
                for (int i2 = 0; e && i2 < count; i2++) {
                    cJSON *sv = cJSON_CreateString(names[i2]);
                    if (!sv || !cJSON_AddItemToArray(e, sv))
                        goto err;
                }
                if (!e)
                    goto err;
            }
            if (strcmp(f->name, "steps") == 0 || f->type == F_CLASSES ||
                strcmp(f->name, "name") == 0)
                continue; /* no fixed default: derived */
            if (strcmp(f->name, "model") == 0) {
                if (!cJSON_AddStringToObject(o, "default", gan_kind_name((gan_kind)k)))
                    goto err;
            } else if (!add_value(o, &(field_def){"default", f->type, f->offset, 0, 0, 0, NULL},
                                  &d)) {
                goto err;
            }
        }
    }
    return print_and_free(root);
err:
    cJSON_Delete(root);
    return NULL;
}
