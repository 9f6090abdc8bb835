/**
 * @file clusters.h
 * @brief What the benchmarks that compare grove with etcd share: child processes that die with the
 * benchmark, a 3-member groved cluster and a 3-member etcd cluster on 127.0.0.1, the member that leads
 * each, and a keep-alive HTTP/1.1 client for etcd's v3 JSON gateway.
 */
#ifndef GROVE_BENCH_CLUSTERS_H
#define GROVE_BENCH_CLUSTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** Members of every cluster a benchmark starts. */
#define CLUSTER_MEMBERS 3

/**
 * @brief Run @p argv (argv[0] looked up in PATH) with standard output and error appended to @p log.
 * The child is killed when this process exits (normally, by SIGINT or SIGTERM, or dies of anything).
 * @return its pid, or -1.
 */
pid_t bench_spawn(char *const argv[], const char *log);

/** @brief Wait up to @p timeout_ms for @p pid to exit, then kill it; @return its status as from waitpid, or -1. */
int bench_wait(pid_t pid, int timeout_ms);

/** @brief SIGTERM @p pid and wait for it (at most 10 s, then SIGKILL). Ignores pid <= 0. */
void bench_stop(pid_t pid);

/**
 * @brief Wait up to @p timeout_ms for one of the @p n @p words to appear in the file @p log (what a child
 * spawned with it as its log says once it is ready, or that it failed).
 * @return the index of the word found first in the file, or -1.
 */
int bench_wait_said(const char *log, const char *const *words, int n, int timeout_ms);

/** Three groved processes forming one cluster. */
struct grove_cluster {
	char dir[4096];                     /**< member i keeps DIR/TAG<i+1> and logs to DIR/TAG<i+1>.log */
	char tag[32];
	const char *const *args;            /**< more groved arguments for every member, NULL-terminated, borrowed */
	int ports[CLUSTER_MEMBERS];         /**< each member's client and peer port */
	char addresses[CLUSTER_MEMBERS][32];/**< "127.0.0.1:PORT" */
	char peers[256];                    /**< the --peers list */
	char member_peers[CLUSTER_MEMBERS][256]; /**< when not empty, member i's --peers instead (its own entry must
	                                          be its --listen address; the others may be proxies) */
	pid_t pids[CLUSTER_MEMBERS];        /**< 0 while a member is stopped */
};

/** @brief Choose free ports for a cluster of @p tag in @p dir; nothing starts yet. */
void grove_cluster_init(struct grove_cluster *c, const char *dir, const char *tag, const char *const *args);

/** @brief Start member @p i (again: its data directory is kept). */
void grove_member_start(struct grove_cluster *c, int i);

/** @brief Stop member @p i with SIGTERM. */
void grove_member_stop(struct grove_cluster *c, int i);

/** @brief Start every member and wait for a leader (at most 10 s); @return the leader's index, or -1. */
int grove_cluster_start(struct grove_cluster *c);

/** @brief The index of the member that says it leads, asking for up to 10 s; -1 if none. */
int grove_cluster_leader(const struct grove_cluster *c);

/** @brief The applied index of member @p i (0 if it does not answer); *@p leader (may be NULL) says whether it leads. */
uint64_t grove_member_applied(const struct grove_cluster *c, int i, bool *leader);

/** @brief Stop every member that runs. */
void grove_cluster_stop(struct grove_cluster *c);

struct grove_client;

/**
 * @brief grove_cluster_start(), and a client connected to its leader (@p leader gets its index).
 * @return the client (grove_client_close() it), or NULL (said on stderr; the cluster is stopped).
 */
struct grove_client *grove_cluster_start_connected(struct grove_cluster *c, int *leader);

/** @brief Split the subtree at @p path off into a shard through @p cl; @return whether it was done. */
bool grove_shard_split(struct grove_client *cl, const char *path);

/**
 * @brief Hand the leadership of the shard whose root is @p path to member @p node (through @p cl, which
 * follows the shard's leader) and wait, at most 10 s, until @p cl's member sees @p node lead it.
 * @return whether it did.
 */
bool grove_shard_lead(struct grove_client *cl, const char *path, uint64_t node);

/**
 * @brief Which member leads each shard, as the member @p cl talks to sees it: "PATH: member N" for each,
 * comma-separated, in @p out ("?" if it does not answer).
 */
void grove_shard_leaders(struct grove_client *cl, char *out, size_t cap);

/** Three members of Debian's etcd (3.4). */
struct etcd_cluster {
	int client_ports[CLUSTER_MEMBERS];
	int peer_ports[CLUSTER_MEMBERS];
	pid_t pids[CLUSTER_MEMBERS];
};

/** @brief Whether the etcd program is installed (Debian package etcd-server). */
bool etcd_installed(void);

/** @brief Start three members with data and logs in @p dir/etcdN and wait for a leader; @return its index, or -1. */
int etcd_cluster_start(struct etcd_cluster *e, const char *dir);

void etcd_cluster_stop(struct etcd_cluster *e);

/** A keep-alive HTTP/1.1 connection to one etcd member's client port. */
struct http_conn {
	int fd;            /**< blocking, TCP_NODELAY */
	char buf[65536];   /**< the last response, NUL-terminated */
	size_t len;
};

/** @brief Connect to 127.0.0.1:@p port; NULL if it refuses. */
struct http_conn *http_connect(int port);

/** @brief Send a POST of JSON @p body to @p path without reading anything. @return 0, or -1. */
int http_send_post(struct http_conn *h, const char *path, const char *body);

/** @brief POST @p body to @p path and read the whole response into h->buf; @return the status code, or -1. */
int http_post(struct http_conn *h, const char *path, const char *body);

void http_close(struct http_conn *h);

/** @brief @p n bytes of @p in as base64 into @p out (room for 4 * ceil(n / 3) + 1); @return its length. */
size_t base64_encode(const char *in, size_t n, char *out);

/** @brief The base64 text @p in (@p n characters) decoded into @p out (room for 3 * n / 4); @return its length. */
size_t base64_decode(const char *in, size_t n, char *out);

#endif
