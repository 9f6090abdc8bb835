/*
 * Fuzz target: a Godot client's connection as the gateway decodes it (godot/gateway.h). The bytes are
 * split into frames by the frame reader (through a socket), as PacketPeerStream sends them; the first
 * frame must be a Godot Dictionary (else the connection speaks protobuf and this target stops) and
 * names the major of every frame. Each frame is decoded into a request; a submit's operations are read
 * and turned into a WriteRequest as the server does, and that request must then decode at apply: what
 * the gateway accepts is never refused there as malformed.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "frames.h"
#include "godot/gateway.h"
#include "godot/variant_binary.h"
#include "godot/variant_text.h"
#include "src/common/error.h"
#include "src/net/wire.h"

#define MAX_FRAMES 64

struct conn {
	int major; /* 0 until the first frame */
};

/* The WriteRequest the server would log for @p batch under @p key, decoded again as apply decodes it. */
static void check_applies(const struct gateway_batch *batch, const char *key)
{
	struct wire_request wr;
	int err = wire_encode_batch(batch->ops, batch->count, &wr);
	if (err == GROVE_EINVAL)
		return; /* a value the store cannot hold: refused before the log */
	if (err)
		grove_fuzz_fail("an accepted batch does not encode");
	wr.req.submit_key = (char *)key;
	size_t len = grove__write_request__get_packed_size(&wr.req);
	uint8_t *bytes = malloc(len ? len : 1);
	if (!bytes)
		grove_fuzz_fail("out of memory");
	grove__write_request__pack(&wr.req, bytes);
	wire_request_free(&wr);
	Grove__WriteRequest *back = grove__write_request__unpack(NULL, len, bytes);
	if (!back)
		grove_fuzz_fail("a batch the gateway accepted does not unpack");
	if (wire_write_has_nul(bytes, len))
		grove_fuzz_fail("a batch the gateway accepted holds a NUL in a name");
	struct wire_batch decoded;
	char message[512];
	if (wire_decode_batch(back, false, &decoded, message, sizeof(message)) != GROVE_OK &&
	    !(batch->count == 0 && back->n_ops == 0))
		grove_fuzz_fail("a batch the gateway accepted is refused at apply");
	wire_batch_free(&decoded);
	grove__write_request__free_unpacked(back, NULL);
	free(bytes);
}

static void on_frame(void *ctx, const uint8_t *payload, size_t len)
{
	struct conn *c = ctx;
	if (c->major < 0)
		return;
	if (!c->major && !gateway_is_godot(payload, len, &c->major)) {
		c->major = -1; /* grove's protobuf protocol: not this target's */
		return;
	}
	struct gateway_request rq;
	char why[200] = "";
	int err = gateway_decode_request(payload, len, c->major, &rq, why, sizeof(why));
	if (err != GROVE_OK && err != GROVE_ECORRUPT && err != GROVE_EPROTO && err != GROVE_ENOMEM)
		grove_fuzz_fail("a frame refused with an undocumented code");
	if (err && err != GROVE_ENOMEM && !why[0])
		grove_fuzz_fail("a frame refused without a reason");
	if (!err && rq.op == GATEWAY_SUBMIT) {
		struct gateway_batch batch;
		char reason[600] = "";
		err = gateway_submit_batch(&rq, &batch, reason, sizeof(reason));
		if (err != GROVE_OK && err != GROVE_EINVAL && err != GROVE_ETOOBIG && err != GROVE_ENOMEM)
			grove_fuzz_fail("a submit refused with an undocumented code");
		if (err && err != GROVE_ENOMEM && !reason[0])
			grove_fuzz_fail("a submit refused without a reason");
		if (!err)
			check_applies(&batch, rq.key);
		gateway_batch_free(&batch);
	} else if (!err && rq.op == GATEWAY_PING && rq.t) {
		struct variant t;
		if (variant_copy(&t, rq.t) == GROVE_OK)
			variant_free(&t);
	}
	gateway_request_free(&rq);
}

/* Client messages in Godot's text syntax; each seed is a hello and one of them, in Godot 3 and 4 form. */
static const char *const messages[] = {
	"{\"op\": \"ping\", \"t\": 12345}",
	"{\"op\": \"subscribe\", \"path\": \"/root/World\", \"format\": \"tscn\", \"depth\": 2, "
	"\"properties\": [\"position\", \"name\"], \"classes\": PoolStringArray(\"Node2D\")}",
	"{\"op\": \"subscribe\", \"path\": \"/root\", \"from\": 41}",
	"{\"op\": \"submit\", \"key\": \"k-1\", \"ops\": ["
	"{\"op\": \"create\", \"parent\": \"/root\", \"name\": \"World\", \"class\": \"Node2D\", \"index\": -1},"
	"{\"op\": \"create\", \"parent\": -1, \"name\": \"P\", \"class\": \"Sprite\", \"instance\": \"res://p.tscn\"},"
	"{\"op\": \"set\", \"node\": -2, \"property\": \"position\", \"value\": Vector2(1, 2)},"
	"{\"op\": \"set\", \"node\": -2, \"property\": \"texture\", \"value\": {\"@resource\": 3, \"path\": \"\"}},"
	"{\"op\": \"set\", \"node\": 7, \"property\": \"data\", \"value\": [1, \"two\", {\"three\": 3.5}]},"
	"{\"op\": \"clear\", \"node\": 7, \"property\": \"modulate\"},"
	"{\"op\": \"rename\", \"node\": -2, \"name\": \"Hero\"},"
	"{\"op\": \"move\", \"node\": -2, \"parent\": \"/root\", \"index\": 0},"
	"{\"op\": \"reorder\", \"node\": 7, \"index\": 1},"
	"{\"op\": \"group_add\", \"node\": 7, \"group\": \"enemies\"},"
	"{\"op\": \"group_remove\", \"node\": 7, \"group\": \"enemies\"},"
	"{\"op\": \"remove\", \"node\": 9}]}",
};

static void put_message(struct grove_buf *out, const char *text, int major)
{
	struct variant v;
	struct godot_text_error terr;
	struct grove_buf bytes = {0};
	if (godot_text_parse(text, strlen(text), NULL, &v, &terr) != GROVE_OK ||
	    godot_binary_encode(&v, major, &bytes) != GROVE_OK)
		grove_fuzz_fail("a seed message does not encode");
	fuzz_put_frame(out, bytes.data, bytes.len);
	grove_buf_free(&bytes);
	variant_free(&v);
}

int grove_fuzz_seed(size_t i, struct grove_buf *out)
{
	size_t n = sizeof(messages) / sizeof(messages[0]);
	if (i >= 2 * n)
		return 0;
	int major = i % 2 ? 3 : 4;
	put_message(out, major == 3 ? "{\"op\": \"hello\", \"godot\": 3, \"token\": \"t\", \"client\": \"game\"}"
				    : "{\"op\": \"hello\", \"godot\": 4, \"token\": \"t\", \"client\": \"game\"}",
		    major);
	put_message(out, messages[i / 2], major);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 16))
		return 0;
	struct conn c = {0};
	fuzz_for_each_frame(data, size, GATEWAY_FRAME_MAX, MAX_FRAMES, on_frame, &c);
	return 0;
}
