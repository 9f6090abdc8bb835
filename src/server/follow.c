#include "src/server/follow.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "godot/gateway.h"
#include "godot/scene.h"
#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"
#include "src/common/token.h"
#include "src/net/wire.h"
#include "src/server/log.h"
#include "src/server/offload.h"
#include "src/server/subs.h"

/*
 * Snapshot bytes (or ids) per event: a Godot frame stays under its client's buffer (64 KiB by default) with
 * the headers, 16 KiB of room left; a client with a larger one gets larger frames, up to a protobuf chunk's.
 */
#define GODOT_CHUNK (48u << 10)
#define GODOT_FRAME_ROOM (16u << 10)
#define PROTOBUF_CHUNK (1u << 20)

/* The fields of a protobuf changes event that pb_changes() packs by hand. */
enum event_field {
	EV_VERSION, EV_BODY, EV_KIND, EV_INDEX, EV_PREV, EV_CHANGES, EV_COMMITTED, EV_APPLIED, EV_SENT, EV_POSITION,
	EV_FIELDS
};

/* A connection that speaks the gateway protocol, or subscribes over protobuf. */
struct follower {
	int godot;            /* 3 or 4: the gateway protocol of that Godot; 0: grove's protobuf */
	int minor;            /* gateway: its Godot's minor (GATEWAY_MINOR_NEWEST if its hello named none) */
	bool authenticated;   /* gateway: its hello was accepted */
	uint32_t buffer;      /* gateway: the largest frame payload it reads (its hello's "buffer") */
	uint64_t snapshots;   /* snapshots asked for: only the latest one is sent */
};

/* What a subscribe request asks, whichever protocol it came in. */
struct sub_request {
	uint64_t request_id;      /* protobuf: echoed in events */
	const char *path;
	bool tscn;
	bool ids_names;           /* gateway: the ids beside the scene with parents and names (scene.h) */
	bool resume;
	uint64_t from;
	const char *position;     /* resume after this position's text rather than after from (NULL: from) */
	const char *not_before;   /* a snapshot: not older than this position's text (NULL: any) */
	int scene_major;
	int depth;
	const char *const *properties;
	size_t n_properties;
	const char *const *classes;
	size_t n_classes;
};

/*
 * A subscribe waiting while a transaction holds one of its subtree's shards, or until this member applied as
 * far as its "not before" position (see subscribe_from()); one per connection at most.
 */
struct deferred {
	uint64_t conn;
	uint64_t deadline_ms;
	struct sub_request *rq;   /* owned copy */
};

struct follow {
	struct loop *loop;
	struct host *host;
	struct follow_config cfg;
	struct subs *subs;
	struct idmap followers;   /* (0, conn) -> struct follower */
	struct deferred *deferred;
	size_t n_deferred, cap_deferred;
	/* While follow_publish() hands an entry out: its changes packed once for the protobuf subscribers that get it whole. */
	bool publishing;
	bool packed_valid;
	struct grove_buf packed;
	struct grove_buf own;     /* a subscriber's own fields of an event being packed */
	struct grove_buf scratch; /* an event's frame being packed */
	uint32_t fields[EV_FIELDS]; /* the numbers of the fields packed by hand */
	/* and for the Godot subscribers, per gateway_dialect() (ends NULL: not yet) */
	struct gateway_encoded_changes godot_packed[GATEWAY_DIALECTS];
};

/* How long a subscribe across shards waits for transactions to be resolved before it is told to retry. */
#define DEFERRED_SUBSCRIBE_MS 10000

/* ---- sending ---- */

static void copy_fill(void *ctx, uint8_t *out)
{
	const struct grove_buf *b = ctx;
	memcpy(out, b->data, b->len);
}

/* Two buffers one after the other (a frame's head, and the changes packed once for many). */
static void copy_parts(void *ctx, uint8_t *out)
{
	const struct grove_buf *const *parts = ctx;
	memcpy(out, parts[0]->data, parts[0]->len);
	if (parts[1]->len)
		memcpy(out + parts[0]->len, parts[1]->data, parts[1]->len);
}

static void pack_into(void *ctx, uint8_t *out)
{
	grove__envelope__pack(ctx, out);
}

static void send_envelope(struct loop_conn *c, Grove__Envelope *env)
{
	env->version = 1;
	loop_send_with(c, grove__envelope__get_packed_size(env), pack_into, env);
}

/* Encode and queue a gateway message for @p c, whose Godot is @p major. */
static void godot_send(struct loop_conn *c, int major, struct gateway_msg *m)
{
	struct grove_buf b = {0};
	int err = gateway_msg_finish(m, major, &b);
	if (err)
		log_line("%s: a message could not be encoded for Godot %d: %s", loop_conn_peer(c), major, grove_strerror(err));
	else
		loop_send_with(c, b.len, copy_fill, &b);
	grove_buf_free(&b);
}

static void godot_error(struct loop_conn *c, int major, int code, const char *reason)
{
	struct gateway_msg m;
	gateway_msg_begin(&m, "error");
	gateway_msg_int(&m, "code", code);
	gateway_msg_str(&m, "reason", reason);
	godot_send(c, major, &m);
}

static void pb_event(struct loop_conn *c, uint64_t request_id, Grove__SubscribeEvent *ev)
{
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request_id;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE_EVENT;
	env.subscribe_event = ev;
	send_envelope(c, &env);
}

static void pb_error(struct loop_conn *c, uint64_t request_id, int code, const char *reason)
{
	Grove__SubscribeEvent ev = GROVE__SUBSCRIBE_EVENT__INIT;
	ev.kind = GROVE__SUBSCRIBE_EVENT__KIND__ERROR;
	ev.code = (uint32_t)code;
	ev.reason = (char *)reason;
	pb_event(c, request_id, &ev);
}

static void send_error(struct follower *fw, struct loop_conn *c, uint64_t request_id, int code, const char *reason)
{
	if (fw->godot)
		godot_error(c, fw->godot, code, reason);
	else
		pb_error(c, request_id, code, reason);
}

/* ---- resources named by values ---- */

struct describing {
	struct follow *f;
	const struct tree_change *changes; /* the entry's own: a resource it creates is not committed yet */
	size_t n;
};

struct resource_view {
	char *path, *type;
	size_t path_cap, type_cap;
};

static int copy_resource(void *ctx, const struct tree_resource *r)
{
	struct resource_view *v = ctx;
	snprintf(v->path, v->path_cap, "%s", r->path);
	snprintf(v->type, v->type_cap, "%s", r->type);
	return GROVE_OK;
}

static bool describe(void *ctx, uint64_t id, char *path, size_t path_cap, char *type, size_t type_cap)
{
	struct describing *d = ctx;
	for (size_t i = 0; i < d->n; i++)
		if (d->changes[i].op == TREE_OP_PUT_RESOURCE && d->changes[i].node == id) {
			snprintf(path, path_cap, "%s", d->changes[i].instance ? d->changes[i].instance : "");
			snprintf(type, type_cap, "%s", d->changes[i].text ? d->changes[i].text : "");
			return true;
		}
	/* Resources never change once stored, so the last committed state knows every one it holds. */
	struct store_txn *txn;
	struct tree_view view;
	if (host_view(d->f->host, &view) != GROVE_OK)
		return false;
	if (store_txn_begin(host_store(d->f->host), NULL, false, &txn) != GROVE_OK) {
		tree_view_free(&view);
		return false;
	}
	struct resource_view v = {path, type, path_cap, type_cap};
	const struct tree *world = tree_view_group(&view, HOST_WORLD_GROUP);
	bool found = world && tree_with_resource(world, txn, id, copy_resource, &v) == GROVE_OK;
	store_txn_abort(txn);
	tree_view_free(&view);
	return found;
}

/* ---- events ---- */

static int send_frame(void *ctx, const uint8_t *frame, size_t len)
{
	return loop_send(ctx, frame, len);
}

/*
 * Change @p c as protobuf, its absolute paths made from @p paths into @p path and @p old_path (a
 * connection's target path; the caller frees them). @return GROVE_OK, GROVE_ENOMEM, GROVE_EINVAL (a step the entry does not have).
 */
static int fill_change(Grove__Change *pb, const struct tree_change *c, const struct tree_paths *paths, char **path,
		       char **old_path)
{
	grove__change__init(pb);
	int err = tree_paths_string(paths, c->path_step, path);
	if (!err)
		err = tree_paths_string(paths, c->old_path_step, old_path);
	if (err)
		return err;
	pb->op = (uint32_t)c->op;
	pb->node = c->node;
	pb->parent = c->parent;
	pb->old_parent = c->old_parent;
	pb->index = c->index;
	pb->old_index = -1; /* not kept: counting it made every move linear in its siblings */
	/* A connection's old_path_step is its target's. */
	bool connection = c->op == TREE_OP_CONNECT || c->op == TREE_OP_DISCONNECT;
	char **strings[] = {&pb->name,	     &pb->old_name, &pb->path,	   connection ? &pb->target_path : &pb->old_path,
			    &pb->class_name, &pb->text,	    &pb->instance};
	const char *values[] = {c->name, c->old_name, *path, *old_path, c->node_class, c->text, c->instance};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		*strings[i] = (char *)(values[i] ? values[i] : "");
	pb->flags = c->flags;
	pb->value.data = c->value.data;
	pb->value.len = c->value.len;
	return GROVE_OK;
}

/*
 * The fields of a changes event packed by hand: a subscriber's own (position, indexes, times) around the
 * changes packed once per entry. Their numbers come from the descriptors, and follow_create() checks their
 * types, so that the packing below can only be what protobuf-c would write.
 */
static const struct {
	const ProtobufCMessageDescriptor *message;
	const char *name;
	ProtobufCType type;
} event_fields[EV_FIELDS] = {
	[EV_VERSION] = {&grove__envelope__descriptor, "version", PROTOBUF_C_TYPE_UINT32},
	[EV_BODY] = {&grove__envelope__descriptor, "subscribe_event", PROTOBUF_C_TYPE_MESSAGE},
	[EV_KIND] = {&grove__subscribe_event__descriptor, "kind", PROTOBUF_C_TYPE_ENUM},
	[EV_INDEX] = {&grove__subscribe_event__descriptor, "index", PROTOBUF_C_TYPE_UINT64},
	[EV_PREV] = {&grove__subscribe_event__descriptor, "prev", PROTOBUF_C_TYPE_UINT64},
	[EV_CHANGES] = {&grove__subscribe_event__descriptor, "changes", PROTOBUF_C_TYPE_MESSAGE},
	[EV_COMMITTED] = {&grove__subscribe_event__descriptor, "committed_ns", PROTOBUF_C_TYPE_UINT64},
	[EV_APPLIED] = {&grove__subscribe_event__descriptor, "applied_ns", PROTOBUF_C_TYPE_UINT64},
	[EV_SENT] = {&grove__subscribe_event__descriptor, "sent_ns", PROTOBUF_C_TYPE_UINT64},
	[EV_POSITION] = {&grove__subscribe_event__descriptor, "position", PROTOBUF_C_TYPE_STRING},
};

/* Each field's number, or GROVE_EPROTO if one is missing or not of the type packed for it. */
static int event_field_numbers(uint32_t numbers[EV_FIELDS])
{
	for (int i = 0; i < EV_FIELDS; i++) {
		const ProtobufCFieldDescriptor *field =
			protobuf_c_message_descriptor_get_field_by_name(event_fields[i].message, event_fields[i].name);
		if (!field || field->type != event_fields[i].type)
			return GROVE_EPROTO;
		numbers[i] = field->id;
	}
	return GROVE_OK;
}

/* A varint field (protobuf wire type 0); proto3 leaves out zeros. */
static void put_varint_field(struct grove_buf *b, uint32_t number, uint64_t v)
{
	if (v) {
		grove_buf_varint(b, (uint64_t)number << 3);
		grove_buf_varint(b, v);
	}
}

/* The key and length of a length-delimited field (wire type 2) of @p len bytes. */
static void put_bytes_key(struct grove_buf *b, uint32_t number, size_t len)
{
	grove_buf_varint(b, (uint64_t)number << 3 | 2);
	grove_buf_varint(b, len);
}

/* Each change of @p ev appended to @p out as a SubscribeEvent "changes" field. @return GROVE_OK, GROVE_ENOMEM, GROVE_EINVAL. */
static int pack_change_fields(const struct follow *f, const struct sub_event *ev, struct grove_buf *out)
{
	for (size_t i = 0; i < ev->n_changes; i++) {
		Grove__Change pb;
		char *path = NULL, *old_path = NULL;
		int err = fill_change(&pb, &ev->changes[i], ev->paths, &path, &old_path);
		if (!err) {
			size_t len = grove__change__get_packed_size(&pb);
			put_bytes_key(out, f->fields[EV_CHANGES], len);
			uint8_t *at = grove_buf_extend(out, len);
			if (at)
				grove__change__pack(&pb, at);
		}
		free(path);
		free(old_path);
		if (err)
			return err;
	}
	return out->failed ? GROVE_ENOMEM : GROVE_OK;
}

/*
 * The changes of @p ev to @p c. Every subscriber that gets an entry whole (sub_event.whole) while it is
 * published gets the same changes: they are packed once, and each subscriber's own fields (position,
 * indexes, times) packed around them; protobuf reads a message's fields in any order.
 */
static void pb_changes(struct follow *f, struct loop_conn *c, const struct sub_event *ev, const char *position)
{
	struct grove_buf changed = {0};
	const struct grove_buf *changes = &changed;
	int err = GROVE_OK;
	if (f->publishing && ev->whole) {
		if (!f->packed_valid) {
			f->packed.len = 0;
			f->packed.failed = false;
			f->packed_valid = (err = pack_change_fields(f, ev, &f->packed)) == GROVE_OK;
		}
		changes = &f->packed;
	} else {
		err = pack_change_fields(f, ev, &changed);
	}
	struct grove_buf *own = &f->own, *frame = &f->scratch;
	own->len = frame->len = 0;
	own->failed = frame->failed = false;
	const uint32_t *field = f->fields;
	put_varint_field(own, field[EV_KIND], GROVE__SUBSCRIBE_EVENT__KIND__CHANGES);
	put_varint_field(own, field[EV_INDEX], ev->index);
	put_varint_field(own, field[EV_PREV], ev->prev);
	put_varint_field(own, field[EV_COMMITTED], ev->committed_ns);
	put_varint_field(own, field[EV_APPLIED], ev->applied_ns);
	/* One clock read per subscriber and event: its own queueing time, fan-out included. */
	put_varint_field(own, field[EV_SENT], ev->applied_ns ? grove_realtime_ns() : 0);
	if (*position) {
		put_bytes_key(own, field[EV_POSITION], strlen(position));
		grove_buf_put(own, position, strlen(position));
	}
	put_varint_field(frame, field[EV_VERSION], 1);
	put_bytes_key(frame, field[EV_BODY], own->len + changes->len);
	grove_buf_put(frame, own->data, own->len);
	if (err || own->failed || frame->failed) {
		loop_close_after_send(c, "a change could not be sent to this subscriber");
	} else {
		const struct grove_buf *parts[] = {frame, changes};
		loop_send_with(c, frame->len + changes->len, copy_parts, parts);
	}
	grove_buf_free(&changed);
	if (own->cap > PROTOBUF_CHUNK || frame->cap > PROTOBUF_CHUNK) {
		grove_buf_free(own); /* kept for the next event, unless an unusually long position grew them */
		grove_buf_free(frame);
	}
}

/* Tell a Godot client to take a new snapshot, and why (@p reason; @p oldest: the oldest entry still kept). */
static void godot_compacted(struct loop_conn *c, int major, uint64_t oldest, const char *reason)
{
	struct gateway_msg m;
	gateway_msg_begin(&m, "compacted");
	gateway_msg_int(&m, "oldest", (int64_t)oldest);
	gateway_msg_str(&m, "reason", reason);
	godot_send(c, major, &m);
}

/* The events of @p fw to connection @p c, @p position (NULL: none) with those that carry an index. */
static bool emit_to(struct follow *f, struct loop_conn *c, struct follower *fw, const struct sub_event *ev,
		    char *position)
{
	if (!fw->godot) {
		if (ev->kind == SUB_CHANGES) {
			pb_changes(f, c, ev, position ? position : "");
			return true;
		}
		Grove__SubscribeEvent pe = GROVE__SUBSCRIBE_EVENT__INIT;
		pe.kind = ev->kind == SUB_PROGRESS ? GROVE__SUBSCRIBE_EVENT__KIND__PROGRESS
						   : GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED;
		pe.index = ev->index;
		pe.prev = ev->prev;
		pe.oldest = ev->oldest;
		pe.reason = (char *)(ev->reason ? ev->reason : "");
		pe.position = position ? position : "";
		pb_event(c, 0, &pe);
		return true;
	}
	if (ev->kind == SUB_CHANGES) {
		/* Encoded once per Godot major for the subscribers that get the entry whole, as for protobuf. */
		struct gateway_encoded_changes own = {0}, *enc = &own;
		struct describing d = {f, ev->changes, ev->n_changes};
		struct gateway_resources res = {&d, describe};
		int err = GROVE_OK;
		if (f->publishing && ev->whole) {
			enc = &f->godot_packed[gateway_dialect(fw->godot, fw->minor)];
			if (!enc->ends)
				err = gateway_changes_encode(ev->changes, ev->n_changes, fw->godot, fw->minor, &res,
							     enc);
		} else {
			err = gateway_changes_encode(ev->changes, ev->n_changes, fw->godot, fw->minor, &res, enc);
		}
		if (!err && enc->largest + GATEWAY_FRAME_HEADER_MAX + (position ? strlen(position) : 0) > fw->buffer) {
			/* Its client could never read that frame: the snapshot holds the value in chunks instead. */
			char reason[200];
			snprintf(reason, sizeof(reason),
				 "entry %" PRIu64 " holds a change of %zu bytes, more than this client reads in one frame "
				 "(\"buffer\" %u in its hello); take a snapshot",
				 ev->index, enc->largest, fw->buffer);
			godot_compacted(c, fw->godot, ev->index, reason);
			gateway_encoded_changes_free(&own);
			return false; /* and the subscription ends, as after "compacted" */
		}
		if (!err)
			err = gateway_changes_send(ev->index, ev->prev, position, enc, send_frame, c);
		gateway_encoded_changes_free(&own);
		if (err)
			loop_close_after_send(c, "a change could not be sent to this subscriber");
		return !err;
	}
	if (ev->kind != SUB_PROGRESS) {
		godot_compacted(c, fw->godot, ev->oldest, ev->reason);
		return true;
	}
	struct gateway_msg m;
	gateway_msg_begin(&m, "progress");
	gateway_msg_int(&m, "index", (int64_t)ev->index);
	gateway_msg_int(&m, "prev", (int64_t)ev->prev);
	if (position)
		gateway_msg_str(&m, "position", position);
	godot_send(c, fw->godot, &m);
	return true;
}

static bool emit(void *ctx, uint64_t conn, const struct sub_event *ev)
{
	struct follow *f = ctx;
	struct loop_conn *c = loop_conn_find(f->loop, conn);
	struct follower *fw = idmap_get(&f->followers, 0, conn);
	if (!c || !fw)
		return false;
	/*
	 * Every stream's events name their group too: a bare index means nothing in another group's log, and a
	 * split may move the subscribed subtree to a new group while its client is away.
	 */
	char *position = ev->n_at ? subs_position_format(ev->at, ev->n_at) : NULL;
	if (ev->n_at && !position) {
		loop_close_after_send(c, "the server ran out of memory for this subscriber");
		return false;
	}
	bool sent = emit_to(f, c, fw, ev, position);
	free(position);
	return sent;
}

static size_t queued(void *ctx, uint64_t conn)
{
	struct follow *f = ctx;
	struct loop_conn *c = loop_conn_find(f->loop, conn);
	return c ? loop_conn_queued(c) : 0;
}

static struct store_txn *read_txn(void *ctx)
{
	struct follow *f = ctx;
	struct store_txn *txn;
	if (host_commit_applied(f->host) != GROVE_OK || store_txn_begin(host_store(f->host), NULL, false, &txn) != GROVE_OK)
		return NULL;
	return txn;
}

/*
 * The history as applied, for catch-ups: they read it often (at the end of every turn that completed a
 * transaction across shards for a subscriber), and committing the applies each time would make the loop
 * wait for a sync of the store.
 */
static struct store_txn *history_txn(void *ctx)
{
	struct follow *f = ctx;
	struct store_txn *txn;
	return host_read_applied(f->host, &txn) == GROVE_OK ? txn : NULL;
}

/* A group's tree and how far it is applied, for moves into a subtree: read through history_txn()'s transaction. */
static const struct tree *group_tree(void *ctx, uint64_t group, uint64_t *applied)
{
	struct follow *f = ctx;
	*applied = host_applied(f->host, group);
	return host_tree(f->host, group);
}

static int world_view(void *ctx, struct tree_view *out)
{
	struct follow *f = ctx;
	return host_view(f->host, out);
}

/* ---- set-up ---- */

int follow_create(struct loop *loop, struct host *host, const struct follow_config *cfg, struct follow **out)
{
	struct follow *f = calloc(1, sizeof(*f));
	if (!f)
		return GROVE_ENOMEM;
	*f = (struct follow){.loop = loop, .host = host, .cfg = *cfg};
	if (event_field_numbers(f->fields) != GROVE_OK) {
		free(f);
		return GROVE_EPROTO;
	}
	struct subs_config sc = {.live_max_queued = cfg->live_max_queued, .max_catchups = cfg->max_catchups};
	struct subs_hooks sh = {.ctx = f, .emit = emit, .queued = queued, .read_txn = history_txn,
				 .tree = group_tree, .view = world_view};
	int err = subs_create(&sc, host_history(host), &sh, &f->subs);
	if (err) {
		free(f);
		return err;
	}
	*out = f;
	return GROVE_OK;
}

static void free_godot_packed(struct follow *f)
{
	for (int i = 0; i < GATEWAY_DIALECTS; i++)
		gateway_encoded_changes_free(&f->godot_packed[i]);
}

static void free_follower(void *ctx, uint64_t a, uint64_t b, void *value)
{
	(void)ctx, (void)a, (void)b;
	free(value);
}

static void sub_request_free(struct sub_request *rq);

void follow_destroy(struct follow *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_deferred; i++)
		sub_request_free(f->deferred[i].rq);
	free(f->deferred);
	subs_destroy(f->subs);
	grove_buf_free(&f->packed);
	grove_buf_free(&f->own);
	grove_buf_free(&f->scratch);
	free_godot_packed(f);
	idmap_for_each(&f->followers, free_follower, NULL);
	idmap_free(&f->followers);
	free(f);
}

static struct follower *follower_of(struct follow *f, struct loop_conn *c, int godot)
{
	struct follower *fw = idmap_get(&f->followers, 0, loop_conn_id(c));
	if (fw)
		return fw;
	fw = calloc(1, sizeof(*fw));
	if (fw && idmap_put(&f->followers, 0, loop_conn_id(c), fw)) {
		free(fw);
		fw = NULL;
	}
	if (fw)
		*fw = (struct follower){.godot = godot, .minor = GATEWAY_MINOR_NEWEST};
	return fw;
}

void follow_closed(struct follow *f, struct loop_conn *c)
{
	subs_remove(f->subs, loop_conn_id(c));
	free(idmap_remove(&f->followers, 0, loop_conn_id(c)));
}

void follow_publish(struct follow *f, uint64_t group, uint64_t index, const struct tree_change *changes, size_t n,
		    const struct tree_paths *paths, const struct entry_times *times, const struct change_txn *txn)
{
	f->publishing = true;
	subs_publish(f->subs, group, index, changes, n, paths, times, txn);
	f->publishing = false;
	f->packed_valid = false;
	if (f->packed.cap > PROTOBUF_CHUNK)
		grove_buf_free(&f->packed); /* kept for the next entry, unless an unusually large one grew it */
	free_godot_packed(f);
}

void follow_moved(struct follow *f, uint64_t group, uint64_t index, const char *path, uint64_t to, uint64_t born_at)
{
	subs_moved(f->subs, group, index, path, to, born_at);
}

void follow_installed(struct follow *f, uint64_t group, uint64_t index)
{
	subs_installed(f->subs, group, index);
}

/* ---- subscribing ---- */

/* The snapshot bytes (or ids) in one event to Godot client @p fw: as many as its buffer takes, within bounds. */
static size_t godot_chunk(const struct follower *fw)
{
	size_t room = fw->buffer > GODOT_FRAME_ROOM ? fw->buffer - GODOT_FRAME_ROOM : 0;
	return room < GODOT_CHUNK ? GODOT_CHUNK : room > PROTOBUF_CHUNK ? PROTOBUF_CHUNK : room;
}

/*
 * The ids beside the scene from entry @p at on into @p m, as many as about @p bytes of the message hold (one
 * at least): how many, or 0 when out of memory.
 */
static size_t put_names(struct gateway_msg *m, const struct scene_ids *ids, size_t at, size_t bytes)
{
	const char *name = (const char *)ids->names.data;
	size_t n = 0;
	/* An id in an Array takes 12 bytes at most, a parent 4, a name 4 and its bytes padded to 4. */
	for (size_t used = 0; at + n < ids->len && (n == 0 || used < bytes); n++)
		used += 20 + strlen(name + ids->name_at[at + n]) + 3;
	struct variant node_ids = {0}, parents = {0}, names = {0};
	int err = variant_set_array(&node_ids);
	if (!err)
		err = variant_set_packed(&parents, VARIANT_PACKED_INT32_ARRAY, (uint32_t)n);
	if (!err)
		err = variant_set_packed(&names, VARIANT_PACKED_STRING_ARRAY, (uint32_t)n);
	for (size_t i = 0; !err && i < n; i++) {
		struct variant id;
		variant_set_int(&id, (int64_t)ids->node_ids[at + i]);
		err = variant_array_push(&node_ids, &id);
		parents.as.packed->as.i32[i] = ids->parents[at + i];
		const char *its = name + ids->name_at[at + i];
		if (!err)
			err = variant_packed_set_string(&names, (uint32_t)i, its, strlen(its));
	}
	if (err) {
		variant_free(&node_ids);
		variant_free(&parents);
		variant_free(&names);
		return 0;
	}
	gateway_msg_take(m, "node_ids", &node_ids);
	gateway_msg_take(m, "parents", &parents);
	gateway_msg_take(m, "names", &names);
	return n;
}

/*
 * The ids that come beside a Godot client's scene (@p ids, scene.h), in "snapshot_ids" messages of about a
 * chunk's bytes each: the ids by path, then the named entries.
 */
static void send_snapshot_ids(struct follower *fw, struct loop_conn *c, const struct scene_ids *ids)
{
	const struct variant_dict *d = ids->by_path.type == VARIANT_DICTIONARY ? ids->by_path.as.dict : NULL;
	uint32_t by_path = d ? d->len : 0;
	size_t chunk = godot_chunk(fw);
	for (size_t i = 0, named = 0; i < by_path || named < ids->len;) {
		struct gateway_msg m;
		gateway_msg_begin(&m, "snapshot_ids");
		struct variant part;
		m.failed |= variant_set_dict(&part) != GROVE_OK;
		size_t first = i;
		for (size_t bytes = 0; !m.failed && i < by_path && bytes < chunk; i++) {
			struct variant key = {0}, id = d->values[i]; /* an int: copied whole */
			int err = variant_set_string(&key, VARIANT_STRING, d->keys[i].as.str.ptr, d->keys[i].as.str.len);
			if (!err && (err = variant_dict_put(&part, &key, &id)))
				variant_free(&key);
			m.failed |= err != GROVE_OK;
			bytes += d->keys[i].as.str.len + 24; /* and the encodings' lengths, types and padding */
		}
		gateway_msg_take(&m, "ids", &part);
		if (!m.failed && i == first && named < ids->len) {
			size_t put = put_names(&m, ids, named, chunk);
			m.failed |= put == 0;
			named += put;
		}
		if (m.failed) {
			variant_free(&m.dict);
			log_line("%s: out of memory for a snapshot's ids", loop_conn_peer(c));
			return;
		}
		godot_send(c, fw->godot, &m);
	}
}

/*
 * Send @p scene (the snapshot at @p index of the subtree @p root, a .tscn with @p tscn) in chunks; a Godot
 * client gets the ids that come beside the scene (@p ids) before them.
 */
static void send_snapshot(struct follower *fw, struct loop_conn *c, uint64_t request_id, bool tscn, uint64_t index,
			  char *position, uint64_t root, const struct grove_buf *scene, const struct scene_ids *ids)
{
	size_t chunk = fw->godot ? godot_chunk(fw) : PROTOBUF_CHUNK;
	size_t offset = 0;
	if (fw->godot)
		send_snapshot_ids(fw, c, ids);
	do {
		size_t len = scene->len - offset < chunk ? scene->len - offset : chunk;
		bool last = offset + len == scene->len;
		if (fw->godot) {
			struct gateway_msg m;
			gateway_msg_begin(&m, "snapshot");
			gateway_msg_int(&m, "index", (int64_t)index);
			gateway_msg_int(&m, "root", (int64_t)root);
			gateway_msg_str(&m, "format", tscn ? "tscn" : "scn");
			gateway_msg_int(&m, "size", (int64_t)scene->len);
			gateway_msg_int(&m, "offset", (int64_t)offset);
			gateway_msg_bytes(&m, "data", scene->data + offset, len);
			gateway_msg_bool(&m, "last", last);
			if (last && position)
				gateway_msg_str(&m, "position", position);
			godot_send(c, fw->godot, &m);
		} else {
			Grove__SubscribeEvent ev = GROVE__SUBSCRIBE_EVENT__INIT;
			ev.kind = GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT;
			ev.index = index;
			ev.root = root;
			ev.size = scene->len;
			ev.offset = offset;
			ev.data.data = scene->data + offset;
			ev.data.len = len;
			ev.last = last;
			ev.position = last && position ? position : "";
			pb_event(c, request_id, &ev);
		}
		offset += len;
	} while (offset < scene->len);
}

/* The text of position @p at (per group of @p spec); NULL when out of memory. */
static char *position_text(const struct sub_spec *spec, const uint64_t *at)
{
	struct sub_at *pairs = malloc(spec->n_groups * sizeof(*pairs));
	for (size_t i = 0; pairs && i < spec->n_groups; i++)
		pairs[i] = (struct sub_at){spec->groups[i], at[i]};
	char *text = pairs ? subs_position_format(pairs, spec->n_groups) : NULL;
	free(pairs);
	return text;
}

static void send_resumed(struct follower *fw, struct loop_conn *c, uint64_t request_id, uint64_t from, char *position)
{
	if (fw->godot) {
		struct gateway_msg m;
		gateway_msg_begin(&m, "resumed");
		gateway_msg_int(&m, "index", (int64_t)from);
		if (position)
			gateway_msg_str(&m, "position", position);
		godot_send(c, fw->godot, &m);
		return;
	}
	Grove__SubscribeEvent ev = GROVE__SUBSCRIBE_EVENT__INIT;
	ev.kind = GROVE__SUBSCRIBE_EVENT__KIND__RESUMED;
	ev.index = from;
	ev.position = position ? position : "";
	pb_event(c, request_id, &ev);
}

/* The position asked for cannot be resumed from (@p reason says why): the client takes a new snapshot. */
static void send_compacted(struct follower *fw, struct loop_conn *c, uint64_t request_id, uint64_t oldest,
			   const char *reason)
{
	if (fw->godot) {
		godot_compacted(c, fw->godot, oldest, reason);
		return;
	}
	Grove__SubscribeEvent ev = GROVE__SUBSCRIBE_EVENT__INIT;
	ev.kind = GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED;
	ev.oldest = oldest;
	ev.reason = (char *)reason;
	pb_event(c, request_id, &ev);
}

/* A subtree being written as a scene beside the loop, from a read transaction taken at index @c at. */
struct snapshot_job {
	struct follow *f;
	uint64_t conn;            /* the subscriber's connection */
	uint64_t generation;      /* its follower's snapshot count when asked */
	uint64_t request_id;
	const struct tree *tree;  /* the root's group's, or one of view's */
	struct tree_view view;    /* a subtree across shards: read through every group (else empty) */
	struct store_txn *txn;    /* owned until run() ends it */
	uint64_t root, at;
	char *position;           /* at, per group, of a stream across shards (else NULL) */
	int major;
	bool tscn;
	enum scene_ids_mode ids_mode;
	int err;
	char why[512];
	struct grove_buf scene;
	struct scene_ids ids;     /* the ids beside the scene (scene.h), for a Godot client */
};

/*
 * Largest scene a subscriber is sent. It goes in chunks, so the frame limit does not bound it; this bounds
 * what one snapshot holds in memory while it is made (a deep chain's node paths would otherwise grow with
 * the square of its depth) and what a Godot server is asked to load.
 */
#define SNAPSHOT_SCENE_MAX ((size_t)256 << 20)

static void make_snapshot(void *arg)
{
	struct snapshot_job *j = arg;
	j->err = scene_export_file(j->tree, j->txn, j->root, j->major, !j->tscn, j->ids_mode, &j->ids, SNAPSHOT_SCENE_MAX,
				   &j->scene, j->why, sizeof(j->why));
	store_txn_abort(j->txn);
	j->txn = NULL;
}

static void snapshot_made(void *arg, bool cancelled)
{
	struct snapshot_job *j = arg;
	struct follow *f = j->f;
	struct loop_conn *c = cancelled ? NULL : loop_conn_find(f->loop, j->conn);
	struct follower *fw = c ? idmap_get(&f->followers, 0, j->conn) : NULL;
	/* Gone, or it subscribed again meanwhile: the newer request's snapshot follows. */
	if (fw && fw->snapshots == j->generation) {
		if (j->err) {
			subs_remove(f->subs, j->conn);
			send_error(fw, c, j->request_id, j->err, j->why[0] ? j->why : grove_strerror(j->err));
		} else {
			send_snapshot(fw, c, j->request_id, j->tscn, j->at, j->position, j->root, &j->scene, &j->ids);
			subs_release(f->subs, j->conn);
		}
	}
	store_txn_abort(j->txn);
	grove_buf_free(&j->scene);
	scene_ids_free(&j->ids);
	tree_view_free(&j->view);
	free(j->position);
	free(j);
}

/* ---- subscribing across shards ---- */

static char **copy_list(const char *const *list, size_t n, bool *oom)
{
	char **copy = n ? calloc(n, sizeof(*copy)) : NULL;
	*oom |= n && !copy;
	for (size_t i = 0; copy && i < n; i++)
		*oom |= !(copy[i] = strdup(list[i]));
	return copy;
}

static void free_list(const char *const *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free((char *)list[i]);
	free((void *)list);
}

static void sub_request_free(struct sub_request *rq)
{
	if (!rq)
		return;
	free((char *)rq->path);
	free((char *)rq->position);
	free((char *)rq->not_before);
	free_list(rq->properties, rq->n_properties);
	free_list(rq->classes, rq->n_classes);
	free(rq);
}

/* A copy of @p rq that owns its strings, or NULL. */
static struct sub_request *sub_request_copy(const struct sub_request *rq)
{
	struct sub_request *copy = malloc(sizeof(*copy));
	if (!copy)
		return NULL;
	*copy = *rq;
	bool oom = !(copy->path = strdup(rq->path ? rq->path : ""));
	oom |= rq->position && !(copy->position = strdup(rq->position));
	oom |= rq->not_before && !(copy->not_before = strdup(rq->not_before));
	copy->properties = (const char *const *)copy_list(rq->properties, rq->n_properties, &oom);
	copy->classes = (const char *const *)copy_list(rq->classes, rq->n_classes, &oom);
	if (oom) {
		sub_request_free(copy);
		return NULL;
	}
	return copy;
}

/*
 * The groups that hold the subtree at @p root_path, whose root is in @p group: that one first, then every
 * shard below the root that this member hosts. @return how many (0: out of memory); *@p out is malloc'd.
 */
static size_t span_of(struct follow *f, uint64_t group, const char *root_path, uint64_t **out)
{
	const struct shard_map *map = host_shard_map(f->host);
	size_t n = 0, len = strlen(root_path);
	uint64_t *groups = malloc(((map ? map->n : 0) + 1) * sizeof(*groups));
	if (!groups)
		return 0;
	groups[n++] = group;
	for (size_t i = 0; map && i < map->n; i++) {
		const struct shard_entry *e = &map->entries[i];
		bool below = strncmp(e->path, root_path, len) == 0 && e->path[len] == '/';
		if (below && e->group != group && host_tree(f->host, e->group))
			groups[n++] = e->group;
	}
	*out = groups;
	return n;
}

/* Whether @p group is among @p at's @p n groups. */
static bool names_group(const struct sub_at *at, size_t n, uint64_t group)
{
	for (size_t i = 0; i < n; i++)
		if (at[i].group == group)
			return true;
	return false;
}

/*
 * A position taken before a split moved the subtree into a shard of its own (or kept since by a stream handed
 * over at the split) names the group the subtree split from: that group is followed too, up to the split for
 * the subtree's last changes there and after it for nothing, so that the stream's index, the sum over its
 * groups, keeps growing; and so is the group that one split from, if the position names it too (the subtree
 * split again since). Appends them to @p groups (@p n of them, grown). @return the new count (@p n if nothing
 * was added, 0 if out of memory).
 */
static size_t with_split_sources(struct follow *f, uint64_t **groups, size_t n, const struct sub_at *from, size_t n_from)
{
	const struct shard_map *map = host_shard_map(f->host);
	const struct shard_entry *e = map ? shard_map_find_group(map, (*groups)[0]) : NULL;
	while (e && e->source && names_group(from, n_from, e->source) && host_tree(f->host, e->source)) {
		for (size_t i = 0; i < n; i++)
			if ((*groups)[i] == e->source)
				return n;
		uint64_t *more = realloc(*groups, (n + 1) * sizeof(*more));
		if (!more)
			return 0;
		more[n++] = e->source;
		*groups = more;
		e = shard_map_find_group(map, e->source);
	}
	return n;
}

/*
 * Whether this member has applied, in every group that position @p text names, as far as it says: a snapshot
 * for a client told "compacted" must not show an older state than the one it had. Every group it names, not
 * only those this member's shard map puts under the subtree: a member that applied a split but not yet the
 * map's switch to the new group routes the subtree to the group it left, and would show it through the split's
 * mount point as the new group stood here, maybe far behind (a group not started here yet counts as applied
 * up to 0).
 * @return GROVE_OK; GROVE_EUNAVAILABLE (not yet), GROVE_EINVAL (not a position), with @p why; GROVE_ENOMEM.
 */
static int behind_position(struct follow *f, const char *text, char *why, size_t cap)
{
	struct sub_at *at;
	size_t n_at;
	int err = subs_position_parse(text, &at, &n_at, why, cap);
	for (size_t i = 0; !err && i < n_at; i++) {
		uint64_t applied = host_applied(f->host, at[i].group);
		if (applied < at[i].index) {
			snprintf(why, cap, "this member has applied shard %llu up to %llu, short of %llu that \"not before\" "
				 "names; ask another member", (unsigned long long)at[i].group, (unsigned long long)applied,
				 (unsigned long long)at[i].index);
			err = GROVE_EUNAVAILABLE;
		}
	}
	free(at);
	return err;
}

/* Whether a transaction's intent holds any of @p groups: its parts are not all applied yet. */
static bool any_held(struct follow *f, const uint64_t *groups, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (host_held(f->host, groups[i], NULL))
			return true;
	return false;
}

/* Forget a subscribe of @p conn that waits: a newer request replaces it (one waits per connection at most). */
static void drop_deferred(struct follow *f, uint64_t conn)
{
	size_t kept = 0;
	for (size_t i = 0; i < f->n_deferred; i++) {
		if (f->deferred[i].conn == conn)
			sub_request_free(f->deferred[i].rq);
		else
			f->deferred[kept++] = f->deferred[i];
	}
	f->n_deferred = kept;
}

/*
 * A snapshot across shards must not show a transaction's part in one shard without its part in another,
 * so it waits while any of them is held: keep @p rq (until @p deadline_ms, 0: from now) for follow_tick().
 * @return false if it could not be kept.
 */
static bool defer(struct follow *f, struct loop_conn *c, const struct sub_request *rq, uint64_t deadline_ms)
{
	struct sub_request *copy = sub_request_copy(rq);
	if (!copy || grove_grow((void **)&f->deferred, &f->cap_deferred, f->n_deferred, sizeof(*f->deferred))) {
		sub_request_free(copy);
		return false;
	}
	f->deferred[f->n_deferred++] = (struct deferred){loop_conn_id(c),
							 deadline_ms ? deadline_ms : grove_monotonic_ms() + DEFERRED_SUBSCRIBE_MS,
							 copy};
	return true;
}

/*
 * A subscribe that cannot be served yet: kept for follow_tick() (defer()) until its deadline, then refused with
 * @p code and @p why. @return GROVE_OK, GROVE_ENOMEM (nothing kept or sent).
 */
static int wait_or_refuse(struct follow *f, struct loop_conn *c, struct follower *fw, const struct sub_request *rq,
			  uint64_t deadline_ms, int code, const char *why)
{
	if (!deadline_ms || grove_monotonic_ms() < deadline_ms)
		return defer(f, c, rq, deadline_ms) ? GROVE_OK : GROVE_ENOMEM;
	send_error(fw, c, rq->request_id, code, why);
	return GROVE_OK;
}

/* Where each group of @p spec stands for a resume: its applied index @p applied, and the split that made it. */
static struct sub_span *span_now(struct follow *f, const struct sub_spec *spec, const uint64_t *applied)
{
	struct sub_span *span = calloc(spec->n_groups, sizeof(*span));
	const struct shard_map *map = host_shard_map(f->host);
	for (size_t i = 0; span && i < spec->n_groups; i++) {
		span[i] = (struct sub_span){.applied = applied[i], .born = HOST_BIRTH_INDEX};
		for (size_t k = 0; map && k < map->n; k++)
			if (map->entries[k].group == spec->groups[i]) {
				span[i].source = map->entries[k].source;
				span[i].split_index = map->entries[k].split_index;
			}
	}
	return span;
}

/*
 * Follow @p spec after position @p from (@p n_from groups), if the history still holds what follows it in
 * every group; else "compacted", and @p c follows nothing.
 */
static int resume(struct follow *f, struct loop_conn *c, struct follower *fw, const struct sub_request *rq,
		  const struct sub_spec *spec, const uint64_t *applied, const struct sub_at *from, size_t n_from)
{
	struct sub_span *span = span_now(f, spec, applied);
	uint64_t *at = malloc(spec->n_groups * sizeof(*at));
	struct sub_refusal why;
	int err = span && at ? subs_resume(f->subs, loop_conn_id(c), spec, span, from, n_from, at, &why) : GROVE_ENOMEM;
	char *position = err ? NULL : position_text(spec, at);
	if (err == GROVE_ERANGE) {
		subs_remove(f->subs, loop_conn_id(c)); /* it follows nothing now, as "compacted" says */
		send_compacted(fw, c, rq->request_id, why.oldest, why.reason);
		err = GROVE_OK;
	} else if (!err && !position) {
		subs_remove(f->subs, loop_conn_id(c));
		err = GROVE_ENOMEM;
	} else if (!err) {
		send_resumed(fw, c, rq->request_id, subs_position(at, spec->n_groups), position);
	}
	free(position);
	free(span);
	free(at);
	return err;
}

/*
 * Hold @p c at @p at (per group of @p spec) and write the snapshot of its subtree from @p txn (taken over,
 * whatever the outcome) beside the loop; across shards, through a view of every group.
 */
static int start_snapshot(struct follow *f, struct loop_conn *c, struct follower *fw, const struct sub_request *rq,
			  const struct sub_spec *spec, const uint64_t *at, const struct tree *tree, struct store_txn *txn)
{
	struct snapshot_job *j = calloc(1, sizeof(*j));
	if (!j) {
		store_txn_abort(txn);
		return GROVE_ENOMEM;
	}
	*j = (struct snapshot_job){.f = f, .conn = loop_conn_id(c), .generation = fw->snapshots,
				   .request_id = rq->request_id, .tree = tree, .txn = txn, .root = spec->root,
				   .at = subs_position(at, spec->n_groups), .major = rq->scene_major, .tscn = rq->tscn,
				   .ids_mode = rq->ids_names ? SCENE_IDS_NAMES : SCENE_IDS_METADATA};
	j->position = position_text(spec, at);
	int err = j->position ? GROVE_OK : GROVE_ENOMEM;
	if (!err && spec->n_groups > 1) {
		err = host_view(f->host, &j->view);
		j->tree = err ? NULL : tree_view_group(&j->view, spec->groups[0]);
		err = err ? err : j->tree ? GROVE_OK : GROVE_EUNAVAILABLE;
	}
	if (!err)
		err = subs_add_held(f->subs, loop_conn_id(c), spec, at);
	struct offload_job job = {.job = j, .run = make_snapshot, .done = snapshot_made};
	if (!err && (err = offload_submit(f->cfg.offload, &job)) != GROVE_OK)
		subs_remove(f->subs, loop_conn_id(c));
	if (err) {
		store_txn_abort(txn);
		tree_view_free(&j->view);
		free(j->position);
		free(j);
	}
	return err;
}

/*
 * Register @p c at the apply boundary the loop is at now: the snapshot's read transaction (or the resume
 * position) and the subscription are taken with nothing applied in between, so the stream starts exactly
 * after it. The scene itself is written beside the loop; the subscriber is held until it is sent. A
 * subtree across shards is read through every group that holds a part (a view) and followed in each; its
 * subscribe waits (until @p deadline_ms, 0: a new one) while a transaction holds any of them.
 */
static void subscribe_from(struct follow *f, struct loop_conn *c, struct follower *fw, const struct sub_request *rq,
			   uint64_t deadline_ms, struct sub_at *from, size_t n_from)
{
	drop_deferred(f, loop_conn_id(c));
	uint64_t group;
	char why_route[16];
	struct host_ref ref = {rq->path, 0};
	host_route(f->host, &ref, 1, &group, why_route, sizeof(why_route));
	const struct shard_map *map = host_shard_map(f->host);
	if (map && shard_map_split_over(map, rq->path)) {
		/*
		 * Routed to the group the split leaves, a subscriber would be registered there and sent nothing more:
		 * wait (tried again every tick) for the switch, normally a round away; past the deadline, ask elsewhere.
		 */
		if (wait_or_refuse(f, c, fw, rq, deadline_ms, GROVE_EUNAVAILABLE,
				   "a split of this subtree has not finished on this member; ask another member"))
			send_error(fw, c, rq->request_id, GROVE_ENOMEM, "server out of memory");
		return;
	}
	const struct tree *tree = host_tree(f->host, group);
	struct store_txn *txn = tree ? read_txn(f) : NULL;
	if (!tree) {
		send_error(fw, c, rq->request_id, GROVE_EUNAVAILABLE, "the shard of that path has not started here yet; retry");
		return;
	}
	if (!txn) {
		send_error(fw, c, rq->request_id, GROVE_ESTORAGE, "cannot read the store");
		return;
	}
	uint64_t root;
	char *path = NULL;
	int err = tree_resolve_path(tree, txn, rq->path, &root);
	if (!err)
		err = tree_node_path(tree, txn, root, &path); /* its canonical form */
	if (err) {
		store_txn_abort(txn);
		char why[320];
		snprintf(why, sizeof(why), "%.256s: no such node", rq->path);
		send_error(fw, c, rq->request_id, err == GROVE_EINVAL ? GROVE_EINVAL : GROVE_ENOTFOUND, why);
		return;
	}
	char why_behind[200];
	uint64_t *groups = NULL, *at = NULL;
	size_t n = span_of(f, group, path, &groups);
	if (n && rq->resume && rq->position)
		n = with_split_sources(f, &groups, n, from, n_from);
	if (n)
		at = malloc(n * sizeof(*at));
	for (size_t i = 0; at && i < n; i++)
		at[i] = host_applied(f->host, groups[i]);
	struct sub_spec spec = {.groups = groups, .n_groups = n, .root = root, .root_path = path, .depth = rq->depth,
				.properties = rq->properties, .n_properties = rq->n_properties, .classes = rq->classes,
				.n_classes = rq->n_classes};
	fw->snapshots++;
	if (!at) {
		err = GROVE_ENOMEM;
	} else if (rq->resume) {
		if (!rq->position)
			from[0].group = group; /* an index alone is one in the root's group */
		err = resume(f, c, fw, rq, &spec, at, from, n_from);
	} else if (rq->not_before && (err = behind_position(f, rq->not_before, why_behind, sizeof(why_behind)))) {
		/* Behind it: wait (tried again every tick) until the deadline, then say to ask another member. */
		if (err == GROVE_EUNAVAILABLE) {
			err = wait_or_refuse(f, c, fw, rq, deadline_ms, err, why_behind);
		} else if (err != GROVE_ENOMEM) {
			send_error(fw, c, rq->request_id, err, why_behind);
			err = GROVE_OK;
		}
	} else if (n > 1 && any_held(f, groups, n)) {
		err = wait_or_refuse(f, c, fw, rq, deadline_ms, GROVE_EINTENT,
				     "transactions across the shards of this subtree kept them held; retry");
	} else {
		err = start_snapshot(f, c, fw, rq, &spec, at, tree, txn);
		txn = NULL; /* taken over */
	}
	if (txn)
		store_txn_abort(txn);
	free(path);
	free(groups);
	free(at);
	if (err)
		send_error(fw, c, rq->request_id, err,
			   err == GROVE_EUNAVAILABLE ? "too many snapshots are being made; retry" : grove_strerror(err));
}

/* Subscribe @p c as @p rq asks; a position that does not parse changes nothing (a subscription goes on). */
static void subscribe(struct follow *f, struct loop_conn *c, struct follower *fw, const struct sub_request *rq,
		      uint64_t deadline_ms)
{
	struct sub_at one = {0, rq->from}, *from = &one;
	size_t n_from = 1;
	char why[200];
	int err = rq->resume && rq->position ? subs_position_parse(rq->position, &from, &n_from, why, sizeof(why)) : GROVE_OK;
	if (err) {
		send_error(fw, c, rq->request_id, err, err == GROVE_EINVAL ? why : "server out of memory");
		return;
	}
	subscribe_from(f, c, fw, rq, deadline_ms, from, n_from);
	if (from != &one)
		free(from);
}

/* Subscribes waiting for held shards: taken now if free, told to retry at their deadline. */
static void retry_deferred(struct follow *f)
{
	struct deferred *list = f->deferred;
	size_t n = f->n_deferred;
	f->deferred = NULL;
	f->n_deferred = f->cap_deferred = 0;
	for (size_t i = 0; i < n; i++) {
		struct loop_conn *c = loop_conn_find(f->loop, list[i].conn);
		struct follower *fw = c ? idmap_get(&f->followers, 0, list[i].conn) : NULL;
		if (fw)
			subscribe(f, c, fw, list[i].rq, list[i].deadline_ms); /* may defer it again */
		sub_request_free(list[i].rq);
	}
	free(list);
}

void follow_tick(struct follow *f)
{
	if (f->n_deferred)
		retry_deferred(f);
	subs_tick(f->subs, grove_monotonic_ms());
}

void follow_turn(struct follow *f)
{
	subs_turn(f->subs, grove_monotonic_ms());
	if (subs_more_due(f->subs))
		loop_wake_after(f->loop, 0);
}

void follow_subscribe(struct follow *f, struct loop_conn *c, const Grove__Envelope *req)
{
	const Grove__SubscribeRequest *s = req->subscribe;
	struct follower *fw = follower_of(f, c, 0);
	if (!fw) {
		pb_error(c, req->request_id, GROVE_ENOMEM, "server out of memory");
		return;
	}
	struct sub_request rq = {.request_id = req->request_id, .path = s->path, .tscn = s->tscn, .resume = s->resume,
				 .from = s->from, .position = s->position && s->position[0] ? s->position : NULL,
				 .not_before = s->not_before && s->not_before[0] ? s->not_before : NULL,
				 .scene_major = s->godot_major == 3 ? 3 : 4,
				 .depth = s->depth ? (int)s->depth : -1,
				 .properties = (const char *const *)s->properties, .n_properties = s->n_properties,
				 .classes = (const char *const *)s->classes, .n_classes = s->n_classes};
	subscribe(f, c, fw, &rq, 0);
}

void follow_summarize(const struct follow *f, struct subs_summary *out)
{
	subs_summarize(f->subs, out);
}

void follow_subscribers(struct follow *f, struct loop_conn *c, const Grove__Envelope *req)
{
	struct sub_info infos[256];
	size_t n = subs_list(f->subs, infos, 256);
	if (n > 256)
		n = 256;
	uint64_t applied = host_applied(f->host, HOST_WORLD_GROUP);
	Grove__Subscriber items[256], *ptrs[256];
	for (size_t i = 0; i < n; i++) {
		struct loop_conn *sc = loop_conn_find(f->loop, infos[i].conn);
		struct follower *fw = idmap_get(&f->followers, 0, infos[i].conn);
		grove__subscriber__init(&items[i]);
		items[i].peer = (char *)(sc ? loop_conn_peer(sc) : "?");
		items[i].path = infos[i].root_path;
		items[i].sent = infos[i].sent;
		items[i].lag = infos[i].lag;
		items[i].live = infos[i].live;
		items[i].queued_bytes = infos[i].queued;
		items[i].protocol = (char *)(fw && fw->godot == 3 ? "godot3" : fw && fw->godot == 4 ? "godot4" : "grove");
		ptrs[i] = &items[i];
	}
	Grove__SubscribersReply r = GROVE__SUBSCRIBERS_REPLY__INIT;
	r.subscribers = ptrs;
	r.n_subscribers = n;
	r.applied_index = applied;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = req->request_id;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBERS_REPLY;
	env.subscribers_reply = &r;
	send_envelope(c, &env);
}

/* ---- Godot connections ---- */

bool follow_godot_hello(struct follow *f, struct loop_conn *c, const uint8_t *payload, size_t len)
{
	int major;
	if (!gateway_is_godot(payload, len, &major))
		return false;
	struct follower *fw = follower_of(f, c, major);
	struct gateway_request rq;
	char why[200] = "";
	int err = fw ? gateway_decode_request(payload, len, major, &rq, why, sizeof(why)) : GROVE_ENOMEM;
	if (!err && rq.op != GATEWAY_HELLO)
		err = GROVE_EAUTH, snprintf(why, sizeof(why), "the first message is a hello");
	else if (!err && rq.godot != major)
		err = GROVE_EPROTO, snprintf(why, sizeof(why), "hello says Godot %d in a Godot %d encoding", rq.godot, major);
	else if (!err && !grove_token_equal(f->cfg.token, rq.token))
		err = GROVE_EAUTH, snprintf(why, sizeof(why), "wrong client token");
	if (err) {
		godot_error(c, major, err, why[0] ? why : grove_strerror(err));
		loop_close_after_send(c, why[0] ? why : grove_strerror(err));
	} else {
		fw->authenticated = true;
		fw->buffer = rq.buffer;
		fw->minor = rq.minor;
		loop_conn_authenticated(c, false);
		struct gateway_msg m;
		gateway_msg_begin(&m, "welcome");
		gateway_msg_int(&m, "server", (int64_t)f->cfg.server_id);
		gateway_msg_str(&m, "version", f->cfg.version);
		gateway_msg_str(&m, "leader", host_leader_address(f->host, HOST_WORLD_GROUP));
		godot_send(c, major, &m);
	}
	if (fw)
		gateway_request_free(&rq);
	return true;
}

static void refused(struct loop_conn *c, int major, const char *key, int code, const char *reason, size_t failed_op)
{
	struct gateway_msg m;
	gateway_msg_begin(&m, "refused");
	gateway_msg_str(&m, "key", key);
	gateway_msg_int(&m, "code", code);
	gateway_msg_str(&m, "reason", reason);
	gateway_msg_int(&m, "failed_op", (int64_t)failed_op);
	godot_send(c, major, &m);
}

static void submitted(struct loop_conn *c, int major, const char *key, uint64_t index)
{
	struct gateway_msg m;
	gateway_msg_begin(&m, "submitted");
	gateway_msg_str(&m, "key", key);
	gateway_msg_int(&m, "index", (int64_t)index);
	godot_send(c, major, &m);
}

/*
 * The shard a batch goes to: the one of every node it names (GROVE_ECROSSSHARD with @p why when they differ, or
 * when it deletes in a shard that holds connections across shards).
 */
static int route_ops(struct follow *f, const struct gateway_batch *batch, uint64_t *group, char *why, size_t why_cap)
{
	struct host_ref *refs = calloc(2 * batch->count + 1, sizeof(*refs));
	if (!refs)
		return GROVE_ENOMEM;
	size_t n = 0;
	bool deletes = false;
	for (size_t i = 0; i < batch->count; i++) {
		const struct tree_ref *named[2] = {&batch->ops[i].node, &batch->ops[i].target};
		for (size_t k = 0; k < 2; k++)
			if ((named[k]->id == 0 && named[k]->path && named[k]->path[0]) || named[k]->id > 0)
				refs[n++] = (struct host_ref){named[k]->id == 0 ? named[k]->path : NULL, named[k]->id};
		deletes |= batch->ops[i].kind == TREE_OP_DELETE;
	}
	int err = host_route(f->host, refs, n, group, why, why_cap);
	free(refs);
	if (!err && deletes && host_connected_across(f->host, *group)) {
		snprintf(why, why_cap, "it deletes in a shard with signal connections across shards");
		err = GROVE_ECROSSSHARD; /* the write across shards plans it, removing both halves of each */
	}
	return err;
}

/* A batch from a Godot client: the operations in a WriteRequest with its key, decoded again only at apply. */
static void submit(struct follow *f, struct loop_conn *c, int major, struct gateway_request *rq)
{
	char why[600] = "";
	struct gateway_batch batch;
	int err = gateway_submit_batch(rq, &batch, why, sizeof(why));
	struct wire_request wr = {0};
	uint64_t group = HOST_WORLD_GROUP;
	bool across = false;
	if (!err)
		err = route_ops(f, &batch, &group, why, sizeof(why));
	if (err == GROVE_ECROSSSHARD && f->cfg.submit_across) {
		across = true; /* the server's write across shards, which plans the batch itself */
		err = GROVE_OK;
		why[0] = '\0';
	}
	if (!err) {
		err = wire_encode_batch(batch.ops, batch.count, &wr);
		if (err)
			snprintf(why, sizeof(why), "a value cannot be stored: %s", grove_strerror(err));
	}
	gateway_batch_free(&batch);
	uint8_t *bytes = NULL;
	size_t len = 0;
	if (!err) {
		wr.req.submit_key = (char *)rq->key;
		len = grove__write_request__get_packed_size(&wr.req);
		bytes = malloc(len ? len : 1);
		err = bytes ? GROVE_OK : GROVE_ENOMEM;
	}
	if (!err) {
		grove__write_request__pack(&wr.req, bytes);
		struct host_ticket t = {loop_conn_id(c), 0, grove_realtime_ns()};
		uint64_t applied_at = 0;
		err = across ? f->cfg.submit_across(f->cfg.ctx, &t, rq->key, bytes, len, &applied_at, why, sizeof(why))
			     : host_submit(f->host, group, &t, rq->key, bytes, len);
		if (!err && applied_at)
			submitted(c, major, rq->key, applied_at);
		else if (!err)
			loop_conn_pending(c); /* answered once, by follow_submit_done() */
		else if (err == GROVE_EUNAVAILABLE && !why[0])
			snprintf(why, sizeof(why), "no leader is known yet; retry shortly with the same key");
		else if (err == GROVE_ENOSPC && !why[0])
			host_disk_full(f->host, why, sizeof(why));
	}
	free(bytes);
	wire_request_free(&wr);
	if (err)
		refused(c, major, rq->key, err, why[0] ? why : grove_strerror(err), 0);
}

void follow_submit_done(struct follow *f, const struct host_ticket *t, const char *key, uint64_t index, int code,
			const char *message, size_t failed_op)
{
	struct loop_conn *c = loop_conn_find(f->loop, t->conn);
	struct follower *fw = c ? idmap_get(&f->followers, 0, t->conn) : NULL;
	if (!fw || !fw->godot)
		return;
	loop_conn_answered(c);
	if (code) {
		refused(c, fw->godot, key, code, message, failed_op);
		return;
	}
	submitted(c, fw->godot, key, index);
}

bool follow_godot_error(struct follow *f, struct loop_conn *c, int code, const char *reason)
{
	struct follower *fw = idmap_get(&f->followers, 0, loop_conn_id(c));
	if (!fw || !fw->godot)
		return false;
	godot_error(c, fw->godot, code, reason);
	return true;
}

void follow_godot_frame(struct follow *f, struct loop_conn *c, const uint8_t *payload, size_t len)
{
	struct follower *fw = idmap_get(&f->followers, 0, loop_conn_id(c));
	if (!fw || !fw->authenticated)
		return; /* closing after a refused hello */
	struct gateway_request rq;
	char why[200] = "";
	int err = gateway_decode_request(payload, len, fw->godot, &rq, why, sizeof(why));
	if (err == GROVE_ECORRUPT) {
		/* A frame that is not even a Variant: the stream cannot be trusted any more. */
		godot_error(c, fw->godot, err, why);
		loop_close_after_send(c, why);
	} else if (err) {
		godot_error(c, fw->godot, err, why);
	} else if (rq.op == GATEWAY_SUBSCRIBE) {
		struct sub_request sr = {.path = rq.path, .tscn = rq.tscn, .ids_names = rq.ids_names,
					 .resume = rq.has_from, .from = rq.from,
					 .position = rq.from_position,
					 .not_before = rq.not_before && rq.not_before[0] ? rq.not_before : NULL,
					 .scene_major = fw->godot, .depth = rq.depth, .properties = rq.properties,
					 .n_properties = rq.n_properties, .classes = rq.classes, .n_classes = rq.n_classes};
		subscribe(f, c, fw, &sr, 0);
	} else if (rq.op == GATEWAY_SUBMIT) {
		submit(f, c, fw->godot, &rq);
	} else if (rq.op == GATEWAY_PING) {
		struct gateway_msg m;
		gateway_msg_begin(&m, "pong");
		if (rq.t) {
			struct variant t;
			if (variant_copy(&t, rq.t) == GROVE_OK)
				gateway_msg_take(&m, "t", &t);
		}
		godot_send(c, fw->godot, &m);
	} else {
		godot_error(c, fw->godot, GROVE_EPROTO, "already said hello");
	}
	gateway_request_free(&rq);
}
