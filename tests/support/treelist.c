#include "treelist.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/buf.h"
#include "src/common/error.h"

struct listing {
	const struct tree *t;
	struct store_txn *txn;
	unsigned flags;
	uint64_t node; /* the node being listed */
	struct grove_buf out;
};

static void put_text(struct listing *l, const char *s)
{
	grove_buf_put(&l->out, s, strlen(s));
}

static int put_resource(void *ctx, const struct tree_resource *r)
{
	struct listing *l = ctx;
	put_text(l, "res(");
	put_text(l, r->type);
	put_text(l, ",");
	put_text(l, r->path);
	put_text(l, ")");
	return 0;
}

static int list_prop(void *ctx, const char *name, const struct variant *value)
{
	struct listing *l = ctx;
	char text[160];
	snprintf(text, sizeof(text), " %s%c", name, l->flags & TEST_LIST_VALUES ? '=' : ':');
	put_text(l, text);
	if (!(l->flags & TEST_LIST_VALUES)) {
		snprintf(text, sizeof(text), "%d", (int)value->type);
		put_text(l, text);
		return 0;
	}
	if ((l->flags & TEST_LIST_RESOURCES) && value->type == VARIANT_RESOURCE_REF) {
		assert_int_equal(tree_with_resource(l->t, l->txn, (uint64_t)value->as.ref, put_resource, l), GROVE_OK);
		return 0;
	}
	struct grove_buf bytes = {0};
	assert_int_equal(variant_encode(value, &bytes), GROVE_OK);
	for (size_t i = 0; i < bytes.len; i++) {
		snprintf(text, sizeof(text), "%02x", bytes.data[i]);
		put_text(l, text);
	}
	grove_buf_free(&bytes);
	return 0;
}

static int list_group(void *ctx, const char *group)
{
	struct listing *l = ctx;
	put_text(l, " [");
	put_text(l, group);
	put_text(l, "]");
	return 0;
}

static int list_conn(void *ctx, const struct tree_connection *c)
{
	struct listing *l = ctx;
	if (c->from != l->node)
		return 0; /* listed at its source, as a scene lists it */
	char line[160];
	snprintf(line, sizeof(line), " %s->%s", c->signal, c->method);
	put_text(l, line);
	return 0;
}

static int list_node(void *ctx, uint64_t id)
{
	struct listing *l = ctx;
	char *path = NULL;
	struct tree_node n;
	assert_int_equal(tree_node_path(l->t, l->txn, id, &path), GROVE_OK);
	assert_int_equal(tree_get_node(l->t, l->txn, id, &n), GROVE_OK);
	put_text(l, path);
	if (l->flags & TEST_LIST_IDS) {
		char text[32];
		snprintf(text, sizeof(text), " #%llu", (unsigned long long)id);
		put_text(l, text);
	}
	put_text(l, " ");
	put_text(l, n.class_name);
	tree_node_free(&n);
	free(path);
	assert_int_equal(tree_for_each_prop(l->t, l->txn, id, list_prop, l), GROVE_OK);
	assert_int_equal(tree_for_each_group(l->t, l->txn, id, list_group, l), GROVE_OK);
	l->node = id;
	if (l->flags & TEST_LIST_CONNS)
		assert_int_equal(tree_for_each_connection(l->t, l->txn, id, list_conn, l), GROVE_OK);
	put_text(l, "\n");
	return tree_for_each_child(l->t, l->txn, id, list_node, l);
}

char *test_tree_listing(const struct tree *t, struct store_txn *txn, uint64_t root, unsigned flags)
{
	struct listing l = {.t = t, .txn = txn, .flags = flags};
	assert_int_equal(list_node(&l, root), GROVE_OK);
	grove_buf_put(&l.out, "", 1);
	assert_false(l.out.failed);
	return (char *)l.out.data;
}
