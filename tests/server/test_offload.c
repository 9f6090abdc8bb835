/* The offload thread (src/server/offload.h) with a real event loop: jobs run in order beside the loop, their
 * completions run on the loop thread, a full queue refuses, and destroying cancels what still waits. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "src/common/error.h"
#include "src/server/loop.h"
#include "src/server/offload.h"

enum { JOBS = 20 };
/* A full queue and the job that ran before it: all of them may run before destroying stops the thread. */
enum { MAX_RUN = OFFLOAD_MAX_QUEUED + 1 };

struct world {
	struct loop *loop;
	struct offload *offload;
	pthread_t loop_thread;
	int ran[MAX_RUN], n_ran;          /* order of run(), written by the offload thread only */
	int finished[MAX_RUN], n_finished; /* order of done(), on the loop thread */
	int cancelled;
	bool ran_on_loop, done_off_loop;
	pthread_mutex_t gate;          /* held by the test to keep the first job running */
};

struct job {
	struct world *w;
	int n;
};

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void run_job(void *arg)
{
	struct job *j = arg;
	struct world *w = j->w;
	if (pthread_equal(pthread_self(), w->loop_thread))
		w->ran_on_loop = true;
	if (j->n == 0) {
		pthread_mutex_lock(&w->gate); /* the test holds the first job here while it fills the queue */
		pthread_mutex_unlock(&w->gate);
	}
	w->ran[w->n_ran] = j->n;
	__atomic_store_n(&w->n_ran, w->n_ran + 1, __ATOMIC_RELEASE);
}

static void job_done(void *arg, bool cancelled)
{
	struct job *j = arg;
	struct world *w = j->w;
	if (!pthread_equal(pthread_self(), w->loop_thread))
		w->done_off_loop = true;
	if (cancelled)
		w->cancelled++;
	else
		w->finished[w->n_finished++] = j->n;
	if (!cancelled && w->n_finished == JOBS)
		loop_stop(w->loop);
	free(j);
}

static int submit(struct world *w, int n)
{
	struct job *j = malloc(sizeof(*j));
	*j = (struct job){w, n};
	struct offload_job job = {.job = j, .run = run_job, .done = job_done};
	int err = offload_submit(w->offload, &job);
	if (err)
		free(j);
	return err;
}

static void nothing(void *ctx)
{
	(void)ctx;
}

static void make_world(struct world *w)
{
	*w = (struct world){0};
	struct loop_config lc = {.listen = "127.0.0.1:0"};
	struct loop_hooks lh = {.tick = nothing, .turn = nothing};
	assert_int_equal(loop_create(&lc, &lh, &w->loop), GROVE_OK);
	assert_int_equal(offload_create(w->loop, &w->offload), GROVE_OK);
	w->loop_thread = pthread_self();
	pthread_mutex_init(&w->gate, NULL);
}

static void test_jobs_run_beside_the_loop_in_order(void **state)
{
	(void)state;
	struct world w;
	make_world(&w);
	for (int i = 0; i < JOBS; i++)
		assert_int_equal(submit(&w, i), GROVE_OK);
	assert_int_equal(loop_run(w.loop), GROVE_OK); /* until the last completion stops it */
	assert_int_equal(w.n_finished, JOBS);
	for (int i = 0; i < JOBS; i++) {
		assert_int_equal(w.ran[i], i);
		assert_int_equal(w.finished[i], i);
	}
	assert_false(w.ran_on_loop);
	assert_false(w.done_off_loop);
	offload_destroy(w.offload);
	loop_destroy(w.loop);
	pthread_mutex_destroy(&w.gate);
}

static void test_full_queue_refuses_and_destroy_cancels(void **state)
{
	(void)state;
	struct world w;
	make_world(&w);
	pthread_mutex_lock(&w.gate);
	assert_int_equal(submit(&w, 0), GROVE_OK);
	for (int tries = 0; tries < 500 && __atomic_load_n(&w.n_ran, __ATOMIC_ACQUIRE) == 0; tries++)
		sleep_ms(1); /* job 0 is taken and waits at the gate (or has not started: both leave room) */
	int accepted = 1;
	while (submit(&w, accepted) == GROVE_OK)
		accepted++;
	/* Job 0 may be out of the queue already or still in it: either way the queue holds its limit. */
	assert_true(accepted == OFFLOAD_MAX_QUEUED || accepted == OFFLOAD_MAX_QUEUED + 1);
	pthread_mutex_unlock(&w.gate);
	/* Destroying waits for the running job, finishes it, and cancels every job that had not started. */
	offload_destroy(w.offload);
	assert_int_equal(w.n_finished + w.cancelled, accepted);
	assert_true(w.n_finished >= 1 && w.finished[0] == 0);
	assert_int_equal(w.n_ran, w.n_finished);
	assert_false(w.done_off_loop);
	loop_destroy(w.loop);
	pthread_mutex_destroy(&w.gate);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs_run_beside_the_loop_in_order),
		cmocka_unit_test(test_full_queue_refuses_and_destroy_cancels),
	};
	return cmocka_run_group_tests_name("offload", tests, NULL, NULL);
}
