/*
 * Linearizability.pml: the spin twin of Linearizability.tla (same variables,
 * actions and invariants; see that module for the model and its abstractions).
 *
 * Servers are 0..NS-1 (TLC: 1..NS), writes 1..NW (a write's id is the value
 * it writes), reads 0..NR-1. A log holds entries 1..last; entries above it
 * are kept zero so that equal logs are equal states. A set of servers is a
 * bit mask. Every action is one d_step: its guard, then the saving of chosen
 * (for ChosenGrows, which compares chosen before and after the step), the
 * effect, and the invariant checks; a pan transition is a step of Next.
 *
 * Mutants (mutants/*.pml) #define one MUTANT_* flag and include this file.
 */

#ifndef NS
#define NS 3
#endif
#ifndef MAXTERM
#define MAXTERM 2
#endif
#ifndef NW
#define NW 1             /* writes 1..NW */
#endif
#ifndef NR
#define NR 1             /* reads 0..NR-1 */
#endif
#define MAXLOG (MAXTERM + NW)   /* a no-op per term, each write once */
/* the action lists of init and WaitsOn enumerate exactly these bounds */
#if NS != 3 || MAXTERM != 2 || NW != 1 || NR != 1
#error "the STEP lists below are written for NS 3, MAXTERM 2, NW 1, NR 1"
#endif

#define FOLLOWER 0
#define LEADER   1
/* wr[w].state */
#define W_IDLE     0
#define W_APPENDED 1
#define W_ACKED    2
/* rd[r].state */
#define R_IDLE      0
#define R_INVOKED   1
#define R_PENDING   2
#define R_CONFIRMED 3
#define R_DONE      4

typedef Entry { byte term; byte val };            /* val 0: the leader's no-op */
typedef Log { Entry e[MAXLOG + 1]; byte last };    /* e[1..last]; e[0] unused */
typedef Wr { byte state; byte srv; byte idx; byte inv; byte resp };
typedef Rd { byte state; byte srv; byte idx; byte term; byte acks;
             byte inv; byte resp; byte val };

/* ---- VARIABLES (names as in Linearizability.tla) ---- */
byte currentTerm[NS];
bit role[NS];
Log log[NS];
byte commitIndex[NS];
byte applied[NS];
Wr wr[NW + 1];           /* wr[1..NW] */
Rd rd[NR];
Log chosen;              /* the sequential object */

/* scratch of one step: not part of the state */
hidden byte i, j, k, n, v, q;
hidden byte readLinearizable, writeLinearizable, closed;
hidden byte preTerm[MAXLOG + 1], preVal[MAXLOG + 1], preLen;

#define Max(a, b) ((a) >= (b) -> (a) : (b))
#define Min(a, b) ((a) <= (b) -> (a) : (b))
#define In(S, x) (((S) >> (x)) & 1)
#define IsQuorum(S) (2 * (In(S, 0) + In(S, 1) + In(S, 2)) > NS)
#define LastTerm(s) (log[s].e[log[s].last].term)   /* e[0].term is 0 */
/* s's log is at least as up to date as q's (the vote rule) */
#define UpToDate(s, q) (LastTerm(s) > LastTerm(q) || \
    (LastTerm(s) == LastTerm(q) && log[s].last >= log[q].last))
/* q may vote for s in term T */
#define Votes(Q, s, q, T) (!In(Q, q) || (currentTerm[q] < (T) && UpToDate(s, q)))
/* q holds s's entry i */
#define Holds(q, s, i) (log[q].last >= (i) && log[q].e[i].term == log[s].e[i].term)
#define HoldCount(s, i) (Holds(0, s, i) + Holds(1, s, i) + Holds(2, s, i))
/* raft_read_index's refusal: no entry of the leader's term committed yet */
#define TermCommitted(s) (commitIndex[s] > 0 && log[s].e[commitIndex[s]].term == currentTerm[s])

/* ---- invariants ---- */
#define TypeOK (currentTerm[0] <= MAXTERM && currentTerm[1] <= MAXTERM && \
    currentTerm[2] <= MAXTERM && \
    log[0].last <= MAXLOG && log[1].last <= MAXLOG && log[2].last <= MAXLOG && \
    applied[0] <= commitIndex[0] && commitIndex[0] <= log[0].last && \
    applied[1] <= commitIndex[1] && commitIndex[1] <= log[1].last && \
    applied[2] <= commitIndex[2] && commitIndex[2] <= log[2].last && \
    chosen.last <= MAXLOG)

/* the register after the first kk entries of lg, into v */
inline ValueAt(lg, kk) {
    v = 0; k = kk;
    do
    :: k > 0 && lg.e[k].val == 0 -> k--
    :: k > 0 && lg.e[k].val != 0 -> v = lg.e[k].val; break
    :: else -> break
    od
}

/* every server's committed prefix is a prefix of chosen */
inline CommittedPrefix() {
    q = 0;
    do
    :: q < NS ->
        assert(commitIndex[q] <= chosen.last);
        i = 1;
        do
        :: i <= commitIndex[q] ->
            assert(log[q].e[i].term == chosen.e[i].term && log[q].e[i].val == chosen.e[i].val);
            i++
        :: else -> break
        od;
        q++
    :: else -> break
    od
}

/* chosen only grows by appending (compared with its copy before the step) */
inline ChosenGrows() {
    assert(preLen <= chosen.last);
    i = 1;
    do
    :: i <= preLen ->
        assert(preTerm[i] == chosen.e[i].term && preVal[i] == chosen.e[i].val); i++
    :: else -> break
    od
}

inline Linearizable() {
    q = 0;
    do
    :: q < NR ->
        if
        :: rd[q].state == R_DONE ->
            /* some point inv..resp of chosen has the value the read returned */
            readLinearizable = false; n = rd[q].inv;
            do
            :: n <= rd[q].resp && !readLinearizable -> ValueAt(chosen, n); readLinearizable = (v == rd[q].val); n++
            :: else -> break
            od;
            assert(readLinearizable)
        :: else -> skip
        fi;
        q++
    :: else -> break
    od;
    q = 1;
    do
    :: q <= NW ->
        if
        :: wr[q].state == W_ACKED ->
            /* the write sits in chosen at a position inv+1..resp */
            writeLinearizable = false; n = 1;
            do
            :: n <= chosen.last && !writeLinearizable ->
                writeLinearizable = (chosen.e[n].val == q && wr[q].inv < n && n <= wr[q].resp); n++
            :: else -> break
            od;
            assert(writeLinearizable)
        :: else -> skip
        fi;
        q++
    :: else -> break
    od
}

inline CheckInvariants() {
    assert(TypeOK);
    CommittedPrefix();
    ChosenGrows();
    Linearizable()
}

inline SavePre() {
    preLen = chosen.last;
    i = 1;
    do
    :: i <= MAXLOG -> preTerm[i] = chosen.e[i].term; preVal[i] = chosen.e[i].val; i++
    :: else -> break
    od
}

/* Choose: chosen grows to log[t]'s first nn entries when that is longer */
inline Choose(t, nn) {
    if
    :: nn > chosen.last ->
        i = 1;
        do
        :: i <= nn -> chosen.e[i].term = log[t].e[i].term; chosen.e[i].val = log[t].e[i].val; i++
        :: else -> break
        od;
        chosen.last = nn
    :: else -> skip
    fi
}

/* the reads awaiting confirmation at servers in S die; the client retries */
inline AbortReads(S) {
    q = 0;
    do
    :: q < NR ->
        if
        :: rd[q].state == R_PENDING && In(S, rd[q].srv) ->
            rd[q].state = R_INVOKED; rd[q].srv = 0; rd[q].idx = 0; rd[q].term = 0;
            rd[q].acks = 0; rd[q].resp = 0; rd[q].val = 0
        :: else -> skip
        fi;
        q++
    :: else -> break
    od
}

/* ---- Raft ---- */

inline BecomeLeader(s, Q, T) {
    Votes(Q, s, 0, T) && Votes(Q, s, 1, T) && Votes(Q, s, 2, T) -> SavePre();
    q = 0;
    do
    :: q < NS ->
        if
        :: In(Q, q) -> currentTerm[q] = T; role[q] = FOLLOWER
        :: else -> skip
        fi;
        q++
    :: else -> break
    od;
    role[s] = LEADER;
    log[s].last++; log[s].e[log[s].last].term = T; log[s].e[log[s].last].val = 0;
    AbortReads(Q)
}

inline StepDown(s, t) {
    role[s] == LEADER && currentTerm[t] > currentTerm[s] -> SavePre();
    currentTerm[s] = currentTerm[t]; role[s] = FOLLOWER;
    AbortReads(1 << s)
}

inline ClientWrite(w, s) {
    wr[w].state == W_IDLE && role[s] == LEADER -> SavePre();
    log[s].last++; log[s].e[log[s].last].term = currentTerm[s]; log[s].e[log[s].last].val = w;
    wr[w].state = W_APPENDED; wr[w].srv = s; wr[w].idx = log[s].last;
    wr[w].inv = chosen.last; wr[w].resp = 0
}

inline Replicate(s, t) {
    role[s] == LEADER && currentTerm[t] <= currentTerm[s] && log[s].last > 0 -> SavePre();
    /* NextFor(s, t) */
    j = 1;
    do
    :: j <= log[s].last && Holds(t, s, j) -> j++
    :: else -> break
    od;
    if
    :: j > log[s].last -> j = log[s].last
    :: else -> skip
    fi;
    if
    :: Holds(t, s, j) -> skip
    :: else ->
        /* truncate from j, append s's entry j */
        i = j + 1;
        do
        :: i <= MAXLOG -> log[t].e[i].term = 0; log[t].e[i].val = 0; i++
        :: else -> break
        od;
        log[t].e[j].term = log[s].e[j].term; log[t].e[j].val = log[s].e[j].val;
        log[t].last = j
    fi;
    commitIndex[t] = Max(commitIndex[t], Min(commitIndex[s], j));
    Choose(t, commitIndex[t]);
    currentTerm[t] = currentTerm[s]; role[t] = FOLLOWER;
    AbortReads(1 << t)
}

inline AdvanceCommit(s, ii) {
    role[s] == LEADER && commitIndex[s] < ii && ii <= log[s].last &&
    log[s].e[ii].term == currentTerm[s] && 2 * HoldCount(s, ii) > NS -> SavePre();
    commitIndex[s] = ii;
    Choose(s, ii)
}

/* learn_commit: a follower commits entry ii of its term that a quorum holds */
inline LearnCommit(t, ii) {
    role[t] == FOLLOWER && commitIndex[t] < ii && ii <= log[t].last &&
    log[t].e[ii].term == currentTerm[t] && 2 * HoldCount(t, ii) > NS -> SavePre();
    commitIndex[t] = ii;
    Choose(t, ii)
}

/* on_applied for the entry at index ii of s */
inline AckWrite(s, ii) {
    q = 1;
    do
    :: q <= NW ->
        if
        :: wr[q].state == W_APPENDED && wr[q].srv == s && wr[q].idx == ii &&
           log[s].e[ii].val == q ->
            wr[q].state = W_ACKED; wr[q].resp = chosen.last
        :: else -> skip
        fi;
        q++
    :: else -> break
    od
}

#define WaitsOn(s) ((wr[1].state == W_APPENDED && wr[1].srv == s) || \
    (rd[0].state == R_CONFIRMED && rd[0].srv == s))
#define Observed(s) (role[s] == LEADER || WaitsOn(s))

inline Apply(s) {
    applied[s] < commitIndex[s] && Observed(s) -> SavePre();
    applied[s]++;
    AckWrite(s, applied[s])
}

/* ---- reads: ReadIndex ---- */

inline InvokeRead(r) {
    rd[r].state == R_IDLE -> SavePre();
    rd[r].state = R_INVOKED; rd[r].inv = chosen.last
}

inline ReadIndex(r, s) {
    rd[r].state == R_INVOKED && role[s] == LEADER && TermCommitted(s) -> SavePre();
#ifdef MUTANT_READ_AT_COMMIT_INDEX
    /* bug: the read index is the leader's commit index, behind what followers committed */
    rd[r].srv = s; rd[r].idx = commitIndex[s]; rd[r].term = currentTerm[s];
#else
    rd[r].srv = s; rd[r].idx = log[s].last; rd[r].term = currentTerm[s];
#endif
    rd[r].acks = 1 << s;
#ifdef MUTANT_READ_WITHOUT_QUORUM_CHECK
    /* bug: served from the leader's own state, no heartbeat round */
    rd[r].state = R_CONFIRMED
#else
    rd[r].state = R_PENDING
#endif
}

inline HeartbeatAck(r, t) {
    rd[r].state == R_PENDING && !In(rd[r].acks, t) &&
    role[rd[r].srv] == LEADER && currentTerm[rd[r].srv] == rd[r].term &&
    currentTerm[t] <= rd[r].term -> SavePre();
    currentTerm[t] = rd[r].term; role[t] = FOLLOWER;
    AbortReads(1 << t);
    rd[r].acks = rd[r].acks | (1 << t);
    if
    :: IsQuorum(rd[r].acks) -> rd[r].state = R_CONFIRMED
    :: else -> skip
    fi
}

inline ServeRead(r) {
    rd[r].state == R_CONFIRMED && applied[rd[r].srv] >= rd[r].idx -> SavePre();
    ValueAt(log[rd[r].srv], applied[rd[r].srv]);
    rd[r].val = v; rd[r].resp = chosen.last; rd[r].state = R_DONE
}

/* closed = 0 ends the d_step: the break of its last loop must land inside it */
#define STEP(a) :: d_step { a; CheckInvariants(); closed = 0 }

/* the three quorums of s: s and one other, or all */
#define ELECT_T(s, Q) STEP(BecomeLeader(s, Q, 1)) STEP(BecomeLeader(s, Q, 2))
#define ELECT(s, o1, o2) ELECT_T(s, (1 << s) | (1 << o1)) \
    ELECT_T(s, (1 << s) | (1 << o2)) ELECT_T(s, 7)
#define PAIR(s, t) STEP(StepDown(s, t)) STEP(Replicate(s, t))
#define PER_SERVER(s) STEP(ClientWrite(1, s)) STEP(Apply(s)) \
    STEP(AdvanceCommit(s, 1)) STEP(AdvanceCommit(s, 2)) STEP(AdvanceCommit(s, 3)) \
    STEP(LearnCommit(s, 1)) STEP(LearnCommit(s, 2)) STEP(LearnCommit(s, 3)) \
    STEP(ReadIndex(0, s)) STEP(HeartbeatAck(0, s))

init {
    /* everything done is a valid end state */
end:
    do
    ELECT(0, 1, 2)
    ELECT(1, 0, 2)
    ELECT(2, 0, 1)
    PAIR(0, 1) PAIR(0, 2) PAIR(1, 0) PAIR(1, 2) PAIR(2, 0) PAIR(2, 1)
    PER_SERVER(0) PER_SERVER(1) PER_SERVER(2)
    STEP(InvokeRead(0))
    STEP(ServeRead(0))
    od
}
