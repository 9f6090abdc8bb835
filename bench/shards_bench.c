/*
 * Throughput with 1, 8 and 64 shards on a durable 3-member groved cluster on 127.0.0.1, and the log's
 * fsyncs per second: one write-ahead log per server serves every group, so they should stay near one per
 * event-loop turn, not one per group.
 *
 * For each shard count N: a fresh cluster, zones /root/Z0 .. /root/Z(N-1) each split into a shard of its
 * own, then C client threads (default 16) for D seconds (default 5), client i setting a property of a node
 * in zone i % N, one write after the other (each client follows its zone's leader). Prints writes/s, the
 * latency p50/p99, the log flushes (fdatasync) per second summed over the three members (from their
 * status), and how many writes one flush made durable (every member flushes every write). Not a test: it
 * prints figures.
 *
 * With --cross every write is a transaction across two shards: client i sets the property in zones 2i % N
 * and (2i + 1) % N in one batch, so that clients whose pairs differ never touch the same shard; a write
 * the server refuses (a shard held too long) is counted and the client goes on. The clients set one node
 * per zone, /root/Zk/N; with --own-nodes client i sets /root/Zk/Ni, so that transactions of clients that
 * share a pair of shards set different nodes there (their parts commute: they hold the shards at once).
 * With --opposed the odd clients name their pair's zones the other way round: the first op's shard leads a
 * transaction, so two clients' transactions over one pair are coordinated by two members, and each may
 * hold the shard the other needs (the older pushes the younger out, xshard.h).
 *
 * Leaders: by default the members spread the groups' leaderships evenly by themselves (balance.h); the run
 * waits (at most 60 s) until they are within one group of even before it writes. --leaders elected starts
 * the members with --no-leader-balance, so each group stays with the member its election chose; --leaders
 * both runs each shard count that way and then balanced, on fresh clusters, one after the other. The
 * "leaders" column says how many groups each member led when the writes began.
 *
 * With --snapshots N each shard count runs twice on its cluster, one window after the other: without
 * snapshots, then with N `snapshot save`s spread over the window (a world with shards is saved through a
 * cut, cut.h, whose transaction holds every shard for a round): the "saves" column gives their duration
 * p50/max (ms), and the two rows' latencies what the saves cost the writes.
 *
 * With --movers M (2 shards or more) each shard count also runs twice on its cluster: without, then with M
 * more clients that each move a node of their own (/root/Zj/Mj) back and forth between zones 2j % N and
 * (2j + 1) % N, one move after the other: transactions across two shards whose intents hold those shards
 * while the writers set properties of other nodes there. The "moves" column gives the moves per second and
 * their p50 (us), and the two rows' latencies what the moves cost the writes beside them.
 *
 * With --plain P, P more clients, connected to the members in turn, each set alone the node of one zone that
 * the others set (client j: /root/Z(2j % N)/N), one plain single-shard write after the other: with --cross,
 * beside transactions that hold that node's shard. A line after the row gives their writes/s, p50, p99 and
 * slowest write, and how many were refused (a plain write that meets a transaction's part waits for it).
 *
 * Usage: grove_bench_shards [--shards 1,8,64] [--clients C] [--seconds D] [--cross] [--own-nodes] [--opposed]
 *                           [--leaders balanced|elected|both] [--snapshots N] [--movers M] [--plain P]
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/tree/tree.h"
#include "clusters.h"
#include "harness.h"
#include "stats.h"
#include "support.h"

#define MAX_COUNTS 8

/* Each client sets nodes of its own (--own-nodes), not the zones' one. */
static bool own_nodes;
/* Odd clients name their two zones the other way round (--opposed). */
static bool opposed;
/* Writers of single-shard writes to the nodes the other clients' transactions set (--plain P). */
static int plain_writers;

struct writer {
	const char *address;  /* where it connects first */
	char node[2][64];     /* the nodes it sets a property of (the second only with --cross) */
	size_t n_nodes;
	uint64_t deadline;
	uint64_t *lat;
	size_t n, cap;
	size_t refused;       /* writes answered with an error */
	uint64_t retried;     /* writes the client sent again (a transaction held what they needed) */
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	struct grove_client *c;
	if (grove_client_connect(w->address, NULL, 10000, &c, NULL, 0))
		return NULL;
	struct variant value = {0};
	for (int i = 0; now_ns() < w->deadline && w->n < w->cap; i++) {
		variant_set_int(&value, i);
		struct tree_op ops[2];
		for (size_t k = 0; k < w->n_nodes; k++)
			ops[k] = (struct tree_op){.kind = TREE_OP_SET_PROP, .node = {.path = w->node[k]}, .name = "hp",
						  .value = &value};
		uint64_t ns;
		int code = client_write_ops_timed(c, ops, w->n_nodes, &ns);
		if (code < 0)
			break;
		if (code > 0)
			w->refused++;
		else
			w->lat[w->n++] = ns;
	}
	w->retried = grove_client_moved_retries(c);
	grove_client_close(c);
	return NULL;
}

/* What a mover does: move its node between two zones, one move after the other, until the deadline. */
struct mover {
	const char *address;
	char zone[2][32];     /* /root/Za, /root/Zb */
	char name[16];        /* its node's name */
	uint64_t deadline;
	uint64_t lat[1 << 16];
	size_t n;
	size_t refused;
};

static void *move_loop(void *arg)
{
	struct mover *m = arg;
	struct grove_client *c;
	if (grove_client_connect(m->address, NULL, 10000, &c, NULL, 0))
		return NULL;
	int at = 0;
	while (now_ns() < m->deadline && m->n < sizeof(m->lat) / sizeof(m->lat[0])) {
		char from[64];
		snprintf(from, sizeof(from), "%s/%s", m->zone[at], m->name);
		struct tree_op op = {.kind = TREE_OP_MOVE, .node = {.path = from}, .target = {.path = m->zone[!at]},
				     .index = -1};
		uint64_t ns;
		int code = client_write_ops_timed(c, &op, 1, &ns);
		if (code < 0)
			break;
		if (code > 0) {
			m->refused++;
		} else {
			m->lat[m->n++] = ns;
			at = !at;
		}
	}
	grove_client_close(c);
	return NULL;
}

/* Log flushes of member @p address so far (0 if it does not answer). */
static uint64_t flushes(const char *address)
{
	Grove__Envelope *holder;
	Grove__StatusReply *st = client_status(address, 5000, &holder);
	uint64_t n = st ? st->group_commits : 0;
	if (holder)
		grove__envelope__free_unpacked(holder, NULL);
	return n;
}

static uint64_t all_flushes(const struct grove_cluster *cl)
{
	uint64_t n = 0;
	for (int m = 0; m < CLUSTER_MEMBERS; m++)
		n += flushes(cl->addresses[m]);
	return n;
}

/*
 * How many groups each member leads as the member @p cl talks to sees it ("a/b/c" in @p out); false while a
 * group has no leader. @p spread gets the most minus the fewest.
 */
static bool leader_counts(struct grove_client *cl, char *out, size_t cap, size_t *spread)
{
	Grove__Envelope *holder;
	Grove__ShardReply *sr = client_shard_list(cl, &holder);
	size_t count[CLUSTER_MEMBERS + 1] = {0};
	bool all_led = sr != NULL;
	for (size_t i = 0; sr && i < sr->n_shards; i++) {
		uint64_t leader = sr->shards[i]->leader_id;
		all_led = all_led && leader >= 1 && leader <= CLUSTER_MEMBERS;
		if (leader >= 1 && leader <= CLUSTER_MEMBERS)
			count[leader]++;
	}
	if (holder)
		grove__envelope__free_unpacked(holder, NULL);
	size_t most = 0, fewest = SIZE_MAX;
	int n = 0;
	for (int m = 1; m <= CLUSTER_MEMBERS; m++) {
		most = count[m] > most ? count[m] : most;
		fewest = count[m] < fewest ? count[m] : fewest;
		n += snprintf(out + n, cap - (size_t)n, "%s%zu", m > 1 ? "/" : "", count[m]);
	}
	*spread = most - fewest;
	return all_led;
}

/* What a saver does: @p n snapshots, the first at once and the others spread until @p deadline. */
struct saver {
	const char *address;
	int n;
	uint64_t deadline;
	uint64_t ms[256];     /* each save's duration */
	int done;
	int failed;
};

/* Save a snapshot of the world through @p c, fetched whole in chunks; its code. */
static int save_snapshot(struct grove_client *c)
{
	uint64_t offset = 0, total = 0;
	do {
		Grove__SnapshotSaveRequest rq = GROVE__SNAPSHOT_SAVE_REQUEST__INIT;
		rq.offset = offset;
		Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
		env.body_case = GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE;
		env.snapshot_save = &rq;
		if (grove_client_call(c, &env, &reply) != GROVE_OK)
			return -1;
		int code = reply->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE_REPLY ? (int)reply->snapshot_save_reply->code
											: -1;
		if (!code) {
			offset += reply->snapshot_save_reply->chunk.len;
			total = reply->snapshot_save_reply->total;
			code = reply->snapshot_save_reply->chunk.len ? 0 : -1;
		}
		grove__envelope__free_unpacked(reply, NULL);
		if (code)
			return code;
	} while (offset < total);
	return 0;
}

static void *save_loop(void *arg)
{
	struct saver *sv = arg;
	struct grove_client *c;
	if (grove_client_connect(sv->address, NULL, 10000, &c, NULL, 0))
		return NULL;
	uint64_t start = now_ns(), every = (sv->deadline - start) / (uint64_t)(sv->n + 1);
	for (int i = 0; i < sv->n && now_ns() < sv->deadline; i++) {
		while (now_ns() < start + (uint64_t)i * every)
			usleep(1000);
		uint64_t t0 = now_ns();
		if (save_snapshot(c))
			sv->failed++;
		else
			sv->ms[sv->done++] = (now_ns() - t0) / 1000000;
	}
	grove_client_close(c);
	return NULL;
}

/*
 * One window of writes (and @p saves snapshots) on @p cluster: prints its row. @p leaders says how many groups
 * each member led.
 */
static void window(struct grove_cluster *cluster, int leader, int shards, int clients, double seconds, bool cross,
		   bool balanced, const char *leaders, int saves, int movers)
{
	struct writer *w = calloc((size_t)clients, sizeof(*w));
	pthread_t *th = calloc((size_t)clients, sizeof(*th));
	uint64_t flushes_before = all_flushes(cluster);
	uint64_t start = now_ns();
	for (int i = 0; i < clients; i++) {
		w[i] = (struct writer){.address = cluster->addresses[leader], .deadline = start + (uint64_t)(seconds * 1e9),
				       .cap = 2000000};
		w[i].n_nodes = cross && shards > 1 ? 2 : 1;
		for (size_t k = 0; k < w[i].n_nodes; k++) {
			int second = opposed && i % 2 ? 1 - (int)k : (int)k;
			snprintf(w[i].node[k], sizeof(w[i].node[k]), own_nodes ? "/root/Z%d/N%d" : "/root/Z%d/N",
				 w[i].n_nodes == 2 ? (2 * i + second) % shards : i % shards, i);
		}
		w[i].lat = calloc(w[i].cap, sizeof(uint64_t));
		pthread_create(&th[i], NULL, write_loop, &w[i]);
	}
	struct saver sv = {.address = cluster->addresses[(leader + 1) % CLUSTER_MEMBERS], .n = saves,
			   .deadline = start + (uint64_t)(seconds * 1e9)};
	pthread_t saver;
	if (saves)
		pthread_create(&saver, NULL, save_loop, &sv);
	struct mover *mv = calloc((size_t)movers + 1, sizeof(*mv));
	pthread_t *mth = calloc((size_t)movers + 1, sizeof(*mth));
	for (int j = 0; j < movers; j++) {
		mv[j] = (struct mover){.address = cluster->addresses[leader], .deadline = start + (uint64_t)(seconds * 1e9)};
		for (int k = 0; k < 2; k++)
			snprintf(mv[j].zone[k], sizeof(mv[j].zone[k]), "/root/Z%d", (2 * j + k) % shards);
		snprintf(mv[j].name, sizeof(mv[j].name), "M%d", j);
		pthread_create(&mth[j], NULL, move_loop, &mv[j]);
	}
	struct writer *pw = calloc((size_t)plain_writers + 1, sizeof(*pw));
	pthread_t *pth = calloc((size_t)plain_writers + 1, sizeof(*pth));
	for (int j = 0; j < plain_writers; j++) {
		pw[j] = (struct writer){.address = cluster->addresses[(leader + 1 + j) % CLUSTER_MEMBERS],
					.deadline = start + (uint64_t)(seconds * 1e9), .cap = 2000000, .n_nodes = 1};
		snprintf(pw[j].node[0], sizeof(pw[j].node[0]), "/root/Z%d/N", (2 * j) % shards);
		pw[j].lat = calloc(pw[j].cap, sizeof(uint64_t));
		pthread_create(&pth[j], NULL, write_loop, &pw[j]);
	}
	size_t total = 0, refused = 0;
	uint64_t retried = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		total += w[i].n;
		refused += w[i].refused;
		retried += w[i].retried;
	}
	if (saves)
		pthread_join(saver, NULL);
	size_t moves = 0, moves_refused = 0;
	for (int j = 0; j < movers; j++) {
		pthread_join(mth[j], NULL);
		moves += mv[j].n;
		moves_refused += mv[j].refused;
	}
	size_t plain = 0, plain_refused = 0;
	for (int j = 0; j < plain_writers; j++) {
		pthread_join(pth[j], NULL);
		plain += pw[j].n;
		plain_refused += pw[j].refused;
	}
	uint64_t *plain_lat = calloc(plain + 1, sizeof(*plain_lat));
	for (int j = 0, k = 0; j < plain_writers; k += (int)pw[j].n, j++) {
		memcpy(plain_lat + k, pw[j].lat, pw[j].n * sizeof(uint64_t));
		free(pw[j].lat);
	}
	qsort(plain_lat, plain, sizeof(*plain_lat), cmp_u64);
	uint64_t *move_lat = calloc(moves + 1, sizeof(*move_lat));
	for (int j = 0, k = 0; j < movers; k += (int)mv[j].n, j++)
		memcpy(move_lat + k, mv[j].lat, mv[j].n * sizeof(uint64_t));
	qsort(move_lat, moves, sizeof(*move_lat), cmp_u64);
	double elapsed = (double)(now_ns() - start) / 1e9;
	uint64_t fsyncs = all_flushes(cluster) - flushes_before;
	uint64_t *all = calloc(total + 1, sizeof(*all));
	for (int i = 0, k = 0; i < clients; k += (int)w[i].n, i++) {
		memcpy(all + k, w[i].lat, w[i].n * sizeof(uint64_t));
		free(w[i].lat);
	}
	qsort(all, total, sizeof(*all), cmp_u64);
	char saved[48] = "-";
	if (sv.done) {
		qsort(sv.ms, (size_t)sv.done, sizeof(sv.ms[0]), cmp_u64);
		snprintf(saved, sizeof(saved), "%d: %llu/%llu%s", sv.done, (unsigned long long)sv.ms[(sv.done - 1) / 2],
			 (unsigned long long)sv.ms[sv.done - 1], sv.failed ? " (some failed)" : "");
	}
	char moved[96] = "-";
	if (movers)
		snprintf(moved, sizeof(moved), "%d: %.0f/s %.0f us%s; writes sent again %llu", movers,
			 (double)moves / elapsed, pct(move_lat, moves, 0.5), moves_refused ? " (some refused)" : "",
			 (unsigned long long)retried);
	else if (cross)
		snprintf(moved, sizeof(moved), "max %.0f us; writes sent again %llu", pct(all, total, 1.0),
			 (unsigned long long)retried);
	printf("%6d %8d %10.0f %10.0f %10.0f %12.0f %12.1f %8zu %9s %-9s %-18s %s\n", shards, clients,
	       (double)total / elapsed, pct(all, total, 0.5), pct(all, total, 0.99), (double)fsyncs / elapsed,
	       fsyncs ? (double)total * CLUSTER_MEMBERS / (double)fsyncs : 0.0, refused, leaders,
	       balanced ? "balanced" : "elected", saved, moved);
	if (plain_writers)
		printf("%6s plain writes beside them, %d clients: %.0f/s, p50 %.0f us, p99 %.0f us, slowest %.0f us, "
		       "refused %zu\n", "", plain_writers, (double)plain / elapsed, pct(plain_lat, plain, 0.5),
		       pct(plain_lat, plain, 0.99), pct(plain_lat, plain, 1.0), plain_refused);
	free(plain_lat);
	free(pw);
	free(pth);
	free(move_lat);
	free(mv);
	free(mth);
	free(all);
	free(w);
	free(th);
}

/* One shard count on a fresh cluster, its leaders balanced or as elected; 0 on success. */
static int run(const char *dir, int shards, int clients, double seconds, bool cross, bool balanced, int saves,
	       int movers)
{
	char tag[32];
	snprintf(tag, sizeof(tag), "shards%d%s", shards, balanced ? "b" : "e");
	struct grove_cluster cluster;
	static const char *const elected[] = {"--no-leader-balance", NULL};
	grove_cluster_init(&cluster, dir, tag, balanced ? NULL : elected);
	int leader;
	struct grove_client *c = grove_cluster_start_connected(&cluster, &leader);
	if (!c)
		return 1;
	int err = 0;
	for (int z = 0; !err && z < shards; z++) {
		char zone[32], node[32];
		snprintf(zone, sizeof(zone), "Z%d", z);
		snprintf(node, sizeof(node), "/root/Z%d", z);
		struct tree_op ops[] = {{.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = zone, .text = "Node3D",
					 .index = -1},
					{.kind = TREE_OP_CREATE, .node = {.path = node}, .name = "N", .text = "Node3D",
					 .index = -1}};
		err = client_write_ops(c, ops, 2) ? 1 : 0;
		for (int i = 0; !err && own_nodes && i < clients; i++) {
			char name[16];
			snprintf(name, sizeof(name), "N%d", i);
			struct tree_op own = {.kind = TREE_OP_CREATE, .node = {.path = node}, .name = name, .text = "Node3D",
					      .index = -1};
			err = client_write_ops(c, &own, 1) ? 1 : 0;
		}
		err = err || !grove_shard_split(c, node) ? 1 : 0;
	}
	for (int j = 0; !err && j < movers; j++) {
		char zone[32], name[16];
		snprintf(zone, sizeof(zone), "/root/Z%d", (2 * j) % shards);
		snprintf(name, sizeof(name), "M%d", j);
		struct tree_op op = {.kind = TREE_OP_CREATE, .node = {.path = zone}, .name = name, .text = "Node3D",
				     .index = -1};
		err = client_write_ops(c, &op, 1) ? 1 : 0;
	}
	char leaders[64] = "?";
	size_t spread = 0;
	for (int t = 0; !err && t < 600; t++) {
		if (leader_counts(c, leaders, sizeof(leaders), &spread) && (!balanced || spread <= 1))
			break;
		usleep(100000);
	}
	grove_client_close(c);
	if (err) {
		fprintf(stderr, "%s: cannot make the shards\n", tag);
		grove_cluster_stop(&cluster);
		return 1;
	}
	window(&cluster, leader, shards, clients, seconds, cross, balanced, leaders, 0, 0);
	if (saves)
		window(&cluster, leader, shards, clients, seconds, cross, balanced, leaders, saves, 0);
	if (movers)
		window(&cluster, leader, shards, clients, seconds, cross, balanced, leaders, 0, movers);
	grove_cluster_stop(&cluster);
	return 0;
}

int main(int argc, char **argv)
{
	int counts[MAX_COUNTS] = {1, 8, 64}, n_counts = 3, clients = 16, saves = 0, movers = 0;
	double seconds = 5;
	bool cross = false, elected = false, balanced = true;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--shards") == 0 && i + 1 < argc) {
			n_counts = parse_int_list(argv[++i], 1, 256, counts, MAX_COUNTS);
		} else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
			clients = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (strcmp(argv[i], "--snapshots") == 0 && i + 1 < argc) {
			saves = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--movers") == 0 && i + 1 < argc) {
			movers = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--cross") == 0) {
			cross = true;
		} else if (strcmp(argv[i], "--own-nodes") == 0) {
			own_nodes = true;
		} else if (strcmp(argv[i], "--opposed") == 0) {
			opposed = true;
		} else if (strcmp(argv[i], "--plain") == 0 && i + 1 < argc) {
			plain_writers = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--leaders") == 0 && i + 1 < argc) {
			const char *how = argv[++i];
			elected = strcmp(how, "elected") == 0 || strcmp(how, "both") == 0;
			balanced = strcmp(how, "balanced") == 0 || strcmp(how, "both") == 0;
			if (!elected && !balanced)
				n_counts = -1;
		} else {
			n_counts = -1;
			break;
		}
	}
	for (int i = 0; movers && i < n_counts; i++)
		if (counts[i] < 2)
			movers = -1; /* a move across shards needs two */
	if (n_counts <= 0 || clients < 1 || clients > 1024 || seconds <= 0 || saves < 0 || saves > 256 || movers < 0 ||
	    movers > 256 || plain_writers < 0 || plain_writers > 256) {
		fprintf(stderr, "usage: %s [--shards 1,8,64] [--clients C] [--seconds D] [--cross] [--own-nodes] [--opposed]\n"
				"          [--leaders balanced|elected|both] [--snapshots N] [--movers M (2 shards or more)]\n"
				"          [--plain P]\n",
			argv[0]);
		return 2;
	}
	char *dir = test_tmpdir("bench-shards");
	printf("grove, durable, 3 members on 127.0.0.1, %d clients for %.0f s per shard count%s\n", clients, seconds,
	       cross ? ", every write across two shards" : "");
	printf("%6s %8s %10s %10s %10s %12s %12s %8s %9s %-9s %-18s %s\n", "shards", "clients", "writes/s", "p50 us",
	       "p99 us", "fsyncs/s", "writes/fsync", "refused", "leaders", "", "saves p50/max ms", "movers: moves p50");
	int err = 0;
	for (int i = 0; !err && i < n_counts; i++) {
		if (elected)
			err = run(dir, counts[i], clients, seconds, cross, false, saves, movers);
		if (!err && balanced)
			err = run(dir, counts[i], clients, seconds, cross, true, saves, movers);
	}
	test_rmtree(dir);
	return err;
}
