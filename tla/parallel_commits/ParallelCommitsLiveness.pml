/*
 * ParallelCommitsLiveness.pml: the spin twin of ParallelCommitsLiveness.tla.
 *
 * The actions are those of ParallelCommits.pml (included); only the process
 * structure differs, because spin's weak fairness (pan -f) is per process:
 * a process that stays enabled eventually takes a step. Each weakly fair
 * TLA+ action, or group of actions of which at most one is enabled at a
 * time, therefore gets its own process, and a process whose only enabled
 * action is A must take A, which is WF_vars(A):
 *   Coordinator  SendWrites, Ack, Retry, Rollback, CommitExplicit: their
 *                guards exclude each other (cPhase, Pushed, sReq), except
 *                Retry's two branches, which are one TLA+ action;
 *   IntentShardK ApplyIntent(k);  StageShard  ApplyStage;
 *   QueryK       QueryIntent(k);  one process per TLA+ fairness conjunct,
 *   Recovery     StartRecovery, RecoverTxn (rcPhase idle vs all answered);
 *   Pusher       PushAbort;  ResolverK  ResolveIntent(k).
 * Crash and Heartbeat are not fair: they live in a process that, whenever
 * they are enabled, can take a step that changes nothing instead, so
 * fairness never forces them (Heartbeat needs cPhase = start, where Crash is
 * enabled too). The reader is
 * not part of ParallelCommitsLiveness.tla; -DWITH_READER adds it, unfair in
 * the same way.
 *
 * Run with pan -a -f (spin.conf): one ltl formula, the conjunction of both
 * properties, is checked for acceptance cycles under weak fairness; the
 * invariants and action properties are asserted after every step.
 */

#define PC_LIVENESS
#include "ParallelCommits.pml"

/* The rest of the TLA+ TypeOK (ParallelCommits.pml checks a part of it);
 * without -DWITH_READER the reader must stay where Init put it. */
#ifdef WITH_READER
#define ReaderOK (rdSeen[0] <= MISSED && rdSeen[1] <= MISSED)
#else
#define ReaderOK (rdTs == 0 && rdSeen[0] == UNREAD && rdSeen[1] == UNREAD)
#endif
#define TypeOKRest (recInflight[0] <= MAXATTEMPTS && recInflight[1] <= MAXATTEMPTS && \
    intentEpoch[0] <= MAXATTEMPTS && intentEpoch[1] <= MAXATTEMPTS && \
    intentSeq[0] <= MAXATTEMPTS && intentSeq[1] <= MAXATTEMPTS && \
    value[0] <= MAXTS && value[1] <= MAXTS && cEpoch <= MAXATTEMPTS && \
    markEpoch[0] <= MAXATTEMPTS && markEpoch[1] <= MAXATTEMPTS && \
    markSeq[0] <= MAXATTEMPTS && markSeq[1] <= MAXATTEMPTS && \
    markTs[0] <= MAXTS && markTs[1] <= MAXTS && eReq[0] <= W_DONE && eReq[1] <= W_DONE && \
    wReq[0] <= W_DONE && wReq[1] <= W_DONE && wRes[0] <= MAXTS && wRes[1] <= MAXTS && \
    sReq <= S_FAILED && (acked == 0 || acked == 1) && rcPhase <= RC_QUERYING && \
    rcEpoch <= MAXATTEMPTS && rcTs <= MAXTS && \
    rcInflight[0] <= MAXATTEMPTS && rcInflight[1] <= MAXATTEMPTS && \
    rcQueried[0] <= Q_MISSING && rcQueried[1] <= Q_MISSING && ReaderOK)

/* the invariants and action properties of ParallelCommitsLiveness.cfg
 * (CommitFinal and AbortFinal compare with the record SavePre kept) */
inline CheckLiveInvariants() {
    assert(TypeOK && TypeOKRest);
    assert(AckedIsCommitted);
    assert(CommitFinal);
    assert(AbortFinal);
    assert(AbortedWroteNothing);
#ifdef WITH_READER
    assert(NoPartialRead)
#else
    skip
#endif
}

#define LSTEP(a) :: d_step { a; CheckLiveInvariants() }

/* ---- properties (as in ParallelCommitsLiveness.tla) ---- */
#define ImplicitBecomesExplicit ([] (ImplicitlyCommitted -> <> (recStatus == COMMITTED)))
#define IntentsResolved \
    ([] (intentTs[0] != 0 -> <> (intentTs[0] == 0)) && \
     [] (intentTs[1] != 0 -> <> (intentTs[1] == 0)))

ltl Live { ImplicitBecomesExplicit && IntentsResolved }

/* ---- weakly fair processes ---- */
active proctype Coordinator() {
end: do
    LSTEP(SendWrites())
    LSTEP(Ack())
    LSTEP(Retry(0))
    LSTEP(Retry(1))
    LSTEP(Rollback())
    LSTEP(CommitExplicit())
    od
}

active proctype IntentShard0() { end: do LSTEP(ApplyIntent(0)) od }
active proctype IntentShard1() { end: do LSTEP(ApplyIntent(1)) od }
active proctype StageShard() { end: do LSTEP(ApplyStage()) od }

active proctype Recovery() {
end: do
    LSTEP(StartRecovery())
    LSTEP(RecoverTxn())
    od
}
active proctype Query0() { end: do LSTEP(QueryIntent(0)) od }
active proctype Query1() { end: do LSTEP(QueryIntent(1)) od }

active proctype Pusher() { end: do LSTEP(PushAbort()) od }
active proctype Resolver0() { end: do LSTEP(ResolveIntent(0)) od }
active proctype Resolver1() { end: do LSTEP(ResolveIntent(1)) od }
active proctype EarlyResolver0() { end: do LSTEP(ResolveEarly(0)) od }
active proctype EarlyResolver1() { end: do LSTEP(ResolveEarly(1)) od }

/* ---- steps that need not happen ---- */
active proctype Environment() {
end: do
    LSTEP(Heartbeat())
    LSTEP(Crash())
    :: cPhase <= C_ACKED    /* not crashing: enabled exactly while Crash is */
    od
}

#ifdef WITH_READER
active proctype Reader() {
end: do
    LSTEP(ReaderStart(1))
    LSTEP(ReaderStart(2))
    LSTEP(ReaderRead(0))
    LSTEP(ReaderRead(1))
    :: rdSeen[0] == UNREAD || rdSeen[1] == UNREAD   /* not reading now */
    od
}
#endif
