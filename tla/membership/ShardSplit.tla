----------------------------- MODULE ShardSplit -----------------------------
(***************************************************************************)
(* Splits as grove implements them (src/shard, src/tree/split.c,          *)
(* src/server/host.c): a refinement of the split of Shards.tla in which    *)
(* the source's Freeze, CopyState and Release are one committed step.    *)
(*                                                                         *)
(*   1. StartSplit (meta log): the map records the split of r's subtree    *)
(*      from the group that the map says holds r, into a fresh group;      *)
(*   2. SplitInSource (the source's log): in one apply, the source stops   *)
(*      holding the part of the subtree it holds, and the new group holds  *)
(*      it, with its committed writes (the records move in one LMDB        *)
(*      transaction); or the source refuses (AbortSplit follows);          *)
(*   3. SwitchMap (meta log): the map names the new group.                 *)
(*                                                                         *)
(* The map is a routing directory: between steps 2 and 3 it names the     *)
(* source, which refuses ("moved"); the client asks again and is routed   *)
(* by the map once it switched. Who accepts a write is what each group    *)
(* holds, never the map. The invariants say that every node is held by    *)
(* exactly one group, that an acknowledged write is in the state of the   *)
(* group that holds its node, and that the map is wrong only about the    *)
(* nodes of a split whose source has moved them and whose switch has not *)
(* come yet.                                                              *)
(*                                                                         *)
(* Abstractions as in Shards.tla: Raft inside a group is one atomic step, *)
(* a node's state is the sequence of its writes, the tree is fixed, one   *)
(* split at a time; a client's routing cache stands for the map as the    *)
(* member it asks applied it.                                             *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
    Node,      \* tree nodes
    Parent,    \* Parent[n]: n's parent; the root is its own parent
    Group,     \* Raft groups
    Writes,    \* write ids
    MaxSplits, \* splits in one run
    Nil

ASSUME /\ Nil \notin Group \cup Node /\ Group \subseteq Nat
       /\ \E r \in Node : Parent[r] = r

VARIABLES
    map,      \* map[n]: the group the shard map routes n to
    holds,    \* holds[g]: the nodes whose state g holds, and accepts writes for
    data,     \* data[g][n]: committed writes of n in g, in commit order
    cache,    \* cache[n]: the routing a client's request gets (a member's applied map)
    wnode,    \* wnode[w]: the node write w goes to (Nil: not issued)
    wstate,   \* wstate[w]: "idle", "sent", "acked"
    wgroup,   \* wgroup[w]: the group write w was routed to
    sp,       \* the running split: [phase, root, nodes, src, dst]
    used,     \* groups that ever held anything (a group id is never reused)
    splits    \* splits started so far

vars == <<map, holds, data, cache, wnode, wstate, wgroup, sp, used, splits>>

\* ACTIONS: ClientWrite, RefreshCache, ApplyWrite, RefuseWrite, StartSplit, SplitInSource, RefuseSplit, SwitchMap, AbortSplit

RECURSIVE IsBelow(_, _)
IsBelow(n, r) == n = r \/ (Parent[n] # n /\ IsBelow(Parent[n], r))
Subtree(r) == {n \in Node : IsBelow(n, r)}

Root == CHOOSE n \in Node : Parent[n] = n
G0 == CHOOSE g \in Group : \A h \in Group : g <= h
Idle == [phase |-> "idle", root |-> Nil, nodes |-> {}, src |-> Nil, dst |-> Nil]

Init ==
    /\ map = [n \in Node |-> G0]
    /\ holds = [g \in Group |-> IF g = G0 THEN Node ELSE {}]
    /\ data = [g \in Group |-> [n \in Node |-> <<>>]]
    /\ cache = [n \in Node |-> G0]
    /\ wnode = [w \in Writes |-> Nil]
    /\ wstate = [w \in Writes |-> "idle"]
    /\ wgroup = [w \in Writes |-> Nil]
    /\ sp = Idle
    /\ used = {G0}
    /\ splits = 0

---------------------------------------------------------------------------
ClientWrite(w, n) ==
    /\ wstate[w] = "idle"
    /\ wnode[w] \in {Nil, n}
    /\ wnode' = [wnode EXCEPT ![w] = n]
    /\ wstate' = [wstate EXCEPT ![w] = "sent"]
    /\ wgroup' = [wgroup EXCEPT ![w] = cache[n]]
    /\ UNCHANGED <<map, holds, data, cache, sp, used, splits>>

RefreshCache ==
    /\ cache # map
    /\ cache' = map
    /\ UNCHANGED <<map, holds, data, wnode, wstate, wgroup, sp, used, splits>>

ApplyWrite(w) ==
    LET g == wgroup[w]
        n == wnode[w]
    IN /\ wstate[w] = "sent"
       /\ n \in holds[g]
       /\ data' = [data EXCEPT ![g][n] = Append(@, w)]
       /\ wstate' = [wstate EXCEPT ![w] = "acked"]
       /\ UNCHANGED <<map, holds, cache, wnode, wgroup, sp, used, splits>>

\* "moved" (or not this shard's): refused, asked again later.
RefuseWrite(w) ==
    /\ wstate[w] = "sent"
    /\ wnode[w] \notin holds[wgroup[w]]
    /\ wstate' = [wstate EXCEPT ![w] = "idle"]
    /\ UNCHANGED <<map, holds, data, cache, wnode, wgroup, sp, used, splits>>

---------------------------------------------------------------------------
\* Step 1, in the meta log: a fresh group for the subtree at r, from the group the map names for r.
StartSplit(r, dst) ==
    /\ sp.phase = "idle"
    /\ splits < MaxSplits
    /\ dst \notin used
    /\ r # Root
    /\ sp' = [phase |-> "started", root |-> r, nodes |-> {}, src |-> map[r], dst |-> dst]
    /\ used' = used \cup {dst}
    /\ splits' = splits + 1
    /\ UNCHANGED <<map, holds, data, cache, wnode, wstate, wgroup>>

\* Step 2, in the source's log: Freeze, CopyState and Release in one apply.
SplitInSource ==
    LET S == Subtree(sp.root) \cap holds[sp.src]
    IN /\ sp.phase = "started"
       /\ sp.root \in holds[sp.src]
       /\ holds' = [holds EXCEPT ![sp.src] = @ \ S, ![sp.dst] = @ \cup S]
       /\ data' = [data EXCEPT ![sp.dst] = [n \in Node |-> IF n \in S THEN data[sp.src][n] ELSE @[n]],
                               ![sp.src] = [n \in Node |-> IF n \in S THEN <<>> ELSE @[n]]]
       /\ sp' = [sp EXCEPT !.phase = "moved", !.nodes = S]
       /\ UNCHANGED <<map, cache, wnode, wstate, wgroup, used, splits>>

\* Step 2, refused: the source does not hold the subtree's root.
RefuseSplit ==
    /\ sp.phase = "started"
    /\ sp.root \notin holds[sp.src]
    /\ sp' = [sp EXCEPT !.phase = "refused"]
    /\ UNCHANGED <<map, holds, data, cache, wnode, wstate, wgroup, used, splits>>

\* Step 3, in the meta log.
SwitchMap ==
    /\ sp.phase = "moved"
    /\ map' = [n \in Node |-> IF n \in sp.nodes THEN sp.dst ELSE map[n]]
    /\ sp' = Idle
    /\ UNCHANGED <<holds, data, cache, wnode, wstate, wgroup, used, splits>>

AbortSplit ==
    /\ sp.phase = "refused"
    /\ sp' = Idle
    /\ UNCHANGED <<map, holds, data, cache, wnode, wstate, wgroup, used, splits>>

Next ==
    \/ \E w \in Writes, n \in Node : ClientWrite(w, n)
    \/ RefreshCache
    \/ \E w \in Writes : ApplyWrite(w) \/ RefuseWrite(w)
    \/ \E r \in Node, g \in Group : StartSplit(r, g)
    \/ SplitInSource \/ RefuseSplit \/ SwitchMap \/ AbortSplit

Spec == Init /\ [][Next]_vars

ChainParent == [n \in Node |-> IF n = 1 THEN 1 ELSE n - 1]

---------------------------------------------------------------------------
\* Every node is held (and its writes accepted) by exactly one group.
OneHolder ==
    \A n \in Node : Cardinality({g \in Group : n \in holds[g]}) = 1

Holder(n) == CHOOSE g \in Group : n \in holds[g]

Contains(s, w) == \E k \in 1..Len(s) : s[k] = w

\* An acknowledged write is in the state of the group that holds its node.
NoLostWrite ==
    \A w \in Writes : wstate[w] = "acked" => Contains(data[Holder(wnode[w])][wnode[w]], w)

\* The map is wrong only about the nodes a split moved and has not switched yet.
MapLags ==
    \A n \in Node : map[n] = Holder(n) \/ (sp.phase = "moved" /\ n \in sp.nodes /\ Holder(n) = sp.dst)

TypeOK ==
    /\ map \in [Node -> Group]
    /\ holds \in [Group -> SUBSET Node]
    /\ cache \in [Node -> Group]
    /\ wnode \in [Writes -> Node \cup {Nil}]
    /\ wstate \in [Writes -> {"idle", "sent", "acked"}]
    /\ wgroup \in [Writes -> Group \cup {Nil}]
    /\ sp.phase \in {"idle", "started", "moved", "refused"}
    /\ used \subseteq Group
    /\ splits \in 0..MaxSplits
=============================================================================
