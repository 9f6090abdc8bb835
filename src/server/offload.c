#include "src/server/offload.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "src/common/error.h"

/* Jobs in a ring: [head, head + n) in submission order; the first `ran` of them have run. */
struct offload {
	struct loop_watch *watch;
	int event_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct offload_job ring[OFFLOAD_MAX_QUEUED]; /* under lock */
	unsigned head, n, ran;                         /* under lock */
	bool stopping;                                 /* under lock */
};

static struct offload_job *at(struct offload *o, unsigned k)
{
	return &o->ring[(o->head + k) % OFFLOAD_MAX_QUEUED];
}

static void *run(void *arg)
{
	struct offload *o = arg;
	pthread_mutex_lock(&o->lock);
	for (;;) {
		while (!o->stopping && o->ran == o->n)
			pthread_cond_wait(&o->cond, &o->lock);
		if (o->stopping)
			break;
		struct offload_job job = *at(o, o->ran);
		pthread_mutex_unlock(&o->lock);
		job.run(job.job);
		pthread_mutex_lock(&o->lock);
		o->ran++;
		pthread_cond_broadcast(&o->cond);
		uint64_t one = 1;
		if (write(o->event_fd, &one, sizeof(one)) != sizeof(one)) {
			/* The counter cannot overflow at one write per job. */
		}
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

/* The jobs that ran, finished on the loop: take them from the ring first, since done() may submit again. */
static void collect(struct offload *o, bool cancel_rest)
{
	struct offload_job finished[OFFLOAD_MAX_QUEUED];
	unsigned n_finished, n_cancelled = 0;
	struct offload_job cancelled[OFFLOAD_MAX_QUEUED];
	pthread_mutex_lock(&o->lock);
	n_finished = o->ran;
	for (unsigned k = 0; k < n_finished; k++)
		finished[k] = *at(o, k);
	o->head = (o->head + n_finished) % OFFLOAD_MAX_QUEUED;
	o->n -= n_finished;
	o->ran = 0;
	if (cancel_rest) {
		for (; n_cancelled < o->n; n_cancelled++)
			cancelled[n_cancelled] = *at(o, n_cancelled);
		o->n = 0;
	}
	pthread_mutex_unlock(&o->lock);
	for (unsigned k = 0; k < n_finished; k++)
		finished[k].done(finished[k].job, false);
	for (unsigned k = 0; k < n_cancelled; k++)
		cancelled[k].done(cancelled[k].job, true);
}

static void on_event(void *ctx, uint32_t events)
{
	(void)events;
	struct offload *o = ctx;
	uint64_t count;
	if (read(o->event_fd, &count, sizeof(count)) < 0) {
		/* Nothing to read (EAGAIN): the ring says what finished. */
	}
	collect(o, false);
}

int offload_create(struct loop *loop, struct offload **out)
{
	*out = NULL;
	struct offload *o = calloc(1, sizeof(*o));
	if (!o)
		return GROVE_ENOMEM;
	o->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (o->event_fd < 0) {
		free(o);
		return GROVE_EIO;
	}
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
	o->watch = loop_watch(loop, o->event_fd, EPOLLIN, on_event, o);
	if (!o->watch || pthread_create(&o->thread, NULL, run, o) != 0) {
		loop_unwatch(o->watch);
		pthread_mutex_destroy(&o->lock);
		pthread_cond_destroy(&o->cond);
		close(o->event_fd);
		free(o);
		return GROVE_EIO;
	}
	*out = o;
	return GROVE_OK;
}

void offload_destroy(struct offload *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	o->stopping = true;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
	/* The thread finishes the job it runs, then stops; what it finished is still in the ring. */
	pthread_join(o->thread, NULL);
	collect(o, true);
	loop_unwatch(o->watch);
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->cond);
	close(o->event_fd);
	free(o);
}

int offload_submit(struct offload *o, const struct offload_job *job)
{
	pthread_mutex_lock(&o->lock);
	bool full = o->n == OFFLOAD_MAX_QUEUED;
	if (!full) {
		*at(o, o->n++) = *job;
		pthread_cond_broadcast(&o->cond);
	}
	pthread_mutex_unlock(&o->lock);
	return full ? GROVE_EUNAVAILABLE : GROVE_OK;
}
