/* Parity with PyTorch: the DCGAN-28 reference model trained for three
 * classic D+G iterations by gand's engine must reproduce the numbers
 * PyTorch 1.13 recorded in tests/golden/dcgan28.bin (written by
 * tests/golden/make_dcgan28.py, whose comment gives the model, the
 * procedure and the file format).
 *
 * Tolerance: for each tensor, max |gand - torch| over its elements divided
 * by max |torch| (at least 1e-6) must be at most 1e-4. OpenBLAS and PyTorch
 * sum in different orders, so the values cannot be identical: forwards and
 * first gradients agree to about 1e-6, the trained values to about 2e-5 (the
 * worst is a batch norm shift, which after three Adam steps is only lr-sized
 * and so the most sensitive). A wrong term moves a tensor by far more.
 *
 * The golden seed was picked for a well-conditioned run (see the script):
 * with another, a ReLU input or a gradient element within rounding of zero
 * can send the two implementations apart by 1e-3 after the first Adam step
 * without either being wrong. A failure that appears only after iteration
 * 0's D step, with every earlier check passing, is worth reading that way;
 * one in iteration 0's forwards or D gradients is not. */
#include "gand/arch.h"
#include "gand/nn.h"
#include "gand/nn_loss.h"

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARITY_TOL 1e-4
#define BATCH 16
#define ITERS 3

typedef struct {
    char name[64];
    int stride; /* the record holds elements 0, stride, 2 stride, ... */
    int ndim;
    int dims[4]; /* of the full tensor */
    size_t count; /* values stored */
    float *data;
} golden_rec;

typedef struct {
    golden_rec *recs;
    int n;
} golden;

static golden gold;
static double worst;
static char worst_name[64];

/* ---- golden file ---- */

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* IEEE half to float, subnormals included. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, mant = h & 1023;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 1024), (int)exp - 25);
    uint32_t bits;
    memcpy(&bits, &v, 4);
    bits |= sign;
    memcpy(&v, &bits, 4);
    return v;
}

/* Reads len bytes at *pos of buf (size n), aborting the test when the file
 * is shorter. */
static const unsigned char *take(const unsigned char *buf, size_t n, size_t *pos, size_t len)
{
    ck_assert_msg(len <= n - *pos, "golden file truncated at byte %zu", *pos);
    const unsigned char *p = buf + *pos;
    *pos += len;
    return p;
}

static void golden_load(void)
{
    const char *root = getenv("GAND_TEST_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/dcgan28.bin", root ? root : ".");
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n);
    ck_assert_uint_eq(fread(buf, 1, n, f), n);
    fclose(f);

    size_t pos = 0;
    ck_assert_msg(memcmp(take(buf, n, &pos, 8), "GANDGLD1", 8) == 0, "%s: bad magic", path);
    gold.n = (int)le32(take(buf, n, &pos, 4));
    gold.recs = calloc((size_t)gold.n, sizeof *gold.recs);
    for (int i = 0; i < gold.n; i++) {
        golden_rec *r = &gold.recs[i];
        uint32_t len = le32(take(buf, n, &pos, 4));
        ck_assert_uint_lt(len, sizeof r->name);
        memcpy(r->name, take(buf, n, &pos, len), len);
        uint32_t dtype = le32(take(buf, n, &pos, 4));
        r->stride = (int)le32(take(buf, n, &pos, 4));
        r->ndim = (int)le32(take(buf, n, &pos, 4));
        ck_assert(dtype <= 1 && r->stride >= 1 && r->ndim <= 4);
        for (int d = 0; d < r->ndim; d++)
            r->dims[d] = (int)le32(take(buf, n, &pos, 4));
        r->count = le32(take(buf, n, &pos, 4));
        size_t width = dtype ? 2 : 4;
        const unsigned char *src = take(buf, n, &pos, r->count * width);
        r->data = malloc((r->count ? r->count : 1) * sizeof(float));
        for (size_t k = 0; k < r->count; k++) {
            if (dtype) {
                r->data[k] = half_to_float((uint16_t)(src[2 * k] | src[2 * k + 1] << 8));
            } else {
                uint32_t bits = le32(src + 4 * k);
                memcpy(&r->data[k], &bits, 4);
            }
        }
    }
    ck_assert_uint_eq(pos, n);
    free(buf);
}

static void golden_free(void)
{
    for (int i = 0; i < gold.n; i++)
        free(gold.recs[i].data);
    free(gold.recs);
    gold.recs = NULL;
    gold.n = 0;
}

static const golden_rec *rec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const golden_rec *rec(const char *fmt, ...)
{
    char name[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < gold.n; i++)
        if (strcmp(gold.recs[i].name, name) == 0)
            return &gold.recs[i];
    ck_abort_msg("golden record %s is missing", name);
    return NULL;
}

static size_t rec_size(const golden_rec *r)
{
    size_t s = 1;
    for (int d = 0; d < r->ndim; d++)
        s *= (size_t)r->dims[d];
    return s;
}

/* Compares a (the whole tensor, size elements) with the record's elements. */
static void expect_close(const char *what, const float *a, size_t size, const golden_rec *r)
{
    ck_assert_msg(rec_size(r) == size, "%s: %zu values, golden %s has %zu", what, size, r->name,
                  rec_size(r));
    ck_assert_uint_eq(r->count, (size + (size_t)r->stride - 1) / (size_t)r->stride);
    double diff = 0.0, scale = 1e-6;
    for (size_t k = 0; k < r->count; k++) {
        double b = r->data[k], d = fabs((double)a[k * (size_t)r->stride] - b);
        ck_assert_msg(isfinite(a[k * (size_t)r->stride]), "%s[%zu] is not finite", what,
                      k * (size_t)r->stride);
        diff = d > diff ? d : diff;
        scale = fabs(b) > scale ? fabs(b) : scale;
    }
    double e = diff / scale;
    if (e > worst) {
        worst = e;
        snprintf(worst_name, sizeof worst_name, "%s", what);
    }
    ck_assert_msg(e <= PARITY_TOL, "%s: max |gand - torch| / max |torch| = %.3g > %g", what, e,
                  PARITY_TOL);
}

/* ---- the model ---- */

/* Golden names of gand's parameters, in nn_net_param order. */
typedef struct {
    const char *torch, *gand;
} param_map;

static const param_map g_map[] = {
    {"fc.weight", "weight"},          {"bn0.weight", "scale"},         {"bn0.bias", "shift"},
    {"bn0.running_mean", "running_mean"}, {"bn0.running_var", "running_var"},
    {"ct1.weight", "weight"},         {"bn1.weight", "scale"},         {"bn1.bias", "shift"},
    {"bn1.running_mean", "running_mean"}, {"bn1.running_var", "running_var"},
    {"ct2.weight", "weight"},         {"ct2.bias", "bias"},
};
static const param_map d_map[] = {
    {"conv1.weight", "weight"}, {"conv1.bias", "bias"}, {"conv2.weight", "weight"},
    {"bn2.weight", "scale"},    {"bn2.bias", "shift"},  {"bn2.running_mean", "running_mean"},
    {"bn2.running_var", "running_var"}, {"fc.weight", "weight"}, {"fc.bias", "bias"},
};
#define NMAP(m) (int)(sizeof m / sizeof m[0])

/* Checks that net's parameters are the mapped ones, with torch's shapes,
 * and loads their initial values. */
static void load_init(nn_net *net, const char *tag, const param_map *map, int n)
{
    ck_assert_int_eq(nn_net_param_count(net), n);
    for (int i = 0; i < n; i++) {
        nn_param *p = nn_net_param(net, i);
        const golden_rec *r = rec("init.%s.%s", tag, map[i].torch);
        ck_assert_msg(strcmp(p->name, map[i].gand) == 0, "%s param %d is %s, want %s (%s)", tag,
                      i, p->name, map[i].gand, map[i].torch);
        ck_assert_int_eq(p->ndim, r->ndim);
        for (int d = 0; d < r->ndim; d++)
            ck_assert_msg(p->dims[d] == r->dims[d], "%s: dim %d is %d, torch has %d",
                          r->name, d, p->dims[d], r->dims[d]);
        ck_assert_uint_eq(r->count, p->count);
        memcpy(p->w, r->data, p->count * sizeof(float));
    }
}

/* Compares every parameter's gradient (kind "grad") or value ("final",
 * buffers included) with the golden records. */
static void expect_params(nn_net *net, const char *kind, const char *tag, const param_map *map,
                          int n)
{
    bool grads = strcmp(kind, "grad") == 0;
    for (int i = 0; i < n; i++) {
        nn_param *p = nn_net_param(net, i);
        if (grads && !p->trainable)
            continue;
        char what[64];
        snprintf(what, sizeof what, "%s.%s.%s", kind, tag, map[i].torch);
        expect_close(what, grads ? p->g : p->w, p->count, rec("%s", what));
    }
}

static void build(nn_net **g, nn_net **d)
{
    arch_params ap = arch_default_params();
    char err[256] = "";
    *g = arch_dcgan28_generator(&ap, BATCH, err, sizeof err);
    ck_assert_msg(*g != NULL, "%s", err);
    *d = arch_dcgan28_discriminator(&ap, BATCH, err, sizeof err);
    ck_assert_msg(*d != NULL, "%s", err);
    load_init(*g, "G", g_map, NMAP(g_map));
    load_init(*d, "D", d_map, NMAP(d_map));
}

static void expect_loss(const char *what, float got, float want)
{
    double e = fabs((double)got - want) / fmax(fabs((double)want), 1e-6);
    ck_assert_msg(e <= PARITY_TOL, "%s: gand %.8g, torch %.8g (relative %.3g)", what, got, want,
                  e);
    if (e > worst) {
        worst = e;
        snprintf(worst_name, sizeof worst_name, "%s", what);
    }
}

START_TEST(test_golden_file)
{
    golden_load();
    const golden_rec *x = rec("iter0.x");
    ck_assert_int_eq(x->dims[0], BATCH);
    ck_assert_uint_eq(x->count, (size_t)BATCH * 784);
    for (size_t k = 0; k < x->count; k++)
        ck_assert(x->data[k] >= -1.0f && x->data[k] <= 1.0f);
    /* BN running variances start at exactly 1 (float16 decoding) */
    const golden_rec *rv = rec("init.G.bn1.running_var");
    for (size_t k = 0; k < rv->count; k++)
        ck_assert(rv->data[k] == 1.0f);
    ck_assert_float_eq(half_to_float(0x3c00), 1.0f);
    ck_assert_float_eq(half_to_float(0xc000), -2.0f);
    ck_assert_float_eq(half_to_float(0x0001), ldexpf(1.0f, -24));
    ck_assert_float_eq(half_to_float(0x7bff), 65504.0f);
    golden_free();
}
END_TEST

START_TEST(test_dcgan28_matches_pytorch)
{
    golden_load();
    nn_net *g, *d;
    build(&g, &d);
    nn_adam_params adam = nn_adam_default_params();
    float dl[BATCH];
    worst = 0.0;

    for (int it = 0; it < ITERS; it++) {
        const float *x = rec("iter%d.x", it)->data, *z = rec("iter%d.z", it)->data;
        char what[64];
        const golden_rec *loss = rec("iter%d.loss", it);

        /* D step: real batch labelled 1, generated batch labelled 0 */
        nn_net_zero_grad(d);
        const float *logit = nn_net_forward(d, x, BATCH, true, NULL);
        snprintf(what, sizeof what, "iter%d.d_real", it);
        expect_close(what, logit, BATCH, rec("%s", what));
        float err_real = nn_loss_bce_logits_const(logit, BATCH, 1.0f, dl);
        nn_net_backward(d, dl, false);
        const float *fake = nn_net_forward(g, z, BATCH, true, NULL);
        if (it == 0)
            expect_close("iter0.fake", fake, (size_t)BATCH * 784, rec("iter0.fake"));
        logit = nn_net_forward(d, fake, BATCH, true, NULL);
        snprintf(what, sizeof what, "iter%d.d_fake", it);
        expect_close(what, logit, BATCH, rec("%s", what));
        float err_fake = nn_loss_bce_logits_const(logit, BATCH, 0.0f, dl);
        nn_net_backward(d, dl, false);
        if (it == 0)
            expect_params(d, "grad", "D", d_map, NMAP(d_map));
        nn_adam_step(d, &adam);

        /* G step through the updated D, generated batch labelled 1 */
        nn_net_zero_grad(g);
        logit = nn_net_forward(d, fake, BATCH, true, NULL);
        snprintf(what, sizeof what, "iter%d.d_gen", it);
        expect_close(what, logit, BATCH, rec("%s", what));
        float err_g = nn_loss_bce_logits_const(logit, BATCH, 1.0f, dl);
        const float *dfake = nn_net_backward(d, dl, true);
        nn_net_backward(g, dfake, false);
        if (it == 0)
            expect_params(g, "grad", "G", g_map, NMAP(g_map));
        nn_adam_step(g, &adam);

        snprintf(what, sizeof what, "iter%d.errD_real", it);
        expect_loss(what, err_real, loss->data[0]);
        snprintf(what, sizeof what, "iter%d.errD_fake", it);
        expect_loss(what, err_fake, loss->data[1]);
        snprintf(what, sizeof what, "iter%d.errG", it);
        expect_loss(what, err_g, loss->data[2]);
    }
    expect_params(g, "final", "G", g_map, NMAP(g_map));
    expect_params(d, "final", "D", d_map, NMAP(d_map));
    fprintf(stderr, "dcgan28 parity: worst relative error %.3g (%s), tolerance %g\n", worst,
            worst_name, PARITY_TOL);

    nn_net_free(g);
    nn_net_free(d);
    golden_free();
}
END_TEST

static Suite *parity_suite(void)
{
    Suite *s = suite_create("nn_parity");
    TCase *tc = tcase_create("dcgan28");
    tcase_add_test(tc, test_golden_file);
    tcase_add_test(tc, test_dcgan28_matches_pytorch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(parity_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
