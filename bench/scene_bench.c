/* Scene throughput: a generated Godot 4 scene of N nodes (default 100,000) is parsed, imported into a
 * durable store in one batch, exported and written back; then the Godot binary Variant codec encodes and
 * decodes a typical live-update message. Prints MB/s and nodes/s (or values/s) per stage, best of 3 runs.
 *
 * With --export N,N..., only the server's snapshot export instead: the cold-start world (world_plan.h)
 * of each size is created in a durable store, then scene_export_file() makes it as a subscriber gets it
 * (Godot 3 .scn, its grove ids beside it as GroveClient asks, and in each node's metadata as other clients
 * get it), and as .tscn; p50, min and max over --runs runs (and the p50 of the CPU time, steadier on a
 * shared machine), with the file's size
 * and an FNV-1a hash of its bytes, so that two builds can be compared for speed and for identical output.
 *
 *   grove_bench_scene [--nodes N] [--quick]
 *   grove_bench_scene --export N,N... [--runs R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "godot/scene.h"
#include "godot/tscn.h"
#include "godot/variant_binary.h"
#include "godot/variant_text.h"
#include "src/common/error.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "stats.h"
#include "support.h"
#include "world_plan.h"

/* The world's tree (group 1) of the store the test opened last. */
static struct tree world;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A scene shaped like a level: groups of 10 props under 1 area per 11 nodes, transforms, colors, shapes. */
static void generate(struct grove_buf *out, int nodes)
{
	char line[512];
	int shapes = nodes / 100 + 1;
	snprintf(line, sizeof(line), "[gd_scene load_steps=%d format=3 uid=\"uid://bench\"]\n\n", shapes + 1);
	grove_buf_put(out, line, strlen(line));
	for (int s = 0; s < shapes; s++) {
		snprintf(line, sizeof(line), "[sub_resource type=\"BoxShape3D\" id=\"Box_%d\"]\nsize = Vector3(%d.5, 1, 2)\n\n",
			 s, s % 7);
		grove_buf_put(out, line, strlen(line));
	}
	const char root[] = "[node name=\"World\" type=\"Node3D\"]\n\n";
	grove_buf_put(out, root, sizeof(root) - 1);
	int area = -1;
	for (int i = 1; i < nodes; i++) {
		if (i % 11 == 1) {
			area = i;
			snprintf(line, sizeof(line), "[node name=\"Area%d\" type=\"Area3D\" parent=\".\" groups=[\"zones\"]]\n"
				 "transform = Transform3D(1, 0, 0, 0, 1, 0, 0, 0, 1, %d, 0, %d.25)\n\n", i, i % 1000, i % 97);
		} else {
			snprintf(line, sizeof(line),
				 "[node name=\"Prop%d\" type=\"StaticBody3D\" parent=\"Area%d\"]\n"
				 "transform = Transform3D(0.7071068, 0, -0.7071068, 0, 1, 0, 0.7071068, 0, 0.7071068, %d.5, 0, 1)\n"
				 "modulate = Color(0.2, 0.4, %d.125, 1)\n"
				 "shape = SubResource(\"Box_%d\")\n"
				 "label = \"prop number %d\"\n\n",
				 i, area, i % 50, i % 2, i % shapes, i);
		}
		grove_buf_put(out, line, strlen(line));
	}
}


/* A fresh durable store in a new directory (*@p dir) with an empty world (group 1) in `world`; NULL on failure. */
static struct store *open_world(const char *prefix, char **dir)
{
	*dir = test_tmpdir(prefix);
	struct store *store;
	struct store_txn *txn;
	if (store_open(&store, *dir, NULL))
		return NULL;
	if (tree_open(store, 1, &world) || store_txn_begin(store, NULL, true, &txn)) {
		store_close(store);
		return NULL;
	}
	if (tree_init(&world, txn) || store_txn_commit(txn)) {
		store_close(store);
		return NULL;
	}
	return store;
}

/* ---- the snapshot export alone ---- */

#define EXPORT_MAX_SIZES 8
#define EXPORT_MAX_RUNS 64
#define EXPORT_BATCH_NODES 5000
/* What groved allows a snapshot's scene (follow.c). */
#define EXPORT_SCENE_MAX ((size_t)256 << 20)

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* The CPU time of this thread: on a shared machine, steadier than the wall clock. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Create the world of @p nodes nodes in @p store; its top node's id, or 0. */
static uint64_t fill_store(struct store *store, int nodes)
{
	struct plan p;
	if (plan_world(&p, nodes))
		return 0;
	uint64_t *ids = calloc((size_t)p.count, sizeof(*ids)), top = 0;
	struct store_txn *txn = NULL;
	int err = ids ? store_txn_begin(store, NULL, true, &txn) : GROVE_ENOMEM;
	for (int start = 0; !err && start < p.count; start += EXPORT_BATCH_NODES) {
		int end = start + EXPORT_BATCH_NODES < p.count ? start + EXPORT_BATCH_NODES : p.count;
		struct plan_batch b;
		if (plan_batch_make(&p, start, end, ids, &b)) {
			err = GROVE_ENOMEM;
			break;
		}
		struct tree_batch batch = {b.ops, b.count};
		struct tree_result res = {0};
		err = tree_apply_batch(&world, txn, &batch, &res);
		if (err)
			fprintf(stderr, "fill: %s\n", res.message);
		else
			plan_batch_ids(&b, start, end, res.ids, ids);
		tree_result_free(&res);
		plan_batch_free(&b);
	}
	if (!err)
		err = store_txn_commit(txn);
	else if (txn)
		store_txn_abort(txn);
	if (!err)
		top = ids[0];
	free(ids);
	plan_free(&p);
	return top;
}

/*
 * Time @p runs exports of @p top as a subscriber's .scn (or .tscn) with its ids as @p mode says and print p50,
 * min, max, size, hash.
 */
static int time_export(struct store *store, uint64_t top, int nodes, bool binary, enum scene_ids_mode mode, int runs)
{
	uint64_t took[EXPORT_MAX_RUNS], cpu[EXPORT_MAX_RUNS];
	size_t bytes = 0;
	uint64_t hash = 0;
	for (int r = 0; r < runs; r++) {
		struct store_txn *txn;
		if (store_txn_begin(store, NULL, false, &txn))
			return -1;
		struct grove_buf out = {0};
		char msg[512];
		uint64_t t0 = now_ns(), c0 = cpu_ns();
		struct scene_ids ids;
		int err = scene_export_file(&world, txn, top, 3, binary, mode, &ids, EXPORT_SCENE_MAX, &out, msg, sizeof(msg));
		uint64_t t1 = now_ns(), c1 = cpu_ns();
		scene_ids_free(&ids);
		store_txn_abort(txn);
		if (err) {
			fprintf(stderr, "export: %s\n", msg);
			grove_buf_free(&out);
			return -1;
		}
		took[r] = t1 - t0;
		cpu[r] = c1 - c0;
		bytes = out.len;
		hash = fnv1a(out.data, out.len);
		grove_buf_free(&out);
	}
	qsort(took, (size_t)runs, sizeof(*took), cmp_u64);
	qsort(cpu, (size_t)runs, sizeof(*cpu), cmp_u64);
	printf("  %-5s %-8s p50 %7.1f ms  min %7.1f  max %7.1f  (%.2f us/node)  cpu p50 %7.1f ms  %zu bytes  fnv1a %016llx\n",
	       binary ? ".scn" : ".tscn", mode == SCENE_IDS_NAMES ? "ids names" : "ids meta", pct(took, (size_t)runs, 0.5) / 1e3, pct(took, (size_t)runs, 0) / 1e3,
	       pct(took, (size_t)runs, 1) / 1e3, pct(took, (size_t)runs, 0.5) / nodes, pct(cpu, (size_t)runs, 0.5) / 1e3,
	       bytes, (unsigned long long)hash);
	return 0;
}

static int export_bench(const int *sizes, int n_sizes, int runs)
{
	for (int s = 0; s < n_sizes; s++) {
		char *dir;
		struct store *store = open_world("bench-export", &dir);
		if (!store)
			return 1;
		uint64_t top = fill_store(store, sizes[s]);
		if (!top)
			return 1;
		printf("export of a %d-node world (Godot 3; grove ids beside the scene with their names, or in its metadata), %d runs:\n",
		       sizes[s], runs);
		int err = time_export(store, top, sizes[s], true, SCENE_IDS_NAMES, runs) ||
			  time_export(store, top, sizes[s], true, SCENE_IDS_METADATA, runs) ||
			  time_export(store, top, sizes[s], false, SCENE_IDS_NAMES, runs) ||
			  time_export(store, top, sizes[s], false, SCENE_IDS_METADATA, runs);
		store_close(store);
		test_rmtree(dir);
		if (err)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int nodes = 100000, runs = 3, export_sizes[EXPORT_MAX_SIZES], n_export = 0, export_runs = 5;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			nodes = 10000;
			runs = 1;
		} else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc) {
			nodes = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--export") == 0 && i + 1 < argc) {
			n_export = parse_int_list(argv[++i], 1, 10000000, export_sizes, EXPORT_MAX_SIZES);
		} else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			export_runs = atoi(argv[++i]);
		} else {
			n_export = -1;
		}
	}
	if (n_export < 0 || export_runs < 1 || export_runs > EXPORT_MAX_RUNS) {
		fprintf(stderr, "usage: %s [--nodes N] [--quick] | --export N,N... [--runs R (1-%d)]\n", argv[0],
			EXPORT_MAX_RUNS);
		return 2;
	}
	if (n_export > 0)
		return export_bench(export_sizes, n_export, export_runs);
	struct grove_buf text = {0};
	generate(&text, nodes);
	double mb = (double)text.len / (1 << 20);
	double best_parse = 1e9, best_import = 1e9, best_export = 1e9;
	size_t exported_bytes = 0;
	for (int run = 0; run < runs; run++) {
		char *dir;
		struct store *store = open_world("bench-scene", &dir);
		if (!store)
			return 1;
		struct store_txn *txn;

		double t0 = now_s();
		struct tscn_scene scene;
		struct tscn_error err;
		if (tscn_parse((const char *)text.data, text.len, &scene, &err)) {
			fprintf(stderr, "parse: %u:%u %s\n", err.line, err.column, err.message);
			return 1;
		}
		double t1 = now_s();
		struct scene_import plan;
		char msg[512];
		if (scene_import_plan(&scene, "/root", NULL, &plan, msg, sizeof(msg))) {
			fprintf(stderr, "plan: %s\n", msg);
			return 1;
		}
		store_txn_begin(store, NULL, true, &txn);
		struct tree_batch batch = {plan.ops, plan.count};
		struct tree_result res = {0};
		if (tree_apply_batch(&world, txn, &batch, &res)) {
			fprintf(stderr, "import: %s\n", res.message);
			return 1;
		}
		uint64_t root = res.ids[plan.count ? 0 : 0];
		for (size_t k = 0; k < plan.count; k++)
			if (plan.ops[k].kind == TREE_OP_CREATE && plan.ops[k].node.path) {
				root = res.ids[k];
				break;
			}
		tree_result_free(&res);
		store_txn_commit(txn); /* durable: one fsync for the whole scene */
		double t2 = now_s();
		scene_import_free(&plan);
		tscn_scene_free(&scene);

		store_txn_begin(store, NULL, false, &txn);
		double t3 = now_s();
		struct tscn_scene out;
		if (scene_export(&world, txn, root, 4, &out, msg, sizeof(msg))) {
			fprintf(stderr, "export: %s\n", msg);
			return 1;
		}
		struct grove_buf written = {0};
		tscn_write(&out, 4, &written);
		double t4 = now_s();
		exported_bytes = written.len;
		grove_buf_free(&written);
		tscn_scene_free(&out);
		store_txn_abort(txn);
		store_close(store);
		test_rmtree(dir);
		if (t1 - t0 < best_parse)
			best_parse = t1 - t0;
		if (t2 - t1 < best_import)
			best_import = t2 - t1;
		if (t4 - t3 < best_export)
			best_export = t4 - t3;
	}
	printf("scene of %d nodes, %.1f MB of .tscn text (best of %d)\n", nodes, mb, runs);
	printf("  parse   %7.1f MB/s  %9.0f nodes/s\n", mb / best_parse, nodes / best_parse);
	printf("  import  %7.1f MB/s  %9.0f nodes/s  (one atomic batch, durable commit)\n", mb / best_import,
	       nodes / best_import);
	printf("  export  %7.1f MB/s  %9.0f nodes/s  (read, rebuild, write .tscn)\n",
	       (double)exported_bytes / (1 << 20) / best_export, nodes / best_export);
	grove_buf_free(&text);

	/* The binary codec on a live-update message. */
	const char *msg_text = "{\"op\": \"set\", \"path\": \"/root/World/Area12/Prop13\", \"property\": \"transform\", "
			       "\"value\": Transform3D(0.7071068, 0, -0.7071068, 0, 1, 0, 0.7071068, 0, 0.7071068, 3.5, 0, 1)}";
	struct variant v, back;
	struct godot_text_error terr;
	godot_text_parse(msg_text, strlen(msg_text), NULL, &v, &terr);
	int count = runs == 1 ? 100000 : 1000000;
	struct grove_buf enc = {0};
	double t0 = now_s();
	for (int i = 0; i < count; i++) {
		enc.len = 0;
		godot_binary_encode(&v, 4, &enc);
	}
	double t1 = now_s();
	for (int i = 0; i < count; i++) {
		godot_binary_decode(&back, 4, enc.data, enc.len, NULL);
		variant_free(&back);
	}
	double t2 = now_s();
	printf("binary Variant (Godot 4), %zu-byte update message:\n", enc.len);
	printf("  encode  %7.1f MB/s  %9.0f values/s\n", (double)enc.len * count / (1 << 20) / (t1 - t0), count / (t1 - t0));
	printf("  decode  %7.1f MB/s  %9.0f values/s\n", (double)enc.len * count / (1 << 20) / (t2 - t1), count / (t2 - t1));
	grove_buf_free(&enc);
	variant_free(&v);
	return 0;
}
