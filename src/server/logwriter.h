/**
 * @file logwriter.h
 * @brief The thread that writes and syncs the write-ahead log beside the
 * event loop, so that the loop goes on receiving, sending and answering
 * while the disk works, and the next batch forms during the sync (as
 * etcd-io/raft's AsyncStorageWrites lets a server do).
 *
 * The loop takes a batch (wal_flush_begin()) and submits it; the thread runs
 * wal_flush_run() and signals an eventfd that the loop watches; the loop
 * collects the result and calls wal_flush_end(). One flush at a time.
 */
#ifndef GROVE_SERVER_LOGWRITER_H
#define GROVE_SERVER_LOGWRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/wal.h"

struct logwriter;

/**
 * @brief Start the thread for @p wal.
 * @return GROVE_OK, GROVE_EIO (no eventfd or thread), GROVE_ENOMEM.
 */
int logwriter_start(struct wal *wal, struct logwriter **out);

/** @brief Wait for a running flush, stop the thread and free. NULL is allowed. */
void logwriter_stop(struct logwriter *lw);

/** @brief The eventfd that becomes readable when a flush finished. */
int logwriter_fd(const struct logwriter *lw);

/** @brief Run wal_flush_run() in the thread; the caller called wal_flush_begin(). Not while busy. */
void logwriter_submit(struct logwriter *lw);

/** @brief Whether a flush was submitted and not collected. */
bool logwriter_busy(const struct logwriter *lw);

/**
 * @brief Collect a finished flush: its result goes to @p result, and how long
 * wal_flush_run() took, measured in the thread, to @p duration_ns. With
 * @p wait, block until the running one finishes.
 * @return true if a flush was collected (the caller then calls wal_flush_end()).
 */
bool logwriter_collect(struct logwriter *lw, bool wait, int *result, uint64_t *duration_ns);

#endif
