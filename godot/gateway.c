#include "godot/gateway.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "godot/variant_binary.h"
#include "src/common/bytes.h"
#include "src/common/error.h"

bool gateway_is_godot(const uint8_t *payload, size_t len, int *major)
{
	/*
	 * A Godot Variant starts with a u32 whose low 16 bits are the type: Dictionary is 18 in Godot 3 and 27 in
	 * Godot 4. A grove Envelope never starts so: 0x12 would be field 2 (a varint) as bytes, 0x1b a group.
	 */
	if (len < 8)
		return false;
	uint32_t type = get_le32(payload) & 0xffff;
	*major = type == 18 ? 3 : type == 27 ? 4 : 0;
	return *major != 0;
}

/* ---- reading Dictionaries ---- */

static bool is_string(const struct variant *v)
{
	return v && (v->type == VARIANT_STRING || v->type == VARIANT_STRING_NAME);
}

/* The value of String key @p key in Dictionary @p d, or NULL. */
static struct variant *get_mutable(struct variant *d, const char *key)
{
	if (!d || d->type != VARIANT_DICTIONARY)
		return NULL;
	for (uint32_t i = 0; i < d->as.dict->len; i++) {
		const struct variant *k = &d->as.dict->keys[i];
		if (is_string(k) && strcmp(k->as.str.ptr, key) == 0)
			return &d->as.dict->values[i];
	}
	return NULL;
}

static const struct variant *get(const struct variant *d, const char *key)
{
	return get_mutable((struct variant *)d, key);
}

/* A String field; NULL if absent, not a String, or holding a NUL byte (it would end the name there). */
static const char *get_str(const struct variant *d, const char *key)
{
	const struct variant *v = get(d, key);
	return is_string(v) && strlen(v->as.str.ptr) == v->as.str.len ? v->as.str.ptr : NULL;
}

static bool get_int(const struct variant *d, const char *key, int64_t *out)
{
	const struct variant *v = get(d, key);
	if (!v || v->type != VARIANT_INT)
		return false;
	*out = v->as.i;
	return true;
}

/* The Strings of Array (or PackedStringArray) field @p key as a borrowed list; false if malformed. */
static bool get_strings(const struct variant *d, const char *key, const char ***out, size_t *n)
{
	const struct variant *v = get(d, key);
	*out = NULL;
	*n = 0;
	if (!v || v->type == VARIANT_NIL)
		return true;
	size_t len = v->type == VARIANT_ARRAY ? v->as.array->len
		     : v->type == VARIANT_PACKED_STRING_ARRAY ? v->as.packed->len
							       : SIZE_MAX;
	if (len == SIZE_MAX)
		return false;
	*out = calloc(len ? len : 1, sizeof(**out));
	if (!*out)
		return false;
	for (size_t i = 0; i < len; i++) {
		const char *s = v->type == VARIANT_ARRAY && is_string(&v->as.array->items[i]) ? v->as.array->items[i].as.str.ptr
				: v->type == VARIANT_PACKED_STRING_ARRAY			      ? v->as.packed->as.strings.ptrs[i]
												      : NULL;
		if (!s)
			return false;
		(*out)[i] = s;
	}
	*n = len;
	return true;
}

__attribute__((format(printf, 3, 4))) static int bad(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return GROVE_EPROTO;
}

void gateway_request_free(struct gateway_request *r)
{
	free(r->properties);
	free(r->classes);
	variant_free(&r->msg);
	memset(r, 0, sizeof(*r));
}

int gateway_decode_request(const uint8_t *payload, size_t len, int major, struct gateway_request *out, char *why,
			   size_t why_cap)
{
	memset(out, 0, sizeof(*out));
	size_t used = 0;
	int err = godot_binary_decode(&out->msg, major, payload, len, &used);
	if (err || used != len) {
		snprintf(why, why_cap, "the frame is not a Godot %d Variant (objects are never accepted)", major);
		return err == GROVE_ENOMEM ? err : GROVE_ECORRUPT;
	}
	const struct variant *m = &out->msg;
	if (m->type != VARIANT_DICTIONARY)
		return bad(why, why_cap, "a message is a Dictionary");
	const char *op = get_str(m, "op");
	if (!op)
		return bad(why, why_cap, "a message names its \"op\"");
	int64_t v;
	if (strcmp(op, "hello") == 0) {
		out->op = GATEWAY_HELLO;
		out->token = get_str(m, "token") ? get_str(m, "token") : "";
		if (!get_int(m, "godot", &v) || (v != 3 && v != 4))
			return bad(why, why_cap, "hello names \"godot\": 3 or 4");
		out->godot = (int)v;
		out->minor = GATEWAY_MINOR_NEWEST;
		if (get(m, "minor")) {
			if (!get_int(m, "minor", &v) || v < 0 || v >= GATEWAY_MINOR_NEWEST)
				return bad(why, why_cap, "hello's \"minor\" is its Godot minor version, 0 or more");
			out->minor = (int)v;
		}
		out->buffer = GATEWAY_CLIENT_BUFFER_DEFAULT;
		if (get(m, "buffer")) {
			if (!get_int(m, "buffer", &v) || v < (int64_t)GATEWAY_CLIENT_BUFFER_DEFAULT || v > INT32_MAX)
				return bad(why, why_cap, "hello's \"buffer\" is at least %u bytes", GATEWAY_CLIENT_BUFFER_DEFAULT);
			out->buffer = (uint32_t)v;
		}
		return GROVE_OK;
	}
	if (strcmp(op, "subscribe") == 0) {
		out->op = GATEWAY_SUBSCRIBE;
		out->path = get_str(m, "path");
		const char *format = get_str(m, "format");
		out->depth = -1;
		if (!out->path || out->path[0] != '/')
			return bad(why, why_cap, "subscribe names an absolute \"path\"");
		if (format && strcmp(format, "scn") != 0 && strcmp(format, "tscn") != 0)
			return bad(why, why_cap, "subscribe's \"format\" is \"scn\" or \"tscn\"");
		out->tscn = format && strcmp(format, "tscn") == 0;
		const char *ids = get_str(m, "ids");
		if (get(m, "ids") && (!ids || (strcmp(ids, "metadata") != 0 && strcmp(ids, "names") != 0)))
			return bad(why, why_cap, "subscribe's \"ids\" is \"metadata\" or \"names\"");
		out->ids_names = ids && strcmp(ids, "names") == 0;
		if (get(m, "from")) {
			out->from_position = get_str(m, "from");
			if (!out->from_position && (!get_int(m, "from", &v) || v < 0))
				return bad(why, why_cap,
					   "subscribe's \"from\" is an index, 0 or more, or a position String as the server sent it");
			out->has_from = true;
			out->from = out->from_position ? 0 : (uint64_t)v;
		}
		out->not_before = get_str(m, "not_before");
		if (get(m, "not_before") && !out->not_before)
			return bad(why, why_cap, "subscribe's \"not_before\" is a position String as the server sent it");
		if (get(m, "depth")) {
			if (!get_int(m, "depth", &v) || v < 0 || v > 1 << 20)
				return bad(why, why_cap, "subscribe's \"depth\" is 0 or more");
			out->depth = (int)v;
		}
		if (!get_strings(m, "properties", &out->properties, &out->n_properties) ||
		    !get_strings(m, "classes", &out->classes, &out->n_classes))
			return bad(why, why_cap, "\"properties\" and \"classes\" are Arrays of String");
		return GROVE_OK;
	}
	if (strcmp(op, "submit") == 0) {
		out->op = GATEWAY_SUBMIT;
		out->key = get_str(m, "key");
		out->ops = get_mutable(&out->msg, "ops");
		if (!out->key || !out->key[0] || strlen(out->key) > 127)
			return bad(why, why_cap, "submit names a \"key\" of 1 to 127 bytes");
		if (!out->ops || out->ops->type != VARIANT_ARRAY)
			return bad(why, why_cap, "submit's \"ops\" is an Array");
		return GROVE_OK;
	}
	if (strcmp(op, "ping") == 0) {
		out->op = GATEWAY_PING;
		out->t = get(m, "t");
		return GROVE_OK;
	}
	return bad(why, why_cap, "unknown op \"%.64s\"", op);
}

/* ---- submitted operations ---- */

/* A node reference: an id, a path, or -(k + 1) for op k of the batch. */
static bool node_ref(const struct variant *d, const char *key, struct tree_ref *ref)
{
	const struct variant *v = get(d, key);
	if (v && v->type == VARIANT_INT && v->as.i != 0) {
		ref->id = v->as.i;
		return true;
	}
	/* A path holding a NUL byte would be cut there on the wire, and name another node. */
	if (is_string(v) && v->as.str.ptr[0] == '/' && strlen(v->as.str.ptr) == v->as.str.len) {
		ref->id = 0;
		ref->path = v->as.str.ptr;
		return true;
	}
	return false;
}

static const struct {
	const char *name;
	enum tree_op_kind kind;
} op_names[] = {
	{"create", TREE_OP_CREATE},	    {"set", TREE_OP_SET_PROP},   {"clear", TREE_OP_CLEAR_PROP},
	{"rename", TREE_OP_RENAME},	    {"move", TREE_OP_MOVE},	 {"reorder", TREE_OP_REORDER},
	{"remove", TREE_OP_DELETE},	    {"group_add", TREE_OP_ADD_GROUP}, {"group_remove", TREE_OP_REMOVE_GROUP},
};

/* Fill @p op from op Dictionary @p d; NULL, or the name of the field that is wrong. */
static const char *read_op(const struct variant *d, struct tree_op *op)
{
	const char *name = get_str(d, "op");
	size_t k = 0;
	while (name && k < sizeof(op_names) / sizeof(op_names[0]) && strcmp(op_names[k].name, name) != 0)
		k++;
	if (!name || k == sizeof(op_names) / sizeof(op_names[0]))
		return "op";
	*op = (struct tree_op){.kind = op_names[k].kind, .index = -1};
	int64_t index;
	if (get(d, "index")) {
		if (!get_int(d, "index", &index))
			return "index";
		op->index = index;
	}
	switch (op->kind) {
	case TREE_OP_CREATE:
		op->name = get_str(d, "name");
		op->text = get_str(d, "class");
		op->instance = get_str(d, "instance");
		return !node_ref(d, "parent", &op->node) ? "parent" : !op->name ? "name" : !op->text ? "class" : NULL;
	case TREE_OP_SET_PROP:
		op->name = get_str(d, "property");
		op->value = get(d, "value");
		return !node_ref(d, "node", &op->node) ? "node" : !op->name ? "property" : !op->value ? "value" : NULL;
	case TREE_OP_CLEAR_PROP:
		op->name = get_str(d, "property");
		return !node_ref(d, "node", &op->node) ? "node" : !op->name ? "property" : NULL;
	case TREE_OP_RENAME:
		op->name = get_str(d, "name");
		return !node_ref(d, "node", &op->node) ? "node" : !op->name ? "name" : NULL;
	case TREE_OP_MOVE:
		return !node_ref(d, "node", &op->node) ? "node" : !node_ref(d, "parent", &op->target) ? "parent" : NULL;
	case TREE_OP_REORDER:
		return !node_ref(d, "node", &op->node) ? "node" : !get(d, "index") ? "index" : NULL;
	case TREE_OP_DELETE:
		return !node_ref(d, "node", &op->node) ? "node" : NULL;
	default:
		op->name = get_str(d, "group");
		return !node_ref(d, "node", &op->node) ? "node" : !op->name ? "group" : NULL;
	}
}

/* Every {"@resource": id, ...} Dictionary in @p v (how changes describe a resource) made a reference again. */
static int refer_to_resources(struct variant *v, int depth)
{
	if (depth > VARIANT_MAX_DEPTH)
		return GROVE_ETOOBIG;
	if (v->type == VARIANT_DICTIONARY) {
		const struct variant *id = get(v, "@resource");
		if (id && id->type != VARIANT_INT)
			return GROVE_EINVAL;
		if (id) {
			int64_t ref = id->as.i;
			variant_free(v);
			variant_set_resource_ref(v, ref);
			return GROVE_OK;
		}
		for (uint32_t i = 0; i < v->as.dict->len; i++) {
			int err = refer_to_resources(&v->as.dict->values[i], depth + 1);
			if (err)
				return err;
		}
	} else if (v->type == VARIANT_ARRAY) {
		for (uint32_t i = 0; i < v->as.array->len; i++) {
			int err = refer_to_resources(&v->as.array->items[i], depth + 1);
			if (err)
				return err;
		}
	}
	return GROVE_OK;
}

int gateway_submit_batch(struct gateway_request *r, struct gateway_batch *out, char *why, size_t why_cap)
{
	memset(out, 0, sizeof(*out));
	const struct variant_array *ops = r->ops->as.array;
	if (ops->len > TREE_BATCH_MAX_OPS) {
		snprintf(why, why_cap, "a batch of %u ops exceeds %u", ops->len, TREE_BATCH_MAX_OPS);
		return GROVE_ETOOBIG;
	}
	out->ops = calloc(ops->len ? ops->len : 1, sizeof(*out->ops));
	if (!out->ops)
		return GROVE_ENOMEM;
	for (uint32_t i = 0; i < ops->len; i++) {
		const char *wrong = ops->items[i].type == VARIANT_DICTIONARY ? read_op(&ops->items[i], &out->ops[i]) : "op";
		struct variant *value = wrong ? NULL : get_mutable(&ops->items[i], "value");
		if (value && refer_to_resources(value, 0) != GROVE_OK) {
			snprintf(why, why_cap, "op %u: a resource in \"value\" is {\"@resource\": id}", i);
			gateway_batch_free(out);
			return GROVE_EINVAL;
		}
		if (wrong) {
			snprintf(why, why_cap, "op %u: missing or malformed \"%s\"", i, wrong);
			gateway_batch_free(out);
			return GROVE_EINVAL;
		}
	}
	out->count = ops->len;
	return GROVE_OK;
}

void gateway_batch_free(struct gateway_batch *b)
{
	free(b->ops);
	memset(b, 0, sizeof(*b));
}

/* ---- building messages ---- */

static void put(struct gateway_msg *m, const char *key, struct variant *v)
{
	struct variant k;
	if (m->failed || variant_set_string(&k, VARIANT_STRING, key, strlen(key)) ||
	    variant_dict_put(&m->dict, &k, v)) {
		m->failed = true;
		variant_free(v);
	}
}

void gateway_msg_begin(struct gateway_msg *m, const char *op)
{
	memset(m, 0, sizeof(*m));
	m->failed = variant_set_dict(&m->dict) != GROVE_OK;
	gateway_msg_str(m, "op", op);
}

void gateway_msg_int(struct gateway_msg *m, const char *key, int64_t v)
{
	struct variant x;
	variant_set_int(&x, v);
	put(m, key, &x);
}

void gateway_msg_bool(struct gateway_msg *m, const char *key, bool v)
{
	struct variant x;
	variant_set_bool(&x, v);
	put(m, key, &x);
}

void gateway_msg_str(struct gateway_msg *m, const char *key, const char *v)
{
	struct variant x;
	const char *s = v ? v : "";
	if (variant_set_string(&x, VARIANT_STRING, s, strlen(s)) != GROVE_OK) {
		m->failed = true;
		return;
	}
	put(m, key, &x);
}

void gateway_msg_bytes(struct gateway_msg *m, const char *key, const void *data, size_t len)
{
	struct variant x;
	if (len > UINT32_MAX || variant_set_packed(&x, VARIANT_PACKED_BYTE_ARRAY, (uint32_t)len) != GROVE_OK) {
		m->failed = true;
		return;
	}
	if (len)
		memcpy(x.as.packed->as.bytes, data, len);
	put(m, key, &x);
}

void gateway_msg_take(struct gateway_msg *m, const char *key, struct variant *v)
{
	put(m, key, v);
	memset(v, 0, sizeof(*v));
}

int gateway_msg_finish(struct gateway_msg *m, int major, struct grove_buf *out)
{
	int err = m->failed ? GROVE_ENOMEM : godot_binary_encode(&m->dict, major, out);
	variant_free(&m->dict);
	return err;
}

/* ---- changes ---- */

/* A container side typed by a resource class made untyped (see describe_refs()). */
static void untype_resources(struct variant_typehint *h)
{
	if (h->type != VARIANT_RESOURCE_REF)
		return;
	free(h->class_name);
	*h = (struct variant_typehint){.type = VARIANT_NIL};
}

/*
 * @p v with every resource reference, however deep (Dictionary keys too), made a Dictionary that says what
 * the resource is.
 */
static int describe_refs(struct variant *v, const struct gateway_resources *res, int depth)
{
	if (depth > VARIANT_MAX_DEPTH)
		return GROVE_ETOOBIG;
	if (v->type == VARIANT_RESOURCE_REF) {
		int64_t id = v->as.ref;
		char path[1024] = "", type[256] = "";
		if (id > 0 && res)
			res->describe(res->ctx, (uint64_t)id, path, sizeof(path), type, sizeof(type));
		struct gateway_msg d = {0};
		d.failed = variant_set_dict(&d.dict) != GROVE_OK;
		gateway_msg_int(&d, "@resource", id);
		gateway_msg_str(&d, "path", path);
		gateway_msg_str(&d, "type", type);
		if (d.failed) {
			variant_free(&d.dict);
			return GROVE_ENOMEM;
		}
		*v = d.dict;
		return GROVE_OK;
	}
	/*
	 * A container typed by a resource class now holds Dictionaries, which Godot would drop from it one by one
	 * (a typed container takes only its type): it goes untyped, and the client types it as it sets it.
	 */
	int err = GROVE_OK;
	if (v->type == VARIANT_ARRAY) {
		for (uint32_t i = 0; !err && i < v->as.array->len; i++)
			err = describe_refs(&v->as.array->items[i], res, depth + 1);
		untype_resources(&v->as.array->elem);
	}
	if (v->type == VARIANT_DICTIONARY) {
		/* Keys too: a resource can key a Dictionary, and its descriptions stay distinct, as its ids are. */
		for (uint32_t i = 0; !err && i < v->as.dict->len; i++) {
			err = describe_refs(&v->as.dict->keys[i], res, depth + 1);
			if (!err)
				err = describe_refs(&v->as.dict->values[i], res, depth + 1);
		}
		untype_resources(&v->as.dict->key);
		untype_resources(&v->as.dict->value);
	}
	return err;
}

static const char *change_op(enum tree_op_kind k)
{
	switch (k) {
	case TREE_OP_CREATE: return "create";
	case TREE_OP_DELETE: return "remove";
	case TREE_OP_SET_PROP: return "set";
	case TREE_OP_CLEAR_PROP: return "clear";
	case TREE_OP_RENAME: return "rename";
	case TREE_OP_MOVE: return "move";
	case TREE_OP_REORDER: return "reorder";
	case TREE_OP_ADD_GROUP: return "group_add";
	case TREE_OP_REMOVE_GROUP: return "group_remove";
	case TREE_OP_CONNECT: return "connect";
	case TREE_OP_DISCONNECT: return "disconnect";
	case TREE_OP_PUT_RESOURCE: return "resource";
	case TREE_OP_CARRY_OUT:
	case TREE_OP_CARRY_IN: return "move"; /* never in a change: recorded as moves */
	case TREE_OP_CONNECT_ACROSS: return "connect"; /* never in a change either */
	case TREE_OP_DISCONNECT_ACROSS: return "disconnect";
	}
	return "unknown";
}

/* One change as a Dictionary, encoded for Godot @p major.@p minor into @p out; a set's value only @p with_value. */
static int encode_change_as(const struct tree_change *c, int major, int minor, const struct gateway_resources *res,
			    bool with_value, struct grove_buf *out)
{
	struct gateway_msg m;
	gateway_msg_begin(&m, change_op(c->op));
	gateway_msg_int(&m, "id", (int64_t)c->node);
	switch (c->op) {
	case TREE_OP_CREATE:
		gateway_msg_int(&m, "parent", (int64_t)c->parent);
		gateway_msg_str(&m, "name", c->name);
		gateway_msg_str(&m, "class", c->text);
		gateway_msg_int(&m, "index", c->index);
		gateway_msg_str(&m, "instance", c->instance);
		break;
	case TREE_OP_SET_PROP:
	case TREE_OP_CLEAR_PROP:
	case TREE_OP_RENAME:
		gateway_msg_str(&m, c->op == TREE_OP_RENAME ? "name" : "property", c->name);
		break;
	case TREE_OP_MOVE:
		gateway_msg_int(&m, "parent", (int64_t)c->parent);
		gateway_msg_int(&m, "index", c->index);
		break;
	case TREE_OP_REORDER:
		gateway_msg_int(&m, "index", c->index);
		break;
	case TREE_OP_ADD_GROUP:
	case TREE_OP_REMOVE_GROUP:
		gateway_msg_str(&m, "group", c->name);
		break;
	case TREE_OP_CONNECT:
	case TREE_OP_DISCONNECT:
		gateway_msg_int(&m, "target", (int64_t)c->parent);
		gateway_msg_str(&m, "signal", c->name);
		gateway_msg_str(&m, "method", c->text);
		gateway_msg_int(&m, "flags", c->flags);
		break;
	case TREE_OP_PUT_RESOURCE:
		gateway_msg_str(&m, "type", c->text);
		gateway_msg_str(&m, "path", c->instance);
		break;
	default:
		break;
	}
	/* A set's value, a connection's binds, an embedded resource's properties (the client has no file of it). */
	const char *key = NULL;
	if (c->op == TREE_OP_SET_PROP)
		key = "value";
	else if (c->op == TREE_OP_CONNECT && c->value.len)
		key = "binds";
	else if (c->op == TREE_OP_PUT_RESOURCE && c->flags == TREE_RESOURCE_SUB && c->value.len)
		key = "properties";
	if (key && with_value) {
		struct variant v = {0};
		int err = variant_decode(&v, c->value.data, c->value.len, NULL);
		if (!err)
			err = describe_refs(&v, res, 0);
		if (!err && major == 4)
			err = godot4_readable_by(&v, minor);
		if (err) {
			variant_free(&v);
			variant_free(&m.dict);
			return err;
		}
		gateway_msg_take(&m, key, &v);
	} else if (key) {
		struct variant nil = {0};
		gateway_msg_take(&m, key, &nil);
		gateway_msg_bool(&m, "unsupported", true);
	}
	return gateway_msg_finish(&m, major, out);
}

static int encode_change(const struct tree_change *c, int major, int minor, const struct gateway_resources *res,
			 struct grove_buf *out)
{
	size_t mark = out->len;
	int err = encode_change_as(c, major, minor, res, true, out);
	if (err == GROVE_EINVAL && (c->op == TREE_OP_SET_PROP || c->op == TREE_OP_CONNECT || c->op == TREE_OP_PUT_RESOURCE)) {
		/* A value this major cannot hold (a Vector4 for Godot 3): the change goes without it. */
		out->len = mark;
		err = encode_change_as(c, major, minor, res, false, out);
	}
	return err;
}

/* Frame part @p number of entry @p index: the "changes" Dictionary, its Array the @p count encoded items at @p items. */
static int frame_part(uint64_t index, uint64_t prev, const char *position, const uint8_t *items, size_t len,
		      uint32_t count, uint32_t number, bool last, int major,
		      int (*emit)(void *ctx, const uint8_t *frame, size_t len), void *ctx)
{
	/*
	 * The Array is a u32 type, a u32 count, then its items: the items are already encoded, so the Dictionary
	 * is written with an empty Array last and the items appended after its header.
	 */
	struct gateway_msg m;
	gateway_msg_begin(&m, "changes");
	gateway_msg_int(&m, "index", (int64_t)index);
	gateway_msg_int(&m, "prev", (int64_t)prev);
	if (position)
		gateway_msg_str(&m, "position", position);
	gateway_msg_int(&m, "part", number);
	gateway_msg_bool(&m, "last", last);
	struct variant empty;
	m.failed |= variant_set_array(&empty) != GROVE_OK;
	gateway_msg_take(&m, "changes", &empty);
	struct grove_buf frame = {0};
	int err = gateway_msg_finish(&m, major, &frame);
	if (!err && frame.len >= 4) {
		/* The last 4 bytes are the empty Array's count. */
		put_le32(frame.data + frame.len - 4, count);
		grove_buf_put(&frame, items, len);
		err = frame.failed ? GROVE_ENOMEM : emit(ctx, frame.data, frame.len);
	}
	grove_buf_free(&frame);
	return err;
}

int gateway_dialect(int major, int minor)
{
	if (major == 3)
		return 0;
	return minor < GODOT4_TYPED_ARRAYS_MINOR ? 1 : minor < GODOT4_TYPED_DICTIONARIES_MINOR ? 2 : 3;
}

int gateway_changes_encode(const struct tree_change *changes, size_t n, int major, int minor,
			   const struct gateway_resources *res, struct gateway_encoded_changes *out)
{
	*out = (struct gateway_encoded_changes){.major = major, .minor = minor,
						.ends = malloc((n ? n : 1) * sizeof(size_t))};
	int err = out->ends ? GROVE_OK : GROVE_ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		size_t start = out->items.len;
		err = encode_change(&changes[i], major, minor, res, &out->items);
		out->ends[out->n++] = out->items.len;
		if (out->items.len - start > out->largest)
			out->largest = out->items.len - start;
	}
	if (!err && out->items.failed)
		err = GROVE_ENOMEM;
	if (err)
		gateway_encoded_changes_free(out);
	return err;
}

int gateway_changes_send(uint64_t index, uint64_t prev, const char *position, const struct gateway_encoded_changes *enc,
			 int (*emit)(void *ctx, const uint8_t *frame, size_t len), void *ctx)
{
	size_t from = 0; /* where the part being framed starts in enc->items */
	uint32_t count = 0, number = 0;
	int err = GROVE_OK;
	for (size_t i = 0; !err && i < enc->n; i++) {
		/* 128 bytes is room for the header. */
		if (count && enc->ends[i] - from + 128 > GATEWAY_FRAME_MAX) {
			size_t end = enc->ends[i - 1];
			err = frame_part(index, prev, position, enc->items.data + from, end - from, count, number++, false,
					 enc->major, emit, ctx);
			from = end;
			count = 0;
		}
		count++;
	}
	size_t end = enc->n ? enc->ends[enc->n - 1] : 0;
	if (!err)
		err = frame_part(index, prev, position, enc->items.data + from, end - from, count, number, true, enc->major,
				 emit, ctx);
	return err;
}

void gateway_encoded_changes_free(struct gateway_encoded_changes *e)
{
	grove_buf_free(&e->items);
	free(e->ends);
	*e = (struct gateway_encoded_changes){0};
}

int gateway_changes(uint64_t index, uint64_t prev, const char *position, const struct tree_change *changes, size_t n,
		    int major, int minor, const struct gateway_resources *res,
		    int (*emit)(void *ctx, const uint8_t *frame, size_t len), void *ctx)
{
	struct gateway_encoded_changes enc;
	int err = gateway_changes_encode(changes, n, major, minor, res, &enc);
	if (!err)
		err = gateway_changes_send(index, prev, position, &enc, emit, ctx);
	gateway_encoded_changes_free(&enc);
	return err;
}
