/*
 * LatencyRounds.pml: the spin twin of LatencyRounds.tla (same variables,
 * actions and invariants; see that module for the round accounting).
 *
 * Proposals are numbered below; a name ending in 1 or 2 lives on that
 * shard, every txn record on the anchor shard 1. Every action is one
 * d_step: its guard, its effect, then the invariant assertions, so a pan
 * transition is one step of the TLA+ Next. The loop is left only through
 * Finished (everything committed, every client acknowledged); a state
 * before it in which no action is enabled is an invalid end state, the
 * deadlock TLC reports with CHECK_DEADLOCK TRUE.
 *
 * Mutants (mutants/*.pml) #define one MUTANT_* flag and include this file.
 */

#ifndef MAXROUND
#define MAXROUND 3   /* no proposal lies beyond this round */
#endif

/* the proposals */
#define W    0    /* the single-shard write */
#define PI1  1    /* PC: intent on shard 1 */
#define PI2  2    /* PC: intent on shard 2 */
#define PS   3    /* PC: the STAGING record */
#define PCC  4    /* PC: the record made COMMITTED (after the ack) */
#define PR1  5    /* PC: resolution of the intent on shard 1 */
#define PR2  6    /* PC: resolution of the intent on shard 2 */
#define TI1  7    /* TPC: prepare, intent on shard 1 */
#define TI2  8    /* TPC: prepare, intent on shard 2 */
#define TD   9    /* TPC: the COMMITTED decision record */
#define TR1 10    /* TPC: resolution on shard 1 */
#define TR2 11    /* TPC: resolution on shard 2 */
#define NPROPS 12
/* the clients */
#define SW  0
#define PC  1
#define TPC 2
/* status */
#define IDLE       0
#define SENT       1
#define APPENDED   2
#define REPLICATED 3
#define COMMITTED  4

/* ---- VARIABLES (names as in LatencyRounds.tla) ---- */
byte status[NPROPS];   /* where each proposal is */
byte round[NPROPS];    /* the consensus round it occupies; 0: not sent */
bool acked[3];         /* the client has its acknowledgement */
byte rounds[3];        /* consensus rounds on the client's path to the ack */

#define Max2(a, b) ((a) >= (b) -> (a) : (b))
#define Max3(a, b, c) Max2(Max2(a, b), c)
#define C(p) (status[p] == COMMITTED)
#define I(p) (status[p] == IDLE)

/* AckNeeds and the largest round among them */
#define SwNeedsCommitted  C(W)
#define PcNeedsCommitted  (C(PI1) && C(PI2) && C(PS))
#define TpcNeedsCommitted (C(TI1) && C(TI2) && C(TD))
#define SwNeedsRound  round[W]
#define PcNeedsRound  Max3(round[PI1], round[PI2], round[PS])
#define TpcNeedsRound Max3(round[TI1], round[TI2], round[TD])

#define AllCommitted (C(0) && C(1) && C(2) && C(3) && C(4) && C(5) && \
    C(6) && C(7) && C(8) && C(9) && C(10) && C(11))
#define AllDone (AllCommitted && acked[SW] && acked[PC] && acked[TPC])

/* ---- invariants ---- */
#define PropOK(p) (status[p] <= COMMITTED && round[p] <= MAXROUND && \
    ((round[p] == 0) == (status[p] == IDLE)))
#define ClientOK(x) (rounds[x] <= MAXROUND && ((rounds[x] == 0) == !acked[x]))
#define TypeOK (PropOK(0) && PropOK(1) && PropOK(2) && PropOK(3) && \
    PropOK(4) && PropOK(5) && PropOK(6) && PropOK(7) && PropOK(8) && \
    PropOK(9) && PropOK(10) && PropOK(11) && \
    ClientOK(SW) && ClientOK(PC) && ClientOK(TPC))
#define SingleShardOneRound     (!acked[SW] || rounds[SW] == 1)
#define ParallelCommitOneRound  (!acked[PC] || rounds[PC] == 1)
#define TwoPhaseCommitTwoRounds (!acked[TPC] || rounds[TPC] == 2)
#define AckedIsReplicated ((!acked[SW] || SwNeedsCommitted) && \
    (!acked[PC] || PcNeedsCommitted) && (!acked[TPC] || TpcNeedsCommitted))
#define AfterPc(p) (I(p) || round[p] > rounds[PC])
#define AfterTpc(p) (I(p) || round[p] > rounds[TPC])
#define AsyncAfterAck ( \
    ((I(PCC) && I(PR1) && I(PR2)) || acked[PC]) && \
    ((I(PR1) && I(PR2)) || C(PCC)) && \
    ((I(TR1) && I(TR2)) || (acked[TPC] && C(TD))) && \
    AfterPc(PCC) && AfterPc(PR1) && AfterPc(PR2) && \
    AfterTpc(TR1) && AfterTpc(TR2))

inline CheckInvariants() {
    assert(TypeOK);
    assert(SingleShardOneRound);
    assert(ParallelCommitOneRound);
    assert(TwoPhaseCommitTwoRounds);
    assert(AckedIsReplicated);
    assert(AsyncAfterAck)
}

/* the sender sends proposal p in round r (the guard Idle is the caller's) */
#define Send(p, r) status[p] = SENT; round[p] = r

/* ---- single-shard write (src/server/replicated.c) ---- */

inline ClientWrite() {
    I(W) -> Send(W, 1)
}

inline SwAck() {
    !acked[SW] && SwNeedsCommitted ->
    acked[SW] = true; rounds[SW] = SwNeedsRound
}

/* ---- parallel commits (src/txn) ---- */

inline PcSend() {
#ifdef MUTANT_STAGING_AFTER_INTENTS
    /* bug: the record waits for the intents instead of going with them */
    I(PI1) && I(PI2) -> Send(PI1, 1); Send(PI2, 1)
#else
    I(PI1) && I(PI2) && I(PS) -> Send(PI1, 1); Send(PI2, 1); Send(PS, 1)
#endif
}

#ifdef MUTANT_STAGING_AFTER_INTENTS
inline PcStage() {
    I(PS) && C(PI1) && C(PI2) -> Send(PS, 1 + Max2(round[PI1], round[PI2]))
}
#endif

inline PcAck() {
    !acked[PC] && PcNeedsCommitted ->
    acked[PC] = true; rounds[PC] = PcNeedsRound
}

inline PcFinalize() {
    acked[PC] && I(PCC) -> Send(PCC, 1 + rounds[PC])
}

inline PcResolve() {
    C(PCC) && I(PR1) && I(PR2) -> Send(PR1, 1 + round[PCC]); Send(PR2, 1 + round[PCC])
}

/* ---- two-phase commit ---- */

inline TpPrepare() {
    I(TI1) && I(TI2) -> Send(TI1, 1); Send(TI2, 1)
}

inline TpDecide() {
    C(TI1) && C(TI2) && I(TD) -> Send(TD, 1 + Max2(round[TI1], round[TI2]))
}

inline TpAck() {
    !acked[TPC] && TpcNeedsCommitted ->
    acked[TPC] = true; rounds[TPC] = TpcNeedsRound
}

inline TpResolve() {
    acked[TPC] && I(TR1) && I(TR2) ->
    Send(TR1, 1 + Max2(rounds[TPC], round[TD])); Send(TR2, 1 + Max2(rounds[TPC], round[TD]))
}

/* ---- a shard's Raft group, fault-free (src/raft) ---- */

inline Append(p) {
    status[p] == SENT -> status[p] = APPENDED
}

inline Replicate(p) {
    status[p] == APPENDED -> status[p] = REPLICATED
}

inline Commit(p) {
    status[p] == REPLICATED -> status[p] = COMMITTED
}

#define Finished AllDone

#define STEP(a) :: d_step { a; CheckInvariants() }
#define RAFT(p) STEP(Append(p)) STEP(Replicate(p)) STEP(Commit(p))

init {
    do
    STEP(ClientWrite())
    STEP(SwAck())
    STEP(PcSend())
#ifdef MUTANT_STAGING_AFTER_INTENTS
    STEP(PcStage())
#endif
    STEP(PcAck())
    STEP(PcFinalize())
    STEP(PcResolve())
    STEP(TpPrepare())
    STEP(TpDecide())
    STEP(TpAck())
    STEP(TpResolve())
    RAFT(0) RAFT(1) RAFT(2) RAFT(3) RAFT(4) RAFT(5)
    RAFT(6) RAFT(7) RAFT(8) RAFT(9) RAFT(10) RAFT(11)
    :: Finished -> break
    od
}
