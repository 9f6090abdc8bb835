/*
 * Mutant: status recovery looks only for the intent, not for the marker an
 * early resolution leaves. The coordinator resolves one intent early and
 * crashes; recovery finds that key's intent gone, prevents it and aborts
 * the txn whose write is already a version (AbortedWroteNothing).
 */
#define MUTANT_EARLY_UNMARKED
#include "../ParallelCommits.pml"
