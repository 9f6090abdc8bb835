/*
 * Mutant: hlc_now keeps counting the logical part when the wall part
 * advances instead of resetting it to 0; c grows without bound
 * (BoundedCounter).
 */
#define MUTANT_COUNTER_NOT_RESET
#include "../HLC.pml"
