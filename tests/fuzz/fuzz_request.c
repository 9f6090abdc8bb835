/*
 * Fuzz target: a client connection's bytes as the server decodes them, up to but not including what a
 * request does. The bytes are split into frames by the frame reader (through a socket); each frame is
 * peeked at as an Envelope and unpacked; a write's body is decoded as apply decodes it (NUL check, then
 * operations and their canonical Variant values). Refusals must come with the documented codes and a
 * reason; a batch that decodes must encode back to a request that decodes to the same bytes again.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "frames.h"
#include "seeds.h"
#include "src/common/error.h"
#include "src/net/frame.h"
#include "src/net/wire.h"

/* Smaller than the server's maximum, so that refused length prefixes are reached too. */
#define MAX_FRAME (48u << 10)
#define MAX_FRAMES 64

/* A decoded batch encoded again, packed: what the client library would send for it. */
static uint8_t *pack_batch(const struct wire_batch *b, const char *submit_key, size_t *len)
{
	struct wire_request wr;
	if (wire_encode_batch(b->ops, b->count, &wr) != GROVE_OK)
		grove_fuzz_fail("a decoded batch does not encode");
	wr.req.submit_key = (char *)submit_key;
	*len = grove__write_request__get_packed_size(&wr.req);
	uint8_t *out = malloc(*len ? *len : 1);
	if (!out)
		grove_fuzz_fail("out of memory");
	grove__write_request__pack(&wr.req, out);
	wire_request_free(&wr);
	return out;
}

/* Decode a write body as apply does; with @p again, the bytes it packs back to (caller frees). */
static int decode_write(const uint8_t *body, size_t len, uint8_t **again, size_t *again_len)
{
	Grove__WriteRequest *wr = grove__write_request__unpack(NULL, len, body);
	if (!wr)
		return GROVE_EPROTO;
	int err = GROVE_OK;
	if (wire_write_has_nul(body, len)) {
		err = GROVE_EBADNAME;
	} else {
		struct wire_batch batch;
		char message[512];
		err = wire_decode_batch(wr, false, &batch, message, sizeof(message));
		if (err != GROVE_OK && err != GROVE_EINVAL && err != GROVE_ECORRUPT && err != GROVE_ETOOBIG &&
		    err != GROVE_ENOMEM)
			grove_fuzz_fail("a write refused with an undocumented code");
		if (err && err != GROVE_ENOMEM && !message[0])
			grove_fuzz_fail("a write refused without a reason");
		if (!err && again)
			*again = pack_batch(&batch, wr->submit_key, again_len);
		wire_batch_free(&batch);
	}
	grove__write_request__free_unpacked(wr, NULL);
	return err;
}

static void on_frame(void *ctx, const uint8_t *payload, size_t len)
{
	(void)ctx;
	struct wire_envelope_view v;
	if (wire_peek_envelope(payload, len, &v) != GROVE_OK)
		return; /* refused as malformed */
	if (v.body_data && (v.body_data < payload || v.body_data + v.body_len > payload + len))
		grove_fuzz_fail("an envelope's body lies outside its frame");
	Grove__Envelope *env = grove__envelope__unpack(NULL, len, payload);
	if (env)
		grove__envelope__free_unpacked(env, NULL);
	if (v.body != GROVE__ENVELOPE__BODY_WRITE)
		return;
	uint8_t *again = NULL, *third = NULL;
	size_t again_len = 0, third_len = 0;
	if (decode_write(v.body_data, v.body_len, &again, &again_len) != GROVE_OK)
		return;
	if (decode_write(again, again_len, &third, &third_len) != GROVE_OK)
		grove_fuzz_fail("a batch encoded from a decoded one does not decode");
	if (third_len != again_len || memcmp(third, again, again_len) != 0)
		grove_fuzz_fail("a batch decoded and encoded twice differs");
	free(again);
	free(third);
}

/* An Envelope with @p body_case set in @p env, as one frame. */
static void put_envelope(struct grove_buf *out, Grove__Envelope *env)
{
	size_t len = grove__envelope__get_packed_size(env);
	uint8_t *bytes = malloc(len ? len : 1);
	if (!bytes)
		grove_fuzz_fail("out of memory");
	grove__envelope__pack(env, bytes);
	fuzz_put_frame(out, bytes, len);
	free(bytes);
}

/* Seeds: a hello then a write of the seed batch; a read; a subscribe; a status; a batch of writes. */
int grove_fuzz_seed(size_t i, struct grove_buf *out)
{
	if (i >= 4)
		return 0;
	struct tree_op ops[FUZZ_SEED_OPS];
	struct variant values[FUZZ_SEED_OPS];
	size_t n = fuzz_seed_batch(ops, values);
	struct wire_request wr;
	if (wire_encode_batch(ops, i == 3 ? 1 : n, &wr) != GROVE_OK)
		grove_fuzz_fail("the seed batch does not encode");
	wr.req.submit_key = (char *)(i == 1 ? "key-1" : "");
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	Grove__Hello hello = GROVE__HELLO__INIT;
	hello.token = "secret";
	hello.client_name = "fuzz";
	env.request_id = 1;
	env.body_case = GROVE__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	put_envelope(out, &env);
	for (int k = 0; k < (i == 3 ? 3 : 1); k++) {
		env.request_id = 2 + (uint64_t)k;
		env.body_case = GROVE__ENVELOPE__BODY_WRITE;
		env.write = &wr.req;
		put_envelope(out, &env);
	}
	Grove__ReadRequest read = GROVE__READ_REQUEST__INIT;
	Grove__NodeRef node = GROVE__NODE_REF__INIT;
	node.path = "/root/World";
	read.node = &node;
	Grove__SubscribeRequest sub = GROVE__SUBSCRIBE_REQUEST__INIT;
	sub.path = "/root";
	if (i == 1) {
		env.body_case = GROVE__ENVELOPE__BODY_READ;
		env.read = &read;
		put_envelope(out, &env);
	} else if (i == 2) {
		env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE;
		env.subscribe = &sub;
		put_envelope(out, &env);
	}
	wire_request_free(&wr);
	fuzz_seed_batch_free(values);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 16))
		return 0;
	fuzz_for_each_frame(data, size, MAX_FRAME, MAX_FRAMES, on_frame, NULL);
	return 0;
}
