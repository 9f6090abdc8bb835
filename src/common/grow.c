#include "src/common/grow.h"

#include <stdint.h>
#include <stdlib.h>

#include "src/common/error.h"

int grove_grow(void **items, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return GROVE_OK;
	size_t ncap = *cap ? 2 * *cap : 64;
	if (ncap > SIZE_MAX / size)
		return GROVE_ENOMEM;
	void *grown = realloc(*items, ncap * size);
	if (!grown)
		return GROVE_ENOMEM;
	*items = grown;
	*cap = ncap;
	return GROVE_OK;
}
