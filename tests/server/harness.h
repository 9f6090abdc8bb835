/**
 * @file harness.h
 * @brief Real processes for server tests: start groved on a loopback port,
 * stop or kill it, and run the grove CLI capturing its output.
 */
#ifndef GROVE_TESTS_HARNESS_H
#define GROVE_TESTS_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

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

/**
 * @brief Start groved like groved_start(), listening on @p listen ("127.0.0.1:PORT"; port 0 picks a free
 * one), with the NULL-terminated @p args (may be NULL) after --data and --listen.
 */
void groved_start_args(struct groved_proc *p, char *data_dir, const char *listen, const char *const *args);

/** @brief SIGTERM and wait; @return its exit status as from waitpid. */
int groved_stop(struct groved_proc *p);

/** @brief SIGKILL and wait. */
void groved_kill(struct groved_proc *p);

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

#endif
