/*
 * Mutant: the vote is not part of the durable state: a server that voted,
 * crashed and restarted votes again in the same term, and two candidates
 * both win it (ElectionSafety).
 */
#define MUTANT_VOTE_NOT_DURABLE
#include "../Raft.pml"
