/* PNG grids through libpng, encoded in memory. libpng allocates through
 * gand_malloc so that out-of-memory tests reach its allocations too. */
#include "internal.h"

#include "gand/alloc.h"

#include <png.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    unsigned char *buf; /* the PNG so far, len of cap bytes used */
    size_t len, cap;
    bool oom;
    char msg[128]; /* libpng's last error */
} png_sink;

static void on_error(png_structp png, png_const_charp msg)
{
    png_sink *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {}

static png_voidp on_malloc(png_structp png, png_alloc_size_t n)
{
    void *p = gand_malloc(n);
    if (!p) {
        png_sink *s = png_get_mem_ptr(png);
        s->oom = true;
    }
    return p;
}

static void on_free(png_structp png, png_voidp p) { gand_free(p); }

static void on_write(png_structp png, png_bytep data, size_t n)
{
    png_sink *s = png_get_io_ptr(png);
    if (n > s->cap - s->len) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap - s->len < n)
            cap *= 2;
        unsigned char *buf = gand_realloc(s->buf, cap);
        if (!buf) {
            s->oom = true;
            png_error(png, "out of memory");
        }
        s->buf = buf;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

static void on_flush(png_structp png) {}

/* Kept apart from its caller so that no local changes between setjmp and a
 * longjmp back to it. pix is (height, width, channels). */
static gand_status encode(const img_grid *g, const uint8_t *pix, png_sink *sink)
{
    png_structp png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, sink, on_error,
                                                on_warning, sink, on_malloc, on_free);
    if (!png)
        return GAND_ENOMEM;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return GAND_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return sink->oom ? GAND_ENOMEM : GAND_EINTERNAL;
    }
    png_set_write_fn(png, sink, on_write, on_flush);
    png_set_IHDR(png, info, (png_uint_32)g->width, (png_uint_32)g->height, 8,
                 g->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)g->width * g->channels;
    for (int y = 0; y < g->height; y++)
        png_write_row(png, pix + (size_t)y * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return GAND_OK;
}

gand_status img_encode_png_grid(const float *images, int n, nn_shape s, int cols,
                                unsigned char **png, size_t *png_len, char *err, size_t errlen)
{
    *png = NULL;
    *png_len = 0;
    img_grid g;
    gand_status st = img_grid_layout(n, s, cols, &g, err, errlen);
    if (st != GAND_OK)
        return st;
    uint8_t *pix = gand_malloc((size_t)g.width * g.height * g.channels);
    if (!pix)
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory drawing a %dx%d image",
                           g.width, g.height);
    img_grid_draw(&g, images, n, s, pix);
    png_sink sink = {0};
    st = encode(&g, pix, &sink);
    gand_free(pix);
    if (st != GAND_OK) {
        gand_free(sink.buf);
        if (st == GAND_ENOMEM)
            return gand_errorf(err, errlen, st, "out of memory encoding a %dx%d PNG", g.width,
                               g.height);
        return gand_errorf(err, errlen, st, "libpng refused a %dx%d image: %s", g.width,
                           g.height, sink.msg);
    }
    *png = sink.buf;
    *png_len = sink.len;
    return GAND_OK;
}

gand_status img_write_png_grid(const char *path, const float *images, int n, nn_shape s,
                               int cols, char *err, size_t errlen)
{
    unsigned char *png;
    size_t len;
    gand_status st = img_encode_png_grid(images, n, s, cols, &png, &len, err, errlen);
    if (st != GAND_OK)
        return st;
    st = img_write_file_atomic(path, png, len, err, errlen);
    gand_free(png);
    return st;
}
