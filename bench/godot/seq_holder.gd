# What a game's own script on /root/World/Target would declare: the property grove_bench_e2e's writer
# sets. Without it the node (a plain Node) has no "seq", and the mirror's set() would store nothing the
# tree could be asked for.
extends Node

var seq = 0
