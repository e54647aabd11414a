/* gand: the GAN training daemon.
 *
 * Start-up: configuration (defaults, then the file, then flags), the
 * store, the scheduler (which re-queues interrupted runs), the HTTP server,
 * then READY=1. The main thread then only waits for SIGTERM/SIGINT, pinging
 * the watchdog and updating systemd's STATUS= once a second (at half the
 * watchdog interval when that is shorter). Shutdown: stop accepting (HTTP
 * stops, SSE streams end), checkpoint every running run and leave it queued
 * for the next start, close the store. */
#include "gand_config.h"

#include "gand/api.h"
#include "gand/config.h"
#include "gand/http.h"
#include "gand/log.h"
#include "gand/notify.h"
#include "gand/sched.h"
#include "gand/store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_OPTS 64

enum { OPT_CONFIG = 1000, OPT_CHECK_CONFIG, OPT_KEY_BASE = 2000 };

static void usage(FILE *out)
{
    fprintf(out, "Usage: gand [OPTION]...\n"
                 "GAN training service: accepts training jobs over HTTP and trains them.\n"
                 "\n"
                 "  -c, --config FILE        read FILE (default %s if it exists)\n"
                 "      --check-config FILE  validate FILE and exit (0 when valid)\n"
                 "  -h, --help               show this help and exit\n"
                 "  -V, --version            print the version and exit\n"
                 "\n"
                 "Settings (flags override the file):\n",
            gand_config_default_path());
    for (size_t i = 0; i < gand_config_option_count(); i++) {
        const gand_config_option *o = gand_config_option_at(i);
        char left[64];
        snprintf(left, sizeof left, "--%s %s", o->flag, o->metavar);
        /* a flag too long for the column gets a line of its own */
        if (strlen(left) > 24)
            fprintf(out, "      %s\n%31s", left, "");
        else
            fprintf(out, "      %-24s ", left);
        fprintf(out, "%s (%s)\n", o->doc, o->default_value[0] ? o->default_value : "none");
    }
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "gand: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'gand --help' for more information.\n");
    return 2;
}

/* Parses argv into cfg; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, gand_config *cfg)
{
    struct option opts[MAX_OPTS];
    int n = 0;
    opts[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    opts[n++] = (struct option){"check-config", required_argument, NULL, OPT_CHECK_CONFIG};
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[n++] = (struct option){"version", no_argument, NULL, 'V'};
    size_t nkeys = gand_config_option_count();
    for (size_t i = 0; i < nkeys && n < MAX_OPTS - 1; i++)
        opts[n++] = (struct option){gand_config_option_at(i)->flag, required_argument, NULL,
                                    OPT_KEY_BASE + (int)i};
    opts[n] = (struct option){NULL, 0, NULL, 0};

    /* first pass: the file, so flags can override it. The leading ':' makes
     * a missing value ':' rather than '?', so it is not called unknown. */
    const char *config = NULL;
    bool explicit_config = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'V': printf("gand %s\n", GAND_VERSION); return 0;
        case 'c':
        case OPT_CONFIG:
            config = optarg;
            explicit_config = true;
            break;
        case OPT_CHECK_CONFIG: {
            char err[1024];
            gand_config check;
            gand_config_defaults(&check);
            if (gand_config_load(optarg, &check, err, sizeof err) != GAND_OK) {
                fprintf(stderr, "gand: %s\n", err);
                return 1;
            }
            printf("%s: valid\n", optarg);
            return 0;
        }
        case '?':
            /* a known long option given "=value" it does not take sets optopt */
            if (optopt && strncmp(argv[optind - 1], "--", 2) == 0)
                return bad_usage("option '%s' takes no value", argv[optind - 1]);
            if (optopt && optopt < 256)
                return bad_usage("unknown option '-%s'", (char[]){(char)optopt, 0});
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        case ':': return bad_usage("option '%s' needs a value", argv[optind - 1]);
        default: break;
        }
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    char err[1024];
    if (!config && access(gand_config_default_path(), F_OK) == 0)
        config = gand_config_default_path();
    if (config && gand_config_load(config, cfg, err, sizeof err) != GAND_OK) {
        fprintf(stderr, "gand: %s%s\n", err,
                explicit_config ? "" : " (the default configuration file)");
        return 2;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:hV", opts, NULL)) != -1) {
        if (c < OPT_KEY_BASE)
            continue;
        const gand_config_option *o = gand_config_option_at((size_t)(c - OPT_KEY_BASE));
        if (gand_config_set_flag(cfg, o->flag, optarg, err, sizeof err) != GAND_OK) {
            fprintf(stderr, "gand: %s\n", err);
            return 2;
        }
    }
    if (gand_config_validate(cfg, err, sizeof err) != GAND_OK) {
        fprintf(stderr, "gand: %s\n", err);
        return 2;
    }
    return -1;
}

/* SIGTERM and SIGINT end the main loop. OpenBLAS starts its threads in a
 * library constructor, before main can block anything, and the kernel gives
 * a process-directed signal to any thread that does not block it: with a
 * signal mask alone, a signal arriving while the main thread is not waiting
 * for it (a second Ctrl-C during the shutdown) would take its default
 * action on one of those threads and kill the process mid-checkpoint. A
 * handler runs wherever the signal lands and wakes the main loop through a
 * pipe. */
static int stop_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    int saved = errno;
    if (!stop_signal)
        stop_signal = sig;
    /* a full pipe means a wake-up is already pending */
    ssize_t n = write(stop_pipe[1], "", 1);
    (void)n;
    errno = saved;
}

static bool catch_stop_signals(void)
{
    if (pipe(stop_pipe) != 0)
        return false;
    for (int i = 0; i < 2; i++)
        if (fcntl(stop_pipe[i], F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(stop_pipe[i], F_SETFL, O_NONBLOCK) != 0)
            return false;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    return sigaction(SIGTERM, &sa, NULL) == 0 && sigaction(SIGINT, &sa, NULL) == 0;
}

/* Waits up to ms for a stop signal; returns it, or 0 when none came. */
static int wait_stop_signal(int ms)
{
    struct pollfd p = {.fd = stop_pipe[0], .events = POLLIN};
    if (!stop_signal && poll(&p, 1, ms) > 0) {
        char drain[64];
        while (read(stop_pipe[0], drain, sizeof drain) > 0)
            continue;
    }
    return stop_signal;
}

/* How often the main loop pings the watchdog and refreshes STATUS=: every
 * second, or at half of systemd's watchdog interval when that is shorter. */
static int tick_ms(void)
{
    uint64_t usec = gand_notify_watchdog_usec();
    if (usec == 0 || usec >= 2000000)
        return 1000;
    return usec >= 2000 ? (int)(usec / 2000) : 1;
}

static void report_status(sched *s)
{
    sched_snapshot snap;
    sched_stats(s, &snap);
    gand_notify_status("%d running, %zu queued", snap.running, snap.queued);
}

int main(int argc, char **argv)
{
    gand_config cfg;
    gand_config_defaults(&cfg);
    int rc = parse_args(argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    gand_log_detect_journal();
    gand_log_set_level(cfg.log_level);

    /* The threads started from here on inherit a mask that blocks the stop
     * signals, so the handler never interrupts their system calls; the main
     * thread unblocks them once it is serving. */
    if (!catch_stop_signals()) {
        gand_log_error("cannot set up the SIGTERM and SIGINT handlers: %s", strerror(errno));
        return 1;
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    http_ignore_sigpipe();

    char err[1024];
    gand_status st;
    api_ctx app = {.state_dir = cfg.state_dir};
    char token[256];
    if (cfg.auth_token_file[0] &&
        gand_config_read_token(&cfg, token, sizeof token, err, sizeof err) != GAND_OK) {
        gand_log_error("%s", err);
        return 1;
    }
    http_server *srv = NULL;
    rc = 1;
    if ((st = store_open(cfg.state_dir, &app.db, err, sizeof err)) != GAND_OK) {
        gand_log_error("cannot open the state directory: %s", err);
        return 1;
    }
    app.hub = http_sse_hub_create(0);
    if (!app.hub) {
        gand_log_error("out of memory creating the event hub");
        goto out;
    }
    sched_params sp = sched_default_params();
    sp.state_dir = cfg.state_dir;
    sp.workers = cfg.workers;
    sp.queue_max = cfg.queue_max;
    sp.blas_threads = cfg.blas_threads;
    sp.sample_retention = cfg.sample_retention;
    sp.on_event = api_on_event;
    sp.event_ctx = &app;
    app.sched = sched_create(&sp, &st, err, sizeof err);
    if (!app.sched) {
        gand_log_error("cannot start the scheduler: %s", err);
        goto out;
    }
    http_config hc;
    http_config_default(&hc);
    hc.listen = cfg.listen;
    hc.routes = api_routes;
    hc.app = &app;
    hc.www_root = cfg.www_dir;
    hc.sse_hub = app.hub;
    hc.connection_limit = (unsigned)cfg.connection_limit;
    hc.per_ip_limit = (unsigned)cfg.per_ip_connection_limit;
    hc.timeout_s = (unsigned)cfg.connection_timeout_s;
    hc.max_body_bytes = cfg.max_body_bytes;
    hc.auth_token = cfg.auth_token_file[0] ? token : NULL;
    if ((st = http_start(&hc, &srv, err, sizeof err)) != GAND_OK) {
        gand_log_error("cannot serve HTTP: %s", err);
        goto out;
    }
    app.server = srv;
    atomic_store(&app.ready, true);
    sched_snapshot snap;
    sched_stats(app.sched, &snap);
    gand_log_info("gand %s listening on http://%s:%d/ (state %s, %d workers, %d BLAS threads%s)",
                  GAND_VERSION, cfg.listen_host[0] ? cfg.listen_host : "127.0.0.1",
                  http_server_port(srv), cfg.state_dir, snap.workers, snap.blas_threads,
                  hc.auth_token ? ", bearer token required" : "");
    gand_notify_ready();
    report_status(app.sched);

    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    int tick = tick_ms();
    for (;;) {
        int sig = wait_stop_signal(tick);
        if (sig) {
            gand_log_info("%s: stopping; running runs are checkpointed and resume at the next "
                          "start",
                          sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        gand_notify_watchdog();
        report_status(app.sched);
    }
    gand_notify_stopping();
    rc = 0;
out:
    http_stop(srv);
    sched_free(app.sched); /* stops with requeue */
    http_sse_hub_free(app.hub);
    store_close(app.db);
    if (rc == 0)
        gand_log_info("stopped");
    return rc;
}
