/*
 * Mutant: learn_commit commits what a quorum holds without checking that
 * the entry is of the follower's own term, the follower's twin of
 * commit-previous-term. A term-1 entry that a follower and one peer hold in
 * term 3 is not committed: the term-2 entry of another server is more up
 * to date, and that server can win term 4 without it (LeaderCompleteness).
 * (Acknowledgements of another term are refused too; that hazard needs a
 * leader's unsynced append to be lost, which this model, where appends are
 * durable at once, cannot show: tests/raft covers it.)
 */
#define MUTANT_LEARN_PREVIOUS_TERM
#define MAXTERM 4
#define MAXLOG 1
#define WITHOUT_RESTART
#include "../Raft.pml"
