/* The event loop's watches (src/server/loop.h): one whose function unwatches another whose event is already
 * waiting in the same turn does not get that other one called, nor read after it was given up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "src/common/error.h"
#include "src/server/loop.h"

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

static void nothing(void *ctx)
{
	(void)ctx;
}

static void test_unwatched_in_the_same_turn_is_not_called(void **state)
{
	(void)state;
	struct pair p = {0};
	struct loop_config lc = {.listen = "127.0.0.1:0"};
	struct loop_hooks lh = {.tick = nothing, .turn = nothing};
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
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unwatched_in_the_same_turn_is_not_called),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
