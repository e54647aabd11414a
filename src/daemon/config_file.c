/* Reading gand.conf through inih, and the auth token file. */
#include "config_internal.h"

#include "gand/alloc.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_KEYS 64
#define RAW_LINE_MAX 4096 /* bytes read per line before it counts as too long */

/* The parse runs on a copy of the caller's config so that a file with an
 * error changes nothing. inih does not pass line numbers to the handler in
 * Debian's build, so the reader below hands it one line at a time and counts
 * them; the same reader refuses unknown sections at their own line (inih
 * only reports sections that hold keys) and strips indentation, which inih
 * would otherwise read as the continuation of the previous value. */
typedef struct {
    const char *path;
    FILE *fp;
    gand_config cfg;
    int lineno;
    int set_line[MAX_KEYS]; /* line each key was set on, 0 = not yet */
    int read_errno;
    gand_status st; /* the first error; parsing stops there */
    char err[1024];
    char raw[RAW_LINE_MAX];
} load_state;

static int fail(load_state *s, gand_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error, prefixed with FILE:LINE:, and returns 0 so the
 * inih handler can return it directly. */
static int fail(load_state *s, gand_status st, const char *fmt, ...)
{
    if (s->st != GAND_OK)
        return 0;
    s->st = st;
    int n = snprintf(s->err, sizeof s->err, "%s:%d: ", s->path, s->lineno);
    if (n >= 0 && (size_t)n < sizeof s->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->err + n, sizeof s->err - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return 0;
}

static void check_section(load_state *s, const char *line, size_t len)
{
    const char *close = memchr(line, ']', len);
    if (!close)
        return; /* inih reports the malformed header as a syntax error */
    int n = (int)(close - line - 1);
    if (n != (int)strlen(CONFIG_SECTION) || memcmp(line + 1, CONFIG_SECTION, (size_t)n) != 0)
        fail(s, GAND_EINVAL, "unknown section [%.*s]; every key goes in the [%s] section", n,
             line + 1, CONFIG_SECTION);
}

static char *read_line(char *str, int num, void *stream)
{
    load_state *s = stream;
    if (s->st != GAND_OK)
        return NULL;
    if (!fgets(s->raw, sizeof s->raw, s->fp)) {
        s->read_errno = ferror(s->fp) ? errno : 0;
        return NULL;
    }
    s->lineno++;
    size_t n = strlen(s->raw);
    if (n == sizeof s->raw - 1 && s->raw[n - 1] != '\n') {
        fail(s, GAND_EINVAL, "line is longer than %d characters", num - 3);
        return NULL;
    }
    char *p = s->raw;
    if (s->lineno == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    /* inih needs room for "\r\n" and the NUL after the content */
    if (num < 3 || len > (size_t)num - 3) {
        fail(s, GAND_EINVAL, "line is longer than %d characters", num - 3);
        return NULL;
    }
    if (p[0] == '[') {
        check_section(s, p, len);
        if (s->st != GAND_OK)
            return NULL;
    }
    memcpy(str, p, len);
    str[len] = '\n';
    str[len + 1] = '\0';
    return str;
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    load_state *s = user;
    if (s->st != GAND_OK)
        return 0;
    if (section[0] == '\0')
        return fail(s, GAND_EINVAL, "key '%s' comes before the [%s] line; every key goes in the "
                    "[%s] section", name, CONFIG_SECTION, CONFIG_SECTION);
    if (strcmp(section, CONFIG_SECTION) != 0)
        return fail(s, GAND_EINVAL, "unknown section [%s]; every key goes in the [%s] section",
                    section, CONFIG_SECTION);
    int idx = config_key_index(name);
    if (idx < 0) {
        const char *near = config_closest_key(name);
        return fail(s, GAND_EINVAL, "unknown key '%s' in section [%s]%s%s%s", name, section,
                    near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    }
    if (s->set_line[idx])
        return fail(s, GAND_EINVAL, "key '%s' is set again (first on line %d); keep one", name,
                    s->set_line[idx]);
    char msg[768];
    gand_status st = config_apply(&s->cfg, idx, value, msg, sizeof msg);
    if (st != GAND_OK)
        return fail(s, st, "key '%s': %s", name, msg);
    s->set_line[idx] = s->lineno;
    return 1;
}

gand_status gand_config_load(const char *path, gand_config *cfg, char *err, size_t errlen)
{
    assert(gand_config_option_count() <= MAX_KEYS);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return gand_errorf(err, errlen, errno == ENOENT ? GAND_ENOTFOUND : GAND_EIO,
                           "cannot open the configuration file '%s': %s", path, strerror(errno));
    load_state *s = gand_calloc(1, sizeof *s);
    if (!s) {
        fclose(fp);
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory reading '%s'", path);
    }
    s->path = path;
    s->fp = fp;
    s->cfg = *cfg;

    int rc = ini_parse_stream(read_line, s, on_pair, s);
    gand_status st = s->st;
    if (st != GAND_OK) {
        gand_errorf(err, errlen, st, "%s", s->err);
    } else if (s->read_errno) {
        st = gand_errorf(err, errlen, GAND_EIO, "%s:%d: cannot read the file: %s", path,
                         s->lineno + 1, strerror(s->read_errno));
    } else if (rc == -2) {
        st = gand_errorf(err, errlen, GAND_ENOMEM, "out of memory reading '%s'", path);
    } else if (rc != 0) {
        st = gand_errorf(err, errlen, GAND_EINVAL,
                         "%s:%d: expected 'key = value', a [section] line or a comment", path, rc);
    } else {
        char msg[512];
        st = gand_config_validate(&s->cfg, msg, sizeof msg);
        if (st != GAND_OK)
            gand_errorf(err, errlen, st, "%s: %s", path, msg);
        else
            *cfg = s->cfg;
    }
    fclose(fp);
    gand_free(s);
    return st;
}

#define TOKEN_FILE_MAX 4096 /* bytes; a token file larger than this is a mistake */

static gand_status read_all(int fd, char *buf, size_t cap, size_t *got)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return GAND_EIO;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *got = n;
    return GAND_OK;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

gand_status gand_config_read_token(const gand_config *cfg, char *buf, size_t len, char *err,
                                   size_t errlen)
{
    const char *path = cfg->auth_token_file;
    if (len == 0)
        return gand_errorf(err, errlen, GAND_EINVAL, "no room for the auth token");
    buf[0] = '\0';
    if (path[0] == '\0')
        return GAND_OK;
    if (len < GAND_CONFIG_TOKEN_MIN + 1)
        return gand_errorf(err, errlen, GAND_EINVAL, "no room for an auth token of %d characters",
                           GAND_CONFIG_TOKEN_MIN);

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return gand_errorf(err, errlen, errno == ENOENT ? GAND_ENOTFOUND : GAND_EIO,
                           "cannot open the auth token file '%s': %s", path, strerror(errno));
    char data[TOKEN_FILE_MAX + 1];
    size_t n = 0;
    struct stat st;
    gand_status rc;
    if (fstat(fd, &st) != 0) {
        rc = gand_errorf(err, errlen, GAND_EIO, "cannot inspect the auth token file '%s': %s",
                         path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = gand_errorf(err, errlen, GAND_EINVAL, "the auth token file '%s' is not a regular file",
                         path);
        goto out;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        rc = gand_errorf(err, errlen, GAND_EINVAL,
                         "the auth token file '%s' is open to every user (mode %04o); "
                         "restrict it with: chmod 600 '%s'",
                         path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if (read_all(fd, data, sizeof data, &n) != GAND_OK) {
        rc = gand_errorf(err, errlen, GAND_EIO, "cannot read the auth token file '%s': %s", path,
                         strerror(errno));
        goto out;
    }
    if (n > TOKEN_FILE_MAX) {
        rc = gand_errorf(err, errlen, GAND_EINVAL,
                         "the auth token file '%s' is larger than %d bytes; it should hold only "
                         "the token", path, TOKEN_FILE_MAX);
        goto out;
    }
    size_t start = 0, end = n;
    while (start < end && is_space(data[start]))
        start++;
    while (end > start && is_space(data[end - 1]))
        end--;
    for (size_t i = start; i < end; i++) {
        if (data[i] <= ' ' || data[i] == 0x7f) {
            rc = gand_errorf(err, errlen, GAND_EINVAL,
                             "the auth token in '%s' contains a space or control character; "
                             "it must be one word of printable characters", path);
            goto out;
        }
    }
    size_t tlen = end - start;
    if (tlen < GAND_CONFIG_TOKEN_MIN) {
        rc = gand_errorf(err, errlen, GAND_EINVAL,
                         "the auth token in '%s' has %zu characters, fewer than %d; make a "
                         "longer one, e.g. with: head -c 24 /dev/urandom | base64",
                         path, tlen, GAND_CONFIG_TOKEN_MIN);
        goto out;
    }
    if (tlen >= len) {
        rc = gand_errorf(err, errlen, GAND_EINVAL,
                         "the auth token in '%s' has %zu characters, more than the %zu gand "
                         "accepts", path, tlen, len - 1);
        goto out;
    }
    memcpy(buf, data + start, tlen);
    buf[tlen] = '\0';
    rc = GAND_OK;
out:
    explicit_bzero(data, sizeof data);
    close(fd);
    return rc;
}
