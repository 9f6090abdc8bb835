/*
 * Mutant: hlc_update does not increment the logical part when the wall part
 * does not move; a receive can carry the same timestamp as the send it
 * follows (Causality).
 */
#define MUTANT_NO_INCREMENT
#include "../HLC.pml"
