#include "gand/status.h"

#include <stdarg.h>
#include <stdio.h>

const char *gand_strerror(gand_status status)
{
    switch (status) {
    case GAND_OK: return "success";
    case GAND_ENOMEM: return "out of memory";
    case GAND_EINVAL: return "invalid argument";
    case GAND_EIO: return "input/output error";
    case GAND_EFORMAT: return "malformed file or data";
    case GAND_ENOTFOUND: return "not found";
    case GAND_EEXIST: return "already exists";
    case GAND_EBUSY: return "busy";
    case GAND_ECANCELED: return "canceled";
    case GAND_ERANGE: return "value out of range";
    case GAND_EDB: return "database error";
    case GAND_EINTERNAL: return "internal error";
    case GAND_ENOSPC: return "no space left on the disk";
    }
    return "unknown error";
}

gand_status gand_errorf(char *buf, size_t n, gand_status status, const char *fmt, ...)
{
    if (buf && n > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, n, fmt, ap);
        va_end(ap);
    }
    return status;
}
