/* Job specs: a table of fields drives parsing, validation, defaults,
 * normalised output and the GET /models description. */
#include "gand/gan.h"

#include "spec_table.h"
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

const char *const gan_loss_names[] = {"bce", "mse", "hinge", "wasserstein"};
const char *const gan_opt_names[] = {"adam", "rmsprop"};

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
    return (unsigned)loss < 4 ? gan_loss_names[loss] : "unknown";
}
const char *gan_optimizer_name(gan_optimizer opt)
{
    return (unsigned)opt < 2 ? gan_opt_names[opt] : "unknown";
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

static const field_def *find_field(const char *name)
{
    for (size_t i = 0; i < gan_spec_nfields; i++)
        if (strcmp(gan_spec_fields[i].name, name) == 0)
            return &gan_spec_fields[i];
    return NULL;
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
        const char *const *names = f->type == F_LOSS ? gan_loss_names : gan_opt_names;
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
