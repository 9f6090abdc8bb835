/* Change records made into operations again: a batch replayed on the state it was first applied to. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/tree/tree.h"
#include "src/tree/variant.h"

/* The operation that made change @p c, its value decoded into @p value (nil when it has none). */
static int op_of(const struct tree_change *c, struct tree_op *op, struct variant *value, char *why, size_t cap)
{
	memset(op, 0, sizeof(*op));
	op->kind = c->op;
	op->node.id = (int64_t)c->node;
	op->index = -1;
	if (c->value.len) {
		size_t used;
		if (variant_decode(value, c->value.data, c->value.len, &used) != GROVE_OK || used != c->value.len)
			return grove_say(GROVE_EINVAL, why, cap, "the value of a change to node %" PRIu64 " does not decode",
				   c->node);
		op->value = value;
	}
	switch (c->op) {
	case TREE_OP_CREATE:
		op->node.id = (int64_t)c->parent;
		op->name = c->name;
		op->text = c->text;
		op->instance = c->instance;
		op->index = c->index;
		return GROVE_OK;
	case TREE_OP_DELETE:
		return GROVE_OK;
	case TREE_OP_SET_PROP:
		if (!op->value)
			return grove_say(GROVE_EINVAL, why, cap, "a property set on node %" PRIu64 " has no value", c->node);
		/* fall through */
	case TREE_OP_CLEAR_PROP:
	case TREE_OP_RENAME:
	case TREE_OP_ADD_GROUP:
	case TREE_OP_REMOVE_GROUP:
		op->name = c->name;
		return GROVE_OK;
	case TREE_OP_MOVE:
		op->target.id = (int64_t)c->parent;
		op->index = c->index;
		return GROVE_OK;
	case TREE_OP_REORDER:
		op->index = c->index;
		return GROVE_OK;
	case TREE_OP_CONNECT:
	case TREE_OP_DISCONNECT:
		op->target.id = (int64_t)c->parent;
		op->name = c->name;
		op->text = c->text;
		op->flags = c->flags;
		return GROVE_OK;
	case TREE_OP_CARRY_OUT:
	case TREE_OP_CARRY_IN:
	case TREE_OP_CONNECT_ACROSS:
	case TREE_OP_DISCONNECT_ACROSS:
		/* Change records say TREE_OP_MOVE, _CONNECT or _DISCONNECT for these: not found in a history. */
		return grove_say(GROVE_EINVAL, why, cap, "a change to node %" PRIu64 " is half of a change across shards",
				 c->node);
	case TREE_OP_PUT_RESOURCE:
		return grove_say(GROVE_EINVAL, why, cap,
			   "resource %" PRIu64 " was stored: a change record does not keep a resource's uid, so it cannot "
			   "be made again exactly",
			   c->node);
	}
	return grove_say(GROVE_EINVAL, why, cap, "a change of unknown kind %d", (int)c->op);
}

int tree_replay(const struct tree *t, struct store_txn *txn, const struct tree_change *changes, size_t n, char *why,
		size_t why_cap)
{
	if (why && why_cap)
		why[0] = '\0';
	if (n == 0)
		return GROVE_OK;
	struct tree_op *ops = calloc(n, sizeof(*ops));
	struct variant *values = calloc(n, sizeof(*values));
	int err = ops && values ? GROVE_OK : GROVE_ENOMEM;
	for (size_t i = 0; !err && i < n; i++)
		err = op_of(&changes[i], &ops[i], &values[i], why, why_cap);
	struct store_txn *nested = NULL;
	if (!err)
		err = store_txn_begin(store_txn_store(txn), txn, true, &nested);
	struct tree_result res = {0};
	if (!err) {
		struct tree_batch batch = {.ops = ops, .count = n};
		err = tree_apply_batch(t, nested, &batch, &res);
		if (err == GROVE_ENOMEM || err == GROVE_ESTORAGE)
			grove_say(err, why, why_cap, "%s", res.message);
		else if (err)
			err = grove_say(GROVE_ECORRUPT, why, why_cap, "the changes do not apply to this state: op %zu: %s",
				  res.failed_op, res.message);
	}
	/* The same state hands out the same ids; a different one here means it was not the same state. */
	for (size_t i = 0; !err && i < n; i++)
		if (res.ids[i] != changes[i].node)
			err = grove_say(GROVE_ECORRUPT, why, why_cap,
				  "op %zu acted on node %" PRIu64 " where the record says %" PRIu64 ": not the same state", i,
				  res.ids[i], changes[i].node);
	tree_result_free(&res);
	if (nested)
		err = err ? (store_txn_abort(nested), err) : store_txn_commit(nested);
	for (size_t i = 0; values && i < n; i++)
		variant_free(&values[i]);
	free(values);
	free(ops);
	return err;
}
