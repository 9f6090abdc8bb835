#include "storage/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "storage/bytes.h"
#include "storage/snapshot.h"

enum record_kind { RECORD_ENTRY = 1, RECORD_HARD_STATE = 2, RECORD_SNAPSHOT = 3 };

#define RECORD_HEADER 8            /* u32 length, u32 crc32c */
#define ENTRY_FIELDS (1 + 8 + 8 + 4) /* kind, index, term, type */
#define HARD_STATE_FIELDS (1 + 8 + 8 + 8)
#define SNAPSHOT_FIELDS (1 + 8 + 8 + 1) /* kind, index, term, replaces the log */
#define SEGMENT_NAME_LEN 20        /* 16 hex digits and ".wal" */

struct segment {
	uint64_t seq;       /* its number, in the file name */
	uint64_t max_index; /* highest entry index written to it (0 if none) */
};

struct wal {
	int dir_fd;
	int fd;                        /* the newest segment, open for writing */
	size_t offset, size;           /* where its records end; its preallocated size */
	struct segment *segments;      /* oldest first; the last is the one open */
	size_t n_segments, cap_segments;
	uint8_t *queue;                /* records waiting for wal_sync() */
	size_t queued, cap_queue;
	uint64_t queued_max_index;
	/* The durable state a new segment restates, and what the queue will make of it. */
	struct raftlog_hard_state hard, queued_hard;
	uint64_t snapshot_index, snapshot_term;
	bool skip_sync;                /* benchmarks only */
};

/* ---- encoding ---- */

/* Reserve a record of @p payload bytes at the end of @p buf (length filled in); returns where the payload goes. */
static uint8_t *reserve_record(uint8_t **buf, size_t *len, size_t *cap, size_t payload)
{
	size_t need = *len + RECORD_HEADER + payload;
	if (need > *cap) {
		size_t cap2 = *cap ? *cap : 4096;
		while (cap2 < need)
			cap2 *= 2;
		uint8_t *b = realloc(*buf, cap2);
		if (!b)
			return NULL;
		*buf = b;
		*cap = cap2;
	}
	uint8_t *rec = *buf + *len;
	put_le32(rec, (uint32_t)payload);
	*len = need;
	return rec + RECORD_HEADER;
}

/* Fill in the checksum of the record whose payload (of @p payload bytes) starts at @p fields. */
static void seal_record(uint8_t *fields, size_t payload)
{
	put_le32(fields - 4, snapshot_crc32c(0, fields, payload));
}

static int add_hard_state(uint8_t **buf, size_t *len, size_t *cap, const struct raftlog_hard_state *hs)
{
	uint8_t *f = reserve_record(buf, len, cap, HARD_STATE_FIELDS);
	if (!f)
		return GROVE_ENOMEM;
	f[0] = RECORD_HARD_STATE;
	put_le64(f + 1, hs->term);
	put_le64(f + 9, hs->vote);
	put_le64(f + 17, hs->commit);
	seal_record(f, HARD_STATE_FIELDS);
	return GROVE_OK;
}

static int add_snapshot(uint8_t **buf, size_t *len, size_t *cap, uint64_t index, uint64_t term, bool replaces_log)
{
	uint8_t *f = reserve_record(buf, len, cap, SNAPSHOT_FIELDS);
	if (!f)
		return GROVE_ENOMEM;
	f[0] = RECORD_SNAPSHOT;
	put_le64(f + 1, index);
	put_le64(f + 9, term);
	f[17] = replaces_log;
	seal_record(f, SNAPSHOT_FIELDS);
	return GROVE_OK;
}

/* ---- replay ---- */

/* The log as the records so far describe it. */
struct replay {
	struct wal_contents *out;
	size_t cap_entries;
	uint64_t gap_upto; /* entries up to here went missing with deleted segments: a snapshot must cover them */
};

static void drop_entries(struct wal_contents *c, size_t keep)
{
	for (size_t i = keep; i < c->n_entries; i++)
		free((void *)c->entries[i].data);
	c->n_entries = keep;
}

static int replay_entry(struct replay *r, uint64_t index, uint64_t term, uint32_t type, const uint8_t *data,
			size_t len)
{
	struct wal_contents *c = r->out;
	if (index <= c->snapshot_index)
		return GROVE_OK; /* covered by the snapshot already */
	uint64_t first = c->n_entries ? c->entries[0].index : c->snapshot_index + 1;
	uint64_t next = first + c->n_entries;
	if (index >= first && index < next) {
		drop_entries(c, (size_t)(index - first)); /* a conflicting suffix replaced */
	} else if (index != next) {
		/*
		 * The entries before it are not here: they were in segments deleted behind a snapshot (checked at
		 * the end). It replaces everything from its index on, so only those before it are missing.
		 */
		drop_entries(c, 0);
		r->gap_upto = index - 1;
	}
	if (grove_grow((void **)&c->entries, &r->cap_entries, c->n_entries, sizeof(*c->entries)))
		return GROVE_ENOMEM;
	void *copy = NULL;
	if (len && !(copy = malloc(len)))
		return GROVE_ENOMEM;
	if (len)
		memcpy(copy, data, len);
	c->entries[c->n_entries++] = (struct raftlog_entry){index, term, type, copy, len};
	return GROVE_OK;
}

static void replay_snapshot(struct replay *r, uint64_t index, uint64_t term, bool replaces_log)
{
	struct wal_contents *c = r->out;
	size_t covered = 0;
	while (covered < c->n_entries && c->entries[covered].index <= index)
		covered++;
	if (replaces_log) {
		drop_entries(c, 0);
		r->gap_upto = 0; /* whatever went missing before was replaced */
	} else if (covered == c->n_entries) {
		drop_entries(c, 0);
	} else {
		for (size_t i = 0; i < covered; i++)
			free((void *)c->entries[i].data);
		memmove(c->entries, c->entries + covered, (c->n_entries - covered) * sizeof(*c->entries));
		c->n_entries -= covered;
	}
	if (index > c->snapshot_index) {
		c->snapshot_index = index;
		c->snapshot_term = term;
	}
}

/*
 * Replay the records of one segment (@p len bytes at @p data). Sets *@p end to where its valid records
 * end and returns GROVE_ECORRUPT for a record that is cut short, fails its checksum or cannot be decoded
 * (the caller decides whether that is a torn tail). Raises @p seg's max_index.
 */
static int replay_segment(struct replay *r, const uint8_t *data, size_t len, struct segment *seg, size_t *end)
{
	size_t at = 0;
	*end = 0;
	while (len - at >= RECORD_HEADER) {
		uint32_t payload = get_le32(data + at);
		if (payload == 0)
			return GROVE_OK; /* the zeros after the last record */
		if (payload > len - at - RECORD_HEADER)
			return GROVE_ECORRUPT;
		const uint8_t *f = data + at + RECORD_HEADER;
		if (get_le32(data + at + 4) != snapshot_crc32c(0, f, payload))
			return GROVE_ECORRUPT;
		int err = GROVE_OK;
		if (f[0] == RECORD_ENTRY && payload >= ENTRY_FIELDS) {
			uint64_t index = get_le64(f + 1);
			err = replay_entry(r, index, get_le64(f + 9), get_le32(f + 17), f + ENTRY_FIELDS,
					   payload - ENTRY_FIELDS);
			if (index > seg->max_index)
				seg->max_index = index;
		} else if (f[0] == RECORD_HARD_STATE && payload == HARD_STATE_FIELDS) {
			r->out->hard = (struct raftlog_hard_state){get_le64(f + 1), get_le64(f + 9), get_le64(f + 17)};
		} else if (f[0] == RECORD_SNAPSHOT && payload == SNAPSHOT_FIELDS && f[17] <= 1) {
			replay_snapshot(r, get_le64(f + 1), get_le64(f + 9), f[17]);
		} else {
			return GROVE_ECORRUPT;
		}
		if (err)
			return err;
		at += RECORD_HEADER + payload;
		*end = at;
	}
	return GROVE_OK;
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
			w->segments[w->n_segments++] = (struct segment){seq, 0};
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

/* ---- writing ---- */

/* Start segment @p seq, big enough for @p need bytes, and write the restated state at its front. */
static int start_segment(struct wal *w, uint64_t seq, size_t need)
{
	uint8_t *head = NULL;
	size_t len = 0, cap = 0;
	int err = add_hard_state(&head, &len, &cap, &w->hard);
	if (!err)
		err = add_snapshot(&head, &len, &cap, w->snapshot_index, w->snapshot_term, false);
	if (err) {
		free(head);
		return err;
	}
	size_t size = WAL_SEGMENT_BYTES;
	if (size < len + need + RECORD_HEADER)
		size = len + need + RECORD_HEADER; /* room for the zero length that ends it */
	char name[SEGMENT_NAME_LEN + 1];
	segment_name(seq, name);
	int fd = openat(w->dir_fd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
	err = fd < 0 ? GROVE_EIO : GROVE_OK;
	if (!err && (posix_fallocate(fd, 0, (off_t)size) != 0 || pwrite(fd, head, len, 0) != (ssize_t)len))
		err = GROVE_EIO;
	free(head);
	if (!err && grove_grow((void **)&w->segments, &w->cap_segments, w->n_segments, sizeof(*w->segments)))
		err = GROVE_ENOMEM;
	if (err) {
		if (fd >= 0) {
			close(fd);
			unlinkat(w->dir_fd, name, 0);
		}
		return err;
	}
	/* The name must be durable with the first sync of its records. */
	if (fdatasync(fd) != 0 || fsync(w->dir_fd) != 0) {
		close(fd);
		return GROVE_EIO;
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->offset = len;
	w->size = size;
	w->segments[w->n_segments++] = (struct segment){seq, 0};
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

int wal_open(struct wal **out, const char *dir, struct wal_contents *contents)
{
	*out = NULL;
	memset(contents, 0, sizeof(*contents));
	struct wal *w = calloc(1, sizeof(*w));
	if (!w)
		return GROVE_ENOMEM;
	w->fd = -1;
	w->dir_fd = -1;
	bool created = mkdir(dir, 0755) == 0;
	if ((!created && errno != EEXIST) || (created && sync_parent(dir))) {
		free(w);
		return GROVE_EIO;
	}
	w->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = w->dir_fd < 0 ? GROVE_EIO : list_segments(w);
	struct replay r = {.out = contents};
	size_t end = 0;
	bool torn = false;
	for (size_t i = 0; !err && i < w->n_segments; i++) {
		char name[SEGMENT_NAME_LEN + 1];
		segment_name(w->segments[i].seq, name);
		uint8_t *data;
		size_t len;
		err = read_segment(w, name, &data, &len);
		if (!err)
			err = replay_segment(&r, data, len, &w->segments[i], &end);
		bool newest = i + 1 == w->n_segments;
		if (newest && (err == GROVE_ECORRUPT || (!err && !all_zero(data + end, len - end)))) {
			torn = true; /* a write the crash interrupted; it was never acknowledged */
			err = GROVE_OK;
		}
		if (!err && newest) {
			w->fd = openat(w->dir_fd, name, O_RDWR | O_CLOEXEC);
			w->size = len;
			w->offset = end;
			if (w->fd < 0)
				err = GROVE_EIO;
			else if (torn)
				err = cut_tail(w, end);
		}
		free(data);
	}
	if (!err && r.gap_upto > contents->snapshot_index)
		err = GROVE_ECORRUPT; /* entries are missing that no snapshot covers */
	contents->fresh = w->n_segments == 0;
	contents->torn_tail = torn;
	w->hard = w->queued_hard = contents->hard;
	w->snapshot_index = contents->snapshot_index;
	w->snapshot_term = contents->snapshot_term;
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
	drop_entries(contents, 0);
	free(contents->entries);
	contents->entries = NULL;
}

int wal_append(struct wal *w, const struct raftlog_entry *entries, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (entries[i].index != entries[i - 1].index + 1)
			return GROVE_EINVAL;
	size_t undo = w->queued;
	for (size_t i = 0; i < n; i++) {
		const struct raftlog_entry *e = &entries[i];
		if (e->len > UINT32_MAX - ENTRY_FIELDS - RECORD_HEADER) {
			w->queued = undo;
			return GROVE_ETOOBIG;
		}
		size_t payload = ENTRY_FIELDS + e->len;
		uint8_t *f = reserve_record(&w->queue, &w->queued, &w->cap_queue, payload);
		if (!f) {
			w->queued = undo;
			return GROVE_ENOMEM;
		}
		f[0] = RECORD_ENTRY;
		put_le64(f + 1, e->index);
		put_le64(f + 9, e->term);
		put_le32(f + 17, e->type);
		if (e->len)
			memcpy(f + ENTRY_FIELDS, e->data, e->len);
		seal_record(f, payload);
	}
	if (n && entries[n - 1].index > w->queued_max_index)
		w->queued_max_index = entries[n - 1].index;
	return GROVE_OK;
}

int wal_set_hard_state(struct wal *w, const struct raftlog_hard_state *hs)
{
	int err = add_hard_state(&w->queue, &w->queued, &w->cap_queue, hs);
	if (!err)
		w->queued_hard = *hs;
	return err;
}

int wal_sync(struct wal *w)
{
	if (!w->queued)
		return GROVE_OK;
	/* A record never straddles two segments; the zero length after the last one must fit too. */
	if (w->offset + w->queued + RECORD_HEADER > w->size) {
		int err = start_segment(w, w->segments[w->n_segments - 1].seq + 1, w->queued);
		if (err)
			return err;
	}
	size_t done = 0;
	while (done < w->queued) {
		ssize_t n = pwrite(w->fd, w->queue + done, w->queued - done, (off_t)(w->offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return GROVE_EIO;
		done += (size_t)n;
	}
	if (!w->skip_sync && fdatasync(w->fd) != 0)
		return GROVE_EIO;
	w->offset += w->queued;
	w->queued = 0;
	struct segment *seg = &w->segments[w->n_segments - 1];
	if (w->queued_max_index > seg->max_index)
		seg->max_index = w->queued_max_index;
	w->queued_max_index = 0;
	w->hard = w->queued_hard;
	return GROVE_OK;
}

/* Record a snapshot mark, make it durable, and delete the segments before the newest that it makes useless. */
static int mark_snapshot(struct wal *w, uint64_t index, uint64_t term, bool replaces_log)
{
	int err = add_snapshot(&w->queue, &w->queued, &w->cap_queue, index, term, replaces_log);
	if (!err)
		err = wal_sync(w);
	if (err)
		return err;
	if (index > w->snapshot_index) {
		w->snapshot_index = index;
		w->snapshot_term = term;
	}
	size_t gone = 0;
	while (gone + 1 < w->n_segments && (replaces_log || w->segments[gone].max_index <= index)) {
		char name[SEGMENT_NAME_LEN + 1];
		segment_name(w->segments[gone].seq, name);
		if (unlinkat(w->dir_fd, name, 0) != 0)
			break;
		gone++;
	}
	if (!gone)
		return GROVE_OK;
	memmove(w->segments, w->segments + gone, (w->n_segments - gone) * sizeof(*w->segments));
	w->n_segments -= gone;
	return fsync(w->dir_fd) == 0 ? GROVE_OK : GROVE_EIO;
}

int wal_compact(struct wal *w, uint64_t index, uint64_t term)
{
	return mark_snapshot(w, index, term, false);
}

int wal_install_snapshot(struct wal *w, uint64_t index, uint64_t term)
{
	return mark_snapshot(w, index, term, true);
}

void wal_skip_sync(struct wal *w)
{
	w->skip_sync = true;
}

size_t wal_pending(const struct wal *w)
{
	return w->queued;
}

void wal_close(struct wal *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->dir_fd >= 0)
		close(w->dir_fd);
	free(w->segments);
	free(w->queue);
	free(w);
}
