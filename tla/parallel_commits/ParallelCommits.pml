/*
 * ParallelCommits.pml: the spin twin of ParallelCommits.tla (same variables,
 * actions and invariants; see that module for the protocol).
 *
 * Keys are 0 and 1 here (1 and 2 in TLC); key k lives on shard k, shard 0
 * is the anchor holding the txn record. Every action is one d_step: its
 * guard first, then the saving of the record's status (for the action
 * properties CommitFinal and AbortFinal, which compare the status before
 * and after the step), the effect, and the invariant assertions. A pan
 * transition is therefore one step of the TLA+ Next.
 *
 * Mutants (mutants/*.pml) #define one MUTANT_* flag and include this file.
 */

#ifndef MAXATTEMPTS
#define MAXATTEMPTS 3    /* attempts of the coordinator, first one included */
#endif
#ifndef MAXRTS
#define MAXRTS 2         /* the reader reads at a timestamp in 1..MAXRTS */
#endif
#define MAXTS (1 + MAXRTS + MAXATTEMPTS)   /* no timestamp exceeds this */

/* record status */
#define NONE      0
#define PENDING   1
#define STAGING   2
#define COMMITTED 3
#define ABORTED   4
/* cPhase */
#define C_START    0
#define C_WRITING  1
#define C_ACKED    2
#define C_FINISHED 3
#define C_CRASHED  4
/* wReq */
#define W_NONE     0
#define W_INFLIGHT 1
#define W_DONE     2
/* sReq */
#define S_NONE     0
#define S_INFLIGHT 1
#define S_OK       2
#define S_FAILED   3
/* rcPhase */
#define RC_IDLE     0
#define RC_QUERYING 1
/* rcQueried */
#define Q_PENDING 0
#define Q_FOUND   1
#define Q_MISSING 2
/* rdSeen */
#define UNREAD 0
#define SEEN   1
#define MISSED 2

/* ---- VARIABLES (names as in ParallelCommits.tla) ---- */
/* the txn record on the anchor shard */
byte recStatus = NONE;
byte recEpoch;
byte recTs;
byte recInflight[2];     /* sequence number listed per key; 0: not listed */
/* the intents table of each shard; intentTs[k] == 0: no intent */
byte intentEpoch[2];
byte intentSeq[2];
byte intentTs[2];
byte value[2];           /* commit timestamp of the key's version; 0: none */
/* finished markers of committed resolutions; markTs[k] == 0: none */
byte markEpoch[2];
byte markSeq[2];
byte markTs[2];
bool markFinal[2];       /* by a final record; false: early (the record may be STAGING) */
byte tscache[2];         /* timestamp cache of the key's shard */
/* the coordinator */
byte cPhase = C_START;
byte cEpoch;
byte cTs = 1;
byte attempts;
byte wReq[2];
byte wRes[2];
byte sReq = S_NONE;
bool acked;
byte eReq[2];            /* the early resolution sent at Ack: W_NONE, W_INFLIGHT, W_DONE */
/* status recovery */
byte rcPhase = RC_IDLE;
byte rcEpoch;
byte rcTs;
byte rcInflight[2];
byte rcQueried[2];
/* the reader */
byte rdTs;
byte rdSeen[2];

/* the record before the current step: not part of the state */
hidden byte preStatus, preEpoch, preTs;

#define Max(a, b) ((a) >= (b) -> (a) : (b))

/* txn_intent_matches */
#define IntentAt(k, e, s, t) \
    (intentTs[k] == (t) && intentEpoch[k] == (e) && intentSeq[k] == (s))
#define MarkAt(k, e, s, t) \
    (markTs[k] == (t) && markEpoch[k] == (e) && markSeq[k] == (s))
#define Landed(k, e, s, t) (IntentAt(k, e, s, t) || MarkAt(k, e, s, t))
#define EarlyMark(k) (markTs[k] != 0 && !markFinal[k])
#define ListedAt(k) \
    (recInflight[k] == 0 || Landed(k, recEpoch, recInflight[k], recTs))
#define ImplicitlyCommitted (recStatus == STAGING && ListedAt(0) && ListedAt(1))

/* what status recovery accepts as "the listed intent is there" */
#if defined(MUTANT_INTENT_ANY_TIMESTAMP)
/* bug: the timestamp is not compared; a pushed intent counts */
#define QueryMatches(k) \
    ((intentTs[k] != 0 && intentEpoch[k] == rcEpoch && intentSeq[k] == rcInflight[k]) || \
     MarkAt(k, rcEpoch, rcInflight[k], rcTs))
#elif defined(MUTANT_INTENT_ANY_EPOCH)
/* bug: epoch and sequence number are not compared; an intent left by an
 * earlier attempt counts when it happens to sit at the record's timestamp */
#define QueryMatches(k) (intentTs[k] == rcTs || MarkAt(k, rcEpoch, rcInflight[k], rcTs))
#elif defined(MUTANT_EARLY_UNMARKED)
/* bug: an intent resolved early (its marker) is taken for a missing one */
#define QueryMatches(k) IntentAt(k, rcEpoch, rcInflight[k], rcTs)
#else
#define QueryMatches(k) Landed(k, rcEpoch, rcInflight[k], rcTs)
#endif

#define Responded (sReq >= S_OK && wReq[0] == W_DONE && wReq[1] == W_DONE)
#define Pushed (wRes[0] > cTs || wRes[1] > cTs)
#define MaxRes Max(wRes[0], wRes[1])
#define AnyIntent (intentTs[0] != 0 || intentTs[1] != 0)
#define AnyEarlyMark (EarlyMark(0) || EarlyMark(1))

/* ---- invariants ---- */
#define TypeOK (recStatus <= ABORTED && recEpoch < MAXATTEMPTS && recTs <= MAXTS && \
    intentTs[0] <= MAXTS && intentTs[1] <= MAXTS && tscache[0] <= MAXTS && \
    tscache[1] <= MAXTS && cPhase <= C_CRASHED && cTs >= 1 && cTs <= MAXTS && \
    attempts <= MAXATTEMPTS && rdTs <= MAXRTS)
#define AckedIsCommitted (!acked || \
    ((recStatus == STAGING || recStatus == COMMITTED) && \
     recEpoch == cEpoch && recTs == cTs && \
     (recStatus != STAGING || ImplicitlyCommitted)))
#define NoPartialRead (rdSeen[0] == UNREAD || rdSeen[1] == UNREAD || \
    rdSeen[0] == rdSeen[1])
#define AbortedWroteNothing (recStatus != ABORTED || (value[0] == 0 && value[1] == 0))
#define CommitFinal (preStatus != COMMITTED || \
    (recStatus == COMMITTED && recEpoch == preEpoch && recTs == preTs))
#define AbortFinal (preStatus != ABORTED || recStatus == ABORTED)

inline SavePre() {
    preStatus = recStatus; preEpoch = recEpoch; preTs = recTs
}

inline CheckInvariants() {
    assert(TypeOK);
    assert(AckedIsCommitted);
    assert(NoPartialRead);
    assert(AbortedWroteNothing);
    assert(CommitFinal);
    assert(AbortFinal)
}

/* ---- the coordinator ---- */

inline Heartbeat() {
    cPhase == C_START && recStatus == NONE -> SavePre();
    recStatus = PENDING; recEpoch = cEpoch; recTs = cTs
}

inline SendWrites() {
    cPhase == C_START -> SavePre();
    cPhase = C_WRITING; attempts = 1;
    wReq[0] = W_INFLIGHT; wReq[1] = W_INFLIGHT; sReq = S_INFLIGHT
}

inline Ack() {
    cPhase == C_WRITING && sReq == S_OK &&
    wReq[0] == W_DONE && wRes[0] == cTs && wReq[1] == W_DONE && wRes[1] == cTs ->
    SavePre();
    cPhase = C_ACKED; acked = true;
    eReq[0] = W_INFLIGHT; eReq[1] = W_INFLIGHT
}

inline Retry(bump) {
    cPhase == C_WRITING && Responded && sReq == S_OK && Pushed &&
    attempts < MAXATTEMPTS -> SavePre();
    cEpoch = cEpoch + bump; cTs = MaxRes; attempts++;
    wReq[0] = W_INFLIGHT; wReq[1] = W_INFLIGHT; sReq = S_INFLIGHT
}

inline Rollback() {
    cPhase == C_WRITING && Responded &&
    (sReq == S_FAILED || (Pushed && attempts == MAXATTEMPTS)) -> SavePre();
    if
    :: recStatus <= STAGING -> recStatus = ABORTED
    :: else -> skip
    fi;
    cPhase = C_FINISHED
}

inline CommitExplicit() {
    cPhase == C_ACKED -> SavePre();
    if
    :: recStatus == STAGING && recEpoch == cEpoch && recTs == cTs -> recStatus = COMMITTED
    :: else -> skip
    fi;
    cPhase = C_FINISHED
}

inline Crash() {
    cPhase <= C_ACKED -> SavePre();
    cPhase = C_CRASHED
}

/* ---- the shards ---- */

inline ApplyIntent(k) {
    wReq[k] == W_INFLIGHT -> SavePre();
    if
    :: tscache[k] >= cTs -> intentTs[k] = tscache[k] + 1
    :: else -> intentTs[k] = cTs
    fi;
    intentEpoch[k] = cEpoch; intentSeq[k] = attempts;
    wRes[k] = intentTs[k]; wReq[k] = W_DONE
}

inline ApplyStage() {
    sReq == S_INFLIGHT -> SavePre();
    if
    :: recStatus <= STAGING ->
        recStatus = STAGING; recEpoch = cEpoch; recTs = cTs;
        recInflight[0] = attempts; recInflight[1] = attempts;
        sReq = S_OK
    :: else -> sReq = S_FAILED
    fi
}

/* ---- status recovery and pushes ---- */

#ifdef MUTANT_NO_RECOVERY
/* bug: a pusher that meets a STAGING record waits for its coordinator to
 * finish it, and a dead coordinator never does */
#define RecoveryMayStart (cPhase != C_CRASHED)
#else
#define RecoveryMayStart true
#endif
#ifdef MUTANT_EARLY_MARKS_IGNORED
/* bug: only an intent starts recovery; unconfirmed markers are not looked at */
#define RecoveryTrigger AnyIntent
#else
#define RecoveryTrigger (AnyIntent || AnyEarlyMark)
#endif

inline StartRecovery() {
    rcPhase == RC_IDLE && recStatus == STAGING && RecoveryTrigger && RecoveryMayStart ->
    SavePre();
    rcPhase = RC_QUERYING; rcEpoch = recEpoch; rcTs = recTs;
    rcInflight[0] = recInflight[0]; rcInflight[1] = recInflight[1];
    rcQueried[0] = (recInflight[0] != 0 -> Q_PENDING : Q_FOUND);
    rcQueried[1] = (recInflight[1] != 0 -> Q_PENDING : Q_FOUND)
}

inline QueryIntent(k) {
    rcPhase == RC_QUERYING && rcQueried[k] == Q_PENDING -> SavePre();
    if
    :: QueryMatches(k) -> rcQueried[k] = Q_FOUND
    :: else ->
        rcQueried[k] = Q_MISSING;
#ifndef MUTANT_RECOVERY_NO_PREVENT
        /* prevent: the missing write can no longer land at rcTs */
        tscache[k] = Max(tscache[k], rcTs)
#else
        skip   /* bug: the write may still land at rcTs after the abort */
#endif
    fi
}

inline RecoverTxn() {
    rcPhase == RC_QUERYING && rcQueried[0] != Q_PENDING && rcQueried[1] != Q_PENDING ->
    SavePre();
    if
    :: recStatus == STAGING && recEpoch == rcEpoch && recTs == rcTs ->
        if
        :: rcQueried[0] == Q_FOUND && rcQueried[1] == Q_FOUND -> recStatus = COMMITTED
        :: else -> recStatus = ABORTED
        fi
    :: else -> skip   /* finalized or re-staged meanwhile */
    fi;
    rcPhase = RC_IDLE
}

inline PushAbort() {
    cPhase == C_CRASHED && recStatus <= PENDING && AnyIntent -> SavePre();
    recStatus = ABORTED
}

inline ResolveIntent(k) {
    (intentTs[k] != 0 || EarlyMark(k)) && recStatus >= COMMITTED -> SavePre();
    if
    :: intentTs[k] != 0 && recStatus == COMMITTED && intentEpoch[k] == recEpoch -> value[k] = recTs
    :: else -> skip
    fi;
    intentTs[k] = 0; intentEpoch[k] = 0; intentSeq[k] = 0;
    if
    :: recStatus == COMMITTED ->
        markEpoch[k] = recEpoch; markSeq[k] = recInflight[k]; markTs[k] = recTs
    :: else -> skip
    fi;
    markFinal[k] = true
}

inline ResolveEarly(k) {
    eReq[k] == W_INFLIGHT -> SavePre();
    eReq[k] = W_DONE;
    if
    :: IntentAt(k, cEpoch, attempts, cTs) ->
        value[k] = cTs;
        intentTs[k] = 0; intentEpoch[k] = 0; intentSeq[k] = 0;
        markEpoch[k] = cEpoch; markSeq[k] = attempts; markTs[k] = cTs; markFinal[k] = false
    :: else -> skip
    fi
}

/* ---- the reader ---- */

inline ReaderStart(t) {
    rdTs == 0 -> SavePre();
    rdTs = t
}

inline ReaderRead(k) {
    rdTs != 0 && rdSeen[k] == UNREAD && !(intentTs[k] != 0 && intentTs[k] <= rdTs) ->
    SavePre();
    rdSeen[k] = (value[k] != 0 && value[k] <= rdTs -> SEEN : MISSED);
    tscache[k] = Max(tscache[k], rdTs)
}

#ifndef PC_LIVENESS   /* ParallelCommitsLiveness.pml has its own processes */
#define STEP(a) :: d_step { a; CheckInvariants() }

init {
    /* everything done is a valid end state */
end:
    do
    STEP(Heartbeat())
    STEP(SendWrites())
    STEP(Ack())
    STEP(Retry(0))
    STEP(Retry(1))
    STEP(Rollback())
    STEP(CommitExplicit())
    STEP(Crash())
    STEP(ApplyIntent(0))
    STEP(ApplyIntent(1))
    STEP(ApplyStage())
    STEP(StartRecovery())
    STEP(QueryIntent(0))
    STEP(QueryIntent(1))
    STEP(RecoverTxn())
    STEP(PushAbort())
    STEP(ResolveIntent(0))
    STEP(ResolveIntent(1))
    STEP(ResolveEarly(0))
    STEP(ResolveEarly(1))
    STEP(ReaderStart(1))
    STEP(ReaderStart(2))
#if MAXRTS > 2
    STEP(ReaderStart(3))
#endif
    STEP(ReaderRead(0))
    STEP(ReaderRead(1))
    od
}
#endif
