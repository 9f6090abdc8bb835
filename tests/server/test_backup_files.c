/* Backup files (src/server/backup.h) on a real folder: durations, names, writing, scanning with a corrupt file
 * and an unfinished one, and retention. */
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
#include "src/server/backup.h"
#include "storage/snapshot.h"
#include "support.h"

static void test_durations(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint64_t ms;
	} good[] = {{"500ms", 500}, {"30s", 30000}, {"10m", 600000}, {"1h", 3600000}, {"1ms", 1}, {"90s", 90000}};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t ms = 0;
		assert_int_equal(backup_parse_duration(good[i].text, &ms), GROVE_OK);
		assert_int_equal(ms, good[i].ms);
	}
	static const char *const bad[] = {"", "0s", "10", "s", "-5s", "5 s", "5sec", "1.5s", "5d", "5S", "ms",
					  "99999999999999999999s", "18446744073709551615h"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms = 7;
		assert_int_equal(backup_parse_duration(bad[i], &ms), GROVE_EINVAL);
		assert_int_equal(ms, 7);
	}
	uint64_t ms = 7;
	assert_int_equal(backup_parse_duration(NULL, &ms), GROVE_EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	char name[BACKUP_NAME_MAX];
	/* 2026-11-30 17:24:56.123 UTC */
	assert_int_equal(backup_file_name(1234, 1796059496123ull, name, sizeof(name)), GROVE_OK);
	assert_string_equal(name, "backup-00000000000000001234-20261130T172456.123Z.snap");
	uint64_t index, ms;
	assert_true(backup_parse_file_name(name, &index, &ms));
	assert_int_equal(index, 1234);
	assert_int_equal(ms, 1796059496123ull);
	assert_int_equal(backup_file_name(1, 0, name, 10), GROVE_EINVAL);
	static const char *const bad[] = {
		"backup-00000000000000001234-20261130T172456.123Z.snap.tmp",
		".backup-00000000000000001234-20261130T172456.123Z.snap.tmp",
		"backup-1234-20261130T172456.123Z.snap",
		"backup-00000000000000001234-20261130T172456.123.snap",
		"backup-00000000000000001234-20261332T172456.123Z.snap", /* no 32nd of month 13 */
		"world.snap",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(backup_parse_file_name(bad[i], &index, &ms));
}

/* A snapshot of one record at @p index. */
static void make_snapshot(uint64_t index, struct snapshot *out)
{
	struct snapshot_builder b = {0};
	char value[32];
	snprintf(value, sizeof(value), "state at %llu", (unsigned long long)index);
	assert_int_equal(snapshot_add_record(&b, 0, "k", 1, value, strlen(value)), GROVE_OK);
	assert_int_equal(snapshot_finish(&b, index, 0, out), GROVE_OK);
}

static void write_backup(const char *dir, uint64_t index, uint64_t ms, struct backup_list *list)
{
	struct snapshot snap;
	make_snapshot(index, &snap);
	struct backup_file f;
	char why[200];
	assert_int_equal(backup_write(dir, &snap, ms, &f, why, sizeof(why)), GROVE_OK);
	assert_int_equal(f.applied_index, index);
	assert_int_equal(f.size, snap.len);
	struct backup_file again;
	assert_int_equal(backup_write(dir, &snap, ms, &again, why, sizeof(why)), GROVE_EEXIST);
	snapshot_free(&snap);
	if (list)
		assert_int_equal(backup_list_add(list, &f), GROVE_OK);
}

/* DIR/NAME into @p out. */
static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < cap);
}

static bool exists(const char *dir, const char *name)
{
	char path[4096];
	path_in(path, sizeof(path), dir, name);
	return access(path, F_OK) == 0;
}

static void test_write_scan_prune(void **state)
{
	(void)state;
	char *top = test_tmpdir("backup_files");
	char dir[4096];
	path_in(dir, sizeof(dir), top, "backups");
	struct backup_list list = {0};
	assert_int_equal(backup_scan(dir, &list), GROVE_OK); /* no folder yet: nothing kept */
	assert_int_equal(list.n, 0);

	/* Written out of order, listed by index. */
	uint64_t base = 1796059496000ull;
	write_backup(dir, 30, base + 3000, &list);
	write_backup(dir, 10, base + 1000, &list);
	write_backup(dir, 20, base + 2000, &list);
	assert_int_equal(list.n, 3);
	assert_int_equal(list.files[0].applied_index, 10);
	assert_int_equal(list.files[2].applied_index, 30);

	/* A write that never finished, a stranger, a damaged backup and one whose name lies about its index. */
	char path[4096], name[BACKUP_NAME_MAX], temp[BACKUP_NAME_MAX + 8];
	assert_int_equal(backup_file_name(40, base + 4000, name, sizeof(name)), GROVE_OK);
	snprintf(temp, sizeof(temp), ".%s.tmp", name);
	path_in(path, sizeof(path), dir, temp);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("half", f);
	fclose(f);
	path_in(path, sizeof(path), dir, "notes.txt");
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	char damaged[BACKUP_NAME_MAX];
	write_backup(dir, 50, base + 5000, NULL);
	assert_int_equal(backup_file_name(50, base + 5000, damaged, sizeof(damaged)), GROVE_OK);
	path_in(path, sizeof(path), dir, damaged);
	assert_non_null(f = fopen(path, "r+b"));
	fseek(f, -3, SEEK_END);
	fputc('X', f);
	fclose(f);
	struct snapshot snap;
	make_snapshot(60, &snap);
	char liar[BACKUP_NAME_MAX];
	assert_int_equal(backup_file_name(61, base + 6000, liar, sizeof(liar)), GROVE_OK);
	path_in(path, sizeof(path), dir, liar);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(snap.data, 1, snap.len, f), snap.len);
	fclose(f);
	snapshot_free(&snap);

	struct backup_list scanned;
	assert_int_equal(backup_scan(dir, &scanned), GROVE_OK);
	assert_int_equal(scanned.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(scanned.files[i].name, list.files[i].name);
		assert_int_equal(scanned.files[i].size, list.files[i].size);
		assert_int_equal(scanned.files[i].unix_ms, list.files[i].unix_ms);
	}
	/* Corrupt ones stay on disk for a person to look at; the unfinished write is gone. */
	assert_true(exists(dir, damaged));
	assert_true(exists(dir, liar));
	assert_false(exists(dir, temp));

	/* Retention: the newest two stay, the oldest goes; corrupt files are neither counted nor deleted. */
	struct backup_list copy;
	assert_int_equal(backup_list_copy(&copy, &scanned), GROVE_OK);
	assert_int_equal(backup_prune(dir, &copy, 2), GROVE_OK);
	assert_int_equal(copy.n, 2);
	assert_int_equal(copy.files[0].applied_index, 20);
	assert_int_equal(copy.files[1].applied_index, 30);
	assert_false(exists(dir, scanned.files[0].name));
	assert_true(exists(dir, scanned.files[1].name));
	assert_true(exists(dir, damaged));
	/* A keep of 0 is read as 1: the newest is never deleted. */
	assert_int_equal(backup_prune(dir, &copy, 0), GROVE_OK);
	assert_int_equal(copy.n, 1);
	assert_int_equal(copy.files[0].applied_index, 30);
	assert_true(exists(dir, copy.files[0].name));

	backup_list_free(&copy);
	backup_list_free(&scanned);
	backup_list_free(&list);
	test_rmtree(top);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_write_scan_prune),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
