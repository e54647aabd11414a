/* The real daemon under a service manager's eyes: NOTIFY_SOCKET points at
 * a datagram socket this test owns, as systemd's does for a Type=notify
 * unit, and WATCHDOG_USEC asks for watchdog pings. A thread collects every
 * message with the pid that sent it (NotifyAccess=main drops messages from
 * any other process). The daemon's path is argv[1]. */
#define _GNU_SOURCE /* struct ucred */
#include "daemon_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_NOTES 4096

typedef struct {
    char text[256];
    pid_t pid;
    double t; /* now_s() when received */
} note;

typedef struct {
    int fd;
    int port;          /* when set, READY=1 is checked against GET /readyz at once */
    int ready_status;  /* what that GET answered: 0 no answer, -1 not asked */
    pthread_t thread;
    pthread_mutex_t mu;
    note notes[MAX_NOTES];
    size_t n;
    atomic_bool quit;
} collector;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* GET /readyz on 127.0.0.1:port; the status, 0 when nothing answers. */
static int readyz_status(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char req[] = "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char head[64] = "";
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) > 0 && recv(fd, head, sizeof head - 1, 0) < 12)
            head[0] = '\0';
    }
    if (fd >= 0)
        close(fd);
    return strncmp(head, "HTTP/1.1 ", 9) == 0 ? atoi(head + 9) : 0;
}

/* A port nothing listens on now, for a daemon whose port must be known
 * before it logs it. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void *collect(void *arg)
{
    collector *c = arg;
    while (!atomic_load(&c->quit)) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        note nt = {.pid = -1};
        char ctl[CMSG_SPACE(sizeof(struct ucred))];
        struct iovec iov = {.iov_base = nt.text, .iov_len = sizeof nt.text - 1};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                           .msg_controllen = sizeof ctl};
        ssize_t len = recvmsg(c->fd, &m, MSG_DONTWAIT);
        if (len < 0)
            continue;
        nt.text[len] = '\0';
        nt.t = now_s();
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
            if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS)
                nt.pid = ((struct ucred *)(void *)CMSG_DATA(h))->pid;
        int status = -1;
        if (c->port && strcmp(nt.text, "READY=1") == 0)
            status = readyz_status(c->port);
        pthread_mutex_lock(&c->mu);
        if (status >= 0 && c->ready_status < 0)
            c->ready_status = status;
        if (c->n < MAX_NOTES)
            c->notes[c->n++] = nt;
        pthread_mutex_unlock(&c->mu);
    }
    return NULL;
}

/* Binds <root>/notify, points NOTIFY_SOCKET at it for the daemons this
 * test starts, and starts collecting. */
static collector *notify_listen(const gand_daemon *d, int port)
{
    collector *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->port = port;
    c->ready_status = -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    ck_assert_int_lt(snprintf(a.sun_path, sizeof a.sun_path, "%s/notify", d->root),
                     (int)sizeof a.sun_path);
    c->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c->fd, 0);
    ck_assert_int_eq(bind(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    int on = 1;
    ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
    ck_assert_int_eq(setenv("NOTIFY_SOCKET", a.sun_path, 1), 0);
    pthread_mutex_init(&c->mu, NULL);
    ck_assert_int_eq(pthread_create(&c->thread, NULL, collect, c), 0);
    return c;
}

static void notify_close(collector *c)
{
    atomic_store(&c->quit, true);
    pthread_join(c->thread, NULL);
    close(c->fd);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Index of the first message at or after from that is exactly text, or
 * (when prefix) starts with it; waits up to timeout_s. -1 on timeout. */
static long find_note(collector *c, size_t from, const char *text, bool prefix, double timeout_s)
{
    double t0 = now_s();
    for (;;) {
        pthread_mutex_lock(&c->mu);
        for (size_t i = from; i < c->n; i++) {
            const char *m = c->notes[i].text;
            if (prefix ? strncmp(m, text, strlen(text)) == 0 : strcmp(m, text) == 0) {
                pthread_mutex_unlock(&c->mu);
                return (long)i;
            }
        }
        pthread_mutex_unlock(&c->mu);
        if (now_s() - t0 > timeout_s)
            return -1;
        sleep_ms(5);
    }
}

static size_t note_count(collector *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void expect_note(collector *c, size_t from, const char *text, double timeout_s)
{
    long i = find_note(c, from, text, false, timeout_s);
    if (i >= 0)
        return;
    pthread_mutex_lock(&c->mu);
    char seen[2048] = "";
    for (size_t k = c->n > 12 ? c->n - 12 : 0; k < c->n; k++)
        snprintf(seen + strlen(seen), sizeof seen - strlen(seen), " [%s]", c->notes[k].text);
    pthread_mutex_unlock(&c->mu);
    ck_abort_msg("no '%s' within %.0f s; the last messages:%s", text, timeout_s, seen);
}

START_TEST(test_ready_watchdog_stopping)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    /* the port is chosen here, so /readyz can be asked the moment READY=1
     * arrives, before the daemon's log says where it listens */
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", free_port());
    d.flags[0] = "--listen";
    d.flags[1] = listen;
    collector *c = notify_listen(&d, atoi(strchr(listen, ':') + 1));
    /* a one-second watchdog: pings are due at least every half second */
    setenv("WATCHDOG_USEC", "1000000", 1);
    unsetenv("WATCHDOG_PID");
    daemon_spawn(&d);
    pid_t pid = d.pid;
    expect_note(c, 0, "READY=1", 30);
    /* ready means ready: the health check asked on its arrival agreed */
    pthread_mutex_lock(&c->mu);
    int ready_status = c->ready_status;
    pthread_mutex_unlock(&c->mu);
    ck_assert_msg(ready_status == 200, "GET /readyz on READY=1 answered %d", ready_status);
    /* nothing came before it */
    ck_assert_int_eq(find_note(c, 0, "READY=1", false, 0), 0);

    size_t from = note_count(c);
    sleep_ms(2500);
    double last = -1, worst = 0;
    int pings = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = from; i < c->n; i++) {
        if (strcmp(c->notes[i].text, "WATCHDOG=1") != 0)
            continue;
        if (last >= 0 && c->notes[i].t - last > worst)
            worst = c->notes[i].t - last;
        last = c->notes[i].t;
        pings++;
    }
    pthread_mutex_unlock(&c->mu);
    ck_assert_msg(pings >= 4, "%d watchdog pings in 2.5 s", pings);
    ck_assert_msg(worst < 0.95, "%.3f s between two pings of a 1 s watchdog", worst);

    from = note_count(c);
    ck_assert_int_eq(daemon_stop(&d), 0);
    long stopping = find_note(c, from, "STOPPING=1", false, 5);
    ck_assert_msg(stopping >= 0, "no STOPPING=1 after SIGTERM");
    /* everything came from the main process, and nothing after it stopped */
    for (size_t i = 0; i < note_count(c); i++)
        ck_assert_msg(c->notes[i].pid == pid, "message %zu from pid %d, not %d", i,
                      (int)c->notes[i].pid, (int)pid);
    daemon_cleanup(&d);
    notify_close(c);
}
END_TEST

START_TEST(test_status_counts)
{
    gand_daemon d;
    daemon_init(&d, NULL);
    collector *c = notify_listen(&d, 0);
    unsetenv("WATCHDOG_USEC");
    daemon_start(&d);
    pid_t pid = d.pid;
    expect_note(c, 0, "STATUS=0 running, 0 queued", 10);
    int64_t a = submit_run(&d, 1000000, NULL);
    wait_step(&d, a, 1, 60);
    int64_t b = submit_run(&d, 1000000, NULL);
    int64_t q = submit_run(&d, 1000000, NULL);
    size_t from = note_count(c);
    expect_note(c, from, "STATUS=1 running, 2 queued", 10);
    char path[64];
    snprintf(path, sizeof path, "/runs/%lld/cancel", (long long)q);
    reply r = client_post(&d, path, NULL);
    reply_free(&r);
    expect_note(c, note_count(c), "STATUS=1 running, 1 queued", 10);
    snprintf(path, sizeof path, "/runs/%lld/cancel", (long long)a);
    r = client_post(&d, path, NULL);
    reply_free(&r);
    wait_step(&d, b, 1, 60);
    expect_note(c, note_count(c), "STATUS=1 running, 0 queued", 10);
    snprintf(path, sizeof path, "/runs/%lld/cancel", (long long)b);
    r = client_post(&d, path, NULL);
    reply_free(&r);
    cJSON_Delete(wait_run(&d, b, "canceled", 60));
    expect_note(c, note_count(c), "STATUS=0 running, 0 queued", 10);
    daemon_cleanup(&d);
    /* every STATUS= line has the one shape */
    for (size_t i = 0; i < note_count(c); i++) {
        const char *m = c->notes[i].text;
        int running, queued, end = 0;
        if (strncmp(m, "STATUS=", 7) == 0)
            ck_assert_msg(sscanf(m, "STATUS=%d running, %d queued%n", &running, &queued, &end) ==
                                  2 && m[end] == '\0',
                          "'%s'", m);
        ck_assert_int_eq(c->notes[i].pid, pid);
    }
    notify_close(c);
}
END_TEST

static Suite *service_notify_suite(void)
{
    Suite *s = suite_create("service_notify");
    TCase *tc = tcase_create("notify");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ready_watchdog_stopping);
    tcase_add_test(tc, test_status_counts);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return daemon_suite_main(argc, argv, service_notify_suite()); }
