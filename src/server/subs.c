#include "src/server/subs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"
#include "src/server/arrival.h"

#define DEFAULT_LIVE_MAX_QUEUED (1u << 20)
#define DEFAULT_CATCHUP_BATCH (256u << 10)
#define DEFAULT_MAX_CATCHUPS 4
#define DEFAULT_PROGRESS_MS 100
/* Entries per catch-up step, whatever their size. */
#define CATCHUP_ENTRIES 256
/*
 * How long a stream across shards waits for the rest of a transaction's parts. They come (a committed
 * transaction is resolved everywhere, after a crash by recovery); a wait this long means this member
 * is cut off from a group, and a new snapshot is better than a stream that says nothing.
 */
#define TXN_PARTS_WAIT_MS 30000

/* A group split off below the root, followed from its birth: its entries wait until its source was looked at up to the split. */
struct sub_wait {
	uint64_t group;
	uint64_t source, split_index;
};

struct sub {
	uint64_t conn;
	/*
	 * The groups followed, each with the index every entry up to which was looked at for it: the root's
	 * group first, then the shards below the root. As an array it is the stream's position.
	 */
	struct sub_at *groups;
	size_t n_groups, cap_groups;
	struct sub_wait *waits;   /* groups whose entries wait for their source's split */
	size_t n_waits, cap_waits;
	uint64_t root;
	char *root_path;          /* follows renames and moves of the root */
	int depth;
	char **properties, **classes;
	size_t n_properties, n_classes;
	uint64_t sent;            /* the position last sent (changes or progress), or registered at */
	bool live;                /* false: it catches up from the history */
	bool held;                /* its snapshot is being made: nothing goes to it until subs_release() */
	uint64_t last_event_ms;
	uint64_t awaiting_since_ms; /* a transaction's other parts are awaited since then (0: none) */
	bool awaiting_parts;      /* out of live mode only until a transaction's other parts are applied here */
	bool due;                 /* and one of them was since: subs_turn() catches it up without waiting for a tick */
};

/* How many entries' times are kept for events made from the history. */
#define RECENT_TIMES_BITS 12
#define RECENT_TIMES (1u << RECENT_TIMES_BITS)

/* When an entry was committed and applied here, kept for a while after it was published. */
struct recent_times {
	uint64_t group, index;  /* index 0: empty */
	struct entry_times times;
};

struct subs {
	struct subs_config cfg;
	struct recent_times *recent; /* RECENT_TIMES slots by (group, index); a newer entry takes an older's slot */
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
	unsigned catchups;        /* catch-up steps since the last turn ended: ticks and turns share one cap */
	bool any_due;             /* some subscriber may be due (struct sub's due) */
	bool capped;              /* the last subs_turn() left due subscribers to the cap alone */
};

static struct recent_times *recent_slot(const struct subs *s, uint64_t group, uint64_t index)
{
	uint64_t h = (index ^ group << 40) * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing: the top bits are mixed */
	return &s->recent[h >> (64 - RECENT_TIMES_BITS)];
}

static void note_times(struct subs *s, uint64_t group, uint64_t index, const struct entry_times *times)
{
	if (s->recent && times)
		*recent_slot(s, group, index) = (struct recent_times){group, index, *times};
}

/*
 * The times of entry @p index of @p group if they are still kept, else NULL: an event made from the history
 * (a catch-up, or a transaction's parts together) says when its entries were committed and applied, as a
 * live one does, as long as they are recent.
 */
static const struct entry_times *times_of(const struct subs *s, uint64_t group, uint64_t index)
{
	const struct recent_times *r = s->recent ? recent_slot(s, group, index) : NULL;
	return r && r->index == index && r->group == group ? &r->times : NULL;
}

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
	if (!s->cfg.arrival_max_nodes)
		s->cfg.arrival_max_nodes = ARRIVAL_DEFAULT_MAX_NODES;
	if (!s->cfg.arrival_max_bytes)
		s->cfg.arrival_max_bytes = ARRIVAL_DEFAULT_MAX_BYTES;
	s->history = history;
	s->hooks = *hooks;
	s->recent = calloc(RECENT_TIMES, sizeof(*s->recent)); /* without it, events from the history carry no times */
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
	free(sub->groups);
	free(sub->waits);
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
	free(s->recent);
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

/* @p v in decimal at @p out (room for 20 digits). @return the digits written. */
static size_t put_decimal(char *out, uint64_t v)
{
	char digits[20];
	size_t n = 0;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	for (size_t i = 0; i < n; i++)
		out[i] = digits[n - 1 - i];
	return n;
}

/* Every event of every subscriber carries its position: printf's parsing would cost more than the rest. */
char *subs_position_format(const struct sub_at *at, size_t n)
{
	char *text = malloc(n * 42 + 1); /* two 20-digit numbers, a colon and a comma each */
	size_t len = 0;
	for (size_t i = 0; text && i < n; i++) {
		if (i)
			text[len++] = ',';
		len += put_decimal(text + len, at[i].group);
		text[len++] = ':';
		len += put_decimal(text + len, at[i].index);
	}
	if (text)
		text[len] = '\0';
	return text;
}

/* A decimal number at *@p p (no sign, at most 20 digits, within 64 bits), @p p moved past it. */
static bool parse_number(const char **p, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;
	if (*q < '0' || *q > '9')
		return false;
	for (; *q >= '0' && *q <= '9'; q++) {
		uint64_t d = (uint64_t)(*q - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = q;
	*out = v;
	return true;
}

int subs_position_parse(const char *text, struct sub_at **out, size_t *n, char *why, size_t why_cap)
{
	*out = NULL;
	*n = 0;
	size_t count = 1;
	for (const char *p = text; *p; p++)
		count += *p == ',';
	if (!*text || count > SUBS_POSITION_MAX_GROUPS) {
		snprintf(why, why_cap, "a position names 1 to %d shards", SUBS_POSITION_MAX_GROUPS);
		return GROVE_EINVAL;
	}
	struct sub_at *at = malloc(count * sizeof(*at));
	if (!at)
		return GROVE_ENOMEM;
	const char *p = text;
	for (size_t i = 0; i < count; i++) {
		bool ok = parse_number(&p, &at[i].group) && *p++ == ':' && parse_number(&p, &at[i].index) &&
			  *p == (i + 1 < count ? ',' : '\0') && at[i].group > 0;
		for (size_t k = 0; ok && k < i; k++)
			ok = at[k].group != at[i].group;
		if (!ok) {
			snprintf(why, why_cap, "a position is \"group:index\" pairs (groups above 0, each once) joined by commas, "
				 "as the server sent it; pair %zu is not", i + 1);
			free(at);
			return GROVE_EINVAL;
		}
		p++;
	}
	*out = at;
	*n = count;
	return GROVE_OK;
}

uint64_t subs_position(const uint64_t *at, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += at[i];
	return sum;
}

/* The stream's position now: where each of its groups was looked at up to, together. */
static uint64_t position(const struct sub *sub)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < sub->n_groups; i++)
		sum += sub->groups[i].index;
	return sum;
}

static struct sub_at *group_of(const struct sub *sub, uint64_t group)
{
	for (size_t i = 0; i < sub->n_groups; i++)
		if (sub->groups[i].group == group)
			return &sub->groups[i];
	return NULL;
}

/* Follow @p group from entry @p known on as well (nothing if it does already). @return false if out of memory. */
static bool follow_group(struct subs *s, struct sub *sub, uint64_t group, uint64_t known)
{
	if (group_of(sub, group))
		return true;
	if (!applied_of(s, group) ||
	    grove_grow((void **)&sub->groups, &sub->cap_groups, sub->n_groups, sizeof(*sub->groups)))
		return false;
	sub->groups[sub->n_groups++] = (struct sub_at){group, known};
	return true;
}

/* Whether every group of @p sub applied no more here than it was looked at for. */
static bool caught_up(struct subs *s, const struct sub *sub)
{
	for (size_t i = 0; i < sub->n_groups; i++) {
		uint64_t *applied = applied_of(s, sub->groups[i].group);
		if (applied && sub->groups[i].index < *applied)
			return false;
	}
	return true;
}

static int add(struct subs *s, uint64_t conn, const struct sub_spec *spec, const uint64_t *from, bool held)
{
	subs_remove(s, conn);
	struct sub *sub = calloc(1, sizeof(*sub));
	bool oom = !sub;
	if (sub) {
		*sub = (struct sub){.conn = conn, .root = spec->root, .depth = spec->depth,
				    .n_properties = spec->n_properties, .n_classes = spec->n_classes,
				    .sent = subs_position(from, spec->n_groups), .held = held, .last_event_ms = s->now_ms};
		for (size_t i = 0; i < spec->n_groups && !oom; i++)
			oom = !follow_group(s, sub, spec->groups[i], from[i]);
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
	sub->live = !held && caught_up(s, sub);
	return GROVE_OK;
}

/* Refuse a resume: a new snapshot is needed, for the reason formatted. @return GROVE_ERANGE. */
static int refuse(struct sub_refusal *why, uint64_t oldest, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int refuse(struct sub_refusal *why, uint64_t oldest, const char *fmt, ...)
{
	why->oldest = oldest;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why->reason, sizeof(why->reason), fmt, ap);
	va_end(ap);
	return GROVE_ERANGE;
}

/* Where @p from puts @p group: its index there, or false if it does not name it. */
static bool named(const struct sub_at *from, size_t n, uint64_t group, uint64_t *index)
{
	for (size_t i = 0; i < n; i++)
		if (from[i].group == group) {
			*index = from[i].index;
			return true;
		}
	return false;
}

/* Which group of @p spec @p group is (spec->n_groups if none). */
static size_t spec_slot(const struct sub_spec *spec, uint64_t group)
{
	size_t i = 0;
	while (i < spec->n_groups && spec->groups[i] != group)
		i++;
	return i;
}

/*
 * Where each group of @p spec resumes from (into @p at), and which wait for their source's split (into
 * @p waits, one per group at most). @return GROVE_OK, or GROVE_ERANGE with @p why.
 */
static int resume_points(const struct sub_spec *spec, const struct sub_span *span, const struct sub_at *from,
			 size_t n_from, uint64_t *at, struct sub_wait *waits, size_t *n_waits, struct sub_refusal *why)
{
	for (size_t i = 0; i < n_from; i++)
		if (spec_slot(spec, from[i].group) == spec->n_groups)
			return refuse(why, 0, "the position names shard %llu, which holds no part of this subtree now",
				      (unsigned long long)from[i].group);
	*n_waits = 0;
	for (size_t i = 0; i < spec->n_groups; i++) {
		if (named(from, n_from, spec->groups[i], &at[i]))
			continue;
		/*
		 * Split off since: below the root, or the root's own group when the subtree moved into a shard of
		 * its own. Its part of the subtree was in its source until the split and is in its own log from its
		 * birth on, so that is exact, provided nothing of its own goes out before what its source applied up
		 * to the split.
		 */
		size_t src = spec_slot(spec, span[i].source);
		uint64_t src_at = 0;
		if (i == 0 && (!span[0].split_index || src == spec->n_groups || !named(from, n_from, span[0].source, &src_at)))
			return refuse(why, 0, "the subscribed node is in shard %llu now, which the position does not name",
				      (unsigned long long)spec->groups[0]);
		if (!span[i].split_index || src == spec->n_groups || src == i ||
		    (!named(from, n_from, span[i].source, &src_at) && spec_slot(spec, span[src].source) == spec->n_groups))
			return refuse(why, 0, "shard %llu split off below the subscribed node since that position, from shard "
				      "%llu, which the position does not follow", (unsigned long long)spec->groups[i],
				      (unsigned long long)span[i].source);
		at[i] = span[i].born;
		if (src_at < span[i].split_index)
			waits[(*n_waits)++] = (struct sub_wait){spec->groups[i], span[i].source, span[i].split_index};
	}
	return GROVE_OK;
}

/* Whether the history holds every entry of @p spec's groups after @p at that is applied. @return GROVE_OK, GROVE_ERANGE with @p why, or an error. */
static int history_holds(struct subs *s, const struct sub_spec *spec, const struct sub_span *span, const uint64_t *at,
			 struct sub_refusal *why)
{
	struct store_txn *txn = NULL;
	int err = GROVE_OK;
	for (size_t i = 0; i < spec->n_groups && !err; i++) {
		if (at[i] >= span[i].applied)
			continue;
		if (!txn && !(txn = s->hooks.read_txn(s->hooks.ctx)))
			return GROVE_ESTORAGE;
		uint64_t oldest = 0;
		err = history_oldest(s->history, txn, spec->groups[i], &oldest);
		if (!err && (!oldest || oldest > at[i] + 1))
			err = refuse(why, oldest, "the change history of shard %llu no longer holds what follows index %llu",
				     (unsigned long long)spec->groups[i], (unsigned long long)at[i]);
	}
	if (txn)
		store_txn_abort(txn);
	return err;
}

int subs_resume(struct subs *s, uint64_t conn, const struct sub_spec *spec, const struct sub_span *span,
		const struct sub_at *from, size_t n_from, uint64_t *resumed_at, struct sub_refusal *why)
{
	*why = (struct sub_refusal){0};
	struct sub_wait *waits = malloc(spec->n_groups * sizeof(*waits));
	if (!waits)
		return GROVE_ENOMEM;
	size_t n_waits = 0;
	int err = resume_points(spec, span, from, n_from, resumed_at, waits, &n_waits, why);
	if (!err)
		err = history_holds(s, spec, span, resumed_at, why);
	for (size_t i = 0; i < spec->n_groups && !err; i++) {
		uint64_t *published = applied_of(s, spec->groups[i]);
		if (!published)
			err = GROVE_ENOMEM;
		else if (span[i].applied > *published)
			*published = span[i].applied;
	}
	if (!err)
		err = add(s, conn, spec, resumed_at, false);
	struct sub *sub = err ? NULL : idmap_get(&s->by_conn, 0, conn);
	if (sub && n_waits) {
		sub->waits = waits;
		sub->n_waits = sub->cap_waits = n_waits;
		waits = NULL;
	}
	free(waits);
	return err;
}

int subs_add(struct subs *s, uint64_t conn, const struct sub_spec *spec, uint64_t from, uint64_t applied,
	     uint64_t *oldest)
{
	*oldest = 0;
	if (spec->n_groups != 1)
		return GROVE_EINVAL;
	struct sub_span span = {.applied = applied};
	struct sub_at at = {spec->groups[0], from};
	struct sub_refusal why;
	uint64_t resumed;
	int err = subs_resume(s, conn, spec, &span, &at, 1, &resumed, &why);
	*oldest = why.oldest;
	return err;
}

int subs_add_held(struct subs *s, uint64_t conn, const struct sub_spec *spec, const uint64_t *at)
{
	for (size_t i = 0; i < spec->n_groups; i++) {
		uint64_t *published = applied_of(s, spec->groups[i]);
		if (!published)
			return GROVE_ENOMEM;
		if (at[i] > *published)
			*published = at[i];
	}
	return add(s, conn, spec, at, true);
}

void subs_release(struct subs *s, uint64_t conn)
{
	struct sub *sub = idmap_get(&s->by_conn, 0, conn);
	if (!sub || !sub->held)
		return;
	sub->held = false;
	sub->live = caught_up(s, sub);
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
	/* A connection is the subtree's while both ends are in it, as in a snapshot; an end whose path the
	 * record does not know (in another shard) is taken as in. */
	if ((c->op == TREE_OP_CONNECT || c->op == TREE_OP_DISCONNECT) && now && c->old_path_step != TREE_NO_PATH)
		now = inside(sub, places, c->old_path_step);
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

/*
 * Whether @p g's entries may go to @p sub: a group resumed from its birth waits until its source was looked
 * at up to the split (then it never waits again).
 */
static bool may_advance(struct sub *sub, const struct sub_at *g)
{
	for (size_t i = 0; i < sub->n_waits; i++) {
		if (sub->waits[i].group != g->group)
			continue;
		const struct sub_at *src = group_of(sub, sub->waits[i].source);
		if (src && src->index < sub->waits[i].split_index)
			return false;
		sub->waits[i] = sub->waits[--sub->n_waits];
		break;
	}
	return true;
}

static bool emit(struct subs *s, struct sub *sub, struct sub_event *ev)
{
	ev->prev = sub->sent;
	if (ev->kind != SUB_COMPACTED)
		ev->at = sub->groups, ev->n_at = sub->n_groups;
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

/* What one event for a subscriber is made of while its changes are picked. */
struct delivery {
	struct tree_change *mine;     /* the changes it is given (borrowed from the entry's or from made) */
	size_t kept, cap;
	struct tree_change *made;     /* the changes of subtrees moved in from outside (borrowed from the entry or from read) */
	size_t n_made, cap_made;
	struct tree_change *read;     /* those of them read from the tree, owned */
	size_t n_read, cap_read;
	const struct tree_paths *paths; /* the entry's steps, or ext once arrivals added steps to them */
	struct tree_paths ext;        /* the entry's steps (borrowed), then the arrivals' (owned) from base on */
	size_t base;
	struct place *places;         /* where each step of paths stands against the subscriber's root */
	struct idmap arrived;         /* (0, id) -> non-NULL: a node an arrival made, as the entry left it */
	uint64_t *roots;              /* the moved nodes that arrivals made */
	size_t n_roots, cap_roots;
	bool *region;                 /* per step of paths: its node or an ancestor step's is one arrivals made (NULL: none yet) */
};

static const char out_of_memory[] = "the server ran out of memory for this subscriber";

/* Room in d->mine for @p need changes. @return false if out of memory. */
static bool room(struct delivery *d, struct tree_change *stack, size_t need)
{
	if (need <= d->cap)
		return true;
	struct tree_change *grown = d->mine == stack ? malloc(need * sizeof(*grown)) : realloc(d->mine, need * sizeof(*grown));
	if (!grown)
		return false;
	if (d->mine == stack)
		memcpy(grown, stack, d->kept * sizeof(*grown));
	d->mine = grown;
	d->cap = need;
	return true;
}

/*
 * Whether the state the hooks' read transaction sees is exactly the one right after the event @p sub is
 * being given: every group it follows has applied here no more than it has been given of it. Live, that
 * is when the entry was the last of its group's ready (the host publishes a ready's entries once all of
 * them are applied); caught up, when the entry is the last one applied of its group and no other group it
 * follows applied anything after what it was given (so a transaction's parts handed out at the end of
 * the turn that applied the last one qualify, if nothing followed them).
 */
static bool state_is_event(struct subs *s, const struct sub *sub)
{
	for (size_t k = 0; k < sub->n_groups; k++) {
		uint64_t applied = 0;
		if (!s->hooks.tree || !s->hooks.tree(s->hooks.ctx, sub->groups[k].group, &applied) ||
		    applied != sub->groups[k].index)
			return false;
	}
	return true;
}

/* The tree of one of @p sub's groups that holds node @p id in @p txn (a node is in one group at a time), or NULL. */
static const struct tree *holder(struct subs *s, const struct sub *sub, struct store_txn *txn, uint64_t id)
{
	for (size_t k = 0; k < sub->n_groups; k++) {
		uint64_t applied;
		const struct tree *t = s->hooks.tree(s->hooks.ctx, sub->groups[k].group, &applied);
		struct tree_node node;
		if (t && tree_get_node(t, txn, id, &node) == GROVE_OK) {
			tree_node_free(&node);
			return t;
		}
	}
	return NULL;
}

/* Append @p n changes (borrowed) to d->made. @return false if out of memory. */
static bool add_made(struct delivery *d, const struct tree_change *changes, size_t n)
{
	if (d->n_made + n > d->cap_made) {
		struct tree_change *grown = realloc(d->made, (d->n_made + n) * sizeof(*grown));
		if (!grown)
			return false;
		d->made = grown;
		d->cap_made = d->n_made + n;
	}
	memcpy(d->made + d->n_made, changes, n * sizeof(*changes));
	d->n_made += n;
	return true;
}

/*
 * The arrival of move @p c, for a record that does not carry it: read from the state right after the event
 * into d->read and d->made. A subscriber given the event when the state has moved on since (it catches up,
 * or the entry was not the last of its ready) cannot be told what the subtree was then: it takes a new
 * snapshot. *@p txn is the read transaction, begun here if NULL (*@p begun then).
 * @return NULL, or why @p sub must take a new snapshot.
 */
static const char *read_arrival(struct subs *s, struct sub *sub, struct store_txn **txn, bool *begun,
				const struct tree_change *c, struct delivery *d)
{
	static const char moved_in[] = "nodes moved into the subtree from outside it while this subscriber was behind; "
				       "take a new snapshot";
	if (!state_is_event(s, sub))
		return moved_in;
	if (!*txn) {
		*txn = s->hooks.read_txn(s->hooks.ctx);
		*begun = *txn != NULL;
		if (!*txn)
			return moved_in;
	}
	const struct tree *t = holder(s, sub, *txn, c->node);
	if (!t)
		return moved_in;
	if (!d->ext.steps) {
		size_t n = d->paths->n;
		if (!(d->ext.steps = malloc((n ? n : 1) * sizeof(*d->ext.steps))))
			return out_of_memory;
		memcpy(d->ext.steps, d->paths->steps, n * sizeof(*d->ext.steps));
		d->ext.n = d->ext.cap = d->base = n;
		d->paths = &d->ext;
	}
	size_t from = d->n_read;
	struct arrival_limits limits = {s->cfg.arrival_max_nodes, s->cfg.arrival_max_bytes};
	struct tree_view view = {0};
	const struct tree *outside = s->hooks.view && s->hooks.view(s->hooks.ctx, &view) == GROVE_OK
					     ? tree_view_group(&view, t->group) : NULL;
	int err = arrival_changes(t, outside, *txn, c, &d->ext, &limits, &d->read, &d->n_read, &d->cap_read);
	tree_view_free(&view);
	if (err == GROVE_ETOOBIG)
		return "a subtree too large for the stream moved into the subtree from outside it; take a new snapshot";
	if (err == GROVE_ECHANGED)
		return "nodes moved into the subtree from outside it and on again in the same entry; take a new snapshot";
	if (err)
		return err == GROVE_ENOMEM ? out_of_memory : moved_in;
	if (!add_made(d, d->read + from, d->n_read - from))
		return out_of_memory;
	free(d->places);
	return (d->places = place_steps(sub->root_path, d->paths)) ? NULL : out_of_memory;
}

/*
 * Move @p changes[@p i] brought a subtree into @p sub's from outside it: the subscriber never had those nodes,
 * so it is given their creation instead (arrival.h), filtered as any change: the changes the entry carried
 * after the move, or else those read from the tree (read_arrival()); the entry has @p n changes.
 * @return NULL, or why @p sub must take a new snapshot.
 */
static const char *arrive(struct subs *s, struct sub *sub, struct store_txn **txn, bool *begun,
			  const struct tree_change *changes, size_t i, size_t n, struct delivery *d,
			  struct tree_change *stack)
{
	const struct tree_change *c = &changes[i];
	size_t from = d->n_made, carried = 0;
	while (i + 1 + carried < n && changes[i + 1 + carried].carried)
		carried++;
	if (carried) {
		if (!add_made(d, c + 1, carried))
			return out_of_memory;
	} else {
		const char *why = read_arrival(s, sub, txn, begun, c, d);
		if (why)
			return why;
	}
	if (!room(d, stack, d->kept + d->n_made - from + n - i - 1) ||
	    grove_grow((void **)&d->roots, &d->cap_roots, d->n_roots, sizeof(*d->roots)))
		return out_of_memory;
	d->roots[d->n_roots++] = c->node;
	for (size_t k = from; k < d->n_made; k++) {
		if (d->made[k].op == TREE_OP_CREATE && idmap_put(&d->arrived, 0, d->made[k].node, d))
			return out_of_memory;
		/* Connections go last (connections_last()): a target may arrive later in the entry. */
		if (d->made[k].op != TREE_OP_CONNECT && relevance(sub, d->places, &d->made[k]) == 1)
			d->mine[d->kept++] = d->made[k];
	}
	bool *region = realloc(d->region, (d->paths->n ? d->paths->n : 1) * sizeof(*region));
	if (!region)
		return out_of_memory;
	d->region = region;
	for (size_t k = 0; k < d->paths->n; k++) {
		const struct tree_path_step *step = &d->paths->steps[k];
		region[k] = idmap_get(&d->arrived, 0, step->node) || (step->up != TREE_NO_PATH && region[step->up]);
	}
	return NULL;
}

/*
 * Whether change @p c, later in the entry than an arrival, concerns what arrivals made: they made the
 * state the entry left, so such a change is in them already (a node they made, or one that was in their
 * subtrees for a while and left it or was deleted), except a reorder of a moved node itself, which places
 * it among siblings the subscriber has as they were placed.
 */
static bool arrived_already(const struct delivery *d, const struct tree_change *c)
{
	if (!d->region || c->op == TREE_OP_PUT_RESOURCE)
		return false;
	if (idmap_get(&d->arrived, 0, c->node)) {
		for (size_t i = 0; c->op == TREE_OP_REORDER && i < d->n_roots; i++)
			if (d->roots[i] == c->node)
				return false;
		return true;
	}
	return (c->path_step != TREE_NO_PATH && d->region[c->path_step]) ||
	       (c->old_path_step != TREE_NO_PATH && d->region[c->old_path_step]);
}

/* Whether @p a and @p b are the same connection (a record read back has NULL for an empty string). */
static bool same_connection(const struct tree_change *a, const struct tree_change *b)
{
	return a->node == b->node && a->parent == b->parent &&
	       strcmp(a->name ? a->name : "", b->name ? b->name : "") == 0 &&
	       strcmp(a->text ? a->text : "", b->text ? b->text : "") == 0;
}

/*
 * The connections arrivals made, after everything else of the entry: they are the entry's last state, so
 * both their ends are there by the end of it (an arrival made later in the entry may hold the target).
 * One between two arrivals' subtrees came with both: it is given once. @return false if out of memory.
 */
static bool connections_last(const struct sub *sub, struct delivery *d)
{
	struct idmap given = {0}; /* (source, target) -> the first connection given between them */
	size_t from = d->kept;
	bool ok = true;
	for (size_t i = 0; i < d->n_made && ok; i++) {
		struct tree_change *c = &d->made[i];
		if (c->op != TREE_OP_CONNECT || relevance(sub, d->places, c) != 1)
			continue;
		const struct tree_change *first = idmap_get(&given, c->node, c->parent);
		bool again = first && same_connection(first, c);
		for (size_t k = from; first && !again && k < d->kept; k++)
			again = same_connection(&d->mine[k], c); /* rare: two signals between the same nodes */
		if (again)
			continue;
		ok = first || idmap_put(&given, c->node, c->parent, c) == GROVE_OK;
		d->mine[d->kept++] = *c; /* arrive() made room for every change it made */
	}
	idmap_free(&given);
	return ok;
}

static void delivery_free(struct delivery *d, struct tree_change *stack)
{
	if (d->mine != stack)
		free(d->mine);
	free(d->places);
	free(d->made);
	for (size_t i = 0; i < d->n_read; i++)
		tree_change_free(&d->read[i]);
	free(d->read);
	for (size_t i = d->base; i < d->ext.n; i++)
		free(d->ext.steps[i].name); /* the steps before base are the entry's */
	free(d->ext.steps);
	idmap_free(&d->arrived);
	free(d->roots);
	free(d->region);
}

/*
 * Give @p sub what an entry (or a transaction's parts together) changed in its subtree, its groups'
 * positions already moved past it, reading the tree (for moves into the subtree) through @p txn, or
 * through one of the hooks' if NULL. @return false if @p sub was dropped.
 */
static bool deliver(struct subs *s, struct sub *sub, struct store_txn *txn, const struct tree_change *changes,
		    size_t n, const struct tree_paths *paths, const struct entry_times *times)
{
	struct tree_change stack[32];
	struct delivery d = {.mine = n <= 32 ? stack : malloc(n * sizeof(*d.mine)), .cap = n <= 32 ? 32 : n,
			     .paths = paths, .places = n ? place_steps(sub->root_path, paths) : NULL};
	const char *resync = !d.mine || (n && !d.places) ? out_of_memory : NULL;
	bool begun = false, whole = true;
	for (size_t i = 0; i < n && !resync; i++) {
		const struct tree_change *c = &changes[i];
		if (c->carried)
			continue; /* arrive() took it, or the subscriber has what it describes */
		bool into = c->op == TREE_OP_MOVE && inside(sub, d.places, c->path_step) && c->node != sub->root;
		int r = relevance(sub, d.places, c);
		bool verbatim = false;
		if (arrived_already(&d, c)) {
			/* A node that was in an arrived subtree for a while and moved on into the subtree: it arrives too. */
			if (into && !idmap_get(&d.arrived, 0, c->node))
				resync = arrive(s, sub, &txn, &begun, changes, i, n, &d, stack);
		} else if (into && c->old_path_step != TREE_NO_PATH && !inside(sub, d.places, c->old_path_step)) {
			resync = arrive(s, sub, &txn, &begun, changes, i, n, &d, stack);
		} else if (r == 1) {
			d.mine[d.kept++] = *c;
			verbatim = true;
		} else if (r == 2) {
			d.mine[d.kept] = *c;
			d.mine[d.kept].op = TREE_OP_DELETE; /* it left the subtree: for this subscriber it is gone */
			d.mine[d.kept++].path_step = c->old_path_step;
		}
		whole = whole && verbatim;
		if (!resync && follow_root(sub, d.paths, c)) {
			free(d.places);
			if (!(d.places = place_steps(sub->root_path, d.paths)))
				resync = out_of_memory;
		}
	}
	if (begun)
		store_txn_abort(txn);
	if (!resync && !connections_last(sub, &d))
		resync = out_of_memory;
	bool ok = true;
	if (resync) {
		compact(s, sub, 0, resync);
		ok = false;
	} else if (d.kept) {
		struct sub_event ev = {.kind = SUB_CHANGES, .index = position(sub), .changes = d.mine, .n_changes = d.kept,
				       .paths = d.paths, .committed_ns = times ? times->committed_ns : 0,
				       .applied_ns = times ? times->applied_ns : 0, .whole = whole};
		if (!emit(s, sub, &ev)) {
			subs_remove(s, sub->conn);
			ok = false;
		}
	}
	delivery_free(&d, stack);
	return ok;
}

/* Whether @p txn, applied in @p group, has a part in another group @p sub follows: then the parts go together. */
static bool awaits_parts(const struct sub *sub, const struct change_txn *txn, uint64_t group)
{
	for (size_t i = 0; txn && i < txn->n_groups; i++)
		if (txn->groups[i] != group && group_of(sub, txn->groups[i]))
			return true;
	return false;
}

void subs_publish(struct subs *s, uint64_t group, uint64_t index, const struct tree_change *changes, size_t n,
		  const struct tree_paths *paths, const struct entry_times *times, const struct change_txn *txn)
{
	uint64_t *applied = applied_of(s, group);
	if (applied && index > *applied)
		*applied = index;
	note_times(s, group, index, times);
	for (size_t i = 0; i < s->n_all;) {
		struct sub *sub = s->all[i];
		size_t before = s->n_all;
		struct sub_at *g = group_of(sub, group);
		if (g && sub->live && index > g->index) {
			/*
			 * Over its queue, or a transaction's first part: the history serves it, once the rest is there.
			 * So it does an entry that does not follow the last one given (never expected: every applied
			 * entry is published, and subs_installed() drops those a snapshot skips): the history has what
			 * lies between, or says it is gone, and nothing is skipped silently.
			 */
			bool full = s->hooks.queued(s->hooks.ctx, sub->conn) > s->cfg.live_max_queued || !may_advance(sub, g);
			bool gap = index != g->index + 1;
			if (full || gap || awaits_parts(sub, txn, group)) {
				sub->live = false;
				sub->awaiting_parts = !full && !gap;
				if (gap)
					sub->due = s->any_due = true;
			} else {
				g->index = index;
				deliver(s, sub, NULL, changes, n, paths, times);
			}
		} else if (g && sub->awaiting_parts && awaits_parts(sub, txn, group)) {
			/*
			 * Another part: maybe the last one. Its record is in the history once the turn's applies are
			 * committed, so the turn's end can hand the parts out rather than the next tick.
			 */
			sub->due = s->any_due = true;
		}
		if (s->n_all == before)
			i++;
	}
}

/*
 * @p sub follows @p to, split off its source @p group at @p index, from its birth: when @p sub has not looked
 * at its source up to the split yet (it is catching up), what @p to applied waits until it has, or a part
 * of the subtree could show its state after the split before its last changes in the source.
 */
static bool follow_split(struct subs *s, struct sub *sub, uint64_t group, uint64_t index, uint64_t to, uint64_t born_at)
{
	bool new_group = !group_of(sub, to);
	if (!follow_group(s, sub, to, born_at))
		return false;
	const struct sub_at *source = group_of(sub, group);
	if (!new_group || !source || source->index >= index)
		return true;
	if (grove_grow((void **)&sub->waits, &sub->cap_waits, sub->n_waits, sizeof(*sub->waits)))
		return false;
	sub->waits[sub->n_waits++] = (struct sub_wait){to, group, index};
	return true;
}

/* Put @p group first among @p sub's groups, where the root's group stands (grove subscribers shows it). */
static void root_group_first(struct sub *sub, uint64_t group)
{
	for (size_t i = sub->n_groups; i-- > 1;)
		if (sub->groups[i].group == group) {
			struct sub_at first = sub->groups[i];
			memmove(&sub->groups[1], &sub->groups[0], i * sizeof(*sub->groups));
			sub->groups[0] = first;
			return;
		}
}

void subs_moved(struct subs *s, uint64_t group, uint64_t index, const char *path, uint64_t to, uint64_t born_at)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < s->n_all;) {
		struct sub *sub = s->all[i];
		const char *root = sub->root_path;
		size_t r = strlen(root);
		bool follows = group_of(sub, group) != NULL;
		bool moved = follows && strncmp(root, path, n) == 0 && (root[n] == '\0' || root[n] == '/');
		/* A shard split off inside the subtree, or the subtree moved into one: followed there from now on. */
		bool split_inside = follows && n > r && strncmp(path, root, r) == 0 && path[r] == '/';
		if ((moved || split_inside) && !follow_split(s, sub, group, index, to, born_at)) {
			compact(s, sub, 0, out_of_memory); /* it leaves s->all */
			continue;
		}
		if (moved)
			root_group_first(sub, to);
		i++;
	}
}

void subs_installed(struct subs *s, uint64_t group, uint64_t index)
{
	uint64_t *applied = applied_of(s, group);
	if (applied && index > *applied)
		*applied = index;
	char reason[160];
	snprintf(reason, sizeof(reason), "this member's copy of shard %llu was replaced by a snapshot at index %llu, "
		 "past this subscriber's position; take a new snapshot", (unsigned long long)group, (unsigned long long)index);
	for (size_t i = 0; i < s->n_all;) {
		const struct sub_at *g = group_of(s->all[i], group);
		if (g && g->index < index) {
			compact(s, s->all[i], 0, reason); /* it leaves s->all */
			continue;
		}
		i++;
	}
}

/* ---- catching up ---- */

/* The next entry of one of a subscriber's groups, decoded. */
struct next_entry {
	bool read;                  /* it was read this step */
	struct tree_change *changes;
	size_t n;
	struct tree_paths paths;
	struct change_txn txn;      /* the transaction it applied a part of (n_groups 0: none) */
	size_t bytes;               /* its record's size */
};

static void next_entry_free(struct next_entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		tree_change_free(&e->changes[i]);
	free(e->changes);
	tree_paths_free(&e->paths);
	free(e->txn.groups);
	*e = (struct next_entry){0};
}

static int decode_next(void *ctx, uint64_t index, const uint8_t *bytes, size_t len)
{
	(void)index;
	struct next_entry *e = ctx;
	int err = history_decode(bytes, len, &e->changes, &e->n, &e->paths, &e->txn);
	e->read = !err;
	e->bytes = len;
	return err;
}

/* One catch-up step of a subscriber: what its groups applied, through a read transaction, within a budget. */
struct catchup {
	struct subs *s;
	struct sub *sub;
	struct store_txn *txn;
	struct next_entry *next;    /* per group of sub: the entry after its known one, once read */
	size_t entries, bytes;      /* spent so far */
};

enum step { STEP_DONE, STEP_DELIVERED, STEP_AWAITS, STEP_DROPPED };

/* Read the entry after group @p k's known one into cu->next[k]. @return GROVE_OK, GROVE_ERANGE (gone), or an error. */
static int read_next(struct catchup *cu, size_t k)
{
	struct sub_at *g = &cu->sub->groups[k];
	next_entry_free(&cu->next[k]);
	int err = history_read(cu->s->history, cu->txn, g->group, g->index + 1, 1, SIZE_MAX, decode_next, &cu->next[k]);
	if (!err && !cu->next[k].read)
		err = GROVE_ERANGE; /* every applied entry has a record: a missing one was dropped behind it */
	cu->entries++;
	cu->bytes += cu->next[k].bytes;
	return err;
}

static bool left_group(const struct tree_change *c)
{
	return c->op == TREE_OP_MOVE && (c->flags & TREE_MOVE_LEFT_GROUP);
}

static bool whole_move_of(const struct tree_change *c, size_t from, size_t to, uint64_t node)
{
	for (size_t k = from; k < to; k++)
		if (c[k].op == TREE_OP_MOVE && c[k].node == node && !left_group(&c[k]))
			return true;
	return false;
}

/* Drop the halves of moves that left a group when the transaction's other part holds the whole move. */
static size_t whole_moves(struct tree_change *c, size_t n)
{
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		/* What is kept so far sits in [0, kept), what is still to look at in (i, n). */
		bool half = left_group(&c[i]) && (whole_move_of(c, 0, kept, c[i].node) || whole_move_of(c, i + 1, n, c[i].node));
		if (!half)
			c[kept++] = c[i];
	}
	return kept;
}

/*
 * The parts of transaction @p id that groups @p parts (flags per group) read: one event, their changes in
 * the groups' order, their paths' steps one after the other. Everything is borrowed from cu->next.
 */
static bool deliver_parts(struct catchup *cu, const bool *parts)
{
	size_t n = 0, steps = 0;
	for (size_t k = 0; k < cu->sub->n_groups; k++)
		if (parts[k])
			n += cu->next[k].n, steps += cu->next[k].paths.n;
	struct tree_change *changes = malloc((n ? n : 1) * sizeof(*changes));
	struct tree_paths paths = {malloc((steps ? steps : 1) * sizeof(*paths.steps)), 0, steps};
	if (!changes || !paths.steps) {
		free(changes);
		free(paths.steps);
		compact(cu->s, cu->sub, 0, out_of_memory);
		return false;
	}
	n = 0;
	/* The event's times are its last part's: when the transaction had been committed and applied whole. */
	struct entry_times times = {0, 0};
	bool timed = true;
	for (size_t k = 0; k < cu->sub->n_groups; k++) {
		if (!parts[k])
			continue;
		const struct next_entry *e = &cu->next[k];
		const struct entry_times *t = times_of(cu->s, cu->sub->groups[k].group, cu->sub->groups[k].index + 1);
		timed = timed && t;
		if (t && t->committed_ns > times.committed_ns)
			times.committed_ns = t->committed_ns;
		if (t && t->applied_ns > times.applied_ns)
			times.applied_ns = t->applied_ns;
		uint32_t offset = (uint32_t)paths.n;
		for (size_t i = 0; i < e->paths.n; i++) {
			paths.steps[paths.n] = e->paths.steps[i];
			if (e->paths.steps[i].up != TREE_NO_PATH)
				paths.steps[paths.n].up += offset;
			paths.n++;
		}
		for (size_t i = 0; i < e->n; i++) {
			changes[n] = e->changes[i];
			if (changes[n].path_step != TREE_NO_PATH)
				changes[n].path_step += offset;
			if (changes[n].old_path_step != TREE_NO_PATH)
				changes[n].old_path_step += offset;
			n++;
		}
		cu->sub->groups[k].index++;
	}
	bool kept = deliver(cu->s, cu->sub, cu->txn, changes, whole_moves(changes, n), &paths, timed ? &times : NULL);
	free(changes);
	free(paths.steps); /* the steps' names are the entries' */
	return kept;
}

/* Hand out group @p k's next entries until a transaction's part waits for others. */
static enum step advance_group(struct catchup *cu, size_t k, uint64_t applied, int *err)
{
	enum step done = STEP_DONE;
	if (!may_advance(cu->sub, &cu->sub->groups[k]))
		return STEP_DONE;
	while (cu->sub->groups[k].index < applied && cu->entries < CATCHUP_ENTRIES &&
	       cu->bytes < cu->s->cfg.catchup_batch) {
		if ((*err = read_next(cu, k)) != GROVE_OK)
			return STEP_DONE;
		struct next_entry *e = &cu->next[k];
		if (awaits_parts(cu->sub, &e->txn, cu->sub->groups[k].group))
			return STEP_AWAITS;
		cu->sub->groups[k].index++;
		const struct entry_times *times = times_of(cu->s, cu->sub->groups[k].group, cu->sub->groups[k].index);
		if (!deliver(cu->s, cu->sub, cu->txn, e->changes, e->n, &e->paths, times))
			return STEP_DROPPED;
		next_entry_free(e);
		done = STEP_DELIVERED;
	}
	return done;
}

/*
 * Whether every part of the transaction group @p k waits with is waiting likewise in the groups of the
 * subscriber that it names; @p parts receives which groups hold them.
 */
static bool parts_complete(const struct catchup *cu, size_t k, const enum step *state, bool *parts)
{
	const struct change_txn *t = &cu->next[k].txn;
	for (size_t j = 0; j < cu->sub->n_groups; j++) {
		const struct next_entry *e = &cu->next[j];
		bool named = false;
		for (size_t g = 0; g < t->n_groups; g++)
			named |= t->groups[g] == cu->sub->groups[j].group;
		parts[j] = named && state[j] == STEP_AWAITS && e->txn.n_groups && e->txn.id == t->id;
		if (named && !parts[j])
			return false;
	}
	return true;
}

/*
 * Whether a catch-up step that left @p sub awaiting parts stopped only for them: every group without an
 * awaited part was looked at up to what it applied (else its budget ran out, and ticks carry on).
 */
static bool stopped_for_parts(struct subs *s, const struct sub *sub, const enum step *state)
{
	for (size_t k = 0; k < sub->n_groups; k++) {
		uint64_t *applied = applied_of(s, sub->groups[k].group);
		if (state[k] != STEP_AWAITS && applied && sub->groups[k].index < *applied)
			return false;
	}
	return true;
}

/* One bounded step of @p sub's catch-up, in every group it follows. @return false if it was dropped. */
static bool catch_up(struct subs *s, struct sub *sub)
{
	sub->due = false;
	size_t n = sub->n_groups;
	struct catchup cu = {s, sub, s->hooks.read_txn(s->hooks.ctx), calloc(n, sizeof(*cu.next)), 0, 0};
	enum step *state = calloc(n, sizeof(*state));
	bool *parts = calloc(n, sizeof(*parts));
	bool kept = true, progress = true;
	int err = GROVE_OK;
	size_t failed = 0;
	if (!cu.txn || !cu.next || !state || !parts)
		progress = false; /* try again next tick */
	while (kept && progress && !err) {
		progress = false;
		for (size_t k = 0; k < n && kept && !err; k++) {
			uint64_t *applied = applied_of(s, sub->groups[k].group);
			if (state[k] == STEP_AWAITS || !applied)
				continue;
			state[k] = advance_group(&cu, k, *applied, &err);
			failed = k;
			kept = state[k] != STEP_DROPPED;
			progress |= state[k] == STEP_DELIVERED;
		}
		for (size_t k = 0; k < n && kept && !err; k++) {
			if (state[k] != STEP_AWAITS || !parts_complete(&cu, k, state, parts))
				continue;
			kept = deliver_parts(&cu, parts);
			for (size_t j = 0; j < n; j++)
				if (parts[j])
					state[j] = STEP_DONE, next_entry_free(&cu.next[j]);
			progress = true;
		}
	}
	bool awaiting = false;
	for (size_t k = 0; k < n && state; k++)
		awaiting |= state[k] == STEP_AWAITS;
	if (kept) /* else it was freed */
		sub->awaiting_parts = awaiting && !err && stopped_for_parts(s, sub, state);
	uint64_t oldest = 0;
	if (kept && err == GROVE_ERANGE)
		history_oldest(s->history, cu.txn, sub->groups[failed].group, &oldest);
	for (size_t k = 0; cu.next && k < n; k++)
		next_entry_free(&cu.next[k]);
	free(cu.next);
	free(state);
	free(parts);
	if (cu.txn)
		store_txn_abort(cu.txn);
	if (!kept)
		return false;
	if (err) {
		compact(s, sub, oldest, err == GROVE_ERANGE ? "the change history no longer holds what this subscriber missed"
							   : "the change history cannot be read for this subscriber");
		return false;
	}
	sub->awaiting_since_ms = awaiting ? (sub->awaiting_since_ms ? sub->awaiting_since_ms : s->now_ms) : 0;
	if (awaiting && s->now_ms - sub->awaiting_since_ms > TXN_PARTS_WAIT_MS) {
		compact(s, sub, 0, "a transaction's parts in other shards did not arrive here in time; take a new snapshot");
		return false;
	}
	sub->live = !awaiting && caught_up(s, sub);
	return true;
}

void subs_tick(struct subs *s, uint64_t now_ms)
{
	s->now_ms = now_ms;
	s->catchups = 0;
	for (size_t i = 0; i < s->n_all;) {
		struct sub *sub = s->all[i];
		size_t before = s->n_all;
		size_t queued = s->hooks.queued(s->hooks.ctx, sub->conn);
		if (!sub->live && !sub->held && s->catchups < s->cfg.max_catchups && queued < s->cfg.live_max_queued / 2) {
			s->catchups++;
			catch_up(s, sub);
		}
		uint64_t at = s->n_all == before ? position(sub) : 0;
		if (s->n_all == before && sub->live && sub->sent < at && now_ms - sub->last_event_ms >= s->cfg.progress_ms &&
		    queued < s->cfg.live_max_queued) {
			struct sub_event ev = {.kind = SUB_PROGRESS, .index = at};
			if (!emit(s, sub, &ev))
				subs_remove(s, sub->conn);
		}
		if (s->n_all == before)
			i++;
	}
}

void subs_turn(struct subs *s, uint64_t now_ms)
{
	s->capped = false;
	if (s->any_due) {
		s->now_ms = now_ms;
		bool left = false;
		for (size_t i = 0; i < s->n_all;) {
			struct sub *sub = s->all[i];
			size_t before = s->n_all;
			if (sub->due && !sub->live && !sub->held) {
				/* The same cap and room as a tick's catch-ups: a slow subscriber waits for its queue to drain. */
				if (s->catchups < s->cfg.max_catchups &&
				    s->hooks.queued(s->hooks.ctx, sub->conn) < s->cfg.live_max_queued / 2) {
					s->catchups++;
					catch_up(s, sub);
				} else {
					left = true;
					s->capped |= s->catchups >= s->cfg.max_catchups;
				}
			}
			if (s->n_all == before)
				i++;
		}
		s->any_due = left;
	}
	s->catchups = 0;
}

bool subs_more_due(const struct subs *s)
{
	return s->capped;
}

/* Entries applied here in @p sub's groups that it was not sent. */
static uint64_t lag_of(const struct subs *s, const struct sub *sub)
{
	uint64_t lag = 0;
	for (size_t i = 0; i < sub->n_groups; i++)
		for (size_t k = 0; k < s->n_groups; k++)
			if (s->groups[k].group == sub->groups[i].group && s->groups[k].applied > sub->groups[i].index)
				lag += s->groups[k].applied - sub->groups[i].index;
	return lag + position(sub) - sub->sent;
}

size_t subs_list(const struct subs *s, struct sub_info *out, size_t cap)
{
	for (size_t i = 0; i < s->n_all && i < cap; i++) {
		const struct sub *sub = s->all[i];
		out[i] = (struct sub_info){.conn = sub->conn, .group = sub->groups[0].group, .n_groups = sub->n_groups,
					   .sent = sub->sent, .lag = lag_of(s, sub), .live = sub->live,
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
		uint64_t lag = lag_of(s, sub);
		out->catching_up += !sub->live;
		out->lag_sum += lag;
		if (lag > out->lag_max)
			out->lag_max = lag;
	}
}
