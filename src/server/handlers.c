#include "src/server/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "godot/scene.h"
#include "godot/tscn.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/net/frame.h"
#include "src/tree/tree.h"

/* ---- the reply's own allocations ---- */

static void *reply_alloc(struct handler_reply *r, size_t size)
{
	if (r->n_blocks == r->cap_blocks) {
		size_t ncap = r->cap_blocks ? 2 * r->cap_blocks : 64;
		void **grown = realloc(r->blocks, ncap * sizeof(*grown));
		if (!grown)
			return NULL;
		r->blocks = grown;
		r->cap_blocks = ncap;
	}
	void *p = calloc(1, size ? size : 1);
	if (p)
		r->blocks[r->n_blocks++] = p;
	return p;
}

/* Take ownership of @p p (malloc'd elsewhere); NULL if it could not be recorded (then p is freed). */
static void *reply_adopt(struct handler_reply *r, void *p)
{
	if (!p)
		return NULL;
	if (r->n_blocks == r->cap_blocks) {
		size_t ncap = r->cap_blocks ? 2 * r->cap_blocks : 64;
		void **grown = realloc(r->blocks, ncap * sizeof(*grown));
		if (!grown) {
			free(p);
			return NULL;
		}
		r->blocks = grown;
		r->cap_blocks = ncap;
	}
	r->blocks[r->n_blocks++] = p;
	return p;
}

static char *reply_strdup(struct handler_reply *r, const char *s)
{
	return reply_adopt(r, strdup(s ? s : ""));
}

void handler_reply_free(struct handler_reply *r)
{
	for (size_t i = 0; i < r->n_blocks; i++)
		free(r->blocks[i]);
	free(r->blocks);
	memset(r, 0, sizeof(*r));
}

void *handler_reply_release(struct handler_reply *r, const void *p)
{
	for (size_t i = 0; p && i < r->n_blocks; i++) {
		if (r->blocks[i] == p) {
			void *block = r->blocks[i];
			r->blocks[i] = r->blocks[--r->n_blocks];
			return block;
		}
	}
	return NULL;
}

static void reply_error(struct handler_reply *r, uint64_t request_id, int code, const char *message)
{
	Grove__ErrorReply *er = reply_alloc(r, sizeof(*er));
	grove__envelope__init(&r->env);
	r->env.request_id = request_id;
	if (!er)
		return; /* an empty envelope still tells the client something went wrong */
	grove__error_reply__init(er);
	er->code = (uint32_t)code;
	er->message = reply_strdup(r, message);
	if (!er->message)
		er->message = "";
	r->env.body_case = GROVE__ENVELOPE__BODY_ERROR;
	r->env.error = er;
}

static int resolve_ref(const struct tree *t, struct store_txn *txn, const Grove__NodeRef *ref, uint64_t *id)
{
	if (!ref)
		return GROVE_EINVAL;
	if (ref->id > 0) {
		struct tree_node n;
		int err = tree_get_node(t, txn, (uint64_t)ref->id, &n);
		if (!err)
			tree_node_free(&n);
		*id = (uint64_t)ref->id;
		return err;
	}
	if (ref->id < 0 || !ref->path || !ref->path[0])
		return GROVE_EINVAL;
	return tree_resolve_path(t, txn, ref->path, id);
}

/* ---- read: a node and its subtree down to a depth ---- */

struct read_walk {
	struct handler_reply *r;
	const struct tree *t;
	struct store_txn *txn;
	const Grove__ReadRequest *req;
	Grove__NodeInfo **nodes;
	size_t n, cap;
	size_t bytes;      /* the listing's size on the wire so far */
	size_t max_bytes;  /* the most it may take */
	bool truncated;
};

struct prop_collect {
	struct read_walk *w;
	Grove__NodeInfo *info;
	size_t cap;
};

static bool prop_wanted(const Grove__ReadRequest *req, const char *name)
{
	if (req->n_props == 0)
		return true;
	for (size_t i = 0; i < req->n_props; i++)
		if (strcmp(req->props[i], name) == 0)
			return true;
	return false;
}

static int collect_prop(void *ctx, const char *name, const struct variant *value)
{
	struct prop_collect *pc = ctx;
	struct handler_reply *r = pc->w->r;
	if (!prop_wanted(pc->w->req, name))
		return 0;
	if (pc->info->n_props == pc->cap) {
		size_t ncap = pc->cap ? 2 * pc->cap : 8;
		Grove__Property **grown = reply_alloc(r, ncap * sizeof(*grown));
		if (!grown)
			return GROVE_ENOMEM;
		if (pc->info->n_props)
			memcpy(grown, pc->info->props, pc->info->n_props * sizeof(*grown));
		pc->info->props = grown;
		pc->cap = ncap;
	}
	Grove__Property *p = reply_alloc(r, sizeof(*p));
	struct grove_buf buf = {0};
	int err = p ? variant_encode(value, &buf) : GROVE_ENOMEM;
	if (err) {
		grove_buf_free(&buf);
		return err;
	}
	grove__property__init(p);
	p->name = reply_strdup(r, name);
	p->value.data = reply_adopt(r, buf.data);
	p->value.len = buf.len;
	if (!p->name || (buf.len && !p->value.data))
		return GROVE_ENOMEM;
	pc->info->props[pc->info->n_props++] = p;
	return 0;
}

struct group_collect {
	struct handler_reply *r;
	Grove__NodeInfo *info;
	size_t cap;
};

static int collect_group(void *ctx, const char *group)
{
	struct group_collect *gc = ctx;
	if (gc->info->n_groups == gc->cap) {
		size_t ncap = gc->cap ? 2 * gc->cap : 8;
		char **grown = reply_alloc(gc->r, ncap * sizeof(*grown));
		if (!grown)
			return GROVE_ENOMEM;
		if (gc->info->n_groups)
			memcpy(grown, gc->info->groups, gc->info->n_groups * sizeof(*grown));
		gc->info->groups = grown;
		gc->cap = ncap;
	}
	char *copy = reply_strdup(gc->r, group);
	if (!copy)
		return GROVE_ENOMEM;
	gc->info->groups[gc->info->n_groups++] = copy;
	return 0;
}

/* Bytes a repeated message field's entry of @p size bytes takes: its tag, its length as a varint, the message. */
static size_t repeated_entry_size(size_t size)
{
	size_t varint = 1;
	for (size_t v = size; v >= 0x80; v >>= 7)
		varint++;
	return 1 + varint + size;
}

/*
 * Append node @p id to the listing. Only the first node carries its absolute path (@p path): the others carry
 * their name and depth, from which a client rebuilds paths (src/net/nodepaths.h), so that the reply grows with
 * the number of nodes and not with the square of the depth. Refuses with GROVE_ETOOBIG, before the listing
 * grows any further, once the reply would not fit in w->max_bytes.
 */
static int add_node_info(struct read_walk *w, uint64_t id, const char *path, uint32_t depth)
{
	if (w->n >= HANDLER_MAX_NODES) {
		w->truncated = true;
		return GROVE_OK;
	}
	if (w->n == w->cap) {
		size_t ncap = w->cap ? 2 * w->cap : 64;
		Grove__NodeInfo **grown = reply_alloc(w->r, ncap * sizeof(*grown));
		if (!grown)
			return GROVE_ENOMEM;
		if (w->n)
			memcpy(grown, w->nodes, w->n * sizeof(*grown));
		w->nodes = grown;
		w->cap = ncap;
	}
	struct tree_node n;
	int err = tree_get_node(w->t, w->txn, id, &n);
	if (err)
		return err;
	Grove__NodeInfo *info = reply_alloc(w->r, sizeof(*info));
	if (!info) {
		tree_node_free(&n);
		return GROVE_ENOMEM;
	}
	grove__node_info__init(info);
	info->id = id;
	info->parent = n.parent;
	info->name = reply_strdup(w->r, n.name);
	info->class_name = reply_strdup(w->r, n.class_name);
	info->instance = reply_strdup(w->r, n.instance);
	if (path)
		info->path = reply_strdup(w->r, path);
	info->depth = depth;
	tree_node_free(&n);
	if (!info->name || !info->class_name || !info->instance || !info->path)
		return GROVE_ENOMEM;
	err = tree_child_count(w->t, w->txn, id, &info->child_count);
	if (!err && w->req->with_props) {
		struct prop_collect pc = {w, info, 0};
		err = tree_for_each_prop(w->t, w->txn, id, collect_prop, &pc);
	}
	if (!err && w->req->with_groups) {
		struct group_collect gc = {w->r, info, 0};
		err = tree_for_each_group(w->t, w->txn, id, collect_group, &gc);
	}
	if (err)
		return err;
	w->bytes += repeated_entry_size(grove__node_info__get_packed_size(info));
	if (w->bytes > w->max_bytes)
		return GROVE_ETOOBIG;
	w->nodes[w->n++] = info;
	return GROVE_OK;
}

/* The children of one node still to list, collected before descending (the walk's stack frame). */
struct kids {
	uint64_t *ids;
	size_t n, cap, next;
	uint32_t depth; /* of the node whose children these are */
};

static int collect_kid(void *ctx, uint64_t child)
{
	struct kids *k = ctx;
	if (grove_grow((void **)&k->ids, &k->cap, k->n, sizeof(*k->ids)))
		return GROVE_ENOMEM;
	k->ids[k->n++] = child;
	return 0;
}

/*
 * Pre-order, without recursion, down to req->depth levels. A frame whose last child is being listed is
 * dropped before that child's own frame goes on, so a chain keeps one frame, not one per level.
 */
static int walk(struct read_walk *w, uint64_t root, const char *root_path)
{
	int err = add_node_info(w, root, root_path, 0);
	if (err || w->req->depth == 0)
		return err;
	size_t depth = 0, cap = 0;
	struct kids *stack = NULL;
	if (grove_grow((void **)&stack, &cap, depth, sizeof(*stack)))
		return GROVE_ENOMEM;
	stack[0] = (struct kids){.depth = 0};
	err = tree_for_each_child(w->t, w->txn, root, collect_kid, &stack[0]);
	depth = 1;
	while (!err && depth > 0 && !w->truncated) {
		struct kids *top = &stack[depth - 1];
		if (top->next == top->n) {
			free(top->ids);
			depth--;
			continue;
		}
		uint64_t child = top->ids[top->next++];
		uint32_t child_depth = top->depth + 1;
		if (top->next == top->n) {
			free(top->ids);
			depth--;
		}
		err = add_node_info(w, child, NULL, child_depth);
		if (err || child_depth >= w->req->depth)
			continue;
		if (grove_grow((void **)&stack, &cap, depth, sizeof(*stack))) {
			err = GROVE_ENOMEM;
			break;
		}
		stack[depth] = (struct kids){.depth = child_depth};
		err = tree_for_each_child(w->t, w->txn, child, collect_kid, &stack[depth]);
		depth++;
	}
	for (size_t i = 0; i < depth; i++)
		free(stack[i].ids);
	free(stack);
	return err;
}

/* What a reply says besides its nodes or its scene (request id, code, message, index, flags): room kept for it. */
#define READ_REPLY_HEADROOM 4096

/* The largest reply frame, never less than twice the headroom (a smaller configured frame limit leaves half). */
static size_t reply_limit(const struct server_state *state)
{
	size_t frame_max = state->max_reply_bytes ? state->max_reply_bytes : FRAME_DEFAULT_MAX;
	return frame_max > 2 * READ_REPLY_HEADROOM ? frame_max : 2 * READ_REPLY_HEADROOM;
}

static void handle_read(const struct tree *t, struct store_txn *txn, const struct server_state *state, const Grove__Envelope *req,
			struct handler_reply *r)
{
	const Grove__ReadRequest *rq = req->read;
	uint64_t id;
	int err = resolve_ref(t, txn, rq->node, &id);
	char *path = NULL;
	if (!err)
		err = tree_node_path(t, txn, id, &path);
	Grove__ReadReply *rr = reply_alloc(r, sizeof(*rr));
	if (!rr) {
		free(path);
		reply_error(r, req->request_id, GROVE_ENOMEM, "out of memory");
		return;
	}
	grove__read_reply__init(rr);
	rr->applied_index = state->applied_index;
	size_t frame_max = reply_limit(state);
	struct read_walk w = {.r = r, .t = t, .txn = txn, .req = rq, .max_bytes = frame_max - READ_REPLY_HEADROOM};
	if (!err) {
		err = walk(&w, id, path);
		rr->nodes = w.nodes;
		rr->n_nodes = err ? 0 : w.n;
		rr->truncated = w.truncated;
	}
	rr->code = (uint32_t)err;
	char msg[512];
	if (err == GROVE_ENOTFOUND || err == GROVE_EINVAL) {
		snprintf(msg, sizeof(msg), "%.480s: no such node",
			 rq->node && rq->node->path && rq->node->path[0] ? rq->node->path : "(node id)");
		rr->message = reply_strdup(r, msg);
	} else if (err == GROVE_ETOOBIG) {
		snprintf(msg, sizeof(msg),
			 "%.200s: the listing would exceed the reply limit of %zu bytes after %zu nodes; "
			 "ask for less depth or a smaller subtree",
			 path, frame_max, w.n);
		rr->message = reply_strdup(r, msg);
	} else {
		rr->message = reply_strdup(r, err ? grove_strerror(err) : "");
	}
	free(path);
	if (!rr->message)
		rr->message = "";
	grove__envelope__init(&r->env);
	r->env.request_id = req->request_id;
	r->env.body_case = GROVE__ENVELOPE__BODY_READ_REPLY;
	r->env.read_reply = rr;
}

static void handle_status(const struct tree *t, struct store_txn *txn, const struct server_state *state, const Grove__Envelope *req,
			  struct handler_reply *r)
{
	Grove__StatusReply *sr = reply_alloc(r, sizeof(*sr));
	if (!sr) {
		reply_error(r, req->request_id, GROVE_ENOMEM, "out of memory");
		return;
	}
	grove__status_reply__init(sr);
	sr->node_count = state->node_count;
	if (!sr->node_count)
		tree_node_count(t, txn, &sr->node_count);
	store_file_bytes(txn, &sr->data_bytes);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	sr->server_id = state->server_id;
	sr->role = (char *)(state->role ? state->role : "");
	sr->term = state->term;
	sr->leader_id = state->leader_id;
	sr->leader_address = reply_strdup(r, state->leader_address);
	sr->commit_index = state->commit_index;
	if (state->n_members) {
		sr->members = reply_alloc(r, state->n_members * sizeof(*sr->members));
		for (size_t i = 0; sr->members && i < state->n_members; i++) {
			Grove__Member *m = reply_alloc(r, sizeof(*m));
			if (!m)
				break;
			grove__member__init(m);
			m->id = state->members[i].id;
			m->address = reply_strdup(r, state->members[i].address);
			m->voter = state->members[i].voter;
			m->match_index = state->members[i].match;
			sr->members[sr->n_members++] = m;
		}
	}
	if (!sr->leader_address)
		sr->leader_address = "";
	sr->hlc_wall = state->hlc.wall;
	sr->hlc_logical = state->hlc.logical;
	if (state->n_peer_clocks)
		sr->peer_clocks = reply_alloc(r, state->n_peer_clocks * sizeof(*sr->peer_clocks));
	for (size_t i = 0; sr->peer_clocks && i < state->n_peer_clocks; i++) {
		Grove__PeerClock *pc = reply_alloc(r, sizeof(*pc));
		if (!pc)
			break;
		grove__peer_clock__init(pc);
		pc->id = state->peer_clocks[i].id;
		pc->measured = state->peer_clocks[i].measured;
		pc->offset_ns = state->peer_clocks[i].offset_ns;
		pc->age_ms = state->peer_clocks[i].age_ms;
		pc->refused_frames = state->peer_clocks[i].refused;
		sr->peer_clocks[sr->n_peer_clocks++] = pc;
	}
	sr->applied_index = state->applied_index;
	sr->uptime_ms = (now - state->start_ns) / 1000000;
	sr->clients = state->clients;
	sr->writes_applied = state->writes_applied;
	sr->group_commits = state->group_commits;
	sr->server_version = GROVE_VERSION;
	grove__envelope__init(&r->env);
	r->env.request_id = req->request_id;
	r->env.body_case = GROVE__ENVELOPE__BODY_STATUS_REPLY;
	r->env.status_reply = sr;
}

static void handle_export(const struct tree *t, struct store_txn *txn, const struct server_state *state, const Grove__Envelope *req,
			  struct handler_reply *r)
{
	const Grove__ExportRequest *ex = req->export_scene;
	Grove__ExportReply *er = reply_alloc(r, sizeof(*er));
	if (!er) {
		reply_error(r, req->request_id, GROVE_ENOMEM, "out of memory");
		return;
	}
	grove__export_reply__init(er);
	er->applied_index = state->applied_index;
	int major = ex->godot_major ? (int)ex->godot_major : 4;
	char msg[512] = "";
	uint64_t id;
	int err = resolve_ref(t, txn, ex->node, &id);
	if (err)
		snprintf(msg, sizeof(msg), "%.480s: no such node", ex->node && ex->node->path ? ex->node->path : "?");
	struct grove_buf text = {0};
	if (!err)
		err = scene_export_file(t, txn, id, major, ex->binary, SCENE_IDS_NONE, NULL,
					ex->max_bytes ? EXPORT_SCENE_MAX : reply_limit(state) - READ_REPLY_HEADROOM, &text,
					msg, sizeof(msg));
	if (err == GROVE_ETOOBIG && !ex->max_bytes)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " (or ask for it in chunks, as grove export does)");
	if (!err) {
		er->scene.data = reply_adopt(r, text.data);
		er->scene.len = text.len;
		text.data = NULL;
	}
	grove_buf_free(&text);
	er->code = (uint32_t)err;
	er->message = reply_strdup(r, msg);
	if (!er->message)
		er->message = "";
	grove__envelope__init(&r->env);
	r->env.request_id = req->request_id;
	r->env.body_case = GROVE__ENVELOPE__BODY_EXPORT_REPLY;
	r->env.export_reply = er;
}

void handle_read_request(const struct tree *t, struct store_txn *txn, const struct server_state *state, const Grove__Envelope *req,
			 struct handler_reply *out)
{
	memset(out, 0, sizeof(*out));
	switch (req->body_case) {
	case GROVE__ENVELOPE__BODY_READ:
		handle_read(t, txn, state, req, out);
		break;
	case GROVE__ENVELOPE__BODY_STATUS:
		handle_status(t, txn, state, req, out);
		break;
	case GROVE__ENVELOPE__BODY_EXPORT_SCENE:
		handle_export(t, txn, state, req, out);
		break;
	default:
		reply_error(out, req->request_id, GROVE_EPROTO, "unsupported request");
		break;
	}
}
