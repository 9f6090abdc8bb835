/*
 * The change stream of a real groved: a subscriber's snapshot and every change after it with no gap and no
 * repeat; resuming from an index, and "compacted" once the history no longer holds it; a subscriber that
 * stops reading while 100,000 writes land neither slows the writes nor grows the server's memory, and then
 * catches up or is told to take a new snapshot; the Godot gateway protocol spoken as GDScript speaks it
 * (Variant Dictionaries in PacketPeerStream frames): hello and its token, subscribe, submit with an
 * idempotency key applied once, ping, and malformed frames refused without harm; a node with children moved
 * into a followed subtree from outside it arrives as its creation, which rebuilds what the server holds.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "godot/variant_binary.h"
#include "proto/grove.pb-c.h"
#include "src/common/bytes.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "godot_client.h"
#include "harness.h"
#include "files.h"
#include "support.h"

struct fixture {
	char *dir;
	char data[4096];
	struct groved_proc server;
	int metrics_port; /* 0: none */
};

static int setup_with(void **state, const char *const *args)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = test_tmpdir("stream");
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	/* ASan's quarantine would otherwise hold up to 256 MiB of freed memory and hide groved's real RSS. */
	struct groved_opts o = {.args = args, .asan_options = "quarantine_size_mb=4"};
	groved_start_opts(&f->server, f->data, &o);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

/* A history of 64 entries, so that an old position is soon gone. */
static int setup_short_history(void **state)
{
	static const char *const args[] = {"--history-entries", "64", NULL};
	return setup_with(state, args);
}

enum { INFLIGHT_MAX = 8, PIPELINED_SUBMITS = 500 };

/* A limit of INFLIGHT_MAX requests in flight per client, and metrics to show what it did. */
static int setup_inflight_limit(void **state)
{
	static char metrics[32], max[16];
	int port = test_free_port();
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", port);
	snprintf(max, sizeof(max), "%d", INFLIGHT_MAX);
	const char *const args[] = {"--max-inflight", max, "--metrics", metrics, NULL};
	setup_with(state, args);
	((struct fixture *)*state)->metrics_port = port;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->server.pid)
		groved_stop(&f->server);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static struct grove_client *connect_to(const struct groved_proc *p)
{
	struct grove_client *c;
	char error[256];
	assert_int_equal(grove_client_connect(p->address, NULL, 10000, &c, error, sizeof(error)), GROVE_OK);
	return c;
}

/* Write @p ops as one batch; returns the batch's applied index (0 if refused). */
static uint64_t write_ops(struct grove_client *c, const struct tree_op *ops, size_t n)
{
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(ops, n, &wr), GROVE_OK);
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	int err = grove_client_call(c, &env, &reply);
	wire_request_free(&wr);
	if (err)
		return 0;
	uint64_t index = reply->body_case == GROVE__ENVELOPE__BODY_WRITE_REPLY && !reply->write_reply->code
				 ? reply->write_reply->applied_index
				 : 0;
	grove__envelope__free_unpacked(reply, NULL);
	return index;
}

/* Set property @p prop of @p path to @p value; returns the write's applied index (0 if refused). */
static uint64_t set_int(struct grove_client *c, const char *path, const char *prop, int64_t value)
{
	struct variant v;
	variant_set_int(&v, value);
	struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = path}, .name = prop, .value = &v};
	return write_ops(c, &op, 1);
}

static void add_node(const struct groved_proc *p, const char *path, const char *cls)
{
	struct cli_result r;
	cli_run(p, &r, "add", path, cls, (char *)NULL);
	assert_int_equal(r.status, 0);
}

/* The next subscription event (NULL after @p timeout_ms without one). */
static Grove__Envelope *next_event(struct grove_client *c, int timeout_ms)
{
	Grove__Envelope *msg;
	int err = grove_client_receive(c, timeout_ms, &msg);
	if (err == GROVE_ETIMEDOUT)
		return NULL;
	assert_int_equal(err, GROVE_OK);
	assert_int_equal(msg->body_case, GROVE__ENVELOPE__BODY_SUBSCRIBE_EVENT);
	return msg;
}

/* What a subscriber saw: the position it is at, and the value of property "n" in each change, in order. */
struct seen {
	uint64_t last;
	int64_t values[200000];
	size_t n_values;
	size_t n_events;
	bool compacted;
};

/* Take one event into @p s, checking that it follows the one before. */
static void take(struct seen *s, const Grove__SubscribeEvent *ev)
{
	if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED) {
		s->compacted = true;
		return;
	}
	if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT || ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__RESUMED) {
		s->last = ev->index;
		return;
	}
	if (ev->prev != s->last)
		fail_msg("event at %llu says it follows %llu, but the last one was %llu", (unsigned long long)ev->index,
			 (unsigned long long)ev->prev, (unsigned long long)s->last);
	assert_true(ev->index > s->last);
	s->last = ev->index;
	s->n_events++;
	for (size_t i = 0; i < ev->n_changes; i++) {
		const Grove__Change *ch = ev->changes[i];
		if (ch->op != TREE_OP_SET_PROP || strcmp(ch->name, "n") != 0)
			continue;
		struct variant v;
		assert_int_equal(variant_decode(&v, ch->value.data, ch->value.len, NULL), GROVE_OK);
		if (s->n_values < sizeof(s->values) / sizeof(s->values[0]))
			s->values[s->n_values++] = v.as.i;
	}
}

static void test_snapshot_then_every_change(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/World", "Node3D");
	add_node(&f->server, "/root/World/A", "Node3D");
	struct grove_client *w = connect_to(&f->server), *sub = connect_to(&f->server);
	for (int i = 0; i < 10; i++)
		assert_true(set_int(w, "/root/World/A", "n", i));
	assert_int_equal(client_subscribe(sub, "/root/World", false, 0), GROVE_OK);
	/* The scene holds the state at its index, every node with its grove id. */
	Grove__Envelope *msg = next_event(sub, 5000);
	assert_non_null(msg);
	const Grove__SubscribeEvent *ev = msg->subscribe_event;
	assert_int_equal(ev->kind, GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT);
	assert_true(ev->last);
	char *scene = strndup((const char *)ev->data.data, ev->data.len);
	assert_non_null(strstr(scene, "n = 9"));
	assert_non_null(strstr(scene, "metadata/grove_id"));
	free(scene);
	static struct seen s;
	memset(&s, 0, sizeof(s));
	take(&s, ev);
	uint64_t at = ev->index;
	grove__envelope__free_unpacked(msg, NULL);
	/* Writes after it, inside and outside the subtree: the inside ones arrive, in order, once. */
	add_node(&f->server, "/root/Elsewhere", "Node");
	for (int i = 10; i < 200; i++)
		assert_true(set_int(w, i % 3 ? "/root/World/A" : "/root/Elsewhere", "n", i));
	uint64_t final = set_int(w, "/root/World/A", "n", 1000);
	while (s.last < final && (msg = next_event(sub, 5000))) {
		take(&s, msg->subscribe_event);
		grove__envelope__free_unpacked(msg, NULL);
	}
	assert_int_equal(s.last, final);
	size_t k = 0;
	for (int i = 10; i < 200; i++)
		if (i % 3)
			assert_int_equal(s.values[k++], i);
	assert_int_equal(s.values[k++], 1000);
	assert_int_equal(s.n_values, k);
	/* Quiet: the position still moves, with progress events. */
	add_node(&f->server, "/root/Elsewhere/X", "Node");
	msg = next_event(sub, 2000);
	assert_non_null(msg);
	assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__PROGRESS);
	take(&s, msg->subscribe_event);
	assert_true(s.last > final && at < final);
	grove__envelope__free_unpacked(msg, NULL);
	grove_client_close(w);
	grove_client_close(sub);
}

/* Subscribe to @p path, following @p depth levels (0: all) and only property @p only (NULL: every one). */
static void subscribe_filtered(struct grove_client *c, const char *path, uint32_t depth, const char *only)
{
	Grove__SubscribeRequest rq = GROVE__SUBSCRIBE_REQUEST__INIT;
	rq.path = (char *)path;
	rq.tscn = true;
	rq.depth = depth;
	char *properties[] = {(char *)only};
	rq.properties = only ? properties : NULL;
	rq.n_properties = only ? 1 : 0;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &rq;
	assert_int_equal(grove_client_send(c, &env), GROVE_OK);
}

/* The next changes event of @p c, after its snapshot (if @p snapshot_first), as "path name=value;" per change. */
static void next_changes(struct grove_client *c, bool snapshot_first, uint64_t *index, uint64_t *prev, char *out,
			 size_t cap)
{
	Grove__Envelope *msg;
	while ((msg = next_event(c, 5000)) && msg->subscribe_event->kind != GROVE__SUBSCRIBE_EVENT__KIND__CHANGES) {
		assert_true(snapshot_first && msg->subscribe_event->kind == GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT);
		grove__envelope__free_unpacked(msg, NULL);
	}
	assert_non_null(msg);
	const Grove__SubscribeEvent *ev = msg->subscribe_event;
	*index = ev->index;
	*prev = ev->prev;
	assert_true(strlen(ev->position) > 0);
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < ev->n_changes; i++) {
		const Grove__Change *ch = ev->changes[i];
		struct variant v;
		assert_int_equal(ch->op, TREE_OP_SET_PROP);
		assert_int_equal(variant_decode(&v, ch->value.data, ch->value.len, NULL), GROVE_OK);
		len += (size_t)snprintf(out + len, cap - len, "%s %s=%lld;", ch->path, ch->name, (long long)v.as.i);
	}
	grove__envelope__free_unpacked(msg, NULL);
}

/* The next "changes" message of Godot subscriber @p g (others skipped), as "property=value;" per change; @return its index. */
static int64_t godot_next_changes(struct godot *g, char *out, size_t cap)
{
	struct variant m;
	godot_expect(g, "changes", &m);
	int64_t index = godot_field(&m, "index")->as.i;
	const struct variant *changes = godot_field(&m, "changes");
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < changes->as.array->len; i++) {
		const struct variant *c = &changes->as.array->items[i];
		len += (size_t)snprintf(out + len, cap - len, "%s=%lld;", godot_field(c, "property")->as.str.ptr,
					(long long)godot_field(c, "value")->as.i);
	}
	variant_free(&m);
	return index;
}

/*
 * One entry to subscribers that get it whole and to others that get part of it (a property filter, a
 * depth, a subtree), over protobuf and as Godot 3 and 4 gateways, then the next entry: each gets exactly
 * its own share, with its own index and position, however the server shares the work between them.
 */
static void test_one_entry_to_many_subscribers(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/World", "Node3D");
	add_node(&f->server, "/root/World/A", "Node3D");
	add_node(&f->server, "/root/World/A/B", "Node");
	struct grove_client *w = connect_to(&f->server), *subs[5];
	const char *paths[] = {"/root/World", "/root/World", "/root/World", "/root/World/A", "/root/World"};
	const uint32_t depths[] = {0, 0, 0, 0, 1};
	const char *only[] = {NULL, NULL, "n", NULL, NULL};
	for (int k = 0; k < 5; k++) {
		subs[k] = connect_to(&f->server);
		subscribe_filtered(subs[k], paths[k], depths[k], only[k]);
	}
	struct godot godots[3];
	const int majors[] = {3, 4, 3};
	for (int k = 0; k < 3; k++) {
		godot_hello(&godots[k], f->server.port, majors[k]);
		struct variant m;
		if (k < 2)
			godot_dict(&m, "op", "s:subscribe", "path", "s:/root/World", NULL);
		else
			godot_dict(&m, "op", "s:subscribe", "path", "s:/root/World", "depth", "i:1", NULL);
		godot_send(&godots[k], &m);
		godot_expect(&godots[k], "snapshot", &m);
		variant_free(&m);
	}
	/* Every subscription is in place once a write after them is seen by each (the snapshots come first). */
	uint64_t before = set_int(w, "/root/World/A", "n", 1);
	uint64_t seen[5];
	for (int k = 0; k < 5; k++) {
		uint64_t index = 0, prev;
		char got[512];
		while (index < before)
			next_changes(subs[k], index == 0, &index, &prev, got, sizeof(got));
		seen[k] = index;
	}
	char godot_got[512];
	for (int k = 0; k < 3; k++)
		while (godot_next_changes(&godots[k], godot_got, sizeof(godot_got)) < (int64_t)before)
			;
	struct variant v[3];
	variant_set_int(&v[0], 7);
	variant_set_int(&v[1], 8);
	variant_set_int(&v[2], 9);
	struct tree_op ops[] = {
		{.kind = TREE_OP_SET_PROP, .node = {.path = "/root/World/A"}, .name = "n", .value = &v[0]},
		{.kind = TREE_OP_SET_PROP, .node = {.path = "/root/World/A"}, .name = "m", .value = &v[1]},
		{.kind = TREE_OP_SET_PROP, .node = {.path = "/root/World/A/B"}, .name = "n", .value = &v[2]},
	};
	uint64_t first = write_ops(w, ops, 3);
	assert_true(first > 0);
	uint64_t second = set_int(w, "/root/World/A", "n", 10);
	const char *all = "/root/World/A n=7;/root/World/A m=8;/root/World/A/B n=9;";
	const char *expected[] = {all, all, "/root/World/A n=7;/root/World/A/B n=9;", all, "/root/World/A n=7;/root/World/A m=8;"};
	for (int k = 0; k < 5; k++) {
		uint64_t index, prev;
		char got[512];
		next_changes(subs[k], false, &index, &prev, got, sizeof(got));
		assert_int_equal(index, first);
		assert_int_equal(prev, seen[k]);
		assert_string_equal(got, expected[k]);
		next_changes(subs[k], false, &index, &prev, got, sizeof(got));
		assert_int_equal(index, second);
		assert_int_equal(prev, first);
		assert_string_equal(got, "/root/World/A n=10;");
		grove_client_close(subs[k]);
	}
	const char *godot_expected[] = {"n=7;m=8;n=9;", "n=7;m=8;n=9;", "n=7;m=8;"};
	for (int k = 0; k < 3; k++) {
		assert_int_equal(godot_next_changes(&godots[k], godot_got, sizeof(godot_got)), first);
		assert_string_equal(godot_got, godot_expected[k]);
		assert_int_equal(godot_next_changes(&godots[k], godot_got, sizeof(godot_got)), second);
		assert_string_equal(godot_got, "n=10;");
		godot_close(&godots[k]);
	}
	grove_client_close(w);
}

static void test_resume_and_compacted(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/A", "Node");
	struct grove_client *w = connect_to(&f->server);
	uint64_t early = set_int(w, "/root/A", "n", 0);
	uint64_t mid = 0;
	for (int i = 1; i <= 100; i++) {
		uint64_t index = set_int(w, "/root/A", "n", i);
		if (i == 80)
			mid = index;
	}
	/* From a recent position: exactly what came after it. */
	struct grove_client *sub = connect_to(&f->server);
	assert_int_equal(client_subscribe(sub, "/root", true, mid), GROVE_OK);
	static struct seen s;
	memset(&s, 0, sizeof(s));
	Grove__Envelope *msg = next_event(sub, 5000);
	assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__RESUMED);
	take(&s, msg->subscribe_event);
	grove__envelope__free_unpacked(msg, NULL);
	while (s.n_values < 20 && (msg = next_event(sub, 5000))) {
		take(&s, msg->subscribe_event);
		grove__envelope__free_unpacked(msg, NULL);
	}
	assert_int_equal(s.n_values, 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(s.values[i], 81 + i);
	grove_client_close(sub);
	/* From a position the 64-entry history no longer holds: take a new snapshot. */
	sub = connect_to(&f->server);
	assert_int_equal(client_subscribe(sub, "/root", true, early), GROVE_OK);
	msg = next_event(sub, 5000);
	assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED);
	assert_true(msg->subscribe_event->oldest > early + 1);
	grove__envelope__free_unpacked(msg, NULL);
	grove_client_close(sub);
	grove_client_close(w);
}

/* ---- a subscriber that stops reading ---- */

struct writer {
	const char *address;
	int first, count, acked;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	struct grove_client *c;
	char error[256];
	if (grove_client_connect(w->address, NULL, 30000, &c, error, sizeof(error)))
		return NULL;
	for (int i = 0; i < w->count; i++)
		if (set_int(c, "/root/Hot", "n", w->first + i))
			__atomic_add_fetch(&w->acked, 1, __ATOMIC_SEQ_CST);
	grove_client_close(c);
	return NULL;
}

static long rss_kib(pid_t pid)
{
	return proc_status_kib(pid, "VmRSS");
}

static void test_slow_subscriber_never_slows_writes(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/Hot", "Node");
	struct grove_client *sub = connect_to(&f->server);
	assert_int_equal(client_subscribe(sub, "/root", false, 0), GROVE_OK);
	Grove__Envelope *msg = next_event(sub, 5000);
	static struct seen s;
	memset(&s, 0, sizeof(s));
	take(&s, msg->subscribe_event);
	grove__envelope__free_unpacked(msg, NULL);
	/* Now it stops reading while 100,000 writes land. */
	long before = rss_kib(f->server.pid);
	enum { THREADS = 32, EACH = 3125 };
	pthread_t t[THREADS];
	struct writer w[THREADS];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct writer){.address = f->server.address, .first = i * EACH, .count = EACH};
		pthread_create(&t[i], NULL, write_loop, &w[i]);
	}
	long peak = before;
	int total = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += w[i].acked;
		long now = rss_kib(f->server.pid);
		peak = now > peak ? now : peak;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	long after = rss_kib(f->server.pid);
	peak = after > peak ? after : peak;
	print_message("%d writes in %.1f s with a subscriber that reads nothing; groved RSS %ld KiB before, %ld KiB at "
		      "most\n", total, seconds, before, peak);
	assert_int_equal(total, THREADS * EACH);
	/*
	 * Bounded: the subscriber's socket and queue hold a few MiB at most (it leaves live delivery at 1 MiB), the
	 * history is on disk. The rest is LMDB's map and the allocator, which 100,000 writes grow too.
	 */
	assert_true(peak - before < 96 * 1024);
	/* Reading again, it catches up from the history, or is told to take a new snapshot; nothing in between. */
	while (!s.compacted && s.n_values < (size_t)total && (msg = next_event(sub, 10000))) {
		take(&s, msg->subscribe_event);
		grove__envelope__free_unpacked(msg, NULL);
	}
	print_message("the subscriber %s after %zu values\n", s.compacted ? "was told to take a new snapshot" : "caught up",
		      s.n_values);
	assert_true(s.compacted || s.n_values == (size_t)total);
	grove_client_close(sub);
}

/* ---- a large snapshot is made beside the loop ---- */

struct timed_writer {
	const char *address;
	int count, acked;
	bool stop;               /* set by the test: no more writes after the one in flight */
	int64_t acked_ns[20000]; /* when each write was acknowledged */
	uint64_t index[20000];   /* and at which index */
};

/* Writes of @p w acknowledged after @p from and before @p to (CLOCK_MONOTONIC ns). */
static int acked_between(const struct timed_writer *w, int64_t from, int64_t to)
{
	int n = 0, acked = __atomic_load_n(&w->acked, __ATOMIC_ACQUIRE);
	for (int i = 0; i < acked; i++)
		n += w->acked_ns[i] > from && w->acked_ns[i] < to;
	return n;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *timed_write_loop(void *arg)
{
	struct timed_writer *w = arg;
	struct grove_client *c;
	char error[256];
	if (grove_client_connect(w->address, NULL, 30000, &c, error, sizeof(error)))
		return NULL;
	for (int i = 0; i < w->count && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE); i++) {
		uint64_t index = set_int(c, "/root/Hot", "n", i);
		if (!index)
			break;
		w->index[i] = index;
		w->acked_ns[i] = now_ns();
		__atomic_store_n(&w->acked, i + 1, __ATOMIC_RELEASE);
	}
	grove_client_close(c);
	return NULL;
}

/* Batches of @p per creates of Node3D under @p parent until it has @p n children. */
static void fill(const struct groved_proc *p, const char *parent, int n, int per)
{
	struct grove_client *c = connect_to(p);
	struct tree_op *ops = calloc((size_t)per, sizeof(*ops));
	char (*names)[16] = calloc((size_t)per, sizeof(*names));
	for (int done = 0; done < n; done += per) {
		for (int i = 0; i < per; i++) {
			snprintf(names[i], sizeof(names[i]), "N%d", done + i);
			ops[i] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = parent}, .name = names[i],
						  .text = "Node3D", .index = -1};
		}
		struct wire_request wr;
		assert_int_equal(wire_encode_batch(ops, (size_t)per, &wr), GROVE_OK);
		Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
		env.body_case = GROVE__ENVELOPE__BODY_WRITE;
		env.write = &wr.req;
		assert_int_equal(grove_client_call(c, &env, &reply), GROVE_OK);
		assert_int_equal(reply->write_reply->code, GROVE_OK);
		grove__envelope__free_unpacked(reply, NULL);
		wire_request_free(&wr);
	}
	free(names);
	free(ops);
	grove_client_close(c);
}

/*
 * The scene of a large subtree takes long to write; it is written beside the loop, so writes are acknowledged
 * meanwhile, and the subscriber still gets the scene and then every change after it, none missed or repeated.
 */
static void test_writes_go_on_while_a_snapshot_is_made(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/Big", "Node3D");
	add_node(&f->server, "/root/Hot", "Node");
	fill(&f->server, "/root/Big", 20000, 1000);
	static struct timed_writer w;
	w = (struct timed_writer){.address = f->server.address, .count = 20000};
	pthread_t t;
	pthread_create(&t, NULL, timed_write_loop, &w);
	while (__atomic_load_n(&w.acked, __ATOMIC_ACQUIRE) < 10)
		usleep(1000);
	struct grove_client *sub = connect_to(&f->server);
	int64_t asked = now_ns();
	assert_int_equal(client_subscribe(sub, "/root", false, 0), GROVE_OK);
	Grove__Envelope *msg = next_event(sub, 60000);
	int64_t arrived = now_ns();
	assert_non_null(msg);
	assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT);
	static struct seen s;
	memset(&s, 0, sizeof(s));
	size_t scene_bytes = 0;
	for (;;) {
		scene_bytes += msg->subscribe_event->data.len;
		bool last = msg->subscribe_event->last;
		take(&s, msg->subscribe_event);
		grove__envelope__free_unpacked(msg, NULL);
		if (last)
			break;
		msg = next_event(sub, 5000);
		assert_non_null(msg);
		assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT);
	}
	uint64_t at = s.last;
	int during = acked_between(&w, asked, arrived);
	print_message("a %zu-byte scene of 20,000 nodes arrived %.0f ms after it was asked for; %d writes were "
		      "acknowledged meanwhile\n", scene_bytes, (double)(arrived - asked) / 1e6, during);
	/* Made in the loop, the scene would have held every write up until it was sent. */
	assert_true(during >= 5);
	/* So is an export asked for by the CLI. */
	char out[4200];
	snprintf(out, sizeof(out), "%s/big.scn", f->dir);
	struct cli_result r;
	asked = now_ns();
	cli_run(&f->server, &r, "export", "/root/Big", "-o", out, "--godot", "3", (char *)NULL);
	arrived = now_ns();
	assert_int_equal(r.status, 0);
	during = acked_between(&w, asked, arrived);
	print_message("grove export of it took %.0f ms; %d writes were acknowledged meanwhile\n",
		      (double)(arrived - asked) / 1e6, during);
	assert_true(during >= 5);
	__atomic_store_n(&w.stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	/* After the scene: exactly the writes applied after its index, in order. */
	int expected = 0;
	for (int i = 0; i < w.acked; i++)
		expected += w.index[i] > at;
	while (s.n_values < (size_t)expected && (msg = next_event(sub, 10000))) {
		take(&s, msg->subscribe_event);
		grove__envelope__free_unpacked(msg, NULL);
	}
	assert_false(s.compacted);
	assert_int_equal(s.n_values, expected);
	for (int i = 0, k = 0; i < w.acked; i++)
		if (w.index[i] > at)
			assert_int_equal(s.values[k++], i);
	grove_client_close(sub);
}

/* ---- the Godot gateway (godot_client.h) ---- */

/* Send "set /root/G n = value" with @p key, not waiting for its answer. */
static void godot_send_submit(struct godot *g, const char *key, int value)
{
	struct variant op, ops;
	char v[32];
	snprintf(v, sizeof(v), "i:%d", value);
	godot_dict(&op, "op", "s:set", "node", "s:/root/G", "property", "s:n", "value", v, NULL);
	assert_int_equal(variant_set_array(&ops), GROVE_OK);
	assert_int_equal(variant_array_push(&ops, &op), GROVE_OK);
	godot_send_ops(g, key, &ops);
}

/* Submit "set /root/G n = value" with @p key; the answer. */
static void godot_submit(struct godot *g, const char *key, int value, struct variant *answer)
{
	godot_send_submit(g, key, value);
	godot_answer(g, answer);
}

static void test_godot_gateway(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/G", "Node");
	for (int major = 3; major <= 4; major++) {
		struct godot g;
		godot_hello(&g, f->server.port, major);
		/* The stream: a .scn snapshot in chunks, then the changes. */
		struct variant m;
		godot_dict(&m, "op", "s:subscribe", "path", "s:/root", NULL);
		godot_send(&g, &m);
		godot_expect(&g, "snapshot", &m);
		assert_int_equal(godot_field(&m, "data")->type, VARIANT_PACKED_BYTE_ARRAY);
		assert_memory_equal(godot_field(&m, "data")->as.packed->as.bytes, "RSRC", 4);
		assert_true(godot_field(&m, "last")->as.b);
		int64_t at = godot_field(&m, "index")->as.i;
		variant_free(&m);
		/* A submit is applied once, whatever the number of times it is sent. */
		char key[64];
		snprintf(key, sizeof(key), "godot%d-batch-1", major);
		struct variant a, b;
		godot_submit(&g, key, 10 + major, &a);
		assert_string_equal(godot_op_of(&a), "submitted");
		godot_submit(&g, key, 99, &b);
		assert_string_equal(godot_op_of(&b), "submitted");
		assert_int_equal(godot_field(&a, "index")->as.i, godot_field(&b, "index")->as.i);
		assert_true(godot_field(&a, "index")->as.i > at);
		variant_free(&a);
		variant_free(&b);
		godot_expect(&g, "changes", &m);
		const struct variant *changes = godot_field(&m, "changes");
		assert_int_equal(changes->as.array->len, 1);
		assert_int_equal(godot_field(&changes->as.array->items[0], "value")->as.i, 10 + major);
		variant_free(&m);
		/* Refusals name the op; the connection stays. */
		godot_dict(&m, "op", "s:submit", "key", "s:bad", "ops", "v:", &(struct variant){0}, NULL);
		godot_send(&g, &m);
		godot_expect(&g, "error", &m);
		variant_free(&m);
		godot_dict(&m, "op", "s:teleport", NULL);
		godot_send(&g, &m);
		godot_expect(&g, "error", &m);
		variant_free(&m);
		godot_dict(&m, "op", "s:ping", "t", "i:7", NULL);
		godot_send(&g, &m);
		godot_expect(&g, "pong", &m);
		assert_int_equal(godot_field(&m, "t")->as.i, 7);
		variant_free(&m);
		/* A submit to a node that does not exist is refused with the path; nothing changes. */
		struct variant op, ops;
		godot_dict(&op, "op", "s:set", "node", "s:/root/Nope", "property", "s:n", "value", "i:1", NULL);
		assert_int_equal(variant_set_array(&ops), GROVE_OK);
		assert_int_equal(variant_array_push(&ops, &op), GROVE_OK);
		godot_dict(&m, "op", "s:submit", "key", "s:nope", "ops", "v:", &ops, NULL);
		godot_send(&g, &m);
		godot_expect(&g, "refused", &m);
		assert_non_null(strstr(godot_field(&m, "reason")->as.str.ptr, "/root/Nope"));
		variant_free(&m);
		/* Bytes that are no Variant: an error, and the connection closes. */
		uint8_t junk[] = {12, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
		assert_int_equal(send(g.fd, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
		godot_expect(&g, "error", &m);
		variant_free(&m);
		assert_false(godot_receive(&g, &m));
		godot_close(&g);
	}
	/* A frame past the limit: an error that says so, and that connection closes; a neighbour carries on. */
	struct godot big, neighbour;
	godot_hello(&big, f->server.port, 3);
	godot_hello(&neighbour, f->server.port, 3);
	uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f};
	assert_int_equal(send(big.fd, huge, sizeof(huge), MSG_NOSIGNAL), (ssize_t)sizeof(huge));
	struct variant e;
	godot_expect(&big, "error", &e);
	assert_int_equal(godot_field(&e, "code")->as.i, GROVE_ETOOBIG);
	assert_non_null(strstr(godot_field(&e, "reason")->as.str.ptr, "exceeds the limit"));
	variant_free(&e);
	assert_false(godot_receive(&big, &e));
	godot_close(&big);
	godot_dict(&e, "op", "s:ping", "t", "i:8", NULL);
	godot_send(&neighbour, &e);
	godot_expect(&neighbour, "pong", &e);
	variant_free(&e);
	godot_close(&neighbour);
	/* Nothing is served before the hello. */
	struct godot g;
	godot_connect(&g, f->server.port, 4);
	struct variant m;
	godot_dict(&m, "op", "s:subscribe", "path", "s:/root", NULL);
	godot_send(&g, &m);
	godot_expect(&g, "error", &m);
	variant_free(&m);
	assert_false(godot_receive(&g, &m));
	godot_close(&g);
	/* The world has the first value of each batch, applied once. */
	struct cli_result r;
	cli_run(&f->server, &r, "get", "/root/G", "n", (char *)NULL);
	assert_string_equal(r.out, "14\n");
}

/* Import scene @p text (@p len bytes) under /root with grove import, through file @p name. */
static void import_scene(struct fixture *f, const char *name, const void *text, size_t len)
{
	test_write_file(f->dir, name, text, len);
	char scene[4200];
	snprintf(scene, sizeof(scene), "%s/%s", f->dir, name);
	struct cli_result r;
	cli_run(&f->server, &r, "import", scene, "--at", "/root", (char *)NULL);
	assert_int_equal(r.status, 0);
}

__attribute__((format(printf, 2, 3))) static void buf_printf(struct grove_buf *b, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(line));
	grove_buf_put(b, line, (size_t)n);
}

/*
 * A Godot client that asks for its snapshot's ids with names gets a scene without them and, before it, every
 * node's id, parent and name, sorted by id, in frames that fit PacketPeerStream's default buffer (or the
 * larger one its hello announces, in fewer frames); a wrong "ids" is refused.
 */
static void test_godot_snapshot_ids_with_names(void **state)
{
	struct fixture *f = *state;
	enum { ROWS = 40, CELLS = 100 }; /* 4,141 nodes: more than one message of ids */
	struct grove_buf text = {0};
	buf_printf(&text, "[gd_scene load_steps=2 format=2]\n\n"
				"[ext_resource path=\"res://prop.tscn\" type=\"PackedScene\" id=1]\n\n"
				"[node name=\"Walked\" type=\"Node\"]\n\n"
				"[node name=\"Prop\" parent=\".\" instance=ExtResource( 1 )]\n\n"
				"[node name=\"Lamp\" type=\"Node\" parent=\"Prop\"]\n\n");
	for (int r = 0; r < ROWS; r++) {
		buf_printf(&text, "[node name=\"R%d\" type=\"Node2D\" parent=\".\"]\n\n", r);
		for (int c = 0; c < CELLS; c++)
			buf_printf(&text, "[node name=\"C%d\" type=\"Sprite\" parent=\"R%d\"]\n\n", c, r);
	}
	import_scene(f, "walked.tscn", text.data, text.len);
	grove_buf_free(&text);
	struct cli_result r;
	for (int major = 3; major <= 4; major++) {
		/* Godot 3 with PacketPeerStream's default buffer; Godot 4 announcing 1 MiB, which takes larger frames. */
		struct godot g;
		struct variant m;
		size_t buffer = major == 3 ? 65536 : 1u << 20;
		if (major == 3) {
			godot_hello(&g, f->server.port, major);
		} else {
			godot_connect(&g, f->server.port, major);
			godot_dict(&m, "op", "s:hello", "godot", "i:4", "token", "s:", "client", "s:walk", "buffer",
				   "i:1048576", NULL);
			godot_send(&g, &m);
			godot_expect(&g, "welcome", &m);
			variant_free(&m);
		}
		godot_dict(&m, "op", "s:subscribe", "path", "s:/root/Walked", "ids", "s:beside", NULL);
		godot_send(&g, &m);
		godot_expect(&g, "error", &m);
		assert_non_null(strstr(godot_field(&m, "reason")->as.str.ptr, "\"names\""));
		variant_free(&m);
		godot_dict(&m, "op", "s:subscribe", "path", "s:/root/Walked", "ids", "s:names", NULL);
		godot_send(&g, &m);
		struct variant node_ids, parents, names;
		assert_int_equal(variant_set_array(&node_ids), GROVE_OK);
		assert_int_equal(variant_set_array(&parents), GROVE_OK);
		assert_int_equal(variant_set_array(&names), GROVE_OK);
		size_t messages = 0;
		for (;;) {
			assert_true(godot_receive(&g, &m));
			assert_true(g.frame_bytes <= buffer);
			if (strcmp(godot_op_of(&m), "snapshot") == 0)
				break;
			assert_string_equal(godot_op_of(&m), "snapshot_ids");
			assert_int_equal(godot_field(&m, "ids")->as.dict->len, 0);
			const struct variant *ids = godot_field(&m, "node_ids"), *up = godot_field(&m, "parents"),
					     *named = godot_field(&m, "names");
			assert_int_equal(ids->type, VARIANT_ARRAY);
			assert_int_equal(up->type, VARIANT_PACKED_INT32_ARRAY);
			assert_int_equal(named->type, VARIANT_PACKED_STRING_ARRAY);
			assert_int_equal(ids->as.array->len, up->as.packed->len);
			assert_int_equal(ids->as.array->len, named->as.packed->len);
			for (uint32_t i = 0; i < ids->as.array->len; i++) {
				struct variant id = ids->as.array->items[i], parent, name;
				variant_set_int(&parent, up->as.packed->as.i32[i]);
				assert_int_equal(variant_set_string(&name, VARIANT_STRING, named->as.packed->as.strings.ptrs[i],
								    named->as.packed->as.strings.lens[i]),
						 GROVE_OK);
				assert_int_equal(variant_array_push(&node_ids, &id), GROVE_OK);
				assert_int_equal(variant_array_push(&parents, &parent), GROVE_OK);
				assert_int_equal(variant_array_push(&names, &name), GROVE_OK);
			}
			messages++;
			variant_free(&m);
		}
		/* The scene: the snapshot's, without the ids. */
		assert_true(godot_field(&m, "last")->as.b || godot_field(&m, "offset")->as.i == 0);
		int64_t root = godot_field(&m, "root")->as.i;
		const struct variant *data = godot_field(&m, "data");
		assert_null(memmem(data->as.packed->as.bytes, data->as.packed->len, "grove_id", 8));
		variant_free(&m);
		assert_int_equal(messages >= 2, major == 3); /* the larger buffer takes them all at once */
		/* Every node, Prop's Lamp (declared without a type) too, by id, each below the node its parent names. */
		uint32_t n = node_ids.as.array->len;
		assert_int_equal(n, 3 + ROWS * (1 + CELLS));
		const struct variant *id = node_ids.as.array->items, *up = parents.as.array->items,
				     *name = names.as.array->items;
		int64_t lamp = 0;
		size_t roots = 0, cells = 0;
		for (uint32_t i = 0; i < n; i++) {
			assert_true(i == 0 || id[i - 1].as.i < id[i].as.i);
			if (up[i].as.i < 0) {
				assert_int_equal(id[i].as.i, root);
				roots++;
				continue;
			}
			assert_in_range(up[i].as.i, 0, n - 1);
			const char *parent_name = name[up[i].as.i].as.str.ptr;
			if (strcmp(name[i].as.str.ptr, "Lamp") == 0 && strcmp(parent_name, "Prop") == 0)
				lamp = id[i].as.i;
			if (name[i].as.str.ptr[0] == 'C') {
				assert_int_equal(parent_name[0], 'R');
				cells++;
			}
		}
		assert_int_equal(roots, 1);
		assert_int_equal(cells, ROWS * CELLS);
		variant_free(&node_ids);
		variant_free(&parents);
		variant_free(&names);
		cli_run(&f->server, &r, "get", "/root/Walked/Prop/Lamp", (char *)NULL);
		char want[40];
		snprintf(want, sizeof(want), "id=%" PRId64 " ", lamp);
		assert_true(lamp > 0);
		assert_non_null(strstr(r.out, want));
		godot_close(&g);
	}
}

/*
 * A submit that names an embedded resource stored before the subscriber's snapshot (the subscriber has it only
 * in the scene, where no id names it) brings it: "resource" changes with their properties, the gradient the
 * texture names first, before the "set".
 */
static void test_godot_set_brings_embedded_resource(void **state)
{
	struct fixture *f = *state;
	static const char crate[] = "[gd_scene load_steps=3 format=2]\n\n"
				    "[sub_resource type=\"Gradient\" id=1]\n"
				    "colors = PoolColorArray( 1, 0, 0, 1, 0, 0, 1, 1 )\n\n"
				    "[sub_resource type=\"GradientTexture\" id=2]\n"
				    "gradient = SubResource( 1 )\nwidth = 8\n\n"
				    "[node name=\"Crate\" type=\"Sprite\"]\ntexture = SubResource( 2 )\n\n"
				    "[node name=\"Other\" type=\"Sprite\" parent=\".\"]\n";
	import_scene(f, "crate.tscn", crate, sizeof(crate) - 1);
	struct cli_result r;
	cli_run(&f->server, &r, "get", "/root/Crate", "texture", (char *)NULL);
	const char *hash = strchr(r.out, '#');
	assert_non_null(hash);
	int64_t texture = strtoll(hash + 1, NULL, 10);
	assert_true(texture > 0);
	struct godot g;
	godot_hello(&g, f->server.port, 4);
	struct variant m;
	godot_dict(&m, "op", "s:subscribe", "path", "s:/root/Crate", NULL);
	godot_send(&g, &m);
	godot_expect(&g, "snapshot", &m);
	variant_free(&m);
	struct variant ref, op, ops, answer;
	char id[32];
	snprintf(id, sizeof(id), "i:%" PRId64, texture);
	godot_dict(&ref, "@resource", id, NULL);
	godot_dict(&op, "op", "s:set", "node", "s:/root/Crate/Other", "property", "s:texture", "value", "v:", &ref, NULL);
	assert_int_equal(variant_set_array(&ops), GROVE_OK);
	assert_int_equal(variant_array_push(&ops, &op), GROVE_OK);
	godot_send_ops(&g, "texture-again", &ops);
	godot_answer(&g, &answer);
	assert_string_equal(godot_op_of(&answer), "submitted");
	variant_free(&answer);
	godot_expect(&g, "changes", &m);
	const struct variant *changes = godot_field(&m, "changes");
	assert_int_equal(changes->as.array->len, 3);
	const struct variant *gradient = &changes->as.array->items[0], *made = &changes->as.array->items[1],
			     *set = &changes->as.array->items[2];
	assert_string_equal(godot_op_of(gradient), "resource");
	assert_string_equal(godot_field(gradient, "type")->as.str.ptr, "Gradient");
	assert_string_equal(godot_op_of(made), "resource");
	assert_int_equal(godot_field(made, "id")->as.i, texture);
	assert_int_equal(godot_field(made, "properties")->type, VARIANT_DICTIONARY);
	assert_int_equal(godot_field(godot_field(made, "properties"), "width")->as.i, 8);
	assert_string_equal(godot_op_of(set), "set");
	assert_int_equal(godot_field(godot_field(set, "value"), "@resource")->as.i, texture);
	variant_free(&m);
	godot_close(&g);
}

/*
 * An entry with one change larger than a Godot client reads in one frame (its hello's "buffer", 65,532 bytes
 * by default) is not sent to it: it is told "compacted" and takes a snapshot, which holds the value in
 * chunks; a client with a larger buffer gets the entry. A buffer below the default is refused.
 */
static void test_godot_entry_larger_than_a_clients_buffer(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/Big", "Node");
	struct godot small, large, bad;
	godot_hello(&small, f->server.port, 3);
	godot_connect(&large, f->server.port, 3);
	struct variant m;
	godot_dict(&m, "op", "s:hello", "godot", "i:3", "token", "s:", "client", "s:large", "buffer", "i:1048576", NULL);
	godot_send(&large, &m);
	godot_expect(&large, "welcome", &m);
	variant_free(&m);
	godot_connect(&bad, f->server.port, 4);
	godot_dict(&m, "op", "s:hello", "godot", "i:4", "token", "s:", "client", "s:bad", "buffer", "i:4096", NULL);
	godot_send(&bad, &m);
	godot_expect(&bad, "error", &m);
	assert_non_null(strstr(godot_field(&m, "reason")->as.str.ptr, "\"buffer\""));
	variant_free(&m);
	godot_close(&bad);
	struct godot *both[] = {&small, &large};
	for (int k = 0; k < 2; k++) {
		godot_dict(&m, "op", "s:subscribe", "path", "s:/root/Big", NULL);
		godot_send(both[k], &m);
		godot_expect(both[k], "snapshot", &m);
		variant_free(&m);
	}
	enum { BLOB = 100000 };
	char *blob = malloc(BLOB + 3);
	blob[0] = 's', blob[1] = ':';
	memset(blob + 2, 'x', BLOB);
	blob[BLOB + 2] = '\0';
	struct variant op, ops, answer;
	godot_dict(&op, "op", "s:set", "node", "s:/root/Big", "property", "s:blob", "value", blob, NULL);
	free(blob);
	assert_int_equal(variant_set_array(&ops), GROVE_OK);
	assert_int_equal(variant_array_push(&ops, &op), GROVE_OK);
	godot_send_ops(&large, "blob", &ops);
	godot_answer(&large, &answer);
	assert_string_equal(godot_op_of(&answer), "submitted");
	variant_free(&answer);
	godot_expect(&large, "changes", &m);
	const struct variant *set = &godot_field(&m, "changes")->as.array->items[0];
	assert_int_equal(godot_field(set, "value")->as.str.len, BLOB);
	variant_free(&m);
	godot_expect(&small, "compacted", &m);
	assert_non_null(strstr(godot_field(&m, "reason")->as.str.ptr, "\"buffer\" 65532"));
	variant_free(&m);
	/* Its snapshot holds the value, in chunks of its size. */
	godot_dict(&m, "op", "s:subscribe", "path", "s:/root/Big", NULL);
	godot_send(&small, &m);
	size_t bytes = 0;
	for (bool last = false; !last;) {
		godot_expect(&small, "snapshot", &m);
		assert_true(small.frame_bytes <= 65536);
		bytes += godot_field(&m, "data")->as.packed->len;
		last = godot_field(&m, "last")->as.b;
		variant_free(&m);
	}
	assert_true(bytes > BLOB);
	godot_close(&small);
	godot_close(&large);
}

/*
 * Latency accounting: a write's reply carries the leader's stage times and the subscriber's event of the same
 * index the member's own, every one present and in the order the stages run (one server: leader and member).
 */
/* Submits pipelined by a Godot client count against --max-inflight like any other client's requests. */
static void test_godot_submits_in_flight_are_bounded(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/G", "Node");
	struct godot g;
	godot_hello(&g, f->server.port, 3);
	char key[32];
	for (int i = 0; i < PIPELINED_SUBMITS; i++) {
		snprintf(key, sizeof(key), "pipelined-%d", i);
		godot_send_submit(&g, key, i);
	}
	int64_t last_index = 0;
	for (int i = 0; i < PIPELINED_SUBMITS; i++) {
		struct variant a;
		godot_expect(&g, "submitted", &a);
		snprintf(key, sizeof(key), "pipelined-%d", i);
		assert_string_equal(godot_field(&a, "key")->as.str.ptr, key);
		assert_true(godot_field(&a, "index")->as.i > last_index);
		last_index = godot_field(&a, "index")->as.i;
		variant_free(&a);
	}
	godot_close(&g);
	uint64_t peak, pauses;
	assert_true(groved_inflight_metrics(f->metrics_port, &peak, &pauses));
	print_message("%d pipelined submits answered in order; at most %llu in flight, paused %llu times\n",
		      PIPELINED_SUBMITS, (unsigned long long)peak, (unsigned long long)pauses);
	assert_int_equal(peak, INFLIGHT_MAX);
	assert_true(pauses >= 1);
}

static void test_stage_times_are_ordered(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/World", "Node3D");
	add_node(&f->server, "/root/World/A", "Node3D");
	struct grove_client *w = connect_to(&f->server), *sub = connect_to(&f->server);
	assert_int_equal(client_subscribe(sub, "/root/World", false, 0), GROVE_OK);
	Grove__Envelope *msg = next_event(sub, 5000);
	assert_non_null(msg);
	assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT);
	grove__envelope__free_unpacked(msg, NULL);

	struct variant v;
	variant_set_int(&v, 7);
	struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root/World/A"}, .name = "n", .value = &v};
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(&op, 1, &wr), GROVE_OK);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	wr.req.client_send_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	assert_int_equal(grove_client_call(w, &env, &reply), GROVE_OK);
	assert_int_equal(reply->body_case, GROVE__ENVELOPE__BODY_WRITE_REPLY);
	const Grove__WriteReply *r = reply->write_reply;
	assert_int_equal(r->code, 0);
	uint64_t stages[] = {wr.req.client_send_ns, r->server_receive_ns, r->server_proposed_ns, r->server_durable_ns,
			     r->server_committed_ns, r->server_applied_ns, r->server_reply_ns};
	for (size_t i = 1; i < sizeof(stages) / sizeof(stages[0]); i++) {
		if (!stages[i] || stages[i] < stages[i - 1])
			fail_msg("write stage %zu at %llu, after stage %zu at %llu", i, (unsigned long long)stages[i], i - 1,
				 (unsigned long long)stages[i - 1]);
	}

	/* The subscriber's event of that index: committed and applied as the reply says, queued after. */
	const Grove__SubscribeEvent *ev = NULL;
	while ((msg = next_event(sub, 5000))) {
		ev = msg->subscribe_event;
		if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__CHANGES && ev->index == r->applied_index)
			break;
		grove__envelope__free_unpacked(msg, NULL);
		ev = NULL;
	}
	assert_non_null(ev);
	assert_int_equal(ev->committed_ns, r->server_committed_ns);
	assert_int_equal(ev->applied_ns, r->server_applied_ns);
	assert_true(ev->sent_ns >= ev->applied_ns);
	grove__envelope__free_unpacked(msg, NULL);
	grove__envelope__free_unpacked(reply, NULL);
	wire_request_free(&wr);
	grove_client_close(w);
	grove_client_close(sub);
}

/* ---- a node moved into a followed zone from outside it ---- */

/* A node as a subscriber rebuilt it from the stream. */
struct rebuilt {
	uint64_t id, parent;
	char name[64], class_name[64], path[256];
	struct {
		char name[32];
		uint8_t value[64];
		size_t len;
	} props[8];
	size_t n_props;
	bool in_players;
};

static struct rebuilt *rebuilt_of(struct rebuilt *nodes, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (nodes[i].id == id)
			return &nodes[i];
	return NULL;
}

/* Apply the changes of @p ev (creates, sets, group adds: what a move in brings) to @p nodes. */
static size_t rebuild(struct rebuilt *nodes, size_t n, const Grove__SubscribeEvent *ev)
{
	for (size_t i = 0; i < ev->n_changes; i++) {
		const Grove__Change *c = ev->changes[i];
		if (c->op == TREE_OP_CREATE) {
			assert_true(n < 16);
			assert_null(rebuilt_of(nodes, n, c->node));
			struct rebuilt *r = &nodes[n++];
			*r = (struct rebuilt){.id = c->node, .parent = c->parent};
			snprintf(r->name, sizeof(r->name), "%s", c->name);
			snprintf(r->class_name, sizeof(r->class_name), "%s", c->text);
			snprintf(r->path, sizeof(r->path), "%s", c->path);
			continue;
		}
		struct rebuilt *r = rebuilt_of(nodes, n, c->node);
		assert_non_null(r); /* made before anything names it */
		assert_string_equal(c->path, r->path);
		if (c->op == TREE_OP_SET_PROP) {
			assert_true(r->n_props < 8 && c->value.len <= sizeof(r->props[0].value));
			snprintf(r->props[r->n_props].name, sizeof(r->props[0].name), "%s", c->name);
			memcpy(r->props[r->n_props].value, c->value.data, c->value.len);
			r->props[r->n_props++].len = c->value.len;
		} else {
			assert_int_equal(c->op, TREE_OP_ADD_GROUP);
			assert_string_equal(c->name, "players");
			r->in_players = true;
		}
	}
	return n;
}

/*
 * A player with children moved from zone A into zone B: a subscriber of zone B is given the player's subtree
 * as creates and sets, not "compacted", and what it rebuilds from them is what a read of the server returns;
 * a Godot client of zone B gets the same as gateway "create" and "set" changes.
 */
static void test_move_into_zone(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/World", "Node3D");
	add_node(&f->server, "/root/World/ZoneA", "Node3D");
	add_node(&f->server, "/root/World/ZoneB", "Node3D");
	add_node(&f->server, "/root/World/ZoneB/Ground", "StaticBody3D");
	add_node(&f->server, "/root/World/ZoneA/Player", "CharacterBody3D");
	add_node(&f->server, "/root/World/ZoneA/Player/Body", "Node3D");
	add_node(&f->server, "/root/World/ZoneA/Player/Body/Mesh", "MeshInstance3D");
	add_node(&f->server, "/root/World/ZoneA/Player/Gun", "Node3D");
	struct grove_client *w = connect_to(&f->server), *sub = connect_to(&f->server);
	assert_true(set_int(w, "/root/World/ZoneA/Player", "hp", 100));
	assert_true(set_int(w, "/root/World/ZoneA/Player/Body/Mesh", "layers", 3));
	assert_true(set_int(w, "/root/World/ZoneA/Player/Gun", "ammo", 30));
	struct cli_result r;
	cli_run(&f->server, &r, "group", "add", "/root/World/ZoneA/Player", "players", (char *)NULL);
	assert_int_equal(r.status, 0);

	/* A subscriber of the whole world first: it gets the move whole, the zone's subscribers its arrival. */
	struct grove_client *world = connect_to(&f->server);
	assert_int_equal(client_subscribe(world, "/root/World", false, 0), GROVE_OK);
	assert_int_equal(client_subscribe(sub, "/root/World/ZoneB", false, 0), GROVE_OK);
	Grove__Envelope *msg;
	bool last = false;
	do {
		assert_non_null(msg = next_event(world, 5000));
		last = msg->subscribe_event->kind == GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT && msg->subscribe_event->last;
		grove__envelope__free_unpacked(msg, NULL);
	} while (!last);
	last = false;
	while (!last) {
		assert_non_null(msg = next_event(sub, 5000));
		assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT);
		last = msg->subscribe_event->last;
		grove__envelope__free_unpacked(msg, NULL);
	}
	struct godot g;
	godot_hello(&g, f->server.port, 4);
	struct variant m;
	godot_dict(&m, "op", "s:subscribe", "path", "s:/root/World/ZoneB", NULL);
	godot_send(&g, &m);
	do {
		godot_expect(&g, "snapshot", &m);
		last = godot_field(&m, "last")->as.b;
		variant_free(&m);
	} while (!last);

	cli_run(&f->server, &r, "mv", "/root/World/ZoneA/Player", "/root/World/ZoneB", (char *)NULL);
	assert_int_equal(r.status, 0);
	static struct rebuilt nodes[16];
	size_t n = 0;
	while (n < 4) {
		assert_non_null(msg = next_event(sub, 5000));
		const Grove__SubscribeEvent *ev = msg->subscribe_event;
		assert_int_not_equal(ev->kind, GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED);
		if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__CHANGES)
			n = rebuild(nodes, n, ev);
		grove__envelope__free_unpacked(msg, NULL);
	}
	assert_string_equal(nodes[0].path, "/root/World/ZoneB/Player");
	assert_true(nodes[0].in_players);
	while ((msg = next_event(world, 5000)) && msg->subscribe_event->kind != GROVE__SUBSCRIBE_EVENT__KIND__CHANGES)
		grove__envelope__free_unpacked(msg, NULL);
	assert_non_null(msg);
	assert_int_equal(msg->subscribe_event->n_changes, 1);
	assert_int_equal(msg->subscribe_event->changes[0]->op, TREE_OP_MOVE);
	assert_string_equal(msg->subscribe_event->changes[0]->path, "/root/World/ZoneB/Player");
	grove__envelope__free_unpacked(msg, NULL);
	grove_client_close(world);

	/* What the server holds now, node for node. */
	Grove__Envelope *holder;
	Grove__ReadReply *read = client_read(w, "/root/World/ZoneB/Player", 10, true, &holder);
	assert_non_null(read);
	assert_int_equal(read->n_nodes, n);
	for (size_t i = 0; i < read->n_nodes; i++) {
		const Grove__NodeInfo *ni = read->nodes[i];
		struct rebuilt *rb = rebuilt_of(nodes, n, ni->id);
		assert_non_null(rb);
		assert_string_equal(rb->name, ni->name);
		assert_string_equal(rb->class_name, ni->class_name);
		if (i == 0) {
			assert_string_equal(rb->path, ni->path);
		} else {
			struct rebuilt *up = rebuilt_of(nodes, n, ni->parent);
			assert_non_null(up);
			assert_int_equal(rb->parent, ni->parent);
			char path[sizeof(up->path) + sizeof(up->name) + 1];
			snprintf(path, sizeof(path), "%s/%s", up->path, ni->name);
			assert_string_equal(rb->path, path);
		}
		assert_int_equal(rb->n_props, ni->n_props);
		for (size_t k = 0; k < ni->n_props; k++) {
			assert_string_equal(rb->props[k].name, ni->props[k]->name);
			assert_int_equal(rb->props[k].len, ni->props[k]->value.len);
			assert_memory_equal(rb->props[k].value, ni->props[k]->value.data, rb->props[k].len);
		}
	}
	grove__envelope__free_unpacked(holder, NULL);

	/* The Godot client: the same nodes made, with their grove ids, in the gateway's words. */
	godot_expect(&g, "changes", &m);
	const struct variant *changes = godot_field(&m, "changes");
	size_t creates = 0;
	for (uint32_t i = 0; i < changes->as.array->len; i++) {
		const struct variant *c = &changes->as.array->items[i];
		if (strcmp(godot_op_of(c), "create") != 0)
			continue;
		assert_non_null(rebuilt_of(nodes, n, (uint64_t)godot_field(c, "id")->as.i));
		assert_int_equal(godot_field(c, "parent")->as.i, (int64_t)rebuilt_of(nodes, n, (uint64_t)godot_field(c, "id")->as.i)->parent);
		creates++;
	}
	assert_int_equal(creates, 4);
	assert_string_equal(godot_op_of(&changes->as.array->items[0]), "create");
	variant_free(&m);
	godot_close(&g);
	grove_client_close(w);
	grove_client_close(sub);
}

/* Move @p from (a path) under @p to, as one write; whether it was applied. */
static bool move_node(struct grove_client *c, const char *from, const char *to)
{
	struct tree_op op = {.kind = TREE_OP_MOVE, .node = {.path = from}, .target = {.path = to}, .index = -1};
	return write_ops(c, &op, 1) != 0;
}

/* Subscribe @p c to @p path and gather its snapshot scene (text), NUL-terminated; the caller frees it. */
static char *subscribe_scene(struct grove_client *c, const char *path)
{
	assert_int_equal(client_subscribe(c, path, false, 0), GROVE_OK);
	struct grove_buf scene = {0};
	bool last = false;
	while (!last) {
		Grove__Envelope *msg = next_event(c, 5000);
		assert_non_null(msg);
		assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT);
		grove_buf_put(&scene, msg->subscribe_event->data.data, msg->subscribe_event->data.len);
		last = msg->subscribe_event->last;
		grove__envelope__free_unpacked(msg, NULL);
	}
	grove_buf_put(&scene, "", 1);
	assert_false(scene.failed);
	return (char *)scene.data;
}

/* The next event of @p c with changes; the caller frees it. */
static Grove__Envelope *next_changes_event(struct grove_client *c)
{
	for (;;) {
		Grove__Envelope *msg = next_event(c, 5000);
		assert_non_null(msg);
		assert_int_not_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED);
		if (msg->subscribe_event->kind == GROVE__SUBSCRIBE_EVENT__KIND__CHANGES)
			return msg;
		grove__envelope__free_unpacked(msg, NULL);
	}
}

/*
 * A zone's subscriber has a connection while both its ends are in the zone, as the zone's snapshot scene
 * does: a trigger's connection to a door in another zone is not given; a connection within the zone is,
 * with its target's path; when the door moves in, the trigger's connection to it comes with its arrival,
 * and a new subscriber's snapshot holds the same connections.
 */
static void test_connections_follow_the_subtree(void **state)
{
	struct fixture *f = *state;
	add_node(&f->server, "/root/World", "Node3D");
	add_node(&f->server, "/root/World/ZoneA", "Node3D");
	add_node(&f->server, "/root/World/ZoneA/Door", "Node3D");
	add_node(&f->server, "/root/World/ZoneB", "Node3D");
	add_node(&f->server, "/root/World/ZoneB/Trigger", "Area");
	add_node(&f->server, "/root/World/ZoneB/Lamp", "Node3D");
	struct grove_client *w = connect_to(&f->server), *sub = connect_to(&f->server);
	char *scene = subscribe_scene(sub, "/root/World/ZoneB");
	assert_null(strstr(scene, "[connection"));
	free(scene);

	struct variant nil = {0};
	struct tree_op to_door = {.kind = TREE_OP_CONNECT, .node = {.path = "/root/World/ZoneB/Trigger"},
				  .target = {.path = "/root/World/ZoneA/Door"}, .name = "body_entered", .text = "open",
				  .value = &nil};
	struct tree_op to_lamp = to_door;
	to_lamp.target.path = "/root/World/ZoneB/Lamp";
	to_lamp.text = "light";
	assert_true(write_ops(w, &to_door, 1) != 0);
	assert_true(write_ops(w, &to_lamp, 1) != 0);
	Grove__Envelope *msg = next_changes_event(sub);
	const Grove__SubscribeEvent *ev = msg->subscribe_event;
	assert_int_equal(ev->n_changes, 1);
	assert_int_equal(ev->changes[0]->op, TREE_OP_CONNECT);
	assert_string_equal(ev->changes[0]->path, "/root/World/ZoneB/Trigger");
	assert_string_equal(ev->changes[0]->target_path, "/root/World/ZoneB/Lamp");
	assert_string_equal(ev->changes[0]->text, "light");
	grove__envelope__free_unpacked(msg, NULL);

	assert_true(move_node(w, "/root/World/ZoneA/Door", "/root/World/ZoneB"));
	msg = next_changes_event(sub);
	ev = msg->subscribe_event;
	assert_int_equal(ev->n_changes, 2);
	assert_int_equal(ev->changes[0]->op, TREE_OP_CREATE);
	assert_string_equal(ev->changes[0]->path, "/root/World/ZoneB/Door");
	assert_int_equal(ev->changes[1]->op, TREE_OP_CONNECT);
	assert_string_equal(ev->changes[1]->path, "/root/World/ZoneB/Trigger");
	assert_string_equal(ev->changes[1]->target_path, "/root/World/ZoneB/Door");
	assert_int_equal(ev->changes[1]->parent, ev->changes[0]->node);
	assert_string_equal(ev->changes[1]->text, "open");
	grove__envelope__free_unpacked(msg, NULL);

	struct grove_client *fresh = connect_to(&f->server);
	scene = subscribe_scene(fresh, "/root/World/ZoneB");
	assert_non_null(strstr(scene, "from=\"Trigger\" to=\"Lamp\" method=\"light\""));
	assert_non_null(strstr(scene, "from=\"Trigger\" to=\"Door\" method=\"open\""));
	free(scene);
	grove_client_close(fresh);
	grove_client_close(sub);
	grove_client_close(w);
}

/* A zone's subscriber's copy of what the zone holds: nodes by id, with their path and property "hp". */
struct zone_copy {
	struct {
		uint64_t id;
		char path[128];
		int64_t hp;
	} nodes[16];
	size_t n;
	size_t arrivals;  /* creates of /root/World/ZoneB/Player */
	bool compacted, done;
	struct grove_client *sub;
};

static size_t zone_copy_find(const struct zone_copy *z, uint64_t id)
{
	for (size_t i = 0; i < z->n; i++)
		if (z->nodes[i].id == id)
			return i;
	return z->n;
}

/* Take the changes of @p ev into @p z: a create makes a node once, a delete takes its subtree away. */
static void zone_copy_take(struct zone_copy *z, const Grove__SubscribeEvent *ev)
{
	for (size_t i = 0; i < ev->n_changes; i++) {
		const Grove__Change *c = ev->changes[i];
		size_t at = zone_copy_find(z, c->node);
		if (c->op == TREE_OP_CREATE) {
			assert_int_equal(at, z->n); /* never made twice */
			assert_true(z->n < 16);
			z->nodes[z->n].id = c->node;
			z->nodes[z->n].hp = 0;
			snprintf(z->nodes[z->n++].path, sizeof(z->nodes[0].path), "%s", c->path);
			z->arrivals += strcmp(c->path, "/root/World/ZoneB/Player") == 0;
		} else if (c->op == TREE_OP_DELETE) {
			assert_true(at < z->n);
			char gone[160];
			snprintf(gone, sizeof(gone), "%s/", z->nodes[at].path);
			size_t kept = 0;
			for (size_t k = 0; k < z->n; k++)
				if (k != at && strncmp(z->nodes[k].path, gone, strlen(gone)) != 0)
					z->nodes[kept++] = z->nodes[k];
			z->n = kept;
		} else if (c->op == TREE_OP_SET_PROP && strcmp(c->name, "hp") == 0) {
			assert_true(at < z->n); /* set on a node it has */
			struct variant v;
			assert_int_equal(variant_decode(&v, c->value.data, c->value.len, NULL), GROVE_OK);
			z->nodes[at].hp = v.as.i;
			z->done = v.as.i == -1;
		}
	}
}

static void *zone_copy_loop(void *arg)
{
	struct zone_copy *z = arg;
	Grove__Envelope *msg;
	while (!z->done && !z->compacted && (msg = next_event(z->sub, 30000))) {
		const Grove__SubscribeEvent *ev = msg->subscribe_event;
		z->compacted = ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED;
		if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__CHANGES)
			zone_copy_take(z, ev);
		grove__envelope__free_unpacked(msg, NULL);
	}
	return NULL;
}

/*
 * A player moved in and out of zone B again and again while other clients write elsewhere, so that entries
 * are applied several at a time: the subscriber of zone B is given the player's subtree at every arrival,
 * never "compacted", and its copy ends equal to what the server holds.
 */
static void test_moves_into_zone_under_load(void **state)
{
	struct fixture *f = *state;
	static const char *const nodes[][2] = {
		{"/root/Hot", "Node"}, {"/root/World", "Node3D"}, {"/root/World/ZoneA", "Node3D"},
		{"/root/World/ZoneB", "Node3D"}, {"/root/World/ZoneA/Player", "CharacterBody3D"},
		{"/root/World/ZoneA/Player/Body", "Node3D"}, {"/root/World/ZoneA/Player/Body/Mesh", "MeshInstance3D"},
		{"/root/World/ZoneA/Player/Gun", "Node3D"}};
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		add_node(&f->server, nodes[i][0], nodes[i][1]);
	struct grove_client *w = connect_to(&f->server);
	assert_true(set_int(w, "/root/World/ZoneA/Player/Gun", "hp", 30));
	static struct zone_copy z;
	memset(&z, 0, sizeof(z));
	z.sub = connect_to(&f->server);
	assert_int_equal(client_subscribe(z.sub, "/root/World/ZoneB", false, 0), GROVE_OK);
	for (bool last = false; !last;) {
		Grove__Envelope *msg = next_event(z.sub, 5000);
		assert_non_null(msg);
		assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT);
		last = msg->subscribe_event->last;
		grove__envelope__free_unpacked(msg, NULL);
	}
	pthread_t reader;
	pthread_create(&reader, NULL, zone_copy_loop, &z);
	enum { WRITERS = 4, EACH = 1500, MIN_ROUNDS = 20, MAX_ROUNDS = 400 };
	pthread_t t[WRITERS];
	struct writer wr[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		wr[i] = (struct writer){.address = f->server.address, .first = i * EACH, .count = EACH};
		pthread_create(&t[i], NULL, write_loop, &wr[i]);
	}
	int rounds = 0;
	for (bool writing = true; rounds < MAX_ROUNDS && (writing || rounds < MIN_ROUNDS); rounds++) {
		assert_true(move_node(w, "/root/World/ZoneA/Player", "/root/World/ZoneB"));
		assert_true(set_int(w, "/root/World/ZoneB/Player", "hp", rounds));
		assert_true(move_node(w, "/root/World/ZoneB/Player", "/root/World/ZoneA"));
		writing = false;
		for (int i = 0; i < WRITERS; i++)
			writing |= __atomic_load_n(&wr[i].acked, __ATOMIC_SEQ_CST) < EACH;
	}
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(wr[i].acked, EACH);
	}
	assert_true(move_node(w, "/root/World/ZoneA/Player", "/root/World/ZoneB"));
	assert_true(set_int(w, "/root/World/ZoneB/Player", "hp", -1));
	pthread_join(reader, NULL);
	print_message("%d rounds of a player moving in and out of a zone beside %d writes; its subscriber saw %zu "
		      "arrivals%s\n", rounds, WRITERS * EACH, z.arrivals, z.compacted ? " and was told \"compacted\"" : "");
	assert_false(z.compacted);
	assert_true(z.done);
	assert_int_equal(z.arrivals, (size_t)rounds + 1);

	Grove__Envelope *holder;
	Grove__ReadReply *read = client_read(w, "/root/World/ZoneB/Player", 10, true, &holder);
	assert_non_null(read);
	assert_int_equal(read->n_nodes, z.n);
	for (size_t i = 0; i < read->n_nodes; i++) {
		size_t at = zone_copy_find(&z, read->nodes[i]->id);
		assert_true(at < z.n);
		int64_t hp = 0;
		for (size_t k = 0; k < read->nodes[i]->n_props; k++) {
			struct variant v;
			const Grove__Property *prop = read->nodes[i]->props[k];
			assert_int_equal(variant_decode(&v, prop->value.data, prop->value.len, NULL), GROVE_OK);
			if (strcmp(prop->name, "hp") == 0)
				hp = v.as.i;
		}
		assert_int_equal(z.nodes[at].hp, hp);
	}
	grove__envelope__free_unpacked(holder, NULL);
	grove_client_close(w);
	grove_client_close(z.sub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot_then_every_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_times_are_ordered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_entry_to_many_subscribers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_and_compacted, setup_short_history, teardown),
		cmocka_unit_test_setup_teardown(test_godot_gateway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_godot_snapshot_ids_with_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_godot_set_brings_embedded_resource, setup, teardown),
		cmocka_unit_test_setup_teardown(test_godot_entry_larger_than_a_clients_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_into_zone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections_follow_the_subtree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_moves_into_zone_under_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_godot_submits_in_flight_are_bounded, setup_inflight_limit, teardown),
		cmocka_unit_test_setup_teardown(test_slow_subscriber_never_slows_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writes_go_on_while_a_snapshot_is_made, setup, teardown),
	};
	return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
