/**
 * @file harness.h
 * @brief Real processes for server tests: start groved on a loopback port,
 * stop or kill it, and run the grove CLI capturing its output.
 */
#ifndef GROVE_TESTS_HARNESS_H
#define GROVE_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/grove.pb-c.h"

struct grove_client;
struct tree_op;

/** A running groved. */
struct groved_proc {
	pid_t pid;          /**< its process id, 0 when not running */
	int port;           /**< the port it listens on */
	char address[32];   /**< "127.0.0.1:PORT" */
	char *data_dir;     /**< borrowed */
};

/**
 * @brief Start groved on 127.0.0.1 (a free port) with data in @p data_dir;
 * @p token may be NULL. Waits until it prints its listening line (at most
 * 10 s). Its log goes to DATA_DIR.log. Aborts the test on failure.
 */
void groved_start(struct groved_proc *p, char *data_dir, const char *token);

/** What else groved_start_opts() can set up. Every field may be zero. */
struct groved_opts {
	const char *token;          /**< client token, or NULL */
	const char *listen;         /**< "127.0.0.1:PORT" (NULL: a free port) */
	const char *const *args;    /**< more groved arguments, NULL-terminated */
	const char *const *wrapper; /**< a command that runs groved (its arguments follow), NULL-terminated */
	long nofile;                /**< descriptor limit groved runs under (0: inherited) */
	const char *asan_options;   /**< appended to ASAN_OPTIONS for groved */
};

/**
 * @brief groved_start() with @p o. With a wrapper, p->pid is the wrapper's;
 * groved_child() finds groved itself.
 */
void groved_start_opts(struct groved_proc *p, char *data_dir, const struct groved_opts *o);

/**
 * @brief A memory figure of process @p pid from /proc/PID/status, in KiB: @p field is "VmRSS" (resident
 * now), "VmHWM" (peak resident), ... @return the figure, or -1 if the process is gone or has no such line.
 */
long proc_status_kib(pid_t pid, const char *field);

/** @brief The first child process of @p pid (e.g. groved under a wrapper), or 0 if none. */
pid_t groved_child(pid_t pid);

/** One groved in a fresh temporary directory: what most server tests run against. */
struct groved_fixture {
	char *dir;                /**< the temporary directory, owned */
	char *data;               /**< DIR/data, groved's data directory, owned */
	struct groved_proc server; /**< the running groved */
};

/**
 * @brief A temporary directory named after @p tag and groved started on DIR/data with @p o (may be NULL).
 * Aborts the test on failure. @return the fixture; release it with groved_fixture_free().
 */
struct groved_fixture *groved_fixture_new(const char *tag, const struct groved_opts *o);

/** @brief Kill the fixture's groved, remove its directory and free it. NULL is allowed. */
void groved_fixture_free(struct groved_fixture *f);

/**
 * @brief Run groved with data in @p data_dir and @p o (may be NULL) for one that is expected to stop by
 * itself (refusing to start): its output goes to DATA_DIR.log. After @p timeout_s it is killed.
 * @return its exit status as from waitpid, or -1 if it was still running.
 */
int groved_run_to_exit(char *data_dir, const struct groved_opts *o, int timeout_s);

/** @brief SIGTERM and wait; @return its exit status as from waitpid. */
int groved_stop(struct groved_proc *p);

/** @brief SIGKILL and wait (under a wrapper, groved is killed too). */
void groved_kill(struct groved_proc *p);

/**
 * @brief A TCP connection to 127.0.0.1:@p port that said hello (with no
 * token) and got the hello reply, for tests that send raw frames;
 * @p rcvbuf, if not 0, is this end's receive buffer, fixed before connecting.
 * @return the (blocking) socket, or -1.
 */
int raw_client(int port, int rcvbuf);

/**
 * @brief Read counter or gauge @p name into @p value from the /metrics of the
 * groved whose --metrics address is 127.0.0.1:@p port (one plain HTTP GET).
 * @return false if it could not be read or there is no such metric.
 */
bool groved_metric(int port, const char *name, uint64_t *value);

/**
 * @brief Read the in-flight limit's metrics (groved_metric()): the most
 * requests one client had in flight (@p peak) and the times a client was
 * not read from at the limit (@p pauses).
 * @return false if either could not be read.
 */
bool groved_inflight_metrics(int port, uint64_t *peak, uint64_t *pauses);

/**
 * @brief Write the batch of @p n operations @p ops through @p c.
 * @return the write reply's code (0: done), or -1 if there was no write reply.
 */
int client_write_ops(struct grove_client *c, const struct tree_op *ops, size_t n);

/** @brief client_write_ops(), and how long the call took (CLOCK_MONOTONIC, ns) in *@p ns. */
int client_write_ops_timed(struct grove_client *c, const struct tree_op *ops, size_t n, uint64_t *ns);

/** @brief Write @p ops with submit key @p key; its applied index (0 unless applied) in *@p index.
 * @return the write reply's code (0: done), or -1 if there was no write reply. */
int client_write_keyed(struct grove_client *c, const char *key, const struct tree_op *ops, size_t n, uint64_t *index);

/**
 * @brief Set the integer property @p prop of @p node through @p c.
 * @return the write reply's code (0: done), or -1 if there was no write reply.
 */
int client_set_int(struct grove_client *c, const char *node, const char *prop, int64_t value);

/**
 * @brief Send a subscribe to the subtree at @p path through @p c, its snapshot as .tscn, or resuming after
 * position @p from when @p resume; the events are read with grove_client_receive().
 * @return grove_client_send()'s code.
 */
int client_subscribe(struct grove_client *c, const char *path, bool resume, uint64_t from);

/**
 * @brief The shard list as the member @p c talks to sees it.
 * @param holder receives the whole reply; free it with grove__envelope__free_unpacked(*holder, NULL) if not NULL.
 * @return the shard reply, or NULL if there was none.
 */
Grove__ShardReply *client_shard_list(struct grove_client *c, Grove__Envelope **holder);

/**
 * @brief A shard request @p op about @p path (NULL: none) and member @p node through @p c.
 * @return the reply (free it with grove__envelope__free_unpacked()), or NULL if none came.
 */
Grove__Envelope *client_shard_call(struct grove_client *c, Grove__ShardRequest__Op op, const char *path, uint64_t node);

/** @brief Who leads the shard whose root is @p path, as the member @p c talks to sees it (0: none known). */
uint64_t client_shard_leader(struct grove_client *c, const char *path);

/** @brief The group of the shard whose root is @p path, as the member @p c talks to sees it (0: none). */
uint64_t client_shard_group(struct grove_client *c, const char *path);

/**
 * @brief Split the subtree at @p path into a shard of its own, through @p c.
 * @param group receives the new shard's group when split (may be NULL).
 * @return the shard reply's code (GROVE_OK: split), or -1 if no shard reply came back.
 */
int client_shard_split(struct grove_client *c, const char *path, uint64_t *group);

/**
 * @brief Read the node at @p path through @p c, @p depth levels below it, with its properties if
 * @p with_props.
 * @param holder receives the whole reply; free it with grove__envelope__free_unpacked(*holder, NULL) if not NULL.
 * @return the read reply, or NULL when there was none (no answer, an error reply).
 */
Grove__ReadReply *client_read(struct grove_client *c, const char *path, uint32_t depth, bool with_props,
			      Grove__Envelope **holder);

/**
 * @brief Connect to @p address (no token; @p timeout_ms for each step) and
 * ask for status.
 * @param holder receives the whole reply; free it with grove__envelope__free_unpacked(*holder, NULL) if not NULL.
 * @return the status reply, or NULL.
 */
Grove__StatusReply *client_status(const char *address, int timeout_ms, Grove__Envelope **holder);

/** Output of one CLI run. */
struct cli_result {
	int status;       /**< exit code, or 128+signal */
	char out[65536];  /**< standard output (truncated to fit) */
	char err[4096];   /**< standard error (truncated to fit) */
};

/**
 * @brief Run `grove --server ADDRESS ARGS...` (NULL-terminated list) and wait
 * for it (at most 30 s, then it is killed).
 */
void cli_run(const struct groved_proc *p, struct cli_result *r, ...);

/** @brief cli_run() with --server @p servers (one member or several, comma-separated). */
void cli_run_at(const char *servers, struct cli_result *r, ...);

#endif
