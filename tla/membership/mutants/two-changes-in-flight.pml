/*
 * Mutant: the leader proposes a second configuration change while the
 * first is not yet applied (no pending_conf_index test). Both can commit
 * in one step under the old configuration: with {1,2,3}, "remove 3" and
 * "remove 2" commit on {1,2}; server 1 then runs alone in {1} while
 * server 2, which has not learnt the commit, still counts {1,2,3} and is
 * elected by {2,3} in the same term (ElectionSafety). The lone server 1
 * also commits an entry at an index where the other side commits a
 * different one, so CommittedAgree fails as well, already within two terms; it is left out here so that
 * the run shows the two leaders, which take a third term.
 */
#define MUTANT_TWO_CHANGES_IN_FLIGHT
#define SKIP_COMMITTED_AGREE
#define MAXTERM 3
#define MAXLOG 3
#include "../Membership.pml"
