#include "tests/jepsen/history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"

static const char *const f_names[] = {"write", "read", "add", "read_set"};
static const char *const type_names[] = {"invoke", "ok", "fail", "info"};

const char *history_f_name(enum history_f f)
{
	return (unsigned)f < 4 ? f_names[f] : "?";
}

const char *history_type_name(enum history_type t)
{
	return (unsigned)t < 4 ? type_names[t] : "?";
}

void history_value_free(struct history_value *v)
{
	free(v->s);
	for (size_t i = 0; i < v->n_elems; i++)
		free(v->elems[i].s);
	free(v->elems);
	*v = (struct history_value){0};
}

int history_value_copy(struct history_value *dst, const struct history_value *src)
{
	*dst = *src;
	dst->s = NULL;
	dst->elems = NULL;
	dst->n_elems = 0;
	if (src->s && !(dst->s = strdup(src->s)))
		goto nomem;
	if (src->n_elems) {
		if (!(dst->elems = calloc(src->n_elems, sizeof(*dst->elems))))
			goto nomem;
		dst->n_elems = src->n_elems;
		for (size_t i = 0; i < src->n_elems; i++) {
			dst->elems[i] = src->elems[i];
			if (src->elems[i].s && !(dst->elems[i].s = strdup(src->elems[i].s)))
				goto nomem;
		}
	}
	return GROVE_OK;
nomem:
	history_value_free(dst);
	return GROVE_ENOMEM;
}

void history_free(struct history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_keys; i++)
		free(h->keys[i]);
	free(h->keys);
	free(h->models);
	for (size_t i = 0; i < h->n_ops; i++)
		history_value_free(&h->ops[i].value);
	free(h->ops);
	for (size_t i = 0; i < h->n_finals; i++) {
		free(h->finals[i].member);
		history_value_free(&h->finals[i].set);
	}
	free(h->finals);
	free(h);
}

bool history_value_equal(const struct history_value *a, const struct history_value *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case HISTORY_NIL:
		return true;
	case HISTORY_INT:
		return a->i == b->i;
	case HISTORY_STR:
		return strcmp(a->s, b->s) == 0;
	case HISTORY_SET:
		if (a->n_elems != b->n_elems)
			return false;
		for (size_t i = 0; i < a->n_elems; i++)
			if (!history_value_equal(&a->elems[i], &b->elems[i]))
				return false;
		return true;
	}
	return false;
}

int history_value_cmp(const struct history_value *a, const struct history_value *b)
{
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == HISTORY_INT)
		return a->i < b->i ? -1 : a->i > b->i;
	if (a->kind == HISTORY_STR)
		return strcmp(a->s, b->s);
	return 0;
}

/* ---- parsing ---- */

/* A table from process id to its open operation. Processes are few; open
 * addressing with linear probing over a power-of-two table is plenty. */
struct proc_slot {
	uint64_t process;
	bool used;
	size_t open;        /* index of its invoked, not yet completed op; SIZE_MAX: none */
	uint64_t last_ns;   /* its latest event's time */
};

struct key_slot {
	size_t key;         /* index into history.keys; SIZE_MAX: empty */
	uint64_t hash;
};

struct parser {
	struct history *h;
	struct history_error *err;
	size_t line;
	const char *p, *end;    /* the rest of the current line */
	size_t cap_keys, cap_ops, cap_finals;
	size_t *key_line;       /* first line that used each key */
	struct proc_slot *procs;
	size_t n_procs, cap_procs;
	struct key_slot *kslots;
	size_t n_kslots;        /* table size, a power of two */
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *ps, const char *fmt, ...)
{
	if (ps->err) {
		ps->err->line = ps->line;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
		va_end(ap);
	}
	return GROVE_EPARSE;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t x = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		x = (x ^ (unsigned char)s[i]) * 1099511628211ull;
	return x;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static struct proc_slot *proc_find(struct parser *ps, uint64_t process)
{
	if (2 * (ps->n_procs + 1) > ps->cap_procs) {
		size_t ncap = ps->cap_procs ? 2 * ps->cap_procs : 64;
		struct proc_slot *t = calloc(ncap, sizeof(*t));
		if (!t)
			return NULL;
		for (size_t i = 0; i < ps->cap_procs; i++) {
			if (!ps->procs[i].used)
				continue;
			size_t j = mix64(ps->procs[i].process) & (ncap - 1);
			while (t[j].used)
				j = (j + 1) & (ncap - 1);
			t[j] = ps->procs[i];
		}
		free(ps->procs);
		ps->procs = t;
		ps->cap_procs = ncap;
	}
	size_t j = mix64(process) & (ps->cap_procs - 1);
	while (ps->procs[j].used && ps->procs[j].process != process)
		j = (j + 1) & (ps->cap_procs - 1);
	if (!ps->procs[j].used) {
		ps->procs[j] = (struct proc_slot){.process = process, .used = true, .open = SIZE_MAX};
		ps->n_procs++;
	}
	return &ps->procs[j];
}

static void kslot_insert(struct key_slot *t, size_t n, size_t key, uint64_t hash)
{
	size_t j = hash & (n - 1);
	while (t[j].key != SIZE_MAX)
		j = (j + 1) & (n - 1);
	t[j] = (struct key_slot){key, hash};
}

/* The index of key @p s (length @p n), added with @p model if new. */
static int key_index(struct parser *ps, const char *s, size_t n, enum history_model model, size_t *out)
{
	struct history *h = ps->h;
	uint64_t hash = hash_bytes(s, n);
	if (ps->n_kslots) {
		for (size_t j = hash & (ps->n_kslots - 1); ps->kslots[j].key != SIZE_MAX; j = (j + 1) & (ps->n_kslots - 1)) {
			size_t k = ps->kslots[j].key;
			if (ps->kslots[j].hash != hash || strlen(h->keys[k]) != n || memcmp(h->keys[k], s, n) != 0)
				continue;
			if (h->models[k] != model)
				return fail(ps, "key %s is used as a %s on line %zu and as a %s here", h->keys[k],
				            h->models[k] == HISTORY_REGISTER ? "register" : "set", ps->key_line[k],
				            model == HISTORY_REGISTER ? "register" : "set");
			*out = k;
			return GROVE_OK;
		}
	}
	if (2 * (h->n_keys + 1) > ps->n_kslots) {
		size_t ncap = ps->n_kslots ? 2 * ps->n_kslots : 64;
		struct key_slot *t = malloc(ncap * sizeof(*t));
		if (!t)
			return GROVE_ENOMEM;
		for (size_t j = 0; j < ncap; j++)
			t[j].key = SIZE_MAX;
		for (size_t j = 0; j < ps->n_kslots; j++)
			if (ps->kslots[j].key != SIZE_MAX)
				kslot_insert(t, ncap, ps->kslots[j].key, ps->kslots[j].hash);
		free(ps->kslots);
		ps->kslots = t;
		ps->n_kslots = ncap;
	}
	size_t cap = ps->cap_keys;
	if (grove_grow((void **)&h->keys, &cap, h->n_keys, sizeof(*h->keys)) != GROVE_OK)
		return GROVE_ENOMEM;
	cap = ps->cap_keys;
	if (grove_grow((void **)&h->models, &cap, h->n_keys, sizeof(*h->models)) != GROVE_OK)
		return GROVE_ENOMEM;
	cap = ps->cap_keys;
	if (grove_grow((void **)&ps->key_line, &cap, h->n_keys, sizeof(*ps->key_line)) != GROVE_OK)
		return GROVE_ENOMEM;
	ps->cap_keys = cap;
	char *copy = strndup(s, n);
	if (!copy)
		return GROVE_ENOMEM;
	h->keys[h->n_keys] = copy;
	h->models[h->n_keys] = model;
	ps->key_line[h->n_keys] = ps->line;
	kslot_insert(ps->kslots, ps->n_kslots, h->n_keys, hash);
	*out = h->n_keys++;
	return GROVE_OK;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static void skip_blanks(struct parser *ps)
{
	while (ps->p < ps->end && blank(*ps->p))
		ps->p++;
}

/* The next run of non-blank bytes; @p what names the field for errors. */
static int token(struct parser *ps, const char *what, const char **tok, size_t *n)
{
	skip_blanks(ps);
	const char *s = ps->p;
	while (ps->p < ps->end && !blank(*ps->p))
		ps->p++;
	*tok = s;
	*n = (size_t)(ps->p - s);
	return *n ? GROVE_OK : fail(ps, "missing %s", what);
}

/* Which of the four @p names the token is, or -1. */
static int name_index(const char *tok, size_t n, const char *const names[4])
{
	for (int i = 0; i < 4; i++)
		if (strlen(names[i]) == n && memcmp(tok, names[i], n) == 0)
			return i;
	return -1;
}

static int parse_u64(struct parser *ps, const char *what, uint64_t *out)
{
	const char *tok;
	size_t n;
	int rc = token(ps, what, &tok, &n);
	if (rc)
		return rc;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return fail(ps, "%s '%.*s' is not a decimal unsigned integer", what, (int)(n > 40 ? 40 : n), tok);
		unsigned d = (unsigned)(tok[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return fail(ps, "%s '%.*s' does not fit in 64 bits", what, (int)(n > 40 ? 40 : n), tok);
		x = x * 10 + d;
	}
	*out = x;
	return GROVE_OK;
}

/* A key or member name: printable, no blanks, no control bytes. */
static int parse_name(struct parser *ps, const char *what, const char **s, size_t *n)
{
	int rc = token(ps, what, s, n);
	if (rc)
		return rc;
	if (*n > HISTORY_MAX_KEY)
		return fail(ps, "%s is longer than %d bytes", what, HISTORY_MAX_KEY);
	for (size_t i = 0; i < *n; i++)
		if ((unsigned char)(*s)[i] < 0x21 || (*s)[i] == 0x7f)
			return fail(ps, "%s holds the control byte 0x%02x", what, (unsigned char)(*s)[i]);
	return GROVE_OK;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_string(struct parser *ps, struct history_value *v)
{
	ps->p++; /* the opening quote */
	size_t cap = 16, n = 0;
	char *s = malloc(cap);
	if (!s)
		return GROVE_ENOMEM;
	for (;;) {
		if (ps->p >= ps->end) {
			free(s);
			return fail(ps, "a string is not closed");
		}
		unsigned char c = (unsigned char)*ps->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			if (ps->p >= ps->end) {
				free(s);
				return fail(ps, "a string is not closed");
			}
			char e = *ps->p++;
			if (e == '\\' || e == '"') {
				c = (unsigned char)e;
			} else if (e == 'n') {
				c = '\n';
			} else if (e == 'r') {
				c = '\r';
			} else if (e == 't') {
				c = '\t';
			} else if (e == 'x') {
				int hi = ps->end - ps->p >= 2 ? hex_digit(ps->p[0]) : -1;
				int lo = hi >= 0 ? hex_digit(ps->p[1]) : -1;
				if (lo < 0 || (hi | lo) == 0) {
					free(s);
					return fail(ps, "\\x in a string must be followed by two hex digits, not 00");
				}
				c = (unsigned char)(hi << 4 | lo);
				ps->p += 2;
			} else {
				free(s);
				return fail(ps, "unknown escape \\%c in a string", (unsigned char)e >= 0x21 && e != 0x7f ? e : '?');
			}
		} else if (c < 0x20 || c == 0x7f) {
			free(s);
			return fail(ps, "a string holds the control byte 0x%02x (write it as \\x%02x)", c, c);
		}
		if (n + 1 >= cap) {
			char *t = realloc(s, cap * 2);
			if (!t) {
				free(s);
				return GROVE_ENOMEM;
			}
			s = t;
			cap *= 2;
		}
		s[n++] = (char)c;
	}
	s[n] = 0;
	v->kind = HISTORY_STR;
	v->s = s;
	return GROVE_OK;
}

static bool ends_atom(const struct parser *ps)
{
	return ps->p >= ps->end || blank(*ps->p) || *ps->p == ',' || *ps->p == ']';
}

/* nil, an integer or a string. */
static int parse_scalar(struct parser *ps, struct history_value *v)
{
	*v = (struct history_value){0};
	if (ps->p >= ps->end)
		return fail(ps, "missing value");
	if (*ps->p == '"')
		return parse_string(ps, v);
	if (ps->end - ps->p >= 3 && memcmp(ps->p, "nil", 3) == 0) {
		ps->p += 3;
		if (!ends_atom(ps))
			return fail(ps, "malformed value after 'nil'");
		return GROVE_OK;
	}
	bool neg = *ps->p == '-';
	const char *start = ps->p;
	if (neg)
		ps->p++;
	uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	size_t digits = 0;
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		unsigned d = (unsigned)(*ps->p++ - '0');
		if (mag > (limit - d) / 10)
			return fail(ps, "integer %.*s... does not fit in 64 bits", (int)(ps->p - start), start);
		mag = mag * 10 + d;
		digits++;
	}
	if (!digits || !ends_atom(ps)) {
		while (ps->p < ps->end && !blank(*ps->p))
			ps->p++;
		int n = (int)(ps->p - start);
		return fail(ps, "malformed value '%.*s' (values are nil, integers, \"strings\" or [sets])", n > 40 ? 40 : n,
		            start);
	}
	v->kind = HISTORY_INT;
	v->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return GROVE_OK;
}

static int parse_value(struct parser *ps, struct history_value *v)
{
	skip_blanks(ps);
	*v = (struct history_value){0};
	if (ps->p >= ps->end)
		return fail(ps, "missing value");
	if (*ps->p != '[')
		return parse_scalar(ps, v);
	ps->p++;
	v->kind = HISTORY_SET;
	size_t cap = 0;
	skip_blanks(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return GROVE_OK;
	}
	for (;;) {
		skip_blanks(ps);
		if (grove_grow((void **)&v->elems, &cap, v->n_elems, sizeof(*v->elems)) != GROVE_OK)
			return GROVE_ENOMEM;
		struct history_value *e = &v->elems[v->n_elems];
		int rc = parse_scalar(ps, e);
		if (rc) {
			history_value_free(e);
			return rc;
		}
		v->n_elems++;
		if (e->kind == HISTORY_NIL)
			return fail(ps, "a set element must be an integer or a string, not nil");
		skip_blanks(ps);
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return GROVE_OK;
		}
		if (ps->p >= ps->end || *ps->p != ',')
			return fail(ps, "a set is not closed with ']' (elements are separated by ',')");
		ps->p++;
	}
}

/* The value field, followed by a blank or the end of the line. */
static int value_field(struct parser *ps, struct history_value *v)
{
	int rc = parse_value(ps, v);
	if (rc == GROVE_OK && ps->p < ps->end && !blank(*ps->p))
		rc = fail(ps, "unexpected '%c' after the value", *ps->p);
	if (rc)
		history_value_free(v);
	return rc;
}

static int end_of_line(struct parser *ps)
{
	skip_blanks(ps);
	if (ps->p < ps->end)
		return fail(ps, "unexpected text after the last field: '%.*s'",
		            (int)(ps->end - ps->p > 40 ? 40 : ps->end - ps->p), ps->p);
	return GROVE_OK;
}

static const char *kind_name(enum history_kind k)
{
	static const char *const names[] = {"nil", "an integer", "a string", "a set"};
	return names[k];
}

static int parse_final(struct parser *ps)
{
	const char *member, *key;
	size_t n_member, n_key;
	int rc = parse_name(ps, "member", &member, &n_member);
	if (!rc)
		rc = parse_name(ps, "key", &key, &n_key);
	if (rc)
		return rc;
	size_t k;
	if ((rc = key_index(ps, key, n_key, HISTORY_GSET, &k)))
		return rc;
	struct history_value set;
	if ((rc = value_field(ps, &set)))
		return rc;
	if (set.kind != HISTORY_SET) {
		history_value_free(&set);
		return fail(ps, "a final read must be a set like [1, 2], not %s", kind_name(set.kind));
	}
	if ((rc = end_of_line(ps)) || (rc = grove_grow((void **)&ps->h->finals, &ps->cap_finals, ps->h->n_finals,
	                                               sizeof(*ps->h->finals)))) {
		history_value_free(&set);
		return rc;
	}
	char *m = strndup(member, n_member);
	if (!m) {
		history_value_free(&set);
		return GROVE_ENOMEM;
	}
	ps->h->finals[ps->h->n_finals++] = (struct history_final){.member = m, .key = k, .set = set, .line = ps->line};
	return GROVE_OK;
}

/* Which values an event may carry. */
static int check_value(struct parser *ps, enum history_type type, enum history_f f, const struct history_value *v)
{
	bool is_read = f == HISTORY_READ || f == HISTORY_READ_SET;
	if (is_read && type != HISTORY_OK) {
		if (v->kind != HISTORY_NIL)
			return fail(ps, "a %s %s carries nil, not %s", history_f_name(f), history_type_name(type),
			            kind_name(v->kind));
		return GROVE_OK;
	}
	if (f == HISTORY_READ_SET && v->kind != HISTORY_SET)
		return fail(ps, "an ok read_set carries a set like [1, 2], not %s", kind_name(v->kind));
	if (f != HISTORY_READ_SET && v->kind == HISTORY_SET)
		return fail(ps, "only read_set and final lines carry sets");
	if (f == HISTORY_ADD && v->kind == HISTORY_NIL)
		return fail(ps, "an add carries an integer or a string, not nil");
	return GROVE_OK;
}

static int parse_event(struct parser *ps)
{
	uint64_t process, time_ns;
	int rc = parse_u64(ps, "process", &process);
	if (rc)
		return rc;
	const char *tok, *key;
	size_t n, n_key;
	if ((rc = token(ps, "event type (invoke, ok, fail or info)", &tok, &n)))
		return rc;
	int type = name_index(tok, n, type_names), f;
	if (type < 0)
		return fail(ps, "unknown event type '%.*s' (invoke, ok, fail or info)", (int)(n > 40 ? 40 : n), tok);
	if ((rc = token(ps, "operation (write, read, add or read_set)", &tok, &n)))
		return rc;
	if ((f = name_index(tok, n, f_names)) < 0)
		return fail(ps, "unknown operation '%.*s' (write, read, add or read_set)", (int)(n > 40 ? 40 : n), tok);
	if ((rc = parse_name(ps, "key", &key, &n_key)))
		return rc;
	struct history_value v;
	if ((rc = value_field(ps, &v)))
		return rc;
	if ((rc = parse_u64(ps, "time", &time_ns)) || (rc = end_of_line(ps)) ||
	    (rc = check_value(ps, (enum history_type)type, (enum history_f)f, &v)))
		goto out;
	if (time_ns == UINT64_MAX) {
		rc = fail(ps, "time %" PRIu64 " is reserved (it stands for 'never')", time_ns);
		goto out;
	}
	enum history_model model = f == HISTORY_WRITE || f == HISTORY_READ ? HISTORY_REGISTER : HISTORY_GSET;
	size_t k;
	if ((rc = key_index(ps, key, n_key, model, &k)))
		goto out;
	struct proc_slot *pr = proc_find(ps, process);
	if (!pr) {
		rc = GROVE_ENOMEM;
		goto out;
	}
	struct history *h = ps->h;
	if (time_ns < pr->last_ns) {
		rc = fail(ps, "process %" PRIu64 " goes back in time: %" PRIu64 " after %" PRIu64, process, time_ns,
		          pr->last_ns);
		goto out;
	}
	if (type == HISTORY_INVOKE) {
		if (pr->open != SIZE_MAX) {
			const struct history_op *o = &h->ops[pr->open];
			rc = fail(ps, "process %" PRIu64 " invokes again while its %s of %s from line %zu is open", process,
			          history_f_name(o->f), h->keys[o->key], o->invoke_line);
			goto out;
		}
		if ((rc = grove_grow((void **)&h->ops, &ps->cap_ops, h->n_ops, sizeof(*h->ops))))
			goto out;
		h->ops[h->n_ops] = (struct history_op){
			.process = process, .f = (enum history_f)f, .key = k, .status = HISTORY_INFO, .value = v,
			.invoke_ns = time_ns, .complete_ns = UINT64_MAX, .invoke_line = ps->line};
		v = (struct history_value){0};
		pr->open = h->n_ops++;
	} else {
		if (pr->open == SIZE_MAX) {
			rc = fail(ps, "process %" PRIu64 " completes an operation it has not invoked", process);
			goto out;
		}
		struct history_op *o = &h->ops[pr->open];
		if (o->f != (enum history_f)f || o->key != k) {
			rc = fail(ps, "process %" PRIu64 " completes a %s of %s, but it invoked a %s of %s on line %zu",
			          process, history_f_name((enum history_f)f), h->keys[k], history_f_name(o->f),
			          h->keys[o->key], o->invoke_line);
			goto out;
		}
		if (f == HISTORY_WRITE || f == HISTORY_ADD) {
			if (!history_value_equal(&v, &o->value)) {
				rc = fail(ps, "this %s completes with another value than its invoke on line %zu",
				          history_f_name(o->f), o->invoke_line);
				goto out;
			}
		} else if (type == HISTORY_OK) {
			o->value = v;
			v = (struct history_value){0};
		}
		o->status = (enum history_type)type;
		o->complete_ns = time_ns;
		o->complete_line = ps->line;
		pr->open = SIZE_MAX;
	}
	pr->last_ns = time_ns;
out:
	history_value_free(&v);
	return rc;
}

struct add_ref {
	size_t op;
	const struct history *h;
};

static int add_ref_cmp(const void *pa, const void *pb)
{
	const struct add_ref *a = pa, *b = pb;
	const struct history_op *x = &a->h->ops[a->op], *y = &b->h->ops[b->op];
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	int c = history_value_cmp(&x->value, &y->value);
	if (c)
		return c;
	return a->op < b->op ? -1 : a->op > b->op;
}

/* Each element is added at most once per key: the checker names an add by it. */
static int check_unique_adds(struct parser *ps)
{
	struct history *h = ps->h;
	size_t n = 0;
	for (size_t i = 0; i < h->n_ops; i++)
		n += h->ops[i].f == HISTORY_ADD;
	if (!n)
		return GROVE_OK;
	struct add_ref *refs = malloc(n * sizeof(*refs));
	if (!refs)
		return GROVE_ENOMEM;
	n = 0;
	for (size_t i = 0; i < h->n_ops; i++)
		if (h->ops[i].f == HISTORY_ADD)
			refs[n++] = (struct add_ref){i, h};
	qsort(refs, n, sizeof(*refs), add_ref_cmp);
	int rc = GROVE_OK;
	for (size_t i = 1; i < n && !rc; i++) {
		const struct history_op *a = &h->ops[refs[i - 1].op], *b = &h->ops[refs[i].op];
		if (a->key == b->key && history_value_equal(&a->value, &b->value)) {
			ps->line = b->invoke_line;
			rc = fail(ps, "the element added to %s here was added before on line %zu (adds must be unique)",
			          h->keys[b->key], a->invoke_line);
		}
	}
	free(refs);
	return rc;
}

int history_parse(const char *text, size_t len, struct history **out, struct history_error *err)
{
	*out = NULL;
	if (err)
		*err = (struct history_error){0};
	struct parser ps = {.err = err};
	ps.h = calloc(1, sizeof(*ps.h));
	if (!ps.h)
		return GROVE_ENOMEM;
	int rc = GROVE_OK;
	const char *end = text + len;
	for (const char *line = text; line < end && !rc;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = (size_t)((nl ? nl : end) - line);
		if (n && line[n - 1] == '\r')
			n--;
		ps.line++;
		ps.p = line;
		ps.end = line + n;
		bool has_nul = memchr(line, 0, n) != NULL;
		line = nl ? nl + 1 : end;
		if (has_nul) {
			rc = fail(&ps, "the line holds a NUL byte");
			break;
		}
		skip_blanks(&ps);
		if (ps.p == ps.end || *ps.p == '#')
			continue;
		if (ps.end - ps.p >= 5 && memcmp(ps.p, "final", 5) == 0 && (ps.end - ps.p == 5 || blank(ps.p[5]))) {
			ps.p += 5;
			rc = parse_final(&ps);
		} else {
			rc = parse_event(&ps);
		}
	}
	if (!rc)
		rc = check_unique_adds(&ps);
	free(ps.key_line);
	free(ps.procs);
	free(ps.kslots);
	if (rc) {
		history_free(ps.h);
		return rc;
	}
	*out = ps.h;
	return GROVE_OK;
}

int history_read_file(const char *path, struct history **out, struct history_error *err)
{
	*out = NULL;
	if (err)
		*err = (struct history_error){0};
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f) {
		if (err)
			snprintf(err->msg, sizeof(err->msg), "cannot open %s: %s", path, strerror(errno));
		return GROVE_EIO;
	}
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = GROVE_OK;
	for (;;) {
		if (cap - n < 65536) {
			size_t ncap = cap ? cap * 2 : 1 << 20;
			char *t = realloc(buf, ncap);
			if (!t) {
				rc = GROVE_ENOMEM;
				break;
			}
			buf = t;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (!rc && ferror(f)) {
		if (err)
			snprintf(err->msg, sizeof(err->msg), "cannot read %s: %s", path, strerror(errno));
		rc = GROVE_EIO;
	}
	if (!is_stdin)
		fclose(f);
	if (!rc)
		rc = history_parse(buf, n, out, err);
	free(buf);
	return rc;
}

/* ---- writing ---- */

static int write_string(FILE *f, const char *s)
{
	if (fputc('"', f) == EOF)
		return -1;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int rc;
		if (*p == '"' || *p == '\\')
			rc = fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			rc = fputs("\\n", f);
		else if (*p == '\r')
			rc = fputs("\\r", f);
		else if (*p == '\t')
			rc = fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			rc = fprintf(f, "\\x%02x", *p);
		else
			rc = fputc(*p, f);
		if (rc < 0)
			return -1;
	}
	return fputc('"', f) == EOF ? -1 : 0;
}

int history_write_value(FILE *f, const struct history_value *v)
{
	switch (v->kind) {
	case HISTORY_NIL:
		return fputs("nil", f) < 0 ? -1 : 0;
	case HISTORY_INT:
		return fprintf(f, "%" PRId64, v->i) < 0 ? -1 : 0;
	case HISTORY_STR:
		return write_string(f, v->s);
	case HISTORY_SET:
		if (fputc('[', f) == EOF)
			return -1;
		for (size_t i = 0; i < v->n_elems; i++)
			if ((i && fputs(", ", f) < 0) || history_write_value(f, &v->elems[i]))
				return -1;
		return fputc(']', f) == EOF ? -1 : 0;
	}
	return -1;
}

static bool writable_name(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > HISTORY_MAX_KEY)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f)
			return false;
	return true;
}

int history_write_event(FILE *f, uint64_t process, enum history_type type, enum history_f fn, const char *key,
                        const struct history_value *v, uint64_t time_ns)
{
	static const struct history_value nil = {0};
	if (!writable_name(key))
		return -1;
	if (fprintf(f, "%" PRIu64 " %s %s %s ", process, history_type_name(type), history_f_name(fn), key) < 0 ||
	    history_write_value(f, v ? v : &nil) || fprintf(f, " %" PRIu64 "\n", time_ns) < 0)
		return -1;
	return 0;
}

int history_write_final(FILE *f, const char *member, const char *key, const struct history_value *set)
{
	if (!writable_name(member) || !writable_name(key) || set->kind != HISTORY_SET)
		return -1;
	if (fprintf(f, "final %s %s ", member, key) < 0 || history_write_value(f, set) || fputc('\n', f) == EOF)
		return -1;
	return 0;
}

struct event_ref {
	uint64_t time;
	size_t line;    /* orders events of one time as the file did, so each process stays in sequence */
	size_t entry;   /* index into the caller's ops */
	bool complete;
};

static int event_ref_cmp(const void *pa, const void *pb)
{
	const struct event_ref *a = pa, *b = pb;
	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

int history_write_ops(FILE *f, const struct history *h, const size_t *ops, const bool *as_info, size_t n)
{
	struct event_ref *ev = malloc((2 * n + 1) * sizeof(*ev));
	if (!ev)
		return -1;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const struct history_op *o = &h->ops[ops[i]];
		bool info = as_info && as_info[i];
		if (info && (o->f == HISTORY_READ || o->f == HISTORY_READ_SET))
			continue;
		ev[m++] = (struct event_ref){o->invoke_ns, o->invoke_line, i, false};
		if (o->complete_line)
			ev[m++] = (struct event_ref){o->complete_ns, o->complete_line, i, true};
	}
	qsort(ev, m, sizeof(*ev), event_ref_cmp);
	static const struct history_value nil = {0};
	int rc = 0;
	for (size_t e = 0; e < m && !rc; e++) {
		const struct history_op *o = &h->ops[ops[ev[e].entry]];
		bool writes = o->f == HISTORY_WRITE || o->f == HISTORY_ADD;
		enum history_type type = !ev[e].complete                ? HISTORY_INVOKE
		                         : as_info && as_info[ev[e].entry] ? HISTORY_INFO
		                                                         : o->status;
		const struct history_value *v = writes || type == HISTORY_OK ? &o->value : &nil;
		rc = history_write_event(f, o->process, type, o->f, h->keys[o->key], v, ev[e].time);
	}
	free(ev);
	return rc;
}
