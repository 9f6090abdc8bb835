/* The Godot gateway's codec (godot/gateway.h) without a server: requests as GDScript sends them, in the
 * Variant encoding of Godot 3 and of Godot 4, turned into tree operations; change records turned into
 * frames that fit a default PacketPeerStream buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "godot/gateway.h"
#include "godot/variant_binary.h"
#include "src/common/buf.h"
#include "src/common/error.h"

static void put(struct variant *d, const char *key, struct variant *value)
{
	struct variant k;
	assert_int_equal(variant_set_string(&k, VARIANT_STRING, key, strlen(key)), GROVE_OK);
	assert_int_equal(variant_dict_put(d, &k, value), GROVE_OK);
}

static void put_str(struct variant *d, const char *key, const char *text)
{
	struct variant v;
	assert_int_equal(variant_set_string(&v, VARIANT_STRING, text, strlen(text)), GROVE_OK);
	put(d, key, &v);
}

static void put_int(struct variant *d, const char *key, int64_t i)
{
	struct variant v;
	variant_set_int(&v, i);
	put(d, key, &v);
}

static struct variant dict_op(const char *op)
{
	struct variant d;
	assert_int_equal(variant_set_dict(&d), GROVE_OK);
	put_str(&d, "op", op);
	return d;
}

/* A resource as a change describes it. */
static struct variant resource(int64_t id)
{
	struct variant d;
	assert_int_equal(variant_set_dict(&d), GROVE_OK);
	put_int(&d, "@resource", id);
	put_str(&d, "path", "res://stone.tres");
	put_str(&d, "type", "Material");
	return d;
}

/* Encode @p msg (consumed) for @p major and decode it as the server does. */
static int decode(struct variant *msg, int major, struct gateway_request *rq, char *why, size_t cap)
{
	struct grove_buf b = {0};
	assert_int_equal(godot_binary_encode(msg, major, &b), GROVE_OK);
	variant_free(msg);
	int err = gateway_decode_request(b.data, b.len, major, rq, why, cap);
	grove_buf_free(&b);
	return err;
}

/* A submit of @p ops (consumed), decoded as the server does. */
static void decode_submit(struct variant *ops, int major, struct gateway_request *rq)
{
	struct variant m = dict_op("submit");
	put_str(&m, "key", "k-1");
	put(&m, "ops", ops);
	char why[256] = "";
	assert_int_equal(decode(&m, major, rq, why, sizeof(why)), GROVE_OK);
}

static void test_is_godot(void **state)
{
	(void)state;
	for (int major = 3; major <= 4; major++) {
		struct variant hello = dict_op("hello");
		struct grove_buf b = {0};
		assert_int_equal(godot_binary_encode(&hello, major, &b), GROVE_OK);
		int seen = 0;
		assert_true(gateway_is_godot(b.data, b.len, &seen));
		assert_int_equal(seen, major);
		variant_free(&hello);
		grove_buf_free(&b);
	}
	const uint8_t protobuf_hello[] = {0x08, 0x01, 0x12, 0x04, 't', 'e', 's', 't'};
	int seen = 0;
	assert_false(gateway_is_godot(protobuf_hello, sizeof(protobuf_hello), &seen));
}

static void test_requests_and_refusals(void **state)
{
	(void)state;
	for (int major = 3; major <= 4; major++) {
		struct gateway_request rq;
		char why[256];
		struct variant m = dict_op("subscribe");
		put_str(&m, "path", "/root/World");
		put_int(&m, "from", 41);
		assert_int_equal(decode(&m, major, &rq, why, sizeof(why)), GROVE_OK);
		assert_int_equal(rq.op, GATEWAY_SUBSCRIBE);
		assert_string_equal(rq.path, "/root/World");
		assert_true(rq.has_from);
		assert_int_equal(rq.from, 41);
		gateway_request_free(&rq);

		m = dict_op("teleport");
		assert_int_not_equal(decode(&m, major, &rq, why, sizeof(why)), GROVE_OK);
		assert_non_null(strstr(why, "teleport"));
		gateway_request_free(&rq);

		m = dict_op("submit");
		put_str(&m, "key", "");
		assert_int_not_equal(decode(&m, major, &rq, why, sizeof(why)), GROVE_OK);
		assert_non_null(strstr(why, "key"));
		gateway_request_free(&rq);

		const uint8_t junk[] = {0xff, 0xff, 0, 0, 1, 2, 3};
		assert_int_equal(gateway_decode_request(junk, sizeof(junk), major, &rq, why, sizeof(why)), GROVE_ECORRUPT);
		gateway_request_free(&rq);
	}
}

/* A submit as the addon sends one: ids, paths, batch-local references, and a resource value. */
static void test_submit_batch(void **state)
{
	(void)state;
	for (int major = 3; major <= 4; major++) {
		struct variant ops, op;
		assert_int_equal(variant_set_array(&ops), GROVE_OK);
		op = dict_op("create");
		put_str(&op, "parent", "/root/World");
		put_str(&op, "name", "Rock");
		put_str(&op, "class", "MeshInstance");
		assert_int_equal(variant_array_push(&ops, &op), GROVE_OK);
		op = dict_op("set");
		put_int(&op, "node", -1);
		put_str(&op, "property", "material_override");
		struct variant value = resource(17);
		put(&op, "value", &value);
		assert_int_equal(variant_array_push(&ops, &op), GROVE_OK);
		op = dict_op("set");
		put_int(&op, "node", 5);
		put_str(&op, "property", "materials");
		struct variant list;
		assert_int_equal(variant_set_array(&list), GROVE_OK);
		struct variant inner = resource(18);
		assert_int_equal(variant_array_push(&list, &inner), GROVE_OK);
		put(&op, "value", &list);
		assert_int_equal(variant_array_push(&ops, &op), GROVE_OK);
		op = dict_op("move");
		put_int(&op, "node", 5);
		put_str(&op, "parent", "/root/World/B");
		put_int(&op, "index", 0);
		assert_int_equal(variant_array_push(&ops, &op), GROVE_OK);
		struct gateway_request rq;
		decode_submit(&ops, major, &rq);
		char why[256] = "";
		struct gateway_batch batch;
		assert_int_equal(gateway_submit_batch(&rq, &batch, why, sizeof(why)), GROVE_OK);
		assert_int_equal(batch.count, 4);
		assert_int_equal(batch.ops[0].kind, TREE_OP_CREATE);
		assert_string_equal(batch.ops[0].node.path, "/root/World");
		assert_int_equal(batch.ops[1].node.id, -1);
		assert_int_equal(batch.ops[1].value->type, VARIANT_RESOURCE_REF);
		assert_int_equal(batch.ops[1].value->as.ref, 17);
		assert_int_equal(batch.ops[2].value->type, VARIANT_ARRAY);
		assert_int_equal(batch.ops[2].value->as.array->items[0].type, VARIANT_RESOURCE_REF);
		assert_int_equal(batch.ops[2].value->as.array->items[0].as.ref, 18);
		assert_int_equal(batch.ops[3].kind, TREE_OP_MOVE);
		assert_string_equal(batch.ops[3].target.path, "/root/World/B");
		assert_int_equal(batch.ops[3].index, 0);
		gateway_batch_free(&batch);
		gateway_request_free(&rq);
	}
}

static void test_submit_refusals_name_the_field(void **state)
{
	(void)state;
	struct {
		const char *op, *field, *why;
	} cases[] = {
		{"set", "node", "\"node\""},
		{"launch", "node", "\"op\""},
		{"set", "@resource", "@resource"},
		{"set", "nul", "\"property\""},
		{"set", "nul path", "\"node\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct variant ops, op = dict_op(cases[i].op);
		assert_int_equal(variant_set_array(&ops), GROVE_OK);
		struct variant property;
		/* Godot's String holds no NUL, but the wire may: "p\0q" must not become "p". */
		assert_int_equal(variant_set_string(&property, VARIANT_STRING, "p\0q", strcmp(cases[i].field, "nul") ? 1 : 3),
				 GROVE_OK);
		put(&op, "property", &property);
		if (strcmp(cases[i].field, "nul path") == 0) {
			/* "/root\0/B" must not address /root. */
			struct variant path;
			assert_int_equal(variant_set_string(&path, VARIANT_STRING, "/root\0/B", 8), GROVE_OK);
			put(&op, "node", &path);
		} else if (strcmp(cases[i].field, "node") != 0) {
			put_int(&op, "node", 3);
		}
		if (strcmp(cases[i].field, "@resource") == 0) {
			struct variant bad;
			assert_int_equal(variant_set_dict(&bad), GROVE_OK);
			put_str(&bad, "@resource", "not an id");
			put(&op, "value", &bad);
		} else {
			put_int(&op, "value", 1);
		}
		assert_int_equal(variant_array_push(&ops, &op), GROVE_OK);
		struct gateway_request rq;
		decode_submit(&ops, 4, &rq);
		char why[256] = "";
		struct gateway_batch batch;
		assert_int_equal(gateway_submit_batch(&rq, &batch, why, sizeof(why)), GROVE_EINVAL);
		if (!strstr(why, cases[i].why))
			fail_msg("case %zu: \"%s\" does not name %s", i, why, cases[i].why);
		gateway_request_free(&rq);
	}
}

struct frames {
	int count;
	size_t largest;
	struct variant last;
	int64_t parts_seen[64];
	int n_values;
};

static int collect(void *ctx, const uint8_t *frame, size_t len)
{
	struct frames *f = ctx;
	f->count++;
	f->largest = len > f->largest ? len : f->largest;
	variant_free(&f->last);
	size_t used;
	assert_int_equal(godot_binary_decode(&f->last, 4, frame, len, &used), GROVE_OK);
	for (uint32_t i = 0; i < f->last.as.dict->len; i++) {
		const struct variant *k = &f->last.as.dict->keys[i], *v = &f->last.as.dict->values[i];
		if (strcmp(k->as.str.ptr, "part") == 0 && f->count <= 64)
			f->parts_seen[f->count - 1] = v->as.i;
		if (strcmp(k->as.str.ptr, "changes") == 0)
			f->n_values += (int)v->as.array->len;
	}
	return 0;
}

static bool describe(void *ctx, uint64_t id, char *path, size_t path_cap, char *type, size_t type_cap)
{
	(void)ctx;
	snprintf(path, path_cap, "res://r%llu.tres", (unsigned long long)id);
	snprintf(type, type_cap, "Material");
	return true;
}

/* Every frame, its length first, into the grove_buf @p ctx. */
static int append_frame(void *ctx, const uint8_t *frame, size_t len)
{
	grove_buf_le32(ctx, (uint32_t)len);
	grove_buf_put(ctx, frame, len);
	return 0;
}

/* An entry too large for one frame goes in parts, each under the limit, none lost; the same when encoded once for many. */
static void test_changes_in_parts(void **state)
{
	(void)state;
	enum { N = 300 };
	struct tree_change *changes = calloc(N, sizeof(*changes));
	char text[1000];
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (int i = 0; i < N; i++) {
		changes[i].op = TREE_OP_SET_PROP;
		changes[i].node = (uint64_t)(i + 2);
		changes[i].name = "description";
		struct variant v;
		if (i == 0)
			variant_set_resource_ref(&v, 9);
		else
			assert_int_equal(variant_set_string(&v, VARIANT_STRING, text, strlen(text)), GROVE_OK);
		assert_int_equal(variant_encode(&v, &changes[i].value), GROVE_OK);
		variant_free(&v);
	}
	struct gateway_resources res = {.describe = describe};
	struct frames f = {0};
	assert_int_equal(gateway_changes(12, 11, NULL, changes, N, 4, GATEWAY_MINOR_NEWEST, &res, collect, &f),
			 GROVE_OK);
	assert_true(f.count > 1);
	assert_true(f.largest <= GATEWAY_FRAME_MAX);
	assert_int_equal(f.n_values, N);
	for (int i = 0; i < f.count && i < 64; i++)
		assert_int_equal(f.parts_seen[i], i);
	variant_free(&f.last);
	/* Encoded once and framed for two subscribers: each gets what gateway_changes() makes for it. */
	struct gateway_encoded_changes enc;
	assert_int_equal(gateway_changes_encode(changes, N, 4, GATEWAY_MINOR_NEWEST, &res, &enc), GROVE_OK);
	struct { uint64_t prev; const char *position; } subscribers[] = {{11, "1:12"}, {7, NULL}};
	for (int k = 0; k < 2; k++) {
		struct grove_buf alone = {0}, shared = {0};
		assert_int_equal(gateway_changes(12, subscribers[k].prev, subscribers[k].position, changes, N, 4,
						 GATEWAY_MINOR_NEWEST, &res, append_frame, &alone),
				 GROVE_OK);
		assert_int_equal(gateway_changes_send(12, subscribers[k].prev, subscribers[k].position, &enc, append_frame,
						      &shared),
				 GROVE_OK);
		assert_true(alone.len > 2 * GATEWAY_FRAME_MAX);
		assert_int_equal(shared.len, alone.len);
		assert_memory_equal(shared.data, alone.data, alone.len);
		grove_buf_free(&alone);
		grove_buf_free(&shared);
	}
	gateway_encoded_changes_free(&enc);
	for (int i = 0; i < N; i++)
		grove_buf_free(&changes[i].value);
	free(changes);
}

/* A value Godot 3 cannot hold (a Callable) reaches a Godot 3 client without it, marked unsupported, as a Vector4 does. */
static void test_godot4_only_values(void **state)
{
	(void)state;
	static const char *const types[] = {"callable", "signal"};
	for (int k = 0; k < 2; k++) {
		struct tree_change c = {.op = TREE_OP_SET_PROP, .node = 5, .name = "on_hit"};
		struct variant v = {.type = k == 0 ? VARIANT_CALLABLE : VARIANT_SIGNAL};
		assert_int_equal(variant_encode(&v, &c.value), GROVE_OK);
		struct gateway_resources res = {.describe = describe};
		for (int major = 3; major <= 4; major++) {
			struct gateway_encoded_changes enc;
			assert_int_equal(gateway_changes_encode(&c, 1, major, GATEWAY_MINOR_NEWEST, &res, &enc),
					 GROVE_OK);
			struct variant got;
			size_t used;
			assert_int_equal(godot_binary_decode(&got, major, enc.items.data, enc.items.len, &used), GROVE_OK);
			assert_int_equal(used, enc.items.len);
			const struct variant *value = NULL, *unsupported = NULL;
			for (uint32_t i = 0; i < got.as.dict->len; i++) {
				if (strcmp(got.as.dict->keys[i].as.str.ptr, "value") == 0)
					value = &got.as.dict->values[i];
				if (strcmp(got.as.dict->keys[i].as.str.ptr, "unsupported") == 0)
					unsupported = &got.as.dict->values[i];
			}
			assert_non_null(value);
			if (major == 3) {
				assert_int_equal(value->type, VARIANT_NIL);
				assert_non_null(unsupported);
				assert_true(unsupported->as.b);
			} else {
				if (value->type != v.type)
					print_error("%s: got type %d\n", types[k], value->type);
				assert_int_equal(value->type, v.type);
				assert_null(unsupported);
			}
			variant_free(&got);
			gateway_encoded_changes_free(&enc);
		}
		grove_buf_free(&c.value);
	}
}

/* The value under @p key of Dictionary @p d, or NULL. */
static const struct variant *entry(const struct variant *d, const char *key)
{
	for (uint32_t i = 0; i < d->as.dict->len; i++)
		if (d->as.dict->keys[i].type == VARIANT_STRING && strcmp(d->as.dict->keys[i].as.str.ptr, key) == 0)
			return &d->as.dict->values[i];
	return NULL;
}

/* The one change @p c as a Godot @p major client gets it. */
static void encode_one(const struct tree_change *c, int major, struct variant *got)
{
	struct gateway_resources res = {.describe = describe};
	struct gateway_encoded_changes enc;
	assert_int_equal(gateway_changes_encode(c, 1, major, GATEWAY_MINOR_NEWEST, &res, &enc), GROVE_OK);
	size_t used;
	assert_int_equal(godot_binary_decode(got, major, enc.items.data, enc.items.len, &used), GROVE_OK);
	assert_int_equal(used, enc.items.len);
	gateway_encoded_changes_free(&enc);
}

/* The hello's "minor": the client's Godot minor version, GATEWAY_MINOR_NEWEST when it names none. */
static void test_hello_names_its_minor(void **state)
{
	(void)state;
	struct gateway_request rq;
	char why[256];
	struct variant m = dict_op("hello");
	put_int(&m, "godot", 4);
	assert_int_equal(decode(&m, 4, &rq, why, sizeof(why)), GROVE_OK);
	assert_int_equal(rq.minor, GATEWAY_MINOR_NEWEST);
	gateway_request_free(&rq);
	m = dict_op("hello");
	put_int(&m, "godot", 4);
	put_int(&m, "minor", 2);
	assert_int_equal(decode(&m, 4, &rq, why, sizeof(why)), GROVE_OK);
	assert_int_equal(rq.minor, 2);
	gateway_request_free(&rq);
	m = dict_op("hello");
	put_int(&m, "godot", 4);
	put_str(&m, "minor", "2");
	assert_int_equal(decode(&m, 4, &rq, why, sizeof(why)), GROVE_EPROTO);
	assert_non_null(strstr(why, "minor"));
	gateway_request_free(&rq);
}

/* A set of @p value (consumed) as a Godot 4.@p minor client decodes it; @p got is the whole change. */
static const struct variant *set_for_minor(struct variant *value, int minor, struct variant *got)
{
	struct tree_change c = {.op = TREE_OP_SET_PROP, .node = 5, .name = "loot"};
	assert_int_equal(variant_encode(value, &c.value), GROVE_OK);
	variant_free(value);
	struct gateway_resources res = {.describe = describe};
	struct gateway_encoded_changes enc;
	assert_int_equal(gateway_changes_encode(&c, 1, 4, minor, &res, &enc), GROVE_OK);
	size_t used;
	assert_int_equal(godot_binary_decode(got, 4, enc.items.data, enc.items.len, &used), GROVE_OK);
	assert_int_equal(used, enc.items.len);
	gateway_encoded_changes_free(&enc);
	grove_buf_free(&c.value);
	return entry(got, "value");
}

/*
 * What a Godot 4 client's decoder cannot read is not sent to it: typed arrays and PackedVector4Array (from
 * 4.3), typed dictionaries (from 4.4), for the minor its hello names. The values stay the same.
 */
static void test_values_for_older_godot4_decoders(void **state)
{
	(void)state;
	for (int minor = 0; minor <= 5; minor++) {
		struct variant v, ints, table, quads, item;
		assert_int_equal(variant_set_dict(&v), GROVE_OK);
		assert_int_equal(variant_set_array(&ints), GROVE_OK);
		assert_int_equal(variant_array_set_typehint(&ints, VARIANT_INT, NULL), GROVE_OK);
		variant_set_int(&item, 7);
		assert_int_equal(variant_array_push(&ints, &item), GROVE_OK);
		put(&v, "ints", &ints);
		assert_int_equal(variant_set_dict(&table), GROVE_OK);
		assert_int_equal(variant_dict_set_typehints(&table, VARIANT_STRING, NULL, VARIANT_INT, NULL), GROVE_OK);
		put_int(&table, "a", 1);
		put(&v, "table", &table);
		assert_int_equal(variant_set_packed(&quads, VARIANT_PACKED_VECTOR4_ARRAY, 2), GROVE_OK);
		for (int i = 0; i < 8; i++)
			quads.as.packed->as.reals[i] = i + 1;
		put(&v, "quads", &quads);
		struct variant got;
		const struct variant *sent = set_for_minor(&v, minor, &got);
		assert_non_null(sent);
		const struct variant *a = entry(sent, "ints"), *t = entry(sent, "table"), *q = entry(sent, "quads");
		assert_int_equal(a->as.array->len, 1);
		assert_int_equal(a->as.array->items[0].as.i, 7);
		bool typed_arrays = minor >= GODOT4_TYPED_ARRAYS_MINOR;
		bool typed_dicts = minor >= GODOT4_TYPED_DICTIONARIES_MINOR;
		assert_int_equal(a->as.array->elem.type, typed_arrays ? VARIANT_INT : VARIANT_NIL);
		assert_int_equal(t->as.dict->len, 1);
		assert_int_equal(t->as.dict->value.type, typed_dicts ? VARIANT_INT : VARIANT_NIL);
		assert_int_equal(t->as.dict->key.type, typed_dicts ? VARIANT_STRING : VARIANT_NIL);
		if (typed_arrays) {
			assert_int_equal(q->type, VARIANT_PACKED_VECTOR4_ARRAY);
		} else {
			assert_int_equal(q->type, VARIANT_ARRAY);
			assert_int_equal(q->as.array->len, 2);
			assert_int_equal(q->as.array->items[1].type, VARIANT_VECTOR4);
			assert_true(q->as.array->items[1].as.r[0] == 5 && q->as.array->items[1].as.r[3] == 8);
		}
		variant_free(&got);
	}
}

/*
 * An array (or a dictionary's values) typed by a resource class reaches a Godot 4 client untyped: its
 * references go as Dictionaries that say what each resource is, which a typed container would drop.
 */
static void test_resource_typed_containers_go_untyped(void **state)
{
	(void)state;
	struct variant v, ref;
	assert_int_equal(variant_set_array(&v), GROVE_OK);
	assert_int_equal(variant_array_set_typehint(&v, VARIANT_RESOURCE_REF, "Texture2D"), GROVE_OK);
	variant_set_resource_ref(&ref, 7);
	assert_int_equal(variant_array_push(&v, &ref), GROVE_OK);
	struct variant got;
	const struct variant *sent = set_for_minor(&v, GATEWAY_MINOR_NEWEST, &got);
	assert_int_equal(sent->type, VARIANT_ARRAY);
	assert_int_equal(sent->as.array->elem.type, VARIANT_NIL);
	assert_int_equal(sent->as.array->len, 1);
	assert_int_equal(sent->as.array->items[0].type, VARIANT_DICTIONARY);
	assert_int_equal(entry(&sent->as.array->items[0], "@resource")->as.i, 7);
	variant_free(&got);

	assert_int_equal(variant_set_dict(&v), GROVE_OK);
	assert_int_equal(variant_dict_set_typehints(&v, VARIANT_STRING_NAME, NULL, VARIANT_RESOURCE_REF, "Texture2D"),
			 GROVE_OK);
	struct variant key;
	assert_int_equal(variant_set_string(&key, VARIANT_STRING_NAME, "icon", 4), GROVE_OK);
	variant_set_resource_ref(&ref, 7);
	assert_int_equal(variant_dict_put(&v, &key, &ref), GROVE_OK);
	sent = set_for_minor(&v, GATEWAY_MINOR_NEWEST, &got);
	assert_int_equal(sent->type, VARIANT_DICTIONARY);
	assert_int_equal(sent->as.dict->key.type, VARIANT_STRING_NAME);
	assert_int_equal(sent->as.dict->value.type, VARIANT_NIL);
	assert_int_equal(sent->as.dict->values[0].type, VARIANT_DICTIONARY);
	variant_free(&got);

	/* A resource keying a Dictionary (typed by its class or not) is described like a value. */
	for (int typed = 0; typed <= 1; typed++) {
		assert_int_equal(variant_set_dict(&v), GROVE_OK);
		if (typed)
			assert_int_equal(
				variant_dict_set_typehints(&v, VARIANT_RESOURCE_REF, "Texture2D", VARIANT_INT, NULL), GROVE_OK);
		struct variant count;
		variant_set_resource_ref(&key, 7);
		variant_set_int(&count, 3);
		assert_int_equal(variant_dict_put(&v, &key, &count), GROVE_OK);
		variant_set_resource_ref(&key, 8);
		variant_set_int(&count, 4);
		assert_int_equal(variant_dict_put(&v, &key, &count), GROVE_OK);
		sent = set_for_minor(&v, GATEWAY_MINOR_NEWEST, &got);
		assert_int_equal(sent->type, VARIANT_DICTIONARY);
		assert_int_equal(sent->as.dict->key.type, VARIANT_NIL);
		assert_int_equal(sent->as.dict->value.type, typed ? VARIANT_INT : VARIANT_NIL);
		assert_int_equal(sent->as.dict->len, 2);
		for (uint32_t i = 0; i < 2; i++) {
			assert_int_equal(sent->as.dict->keys[i].type, VARIANT_DICTIONARY);
			assert_int_equal(entry(&sent->as.dict->keys[i], "@resource")->as.i, 7 + i);
			assert_int_equal(sent->as.dict->values[i].as.i, 3 + i);
		}
		variant_free(&got);
	}
}

/*
 * An embedded resource reaches a client with its properties (resources they name described as a set's
 * value describes them), since the client has no file to load it from; a file's resource with its path
 * alone; properties the client's major cannot hold are left out, marked unsupported. A connection comes
 * with its binds.
 */
static void test_embedded_resources_carry_their_properties(void **state)
{
	(void)state;
	struct variant props, color, ref;
	assert_int_equal(variant_set_dict(&props), GROVE_OK);
	double green[4] = {0, 1, 0, 1};
	variant_set_reals(&color, VARIANT_COLOR, green, 4);
	put(&props, "bg_color", &color);
	variant_set_resource_ref(&ref, 7);
	put(&props, "next", &ref);
	struct tree_change c = {.op = TREE_OP_PUT_RESOURCE, .node = 8, .name = "2", .text = "StyleBoxFlat", .instance = "",
				.flags = TREE_RESOURCE_SUB};
	assert_int_equal(variant_encode(&props, &c.value), GROVE_OK);
	struct variant got;
	encode_one(&c, 3, &got);
	assert_string_equal(entry(&got, "op")->as.str.ptr, "resource");
	assert_string_equal(entry(&got, "type")->as.str.ptr, "StyleBoxFlat");
	const struct variant *sent = entry(&got, "properties");
	assert_non_null(sent);
	assert_int_equal(sent->type, VARIANT_DICTIONARY);
	variant_set_reals(&color, VARIANT_COLOR, green, 4); /* put() took the first */
	assert_true(variant_equal(entry(sent, "bg_color"), &color));
	const struct variant *next = entry(sent, "next");
	assert_int_equal(next->type, VARIANT_DICTIONARY);
	assert_int_equal(entry(next, "@resource")->as.i, 7);
	assert_string_equal(entry(next, "path")->as.str.ptr, "res://r7.tres");
	assert_null(entry(&got, "unsupported"));
	variant_free(&got);
	/* A file's resource: its path, no properties. */
	c.flags = TREE_RESOURCE_EXT;
	c.instance = "res://skin.tres";
	encode_one(&c, 3, &got);
	assert_string_equal(entry(&got, "path")->as.str.ptr, "res://skin.tres");
	assert_null(entry(&got, "properties"));
	variant_free(&got);
	/* A Vector4 among the properties: Godot 4 gets them, Godot 3 does not. */
	double four[4] = {1, 2, 3, 4};
	struct variant v4;
	variant_set_reals(&v4, VARIANT_VECTOR4, four, 4);
	put(&props, "corners", &v4);
	grove_buf_free(&c.value);
	assert_int_equal(variant_encode(&props, &c.value), GROVE_OK);
	c.flags = TREE_RESOURCE_SUB;
	c.instance = "";
	encode_one(&c, 4, &got);
	assert_int_equal(entry(&got, "properties")->type, VARIANT_DICTIONARY);
	variant_free(&got);
	encode_one(&c, 3, &got);
	assert_int_equal(entry(&got, "properties")->type, VARIANT_NIL);
	assert_true(entry(&got, "unsupported")->as.b);
	variant_free(&got);
	grove_buf_free(&c.value);
	variant_free(&props);
	/* A connection's binds go with it, a resource among them described. */
	struct variant binds, one;
	assert_int_equal(variant_set_array(&binds), GROVE_OK);
	variant_set_int(&one, 1);
	assert_int_equal(variant_array_push(&binds, &one), GROVE_OK);
	variant_set_resource_ref(&ref, 7);
	assert_int_equal(variant_array_push(&binds, &ref), GROVE_OK);
	struct tree_change link = {.op = TREE_OP_CONNECT, .node = 3, .parent = 4, .name = "hit", .text = "on_hit",
				   .flags = 2};
	assert_int_equal(variant_encode(&binds, &link.value), GROVE_OK);
	encode_one(&link, 3, &got);
	const struct variant *sent_binds = entry(&got, "binds");
	assert_non_null(sent_binds);
	assert_int_equal(sent_binds->type, VARIANT_ARRAY);
	assert_int_equal(sent_binds->as.array->len, 2);
	assert_int_equal(sent_binds->as.array->items[0].as.i, 1);
	assert_int_equal(entry(&sent_binds->as.array->items[1], "@resource")->as.i, 7);
	variant_free(&got);
	grove_buf_free(&link.value);
	variant_free(&binds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_godot),
		cmocka_unit_test(test_requests_and_refusals),
		cmocka_unit_test(test_submit_batch),
		cmocka_unit_test(test_submit_refusals_name_the_field),
		cmocka_unit_test(test_changes_in_parts),
		cmocka_unit_test(test_godot4_only_values),
		cmocka_unit_test(test_hello_names_its_minor),
		cmocka_unit_test(test_values_for_older_godot4_decoders),
		cmocka_unit_test(test_resource_typed_containers_go_untyped),
		cmocka_unit_test(test_embedded_resources_carry_their_properties),
	};
	return cmocka_run_group_tests_name("gateway", tests, NULL, NULL);
}
