#include "tests/jepsen/lincheck.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"

#define NONE UINT32_MAX
#define NEVER UINT64_MAX

const char *lin_verdict_name(enum lin_verdict v)
{
	return v == LIN_OK ? "linearizable" : v == LIN_UNKNOWN ? "unknown" : "NOT linearizable";
}

/* ---- one key's operations, shared by every search of that key ---- */

/* An operation that constrains the key: not failed, and not a read of unknown outcome. */
struct kop {
	size_t op;           /* history.ops index */
	enum history_f f;
	bool info;           /* a write or add of unknown outcome */
	uint64_t call, ret;  /* ret is meaningless when info */
	uint32_t val;        /* register: value id written or seen; add: element id */
	uint32_t *elems;     /* read_set: element ids as read (into key.pool) */
	uint32_t n_elems;
};

struct key {
	const struct history *h;
	size_t key;
	enum history_model model;
	struct kop *ops;
	uint32_t n;
	const struct history_value **vals; /* id -> value; register: id 0 is nil */
	uint32_t n_vals;
	uint32_t *elem_add;  /* set: element id -> kop of its add, NONE */
	uint32_t *pool;
	bool zones;          /* register: decide by zones where they apply, instead of searching */
};

static void key_free(struct key *k)
{
	free(k->ops);
	free(k->vals);
	free(k->elem_add);
	free(k->pool);
	*k = (struct key){0};
}

static int value_ptr_cmp(const void *pa, const void *pb)
{
	const struct history_value *const *a = pa, *const *b = pb;
	return history_value_cmp(*a, *b);
}

static uint32_t value_id(const struct key *k, const struct history_value *v)
{
	const struct history_value **found = bsearch(&v, k->vals, k->n_vals, sizeof(*k->vals), value_ptr_cmp);
	return (uint32_t)(found - k->vals);
}

static bool is_read(enum history_f f)
{
	return f == HISTORY_READ || f == HISTORY_READ_SET;
}

/* Build the key from the operations @p ops of key @p key (see lin_check_ops). */
static int key_build(struct key *k, const struct history *h, size_t key, const size_t *ops, const bool *as_info,
                     size_t n)
{
	static const struct history_value nil = {0};
	*k = (struct key){.h = h, .key = key, .model = h->models[key]};
	if (n >= NONE / 2)
		return GROVE_ERANGE;
	size_t n_vals = 1, n_pool = 0;
	for (size_t i = 0; i < n; i++) {
		if (h->ops[ops[i]].key != key)
			return GROVE_EINVAL;
		n_vals += 1 + h->ops[ops[i]].value.n_elems;
		n_pool += h->ops[ops[i]].value.n_elems;
	}
	k->ops = malloc((n ? n : 1) * sizeof(*k->ops));
	k->vals = malloc(n_vals * sizeof(*k->vals));
	k->pool = malloc((n_pool ? n_pool : 1) * sizeof(*k->pool));
	if (!k->ops || !k->vals || !k->pool)
		goto nomem;
	/* Every value and element that occurs, sorted and deduplicated, numbers them. */
	k->vals[k->n_vals++] = &nil;
	for (size_t i = 0; i < n; i++) {
		const struct history_op *o = &h->ops[ops[i]];
		bool info = o->status == HISTORY_INFO || (as_info && as_info[i]);
		if (o->status == HISTORY_FAIL || (info && is_read(o->f)))
			continue;
		k->ops[k->n++] = (struct kop){.op = ops[i], .f = o->f, .info = info, .call = o->invoke_ns,
		                              .ret = o->complete_ns};
		if (o->f == HISTORY_READ_SET)
			for (size_t e = 0; e < o->value.n_elems; e++)
				k->vals[k->n_vals++] = &o->value.elems[e];
		else
			k->vals[k->n_vals++] = &o->value;
	}
	qsort(k->vals, k->n_vals, sizeof(*k->vals), value_ptr_cmp);
	uint32_t u = 0;
	for (uint32_t i = 0; i < k->n_vals; i++)
		if (!u || history_value_cmp(k->vals[u - 1], k->vals[i]) != 0)
			k->vals[u++] = k->vals[i];
	k->n_vals = u;
	if (k->model == HISTORY_GSET) {
		k->elem_add = malloc(k->n_vals * sizeof(*k->elem_add));
		if (!k->elem_add)
			goto nomem;
		for (uint32_t i = 0; i < k->n_vals; i++)
			k->elem_add[i] = NONE;
	}
	uint32_t *pool = k->pool;
	for (uint32_t i = 0; i < k->n; i++) {
		struct kop *ko = &k->ops[i];
		const struct history_value *v = &h->ops[ko->op].value;
		if (ko->f == HISTORY_READ_SET) {
			ko->elems = pool;
			ko->n_elems = (uint32_t)v->n_elems;
			for (size_t e = 0; e < v->n_elems; e++)
				*pool++ = value_id(k, &v->elems[e]);
			continue;
		}
		ko->val = value_id(k, v);
		if (ko->f == HISTORY_ADD)
			k->elem_add[ko->val] = i;
	}
	return GROVE_OK;
nomem:
	key_free(k);
	return GROVE_ENOMEM;
}

/* A sub-history of a key: kops (ascending), the ones that count as info
 * because the history was cut while they were pending, and the set elements
 * projected out. */
struct cand {
	uint32_t *k;
	bool *info;
	uint32_t n;
	bool *dropped;   /* set: per element id; NULL: none */
};

static void cand_free(struct cand *c)
{
	free(c->k);
	free(c->info);
	free(c->dropped);
	*c = (struct cand){0};
}

static int cand_alloc(struct cand *c, const struct key *k, const bool *dropped)
{
	*c = (struct cand){0};
	c->k = malloc((k->n ? k->n : 1) * sizeof(*c->k));
	c->info = malloc((k->n ? k->n : 1) * sizeof(*c->info));
	if (k->model == HISTORY_GSET)
		c->dropped = calloc(k->n_vals ? k->n_vals : 1, sizeof(*c->dropped));
	if (!c->k || !c->info || (k->model == HISTORY_GSET && !c->dropped)) {
		cand_free(c);
		return GROVE_ENOMEM;
	}
	if (dropped)
		memcpy(c->dropped, dropped, k->n_vals * sizeof(*dropped));
	return GROVE_OK;
}

static void cand_push(struct cand *c, uint32_t kop, bool info)
{
	c->k[c->n] = kop;
	c->info[c->n++] = info;
}

/* ---- the search ---- */

struct sop {
	uint32_t k;          /* kop */
	uint64_t call, ret;
	uint32_t call_e, ret_e;
	uint32_t need;       /* read_set: elements it must see */
	bool impossible;     /* read_set: an element twice, or one that no add here adds */
};

struct entry {
	uint64_t time;
	uint32_t op;
	bool ret;
};

struct centry {
	uint64_t hash;
	uint32_t state, lo, hi;
	size_t off;          /* into cache words */
};

struct frame {
	uint32_t entry;
	uint32_t state;
	bool read;   /* a read, linearized as soon as it could be: no other choice here is worth trying */
};

struct search {
	const struct key *key;
	const struct cand *c;
	struct sop *ops;
	uint32_t n;
	uint32_t *elem_sop;  /* set: element id -> sop of its add, NONE */
	struct entry *ent;
	uint32_t *next, *prev, head;
	uint64_t *bits, *zob, hash;
	uint32_t words, lo, hi;
	struct centry *centries;
	size_t n_centries, cap_centries;
	uint32_t *slots;     /* centry index + 1; 0 is empty */
	size_t n_slots;
	uint64_t *cwords;
	size_t n_cwords, cap_cwords;
	struct frame *stack;
	uint32_t sp, state;
	uint64_t steps;
	/* the deepest point the walk reached, for explanations */
	uint32_t best_depth, best_state, best_op;
};

static void search_free(struct search *s)
{
	free(s->ops);
	free(s->elem_sop);
	free(s->ent);
	free(s->next);
	free(s->prev);
	free(s->bits);
	free(s->zob);
	free(s->centries);
	free(s->slots);
	free(s->cwords);
	free(s->stack);
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int sop_cmp(const void *pa, const void *pb)
{
	const struct sop *a = pa, *b = pb;
	if (a->call != b->call)
		return a->call < b->call ? -1 : 1;
	if (a->ret != b->ret)
		return a->ret < b->ret ? -1 : 1;
	return a->k < b->k ? -1 : a->k > b->k;
}

/* Invokes before returns at one time: equal times are concurrent. */
static int entry_cmp(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	if (a->ret != b->ret)
		return a->ret ? 1 : -1;
	return a->op < b->op ? -1 : a->op > b->op;
}

/* The operations of the search, with the two reductions of info operations
 * (lincheck.h): left out when nothing saw their value, else their return is
 * the first return of a read that did. */
static int search_ops(struct search *s)
{
	const struct key *k = s->key;
	const struct cand *c = s->c;
	s->ops = malloc((c->n ? c->n : 1) * sizeof(*s->ops));
	uint64_t *minret = malloc(k->n_vals * sizeof(*minret));
	uint32_t *writers = calloc(k->n_vals, sizeof(*writers));
	if (!s->ops || !minret || !writers) {
		free(minret);
		free(writers);
		return GROVE_ENOMEM;
	}
	for (uint32_t v = 0; v < k->n_vals; v++)
		minret[v] = NEVER;
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct kop *o = &k->ops[c->k[i]];
		bool info = o->info || c->info[i];
		if ((info && is_read(o->f)) || (o->f == HISTORY_ADD && c->dropped[o->val]))
			continue;
		s->ops[n++] = (struct sop){.k = c->k[i], .call = o->call, .ret = info ? NEVER : o->ret};
		if (o->f == HISTORY_WRITE)
			writers[o->val]++;
		else if (o->f == HISTORY_READ && o->ret < minret[o->val])
			minret[o->val] = o->ret;
		for (uint32_t e = 0; o->f == HISTORY_READ_SET && e < o->n_elems; e++)
			if (o->ret < minret[o->elems[e]])
				minret[o->elems[e]] = o->ret;
	}
	uint32_t kept = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct sop *so = &s->ops[i];
		const struct kop *o = &k->ops[so->k];
		bool unique = o->f == HISTORY_ADD || (o->f == HISTORY_WRITE && o->val != 0 && writers[o->val] == 1);
		if (so->ret == NEVER && unique) {
			if (minret[o->val] == NEVER)
				continue;
			if (minret[o->val] >= so->call)
				so->ret = minret[o->val];
		}
		s->ops[kept++] = *so;
	}
	s->n = kept;
	free(minret);
	free(writers);
	qsort(s->ops, s->n, sizeof(*s->ops), sop_cmp);
	return GROVE_OK;
}

/* Which sop adds each element, and what each read_set must see. */
static int search_sets(struct search *s)
{
	const struct key *k = s->key;
	uint32_t *stamp = malloc(k->n_vals * sizeof(*stamp));
	s->elem_sop = malloc(k->n_vals * sizeof(*s->elem_sop));
	if (!stamp || !s->elem_sop) {
		free(stamp);
		return GROVE_ENOMEM;
	}
	for (uint32_t v = 0; v < k->n_vals; v++)
		stamp[v] = s->elem_sop[v] = NONE;
	for (uint32_t i = 0; i < s->n; i++)
		if (k->ops[s->ops[i].k].f == HISTORY_ADD)
			s->elem_sop[k->ops[s->ops[i].k].val] = i;
	for (uint32_t i = 0; i < s->n; i++) {
		struct sop *so = &s->ops[i];
		const struct kop *o = &k->ops[so->k];
		for (uint32_t e = 0; o->f == HISTORY_READ_SET && e < o->n_elems; e++) {
			uint32_t el = o->elems[e];
			if (s->c->dropped[el])
				continue;
			if (stamp[el] == i || s->elem_sop[el] == NONE)
				so->impossible = true;
			stamp[el] = i;
			so->need++;
		}
	}
	free(stamp);
	return GROVE_OK;
}

static int search_init(struct search *s, const struct key *k, const struct cand *c)
{
	*s = (struct search){.key = k, .c = c, .best_op = NONE};
	int rc = search_ops(s);
	if (rc)
		return rc;
	if (k->model == HISTORY_GSET && (rc = search_sets(s)))
		return rc;
	uint32_t n = s->n, m = 2 * n;
	s->words = (n + 63) / 64;
	s->ent = malloc((m ? m : 1) * sizeof(*s->ent));
	s->next = malloc((m + 1) * sizeof(*s->next));
	s->prev = malloc((m + 1) * sizeof(*s->prev));
	s->bits = calloc(s->words + 1, sizeof(*s->bits));
	s->zob = malloc((n ? n : 1) * sizeof(*s->zob));
	s->stack = malloc((n ? n : 1) * sizeof(*s->stack));
	s->n_slots = 1024;
	s->slots = calloc(s->n_slots, sizeof(*s->slots));
	if (!s->ent || !s->next || !s->prev || !s->bits || !s->zob || !s->stack || !s->slots)
		return GROVE_ENOMEM;
	uint64_t seed = 0x6c696e636865636bull;
	for (uint32_t i = 0; i < n; i++) {
		s->ent[2 * i] = (struct entry){s->ops[i].call, i, false};
		s->ent[2 * i + 1] = (struct entry){s->ops[i].ret, i, true};
		s->zob[i] = splitmix(&seed);
	}
	qsort(s->ent, m, sizeof(*s->ent), entry_cmp);
	s->head = m;
	for (uint32_t e = 0; e <= m; e++) {
		s->next[e] = e == m ? 0 : e + 1;
		s->prev[e] = e == 0 ? m : e - 1;
		if (e < m) {
			struct sop *so = &s->ops[s->ent[e].op];
			*(s->ent[e].ret ? &so->ret_e : &so->call_e) = e;
		}
	}
	if (!m)
		s->next[m] = s->prev[m] = m;
	else
		s->next[m - 1] = m;
	return GROVE_OK;
}

static void bit_set(struct search *s, uint32_t i)
{
	uint32_t w = i / 64;
	s->bits[w] |= 1ull << (i % 64);
	s->hash ^= s->zob[i];
	if (w >= s->hi)
		s->hi = w + 1;
	while (s->lo < s->words && s->bits[s->lo] == ~0ull)
		s->lo++;
}

static void bit_clear(struct search *s, uint32_t i)
{
	uint32_t w = i / 64;
	s->bits[w] &= ~(1ull << (i % 64));
	s->hash ^= s->zob[i];
	if (w < s->lo)
		s->lo = w;
	while (s->hi > 0 && s->bits[s->hi - 1] == 0)
		s->hi--;
}

static bool bit_get(const struct search *s, uint32_t i)
{
	return s->bits[i / 64] >> (i % 64) & 1;
}

static uint64_t slot_hash(uint64_t hash, uint32_t state)
{
	uint64_t x = hash ^ (state * 0x9e3779b97f4a7c15ull);
	x ^= x >> 31;
	return x * 0xd6e8feb86659fd93ull;
}

/* The bitset is stored as the words between its all-ones prefix and its
 * all-zeros suffix: a function of the set, so equal sets compare equal. */
static bool centry_same(const struct search *s, const struct centry *e, uint64_t h, uint32_t state)
{
	uint32_t len = s->hi > s->lo ? s->hi - s->lo : 0;
	return e->hash == h && e->state == state && e->lo == s->lo && e->hi == s->hi &&
	       memcmp(&s->cwords[e->off], &s->bits[s->lo], len * sizeof(uint64_t)) == 0;
}

static int cache_grow(struct search *s)
{
	size_t n = s->n_slots * 2;
	uint32_t *slots = calloc(n, sizeof(*slots));
	if (!slots)
		return GROVE_ENOMEM;
	for (size_t i = 0; i < s->n_centries; i++) {
		size_t j = s->centries[i].hash & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(s->slots);
	s->slots = slots;
	s->n_slots = n;
	return GROVE_OK;
}

/* Record (current bitset, @p state); *fresh says whether it is new. */
static int cache_add(struct search *s, uint32_t state, bool *fresh)
{
	uint64_t h = slot_hash(s->hash, state);
	size_t j = h & (s->n_slots - 1);
	for (; s->slots[j]; j = (j + 1) & (s->n_slots - 1))
		if (centry_same(s, &s->centries[s->slots[j] - 1], h, state)) {
			*fresh = false;
			return GROVE_OK;
		}
	*fresh = true;
	uint32_t len = s->hi > s->lo ? s->hi - s->lo : 0;
	if (s->n_centries >= UINT32_MAX - 1 ||
	    grove_grow((void **)&s->centries, &s->cap_centries, s->n_centries, sizeof(*s->centries)))
		return GROVE_ENOMEM;
	while (s->n_cwords + len > s->cap_cwords)
		if (grove_grow((void **)&s->cwords, &s->cap_cwords, s->cap_cwords, sizeof(*s->cwords)))
			return GROVE_ENOMEM;
	memcpy(&s->cwords[s->n_cwords], &s->bits[s->lo], len * sizeof(uint64_t));
	s->centries[s->n_centries] = (struct centry){h, state, s->lo, s->hi, s->n_cwords};
	s->n_cwords += len;
	s->slots[j] = (uint32_t)++s->n_centries;
	if (2 * s->n_centries > s->n_slots)
		return cache_grow(s);
	return GROVE_OK;
}

/* The model: can sop @p i take effect in state s->state, and what state follows. */
static bool model_step(const struct search *s, uint32_t i, uint32_t *next)
{
	const struct sop *so = &s->ops[i];
	const struct kop *o = &s->key->ops[so->k];
	switch (o->f) {
	case HISTORY_WRITE:
		*next = o->val;
		return true;
	case HISTORY_READ:
		*next = s->state;
		return s->state == o->val;
	case HISTORY_ADD:
		/* The state of a set is the set of linearized adds, already in the
		 * bitset; the count is enough to tell a read at a glance. */
		*next = s->state + 1;
		return true;
	case HISTORY_READ_SET:
		*next = s->state;
		if (so->impossible || so->need != s->state)
			return false;
		for (uint32_t e = 0; e < o->n_elems; e++)
			if (!s->c->dropped[o->elems[e]] && !bit_get(s, s->elem_sop[o->elems[e]]))
				return false;
		return true;
	}
	return false;
}

static void lift(struct search *s, const struct sop *so)
{
	uint32_t a = so->call_e, b = so->ret_e;
	s->next[s->prev[a]] = s->next[a];
	s->prev[s->next[a]] = s->prev[a];
	s->next[s->prev[b]] = s->next[b];
	s->prev[s->next[b]] = s->prev[b];
}

static void unlift(struct search *s, const struct sop *so)
{
	uint32_t a = so->call_e, b = so->ret_e;
	s->next[s->prev[b]] = b;
	s->prev[s->next[b]] = b;
	s->next[s->prev[a]] = a;
	s->prev[s->next[a]] = a;
}

/* Try to linearize the operation of call entry @p e; *taken says whether it was (a new configuration). */
static int try_take(struct search *s, uint32_t e, bool read, bool *taken, bool *seen)
{
	const struct entry *en = &s->ent[e];
	struct sop *so = &s->ops[en->op];
	uint32_t next_state;
	*taken = *seen = false;
	if (!model_step(s, en->op, &next_state))
		return GROVE_OK;
	bit_set(s, en->op);
	bool fresh;
	int rc = cache_add(s, next_state, &fresh);
	if (rc)
		return rc;
	if (!fresh) {
		bit_clear(s, en->op);
		*seen = true;
		return GROVE_OK;
	}
	s->stack[s->sp++] = (struct frame){e, s->state, read};
	s->state = next_state;
	lift(s, so);
	*taken = true;
	return GROVE_OK;
}

/*
 * The walk of lincheck.h, with one pruning of its own: a read (of either
 * model) that can take effect now is linearized now, before any write or add
 * is tried, and no alternative to it is tried. Any linearization that places
 * it later can place it here instead: a read changes no state, everything
 * that must precede it is already linearized (its invoke comes before every
 * return left in the list), and moving it earlier breaks no constraint of
 * what follows. So the search branches only on the order of writes and adds;
 * without this, a violation late in a long history sends it through every
 * subset of the reads pending at every point before.
 */
static int search_run(struct search *s, uint64_t max_steps, enum lin_verdict *verdict)
{
	uint32_t known = 0; /* operations with a known return still to linearize */
	for (uint32_t i = 0; i < s->n; i++)
		known += s->ops[i].ret != NEVER;
	bool fresh_config = true;
	uint32_t e = s->next[s->head];
	while (known) {
		bool taken = false, seen = false, dead = false;
		int rc;
		if (fresh_config) {
			/* First any read that can take effect: taken without alternatives. */
			for (uint32_t x = s->next[s->head]; !s->ent[x].ret && !taken && !dead; x = s->next[x]) {
				if (++s->steps > max_steps)
					goto limit;
				if (!is_read(s->key->ops[s->ops[s->ent[x].op].k].f))
					continue;
				if ((rc = try_take(s, x, true, &taken, &seen)))
					return rc;
				dead = seen; /* where it leads was explored and failed, so this configuration fails */
			}
			if (taken) {
				known -= s->ops[s->ent[s->stack[s->sp - 1].entry].op].ret != NEVER;
				continue;
			}
			e = s->next[s->head];
		}
		/* Then each write or add that can take effect, in invoke order, until a return. */
		for (; !dead && !s->ent[e].ret && !taken; e = taken ? e : s->next[e]) {
			if (++s->steps > max_steps)
				goto limit;
			if (is_read(s->key->ops[s->ops[s->ent[e].op].k].f))
				continue;
			if ((rc = try_take(s, e, false, &taken, &seen)))
				return rc;
		}
		if (taken) {
			known -= s->ops[s->ent[e].op].ret != NEVER;
			fresh_config = true;
			continue;
		}
		/* The return of an operation not linearized (or a dead end): undo the last choice. */
		if (!dead && (s->best_op == NONE || s->sp > s->best_depth)) {
			s->best_depth = s->sp;
			s->best_state = s->state;
			s->best_op = s->ent[e].op;
		}
		struct frame fr;
		do {
			if (!s->sp) {
				*verdict = LIN_VIOLATION;
				return GROVE_OK;
			}
			fr = s->stack[--s->sp];
			struct sop *undo = &s->ops[s->ent[fr.entry].op];
			s->state = fr.state;
			bit_clear(s, s->ent[fr.entry].op);
			unlift(s, undo);
			known += undo->ret != NEVER;
		} while (fr.read);
		e = s->next[fr.entry];
		fresh_config = false;
	}
	/* What is left has no return: writes and adds, which take effect at the end in any order. */
	*verdict = LIN_OK;
	return GROVE_OK;
limit:
	*verdict = LIN_UNKNOWN;
	return GROVE_OK;
}

struct zone {
	uint64_t lo, hi;
};

static int zone_cmp(const void *pa, const void *pb)
{
	const struct zone *a = pa, *b = pb;
	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/*
 * Gibbons & Korach's test for a register whose every value is written once
 * (Testing Shared Memories, SIAM J. Comput. 26(4), 1997), in O(n log n)
 * whatever the concurrency. A value's cluster is its write and the reads that
 * saw it (nil's: a write before everything, and the reads of nil). Its zone
 * runs from the earliest return in the cluster to the latest invoke: forward
 * when the return comes first (the register must hold the value all along),
 * else backward, from that invoke to that return. The history is
 * linearizable if and only if every read saw a value that was written, by a
 * write invoked before the read returned, no two forward zones overlap, and
 * no backward zone lies inside a forward one. Equal times are concurrent, so
 * zones that only touch do not overlap. *applies is false when a value is
 * written twice (or nil is written), where the search must decide.
 */
static int zones_run(struct search *s, bool *applies, enum lin_verdict *verdict)
{
	const struct key *k = s->key;
	uint32_t nv = k->n_vals;
	uint32_t *writer = malloc(nv * sizeof(*writer));
	struct zone *cl = malloc(nv * sizeof(*cl)), *fwd = malloc(nv * sizeof(*fwd)), *bwd = malloc(nv * sizeof(*bwd));
	int rc = writer && cl && fwd && bwd ? GROVE_OK : GROVE_ENOMEM;
	*applies = !rc;
	*verdict = LIN_OK;
	for (uint32_t v = 0; !rc && v < nv; v++) {
		writer[v] = NONE;
		cl[v] = (struct zone){UINT64_MAX, 0}; /* lo: earliest return; hi: latest invoke */
	}
	/* Times move up by one, so that nil's write sits at 0, before everything. */
	if (!rc)
		cl[0] = (struct zone){0, 0};
	for (uint32_t i = 0; *applies && i < s->n; i++) {
		const struct kop *o = &k->ops[s->ops[i].k];
		if (o->f != HISTORY_WRITE)
			continue;
		if (o->val == 0 || writer[o->val] != NONE)
			*applies = false;
		writer[o->val] = i;
	}
	for (uint32_t i = 0; *applies && *verdict == LIN_OK && i < s->n; i++) {
		const struct sop *so = &s->ops[i];
		const struct kop *o = &k->ops[so->k];
		uint64_t call = so->call + 1, ret = so->ret == NEVER ? NEVER : so->ret + 1;
		if (o->f == HISTORY_READ && o->val != 0 &&
		    (writer[o->val] == NONE || ret < s->ops[writer[o->val]].call + 1)) {
			*verdict = LIN_VIOLATION; /* nothing it could have seen */
			break;
		}
		if (ret < cl[o->val].lo)
			cl[o->val].lo = ret;
		if (call > cl[o->val].hi)
			cl[o->val].hi = call;
	}
	size_t nf = 0, nb = 0;
	for (uint32_t v = 0; *applies && *verdict == LIN_OK && v < nv; v++) {
		if (v && writer[v] == NONE)
			continue;
		if (cl[v].lo < cl[v].hi)
			fwd[nf++] = cl[v];
		else
			bwd[nb++] = (struct zone){cl[v].hi, cl[v].lo};
	}
	if (*applies && *verdict == LIN_OK) {
		qsort(fwd, nf, sizeof(*fwd), zone_cmp);
		uint64_t reach = 0;
		for (size_t i = 0; i < nf && *verdict == LIN_OK; i++) {
			if (i && fwd[i].lo < reach)
				*verdict = LIN_VIOLATION;
			reach = fwd[i].hi > reach ? fwd[i].hi : reach;
		}
		for (size_t i = 0; i < nb && *verdict == LIN_OK; i++) {
			/* The forward zones are disjoint: only the last one starting before it can hold it. */
			size_t lo = 0, hi = nf;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				if (fwd[mid].lo < bwd[i].lo)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo && bwd[i].hi < fwd[lo - 1].hi)
				*verdict = LIN_VIOLATION;
		}
	}
	s->steps = s->n;
	free(writer);
	free(cl);
	free(fwd);
	free(bwd);
	return rc;
}

/* Decide the sub-history @p c: by zones where they apply, else by the search
 * (*zoned says which; may be NULL). @p keep: search, and leave the search for
 * the caller to inspect (search_free it). */
static int check_cand(const struct key *k, const struct cand *c, uint64_t max_steps, enum lin_verdict *verdict,
                      uint64_t *steps, bool *zoned, struct search *keep)
{
	struct search local, *s = keep ? keep : &local;
	bool decided = false;
	int rc = search_init(s, k, c);
	if (!rc && k->model == HISTORY_REGISTER && k->zones && !keep)
		rc = zones_run(s, &decided, verdict);
	if (!rc && !decided)
		rc = search_run(s, max_steps, verdict);
	if (zoned)
		*zoned = decided;
	if (steps)
		*steps = s->steps;
	if (!keep || rc)
		search_free(s);
	return rc;
}

static int cand_all(struct cand *c, const struct key *k)
{
	int rc = cand_alloc(c, k, NULL);
	for (uint32_t i = 0; !rc && i < k->n; i++)
		cand_push(c, i, false);
	return rc;
}

int lin_check_ops(const struct history *h, size_t key, const size_t *ops, const bool *as_info, size_t n,
                  uint64_t max_steps, enum lin_verdict *verdict, uint64_t *steps)
{
	if (key >= h->n_keys)
		return GROVE_EINVAL;
	struct key k;
	struct cand c;
	int rc = key_build(&k, h, key, ops, as_info, n);
	if (rc)
		return rc;
	k.zones = true;
	if (!(rc = cand_all(&c, &k)))
		rc = check_cand(&k, &c, max_steps ? max_steps : LIN_DEFAULT_MAX_STEPS, verdict, steps, NULL, NULL);
	cand_free(&c);
	key_free(&k);
	return rc;
}

/* ---- the shortest excerpt ---- */

struct budget {
	uint64_t left;       /* steps the minimization may still take */
	uint64_t max_steps;  /* per search */
};

/* Whether @p c is known to fail; a search cut short by the budget counts as no. */
static int fails(const struct key *k, const struct cand *c, struct budget *b, bool *out)
{
	*out = false;
	if (!b->left)
		return GROVE_OK;
	enum lin_verdict v;
	uint64_t steps = 0;
	int rc = check_cand(k, c, b->max_steps < b->left ? b->max_steps : b->left, &v, &steps, NULL, NULL);
	b->left -= steps < b->left ? steps : b->left;
	*out = !rc && v == LIN_VIOLATION;
	return rc;
}

/* The history cut at time @p t: what was invoked by then, what was pending becomes info. */
static int cand_cut(struct cand *out, const struct key *k, const struct cand *c, uint64_t t)
{
	int rc = cand_alloc(out, k, c->dropped);
	for (uint32_t i = 0; !rc && i < c->n; i++) {
		const struct kop *o = &k->ops[c->k[i]];
		bool info = c->info[i] || (!o->info && o->ret > t);
		if (o->call <= t && !(info && is_read(o->f)))
			cand_push(out, c->k[i], info);
	}
	return rc;
}

static int u64_cmp(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
	return a < b ? -1 : a > b;
}

/* Step 1: bisect for the earliest completion time where the cut history fails. */
static int shortest_prefix(const struct key *k, struct cand *c, struct budget *b)
{
	uint64_t *times = malloc((c->n ? c->n : 1) * sizeof(*times));
	if (!times)
		return GROVE_ENOMEM;
	size_t n = 0;
	for (uint32_t i = 0; i < c->n; i++)
		if (!k->ops[c->k[i]].info && !c->info[i])
			times[n++] = k->ops[c->k[i]].ret;
	qsort(times, n, sizeof(*times), u64_cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || times[u - 1] != times[i])
			times[u++] = times[i];
	/* Cutting at the last completion only drops info operations invoked after it. */
	ptrdiff_t lo = -1, hi = (ptrdiff_t)u - 1;
	int rc = GROVE_OK;
	while (hi - lo > 1 && !rc) {
		ptrdiff_t mid = lo + (hi - lo) / 2;
		struct cand cut;
		bool f = false;
		if (!(rc = cand_cut(&cut, k, c, times[mid])))
			rc = fails(k, &cut, b, &f);
		cand_free(&cut);
		if (f)
			hi = mid;
		else
			lo = mid;
	}
	if (!rc && hi >= 0) {
		struct cand cut;
		bool f = false;
		if (!(rc = cand_cut(&cut, k, c, times[hi])))
			rc = fails(k, &cut, b, &f);
		if (f) {
			cand_free(c);
			*c = cut;
		} else {
			cand_free(&cut);
		}
	}
	free(times);
	return rc;
}

/*
 * @p c without the units @p units[0..n): elements (projected out of every
 * read, their adds left out) or operations (reads; for a register also
 * writes that no read left in @p c saw). Both keep a linearizable history
 * linearizable. *changed says whether anything went.
 */
static int cand_without(const struct key *k, const struct cand *c, bool elements, const uint32_t *units, size_t n,
                        struct cand *out, bool *changed)
{
	*changed = false;
	int rc = cand_alloc(out, k, c->dropped);
	bool *gone = calloc(k->n ? k->n : 1, sizeof(*gone));
	uint32_t *readers = calloc(k->n_vals, sizeof(*readers));
	if (rc || !gone || !readers) {
		free(gone);
		free(readers);
		cand_free(out);
		return GROVE_ENOMEM;
	}
	for (size_t u = 0; u < n; u++) {
		if (elements) {
			out->dropped[units[u]] = true;
			if (k->elem_add[units[u]] != NONE)
				gone[k->elem_add[units[u]]] = true;
			*changed = true;
		} else if (is_read(k->ops[units[u]].f)) {
			gone[units[u]] = *changed = true;
		}
	}
	for (uint32_t i = 0; i < c->n; i++)
		if (k->ops[c->k[i]].f == HISTORY_READ && !gone[c->k[i]])
			readers[k->ops[c->k[i]].val]++;
	for (size_t u = 0; u < n && !elements; u++)
		if (k->ops[units[u]].f == HISTORY_WRITE && !readers[k->ops[units[u]].val])
			gone[units[u]] = *changed = true;
	for (uint32_t i = 0; i < c->n; i++)
		if (!gone[c->k[i]])
			cand_push(out, c->k[i], c->info[i]);
	free(gone);
	free(readers);
	return GROVE_OK;
}

/* Step 2: leave out chunks of units, halving the chunk down to one unit, for as long as the rest fails. */
static int shrink(const struct key *k, struct cand *c, bool elements, uint32_t *units, size_t n, struct budget *b,
                  bool *changed)
{
	size_t size = n / 2 ? n / 2 : 1;
	while (n && b->left) {
		bool any = false;
		for (size_t i = 0; i < n && b->left;) {
			size_t m = n - i < size ? n - i : size;
			struct cand next;
			bool differs, f = false;
			int rc = cand_without(k, c, elements, units + i, m, &next, &differs);
			if (!rc && differs)
				rc = fails(k, &next, b, &f);
			if (rc) {
				cand_free(&next);
				return rc;
			}
			if (f) {
				cand_free(c);
				*c = next;
				memmove(units + i, units + i + m, (n - i - m) * sizeof(*units));
				n -= m;
				any = *changed = true;
			} else {
				cand_free(&next);
				i += m;
			}
		}
		if (size > 1)
			size /= 2;
		else if (!any)
			break;
	}
	return GROVE_OK;
}

/* The units of one shrink pass: the elements still in @p c, or its reads and writes. */
static int shrink_pass(const struct key *k, struct cand *c, bool elements, struct budget *b, bool *changed)
{
	uint32_t *units = malloc(((elements ? k->n_vals : c->n) + 1) * sizeof(*units));
	bool *seen = elements ? calloc(k->n_vals, sizeof(*seen)) : NULL;
	if (!units || (elements && !seen)) {
		free(units);
		free(seen);
		return GROVE_ENOMEM;
	}
	size_t n = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct kop *o = &k->ops[c->k[i]];
		if (!elements) {
			if (o->f != HISTORY_ADD)
				units[n++] = c->k[i];
			continue;
		}
		if (o->f == HISTORY_ADD)
			seen[o->val] = true;
		for (uint32_t e = 0; e < o->n_elems; e++)
			seen[o->elems[e]] = true;
	}
	for (uint32_t v = 0; elements && v < k->n_vals; v++)
		if (seen[v] && !c->dropped[v])
			units[n++] = v;
	int rc = shrink(k, c, elements, units, n, b, changed);
	free(units);
	free(seen);
	return rc;
}

static int minimize(const struct key *k, struct cand *c, const struct lin_options *opt)
{
	struct budget b = {opt->minimize_steps ? opt->minimize_steps : LIN_DEFAULT_MINIMIZE_STEPS,
	                   opt->max_steps ? opt->max_steps : LIN_DEFAULT_MAX_STEPS};
	int rc = shortest_prefix(k, c, &b);
	bool changed = true;
	while (!rc && changed && b.left) {
		changed = false;
		if (k->model == HISTORY_GSET)
			rc = shrink_pass(k, c, true, &b, &changed);
		if (!rc)
			rc = shrink_pass(k, c, false, &b, &changed);
	}
	return rc;
}

/* The excerpt as a history of its own: cut-pending operations as info, read_sets projected. */
static int excerpt_build(const struct key *k, const struct cand *c, struct history **out)
{
	const struct history *h = k->h;
	struct history *x = calloc(1, sizeof(*x));
	if (!x)
		return GROVE_ENOMEM;
	x->keys = malloc(sizeof(*x->keys));
	x->models = malloc(sizeof(*x->models));
	x->ops = calloc(c->n ? c->n : 1, sizeof(*x->ops));
	if (!x->keys || !x->models || !x->ops || !(x->keys[0] = strdup(h->keys[k->key])))
		goto nomem;
	x->n_keys = 1;
	x->models[0] = k->model;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct kop *ko = &k->ops[c->k[i]];
		const struct history_op *o = &h->ops[ko->op];
		struct history_op *d = &x->ops[x->n_ops];
		*d = *o;
		d->key = 0;
		d->value = (struct history_value){0};
		x->n_ops++;
		if (c->info[i])
			d->status = HISTORY_INFO;
		if (history_value_copy(&d->value, &o->value))
			goto nomem;
		if (ko->f == HISTORY_READ_SET) {
			size_t m = 0;
			for (uint32_t e = 0; e < ko->n_elems; e++) {
				if (c->dropped[ko->elems[e]]) {
					free(d->value.elems[e].s);
					continue;
				}
				d->value.elems[m++] = d->value.elems[e];
			}
			d->value.n_elems = m;
		}
	}
	*out = x;
	return GROVE_OK;
nomem:
	history_free(x);
	return GROVE_ENOMEM;
}

/* ---- explanations ---- */

static void put_value(FILE *f, const struct history_value *v)
{
	if (v->kind == HISTORY_SET && v->n_elems > 8)
		fprintf(f, "a set of %zu elements", v->n_elems);
	else
		history_write_value(f, v);
}

static void put_lines(FILE *f, const struct history_op *o)
{
	if (o->complete_line)
		fprintf(f, "lines %zu-%zu", o->invoke_line, o->complete_line);
	else
		fprintf(f, "line %zu, never completed", o->invoke_line);
}

/* "the read by process 3 (lines 7-9) that returned 2" */
static void put_op(FILE *f, const struct history_op *o)
{
	fprintf(f, "the %s ", history_f_name(o->f));
	if (!is_read(o->f)) {
		fputs("of ", f);
		put_value(f, &o->value);
		fputc(' ', f);
	}
	fprintf(f, "by process %" PRIu64 " (", o->process);
	put_lines(f, o);
	fputc(')', f);
	if (is_read(o->f)) {
		fputs(" that returned ", f);
		put_value(f, &o->value);
	} else if (o->status == HISTORY_INFO) {
		fputs(" (outcome unknown)", f);
	}
}

/* A failed operation of the same key that wrote or added @p v, if there is one. */
static const struct history_op *failed_writer(const struct history *h, size_t key, const struct history_value *v)
{
	for (size_t i = 0; i < h->n_ops; i++) {
		const struct history_op *o = &h->ops[i];
		if (o->key == key && o->status == HISTORY_FAIL && !is_read(o->f) && history_value_equal(&o->value, v))
			return o;
	}
	return NULL;
}

static void put_never_written(FILE *f, const struct history *h, size_t key, const struct history_value *v)
{
	const struct history_op *w = failed_writer(h, key, v);
	fprintf(f, "which no %s of %s %s", h->models[key] == HISTORY_REGISTER ? "write" : "add", h->keys[key],
	        h->models[key] == HISTORY_REGISTER ? "wrote" : "added");
	if (w)
		fprintf(f, " (the one on line %zu failed: it did not take effect)", w->invoke_line);
}

/* A read that sees what nothing in the excerpt produced: the plainest explanation. */
static bool explain_impossible_read(FILE *f, const struct key *k, const struct cand *c, const struct history *x)
{
	const struct history *h = k->h;
	bool *written = calloc(k->n_vals ? k->n_vals : 1, sizeof(*written));
	uint32_t *seen = malloc((k->n_vals ? k->n_vals : 1) * sizeof(*seen));
	bool found = false;
	if (!written || !seen)
		goto out;
	written[0] = k->model == HISTORY_REGISTER; /* the initial nil */
	for (uint32_t i = 0; i < c->n; i++)
		if (!is_read(k->ops[c->k[i]].f))
			written[k->ops[c->k[i]].val] = true;
	for (uint32_t v = 0; v < k->n_vals; v++)
		seen[v] = NONE;
	for (uint32_t i = 0; i < c->n && !found; i++) {
		const struct kop *o = &k->ops[c->k[i]];
		if (o->f == HISTORY_READ && !written[o->val]) {
			put_op(f, &x->ops[i]);
			fputs(", ", f);
			put_never_written(f, h, k->key, &h->ops[o->op].value);
			found = true;
		}
		for (uint32_t e = 0; o->f == HISTORY_READ_SET && e < o->n_elems && !found; e++) {
			uint32_t el = o->elems[e];
			if (c->dropped[el])
				continue;
			const struct history_value *v = &h->ops[o->op].value.elems[e];
			if (seen[el] == i || !written[el]) {
				put_op(f, &x->ops[i]);
				fputs(" holds ", f);
				history_write_value(f, v);
				if (seen[el] == i) {
					fputs(" twice", f);
				} else {
					fputs(", ", f);
					put_never_written(f, h, k->key, v);
				}
				found = true;
			}
			seen[el] = i;
		}
	}
out:
	free(written);
	free(seen);
	return found;
}

static int cand_index(const struct cand *c, uint32_t kop)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->k[i] == kop)
			return (int)i;
	return -1;
}

/* One line on why the excerpt @p c (as history @p x) fails. */
static int explain(const struct key *k, const struct cand *c, const struct history *x, uint64_t max_steps, char **out)
{
	*out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(out, &len);
	if (!f)
		return GROVE_ENOMEM;
	if (!explain_impossible_read(f, k, c, x)) {
		struct search s;
		enum lin_verdict v = LIN_OK;
		int rc = check_cand(k, c, max_steps, &v, NULL, NULL, &s);
		if (rc) {
			fclose(f);
			free(*out);
			*out = NULL;
			return rc;
		}
		int at = s.best_op == NONE ? -1 : cand_index(c, s.ops[s.best_op].k);
		if (v != LIN_VIOLATION || at < 0) {
			fprintf(f, "no order of these %zu operations respects both their real-time order and the %s", x->n_ops,
			        k->model == HISTORY_REGISTER ? "register" : "set");
		} else {
			fprintf(f, "at most %" PRIu32 " of these %zu operations take effect in an order that respects real time (",
			        s.best_depth, x->n_ops);
			if (k->model == HISTORY_REGISTER) {
				fputs("the register then holds ", f);
				history_write_value(f, k->vals[s.best_state]);
			} else {
				fprintf(f, "the set then holds %" PRIu32 " element%s", s.best_state, s.best_state == 1 ? "" : "s");
			}
			fputs("), and then ", f);
			put_op(f, &x->ops[at]);
			fputs(" cannot take effect before it returns", f);
		}
		search_free(&s);
	}
	if (fclose(f) || !*out) {
		free(*out);
		*out = NULL;
		return GROVE_ENOMEM;
	}
	return GROVE_OK;
}

/* ---- final reads ---- */

static int op_value_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct history *h = ctx;
	const size_t *a = pa, *b = pb;
	int c = history_value_cmp(&h->ops[*a].value, &h->ops[*b].value);
	return c ? c : (*a < *b ? -1 : *a > *b);
}

static int elem_index_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct history_value *elems = ctx;
	const size_t *a = pa, *b = pb;
	int c = history_value_cmp(&elems[*a], &elems[*b]);
	return c ? c : (*a < *b ? -1 : *a > *b);
}

static int add_problem(struct lin_key_result *r, size_t *cap, struct lin_final_problem p)
{
	if (grove_grow((void **)&r->problems, cap, r->n_problems, sizeof(*r->problems)))
		return GROVE_ENOMEM;
	r->problems[r->n_problems++] = p;
	return GROVE_OK;
}

/* The position in @p sorted (indexes of values that @p at finds, in value order) of one equal to @p v, or SIZE_MAX. */
static size_t find_sorted(const size_t *sorted, size_t n, const struct history_value *v,
                          const struct history_value *(*at)(const void *ctx, size_t i), const void *ctx)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (history_value_cmp(at(ctx, sorted[mid]), v) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && history_value_cmp(at(ctx, sorted[lo]), v) == 0 ? lo : SIZE_MAX;
}

static const struct history_value *op_value_at(const void *ctx, size_t i)
{
	return &((const struct history *)ctx)->ops[i].value;
}

static const struct history_value *elem_at(const void *ctx, size_t i)
{
	return &((const struct history_value *)ctx)[i];
}

/* Every final read of @p key holds every acknowledged add, no failed add, nothing never added. */
static int check_finals(const struct history *h, const size_t *ops, size_t n_ops, const char **members,
                        size_t n_members, struct lin_key_result *r)
{
	size_t cap = 0, n_adds = 0;
	size_t *adds = malloc((n_ops ? n_ops : 1) * sizeof(*adds));
	bool *has = calloc(n_members ? n_members : 1, sizeof(*has));
	int rc = adds && has ? GROVE_OK : GROVE_ENOMEM;
	for (size_t i = 0; !rc && i < n_ops; i++)
		if (h->ops[ops[i]].f == HISTORY_ADD) {
			adds[n_adds++] = ops[i];
			r->n_acked += h->ops[ops[i]].status == HISTORY_OK;
		}
	if (!rc)
		qsort_r(adds, n_adds, sizeof(*adds), op_value_cmp, (void *)h);
	for (size_t fi = 0; !rc && fi < h->n_finals; fi++) {
		const struct history_final *fin = &h->finals[fi];
		if (fin->key != r->key)
			continue;
		r->n_finals++;
		for (size_t m = 0; m < n_members; m++)
			has[m] |= strcmp(members[m], fin->member) == 0;
		size_t n = fin->set.n_elems;
		size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
		if (!idx) {
			rc = GROVE_ENOMEM;
			break;
		}
		for (size_t e = 0; e < n; e++)
			idx[e] = e;
		qsort_r(idx, n, sizeof(*idx), elem_index_cmp, fin->set.elems);
		for (size_t e = 0; e < n && !rc; e++) {
			const struct history_value *v = &fin->set.elems[idx[e]];
			struct lin_final_problem p = {.final = fi, .op = SIZE_MAX, .elem = idx[e], .member = fin->member};
			size_t a = find_sorted(adds, n_adds, v, op_value_at, h);
			if (e && history_value_equal(v, &fin->set.elems[idx[e - 1]]))
				p.kind = LIN_FINAL_DUPLICATE;
			else if (a == SIZE_MAX)
				p.kind = LIN_FINAL_PHANTOM;
			else if (h->ops[adds[a]].status == HISTORY_FAIL)
				p = (struct lin_final_problem){LIN_FINAL_FAILED, fi, adds[a], SIZE_MAX, fin->member};
			else
				continue;
			rc = add_problem(r, &cap, p);
		}
		for (size_t a = 0; a < n_adds && !rc; a++)
			if (h->ops[adds[a]].status == HISTORY_OK &&
			    find_sorted(idx, n, &h->ops[adds[a]].value, elem_at, fin->set.elems) == SIZE_MAX)
				rc = add_problem(r, &cap,
				                 (struct lin_final_problem){LIN_FINAL_LOST, fi, adds[a], SIZE_MAX, fin->member});
		free(idx);
	}
	for (size_t m = 0; m < n_members && !rc; m++)
		if (!has[m])
			rc = add_problem(r, &cap,
			                 (struct lin_final_problem){LIN_FINAL_MISSING, SIZE_MAX, SIZE_MAX, SIZE_MAX, members[m]});
	r->final_verdict = LIN_OK;
	for (size_t i = 0; i < r->n_problems; i++) {
		enum lin_verdict v = r->problems[i].kind == LIN_FINAL_MISSING ? LIN_UNKNOWN : LIN_VIOLATION;
		if (v > r->final_verdict)
			r->final_verdict = v;
	}
	free(adds);
	free(has);
	return rc;
}

/* ---- the whole history ---- */

static int check_key(const struct history *h, size_t key, const size_t *ops, size_t n, const struct lin_options *opt,
                     struct lin_key_result *r)
{
	uint64_t max_steps = opt->max_steps ? opt->max_steps : LIN_DEFAULT_MAX_STEPS;
	struct key k;
	struct cand c = {0};
	int rc = key_build(&k, h, key, ops, NULL, n);
	if (rc)
		return rc;
	k.zones = !opt->search_only;
	r->n_ops = k.n;
	r->n_all = n;
	if ((rc = cand_all(&c, &k)) ||
	    (rc = check_cand(&k, &c, max_steps, &r->verdict, &r->steps, &r->zones, NULL)))
		goto out;
	if (r->verdict == LIN_UNKNOWN) {
		if (asprintf(&r->explanation, "the search stopped at its limit of %" PRIu64 " steps", max_steps) < 0) {
			r->explanation = NULL;
			rc = GROVE_ENOMEM;
		}
		goto out;
	}
	if (r->verdict != LIN_VIOLATION)
		goto out;
	if ((!opt->no_minimize && (rc = minimize(&k, &c, opt))) || (rc = excerpt_build(&k, &c, &r->excerpt)))
		goto out;
	rc = explain(&k, &c, r->excerpt, max_steps, &r->explanation);
out:
	cand_free(&c);
	key_free(&k);
	return rc;
}

void lin_report_free(struct lin_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_keys; i++) {
		free(r->keys[i].explanation);
		history_free(r->keys[i].excerpt);
		free(r->keys[i].problems);
	}
	free(r->keys);
	free(r);
}

/* The members that made final reads, each once. */
static int final_members(const struct history *h, const char ***out, size_t *n)
{
	*n = 0;
	*out = malloc((h->n_finals ? h->n_finals : 1) * sizeof(**out));
	if (!*out)
		return GROVE_ENOMEM;
	for (size_t i = 0; i < h->n_finals; i++) {
		size_t m = 0;
		while (m < *n && strcmp((*out)[m], h->finals[i].member) != 0)
			m++;
		if (m == *n)
			(*out)[(*n)++] = h->finals[i].member;
	}
	return GROVE_OK;
}

int lin_check(const struct history *h, const struct lin_options *opt, struct lin_report **out)
{
	static const struct lin_options defaults = {0};
	opt = opt ? opt : &defaults;
	*out = NULL;
	struct lin_report *r = calloc(1, sizeof(*r));
	size_t *start = calloc(h->n_keys + 1, sizeof(*start));
	size_t *by_key = malloc((h->n_ops ? h->n_ops : 1) * sizeof(*by_key));
	const char **members = NULL;
	size_t n_members = 0;
	int rc = r && start && by_key ? final_members(h, &members, &n_members) : GROVE_ENOMEM;
	if (!rc && !(r->keys = calloc(h->n_keys ? h->n_keys : 1, sizeof(*r->keys))))
		rc = GROVE_ENOMEM;
	if (rc)
		goto out;
	/* The operations of each key, in history order. */
	for (size_t i = 0; i < h->n_ops; i++)
		start[h->ops[i].key + 1]++;
	for (size_t k = 0; k < h->n_keys; k++)
		start[k + 1] += start[k];
	for (size_t i = 0; i < h->n_ops; i++)
		by_key[start[h->ops[i].key]++] = i;
	for (size_t k = h->n_keys; k > 0; k--)
		start[k] = start[k - 1];
	start[0] = 0;
	for (size_t k = 0; k < h->n_keys && !rc; k++) {
		struct lin_key_result *kr = &r->keys[r->n_keys++];
		kr->key = k;
		kr->model = h->models[k];
		rc = check_key(h, k, by_key + start[k], start[k + 1] - start[k], opt, kr);
		if (!rc && kr->model == HISTORY_GSET && h->n_finals)
			rc = check_finals(h, by_key + start[k], start[k + 1] - start[k], members, n_members, kr);
		enum lin_verdict worst = kr->verdict > kr->final_verdict ? kr->verdict : kr->final_verdict;
		if (worst > r->verdict)
			r->verdict = worst;
		r->n_ok += worst == LIN_OK;
		r->n_unknown += worst == LIN_UNKNOWN;
		r->n_violation += worst == LIN_VIOLATION;
	}
out:
	free(start);
	free(by_key);
	free(members);
	if (rc) {
		lin_report_free(r);
		return rc;
	}
	*out = r;
	return GROVE_OK;
}

/* ---- the report ---- */

/* @p x's operations as history lines, each after @p indent. */
static int write_excerpt(FILE *f, const struct history *x, const char *indent)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return -1;
	size_t *all = malloc((x->n_ops ? x->n_ops : 1) * sizeof(*all));
	int rc = all ? 0 : -1;
	for (size_t i = 0; all && i < x->n_ops; i++)
		all[i] = i;
	if (!rc)
		rc = history_write_ops(m, x, all, NULL, x->n_ops);
	free(all);
	if (fclose(m) || !text)
		rc = -1;
	for (char *line = text, *nl; !rc && line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		if (fprintf(f, "%s%.*s\n", indent, (int)(nl - line), line) < 0)
			rc = -1;
	}
	free(text);
	return rc;
}

static void write_problem(FILE *f, const struct history *h, const struct lin_final_problem *p)
{
	const struct history_final *fin = p->final != SIZE_MAX ? &h->finals[p->final] : NULL;
	if (p->kind == LIN_FINAL_MISSING) {
		fprintf(f, "  member %s made no final read of this key\n", p->member);
		return;
	}
	fprintf(f, "  the final read of member %s (line %zu) ", p->member, fin->line);
	switch (p->kind) {
	case LIN_FINAL_LOST:
		fputs("lacks ", f);
		put_op(f, &h->ops[p->op]);
		fputs(", which was acknowledged", f);
		break;
	case LIN_FINAL_FAILED:
		fputs("holds ", f);
		history_write_value(f, &h->ops[p->op].value);
		fputs(", but ", f);
		put_op(f, &h->ops[p->op]);
		fputs(" failed", f);
		break;
	case LIN_FINAL_PHANTOM:
		fputs("holds ", f);
		history_write_value(f, &fin->set.elems[p->elem]);
		fputs(", ", f);
		put_never_written(f, h, fin->key, &fin->set.elems[p->elem]);
		break;
	case LIN_FINAL_DUPLICATE:
		fputs("holds ", f);
		history_write_value(f, &fin->set.elems[p->elem]);
		fputs(" twice", f);
		break;
	case LIN_FINAL_MISSING:
		break;
	}
	fputc('\n', f);
}

int lin_report_write(FILE *f, const struct history *h, const struct lin_report *r, bool all_keys)
{
	size_t n_ops = 0;
	for (size_t i = 0; i < r->n_keys; i++) {
		const struct lin_key_result *kr = &r->keys[i];
		n_ops += kr->n_ops;
		if (!all_keys && kr->verdict == LIN_OK && kr->final_verdict == LIN_OK)
			continue;
		fprintf(f, "%s (%s, %zu operations, %zu searched): %s", h->keys[kr->key],
		        kr->model == HISTORY_REGISTER ? "register" : "set", kr->n_all, kr->n_ops, lin_verdict_name(kr->verdict));
		if (kr->zones)
			fputs(" by the zone test\n", f);
		else
			fprintf(f, " in %" PRIu64 " steps\n", kr->steps);
		if (kr->explanation)
			fprintf(f, "  # %s\n", kr->explanation);
		if (kr->excerpt) {
			fprintf(f, "  # the shortest excerpt found that fails (%zu of %zu operations%s):\n", kr->excerpt->n_ops,
			        kr->n_ops, kr->model == HISTORY_GSET ? "; read_sets show only the elements in it" : "");
			if (write_excerpt(f, kr->excerpt, "  "))
				return -1;
		}
		if (kr->n_finals && !kr->n_problems)
			fprintf(f, "  final reads: %zu, holding all %zu acknowledged adds\n", kr->n_finals, kr->n_acked);
		for (size_t p = 0; p < kr->n_problems && p < 20; p++)
			write_problem(f, h, &kr->problems[p]);
		if (kr->n_problems > 20)
			fprintf(f, "  ... and %zu more final-read problems\n", kr->n_problems - 20);
	}
	return fprintf(f,
	               "summary: %zu keys: %zu linearizable, %zu NOT linearizable, %zu unknown; %zu operations, %zu searched "
	               "(failed operations and reads of unknown outcome constrain nothing); %s\n",
	               r->n_keys, r->n_ok, r->n_violation, r->n_unknown, h->n_ops, n_ops, lin_verdict_name(r->verdict)) < 0
	           ? -1
	           : 0;
}
