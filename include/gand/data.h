/* Datasets and images.
 *
 * Datasets are MNIST-format (IDX) files, plain or gzip'd, kept in memory as
 * the bytes of the file (one byte per pixel) and converted to floats in
 * [-1, 1] one batch at a time, so the whole Fashion-MNIST train set costs
 * 47 MB. Images are written as PNG grids (libpng) and animated GIFs (giflib).
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

/* Loads an IDX image file (idx3: count, rows, cols; or idx4: count,
 * channels, rows, cols) and, when labels_path is not NULL, its idx1 label
 * file. Either may be gzip'd. Checks magic, dimensions and counts against
 * the file's size and that labels and images agree, and refuses with a
 * message naming the file and what is wrong (GAND_EFORMAT), a missing file
 * (GAND_ENOTFOUND) or GAND_ENOMEM. */
gand_status data_idx_load(const char *images_path, const char *labels_path, data_set **out,
                          char *err, size_t errlen);

/* Opens a dataset by name: a built-in name ("fashion-mnist") or a directory
 * holding train-images-idx3-ubyte[.gz] and optionally train-labels-idx1-ubyte[.gz]
 * (t10k-* when train is false). */
gand_status data_open(const char *name_or_dir, bool train, data_set **out, char *err,
                      size_t errlen);

void data_free(data_set *ds);

int data_count(const data_set *ds);
nn_shape data_shape(const data_set *ds);
bool data_has_labels(const data_set *ds);
/* Number of classes: 1 + the largest label (0 without labels). */
int data_num_classes(const data_set *ds);
/* Label of sample i (-1 without labels). */
int data_label(const data_set *ds, int i);

/* Keeps only the samples whose label is in classes[0..n). Labels keep their
 * values. GAND_EINVAL when the set has no labels, a class is out of range or
 * nothing is left. */
gand_status data_subset(data_set *ds, const int *classes, int n, char *err, size_t errlen);

/* Writes samples idx[0..n) as floats in [-1, 1] into images (n, c, h, w),
 * and their labels into labels when it is not NULL. */
void data_batch(const data_set *ds, const int *idx, int n, float *images, int *labels);

/* ---- images ---- */

/* Writes n images (n, c, h, w) with values in [-1, 1] (clamped) as one PNG
 * grid of cols columns with a 2-pixel border, grey for c == 1, RGB for
 * c == 3. Written to a temporary file and renamed, so readers never see a
 * partial image. */
gand_status img_write_png_grid(const char *path, const float *images, int n, nn_shape s,
                               int cols, char *err, size_t errlen);

/* Encodes the same grid into a malloc'd PNG in memory (for HTTP replies);
 * *png is freed with gand_free. */
gand_status img_encode_png_grid(const float *images, int n, nn_shape s, int cols,
                                unsigned char **png, size_t *png_len, char *err, size_t errlen);

/* Writes frames (t frames of n images each: (t, n, c, h, w)) as an animated
 * GIF grid of cols columns, delay_cs hundredths of a second per frame. */
gand_status img_write_gif_grid(const char *path, const float *frames, int t, int n, nn_shape s,
                               int cols, int delay_cs, char *err, size_t errlen);

#endif
