/*
 * Mutant: DeleteSubtree removes the node but not its descendants, which
 * stay live under a parent that no longer exists (NoOrphan).
 */
#define MUTANT_DELETE_NODE_ONLY
#include "../SceneTree.pml"
