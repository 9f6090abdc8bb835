/* The benchmarks' clock, percentiles and option lists (stats.h). */
#include "stats.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

double pct(const uint64_t *sorted, size_t n, double p)
{
	return n ? (double)sorted[(size_t)(p * (double)(n - 1) + 0.5)] / 1000.0 : 0;
}

int parse_int_list(const char *text, int min, int max, int *out, int cap)
{
	int n = 0;
	for (const char *p = text; *p && n < cap;) {
		long v = strtol(p, NULL, 10);
		if (v < min || v > max)
			return -1;
		out[n++] = (int)v;
		p += strcspn(p, ",");
		p += *p == ',';
	}
	return n;
}
