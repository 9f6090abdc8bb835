/*
 * Mutant (liveness): recovery starts only when it meets an intent. A
 * coordinator that crashes after every early resolution landed and before
 * its record became COMMITTED leaves no intent behind: the record stays
 * STAGING for ever (ImplicitBecomesExplicit). No safety invariant fails.
 */
#define MUTANT_EARLY_MARKS_IGNORED
#include "../ParallelCommitsLiveness.pml"
