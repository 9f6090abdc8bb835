/**
 * @file grow.h
 * @brief Room for one more element in a growable array.
 */
#ifndef GROVE_COMMON_GROW_H
#define GROVE_COMMON_GROW_H

#include <stddef.h>

/**
 * @brief Make sure the array at @p *items (with room for @p *cap elements of
 * @p size bytes, @p n of them in use) has room for one more, doubling it
 * (from 64) when full. On failure the array is left as it was.
 * @return GROVE_OK or GROVE_ENOMEM.
 */
int grove_grow(void **items, size_t *cap, size_t n, size_t size);

#endif
