/*
 * Mutant: validation against the proposer's snapshot, with moves only and
 * only NoCycle checked: two transactions read the same tree, one moves A
 * under B, the other B under A; each move is valid against the snapshot,
 * both commit, and A and B become each other's ancestors.  The same two moves
 * in SceneTree.pml are safe because the second is refused (ECYCLE) when it is
 * applied.
 */
#define MUTANT_STALE_SNAPSHOT
#define ONLY_MOVES
#define ONLY_CYCLES
#include "../SceneTree.pml"
