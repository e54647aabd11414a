/* Shared between config.c (the key table) and config_file.c (the INI file
 * and the token file). */
#ifndef GAND_DAEMON_CONFIG_INTERNAL_H
#define GAND_DAEMON_CONFIG_INTERNAL_H

#include "gand/config.h"

/* The section every key lives in. */
#define CONFIG_SECTION "gand"

/* Index of key in the table, or -1 when there is no such key. */
int config_key_index(const char *key);

/* Sets key idx from value; on error writes only the reason ("must be an
 * integer between 1 and 64, got 'many'") into msg and leaves cfg as it was. */
gand_status config_apply(gand_config *cfg, int idx, const char *value, char *msg,
                         size_t msglen);

/* The known key nearest to name by edit distance, or NULL when none is close
 * enough to be the likely intent. */
const char *config_closest_key(const char *name);

#endif
