/*
 * Fuzz target: a peer connection's bytes as a member decodes them. The bytes are split into frames by the
 * frame reader (through a socket); each frame is peeked at as an Envelope whose body is a RaftBatch or a
 * single RaftMessage; every message goes through raftwire_decode, and a snapshot's chunks are assembled
 * and verified as a replica does. A message that decodes must encode back to a message that decodes to
 * the same bytes again.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "frames.h"
#include "src/common/error.h"
#include "src/net/raftwire.h"
#include "src/net/wire.h"
#include "storage/snapshot.h"

#define MAX_FRAME (48u << 10)
#define MAX_FRAMES 64
/* Largest snapshot assembled from one input. */
#define MAX_SNAPSHOT (1u << 20)

/* @p m of @p group encoded and packed (caller frees). */
static uint8_t *pack_message(uint64_t group, const struct raft_msg *m, size_t *len)
{
	struct raftwire_out out;
	if (raftwire_encode(group, m, &out) != GROVE_OK)
		grove_fuzz_fail("a decoded raft message does not encode");
	*len = grove__raft_message__get_packed_size(&out.pb);
	uint8_t *bytes = malloc(*len ? *len : 1);
	if (!bytes)
		grove_fuzz_fail("out of memory");
	grove__raft_message__pack(&out.pb, bytes);
	raftwire_out_free(&out);
	return bytes;
}

/* Decode packed message @p data and pack what it decodes to again; NULL if it does not decode. */
static uint8_t *repack(const uint8_t *data, size_t len, size_t *again_len)
{
	Grove__RaftMessage *pb = grove__raft_message__unpack(NULL, len, data);
	if (!pb)
		grove_fuzz_fail("a packed raft message does not unpack");
	struct raft_msg m;
	uint64_t group;
	uint8_t *again = NULL;
	if (raftwire_decode(pb, &group, &m) == GROVE_OK) {
		again = pack_message(group, &m, again_len);
		raftwire_in_free(&m);
	}
	grove__raft_message__free_unpacked(pb, NULL);
	return again;
}

/* The assembly of one snapshot across the frames of an input. */
struct peer {
	struct snapshot_receiver receiving;
	uint64_t from, term, index;
};

static void receive_chunk(struct peer *p, const Grove__RaftMessage *pb)
{
	if (pb->snapshot_offset == 0 || pb->from != p->from || pb->term != p->term || pb->snapshot_index != p->index) {
		snapshot_receiver_free(&p->receiving);
		p->from = pb->from;
		p->term = pb->term;
		p->index = pb->snapshot_index;
	}
	int err = snapshot_receiver_put(&p->receiving, pb->snapshot_offset, pb->snapshot_size, pb->snapshot_data.data,
					pb->snapshot_data.len, MAX_SNAPSHOT);
	if (err != GROVE_OK && err != GROVE_ERANGE && err != GROVE_ETOOBIG)
		grove_fuzz_fail("a snapshot chunk refused with an undocumented code");
	if (err || !snapshot_receiver_complete(&p->receiving))
		return;
	char why[160] = "";
	err = snapshot_verify(p->receiving.data, p->receiving.len, NULL, why, sizeof(why));
	if (err == GROVE_ECORRUPT && !why[0])
		grove_fuzz_fail("a snapshot refused without a reason");
	snapshot_receiver_free(&p->receiving);
}

static void step(struct peer *p, const Grove__RaftMessage *pb)
{
	struct raft_msg m;
	uint64_t group;
	int err = raftwire_decode(pb, &group, &m);
	if (err == GROVE_EINVAL)
		return;
	if (err != GROVE_OK)
		grove_fuzz_fail("a raft message refused with an undocumented code");
	if (m.type == RAFT_MSG_SNAPSHOT)
		receive_chunk(p, pb);
	size_t len, again_len = 0, third_len = 0;
	uint8_t *bytes = pack_message(group, &m, &len);
	raftwire_in_free(&m);
	uint8_t *again = repack(bytes, len, &again_len);
	if (!again)
		grove_fuzz_fail("a raft message encoded from a decoded one does not decode");
	uint8_t *third = repack(again, again_len, &third_len);
	if (!third || third_len != again_len || memcmp(third, again, again_len) != 0)
		grove_fuzz_fail("a raft message decoded and encoded twice differs");
	free(bytes);
	free(again);
	free(third);
}

static void on_frame(void *ctx, const uint8_t *payload, size_t len)
{
	struct peer *p = ctx;
	struct wire_envelope_view v;
	if (wire_peek_envelope(payload, len, &v) != GROVE_OK)
		return;
	if (v.body == GROVE__ENVELOPE__BODY_RAFT_BATCH) {
		Grove__RaftBatch *batch = grove__raft_batch__unpack(NULL, v.body_len, v.body_data);
		for (size_t i = 0; batch && i < batch->n_messages; i++)
			step(p, batch->messages[i]);
		if (batch)
			grove__raft_batch__free_unpacked(batch, NULL);
	} else if (v.body == GROVE__ENVELOPE__BODY_RAFT) {
		Grove__RaftMessage *one = grove__raft_message__unpack(NULL, v.body_len, v.body_data);
		if (one) {
			step(p, one);
			grove__raft_message__free_unpacked(one, NULL);
		}
	}
}

/* One Envelope holding @p batch (or @p one), as a frame. */
static void put_raft_frame(struct grove_buf *out, Grove__RaftBatch *batch, Grove__RaftMessage *one)
{
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = 0;
	env.body_case = batch ? GROVE__ENVELOPE__BODY_RAFT_BATCH : GROVE__ENVELOPE__BODY_RAFT;
	if (batch)
		env.raft_batch = batch;
	else
		env.raft = one;
	size_t len = grove__envelope__get_packed_size(&env);
	uint8_t *bytes = malloc(len);
	if (!bytes)
		grove_fuzz_fail("out of memory");
	grove__envelope__pack(&env, bytes);
	fuzz_put_frame(out, bytes, len);
	free(bytes);
}

/* Seeds: a batch of every message type with a proposal, then a snapshot in two chunks. */
int grove_fuzz_seed(size_t i, struct grove_buf *out)
{
	if (i >= 2)
		return 0;
	struct raft_entry entries[2] = {{.index = 5, .term = 2, .type = 0, .data = (uint8_t *)"\x01write", .len = 6},
					{.index = 6, .term = 2, .type = 1, .data = (uint8_t *)"conf", .len = 4}};
	struct raft_msg msgs[RAFT_MSG_TIMEOUT_NOW];
	struct raftwire_out wire[RAFT_MSG_TIMEOUT_NOW];
	Grove__RaftMessage *ptrs[RAFT_MSG_TIMEOUT_NOW];
	size_t n = i == 0 ? RAFT_MSG_TIMEOUT_NOW : 1;
	struct snapshot_builder b = {0};
	struct snapshot snap = {0};
	if (i == 1) {
		snapshot_add_record(&b, 1, "key", 3, "value", 5);
		if (snapshot_finish(&b, 9, 1, &snap) != GROVE_OK)
			grove_fuzz_fail("a seed snapshot does not build");
	}
	for (size_t k = 0; k < n; k++) {
		msgs[k] = (struct raft_msg){.type = i == 0 ? (enum raft_msg_type)(k + 1) : RAFT_MSG_SNAPSHOT,
					    .from = 1, .to = 2, .term = 2, .log_term = 2, .index = 4, .commit = 4,
					    .reject = k == 1, .reject_hint = 3, .context = 7, .quiesce = k == 6,
					    .snapshot_index = 9, .snapshot_term = 2,
					    .snapshot_conf = {.voters = {1, 2, 3}, .n_voters = 3, .learners = {4}, .n_learners = 1}};
		if (msgs[k].type == RAFT_MSG_APPEND)
			msgs[k].entries = entries, msgs[k].n_entries = 2;
		if (raftwire_encode(3, &msgs[k], &wire[k]) != GROVE_OK)
			grove_fuzz_fail("a seed message does not encode");
		ptrs[k] = &wire[k].pb;
	}
	if (i == 0) {
		Grove__Proposal proposal = GROVE__PROPOSAL__INIT;
		Grove__Proposal *proposals[1] = {&proposal};
		proposal.group = 3;
		proposal.data.data = (uint8_t *)"\x01write";
		proposal.data.len = 6;
		Grove__RaftBatch batch = GROVE__RAFT_BATCH__INIT;
		batch.messages = ptrs;
		batch.n_messages = n;
		batch.proposals = proposals;
		batch.n_proposals = 1;
		batch.hlc_wall = 1700000000000000000ull;
		batch.hlc_logical = 1;
		put_raft_frame(out, &batch, NULL);
	} else {
		size_t half = snap.len / 2;
		for (size_t offset = 0; offset < snap.len; offset += half) {
			size_t len = snap.len - offset < half ? snap.len - offset : half;
			wire[0].pb.snapshot_data.data = snap.data + offset;
			wire[0].pb.snapshot_data.len = len;
			wire[0].pb.snapshot_offset = offset;
			wire[0].pb.snapshot_size = snap.len;
			put_raft_frame(out, NULL, &wire[0].pb);
		}
		snapshot_free(&snap);
	}
	for (size_t k = 0; k < n; k++)
		raftwire_out_free(&wire[k]);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 16))
		return 0;
	struct peer p = {0};
	fuzz_for_each_frame(data, size, MAX_FRAME, MAX_FRAMES, on_frame, &p);
	snapshot_receiver_free(&p.receiving);
	return 0;
}
