/**
 * @file cluster.h
 * @brief A cluster of real groved processes on 127.0.0.1 for tests: start and
 * restart members, kill them, find the leader, wait until all have applied
 * the same index. Failures fail the cmocka test.
 */
#ifndef GROVE_TESTS_CLUSTER_H
#define GROVE_TESTS_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** Members of every cluster, ids 1 to CLUSTER_NODES. */
#define CLUSTER_NODES 3

/** A cluster; member N keeps its data in DIR/nodeN and its log in DIR/nodeN.log. */
struct cluster {
	char *dir;                      /**< malloc'd; the test removes it (test_rmtree) */
	int ports[CLUSTER_NODES + 1];   /**< each member's port, clients and peers alike */
	pid_t pids[CLUSTER_NODES + 1];  /**< 0 while a member is not running */
	char peers[256];                /**< the --peers list */
	/** A member's own --peers list when not empty (e.g. the others through proxies); else @c peers. */
	char member_peers[CLUSTER_NODES + 1][256];
	char args[8][64];               /**< more groved arguments for every member */
	size_t n_args;
	int metrics_ports[CLUSTER_NODES + 1]; /**< each member's --metrics port; 0: none (cluster_start_with_metrics()) */
	/**
	 * libfaketime's library (cluster_faketime_library()) to run every member under, so that
	 * cluster_clock_shift() can move its wall clock (CLOCK_REALTIME; CLOCK_MONOTONIC stays) while it runs;
	 * NULL: the real clock. Set it before the members start.
	 */
	const char *faketime;
};

/**
 * @brief A fresh directory and free ports, and every member started with the
 * groved arguments @p args (NULL-terminated, or NULL). Members die with the
 * thread that started them, so that a test process that dies leaves none.
 */
void cluster_start(struct cluster *c, const char *const *args);

/**
 * @brief cluster_start() without starting anyone: a directory (@p dir,
 * which must exist, or a fresh one when NULL; c->dir is a malloc'd copy
 * either way), free ports, the --peers list and @p args, so that the caller
 * can set member_peers before cluster_node_start().
 */
void cluster_prepare(struct cluster *c, const char *const *args, const char *dir);

/** @brief cluster_start(), and every member serves metrics (--metrics) on a free port of its own. */
void cluster_start_with_metrics(struct cluster *c, const char *const *args);

/** @brief Start member @p node (again); returns once it listens. */
void cluster_node_start(struct cluster *c, int node);

/** @brief Start member @p node; its standard output comes back through *@p out. */
pid_t cluster_node_spawn(struct cluster *c, int node, int *out);

/**
 * @brief Start a server that is not a member yet: id @p id with `--join`, its --peers the cluster's and
 * itself on a free port, its data and log beside the members' (DIR/node<id>, DIR/node<id>.log). Its
 * address goes to @p address (@p cap bytes). Stop it with kill() and waitpid().
 */
pid_t cluster_spawn_joiner(struct cluster *c, int id, char *address, size_t cap);

/** @brief Where Debian's libfaketime (package faketime) is, or NULL if it is not installed. */
const char *cluster_faketime_library(void);

/**
 * @brief Member @p node's wall clock, as its processes read it, @p ms milliseconds off the real one (0: on
 * time), from within a second (libfaketime reads the shift again once a second), whether it runs or not.
 * Needs c->faketime. @return false if the shift could not be written.
 */
bool cluster_clock_shift(struct cluster *c, int node, int64_t ms);

/** @brief Send @p sig to member @p node (if it runs) and wait for it. */
void cluster_node_signal(struct cluster *c, int node, int sig);

/** @brief SIGTERM to every member. */
void cluster_stop(struct cluster *c);

/** @brief "127.0.0.1:PORT" of member @p node. */
void cluster_address(const struct cluster *c, int node, char *out, size_t cap);

struct grove_client;

/**
 * @brief A client connected to member @p node (no token), trying for up to 10 s while it starts; fails
 * the test if it cannot. Close it with grove_client_close().
 */
struct grove_client *cluster_connect(struct cluster *c, int node);

/** @brief The member that leads (0 if none) and, through @p applied, each running member's applied index. */
int cluster_leader(struct cluster *c, uint64_t applied[CLUSTER_NODES + 1]);

/** @brief The leader, once there is one (at most 10 s). */
int cluster_wait_leader(struct cluster *c);

/**
 * @brief The applied index, once every member has applied the same one, in every group it hosts (each shard's
 * too, as its shard list says), at most 30 s.
 */
uint64_t cluster_wait_converged(struct cluster *c);

/**
 * @brief Whether member @p node's log has a line containing @p needle; the
 * first such line goes to @p line ("" if none).
 */
bool cluster_log_has(struct cluster *c, int node, const char *needle, char *line, size_t cap);

/** @brief How many lines of member @p node's log contain @p needle. */
int cluster_log_count(struct cluster *c, int node, const char *needle);

#endif
