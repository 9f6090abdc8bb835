/*
 * ShardSplit.pml: the spin twin of ShardSplit.tla (same variables, actions
 * and invariants; see that module for the protocol grove implements).
 *
 * Encoding as in Shards.pml: nodes 0..NN-1 (TLC: 1..NN) form a chain with
 * 0 the root, so the subtree of r is r..NN-1; groups 0..NG-1 (TLC: 1..NG),
 * group 0 holds the whole world at first; writes 1..NW. A set of nodes is a
 * bit mask; a node's committed writes in a group are the digits of a number
 * in base NW+1. Every action is one d_step ending with the invariant checks.
 *
 * Mutants (mutants/shardsplit-*.pml) #define one MUTANT_* flag and include
 * this file.
 */

#define NN 3             /* tree nodes */
#define NG 3             /* Raft groups */
#define NW 2             /* writes; Contains below assumes NW == 2 */
#define MAXSPLITS 2
#define NIL 255
#define ALL ((1 << NN) - 1)

/* sp.phase */
#define IDLE    0
#define STARTED 1
#define MOVED   2
#define REFUSED 3
/* wstate */
#define W_IDLE  0
#define W_SENT  1
#define W_ACKED 2

typedef Split {
    byte phase;
    byte root;
    byte nodes;      /* the nodes the source moved */
    byte src;
    byte dst
};
typedef PerNode {
    byte n[NN]
};

/* ---- VARIABLES (names as in ShardSplit.tla) ---- */
byte map[NN];            /* the shard map: where requests for a node are routed */
byte holds[NG];          /* nodes each group holds and accepts writes for */
PerNode data[NG];        /* data[g].n[x]: committed writes of x in g */
byte cache[NN];          /* the routing a request gets */
byte wnode[NW + 1];      /* index 1..NW; NIL: not issued */
byte wstate[NW + 1];
byte wgroup[NW + 1];
Split sp;
byte used;               /* groups ever used, as a bit mask */
byte splits;

/* scratch, not part of the state */
hidden byte i, j, k, set_;
hidden byte TypeOK, OneHolder, NoLostWrite, MapLags;

#define BIT(x) (1 << (x))
#define Subtree(r) (ALL & ~(BIT(r) - 1))
#define Holds(g, x) ((holds[g] & BIT(x)) != 0)
#define Seq1(v) ((v) / (NW + 1))
#define Last(v) ((v) % (NW + 1))
#define Contains(v, w) (Last(v) == (w) || Seq1(v) == (w))
#define Append(v, w) ((v) * (NW + 1) + (w))

inline CheckInvariants() {
    TypeOK = (sp.phase <= REFUSED && sp.nodes <= ALL && splits <= MAXSPLITS && used < BIT(NG));
    OneHolder = true;
    MapLags = true;
    for (i : 0 .. NN - 1) {
        TypeOK = TypeOK && map[i] < NG && cache[i] < NG;
        k = 0;
        for (j : 0 .. NG - 1) {
            TypeOK = TypeOK && holds[j] <= ALL && data[j].n[i] < (NW + 1) * (NW + 1);
            if
            :: Holds(j, i) -> k++
            :: else -> skip
            fi
        }
        OneHolder = OneHolder && k == 1;
        MapLags = MapLags && (Holds(map[i], i) ||
                              (sp.phase == MOVED && (sp.nodes & BIT(i)) != 0 && Holds(sp.dst, i)))
    }
    NoLostWrite = true;
    for (i : 1 .. NW) {
        TypeOK = TypeOK && wstate[i] <= W_ACKED && (wnode[i] < NN || wnode[i] == NIL) &&
                 (wgroup[i] < NG || wgroup[i] == NIL);
        if
        :: wstate[i] == W_ACKED ->
            k = 0;
            for (j : 0 .. NG - 1) {
                if
                :: Holds(j, wnode[i]) && Contains(data[j].n[wnode[i]], i) -> k = 1
                :: else -> skip
                fi
            }
            NoLostWrite = NoLostWrite && k == 1
        :: else -> skip
        fi
    }
    assert(TypeOK);
    assert(OneHolder);
    assert(NoLostWrite);
    assert(MapLags)
}

/* ---- the client and the groups' write path ---- */

inline ClientWrite(w, x) {
    wstate[w] == W_IDLE && (wnode[w] == NIL || wnode[w] == x) ->
    wnode[w] = x; wstate[w] = W_SENT; wgroup[w] = cache[x]
}

inline RefreshCache() {
    (cache[0] != map[0] || cache[1] != map[1] || cache[2] != map[2]) ->
    cache[0] = map[0]; cache[1] = map[1]; cache[2] = map[2]
}

inline ApplyWrite(w) {
    wstate[w] == W_SENT && Holds(wgroup[w], wnode[w]) ->
    data[wgroup[w]].n[wnode[w]] = Append(data[wgroup[w]].n[wnode[w]], w);
    wstate[w] = W_ACKED
}

inline RefuseWrite(w) {
    wstate[w] == W_SENT && !Holds(wgroup[w], wnode[w]) ->
    wstate[w] = W_IDLE
}

/* ---- the split ---- */

/* step 1, meta log: a fresh group for the subtree at r, from the group the map names for r */
inline StartSplit(r, d) {
    sp.phase == IDLE && splits < MAXSPLITS && (used & BIT(d)) == 0 && r != 0 ->
    sp.phase = STARTED; sp.root = r; sp.nodes = 0; sp.src = map[r]; sp.dst = d;
    used = used | BIT(d);
    splits++
}

/* step 2, the source's log: Freeze, CopyState and Release in one apply */
inline SplitInSource() {
    sp.phase == STARTED && Holds(sp.src, sp.root) ->
    set_ = Subtree(sp.root) & holds[sp.src];
    holds[sp.dst] = holds[sp.dst] | set_;
#ifndef MUTANT_SOURCE_KEEPS
    holds[sp.src] = holds[sp.src] & ~set_;
#endif
    for (i : 0 .. NN - 1) {
        if
        :: set_ & BIT(i) ->
            data[sp.dst].n[i] = data[sp.src].n[i];
#ifndef MUTANT_SOURCE_KEEPS
            data[sp.src].n[i] = 0
#endif
        :: else -> skip
        fi
    }
    sp.phase = MOVED; sp.nodes = set_
}

inline RefuseSplit() {
    sp.phase == STARTED && !Holds(sp.src, sp.root) ->
    sp.phase = REFUSED
}

/* step 3, meta log */
inline SwitchMap() {
#ifdef MUTANT_EARLY_SWITCH
    /* bug: the map names the new group before the source moved anything */
    (sp.phase == MOVED || sp.phase == STARTED) ->
    set_ = Subtree(sp.root) & holds[sp.src];
    if
    :: sp.phase == STARTED -> sp.nodes = set_
    :: else -> skip
    fi;
#else
    sp.phase == MOVED ->
#endif
    for (i : 0 .. NN - 1) {
        if
        :: sp.nodes & BIT(i) -> map[i] = sp.dst
        :: else -> skip
        fi
    }
    sp.phase = IDLE; sp.root = NIL; sp.nodes = 0; sp.src = NIL; sp.dst = NIL
}

inline AbortSplit() {
    sp.phase == REFUSED ->
    sp.phase = IDLE; sp.root = NIL; sp.nodes = 0; sp.src = NIL; sp.dst = NIL
}

#define STEP(a) :: d_step { a; CheckInvariants() }
#define STARTS(r) STEP(StartSplit(r, 0)) STEP(StartSplit(r, 1)) STEP(StartSplit(r, 2))

init {
    d_step {
        holds[0] = ALL;
        used = BIT(0);
        sp.root = NIL; sp.src = NIL; sp.dst = NIL;
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
    STARTS(0)
    STARTS(1)
    STARTS(2)
    STEP(SplitInSource())
    STEP(RefuseSplit())
    STEP(SwitchMap())
    STEP(AbortSplit())
    od
}
