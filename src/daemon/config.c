/* The configuration table: every key's type, limits, default, flag and doc,
 * and the setters and getters the file and the command line share. */
#include "gand_config.h"

#include "config_internal.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef GAND_SYSCONFDIR
#define GAND_SYSCONFDIR "/etc"
#endif

struct config_entry;

/* A value type: set parses and validates text into the struct (writing the
 * reason for a refusal into msg), get prints the value back as text. */
typedef struct {
    gand_status (*set)(const struct config_entry *e, gand_config *cfg, const char *value,
                       char *msg, size_t msglen);
    int (*get)(const struct config_entry *e, const gand_config *cfg, char *buf, size_t len);
} config_type;

typedef struct config_entry {
    gand_config_option opt;
    const config_type *type;
    size_t offset; /* of the field in gand_config */
    size_t size;   /* of the field, for strings */
    long long min, max;
} config_entry;

#define VALUE_SHOWN 120 /* characters of a bad value quoted back in a message */

static gand_status refuse(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static gand_status refuse(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (msg && msglen > 0)
        vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return GAND_EINVAL;
}

static void *field(gand_config *cfg, const config_entry *e) { return (char *)cfg + e->offset; }
static const void *cfield(const gand_config *cfg, const config_entry *e)
{
    return (const char *)cfg + e->offset;
}

/* Strict decimal: optional '-', digits, nothing else; no overflow. */
static int parse_ll(const char *s, long long *out)
{
    char *end;
    if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* ---- int ---- */

static gand_status set_int(const config_entry *e, gand_config *cfg, const char *value,
                           char *msg, size_t msglen)
{
    long long v;
    if (parse_ll(value, &v) != 0 || v < e->min || v > e->max)
        return refuse(msg, msglen, "must be an integer between %lld and %lld, got '%.*s'",
                      e->min, e->max, VALUE_SHOWN, value);
    *(int *)field(cfg, e) = (int)v;
    return GAND_OK;
}

static int get_int(const config_entry *e, const gand_config *cfg, char *buf, size_t len)
{
    return snprintf(buf, len, "%d", *(const int *)cfield(cfg, e));
}

static const config_type type_int = {set_int, get_int};

/* ---- size in bytes, with binary K/M/G suffixes ---- */

static int parse_size(const char *s, unsigned long long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    int shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (shift && strcmp(end, "iB") == 0)
        end += 2;
    if (*end || v > (ULLONG_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

static gand_status set_size(const config_entry *e, gand_config *cfg, const char *value,
                            char *msg, size_t msglen)
{
    unsigned long long v;
    if (parse_size(value, &v) != 0 || v < (unsigned long long)e->min ||
        v > (unsigned long long)e->max)
        return refuse(msg, msglen,
                      "must be a size in bytes between %lld and %lld (K, M and G suffixes "
                      "allowed), got '%.*s'",
                      e->min, e->max, VALUE_SHOWN, value);
    *(size_t *)field(cfg, e) = (size_t)v;
    return GAND_OK;
}

static int get_size(const config_entry *e, const gand_config *cfg, char *buf, size_t len)
{
    return snprintf(buf, len, "%zu", *(const size_t *)cfield(cfg, e));
}

static const config_type type_size = {set_size, get_size};

/* ---- paths (min = 1: must not be empty) ---- */

static gand_status set_path(const config_entry *e, gand_config *cfg, const char *value,
                            char *msg, size_t msglen)
{
    size_t n = strlen(value);
    if (n < (size_t)e->min)
        return refuse(msg, msglen, "must be a path, got an empty value");
    if (n >= e->size)
        return refuse(msg, msglen, "must be a path shorter than %zu bytes, got %zu bytes",
                      e->size, n);
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return refuse(msg, msglen, "must be a path without control characters");
    memcpy(field(cfg, e), value, n + 1);
    return GAND_OK;
}

static int get_string(const config_entry *e, const gand_config *cfg, char *buf, size_t len)
{
    return snprintf(buf, len, "%s", (const char *)cfield(cfg, e));
}

static const config_type type_path = {set_path, get_string};

/* ---- listen address ---- */

#define LISTEN_FORMS "; use HOST:PORT such as 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080 (every interface) or :8080 (127.0.0.1)"

static gand_status set_listen(const config_entry *e, gand_config *cfg, const char *value,
                              char *msg, size_t msglen)
{
    char host[GAND_CONFIG_LISTEN_MAX];
    const char *port;
    int family;
    size_t n = strlen(value);
    if (n >= GAND_CONFIG_LISTEN_MAX)
        return refuse(msg, msglen, "'%.*s' is too long" LISTEN_FORMS, VALUE_SHOWN, value);
    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        if (!close || close[1] != ':')
            return refuse(msg, msglen, "no port after the bracketed address in '%s'" LISTEN_FORMS,
                          value);
        memcpy(host, value + 1, (size_t)(close - value - 1));
        host[close - value - 1] = '\0';
        port = close + 2;
        family = AF_INET6;
    } else {
        const char *colon = strchr(value, ':');
        if (!colon)
            return refuse(msg, msglen, "no port in '%s'" LISTEN_FORMS, value);
        if (strchr(colon + 1, ':'))
            return refuse(msg, msglen, "an IPv6 address must be in brackets in '%s'" LISTEN_FORMS,
                          value);
        memcpy(host, value, (size_t)(colon - value));
        host[colon - value] = '\0';
        port = colon + 1;
        family = host[0] ? AF_INET : AF_UNSPEC;
    }
    unsigned char addr[sizeof(struct in6_addr)];
    if (family != AF_UNSPEC && inet_pton(family, host, addr) != 1)
        return refuse(msg, msglen, "'%s' in '%s' is not a numeric %s address" LISTEN_FORMS, host,
                      value, family == AF_INET ? "IPv4" : "IPv6");
    long long p;
    if (*port == '\0')
        return refuse(msg, msglen, "no port in '%s'" LISTEN_FORMS, value);
    if (*port == '-' || parse_ll(port, &p) != 0 || p < 0 || p > 65535)
        return refuse(msg, msglen, "port '%s' in '%s' is not a number between 0 and 65535" LISTEN_FORMS,
                      port, value);
    memcpy(cfg->listen, value, n + 1);
    memcpy(cfg->listen_host, host, strlen(host) + 1);
    cfg->listen_family = family;
    cfg->listen_port = (int)p;
    return GAND_OK;
}

static const config_type type_listen = {set_listen, get_string};

/* ---- log level ---- */

static const char *const level_names[] = {
    [GAND_LOG_ERROR] = "error", [GAND_LOG_WARN] = "warn",
    [GAND_LOG_INFO] = "info", [GAND_LOG_DEBUG] = "debug",
};

static gand_status set_level(const config_entry *e, gand_config *cfg, const char *value,
                             char *msg, size_t msglen)
{
    gand_log_level level;
    if (gand_log_parse_level(value, &level) != 0)
        return refuse(msg, msglen, "must be one of error, warn, info, debug, got '%.*s'",
                      VALUE_SHOWN, value);
    cfg->log_level = level;
    return GAND_OK;
}

static int get_level(const config_entry *e, const gand_config *cfg, char *buf, size_t len)
{
    unsigned l = (unsigned)cfg->log_level;
    const char *name = l < sizeof level_names / sizeof level_names[0] ? level_names[l] : NULL;
    return snprintf(buf, len, "%s", name ? name : "info");
}

static const config_type type_level = {set_level, get_level};

/* ---- the table ---- */

#define INT_FIELD(f) offsetof(gand_config, f), sizeof(int)
#define STR_FIELD(f) offsetof(gand_config, f), sizeof(((gand_config *)0)->f)

static const config_entry entries[] = {
    {{"listen", "listen", "HOST:PORT", "127.0.0.1:8080",
      "Address and port the HTTP API and the page are served on; ':PORT' means 127.0.0.1, 0.0.0.0:PORT every interface."},
     &type_listen, STR_FIELD(listen), 0, 0},
    {{"state_dir", "state-dir", "DIR", "/var/lib/gand",
      "Directory holding the database, checkpoints and sample images."},
     &type_path, STR_FIELD(state_dir), 1, 0},
    {{"www_dir", "www", "DIR", GAND_DATADIR "/www", "Directory of the monitoring page served at /."},
     &type_path, STR_FIELD(www_dir), 1, 0},
    {{"workers", "workers", "N", "1",
      "Runs trained at the same time (1 to 64); later runs wait in the queue."},
     &type_int, INT_FIELD(workers), 1, 64},
    {{"blas_threads", "blas-threads", "N", "0",
      "OpenBLAS threads per training run (1 to 64); 0 shares the CPU cores among the workers."},
     &type_int, INT_FIELD(blas_threads), 0, 64},
    {{"queue_max", "queue-max", "N", "64",
      "Runs that may wait in the queue; further submissions are refused until one starts."},
     &type_int, INT_FIELD(queue_max), 1, 100000},
    {{"max_body_bytes", "max-body-bytes", "SIZE", "1048576",
      "Largest request body accepted, in bytes (K, M and G suffixes allowed)."},
     &type_size, offsetof(gand_config, max_body_bytes), sizeof(size_t), 1024, 1LL << 30},
    {{"auth_token_file", "auth-token-file", "FILE", "",
      "File holding the bearer token clients must send; empty turns authentication off."},
     &type_path, STR_FIELD(auth_token_file), 0, 0},
    {{"log_level", "log-level", "LEVEL", "info", "Lowest level logged: error, warn, info or debug."},
     &type_level, offsetof(gand_config, log_level), sizeof(gand_log_level), 0, 0},
    {{"sample_retention", "sample-retention", "N", "0",
      "Sample grids kept per run, newest first; 0 keeps them all."},
     &type_int, INT_FIELD(sample_retention), 0, 1000000},
    {{"connection_limit", "connection-limit", "N", "256",
      "HTTP connections open at once, event streams included."},
     &type_int, INT_FIELD(connection_limit), 1, 100000},
    {{"per_ip_connection_limit", "per-ip-connection-limit", "N", "32",
      "HTTP connections open at once from one client address."},
     &type_int, INT_FIELD(per_ip_connection_limit), 1, 100000},
    {{"connection_timeout_s", "connection-timeout", "SECONDS", "60",
      "Seconds an idle HTTP connection stays open."},
     &type_int, INT_FIELD(connection_timeout_s), 1, 86400},
};

#define NENTRIES (sizeof entries / sizeof entries[0])

size_t gand_config_option_count(void) { return NENTRIES; }

const gand_config_option *gand_config_option_at(size_t i)
{
    return i < NENTRIES ? &entries[i].opt : NULL;
}

const char *gand_config_default_path(void) { return GAND_SYSCONFDIR "/gand/gand.conf"; }

int config_key_index(const char *key)
{
    for (size_t i = 0; i < NENTRIES; i++)
        if (strcmp(entries[i].opt.key, key) == 0)
            return (int)i;
    return -1;
}

static int flag_index(const char *flag)
{
    for (size_t i = 0; i < NENTRIES; i++)
        if (strcmp(entries[i].opt.flag, flag) == 0)
            return (int)i;
    return -1;
}

gand_status config_apply(gand_config *cfg, int idx, const char *value, char *msg, size_t msglen)
{
    const config_entry *e = &entries[idx];
    return e->type->set(e, cfg, value, msg, msglen);
}

void gand_config_defaults(gand_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NENTRIES; i++) {
        gand_status st = config_apply(cfg, (int)i, entries[i].opt.default_value, NULL, 0);
        assert(st == GAND_OK);
        (void)st;
    }
}

/* Levenshtein distance, for "did you mean"; names longer than the row are
 * never close to a key. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 64 || lb >= 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *config_closest_key(const char *name)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < NENTRIES; i++) {
        size_t d = edit_distance(name, entries[i].opt.key);
        if (d < best_d) {
            best_d = d;
            best = entries[i].opt.key;
        }
    }
    size_t limit = strlen(name) / 3 > 2 ? strlen(name) / 3 : 2;
    return best_d <= limit ? best : NULL;
}

gand_status gand_config_set(gand_config *cfg, const char *key, const char *value, char *err,
                            size_t errlen)
{
    int idx = config_key_index(key);
    if (idx < 0) {
        const char *near = config_closest_key(key);
        return gand_errorf(err, errlen, GAND_EINVAL, "unknown key '%.*s'%s%s%s", VALUE_SHOWN, key,
                           near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    }
    char msg[512];
    gand_status st = config_apply(cfg, idx, value, msg, sizeof msg);
    if (st != GAND_OK)
        return gand_errorf(err, errlen, st, "key '%s': %s", key, msg);
    return GAND_OK;
}

gand_status gand_config_set_flag(gand_config *cfg, const char *flag, const char *value,
                                 char *err, size_t errlen)
{
    int idx = flag_index(flag);
    if (idx < 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "unknown option --%.*s", VALUE_SHOWN, flag);
    char msg[512];
    gand_status st = config_apply(cfg, idx, value, msg, sizeof msg);
    if (st != GAND_OK)
        return gand_errorf(err, errlen, st, "option --%s: %s", flag, msg);
    return GAND_OK;
}

gand_status gand_config_get(const gand_config *cfg, const char *key, char *buf, size_t len)
{
    int idx = config_key_index(key);
    if (idx < 0) {
        if (buf && len)
            buf[0] = '\0';
        return GAND_EINVAL;
    }
    const config_entry *e = &entries[idx];
    int n = e->type->get(e, cfg, buf, len);
    return n >= 0 && (size_t)n < len ? GAND_OK : GAND_ERANGE;
}

gand_status gand_config_validate(const gand_config *cfg, char *err, size_t errlen)
{
    if (cfg->per_ip_connection_limit > cfg->connection_limit)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "per_ip_connection_limit (%d) is larger than connection_limit (%d); "
                           "lower the first or raise the second",
                           cfg->per_ip_connection_limit, cfg->connection_limit);
    return GAND_OK;
}

int gand_config_blas_threads(const gand_config *cfg, int ncores)
{
    if (cfg->blas_threads > 0)
        return cfg->blas_threads;
    int n = cfg->workers > 0 ? ncores / cfg->workers : ncores;
    return n > 0 ? n : 1;
}
