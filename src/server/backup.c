#include "src/server/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/common/error.h"
#include "src/server/log.h"

#define PREFIX "backup-"
#define SUFFIX ".snap"
#define TEMP_SUFFIX ".tmp"

int backup_parse_duration(const char *text, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	uint64_t value = 0;
	const char *p = text;
	if (!p || *p < '0' || *p > '9')
		return GROVE_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (value > (UINT64_MAX - 9) / 10)
			return GROVE_EINVAL;
		value = value * 10 + (uint64_t)(*p - '0');
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].unit) != 0)
			continue;
		if (value == 0 || value > UINT64_MAX / units[i].ms)
			return GROVE_EINVAL;
		*ms = value * units[i].ms;
		return GROVE_OK;
	}
	return GROVE_EINVAL;
}

int backup_file_name(uint64_t applied_index, uint64_t unix_ms, char *out, size_t cap)
{
	time_t seconds = (time_t)(unix_ms / 1000);
	struct tm tm;
	if (!gmtime_r(&seconds, &tm) || tm.tm_year + 1900 > 9999)
		return GROVE_EINVAL;
	int n = snprintf(out, cap, PREFIX "%020" PRIu64 "-%04d%02d%02dT%02d%02d%02d.%03uZ" SUFFIX, applied_index,
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (unsigned)(unix_ms % 1000));
	return n > 0 && (size_t)n < cap ? GROVE_OK : GROVE_EINVAL;
}

bool backup_parse_file_name(const char *name, uint64_t *applied_index, uint64_t *unix_ms)
{
	unsigned long long index;
	int year, month, day, hour, minute, second;
	unsigned millis;
	char z;
	int used = 0;
	if (strncmp(name, PREFIX, strlen(PREFIX)) != 0 ||
	    sscanf(name + strlen(PREFIX), "%20llu-%4d%2d%2dT%2d%2d%2d.%3u%c" SUFFIX "%n", &index, &year, &month, &day,
		   &hour, &minute, &second, &millis, &z, &used) != 9 ||
	    z != 'Z' || used == 0)
		return false;
	struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day, .tm_hour = hour,
			.tm_min = minute, .tm_sec = second};
	time_t seconds = timegm(&tm);
	if (seconds < 0)
		return false;
	uint64_t ms = (uint64_t)seconds * 1000 + millis;
	/* Only the exact spelling counts, so that one backup has one name. */
	char canonical[BACKUP_NAME_MAX];
	if (backup_file_name(index, ms, canonical, sizeof(canonical)) != GROVE_OK || strcmp(canonical, name) != 0)
		return false;
	*applied_index = index;
	*unix_ms = ms;
	return true;
}

void backup_list_free(struct backup_list *list)
{
	free(list->files);
	memset(list, 0, sizeof(*list));
}

int backup_list_add(struct backup_list *list, const struct backup_file *file)
{
	size_t at = 0;
	while (at < list->n && list->files[at].applied_index < file->applied_index)
		at++;
	if (at < list->n && strcmp(list->files[at].name, file->name) == 0) {
		list->files[at] = *file;
		return GROVE_OK;
	}
	if (list->n == list->cap) {
		size_t cap = list->cap ? 2 * list->cap : 8;
		struct backup_file *grown = realloc(list->files, cap * sizeof(*grown));
		if (!grown)
			return GROVE_ENOMEM;
		list->files = grown;
		list->cap = cap;
	}
	memmove(list->files + at + 1, list->files + at, (list->n - at) * sizeof(*list->files));
	list->files[at] = *file;
	list->n++;
	return GROVE_OK;
}

int backup_list_copy(struct backup_list *to, const struct backup_list *from)
{
	memset(to, 0, sizeof(*to));
	for (size_t i = 0; i < from->n; i++) {
		if (backup_list_add(to, &from->files[i]) != GROVE_OK) {
			backup_list_free(to);
			return GROVE_ENOMEM;
		}
	}
	return GROVE_OK;
}

static void join_path(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return GROVE_EIO;
	int rc = fsync(fd);
	close(fd);
	return rc == 0 ? GROVE_OK : GROVE_EIO;
}

/* Read file @p path whole (malloc'd into *data). */
static int read_whole(const char *path, uint8_t **data, size_t *len)
{
	*data = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return GROVE_EIO;
	}
	uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf)
		return GROVE_ENOMEM;
	if (got != (size_t)st.st_size) {
		free(buf);
		return GROVE_EIO;
	}
	*data = buf;
	*len = got;
	return GROVE_OK;
}

/* Verify backup @p name of folder @p dir; false (logged) if it is not a whole, matching snapshot. */
static bool verify_file(const char *dir, const char *name, uint64_t name_index, uint64_t *size)
{
	char path[4096];
	join_path(path, sizeof(path), dir, name);
	uint8_t *data = NULL;
	size_t len = 0;
	char why[200] = "";
	uint64_t index = 0;
	int err = read_whole(path, &data, &len);
	if (err) {
		snprintf(why, sizeof(why), "cannot read it: %s", err == GROVE_ENOMEM ? "out of memory" : strerror(errno));
	} else {
		err = snapshot_verify(data, len, &index, why, sizeof(why));
		free(data);
		if (err && !why[0])
			snprintf(why, sizeof(why), "%s", grove_strerror(err));
		else if (!err && index != name_index)
			snprintf(why, sizeof(why), "it holds index %" PRIu64 ", its name says %" PRIu64, index, name_index);
	}
	if (why[0]) {
		log_line("backup %s is corrupt: %s; left out of the list (not deleted)", path, why);
		return false;
	}
	*size = len;
	return true;
}

int backup_scan(const char *dir, struct backup_list *out)
{
	memset(out, 0, sizeof(*out));
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? GROVE_OK : GROVE_EIO;
	int err = GROVE_OK;
	struct dirent *e;
	while (!err && (e = readdir(d))) {
		struct backup_file f = {0};
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' && strncmp(e->d_name + 1, PREFIX, strlen(PREFIX)) == 0 &&
		    len > strlen(TEMP_SUFFIX) && strcmp(e->d_name + len - strlen(TEMP_SUFFIX), TEMP_SUFFIX) == 0) {
			char path[4096];
			join_path(path, sizeof(path), dir, e->d_name);
			log_line("removing %s: a backup whose writing never finished", path);
			unlink(path);
			continue;
		}
		if (len >= sizeof(f.name) || !backup_parse_file_name(e->d_name, &f.applied_index, &f.unix_ms))
			continue;
		memcpy(f.name, e->d_name, len + 1);
		if (verify_file(dir, f.name, f.applied_index, &f.size))
			err = backup_list_add(out, &f);
	}
	closedir(d);
	if (err)
		backup_list_free(out);
	return err;
}

/* Write all of @p data to @p fd and fsync it. */
static int write_all(int fd, const uint8_t *data, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return GROVE_EIO;
		done += (size_t)n;
	}
	return fsync(fd) == 0 ? GROVE_OK : GROVE_EIO;
}

int backup_write(const char *dir, const struct snapshot *snap, uint64_t unix_ms, struct backup_file *out, char *why,
		 size_t why_cap)
{
	memset(out, 0, sizeof(*out));
	if (backup_file_name(snap->applied_index, unix_ms, out->name, sizeof(out->name)) != GROVE_OK)
		return grove_say(GROVE_EIO, why, why_cap, "no file name for time %" PRIu64, unix_ms);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return grove_say(GROVE_EIO, why, why_cap, "cannot create %s: %s", dir, strerror(errno));
	char path[4096], temp[4096], temp_name[BACKUP_NAME_MAX + 8];
	join_path(path, sizeof(path), dir, out->name);
	snprintf(temp_name, sizeof(temp_name), ".%s" TEMP_SUFFIX, out->name);
	join_path(temp, sizeof(temp), dir, temp_name);
	if (access(path, F_OK) == 0)
		return grove_say(GROVE_EEXIST, why, why_cap, "%s exists", path);
	int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return grove_say(GROVE_EIO, why, why_cap, "cannot create %s: %s", temp, strerror(errno));
	int err = write_all(fd, snap->data, snap->len);
	if (close(fd) != 0)
		err = GROVE_EIO;
	if (err)
		grove_say(err, why, why_cap, "cannot write %s: %s", temp, strerror(errno));
	if (!err && rename(temp, path) != 0)
		err = grove_say(GROVE_EIO, why, why_cap, "cannot rename %s to %s: %s", temp, path, strerror(errno));
	if (err) {
		unlink(temp);
		return err;
	}
	if (fsync_dir(dir) != GROVE_OK) {
		grove_say(GROVE_EIO, why, why_cap, "cannot fsync %s: %s", dir, strerror(errno));
		unlink(path);
		return GROVE_EIO;
	}
	out->applied_index = snap->applied_index;
	out->unix_ms = unix_ms;
	out->size = snap->len;
	return GROVE_OK;
}

int backup_prune(const char *dir, struct backup_list *list, size_t keep)
{
	if (keep < 1)
		keep = 1;
	size_t removed = 0;
	int err = GROVE_OK;
	while (list->n - removed > keep) {
		char path[4096];
		join_path(path, sizeof(path), dir, list->files[removed].name);
		if (unlink(path) != 0 && errno != ENOENT) {
			log_line("cannot delete the old backup %s: %s", path, strerror(errno));
			err = GROVE_EIO;
			break;
		}
		log_line("deleted the old backup %s (keeping the newest %zu)", path, keep);
		removed++;
	}
	memmove(list->files, list->files + removed, (list->n - removed) * sizeof(*list->files));
	list->n -= removed;
	if (removed && fsync_dir(dir) != GROVE_OK && !err)
		err = GROVE_EIO;
	return err;
}
