-------------------------- MODULE ParallelCommits --------------------------
(***************************************************************************)
(* Cross-shard transactions with parallel commits (CockroachDB's design,  *)
(* as grove's src/txn is to implement it; DESIGN.md "Transactions across  *)
(* shards").                                                               *)
(*                                                                         *)
(* One transaction writes one key on each of two shards (key k lives on   *)
(* shard k; shard 1 is the anchor that holds the transaction record).     *)
(* Its coordinator sends, in parallel, an intent write to every shard and *)
(* a STAGING record write that lists those intents.  Each request is      *)
(* applied by its shard (one Raft round, abstracted to one step) in any   *)
(* order.  An intent write whose key's timestamp cache is at or above the *)
(* transaction's timestamp is pushed: the intent lands above the cache.   *)
(* Every intent write carries a sequence number (here: the attempt that  *)
(* sent it) and the STAGING record lists each key with that number.  The  *)
(* transaction is implicitly committed once the record is STAGING at      *)
(* (epoch, ts) and every listed intent is present with its epoch and      *)
(* sequence number at exactly ts.  Without the sequence number an intent  *)
(* of an earlier attempt of the same epoch, pushed to the new timestamp,  *)
(* would count while the intent of the new attempt is still in flight,   *)
(* and that late write would then move a committed intent above the      *)
(* commit timestamp (TLC finds that history in 23 steps).                 *)
(* the coordinator acknowledges the client when its own responses tell it *)
(* so, then makes the record COMMITTED and, in the same step, resolves    *)
(* the intents early: an intent resolved while the record is still        *)
(* STAGING becomes its key's version and leaves a finished marker that    *)
(* names the attempt (unconfirmed until a final record resolves it too).  *)
(* Status recovery counts such a marker as the intent in place; without  *)
(* that a crash after an early resolution let recovery abort a           *)
(* transaction one shard had applied.  Early resolution frees each key    *)
(* one round after the acknowledgement instead of two.                    *)
(* A pushed attempt is retried at the pushed timestamp, in the same epoch *)
(* (a refresh) or the next one (a restart); every retry rewrites all      *)
(* intents and re-stages the record.  The coordinator may crash anywhere. *)
(*                                                                         *)
(* Status recovery, run by whoever meets an intent of a STAGING txn:      *)
(* remember the record's (epoch, ts) and in-flight list; query each      *)
(* listed intent (key, epoch, sequence number, ts), and where             *)
(* it is missing bump the key's timestamp cache to ts so that the write   *)
(* can never land at ts any more; then, if the record is still STAGING at *)
(* the remembered (epoch, ts), make it COMMITTED when every intent was    *)
(* found (or its marker) and ABORTED otherwise; if the record moved on,   *)
(* give up (a new recovery may start).  Recovery starts for a STAGING     *)
(* record when an intent or an unconfirmed marker is met.  A txn whose record is absent or PENDING and      *)
(* whose coordinator is dead is aborted by the first pusher.              *)
(*                                                                         *)
(* A reader at timestamp rdTs reads the two keys one after the other; it  *)
(* waits while a key holds an intent at or below rdTs (the intent is      *)
(* resolved by the actions above), sees the committed version if it is   *)
(* at or below rdTs, and raises the key's timestamp cache to rdTs.        *)
(*                                                                         *)
(* Abstracted away: values (a version is just its commit timestamp),      *)
(* Raft inside a shard (a request is applied atomically once), message    *)
(* loss (a request is applied or the coordinator is dead), heartbeats     *)
(* beyond the first PENDING record, other writers, and the refresh of the *)
(* transaction's own reads.                                                *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS
    Key,          \* keys written by the txn; key k lives on shard k
    MaxAttempts,  \* attempts of the coordinator (first one included)
    MaxRts        \* the reader reads at a timestamp in 1..MaxRts

ASSUME /\ Key \subseteq Nat /\ Key # {}
       /\ MaxAttempts \in Nat \ {0}
       /\ MaxRts \in Nat \ {0}

\* record status (txn_status in the C design)
NONE == "NONE"
PENDING == "PENDING"
STAGING == "STAGING"
COMMITTED == "COMMITTED"
ABORTED == "ABORTED"

VARIABLES
    \* the txn record on the anchor shard
    recStatus,    \* NONE (no record yet) | PENDING | STAGING | COMMITTED | ABORTED
    recEpoch,     \* epoch of the last staged attempt
    recTs,        \* HLC timestamp of the last staged attempt (commit ts once COMMITTED)
    recInflight,  \* in-flight intent list: recInflight[k] = sequence number of
                  \* the write listed for key k (0: not listed)
    \* the intents table of each shard: intentTs[k] = 0 means no intent on k
    intentEpoch,
    intentSeq,
    intentTs,
    \* the committed version of each key (its commit timestamp; 0: none)
    value,
    \* finished markers of committed resolutions: markTs[k] # 0 means k's
    \* shard resolved the txn's write (markEpoch[k], markSeq[k]) at markTs[k]
    \* as committed; markFinal[k]: by a final record (FALSE: early, while the
    \* record may still be STAGING)
    markEpoch,
    markSeq,
    markTs,
    markFinal,
    \* the timestamp cache of each key's shard
    tscache,
    \* the coordinator
    cPhase,       \* "start" | "writing" | "acked" | "finished" | "crashed"
    cEpoch,       \* epoch of the current attempt
    cTs,          \* timestamp of the current attempt
    attempts,     \* attempts made so far
    wReq,         \* wReq[k]: intent write of the current attempt: "none" | "inflight" | "done"
    wRes,         \* wRes[k]: timestamp the intent landed at (response of the write)
    sReq,         \* the STAGING write: "none" | "inflight" | "ok" | "failed"
    acked,        \* the client has been told "committed"
    eReq,         \* eReq[k]: the early resolution sent at Ack: "none" | "inflight" | "done"
    \* status recovery
    rcPhase,      \* "idle" | "querying"
    rcEpoch,      \* the (epoch, ts) of the STAGING record recovery started from
    rcTs,
    rcInflight,   \* the in-flight list it read from that record
    rcQueried,    \* rcQueried[k]: "pending" | "found" | "missing"
    \* the reader
    rdTs,         \* its read timestamp (0: not started)
    rdSeen        \* rdSeen[k]: "unread" | "seen" | "missed"

vars == <<recStatus, recEpoch, recTs, recInflight, intentEpoch, intentSeq,
          intentTs, value, markEpoch, markSeq, markTs, markFinal, tscache,
          cPhase, cEpoch, cTs, attempts, wReq, wRes, sReq, acked, eReq,
          rcPhase, rcEpoch, rcTs, rcInflight, rcQueried, rdTs, rdSeen>>

recVars == <<recStatus, recEpoch, recTs, recInflight>>
coordVars == <<cPhase, cEpoch, cTs, attempts, wReq, wRes, sReq, acked, eReq>>
markVars == <<markEpoch, markSeq, markTs, markFinal>>
rcVars == <<rcPhase, rcEpoch, rcTs, rcInflight, rcQueried>>
intentVars == <<intentEpoch, intentSeq, intentTs>>
rdVars == <<rdTs, rdSeen>>

Max(a, b) == IF a >= b THEN a ELSE b
MaxTs == 1 + MaxRts + MaxAttempts   \* no timestamp ever exceeds this

\* txn_intent_matches: the intent on k is the write (epoch e, sequence s)
\* and it landed at timestamp t.
IntentAt(k, e, s, t) == intentTs[k] = t /\ intentEpoch[k] = e /\ intentSeq[k] = s

\* k's shard resolved the write (e, s) at t as committed (its finished marker).
MarkAt(k, e, s, t) == markTs[k] = t /\ markEpoch[k] = e /\ markSeq[k] = s

\* txn_query_intent's FOUND: the write is in place, or was resolved as committed.
Landed(k, e, s, t) == IntentAt(k, e, s, t) \/ MarkAt(k, e, s, t)

\* txn_is_implicitly_committed
ImplicitlyCommitted ==
    /\ recStatus = STAGING
    /\ \A k \in Key : recInflight[k] # 0 => Landed(k, recEpoch, recInflight[k], recTs)

EarlyMark(k) == markTs[k] # 0 /\ ~markFinal[k]

Responded == sReq \in {"ok", "failed"} /\ \A k \in Key : wReq[k] = "done"
Pushed == \E k \in Key : wRes[k] > cTs
MaxRes == CHOOSE t \in {wRes[k] : k \in Key} : \A k \in Key : wRes[k] <= t

TypeOK ==
    /\ recStatus \in {NONE, PENDING, STAGING, COMMITTED, ABORTED}
    /\ recEpoch \in 0..MaxAttempts /\ recTs \in 0..MaxTs
    /\ recInflight \in [Key -> 0..MaxAttempts]
    /\ intentEpoch \in [Key -> 0..MaxAttempts] /\ intentSeq \in [Key -> 0..MaxAttempts]
    /\ intentTs \in [Key -> 0..MaxTs]
    /\ value \in [Key -> 0..MaxTs] /\ tscache \in [Key -> 0..MaxTs]
    /\ markEpoch \in [Key -> 0..MaxAttempts] /\ markSeq \in [Key -> 0..MaxAttempts]
    /\ markTs \in [Key -> 0..MaxTs] /\ markFinal \in [Key -> BOOLEAN]
    /\ cPhase \in {"start", "writing", "acked", "finished", "crashed"}
    /\ cEpoch \in 0..MaxAttempts /\ cTs \in 1..MaxTs /\ attempts \in 0..MaxAttempts
    /\ wReq \in [Key -> {"none", "inflight", "done"}] /\ wRes \in [Key -> 0..MaxTs]
    /\ sReq \in {"none", "inflight", "ok", "failed"}
    /\ acked \in BOOLEAN /\ eReq \in [Key -> {"none", "inflight", "done"}]
    /\ rcPhase \in {"idle", "querying"}
    /\ rcEpoch \in 0..MaxAttempts /\ rcTs \in 0..MaxTs
    /\ rcInflight \in [Key -> 0..MaxAttempts]
    /\ rcQueried \in [Key -> {"pending", "found", "missing"}]
    /\ rdTs \in 0..MaxRts /\ rdSeen \in [Key -> {"unread", "seen", "missed"}]

Init ==
    /\ recStatus = NONE /\ recEpoch = 0 /\ recTs = 0 /\ recInflight = [k \in Key |-> 0]
    /\ intentEpoch = [k \in Key |-> 0] /\ intentSeq = [k \in Key |-> 0]
    /\ intentTs = [k \in Key |-> 0]
    /\ value = [k \in Key |-> 0] /\ tscache = [k \in Key |-> 0]
    /\ markEpoch = [k \in Key |-> 0] /\ markSeq = [k \in Key |-> 0]
    /\ markTs = [k \in Key |-> 0] /\ markFinal = [k \in Key |-> FALSE]
    /\ cPhase = "start" /\ cEpoch = 0 /\ cTs = 1 /\ attempts = 0
    /\ wReq = [k \in Key |-> "none"] /\ wRes = [k \in Key |-> 0]
    /\ sReq = "none" /\ acked = FALSE /\ eReq = [k \in Key |-> "none"]
    /\ rcPhase = "idle" /\ rcEpoch = 0 /\ rcTs = 0 /\ rcInflight = [k \in Key |-> 0]
    /\ rcQueried = [k \in Key |-> "pending"]
    /\ rdTs = 0 /\ rdSeen = [k \in Key |-> "unread"]

(***************************************************************************)
(* The coordinator (txn_coord_...).                                         *)
(***************************************************************************)

\* txn_heartbeat: a PENDING record written before the commit is attempted.
Heartbeat ==
    /\ cPhase = "start" /\ recStatus = NONE
    /\ recStatus' = PENDING /\ recEpoch' = cEpoch /\ recTs' = cTs
    /\ UNCHANGED <<recInflight, intentVars, value, markVars, tscache>>
    /\ UNCHANGED <<coordVars, rcVars, rdVars>>

\* txn_coord_commit: intents and the STAGING record, all in parallel.
SendWrites ==
    /\ cPhase = "start"
    /\ cPhase' = "writing" /\ attempts' = 1
    /\ wReq' = [k \in Key |-> "inflight"] /\ sReq' = "inflight"
    /\ UNCHANGED <<cEpoch, cTs, wRes, acked, eReq>>
    /\ UNCHANGED <<recVars, intentVars, value, markVars, tscache, rcVars, rdVars>>

\* txn_coord_on_response: every write of the attempt is at (cEpoch, cTs)
\* and the record is STAGING there: implicitly committed; tell the client
\* and send every intent's early resolution (txn_coord: ack).
Ack ==
    /\ cPhase = "writing" /\ sReq = "ok"
    /\ \A k \in Key : wReq[k] = "done" /\ wRes[k] = cTs
    /\ cPhase' = "acked" /\ acked' = TRUE
    /\ eReq' = [k \in Key |-> "inflight"]
    /\ UNCHANGED <<cEpoch, cTs, attempts, wReq, wRes, sReq>>
    /\ UNCHANGED <<recVars, intentVars, value, markVars, tscache, rcVars, rdVars>>

\* txn_coord_retry: some intent was pushed; retry at the pushed timestamp,
\* as a refresh (same epoch) or a restart (next epoch).  Everything is
\* rewritten and the record re-staged.
Retry ==
    /\ cPhase = "writing" /\ Responded /\ sReq = "ok" /\ Pushed
    /\ attempts < MaxAttempts
    /\ \E bump \in {0, 1} : cEpoch' = cEpoch + bump
    /\ cTs' = MaxRes /\ attempts' = attempts + 1
    /\ wReq' = [k \in Key |-> "inflight"] /\ sReq' = "inflight"
    /\ UNCHANGED <<cPhase, wRes, acked, eReq>>
    /\ UNCHANGED <<recVars, intentVars, value, markVars, tscache, rcVars, rdVars>>

\* txn_coord_rollback: the record write failed (the txn was aborted), or
\* the last attempt was pushed: end the txn as ABORTED.  Never after an
\* acknowledgement, and never for a record that is already final.
Rollback ==
    /\ cPhase = "writing" /\ Responded
    /\ sReq = "failed" \/ (Pushed /\ attempts = MaxAttempts)
    /\ recStatus' = IF recStatus \in {NONE, PENDING, STAGING} THEN ABORTED ELSE recStatus
    /\ cPhase' = "finished"
    /\ UNCHANGED <<recEpoch, recTs, recInflight, intentVars, value, markVars, tscache>>
    /\ UNCHANGED <<cEpoch, cTs, attempts, wReq, wRes, sReq, acked, eReq, rcVars, rdVars>>

\* txn_coord_finalize: explicit commit, asynchronous to the client.  If
\* recovery committed the record first there is nothing left to do.
CommitExplicit ==
    /\ cPhase = "acked"
    /\ recStatus' = IF recStatus = STAGING /\ recEpoch = cEpoch /\ recTs = cTs
                    THEN COMMITTED ELSE recStatus
    /\ cPhase' = "finished"
    /\ UNCHANGED <<recEpoch, recTs, recInflight, intentVars, value, markVars, tscache>>
    /\ UNCHANGED <<cEpoch, cTs, attempts, wReq, wRes, sReq, acked, eReq, rcVars, rdVars>>

\* The coordinator dies; its requests already sent may still be applied.
Crash ==
    /\ cPhase \in {"start", "writing", "acked"}
    /\ cPhase' = "crashed"
    /\ UNCHANGED <<cEpoch, cTs, attempts, wReq, wRes, sReq, acked, eReq>>
    /\ UNCHANGED <<recVars, intentVars, value, markVars, tscache, rcVars, rdVars>>

(***************************************************************************)
(* The shards applying the coordinator's requests.                        *)
(***************************************************************************)

\* txn_write_intent on key k's shard: above the timestamp cache.
ApplyIntent(k) ==
    /\ wReq[k] = "inflight"
    /\ LET t == IF tscache[k] >= cTs THEN tscache[k] + 1 ELSE cTs
       IN /\ intentTs' = [intentTs EXCEPT ![k] = t]
          /\ intentEpoch' = [intentEpoch EXCEPT ![k] = cEpoch]
          /\ intentSeq' = [intentSeq EXCEPT ![k] = attempts]
          /\ wRes' = [wRes EXCEPT ![k] = t]
    /\ wReq' = [wReq EXCEPT ![k] = "done"]
    /\ UNCHANGED <<cPhase, cEpoch, cTs, attempts, sReq, acked, eReq>>
    /\ UNCHANGED <<recVars, value, markVars, tscache, rcVars, rdVars>>

\* txn_record_stage on the anchor shard: refused once the txn is final.
ApplyStage ==
    /\ sReq = "inflight"
    /\ IF recStatus \in {NONE, PENDING, STAGING}
       THEN /\ recStatus' = STAGING /\ recEpoch' = cEpoch /\ recTs' = cTs
            /\ recInflight' = [k \in Key |-> attempts]
            /\ sReq' = "ok"
       ELSE /\ sReq' = "failed"
            /\ UNCHANGED recVars
    /\ UNCHANGED <<cPhase, cEpoch, cTs, attempts, wReq, wRes, acked, eReq>>
    /\ UNCHANGED <<intentVars, value, markVars, tscache, rcVars, rdVars>>

(***************************************************************************)
(* Status recovery (txn_recover) and pushing an abandoned txn.            *)
(***************************************************************************)

StartRecovery ==
    /\ rcPhase = "idle" /\ recStatus = STAGING
    /\ \E k \in Key : intentTs[k] # 0 \/ EarlyMark(k)
    /\ rcPhase' = "querying" /\ rcEpoch' = recEpoch /\ rcTs' = recTs
    /\ rcInflight' = recInflight
    /\ rcQueried' = [k \in Key |-> IF recInflight[k] # 0 THEN "pending" ELSE "found"]
    /\ UNCHANGED <<recVars, intentVars, value, markVars, tscache, coordVars, rdVars>>

\* txn_query_intent with prevent: a missing intent can no longer land at rcTs.
\* An intent resolved as committed is not missing: its marker is found.
QueryIntent(k) ==
    /\ rcPhase = "querying" /\ rcQueried[k] = "pending"
    /\ IF Landed(k, rcEpoch, rcInflight[k], rcTs)
       THEN /\ rcQueried' = [rcQueried EXCEPT ![k] = "found"]
            /\ UNCHANGED tscache
       ELSE /\ rcQueried' = [rcQueried EXCEPT ![k] = "missing"]
            /\ tscache' = [tscache EXCEPT ![k] = Max(@, rcTs)]
    /\ UNCHANGED <<rcPhase, rcEpoch, rcTs, rcInflight>>
    /\ UNCHANGED <<recVars, intentVars, value, markVars, coordVars, rdVars>>

\* txn_recover_decide: only if the record is still the attempt queried.
RecoverTxn ==
    /\ rcPhase = "querying" /\ \A k \in Key : rcQueried[k] # "pending"
    /\ recStatus' =
         IF recStatus = STAGING /\ recEpoch = rcEpoch /\ recTs = rcTs
         THEN IF \A k \in Key : rcQueried[k] = "found" THEN COMMITTED ELSE ABORTED
         ELSE recStatus
    /\ rcPhase' = "idle"
    /\ UNCHANGED <<recEpoch, recTs, recInflight, rcEpoch, rcTs, rcInflight, rcQueried>>
    /\ UNCHANGED <<intentVars, value, markVars, tscache, coordVars, rdVars>>

\* txn_push: the coordinator's heartbeat expired and no record is STAGING.
PushAbort ==
    /\ cPhase = "crashed" /\ recStatus \in {NONE, PENDING}
    /\ \E k \in Key : intentTs[k] # 0
    /\ recStatus' = ABORTED
    /\ UNCHANGED <<recEpoch, recTs, recInflight, intentVars, value, markVars, tscache>>
    /\ UNCHANGED <<coordVars, rcVars, rdVars>>

\* txn_resolve_intent by the final record: an intent of the committing epoch
\* becomes the version at the commit timestamp; any other is removed.  A
\* committed resolution leaves a final marker (confirming an early one).
ResolveIntent(k) ==
    /\ intentTs[k] # 0 \/ EarlyMark(k)
    /\ recStatus \in {COMMITTED, ABORTED}
    /\ value' = IF intentTs[k] # 0 /\ recStatus = COMMITTED /\ intentEpoch[k] = recEpoch
                THEN [value EXCEPT ![k] = recTs] ELSE value
    /\ intentTs' = [intentTs EXCEPT ![k] = 0]
    /\ intentEpoch' = [intentEpoch EXCEPT ![k] = 0]
    /\ intentSeq' = [intentSeq EXCEPT ![k] = 0]
    /\ IF recStatus = COMMITTED
       THEN /\ markEpoch' = [markEpoch EXCEPT ![k] = recEpoch]
            /\ markSeq' = [markSeq EXCEPT ![k] = recInflight[k]]
            /\ markTs' = [markTs EXCEPT ![k] = recTs]
       ELSE UNCHANGED <<markEpoch, markSeq, markTs>>
    /\ markFinal' = [markFinal EXCEPT ![k] = TRUE]
    /\ UNCHANGED <<recVars, tscache, coordVars, rcVars, rdVars>>

\* txn_resolve_intent early (status STAGING): the acknowledged attempt is
\* implicitly committed, so its intent becomes the version at its timestamp
\* before the record is final, and an unconfirmed marker names the attempt.
\* Sent once at Ack; a crash of the coordinator does not stop it.
ResolveEarly(k) ==
    /\ eReq[k] = "inflight"
    /\ eReq' = [eReq EXCEPT ![k] = "done"]
    /\ IF IntentAt(k, cEpoch, attempts, cTs)
       THEN /\ value' = [value EXCEPT ![k] = cTs]
            /\ intentTs' = [intentTs EXCEPT ![k] = 0]
            /\ intentEpoch' = [intentEpoch EXCEPT ![k] = 0]
            /\ intentSeq' = [intentSeq EXCEPT ![k] = 0]
            /\ markEpoch' = [markEpoch EXCEPT ![k] = cEpoch]
            /\ markSeq' = [markSeq EXCEPT ![k] = attempts]
            /\ markTs' = [markTs EXCEPT ![k] = cTs]
            /\ markFinal' = [markFinal EXCEPT ![k] = FALSE]
       ELSE UNCHANGED <<value, intentVars, markVars>>
    /\ UNCHANGED <<cPhase, cEpoch, cTs, attempts, wReq, wRes, sReq, acked>>
    /\ UNCHANGED <<recVars, tscache, rcVars, rdVars>>

(***************************************************************************)
(* The reader.                                                             *)
(***************************************************************************)

ReaderStart(t) ==
    /\ rdTs = 0 /\ rdTs' = t
    /\ UNCHANGED <<recVars, intentVars, value, markVars, tscache, coordVars, rcVars, rdSeen>>

\* tree_read at rdTs: waits for an intent at or below rdTs to be resolved.
ReaderRead(k) ==
    /\ rdTs # 0 /\ rdSeen[k] = "unread"
    /\ ~(intentTs[k] # 0 /\ intentTs[k] <= rdTs)
    /\ rdSeen' = [rdSeen EXCEPT ![k] = IF value[k] # 0 /\ value[k] <= rdTs
                                       THEN "seen" ELSE "missed"]
    /\ tscache' = [tscache EXCEPT ![k] = Max(@, rdTs)]
    /\ UNCHANGED <<recVars, intentVars, value, markVars, coordVars, rcVars, rdTs>>

\* ACTIONS: Heartbeat, SendWrites, Ack, Retry, Rollback, CommitExplicit, Crash
\* ACTIONS: ApplyIntent, ApplyStage, StartRecovery, QueryIntent, RecoverTxn
\* ACTIONS: PushAbort, ResolveIntent, ResolveEarly, ReaderStart, ReaderRead
Next ==
    \/ Heartbeat \/ SendWrites \/ Ack \/ Retry \/ Rollback \/ CommitExplicit \/ Crash
    \/ \E k \in Key : ApplyIntent(k) \/ QueryIntent(k) \/ ResolveIntent(k) \/ ResolveEarly(k)
                   \/ ReaderRead(k)
    \/ ApplyStage \/ StartRecovery \/ RecoverTxn \/ PushAbort
    \/ \E t \in 1..MaxRts : ReaderStart(t)

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Properties.                                                             *)
(***************************************************************************)

\* An acknowledged txn is implicitly committed at the acknowledged (epoch,
\* ts) or explicitly committed there: it is never aborted.
AckedIsCommitted ==
    acked =>
        /\ recStatus \in {STAGING, COMMITTED}
        /\ recEpoch = cEpoch /\ recTs = cTs
        /\ recStatus = STAGING => ImplicitlyCommitted

\* A reader sees both writes of the txn or neither.
NoPartialRead ==
    (\A k \in Key : rdSeen[k] # "unread") =>
        \A j, k \in Key : rdSeen[j] = rdSeen[k]

\* Atomicity: an aborted txn's writes never became versions.
AbortedWroteNothing == recStatus = ABORTED => \A k \in Key : value[k] = 0

CommitFinal ==
    [][recStatus = COMMITTED =>
         recStatus' = COMMITTED /\ recEpoch' = recEpoch /\ recTs' = recTs]_vars

AbortFinal ==
    [][recStatus = ABORTED => recStatus' = ABORTED]_vars

=============================================================================
