/* Cold start of a world into a Godot game server: how long from a GroveClient's connect to the live tree,
 * and where that time goes.
 *
 * For each world size (default 10,000 and 100,000 nodes) a fresh durable groved (a single node; with
 * --cluster a 3-member cluster whose follower serves the clients, with --at-leader one whose leader does)
 * is filled with a generated world under
 * /root/World through the C client's batch writes: zones of cells of MeshInstance props with Position3D
 * anchors, and 2D panels of Sprites, each node with a few properties (Godot 3 classes, five levels deep).
 * Then, each a p50 over --runs fresh runs:
 *   - a C client subscribes to /root/World over protobuf and takes the snapshot (.scn for Godot 3): the
 *     server's export and the transfer, without Godot;
 *   - godot3-server runs bench/godot/coldstart.gd (the project is copied with the addon under
 *     addons/grove): GroveClient connects, says hello, subscribes, receives the snapshot as a binary .scn
 *     with its grove ids beside it (with --ids-in-scene: in each node's metadata), writes it to user://,
 *     loads, instances, maps the ids and adds it to the tree; the script times each stage from start() to
 *     the live tree;
 *   - godot3-server loads the same .scn from the local file, instances and adds it (bench/godot/
 *     load_local.gd), as grove_bench_scn does: what Godot alone needs.
 * A cluster's term and leader before and after say whether serving the snapshots cost it its leader.
 * Not a test: it prints figures.
 *
 * With --perf DIR, the serving groved is recorded by `perf record --call-graph dwarf` while the C client
 * takes its snapshots (DIR/perf-N.data per world size; `perf report -i` reads it).
 *
 *   grove_bench_coldstart [--nodes N,N,...] [--runs R] [--cluster | --at-leader] [--ids-in-scene] [--perf DIR]
 *                         [--quick]
 */
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clusters.h"
#include "files.h"
#include "godot_procs.h"
#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "stats.h"
#include "world_plan.h"
#include "support.h"

#define MAX_SIZES 8
#define MAX_RUNS 32
#define FILL_BATCH_NODES 2000
#define GODOT_TIMEOUT_MS 120000
#define CLIENT_TIMEOUT_MS 60000

/* ---- the world ---- */

/* Nodes [start, end) of @p p as one batch; parents made by earlier batches are named by the ids they got. */
static int write_batch(struct grove_client *c, const struct plan *p, int start, int end, uint64_t *ids)
{
	struct plan_batch b;
	if (plan_batch_make(p, start, end, ids, &b))
		return GROVE_ENOMEM;
	struct wire_request wr;
	int err = wire_encode_batch(b.ops, b.count, &wr);
	if (!err) {
		Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
		env.body_case = GROVE__ENVELOPE__BODY_WRITE;
		env.write = &wr.req;
		err = grove_client_call(c, &env, &reply);
		if (!err) {
			const Grove__WriteReply *wrep = reply->body_case == GROVE__ENVELOPE__BODY_WRITE_REPLY ? reply->write_reply : NULL;
			if (!wrep || wrep->code || wrep->n_ids != b.count) {
				fprintf(stderr, "fill: batch refused: %s\n", wrep ? wrep->message : "no write reply");
				err = GROVE_EPROTO;
			} else {
				plan_batch_ids(&b, start, end, wrep->ids, ids);
			}
			grove__envelope__free_unpacked(reply, NULL);
		}
		wire_request_free(&wr);
	}
	plan_batch_free(&b);
	return err;
}

/* Write the whole plan through @p address; seconds taken, or -1. */
static double fill_world(const char *address, const struct plan *p)
{
	struct grove_client *c;
	if (grove_client_connect(address, NULL, CLIENT_TIMEOUT_MS, &c, NULL, 0) != GROVE_OK)
		return -1;
	uint64_t *ids = calloc((size_t)p->count, sizeof(*ids));
	uint64_t t0 = now_ns();
	int err = GROVE_OK;
	for (int start = 0; start < p->count && !err; start += FILL_BATCH_NODES)
		err = write_batch(c, p, start, start + FILL_BATCH_NODES < p->count ? start + FILL_BATCH_NODES : p->count, ids);
	double seconds = (double)(now_ns() - t0) / 1e9;
	free(ids);
	grove_client_close(c);
	return err ? -1 : seconds;
}

/* ---- the snapshot as a C client takes it ---- */

/*
 * Subscribe to /root/World for Godot 3 in .scn and read the whole snapshot: ns taken, 0 on failure;
 * *@p first_ns until its first chunk (the server exports the whole scene before it sends any).
 */
static uint64_t c_snapshot(const char *address, size_t *bytes, uint64_t *first_ns)
{
	struct grove_client *c;
	if (grove_client_connect(address, NULL, CLIENT_TIMEOUT_MS, &c, NULL, 0) != GROVE_OK)
		return 0;
	Grove__SubscribeRequest rq = GROVE__SUBSCRIBE_REQUEST__INIT;
	rq.path = "/root/World";
	rq.godot_major = 3;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &rq;
	uint64_t t0 = now_ns(), took = 0;
	*bytes = 0;
	bool sent = grove_client_send(c, &env) == GROVE_OK;
	/* Bounded: a snapshot of any size comes in at most this many chunks of 1 MiB. */
	for (int events = 0; sent && events < 100000 && !took; events++) {
		Grove__Envelope *msg;
		if (grove_client_receive(c, -1, &msg) != GROVE_OK)
			break;
		const Grove__SubscribeEvent *ev = msg->body_case == GROVE__ENVELOPE__BODY_SUBSCRIBE_EVENT ? msg->subscribe_event : NULL;
		bool snapshot = ev && ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT;
		if (snapshot && *bytes == 0)
			*first_ns = now_ns() - t0;
		if (snapshot)
			*bytes += ev->data.len;
		if (snapshot && ev->last)
			took = now_ns() - t0;
		grove__envelope__free_unpacked(msg, NULL);
		if (!snapshot)
			break;
	}
	grove_client_close(c);
	return took;
}

/* ---- Godot ---- */

/*
 * Run godot3-server on @p script of @p project (GROVE_ADDRESS=@p address; the snapshot's ids in its scene
 * with @p ids_in_scene) and read the numbers after
 * @p marker in its output into @p out. @return how many it read; *@p process_ns the whole process.
 */
static int run_godot(const char *project, const char *script, const char *address, bool ids_in_scene,
		     const char *marker, long *out, int want, uint64_t *process_ns)
{
	char env_address[128], log[4300];
	snprintf(env_address, sizeof(env_address), "GROVE_ADDRESS=%s", address);
	snprintf(log, sizeof(log), "%s/godot.log", project);
	unlink(log);
	const char *env[] = {env_address, ids_in_scene ? "GROVE_IDS_IN_SCENE=1" : NULL, NULL};
	uint64_t t0 = now_ns();
	pid_t pid = godot_spawn(project, script, env, log);
	int status = pid > 0 ? bench_wait(pid, GODOT_TIMEOUT_MS) : -1;
	*process_ns = now_ns() - t0;
	size_t len;
	char *text = test_read_file(log, &len);
	char *line = text ? strstr(text, marker) : NULL;
	int got = 0;
	if (line && status == 0) {
		char *p = line + strlen(marker);
		for (; got < want; got++) {
			char *end;
			out[got] = strtol(p, &end, 10);
			if (end == p)
				break;
			p = end;
		}
	}
	if (got < want)
		fprintf(stderr, "godot3-server %s: exit status %d, output:\n%.2000s\n", script, status, text ? text : "(none)");
	free(text);
	return got;
}

/* ---- figures ---- */

/* What is measured per world size: every stage's samples, in microseconds. */
enum stage {
	C_FIRST_CHUNK, C_SNAPSHOT,
	G_WELCOME, G_FIRST_CHUNK, G_LAST_CHUNK, G_WRITE, G_LOAD, G_INSTANCE, G_ADD, G_REGISTER, G_TOTAL, G_PROCESS,
	L_LOAD, L_INSTANCE, L_ADD, L_TOTAL, L_PROCESS,
	STAGES
};

static const char *const stage_name[] = {
	"subscribe -> first chunk (the export)", "subscribe -> whole snapshot",
	"start -> welcome", "start -> first snapshot chunk", "start -> last snapshot chunk", "write to user://",
	"load (ResourceLoader)", "instance", "add to tree", "grove id map (GDScript)", "start -> live tree",
	"whole godot3-server process",
	"load (ResourceLoader)", "instance", "add to tree", "load + instance + add", "whole godot3-server process",
};

/* Who serves the clients. */
enum serving { SINGLE_NODE, CLUSTER_FOLLOWER, CLUSTER_LEADER };

struct world_result {
	int nodes;
	uint64_t term_before, term_after; /* a cluster's, around the snapshots */
	int leader_before, leader_after;
	double fill_s;
	size_t scn_bytes;
	size_t godot_bytes;               /* GroveClient's snapshot */
	bool ids_in_scene;
	uint64_t samples[STAGES][MAX_RUNS];
	int n[STAGES];
	bool ok;
};

static void sample(struct world_result *w, enum stage s, uint64_t us)
{
	w->samples[s][w->n[s]++] = us;
}

/* p50, min and max of a stage in milliseconds (pct() takes ns and gives us: samples are us). */
static void print_stage(struct world_result *w, enum stage s)
{
	if (!w->n[s])
		return;
	qsort(w->samples[s], (size_t)w->n[s], sizeof(uint64_t), cmp_u64);
	printf("    %-40s %8.1f   (%.1f - %.1f)\n", stage_name[s], pct(w->samples[s], (size_t)w->n[s], 0.5),
	       (double)w->samples[s][0] / 1e3, (double)w->samples[s][w->n[s] - 1] / 1e3);
}

static double p50_ms(struct world_result *w, enum stage s)
{
	qsort(w->samples[s], (size_t)w->n[s], sizeof(uint64_t), cmp_u64);
	return pct(w->samples[s], (size_t)w->n[s], 0.5);
}

/* ---- one world size ---- */

/* Record groved @p pid with perf into @p dir/perf-@p nodes.data until it gets SIGINT; 0 when not asked for. */
static pid_t start_perf(const char *dir, int nodes, pid_t pid)
{
	if (!dir)
		return 0;
	char out[4200], target[32], log[4300];
	snprintf(out, sizeof(out), "%s/perf-%d.data", dir, nodes);
	snprintf(target, sizeof(target), "%d", (int)pid);
	snprintf(log, sizeof(log), "%s/perf-%d.log", dir, nodes);
	char *argv[] = {"perf", "record", "--call-graph", "dwarf", "-F", "999", "-o", out, "-p", target, NULL};
	pid_t perf = bench_spawn(argv, log);
	sleep(1); /* perf attaches before the first snapshot is asked for */
	return perf;
}

/* The highest term a member of @p c reports, and in *@p leader the member that leads in it (-1: none). */
static uint64_t cluster_term(const struct grove_cluster *c, int *leader)
{
	uint64_t term = 0;
	*leader = -1;
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		Grove__Envelope *holder;
		Grove__StatusReply *st = client_status(c->addresses[i], 2000, &holder);
		if (st && st->term >= term) {
			if (st->term > term)
				*leader = -1;
			term = st->term;
			if (strcmp(st->role, "leader") == 0)
				*leader = i;
		}
		if (holder)
			grove__envelope__free_unpacked(holder, NULL);
	}
	return term;
}

static void measure_world(int nodes, int runs, enum serving serving, bool godot, bool ids_in_scene,
			  const char *perf_dir, struct world_result *w)
{
	bool cluster = serving != SINGLE_NODE;
	memset(w, 0, sizeof(*w));
	w->nodes = nodes;
	w->ids_in_scene = ids_in_scene;
	char *dir = test_tmpdir("bench-coldstart");
	struct grove_cluster members;
	struct groved_proc single = {0};
	char data[4200], fill_address[32], serve_address[32];
	int serve_member = 0, leader = -1;
	if (cluster) {
		grove_cluster_init(&members, dir, "grove", NULL);
		leader = grove_cluster_start(&members);
		if (leader < 0) {
			fprintf(stderr, "grove: no leader\n");
			grove_cluster_stop(&members);
			test_rmtree(dir);
			return;
		}
		snprintf(fill_address, sizeof(fill_address), "%s", members.addresses[leader]);
		serve_member = serving == CLUSTER_LEADER ? leader : (leader + 1) % CLUSTER_MEMBERS;
		snprintf(serve_address, sizeof(serve_address), "%s", members.addresses[serve_member]);
	} else {
		snprintf(data, sizeof(data), "%s/grove", dir);
		groved_start(&single, data, NULL);
		snprintf(fill_address, sizeof(fill_address), "%s", single.address);
		snprintf(serve_address, sizeof(serve_address), "%s", single.address);
	}
	struct plan plan;
	w->fill_s = plan_world(&plan, nodes) ? -1 : fill_world(fill_address, &plan);
	plan_free(&plan);
	w->ok = w->fill_s >= 0;
	if (w->ok && cluster) {
		/* The member that serves the clients has the whole world before the clock starts. */
		uint64_t target = grove_member_applied(&members, leader, NULL);
		uint64_t t0 = now_ns();
		while (grove_member_applied(&members, serve_member, NULL) < target && now_ns() - t0 < 60000000000ull)
			usleep(10000);
	}
	if (cluster)
		w->term_before = cluster_term(&members, &w->leader_before);
	pid_t perf = w->ok ? start_perf(perf_dir, nodes, cluster ? members.pids[serve_member] : single.pid) : 0;
	for (int r = 0; r < runs && w->ok; r++) {
		uint64_t first_ns = 0, ns = c_snapshot(serve_address, &w->scn_bytes, &first_ns);
		w->ok = ns > 0;
		if (w->ok) {
			sample(w, C_FIRST_CHUNK, first_ns / 1000);
			sample(w, C_SNAPSHOT, ns / 1000);
		}
	}
	if (perf > 0) {
		kill(perf, SIGINT); /* perf writes its file out on SIGINT */
		bench_wait(perf, 120000);
	}
	char *project = godot && w->ok ? godot_bench_project() : NULL;
	if (godot && w->ok && !project)
		exit(1);
	for (int r = 0; r < runs && project && w->ok; r++) {
		long v[11];
		uint64_t process_ns;
		w->ok = run_godot(project, "coldstart.gd", serve_address, ids_in_scene, "GROVE-COLDSTART ", v, 11,
				  &process_ns) == 11;
		w->godot_bytes = w->ok ? (size_t)v[9] : 0;
		if (w->ok && v[10] != nodes) {
			fprintf(stderr, "godot3-server's live tree has %ld nodes with grove ids, not %d\n", v[10], nodes);
			w->ok = false;
		}
		enum stage order[] = {G_TOTAL, G_WELCOME, G_FIRST_CHUNK, G_LAST_CHUNK, G_WRITE,
				      G_LOAD, G_INSTANCE, G_ADD, G_REGISTER};
		for (int i = 0; i < 9 && w->ok; i++)
			sample(w, order[i], (uint64_t)v[i]);
		if (w->ok)
			sample(w, G_PROCESS, process_ns / 1000);
	}
	for (int r = 0; r < runs && project && w->ok; r++) {
		long v[4];
		uint64_t process_ns;
		w->ok = run_godot(project, "load_local.gd", serve_address, false, "GROVE-LOCAL ", v, 4, &process_ns) == 4;
		if (!w->ok)
			break;
		sample(w, L_LOAD, (uint64_t)v[0]);
		sample(w, L_INSTANCE, (uint64_t)v[1]);
		sample(w, L_ADD, (uint64_t)v[2]);
		sample(w, L_TOTAL, (uint64_t)(v[0] + v[1] + v[2]));
		sample(w, L_PROCESS, process_ns / 1000);
	}
	if (project)
		test_rmtree(project);
	if (cluster) {
		w->term_after = cluster_term(&members, &w->leader_after);
		grove_cluster_stop(&members);
	}
	else
		groved_stop(&single);
	test_rmtree(dir);
}

static void print_world(struct world_result *w, int runs, enum serving serving)
{
	static const char *const served_by[] = {"a single durable node", "a follower of a 3-member cluster",
						"the leader of a 3-member cluster"};
	printf("\n%d nodes under /root/World: %.1f MB as .scn for Godot 3 with its ids; filled in %.2f s (%.0f nodes/s, batches of %d nodes)\n",
	       w->nodes, (double)w->scn_bytes / 1e6, w->fill_s, w->fill_s > 0 ? w->nodes / w->fill_s : 0, FILL_BATCH_NODES);
	if (!w->ok)
		printf("  (failed; see above)\n");
	printf("  p50 of %d fresh runs, ms (min - max); the clients at %s\n", runs, served_by[serving]);
	if (serving != SINGLE_NODE && w->term_after == w->term_before && w->leader_after == w->leader_before)
		printf("  the cluster kept its leader (member %d, term %llu) throughout\n", w->leader_before + 1,
		       (unsigned long long)w->term_before);
	else if (serving != SINGLE_NODE)
		printf("  the cluster LOST ITS LEADER while serving the snapshots: member %d in term %llu, then member %d in term %llu\n",
		       w->leader_before + 1, (unsigned long long)w->term_before, w->leader_after + 1,
		       (unsigned long long)w->term_after);
	printf("  C client over protobuf:\n");
	print_stage(w, C_FIRST_CHUNK);
	print_stage(w, C_SNAPSHOT);
	if (w->n[G_TOTAL]) {
		printf("  GroveClient in godot3-server, cold start (from start(); each stage ends at the time shown;\n"
		       "  its .scn %.1f MB, the grove ids %s):\n",
		       (double)w->godot_bytes / 1e6, w->ids_in_scene ? "in each node's metadata" : "beside it");
		for (enum stage s = G_WELCOME; s <= G_PROCESS; s++)
			print_stage(w, s);
	}
	if (w->n[L_TOTAL]) {
		printf("  godot3-server alone, the same .scn from a local file:\n");
		for (enum stage s = L_LOAD; s <= L_PROCESS; s++)
			print_stage(w, s);
		printf("  cold start / Godot alone (p50s): %.2fx; the cold start's time past Godot alone: %.0f ms\n",
		       p50_ms(w, G_TOTAL) / p50_ms(w, L_TOTAL), p50_ms(w, G_TOTAL) - p50_ms(w, L_TOTAL));
	}
}

int main(int argc, char **argv)
{
	int sizes[MAX_SIZES] = {10000, 100000}, n_sizes = 2, runs = 5;
	enum serving serving = SINGLE_NODE;
	const char *perf_dir = NULL;
	bool ids_in_scene = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc) {
			n_sizes = parse_int_list(argv[++i], 2, 10000000, sizes, MAX_SIZES);
		} else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			runs = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--perf") == 0 && i + 1 < argc) {
			perf_dir = argv[++i];
		} else if (strcmp(argv[i], "--cluster") == 0) {
			serving = CLUSTER_FOLLOWER;
		} else if (strcmp(argv[i], "--at-leader") == 0) {
			serving = CLUSTER_LEADER;
		} else if (strcmp(argv[i], "--ids-in-scene") == 0) {
			ids_in_scene = true;
		} else if (strcmp(argv[i], "--quick") == 0) {
			sizes[0] = 10000;
			n_sizes = 1;
			runs = 1;
		} else {
			n_sizes = -1;
			break;
		}
	}
	if (n_sizes < 1 || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "usage: %s [--nodes N,N,...] [--runs R (1 to %d)] [--cluster | --at-leader] [--ids-in-scene] "
				"[--perf DIR] [--quick]\n",
			argv[0], MAX_RUNS);
		return 2;
	}
	bool godot = godot_installed();
	if (!godot)
		printf("godot3-server is not installed (Debian package godot3-server): the C client's figures only\n");
	printf("cold start of a world into a Godot 3 client; this machine, this run\n");
	for (int i = 0; i < n_sizes; i++) {
		struct world_result *w = calloc(1, sizeof(*w));
		measure_world(sizes[i], runs, serving, godot, ids_in_scene, perf_dir, w);
		print_world(w, runs, serving);
		free(w);
		fflush(stdout);
	}
	return 0;
}
