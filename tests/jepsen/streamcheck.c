#include "tests/jepsen/streamcheck.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int stream_watch_add(struct stream_watch *w, const char *key, int64_t value, uint64_t event)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 256;
		struct stream_value *grown = realloc(w->seen, cap * sizeof(*grown));
		if (!grown)
			return -1;
		w->seen = grown;
		w->cap = cap;
	}
	struct stream_value *v = &w->seen[w->n++];
	snprintf(v->key, sizeof(v->key), "%s", key);
	v->value = value;
	v->event = event;
	return 0;
}

void stream_watch_free(struct stream_watch *w)
{
	free(w->seen);
	*w = (struct stream_watch){0};
}

/* Where a watcher saw the value of one write: its place in the watcher's order, or NONE. */
#define NONE SIZE_MAX

/* The register writes of the history, each with where every watcher saw its value. */
struct write_seen {
	const struct history_op *op;
	size_t *at;           /* per watcher: index into its seen[], or NONE */
};

struct checker {
	const struct history *h;
	const struct stream_watch *w;
	size_t n_watchers;
	struct write_seen *writes;
	size_t n_writes;
	size_t violations;
	FILE *report;
};

static void violation(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void violation(struct checker *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("stream: ", c->report);
	vfprintf(c->report, fmt, ap);
	fputc('\n', c->report);
	va_end(ap);
	c->violations++;
}

static bool is_register_write(const struct history *h, const struct history_op *op)
{
	return op->f == HISTORY_WRITE && h->models[op->key] == HISTORY_REGISTER && op->value.kind == HISTORY_INT;
}

static int by_key_value(const void *x, const void *y)
{
	const struct history_op *a = ((const struct write_seen *)x)->op, *b = ((const struct write_seen *)y)->op;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->value.i < b->value.i ? -1 : a->value.i > b->value.i;
}

/* The write of @p value to the key named @p key, or NULL (c->writes sorted by key and value; values are unique per key). */
static struct write_seen *write_of(struct checker *c, const char *key, int64_t value)
{
	size_t k = 0;
	while (k < c->h->n_keys && strcmp(c->h->keys[k], key) != 0)
		k++;
	struct history_op probe = {.key = k, .value = {.kind = HISTORY_INT, .i = value}};
	struct write_seen want = {.op = &probe};
	return k == c->h->n_keys ? NULL : bsearch(&want, c->writes, c->n_writes, sizeof(*c->writes), by_key_value);
}

/* Whether watcher @p k follows the register @p key. */
static bool follows(const struct checker *c, size_t k, size_t key)
{
	return !c->w[k].only_key[0] || strcmp(c->w[k].only_key, c->h->keys[key]) == 0;
}

/* Each watcher's values placed on the writes that wrote them: unknown, failed and repeated ones reported. */
static void place_values(struct checker *c)
{
	for (size_t k = 0; k < c->n_watchers; k++) {
		const struct stream_watch *w = &c->w[k];
		if (w->violation[0])
			violation(c, "watcher %zu: %s", k, w->violation);
		for (size_t i = 0; i < w->n; i++) {
			const struct stream_value *v = &w->seen[i];
			struct write_seen *ws = write_of(c, v->key, v->value);
			if (!ws)
				violation(c, "watcher %zu saw %s = %lld (event %llu), which no one wrote", k, v->key,
					  (long long)v->value, (unsigned long long)v->event);
			else if (!follows(c, k, ws->op->key))
				violation(c, "watcher %zu, which follows %s only, saw %s = %lld (event %llu)", k, w->only_key,
					  v->key, (long long)v->value, (unsigned long long)v->event);
			else if (ws->op->status == HISTORY_FAIL)
				violation(c, "watcher %zu saw %s = %lld (event %llu), whose write failed", k, v->key,
					  (long long)v->value, (unsigned long long)v->event);
			else if (ws->at[k] != NONE)
				violation(c, "watcher %zu saw %s = %lld twice (events %llu and %llu)", k, v->key,
					  (long long)v->value, (unsigned long long)w->seen[ws->at[k]].event,
					  (unsigned long long)v->event);
			else
				ws->at[k] = i;
		}
	}
}

/* Acknowledged writes invoked after a watcher's last snapshot are all seen by it (of the registers it follows). */
static void check_complete(struct checker *c)
{
	for (size_t i = 0; i < c->n_writes; i++) {
		const struct history_op *op = c->writes[i].op;
		for (size_t k = 0; k < c->n_watchers; k++)
			if (op->status == HISTORY_OK && op->invoke_ns >= c->w[k].complete_from_ns && follows(c, k, op->key) &&
			    c->writes[i].at[k] == NONE)
				violation(c, "watcher %zu never saw %s = %lld, which was acknowledged (history line %zu)", k,
					  c->h->keys[op->key], (long long)op->value.i, op->invoke_line);
	}
}

/*
 * Per watcher and key, acknowledged writes in real-time order are seen in that order: walking the stream, no
 * value's write completed before a value seen earlier was invoked.
 */
static void check_real_time(struct checker *c)
{
	for (size_t k = 0; k < c->n_watchers; k++) {
		const struct stream_watch *w = &c->w[k];
		uint64_t *latest = calloc(c->h->n_keys ? c->h->n_keys : 1, sizeof(*latest)); /* per key */
		size_t *latest_line = calloc(c->h->n_keys ? c->h->n_keys : 1, sizeof(*latest_line));
		for (size_t i = 0; latest && latest_line && i < w->n; i++) {
			struct write_seen *ws = write_of(c, w->seen[i].key, w->seen[i].value);
			if (!ws || ws->at[k] != i)
				continue;
			const struct history_op *op = ws->op; /* one that may have applied later than it says is not checked */
			if (op->status == HISTORY_OK && op->complete_ns < latest[op->key])
				violation(c, "watcher %zu saw %s = %lld after a value whose write was invoked once it had completed "
					  "(history lines %zu and %zu)", k, w->seen[i].key, (long long)op->value.i,
					  op->invoke_line, latest_line[op->key]);
			if (op->invoke_ns > latest[op->key]) {
				latest[op->key] = op->invoke_ns;
				latest_line[op->key] = op->invoke_line;
			}
		}
		free(latest);
		free(latest_line);
	}
}

/* Any two watchers see the values they share of a key in the same order. */
static void check_same_order(struct checker *c)
{
	for (size_t k = 0; k < c->n_watchers; k++)
		for (size_t l = k + 1; l < c->n_watchers; l++) {
			const struct stream_watch *w = &c->w[l];
			size_t *last = malloc((c->h->n_keys ? c->h->n_keys : 1) * sizeof(*last)); /* per key: in k's order */
			for (size_t i = 0; last && i < c->h->n_keys; i++)
				last[i] = NONE;
			for (size_t i = 0; last && i < w->n; i++) {
				struct write_seen *ws = write_of(c, w->seen[i].key, w->seen[i].value);
				if (!ws || ws->at[l] != i || ws->at[k] == NONE)
					continue;
				size_t key = ws->op->key;
				if (last[key] != NONE && ws->at[k] < last[key])
					violation(c, "watchers %zu and %zu saw %s = %lld and %s = %lld in opposite orders", k, l,
						  w->seen[i].key, (long long)c->w[k].seen[last[key]].value, w->seen[i].key,
						  (long long)w->seen[i].value);
				last[key] = ws->at[k];
			}
			free(last);
		}
}

static int by_value(const void *x, const void *y)
{
	const struct history_op *a = *(const struct history_op *const *)x, *b = *(const struct history_op *const *)y;
	return a->value.i < b->value.i ? -1 : a->value.i > b->value.i;
}

/* Whether a watcher saw @p a's value in the same event as @p b's, or neither. */
static void check_pair_whole(struct checker *c, const struct history_op *a, const struct history_op *b)
{
	struct write_seen *wa = write_of(c, c->h->keys[a->key], a->value.i), *wb = write_of(c, c->h->keys[b->key], b->value.i);
	for (size_t k = 0; wa && wb && k < c->n_watchers; k++) {
		size_t pa = wa->at[k], pb = wb->at[k];
		if ((pa == NONE && pb == NONE) || !follows(c, k, a->key) || !follows(c, k, b->key))
			continue;
		if (pa == NONE || pb == NONE || c->w[k].seen[pa].event != c->w[k].seen[pb].event)
			violation(c, "watcher %zu saw %s = %lld of a batch across shards without %s in the same event", k,
				  c->h->keys[pa == NONE ? b->key : a->key], (long long)a->value.i,
				  c->h->keys[pa == NONE ? a->key : b->key]);
	}
}

/* A value written to two keys (only a batch does: a writer's values are unique) is seen whole. */
static void check_batches_whole(struct checker *c)
{
	const struct history_op **ops = malloc((c->n_writes ? c->n_writes : 1) * sizeof(*ops));
	if (!ops)
		return;
	for (size_t i = 0; i < c->n_writes; i++)
		ops[i] = c->writes[i].op;
	qsort(ops, c->n_writes, sizeof(*ops), by_value);
	for (size_t i = 0; i + 1 < c->n_writes; i++)
		if (ops[i]->value.i == ops[i + 1]->value.i && ops[i]->key != ops[i + 1]->key)
			check_pair_whole(c, ops[i], ops[i + 1]);
	free(ops);
}

size_t stream_check(const struct history *h, const struct stream_watch *w, size_t n, FILE *report)
{
	struct checker c = {.h = h, .w = w, .n_watchers = n, .report = report};
	c.writes = calloc(h->n_ops ? h->n_ops : 1, sizeof(*c.writes));
	size_t *at = malloc((h->n_ops ? h->n_ops : 1) * (n ? n : 1) * sizeof(*at));
	if (!c.writes || !at) {
		free(c.writes);
		free(at);
		return SIZE_MAX;
	}
	for (size_t i = 0; i < h->n_ops; i++)
		if (is_register_write(h, &h->ops[i])) {
			struct write_seen *ws = &c.writes[c.n_writes];
			ws->op = &h->ops[i];
			ws->at = at + c.n_writes++ * n;
			for (size_t k = 0; k < n; k++)
				ws->at[k] = NONE;
		}
	qsort(c.writes, c.n_writes, sizeof(*c.writes), by_key_value);
	place_values(&c);
	check_complete(&c);
	check_real_time(&c);
	check_same_order(&c);
	check_batches_whole(&c);
	free(c.writes);
	free(at);
	return c.violations;
}
