/* Checkpoints: round trip, every refusal with its message, failed writes
 * and out-of-memory paths. Each test works in its own temporary directory. */
#include "gradcheck.h"

#include "gand/alloc.h"
#include "gand/nn.h"
#include "gand/nn_ckpt.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXTRA_LEN 24

static char dir[64], path[128], tmp_path[140];
static unsigned char extra[EXTRA_LEN];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/gand_ckpt_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path);
    for (int i = 0; i < EXTRA_LEN; i++)
        extra[i] = (unsigned char)(7 * i + 1);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[400];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        remove(p);
    }
    closedir(d);
    rmdir(dir);
}

static int dir_entries(void)
{
    DIR *d = opendir(dir);
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        k += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return k;
}

/* ---- nets ---- */

/* G: linear(hidden) relu spectral_norm(linear(3)): tensors weight, bias,
 * u (state), weight, bias. With sn false the u is missing. */
static nn_net *make_g(int hidden, bool sn)
{
    nn_net *net = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(net, nn_linear(hidden, true));
    nn_net_add(net, nn_relu());
    nn_net_add(net, sn ? nn_spectral_norm(nn_linear(3, true)) : nn_linear(3, true));
    char err[256];
    ck_assert_msg(nn_net_finalize(net, 2, err, sizeof err) == GAND_OK, "%s", err);
    return net;
}

/* D: linear(2) prelu: weight (2,3), bias (2), weight (2); with bias false
 * a second prelu keeps the tensor count. */
static nn_net *make_d(bool bias)
{
    nn_net *net = nn_net_create((nn_shape){3, 1, 1});
    nn_net_add(net, nn_linear(2, bias));
    nn_net_add(net, nn_prelu());
    if (!bias)
        nn_net_add(net, nn_prelu());
    char err[256];
    ck_assert_msg(nn_net_finalize(net, 2, err, sizeof err) == GAND_OK, "%s", err);
    return net;
}

/* Gives every buffer distinct contents: init, a few Adam steps on made-up
 * gradients, made-up state. */
static void fill(nn_net *net, unsigned long seed)
{
    gand_rng rng;
    gand_rng_seed(&rng, seed);
    nn_net_init(net, &rng, NN_INIT_DEFAULT);
    nn_adam_params ap = nn_adam_default_params();
    for (int s = 0; s < 3; s++) {
        gradcheck_fill(nn_net_grads(net), nn_net_num_params(net), -1, 1, seed + (unsigned long)s);
        nn_adam_step(net, &ap);
    }
    gradcheck_fill(nn_net_state(net), nn_net_num_state(net), -1, 1, seed + 10);
    nn_net_set_steps(net, (long)seed * 1000 + 7);
}

typedef struct {
    float *buf[4];
    size_t len[4];
    long steps;
} snap;

static snap take(nn_net *net)
{
    snap s;
    float *src[4] = {nn_net_params(net), nn_net_moment1(net), nn_net_moment2(net),
                     nn_net_state(net)};
    size_t np = nn_net_num_params(net), ns = nn_net_num_state(net);
    size_t len[4] = {np, np, np, ns};
    for (int i = 0; i < 4; i++) {
        s.len[i] = len[i];
        s.buf[i] = malloc((len[i] + 1) * sizeof(float));
        memcpy(s.buf[i], src[i], len[i] * sizeof(float));
    }
    s.steps = nn_net_steps(net);
    return s;
}

static bool same(nn_net *net, const snap *s)
{
    float *now[4] = {nn_net_params(net), nn_net_moment1(net), nn_net_moment2(net),
                     nn_net_state(net)};
    for (int i = 0; i < 4; i++)
        if (memcmp(now[i], s->buf[i], s->len[i] * sizeof(float)) != 0)
            return false;
    return nn_net_steps(net) == s->steps;
}

static void drop(snap *s)
{
    for (int i = 0; i < 4; i++)
        free(s->buf[i]);
}

static const char *const names2[2] = {"G", "D"};

/* Saves G (hidden 8, seed 1) and D (seed 2) to path. */
static void save_reference(void)
{
    nn_net *g = make_g(8, true), *d = make_d(true);
    fill(g, 1);
    fill(d, 2);
    char err[256];
    ck_assert_msg(nn_ckpt_save(path, (nn_net *[]){g, d}, names2, 2, extra, EXTRA_LEN, err,
                               sizeof err) == GAND_OK,
                  "%s", err);
    nn_net_free(g);
    nn_net_free(d);
}

static unsigned char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len + 1);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spill(const char *p, const unsigned char *b, size_t len)
{
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* Loads path into a fresh G (hidden 8) and D with distinct contents and
 * checks the refusal: status, message containing want, nets unchanged. */
static void expect_refusal(gand_status want_st, const char *want)
{
    nn_net *g = make_g(8, true), *d = make_d(true);
    fill(g, 5);
    fill(d, 6);
    snap sg = take(g), sd = take(d);
    unsigned char ex[EXTRA_LEN];
    memset(ex, 0xab, sizeof ex);
    char err[256] = "";
    gand_status st = nn_ckpt_load(path, (nn_net *[]){g, d}, names2, 2, ex, EXTRA_LEN, err,
                                  sizeof err);
    ck_assert_msg(st == want_st, "status %d, want %d: %s", st, want_st, err);
    ck_assert_msg(strstr(err, want), "message '%s' lacks '%s'", err, want);
    ck_assert(same(g, &sg) && same(d, &sd));
    for (int i = 0; i < EXTRA_LEN; i++)
        ck_assert_uint_eq(ex[i], 0xab);
    drop(&sg);
    drop(&sd);
    nn_net_free(g);
    nn_net_free(d);
}

/* ---- tests ---- */

START_TEST(test_round_trip)
{
    nn_net *g = make_g(8, true), *d = make_d(true);
    fill(g, 1);
    fill(d, 2);
    snap sg = take(g), sd = take(d);
    char err[256];
    ck_assert_msg(nn_ckpt_save(path, (nn_net *[]){g, d}, names2, 2, extra, EXTRA_LEN, err,
                               sizeof err) == GAND_OK,
                  "%s", err);
    ck_assert_int_eq(dir_entries(), 1); /* no tmp file left */

    /* the documented layout: fixed header, net headers, data, extra, CRC */
    size_t len;
    unsigned char *b = slurp(path, &len);
    /* name, steps, count; then per tensor name, flag, ndim, dims:
     * G weight (8,4), bias (8), u (3), weight (3,8), bias (3);
     * D weight (2,3), bias (2), weight (2) */
    size_t hdr_g = (4 + 1 + 8 + 4) + 2 * (4 + 6 + 1 + 4 + 2 * 4) + 2 * (4 + 4 + 1 + 4 + 4) +
                   (4 + 1 + 1 + 4 + 4);
    size_t hdr_d = (4 + 1 + 8 + 4) + (4 + 6 + 1 + 4 + 2 * 4) + (4 + 4 + 1 + 4 + 4) +
                   (4 + 6 + 1 + 4 + 4);
    size_t data = 4 * (3 * (nn_net_num_params(g) + nn_net_num_params(d)) + nn_net_num_state(g) +
                       nn_net_num_state(d));
    ck_assert_uint_eq(len, 24 + hdr_g + hdr_d + data + 8 + EXTRA_LEN + 4);
    ck_assert_int_eq(memcmp(b, "GANDCKPT\1\0\0\0", 12), 0);
    ck_assert_uint_eq(b[12] | b[13] << 8 | b[14] << 16, len);
    ck_assert_int_eq(memcmp(b + len - 4 - EXTRA_LEN, extra, EXTRA_LEN), 0);
    free(b);

    /* perturb everything, load, get the same bytes back */
    fill(g, 3);
    fill(d, 4);
    ck_assert(!same(g, &sg) && !same(d, &sd));
    unsigned char ex[EXTRA_LEN] = {0};
    ck_assert_msg(nn_ckpt_load(path, (nn_net *[]){g, d}, names2, 2, ex, EXTRA_LEN, err,
                               sizeof err) == GAND_OK,
                  "%s", err);
    ck_assert(same(g, &sg) && same(d, &sd));
    ck_assert_int_eq(nn_net_steps(g), 1007);
    ck_assert_int_eq(memcmp(ex, extra, EXTRA_LEN), 0);

    /* into freshly built nets too, and a second save overwrites in place */
    nn_net *g2 = make_g(8, true), *d2 = make_d(true);
    ck_assert(nn_ckpt_load(path, (nn_net *[]){g2, d2}, names2, 2, ex, EXTRA_LEN, err,
                           sizeof err) == GAND_OK);
    ck_assert(same(g2, &sg) && same(d2, &sd));
    nn_net_set_steps(g2, 5);
    ck_assert(nn_ckpt_save(path, (nn_net *[]){g2, d2}, names2, 2, NULL, 0, err, sizeof err) ==
              GAND_OK);
    ck_assert(nn_ckpt_load(path, (nn_net *[]){g, d}, names2, 2, NULL, 0, err, sizeof err) ==
              GAND_OK);
    ck_assert_int_eq(nn_net_steps(g), 5);
    ck_assert_int_eq(dir_entries(), 1);
    drop(&sg);
    drop(&sd);
    nn_net_free(g);
    nn_net_free(d);
    nn_net_free(g2);
    nn_net_free(d2);
}
END_TEST

START_TEST(test_missing_and_foreign_files)
{
    expect_refusal(GAND_ENOTFOUND, path);
    const char junk[] = "\x89PNG\r\n\x1a\n this is an image, not a checkpoint.............";
    spill(path, (const unsigned char *)junk, sizeof junk);
    expect_refusal(GAND_EFORMAT, "is not a gand checkpoint");
    spill(path, (const unsigned char *)"GANDX", 5);
    expect_refusal(GAND_EFORMAT, "is not a gand checkpoint");
    remove(path);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    expect_refusal(GAND_EIO, "not a regular file");
}
END_TEST

START_TEST(test_unsupported_version)
{
    save_reference();
    size_t len;
    unsigned char *b = slurp(path, &len);
    b[8] = 2;
    spill(path, b, len);
    expect_refusal(GAND_EFORMAT, "format version 2, which is unsupported: this gand reads "
                                 "version 1");
    free(b);
}
END_TEST

START_TEST(test_truncated_at_every_kind_of_length)
{
    save_reference();
    size_t len;
    unsigned char *b = slurp(path, &len);
    const size_t cuts[] = {0, 5, 12, 23, 24, 30, 100, len / 2, len - 4 - EXTRA_LEN, len - 5,
                           len - 1};
    char want[128];
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        spill(path, b, cuts[i]);
        if (cuts[i] < 24)
            snprintf(want, sizeof want, "truncated: expected at least 24 bytes, file has %zu",
                     cuts[i]);
        else
            snprintf(want, sizeof want, "truncated: expected %zu bytes, file has %zu", len,
                     cuts[i]);
        expect_refusal(GAND_EFORMAT, want);
    }
    free(b);
}
END_TEST

START_TEST(test_corruption_is_detected)
{
    save_reference();
    size_t len;
    unsigned char *b = slurp(path, &len);
    /* a parameter bit, a header byte (a tensor name), the extra, the CRC */
    const size_t at[] = {len / 2, 40, len - 10, len - 2};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        b[at[i]] ^= 0x10;
        spill(path, b, len);
        expect_refusal(GAND_EFORMAT, "is corrupted: checksum");
        b[at[i]] ^= 0x10;
    }
    unsigned char *longer = malloc(len + 3);
    memcpy(longer, b, len);
    memset(longer + len, 0, 3);
    spill(path, longer, len + 3);
    char want[128];
    snprintf(want, sizeof want, "is corrupted: its header says %zu bytes, the file has %zu", len,
             len + 3);
    expect_refusal(GAND_EFORMAT, want);
    free(longer);
    free(b);
}
END_TEST

START_TEST(test_architecture_mismatches)
{
    save_reference();
    char err[256];
    unsigned char ex[EXTRA_LEN];

    nn_net *g6 = make_g(6, true), *d = make_d(true);
    snap s6 = take(g6), sd = take(d);
    ck_assert_int_eq(nn_ckpt_load(path, (nn_net *[]){g6, d}, names2, 2, ex, EXTRA_LEN, err,
                                  sizeof err),
                     GAND_EFORMAT);
    ck_assert_msg(strstr(err, "net 'G' tensor 0 'weight': checkpoint has (8,4), model has (6,4)"),
                  "%s", err);
    ck_assert(same(g6, &s6) && same(d, &sd));

    nn_net *g = make_g(8, true);
    snap sg = take(g);
    ck_assert_int_eq(nn_ckpt_load(path, (nn_net *[]){g}, names2, 1, ex, EXTRA_LEN, err,
                                  sizeof err),
                     GAND_EFORMAT);
    ck_assert_msg(strstr(err, "holds 2 nets, the model has 1"), "%s", err);

    ck_assert_int_eq(nn_ckpt_load(path, (nn_net *[]){g, d}, (const char *[]){"G", "critic"}, 2,
                                  ex, EXTRA_LEN, err, sizeof err),
                     GAND_EFORMAT);
    ck_assert_msg(strstr(err, "net 1 is 'D' in the checkpoint, 'critic' in the model"), "%s",
                  err);

    nn_net *g_nosn = make_g(8, false);
    ck_assert_int_eq(nn_ckpt_load(path, (nn_net *[]){g_nosn, d}, names2, 2, ex, EXTRA_LEN, err,
                                  sizeof err),
                     GAND_EFORMAT);
    ck_assert_msg(strstr(err, "net 'G': checkpoint has 5 tensors, model has 4"), "%s", err);

    nn_net *d_nobias = make_d(false);
    ck_assert_int_eq(nn_ckpt_load(path, (nn_net *[]){g, d_nobias}, names2, 2, ex, EXTRA_LEN,
                                  err, sizeof err),
                     GAND_EFORMAT);
    ck_assert_msg(strstr(err, "net 'D' tensor 1: checkpoint has 'bias' (2), model has 'weight' "
                              "(2)"),
                  "%s", err);

    ck_assert_int_eq(nn_ckpt_load(path, (nn_net *[]){g, d}, names2, 2, ex, 8, err, sizeof err),
                     GAND_EFORMAT);
    ck_assert_msg(strstr(err, "extra data: checkpoint has 24 bytes, expected 8"), "%s", err);
    ck_assert(same(g, &sg) && same(d, &sd) && same(g6, &s6));

    nn_net *raw = nn_net_create((nn_shape){4, 1, 1});
    nn_net_add(raw, nn_linear(8, true));
    ck_assert_int_eq(nn_ckpt_load(path, (nn_net *[]){raw, d}, names2, 2, ex, EXTRA_LEN, err,
                                  sizeof err),
                     GAND_EINVAL);
    ck_assert_msg(strstr(err, "net 'G' is not finalized"), "%s", err);
    ck_assert_int_eq(nn_ckpt_save(path, (nn_net *[]){raw, d}, names2, 2, NULL, 0, err,
                                  sizeof err),
                     GAND_EINVAL);
    ck_assert_int_eq(nn_ckpt_save(path, (nn_net *[]){g, d}, (const char *[]){"G", ""}, 2, NULL,
                                  0, err, sizeof err),
                     GAND_EINVAL);
    ck_assert_msg(strstr(err, "net 1 needs a name"), "%s", err);
    drop(&s6);
    drop(&sd);
    drop(&sg);
    nn_net_free(raw);
    nn_net_free(g6);
    nn_net_free(g);
    nn_net_free(g_nosn);
    nn_net_free(d);
    nn_net_free(d_nobias);
}
END_TEST

/* Saving G and D (seed 9) over the reference must fail with EIO, name
 * want in the message, and leave the reference and no tmp file. */
static void expect_save_eio(const char *target, const char *want)
{
    size_t len0, len1;
    unsigned char *before = slurp(path, &len0);
    nn_net *g = make_g(8, true), *d = make_d(true);
    fill(g, 9);
    fill(d, 9);
    char err[256] = "";
    gand_status st = nn_ckpt_save(target, (nn_net *[]){g, d}, names2, 2, extra, EXTRA_LEN, err,
                                  sizeof err);
    ck_assert_msg(st == GAND_EIO, "status %d: %s", st, err);
    ck_assert_msg(strstr(err, want), "message '%s' lacks '%s'", err, want);
    unsigned char *after = slurp(path, &len1);
    ck_assert(len0 == len1 && memcmp(before, after, len0) == 0);
    ck_assert_int_ne(access(tmp_path, F_OK), 0);
    free(before);
    free(after);
    nn_net_free(g);
    nn_net_free(d);
}

START_TEST(test_failed_saves_leave_the_old_checkpoint)
{
    save_reference();
    char target[200];

    /* a directory that does not exist */
    snprintf(target, sizeof target, "%s/nowhere/run.ckpt", dir);
    expect_save_eio(target, "cannot create checkpoint file '");
    expect_save_eio(target, "/nowhere/run.ckpt.tmp': No such file or directory");

    /* writes that fail: the tmp file is a link to a full device */
    ck_assert_int_eq(symlink("/dev/full", tmp_path), 0);
    expect_save_eio(path, "No space left on device");
    ck_assert_int_eq(dir_entries(), 1);

    /* a rename that fails: the target is a directory */
    snprintf(target, sizeof target, "%s/adir", dir);
    ck_assert_int_eq(mkdir(target, 0755), 0);
    char adir_tmp[220];
    snprintf(adir_tmp, sizeof adir_tmp, "%s.tmp", target);
    expect_save_eio(target, "cannot rename");
    ck_assert_int_ne(access(adir_tmp, F_OK), 0);
    ck_assert_int_eq(dir_entries(), 2);

    /* a read-only directory; root writes there anyway, so only as a user */
    if (geteuid() != 0) {
        snprintf(target, sizeof target, "%s/ro", dir);
        ck_assert_int_eq(mkdir(target, 0555), 0);
        char ro_path[220];
        snprintf(ro_path, sizeof ro_path, "%s/run.ckpt", target);
        expect_save_eio(ro_path, "Permission denied");
        chmod(target, 0755);
    }
}
END_TEST

START_TEST(test_out_of_memory)
{
    save_reference();
    size_t len0, len1;
    unsigned char *before = slurp(path, &len0);
    nn_net *g = make_g(8, true), *d = make_d(true);
    fill(g, 11);
    fill(d, 12);
    snap sg = take(g), sd = take(d);
    char err[256];
    bool saved = false, loaded = false;
    for (long k = 1; k < 20 && !saved; k++) {
        gand_alloc_fail_at(k, false);
        gand_status st = nn_ckpt_save(path, (nn_net *[]){g, d}, names2, 2, extra, EXTRA_LEN, err,
                                      sizeof err);
        long failed = gand_alloc_failures();
        gand_alloc_fail_at(0, false);
        if (failed == 0) {
            ck_assert_int_eq(st, GAND_OK);
            saved = true;
            break;
        }
        ck_assert_int_eq(st, GAND_ENOMEM);
        ck_assert_msg(strstr(err, "out of memory"), "%s", err);
        ck_assert_int_ne(access(tmp_path, F_OK), 0);
        unsigned char *after = slurp(path, &len1);
        ck_assert(len0 == len1 && memcmp(before, after, len0) == 0);
        free(after);
    }
    ck_assert(saved);

    fill(g, 13);
    fill(d, 14);
    snap pg = take(g), pd = take(d);
    for (long k = 1; k < 20 && !loaded; k++) {
        gand_alloc_fail_at(k, false);
        gand_status st = nn_ckpt_load(path, (nn_net *[]){g, d}, names2, 2, extra, EXTRA_LEN, err,
                                      sizeof err);
        long failed = gand_alloc_failures();
        gand_alloc_fail_at(0, false);
        if (failed == 0) {
            ck_assert_int_eq(st, GAND_OK);
            loaded = true;
            break;
        }
        ck_assert_int_eq(st, GAND_ENOMEM);
        ck_assert(same(g, &pg) && same(d, &pd));
    }
    ck_assert(loaded);
    ck_assert(same(g, &sg) && same(d, &sd));
    free(before);
    drop(&sg);
    drop(&sd);
    drop(&pg);
    drop(&pd);
    nn_net_free(g);
    nn_net_free(d);
}
END_TEST

static Suite *ckpt_suite(void)
{
    Suite *s = suite_create("nn_ckpt");
    TCase *tc = tcase_create("ckpt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_missing_and_foreign_files);
    tcase_add_test(tc, test_unsupported_version);
    tcase_add_test(tc, test_truncated_at_every_kind_of_length);
    tcase_add_test(tc, test_corruption_is_detected);
    tcase_add_test(tc, test_architecture_mismatches);
    tcase_add_test(tc, test_failed_saves_leave_the_old_checkpoint);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ckpt_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
