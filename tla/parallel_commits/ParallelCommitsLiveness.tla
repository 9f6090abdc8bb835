---------------------- MODULE ParallelCommitsLiveness ----------------------
(***************************************************************************)
(* Liveness of ParallelCommits: an implicitly committed txn is eventually *)
(* explicitly COMMITTED, and every intent is eventually resolved, even    *)
(* when the coordinator crashes at any point.                             *)
(*                                                                         *)
(* Every step of the protocol is weakly fair except the ones that need    *)
(* not happen: the coordinator's crash, its optional PENDING heartbeat.   *)
(* The reader is left out: it only raises timestamp caches (which status  *)
(* recovery does as well) and has no part in finishing a txn, and an      *)
(* unfair reader could not be expressed in spin's per-process fairness.   *)
(***************************************************************************)
EXTENDS ParallelCommits

LiveNext ==
    \/ Heartbeat \/ SendWrites \/ Ack \/ Retry \/ Rollback \/ CommitExplicit \/ Crash
    \/ \E k \in Key : ApplyIntent(k) \/ QueryIntent(k) \/ ResolveIntent(k) \/ ResolveEarly(k)
    \/ ApplyStage \/ StartRecovery \/ RecoverTxn \/ PushAbort

Fairness ==
    /\ WF_vars(SendWrites) /\ WF_vars(Ack) /\ WF_vars(Retry)
    /\ WF_vars(Rollback) /\ WF_vars(CommitExplicit)
    /\ WF_vars(ApplyStage) /\ WF_vars(StartRecovery) /\ WF_vars(RecoverTxn)
    /\ WF_vars(PushAbort)
    /\ \A k \in Key : /\ WF_vars(ApplyIntent(k))
                      /\ WF_vars(QueryIntent(k))
                      /\ WF_vars(ResolveIntent(k))
                      /\ WF_vars(ResolveEarly(k))

FairSpec == Init /\ [][LiveNext]_vars /\ Fairness

\* txn_finalize must run for every implicitly committed txn: by its
\* coordinator, or by status recovery when the coordinator is gone.
ImplicitBecomesExplicit == ImplicitlyCommitted ~> (recStatus = COMMITTED)

\* Abandoned intents are always resolved (DESIGN.md).
IntentsResolved == \A k \in Key : (intentTs[k] # 0) ~> (intentTs[k] = 0)

=============================================================================
