---------------------------- MODULE LatencyRounds ----------------------------
(***************************************************************************)
(* How many consensus rounds a client waits for, in fault-free runs, for  *)
(* the three kinds of write grove has or plans (DESIGN.md "Transactions  *)
(* across shards" and "Latency accounting"):                              *)
(*                                                                         *)
(*  SW   a write inside one shard: one Raft proposal; the leader appends *)
(*       it, replicates it to a quorum, commits and applies it, and only  *)
(*       then answers the client.                                         *)
(*  PC   a cross-shard transaction with parallel commits: an intent on   *)
(*       each of the two shards and, in the same breath, a STAGING txn    *)
(*       record on the anchor shard (shard 1).  Once all three are        *)
(*       replicated the txn is implicitly committed and the client is     *)
(*       acknowledged.  After the ack the record is made COMMITTED and,   *)
(*       once that is replicated, the intents are resolved.               *)
(*  TPC  the same transaction with plain two-phase commit: prepare (both *)
(*       intents replicated), then the COMMITTED decision record on the   *)
(*       anchor shard, then the ack; the intents are resolved after it.   *)
(*                                                                         *)
(* A consensus round is one replicate-to-quorum of one proposal.  Every   *)
(* proposal is stamped, when its sender sends it, with the round it       *)
(* occupies on the causal chain: 1 + the largest round of everything the  *)
(* sender had to wait for before it could send (the ack counts as its    *)
(* own round, not one more).  Proposals sent together, or independently, *)
(* share a round; a proposal sent only after another committed is one     *)
(* round later.  rounds[x] is what the ack of x waited for: the largest   *)
(* round among the proposals whose commit the ack needed.                 *)
(*                                                                         *)
(* Fault-free: no crash, no lost message, no leader change.  Everything  *)
(* else interleaves freely: requests reach leaders in any order, each     *)
(* proposal is appended, replicated and committed at its own pace, and    *)
(* the three clients run concurrently.                                    *)
(*                                                                         *)
(* Abstracted away: the followers of a shard (a quorum holding the entry *)
(* is one step, as src/raft's maybe_commit sees it), the order of entries *)
(* in a shard's log (Raft commits a prefix, so an entry may wait for an   *)
(* earlier one; both ride the same pipelined AppendEntries, which delays  *)
(* but adds no sequential round), values, timestamps and conflicts (no    *)
(* push, no refresh, no status recovery: those are ParallelCommits.tla's  *)
(* subject, and they only occur on the slow path).                       *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANT MaxRound   \* bound for TypeOK: no proposal lies beyond this round

ASSUME MaxRound \in Nat /\ MaxRound >= 3

\* the clients
SW == "SW"
PC == "PC"
TPC == "TPC"
Clients == {SW, PC, TPC}

\* the proposals; a name ending in 1 or 2 lives on that shard, every txn
\* record (STAGING, COMMITTED, decision) on the anchor shard 1
W == "w"                    \* the single-shard write
PcIntents == {"pi1", "pi2"} \* PC: the intent writes
PcStage == "ps"             \* PC: the STAGING record listing them
PcFinal == "pcc"            \* PC: the record made COMMITTED (after the ack)
PcResolves == {"pr1", "pr2"} \* PC: intent resolutions (after the ack)
TpIntents == {"ti1", "ti2"} \* TPC: prepare, the intent writes
TpDecision == "td"          \* TPC: the COMMITTED decision record
TpResolves == {"tr1", "tr2"} \* TPC: intent resolutions (after the ack)

Props == {W, PcStage, PcFinal, TpDecision}
         \cup PcIntents \cup PcResolves \cup TpIntents \cup TpResolves

Shard == [p \in Props |-> IF p \in {"pi2", "pr2", "ti2", "tr2"} THEN 2 ELSE 1]

\* what each ack waits for: PC's is the implicit-commit condition
AckNeeds == [x \in Clients |->
               CASE x = SW  -> {W}
                 [] x = PC  -> PcIntents \cup {PcStage}
                 [] x = TPC -> TpIntents \cup {TpDecision}]

Status == {"idle",        \* not sent yet
           "sent",        \* request on its way to the shard's leader
           "appended",    \* in the leader's log, AppendEntries sent
           "replicated",  \* a quorum of the shard's voters holds it
           "committed"}   \* leader committed and applied it, reply sent

VARIABLES
    status,   \* status[p]: where proposal p is (Status)
    round,    \* round[p]: the consensus round p occupies (0: not sent)
    acked,    \* acked[x]: client x has its acknowledgement
    rounds    \* rounds[x]: consensus rounds on x's path to the ack (0: no ack)

vars == <<status, round, acked, rounds>>

Max2(a, b) == IF a >= b THEN a ELSE b

Committed(P) == \A p \in P : status[p] = "committed"
Idle(P) == \A p \in P : status[p] = "idle"

\* the largest round among P (0 for none)
LastRound(P) ==
    IF P = {} THEN 0
    ELSE CHOOSE r \in {round[p] : p \in P} : \A p \in P : round[p] <= r

TypeOK ==
    /\ status \in [Props -> Status]
    /\ round \in [Props -> 0..MaxRound]
    /\ acked \in [Clients -> BOOLEAN]
    /\ rounds \in [Clients -> 0..MaxRound]
    /\ \A p \in Props : (round[p] = 0) <=> (status[p] = "idle")
    /\ \A x \in Clients : (rounds[x] = 0) <=> ~acked[x]

Init ==
    /\ status = [p \in Props |-> "idle"]
    /\ round = [p \in Props |-> 0]
    /\ acked = [x \in Clients |-> FALSE]
    /\ rounds = [x \in Clients |-> 0]

\* The sender sends the proposals P, all at once, in round r.
Send(P, r) ==
    /\ Idle(P)
    /\ status' = [p \in Props |-> IF p \in P THEN "sent" ELSE status[p]]
    /\ round' = [p \in Props |-> IF p \in P THEN r ELSE round[p]]
    /\ UNCHANGED <<acked, rounds>>

\* Client x learns that everything its ack needs has committed.
Acknowledge(x) ==
    /\ ~acked[x] /\ Committed(AckNeeds[x])
    /\ acked' = [acked EXCEPT ![x] = TRUE]
    /\ rounds' = [rounds EXCEPT ![x] = LastRound(AckNeeds[x])]
    /\ UNCHANGED <<status, round>>

(***************************************************************************)
(* Single-shard write (src/server/replicated.c).                           *)
(***************************************************************************)

\* the client's write request, waiting for nothing
ClientWrite == Send({W}, 1)

\* on_applied answers the client once the entry is committed and applied
SwAck == Acknowledge(SW)

(***************************************************************************)
(* Parallel commits (src/txn, not yet written).                            *)
(***************************************************************************)

\* intents and the STAGING record together, waiting for nothing
PcSend == Send(PcIntents \cup {PcStage}, 1)

\* every intent and the STAGING record replicated: implicitly committed
PcAck == Acknowledge(PC)

\* after the ack: the record becomes COMMITTED
PcFinalize == acked[PC] /\ Send({PcFinal}, 1 + rounds[PC])

\* once the COMMITTED record is replicated the intents are resolved (an
\* intent resolved earlier would look missing to status recovery)
PcResolve ==
    /\ Committed({PcFinal})
    /\ Send(PcResolves, 1 + LastRound({PcFinal}))

(***************************************************************************)
(* Two-phase commit, for comparison.                                       *)
(***************************************************************************)

\* prepare: the intents, waiting for nothing
TpPrepare == Send(TpIntents, 1)

\* both prepared: the decision record is written
TpDecide == Committed(TpIntents) /\ Send({TpDecision}, 1 + LastRound(TpIntents))

\* the decision is replicated: acknowledge
TpAck == Acknowledge(TPC)

\* after the ack: the intents are resolved
TpResolve == acked[TPC] /\ Send(TpResolves, 1 + Max2(rounds[TPC], LastRound({TpDecision})))


(***************************************************************************)
(* A shard's Raft group, fault-free (src/raft).                            *)
(***************************************************************************)

\* the leader of Shard(p) receives the request and appends it to its log
Append(p) ==
    /\ status[p] = "sent"
    /\ status' = [status EXCEPT ![p] = "appended"]
    /\ UNCHANGED <<round, acked, rounds>>

\* a quorum of Shard(p)'s voters has the entry in its log
Replicate(p) ==
    /\ status[p] = "appended"
    /\ status' = [status EXCEPT ![p] = "replicated"]
    /\ UNCHANGED <<round, acked, rounds>>

\* the leader learns it, commits, applies and replies to the sender
Commit(p) ==
    /\ status[p] = "replicated"
    /\ status' = [status EXCEPT ![p] = "committed"]
    /\ UNCHANGED <<round, acked, rounds>>

AllDone == Committed(Props) /\ \A x \in Clients : acked[x]

\* the runs end here; a state before it without a step is a deadlock
Finished == AllDone /\ UNCHANGED vars

\* ACTIONS: ClientWrite, SwAck, PcSend, PcAck, PcFinalize, PcResolve
\* ACTIONS: TpPrepare, TpDecide, TpAck, TpResolve
\* ACTIONS: Append, Replicate, Commit, Finished
Next ==
    \/ ClientWrite \/ SwAck
    \/ PcSend \/ PcAck \/ PcFinalize \/ PcResolve
    \/ TpPrepare \/ TpDecide \/ TpAck \/ TpResolve
    \/ \E p \in Props : Append(p) \/ Replicate(p) \/ Commit(p)
    \/ Finished

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Invariants.                                                             *)
(***************************************************************************)

\* (a) a single-shard write costs exactly one consensus round
SingleShardOneRound == acked[SW] => rounds[SW] = 1

\* (b) so does a cross-shard txn with parallel commits
ParallelCommitOneRound == acked[PC] => rounds[PC] = 1

\* (c) two-phase commit costs two: the difference is real
TwoPhaseCommitTwoRounds == acked[TPC] => rounds[TPC] = 2

\* an ack is given only for what a quorum holds: the write; every intent
\* and the STAGING record; every intent and the decision record
AckedIsReplicated == \A x \in Clients : acked[x] => Committed(AckNeeds[x])

\* the asynchronous work starts after the ack, so it is never on the
\* path to it, and intents are resolved only after the COMMITTED record
\* is replicated
AsyncAfterAck ==
    /\ ~Idle({PcFinal} \cup PcResolves) => acked[PC]
    /\ ~Idle(PcResolves) => Committed({PcFinal})
    /\ ~Idle(TpResolves) => acked[TPC] /\ Committed({TpDecision})
    /\ \A p \in {PcFinal} \cup PcResolves :
          status[p] # "idle" => round[p] > rounds[PC]
    /\ \A p \in TpResolves : status[p] # "idle" => round[p] > rounds[TPC]

=============================================================================
