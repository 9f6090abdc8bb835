/*
 * grove_campaign: a Jepsen-style fault campaign against a real 3-member groved cluster on 127.0.0.1.
 *
 *   grove_campaign [--seed N] [--seconds S] [--clients K] [--keys R] [--sets N]
 *                  [--faults kill,kill-leader,kill-all,pause,partition,one-way,split,clock,slow] [--history FILE]
 *                  [--data DIR]
 *                  [--mutate read|final|stream|starve] [--end-wait S]
 *
 * Every peer link goes through a fault proxy (tools/netdelay --control): member i reaches member j at the
 * proxy i->j, so the nemesis can cut any direction between any two members. K client threads, each with its
 * own client connected to all members, issue register writes (unique values), linearizable reads, unique
 * adds to a few grow-only sets and reads of those sets, and log every invoke and completion (history.h
 * format, one CLOCK_MONOTONIC for all). The nemesis (the main thread, so that the members it restarts die
 * with it: PR_SET_PDEATHSIG follows the thread that forked) injects one fault at a time, round-robin over the
 * enabled kinds in a seeded order, and heals it ("split" splits a register's node into a shard of its own
 * and kills or partitions a member during the split; with --cross there is nothing left to split; "clock"
 * moves a member's wall clock ahead or behind, members running under libfaketime; "slow" delays a member's
 * links). At the
 * end everything is healed, the members converge, no split may be left half done, the members stop, and each
 * member's store is opened to read every set (`final` lines). lincheck.h then decides every key's history,
 * and that every acknowledged add is on every member. Throughout, watchers follow the change stream of the
 * world and of each of the first registers' nodes through the faults (and through the splits of those
 * nodes), resuming at another member when their link fails, and streamcheck.h checks what they saw of the
 * registers against the history: every acknowledged write once, in the log's order.
 *
 * Representation: register key rN is the integer property "v" of node /root/rN (a read of a missing
 * property is nil); set key sN is node /root/sN, and adding element E sets its property "eE" to E (a
 * read_set lists the node's properties named e*). A property per element keeps adds independent of each
 * other (no read-modify-write) and makes an add idempotent in the tree as well as by its submit key.
 *
 * Outcomes: a write or add applied -> ok; refused at the door (an error reply: no leader, not the leader)
 * or refused by the tree -> fail; "may or may not be applied" (a leader losing its quorum), a timeout or a
 * lost connection -> info, after one retry with the same submit key on a fresh connection (the server applies
 * a key at most once, so the retry cannot double-apply, and an ok retry makes the operation ok). A read that
 * does not return a value -> fail: reads have no effects.
 *
 * --mutate is for the campaign's own test: "read" records one read as having seen a value no one wrote,
 * "final" leaves one acknowledged add out of member 1's final read, "stream" has a watcher note one value
 * twice, "starve" has the steady protobuf watcher stop noting what its events change after ten values (as a
 * subscription that brings progress alone). Each must make the run fail. --end-wait is how long the
 * watchers may take to bring the end marks once they are written (60 s).
 *
 * Exit status: 0 every key linearizable and every final read complete; 1 a violation (the seed and the
 * shortest failing excerpt are printed); 3 undecided (a step limit); 2 bad usage or a setup failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster.h"
#include "harness.h"
#include "godot/variant_binary.h"
#include "src/common/buf.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "src/tree/tree.h"
#include "src/tree/variant.h"
#include "storage/store.h"
#include "support.h"
#include "tests/jepsen/history.h"
#include "tests/jepsen/lincheck.h"
#include "tests/jepsen/streamcheck.h"

#define MAX_CLIENTS 32
#define MAX_KEYS 64
#define CLIENT_TIMEOUT_MS 3000

enum fault {
	FAULT_KILL,
	FAULT_KILL_LEADER,
	FAULT_KILL_ALL,
	FAULT_PAUSE,
	FAULT_PARTITION,
	FAULT_ONE_WAY,
	FAULT_SPLIT,
	FAULT_CLOCK,
	FAULT_SLOW,
	FAULT_COUNT
};

static const char *const fault_names[FAULT_COUNT] = {"kill", "kill-leader", "kill-all", "pause", "partition",
						     "one-way", "split", "clock", "slow"};

struct options {
	uint64_t seed;
	double seconds;
	int clients, registers, sets;
	int cross; /* percent of register writes over two registers; > 0: every key a shard of its own */
	bool faults[FAULT_COUNT];
	const char *history, *data, *mutate;
	double end_wait; /* seconds the watchers may take to bring the end marks */
};

/* Counts of a client's operations: [f][outcome], outcome 0 ok, 1 fail, 2 info. */
struct tally {
	uint64_t n[4][3];
};

struct campaign {
	struct options opt;
	struct cluster cluster;
	char members[256];                       /* the clients' member list */
	int proxy_control[CLUSTER_NODES + 1][CLUSTER_NODES + 1]; /* control port of the proxy i -> j */
	pid_t proxy_pids[CLUSTER_NODES + 1][CLUSTER_NODES + 1];
	FILE *history;
	pthread_mutex_t history_lock;
	atomic_bool stop;
	uint64_t deadline_ns;
	atomic_bool read_mutated;
	int64_t acked_add;                       /* an acknowledged add's element, for --mutate final */
	int acked_add_set;                       /* its set, -1 while none */
	uint64_t set_groups[MAX_KEYS];           /* the group holding each set's node (with --cross, its shard) */
	bool register_split[MAX_KEYS];           /* a split of the register's node was asked for */
	uint64_t register_ids[MAX_KEYS];         /* each register's node id (the gateway's changes name nodes by id) */
	int split_code[MAX_KEYS];                /* and what it was answered: a code, or -1 for no answer */
	uint64_t faults_done[FAULT_COUNT];
	uint64_t clocks_beyond;                  /* clock faults held past the maximum offset, long enough to act */
	_Atomic uint64_t end_written_ns;         /* when the end mark for the watchers was set (0: not yet) */
};

struct worker {
	struct campaign *cp;
	int id;
	uint64_t rng;
	struct tally tally;
	pthread_t thread;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: the campaign's only randomness, so that a seed names a schedule of choices. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t random_below(uint64_t *state, uint64_t n)
{
	return next_random(state) % n;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- the history ---- */

static void record(struct campaign *cp, uint64_t process, enum history_type type, enum history_f f, const char *key,
		   const struct history_value *v)
{
	pthread_mutex_lock(&cp->history_lock);
	/* The time is taken under the lock so that lines of one process are written in time order. */
	history_write_event(cp->history, process, type, f, key, v, now_ns());
	pthread_mutex_unlock(&cp->history_lock);
}

/* ---- operations ---- */

enum outcome { OUTCOME_OK = 0, OUTCOME_FAIL = 1, OUTCOME_INFO = 2 };

/*
 * Set property @p prop of each of the @p n nodes @p paths (one batch: with keys in shards of their own, a
 * transaction across them) to @p value under @p submit_key, with one retry on a fresh connection.
 */
static enum outcome set_prop(struct campaign *cp, struct grove_client **c, const char *const *paths, size_t n,
			     const char *prop, int64_t value, const char *submit_key)
{
	struct variant v;
	variant_set_int(&v, value);
	struct tree_op ops[2];
	if (n < 1 || n > 2)
		return OUTCOME_FAIL;
	for (size_t i = 0; i < n; i++)
		ops[i] = (struct tree_op){.kind = TREE_OP_SET_PROP, .node = {.path = paths[i]}, .name = prop, .value = &v};
	struct wire_request wr;
	if (wire_encode_batch(ops, n, &wr))
		return OUTCOME_FAIL; /* nothing was sent */
	wr.req.submit_key = (char *)submit_key;
	enum outcome outcome = OUTCOME_INFO;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!*c && grove_client_connect(cp->members, NULL, CLIENT_TIMEOUT_MS, c, NULL, 0) != GROVE_OK) {
			*c = NULL;
			break; /* unknown: the first attempt may have reached a server */
		}
		Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply = NULL;
		env.body_case = GROVE__ENVELOPE__BODY_WRITE;
		env.write = &wr.req;
		int err = grove_client_call(*c, &env, &reply);
		if (err) {
			grove_client_close(*c);
			*c = NULL;
			continue;
		}
		if (reply->body_case == GROVE__ENVELOPE__BODY_WRITE_REPLY) {
			uint32_t code = reply->write_reply->code;
			outcome = code == 0 ? OUTCOME_OK : code == GROVE_EUNAVAILABLE ? OUTCOME_INFO : OUTCOME_FAIL;
		} else if (reply->body_case == GROVE__ENVELOPE__BODY_ERROR && attempt == 0) {
			outcome = OUTCOME_FAIL; /* refused before it was proposed */
		}
		grove__envelope__free_unpacked(reply, NULL);
		break;
	}
	wr.req.submit_key = NULL; /* borrowed, not wire_request_free()'s to free */
	wire_request_free(&wr);
	return outcome;
}

/*
 * Read node @p path with its properties. @return the reply to free, or NULL when no value came back (the
 * connection is then dropped: a refusal and a lost connection look alike here, and a new one costs little).
 */
static Grove__Envelope *read_node(struct campaign *cp, struct grove_client **c, const char *path,
				  Grove__ReadReply **rr)
{
	if (!*c && grove_client_connect(cp->members, NULL, CLIENT_TIMEOUT_MS, c, NULL, 0) != GROVE_OK) {
		*c = NULL;
		return NULL;
	}
	Grove__Envelope *reply;
	*rr = client_read(*c, path, 0, true, &reply);
	if (*rr && (*rr)->code == 0 && (*rr)->n_nodes >= 1)
		return reply;
	if (reply)
		grove__envelope__free_unpacked(reply, NULL);
	grove_client_close(*c);
	*c = NULL;
	return NULL;
}

/* The integer in canonical variant bytes; false if they hold something else. */
static bool decode_int(const ProtobufCBinaryData *bytes, int64_t *out)
{
	struct variant v;
	size_t used;
	if (variant_decode(&v, bytes->data, bytes->len, &used) != GROVE_OK)
		return false;
	bool is_int = v.type == VARIANT_INT;
	*out = v.as.i;
	variant_free(&v);
	return is_int;
}

/* Append integer @p e to set value @p set. */
static bool set_append(struct history_value *set, int64_t e)
{
	struct history_value *grown = realloc(set->elems, (set->n_elems + 1) * sizeof(*grown));
	if (!grown)
		return false;
	set->elems = grown;
	set->elems[set->n_elems++] = (struct history_value){.kind = HISTORY_INT, .i = e};
	return true;
}

/* A random key of @p prefix ("r" registers, "s" sets; @p count of them) and the path of its node. */
static int pick_key(struct worker *w, const char *prefix, int count, char key[16], char path[32])
{
	int k = (int)random_below(&w->rng, (uint64_t)count);
	snprintf(key, 16, "%s%d", prefix, k);
	snprintf(path, 32, "/root/%s", key);
	return k;
}

/*
 * A write of a register; with --cross, that share of writes sets two registers in one batch (each key is a
 * shard of its own: a transaction across two shards), recorded as a write of each: the second by the worker's
 * companion process (MAX_CLIENTS above its own), since a process has one operation open at a time.
 */
static void do_write(struct worker *w, struct grove_client **c, uint64_t seq)
{
	struct campaign *cp = w->cp;
	char keys[2][16], paths[2][32], submit[64];
	size_t n = cp->opt.registers > 1 && (int)random_below(&w->rng, 100) < cp->opt.cross ? 2 : 1;
	int first = pick_key(w, "r", cp->opt.registers, keys[0], paths[0]);
	while (n == 2 && pick_key(w, "r", cp->opt.registers, keys[1], paths[1]) == first)
		;
	/* Unique per key (and run): the writer's id in the high part, its sequence in the low. */
	struct history_value v = {.kind = HISTORY_INT, .i = (int64_t)(w->id + 1) * 1000000000ll + (int64_t)seq};
	snprintf(submit, sizeof(submit), "c%d-%" PRIu64, w->id, seq);
	for (size_t i = 0; i < n; i++)
		record(cp, (uint64_t)(w->id + (int)i * MAX_CLIENTS), HISTORY_INVOKE, HISTORY_WRITE, keys[i], &v);
	const char *const targets[2] = {paths[0], paths[1]};
	enum outcome o = set_prop(cp, c, targets, n, "v", v.i, submit);
	for (size_t i = 0; i < n; i++) {
		record(cp, (uint64_t)(w->id + (int)i * MAX_CLIENTS), (enum history_type)(o + 1), HISTORY_WRITE, keys[i], &v);
		w->tally.n[HISTORY_WRITE][o]++;
	}
}

static void do_read(struct worker *w, struct grove_client **c)
{
	struct campaign *cp = w->cp;
	char key[16], path[32];
	pick_key(w, "r", cp->opt.registers, key, path);
	struct history_value nil = {.kind = HISTORY_NIL}, seen = {.kind = HISTORY_NIL};
	record(cp, (uint64_t)w->id, HISTORY_INVOKE, HISTORY_READ, key, &nil);
	Grove__ReadReply *rr;
	Grove__Envelope *reply = read_node(cp, c, path, &rr);
	bool ok = reply != NULL;
	for (size_t i = 0; ok && i < rr->nodes[0]->n_props; i++)
		if (strcmp(rr->nodes[0]->props[i]->name, "v") == 0) {
			seen.kind = HISTORY_INT;
			ok = decode_int(&rr->nodes[0]->props[i]->value, &seen.i);
		}
	if (reply)
		grove__envelope__free_unpacked(reply, NULL);
	bool expected = false;
	if (ok && seen.kind == HISTORY_INT && cp->opt.mutate && strcmp(cp->opt.mutate, "read") == 0 &&
	    atomic_compare_exchange_strong(&cp->read_mutated, &expected, true))
		seen.i = -seen.i; /* a value no one wrote */
	record(cp, (uint64_t)w->id, ok ? HISTORY_OK : HISTORY_FAIL, HISTORY_READ, key, ok ? &seen : &nil);
	w->tally.n[HISTORY_READ][ok ? OUTCOME_OK : OUTCOME_FAIL]++;
}

static void do_add(struct worker *w, struct grove_client **c, uint64_t seq)
{
	struct campaign *cp = w->cp;
	char key[16], path[32], prop[32], submit[64];
	int k = pick_key(w, "s", cp->opt.sets, key, path);
	struct history_value v = {.kind = HISTORY_INT, .i = (int64_t)(w->id + 1) * 1000000000ll + (int64_t)seq};
	snprintf(prop, sizeof(prop), "e%" PRId64, v.i);
	snprintf(submit, sizeof(submit), "c%d-%" PRIu64, w->id, seq);
	record(cp, (uint64_t)w->id, HISTORY_INVOKE, HISTORY_ADD, key, &v);
	const char *const target = path;
	enum outcome o = set_prop(cp, c, &target, 1, prop, v.i, submit);
	record(cp, (uint64_t)w->id, (enum history_type)(o + 1), HISTORY_ADD, key, &v);
	w->tally.n[HISTORY_ADD][o]++;
	if (o == OUTCOME_OK && w->id == 0 && cp->acked_add_set < 0) {
		cp->acked_add = v.i; /* written before acked_add_set: the main thread reads them after joining */
		cp->acked_add_set = k;
	}
}

static void do_read_set(struct worker *w, struct grove_client **c)
{
	struct campaign *cp = w->cp;
	char key[16], path[32];
	pick_key(w, "s", cp->opt.sets, key, path);
	struct history_value nil = {.kind = HISTORY_NIL}, seen = {.kind = HISTORY_SET};
	record(cp, (uint64_t)w->id, HISTORY_INVOKE, HISTORY_READ_SET, key, &nil);
	Grove__ReadReply *rr;
	Grove__Envelope *reply = read_node(cp, c, path, &rr);
	bool ok = reply != NULL;
	for (size_t i = 0; ok && i < rr->nodes[0]->n_props; i++) {
		int64_t e;
		if (rr->nodes[0]->props[i]->name[0] == 'e')
			ok = decode_int(&rr->nodes[0]->props[i]->value, &e) && set_append(&seen, e);
	}
	if (reply)
		grove__envelope__free_unpacked(reply, NULL);
	record(cp, (uint64_t)w->id, ok ? HISTORY_OK : HISTORY_FAIL, HISTORY_READ_SET, key, ok ? &seen : &nil);
	history_value_free(&seen);
	w->tally.n[HISTORY_READ_SET][ok ? OUTCOME_OK : OUTCOME_FAIL]++;
}

static void *client_main(void *arg)
{
	struct worker *w = arg;
	struct grove_client *c = NULL;
	/* Bounded by time, and by count in case the clock or the cluster misbehaves. */
	for (uint64_t seq = 1; seq < 1000000 && !atomic_load(&w->cp->stop) && now_ns() < w->cp->deadline_ns; seq++) {
		uint64_t pick = random_below(&w->rng, 100);
		if (pick < 35)
			do_write(w, &c, seq);
		else if (pick < 70)
			do_read(w, &c);
		else if (pick < 90)
			do_add(w, &c, seq);
		else
			do_read_set(w, &c);
		if (!c)
			sleep_ms(50); /* no member answered: do not spin */
	}
	grove_client_close(c);
	return NULL;
}

/* ---- watchers of the change stream ---- */

/*
 * Each watcher (one over protobuf, one through the Godot gateway as GDScript speaks it) follows the whole
 * world's change stream from a member (a snapshot, then every entry), and when its link fails (a member
 * killed, paused, or silent for 3 s while the clients write: a live stream then has progress at least every
 * 100 ms), or after 0.5-3.0 s on one link in any case, resumes from its last position at the next member.
 * It notes every register value the stream brings (streamcheck.h checks them against the history at the
 * end) and that every event is chained to the one before it. It stops once it saw the end mark of every
 * register it follows, a property the campaign sets on each register's node when the clients have stopped
 * and the cluster has healed, or when that took too long. Once the end marks are written no watcher leaves
 * a link that is open, silent or not, and two steady watchers never leave one by themselves: a subscription
 * that no longer brings the changes of its subtree (one registered in a group its subtree left, say) is
 * then caught by the end marks it never brings, where leaving it would hide it behind a resume that
 * catches up.
 */
/* Two of the world, and one of each of the first REGISTER_WATCHERS registers' nodes (which the split fault splits). */
#define REGISTER_WATCHERS 4
/* Then the steady ones, of registers 0 and 1: one over protobuf, one through the gateway. */
#define STEADY_WATCHERS 2
#define WATCHERS (2 + REGISTER_WATCHERS + STEADY_WATCHERS)
#define WATCH_SILENCE_MS 3000
#define END_MARK "campaign_end"

struct watcher {
	struct campaign *cp;
	int id;
	bool godot;               /* through the Godot gateway (Godot 3's Variants), else protobuf */
	int key;                  /* the register whose node it follows, or -1 for the whole world */
	bool steady;              /* never leaves a working link by itself */
	bool started;
	char path[32];            /* what it subscribes to */
	uint64_t marks;           /* the registers whose end mark it saw (bit k: register k) */
	uint64_t rng;
	pthread_t thread;
	struct stream_watch seen;
	uint64_t events, last_index;
	char position[512];
	char not_before[512];     /* after "compacted": the position its new snapshot must not be older than */
	int links, snapshots, resumes, compactions;
	bool saw_end;             /* the end marks of every register it follows */
	/* Its last link: the member, when it was opened and left, and the events it brought. */
	int link_member;
	uint64_t link_opened_ns, link_left_ns, link_changes, link_progress;
};

/* One link of a watcher: a protobuf client, or a gateway socket and what it received and has not decoded. */
struct watch_link {
	struct grove_client *pb;
	int fd;
	struct grove_buf in;
};

static bool watch_over(const struct watcher *w)
{
	uint64_t end = atomic_load(&w->cp->end_written_ns);
	return w->saw_end || (end && now_ns() > end + (uint64_t)(w->cp->opt.end_wait * 1e9));
}

static void watch_violation(struct watcher *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Note the first broken chain of @p w's stream (the first says the most; the rest may follow from it). */
static void watch_violation(struct watcher *w, const char *fmt, ...)
{
	if (w->seen.violation[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->seen.violation, sizeof(w->seen.violation), fmt, ap);
	va_end(ap);
}

/* ---- what a stream's events mean, whichever protocol brought them ---- */

static void watch_snapshot(struct watcher *w, uint64_t index, const char *position)
{
	w->last_index = index;
	snprintf(w->position, sizeof(w->position), "%s", position);
	w->not_before[0] = '\0';
	w->seen.complete_from_ns = now_ns(); /* every write invoked from now on applies after it */
	w->snapshots++;
}

static void watch_resumed(struct watcher *w, uint64_t index, const char *position)
{
	if (index < w->last_index)
		watch_violation(w, "resumed at %llu, behind the last event, at %llu", (unsigned long long)index,
				(unsigned long long)w->last_index);
	w->last_index = index;
	snprintf(w->position, sizeof(w->position), "%s", position);
	w->resumes++;
}

/* Told "compacted": a new snapshot, which holds what came between, and is not older than what it had. */
static void watch_compacted(struct watcher *w)
{
	snprintf(w->not_before, sizeof(w->not_before), "%s", w->position);
	w->position[0] = '\0';
	w->compactions++;
}

/* A "changes" or "progress" event: chained to the one before it. */
static void watch_step(struct watcher *w, uint64_t index, uint64_t prev, const char *position, bool changes)
{
	if (prev != w->last_index || index <= w->last_index)
		watch_violation(w, "an event at %llu after %llu, but the last one was at %llu", (unsigned long long)index,
				(unsigned long long)prev, (unsigned long long)w->last_index);
	w->last_index = index;
	if (position && position[0])
		snprintf(w->position, sizeof(w->position), "%s", position);
	w->events += changes;
	w->link_changes += changes;
	w->link_progress += !changes;
}

/* Property @p name of register @p key set to @p value, in the current event. */
static void watch_set(struct watcher *w, int key, const char *name, int64_t value)
{
	if (key < 0)
		return;
	if (strcmp(name, END_MARK) == 0) {
		w->marks |= 1ull << key;
		int n = w->cp->opt.registers;
		uint64_t all = w->key >= 0 ? 1ull << w->key : n >= 64 ? ~0ull : (1ull << n) - 1;
		w->saw_end = (w->marks & all) == all;
		return;
	}
	if (strcmp(name, "v") != 0)
		return;
	char k[16];
	snprintf(k, sizeof(k), "r%d", key);
	const char *mutate = w->cp->opt.mutate;
	bool repeat = mutate && strcmp(mutate, "stream") == 0 && w->id == 0 && w->seen.n == 10;
	for (int times = repeat ? 2 : 1; times > 0; times--) /* the mutation: a value delivered twice */
		if (stream_watch_add(&w->seen, k, value, w->events))
			watch_violation(w, "out of memory after %zu values", w->seen.n);
}

/* ---- protobuf ---- */

static bool pb_subscribe(struct watcher *w, struct watch_link *l)
{
	Grove__SubscribeRequest rq = GROVE__SUBSCRIBE_REQUEST__INIT;
	rq.path = w->path;
	rq.tscn = true;
	rq.resume = w->position[0] != '\0';
	rq.position = w->position;
	rq.not_before = w->not_before;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &rq;
	return grove_client_send(l->pb, &env) == GROVE_OK;
}

/* The register whose node's path is @p path, or -1. */
static int register_of_path(const struct campaign *cp, const char *path)
{
	int k = -1;
	if (strncmp(path, "/root/r", 7) != 0 || sscanf(path + 7, "%d", &k) != 1 || k < 0 || k >= cp->opt.registers)
		return -1;
	char canonical[32];
	snprintf(canonical, sizeof(canonical), "/root/r%d", k);
	return strcmp(canonical, path) == 0 ? k : -1;
}

/*
 * Whether a link silent for WATCH_SILENCE_MS is kept: once the end marks are written the cluster is whole and
 * goes idle, and a stream then owes nothing but the end marks, which a link must bring without a resume.
 */
static bool silence_is_idle(const struct watcher *w)
{
	return atomic_load(&w->cp->end_written_ns) != 0;
}

/* --mutate starve: whether @p w is the steady protobuf watcher and has noted ten values. */
static bool starved(const struct watcher *w)
{
	const char *mutate = w->cp->opt.mutate;
	return mutate && strcmp(mutate, "starve") == 0 && w->steady && !w->godot && w->seen.n >= 10;
}

static bool pb_next(struct watcher *w, struct watch_link *l)
{
	Grove__Envelope *msg = NULL;
	int err = grove_client_receive(l->pb, WATCH_SILENCE_MS, &msg);
	if (err)
		return err == GROVE_ETIMEDOUT && silence_is_idle(w);
	const Grove__SubscribeEvent *ev = msg->body_case == GROVE__ENVELOPE__BODY_SUBSCRIBE_EVENT ? msg->subscribe_event : NULL;
	bool go_on = ev != NULL; /* an error reply (too many snapshots at once): try again elsewhere */
	switch (ev ? ev->kind : GROVE__SUBSCRIBE_EVENT__KIND__ERROR) {
	case GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT:
		if (ev->last)
			watch_snapshot(w, ev->index, ev->position);
		break;
	case GROVE__SUBSCRIBE_EVENT__KIND__RESUMED:
		watch_resumed(w, ev->index, ev->position);
		break;
	case GROVE__SUBSCRIBE_EVENT__KIND__CHANGES:
	case GROVE__SUBSCRIBE_EVENT__KIND__PROGRESS:
		watch_step(w, ev->index, ev->prev, ev->position, ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__CHANGES);
		for (size_t i = 0; i < ev->n_changes && !starved(w); i++) {
			const Grove__Change *ch = ev->changes[i];
			int64_t value;
			if (ch->op == TREE_OP_SET_PROP && decode_int(&ch->value, &value))
				watch_set(w, register_of_path(w->cp, ch->path), ch->name, value);
		}
		break;
	case GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED:
		watch_compacted(w);
		go_on = pb_subscribe(w, l);
		break;
	default:
		go_on = false;
		break;
	}
	grove__envelope__free_unpacked(msg, NULL);
	return go_on;
}

/* ---- the Godot gateway (godot/gateway.h), as GDScript speaks it ---- */

static bool godot_put(struct variant *d, const char *key, struct variant *value)
{
	struct variant k;
	variant_set_string(&k, VARIANT_STRING, key, strlen(key));
	return variant_dict_put(d, &k, value) == GROVE_OK;
}

static bool godot_put_string(struct variant *d, const char *key, const char *value)
{
	struct variant v;
	variant_set_string(&v, VARIANT_STRING, value, strlen(value));
	return godot_put(d, key, &v);
}

/* Send Dictionary @p msg (freed) as a PacketPeerStream frame. */
static bool godot_send_frame(struct watch_link *l, struct variant *msg)
{
	struct grove_buf b = {0};
	bool ok = godot_packet_encode(msg, 3, &b) == GROVE_OK && send(l->fd, b.data, b.len, MSG_NOSIGNAL) == (ssize_t)b.len;
	grove_buf_free(&b);
	variant_free(msg);
	return ok;
}

/* The next frame: 1, or 0 after WATCH_SILENCE_MS of nothing, or -1 on a close or a malformed frame. */
static int godot_next_frame(struct watch_link *l, struct variant *msg)
{
	for (;;) {
		size_t used;
		int err = godot_packet_decode(msg, 3, l->in.data, l->in.len, &used);
		if (!err) {
			memmove(l->in.data, l->in.data + used, l->in.len - used);
			l->in.len -= used;
			return 1;
		}
		if (err != GROVE_ENOTFOUND)
			return -1;
		struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
		int ready = poll(&pfd, 1, WATCH_SILENCE_MS);
		if (ready == 0)
			return 0;
		uint8_t chunk[65536];
		ssize_t n = ready == 1 ? recv(l->fd, chunk, sizeof(chunk), 0) : 0;
		if (n <= 0)
			return -1;
		grove_buf_put(&l->in, chunk, (size_t)n);
	}
}

static const struct variant *godot_get(const struct variant *d, const char *key)
{
	for (uint32_t i = 0; d->type == VARIANT_DICTIONARY && i < d->as.dict->len; i++)
		if (d->as.dict->keys[i].type == VARIANT_STRING && strcmp(d->as.dict->keys[i].as.str.ptr, key) == 0)
			return &d->as.dict->values[i];
	return NULL;
}

static int64_t godot_int(const struct variant *d, const char *key)
{
	const struct variant *v = godot_get(d, key);
	return v && v->type == VARIANT_INT ? v->as.i : -1;
}

static const char *godot_string(const struct variant *d, const char *key)
{
	const struct variant *v = godot_get(d, key);
	return v && v->type == VARIANT_STRING ? v->as.str.ptr : "";
}

/* Connect to member @p member's gateway and say hello, up to the welcome. */
static bool godot_open(struct watcher *w, struct watch_link *l, int member)
{
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w->cp->cluster.ports[member])};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	if (l->fd < 0 || connect(l->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		return false;
	struct variant hello, v;
	variant_set_dict(&hello);
	variant_set_int(&v, 3);
	bool ok = godot_put_string(&hello, "op", "hello") && godot_put(&hello, "godot", &v) &&
		  godot_put_string(&hello, "token", "") && godot_put_string(&hello, "client", "campaign");
	if (!ok || !godot_send_frame(l, &hello))
		return false;
	struct variant welcome;
	if (!godot_next_frame(l, &welcome))
		return false;
	ok = strcmp(godot_string(&welcome, "op"), "welcome") == 0;
	variant_free(&welcome);
	return ok;
}

static bool godot_subscribe(struct watcher *w, struct watch_link *l)
{
	struct variant m;
	variant_set_dict(&m);
	bool ok = godot_put_string(&m, "op", "subscribe") && godot_put_string(&m, "path", w->path) &&
		  godot_put_string(&m, "format", "tscn") && (!w->position[0] || godot_put_string(&m, "from", w->position)) &&
		  (w->position[0] || !w->not_before[0] || godot_put_string(&m, "not_before", w->not_before));
	return ok ? godot_send_frame(l, &m) : (variant_free(&m), false);
}

static bool godot_next(struct watcher *w, struct watch_link *l)
{
	struct variant m;
	int got = godot_next_frame(l, &m);
	if (got <= 0)
		return got == 0 && silence_is_idle(w);
	const char *op = godot_string(&m, "op");
	bool go_on = true;
	if (strcmp(op, "snapshot") == 0) {
		const struct variant *last = godot_get(&m, "last");
		if (last && last->type == VARIANT_BOOL && last->as.b)
			watch_snapshot(w, (uint64_t)godot_int(&m, "index"), godot_string(&m, "position"));
	} else if (strcmp(op, "resumed") == 0) {
		watch_resumed(w, (uint64_t)godot_int(&m, "index"), godot_string(&m, "position"));
	} else if (strcmp(op, "changes") == 0 || strcmp(op, "progress") == 0) {
		bool changes = op[0] == 'c';
		if (godot_int(&m, "part") <= 0) /* later parts of one entry: the same event */
			watch_step(w, (uint64_t)godot_int(&m, "index"), (uint64_t)godot_int(&m, "prev"),
				   godot_string(&m, "position"), changes);
		const struct variant *list = changes ? godot_get(&m, "changes") : NULL;
		for (uint32_t i = 0; list && list->type == VARIANT_ARRAY && i < list->as.array->len; i++) {
			const struct variant *ch = &list->as.array->items[i], *value = godot_get(ch, "value");
			if (strcmp(godot_string(ch, "op"), "set") != 0 || !value || value->type != VARIANT_INT)
				continue;
			int key = -1;
			for (int k = 0; k < w->cp->opt.registers; k++)
				if ((int64_t)w->cp->register_ids[k] == godot_int(ch, "id"))
					key = k;
			watch_set(w, key, godot_string(ch, "property"), value->as.i);
		}
	} else if (strcmp(op, "compacted") == 0) {
		watch_compacted(w);
		go_on = godot_subscribe(w, l);
	} else if (strcmp(op, "pong") != 0) {
		go_on = false; /* an error (too many snapshots at once): try again elsewhere */
	}
	variant_free(&m);
	return go_on;
}

/* ---- the watcher ---- */

static bool link_open(struct watcher *w, struct watch_link *l, int member)
{
	*l = (struct watch_link){.fd = -1};
	if (w->godot)
		return godot_open(w, l, member) && godot_subscribe(w, l);
	char address[32];
	cluster_address(&w->cp->cluster, member, address, sizeof(address));
	return grove_client_connect(address, NULL, CLIENT_TIMEOUT_MS, &l->pb, NULL, 0) == GROVE_OK && pb_subscribe(w, l);
}

static void link_close(struct watch_link *l)
{
	grove_client_close(l->pb);
	if (l->fd >= 0)
		close(l->fd);
	grove_buf_free(&l->in);
}

static void *watcher_main(void *arg)
{
	struct watcher *w = arg;
	int member = w->id;
	/* Bounded by the end mark's deadline, and by count in case the clock or the cluster misbehaves. */
	for (int link = 0; link < 100000 && !watch_over(w); link++) {
		member = member % CLUSTER_NODES + 1;
		struct watch_link l;
		w->link_member = member;
		w->link_opened_ns = now_ns();
		w->link_changes = w->link_progress = 0;
		if (link_open(w, &l, member)) {
			w->links++;
			/* It also leaves by itself now and then, as a game server restarting does, to resume elsewhere. */
			uint64_t leave_at = w->link_opened_ns + (500 + random_below(&w->rng, 2500)) * 1000000ull;
			while (!watch_over(w) &&
			       (w->steady || atomic_load(&w->cp->end_written_ns) || now_ns() < leave_at) &&
			       (w->godot ? godot_next(w, &l) : pb_next(w, &l)))
				;
		}
		w->link_left_ns = now_ns();
		link_close(&l);
		if (!watch_over(w))
			sleep_ms(50);
	}
	return NULL;
}

/*
 * Set the end mark on every register's node, once every client stopped and the cluster healed: in each
 * register's log it follows every acknowledged write of it. @return false if one was not taken.
 */
static bool write_end_marks(struct campaign *cp)
{
	struct grove_client *c = NULL;
	bool all = true;
	for (int k = 0; k < cp->opt.registers; k++) {
		char path[32];
		snprintf(path, sizeof(path), "/root/r%d", k);
		const char *const paths[] = {path};
		enum outcome o = OUTCOME_FAIL;
		for (int attempt = 0; attempt < 20 && o != OUTCOME_OK; attempt++) {
			char key[32];
			snprintf(key, sizeof(key), "end-%d-%d", k, attempt);
			if ((o = set_prop(cp, &c, paths, 1, END_MARK, 1, key)) != OUTCOME_OK)
				sleep_ms(500);
		}
		all &= o == OUTCOME_OK;
	}
	grove_client_close(c);
	atomic_store(&cp->end_written_ns, now_ns());
	return all;
}

/* ---- fault proxies ---- */

/* Start the proxy that carries member @p from's connections to member @p to. @return false on failure. */
static bool start_proxy(struct campaign *cp, int from, int to, int listen_port)
{
	char listen[16], target[16], control[16];
	cp->proxy_control[from][to] = test_free_port();
	snprintf(listen, sizeof(listen), "%d", listen_port);
	snprintf(target, sizeof(target), "%d", cp->cluster.ports[to]);
	snprintf(control, sizeof(control), "%d", cp->proxy_control[from][to]);
	int fds[2];
	if (pipe(fds))
		return false;
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		execl(NETDELAY_PATH, "netdelay", "--listen", listen, "--target", target, "--control", control,
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char line[32] = "";
	struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
	if (pid > 0 && poll(&pfd, 1, 5000) > 0)
		(void)!read(fds[0], line, sizeof(line) - 1);
	close(fds[0]);
	cp->proxy_pids[from][to] = pid;
	return pid > 0 && strncmp(line, "ready", 5) == 0;
}

/* Send one command to the proxy @p from -> @p to. @return false when it did not answer "ok". */
static bool proxy_command(struct campaign *cp, int from, int to, const char *command)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cp->proxy_control[from][to])};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	char line[64], reply[64] = "";
	int n = snprintf(line, sizeof(line), "%s\n", command);
	bool sent = write(fd, line, (size_t)n) == n;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	if (sent && poll(&pfd, 1, 2000) > 0)
		(void)!read(fd, reply, sizeof(reply) - 1);
	close(fd);
	return strncmp(reply, "ok", 2) == 0;
}

/* Every proxy carries everything again, without delay. */
static void heal_all(struct campaign *cp)
{
	for (int i = 1; i <= CLUSTER_NODES; i++)
		for (int j = 1; j <= CLUSTER_NODES; j++)
			if (i != j && (!proxy_command(cp, i, j, "heal") || !proxy_command(cp, i, j, "delay 0 0")))
				fprintf(stderr, "campaign: proxy %d->%d did not heal\n", i, j);
}

/* ---- the nemesis ---- */

/* Sleep @p ms, but not past the end of the run. */
static void hold(struct campaign *cp, uint64_t ms)
{
	uint64_t now = now_ns(), until = now + ms * 1000000ull;
	if (until > cp->deadline_ns)
		until = cp->deadline_ns > now ? cp->deadline_ns : now;
	sleep_ms((until - now) / 1000000ull);
}

static int random_member(uint64_t *rng)
{
	return 1 + (int)random_below(rng, CLUSTER_NODES);
}

/* kill -9 member @p m, hold the fault, and start the member again. */
static void kill_for(struct campaign *cp, int m, uint64_t hold_ms)
{
	cluster_node_signal(&cp->cluster, m, SIGKILL);
	hold(cp, hold_ms);
	cluster_node_start(&cp->cluster, m);
}

enum cut { CUT_BOTH_WAYS, CUT_INBOUND, CUT_OUTBOUND };

/* Cut member @p m off from the others (@p how: both ways, or only what it receives, or sends), hold, heal. */
static void cut_off_for(struct campaign *cp, int m, enum cut how, uint64_t hold_ms)
{
	for (int j = 1; j <= CLUSTER_NODES; j++) {
		if (j == m)
			continue;
		/* The proxy m->j carries m's connections to j ("up" is m to j); j->m carries j's to m. */
		if (how == CUT_BOTH_WAYS) {
			proxy_command(cp, m, j, "drop both");
			proxy_command(cp, j, m, "drop both");
		} else if (how == CUT_INBOUND) {
			proxy_command(cp, j, m, "drop up");
			proxy_command(cp, m, j, "drop down");
		} else {
			proxy_command(cp, m, j, "drop up");
			proxy_command(cp, j, m, "drop down");
		}
	}
	hold(cp, hold_ms);
	heal_all(cp);
}

/*
 * Slow member @p m's links to the others, both ways (what it sends and what it receives), by @p delay_ms
 * each way: a congested or distant link, on which heartbeats, votes, acknowledgements and transaction
 * messages arrive late but whole and in order. Hold, then take the delay away.
 */
static void slow_for(struct campaign *cp, int m, unsigned delay_ms, uint64_t hold_ms)
{
	char slow[32];
	snprintf(slow, sizeof(slow), "delay %u %u", delay_ms, delay_ms);
	for (int j = 1; j <= CLUSTER_NODES; j++)
		if (j != m && (!proxy_command(cp, m, j, slow) || !proxy_command(cp, j, m, slow)))
			fprintf(stderr, "campaign: the links of member %d and %d were not slowed\n", m, j);
	hold(cp, hold_ms);
	heal_all(cp);
}

/* A split asked of the cluster on a thread of its own, so that the nemesis can kill a member meanwhile. */
struct split_call {
	const char *members;
	char path[32];
	int code; /* the answer's code; -1 without one */
	pthread_t thread;
};

static void *split_main(void *arg)
{
	struct split_call *call = arg;
	struct grove_client *client;
	call->code = -1;
	if (grove_client_connect(call->members, NULL, 10000, &client, NULL, 0) == GROVE_OK) {
		call->code = client_shard_split(client, call->path, NULL);
		grove_client_close(client);
	}
	return NULL;
}

/*
 * Split a register's node into a shard of its own while its clients write and read it, and kill -9 member
 * @p m, or cut it off from the others, a few milliseconds after asking, so that the fault lands in one of the
 * split's steps (the meta log's StartSplit, the source's log, SwitchMap) or just after. Whether the split is
 * answered does not matter: its steps are driven again by the meta group's leader, and the registers must
 * stay linearizable either way.
 */
static void split_under_fault(struct campaign *cp, int m, uint64_t hold_ms, uint64_t *rng)
{
	int candidates[MAX_KEYS], n = 0;
	for (int k = 0; k < cp->opt.registers; k++)
		if (!cp->register_split[k])
			candidates[n++] = k;
	if (n == 0) {
		printf("nemesis: every register's node is a shard already; nothing to split\n");
		return;
	}
	int k = candidates[random_below(rng, (uint64_t)n)];
	cp->register_split[k] = true;
	cp->faults_done[FAULT_SPLIT]++;
	struct split_call call = {.members = cp->members};
	snprintf(call.path, sizeof(call.path), "/root/r%d", k);
	bool kill_it = random_below(rng, 2) == 0;
	printf("nemesis: split %s, %s member %d during it for %" PRIu64 " ms\n", call.path,
	       kill_it ? "kill -9" : "partition", m, hold_ms);
	fflush(stdout);
	if (pthread_create(&call.thread, NULL, split_main, &call) != 0)
		return;
	sleep_ms(random_below(rng, 40));
	if (kill_it)
		kill_for(cp, m, hold_ms);
	else
		cut_off_for(cp, m, CUT_BOTH_WAYS, hold_ms);
	pthread_join(call.thread, NULL);
	cp->split_code[k] = call.code;
	printf("nemesis: split %s answered %s\n", call.path, call.code < 0 ? "nothing" : grove_strerror(call.code));
	fflush(stdout);
}

/*
 * Once healed, no split is left half done: a split that was answered is an active shard, and one that was not
 * (the member that took it was killed or cut off) is either an active shard, driven on by the meta group's
 * leader once it began, or absent, if it never began. Waits up to 30 s and names the first register whose
 * split is neither, or returns true.
 */
static bool splits_finished(struct campaign *cp)
{
	struct grove_client *client;
	if (grove_client_connect(cp->members, NULL, 10000, &client, NULL, 0) != GROVE_OK)
		return false;
	int unfinished = -1;
	for (uint64_t until = now_ns() + 30000000000ull; now_ns() < until; sleep_ms(200)) {
		Grove__Envelope *holder;
		Grove__ShardReply *sr = client_shard_list(client, &holder);
		unfinished = -1;
		for (int k = 0; k < cp->opt.registers && unfinished < 0; k++) {
			char path[32];
			snprintf(path, sizeof(path), "/root/r%d", k);
			bool listed = false, active = false;
			for (size_t i = 0; sr && i < sr->n_shards; i++)
				if (strcmp(sr->shards[i]->path, path) == 0) {
					listed = true;
					active = strcmp(sr->shards[i]->state, "active") == 0;
				}
			bool began = listed || cp->split_code[k] == GROVE_OK;
			if (cp->register_split[k] && began && !active)
				unfinished = k;
		}
		if (holder)
			grove__envelope__free_unpacked(holder, NULL);
		if (sr && unfinished < 0)
			break;
	}
	grove_client_close(client);
	if (unfinished >= 0)
		fprintf(stderr, "campaign: the split of /root/r%d (answered %s) is not an active shard 30 s after the faults "
				"were healed\n", unfinished, cp->split_code[unfinished] < 0 ? "nothing"
							: grove_strerror(cp->split_code[unfinished]));
	return unfinished < 0;
}

/*
 * Move member @p m's wall clock (CLOCK_REALTIME: what its hybrid logical clock, its transactions' heartbeats
 * and their expiry read) off the others' while it runs, as a clock stepped by NTP or drifting would be:
 * three times in four within groved's maximum offset (500 ms by default), so that timestamps, pushes and
 * heartbeats meet a clock ahead or behind; otherwise beyond it, so that its peers refuse its frames (ahead)
 * or it refuses theirs (behind). Healed by stepping the clock back on time while it runs or, one time in
 * three, by kill -9 and a restart on time: a clock that went back across a restart, which the bound groved
 * persists must outrun.
 */
static void clock_off_for(struct campaign *cp, int m, uint64_t hold_ms, uint64_t *rng)
{
	bool beyond = random_below(rng, 4) == 0;
	int64_t ms = (int64_t)(beyond ? 700 + random_below(rng, 1300) : 100 + random_below(rng, 350));
	if (random_below(rng, 2))
		ms = -ms;
	bool restart = random_below(rng, 3) == 0;
	printf("nemesis: %.1f s: member %d's clock %+" PRId64 " ms for %" PRIu64 " ms, then %s\n",
	       (double)(now_ns() - (cp->deadline_ns - (uint64_t)(cp->opt.seconds * 1e9))) / 1e9, m, ms, hold_ms,
	       restart ? "kill -9 and a restart on time" : "on time again");
	fflush(stdout);
	cp->faults_done[FAULT_CLOCK]++;
	uint64_t began = now_ns();
	if (!cluster_clock_shift(&cp->cluster, m, ms))
		fprintf(stderr, "campaign: member %d's clock could not be shifted\n", m);
	hold(cp, hold_ms + 1000); /* libfaketime reads the shift again once a second */
	/* Held long enough that the member surely ran with it a while: its frames or its peers' were refused. */
	if (beyond && now_ns() - began >= 1500000000ull)
		cp->clocks_beyond++;
	if (restart)
		cluster_node_signal(&cp->cluster, m, SIGKILL);
	if (!cluster_clock_shift(&cp->cluster, m, 0))
		fprintf(stderr, "campaign: member %d's clock could not be set on time\n", m);
	if (restart)
		cluster_node_start(&cp->cluster, m);
}

/* Inject fault @p f, hold it a while, and heal it. */
static void inject(struct campaign *cp, enum fault f, uint64_t *rng)
{
	struct cluster *c = &cp->cluster;
	uint64_t hold_ms = 1000 + random_below(rng, 2000);
	int m = random_member(rng);
	uint64_t applied[CLUSTER_NODES + 1];
	if (f == FAULT_SPLIT) {
		/* Half the time the world's leader: the member that carries the split in its log first. */
		int leader = random_below(rng, 2) ? cluster_leader(c, applied) : 0;
		split_under_fault(cp, leader ? leader : m, hold_ms, rng);
		return;
	}
	if (f == FAULT_CLOCK) {
		clock_off_for(cp, m, hold_ms, rng);
		return;
	}
	if (f == FAULT_KILL_LEADER) {
		int leader = cluster_leader(c, applied);
		m = leader ? leader : m;
	}
	char what[64];
	switch (f) {
	case FAULT_KILL:
	case FAULT_KILL_LEADER:
		snprintf(what, sizeof(what), "kill -9 member %d", m);
		break;
	case FAULT_KILL_ALL:
		snprintf(what, sizeof(what), "kill -9 every member");
		break;
	case FAULT_PAUSE:
		snprintf(what, sizeof(what), "SIGSTOP member %d", m);
		break;
	case FAULT_PARTITION:
		snprintf(what, sizeof(what), "partition member %d from the others", m);
		break;
	default:
		break;
	}
	bool inbound = random_below(rng, 2) == 0;
	if (f == FAULT_ONE_WAY)
		snprintf(what, sizeof(what), "member %d %s nothing", m, inbound ? "receives" : "sends");
	/* 5 to 644 ms each way, spread evenly over the doublings: a slow link, up to past every timeout. */
	unsigned delay_ms = (unsigned)(5u << random_below(rng, 8)) + (unsigned)random_below(rng, 5);
	if (f == FAULT_SLOW)
		snprintf(what, sizeof(what), "member %d's links %u ms slower each way", m, delay_ms);
	printf("nemesis: %.1f s: %s for %" PRIu64 " ms\n", (double)(now_ns() - (cp->deadline_ns -
	       (uint64_t)(cp->opt.seconds * 1e9))) / 1e9, what, hold_ms);
	fflush(stdout);
	cp->faults_done[f]++;
	switch (f) {
	case FAULT_KILL:
	case FAULT_KILL_LEADER:
		kill_for(cp, m, hold_ms);
		break;
	case FAULT_KILL_ALL:
		for (int i = 1; i <= CLUSTER_NODES; i++)
			cluster_node_signal(c, i, SIGKILL);
		hold(cp, hold_ms);
		for (int i = 1; i <= CLUSTER_NODES; i++)
			cluster_node_start(c, i);
		break;
	case FAULT_PAUSE:
		kill(c->pids[m], SIGSTOP);
		hold(cp, hold_ms);
		kill(c->pids[m], SIGCONT);
		break;
	case FAULT_PARTITION:
		cut_off_for(cp, m, CUT_BOTH_WAYS, hold_ms);
		break;
	case FAULT_ONE_WAY:
		cut_off_for(cp, m, inbound ? CUT_INBOUND : CUT_OUTBOUND, hold_ms);
		break;
	case FAULT_SLOW:
		slow_for(cp, m, delay_ms, hold_ms);
		break;
	default:
		break;
	}
}

/* Faults until the deadline: round-robin over the enabled kinds, each round in a seeded order. */
static void run_nemesis(struct campaign *cp, uint64_t *rng)
{
	enum fault order[FAULT_COUNT];
	int n = 0;
	for (int f = 0; f < FAULT_COUNT; f++)
		if (cp->opt.faults[f])
			order[n++] = (enum fault)f;
	for (int round = 0; n > 0 && round < 10000 && now_ns() < cp->deadline_ns; round++) {
		for (int i = n - 1; i > 0; i--) {
			int j = (int)random_below(rng, (uint64_t)i + 1);
			enum fault t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (int i = 0; i < n && now_ns() < cp->deadline_ns; i++) {
			hold(cp, 500 + random_below(rng, 1000)); /* let the cluster recover and the clients work */
			if (now_ns() + 1000000000ull < cp->deadline_ns)
				inject(cp, order[i], rng);
		}
	}
	hold(cp, UINT64_MAX / 2000000ull);
}

/* ---- final reads ---- */

struct prop_collector {
	struct history_value *set;
	bool ok;
};

static int collect_element(void *ctx, const char *name, const struct variant *value)
{
	struct prop_collector *pc = ctx;
	if (name[0] == 'e')
		pc->ok &= value->type == VARIANT_INT && set_append(pc->set, value->as.i);
	return 0;
}

/* Write a `final` line for every set key, read from member @p node's store (its process stopped). */
static bool final_reads(struct campaign *cp, int node)
{
	char data[4200], member[16];
	snprintf(data, sizeof(data), "%s/node%d", cp->cluster.dir, node);
	snprintf(member, sizeof(member), "%d", node);
	struct store *s;
	struct store_txn *txn = NULL;
	if (store_open(&s, data, NULL) != GROVE_OK)
		return false;
	struct tree trees[MAX_KEYS]; /* opened before the read begins: opening may open the store's tables */
	bool ok = true;
	for (int k = 0; ok && k < cp->opt.sets; k++)
		ok = tree_open(s, cp->set_groups[k], &trees[k]) == GROVE_OK;
	if (ok && store_txn_begin(s, NULL, false, &txn) != GROVE_OK) {
		txn = NULL;
		ok = false;
	}
	for (int k = 0; ok && k < cp->opt.sets; k++) {
		char key[16], path[32];
		snprintf(key, sizeof(key), "s%d", k);
		snprintf(path, sizeof(path), "/root/%s", key);
		struct history_value set = {.kind = HISTORY_SET};
		struct prop_collector pc = {.set = &set, .ok = true};
		uint64_t id;
		ok = tree_resolve_path(&trees[k], txn, path, &id) == GROVE_OK &&
		     tree_for_each_prop(&trees[k], txn, id, collect_element, &pc) == GROVE_OK && pc.ok;
		if (ok && node == 1 && cp->opt.mutate && strcmp(cp->opt.mutate, "final") == 0 && k == cp->acked_add_set)
			for (size_t i = 0; i < set.n_elems; i++)
				if (set.elems[i].i == cp->acked_add)
					set.elems[i] = set.elems[--set.n_elems]; /* lose an acknowledged add */
		if (ok)
			history_write_final(cp->history, member, key, &set);
		history_value_free(&set);
	}
	if (txn)
		store_txn_abort(txn);
	store_close(s);
	return ok;
}

/* ---- setup and main ---- */

static void usage(void)
{
	fprintf(stderr, "usage: grove_campaign [--seed N] [--seconds S] [--clients K] [--keys R] [--sets N]\n"
			"  [--faults kill,kill-leader,kill-all,pause,partition,one-way,split,clock,slow] [--history FILE]\n"
			"  [--data DIR] [--mutate read|final|stream|starve] [--end-wait S] [--cross PERCENT]\n"
			"--cross: every key a shard of its own, and PERCENT of the register writes set two registers in\n"
			"  one batch (a transaction across two shards)\n");
	exit(2);
}

static bool parse_faults(const char *list, bool faults[FAULT_COUNT])
{
	memset(faults, 0, FAULT_COUNT * sizeof(bool));
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", list);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int f = 0;
		while (f < FAULT_COUNT && strcmp(t, fault_names[f]) != 0)
			f++;
		if (f == FAULT_COUNT && strcmp(t, "none") != 0)
			return false;
		if (f < FAULT_COUNT)
			faults[f] = true;
	}
	return true;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){.seed = (uint64_t)time(NULL), .seconds = 25, .clients = 5, .registers = 4, .sets = 2,
			      .end_wait = 60};
	for (int f = 0; f < FAULT_COUNT; f++)
		o->faults[f] = true;
	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			usage();
		const char *a = argv[i], *v = argv[i + 1];
		if (strcmp(a, "--seed") == 0)
			o->seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--seconds") == 0)
			o->seconds = atof(v);
		else if (strcmp(a, "--clients") == 0)
			o->clients = atoi(v);
		else if (strcmp(a, "--keys") == 0)
			o->registers = atoi(v);
		else if (strcmp(a, "--sets") == 0)
			o->sets = atoi(v);
		else if (strcmp(a, "--cross") == 0)
			o->cross = atoi(v);
		else if (strcmp(a, "--faults") == 0) {
			if (!parse_faults(v, o->faults))
				usage();
		} else if (strcmp(a, "--history") == 0)
			o->history = v;
		else if (strcmp(a, "--data") == 0)
			o->data = v;
		else if (strcmp(a, "--mutate") == 0)
			o->mutate = v;
		else if (strcmp(a, "--end-wait") == 0)
			o->end_wait = atof(v);
		else
			usage();
	}
	if (o->seconds <= 0 || o->seconds > 86400 || o->clients < 1 || o->clients > MAX_CLIENTS || o->registers < 1 ||
	    o->registers > MAX_KEYS || o->sets < 1 || o->sets > MAX_KEYS || o->cross < 0 || o->cross > 100 ||
	    o->end_wait <= 0 || o->end_wait > 3600 ||
	    (o->mutate && strcmp(o->mutate, "read") != 0 && strcmp(o->mutate, "final") != 0 &&
	     strcmp(o->mutate, "stream") != 0 && strcmp(o->mutate, "starve") != 0))
		usage();
}

/* Start the proxies and the members, each member reaching the others through its own proxies. */
static bool start_cluster(struct campaign *cp)
{
	struct cluster *c = &cp->cluster;
	if (cp->opt.data && mkdir(cp->opt.data, 0755) != 0 && errno != EEXIST)
		return false;
	cluster_prepare(c, NULL, cp->opt.data);
	if (cp->opt.faults[FAULT_CLOCK] && !(c->faketime = cluster_faketime_library())) {
		fprintf(stderr, "campaign: the clock fault runs the members under libfaketime, which is not installed "
				"(Debian package faketime; tools/setup.sh installs it), or leave the fault out with --faults\n");
		return false;
	}
	for (int i = 1; i <= CLUSTER_NODES; i++) {
		size_t n = 0;
		for (int j = 1; j <= CLUSTER_NODES; j++) {
			int port = c->ports[j];
			if (j != i) {
				port = test_free_port();
				if (!start_proxy(cp, i, j, port))
					return false;
			}
			n += (size_t)snprintf(c->member_peers[i] + n, sizeof(c->member_peers[i]) - n, "%s%d=127.0.0.1:%d",
					      j > 1 ? "," : "", j, port);
		}
		n = strlen(cp->members);
		snprintf(cp->members + n, sizeof(cp->members) - n, "%s127.0.0.1:%d", i > 1 ? "," : "", c->ports[i]);
	}
	for (int i = 1; i <= CLUSTER_NODES; i++)
		cluster_node_start(c, i);
	cluster_wait_leader(c);
	/* The nodes every key lives on. */
	struct grove_client *client;
	if (grove_client_connect(cp->members, NULL, 10000, &client, NULL, 0) != GROVE_OK)
		return false;
	bool ok = true;
	for (int k = 0; ok && k < cp->opt.registers + cp->opt.sets; k++) {
		char name[16];
		snprintf(name, sizeof(name), k < cp->opt.registers ? "r%d" : "s%d",
			 k < cp->opt.registers ? k : k - cp->opt.registers);
		struct tree_op op = {.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = name, .text = "Node",
				     .index = -1};
		ok = client_write_ops(client, &op, 1) == 0;
		char path[32];
		snprintf(path, sizeof(path), "/root/%s", name);
		if (ok && k < cp->opt.registers) {
			Grove__Envelope *holder = NULL;
			Grove__ReadReply *rr = client_read(client, path, 0, false, &holder);
			ok = rr && rr->code == 0 && rr->n_nodes == 1;
			cp->register_ids[k] = ok ? rr->nodes[0]->id : 0;
			if (holder)
				grove__envelope__free_unpacked(holder, NULL);
		}
		uint64_t group = 1; /* the world's */
		if (ok && cp->opt.cross) {
			ok = client_shard_split(client, path, &group) == GROVE_OK;
			if (k < cp->opt.registers)
				cp->register_split[k] = true; /* answered: nothing left for the split fault */
		}
		if (k >= cp->opt.registers)
			cp->set_groups[k - cp->opt.registers] = group;
	}
	grove_client_close(client);
	return ok;
}

static void print_tally(const struct worker *w, int n)
{
	static const char *const outcomes[3] = {"ok", "fail", "info"};
	uint64_t total = 0;
	printf("ops:");
	for (int f = 0; f < 4; f++)
		for (int o = 0; o < 3; o++) {
			uint64_t sum = 0;
			for (int i = 0; i < n; i++)
				sum += w[i].tally.n[f][o];
			total += sum;
			printf(" %s/%s %" PRIu64, history_f_name((enum history_f)f), outcomes[o], sum);
		}
	printf(" (total %" PRIu64 ")\n", total);
}

int main(int argc, char **argv)
{
	static struct campaign cp;
	parse_options(argc, argv, &cp.opt);
	signal(SIGPIPE, SIG_IGN);
	printf("campaign: seed %" PRIu64 ", %.0f s, %d clients, %d registers, %d sets, faults", cp.opt.seed,
	       cp.opt.seconds, cp.opt.clients, cp.opt.registers, cp.opt.sets);
	for (int f = 0; f < FAULT_COUNT; f++)
		if (cp.opt.faults[f])
			printf(" %s", fault_names[f]);
	printf("%s%s", cp.opt.mutate ? ", mutation " : "", cp.opt.mutate ? cp.opt.mutate : "");
	if (cp.opt.cross)
		printf(", every key a shard, %d%% of register writes across two", cp.opt.cross);
	printf("\n");
	fflush(stdout);
	uint64_t rng = cp.opt.seed * 0x9E3779B97F4A7C15ull + 1;
	cp.acked_add_set = -1;
	pthread_mutex_init(&cp.history_lock, NULL);
	if (!start_cluster(&cp)) {
		fprintf(stderr, "campaign: the cluster did not start (seed %" PRIu64 "); see %s\n", cp.opt.seed,
			cp.cluster.dir);
		return 2;
	}
	char history_path[4200];
	snprintf(history_path, sizeof(history_path), "%s", cp.opt.history ? cp.opt.history : "");
	if (!cp.opt.history)
		snprintf(history_path, sizeof(history_path), "%s/history.txt", cp.cluster.dir);
	cp.history = fopen(history_path, "w");
	if (!cp.history) {
		perror(history_path);
		return 2;
	}
	fprintf(cp.history, "# grove_campaign seed %" PRIu64 "\n", cp.opt.seed);
	cp.deadline_ns = now_ns() + (uint64_t)(cp.opt.seconds * 1e9);
	static struct watcher watchers[WATCHERS];
	for (int i = 0; i < WATCHERS; i++) {
		struct watcher *w = &watchers[i];
		bool steady = i >= WATCHERS - STEADY_WATCHERS;
		*w = (struct watcher){.cp = &cp, .id = i, .godot = i % 2 == 1, .steady = steady,
				      .key = steady ? i - (WATCHERS - STEADY_WATCHERS) : i - 2, .rng = next_random(&rng) | 1};
		if (w->key >= cp.opt.registers)
			continue;
		w->started = true;
		snprintf(w->path, sizeof(w->path), w->key < 0 ? "/root" : "/root/r%d", w->key);
		if (w->key >= 0)
			snprintf(w->seen.only_key, sizeof(w->seen.only_key), "r%d", w->key);
		pthread_create(&w->thread, NULL, watcher_main, w);
	}
	struct worker workers[MAX_CLIENTS];
	for (int i = 0; i < cp.opt.clients; i++) {
		workers[i] = (struct worker){.cp = &cp, .id = i, .rng = next_random(&rng) | 1};
		pthread_create(&workers[i].thread, NULL, client_main, &workers[i]);
	}
	run_nemesis(&cp, &rng);
	atomic_store(&cp.stop, true);
	for (int i = 0; i < cp.opt.clients; i++)
		pthread_join(workers[i].thread, NULL);
	/* Heal everything, let the members converge, stop them, and read every set from each store. */
	heal_all(&cp);
	cluster_wait_leader(&cp.cluster);
	cluster_wait_converged(&cp.cluster);
	bool marked = write_end_marks(&cp), watched = marked;
	for (int i = 0; i < WATCHERS; i++) {
		if (!watchers[i].started)
			continue;
		pthread_join(watchers[i].thread, NULL);
		watched &= watchers[i].saw_end;
	}
	bool splits_done = splits_finished(&cp);
	cluster_stop(&cp.cluster);
	int refusals = 0;
	for (int i = 1; i <= CLUSTER_NODES; i++)
		refusals += cluster_log_count(&cp.cluster, i, "clock: refused");
	/* A clock past the maximum offset that nobody refused was never moved: the fault did not act. */
	bool clocks_acted = cp.clocks_beyond == 0 || refusals > 0;
	bool finals = true;
	for (int i = 1; i <= CLUSTER_NODES; i++)
		finals &= final_reads(&cp, i);
	fclose(cp.history);
	print_tally(workers, cp.opt.clients);
	printf("faults:");
	for (int f = 0; f < FAULT_COUNT; f++)
		printf(" %s %" PRIu64, fault_names[f], cp.faults_done[f]);
	printf("\nclocks: %" PRIu64 " held past the maximum offset; %d refusals logged by the members%s", cp.clocks_beyond,
	       refusals, clocks_acted ? "" : " (NONE: the clock fault did not act)");
	printf("\nwatchers:");
	for (int i = 0; i < WATCHERS; i++) {
		const struct watcher *w = &watchers[i];
		if (!w->started)
			continue;
		printf(" %d (%s, %s%s): %zu values in %" PRIu64 " events, %d links, %d snapshots, %d resumes, %d compacted", i,
		       w->path, w->godot ? "Godot gateway" : "protobuf", w->steady ? ", steady" : "", w->seen.n, w->events,
		       w->links, w->snapshots, w->resumes, w->compactions);
		if (!w->saw_end)
			printf(", NEVER SAW THE END MARK: its last link, to member %d, open %.1f s, brought %" PRIu64
			       " changes and %" PRIu64 " progress events", w->link_member,
			       (double)(w->link_left_ns - w->link_opened_ns) / 1e9, w->link_changes, w->link_progress);
		printf(";");
	}
	printf("\nhistory: %s\n", history_path);
	struct history *h;
	struct history_error herr;
	struct lin_report *report = NULL;
	if (!finals || history_read_file(history_path, &h, &herr) != GROVE_OK) {
		fprintf(stderr, "campaign: %s (line %zu: %s)\n", finals ? "the history does not read back" :
			"a member's store could not be read", herr.line, finals ? herr.msg : "");
		return 2;
	}
	if (lin_check(h, NULL, &report) != GROVE_OK) {
		fprintf(stderr, "campaign: the checker ran out of memory\n");
		return 2;
	}
	lin_report_write(stdout, h, report, false);
	struct stream_watch seen[WATCHERS];
	size_t n_watched = 0;
	for (int i = 0; i < WATCHERS; i++)
		if (watchers[i].started)
			seen[n_watched++] = watchers[i].seen;
	size_t stream_violations = stream_check(h, seen, n_watched, stdout);
	/* A split left unfinished, or a stream that lost, repeated or reordered a write, fails whatever the histories say. */
	bool streams_ok = watched && stream_violations == 0;
	enum lin_verdict verdict = splits_done && streams_ok && clocks_acted ? report->verdict : LIN_VIOLATION;
	printf("RESULT: %s: %zu keys checked (%zu linearizable, %zu unknown, %zu violations), %zu final reads%s, "
	       "streams %s; seed %" PRIu64 "\n",
	       verdict == LIN_OK ? "PASSED" : verdict == LIN_UNKNOWN ? "UNDECIDED" : "FAILED", report->n_keys, report->n_ok,
	       report->n_unknown, report->n_violation, h->n_finals, splits_done ? "" : ", a split unfinished",
	       streams_ok ? "whole" : !watched ? "not followed to the end" : "NOT whole", cp.opt.seed);
	for (int i = 0; i < WATCHERS; i++)
		stream_watch_free(&watchers[i].seen);
	if (verdict != LIN_OK) {
		printf("reproduce: grove_campaign --seed %" PRIu64 " --seconds %g --clients %d --keys %d --sets %d --faults ",
		       cp.opt.seed, cp.opt.seconds, cp.opt.clients, cp.opt.registers, cp.opt.sets);
		const char *sep = "";
		for (int f = 0; f < FAULT_COUNT; f++)
			if (cp.opt.faults[f]) {
				printf("%s%s", sep, fault_names[f]);
				sep = ",";
			}
		printf("%s%s%s", *sep ? "" : "none", cp.opt.mutate ? " --mutate " : "", cp.opt.mutate ? cp.opt.mutate : "");
		if (cp.opt.cross)
			printf(" --cross %d", cp.opt.cross);
		printf("\n");
	}
	lin_report_free(report);
	history_free(h);
	/* A failure keeps its data and history to look at, unless a mutation asked for it. */
	if ((verdict == LIN_OK || cp.opt.mutate) && !cp.opt.data && !cp.opt.history)
		test_rmtree(cp.cluster.dir);
	else
		free(cp.cluster.dir);
	return verdict == LIN_OK ? 0 : verdict == LIN_UNKNOWN ? 3 : 1;
}
