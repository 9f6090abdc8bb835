/**
 * @file subs.h
 * @brief Subscriptions: who follows which subtree of the world, from which
 * index, and what each of them is sent next.
 *
 * Anchored on etcd's watch (a start revision, a "compacted" answer,
 * progress notifications), CockroachDB's rangefeeds (a catch-up scan, then
 * live) and SpacetimeDB's subscriptions (initial rows and the subscription
 * registered at the same point, so no later change is missed).
 *
 * A subscriber is registered at the apply boundary its snapshot was taken
 * at (index N; the server's loop applies nothing between the two), and
 * receives every applied entry from N + 1 on that touched its subtree, one
 * event per entry, in log order, with the index of the event before it so
 * that it can tell a gap. Quiet subscribers get progress events. Apply
 * never waits for a subscriber: an entry goes to a live subscriber only if
 * its connection has room; one that does not keep up is switched to
 * catching up from the change history (history.h) in bounded batches, a few
 * subscribers at a time, and back to live once it has caught up; one that
 * falls behind the history's retention is told "compacted" and dropped.
 *
 * A connection is given while both its ends are in the subtree, as a
 * snapshot holds it (a change's old_path_step is its target's; one that is
 * TREE_NO_PATH, an end in another shard, counts as in).
 *
 * A move into a subscriber's subtree from outside it (a move within a
 * group, or a move across shards, whose half in the group it entered is
 * recorded whole) brings nodes the subscriber never had: it is given their
 * creation instead (arrival.h: the moved node and its subtree, parents
 * first, with properties, groups, their connections and those to them
 * from nodes the subscriber has (once, if two arrivals share one), as CREATE, SET_PROP,
 * ADD_GROUP and CONNECT changes with their own path steps, filtered like
 * any change), as the entry left it, so changes later in the same entry of
 * what arrived are in them already and are not given again. The entry's
 * record carries them (tree_change.carried, arrival_carry(), written when
 * the entry was applied), so a subscriber is given them however much the
 * tree changed since: live behind other entries of the same ready, caught
 * up, resumed. A record that carries nothing for the move (the subtree was
 * over the limits, or the moved node left its new place again in the same
 * entry) is read from the tree (the hooks' tree, through read_txn) if it
 * holds the state right after the entry: every group the subscriber
 * follows applied nothing after what it is being given. Otherwise the
 * subscriber is told "compacted".
 *
 * A subtree that spans shards is followed in every group that holds a part
 * of it, in one stream: the index of an event is then the sum of the
 * indexes looked at in each group (for one group, simply its index), which
 * grows with every event, and its position names each group with its index
 * (struct sub_at; as text, subs_position_format()). The parts of a
 * transaction across shards, applied in their groups' logs one after
 * another, are handed out together as one event (a move across shards is
 * one move, never a removal without its arrival), at the end of the loop
 * turn in which the last part was applied here. Such a stream waits for a
 * transaction's last part before anything its groups applied after it, so
 * every position it sends lies between transactions, never inside one; it
 * resumes from such a position (subs_resume()). A split below the
 * subscribed root adds the new group to the stream, followed from its birth
 * once the group it split from has been looked at up to the split.
 *
 * The module is protocol-neutral: it hands events to the server, which
 * encodes them for the subscriber's protocol (the Godot gateway, or grove's
 * protobuf for C clients).
 */
#ifndef GROVE_SERVER_SUBS_H
#define GROVE_SERVER_SUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/server/history.h"
#include "src/server/hub.h"
#include "src/tree/tree.h"
#include "storage/store.h"

/** What a subscriber follows. */
struct sub_spec {
	const uint64_t *groups;  /**< the groups holding the subtree: the root's first, then the shards below it */
	size_t n_groups;         /**< at least 1 */
	uint64_t root;           /**< the subscribed node's id */
	const char *root_path;   /**< its path now (copied) */
	int depth;               /**< levels below the root to follow; < 0: all */
	const char *const *properties; /**< only these properties' sets and clears (NULL: all); copied */
	size_t n_properties;
	const char *const *classes;    /**< only changes of nodes of these classes (NULL: all); copied */
	size_t n_classes;
};

/** One group's part of a stream's position: everything of @c group up to @c index was looked at. */
struct sub_at {
	uint64_t group;
	uint64_t index;
};

/** Most groups a position names (a parsed one with more is refused). */
#define SUBS_POSITION_MAX_GROUPS 1024

/**
 * @brief The text form of a position, for clients to keep and send back
 * without understanding it: "group:index" pairs in decimal, comma-separated,
 * in the stream's order (e.g. "1:120,5:33").
 * @return a malloc'd string for the caller to free, or NULL if out of memory.
 */
char *subs_position_format(const struct sub_at *at, size_t n);

/**
 * @brief Parse a position's text (subs_position_format()'s form: at least
 * one pair, at most SUBS_POSITION_MAX_GROUPS, group ids above 0 and each
 * named once, nothing else in the text).
 * @return GROVE_OK with *@p out malloc'd (the caller frees it) and *@p n
 * set; GROVE_EINVAL (malformed: @p why says what, nothing is allocated);
 * GROVE_ENOMEM.
 */
int subs_position_parse(const char *text, struct sub_at **out, size_t *n, char *why, size_t why_cap);

/** Kinds of event. */
enum sub_event_kind {
	SUB_CHANGES = 1,    /**< an entry's changes in the subtree */
	SUB_PROGRESS = 2,   /**< nothing in the subtree changed up to index */
	SUB_COMPACTED = 3,  /**< the subscriber must take a new snapshot; it is dropped */
};

/** An event for one subscriber; everything is borrowed for the call. */
struct sub_event {
	enum sub_event_kind kind;
	uint64_t index;                    /**< SUB_CHANGES: the entry; SUB_PROGRESS: the position */
	uint64_t prev;                     /**< index of the event sent before */
	const struct tree_change *changes; /**< SUB_CHANGES: what changed, filtered for the subscriber */
	size_t n_changes;
	const struct tree_paths *paths;    /**< SUB_CHANGES: the steps the changes' paths name (tree_paths_string()) */
	uint64_t oldest;                   /**< SUB_COMPACTED: the oldest index the history holds (0 if none) */
	const char *reason;                /**< SUB_COMPACTED: why, one line */
	uint64_t committed_ns;             /**< SUB_CHANGES sent live: when the entry was committed here (0: caught up) */
	uint64_t applied_ns;               /**< and applied here (CLOCK_REALTIME, ns) */
	const struct sub_at *at;           /**< SUB_CHANGES, SUB_PROGRESS: the position per group after the event */
	size_t n_at;                       /**< the groups followed (one, or more for a stream across shards) */
	/**
	 * SUB_CHANGES: the changes are those handed to subs_publish() (or of the entries caught up), less the
	 * carried ones, unaltered and in order: every subscriber whose event of one publish says so gets the same.
	 */
	bool whole;
};

/** What the subscriptions need from the server. */
struct subs_hooks {
	void *ctx;
	/** Hand @p ev to connection @p conn. @return false if the connection is gone (the subscriber is dropped). */
	bool (*emit)(void *ctx, uint64_t conn, const struct sub_event *ev);
	/** Bytes queued for @p conn and not yet written (its backpressure). */
	size_t (*queued)(void *ctx, uint64_t conn);
	/**
	 * A transaction that sees everything applied, or NULL: only read from it, and end it with
	 * store_txn_abort() before anything else is applied.
	 */
	struct store_txn *(*read_txn)(void *ctx);
	/**
	 * The tree of @p group as applied here, to read through read_txn's transaction, with *@p applied the
	 * index of the group's last entry applied (the state that transaction sees); NULL if the group is not
	 * here. Without it (NULL hook) a move into a subtree from outside it is always "compacted".
	 */
	const struct tree *(*tree)(void *ctx, uint64_t group, uint64_t *applied);
	/**
	 * A view across every tree group here (tree_view_init(); the caller frees it), read through read_txn's
	 * transaction, through which what a move brings finds the nodes of other shards its connections name
	 * (arrival.h). Without it (NULL hook) such connections come without the other end's path.
	 */
	int (*view)(void *ctx, struct tree_view *out);
};

struct subs;

/** Limits. Zero fields take the defaults in brackets. */
struct subs_config {
	size_t live_max_queued;  /**< over this a subscriber leaves live mode [1 MiB] */
	size_t catchup_batch;    /**< bytes of history per catch-up step [256 KiB] */
	unsigned max_catchups;   /**< subscribers catching up at once [4] */
	unsigned progress_ms;    /**< a quiet subscriber's progress period [100 ms] */
	size_t arrival_max_nodes; /**< a subtree moved in with more nodes is "compacted" [10,000] */
	size_t arrival_max_bytes; /**< and one whose changes hold more bytes [4 MiB] */
};

/** @brief Subscriptions over @p history. @return GROVE_OK, GROVE_ENOMEM. */
int subs_create(const struct subs_config *cfg, const struct history *history, const struct subs_hooks *hooks,
		struct subs **out);

/** @brief Free. NULL is allowed. */
void subs_destroy(struct subs *s);

/**
 * @brief Register connection @p conn (replacing its subscription if any) at
 * index @p from of the one group of @p spec: it receives the entries after
 * it. @p applied is the group's applied index now; a subscriber whose
 * @p from is behind it catches up from the history first.
 * @return GROVE_OK, GROVE_ERANGE (the history no longer holds from + 1: take
 * a snapshot; *@p oldest says what it holds), GROVE_EINVAL (@p spec has
 * several groups: a position across shards cannot be resumed from),
 * GROVE_ENOMEM, GROVE_ESTORAGE.
 */
int subs_add(struct subs *s, uint64_t conn, const struct sub_spec *spec, uint64_t from, uint64_t applied,
	     uint64_t *oldest);

/** What a resume knows of one group of the subtree now (aligned with struct sub_spec's groups). */
struct sub_span {
	uint64_t applied;      /**< the group's applied index here */
	uint64_t source;       /**< a shard below the root: the group it split from (0: none known) */
	uint64_t split_index;  /**< the source's index that applied the split (0: not yet) */
	uint64_t born;         /**< the index the group's own log starts from, at its birth */
};

/** Why a resume cannot go on: take a new snapshot. */
struct sub_refusal {
	uint64_t oldest;       /**< the oldest index the history holds of the group that lacks entries (0: none) */
	char reason[200];      /**< one line */
};

/**
 * @brief Register connection @p conn (replacing its subscription if any) to
 * resume after position @p from (@p n_from groups, from a stream over the
 * same subtree): each group it names is followed after its index there (a
 * position ahead of what this member applied skips what it has not sent);
 * a group of @p spec it does not name, split off since (below the root, or
 * the root's own group when the subtree moved into a shard of its own), is
 * followed from its birth (@p span's born), and only once its source group
 * has been looked at up to the split, so nothing of that part arrives
 * before what preceded the split (a source group that no longer holds any of
 * the subtree is in @p spec for that, and stays in the position). @p span
 * (one per group of @p spec) says where each group stands. *@p resumed_at
 * receives the positions registered per group of @p spec (n_groups of them,
 * the caller's array).
 * @return GROVE_OK; GROVE_ERANGE (a new snapshot is needed, *@p why says
 * why, and nothing was registered): @p from names neither the root's group
 * nor the group it split from, names a group that no longer holds a part
 * of the subtree, or is behind what the history keeps of a group, or a
 * group split off since from a group @p from does not name; GROVE_ENOMEM,
 * GROVE_ESTORAGE.
 */
int subs_resume(struct subs *s, uint64_t conn, const struct sub_spec *spec, const struct sub_span *span,
		const struct sub_at *from, size_t n_from, uint64_t *resumed_at, struct sub_refusal *why);

/**
 * @brief Register connection @p conn at @p at (per group of @p spec, its
 * applied index now, at which the snapshot is being taken) and send it
 * nothing, no change and no progress, until subs_release(): its snapshot
 * goes first. The snapshot's position is subs_position(@p spec, @p at).
 * @return GROVE_OK, GROVE_ENOMEM.
 */
int subs_add_held(struct subs *s, uint64_t conn, const struct sub_spec *spec, const uint64_t *at);

/** @brief The index of a stream over @p n groups at indexes @p at: their sum. */
uint64_t subs_position(const uint64_t *at, size_t n);

/**
 * @brief The snapshot of held @p conn was sent: it follows from its index on,
 * from the history first if entries were applied meanwhile (or is told
 * "compacted" if the history no longer holds them). Nothing if @p conn is
 * not held.
 */
void subs_release(struct subs *s, uint64_t conn);

/** @brief Drop @p conn's subscription (it is gone). */
void subs_remove(struct subs *s, uint64_t conn);

/**
 * @brief Entry @p index of @p group was applied with these changes, whose paths are steps of @p paths
 * (NULL when @p n is 0), at @p times (NULL: not known), as a part of transaction @p txn (NULL: none):
 * live subscribers get them now, with those times, unless they follow another of the transaction's
 * groups (then they are given all its parts together, from the history, once the last is applied).
 * Filtering by subtree places each step once per subscriber, from its parent step, so it is linear in
 * the entry; absolute path strings are left to whoever encodes the events.
 */
void subs_publish(struct subs *s, uint64_t group, uint64_t index, const struct tree_change *changes, size_t n,
		  const struct tree_paths *paths, const struct entry_times *times, const struct change_txn *txn);

/**
 * @brief A split (entry @p index of @p group, published already) moved the
 * subtree at @p path out of @p group into group @p to, whose own log starts
 * from that state at @p born_at: every subscriber that follows @p group and
 * whose subtree holds @p path, or lies at or below it, follows @p to's
 * entries after @p born_at too; one that is catching up gets none of them
 * before it was given @p group's up to @p index. A subtree at or below
 * @p path is handed over: @p to becomes its root's group, and @p group stays
 * in its position, which has nothing more of the subtree but keeps the
 * stream's index (the sum over its groups) growing and lets it resume
 * (subs_resume()). Only a subscriber out of memory is dropped, "compacted".
 */
void subs_moved(struct subs *s, uint64_t group, uint64_t index, const char *path, uint64_t to, uint64_t born_at);

/**
 * @brief This member's copy of @p group was replaced by a snapshot at
 * @p index: the entries up to it were never applied here, so they are
 * neither in the history nor published. Every subscriber that follows
 * @p group and was not given all of them (its position in @p group is below
 * @p index) hears "compacted" (take a new snapshot) and is dropped; the
 * others follow on from their positions.
 */
void subs_installed(struct subs *s, uint64_t group, uint64_t index);

/**
 * @brief Periodic work: progress events, catch-up steps (at most max_catchups
 * since the last subs_turn(), those included). Call every tick.
 */
void subs_tick(struct subs *s, uint64_t now_ms);

/**
 * @brief The end of an event-loop turn, once what the turn applied can be
 * read (the hooks' read_txn commits it): a subscriber across shards that
 * left live mode for a transaction's parts, and saw another of them
 * published since, takes its catch-up step now rather than at the next
 * tick, so the parts go out together in the turn the last one was applied.
 * Bounded as subs_tick() is: one step each, at most max_catchups together
 * with the tick's since the last turn, none for a subscriber whose queue is
 * over half its limit (those wait for a later turn or tick).
 */
void subs_turn(struct subs *s, uint64_t now_ms);

/**
 * @brief Whether the last subs_turn() left subscribers due for the cap alone
 * (not for a full queue, which a drain brings back): the caller runs another
 * turn soon rather than leave them to the next event or tick.
 */
bool subs_more_due(const struct subs *s);

/** One subscriber, for `grove subscribers`. */
struct sub_info {
	uint64_t conn;        /**< its connection */
	uint64_t group;       /**< the group of its root */
	size_t n_groups;      /**< the groups it follows (more than one: a subtree across shards) */
	char root_path[256];  /**< what it follows */
	uint64_t sent;        /**< the last position it was sent */
	uint64_t lag;         /**< entries applied here that it has not been sent, over all its groups */
	bool live;            /**< false while it catches up */
	size_t queued;        /**< bytes waiting on its connection */
};

/** @brief Up to @p cap subscribers into @p out; returns how many there are. */
size_t subs_list(const struct subs *s, struct sub_info *out, size_t cap);

/** Every subscriber together, for metrics. */
struct subs_summary {
	size_t subscribers;    /**< registered */
	size_t catching_up;    /**< of those, not live */
	uint64_t lag_max;      /**< entries published and not sent to the one furthest behind */
	uint64_t lag_sum;      /**< and to all of them together */
};

/** @brief Fill @p out (no allocation; one pass over the subscribers). */
void subs_summarize(const struct subs *s, struct subs_summary *out);

#endif
