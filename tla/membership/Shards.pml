/*
 * Shards.pml: the spin twin of Shards.tla (same variables, actions and
 * invariants; see that module for the protocol).
 *
 * Nodes are 0..NN-1 (TLC: 1..NN), a chain: 0 is the root and n's parent is
 * n-1, so the subtree of r is the nodes r..NN-1. Groups are 0..NG-1 (TLC:
 * 1..NG), group 0 holds the whole world at first. Writes are 1..NW as in
 * TLC. A set of nodes is a bit mask; the committed writes of one node in one
 * group, a sequence of write ids, are the digits of a number in base NW+1
 * (the last write is the lowest digit). Every action is one d_step that
 * ends with the invariant checks, so a pan transition is one step of the
 * TLA+ Next and the state counts agree.
 *
 * Mutants (mutants/shards-*.pml) #define one MUTANT_* flag and include
 * this file.
 */

#define NN 3             /* tree nodes */
#define NG 3             /* Raft groups */
#define NW 2             /* writes; Contains below assumes NW == 2 */
#ifndef MAXMOVES
#define MAXMOVES 3       /* moves and splits in one run */
#endif
#define NIL 255
#define ALL ((1 << NN) - 1)

/* mv.phase */
#define IDLE     0
#define FROZEN   1
#define COPIED   2
#define SWITCHED 3
/* wstate */
#define W_IDLE  0
#define W_SENT  1
#define W_ACKED 2

typedef Move {
    byte phase;
    byte nodes;      /* the moving nodes */
    byte src;
    byte dst
};
typedef PerNode {
    byte n[NN]
};

/* ---- VARIABLES (names as in Shards.tla) ---- */
byte owner[NN];          /* committed shard map; all in group 0 */
byte serving[NG];        /* nodes each group holds and serves */
byte frozen[NG];         /* nodes with a committed "moving" marker */
PerNode data[NG];        /* data[g].n[x]: committed writes of x in g */
byte cache[NN];          /* the client's copy of owner */
byte wnode[NW + 1];      /* index 1..NW; NIL: not issued */
byte wstate[NW + 1];
byte wgroup[NW + 1];
Move mv;
byte moves;

/* scratch, not part of the state */
hidden byte i, j, src_, set_;
hidden byte TypeOK, OneOwner, NoLostWrite;

#define BIT(x) (1 << (x))
#define Subtree(r) (ALL & ~(BIT(r) - 1))
#define Accepts(g, x) ((serving[g] & BIT(x)) != 0 && (frozen[g] & BIT(x)) == 0)
#define Seq1(v) ((v) / (NW + 1))    /* the sequence without its last write */
#define Last(v) ((v) % (NW + 1))
#define Contains(v, w) (Last(v) == (w) || Seq1(v) == (w))
#define Append(v, w) ((v) * (NW + 1) + (w))

/* set_ = Shard(g) */
inline ShardOf(g) {
    set_ = 0;
    for (i : 0 .. NN - 1) {
        if
        :: owner[i] == g -> set_ = set_ | BIT(i)
        :: else -> skip
        fi
    }
}

inline CheckInvariants() {
    TypeOK = (mv.phase <= SWITCHED && mv.nodes <= ALL && moves <= MAXMOVES);
    OneOwner = true;
    for (i : 0 .. NN - 1) {
        TypeOK = TypeOK && owner[i] < NG && cache[i] < NG;
        for (j : 0 .. NG - 1) {
            TypeOK = TypeOK && serving[j] <= ALL && frozen[j] <= ALL &&
                     data[j].n[i] < (NW + 1) * (NW + 1);
            OneOwner = OneOwner && (!Accepts(j, i) || j == owner[i])
        }
    }
    NoLostWrite = true;
    for (i : 1 .. NW) {
        TypeOK = TypeOK && wstate[i] <= W_ACKED && (wnode[i] < NN || wnode[i] == NIL) &&
                 (wgroup[i] < NG || wgroup[i] == NIL);
        NoLostWrite = NoLostWrite && (wstate[i] != W_ACKED ||
            Contains(data[owner[wnode[i]]].n[wnode[i]], i))
    }
    assert(TypeOK);
    assert(OneOwner);
    assert(NoLostWrite)
}

/* ---- the client and the groups' write path ---- */

inline ClientWrite(w, x) {
    wstate[w] == W_IDLE && (wnode[w] == NIL || wnode[w] == x) ->
    wnode[w] = x; wstate[w] = W_SENT; wgroup[w] = cache[x]
}

inline RefreshCache() {
    (cache[0] != owner[0] || cache[1] != owner[1] || cache[2] != owner[2]) ->
    cache[0] = owner[0]; cache[1] = owner[1]; cache[2] = owner[2]
}

inline ApplyWrite(w) {
    wstate[w] == W_SENT && Accepts(wgroup[w], wnode[w]) ->
    data[wgroup[w]].n[wnode[w]] = Append(data[wgroup[w]].n[wnode[w]], w);
    wstate[w] = W_ACKED
}

inline RefuseWrite(w) {
    wstate[w] == W_SENT && !Accepts(wgroup[w], wnode[w]) ->
    wstate[w] = W_IDLE
}

/* ---- the move protocol ---- */

/* step 1: the source commits the "moving" marker */
inline Freeze(r, d) {
    src_ = owner[r];
    ShardOf(src_);
    set_ = set_ & Subtree(r);
#ifndef MUTANT_NO_FREEZE
    frozen[src_] = frozen[src_] | set_;
#endif
    mv.phase = FROZEN; mv.nodes = set_; mv.src = src_; mv.dst = d;
    moves++
}

#define CanStart(r, d) (mv.phase == IDLE && moves < MAXMOVES && (d) != owner[r])
#define Owns(g) (owner[0] == (g) || owner[1] == (g) || owner[2] == (g))

inline StartMove(r, d) {
    CanStart(r, d) && Owns(d) -> Freeze(r, d)
}

inline StartSplit(r, d) {
    CanStart(r, d) && !Owns(d) -> Freeze(r, d)
}

/* step 2: the destination commits a copy of the moving nodes' state */
inline CopyState() {
    mv.phase == FROZEN ->
    for (i : 0 .. NN - 1) {
        if
        :: mv.nodes & BIT(i) -> data[mv.dst].n[i] = data[mv.src].n[i]
        :: else -> skip
        fi
    }
    mv.phase = COPIED
}

/* step 3: the shard map commits the new owner; the destination serves */
inline SwitchMap() {
    mv.phase == COPIED ->
    for (i : 0 .. NN - 1) {
        if
        :: mv.nodes & BIT(i) -> owner[i] = mv.dst
        :: else -> skip
        fi
    }
    serving[mv.dst] = serving[mv.dst] | mv.nodes;
#ifdef MUTANT_NO_FREEZE
    /* bug: the source stops taking writes only now, after the copy */
    frozen[mv.src] = frozen[mv.src] | mv.nodes;
#endif
    mv.phase = SWITCHED
}

/* step 4: the source deletes the moved state and the marker */
inline Release() {
    mv.phase == SWITCHED ->
    serving[mv.src] = serving[mv.src] & ~mv.nodes;
    frozen[mv.src] = frozen[mv.src] & ~mv.nodes;
    for (i : 0 .. NN - 1) {
        if
        :: mv.nodes & BIT(i) -> data[mv.src].n[i] = 0
        :: else -> skip
        fi
    }
    mv.phase = IDLE; mv.nodes = 0; mv.src = NIL; mv.dst = NIL
}

#define STEP(a) :: d_step { a; CheckInvariants() }
#define MOVES(r) STEP(StartMove(r, 0)) STEP(StartMove(r, 1)) STEP(StartMove(r, 2)) \
                 STEP(StartSplit(r, 0)) STEP(StartSplit(r, 1)) STEP(StartSplit(r, 2))

init {
    d_step {
        serving[0] = ALL;
        mv.src = NIL; mv.dst = NIL;
        wnode[1] = NIL; wnode[2] = NIL; wgroup[1] = NIL; wgroup[2] = NIL
    }
end:
    do
    STEP(ClientWrite(1, 0))
    STEP(ClientWrite(1, 1))
    STEP(ClientWrite(1, 2))
    STEP(ClientWrite(2, 0))
    STEP(ClientWrite(2, 1))
    STEP(ClientWrite(2, 2))
    STEP(RefreshCache())
    STEP(ApplyWrite(1))
    STEP(ApplyWrite(2))
    STEP(RefuseWrite(1))
    STEP(RefuseWrite(2))
    MOVES(0)
    MOVES(1)
    MOVES(2)
    STEP(CopyState())
    STEP(SwitchMap())
    STEP(Release())
    od
}
