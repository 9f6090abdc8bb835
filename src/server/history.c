#include "src/server/history.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/bytes.h"
#include "src/common/error.h"

#define DEFAULT_MAX_ENTRIES 100000
#define DEFAULT_MAX_BYTES (64ull << 20)
/* A trim drops what is over the retention and this fraction of it more. */
#define TRIM_SLACK 256
/* The totals' key sorts after every index of the group. */
#define TOTALS_INDEX UINT64_MAX
/* Where older records had their count of changes (never this large): a record with path steps. */
#define HISTORY_STEPS_MARK UINT32_MAX
/* In a change's operation byte: the change is carried (operations stay far below it). */
#define HISTORY_CARRIED 0x80u
/* First u32 of a record that names the transaction it applied a part of. */
#define HISTORY_TXN_MARK (UINT32_MAX - 1)

int history_open(struct store *s, uint64_t max_entries, uint64_t max_bytes, struct history *out)
{
	out->max_entries = max_entries ? max_entries : DEFAULT_MAX_ENTRIES;
	out->max_bytes = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
	return store_db_open(s, "history", true, &out->db);
}

static void key_of(uint64_t group, uint64_t index, uint8_t out[16])
{
	put_be64(out, group);
	put_be64(out + 8, index);
}

struct totals {
	uint64_t entries, bytes;
};

static int get_totals(const struct history *h, struct store_txn *txn, uint64_t group, struct totals *t)
{
	uint8_t k[16];
	key_of(group, TOTALS_INDEX, k);
	return store_get_u64_pair(txn, h->db, k, sizeof(k), &t->entries, &t->bytes);
}

static int put_totals(const struct history *h, struct store_txn *txn, uint64_t group, const struct totals *t)
{
	uint8_t k[16];
	key_of(group, TOTALS_INDEX, k);
	return store_put_u64_pair(txn, h->db, k, sizeof(k), t->entries, t->bytes);
}

int history_oldest(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t *oldest)
{
	*oldest = 0;
	struct store_cursor *c;
	int err = store_cursor_open(txn, h->db, &c);
	if (err)
		return err;
	uint8_t k[16];
	key_of(group, 0, k);
	struct store_bytes at;
	err = store_cursor_seek(c, k, sizeof(k), &at, NULL);
	if (!err && at.len == 16 && get_be64(at.data) == group && get_be64((const uint8_t *)at.data + 8) != TOTALS_INDEX)
		*oldest = get_be64((const uint8_t *)at.data + 8);
	store_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

/*
 * Drop @p group's oldest records, never @p index (the one just written), until the totals @p t are a little
 * under the retention: then a trim runs once in many appends rather than at every one.
 */
static int trim(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t index, struct totals *t)
{
	uint64_t entries_to = h->max_entries - h->max_entries / TRIM_SLACK, bytes_to = h->max_bytes - h->max_bytes / TRIM_SLACK;
	struct store_cursor *c;
	int err = store_cursor_open(txn, h->db, &c);
	uint8_t first[16];
	key_of(group, 0, first);
	while (!err && (t->entries > entries_to || t->bytes > bytes_to)) {
		struct store_bytes at, old;
		err = store_cursor_seek(c, first, sizeof(first), &at, &old);
		if (err || at.len != 16 || get_be64(at.data) != group)
			break;
		uint64_t oldest = get_be64((const uint8_t *)at.data + 8);
		if (oldest == TOTALS_INDEX || oldest == index)
			break;
		t->entries--;
		t->bytes -= old.len < t->bytes ? old.len : t->bytes;
		err = store_cursor_del(c);
	}
	store_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

int history_append(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t index, const void *bytes,
		   size_t len)
{
	struct totals t;
	uint8_t k[16];
	key_of(group, index, k);
	struct store_bytes old;
	int err = get_totals(h, txn, group, &t);
	if (err)
		return err;
	if ((err = store_put_new(txn, h->db, k, sizeof(k), bytes, len, &old)) == GROVE_EEXIST) {
		/* An entry applied again after a crash replaces its own record. */
		if (t.entries && t.bytes >= old.len) {
			t.entries--;
			t.bytes -= old.len;
		}
		err = store_put(txn, h->db, k, sizeof(k), bytes, len);
	}
	t.entries++;
	t.bytes += len;
	if (!err && (t.entries > h->max_entries || t.bytes > h->max_bytes))
		err = trim(h, txn, group, index, &t);
	return err ? err : put_totals(h, txn, group, &t);
}

int history_read(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t from, size_t max_entries,
		 size_t max_bytes, int (*fn)(void *ctx, uint64_t index, const uint8_t *bytes, size_t len), void *ctx)
{
	struct store_cursor *c;
	int err = store_cursor_open(txn, h->db, &c);
	if (err)
		return err;
	uint8_t k[16];
	key_of(group, from, k);
	struct store_bytes at, v;
	size_t entries = 0, bytes = 0;
	uint64_t want = from;
	for (err = store_cursor_seek(c, k, sizeof(k), &at, &v); err == GROVE_OK && entries < max_entries &&
								   (entries == 0 || bytes + v.len <= max_bytes);
	     err = store_cursor_next(c, &at, &v)) {
		if (at.len != 16 || get_be64(at.data) != group)
			break;
		uint64_t index = get_be64((const uint8_t *)at.data + 8);
		if (index == TOTALS_INDEX)
			break;
		if (index != want) {
			err = GROVE_ERANGE; /* the history no longer holds what comes next */
			break;
		}
		err = fn(ctx, index, v.data, v.len);
		if (err)
			break;
		entries++;
		bytes += v.len;
		want++;
	}
	store_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

/* ---- the records ---- */

static void put_str(struct grove_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	grove_buf_le32(b, (uint32_t)n);
	grove_buf_put(b, s, n);
}

int history_encode(const struct tree_change *changes, size_t n, const struct tree_paths *paths,
		   const struct change_txn *txn, struct grove_buf *out)
{
	if (txn && txn->n_groups > 1) {
		grove_buf_le32(out, HISTORY_TXN_MARK);
		grove_buf_le64(out, txn->id);
		grove_buf_le32(out, (uint32_t)txn->n_groups);
		for (size_t i = 0; i < txn->n_groups; i++)
			grove_buf_le64(out, txn->groups[i]);
	}
	if (n == 0) {
		grove_buf_le32(out, 0); /* no change: the same in both layouts */
		return out->failed ? GROVE_ENOMEM : GROVE_OK;
	}
	size_t n_steps = paths ? paths->n : 0;
	grove_buf_le32(out, HISTORY_STEPS_MARK);
	grove_buf_le32(out, (uint32_t)n_steps);
	for (size_t i = 0; i < n_steps; i++) {
		grove_buf_le64(out, paths->steps[i].node);
		grove_buf_le32(out, paths->steps[i].up);
		put_str(out, paths->steps[i].name);
	}
	grove_buf_le32(out, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		const struct tree_change *c = &changes[i];
		grove_buf_u8(out, (uint8_t)((unsigned)c->op | (c->carried ? HISTORY_CARRIED : 0u)));
		grove_buf_le64(out, c->node);
		grove_buf_le64(out, c->parent);
		grove_buf_le64(out, c->old_parent);
		grove_buf_le64(out, (uint64_t)c->index);
		grove_buf_le32(out, c->flags);
		grove_buf_le32(out, c->path_step);
		grove_buf_le32(out, c->old_path_step);
		const char *strings[] = {c->name, c->old_name, c->node_class, c->text, c->instance};
		for (size_t s = 0; s < sizeof(strings) / sizeof(strings[0]); s++)
			put_str(out, strings[s]);
		grove_buf_le32(out, (uint32_t)c->value.len);
		grove_buf_put(out, c->value.data, c->value.len);
	}
	return out->failed ? GROVE_ENOMEM : GROVE_OK;
}

/* A bounds-checked reader. */
struct reader {
	const uint8_t *p, *end;
	bool bad, oom;
};

static const uint8_t *take(struct reader *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *at = r->p;
	r->p += n;
	return at;
}

static uint64_t take64(struct reader *r)
{
	const uint8_t *at = take(r, 8);
	return at ? get_le64(at) : 0;
}

static uint32_t take32(struct reader *r)
{
	const uint8_t *at = take(r, 4);
	return at ? get_le32(at) : 0;
}

/* A string, NULL when empty (absent fields were NULL when encoded). */
static char *take_str(struct reader *r)
{
	uint32_t n = take32(r);
	const uint8_t *at = take(r, n);
	if (!at || !n)
		return NULL;
	char *s = malloc(n + 1);
	if (!s) {
		r->bad = r->oom = true;
		return NULL;
	}
	memcpy(s, at, n);
	s[n] = '\0';
	return s;
}

/* A step index as read: TREE_NO_PATH, or one of the @p n_steps steps. */
static uint32_t take_step(struct reader *r, size_t n_steps)
{
	uint32_t at = take32(r);
	if (at != TREE_NO_PATH && at >= n_steps)
		r->bad = true;
	return at;
}

/* The steps of a record, before its changes. */
static void take_steps(struct reader *r, struct tree_paths *paths)
{
	uint32_t n = take32(r);
	if (n > (size_t)(r->end - r->p) / 16) {
		r->bad = true; /* every step takes at least 16 bytes */
		return;
	}
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		uint64_t node = take64(r);
		uint32_t up = take32(r);
		char *name = take_str(r);
		uint32_t at;
		int err = r->bad ? GROVE_OK : tree_paths_add(paths, node, up, name ? name : "", &at);
		r->bad |= err != GROVE_OK;
		r->oom |= err == GROVE_ENOMEM;
		free(name);
	}
}

/*
 * A path of a record written before records had steps: a whole absolute path, kept as a step of its own
 * (TREE_NO_PATH when there was none).
 */
static uint32_t take_whole_path(struct reader *r, uint64_t node, struct tree_paths *paths)
{
	char *path = take_str(r);
	uint32_t at = TREE_NO_PATH;
	if (path) {
		int err = tree_paths_add(paths, node, TREE_NO_PATH, path, &at);
		r->bad |= err != GROVE_OK;
		r->oom |= err == GROVE_ENOMEM;
		free(path);
	}
	return at;
}

/* The transaction prefix of a record, if it has one, into @p txn (NULL: skipped). @return whether it had one. */
static bool take_txn(struct reader *r, struct change_txn *txn)
{
	if ((size_t)(r->end - r->p) < 4 || get_le32(r->p) != HISTORY_TXN_MARK)
		return false;
	take32(r);
	uint64_t id = take64(r);
	uint32_t n = take32(r);
	const uint8_t *groups = n <= (size_t)(r->end - r->p) / 8 ? take(r, (size_t)n * 8) : NULL;
	r->bad |= !groups;
	if (r->bad || !txn)
		return true;
	txn->groups = malloc((n ? n : 1) * sizeof(*txn->groups));
	if (!txn->groups) {
		r->bad = r->oom = true;
		return true;
	}
	for (uint32_t i = 0; i < n; i++)
		txn->groups[i] = get_le64(groups + 8 * (size_t)i);
	txn->id = id;
	txn->n_groups = n;
	return true;
}

int history_decode(const uint8_t *bytes, size_t len, struct tree_change **out, size_t *n, struct tree_paths *paths,
		   struct change_txn *txn)
{
	struct reader r = {bytes, bytes + len, false, false};
	*out = NULL;
	*n = 0;
	memset(paths, 0, sizeof(*paths));
	struct change_txn none = {0};
	if (txn)
		*txn = none;
	if (take_txn(&r, txn) && (r.bad || r.p == r.end)) {
		if (txn)
			free(txn->groups), *txn = none;
		return r.oom ? GROVE_ENOMEM : GROVE_ECORRUPT;
	}
	len = (size_t)(r.end - r.p);
	uint32_t count = len ? take32(&r) : 0;
	bool with_steps = count == HISTORY_STEPS_MARK;
	if (with_steps) {
		take_steps(&r, paths);
		count = take32(&r);
	}
	/* A change takes at least 40 bytes (older records) or 37 (with steps). */
	struct tree_change *c = NULL;
	if (r.bad || count > len / 37)
		r.bad = true;
	else if (!(c = calloc(count ? count : 1, sizeof(*c))))
		r.bad = r.oom = true;
	size_t i = 0;
	for (; i < count && !r.bad; i++) {
		const uint8_t *op = take(&r, 1);
		c[i].op = op ? (enum tree_op_kind)(*op & ~HISTORY_CARRIED) : 0;
		c[i].carried = op && (*op & HISTORY_CARRIED);
		c[i].node = take64(&r);
		c[i].parent = take64(&r);
		c[i].old_parent = take64(&r);
		c[i].index = (int64_t)take64(&r);
		if (!with_steps)
			take64(&r); /* the old position among the siblings, which nothing reads any more */
		c[i].flags = take32(&r);
		if (with_steps) {
			c[i].path_step = take_step(&r, paths->n);
			c[i].old_path_step = take_step(&r, paths->n);
			c[i].name = take_str(&r);
			c[i].old_name = take_str(&r);
		} else {
			c[i].name = take_str(&r);
			c[i].old_name = take_str(&r);
			c[i].path_step = take_whole_path(&r, c[i].node, paths);
			c[i].old_path_step = take_whole_path(&r, c[i].node, paths);
		}
		char **strings[] = {&c[i].node_class, &c[i].text, &c[i].instance};
		for (size_t s = 0; s < sizeof(strings) / sizeof(strings[0]); s++)
			*strings[s] = take_str(&r);
		uint32_t vlen = take32(&r);
		const uint8_t *v = take(&r, vlen);
		if (v)
			grove_buf_put(&c[i].value, v, vlen);
		r.oom |= c[i].value.failed;
	}
	if (r.bad || r.p != r.end) {
		for (size_t k = 0; c && k < i; k++)
			tree_change_free(&c[k]);
		free(c);
		tree_paths_free(paths);
		if (txn)
			free(txn->groups), *txn = none;
		return r.oom ? GROVE_ENOMEM : GROVE_ECORRUPT;
	}
	*out = c;
	*n = count;
	return GROVE_OK;
}
