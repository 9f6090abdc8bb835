/* groved: the grove server. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "src/common/error.h"
#include "src/server/log.h"
#include "src/server/loop.h"
#include "src/server/options.h"
#include "src/server/server.h"

int main(int argc, char **argv)
{
	/*
	 * LMDB allocates about 3 MB for every nested transaction (its dirty page list and free page list): glibc
	 * would hand them back to the kernel at each free and take them again at the next, a brk, page faults
	 * and a TLB flush per nested transaction. Keep freed memory for reuse instead.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	struct server_config config;
	char message[512];
	switch (options_parse(argc, argv, &config, message, sizeof(message))) {
	case OPTIONS_HELP:
		options_usage(stdout);
		return 0;
	case OPTIONS_VERSION:
		printf("groved %s\n", GROVE_VERSION);
		return 0;
	case OPTIONS_REFUSED:
		fprintf(stderr, "groved: %s\n", message);
		return 2;
	case OPTIONS_RUN:
		break;
	}
	loop_block_signals();
	signal(SIGPIPE, SIG_IGN);

	struct server *s;
	int err = server_create(&config, &s);
	if (err) {
		fprintf(stderr, "groved: cannot start: %s\n", grove_strerror(err));
		return 1;
	}
	const char *colon = strrchr(config.listen, ':');
	printf("listening on %.*s:%d\n", (int)(colon - config.listen), config.listen, server_port(s));
	fflush(stdout);
	err = server_run(s);
	server_destroy(s);
	log_line("stopped");
	return err ? 1 : 0;
}
