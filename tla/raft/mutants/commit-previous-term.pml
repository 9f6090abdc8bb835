/*
 * Mutant: maybe_commit commits the highest index a quorum holds without
 * checking that its entry is of the leader's own term (Figure 3.7 of the
 * dissertation).  A leader of term 3 re-replicates its term-1 entry to a
 * majority and counts it committed; the term-2 entry of another server is
 * more up to date, so that server wins term 4 without the committed entry
 * (LeaderCompleteness) and would overwrite it.  It takes four terms; one
 * log entry is enough.
 */
#define MUTANT_COMMIT_PREVIOUS_TERM
#define MAXTERM 4
#define MAXLOG 1
#define WITHOUT_RESTART
#include "../Raft.pml"
