/*
 * Mutant: a new leader may propose a change before an entry of its own
 * term is committed, and its pending-change test sees only its own
 * proposals (pending_conf_index is not set to the term's no-op). A change
 * the previous leader left unapplied in the log is then still in flight
 * when the new one goes in: the new leader commits both at once under the
 * old configuration, ends up alone in a one-voter configuration, and a
 * server that has not learnt the commit is elected by the old majority in
 * the same term (ElectionSafety). The path needs four terms, hence the
 * larger bound and the wider entries; only removals are proposed, which
 * keeps the run short.
 */
#define MUTANT_CHANGE_BEFORE_OWN_TERM_COMMIT
#define MAXTERM 4
#define ENTRY_T short
#define ONLY_REMOVE
#include "../Membership.pml"
