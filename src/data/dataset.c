/* Datasets: the built-in registry, opening by name or directory, class
 * subsets and conversion of batches to floats. */
#include "internal.h"

#include "gand/alloc.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const data_builtin builtins[] = {
    {"fashion-mnist",
     "Fashion-MNIST (Zalando): 28x28 grey images of clothing in 10 classes, 60000 for "
     "training and 10000 for testing",
     DATA_FASHION_MNIST_DIR},
};

#define NUM_BUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

int data_builtin_count(void) { return NUM_BUILTINS; }

const data_builtin *data_builtin_get(int i)
{
    return i >= 0 && i < NUM_BUILTINS ? &builtins[i] : NULL;
}

const data_builtin *data_builtin_find(const char *name)
{
    for (int i = 0; name && i < NUM_BUILTINS; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds "<dir>/<prefix>-<kind>[.gz]" for each kind in turn, writing the
 * first that exists into path. False when none exists or the path does not
 * fit. */
static bool find_file(const char *dir, const char *prefix, const char *const *kinds,
                      char path[PATH_MAX])
{
    static const char *const suffixes[] = {"", ".gz"};
    for (int k = 0; kinds[k]; k++)
        for (int s = 0; s < 2; s++) {
            int n = snprintf(path, PATH_MAX, "%s/%s-%s%s", dir, prefix, kinds[k], suffixes[s]);
            if (n > 0 && n < PATH_MAX && is_regular_file(path))
                return true;
        }
    return false;
}

static const char *const image_kinds[] = {"images-idx3-ubyte", "images-idx4-ubyte", NULL};
static const char *const label_kinds[] = {"labels-idx1-ubyte", NULL};

bool data_builtin_available(const data_builtin *b)
{
    char path[PATH_MAX];
    return b && find_file(b->dir, "train", image_kinds, path);
}

/* Finds the images file (and the labels file, "" when there is none) of a
 * dataset name or directory; the errors of data_open(). */
static gand_status resolve(const char *name_or_dir, bool train, char images[PATH_MAX],
                           char labels[PATH_MAX], char *err, size_t errlen)
{
    if (!name_or_dir || !*name_or_dir)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "the dataset name is empty; give a built-in name such as "
                           "fashion-mnist or a directory of IDX files");
    if (strlen(name_or_dir) >= PATH_MAX - 32)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "the dataset name is %zu characters long; give a built-in name or "
                           "a directory path shorter than %d",
                           strlen(name_or_dir), PATH_MAX - 32);
    const char *prefix = train ? "train" : "t10k";
    const data_builtin *b = data_builtin_find(name_or_dir);
    const char *dir = b ? b->dir : name_or_dir;
    struct stat st;
    if (!b && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        char names[256] = "";
        for (int i = 0; i < NUM_BUILTINS; i++) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", builtins[i].name);
        }
        return gand_errorf(err, errlen, GAND_ENOTFOUND,
                           "unknown dataset '%s': it is neither a built-in dataset (%s) nor a "
                           "directory; a directory holding %s-images-idx3-ubyte[.gz] and "
                           "optionally %s-labels-idx1-ubyte[.gz] is accepted too",
                           name_or_dir, names, prefix, prefix);
    }
    if (!find_file(dir, prefix, image_kinds, images)) {
        if (b)
            return gand_errorf(err, errlen, GAND_ENOTFOUND,
                               "dataset '%s' is not installed: %s holds no "
                               "%s-images-idx3-ubyte[.gz]; on Debian install the package "
                               "dataset-%s",
                               b->name, dir, prefix, b->name);
        return gand_errorf(err, errlen, GAND_ENOTFOUND,
                           "directory %s holds no %s-images-idx3-ubyte[.gz]; a dataset "
                           "directory needs that images file and optionally "
                           "%s-labels-idx1-ubyte[.gz]",
                           dir, prefix, prefix);
    }
    if (!find_file(dir, prefix, label_kinds, labels))
        labels[0] = '\0';
    return GAND_OK;
}

gand_status data_open(const char *name_or_dir, bool train, data_set **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    char images[PATH_MAX], labels[PATH_MAX];
    gand_status st = resolve(name_or_dir, train, images, labels, err, errlen);
    if (st != GAND_OK)
        return st;
    return data_idx_load(images, labels[0] ? labels : NULL, out, err, errlen);
}

gand_status data_probe(const char *name_or_dir, bool train, data_info *info, char *err,
                       size_t errlen)
{
    char images[PATH_MAX], labels[PATH_MAX];
    gand_status st = resolve(name_or_dir, train, images, labels, err, errlen);
    if (st != GAND_OK)
        return st;
    return data_idx_probe(images, labels[0] ? labels : NULL, info, err, errlen);
}

data_set *data_set_wrap(nn_shape shape, int total, uint8_t *pixels, uint8_t *labels)
{
    data_set *ds = gand_calloc(1, sizeof *ds);
    if (!ds) {
        gand_free(pixels);
        gand_free(labels);
        return NULL;
    }
    ds->shape = shape;
    ds->total = total;
    ds->count = total;
    ds->pixels = pixels;
    ds->labels = labels;
    if (labels) {
        int top = 0;
        for (int i = 0; i < total; i++)
            if (labels[i] > top)
                top = labels[i];
        ds->num_classes = top + 1;
    }
    return ds;
}

void data_free(data_set *ds)
{
    if (!ds)
        return;
    gand_free(ds->pixels);
    gand_free(ds->labels);
    gand_free(ds->index);
    gand_free(ds);
}

int data_count(const data_set *ds) { return ds->count; }
nn_shape data_shape(const data_set *ds) { return ds->shape; }
bool data_has_labels(const data_set *ds) { return ds->labels != NULL; }
int data_num_classes(const data_set *ds) { return ds->num_classes; }

/* Position in pixels/labels of visible sample i. */
static int sample_at(const data_set *ds, int i)
{
    assert(i >= 0 && i < ds->count);
    return ds->index ? ds->index[i] : i;
}

int data_label(const data_set *ds, int i)
{
    return ds->labels ? ds->labels[sample_at(ds, i)] : -1;
}

gand_status data_subset(data_set *ds, const int *classes, int n, char *err, size_t errlen)
{
    if (!ds->labels)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "this dataset has no labels, so it cannot be restricted to classes; "
                           "add a labels file or drop the class list");
    if (n <= 0 || !classes)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "the class list is empty; give at least one class in 0..%d",
                           ds->num_classes - 1);
    bool keep[256] = {false};
    for (int i = 0; i < n; i++) {
        if (classes[i] < 0 || classes[i] >= ds->num_classes)
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "class %d is out of range; this dataset's classes are 0..%d",
                               classes[i], ds->num_classes - 1);
        keep[classes[i]] = true;
    }
    int kept = 0;
    for (int i = 0; i < ds->count; i++)
        kept += keep[data_label(ds, i)];
    if (kept == 0)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "no sample has any of the %d chosen classes; choose classes that "
                           "occur in the dataset",
                           n);
    int *index = gand_malloc((size_t)kept * sizeof *index);
    if (!index)
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory for a subset of %d samples",
                           kept);
    int k = 0;
    for (int i = 0; i < ds->count; i++) {
        int j = sample_at(ds, i);
        if (keep[ds->labels[j]])
            index[k++] = j;
    }
    gand_free(ds->index);
    ds->index = index;
    ds->count = kept;
    return GAND_OK;
}

void data_batch(const data_set *ds, const int *idx, int n, float *images, int *labels)
{
    /* A table gives exactly x / 127.5 - 1 per byte without a division per value. */
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = (float)v / 127.5f - 1.0f;
    size_t per = nn_shape_size(ds->shape);
    for (int i = 0; i < n; i++) {
        int j = sample_at(ds, idx[i]);
        const uint8_t *p = ds->pixels + (size_t)j * per; /* (c, h, w) */
        float *x = images + (size_t)i * per;             /* (c, h, w) */
        for (size_t k = 0; k < per; k++)
            x[k] = lut[p[k]];
        if (labels)
            labels[i] = ds->labels ? ds->labels[j] : -1;
    }
}
