-------------------------------- MODULE Raft --------------------------------
(***************************************************************************)
(* Raft (Ongaro's dissertation, chapter 3, with pre-vote from 9.6) as the  *)
(* core in src/raft implements it: elections preceded by a pre-vote round, *)
(* log replication one entry per AppendEntries, commitment of entries of   *)
(* the leader's own term by a quorum of matches (by the leader, and by a  *)
(* follower that reads its peers' acknowledgements), crash and restart that*)
(* keep only the durable state, and a network that loses, duplicates and   *)
(* reorders messages.                                                      *)
(*                                                                         *)
(* Abstractions.  A log entry is its term (two entries with the same index *)
(* and term are the same entry).  The network is a set of messages: a      *)
(* delivered message stays in the set, so it can be delivered again       *)
(* (duplication) and in any order; DropMessage loses one.  At most MaxMsgs *)
(* messages are in flight; a send to a full network is lost.  A leader     *)
(* sends AppendEntries from any index of its log (the nextIndex probing    *)
(* of send_append is one of those choices), so refusals need no answer and *)
(* are not modelled.  Appending to the log is durable at once (the core    *)
(* hands entries to storage before it sends; a leader counts only its      *)
(* persisted entries).  The lease checks of raft_step (in_lease, a known   *)
(* leader) only refuse votes; leaving them out gives the model more        *)
(* behaviours, so its safety covers the implementation's.  Membership is   *)
(* fixed here (see tla/membership).                                        *)
(*                                                                         *)
(* elected and committed are history variables read only by invariants.  *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets, TLC

CONSTANTS
    Server,    \* server ids
    MaxTerm,   \* no election is started beyond this term
    MaxLog,    \* logs hold at most MaxLog entries
    MaxMsgs,   \* messages in flight at most
    Nil        \* "no vote"

ASSUME Nil \notin Server /\ MaxTerm \in Nat /\ MaxLog \in Nat /\ MaxMsgs \in Nat

VARIABLES
    \* durable (struct raft_hard_state and the log)
    currentTerm,   \* currentTerm[s]: hard.term
    votedFor,      \* votedFor[s]: hard.vote
    log,           \* log[s]: a sequence of entry terms
    commitIndex,   \* commitIndex[s]: hard.commit
    \* volatile
    role,          \* role[s]: raft_role()
    votesGranted,  \* votesGranted[s]: the (pre-)votes of the current campaign
    matchIndex,    \* matchIndex[s][t]: progress.match of t at leader s
    \* network
    messages,      \* the set of messages in flight
    \* history
    elected,       \* {<<term, server>>: server became leader in term}
    committed      \* {[index, term, by]: a leader of term `by` committed entry (index, term)}

vars == <<currentTerm, votedFor, log, commitIndex, role, votesGranted,
          matchIndex, messages, elected, committed>>

\* ACTIONS: Timeout, RequestPreVote, RequestVote, ClientRequest, AppendEntries, AdvanceCommitIndex, HandlePreVote, HandlePreVoteResponse, HandleVote, HandleVoteResponse, HandleAppendEntries, HandleAppendEntriesResponse, LeaderAck, LearnCommit, Restart, DropMessage

Follower == "Follower"
PreCandidate == "PreCandidate"
Candidate == "Candidate"
Leader == "Leader"

\* raft_msg_type
MsgPreVote == "PreVote"
MsgPreVoteResp == "PreVoteResp"
MsgVote == "Vote"
MsgVoteResp == "VoteResp"
MsgApp == "App"
MsgAppResp == "AppResp"

Max(a, b) == IF a >= b THEN a ELSE b
Min(a, b) == IF a <= b THEN a ELSE b
IsQuorum(S) == 2 * Cardinality(S) > Cardinality(Server)
LastTerm(lg) == IF Len(lg) = 0 THEN 0 ELSE lg[Len(lg)]
TermAt(lg, i) == IF i = 0 THEN 0 ELSE lg[i]

(***************************************************************************)
(* Messages mirror struct raft_msg: index and logTerm are its index and   *)
(* log_term (a vote request: the candidate's last entry; an append: the   *)
(* entry before the one carried; an append response: the match), entry is *)
(* the term of the one entry carried (0: none, a heartbeat).              *)
(***************************************************************************)
Msg(type, from, to, term, index, logTerm, entry, commit) ==
    [type |-> type, from |-> from, to |-> to, term |-> term,
     index |-> index, logTerm |-> logTerm, entry |-> entry, commit |-> commit]

Send(m) ==
    messages' = IF m \in messages \/ Cardinality(messages) < MaxMsgs
                THEN messages \cup {m} ELSE messages

\* a candidate's last entry (lt, li) is at least as up to date as s's log
UpToDate(s, lt, li) ==
    lt > LastTerm(log[s]) \/ (lt = LastTerm(log[s]) /\ li >= Len(log[s]))

Init ==
    /\ currentTerm = [s \in Server |-> 0]
    /\ votedFor = [s \in Server |-> Nil]
    /\ log = [s \in Server |-> <<>>]
    /\ commitIndex = [s \in Server |-> 0]
    /\ role = [s \in Server |-> Follower]
    /\ votesGranted = [s \in Server |-> {}]
    /\ matchIndex = [s \in Server |-> [t \in Server |-> 0]]
    /\ messages = {}
    /\ elected = {}
    /\ committed = {}

(***************************************************************************)
(* Elections: campaign(), record_vote(), become_leader().                 *)
(***************************************************************************)

\* The election timer fires: campaign(pre = true).  Nothing durable changes.
Timeout(s) ==
    /\ role[s] # Leader
    /\ currentTerm[s] < MaxTerm
    /\ role' = [role EXCEPT ![s] = PreCandidate]
    /\ votesGranted' = [votesGranted EXCEPT ![s] = {s}]
    /\ UNCHANGED <<currentTerm, votedFor, log, commitIndex, matchIndex,
                   messages, elected, committed>>

\* send_vote_requests(RAFT_MSG_PRE_VOTE) to t, for the term s would campaign in
RequestPreVote(s, t) ==
    /\ role[s] = PreCandidate
    /\ t # s
    /\ Send(Msg(MsgPreVote, s, t, currentTerm[s] + 1, Len(log[s]), LastTerm(log[s]), 0, 0))
    /\ UNCHANGED <<currentTerm, votedFor, log, commitIndex, role, votesGranted,
                   matchIndex, elected, committed>>

\* send_vote_requests(RAFT_MSG_VOTE) to t
RequestVote(s, t) ==
    /\ role[s] = Candidate
    /\ t # s
    /\ Send(Msg(MsgVote, s, t, currentTerm[s], Len(log[s]), LastTerm(log[s]), 0, 0))
    /\ UNCHANGED <<currentTerm, votedFor, log, commitIndex, role, votesGranted,
                   matchIndex, elected, committed>>

\* become_leader: the no-op of the new term lets the leader commit what
\* earlier terms left.  (With a full log the model has no room for it.)
BecomeLeader(s) ==
    /\ role' = [role EXCEPT ![s] = Leader]
    /\ votesGranted' = [votesGranted EXCEPT ![s] = {}]
    /\ matchIndex' = [matchIndex EXCEPT ![s] = [t \in Server |-> 0]]
    /\ log' = IF Len(log[s]) < MaxLog
              THEN [log EXCEPT ![s] = Append(@, currentTerm[s])] ELSE log
    /\ elected' = elected \cup {<<currentTerm[s], s>>}

(***************************************************************************)
(* Leader: raft_propose(), send_append(), maybe_commit().                 *)
(***************************************************************************)

ClientRequest(s) ==
    /\ role[s] = Leader
    /\ Len(log[s]) < MaxLog
    /\ log' = [log EXCEPT ![s] = Append(@, currentTerm[s])]
    /\ UNCHANGED <<currentTerm, votedFor, commitIndex, role, votesGranted,
                   matchIndex, messages, elected, committed>>

\* send_append to t with the entry after index i (none if i is the last).
\* The commit index sent is capped at the last index the message covers: the
\* follower caps it there anyway, and fewer distinct messages keep the model
\* small.
AppendEntries(s, t, i) ==
    LET entry == IF i < Len(log[s]) THEN log[s][i + 1] ELSE 0
        lastNew == IF entry = 0 THEN i ELSE i + 1
    IN
    /\ role[s] = Leader
    /\ t # s
    /\ i \in 0..Len(log[s])
    /\ Send(Msg(MsgApp, s, t, currentTerm[s], i, TermAt(log[s], i), entry,
                Min(commitIndex[s], lastNew)))
    /\ UNCHANGED <<currentTerm, votedFor, log, commitIndex, role, votesGranted,
                   matchIndex, elected, committed>>

\* maybe_commit: the highest index a quorum holds, if it is of this term
\* (a leader counts itself by its own log).
Agreed(s, i) == IsQuorum({s} \cup {t \in Server : matchIndex[s][t] >= i})
CommitCandidates(s) ==
    {i \in (commitIndex[s] + 1)..Len(log[s]) :
        Agreed(s, i) /\ log[s][i] = currentTerm[s]}

AdvanceCommitIndex(s) ==
    /\ role[s] = Leader
    /\ CommitCandidates(s) # {}
    /\ LET new == CHOOSE i \in CommitCandidates(s) :
                      \A j \in CommitCandidates(s) : j <= i
       IN /\ commitIndex' = [commitIndex EXCEPT ![s] = new]
          /\ committed' = committed \cup
                {[index |-> k, term |-> log[s][k], by |-> currentTerm[s]] :
                    k \in (commitIndex[s] + 1)..new}
    /\ UNCHANGED <<currentTerm, votedFor, log, role, votesGranted,
                   matchIndex, messages, elected>>

(***************************************************************************)
(* Receiving: raft_step().  A message of a higher term first makes the    *)
(* receiver a follower of that term, except a pre-vote request and a      *)
(* granted pre-vote answer, which change no term.  A message of a lower   *)
(* term changes nothing.                                                   *)
(***************************************************************************)

\* The receiver's term and role after the term check of raft_step.
TermAfter(m) ==
    IF m.term > currentTerm[m.to] /\ m.type \notin {MsgPreVote, MsgPreVoteResp}
    THEN m.term ELSE currentTerm[m.to]
Bumped(m) == TermAfter(m) # currentTerm[m.to]

UpdateTerm(m) ==
    /\ currentTerm' = [currentTerm EXCEPT ![m.to] = TermAfter(m)]
    /\ votedFor' = IF Bumped(m) THEN [votedFor EXCEPT ![m.to] = Nil] ELSE votedFor

\* The pre-vote is granted to a higher term and an up-to-date log; the
\* voter remembers nothing of it.
HandlePreVote(m) ==
    LET v == m.to IN
    /\ m.type = MsgPreVote
    /\ IF m.term > currentTerm[v] /\ UpToDate(v, m.logTerm, m.index)
       THEN Send(Msg(MsgPreVoteResp, v, m.from, m.term, 0, 0, 0, 0))
       ELSE UNCHANGED messages
    /\ UNCHANGED <<currentTerm, votedFor, log, commitIndex, role, votesGranted,
                   matchIndex, elected, committed>>

\* A quorum of pre-votes: campaign(pre = false).
HandlePreVoteResponse(m) ==
    LET s == m.from IN LET c == m.to IN
    /\ m.type = MsgPreVoteResp
    /\ IF role[c] = PreCandidate /\ m.term = currentTerm[c] + 1
       THEN LET granted == votesGranted[c] \cup {s} IN
            IF IsQuorum(granted)
            THEN /\ currentTerm' = [currentTerm EXCEPT ![c] = @ + 1]
                 /\ votedFor' = [votedFor EXCEPT ![c] = c]
                 /\ role' = [role EXCEPT ![c] = Candidate]
                 /\ votesGranted' = [votesGranted EXCEPT ![c] = {c}]
            ELSE /\ votesGranted' = [votesGranted EXCEPT ![c] = granted]
                 /\ UNCHANGED <<currentTerm, votedFor, role>>
       ELSE UNCHANGED <<currentTerm, votedFor, role, votesGranted>>
    /\ UNCHANGED <<log, commitIndex, matchIndex, messages, elected, committed>>

HandleVote(m) ==
    LET v == m.to
        term == TermAfter(m)
        free == IF Bumped(m) THEN Nil ELSE votedFor[v]
        grant == /\ m.term = term
                 /\ free \in {Nil, m.from}
                 /\ UpToDate(v, m.logTerm, m.index)
    IN
    /\ m.type = MsgVote
    /\ currentTerm' = [currentTerm EXCEPT ![v] = term]
    /\ votedFor' = [votedFor EXCEPT ![v] = IF grant THEN m.from ELSE free]
    /\ IF grant THEN Send(Msg(MsgVoteResp, v, m.from, term, 0, 0, 0, 0))
                ELSE UNCHANGED messages
    /\ IF Bumped(m)
       THEN /\ role' = [role EXCEPT ![v] = Follower]
            /\ votesGranted' = [votesGranted EXCEPT ![v] = {}]
            /\ matchIndex' = [matchIndex EXCEPT ![v] = [t \in Server |-> 0]]
       ELSE UNCHANGED <<role, votesGranted, matchIndex>>
    /\ UNCHANGED <<log, commitIndex, elected, committed>>

HandleVoteResponse(m) ==
    LET c == m.to IN
    /\ m.type = MsgVoteResp
    /\ IF role[c] = Candidate /\ m.term = currentTerm[c]
       THEN LET granted == votesGranted[c] \cup {m.from} IN
            IF IsQuorum(granted)
            THEN BecomeLeader(c)
            ELSE /\ votesGranted' = [votesGranted EXCEPT ![c] = granted]
                 /\ UNCHANGED <<role, matchIndex, log, elected>>
       ELSE IF Bumped(m)
       THEN /\ role' = [role EXCEPT ![c] = Follower]
            /\ votesGranted' = [votesGranted EXCEPT ![c] = {}]
            /\ matchIndex' = [matchIndex EXCEPT ![c] = [t \in Server |-> 0]]
            /\ UNCHANGED <<log, elected>>
       ELSE UNCHANGED <<role, votesGranted, matchIndex, log, elected>>
    /\ UpdateTerm(m)
    /\ UNCHANGED <<commitIndex, messages, committed>>

\* handle_append: skip what matches, truncate at the first conflict, append
\* the rest; the commit index follows the leader's, up to what was checked.
HandleAppendEntries(m) ==
    LET v == m.to
        lg == log[v]
        logOk == m.index <= Len(lg) /\ TermAt(lg, m.index) = m.logTerm
        newLog == IF m.entry = 0 \/ (m.index < Len(lg) /\ lg[m.index + 1] = m.entry)
                  THEN lg
                  ELSE Append(SubSeq(lg, 1, m.index), m.entry)
        lastNew == m.index + (IF m.entry = 0 THEN 0 ELSE 1)
    IN
    /\ m.type = MsgApp
    /\ UpdateTerm(m)
    /\ IF m.term = TermAfter(m)
       THEN /\ role' = [role EXCEPT ![v] = Follower]
            /\ votesGranted' = [votesGranted EXCEPT ![v] = {}]
            /\ matchIndex' = [matchIndex EXCEPT ![v] = [t \in Server |-> 0]]
            /\ IF m.index < commitIndex[v]
               THEN \* already committed here: say so
                    /\ Send(Msg(MsgAppResp, v, m.from, m.term, commitIndex[v], 0, 0, 0))
                    /\ UNCHANGED <<log, commitIndex>>
               ELSE IF logOk
               THEN /\ log' = [log EXCEPT ![v] = newLog]
                    /\ commitIndex' = [commitIndex EXCEPT ![v] =
                                          Max(@, Min(m.commit, lastNew))]
                    /\ Send(Msg(MsgAppResp, v, m.from, m.term, lastNew, 0, 0, 0))
               ELSE UNCHANGED <<log, commitIndex, messages>>
       ELSE UNCHANGED <<role, votesGranted, matchIndex, log, commitIndex, messages>>
    /\ UNCHANGED <<elected, committed>>

HandleAppendEntriesResponse(m) ==
    LET s == m.to IN
    /\ m.type = MsgAppResp
    /\ IF role[s] = Leader /\ m.term = currentTerm[s]
       THEN /\ matchIndex' = [matchIndex EXCEPT ![s][m.from] = Max(@, m.index)]
            /\ UNCHANGED <<role, votesGranted>>
       ELSE IF Bumped(m)
       THEN /\ role' = [role EXCEPT ![s] = Follower]
            /\ votesGranted' = [votesGranted EXCEPT ![s] = {}]
            /\ matchIndex' = [matchIndex EXCEPT ![s] = [t \in Server |-> 0]]
       ELSE UNCHANGED <<role, votesGranted, matchIndex>>
    /\ UpdateTerm(m)
    /\ UNCHANGED <<log, commitIndex, messages, elected, committed>>

\* raft_persisted on a leader: its own log is durable up to its last index
\* (at once, here), and it acknowledges that to follower t as a follower
\* acknowledges an append.
LeaderAck(s, t) ==
    /\ role[s] = Leader
    /\ t # s
    /\ Send(Msg(MsgAppResp, s, t, currentTerm[s], Len(log[s]), 0, 0, 0))
    /\ UNCHANGED <<currentTerm, votedFor, log, commitIndex, role, votesGranted,
                   matchIndex, elected, committed>>

\* learn_commit: follower s reads peer p's acknowledgement of s's own term
\* (acknowledge() sends s a copy of p's answer to the leader: the same
\* message, read by another server, as long as it is in the network; or
\* the leader's own, LeaderAck) and commits what s and p both hold if they
\* are a quorum: an entry of the term at index i is the term's leader's
\* entry i, and two logs that share it share what precedes it.  (The
\* implementation counts every peer it heard from in the term; with three
\* servers one peer makes a quorum.)  Acknowledgements of another term are
\* dropped, unread.
LearnCommit(s, m) ==
    LET c == Min(m.index, Len(log[s])) IN
    /\ m.type = MsgAppResp
    /\ m.from # s
    /\ role[s] = Follower
    /\ m.term = currentTerm[s]
    /\ IsQuorum({s, m.from})
    /\ c > commitIndex[s]
    /\ log[s][c] = currentTerm[s]
    /\ commitIndex' = [commitIndex EXCEPT ![s] = c]
    /\ committed' = committed \cup
          {[index |-> k, term |-> log[s][k], by |-> currentTerm[s]] :
              k \in (commitIndex[s] + 1)..c}
    /\ UNCHANGED <<currentTerm, votedFor, log, role, votesGranted,
                   matchIndex, messages, elected>>

(***************************************************************************)
(* Faults.                                                                 *)
(***************************************************************************)

\* Crash and restart: raft_create from struct raft_restore.
Restart(s) ==
    /\ role' = [role EXCEPT ![s] = Follower]
    /\ votesGranted' = [votesGranted EXCEPT ![s] = {}]
    /\ matchIndex' = [matchIndex EXCEPT ![s] = [t \in Server |-> 0]]
    /\ UNCHANGED <<currentTerm, votedFor, log, commitIndex, messages, elected, committed>>

DropMessage(m) ==
    /\ messages' = messages \ {m}
    /\ UNCHANGED <<currentTerm, votedFor, log, commitIndex, role, votesGranted,
                   matchIndex, elected, committed>>

Receive(m) ==
    \/ HandlePreVote(m)
    \/ HandlePreVoteResponse(m)
    \/ HandleVote(m)
    \/ HandleVoteResponse(m)
    \/ HandleAppendEntries(m)
    \/ HandleAppendEntriesResponse(m)

Next ==
    \/ \E s \in Server :
        \/ Timeout(s)
        \/ ClientRequest(s)
        \/ AdvanceCommitIndex(s)
        \/ Restart(s)
        \/ \E t \in Server :
            \/ RequestPreVote(s, t)
            \/ RequestVote(s, t)
            \/ \E i \in 0..MaxLog : AppendEntries(s, t, i)
            \/ LeaderAck(s, t)
    \/ \E m \in messages : Receive(m) \/ DropMessage(m)
    \/ \E s \in Server, m \in messages : LearnCommit(s, m)

Spec == Init /\ [][Next]_vars

\* Servers are interchangeable: TLC may check one state of each permutation.
Symmetry == Permutations(Server)

(***************************************************************************)
(* Invariants.                                                             *)
(***************************************************************************)

TypeOK ==
    /\ currentTerm \in [Server -> 0..MaxTerm]
    /\ votedFor \in [Server -> Server \cup {Nil}]
    /\ \A s \in Server : Len(log[s]) <= MaxLog /\ \A i \in 1..Len(log[s]) : log[s][i] \in 1..MaxTerm
    /\ \A s \in Server : commitIndex[s] <= Len(log[s])
    /\ role \in [Server -> {Follower, PreCandidate, Candidate, Leader}]
    /\ votesGranted \in [Server -> SUBSET Server]
    /\ Cardinality(messages) <= MaxMsgs

\* At most one leader per term, ever.
ElectionSafety ==
    \A e, f \in elected : e[1] = f[1] => e[2] = f[2]

\* Two logs with an entry of the same index and term agree up to it.
LogMatching ==
    \A s, t \in Server : \A i \in 1..Min(Len(log[s]), Len(log[t])) :
        log[s][i] = log[t][i] => SubSeq(log[s], 1, i) = SubSeq(log[t], 1, i)

\* A committed entry is in the log of every leader of its term or a later one.
LeaderCompleteness ==
    \A s \in Server : \A c \in committed :
        role[s] = Leader /\ currentTerm[s] >= c.by =>
            Len(log[s]) >= c.index /\ log[s][c.index] = c.term

\* One entry per committed index, and what a server has applied (its log up
\* to its commit index) is exactly what was committed.
StateMachineSafety ==
    /\ \A c, d \in committed : c.index = d.index => c.term = d.term
    /\ \A s \in Server : \A i \in 1..commitIndex[s] :
           \E c \in committed : c.index = i /\ c.term = log[s][i]

\* Committed entries are durable on a quorum: no crash can lose them.
CommittedOnQuorum ==
    \A c \in committed :
        IsQuorum({s \in Server : Len(log[s]) >= c.index /\ log[s][c.index] = c.term})

\* A leader only appends to its log while its term lasts.
LeaderAppendOnly ==
    [][\A s \in Server :
          (role[s] = Leader /\ role'[s] = Leader /\ currentTerm'[s] = currentTerm[s])
              => SubSeq(log'[s], 1, Len(log[s])) = log[s]]_vars

=============================================================================
