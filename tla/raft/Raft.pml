/*
 * Raft.pml: the spin twin of Raft.tla, with its variable, action and
 * invariant names.  Every action is one d_step, so one step of pan is one
 * step of the TLA+ Next; a monitor process evaluates the state invariants in
 * every state, and the steps that could break LeaderAppendOnly or the
 * one-entry-per-index half of StateMachineSafety assert them as they go.
 * Servers are 0..N-1 here ({s1, s2, s3} in Raft.cfg), NIL is "no vote".
 *
 * The network is a set: messages[] is kept sorted and without duplicates so
 * that a set has one representation.  A delivered message stays (it may be
 * delivered again); DropMessage loses one; a send to a full set is lost.
 *
 * Mutants (mutants/ *.pml) #define one MUTANT_* flag and include this file.
 */

#ifndef N
#define N 3
#endif
#ifndef MAXTERM
#define MAXTERM 2        /* MaxTerm */
#endif
#ifndef MAXLOG
#define MAXLOG 2         /* MaxLog */
#endif
#ifndef MAXMSG
#define MAXMSG 2         /* MaxMsgs */
#endif
#define NIL N

/* role */
#define Follower     0
#define PreCandidate 1
#define Candidate    2
#define Leader       3

/* raft_msg_type */
#define MsgPreVote     1
#define MsgPreVoteResp 2
#define MsgVote        3
#define MsgVoteResp    4
#define MsgApp         5
#define MsgAppResp     6

/* A message packed into an int (fields of struct raft_msg):
 * type:3 from:2 to:2 term:3 index:3 logTerm:3 entry:3 commit:3 */
#define Msg(ty, fr, to, tm, ix, lt, en, cm) \
    ((ty) | ((fr) << 3) | ((to) << 5) | ((tm) << 7) | ((ix) << 10) | ((lt) << 13) | ((en) << 16) | ((cm) << 19))
#define MTYPE(m)    ((m) & 7)
#define MFROM(m)    (((m) >> 3) & 3)
#define MTO(m)      (((m) >> 5) & 3)
#define MTERM(m)    (((m) >> 7) & 7)
#define MINDEX(m)   (((m) >> 10) & 7)
#define MLOGTERM(m) (((m) >> 13) & 7)
#define MENTRY(m)   (((m) >> 16) & 7)
#define MCOMMIT(m)  (((m) >> 19) & 7)

typedef Log { byte size; byte at[MAXLOG] };  /* entry i (1-based) has term at[i-1] */
typedef Row { byte at[N] };
typedef Commit { byte term; byte by };      /* term of committed entry; lowest term of a leader that committed it */

/* ---- VARIABLES ---- */
byte currentTerm[N];
byte votedFor[N];
Log log[N];
byte commitIndex[N];
byte role[N];
byte votesGranted[N];       /* bit set of servers */
Row matchIndex[N];
int messages[MAXMSG];       /* sorted descending, 0 = free slot */
byte elected[MAXTERM + 1];  /* elected[t]: bit set of the servers that became leader in term t */
Commit committed[MAXLOG];   /* committed[i-1]: the entry committed at index i (term 0: none) */

/* scratch: not part of the state */
hidden int m;
hidden byte i, j, k, votes, nw, tm, v, c, lastNew, logOk;   /* used within one step only */
hidden byte prevRole, prevTerm, prevLen;
hidden byte LeaderAppendOnly_holds;
hidden byte prevAt[MAXLOG];

#define BIT(s)          (1 << (s))
#define IsQuorum(set)   (2 * ((((set) >> 0) & 1) + (((set) >> 1) & 1) + (((set) >> 2) & 1)) > N)
#define TermAt(s, idx)  ((idx) == 0 -> 0 : log[s].at[(idx) - 1])
#define LastTerm(s)     TermAt(s, log[s].size)
#define UpToDate(s, lt, li) ((lt) > LastTerm(s) || ((lt) == LastTerm(s) && (li) >= log[s].size))
#define Max(a, b)       ((a) >= (b) -> (a) : (b))
#define Min(a, b)       ((a) <= (b) -> (a) : (b))

/* ---- the network ---- */
inline Send(x) {
    k = 0;
    do
    :: k < MAXMSG && messages[k] > (x) -> k++
    :: else -> break
    od;
    if
    :: k < MAXMSG && messages[k] == (x) -> skip          /* already in the set */
    :: else ->
        if
        :: messages[MAXMSG - 1] == 0 ->
            j = MAXMSG - 1;
            do
            :: j > k -> messages[j] = messages[j - 1]; j--
            :: else -> break
            od;
            messages[k] = (x)
        :: else -> skip                                   /* full: lost */
        fi
    fi
}

inline DropMessage(slot) {
    k = slot;
    do
    :: k < MAXMSG - 1 -> messages[k] = messages[k + 1]; k++
    :: else -> break
    od;
    messages[MAXMSG - 1] = 0
}

/* ---- invariants ----
 * State invariants are expressions, unrolled for N = 3 and MAXLOG <= 2, so
 * that the monitor process evaluates them once per state. */

#if N != 3 || MAXLOG > 2 || MAXTERM > 4
#error "the unrolled invariants below are written for N = 3, MAXLOG <= 2, MAXTERM <= 4"
#endif

#define FOR_S(P)        (P(0) && P(1) && P(2))
#define FOR_J(P, s)     (P(s, 0) && P(s, 1))
#define FOR_SJ(P)       (FOR_J(P, 0) && FOR_J(P, 1) && FOR_J(P, 2))
#define AT(s, j)        (j < MAXLOG -> log[s].at[j] : 0)   /* 0 beyond the model's log */
#define HasEntry(s, j, tm) (log[s].size > j && AT(s, j) == (tm))

#define ServerTypeOK(s) (currentTerm[s] <= MAXTERM && votedFor[s] <= NIL && log[s].size <= MAXLOG && \
                         commitIndex[s] <= log[s].size && role[s] <= Leader && votesGranted[s] < 8 && \
                         (log[s].size < 1 || (AT(s, 0) >= 1 && AT(s, 0) <= MAXTERM)) && \
                         (log[s].size < 2 || (AT(s, 1) >= 1 && AT(s, 1) <= MAXTERM)))
#define TypeOK_now          FOR_S(ServerTypeOK)

#define OneLeader(t)    ((elected[t] & (elected[t] - 1)) == 0)
#define ElectionSafety_now  (OneLeader(1) && OneLeader(2) && (MAXTERM < 3 || OneLeader(3)) && \
                         (MAXTERM < 4 || OneLeader(4)))

/* entries of the same index and term: the logs agree up to there (with two
 * entries at most, only index 2 needs its predecessor compared) */
#define PairMatches(a, b) (!(log[a].size >= 2 && log[b].size >= 2 && AT(a, 1) == AT(b, 1)) || AT(a, 0) == AT(b, 0))
#define LogMatching_now     (MAXLOG < 2 || (PairMatches(0, 1) && PairMatches(0, 2) && PairMatches(1, 2)))

#define Complete(s, j)  (j >= MAXLOG || committed[j].term == 0 || role[s] != Leader || \
                         currentTerm[s] < committed[j].by || HasEntry(s, j, committed[j].term))
#define LeaderCompleteness_now FOR_SJ(Complete)

/* what a server applied (its log up to its commit index) is what was
 * committed; the other half (one entry per index) is asserted where a
 * leader commits, in AdvanceCommitIndex */
#define Applied(s, j)   (j >= commitIndex[s] || (committed[j].term != 0 && AT(s, j) == committed[j].term))
#define StateMachineSafety_now FOR_SJ(Applied)

#define Holders(j)      (HasEntry(0, j, committed[j].term) + HasEntry(1, j, committed[j].term) + \
                         HasEntry(2, j, committed[j].term))
#define OnQuorum(j)     (j >= MAXLOG || committed[j].term == 0 || 2 * Holders(j) > N)
#define CommittedOnQuorum_now (OnQuorum(0) && OnQuorum(1))

#define Invariants (TypeOK_now && ElectionSafety_now && LogMatching_now && LeaderCompleteness_now && \
                    StateMachineSafety_now && CommittedOnQuorum_now)

/* The monitor blocks while the invariants hold, so pan evaluates them in
 * every state; on a violation it names the invariant that failed. */
hidden byte TypeOK, ElectionSafety, LogMatching, LeaderCompleteness, StateMachineSafety, CommittedOnQuorum;

active proctype monitor() {
    !Invariants ->
    d_step {
        TypeOK = TypeOK_now; ElectionSafety = ElectionSafety_now; LogMatching = LogMatching_now;
        LeaderCompleteness = LeaderCompleteness_now; StateMachineSafety = StateMachineSafety_now;
        CommittedOnQuorum = CommittedOnQuorum_now
    };
    assert(TypeOK); assert(ElectionSafety); assert(LogMatching);
    assert(LeaderCompleteness); assert(StateMachineSafety); assert(CommittedOnQuorum)
}

/* LeaderAppendOnly (an action property): remember s before the step ... */
inline Before(s) {
    prevRole = role[s]; prevTerm = currentTerm[s]; prevLen = log[s].size;
    k = 0;
    do :: k < MAXLOG -> prevAt[k] = log[s].at[k]; k++ :: else -> break od
}
/* ... and compare after it */
inline LeaderAppendOnly(s) {
    if
    :: prevRole == Leader && role[s] == Leader && currentTerm[s] == prevTerm ->
        LeaderAppendOnly_holds = (log[s].size >= prevLen);
        k = 0;
        do :: k < prevLen -> LeaderAppendOnly_holds = LeaderAppendOnly_holds && log[s].at[k] == prevAt[k]; k++
           :: else -> break od;
        assert(LeaderAppendOnly_holds)
    :: else -> skip
    fi
}

/* ---- actions ---- */

inline ResetVolatile(s) {
    votesGranted[s] = 0;
    k = 0;
    do :: k < N -> matchIndex[s].at[k] = 0; k++ :: else -> break od
}

inline Timeout(s) {
    role[s] = PreCandidate;
    votesGranted[s] = BIT(s)
}

inline RequestPreVote(s, t) {
    Send(Msg(MsgPreVote, s, t, currentTerm[s] + 1, log[s].size, LastTerm(s), 0, 0))
}

inline RequestVote(s, t) {
    Send(Msg(MsgVote, s, t, currentTerm[s], log[s].size, LastTerm(s), 0, 0))
}

inline BecomeLeader(s) {
    role[s] = Leader;
    votesGranted[s] = 0;
    k = 0;
    do :: k < N -> matchIndex[s].at[k] = 0; k++ :: else -> break od;
    if
    :: log[s].size < MAXLOG -> log[s].at[log[s].size] = currentTerm[s]; log[s].size++
    :: else -> skip
    fi;
    elected[currentTerm[s]] = elected[currentTerm[s]] | BIT(s)
}

inline ClientRequest(s) {
    Before(s);
    log[s].at[log[s].size] = currentTerm[s];
    log[s].size++;
    LeaderAppendOnly(s)
}

inline AppendEntries(s, t, idx) {
    tm = (idx < log[s].size -> log[s].at[idx] : 0);   /* the entry after idx, 0: none */
    lastNew = (tm == 0 -> idx : idx + 1);
    nw = Min(commitIndex[s], lastNew);                 /* the follower caps it there anyway */
    Send(Msg(MsgApp, s, t, currentTerm[s], idx, TermAt(s, idx), tm, nw))
}

/* maybe_commit */
inline AdvanceCommitIndex(s) {
    nw = 0;
    i = log[s].size;
    do
    :: i > commitIndex[s] ->
        votes = BIT(s);
        j = 0;
        do :: j < N -> if :: matchIndex[s].at[j] >= i -> votes = votes | BIT(j) :: else -> skip fi; j++
           :: else -> break od;
#ifdef MUTANT_COMMIT_PREVIOUS_TERM
        /* bug: an entry of an earlier term is committed by counting replicas */
        if :: IsQuorum(votes) -> nw = i; break :: else -> i-- fi
#else
        if :: IsQuorum(votes) && log[s].at[i - 1] == currentTerm[s] -> nw = i; break :: else -> i-- fi
#endif
    :: else -> break
    od;
    if
    :: nw > 0 ->
        i = commitIndex[s];
        do
        :: i < nw ->
            /* one entry per committed index */
            StateMachineSafety = (committed[i].term == 0 || committed[i].term == log[s].at[i]);
            assert(StateMachineSafety);
            if
            :: committed[i].term == 0 -> committed[i].term = log[s].at[i]; committed[i].by = currentTerm[s]
            :: else -> committed[i].by = Min(committed[i].by, currentTerm[s])
            fi;
            i++
        :: else -> break
        od;
        commitIndex[s] = nw
    :: else -> skip
    fi
}

/* a message of a higher term makes its receiver a follower of that term */
inline UpdateTerm(r, t) {
    if
    :: t > currentTerm[r] ->
        currentTerm[r] = t; votedFor[r] = NIL; role[r] = Follower; ResetVolatile(r)
    :: else -> skip
    fi
}

inline HandlePreVote(msg) {
    v = MTO(msg);
    if
    :: MTERM(msg) > currentTerm[v] && UpToDate(v, MLOGTERM(msg), MINDEX(msg)) ->
        Send(Msg(MsgPreVoteResp, v, MFROM(msg), MTERM(msg), 0, 0, 0, 0))
    :: else -> skip
    fi
}

inline HandlePreVoteResponse(msg) {
    c = MTO(msg);
    if
#ifdef MUTANT_PREVOTE_COUNTS_AS_VOTE
    /* bug: record_vote counts any granted answer of the current term,
     * whichever round it belongs to */
    :: role[c] == Candidate && MTERM(msg) == currentTerm[c] ->
        votesGranted[c] = votesGranted[c] | BIT(MFROM(msg));
        if
        :: IsQuorum(votesGranted[c]) -> BecomeLeader(c)
        :: else -> skip
        fi
#endif
    :: role[c] == PreCandidate && MTERM(msg) == currentTerm[c] + 1 ->
        votesGranted[c] = votesGranted[c] | BIT(MFROM(msg));
        if
        :: IsQuorum(votesGranted[c]) ->
            currentTerm[c]++; votedFor[c] = c; role[c] = Candidate; votesGranted[c] = BIT(c)
        :: else -> skip
        fi
    :: else -> skip
    fi
}

inline HandleVote(msg) {
    v = MTO(msg);
    UpdateTerm(v, MTERM(msg));
    if
    :: MTERM(msg) == currentTerm[v] && (votedFor[v] == NIL || votedFor[v] == MFROM(msg)) &&
       UpToDate(v, MLOGTERM(msg), MINDEX(msg)) ->
        votedFor[v] = MFROM(msg);
        Send(Msg(MsgVoteResp, v, MFROM(msg), currentTerm[v], 0, 0, 0, 0))
    :: else -> skip
    fi
}

inline HandleVoteResponse(msg) {
    c = MTO(msg);
    UpdateTerm(c, MTERM(msg));
    if
    :: role[c] == Candidate && MTERM(msg) == currentTerm[c] ->
        votesGranted[c] = votesGranted[c] | BIT(MFROM(msg));
        if
        :: IsQuorum(votesGranted[c]) -> BecomeLeader(c)
        :: else -> skip
        fi
    :: else -> skip
    fi
}

/* handle_append */
inline HandleAppendEntries(msg) {
    v = MTO(msg);
    Before(v);
    UpdateTerm(v, MTERM(msg));
    if
    :: MTERM(msg) == currentTerm[v] ->
        role[v] = Follower;
        ResetVolatile(v);
        if
        :: MINDEX(msg) < commitIndex[v] ->
            Send(Msg(MsgAppResp, v, MFROM(msg), MTERM(msg), commitIndex[v], 0, 0, 0))
        :: else ->
            logOk = (MINDEX(msg) <= log[v].size && TermAt(v, MINDEX(msg)) == MLOGTERM(msg));
            if
            :: logOk ->
                if
                :: MENTRY(msg) == 0 -> lastNew = MINDEX(msg)
                :: else ->
                    lastNew = MINDEX(msg) + 1;
                    if
                    :: MINDEX(msg) < log[v].size && log[v].at[MINDEX(msg)] == MENTRY(msg) -> skip
                    :: else ->
                        /* truncate after index, append the entry */
                        k = MINDEX(msg);
                        do :: k < MAXLOG -> log[v].at[k] = 0; k++ :: else -> break od;
                        log[v].at[MINDEX(msg)] = MENTRY(msg);
                        log[v].size = MINDEX(msg) + 1
                    fi
                fi;
                commitIndex[v] = Max(commitIndex[v], Min(MCOMMIT(msg), lastNew));
                Send(Msg(MsgAppResp, v, MFROM(msg), MTERM(msg), lastNew, 0, 0, 0))
            :: else -> skip
            fi
        fi
    :: else -> skip
    fi;
    LeaderAppendOnly(v)
}

inline HandleAppendEntriesResponse(msg) {
    c = MTO(msg);
    UpdateTerm(c, MTERM(msg));
    if
    :: role[c] == Leader && MTERM(msg) == currentTerm[c] ->
        matchIndex[c].at[MFROM(msg)] = Max(matchIndex[c].at[MFROM(msg)], MINDEX(msg))
    :: else -> skip
    fi
}

/* raft_persisted on a leader: it acknowledges its durable log to t */
inline LeaderAck(s, t) {
    Send(Msg(MsgAppResp, s, t, currentTerm[s], log[s].size, 0, 0, 0))
}

/* learn_commit: follower s reads peer p's answer to the leader (the copy
 * acknowledge() sends it), or the leader's own (LeaderAck), and commits
 * what both hold if they are a quorum */
#define LearnTo(s, msg)  Min(MINDEX(msg), log[s].size)
#ifdef MUTANT_LEARN_PREVIOUS_TERM
/* bug: the entry need not be of the follower's term (Figure 3.7 again) */
#define OfTerm(s, idx) true
#else
#define OfTerm(s, idx) (log[s].at[(idx) - 1] == currentTerm[s])
#endif
#define CanLearn(s, msg) (MTYPE(msg) == MsgAppResp && MFROM(msg) != s && \
                          role[s] == Follower && MTERM(msg) == currentTerm[s] && \
                          IsQuorum(BIT(s) | BIT(MFROM(msg))) && LearnTo(s, msg) > commitIndex[s] && \
                          OfTerm(s, LearnTo(s, msg)))

inline LearnCommit(s, msg) {
    c = LearnTo(s, msg);
#ifdef MUTANT_CLAIM_LEADER_FIRST
    /* false claim: the leader (the answer went to it, or it sent its own) committed there first */
    assert((role[MTO(msg)] == Leader && commitIndex[MTO(msg)] >= c) ||
           (role[MFROM(msg)] == Leader && commitIndex[MFROM(msg)] >= c));
#endif
    i = commitIndex[s];
    do
    :: i < c ->
        StateMachineSafety = (committed[i].term == 0 || committed[i].term == log[s].at[i]);
        assert(StateMachineSafety);
        if
        :: committed[i].term == 0 -> committed[i].term = log[s].at[i]; committed[i].by = currentTerm[s]
        :: else -> committed[i].by = Min(committed[i].by, currentTerm[s])
        fi;
        i++
    :: else -> break
    od;
    commitIndex[s] = c
}

inline Restart(s) {
    role[s] = Follower;
    ResetVolatile(s)
#ifdef MUTANT_VOTE_NOT_DURABLE
    ; votedFor[s] = NIL
#endif
}

inline Receive(msg) {
    if
    :: MTYPE(msg) == MsgPreVote -> HandlePreVote(msg)
    :: MTYPE(msg) == MsgPreVoteResp -> HandlePreVoteResponse(msg)
    :: MTYPE(msg) == MsgVote -> HandleVote(msg)
    :: MTYPE(msg) == MsgVoteResp -> HandleVoteResponse(msg)
    :: MTYPE(msg) == MsgApp -> HandleAppendEntries(msg)
    :: MTYPE(msg) == MsgAppResp -> HandleAppendEntriesResponse(msg)
    fi
}

/* ---- the transition relation: one option per action instance ---- */

#define STEP(guard, body) :: d_step { guard -> body; i = 0 }   /* a statement to end loops on */

/* A mutant may leave faults out to reach its counterexample sooner. */
#ifdef WITHOUT_RESTART
#define MAY_RESTART false
#else
#define MAY_RESTART true
#endif

#define SERVER_ACTIONS(s) \
    STEP(role[s] != Leader && currentTerm[s] < MAXTERM, Timeout(s)) \
    STEP(role[s] == Leader && log[s].size < MAXLOG, ClientRequest(s)) \
    STEP(role[s] == Leader, AdvanceCommitIndex(s)) \
    STEP(MAY_RESTART, Restart(s))

#define PAIR_ACTIONS(s, t) \
    STEP(role[s] == PreCandidate, RequestPreVote(s, t)) \
    STEP(role[s] == Candidate, RequestVote(s, t)) \
    STEP(role[s] == Leader && 0 <= log[s].size, AppendEntries(s, t, 0)) \
    STEP(role[s] == Leader && 1 <= log[s].size, AppendEntries(s, t, 1)) \
    STEP(role[s] == Leader && 2 <= log[s].size, AppendEntries(s, t, 2)) \
    STEP(role[s] == Leader, LeaderAck(s, t))

#define SLOT_ACTIONS(x) \
    STEP(messages[x] != 0, m = messages[x]; Receive(m)) \
    STEP(messages[x] != 0, DropMessage(x)) \
    STEP(messages[x] != 0 && CanLearn(0, messages[x]), m = messages[x]; LearnCommit(0, m)) \
    STEP(messages[x] != 0 && CanLearn(1, messages[x]), m = messages[x]; LearnCommit(1, m)) \
    STEP(messages[x] != 0 && CanLearn(2, messages[x]), m = messages[x]; LearnCommit(2, m))

init {
    d_step {
        i = 0;
        do
        :: i < N -> votedFor[i] = NIL; i++
        :: else -> break
        od
    };
    do
    SERVER_ACTIONS(0)
    SERVER_ACTIONS(1)
    SERVER_ACTIONS(2)
    PAIR_ACTIONS(0, 1)
    PAIR_ACTIONS(0, 2)
    PAIR_ACTIONS(1, 0)
    PAIR_ACTIONS(1, 2)
    PAIR_ACTIONS(2, 0)
    PAIR_ACTIONS(2, 1)
#if MAXMSG >= 1
    SLOT_ACTIONS(0)
#endif
#if MAXMSG >= 2
    SLOT_ACTIONS(1)
#endif
#if MAXMSG >= 3
    SLOT_ACTIONS(2)
#endif
#if MAXMSG >= 4
    SLOT_ACTIONS(3)
#endif
    od
}
