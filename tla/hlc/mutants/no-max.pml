/*
 * Mutant: hlc_update takes l' = max(l, pt) and leaves the message's wall time
 * out of the max. A message from a node whose physical clock is ahead (but
 * within MaxOffset) is received at a smaller wall time than it was sent at:
 * the receive is timestamped before the send it follows (Causality).
 */
#define MUTANT_NO_MAX
#include "../HLC.pml"
