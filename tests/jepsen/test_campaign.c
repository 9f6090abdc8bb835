/* The fault campaign in the default suite: a short run with every fault kind must pass the checker and the
 * check of the change streams (and one with every key a shard of its own and writes across shards), and
 * runs with a mutation of what the campaign records (a read of a value no one wrote; an acknowledged add
 * left out of a member's final read; a value a watcher of the stream noted twice; a steady watcher whose
 * link brings progress but no longer the changes) must fail it, so that a passing run means something. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* Run grove_campaign with @p args (NULL-terminated) and its output going to @p out (also copied to stdout
 * for the test log). @return its exit status, or -1 when it did not exit normally. */
static int run_campaign(const char *const *args, char *out, size_t cap)
{
	char log[] = "/tmp/grove-campaign-out-XXXXXX";
	int fd = mkstemp(log);
	assert_true(fd >= 0);
	const char *argv[32] = {"grove_campaign"};
	int n = 1;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execv(CAMPAIGN_PATH, (char *const *)argv);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
	ssize_t len = pread(fd, out, cap - 1, 0);
	out[len > 0 ? len : 0] = '\0';
	close(fd);
	unlink(log);
	fputs(out, stdout);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char output[1 << 20];

/* Every fault kind about once in 36 s (nine kinds, one every 2.5 to 5.5 s, a clock fault 1 s longer). */
static void test_short_run_passes(void **state)
{
	(void)state;
	char seed[32];
	snprintf(seed, sizeof(seed), "%ld", (long)time(NULL));
	const char *args[] = {"--seed", seed, "--seconds", "36", NULL};
	int status = run_campaign(args, output, sizeof(output));
	if (status != 0)
		fail_msg("the campaign failed with status %d (seed %s): see above", status, seed);
	assert_non_null(strstr(output, "RESULT: PASSED"));
}

/* The same with every key a shard of its own and half the register writes a transaction across two. */
static void test_short_run_across_shards_passes(void **state)
{
	(void)state;
	char seed[32];
	snprintf(seed, sizeof(seed), "%ld", (long)time(NULL) + 1);
	const char *args[] = {"--seed", seed, "--seconds", "20", "--cross", "50", NULL};
	int status = run_campaign(args, output, sizeof(output));
	if (status != 0)
		fail_msg("the campaign across shards failed with status %d (seed %s): see above", status, seed);
	assert_non_null(strstr(output, "RESULT: PASSED"));
}

static void test_corrupted_read_fails(void **state)
{
	(void)state;
	const char *args[] = {"--seed", "7", "--seconds", "6", "--faults", "kill", "--mutate", "read", NULL};
	assert_int_equal(run_campaign(args, output, sizeof(output)), 1);
	assert_non_null(strstr(output, "NOT linearizable by the zone test"));
	assert_non_null(strstr(output, "reproduce: grove_campaign --seed 7"));
}

static void test_lost_add_fails(void **state)
{
	(void)state;
	const char *args[] = {"--seed", "7", "--seconds", "6", "--faults", "pause", "--mutate", "final", NULL};
	assert_int_equal(run_campaign(args, output, sizeof(output)), 1);
	assert_non_null(strstr(output, "which was acknowledged"));
}

static void test_repeated_stream_value_fails(void **state)
{
	(void)state;
	const char *args[] = {"--seed", "7", "--seconds", "6", "--faults", "kill", "--mutate", "stream", NULL};
	assert_int_equal(run_campaign(args, output, sizeof(output)), 1);
	assert_non_null(strstr(output, "stream: watcher 0 saw r"));
	assert_non_null(strstr(output, "twice"));
	assert_non_null(strstr(output, "streams NOT whole"));
}

/* A link that goes on with progress alone never brings the end marks: the steady watcher does not leave it. */
static void test_starved_stream_fails(void **state)
{
	(void)state;
	const char *args[] = {"--seed", "7", "--seconds", "6", "--faults", "kill", "--mutate", "starve", "--end-wait", "5",
			      NULL};
	assert_int_equal(run_campaign(args, output, sizeof(output)), 1);
	assert_non_null(strstr(output, "steady): "));
	assert_non_null(strstr(output, "NEVER SAW THE END MARK: its last link"));
	assert_non_null(strstr(output, "streams not followed to the end"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_run_passes),
		cmocka_unit_test(test_short_run_across_shards_passes),
		cmocka_unit_test(test_corrupted_read_fails),
		cmocka_unit_test(test_lost_add_fails),
		cmocka_unit_test(test_repeated_stream_value_fails),
		cmocka_unit_test(test_starved_stream_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
