# What both halves of the end-to-end test read from the environment (GROVE_ADDRESSES as HOST:PORT,...,
# GROVE_TOKEN, GROVE_PATH, GROVE_IN_ORDER, GROVE_CHECKPOINT, GROVE_CHECKPOINT_MS), and the client they make
# from it: the integration test starts them with the addresses of the groved it started.
extends Reference

const WatchedClient = preload("res://e2e/watched_client.gd")


static func env(name: String, default: String) -> String:
	if OS.has_environment(name):
		return OS.get_environment(name)
	return default


# Each half has its own snapshot file, so that both may run in one project at once.
static func make_client(snapshot_name: String) -> Node:
	var client = WatchedClient.new()
	client.addresses = PoolStringArray(env("GROVE_ADDRESSES", "127.0.0.1:7401").split(","))
	client.token = env("GROVE_TOKEN", "")
	client.subscribe_path = env("GROVE_PATH", "/root/World")
	client.snapshot_file = "user://" + snapshot_name
	client.checkpoint_file = env("GROVE_CHECKPOINT", "")
	client.checkpoint_every_ms = int(env("GROVE_CHECKPOINT_MS", "1000"))
	# The client starts at a random member, to spread the followers of a cluster; the test that kills the
	# member a client follows must know which one that is: the first listed, then the next ones in turn.
	if env("GROVE_IN_ORDER", "") == "1":
		client._next_address = client.addresses.size() - 1
	return client
