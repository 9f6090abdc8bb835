/**
 * @file cluster.h
 * @brief A real 3-node groved cluster on 127.0.0.1 for process tests: start,
 * kill and restart members, and ask them for their status.
 *
 * Each member's data is DIR/nodeN and its log DIR/nodeN.log. Failures abort
 * the test (cmocka).
 */
#ifndef GROVE_TESTS_CLUSTER_H
#define GROVE_TESTS_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/grove.pb-c.h"

#define NODES 3
/* Small chunks, so that every snapshot sent to a follower travels in many pieces. */
#define SNAPSHOT_CHUNK "16384"

/** The members. */
struct cluster {
	char *dir;                /**< holds every member's data (test_tmpdir) */
	int ports[NODES + 1];     /**< member i listens on 127.0.0.1:ports[i] */
	pid_t pids[NODES + 1];    /**< 0 when not running */
	char peers[256];          /**< --peers */
	char compact_at[32];      /**< --raft-compact-at */
};

/** @brief "127.0.0.1:PORT" of member @p node. */
void address_of(const struct cluster *c, int node, char *out, size_t cap);

/** @brief Start groved as member @p node; its stdout comes back through *@p out. @return its pid. */
pid_t node_spawn(struct cluster *c, int node, int *out);

/** @brief Start member @p node and wait until it listens. */
void node_start(struct cluster *c, int node);

/** @brief Start member @p node expecting it to refuse within 10 s: @return its exit status. */
int node_start_refused(struct cluster *c, int node);

/** @brief Send @p sig to member @p node and wait for it to end. */
void node_signal(struct cluster *c, int node, int sig);

/** @brief A fresh directory and three members, started, whose logs compact past @p compact_at entries. */
void cluster_start(struct cluster *c, int compact_at);

/** @brief SIGTERM to every member. */
void cluster_stop(struct cluster *c);

/** @brief Member @p node's status (NULL if it does not answer within 2 s); free *@p holder if not NULL. */
Grove__StatusReply *status_of(struct cluster *c, int node, Grove__Envelope **holder);

/** @brief The member that leads the world's group (0 if none) and each live member's applied index of it. */
int leader_of(struct cluster *c, uint64_t applied[NODES + 1]);

/** @brief Whether member @p node's log has a line containing @p needle: the first one in @p line ("" if none). */
bool log_has(struct cluster *c, int node, const char *needle, char *line, size_t cap);

/** @brief Wait (at most 10 s) for a leader of the world's group. */
int wait_leader(struct cluster *c);

/** @brief Wait (at most 30 s) until every member applied the same index of the world's group. */
uint64_t wait_converged(struct cluster *c);

#endif
