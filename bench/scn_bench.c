/* Binary scenes against text scenes for a cold start: a generated Godot 3 scene of N nodes (default
 * 100,000; wide and deep: branches of chains, a position on every node, a shape on every tenth, groups) is
 * written as .tscn and as .scn (into a buffer, and streamed through a sink), and, if godot3-server is
 * installed, Godot loads and instances each in a fresh process. Prints p50 (and min/max) over the runs.
 *
 *   grove_bench_scn [--nodes N] [--runs R] [--no-godot]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "files.h"
#include "godot/scn.h"
#include "godot/tscn.h"
#include "src/common/error.h"
#include "support.h"

#define MAX_RUNS 64

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *what, double *samples, int n, const char *unit, double scale)
{
	qsort(samples, (size_t)n, sizeof(double), compare_doubles);
	printf("  %-34s p50 %9.1f %s   (min %.1f, max %.1f, %d runs)\n", what, samples[n / 2] * scale, unit,
	       samples[0] * scale, samples[n - 1] * scale, n);
}

/* Branches of 100 nodes below the root, each branch holding chains ten levels deep. */
static void generate(struct tscn_scene *sc, int nodes)
{
	struct grove_buf text = {0};
	const char head[] = "[gd_scene load_steps=9 format=2]\n\n";
	grove_buf_put(&text, head, sizeof(head) - 1);
	char line[2048], parent[1024] = ".";
	for (int s = 1; s <= 8; s++) {
		int n = snprintf(line, sizeof(line), "[sub_resource type=\"RectangleShape2D\" id=%d]\nextents = Vector2( %d, 2.5 )\n\n",
				 s, s);
		grove_buf_put(&text, line, (size_t)n);
	}
	const char root[] = "[node name=\"World\" type=\"Node2D\"]\n";
	grove_buf_put(&text, root, sizeof(root) - 1);
	int branch = 0;
	for (int i = 1; i < nodes; i++) {
		int n;
		if (i % 100 == 1) {
			branch = i;
			n = snprintf(line, sizeof(line), "\n[node name=\"Branch%d\" type=\"Node2D\" parent=\".\" groups=[ \"branches\" ]]\n"
				     "position = Vector2( %d, 0 )\n", i, i);
			snprintf(parent, sizeof(parent), "Branch%d", i);
		} else if (i % 10 == 5) {
			n = snprintf(line, sizeof(line), "\n[node name=\"Body%d\" type=\"StaticBody2D\" parent=\"%s\"]\n"
				     "position = Vector2( %d, 1.5 )\n\n[node name=\"Shape\" type=\"CollisionShape2D\" parent=\"%s/Body%d\"]\n"
				     "shape = SubResource( %d )\n", i, parent, i % 50, parent, i, i / 10 % 8 + 1);
			i++; /* the shape counts as a node */
		} else {
			n = snprintf(line, sizeof(line), "\n[node name=\"N%d\" type=\"Node2D\" parent=\"%s\"]\n"
				     "position = Vector2( %d, %d.25 )\nrotation = 0.5\n", i, parent, i % 100, i % 7);
			size_t plen = strlen(parent);
			if ((i - branch) % 10 == 9)
				snprintf(parent, sizeof(parent), "Branch%d", branch);
			else
				snprintf(parent + plen, sizeof(parent) - plen, "/N%d", i);
		}
		grove_buf_put(&text, line, (size_t)n);
	}
	struct tscn_error err;
	if (tscn_parse((const char *)text.data, text.len, sc, &err) != GROVE_OK) {
		fprintf(stderr, "generated scene does not parse: %u:%u %s\n", err.line, err.column, err.message);
		exit(1);
	}
	grove_buf_free(&text);
}

static int count_only(void *ctx, const void *data, size_t len)
{
	(void)data;
	*(size_t *)ctx += len;
	return GROVE_OK;
}

static const char load_script[] =
	"extends SceneTree\n"
	"func _init():\n"
	"\tvar path = \"res://scene.\" + OS.get_cmdline_args()[OS.get_cmdline_args().size() - 1]\n"
	"\tvar t0 = OS.get_ticks_usec()\n"
	"\tvar ps = ResourceLoader.load(path, \"\", true)\n"
	"\tvar t1 = OS.get_ticks_usec()\n"
	"\tvar inst = ps.instance() if ps else null\n"
	"\tvar t2 = OS.get_ticks_usec()\n"
	"\tif inst:\n"
	"\t\tprint(\"T\\t%d\\t%d\" % [t1 - t0, t2 - t1])\n"
	"\t\tinst.free()\n"
	"\tquit(0)\n";

/* One fresh engine loading scene.<ext>: in-process load and instance times, and the whole process. */
static int godot_run(const char *project, const char *ext, double *load_s, double *instance_s, double *process_s)
{
	char cmd[8192], path[4096];
	snprintf(cmd, sizeof(cmd), "HOME=%s timeout 120 godot3-server --path %s -s load.gd %s > %s/out.txt 2>/dev/null",
		 project, project, ext, project);
	double t0 = now_s();
	int rc = system(cmd);
	*process_s = now_s() - t0;
	snprintf(path, sizeof(path), "%s/out.txt", project);
	size_t len;
	char *out = test_read_file(path, &len);
	char *line = out ? strstr(out, "T\t") : NULL;
	long load_us = 0, instance_us = 0;
	int ok = rc == 0 && line && sscanf(line, "T\t%ld\t%ld", &load_us, &instance_us) == 2;
	free(out);
	*load_s = (double)load_us / 1e6;
	*instance_s = (double)instance_us / 1e6;
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	int nodes = 100000, runs = 5;
	bool godot = true;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
			nodes = atoi(argv[++i]);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--no-godot") == 0)
			godot = false;
		else {
			fprintf(stderr, "usage: %s [--nodes N] [--runs R] [--no-godot]\n", argv[0]);
			return 2;
		}
	}
	if (nodes < 2 || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "nodes must be at least 2, runs 1 to %d\n", MAX_RUNS);
		return 2;
	}
	struct tscn_scene sc;
	generate(&sc, nodes);
	size_t n_nodes = 0;
	for (size_t i = 0; i < sc.count; i++)
		n_nodes += sc.sections[i].kind == TSCN_NODE;
	printf("scene: %zu nodes, Godot 3\n", n_nodes);
	double tscn_s[MAX_RUNS], scn_s[MAX_RUNS], stream_s[MAX_RUNS];
	struct grove_buf tscn = {0}, scn = {0};
	size_t streamed = 0;
	for (int r = 0; r < runs; r++) {
		grove_buf_free(&tscn);
		grove_buf_free(&scn);
		double t0 = now_s();
		if (tscn_write(&sc, 3, &tscn) != GROVE_OK)
			return 1;
		double t1 = now_s();
		struct scn_error err;
		if (scn_write(&sc, 3, &scn, &err) != GROVE_OK) {
			fprintf(stderr, "scn_write: %s\n", err.message);
			return 1;
		}
		double t2 = now_s();
		streamed = 0;
		struct scn_sink sink = {count_only, &streamed};
		if (scn_write_to(&sc, 3, &sink, &err) != GROVE_OK)
			return 1;
		double t3 = now_s();
		tscn_s[r] = t1 - t0;
		scn_s[r] = t2 - t1;
		stream_s[r] = t3 - t2;
	}
	printf("write (%.1f MB .tscn, %.1f MB .scn):\n", (double)tscn.len / 1e6, (double)scn.len / 1e6);
	report(".tscn (tscn_write)", tscn_s, runs, "ms", 1e3);
	report(".scn into a buffer (scn_write)", scn_s, runs, "ms", 1e3);
	report(".scn streamed (scn_write_to)", stream_s, runs, "ms", 1e3);
	if (streamed != scn.len)
		fprintf(stderr, "streamed %zu bytes, buffered %zu\n", streamed, scn.len);
	if (godot && system("command -v godot3-server >/dev/null 2>&1") != 0) {
		printf("godot3-server is not installed: no load times\n");
		godot = false;
	}
	if (godot) {
		char *project = test_tmpdir("bench-scn");
		const char settings[] = "config_version=4\n\n[application]\n\nconfig/name=\"grove-bench\"\n";
		test_write_file(project, "project.godot", settings, sizeof(settings) - 1);
		test_write_file(project, "load.gd", load_script, sizeof(load_script) - 1);
		test_write_file(project, "scene.tscn", tscn.data, tscn.len);
		test_write_file(project, "scene.scn", scn.data, scn.len);
		static const char *const exts[] = {"tscn", "scn"};
		double load[2][MAX_RUNS], inst[2][MAX_RUNS], total[2][MAX_RUNS], both[2][MAX_RUNS];
		for (int r = 0; r < runs; r++)
			for (int f = 0; f < 2; f++) {
				if (godot_run(project, exts[f], &load[f][r], &inst[f][r], &total[f][r]) != 0) {
					fprintf(stderr, "godot3-server could not load scene.%s\n", exts[f]);
					return 1;
				}
				both[f][r] = load[f][r] + inst[f][r];
			}
		printf("godot3-server, a fresh process per run:\n");
		for (int f = 0; f < 2; f++) {
			char what[64];
			snprintf(what, sizeof(what), "%s load", exts[f]);
			report(what, load[f], runs, "ms", 1e3);
			snprintf(what, sizeof(what), "%s instance", exts[f]);
			report(what, inst[f], runs, "ms", 1e3);
			snprintf(what, sizeof(what), "%s load + instance", exts[f]);
			report(what, both[f], runs, "ms", 1e3);
			snprintf(what, sizeof(what), "%s whole process", exts[f]);
			report(what, total[f], runs, "ms", 1e3);
		}
		test_rmtree(project);
	}
	grove_buf_free(&tscn);
	grove_buf_free(&scn);
	tscn_scene_free(&sc);
	return 0;
}
