/*
 * A batch applied beside a pending one (tree_apply_beside()). A cross-shard transaction's part waits in its
 * shard, checked but not applied, from its intent to its resolution. Another write may apply meanwhile only if
 * applying it first leaves the shard as applying it after the part would (the part was acknowledged, so the
 * write must behave as if it came after it) and the part still applies, unchanged, after it.
 *
 * What the part relies on is read from the changes a trial of it records, against the tree before it:
 * - the nodes it acts on: a write that acts on one of them meets it (per node, as an intent per key);
 * - the subtrees it moves, renames or deletes: what it carries away, or what it removes, must be what it
 *   checked, and a write that names a node below by its path would name another one after it; so a write
 *   that touches a node in one, or adds to or takes from one, meets it;
 * - the chains of parents above every node it names: a write that deletes, moves or renames one of them
 *   would change where the part applies (or the paths its carried records name);
 * - the parents whose children it adds, removes or reorders: sibling order does not commute, so a write
 *   that changes the same children list meets it.
 * The write is then applied, and its own changes are checked against those; and last the part is tried
 * again on top of it, which catches what a write's changes do not name (a name the part needs taken, the
 * node its half of a connection across shards holds deleted), and must give the same ids: a group hands out
 * ids in order, and the client of the part was told the ids of what it creates when its intent was written.
 * A write that fails beside the part also meets it: it may succeed once the part is applied (it may name a
 * node the part brings).
 *
 * A read (tree_read_beside()) needs less: it reads the same before and after the part unless the node it
 * names, or one above, is in a subtree the part moves, renames or deletes, or a node it covers is acted on
 * or has its children changed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"
#include "src/tree/tree.h"

/* The roles a node plays in what the pending batch relies on (the idmap's first key). */
enum role {
	ACTED = 1,    /* acted on */
	SUBTREE = 2,  /* moved, renamed or deleted, with everything below it */
	ABOVE = 3,    /* named by it, or above one it names */
	CHILDREN = 4  /* a parent whose children list it changes */
};

struct footprint {
	struct idmap roles;
	struct tree_reader *reader; /* of the tree as it is read now */
	uint64_t *changed;          /* the nodes it acts on, moves, renames or deletes, or whose children it changes */
	size_t n_changed, cap_changed;
};

static bool plays(const struct footprint *f, enum role role, uint64_t id)
{
	return id && idmap_get(&f->roles, role, id) != NULL;
}

static int mark(struct footprint *f, enum role role, uint64_t id)
{
	if (!id || plays(f, role, id))
		return GROVE_OK;
	if (role != ABOVE) {
		if (grove_grow((void **)&f->changed, &f->cap_changed, f->n_changed, sizeof(*f->changed)))
			return GROVE_ENOMEM;
		f->changed[f->n_changed++] = id;
	}
	return idmap_put(&f->roles, role, id, (void *)1);
}

/* Whether @p id is a node of this tree now. */
static int exists(struct footprint *f, uint64_t id, bool *is, uint64_t *parent)
{
	struct tree_node_view v;
	int err = id ? tree_reader_node(f->reader, id, &v) : GROVE_ENOTFOUND;
	*is = err == GROVE_OK;
	if (parent)
		*parent = *is ? v.parent : 0;
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

/* Mark @p id and every node above it in this tree ABOVE (a node of another group ends the chain). */
static int mark_chain(struct footprint *f, uint64_t id)
{
	while (id && !plays(f, ABOVE, id)) {
		bool is;
		uint64_t parent;
		int err = exists(f, id, &is, &parent);
		if (err || !is)
			return err;
		if ((err = mark(f, ABOVE, id)) != GROVE_OK)
			return err;
		id = parent;
	}
	return GROVE_OK;
}

/* Whether the children list of a change's parent (and old parent) changes: kinds that add, remove or reorder. */
static bool changes_children(enum tree_op_kind op)
{
	return op == TREE_OP_CREATE || op == TREE_OP_DELETE || op == TREE_OP_MOVE || op == TREE_OP_REORDER;
}

/* What the pending batch's changes rely on, read in the tree before it. */
static int footprint_add(struct footprint *f, const struct tree_change *c)
{
	if (c->op == TREE_OP_PUT_RESOURCE)
		return GROVE_OK; /* a new resource: nothing of the tree's */
	bool is;
	int err = exists(f, c->node, &is, NULL);
	if (!err && is)
		err = mark(f, ACTED, c->node);
	if (!err && is && (c->op == TREE_OP_DELETE || c->op == TREE_OP_MOVE || c->op == TREE_OP_RENAME))
		err = mark(f, SUBTREE, c->node);
	if (!err)
		err = mark_chain(f, c->node);
	if (!err)
		err = mark_chain(f, c->parent);
	if (!err)
		err = mark_chain(f, c->old_parent);
	if (!err && changes_children(c->op))
		err = mark(f, CHILDREN, c->parent);
	if (!err && c->op == TREE_OP_MOVE)
		err = mark(f, CHILDREN, c->old_parent);
	return err;
}

/* Whether node @p id, as the tree is now, lies in a subtree the pending batch moves or deletes. */
static int in_subtree(struct footprint *f, uint64_t id, uint64_t *root)
{
	while (id) {
		if (plays(f, SUBTREE, id)) {
			*root = id;
			return GROVE_EINTENT;
		}
		bool is;
		int err = exists(f, id, &is, &id);
		if (err || !is)
			return err;
	}
	return GROVE_OK;
}

/* Whether a change of the write, read in the tree after it, meets the footprint (@p node: where). */
static int meets(struct footprint *f, const struct tree_change *c, uint64_t *node, const char **how)
{
	if (c->op == TREE_OP_PUT_RESOURCE)
		return GROVE_OK;
	*node = c->node;
	if (plays(f, ACTED, c->node)) {
		*how = "acts on a node it acts on";
		return GROVE_EINTENT;
	}
	bool structural = c->op == TREE_OP_DELETE || c->op == TREE_OP_MOVE || c->op == TREE_OP_RENAME;
	if (structural && plays(f, ABOVE, c->node)) {
		*how = "deletes, moves or renames a node it names or one above those";
		return GROVE_EINTENT;
	}
	if (changes_children(c->op) && (plays(f, CHILDREN, c->parent) || plays(f, CHILDREN, c->old_parent))) {
		*node = plays(f, CHILDREN, c->parent) ? c->parent : c->old_parent;
		*how = "changes the children of a node whose children it changes";
		return GROVE_EINTENT;
	}
	const uint64_t named[] = {c->node, c->parent, c->old_parent};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		int err = in_subtree(f, named[i], node);
		if (err == GROVE_EINTENT)
			*how = "touches a subtree it moves or deletes";
		if (err)
			return err;
	}
	return GROVE_OK;
}

/* Try @p batch in @p txn and undo it: @p res says how it went (its changes recorded). */
static int trial(const struct tree *t, struct store_txn *txn, const struct tree_batch *batch, struct tree_result *res)
{
	struct store_txn *nested;
	int err = store_txn_begin(store_txn_store(txn), txn, true, &nested);
	if (err)
		return err;
	res->record_changes = true;
	err = tree_apply_batch(t, nested, batch, res);
	store_txn_abort(nested);
	return err == GROVE_ESTORAGE || err == GROVE_ENOMEM || err == GROVE_ECORRUPT ? err : GROVE_OK;
}

/* Refuse @p res (nothing applied): it meets the pending batch, as @p fmt says. @return GROVE_EINTENT. */
static int refused(struct tree_result *res, const char *fmt, ...)
{
	char message[sizeof(res->message)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	tree_result_free(res);
	res->err = GROVE_EINTENT;
	res->failed_op = 0;
	snprintf(res->message, sizeof(res->message), "%s", message);
	return GROVE_EINTENT;
}

/* The footprint of @p pending in @p txn, from a trial of it (@p before: how it went; its footprint if it applies). */
static int footprint_of(const struct tree *t, struct store_txn *txn, const struct tree_batch *pending,
			struct tree_result *before, struct footprint *f)
{
	int err = trial(t, txn, pending, before);
	if (!err && !before->err)
		err = tree_reader_open(t, txn, &f->reader);
	for (size_t i = 0; !err && !before->err && i < before->n_changes; i++)
		err = footprint_add(f, &before->changes[i]);
	tree_reader_close(f->reader);
	f->reader = NULL;
	return err;
}

static void footprint_free(struct footprint *f)
{
	idmap_free(&f->roles);
	free(f->changed);
}

/* Whether node @p id, or one above it, is @p top. */
static int below(struct footprint *f, uint64_t id, uint64_t top, bool *is)
{
	while (id && id != top) {
		bool exists_now;
		int err = exists(f, id, &exists_now, &id);
		if (err)
			return err;
	}
	*is = id != 0;
	return GROVE_OK;
}

int tree_read_beside(const struct tree *t, struct store_txn *txn, const struct tree_batch *pending, uint64_t node,
		     bool whole, bool *meets)
{
	*meets = true;
	struct footprint f = {0};
	struct tree_result before = {0};
	int err = footprint_of(t, txn, pending, &before, &f);
	if (!err && !before.err)
		err = tree_reader_open(t, txn, &f.reader);
	if (err || before.err)
		goto out;
	/* Where the node is, and that it is: nothing above it moves, is renamed or is deleted. */
	uint64_t moved;
	err = in_subtree(&f, node, &moved);
	if (err == GROVE_EINTENT) {
		err = GROVE_OK;
		goto out;
	}
	bool is;
	if (err || (err = exists(&f, node, &is, NULL)) != GROVE_OK || !is)
		goto out;
	*meets = plays(&f, ACTED, node) || plays(&f, CHILDREN, node);
	for (size_t i = 0; !err && whole && !*meets && i < f.n_changed; i++)
		err = below(&f, f.changed[i], node, meets);
out:
	tree_reader_close(f.reader);
	tree_result_free(&before);
	footprint_free(&f);
	return err;
}

int tree_apply_beside(const struct tree *t, struct store_txn *txn, const struct tree_batch *pending,
		      const struct tree_batch *batch, bool keep, struct tree_result *res)
{
	bool wanted = res->record_changes;
	struct footprint f = {0};
	struct tree_result before = {0};
	struct store_txn *nested = NULL;
	int err = footprint_of(t, txn, pending, &before, &f);
	if (!err && before.err) {
		err = refused(res, "the pending batch does not apply (op %zu): %.400s", before.failed_op, before.message);
		goto out;
	}
	if (!err)
		err = store_txn_begin(store_txn_store(txn), txn, true, &nested);
	if (err)
		goto out;
	res->record_changes = true;
	err = tree_apply_batch(t, nested, batch, res);
	if (err == GROVE_ESTORAGE || err == GROVE_ENOMEM || err == GROVE_ECORRUPT)
		goto out;
	if (res->err) {
		err = refused(res, "it fails beside a pending batch that may change that (op %zu): %.400s", res->failed_op,
			      res->message);
		goto out;
	}
	if ((err = tree_reader_open(t, nested, &f.reader)) != GROVE_OK)
		goto out;
	uint64_t node = 0;
	const char *how = "";
	for (size_t i = 0; !err && i < res->n_changes; i++)
		err = meets(&f, &res->changes[i], &node, &how);
	tree_reader_close(f.reader);
	f.reader = NULL;
	if (err == GROVE_EINTENT) {
		err = refused(res, "node %llu: it %s", (unsigned long long)node, how);
		goto out;
	}
	struct tree_result after = {0};
	if (!err)
		err = trial(t, nested, pending, &after);
	if (!err && after.err)
		err = refused(res, "the pending batch would no longer apply after it (op %zu): %.400s", after.failed_op,
			      after.message);
	else if (!err && (after.count != before.count || memcmp(after.ids, before.ids, sizeof(*after.ids) * after.count)))
		err = refused(res, "it takes an id the pending batch takes, whose client was told its ids already");
	tree_result_free(&after);
out:
	if (nested && !err && keep)
		err = store_txn_commit(nested);
	else if (nested)
		store_txn_abort(nested);
	if (!wanted)
		tree_result_drop_changes(res);
	res->record_changes = wanted;
	tree_result_free(&before);
	footprint_free(&f);
	return err;
}
