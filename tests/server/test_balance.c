#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "src/server/balance.h"

static const uint64_t members[] = {1, 2, 3};

/* @p n groups, group i + 1 led by leaders[i], every member a voter. */
static void groups_led(struct balance_group *g, const uint64_t *leaders, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g[i] = (struct balance_group){i + 1, leaders[i], members, 3, true};
}

static void test_gives_to_the_fewest(void **state)
{
	(void)state;
	struct balance_group g[3];
	uint64_t group, to;
	groups_led(g, (const uint64_t[]){1, 1, 1}, 3);
	assert_true(balance_pick(1, members, 3, g, 3, &group, &to));
	assert_int_equal(group, 3); /* the highest id */
	assert_int_equal(to, 2);    /* the lowest id among those that lead none */
	assert_false(balance_pick(2, members, 3, g, 3, &group, &to)); /* only a leader gives */

	groups_led(g, (const uint64_t[]){1, 2, 1}, 3);
	assert_true(balance_pick(1, members, 3, g, 3, &group, &to));
	assert_int_equal(group, 3);
	assert_int_equal(to, 3);

	groups_led(g, (const uint64_t[]){1, 2, 3}, 3);
	assert_false(balance_pick(1, members, 3, g, 3, &group, &to)); /* even */
	struct balance_group four[4];
	groups_led(four, (const uint64_t[]){1, 1, 2, 3}, 4);
	assert_false(balance_pick(1, members, 3, four, 4, &group, &to)); /* one apart: as even as four groups get */
}

static void test_waits_and_skips(void **state)
{
	(void)state;
	struct balance_group g[4];
	uint64_t group, to;
	groups_led(g, (const uint64_t[]){1, 1, 1, 0}, 4);
	assert_false(balance_pick(1, members, 3, g, 4, &group, &to)); /* an election is on: counts are not settled */

	groups_led(g, (const uint64_t[]){1, 1, 1, 1}, 4);
	g[3].movable = false;
	assert_true(balance_pick(1, members, 3, g, 4, &group, &to));
	assert_int_equal(group, 3);
	static const uint64_t without_two[] = {1, 3};
	g[2].voters = without_two;
	g[2].n_voters = 2;
	assert_true(balance_pick(1, members, 3, g, 4, &group, &to));
	assert_int_equal(group, 2); /* member 2 may not lead group 3 */
	for (int i = 0; i < 4; i++)
		g[i].movable = false;
	assert_false(balance_pick(1, members, 3, g, 4, &group, &to));
}

/*
 * Seeded: 66 groups led at random by 3 members; the members take turns, each handing over what it picks: the
 * spread reaches one group within a bounded number of hand-overs, and every hand-over narrows it.
 */
static void test_settles_within_one(void **state)
{
	(void)state;
	enum { GROUPS = 66 };
	for (unsigned seed = 1; seed <= 200; seed++) {
		srand(seed);
		uint64_t leaders[GROUPS];
		struct balance_group g[GROUPS];
		for (int i = 0; i < GROUPS; i++)
			leaders[i] = 1 + (uint64_t)(rand() % (seed % 4 == 0 ? 1 : 3)); /* a quarter: all on member 1 */
		groups_led(g, leaders, GROUPS);
		int moves = 0;
		for (bool moved = true; moved;) {
			moved = false;
			for (size_t m = 0; m < 3; m++) {
				uint64_t group, to;
				if (!balance_pick(members[m], members, 3, g, GROUPS, &group, &to))
					continue;
				assert_int_equal(g[group - 1].leader, members[m]);
				g[group - 1].leader = to;
				moved = true;
				moves++;
				assert_true(moves <= GROUPS);
			}
		}
		size_t count[4] = {0};
		for (int i = 0; i < GROUPS; i++)
			count[g[i].leader]++;
		size_t lo = count[1], hi = count[1];
		for (int m = 2; m <= 3; m++) {
			lo = count[m] < lo ? count[m] : lo;
			hi = count[m] > hi ? count[m] : hi;
		}
		assert_true(hi - lo <= 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gives_to_the_fewest),
		cmocka_unit_test(test_waits_and_skips),
		cmocka_unit_test(test_settles_within_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
