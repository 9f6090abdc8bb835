/*
 * Mutant: status recovery records a missing intent but does not bump the key's
 * timestamp cache, so the coordinator's late intent write still lands at
 * the staged timestamp after recovery aborted the txn: the coordinator
 * acknowledges an aborted txn (AckedIsCommitted).
 */
#define MUTANT_RECOVERY_NO_PREVENT
#include "../ParallelCommits.pml"
