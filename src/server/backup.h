/**
 * @file backup.h
 * @brief Backups: the snapshot files a member writes on a schedule
 * (`groved --snapshot-every`) into DATA_DIR/backups/, the list of those it
 * keeps, and their retention. The files are in the format of
 * `grove snapshot save` (storage/snapshot.h), so `grove snapshot restore`
 * loads any of them.
 *
 * A file is named backup-INDEX-TIME.snap: INDEX the applied index it holds
 * (20 digits, so names sort by index), TIME the UTC time its read began
 * (YYYYMMDDTHHMMSS.mmmZ). It is written under a temporary name (a dot in
 * front, ".tmp" after), fsynced, renamed, and the directory fsynced, so a
 * crash leaves either the whole file or a temporary one, which the next scan
 * removes. A file whose content does not verify (checksums, the index in its
 * header against its name) is logged with the reason and left out of the
 * list; it is never deleted, so that a person can look at it.
 *
 * Nothing here runs Raft or reads the store: the caller takes the snapshot
 * (host_snapshot_begin()/host_snapshot_build()) and hands it in.
 */
#ifndef GROVE_SERVER_BACKUP_H
#define GROVE_SERVER_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/snapshot.h"

/** The folder of the data directory the backups go to. */
#define BACKUP_DIR_NAME "backups"
/** Backups kept when --snapshot-keep is not given. */
#define BACKUP_DEFAULT_KEEP 5
/** Room for a backup's file name and its terminating NUL. */
#define BACKUP_NAME_MAX 64

/** One kept backup. */
struct backup_file {
	char name[BACKUP_NAME_MAX]; /**< file name within the backups folder */
	uint64_t applied_index;     /**< the applied index it holds (from its header, equal to its name's) */
	uint64_t unix_ms;           /**< UTC time its read began, ms since 1970 (from its name) */
	uint64_t size;              /**< bytes, as verified or written */
};

/** The kept backups, oldest (smallest index) first. Zero-initialize; release with backup_list_free(). */
struct backup_list {
	struct backup_file *files; /**< owned */
	size_t n, cap;
};

/**
 * @brief Parse a duration: a whole number followed by a unit, ms, s, m or h
 * (500ms, 30s, 10m, 1h).
 * @param ms receives it in milliseconds (at least 1).
 * @return GROVE_OK; GROVE_EINVAL (no number, no or an unknown unit, zero,
 * or more than fits in 64 bits of milliseconds), *ms unchanged.
 */
int backup_parse_duration(const char *text, uint64_t *ms);

/**
 * @brief The file name of a backup of @p applied_index taken at @p unix_ms.
 * @return GROVE_OK, GROVE_EINVAL (@p cap too small, or a time past year 9999).
 */
int backup_file_name(uint64_t applied_index, uint64_t unix_ms, char *out, size_t cap);

/**
 * @brief Read a backup's file name back.
 * @return true, with the index and time, if @p name is exactly what
 * backup_file_name() makes; else false.
 */
bool backup_parse_file_name(const char *name, uint64_t *applied_index, uint64_t *unix_ms);

/**
 * @brief List the backups in folder @p dir, verifying each one whole; a
 * missing folder is an empty list. Corrupt files are logged (name and
 * reason) and left out, temporary files of a write that never finished are
 * removed, other files are ignored.
 * @param out overwritten; release with backup_list_free() (also on error).
 * @return GROVE_OK, GROVE_EIO (the folder cannot be read), GROVE_ENOMEM.
 */
int backup_scan(const char *dir, struct backup_list *out);

/**
 * @brief Write @p snap to folder @p dir (created if missing) as the backup
 * of its applied index at @p unix_ms: temporary file, fsync, rename, fsync
 * of the folder. Nothing is left behind on error.
 * @param out receives the new file's entry.
 * @param why receives the reason on error (may be NULL).
 * @return GROVE_OK, GROVE_EEXIST (a backup of that name exists), GROVE_EIO.
 */
int backup_write(const char *dir, const struct snapshot *snap, uint64_t unix_ms, struct backup_file *out, char *why,
		 size_t why_cap);

/**
 * @brief Add @p file to @p list at its place by index (replacing an entry of
 * the same name).
 * @return GROVE_OK, GROVE_ENOMEM (the list is unchanged).
 */
int backup_list_add(struct backup_list *list, const struct backup_file *file);

/**
 * @brief Copy @p from into @p to (overwritten; release with backup_list_free()).
 * @return GROVE_OK, GROVE_ENOMEM (@p to is empty).
 */
int backup_list_copy(struct backup_list *to, const struct backup_list *from);

/**
 * @brief Delete the oldest backups of @p list from folder @p dir until at
 * most @p keep (at least 1) remain, each logged, then fsync the folder. A
 * file already gone counts as deleted; one that cannot be deleted stops the
 * pruning and stays in the list.
 * @return GROVE_OK, GROVE_EIO.
 */
int backup_prune(const char *dir, struct backup_list *list, size_t keep);

/** @brief Release the list's memory. */
void backup_list_free(struct backup_list *list);

#endif
