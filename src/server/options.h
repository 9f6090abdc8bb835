/**
 * @file options.h
 * @brief groved's command line: the usage text, and reading the arguments
 * and the environment into a struct server_config.
 *
 * Every option is one row of a table (options.c): a flag, a text, a whole
 * number with its range, a duration or an address. A value is checked as it
 * is read, so a typo is refused at start with a message that names the
 * option and what it takes, rather than becoming a zero.
 */
#ifndef GROVE_SERVER_OPTIONS_H
#define GROVE_SERVER_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "src/server/server.h"

/** What groved does after reading its command line. */
enum options_outcome {
	OPTIONS_RUN,     /**< the configuration is complete: serve it */
	OPTIONS_HELP,    /**< --help or -h: print the usage and stop */
	OPTIONS_VERSION, /**< --version: print the version and stop */
	OPTIONS_REFUSED  /**< an argument is wrong: the message says which, and how to fix it */
};

/** @brief Print groved's usage text (every option, what it means, its default) to @p out. */
void options_usage(FILE *out);

/**
 * @brief Read groved's arguments argv[1] .. argv[argc - 1] into @p config,
 * which is first cleared to the defaults (id 1, cluster id 1, the tokens of
 * GROVE_TOKEN and GROVE_CLUSTER_TOKEN). GROVE_TEST_CLOCK_OFFSET_MS, when set,
 * fills test_clock_shift_ms. The strings of @p config point into @p argv or
 * the environment, which must outlive it.
 * @param message on OPTIONS_REFUSED, one line without a trailing newline
 * (truncated to @p message_cap); left empty otherwise.
 * @return OPTIONS_RUN (--data and --listen given, every value valid),
 * OPTIONS_HELP, OPTIONS_VERSION, OPTIONS_REFUSED (an unknown option, a missing or invalid
 * value, or --data or --listen missing).
 */
enum options_outcome options_parse(int argc, char *const *argv, struct server_config *config, char *message,
				   size_t message_cap);

#endif
