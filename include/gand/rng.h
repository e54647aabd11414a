/* The run's random number generator: xoshiro256** seeded through splitmix64,
 * with a Box-Muller normal sampler. The state is a plain struct so that a
 * checkpoint can store it and a resumed run draws the same numbers. */
#ifndef GAND_RNG_H
#define GAND_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} gand_rng;

/* Seeds the generator; any seed, 0 included, gives a valid state. */
void gand_rng_seed(gand_rng *r, uint64_t seed);
uint64_t gand_rng_next(gand_rng *r);
/* Uniform in [0, 1), 24 random bits. */
float gand_rng_uniform(gand_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint32_t gand_rng_below(gand_rng *r, uint32_t n);
/* Standard normal (one Box-Muller draw per call; nothing cached, so the
 * state above is the whole state). */
float gand_rng_normal(gand_rng *r);

#endif
