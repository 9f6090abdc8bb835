/* A leader cut off from its quorum (both followers stopped with SIGSTOP) answers what waits at it with a
 * retryable error once it steps down, instead of leaving its clients to their own timeouts: a linearizable
 * read and a write asked of it both come back well before the client's 20 s timeout, and the cluster serves
 * both once the followers run again. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cluster.h"
#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "support.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A linearizable read of /root; the reply's code (or the call's failure, negated). With @p once, the first
 * answer as it comes: grove_client_call() asks a read that a leadership change lost again until its timeout
 * (what an application wants), while what is checked here is that the server answers at all.
 */
static int read_root_as(struct grove_client *c, bool once)
{
	Grove__NodeRef ref = GROVE__NODE_REF__INIT;
	ref.path = "/root";
	Grove__ReadRequest rq = GROVE__READ_REQUEST__INIT;
	rq.node = &ref;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_READ;
	env.read = &rq;
	int err = once ? grove_client_send(c, &env) : grove_client_call(c, &env, &reply);
	if (!err && once)
		err = grove_client_receive(c, -1, &reply);
	if (err)
		return -err;
	int code = reply->body_case == GROVE__ENVELOPE__BODY_READ_REPLY ? (int)reply->read_reply->code
		   : reply->body_case == GROVE__ENVELOPE__BODY_ERROR	   ? (int)reply->error->code
									   : -GROVE_EPROTO;
	grove__envelope__free_unpacked(reply, NULL);
	return code;
}

static int read_root(struct grove_client *c)
{
	return read_root_as(c, false);
}

struct timed_read {
	struct grove_client *c;
	int code;
	double seconds;
};

static void *read_in_thread(void *arg)
{
	struct timed_read *r = arg;
	double t0 = now_s();
	r->code = read_root_as(r->c, true);
	r->seconds = now_s() - t0;
	return NULL;
}

static void test_cut_off_leader_answers(void **state)
{
	(void)state;
	struct cluster c;
	cluster_start(&c, NULL);
	int leader = cluster_wait_leader(&c);
	char address[32];
	cluster_address(&c, leader, address, sizeof(address));
	struct grove_client *reader, *writer;
	assert_int_equal(grove_client_connect(address, NULL, 20000, &reader, NULL, 0), GROVE_OK);
	assert_int_equal(grove_client_connect(address, NULL, 20000, &writer, NULL, 0), GROVE_OK);
	assert_int_equal(read_root(reader), GROVE_OK);
	assert_int_equal(client_set_int(writer, "/root", "before", 1), 0);
	for (int node = 1; node <= CLUSTER_NODES; node++)
		if (node != leader)
			assert_int_equal(kill(c.pids[node], SIGSTOP), 0);
	/* Both asked at once, while it still leads: neither can be confirmed by a quorum. */
	struct timed_read r = {.c = reader};
	pthread_t t;
	pthread_create(&t, NULL, read_in_thread, &r);
	double t0 = now_s();
	int write_code = client_set_int(writer, "/root", "cut_off", 1);
	double write_s = now_s() - t0;
	pthread_join(t, NULL);
	int read_code = r.code;
	double read_s = r.seconds;
	print_message("cut off: the read came back in %.2f s with %d, the write in %.2f s with %d\n", read_s, read_code,
		      write_s, write_code);
	/* Answered, not timed out: retryable, and neither left to the client's 20 s. */
	assert_true(read_code == GROVE_EUNAVAILABLE || read_code == GROVE_ENOTLEADER);
	assert_true(write_code != 0 && write_code != -GROVE_ETIMEDOUT);
	assert_true(read_s < 15 && write_s < 15);
	for (int node = 1; node <= CLUSTER_NODES; node++)
		if (node != leader)
			assert_int_equal(kill(c.pids[node], SIGCONT), 0);
	grove_client_close(reader);
	grove_client_close(writer);
	/* Healed, the cluster answers again (through whichever member leads now). */
	leader = cluster_wait_leader(&c);
	cluster_address(&c, leader, address, sizeof(address));
	assert_int_equal(grove_client_connect(address, NULL, 20000, &reader, NULL, 0), GROVE_OK);
	assert_int_equal(read_root(reader), GROVE_OK);
	assert_int_equal(client_set_int(reader, "/root", "after", 1), 0);
	grove_client_close(reader);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_off_leader_answers),
	};
	return cmocka_run_group_tests_name("quorum_loss", tests, NULL, NULL);
}
