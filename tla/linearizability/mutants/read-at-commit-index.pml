/*
 * Mutant: raft_read_index takes the leader's commit index as the read
 * index. A follower that committed a write from its peers'
 * acknowledgements (LearnCommit) before the leader heard of them has
 * applied it, and its subscribers have seen it; a read asked after that,
 * confirmed by a heartbeat quorum, returns the value from before the write
 * (Linearizable).
 */
#define MUTANT_READ_AT_COMMIT_INDEX
#include "../Linearizability.pml"
