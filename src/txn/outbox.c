#include "src/txn/outbox.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"

static uint8_t *copy_bytes(uint8_t *to, struct txn_bytes *b)
{
	if (b->len)
		memcpy(to, b->data, b->len);
	b->data = b->len ? to : NULL;
	return to + b->len;
}

int outbox_push(struct txn_outbox *o, uint64_t shard, const struct txn_cmd *cmd)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 16;
		struct txn_msg *msgs = realloc(o->msgs, cap * sizeof(*msgs));
		if (!msgs)
			return GROVE_ENOMEM;
		o->msgs = msgs;
		void **blocks = realloc(o->blocks, cap * sizeof(*blocks));
		if (!blocks)
			return GROVE_ENOMEM;
		o->blocks = blocks;
		o->cap = cap;
	}
	size_t bytes = cmd->key.len + cmd->value.len + cmd->n_writes * sizeof(struct txn_write_ref);
	for (size_t i = 0; i < cmd->n_writes; i++)
		bytes += cmd->writes[i].key.len;
	/* The list comes first in the block, so it is aligned. */
	uint8_t *block = malloc(bytes + 1);
	if (!block)
		return GROVE_ENOMEM;
	struct txn_msg *m = &o->msgs[o->n];
	m->shard = shard;
	m->cmd = *cmd;
	struct txn_write_ref *refs = (struct txn_write_ref *)block;
	uint8_t *p = block + cmd->n_writes * sizeof(*refs);
	for (size_t i = 0; i < cmd->n_writes; i++) {
		refs[i] = cmd->writes[i];
		p = copy_bytes(p, &refs[i].key);
	}
	m->cmd.writes = cmd->n_writes ? refs : NULL;
	p = copy_bytes(p, &m->cmd.key);
	copy_bytes(p, &m->cmd.value);
	o->blocks[o->n++] = block;
	return GROVE_OK;
}

void outbox_take(struct txn_outbox *o, size_t n)
{
	if (n > o->n)
		n = o->n;
	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		free(o->blocks[i]);
	memmove(o->msgs, o->msgs + n, (o->n - n) * sizeof(*o->msgs));
	memmove(o->blocks, o->blocks + n, (o->n - n) * sizeof(*o->blocks));
	o->n -= n;
}

void outbox_free(struct txn_outbox *o)
{
	outbox_take(o, o->n);
	free(o->msgs);
	free(o->blocks);
	memset(o, 0, sizeof(*o));
}

void resend_init(struct txn_resend *r, uint64_t base_ns, uint64_t max_ns, uint64_t pt)
{
	r->base_ns = base_ns;
	r->max_ns = max_ns > base_ns ? max_ns : base_ns;
	resend_restart(r, pt);
}

void resend_restart(struct txn_resend *r, uint64_t pt)
{
	r->wait_ns = r->base_ns;
	r->due = pt + r->wait_ns;
}

void resend_relax(struct txn_resend *r, uint64_t pt)
{
	r->wait_ns = r->base_ns;
	if (r->due > pt + r->base_ns)
		r->due = pt + r->base_ns;
}

bool resend_due(struct txn_resend *r, uint64_t pt)
{
	if (pt < r->due)
		return false;
	r->wait_ns = r->wait_ns > r->max_ns / 2 ? r->max_ns : 2 * r->wait_ns;
	r->due = pt + r->wait_ns;
	return true;
}
