/* Job spec parsing, validation messages, defaults and the models table. */
#include "gand/alloc.h"
#include "gand/gan.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static gand_status parse(const char *json, gan_spec *s, char *err, char *field)
{
    return gan_spec_parse(json, strlen(json), s, err, 256, field, 64);
}

START_TEST(test_minimal_spec_gets_kind_defaults)
{
    gan_spec s;
    char err[256], field[64];
    ck_assert_int_eq(parse("{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\"}", &s, err, field),
                     GAND_OK);
    ck_assert_int_eq(s.kind, GAN_DCGAN);
    ck_assert_str_eq(s.dataset, "fashion-mnist");
    ck_assert_str_eq(s.name, "dcgan-fashion-mnist");
    ck_assert_int_eq(s.z_dim, 100);
    ck_assert_int_eq(s.batch_size, 64);
    ck_assert_float_eq(s.lr_g, 2e-4f);
    ck_assert_float_eq(s.beta1, 0.5f);
    ck_assert_int_eq(s.loss, GAN_LOSS_BCE);
    ck_assert_int_eq(s.epochs, 5);
    ck_assert_int_eq(s.steps, 0);

    ck_assert_int_eq(parse("{\"model\":\"wgan\",\"dataset\":\"fashion-mnist\"}", &s, err, field),
                     GAND_OK);
    ck_assert_int_eq(s.loss, GAN_LOSS_WASSERSTEIN);
    ck_assert_int_eq(s.optimizer, GAN_OPT_RMSPROP);
    ck_assert_int_eq(s.n_critic, 5);
    ck_assert_float_eq(s.clip, 0.01f);

    ck_assert_int_eq(parse("{\"model\":\"infogan\",\"dataset\":\"fashion-mnist\"}", &s, err, field),
                     GAND_OK);
    ck_assert_int_eq(s.z_dim, 62);
    ck_assert_int_eq(s.n_cat, 10);
    ck_assert_int_eq(s.n_cont, 2);
    ck_assert_float_eq(s.lr_g, 1e-3f);

    ck_assert_int_eq(parse("{\"model\":\"hinge\",\"dataset\":\"fashion-mnist\"}", &s, err, field),
                     GAND_OK);
    ck_assert_int_eq(s.loss, GAN_LOSS_HINGE);
    ck_assert_float_eq(s.beta1, 0.0f);
    ck_assert_float_eq(s.beta2, 0.9f);
}
END_TEST

START_TEST(test_every_field_is_read)
{
    gan_spec s;
    char err[256], field[64];
    const char *json = "{\"name\":\"shoes\",\"model\":\"dcgan\",\"dataset\":\"/data/mnist\","
                       "\"classes\":[7,9],\"z_dim\":64,\"g_width\":96,\"d_width\":32,"
                       "\"loss\":\"mse\",\"optimizer\":\"rmsprop\",\"lr_g\":0.001,\"lr_d\":0.0005,"
                       "\"beta1\":0.1,\"beta2\":0.99,\"batch_size\":32,\"steps\":1234,"
                       "\"n_critic\":2,\"sample_every\":10,\"checkpoint_every\":20,\"seed\":42}";
    ck_assert_msg(parse(json, &s, err, field) == GAND_OK, "%s", err);
    ck_assert_str_eq(s.name, "shoes");
    ck_assert_str_eq(s.dataset, "/data/mnist");
    ck_assert_int_eq(s.nclasses, 2);
    ck_assert_int_eq(s.classes[0], 7);
    ck_assert_int_eq(s.classes[1], 9);
    ck_assert_int_eq(s.z_dim, 64);
    ck_assert_int_eq(s.g_width, 96);
    ck_assert_int_eq(s.d_width, 32);
    ck_assert_int_eq(s.loss, GAN_LOSS_MSE);
    ck_assert_int_eq(s.optimizer, GAN_OPT_RMSPROP);
    ck_assert_float_eq(s.lr_g, 0.001f);
    ck_assert_float_eq(s.lr_d, 0.0005f);
    ck_assert_float_eq(s.beta1, 0.1f);
    ck_assert_float_eq(s.beta2, 0.99f);
    ck_assert_int_eq(s.batch_size, 32);
    ck_assert_int_eq(s.steps, 1234);
    ck_assert_int_eq(s.n_critic, 2);
    ck_assert_int_eq(s.sample_every, 10);
    ck_assert_int_eq(s.checkpoint_every, 20);
    ck_assert_uint_eq(s.seed, 42);
}
END_TEST

/* Each bad spec: the status, the field named, and words of the message. */
static const struct {
    const char *json;
    gand_status status;
    const char *field;
    const char *message;
} bad[] = {
    {"{\"model\":\"dcgan\",", GAND_EINVAL, "", "not valid JSON (error at line 1, column 17)"},
    {"{\"model\":\"dcgan\",\n\"dataset\": fashion}", GAND_EINVAL, "", "line 2, column 12"},
    {"[1,2]", GAND_ERANGE, "", "must be a JSON object, got an array"},
    {"{\"dataset\":\"fashion-mnist\"}", GAND_ERANGE, "model", "field 'model' is required"},
    {"{\"model\":\"gan\",\"dataset\":\"fashion-mnist\"}", GAND_ERANGE, "model",
     "must be one of vanilla, dcgan"},
    {"{\"model\":7,\"dataset\":\"fashion-mnist\"}", GAND_ERANGE, "model", "got a number"},
    {"{\"model\":\"dcgan\"}", GAND_ERANGE, "dataset", "field 'dataset' is required"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"lrg\":1}", GAND_ERANGE, "lrg",
     "unknown field 'lrg'"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"lr_g\":\"fast\"}", GAND_ERANGE, "lr_g",
     "field 'lr_g' must be a number, got a string"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"batch_size\":0}", GAND_ERANGE,
     "batch_size", "field 'batch_size' must be between 1 and 1024, got 0"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"batch_size\":1e9}", GAND_ERANGE,
     "batch_size", "got 1e+09"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"batch_size\":6.5}", GAND_ERANGE,
     "batch_size", "must be an integer, got 6.5"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"batch_size\":true}", GAND_ERANGE,
     "batch_size", "must be an integer, got a boolean"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"loss\":\"l2\"}", GAND_ERANGE, "loss",
     "must be one of bce, mse, hinge; got 'l2'"},
    {"{\"model\":\"wgan\",\"dataset\":\"fashion-mnist\",\"loss\":\"bce\"}", GAND_ERANGE, "loss",
     "field 'loss' does not apply to model 'wgan'"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"n_cat\":10}", GAND_ERANGE, "n_cat",
     "does not apply to model 'dcgan'"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"steps\":10,\"epochs\":1}", GAND_ERANGE,
     "steps", "either 'steps' or 'epochs'"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"classes\":[1,1]}", GAND_ERANGE,
     "classes", "lists class 1 twice"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"classes\":[]}", GAND_ERANGE,
     "classes", "between 1 and 256 classes"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"classes\":[-1]}", GAND_ERANGE,
     "classes", "item 0 must be a class label"},
    {"{\"model\":\"dcgan\",\"dataset\":\"../etc\"}", GAND_ERANGE, "dataset",
     "built-in dataset name"},
    {"{\"model\":\"dcgan\",\"dataset\":\"/data/../etc\"}", GAND_ERANGE, "dataset", "'..'"},
    {"{\"model\":\"dcgan\",\"dataset\":\"\"}", GAND_ERANGE, "dataset", "is empty"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"seed\":-1}", GAND_ERANGE, "seed",
     "between 0 and"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"z_dim\":1,\"z_dim\":2}", GAND_ERANGE,
     "z_dim", "given twice"},
    {"{\"model\":\"dcgan\",\"dataset\":\"/data\\u0000/x\"}", GAND_EINVAL, "",
     "NUL character (\\u0000) in a string at byte 33"},
    {"{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"name\":\"\xff\"}", GAND_EINVAL, "",
     "not valid UTF-8 at byte 51"},
};

START_TEST(test_bad_specs_name_the_field)
{
    gan_spec s;
    char err[256], field[64];
    const char *json = bad[_i].json;
    gand_status st = parse(json, &s, err, field);
    ck_assert_msg(st == bad[_i].status, "%s: status %d, want %d (%s)", json, st, bad[_i].status,
                  err);
    ck_assert_msg(strstr(err, bad[_i].message), "%s: message '%s' lacks '%s'", json, err,
                  bad[_i].message);
    if (st == GAND_ERANGE)
        ck_assert_msg(strcmp(field, bad[_i].field) == 0, "%s: field '%s', want '%s'", json,
                      field, bad[_i].field);
}
END_TEST

START_TEST(test_long_name_refused)
{
    char json[400];
    char name[200];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(json, sizeof json, "{\"model\":\"dcgan\",\"dataset\":\"fashion-mnist\",\"name\":\"%s\"}",
             name);
    gan_spec s;
    char err[256], field[64];
    ck_assert_int_eq(parse(json, &s, err, field), GAND_ERANGE);
    ck_assert_str_eq(field, "name");
    ck_assert_msg(strstr(err, "199 characters long; the limit is 127"), "%s", err);
}
END_TEST

START_TEST(test_normalised_json_round_trips)
{
    gan_spec a, b;
    char err[256], field[64];
    ck_assert_int_eq(parse("{\"model\":\"infogan\",\"dataset\":\"fashion-mnist\",\"classes\":[3],"
                           "\"lr_d\":0.0003,\"steps\":50}",
                           &a, err, field),
                     GAND_OK);
    char *js = gan_spec_to_json(&a);
    ck_assert_ptr_nonnull(js);
    ck_assert_msg(strstr(js, "\"lr_d\":0.0003"), "%s", js);
    ck_assert_msg(strstr(js, "\"n_cat\":10"), "%s", js);
    ck_assert_msg(!strstr(js, "\"clip\""), "wgan-only field in %s", js);
    ck_assert_msg(!strstr(js, "\"epochs\""), "steps given, epochs printed: %s", js);
    /* what the store keeps parses back to the same spec */
    ck_assert_msg(parse(js, &b, err, field) == GAND_OK, "%s: %s", js, err);
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    gand_free(js);
    gan_spec_defaults(GAN_DCGAN, &a);
    js = gan_spec_to_json(&a);
    ck_assert_msg(strstr(js, "\"epochs\":5") && !strstr(js, "\"steps\""), "%s", js);
    gand_free(js);
}
END_TEST

START_TEST(test_models_json_lists_kinds_fields_defaults)
{
    char *js = gan_models_json();
    ck_assert_ptr_nonnull(js);
    cJSON *root = cJSON_Parse(js);
    ck_assert_ptr_nonnull(root);
    cJSON *models = cJSON_GetObjectItem(root, "models");
    ck_assert_int_eq(cJSON_GetArraySize(models), GAN_KIND_COUNT);
    cJSON *m;
    bool saw_wgan_clip = false, saw_cgan_conditional = false;
    cJSON_ArrayForEach(m, models)
    {
        const char *name = cJSON_GetObjectItem(m, "name")->valuestring;
        cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItem(m, "fields"))
        {
            const char *fname = cJSON_GetObjectItem(f, "name")->valuestring;
            if (strcmp(name, "wgan") == 0 && strcmp(fname, "clip") == 0) {
                ck_assert_double_eq_tol(cJSON_GetObjectItem(f, "default")->valuedouble, 0.01,
                                        1e-9);
                saw_wgan_clip = true;
            }
            if (strcmp(fname, "model") == 0)
                ck_assert_str_eq(cJSON_GetObjectItem(f, "default")->valuestring, name);
            if (strcmp(fname, "batch_size") == 0) {
                ck_assert_str_eq(cJSON_GetObjectItem(f, "type")->valuestring, "integer");
                ck_assert_int_eq(cJSON_GetObjectItem(f, "max")->valueint, 1024);
            }
        }
        if (strcmp(name, "cgan") == 0)
            saw_cgan_conditional = cJSON_IsTrue(cJSON_GetObjectItem(m, "conditional"));
    }
    ck_assert(saw_wgan_clip && saw_cgan_conditional);
    cJSON_Delete(root);
    gand_free(js);
}
END_TEST

START_TEST(test_out_of_memory_in_serialisers)
{
    gan_spec s;
    gan_spec_defaults(GAN_DCGAN, &s);
    /* cJSON allocates with libc; our copies go through the hook */
    gand_alloc_fail_at(1, true);
    ck_assert_ptr_null(gan_spec_to_json(&s));
    ck_assert_ptr_null(gan_models_json());
    gand_alloc_fail_at(0, false);
    char *js = gan_spec_to_json(&s);
    ck_assert_ptr_nonnull(js);
    gand_free(js);
}
END_TEST

START_TEST(test_kind_names)
{
    gan_kind k;
    for (int i = 0; i < GAN_KIND_COUNT; i++) {
        ck_assert_int_eq(gan_kind_from_name(gan_kind_name((gan_kind)i), &k), GAND_OK);
        ck_assert_int_eq(k, i);
        ck_assert_str_ne(gan_kind_description((gan_kind)i), "");
    }
    ck_assert_int_eq(gan_kind_from_name("stylegan", &k), GAND_ENOTFOUND);
    ck_assert(gan_kind_conditional(GAN_CGAN) && gan_kind_conditional(GAN_ACGAN));
    ck_assert(!gan_kind_conditional(GAN_DCGAN) && !gan_kind_conditional(GAN_INFOGAN));
}
END_TEST

/* The examples the README points to parse, and when Fashion-MNIST is
 * installed also pass the data check. */
START_TEST(test_shipped_examples_are_valid)
{
    const char *src = getenv("GAND_TEST_SRCDIR");
    ck_assert_ptr_nonnull(src);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/examples", src);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int n = 0;
    bool data = access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char path[1400], json[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        size_t got = fread(json, 1, sizeof json - 1, f);
        fclose(f);
        json[got] = '\0';
        gan_spec s;
        char err[256], field[64];
        ck_assert_msg(parse(json, &s, err, field) == GAND_OK, "%s: %s", e->d_name, err);
        long total;
        if (data)
            ck_assert_msg(gan_spec_check_data(&s, &total, field, sizeof field, err, sizeof err) ==
                              GAND_OK,
                          "%s: %s", e->d_name, err);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, GAN_KIND_COUNT);
}
END_TEST

static Suite *spec_suite(void)
{
    Suite *s = suite_create("gan_spec");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_minimal_spec_gets_kind_defaults);
    tcase_add_test(tc, test_every_field_is_read);
    tcase_add_loop_test(tc, test_bad_specs_name_the_field, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, test_long_name_refused);
    tcase_add_test(tc, test_normalised_json_round_trips);
    tcase_add_test(tc, test_models_json_lists_kinds_fields_defaults);
    tcase_add_test(tc, test_out_of_memory_in_serialisers);
    tcase_add_test(tc, test_kind_names);
    tcase_add_test(tc, test_shipped_examples_are_valid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(spec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
