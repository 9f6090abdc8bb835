#include "godot_project.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#define ADDON3 "godot/addons/grove"
#define PROJECT "tests/addon/project"

bool test_have(const char *command, const char *what)
{
	if (system(command) == 0)
		return true;
	const char *ci = getenv("CI");
	if (ci && strcmp(ci, "true") == 0) {
		print_error("%s: not installed; CI must run the addon tests (tools/setup.sh installs it)\n", what);
		fail();
	}
	print_message("%s: not installed; skipping\n", what);
	return false;
}

bool godot_available(void)
{
	return test_have("command -v " GODOT " >/dev/null 2>&1", GODOT);
}

char *godot_project_make(void)
{
	char *dir = test_tmpdir("addon");
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "cp -R " PROJECT "/. %s/ && mkdir -p %s/addons && cp -R " ADDON3 " %s/addons/", dir,
		 dir, dir);
	assert_int_equal(system(cmd), 0);
	return dir;
}

void godot_check_text(const char *name, const char *got, const char *want_name, const char *want)
{
	if (strcmp(got, want) == 0)
		return;
	const char *a = got, *b = want;
	size_t line = 1;
	while (*a && *a == *b) {
		line += *a == '\n';
		a++;
		b++;
	}
	while (a > got && a[-1] != '\n') {
		a--;
		b--;
	}
	print_error("%s differs from %s at line %zu:\n  got:  %.200s\n  want: %.200s\nwhole of %s:\n%s\n", name, want_name,
		    line, a, b, name, got);
	fail();
}
