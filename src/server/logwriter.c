#include "src/server/logwriter.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "src/common/error.h"

struct logwriter {
	struct wal *wal;
	int event_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool submitted;  /* a flush is waiting for the thread or running (under lock) */
	bool finished;   /* ...and it has finished (under lock) */
	int result;      /* its result (under lock) */
	uint64_t duration_ns; /* how long it ran (under lock) */
	bool stopping;   /* under lock */
	bool busy;       /* the loop's view: submitted and not collected */
};

static void *run(void *arg)
{
	struct logwriter *lw = arg;
	pthread_mutex_lock(&lw->lock);
	for (;;) {
		while (!lw->stopping && (!lw->submitted || lw->finished))
			pthread_cond_wait(&lw->cond, &lw->lock);
		if (lw->stopping)
			break;
		pthread_mutex_unlock(&lw->lock);
		struct timespec start, end;
		clock_gettime(CLOCK_MONOTONIC, &start);
		int result = wal_flush_run(lw->wal);
		clock_gettime(CLOCK_MONOTONIC, &end);
		pthread_mutex_lock(&lw->lock);
		lw->result = result;
		/* Handed to the loop with the result, under the same lock: the loop's metrics stay single-threaded. */
		lw->duration_ns = (uint64_t)(end.tv_sec - start.tv_sec) * 1000000000ull + (uint64_t)end.tv_nsec -
				  (uint64_t)start.tv_nsec;
		lw->finished = true;
		pthread_cond_broadcast(&lw->cond);
		uint64_t one = 1;
		if (write(lw->event_fd, &one, sizeof(one)) != sizeof(one)) {
			/* The counter cannot overflow at one write per flush; the loop also polls busy writers. */
		}
	}
	pthread_mutex_unlock(&lw->lock);
	return NULL;
}

int logwriter_start(struct wal *wal, struct logwriter **out)
{
	*out = NULL;
	struct logwriter *lw = calloc(1, sizeof(*lw));
	if (!lw)
		return GROVE_ENOMEM;
	lw->wal = wal;
	lw->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lw->event_fd < 0) {
		free(lw);
		return GROVE_EIO;
	}
	pthread_mutex_init(&lw->lock, NULL);
	pthread_cond_init(&lw->cond, NULL);
	if (pthread_create(&lw->thread, NULL, run, lw) != 0) {
		close(lw->event_fd);
		free(lw);
		return GROVE_EIO;
	}
	*out = lw;
	return GROVE_OK;
}

void logwriter_stop(struct logwriter *lw)
{
	if (!lw)
		return;
	pthread_mutex_lock(&lw->lock);
	while (lw->submitted && !lw->finished)
		pthread_cond_wait(&lw->cond, &lw->lock);
	lw->stopping = true;
	pthread_cond_broadcast(&lw->cond);
	pthread_mutex_unlock(&lw->lock);
	pthread_join(lw->thread, NULL);
	pthread_mutex_destroy(&lw->lock);
	pthread_cond_destroy(&lw->cond);
	close(lw->event_fd);
	free(lw);
}

int logwriter_fd(const struct logwriter *lw)
{
	return lw->event_fd;
}

void logwriter_submit(struct logwriter *lw)
{
	pthread_mutex_lock(&lw->lock);
	lw->submitted = true;
	lw->finished = false;
	pthread_mutex_unlock(&lw->lock);
	/* Signalled after the unlock: a thread woken while the lock is still held would at once sleep again on
	 * it, and every flush would cost the thread two wake-ups instead of one. */
	pthread_cond_broadcast(&lw->cond);
	lw->busy = true;
}

bool logwriter_busy(const struct logwriter *lw)
{
	return lw->busy;
}

bool logwriter_collect(struct logwriter *lw, bool wait, int *result, uint64_t *duration_ns)
{
	/* Read first, even when nothing is submitted: a flush collected by a waiting call left its signal, and
	 * an eventfd left readable would wake the loop at every turn. */
	uint64_t count;
	if (read(lw->event_fd, &count, sizeof(count)) < 0) {
		/* Nothing to read yet (EAGAIN): the state under the lock decides. */
	}
	if (!lw->busy)
		return false;
	pthread_mutex_lock(&lw->lock);
	while (wait && !lw->finished)
		pthread_cond_wait(&lw->cond, &lw->lock);
	bool done = lw->finished;
	if (done) {
		*result = lw->result;
		*duration_ns = lw->duration_ns;
		lw->submitted = lw->finished = false;
	}
	pthread_mutex_unlock(&lw->lock);
	if (done)
		lw->busy = false;
	return done;
}
