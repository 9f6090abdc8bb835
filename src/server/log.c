#include "src/server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void log_line(const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so lines from a crash-time log stay whole. */
	fprintf(stderr, "%s.%03ldZ groved: %s\n", stamp, ts.tv_nsec / 1000000, line);
}
