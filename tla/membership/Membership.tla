----------------------------- MODULE Membership -----------------------------
(***************************************************************************)
(* Single-server membership changes in Raft with learners, as src/raft    *)
(* does them (Ongaro's dissertation §4.1 and §4.2.1, etcd's way of        *)
(* applying a change).                                                     *)
(*                                                                         *)
(* A configuration is a set of voters and a set of learners.  A change is *)
(* a log entry carrying one operation on one server, as struct            *)
(* raft_conf_change does: add a learner, add a voter, promote a learner,  *)
(* remove a voter or a learner.  A change takes effect when it is         *)
(* committed and applied, not when it is appended: a server's            *)
(* configuration is InitConf with the changes of its committed prefix     *)
(* applied in order (raft_apply_conf_change; a change that no longer      *)
(* makes sense at its turn is skipped, as the code skips a replay).  The  *)
(* leader proposes a change only when every change in its log is applied  *)
(* and it has committed an entry of its own term (pending_conf_index and  *)
(* the erratum of §4.1; with the no-op that opens each term the two       *)
(* conditions are the code's one test pending_conf_index <= applied).    *)
(* Learners receive entries but neither vote nor count towards a commit   *)
(* quorum; a leader that applies its own removal steps down.             *)
(*                                                                         *)
(* Abstractions: a vote request and its answer are one step, so is an    *)
(* AppendEntries and its answer (it carries the leader's first k entries  *)
(* and its commit index, clipped to k); a leader counts an entry as held  *)
(* by a follower when the follower's log has it; applied = committed      *)
(* (the application applies a committed entry before the next input).    *)
(* Only no-ops and configuration entries are written: client entries     *)
(* change nothing the membership argument depends on.  No pre-vote,       *)
(* check-quorum, leadership transfer or compaction: they restrict when    *)
(* elections happen or how entries travel, not which configurations     *)
(* count, so leaving them out only adds behaviours.                      *)
(*                                                                         *)
(* elected is a history variable: elected[t] is the set of servers that   *)
(* became leader in term t.  Nothing in the protocol reads it.            *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
    Server,      \* server ids
    InitVoters,  \* the founding voters; every other server starts outside
    MaxTerm,     \* terms run 0..MaxTerm
    MaxLog,      \* logs hold at most MaxLog entries
    Nil          \* "no vote", and the node of a no-op entry

ASSUME InitVoters \subseteq Server /\ Nil \notin Server

VARIABLES
    currentTerm,   \* currentTerm[s]
    role,          \* role[s]: "Follower", "Candidate" or "Leader"
    votedFor,      \* votedFor[s]: the candidate s voted for in currentTerm[s], or Nil
    votesGranted,  \* votesGranted[s]: servers that voted for candidate s
    log,           \* log[s]: sequence of [term, op, node] entries
    commitIndex,   \* commitIndex[s] (= applied index)
    elected        \* elected[t]: servers that won an election for term t

vars == <<currentTerm, role, votedFor, votesGranted, log, commitIndex, elected>>

\* ACTIONS: Timeout, RequestVote, BecomeLeader, ProposeConfChange, AppendEntries, AdvanceCommit, LeaderStepDown

Terms == 1..MaxTerm
\* enum raft_conf_op; "Noop" marks an entry that is not a change
Ops == {"AddLearner", "Promote", "Remove", "AddVoter"}
InitConf == [v |-> InitVoters, l |-> {}]
Noop(t) == [term |-> t, op |-> "Noop", node |-> Nil]

\* conf_change_valid (RAFT_MAX_MEMBERS is never reached here)
Valid(c, op, n) ==
    CASE op = "AddLearner" -> n \notin c.v \cup c.l
      [] op = "AddVoter"   -> n \notin c.v \cup c.l
      [] op = "Promote"    -> n \in c.l
      [] op = "Remove"     -> (n \in c.v /\ Cardinality(c.v) > 1) \/ n \in c.l
      [] OTHER             -> FALSE

\* raft_apply_conf_change
Apply(c, e) ==
    IF ~Valid(c, e.op, e.node) THEN c
    ELSE CASE e.op = "AddLearner" -> [c EXCEPT !.l = @ \cup {e.node}]
           [] e.op = "AddVoter"   -> [c EXCEPT !.v = @ \cup {e.node}]
           [] e.op = "Promote"    -> [v |-> c.v \cup {e.node}, l |-> c.l \ {e.node}]
           [] OTHER               -> [v |-> c.v \ {e.node}, l |-> c.l \ {e.node}]

\* The configuration after applying entries 1..n of lg.
RECURSIVE ConfUpTo(_, _)
ConfUpTo(lg, n) == IF n = 0 THEN InitConf ELSE Apply(ConfUpTo(lg, n - 1), lg[n])

Conf(s) == ConfUpTo(log[s], commitIndex[s])
Voters(s) == Conf(s).v
Members(s) == Conf(s).v \cup Conf(s).l

\* Q holds a majority of the voter set V.
IsQuorum(Q, V) == 2 * Cardinality(Q \cap V) > Cardinality(V)

LastTerm(lg) == IF Len(lg) = 0 THEN 0 ELSE lg[Len(lg)].term
\* i's log is at least as up-to-date as j's (§3.6.1)
UpToDate(i, j) == \/ LastTerm(log[i]) > LastTerm(log[j])
                  \/ /\ LastTerm(log[i]) = LastTerm(log[j])
                     /\ Len(log[i]) >= Len(log[j])

IsPrefix(a, b) == Len(a) <= Len(b) /\ SubSeq(b, 1, Len(a)) = a
Min(a, b) == IF a <= b THEN a ELSE b
Max(a, b) == IF a >= b THEN a ELSE b

Init ==
    /\ currentTerm = [s \in Server |-> 0]
    /\ role = [s \in Server |-> "Follower"]
    /\ votedFor = [s \in Server |-> Nil]
    /\ votesGranted = [s \in Server |-> {}]
    /\ log = [s \in Server |-> <<>>]
    /\ commitIndex = [s \in Server |-> 0]
    /\ elected = [t \in Terms |-> {}]

\* i learns of a higher term and becomes a follower (become_follower).
StepDownTo(i, t) ==
    /\ currentTerm' = [currentTerm EXCEPT ![i] = t]
    /\ role' = [role EXCEPT ![i] = "Follower"]
    /\ votedFor' = [votedFor EXCEPT ![i] = Nil]

\* Election timeout: only a voter of its own configuration campaigns (promotable).
Timeout(i) ==
    /\ role[i] # "Leader"
    /\ i \in Voters(i)
    /\ currentTerm[i] < MaxTerm
    /\ currentTerm' = [currentTerm EXCEPT ![i] = @ + 1]
    /\ role' = [role EXCEPT ![i] = "Candidate"]
    /\ votedFor' = [votedFor EXCEPT ![i] = i]
    /\ votesGranted' = [votesGranted EXCEPT ![i] = {i}]
    /\ UNCHANGED <<log, commitIndex, elected>>

\* Candidate i asks j, a voter of i's configuration (send_vote_requests);
\* j grants only if it is a voter of its own configuration.
RequestVote(i, j) ==
    /\ role[i] = "Candidate"
    /\ j \in Voters(i) \ ({i} \cup votesGranted[i])
    /\ IF currentTerm[j] > currentTerm[i]
       THEN /\ StepDownTo(i, currentTerm[j])
            /\ UNCHANGED <<votesGranted, log, commitIndex, elected>>
       ELSE LET newer == currentTerm[j] < currentTerm[i]
                grant == /\ newer \/ votedFor[j] \in {Nil, i}
                         /\ UpToDate(i, j)
                         /\ j \in Voters(j)
            IN /\ currentTerm' = [currentTerm EXCEPT ![j] = currentTerm[i]]
               /\ role' = IF newer THEN [role EXCEPT ![j] = "Follower"] ELSE role
               /\ votedFor' = [votedFor EXCEPT ![j] = IF grant THEN i
                                                      ELSE IF newer THEN Nil ELSE @]
               /\ votesGranted' = IF grant THEN [votesGranted EXCEPT ![i] = @ \cup {j}]
                                  ELSE votesGranted
               /\ UNCHANGED <<log, commitIndex, elected>>

\* A majority of i's voters granted (record_vote): i leads and appends a
\* no-op of its term (become_leader).
BecomeLeader(i) ==
    /\ role[i] = "Candidate"
    /\ IsQuorum(votesGranted[i], Voters(i))
    /\ role' = [role EXCEPT ![i] = "Leader"]
    /\ log' = IF Len(log[i]) < MaxLog
              THEN [log EXCEPT ![i] = Append(@, Noop(currentTerm[i]))]
              ELSE log
    /\ elected' = [elected EXCEPT ![currentTerm[i]] = @ \cup {i}]
    /\ UNCHANGED <<currentTerm, votedFor, votesGranted, commitIndex>>

\* A leader that has not applied its own removal (the code steps down in
\* the same call that applies it; LeaderStepDown is that second half).
Leading(i) == role[i] = "Leader" /\ i \in Voters(i)

\* pending_conf_index <= applied: no change of i's log is unapplied ...
NoPendingConf(i) == \A k \in commitIndex[i]+1..Len(log[i]) : log[i][k].op = "Noop"
\* ... and the no-op of this term is committed (term_at(commit) == term).
OwnTermCommitted(i) == commitIndex[i] > 0 /\ log[i][commitIndex[i]].term = currentTerm[i]

\* raft_propose_conf_change: validated against the applied configuration.
ProposeConfChange(i, op, n) ==
    /\ Leading(i)
    /\ Len(log[i]) < MaxLog
    /\ NoPendingConf(i)
    /\ OwnTermCommitted(i)
    /\ Valid(Conf(i), op, n)
    /\ log' = [log EXCEPT ![i] = Append(@, [term |-> currentTerm[i], op |-> op, node |-> n])]
    /\ UNCHANGED <<currentTerm, role, votedFor, votesGranted, commitIndex, elected>>

\* Leader i sends its first k entries and its commit index to j, a member
\* of its applied configuration (its progress set).  A follower keeps its
\* log if those entries are already a prefix of it (nothing conflicts),
\* else it truncates at the conflict and takes them (§3.5).
AppendEntries(i, j, k) ==
    /\ Leading(i)
    /\ j \in Members(i) \ {i}
    /\ k \in 0..Len(log[i])
    /\ IF currentTerm[j] > currentTerm[i]
       THEN /\ StepDownTo(i, currentTerm[j])
            /\ UNCHANGED <<votesGranted, log, commitIndex, elected>>
       ELSE LET ents == SubSeq(log[i], 1, k)
                newLog == IF IsPrefix(ents, log[j]) THEN log[j] ELSE ents
            IN /\ currentTerm' = [currentTerm EXCEPT ![j] = currentTerm[i]]
               /\ role' = [role EXCEPT ![j] = "Follower"]
               /\ votedFor' = IF currentTerm[j] < currentTerm[i]
                              THEN [votedFor EXCEPT ![j] = Nil] ELSE votedFor
               /\ log' = [log EXCEPT ![j] = newLog]
               /\ commitIndex' = [commitIndex EXCEPT ![j] =
                                     Max(@, Min(commitIndex[i], k))]
               /\ UNCHANGED <<votesGranted, elected>>

\* maybe_commit: the largest index of the current term that a majority of the
\* leader's applied voters hold (the leader itself counts only if it is a voter).
Holds(j, i, n) == Len(log[j]) >= n /\ log[j][n] = log[i][n]
CommitOK(i, n) == /\ log[i][n].term = currentTerm[i]
                  /\ IsQuorum({j \in Server : Holds(j, i, n)}, Voters(i))
AdvanceCommit(i) ==
    /\ Leading(i)
    /\ \E n \in commitIndex[i]+1..Len(log[i]) : CommitOK(i, n)
    /\ commitIndex' = [commitIndex EXCEPT ![i] =
          CHOOSE n \in commitIndex[i]+1..Len(log[i]) :
              CommitOK(i, n) /\ \A m \in n+1..Len(log[i]) : ~CommitOK(i, m)]
    /\ UNCHANGED <<currentTerm, role, votedFor, votesGranted, log, elected>>

\* A leader that applied its own removal becomes a follower.
LeaderStepDown(i) ==
    /\ role[i] = "Leader"
    /\ i \notin Voters(i)
    /\ role' = [role EXCEPT ![i] = "Follower"]
    /\ UNCHANGED <<currentTerm, votedFor, votesGranted, log, commitIndex, elected>>

Next ==
    \/ \E i \in Server : Timeout(i) \/ BecomeLeader(i) \/ AdvanceCommit(i) \/ LeaderStepDown(i)
    \/ \E i, j \in Server : RequestVote(i, j)
    \/ \E i, n \in Server : \E op \in Ops : ProposeConfChange(i, op, n)
    \/ \E i, j \in Server : \E k \in 0..MaxLog : AppendEntries(i, j, k)

Spec == Init /\ [][Next]_vars

-----------------------------------------------------------------------------
\* At most one leader per term, over the whole run.
ElectionSafety == \A t \in Terms : Cardinality(elected[t]) <= 1

\* Every majority of a configuration meets every majority of the one after
\* it, for each pair of consecutive configurations of every log.
Quorums(V) == {Q \in SUBSET V : IsQuorum(Q, V)}
Intersect(a, b) == \A q1 \in Quorums(a.v), q2 \in Quorums(b.v) : q1 \cap q2 # {}
QuorumsIntersect ==
    \A s \in Server : \A k \in 1..Len(log[s]) :
        log[s][k].op # "Noop" => Intersect(ConfUpTo(log[s], k - 1), ConfUpTo(log[s], k))

\* What one server applied, every other server applied too or will: two
\* committed prefixes never differ (§3.6.3, State Machine Safety).
CommittedAgree ==
    \A s, t \in Server : \A k \in 1..Min(commitIndex[s], commitIndex[t]) :
        log[s][k] = log[t][k]

TypeOK ==
    /\ currentTerm \in [Server -> 0..MaxTerm]
    /\ role \in [Server -> {"Follower", "Candidate", "Leader"}]
    /\ votedFor \in [Server -> Server \cup {Nil}]
    /\ votesGranted \in [Server -> SUBSET Server]
    /\ commitIndex \in [Server -> 0..MaxLog]
    /\ \A s \in Server : /\ Len(log[s]) <= MaxLog
                         /\ commitIndex[s] <= Len(log[s])
                         /\ \A k \in 1..Len(log[s]) :
                               /\ log[s][k].term \in Terms
                               /\ log[s][k].op \in Ops \cup {"Noop"}
                               /\ log[s][k].node \in Server \cup {Nil}
    /\ elected \in [Terms -> SUBSET Server]
=============================================================================
