/* Logging to stderr.
 *
 * When stderr is connected to the systemd journal (JOURNAL_STREAM matches
 * stderr's device and inode), each line starts with a "<N>" syslog priority
 * prefix that journald turns into the entry's level; otherwise each line
 * starts with an ISO-8601 UTC timestamp and the level name. Lines below the
 * current level are dropped. Thread-safe: one write(2) per line.
 */
#ifndef GAND_LOG_H
#define GAND_LOG_H

typedef enum {
    GAND_LOG_ERROR = 3, /* values are syslog priorities */
    GAND_LOG_WARN = 4,
    GAND_LOG_INFO = 6,
    GAND_LOG_DEBUG = 7
} gand_log_level;

/* Sets the lowest level that is written (default GAND_LOG_INFO). */
void gand_log_set_level(gand_log_level level);
gand_log_level gand_log_get_level(void);

/* Parses "error", "warn", "info" or "debug". Returns 0 on success and -1
 * for any other name, leaving *out untouched. */
int gand_log_parse_level(const char *name, gand_log_level *out);

/* Re-checks whether stderr is the journal; called once at start-up, and by
 * tests after redirecting stderr. */
void gand_log_detect_journal(void);

/* Redirects output to fd instead of stderr (tests); -1 restores stderr. */
void gand_log_set_fd(int fd);

void gand_log(gand_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define gand_log_error(...) gand_log(GAND_LOG_ERROR, __VA_ARGS__)
#define gand_log_warn(...) gand_log(GAND_LOG_WARN, __VA_ARGS__)
#define gand_log_info(...) gand_log(GAND_LOG_INFO, __VA_ARGS__)
#define gand_log_debug(...) gand_log(GAND_LOG_DEBUG, __VA_ARGS__)

#endif
