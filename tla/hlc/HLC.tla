-------------------------------- MODULE HLC --------------------------------
(***************************************************************************)
(* Hybrid logical clocks (Kulkarni, Demirbas, Madappa, Avva, Leone:       *)
(* "Logical Physical Clocks", OPODIS 2014), as src/hlc implements them,   *)
(* and the last-writer-wins store that src/txn orders conflicts with.     *)
(*                                                                         *)
(* Every node has a physical clock pt that only moves forward, one tick   *)
(* at a time, and never more than Skew ahead of the slowest node.  Skew   *)
(* may exceed MaxOffset: that is the misconfigured or broken clock the    *)
(* receive-side check exists for, so the model must contain it.  A node   *)
(* keeps its hybrid clock (l, c).  Events are sends to another node,      *)
(* writes of one shared node property (sent to the store), and receives.  *)
(* A receive whose remote wall time is more than MaxOffset ahead of the   *)
(* receiver's pt is refused and leaves the clock unchanged.               *)
(*                                                                         *)
(* hist is a history variable: one record per event with its timestamp   *)
(* and hb, the set of events that happened before it (program order and   *)
(* send -> receive, closed transitively).  It is never read by the        *)
(* protocol, only by the invariants.                                       *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
    Node,       \* node ids: numbers, because they break ties in the store
    MaxPt,      \* physical clocks run from 1 to MaxPt
    Skew,       \* no physical clock runs more than Skew ahead of another
    MaxOffset,  \* epsilon: the receive side refuses l > pt + MaxOffset
    K,          \* at most K events per node per physical tick
    MaxEvents   \* length of the history (bounds the model)

ASSUME /\ Node \subseteq Nat \ {0}
       /\ MaxPt \in Nat \ {0}
       /\ {Skew, MaxOffset, K, MaxEvents} \subseteq Nat

VARIABLES
    pt,         \* pt[n]: physical clock of node n
    l,          \* l[n]: wall part of n's hybrid clock
    c,          \* c[n]: logical part of n's hybrid clock
    sinceTick,  \* events at n since its physical clock last ticked
    hist,       \* history: the events, in the order they happened
    msgs,       \* send events whose message is in flight
    toStore,    \* write events on their way to the store
    stored      \* the write the store keeps (0: none yet)

vars == <<pt, l, c, sinceTick, hist, msgs, toStore, stored>>

Events == 1..Len(hist)
Max2(a, b) == IF a >= b THEN a ELSE b

\* hlc_cmp: lexicographic on (l, c)
TsLess(e, f) == e.l < f.l \/ (e.l = f.l /\ e.c < f.c)
\* the store's total order of writes: (l, c, node id)
KeyLess(e, f) == TsLess(e, f) \/ (e.l = f.l /\ e.c = f.c /\ e.node < f.node)

\* the last event of node n (0 if none) and the causal past an event inherits from it
LastAt(n) ==
    IF \E i \in Events : hist[i].node = n
    THEN CHOOSE i \in Events : hist[i].node = n /\ \A j \in Events : j > i => hist[j].node # n
    ELSE 0
Past(i) == IF i = 0 THEN {} ELSE hist[i].hb \cup {i}

(***************************************************************************)
(* The counter bound.  By the paper's Corollary 2, c(f) is at most the    *)
(* number of events g that happened before f with l(g) = l(f).  Each such *)
(* g occurred at some node while that node's pt was in                    *)
(* [l(f) - MaxOffset, l(f)] (pt <= l always; l - pt <= MaxOffset is       *)
(* BoundedDrift), that is during at most MaxOffset + 1 ticks, with at     *)
(* most K events per tick.  So, counting f itself,                         *)
(*     c(f) <= |Node| * K * (MaxOffset + 1) - 1.                           *)
(***************************************************************************)
CounterBound == Cardinality(Node) * K * (MaxOffset + 1)

CanAct(n) == sinceTick[n] < K /\ Len(hist) < MaxEvents

Record(n, kind, peer, nl, nc, before) ==
    /\ hist' = Append(hist, [node |-> n, kind |-> kind, peer |-> peer,
                             l |-> nl, c |-> nc, hb |-> before])
    /\ l' = [l EXCEPT ![n] = nl]
    /\ c' = [c EXCEPT ![n] = nc]
    /\ sinceTick' = [sinceTick EXCEPT ![n] = @ + 1]

\* hlc_now: send or local event
NowL(n) == Max2(l[n], pt[n])
NowC(n) == IF NowL(n) = l[n] THEN c[n] + 1 ELSE 0

\* hlc_update: receive of message m; the paper's three cases for c
RecvL(n, m) == Max2(Max2(l[n], hist[m].l), pt[n])
RecvC(n, m) ==
    LET nl == RecvL(n, m) IN
    IF nl = l[n] /\ nl = hist[m].l THEN Max2(c[n], hist[m].c) + 1
    ELSE IF nl = l[n] THEN c[n] + 1
    ELSE IF nl = hist[m].l THEN hist[m].c + 1
    ELSE 0

\* hlc_update's GROVE_ERANGE: remote.wall - pt > max_offset_ns
TooFarAhead(n, m) == hist[m].l > pt[n] + MaxOffset

\* ACTIONS: Tick, Send, Write, Receive, Refuse, StoreApply

Init ==
    /\ pt = [n \in Node |-> 1]
    /\ l = [n \in Node |-> 0]
    /\ c = [n \in Node |-> 0]
    /\ sinceTick = [n \in Node |-> 0]
    /\ hist = << >>
    /\ msgs = {}
    /\ toStore = {}
    /\ stored = 0

Tick(n) ==
    /\ pt[n] < MaxPt
    /\ \A m \in Node : pt[n] + 1 <= pt[m] + Skew
    /\ pt' = [pt EXCEPT ![n] = @ + 1]
    /\ sinceTick' = [sinceTick EXCEPT ![n] = 0]
    /\ UNCHANGED <<l, c, hist, msgs, toStore, stored>>

Send(n, d) ==
    /\ d # n
    /\ CanAct(n)
    /\ Record(n, "send", d, NowL(n), NowC(n), Past(LastAt(n)))
    /\ msgs' = msgs \cup {Len(hist) + 1}
    /\ UNCHANGED <<pt, toStore, stored>>

\* a write of the shared property, timestamped like a local event
Write(n) ==
    /\ CanAct(n)
    /\ Record(n, "write", 0, NowL(n), NowC(n), Past(LastAt(n)))
    /\ toStore' = toStore \cup {Len(hist) + 1}
    /\ UNCHANGED <<pt, msgs, stored>>

Receive(n, m) ==
    /\ m \in msgs
    /\ hist[m].peer = n
    /\ ~TooFarAhead(n, m)
    /\ CanAct(n)
    /\ Record(n, "recv", m, RecvL(n, m), RecvC(n, m), Past(LastAt(n)) \cup Past(m))
    /\ msgs' = msgs \ {m}
    /\ UNCHANGED <<pt, toStore, stored>>

Refuse(n, m) ==
    /\ m \in msgs
    /\ hist[m].peer = n
    /\ TooFarAhead(n, m)
    /\ msgs' = msgs \ {m}
    /\ UNCHANGED <<pt, l, c, sinceTick, hist, toStore, stored>>

\* writes reach the store in any order; it keeps the largest (l, c, node)
StoreApply(w) ==
    /\ w \in toStore
    /\ stored' = IF stored = 0 \/ KeyLess(hist[stored], hist[w]) THEN w ELSE stored
    /\ toStore' = toStore \ {w}
    /\ UNCHANGED <<pt, l, c, sinceTick, hist, msgs>>

Next ==
    \/ \E n \in Node : Tick(n) \/ Write(n)
    \/ \E n, d \in Node : Send(n, d)
    \/ \E n \in Node, m \in msgs : Receive(n, m) \/ Refuse(n, m)
    \/ \E w \in toStore : StoreApply(w)

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Invariants                                                              *)
(***************************************************************************)
TypeOK ==
    /\ pt \in [Node -> 1..MaxPt]
    /\ l \in [Node -> Nat]
    /\ c \in [Node -> Nat]
    /\ sinceTick \in [Node -> 0..K]
    /\ Len(hist) <= MaxEvents
    /\ msgs \subseteq Events
    /\ toStore \subseteq Events
    /\ stored \in 0..Len(hist)

\* e happened before f  =>  hlc(e) < hlc(f)
Causality ==
    \A f \in Events : \A e \in hist[f].hb : TsLess(hist[e], hist[f])

\* the timestamps a node hands out strictly increase
Monotonic ==
    \A e, f \in Events :
        (e < f /\ hist[e].node = hist[f].node) => TsLess(hist[e], hist[f])

\* l - pt <= epsilon
BoundedDrift ==
    \A n \in Node : l[n] <= pt[n] + MaxOffset

\* Corollary 2 of the paper, and the numeric bound derived above
BoundedCounter ==
    /\ \A f \in Events :
         hist[f].c <= Cardinality({g \in hist[f].hb : hist[g].l = hist[f].l})
    /\ \A n \in Node : c[n] < CounterBound

\* Of the writes that reached the store, whatever their arrival order, it
\* keeps the one with the largest (l, c, node id); hence a write that
\* causally follows another one is never overwritten by it.
ConflictOrderedByHLC ==
    LET arrived == {w \in Events : hist[w].kind = "write"} \ toStore IN
    arrived # {} =>
        /\ stored \in arrived
        /\ \A w \in arrived \ {stored} :
              /\ KeyLess(hist[w], hist[stored])
              /\ stored \notin hist[w].hb
=============================================================================
