# A script whose variable holds a Node (typed), and one that holds a path: a set of a path to the first
# gives it the node, once the entry is applied; the second keeps the path. And a Dictionary, which a
# resource may key.
extends Node

var target: Node
var path_kept = NodePath()
var by_resource = {}
