/*
 * Mutant: the source does not freeze the moving nodes before the copy is
 * taken; it keeps accepting writes to them until the shard map switches.
 * A write routed to the source between the copy and the switch is
 * acknowledged, then the destination, which never saw it, becomes the
 * owner (NoLostWrite).
 */
#define MUTANT_NO_FREEZE
#include "../Shards.pml"
