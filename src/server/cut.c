#include "src/server/cut.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/common/grow.h"

/*
 * Attempts of a cut before it fails (each may meet what runs at the time: a transaction coordinated by
 * another member, a split), and how long it may wait in all for shards that transactions hold.
 */
#define CUT_ATTEMPTS 8
#define CUT_WAIT_MS 10000
/* Cuts asked for and not taken yet, at most: each is a client's save or a backup, all served by one point. */
#define CUTS_MAX 64
/*
 * How long a cut waits for every shard to be free here before it begins anyway (and pushes or waits for what
 * it meets, reserving the shards): under back-to-back transactions coordinated by other members there may
 * be no turn in which none holds a shard. With grove_bench_shards --shards 8 --clients 8 --cross --snapshots
 * 10, 300 ms gives saves of about 330 ms and the writes a p99 of 43-48 ms (25 ms without saves); 50 ms gave
 * saves of 74 ms and a p99 of 38-40 ms. With saves asked of all three members at once, under load, cuts that
 * begin sooner meet each other more; there the two settled nothing (some saves took seconds either way), so
 * the value tried longer stays.
 */
#define CUT_PATIENCE_MS 300

struct cut {
	struct cut_for who;
	uint64_t seq;        /* its transaction's ticket's request id */
	bool begun;          /* its transaction is running (else it waits for the shards to be free) */
	uint64_t holder;     /* its transaction, once committed here (0: not yet) */
	int attempts;
	uint64_t deadline_ms; /* monotonic: it fails if not taken by then */
	uint64_t waited_since_ms; /* monotonic: when it began to wait for free shards (this attempt) */
	struct hlc_ts age;        /* its first transaction's start, kept by every attempt (wound-wait) */
};

struct cut_list {
	struct host *host;
	struct xshard *xshard;
	struct cut_hooks hooks;
	struct cut *cuts;
	size_t n, cap;
	uint64_t next_seq;
};

int cut_list_create(struct host *h, struct xshard *x, const struct cut_hooks *hooks, struct cut_list **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return GROVE_ENOMEM;
	(*out)->host = h;
	(*out)->xshard = x;
	(*out)->hooks = *hooks;
	return GROVE_OK;
}

void cut_list_destroy(struct cut_list *l)
{
	if (!l)
		return;
	free(l->cuts);
	free(l);
}

bool cut_owns(const struct host_ticket *t)
{
	return t->conn == 0;
}

bool cut_pending(const struct cut_list *l)
{
	return l->n > 0;
}

static void report(struct cut_list *l, const struct cut_for *who, int err, const char *why,
		   struct host_snapshot_read *rd)
{
	struct host_snapshot_read none = {0};
	l->hooks.taken(l->hooks.ctx, who, err, why, rd ? rd : &none);
}

/* Remove cut @p i and report its failure. */
static void fail(struct cut_list *l, size_t i, int err, const char *why)
{
	struct cut_for who = l->cuts[i].who;
	l->cuts[i] = l->cuts[--l->n];
	report(l, &who, err, why, NULL);
}

/* Begin the transaction of cut @p c on every shard, the world's group first (the anchor). */
static int start(struct cut_list *l, struct cut *c)
{
	size_t n = host_group_ids(l->host, NULL, 0);
	uint64_t *ids = calloc(n + 1, sizeof(*ids));
	if (!ids)
		return GROVE_ENOMEM;
	n = host_group_ids(l->host, ids + 1, n);
	ids[0] = HOST_WORLD_GROUP;
	size_t n_shards = 1;
	for (size_t i = 1; i <= n; i++)
		if (ids[i] != HOST_WORLD_GROUP && ids[i] != HOST_META_GROUP)
			ids[n_shards++] = ids[i];
	c->seq = ++l->next_seq;
	c->begun = true;
	c->holder = 0;
	c->attempts++;
	struct host_ticket t = {.conn = 0, .request_id = c->seq, .receive_ns = grove_realtime_ns()};
	int err = n_shards < 2 ? GROVE_EINVAL : xshard_begin_cut(l->xshard, &t, ids, n_shards, &c->age, t.receive_ns);
	free(ids);
	return err;
}

static const char *start_failure(int err)
{
	switch (err) {
	case GROVE_EINVAL:
		return "the world has no shards: a snapshot of its group is the world";
	case GROVE_EUNAVAILABLE:
		return "this member coordinates as many cross-shard transactions as it may; retry";
	default:
		return grove_strerror(err);
	}
}

void cut_begin(struct cut_list *l, const struct cut_for *who)
{
	if (l->n >= CUTS_MAX) {
		report(l, who, GROVE_EUNAVAILABLE, "as many snapshots of the world are being taken as may be; retry", NULL);
		return;
	}
	if (grove_grow((void **)&l->cuts, &l->cap, l->n, sizeof(*l->cuts))) {
		report(l, who, GROVE_ENOMEM, "out of memory", NULL);
		return;
	}
	uint64_t now = grove_monotonic_ms();
	l->cuts[l->n++] = (struct cut){.who = *who, .deadline_ms = now + CUT_WAIT_MS, .waited_since_ms = now};
	cut_turn(l);
}

static size_t slot_of(const struct cut_list *l, uint64_t seq)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->cuts[i].seq == seq)
			return i;
	return SIZE_MAX;
}

/* Cut @p i did not get a read of the world: begin it again once the shards are free, or fail if it tried enough. */
static void again(struct cut_list *l, size_t i, const char *what)
{
	l->cuts[i].begun = false;
	l->cuts[i].waited_since_ms = grove_monotonic_ms();
	if (l->cuts[i].attempts < CUT_ATTEMPTS)
		return;
	char why[600];
	snprintf(why, sizeof(why), "no consistent cut of the world after %d attempts (%s); retry", CUT_ATTEMPTS, what);
	fail(l, i, GROVE_EINTENT, why);
}

/*
 * Whether a transaction holds a shard, or one coordinated here is on its way to one: a cut begun now would
 * meet it and be pushed past it, as a write would, which waits for that too (server.c).
 */
static bool shards_busy(const struct cut_list *l)
{
	size_t n = host_group_ids(l->host, NULL, 0);
	uint64_t *ids = calloc(n ? n : 1, sizeof(*ids));
	if (!ids)
		return true;
	n = host_group_ids(l->host, ids, n);
	bool busy = false;
	for (size_t i = 0; i < n && !busy; i++)
		busy = ids[i] != HOST_META_GROUP &&
		       (host_held(l->host, ids[i], NULL) || xshard_writing_to(l->xshard, ids[i]));
	free(ids);
	return busy;
}

void cut_txn_ended(struct cut_list *l, const struct host_ticket *t, const struct xshard_outcome *o)
{
	size_t i = slot_of(l, t->request_id);
	if (i == SIZE_MAX)
		return;
	if (o->code == GROVE_OK)
		l->cuts[i].holder = o->txn;
	else
		again(l, i, o->message);
}

/* The cut whose transaction runs (one at a time on a member), or SIZE_MAX. */
static size_t running_cut(const struct cut_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->cuts[i].begun)
			return i;
	return SIZE_MAX;
}

/* Cut @p i is taken: report it with the read @p rd. */
static void taken(struct cut_list *l, size_t i, struct host_snapshot_read *rd)
{
	struct cut_for who = l->cuts[i].who;
	l->cuts[i] = l->cuts[--l->n];
	report(l, &who, GROVE_OK, "", rd);
}

/*
 * Read the world for every cut asked for, while transaction @p holder holds every shard here: they share its
 * point (a write acknowledged before they were asked for is in it, as a shard held applies none). @return
 * whether it could be read.
 */
static bool read_world(struct cut_list *l, uint64_t holder)
{
	struct host_snapshot_read rd;
	int err = host_world_snapshot_begin(l->host, holder, &rd);
	if (err == GROVE_EINTENT)
		return false;
	while (l->n) {
		if (err)
			fail(l, l->n - 1, err, "cannot read the store");
		else
			taken(l, l->n - 1, &rd);
		if (l->n)
			err = host_world_snapshot_begin(l->host, holder, &rd);
	}
	return true;
}

void cut_turn(struct cut_list *l)
{
	/*
	 * The running cut committed here; or, as good, every shard here is held by one transaction (another
	 * member's cut, usually): then every cut asked for here is read from it, and the running one's transaction
	 * ends by itself.
	 */
	size_t i = running_cut(l);
	uint64_t holder;
	if (i != SIZE_MAX && l->cuts[i].holder) {
		holder = l->cuts[i].holder;
		l->cuts[i].holder = 0;
		if (!read_world(l, holder))
			again(l, i, "a shard was not held by the cut when it was read");
	} else if (l->n && host_world_held(l->host, &holder)) {
		read_world(l, holder);
	}
	uint64_t now = grove_monotonic_ms();
	for (i = l->n; i-- > 0;)
		if (!l->cuts[i].begun && now >= l->cuts[i].deadline_ms)
			fail(l, i, GROVE_EINTENT, "cross-shard transactions held the shards for too long to take a "
						  "consistent cut of the world; retry");
	if (!l->n || running_cut(l) != SIZE_MAX)
		return;
	size_t first = 0; /* the one asked for first */
	for (i = 1; i < l->n; i++)
		if (l->cuts[i].deadline_ms < l->cuts[first].deadline_ms)
			first = i;
	if (now < l->cuts[first].waited_since_ms + CUT_PATIENCE_MS && shards_busy(l))
		return;
	int err = start(l, &l->cuts[first]);
	if (err)
		fail(l, first, err, start_failure(err));
}
