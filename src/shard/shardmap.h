/**
 * @file shardmap.h
 * @brief The shard map: which Raft group holds which subtree of the world,
 * as a pure, deterministic state machine (tla/membership/Shards.tla,
 * variable `owner`).
 *
 * A shard is the subtree under a root path ("/root/World/ZoneA") that one
 * Raft group holds, minus the subtrees of shards whose roots lie below it.
 * The world's group holds "/root" and everything no other shard claims.
 * Lookup is by longest prefix, component by component: "/root/A/B/C" is in
 * the shard of "/root/A/B" if there is one, else of "/root/A", else of
 * "/root". Only ACTIVE entries count for lookup.
 *
 * The map is the meta group's state: it changes only by commands applied in
 * that group's log order (shard_map_apply()), identically on every member.
 * A split takes three committed steps across two logs:
 *   1. START_SPLIT (meta log, the spec's StartSplit): validate the path,
 *      allocate the new group id (ids are never reused) and record the
 *      split as SPLITTING, from the group that holds the path now;
 *   2. the source group's own log moves the subtree's records into the new
 *      group (src/tree/tree.h, tree_split(): the spec's Freeze, CopyState and
 *      Release as one atomic apply);
 *   3. SWITCH (meta log, the spec's SwitchMap): the entry becomes ACTIVE and
 *      requests for the subtree are routed to the new group. Or ABORT, when
 *      the source refused the split (no such node, a connection crossing
 *      the subtree's edge): the entry goes, its group id is not reused.
 * Between 2 and 3 the map still routes to the source, which answers "moved"
 * (GROVE_EMOVED): the map is a routing directory that may lag, as a client's
 * cache may in the spec; the groups' own state decides who accepts a write.
 *
 * Every entry also lists the group's members (today every server is a
 * member of every group: the meta group's voters when the split started).
 *
 * Encoding (map and commands), little-endian: see shardmap.c. Nothing here
 * allocates except the map's own entries and what the decoders return.
 */
#ifndef GROVE_SHARD_SHARDMAP_H
#define GROVE_SHARD_SHARDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/common/buf.h"

/** Longest shard root path in bytes. */
#define SHARD_PATH_MAX 1024
/** Most members of one group. */
#define SHARD_MAX_MEMBERS 16
/** Most entries of a map (shards, the world and running splits included). */
#define SHARD_MAP_MAX 65536

/** Where an entry stands. */
enum shard_state {
	SHARD_ACTIVE = 1,    /**< requests for the subtree go to the group */
	SHARD_SPLITTING = 2  /**< the split was started; the source still routes */
};

/** One shard. */
struct shard_entry {
	char *path;                           /**< root path, canonical ("/root/A"); owned */
	uint64_t group;                       /**< the group that holds it */
	uint64_t source;                      /**< the group it split from (0 for the world's) */
	enum shard_state state;               /**< active or splitting */
	uint64_t split_index;                 /**< the source's log index that applied the split (0 if none yet) */
	size_t n_members;                     /**< members below */
	uint64_t members[SHARD_MAX_MEMBERS];  /**< server ids of the group's voters */
};

/** The map. Fill with shard_map_init(); release with shard_map_free(). */
struct shard_map {
	struct shard_entry *entries; /**< sorted by path (strcmp); owned */
	size_t n;                    /**< entries */
	size_t cap;                  /**< allocated entries */
	uint64_t next_group;         /**< the id the next split gets */
};

/** Meta-log commands (the first byte of their encoding). */
enum shard_cmd_kind {
	SHARD_CMD_START_SPLIT = 1, /**< path, members */
	SHARD_CMD_SWITCH = 2,      /**< group, split_index */
	SHARD_CMD_ABORT = 3        /**< group, code, reason */
};

/** A decoded command; strings borrow from the bytes decoded. */
struct shard_cmd {
	enum shard_cmd_kind kind;             /**< what to do */
	const char *path;                     /**< START_SPLIT: the subtree's root (NUL-terminated copy below) */
	uint64_t group;                       /**< SWITCH, ABORT: the split's group */
	uint64_t split_index;                 /**< SWITCH: where the source applied it */
	uint32_t code;                        /**< ABORT: the source's refusal (enum grove_err) */
	const char *reason;                   /**< ABORT: why the source refused, one line */
	size_t n_members;                     /**< START_SPLIT: members of the new group */
	uint64_t members[SHARD_MAX_MEMBERS];  /**< their ids */
	char text[SHARD_PATH_MAX + 1];        /**< storage for path or reason */
};

/**
 * @brief A map whose only shard is the world ("/root" -> @p world_group,
 * with @p n members @p members); split groups are numbered from
 * @p first_group on.
 * @return GROVE_OK, GROVE_EINVAL (too many members, group ids 0), GROVE_ENOMEM.
 */
int shard_map_init(struct shard_map *m, uint64_t world_group, uint64_t first_group, const uint64_t *members, size_t n);

/** @brief Release the entries. Safe on a zeroed map. */
void shard_map_free(struct shard_map *m);

/**
 * @brief Whether @p path is a canonical absolute node path: "/root" or
 * "/root/" followed by names separated by single slashes, no "." or ".."
 * component, no trailing slash, at most SHARD_PATH_MAX bytes.
 */
bool shard_path_canonical(const char *path);

/** @brief Whether @p path is @p root or below it (component-wise: "/root/AB" is not below "/root/A"). */
bool shard_path_within(const char *path, const char *root);

/**
 * @brief The active shard holding @p path: the entry of the longest root
 * that @p path is within. @p path need not be canonical (a trailing slash
 * and repeated slashes are ignored). Borrowed; valid until the map changes.
 * @return the entry, or NULL when @p path is not under "/root".
 */
const struct shard_entry *shard_map_lookup(const struct shard_map *m, const char *path);

/**
 * @brief A split that has not switched the map yet (SPLITTING) of the subtree
 * at @p path or of one holding it: until it switches, lookups route the
 * subtree to the group the split leaves, which may hold only the split's
 * mount point once it applied the split. @p path need not be canonical.
 * Borrowed; valid until the map changes. @return the entry, or NULL.
 */
const struct shard_entry *shard_map_split_over(const struct shard_map *m, const char *path);

/** @brief The entry of group @p group, or NULL. Borrowed. */
const struct shard_entry *shard_map_find_group(const struct shard_map *m, uint64_t group);

/** @brief Whether a split is running (an entry is SPLITTING). */
bool shard_map_has_splits(const struct shard_map *m);

/** @brief The splitting entry whose source is @p group, or NULL (at most one: see shard_map_start_split()). */
const struct shard_entry *shard_map_split_of(const struct shard_map *m, uint64_t group);

/**
 * @brief StartSplit: record a split of the subtree at @p path, from the
 * active shard that holds it now, into a new group whose members are
 * @p members; the group id goes to @p *group.
 * @param why one line when refused.
 * @return GROVE_OK; refusals that change nothing: GROVE_EINVAL (not a
 * canonical path, too many members), GROVE_EROOT ("/root": the world's
 * root stays the world's), GROVE_EEXIST (already a shard root, or a split of
 * that path is running), GROVE_EUNAVAILABLE (another split of the same
 * source group is running: retry once it finished), GROVE_ETOOBIG (the map
 * is full); GROVE_ENOMEM.
 */
int shard_map_start_split(struct shard_map *m, const char *path, const uint64_t *members, size_t n_members,
			  uint64_t *group, char *why, size_t why_cap);

/**
 * @brief SwitchMap: the source applied the split of @p group at its log
 * index @p split_index; the entry becomes active. Idempotent.
 * @return GROVE_OK, GROVE_ENOTFOUND (no such split).
 */
int shard_map_switch(struct shard_map *m, uint64_t group, uint64_t split_index);

/**
 * @brief AbortSplit: the source refused the split of @p group; the entry is
 * removed (its group id is not reused). Only a splitting entry can go.
 * @return GROVE_OK, GROVE_ENOTFOUND (no splitting entry of that group).
 */
int shard_map_abort(struct shard_map *m, uint64_t group);

/**
 * @brief Encode command @p cmd into @p out (appended).
 * @return GROVE_OK, GROVE_EINVAL (a string too long, too many members), GROVE_ENOMEM.
 */
int shard_cmd_encode(const struct shard_cmd *cmd, struct grove_buf *out);

/** @brief Decode a command. @return GROVE_OK, GROVE_ECORRUPT (malformed). */
int shard_cmd_decode(const uint8_t *data, size_t len, struct shard_cmd *out);

/**
 * @brief Apply one decoded command: the meta group's state transition.
 * Deterministic: the same map and command give the same map and result on
 * every member.
 * @param group START_SPLIT: receives the new group's id.
 * @return as the shard_map_* function the command names (a refusal leaves
 * the map as it was), or GROVE_ECORRUPT for an unknown kind.
 */
int shard_map_apply(struct shard_map *m, const struct shard_cmd *cmd, uint64_t *group, char *why, size_t why_cap);

/** @brief The whole map as bytes (snapshots, the store). @return GROVE_OK, GROVE_ENOMEM. */
int shard_map_encode(const struct shard_map *m, struct grove_buf *out);

/**
 * @brief Replace @p m (initialized or zeroed) with the decoded map.
 * @return GROVE_OK, GROVE_ECORRUPT (malformed, unsorted or duplicate paths;
 * @p m unchanged), GROVE_ENOMEM.
 */
int shard_map_decode(struct shard_map *m, const uint8_t *data, size_t len);

#endif
