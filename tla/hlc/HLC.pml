/*
 * HLC.pml: the spin twin of HLC.tla (same variables, actions, invariants).
 *
 * Hybrid logical clocks (Kulkarni et al. 2014) as src/hlc implements them:
 * hlc_now for send and write events, hlc_update for receives, including the
 * refusal of a remote wall time more than MaxOffset ahead of the local
 * physical clock; and a store that keeps, of the writes of one property, the
 * one with the largest (l, c, node id), whatever order they arrive in.
 *
 * Nodes are 0..N-1 (TLC: 1..N; only their order matters). Events are
 * numbered 1..MAXEVENTS as in the TLA+ history; a set of events is a bit
 * mask with bit e for event e. Every action is one d_step that ends with the
 * invariant checks, so a transition of pan is a step of the TLA+ Next and
 * the state count matches TLC's.
 *
 * Mutants (mutants/*.pml) #define one MUTANT_* flag and include this file.
 */

#ifndef N
#define N 2
#endif
#ifndef MAXPT
#define MAXPT 4          /* MaxPt: physical clocks run 1..MAXPT */
#endif
#ifndef SKEW
#define SKEW 2           /* Skew: largest distance between two physical clocks */
#endif
#ifndef MAXOFFSET
#define MAXOFFSET 1      /* MaxOffset (epsilon): refuse l > pt + MAXOFFSET */
#endif
#ifndef K
#define K 1              /* events per node per physical tick */
#endif
#ifndef MAXEVENTS
#define MAXEVENTS 6      /* length of the history */
#endif
#define CounterBound (N * K * (MAXOFFSET + 1))

/* event kinds */
#define SEND  1
#define RECV  2
#define WRITE 3

typedef Event {
    byte node;
    byte kind;
    byte peer;     /* SEND: destination node; RECV: the send event; WRITE: 0 */
    byte l;
    byte c;
    int hb         /* events that happened before this one */
};

/* ---- VARIABLES (names as in HLC.tla) ---- */
byte pt[N];
byte l[N];
byte c[N];
byte sinceTick[N];
Event hist[MAXEVENTS + 1];  /* hist[1..nev]; hist[0] stays zero */
byte nev;                   /* Len(hist) */
int msgs;                   /* send events in flight */
int toStore;                /* write events on their way to the store */
byte stored;                /* the write the store keeps, 0: none */

/* scratch, not part of the state */
hidden byte e, f, g, nsame, nl, nc, lastev;
hidden int hbset;
hidden byte TypeOK, Causality, Monotonic, BoundedDrift, BoundedCounter, ConflictOrderedByHLC;

#define BIT(x) (1 << (x))
#define Max2(a, b) ((a) >= (b) -> (a) : (b))
#define TsLess(x, y) (hist[x].l < hist[y].l || (hist[x].l == hist[y].l && hist[x].c < hist[y].c))
#define KeyLess(x, y) (TsLess(x, y) || \
    (hist[x].l == hist[y].l && hist[x].c == hist[y].c && hist[x].node < hist[y].node))
#define CanAct(n) (sinceTick[n] < K && nev < MAXEVENTS)
#ifdef MUTANT_NO_OFFSET_CHECK
/* bug: hlc_update never returns GROVE_ERANGE; any remote wall time is merged */
#define TooFarAhead(n, m) false
#else
#define TooFarAhead(n, m) (hist[m].l > pt[n] + MAXOFFSET)
#endif

/* hlc_now */
#define NowL(n) Max2(l[n], pt[n])
#ifdef MUTANT_COUNTER_NOT_RESET
/* bug: the logical part keeps counting when the wall part advances */
#define NowC(n) (c[n] + 1)
#else
#define NowC(n) (NowL(n) == l[n] -> c[n] + 1 : 0)
#endif

/* lastev = LastAt(n) */
inline LastAt(n) {
    lastev = 0;
    e = 1;
    do
    :: e <= nev -> if :: hist[e].node == n -> lastev = e :: else -> skip fi; e++
    :: else -> break
    od
}

/* Past(lastev): the causal past a new event of n inherits */
#define Past(x) ((x) == 0 -> 0 : (hist[x].hb | BIT(x)))

/* append event (n, kd, pe) with timestamp (nl, nc) and causal past hbset */
inline Record(n, kd, pe) {
    nev++;
    hist[nev].node = n;
    hist[nev].kind = kd;
    hist[nev].peer = pe;
    hist[nev].l = nl;
    hist[nev].c = nc;
    hist[nev].hb = hbset;
    l[n] = nl;
    c[n] = nc;
    sinceTick[n]++
}

/* ---- actions ---- */

#define TickEnabled(n) (pt[n] < MAXPT && pt[n] + 1 <= pt[0] + SKEW && pt[n] + 1 <= pt[1] + SKEW)
inline Tick(n) {
    pt[n]++;
    sinceTick[n] = 0
}

inline Send(n, d) {
    nl = NowL(n);
    nc = NowC(n);
    LastAt(n);
    hbset = Past(lastev);
    Record(n, SEND, d);
    msgs = msgs | BIT(nev)
}

inline Write(n) {
    nl = NowL(n);
    nc = NowC(n);
    LastAt(n);
    hbset = Past(lastev);
    Record(n, WRITE, 0);
    toStore = toStore | BIT(nev)
}

/* hlc_update: l' = max(l, lm, pt); c' by the paper's three cases */
inline Receive(n, m) {
#ifdef MUTANT_IGNORE_REMOTE
    /* bug: the receive is timestamped like a local event, the message's
     * timestamp is not merged */
    nl = NowL(n);
    nc = NowC(n);
#else
#ifdef MUTANT_NO_MAX
    /* bug: the remote wall time is left out of the max (l' = max(l, pt));
     * the c cases below still compare with it */
    nl = Max2(l[n], pt[n]);
#else
    nl = Max2(Max2(l[n], hist[m].l), pt[n]);
#endif
    if
#ifdef MUTANT_NO_INCREMENT
    /* bug: when l does not move, c is not incremented */
    :: nl == l[n] && nl == hist[m].l -> nc = Max2(c[n], hist[m].c)
    :: else -> if
        :: nl == l[n] -> nc = c[n]
#else
    :: nl == l[n] && nl == hist[m].l -> nc = Max2(c[n], hist[m].c) + 1
    :: else -> if
        :: nl == l[n] -> nc = c[n] + 1
#endif
        :: else -> if
            :: nl == hist[m].l -> nc = hist[m].c + 1
            :: else -> nc = 0
            fi
        fi
    fi;
#endif
    LastAt(n);
    hbset = Past(lastev) | Past(m);
    Record(n, RECV, m);
    msgs = msgs & ~BIT(m)
}

/* hlc_update's GROVE_ERANGE: the message is dropped, the clock unchanged */
inline Refuse(n, m) {
    msgs = msgs & ~BIT(m)
}

inline StoreApply(w) {
#ifdef MUTANT_LAST_ARRIVAL_WINS
    /* bug: the store keeps whatever arrived last */
    stored = w;
#else
    if
    :: stored == 0 || KeyLess(stored, w) -> stored = w
    :: else -> skip
    fi;
#endif
    toStore = toStore & ~BIT(w)
}

/* ---- invariants ---- */

inline CheckInvariants() {
    TypeOK = (nev <= MAXEVENTS && stored <= nev &&
              (msgs & ~(BIT(nev + 1) - 2)) == 0 && (toStore & ~(BIT(nev + 1) - 2)) == 0 &&
              pt[0] >= 1 && pt[0] <= MAXPT && pt[1] >= 1 && pt[1] <= MAXPT &&
              sinceTick[0] <= K && sinceTick[1] <= K);
    Causality = true;
    Monotonic = true;
    BoundedCounter = true;
    f = 1;
    do
    :: f <= nev ->
        nsame = 0;
        e = 1;
        do
        :: e < f ->
            if
            :: (hist[f].hb & BIT(e)) != 0 ->
                Causality = Causality && TsLess(e, f);
                if :: hist[e].l == hist[f].l -> nsame++ :: else -> skip fi
            :: else -> skip
            fi;
            if
            :: hist[e].node == hist[f].node -> Monotonic = Monotonic && TsLess(e, f)
            :: else -> skip
            fi;
            e++
        :: else -> break
        od;
        BoundedCounter = BoundedCounter && hist[f].c <= nsame;
        f++
    :: else -> break
    od;
    BoundedCounter = BoundedCounter && c[0] < CounterBound && c[1] < CounterBound;
    BoundedDrift = (l[0] <= pt[0] + MAXOFFSET && l[1] <= pt[1] + MAXOFFSET);
    /* arrived writes: kind WRITE, not in toStore */
    ConflictOrderedByHLC = true;
    g = 0;
    e = 1;
    do
    :: e <= nev ->
        if
        :: hist[e].kind == WRITE && (toStore & BIT(e)) == 0 ->
            g++;
            if
            :: e != stored ->
                ConflictOrderedByHLC = ConflictOrderedByHLC && stored != 0 &&
                    KeyLess(e, stored) && (hist[e].hb & BIT(stored)) == 0
            :: else -> skip
            fi
        :: else -> skip
        fi;
        e++
    :: else -> break
    od;
    if
    :: g > 0 ->
        ConflictOrderedByHLC = ConflictOrderedByHLC && stored != 0 &&
            hist[stored].kind == WRITE && (toStore & BIT(stored)) == 0
    :: else -> skip
    fi;
    assert(TypeOK);
    assert(Causality);
    assert(Monotonic);
    assert(BoundedDrift);
    assert(BoundedCounter);
    assert(ConflictOrderedByHLC)
}

/* One branch per (action, parameters); the guard is the d_step's first
 * statement, so a disabled branch is not a transition. */
#define DELIVER(m) \
    :: d_step { (msgs & BIT(m)) != 0 && \
                (TooFarAhead(hist[m].peer, m) || CanAct(hist[m].peer)) -> \
        if \
        :: TooFarAhead(hist[m].peer, m) -> Refuse(hist[m].peer, m) \
        :: else -> Receive(hist[m].peer, m) \
        fi; \
        CheckInvariants() }
#define APPLY(m) \
    :: d_step { (toStore & BIT(m)) != 0 -> StoreApply(m); CheckInvariants() }

init {
    d_step {
        pt[0] = 1; pt[1] = 1;
        CheckInvariants()
    };
    /* the model is bounded: running out of ticks and events is a valid end */
end:
    do
    :: d_step { TickEnabled(0) -> Tick(0); CheckInvariants() }
    :: d_step { TickEnabled(1) -> Tick(1); CheckInvariants() }
    :: d_step { CanAct(0) -> Send(0, 1); CheckInvariants() }
    :: d_step { CanAct(1) -> Send(1, 0); CheckInvariants() }
    :: d_step { CanAct(0) -> Write(0); CheckInvariants() }
    :: d_step { CanAct(1) -> Write(1); CheckInvariants() }
    DELIVER(1) DELIVER(2) DELIVER(3) DELIVER(4) DELIVER(5) DELIVER(6)
#if MAXEVENTS > 6
    DELIVER(7)
#endif
    APPLY(1) APPLY(2) APPLY(3) APPLY(4) APPLY(5) APPLY(6)
#if MAXEVENTS > 6
    APPLY(7)
#endif
    od
}
