/*
 * Membership.pml: the spin twin of Membership.tla (same variables, actions
 * and invariants; see that module for the protocol).
 *
 * Servers are 0..N-1 (TLC: 1..N); NIL (= N) is "no vote" and the node of a
 * no-op. A set of servers is a bit mask. A log entry is one byte:
 * term * 64 + op * 8 + node, op 0 for a no-op and 1..4 for enum
 * raft_conf_op. Slots past a log's length are kept zero, so equal TLA+
 * states are equal here.
 *
 * confV/confL hold each server's applied configuration (Conf(s) of the
 * module: InitConf with the changes of its committed prefix applied). They
 * are a function of log and commitIndex, recomputed after every step, and
 * are kept in the state vector only so that a step's guard, which must come
 * first in a d_step, can read them; they add no states.
 *
 * Every action is one d_step: its guard, its effect, the recomputation of
 * the configurations and the invariant assertions. A pan transition is one
 * step of the TLA+ Next, and the state counts agree.
 *
 * Mutants (mutants/*.pml) #define one MUTANT_* flag (and may raise the
 * bounds) and include this file.
 */

#ifndef N
#define N 3
#endif
#ifndef MAXTERM
#define MAXTERM 2
#endif
#ifndef MAXLOG
#define MAXLOG 4
#endif
#define NIL N
#define INITVOTERS ((1 << N) - 1)   /* every server is a founding voter */

/* roles */
#define Follower  0
#define Candidate 1
#define Leader    2

/* ops (enum raft_conf_op); 0 is a no-op entry */
#define NOOP       0
#define ADDLEARNER 1
#define PROMOTE    2
#define REMOVE     3
#define ADDVOTER   4

#define E(t, op, n) ((t) * 64 + (op) * 8 + (n))
#define TERM(e) ((e) / 64)
#define OP(e) (((e) / 8) % 8)
#define NODE(e) ((e) % 8)

#ifndef ENTRY_T
#define ENTRY_T byte     /* a short when MAXTERM > 3 */
#endif
typedef Log {
    ENTRY_T e[MAXLOG];
    byte cnt
};

/* ---- VARIABLES (names as in Membership.tla) ---- */
byte currentTerm[N];
byte role[N];
byte votedFor[N];
byte votesGranted[N];
Log log[N];
byte commitIndex[N];
byte elected[MAXTERM + 1];   /* elected[t], t in 1..MAXTERM */
/* derived: Conf(s), see above */
byte confV[N];
byte confL[N];

/* scratch, not part of the state */
hidden byte k, m, s, cv, cl, x, y;
hidden byte TypeOK, ElectionSafety, QuorumsIntersect, CommittedAgree;

#define BIT(b) (1 << (b))
#define HAS(set, b) (((set) >> (b)) & 1)
#define POP(q) (((q) & 1) + (((q) >> 1) & 1) + (((q) >> 2) & 1) + (((q) >> 3) & 1))
#define IsQuorum(q, v) (2 * POP((q) & (v)) > POP(v))
#define LastTerm(i) (log[i].cnt == 0 -> 0 : TERM(log[i].e[log[i].cnt - 1]))
#define UpToDate(i, j) (LastTerm(i) > LastTerm(j) || \
    (LastTerm(i) == LastTerm(j) && log[i].cnt >= log[j].cnt))

/* conf_change_valid against the configuration (v, l) */
#define Valid(v, l, op, n) \
    (((op) == ADDLEARNER || (op) == ADDVOTER) -> !HAS((v) | (l), n) : \
     ((op) == PROMOTE -> HAS(l, n) : \
      ((op) == REMOVE -> ((HAS(v, n) && POP(v) > 1) || HAS(l, n)) : 0)))

#define Voters(i) confV[i]
#define Members(i) (confV[i] | confL[i])
#define Leading(i) (role[i] == Leader && HAS(confV[i], i))

/* (cv, cl) = Apply((cv, cl), entry) -- raft_apply_conf_change */
inline Apply(en) {
    x = OP(en); y = NODE(en);
    if
    :: x != NOOP && Valid(cv, cl, x, y) ->
        if
        :: x == ADDLEARNER -> cl = cl | BIT(y)
        :: x == ADDVOTER -> cv = cv | BIT(y)
        :: x == PROMOTE -> cv = cv | BIT(y); cl = cl & ~BIT(y)
        :: x == REMOVE -> cv = cv & ~BIT(y); cl = cl & ~BIT(y)
        fi
    :: else -> skip
    fi
}

inline RecomputeConfs() {
    for (s : 0 .. N - 1) {
        cv = INITVOTERS; cl = 0;
        for (k : 1 .. commitIndex[s]) {
            Apply(log[s].e[k - 1])
        }
        confV[s] = cv; confL[s] = cl
    }
}

/* no change of i's log past its commit index */
#define PendingAt(i, q) ((q) >= commitIndex[i] && (q) < log[i].cnt && OP(log[i].e[q]) != NOOP)
#if MAXLOG == 3
#define AnyPending(i) (PendingAt(i, 0) || PendingAt(i, 1) || PendingAt(i, 2))
#elif MAXLOG == 4
#define AnyPending(i) (PendingAt(i, 0) || PendingAt(i, 1) || PendingAt(i, 2) || PendingAt(i, 3))
#else
#error "AnyPending is written out for MAXLOG 3 or 4"
#endif
#define OwnTermCommitted(i) (commitIndex[i] > 0 && \
    TERM(log[i].e[commitIndex[i] - 1]) == currentTerm[i])

#if defined(MUTANT_TWO_CHANGES_IN_FLIGHT)
/* bug: a change may be proposed while an earlier one is not yet applied */
#define NoPendingConf(i) 1
#elif defined(MUTANT_CHANGE_BEFORE_OWN_TERM_COMMIT)
/* bug: pending_conf_index is not set to the new term's no-op, so only the
 * leader's own proposals of this term count as pending, and nothing of
 * this term need be committed */
#define PendingOwn(i, q) (PendingAt(i, q) && TERM(log[i].e[q]) == currentTerm[i])
#if MAXLOG == 3
#define NoPendingConf(i) !(PendingOwn(i, 0) || PendingOwn(i, 1) || PendingOwn(i, 2))
#else
#define NoPendingConf(i) !(PendingOwn(i, 0) || PendingOwn(i, 1) || PendingOwn(i, 2) || PendingOwn(i, 3))
#endif
#undef OwnTermCommitted
#define OwnTermCommitted(i) 1
#else
#define NoPendingConf(i) !AnyPending(i)
#endif

/* entry q (0-based) of i's log, held by j */
#define Holds(j, i, q) (log[j].cnt > (q) && log[j].e[q] == log[i].e[q])
#define HoldMask(i, q) ((Holds(0, i, q) -> 1 : 0) | (Holds(1, i, q) -> 2 : 0) | (Holds(2, i, q) -> 4 : 0))
#define CommitOK(i, q) ((q) < log[i].cnt && TERM(log[i].e[q]) == currentTerm[i] && \
    IsQuorum(HoldMask(i, q), confV[i]))
#define CanCommit(i, q) ((q) >= commitIndex[i] && CommitOK(i, q))
#if MAXLOG == 3
#define AnyCommit(i) (CanCommit(i, 0) || CanCommit(i, 1) || CanCommit(i, 2))
#else
#define AnyCommit(i) (CanCommit(i, 0) || CanCommit(i, 1) || CanCommit(i, 2) || CanCommit(i, 3))
#endif

/* ---- invariants ---- */

/* Some majority of v1 misses some majority of v2 iff the parts of the two
 * smallest majorities that cannot come from v1 \ v2 and v2 \ v1 fit side
 * by side into v1 & v2 (the enumeration of Quorums in the module, in
 * closed form). */
#define MAJ(v) (POP(v) / 2 + 1)
#define NEED(v1, v2) (MAJ(v1) > POP((v1) & ~(v2)) -> MAJ(v1) - POP((v1) & ~(v2)) : 0)
#define Intersect(v1, v2) ((v1) == 0 || (v2) == 0 || \
    NEED(v1, v2) + NEED(v2, v1) > POP((v1) & (v2)))

hidden byte pv, pl;
inline CheckInvariants() {
    TypeOK = true;
    CommittedAgree = true;
    QuorumsIntersect = true;
    for (s : 0 .. N - 1) {
        TypeOK = TypeOK && currentTerm[s] <= MAXTERM && role[s] <= Leader &&
                 votedFor[s] <= NIL && votesGranted[s] < BIT(N) &&
                 log[s].cnt <= MAXLOG && commitIndex[s] <= log[s].cnt;
        for (k : 1 .. log[s].cnt) {
            TypeOK = TypeOK && TERM(log[s].e[k - 1]) >= 1 && TERM(log[s].e[k - 1]) <= MAXTERM &&
                     OP(log[s].e[k - 1]) <= ADDVOTER &&
                     (OP(log[s].e[k - 1]) == NOOP -> NODE(log[s].e[k - 1]) == NIL : NODE(log[s].e[k - 1]) < N)
        }
        /* consecutive configurations of s's whole log */
        cv = INITVOTERS; cl = 0;
        for (k : 1 .. log[s].cnt) {
            pv = cv; pl = cl;
            Apply(log[s].e[k - 1]);
            if
            :: OP(log[s].e[k - 1]) != NOOP ->
                QuorumsIntersect = QuorumsIntersect && Intersect(pv, cv)
            :: else -> skip
            fi
        }
        for (m : 0 .. N - 1) {
            for (k : 1 .. MAXLOG) {
                CommittedAgree = CommittedAgree &&
                    (k > commitIndex[s] || k > commitIndex[m] || log[s].e[k - 1] == log[m].e[k - 1])
            }
        }
    }
    ElectionSafety = true;
    for (k : 1 .. MAXTERM) {
        ElectionSafety = ElectionSafety && POP(elected[k]) <= 1
    }
    assert(TypeOK);
    assert(ElectionSafety);
    assert(QuorumsIntersect);
#ifndef SKIP_COMMITTED_AGREE
    assert(CommittedAgree)
#else
    skip
#endif
}

/* ---- actions ---- */

inline StepDownTo(i, t) {
    currentTerm[i] = t; role[i] = Follower; votedFor[i] = NIL
}

inline Timeout(i) {
    role[i] != Leader && HAS(Voters(i), i) && currentTerm[i] < MAXTERM ->
    currentTerm[i]++; role[i] = Candidate; votedFor[i] = i; votesGranted[i] = BIT(i)
}

inline RequestVote(i, j) {
    role[i] == Candidate && HAS(Voters(i), j) && j != i && !HAS(votesGranted[i], j) ->
    if
    :: currentTerm[j] > currentTerm[i] -> StepDownTo(i, currentTerm[j])
    :: else ->
        x = (currentTerm[j] < currentTerm[i]);   /* newer */
        y = ((x || votedFor[j] == NIL || votedFor[j] == i) && UpToDate(i, j) &&
             HAS(Voters(j), j));                  /* grant */
        currentTerm[j] = currentTerm[i];
        if :: x -> role[j] = Follower :: else -> skip fi;
        if
        :: y -> votedFor[j] = i; votesGranted[i] = votesGranted[i] | BIT(j)
        :: else -> if :: x -> votedFor[j] = NIL :: else -> skip fi
        fi
    fi
}

inline BecomeLeader(i) {
    role[i] == Candidate && IsQuorum(votesGranted[i], Voters(i)) ->
    role[i] = Leader;
    if
    :: log[i].cnt < MAXLOG -> log[i].e[log[i].cnt] = E(currentTerm[i], NOOP, NIL); log[i].cnt++
    :: else -> skip
    fi;
    elected[currentTerm[i]] = elected[currentTerm[i]] | BIT(i)
}

inline ProposeConfChange(i, op, n) {
    Leading(i) && log[i].cnt < MAXLOG && NoPendingConf(i) && OwnTermCommitted(i) &&
    Valid(confV[i], confL[i], op, n) ->
    log[i].e[log[i].cnt] = E(currentTerm[i], op, n); log[i].cnt++
}

inline AppendEntries(i, j, n) {
    Leading(i) && HAS(Members(i), j) && j != i && n <= log[i].cnt ->
    if
    :: currentTerm[j] > currentTerm[i] -> StepDownTo(i, currentTerm[j])
    :: else ->
        if :: currentTerm[j] < currentTerm[i] -> votedFor[j] = NIL :: else -> skip fi;
        currentTerm[j] = currentTerm[i];
        role[j] = Follower;
        /* IsPrefix(first n entries of i, log[j])? */
        x = (n <= log[j].cnt);
        k = 0;
        do
        :: k < n -> x = x && log[i].e[k] == log[j].e[k]; k++
        :: else -> break
        od;
        if
        :: !x ->
            for (k : 1 .. MAXLOG) {
                if
                :: k <= n -> log[j].e[k - 1] = log[i].e[k - 1]
                :: else -> log[j].e[k - 1] = 0
                fi
            }
            log[j].cnt = n
        :: else -> skip
        fi;
        y = (commitIndex[i] < n -> commitIndex[i] : n);
        if :: y > commitIndex[j] -> commitIndex[j] = y :: else -> skip fi
    fi
}

inline AdvanceCommit(i) {
    Leading(i) && AnyCommit(i) ->
    x = 0;
    for (k : 1 .. log[i].cnt) {
        if :: CanCommit(i, k - 1) -> x = k :: else -> skip fi
    }
    commitIndex[i] = x
}

inline LeaderStepDown(i) {
    role[i] == Leader && !HAS(Voters(i), i) ->
    role[i] = Follower
}

#define STEP(a) :: d_step { a; RecomputeConfs(); CheckInvariants() }
#define PER_SERVER(i) \
    STEP(Timeout(i)) STEP(BecomeLeader(i)) STEP(AdvanceCommit(i)) STEP(LeaderStepDown(i)) \
    STEP(RequestVote(i, 0)) STEP(RequestVote(i, 1)) STEP(RequestVote(i, 2)) \
    PROPOSE(i, 0) PROPOSE(i, 1) PROPOSE(i, 2) \
    APPEND(i, 0) APPEND(i, 1) APPEND(i, 2)
#ifdef ONLY_REMOVE
/* a smaller run for a mutant whose bug needs only removals */
#define PROPOSE(i, n) STEP(ProposeConfChange(i, REMOVE, n))
#else
#define PROPOSE(i, n) STEP(ProposeConfChange(i, ADDLEARNER, n)) STEP(ProposeConfChange(i, PROMOTE, n)) \
    STEP(ProposeConfChange(i, REMOVE, n)) STEP(ProposeConfChange(i, ADDVOTER, n))
#endif
#if MAXLOG == 3
#define APPEND(i, j) STEP(AppendEntries(i, j, 0)) STEP(AppendEntries(i, j, 1)) \
    STEP(AppendEntries(i, j, 2)) STEP(AppendEntries(i, j, 3))
#else
#define APPEND(i, j) STEP(AppendEntries(i, j, 0)) STEP(AppendEntries(i, j, 1)) \
    STEP(AppendEntries(i, j, 2)) STEP(AppendEntries(i, j, 3)) STEP(AppendEntries(i, j, 4))
#endif

init {
    d_step {
        for (s : 0 .. N - 1) {
            votedFor[s] = NIL;
            confV[s] = INITVOTERS
        }
    }
end:
    do
    PER_SERVER(0)
    PER_SERVER(1)
    PER_SERVER(2)
    od
}
