/* gand-train: runs one job spec to completion with no daemon.
 *
 *   gand-train SPEC.json --out DIR [--resume]
 *
 * DIR/spec.json          the normalised spec
 * DIR/metrics.jsonl      one JSON object per step
 * DIR/samples/step-NNNNNNN.png
 * DIR/checkpoints/step-NNNNNNN.ckpt   (the two newest are kept)
 *
 * Exit status: 0 done, 1 training failed, 2 usage or spec error,
 * 130 / 143 stopped by SIGINT / SIGTERM after a checkpoint (resumable).
 */
#include "gand_config.h"

#include "gand/alloc.h"
#include "gand/data.h"
#include "gand/gan.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SPEC_MAX_BYTES (1 << 20)
#define KEEP_CHECKPOINTS 2

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) { stop_signal = sig; }

typedef struct {
    const char *out;
    FILE *metrics;
    long total;
    double start_s, last_print_s;
    long start_step;
    bool tty;
    const gan_metric *last;
    int nlast;
} host_ctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: gand-train SPEC.json --out DIR [--resume]\n"
               "Trains one GAN job spec (the JSON the daemon's POST /runs takes) to completion.\n"
               "\n"
               "  -o, --out DIR   write metrics, samples and checkpoints under DIR\n"
               "  -r, --resume    continue the run in DIR from its newest checkpoint\n"
               "  -h, --help      show this help\n"
               "  -V, --version   print the version\n");
}

/* Reads the whole file (at most SPEC_MAX_BYTES) into a malloc'd buffer. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = gand_malloc(SPEC_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, SPEC_MAX_BYTES + 1, f) : 0;
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > SPEC_MAX_BYTES) {
        snprintf(err, errlen, "%s: %s", path,
                 !buf ? "out of memory" : bad ? "read error" : "larger than 1 MiB; not a job spec");
        gand_free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "gand-train: cannot create %s: %s\n", path, strerror(errno));
    return -1;
}

/* Newest checkpoint step in DIR/checkpoints, -1 when there is none; with
 * keep > 0 also deletes all but the keep newest. */
static long scan_checkpoints(const char *out, int keep)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/checkpoints", out);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    long steps[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        long s;
        char tail[8];
        if (sscanf(e->d_name, "step-%ld.%7s", &s, tail) == 2 && strcmp(tail, "ckpt") == 0)
            steps[n++] = s;
    }
    closedir(d);
    long newest = -1;
    for (int i = 0; i < n; i++)
        if (steps[i] > newest)
            newest = steps[i];
    if (keep > 0) {
        for (int i = 0; i < n; i++) {
            int newer = 0;
            for (int j = 0; j < n; j++)
                newer += steps[j] > steps[i];
            if (newer >= keep) {
                char p[PATH_MAX + 32];
                snprintf(p, sizeof p, "%s/step-%07ld.ckpt", dir, steps[i]);
                unlink(p);
            }
        }
    }
    return newest;
}

/* Keeps only the lines of metrics.jsonl with step <= upto, so a resumed
 * run's series stays continuous and free of duplicates. */
static int truncate_metrics(const char *path, long upto)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *o = fopen(tmp, "w");
    if (!o) {
        fclose(f);
        return -1;
    }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        long step;
        if (sscanf(line, "{\"step\":%ld", &step) == 1 && step <= upto && strchr(line, '\n'))
            fputs(line, o);
    }
    fclose(f);
    int rc = fflush(o) || fsync(fileno(o)) ? -1 : 0;
    if (fclose(o) || rc || rename(tmp, path))
        return -1;
    return 0;
}

static void print_progress(host_ctx *h, long step, bool force)
{
    double t = now_s();
    if (!force && t - h->last_print_s < (h->tty ? 0.5 : 10.0))
        return;
    h->last_print_s = t;
    double rate = (step - h->start_step) / (t - h->start_s > 1e-9 ? t - h->start_s : 1e-9);
    long eta = rate > 0 ? (long)((h->total - step) / rate) : 0;
    char metrics[256] = "";
    size_t off = 0;
    for (int i = 0; i < h->nlast && off < sizeof metrics; i++) {
        if (strcmp(h->last[i].name, "step_ms") == 0)
            continue;
        off += (size_t)snprintf(metrics + off, sizeof metrics - off, " %s %.3f", h->last[i].name,
                                h->last[i].value);
    }
    fprintf(stderr, "%sstep %ld/%ld (%.1f%%)  %.1f steps/s  ETA %ldh%02ldm%02lds %s%s",
            h->tty ? "\r" : "", step, h->total, 100.0 * step / h->total, rate, eta / 3600,
            eta / 60 % 60, eta % 60, metrics, h->tty ? "\033[K" : "\n");
}

static void on_metrics(void *ctx, long step, const gan_metric *m, int n)
{
    host_ctx *h = ctx;
    fprintf(h->metrics, "{\"step\":%ld", step);
    for (int i = 0; i < n; i++)
        fprintf(h->metrics, ",\"%s\":%.9g", m[i].name, m[i].value);
    fputs("}\n", h->metrics);
    h->last = m;
    h->nlast = n;
    print_progress(h, step, step == h->total);
}

static gand_status on_sample(void *ctx, long step, const float *images, int n, nn_shape s,
                             int cols, char *err, size_t errlen)
{
    host_ctx *h = ctx;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/samples/step-%07ld.png", h->out, step);
    return img_write_png_grid(path, images, n, s, cols, err, errlen);
}

static gand_status on_checkpoint(void *ctx, gan_trainer *t, long step, char *err, size_t errlen)
{
    host_ctx *h = ctx;
    /* metrics reach the disk before the checkpoint that covers them */
    if (fflush(h->metrics) || fsync(fileno(h->metrics)))
        return gand_errorf(err, errlen, GAND_EIO, "cannot write %s/metrics.jsonl: %s", h->out,
                           strerror(errno));
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/checkpoints/step-%07ld.ckpt", h->out, step);
    gand_status st = gan_trainer_save(t, path, err, errlen);
    if (st == GAND_OK)
        scan_checkpoints(h->out, KEEP_CHECKPOINTS);
    return st;
}

static bool should_stop(void *ctx) { return stop_signal != 0; }

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'}, {"resume", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},      {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    bool resume = false;
    int c;
    while ((c = getopt_long(argc, argv, "o:rhV", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'r': resume = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("gand-train %s\n", GAND_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || !out) {
        fprintf(stderr, "gand-train: %s\n",
                optind >= argc ? "missing SPEC.json" : !out ? "missing --out DIR" : "too many arguments");
        usage(stderr);
        return 2;
    }
    const char *spec_path = argv[optind];
    char err[PATH_MAX + 512], field[64];
    size_t len;
    char *json = read_file(spec_path, &len, err, sizeof err);
    if (!json) {
        fprintf(stderr, "gand-train: %s\n", err);
        return 2;
    }
    gan_spec spec;
    gand_status st = gan_spec_parse(json, len, &spec, err, sizeof err, field, sizeof field);
    gand_free(json);
    if (st != GAND_OK) {
        fprintf(stderr, "gand-train: %s: %s\n", spec_path, err);
        return 2;
    }

    char sub[PATH_MAX];
    if (make_dir(out))
        return 1;
    snprintf(sub, sizeof sub, "%s/samples", out);
    if (make_dir(sub))
        return 1;
    snprintf(sub, sizeof sub, "%s/checkpoints", out);
    if (make_dir(sub))
        return 1;
    long ckpt_step = scan_checkpoints(out, 0);
    if (ckpt_step >= 0 && !resume) {
        fprintf(stderr,
                "gand-train: %s already holds a run (checkpoint at step %ld); use --resume to "
                "continue it or choose another --out\n",
                out, ckpt_step);
        return 2;
    }
    if (resume && ckpt_step < 0) {
        fprintf(stderr, "gand-train: --resume: %s has no checkpoint to continue from\n", out);
        return 2;
    }

    gan_trainer *t = gan_trainer_create(&spec, &st, err, sizeof err);
    if (!t) {
        fprintf(stderr, "gand-train: %s\n", err);
        return st == GAND_ENOMEM || st == GAND_EIO ? 1 : 2;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/metrics.jsonl", out);
    if (resume) {
        char ck[PATH_MAX + 32];
        snprintf(ck, sizeof ck, "%s/checkpoints/step-%07ld.ckpt", out, ckpt_step);
        st = gan_trainer_load(t, ck, err, sizeof err);
        if (st != GAND_OK) {
            fprintf(stderr, "gand-train: cannot resume: %s\n", err);
            gan_trainer_free(t);
            return 1;
        }
        if (truncate_metrics(path, ckpt_step)) {
            fprintf(stderr, "gand-train: cannot rewrite %s: %s\n", path, strerror(errno));
            gan_trainer_free(t);
            return 1;
        }
    }
    char *norm = gan_spec_to_json(&spec);
    snprintf(sub, sizeof sub, "%s/spec.json", out);
    FILE *sf = norm ? fopen(sub, "w") : NULL;
    if (sf) {
        fprintf(sf, "%s\n", norm);
        fclose(sf);
    }
    gand_free(norm);

    host_ctx h = {.out = out, .total = gan_trainer_total_steps(t), .tty = isatty(2)};
    h.metrics = fopen(path, resume ? "a" : "w");
    if (!h.metrics) {
        fprintf(stderr, "gand-train: cannot open %s: %s\n", path, strerror(errno));
        gan_trainer_free(t);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    nn_shape s = gan_trainer_image_shape(t);
    fprintf(stderr, "gand-train: %s: %s on %s (%d images of %dx%dx%d), %ld steps from step %ld\n",
            spec.name, gan_kind_name(spec.kind), spec.dataset, gan_trainer_num_images(t), s.c, s.h, s.w, h.total,
            gan_trainer_step(t));
    h.start_s = h.last_print_s = now_s();
    h.start_step = gan_trainer_step(t);
    gan_host host = {.ctx = &h,
                     .on_metrics = on_metrics,
                     .on_sample = on_sample,
                     .on_checkpoint = on_checkpoint,
                     .should_stop = should_stop};
    st = gan_trainer_run(t, &host, err, sizeof err);
    if (h.tty)
        fputc('\n', stderr);
    int rc = 0;
    if (fclose(h.metrics) && st == GAND_OK) {
        snprintf(err, sizeof err, "cannot write %s: %s", path, strerror(errno));
        st = GAND_EIO;
    }
    if (st == GAND_ECANCELED) {
        fprintf(stderr, "gand-train: %s; continue with: gand-train %s --out %s --resume\n", err,
                spec_path, out);
        rc = 128 + stop_signal;
    } else if (st != GAND_OK) {
        fprintf(stderr, "gand-train: training failed: %s\n", err);
        rc = 1;
    } else {
        fprintf(stderr, "gand-train: done: %ld steps in %.1f s; samples in %s/samples\n", h.total,
                now_s() - h.start_s, out);
    }
    gan_trainer_free(t);
    return rc;
}
