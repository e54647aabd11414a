/* The daemon's connection limits from the network: per-address and total
 * connection limits, and the idle timeout, set by their flags. Clients
 * take distinct loopback addresses (127.0.0.2, ...) to count as distinct
 * hosts. The daemon's path is argv[1]. */
#include "daemon_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The fixture's /readyz polls count against the limits until the server
 * has seen their connections close. */
static void settle(void) { sleep_ms(300); }

/* A TCP connection to the daemon from the local address from. */
static int connect_from(const gand_daemon *d, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    ck_assert_int_eq(inet_pton(AF_INET, from, &a.sin_addr), 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    a.sin_port = htons((uint16_t)d->port);
    ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Waits up to timeout_ms for the server to end fd: returns the seconds it
 * took (a close or a reset), or -1 when fd is still open. Bytes the server
 * sends before closing are read and dropped. */
static double wait_closed(int fd, int timeout_ms)
{
    double t0 = now_s();
    for (;;) {
        int left = timeout_ms - (int)((now_s() - t0) * 1e3);
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return now_s() - t0;
        ck_assert_msg(n > 0, "recv: %s", strerror(errno));
    }
}

/* Sends GET /livez on fd and returns the response's status, 0 when the
 * server closed or sent nothing within timeout_ms. */
static int livez_on(int fd, int timeout_ms)
{
    static const char req[] = "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1))
        return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char head[64] = "";
    if (poll(&p, 1, timeout_ms) <= 0)
        return 0;
    ssize_t n = recv(fd, head, sizeof head - 1, 0);
    if (n < 12)
        return 0;
    head[n] = '\0';
    return strncmp(head, "HTTP/1.1 ", 9) == 0 ? atoi(head + 9) : 0;
}

/* A fresh connection from from answers GET /livez with 200. */
static void assert_served(const gand_daemon *d, const char *from)
{
    int fd = connect_from(d, from);
    int st = livez_on(fd, 5000);
    ck_assert_msg(st == 200, "GET /livez from %s: %d", from, st);
    close(fd);
}

START_TEST(test_per_ip_limit)
{
    gand_daemon d;
    daemon_up(&d, (const char *const[]){"--per-ip-connection-limit", "2", "--connection-limit",
                                        "4", NULL});
    settle();
    int idle[2];
    for (int i = 0; i < 2; i++)
        idle[i] = connect_from(&d, "127.0.0.1");
    sleep_ms(200); /* the server has taken both */
    /* the third from the same address is closed unserved, every time */
    for (int i = 0; i < 3; i++) {
        int third = connect_from(&d, "127.0.0.1");
        int st = livez_on(third, 1000);
        if (st != 0) {
            char *log = daemon_log(&d);
            ck_abort_msg("connection %d from one address got %d: %s", 3 + i, st, log);
        }
        ck_assert_msg(wait_closed(third, 2000) >= 0, "the refused connection stays open");
        close(third);
    }
    /* another address is not affected */
    assert_served(&d, "127.0.0.2");
    /* the idle two were never touched, and serve when they speak */
    ck_assert_int_eq(livez_on(idle[0], 5000), 200);
    for (int i = 0; i < 2; i++)
        close(idle[i]);
    sleep_ms(200);
    /* once they are gone, the address is served again */
    reply r = client_get(&d, "/livez");
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    assert_served(&d, "127.0.0.1");
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_total_limit)
{
    gand_daemon d;
    daemon_up(&d, (const char *const[]){"--per-ip-connection-limit", "2", "--connection-limit",
                                        "4", NULL});
    static const char *const from[] = {"127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"};
    settle();
    int idle[4];
    for (int i = 0; i < 4; i++)
        idle[i] = connect_from(&d, from[i]);
    sleep_ms(200);
    /* a fifth, from an address of its own, is not served while four are open */
    int fifth = connect_from(&d, "127.0.0.4");
    ck_assert_int_eq(livez_on(fifth, 1000), 0);
    for (int i = 0; i < 4; i++)
        close(idle[i]);
    close(fifth);
    sleep_ms(200);
    assert_served(&d, "127.0.0.4");
    assert_served(&d, "127.0.0.2");
    daemon_cleanup(&d);
}
END_TEST

START_TEST(test_idle_timeout)
{
    gand_daemon d;
    daemon_up(&d, (const char *const[]){"--connection-timeout", "1", NULL});
    /* three idle kinds side by side: one that never speaks, one that sends
     * half its headers and stops, and a kept-alive one, answered and quiet */
    static const char part[] = "GET /livez HTTP/1.1\r\nHost: x\r\n";
    int conns[3];
    for (int i = 0; i < 3; i++)
        conns[i] = connect_from(&d, "127.0.0.1");
    ck_assert_int_eq(send(conns[1], part, sizeof part - 1, MSG_NOSIGNAL),
                     (ssize_t)(sizeof part - 1));
    ck_assert_int_eq(livez_on(conns[2], 5000), 200);
    double t0 = now_s();
    for (int i = 0; i < 3; i++) {
        double t = wait_closed(conns[i], 5000);
        ck_assert_msg(t >= 0, "idle connection %d still open after 5 s", i);
        t = now_s() - t0;
        ck_assert_msg(t >= 0.5 && t <= 3.0, "idle connection %d closed after %.2f s", i, t);
        close(conns[i]);
    }

    /* an event stream is not idle: it outlives the timeout */
    sse_opts o = {.path = "/events", .timeout_s = 2.5};
    t0 = now_s();
    sse_list l = sse_read(&d, o);
    ck_assert_int_eq(l.status, 200);
    ck_assert_msg(now_s() - t0 >= 2.4, "the stream ended after %.2f s", now_s() - t0);
    sse_list_free(&l);
    reply r = client_get(&d, "/livez");
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    daemon_cleanup(&d);
}
END_TEST

static Suite *service_limits_suite(void)
{
    Suite *s = suite_create("service_limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_per_ip_limit);
    tcase_add_test(tc, test_total_limit);
    tcase_add_test(tc, test_idle_timeout);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, service_limits_suite()); }
