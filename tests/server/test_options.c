/* groved's command line (options.h): every option the usage lists is read, in any position, and bad values are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "src/server/options.h"

#define ARGS_MAX 64

static enum options_outcome parse(struct server_config *config, char *message, size_t cap, ...)
{
	char *argv[ARGS_MAX] = {"groved"};
	int argc = 1;
	va_list ap;
	va_start(ap, cap);
	for (char *arg; (arg = va_arg(ap, char *)) != NULL && argc < ARGS_MAX - 1;)
		argv[argc++] = arg;
	va_end(ap);
	argv[argc] = NULL;
	return options_parse(argc, argv, config, message, cap);
}

/* A valid value for an option whose usage names its value @p value_name. */
static const char *sample_value(const char *value_name)
{
	static const char *const samples[][2] = {
		{"DIR", "/tmp/grove-options"}, {"A:P", "127.0.0.1:9464"}, {"TOKEN", "secret"}, {"T", "peers-secret"},
		{"LIST", "1=127.0.0.1:7001"}, {"BYTES", "65536"}, {"N", "7"}, {"S", "5"}, {"B", "4096"},
		{"MS", "250"}, {"D", "30s"}, {"K", "3"}};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		if (strcmp(samples[i][0], value_name) == 0)
			return samples[i][1];
	return NULL;
}

struct listed {
	char name[64];
	char value_name[16]; /* "" for a flag */
};

/* The options the usage text lists: lines "  --name [VALUE]  help". */
static size_t listed_options(struct listed *out, size_t cap)
{
	char *text = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	options_usage(f);
	fclose(f);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "  --", 4) != 0)
			continue;
		assert_true(n < cap);
		char value[64] = "";
		assert_true(sscanf(line + 2, "%63s %63s", out[n].name, value) >= 1);
		/* A value name is in capitals (DIR, A:P); anything else starts the help text. */
		bool is_value = value[0] >= 'A' && value[0] <= 'Z' && strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ:") == strlen(value);
		snprintf(out[n].value_name, sizeof(out[n].value_name), "%s", is_value ? value : "");
		n++;
	}
	free(text);
	return n;
}

static void test_every_listed_option_is_read_anywhere(void **state)
{
	(void)state;
	struct listed opts[64];
	size_t n = listed_options(opts, 64);
	assert_true(n >= 25);
	for (size_t i = 0; i < n; i++) {
		const char *value = opts[i].value_name[0] ? sample_value(opts[i].value_name) : NULL;
		if (opts[i].value_name[0] && !value)
			fail_msg("no sample value for %s %s", opts[i].name, opts[i].value_name);
		struct server_config config;
		char message[256];
		/* First, between others, and last: a flag must not take the next argument as its value. */
		enum options_outcome first =
			value ? parse(&config, message, sizeof(message), opts[i].name, value, "--data", "d", "--listen", "l", NULL)
			      : parse(&config, message, sizeof(message), opts[i].name, "--data", "d", "--listen", "l", NULL);
		if (first != OPTIONS_RUN)
			fail_msg("%s first: %s", opts[i].name, message);
		enum options_outcome middle =
			value ? parse(&config, message, sizeof(message), "--data", "d", opts[i].name, value, "--listen", "l", NULL)
			      : parse(&config, message, sizeof(message), "--data", "d", opts[i].name, "--listen", "l", NULL);
		if (middle != OPTIONS_RUN)
			fail_msg("%s between: %s", opts[i].name, message);
		enum options_outcome last =
			value ? parse(&config, message, sizeof(message), "--data", "d", "--listen", "l", opts[i].name, value, NULL)
			      : parse(&config, message, sizeof(message), "--data", "d", "--listen", "l", opts[i].name, NULL);
		if (last != OPTIONS_RUN)
			fail_msg("%s last: %s", opts[i].name, message);
		/* The option given last wins; the others keep their values. */
		assert_string_equal(config.data_dir, strcmp(opts[i].name, "--data") == 0 ? value : "d");
		assert_string_equal(config.listen, strcmp(opts[i].name, "--listen") == 0 ? value : "l");
	}
}

static void test_values_reach_their_fields(void **state)
{
	(void)state;
	struct server_config c;
	char message[256];
	assert_int_equal(parse(&c, message, sizeof(message), "--no-sync", "--data", "d", "--txn-two-phase", "--listen",
			       "127.0.0.1:0", "--no-leader-balance", "--join", "--max-frame", "65536", "--id", "3",
			       "--cluster-id", "18446744073709551615", "--snapshot-chunk", "16777216", "--idle-timeout", "1",
			       "--history-entries", "4", "--max-clock-offset", "250", "--snapshot-every", "300ms",
			       "--txn-gc-after", "2m", "--metrics", "127.0.0.1:9464", "--max-inflight", "1000000",
			       "--output-max", "262144", NULL),
			 OPTIONS_RUN);
	assert_true(c.no_sync);
	assert_true(c.txn_two_phase);
	assert_true(c.no_leader_balance);
	assert_true(c.join);
	assert_int_equal(c.max_frame, 65536);
	assert_int_equal(c.id, 3);
	assert_true(c.cluster_id == UINT64_MAX);
	assert_int_equal(c.snapshot_chunk, 16u << 20);
	assert_int_equal(c.idle_timeout_s, 1);
	assert_int_equal(c.history_entries, 4);
	assert_int_equal(c.max_clock_offset_ms, 250);
	assert_int_equal(c.snapshot_every_ms, 300);
	assert_int_equal(c.txn_gc_after_ms, 120000);
	assert_string_equal(c.metrics_listen, "127.0.0.1:9464");
	assert_int_equal(c.max_inflight, 1000000);
	assert_int_equal(c.output_max, 262144);
	/* Untouched: the defaults. */
	assert_false(c.output_stall_s);
	assert_null(c.peers);
}

static void test_defaults_and_environment(void **state)
{
	(void)state;
	struct server_config c;
	char message[256];
	setenv("GROVE_TOKEN", "from-env", 1);
	setenv("GROVE_CLUSTER_TOKEN", "peers-from-env", 1);
	assert_int_equal(parse(&c, message, sizeof(message), "--data", "d", "--listen", "l", NULL), OPTIONS_RUN);
	assert_int_equal(c.id, 1);
	assert_int_equal(c.cluster_id, 1);
	assert_string_equal(c.token, "from-env");
	assert_string_equal(c.cluster_token, "peers-from-env");
	assert_false(c.no_sync);
	assert_int_equal(parse(&c, message, sizeof(message), "--data", "d", "--listen", "l", "--token", "given", NULL),
			 OPTIONS_RUN);
	assert_string_equal(c.token, "given");
	unsetenv("GROVE_TOKEN");
	unsetenv("GROVE_CLUSTER_TOKEN");

	setenv("GROVE_TEST_CLOCK_OFFSET_MS", "-1500", 1);
	assert_int_equal(parse(&c, message, sizeof(message), "--data", "d", "--listen", "l", NULL), OPTIONS_RUN);
	assert_int_equal(c.test_clock_shift_ms, -1500);
	setenv("GROVE_TEST_CLOCK_OFFSET_MS", "15s", 1);
	assert_int_equal(parse(&c, message, sizeof(message), "--data", "d", "--listen", "l", NULL), OPTIONS_REFUSED);
	assert_non_null(strstr(message, "GROVE_TEST_CLOCK_OFFSET_MS"));
	unsetenv("GROVE_TEST_CLOCK_OFFSET_MS");

	assert_int_equal(parse(&c, message, sizeof(message), "--data", "d", "--help", "--bogus", NULL), OPTIONS_HELP);
	assert_int_equal(parse(&c, message, sizeof(message), "-h", NULL), OPTIONS_HELP);
	assert_int_equal(parse(&c, message, sizeof(message), "--id", "2", "--version", NULL), OPTIONS_VERSION);
}

/* Each refused with a message that names what is wrong. */
static void test_bad_arguments_are_refused(void **state)
{
	(void)state;
	static const struct {
		const char *option, *value, *said;
	} bad[] = {
		{"--id", "x", "--id must be a whole number at least 1, not \"x\""},
		{"--id", "-1", "--id must be"},
		{"--id", "0", "--id must be"},
		{"--id", "012", "--id must be"},
		{"--id", "18446744073709551616", "--id must be"},
		{"--id", "", "--id must be"},
		{"--max-frame", "100", "--max-frame must be a whole number of bytes from 4096 to 2147483648"},
		{"--snapshot-chunk", "16777217", "--snapshot-chunk must be a whole number of bytes from 1024 to 16777216"},
		{"--max-inflight", "0", "--max-inflight must be"},
		{"--snapshot-keep", "100001", "--snapshot-keep must be"},
		{"--idle-timeout", "10s", "--idle-timeout must be a whole number of seconds"},
		{"--max-clock-offset", "0", "--max-clock-offset must be"},
		{"--metrics", "localhost:9464", "--metrics must be IPv4-ADDRESS:PORT"},
		{"--snapshot-every", "10", "--snapshot-every must be a duration"},
		{"--txn-gc-after", "0s", "--txn-gc-after must be a duration"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct server_config c;
		char message[256];
		enum options_outcome got = parse(&c, message, sizeof(message), "--data", "d", "--listen", "l", bad[i].option,
						 bad[i].value, NULL);
		if (got != OPTIONS_REFUSED || !strstr(message, bad[i].said))
			fail_msg("%s \"%s\": outcome %d, said \"%s\"", bad[i].option, bad[i].value, got, message);
	}
	struct server_config c;
	char message[256];
	assert_int_equal(parse(&c, message, sizeof(message), "--data", "d", "--listen", "l", "--nosync", NULL), OPTIONS_REFUSED);
	assert_non_null(strstr(message, "unknown option \"--nosync\""));
	assert_int_equal(parse(&c, message, sizeof(message), "--data", "d", "--listen", NULL), OPTIONS_REFUSED);
	assert_non_null(strstr(message, "--listen needs a value"));
	assert_int_equal(parse(&c, message, sizeof(message), "--listen", "l", NULL), OPTIONS_REFUSED);
	assert_non_null(strstr(message, "--data DIR and --listen ADDRESS:PORT are needed"));
	assert_int_equal(parse(&c, message, sizeof(message), NULL), OPTIONS_REFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_listed_option_is_read_anywhere),
		cmocka_unit_test(test_values_reach_their_fields),
		cmocka_unit_test(test_defaults_and_environment),
		cmocka_unit_test(test_bad_arguments_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
