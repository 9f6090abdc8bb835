/*
 * The Raft write-ahead log on real files: replay, overwrite of a conflicting suffix, snapshots that delete
 * segments, a write cut short by a crash, corruption, several groups in one log, records from before
 * groups, flushes in steps, and kill -9 of a process that syncs in a loop.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "storage/snapshot.h"
#include "storage/wal.h"
#include "support.h"

/* Group 1 of @p c (an empty group when the log holds none of it). */
static const struct wal_group *g1(const struct wal_contents *c)
{
	static const struct wal_group none = {.group = 1};
	const struct wal_group *g = wal_contents_group(c, 1);
	return g ? g : &none;
}

static struct wal *open_wal(const char *dir, struct wal_contents *c)
{
	struct wal *w;
	assert_int_equal(wal_open(&w, dir, c), GROVE_OK);
	return w;
}

/* Open a log whose contents are not needed. */
static struct wal *open_quietly(const char *dir)
{
	struct wal_contents c;
	struct wal *w = open_wal(dir, &c);
	wal_contents_free(&c);
	return w;
}

/* Close @p w and read the log back into @p c. */
static struct wal *reopen(struct wal *w, const char *dir, struct wal_contents *c)
{
	wal_close(w);
	return open_wal(dir, c);
}

/* Append entries @p first..@p last of term @p term whose data is "e<index>t<term>", padded to @p size. */
static void append_range(struct wal *w, uint64_t first, uint64_t last, uint64_t term, size_t size)
{
	char *buf = calloc(1, size + 32);
	assert_non_null(buf);
	for (uint64_t i = first; i <= last; i++) {
		int n = snprintf(buf, 32, "e%llut%llu", (unsigned long long)i, (unsigned long long)term);
		struct wal_entry e = {i, term, 1, buf, size > (size_t)n ? size : (size_t)n};
		assert_int_equal(wal_append(w, 1, &e, 1), GROVE_OK);
	}
	free(buf);
}

/* 1 MiB entries 1..@p last (a multiple of 4) of term 1, synced in batches of four: three batches to a segment. */
static void fill_segments(struct wal *w, uint64_t last)
{
	for (uint64_t i = 1; i <= last; i += 4) {
		append_range(w, i, i + 3, 1, 1u << 20);
		assert_int_equal(wal_sync(w), GROVE_OK);
	}
}

/* The entries in @p c are exactly @p first..@p last, with the given terms (one per entry). */
static void expect_entries(const struct wal_contents *contents, uint64_t first, uint64_t last, const uint64_t *terms)
{
	const struct wal_group *c = g1(contents);
	assert_int_equal(c->n_entries, last + 1 - first);
	for (uint64_t i = first; i <= last; i++) {
		const struct wal_entry *e = &c->entries[i - first];
		char want[32];
		snprintf(want, sizeof(want), "e%llut%llu", (unsigned long long)i, (unsigned long long)terms[i - first]);
		assert_int_equal(e->index, i);
		assert_int_equal(e->term, terms[i - first]);
		assert_int_equal(e->type, 1);
		assert_true(e->len >= strlen(want));
		assert_memory_equal(e->data, want, strlen(want));
	}
}

static int count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strstr(de->d_name, ".wal") != NULL;
	closedir(d);
	return n;
}

/* The path of segment @p seq. */
static void segment_path(const char *dir, int seq, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%016x.wal", dir, seq);
}

/* Overwrite @p len bytes at @p offset of file @p path. */
static void poke(const char *path, off_t offset, const void *bytes, size_t len)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, len, offset), (ssize_t)len);
	close(fd);
}

/* Where @p needle first occurs in file @p path. */
static off_t find_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char buf[WAL_SEGMENT_BYTES];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(buf + i, needle, k) == 0)
			return (off_t)i;
	fail_msg("%s not found in %s", needle, path);
	return -1;
}

/* Each test gets a directory of its own, removed after it. */
static int make_dir(void **state)
{
	*state = test_tmpdir("wal");
	return 0;
}

static int remove_dir(void **state)
{
	test_rmtree(*state);
	return 0;
}

static void test_fresh_append_reopen(void **state)
{
	const char *dir = *state;
	struct wal_contents c;
	struct wal *w = open_wal(dir, &c);
	assert_true(c.fresh);
	assert_int_equal(g1(&c)->n_entries, 0);
	wal_contents_free(&c);
	append_range(w, 1, 10, 1, 0);
	struct wal_hard_state hs = {.term = 3, .vote = 2, .commit = 7};
	assert_int_equal(wal_set_hard_state(w, 1, &hs), GROVE_OK);
	assert_true(wal_pending(w) > 0);
	assert_int_equal(wal_sync(w), GROVE_OK);
	assert_int_equal(wal_pending(w), 0);
	/* Queued but never synced: not there after a restart. */
	append_range(w, 11, 12, 3, 0);
	wal_close(w);

	w = open_wal(dir, &c);
	assert_false(c.fresh);
	assert_false(c.torn_tail);
	uint64_t ones[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	expect_entries(&c, 1, 10, ones);
	assert_int_equal(g1(&c)->hard.term, 3);
	assert_int_equal(g1(&c)->hard.vote, 2);
	assert_int_equal(g1(&c)->hard.commit, 7);
	assert_int_equal(g1(&c)->snapshot_index, 0);
	wal_contents_free(&c);
	wal_close(w);
}

static void test_overwrite_conflicting_suffix(void **state)
{
	const char *dir = *state;
	struct wal_contents c;
	struct wal *w = open_quietly(dir);
	append_range(w, 1, 5, 1, 0);
	assert_int_equal(wal_sync(w), GROVE_OK);
	append_range(w, 3, 4, 2, 0); /* a new leader's entries replace 3..5 */
	assert_int_equal(wal_sync(w), GROVE_OK);
	w = reopen(w, dir, &c);
	uint64_t terms[4] = {1, 1, 2, 2};
	expect_entries(&c, 1, 4, terms);
	wal_contents_free(&c);
	/* Refused: a batch whose indexes are not consecutive queues nothing. */
	struct wal_entry bad[2] = {{5, 2, 1, "x", 1}, {7, 2, 1, "y", 1}};
	assert_int_equal(wal_append(w, 1, bad, 2), GROVE_EINVAL);
	assert_int_equal(wal_pending(w), 0);
	wal_close(w);
}

static void test_snapshot_deletes_covered_segments(void **state)
{
	const char *dir = *state;
	struct wal_contents c;
	struct wal *w = open_quietly(dir);
	fill_segments(w, 36);
	assert_int_equal(count_segments(dir), 3);
	assert_int_equal(wal_compact(w, 1, 30, 1), GROVE_OK);
	assert_int_equal(count_segments(dir), 1); /* segments 1 and 2 held nothing past 24 */
	append_range(w, 37, 38, 2, 0);
	assert_int_equal(wal_sync(w), GROVE_OK);
	wal_close(w);

	w = open_wal(dir, &c);
	assert_int_equal(g1(&c)->snapshot_index, 30);
	assert_int_equal(g1(&c)->snapshot_term, 1);
	uint64_t terms[8] = {1, 1, 1, 1, 1, 1, 2, 2};
	expect_entries(&c, 31, 38, terms);
	wal_contents_free(&c);

	/* Compaction past the last entry leaves none. */
	assert_int_equal(wal_compact(w, 1, 50, 2), GROVE_OK);
	w = reopen(w, dir, &c);
	assert_int_equal(g1(&c)->snapshot_index, 50);
	assert_int_equal(g1(&c)->n_entries, 0);
	wal_contents_free(&c);
	wal_close(w);
}

/* A follower's snapshot replaces its whole log, the entries after it too: they did not match the leader's. */
static void test_installed_snapshot_replaces_log(void **state)
{
	const char *dir = *state;
	struct wal_contents c;
	struct wal *w = open_quietly(dir);
	fill_segments(w, 36);
	assert_int_equal(count_segments(dir), 3);
	assert_int_equal(wal_install_snapshot(w, 1, 20, 3), GROVE_OK);
	assert_int_equal(count_segments(dir), 1);
	append_range(w, 21, 22, 3, 0);
	assert_int_equal(wal_sync(w), GROVE_OK);
	w = reopen(w, dir, &c);
	assert_int_equal(g1(&c)->snapshot_index, 20);
	assert_int_equal(g1(&c)->snapshot_term, 3);
	uint64_t threes[2] = {3, 3};
	expect_entries(&c, 21, 22, threes);
	wal_contents_free(&c);
	wal_close(w);
}

/*
 * Segments deleted behind a snapshot leave a gap before the entries that follow; an entry that then
 * replaces the log from below the gap must not be read as a suffix of what is left.
 */
static void test_overwrite_below_a_gap(void **state)
{
	const char *dir = *state;
	struct wal_contents c;
	struct wal *w = open_quietly(dir);
	fill_segments(w, 36);
	append_range(w, 20, 20, 2, 0);
	assert_int_equal(wal_sync(w), GROVE_OK);
	assert_int_equal(wal_compact(w, 1, 24, 2), GROVE_OK);
	assert_int_equal(count_segments(dir), 1);
	w = reopen(w, dir, &c);
	assert_int_equal(g1(&c)->snapshot_index, 24);
	assert_int_equal(g1(&c)->n_entries, 0);
	wal_contents_free(&c);
	wal_close(w);
}

static void test_interrupted_write_is_cut_off(void **state)
{
	const char *dir = *state;
	struct wal_contents c;
	struct wal *w = open_quietly(dir);
	append_range(w, 1, 5, 1, 0);
	assert_int_equal(wal_sync(w), GROVE_OK);
	append_range(w, 6, 6, 1, 0);
	assert_int_equal(wal_sync(w), GROVE_OK);
	wal_close(w);
	char path[4096];
	segment_path(dir, 1, path, sizeof(path));
	/* Entry 6's bytes only half reached the disk. */
	poke(path, find_in_file(path, "e6t1"), "\0\0", 2);
	w = open_wal(dir, &c);
	assert_true(c.torn_tail);
	uint64_t ones[5] = {1, 1, 1, 1, 1};
	expect_entries(&c, 1, 5, ones);
	wal_contents_free(&c);
	append_range(w, 6, 6, 2, 0);
	assert_int_equal(wal_sync(w), GROVE_OK);
	wal_close(w);

	/* Bytes of a later write that landed while an earlier one did not: zeroed, never replayed. */
	poke(path, 1 << 20, "e99t9 stray bytes", 17);
	w = open_wal(dir, &c);
	assert_true(c.torn_tail);
	uint64_t terms[6] = {1, 1, 1, 1, 1, 2};
	expect_entries(&c, 1, 6, terms);
	wal_contents_free(&c);
	w = reopen(w, dir, &c);
	assert_false(c.torn_tail);
	expect_entries(&c, 1, 6, terms);
	wal_contents_free(&c);
	wal_close(w);
}

static void test_corruption_is_refused(void **state)
{
	const char *dir = *state;
	struct wal_contents c;
	struct wal *w = open_quietly(dir);
	fill_segments(w, 24);
	assert_int_equal(count_segments(dir), 2);
	wal_close(w);
	char first[4096], copy[4096 + 8];
	segment_path(dir, 1, first, sizeof(first));
	snprintf(copy, sizeof(copy), "%s.bak", first);
	/* A segment that is not the newest has no torn tail: a bad record there is corruption. */
	assert_int_equal(link(first, copy), 0);
	off_t at = find_in_file(first, "e2t1");
	poke(first, at, "X", 1);
	assert_int_equal(wal_open(&w, dir, &c), GROVE_ECORRUPT);
	wal_contents_free(&c);
	/* A segment missing with no snapshot covering its entries: refused, not a shorter log. */
	assert_int_equal(unlink(first), 0);
	assert_int_equal(wal_open(&w, dir, &c), GROVE_ECORRUPT);
	wal_contents_free(&c);
	assert_int_equal(rename(copy, first), 0);
	poke(first, at, "e", 1);
	w = open_wal(dir, &c);
	assert_int_equal(g1(&c)->n_entries, 24);
	wal_contents_free(&c);
	wal_close(w);
}

/* The offset of the record of entry @p index in segment @p path (its data starts "e<index>t"). */
static off_t record_of_entry(const char *path, uint64_t index, uint64_t term)
{
	char needle[32];
	snprintf(needle, sizeof(needle), "e%llut%llu", (unsigned long long)index, (unsigned long long)term);
	return find_in_file(path, needle) - (8 + 9 + 20); /* header, kind and group, index term type */
}

/* Flip bit @p bit of the byte at @p offset of file @p path. */
static void flip_bit(const char *path, off_t offset, int bit)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, offset), 1);
	b ^= (uint8_t)(1u << bit);
	assert_int_equal(pwrite(fd, &b, 1, offset), 1);
	close(fd);
}

static void test_bit_flip_before_valid_records_is_named(void **state)
{
	const char *dir = *state;
	struct wal_contents c;
	struct wal *w = open_quietly(dir);
	for (uint64_t i = 1; i <= 5; i++) {
		append_range(w, i, i, 1, 100);
		assert_int_equal(wal_sync(w), GROVE_OK);
	}
	wal_close(w);
	char path[4096];
	segment_path(dir, 1, path, sizeof(path));
	off_t third = record_of_entry(path, 3, 1);

	/* In the newest segment, but acknowledged records follow it: corruption, never a torn tail. */
	flip_bit(path, third + 40, 2);
	assert_int_equal(wal_open(&w, dir, &c), GROVE_ECORRUPT);
	assert_string_equal(c.damage.segment, "0000000000000001.wal");
	assert_int_equal(c.damage.offset, third);
	assert_non_null(strstr(c.damage.what, "checksum mismatch"));
	assert_non_null(strstr(c.damage.what, "followed by a valid record"));
	wal_contents_free(&c);
	flip_bit(path, third + 40, 2);

	/* A flipped length: the records after it cannot be walked to, but are found. */
	flip_bit(path, third, 0);
	assert_int_equal(wal_open(&w, dir, &c), GROVE_ECORRUPT);
	assert_int_equal(c.damage.offset, third);
	assert_non_null(strstr(c.damage.what, "followed by a valid record"));
	wal_contents_free(&c);
	flip_bit(path, third, 0);
	flip_bit(path, third + 3, 6); /* a high bit of the length: it runs past the end of the file */
	assert_int_equal(wal_open(&w, dir, &c), GROVE_ECORRUPT);
	assert_non_null(strstr(c.damage.what, "runs past the end"));
	assert_non_null(strstr(c.damage.what, "followed by a valid record"));
	wal_contents_free(&c);
	flip_bit(path, third + 3, 6);

	/* Undamaged again: every entry is back. */
	uint64_t ones[5] = {1, 1, 1, 1, 1};
	w = open_wal(dir, &c);
	assert_false(c.torn_tail);
	expect_entries(&c, 1, 5, ones);
	wal_contents_free(&c);
	wal_close(w);

	/* The last record damaged is what a crash in its write leaves: cut off, and where is said. */
	off_t fifth = record_of_entry(path, 5, 1);
	flip_bit(path, fifth + 40, 0);
	w = open_wal(dir, &c);
	assert_true(c.torn_tail);
	assert_string_equal(c.damage.segment, "0000000000000001.wal");
	assert_int_equal(c.damage.offset, fifth);
	expect_entries(&c, 1, 4, ones);
	wal_contents_free(&c);
	wal_close(w);
}

/* A tmpfs of 4 MiB in @p dir/fs for a log of 1 MiB segments, or a skip with the reason. */
static char *mount_small_fs(const char *dir)
{
	static char fs[4096];
	snprintf(fs, sizeof(fs), "%s/fs", dir);
	assert_int_equal(mkdir(fs, 0755), 0);
	char why[256];
	if (test_mount_tmpfs(fs, 4, why, sizeof(why)) != 0) {
		print_message("skipped: %s\n", why);
		return NULL;
	}
	return fs;
}

static void test_full_disk_keeps_the_batch(void **state)
{
	char *fs = mount_small_fs(*state);
	if (!fs) {
		skip();
		return;
	}
	char log[4096 + 8], ballast[4096 + 16];
	snprintf(log, sizeof(log), "%s/log", fs);
	snprintf(ballast, sizeof(ballast), "%s/ballast", fs);
	struct wal_contents c;
	struct wal *w;
	assert_int_equal(wal_open_sized(&w, log, 1 << 20, &c), GROVE_OK);
	wal_contents_free(&c);
	assert_true(test_fill_disk(ballast) > 0);

	/* The first segment was allocated whole: it fills; the second finds no room. */
	uint64_t last = 0;
	int err = GROVE_OK;
	while (err == GROVE_OK && last < 64) {
		last++;
		append_range(w, last, last, 1, 64 << 10);
		err = wal_sync(w);
	}
	assert_int_equal(err, GROVE_ENOSPC);
	assert_true(last > 2);
	assert_int_equal(count_segments(log), 1); /* the one that could not be allocated is gone again */
	/* Still full: what is queued since waits behind the kept batch, and nothing is lost. */
	append_range(w, last + 1, last + 2, 1, 64 << 10);
	assert_true(wal_pending(w) > 0);
	assert_int_equal(wal_sync(w), GROVE_ENOSPC);
	assert_int_equal(unlink(ballast), 0);
	assert_int_equal(wal_sync(w), GROVE_OK);
	assert_int_equal(wal_pending(w), 0);
	wal_close(w);

	assert_int_equal(wal_open_sized(&w, log, 1 << 20, &c), GROVE_OK);
	assert_false(c.torn_tail);
	assert_int_equal(g1(&c)->n_entries, last + 2);
	for (uint64_t i = 1; i <= last + 2; i++)
		assert_int_equal(g1(&c)->entries[i - 1].index, i);
	wal_contents_free(&c);
	wal_close(w);
	test_unmount(fs);
}

/* Unmount the test's tmpfs even when the test failed. */
static int unmount_and_remove_dir(void **state)
{
	char fs[4096];
	snprintf(fs, sizeof(fs), "%s/fs", (char *)*state);
	test_unmount(fs);
	return remove_dir(state);
}

/* Append entries @p first..@p last of term 1 to group @p group, each @p size bytes of @p fill. */
static void append_group(struct wal *w, uint64_t group, uint64_t first, uint64_t last, size_t size, char fill)
{
	char *buf = malloc(size);
	assert_non_null(buf);
	memset(buf, fill, size);
	for (uint64_t i = first; i <= last; i++) {
		struct wal_entry e = {i, 1, 1, buf, size};
		assert_int_equal(wal_append(w, group, &e, 1), GROVE_OK);
	}
	free(buf);
}

/* Groups share segments; a segment goes only once no group needs an entry in it. */
static void test_groups_share_the_log(void **state)
{
	const char *dir = *state;
	struct wal_contents c;
	struct wal *w = open_quietly(dir);
	/* 1 MiB entries of two groups, two of each in a batch: twelve batches of 4 MiB, three to a segment. */
	for (uint64_t i = 1; i <= 24; i += 2) {
		append_group(w, 7, i, i + 1, 1u << 20, 'a');
		append_group(w, 9, i, i + 1, 1u << 20, 'b');
		assert_int_equal(wal_sync(w), GROVE_OK);
	}
	struct wal_hard_state hs7 = {4, 1, 20}, hs9 = {6, 2, 18};
	assert_int_equal(wal_set_hard_state(w, 7, &hs7), GROVE_OK);
	assert_int_equal(wal_set_hard_state(w, 9, &hs9), GROVE_OK);
	assert_int_equal(wal_sync(w), GROVE_OK);
	int before = count_segments(dir);
	assert_true(before >= 3);
	/* Group 7 alone compacted: group 9 still needs every segment. */
	assert_int_equal(wal_compact(w, 7, 24, 1), GROVE_OK);
	assert_int_equal(count_segments(dir), before);
	w = reopen(w, dir, &c);
	const struct wal_group *g7 = wal_contents_group(&c, 7), *g9 = wal_contents_group(&c, 9);
	assert_non_null(g7);
	assert_non_null(g9);
	assert_int_equal(g7->snapshot_index, 24);
	assert_int_equal(g7->n_entries, 0);
	assert_int_equal(g7->hard.term, 4);
	assert_int_equal(g9->n_entries, 24);
	assert_int_equal(g9->hard.term, 6);
	assert_int_equal(g9->hard.vote, 2);
	for (size_t i = 0; i < g9->n_entries; i++) {
		assert_int_equal(g9->entries[i].index, i + 1);
		assert_int_equal(((const char *)g9->entries[i].data)[0], 'b');
	}
	assert_null(wal_contents_group(&c, 1));
	wal_contents_free(&c);
	/* Then group 9 too: the old segments go, and both groups' state survives in the restated front. */
	assert_int_equal(wal_compact(w, 9, 20, 1), GROVE_OK);
	assert_true(count_segments(dir) < before);
	w = reopen(w, dir, &c);
	g7 = wal_contents_group(&c, 7);
	g9 = wal_contents_group(&c, 9);
	assert_int_equal(g7->snapshot_index, 24);
	assert_int_equal(g7->hard.term, 4);
	assert_int_equal(g9->snapshot_index, 20);
	assert_int_equal(g9->n_entries, 4);
	assert_int_equal(g9->entries[0].index, 21);
	assert_int_equal(g9->hard.commit, 18);
	wal_contents_free(&c);
	wal_close(w);
}

/* A record in the format from before the log had groups: u8 kind, fields (kind 1 entry, 2 hard state). */
static size_t old_record(uint8_t *out, uint8_t kind, const uint8_t *fields, size_t len)
{
	uint8_t payload[64];
	payload[0] = kind;
	memcpy(payload + 1, fields, len);
	uint32_t n = (uint32_t)(1 + len);
	memcpy(out + 8, payload, n);
	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(n >> (8 * i));
	uint32_t crc = snapshot_crc32c(0, payload, n);
	for (int i = 0; i < 4; i++)
		out[4 + i] = (uint8_t)(crc >> (8 * i));
	return 8 + n;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A log written before records carried a group id is read as group 1's, and new records follow it. */
static void test_records_without_group_are_group_one(void **state)
{
	const char *dir = *state;
	struct wal *w = open_quietly(dir);
	wal_close(w);
	char path[4096];
	segment_path(dir, 1, path, sizeof(path));
	uint8_t seg[512] = {0};
	size_t at = 0;
	for (uint64_t i = 1; i <= 3; i++) {
		uint8_t f[8 + 8 + 4 + 2];
		put64(f, i);
		put64(f + 8, 2);
		f[16] = 1, f[17] = f[18] = f[19] = 0;
		f[20] = 'o', f[21] = (uint8_t)('0' + i);
		at += old_record(seg + at, 1, f, sizeof(f));
	}
	uint8_t hs[24];
	put64(hs, 2);
	put64(hs + 8, 3);
	put64(hs + 16, 3);
	at += old_record(seg + at, 2, hs, sizeof(hs));
	poke(path, 0, seg, sizeof(seg));

	struct wal_contents c;
	w = open_wal(dir, &c);
	const struct wal_group *g = wal_contents_group(&c, 1);
	assert_non_null(g);
	assert_int_equal(g->n_entries, 3);
	assert_int_equal(g->entries[2].index, 3);
	assert_int_equal(g->entries[2].term, 2);
	assert_memory_equal(g->entries[2].data, "o3", 2);
	assert_int_equal(g->hard.vote, 3);
	wal_contents_free(&c);
	struct wal_entry e = {4, 2, 1, "n4", 2};
	assert_int_equal(wal_append(w, 1, &e, 1), GROVE_OK);
	assert_int_equal(wal_sync(w), GROVE_OK);
	w = reopen(w, dir, &c);
	g = wal_contents_group(&c, 1);
	assert_int_equal(g->n_entries, 4);
	assert_memory_equal(g->entries[3].data, "n4", 2);
	wal_contents_free(&c);
	wal_close(w);
}

/* A flush takes what was queued; what is queued while it runs waits for the next one. */
static void test_flush_in_steps(void **state)
{
	const char *dir = *state;
	struct wal_contents c;
	struct wal *w = open_quietly(dir);
	assert_false(wal_flush_begin(w)); /* nothing queued */
	append_range(w, 1, 3, 1, 0);
	assert_true(wal_flush_begin(w));
	assert_int_equal(wal_pending(w), 0);
	append_range(w, 4, 5, 1, 0); /* the next batch forms during the sync */
	assert_false(wal_flush_begin(w)); /* one flush at a time */
	assert_int_equal(wal_flush_run(w), GROVE_OK);
	wal_flush_end(w, GROVE_OK);
	assert_true(wal_pending(w) > 0);
	wal_close(w); /* entries 4 and 5 never flushed */
	w = open_wal(dir, &c);
	uint64_t ones[5] = {1, 1, 1, 1, 1};
	expect_entries(&c, 1, 3, ones);
	wal_contents_free(&c);
	append_range(w, 4, 5, 1, 0);
	assert_true(wal_flush_begin(w));
	wal_flush_end(w, GROVE_EIO); /* a failed flush: the log refuses to go on */
	append_range(w, 6, 6, 1, 0);
	assert_int_equal(wal_sync(w), GROVE_EIO);
	w = reopen(w, dir, &c);
	expect_entries(&c, 1, 3, ones);
	wal_contents_free(&c);
	wal_close(w);
}

/* The child: append and sync one entry (and a hard state) at a time, reporting each once durable. */
static void syncing_writer(const char *dir, int report)
{
	struct wal *w;
	struct wal_contents c;
	if (wal_open(&w, dir, &c))
		_exit(2);
	uint64_t next = g1(&c)->n_entries ? g1(&c)->entries[g1(&c)->n_entries - 1].index + 1 : 1;
	wal_contents_free(&c);
	for (;; next++) {
		char data[64];
		snprintf(data, sizeof(data), "e%llut1", (unsigned long long)next);
		struct wal_entry e = {next, 1, 1, data, strlen(data) + 1 + (size_t)(next % 40)};
		struct wal_hard_state hs = {1, 0, next};
		if (wal_append(w, 1, &e, 1) || wal_set_hard_state(w, 1, &hs) || wal_sync(w))
			_exit(3);
		if (write(report, &next, sizeof(next)) != sizeof(next))
			_exit(4);
	}
}

static void test_kill9_keeps_synced_entries(void **state)
{
	const char *dir = *state;
	test_seed_crashes("wal crash");
	uint64_t acked = 0;
	for (int round = 0; round < 5; round++) {
		test_kill9_after(syncing_writer, dir, 20 + rand() % 300, &acked);
		struct wal *w;
		struct wal_contents c;
		assert_int_equal(wal_open(&w, dir, &c), GROVE_OK);
		assert_true(g1(&c)->n_entries >= acked);
		for (size_t i = 0; i < g1(&c)->n_entries; i++) {
			char want[64];
			snprintf(want, sizeof(want), "e%zut1", i + 1);
			assert_int_equal(g1(&c)->entries[i].index, i + 1);
			assert_string_equal(g1(&c)->entries[i].data, want);
		}
		assert_true(g1(&c)->hard.commit >= acked);
		printf("round %d: %llu acknowledged, %zu replayed\n", round, (unsigned long long)acked, g1(&c)->n_entries);
		wal_contents_free(&c);
		wal_close(w);
	}
	assert_true(acked >= 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_append_reopen, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_overwrite_conflicting_suffix, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_snapshot_deletes_covered_segments, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_installed_snapshot_replaces_log, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_overwrite_below_a_gap, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_interrupted_write_is_cut_off, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_corruption_is_refused, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_bit_flip_before_valid_records_is_named, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_full_disk_keeps_the_batch, make_dir, unmount_and_remove_dir),
		cmocka_unit_test_setup_teardown(test_groups_share_the_log, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_records_without_group_are_group_one, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_flush_in_steps, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_kill9_keeps_synced_entries, make_dir, remove_dir),
	};
	return cmocka_run_group_tests_name("wal", tests, NULL, NULL);
}
