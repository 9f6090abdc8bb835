/* The loop's bound on requests in flight, on a real loop in this process over real sockets on 127.0.0.1:
 * a client connection with pending_max requests unanswered is not read from, waits without costing turns,
 * and is read again, from what it buffered and from its socket, once answers bring it under. The hooks
 * stand in for the server: every frame is a request (a 4-byte sequence number) held until the test lets
 * the turn answer a few of them, oldest first, echoing the number. Bounded in count and in time. And its
 * watches: one whose function unwatches another whose event is already waiting in the same turn does not
 * get that other one called, nor read after it was given up. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/server/loop.h"

enum { LIMIT = 8, ANSWERS_PER_TURN = 4, MAX_REQUESTS = 4096, STALL_MS = 150 };

/* A request the hooks hold: its connection and sequence number. */
struct held_request {
	uint64_t conn;
	uint32_t seq;
};

/* The stand-in server. Fields shared with the test thread are read and written atomically. */
struct stand_in {
	struct loop *loop;
	pthread_t thread;
	struct held_request held[MAX_REQUESTS]; /* FIFO, loop thread only */
	size_t head, tail;
	unsigned holding;      /* requests handed to the hooks and not answered */
	unsigned holding_peak; /* the most at once: what the hooks saw, apart from the loop's own count */
	uint64_t turns;
	bool answering;        /* set by the test: turns answer ANSWERS_PER_TURN requests */
	bool stop;             /* set by the test */
	bool stall;            /* set by the test: the next tick stalls the loop for STALL_MS */
	bool stalled;          /* set by that tick when it begins */
	unsigned early_ticks;  /* ticks after the stall while none of the requests was handed over */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CPU time of this process (every thread, user and system) in ms. */
static int64_t cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static void on_frame(void *ctx, struct loop_conn *c, const uint8_t *payload, size_t len)
{
	struct stand_in *s = ctx;
	/* No handshake here: a connection's first frame authenticates it, and its data says it did. */
	static int authenticated;
	if (!loop_conn_data(c)) {
		loop_conn_authenticated(c, false);
		loop_conn_set_data(c, &authenticated);
	}
	/* cmocka's checks cannot fail from this thread. */
	if (len != 4 || s->tail - s->head == MAX_REQUESTS)
		abort();
	uint32_t seq;
	memcpy(&seq, payload, 4);
	s->held[s->tail++ % MAX_REQUESTS] = (struct held_request){loop_conn_id(c), seq};
	unsigned holding = __atomic_add_fetch(&s->holding, 1, __ATOMIC_SEQ_CST);
	if (holding > __atomic_load_n(&s->holding_peak, __ATOMIC_SEQ_CST))
		__atomic_store_n(&s->holding_peak, holding, __ATOMIC_SEQ_CST);
	loop_conn_pending(c);
}

static void on_turn(void *ctx)
{
	struct stand_in *s = ctx;
	__atomic_add_fetch(&s->turns, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&s->answering, __ATOMIC_SEQ_CST))
		return;
	for (int n = 0; n < ANSWERS_PER_TURN && s->head < s->tail; n++) {
		struct held_request r = s->held[s->head++ % MAX_REQUESTS];
		struct loop_conn *c = loop_conn_find(s->loop, r.conn);
		__atomic_sub_fetch(&s->holding, 1, __ATOMIC_SEQ_CST);
		if (!c)
			continue;
		loop_conn_answered(c);
		loop_send(c, &r.seq, sizeof(r.seq));
	}
}

static void on_tick(void *ctx)
{
	struct stand_in *s = ctx;
	if (__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST))
		loop_stop(s->loop);
	if (__atomic_load_n(&s->stalled, __ATOMIC_SEQ_CST) && !__atomic_load_n(&s->holding, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&s->early_ticks, 1, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&s->stall, false, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&s->stalled, true, __ATOMIC_SEQ_CST);
		usleep(STALL_MS * 1000); /* a long turn: an fsync, a big apply, a machine short of CPU */
	}
}

static void on_closed(void *ctx, struct loop_conn *c)
{
	(void)ctx, (void)c;
}

static void *run_loop(void *arg)
{
	struct stand_in *s = arg;
	loop_run(s->loop);
	return NULL;
}

/* A loop with @p pending_max (and the stand-in's hooks) running in its own thread. */
static struct stand_in *stand_in_start(unsigned pending_max)
{
	struct stand_in *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct loop_config cfg = {.listen = "127.0.0.1:0", .pending_max = pending_max};
	struct loop_hooks hooks = {.ctx = s, .frame = on_frame, .closed = on_closed, .tick = on_tick, .turn = on_turn};
	assert_int_equal(loop_create(&cfg, &hooks, &s->loop), GROVE_OK);
	assert_int_equal(pthread_create(&s->thread, NULL, run_loop, s), 0);
	return s;
}

static void stand_in_stop(struct stand_in *s)
{
	__atomic_store_n(&s->stop, true, __ATOMIC_SEQ_CST);
	pthread_join(s->thread, NULL);
	loop_destroy(s->loop);
	free(s);
}

/* A blocking connection to the stand-in, with 10 s timeouts both ways. */
static int connect_to(const struct stand_in *s)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)loop_port(s->loop))};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send requests @p first to @p first + @p n - 1 at once, one frame each. */
static void send_requests(int fd, uint32_t first, uint32_t n)
{
	static uint8_t frames[MAX_REQUESTS * 8];
	assert_true(n <= MAX_REQUESTS);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len = 4, seq = first + i;
		memcpy(frames + 8 * i, &len, 4);
		memcpy(frames + 8 * i + 4, &seq, 4);
	}
	for (size_t at = 0; at < 8 * (size_t)n;) {
		ssize_t w = send(fd, frames + at, 8 * (size_t)n - at, MSG_NOSIGNAL);
		assert_true(w > 0);
		at += (size_t)w;
	}
}

/* Receive @p n answers: they must echo @p first, @p first + 1, ... in order. */
static void expect_answers(int fd, uint32_t first, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint8_t frame[8];
		for (size_t got = 0; got < sizeof(frame);) {
			ssize_t r = recv(fd, frame + got, sizeof(frame) - got, 0);
			if (r <= 0)
				fail_msg("answer %u of %u did not come", i, n);
			got += (size_t)r;
		}
		uint32_t len, seq;
		memcpy(&len, frame, 4);
		memcpy(&seq, frame + 4, 4);
		assert_int_equal(len, 4);
		assert_int_equal(seq, first + i);
	}
}

/* Wait (at most 5 s) until the hooks hold @p n requests. */
static void wait_holding(struct stand_in *s, unsigned n)
{
	for (int64_t end = now_ms() + 5000; __atomic_load_n(&s->holding, __ATOMIC_SEQ_CST) != n && now_ms() < end;)
		usleep(10000);
	assert_int_equal(__atomic_load_n(&s->holding, __ATOMIC_SEQ_CST), n);
}

/*
 * Pipeline @p n requests into a loop with @p pending_max (0: the default), answered as they go.
 * @return the most held at once; *@p pauses: how often the loop said the connection reached its limit.
 */
static unsigned pipelined_peak(unsigned pending_max, uint32_t n, uint64_t *pauses)
{
	struct stand_in *s = stand_in_start(pending_max);
	__atomic_store_n(&s->answering, true, __ATOMIC_SEQ_CST);
	int fd = connect_to(s);
	send_requests(fd, 0, n);
	expect_answers(fd, 0, n);
	close(fd);
	unsigned peak = __atomic_load_n(&s->holding_peak, __ATOMIC_SEQ_CST);
	*pauses = loop_pending_pauses(s->loop);
	stand_in_stop(s);
	return peak;
}

static void test_pipelined_requests_bounded(void **state)
{
	(void)state;
	enum { PIPELINED = 2000 };
	uint64_t unbounded_pauses, pauses;
	int64_t t0 = now_ms();
	/* The same pipeline under the default limit holds more than LIMIT: the bound below is the limit's doing. */
	unsigned unbounded = pipelined_peak(0, PIPELINED, &unbounded_pauses);
	int64_t t1 = now_ms();
	unsigned bounded = pipelined_peak(LIMIT, PIPELINED, &pauses);
	print_message("%d pipelined requests, all answered in order: at most %u held at once under the default "
		      "limit (%lld ms), %u with pending_max %d, paused %llu times (%lld ms)\n",
		      PIPELINED, unbounded, (long long)(t1 - t0), bounded, LIMIT, (unsigned long long)pauses,
		      (long long)(now_ms() - t1));
	assert_true(unbounded > LIMIT);
	assert_int_equal(unbounded_pauses, 0);
	assert_int_equal(bounded, LIMIT);
	assert_true(pauses >= 1);
}

static void test_paused_connection_costs_nothing(void **state)
{
	(void)state;
	enum { FIRST = 100, SECOND = 100 };
	struct stand_in *s = stand_in_start(LIMIT);
	int fd = connect_to(s);
	/* Read and buffered by the loop at once; LIMIT of them handed out, the rest wait in its input buffer. */
	send_requests(fd, 0, FIRST);
	wait_holding(s, LIMIT);
	/* Sent while it is not read from: these wait in the socket. */
	send_requests(fd, FIRST, SECOND);
	uint64_t turns0 = __atomic_load_n(&s->turns, __ATOMIC_SEQ_CST);
	int64_t cpu0 = cpu_ms(), t0 = now_ms();
	usleep(1000000);
	int64_t cpu = cpu_ms() - cpu0, elapsed = now_ms() - t0;
	uint64_t turns = __atomic_load_n(&s->turns, __ATOMIC_SEQ_CST) - turns0;
	unsigned holding = __atomic_load_n(&s->holding, __ATOMIC_SEQ_CST);
	/* Answered, it is read again: what it buffered and what waited in its socket, in order. */
	int64_t t1 = now_ms();
	__atomic_store_n(&s->answering, true, __ATOMIC_SEQ_CST);
	expect_answers(fd, 0, FIRST + SECOND);
	int64_t drained = now_ms() - t1;
	close(fd);
	unsigned peak = __atomic_load_n(&s->holding_peak, __ATOMIC_SEQ_CST);
	uint64_t loop_peak = loop_pending_peak(s->loop), pauses = loop_pending_pauses(s->loop);
	stand_in_stop(s);
	print_message("a connection paused at %d requests in flight for %lld ms: %llu turns (10 ms ticks), %lld ms "
		      "of CPU; answered, all %d more came through in %lld ms, at most %u held at once (loop: %llu, "
		      "paused %llu times)\n",
		      LIMIT, (long long)elapsed, (unsigned long long)turns, (long long)cpu, FIRST + SECOND - LIMIT,
		      (long long)drained, peak, (unsigned long long)loop_peak, (unsigned long long)pauses);
	assert_int_equal(holding, LIMIT);
	/* The tick makes about 100 turns a second; a loop that revisited the paused connection would make many more. */
	assert_true(turns < 250);
	assert_true(cpu < 500);
	assert_int_equal(peak, LIMIT);
	assert_int_equal(loop_peak, LIMIT);
	assert_true(pauses >= 1);
}

/*
 * After a turn that stalled the loop for STALL_MS (some 15 ticks), a request that arrived meanwhile is handed
 * over before the ticks it missed are counted: Raft must see the heartbeats and answers that were waiting
 * before the time that passed, or a loop short of CPU times out leaders that are alive.
 */
static void test_ticks_come_after_what_arrived(void **state)
{
	(void)state;
	struct stand_in *s = stand_in_start(0);
	int fd = connect_to(s);
	__atomic_store_n(&s->stall, true, __ATOMIC_SEQ_CST);
	for (int64_t end = now_ms() + 5000; !__atomic_load_n(&s->stalled, __ATOMIC_SEQ_CST) && now_ms() < end;)
		usleep(1000);
	assert_true(__atomic_load_n(&s->stalled, __ATOMIC_SEQ_CST));
	send_requests(fd, 0, 1); /* while the loop sleeps in its tick */
	wait_holding(s, 1);
	unsigned early = __atomic_load_n(&s->early_ticks, __ATOMIC_SEQ_CST);
	close(fd);
	stand_in_stop(s);
	print_message("a request sent during a %d ms stall: %u ticks counted before it was handed over\n", STALL_MS,
		      early);
	assert_int_equal(early, 0);
}

struct pair {
	struct loop *loop;
	struct loop_watch *watch[2];
	int fd[2];
	int calls;
};

struct side {
	struct pair *pair;
	int me;
};

/* Whichever fires first gives up both watches, as a link closed by a peer's event would. */
static void fired(void *ctx, uint32_t events)
{
	(void)events;
	struct side *side = ctx;
	struct pair *p = side->pair;
	p->calls++;
	for (int i = 0; i < 2; i++) {
		loop_unwatch(p->watch[(side->me + i) % 2]);
		p->watch[(side->me + i) % 2] = NULL;
	}
	loop_stop(p->loop);
}

static void ignore(void *ctx)
{
	(void)ctx;
}

static void test_unwatched_in_the_same_turn_is_not_called(void **state)
{
	(void)state;
	struct pair p = {0};
	struct loop_config lc = {.listen = "127.0.0.1:0"};
	struct loop_hooks lh = {.tick = ignore, .turn = ignore};
	assert_int_equal(loop_create(&lc, &lh, &p.loop), GROVE_OK);
	struct side sides[2] = {{&p, 0}, {&p, 1}};
	for (int i = 0; i < 2; i++) {
		p.fd[i] = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC); /* readable at once: both events in one turn */
		assert_true(p.fd[i] >= 0);
		p.watch[i] = loop_watch(p.loop, p.fd[i], EPOLLIN, fired, &sides[i]);
		assert_non_null(p.watch[i]);
	}
	assert_int_equal(loop_run(p.loop), GROVE_OK);
	assert_int_equal(p.calls, 1);
	loop_destroy(p.loop);
	for (int i = 0; i < 2; i++)
		close(p.fd[i]);
}

int main(void)
{
	loop_block_signals();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_requests_bounded),
		cmocka_unit_test(test_paused_connection_costs_nothing),
		cmocka_unit_test(test_unwatched_in_the_same_turn_is_not_called),
		cmocka_unit_test(test_ticks_come_after_what_arrived),
	};
	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
