/**
 * @file wire.h
 * @brief Between wire messages (proto/grove.proto) and tree operations.
 *
 * The server decodes a WriteRequest into a tree batch without trusting it:
 * every string must be valid (no embedded NUL; protobuf-c already checks
 * UTF-8 for string fields), every value must decode as a canonical Variant,
 * and the number of operations is bounded. Clients encode tree operations
 * into a WriteRequest with the inverse function.
 */
#ifndef GROVE_NET_WIRE_H
#define GROVE_NET_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/grove.pb-c.h"
#include "src/tree/tree.h"

/** A decoded batch: operations plus the values they point to. */
struct wire_batch {
	struct tree_op *ops;      /**< count operations, owned; strings borrow from the request */
	struct variant *values;   /**< one slot per operation, owned */
	size_t count;             /**< number of operations */
};

/**
 * @brief Decode @p req into @p out. Strings are borrowed from @p req, which
 * must outlive @p out.
 * @param carries accept the halves of a move across shards (TREE_OP_CARRY_OUT,
 * TREE_OP_CARRY_IN) and of a connection across shards (TREE_OP_CONNECT_ACROSS,
 * TREE_OP_DISCONNECT_ACROSS): only for a transaction's intents, never from a client.
 * @param message on failure, one line naming the bad operation.
 * @return GROVE_OK, GROVE_EINVAL (unknown kind, missing field),
 * GROVE_ECORRUPT (a value that is not a canonical Variant), GROVE_ETOOBIG,
 * GROVE_ENOMEM.
 */
int wire_decode_batch(const Grove__WriteRequest *req, bool carries, struct wire_batch *out, char *message,
		      size_t message_cap);

/**
 * @brief Whether a string of the encoded WriteRequest @p data holds a NUL
 * byte: protobuf-c ends its strings at the first one, so a name "a\0b" would
 * otherwise be stored as "a". Walks the encoding itself, since the decoded
 * message no longer shows it. Malformed input counts as holding one.
 */
bool wire_write_has_nul(const uint8_t *data, size_t len);

/** @brief Release a decoded batch. */
void wire_batch_free(struct wire_batch *b);

/**
 * A WriteRequest built from tree operations: the request plus the storage it
 * points into. Release with wire_request_free().
 */
struct wire_request {
	Grove__WriteRequest req;  /**< ready to put in an Envelope */
	Grove__Op *ops;           /**< the operations, owned */
	Grove__Op **op_ptrs;      /**< pointers to ops, as protobuf-c wants, owned */
	Grove__NodeRef *refs;     /**< two node refs per operation, owned */
	uint8_t **value_bytes;    /**< encoded values, owned */
};

/**
 * @brief Encode @p n operations as a WriteRequest. Strings are borrowed from
 * @p ops; values are encoded (copied).
 * @return GROVE_OK, GROVE_EINVAL (a value that cannot be encoded), GROVE_ENOMEM.
 */
int wire_encode_batch(const struct tree_op *ops, size_t n, struct wire_request *out);

/** @brief Release what wire_encode_batch() allocated. */
void wire_request_free(struct wire_request *r);

/**
 * What an Envelope frame holds, seen without decoding it: the request id and
 * the body (a message field of the oneof), whose bytes stay in the frame.
 * A server can thus hand a write's bytes to the log exactly as they came.
 */
struct wire_envelope_view {
	uint32_t version;        /**< protocol version */
	uint64_t request_id;     /**< the requester's id */
	uint32_t body;           /**< field number of the body (Grove__Envelope__BodyCase), 0 if none */
	const uint8_t *body_data;/**< the body message's bytes, inside the frame */
	size_t body_len;         /**< their length */
};

/**
 * @brief Scan the top-level fields of an Envelope in @p frame.
 * @return GROVE_OK, GROVE_EPROTO (not a well-formed protobuf message).
 */
int wire_peek_envelope(const uint8_t *frame, size_t len, struct wire_envelope_view *out);

#endif
