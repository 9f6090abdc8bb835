----------------------------- MODULE SceneTree -----------------------------
(***************************************************************************)
(* The scene-tree state machine of src/tree under concurrent client       *)
(* transactions.                                                           *)
(*                                                                         *)
(* The world is a tree of nodes: every node but the root has a parent and *)
(* a name unique among its siblings; the root (id 1) is never deleted,    *)
(* renamed or moved.  Four operations change the shape of the tree:       *)
(* Create (a new child under a parent, with a name), DeleteSubtree (a     *)
(* node and all its descendants), Move (a node under a new parent,        *)
(* possibly with a new name) and Rename (a new name among the same        *)
(* siblings).                                                              *)
(*                                                                         *)
(* A client transaction reads a snapshot of the applied tree (it records  *)
(* only the version it read, readVer), decides an operation that is valid *)
(* against that snapshot, and proposes it.  Proposals are committed in    *)
(* one total order (the Raft log) and applied one at a time.  The         *)
(* snapshot may be stale by then: other proposals may have been committed *)
(* or applied since the read.  So the state machine validates every entry *)
(* again, against the tree it is applied to, and refuses an invalid one   *)
(* without changing anything (tree_apply_batch).  The invariants say the *)
(* tree stays a tree with unique sibling names whatever the interleaving. *)
(*                                                                         *)
(* Abstractions.  Raft is one atomic append to a log of committed         *)
(* entries; every replica applies the same entries in the same order and  *)
(* validation is deterministic, so one replica stands for all.  A batch   *)
(* of several operations is one entry here (batches are atomic; a Move    *)
(* with a new name is the batch RENAME+MOVE).  Properties,                *)
(* groups, sibling order, connections, resources and path references are *)
(* left out: they do not change the parent/name structure.  Ids are       *)
(* handed out at apply time from a counter and never reused, as in        *)
(* take_id.  The initial tree is any valid tree over the ids              *)
(* 2..MaxInit+1, so the creates of a run all get fresh ids.               *)
(*                                                                         *)
(* hist is a history variable (the tree after each applied entry); it is  *)
(* what a transaction's readVer names, and the proposer's snapshot is     *)
(* read from it.  results records apply-time outcomes for the witness of  *)
(* the two-moves case; neither is read by the state machine.              *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
    Txn,        \* client transactions (each proposes repeatedly, one op at a time)
    Name,       \* node names (the root's name is not among them)
    MaxInit,    \* ids 2..MaxInit+1 may exist in the initial tree
    MaxLog      \* number of proposals in a run

ASSUME /\ MaxInit \in Nat /\ MaxLog \in Nat \ {0}
       /\ Name # {} /\ Txn # {}

Root == 1                               \* TREE_ROOT_ID
MaxId == MaxInit + 1 + MaxLog           \* enough ids for every create
Id == 1..MaxId
NoNode == 0                             \* the root's parent; a dead id's parent
NoName == "none"                        \* a dead id's name, and the root's

VARIABLES
    live,       \* ids of the nodes that exist (STORE_NODES keys)
    parent,     \* parent[n]: parent id of a live node
    name,       \* name[n]: name of a live non-root node
    nextId,     \* the id the next Create gets ("next_id" in STORE_META)
    log,        \* committed entries in Raft order
    applied,    \* entries 1..applied are applied ("applied_index")
    results,    \* results[i]: what applying entry i returned
    hist,       \* hist[v + 1]: the tree after v applied entries
    pc,         \* pc[t]: "idle" or "read" (holds a snapshot)
    readVer     \* readVer[t]: the version t's snapshot shows

vars == <<live, parent, name, nextId, log, applied, results, hist, pc, readVer>>

Tree == [live |-> live, parent |-> parent, name |-> name]
Snap(t) == hist[readVer[t] + 1]

(***************************************************************************)
(* Tree structure, for any tree record T.                                  *)
(***************************************************************************)
\* the id k parent steps above n (NoNode past the root)
RECURSIVE Up(_, _, _)
Up(T, n, k) == IF k = 0 \/ n = NoNode THEN n ELSE Up(T, T.parent[n], k - 1)

\* n is a or below a (through any parent links)
Below(T, n, a) == \E k \in 0..MaxId : Up(T, n, k) = a

Subtree(T, n) == {m \in T.live : Below(T, m, n)}

\* name_free_under fails: another live child of p is called nm
NameTaken(T, p, nm, self) ==
    \E c \in T.live \ {Root, self} : T.parent[c] = p /\ T.name[c] = nm

(***************************************************************************)
(* Operations.  An entry is [kind, node, par, nm, ver]: node is the node   *)
(* acted on, par the (new) parent, nm the (new) name, ver the version the *)
(* proposer read.  Unused fields are NoNode / NoName.                      *)
(***************************************************************************)
Op(kind, n, p, nm) == [kind |-> kind, node |-> n, par |-> p, nm |-> nm]

\* the validation of op_create / op_delete / op_move / op_rename, in the
\* order the code checks; "OK" or the refusal
Check(T, op) ==
    CASE op.kind = "Create" ->
            IF op.par \notin T.live THEN "ENOTFOUND"
            ELSE IF NameTaken(T, op.par, op.nm, NoNode) THEN "EEXIST"
            ELSE "OK"
      [] op.kind = "DeleteSubtree" ->
            IF op.node \notin T.live THEN "ENOTFOUND"
            ELSE IF op.node = Root THEN "EROOT"
            ELSE "OK"
      [] op.kind = "Move" ->
            IF op.node \notin T.live THEN "ENOTFOUND"
            ELSE IF op.node = Root THEN "EROOT"
            ELSE IF op.par \notin T.live THEN "ENOTFOUND"
            ELSE IF Below(T, op.par, op.node) THEN "ECYCLE"   \* check_no_cycle
            ELSE IF NameTaken(T, op.par, op.nm, op.node) THEN "EEXIST"
            ELSE "OK"
      [] op.kind = "Rename" ->
            IF op.node \notin T.live THEN "ENOTFOUND"
            ELSE IF op.node = Root THEN "EROOT"
            ELSE IF NameTaken(T, T.parent[op.node], op.nm, op.node) THEN "EEXIST"
            ELSE "OK"

\* the change an accepted entry makes
Effect(op) ==
    CASE op.kind = "Create" ->
            /\ live' = live \cup {nextId}
            /\ parent' = [parent EXCEPT ![nextId] = op.par]
            /\ name' = [name EXCEPT ![nextId] = op.nm]
            /\ nextId' = nextId + 1
      [] op.kind = "DeleteSubtree" ->
            LET gone == Subtree(Tree, op.node) IN
            /\ live' = live \ gone
            /\ parent' = [i \in Id |-> IF i \in gone THEN NoNode ELSE parent[i]]
            /\ name' = [i \in Id |-> IF i \in gone THEN NoName ELSE name[i]]
            /\ UNCHANGED nextId
      [] op.kind = "Move" ->
            /\ parent' = [parent EXCEPT ![op.node] = op.par]
            /\ name' = [name EXCEPT ![op.node] = op.nm]
            /\ UNCHANGED <<live, nextId>>
      [] op.kind = "Rename" ->
            /\ name' = [name EXCEPT ![op.node] = op.nm]
            /\ UNCHANGED <<live, parent, nextId>>

(***************************************************************************)
(* Actions                                                                 *)
(***************************************************************************)
\* ACTIONS: Read, ProposeCreate, ProposeDeleteSubtree, ProposeMove, ProposeRename, Apply

CanPropose == Len(log) < MaxLog

\* the initial tree: any tree over the ids handed out before the run
InitTrees ==
    UNION {
      { [live |-> {Root} \cup L,
         parent |-> [i \in Id |-> IF i \in L THEN pp[i] ELSE NoNode],
         name |-> [i \in Id |-> IF i \in L THEN nn[i] ELSE NoName]] :
          pp \in [L -> L \cup {Root}], nn \in [L -> Name] }
      : L \in SUBSET (2..MaxInit + 1) }

Init ==
    \E T \in InitTrees :
        /\ \A n \in T.live \ {Root} : Below(T, n, Root)           \* a tree
        /\ \A a, b \in T.live \ {Root} :
              a # b /\ T.parent[a] = T.parent[b] => T.name[a] # T.name[b]
        /\ live = T.live /\ parent = T.parent /\ name = T.name
        /\ hist = << T >>
        /\ nextId = MaxInit + 2
        /\ log = << >>
        /\ applied = 0
        /\ results = << >>
        /\ pc = [t \in Txn |-> "idle"]
        /\ readVer = [t \in Txn |-> 0]

\* take a snapshot of the applied tree
Read(t) ==
    /\ pc[t] = "idle"
    /\ CanPropose
    /\ pc' = [pc EXCEPT ![t] = "read"]
    /\ readVer' = [readVer EXCEPT ![t] = applied]
    /\ UNCHANGED <<live, parent, name, nextId, log, applied, results, hist>>

\* propose an operation valid against t's snapshot; Raft commits it
Propose(t, op) ==
    /\ pc[t] = "read"
    /\ CanPropose
    /\ Check(Snap(t), op) = "OK"
    /\ log' = Append(log, [kind |-> op.kind, node |-> op.node, par |-> op.par,
                            nm |-> op.nm, ver |-> readVer[t]])
    /\ pc' = [pc EXCEPT ![t] = "idle"]
    /\ readVer' = [readVer EXCEPT ![t] = 0]
    /\ UNCHANGED <<live, parent, name, nextId, applied, results, hist>>

ProposeCreate(t, p, nm) == Propose(t, Op("Create", NoNode, p, nm))
ProposeDeleteSubtree(t, n) == Propose(t, Op("DeleteSubtree", n, NoNode, NoName))
ProposeMove(t, n, p, nm) == Propose(t, Op("Move", n, p, nm))
ProposeRename(t, n, nm) == Propose(t, Op("Rename", n, NoNode, nm))

\* tree_apply_batch: validate against the current tree, apply or refuse
Apply ==
    /\ applied < Len(log)
    /\ LET e == log[applied + 1]
           r == Check(Tree, e)
       IN /\ IF r = "OK" THEN Effect(e)
                         ELSE UNCHANGED <<live, parent, name, nextId>>
          /\ results' = Append(results, r)
    /\ applied' = applied + 1
    /\ hist' = Append(hist, [live |-> live', parent |-> parent', name |-> name'])
    /\ UNCHANGED <<log, pc, readVer>>

Next ==
    \/ \E t \in Txn :
          \/ Read(t)
          \/ \E p \in Id, nm \in Name : ProposeCreate(t, p, nm)
          \/ \E n \in Id : ProposeDeleteSubtree(t, n)
          \/ \E n, p \in Id, nm \in Name : ProposeMove(t, n, p, nm)
          \/ \E n \in Id, nm \in Name : ProposeRename(t, n, nm)
    \/ Apply

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Invariants                                                              *)
(***************************************************************************)
Entry == [kind : {"Create", "DeleteSubtree", "Move", "Rename"},
          node : Id \cup {NoNode}, par : Id \cup {NoNode},
          nm : Name \cup {NoName}, ver : 0..MaxLog]
Result == {"OK", "ENOTFOUND", "EEXIST", "ECYCLE", "EROOT"}

TypeOK ==
    /\ live \subseteq Id
    /\ parent \in [Id -> Id \cup {NoNode}]
    /\ name \in [Id -> Name \cup {NoName}]
    /\ nextId \in MaxInit + 2..MaxId + 1
    /\ live \subseteq 1..nextId - 1
    /\ log \in Seq(Entry) /\ Len(log) <= MaxLog
    /\ applied \in 0..Len(log)
    /\ results \in Seq(Result) /\ Len(results) = applied
    /\ Len(hist) = applied + 1
    /\ pc \in [Txn -> {"idle", "read"}]
    /\ readVer \in [Txn -> 0..applied]

\* no live node is its own proper ancestor
NoCycle == \A n \in live : \A k \in 1..MaxId : Up(Tree, n, k) # n

\* the root exists, has no parent, and is the only live node without one
OneRoot ==
    /\ Root \in live
    /\ parent[Root] = NoNode
    /\ \A n \in live \ {Root} : parent[n] # NoNode

\* every live non-root node reaches the root through live parents
NoOrphan ==
    \A n \in live \ {Root} :
        \E k \in 1..MaxId :
            /\ Up(Tree, n, k) = Root
            /\ \A j \in 1..k - 1 : Up(Tree, n, j) \in live

IsTree == NoCycle /\ OneRoot /\ NoOrphan

UniqueSiblingNames ==
    \A a, b \in live \ {Root} :
        a # b /\ parent[a] = parent[b] => name[a] # name[b]
=============================================================================
