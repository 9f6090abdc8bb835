/*
 * Mutant: raft_read_index does not wait until the new leader has committed
 * an entry of its own term. The new leader's commit index may still lag
 * behind what its predecessor committed and acknowledged; confirmed by a
 * heartbeat quorum, the read returns the value from before that write
 * (Linearizable).
 */
#define MUTANT_READ_BEFORE_TERM_COMMIT
#include "../Linearizability.pml"
