#include "src/server/balance.h"

/* How many of @p groups member @p member leads. */
static size_t led_by(uint64_t member, const struct balance_group *groups, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		count += groups[i].leader == member;
	return count;
}

static bool is_voter(uint64_t member, const struct balance_group *g)
{
	for (size_t i = 0; i < g->n_voters; i++)
		if (g->voters[i] == member)
			return true;
	return false;
}

bool balance_pick(uint64_t self, const uint64_t *members, size_t n_members, const struct balance_group *groups,
		  size_t n, uint64_t *group, uint64_t *to)
{
	for (size_t i = 0; i < n; i++)
		if (!groups[i].leader)
			return false;
	size_t mine = led_by(self, groups, n), fewest = SIZE_MAX;
	*to = 0;
	for (size_t m = 0; m < n_members; m++) {
		size_t count = led_by(members[m], groups, n);
		if (members[m] != self && (count < fewest || (count == fewest && members[m] < *to))) {
			fewest = count;
			*to = members[m];
		}
	}
	if (!*to || mine < fewest + 2)
		return false;
	*group = 0;
	for (size_t i = 0; i < n; i++)
		if (groups[i].leader == self && groups[i].movable && groups[i].group > *group && is_voter(*to, &groups[i]))
			*group = groups[i].group;
	return *group != 0;
}
