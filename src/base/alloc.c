#include "gand/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* fail_countdown > 0: number of allocations left before the failing one. */
static _Atomic long fail_countdown = 0;
static _Atomic bool fail_sticky = false;
static _Atomic bool fail_tripped = false;
static _Atomic long fail_count = 0;

void gand_alloc_fail_at(long n, bool sticky)
{
    fail_sticky = sticky;
    fail_tripped = false;
    fail_count = 0;
    fail_countdown = n > 0 ? n : 0;
}

long gand_alloc_failures(void) { return fail_count; }

/* Returns true when this allocation must fail. */
static bool should_fail(void)
{
    if (fail_tripped) {
        if (fail_sticky) {
            fail_count++;
            return true;
        }
        return false;
    }
    long c = atomic_load(&fail_countdown);
    while (c > 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1)) {
            if (c == 1) {
                fail_tripped = true;
                fail_count++;
                return true;
            }
            return false;
        }
    }
    return false;
}

void *gand_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *gand_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *gand_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void *gand_aligned_alloc(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (rounded < n || posix_memalign(&p, 64, rounded ? rounded : 64) != 0)
        return NULL;
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

char *gand_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = gand_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void gand_free(void *p) { free(p); }
