#include "sched_fixture.h"

#include "store_fixture.h"

#include "gand/gan.h"

#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char sf_state[PATH_MAX], sf_state2[PATH_MAX], sf_data[PATH_MAX];

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static sf_event ev[SF_MAX_EVENTS];
static size_t nev;
static long throttle_us;

double sf_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void write_idx(const char *path, unsigned magic, const unsigned *dims, int ndim,
                      const unsigned char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned words[4] = {magic};
    for (int i = 0; i < ndim; i++)
        words[1 + i] = dims[i];
    for (int i = 0; i <= ndim; i++) {
        unsigned char b[4] = {(unsigned char)(words[i] >> 24), (unsigned char)(words[i] >> 16),
                              (unsigned char)(words[i] >> 8), (unsigned char)words[i]};
        ck_assert_uint_eq(fwrite(b, 1, 4, f), 4);
    }
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

void sf_setup(void)
{
    fixture_setup();
    snprintf(sf_state, PATH_MAX, "%s/state", fixture_dir);
    snprintf(sf_state2, PATH_MAX, "%s/state2", fixture_dir);
    snprintf(sf_data, PATH_MAX, "%s/data", fixture_dir);
    ck_assert_int_eq(mkdir(sf_data, 0755), 0);
    enum { N = 64, SIDE = 8 };
    static unsigned char pix[N * SIDE * SIDE], lab[N];
    for (int i = 0; i < N; i++) {
        lab[i] = (unsigned char)(i % 4);
        for (int k = 0; k < SIDE * SIDE; k++) /* a bar whose place depends on the class */
            pix[i * SIDE * SIDE + k] =
                (unsigned char)((k / SIDE == 2 * (i % 4) ? 220 : 20) + (i * 7 + k) % 17);
    }
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", sf_data);
    write_idx(path, 0x803, (unsigned[]){N, SIDE, SIDE}, 3, pix, sizeof pix);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", sf_data);
    write_idx(path, 0x801, (unsigned[]){N}, 1, lab, sizeof lab);
    pthread_mutex_lock(&ev_mu);
    nev = 0;
    throttle_us = 0;
    pthread_mutex_unlock(&ev_mu);
}

void sf_teardown(void) { fixture_teardown(); }

void sf_spec(char *buf, size_t n, long steps, int sample_every, int checkpoint_every)
{
    snprintf(buf, n,
             "{\"model\":\"dcgan\",\"dataset\":\"%s\",\"steps\":%ld,\"batch_size\":8,"
             "\"g_width\":16,\"d_width\":8,\"z_dim\":8,\"sample_every\":%d,"
             "\"checkpoint_every\":%d,\"seed\":7}",
             sf_data, steps, sample_every, checkpoint_every);
}

int64_t sf_create_run(const char *dir, const char *spec)
{
    gan_spec gs;
    char err[512], field[64];
    ck_assert_msg(gan_spec_parse(spec, strlen(spec), &gs, err, sizeof err, field,
                                 sizeof field) == GAND_OK,
                  "%s", err);
    store *db = fixture_open(dir);
    store_run_new r = {.name = "test", .kind = "dcgan", .dataset = gs.dataset, .spec = spec,
                       .total_steps = gs.steps};
    int64_t id = 0;
    ck_assert_msg(store_run_create(db, &r, &id, err, sizeof err) == GAND_OK, "%s", err);
    store_close(db);
    return id;
}

static void record(void *ctx, int64_t id, int64_t run_id, const char *type, const char *data)
{
    (void)ctx;
    long sleep_us = 0;
    pthread_mutex_lock(&ev_mu);
    if (nev < SF_MAX_EVENTS) {
        sf_event *e = &ev[nev++];
        e->id = id;
        e->run_id = run_id;
        snprintf(e->type, sizeof e->type, "%s", type);
        snprintf(e->data, sizeof e->data, "%s", data);
    }
    if (strcmp(type, "progress") == 0)
        sleep_us = throttle_us;
    pthread_mutex_unlock(&ev_mu);
    if (sleep_us > 0)
        usleep((useconds_t)sleep_us);
}

sched_params sf_params(const char *dir)
{
    sched_params p = sched_default_params();
    p.state_dir = dir;
    p.blas_threads = 1;
    p.event_interval_ms = 0;
    p.cancel_poll_ms = 20;
    p.on_event = record;
    return p;
}

sched *sf_sched(const sched_params *p)
{
    gand_status st;
    char err[1024] = "";
    sched *s = sched_create(p, &st, err, sizeof err);
    ck_assert_msg(s != NULL, "sched_create: %s", err);
    return s;
}

size_t sf_events(sf_event *out)
{
    pthread_mutex_lock(&ev_mu);
    size_t n = nev;
    memcpy(out, ev, n * sizeof *out);
    pthread_mutex_unlock(&ev_mu);
    return n;
}

void sf_set_throttle_us(long us)
{
    pthread_mutex_lock(&ev_mu);
    throttle_us = us;
    pthread_mutex_unlock(&ev_mu);
}

store_run sf_wait_final(const char *dir, int64_t id, double timeout_s)
{
    store *db = fixture_open(dir);
    double end = sf_now_s() + timeout_s;
    store_run r;
    char err[512];
    for (;;) {
        ck_assert_msg(store_run_get(db, id, &r, err, sizeof err) == GAND_OK, "%s", err);
        if (store_run_state_is_final(r.state))
            break;
        ck_assert_msg(sf_now_s() < end, "run %lld still %s at step %lld after %.1f s",
                      (long long)id, store_run_state_name(r.state), (long long)r.step,
                      timeout_s);
        store_run_clear(&r);
        sleep_ms(5);
    }
    store_close(db);
    return r;
}

void sf_wait_state(const char *dir, int64_t id, store_run_state state, double timeout_s)
{
    store *db = fixture_open(dir);
    double end = sf_now_s() + timeout_s;
    store_run r;
    char err[512];
    for (;;) {
        ck_assert_msg(store_run_get(db, id, &r, err, sizeof err) == GAND_OK, "%s", err);
        store_run_state now = r.state;
        store_run_clear(&r);
        if (now == state)
            break;
        ck_assert_msg(sf_now_s() < end, "run %lld is %s, not %s, after %.1f s", (long long)id,
                      store_run_state_name(now), store_run_state_name(state), timeout_s);
        sleep_ms(2);
    }
    store_close(db);
}

void sf_wait_step(sched *s, int64_t id, int64_t step, double timeout_s)
{
    double end = sf_now_s() + timeout_s;
    for (;;) {
        sched_snapshot snap;
        sched_stats(s, &snap);
        for (int i = 0; i < snap.running; i++)
            if (snap.runs[i].run_id == id && snap.runs[i].step >= step)
                return;
        ck_assert_msg(sf_now_s() < end, "run %lld did not reach step %lld in %.1f s",
                      (long long)id, (long long)step, timeout_s);
        sleep_ms(1);
    }
}

size_t sf_check_series(const char *dir, int64_t id, int64_t total)
{
    store *db = fixture_open(dir);
    store_series_set set;
    char err[512];
    ck_assert_msg(store_metrics_query(db, id, NULL, -1, 0, &set, err, sizeof err) == GAND_OK,
                  "%s", err);
    for (size_t k = 0; k < set.n; k++) {
        const store_series *ser = &set.series[k];
        ck_assert_msg((int64_t)ser->n == total, "metric %s has %zu points, not %lld", ser->name,
                      ser->n, (long long)total);
        for (size_t i = 0; i < ser->n; i++)
            ck_assert_msg(ser->steps[i] == (int64_t)i + 1, "metric %s: point %zu is at step %lld",
                          ser->name, i, (long long)ser->steps[i]);
    }
    size_t n = set.n;
    store_series_set_clear(&set);
    store_close(db);
    return n;
}

void sf_run_file(const char *dir, int64_t id, const char *sub, char *buf, size_t n)
{
    snprintf(buf, n, "%s/runs/%lld/%s", dir, (long long)id, sub);
}

bool sf_file_exists(const char *path) { return access(path, F_OK) == 0; }

bool sf_files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    ck_assert_msg(fa && fb, "cannot open %s or %s", a, b);
    bool same = true;
    int ca, cb;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        if (ca != cb)
            same = false;
    } while (same && ca != EOF);
    fclose(fa);
    fclose(fb);
    return same;
}
