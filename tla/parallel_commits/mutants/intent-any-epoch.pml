/*
 * Mutant: the implicit-commit test of status recovery compares only the
 * timestamp, not the epoch and sequence number: an intent left by an
 * earlier attempt that sits at the re-staged timestamp counts while the
 * new attempt's write is still in flight; the txn commits, the stale
 * intent is resolved away (or the late write is pushed above the commit
 * timestamp), and a reader sees one key and misses the other
 * (NoPartialRead).
 */
#define MUTANT_INTENT_ANY_EPOCH
#include "../ParallelCommits.pml"
