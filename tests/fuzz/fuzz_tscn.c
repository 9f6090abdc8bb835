/* Fuzz target: the .tscn reader, the import planner and the writer. A scene that reads must plan (or be
 * refused cleanly) and must write and read back. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "godot/scene.h"
#include "godot/tscn.h"
#include "src/common/error.h"

static const char builtin_scene[] =
	"[gd_scene load_steps=3 format=3 uid=\"uid://c1\"]\n\n"
	"[ext_resource type=\"PackedScene\" path=\"res://gun.tscn\" id=\"1_a\"]\n\n"
	"[sub_resource type=\"BoxShape3D\" id=\"Box_1\"]\nsize = Vector3(1, 2, 3)\n\n"
	"[node name=\"P\" type=\"Node3D\" groups=[\"g\"]]\n\n"
	"[node name=\"Gun\" parent=\".\" instance=ExtResource(\"1_a\")]\n\n"
	"[node name=\"F\" type=\"Node\" parent=\"Gun/Barrel\"]\nshape = SubResource(\"Box_1\")\n\n"
	"[connection signal=\"s\" from=\"Gun\" to=\".\" method=\"m\" binds=[1]]\n\n"
	"[editable path=\"Gun\"]\n";

/* The built-in scene, then up to 24 corpus scenes when the corpus is there. */
int grove_fuzz_seed(size_t i, struct grove_buf *out)
{
	if (i == 0) {
		grove_buf_put(out, builtin_scene, sizeof(builtin_scene) - 1);
		return 1;
	}
	const char *dirs[] = {"../shared/corpus/godot4", "../shared/corpus/godot3"};
	size_t want = i - 1, seen = 0;
	for (size_t d = 0; d < 2 && want < 24; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *e;
		while (dir && (e = readdir(dir)) != NULL) {
			if (!strstr(e->d_name, ".tscn") || seen++ / 2 != want / 2 || (seen - 1) % 2 != d)
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", dirs[d], e->d_name);
			FILE *f = fopen(path, "rb");
			char buf[65536];
			size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
			if (f)
				fclose(f);
			closedir(dir);
			grove_buf_put(out, buf, n);
			return 1;
		}
		if (dir)
			closedir(dir);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 18))
		return 0;
	struct tscn_scene scene, again;
	struct tscn_error err;
	if (tscn_parse((const char *)data, size, &scene, &err) != GROVE_OK) {
		if (err.line == 0 || !err.message[0])
			grove_fuzz_fail("a refusal without a position or message");
		return 0;
	}
	struct scene_import plan;
	char msg[256];
	if (scene_import_plan(&scene, "/root", NULL, &plan, msg, sizeof(msg)) == GROVE_OK)
		scene_import_free(&plan);
	else if (!msg[0])
		grove_fuzz_fail("a plan refused without a message");
	for (int major = 4; major >= 3; major--) {
		struct grove_buf out = {0};
		if (tscn_write(&scene, major, &out) == GROVE_OK) {
			if (tscn_parse((const char *)out.data, out.len, &again, &err) != GROVE_OK)
				grove_fuzz_fail("a written scene does not read back");
			if (again.count != scene.count)
				grove_fuzz_fail("a written scene lost sections");
			tscn_scene_free(&again);
		}
		grove_buf_free(&out);
	}
	tscn_scene_free(&scene);
	return 0;
}
