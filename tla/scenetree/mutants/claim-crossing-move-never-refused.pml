/*
 * Not a broken protocol but a false claim about the correct one: "two moves
 * from the same snapshot, A under B and B under A, are never the one
 * applied and the other refused".  Spin must find the history in which they
 * are, so the spec's NoCycle is not true for want of that case: both moves
 * are valid against the snapshot, both are committed, and the second is
 * refused with ECYCLE when it is applied.
 */
#define CLAIM_NO_CROSSING_MOVE_REFUSED
#include "../SceneTree.pml"
