/* Hybrid logical clocks on a real 3-member cluster (GROVE_TEST_CLOCK_OFFSET_MS skews one member's physical
 * clock): a member within the maximum offset works and its offset shows in status; one beyond it has its frames
 * refused and logged while the others go on; a restart with the clock set back keeps the clock monotonic; and
 * the stamps of the entries in every member's log grow with their index, across a change of leader. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cluster.h"
#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/hlc/hlc.h"
#include "src/net/client.h"
#include "src/raft/raft.h"
#include "src/server/entrystamp.h"
#include "storage/wal.h"
#include "support.h"

#define SKEWED 3

/* Restart member @p node with its physical clock shifted by @p shift_ms. */
static void restart_shifted(struct cluster *c, int node, long shift_ms)
{
	char shift[32];
	snprintf(shift, sizeof(shift), "%ld", shift_ms);
	cluster_node_signal(c, node, SIGTERM);
	setenv("GROVE_TEST_CLOCK_OFFSET_MS", shift, 1);
	cluster_node_start(c, node);
	unsetenv("GROVE_TEST_CLOCK_OFFSET_MS");
}

/* @p n writes through the leader (retried across a change of leader, at most 20 s in all). */
static void write_through_leader(struct cluster *c, const char *prop, int n)
{
	for (int i = 0, tries = 0; i < n; tries++) {
		assert_true(tries < 200);
		char address[32];
		cluster_address(c, cluster_wait_leader(c), address, sizeof(address));
		struct grove_client *client;
		if (grove_client_connect(address, NULL, 5000, &client, NULL, 0) != GROVE_OK) {
			usleep(100000);
			continue;
		}
		while (i < n && client_set_int(client, "/root", prop, i) == 0)
			i++;
		grove_client_close(client);
		if (i < n)
			usleep(100000);
	}
}

/* Member @p node's status (free *holder after). */
static Grove__StatusReply *status_of(struct cluster *c, int node, Grove__Envelope **holder)
{
	char address[32];
	cluster_address(c, node, address, sizeof(address));
	Grove__StatusReply *s = client_status(address, 5000, holder);
	assert_non_null(s);
	return s;
}

static const Grove__PeerClock *peer_clock(const Grove__StatusReply *s, uint64_t id)
{
	for (size_t i = 0; i < s->n_peer_clocks; i++)
		if (s->peer_clocks[i]->id == id)
			return s->peer_clocks[i];
	return NULL;
}

/* Lines of member @p node's log that contain both @p a and @p b. */
static int log_lines(struct cluster *c, int node, const char *a, const char *b)
{
	char path[4096], line[1024];
	snprintf(path, sizeof(path), "%s/node%d.log", c->dir, node);
	FILE *f = fopen(path, "r");
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, a) && strstr(line, b);
	if (f)
		fclose(f);
	return n;
}

static void test_skew_within_max_offset(void **state)
{
	(void)state;
	struct cluster c;
	cluster_start(&c, NULL);
	cluster_wait_leader(&c);
	restart_shifted(&c, SKEWED, 200);
	write_through_leader(&c, "within", 20);
	cluster_wait_converged(&c);
	/* Member 1 measured member 3 about 200 ms ahead (less the network delay), and refused nothing. */
	const Grove__PeerClock *pc = NULL;
	Grove__Envelope *holder = NULL;
	for (int t = 0; t < 50 && !(pc && pc->measured); t++) {
		if (holder)
			grove__envelope__free_unpacked(holder, NULL);
		pc = peer_clock(status_of(&c, 1, &holder), SKEWED);
		if (!(pc && pc->measured))
			usleep(100000);
	}
	assert_non_null(pc);
	assert_true(pc->measured);
	print_message("member 1 measures member 3 at %+.1f ms, %llu frames refused\n", (double)pc->offset_ns / 1e6,
		      (unsigned long long)pc->refused_frames);
	assert_true(pc->offset_ns > 100 * 1000000ll && pc->offset_ns < 450 * 1000000ll);
	assert_int_equal(pc->refused_frames, 0);
	grove__envelope__free_unpacked(holder, NULL);
	for (int node = 1; node <= CLUSTER_NODES; node++)
		assert_int_equal(log_lines(&c, node, "clock: refused", "peer"), 0);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

static void test_skew_beyond_max_offset_is_refused(void **state)
{
	(void)state;
	static const char *const args[] = {"--max-clock-offset", "500", NULL};
	struct cluster c;
	cluster_start(&c, args);
	cluster_wait_leader(&c);
	time_t started = time(NULL);
	restart_shifted(&c, SKEWED, 3000);
	/* The two others go on without it: it can neither lead nor acknowledge. */
	write_through_leader(&c, "beyond", 20);
	int leader = cluster_wait_leader(&c);
	assert_int_not_equal(leader, SKEWED);
	usleep(1500000);
	uint64_t refused = 0;
	for (int node = 1; node <= CLUSTER_NODES; node++) {
		if (node == SKEWED)
			continue;
		Grove__Envelope *holder;
		const Grove__PeerClock *pc = peer_clock(status_of(&c, node, &holder), SKEWED);
		assert_non_null(pc);
		print_message("member %d measures member 3 at %+.1f ms, %llu frames refused\n", node,
			      (double)pc->offset_ns / 1e6, (unsigned long long)pc->refused_frames);
		assert_true(pc->offset_ns > 2500 * 1000000ll);
		refused += pc->refused_frames;
		grove__envelope__free_unpacked(holder, NULL);
		/* Logged, naming the peer, and at most about once a second. */
		int lines = log_lines(&c, node, "clock: refused", "of peer 3:");
		long seconds = (long)(time(NULL) - started);
		print_message("member %d logged %d refusals in %ld s\n", node, lines, seconds);
		assert_true(lines >= 1 && lines <= seconds + 2);
	}
	assert_true(refused > 0);
	/* Member 3 refuses nothing: the others' clocks are behind its own. */
	assert_int_equal(log_lines(&c, SKEWED, "clock: refused", "peer"), 0);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

static void test_restart_with_clock_set_back_stays_monotonic(void **state)
{
	(void)state;
	struct cluster c;
	cluster_start(&c, NULL);
	cluster_wait_leader(&c);
	write_through_leader(&c, "before", 5);
	Grove__Envelope *holder;
	Grove__StatusReply *s = status_of(&c, 1, &holder);
	struct hlc_ts before = {s->hlc_wall, s->hlc_logical};
	grove__envelope__free_unpacked(holder, NULL);
	cluster_stop(&c);
	/* Alone (no peer's clock to catch up from), three seconds behind. */
	setenv("GROVE_TEST_CLOCK_OFFSET_MS", "-3000", 1);
	cluster_node_start(&c, 1);
	unsetenv("GROVE_TEST_CLOCK_OFFSET_MS");
	s = status_of(&c, 1, &holder);
	struct hlc_ts after = {s->hlc_wall, s->hlc_logical};
	grove__envelope__free_unpacked(holder, NULL);
	print_message("before the restart %llu.%u, after it %llu.%u\n", (unsigned long long)before.wall, before.logical,
		      (unsigned long long)after.wall, after.logical);
	assert_int_equal(hlc_cmp(before, after), -1);
	assert_int_equal(log_lines(&c, 1, "clock: starting", "ahead of physical time"), 1);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/*
 * The stamps of group @p group's entries in member @p node's log: strictly increasing with the index, and on
 * every entry (commands, new leaders' no-ops, membership changes) but the founders' membership entries, which
 * every founder writes alike when the group is created.
 */
static size_t check_log_stamps(struct cluster *c, int node, uint64_t group)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/node%d/raft-log", c->dir, node);
	struct wal *w;
	struct wal_contents log = {0};
	assert_int_equal(wal_open(&w, dir, &log), GROVE_OK);
	const struct wal_group *g = wal_contents_group(&log, group);
	assert_non_null(g);
	struct hlc_ts last = {0, 0};
	size_t stamped = 0;
	for (size_t i = 0; i < g->n_entries; i++) {
		struct hlc_ts ts;
		const uint8_t *command;
		size_t len;
		const struct wal_entry *e = &g->entries[i];
		bool founder = e->term == 1 && e->type == RAFT_ENTRY_CONF_CHANGE && e->index <= CLUSTER_NODES;
		const uint8_t *data = e->data;
		bool stamped_entry = e->type == RAFT_ENTRY_CONF_CHANGE
					     ? e->len > 9 && entry_stamp_read(data + 9, e->len - 9, &ts, &command, &len)
					     : entry_stamp_read(data, e->len, &ts, &command, &len);
		if (founder)
			continue;
		if (!stamped_entry)
			fail_msg("member %d, group %llu: entry %llu (%s, %zu bytes) carries no stamp", node,
				 (unsigned long long)group, (unsigned long long)e->index,
				 e->type == RAFT_ENTRY_CONF_CHANGE ? "membership" : "normal", e->len);
		if (hlc_cmp(last, ts) >= 0)
			fail_msg("member %d, group %llu: entry %llu is stamped %llu.%u, not after %llu.%u", node,
				 (unsigned long long)group, (unsigned long long)g->entries[i].index,
				 (unsigned long long)ts.wall, ts.logical, (unsigned long long)last.wall, last.logical);
		last = ts;
		stamped++;
	}
	wal_contents_free(&log);
	wal_close(w);
	return stamped;
}

static void test_entry_stamps_grow_with_index(void **state)
{
	(void)state;
	struct cluster c;
	cluster_start(&c, NULL);
	int first = cluster_wait_leader(&c);
	write_through_leader(&c, "first", 15);
	/* Another leader's entries come after the first's: it merged their stamps when it applied them. */
	int next = first % CLUSTER_NODES + 1;
	char id[8], address[32];
	snprintf(id, sizeof(id), "%d", next);
	cluster_address(&c, first, address, sizeof(address));
	struct cli_result r;
	cli_run_at(address, &r, "cluster", "transfer-leader", id, NULL);
	for (int t = 0; t < 100 && cluster_wait_leader(&c) == first; t++)
		usleep(100000);
	print_message("leader %d, then %d\n", first, cluster_wait_leader(&c));
	write_through_leader(&c, "second", 15);
	/* A membership change: a learner that never shows up (it does not count towards any quorum). */
	cluster_address(&c, cluster_wait_leader(&c), address, sizeof(address));
	cli_run_at(address, &r, "cluster", "add", "9", "127.0.0.1:1", NULL);
	assert_int_equal(r.status, 0);
	write_through_leader(&c, "third", 5);
	cluster_wait_converged(&c);
	cluster_stop(&c);
	for (int node = 1; node <= CLUSTER_NODES; node++) {
		size_t stamped = check_log_stamps(&c, node, 1);
		print_message("member %d: %zu stamped entries in order\n", node, stamped);
		assert_true(stamped >= 35);
	}
	test_rmtree(c.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_skew_within_max_offset),
		cmocka_unit_test(test_skew_beyond_max_offset_is_refused),
		cmocka_unit_test(test_restart_with_clock_set_back_stays_monotonic),
		cmocka_unit_test(test_entry_stamps_grow_with_index),
	};
	return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
