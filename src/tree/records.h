/**
 * @file records.h
 * @brief Private to src/tree: the byte layout of the tree's tables and keys.
 *
 * tree.h documents the layout; this header holds the encoders and decoders
 * shared by the apply path (apply.c) and the read path (read.c). Nothing
 * outside src/tree includes it.
 */
#ifndef GROVE_TREE_RECORDS_H
#define GROVE_TREE_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/common/bytes.h"
#include "src/tree/tree.h"

/*
 * Access to one group's part of a tree table: every key is stored behind the group id (8 bytes,
 * big-endian), which these add on the way in and strip on the way out. Keys handed in must leave room
 * for it (at most STORE_KEY_MAX - 8 bytes).
 */
int tt_get(const struct tree *t, struct store_txn *txn, enum tree_table tab, const void *key, size_t len,
	   struct store_bytes *val);
int tt_put(const struct tree *t, struct store_txn *txn, enum tree_table tab, const void *key, size_t len,
	   const void *val, size_t val_len);
int tt_del(const struct tree *t, struct store_txn *txn, enum tree_table tab, const void *key, size_t len);
/** Delete every key of the group's part of @p tab that starts with @p prefix (all of it when @p len is 0). */
int tt_del_prefix(const struct tree *t, struct store_txn *txn, enum tree_table tab, const void *prefix, size_t len);
/** The u64 meta value @p name of the group (@p dflt if absent), and its update. */
int tt_meta_get(const struct tree *t, struct store_txn *txn, const char *name, uint64_t dflt, uint64_t *value);
int tt_meta_put(const struct tree *t, struct store_txn *txn, const char *name, uint64_t value);

/** Store the u64 meta count @p name, or no record when it is 0 (so a group's records do not depend on how it came by them). */
int tt_meta_put_count(const struct tree *t, struct store_txn *txn, const char *name, uint64_t value);

/** The text meta value @p name of the group, malloc'd in @p *out (NULL if absent). */
int tt_meta_get_text(const struct tree *t, struct store_txn *txn, const char *name, char **out);
int tt_meta_put_text(const struct tree *t, struct store_txn *txn, const char *name, const char *value);

/** A u64 keyed by node id in @p tab (tree.mounts, tree.moved). @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ECORRUPT, GROVE_ESTORAGE. */
int tt_get_id_u64(const struct tree *t, struct store_txn *txn, enum tree_table tab, uint64_t id, uint64_t *value);
int tt_put_id_u64(const struct tree *t, struct store_txn *txn, enum tree_table tab, uint64_t id, uint64_t value);

/** Whether node @p id is the group's own: there, and not a mount point of another shard's root. @return GROVE_OK, GROVE_ECORRUPT, GROVE_ESTORAGE. */
int tt_own_node(const struct tree *t, struct store_txn *txn, uint64_t id, bool *own);

/** The id of the group's top node: TREE_ROOT_ID, or a shard's root. */
int tree_top(const struct tree *t, struct store_txn *txn, uint64_t *top);

/**
 * The mount point of another shard that @p path is at or below: its group and path (malloc'd in @p *mount_path).
 * @return GROVE_OK, GROVE_ENOTFOUND (none), GROVE_ENOMEM, GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int mount_above(const struct tree *t, struct store_txn *txn, const char *path, uint64_t *group, char **mount_path);

/** A cursor over one group's part of a table; it ends (GROVE_ENOTFOUND) at the group's last key. */
struct tt_cursor;
int tt_cursor_open(const struct tree *t, struct store_txn *txn, enum tree_table tab, struct tt_cursor **out);
void tt_cursor_close(struct tt_cursor *c);
/** First key >= @p key (the group's first key when @p len is 0); @p key_out is stripped of the group. */
int tt_seek(struct tt_cursor *c, const void *key, size_t len, struct store_bytes *key_out, struct store_bytes *val_out);
int tt_next(struct tt_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out);
int tt_prev(struct tt_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out);
/** The group's last key. */
int tt_last(struct tt_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out);

/** Spacing between sibling order keys, so most inserts need no renumbering. */
#define ORDER_GAP (1ull << 20)

/** A node record with its strings copied out of the store (owned). */
struct node_rec {
	uint64_t parent;        /* parent id, 0 for the root */
	uint64_t order;         /* order key among the siblings */
	uint32_t next_seq;      /* next sequence number for a property or group */
	char *name;             /* owned */
	char *class_name;       /* owned */
	char *instance;         /* owned, "" when not instanced */
};

/** Bounds-checked reader over a stored value. */
struct rec_reader {
	const uint8_t *p;   /* next byte */
	const uint8_t *end; /* one past the last byte */
	bool bad;           /* a read ran past the end, or a copy failed */
	bool oom;           /* a copy failed for lack of memory */
};

uint64_t rec_u64(struct rec_reader *r);
uint32_t rec_u32(struct rec_reader *r);
uint8_t rec_u8(struct rec_reader *r);
/** A length-prefixed string, borrowed from the record; sets r->bad if truncated. */
const char *rec_str(struct rec_reader *r, uint32_t *len);

/** Append a string as u32 big-endian length + bytes (NULL is ""). */
void buf_str(struct grove_buf *b, const char *s);

/** Release a node record's strings. */
void node_rec_free(struct node_rec *n);

/**
 * Read node @p id. @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ECORRUPT,
 * GROVE_ENOMEM, GROVE_ESTORAGE.
 */
int node_rec_load(const struct tree *t, struct store_txn *txn, uint64_t id, struct node_rec *out);

/** Write node @p id. @return GROVE_OK, GROVE_ENOMEM, GROVE_ESTORAGE. */
int node_rec_store(const struct tree *t, struct store_txn *txn, uint64_t id, const struct node_rec *n);

/**
 * Build "id + name" into @p key (capacity 8 + TREE_TEXT_MAX). @return the key
 * length.
 */
size_t id_name_key(uint8_t *key, uint64_t id, const char *name);

/** Build "a + b" (two big-endian u64) into @p key; returns 16. */
size_t id_pair_key(uint8_t *key, uint64_t a, uint64_t b);

/** Whether a stored key starts with the 8-byte big-endian @p id. */
bool key_has_id_prefix(const struct store_bytes *key, uint64_t id);

/** A connection record decoded from STORE_CONNS; strings and binds are owned. */
struct conn_rec {
	uint64_t from;       /* source node */
	uint64_t to;         /* target node */
	uint32_t flags;      /* Godot ConnectFlags */
	char *signal;        /* owned */
	char *method;        /* owned */
	struct variant binds;/* owned */
};

void conn_rec_free(struct conn_rec *c);
int conn_rec_load(const struct tree *t, struct store_txn *txn, uint64_t id, struct conn_rec *out);
/* A connection record's value (tree.conns) decoded. @return GROVE_OK, GROVE_ECORRUPT, GROVE_ENOMEM. */
int conn_rec_decode(const void *val, size_t len, struct conn_rec *out);

/** A resource record decoded from STORE_RESOURCES; everything is owned. */
struct resource_rec {
	uint8_t kind;          /* enum tree_resource_kind */
	char *type;            /* owned */
	char *path;            /* owned */
	char *uid;             /* owned */
	char *local_id;        /* owned */
	struct variant props;  /* owned */
};

void resource_rec_free(struct resource_rec *r);
int resource_rec_load(const struct tree *t, struct store_txn *txn, uint64_t id, struct resource_rec *out);

/*
 * Carried bytes (tree_carry_gather()): a header (format, root, its parent before, node count) and records
 * `u8 table | u32 key length | key | u32 value length | value` (little-endian lengths, keys without the group
 * id): per node its record and then its own children, order, properties, groups and connection index
 * entries, the root first; then its connections (those with a node outside the subtree too: one end is
 * carried) and the resources it refers to.
 */
struct carried {
	uint64_t root;          /* the subtree's root */
	uint64_t old_parent;    /* its parent in the group it left */
	uint64_t nodes;         /* how many nodes */
	const uint8_t *records; /* the records (borrowed) */
	size_t len;             /* their bytes */
};

/* One carried record, borrowed from the carried bytes. */
struct carried_record {
	enum tree_table table;
	const uint8_t *key;
	uint32_t key_len;
	const uint8_t *val;
	uint32_t val_len;
};

/*
 * Check carried bytes whole: the format, every record well formed and in a table a carry holds, each
 * belonging to a carried node (so that loading them writes nothing else), the node count.
 * @return GROVE_OK, GROVE_ECORRUPT, GROVE_ENOMEM.
 */
int carried_parse(const uint8_t *data, size_t len, struct carried *out);

/* The record at offset *@p at of checked carried bytes, and the offset after it. @return GROVE_OK, GROVE_ECORRUPT. */
int carried_next(const struct carried *c, size_t *at, struct carried_record *r);

/* The ends of carried connection record @p r (tree.conns). @return GROVE_OK, GROVE_ECORRUPT. */
int carried_conn_ends(const struct carried_record *r, uint64_t *from, uint64_t *to);

#endif
