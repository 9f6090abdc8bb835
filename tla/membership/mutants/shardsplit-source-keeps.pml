/*
 * Mutant: the source's split entry copies the subtree into the new group
 * but does not release it: both groups hold the nodes and accept writes
 * (OneHolder), and a write the source acknowledges after the split is not
 * in the group the map switches to.
 */
#define MUTANT_SOURCE_KEEPS
#include "../ShardSplit.pml"
