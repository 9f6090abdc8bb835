#include "src/net/wire.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"

/* protobuf-c gives "" for absent strings; the tree wants NULL for "not given" where it matters. */
static const char *opt(const char *s)
{
	return s && s[0] ? s : NULL;
}

static struct tree_ref ref_from(const Grove__NodeRef *r)
{
	if (!r)
		return (struct tree_ref){0};
	return (struct tree_ref){.id = r->id, .path = opt(r->path)};
}

void wire_batch_free(struct wire_batch *b)
{
	for (size_t i = 0; i < b->count; i++)
		variant_free(&b->values[i]);
	free(b->values);
	free(b->ops);
	memset(b, 0, sizeof(*b));
}

int wire_decode_batch(const Grove__WriteRequest *req, bool carries, struct wire_batch *out, char *message,
		      size_t message_cap)
{
	memset(out, 0, sizeof(*out));
	message[0] = '\0';
	size_t n = req->n_ops;
	if (req->restore_snapshot.len) {
		snprintf(message, message_cap, "a write request may not carry a snapshot (use snapshot restore)");
		return GROVE_EINVAL;
	}
	if (n == 0) {
		snprintf(message, message_cap, "empty batch");
		return GROVE_EINVAL;
	}
	if (n > TREE_BATCH_MAX_OPS) {
		snprintf(message, message_cap, "batch of %zu ops exceeds %u", n, TREE_BATCH_MAX_OPS);
		return GROVE_ETOOBIG;
	}
	out->ops = calloc(n, sizeof(*out->ops));
	out->values = calloc(n, sizeof(*out->values));
	if (!out->ops || !out->values) {
		wire_batch_free(out);
		return GROVE_ENOMEM;
	}
	out->count = n;
	for (size_t i = 0; i < n; i++) {
		const Grove__Op *w = req->ops[i];
		struct tree_op *op = &out->ops[i];
		if (w->kind < TREE_OP_CREATE || w->kind > (carries ? TREE_OP_DISCONNECT_ACROSS : TREE_OP_PUT_RESOURCE)) {
			snprintf(message, message_cap, "op %zu: unknown kind %u", i, w->kind);
			wire_batch_free(out);
			return GROVE_EINVAL;
		}
		op->kind = (enum tree_op_kind)w->kind;
		op->node = ref_from(w->node);
		op->target = ref_from(w->target);
		op->name = w->name;
		op->text = w->text;
		op->instance = opt(w->instance);
		op->uid = opt(w->uid);
		op->index = w->index;
		op->flags = w->flags;
		op->resource_kind = (enum tree_resource_kind)w->resource_kind;
		op->carried = w->carried.data;
		op->carried_len = w->carried.len;
		op->group = w->group;
		if (w->value.len > 0) {
			size_t used = 0;
			int err = variant_decode(&out->values[i], w->value.data, w->value.len, &used);
			if (!err && used != w->value.len)
				err = GROVE_ECORRUPT;
			if (err) {
				snprintf(message, message_cap, "op %zu: malformed value (%s)", i, grove_strerror(err));
				wire_batch_free(out);
				return err == GROVE_ENOMEM ? err : GROVE_ECORRUPT;
			}
			op->value = &out->values[i];
		}
	}
	return GROVE_OK;
}

void wire_request_free(struct wire_request *r)
{
	if (r->value_bytes) {
		for (size_t i = 0; i < r->req.n_ops; i++)
			free(r->value_bytes[i]);
	}
	free(r->value_bytes);
	free(r->ops);
	free(r->op_ptrs);
	free(r->refs);
	memset(r, 0, sizeof(*r));
}

int wire_encode_batch(const struct tree_op *ops, size_t n, struct wire_request *out)
{
	memset(out, 0, sizeof(*out));
	grove__write_request__init(&out->req);
	out->ops = calloc(n + 1, sizeof(*out->ops));
	out->op_ptrs = calloc(n + 1, sizeof(*out->op_ptrs));
	out->refs = calloc(2 * n + 2, sizeof(*out->refs));
	out->value_bytes = calloc(n + 1, sizeof(*out->value_bytes));
	if (!out->ops || !out->op_ptrs || !out->refs || !out->value_bytes) {
		wire_request_free(out);
		return GROVE_ENOMEM;
	}
	out->req.ops = out->op_ptrs;
	for (size_t i = 0; i < n; i++) {
		const struct tree_op *op = &ops[i];
		Grove__Op *w = &out->ops[i];
		grove__op__init(w);
		out->op_ptrs[i] = w;
		out->req.n_ops = i + 1;
		w->kind = (uint32_t)op->kind;
		Grove__NodeRef *node = &out->refs[2 * i], *target = &out->refs[2 * i + 1];
		grove__node_ref__init(node);
		grove__node_ref__init(target);
		node->id = op->node.id;
		node->path = (char *)(op->node.path ? op->node.path : "");
		target->id = op->target.id;
		target->path = (char *)(op->target.path ? op->target.path : "");
		w->node = node;
		w->target = target;
		w->name = (char *)(op->name ? op->name : "");
		w->text = (char *)(op->text ? op->text : "");
		w->instance = (char *)(op->instance ? op->instance : "");
		w->uid = (char *)(op->uid ? op->uid : "");
		w->index = op->index;
		w->flags = op->flags;
		w->resource_kind = (uint32_t)op->resource_kind;
		if (op->value) {
			struct grove_buf buf = {0};
			int err = variant_encode(op->value, &buf);
			if (err) {
				grove_buf_free(&buf);
				wire_request_free(out);
				return err;
			}
			out->value_bytes[i] = buf.data;
			w->value.data = buf.data;
			w->value.len = buf.len;
		}
	}
	return GROVE_OK;
}

/* A protobuf varint at *@p at of @p p; false if it runs past @p end or over 10 bytes. */
static bool read_varint(const uint8_t *p, size_t end, size_t *at, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 70 && *at < end; shift += 7) {
		uint8_t b = p[(*at)++];
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/*
 * The field at *@p at of the encoding @p p (@p len bytes): its number and wire type, and either its varint
 * (types 0, 1, 5: the 64- and 32-bit ones are skipped) or its bytes (type 2). False on malformed input.
 */
static bool next_field(const uint8_t *p, size_t len, size_t *at, uint32_t *field, unsigned *type, uint64_t *varint,
		       const uint8_t **bytes, size_t *n)
{
	uint64_t key, v = 0;
	if (!read_varint(p, len, at, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
		return false;
	*field = (uint32_t)(key >> 3);
	*type = key & 7;
	switch (*type) {
	case 0:
		if (!read_varint(p, len, at, &v))
			return false;
		*varint = v;
		return true;
	case 1:
	case 5:
		v = *type == 1 ? 8 : 4;
		if (len - *at < v)
			return false;
		*at += v;
		return true;
	case 2:
		if (!read_varint(p, len, at, &v) || v > len - *at)
			return false;
		*bytes = p + *at;
		*n = (size_t)v;
		*at += (size_t)v;
		return true;
	default:
		return false;
	}
}

int wire_peek_envelope(const uint8_t *frame, size_t len, struct wire_envelope_view *out)
{
	memset(out, 0, sizeof(*out));
	size_t at = 0;
	while (at < len) {
		uint32_t field;
		unsigned type;
		uint64_t v = 0;
		const uint8_t *body;
		size_t n;
		if (!next_field(frame, len, &at, &field, &type, &v, &body, &n))
			return GROVE_EPROTO;
		if (type == 0 && field == 1)
			out->version = (uint32_t)v;
		else if (type == 0 && field == 2)
			out->request_id = v;
		else if (type == 2 && field >= 10) {
			/* Every body is a message; a oneof keeps the last member that appears, as protobuf does. */
			out->body = field;
			out->body_data = body;
			out->body_len = n;
		}
	}
	return GROVE_OK;
}

/* Which length-delimited fields of a message are strings (checked) and which are messages (walked). */
enum write_part { WRITE_REQUEST, WRITE_OP, WRITE_NODE_REF, WRITE_STRING, WRITE_OTHER };

static enum write_part part_of(enum write_part message, uint32_t field)
{
	switch (message) {
	case WRITE_REQUEST: /* ops = 1, submit_key = 4 */
		return field == 1 ? WRITE_OP : field == 4 ? WRITE_STRING : WRITE_OTHER;
	case WRITE_OP: /* node = 2, target = 3; name, text, instance, uid = 4..7 */
		return field == 2 || field == 3 ? WRITE_NODE_REF : field >= 4 && field <= 7 ? WRITE_STRING : WRITE_OTHER;
	case WRITE_NODE_REF: /* path = 2 */
		return field == 2 ? WRITE_STRING : WRITE_OTHER;
	default:
		return WRITE_OTHER;
	}
}

static bool part_has_nul(const uint8_t *p, size_t len, enum write_part message)
{
	for (size_t at = 0; at < len;) {
		uint32_t field;
		unsigned type;
		uint64_t v;
		const uint8_t *bytes;
		size_t n;
		if (!next_field(p, len, &at, &field, &type, &v, &bytes, &n))
			return true;
		enum write_part part = type == 2 ? part_of(message, field) : WRITE_OTHER;
		if (part == WRITE_STRING && memchr(bytes, 0, n))
			return true;
		if ((part == WRITE_OP || part == WRITE_NODE_REF) && part_has_nul(bytes, n, part))
			return true;
	}
	return false;
}

bool wire_write_has_nul(const uint8_t *data, size_t len)
{
	return part_has_nul(data, len, WRITE_REQUEST);
}
