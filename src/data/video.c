/* Synthetic video: a bright square moving at constant velocity in each
 * clip, bouncing off the walls. Small enough to train a video GAN in
 * minutes, and its motion is easy to check by eye in a GIF. */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/rng.h"

#include <string.h>

/* Moves p by *v inside [0, limit], reflecting off either end. */
static int bounce(int p, int *v, int limit)
{
    p += *v;
    if (p < 0) {
        p = -p;
        *v = -*v;
    } else if (p > limit) {
        p = 2 * limit - p;
        *v = -*v;
    }
    return p;
}

/* A non-zero speed in [-vmax, vmax]. */
static int draw_velocity(gand_rng *rng, int vmax)
{
    int v = 1 + (int)gand_rng_below(rng, (uint32_t)vmax);
    return gand_rng_below(rng, 2) ? -v : v;
}

/* clip is (frames, size, size) bytes, zeroed. */
static void draw_clip(uint8_t *clip, int frames, int size, gand_rng *rng)
{
    int side = DATA_VIDEO_SQUARE(size);
    int limit = size - side;
    int vmax = DATA_VIDEO_MAX_SPEED(size);
    int x = (int)gand_rng_below(rng, (uint32_t)limit + 1);
    int y = (int)gand_rng_below(rng, (uint32_t)limit + 1);
    int vx = draw_velocity(rng, vmax), vy = draw_velocity(rng, vmax);
    for (int t = 0; t < frames; t++) {
        uint8_t *f = clip + (size_t)t * size * size;
        for (int r = y; r < y + side; r++)
            memset(f + (size_t)r * size + x, 255, (size_t)side);
        x = bounce(x, &vx, limit);
        y = bounce(y, &vy, limit);
    }
}

gand_status data_video_synth(int count, int frames, int size, uint64_t seed, data_set **out,
                             char *err, size_t errlen)
{
    *out = NULL;
    if (count < 1 || count > DATA_VIDEO_MAX_COUNT)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "video clip count %d is out of range; give 1..%d", count,
                           DATA_VIDEO_MAX_COUNT);
    if (frames < 1 || frames > DATA_VIDEO_MAX_FRAMES)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "video frame count %d is out of range; give 1..%d", frames,
                           DATA_VIDEO_MAX_FRAMES);
    if (size < DATA_VIDEO_MIN_SIZE || size > DATA_VIDEO_MAX_SIZE)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "video frame size %d is out of range; give %d..%d", size,
                           DATA_VIDEO_MIN_SIZE, DATA_VIDEO_MAX_SIZE);
    size_t per = (size_t)frames * size * size;
    if ((uint64_t)per * count > DATA_MAX_BYTES)
        return gand_errorf(err, errlen, GAND_EINVAL,
                           "%d clips of %d frames of %dx%d need %llu bytes, more than the %zu "
                           "gand holds in memory; make fewer or smaller clips",
                           count, frames, size, size, (unsigned long long)per * count,
                           DATA_MAX_BYTES);
    uint8_t *pixels = gand_calloc((size_t)count, per);
    if (!pixels)
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory for %d video clips", count);
    gand_rng rng;
    gand_rng_seed(&rng, seed);
    for (int i = 0; i < count; i++)
        draw_clip(pixels + (size_t)i * per, frames, size, &rng);
    data_set *ds = data_set_wrap((nn_shape){frames, size, size}, count, pixels, NULL);
    if (!ds)
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory for %d video clips", count);
    *out = ds;
    return GAND_OK;
}
