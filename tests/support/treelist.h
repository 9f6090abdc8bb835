/**
 * @file treelist.h
 * @brief A scene tree as text, for tests that compare worlds: one line per
 * node in pre-order, siblings in order: its path, what @p flags ask for, its
 * class, properties, groups and connections.
 */
#ifndef GROVE_TESTS_TREELIST_H
#define GROVE_TESTS_TREELIST_H

#include <stdint.h>

#include "src/tree/tree.h"
#include "storage/store.h"

/** What a listing shows besides paths, classes and groups. */
enum test_listing_flags {
	TEST_LIST_IDS = 1,    /**< " #id" after the path (worlds with the same ids) */
	TEST_LIST_VALUES = 2, /**< properties as name=hex of the canonical value, else name:type */
	TEST_LIST_CONNS = 4,  /**< connections, " signal->method", at their source */
	TEST_LIST_RESOURCES = 8 /**< with TEST_LIST_VALUES, a property that refers to a resource as
	                             "res(type,path)" (worlds whose resources have other ids) */
};

/**
 * @brief The subtree at node @p root as @p t sees it (a plain tree, or a
 * view's) in @p txn; fails the test if it cannot be read.
 * @return a malloc'd NUL-terminated text.
 */
char *test_tree_listing(const struct tree *t, struct store_txn *txn, uint64_t root, unsigned flags);

#endif
