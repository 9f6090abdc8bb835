/**
 * @file membership.h
 * @brief The address book of a server: every member it knows of, by id,
 * with the address it listens on (clients and peers alike); and the bytes a
 * membership change carries in the Raft log.
 *
 * The founding members come from --peers; a member added later arrives with
 * its address inside the conf change entry that adds it (after Raft's own 9
 * bytes, raft_encode_conf_change()), so that every member, and a member
 * that joins later by replaying the log, learns the same addresses.
 */
#ifndef GROVE_SERVER_MEMBERSHIP_H
#define GROVE_SERVER_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/raft/raft.h"

/** Longest address ("HOST:PORT") kept. */
#define MEMBER_ADDRESS_MAX 63

/** One member. */
struct member {
	uint64_t id;                             /**< server id, > 0 */
	char address[MEMBER_ADDRESS_MAX + 1];    /**< "HOST:PORT" */
};

/** Every member known. */
struct membership {
	struct member members[RAFT_MAX_MEMBERS]; /**< in the order they were learnt */
	size_t n;                                /**< number of members */
};

/**
 * @brief Parse "1=127.0.0.1:7001,2=127.0.0.1:7002" into @p book (replacing it).
 * @return GROVE_OK or GROVE_EINVAL (empty, malformed, an id twice, too many).
 */
int membership_parse(const char *spec, struct membership *book);

/** @brief The member with id @p id, or NULL. */
const struct member *membership_find(const struct membership *book, uint64_t id);

/**
 * @brief Add member @p id at @p address (@p len bytes, not NUL-terminated).
 * @return true if it was added; false if it was known already, the book is
 * full, or the address is empty, too long or has no ':'.
 */
bool membership_add(struct membership *book, uint64_t id, const char *address, size_t len);

/**
 * @brief Encode a conf change entry's data into @p out (at least 9 +
 * MEMBER_ADDRESS_MAX bytes): Raft's change, then @p address (may be NULL).
 * @return its length.
 */
size_t membership_encode_change(const struct raft_conf_change *cc, const char *address, uint8_t *out);

/**
 * @brief The member and address a conf change entry's data names, if it
 * carries an address (after its leader's stamp, if it has one).
 * @return true if it does (then *@p id and @p address are set).
 */
bool membership_change_address(const uint8_t *data, size_t len, uint64_t *id, char address[MEMBER_ADDRESS_MAX + 1]);

/**
 * @brief Whether a server listening on @p listen ("HOST:PORT") is the
 * member whose address is @p address: the same port, and the same host or
 * a listener on every interface (0.0.0.0).
 */
bool membership_same_endpoint(const char *listen, const char *address);

#endif
