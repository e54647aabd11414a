/* Internal to src/data: the dataset struct shared by the loaders, and the
 * grid composition and atomic file writing shared by the image writers. */
#ifndef GAND_DATA_INTERNAL_H
#define GAND_DATA_INTERNAL_H

#include "gand/data.h"

#include <stdint.h>

/* Largest single image accepted (values, c * h * w), and largest pixel
 * buffer (bytes) a dataset may hold: anything beyond is a corrupt header
 * or a dataset this in-memory design is not meant for. */
#define DATA_MAX_IMAGE_VALUES ((size_t)1 << 28)
#define DATA_MAX_BYTES ((size_t)4 << 30)

struct data_set {
    nn_shape shape;
    int total;         /* samples stored in pixels */
    uint8_t *pixels;   /* (total, c, h, w) bytes, one allocation */
    uint8_t *labels;   /* total labels, or NULL */
    int num_classes;   /* 1 + largest label over all stored samples; 0 without labels */
    int *index;        /* when a subset is active: count sample numbers into pixels */
    int count;         /* samples visible to callers (total without a subset) */
};

/* Wraps pixels (and labels, may be NULL), taking ownership of both also on
 * failure. NULL on allocation failure. */
data_set *data_set_wrap(nn_shape shape, int total, uint8_t *pixels, uint8_t *labels);

/* Largest grid side (pixels) the writers produce; GIF stores 16-bit sizes. */
#define IMG_MAX_SIDE 65535

/* Byte used for the border and the empty cells of a grid. */
#define IMG_BORDER_GREY 64

/* Geometry of a grid of n tiles of shape s in cols columns (see data.h). */
typedef struct {
    int cols, rows;
    int width, height; /* pixels */
    int channels;      /* 1 or 3 */
} img_grid;

/* Checks n, s and cols and computes the geometry; GAND_EINVAL with a
 * message when the grid cannot be drawn. */
gand_status img_grid_layout(int n, nn_shape s, int cols, img_grid *g, char *err, size_t errlen);

/* Draws images (n, c, h, w) into out (height, width, channels) interleaved
 * bytes, mapping [-1, 1] to 0..255. This function can't fail. */
void img_grid_draw(const img_grid *g, const float *images, int n, nn_shape s, uint8_t *out);

/* Writes len bytes to "<path>.tmp", syncs it, renames it to path and syncs
 * the directory. On failure the temporary file is removed and GAND_EIO
 * names the file and the system's reason. */
gand_status img_write_file_atomic(const char *path, const void *bytes, size_t len, char *err,
                                  size_t errlen);

#endif
