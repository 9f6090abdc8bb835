/**
 * @file offload.h
 * @brief Work too long for the event loop, run on a thread beside it.
 *
 * Exporting a 100,000-node subtree as a scene takes seconds; done in the
 * loop it would hold up every write, every reply and every Raft message of
 * the server for that long, longer than an election timeout. The loop
 * submits such a job with what it needs already taken (a read transaction
 * at the right index, copies of the request); the thread runs it; its
 * completion runs back on the loop, which sends the result.
 *
 * Jobs run one at a time, in the order submitted; at most
 * OFFLOAD_MAX_QUEUED wait. A job's run function must not touch anything the
 * loop uses meanwhile.
 */
#ifndef GROVE_SERVER_OFFLOAD_H
#define GROVE_SERVER_OFFLOAD_H

#include <stdbool.h>

#include "src/server/loop.h"

/** Jobs that may wait at once; a submit beyond this is refused. */
#define OFFLOAD_MAX_QUEUED 64

struct offload;

/** One job: both functions get @p job back. */
struct offload_job {
	void *job;
	/** Runs on the offload thread. */
	void (*run)(void *job);
	/**
	 * Runs on the loop thread once run() returned, or with @p cancelled true
	 * (run() did not happen) from offload_destroy(): then it must only free.
	 */
	void (*done)(void *job, bool cancelled);
};

/**
 * @brief Start the thread; completions are collected through a watch on @p loop.
 * @return GROVE_OK, GROVE_EIO (no eventfd, thread or watch), GROVE_ENOMEM.
 */
int offload_create(struct loop *loop, struct offload **out);

/**
 * @brief Wait for the running job, finish it (done with cancelled false), cancel
 * the waiting ones, stop the thread and free. Call before the loop is destroyed.
 * NULL is allowed.
 */
void offload_destroy(struct offload *o);

/**
 * @brief Queue @p job. On success the offload owns it until its done() runs.
 * @return GROVE_OK, GROVE_EUNAVAILABLE (OFFLOAD_MAX_QUEUED jobs wait: the
 * caller keeps the job and should answer "busy, retry").
 */
int offload_submit(struct offload *o, const struct offload_job *job);

#endif
