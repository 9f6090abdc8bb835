/* The GroveClient addon (godot/addons/grove for Godot 3, godot/addons4/grove its Godot 4 twin), without a
 * grove server:
 *  - every script of the addon and of the end-to-end test loads in the real engine (Debian's
 *    godot3-server, headless Godot 3.2) and a GroveClient can be made; the two halves of the end-to-end
 *    test, which need a server to do more, end on time without one;
 *  - the client's logic, fed hand-made gateway messages in that engine (tests/addon/project/
 *    client_logic.gd: a snapshot in chunks, changes whole and in parts, progress, a gap, a resume, a
 *    reconnect that resends a submit, compacted and a new snapshot), checks itself step by step, and the
 *    tree and id map it dumps must equal tests/addon/client_logic.expected;
 *  - its checkpoint (tests/addon/project/checkpoint.gd): written after applies, at most once per interval
 *    and when the client stops; a fresh client reloads the tree and id map and resumes from its index; a
 *    torn, garbage or foreign checkpoint is passed over for a cold start;
 *  - the Godot 4 twin is the Godot 3 addon with the rewrites that godot/addons/README.md lists, line for
 *    line, and every listed rewrite is needed;
 *  - the twin parses as GDScript 4 (tree-sitter's grammar, tools/gdscript4/check.js), and the checker
 *    does find a syntax error and Godot 3 syntax.
 * Without godot3-server, node or the npm packages, the tests that need them skip with a message, or fail
 * when CI=true. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "files.h"
#include "godot_project.h"
#include "support.h"

#define ADDON3 "godot/addons/grove"
#define ADDON4 "godot/addons4/grove"
#define MAPPING "godot/addons/README.md"
#define PROJECT "tests/addon/project"
#define MAX_FILES 64
#define MAX_RULES 64

/*
 * Run the engine on @p script of @p project, with the environment assignments @p env; its standard output
 * (malloc'd), which must hold @p marker.
 */
static char *run_godot_env(const char *project, const char *script, const char *env, const char *marker)
{
	char cmd[8192], path[4096];
	snprintf(cmd, sizeof(cmd), "HOME=%s %s timeout 60 " GODOT " --path %s -s %s > %s/godot.out 2> %s/godot.err",
		 project, env, project, script, project, project);
	int rc = system(cmd);
	size_t len;
	snprintf(path, sizeof(path), "%s/godot.out", project);
	char *out = test_read_file(path, &len);
	snprintf(path, sizeof(path), "%s/godot.err", project);
	char *err = test_read_file(path, &len);
	assert_non_null(out);
	assert_non_null(err);
	/* A script that does not parse still lets the engine exit 0: the marker and the error log tell. */
	if (!strstr(out, marker) || strstr(err, "SCRIPT ERROR") || strstr(err, "Parse Error")) {
		print_error("godot exited %d; output:\n%s\nerrors:\n%.6000s\n", rc, out, err);
		fail();
	}
	free(err);
	return out;
}

static char *run_godot(const char *project, const char *script)
{
	return run_godot_env(project, script, "", "GROVE-DONE");
}

/* Run @p script, which checks itself and prints @p ok when every check passed; its output (malloc'd). */
static char *run_self_check(const char *project, const char *script, const char *ok)
{
	char *out = run_godot(project, script);
	if (!strstr(out, ok)) {
		print_error("%s: its own checks failed:\n%s\n", script, out);
		fail();
	}
	return out;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the files of @p dir (no dot files), sorted. */
static size_t list_files(const char *dir, const char *suffix, char **names)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || (suffix && (len < strlen(suffix) || strcmp(e->d_name + len - strlen(suffix), suffix))))
			continue;
		assert_true(n < MAX_FILES);
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), compare_names);
	return n;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

/* ---- the engine loads the addon ---- */

static void test_addon_loads_in_godot3(void **state)
{
	(void)state;
	if (!godot_available())
		skip();
	char *project = godot_project_make();
	char *out = run_godot(project, "load_check.gd");
	char *names[MAX_FILES];
	const char *const dirs[][2] = {{ADDON3, "res://addons/grove"}, {PROJECT "/e2e", "res://e2e"}};
	size_t loaded = 0;
	for (size_t d = 0; d < 2; d++) {
		size_t n = list_files(dirs[d][0], ".gd", names);
		for (size_t i = 0; i < n; i++) {
			char want[1024];
			snprintf(want, sizeof(want), "LOADED %s/%s\n", dirs[d][1], names[i]);
			if (!strstr(out, want)) {
				print_error("%s/%s did not load; Godot printed:\n%s\n", dirs[d][0], names[i], out);
				fail();
			}
			loaded++;
		}
		free_names(names, n);
	}
	assert_non_null(strstr(out, "CLIENT-MADE\n"));
	print_message("godot3 loaded %zu scripts and made a GroveClient\n", loaded);
	free(out);
	test_rmtree(project);
}

/* The halves of the end-to-end test end on time, and write their files, when no server answers. */
static void test_e2e_scripts_end_without_server(void **state)
{
	(void)state;
	if (!godot_available())
		skip();
	char *project = godot_project_make();
	char env[512];
	snprintf(env, sizeof(env), "GROVE_ADDRESSES=127.0.0.1:%d GROVE_SECONDS=1 GROVE_COUNT=2", test_free_port());
	char *out = run_godot_env(project, "e2e/follower.gd", env, "GROVE-FOLLOWER-DONE 0\n");
	free(out);
	out = run_godot_env(project, "e2e/submitter.gd", env, "GROVE-SUBMITTER-DONE 0 2\n");
	free(out);
	test_rmtree(project);
}

/* ---- the client's logic in the engine ---- */

static void test_client_logic_in_godot3(void **state)
{
	(void)state;
	if (!godot_available())
		skip();
	char *project = godot_project_make();
	char *out = run_self_check(project, "client_logic.gd", "GROVE-ADDON-OK\n");
	char path[4096];
	size_t len;
	snprintf(path, sizeof(path), "%s/dump.txt", project);
	char *dump = test_read_file(path, &len);
	char *want = test_read_file("tests/addon/client_logic.expected", &len);
	assert_non_null(dump);
	assert_non_null(want);
	godot_check_text("the dump", dump, "tests/addon/client_logic.expected", want);
	print_message("the client's dump matches (%zu bytes)\n", len);
	/* A connection to a node the copy does not follow is left out without a word. */
	snprintf(path, sizeof(path), "%s/godot.err", project);
	char *err = test_read_file(path, &len);
	assert_non_null(err);
	if (strstr(err, "grove: cannot connect"))
		fail_msg("a connection to a node outside what the copy follows was warned of:\n%.2000s", err);
	free(err);
	free(dump);
	free(want);
	free(out);
	test_rmtree(project);
}

/* The checkpoint (tests/addon/project/checkpoint.gd checks itself): written after applies and on stop,
 * reloaded by a fresh client that resumes from its index, and passed over when it does not load. */
static void test_checkpoint_in_godot3(void **state)
{
	(void)state;
	if (!godot_available())
		skip();
	char *project = godot_project_make();
	free(run_self_check(project, "checkpoint.gd", "GROVE-CHECKPOINT-OK\n"));
	test_rmtree(project);
}

/* ---- the twin, line for line ---- */

struct rules {
	char *from[MAX_RULES], *to[MAX_RULES];
	bool whole[MAX_RULES];
	size_t used[MAX_RULES];
	size_t n;
};

/* The first two `code spans` of a table row. */
static bool row_spans(const char *row, char **a, char **b)
{
	char *spans[2];
	const char *p = row;
	for (int i = 0; i < 2; i++) {
		const char *open = strchr(p, '`');
		const char *close = open ? strchr(open + 1, '`') : NULL;
		if (!close)
			return false;
		spans[i] = strndup(open + 1, (size_t)(close - open - 1));
		p = close + 1;
	}
	*a = spans[0];
	*b = spans[1];
	return true;
}

/* The rewrites of the two tables under "### Anywhere in a line" and "### Whole lines". */
static void read_rules(const char *text, struct rules *r)
{
	memset(r, 0, sizeof(*r));
	int section = 0; /* 1: anywhere, 2: whole lines */
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *row = strndup(line, len);
		if (row[0] == '#')
			section = strncmp(row, "### Anywhere in a line", 22) == 0 ? 1 : strncmp(row, "### Whole lines", 15) == 0 ? 2 : 0;
		else if (section && strncmp(row, "| `", 3) == 0) {
			assert_true(r->n < MAX_RULES);
			assert_true(row_spans(row, &r->from[r->n], &r->to[r->n]));
			r->whole[r->n] = section == 2;
			r->n++;
		}
		free(row);
		line = end ? end + 1 : NULL;
	}
}

static void free_rules(struct rules *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->from[i]);
		free(r->to[i]);
	}
}

/* Godot 3 line @p line as the Godot 4 twin must have it (malloc'd). */
static char *rewrite(const char *line, struct rules *r)
{
	size_t tabs = strspn(line, "\t");
	for (size_t i = 0; i < r->n; i++)
		if (r->whole[i] && strcmp(line + tabs, r->from[i]) == 0) {
			r->used[i]++;
			char *out;
			assert_true(asprintf(&out, "%.*s%s", (int)tabs, line, r->to[i]) > 0);
			return out;
		}
	char *cur = strdup(line);
	for (size_t i = 0; i < r->n; i++) {
		if (r->whole[i] || !strstr(cur, r->from[i]))
			continue;
		size_t flen = strlen(r->from[i]), tlen = strlen(r->to[i]), count = 0;
		for (const char *p = strstr(cur, r->from[i]); p; p = strstr(p + flen, r->from[i]))
			count++;
		char *next = malloc(strlen(cur) + count * tlen + 1), *w = next;
		const char *p = cur;
		for (const char *hit = strstr(p, r->from[i]); hit; hit = strstr(p, r->from[i])) {
			memcpy(w, p, (size_t)(hit - p));
			w += hit - p;
			memcpy(w, r->to[i], tlen);
			w += tlen;
			p = hit + flen;
		}
		strcpy(w, p);
		free(cur);
		cur = next;
		r->used[i] += count;
	}
	return cur;
}

/* The lines of @p text, split in place (a final newline ends the last line). */
static size_t split_lines(char *text, char ***lines)
{
	size_t n = 0, cap = 64;
	*lines = malloc(cap * sizeof(**lines));
	for (char *p = text; *p;) {
		if (n == cap)
			*lines = realloc(*lines, (cap *= 2) * sizeof(**lines));
		(*lines)[n++] = p;
		char *nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return n;
}

/* How many lines of twin @p four differ from Godot 3 file @p three once rewritten; each is printed unless
 * @p quiet. */
static size_t compare_twins(const char *name, char *three, char *four, struct rules *r, bool quiet)
{
	char **a, **b;
	size_t na = split_lines(three, &a), nb = split_lines(four, &b), differ = 0;
	if (na != nb && !quiet)
		print_error("%s: %zu lines for Godot 3, %zu for Godot 4\n", name, na, nb);
	differ += na != nb;
	for (size_t i = 0; i < na && i < nb; i++) {
		char *want = rewrite(a[i], r);
		if (strcmp(want, b[i]) != 0) {
			if (!quiet)
				print_error("%s:%zu: the twin has\n    %s\n  where the Godot 3 line, rewritten, is\n    %s\n", name,
					    i + 1, b[i], want);
			differ++;
		}
		free(want);
	}
	free(a);
	free(b);
	return differ;
}

static void test_twin_mirrors_godot3_line_for_line(void **state)
{
	(void)state;
	size_t len;
	char *mapping = test_read_file(MAPPING, &len);
	assert_non_null(mapping);
	struct rules r;
	read_rules(mapping, &r);
	free(mapping);
	assert_true(r.n >= 10);

	char *three[MAX_FILES], *four[MAX_FILES];
	size_t n3 = list_files(ADDON3, NULL, three), n4 = list_files(ADDON4, NULL, four);
	size_t differ = 0;
	for (size_t i = 0, j = 0; i < n3 || j < n4;) {
		int c = i == n3 ? 1 : j == n4 ? -1 : strcmp(three[i], four[j]);
		if (c != 0) {
			print_error("%s has no twin in %s\n", c < 0 ? three[i] : four[j], c < 0 ? ADDON4 : ADDON3);
			differ++;
			i += c < 0;
			j += c > 0;
			continue;
		}
		char p3[4096], p4[4096];
		snprintf(p3, sizeof(p3), ADDON3 "/%s", three[i]);
		snprintf(p4, sizeof(p4), ADDON4 "/%s", four[j]);
		char *t3 = test_read_file(p3, &len), *t4 = test_read_file(p4, &len);
		assert_non_null(t3);
		assert_non_null(t4);
		differ += compare_twins(three[i], t3, t4, &r, false);
		free(t3);
		free(t4);
		i++;
		j++;
	}
	/* A rewrite that no line needs any more is a stale entry of the documented mapping. */
	for (size_t i = 0; i < r.n; i++)
		if (r.used[i] == 0) {
			print_error("%s lists `%s` -> `%s`, which no line of the addon needs\n", MAPPING, r.from[i], r.to[i]);
			differ++;
		}
	print_message("%zu files compared with %zu documented rewrites\n", n3, r.n);
	assert_int_equal(differ, 0);
	free_names(three, n3);
	free_names(four, n4);
	free_rules(&r);
}

/* The comparison itself finds what it must: an undocumented difference and a missing line. */
static void test_twin_comparison_finds_differences(void **state)
{
	(void)state;
	struct rules r;
	read_rules("### Anywhere in a line\n| `Pool` | `Packed` | x |\n### Whole lines\n| `tool` | `@tool` | x |\n", &r);
	assert_int_equal(r.n, 2);
	char a1[] = "tool\n\tvar b = PoolByteArray()\n", b1[] = "@tool\n\tvar b = PackedByteArray()\n";
	assert_int_equal(compare_twins("same", a1, b1, &r, true), 0);
	char a2[] = "tool\n\tvar b = PoolByteArray()\n", b2[] = "@tool\n\tvar b = PackedByteArray(1)\n";
	assert_int_equal(compare_twins("other", a2, b2, &r, true), 1);
	char a3[] = "tool\n\tvar b = 1\n", b3[] = "@tool\n";
	assert_int_equal(compare_twins("shorter", a3, b3, &r, true), 1);
	char a4[] = "\ttool\n", b4[] = "\t\t@tool\n";
	assert_int_equal(compare_twins("indent", a4, b4, &r, true), 1);
	free_rules(&r);
}

/* ---- GDScript 4 syntax ---- */

/* Runs the checker on @p target; its exit status, *out its output (malloc'd). */
static int run_checker(const char *target, char **out)
{
	char *dir = test_tmpdir("gdscript4");
	char cmd[8192], path[4096];
	snprintf(path, sizeof(path), "%s/out", dir);
	snprintf(cmd, sizeof(cmd), "timeout 60 node tools/gdscript4/check.js %s > %s 2>&1", target, path);
	int rc = system(cmd);
	size_t len;
	*out = test_read_file(path, &len);
	assert_non_null(*out);
	test_rmtree(dir);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool have_checker(void)
{
	if (!test_have("command -v node >/dev/null 2>&1", "node (Node.js)"))
		return false;
	char *out;
	int rc = run_checker(ADDON4, &out);
	free(out);
	return rc != 77 || test_have("false", "the npm packages tree-sitter and tree-sitter-gdscript (tools/gdscript4)");
}

static void test_twin_parses_as_gdscript4(void **state)
{
	(void)state;
	if (!have_checker())
		skip();
	char *out;
	int rc = run_checker(ADDON4, &out);
	if (rc != 0) {
		print_error("tools/gdscript4/check.js " ADDON4 " exited %d:\n%s\n", rc, out);
		fail();
	}
	print_message("%s", out);
	free(out);
}

static void test_gdscript4_checker_finds_errors(void **state)
{
	(void)state;
	if (!have_checker())
		skip();
	char *dir = test_tmpdir("gdscript4-bad");
	const char bad[] = "extends Node\n\nexport var y = 2\n\nfunc f():\n\tif y\n\t\tpass\n";
	test_write_file(dir, "bad.gd", bad, sizeof(bad) - 1);
	char *out;
	int rc = run_checker(dir, &out);
	if (rc != 1 || !strstr(out, "bad.gd:6:2: syntax error") || !strstr(out, "bad.gd:3:1: Godot 3 syntax")) {
		print_error("the checker missed an error (exit %d):\n%s\n", rc, out);
		fail();
	}
	free(out);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_twin_comparison_finds_differences),
		cmocka_unit_test(test_twin_mirrors_godot3_line_for_line),
		cmocka_unit_test(test_gdscript4_checker_finds_errors),
		cmocka_unit_test(test_twin_parses_as_gdscript4),
		cmocka_unit_test(test_addon_loads_in_godot3),
		cmocka_unit_test(test_e2e_scripts_end_without_server),
		cmocka_unit_test(test_client_logic_in_godot3),
		cmocka_unit_test(test_checkpoint_in_godot3),
	};
	return cmocka_run_group_tests_name("addon", tests, NULL, NULL);
}
