#include "src/server/groupstate.h"

#include <string.h>

#include "src/common/bytes.h"
#include "src/common/error.h"

/* The key of @p name of @p group; returns its length. */
static size_t key_of(uint64_t group, const char *name, uint8_t out[32])
{
	size_t n = strlen(name);
	put_be64(out, group);
	memcpy(out + 8, name, n);
	return 8 + n;
}

int groupstate_open(struct store *s, store_db *out)
{
	return store_db_open(s, "group.state", true, out);
}

int groupstate_get_applied(struct store_txn *txn, store_db db, uint64_t group, uint64_t *applied)
{
	uint8_t k[32];
	return store_get_u64(txn, db, k, key_of(group, "applied", k), 0, applied);
}

int groupstate_put_applied(struct store_txn *txn, store_db db, uint64_t group, uint64_t applied)
{
	uint8_t k[32];
	return store_put_u64(txn, db, k, key_of(group, "applied", k), applied);
}

int groupstate_get_conf(struct store_txn *txn, store_db db, uint64_t group, struct raft_conf *conf)
{
	uint8_t k[32];
	struct store_bytes v;
	int err = store_get(txn, db, k, key_of(group, "conf", k), &v);
	if (err)
		return err;
	memset(conf, 0, sizeof(*conf));
	const uint8_t *p = v.data;
	size_t pos = 0;
	uint64_t *lists[2] = {conf->voters, conf->learners};
	size_t *counts[2] = {&conf->n_voters, &conf->n_learners};
	for (int l = 0; l < 2; l++) {
		if (v.len - pos < 4)
			return GROVE_ECORRUPT;
		uint32_t n = get_le32(p + pos);
		pos += 4;
		if (n > RAFT_MAX_MEMBERS || v.len - pos < (size_t)n * 8)
			return GROVE_ECORRUPT;
		for (uint32_t i = 0; i < n; i++, pos += 8)
			lists[l][i] = get_le64(p + pos);
		*counts[l] = n;
	}
	return pos == v.len && conf->n_voters + conf->n_learners <= RAFT_MAX_MEMBERS ? GROVE_OK : GROVE_ECORRUPT;
}

int groupstate_put_conf(struct store_txn *txn, store_db db, uint64_t group, const struct raft_conf *conf)
{
	uint8_t v[8 + 16 * RAFT_MAX_MEMBERS];
	size_t n = 0;
	put_le32(v + n, (uint32_t)conf->n_voters);
	n += 4;
	for (size_t i = 0; i < conf->n_voters; i++, n += 8)
		put_le64(v + n, conf->voters[i]);
	put_le32(v + n, (uint32_t)conf->n_learners);
	n += 4;
	for (size_t i = 0; i < conf->n_learners; i++, n += 8)
		put_le64(v + n, conf->learners[i]);
	uint8_t k[32];
	return store_put(txn, db, k, key_of(group, "conf", k), v, n);
}

int groupstate_get_snapshot(struct store_txn *txn, store_db db, uint64_t group, uint64_t *index, uint64_t *term)
{
	uint8_t k[32];
	return store_get_u64_pair(txn, db, k, key_of(group, "snapshot", k), index, term);
}

int groupstate_put_snapshot(struct store_txn *txn, store_db db, uint64_t group, uint64_t index, uint64_t term)
{
	uint8_t k[32];
	return store_put_u64_pair(txn, db, k, key_of(group, "snapshot", k), index, term);
}

int groupstate_load_members(struct store_txn *txn, store_db db, struct membership *book)
{
	uint8_t k[32];
	struct store_bytes v;
	int err = store_get(txn, db, k, key_of(0, "members", k), &v);
	if (err)
		return err == GROVE_ENOTFOUND ? GROVE_OK : err;
	const uint8_t *p = v.data;
	size_t pos = 0;
	while (pos + 9 <= v.len) {
		uint64_t id = get_le64(p + pos);
		size_t alen = p[pos + 8];
		if (pos + 9 + alen > v.len)
			break;
		membership_add(book, id, (const char *)p + pos + 9, alen);
		pos += 9 + alen;
	}
	return GROVE_OK;
}

int groupstate_save_members(struct store_txn *txn, store_db db, const struct membership *book)
{
	uint8_t v[RAFT_MAX_MEMBERS * (9 + MEMBER_ADDRESS_MAX)];
	size_t n = 0;
	for (size_t i = 0; i < book->n; i++) {
		size_t alen = strlen(book->members[i].address);
		put_le64(v + n, book->members[i].id);
		v[n + 8] = (uint8_t)alen;
		memcpy(v + n + 9, book->members[i].address, alen);
		n += 9 + alen;
	}
	uint8_t k[32];
	return store_put(txn, db, k, key_of(0, "members", k), v, n);
}

bool groupstate_any_applied(struct store *s, store_db db)
{
	struct store_txn *txn;
	if (store_txn_begin(s, NULL, false, &txn) != GROVE_OK)
		return true;
	struct store_cursor *c;
	bool any = true;
	if (store_cursor_open(txn, db, &c) == GROVE_OK) {
		any = false;
		struct store_bytes k, v;
		for (int err = store_cursor_seek(c, NULL, 0, &k, &v); !any && err == GROVE_OK;
		     err = store_cursor_next(c, &k, &v))
			any = k.len == 15 && memcmp((const uint8_t *)k.data + 8, "applied", 7) == 0 && v.len == 8 &&
			      get_le64(v.data) > 0;
		store_cursor_close(c);
	}
	store_txn_abort(txn);
	return any;
}

int groupstate_list(struct store_txn *txn, store_db db, uint64_t *ids, size_t cap, size_t *n)
{
	*n = 0;
	struct store_cursor *c;
	int err = store_cursor_open(txn, db, &c);
	if (err)
		return err;
	uint64_t last = 0;
	struct store_bytes k, v;
	for (err = store_cursor_seek(c, NULL, 0, &k, &v); err == GROVE_OK; err = store_cursor_next(c, &k, &v)) {
		if (k.len < 8)
			continue;
		uint64_t group = get_be64(k.data);
		const char *name = (const char *)k.data + 8;
		size_t len = k.len - 8;
		bool state = (len == 4 && memcmp(name, "conf", 4) == 0) || (len == 7 && memcmp(name, "applied", 7) == 0);
		if (group == 0 || group == last || !state)
			continue;
		if (*n < cap)
			ids[*n] = group;
		(*n)++;
		last = group;
	}
	store_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}
