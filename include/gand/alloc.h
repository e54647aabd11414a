/* Allocation wrappers with a failure hook.
 *
 * All gand code allocates through these so that tests can make the Nth
 * allocation fail and check that every out-of-memory path cleans up and
 * reports GAND_ENOMEM (the way SQLite tests its malloc failures). Without a
 * hook set they behave exactly like the libc functions. Aligned allocations
 * (for BLAS buffers) are freed with gand_free too.
 */
#ifndef GAND_ALLOC_H
#define GAND_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *gand_malloc(size_t n);
void *gand_calloc(size_t count, size_t size); /* NULL also when count*size overflows */
void *gand_realloc(void *p, size_t n);
void *gand_aligned_alloc(size_t n); /* 64-byte aligned, zero-filled */
char *gand_strdup(const char *s);
void gand_free(void *p);

/* Makes the nth allocation counted from now fail (n = 1: the next one).
 * With sticky, that one and every later one fail until the hook is cleared.
 * n = 0 clears the hook. Thread-safe. */
void gand_alloc_fail_at(long n, bool sticky);

/* Number of allocations refused by the hook since it was last set. */
long gand_alloc_failures(void);

#endif
