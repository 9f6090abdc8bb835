/**
 * @file error.h
 * @brief grove's error codes: one enum for every module, with a string map.
 *
 * Every public function that can fail returns an `enum grove_err` (0 on
 * success) or documents its own convention. Codes are stable: they travel on
 * the wire in responses, so new codes are only ever appended.
 */
#ifndef GROVE_COMMON_ERROR_H
#define GROVE_COMMON_ERROR_H

#include <stddef.h>

enum grove_err {
	GROVE_OK = 0,            /**< success */
	GROVE_ENOMEM = 1,        /**< an allocation failed */
	GROVE_EINVAL = 2,        /**< an argument or a value is malformed */
	GROVE_ENOTFOUND = 3,     /**< the named node, property or resource does not exist */
	GROVE_EEXIST = 4,        /**< a sibling with that name (or that id) already exists */
	GROVE_ECYCLE = 5,        /**< the move would make a node its own ancestor */
	GROVE_EBADNAME = 6,      /**< a node name is empty, "." or "..", or holds : / " or a control character */
	GROVE_EROOT = 7,         /**< the root cannot be deleted, renamed or moved */
	GROVE_ECORRUPT = 8,      /**< stored or received bytes fail validation */
	GROVE_ESTORAGE = 9,      /**< the storage engine reported an error */
	GROVE_ETOOBIG = 10,      /**< a frame, value or batch exceeds a limit */
	GROVE_EAUTH = 11,        /**< authentication failed */
	GROVE_EPROTO = 12,       /**< a protocol rule was broken by the peer */
	GROVE_EIO = 13,          /**< a system call failed (see errno in the log) */
	GROVE_ERANGE = 14,       /**< an index or a number is out of range */
	GROVE_ETYPE = 15,        /**< a value has the wrong Variant type */
	GROVE_EPARSE = 16,       /**< text could not be parsed */
	GROVE_EUNAVAILABLE = 17, /**< the server cannot serve the request now (shutting down, no leader) */
	GROVE_ENOTLEADER = 18,   /**< this server is not the leader; retry at the leader */
	GROVE_ETIMEDOUT = 19,    /**< the operation did not finish in time */
	GROVE_EMOVED = 20,       /**< the node is in another shard now (a split moved it): retry, routed afresh */
	GROVE_ECROSSSHARD = 21,  /**< the request spans shards in a way that is not supported (see its message) */
	GROVE_ENOSPC = 22,       /**< the disk is full: a write cannot be made durable now; retry when space is freed */
	GROVE_ECHANGED = 23,     /**< what a cross-shard change was built from changed since: retry, built afresh */
	GROVE_EINTENT = 24,      /**< a cross-shard transaction holds the shard: retry once it is resolved */
	GROVE_ERR_COUNT          /**< number of codes; not an error */
};

/**
 * @brief A short, constant, human-readable description of @p err.
 * @return a static string; "unknown error" for a code outside the enum.
 */
const char *grove_strerror(int err);

/**
 * @brief The symbolic name of @p err, e.g. "GROVE_ECYCLE".
 * @return a static string; "GROVE_E?" for a code outside the enum.
 */
const char *grove_errname(int err);

/**
 * @brief Say why: format a one-line reason into @p why (skipped when @p why
 * is NULL or @p cap is 0) and return @p err, for functions that hand a
 * reason back with their error code.
 * @return @p err.
 */
__attribute__((format(printf, 4, 5))) int grove_say(int err, char *why, size_t cap, const char *fmt, ...);

#endif
