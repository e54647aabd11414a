/* Animated GIF grids through giflib, encoded in memory.
 *
 * Grey frames use a 256-level grey palette, so each byte of the grid is its
 * own palette index. RGB frames are quantised to the fixed 3-3-2 palette
 * (8 levels of red and green, 4 of blue), rounding each channel to its
 * nearest level: one palette for every frame, so colours do not flicker as
 * an adaptive palette would, at the price of visible banding. */
#include "internal.h"

#include "gand/alloc.h"

#include <gif_lib.h>
#include <string.h>

typedef struct {
    unsigned char *buf; /* the GIF so far, len of cap bytes used */
    size_t len, cap;
    bool oom;
} gif_sink;

static int on_write(GifFileType *gif, const GifByteType *data, int n)
{
    gif_sink *s = gif->UserData;
    if ((size_t)n > s->cap - s->len) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap - s->len < (size_t)n)
            cap *= 2;
        unsigned char *buf = gand_realloc(s->buf, cap);
        if (!buf) {
            s->oom = true;
            return 0;
        }
        s->buf = buf;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, (size_t)n);
    s->len += (size_t)n;
    return n;
}

/* Nearest of levels+1 evenly spaced levels of 0..255 for v. */
static int level(int v, int levels) { return (v * levels + 127) / 255; }

static void make_palette(int channels, GifColorType colors[256])
{
    for (int i = 0; i < 256; i++) {
        if (channels == 1) {
            colors[i] = (GifColorType){(GifByteType)i, (GifByteType)i, (GifByteType)i};
        } else {
            int r = i >> 5, g = (i >> 2) & 7, b = i & 3;
            colors[i] = (GifColorType){(GifByteType)((r * 255 + 3) / 7),
                                       (GifByteType)((g * 255 + 3) / 7), (GifByteType)(b * 85)};
        }
    }
}

/* pix is (height, width, channels), index is (height, width). */
static void to_indices(const img_grid *g, const uint8_t *pix, GifByteType *index)
{
    size_t n = (size_t)g->width * g->height;
    if (g->channels == 1) {
        memcpy(index, pix, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = pix + 3 * i;
        index[i] = (GifByteType)(level(p[0], 7) << 5 | level(p[1], 7) << 2 | level(p[2], 3));
    }
}

/* Makes the animation repeat forever (the NETSCAPE2.0 application block). */
static int put_loop(GifFileType *gif)
{
    static const GifByteType loop[3] = {1, 0, 0}; /* sub-block 1, loop count 0 = forever */
    if (EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
        EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") == GIF_ERROR ||
        EGifPutExtensionBlock(gif, 3, loop) == GIF_ERROR)
        return GIF_ERROR;
    return EGifPutExtensionTrailer(gif);
}

static int put_frame(GifFileType *gif, const img_grid *g, GifByteType *index, int delay_cs)
{
    GraphicsControlBlock gcb = {
        .DisposalMode = DISPOSE_DO_NOT,
        .UserInputFlag = false,
        .DelayTime = delay_cs,
        .TransparentColor = NO_TRANSPARENT_COLOR,
    };
    GifByteType ext[4];
    size_t len = EGifGCBToExtension(&gcb, ext);
    if (EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, (int)len, ext) == GIF_ERROR ||
        EGifPutImageDesc(gif, 0, 0, g->width, g->height, false, NULL) == GIF_ERROR)
        return GIF_ERROR;
    return EGifPutLine(gif, index, g->width * g->height);
}

/* frames is (t, n, c, h, w); pix and index are scratch for one frame. */
static gand_status encode(const img_grid *g, const float *frames, int t, int n, nn_shape s,
                          int delay_cs, uint8_t *pix, GifByteType *index, gif_sink *sink,
                          char *err, size_t errlen)
{
    int gerr = 0;
    GifFileType *gif = EGifOpen(sink, on_write, &gerr);
    if (!gif)
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory starting a GIF");
    GifColorType colors[256];
    make_palette(g->channels, colors);
    ColorMapObject *map = GifMakeMapObject(256, colors);
    EGifSetGifVersion(gif, true);
    int rc = map ? EGifPutScreenDesc(gif, g->width, g->height, 8, 0, map) : GIF_ERROR;
    GifFreeMapObject(map);
    if (rc != GIF_ERROR && t > 1)
        rc = put_loop(gif);
    size_t frame = (size_t)n * nn_shape_size(s);
    for (int f = 0; rc != GIF_ERROR && f < t; f++) {
        img_grid_draw(g, frames + f * frame, n, s, pix);
        to_indices(g, pix, index);
        rc = put_frame(gif, g, index, delay_cs);
    }
    int code = rc == GIF_ERROR ? gif->Error : 0;
    if (EGifCloseFile(gif, &gerr) == GIF_ERROR && !code)
        code = gerr;
    if (!map || sink->oom || code == E_GIF_ERR_NOT_ENOUGH_MEM)
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory encoding a %dx%d GIF",
                           g->width, g->height);
    if (code)
        return gand_errorf(err, errlen, GAND_EINTERNAL, "giflib refused a %dx%d GIF: %s",
                           g->width, g->height, GifErrorString(code));
    return GAND_OK;
}

gand_status img_encode_gif_grid(const float *frames, int t, int n, nn_shape s, int cols,
                                int delay_cs, unsigned char **gif, size_t *gif_len, char *err,
                                size_t errlen)
{
    *gif = NULL;
    *gif_len = 0;
    if (t < 1)
        return gand_errorf(err, errlen, GAND_EINVAL, "a GIF needs at least one frame, got %d",
                           t);
    if (delay_cs < 0 || delay_cs > 65535)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "frame delay %d is out of range; give 0..65535 hundredths of a "
                           "second",
                           delay_cs);
    img_grid g;
    gand_status st = img_grid_layout(n, s, cols, &g, err, errlen);
    if (st != GAND_OK)
        return st;
    size_t area = (size_t)g.width * g.height;
    uint8_t *pix = gand_malloc(area * g.channels);
    GifByteType *index = gand_malloc(area);
    gif_sink sink = {0};
    if (!pix || !index)
        st = gand_errorf(err, errlen, GAND_ENOMEM, "out of memory drawing a %dx%d GIF",
                         g.width, g.height);
    else
        st = encode(&g, frames, t, n, s, delay_cs, pix, index, &sink, err, errlen);
    gand_free(pix);
    gand_free(index);
    if (st != GAND_OK) {
        gand_free(sink.buf);
        return st;
    }
    *gif = sink.buf;
    *gif_len = sink.len;
    return GAND_OK;
}

gand_status img_write_gif_grid(const char *path, const float *frames, int t, int n, nn_shape s,
                               int cols, int delay_cs, char *err, size_t errlen)
{
    unsigned char *gif;
    size_t len;
    gand_status st = img_encode_gif_grid(frames, t, n, s, cols, delay_cs, &gif, &len, err, errlen);
    if (st != GAND_OK)
        return st;
    st = img_write_file_atomic(path, gif, len, err, errlen);
    gand_free(gif);
    return st;
}
