/* Test helper: tiny IDX datasets written into temporary directories. */
#ifndef GAND_TEST_IDX_FIXTURE_H
#define GAND_TEST_IDX_FIXTURE_H

#include <stddef.h>

/* Creates a fresh directory under /tmp; returns a malloc'd path. */
char *fixture_tmpdir(void);
/* Removes dir and everything under it, then frees dir. */
void fixture_rmdir(char *dir);

/* Writes dir/train-images-idx3-ubyte (n images of h x w bytes) and, when
 * labels is not NULL, dir/train-labels-idx1-ubyte. */
void fixture_write_idx(const char *dir, int n, int h, int w, const unsigned char *pixels,
                       const unsigned char *labels);

/* A labelled set of n images of size x size: class k (0 <= k < classes)
 * is a bright square in one of four places (k % 4) whose brightness is
 * k / 4 dependent, plus a little noise. */
void fixture_write_blocks(const char *dir, int n, int size, int classes, unsigned seed);

#endif
