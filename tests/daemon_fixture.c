#define _GNU_SOURCE /* prctl */
/* The process and HTTP helpers of daemon_fixture.h. */
#include "daemon_fixture.h"

#include "idx_fixture.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *data;
    size_t len;
} grow;

static const char *daemon_exe;
static char *suite_dir;   /* holds the root of every test's daemon */
static gand_daemon *live; /* the daemon to stop when a test exits early */

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int daemon_suite_main(int argc, char **argv, Suite *suite)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-gand\n", argv[0]);
        return 2;
    }
    daemon_exe = argv[1];
    /* every test's files go under one directory, removed here: a failing
     * test ends its process at once, before any cleanup of its own */
    suite_dir = strdup("/tmp/gand-test-XXXXXX");
    if (!suite_dir || !mkdtemp(suite_dir)) {
        perror("mkdtemp");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    fixture_rmdir(suite_dir);
    return failed ? 1 : 0;
}

/* ---- the process ---- */

static void at_exit(void)
{
    if (live && live->pid > 0) {
        kill(live->pid, SIGKILL);
        waitpid(live->pid, NULL, 0);
    }
    live = NULL;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

void daemon_init(gand_daemon *d, const char *const *flags)
{
    memset(d, 0, sizeof *d);
    char root[1024];
    snprintf(root, sizeof root, "%s/daemon-XXXXXX", suite_dir);
    ck_assert_ptr_nonnull(mkdtemp(root));
    d->root = strdup(root);
    snprintf(d->state_dir, sizeof d->state_dir, "%s/state", d->root);
    snprintf(d->www_dir, sizeof d->www_dir, "%s/www", d->root);
    snprintf(d->data_dir, sizeof d->data_dir, "%s/data", d->root);
    snprintf(d->log_path, sizeof d->log_path, "%s/gand.log", d->root);
    ck_assert_int_eq(mkdir(d->www_dir, 0700), 0);
    ck_assert_int_eq(mkdir(d->data_dir, 0700), 0);
    char index[1200];
    snprintf(index, sizeof index, "%s/index.html", d->www_dir);
    write_file(index, DAEMON_INDEX_HTML);
    fixture_write_blocks(d->data_dir, DAEMON_IMAGES, 8, 4, 7);
    for (int i = 0; flags && flags[i]; i++) {
        ck_assert_int_lt(i, DAEMON_MAX_FLAGS);
        d->flags[i] = flags[i];
    }
    if (!live)
        atexit(at_exit);
    live = d;
}

void daemon_up(gand_daemon *d, const char *const *flags)
{
    daemon_init(d, flags);
    daemon_start(d);
}

char *daemon_log(const gand_daemon *d)
{
    FILE *f = fopen(d->log_path, "r");
    if (!f) /* not created yet */
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(text);
    size_t got = fread(text, 1, (size_t)n, f);
    text[got] = '\0';
    fclose(f);
    return text;
}

/* The port in the first "listening on" line after byte from of the log. */
static int logged_port(const gand_daemon *d, long from)
{
    char *text = daemon_log(d);
    int port = 0;
    const char *line = (long)strlen(text) > from ? strstr(text + from, "listening on http://")
                                                 : NULL;
    const char *colon = line ? strchr(line + strlen("listening on http://"), ':') : NULL;
    if (colon)
        port = atoi(colon + 1);
    free(text);
    return port;
}

void daemon_spawn(gand_daemon *d)
{
    ck_assert_int_eq(d->pid, 0);
    struct stat st;
    long from = stat(d->log_path, &st) == 0 ? (long)st.st_size : 0;
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* a test that dies takes its daemon with it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent || !freopen(d->log_path, "a", stderr))
            _exit(127);
        const char *argv[32] = {daemon_exe,     "--state-dir", d->state_dir, "--www",
                                d->www_dir,     "--listen",    "127.0.0.1:0", "--workers",
                                "1",            "--blas-threads", "1",     "--log-level",
                                "info"};
        int n = 13;
        for (int i = 0; d->flags[i]; i++)
            argv[n++] = d->flags[i];
        argv[n] = NULL;
        execv(daemon_exe, (char *const *)argv);
        _exit(127);
    }
    d->pid = pid;
    double t0 = now_s();
    while ((d->port = logged_port(d, from)) == 0) {
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid) {
            d->pid = 0;
            char *log = daemon_log(d);
            ck_abort_msg("gand exited (status 0x%x) before listening: %.2000s", ws, log);
        }
        ck_assert_msg(now_s() - t0 < 30, "gand did not log its port within 30 s");
        sleep_ms(10);
    }
    snprintf(d->base, sizeof d->base, "http://127.0.0.1:%d", d->port);
}

void daemon_start(gand_daemon *d)
{
    daemon_spawn(d);
    double t0 = now_s();
    for (;;) {
        reply r = client_get(d, "/readyz");
        long status = r.status;
        reply_free(&r);
        if (status == 200)
            break;
        ck_assert_msg(now_s() - t0 < 30, "/readyz answered %ld for 30 s", status);
        sleep_ms(10);
    }
}

int daemon_stop(gand_daemon *d)
{
    ck_assert_int_gt(d->pid, 0);
    ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
    double t0 = now_s();
    int ws = 0;
    pid_t got;
    while ((got = waitpid(d->pid, &ws, WNOHANG)) == 0) {
        ck_assert_msg(now_s() - t0 < 30, "gand did not stop within 30 s of SIGTERM");
        sleep_ms(5);
    }
    ck_assert_int_eq(got, d->pid);
    d->pid = 0;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

void daemon_kill(gand_daemon *d)
{
    ck_assert_int_gt(d->pid, 0);
    kill(d->pid, SIGKILL);
    ck_assert_int_eq(waitpid(d->pid, NULL, 0), d->pid);
    d->pid = 0;
}

void daemon_cleanup(gand_daemon *d)
{
    int rc = d->pid > 0 ? daemon_stop(d) : 0;
    char *log = daemon_log(d);
    /* UBSan reports and goes on, so its findings are looked for here */
    const char *san = strstr(log, "runtime error:");
    if (!san)
        san = strstr(log, "Sanitizer");
    ck_assert_msg(!san, "gand's log has a sanitizer report: %.1500s", san);
    ck_assert_msg(rc == 0, "gand exited with %d after SIGTERM: %.1500s", rc, log);
    free(log);
    fixture_rmdir(d->root);
    d->root = NULL;
    if (live == d)
        live = NULL;
}

/* Everything readable from fd until it ends (malloc'd). */
static char *slurp(int fd)
{
    grow g = {calloc(1, 1), 0};
    ck_assert_ptr_nonnull(g.data);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        char *p = realloc(g.data, g.len + (size_t)n + 1);
        ck_assert_ptr_nonnull(p);
        memcpy(p + g.len, chunk, (size_t)n);
        g.len += (size_t)n;
        p[g.len] = '\0';
        g.data = p;
    }
    return g.data;
}

int gand_exec(const char *const *args, double timeout_s, char **out, char **errout)
{
    char tmpl_out[] = "/tmp/gand-exec-out-XXXXXX", tmpl_err[] = "/tmp/gand-exec-err-XXXXXX";
    int fo = mkstemp(tmpl_out), fe = mkstemp(tmpl_err);
    ck_assert_int_ge(fo, 0);
    ck_assert_int_ge(fe, 0);
    unlink(tmpl_out);
    unlink(tmpl_err);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent || dup2(fo, STDOUT_FILENO) < 0 || dup2(fe, STDERR_FILENO) < 0)
            _exit(127);
        const char *argv[32] = {daemon_exe};
        int n = 1;
        for (int i = 0; args[i] && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(daemon_exe, (char *const *)argv);
        _exit(127);
    }
    double t0 = now_s();
    int ws = 0;
    pid_t got;
    while ((got = waitpid(pid, &ws, WNOHANG)) == 0) {
        if (now_s() - t0 > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
            got = pid;
            break;
        }
        sleep_ms(5);
    }
    ck_assert_int_eq(got, pid);
    lseek(fo, 0, SEEK_SET);
    lseek(fe, 0, SEEK_SET);
    char *o = slurp(fo), *e = slurp(fe);
    close(fo);
    close(fe);
    if (out)
        *out = o;
    else
        free(o);
    if (errout)
        *errout = e;
    else
        free(e);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* ---- requests ---- */


static size_t append(char *p, size_t size, size_t nmemb, void *ctx)
{
    grow *g = ctx;
    size_t n = size * nmemb;
    char *q = realloc(g->data, g->len + n + 1);
    if (!q)
        return 0;
    memcpy(q + g->len, p, n);
    g->len += n;
    q[g->len] = '\0';
    g->data = q;
    return n;
}

reply client_request(const gand_daemon *d, const char *method, const char *path,
                     const char *body, const char *const *headers)
{
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    char *url = malloc(strlen(d->base) + strlen(path) + 1);
    ck_assert_ptr_nonnull(url);
    strcat(strcpy(url, d->base), path);
    grow b = {calloc(1, 1), 0}, h = {calloc(1, 1), 0};
    struct curl_slist *hl = NULL;
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    if (d->auth) {
        char bearer[300];
        snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", d->auth);
        hl = curl_slist_append(hl, bearer);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, append);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    ck_assert_msg(rc == CURLE_OK, "%s %.200s: %s", method, path, curl_easy_strerror(rc));
    reply r = {.body = b.data, .len = b.len, .headers = h.data};
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    free(url);
    char type[128];
    reply_header(&r, "Content-Type", type, sizeof type);
    if (strstr(type, "json"))
        r.json = cJSON_ParseWithLength(r.body, r.len);
    return r;
}

reply client_get(const gand_daemon *d, const char *path)
{
    return client_request(d, "GET", path, NULL, NULL);
}

reply client_post(const gand_daemon *d, const char *path, const char *body)
{
    return client_request(d, "POST", path, body ? body : "", NULL);
}

reply client_delete(const gand_daemon *d, const char *path)
{
    return client_request(d, "DELETE", path, NULL, NULL);
}

void reply_free(reply *r)
{
    free(r->body);
    free(r->headers);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

const char *reply_header(const reply *r, const char *name, char *out, size_t n)
{
    out[0] = '\0';
    size_t len = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        if (strncasecmp(line, name, len) == 0 && line[len] == ':') {
            const char *v = line + len + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(end - v), v);
        }
        line = end + 2;
    }
    return out;
}

void assert_problem(const reply *r, long status, const char *detail_part)
{
    char type[128];
    ck_assert_msg(r->status == status, "status %ld, want %ld: %.500s", r->status, status, r->body);
    ck_assert_str_eq(reply_header(r, "Content-Type", type, sizeof type),
                     "application/problem+json");
    ck_assert_ptr_nonnull(r->json);
    ck_assert_int_eq((int)json_num(r->json, "status"), (int)status);
    const char *detail = json_str(r->json, "detail");
    if (detail_part)
        ck_assert_msg(strstr(detail, detail_part), "detail '%.500s' lacks '%s'", detail,
                      detail_part);
}

int raw_status(const gand_daemon *d, const void *bytes, size_t len, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const char *p = bytes;
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, p + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may answer and close before reading it all */
        off += (size_t)w;
    }
    char head[64] = "";
    size_t got = 0;
    while (got < 12) {
        ssize_t r = recv(fd, head + got, sizeof head - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    head[got] = '\0';
    close(fd);
    int status = 0;
    if (strncmp(head, "HTTP/1.", 7) == 0)
        status = atoi(head + 9);
    return status;
}
