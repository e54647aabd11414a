#include "gand/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = GAND_LOG_INFO;
static _Atomic int log_journal = 0;
static _Atomic int log_fd = -1;

void gand_log_set_level(gand_log_level level) { log_level = (int)level; }
gand_log_level gand_log_get_level(void) { return (gand_log_level)log_level; }

static const struct {
    const char *name;
    gand_log_level level;
} level_names[] = {
    {"error", GAND_LOG_ERROR},
    {"warn", GAND_LOG_WARN},
    {"info", GAND_LOG_INFO},
    {"debug", GAND_LOG_DEBUG},
};

int gand_log_parse_level(const char *name, gand_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(name, level_names[i].name) == 0) {
            *out = level_names[i].level;
            return 0;
        }
    }
    return -1;
}

static const char *level_name(int level)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if ((int)level_names[i].level == level)
            return level_names[i].name;
    return "log";
}

/* JOURNAL_STREAM is "DEV:INO" of the stream systemd connected; it only counts
 * when it is still our stderr (a child may have inherited the variable). */
void gand_log_detect_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    int journal = 0;
    if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0)
        journal = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
    log_journal = journal;
}

void gand_log_set_fd(int fd) { log_fd = fd; }

void gand_log(gand_log_level level, const char *fmt, ...)
{
    if ((int)level > log_level)
        return;
    char line[2048];
    int n;
    if (log_journal) {
        n = snprintf(line, sizeof line, "<%d>", (int)level);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_name((int)level));
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;
    ssize_t w = write(fd, line, len);
    (void)w;
}
