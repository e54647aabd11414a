/* sd_notify wrappers: the datagrams systemd would receive, and silence
 * outside systemd. */
#include "gand/notify.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/gand-test-notify-XXXXXX";

/* Binds a datagram socket where NOTIFY_SOCKET points, as systemd does. */
static int listen_notify(void)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/notify", tmpdir);
    unlink(addr.sun_path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(setenv("NOTIFY_SOCKET", addr.sun_path, 1), 0);
    return fd;
}

static void expect(int fd, const char *want)
{
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, want);
}

START_TEST(test_messages_reach_the_socket)
{
    int fd = listen_notify();
    ck_assert(gand_notify_enabled());
    ck_assert_int_eq(gand_notify_ready(), GAND_OK);
    expect(fd, "READY=1");
    ck_assert_int_eq(gand_notify_status("%d running, %d queued", 2, 5), GAND_OK);
    expect(fd, "STATUS=2 running, 5 queued");
    ck_assert_int_eq(gand_notify_status("two\nlines"), GAND_OK);
    expect(fd, "STATUS=two lines");
    ck_assert_int_eq(gand_notify_watchdog(), GAND_OK);
    expect(fd, "WATCHDOG=1");
    ck_assert_int_eq(gand_notify_stopping(), GAND_OK);
    expect(fd, "STOPPING=1");
    close(fd);
}
END_TEST

START_TEST(test_no_systemd_is_silent)
{
    unsetenv("NOTIFY_SOCKET");
    ck_assert(!gand_notify_enabled());
    ck_assert_int_eq(gand_notify_ready(), GAND_OK);
    ck_assert_int_eq(gand_notify_status("%d running", 1), GAND_OK);
    ck_assert_int_eq(gand_notify_watchdog(), GAND_OK);
    ck_assert_int_eq(gand_notify_stopping(), GAND_OK);
}
END_TEST

START_TEST(test_send_failure_is_reported)
{
    char path[256];
    snprintf(path, sizeof path, "%s/nobody-listens", tmpdir);
    setenv("NOTIFY_SOCKET", path, 1);
    ck_assert_int_eq(gand_notify_ready(), GAND_EIO);
}
END_TEST

START_TEST(test_watchdog_interval)
{
    char pid[32];
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    ck_assert_uint_eq(gand_notify_watchdog_usec(), 0);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    ck_assert_uint_eq(gand_notify_watchdog_usec(), 30000000);
    /* the pings are for another process (a parent that exec'd us) */
    snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    ck_assert_uint_eq(gand_notify_watchdog_usec(), 0);
}
END_TEST

static Suite *notify_suite(void)
{
    Suite *s = suite_create("notify");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_messages_reach_the_socket);
    tcase_add_test(tc, test_no_systemd_is_silent);
    tcase_add_test(tc, test_send_failure_is_reported);
    tcase_add_test(tc, test_watchdog_interval);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(notify_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char path[256];
    snprintf(path, sizeof path, "%s/notify", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
