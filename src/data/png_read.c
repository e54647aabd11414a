/* Reading 8-bit grey and RGB PNGs back (the grids gand wrote) through
 * libpng, which allocates through gand_malloc like the writer does. */
#include "internal.h"

#include "gand/alloc.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

/* What the read leaves behind; lives in memory, not in locals, so a
 * longjmp out of libpng finds it intact. */
typedef struct {
    FILE *f;
    unsigned char *pix; /* (height, width, channels) */
    png_bytep *rows;    /* height pointers into pix */
    int width, height, channels;
    bool oom;
    bool refused; /* msg says why the image is not one gand reads */
    char msg[160];
} png_source;

static void on_error(png_structp png, png_const_charp msg)
{
    png_source *s = png_get_error_ptr(png);
    if (msg != s->msg) /* a refusal already wrote its reason there */
        snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {}

static png_voidp on_malloc(png_structp png, png_alloc_size_t n)
{
    void *p = gand_malloc(n);
    if (!p) {
        png_source *s = png_get_mem_ptr(png);
        s->oom = true;
    }
    return p;
}

static void on_free(png_structp png, png_voidp p) { gand_free(p); }

static const char *color_name(int type)
{
    switch (type) {
    case PNG_COLOR_TYPE_PALETTE: return "palette";
    case PNG_COLOR_TYPE_GRAY_ALPHA: return "grey with alpha";
    case PNG_COLOR_TYPE_RGB_ALPHA: return "RGB with alpha";
    default: return "unknown";
    }
}

/* Checks the header and takes the pixels. Kept apart from its caller so
 * that no local changes between setjmp and a longjmp back to it. */
static gand_status decode(png_source *src)
{
    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, src, on_error, on_warning,
                                               src, on_malloc, on_free);
    if (!png)
        return GAND_ENOMEM;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return GAND_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        if (src->oom)
            return GAND_ENOMEM;
        return ferror(src->f) ? GAND_EIO : GAND_EFORMAT;
    }
    png_init_io(png, src->f);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if (type != PNG_COLOR_TYPE_GRAY && type != PNG_COLOR_TYPE_RGB) {
        snprintf(src->msg, sizeof src->msg,
                 "it is a %s image; only 8-bit grey and RGB images are read", color_name(type));
        src->refused = true;
        png_error(png, src->msg);
    }
    if (depth != 8) {
        snprintf(src->msg, sizeof src->msg,
                 "it has %d bits per channel; only 8-bit grey and RGB images are read", depth);
        src->refused = true;
        png_error(png, src->msg);
    }
    src->channels = type == PNG_COLOR_TYPE_RGB ? 3 : 1;
    if (w > IMG_MAX_SIDE || h > IMG_MAX_SIDE ||
        (size_t)w * h * (size_t)src->channels > DATA_MAX_IMAGE_VALUES) {
        snprintf(src->msg, sizeof src->msg,
                 "it is %lux%lu pixels; at most %d on a side and %zu values are read",
                 (unsigned long)w, (unsigned long)h, IMG_MAX_SIDE, DATA_MAX_IMAGE_VALUES);
        src->refused = true;
        png_error(png, src->msg);
    }
    src->width = (int)w;
    src->height = (int)h;
    size_t stride = (size_t)w * (size_t)src->channels;
    src->pix = gand_malloc(stride * h);
    src->rows = gand_malloc(sizeof *src->rows * h);
    if (!src->pix || !src->rows) {
        src->oom = true;
        png_error(png, "out of memory");
    }
    for (png_uint_32 y = 0; y < h; y++)
        src->rows[y] = src->pix + y * stride;
    png_read_image(png, src->rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    return GAND_OK;
}

gand_status img_read_png(const char *path, unsigned char **pixels, int *width, int *height,
                         int *channels, char *err, size_t errlen)
{
    *pixels = NULL;
    *width = *height = *channels = 0;
    png_source src = {0};
    src.f = fopen(path, "rb");
    if (!src.f)
        return gand_errorf(err, errlen, errno == ENOENT ? GAND_ENOTFOUND : GAND_EIO,
                           "cannot open %s: %s", path, strerror(errno));
    unsigned char sig[8];
    size_t got = fread(sig, 1, sizeof sig, src.f);
    gand_status st = GAND_OK;
    if (got < sizeof sig && ferror(src.f))
        st = gand_errorf(err, errlen, GAND_EIO, "cannot read %s: %s", path, strerror(errno));
    else if (got < sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0)
        st = gand_errorf(err, errlen, GAND_EFORMAT, "%s is not a PNG file (bad signature)", path);
    if (st == GAND_OK) {
        rewind(src.f);
        st = decode(&src);
        if (st == GAND_ENOMEM)
            st = gand_errorf(err, errlen, st, "out of memory reading %s", path);
        else if (st == GAND_EIO)
            st = gand_errorf(err, errlen, st, "cannot read %s: %s", path, strerror(errno));
        else if (st != GAND_OK && src.refused)
            st = gand_errorf(err, errlen, st, "cannot read %s: %s", path, src.msg);
        else if (st != GAND_OK)
            st = gand_errorf(err, errlen, st, "%s is a damaged PNG file: %s", path, src.msg);
    }
    fclose(src.f);
    gand_free(src.rows);
    if (st != GAND_OK) {
        gand_free(src.pix);
        return st;
    }
    *pixels = src.pix;
    *width = src.width;
    *height = src.height;
    *channels = src.channels;
    return GAND_OK;
}
