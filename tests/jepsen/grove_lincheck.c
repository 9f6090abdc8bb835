/*
 * grove_lincheck: decide whether a recorded history (tests/jepsen/history.h)
 * is linearizable, key by key, and check its final set reads.
 *
 * Exit status: 0 every key is linearizable and every final read holds what it
 * must; 1 a violation (whatever else is undecided); 2 malformed input, bad
 * usage, or a key left undecided (step limit, missing final read).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "tests/jepsen/history.h"
#include "tests/jepsen/lincheck.h"

static void usage(FILE *f)
{
	fputs("usage: grove_lincheck [OPTION]... FILE\n"
	      "Checks the history in FILE (\"-\" for stdin) for linearizability, key by key: a register per key\n"
	      "(write/read) or a grow-only set (add/read_set), and that every final read holds every acknowledged\n"
	      "add. The format is described in tests/jepsen/history.h.\n"
	      "  --max-steps N       steps one search may take before the key is 'unknown'\n"
	      "  --minimize-steps N  steps the search for a violation's shortest excerpt may take in all\n"
	      "  --no-minimize       print a violating key's whole history instead of an excerpt\n"
	      "  --search-only       decide registers by the search even where the zone test applies\n"
	      "  --violations-only   print only the keys that are not linearizable or not decided\n"
	      "Exit status: 0 linearizable, 1 not linearizable, 2 malformed input, bad usage or undecided.\n",
	      f);
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;
	if (!*s || *s == '-')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno || v == 0)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	struct lin_options opt = {0};
	bool all_keys = true;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--max-steps") && i + 1 < argc) {
			if (parse_count(argv[++i], &opt.max_steps))
				goto bad;
		} else if (!strcmp(a, "--minimize-steps") && i + 1 < argc) {
			if (parse_count(argv[++i], &opt.minimize_steps))
				goto bad;
		} else if (!strcmp(a, "--search-only")) {
			opt.search_only = true;
		} else if (!strcmp(a, "--no-minimize")) {
			opt.no_minimize = true;
		} else if (!strcmp(a, "--violations-only")) {
			all_keys = false;
		} else if (!path && (a[0] != '-' || !strcmp(a, "-"))) {
			path = a;
		} else {
			goto bad;
		}
	}
	if (!path)
		goto bad;
	struct history *h;
	struct history_error err;
	int rc = history_read_file(path, &h, &err);
	if (rc) {
		if (err.line)
			fprintf(stderr, "%s:%zu: %s\n", path, err.line, err.msg);
		else
			fprintf(stderr, "grove_lincheck: %s\n", err.msg[0] ? err.msg : grove_strerror(rc));
		return 2;
	}
	struct lin_report *r;
	if ((rc = lin_check(h, &opt, &r))) {
		fprintf(stderr, "grove_lincheck: %s\n", grove_strerror(rc));
		history_free(h);
		return 2;
	}
	int status = r->verdict == LIN_OK ? 0 : r->verdict == LIN_VIOLATION ? 1 : 2;
	if (lin_report_write(stdout, h, r, all_keys) || fflush(stdout))
		status = 2;
	lin_report_free(r);
	history_free(h);
	return status;
bad:
	usage(stderr);
	return 2;
}
