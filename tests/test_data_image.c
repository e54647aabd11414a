/* PNG and GIF grids: geometry, pixel values, borders, file handling, and
 * reading the results back with libpng and giflib; img_read_png. */
#include "gand/alloc.h"
#include "gand/data.h"

#include <check.h>
#include <gif_lib.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERRLEN 512
#define BORDER 64

static char *make_dir(void)
{
    char *dir = strdup("/tmp/gand-image-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

/* Decodes a PNG in memory; returns (height, width, channels) bytes. */
static unsigned char *decode_png(const unsigned char *png, size_t len, int *w, int *h, int *c)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    ck_assert(png_image_begin_read_from_memory(&img, png, len));
    *w = (int)img.width;
    *h = (int)img.height;
    *c = PNG_IMAGE_PIXEL_CHANNELS(img.format);
    ck_assert(img.format == PNG_FORMAT_GRAY || img.format == PNG_FORMAT_RGB);
    unsigned char *pix = malloc(PNG_IMAGE_SIZE(img));
    ck_assert(png_image_finish_read(&img, NULL, pix, 0, NULL));
    return pix;
}

static bool contains(const unsigned char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

/* The value that the grid writes as byte b. */
static float from_byte(int b) { return (float)b / 127.5f - 1.0f; }

START_TEST(test_png_grey_grid)
{
    /* 5 images of 3x4 in 2 columns: 3 rows, the last cell empty */
    nn_shape s = {1, 3, 4};
    float x[5 * 12];
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 12; k++)
            x[i * 12 + k] = from_byte(i * 40 + k);
    x[4 * 12 + 0] = 2.0f;  /* clamped to 255 */
    x[4 * 12 + 1] = -3.0f; /* clamped to 0 */
    x[4 * 12 + 2] = NAN;   /* 0 */
    x[4 * 12 + 3] = 0.0f;  /* 127.5 rounds to 128 */
    x[4 * 12 + 4] = -1.0f + 0.4f / 127.5f; /* 0.4 rounds to 0 */

    char *dir = make_dir(), path[512], err[ERRLEN];
    snprintf(path, sizeof path, "%s/grid.png", dir);
    ck_assert_msg(img_write_png_grid(path, x, 5, s, 2, err, ERRLEN) == GAND_OK, "%s", err);
    size_t len;
    unsigned char *file = read_all(path, &len);
    ck_assert(memcmp(file, "\x89PNG\r\n\x1a\n", 8) == 0);
    int w, h, c;
    unsigned char *pix = decode_png(file, len, &w, &h, &c);
    ck_assert_int_eq(w, 2 * (4 + 2) + 2);
    ck_assert_int_eq(h, 3 * (3 + 2) + 2);
    ck_assert_int_eq(c, 1);
    for (int i = 0; i < 4; i++) {
        int x0 = 2 + (i % 2) * 6, y0 = 2 + (i / 2) * 5;
        for (int y = 0; y < 3; y++)
            for (int xx = 0; xx < 4; xx++)
                ck_assert_int_eq(pix[(y0 + y) * w + x0 + xx], i * 40 + y * 4 + xx);
    }
    const unsigned char *last = pix + 12 * w + 2; /* image 4 at (2, 12) */
    ck_assert_int_eq(last[0], 255);
    ck_assert_int_eq(last[1], 0);
    ck_assert_int_eq(last[2], 0);
    ck_assert_int_eq(last[3], 128);
    ck_assert_int_eq(last[w], 0);
    ck_assert_int_eq(last[w + 1], 4 * 40 + 5);
    /* borders: the frame, between columns and rows, and the empty cell */
    for (int xx = 0; xx < w; xx++) {
        ck_assert_int_eq(pix[xx], BORDER);
        ck_assert_int_eq(pix[w + xx], BORDER);
        ck_assert_int_eq(pix[5 * w + xx], BORDER);
        ck_assert_int_eq(pix[6 * w + xx], BORDER);
        ck_assert_int_eq(pix[11 * w + xx], BORDER);
        ck_assert_int_eq(pix[(h - 1) * w + xx], BORDER);
    }
    for (int y = 0; y < h; y++) {
        ck_assert_int_eq(pix[y * w + 0], BORDER);
        ck_assert_int_eq(pix[y * w + 6], BORDER);
        ck_assert_int_eq(pix[y * w + 7], BORDER);
        ck_assert_int_eq(pix[y * w + w - 1], BORDER);
    }
    for (int y = 12; y < 15; y++)
        for (int xx = 8; xx < 12; xx++)
            ck_assert_int_eq(pix[y * w + xx], BORDER);

    /* the in-memory encoding is the file's bytes */
    unsigned char *png;
    size_t png_len;
    ck_assert_int_eq(img_encode_png_grid(x, 5, s, 2, &png, &png_len, err, ERRLEN), GAND_OK);
    ck_assert_uint_eq(png_len, len);
    ck_assert(memcmp(png, file, len) == 0);
    gand_free(png);

    /* more columns than images: one row of 5 */
    ck_assert_int_eq(img_encode_png_grid(x, 5, s, 9, &png, &png_len, err, ERRLEN), GAND_OK);
    free(pix);
    pix = decode_png(png, png_len, &w, &h, &c);
    ck_assert_int_eq(w, 5 * 6 + 2);
    ck_assert_int_eq(h, 5 + 2);
    gand_free(png);
    free(pix);
    free(file);
    ck_assert(!exists(strcat(path, ".tmp")));
    path[strlen(path) - 4] = '\0';
    unlink(path);
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(test_png_rgb_grid)
{
    /* 2 images of 3x2x2: image 0 pure red, image 1 channel c = byte 50c + k */
    nn_shape s = {3, 2, 2};
    float x[24];
    for (int k = 0; k < 4; k++) {
        x[k] = 1.0f;
        x[4 + k] = -1.0f;
        x[8 + k] = -1.0f;
    }
    for (int ch = 0; ch < 3; ch++)
        for (int k = 0; k < 4; k++)
            x[12 + ch * 4 + k] = from_byte(50 * ch + k);
    unsigned char *png;
    size_t len;
    char err[ERRLEN];
    ck_assert_msg(img_encode_png_grid(x, 2, s, 2, &png, &len, err, ERRLEN) == GAND_OK, "%s",
                  err);
    int w, h, c;
    unsigned char *pix = decode_png(png, len, &w, &h, &c);
    ck_assert_int_eq(c, 3);
    ck_assert_int_eq(w, 2 * 4 + 2);
    ck_assert_int_eq(h, 4 + 2);
    const unsigned char *red = pix + (2 * w + 2) * 3;
    ck_assert_int_eq(red[0], 255);
    ck_assert_int_eq(red[1], 0);
    ck_assert_int_eq(red[2], 0);
    for (int y = 0; y < 2; y++)
        for (int xx = 0; xx < 2; xx++)
            for (int ch = 0; ch < 3; ch++)
                ck_assert_int_eq(pix[((2 + y) * w + 6 + xx) * 3 + ch], 50 * ch + y * 2 + xx);
    for (int ch = 0; ch < 3; ch++)
        ck_assert_int_eq(pix[(w + 5) * 3 + ch], BORDER);
    free(pix);
    gand_free(png);
}
END_TEST

START_TEST(test_write_failures)
{
    char *dir = make_dir(), path[512], err[ERRLEN] = "";
    float x[4] = {0};
    nn_shape s = {1, 2, 2};
    snprintf(path, sizeof path, "%s/missing/grid.png", dir);
    ck_assert_int_eq(img_write_png_grid(path, x, 1, s, 1, err, ERRLEN), GAND_EIO);
    ck_assert_msg(strstr(err, path), "%s", err);
    ck_assert_msg(strstr(err, "No such file or directory"), "%s", err);

    /* the rename fails after the temporary file exists: it must go */
    snprintf(path, sizeof path, "%s/taken.png", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    char inner[600], tmp[600];
    snprintf(inner, sizeof inner, "%s/keep", path);
    fclose(fopen(inner, "w"));
    ck_assert_int_eq(img_write_png_grid(path, x, 1, s, 1, err, ERRLEN), GAND_EIO);
    ck_assert_msg(strstr(err, path), "%s", err);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert(!exists(tmp));
    ck_assert_int_eq(img_write_gif_grid(path, x, 1, 1, s, 1, 5, err, ERRLEN), GAND_EIO);
    ck_assert(!exists(tmp));

    unsigned char *png;
    size_t len;
    ck_assert_int_eq(img_encode_png_grid(x, 1, (nn_shape){2, 2, 2}, 1, &png, &len, err, ERRLEN),
                     GAND_EINVAL);
    ck_assert_msg(strstr(err, "2 channels"), "%s", err);
    ck_assert_ptr_null(png);
    ck_assert_int_eq(img_encode_png_grid(x, 1, s, 0, &png, &len, err, ERRLEN), GAND_EINVAL);
    ck_assert_int_eq(img_encode_png_grid(x, 0, s, 1, &png, &len, err, ERRLEN), GAND_EINVAL);
    ck_assert_int_eq(img_encode_png_grid(x, 1, (nn_shape){1, 70000, 1}, 1, &png, &len, err,
                                         ERRLEN),
                     GAND_EINVAL);
    ck_assert_msg(strstr(err, "at most 65535"), "%s", err);
    ck_assert_int_eq(img_encode_gif_grid(x, 0, 1, s, 1, 5, &png, &len, err, ERRLEN),
                     GAND_EINVAL);
    ck_assert_int_eq(img_encode_gif_grid(x, 1, 1, s, 1, -1, &png, &len, err, ERRLEN),
                     GAND_EINVAL);
    unlink(inner);
    rmdir(path);
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(test_out_of_memory_every_allocation)
{
    /* libpng allocates through gand_malloc: fail each allocation in turn;
     * each must report ENOMEM and leak nothing (ASan checks the leaks) */
    float x[2 * 16];
    for (int k = 0; k < 32; k++)
        x[k] = (float)k / 16.0f - 1.0f;
    long k;
    for (k = 1; k < 100; k++) {
        unsigned char *png = NULL;
        size_t len;
        char err[ERRLEN] = "";
        gand_alloc_fail_at(k, false);
        gand_status st = img_encode_png_grid(x, 2, (nn_shape){1, 4, 4}, 2, &png, &len, err,
                                             ERRLEN);
        long failed = gand_alloc_failures();
        gand_alloc_fail_at(0, false);
        if (failed == 0) {
            ck_assert_int_eq(st, GAND_OK);
            gand_free(png);
            break;
        }
        ck_assert_int_eq(st, GAND_ENOMEM);
        ck_assert_ptr_null(png);
        ck_assert_msg(strstr(err, "out of memory"), "%s", err);
    }
    ck_assert_int_gt(k, 4);
    ck_assert_int_lt(k, 100);

    /* giflib allocates with malloc; the grid buffers and the output are ours */
    for (k = 1; k < 100; k++) {
        unsigned char *gif = NULL;
        size_t len;
        char err[ERRLEN] = "";
        gand_alloc_fail_at(k, false);
        gand_status st = img_encode_gif_grid(x, 1, 2, (nn_shape){1, 4, 4}, 2, 5, &gif, &len,
                                             err, ERRLEN);
        long failed = gand_alloc_failures();
        gand_alloc_fail_at(0, false);
        if (failed == 0) {
            ck_assert_int_eq(st, GAND_OK);
            gand_free(gif);
            break;
        }
        ck_assert_int_eq(st, GAND_ENOMEM);
        ck_assert_ptr_null(gif);
        ck_assert_msg(strstr(err, "out of memory"), "%s", err);
    }
    ck_assert_int_gt(k, 3);
    ck_assert_int_lt(k, 100);
}
END_TEST

START_TEST(test_gif_animation)
{
    /* 3 frames of 2 images of 4x4 in 2 columns; frame f, image i, pixel k
     * has byte 60f + 20i + k */
    nn_shape s = {1, 4, 4};
    float x[3 * 2 * 16];
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 16; k++)
                x[(f * 2 + i) * 16 + k] = from_byte(60 * f + 20 * i + k);
    char *dir = make_dir(), path[512], err[ERRLEN];
    snprintf(path, sizeof path, "%s/anim.gif", dir);
    ck_assert_msg(img_write_gif_grid(path, x, 3, 2, s, 2, 7, err, ERRLEN) == GAND_OK, "%s", err);
    size_t len;
    unsigned char *file = read_all(path, &len);
    ck_assert(memcmp(file, "GIF89a", 6) == 0);
    ck_assert(contains(file, len, "NETSCAPE2.0"));
    unsigned char *mem;
    size_t mem_len;
    ck_assert_int_eq(img_encode_gif_grid(x, 3, 2, s, 2, 7, &mem, &mem_len, err, ERRLEN),
                     GAND_OK);
    ck_assert_uint_eq(mem_len, len);
    ck_assert(memcmp(mem, file, len) == 0);
    gand_free(mem);
    free(file);

    int gerr = 0;
    GifFileType *gif = DGifOpenFileName(path, &gerr);
    ck_assert_ptr_nonnull(gif);
    ck_assert_int_eq(DGifSlurp(gif), GIF_OK);
    ck_assert_int_eq(gif->ImageCount, 3);
    int w = 2 * 6 + 2, h = 6 + 2;
    ck_assert_int_eq(gif->SWidth, w);
    ck_assert_int_eq(gif->SHeight, h);
    ck_assert_ptr_nonnull(gif->SColorMap);
    ck_assert_int_eq(gif->SColorMap->ColorCount, 256);
    for (int v = 0; v < 256; v += 51) {
        GifColorType col = gif->SColorMap->Colors[v];
        ck_assert(col.Red == v && col.Green == v && col.Blue == v);
    }
    for (int f = 0; f < 3; f++) {
        SavedImage *im = &gif->SavedImages[f];
        ck_assert_int_eq(im->ImageDesc.Width, w);
        ck_assert_int_eq(im->ImageDesc.Height, h);
        GraphicsControlBlock gcb;
        ck_assert_int_eq(DGifSavedExtensionToGCB(gif, f, &gcb), GIF_OK);
        ck_assert_int_eq(gcb.DelayTime, 7);
        const GifByteType *r = im->RasterBits;
        ck_assert_int_eq(r[0], BORDER);
        ck_assert_int_eq(r[2 * w + 2], 60 * f);              /* image 0, pixel 0 */
        ck_assert_int_eq(r[3 * w + 3], 60 * f + 5);          /* image 0, pixel (1, 1) */
        ck_assert_int_eq(r[5 * w + 8 + 3], 60 * f + 20 + 15); /* image 1, last pixel */
        ck_assert_int_eq(r[2 * w + 6], BORDER);
    }
    DGifCloseFile(gif, &gerr);
    unlink(path);
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(test_gif_rgb_palette)
{
    /* one frame, one 3x1x2 image: a red pixel and a mid grey one */
    float x[6] = {1.0f, 0.0f, -1.0f, 0.0f, -1.0f, 0.0f};
    unsigned char *mem;
    size_t len;
    char err[ERRLEN];
    ck_assert_int_eq(img_encode_gif_grid(x, 1, 1, (nn_shape){3, 1, 2}, 1, 10, &mem, &len, err,
                                         ERRLEN),
                     GAND_OK);
    ck_assert(!contains(mem, len, "NETSCAPE2.0")); /* a still image does not loop */
    char path[] = "/tmp/gand-gif-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, mem, len), (ssize_t)len);
    close(fd);
    gand_free(mem);
    int gerr = 0;
    GifFileType *gif = DGifOpenFileName(path, &gerr);
    ck_assert_ptr_nonnull(gif);
    ck_assert_int_eq(DGifSlurp(gif), GIF_OK);
    ck_assert_int_eq(gif->ImageCount, 1);
    const GifByteType *r = gif->SavedImages[0].RasterBits;
    int w = gif->SWidth;
    ck_assert_int_eq(w, 2 + 2 + 2);
    ck_assert_int_eq(r[2 * w + 2], 7 << 5); /* red: r 7, g 0, b 0 */
    int grey = 4 << 5 | 4 << 2 | 2;         /* 128 -> r 4, g 4, b 2 */
    ck_assert_int_eq(r[2 * w + 3], grey);
    ck_assert_int_eq(r[0], 2 << 5 | 2 << 2 | 1); /* border 64 */
    GifColorType red = gif->SColorMap->Colors[7 << 5], mid = gif->SColorMap->Colors[grey];
    ck_assert(red.Red == 255 && red.Green == 0 && red.Blue == 0);
    ck_assert(mid.Red == 146 && mid.Green == 146 && mid.Blue == 170);
    DGifCloseFile(gif, &gerr);
    unlink(path);
}
END_TEST

/* Writes len bytes of b to path. */
static void write_bytes(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

START_TEST(test_png_read_back)
{
    /* grey: 3 images of 2x3 in 2 columns, image i pixel k = byte 30i + k */
    nn_shape s = {1, 2, 3};
    float x[3 * 6];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 6; k++)
            x[i * 6 + k] = from_byte(30 * i + k);
    char *dir = make_dir(), path[512], err[ERRLEN] = "";
    snprintf(path, sizeof path, "%s/grid.png", dir);
    ck_assert_msg(img_write_png_grid(path, x, 3, s, 2, err, ERRLEN) == GAND_OK, "%s", err);
    unsigned char *pix;
    int w, h, c;
    ck_assert_msg(img_read_png(path, &pix, &w, &h, &c, err, ERRLEN) == GAND_OK, "%s", err);
    ck_assert_int_eq(w, 2 * 5 + 2);
    ck_assert_int_eq(h, 2 * 4 + 2);
    ck_assert_int_eq(c, 1);
    for (int i = 0; i < 3; i++) {
        int x0 = 2 + (i % 2) * 5, y0 = 2 + (i / 2) * 4;
        for (int y = 0; y < 2; y++)
            for (int xx = 0; xx < 3; xx++)
                ck_assert_int_eq(pix[(y0 + y) * w + x0 + xx], 30 * i + y * 3 + xx);
    }
    ck_assert_int_eq(pix[0], BORDER);
    ck_assert_int_eq(pix[6 * w + 7], BORDER); /* the empty cell */
    ck_assert_int_eq(pix[h * w - 1], BORDER);
    gand_free(pix);

    /* RGB: one 3x2x2 image, channel ch pixel k = byte 50ch + k; the bytes
     * are those libpng's own reader finds in the encoded grid */
    float rgb[12];
    for (int k = 0; k < 12; k++)
        rgb[k] = from_byte(50 * (k / 4) + k % 4);
    ck_assert_int_eq(img_write_png_grid(path, rgb, 1, (nn_shape){3, 2, 2}, 1, err, ERRLEN),
                     GAND_OK);
    ck_assert_msg(img_read_png(path, &pix, &w, &h, &c, err, ERRLEN) == GAND_OK, "%s", err);
    ck_assert_int_eq(w, 6);
    ck_assert_int_eq(h, 6);
    ck_assert_int_eq(c, 3);
    for (int k = 0; k < 4; k++)
        for (int ch = 0; ch < 3; ch++)
            ck_assert_int_eq(pix[((2 + k / 2) * w + 2 + k % 2) * 3 + ch], 50 * ch + k);
    unsigned char *png;
    size_t len;
    ck_assert_int_eq(img_encode_png_grid(rgb, 1, (nn_shape){3, 2, 2}, 1, &png, &len, err, ERRLEN),
                     GAND_OK);
    int w2, h2, c2;
    unsigned char *ref = decode_png(png, len, &w2, &h2, &c2);
    ck_assert(w2 == w && h2 == h && c2 == c);
    ck_assert(memcmp(pix, ref, (size_t)w * h * c) == 0);
    free(ref);
    gand_free(pix);

    /* a truncated PNG is damaged, not an I/O error */
    char cut[600];
    snprintf(cut, sizeof cut, "%s/cut.png", dir);
    write_bytes(cut, png, len - 20);
    gand_free(png);
    ck_assert_int_eq(img_read_png(cut, &pix, &w, &h, &c, err, ERRLEN), GAND_EFORMAT);
    ck_assert_msg(strstr(err, cut) && strstr(err, "damaged"), "%s", err);
    ck_assert_ptr_null(pix);
    unlink(cut);

    /* libpng runs out of memory at each allocation in turn: ENOMEM, no leak */
    long k;
    for (k = 1; k < 100; k++) {
        gand_alloc_fail_at(k, false);
        gand_status st = img_read_png(path, &pix, &w, &h, &c, err, ERRLEN);
        long failed = gand_alloc_failures();
        gand_alloc_fail_at(0, false);
        if (failed == 0) {
            ck_assert_int_eq(st, GAND_OK);
            gand_free(pix);
            break;
        }
        ck_assert_int_eq(st, GAND_ENOMEM);
        ck_assert_ptr_null(pix);
        ck_assert_msg(strstr(err, "out of memory"), "%s", err);
    }
    ck_assert_int_gt(k, 3);
    ck_assert_int_lt(k, 100);
    unlink(path);
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(test_png_read_refusals)
{
    char *dir = make_dir(), path[512], err[ERRLEN] = "";
    unsigned char *pix = (unsigned char *)"x";
    int w = 1, h = 1, c = 1;
    snprintf(path, sizeof path, "%s/none.png", dir);
    ck_assert_int_eq(img_read_png(path, &pix, &w, &h, &c, err, ERRLEN), GAND_ENOTFOUND);
    ck_assert_msg(strstr(err, path), "%s", err);
    ck_assert_ptr_null(pix);
    ck_assert(w == 0 && h == 0 && c == 0);

    /* a GIF, and a file shorter than the PNG signature */
    float x[4] = {0};
    unsigned char *gif;
    size_t len;
    ck_assert_int_eq(img_encode_gif_grid(x, 1, 1, (nn_shape){1, 2, 2}, 1, 5, &gif, &len, err,
                                         ERRLEN),
                     GAND_OK);
    write_bytes(path, gif, len);
    gand_free(gif);
    ck_assert_int_eq(img_read_png(path, &pix, &w, &h, &c, err, ERRLEN), GAND_EFORMAT);
    ck_assert_msg(strstr(err, path) && strstr(err, "not a PNG"), "%s", err);
    ck_assert_ptr_null(pix);
    write_bytes(path, "\x89PNG", 4);
    ck_assert_int_eq(img_read_png(path, &pix, &w, &h, &c, err, ERRLEN), GAND_EFORMAT);

    /* valid PNGs of kinds the grids never are */
    static const struct {
        png_uint_32 format;
        const char *why;
    } kinds[] = {
        {PNG_FORMAT_GA, "grey with alpha"},
        {PNG_FORMAT_RGBA, "RGB with alpha"},
        {PNG_FORMAT_LINEAR_Y, "16 bits"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        png_image img;
        memset(&img, 0, sizeof img);
        img.version = PNG_IMAGE_VERSION;
        img.width = 2;
        img.height = 2;
        img.format = kinds[i].format;
        unsigned char buf[2 * 2 * 4 * 2] = {0};
        ck_assert(png_image_write_to_file(&img, path, 0, buf, 0, NULL));
        ck_assert_int_eq(img_read_png(path, &pix, &w, &h, &c, err, ERRLEN), GAND_EFORMAT);
        ck_assert_msg(strstr(err, path) && strstr(err, kinds[i].why), "%s", err);
        ck_assert_msg(strstr(err, "only 8-bit grey and RGB"), "%s", err);
        ck_assert_ptr_null(pix);
    }
    unlink(path);
    rmdir(dir);
    free(dir);
}
END_TEST

static Suite *data_image_suite(void)
{
    Suite *s = suite_create("data_image");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_png_grey_grid);
    tcase_add_test(tc, test_png_rgb_grid);
    tcase_add_test(tc, test_write_failures);
    tcase_add_test(tc, test_out_of_memory_every_allocation);
    tcase_add_test(tc, test_gif_animation);
    tcase_add_test(tc, test_gif_rgb_palette);
    tcase_add_test(tc, test_png_read_back);
    tcase_add_test(tc, test_png_read_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(data_image_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
