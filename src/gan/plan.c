/* Checking a spec against its dataset before any training: what the trainer
 * would fail on is found while the daemon can still answer 422. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

long gan_total_steps(const gan_spec *spec, int count)
{
    if (spec->steps > 0)
        return spec->steps;
    long batches = count / spec->batch_size;
    long total = (long)spec->epochs * batches / spec->n_critic;
    return total < 1 ? 1 : total;
}

static gand_status fail(char *field, size_t fieldlen, const char *name, gand_status st)
{
    if (field && fieldlen)
        snprintf(field, fieldlen, "%s", name);
    return st;
}

gand_status gan_spec_check_data(const gan_spec *spec, long *total_steps, char *field,
                                size_t fieldlen, char *err, size_t errlen)
{
    data_info info;
    int count;
    return gan_spec_probe(spec, &info, &count, total_steps, field, fieldlen, err, errlen);
}

gand_status gan_spec_probe(const gan_spec *spec, data_info *out, int *images, long *total_steps,
                           char *field, size_t fieldlen, char *err, size_t errlen)
{
    data_info info;
    gand_status st = data_probe(spec->dataset, true, &info, err, errlen);
    if (st != GAND_OK)
        return fail(field, fieldlen, "dataset", st);
    bool conditional = gan_kind_conditional(spec->kind);
    if ((conditional || spec->nclasses > 0) && !info.has_labels)
        return fail(field, fieldlen, spec->nclasses > 0 ? "classes" : "model",
                    gand_errorf(err, errlen, GAND_EINVAL,
                                "dataset '%s' has no labels file, which %s needs", spec->dataset,
                                spec->nclasses > 0 ? "a class subset" : "this model"));
    if (spec->kind == GAN_ACGAN && info.num_classes < 2)
        return fail(field, fieldlen, "dataset",
                    gand_errorf(err, errlen, GAND_EINVAL,
                                "acgan needs a labelled dataset with at least 2 classes; '%s' "
                                "has %d",
                                spec->dataset, info.num_classes));
    int count = info.count;
    if (spec->nclasses > 0) {
        count = 0;
        for (int i = 0; i < spec->nclasses; i++) {
            int c = spec->classes[i];
            if (c >= info.num_classes || info.class_counts[c] == 0)
                return fail(field, fieldlen, "classes",
                            gand_errorf(err, errlen, GAND_EINVAL,
                                        "class %d has no images in dataset '%s' (its labels run "
                                        "from 0 to %d)",
                                        c, spec->dataset, info.num_classes - 1));
            count += info.class_counts[c];
        }
    }
    if (count < spec->batch_size)
        return fail(field, fieldlen, "batch_size",
                    gand_errorf(err, errlen, GAND_EINVAL,
                                "dataset '%s' has %d images (after the class subset), fewer "
                                "than batch_size %d",
                                spec->dataset, count, spec->batch_size));
    if (spec->kind != GAN_VANILLA && (info.shape.h % 4 || info.shape.w % 4))
        return fail(field, fieldlen, "dataset",
                    gand_errorf(err, errlen, GAND_EINVAL,
                                "model '%s' halves the image twice, so its sides must be "
                                "multiples of 4; dataset '%s' has %dx%d images (use model "
                                "'vanilla' for these)",
                                gan_kind_name(spec->kind), spec->dataset, info.shape.h,
                                info.shape.w));
    if (total_steps)
        *total_steps = gan_total_steps(spec, count);
    *out = info;
    *images = count;
    return GAND_OK;
}
