/*
 * Fuzz target: reading back the Raft log (storage/wal.h) from a segment with any bytes in it. It must be
 * refused as corrupt or read as a log whose entries follow each other, and a second open must find exactly
 * what the first did, with nothing left to cut off.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "src/common/error.h"
#include "storage/wal.h"

#define SEGMENT "0000000000000001.wal"

/* A directory of this process's, removed at exit. */
static char dir[64];

static void remove_dir(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, SEGMENT);
	unlink(path);
	rmdir(dir);
}

static const char *log_dir(void)
{
	if (!dir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/grove-fuzz-wal-XXXXXX", base && *base && strlen(base) < 32 ? base : "/tmp");
		if (!mkdtemp(dir))
			grove_fuzz_fail("cannot create a temporary directory");
		atexit(remove_dir);
	}
	return dir;
}

static void write_segment(const uint8_t *data, size_t size)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", log_dir(), SEGMENT);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		grove_fuzz_fail("cannot write the segment");
	close(fd);
}

/* Seeds: logs the WAL itself wrote (compaction, a replaced suffix, an install), trailing zeros cut off. */
int grove_fuzz_seed(size_t i, struct grove_buf *out)
{
	if (i >= 3)
		return 0;
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", log_dir(), SEGMENT);
	unlink(path); /* a new log */
	struct wal *w;
	struct wal_contents c;
	if (wal_open(&w, log_dir(), &c) != GROVE_OK)
		grove_fuzz_fail("cannot create a log");
	wal_contents_free(&c);
	for (uint64_t k = 1; k <= 6; k++) {
		struct wal_entry e = {k, 1 + k / 3, 1, "payload", 1 + k};
		wal_append(w, 1, &e, 1); /* group 1 entries 1..6, group 3 entries 1..3 between them */
		e.index = k / 2;
		if (k % 2 == 0)
			wal_append(w, 3, &e, 1);
	}
	struct wal_hard_state hs = {2, 1, 4};
	wal_set_hard_state(w, 1, &hs);
	wal_set_hard_state(w, 3, &hs);
	wal_sync(w);
	if (i == 0) {
		wal_compact(w, 3, 3, 2);
	} else if (i == 1) {
		struct wal_entry e = {2, 3, 2, "replacement", 11};
		wal_append(w, 3, &e, 1);
		wal_sync(w);
	} else {
		wal_install_snapshot(w, 2, 9, 4);
	}
	wal_close(w);
	FILE *f = fopen(path, "rb");
	uint8_t buf[4096];
	size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
	if (f)
		fclose(f);
	while (n && !buf[n - 1])
		n--;
	grove_buf_put(out, buf, n);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 16))
		return 0;
	write_segment(data, size);
	struct wal *w;
	struct wal_contents first, again;
	int err = wal_open(&w, log_dir(), &first);
	if (err != GROVE_OK) {
		if (err != GROVE_ECORRUPT)
			grove_fuzz_fail("a bad log refused with something other than GROVE_ECORRUPT");
		wal_contents_free(&first);
		return 0;
	}
	wal_close(w);
	for (size_t g = 0; g < first.n_groups; g++) {
		const struct wal_group *a = &first.groups[g];
		for (size_t k = 0; k < a->n_entries; k++)
			if (a->entries[k].index != a->snapshot_index + 1 + k)
				grove_fuzz_fail("entries that do not follow each other");
	}
	if (wal_open(&w, log_dir(), &again) != GROVE_OK || again.torn_tail)
		grove_fuzz_fail("a log read once does not read again as it was");
	wal_close(w);
	bool same = again.n_groups == first.n_groups;
	for (size_t g = 0; same && g < first.n_groups; g++) {
		const struct wal_group *a = &first.groups[g], *b = &again.groups[g];
		same = a->group == b->group && b->n_entries == a->n_entries && b->snapshot_index == a->snapshot_index &&
		       b->snapshot_term == a->snapshot_term && memcmp(&b->hard, &a->hard, sizeof(a->hard)) == 0;
		for (size_t k = 0; same && k < a->n_entries; k++)
			same = b->entries[k].term == a->entries[k].term && b->entries[k].len == a->entries[k].len &&
			       (!a->entries[k].len || memcmp(b->entries[k].data, a->entries[k].data, a->entries[k].len) == 0);
	}
	if (!same)
		grove_fuzz_fail("the second read of a log differs from the first");
	wal_contents_free(&first);
	wal_contents_free(&again);
	return 0;
}
