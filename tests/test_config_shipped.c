/* The gand.conf that meson installs: it parses, and it documents exactly
 * what the code does (every key once, its default, its description). */
#include "gand_config.h"

#include "gand/config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* etc/gand.conf.in with @GAND_DATADIR@ replaced, as configure_file does
 * for this build; the caller frees it. */
static char *shipped_conf(void)
{
    const char *srcdir = getenv("GAND_TEST_SRCDIR");
    ck_assert_msg(srcdir != NULL, "GAND_TEST_SRCDIR is not set");
    char path[512];
    snprintf(path, sizeof path, "%s/etc/gand.conf.in", srcdir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char in[16384];
    size_t n = fread(in, 1, sizeof in - 1, f);
    fclose(f);
    ck_assert_uint_lt(n, sizeof in - 1);
    in[n] = '\0';
    char *out = calloc(1, sizeof in + 1024);
    ck_assert_ptr_nonnull(out);
    const char *var = "@GAND_DATADIR@", *p = in;
    for (const char *at; (at = strstr(p, var)) != NULL; p = at + strlen(var)) {
        strncat(out, p, (size_t)(at - p));
        strcat(out, GAND_DATADIR);
    }
    strcat(out, p);
    ck_assert_ptr_null(strchr(out, '@'));
    return out;
}

/* Loads text (written to a temporary file) on top of cfg. */
static gand_status load_text(const char *text, gand_config *cfg, char *err, size_t errlen)
{
    char path[] = "/tmp/gand-test-conf-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    gand_status st = gand_config_load(path, cfg, err, errlen);
    unlink(path);
    return st;
}

static void assert_same(const gand_config *a, const gand_config *b)
{
    char va[GAND_CONFIG_PATH_MAX], vb[GAND_CONFIG_PATH_MAX];
    for (size_t i = 0; i < gand_config_option_count(); i++) {
        const char *key = gand_config_option_at(i)->key;
        ck_assert_int_eq(gand_config_get(a, key, va, sizeof va), GAND_OK);
        ck_assert_int_eq(gand_config_get(b, key, vb, sizeof vb), GAND_OK);
        ck_assert_msg(strcmp(va, vb) == 0, "key '%s': '%s' != '%s'", key, va, vb);
    }
}

START_TEST(test_shipped_conf_parses)
{
    char *text = shipped_conf();
    gand_config c, d;
    char err[1024];
    gand_config_defaults(&c);
    gand_config_defaults(&d);
    ck_assert_msg(load_text(text, &c, err, sizeof err) == GAND_OK, "%s", err);
    assert_same(&c, &d);
    free(text);
}
END_TEST

/* Values that differ from every default, so a key the file fails to set
 * shows up. */
static const char *const not_default[][2] = {
    {"listen", "[::1]:9"},           {"state_dir", "/srv/gand"},
    {"www_dir", "/srv/www"},         {"workers", "3"},
    {"blas_threads", "2"},           {"queue_max", "7"},
    {"max_body_bytes", "4096"},      {"auth_token_file", "/etc/gand/token"},
    {"log_level", "error"},          {"sample_retention", "9"},
    {"connection_limit", "99"},      {"per_ip_connection_limit", "9"},
    {"connection_timeout_s", "9"},
};

/* Uncommenting every "# key = value" line must give back exactly the
 * defaults, every key must have such a line, and the comment right above it
 * must be the key's doc. */
START_TEST(test_shipped_conf_documents_defaults)
{
    char *text = shipped_conf();
    size_t nkeys = gand_config_option_count();
    int seen[64] = {0};
    ck_assert_uint_le(nkeys, 64);
    char *out = calloc(1, strlen(text) + 1), *prev = NULL;
    ck_assert_ptr_nonnull(out);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        size_t klen =
            strncmp(line, "# ", 2) == 0 ? strspn(line + 2, "abcdefghijklmnopqrstuvwxyz_") : 0;
        int idx = -1;
        if (klen > 0 && strncmp(line + 2 + klen, " =", 2) == 0) {
            for (size_t i = 0; i < nkeys; i++) {
                const gand_config_option *o = gand_config_option_at(i);
                if (strlen(o->key) == klen && strncmp(o->key, line + 2, klen) == 0)
                    idx = (int)i;
            }
            ck_assert_msg(idx >= 0, "'%s' documents no known key", line);
        }
        if (idx >= 0) {
            const gand_config_option *o = gand_config_option_at((size_t)idx);
            seen[idx]++;
            ck_assert_msg(prev && strncmp(prev, "# ", 2) == 0 && strcmp(prev + 2, o->doc) == 0,
                          "the line above '%s' should be '# %s'", line, o->doc);
            strcat(out, line + 2);
        } else {
            strcat(out, line);
        }
        strcat(out, "\n");
        prev = line;
    }
    for (size_t i = 0; i < nkeys; i++)
        ck_assert_msg(seen[i] == 1, "key '%s' is documented %d times, want once",
                      gand_config_option_at(i)->key, seen[i]);

    gand_config c, d;
    char err[1024];
    gand_config_defaults(&c);
    gand_config_defaults(&d);
    ck_assert_uint_eq(sizeof not_default / sizeof not_default[0], nkeys);
    for (size_t i = 0; i < nkeys; i++) {
        const gand_config_option *o = gand_config_option_at(i);
        char v[GAND_CONFIG_PATH_MAX];
        ck_assert_str_eq(not_default[i][0], o->key);
        ck_assert_msg(gand_config_set(&c, o->key, not_default[i][1], err, sizeof err) == GAND_OK,
                      "%s", err);
        ck_assert_int_eq(gand_config_get(&c, o->key, v, sizeof v), GAND_OK);
        ck_assert_str_ne(v, o->default_value);
    }
    ck_assert_msg(load_text(out, &c, err, sizeof err) == GAND_OK, "%s", err);
    assert_same(&c, &d);
    free(out);
    free(text);
}
END_TEST

static Suite *shipped_suite(void)
{
    Suite *s = suite_create("config_shipped");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_shipped_conf_parses);
    tcase_add_test(tc, test_shipped_conf_documents_defaults);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shipped_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
