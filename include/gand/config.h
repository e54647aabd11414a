/* The daemon's configuration: etc/gand.conf and the command-line flags.
 *
 * The file is INI. Every key lives in one section, [gand]; a key above the
 * first section line or in any other section is an error, so a typo in a
 * section name cannot silently drop settings. Lines starting with '#' or ';'
 * are comments, values are not quoted, a key may appear once per file, and a
 * line holds at most 197 characters (inih's 200-byte line buffer).
 *
 * One table in config.c lists every key with its type, default, limits,
 * command-line flag and a one-line description; parsing, validation,
 * defaults, gand_config_get() and --help all come from it. The daemon applies
 * gand_config_defaults(), then the file (gand_config_load), then each flag
 * (gand_config_set_flag), then gand_config_validate() for the checks that
 * involve two keys.
 *
 * Keys (defaults in parentheses):
 *   listen                   address to serve HTTP on (127.0.0.1:8080)
 *   state_dir                database, checkpoints and samples (/var/lib/gand)
 *   www_dir                  the monitoring page (GAND_DATADIR/www)
 *   workers                  runs trained at once, 1..64 (1)
 *   blas_threads             OpenBLAS threads per worker, 0 = cores / workers (0)
 *   queue_max                queued runs before POST /runs answers 503 (64)
 *   max_body_bytes           largest request body, K/M/G suffixes allowed (1048576)
 *   auth_token_file          file holding the bearer token, empty = no auth ("")
 *   log_level                error, warn, info or debug (info)
 *   sample_retention         newest sample grids kept per run, 0 = all (0)
 *   connection_limit         concurrent HTTP connections (256)
 *   per_ip_connection_limit  concurrent connections from one address (32)
 *   connection_timeout_s     idle seconds before a connection is closed (60)
 */
#ifndef GAND_CONFIG_H
#define GAND_CONFIG_H

#include "gand/log.h"
#include "gand/status.h"

#include <stddef.h>

#define GAND_CONFIG_PATH_MAX 4096 /* bytes, NUL included */
#define GAND_CONFIG_LISTEN_MAX 64 /* bytes, NUL included */
#define GAND_CONFIG_TOKEN_MIN 16  /* characters */

typedef struct {
    /* listen as written ("127.0.0.1:8080", "[::1]:8080", ":8080"), and its
     * parts: listen_host is a numeric address without brackets, "" for
     * ":PORT", which the server binds to 127.0.0.1 (http_parse_listen);
     * listen_family is AF_INET, AF_INET6, or AF_UNSPEC when listen_host is
     * ""; listen_port 0 lets the kernel pick a free port. */
    char listen[GAND_CONFIG_LISTEN_MAX];
    char listen_host[GAND_CONFIG_LISTEN_MAX];
    int listen_family;
    int listen_port;

    char state_dir[GAND_CONFIG_PATH_MAX];
    char www_dir[GAND_CONFIG_PATH_MAX];
    char auth_token_file[GAND_CONFIG_PATH_MAX]; /* "" = no authentication */

    int workers;
    int blas_threads; /* 0 = auto, see gand_config_blas_threads() */
    int queue_max;
    size_t max_body_bytes;
    gand_log_level log_level;
    int sample_retention; /* 0 = keep every grid */
    int connection_limit;
    int per_ip_connection_limit;
    int connection_timeout_s;
} gand_config;

/* One configurable key, for building the command line and --help. */
typedef struct {
    const char *key;           /* name in gand.conf, e.g. "state_dir" */
    const char *flag;          /* long option without the dashes, e.g. "state-dir" */
    const char *metavar;       /* placeholder for --help, e.g. "DIR" */
    const char *default_value; /* as gand_config_get() prints it */
    const char *doc;           /* one sentence saying what the key does */
} gand_config_option;

/* Number of keys, and key i (0 <= i < count; NULL past the end). The order
 * is the order of the documented file. These functions can't fail. */
size_t gand_config_option_count(void);
const gand_config_option *gand_config_option_at(size_t i);

/* Fills cfg with every key's default. This function can't fail. */
void gand_config_defaults(gand_config *cfg);

/* The file gand reads when no --config is given: SYSCONFDIR/gand/gand.conf
 * of this build. Never NULL. */
const char *gand_config_default_path(void);

/* Reads the INI file at path on top of the values already in cfg, then runs
 * gand_config_validate(). Stops at the first problem and leaves cfg
 * untouched on any error. Errors (err names the file and line):
 *   GAND_ENOTFOUND  the file does not exist
 *   GAND_EIO        it cannot be opened or read
 *   GAND_EINVAL     a bad value, unknown key or section, repeated key, or a
 *                   line that is neither "key = value", "[section]" nor a
 *                   comment, e.g. "gand.conf:7: key 'workers': must be an
 *                   integer between 1 and 64, got 'many'"
 *   GAND_ENOMEM     out of memory */
gand_status gand_config_load(const char *path, gand_config *cfg, char *err, size_t errlen);

/* Sets one key from its text form with the same validation as the file;
 * cfg is unchanged on error. gand_config_set takes the file's key name
 * ("state_dir") and says "key 'state_dir': ..." in err; gand_config_set_flag
 * takes the option name without dashes ("state-dir") and says
 * "option --state-dir: ...". GAND_EINVAL for a bad value or an unknown
 * name. */
gand_status gand_config_set(gand_config *cfg, const char *key, const char *value, char *err,
                            size_t errlen);
gand_status gand_config_set_flag(gand_config *cfg, const char *flag, const char *value,
                                 char *err, size_t errlen);

/* Writes key's current value into buf (size len) in the form the file
 * takes, so gand_config_set(cfg, key, buf) reproduces it. GAND_EINVAL for an
 * unknown key, GAND_ERANGE when buf is too small (buf then holds a
 * truncated, NUL-terminated value). */
gand_status gand_config_get(const gand_config *cfg, const char *key, char *buf, size_t len);

/* Checks that involve two keys (per_ip_connection_limit must not exceed
 * connection_limit). GAND_EINVAL with a message saying which to change. */
gand_status gand_config_validate(const gand_config *cfg, char *err, size_t errlen);

/* OpenBLAS threads one worker should use: blas_threads when set, otherwise
 * ncores / workers, at least 1. */
int gand_config_blas_threads(const gand_config *cfg, int ncores);

/* Reads the bearer token from cfg->auth_token_file into buf (size len; at
 * least GAND_CONFIG_TOKEN_MIN + 1), surrounding whitespace removed. When no
 * file is configured, buf is "" and the result is GAND_OK. Refuses
 * (GAND_EINVAL) a token shorter than GAND_CONFIG_TOKEN_MIN characters, one
 * with spaces or control characters, one that does not fit in buf, and a
 * file other users may read or write (the message suggests chmod 600).
 * GAND_ENOTFOUND / GAND_EIO when the file cannot be read. */
gand_status gand_config_read_token(const gand_config *cfg, char *buf, size_t len, char *err,
                                   size_t errlen);

#endif
