/*
 * Mutant: the leader answers a read from its own applied state without the
 * heartbeat round that confirms it still leads. A deposed leader that has
 * not yet heard of its successor's term returns the value from before a
 * write the successor has committed and acknowledged (Linearizable).
 */
#define MUTANT_READ_WITHOUT_QUORUM_CHECK
#include "../Linearizability.pml"
