-------------------------- MODULE Linearizability --------------------------
(***************************************************************************)
(* Clients see grove's replicated tree through the Raft leader: a write is *)
(* a log entry acknowledged once it is committed and applied on the leader *)
(* that appended it (on_applied in src/server/replicated.c), a read goes   *)
(* through ReadIndex [Ongaro 6.4] (raft_read_index, the heartbeat round    *)
(* that confirms leadership, release_reads, and the caller that serves the *)
(* read state once applied >= index).  The claim is that every history is  *)
(* linearizable: the service refines one sequential object, the register  *)
(* "value of the property", whose state after k operations is given by    *)
(* the first k entries of the committed log.                               *)
(*                                                                         *)
(* Abstractions.  The tree is one property value: a write w sets it to w,  *)
(* the leader's no-op (val 0) leaves it; every write is appended once, so  *)
(* values are unique and a read's value names the write it saw.  Elections *)
(* are one step: s becomes leader of term T when a quorum Q (s in Q) all   *)
(* have terms below T and s's log is at least as up to date as theirs;    *)
(* Q moves to term T, which is what votedFor and the vote rules ensure.   *)
(* Servers outside Q, a deposed leader among them, learn of T only when a *)
(* message of T reaches them (Replicate, HeartbeatAck, StepDown): until    *)
(* then the old leader still believes it leads, appends, commits nothing   *)
(* new (no quorum), and can be asked for reads: the stale-read hazard.     *)
(* Messages are atomic steps of sender and receiver: AppendEntries is     *)
(* Replicate(s, t) (one entry, the first where t departs from s, i.e. the *)
(* nextIndex the probing settles on; truncation there; the commit index   *)
(* carried); a heartbeat of a ReadIndex round and its answer are          *)
(* HeartbeatAck.  Apply waits until someone observes the server (it leads *)
(* or a client waits on it): elsewhere applying is invisible.  The        *)
(* leader commits index i of its own term when a quorum holds an entry of  *)
(* that term at i (matchIndex abstracted to what the logs hold now, which  *)
(* Log Matching makes the whole prefix).  Message loss, pre-vote, lease   *)
(* refusals, crashes, snapshots and membership are left out: tla/raft and *)
(* tla/membership check those; here only the order clients observe       *)
(* matters.  A read whose leader steps down before confirmation is        *)
(* retried by the client (the pending read dies with the leadership);      *)
(* a write whose entry is overwritten is simply never acknowledged.       *)
(*                                                                         *)
(* History.  chosen is the sequential object: the longest log prefix any   *)
(* server has marked committed.  Each operation records the length of     *)
(* chosen at its invocation (inv) and at its response (resp); a read also *)
(* records the value it returned.  Linearizable says every read returned  *)
(* the register's value after chosen[1..k] for some k in inv..resp, and   *)
(* every acknowledged write sits in chosen at a position in inv+1..resp.   *)
(* Because chosen only grows, these points give one total order that      *)
(* respects real time (a Wing & Gong check specialised to a register).     *)
(* A write takes effect when it is committed, even before it is           *)
(* acknowledged: slightly stronger than linearizability, which could also *)
(* place a still-pending write later; the protocol meets the stronger      *)
(* form.                                                                   *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
    Server,    \* server ids
    MaxTerm,   \* no election beyond this term
    Writes,    \* write operations; write w sets the value to w (w > 0)
    Reads      \* read operations

ASSUME /\ MaxTerm \in Nat
       /\ Writes \subseteq Nat \ {0}
       /\ Server \cap {0} = {}

Leader == "Leader"
Follower == "Follower"

VARIABLES
    \* Raft servers (struct raft)
    currentTerm,   \* currentTerm[s]: term
    role,          \* role[s]: Leader | Follower
    log,           \* log[s]: sequence of [term, val]; val 0 is the leader's no-op
    commitIndex,   \* commitIndex[s]: commit
    applied,       \* applied[s]: cluster's applied index (the tree's state)
    \* clients (history variables included)
    wr,            \* wr[w]: [state, srv, idx, inv, resp]
    rd,            \* rd[r]: [state, srv, idx, term, acks, inv, resp, val]
    \* the sequential object
    chosen         \* the longest committed prefix seen so far

vars == <<currentTerm, role, log, commitIndex, applied, wr, rd, chosen>>
raftVars == <<currentTerm, role, log, commitIndex, applied>>

\* ACTIONS: BecomeLeader, StepDown, ClientWrite, Replicate, AdvanceCommit, LearnCommit, Apply, AckWrite, InvokeRead, ReadIndex, HeartbeatAck, ServeRead

MaxLog == MaxTerm + Cardinality(Writes)   \* a no-op per term, each write once
Max(a, b) == IF a >= b THEN a ELSE b
Min(a, b) == IF a <= b THEN a ELSE b
IsQuorum(S) == 2 * Cardinality(S) > Cardinality(Server)
LastTerm(lg) == IF Len(lg) = 0 THEN 0 ELSE lg[Len(lg)].term
Prefix(lg, n) == SubSeq(lg, 1, n)
IsPrefix(a, b) == Len(a) <= Len(b) /\ a = Prefix(b, Len(a))

\* The register after the first k entries of lg: the last write among them.
RECURSIVE ValueAt(_, _)
ValueAt(lg, k) == IF k = 0 THEN 0
                  ELSE IF lg[k].val # 0 THEN lg[k].val ELSE ValueAt(lg, k - 1)

\* The sequential object grows to a newly committed prefix p if p is longer.
\* A p that conflicts with chosen is caught by CommittedPrefix or ChosenGrows.
Choose(p) == IF Len(p) > Len(chosen) THEN p ELSE chosen

NoRead == [state |-> "idle", srv |-> 0, idx |-> 0, term |-> 0, acks |-> {},
           inv |-> 0, resp |-> 0, val |-> 0]

\* become_follower / become_leader drop the reads awaiting confirmation
\* (r->n_reads = 0); the client retries them (its invocation stays).
AbortReads(S) ==
    [r \in Reads |->
        IF rd[r].state = "pending" /\ rd[r].srv \in S
        THEN [NoRead EXCEPT !.state = "invoked", !.inv = rd[r].inv]
        ELSE rd[r]]

TypeOK ==
    /\ currentTerm \in [Server -> 0..MaxTerm]
    /\ role \in [Server -> {Leader, Follower}]
    /\ \A s \in Server :
        /\ log[s] \in Seq([term : 1..MaxTerm, val : Writes \cup {0}])
        /\ Len(log[s]) <= MaxLog
        /\ applied[s] \in 0..commitIndex[s]
        /\ commitIndex[s] \in 0..Len(log[s])
    /\ \A w \in Writes :
        /\ wr[w].state \in {"idle", "appended", "acked"}
        /\ wr[w].srv \in Server \cup {0}
        /\ wr[w].idx \in 0..MaxLog /\ wr[w].inv \in 0..MaxLog /\ wr[w].resp \in 0..MaxLog
    /\ \A r \in Reads :
        /\ rd[r].state \in {"idle", "invoked", "pending", "confirmed", "done"}
        /\ rd[r].srv \in Server \cup {0}
        /\ rd[r].idx \in 0..MaxLog /\ rd[r].term \in 0..MaxTerm
        /\ rd[r].acks \subseteq Server
        /\ rd[r].inv \in 0..MaxLog /\ rd[r].resp \in 0..MaxLog
        /\ rd[r].val \in Writes \cup {0}
    /\ Len(chosen) <= MaxLog

Init ==
    /\ currentTerm = [s \in Server |-> 0]
    /\ role = [s \in Server |-> Follower]
    /\ log = [s \in Server |-> <<>>]
    /\ commitIndex = [s \in Server |-> 0]
    /\ applied = [s \in Server |-> 0]
    /\ wr = [w \in Writes |-> [state |-> "idle", srv |-> 0, idx |-> 0, inv |-> 0, resp |-> 0]]
    /\ rd = [r \in Reads |-> NoRead]
    /\ chosen = <<>>

(***************************************************************************)
(* Raft.                                                                   *)
(***************************************************************************)

\* An election won with the votes of Q; become_leader appends a no-op of T.
BecomeLeader(s, Q, T) ==
    /\ s \in Q /\ IsQuorum(Q)
    /\ \A q \in Q :
        /\ currentTerm[q] < T
        /\ \/ LastTerm(log[s]) > LastTerm(log[q])
           \/ LastTerm(log[s]) = LastTerm(log[q]) /\ Len(log[s]) >= Len(log[q])
    /\ currentTerm' = [q \in Server |-> IF q \in Q THEN T ELSE currentTerm[q]]
    /\ role' = [q \in Server |-> IF q = s THEN Leader
                                 ELSE IF q \in Q THEN Follower ELSE role[q]]
    /\ log' = [log EXCEPT ![s] = Append(@, [term |-> T, val |-> 0])]
    /\ rd' = AbortReads(Q)
    /\ UNCHANGED <<commitIndex, applied, wr, chosen>>

\* A leader meets a higher term (a rejected append or heartbeat, a vote
\* request): become_follower.
StepDown(s, t) ==
    /\ role[s] = Leader /\ currentTerm[t] > currentTerm[s]
    /\ currentTerm' = [currentTerm EXCEPT ![s] = currentTerm[t]]
    /\ role' = [role EXCEPT ![s] = Follower]
    /\ rd' = AbortReads({s})
    /\ UNCHANGED <<log, commitIndex, applied, wr, chosen>>

\* raft_propose: the leader appends the client's write.  The invocation is
\* taken at the append; an earlier invocation only widens the interval.
ClientWrite(w, s) ==
    /\ wr[w].state = "idle" /\ role[s] = Leader
    /\ log' = [log EXCEPT ![s] = Append(@, [term |-> currentTerm[s], val |-> w])]
    /\ wr' = [wr EXCEPT ![w] = [state |-> "appended", srv |-> s,
                                idx |-> Len(log[s]) + 1, inv |-> Len(chosen), resp |-> 0]]
    /\ UNCHANGED <<currentTerm, role, commitIndex, applied, rd, chosen>>

\* The first index where t's log departs from s's (the one a probing leader
\* settles on as next), or s's last index when t holds all of s's log (the
\* append then only carries the commit index).
NextFor(s, t) ==
    LET diff == {j \in 1..Len(log[s]) :
                    Len(log[t]) < j \/ log[t][j].term # log[s][j].term}
    IN IF diff = {} THEN Len(log[s])
       ELSE CHOOSE j \in diff : \A k \in diff : j <= k

\* send_append + handle_append: entry j = NextFor(s, t) after the entry at
\* j - 1, which matches; t drops its log from the first conflict; commit
\* carried, capped at j.
Replicate(s, t) ==
    /\ role[s] = Leader /\ t # s
    /\ currentTerm[t] <= currentTerm[s]
    /\ Len(log[s]) > 0
    /\ LET j == NextFor(s, t)
           newLog == IF Len(log[t]) >= j /\ log[t][j].term = log[s][j].term
                     THEN log[t]
                     ELSE Append(Prefix(log[t], j - 1), log[s][j])
           newCommit == Max(commitIndex[t], Min(commitIndex[s], j))
       IN /\ log' = [log EXCEPT ![t] = newLog]
          /\ commitIndex' = [commitIndex EXCEPT ![t] = newCommit]
          /\ chosen' = Choose(Prefix(newLog, newCommit))
    /\ currentTerm' = [currentTerm EXCEPT ![t] = currentTerm[s]]
    /\ role' = [role EXCEPT ![t] = Follower]
    /\ rd' = AbortReads({t})
    /\ UNCHANGED <<applied, wr>>

\* maybe_commit: a quorum holds entry i, which is of the leader's term.
AdvanceCommit(s, i) ==
    /\ role[s] = Leader
    /\ i \in commitIndex[s] + 1 .. Len(log[s])
    /\ log[s][i].term = currentTerm[s]
    /\ IsQuorum({q \in Server : Len(log[q]) >= i /\ log[q][i].term = log[s][i].term})
    /\ commitIndex' = [commitIndex EXCEPT ![s] = i]
    /\ chosen' = Choose(Prefix(log[s], i))
    /\ UNCHANGED <<currentTerm, role, log, applied, wr, rd>>

\* learn_commit: a follower commits entry i of its own term once a quorum
\* holds it, from its peers' acknowledgements, before the leader's next
\* message would say so.  What it applies is seen by its subscribers: the
\* write takes effect there, and a read asked after it must see it.
LearnCommit(t, i) ==
    /\ role[t] = Follower
    /\ i \in commitIndex[t] + 1 .. Len(log[t])
    /\ log[t][i].term = currentTerm[t]
    /\ IsQuorum({q \in Server : Len(log[q]) >= i /\ log[q][i].term = log[t][i].term})
    /\ commitIndex' = [commitIndex EXCEPT ![t] = i]
    /\ chosen' = Choose(Prefix(log[t], i))
    /\ UNCHANGED <<currentTerm, role, log, applied, wr, rd>>

\* on_applied: the entry at a proposal's index is the client's own (same
\* term; here the same unique value): the write is acknowledged.
AckWrite(s, i) ==
    [w \in Writes |->
        IF wr[w].state = "appended" /\ wr[w].srv = s /\ wr[w].idx = i
           /\ log[s][i].val = w
        THEN [wr[w] EXCEPT !.state = "acked", !.resp = Len(chosen)]
        ELSE wr[w]]

\* Someone observes s's tree: a client waits on s for a write or a read,
\* or s leads and may be asked.  Elsewhere applying is invisible, so it is
\* postponed until then (a legal schedule: the caller applies at its pace).
Observed(s) ==
    \/ role[s] = Leader
    \/ \E w \in Writes : wr[w].state = "appended" /\ wr[w].srv = s
    \/ \E r \in Reads : rd[r].state = "confirmed" /\ rd[r].srv = s

\* The caller applies the next committed entry to the tree and answers the
\* write that waited for it.
Apply(s) ==
    /\ applied[s] < commitIndex[s]
    /\ Observed(s)
    /\ applied' = [applied EXCEPT ![s] = @ + 1]
    /\ wr' = AckWrite(s, applied[s] + 1)
    /\ UNCHANGED <<currentTerm, role, log, commitIndex, rd, chosen>>

(***************************************************************************)
(* Reads: ReadIndex.                                                       *)
(***************************************************************************)

InvokeRead(r) ==
    /\ rd[r].state = "idle"
    /\ rd' = [rd EXCEPT ![r].state = "invoked", ![r].inv = Len(chosen)]
    /\ UNCHANGED <<raftVars, wr, chosen>>

\* raft_read_index on s: refused unless s leads and has committed an entry
\* of its own term; the read index is the last index of s's log, not its
\* commit index: a follower may have committed entries past the latter
\* (LearnCommit), and every entry of the term is in the leader's log; a
\* heartbeat round carrying the read's sequence number goes out.
ReadIndex(r, s) ==
    /\ rd[r].state = "invoked"
    /\ role[s] = Leader
    /\ commitIndex[s] > 0 /\ log[s][commitIndex[s]].term = currentTerm[s]
    /\ rd' = [rd EXCEPT ![r] = [@ EXCEPT !.state = "pending", !.srv = s,
                                         !.idx = Len(log[s]), !.term = currentTerm[s],
                                         !.acks = {s}]]
    /\ UNCHANGED <<raftVars, wr, chosen>>

\* handle_heartbeat on t (it accepts the leader's term) and then
\* handle_heartbeat_resp + release_reads on the leader, still leading that
\* term: a quorum of acknowledgements confirms the read.
HeartbeatAck(r, t) ==
    /\ rd[r].state = "pending"
    /\ t \notin rd[r].acks
    /\ role[rd[r].srv] = Leader /\ currentTerm[rd[r].srv] = rd[r].term
    /\ currentTerm[t] <= rd[r].term
    /\ currentTerm' = [currentTerm EXCEPT ![t] = rd[r].term]
    /\ role' = [role EXCEPT ![t] = Follower]
    /\ LET acks == rd[r].acks \cup {t}
           rd1 == AbortReads({t})
       IN rd' = [rd1 EXCEPT ![r] = [@ EXCEPT !.acks = acks,
                     !.state = IF IsQuorum(acks) THEN "confirmed" ELSE "pending"]]
    /\ UNCHANGED <<log, commitIndex, applied, wr, chosen>>

\* cluster.c: a read state is served once applied >= its index, from the
\* local tree, whatever the role is by then.
ServeRead(r) ==
    /\ rd[r].state = "confirmed"
    /\ applied[rd[r].srv] >= rd[r].idx
    /\ rd' = [rd EXCEPT ![r] = [@ EXCEPT !.state = "done", !.resp = Len(chosen),
                                         !.val = ValueAt(log[rd[r].srv], applied[rd[r].srv])]]
    /\ UNCHANGED <<raftVars, wr, chosen>>

Next ==
    \/ \E s \in Server, Q \in SUBSET Server, T \in 1..MaxTerm : BecomeLeader(s, Q, T)
    \/ \E s, t \in Server : StepDown(s, t)
    \/ \E w \in Writes, s \in Server : ClientWrite(w, s)
    \/ \E s, t \in Server : Replicate(s, t)
    \/ \E s \in Server, i \in 1..MaxLog : AdvanceCommit(s, i) \/ LearnCommit(s, i)
    \/ \E s \in Server : Apply(s)
    \/ \E r \in Reads : InvokeRead(r) \/ ServeRead(r)
    \/ \E r \in Reads, s \in Server : ReadIndex(r, s) \/ HeartbeatAck(r, s)

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Properties.                                                             *)
(***************************************************************************)

\* Refinement of the sequential object: what any server has committed is a
\* prefix of chosen, and chosen only ever grows by appending.
CommittedPrefix == \A s \in Server : IsPrefix(Prefix(log[s], commitIndex[s]), chosen)

ChosenGrows == [][IsPrefix(chosen, chosen')]_vars

\* Every completed read returned the register's value at some point of its
\* interval; every acknowledged write took effect inside its interval.
Linearizable ==
    /\ \A r \in Reads : rd[r].state = "done" =>
           \E k \in rd[r].inv .. rd[r].resp : ValueAt(chosen, k) = rd[r].val
    /\ \A w \in Writes : wr[w].state = "acked" =>
           \E k \in 1..Len(chosen) :
               chosen[k].val = w /\ wr[w].inv < k /\ k <= wr[w].resp

=============================================================================
