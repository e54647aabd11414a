/* Job specs: a table of fields drives parsing, validation, defaults,
 * normalised output and the GET /models description. */
#include "gand/gan.h"

#include "spec_text.h"

#include "gand/alloc.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- kinds ---- */

static const struct {
    const char *name;
    const char *description;
} kinds[GAN_KIND_COUNT] = {
    [GAN_VANILLA] = {"vanilla", "MLP generator and discriminator (Goodfellow et al. 2014)"},
    [GAN_DCGAN] = {"dcgan", "deep convolutional GAN, DCGAN-28 (Radford et al. 2015)"},
    [GAN_CGAN] = {"cgan",
                  "conditional GAN: the label joins G's noise and D's input (Mirza & Osindero 2014)"},
    [GAN_LSGAN] = {"lsgan", "least-squares GAN: DCGAN-28 with MSE losses (Mao et al. 2017)"},
    [GAN_ACGAN] = {"acgan",
                   "auxiliary classifier GAN: D has a real/fake head and a class head (Odena et al. 2017)"},
    [GAN_INFOGAN] = {"infogan",
                     "InfoGAN: categorical and continuous codes recovered by a Q head (Chen et al. 2016)"},
    [GAN_WGAN] = {"wgan", "Wasserstein GAN with weight clipping (Arjovsky et al. 2017)"},
    [GAN_HINGE] = {"hinge",
                   "hinge loss with spectral normalisation in D (Miyato et al. 2018)"},
};

static const char *loss_names[] = {"bce", "mse", "hinge", "wasserstein"};
static const char *opt_names[] = {"adam", "rmsprop"};

const char *gan_kind_name(gan_kind kind)
{
    return (unsigned)kind < GAN_KIND_COUNT ? kinds[kind].name : "unknown";
}
const char *gan_kind_description(gan_kind kind)
{
    return (unsigned)kind < GAN_KIND_COUNT ? kinds[kind].description : "";
}
const char *gan_loss_name(gan_loss loss)
{
    return (unsigned)loss < 4 ? loss_names[loss] : "unknown";
}
const char *gan_optimizer_name(gan_optimizer opt)
{
    return (unsigned)opt < 2 ? opt_names[opt] : "unknown";
}

gand_status gan_kind_from_name(const char *name, gan_kind *out)
{
    for (int k = 0; k < GAN_KIND_COUNT; k++) {
        if (strcmp(name, kinds[k].name) == 0) {
            *out = (gan_kind)k;
            return GAND_OK;
        }
    }
    return GAND_ENOTFOUND;
}

bool gan_kind_conditional(gan_kind kind) { return kind == GAN_CGAN || kind == GAN_ACGAN; }

void gan_spec_defaults(gan_kind kind, gan_spec *s)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    snprintf(s->dataset, sizeof s->dataset, "fashion-mnist");
    s->z_dim = 100;
    s->g_width = 128;
    s->d_width = 64;
    s->loss = GAN_LOSS_BCE;
    s->optimizer = GAN_OPT_ADAM;
    s->lr_g = 2e-4f;
    s->lr_d = 2e-4f;
    s->beta1 = 0.5f;
    s->beta2 = 0.999f;
    s->batch_size = 64;
    s->epochs = 5;
    s->n_critic = 1;
    s->clip = 0.01f;
    s->sample_every = 200;
    s->checkpoint_every = 1000;
    s->seed = 1;
    s->n_cat = 10;
    s->n_cont = 2;
    s->lambda_info = 1.0f;
    switch (kind) {
    case GAN_VANILLA:
        s->g_width = 256;
        s->d_width = 256;
        break;
    case GAN_LSGAN:
        s->loss = GAN_LOSS_MSE;
        break;
    case GAN_INFOGAN:
        /* Chen et al. 2016, MNIST: 62 noise variables, lr 1e-3 for G and Q */
        s->z_dim = 62;
        s->lr_g = 1e-3f;
        break;
    case GAN_WGAN:
        /* Arjovsky et al. 2017: RMSProp lr 5e-5, clip 0.01, 5 critic steps */
        s->loss = GAN_LOSS_WASSERSTEIN;
        s->optimizer = GAN_OPT_RMSPROP;
        s->lr_g = 5e-5f;
        s->lr_d = 5e-5f;
        s->n_critic = 5;
        break;
    case GAN_HINGE:
        /* Miyato et al. 2018, standard CNN: Adam lr 2e-4, betas (0, 0.9) */
        s->loss = GAN_LOSS_HINGE;
        s->beta1 = 0.0f;
        s->beta2 = 0.9f;
        break;
    default:
        break;
    }
}

/* ---- the field table ---- */

typedef enum { F_STR, F_PATH, F_INT, F_LONG, F_FLOAT, F_U64, F_LOSS, F_OPT, F_CLASSES } field_type;

#define ALL_KINDS 0xffffu
#define KIND(k) (1u << (k))

typedef struct {
    const char *name;
    field_type type;
    size_t offset;
    double min, max;
    unsigned kinds; /* kinds that accept the field */
    const char *doc;
} field_def;

#define OFF(f) offsetof(gan_spec, f)

static const field_def fields[] = {
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
#define NFIELDS (sizeof fields / sizeof fields[0])

static const field_def *find_field(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

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

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an unknown value";
}

static gand_status field_error(char *err, size_t errlen, char *field, size_t fieldlen,
                               const char *name, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static gand_status field_error(char *err, size_t errlen, char *field, size_t fieldlen,
                               const char *name, const char *fmt, ...)
{
    if (field && fieldlen)
        snprintf(field, fieldlen, "%s", name);
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return GAND_ERANGE;
}

/* Integers must be whole numbers that a double represents exactly. */
static bool is_integer(double d) { return isfinite(d) && d == floor(d) && fabs(d) <= 9007199254740991.0; }

static gand_status set_field(const field_def *f, const cJSON *v, gan_spec *s, char *err,
                             size_t errlen, char *field, size_t fieldlen)
{
    char *base = (char *)s;
    switch (f->type) {
    case F_STR:
    case F_PATH: {
        if (!cJSON_IsString(v))
            return field_error(err, errlen, field, fieldlen, f->name,
                               "field '%s' must be a string, got %s", f->name, json_type_name(v));
        size_t n = strlen(v->valuestring);
        if (n > (size_t)f->max)
            return field_error(err, errlen, field, fieldlen, f->name,
                               "field '%s' is %zu characters long; the limit is %d", f->name, n,
                               (int)f->max);
        if (f->type == F_PATH && n == 0)
            return field_error(err, errlen, field, fieldlen, f->name, "field '%s' is empty",
                               f->name);
        memcpy(base + f->offset, v->valuestring, n + 1);
        return GAND_OK;
    }
    case F_LOSS:
    case F_OPT: {
        const char **names = f->type == F_LOSS ? loss_names : opt_names;
        int count = f->type == F_LOSS ? 3 : 2; /* wasserstein belongs to wgan only */
        if (!cJSON_IsString(v))
            return field_error(err, errlen, field, fieldlen, f->name,
                               "field '%s' must be a string, got %s", f->name, json_type_name(v));
        for (int i = 0; i < count; i++) {
            if (strcmp(v->valuestring, names[i]) == 0) {
                *(int *)(base + f->offset) = i;
                return GAND_OK;
            }
        }
        return field_error(err, errlen, field, fieldlen, f->name,
                           "field '%s' must be one of %s, %s%s%s; got '%.40s'", f->name, names[0],
                           names[1], count > 2 ? ", " : "", count > 2 ? names[2] : "",
                           v->valuestring);
    }
    case F_INT:
    case F_LONG:
    case F_U64:
    case F_FLOAT: {
        if (!cJSON_IsNumber(v))
            return field_error(err, errlen, field, fieldlen, f->name,
                               "field '%s' must be %s, got %s", f->name,
                               f->type == F_FLOAT ? "a number" : "an integer", json_type_name(v));
        double d = v->valuedouble;
        if (f->type != F_FLOAT && !is_integer(d))
            return field_error(err, errlen, field, fieldlen, f->name,
                               "field '%s' must be an integer, got %g", f->name, d);
        if (!(d >= f->min && d <= f->max))
            return field_error(err, errlen, field, fieldlen, f->name,
                               "field '%s' must be between %g and %.17g, got %g", f->name, f->min,
                               f->max, d);
        if (f->type == F_INT)
            *(int *)(base + f->offset) = (int)d;
        else if (f->type == F_LONG)
            *(long *)(base + f->offset) = (long)d;
        else if (f->type == F_U64)
            *(uint64_t *)(base + f->offset) = (uint64_t)d;
        else
            *(float *)(base + f->offset) = (float)d;
        return GAND_OK;
    }
    case F_CLASSES: {
        if (!cJSON_IsArray(v))
            return field_error(err, errlen, field, fieldlen, f->name,
                               "field '%s' must be an array of class labels, got %s", f->name,
                               json_type_name(v));
        int n = cJSON_GetArraySize(v);
        if (n < 1 || n > GAN_MAX_CLASSES)
            return field_error(err, errlen, field, fieldlen, f->name,
                               "field '%s' must list between 1 and %d classes, got %d", f->name,
                               GAN_MAX_CLASSES, n);
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (!cJSON_IsNumber(e) || !is_integer(e->valuedouble) || e->valuedouble < 0 ||
                e->valuedouble > f->max)
                return field_error(err, errlen, field, fieldlen, f->name,
                                   "field '%s' item %d must be a class label between 0 and %d",
                                   f->name, i, (int)f->max);
            int c = (int)e->valuedouble;
            for (int j = 0; j < i; j++)
                if (s->classes[j] == c)
                    return field_error(err, errlen, field, fieldlen, f->name,
                                       "field '%s' lists class %d twice", f->name, c);
            s->classes[i++] = c;
        }
        s->nclasses = n;
        return GAND_OK;
    }
    }
    return GAND_EINTERNAL;
}

/* Line and column (1-based) of byte offset off in json. */
static void position(const char *json, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (json[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static gand_status check_dataset(const gan_spec *s, char *err, size_t errlen, char *field,
                                 size_t fieldlen)
{
    const char *d = s->dataset;
    if (d[0] == '/') {
        if (strstr(d, "/../") || strcmp(d + strlen(d) - (strlen(d) >= 3 ? 3 : 0), "/..") == 0)
            return field_error(err, errlen, field, fieldlen, "dataset",
                               "field 'dataset' must not contain '..' segments");
        return GAND_OK;
    }
    for (const char *p = d; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return field_error(err, errlen, field, fieldlen, "dataset",
                               "field 'dataset' must be a built-in dataset name (e.g. "
                               "'fashion-mnist') or an absolute directory path, got '%.60s'",
                               d);
    }
    return GAND_OK;
}

gand_status gan_spec_parse(const char *json, size_t len, gan_spec *spec, char *err,
                           size_t errlen, char *field, size_t fieldlen)
{
    if (field && fieldlen)
        field[0] = '\0';
    gand_status text_st = gan_spec_text_ok(json, len, err, errlen);
    if (text_st != GAND_OK)
        return text_st;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!root) {
        size_t off = end && end >= json ? (size_t)(end - json) : 0;
        const char *ep = cJSON_GetErrorPtr();
        if (ep && ep >= json && ep <= json + len)
            off = (size_t)(ep - json);
        int line, col;
        position(json, off, &line, &col);
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "the job spec is not valid JSON (error at line %d, column %d)", line,
                           col);
    }
    gand_status st = GAND_OK;
    if (!cJSON_IsObject(root)) {
        st = field_error(err, errlen, field, fieldlen, "",
                         "the job spec must be a JSON object, got %s", json_type_name(root));
        goto out;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!model) {
        st = field_error(err, errlen, field, fieldlen, "model",
                         "field 'model' is required: one of vanilla, dcgan, cgan, lsgan, acgan, "
                         "infogan, wgan, hinge");
        goto out;
    }
    gan_kind kind;
    if (!cJSON_IsString(model) || gan_kind_from_name(model->valuestring, &kind) != GAND_OK) {
        st = field_error(err, errlen, field, fieldlen, "model",
                         "field 'model' must be one of vanilla, dcgan, cgan, lsgan, acgan, "
                         "infogan, wgan, hinge; got %s%.40s%s",
                         cJSON_IsString(model) ? "'" : "",
                         cJSON_IsString(model) ? model->valuestring : json_type_name(model),
                         cJSON_IsString(model) ? "'" : "");
        goto out;
    }
    gan_spec_defaults(kind, spec);
    if (!cJSON_GetObjectItemCaseSensitive(root, "dataset")) {
        st = field_error(err, errlen, field, fieldlen, "dataset",
                         "field 'dataset' is required: a built-in name such as 'fashion-mnist' "
                         "or an absolute directory path");
        goto out;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        const field_def *f = find_field(item->string);
        if (!f) {
            st = field_error(err, errlen, field, fieldlen, item->string,
                             "unknown field '%.60s'; GET /models lists the fields of each model",
                             item->string);
            goto out;
        }
        for (const cJSON *o = root->child; o != item; o = o->next) {
            if (strcmp(o->string, item->string) == 0) {
                st = field_error(err, errlen, field, fieldlen, item->string,
                                 "field '%s' is given twice", item->string);
                goto out;
            }
        }
        if (!(f->kinds & KIND(kind))) {
            st = field_error(err, errlen, field, fieldlen, f->name,
                             "field '%s' does not apply to model '%s'", f->name,
                             gan_kind_name(kind));
            goto out;
        }
        if (f->offset == 0 && strcmp(f->name, "model") == 0)
            continue;
        st = set_field(f, item, spec, err, errlen, field, fieldlen);
        if (st != GAND_OK)
            goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "steps") &&
        cJSON_GetObjectItemCaseSensitive(root, "epochs")) {
        st = field_error(err, errlen, field, fieldlen, "steps",
                         "give either 'steps' or 'epochs', not both");
        goto out;
    }
    st = check_dataset(spec, err, errlen, field, fieldlen);
    if (st != GAND_OK)
        goto out;
    if (spec->name[0] == '\0')
        snprintf(spec->name, sizeof spec->name, "%s-%.100s", gan_kind_name(kind),
                 spec->dataset[0] == '/' ? "custom" : spec->dataset);
out:
    cJSON_Delete(root);
    return st;
}

/* Adds field f of s to obj; NULL on allocation failure. */
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
    for (size_t i = 0; i < NFIELDS; i++) {
        const field_def *f = &fields[i];
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
        for (size_t i = 0; i < NFIELDS; i++) {
            const field_def *f = &fields[i];
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
                const char **names = f->type == F_LOSS ? loss_names : opt_names;
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
