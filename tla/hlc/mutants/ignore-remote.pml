/*
 * Mutant: a receive is timestamped like a local event; the message's
 * timestamp is not merged, so a receive can be timestamped before the send
 * it follows (Causality).
 */
#define MUTANT_IGNORE_REMOTE
#include "../HLC.pml"
