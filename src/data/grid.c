/* Image grids shared by the PNG and GIF writers, and atomic file writes. */
#include "internal.h"

#include "gand/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

gand_status img_grid_layout(int n, nn_shape s, int cols, img_grid *g, char *err, size_t errlen)
{
    if (n < 1)
        return gand_errorf(err, errlen, GAND_EINVAL, "a grid needs at least one image, got %d",
                           n);
    if (s.c != 1 && s.c != 3)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "images have %d channels; a grid shows 1 (grey) or 3 (RGB)", s.c);
    if (s.h < 1 || s.w < 1)
        return gand_errorf(err, errlen, GAND_EINVAL, "images of %dx%d cannot be drawn", s.h,
                           s.w);
    if (cols < 1)
        return gand_errorf(err, errlen, GAND_EINVAL, "a grid needs at least 1 column, got %d",
                           cols);
    if (cols > n)
        cols = n;
    int rows = (n + cols - 1) / cols;
    long long width = (long long)cols * (s.w + 2) + 2;
    long long height = (long long)rows * (s.h + 2) + 2;
    if (width > IMG_MAX_SIDE || height > IMG_MAX_SIDE)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "a grid of %d x %d images of %dx%d would be %lldx%lld pixels; at "
                           "most %d on a side, so use fewer images or columns",
                           rows, cols, s.h, s.w, width, height, IMG_MAX_SIDE);
    *g = (img_grid){cols, rows, (int)width, (int)height, s.c};
    return GAND_OK;
}

/* Maps [-1, 1] to 0..255, rounding to nearest; NaN and below -1 give 0. */
static uint8_t to_byte(float v)
{
    float t = (v + 1.0f) * 127.5f;
    if (!(t > 0.0f))
        return 0;
    if (t >= 255.0f)
        return 255;
    return (uint8_t)(t + 0.5f);
}

void img_grid_draw(const img_grid *g, const float *images, int n, nn_shape s, uint8_t *out)
{
    /* images is (n, c, h, w); out is (height, width, c) */
    int c = g->channels;
    memset(out, IMG_BORDER_GREY, (size_t)g->width * g->height * c);
    size_t plane = (size_t)s.h * s.w;
    for (int i = 0; i < n; i++) {
        const float *img = images + (size_t)i * c * plane;
        int x0 = 2 + (i % g->cols) * (s.w + 2);
        int y0 = 2 + (i / g->cols) * (s.h + 2);
        for (int y = 0; y < s.h; y++) {
            uint8_t *row = out + ((size_t)(y0 + y) * g->width + x0) * c;
            for (int x = 0; x < s.w; x++)
                for (int ch = 0; ch < c; ch++)
                    row[x * c + ch] = to_byte(img[ch * plane + (size_t)y * s.w + x]);
        }
    }
}

static gand_status write_all(int fd, const char *path, const unsigned char *p, size_t len,
                             char *err, size_t errlen)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return gand_errorf(err, errlen, GAND_EIO, "cannot write %s: %s", path,
                               strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0)
        return gand_errorf(err, errlen, GAND_EIO, "cannot sync %s: %s", path, strerror(errno));
    return GAND_OK;
}

/* Syncs the directory holding path so the rename survives a crash. Best
 * effort: the file itself is complete either way, and some filesystems
 * refuse fsync on directories. */
static void sync_parent(char *path)
{
    char *slash = strrchr(path, '/');
    const char *dir = ".";
    if (slash == path)
        dir = "/";
    else if (slash) {
        *slash = '\0';
        dir = path;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

gand_status img_write_file_atomic(const char *path, const void *bytes, size_t len, char *err,
                                  size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = gand_malloc(plen + 5);
    if (!tmp)
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory writing %s", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    gand_status st = GAND_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = gand_errorf(err, errlen, GAND_EIO, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    st = write_all(fd, tmp, bytes, len, err, errlen);
    if (close(fd) != 0 && st == GAND_OK)
        st = gand_errorf(err, errlen, GAND_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (st == GAND_OK && rename(tmp, path) != 0)
        st = gand_errorf(err, errlen, GAND_EIO, "cannot rename %s to %s: %s", tmp, path,
                         strerror(errno));
    if (st != GAND_OK)
        unlink(tmp);
    else
        sync_parent(tmp);
done:
    gand_free(tmp);
    return st;
}
