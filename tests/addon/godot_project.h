/**
 * @file godot_project.h
 * @brief What the addon's tests share: whether the engine (Debian's
 * godot3-server) is installed, a Godot project holding the test project and
 * the Godot 3 addon, and comparing what Godot wrote with what it should be.
 */
#ifndef GROVE_TESTS_GODOT_PROJECT_H
#define GROVE_TESTS_GODOT_PROJECT_H

#include <stdbool.h>

#define GODOT "godot3-server"

/**
 * @brief Whether the shell test @p command finds the tool @p what; without
 * it, a message (the caller skips), or a failure when CI=true.
 */
bool test_have(const char *command, const char *what);

/** @brief test_have() for godot3-server. */
bool godot_available(void);

/** @brief A fresh directory holding tests/addon/project with the addon in addons/grove (malloc'd path). */
char *godot_project_make(void);

/** @brief Fail, showing the first line that differs, unless @p got (of @p name) equals @p want (of @p want_name). */
void godot_check_text(const char *name, const char *got, const char *want_name, const char *want);

#endif
