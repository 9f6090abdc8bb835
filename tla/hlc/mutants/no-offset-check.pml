/*
 * Mutant: hlc_update does not refuse a remote wall time more than MaxOffset
 * ahead of the local physical clock. With physical clocks Skew = 2 apart and
 * MaxOffset = 1, a receiver adopts a wall time two ticks ahead of its own
 * physical clock (BoundedDrift), and the counter bound derived from
 * MaxOffset no longer holds either.
 */
#define MUTANT_NO_OFFSET_CHECK
#include "../HLC.pml"
