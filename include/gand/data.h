/* Datasets and images.
 *
 * Datasets are MNIST-format (IDX) files, plain or gzip'd, kept in memory as
 * the bytes of the file (one byte per pixel, one allocation) and converted
 * to floats in [-1, 1] (x / 127.5 - 1) one batch at a time, so the whole
 * Fashion-MNIST train set costs 47 MB. Synthetic video clips are held the
 * same way. Images are written as PNG grids (libpng) and animated GIFs
 * (giflib). (src/data)
 *
 * Only data_subset() and data_free() change a set; the other functions
 * only read it, so several threads may share one set once it is built.
 */
#ifndef GAND_DATA_H
#define GAND_DATA_H

#include "gand/nn.h"
#include "gand/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct data_set data_set;

/* Where the built-in "fashion-mnist" lives (Debian's dataset-fashion-mnist). */
#define DATA_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Loads an IDX image file (magic 0x00000803, idx3: count, rows, cols; or
 * 0x00000804, idx4: count, channels, rows, cols, read as (c, h, w)) and,
 * when labels_path is not NULL, its idx1 label file (0x00000801: count).
 * Either may be gzip'd. Only unsigned-byte data (type 0x08) is read.
 * Refuses with a message naming the file and what is wrong:
 *   GAND_EFORMAT   bad magic or element type, a zero dimension, an image of
 *                  more than 1<<28 values or more than 4 GiB in all, data
 *                  shorter or longer than the header declares, damaged gzip
 *                  data, or a label count that differs from the image count
 *                  (the message names both files and both counts);
 *   GAND_ENOTFOUND a file that does not exist;  GAND_EIO  a failed read;
 *   GAND_ENOMEM.
 * On success *out is a new set the caller frees with data_free(); on
 * failure it is NULL. */
gand_status data_idx_load(const char *images_path, const char *labels_path, data_set **out,
                          char *err, size_t errlen);

/* A dataset known by name. */
typedef struct {
    const char *name;        /* "fashion-mnist" */
    const char *description; /* one sentence for people */
    const char *dir;         /* where its IDX files are installed */
} data_builtin;

/* The built-in datasets, 0 <= i < data_builtin_count(); NULL out of range.
 * The table is static: entries stay valid for the life of the process. */
int data_builtin_count(void);
const data_builtin *data_builtin_get(int i);
/* The built-in named name, or NULL. */
const data_builtin *data_builtin_find(const char *name);
/* True when the built-in's training images are installed. */
bool data_builtin_available(const data_builtin *b);

/* Opens a dataset by name: a built-in name ("fashion-mnist") or a directory
 * holding train-images-idx3-ubyte[.gz] (or train-images-idx4-ubyte[.gz])
 * and optionally train-labels-idx1-ubyte[.gz]; t10k-* when train is false.
 * A plain file is preferred to its .gz. Built-in names win over a directory
 * of the same name. Errors: GAND_EINVAL for an empty or overlong name;
 * GAND_ENOTFOUND for a name that is neither built-in nor a directory (the
 * message lists the built-in names), a built-in that is not installed or a
 * directory without the images file; then those of data_idx_load(). A C
 * string cannot carry an embedded NUL: callers taking names from JSON must
 * refuse those before calling. */
gand_status data_open(const char *name_or_dir, bool train, data_set **out, char *err,
                      size_t errlen);

/* What a dataset holds, read without loading its pixels. */
typedef struct {
    nn_shape shape;
    int count;                   /* images in the file */
    bool has_labels;
    int num_classes;             /* 1 + the largest label; 0 without labels */
    int class_counts[256];       /* images per label */
} data_info;

/* Reads the images file's header and, when present, the labels file (a
 * byte per image), checking magic numbers, dimensions and that the counts
 * agree. The images file's length is checked only by a full load
 * (data_open), so a probe that passes can still meet a truncated file.
 * Same errors as data_open(). */
gand_status data_idx_probe(const char *images_path, const char *labels_path, data_info *info,
                           char *err, size_t errlen);
/* data_idx_probe() of a dataset named as for data_open(). */
gand_status data_probe(const char *name_or_dir, bool train, data_info *info, char *err,
                       size_t errlen);

/* Makes count synthetic video clips of frames frames of size x size grey
 * pixels, the same for the same seed: in each clip a bright square
 * (DATA_VIDEO_SQUARE(size) on a side, value 255 on 0) starts at a random
 * place and moves by a random velocity (each axis a non-zero whole number
 * of pixels per frame, at most DATA_VIDEO_MAX_SPEED(size)), bouncing off
 * the walls. A sample has shape (frames, size, size): the frames are the
 * channels of one sample, so data_batch() gives (n, frames, size, size) and
 * frame t of sample i starts at (i * frames + t) * size * size. The set
 * has no labels. GAND_EINVAL (with the allowed ranges) or GAND_ENOMEM. */
#define DATA_VIDEO_MIN_SIZE 4
#define DATA_VIDEO_MAX_SIZE 256
#define DATA_VIDEO_MAX_FRAMES 256
#define DATA_VIDEO_MAX_COUNT 1000000
#define DATA_VIDEO_SQUARE(size) ((size) / 4)
#define DATA_VIDEO_MAX_SPEED(size) ((size) >= 32 ? (size) / 16 : 1)
gand_status data_video_synth(int count, int frames, int size, uint64_t seed, data_set **out,
                             char *err, size_t errlen);

/* Frees the set. NULL is a no-op. */
void data_free(data_set *ds);

/* Samples visible through the current subset (all of them without one). */
int data_count(const data_set *ds);
nn_shape data_shape(const data_set *ds);
bool data_has_labels(const data_set *ds);
/* Number of classes: 1 + the largest label in the loaded file (0 without
 * labels); a subset does not change it, so class embeddings keep their size. */
int data_num_classes(const data_set *ds);
/* Label of sample i, 0 <= i < data_count() (-1 without labels). */
int data_label(const data_set *ds, int i);

/* Keeps only the samples whose label is in classes[0..n) (duplicates are
 * harmless), without copying pixels: the set keeps an index of the chosen
 * samples, in their original order. Labels keep their values. A second call
 * narrows the current subset further. GAND_EINVAL when the set has no
 * labels, the list is empty, a class is outside 0..data_num_classes()-1 or
 * nothing is left; GAND_ENOMEM. On error the set is unchanged. */
gand_status data_subset(data_set *ds, const int *classes, int n, char *err, size_t errlen);

/* Writes samples idx[0..n) (each in 0..data_count()-1) as floats
 * x / 127.5 - 1 in [-1, 1] into images (n, c, h, w), and their labels into
 * labels (n; -1 each without labels) when it is not NULL. This function
 * can't fail. */
void data_batch(const data_set *ds, const int *idx, int n, float *images, int *labels);

/* ---- images ----
 *
 * A grid shows n images of shape s (c == 1: grey, c == 3: RGB), in
 * C = min(cols, n) columns and R = ceil(n / C) rows, left to right then
 * top to bottom, with a 2-pixel border of grey 64 around and between
 * them; cells past the last image are border grey too. The grid is
 *     width  = C * (w + 2) + 2,   height = R * (h + 2) + 2
 * pixels, and image i's top-left pixel is at
 *     x = 2 + (i % C) * (w + 2),  y = 2 + (i / C) * (h + 2).
 * Values map from [-1, 1] to 0..255 as round((v + 1) * 127.5), clamped
 * (NaN gives 0), so bytes loaded by data_batch() come back unchanged.
 * Errors: GAND_EINVAL (no images, c not 1 or 3, cols < 1, a side over
 * 65535 pixels), GAND_ENOMEM, and for the file writers GAND_EIO naming the
 * file. Files are written to "<path>.tmp", synced and renamed over path, so
 * readers never see a partial image; on failure no .tmp file is left.
 */

/* Writes n images (n, c, h, w) as one 8-bit PNG grid. */
gand_status img_write_png_grid(const char *path, const float *images, int n, nn_shape s,
                               int cols, char *err, size_t errlen);

/* Encodes the same grid into an allocated PNG in memory (for HTTP replies);
 * *png is freed with gand_free. */
gand_status img_encode_png_grid(const float *images, int n, nn_shape s, int cols,
                                unsigned char **png, size_t *png_len, char *err, size_t errlen);

/* Writes frames (t frames of n images each: (t, n, c, h, w)) as a GIF89a
 * grid, delay_cs (0..65535) hundredths of a second per frame, each frame a
 * full image over the last. With t > 1 it is an animation that loops
 * forever (NETSCAPE2.0 block). Grey grids use a 256-level grey palette
 * (palette index = grey byte); RGB grids the fixed 3-3-2 palette (index
 * r3 << 5 | g3 << 2 | b2, each channel rounded to its nearest level), the
 * same for every frame. */
gand_status img_write_gif_grid(const char *path, const float *frames, int t, int n, nn_shape s,
                               int cols, int delay_cs, char *err, size_t errlen);

/* Encodes the same GIF into memory; *gif is freed with gand_free. */
gand_status img_encode_gif_grid(const float *frames, int t, int n, nn_shape s, int cols,
                                int delay_cs, unsigned char **gif, size_t *gif_len, char *err,
                                size_t errlen);

/* Reads an 8-bit grey or RGB PNG (such as a grid written above) into
 * *pixels, (height, width, channels) interleaved bytes row by row, which
 * the caller frees with gand_free; *channels is 1 or 3. Errors, each with
 * a message naming the file: GAND_ENOTFOUND a file that does not exist;
 * GAND_EFORMAT not a PNG, a damaged one, one that is not 8-bit grey or RGB
 * (palette, alpha, 1..4 or 16 bits per channel) or larger than 65535 on a
 * side or 1 << 28 values; GAND_EIO a failed read; GAND_ENOMEM. On failure
 * *pixels is NULL and the sizes are 0. */
gand_status img_read_png(const char *path, unsigned char **pixels, int *width, int *height,
                         int *channels, char *err, size_t errlen);

#endif
