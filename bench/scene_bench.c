/* Scene throughput: a generated Godot 4 scene of N nodes (default 100,000) is parsed, imported into a
 * durable store in one batch, exported and written back; then the Godot binary Variant codec encodes and
 * decodes a typical live-update message. Prints MB/s and nodes/s (or values/s) per stage, best of 3 runs.
 *
 *   grove_bench_scene [--nodes N] [--quick]
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
#include "support.h"

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

int main(int argc, char **argv)
{
	int nodes = 100000, runs = 3;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			nodes = 10000;
			runs = 1;
		} else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc) {
			nodes = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--nodes N] [--quick]\n", argv[0]);
			return 2;
		}
	}
	struct grove_buf text = {0};
	generate(&text, nodes);
	double mb = (double)text.len / (1 << 20);
	double best_parse = 1e9, best_import = 1e9, best_export = 1e9;
	size_t exported_bytes = 0;
	for (int run = 0; run < runs; run++) {
		char *dir = test_tmpdir("bench-scene");
		struct store *store;
		if (store_open(&store, dir, NULL) || tree_open(store, 1, &world))
			return 1;
		struct store_txn *txn;
		store_txn_begin(store, NULL, true, &txn);
		tree_init(&world, txn);
		store_txn_commit(txn);

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
