#include "src/hlc/hlc.h"

#include "src/common/error.h"

void hlc_init(struct hlc_clock *c, uint64_t max_offset_ns)
{
	c->last = (struct hlc_ts){0, 0};
	c->max_offset_ns = max_offset_ns;
}

int hlc_cmp(struct hlc_ts a, struct hlc_ts b)
{
	if (a.wall != b.wall)
		return a.wall < b.wall ? -1 : 1;
	if (a.logical != b.logical)
		return a.logical < b.logical ? -1 : 1;
	return 0;
}

int hlc_now(struct hlc_clock *c, uint64_t pt, struct hlc_ts *out)
{
	struct hlc_ts next;
	if (pt > c->last.wall) {
		next = (struct hlc_ts){pt, 0};
	} else {
		if (c->last.logical == UINT32_MAX)
			return GROVE_ERANGE;
		next = (struct hlc_ts){c->last.wall, c->last.logical + 1};
	}
	c->last = next;
	*out = next;
	return GROVE_OK;
}

int hlc_update(struct hlc_clock *c, uint64_t pt, struct hlc_ts remote, struct hlc_ts *out)
{
	if (remote.wall > pt && remote.wall - pt > c->max_offset_ns)
		return GROVE_ERANGE;
	uint64_t wall = c->last.wall;
	if (remote.wall > wall)
		wall = remote.wall;
	if (pt > wall)
		wall = pt;
	/* The logical part must exceed that of every input sharing the new wall. */
	uint64_t logical = 0;
	bool tie_last = wall == c->last.wall, tie_remote = wall == remote.wall;
	if (tie_last && tie_remote)
		logical = (uint64_t)(c->last.logical > remote.logical ? c->last.logical : remote.logical) + 1;
	else if (tie_last)
		logical = (uint64_t)c->last.logical + 1;
	else if (tie_remote)
		logical = (uint64_t)remote.logical + 1;
	if (logical > UINT32_MAX)
		return GROVE_ERANGE;
	c->last = (struct hlc_ts){wall, (uint32_t)logical};
	*out = c->last;
	return GROVE_OK;
}

void hlc_raise(struct hlc_clock *c, struct hlc_ts floor)
{
	if (hlc_cmp(c->last, floor) < 0)
		c->last = floor;
}
