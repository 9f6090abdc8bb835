/*
 * A false claim that must be refuted: whenever a follower commits from a
 * peer's acknowledgement, the leader the acknowledgement went to has
 * committed that far already. It fails: a follower commits before the
 * leader has read the answer, which is the case learn_commit is for and
 * the invariants check.
 */
#define MUTANT_CLAIM_LEADER_FIRST
#include "../Raft.pml"
