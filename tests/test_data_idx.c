/* IDX datasets: loading plain and gzip'd files, every refusal, opening by
 * name or directory, class subsets and out-of-memory paths. */
#include "gand/alloc.h"
#include "gand/data.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define ERRLEN 512

static char *make_dir(void)
{
    char *dir = strdup("/tmp/gand-data-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static void remove_dir(char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
    free(dir);
}

static char *path_in(const char *dir, const char *name)
{
    static char bufs[4][1024];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, 1024, "%s/%s", dir, name);
    return p;
}

/* Writes an IDX file: magic, ndim big-endian dims, then len data bytes;
 * gzip'd when the name ends in ".gz". */
static void write_idx(const char *path, unsigned magic, const unsigned *dims, int ndim,
                      const unsigned char *data, size_t len)
{
    unsigned char head[20];
    size_t h = 0;
    unsigned words[5] = {magic};
    for (int i = 0; i < ndim; i++)
        words[1 + i] = dims[i];
    for (int i = 0; i <= ndim; i++) {
        head[h++] = (unsigned char)(words[i] >> 24);
        head[h++] = (unsigned char)(words[i] >> 16);
        head[h++] = (unsigned char)(words[i] >> 8);
        head[h++] = (unsigned char)words[i];
    }
    size_t plen = strlen(path);
    if (plen > 3 && strcmp(path + plen - 3, ".gz") == 0) {
        gzFile gz = gzopen(path, "wb");
        ck_assert_ptr_nonnull(gz);
        ck_assert_int_eq(gzwrite(gz, head, (unsigned)h), (int)h);
        if (len)
            ck_assert_int_eq(gzwrite(gz, data, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(gz), Z_OK);
        return;
    }
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(head, 1, h, f), h);
    if (len)
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Three 2x3 images whose pixels cover 0, 127, 128 and 255; labels 2, 0, 1. */
static const unsigned char PIX[18] = {0, 255, 127, 128, 1, 254, 10, 20, 30, 40, 50, 60,
                                      255, 0, 128, 127, 200, 100};
static const unsigned char LAB[3] = {2, 0, 1};

static void write_small(const char *images, const char *labels)
{
    write_idx(images, 0x803, (unsigned[]){3, 2, 3}, 3, PIX, sizeof PIX);
    if (labels)
        write_idx(labels, 0x801, (unsigned[]){3}, 1, LAB, sizeof LAB);
}

static void check_small(data_set *ds)
{
    ck_assert_int_eq(data_count(ds), 3);
    nn_shape s = data_shape(ds);
    ck_assert_int_eq(s.c, 1);
    ck_assert_int_eq(s.h, 2);
    ck_assert_int_eq(s.w, 3);
    ck_assert(data_has_labels(ds));
    ck_assert_int_eq(data_num_classes(ds), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(data_label(ds, i), LAB[i]);
    int idx[3] = {2, 0, 1}, labels[3];
    float x[18];
    data_batch(ds, idx, 3, x, labels);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(labels[i], LAB[idx[i]]);
        for (int k = 0; k < 6; k++) {
            unsigned char v = PIX[idx[i] * 6 + k];
            ck_assert(x[i * 6 + k] == (float)v / 127.5f - 1.0f);
        }
    }
    /* sample 0 in batch position 1: 0 -> -1, 255 -> 1, 127/128 just either side of 0 */
    ck_assert(x[6] == -1.0f);
    ck_assert(x[7] == 1.0f);
    ck_assert_float_eq_tol(x[8], -0.5f / 127.5f, 1e-7f);
    ck_assert_float_eq_tol(x[9], 0.5f / 127.5f, 1e-7f);
}

START_TEST(test_load_plain_and_gzip)
{
    char *dir = make_dir();
    char err[ERRLEN];
    write_small(path_in(dir, "a-images"), path_in(dir, "a-labels"));
    write_small(path_in(dir, "b-images.gz"), path_in(dir, "b-labels.gz"));
    data_set *ds = NULL;
    ck_assert_msg(data_idx_load(path_in(dir, "a-images"), path_in(dir, "a-labels"), &ds, err,
                                ERRLEN) == GAND_OK,
                  "%s", err);
    check_small(ds);
    data_free(ds);
    ck_assert_msg(data_idx_load(path_in(dir, "b-images.gz"), path_in(dir, "b-labels.gz"), &ds,
                                err, ERRLEN) == GAND_OK,
                  "%s", err);
    check_small(ds);
    data_free(ds);

    /* without labels */
    ck_assert_int_eq(data_idx_load(path_in(dir, "a-images"), NULL, &ds, err, ERRLEN), GAND_OK);
    ck_assert(!data_has_labels(ds));
    ck_assert_int_eq(data_num_classes(ds), 0);
    ck_assert_int_eq(data_label(ds, 1), -1);
    int labels[1] = {7};
    float x[6];
    data_batch(ds, (int[]){1}, 1, x, labels);
    ck_assert_int_eq(labels[0], -1);
    ck_assert(x[0] == (float)PIX[6] / 127.5f - 1.0f);
    data_free(ds);
    data_free(NULL);
    remove_dir(dir);
}
END_TEST

START_TEST(test_load_idx4_channels)
{
    char *dir = make_dir();
    char err[ERRLEN];
    unsigned char pix[24];
    for (int i = 0; i < 24; i++)
        pix[i] = (unsigned char)(i * 10);
    write_idx(path_in(dir, "c.gz"), 0x804, (unsigned[]){2, 3, 2, 2}, 4, pix, sizeof pix);
    data_set *ds = NULL;
    ck_assert_msg(data_idx_load(path_in(dir, "c.gz"), NULL, &ds, err, ERRLEN) == GAND_OK, "%s",
                  err);
    nn_shape s = data_shape(ds);
    ck_assert_int_eq(data_count(ds), 2);
    ck_assert_int_eq(s.c, 3);
    ck_assert_int_eq(s.h, 2);
    ck_assert_int_eq(s.w, 2);
    float x[12];
    data_batch(ds, (int[]){1}, 1, x, NULL);
    for (int k = 0; k < 12; k++)
        ck_assert(x[k] == (float)pix[12 + k] / 127.5f - 1.0f);
    data_free(ds);
    remove_dir(dir);
}
END_TEST

/* Loads images (and labels) expecting status and every needle in the message. */
static void expect_refusal(const char *images, const char *labels, gand_status want,
                           const char *needle1, const char *needle2)
{
    char err[ERRLEN] = "";
    data_set *ds = (data_set *)1;
    gand_status st = data_idx_load(images, labels, &ds, err, ERRLEN);
    ck_assert_msg(st == want, "status %d, want %d: %s", st, want, err);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(err, needle1), "'%s' not in: %s", needle1, err);
    if (needle2)
        ck_assert_msg(strstr(err, needle2), "'%s' not in: %s", needle2, err);
}

START_TEST(test_refusals)
{
    char *dir = make_dir();
    unsigned char pix[64] = {0};
    const char *p;

    p = path_in(dir, "magic");
    write_idx(p, 0x12345678, (unsigned[]){1, 2, 2}, 3, pix, 4);
    expect_refusal(p, NULL, GAND_EFORMAT, "bad magic 0x12345678", p);

    p = path_in(dir, "type");
    write_idx(p, 0x0D03, (unsigned[]){1, 2, 2}, 3, pix, 16);
    expect_refusal(p, NULL, GAND_EFORMAT, "element type 0x0d (float) is not supported", p);

    p = path_in(dir, "short.gz");
    write_idx(p, 0x803, (unsigned[]){5, 2, 2}, 3, pix, 7);
    expect_refusal(p, NULL, GAND_EFORMAT,
                   "truncated: header says 5 images of 2x2 (20 bytes) but the file holds 7 bytes",
                   p);

    p = path_in(dir, "long");
    write_idx(p, 0x803, (unsigned[]){5, 2, 2}, 3, pix, 23);
    expect_refusal(p, NULL, GAND_EFORMAT, "3 extra bytes after the 5 images of 2x2", p);

    p = path_in(dir, "zero");
    write_idx(p, 0x803, (unsigned[]){4, 0, 2}, 3, pix, 0);
    expect_refusal(p, NULL, GAND_EFORMAT, "4 images of 0x2", "zero dimension");
    write_idx(p, 0x803, (unsigned[]){0, 2, 2}, 3, pix, 0);
    expect_refusal(p, NULL, GAND_EFORMAT, "0 images of 2x2", "zero dimension");

    p = path_in(dir, "huge");
    write_idx(p, 0x803, (unsigned[]){1, 65536, 65536}, 3, pix, 64);
    expect_refusal(p, NULL, GAND_EFORMAT, "1 images of 65536x65536", "more than gand loads");
    write_idx(p, 0x803, (unsigned[]){2000000000u, 28, 28}, 3, pix, 64);
    expect_refusal(p, NULL, GAND_EFORMAT, "2000000000 images of 28x28", "more than gand loads");

    p = path_in(dir, "header");
    write_idx(p, 0x803, (unsigned[]){5}, 1, pix, 0);
    expect_refusal(p, NULL, GAND_EFORMAT, "truncated header", p);

    const char *images = path_in(dir, "images"), *labels = path_in(dir, "labels.gz");
    write_idx(images, 0x803, (unsigned[]){3, 2, 2}, 3, pix, 12);
    write_idx(labels, 0x801, (unsigned[]){4}, 1, pix, 4);
    expect_refusal(images, labels, GAND_EFORMAT, "holds 4 labels but images file", "holds 3 images");
    expect_refusal(images, labels, GAND_EFORMAT, images, labels);
    /* swapped files */
    expect_refusal(labels, NULL, GAND_EFORMAT, "bad magic 0x00000801", "is it the labels file?");
    write_idx(labels, 0x801, (unsigned[]){3}, 1, pix, 4);
    expect_refusal(images, labels, GAND_EFORMAT, "1 extra bytes after the 3 labels", labels);

    p = path_in(dir, "missing");
    expect_refusal(p, NULL, GAND_ENOTFOUND, p, "No such file");
    expect_refusal(images, p, GAND_ENOTFOUND, p, "No such file");
    expect_refusal(dir, NULL, GAND_EFORMAT, dir, "not a regular file");

    /* a gzip stream cut short: drop the last 10 bytes of a valid file */
    p = path_in(dir, "cut.gz");
    write_idx(p, 0x803, (unsigned[]){3, 2, 2}, 3, pix, 12);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(truncate(p, st.st_size - 10), 0);
    expect_refusal(p, NULL, GAND_EFORMAT, "gzip data is damaged or cut short", p);
    remove_dir(dir);
}
END_TEST

/* Opens name expecting status and every needle in the message. */
static void expect_open_refusal(const char *name, gand_status want, const char *needle1,
                                const char *needle2)
{
    char err[ERRLEN] = "";
    data_set *ds = (data_set *)1;
    gand_status st = data_open(name, true, &ds, err, ERRLEN);
    ck_assert_msg(st == want, "status %d, want %d: %s", st, want, err);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(err, needle1), "'%s' not in: %s", needle1, err);
    if (needle2)
        ck_assert_msg(strstr(err, needle2), "'%s' not in: %s", needle2, err);
}

START_TEST(test_open_by_directory)
{
    char *dir = make_dir();
    char err[ERRLEN];
    expect_open_refusal(dir, GAND_ENOTFOUND, "holds no train-images-idx3-ubyte[.gz]", dir);
    write_small(path_in(dir, "train-images-idx3-ubyte.gz"),
                path_in(dir, "train-labels-idx1-ubyte"));
    unsigned char pix[8] = {9, 9, 9, 9, 255, 255, 255, 255};
    write_idx(path_in(dir, "t10k-images-idx3-ubyte"), 0x803, (unsigned[]){2, 2, 2}, 3, pix, 8);

    data_set *ds = NULL;
    ck_assert_msg(data_open(dir, true, &ds, err, ERRLEN) == GAND_OK, "%s", err);
    check_small(ds);
    data_free(ds);
    ck_assert_msg(data_open(dir, false, &ds, err, ERRLEN) == GAND_OK, "%s", err);
    ck_assert_int_eq(data_count(ds), 2);
    ck_assert(!data_has_labels(ds));
    data_free(ds);

    /* the plain file wins over its .gz */
    write_idx(path_in(dir, "train-images-idx3-ubyte"), 0x803, (unsigned[]){3, 1, 1}, 3, pix, 3);
    ck_assert_msg(data_open(dir, true, &ds, err, ERRLEN) == GAND_OK, "%s", err);
    ck_assert_int_eq(data_shape(ds).h, 1);
    data_free(ds);

    expect_open_refusal("no-such-dataset", GAND_ENOTFOUND, "unknown dataset 'no-such-dataset'",
                        "fashion-mnist");
    expect_open_refusal("no-such-dataset", GAND_ENOTFOUND, "train-images-idx3-ubyte[.gz]", NULL);
    expect_open_refusal(path_in(dir, "t10k-images-idx3-ubyte"), GAND_ENOTFOUND,
                        "neither a built-in dataset", NULL);
    expect_open_refusal("", GAND_EINVAL, "empty", NULL);
    remove_dir(dir);
}
END_TEST

START_TEST(test_builtins)
{
    ck_assert_int_ge(data_builtin_count(), 1);
    const data_builtin *b = data_builtin_get(0);
    ck_assert_str_eq(b->name, "fashion-mnist");
    ck_assert_str_eq(b->dir, DATA_FASHION_MNIST_DIR);
    ck_assert(strstr(b->description, "10 classes"));
    ck_assert_ptr_eq(data_builtin_find("fashion-mnist"), b);
    ck_assert_ptr_null(data_builtin_find("mnist-fashion"));
    ck_assert_ptr_null(data_builtin_get(-1));
    ck_assert_ptr_null(data_builtin_get(data_builtin_count()));
    struct stat st;
    bool installed = stat(DATA_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", &st) == 0 ||
                     stat(DATA_FASHION_MNIST_DIR "/train-images-idx3-ubyte", &st) == 0;
    ck_assert(data_builtin_available(b) == installed);
    ck_assert(!data_builtin_available(NULL));
}
END_TEST

START_TEST(test_real_fashion_mnist)
{
    if (!data_builtin_available(data_builtin_find("fashion-mnist"))) {
        printf("skipped: Fashion-MNIST is not installed in " DATA_FASHION_MNIST_DIR "\n");
        return;
    }
    char err[ERRLEN];
    data_set *ds = NULL;
    ck_assert_msg(data_open("fashion-mnist", true, &ds, err, ERRLEN) == GAND_OK, "%s", err);
    ck_assert_int_eq(data_count(ds), 60000);
    nn_shape s = data_shape(ds);
    ck_assert_int_eq(s.c, 1);
    ck_assert_int_eq(s.h, 28);
    ck_assert_int_eq(s.w, 28);
    ck_assert_int_eq(data_num_classes(ds), 10);
    ck_assert_int_eq(data_label(ds, 0), 9); /* an ankle boot */
    float x[784];
    data_batch(ds, (int[]){0}, 1, x, NULL);
    double sum = 0;
    for (int k = 0; k < 784; k++)
        sum += (x[k] + 1.0) * 127.5;
    ck_assert_double_eq_tol(sum, 76247.0, 0.01); /* the bytes of the first image */
    int per_class[10] = {0};
    for (int i = 0; i < 60000; i++)
        per_class[data_label(ds, i)]++;
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(per_class[k], 6000);
    ck_assert_int_eq(data_subset(ds, (int[]){0, 9}, 2, err, ERRLEN), GAND_OK);
    ck_assert_int_eq(data_count(ds), 12000);
    data_free(ds);
}
END_TEST

/* Ten 1x1 images with pixel value 10 * i and label i % 5. */
static data_set *ten(const char *dir, bool with_labels)
{
    unsigned char pix[10], lab[10];
    for (int i = 0; i < 10; i++) {
        pix[i] = (unsigned char)(10 * i);
        lab[i] = (unsigned char)(i % 5);
    }
    write_idx(path_in(dir, "ten-images"), 0x803, (unsigned[]){10, 1, 1}, 3, pix, 10);
    write_idx(path_in(dir, "ten-labels"), 0x801, (unsigned[]){10}, 1, lab, 10);
    char err[ERRLEN];
    data_set *ds = NULL;
    ck_assert_msg(data_idx_load(path_in(dir, "ten-images"),
                                with_labels ? path_in(dir, "ten-labels") : NULL, &ds, err,
                                ERRLEN) == GAND_OK,
                  "%s", err);
    return ds;
}

START_TEST(test_subsets)
{
    char *dir = make_dir();
    char err[ERRLEN];
    data_set *ds = ten(dir, true);
    ck_assert_int_eq(data_num_classes(ds), 5);
    ck_assert_int_eq(data_subset(ds, (int[]){3, 1, 3}, 3, err, ERRLEN), GAND_OK);
    ck_assert_int_eq(data_count(ds), 4);
    ck_assert_int_eq(data_num_classes(ds), 5);
    const int want[4] = {1, 3, 6, 8}; /* original sample numbers, in order */
    int idx[4] = {0, 1, 2, 3}, labels[4];
    float x[4];
    data_batch(ds, idx, 4, x, labels);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(data_label(ds, i), want[i] % 5);
        ck_assert_int_eq(labels[i], want[i] % 5);
        ck_assert(x[i] == (float)(10 * want[i]) / 127.5f - 1.0f);
    }
    /* narrowing further */
    ck_assert_int_eq(data_subset(ds, (int[]){3, 4}, 2, err, ERRLEN), GAND_OK);
    ck_assert_int_eq(data_count(ds), 2);
    ck_assert_int_eq(data_label(ds, 0), 3);
    ck_assert_int_eq(data_label(ds, 1), 3);
    data_batch(ds, (int[]){1}, 1, x, NULL);
    ck_assert(x[0] == 80.0f / 127.5f - 1.0f);

    /* errors leave the subset as it was */
    ck_assert_int_eq(data_subset(ds, (int[]){1}, 1, err, ERRLEN), GAND_EINVAL);
    ck_assert_msg(strstr(err, "no sample has any of the 1 chosen classes"), "%s", err);
    ck_assert_int_eq(data_subset(ds, (int[]){5}, 1, err, ERRLEN), GAND_EINVAL);
    ck_assert_msg(strstr(err, "class 5 is out of range; this dataset's classes are 0..4"), "%s",
                  err);
    ck_assert_int_eq(data_subset(ds, (int[]){2, -1}, 2, err, ERRLEN), GAND_EINVAL);
    ck_assert_msg(strstr(err, "class -1 is out of range"), "%s", err);
    ck_assert_int_eq(data_subset(ds, (int[]){2}, 0, err, ERRLEN), GAND_EINVAL);
    ck_assert_msg(strstr(err, "class list is empty"), "%s", err);
    ck_assert_int_eq(data_count(ds), 2);
    data_free(ds);

    ds = ten(dir, false);
    ck_assert_int_eq(data_subset(ds, (int[]){0}, 1, err, ERRLEN), GAND_EINVAL);
    ck_assert_msg(strstr(err, "no labels"), "%s", err);
    ck_assert_int_eq(data_count(ds), 10);
    data_free(ds);
    remove_dir(dir);
}
END_TEST

START_TEST(test_out_of_memory_every_allocation)
{
    /* Fail each allocation of a load (and a subset) in turn: each must report
     * ENOMEM and leak nothing (ASan checks the leaks). zlib's own buffers are
     * allocated by zlib and not counted here. */
    char *dir = make_dir();
    const char *names[2][2] = {{"p-images", "p-labels"}, {"z-images.gz", "z-labels.gz"}};
    for (int f = 0; f < 2; f++) {
        write_small(path_in(dir, names[f][0]), path_in(dir, names[f][1]));
        long k;
        for (k = 1; k < 50; k++) {
            char err[ERRLEN] = "";
            data_set *ds = (data_set *)1;
            gand_alloc_fail_at(k, false);
            gand_status st = data_idx_load(path_in(dir, names[f][0]),
                                           path_in(dir, names[f][1]), &ds, err, ERRLEN);
            long failed = gand_alloc_failures();
            gand_alloc_fail_at(0, false);
            if (failed == 0) {
                ck_assert_int_eq(st, GAND_OK);
                check_small(ds);
                data_free(ds);
                break;
            }
            ck_assert_int_eq(st, GAND_ENOMEM);
            ck_assert_ptr_null(ds);
            ck_assert_msg(strstr(err, "out of memory"), "%s", err);
        }
        ck_assert_int_gt(k, 3); /* pixels, labels, the set */
        ck_assert_int_lt(k, 50);
    }
    data_set *ds = ten(dir, true);
    char err[ERRLEN];
    gand_alloc_fail_at(1, false);
    ck_assert_int_eq(data_subset(ds, (int[]){1}, 1, err, ERRLEN), GAND_ENOMEM);
    gand_alloc_fail_at(0, false);
    ck_assert_msg(strstr(err, "out of memory"), "%s", err);
    ck_assert_int_eq(data_count(ds), 10);
    data_free(ds);
    remove_dir(dir);
}
END_TEST

static Suite *data_idx_suite(void)
{
    Suite *s = suite_create("data_idx");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_load_plain_and_gzip);
    tcase_add_test(tc, test_load_idx4_channels);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_open_by_directory);
    tcase_add_test(tc, test_builtins);
    tcase_add_test(tc, test_real_fashion_mnist);
    tcase_add_test(tc, test_subsets);
    tcase_add_test(tc, test_out_of_memory_every_allocation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(data_idx_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
