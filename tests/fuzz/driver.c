/*
 * A stand-in for libFuzzer: runs every seed, then a bounded number of seeded random mutations of them
 * (bit flips, byte changes, insertions, deletions, truncations, splices), under whatever sanitizers the
 * build has, after every input kept in the target's corpus directory (tests/fuzz/corpus/TARGET, the inputs
 * libFuzzer found that reach new code). Usage: fuzz_X [--iterations N] [--seed S] [--corpus DIR]
 * [--write-seeds DIR]
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"

/* The input being run, so that a failure can be replayed. */
static const uint8_t *current_input;
static size_t current_len;

void grove_fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz property violated: %s\ninput (%zu bytes):", what, current_len);
	for (size_t i = 0; i < current_len && i < 4096; i++)
		fprintf(stderr, "%s%02x", i % 32 ? "" : "\n  ", current_input[i]);
	fprintf(stderr, "\n");
	abort();
}

static void run_one(const uint8_t *data, size_t len)
{
	current_input = data;
	current_len = len;
	LLVMFuzzerTestOneInput(data, len);
}

/* Most files a corpus directory may hold, and the largest one replayed: a kept corpus is far smaller. */
#define CORPUS_MAX_FILES 4096
#define CORPUS_MAX_BYTES (1u << 20)

/* Run every regular file of @p path (absent: nothing to replay). @return the number of files run. */
static size_t replay_corpus(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return 0;
	size_t n = 0;
	struct grove_buf input = {0};
	for (struct dirent *e; n < CORPUS_MAX_FILES && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char file[4096];
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		FILE *f = fopen(file, "rb");
		if (!f)
			continue;
		input.len = 0;
		uint8_t chunk[4096];
		for (size_t got; input.len < CORPUS_MAX_BYTES && (got = fread(chunk, 1, sizeof(chunk), f)) > 0;)
			grove_buf_put(&input, chunk, got);
		fclose(f);
		if (input.failed) {
			fprintf(stderr, "out of memory reading %s\n", file);
			abort();
		}
		run_one(input.len ? input.data : (const uint8_t *)"", input.len);
		n++;
	}
	closedir(d);
	grove_buf_free(&input);
	return n;
}

static uint64_t rng_state;

static uint64_t next_random(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void mutate(struct grove_buf *b, const struct grove_buf *other)
{
	int rounds = 1 + (int)(next_random() % 4);
	for (int r = 0; r < rounds; r++) {
		size_t len = b->len;
		switch (next_random() % 6) {
		case 0: /* flip a bit */
			if (len)
				b->data[next_random() % len] ^= (uint8_t)(1u << (next_random() % 8));
			break;
		case 1: /* set a byte to an interesting value */
			if (len) {
				static const uint8_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, '"', '(', ')', '[', ']', '{', '\n', ','};
				b->data[next_random() % len] = interesting[next_random() % sizeof(interesting)];
			}
			break;
		case 2: /* insert a random byte */ {
			size_t at = len ? next_random() % (len + 1) : 0;
			uint8_t byte = (uint8_t)next_random();
			grove_buf_put(b, &byte, 1);
			if (!b->failed) {
				memmove(b->data + at + 1, b->data + at, len - at);
				b->data[at] = byte;
			}
			break;
		}
		case 3: /* delete a range */
			if (len) {
				size_t at = next_random() % len, n = 1 + next_random() % 8;
				if (n > len - at)
					n = len - at;
				memmove(b->data + at, b->data + at + n, len - at - n);
				b->len -= n;
			}
			break;
		case 4: /* truncate */
			if (len)
				b->len = next_random() % len;
			break;
		case 5: /* splice in a piece of another seed */
			if (other->len) {
				size_t from = next_random() % other->len, n = 1 + next_random() % 16;
				if (n > other->len - from)
					n = other->len - from;
				grove_buf_put(b, other->data + from, n);
			}
			break;
		}
	}
}

int main(int argc, char **argv)
{
	long iterations = 20000;
	rng_state = 0x9e3779b97f4a7c15ull;
	const char *write_dir = NULL, *corpus = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
			iterations = atol(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			rng_state = strtoull(argv[++i], NULL, 10) | 1;
		else if (strcmp(argv[i], "--write-seeds") == 0 && i + 1 < argc)
			write_dir = argv[++i];
		else if (strcmp(argv[i], "--corpus") == 0 && i + 1 < argc)
			corpus = argv[++i];
	}
	struct grove_buf seeds[256];
	size_t n_seeds = 0;
	for (; n_seeds < 256; n_seeds++) {
		memset(&seeds[n_seeds], 0, sizeof(seeds[n_seeds]));
		if (!grove_fuzz_seed(n_seeds, &seeds[n_seeds]))
			break;
	}
	if (write_dir) {
		for (size_t i = 0; i < n_seeds; i++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/seed-%03zu", write_dir, i);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(seeds[i].data, 1, seeds[i].len, f) != seeds[i].len)
				return 1;
			fclose(f);
		}
		printf("wrote %zu seeds to %s\n", n_seeds, write_dir);
		return 0;
	}
	for (size_t i = 0; i < n_seeds; i++)
		run_one(seeds[i].data, seeds[i].len);
	size_t kept = corpus ? replay_corpus(corpus) : 0;
	time_t deadline = time(NULL) + 60;
	long done = 0;
	struct grove_buf input = {0};
	for (; done < iterations && time(NULL) < deadline && n_seeds; done++) {
		const struct grove_buf *base = &seeds[next_random() % n_seeds];
		input.len = 0;
		grove_buf_put(&input, base->data, base->len);
		mutate(&input, &seeds[next_random() % n_seeds]);
		run_one(input.len ? input.data : (const uint8_t *)"", input.len);
	}
	grove_buf_free(&input);
	for (size_t i = 0; i < n_seeds; i++)
		grove_buf_free(&seeds[i]);
	printf("%s: %zu seeds, %zu corpus inputs and %ld mutated inputs ran clean\n", argv[0], n_seeds, kept, done);
	return 0;
}
