/**
 * @file token.h
 * @brief Comparing a presented token with the expected one without leaking,
 * through timing, how much of it matched.
 */
#ifndef GROVE_COMMON_TOKEN_H
#define GROVE_COMMON_TOKEN_H

#include <stdbool.h>
#include <string.h>

/** @brief Whether @p token equals @p want (NULL is ""); every byte of @p want is compared whatever the result. */
static inline bool grove_token_equal(const char *want, const char *token)
{
	want = want ? want : "";
	size_t a = strlen(want), b = token ? strlen(token) : 0;
	unsigned diff = (unsigned)(a != b);
	for (size_t i = 0; i < a; i++)
		diff |= (unsigned)(want[i] ^ (i < b ? token[i] : 0));
	return diff == 0;
}

#endif
