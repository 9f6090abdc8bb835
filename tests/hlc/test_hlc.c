/* Hybrid logical clocks: unit cases, and a seeded simulation of nodes with skewed physical clocks
 * exchanging messages, checked against vector clocks (happened-before implies a smaller timestamp). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/hlc/hlc.h"

static void test_now_and_update(void **state)
{
	(void)state;
	struct hlc_clock c;
	hlc_init(&c, 500);
	struct hlc_ts t1, t2, t3;
	assert_int_equal(hlc_now(&c, 1000, &t1), GROVE_OK);
	assert_true(t1.wall == 1000 && t1.logical == 0);
	/* Physical time stands still (or goes back): the logical part advances. */
	assert_int_equal(hlc_now(&c, 1000, &t2), GROVE_OK);
	assert_true(t2.wall == 1000 && t2.logical == 1);
	assert_int_equal(hlc_now(&c, 900, &t3), GROVE_OK);
	assert_true(t3.wall == 1000 && t3.logical == 2);
	/* A remote timestamp ahead (within the offset) moves wall forward. */
	struct hlc_ts r = {1300, 7}, t4;
	assert_int_equal(hlc_update(&c, 1100, r, &t4), GROVE_OK);
	assert_true(t4.wall == 1300 && t4.logical == 8);
	/* Too far ahead: refused, clock unchanged. */
	struct hlc_ts far = {2000, 0}, t5;
	assert_int_equal(hlc_update(&c, 1100, far, &t5), GROVE_ERANGE);
	assert_true(c.last.wall == 1300 && c.last.logical == 8);
	/* Physical time overtakes everything: logical resets. */
	assert_int_equal(hlc_update(&c, 5000, r, &t5), GROVE_OK);
	assert_true(t5.wall == 5000 && t5.logical == 0);
	assert_int_equal(hlc_cmp(t4, t5), -1);
	assert_int_equal(hlc_cmp(t5, t4), 1);
	assert_int_equal(hlc_cmp(t5, t5), 0);
	/* The logical counter refuses to wrap. */
	c.last.logical = UINT32_MAX;
	assert_int_equal(hlc_now(&c, 10, &t1), GROVE_ERANGE);
	struct hlc_ts same = {5000, UINT32_MAX};
	assert_int_equal(hlc_update(&c, 10, same, &t1), GROVE_ERANGE);
}

static void test_raise(void **state)
{
	(void)state;
	struct hlc_clock c;
	hlc_init(&c, 500);
	struct hlc_ts t;
	/* A restart with physical time behind the bound: timestamps stay above the bound. */
	hlc_raise(&c, (struct hlc_ts){5000, 0});
	assert_int_equal(hlc_now(&c, 1000, &t), GROVE_OK);
	assert_true(t.wall == 5000 && t.logical == 1);
	/* A lower floor changes nothing. */
	hlc_raise(&c, (struct hlc_ts){4000, 9});
	assert_true(c.last.wall == 5000 && c.last.logical == 1);
	assert_int_equal(hlc_now(&c, 6000, &t), GROVE_OK);
	assert_true(t.wall == 6000 && t.logical == 0);
}

enum { NODES = 4, EVENTS = 4000, MAX_SKEW = 200, MAX_OFFSET = 1000 };

struct event {
	struct hlc_ts ts;
	uint32_t vc[NODES]; /* vector clock: the events each node had seen */
};

static bool happened_before(const struct event *a, const struct event *b)
{
	bool strictly = false;
	for (int i = 0; i < NODES; i++) {
		if (a->vc[i] > b->vc[i])
			return false;
		if (a->vc[i] < b->vc[i])
			strictly = true;
	}
	return strictly;
}

static void run_seed(unsigned seed)
{
	srand(seed);
	struct hlc_clock clocks[NODES];
	int64_t skew[NODES];
	uint32_t vc[NODES][NODES] = {{0}};
	uint32_t max_logical = 0;
	for (int i = 0; i < NODES; i++) {
		hlc_init(&clocks[i], MAX_OFFSET);
		skew[i] = rand() % (2 * MAX_SKEW + 1) - MAX_SKEW;
	}
	struct event *events = calloc(EVENTS, sizeof(*events));
	/* In-flight messages: the index of the send event. */
	int inflight[64];
	int n_inflight = 0;
	uint64_t true_time = 1000000;
	for (int e = 0; e < EVENTS; e++) {
		true_time += (uint64_t)(rand() % 3); /* often no progress: exercises the logical part */
		int node = rand() % NODES;
		uint64_t pt = (uint64_t)((int64_t)true_time + skew[node]);
		struct hlc_ts ts;
		int kind = rand() % 3;
		if (kind == 2 && n_inflight > 0) {
			int k = rand() % n_inflight;
			const struct event *sent = &events[inflight[k]];
			inflight[k] = inflight[--n_inflight];
			assert_int_equal(hlc_update(&clocks[node], pt, sent->ts, &ts), GROVE_OK);
			for (int i = 0; i < NODES; i++)
				if (sent->vc[i] > vc[node][i])
					vc[node][i] = sent->vc[i];
		} else {
			assert_int_equal(hlc_now(&clocks[node], pt, &ts), GROVE_OK);
			if (kind != 0 && n_inflight < 64)
				inflight[n_inflight++] = e;
		}
		vc[node][node]++;
		events[e].ts = ts;
		memcpy(events[e].vc, vc[node], sizeof(vc[node]));
		/* Bounded drift: wall never runs ahead of this node's physical time by more than the skew spread. */
		assert_true(ts.wall >= pt);
		assert_true(ts.wall - pt <= 2 * MAX_SKEW + 2);
		if (ts.logical > max_logical)
			max_logical = ts.logical;
	}
	/* Causality over every pair (quadratic, bounded by EVENTS). */
	for (int a = 0; a < EVENTS; a++)
		for (int b = a + 1; b < EVENTS; b++) {
			if (happened_before(&events[a], &events[b]) && hlc_cmp(events[a].ts, events[b].ts) >= 0) {
				printf("hlc causality violated: seed=%u events %d -> %d\n", seed, a, b);
				fail();
			}
		}
	/* The logical counter stays small: bounded by events within one skew window. */
	assert_true(max_logical < EVENTS);
	free(events);
}

static void test_simulation(void **state)
{
	(void)state;
	unsigned first = 1, count = 20;
	const char *one = getenv("GROVE_HLC_SEED");
	if (one) {
		first = (unsigned)strtoul(one, NULL, 10);
		count = 1;
	}
	for (unsigned s = first; s < first + count; s++)
		run_seed(s);
	printf("hlc simulation: %u seeds of %d events on %d nodes\n", count, EVENTS, NODES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_now_and_update),
		cmocka_unit_test(test_raise),
		cmocka_unit_test(test_simulation),
	};
	return cmocka_run_group_tests_name("hlc", tests, NULL, NULL);
}
