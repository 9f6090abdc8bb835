/*
 * Mutant: an entry is validated against the snapshot its proposer read, not
 * against the tree it is applied to.  Two transactions read the same tree;
 * one moves A under B, the other B under A; each move is valid against that
 * snapshot, both commit, and the second closes a cycle (NoCycle, and the two
 * nodes no longer reach the root).  Concurrent creates of the same name
 * under one parent, or a create under a node a concurrent delete removes,
 * fail the same way.
 */
#define MUTANT_STALE_SNAPSHOT
#include "../SceneTree.pml"
