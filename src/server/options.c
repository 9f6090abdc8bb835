/* groved's command line, as one table: the usage text is printed from the rows the parser reads. */
#include "src/server/options.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/server/backup.h"
#include "src/server/loop.h"

enum option_kind {
	OPTION_FLAG,     /* no value: sets a bool */
	OPTION_TEXT,     /* any text: the field points at it */
	OPTION_NUMBER,   /* a whole number from min to max, into a field of 4 or 8 bytes */
	OPTION_DURATION, /* a number and a unit (backup_parse_duration()), in milliseconds */
	OPTION_ADDRESS   /* IPv4-ADDRESS:PORT (loop_address_valid()) */
};

struct option {
	const char *name;
	const char *value_name; /* as the usage shows it; NULL for a flag */
	enum option_kind kind;
	size_t offset, size;    /* the field of struct server_config it fills */
	uint64_t min, max;      /* OPTION_NUMBER: the range accepted */
	const char *unit;       /* OPTION_NUMBER: what it counts, for a refusal ("bytes"); NULL: a plain number */
	const char *help;       /* lines of the usage text, '\n' between them */
};

#define FIELD(f) offsetof(struct server_config, f), sizeof(((struct server_config *)0)->f)
#define MIB (UINT64_C(1) << 20)
#define YEAR_S UINT64_C(31536000)

static const struct option options[] = {
	{"--data", "DIR", OPTION_TEXT, FIELD(data_dir), 0, 0, NULL, "the store's directory (created if missing)"},
	{"--listen", "A:P", OPTION_TEXT, FIELD(listen), 0, 0, NULL, "IPv4 address and port; port 0 picks a free one"},
	{"--token", "TOKEN", OPTION_TEXT, FIELD(token), 0, 0, NULL,
	 "clients must present this token (or set GROVE_TOKEN)"},
	{"--max-frame", "BYTES", OPTION_NUMBER, FIELD(max_frame), 4096, UINT64_C(1) << 31, "bytes",
	 "largest request accepted (default 64 MiB)"},
	{"--id", "N", OPTION_NUMBER, FIELD(id), 1, UINT64_MAX, NULL,
	 "server id (default 1); with --peers, this member's id"},
	{"--peers", "LIST", OPTION_TEXT, FIELD(peers), 0, 0, NULL,
	 "replicate with Raft: ID=HOST:PORT,... for every member, this one included"},
	{"--cluster-token", "T", OPTION_TEXT, FIELD(cluster_token), 0, 0, NULL,
	 "what peers must present (or set GROVE_CLUSTER_TOKEN)"},
	{"--cluster-id", "N", OPTION_NUMBER, FIELD(cluster_id), 1, UINT64_MAX, NULL,
	 "peers of another cluster id are refused (default 1)"},
	{"--raft-compact-at", "N", OPTION_NUMBER, FIELD(compact_at), 1, UINT64_MAX, "entries",
	 "compact the Raft log past N applied entries (default 20000)"},
	{"--snapshot-chunk", "BYTES", OPTION_NUMBER, FIELD(snapshot_chunk), 1024, 16 * MIB, "bytes",
	 "size of the chunks a snapshot is sent to a follower in (default 1 MiB, at most 16 MiB)"},
	{"--join", NULL, OPTION_FLAG, FIELD(join), 0, 0, NULL,
	 "a new member: wait for `grove cluster add` instead of forming a cluster"},
	{"--idle-timeout", "S", OPTION_NUMBER, FIELD(idle_timeout_s), 1, YEAR_S, "seconds",
	 "close client connections idle for S seconds (default 600)"},
	{"--output-max", "BYTES", OPTION_NUMBER, FIELD(output_max), 1, UINT64_C(1) << 40, "bytes",
	 "stop reading a client whose unsent replies pass this (default 4 MiB)"},
	{"--output-stall", "S", OPTION_NUMBER, FIELD(output_stall_s), 1, YEAR_S, "seconds",
	 "close a client that stays over --output-max for S seconds (default 30)"},
	{"--max-inflight", "N", OPTION_NUMBER, FIELD(max_inflight), 1, 1000000, "requests",
	 "stop reading a client with N requests in flight until one is answered (default 4096)"},
	{"--handshake-timeout", "S", OPTION_NUMBER, FIELD(handshake_timeout_s), 1, YEAR_S, "seconds",
	 "close a connection that has not said hello within S seconds (default 10)"},
	{"--history-entries", "N", OPTION_NUMBER, FIELD(history_entries), 1, UINT64_MAX, "entries",
	 "keep the changes of the last N entries for subscribers to resume (default 100000)"},
	{"--history-bytes", "B", OPTION_NUMBER, FIELD(history_bytes), 1, UINT64_MAX, "bytes",
	 "and at most B bytes of them (default 64 MiB)"},
	{"--max-clock-offset", "MS", OPTION_NUMBER, FIELD(max_clock_offset_ms), 1, 1000 * 86400, "milliseconds",
	 "refuse the frames of a peer whose clock is more than MS ms ahead (default 500)"},
	{"--metrics", "A:P", OPTION_ADDRESS, FIELD(metrics_listen), 0, 0, NULL,
	 "serve Prometheus metrics (/metrics) and health (/healthz, /readyz) over HTTP\n"
	 "on this IPv4 address and port (not the client port)"},
	{"--snapshot-every", "D", OPTION_DURATION, FIELD(snapshot_every_ms), 0, 0, NULL,
	 "write a backup of the world into DATA/backups/ every D (500ms, 30s, 10m, 1h)\n"
	 "when it changed since the last one (default: never)"},
	{"--snapshot-keep", "K", OPTION_NUMBER, FIELD(snapshot_keep), 1, 100000, "backups",
	 "keep the newest K backups, deleting older ones (default 5)"},
	{"--txn-gc-after", "D", OPTION_DURATION, FIELD(txn_gc_after_ms), 0, 0, NULL,
	 "forget what cross-shard transactions left in a shard (timestamp cache, finished\n"
	 "markers, all but the newest version, finished records) once older than D\n"
	 "(default 60s); a transaction older than D that made no record is aborted"},
	{"--no-leader-balance", NULL, OPTION_FLAG, FIELD(no_leader_balance), 0, 0, NULL,
	 "leave each shard's leadership where its election put it (by default a member\n"
	 "that leads two more shards than another hands one to it)"},
	{"--no-sync", NULL, OPTION_FLAG, FIELD(no_sync), 0, 0, NULL, "benchmarks only: do not fsync commits (not durable)"},
	{"--txn-two-phase", NULL, OPTION_FLAG, FIELD(txn_two_phase), 0, 0, NULL,
	 "benchmarks only: answer a cross-shard write once its record is COMMITTED,\n"
	 "a round later than parallel commits need"},
};

#define OPTION_COUNT (sizeof(options) / sizeof(options[0]))
/* The column the help text starts in; a longer option and value are followed by two blanks instead. */
#define HELP_COLUMN 21

void options_usage(FILE *out)
{
	fputs("usage: groved --data DIR --listen ADDRESS:PORT [--token TOKEN] [--max-frame BYTES] [--id N]\n"
	      "              [--peers ID=HOST:PORT,... --cluster-token T [--cluster-id N] [--join]] [OPTION ...]\n"
	      "\n"
	      "Serves a durable grove store, alone or as a member of a Raft cluster. Every acknowledged\n"
	      "write is on disk (on a quorum of members).\n",
	      out);
	for (size_t i = 0; i < OPTION_COUNT; i++) {
		const struct option *o = &options[i];
		int width = fprintf(out, "  %s%s%s", o->name, o->value_name ? " " : "", o->value_name ? o->value_name : "");
		fprintf(out, "%*s", width < HELP_COLUMN - 1 ? HELP_COLUMN - width : 2, "");
		for (const char *line = o->help; *line;) {
			size_t len = strcspn(line, "\n");
			fprintf(out, "%*s%.*s\n", line == o->help ? 0 : HELP_COLUMN, "", (int)len, line);
			line += len + (line[len] == '\n');
		}
	}
	fputs("\n"
	      "Tests only: GROVE_TEST_CLOCK_OFFSET_MS=N shifts this server's physical clock by N ms (negative:\n"
	      "behind), to test clock skew on one machine.\n"
	      "\n"
	      "Prints \"listening on ADDRESS:PORT\" on standard output once it accepts\n"
	      "connections. SIGTERM or SIGINT stops it cleanly. --version prints the version.\n",
	      out);
}

__attribute__((format(printf, 3, 4))) static enum options_outcome refuse(char *message, size_t cap, const char *fmt,
									  ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, cap, fmt, ap);
	va_end(ap);
	return OPTIONS_REFUSED;
}

/* @p text as a whole number: digits only, no sign, no leading zero, no more than fits in 64 bits. */
static bool read_number(const char *text, uint64_t *out)
{
	uint64_t n = 0;
	if (!text[0] || (text[0] == '0' && text[1]))
		return false;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9' || n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*out = n;
	return true;
}

static void store_number(void *field, size_t size, uint64_t value)
{
	if (size == sizeof(uint32_t)) {
		uint32_t narrow = (uint32_t)value; /* every 4-byte option's max fits */
		memcpy(field, &narrow, sizeof(narrow));
	} else {
		memcpy(field, &value, sizeof(value));
	}
}

/* Set option @p o from @p value (NULL for a flag). */
static enum options_outcome take(const struct option *o, const char *value, struct server_config *config,
				 char *message, size_t cap)
{
	void *field = (char *)config + o->offset;
	uint64_t n;
	switch (o->kind) {
	case OPTION_FLAG:
		*(bool *)field = true;
		return OPTIONS_RUN;
	case OPTION_TEXT:
		*(const char **)field = value;
		return OPTIONS_RUN;
	case OPTION_ADDRESS:
		if (!loop_address_valid(value))
			return refuse(message, cap, "%s must be IPv4-ADDRESS:PORT (e.g. 127.0.0.1:9464), not \"%s\"",
				      o->name, value);
		*(const char **)field = value;
		return OPTIONS_RUN;
	case OPTION_DURATION:
		if (backup_parse_duration(value, &n) != GROVE_OK)
			return refuse(message, cap, "%s must be a duration like 500ms, 30s, 10m or 1h, not \"%s\"",
				      o->name, value);
		store_number(field, o->size, n);
		return OPTIONS_RUN;
	case OPTION_NUMBER:
		if (!read_number(value, &n) || n < o->min || n > o->max) {
			char range[64];
			if (o->max == UINT64_MAX)
				snprintf(range, sizeof(range), "at least %" PRIu64, o->min);
			else
				snprintf(range, sizeof(range), "from %" PRIu64 " to %" PRIu64, o->min, o->max);
			return refuse(message, cap, "%s must be a whole number%s%s %s, not \"%s\"", o->name,
				      o->unit ? " of " : "", o->unit ? o->unit : "", range, value);
		}
		store_number(field, o->size, n);
		return OPTIONS_RUN;
	}
	return refuse(message, cap, "%s: unknown kind of option", o->name);
}

enum options_outcome options_parse(int argc, char *const *argv, struct server_config *config, char *message,
				   size_t message_cap)
{
	*config = (struct server_config){.id = 1, .cluster_id = 1, .token = getenv("GROVE_TOKEN"),
					 .cluster_token = getenv("GROVE_CLUSTER_TOKEN")};
	if (message_cap)
		message[0] = '\0';
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return OPTIONS_HELP;
		if (strcmp(arg, "--version") == 0)
			return OPTIONS_VERSION;
		const struct option *o = NULL;
		for (size_t k = 0; k < OPTION_COUNT && !o; k++)
			if (strcmp(arg, options[k].name) == 0)
				o = &options[k];
		if (!o)
			return refuse(message, message_cap, "unknown option \"%s\" (groved --help lists them)", arg);
		const char *value = NULL;
		if (o->kind != OPTION_FLAG) {
			if (i + 1 >= argc)
				return refuse(message, message_cap, "%s needs a value: %s %s", arg, arg, o->value_name);
			value = argv[++i];
		}
		enum options_outcome outcome = take(o, value, config, message, message_cap);
		if (outcome != OPTIONS_RUN)
			return outcome;
	}
	const char *shift = getenv("GROVE_TEST_CLOCK_OFFSET_MS");
	if (shift && shift[0]) {
		char *end;
		config->test_clock_shift_ms = strtoll(shift, &end, 10);
		if (*end)
			return refuse(message, message_cap, "GROVE_TEST_CLOCK_OFFSET_MS must be a whole number of "
							    "milliseconds, not \"%s\"", shift);
	}
	if (!config->data_dir || !config->listen)
		return refuse(message, message_cap, "--data DIR and --listen ADDRESS:PORT are needed (groved --help)");
	return OPTIONS_RUN;
}
