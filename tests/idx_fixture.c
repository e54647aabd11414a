#define _XOPEN_SOURCE 700 /* nftw */
#include "idx_fixture.h"

#include <check.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *fixture_tmpdir(void)
{
    char *dir = strdup("/tmp/gand-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fixture_rmdir(char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static void put_u32(FILE *f, unsigned v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    ck_assert_uint_eq(fwrite(b, 1, 4, f), 4);
}

void fixture_write_idx(const char *dir, int n, int h, int w, const unsigned char *pixels,
                       const unsigned char *labels)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    put_u32(f, 0x803);
    put_u32(f, (unsigned)n);
    put_u32(f, (unsigned)h);
    put_u32(f, (unsigned)w);
    size_t len = (size_t)n * h * w;
    ck_assert_uint_eq(fwrite(pixels, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    if (!labels)
        return;
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    put_u32(f, 0x801);
    put_u32(f, (unsigned)n);
    ck_assert_uint_eq(fwrite(labels, 1, (size_t)n, f), (size_t)n);
    ck_assert_int_eq(fclose(f), 0);
}

void fixture_write_blocks(const char *dir, int n, int size, int classes, unsigned seed)
{
    unsigned char *px = calloc((size_t)n * size * size, 1);
    unsigned char *lb = malloc((size_t)n);
    unsigned s = seed * 2654435761u + 1;
    int half = size / 2;
    for (int i = 0; i < n; i++) {
        int k = i % classes;
        lb[i] = (unsigned char)k;
        int oy = (k % 4) / 2 * half, ox = (k % 4) % 2 * half;
        int bright = 255 - 60 * (k / 4);
        unsigned char *img = px + (size_t)i * size * size;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                s = s * 1103515245u + 12345u;
                int noise = (int)((s >> 16) % 16);
                bool in = y >= oy && y < oy + half && x >= ox && x < ox + half;
                int v = in ? bright - noise : noise;
                img[y * size + x] = (unsigned char)v;
            }
        }
    }
    fixture_write_idx(dir, n, size, size, px, lb);
    free(px);
    free(lb);
}
