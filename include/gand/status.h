/* gand status codes.
 *
 * Every fallible gand function returns a gand_status: GAND_OK (0) on success,
 * a negative code otherwise. Functions that must explain an error to a person
 * (a bad spec, a corrupt file) also fill a caller-provided message buffer; the
 * status says what kind of failure it was, the message says what to fix.
 */
#ifndef GAND_STATUS_H
#define GAND_STATUS_H

#include <stddef.h>

typedef enum {
    GAND_OK = 0,
    GAND_ENOMEM = -1,     /* an allocation failed */
    GAND_EINVAL = -2,     /* an argument or input is invalid */
    GAND_EIO = -3,        /* a read, write or sync failed */
    GAND_EFORMAT = -4,    /* a file's contents are not what they claim to be */
    GAND_ENOTFOUND = -5,  /* a named thing (file, run, dataset) does not exist */
    GAND_EEXIST = -6,     /* the thing already exists */
    GAND_EBUSY = -7,      /* the thing is in use (a running job, a full queue) */
    GAND_ECANCELED = -8,  /* the operation was stopped on request */
    GAND_ERANGE = -9,     /* a value is outside what gand supports */
    GAND_EDB = -10,       /* the database reported an error */
    GAND_EINTERNAL = -11, /* a broken invariant; a bug in gand */
    GAND_ENOSPC = -12     /* the disk is full */
} gand_status;

/* Returns a short English sentence for status; never NULL, also for
 * unknown values. This function can't fail. */
const char *gand_strerror(gand_status status);

/* Formats into buf (size n, always NUL-terminated when n > 0) and returns
 * status, so error paths can be written as
 *     return gand_errorf(err, errlen, GAND_EINVAL, "field '%s' ...", name);
 * buf may be NULL, in which case only status is returned. */
gand_status gand_errorf(char *buf, size_t n, gand_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
