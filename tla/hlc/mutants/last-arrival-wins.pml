/*
 * Mutant: the store keeps the write that arrived last instead of the one with
 * the highest HLC timestamp (ConflictOrderedByHLC).
 */
#define MUTANT_LAST_ARRIVAL_WINS
#include "../HLC.pml"
