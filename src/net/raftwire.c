#include "src/net/raftwire.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"

int raftwire_encode(uint64_t group, const struct raft_msg *m, struct raftwire_out *out)
{
	memset(out, 0, sizeof(*out));
	Grove__RaftMessage *pb = &out->pb;
	grove__raft_message__init(pb);
	pb->group = group;
	pb->type = (uint32_t)m->type;
	pb->from = m->from;
	pb->to = m->to;
	pb->term = m->term;
	pb->log_term = m->log_term;
	pb->index = m->index;
	pb->commit = m->commit;
	pb->reject = m->reject;
	pb->reject_hint = m->reject_hint;
	pb->context = m->context;
	pb->quiesce = m->quiesce;
	pb->snapshot_index = m->snapshot_index;
	pb->snapshot_term = m->snapshot_term;
	if (m->n_entries) {
		out->entries = calloc(m->n_entries, sizeof(*out->entries));
		out->entry_ptrs = calloc(m->n_entries, sizeof(*out->entry_ptrs));
		if (!out->entries || !out->entry_ptrs) {
			raftwire_out_free(out);
			return GROVE_ENOMEM;
		}
		for (size_t i = 0; i < m->n_entries; i++) {
			Grove__RaftEntry *e = &out->entries[i];
			grove__raft_entry__init(e);
			e->index = m->entries[i].index;
			e->term = m->entries[i].term;
			e->type = m->entries[i].type;
			e->data.data = m->entries[i].data;
			e->data.len = m->entries[i].len;
			out->entry_ptrs[i] = e;
		}
		pb->entries = out->entry_ptrs;
		pb->n_entries = m->n_entries;
	}
	if (m->type == RAFT_MSG_SNAPSHOT) {
		memcpy(out->voters, m->snapshot_conf.voters, m->snapshot_conf.n_voters * sizeof(uint64_t));
		memcpy(out->learners, m->snapshot_conf.learners, m->snapshot_conf.n_learners * sizeof(uint64_t));
		pb->snapshot_voters = out->voters;
		pb->n_snapshot_voters = m->snapshot_conf.n_voters;
		pb->snapshot_learners = out->learners;
		pb->n_snapshot_learners = m->snapshot_conf.n_learners;
	}
	return GROVE_OK;
}

void raftwire_out_free(struct raftwire_out *out)
{
	free(out->entries);
	free(out->entry_ptrs);
	out->entries = NULL;
	out->entry_ptrs = NULL;
}

int raftwire_decode(const Grove__RaftMessage *pb, uint64_t *group, struct raft_msg *m)
{
	memset(m, 0, sizeof(*m));
	*group = pb->group ? pb->group : 1;
	if (pb->type < RAFT_MSG_APPEND || pb->type > RAFT_MSG_TIMEOUT_NOW || pb->from == 0 || pb->to == 0 ||
	    pb->n_snapshot_voters > RAFT_MAX_MEMBERS || pb->n_snapshot_learners > RAFT_MAX_MEMBERS ||
	    pb->n_snapshot_voters + pb->n_snapshot_learners > RAFT_MAX_MEMBERS)
		return GROVE_EINVAL;
	for (size_t i = 1; i < pb->n_entries; i++)
		if (pb->entries[i]->index != pb->entries[i - 1]->index + 1)
			return GROVE_EINVAL;
	m->type = (enum raft_msg_type)pb->type;
	m->from = pb->from;
	m->to = pb->to;
	m->term = pb->term;
	m->log_term = pb->log_term;
	m->index = pb->index;
	m->commit = pb->commit;
	m->reject = pb->reject;
	m->reject_hint = pb->reject_hint;
	m->context = pb->context;
	m->quiesce = pb->quiesce;
	m->snapshot_index = pb->snapshot_index;
	m->snapshot_term = pb->snapshot_term;
	m->snapshot_conf.n_voters = pb->n_snapshot_voters;
	m->snapshot_conf.n_learners = pb->n_snapshot_learners;
	for (size_t i = 0; i < pb->n_snapshot_voters; i++)
		m->snapshot_conf.voters[i] = pb->snapshot_voters[i];
	for (size_t i = 0; i < pb->n_snapshot_learners; i++)
		m->snapshot_conf.learners[i] = pb->snapshot_learners[i];
	if (pb->n_entries) {
		m->entries = calloc(pb->n_entries, sizeof(*m->entries));
		if (!m->entries)
			return GROVE_ENOMEM;
		for (size_t i = 0; i < pb->n_entries; i++)
			m->entries[i] = (struct raft_entry){.index = pb->entries[i]->index, .term = pb->entries[i]->term,
							    .type = pb->entries[i]->type, .data = pb->entries[i]->data.data,
							    .len = pb->entries[i]->data.len};
		m->n_entries = pb->n_entries;
	}
	return GROVE_OK;
}

void raftwire_in_free(struct raft_msg *m)
{
	free(m->entries);
	m->entries = NULL;
	m->n_entries = 0;
}
