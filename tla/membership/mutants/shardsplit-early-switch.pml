/*
 * Mutant: the map switches to the new group before the source moved the
 * subtree: requests go to a group that holds nothing yet (MapLags), which
 * is harmless for writes (refused, asked again) but wrong for a directory
 * that must only lag behind the groups' own state.
 */
#define MUTANT_EARLY_SWITCH
#include "../ShardSplit.pml"
