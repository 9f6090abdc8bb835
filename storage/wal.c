#include "storage/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/common/buf.h"
#include "src/common/bytes.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "storage/snapshot.h"

/* Kinds 1-3 come from before the log served several groups: they carry no group id and are group 1's. */
enum record_kind {
	RECORD_OLD_ENTRY = 1,
	RECORD_OLD_HARD_STATE = 2,
	RECORD_OLD_SNAPSHOT = 3,
	RECORD_ENTRY = 4,
	RECORD_HARD_STATE = 5,
	RECORD_SNAPSHOT = 6
};

#define RECORD_HEADER 8                 /* u32 length, u32 crc32c */
#define GROUP_FIELDS 9                  /* kind, group */
#define ENTRY_FIELDS (8 + 8 + 4)        /* index, term, type */
#define HARD_STATE_FIELDS (8 + 8 + 8)   /* term, vote, commit */
#define SNAPSHOT_FIELDS (8 + 8 + 1)     /* index, term, replaces the log */
#define SEGMENT_NAME_LEN 20             /* 16 hex digits and ".wal" */

/* The highest entry index of one group in a segment or a batch. */
struct group_max {
	uint64_t group;
	uint64_t max_index;
};

struct segment {
	uint64_t seq;             /* its number, in the file name */
	struct group_max *max;    /* per group with entries in it */
	size_t n_max, cap_max;
};

/* What a new segment restates of a group, and what decides whether old segments still matter to it. */
struct group_state {
	uint64_t group;
	struct wal_hard_state hard;       /* durable */
	uint64_t snapshot_index, snapshot_term;
	uint64_t replaced_seq;            /* segments before this one hold none of its live entries */
};

/* The newest hard state of a group among queued records. */
struct group_hard {
	uint64_t group;
	struct wal_hard_state hard;
};

/* Records taken or waiting for a flush, with what they mean for the bookkeeping. */
struct batch {
	struct grove_buf bytes;
	struct group_max *max;
	size_t n_max, cap_max;
	struct group_hard *hard;
	size_t n_hard, cap_hard;
};

struct wal {
	int dir_fd;
	/* The writer's side: touched by wal_flush_run(), possibly in another thread. */
	int fd;                        /* the newest segment, open for writing */
	size_t offset, size;           /* where its records end; its preallocated size */
	size_t written_end;            /* how far a flush that found the disk full may have written in it */
	struct segment *segments;      /* oldest first; the last is the one open */
	size_t n_segments, cap_segments;
	struct batch flight;           /* taken by wal_flush_begin() */
	/* The loop's side. */
	struct batch queue;            /* records waiting for a flush */
	struct group_state *groups;    /* read by wal_flush_run() when it starts a segment; changed only between flushes */
	size_t n_groups, cap_groups;
	size_t segment_bytes;          /* what a new segment is preallocated to */
	bool flying;                   /* a flush is between begin and end */
	bool failed;                   /* a flush failed: nothing more is written */
	bool kept;                     /* the flight batch found the disk full: the next flush takes it again */
	bool skip_sync;                /* benchmarks only */
};

/* The element of @p items (structs whose first member is the group id) for @p group, or NULL. */
static void *find_group(void *items, size_t n, size_t size, uint64_t group)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t *at = (uint64_t *)((char *)items + i * size);
		if (*at == group)
			return at;
	}
	return NULL;
}

/* The element for @p group, added (zeroed) if missing; NULL if out of memory. */
static void *group_slot(void **items, size_t *n, size_t *cap, size_t size, uint64_t group)
{
	void *at = find_group(*items, *n, size, group);
	if (at)
		return at;
	if (grove_grow(items, cap, *n, size))
		return NULL;
	at = (char *)*items + (*n)++ * size;
	memset(at, 0, size);
	*(uint64_t *)at = group;
	return at;
}

static int note_max(struct group_max **max, size_t *n, size_t *cap, uint64_t group, uint64_t index)
{
	struct group_max *m = group_slot((void **)max, n, cap, sizeof(**max), group);
	if (!m)
		return GROVE_ENOMEM;
	if (index > m->max_index)
		m->max_index = index;
	return GROVE_OK;
}

static void batch_clear(struct batch *b)
{
	b->bytes.len = 0;
	b->bytes.failed = false;
	b->n_max = b->n_hard = 0;
}

static void batch_free(struct batch *b)
{
	grove_buf_free(&b->bytes);
	free(b->max);
	free(b->hard);
	memset(b, 0, sizeof(*b));
}

/* ---- encoding ---- */

/* Start a record of @p kind for @p group with @p fields bytes after the group; returns where they go. */
static uint8_t *begin_record(struct grove_buf *b, enum record_kind kind, uint64_t group, size_t fields)
{
	uint8_t *rec = grove_buf_extend(b, RECORD_HEADER + GROUP_FIELDS + fields);
	if (!rec)
		return NULL;
	put_le32(rec, (uint32_t)(GROUP_FIELDS + fields));
	rec[RECORD_HEADER] = (uint8_t)kind;
	put_le64(rec + RECORD_HEADER + 1, group);
	return rec + RECORD_HEADER + GROUP_FIELDS;
}

/* Fill in the checksum of the record that starts @p len bytes before the end of @p b. */
static void seal_record(struct grove_buf *b, size_t len)
{
	uint8_t *rec = b->data + b->len - len;
	put_le32(rec + 4, snapshot_crc32c(0, rec + RECORD_HEADER, len - RECORD_HEADER));
}

static int add_hard_state(struct grove_buf *b, uint64_t group, const struct wal_hard_state *hs)
{
	uint8_t *f = begin_record(b, RECORD_HARD_STATE, group, HARD_STATE_FIELDS);
	if (!f)
		return GROVE_ENOMEM;
	put_le64(f, hs->term);
	put_le64(f + 8, hs->vote);
	put_le64(f + 16, hs->commit);
	seal_record(b, RECORD_HEADER + GROUP_FIELDS + HARD_STATE_FIELDS);
	return GROVE_OK;
}

static int add_snapshot(struct grove_buf *b, uint64_t group, uint64_t index, uint64_t term, bool replaces_log)
{
	uint8_t *f = begin_record(b, RECORD_SNAPSHOT, group, SNAPSHOT_FIELDS);
	if (!f)
		return GROVE_ENOMEM;
	put_le64(f, index);
	put_le64(f + 8, term);
	f[16] = replaces_log;
	seal_record(b, RECORD_HEADER + GROUP_FIELDS + SNAPSHOT_FIELDS);
	return GROVE_OK;
}

/* ---- replay ---- */

static void drop_entries(struct wal_group *g, size_t keep)
{
	for (size_t i = keep; i < g->n_entries; i++)
		free((void *)g->entries[i].data);
	g->n_entries = keep;
}

static struct wal_group *replay_group(struct wal_contents *c, uint64_t group)
{
	return group_slot((void **)&c->groups, &c->n_groups, &c->cap_groups, sizeof(*c->groups), group);
}

static int replay_entry(struct wal_group *g, uint64_t index, uint64_t term, uint32_t type, const uint8_t *data,
			size_t len)
{
	if (index <= g->snapshot_index)
		return GROVE_OK; /* covered by the snapshot already */
	uint64_t first = g->n_entries ? g->entries[0].index : g->snapshot_index + 1;
	uint64_t next = first + g->n_entries;
	if (index >= first && index < next) {
		drop_entries(g, (size_t)(index - first)); /* a conflicting suffix replaced */
	} else if (index != next) {
		/*
		 * The entries before it are not here: they were in segments deleted behind a snapshot (checked at
		 * the end). It replaces everything from its index on, so only those before it are missing.
		 */
		drop_entries(g, 0);
		g->gap_upto = index - 1;
	}
	if (grove_grow((void **)&g->entries, &g->cap_entries, g->n_entries, sizeof(*g->entries)))
		return GROVE_ENOMEM;
	void *copy = NULL;
	if (len && !(copy = malloc(len)))
		return GROVE_ENOMEM;
	if (len)
		memcpy(copy, data, len);
	g->entries[g->n_entries++] = (struct wal_entry){index, term, type, copy, len};
	return GROVE_OK;
}

static void replay_snapshot(struct wal_group *g, uint64_t index, uint64_t term, bool replaces_log)
{
	size_t covered = 0;
	while (covered < g->n_entries && g->entries[covered].index <= index)
		covered++;
	if (replaces_log) {
		drop_entries(g, 0);
		g->gap_upto = 0; /* whatever went missing before was replaced */
	} else if (covered == g->n_entries) {
		drop_entries(g, 0);
	} else {
		for (size_t i = 0; i < covered; i++)
			free((void *)g->entries[i].data);
		memmove(g->entries, g->entries + covered, (g->n_entries - covered) * sizeof(*g->entries));
		g->n_entries -= covered;
	}
	if (index > g->snapshot_index) {
		g->snapshot_index = index;
		g->snapshot_term = term;
	}
}

/* Apply one record's payload @p f of @p len bytes to the replay, noting entries in @p seg. */
static int replay_record(struct wal_contents *c, const uint8_t *f, size_t len, struct segment *seg)
{
	uint8_t kind = f[0];
	uint64_t group = 1;
	if (kind >= RECORD_ENTRY) {
		if (len < GROUP_FIELDS)
			return GROVE_ECORRUPT;
		group = get_le64(f + 1);
		f += GROUP_FIELDS;
		len -= GROUP_FIELDS;
		kind -= RECORD_ENTRY - RECORD_OLD_ENTRY;
	} else {
		f++;
		len--;
	}
	struct wal_group *g = replay_group(c, group);
	if (!g)
		return GROVE_ENOMEM;
	if (kind == RECORD_OLD_ENTRY && len >= ENTRY_FIELDS) {
		uint64_t index = get_le64(f);
		int err = replay_entry(g, index, get_le64(f + 8), get_le32(f + 16), f + ENTRY_FIELDS, len - ENTRY_FIELDS);
		return err ? err : note_max(&seg->max, &seg->n_max, &seg->cap_max, group, index);
	}
	if (kind == RECORD_OLD_HARD_STATE && len == HARD_STATE_FIELDS) {
		g->hard = (struct wal_hard_state){get_le64(f), get_le64(f + 8), get_le64(f + 16)};
		return GROVE_OK;
	}
	if (kind == RECORD_OLD_SNAPSHOT && len == SNAPSHOT_FIELDS && f[16] <= 1) {
		replay_snapshot(g, get_le64(f), get_le64(f + 8), f[16]);
		return GROVE_OK;
	}
	return GROVE_ECORRUPT;
}

/* How a segment's records end when they do not end with zeros. */
enum segment_end {
	END_CLEAN,      /* zeros (or the end of the file) after the last record */
	END_BAD_RECORD, /* a record cut short or failing its checksum: maybe a write a crash interrupted */
	END_UNDECODABLE /* a record that passes its checksum but means nothing: never a torn write */
};

/*
 * Replay the records of one segment (@p len bytes at @p data). Sets *@p end to where its valid records
 * end, and *@p how and @p why to how they end. Returns GROVE_ECORRUPT for a record that is cut short,
 * fails its checksum or cannot be decoded (the caller decides whether that is a torn tail).
 */
static int replay_segment(struct wal_contents *c, const uint8_t *data, size_t len, struct segment *seg, size_t *end,
			  enum segment_end *how, char *why, size_t why_size)
{
	size_t at = 0;
	*end = 0;
	*how = END_CLEAN;
	while (len - at >= RECORD_HEADER) {
		uint32_t payload = get_le32(data + at);
		if (payload == 0)
			return GROVE_OK; /* the zeros after the last record */
		*how = END_BAD_RECORD;
		if (payload > len - at - RECORD_HEADER) {
			snprintf(why, why_size, "a record of %u bytes runs past the end of the file (%zu bytes left)",
				 (unsigned)payload, len - at - RECORD_HEADER);
			return GROVE_ECORRUPT;
		}
		const uint8_t *f = data + at + RECORD_HEADER;
		uint32_t stored = get_le32(data + at + 4), computed = snapshot_crc32c(0, f, payload);
		if (stored != computed) {
			snprintf(why, why_size, "checksum mismatch in a record of %u bytes (stored %08x, computed %08x)",
				 (unsigned)payload, (unsigned)stored, (unsigned)computed);
			return GROVE_ECORRUPT;
		}
		int err = replay_record(c, f, payload, seg);
		if (err) {
			*how = END_UNDECODABLE;
			snprintf(why, why_size, "a record of %u bytes and kind %u passes its checksum but cannot be decoded",
				 (unsigned)payload, (unsigned)f[0]);
			return err;
		}
		*how = END_CLEAN;
		at += RECORD_HEADER + payload;
		*end = at;
	}
	return GROVE_OK;
}

/* Checksum work the search for a valid record after a bad one may do (it only runs after a crash). */
#define RESYNC_CRC_BUDGET ((size_t)256 << 20)

/*
 * Where a record that passes its checksum starts after offset @p from of a segment, or 0 if none does.
 * Only a bad record followed by none can be a write a crash interrupted: a later record passing its
 * checksum was written before or with it, so the bad one is damage to an acknowledged record. A random
 * run of bytes passes as a record once in 2^32 tries.
 */
static size_t valid_record_after(const uint8_t *data, size_t len, size_t from)
{
	size_t budget = RESYNC_CRC_BUDGET;
	for (size_t at = from + 1; at + RECORD_HEADER < len; at++) {
		uint32_t payload = get_le32(data + at);
		if (payload == 0 || payload > len - at - RECORD_HEADER)
			continue;
		const uint8_t *f = data + at + RECORD_HEADER;
		if (f[0] < RECORD_OLD_ENTRY || f[0] > RECORD_SNAPSHOT || (f[0] >= RECORD_ENTRY && payload < GROUP_FIELDS))
			continue;
		if (payload > budget)
			return 0;
		budget -= payload;
		if (get_le32(data + at + 4) == snapshot_crc32c(0, f, payload))
			return at;
	}
	return 0;
}

static void note_damage(struct wal_damage *d, uint64_t seq, size_t offset, const char *what)
{
	snprintf(d->segment, sizeof(d->segment), "%016llx.wal", (unsigned long long)seq);
	d->offset = offset;
	snprintf(d->what, sizeof(d->what), "%s", what);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}


/* Read the whole of file @p name in the log's directory. */
static int read_segment(struct wal *w, const char *name, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd = openat(w->dir_fd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return GROVE_EIO;
	}
	*len = (size_t)st.st_size;
	*data = malloc(*len ? *len : 1);
	size_t got = 0;
	while (*data && got < *len) {
		ssize_t n = pread(fd, *data + got, *len - got, (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!*data)
		return GROVE_ENOMEM;
	return got == *len ? GROVE_OK : GROVE_EIO;
}


static void segment_name(uint64_t seq, char *out)
{
	snprintf(out, SEGMENT_NAME_LEN + 1, "%016llx.wal", (unsigned long long)seq);
}


static int compare_segments(const void *a, const void *b)
{
	uint64_t x = ((const struct segment *)a)->seq, y = ((const struct segment *)b)->seq;
	return x < y ? -1 : x > y;
}


/* The segments in the directory, by sequence number. */
static int list_segments(struct wal *w)
{
	int fd = dup(w->dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return GROVE_EIO;
	}
	struct dirent *de;
	int err = GROVE_OK;
	while (!err && (de = readdir(d))) {
		char *endp;
		unsigned long long seq = strtoull(de->d_name, &endp, 16);
		if (strlen(de->d_name) != SEGMENT_NAME_LEN || endp != de->d_name + 16 || strcmp(endp, ".wal") != 0)
			continue;
		if (grove_grow((void **)&w->segments, &w->cap_segments, w->n_segments, sizeof(*w->segments)))
			err = GROVE_ENOMEM;
		else
			w->segments[w->n_segments++] = (struct segment){.seq = seq};
	}
	closedir(d);
	if (w->n_segments)
		qsort(w->segments, w->n_segments, sizeof(*w->segments), compare_segments);
	return err;
}


/* Cut the newest segment at @p end and make everything after it zeros again (an interrupted write). */
static int cut_tail(struct wal *w, size_t end)
{
	if (ftruncate(w->fd, (off_t)end) != 0 || posix_fallocate(w->fd, (off_t)end, (off_t)(w->size - end)) != 0 ||
	    fsync(w->fd) != 0)
		return GROVE_EIO;
	return GROVE_OK;
}


/* Make a new directory's name durable: fsync the directory that holds it. */
static int sync_parent(const char *dir)
{
	char parent[4096];
	const char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else
		snprintf(parent, sizeof(parent), "%.*s", slash == dir ? 1 : (int)(slash - dir), dir);
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = fd < 0 || fsync(fd) != 0 ? GROVE_EIO : GROVE_OK;
	if (fd >= 0)
		close(fd);
	return err;
}

/* ---- writing ---- */

/* The error for a failed system call: a full file system is worth a retry, anything else is not. */
static int io_error(void)
{
	return errno == ENOSPC || errno == EDQUOT ? GROVE_ENOSPC : GROVE_EIO;
}

/* Start segment @p seq, big enough for @p need bytes, with every group's restated state at its front. */
static int start_segment(struct wal *w, uint64_t seq, size_t need)
{
	struct grove_buf head = {0};
	int err = GROVE_OK;
	for (size_t i = 0; !err && i < w->n_groups; i++) {
		const struct group_state *g = &w->groups[i];
		err = add_hard_state(&head, g->group, &g->hard);
		if (!err)
			err = add_snapshot(&head, g->group, g->snapshot_index, g->snapshot_term, false);
	}
	if (err) {
		grove_buf_free(&head);
		return err;
	}
	size_t size = w->segment_bytes;
	if (size < head.len + need + RECORD_HEADER)
		size = head.len + need + RECORD_HEADER; /* room for the zero length that ends it */
	char name[SEGMENT_NAME_LEN + 1];
	segment_name(seq, name);
	int fd = openat(w->dir_fd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
	err = fd < 0 ? io_error() : GROVE_OK;
	if (!err) {
		int fa = posix_fallocate(fd, 0, (off_t)size); /* returns the error rather than setting errno */
		if (fa)
			errno = fa;
		if (fa || (head.len && pwrite(fd, head.data, head.len, 0) != (ssize_t)head.len))
			err = io_error();
	}
	size_t head_len = head.len;
	grove_buf_free(&head);
	if (!err && grove_grow((void **)&w->segments, &w->cap_segments, w->n_segments, sizeof(*w->segments)))
		err = GROVE_ENOMEM;
	/* The name must be durable with the first sync of its records. */
	if (!err && (fdatasync(fd) != 0 || fsync(w->dir_fd) != 0))
		err = io_error();
	if (err) {
		/* Gone again, so that a retry after a full disk can make it afresh. */
		if (fd >= 0) {
			close(fd);
			unlinkat(w->dir_fd, name, 0);
		}
		return err;
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->offset = head_len;
	w->written_end = head_len;
	w->size = size;
	w->segments[w->n_segments++] = (struct segment){.seq = seq};
	return GROVE_OK;
}

int wal_open(struct wal **out, const char *dir, struct wal_contents *contents)
{
	return wal_open_sized(out, dir, WAL_SEGMENT_BYTES, contents);
}

int wal_open_sized(struct wal **out, const char *dir, size_t segment_bytes, struct wal_contents *contents)
{
	*out = NULL;
	memset(contents, 0, sizeof(*contents));
	struct wal *w = calloc(1, sizeof(*w));
	if (!w)
		return GROVE_ENOMEM;
	w->segment_bytes = segment_bytes;
	w->fd = -1;
	w->dir_fd = -1;
	bool created = mkdir(dir, 0755) == 0;
	if ((!created && errno != EEXIST) || (created && sync_parent(dir))) {
		free(w);
		return GROVE_EIO;
	}
	w->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = w->dir_fd < 0 ? GROVE_EIO : list_segments(w);
	size_t end = 0;
	bool torn = false;
	for (size_t i = 0; !err && i < w->n_segments; i++) {
		char name[SEGMENT_NAME_LEN + 1];
		segment_name(w->segments[i].seq, name);
		uint8_t *data;
		size_t len;
		enum segment_end how = END_CLEAN;
		char why[sizeof(contents->damage.what)] = "";
		err = read_segment(w, name, &data, &len);
		if (!err)
			err = replay_segment(contents, data, len, &w->segments[i], &end, &how, why, sizeof(why));
		if (!err && !all_zero(data + end, len - end))
			snprintf(why, sizeof(why), "bytes after the zeros that end the records");
		bool newest = i + 1 == w->n_segments;
		bool damaged = err == GROVE_ECORRUPT || (!err && !all_zero(data + end, len - end));
		size_t resync = damaged && how != END_UNDECODABLE ? valid_record_after(data, len, end) : 0;
		if (damaged && newest && how != END_UNDECODABLE && !resync) {
			torn = true; /* a write the crash interrupted; it was never acknowledged */
			note_damage(&contents->damage, w->segments[i].seq, end, why);
			err = GROVE_OK;
		} else if (damaged) {
			if (resync) {
				size_t n = strlen(why);
				snprintf(why + n, sizeof(why) - n, ", followed by a valid record at offset %zu", resync);
			} else if (!newest) {
				size_t n = strlen(why);
				snprintf(why + n, sizeof(why) - n, " in a segment that is not the newest");
			}
			note_damage(&contents->damage, w->segments[i].seq, end, why);
			err = GROVE_ECORRUPT;
		}
		if (!err && newest) {
			w->fd = openat(w->dir_fd, name, O_RDWR | O_CLOEXEC);
			w->size = len;
			w->offset = end;
			w->written_end = end;
			if (w->fd < 0)
				err = GROVE_EIO;
			else if (torn)
				err = cut_tail(w, end);
		}
		free(data);
	}
	for (size_t i = 0; !err && i < contents->n_groups; i++) {
		const struct wal_group *g = &contents->groups[i];
		if (g->gap_upto > g->snapshot_index) {
			err = GROVE_ECORRUPT; /* entries are missing that no snapshot covers */
			snprintf(contents->damage.what, sizeof(contents->damage.what),
				 "group %llu: entries %llu..%llu are missing and no snapshot covers them (a segment was lost)",
				 (unsigned long long)g->group, (unsigned long long)g->snapshot_index + 1,
				 (unsigned long long)g->gap_upto);
		}
		struct group_state *st =
			err ? NULL : group_slot((void **)&w->groups, &w->n_groups, &w->cap_groups, sizeof(*w->groups), g->group);
		if (!err && !st)
			err = GROVE_ENOMEM;
		if (st) {
			st->hard = g->hard;
			st->snapshot_index = g->snapshot_index;
			st->snapshot_term = g->snapshot_term;
		}
	}
	contents->fresh = w->n_segments == 0;
	contents->torn_tail = torn;
	if (!err && w->n_segments == 0)
		err = start_segment(w, 1, 0);
	if (err) {
		wal_close(w);
		return err;
	}
	*out = w;
	return GROVE_OK;
}

void wal_contents_free(struct wal_contents *contents)
{
	for (size_t i = 0; i < contents->n_groups; i++) {
		drop_entries(&contents->groups[i], 0);
		free(contents->groups[i].entries);
	}
	free(contents->groups);
	memset(contents, 0, sizeof(*contents));
}

const struct wal_group *wal_contents_group(const struct wal_contents *contents, uint64_t group)
{
	return find_group(contents->groups, contents->n_groups, sizeof(*contents->groups), group);
}

int wal_append(struct wal *w, uint64_t group, const struct wal_entry *entries, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (entries[i].index != entries[i - 1].index + 1)
			return GROVE_EINVAL;
	struct grove_buf *b = &w->queue.bytes;
	size_t undo = b->len;
	for (size_t i = 0; i < n; i++) {
		const struct wal_entry *e = &entries[i];
		if (e->len > UINT32_MAX - RECORD_HEADER - GROUP_FIELDS - ENTRY_FIELDS) {
			b->len = undo;
			return GROVE_ETOOBIG;
		}
		uint8_t *f = begin_record(b, RECORD_ENTRY, group, ENTRY_FIELDS + e->len);
		if (!f) {
			b->len = undo;
			b->failed = false;
			return GROVE_ENOMEM;
		}
		put_le64(f, e->index);
		put_le64(f + 8, e->term);
		put_le32(f + 16, e->type);
		if (e->len)
			memcpy(f + ENTRY_FIELDS, e->data, e->len);
		seal_record(b, RECORD_HEADER + GROUP_FIELDS + ENTRY_FIELDS + e->len);
	}
	if (n && note_max(&w->queue.max, &w->queue.n_max, &w->queue.cap_max, group, entries[n - 1].index)) {
		b->len = undo;
		return GROVE_ENOMEM;
	}
	return GROVE_OK;
}

int wal_set_hard_state(struct wal *w, uint64_t group, const struct wal_hard_state *hs)
{
	struct group_hard *h =
		group_slot((void **)&w->queue.hard, &w->queue.n_hard, &w->queue.cap_hard, sizeof(*w->queue.hard), group);
	size_t undo = w->queue.bytes.len;
	if (!h || add_hard_state(&w->queue.bytes, group, hs)) {
		w->queue.bytes.len = undo;
		w->queue.bytes.failed = false;
		return GROVE_ENOMEM;
	}
	h->hard = *hs;
	return GROVE_OK;
}

/* Move what was queued behind the kept batch in flight, which goes first. */
static int merge_queue_into_flight(struct wal *w)
{
	struct batch *q = &w->queue, *f = &w->flight;
	uint8_t *to = q->bytes.len ? grove_buf_extend(&f->bytes, q->bytes.len) : NULL;
	if (q->bytes.len && !to) {
		f->bytes.failed = false;
		return GROVE_ENOMEM;
	}
	if (to)
		memcpy(to, q->bytes.data, q->bytes.len);
	for (size_t i = 0; i < q->n_max; i++)
		if (note_max(&f->max, &f->n_max, &f->cap_max, q->max[i].group, q->max[i].max_index))
			return GROVE_ENOMEM;
	for (size_t i = 0; i < q->n_hard; i++) {
		struct group_hard *h = group_slot((void **)&f->hard, &f->n_hard, &f->cap_hard, sizeof(*f->hard), q->hard[i].group);
		if (!h)
			return GROVE_ENOMEM;
		h->hard = q->hard[i].hard;
	}
	batch_clear(q);
	return GROVE_OK;
}

bool wal_flush_begin(struct wal *w)
{
	if (w->flying || w->failed)
		return false;
	if (w->kept) {
		if (merge_queue_into_flight(w)) {
			w->failed = true; /* what is queued could no longer follow what is kept in order */
			return false;
		}
		w->kept = false;
		w->flying = true;
		return true;
	}
	if (w->queue.bytes.len == 0)
		return false;
	/* Swap rather than copy: the queue keeps the flight's old buffers to fill next. */
	struct batch taken = w->queue;
	w->queue = w->flight;
	w->flight = taken;
	batch_clear(&w->queue);
	w->flying = true;
	return true;
}

/*
 * Zero what a flush that found the disk full wrote after the records of the segment being left: once it
 * is no longer the newest, stray bytes there would read as corruption. The space is allocated already.
 */
static int zero_unsynced_tail(struct wal *w)
{
	static const uint8_t zeros[4096];
	for (size_t at = w->offset; at < w->written_end;) {
		size_t n = w->written_end - at < sizeof(zeros) ? w->written_end - at : sizeof(zeros);
		ssize_t put = pwrite(w->fd, zeros, n, (off_t)at);
		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return put < 0 ? io_error() : GROVE_EIO;
		at += (size_t)put;
	}
	if (w->written_end > w->offset && fdatasync(w->fd) != 0)
		return io_error();
	w->written_end = w->offset;
	return GROVE_OK;
}

int wal_flush_run(struct wal *w)
{
	const struct grove_buf *b = &w->flight.bytes;
	/* A record never straddles two segments; the zero length after the last one must fit too. */
	if (w->offset + b->len + RECORD_HEADER > w->size) {
		int err = zero_unsynced_tail(w);
		if (!err)
			err = start_segment(w, w->segments[w->n_segments - 1].seq + 1, b->len);
		if (err)
			return err;
	}
	size_t done = 0;
	while (done < b->len) {
		ssize_t n = pwrite(w->fd, b->data + done, b->len - done, (off_t)(w->offset + done));
		if (n > 0 && w->offset + done + (size_t)n > w->written_end)
			w->written_end = w->offset + done + (size_t)n;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return io_error();
		if (n == 0)
			return GROVE_EIO;
		done += (size_t)n;
	}
	/*
	 * After a failed fdatasync the kernel may have dropped the dirty pages' error and marked them clean, so a
	 * second fdatasync alone proves nothing; a retry after GROVE_ENOSPC writes the whole batch again first.
	 */
	if (!w->skip_sync && fdatasync(w->fd) != 0)
		return io_error();
	w->offset += b->len;
	return GROVE_OK;
}

void wal_flush_end(struct wal *w, int result)
{
	w->flying = false;
	if (result == GROVE_ENOSPC) {
		w->kept = true; /* nothing of it counts as written: the next flush writes it again at the same offset */
		return;
	}
	if (result) {
		w->failed = true;
		return;
	}
	struct segment *seg = &w->segments[w->n_segments - 1];
	for (size_t i = 0; i < w->flight.n_max; i++) {
		const struct group_max *m = &w->flight.max[i];
		if (note_max(&seg->max, &seg->n_max, &seg->cap_max, m->group, m->max_index))
			w->failed = true; /* it could no longer tell which segments hold live entries */
	}
	for (size_t i = 0; i < w->flight.n_hard; i++) {
		const struct group_hard *h = &w->flight.hard[i];
		struct group_state *g = group_slot((void **)&w->groups, &w->n_groups, &w->cap_groups, sizeof(*w->groups), h->group);
		if (g)
			g->hard = h->hard;
		else
			w->failed = true; /* a new segment could not restate it */
	}
	for (size_t i = 0; i < w->flight.n_max && !w->failed; i++)
		if (!group_slot((void **)&w->groups, &w->n_groups, &w->cap_groups, sizeof(*w->groups), w->flight.max[i].group))
			w->failed = true;
	batch_clear(&w->flight);
}

int wal_sync(struct wal *w)
{
	if (w->failed)
		return GROVE_EIO;
	if (!wal_flush_begin(w))
		return GROVE_OK;
	int err = wal_flush_run(w);
	wal_flush_end(w, err);
	return err ? err : w->failed ? GROVE_EIO : GROVE_OK;
}


/* Whether segment @p s holds a live entry of any group (or is the one being written). */
static bool segment_needed(const struct wal *w, const struct segment *s)
{
	if (s == &w->segments[w->n_segments - 1])
		return true;
	for (size_t i = 0; i < s->n_max; i++) {
		const struct group_state *g = find_group(w->groups, w->n_groups, sizeof(*w->groups), s->max[i].group);
		if (!g || (s->seq >= g->replaced_seq && s->max[i].max_index > g->snapshot_index))
			return true;
	}
	return false;
}

/* Record a snapshot mark, make it durable, and delete the oldest segments that it leaves useless. */
static int mark_snapshot(struct wal *w, uint64_t group, uint64_t index, uint64_t term, bool replaces_log)
{
	if (w->flying)
		return GROVE_EINVAL;
	struct group_state *g = group_slot((void **)&w->groups, &w->n_groups, &w->cap_groups, sizeof(*w->groups), group);
	int err = g ? add_snapshot(&w->queue.bytes, group, index, term, replaces_log) : GROVE_ENOMEM;
	if (!err)
		err = wal_sync(w);
	if (err)
		return err;
	if (replaces_log || index > g->snapshot_index) {
		g->snapshot_index = index;
		g->snapshot_term = term;
	}
	if (replaces_log)
		g->replaced_seq = w->segments[w->n_segments - 1].seq;
	size_t gone = 0;
	while (gone + 1 < w->n_segments && !segment_needed(w, &w->segments[gone])) {
		char name[SEGMENT_NAME_LEN + 1];
		segment_name(w->segments[gone].seq, name);
		if (unlinkat(w->dir_fd, name, 0) != 0)
			break;
		free(w->segments[gone].max);
		gone++;
	}
	if (!gone)
		return GROVE_OK;
	memmove(w->segments, w->segments + gone, (w->n_segments - gone) * sizeof(*w->segments));
	w->n_segments -= gone;
	return fsync(w->dir_fd) == 0 ? GROVE_OK : GROVE_EIO;
}

int wal_compact(struct wal *w, uint64_t group, uint64_t index, uint64_t term)
{
	return mark_snapshot(w, group, index, term, false);
}

int wal_install_snapshot(struct wal *w, uint64_t group, uint64_t index, uint64_t term)
{
	return mark_snapshot(w, group, index, term, true);
}

int wal_start_group(struct wal *w, uint64_t group, uint64_t index, uint64_t term)
{
	struct group_state *g = group_slot((void **)&w->groups, &w->n_groups, &w->cap_groups, sizeof(*w->groups), group);
	size_t undo = w->queue.bytes.len;
	if (!g || add_snapshot(&w->queue.bytes, group, index, term, true)) {
		w->queue.bytes.len = undo;
		w->queue.bytes.failed = false;
		return GROVE_ENOMEM;
	}
	g->snapshot_index = index;
	g->snapshot_term = term;
	g->replaced_seq = w->n_segments ? w->segments[w->n_segments - 1].seq : 0;
	return GROVE_OK;
}

void wal_skip_sync(struct wal *w)
{
	w->skip_sync = true;
}

size_t wal_pending(const struct wal *w)
{
	return w->queue.bytes.len + (w->kept ? w->flight.bytes.len : 0);
}

size_t wal_segments(const struct wal *w)
{
	return w->n_segments;
}

void wal_close(struct wal *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->dir_fd >= 0)
		close(w->dir_fd);
	for (size_t i = 0; i < w->n_segments; i++)
		free(w->segments[i].max);
	free(w->segments);
	free(w->groups);
	batch_free(&w->queue);
	batch_free(&w->flight);
	free(w);
}
