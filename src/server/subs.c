#include "src/server/subs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"

#define DEFAULT_LIVE_MAX_QUEUED (1u << 20)
#define DEFAULT_CATCHUP_BATCH (256u << 10)
#define DEFAULT_MAX_CATCHUPS 4
#define DEFAULT_PROGRESS_MS 100
/* Entries per catch-up step, whatever their size. */
#define CATCHUP_ENTRIES 256

struct sub {
	uint64_t conn;
	uint64_t group;
	uint64_t root;
	char *root_path;          /* follows renames and moves of the root */
	int depth;
	char **properties, **classes;
	size_t n_properties, n_classes;
	uint64_t sent;            /* the last index it was sent (changes or progress), or registered at */
	uint64_t known;           /* every entry up to here was looked at for it */
	bool live;                /* false: it catches up from the history */
	bool held;                /* its snapshot is being made: nothing goes to it until subs_release() */
	uint64_t last_event_ms;
};

struct subs {
	struct subs_config cfg;
	const struct history *history;
	struct subs_hooks hooks;
	struct idmap by_conn;     /* (0, conn) -> struct sub */
	struct sub **all;         /* in order of arrival, for fair catch-ups */
	size_t n_all, cap_all;
	struct group_applied {
		uint64_t group, applied;  /* the last index published */
	} *groups;
	size_t n_groups, cap_groups;
	uint64_t now_ms;
};

/* The last index published of @p group (a zero slot is added for a new group; NULL if out of memory). */
static uint64_t *applied_of(struct subs *s, uint64_t group)
{
	for (size_t i = 0; i < s->n_groups; i++)
		if (s->groups[i].group == group)
			return &s->groups[i].applied;
	if (grove_grow((void **)&s->groups, &s->cap_groups, s->n_groups, sizeof(*s->groups)))
		return NULL;
	s->groups[s->n_groups] = (struct group_applied){group, 0};
	return &s->groups[s->n_groups++].applied;
}

int subs_create(const struct subs_config *cfg, const struct history *history, const struct subs_hooks *hooks,
		struct subs **out)
{
	struct subs *s = calloc(1, sizeof(*s));
	if (!s)
		return GROVE_ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.live_max_queued)
		s->cfg.live_max_queued = DEFAULT_LIVE_MAX_QUEUED;
	if (!s->cfg.catchup_batch)
		s->cfg.catchup_batch = DEFAULT_CATCHUP_BATCH;
	if (!s->cfg.max_catchups)
		s->cfg.max_catchups = DEFAULT_MAX_CATCHUPS;
	if (!s->cfg.progress_ms)
		s->cfg.progress_ms = DEFAULT_PROGRESS_MS;
	s->history = history;
	s->hooks = *hooks;
	*out = s;
	return GROVE_OK;
}

static void free_strings(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static void sub_free(struct sub *sub)
{
	free(sub->root_path);
	free_strings(sub->properties, sub->n_properties);
	free_strings(sub->classes, sub->n_classes);
	free(sub);
}

void subs_destroy(struct subs *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_all; i++)
		sub_free(s->all[i]);
	free(s->all);
	free(s->groups);
	idmap_free(&s->by_conn);
	free(s);
}

void subs_remove(struct subs *s, uint64_t conn)
{
	struct sub *sub = idmap_remove(&s->by_conn, 0, conn);
	if (!sub)
		return;
	for (size_t i = 0; i < s->n_all; i++)
		if (s->all[i] == sub) {
			memmove(&s->all[i], &s->all[i + 1], (s->n_all - i - 1) * sizeof(*s->all));
			s->n_all--;
			break;
		}
	sub_free(sub);
}

static char **copy_strings(const char *const *list, size_t n, bool *oom)
{
	if (!list || !n)
		return NULL;
	char **copy = calloc(n, sizeof(*copy));
	for (size_t i = 0; copy && i < n; i++)
		*oom |= !(copy[i] = strdup(list[i]));
	*oom |= !copy;
	return copy;
}

static int add(struct subs *s, uint64_t conn, const struct sub_spec *spec, uint64_t from, uint64_t applied, bool held,
	       uint64_t *oldest)
{
	*oldest = 0;
	subs_remove(s, conn);
	if (from < applied) {
		/* Resuming: the history must hold every entry after from. */
		struct store_txn *txn = s->hooks.read_txn(s->hooks.ctx);
		if (!txn)
			return GROVE_ESTORAGE;
		int err = history_oldest(s->history, txn, spec->group, oldest);
		store_txn_abort(txn);
		if (err)
			return err;
		if (!*oldest || *oldest > from + 1)
			return GROVE_ERANGE;
	}
	uint64_t *group_applied = applied_of(s, spec->group);
	struct sub *sub = group_applied ? calloc(1, sizeof(*sub)) : NULL;
	bool oom = !sub;
	if (sub) {
		*sub = (struct sub){.conn = conn, .group = spec->group, .root = spec->root, .depth = spec->depth,
				    .n_properties = spec->n_properties, .n_classes = spec->n_classes, .sent = from,
				    .known = from, .live = !held && from >= applied, .held = held,
				    .last_event_ms = s->now_ms};
		sub->root_path = strdup(spec->root_path);
		oom |= !sub->root_path;
		sub->properties = copy_strings(spec->properties, spec->n_properties, &oom);
		sub->classes = copy_strings(spec->classes, spec->n_classes, &oom);
	}
	if (!oom && (grove_grow((void **)&s->all, &s->cap_all, s->n_all, sizeof(*s->all)) ||
		     idmap_put(&s->by_conn, 0, conn, sub)))
		oom = true;
	if (oom) {
		if (sub)
			sub_free(sub);
		return GROVE_ENOMEM;
	}
	s->all[s->n_all++] = sub;
	if (applied > *group_applied)
		*group_applied = applied;
	return GROVE_OK;
}

int subs_add(struct subs *s, uint64_t conn, const struct sub_spec *spec, uint64_t from, uint64_t applied,
	     uint64_t *oldest)
{
	return add(s, conn, spec, from, applied, false, oldest);
}

int subs_add_held(struct subs *s, uint64_t conn, const struct sub_spec *spec, uint64_t at)
{
	uint64_t oldest;
	return add(s, conn, spec, at, at, true, &oldest);
}

void subs_release(struct subs *s, uint64_t conn)
{
	struct sub *sub = idmap_get(&s->by_conn, 0, conn);
	if (!sub || !sub->held)
		return;
	sub->held = false;
	uint64_t *applied = applied_of(s, sub->group);
	sub->live = applied && sub->known >= *applied;
}

/* ---- what a subscriber sees of a change ---- */

static bool listed(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (s && strcmp(list[i], s) == 0)
			return true;
	return false;
}

/*
 * Where a path step stands against a subscriber's root path: inside its subtree, at some depth below the
 * root; above it, its path a proper prefix of the root's; or elsewhere.
 */
enum place_kind { PLACE_ELSEWHERE, PLACE_ABOVE, PLACE_INSIDE };

struct place {
	enum place_kind kind;
	size_t at;  /* INSIDE: levels below the root; ABOVE: bytes of the root's path the step's path covers */
};

/* Where a whole absolute path stands against @p root. */
static struct place place_of_path(const char *root, const char *path)
{
	size_t n = strlen(root), len = strlen(path);
	if (strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/')) {
		size_t depth = 0;
		for (const char *p = path + n; *p; p++)
			depth += *p == '/';
		return (struct place){PLACE_INSIDE, depth};
	}
	if (len < n && strncmp(root, path, len) == 0 && root[len] == '/')
		return (struct place){PLACE_ABOVE, len};
	return (struct place){PLACE_ELSEWHERE, 0};
}

/* Where a step named @p name under a step at @p up stands against @p root. */
static struct place place_below(const char *root, struct place up, const char *name)
{
	if (up.kind == PLACE_INSIDE)
		return (struct place){PLACE_INSIDE, up.at + 1};
	if (up.kind == PLACE_ELSEWHERE)
		return up;
	const char *rest = root + up.at + 1; /* root[up.at] is the '/' after the part covered */
	size_t len = strlen(name);
	if (strncmp(rest, name, len) != 0 || (rest[len] != '\0' && rest[len] != '/'))
		return (struct place){PLACE_ELSEWHERE, 0};
	return rest[len] == '\0' ? (struct place){PLACE_INSIDE, 0} : (struct place){PLACE_ABOVE, up.at + 1 + len};
}

/*
 * Place every step of an entry against @p root, each from its parent step's place (a step only refers to
 * steps before it): linear in the steps, however deep the paths. @return an array to free, or NULL.
 */
static struct place *place_steps(const char *root, const struct tree_paths *paths)
{
	size_t n = paths ? paths->n : 0;
	struct place *places = malloc((n ? n : 1) * sizeof(*places));
	if (!places)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct tree_path_step *step = &paths->steps[i];
		places[i] = step->up == TREE_NO_PATH ? place_of_path(root, step->name)
						     : place_below(root, places[step->up], step->name);
	}
	return places;
}

/* Whether step @p at (TREE_NO_PATH: none) is in @p sub's subtree, within its depth. */
static bool inside(const struct sub *sub, const struct place *places, uint32_t at)
{
	if (at == TREE_NO_PATH)
		return false;
	struct place p = places[at];
	return p.kind == PLACE_INSIDE && (sub->depth < 0 || p.at <= (size_t)sub->depth);
}

/* What of change @p c goes to @p sub: 0 nothing, 1 the change, 2 a removal (it moved out of the subtree). */
static int relevance(const struct sub *sub, const struct place *places, const struct tree_change *c)
{
	if (c->op == TREE_OP_PUT_RESOURCE)
		return 1; /* resources are the world's; values inside the subtree may refer to them */
	if (sub->n_classes && !listed(sub->classes, sub->n_classes, c->node_class))
		return 0;
	if ((c->op == TREE_OP_SET_PROP || c->op == TREE_OP_CLEAR_PROP) && sub->n_properties &&
	    !listed(sub->properties, sub->n_properties, c->name))
		return 0;
	bool now = inside(sub, places, c->path_step);
	if (c->op == TREE_OP_MOVE && !now)
		return inside(sub, places, c->old_path_step) ? 2 : 0;
	return now ? 1 : 0;
}

/*
 * The root moved or was renamed: follow it, so its descendants still match. @return whether the root's
 * path changed (the steps must be placed again).
 */
static bool follow_root(struct sub *sub, const struct tree_paths *paths, const struct tree_change *c)
{
	if ((c->op != TREE_OP_MOVE && c->op != TREE_OP_RENAME) || c->node != sub->root)
		return false;
	char *path;
	if (tree_paths_string(paths, c->path_step, &path) != GROVE_OK || !path)
		return false;
	free(sub->root_path);
	sub->root_path = path;
	return true;
}

static bool emit(struct subs *s, struct sub *sub, struct sub_event *ev)
{
	ev->prev = sub->sent;
	if (!s->hooks.emit(s->hooks.ctx, sub->conn, ev))
		return false;
	if (ev->kind != SUB_COMPACTED)
		sub->sent = ev->index;
	sub->last_event_ms = s->now_ms;
	return true;
}

/* Tell @p sub to take a new snapshot, and drop it. */
static void compact(struct subs *s, struct sub *sub, uint64_t oldest, const char *reason)
{
	struct sub_event ev = {.kind = SUB_COMPACTED, .index = sub->sent, .oldest = oldest, .reason = reason};
	emit(s, sub, &ev);
	subs_remove(s, sub->conn);
}

/*
 * Give @p sub what entry @p index changed in its subtree. A move into the subtree from outside brings nodes
 * the subscriber never had: it needs a new snapshot. @return false if @p sub was dropped.
 */
static bool deliver(struct subs *s, struct sub *sub, uint64_t index, const struct tree_change *changes, size_t n,
		    const struct tree_paths *paths, const struct entry_times *times)
{
	struct tree_change stack[32];
	struct tree_change *mine = n <= 32 ? stack : malloc(n * sizeof(*mine));
	struct place *places = n ? place_steps(sub->root_path, paths) : NULL;
	if (!mine || (n && !places)) {
		if (mine != stack)
			free(mine);
		free(places);
		compact(s, sub, 0, "the server ran out of memory for this subscriber");
		return false;
	}
	size_t kept = 0;
	bool resync = false;
	for (size_t i = 0; i < n; i++) {
		const struct tree_change *c = &changes[i];
		int r = relevance(sub, places, c);
		if (c->op == TREE_OP_MOVE && r == 1 && c->old_path_step != TREE_NO_PATH &&
		    !inside(sub, places, c->old_path_step) && c->node != sub->root)
			resync = true;
		if (r == 1) {
			mine[kept++] = *c;
		} else if (r == 2) {
			mine[kept] = *c;
			mine[kept].op = TREE_OP_DELETE; /* it left the subtree: for this subscriber it is gone */
			mine[kept++].path_step = c->old_path_step;
		}
		if (follow_root(sub, paths, c)) {
			free(places);
			places = place_steps(sub->root_path, paths);
			if (!places) {
				if (mine != stack)
					free(mine);
				compact(s, sub, 0, "the server ran out of memory for this subscriber");
				return false;
			}
		}
	}
	free(places);
	sub->known = index;
	bool ok = true;
	if (resync) {
		compact(s, sub, 0, "nodes moved into the subtree from outside it; take a new snapshot");
		ok = false;
	} else if (kept) {
		struct sub_event ev = {.kind = SUB_CHANGES, .index = index, .changes = mine, .n_changes = kept,
				       .paths = paths, .committed_ns = times ? times->committed_ns : 0,
				       .applied_ns = times ? times->applied_ns : 0};
		if (!emit(s, sub, &ev)) {
			subs_remove(s, sub->conn);
			ok = false;
		}
	}
	if (mine != stack)
		free(mine);
	return ok;
}

void subs_publish(struct subs *s, uint64_t group, uint64_t index, const struct tree_change *changes, size_t n,
		  const struct tree_paths *paths, const struct entry_times *times)
{
	uint64_t *applied = applied_of(s, group);
	if (applied && index > *applied)
		*applied = index;
	for (size_t i = 0; i < s->n_all;) {
		struct sub *sub = s->all[i];
		size_t before = s->n_all;
		if (sub->group == group && sub->live && index > sub->known) {
			if (s->hooks.queued(s->hooks.ctx, sub->conn) > s->cfg.live_max_queued)
				sub->live = false; /* it catches up from the history once its connection drains */
			else
				deliver(s, sub, index, changes, n, paths, times);
		}
		if (s->n_all == before)
			i++;
	}
}

void subs_moved(struct subs *s, uint64_t group, const char *path, uint64_t to)
{
	char reason[160];
	snprintf(reason, sizeof(reason), "the subtree moved to shard %llu (a split); subscribe again", (unsigned long long)to);
	size_t n = strlen(path);
	for (size_t i = 0; i < s->n_all;) {
		struct sub *sub = s->all[i];
		const char *root = sub->root_path;
		if (sub->group == group && strncmp(root, path, n) == 0 && (root[n] == '\0' || root[n] == '/'))
			compact(s, sub, 0, reason); /* it leaves s->all */
		else
			i++;
	}
}

/* ---- catching up ---- */

struct catchup {
	struct subs *s;
	struct sub *sub;
	size_t entries;
	bool dropped;
};

static int catch_entry(void *ctx, uint64_t index, const uint8_t *bytes, size_t len)
{
	struct catchup *cu = ctx;
	struct tree_change *changes;
	size_t n;
	struct tree_paths paths;
	int err = history_decode(bytes, len, &changes, &n, &paths);
	if (err)
		return err;
	if (!deliver(cu->s, cu->sub, index, changes, n, &paths, NULL))
		cu->dropped = true;
	cu->entries++;
	for (size_t i = 0; i < n; i++)
		tree_change_free(&changes[i]);
	free(changes);
	tree_paths_free(&paths);
	return cu->dropped ? GROVE_EUNAVAILABLE : GROVE_OK;
}

/* One bounded step of @p sub's catch-up. @return false if it was dropped. */
static bool catch_up(struct subs *s, struct sub *sub, uint64_t applied)
{
	if (sub->known >= applied) {
		sub->live = true;
		return true;
	}
	struct store_txn *txn = s->hooks.read_txn(s->hooks.ctx);
	if (!txn)
		return true; /* try again next tick */
	struct catchup cu = {s, sub, 0, false};
	int err = history_read(s->history, txn, sub->group, sub->known + 1, CATCHUP_ENTRIES, s->cfg.catchup_batch,
			       catch_entry, &cu);
	/* Every applied entry has a record: one missing was dropped behind the subscriber. */
	bool gone = !cu.dropped && (err == GROVE_ERANGE || (!err && !cu.entries));
	uint64_t oldest = 0;
	if (gone)
		history_oldest(s->history, txn, sub->group, &oldest);
	store_txn_abort(txn);
	if (cu.dropped)
		return false;
	if (gone) {
		compact(s, sub, oldest, "the change history no longer holds what this subscriber missed");
		return false;
	}
	if (sub->known >= applied)
		sub->live = true;
	return true;
}

void subs_tick(struct subs *s, uint64_t now_ms)
{
	s->now_ms = now_ms;
	unsigned catchups = 0;
	for (size_t i = 0; i < s->n_all;) {
		struct sub *sub = s->all[i];
		size_t before = s->n_all;
		uint64_t *applied = applied_of(s, sub->group);
		size_t queued = s->hooks.queued(s->hooks.ctx, sub->conn);
		if (!sub->live && !sub->held && applied && catchups < s->cfg.max_catchups &&
		    queued < s->cfg.live_max_queued / 2) {
			catchups++;
			catch_up(s, sub, *applied);
		}
		if (s->n_all == before && sub->live && sub->sent < sub->known &&
		    now_ms - sub->last_event_ms >= s->cfg.progress_ms && queued < s->cfg.live_max_queued) {
			struct sub_event ev = {.kind = SUB_PROGRESS, .index = sub->known};
			if (!emit(s, sub, &ev))
				subs_remove(s, sub->conn);
		}
		if (s->n_all == before)
			i++;
	}
}

size_t subs_list(const struct subs *s, struct sub_info *out, size_t cap)
{
	for (size_t i = 0; i < s->n_all && i < cap; i++) {
		const struct sub *sub = s->all[i];
		out[i] = (struct sub_info){.conn = sub->conn, .group = sub->group, .sent = sub->sent, .live = sub->live,
					   .queued = s->hooks.queued(s->hooks.ctx, sub->conn)};
		size_t n = strlen(sub->root_path);
		if (n >= sizeof(out[i].root_path))
			n = sizeof(out[i].root_path) - 1;
		memcpy(out[i].root_path, sub->root_path, n);
		out[i].root_path[n] = '\0';
	}
	return s->n_all;
}

void subs_summarize(const struct subs *s, struct subs_summary *out)
{
	*out = (struct subs_summary){.subscribers = s->n_all};
	for (size_t i = 0; i < s->n_all; i++) {
		const struct sub *sub = s->all[i];
		uint64_t published = 0;
		for (size_t k = 0; k < s->n_groups; k++)
			if (s->groups[k].group == sub->group)
				published = s->groups[k].applied;
		uint64_t lag = published > sub->sent ? published - sub->sent : 0;
		out->catching_up += !sub->live;
		out->lag_sum += lag;
		if (lag > out->lag_max)
			out->lag_max = lag;
	}
}
