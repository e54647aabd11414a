/* Internal to src/gan: raw-text checks of a job spec. */
#ifndef GAND_GAN_SPEC_TEXT_H
#define GAND_GAN_SPEC_TEXT_H

#include "gand/status.h"

#include <stdbool.h>
#include <stddef.h>

/* JSON text must be UTF-8, and a "\u0000" in a string would reach the spec
 * as a C string cut short (another name or dataset than the one sent), so
 * both are refused (GAND_EINVAL) with the byte offset. */
gand_status gan_spec_text_ok(const char *text, size_t len, char *err, size_t errlen);

#endif
