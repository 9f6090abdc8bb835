/* Under libFuzzer: a violated property aborts, and libFuzzer saves the input that caused it. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

void grove_fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz property violated: %s\n", what);
	abort();
}
