------------------------------- MODULE Shards -------------------------------
(***************************************************************************)
(* Shard management (DESIGN.md "Transactions across shards" and the       *)
(* layout's src/shard: shard map subtree -> Raft group, multi-raft host). *)
(*                                                                         *)
(* The world's scene tree is split into shards; a shard is the set of     *)
(* tree nodes one Raft group owns.  The authoritative shard map           *)
(* (owner: node -> group) is itself replicated state, changed only by     *)
(* committed steps.  A subtree moves from its source group to a           *)
(* destination group by four committed steps:                            *)
(*   1. freeze: the source commits a "moving" marker for the nodes; from  *)
(*      then on it refuses writes to them;                                *)
(*   2. copy: the destination commits a copy of their state, read from    *)
(*      the source after the marker;                                     *)
(*   3. switch: the shard map commits node -> destination; the           *)
(*      destination serves the nodes from then on;                        *)
(*   4. release: the source deletes the nodes' state and the marker.     *)
(* A split is the same protocol towards a group that owns nothing yet    *)
(* (part of a shard's subtree becomes a new shard); a move goes to a      *)
(* group that already owns a shard.  The moving nodes are the part of     *)
(* a subtree that the source owns.                                        *)
(*                                                                         *)
(* A client routes each write by its cached copy of the shard map, which *)
(* may be stale.  A group applies a write to a node it serves and has not *)
(* frozen (one committed step, then the client is acknowledged); any      *)
(* other group refuses it, and the client refreshes its map and retries. *)
(*                                                                         *)
(* Abstractions: Raft inside a group is one atomic committed step (the    *)
(* group's committed log is kept as the sequence of committed writes of   *)
(* each node it holds); node contents are the write ids; the tree shape   *)
(* is fixed (moves of nodes inside the tree are src/tree's business); one *)
(* move at a time, driven by one coordinator; messages are not lost       *)
(* (a lost request is a request not yet delivered; a lost answer is a     *)
(* refusal, since writes here are not retried once acknowledged).         *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
    Node,      \* tree nodes
    Parent,    \* Parent[n]: n's parent; the root is its own parent
    Group,     \* Raft groups
    Writes,    \* write ids; each write goes to one node, once acknowledged
    MaxMoves,  \* moves and splits in one run
    Nil

ASSUME /\ Nil \notin Group \cup Node /\ Group \subseteq Nat
       /\ \E r \in Node : Parent[r] = r

VARIABLES
    owner,    \* owner[n]: the group the committed shard map gives n
    serving,  \* serving[g]: nodes g holds and accepts writes for
    frozen,   \* frozen[g]: nodes with a committed "moving" marker on g
    data,     \* data[g][n]: committed writes of n in g, in commit order
    cache,    \* cache[n]: the client's (possibly stale) copy of owner[n]
    wnode,    \* wnode[w]: the node write w goes to (Nil: not issued)
    wstate,   \* wstate[w]: "idle", "sent", "acked"
    wgroup,   \* wgroup[w]: the group write w was routed to
    mv,       \* the move in progress: [phase, nodes, src, dst]
    moves     \* moves and splits started so far

vars == <<owner, serving, frozen, data, cache, wnode, wstate, wgroup, mv, moves>>

\* ACTIONS: ClientWrite, RefreshCache, ApplyWrite, RefuseWrite, StartMove, StartSplit, CopyState, SwitchMap, Release

\* n and its descendants
RECURSIVE IsBelow(_, _)
IsBelow(n, r) == n = r \/ (Parent[n] # n /\ IsBelow(Parent[n], r))
Subtree(r) == {n \in Node : IsBelow(n, r)}

Root == CHOOSE n \in Node : Parent[n] = n
G0 == CHOOSE g \in Group : \A h \in Group : g <= h   \* holds the whole world at first
Shard(g) == {n \in Node : owner[n] = g}
Idle == [phase |-> "idle", nodes |-> {}, src |-> Nil, dst |-> Nil]

Init ==
    /\ owner = [n \in Node |-> G0]
    /\ serving = [g \in Group |-> IF g = G0 THEN Node ELSE {}]
    /\ frozen = [g \in Group |-> {}]
    /\ data = [g \in Group |-> [n \in Node |-> <<>>]]
    /\ cache = [n \in Node |-> G0]
    /\ wnode = [w \in Writes |-> Nil]
    /\ wstate = [w \in Writes |-> "idle"]
    /\ wgroup = [w \in Writes |-> Nil]
    /\ mv = Idle
    /\ moves = 0

---------------------------------------------------------------------------
\* The client: issue w to n, routed by the cached map.
ClientWrite(w, n) ==
    /\ wstate[w] = "idle"
    /\ wnode[w] \in {Nil, n}       \* a retry goes to the same node
    /\ wnode' = [wnode EXCEPT ![w] = n]
    /\ wstate' = [wstate EXCEPT ![w] = "sent"]
    /\ wgroup' = [wgroup EXCEPT ![w] = cache[n]]
    /\ UNCHANGED <<owner, serving, frozen, data, cache, mv, moves>>

\* The client reads the committed shard map.
RefreshCache ==
    /\ cache # owner
    /\ cache' = owner
    /\ UNCHANGED <<owner, serving, frozen, data, wnode, wstate, wgroup, mv, moves>>

Accepts(g, n) == n \in serving[g] /\ n \notin frozen[g]

\* The group commits the write and acknowledges it.
ApplyWrite(w) ==
    LET g == wgroup[w]
        n == wnode[w]
    IN /\ wstate[w] = "sent"
       /\ Accepts(g, n)
       /\ data' = [data EXCEPT ![g][n] = Append(@, w)]
       /\ wstate' = [wstate EXCEPT ![w] = "acked"]
       /\ UNCHANGED <<owner, serving, frozen, cache, wnode, wgroup, mv, moves>>

\* Wrong group, or the node is frozen for a move: refused, to be retried.
RefuseWrite(w) ==
    /\ wstate[w] = "sent"
    /\ ~Accepts(wgroup[w], wnode[w])
    /\ wstate' = [wstate EXCEPT ![w] = "idle"]
    /\ UNCHANGED <<owner, serving, frozen, data, cache, wnode, wgroup, mv, moves>>

---------------------------------------------------------------------------
\* Step 1: the source commits the "moving" marker for its part of r's subtree.
Freeze(r, dst) ==
    LET src == owner[r]
        S == Subtree(r) \cap Shard(src)
    IN /\ mv.phase = "idle"
       /\ moves < MaxMoves
       /\ dst # src
       /\ frozen' = [frozen EXCEPT ![src] = @ \cup S]
       /\ mv' = [phase |-> "frozen", nodes |-> S, src |-> src, dst |-> dst]
       /\ moves' = moves + 1
       /\ UNCHANGED <<owner, serving, data, cache, wnode, wstate, wgroup>>

\* A subtree moves to a group that owns a shard ...
StartMove(r, dst) == Shard(dst) # {} /\ Freeze(r, dst)
\* ... or splits off into a group that owns nothing yet.
StartSplit(r, dst) == Shard(dst) = {} /\ Freeze(r, dst)

\* Step 2: the destination commits a copy of the frozen state.
CopyState ==
    /\ mv.phase = "frozen"
    /\ data' = [data EXCEPT ![mv.dst] =
                  [n \in Node |-> IF n \in mv.nodes THEN data[mv.src][n] ELSE @[n]]]
    /\ mv' = [mv EXCEPT !.phase = "copied"]
    /\ UNCHANGED <<owner, serving, frozen, cache, wnode, wstate, wgroup, moves>>

\* Step 3: the shard map commits the new owner; the destination serves.
SwitchMap ==
    /\ mv.phase = "copied"
    /\ owner' = [n \in Node |-> IF n \in mv.nodes THEN mv.dst ELSE owner[n]]
    /\ serving' = [serving EXCEPT ![mv.dst] = @ \cup mv.nodes]
    /\ mv' = [mv EXCEPT !.phase = "switched"]
    /\ UNCHANGED <<frozen, data, cache, wnode, wstate, wgroup, moves>>

\* Step 4: the source deletes the moved state and its marker.
Release ==
    /\ mv.phase = "switched"
    /\ serving' = [serving EXCEPT ![mv.src] = @ \ mv.nodes]
    /\ frozen' = [frozen EXCEPT ![mv.src] = @ \ mv.nodes]
    /\ data' = [data EXCEPT ![mv.src] =
                  [n \in Node |-> IF n \in mv.nodes THEN <<>> ELSE @[n]]]
    /\ mv' = Idle
    /\ UNCHANGED <<owner, cache, wnode, wstate, wgroup, moves>>

Next ==
    \/ \E w \in Writes, n \in Node : ClientWrite(w, n)
    \/ RefreshCache
    \/ \E w \in Writes : ApplyWrite(w) \/ RefuseWrite(w)
    \/ \E r \in Node, g \in Group : StartMove(r, g) \/ StartSplit(r, g)
    \/ CopyState \/ SwitchMap \/ Release

Spec == Init /\ [][Next]_vars

\* The tree of Shards.cfg: a chain 1 <- 2 <- 3 ... (1 is the root).
ChainParent == [n \in Node |-> IF n = 1 THEN 1 ELSE n - 1]

---------------------------------------------------------------------------
\* Every node is in exactly one shard of the committed map, and no group
\* but that one accepts writes for it.
OneOwner ==
    \A n \in Node : /\ Cardinality({g \in Group : owner[n] = g}) = 1
                    /\ \A g \in Group : Accepts(g, n) => g = owner[n]

Contains(s, w) == \E k \in 1..Len(s) : s[k] = w

\* An acknowledged write is in the state of the group that owns its node.
NoLostWrite ==
    \A w \in Writes : wstate[w] = "acked" => Contains(data[owner[wnode[w]]][wnode[w]], w)

TypeOK ==
    /\ owner \in [Node -> Group]
    /\ serving \in [Group -> SUBSET Node]
    /\ frozen \in [Group -> SUBSET Node]
    /\ \A g \in Group, n \in Node : /\ Len(data[g][n]) <= Cardinality(Writes)
                                    /\ \A k \in 1..Len(data[g][n]) : data[g][n][k] \in Writes
    /\ cache \in [Node -> Group]
    /\ wnode \in [Writes -> Node \cup {Nil}]
    /\ wstate \in [Writes -> {"idle", "sent", "acked"}]
    /\ wgroup \in [Writes -> Group \cup {Nil}]
    /\ mv.phase \in {"idle", "frozen", "copied", "switched"}
    /\ mv.nodes \subseteq Node
    /\ moves \in 0..MaxMoves
=============================================================================
