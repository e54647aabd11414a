/* Network builders: layer lists, shapes, parameter counts, conditioning,
 * spectral normalisation, refused parameters, out-of-memory paths. */
#include "gand/alloc.h"
#include "gand/arch.h"
#include "gand/nn.h"
#include "gand/rng.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *kind;
    nn_shape out;
} layer_want;

static void assert_layers(const nn_net *net, const layer_want *want, int n)
{
    ck_assert_int_eq(nn_net_layer_count(net), n);
    for (int i = 0; i < n; i++) {
        nn_shape s = nn_net_layer_out_shape(net, i);
        ck_assert_msg(strcmp(nn_net_layer_kind(net, i), want[i].kind) == 0,
                      "layer %d is %s, want %s", i, nn_net_layer_kind(net, i), want[i].kind);
        ck_assert_msg(s.c == want[i].out.c && s.h == want[i].out.h && s.w == want[i].out.w,
                      "layer %d (%s) outputs (%d,%d,%d), want (%d,%d,%d)", i, want[i].kind, s.c,
                      s.h, s.w, want[i].out.c, want[i].out.h, want[i].out.w);
    }
}

static void assert_shape(nn_shape s, int c, int h, int w)
{
    ck_assert_msg(s.c == c && s.h == h && s.w == w, "shape (%d,%d,%d), want (%d,%d,%d)", s.c, s.h,
                  s.w, c, h, w);
}

static nn_net *built(nn_net *net, const char *err)
{
    ck_assert_msg(net != NULL, "builder failed: %s", err);
    return net;
}

START_TEST(test_defaults)
{
    arch_params p = arch_default_params();
    ck_assert_int_eq(p.z_dim, 100);
    assert_shape(p.image, 1, 28, 28);
    ck_assert_int_eq(p.g_width, 128);
    ck_assert_int_eq(p.d_width, 64);
    ck_assert_int_eq(p.g_cond, 0);
    ck_assert_int_eq(p.d_cond_channels, 0);
    ck_assert(!p.d_spectral_norm);
    const int g[ARCH_MLP_MAX_HIDDEN] = {256, 512, 1024, 0};
    const int d[ARCH_MLP_MAX_HIDDEN] = {512, 256, 0, 0};
    ck_assert(memcmp(p.mlp_g_hidden, g, sizeof g) == 0);
    ck_assert(memcmp(p.mlp_d_hidden, d, sizeof d) == 0);
}
END_TEST

START_TEST(test_dcgan28_generator)
{
    arch_params p = arch_default_params();
    char err[256] = "";
    nn_net *g = built(arch_dcgan28_generator(&p, 64, err, sizeof err), err);
    const layer_want want[] = {
        {"linear", {6272, 1, 1}},           {"batchnorm1d", {6272, 1, 1}},
        {"relu", {6272, 1, 1}},             {"reshape", {128, 7, 7}},
        {"conv_transpose2d", {64, 14, 14}}, {"batchnorm2d", {64, 14, 14}},
        {"relu", {64, 14, 14}},             {"conv_transpose2d", {1, 28, 28}},
        {"tanh", {1, 28, 28}},
    };
    assert_layers(g, want, 9);
    assert_shape(nn_net_in_shape(g), 100, 1, 1);
    ck_assert_int_eq(nn_net_max_batch(g), 64);
    /* linear (no bias), bn1d, convT (no bias), bn2d, convT + bias */
    ck_assert_uint_eq(nn_net_num_params(g),
                      100 * 6272 + 2 * 6272 + 128 * 64 * 16 + 2 * 64 + 64 * 1 * 16 + 1);
    ck_assert_uint_eq(nn_net_num_state(g), 2 * 6272 + 2 * 64);
    const char *names[] = {"weight", "scale", "shift", "running_mean", "running_var", "weight",
                           "scale",  "shift", "running_mean", "running_var", "weight", "bias"};
    ck_assert_int_eq(nn_net_param_count(g), 12);
    for (int i = 0; i < 12; i++)
        ck_assert_str_eq(nn_net_param(g, i)->name, names[i]);
    nn_net_free(g);
}
END_TEST

START_TEST(test_dcgan28_discriminator)
{
    arch_params p = arch_default_params();
    char err[256] = "";
    nn_net *d = built(arch_dcgan28_discriminator(&p, 64, err, sizeof err), err);
    const layer_want want[] = {
        {"conv2d", {64, 14, 14}},    {"leaky_relu", {64, 14, 14}}, {"conv2d", {128, 7, 7}},
        {"batchnorm2d", {128, 7, 7}}, {"leaky_relu", {128, 7, 7}}, {"flatten", {6272, 1, 1}},
        {"linear", {1, 1, 1}},
    };
    assert_layers(d, want, 7);
    assert_shape(nn_net_in_shape(d), 1, 28, 28);
    ck_assert_uint_eq(nn_net_num_params(d), 64 * 16 + 64 + 128 * 64 * 16 + 2 * 128 + 6272 + 1);
    ck_assert_uint_eq(nn_net_num_state(d), 2 * 128);
    /* conv1 has a bias, conv2 (before batch norm) has none */
    ck_assert_str_eq(nn_net_param(d, 1)->name, "bias");
    ck_assert_str_eq(nn_net_param(d, 2)->name, "weight");
    ck_assert_str_eq(nn_net_param(d, 3)->name, "scale");
    nn_net_free(d);
}
END_TEST

START_TEST(test_dcgan_conditioning_and_other_shapes)
{
    arch_params p = arch_default_params();
    p.g_cond = 10;
    p.d_cond_channels = 10;
    char err[256] = "";
    nn_net *g = built(arch_dcgan28_generator(&p, 8, err, sizeof err), err);
    nn_net *d = built(arch_dcgan28_discriminator(&p, 8, err, sizeof err), err);
    assert_shape(nn_net_in_shape(g), 110, 1, 1);
    ck_assert_int_eq(nn_net_param(g, 0)->dims[1], 110);
    assert_shape(nn_net_out_shape(g), 1, 28, 28);
    assert_shape(nn_net_in_shape(d), 11, 28, 28);
    ck_assert_int_eq(nn_net_param(d, 0)->dims[1], 11);
    nn_net_free(g);
    nn_net_free(d);

    /* colour 32 x 48 images with other widths */
    p = arch_default_params();
    p.image = (nn_shape){3, 32, 48};
    p.g_width = 32;
    p.d_width = 16;
    p.z_dim = 8;
    g = built(arch_dcgan28_generator(&p, 4, err, sizeof err), err);
    d = built(arch_dcgan28_discriminator(&p, 4, err, sizeof err), err);
    assert_shape(nn_net_layer_out_shape(g, 3), 32, 8, 12);
    assert_shape(nn_net_layer_out_shape(g, 4), 16, 16, 24);
    assert_shape(nn_net_out_shape(g), 3, 32, 48);
    assert_shape(nn_net_layer_out_shape(d, 2), 32, 8, 12);
    assert_shape(nn_net_out_shape(d), 1, 1, 1);

    /* the nets run: G's images are in [-1, 1], D's logits finite */
    gand_rng rng;
    gand_rng_seed(&rng, 5);
    nn_net_init(g, &rng, NN_INIT_DCGAN);
    nn_net_init(d, &rng, NN_INIT_DCGAN);
    float z[4 * 8];
    for (int i = 0; i < 4 * 8; i++)
        z[i] = gand_rng_normal(&rng);
    const float *img = nn_net_forward(g, z, 4, true, &rng);
    for (int i = 0; i < 4 * 3 * 32 * 48; i++)
        ck_assert(img[i] >= -1.0f && img[i] <= 1.0f);
    const float *logit = nn_net_forward(d, img, 4, true, &rng);
    for (int i = 0; i < 4; i++)
        ck_assert(isfinite(logit[i]));
    nn_net_free(g);
    nn_net_free(d);
}
END_TEST

START_TEST(test_dcgan_spectral_norm)
{
    arch_params p = arch_default_params();
    p.d_spectral_norm = true;
    char err[256] = "";
    nn_net *d = built(arch_dcgan28_discriminator(&p, 16, err, sizeof err), err);
    const layer_want want[] = {
        {"spectral_norm", {64, 14, 14}}, {"leaky_relu", {64, 14, 14}},
        {"spectral_norm", {128, 7, 7}},  {"leaky_relu", {128, 7, 7}},
        {"flatten", {6272, 1, 1}},       {"spectral_norm", {1, 1, 1}},
    };
    assert_layers(d, want, 6);
    /* conv2 gains the bias the batch norm's shift stood for */
    ck_assert_uint_eq(nn_net_num_params(d), 64 * 16 + 64 + 128 * 64 * 16 + 128 + 6272 + 1);
    /* one power-iteration vector per wrapped weight, as many as its rows */
    ck_assert_uint_eq(nn_net_num_state(d), 64 + 128 + 1);
    nn_net_free(d);
}
END_TEST

START_TEST(test_mlp_nets)
{
    arch_params p = arch_default_params();
    char err[256] = "";
    nn_net *g = built(arch_mlp_generator(&p, 64, err, sizeof err), err);
    const layer_want gw[] = {
        {"linear", {256, 1, 1}},  {"leaky_relu", {256, 1, 1}},  {"linear", {512, 1, 1}},
        {"leaky_relu", {512, 1, 1}}, {"linear", {1024, 1, 1}}, {"leaky_relu", {1024, 1, 1}},
        {"linear", {784, 1, 1}},  {"tanh", {784, 1, 1}},        {"reshape", {1, 28, 28}},
    };
    assert_layers(g, gw, 9);
    assert_shape(nn_net_in_shape(g), 100, 1, 1);
    ck_assert_uint_eq(nn_net_num_params(g),
                      101 * 256 + 257 * 512 + 513 * 1024 + 1025 * 784);
    nn_net *d = built(arch_mlp_discriminator(&p, 64, err, sizeof err), err);
    const layer_want dw[] = {
        {"linear", {512, 1, 1}}, {"leaky_relu", {512, 1, 1}}, {"linear", {256, 1, 1}},
        {"leaky_relu", {256, 1, 1}}, {"linear", {1, 1, 1}},
    };
    assert_layers(d, dw, 5);
    assert_shape(nn_net_in_shape(d), 784, 1, 1);
    ck_assert_uint_eq(nn_net_num_params(d), 785 * 512 + 513 * 256 + 257);
    nn_net_free(g);
    nn_net_free(d);

    p.g_cond = 10;
    p.d_cond_channels = 10;
    p.image = (nn_shape){3, 8, 8};
    memcpy(p.mlp_g_hidden, (int[ARCH_MLP_MAX_HIDDEN]){32, 0}, sizeof p.mlp_g_hidden);
    memcpy(p.mlp_d_hidden, (int[ARCH_MLP_MAX_HIDDEN]){16, 8, 4, 2}, sizeof p.mlp_d_hidden);
    g = built(arch_mlp_generator(&p, 4, err, sizeof err), err);
    d = built(arch_mlp_discriminator(&p, 4, err, sizeof err), err);
    assert_shape(nn_net_in_shape(g), 110, 1, 1);
    ck_assert_int_eq(nn_net_layer_count(g), 5);
    assert_shape(nn_net_out_shape(g), 3, 8, 8);
    assert_shape(nn_net_in_shape(d), 3 * 64 + 10, 1, 1);
    ck_assert_int_eq(nn_net_layer_count(d), 9);
    assert_shape(nn_net_out_shape(d), 1, 1, 1);
    nn_net_free(g);
    nn_net_free(d);
}
END_TEST

typedef nn_net *(*builder)(const arch_params *, int, char *, size_t);

static void assert_refused(builder b, const arch_params *p, int max_batch, const char *needle)
{
    char err[256] = "";
    nn_net *net = b(p, max_batch, err, sizeof err);
    ck_assert_msg(net == NULL, "accepted, want an error mentioning '%s'", needle);
    ck_assert_msg(strstr(err, needle) != NULL, "error '%s' does not mention '%s'", err, needle);
}

START_TEST(test_refuses_bad_params)
{
    arch_params p = arch_default_params();
    p.image.h = 30;
    assert_refused(arch_dcgan28_generator, &p, 8, "multiples of 4");
    assert_refused(arch_dcgan28_discriminator, &p, 8, "multiples of 4");
    p = arch_default_params();
    p.g_width = 127;
    assert_refused(arch_dcgan28_generator, &p, 8, "g_width 127 must be even");
    p = arch_default_params();
    p.d_width = 0;
    assert_refused(arch_dcgan28_discriminator, &p, 8, "d_width 0");
    p = arch_default_params();
    p.z_dim = 0;
    assert_refused(arch_dcgan28_generator, &p, 8, "z_dim 0");
    assert_refused(arch_mlp_generator, &p, 8, "z_dim 0");
    p = arch_default_params();
    p.g_cond = -1;
    assert_refused(arch_mlp_generator, &p, 8, "g_cond -1");
    p = arch_default_params();
    p.image.c = 0;
    assert_refused(arch_mlp_discriminator, &p, 8, "image shape (0,28,28)");
    p = arch_default_params();
    p.mlp_d_hidden[0] = 0;
    assert_refused(arch_mlp_discriminator, &p, 8, "mlp_d_hidden needs at least one");
    p = arch_default_params();
    p.mlp_g_hidden[1] = -5;
    assert_refused(arch_mlp_generator, &p, 8, "mlp_g_hidden[1] = -5");
    p = arch_default_params();
    assert_refused(arch_dcgan28_generator, &p, 0, "max batch 0");
}
END_TEST

/* Fails each allocation of a build in turn: NULL with an out-of-memory
 * message and nothing leaked (ASan), until the build succeeds. */
static void check_oom(builder b, const arch_params *p)
{
    for (long k = 1; k < 200; k++) {
        char err[256] = "";
        gand_alloc_fail_at(k, false);
        nn_net *net = b(p, 4, err, sizeof err);
        long failed = gand_alloc_failures();
        gand_alloc_fail_at(0, false);
        if (failed == 0) {
            ck_assert_ptr_nonnull(net);
            ck_assert_int_gt(k, 5);
            nn_net_free(net);
            return;
        }
        ck_assert_msg(net == NULL, "allocation %ld failed but the build succeeded", k);
        ck_assert_msg(strstr(err, "out of memory") != NULL, "allocation %ld: '%s'", k, err);
    }
    ck_abort_msg("the build never succeeded");
}

START_TEST(test_out_of_memory)
{
    arch_params p = arch_default_params();
    p.image = (nn_shape){1, 8, 8};
    p.g_width = 8;
    p.d_width = 4;
    p.z_dim = 4;
    memcpy(p.mlp_g_hidden, (int[ARCH_MLP_MAX_HIDDEN]){8, 8, 0}, sizeof p.mlp_g_hidden);
    memcpy(p.mlp_d_hidden, (int[ARCH_MLP_MAX_HIDDEN]){8, 0}, sizeof p.mlp_d_hidden);
    check_oom(arch_dcgan28_generator, &p);
    check_oom(arch_dcgan28_discriminator, &p);
    check_oom(arch_mlp_generator, &p);
    check_oom(arch_mlp_discriminator, &p);
    p.d_spectral_norm = true;
    check_oom(arch_dcgan28_discriminator, &p);
}
END_TEST

static Suite *arch_suite(void)
{
    Suite *s = suite_create("gan_arch");
    TCase *tc = tcase_create("builders");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_dcgan28_generator);
    tcase_add_test(tc, test_dcgan28_discriminator);
    tcase_add_test(tc, test_dcgan_conditioning_and_other_shapes);
    tcase_add_test(tc, test_dcgan_spectral_norm);
    tcase_add_test(tc, test_mlp_nets);
    tcase_add_test(tc, test_refuses_bad_params);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(arch_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
