/*
 * The shard map. Encodings, little-endian:
 * - map:     u8 format (1), u64 next_group, u32 count, then per entry (sorted by path):
 *            u32 path length, path, u64 group, u64 source, u8 state, u64 split_index,
 *            u8 members, members x u64
 * - command: u8 kind, then
 *            START_SPLIT: u32 path length, path, u8 members, members x u64
 *            SWITCH:      u64 group, u64 split_index
 *            ABORT:       u64 group, u32 code, u32 reason length, reason
 */
#include "src/shard/shardmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/bytes.h"
#include "src/common/error.h"
#include "src/common/grow.h"

#define MAP_FORMAT 1

/* ---- paths ---- */

bool shard_path_canonical(const char *path)
{
	size_t n = strlen(path);
	if (n > SHARD_PATH_MAX || strncmp(path, "/root", 5) != 0 || (path[5] != '\0' && path[5] != '/'))
		return false;
	for (const char *p = path + 5; *p;) {
		/* At a '/': a non-empty component follows, not "." or "..". */
		const char *start = p + 1;
		const char *end = strchr(start, '/');
		size_t len = end ? (size_t)(end - start) : strlen(start);
		if (len == 0 || (len == 1 && start[0] == '.') || (len == 2 && start[0] == '.' && start[1] == '.'))
			return false;
		p = start + len;
	}
	return true;
}

bool shard_path_within(const char *path, const char *root)
{
	size_t n = strlen(root);
	return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* ---- the map ---- */

static void entry_free(struct shard_entry *e)
{
	free(e->path);
	memset(e, 0, sizeof(*e));
}

void shard_map_free(struct shard_map *m)
{
	for (size_t i = 0; i < m->n; i++)
		entry_free(&m->entries[i]);
	free(m->entries);
	memset(m, 0, sizeof(*m));
}

/* Where @p path is, or would go, in the sorted entries. */
static size_t position_of(const struct shard_map *m, const char *path, size_t len, bool *found)
{
	size_t lo = 0, hi = m->n;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *p = m->entries[mid].path;
		int c = strncmp(p, path, len);
		if (c == 0 && p[len] != '\0')
			c = 1; /* a longer path with the same start sorts after */
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Insert @p e (its path is taken over) at its place; the path must not be there yet. */
static int insert_entry(struct shard_map *m, struct shard_entry *e)
{
	bool found;
	size_t at = position_of(m, e->path, strlen(e->path), &found);
	if (found)
		return GROVE_EEXIST;
	if (grove_grow((void **)&m->entries, &m->cap, m->n, sizeof(*m->entries)))
		return GROVE_ENOMEM;
	memmove(&m->entries[at + 1], &m->entries[at], (m->n - at) * sizeof(*m->entries));
	m->entries[at] = *e;
	m->n++;
	return GROVE_OK;
}

int shard_map_init(struct shard_map *m, uint64_t world_group, uint64_t first_group, const uint64_t *members, size_t n)
{
	memset(m, 0, sizeof(*m));
	if (n > SHARD_MAX_MEMBERS || world_group == 0 || first_group == 0)
		return GROVE_EINVAL;
	struct shard_entry world = {.path = strdup("/root"), .group = world_group, .state = SHARD_ACTIVE,
				    .n_members = n};
	if (!world.path)
		return GROVE_ENOMEM;
	memcpy(world.members, members, n * sizeof(*members));
	m->next_group = first_group;
	int err = insert_entry(m, &world);
	if (err)
		entry_free(&world);
	return err;
}

/* @p path without repeated or trailing slashes, into @p canon (SHARD_PATH_MAX + 1 bytes). @return its length. */
static size_t canonical(const char *path, char *canon)
{
	size_t n = 0;
	for (const char *p = path; *p && n < SHARD_PATH_MAX; p++)
		if (!(*p == '/' && (p[1] == '/' || p[1] == '\0')))
			canon[n++] = *p;
	canon[n] = '\0';
	return n;
}

const struct shard_entry *shard_map_lookup(const struct shard_map *m, const char *path)
{
	if (strncmp(path, "/root", 5) != 0 || (path[5] != '\0' && path[5] != '/'))
		return NULL;
	/* Canonical form of the path, then its prefixes at component boundaries, longest first. */
	char canon[SHARD_PATH_MAX + 1];
	size_t n = canonical(path, canon);
	for (size_t len = n; len >= 5; len--) {
		if (len < n && canon[len] != '/')
			continue;
		bool found;
		size_t at = position_of(m, canon, len, &found);
		if (found && m->entries[at].state == SHARD_ACTIVE)
			return &m->entries[at];
	}
	return NULL;
}

const struct shard_entry *shard_map_split_over(const struct shard_map *m, const char *path)
{
	char canon[SHARD_PATH_MAX + 1];
	canonical(path, canon);
	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].state == SHARD_SPLITTING && shard_path_within(canon, m->entries[i].path))
			return &m->entries[i];
	return NULL;
}

const struct shard_entry *shard_map_find_group(const struct shard_map *m, uint64_t group)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].group == group)
			return &m->entries[i];
	return NULL;
}

bool shard_map_has_splits(const struct shard_map *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].state == SHARD_SPLITTING)
			return true;
	return false;
}

const struct shard_entry *shard_map_split_of(const struct shard_map *m, uint64_t group)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].state == SHARD_SPLITTING && m->entries[i].source == group)
			return &m->entries[i];
	return NULL;
}

int shard_map_start_split(struct shard_map *m, const char *path, const uint64_t *members, size_t n_members,
			  uint64_t *group, char *why, size_t why_cap)
{
	*group = 0;
	if (!shard_path_canonical(path))
		return grove_say(GROVE_EINVAL, why, why_cap, "\"%.200s\" is not a node path like /root/World/Zone", path);
	if (n_members == 0 || n_members > SHARD_MAX_MEMBERS)
		return grove_say(GROVE_EINVAL, why, why_cap, "a shard has 1 to %d members, not %zu", SHARD_MAX_MEMBERS,
			      n_members);
	if (strcmp(path, "/root") == 0)
		return grove_say(GROVE_EROOT, why, why_cap, "/root is the world's root: it cannot be split off");
	bool found;
	size_t at = position_of(m, path, strlen(path), &found);
	if (found && m->entries[at].state == SHARD_ACTIVE)
		return grove_say(GROVE_EEXIST, why, why_cap, "%.200s is already the root of shard %llu", path,
			      (unsigned long long)m->entries[at].group);
	if (found)
		return grove_say(GROVE_EEXIST, why, why_cap, "%.200s is being split off already (group %llu)", path,
			      (unsigned long long)m->entries[at].group);
	const struct shard_entry *source = shard_map_lookup(m, path);
	if (!source)
		return grove_say(GROVE_EINVAL, why, why_cap, "%.200s is not under /root", path);
	const struct shard_entry *running = shard_map_split_of(m, source->group);
	if (running)
		return grove_say(GROVE_EUNAVAILABLE, why, why_cap,
			      "shard %llu (%.200s) is splitting off %.200s already; retry when that split finished",
			      (unsigned long long)source->group, source->path, running->path);
	if (m->n >= SHARD_MAP_MAX)
		return grove_say(GROVE_ETOOBIG, why, why_cap, "the shard map is full (%d entries)", SHARD_MAP_MAX);
	struct shard_entry e = {.path = strdup(path), .group = m->next_group, .source = source->group,
				.state = SHARD_SPLITTING, .n_members = n_members};
	if (!e.path)
		return GROVE_ENOMEM;
	memcpy(e.members, members, n_members * sizeof(*members));
	int err = insert_entry(m, &e);
	if (err) {
		entry_free(&e);
		return err;
	}
	*group = m->next_group++;
	return GROVE_OK;
}

static struct shard_entry *entry_of_group(struct shard_map *m, uint64_t group)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].group == group)
			return &m->entries[i];
	return NULL;
}

int shard_map_switch(struct shard_map *m, uint64_t group, uint64_t split_index)
{
	struct shard_entry *e = entry_of_group(m, group);
	if (!e || e->source == 0)
		return GROVE_ENOTFOUND;
	if (e->state == SHARD_SPLITTING) {
		e->state = SHARD_ACTIVE;
		e->split_index = split_index;
	}
	return GROVE_OK;
}

int shard_map_abort(struct shard_map *m, uint64_t group)
{
	struct shard_entry *e = entry_of_group(m, group);
	if (!e || e->state != SHARD_SPLITTING)
		return GROVE_ENOTFOUND;
	size_t at = (size_t)(e - m->entries);
	entry_free(e);
	memmove(&m->entries[at], &m->entries[at + 1], (m->n - at - 1) * sizeof(*m->entries));
	m->n--;
	return GROVE_OK;
}

/* ---- commands ---- */

static void put_text(struct grove_buf *b, const char *s)
{
	size_t n = strlen(s);
	grove_buf_le32(b, (uint32_t)n);
	grove_buf_put(b, s, n);
}

int shard_cmd_encode(const struct shard_cmd *cmd, struct grove_buf *out)
{
	grove_buf_u8(out, (uint8_t)cmd->kind);
	switch (cmd->kind) {
	case SHARD_CMD_START_SPLIT:
		if (!cmd->path || strlen(cmd->path) > SHARD_PATH_MAX || cmd->n_members > SHARD_MAX_MEMBERS)
			return GROVE_EINVAL;
		put_text(out, cmd->path);
		grove_buf_u8(out, (uint8_t)cmd->n_members);
		for (size_t i = 0; i < cmd->n_members; i++)
			grove_buf_le64(out, cmd->members[i]);
		break;
	case SHARD_CMD_SWITCH:
		grove_buf_le64(out, cmd->group);
		grove_buf_le64(out, cmd->split_index);
		break;
	case SHARD_CMD_ABORT: {
		const char *reason = cmd->reason ? cmd->reason : "";
		if (strlen(reason) > SHARD_PATH_MAX)
			return GROVE_EINVAL;
		grove_buf_le64(out, cmd->group);
		grove_buf_le32(out, cmd->code);
		put_text(out, reason);
		break;
	}
	default:
		return GROVE_EINVAL;
	}
	return out->failed ? GROVE_ENOMEM : GROVE_OK;
}

/* A bounds-checked reader. */
struct reader {
	const uint8_t *p, *end;
	bool bad;
};

static bool need(struct reader *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n)
		r->bad = true;
	return !r->bad;
}

static uint8_t get_u8(struct reader *r)
{
	return need(r, 1) ? *r->p++ : 0;
}

static uint64_t get_u64(struct reader *r)
{
	if (!need(r, 8))
		return 0;
	uint64_t v = get_le64(r->p);
	r->p += 8;
	return v;
}

/* A length-prefixed string of at most SHARD_PATH_MAX bytes, copied NUL-terminated into @p out. */
static void get_text(struct reader *r, char out[SHARD_PATH_MAX + 1])
{
	out[0] = '\0';
	if (!need(r, 4))
		return;
	uint32_t n = get_le32(r->p);
	r->p += 4;
	if (n > SHARD_PATH_MAX || !need(r, n)) {
		r->bad = true;
		return;
	}
	memcpy(out, r->p, n);
	out[n] = '\0';
	r->p += n;
	if (strlen(out) != n)
		r->bad = true; /* a NUL inside */
}

static void get_members(struct reader *r, uint64_t *members, size_t *n)
{
	*n = get_u8(r);
	if (*n > SHARD_MAX_MEMBERS) {
		r->bad = true;
		*n = 0;
		return;
	}
	for (size_t i = 0; i < *n; i++)
		members[i] = get_u64(r);
}

int shard_cmd_decode(const uint8_t *data, size_t len, struct shard_cmd *out)
{
	memset(out, 0, sizeof(*out));
	struct reader r = {data, data + len, false};
	out->kind = (enum shard_cmd_kind)get_u8(&r);
	switch (out->kind) {
	case SHARD_CMD_START_SPLIT:
		get_text(&r, out->text);
		out->path = out->text;
		get_members(&r, out->members, &out->n_members);
		break;
	case SHARD_CMD_SWITCH:
		out->group = get_u64(&r);
		out->split_index = get_u64(&r);
		break;
	case SHARD_CMD_ABORT:
		out->group = get_u64(&r);
		if (need(&r, 4)) {
			out->code = get_le32(r.p);
			r.p += 4;
		}
		get_text(&r, out->text);
		out->reason = out->text;
		break;
	default:
		r.bad = true;
	}
	return r.bad || r.p != r.end ? GROVE_ECORRUPT : GROVE_OK;
}

int shard_map_apply(struct shard_map *m, const struct shard_cmd *cmd, uint64_t *group, char *why, size_t why_cap)
{
	*group = 0;
	if (why && why_cap)
		why[0] = '\0';
	int err;
	switch (cmd->kind) {
	case SHARD_CMD_START_SPLIT:
		return shard_map_start_split(m, cmd->path, cmd->members, cmd->n_members, group, why, why_cap);
	case SHARD_CMD_SWITCH:
		*group = cmd->group;
		err = shard_map_switch(m, cmd->group, cmd->split_index);
		if (err)
			grove_say(err, why, why_cap, "no split of group %llu to switch", (unsigned long long)cmd->group);
		return err;
	case SHARD_CMD_ABORT:
		*group = cmd->group;
		err = shard_map_abort(m, cmd->group);
		if (err)
			grove_say(err, why, why_cap, "no running split of group %llu to abort", (unsigned long long)cmd->group);
		return err;
	}
	return grove_say(GROVE_ECORRUPT, why, why_cap, "unknown shard map command %d", (int)cmd->kind);
}

/* ---- the whole map ---- */

int shard_map_encode(const struct shard_map *m, struct grove_buf *out)
{
	grove_buf_u8(out, MAP_FORMAT);
	grove_buf_le64(out, m->next_group);
	grove_buf_le32(out, (uint32_t)m->n);
	for (size_t i = 0; i < m->n; i++) {
		const struct shard_entry *e = &m->entries[i];
		put_text(out, e->path);
		grove_buf_le64(out, e->group);
		grove_buf_le64(out, e->source);
		grove_buf_u8(out, (uint8_t)e->state);
		grove_buf_le64(out, e->split_index);
		grove_buf_u8(out, (uint8_t)e->n_members);
		for (size_t k = 0; k < e->n_members; k++)
			grove_buf_le64(out, e->members[k]);
	}
	return out->failed ? GROVE_ENOMEM : GROVE_OK;
}

int shard_map_decode(struct shard_map *m, const uint8_t *data, size_t len)
{
	struct reader r = {data, data + len, false};
	struct shard_map fresh = {0};
	if (get_u8(&r) != MAP_FORMAT)
		return GROVE_ECORRUPT;
	fresh.next_group = get_u64(&r);
	uint32_t count = need(&r, 4) ? get_le32(r.p) : 0;
	if (!r.bad)
		r.p += 4;
	int err = count > SHARD_MAP_MAX ? GROVE_ECORRUPT : GROVE_OK;
	char text[SHARD_PATH_MAX + 1];
	for (uint32_t i = 0; !err && !r.bad && i < count; i++) {
		struct shard_entry e = {0};
		get_text(&r, text);
		e.group = get_u64(&r);
		e.source = get_u64(&r);
		e.state = (enum shard_state)get_u8(&r);
		e.split_index = get_u64(&r);
		get_members(&r, e.members, &e.n_members);
		if (r.bad || !shard_path_canonical(text) || e.group == 0 ||
		    (e.state != SHARD_ACTIVE && e.state != SHARD_SPLITTING) ||
		    (i > 0 && strcmp(fresh.entries[i - 1].path, text) >= 0)) {
			err = GROVE_ECORRUPT;
			break;
		}
		if (!(e.path = strdup(text)) || grove_grow((void **)&fresh.entries, &fresh.cap, fresh.n, sizeof(e))) {
			free(e.path);
			err = GROVE_ENOMEM;
			break;
		}
		fresh.entries[fresh.n++] = e;
	}
	if (!err && (r.bad || r.p != r.end))
		err = GROVE_ECORRUPT;
	if (err) {
		shard_map_free(&fresh);
		return err;
	}
	shard_map_free(m);
	*m = fresh;
	return GROVE_OK;
}
