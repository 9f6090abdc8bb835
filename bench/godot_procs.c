/* godot3-server runs for the benchmarks (godot_procs.h). */
#include "godot_procs.h"

#include <stdio.h>
#include <stdlib.h>

#include "clusters.h"
#include "support.h"

#define MAX_ENV 16

bool godot_installed(void)
{
	return system("command -v godot3-server >/dev/null 2>&1") == 0;
}

char *godot_bench_project(void)
{
	char *dir = test_tmpdir("bench-godot");
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "cp -R '%s/bench/godot/.' '%s/' && mkdir -p '%s/addons' && cp -R '%s/godot/addons/grove' '%s/addons/'",
		 GROVE_SOURCE_DIR, dir, dir, GROVE_SOURCE_DIR, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot make the Godot project in %s\n", dir);
		test_rmtree(dir);
		return NULL;
	}
	return dir;
}

pid_t godot_spawn(const char *project, const char *script, const char *const *env, const char *log)
{
	/* env(1) sets the environment, so that bench_spawn stays a plain exec. */
	char home[4200];
	snprintf(home, sizeof(home), "HOME=%s", project);
	char *argv[MAX_ENV + 8] = {"env", home};
	int n = 2;
	for (int i = 0; env && env[i] && i < MAX_ENV; i++)
		argv[n++] = (char *)env[i];
	const char *tail[] = {"godot3-server", "--path", project, "-s", script, NULL};
	for (int i = 0; i < 6; i++)
		argv[n++] = (char *)tail[i];
	return bench_spawn(argv, log);
}
