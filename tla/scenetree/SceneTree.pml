/*
 * SceneTree.pml: the spin twin of SceneTree.tla, with its variable, action
 * and invariant names.  Each action is one d_step, so a step of pan is a step
 * of the TLA+ Next; a proposal that its snapshot refuses leaves the state
 * unchanged (a stutter, where the TLA+ action is disabled), which reaches the
 * same states.  The state invariants are expressions, unrolled for MAXID = 6,
 * that a monitor process evaluates once per state.
 *
 * Ids are 1..MAXID (1 is the root, 0 is NoNode); live is a bit set of ids;
 * names are 1..NAMES (0 is NoName).  Mutants (mutants/ *.pml) #define one
 * MUTANT_* flag and include this file.
 */

#define TXN      2
#define NAMES    2
#define MAXINIT  3        /* ids 2..MAXINIT+1 may exist in the initial tree */
#define MAXLOG   2        /* proposals in a run */
#define MAXID    (MAXINIT + 1 + MAXLOG)
#if MAXINIT != 3 || MAXLOG != 2
#error "the unrolled options and invariants below are written for MAXINIT = 3, MAXLOG = 2 (MAXID = 6)"
#endif

#define Root     1
#define NoNode   0
#define NoName_  0        /* NoName */

/* entry kinds */
#define KCreate  1
#define KDelete  2
#define KMove    3
#define KRename  4

/* apply results */
#define OK        1
#define ENOTFOUND 2
#define EEXIST    3
#define ECYCLE    4
#define EROOT     5

/* pc */
#define idle 0
#define read 1

typedef Tree { byte live; byte parent[MAXID + 1]; byte name[MAXID + 1] };
typedef Entry { byte kind; byte node; byte par; byte nm; byte ver };

/* ---- VARIABLES ---- */
byte live = 2;              /* bit set of the live ids (the root: the state before init chooses a tree) */
byte parent[MAXID + 1];
byte name[MAXID + 1];
byte nextId = MAXINIT + 2;
Entry log[MAXLOG];          /* kind 0: no entry yet */
byte applied;
byte results[MAXLOG];       /* 0: not applied yet */
Tree hist[MAXLOG + 1];      /* hist[v]: the tree after v applied entries */
byte pc[TXN];
byte readVer[TXN];

/* scratch (not part of the state): the tree a check looks at */
hidden byte Tlive;
hidden byte Tpar[MAXID + 1];
hidden byte Tname[MAXID + 1];
hidden byte r, x, y, k, taken, below, ok;

#define LIVE(n)     ((live >> (n)) & 1)
#define TLIVE(n)    ((Tlive >> (n)) & 1)
#define LogLen      ((log[0].kind != 0) + (log[1].kind != 0))
#define CanPropose  (LogLen < MAXLOG)

/* ---- trees ---- */

inline CopyCurrentToT() {
    Tlive = live;
    x = 0;
    do :: x <= MAXID -> Tpar[x] = parent[x]; Tname[x] = name[x]; x++ :: else -> break od
}

inline CopyHistToT(hv) {
    Tlive = hist[hv].live;
    x = 0;
    do :: x <= MAXID -> Tpar[x] = hist[hv].parent[x]; Tname[x] = hist[hv].name[x]; x++ :: else -> break od
}

inline CopyCurrentToHist(v) {
    hist[v].live = live;
    x = 0;
    do :: x <= MAXID -> hist[v].parent[x] = parent[x]; hist[v].name[x] = name[x]; x++ :: else -> break od
}

/* Below(T, n, a): a is n or one of n's ancestors in T */
inline Below(n, a) {
    below = 0; y = n; k = 0;
    do
    :: k <= MAXID && y == a -> below = 1; break
    :: k <= MAXID && y != a -> y = Tpar[y]; k++
    :: else -> break
    od
}

/* NameTaken(T, p, nm, self): another live child of p is called nm */
inline NameTaken(np, nnm, nself) {
    taken = 0; y = 2;
    do
    :: y <= MAXID -> if :: y != nself && TLIVE(y) && Tpar[y] == np && Tname[y] == nnm -> taken = 1 :: else -> skip fi; y++
    :: else -> break
    od
}

/* Check(T, op): the validation of op_create / op_delete / op_move /
 * op_rename, in the order the code checks; sets r */
inline Check(kd, nd, pr, nmv) {
    if
    :: kd == KCreate ->
        if
        :: !TLIVE(pr) -> r = ENOTFOUND
        :: else -> NameTaken(pr, nmv, NoNode); r = (taken -> EEXIST : OK)
        fi
    :: kd == KDelete ->
        if
        :: !TLIVE(nd) -> r = ENOTFOUND
        :: else -> r = (nd == Root -> EROOT : OK)
        fi
    :: kd == KMove ->
        if
        :: !TLIVE(nd) -> r = ENOTFOUND
        :: TLIVE(nd) && nd == Root -> r = EROOT
        :: TLIVE(nd) && nd != Root && !TLIVE(pr) -> r = ENOTFOUND
        :: TLIVE(nd) && nd != Root && TLIVE(pr) ->
            Below(pr, nd);
            if
            :: below -> r = ECYCLE
            :: else -> NameTaken(pr, nmv, nd); r = (taken -> EEXIST : OK)
            fi
        fi
    :: kd == KRename ->
        if
        :: !TLIVE(nd) -> r = ENOTFOUND
        :: TLIVE(nd) && nd == Root -> r = EROOT
        :: TLIVE(nd) && nd != Root -> NameTaken(Tpar[nd], nmv, nd); r = (taken -> EEXIST : OK)
        fi
    fi
}

/* Effect(op) on the current tree (T holds a copy of it) */
inline Effect(kd, nd, pr, nmv) {
    if
    :: kd == KCreate ->
        live = live | (1 << nextId); parent[nextId] = pr; name[nextId] = nmv; nextId++
    :: kd == KDelete ->
        x = 2;
        do
        :: x <= MAXID ->
            if
#ifdef MUTANT_DELETE_NODE_ONLY
            /* bug: only the node goes; its descendants stay, without a live parent */
            :: TLIVE(x) -> below = (x == nd); if :: below -> live = live & ~(1 << x); parent[x] = NoNode; name[x] = NoName_ :: else -> skip fi
#else
            :: TLIVE(x) -> Below(x, nd); if :: below -> live = live & ~(1 << x); parent[x] = NoNode; name[x] = NoName_ :: else -> skip fi
#endif
            :: else -> skip
            fi;
            x++
        :: else -> break
        od
    :: kd == KMove -> parent[nd] = pr; name[nd] = nmv
    :: kd == KRename -> name[nd] = nmv
    fi
}

/* ---- actions ---- */

inline Read(t) {
    pc[t] = read;
    readVer[t] = applied
}

/* Propose(t, op): valid against t's snapshot, Raft commits it */
inline Propose(t, kd, nd, pr, nmv) {
    CopyHistToT(readVer[t]);
    Check(kd, nd, pr, nmv);
    if
    :: r == OK ->
        log[LogLen].ver = readVer[t];     /* LogLen counts kinds: set kind last */
        log[LogLen].node = nd; log[LogLen].par = pr; log[LogLen].nm = nmv;
        log[LogLen].kind = kd;
        pc[t] = idle;
        readVer[t] = 0
    :: else -> skip
    fi
}
inline ProposeCreate(t, p, nm)     { Propose(t, KCreate, NoNode, p, nm) }
inline ProposeDeleteSubtree(t, n)  { Propose(t, KDelete, n, NoNode, NoName_) }
inline ProposeMove(t, n, p, nm)    { Propose(t, KMove, n, p, nm) }
inline ProposeRename(t, n, nm)     { Propose(t, KRename, n, NoNode, nm) }

/* tree_apply_batch: validate against the current tree, apply or refuse */
inline Apply() {
    CopyCurrentToT();
#ifdef MUTANT_STALE_SNAPSHOT
    /* bug: the entry is validated against the snapshot its proposer read */
    CopyHistToT(log[applied].ver);
#endif
    Check(log[applied].kind, log[applied].node, log[applied].par, log[applied].nm);
#ifdef MUTANT_STALE_SNAPSHOT
    CopyCurrentToT();      /* Effect works on the current tree */
#endif
    if
    :: r == OK ->
        Effect(log[applied].kind, log[applied].node, log[applied].par, log[applied].nm)
    :: else -> skip
    fi;
    results[applied] = r;
    applied++;
    CopyCurrentToHist(applied)
}

/* ---- invariants (unrolled for MAXID = 6) ---- */

#define P1(n) parent[n]
#define P2(n) parent[P1(n)]
#define P3(n) parent[P2(n)]
#define P4(n) parent[P3(n)]
#define P5(n) parent[P4(n)]
#define P6(n) parent[P5(n)]
#define EACH_ID(P)    (P(1) && P(2) && P(3) && P(4) && P(5) && P(6))
#define EACH_NONROOT(P) (P(2) && P(3) && P(4) && P(5) && P(6))

/* no live node is its own proper ancestor */
#define Acyclic(n)    (!LIVE(n) || (P1(n) != n && P2(n) != n && P3(n) != n && P4(n) != n && P5(n) != n && P6(n) != n))
#define NoCycle_now   EACH_ID(Acyclic)

/* the root exists, has no parent, and is the only live node without one */
#define HasParent(n)  (!LIVE(n) || parent[n] != NoNode)
#define OneRoot_now   (LIVE(Root) && parent[Root] == NoNode && EACH_NONROOT(HasParent))

/* every live non-root node reaches the root through live parents */
#define Reaches(n)    (!LIVE(n) || P1(n) == Root || (LIVE(P1(n)) && (P2(n) == Root || (LIVE(P2(n)) && \
                       (P3(n) == Root || (LIVE(P3(n)) && (P4(n) == Root || (LIVE(P4(n)) && \
                       (P5(n) == Root || (LIVE(P5(n)) && P6(n) == Root))))))))))
#define NoOrphan_now  EACH_NONROOT(Reaches)

#define IsTree_now    (NoCycle_now && OneRoot_now && NoOrphan_now)

#define Distinct(a, b) (!(LIVE(a) && LIVE(b) && parent[a] == parent[b]) || name[a] != name[b])
#define UniqueSiblingNames_now (Distinct(2, 3) && Distinct(2, 4) && Distinct(2, 5) && Distinct(2, 6) && \
                                Distinct(3, 4) && Distinct(3, 5) && Distinct(3, 6) && Distinct(4, 5) && \
                                Distinct(4, 6) && Distinct(5, 6))

#define TypeOK_now    (nextId >= MAXINIT + 2 && nextId <= MAXID + 1 && live < (1 << nextId) && \
                       (live & 1) == 0 && applied <= LogLen && pc[0] <= read && pc[1] <= read && \
                       readVer[0] <= applied && readVer[1] <= applied)

/* Two moves proposed from the same snapshot, each putting one node under
 * the other: the first applied, the second refused with ECYCLE. */
#define CrossingMoveRefused (applied == 2 && log[0].kind == KMove && log[1].kind == KMove && \
                             log[0].node == log[1].par && log[1].node == log[0].par && \
                             log[0].ver == log[1].ver && results[0] == OK && results[1] == ECYCLE)

#ifdef ONLY_CYCLES
#define Invariants    NoCycle_now     /* a mutant that must show a cycle */
#elif defined(CLAIM_NO_CROSSING_MOVE_REFUSED)
#define Invariants    (TypeOK_now && IsTree_now && UniqueSiblingNames_now && !CrossingMoveRefused)
#else
#define Invariants    (TypeOK_now && IsTree_now && UniqueSiblingNames_now)
#endif

/* The monitor blocks while the invariants hold; on a violation it names the
 * one that failed. */
hidden byte TypeOK, NoCycle, OneRoot, NoOrphan, IsTree, UniqueSiblingNames, NoCrossingMoveRefused;

active proctype monitor() {
end_watch:
    !Invariants ->
    d_step {
        TypeOK = TypeOK_now; NoCycle = NoCycle_now; OneRoot = OneRoot_now;
        NoOrphan = NoOrphan_now; IsTree = IsTree_now; UniqueSiblingNames = UniqueSiblingNames_now
    };
    assert(TypeOK); assert(NoCycle); assert(OneRoot); assert(NoOrphan); assert(IsTree);
    assert(UniqueSiblingNames);
    NoCrossingMoveRefused = !CrossingMoveRefused;
    assert(NoCrossingMoveRefused)
}

/* ---- the transition relation ---- */

#define STEP(guard, body) :: d_step { guard -> body; r = 0 }

#define OPT_CREATE(t, p, nm)    STEP(pc[t] == read && CanPropose, ProposeCreate(t, p, nm))
#define OPT_RENAME(t, n, nm)    STEP(pc[t] == read && CanPropose, ProposeRename(t, n, nm))
#define OPT_DELETE(t, n)        STEP(pc[t] == read && CanPropose, ProposeDeleteSubtree(t, n))
#define OPT_MOVE(t, n, p, nm)   STEP(pc[t] == read && CanPropose, ProposeMove(t, n, p, nm))

#define EACH_NM(X, a, b)        X(a, b, 1) X(a, b, 2)
#define EACH_ID_NM(X, a)        EACH_NM(X, a, 1) EACH_NM(X, a, 2) EACH_NM(X, a, 3) \
                                EACH_NM(X, a, 4) EACH_NM(X, a, 5) EACH_NM(X, a, 6)
#define EACH_ID2(X, a)          X(a, 1) X(a, 2) X(a, 3) X(a, 4) X(a, 5) X(a, 6)
#define EACH_NM4(X, a, b, c)    X(a, b, c, 1) X(a, b, c, 2)
#define EACH_P4(X, a, b)        EACH_NM4(X, a, b, 1) EACH_NM4(X, a, b, 2) EACH_NM4(X, a, b, 3) \
                                EACH_NM4(X, a, b, 4) EACH_NM4(X, a, b, 5) EACH_NM4(X, a, b, 6)
#define EACH_N4(X, a)           EACH_P4(X, a, 1) EACH_P4(X, a, 2) EACH_P4(X, a, 3) \
                                EACH_P4(X, a, 4) EACH_P4(X, a, 5) EACH_P4(X, a, 6)

#ifdef ONLY_MOVES
#define TXN_ACTIONS(t) \
    STEP(pc[t] == idle && CanPropose, Read(t)) \
    EACH_N4(OPT_MOVE, t)
#else
#define TXN_ACTIONS(t) \
    STEP(pc[t] == idle && CanPropose, Read(t)) \
    EACH_ID_NM(OPT_CREATE, t) \
    EACH_ID2(OPT_DELETE, t) \
    EACH_N4(OPT_MOVE, t) \
    EACH_ID_NM(OPT_RENAME, t)
#endif

/* The initial tree: any tree over the ids 2..MAXINIT+1, with any names.
 * The choice takes several steps, so it is made in state variables (zero
 * again once init is done), not in the hidden scratch that one step uses. */
byte ilive, ipar[MAXINIT + 2], iname[MAXINIT + 2];

inline ChooseNode(n) {
    if
    :: ilive = ilive | (1 << n);
        if :: ipar[n] = Root :: ipar[n] = 2 :: ipar[n] = 3 :: ipar[n] = 4 fi;
        if :: iname[n] = 1 :: iname[n] = 2 fi
    :: skip
    fi
}

init {
    atomic {
        ChooseNode(2); ChooseNode(3); ChooseNode(4);
        d_step {
            /* a tree: every chosen parent is live, every node reaches the
             * root, sibling names are unique; otherwise start from the root
             * alone (which is one of the valid initial trees anyway) */
            Tlive = ilive | (1 << Root);
            x = 0;
            do :: x <= MAXID -> Tpar[x] = 0; Tname[x] = 0; x++ :: else -> break od;
            x = 2;
            do :: x <= MAXINIT + 1 -> Tpar[x] = ipar[x]; Tname[x] = iname[x]; x++ :: else -> break od;
            ok = 1;
            x = 2;
            do
            :: x <= MAXINIT + 1 ->
                if
                :: TLIVE(x) ->
                    ok = ok && TLIVE(Tpar[x]);
                    Below(x, Root); ok = ok && below;
                    NameTaken(Tpar[x], Tname[x], x); ok = ok && !taken
                :: else -> skip
                fi;
                x++
            :: else -> break
            od;
            if
            :: ok ->
                live = Tlive;
                x = 2;
                do :: x <= MAXINIT + 1 -> if :: TLIVE(x) -> parent[x] = Tpar[x]; name[x] = Tname[x] :: else -> skip fi; x++
                   :: else -> break od
            :: else -> live = 1 << Root
            fi;
            nextId = MAXINIT + 2;
            CopyCurrentToHist(0);
            ilive = 0;
            x = 0;
            do :: x <= MAXINIT + 1 -> ipar[x] = 0; iname[x] = 0; x++ :: else -> break od
        }
    };
end_run:
    do
    TXN_ACTIONS(0)
    TXN_ACTIONS(1)
    STEP(applied < LogLen, Apply())
    od
}
