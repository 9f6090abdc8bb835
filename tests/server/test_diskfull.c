/*
 * Disk faults on a real groved: a data directory on a small tmpfs that fills up (writes refused with a
 * message that says the disk is full, reads still served, nothing acknowledged lost, writes accepted again
 * by themselves once space returns, and all of it still there after a restart); a bit flipped in a log
 * record that valid records follow (groved refuses to start, naming the file, the byte offset and the
 * cause); and the end of the log cut short as a crash leaves it (groved starts, says where it cut, and
 * keeps every acknowledged write). Mounting needs the right to mount: without it the full-disk test is
 * skipped with a message. Every loop is bounded in count and in time.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "files.h"
#include "harness.h"
#include "support.h"

/* The tmpfs: big enough for groved's first log segment (16 MiB, allocated whole) and its store. */
#define FS_MIB 24
/* Room left beside the ballast: a little more than the reserve groved keeps for accepted writes (4 MiB). */
#define LEFT_FREE ((uint64_t)6 << 20)
#define VALUE_BYTES 60000
#define MAX_WRITES 200
#define SEGMENT "0000000000000001.wal"

struct fixture {
	char *dir;   /* the temporary directory, owned */
	char fs[2048];   /* DIR/fs, where the tmpfs is mounted (full-disk test) */
	char data[4096]; /* groved's data directory */
	bool mounted;
	struct groved_proc server;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = test_tmpdir("diskfull");
	snprintf(f->fs, sizeof(f->fs), "%s/fs", f->dir);
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	*state = f;
	return 0;
}

/* Always: groved killed, the tmpfs unmounted, the directory removed, even after a failed assertion. */
static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->server.pid)
		groved_kill(&f->server);
	if (f->mounted)
		test_unmount(f->fs);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

/* `grove set /root/A p<i> "w<i>-xxx..."`, a value of VALUE_BYTES. */
static void set_value(struct fixture *f, int i, struct cli_result *r)
{
	static char value[VALUE_BYTES + 32];
	int n = snprintf(value, sizeof(value), "\"w%d-", i);
	memset(value + n, 'x', VALUE_BYTES);
	snprintf(value + n + VALUE_BYTES, sizeof(value) - (size_t)n - VALUE_BYTES, "\"");
	char prop[32];
	snprintf(prop, sizeof(prop), "p%d", i);
	cli_run(&f->server, r, "set", "/root/A", prop, value, NULL);
}

/* Every write in @p acked[1..n] reads back. */
static void expect_values(struct fixture *f, const bool *acked, int n)
{
	static struct cli_result r;
	for (int i = 1; i <= n; i++) {
		if (!acked[i])
			continue;
		char prop[32], want[32];
		snprintf(prop, sizeof(prop), "p%d", i);
		snprintf(want, sizeof(want), "\"w%d-xxx", i);
		cli_run(&f->server, &r, "get", "/root/A", prop, NULL);
		if (r.status != 0 || !strstr(r.out, want))
			fail_msg("acknowledged write %d is not there: status %d, %.200s %.200s", i, r.status, r.out, r.err);
	}
}

static uint64_t free_bytes(const char *path)
{
	struct statvfs st;
	assert_int_equal(statvfs(path, &st), 0);
	return (uint64_t)st.f_bavail * st.f_frsize;
}

/* A file of @p bytes zeros at @p path. */
static void write_ballast(const char *path, uint64_t bytes)
{
	static const char zeros[1 << 16];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	for (uint64_t done = 0; done < bytes;) {
		size_t n = bytes - done < sizeof(zeros) ? (size_t)(bytes - done) : sizeof(zeros);
		ssize_t put = write(fd, zeros, n);
		assert_true(put > 0);
		done += (uint64_t)put;
	}
	close(fd);
}

static void test_full_disk_refuses_writes_and_resumes(void **state)
{
	struct fixture *f = *state;
	static struct cli_result r;
	assert_int_equal(mkdir(f->fs, 0755), 0);
	char why[512];
	if (test_mount_tmpfs(f->fs, FS_MIB, why, sizeof(why)) != 0) {
		print_message("skipped: %s\n", why);
		skip();
		return;
	}
	f->mounted = true;
	snprintf(f->data, sizeof(f->data), "%s/data", f->fs);
	groved_start(&f->server, f->data, NULL);
	cli_run(&f->server, &r, "add", "/root/A", "Node3D", NULL);
	assert_int_equal(r.status, 0);
	char ballast[4096 + 16];
	snprintf(ballast, sizeof(ballast), "%s/ballast", f->fs);
	uint64_t room = free_bytes(f->fs);
	assert_true(room > LEFT_FREE);
	write_ballast(ballast, room - LEFT_FREE);

	/* Write until refused. */
	bool acked[MAX_WRITES + 2] = {false};
	int n = 0;
	bool refused = false;
	time_t deadline = time(NULL) + 30;
	while (!refused && n < MAX_WRITES && time(NULL) < deadline) {
		set_value(f, ++n, &r);
		if (r.status == 0) {
			acked[n] = true;
			continue;
		}
		if (!strstr(r.err, "the disk is full"))
			fail_msg("write %d failed otherwise: status %d: %s", n, r.status, r.err);
		refused = true;
	}
	assert_true(refused);
	assert_int_equal(r.status, 1); /* refused, not a connection error: groved is up */
	print_message("%d writes acknowledged, then: %s", n - 1, r.err);
	assert_true(n > 1);
	set_value(f, n + 1, &r);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "the disk is full"));

	/* Reads are served, and every acknowledged write is there. */
	cli_run(&f->server, &r, "status", NULL);
	assert_int_equal(r.status, 0);
	expect_values(f, acked, n);

	/* Space returns: writes are accepted again without anything done to groved. */
	assert_int_equal(unlink(ballast), 0);
	int after = n + 2;
	deadline = time(NULL) + 15;
	for (int tries = 0; tries < 100 && time(NULL) < deadline; tries++) {
		set_value(f, after, &r);
		if (r.status == 0)
			break;
		usleep(200 * 1000);
	}
	assert_int_equal(r.status, 0);
	acked[after] = true;
	expect_values(f, acked, after);

	/* And all of it after a restart. */
	int status = groved_stop(&f->server);
	f->server.pid = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	groved_start(&f->server, f->data, NULL);
	expect_values(f, acked, after);
}

/* Start groved on the fixture's data, set k1..k@p n on /root/A, and kill -9 it. */
static void write_and_kill(struct fixture *f, int n)
{
	static struct cli_result r;
	groved_start(&f->server, f->data, NULL);
	cli_run(&f->server, &r, "add", "/root/A", "Node3D", NULL);
	assert_int_equal(r.status, 0);
	for (int i = 1; i <= n; i++) {
		char prop[32], value[32];
		snprintf(prop, sizeof(prop), "flip%d", i);
		snprintf(value, sizeof(value), "%d", 1000 + i);
		cli_run(&f->server, &r, "set", "/root/A", prop, value, NULL);
		assert_int_equal(r.status, 0);
	}
	groved_kill(&f->server);
	f->server.pid = 0;
}

/* After a restart, k1..k@p n are all there. */
static void expect_small_values(struct fixture *f, int n)
{
	static struct cli_result r;
	groved_start(&f->server, f->data, NULL);
	cli_run(&f->server, &r, "get", "/root/A", NULL);
	assert_int_equal(r.status, 0);
	for (int i = 1; i <= n; i++) {
		char want[64];
		snprintf(want, sizeof(want), "flip%d = %d", i, 1000 + i);
		if (!strstr(r.out, want))
			fail_msg("acknowledged write %d is not there:\n%s", i, r.out);
	}
}

/* The whole of file @p path, NUL-terminated; free it. */
static char *read_text(const char *path)
{
	size_t len;
	char *text = test_read_file(path, &len);
	assert_non_null(text);
	return text;
}

/* Where @p needle first occurs in file @p path, or -1. */
static long find_bytes(const char *path, const char *needle)
{
	size_t len;
	char *data = test_read_file(path, &len);
	assert_non_null(data);
	const char *at = memmem(data, len, needle, strlen(needle));
	long offset = at ? (long)(at - data) : -1;
	free(data);
	return offset;
}

static void flip_bit(const char *path, long offset)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	unsigned char b;
	assert_int_equal(pread(fd, &b, 1, offset), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, offset), 1);
	close(fd);
}

/* The number after "at byte " in the line of groved's log at @p log_path that holds @p what, or -1. */
static long logged_offset(const char *log_path, const char *what)
{
	char *text = read_text(log_path);
	char *line = strstr(text, what);
	char *at = line ? strstr(line, "at byte ") : NULL;
	long offset = at ? strtol(at + strlen("at byte "), NULL, 10) : -1;
	free(text);
	return offset;
}

/* Five acknowledged writes, then kill -9; @p segment and @p log_path receive the log's segment and groved's log. */
static void five_writes_killed(struct fixture *f, char *segment, size_t segment_cap, char *log_path, size_t log_cap)
{
	write_and_kill(f, 5);
	snprintf(segment, segment_cap, "%s/raft-log/" SEGMENT, f->data);
	snprintf(log_path, log_cap, "%s.log", f->data);
}

static void test_bit_flip_in_the_log_refuses_start(void **state)
{
	struct fixture *f = *state;
	char segment[4096 + 64], log_path[4096 + 8];
	five_writes_killed(f, segment, sizeof(segment), log_path, sizeof(log_path));
	/* A bit of the third write's property name: writes 4 and 5 follow it, acknowledged. */
	long flip = find_bytes(segment, "flip3");
	assert_true(flip > 0);
	flip_bit(segment, flip);

	int status = groved_run_to_exit(f->data, NULL, 20);
	assert_true(WIFEXITED(status));
	assert_int_not_equal(WEXITSTATUS(status), 0);
	char *text = read_text(log_path);
	print_message("groved said: %s", strstr(text, "the log is corrupt") ? strstr(text, "raft: the log") : text);
	assert_non_null(strstr(text, "the log is corrupt"));
	assert_non_null(strstr(text, "raft-log/" SEGMENT));
	assert_non_null(strstr(text, "checksum mismatch"));
	free(text);
	long named = logged_offset(log_path, "the log is corrupt");
	assert_true(named > 0 && named < flip && flip - named < 256); /* the start of the record that holds it */

	/* The bit back: every write is there. */
	flip_bit(segment, flip);
	expect_small_values(f, 5);
}

/* Where the records of segment @p path end (the first zero length), walking their lengths. */
static long records_end(const char *path)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	long at = 0;
	for (int i = 0; i < 100000; i++) {
		unsigned char len[4];
		assert_int_equal(pread(fd, len, 4, at), 4);
		uint32_t payload = (uint32_t)len[0] | (uint32_t)len[1] << 8 | (uint32_t)len[2] << 16 | (uint32_t)len[3] << 24;
		if (payload == 0)
			break;
		at += 8 + (long)payload;
	}
	close(fd);
	return at;
}

static void test_torn_tail_is_cut_and_named(void **state)
{
	struct fixture *f = *state;
	char segment[4096 + 64], log_path[4096 + 8];
	five_writes_killed(f, segment, sizeof(segment), log_path, sizeof(log_path));
	/* A batch a crash interrupted: its header and the first bytes of its 300-byte payload reached the disk. */
	long end = records_end(segment);
	assert_true(end > 0);
	unsigned char torn[8 + 40] = {44, 1, 0, 0, 0xde, 0xad, 0xbe, 0xef, 4};
	memset(torn + 9, 0x5a, sizeof(torn) - 9);
	int fd = open(segment, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, torn, sizeof(torn), end), (ssize_t)sizeof(torn));
	close(fd);

	expect_small_values(f, 5);
	char *text = read_text(log_path);
	assert_non_null(strstr(text, "cut off the end of the log"));
	assert_non_null(strstr(text, "raft-log/" SEGMENT));
	free(text);
	assert_int_equal(logged_offset(log_path, "cut off the end of the log"), end);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_disk_refuses_writes_and_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bit_flip_in_the_log_refuses_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_is_cut_and_named, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
