/* grove: the command-line client and admin tool. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "godot/scene.h"
#include "godot/tscn.h"
#include "godot/variant_text.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "src/tree/forward.h"
#include "src/tree/tree.h"
#include "storage/snapshot.h"

/* Exit codes: 0 done, 1 the server refused or failed the request, 2 bad usage or no connection. */
enum { EXIT_REFUSED = 1, EXIT_USAGE = 2 };

/* How long `shard split` waits for another split of the same shard to finish before it gives up. */
#define SPLIT_WAIT_MS 60000

struct options {
	const char *server;
	const char *token;
	bool json;
	const char *command;
	int argc;        /* positional arguments after the command */
	char **argv;
	const char *instance;
	const char *at;
	const char *name;
	const char *output;
	int64_t index;
	int godot;
	int64_t from;    /* watch: resume after this index; -1: from a snapshot */
	const char *from_position; /* watch: resume after this position (NULL: none) */
	int64_t count;   /* watch: stop after this many changes; -1: never */
	int64_t seconds; /* watch: stop after this long; -1: never */
	const char *history_from; /* snapshot restore --at: the servers whose change history brings it forward */
};

static const char usage_text[] =
	"usage: grove [--server HOST:PORT[,HOST:PORT...]] [--token TOKEN] [--json] COMMAND ...   (grove --version)\n"
	"\n"
	"Commands (paths look like Godot's: /root/World/Player):\n"
	"  add PATH CLASS [--instance res://x.tscn] [--index N]   create a node\n"
	"  set PATH PROP VALUE          set a property; VALUE in Godot syntax, e.g. 'Vector3(1, 2, 3)', '\"text\"',\n"
	"                               'ExtResource(\"#12\")' for stored resource 12 (as get shows it)\n"
	"  clear PATH PROP              remove a property\n"
	"  get PATH [PROP]              show a node, or one property\n"
	"  mv PATH NEW_PARENT [--index N]   move a node under another\n"
	"  rename PATH NAME             rename a node\n"
	"  rm PATH                      delete a node and its subtree\n"
	"  group add|rm PATH GROUP      add a node to a group, or remove it\n"
	"  tree [PATH]                  show a subtree with classes and properties (--json: the root's path, then\n"
	"                               each node's name and parent id)\n"
	"  import SCENE.tscn --at PATH [--name NAME]   import a Godot scene (all or nothing)\n"
	"  export PATH -o OUT.tscn|OUT.scn [--godot 3|4]   export a subtree as a Godot scene (text or binary)\n"
	"  watch PATH [--from INDEX|POSITION] [--count N] [--seconds S]   print the subtree, then every change to it\n"
	"  subscribers                  who follows which subtree, and how far behind\n"
	"  snapshot save FILE           save the whole world (zstd-compressed, checksummed)\n"
	"  snapshot restore FILE        load a saved world into a server whose world is empty\n"
	"  snapshot restore FILE --at INDEX --history-from SERVER   the world at INDEX: FILE brought forward with\n"
	"                               the change history of SERVER (the cluster it came from), then restored\n"
	"  snapshot list                the backups the server keeps (groved --snapshot-every): name, applied\n"
	"                               index, time, size, verified\n"
	"  status                       show the server's state\n"
	"  cluster status               every member's role, term, commit and applied index, lag\n"
	"  cluster transfer-leader ID   hand leadership to member ID\n"
	"  cluster add ID HOST:PORT     add a member (started with --join) as a learner\n"
	"  cluster promote ID           make a learner that caught up a voter\n"
	"  cluster remove ID            remove a member\n"
	"  shard list                   every shard: group, state, leader, term, nodes, applied index, lag, root path;\n"
	"                               the meta group (the shard map); then how many shards each member leads\n"
	"  shard split PATH             move the subtree at PATH into a shard (Raft group) of its own\n"
	"  shard transfer-leader PATH ID   hand the leadership of the shard whose root is PATH to member ID\n"
	"\n"
	"The server defaults to 127.0.0.1:7400 (or GROVE_SERVER); with several members, comma-separated,\n"
	"the next is tried when one does not answer within 2 s. The token defaults to GROVE_TOKEN.\n"
	"--json prints read results as JSON. Exit status: 0 done, 1 refused, 2 usage or connection error.\n";

static int fail(const struct options *o, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "grove: %s: ", o->command ? o->command : "error");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return code;
}

/* @p text as a whole number from @p min to @p max: an optional '-', digits only, nothing that overflows. */
static bool read_whole(const char *text, int64_t min, int64_t max, int64_t *out)
{
	bool negative = text[0] == '-';
	const char *digits = text + negative;
	uint64_t n = 0;
	if (!digits[0])
		return false;
	for (const char *p = digits; *p; p++) {
		if (*p < '0' || *p > '9' || n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (negative ? n > (uint64_t)INT64_MAX + 1 : n > (uint64_t)INT64_MAX)
		return false;
	int64_t v = negative ? (int64_t)(0 - n) : (int64_t)n;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Option @p name's value as a whole number in [min, max], or a usage error that says what it takes. */
static bool number_option(const char *name, const char *value, int64_t min, int64_t max, int64_t *out)
{
	if (read_whole(value, min, max, out))
		return true;
	fprintf(stderr, "grove: %s must be a whole number from %" PRId64 " to %" PRId64 ", not \"%s\"\n", name, min,
		max, value);
	return false;
}

/* A member id given as an argument, or a usage error. */
static bool member_id_arg(const struct options *o, const char *text, uint64_t *id)
{
	int64_t v;
	if (read_whole(text, 1, INT64_MAX, &v)) {
		*id = (uint64_t)v;
		return true;
	}
	fail(o, EXIT_USAGE, "\"%s\" is not a member id (a whole number, at least 1; grove cluster status lists them)",
	     text);
	return false;
}

/* ---- value display ---- */

static int describe_for_display(void *ctx, int64_t ref, bool *ext, struct variant *id)
{
	(void)ctx;
	char text[32];
	snprintf(text, sizeof(text), "#%" PRId64, ref);
	*ext = true;
	return variant_set_string(id, VARIANT_STRING, text, strlen(text));
}

/* The Godot text of a value, malloc'd. Stored resources show as ExtResource("#<id>"). */
static char *value_text(const struct variant *v)
{
	struct godot_text_options opts = {.godot_major = 4, .describe = describe_for_display};
	struct grove_buf buf = {0};
	if (godot_text_write(v, &opts, &buf) != GROVE_OK) {
		grove_buf_free(&buf);
		return strdup("<unprintable>");
	}
	grove_buf_put(&buf, "", 1);
	return buf.failed ? NULL : (char *)buf.data;
}

/* A value's ExtResource("#<id>"), as value_text() shows a stored resource, read back as that resource. */
static int resolve_stored(void *ctx, bool ext, const struct variant *id, int64_t *ref)
{
	(void)ctx;
	char *end = NULL;
	long long n = ext && id->type == VARIANT_STRING && id->as.str.ptr[0] == '#' && id->as.str.ptr[1] >= '1' &&
				      id->as.str.ptr[1] <= '9'
			      ? strtoll(id->as.str.ptr + 1, &end, 10)
			      : 0;
	if (n <= 0 || !end || *end)
		return GROVE_EINVAL;
	*ref = n;
	return GROVE_OK;
}

static bool decode_value(const ProtobufCBinaryData *bytes, struct variant *v)
{
	size_t used;
	return variant_decode(v, bytes->data, bytes->len, &used) == GROVE_OK && used == bytes->len;
}

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* ---- talking to the server ---- */

static struct grove_client *connect_or_die(const struct options *o, int *exit_code)
{
	struct grove_client *c;
	char error[256];
	int err = grove_client_connect(o->server, o->token, 30000, &c, error, sizeof(error));
	if (err) {
		*exit_code = fail(o, EXIT_USAGE, "%s", error);
		return NULL;
	}
	return c;
}

/* Send one batch; print the server's refusal on failure. Fills ids (caller frees) if wanted. */
static int write_ops(const struct options *o, const struct tree_op *ops, size_t n)
{
	int code = 0;
	struct grove_client *c = connect_or_die(o, &code);
	if (!c)
		return code;
	struct wire_request wr;
	int err = wire_encode_batch(ops, n, &wr);
	if (err) {
		grove_client_close(c);
		return fail(o, EXIT_USAGE, "cannot encode the request: %s", grove_strerror(err));
	}
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	Grove__Envelope *reply;
	err = grove_client_call(c, &env, &reply);
	wire_request_free(&wr);
	grove_client_close(c);
	if (err)
		return fail(o, EXIT_USAGE, "no answer from %s: %s", o->server, grove_strerror(err));
	if (reply->body_case == GROVE__ENVELOPE__BODY_ERROR)
		code = fail(o, EXIT_REFUSED, "%s", reply->error->message);
	else if (reply->body_case != GROVE__ENVELOPE__BODY_WRITE_REPLY)
		code = fail(o, EXIT_REFUSED, "unexpected answer");
	else if (reply->write_reply->code)
		code = fail(o, EXIT_REFUSED, "%s", reply->write_reply->message);
	grove__envelope__free_unpacked(reply, NULL);
	return code;
}

static int read_nodes(const struct options *o, const char *path, uint32_t depth, bool props, Grove__Envelope **out)
{
	int code = 0;
	struct grove_client *c = connect_or_die(o, &code);
	if (!c)
		return code;
	Grove__NodeRef ref = GROVE__NODE_REF__INIT;
	ref.path = (char *)path;
	Grove__ReadRequest rq = GROVE__READ_REQUEST__INIT;
	rq.node = &ref;
	rq.depth = depth;
	rq.with_props = props;
	rq.with_groups = true;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_READ;
	env.read = &rq;
	int err = grove_client_call(c, &env, out);
	grove_client_close(c);
	if (err)
		return fail(o, EXIT_USAGE, "no answer from %s: %s", o->server, grove_strerror(err));
	if ((*out)->body_case == GROVE__ENVELOPE__BODY_ERROR)
		code = fail(o, EXIT_REFUSED, "%s", (*out)->error->message);
	else if ((*out)->body_case != GROVE__ENVELOPE__BODY_READ_REPLY)
		code = fail(o, EXIT_REFUSED, "unexpected answer");
	else if ((*out)->read_reply->code)
		code = fail(o, EXIT_REFUSED, "%s", (*out)->read_reply->message);
	if (code) {
		grove__envelope__free_unpacked(*out, NULL);
		*out = NULL;
	}
	return code;
}

/* ---- commands ---- */

/* Split "/root/A/B" into a parent path and a name (the path's last segment). */
static int split_path(const struct options *o, const char *path, char **parent, const char **name)
{
	const char *slash = strrchr(path, '/');
	if (path[0] != '/' || !slash || slash == path || !slash[1])
		return fail(o, EXIT_USAGE, "\"%s\" is not an absolute node path like /root/World/Player", path);
	*parent = strndup(path, (size_t)(slash - path));
	*name = slash + 1;
	return *parent ? 0 : fail(o, EXIT_USAGE, "out of memory");
}

static int cmd_add(const struct options *o)
{
	if (o->argc != 2)
		return fail(o, EXIT_USAGE, "usage: grove add PATH CLASS [--instance res://x.tscn] [--index N]");
	char *parent = NULL;
	const char *name = NULL;
	int code = split_path(o, o->argv[0], &parent, &name);
	if (code)
		return code;
	struct tree_op op = {.kind = TREE_OP_CREATE, .node = {.path = parent}, .name = name, .text = o->argv[1],
			     .instance = o->instance, .index = o->index};
	code = write_ops(o, &op, 1);
	free(parent);
	return code;
}

static int cmd_set(const struct options *o)
{
	if (o->argc != 3)
		return fail(o, EXIT_USAGE, "usage: grove set PATH PROP VALUE   (VALUE like 'Vector3(1, 2, 3)' or '\"text\"')");
	struct variant v;
	struct godot_text_error err;
	struct godot_text_options opts = {.resolve = resolve_stored};
	if (godot_text_parse(o->argv[2], strlen(o->argv[2]), &opts, &v, &err) != GROVE_OK)
		return fail(o, EXIT_USAGE, "cannot read value at column %u: %s%s", err.column, err.message,
			    strstr(err.message, "Resource") ? " (a stored resource is ExtResource(\"#<id>\"), as grove get shows it)"
							    : "");
	struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = o->argv[0]}, .name = o->argv[1], .value = &v};
	int code = write_ops(o, &op, 1);
	variant_free(&v);
	return code;
}

static int cmd_simple(const struct options *o, enum tree_op_kind kind, int args, const char *usage)
{
	if (o->argc != args)
		return fail(o, EXIT_USAGE, "usage: %s", usage);
	struct tree_op op = {.kind = kind, .node = {.path = o->argv[0]}, .index = o->index};
	if (kind == TREE_OP_MOVE)
		op.target.path = o->argv[1];
	else if (args > 1)
		op.name = o->argv[1];
	return write_ops(o, &op, 1);
}

static int cmd_group(const struct options *o)
{
	if (o->argc != 3 || (strcmp(o->argv[0], "add") != 0 && strcmp(o->argv[0], "rm") != 0))
		return fail(o, EXIT_USAGE, "usage: grove group add|rm PATH GROUP");
	struct tree_op op = {.kind = strcmp(o->argv[0], "add") == 0 ? TREE_OP_ADD_GROUP : TREE_OP_REMOVE_GROUP,
			     .node = {.path = o->argv[1]}, .name = o->argv[2]};
	return write_ops(o, &op, 1);
}

static void print_props_json(const Grove__NodeInfo *n)
{
	printf("\"properties\":{");
	for (size_t k = 0; k < n->n_props; k++) {
		struct variant v;
		bool ok = decode_value(&n->props[k]->value, &v);
		char *text = ok ? value_text(&v) : strdup("<corrupt>");
		if (k)
			printf(",");
		json_string(stdout, n->props[k]->name);
		printf(":{\"type\":");
		json_string(stdout, ok ? variant_type_name(v.type) : "?");
		printf(",\"value\":");
		json_string(stdout, text ? text : "");
		printf("}");
		free(text);
		variant_free(&v);
	}
	printf("},\"groups\":[");
	for (size_t g = 0; g < n->n_groups; g++) {
		if (g)
			printf(",");
		json_string(stdout, n->groups[g]);
	}
	printf("]");
}

/*
 * One node as JSON. @p path is printed when given: `get` gives the node's absolute path; `tree` gives it for
 * the subtree's root only, since every path of a deep chain together grows with the square of its depth. The
 * other nodes name their parent by id (listed before them), so a reader rebuilds paths as parent + "/" + name.
 */
static void print_node_json(const Grove__NodeInfo *n, const char *path, bool with_parent)
{
	/* A path ends in the node's name; without one, the name is what a reader rebuilds the path from. */
	printf("{\"%s\":", path ? "path" : "name");
	json_string(stdout, path ? path : n->name);
	printf(",\"id\":%" PRIu64, n->id);
	if (with_parent)
		printf(",\"parent\":%" PRIu64, n->parent);
	printf(",\"class\":");
	json_string(stdout, n->class_name);
	if (n->instance[0]) {
		printf(",\"instance\":");
		json_string(stdout, n->instance);
	}
	printf(",\"children\":%" PRIu64 ",\"depth\":%u,", n->child_count, n->depth);
	print_props_json(n);
	printf("}");
}

static int cmd_get(const struct options *o)
{
	if (o->argc != 1 && o->argc != 2)
		return fail(o, EXIT_USAGE, "usage: grove get PATH [PROP]");
	Grove__Envelope *reply;
	int code = read_nodes(o, o->argv[0], 0, true, &reply);
	if (code)
		return code;
	const Grove__NodeInfo *n = reply->read_reply->nodes[0];
	if (o->argc == 2) {
		const Grove__Property *found = NULL;
		for (size_t k = 0; k < n->n_props && !found; k++)
			if (strcmp(n->props[k]->name, o->argv[1]) == 0)
				found = n->props[k];
		if (!found) {
			code = fail(o, EXIT_REFUSED, "%s has no property %s", n->path, o->argv[1]);
		} else {
			struct variant v;
			if (!decode_value(&found->value, &v)) {
				code = fail(o, EXIT_REFUSED, "the server sent a malformed value");
			} else {
				char *text = value_text(&v);
				if (o->json) {
					printf("{\"path\":");
					json_string(stdout, n->path);
					printf(",\"property\":");
					json_string(stdout, found->name);
					printf(",\"type\":");
					json_string(stdout, variant_type_name(v.type));
					printf(",\"value\":");
					json_string(stdout, text ? text : "");
					printf("}\n");
				} else {
					printf("%s\n", text ? text : "");
				}
				free(text);
				variant_free(&v);
			}
		}
	} else if (o->json) {
		print_node_json(n, n->path, false);
		printf("\n");
	} else {
		printf("%s (%s) id=%" PRIu64 "%s%s children=%" PRIu64 "\n", n->path, n->class_name[0] ? n->class_name : "-",
		       n->id, n->instance[0] ? " instance=" : "", n->instance, n->child_count);
		for (size_t g = 0; g < n->n_groups; g++)
			printf("  group %s\n", n->groups[g]);
		for (size_t k = 0; k < n->n_props; k++) {
			struct variant v;
			char *text = decode_value(&n->props[k]->value, &v) ? value_text(&v) : strdup("<corrupt>");
			printf("  %s = %s\n", n->props[k]->name, text ? text : "");
			free(text);
			variant_free(&v);
		}
	}
	grove__envelope__free_unpacked(reply, NULL);
	return code;
}

/*
 * Past this depth `grove tree` indents no further and prints the depth instead, so that every line of a deep
 * chain stays short (indenting by depth would print the square of the depth in spaces).
 */
#define TREE_INDENT_LEVELS 32

static void print_tree_line(const Grove__NodeInfo *n)
{
	uint32_t levels = n->depth < TREE_INDENT_LEVELS ? n->depth : TREE_INDENT_LEVELS;
	int indent = 2 * (int)levels;
	printf("%*s", indent, "");
	if (n->depth > TREE_INDENT_LEVELS)
		printf("[depth %u] ", n->depth);
	printf("%s (%s)", n->name, n->class_name[0] ? n->class_name : n->instance);
	if (n->instance[0] && n->class_name[0])
		printf(" instance=%s", n->instance);
	for (size_t g = 0; g < n->n_groups; g++)
		printf(" [%s]", n->groups[g]);
	printf("\n");
	for (size_t k = 0; k < n->n_props; k++) {
		struct variant v;
		char *text = decode_value(&n->props[k]->value, &v) ? value_text(&v) : strdup("<corrupt>");
		printf("%*s  %s = %s\n", indent, "", n->props[k]->name, text ? text : "");
		free(text);
		variant_free(&v);
	}
}

static int cmd_tree(const struct options *o)
{
	if (o->argc > 1)
		return fail(o, EXIT_USAGE, "usage: grove tree [PATH]");
	Grove__Envelope *reply;
	int code = read_nodes(o, o->argc ? o->argv[0] : "/root", UINT32_MAX, true, &reply);
	if (code)
		return code;
	const Grove__ReadReply *rr = reply->read_reply;
	if (o->json) {
		printf("{\"applied_index\":%" PRIu64 ",\"truncated\":%s,\"nodes\":[", rr->applied_index,
		       rr->truncated ? "true" : "false");
		for (size_t i = 0; i < rr->n_nodes; i++) {
			if (i)
				printf(",");
			print_node_json(rr->nodes[i], i == 0 ? rr->nodes[i]->path : NULL, i > 0);
		}
		printf("]}\n");
	} else {
		for (size_t i = 0; i < rr->n_nodes; i++)
			print_tree_line(rr->nodes[i]);
		if (rr->truncated)
			printf("... (listing cut at %zu nodes)\n", rr->n_nodes);
	}
	grove__envelope__free_unpacked(reply, NULL);
	return 0;
}

static int cmd_status(const struct options *o)
{
	int code = 0;
	struct grove_client *c = connect_or_die(o, &code);
	if (!c)
		return code;
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	Grove__Envelope *reply;
	int err = grove_client_call(c, &env, &reply);
	grove_client_close(c);
	if (err)
		return fail(o, EXIT_USAGE, "no answer from %s: %s", o->server, grove_strerror(err));
	if (reply->body_case != GROVE__ENVELOPE__BODY_STATUS_REPLY) {
		grove__envelope__free_unpacked(reply, NULL);
		return fail(o, EXIT_REFUSED, "unexpected answer");
	}
	const Grove__StatusReply *s = reply->status_reply;
	if (o->json) {
		printf("{\"server_id\":%" PRIu64 ",\"role\":", s->server_id);
		json_string(stdout, s->role);
		printf(",\"version\":");
		json_string(stdout, s->server_version);
		printf(",\"applied_index\":%" PRIu64 ",\"nodes\":%" PRIu64 ",\"data_bytes\":%" PRIu64
		       ",\"uptime_ms\":%" PRIu64 ",\"clients\":%" PRIu64 ",\"writes_applied\":%" PRIu64
		       ",\"group_commits\":%" PRIu64 ",\"hlc\":{\"wall\":%" PRIu64 ",\"logical\":%" PRIu32 "},\"peer_clocks\":[",
		       s->applied_index, s->node_count, s->data_bytes, s->uptime_ms, s->clients, s->writes_applied,
		       s->group_commits, s->hlc_wall, s->hlc_logical);
		for (size_t i = 0; i < s->n_peer_clocks; i++) {
			const Grove__PeerClock *p = s->peer_clocks[i];
			printf("%s{\"id\":%" PRIu64 ",\"measured\":%s", i ? "," : "", p->id, p->measured ? "true" : "false");
			if (p->measured)
				printf(",\"offset_ns\":%" PRId64 ",\"age_ms\":%" PRIu64, p->offset_ns, p->age_ms);
			printf(",\"refused_frames\":%" PRIu64 "}", p->refused_frames);
		}
		printf("]}\n");
	} else {
		printf("server %" PRIu64 " (%s, grove %s) at %s\n", s->server_id, s->role, s->server_version, o->server);
		printf("  applied index   %" PRIu64 "\n", s->applied_index);
		printf("  nodes           %" PRIu64 "\n", s->node_count);
		printf("  data            %.1f MiB\n", (double)s->data_bytes / (1 << 20));
		printf("  uptime          %.1f s\n", (double)s->uptime_ms / 1000);
		printf("  clients         %" PRIu64 "\n", s->clients);
		printf("  writes applied  %" PRIu64 " in %" PRIu64 " group commits\n", s->writes_applied,
		       s->group_commits);
		printf("  clock (HLC)     %" PRIu64 ".%09" PRIu64 " s + %" PRIu32 "\n", s->hlc_wall / 1000000000u,
		       s->hlc_wall % 1000000000u, s->hlc_logical);
		for (size_t i = 0; i < s->n_peer_clocks; i++) {
			const Grove__PeerClock *p = s->peer_clocks[i];
			printf("  peer %-10" PRIu64, p->id);
			if (p->measured)
				printf(" clock offset %+.3f ms (measured %" PRIu64 " ms ago)", (double)p->offset_ns / 1e6, p->age_ms);
			else
				printf(" clock offset not measured yet");
			if (p->refused_frames)
				printf(", %" PRIu64 " frames refused (clock too far ahead)", p->refused_frames);
			printf("\n");
		}
	}
	grove__envelope__free_unpacked(reply, NULL);
	return 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct stat st;
	char *buf = NULL;
	if (fstat(fileno(f), &st) == 0 && (buf = malloc((size_t)st.st_size + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)st.st_size, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

static int cmd_import(const struct options *o)
{
	if (o->argc != 1 || !o->at)
		return fail(o, EXIT_USAGE, "usage: grove import SCENE.tscn --at PATH [--name NAME]");
	size_t len;
	char *text = slurp(o->argv[0], &len);
	if (!text)
		return fail(o, EXIT_USAGE, "cannot read %s: %s", o->argv[0], strerror(errno));
	struct tscn_scene scene;
	struct tscn_error perr;
	int err = tscn_parse(text, len, &scene, &perr);
	free(text);
	if (err)
		return fail(o, EXIT_REFUSED, "%s:%u:%u: %s", o->argv[0], perr.line, perr.column, perr.message);
	struct scene_import plan;
	char msg[512];
	err = scene_import_plan(&scene, o->at, o->name, &plan, msg, sizeof(msg));
	int code;
	if (err) {
		code = fail(o, EXIT_REFUSED, "%s: %s", o->argv[0], msg);
	} else {
		code = write_ops(o, plan.ops, plan.count);
		if (!code && !o->json)
			printf("imported %zu nodes, %zu resources, %zu connections under %s\n", plan.nodes, plan.resources,
			       plan.connections, o->at);
		scene_import_free(&plan);
	}
	tscn_scene_free(&scene);
	return code;
}

/* Bytes of a scene asked for in one chunk by `grove export`. */
#define EXPORT_CHUNK_BYTES (4u << 20)

static int cmd_export(const struct options *o)
{
	if (o->argc != 1 || !o->output || (o->godot != 3 && o->godot != 4))
		return fail(o, EXIT_USAGE, "usage: grove export PATH -o OUT.tscn|OUT.scn [--godot 3|4]");
	int code = 0;
	struct grove_client *c = connect_or_die(o, &code);
	if (!c)
		return code;
	Grove__NodeRef ref = GROVE__NODE_REF__INIT;
	ref.path = o->argv[0];
	Grove__ExportRequest ex = GROVE__EXPORT_REQUEST__INIT;
	ex.node = &ref;
	ex.godot_major = (uint32_t)o->godot;
	size_t olen = strlen(o->output);
	ex.binary = olen > 4 && strcmp(o->output + olen - 4, ".scn") == 0;
	ex.max_bytes = EXPORT_CHUNK_BYTES; /* a scene larger than a frame comes in chunks, written as they come */
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_EXPORT_SCENE;
	env.export_scene = &ex;
	FILE *f = NULL;
	uint64_t got = 0, total = 0;
	do {
		Grove__Envelope *reply;
		ex.offset = got;
		int err = grove_client_call(c, &env, &reply);
		if (err) {
			code = fail(o, EXIT_USAGE, "no answer from %s: %s", o->server, grove_strerror(err));
			break;
		}
		const Grove__ExportReply *er = reply->export_reply;
		if (reply->body_case != GROVE__ENVELOPE__BODY_EXPORT_REPLY)
			code = fail(o, EXIT_REFUSED, "unexpected answer");
		else if (er->code)
			code = fail(o, EXIT_REFUSED, "%s", er->message);
		else if (!f && !(f = fopen(o->output, "wb")))
			code = fail(o, EXIT_USAGE, "cannot write %s: %s", o->output, strerror(errno));
		else if (fwrite(er->scene.data, 1, er->scene.len, f) != er->scene.len)
			code = fail(o, EXIT_USAGE, "cannot write %s: %s", o->output, strerror(errno));
		if (!code) {
			got += er->scene.len;
			total = er->total ? er->total : got; /* a server that sends the scene whole says no total */
			code = er->scene.len ? 0 : fail(o, EXIT_REFUSED, "the server sent an empty chunk at %" PRIu64, got);
		}
		grove__envelope__free_unpacked(reply, NULL);
	} while (!code && got < total);
	grove_client_close(c);
	if (f && fclose(f) != 0 && !code)
		code = fail(o, EXIT_USAGE, "cannot write %s: %s", o->output, strerror(errno));
	return code;
}

/* ---- the change stream ---- */

static const char *const change_ops[] = {
	[TREE_OP_CREATE] = "create", [TREE_OP_DELETE] = "remove", [TREE_OP_SET_PROP] = "set",
	[TREE_OP_CLEAR_PROP] = "clear", [TREE_OP_RENAME] = "rename", [TREE_OP_MOVE] = "move",
	[TREE_OP_REORDER] = "reorder", [TREE_OP_ADD_GROUP] = "group_add", [TREE_OP_REMOVE_GROUP] = "group_remove",
	[TREE_OP_CONNECT] = "connect", [TREE_OP_DISCONNECT] = "disconnect", [TREE_OP_PUT_RESOURCE] = "resource",
};

static const char *change_op(uint32_t op)
{
	return op < sizeof(change_ops) / sizeof(change_ops[0]) && change_ops[op] ? change_ops[op] : "unknown";
}

/* One change: as a JSON object, or as a line "op path details". */
static void print_change(const Grove__Change *c, bool json)
{
	char *value = NULL;
	if (c->op == TREE_OP_SET_PROP) {
		struct variant v;
		value = decode_value(&c->value, &v) ? value_text(&v) : strdup("<undecodable>");
		variant_free(&v);
	}
	bool connection = c->op == TREE_OP_CONNECT || c->op == TREE_OP_DISCONNECT;
	const char *fields[][2] = {
		{"path", c->path},	   {"old_path", c->old_path}, {"target_path", c->target_path},
		{connection ? "signal" : "name", c->name},	   {connection ? "method" : "class", c->text},
		{"property", c->op == TREE_OP_SET_PROP || c->op == TREE_OP_CLEAR_PROP ? c->name : ""},
		{"value", value ? value : ""},
	};
	if (json) {
		printf("{\"op\":\"%s\",\"id\":%" PRIu64 ",\"parent\":%" PRIu64 ",\"index\":%" PRId64, change_op(c->op),
		       c->node, c->parent, c->index);
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (!fields[i][1] || !fields[i][1][0] ||
			    (strcmp(fields[i][0], "name") == 0 && (c->op == TREE_OP_SET_PROP || c->op == TREE_OP_CLEAR_PROP)))
				continue;
			printf(",\"%s\":", fields[i][0]);
			json_string(stdout, fields[i][1]);
		}
		putchar('}');
	} else {
		printf("  %s %s", change_op(c->op), c->path[0] ? c->path : c->name);
		if (c->op == TREE_OP_SET_PROP || c->op == TREE_OP_CLEAR_PROP || c->op == TREE_OP_ADD_GROUP ||
		    c->op == TREE_OP_REMOVE_GROUP)
			printf(" %s", c->name);
		if (value)
			printf(" = %s", value);
		if (c->op == TREE_OP_CREATE)
			printf(" (%s)", c->text);
		if ((c->op == TREE_OP_MOVE || c->op == TREE_OP_RENAME) && c->old_path[0])
			printf(" (was %s)", c->old_path);
		if (c->op == TREE_OP_CONNECT || c->op == TREE_OP_DISCONNECT)
			printf(" %s -> %s %s", c->name, c->target_path[0] ? c->target_path : "(another shard)", c->text);
		putchar('\n');
	}
	free(value);
}

/* The stream's position after @p ev, to resume with (--from): a JSON member, or a note. */
static void print_position(const Grove__SubscribeEvent *ev, bool json)
{
	if (!ev->position || !ev->position[0])
		return;
	if (json) {
		fputs(",\"position\":", stdout);
		json_string(stdout, ev->position);
	} else {
		printf(" at position %s", ev->position);
	}
}

static void print_changes(const Grove__SubscribeEvent *ev, bool json)
{
	if (json) {
		printf("{\"index\":%" PRIu64 ",\"prev_index\":%" PRIu64, ev->index, ev->prev);
		print_position(ev, true);
		fputs(",\"changes\":[", stdout);
		for (size_t i = 0; i < ev->n_changes; i++) {
			if (i)
				putchar(',');
			print_change(ev->changes[i], true);
		}
		puts("]}");
	} else {
		printf("index %" PRIu64 " (after %" PRIu64 ")", ev->index, ev->prev);
		print_position(ev, false);
		puts(":");
		for (size_t i = 0; i < ev->n_changes; i++)
			print_change(ev->changes[i], false);
	}
	fflush(stdout);
}

/* Follow a subtree: its scene first (unless resuming), then every change, like `etcdctl watch`. */
static int cmd_watch(const struct options *o)
{
	if (o->argc != 1 || (o->godot != 3 && o->godot != 4))
		return fail(o, EXIT_USAGE, "usage: grove watch PATH [--from INDEX|POSITION] [--count N] [--seconds S] [--godot 3|4]");
	int code = 0;
	struct grove_client *c = connect_or_die(o, &code);
	if (!c)
		return code;
	Grove__SubscribeRequest rq = GROVE__SUBSCRIBE_REQUEST__INIT;
	rq.path = o->argv[0];
	rq.tscn = true;
	rq.resume = o->from >= 0 || o->from_position;
	rq.from = o->from >= 0 ? (uint64_t)o->from : 0;
	rq.position = (char *)(o->from_position ? o->from_position : "");
	rq.godot_major = (uint32_t)o->godot;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &rq;
	int err = grove_client_send(c, &env);
	struct grove_buf scene = {0};
	int64_t changes = 0;
	time_t deadline = o->seconds >= 0 ? time(NULL) + o->seconds : 0;
	while (!err && code == 0 && (o->count < 0 || changes < o->count) && (!deadline || time(NULL) < deadline)) {
		Grove__Envelope *msg;
		err = grove_client_receive(c, 500, &msg);
		if (err == GROVE_ETIMEDOUT) {
			err = GROVE_OK;
			continue;
		}
		if (err)
			break;
		const Grove__SubscribeEvent *ev = msg->body_case == GROVE__ENVELOPE__BODY_SUBSCRIBE_EVENT ? msg->subscribe_event : NULL;
		if (!ev) {
			code = fail(o, EXIT_REFUSED, "%s",
				    msg->body_case == GROVE__ENVELOPE__BODY_ERROR ? msg->error->message : "unexpected answer");
		} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT) {
			grove_buf_put(&scene, ev->data.data, ev->data.len);
			if (ev->last && o->json) {
				grove_buf_put(&scene, "", 1);
				printf("{\"index\":%" PRIu64 ",\"root\":%" PRIu64, ev->index, ev->root);
				print_position(ev, true);
				fputs(",\"snapshot\":", stdout);
				json_string(stdout, (const char *)scene.data);
				puts("}");
			} else if (ev->last) {
				printf("; snapshot at index %" PRIu64, ev->index);
				print_position(ev, false);
				printf("\n%.*s", (int)scene.len, (const char *)scene.data);
			}
			fflush(stdout);
		} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__CHANGES) {
			print_changes(ev, o->json);
			changes++;
		} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__RESUMED) {
			printf(o->json ? "{\"resumed\":%" PRIu64 : "; resumed after index %" PRIu64, ev->index);
			print_position(ev, o->json);
			puts(o->json ? "}" : "");
			fflush(stdout);
		} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED) {
			code = fail(o, EXIT_REFUSED, "%s (watch again without --from)", ev->reason);
		} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__ERROR) {
			code = fail(o, EXIT_REFUSED, "%s", ev->reason);
		}
		grove__envelope__free_unpacked(msg, NULL);
	}
	grove_buf_free(&scene);
	grove_client_close(c);
	if (err)
		return fail(o, EXIT_USAGE, "the stream from %s ended: %s", o->server, grove_strerror(err));
	return code;
}

static int cmd_subscribers(const struct options *o)
{
	int code = 0;
	struct grove_client *c = connect_or_die(o, &code);
	if (!c)
		return code;
	Grove__SubscribersRequest rq = GROVE__SUBSCRIBERS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBERS;
	env.subscribers = &rq;
	int err = grove_client_call(c, &env, &reply);
	grove_client_close(c);
	if (err)
		return fail(o, EXIT_USAGE, "no answer from %s: %s", o->server, grove_strerror(err));
	if (reply->body_case != GROVE__ENVELOPE__BODY_SUBSCRIBERS_REPLY) {
		grove__envelope__free_unpacked(reply, NULL);
		return fail(o, EXIT_REFUSED, "unexpected answer");
	}
	const Grove__SubscribersReply *r = reply->subscribers_reply;
	if (!o->json)
		printf("%-21s %-8s %-24s %10s %8s %-9s %10s\n", "PEER", "PROTOCOL", "PATH", "SENT", "LAG", "MODE", "QUEUED");
	for (size_t i = 0; i < r->n_subscribers; i++) {
		const Grove__Subscriber *s = r->subscribers[i];
		if (o->json) {
			printf("{\"peer\":\"%s\",\"protocol\":\"%s\",\"path\":", s->peer, s->protocol);
			json_string(stdout, s->path);
			printf(",\"sent\":%" PRIu64 ",\"lag\":%" PRIu64 ",\"live\":%s,\"queued_bytes\":%" PRIu64 "}\n",
			       s->sent, s->lag, s->live ? "true" : "false", s->queued_bytes);
		} else {
			printf("%-21s %-8s %-24s %10" PRIu64 " %8" PRIu64 " %-9s %10" PRIu64 "\n", s->peer, s->protocol, s->path,
			       s->sent, s->lag, s->live ? "live" : "catch-up", s->queued_bytes);
		}
	}
	grove__envelope__free_unpacked(reply, NULL);
	return 0;
}

/* Progress on a terminal only, so scripts and logs stay clean. */
static void progress(const char *what, uint64_t done, uint64_t total)
{
	if (!isatty(2) || total == 0)
		return;
	fprintf(stderr, "\r%s %.1f / %.1f MiB", what, (double)done / (1 << 20), (double)total / (1 << 20));
	if (done >= total)
		fputc('\n', stderr);
}

static int snapshot_save(const struct options *o, struct grove_client *c, const char *file)
{
	FILE *f = fopen(file, "wb");
	if (!f)
		return fail(o, EXIT_USAGE, "cannot write %s: %s", file, strerror(errno));
	uint64_t offset = 0, total = 0, applied = 0;
	int code = 0;
	do {
		Grove__SnapshotSaveRequest rq = GROVE__SNAPSHOT_SAVE_REQUEST__INIT;
		rq.offset = offset;
		Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
		env.body_case = GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE;
		env.snapshot_save = &rq;
		int err = grove_client_call(c, &env, &reply);
		if (err) {
			code = fail(o, EXIT_USAGE, "no answer from %s: %s", o->server, grove_strerror(err));
			break;
		}
		const Grove__SnapshotSaveReply *sr = reply->snapshot_save_reply;
		if (reply->body_case != GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE_REPLY || sr->code || sr->chunk.len == 0) {
			code = fail(o, EXIT_REFUSED, "%s",
				    reply->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE_REPLY && sr->code ? sr->message
													    : "unexpected answer");
		} else if (fwrite(sr->chunk.data, 1, sr->chunk.len, f) != sr->chunk.len) {
			code = fail(o, EXIT_USAGE, "cannot write %s: %s", file, strerror(errno));
		} else {
			offset += sr->chunk.len;
			total = sr->total;
			applied = sr->applied_index;
			progress("saving", offset, total);
		}
		grove__envelope__free_unpacked(reply, NULL);
	} while (!code && offset < total);
	if (fclose(f) != 0 && !code)
		code = fail(o, EXIT_USAGE, "cannot write %s: %s", file, strerror(errno));
	if (!code && !o->json)
		printf("saved %llu bytes at applied index %llu to %s\n", (unsigned long long)total,
		       (unsigned long long)applied, file);
	if (code)
		remove(file);
	return code;
}

/* Send snapshot @p data (named @p file in messages) to a server whose world is empty. */
static int snapshot_send(const struct options *o, struct grove_client *c, const char *file, const uint8_t *data,
			 size_t len)
{
	uint64_t offset = 0;
	int code = 0, restarts = 0;
	bool installed = false;
	uint64_t applied = 0;
	while (!code && !installed) {
		size_t chunk = len - offset < (4u << 20) ? len - offset : (4u << 20);
		Grove__SnapshotRestoreRequest rq = GROVE__SNAPSHOT_RESTORE_REQUEST__INIT;
		rq.offset = offset;
		rq.total = len;
		rq.chunk.data = (uint8_t *)data + offset;
		rq.chunk.len = chunk;
		Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
		env.body_case = GROVE__ENVELOPE__BODY_SNAPSHOT_RESTORE;
		env.snapshot_restore = &rq;
		int err = grove_client_call(c, &env, &reply);
		if (err) {
			code = fail(o, EXIT_USAGE, "no answer from %s: %s", o->server, grove_strerror(err));
			break;
		}
		const Grove__SnapshotRestoreReply *rr = reply->snapshot_restore_reply;
		if (reply->body_case != GROVE__ENVELOPE__BODY_SNAPSHOT_RESTORE_REPLY)
			code = fail(o, EXIT_REFUSED, "unexpected answer");
		else if (rr->code)
			code = fail(o, EXIT_REFUSED, "%s", rr->message);
		else {
			/* The server says where to go on: further, or back to a chunk it lost (say, after a
			 * redirect to a new leader); a transfer that keeps going back gives up. */
			if (rr->next_offset < offset + chunk && !rr->installed && ++restarts > 3)
				code = fail(o, EXIT_REFUSED, "the server keeps losing the transfer; try again");
			offset = rr->next_offset;
			installed = rr->installed;
			applied = rr->applied_index;
			progress("restoring", installed ? len : offset, len);
			if (!installed && chunk == 0 && !code)
				code = fail(o, EXIT_REFUSED, "the server did not install the snapshot");
		}
		grove__envelope__free_unpacked(reply, NULL);
	}
	if (!code && !o->json)
		printf("restored %s (%zu bytes) at applied index %llu\n", file, len, (unsigned long long)applied);
	return code;
}

/* ---- point-in-time restore ---- */

static int admin_call(const struct options *o, Grove__Envelope *env, Grove__Envelope__BodyCase expected,
		      Grove__Envelope **reply);

/* Change record @p pb as the tree's (owned: free with tree_change_free()); false when out of memory. */
static bool change_from_pb(const Grove__Change *pb, struct tree_change *c)
{
	*c = (struct tree_change){.op = (enum tree_op_kind)pb->op, .node = pb->node, .parent = pb->parent,
				  .old_parent = pb->old_parent, .index = pb->index, .flags = pb->flags,
				  .path_step = TREE_NO_PATH, .old_path_step = TREE_NO_PATH};
	const char *const from[] = {pb->name, pb->old_name, pb->class_name, pb->text, pb->instance};
	char **to[] = {&c->name, &c->old_name, &c->node_class, &c->text, &c->instance};
	bool ok = true;
	for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++)
		ok = ok && (!from[i] || (*to[i] = strdup(from[i])));
	if (ok && pb->value.len) {
		grove_buf_put(&c->value, pb->value.data, pb->value.len);
		ok = !c->value.failed;
	}
	return ok;
}

/* The change stream of the world from @p after on, from the history of the servers in @p h. */
static int history_stream(const struct options *h, uint64_t after, struct grove_client **out)
{
	int code = 0;
	*out = connect_or_die(h, &code);
	if (!*out)
		return code;
	Grove__SubscribeRequest rq = GROVE__SUBSCRIBE_REQUEST__INIT;
	rq.path = "/root";
	rq.resume = true;
	rq.from = after;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &rq;
	int err = grove_client_send(*out, &env);
	if (err) {
		grove_client_close(*out);
		*out = NULL;
		return fail(h, EXIT_USAGE, "no answer from %s: %s", h->server, grove_strerror(err));
	}
	return 0;
}

/* Refuse a source whose world has shards: the world's history then holds only part of it. */
static int history_unsharded(const struct options *h)
{
	Grove__ShardRequest rq = GROVE__SHARD_REQUEST__INIT;
	rq.op = GROVE__SHARD_REQUEST__OP__LIST;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_SHARD;
	env.shard = &rq;
	int code = admin_call(h, &env, GROVE__ENVELOPE__BODY_SHARD_REPLY, &reply);
	if (code)
		return code;
	if (reply->shard_reply->code)
		code = fail(h, EXIT_REFUSED, "%s", reply->shard_reply->message);
	else if (reply->shard_reply->n_shards > 1)
		code = fail(h, EXIT_REFUSED, "the world of %s has shards: its change history holds one group, so a "
					     "point-in-time restore is not possible", h->server);
	grove__envelope__free_unpacked(reply, NULL);
	return code;
}

/* How long the history may take to reach the index asked for. */
#define HISTORY_SECONDS 30

/*
 * Bring @p f forward to index @p at with the records the stream @p c sends (entries after f's index, in
 * order; CHANGES of an entry, PROGRESS past entries that changed nothing).
 */
static int follow_history(const struct options *h, struct grove_client *c, struct tree_forward *f, uint64_t at)
{
	uint64_t last = tree_forward_index(f); /* the index the stream said last */
	time_t deadline = time(NULL) + HISTORY_SECONDS;
	char why[400];
	while (last < at) {
		if (time(NULL) > deadline)
			return fail(h, EXIT_REFUSED, "%s did not reach index %" PRIu64 " within %d s (it sent up to %" PRIu64 ")",
				    h->server, at, HISTORY_SECONDS, last);
		Grove__Envelope *msg;
		int err = grove_client_receive(c, 500, &msg);
		if (err == GROVE_ETIMEDOUT)
			continue;
		if (err)
			return fail(h, EXIT_USAGE, "the history stream from %s ended: %s", h->server, grove_strerror(err));
		const Grove__SubscribeEvent *ev =
			msg->body_case == GROVE__ENVELOPE__BODY_SUBSCRIBE_EVENT ? msg->subscribe_event : NULL;
		int code = 0;
		if (!ev) {
			code = fail(h, EXIT_REFUSED, "%s",
				    msg->body_case == GROVE__ENVELOPE__BODY_ERROR ? msg->error->message : "unexpected answer");
		} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED) {
			code = fail(h, EXIT_REFUSED, "the change history of %s no longer holds index %" PRIu64
						     " (its oldest is %" PRIu64 "): %s; bring a later backup forward",
				    h->server, last + 1, ev->oldest, ev->reason);
		} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__ERROR) {
			code = fail(h, EXIT_REFUSED, "%s", ev->reason);
		} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__CHANGES && ev->index <= at) {
			if (ev->prev != last)
				code = fail(h, EXIT_REFUSED, "the history skipped from %" PRIu64 " to %" PRIu64, last, ev->prev);
			struct tree_change *changes = calloc(ev->n_changes ? ev->n_changes : 1, sizeof(*changes));
			size_t n = 0;
			bool ok = changes != NULL;
			for (; ok && n < ev->n_changes; n++)
				ok = change_from_pb(ev->changes[n], &changes[n]);
			if (!code && !ok)
				code = fail(h, EXIT_USAGE, "out of memory");
			if (!code && (err = tree_forward_apply(f, ev->index, changes, n, why, sizeof(why))))
				code = fail(h, EXIT_REFUSED, "entry %" PRIu64 ": %s", ev->index, why);
			for (size_t i = 0; changes && i < n; i++)
				tree_change_free(&changes[i]);
			free(changes);
			last = ev->index;
		} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__CHANGES ||
			   ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__PROGRESS) {
			/* Nothing changed between the last record applied and this index. */
			last = ev->index;
		}
		grove__envelope__free_unpacked(msg, NULL);
		if (code)
			return code;
	}
	return 0;
}

/* The bytes of @p file brought forward to index @p at with the history of o->history_from (malloc'd). */
static int bring_forward(const struct options *o, const uint8_t *data, size_t len, uint64_t at, struct snapshot *out)
{
	char why[400] = "";
	uint64_t from;
	if (snapshot_verify(data, len, &from, why, sizeof(why)) != GROVE_OK)
		return fail(o, EXIT_USAGE, "not a valid snapshot: %s", why);
	if (at < from)
		return fail(o, EXIT_USAGE, "the snapshot holds index %" PRIu64 ", after %" PRIu64 ": restore an earlier one",
			    from, at);
	if (at > from && !o->history_from)
		return fail(o, EXIT_USAGE, "the snapshot holds index %" PRIu64 "; bringing it to %" PRIu64
					   " needs --history-from SERVER (the cluster it was taken from)", from, at);
	struct options h = *o;
	h.server = o->history_from;
	int code = at > from ? history_unsharded(&h) : 0;
	if (code)
		return code;
	const char *tmp = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
	char top[4096], scratch[4200];
	snprintf(top, sizeof(top), "%s/grove-restore-XXXXXX", tmp);
	if (!mkdtemp(top))
		return fail(o, EXIT_USAGE, "cannot make a scratch folder in %s: %s", tmp, strerror(errno));
	snprintf(scratch, sizeof(scratch), "%s/store", top);
	struct tree_forward *f;
	int err = tree_forward_open(data, len, scratch, &f, why, sizeof(why));
	if (err)
		code = fail(o, EXIT_USAGE, "cannot load the snapshot: %s", why[0] ? why : grove_strerror(err));
	struct grove_client *c = NULL;
	if (!code && at > from)
		code = history_stream(&h, from, &c);
	if (!code && c)
		code = follow_history(&h, c, f, at);
	grove_client_close(c);
	if (!code && (err = tree_forward_finish(f, at, out, why, sizeof(why))))
		code = fail(o, EXIT_REFUSED, "%s", why);
	tree_forward_close(f);
	rmdir(top);
	return code;
}

/* `snapshot restore FILE [--at INDEX --history-from SERVER]`: the world at INDEX into an empty world. */
static int snapshot_restore(const struct options *o, struct grove_client *c, const char *file)
{
	size_t len;
	char *data = slurp(file, &len);
	if (!data)
		return fail(o, EXIT_USAGE, "cannot read %s: %s", file, strerror(errno));
	int code = 0;
	if (!o->at) {
		code = snapshot_send(o, c, file, (const uint8_t *)data, len);
		free(data);
		return code;
	}
	char *end;
	uint64_t at = strtoull(o->at, &end, 10);
	struct snapshot forward = {0};
	if (*end || o->at[0] < '0' || o->at[0] > '9')
		code = fail(o, EXIT_USAGE, "--at takes an index, not \"%s\"", o->at);
	if (!code)
		code = bring_forward(o, (const uint8_t *)data, len, at, &forward);
	free(data);
	if (!code && !o->json)
		printf("%s brought forward to index %" PRIu64 "\n", file, at);
	if (!code)
		code = snapshot_send(o, c, file, forward.data, forward.len);
	snapshot_free(&forward);
	return code;
}

/* "2026-11-30T17:24:56.123Z" of @p unix_ms. */
static void utc_text(uint64_t unix_ms, char *out, size_t cap)
{
	time_t seconds = (time_t)(unix_ms / 1000);
	struct tm tm;
	char whole[32] = "?";
	if (gmtime_r(&seconds, &tm))
		strftime(whole, sizeof(whole), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%s.%03uZ", whole, (unsigned)(unix_ms % 1000));
}

/* The backups the server (the first of --server) keeps: one line each, or one JSON object each. */
static int snapshot_list(const struct options *o, struct grove_client *c)
{
	Grove__SnapshotListRequest rq = GROVE__SNAPSHOT_LIST_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_SNAPSHOT_LIST;
	env.snapshot_list = &rq;
	int err = grove_client_call(c, &env, &reply);
	if (err)
		return fail(o, EXIT_USAGE, "no answer from %s: %s", o->server, grove_strerror(err));
	const Grove__SnapshotListReply *r = reply->snapshot_list_reply;
	int code = 0;
	if (reply->body_case != GROVE__ENVELOPE__BODY_SNAPSHOT_LIST_REPLY || r->code) {
		code = fail(o, EXIT_REFUSED, "%s",
			    reply->body_case == GROVE__ENVELOPE__BODY_ERROR ? reply->error->message
			    : reply->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_LIST_REPLY ? r->message
											   : "unexpected answer");
		grove__envelope__free_unpacked(reply, NULL);
		return code;
	}
	if (!o->json) {
		printf("server %" PRIu64 ", applied index %" PRIu64 ", backups in %s: ", r->server_id, r->applied_index,
		       r->directory);
		if (r->every_ms)
			printf("every %" PRIu64 " ms, keeping %u\n", r->every_ms, r->keep);
		else
			printf("none scheduled (--snapshot-every)\n");
		printf("%-56s %20s %-24s %12s %s\n", "NAME", "INDEX", "TIME (UTC)", "SIZE", "VERIFIED");
	}
	for (size_t i = 0; i < r->n_backups; i++) {
		const Grove__Backup *b = r->backups[i];
		char when[48];
		utc_text(b->unix_ms, when, sizeof(when));
		if (o->json) {
			printf("{\"name\":");
			json_string(stdout, b->name);
			printf(",\"path\":");
			char path[4200];
			snprintf(path, sizeof(path), "%s/%s", r->directory, b->name);
			json_string(stdout, path);
			printf(",\"applied_index\":%" PRIu64 ",\"time\":\"%s\",\"unix_ms\":%" PRIu64 ",\"size\":%" PRIu64
			       ",\"verified\":%s}\n",
			       b->applied_index, when, b->unix_ms, b->size, b->verified ? "true" : "false");
		} else {
			printf("%-56s %20" PRIu64 " %-24s %12" PRIu64 " %s\n", b->name, b->applied_index, when, b->size,
			       b->verified ? "ok" : "NO (changed or gone since verified)");
		}
	}
	grove__envelope__free_unpacked(reply, NULL);
	return 0;
}

static int cmd_snapshot(const struct options *o)
{
	bool list = o->argc == 1 && strcmp(o->argv[0], "list") == 0;
	if (!list && (o->argc != 2 || (strcmp(o->argv[0], "save") != 0 && strcmp(o->argv[0], "restore") != 0)))
		return fail(o, EXIT_USAGE,
			    "usage: grove snapshot save FILE | restore FILE [--at INDEX --history-from SERVER] | list");
	int code = 0;
	struct grove_client *c = connect_or_die(o, &code);
	if (!c)
		return code;
	if (list)
		code = snapshot_list(o, c);
	else
		code = strcmp(o->argv[0], "save") == 0 ? snapshot_save(o, c, o->argv[1])
						       : snapshot_restore(o, c, o->argv[1]);
	grove_client_close(c);
	return code;
}

static Grove__StatusReply *fetch_status(const char *address, const char *token, Grove__Envelope **holder)
{
	struct grove_client *c;
	*holder = NULL;
	if (grove_client_connect(address, token, 3000, &c, NULL, 0))
		return NULL;
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	int err = grove_client_call(c, &env, holder);
	grove_client_close(c);
	if (err || (*holder)->body_case != GROVE__ENVELOPE__BODY_STATUS_REPLY)
		return NULL;
	return (*holder)->status_reply;
}

static int cluster_status_cmd(const struct options *o)
{
	Grove__Envelope *first_holder;
	Grove__StatusReply *first = fetch_status(o->server, o->token, &first_holder);
	if (!first)
		return fail(o, EXIT_USAGE, "no answer from %s", o->server);
	if (first->n_members == 0) {
		grove__envelope__free_unpacked(first_holder, NULL);
		return fail(o, EXIT_REFUSED, "%s runs alone (no --peers)", o->server);
	}
	uint64_t leader_commit = 0;
	Grove__Envelope *holders[16] = {0};
	Grove__StatusReply *views[16] = {0};
	for (size_t i = 0; i < first->n_members && i < 16; i++) {
		views[i] = fetch_status(first->members[i]->address, o->token, &holders[i]);
		if (views[i] && strcmp(views[i]->role, "leader") == 0)
			leader_commit = views[i]->commit_index;
	}
	if (o->json)
		printf("{\"members\":[");
	else
		printf("%-4s %-22s %-9s %-6s %-10s %-10s %s\n", "id", "address", "role", "term", "commit", "applied", "lag");
	for (size_t i = 0; i < first->n_members && i < 16; i++) {
		const Grove__Member *m = first->members[i];
		const Grove__StatusReply *v = views[i];
		uint64_t lag = v && leader_commit > v->applied_index ? leader_commit - v->applied_index : 0;
		if (o->json) {
			printf("%s{\"id\":%llu,\"address\":", i ? "," : "", (unsigned long long)m->id);
			json_string(stdout, m->address);
			if (v)
				printf(",\"role\":\"%s\",\"term\":%llu,\"commit\":%llu,\"applied\":%llu,\"lag\":%llu}",
				       v->role, (unsigned long long)v->term, (unsigned long long)v->commit_index,
				       (unsigned long long)v->applied_index, (unsigned long long)lag);
			else
				printf(",\"role\":\"unreachable\"}");
		} else if (v) {
			printf("%-4llu %-22s %-9s %-6llu %-10llu %-10llu %llu\n", (unsigned long long)m->id, m->address,
			       v->role, (unsigned long long)v->term, (unsigned long long)v->commit_index,
			       (unsigned long long)v->applied_index, (unsigned long long)lag);
		} else {
			printf("%-4llu %-22s unreachable\n", (unsigned long long)m->id, m->address);
		}
	}
	if (o->json)
		printf("]}\n");
	for (size_t i = 0; i < 16; i++)
		if (holders[i])
			grove__envelope__free_unpacked(holders[i], NULL);
	grove__envelope__free_unpacked(first_holder, NULL);
	return 0;
}

/* Send @p env and hand back its reply in @p reply if its body is @p expected; else say why and return the exit code. */
static int admin_call(const struct options *o, Grove__Envelope *env, Grove__Envelope__BodyCase expected,
		      Grove__Envelope **reply)
{
	*reply = NULL;
	int code = 0;
	struct grove_client *c = connect_or_die(o, &code);
	if (!c)
		return code;
	int err = grove_client_call(c, env, reply);
	grove_client_close(c);
	if (err)
		return fail(o, EXIT_USAGE, "no answer from %s: %s", o->server, grove_strerror(err));
	if ((*reply)->body_case == GROVE__ENVELOPE__BODY_ERROR)
		code = fail(o, EXIT_REFUSED, "%s", (*reply)->error->message);
	else if ((*reply)->body_case != expected)
		code = fail(o, EXIT_REFUSED, "unexpected answer");
	if (code) {
		grove__envelope__free_unpacked(*reply, NULL);
		*reply = NULL;
	}
	return code;
}

static int cmd_cluster(const struct options *o)
{
	if (o->argc == 1 && strcmp(o->argv[0], "status") == 0)
		return cluster_status_cmd(o);
	const char *sub = o->argc ? o->argv[0] : "";
	Grove__ClusterRequest__Op op;
	if (strcmp(sub, "transfer-leader") == 0 && o->argc == 2)
		op = GROVE__CLUSTER_REQUEST__OP__TRANSFER_LEADER;
	else if (strcmp(sub, "add") == 0 && o->argc == 3)
		op = GROVE__CLUSTER_REQUEST__OP__ADD_LEARNER;
	else if (strcmp(sub, "promote") == 0 && o->argc == 2)
		op = GROVE__CLUSTER_REQUEST__OP__PROMOTE;
	else if (strcmp(sub, "remove") == 0 && o->argc == 2)
		op = GROVE__CLUSTER_REQUEST__OP__REMOVE;
	else
		return fail(o, EXIT_USAGE,
			    "usage: grove cluster status | transfer-leader ID | add ID HOST:PORT | promote ID | remove ID");
	Grove__ClusterRequest rq = GROVE__CLUSTER_REQUEST__INIT;
	rq.op = op;
	if (!member_id_arg(o, o->argv[1], &rq.node))
		return EXIT_USAGE;
	rq.address = (char *)(o->argc == 3 ? o->argv[2] : "");
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_CLUSTER;
	env.cluster = &rq;
	int code = admin_call(o, &env, GROVE__ENVELOPE__BODY_CLUSTER_REPLY, &reply);
	if (code)
		return code;
	if (reply->cluster_reply->code)
		code = fail(o, EXIT_REFUSED, "%s", reply->cluster_reply->message);
	else if (!o->json)
		printf("%s\n", reply->cluster_reply->message);
	grove__envelope__free_unpacked(reply, NULL);
	return code;
}

/* How many shards each member leads, as the answering member sees it: the spread that leader balancing evens out. */
static void print_leaderships(const Grove__ShardReply *sr)
{
	uint64_t members[64] = {0}, led[64] = {0};
	size_t n = 0, unknown = 0;
	for (size_t i = 0; i < sr->n_shards; i++) {
		uint64_t leader = sr->shards[i]->leader_id;
		size_t k = 0;
		while (k < n && members[k] != leader)
			k++;
		if (!leader)
			unknown++;
		else if (k < n)
			led[k]++;
		else if (n < 64)
			members[n] = leader, led[n++] = 1;
	}
	for (size_t k = 1; k < n; k++) /* by member id */
		for (size_t j = k; j > 0 && members[j - 1] > members[j]; j--) {
			uint64_t m = members[j], l = led[j];
			members[j] = members[j - 1], led[j] = led[j - 1];
			members[j - 1] = m, led[j - 1] = l;
		}
	printf("leaders:");
	for (size_t k = 0; k < n; k++)
		printf("%s member %" PRIu64 " leads %" PRIu64, k ? "," : "", members[k], led[k]);
	if (unknown)
		printf("%s %zu without a known leader", n ? "," : "", unknown);
	printf("\n");
}

/* @p label and then @p ids as a JSON array ("[1,2,3]"). */
static void print_ids(const char *label, const uint64_t *ids, size_t n)
{
	printf("%s[", label);
	for (size_t i = 0; i < n; i++)
		printf("%s%" PRIu64, i ? "," : "", ids[i]);
	printf("]");
}

/* Whether @p a and @p b hold the same ids, in any order (neither repeats one). */
static bool same_ids(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		bool found = false;
		for (size_t k = 0; k < nb && !found; k++)
			found = b[k] == a[i];
		if (!found)
			return false;
	}
	return true;
}

/* Whether shard @p s has the members and learners of shard @p world. */
static bool same_members(const Grove__ShardInfo *s, const Grove__ShardInfo *world)
{
	return same_ids(s->members, s->n_members, world->members, world->n_members) &&
	       same_ids(s->learners, s->n_learners, world->learners, world->n_learners);
}

static void json_shard(const Grove__ShardInfo *s)
{
	printf("{\"path\":");
	json_string(stdout, s->path);
	printf(",\"group\":%" PRIu64 ",\"state\":", s->group);
	json_string(stdout, s->state);
	printf(",\"source\":%" PRIu64 ",\"leader\":%" PRIu64 ",\"leader_address\":", s->source, s->leader_id);
	json_string(stdout, s->leader_address);
	printf(",\"term\":%" PRIu64 ",\"nodes\":%" PRIu64 ",\"commit\":%" PRIu64 ",\"applied\":%" PRIu64
	       ",\"lag\":%" PRIu64 ",\"quiesced\":%s,\"held_by\":%" PRIu64 ",\"resolved_early\":%" PRIu32,
	       s->term, s->nodes, s->commit_index, s->applied_index, s->lag, s->quiesced ? "true" : "false",
	       s->held_by, s->resolved_early);
	print_ids(",\"members\":", s->members, s->n_members);
	print_ids(",\"learners\":", s->learners, s->n_learners);
	printf("}");
}

static void print_shards(const Grove__ShardReply *sr, bool json)
{
	if (json) {
		printf("{\"server\":%" PRIu64 ",\"shards\":[", sr->server_id);
		for (size_t i = 0; i < sr->n_shards; i++) {
			printf("%s", i ? "," : "");
			json_shard(sr->shards[i]);
		}
		printf("]");
		if (sr->meta) {
			printf(",\"meta\":");
			json_shard(sr->meta);
		}
		printf("}\n");
		return;
	}
	printf("%-8s %-10s %-8s %-22s %6s %10s %10s %6s  %s\n", "GROUP", "STATE", "LEADER", "ADDRESS", "TERM", "NODES",
	       "APPLIED", "LAG", "PATH");
	for (size_t i = 0; i < sr->n_shards; i++) {
		const Grove__ShardInfo *s = sr->shards[i];
		printf("%-8" PRIu64 " %-10s %-8" PRIu64 " %-22s %6" PRIu64 " %10" PRIu64 " %10" PRIu64 " %6" PRIu64 "  %s%s",
		       s->group, s->state, s->leader_id, s->leader_address[0] ? s->leader_address : "-", s->term, s->nodes,
		       s->applied_index, s->lag, s->path, s->quiesced ? " (idle)" : "");
		if (s->held_by)
			printf(" (held by transaction %016" PRIx64 ")", s->held_by);
		if (s->resolved_early)
			printf(" (%" PRIu32 " resolved early, unconfirmed)", s->resolved_early);
		if (!same_members(s, sr->shards[0])) {
			print_ids(" (members ", s->members, s->n_members);
			print_ids(", learners ", s->learners, s->n_learners);
			printf(": following the world's)");
		}
		printf("\n");
	}
	const Grove__ShardInfo *m = sr->meta;
	if (m)
		printf("%-8" PRIu64 " %-10s %-8" PRIu64 " %-22s %6" PRIu64 " %10s %10" PRIu64 " %6" PRIu64 "  (the shard map)%s\n",
		       m->group, "meta", m->leader_id, m->leader_address[0] ? m->leader_address : "-", m->term, "-",
		       m->applied_index, m->lag, m->quiesced ? " (idle)" : "");
	print_leaderships(sr);
}

static int cmd_shard(const struct options *o)
{
	const char *sub = o->argc ? o->argv[0] : "";
	Grove__ShardRequest rq = GROVE__SHARD_REQUEST__INIT;
	if (strcmp(sub, "list") == 0 && o->argc == 1) {
		rq.op = GROVE__SHARD_REQUEST__OP__LIST;
	} else if (strcmp(sub, "split") == 0 && o->argc == 2) {
		rq.op = GROVE__SHARD_REQUEST__OP__SPLIT;
		rq.path = o->argv[1];
	} else if (strcmp(sub, "transfer-leader") == 0 && o->argc == 3) {
		rq.op = GROVE__SHARD_REQUEST__OP__TRANSFER_LEADER;
		rq.path = o->argv[1];
		if (!member_id_arg(o, o->argv[2], &rq.node))
			return EXIT_USAGE;
	} else {
		return fail(o, EXIT_USAGE, "usage: grove shard list | split PATH | transfer-leader PATH ID");
	}
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_SHARD;
	env.shard = &rq;
	int code = admin_call(o, &env, GROVE__ENVELOPE__BODY_SHARD_REPLY, &reply);
	/* A shard splits off one subtree at a time: a split asked while another of the same shard runs waits its
	 * turn here rather than fail. */
	for (int waited_ms = 0; !code && rq.op == GROVE__SHARD_REQUEST__OP__SPLIT && waited_ms < SPLIT_WAIT_MS &&
				reply->shard_reply->code == GROVE_EUNAVAILABLE;
	     waited_ms += 100) {
		grove__envelope__free_unpacked(reply, NULL);
		struct timespec pause = {0, 100 * 1000000L};
		nanosleep(&pause, NULL);
		code = admin_call(o, &env, GROVE__ENVELOPE__BODY_SHARD_REPLY, &reply);
	}
	if (code)
		return code;
	if (reply->shard_reply->code)
		code = fail(o, EXIT_REFUSED, "%s", reply->shard_reply->message);
	else if (rq.op == GROVE__SHARD_REQUEST__OP__LIST)
		print_shards(reply->shard_reply, o->json);
	else if (o->json) {
		printf("{\"group\":%" PRIu64 ",\"path\":", reply->shard_reply->group);
		json_string(stdout, rq.path);
		printf("}\n");
	} else
		printf("%s\n", reply->shard_reply->message);
	grove__envelope__free_unpacked(reply, NULL);
	return code;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static char *positional[16];
	o->argv = positional;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = strcmp(a, "--server") == 0 || strcmp(a, "--token") == 0 || strcmp(a, "--instance") == 0 ||
			     strcmp(a, "--index") == 0 || strcmp(a, "--at") == 0 || strcmp(a, "--name") == 0 ||
			     strcmp(a, "-o") == 0 || strcmp(a, "--godot") == 0 || strcmp(a, "--from") == 0 ||
			     strcmp(a, "--count") == 0 || strcmp(a, "--seconds") == 0 ||
			     strcmp(a, "--history-from") == 0;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		} else if (strcmp(a, "--version") == 0) {
			printf("grove %s\n", GROVE_VERSION);
			exit(0);
		} else if (strcmp(a, "--json") == 0) {
			o->json = true;
		} else if (takes) {
			if (!value) {
				fprintf(stderr, "grove: %s needs a value\n", a);
				return EXIT_USAGE;
			}
			i++;
			if (strcmp(a, "--server") == 0)
				o->server = value;
			else if (strcmp(a, "--token") == 0)
				o->token = value;
			else if (strcmp(a, "--instance") == 0)
				o->instance = value;
			else if (strcmp(a, "--index") == 0 && !number_option(a, value, -1, INT32_MAX, &o->index))
				return EXIT_USAGE;
			else if (strcmp(a, "--at") == 0)
				o->at = value;
			else if (strcmp(a, "--name") == 0)
				o->name = value;
			else if (strcmp(a, "-o") == 0)
				o->output = value;
			else if (strcmp(a, "--from") == 0 && strchr(value, ':'))
				o->from_position = value; /* "group:index,...", as the stream gave it */
			else if (strcmp(a, "--from") == 0 && !number_option(a, value, 0, INT64_MAX, &o->from))
				return EXIT_USAGE;
			else if (strcmp(a, "--count") == 0 && !number_option(a, value, 0, INT64_MAX, &o->count))
				return EXIT_USAGE;
			else if (strcmp(a, "--seconds") == 0 && !number_option(a, value, 0, INT64_MAX, &o->seconds))
				return EXIT_USAGE;
			else if (strcmp(a, "--history-from") == 0)
				o->history_from = value;
			else if (strcmp(a, "--godot") == 0) {
				int64_t major;
				if (!number_option(a, value, 3, 4, &major))
					return EXIT_USAGE;
				o->godot = (int)major;
			}
		} else if (a[0] == '-' && a[1] == '-' && a[2] != '\0') {
			fprintf(stderr, "grove: unknown option %s\n", a);
			return EXIT_USAGE;
		} else if (!o->command) {
			o->command = a;
		} else if (o->argc < 16) {
			positional[o->argc++] = argv[i];
		} else {
			fprintf(stderr, "grove: too many arguments\n");
			return EXIT_USAGE;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {.index = -1, .godot = 4, .from = -1, .count = -1, .seconds = -1};
	o.server = getenv("GROVE_SERVER") ? getenv("GROVE_SERVER") : "127.0.0.1:7400";
	o.token = getenv("GROVE_TOKEN");
	int code = parse_args(argc, argv, &o);
	if (code)
		return code;
	if (!o.command) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = o.command;
	if (strcmp(cmd, "add") == 0)
		return cmd_add(&o);
	if (strcmp(cmd, "set") == 0)
		return cmd_set(&o);
	if (strcmp(cmd, "clear") == 0)
		return cmd_simple(&o, TREE_OP_CLEAR_PROP, 2, "grove clear PATH PROP");
	if (strcmp(cmd, "get") == 0)
		return cmd_get(&o);
	if (strcmp(cmd, "mv") == 0)
		return cmd_simple(&o, TREE_OP_MOVE, 2, "grove mv PATH NEW_PARENT [--index N]");
	if (strcmp(cmd, "rename") == 0)
		return cmd_simple(&o, TREE_OP_RENAME, 2, "grove rename PATH NAME");
	if (strcmp(cmd, "rm") == 0)
		return cmd_simple(&o, TREE_OP_DELETE, 1, "grove rm PATH");
	if (strcmp(cmd, "group") == 0)
		return cmd_group(&o);
	if (strcmp(cmd, "tree") == 0)
		return cmd_tree(&o);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(&o);
	if (strcmp(cmd, "import") == 0)
		return cmd_import(&o);
	if (strcmp(cmd, "watch") == 0)
		return cmd_watch(&o);
	if (strcmp(cmd, "subscribers") == 0)
		return cmd_subscribers(&o);
	if (strcmp(cmd, "export") == 0)
		return cmd_export(&o);
	if (strcmp(cmd, "snapshot") == 0)
		return cmd_snapshot(&o);
	if (strcmp(cmd, "shard") == 0)
		return cmd_shard(&o);
	if (strcmp(cmd, "cluster") == 0)
		return cmd_cluster(&o);
	fprintf(stderr, "grove: unknown command %s (grove --help lists them)\n", cmd);
	return EXIT_USAGE;
}
