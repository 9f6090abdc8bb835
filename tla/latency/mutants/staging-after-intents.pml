/*
 * Mutant: the coordinator of a parallel-commits txn writes the STAGING
 * record only after its intents are replicated, as two-phase commit would.
 * The ack now waits for two sequential consensus rounds, the record's
 * replication behind the intents' (ParallelCommitOneRound).
 */
#define MUTANT_STAGING_AFTER_INTENTS
#include "../LatencyRounds.pml"
