#include "src/server/serverclock.h"

#include <inttypes.h>

#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/server/log.h"

#define NS_PER_MS 1000000ull

void server_clock_init(struct server_clock *c, uint64_t max_offset_ms, int64_t shift_ms)
{
	*c = (struct server_clock){0};
	if (!max_offset_ms)
		max_offset_ms = 1;
	hlc_init(&c->hlc, max_offset_ms * NS_PER_MS);
	c->shift_ns = shift_ms * (int64_t)NS_PER_MS;
	c->window_ns = max_offset_ms * NS_PER_MS / 2;
}

uint64_t server_clock_physical(const struct server_clock *c)
{
	return (uint64_t)((int64_t)grove_realtime_ns() + c->shift_ns);
}

void server_clock_restart_from(struct server_clock *c, uint64_t bound)
{
	hlc_raise(&c->hlc, (struct hlc_ts){bound, 0});
	c->bound = bound;
}

struct hlc_ts server_clock_now(struct server_clock *c)
{
	struct hlc_ts ts;
	if (hlc_now(&c->hlc, server_clock_physical(c), &ts) != GROVE_OK)
		ts = c->hlc.last;
	return ts;
}

void server_clock_observe(struct server_clock *c, struct hlc_ts ts)
{
	struct hlc_ts merged;
	hlc_update(&c->hlc, server_clock_physical(c), ts, &merged);
}

const struct server_clock_peer *server_clock_peer(const struct server_clock *c, uint64_t id)
{
	for (size_t i = 0; i < c->n_peers; i++)
		if (c->peers[i].id == id)
			return &c->peers[i];
	return NULL;
}

/* The entry of peer @p id, made on its first frame; NULL when every entry is taken. */
static struct server_clock_peer *peer_of(struct server_clock *c, uint64_t id)
{
	struct server_clock_peer *known = (struct server_clock_peer *)server_clock_peer(c, id);
	if (known)
		return known;
	if (c->n_peers == RAFT_MAX_MEMBERS)
		return NULL;
	c->peers[c->n_peers] = (struct server_clock_peer){.id = id};
	return &c->peers[c->n_peers++];
}

int server_clock_receive(struct server_clock *c, uint64_t peer, struct hlc_ts remote)
{
	uint64_t pt = server_clock_physical(c);
	struct hlc_ts merged;
	int err = hlc_update(&c->hlc, pt, remote, &merged);
	struct server_clock_peer *p = peer_of(c, peer);
	if (!p)
		return err;
	uint64_t now = grove_monotonic_ms();
	p->offset_ns = (int64_t)(remote.wall - pt);
	p->measured_ms = now;
	if (err != GROVE_ERANGE)
		return err;
	p->refused++;
	p->unlogged++;
	if (!p->logged_ms || now - p->logged_ms >= SERVER_CLOCK_REFUSAL_LOG_MS) {
		log_line("clock: refused %" PRIu64 " frame(s) of peer %" PRIu64 ": its clock is %.1f ms ahead of ours, "
			 "more than the maximum offset of %" PRIu64 " ms",
			 p->unlogged, peer, (double)p->offset_ns / NS_PER_MS, (uint64_t)(c->hlc.max_offset_ns / NS_PER_MS));
		p->unlogged = 0;
		p->logged_ms = now;
	}
	return err;
}

bool server_clock_bound_due(const struct server_clock *c, uint64_t *next)
{
	uint64_t wall = c->hlc.last.wall;
	uint64_t pt = server_clock_physical(c);
	if (pt > wall)
		wall = pt;
	*next = wall + c->window_ns;
	return wall + c->window_ns / 2 >= c->bound;
}

void server_clock_bound_saved(struct server_clock *c, uint64_t bound)
{
	if (bound > c->bound)
		c->bound = bound;
}
