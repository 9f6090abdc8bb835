/* The Godot gateway (godot/gateway.h) spoken from C as a GDScript client speaks it: Variant Dictionaries in
 * PacketPeerStream frames over TCP. For tests against a running groved; every failure fails the test. */
#ifndef GROVE_TESTS_GODOT_CLIENT_H
#define GROVE_TESTS_GODOT_CLIENT_H

#include <stdbool.h>

#include "src/common/buf.h"
#include "src/tree/variant.h"

/* One gateway connection. */
struct godot {
	int fd;
	int major;           /* the Godot major version it speaks (3 or 4) */
	struct grove_buf in; /* bytes received and not decoded yet */
	size_t frame_bytes;  /* the size of the last frame received, its length included */
	struct variant held; /* a "changes" message that arrived while a submit waited */
	bool holding;
};

/* Connect to 127.0.0.1:@p port, speaking Godot @p major's Variants (no hello yet). */
void godot_connect(struct godot *g, int port, int major);

/* Connect and say hello (an empty token), up to the welcome. */
void godot_hello(struct godot *g, int port, int major);

/* Close the connection and free what it holds. */
void godot_close(struct godot *g);

/* A Dictionary from alternating keys and values: "s:..." strings, "i:..." ints, "v:" the next Variant (taken). */
void godot_dict(struct variant *d, ...);

/* Send @p msg and free it. */
void godot_send(struct godot *g, struct variant *msg);

/* The next message (false if the server closed or nothing came within 5 s). */
bool godot_receive(struct godot *g, struct variant *msg);

/* Field @p key of Dictionary @p d, or NULL. */
const struct variant *godot_field(const struct variant *d, const char *key);

/* The "op" of message @p d ("" if none). */
const char *godot_op_of(const struct variant *d);

/* Receive until a message of @p op arrives (a held "changes" first); fails at a close or after 5 s of nothing. */
void godot_expect(struct godot *g, const char *op, struct variant *msg);

/* Send a submit of Array @p ops (taken) with @p key, not waiting for its answer. */
void godot_send_ops(struct godot *g, const char *key, struct variant *ops);

/* The answer to a submit ("submitted" or "refused"); a "changes" that comes first is held for godot_expect(). */
void godot_answer(struct godot *g, struct variant *answer);

#endif
