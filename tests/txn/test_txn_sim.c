/*
 * Deterministic simulation of cross-shard transactions: 2-4 shards, each a shard state machine applied in
 * arrival order as its Raft group would (an applied command is durable; a leader change is a window in
 * which proposals are lost or wait), 2-4 clients running transactions of 2-4 keys over a few shared keys
 * with the real coordinator, 1-2 readers reading keys at their HLC time, and status recoveries run by
 * whoever meets an intent (a coordinator's, now and then, forced: pushing whatever the heartbeat says, as a
 * cut of the world does). A command's result goes back to its sender and to every other coordinator or
 * recovery of the same transaction (groved hands each applied result to whoever works on the transaction
 * there). Every command and result travels encoded, through a network that loses,
 * duplicates and delays (so reorders) them; every node's physical clock is off by up to half the maximum
 * offset. Coordinators crash at every step of the protocol (before, during and after sending their
 * intents, after the STAGING record, before and after acknowledging, before and after finalizing, while
 * rolling back), recoveries crash midway, and the shards' timestamp caches are garbage-collected.
 *
 * Checked as it happens:
 *   - an acknowledged transaction is implicitly committed (record STAGING, every listed intent in place at
 *     the attempt and timestamp) or COMMITTED there (AckedIsCommitted); an abort is reported only for an
 *     ABORTED record;
 *   - a record becomes COMMITTED only while implicitly committed, becomes ABORTED never while implicitly
 *     committed nor once acknowledged, and a final record never changes (CommitFinal, AbortFinal);
 *   - an intent lands above every timestamp its key's reads and preventions covered and above its newest
 *     version (the timestamp cache rule), so never where recovery prevented it;
 *   - a version appears only for a transaction committed at exactly its timestamp (COMMITTED, or STAGING and
 *     implicitly committed: resolved early); a read sees only those;
 *   - when a COMMITTED record is forgotten, no shard has it resolved early unconfirmed (nothing would
 *     confirm it after);
 *   - every node's HLC is monotonic and within the maximum offset of true time.
 * And after quiescing (faults off, every live coordinator finished, abandoned intents and early resolutions
 * recovered, as a shard's leader in groved does):
 *   - no intent and no unconfirmed early resolution is left;
 *   - atomicity: a COMMITTED transaction's every write is a version at its commit timestamp with its value,
 *     and nothing of any other transaction is visible;
 *   - every acknowledged transaction is COMMITTED at the acknowledged timestamp;
 *   - every read served saw exactly the newest version at or below its timestamp in the final history.
 *
 * GROVE_TXN_SEEDS=N runs N seeds (default 1000); GROVE_TXN_SEED=S replays one (GROVE_TXN_TRACE=1 prints its
 * events). GROVE_TXN_STORE=lmdb runs the shards on the LMDB backend (src/txn/lmdbstore.h) instead of memory:
 * every shard of every seed a group of one environment, each command applied in a write transaction of its
 * own, committed or aborted as shard.h says. A failure prints `seed=S` and what broke. Built with TXN_SIM_EXPECT_FAILURE (the mutant
 * builds), the program succeeds only if some seed fails, first with every check and then with the
 * end-to-end checks alone (GROVE_TXN_CHECKS below), and stops at the first failing seed of each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/txn/codec.h"
#include "src/txn/coord.h"
#include "src/txn/recover.h"
#include "src/txn/shard.h"
#include "stores.h"

#define MS 1000000ull
#define MAX_SHARDS 4
#define MAX_CLIENTS 4
#define MAX_READERS 3
#define MAX_NODES (MAX_CLIENTS + MAX_READERS)
#define MAX_KEYS 12
#define MAX_TXN_KEYS 4
#define MAX_TXNS 1024
#define MAX_HELPERS 48
#define MAX_PREVENTED 4096
#define MAX_OFFSET (4 * MS)       /* the cluster's maximum clock offset */
#define HEARTBEAT (10 * MS)
#define EXPIRY (40 * MS)
#define RETRY (8 * MS)
#define RETRY_MAX (4 * RETRY)    /* resends back off up to this */
#define BLOCK_TIMEOUT (80 * MS)  /* longer than EXPIRY: a blocked write outlives a dead blocker */
#define RUN_TIME (500 * MS)        /* with faults and new work */
#define QUIESCE_TIME (4000 * MS)   /* at most, to finish everything after */

/* Where a client's coordinator dies (one per transaction, or none). */
enum crash_point {
	CP_NONE = 0,
	CP_BEFORE_SEND,        /* commit() made its messages; none leaves */
	CP_MID_SEND,           /* half of the intents and STAGING record leave */
	CP_AFTER_SEND,         /* all of them left; no answer is heard */
	CP_AFTER_STAGE,        /* the STAGING record's answer arrived */
	CP_BEFORE_ACK,         /* implicitly committed; the client is not told */
	CP_AFTER_ACK,          /* the client is told; the FINALIZE and the early resolutions do not leave */
	CP_MID_EARLY,          /* the client is told; some of the early resolutions leave, the FINALIZE not */
	CP_AFTER_FINALIZE,     /* the FINALIZE left */
	CP_MID_RESOLVE,        /* the record is final; half of the RESOLVEs leave */
	CP_DURING_ROLLBACK,    /* rolling back: half of its first commands leave */
	CP_ANY_TIME,           /* at a random moment */
	CP_COUNT
};

enum owner_kind { OWNER_CLIENT, OWNER_READER, OWNER_HELPER };

struct packet {
	uint64_t at;             /* delivery time */
	uint64_t shard;          /* the shard that applies the command */
	enum owner_kind kind;    /* who sent it and gets the result */
	int owner;
	uint32_t gen;            /* the sender's generation: a crashed sender's results go nowhere */
	uint8_t *cmd;            /* the encoded command */
	size_t cmd_len;
	uint8_t *res;            /* the encoded result; NULL while the command is on its way to the shard */
	size_t res_len;
};

struct shard {
	uint64_t group;             /* its state in the run's stores */
	uint64_t unavailable_until; /* a leader change: proposals are lost or wait until then */
};

struct node {
	struct hlc_clock clock;
	int64_t offset;          /* its physical clock minus true time */
	struct hlc_ts last;      /* the clock as last seen: it must never go back */
	struct hlc_ts last_begin;/* the timestamp of the last transaction begun here */
};

struct client {
	int node;
	uint32_t gen;
	struct txn_coord *coord;  /* NULL when idle */
	int txn;                  /* the transaction it runs (index) */
	enum crash_point crash_at;
	bool sent_first;          /* the first batch (intents + STAGING) was handed out */
	uint64_t idle_until;
};

enum reader_state { READER_IDLE, READER_READING, READER_RECOVERING, READER_WAITING };

struct reader {
	int node;
	enum reader_state state;
	int keys[4];              /* the keys of this session, read one after another at rts */
	int n_keys, next;
	struct hlc_ts rts;
	uint64_t resend_at;       /* the read goes again if unanswered by then */
	uint64_t wait_until;
	int tries;
};

/* A status recovery, started by a reader or a client that met an intent, or by the final sweep. */
struct helper {
	bool used;
	int node;
	uint32_t gen;
	struct txn_recover *r;
	uint64_t txn;             /* the transaction it recovers */
	int waiter;               /* the reader waiting for it, or -1 */
	uint64_t crash_at;        /* when it dies (0: never) */
};

struct sim_txn {
	uint64_t anchor;
	int keys[MAX_TXN_KEYS];
	int n_keys;
	bool acked;               /* the client was told COMMITTED ... */
	struct hlc_ts acked_ts;   /* ... at this timestamp */
	bool told_aborted;
	bool resolved;            /* a FORGET noted every intent of its final record resolved */
	bool forgot;              /* its record was deleted (a GC collected it) ... */
	struct txn_record forgotten; /* ... as it was then: what the checks take for its record from then on */
	bool made[MAX_TXN_KEYS];  /* a version of its write on keys[i] was made (it may be pruned since) ... */
	struct hlc_ts made_ts[MAX_TXN_KEYS]; /* ... at this timestamp */
};

/* A read some shard served (the result may never have reached the reader: it still counts). */
struct observation {
	int key;
	struct hlc_ts rts;
	bool found;
	struct hlc_ts ts;
	uint64_t writer;
	bool checked;     /* checked before a GC could prune the versions it is checked against */
};

struct prevention {
	uint64_t txn;
	uint32_t epoch, seq;
	int key;
	struct hlc_ts ts;
};

struct stats {
	unsigned begun, acked, aborted, crashed, pushes, restarts, rollbacks, blocked, recoveries, recovered_commit,
		recovered_abort, alive, intents_met, reads, lost, duplicated;
	unsigned late_refused;      /* intents of finished transactions refused by a finished marker */
	unsigned late_landed;       /* ... that landed anyway (the marker forgotten below the low-water mark) */
	unsigned collected;         /* records deleted by a GC */
	unsigned forced;            /* recoveries that pushed whatever the heartbeat said */
	unsigned unknown;           /* clients told the outcome is not known (their records collected) */
	unsigned crashes[CP_COUNT]; /* by crash point */
};

/* Summed over the seeds of a run, for its last line. */
static struct stats totals;

/*
 * GROVE_TXN_CHECKS=end keeps only what a client could see in the end (atomicity, acknowledged transactions
 * committed, reads agreeing with the final history, no intent left) and the clocks; it leaves out the
 * protocol invariants checked as the run goes. It shows that a mutant does harm that a user would notice,
 * not only break a rule of the protocol.
 */
static bool end_checks_only;

struct sim {
	uint64_t seed, rng;
	uint64_t now;             /* true time, ns */
	bool faults;              /* the run, before quiescing */
	bool failed;
	char why[768];
	bool trace;
	int n_shards, n_keys, n_clients, n_readers;
	struct shard shards[MAX_SHARDS + 1];
	struct node nodes[MAX_NODES];
	struct client clients[MAX_CLIENTS];
	struct reader readers[MAX_READERS];
	struct helper helpers[MAX_HELPERS];
	struct packet *net;
	size_t n_net, cap_net;
	struct sim_txn txns[MAX_TXNS];
	int n_txns;
	struct hlc_ts covered[MAX_KEYS]; /* the highest timestamp a served read or a prevention covered */
	struct observation *obs;
	size_t n_obs, cap_obs;
	struct prevention prevented[MAX_PREVENTED];
	size_t n_prevented;
	struct stats st;
};

static uint64_t rnd(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static bool chance(struct sim *s, unsigned per_mille)
{
	return rnd(s) % 1000 < per_mille;
}

__attribute__((format(printf, 2, 3))) static void violate(struct sim *s, const char *fmt, ...)
{
	if (s->failed)
		return;
	s->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3))) static void trace(struct sim *s, const char *fmt, ...)
{
	if (!s->trace)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("%8.3f ms  ", (double)(s->now % (1000000 * MS)) / MS);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void check(struct sim *s, int err, const char *what)
{
	if (err)
		violate(s, "%s failed: %s", what, grove_errname(err));
}

#define TS(t) (unsigned long long)(t).wall % (1000000 * MS), (t).logical
#define TS_FMT "%llu.%u"

/* ---- keys, shards, clocks ---- */

static struct txn_bytes key_bytes(int key, char buf[8])
{
	int n = snprintf(buf, 8, "k%d", key);
	return (struct txn_bytes){(const uint8_t *)buf, (size_t)n};
}

static int key_index(struct txn_bytes key)
{
	int k = 0;
	for (size_t i = 1; i < key.len; i++)
		k = k * 10 + (key.data[i] - '0');
	return k;
}

static uint64_t shard_of(struct sim *s, int key)
{
	return (uint64_t)(key % s->n_shards) + 1;
}

/* n distinct keys at random. */
static void pick_keys(struct sim *s, int *keys, int n)
{
	for (int i = 0; i < n; i++) {
		bool fresh;
		do {
			keys[i] = (int)(rnd(s) % (uint64_t)s->n_keys);
			fresh = true;
			for (int j = 0; j < i; j++)
				fresh = fresh && keys[j] != keys[i];
		} while (!fresh);
	}
}

/* Where every seed's shards keep their state (GROVE_TXN_STORE). */
static struct stores *run_stores;

static struct txn_store store_of(struct sim *s, uint64_t shard)
{
	return stores_of(run_stores, s->shards[shard].group);
}

/* A node's physical time. */
static uint64_t pt_of(struct sim *s, int node)
{
	return (uint64_t)((int64_t)s->now + s->nodes[node].offset);
}

static void value_of(uint64_t txn, int key, char *buf, size_t n)
{
	snprintf(buf, n, "t%llu:k%d", (unsigned long long)txn, key);
}

/* HLC: monotonic on every node, and never further ahead of true time than the maximum offset allows. */
static void check_clock(struct sim *s, int node)
{
	struct node *nd = &s->nodes[node];
	if (hlc_cmp(nd->clock.last, nd->last) < 0)
		violate(s, "node %d's HLC went back from " TS_FMT " to " TS_FMT, node, TS(nd->last), TS(nd->clock.last));
	if (nd->clock.last.wall > s->now + MAX_OFFSET)
		violate(s, "node %d's HLC is " TS_FMT ", beyond the maximum offset of true time", node, TS(nd->clock.last));
	nd->last = nd->clock.last;
}

/* ---- the network ---- */

static void queue_packet(struct sim *s, const struct packet *p)
{
	if (s->n_net == s->cap_net) {
		s->cap_net = s->cap_net ? 2 * s->cap_net : 256;
		s->net = realloc(s->net, s->cap_net * sizeof(*s->net));
	}
	s->net[s->n_net++] = *p;
}

static uint64_t delay(struct sim *s)
{
	if (s->faults && chance(s, 40))
		return (10 + rnd(s) % 40) * MS; /* a slow path: longer than the heartbeat expiry at times */
	return (1 + rnd(s) % (s->faults ? 4 : 2)) * MS;
}

static void send_cmd(struct sim *s, uint64_t shard, enum owner_kind kind, int owner, uint32_t gen,
		     const struct txn_cmd *cmd)
{
	struct packet p = {.at = s->now + delay(s), .shard = shard, .kind = kind, .owner = owner, .gen = gen};
	check(s, txn_cmd_encode(cmd, &p.cmd, &p.cmd_len), "encoding a command");
	if (!p.cmd)
		return;
	trace(s, "  send %s %.*s txn %llu seq %u to shard %llu", txn_cmd_name(cmd->type), (int)cmd->key.len,
	      (const char *)cmd->key.data, (unsigned long long)cmd->txn.id, cmd->txn.seq, (unsigned long long)shard);
	queue_packet(s, &p);
}

static void free_packet(struct packet *p)
{
	free(p->cmd);
	free(p->res);
}

static struct packet copy_packet(const struct packet *p)
{
	struct packet c = *p;
	c.cmd = malloc(p->cmd_len);
	memcpy(c.cmd, p->cmd, p->cmd_len);
	if (p->res) {
		c.res = malloc(p->res_len);
		memcpy(c.res, p->res, p->res_len);
	}
	return c;
}

/* ---- what the shards hold, for the checks ---- */

static bool intent_on(struct sim *s, int key, struct txn_meta *meta)
{
	char buf[8];
	struct txn_store st = store_of(s, shard_of(s, key));
	int err = txn_shard_intent(&st, key_bytes(key, buf), meta, NULL);
	if (err && err != GROVE_ENOTFOUND)
		check(s, err, "reading an intent");
	return err == GROVE_OK;
}

/*
 * The record of @p txn, or the one its coordinator forgot: a push that finds none later makes an ABORTED one,
 * which says nothing of how the transaction ended.
 */
static struct txn_record record_of(struct sim *s, uint64_t txn)
{
	struct txn_record rec = {0};
	const struct sim_txn *tx = &s->txns[txn - 1];
	if (tx->forgot) {
		check(s, txn_record_copy(&rec, &tx->forgotten), "copying a record");
		return rec;
	}
	struct txn_store st = store_of(s, tx->anchor);
	check(s, txn_shard_record(&st, txn, &rec), "reading a record");
	return rec;
}

/* No intent of @p txn's final attempt (@p rec) is left (a copy that arrived late sits at a pushed timestamp). */
static void check_no_final_intent(struct sim *s, uint64_t txn, const struct txn_record *rec, const char *when)
{
	const struct sim_txn *tx = &s->txns[txn - 1];
	for (int i = 0; i < tx->n_keys; i++) {
		struct txn_meta m;
		if (intent_on(s, tx->keys[i], &m) && txn_intent_matches(&m, txn, rec->epoch, rec->seq, rec->ts))
			violate(s, "txn %llu: %s while its intent on k%d is unresolved", (unsigned long long)txn, when,
				tx->keys[i]);
	}
}

/*
 * A FORGET was applied to @p txn's record (@p before, as it was): if COMMITTED, every intent of it is resolved
 * (of an ABORTED one, intents its list does not name may be left: a push aborts them again).
 */
static void note_resolved(struct sim *s, uint64_t txn, const struct txn_record *before)
{
	if (before->status != TXN_COMMITTED)
		return;
	check_no_final_intent(s, txn, before, "a FORGET said it was resolved");
	/* Each early resolution is confirmed by the final record before the FORGET: with the record gone, nothing
	 * else would confirm it (groved leaves an early resolution without a record alone). */
	for (int sh = 1; sh <= s->n_shards; sh++) {
		struct txn_store st = store_of(s, (uint64_t)sh);
		struct txn_meta early;
		int err = txn_shard_early(&st, txn - 1, &early);
		if (err != GROVE_ENOTFOUND)
			check(s, err, "walking early resolutions");
		if (err == GROVE_OK && early.id == txn)
			violate(s, "txn %llu: a FORGET came while shard %d still had it resolved early, unconfirmed",
				(unsigned long long)txn, sh);
	}
	s->txns[txn - 1].resolved = true;
}

/*
 * A GC may have deleted @p txn's record (@p before, as it was): only a final one; a COMMITTED one only once a
 * FORGET said every intent of it was resolved (an ABORTED one may still have intents: a push aborts them again).
 */
static void note_collected(struct sim *s, uint64_t txn, const struct txn_record *before)
{
	struct sim_txn *tx = &s->txns[txn - 1];
	struct txn_record now = {0};
	struct txn_store st = store_of(s, tx->anchor);
	check(s, txn_shard_record(&st, txn, &now), "reading a record");
	bool deleted = now.status == TXN_NONE && before->status != TXN_NONE;
	txn_record_free(&now);
	if (!deleted || tx->forgot)
		return;
	if (!txn_status_is_final(before->status))
		violate(s, "txn %llu: its %s record was collected", (unsigned long long)txn, txn_status_name(before->status));
	if (before->status == TXN_COMMITTED && !tx->resolved)
		violate(s, "txn %llu: its COMMITTED record was collected before a FORGET", (unsigned long long)txn);
	if (before->status == TXN_COMMITTED)
		check_no_final_intent(s, txn, before, "its record was collected");
	tx->forgot = true;
	check(s, txn_record_copy(&tx->forgotten, before), "copying a record");
	s->st.collected++;
}

/* Whether rec (of txn) is implicitly committed now; if not, why into `why`. */
static bool implicitly_committed(struct sim *s, uint64_t txn, const struct txn_record *rec, char *why, size_t n)
{
	const struct txn_meta *intents[MAX_TXN_KEYS] = {0};
	struct txn_meta metas[MAX_TXN_KEYS];
	if (rec->n_writes > MAX_TXN_KEYS) {
		snprintf(why, n, "a list of %zu writes", rec->n_writes);
		return false;
	}
	for (size_t i = 0; i < rec->n_writes; i++) {
		int key = key_index(rec->writes[i].key);
		struct txn_meta attempt = {.id = txn, .epoch = rec->epoch, .seq = rec->writes[i].seq, .ts = rec->ts};
		struct txn_store st = store_of(s, shard_of(s, key));
		bool landed;
		check(s, txn_shard_landed(&st, rec->writes[i].key, &attempt, &landed), "looking for a write");
		if (landed)
			metas[i] = attempt; /* its intent, or resolved as committed (early): in place */
		if (landed || intent_on(s, key, &metas[i]))
			intents[i] = &metas[i];
	}
	if (txn_is_implicitly_committed(txn, rec, intents))
		return true;
	snprintf(why, n, "record %s", txn_status_name(rec->status));
	for (size_t i = 0; rec->status == TXN_STAGING && i < rec->n_writes; i++)
		if (!txn_intent_matches(intents[i], txn, rec->epoch, rec->writes[i].seq, rec->ts)) {
			snprintf(why, n, "intent on k%d is %s", key_index(rec->writes[i].key),
				 intents[i] ? "another write" : "missing");
			break;
		}
	return false;
}

static bool same_attempt(const struct txn_record *a, const struct txn_record *b)
{
	return a->status == b->status && a->epoch == b->epoch && a->seq == b->seq && hlc_cmp(a->ts, b->ts) == 0;
}

/* A record changed from `before` to `after` by one command. */
static void check_record_change(struct sim *s, uint64_t txn, const struct txn_record *before,
				const struct txn_record *after)
{
	char why[128];
	if (end_checks_only)
		return;
	if (txn_status_is_final(before->status) && !same_attempt(before, after))
		violate(s, "txn %llu: final record %s changed to %s", (unsigned long long)txn,
			txn_status_name(before->status), txn_status_name(after->status));
	if (after->status == TXN_COMMITTED && before->status != TXN_COMMITTED) {
		/* The record must say COMMITTED only of an attempt whose every intent is in place. */
		struct txn_record staged = *after;
		staged.status = TXN_STAGING;
		if (before->status != TXN_STAGING || !same_attempt(before, &staged))
			violate(s, "txn %llu: record COMMITTED from %s, not from the STAGING attempt", (unsigned long long)txn,
				txn_status_name(before->status));
		else if (!implicitly_committed(s, txn, &staged, why, sizeof(why)))
			violate(s, "txn %llu: record COMMITTED at seq %u while not implicitly committed (%s)",
				(unsigned long long)txn, after->seq, why);
	}
	if (after->status == TXN_ABORTED && before->status != TXN_ABORTED) {
		if (s->txns[txn - 1].acked)
			violate(s, "txn %llu: acknowledged, then its record ABORTED", (unsigned long long)txn);
		if (before->status == TXN_STAGING && implicitly_committed(s, txn, before, why, sizeof(why)))
			violate(s, "txn %llu: record ABORTED while implicitly committed at seq %u", (unsigned long long)txn,
				before->seq);
	}
}

/* An intent of meta landed on key: above every read and prevention of the key and its newest version. */
static void check_landing(struct sim *s, int key, const struct txn_meta *meta)
{
	if (end_checks_only)
		return;
	for (size_t i = 0; i < s->n_prevented; i++) {
		const struct prevention *p = &s->prevented[i];
		if (p->txn == meta->id && p->key == key && p->epoch == meta->epoch && p->seq == meta->seq &&
		    hlc_cmp(p->ts, meta->ts) == 0)
			violate(s, "txn %llu: intent on k%d landed at " TS_FMT " where recovery prevented it",
				(unsigned long long)meta->id, key, TS(meta->ts));
	}
	if (hlc_cmp(meta->ts, s->covered[key]) <= 0)
		violate(s, "txn %llu: intent on k%d landed at " TS_FMT ", not above " TS_FMT " that reads or preventions "
			   "covered", (unsigned long long)meta->id, key, TS(meta->ts), TS(s->covered[key]));
}

struct version_check {
	struct sim *s;
	int key;
	uint64_t writer;          /* find this writer's versions */
	int count;
	struct hlc_ts ts;
	struct hlc_ts newest;
	bool any;
};

static int visit_version(void *arg, const struct txn_version *v)
{
	struct version_check *vc = arg;
	if (!vc->any)
		vc->newest = v->ts;
	vc->any = true;
	if (v->writer == vc->writer) {
		vc->count++;
		vc->ts = v->ts;
		char want[32];
		value_of(v->writer, vc->key, want, sizeof(want));
		if (v->value.len != strlen(want) || memcmp(v->value.data, want, v->value.len) != 0)
			violate(vc->s, "txn %llu: the version of k%d holds another value", (unsigned long long)v->writer,
				vc->key);
	}
	return 0;
}

static struct version_check versions_of(struct sim *s, int key, uint64_t writer)
{
	char buf[8];
	struct version_check vc = {.s = s, .key = key, .writer = writer};
	struct txn_store st = store_of(s, shard_of(s, key));
	check(s, txn_shard_each_version(&st, key_bytes(key, buf), visit_version, &vc), "walking versions");
	return vc;
}

/*
 * A version of writer now exists on key: its record must be COMMITTED at exactly that timestamp, or STAGING
 * there and implicitly committed (an early resolution).
 */
static void check_version(struct sim *s, int key, uint64_t writer)
{
	if (end_checks_only)
		return;
	struct version_check vc = versions_of(s, key, writer);
	if (!vc.count)
		return;
	struct txn_record rec = record_of(s, writer);
	char why[128];
	bool committed = rec.status == TXN_COMMITTED ||
			 (rec.status == TXN_STAGING && implicitly_committed(s, writer, &rec, why, sizeof(why)));
	if (vc.count > 1 || !committed || hlc_cmp(rec.ts, vc.ts) != 0)
		violate(s, "txn %llu: %d version(s) on k%d at " TS_FMT " while its record is %s at " TS_FMT,
			(unsigned long long)writer, vc.count, key, TS(vc.ts), txn_status_name(rec.status), TS(rec.ts));
	txn_record_free(&rec);
}

/* What a walk's callback returns to stop it: not an error code. */
#define WALK_STOP (-1)

struct history_check {
	struct sim *s;
	int key;
	struct hlc_ts rts;
	bool found;
	struct txn_version v;
};

static int newest_at(void *arg, const struct txn_version *v)
{
	struct history_check *hc = arg;
	if (hlc_cmp(v->ts, hc->rts) > 0)
		return 0;
	hc->found = true;
	hc->v = *v;
	return WALK_STOP; /* newest first: the first at or below rts is the one */
}

/* A version of @p writer's write on @p key exists now: noted, as a GC may prune it later. */
static void note_made(struct sim *s, int key, uint64_t writer)
{
	struct version_check vc = versions_of(s, key, writer);
	struct sim_txn *tx = writer >= 1 && writer <= (uint64_t)s->n_txns ? &s->txns[writer - 1] : NULL;
	for (int i = 0; vc.count && tx && i < tx->n_keys; i++)
		if (tx->keys[i] == key && !tx->made[i])
			tx->made[i] = true, tx->made_ts[i] = vc.ts;
}

struct newer_check {
	struct hlc_ts above, upto; /* a version in (above, upto] */
	bool found;
};

static int visit_newer(void *arg, const struct txn_version *v)
{
	struct newer_check *nc = arg;
	nc->found |= hlc_cmp(v->ts, nc->above) > 0 && hlc_cmp(v->ts, nc->upto) <= 0;
	return 0;
}

/* Whether a GC may have dropped @p key's version at @p ts: it lies at or below the mark, under a newer one that does too. */
static bool pruned(struct sim *s, int key, struct hlc_ts ts)
{
	char buf[8];
	struct txn_store st = store_of(s, shard_of(s, key));
	struct newer_check nc = {.above = ts};
	check(s, txn_shard_lwm(&st, &nc.upto), "reading the low-water mark");
	if (hlc_cmp(ts, nc.upto) > 0)
		return false;
	check(s, txn_shard_each_version(&st, key_bytes(key, buf), visit_newer, &nc), "walking versions");
	return nc.found;
}

/* Read @p o is what the history says was there at its timestamp (nothing lands at or below it after the read). */
static void check_observation(struct sim *s, struct observation *o)
{
	char buf[8];
	struct history_check hc = {.s = s, .key = o->key, .rts = o->rts};
	struct txn_store st = store_of(s, shard_of(s, o->key));
	int err = txn_shard_each_version(&st, key_bytes(o->key, buf), newest_at, &hc);
	check(s, err == WALK_STOP ? GROVE_OK : err, "walking versions");
	if (hc.found != o->found || (o->found && (hlc_cmp(hc.v.ts, o->ts) != 0 || hc.v.writer != o->writer)))
		violate(s, "a read of k%d at " TS_FMT " saw %s txn %llu at " TS_FMT "; the history has %s txn %llu at " TS_FMT,
			o->key, TS(o->rts), o->found ? "" : "nothing, not", (unsigned long long)o->writer, TS(o->ts),
			hc.found ? "" : "nothing, not", (unsigned long long)hc.v.writer, TS(hc.v.ts));
	o->checked = true;
}

/* Shard @p shard is about to forget below @p lwm: the reads of its keys at or below it are checked now. */
static void check_observations(struct sim *s, uint64_t shard, struct hlc_ts lwm)
{
	for (size_t i = 0; i < s->n_obs && !s->failed; i++)
		if (!s->obs[i].checked && shard_of(s, s->obs[i].key) == shard && hlc_cmp(s->obs[i].rts, lwm) <= 0)
			check_observation(s, &s->obs[i]);
}

/* What a command is about to change, for check_applied(). */
struct before {
	bool has_record;
	struct txn_record record;
	bool had_intent;
	struct txn_meta intent;
};

static void look_before(struct sim *s, const struct txn_cmd *cmd, struct before *b)
{
	memset(b, 0, sizeof(*b));
	if (cmd->type == TXN_CMD_STAGE || cmd->type == TXN_CMD_HEARTBEAT || cmd->type == TXN_CMD_FINALIZE ||
	    cmd->type == TXN_CMD_FORGET) {
		b->has_record = true;
		b->record = record_of(s, cmd->txn.id);
	}
	if (cmd->type == TXN_CMD_WRITE_INTENT)
		b->had_intent = intent_on(s, key_index(cmd->key), &b->intent);
}

static void check_applied(struct sim *s, const struct txn_cmd *cmd, const struct txn_result *res, struct before *b)
{
	int key = cmd->key.len ? key_index(cmd->key) : -1;
	if (cmd->type == TXN_CMD_FORGET)
		note_resolved(s, cmd->txn.id, &b->record);
	if (b->has_record) {
		struct txn_record after = record_of(s, cmd->txn.id);
		check_record_change(s, cmd->txn.id, &b->record, &after);
		txn_record_free(&after);
		txn_record_free(&b->record);
	}
	switch (cmd->type) {
	case TXN_CMD_WRITE_INTENT: {
		struct txn_meta now;
		s->st.late_refused += res->code == TXN_R_FINISHED;
		if (res->code == TXN_R_WRITTEN && intent_on(s, key, &now) &&
		    (!b->had_intent || b->intent.id != now.id || b->intent.seq != now.seq)) {
			check_landing(s, key, &now);
			struct txn_record rec = record_of(s, now.id);
			s->st.late_landed += txn_status_is_final(rec.status);
			txn_record_free(&rec);
		}
		break;
	}
	case TXN_CMD_RESOLVE:
		note_made(s, key, cmd->txn.id);
		check_version(s, key, cmd->txn.id);
		break;
	case TXN_CMD_QUERY_INTENT:
		if (res->code == TXN_R_PREVENTED) {
			s->covered[key] = txn_ts_max(s->covered[key], cmd->txn.ts);
			if (s->n_prevented < MAX_PREVENTED)
				s->prevented[s->n_prevented++] =
					(struct prevention){cmd->txn.id, cmd->txn.epoch, cmd->txn.seq, key, cmd->txn.ts};
		}
		break;
	case TXN_CMD_READ:
		if (res->code != TXN_R_VALUE)
			break;
		s->st.reads++;
		s->covered[key] = txn_ts_max(s->covered[key], cmd->at);
		if (s->n_obs == s->cap_obs) {
			s->cap_obs = s->cap_obs ? 2 * s->cap_obs : 1024;
			s->obs = realloc(s->obs, s->cap_obs * sizeof(*s->obs));
		}
		s->obs[s->n_obs++] = (struct observation){key, cmd->at, res->found, res->ts, res->writer, false};
		if (res->found)
			check_version(s, key, res->writer);
		break;
	default:
		break;
	}
}

/* The result @p res of command packet @p p, on its way back to @p kind / @p owner (of generation @p gen). */
static void send_result(struct sim *s, const struct packet *p, enum owner_kind kind, int owner, uint32_t gen,
			const uint8_t *res, size_t res_len)
{
	struct packet back = {.at = s->now + delay(s), .shard = p->shard, .kind = kind, .owner = owner, .gen = gen,
			      .cmd = malloc(p->cmd_len), .cmd_len = p->cmd_len, .res = malloc(res_len), .res_len = res_len};
	memcpy(back.cmd, p->cmd, p->cmd_len);
	memcpy(back.res, res, res_len);
	queue_packet(s, &back);
}

/*
 * The result of @p p, a command of transaction @p txn, reaches every other coordinator and recovery of @p txn
 * too: in groved every member applies each command of a group it belongs to and hands its result to whoever
 * works on that transaction there, whoever sent it (an early resolution sent by a coordinator that died is
 * heard by the recovery that replaced it).
 */
static void overhear(struct sim *s, const struct packet *p, uint64_t txn, const uint8_t *res, size_t res_len)
{
	for (int c = 0; c < s->n_clients; c++) {
		const struct client *cl = &s->clients[c];
		if (cl->coord && (uint64_t)cl->txn + 1 == txn && !(p->kind == OWNER_CLIENT && p->owner == c))
			send_result(s, p, OWNER_CLIENT, c, cl->gen, res, res_len);
	}
	for (int h = 0; h < MAX_HELPERS; h++) {
		const struct helper *hp = &s->helpers[h];
		if (hp->used && hp->txn == txn && !(p->kind == OWNER_HELPER && p->owner == h))
			send_result(s, p, OWNER_HELPER, h, hp->gen, res, res_len);
	}
}

/* A shard's Raft group applies one command; the result goes back to the sender, and is overheard. */
static void apply_at_shard(struct sim *s, struct packet *p)
{
	struct txn_cmd cmd;
	const char *why = NULL;
	int err = txn_cmd_decode(p->cmd, p->cmd_len, &cmd, &why);
	if (err) {
		violate(s, "a command the coordinator encoded does not decode: %s", why ? why : grove_errname(err));
		return;
	}
	struct before b;
	look_before(s, &cmd, &b);
	struct txn_record *anchored = NULL; /* a GC: the records of this shard before it, by transaction */
	if (cmd.type == TXN_CMD_GC) {
		check_observations(s, p->shard, cmd.at);
		anchored = calloc((size_t)s->n_txns + 1, sizeof(*anchored));
		for (int t = 0; t < s->n_txns; t++)
			if (s->txns[t].anchor == p->shard && !s->txns[t].forgot)
				anchored[t] = record_of(s, (uint64_t)t + 1);
	}
	struct txn_store st = store_of(s, p->shard);
	struct txn_result res;
	check(s, stores_applied(run_stores, txn_shard_apply(&st, &cmd, &res)), "applying a command");
	for (int t = 0; anchored && t < s->n_txns; t++) {
		if (s->txns[t].anchor == p->shard && anchored[t].status != TXN_NONE)
			note_collected(s, (uint64_t)t + 1, &anchored[t]);
		txn_record_free(&anchored[t]);
	}
	free(anchored);
	trace(s, "shard %llu applies %s %.*s txn %llu seq %u: %s " TS_FMT, (unsigned long long)p->shard,
	      txn_cmd_name(cmd.type), (int)cmd.key.len, (const char *)cmd.key.data, (unsigned long long)cmd.txn.id,
	      cmd.txn.seq, txn_result_name(res.code), TS(res.ts));
	check_applied(s, &cmd, &res, &b);
	uint8_t *encoded = NULL;
	size_t encoded_len = 0;
	check(s, txn_result_encode(&res, &encoded, &encoded_len), "encoding a result");
	if (encoded) {
		send_result(s, p, p->kind, p->owner, p->gen, encoded, encoded_len);
		overhear(s, p, cmd.txn.id, encoded, encoded_len);
	}
	free(encoded);
	txn_result_free(&res);
	txn_cmd_release(&cmd);
}

/* ---- recoveries (helpers) ---- */

static void process_helper(struct sim *s, int h);
static void reader_recovered(struct sim *s, int r, enum txn_recover_outcome outcome);

static bool recovering(struct sim *s, uint64_t txn)
{
	for (int h = 0; h < MAX_HELPERS; h++)
		if (s->helpers[h].used && s->helpers[h].txn == txn)
			return true;
	return false;
}

/*
 * Someone on node met txn's intent on key (-1: an early resolution of it): recover it. Returns false when no
 * helper is free.
 */
static bool start_helper(struct sim *s, int node, const struct txn_meta *txn, int key, int waiter, bool forced)
{
	int h = 0;
	while (h < MAX_HELPERS && s->helpers[h].used)
		h++;
	if (h == MAX_HELPERS)
		return false;
	struct helper *hp = &s->helpers[h];
	char buf[8];
	struct txn_bytes met = key < 0 ? (struct txn_bytes){NULL, 0} : key_bytes(key, buf);
	uint64_t met_shard = key < 0 ? 0 : shard_of(s, key);
	struct txn_recover_config cfg = {.expiry_ns = EXPIRY, .retry_interval_ns = RETRY, .retry_max_ns = RETRY_MAX,
					 .forced = forced};
	hp->gen++;
	hp->node = node;
	hp->txn = txn->id;
	hp->waiter = waiter;
	hp->crash_at = s->faults && chance(s, 100) ? s->now + (1 + rnd(s) % 20) * MS : 0;
	check(s, txn_recover_create(&cfg, &s->nodes[node].clock, pt_of(s, node), txn, met_shard, met.data, met.len,
				    &hp->r),
	      "starting a recovery");
	if (!hp->r)
		return false;
	hp->used = true;
	s->st.recoveries++;
	s->st.forced += forced;
	trace(s, "node %d recovers txn %llu (met on k%d%s)", node, (unsigned long long)txn->id, key,
	      forced ? ", forced" : "");
	process_helper(s, h);
	return true;
}

static void end_helper(struct sim *s, int h, enum txn_recover_outcome outcome)
{
	struct helper *hp = &s->helpers[h];
	txn_recover_destroy(hp->r);
	hp->r = NULL;
	hp->used = false;
	hp->gen++;
	if (hp->waiter >= 0)
		reader_recovered(s, hp->waiter, outcome);
}

static void process_helper(struct sim *s, int h)
{
	struct helper *hp = &s->helpers[h];
	while (hp->used && txn_recover_has_ready(hp->r)) {
		struct txn_recover_ready rd;
		txn_recover_ready(hp->r, &rd);
		for (size_t i = 0; i < rd.n_msgs; i++)
			send_cmd(s, rd.msgs[i].shard, OWNER_HELPER, h, hp->gen, &rd.msgs[i].cmd);
		if (rd.outcome_changed) {
			trace(s, "recovery of txn %llu: outcome %d", (unsigned long long)hp->txn, rd.outcome);
			s->st.recovered_commit += rd.outcome == TXN_RECOVER_COMMITTED;
			s->st.recovered_abort += rd.outcome == TXN_RECOVER_ABORTED;
			s->st.alive += rd.outcome == TXN_RECOVER_ALIVE;
		}
		txn_recover_advance(hp->r, &rd);
		if (rd.done)
			end_helper(s, h, rd.outcome);
	}
	check_clock(s, hp->node);
}

/* ---- readers ---- */

static void send_read(struct sim *s, int r)
{
	struct reader *rd = &s->readers[r];
	char buf[8];
	int key = rd->keys[rd->next];
	struct txn_cmd cmd = {.type = TXN_CMD_READ, .key = key_bytes(key, buf), .at = rd->rts};
	rd->state = READER_READING;
	rd->resend_at = s->now + 2 * RETRY;
	rd->tries++;
	send_cmd(s, shard_of(s, key), OWNER_READER, r, 0, &cmd);
}

static void start_session(struct sim *s, int r)
{
	struct reader *rd = &s->readers[r];
	rd->n_keys = 1 + (int)(rnd(s) % 4);
	pick_keys(s, rd->keys, rd->n_keys);
	rd->next = 0;
	rd->tries = 0;
	check(s, hlc_now(&s->nodes[rd->node].clock, pt_of(s, rd->node), &rd->rts), "reading the clock");
	check_clock(s, rd->node);
	send_read(s, r);
}

static void reader_recovered(struct sim *s, int r, enum txn_recover_outcome outcome)
{
	struct reader *rd = &s->readers[r];
	if (rd->state != READER_RECOVERING)
		return;
	rd->state = READER_WAITING;
	rd->wait_until = s->now + (outcome == TXN_RECOVER_COMMITTED || outcome == TXN_RECOVER_ABORTED ? 0 : 5 * MS);
}

static void reader_result(struct sim *s, int r, const struct txn_cmd *cmd, const struct txn_result *res)
{
	struct reader *rd = &s->readers[r];
	if (rd->state != READER_READING || hlc_cmp(cmd->at, rd->rts) != 0 || key_index(cmd->key) != rd->keys[rd->next])
		return;
	if (res->code == TXN_R_GONE) {
		rd->state = READER_IDLE; /* a GC passed its timestamp: a new session reads at a new one */
		rd->wait_until = s->now;
		return;
	}
	if (res->code == TXN_R_VALUE) {
		rd->tries = 0;
		if (++rd->next == rd->n_keys) {
			rd->state = READER_IDLE;
			rd->wait_until = s->now + (rnd(s) % 3) * MS;
		} else {
			send_read(s, r);
		}
		return;
	}
	s->st.intents_met++;
	rd->state = READER_RECOVERING;
	if (!start_helper(s, rd->node, &res->other, rd->keys[rd->next], r, false)) {
		rd->state = READER_WAITING;
		rd->wait_until = s->now + 5 * MS;
	}
}

static void step_reader(struct sim *s, int r)
{
	struct reader *rd = &s->readers[r];
	switch (rd->state) {
	case READER_IDLE:
		if (s->faults && s->now >= rd->wait_until)
			start_session(s, r);
		break;
	case READER_READING:
		if (s->now >= rd->resend_at) {
			if (rd->tries > 40)
				rd->state = READER_IDLE; /* gives up: nothing to check */
			else
				send_read(s, r);
		}
		break;
	case READER_WAITING:
		if (s->now >= rd->wait_until)
			send_read(s, r);
		break;
	case READER_RECOVERING:
		break;
	}
}

/* ---- clients ---- */

static void crash_client(struct sim *s, int c, const char *where)
{
	struct client *cl = &s->clients[c];
	s->st.crashes[cl->crash_at]++;
	trace(s, "client %d crashes (%s) running txn %d", c, where, cl->txn + 1);
	txn_coord_destroy(cl->coord);
	cl->coord = NULL;
	cl->gen++;
	cl->idle_until = s->now + (rnd(s) % 10) * MS;
	s->st.crashed++;
}

static void told(struct sim *s, int c, const struct txn_coord_ready *rd)
{
	struct client *cl = &s->clients[c];
	uint64_t id = (uint64_t)cl->txn + 1;
	struct sim_txn *t = &s->txns[cl->txn];
	struct txn_record rec = record_of(s, id);
	char why[128];
	trace(s, "client %d told %s for txn %llu", c, rd->outcome_unknown ? "NOT KNOWN" : txn_status_name(rd->outcome),
	      (unsigned long long)id);
	if (rd->outcome_unknown) {
		/* Either outcome is right; the final checks hold the transaction to its atomicity alone. */
		s->st.unknown++;
	} else if (rd->outcome == TXN_COMMITTED) {
		s->st.acked++;
		t->acked = true;
		t->acked_ts = rd->commit_ts;
		bool explicit = rec.status == TXN_COMMITTED, staging = rec.status == TXN_STAGING;
		if (!end_checks_only && (hlc_cmp(rec.ts, rd->commit_ts) != 0 ||
					 !(explicit || implicitly_committed(s, id, &rec, why, sizeof(why)))))
			violate(s, "txn %llu acknowledged at " TS_FMT " but not committed there (record %s at " TS_FMT "%s%s)",
				(unsigned long long)id, TS(rd->commit_ts), txn_status_name(rec.status), TS(rec.ts),
				staging ? ": " : "", staging ? why : "");
	} else {
		s->st.aborted++;
		t->told_aborted = true;
		if (!end_checks_only && rec.status != TXN_ABORTED)
			violate(s, "txn %llu reported aborted while its record is %s", (unsigned long long)id,
				txn_status_name(rec.status));
	}
	txn_record_free(&rec);
}

static bool has_kind(const struct txn_coord_ready *rd, enum txn_cmd_type type)
{
	for (size_t i = 0; i < rd->n_msgs; i++)
		if (rd->msgs[i].cmd.type == type)
			return true;
	return false;
}

/* One Ready of a client's coordinator, crashing where its crash point says. Returns false if it crashed. */
static bool client_ready(struct sim *s, int c)
{
	struct client *cl = &s->clients[c];
	struct txn_coord_ready rd;
	txn_coord_ready(cl->coord, &rd);
	enum txn_coord_phase phase = txn_coord_phase(cl->coord);
	bool first = !cl->sent_first && rd.n_msgs;
	bool acking = rd.outcome_changed && rd.outcome == TXN_COMMITTED && phase == TXN_COORD_FINALIZING;
	size_t sending = rd.n_msgs;
	enum crash_point cp = cl->crash_at;
	if ((cp == CP_BEFORE_SEND && first) || (cp == CP_BEFORE_ACK && acking)) {
		crash_client(s, c, cp == CP_BEFORE_SEND ? "before sending" : "before acknowledging");
		return false;
	}
	if (rd.outcome_changed)
		told(s, c, &rd);
	if (cp == CP_AFTER_ACK && acking) {
		crash_client(s, c, "after acknowledging");
		return false;
	}
	if (cp == CP_MID_EARLY && acking) {
		size_t resolves = 0;
		for (size_t i = 0; i < rd.n_msgs; i++)
			resolves += rd.msgs[i].cmd.type == TXN_CMD_RESOLVE;
		size_t leaving = resolves ? 1 + (size_t)(rnd(s) % resolves) : 0; /* all of them, at times */
		for (size_t i = 0; i < rd.n_msgs && leaving; i++)
			if (rd.msgs[i].cmd.type == TXN_CMD_RESOLVE) {
				send_cmd(s, rd.msgs[i].shard, OWNER_CLIENT, c, cl->gen, &rd.msgs[i].cmd);
				leaving--;
			}
		crash_client(s, c, "while resolving early");
		return false;
	}
	bool half = (cp == CP_MID_SEND && first) || (cp == CP_DURING_ROLLBACK && phase == TXN_COORD_ROLLING_BACK) ||
		    (cp == CP_MID_RESOLVE && has_kind(&rd, TXN_CMD_RESOLVE));
	if (half)
		sending = rd.n_msgs / 2;
	for (size_t i = 0; i < sending; i++)
		send_cmd(s, rd.msgs[i].shard, OWNER_CLIENT, c, cl->gen, &rd.msgs[i].cmd);
	if (half || (cp == CP_AFTER_SEND && first) || (cp == CP_AFTER_FINALIZE && has_kind(&rd, TXN_CMD_FINALIZE) &&
						       phase == TXN_COORD_FINALIZING)) {
		crash_client(s, c, "while sending");
		return false;
	}
	cl->sent_first = cl->sent_first || first;
	for (size_t i = 0; i < rd.n_blockers; i++) {
		s->st.blocked++;
		if (!recovering(s, rd.blockers[i].txn.id))
			start_helper(s, cl->node, &rd.blockers[i].txn, key_index(rd.blockers[i].key), -1,
				     chance(s, 250));
	}
	bool pushed = rd.pushed, done = rd.done;
	txn_coord_advance(cl->coord, &rd);
	if (pushed) {
		s->st.pushes++;
		if (chance(s, 150)) {
			s->st.rollbacks++;
			check(s, txn_coord_rollback(cl->coord, pt_of(s, cl->node)), "rolling back");
		} else {
			bool restart = chance(s, 400);
			s->st.restarts += restart;
			check(s, txn_coord_retry(cl->coord, pt_of(s, cl->node), restart), "retrying");
		}
	}
	if (done) {
		trace(s, "client %d done with txn %d", c, cl->txn + 1);
		txn_coord_destroy(cl->coord);
		cl->coord = NULL;
		cl->idle_until = s->now + (rnd(s) % 6) * MS;
	}
	return true;
}

static void process_client(struct sim *s, int c)
{
	struct client *cl = &s->clients[c];
	for (int rounds = 0; cl->coord && txn_coord_has_ready(cl->coord) && rounds < 16; rounds++)
		if (!client_ready(s, c))
			break;
	check_clock(s, cl->node);
}

static void begin_txn(struct sim *s, int c)
{
	struct client *cl = &s->clients[c];
	if (s->n_txns == MAX_TXNS)
		return;
	int t = s->n_txns++;
	struct sim_txn *tx = &s->txns[t];
	memset(tx, 0, sizeof(*tx));
	tx->n_keys = 2 + (int)(rnd(s) % (MAX_TXN_KEYS - 1));
	pick_keys(s, tx->keys, tx->n_keys);
	tx->anchor = shard_of(s, tx->keys[0]);
	struct txn_coord_config cfg = {.id = (uint64_t)t + 1, .heartbeat_interval_ns = HEARTBEAT,
				       .retry_interval_ns = RETRY, .retry_max_ns = RETRY_MAX,
				       .block_timeout_ns = BLOCK_TIMEOUT,
				       .expiry_ns = EXPIRY, .max_attempts = 4};
	struct node *nd = &s->nodes[cl->node];
	check(s, txn_coord_create(&cfg, &nd->clock, pt_of(s, cl->node), &cl->coord), "beginning a transaction");
	if (!cl->coord)
		return;
	const struct txn_meta *meta = txn_coord_meta(cl->coord);
	if (hlc_cmp(meta->ts, nd->last_begin) <= 0)
		violate(s, "node %d began txn %d at " TS_FMT ", not after its previous one", cl->node, t + 1, TS(meta->ts));
	nd->last_begin = meta->ts;
	for (int i = 0; i < tx->n_keys; i++) {
		char buf[8], value[32];
		struct txn_bytes kb = key_bytes(tx->keys[i], buf);
		value_of((uint64_t)t + 1, tx->keys[i], value, sizeof(value));
		check(s, txn_coord_put(cl->coord, shard_of(s, tx->keys[i]), kb.data, kb.len, value, strlen(value)),
		      "adding a write");
	}
	cl->txn = t;
	cl->gen++;
	cl->sent_first = false;
	cl->crash_at = chance(s, 350) ? (enum crash_point)(1 + rnd(s) % (CP_COUNT - 1)) : CP_NONE;
	s->st.begun++;
	trace(s, "client %d begins txn %d at " TS_FMT " (crash point %d)", c, t + 1, TS(meta->ts), cl->crash_at);
	check(s, txn_coord_commit(cl->coord, pt_of(s, cl->node)), "committing");
	process_client(s, c);
}

static void step_client(struct sim *s, int c)
{
	struct client *cl = &s->clients[c];
	if (!cl->coord) {
		if (s->faults && s->now >= cl->idle_until)
			begin_txn(s, c);
		return;
	}
	if (cl->crash_at == CP_ANY_TIME && chance(s, 30)) {
		crash_client(s, c, "at a random moment");
		return;
	}
	check(s, txn_coord_tick(cl->coord, pt_of(s, cl->node)), "ticking a coordinator");
	process_client(s, c);
}

/* ---- delivery ---- */

static void to_owner(struct sim *s, struct packet *p)
{
	struct txn_cmd cmd;
	struct txn_result res;
	const char *why = NULL;
	int err = txn_cmd_decode(p->cmd, p->cmd_len, &cmd, &why);
	if (!err && (err = txn_result_decode(p->res, p->res_len, &res, &why)) != GROVE_OK)
		txn_cmd_release(&cmd);
	if (err) {
		violate(s, "an encoded command or result does not decode: %s", why ? why : grove_errname(err));
		return;
	}
	if (p->kind == OWNER_CLIENT) {
		struct client *cl = &s->clients[p->owner];
		if (cl->coord && cl->gen == p->gen) {
			check(s, txn_coord_on_result(cl->coord, pt_of(s, cl->node), &cmd, &res), "a coordinator's result");
			if (cl->crash_at == CP_AFTER_STAGE && cmd.type == TXN_CMD_STAGE)
				crash_client(s, p->owner, "after the STAGING record");
			else
				process_client(s, p->owner);
		}
	} else if (p->kind == OWNER_READER) {
		reader_result(s, p->owner, &cmd, &res);
	} else {
		struct helper *hp = &s->helpers[p->owner];
		if (hp->used && hp->gen == p->gen) {
			check(s, txn_recover_on_result(hp->r, pt_of(s, hp->node), &cmd, &res), "a recovery's result");
			process_helper(s, p->owner);
		}
	}
	txn_cmd_release(&cmd);
	txn_result_free(&res);
}

static void deliver(struct sim *s)
{
	for (size_t i = 0; i < s->n_net && !s->failed;) {
		if (s->net[i].at > s->now) {
			i++;
			continue;
		}
		struct packet p = s->net[i];
		s->net[i] = s->net[--s->n_net];
		struct shard *sh = &s->shards[p.shard];
		if (!p.res && s->now < sh->unavailable_until) {
			if (chance(s, 500)) {
				/* Proposed to a leader that lost its leadership: never applied. */
				s->st.lost++;
				free_packet(&p);
			} else {
				p.at = sh->unavailable_until + delay(s);
				queue_packet(s, &p);
			}
			continue;
		}
		if (s->faults && chance(s, 30)) {
			s->st.lost++;
			free_packet(&p);
			continue;
		}
		if (s->faults && chance(s, 30)) {
			struct packet dup = copy_packet(&p);
			dup.at = s->now + delay(s);
			queue_packet(s, &dup);
			s->st.duplicated++;
		}
		if (p.res)
			to_owner(s, &p);
		else
			apply_at_shard(s, &p);
		free_packet(&p);
	}
}

/* ---- the run ---- */

static void step(struct sim *s)
{
	s->now += MS;
	if (s->faults && chance(s, 8)) {
		uint64_t sh = 1 + rnd(s) % (uint64_t)s->n_shards;
		s->shards[sh].unavailable_until = s->now + (5 + rnd(s) % 40) * MS;
		trace(s, "shard %llu changes leader", (unsigned long long)sh);
	}
	if (s->faults && chance(s, 10)) {
		/* The low-water mark moves up to 2 to 80 ms behind true time: late intents of transactions whose
		 * markers it forgot land above it, and slow transactions are pushed by it. */
		struct txn_cmd gc = {.type = TXN_CMD_GC, .at = {s->now - (2 + rnd(s) % (2 * EXPIRY / MS)) * MS, 0}};
		send_cmd(s, 1 + rnd(s) % (uint64_t)s->n_shards, OWNER_READER, 0, 0, &gc);
	}
	for (int c = 0; c < s->n_clients; c++)
		step_client(s, c);
	for (int r = 0; r < s->n_readers; r++)
		step_reader(s, r);
	for (int h = 0; h < MAX_HELPERS; h++) {
		struct helper *hp = &s->helpers[h];
		if (!hp->used)
			continue;
		if (hp->crash_at && s->now >= hp->crash_at) {
			trace(s, "a recovery of txn %llu crashes", (unsigned long long)hp->txn);
			end_helper(s, h, TXN_RECOVER_UNKNOWN);
			continue;
		}
		check(s, txn_recover_tick(hp->r, pt_of(s, hp->node)), "ticking a recovery");
		process_helper(s, h);
	}
	deliver(s);
}

struct sweep {
	struct sim *s;
	uint64_t shard;
};

static int sweep_intent(void *arg, struct txn_bytes key, const struct txn_meta *meta, struct txn_bytes value)
{
	(void)value;
	struct sweep *sw = arg;
	if (!recovering(sw->s, meta->id))
		start_helper(sw->s, 0, meta, key_index(key), -1, false);
	return 0;
}

static bool quiet(struct sim *s)
{
	if (s->n_net)
		return false;
	for (int c = 0; c < s->n_clients; c++)
		if (s->clients[c].coord)
			return false;
	for (int h = 0; h < MAX_HELPERS; h++)
		if (s->helpers[h].used)
			return false;
	return true;
}

/* Recover each transaction with an early resolution on @p shard that nobody recovers yet. */
static void sweep_early(struct sim *s, uint64_t shard)
{
	struct txn_store st = store_of(s, shard);
	struct txn_meta meta;
	int err;
	for (uint64_t after = 0; (err = txn_shard_early(&st, after, &meta)) == GROVE_OK; after = meta.id)
		if (!recovering(s, meta.id))
			start_helper(s, 0, &meta, -1, -1, false);
	if (err != GROVE_ENOTFOUND)
		check(s, err, "walking early resolutions");
}

/* How many records on @p shard wait for a coordinator or a recovery; with @p recover, recover each of them. */
static size_t unresolved_records(struct sim *s, uint64_t shard, bool recover)
{
	struct txn_store st = store_of(s, shard);
	struct txn_record rec;
	uint64_t id;
	size_t n = 0;
	bool waits;
	int err;
	for (uint64_t after = 0; (err = txn_shard_next_record(&st, after, &id, &rec, &waits)) == GROVE_OK; after = id) {
		struct txn_meta meta = {.id = id, .anchor = shard, .epoch = rec.epoch, .seq = rec.seq, .ts = rec.ts,
					.start = rec.ts};
		n += waits;
		if (waits && recover && !recovering(s, id))
			start_helper(s, 0, &meta, -1, -1, false);
		txn_record_free(&rec);
	}
	if (err != GROVE_ENOTFOUND)
		check(s, err, "walking records");
	return n;
}

/* Faults off, no new work: live coordinators finish; intents left by the dead are recovered by a sweep,
 * as whoever met them would (CockroachDB's intent resolution on a scan), and so are transactions resolved
 * early whose coordinator died before their record was final, and records that wait for a dead coordinator
 * (groved's leaders look for both). Then every record is one a GC collects. */
static size_t quiesce(struct sim *s)
{
	s->faults = false;
	for (int sh = 1; sh <= s->n_shards; sh++)
		s->shards[sh].unavailable_until = 0;
	uint64_t end = s->now + QUIESCE_TIME;
	size_t intents = 0;
	while (s->now < end && !s->failed) {
		step(s);
		if (!quiet(s) || s->now % (5 * MS))
			continue;
		intents = 0;
		static const enum txn_table unfinished[] = {TXN_TABLE_INTENTS, TXN_TABLE_EARLY};
		for (int sh = 1; sh <= s->n_shards; sh++) {
			for (size_t t = 0; t < sizeof(unfinished) / sizeof(unfinished[0]); t++) {
				size_t n = stores_count(run_stores, s->shards[sh].group, unfinished[t]);
				check(s, n == (size_t)-1 ? GROVE_ESTORAGE : GROVE_OK, "counting intents");
				intents += n == (size_t)-1 ? 0 : n;
			}
		}
		for (int sh = 1; sh <= s->n_shards; sh++)
			intents += unresolved_records(s, (uint64_t)sh, false);
		if (!intents)
			return 0;
		for (int sh = 1; sh <= s->n_shards; sh++) {
			struct sweep sw = {s, (uint64_t)sh};
			struct txn_store st = store_of(s, (uint64_t)sh);
			check(s, txn_shard_each_intent(&st, sweep_intent, &sw), "walking intents");
			sweep_early(s, (uint64_t)sh);
			unresolved_records(s, (uint64_t)sh, true);
		}
	}
	return intents ? intents : 1;
}

static void final_checks(struct sim *s)
{
	/* Atomicity, acknowledged is committed, told aborted is aborted. */
	for (int t = 0; t < s->n_txns && !s->failed; t++) {
		uint64_t id = (uint64_t)t + 1;
		struct sim_txn *tx = &s->txns[t];
		struct txn_record rec = record_of(s, id);
		char why[128];
		if (tx->acked && (rec.status != TXN_COMMITTED || hlc_cmp(rec.ts, tx->acked_ts) != 0))
			violate(s, "txn %llu was acknowledged at " TS_FMT " and ends %s at " TS_FMT, (unsigned long long)id,
				TS(tx->acked_ts), txn_status_name(rec.status), TS(rec.ts));
		if (tx->told_aborted && rec.status != TXN_ABORTED)
			violate(s, "txn %llu was reported aborted and ends %s", (unsigned long long)id,
				txn_status_name(rec.status));
		if (rec.status == TXN_STAGING && implicitly_committed(s, id, &rec, why, sizeof(why)))
			violate(s, "txn %llu ends implicitly committed but not COMMITTED", (unsigned long long)id);
		for (int i = 0; i < tx->n_keys; i++) {
			struct version_check vc = versions_of(s, tx->keys[i], id);
			if (!vc.count && tx->made[i] && pruned(s, tx->keys[i], tx->made_ts[i]))
				vc.count = 1, vc.ts = tx->made_ts[i]; /* made, then dropped by a GC under a newer one */
			if (rec.status == TXN_COMMITTED && (vc.count != 1 || hlc_cmp(vc.ts, rec.ts) != 0))
				violate(s, "txn %llu is COMMITTED at " TS_FMT " but k%d has %d version(s) of it (atomicity)",
					(unsigned long long)id, TS(rec.ts), tx->keys[i], vc.count);
			if (rec.status != TXN_COMMITTED && vc.count)
				violate(s, "txn %llu ends %s but its write on k%d is visible (atomicity)", (unsigned long long)id,
					txn_status_name(rec.status), tx->keys[i]);
		}
		txn_record_free(&rec);
	}
	/* Every read served is what the final history says was there at its timestamp. */
	for (size_t i = 0; i < s->n_obs && !s->failed; i++)
		if (!s->obs[i].checked)
			check_observation(s, &s->obs[i]);
}

static void free_sim(struct sim *s)
{
	for (int t = 0; t < s->n_txns; t++)
		txn_record_free(&s->txns[t].forgotten);
	for (int c = 0; c < s->n_clients; c++)
		txn_coord_destroy(s->clients[c].coord);
	for (int h = 0; h < MAX_HELPERS; h++)
		txn_recover_destroy(s->helpers[h].r);
	for (size_t i = 0; i < s->n_net; i++)
		free_packet(&s->net[i]);
	free(s->net);
	free(s->obs);
}

/* Runs one seed; returns true if every check held. */
static bool run_seed(uint64_t seed, bool verbose, bool trace_events)
{
	struct sim *s = calloc(1, sizeof(*s));
	s->seed = seed;
	s->rng = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
	s->trace = trace_events;
	s->now = 1000000 * MS;
	s->n_shards = 2 + (int)(rnd(s) % 3);
	s->n_keys = 6 + (int)(rnd(s) % 7);
	s->n_clients = 2 + (int)(rnd(s) % 3);
	s->n_readers = 1 + (int)(rnd(s) % 3);
	for (int sh = 1; sh <= s->n_shards; sh++)
		s->shards[sh].group = seed * (MAX_SHARDS + 1) + (uint64_t)sh; /* distinct across the seeds of a run */
	for (int n = 0; n < s->n_clients + s->n_readers; n++) {
		hlc_init(&s->nodes[n].clock, MAX_OFFSET);
		s->nodes[n].offset = (int64_t)(rnd(s) % (MAX_OFFSET + 1)) - (int64_t)(MAX_OFFSET / 2);
	}
	for (int c = 0; c < s->n_clients; c++)
		s->clients[c].node = c;
	for (int r = 0; r < s->n_readers; r++)
		s->readers[r].node = s->n_clients + r;
	s->faults = true;
	uint64_t end = s->now + RUN_TIME;
	while (s->now < end && !s->failed)
		step(s);
	size_t left = s->failed ? 0 : quiesce(s);
	if (!s->failed && left)
		violate(s, "%zu intent(s), early resolution(s) or unresolved record(s) left after quiescing", left);
	if (!s->failed)
		final_checks(s);
	for (int sh = 1; sh <= s->n_shards; sh++)
		check(s, stores_forget(run_stores, s->shards[sh].group), "forgetting a shard's state");
	bool ok = !s->failed;
	if (!ok || verbose)
		printf("seed=%llu shards=%d keys=%d clients=%d readers=%d txns=%u acked=%u aborted=%u crashed=%u "
		       "pushes=%u (restarts %u, rollbacks %u) blocked=%u recoveries=%u (commit %u, abort %u, alive %u) "
		       "reads=%u lost=%u dup=%u %s%s\n",
		       (unsigned long long)seed, s->n_shards, s->n_keys, s->n_clients, s->n_readers, s->st.begun,
		       s->st.acked, s->st.aborted, s->st.crashed, s->st.pushes, s->st.restarts, s->st.rollbacks,
		       s->st.blocked, s->st.recoveries, s->st.recovered_commit, s->st.recovered_abort, s->st.alive,
		       s->st.reads, s->st.lost, s->st.duplicated, ok ? "ok" : "FAILED: ", ok ? "" : s->why);
	unsigned *sum = (unsigned *)&totals;
	const unsigned *add = (const unsigned *)&s->st;
	for (size_t i = 0; i < sizeof(totals) / sizeof(unsigned); i++)
		sum[i] += add[i];
	free_sim(s);
	free(s);
	return ok;
}

/* The stores of the run, as GROVE_TXN_STORE chooses; removed (with their directory) whatever the outcome. */
static int open_stores(void **state)
{
	(void)state;
	const char *backend = getenv("GROVE_TXN_STORE");
	if (backend && strcmp(backend, "lmdb") != 0 && strcmp(backend, "memory") != 0) {
		printf("GROVE_TXN_STORE=%s: not \"memory\" or \"lmdb\"\n", backend);
		return -1;
	}
	run_stores = stores_open(backend && strcmp(backend, "lmdb") == 0 ? STORES_LMDB : STORES_MEMORY);
	return 0;
}

static int close_stores(void **state)
{
	(void)state;
	stores_close(run_stores);
	run_stores = NULL;
	return 0;
}

static void test_simulation(void **state)
{
	(void)state;
	const char *one = getenv("GROVE_TXN_SEED");
	bool trace_events = getenv("GROVE_TXN_TRACE") != NULL;
	const char *checks = getenv("GROVE_TXN_CHECKS");
	end_checks_only = checks && strcmp(checks, "end") == 0;
#ifdef TXN_SIM_EXPECT_FAILURE
	/* A mutant build: some seed must fail, with every check and again with the end-to-end ones alone. */
	if (one) {
		assert_false(run_seed(strtoull(one, NULL, 10), true, trace_events));
		return;
	}
	const char *many = getenv("GROVE_TXN_SEEDS");
	unsigned seeds = many ? (unsigned)strtoul(many, NULL, 10) : 3000;
	for (int pass = checks ? 1 : 0; pass < 2; pass++) {
		end_checks_only = checks ? end_checks_only : pass == 1;
		const char *mode = end_checks_only ? "end-to-end checks only" : "every check";
		unsigned seed = 1;
		while (seed <= seeds && run_seed(seed, false, false))
			seed++;
		if (seed > seeds) {
			printf("txn simulation (%s, %s): %u seeds and the mutant was not caught\n", TXN_SIM_EXPECT_FAILURE,
			       mode, seeds);
			fail();
		}
		printf("txn simulation (%s, %s): caught at seed %u\n", TXN_SIM_EXPECT_FAILURE, mode, seed);
	}
#else
	if (one) {
		assert_true(run_seed(strtoull(one, NULL, 10), true, trace_events));
		return;
	}
	const char *many = getenv("GROVE_TXN_SEEDS");
	unsigned seeds = many ? (unsigned)strtoul(many, NULL, 10) : 1000;
	unsigned failures = 0;
	time_t started = time(NULL);
	for (unsigned seed = 1; seed <= seeds; seed++)
		if (!run_seed(seed, false, false))
			failures++;
	printf("txn simulation (%s): %u seeds, %u failed, %lld s (replay one with GROVE_TXN_SEED=S)\n",
	       stores_kind_name(stores_kind(run_stores)), seeds, failures, (long long)(time(NULL) - started));
	printf("  %u txns: %u acknowledged, %u reported aborted, %u coordinators crashed; %u pushes (%u restarts, %u "
	       "rollbacks), %u blocked writes; %u recoveries: %u committed, %u aborted, %u found it alive; %u intents met "
	       "by readers, %u reads served; %u messages lost, %u duplicated; late intents of finished transactions: %u "
	       "refused, %u landed; %u records collected; %u recoveries forced; %u outcomes not known\n  crashes by point:",
	       totals.begun, totals.acked, totals.aborted, totals.crashed, totals.pushes, totals.restarts,
	       totals.rollbacks, totals.blocked, totals.recoveries, totals.recovered_commit, totals.recovered_abort,
	       totals.alive, totals.intents_met, totals.reads, totals.lost, totals.duplicated, totals.late_refused,
	       totals.late_landed, totals.collected, totals.forced, totals.unknown);
	for (int cp = 1; cp < CP_COUNT; cp++)
		printf(" %u", totals.crashes[cp]);
	printf("\n");
	assert_int_equal(failures, 0);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_simulation, open_stores, close_stores),
	};
	return cmocka_run_group_tests_name("txn_sim", tests, NULL, NULL);
}
