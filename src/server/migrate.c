#include "src/server/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/common/bytes.h"
#include "src/common/error.h"
#include "src/server/log.h"
#include "src/tree/tree.h"
#include "storage/wal.h"

/* The databases of the layout from before groups, in the order of their old table numbers (tree_dump's then:
 * the tables that shards added since did not exist). */
#define OLD_TREE_TABLES 9
static const char *const old_tree_tables[OLD_TREE_TABLES] = {
	"meta", "nodes", "children", "order", "props", "groups", "conns", "conns_by_node", "resources",
};

/* What the old layout holds. */
struct legacy {
	store_db tables[OLD_TREE_TABLES];
	store_db raft_log, raft_state;
	bool has_raft_log, has_raft_state;
};

/* An old u64: a meta value (native byte order, written by memcpy) or a Raft state field (big-endian). */
static uint64_t old_meta_u64(struct store_txn *txn, store_db meta, const char *name)
{
	struct store_bytes v;
	uint64_t value = 0;
	if (store_get(txn, meta, name, strlen(name), &v) == GROVE_OK && v.len == 8)
		memcpy(&value, v.data, 8);
	return value;
}

static int old_state(struct store_txn *txn, const struct legacy *l, const char *name, struct store_bytes *v)
{
	if (!l->has_raft_state)
		return GROVE_ENOTFOUND;
	uint8_t key[40];
	size_t n = strlen(name);
	put_be64(key, 1);
	memcpy(key + 8, name, n);
	return store_get(txn, l->raft_state, key, 8 + n, v);
}

/* The old log's bounds: first index held, last index held, and the term of first - 1. */
static void old_bounds(struct store_txn *txn, const struct legacy *l, uint64_t *first, uint64_t *last, uint64_t *term)
{
	struct store_bytes v;
	*first = 1, *last = 0, *term = 0;
	if (old_state(txn, l, "bounds", &v) == GROVE_OK && v.len == 24) {
		*first = get_be64(v.data);
		*last = get_be64((const uint8_t *)v.data + 8);
		*term = get_be64((const uint8_t *)v.data + 16);
	}
}

/* A log kept in LMDB, as the layout before the log had a file of its own kept it: copy it into the file. */
static int move_log(struct store_txn *txn, const struct legacy *l, struct wal *wal)
{
	uint64_t first, last, snapshot_term;
	old_bounds(txn, l, &first, &last, &snapshot_term);
	struct store_bytes hv;
	struct wal_hard_state hs = {0};
	if (old_state(txn, l, "hard", &hv) == GROVE_OK && hv.len == 24)
		hs = (struct wal_hard_state){get_be64(hv.data), get_be64((const uint8_t *)hv.data + 8),
					     get_be64((const uint8_t *)hv.data + 16)};
	int err = GROVE_OK;
	if (first > 1)
		err = wal_compact(wal, 1, first - 1, snapshot_term);
	for (uint64_t i = first; !err && i <= last; i++) {
		uint8_t key[16];
		put_be64(key, 1);
		put_be64(key + 8, i);
		struct store_bytes v;
		err = store_get(txn, l->raft_log, key, sizeof(key), &v);
		if (err || v.len < 12) {
			err = GROVE_ECORRUPT;
			break;
		}
		const uint8_t *p = v.data;
		struct wal_entry e = {i, get_be64(p), get_be32(p + 8), p + 12, v.len - 12};
		err = wal_append(wal, 1, &e, 1);
	}
	if (!err)
		err = wal_set_hard_state(wal, 1, &hs);
	if (!err)
		err = wal_sync(wal);
	if (!err)
		log_line("raft: moved the log (entries %llu..%llu) from the store to its own file", (unsigned long long)first,
			 (unsigned long long)last);
	return err;
}

/*
 * A single node of the layout before groups kept no Raft log: its store is the state after `applied`
 * batches. It becomes a group of one member whose log starts after a snapshot at that index.
 */
static int start_single_log(struct wal *wal, uint64_t applied)
{
	int err = wal_compact(wal, 1, applied, 1);
	struct wal_hard_state hs = {.term = 1, .vote = 0, .commit = applied};
	if (!err)
		err = wal_set_hard_state(wal, 1, &hs);
	return err ? err : wal_sync(wal);
}

/* Remove the directory @p path and the files in it, if it is there. */
static int remove_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? GROVE_OK : GROVE_EIO;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	return rmdir(path) == 0 ? GROVE_OK : GROVE_EIO;
}

/* Make a rename to @p path durable: fsync the directory that holds it. */
static int sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char parent[4096];
	snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	int fd = open(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = fd < 0 || fsync(fd) != 0 ? GROVE_EIO : GROVE_OK;
	if (fd >= 0)
		close(fd);
	return err;
}

static int copy_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	void **c = ctx;
	return tree_load_record(c[0], c[1], table, key, key_len, val, val_len);
}

/* Copy the old tables into group 1's tree, the Raft state into group 1's, and drop the old databases. */
static int move_tables(struct store *s, store_db state_db, const struct legacy *l, bool single, uint64_t self,
		       uint64_t applied)
{
	struct tree tree;
	struct store_txn *txn;
	int err = tree_open(s, 1, &tree);
	if (!err)
		err = store_txn_begin(s, NULL, true, &txn);
	if (err)
		return err;
	void *ctx[2] = {&tree, txn};
	err = tree_load_begin(&tree, txn);
	for (unsigned t = 0; !err && t < OLD_TREE_TABLES; t++) {
		struct store_cursor *c;
		err = store_cursor_open(txn, l->tables[t], &c);
		struct store_bytes k, v;
		int at = err ? err : store_cursor_seek(c, NULL, 0, &k, &v);
		for (; !err && at == GROVE_OK; at = store_cursor_next(c, &k, &v))
			err = copy_record(ctx, t, k.data, k.len, v.data, v.len);
		store_cursor_close(c);
		if (!err && at != GROVE_ENOTFOUND)
			err = at;
	}
	if (!err)
		err = tree_load_end(&tree, txn);
	if (!err)
		err = groupstate_put_applied(txn, state_db, 1, applied);
	struct store_bytes v;
	if (!err && old_state(txn, l, "conf", &v) == GROVE_OK) {
		/* The same bytes as groupstate's "conf". */
		uint8_t key[12];
		put_be64(key, 1);
		memcpy(key + 8, "conf", 4);
		err = store_put(txn, state_db, key, sizeof(key), v.data, v.len);
	} else if (!err && single && applied > 0) {
		struct raft_conf conf = {.voters = {self}, .n_voters = 1};
		err = groupstate_put_conf(txn, state_db, 1, &conf);
	}
	uint64_t first, last, snapshot_term;
	old_bounds(txn, l, &first, &last, &snapshot_term);
	if (!err && first > 1)
		err = groupstate_put_snapshot(txn, state_db, 1, first - 1, snapshot_term);
	if (!err && store_get(txn, l->tables[TREE_META], "raft_members", 12, &v) == GROVE_OK) {
		/* The same format as groupstate's address book. */
		uint8_t key[15];
		put_be64(key, 0);
		memcpy(key + 8, "members", 7);
		err = store_put(txn, state_db, key, sizeof(key), v.data, v.len);
	}
	for (unsigned t = 0; !err && t < OLD_TREE_TABLES; t++)
		err = store_db_drop(txn, l->tables[t]);
	if (!err && l->has_raft_log)
		err = store_db_drop(txn, l->raft_log);
	if (!err && l->has_raft_state)
		err = store_db_drop(txn, l->raft_state);
	if (err) {
		store_txn_abort(txn);
		return err;
	}
	err = store_txn_commit(txn);
	return err ? err : store_sync(s);
}

int migrate_data_dir(struct store *s, store_db state_db, const char *log_dir, const struct membership *founders,
		     uint64_t self)
{
	struct legacy l = {0};
	for (unsigned t = 0; t < OLD_TREE_TABLES; t++) {
		int err = store_db_open(s, old_tree_tables[t], false, &l.tables[t]);
		if (err == GROVE_ENOTFOUND)
			return t == 0 ? GROVE_OK : GROVE_ECORRUPT; /* the old layout is all there or not at all */
		if (err)
			return err;
	}
	l.has_raft_log = store_db_open(s, "raft_log", false, &l.raft_log) == GROVE_OK;
	l.has_raft_state = store_db_open(s, "raft_state", false, &l.raft_state) == GROVE_OK;
	struct store_txn *txn;
	int err = store_txn_begin(s, NULL, false, &txn);
	if (err)
		return err;
	uint64_t applied = old_meta_u64(txn, l.tables[TREE_META], "applied_index");
	struct store_bytes conf;
	bool replicated = old_state(txn, &l, "conf", &conf) == GROVE_OK;
	struct stat st;
	bool log_file = stat(log_dir, &st) == 0;
	bool log_in_store = false;
	uint64_t first, last, term;
	old_bounds(txn, &l, &first, &last, &term);
	log_in_store = l.has_raft_log && last >= first;
	/* Not whether the log file is there: a retry after the log was made must decide the same way. */
	bool single = !replicated && !log_in_store;
	if (single && applied > 0 && !(founders && founders->n == 1 && founders->members[0].id == self)) {
		store_txn_abort(txn);
		log_line("this data directory belongs to a single node from an older version; start it alone (without "
			 "--peers) once, then add members");
		return GROVE_EINVAL;
	}
	struct wal *wal = NULL;
	struct wal_contents contents = {0};
	if (!log_file && (log_in_store || (single && applied > 0))) {
		/*
		 * Written beside its place and renamed into it: the log directory is there only once whole. A
		 * first attempt that failed (a full disk) or crashed leaves the aside copy, which is started
		 * over; had it left a half log in place, the next attempt would take it for the moved log and
		 * drop the only copy.
		 */
		char aside[4096];
		snprintf(aside, sizeof(aside), "%s.new", log_dir);
		err = remove_dir(aside);
		if (!err)
			err = wal_open(&wal, aside, &contents);
		if (!err)
			err = log_in_store ? move_log(txn, &l, wal) : start_single_log(wal, applied);
		wal_contents_free(&contents);
		wal_close(wal);
		if (!err)
			err = rename(aside, log_dir) == 0 ? sync_parent(log_dir) : GROVE_EIO;
	}
	store_txn_abort(txn);
	if (!err)
		err = move_tables(s, state_db, &l, single, self, applied);
	if (!err)
		log_line("moved the data of an older version into group %d's tables (applied index %llu)", 1,
			 (unsigned long long)applied);
	return err;
}
