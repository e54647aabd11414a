/* Internal to src/gan: the table of job spec fields that parsing,
 * printing and GET /models share. */
#ifndef GAND_GAN_SPEC_TABLE_H
#define GAND_GAN_SPEC_TABLE_H

#include "gand/gan.h"

#include <stddef.h>

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

extern const field_def gan_spec_fields[];
extern const size_t gan_spec_nfields;

/* Names of gan_loss and gan_optimizer values, by value. */
extern const char *const gan_loss_names[];
extern const char *const gan_opt_names[];

#endif
