/**
 * @file godot_procs.h
 * @brief What the benchmarks that run the GroveClient addon in the real engine share (grove_bench_coldstart,
 * grove_bench_e2e): whether Debian's godot3-server is installed, a Godot project made of bench/godot's
 * scripts with the addon under addons/grove, and the engine started on one of them as a child of the
 * benchmark (clusters.h: it never outlives it).
 */
#ifndef GROVE_BENCH_GODOT_PROCS_H
#define GROVE_BENCH_GODOT_PROCS_H

#include <stdbool.h>
#include <sys/types.h>

/** @brief Whether godot3-server is on PATH (Debian package godot3-server). */
bool godot_installed(void);

/**
 * @brief A fresh directory holding bench/godot's files and godot/addons/grove under addons/grove.
 * @return a malloc'd path (test_rmtree() it), or NULL (said on stderr).
 */
char *godot_bench_project(void);

/**
 * @brief Start godot3-server headless on @p script of @p project, with HOME=@p project (so that user://
 * lies inside it) and the "NAME=value" strings of @p env (NULL-terminated, may be NULL); its output is
 * appended to @p log. @return its pid, or -1.
 */
pid_t godot_spawn(const char *project, const char *script, const char *const *env, const char *log);

#endif
