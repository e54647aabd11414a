/* The configuration: defaults, gand.conf parsing and its messages, flags,
 * listen addresses and the token file. */
#include "gand_config.h"

#include "gand/alloc.h"
#include "gand/config.h"

#include <check.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/gand-test-config-XXXXXX";

/* Writes text to tmpdir/name with the given mode; returns the path in a
 * static buffer (one live path at a time is all the tests need, except
 * where they copy it). */
static const char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static void assert_defaults(const gand_config *c)
{
    ck_assert_str_eq(c->listen, "127.0.0.1:8080");
    ck_assert_str_eq(c->listen_host, "127.0.0.1");
    ck_assert_int_eq(c->listen_family, AF_INET);
    ck_assert_int_eq(c->listen_port, 8080);
    ck_assert_str_eq(c->state_dir, "/var/lib/gand");
    ck_assert_str_eq(c->www_dir, GAND_DATADIR "/www");
    ck_assert_str_eq(c->auth_token_file, "");
    ck_assert_int_eq(c->workers, 1);
    ck_assert_int_eq(c->blas_threads, 0);
    ck_assert_int_eq(c->queue_max, 64);
    ck_assert_uint_eq(c->max_body_bytes, 1048576);
    ck_assert_int_eq(c->log_level, GAND_LOG_INFO);
    ck_assert_int_eq(c->sample_retention, 0);
    ck_assert_int_eq(c->connection_limit, 256);
    ck_assert_int_eq(c->per_ip_connection_limit, 32);
    ck_assert_int_eq(c->connection_timeout_s, 60);
}

START_TEST(test_defaults)
{
    gand_config c;
    gand_config_defaults(&c);
    assert_defaults(&c);
    ck_assert_int_eq(gand_config_validate(&c, NULL, 0), GAND_OK);
    ck_assert_uint_eq(gand_config_option_count(), 13);
    ck_assert_ptr_null(gand_config_option_at(gand_config_option_count()));
    char buf[GAND_CONFIG_PATH_MAX];
    for (size_t i = 0; i < gand_config_option_count(); i++) {
        const gand_config_option *o = gand_config_option_at(i);
        ck_assert_int_eq(gand_config_get(&c, o->key, buf, sizeof buf), GAND_OK);
        ck_assert_str_eq(buf, o->default_value);
        ck_assert_str_ne(o->doc, "");
        ck_assert_str_ne(o->flag, "");
    }
    ck_assert_int_eq(gand_config_get(&c, "nope", buf, sizeof buf), GAND_EINVAL);
    ck_assert_int_eq(gand_config_get(&c, "listen", buf, 4), GAND_ERANGE);
    ck_assert_str_eq(buf, "127");
    const char *p = gand_config_default_path();
    ck_assert(strlen(p) > strlen("/gand/gand.conf"));
    ck_assert_str_eq(p + strlen(p) - strlen("/gand/gand.conf"), "/gand/gand.conf");
}
END_TEST

static const char full_file[] =
    "; every key, none at its default\n"
    "[gand]\n"
    "listen = [::1]:9090\n"
    "state_dir = /srv/gand\n"
    "  www_dir = /srv/www   ; indented, with a comment\n"
    "workers = 4\n"
    "blas_threads = 2\n"
    "queue_max = 10\n"
    "max_body_bytes = 2MiB\n"
    "auth_token_file = /etc/gand/token\n"
    "log_level = debug\n"
    "sample_retention = 5\n"
    "\n"
    "# limits\n"
    "connection_limit = 100\n"
    "per_ip_connection_limit = 100\n"
    "connection_timeout_s = 5\n";

static void assert_full(const gand_config *c)
{
    ck_assert_str_eq(c->listen, "[::1]:9090");
    ck_assert_str_eq(c->listen_host, "::1");
    ck_assert_int_eq(c->listen_family, AF_INET6);
    ck_assert_int_eq(c->listen_port, 9090);
    ck_assert_str_eq(c->state_dir, "/srv/gand");
    ck_assert_str_eq(c->www_dir, "/srv/www");
    ck_assert_str_eq(c->auth_token_file, "/etc/gand/token");
    ck_assert_int_eq(c->workers, 4);
    ck_assert_int_eq(c->blas_threads, 2);
    ck_assert_int_eq(c->queue_max, 10);
    ck_assert_uint_eq(c->max_body_bytes, 2 * 1048576);
    ck_assert_int_eq(c->log_level, GAND_LOG_DEBUG);
    ck_assert_int_eq(c->sample_retention, 5);
    ck_assert_int_eq(c->connection_limit, 100);
    ck_assert_int_eq(c->per_ip_connection_limit, 100);
    ck_assert_int_eq(c->connection_timeout_s, 5);
}

START_TEST(test_full_file)
{
    gand_config c;
    char err[1024] = "";
    gand_config_defaults(&c);
    const char *path = write_file("full.conf", full_file, 0644);
    ck_assert_msg(gand_config_load(path, &c, err, sizeof err) == GAND_OK, "%s", err);
    assert_full(&c);

    /* a file that sets one key leaves the others as they were */
    path = write_file("one.conf", "[gand]\nworkers = 2\n", 0644);
    ck_assert_int_eq(gand_config_load(path, &c, err, sizeof err), GAND_OK);
    ck_assert_int_eq(c.workers, 2);
    ck_assert_str_eq(c.listen, "[::1]:9090");
}
END_TEST

/* Each line goes on line 3 of a file; the message follows "PATH:". */
static const struct {
    const char *line;
    const char *msg;
} bad[] = {
    {"workers = many", "3: key 'workers': must be an integer between 1 and 64, got 'many'"},
    {"workers = 0", "3: key 'workers': must be an integer between 1 and 64, got '0'"},
    {"workers = 65", "3: key 'workers': must be an integer between 1 and 64, got '65'"},
    {"workers = 2x", "3: key 'workers': must be an integer between 1 and 64, got '2x'"},
    {"workers = 99999999999999999999",
     "3: key 'workers': must be an integer between 1 and 64, got '99999999999999999999'"},
    {"blas_threads = -1", "3: key 'blas_threads': must be an integer between 0 and 64, got '-1'"},
    {"queue_max = 0", "3: key 'queue_max': must be an integer between 1 and 100000, got '0'"},
    {"sample_retention = -5",
     "3: key 'sample_retention': must be an integer between 0 and 1000000, got '-5'"},
    {"connection_limit = lots",
     "3: key 'connection_limit': must be an integer between 1 and 100000, got 'lots'"},
    {"per_ip_connection_limit = 0",
     "3: key 'per_ip_connection_limit': must be an integer between 1 and 100000, got '0'"},
    {"connection_timeout_s = ", "3: key 'connection_timeout_s': must be an integer between 1 "
                                "and 86400, got ''"},
    {"max_body_bytes = 512", "3: key 'max_body_bytes': must be a size in bytes between 1024 and "
                             "1073741824 (K, M and G suffixes allowed), got '512'"},
    {"max_body_bytes = 2G", "3: key 'max_body_bytes': must be a size in bytes between 1024 and "
                            "1073741824 (K, M and G suffixes allowed), got '2G'"},
    {"max_body_bytes = 1.5M", "3: key 'max_body_bytes': must be a size in bytes between 1024 and "
                              "1073741824 (K, M and G suffixes allowed), got '1.5M'"},
    {"log_level = verbose",
     "3: key 'log_level': must be one of error, warn, info, debug, got 'verbose'"},
    {"state_dir =", "3: key 'state_dir': must be a path, got an empty value"},
    {"www_dir = ", "3: key 'www_dir': must be a path, got an empty value"},
    {"listen = localhost:8080",
     "3: key 'listen': 'localhost' in 'localhost:8080' is not a numeric IPv4 address; use "
     "HOST:PORT such as 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080 (every interface) or :8080 (127.0.0.1)"},
    {"worker = 2", "3: unknown key 'worker' in section [gand]; did you mean 'workers'?"},
    {"state-dir = /x", "3: unknown key 'state-dir' in section [gand]; did you mean 'state_dir'?"},
    {"colour = blue", "3: unknown key 'colour' in section [gand]"},
    {"[server]", "3: unknown section [server]; every key goes in the [gand] section"},
    {"auth_token_file = /x", "3: key 'auth_token_file' is set again (first on line 2); keep one"},
    {"just some words", "3: expected 'key = value', a [section] line or a comment"},
    {"[gand", "3: expected 'key = value', a [section] line or a comment"},
};

START_TEST(test_bad_values_name_line_and_key)
{
    char text[256], want[1400], err[1024] = "";
    snprintf(text, sizeof text, "[gand]\nauth_token_file = /etc/gand/token\n%s\nlisten = :1\n", bad[_i].line);
    const char *path = write_file("bad.conf", text, 0644);
    snprintf(want, sizeof want, "%s:%s", path, bad[_i].msg);
    gand_config c, before;
    gand_config_defaults(&c);
    before = c;
    ck_assert_int_eq(gand_config_load(path, &c, err, sizeof err), GAND_EINVAL);
    ck_assert_str_eq(err, want);
    ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "a failed load changed the config");
}
END_TEST

START_TEST(test_file_structure_errors)
{
    gand_config c;
    char err[1024], want[1400];
    gand_config_defaults(&c);

    const char *path = write_file("top.conf", "# top\nworkers = 2\n[gand]\n", 0644);
    ck_assert_int_eq(gand_config_load(path, &c, err, sizeof err), GAND_EINVAL);
    snprintf(want, sizeof want,
             "%s:2: key 'workers' comes before the [gand] line; every key goes in the [gand] "
             "section", path);
    ck_assert_str_eq(err, want);

    /* an empty unknown section is still reported, at its own line */
    path = write_file("empty-section.conf", "[gand]\nworkers = 2\n\n[gan]\n", 0644);
    ck_assert_int_eq(gand_config_load(path, &c, err, sizeof err), GAND_EINVAL);
    snprintf(want, sizeof want, "%s:4: unknown section [gan]; every key goes in the [gand] section",
             path);
    ck_assert_str_eq(err, want);

    char text[600];
    memset(text, 0, sizeof text);
    strcpy(text, "[gand]\nstate_dir = /");
    memset(text + strlen(text), 'a', 400);
    strcat(text, "\n");
    path = write_file("long.conf", text, 0644);
    ck_assert_int_eq(gand_config_load(path, &c, err, sizeof err), GAND_EINVAL);
    snprintf(want, sizeof want, "%s:2: line is longer than ", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);

    /* indentation does not continue the previous value; BOM and CRLF are fine */
    path = write_file("indent.conf", "\xEF\xBB\xBF[gand]\r\nlisten = :80\r\n    workers = 3\r\n",
                      0644);
    ck_assert_msg(gand_config_load(path, &c, err, sizeof err) == GAND_OK, "%s", err);
    ck_assert_str_eq(c.listen, ":80");
    ck_assert_int_eq(c.workers, 3);

    /* an empty file changes nothing */
    path = write_file("empty.conf", "", 0644);
    gand_config_defaults(&c);
    ck_assert_int_eq(gand_config_load(path, &c, err, sizeof err), GAND_OK);
    assert_defaults(&c);
}
END_TEST

START_TEST(test_cross_key_check)
{
    gand_config c;
    char err[1024], want[1400];
    gand_config_defaults(&c);
    const char *path = write_file("cross.conf", "[gand]\nper_ip_connection_limit = 300\n", 0644);
    ck_assert_int_eq(gand_config_load(path, &c, err, sizeof err), GAND_EINVAL);
    snprintf(want, sizeof want,
             "%s: per_ip_connection_limit (300) is larger than connection_limit (256); lower the "
             "first or raise the second", path);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(c.per_ip_connection_limit, 32);

    path = write_file("cross-ok.conf",
                      "[gand]\nper_ip_connection_limit = 300\nconnection_limit = 300\n", 0644);
    ck_assert_msg(gand_config_load(path, &c, err, sizeof err) == GAND_OK, "%s", err);
    ck_assert_int_eq(c.per_ip_connection_limit, 300);
}
END_TEST

START_TEST(test_missing_and_unreadable_file)
{
    gand_config c;
    char err[1024], want[1400], path[256];
    gand_config_defaults(&c);
    snprintf(path, sizeof path, "%s/no-such.conf", tmpdir);
    ck_assert_int_eq(gand_config_load(path, &c, err, sizeof err), GAND_ENOTFOUND);
    snprintf(want, sizeof want,
             "cannot open the configuration file '%s': No such file or directory", path);
    ck_assert_str_eq(err, want);

    ck_assert_int_eq(gand_config_load(tmpdir, &c, err, sizeof err), GAND_EIO);
    snprintf(want, sizeof want, "%s:1: cannot read the file: Is a directory", tmpdir);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_out_of_memory)
{
    gand_config c;
    char err[1024];
    gand_config_defaults(&c);
    const char *path = write_file("oom.conf", full_file, 0644);
    gand_alloc_fail_at(1, false);
    ck_assert_int_eq(gand_config_load(path, &c, err, sizeof err), GAND_ENOMEM);
    gand_alloc_fail_at(0, false);
    assert_defaults(&c);
    ck_assert_int_eq(gand_config_load(path, &c, err, sizeof err), GAND_OK);
}
END_TEST

START_TEST(test_set_and_flags)
{
    gand_config c;
    char err[1024], buf[64];
    gand_config_defaults(&c);
    ck_assert_int_eq(gand_config_set(&c, "workers", "8", err, sizeof err), GAND_OK);
    ck_assert_int_eq(c.workers, 8);
    ck_assert_int_eq(gand_config_set(&c, "workers", "many", err, sizeof err), GAND_EINVAL);
    ck_assert_str_eq(err, "key 'workers': must be an integer between 1 and 64, got 'many'");
    ck_assert_int_eq(c.workers, 8);
    ck_assert_int_eq(gand_config_set(&c, "worker", "2", err, sizeof err), GAND_EINVAL);
    ck_assert_str_eq(err, "unknown key 'worker'; did you mean 'workers'?");
    ck_assert_int_eq(gand_config_set(&c, "xyzzyplugh", "2", err, sizeof err), GAND_EINVAL);
    ck_assert_str_eq(err, "unknown key 'xyzzyplugh'");

    ck_assert_int_eq(gand_config_set_flag(&c, "state-dir", "/data/gand", err, sizeof err), GAND_OK);
    ck_assert_str_eq(c.state_dir, "/data/gand");
    ck_assert_int_eq(gand_config_set_flag(&c, "www", "./www", err, sizeof err), GAND_OK);
    ck_assert_str_eq(c.www_dir, "./www");
    ck_assert_int_eq(gand_config_set_flag(&c, "log-level", "loud", err, sizeof err), GAND_EINVAL);
    ck_assert_str_eq(err, "option --log-level: must be one of error, warn, info, debug, got 'loud'");
    ck_assert_int_eq(gand_config_set_flag(&c, "workers", "3", err, sizeof err), GAND_OK);
    ck_assert_int_eq(c.workers, 3);
    ck_assert_int_eq(gand_config_set_flag(&c, "state_dir", "/x", err, sizeof err), GAND_EINVAL);
    ck_assert_str_eq(err, "unknown option --state_dir");

    ck_assert_int_eq(gand_config_set(&c, "max_body_bytes", "64KiB", err, sizeof err), GAND_OK);
    ck_assert_uint_eq(c.max_body_bytes, 65536);
    ck_assert_int_eq(gand_config_set(&c, "max_body_bytes", "1G", err, sizeof err), GAND_OK);
    ck_assert_uint_eq(c.max_body_bytes, 1u << 30);
    ck_assert_int_eq(gand_config_set(&c, "max_body_bytes", "1024", err, sizeof err), GAND_OK);
    ck_assert_int_eq(gand_config_set(&c, "max_body_bytes", "1023", err, sizeof err), GAND_EINVAL);
    ck_assert_int_eq(gand_config_set(&c, "max_body_bytes", "-1K", err, sizeof err), GAND_EINVAL);
    ck_assert_int_eq(gand_config_set(&c, "max_body_bytes", "99999999999999999999G", err,
                                     sizeof err), GAND_EINVAL);
    ck_assert_uint_eq(c.max_body_bytes, 1024);

    char longpath[GAND_CONFIG_PATH_MAX + 1];
    memset(longpath, 'a', GAND_CONFIG_PATH_MAX);
    longpath[GAND_CONFIG_PATH_MAX] = '\0';
    ck_assert_int_eq(gand_config_set(&c, "state_dir", longpath, err, sizeof err), GAND_EINVAL);
    ck_assert_str_eq(err, "key 'state_dir': must be a path shorter than 4096 bytes, got 4096 bytes");
    ck_assert_int_eq(gand_config_set(&c, "state_dir", "/a\nb", err, sizeof err), GAND_EINVAL);
    ck_assert_str_eq(c.state_dir, "/data/gand");
    ck_assert_int_eq(gand_config_set(&c, "auth_token_file", "", err, sizeof err), GAND_OK);

    /* every key's printed value sets it back to the same */
    gand_config d;
    gand_config_defaults(&d);
    for (size_t i = 0; i < gand_config_option_count(); i++) {
        const char *key = gand_config_option_at(i)->key;
        ck_assert_int_eq(gand_config_get(&c, key, buf, sizeof buf), GAND_OK);
        ck_assert_msg(gand_config_set(&d, key, buf, err, sizeof err) == GAND_OK, "%s", err);
        char again[64];
        ck_assert_int_eq(gand_config_get(&d, key, again, sizeof again), GAND_OK);
        ck_assert_str_eq(again, buf);
    }
}
END_TEST

START_TEST(test_listen_forms)
{
    static const struct {
        const char *value;
        const char *host;
        int family, port;
    } good[] = {
        {"127.0.0.1:8080", "127.0.0.1", AF_INET, 8080},
        {"[::1]:8080", "::1", AF_INET6, 8080},
        {":8080", "", AF_UNSPEC, 8080},
        {"0.0.0.0:0", "0.0.0.0", AF_INET, 0},
        {"[::]:65535", "::", AF_INET6, 65535},
    };
    gand_config c;
    char err[1024];
    gand_config_defaults(&c);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(gand_config_set(&c, "listen", good[i].value, err, sizeof err) == GAND_OK,
                      "%s", err);
        ck_assert_str_eq(c.listen, good[i].value);
        ck_assert_str_eq(c.listen_host, good[i].host);
        ck_assert_int_eq(c.listen_family, good[i].family);
        ck_assert_int_eq(c.listen_port, good[i].port);
    }

#define FORMS "; use HOST:PORT such as 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080 (every interface) or :8080 (127.0.0.1)"
    static const struct {
        const char *value, *msg;
    } bad_listen[] = {
        {"127.0.0.1:70000", "port '70000' in '127.0.0.1:70000' is not a number between 0 and 65535"},
        {"127.0.0.1:-1", "port '-1' in '127.0.0.1:-1' is not a number between 0 and 65535"},
        {"127.0.0.1:http", "port 'http' in '127.0.0.1:http' is not a number between 0 and 65535"},
        {"127.0.0.1", "no port in '127.0.0.1'"},
        {"127.0.0.1:", "no port in '127.0.0.1:'"},
        {"[::1]", "no port after the bracketed address in '[::1]'"},
        {"[::1]:", "no port in '[::1]:'"},
        {"::1:8080", "an IPv6 address must be in brackets in '::1:8080'"},
        {"[zz]:80", "'zz' in '[zz]:80' is not a numeric IPv6 address"},
        {"[127.0.0.1]:80", "'127.0.0.1' in '[127.0.0.1]:80' is not a numeric IPv6 address"},
        {"256.0.0.1:80", "'256.0.0.1' in '256.0.0.1:80' is not a numeric IPv4 address"},
    };
    char want[1400];
    for (size_t i = 0; i < sizeof bad_listen / sizeof bad_listen[0]; i++) {
        ck_assert_int_eq(gand_config_set(&c, "listen", bad_listen[i].value, err, sizeof err),
                         GAND_EINVAL);
        snprintf(want, sizeof want, "key 'listen': %s" FORMS, bad_listen[i].msg);
        ck_assert_str_eq(err, want);
        ck_assert_str_eq(c.listen, "[::]:65535");
        ck_assert_int_eq(c.listen_port, 65535);
    }
}
END_TEST

START_TEST(test_blas_threads)
{
    gand_config c;
    gand_config_defaults(&c);
    ck_assert_int_eq(gand_config_blas_threads(&c, 8), 8);
    c.workers = 2;
    ck_assert_int_eq(gand_config_blas_threads(&c, 8), 4);
    ck_assert_int_eq(gand_config_blas_threads(&c, 7), 3);
    c.workers = 4;
    ck_assert_int_eq(gand_config_blas_threads(&c, 2), 1);
    c.blas_threads = 3;
    ck_assert_int_eq(gand_config_blas_threads(&c, 2), 3);
}
END_TEST

START_TEST(test_token_file)
{
    gand_config c;
    char err[1024], want[1400], tok[64], path[256];
    gand_config_defaults(&c);
    ck_assert_int_eq(gand_config_read_token(&c, tok, sizeof tok, err, sizeof err), GAND_OK);
    ck_assert_str_eq(tok, "");

    snprintf(path, sizeof path, "%s", write_file("token", "  0123456789abcdef0123\n", 0600));
    ck_assert_int_eq(gand_config_set(&c, "auth_token_file", path, err, sizeof err), GAND_OK);
    ck_assert_msg(gand_config_read_token(&c, tok, sizeof tok, err, sizeof err) == GAND_OK, "%s",
                  err);
    ck_assert_str_eq(tok, "0123456789abcdef0123");

    write_file("token", "0123456789abcdef0123\n", 0640);
    ck_assert_int_eq(gand_config_read_token(&c, tok, sizeof tok, err, sizeof err), GAND_OK);

    char small[20];
    ck_assert_int_eq(gand_config_read_token(&c, small, sizeof small, err, sizeof err), GAND_EINVAL);
    snprintf(want, sizeof want,
             "the auth token in '%s' has 20 characters, more than the 19 gand accepts", path);
    ck_assert_str_eq(err, want);

    write_file("token", "short\n", 0600);
    ck_assert_int_eq(gand_config_read_token(&c, tok, sizeof tok, err, sizeof err), GAND_EINVAL);
    snprintf(want, sizeof want,
             "the auth token in '%s' has 5 characters, fewer than 16; make a longer one, e.g. "
             "with: head -c 24 /dev/urandom | base64", path);
    ck_assert_str_eq(err, want);
    ck_assert_str_eq(tok, "");

    write_file("token", "0123456789 abcdef0123\n", 0600);
    ck_assert_int_eq(gand_config_read_token(&c, tok, sizeof tok, err, sizeof err), GAND_EINVAL);
    snprintf(want, sizeof want,
             "the auth token in '%s' contains a space or control character; it must be one word "
             "of printable characters", path);
    ck_assert_str_eq(err, want);

    write_file("token", "0123456789abcdef0123\n", 0644);
    ck_assert_int_eq(gand_config_read_token(&c, tok, sizeof tok, err, sizeof err), GAND_EINVAL);
    snprintf(want, sizeof want,
             "the auth token file '%s' is open to every user (mode 0644); restrict it with: "
             "chmod 600 '%s'", path, path);
    ck_assert_str_eq(err, want);
    ck_assert_str_eq(tok, "");

    write_file("token", "0123456789abcdef0123\n", 0602);
    ck_assert_int_eq(gand_config_read_token(&c, tok, sizeof tok, err, sizeof err), GAND_EINVAL);

    snprintf(path, sizeof path, "%s/no-token", tmpdir);
    ck_assert_int_eq(gand_config_set(&c, "auth_token_file", path, err, sizeof err), GAND_OK);
    ck_assert_int_eq(gand_config_read_token(&c, tok, sizeof tok, err, sizeof err), GAND_ENOTFOUND);
    snprintf(want, sizeof want,
             "cannot open the auth token file '%s': No such file or directory", path);
    ck_assert_str_eq(err, want);

    ck_assert_int_eq(gand_config_set(&c, "auth_token_file", tmpdir, err, sizeof err), GAND_OK);
    ck_assert_int_eq(gand_config_read_token(&c, tok, sizeof tok, err, sizeof err), GAND_EINVAL);
}
END_TEST

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    char path[sizeof tmpdir + 1 + sizeof((struct dirent *)0)->d_name];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
}

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_full_file);
    tcase_add_loop_test(tc, test_bad_values_name_line_and_key, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, test_file_structure_errors);
    tcase_add_test(tc, test_cross_key_check);
    tcase_add_test(tc, test_missing_and_unreadable_file);
    tcase_add_test(tc, test_out_of_memory);
    tcase_add_test(tc, test_set_and_flags);
    tcase_add_test(tc, test_listen_forms);
    tcase_add_test(tc, test_blas_threads);
    tcase_add_test(tc, test_token_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_tmpdir();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
