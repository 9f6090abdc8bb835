/*
 * Mutant (liveness): a pusher that meets a STAGING record waits for the
 * txn's coordinator to finish it and never starts status recovery once the
 * coordinator is dead. A coordinator that crashes after its writes landed
 * leaves an implicitly committed txn that never becomes COMMITTED and
 * intents that are never resolved: pan -a -f reports an acceptance cycle
 * (ImplicitBecomesExplicit, IntentsResolved). No safety invariant fails.
 */
#define MUTANT_NO_RECOVERY
#include "../ParallelCommitsLiveness.pml"
