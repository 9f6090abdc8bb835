# What both halves of the end-to-end test read from the environment (GROVE_ADDRESSES as HOST:PORT,...,
# GROVE_TOKEN, GROVE_PATH), and the client they make from it: the integration test starts them with the
# addresses of the groved it started.
extends Reference

const GroveClient = preload("res://addons/grove/grove_client.gd")


static func env(name: String, default: String) -> String:
	if OS.has_environment(name):
		return OS.get_environment(name)
	return default


# Each half has its own snapshot file, so that both may run in one project at once.
static func make_client(snapshot_name: String) -> Node:
	var client = GroveClient.new()
	client.addresses = PoolStringArray(env("GROVE_ADDRESSES", "127.0.0.1:7401").split(","))
	client.token = env("GROVE_TOKEN", "")
	client.subscribe_path = env("GROVE_PATH", "/root/World")
	client.snapshot_file = "user://" + snapshot_name
	return client
