/* The shard map as a pure state machine: longest-prefix lookup, which splits are valid, the switch and the
 * abort, and that the encodings round-trip and refuse what is malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/shard/shardmap.h"

#define WORLD 1
#define FIRST 3

static const uint64_t members[3] = {1, 2, 3};

static void fresh(struct shard_map *m)
{
	assert_int_equal(shard_map_init(m, WORLD, FIRST, members, 3), GROVE_OK);
}

/* Start and switch a split of @p path; returns its group. */
static uint64_t split(struct shard_map *m, const char *path)
{
	uint64_t g;
	char why[256];
	assert_int_equal(shard_map_start_split(m, path, members, 3, &g, why, sizeof(why)), GROVE_OK);
	assert_int_equal(shard_map_switch(m, g, 10), GROVE_OK);
	return g;
}

static uint64_t group_of(const struct shard_map *m, const char *path)
{
	const struct shard_entry *e = shard_map_lookup(m, path);
	return e ? e->group : 0;
}

static void test_paths(void **state)
{
	(void)state;
	assert_true(shard_path_canonical("/root"));
	assert_true(shard_path_canonical("/root/A"));
	assert_true(shard_path_canonical("/root/A/b.002/C"));
	assert_false(shard_path_canonical("/root/"));
	assert_false(shard_path_canonical("/root//A"));
	assert_false(shard_path_canonical("/root/A/"));
	assert_false(shard_path_canonical("/root/./A"));
	assert_false(shard_path_canonical("/root/.."));
	assert_false(shard_path_canonical("/rootA"));
	assert_false(shard_path_canonical("root/A"));
	assert_false(shard_path_canonical(""));
	assert_true(shard_path_within("/root/A/B", "/root/A"));
	assert_true(shard_path_within("/root/A", "/root/A"));
	assert_false(shard_path_within("/root/AB", "/root/A"));
	assert_false(shard_path_within("/root", "/root/A"));
}

static void test_lookup_longest_prefix(void **state)
{
	(void)state;
	struct shard_map m;
	fresh(&m);
	assert_int_equal(group_of(&m, "/root"), WORLD);
	assert_int_equal(group_of(&m, "/root/Anything/Below"), WORLD);
	assert_null(shard_map_lookup(&m, "/other"));
	assert_null(shard_map_lookup(&m, "/rootX"));
	uint64_t a = split(&m, "/root/A");
	uint64_t ab = split(&m, "/root/A/B");
	uint64_t c = split(&m, "/root/C");
	assert_int_equal(a, FIRST);
	assert_int_equal(ab, FIRST + 1);
	assert_int_equal(c, FIRST + 2);
	assert_int_equal(group_of(&m, "/root/A"), a);
	assert_int_equal(group_of(&m, "/root/A/x"), a);
	assert_int_equal(group_of(&m, "/root/A/B"), ab);
	assert_int_equal(group_of(&m, "/root/A/B/deep/er"), ab);
	assert_int_equal(group_of(&m, "/root/A/BB"), a);  /* not within /root/A/B */
	assert_int_equal(group_of(&m, "/root/AB"), WORLD); /* not within /root/A */
	assert_int_equal(group_of(&m, "/root/C/"), c);     /* a trailing slash is ignored */
	assert_int_equal(group_of(&m, "/root//A//B"), ab); /* so are repeated ones */
	assert_int_equal(group_of(&m, "/root/B"), WORLD);
	/* Deterministic whatever the order splits came in: the same map built the other way round. */
	struct shard_map other;
	fresh(&other);
	split(&other, "/root/C");
	split(&other, "/root/A/B");
	split(&other, "/root/A");
	const char *probes[] = {"/root", "/root/A", "/root/A/B", "/root/A/B/x", "/root/C/y", "/root/D"};
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		assert_string_equal(shard_map_lookup(&m, probes[i])->path, shard_map_lookup(&other, probes[i])->path);
	shard_map_free(&other);
	shard_map_free(&m);
}

static void test_split_validity(void **state)
{
	(void)state;
	struct shard_map m;
	fresh(&m);
	uint64_t g;
	char why[256];
	assert_int_equal(shard_map_start_split(&m, "/root", members, 3, &g, why, sizeof(why)), GROVE_EROOT);
	assert_non_null(strstr(why, "/root"));
	assert_int_equal(shard_map_start_split(&m, "/root/A/", members, 3, &g, why, sizeof(why)), GROVE_EINVAL);
	assert_int_equal(shard_map_start_split(&m, "/elsewhere", members, 3, &g, why, sizeof(why)), GROVE_EINVAL);
	assert_int_equal(shard_map_start_split(&m, "/root/A", members, 0, &g, why, sizeof(why)), GROVE_EINVAL);
	/* A running split: routing still goes to the source; the same path and the same source are refused. */
	assert_int_equal(shard_map_start_split(&m, "/root/A", members, 3, &g, why, sizeof(why)), GROVE_OK);
	assert_int_equal(g, FIRST);
	assert_int_equal(group_of(&m, "/root/A/x"), WORLD);
	assert_ptr_equal(shard_map_split_of(&m, WORLD), shard_map_find_group(&m, g));
	/* Until it switches, the split is over the subtree and all below it (any spelling), not beside or above. */
	assert_ptr_equal(shard_map_split_over(&m, "/root/A"), shard_map_find_group(&m, g));
	assert_ptr_equal(shard_map_split_over(&m, "/root//A/x/"), shard_map_find_group(&m, g));
	assert_null(shard_map_split_over(&m, "/root/AB"));
	assert_null(shard_map_split_over(&m, "/root"));
	assert_int_equal(shard_map_start_split(&m, "/root/A", members, 3, &g, why, sizeof(why)), GROVE_EEXIST);
	assert_int_equal(shard_map_start_split(&m, "/root/B", members, 3, &g, why, sizeof(why)), GROVE_EUNAVAILABLE);
	assert_non_null(strstr(why, "already"));
	assert_int_equal(shard_map_switch(&m, FIRST, 7), GROVE_OK);
	assert_int_equal(shard_map_find_group(&m, FIRST)->split_index, 7);
	assert_int_equal(shard_map_switch(&m, FIRST, 9), GROVE_OK); /* idempotent: the first switch stands */
	assert_int_equal(shard_map_find_group(&m, FIRST)->split_index, 7);
	assert_int_equal(group_of(&m, "/root/A/x"), FIRST);
	assert_null(shard_map_split_over(&m, "/root/A/x"));
	assert_int_equal(shard_map_start_split(&m, "/root/A", members, 3, &g, why, sizeof(why)), GROVE_EEXIST);
	assert_non_null(strstr(why, "already the root of shard"));
	/* Splits of different groups run side by side. */
	uint64_t b, ax;
	assert_int_equal(shard_map_start_split(&m, "/root/B", members, 3, &b, why, sizeof(why)), GROVE_OK);
	assert_int_equal(shard_map_start_split(&m, "/root/A/x", members, 3, &ax, why, sizeof(why)), GROVE_OK);
	assert_int_equal(shard_map_find_group(&m, ax)->source, FIRST);
	/* An abort removes the entry; the group id is never handed out again. */
	assert_int_equal(shard_map_abort(&m, b), GROVE_OK);
	assert_null(shard_map_find_group(&m, b));
	assert_int_equal(shard_map_abort(&m, b), GROVE_ENOTFOUND);
	assert_int_equal(shard_map_abort(&m, FIRST), GROVE_ENOTFOUND); /* active: not abortable */
	assert_int_equal(shard_map_switch(&m, 999, 1), GROVE_ENOTFOUND);
	assert_int_equal(shard_map_switch(&m, WORLD, 1), GROVE_ENOTFOUND);
	uint64_t b2;
	assert_int_equal(shard_map_start_split(&m, "/root/B", members, 3, &b2, why, sizeof(why)), GROVE_OK);
	assert_true(b2 > ax);
	shard_map_free(&m);
}

static void test_commands_round_trip(void **state)
{
	(void)state;
	struct shard_map m;
	fresh(&m);
	struct shard_cmd start = {.kind = SHARD_CMD_START_SPLIT, .path = "/root/Zone", .n_members = 2, .members = {4, 9}};
	struct grove_buf b = {0};
	assert_int_equal(shard_cmd_encode(&start, &b), GROVE_OK);
	struct shard_cmd cmd;
	assert_int_equal(shard_cmd_decode(b.data, b.len, &cmd), GROVE_OK);
	assert_int_equal(cmd.kind, SHARD_CMD_START_SPLIT);
	assert_string_equal(cmd.path, "/root/Zone");
	assert_int_equal(cmd.n_members, 2);
	assert_int_equal(cmd.members[1], 9);
	/* Every truncation, and a trailing byte, is refused. */
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(shard_cmd_decode(b.data, n, &cmd), GROVE_ECORRUPT);
	grove_buf_u8(&b, 0);
	assert_int_equal(shard_cmd_decode(b.data, b.len, &cmd), GROVE_ECORRUPT);
	b.len--;
	uint64_t g;
	char why[256];
	assert_int_equal(shard_cmd_decode(b.data, b.len, &cmd), GROVE_OK);
	assert_int_equal(shard_map_apply(&m, &cmd, &g, why, sizeof(why)), GROVE_OK);
	assert_int_equal(g, FIRST);
	assert_int_equal(shard_map_find_group(&m, g)->members[0], 4);
	struct shard_cmd sw = {.kind = SHARD_CMD_SWITCH, .group = g, .split_index = 42};
	b.len = 0;
	assert_int_equal(shard_cmd_encode(&sw, &b), GROVE_OK);
	assert_int_equal(shard_cmd_decode(b.data, b.len, &cmd), GROVE_OK);
	assert_int_equal(shard_map_apply(&m, &cmd, &g, why, sizeof(why)), GROVE_OK);
	assert_int_equal(group_of(&m, "/root/Zone/P"), FIRST);
	struct shard_cmd ab = {.kind = SHARD_CMD_ABORT, .group = 77, .code = GROVE_ENOTFOUND, .reason = "no such node"};
	b.len = 0;
	assert_int_equal(shard_cmd_encode(&ab, &b), GROVE_OK);
	assert_int_equal(shard_cmd_decode(b.data, b.len, &cmd), GROVE_OK);
	assert_string_equal(cmd.reason, "no such node");
	assert_int_equal(cmd.code, GROVE_ENOTFOUND);
	assert_int_equal(shard_map_apply(&m, &cmd, &g, why, sizeof(why)), GROVE_ENOTFOUND);
	uint8_t unknown = 99;
	assert_int_equal(shard_cmd_decode(&unknown, 1, &cmd), GROVE_ECORRUPT);
	grove_buf_free(&b);
	shard_map_free(&m);
}

static void test_map_round_trip(void **state)
{
	(void)state;
	struct shard_map m;
	fresh(&m);
	split(&m, "/root/A");
	split(&m, "/root/A/B");
	uint64_t g;
	assert_int_equal(shard_map_start_split(&m, "/root/C", members, 3, &g, NULL, 0), GROVE_OK);
	struct grove_buf b = {0};
	assert_int_equal(shard_map_encode(&m, &b), GROVE_OK);
	struct shard_map back = {0};
	assert_int_equal(shard_map_decode(&back, b.data, b.len), GROVE_OK);
	assert_int_equal(back.n, m.n);
	assert_int_equal(back.next_group, m.next_group);
	for (size_t i = 0; i < m.n; i++) {
		assert_string_equal(back.entries[i].path, m.entries[i].path);
		assert_int_equal(back.entries[i].group, m.entries[i].group);
		assert_int_equal(back.entries[i].source, m.entries[i].source);
		assert_int_equal(back.entries[i].state, m.entries[i].state);
		assert_int_equal(back.entries[i].split_index, m.entries[i].split_index);
		assert_int_equal(back.entries[i].n_members, m.entries[i].n_members);
	}
	assert_int_equal(group_of(&back, "/root/A/B/q"), group_of(&m, "/root/A/B/q"));
	/* Truncated or corrupted encodings leave the map as it was. */
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(shard_map_decode(&back, b.data, n), GROVE_ECORRUPT);
	b.data[0] = 7;
	assert_int_equal(shard_map_decode(&back, b.data, b.len), GROVE_ECORRUPT);
	assert_int_equal(back.n, m.n);
	grove_buf_free(&b);
	shard_map_free(&back);
	shard_map_free(&m);
}

static void test_many_shards(void **state)
{
	(void)state;
	struct shard_map m;
	fresh(&m);
	char path[64];
	for (int i = 0; i < 500; i++) {
		snprintf(path, sizeof(path), "/root/Z%03d", (i * 7919) % 500);
		split(&m, path);
	}
	for (int i = 0; i < 500; i++) {
		snprintf(path, sizeof(path), "/root/Z%03d/player/%d", i, i);
		const struct shard_entry *e = shard_map_lookup(&m, path);
		assert_non_null(e);
		assert_true(shard_path_within(path, e->path));
		assert_int_equal(strlen(e->path), 10);
	}
	assert_int_equal(group_of(&m, "/root/Z5"), WORLD);
	shard_map_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_lookup_longest_prefix),
		cmocka_unit_test(test_split_validity),
		cmocka_unit_test(test_commands_round_trip),
		cmocka_unit_test(test_map_round_trip),
		cmocka_unit_test(test_many_shards),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
