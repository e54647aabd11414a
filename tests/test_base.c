/* Tests of the base module: status strings, allocation failure hook, logging. */
#include "gand/alloc.h"
#include "gand/log.h"
#include "gand/status.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(test_strerror_every_code)
{
    for (int s = GAND_ENOSPC; s <= GAND_OK; s++) { /* GAND_ENOSPC is the lowest code */
        const char *m = gand_strerror((gand_status)s);
        ck_assert_ptr_nonnull(m);
        ck_assert_str_ne(m, "unknown error");
    }
    ck_assert_str_eq(gand_strerror((gand_status)-999), "unknown error");
    ck_assert_str_eq(gand_strerror(GAND_ENOMEM), "out of memory");
    ck_assert_str_eq(gand_strerror(GAND_ENOSPC), "no space left on the disk");
}
END_TEST

START_TEST(test_errorf_formats_and_returns)
{
    char buf[32];
    ck_assert_int_eq(gand_errorf(buf, sizeof buf, GAND_EINVAL, "field '%s' is %d", "lr", 3),
                     GAND_EINVAL);
    ck_assert_str_eq(buf, "field 'lr' is 3");
    char tiny[6];
    gand_errorf(tiny, sizeof tiny, GAND_EINVAL, "%s", "truncated message");
    ck_assert_str_eq(tiny, "trunc");
    ck_assert_int_eq(gand_errorf(NULL, 0, GAND_EIO, "x"), GAND_EIO);
}
END_TEST

START_TEST(test_alloc_fail_at_nth)
{
    gand_alloc_fail_at(3, false);
    void *a = gand_malloc(8);
    void *b = gand_calloc(2, 8);
    void *c = gand_malloc(8);
    void *d = gand_malloc(8);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(d); /* not sticky: only the third failed */
    ck_assert_int_eq(gand_alloc_failures(), 1);
    gand_free(a);
    gand_free(b);
    gand_free(d);
    gand_alloc_fail_at(0, false);
}
END_TEST

START_TEST(test_alloc_fail_sticky)
{
    gand_alloc_fail_at(2, true);
    void *a = gand_malloc(8);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(gand_strdup("abc"));
    ck_assert_ptr_null(gand_aligned_alloc(64));
    ck_assert_ptr_null(gand_realloc(a, 16));
    ck_assert_int_eq(gand_alloc_failures(), 3);
    gand_alloc_fail_at(0, false);
    char *s = gand_strdup("abc");
    ck_assert_str_eq(s, "abc");
    gand_free(s);
    gand_free(a);
}
END_TEST

START_TEST(test_calloc_overflow_refused)
{
    ck_assert_ptr_null(gand_calloc(SIZE_MAX / 2, 4));
}
END_TEST

START_TEST(test_aligned_alloc_zeroed_and_aligned)
{
    float *p = gand_aligned_alloc(100 * sizeof(float));
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    for (int i = 0; i < 100; i++)
        ck_assert(p[i] == 0.0f);
    gand_free(p);
}
END_TEST

/* Captures what gand_log writes through a pipe. */
static void capture_log(char *buf, size_t n, void (*emit)(void))
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    gand_log_set_fd(fds[1]);
    emit();
    gand_log_set_fd(-1);
    close(fds[1]);
    ssize_t r = read(fds[0], buf, n - 1);
    buf[r > 0 ? r : 0] = '\0';
    close(fds[0]);
}

static void emit_three(void)
{
    gand_log_set_level(GAND_LOG_INFO);
    gand_log_debug("hidden %d", 1);
    gand_log_info("shown %d", 2);
    gand_log_error("bad %s", "thing");
}

START_TEST(test_log_timestamps_and_levels)
{
    unsetenv("JOURNAL_STREAM");
    gand_log_detect_journal();
    char buf[1024];
    capture_log(buf, sizeof buf, emit_three);
    ck_assert_ptr_null(strstr(buf, "hidden"));
    char *l1 = strstr(buf, "info  shown 2\n");
    ck_assert_ptr_nonnull(l1);
    ck_assert_ptr_nonnull(strstr(buf, "error bad thing\n"));
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ " */
    ck_assert_int_eq(buf[4], '-');
    ck_assert_int_eq(buf[10], 'T');
    ck_assert_int_eq(buf[23], 'Z');
}
END_TEST

START_TEST(test_log_journal_prefix)
{
    /* Pretend stderr is the journal by pointing JOURNAL_STREAM at it. */
    struct stat st;
    ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
    char js[64];
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    gand_log_detect_journal();
    char buf[1024];
    capture_log(buf, sizeof buf, emit_three);
    ck_assert_str_eq(buf, "<6>shown 2\n<3>bad thing\n");
    setenv("JOURNAL_STREAM", "1:1", 1);
    gand_log_detect_journal();
    capture_log(buf, sizeof buf, emit_three);
    ck_assert_int_ne(buf[0], '<');
    unsetenv("JOURNAL_STREAM");
}
END_TEST

START_TEST(test_log_parse_level)
{
    gand_log_level l = GAND_LOG_INFO;
    ck_assert_int_eq(gand_log_parse_level("debug", &l), 0);
    ck_assert_int_eq(l, GAND_LOG_DEBUG);
    ck_assert_int_eq(gand_log_parse_level("loud", &l), -1);
    ck_assert_int_eq(l, GAND_LOG_DEBUG);
}
END_TEST

static Suite *base_suite(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_strerror_every_code);
    tcase_add_test(tc, test_errorf_formats_and_returns);
    tcase_add_test(tc, test_alloc_fail_at_nth);
    tcase_add_test(tc, test_alloc_fail_sticky);
    tcase_add_test(tc, test_calloc_overflow_refused);
    tcase_add_test(tc, test_aligned_alloc_zeroed_and_aligned);
    tcase_add_test(tc, test_log_timestamps_and_levels);
    tcase_add_test(tc, test_log_journal_prefix);
    tcase_add_test(tc, test_log_parse_level);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(base_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
