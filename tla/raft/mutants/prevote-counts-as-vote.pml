/*
 * Mutant: a candidate counts a granted pre-vote answer of its new term as a
 * vote.  The pre-voter promised nothing and votes for another candidate of
 * that term; a duplicated pre-vote answer then elects a second leader
 * (ElectionSafety).
 */
#define MUTANT_PREVOTE_COUNTS_AS_VOTE
#include "../Raft.pml"
