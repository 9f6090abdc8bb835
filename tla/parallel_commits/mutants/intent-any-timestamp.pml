/*
 * Mutant: the implicit-commit test of status recovery does not compare the
 * intent's timestamp: an intent pushed above the staged timestamp counts,
 * the txn commits below the reader that pushed it, and that reader sees
 * one key of the txn and misses the other (NoPartialRead).
 */
#define MUTANT_INTENT_ANY_TIMESTAMP
#include "../ParallelCommits.pml"
