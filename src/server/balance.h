/**
 * @file balance.h
 * @brief Spreading the leadership of a world's groups evenly over its members.
 *
 * A split's new group elects whichever member times out first, so after some
 * splits one member may lead most groups and do most of the work (every
 * proposal, fsync first, every answer) while the others follow. Each member
 * looks, now and then, at who leads each group as it sees it, and when it
 * leads at least two more groups than the member that leads the fewest, it
 * hands one of its groups to that member (raft_transfer_leader()). Only a
 * group's leader can hand it over, so no two members ever move the same
 * group; each hand-over brings the two counts closer, so the spread settles
 * within one group of even.
 *
 * The decision is a pure function of what the member sees; the server calls
 * it and performs the transfer.
 */
#ifndef GROVE_SERVER_BALANCE_H
#define GROVE_SERVER_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One group as this member sees it. */
struct balance_group {
	uint64_t group;           /**< its id */
	uint64_t leader;          /**< the member that leads it (0: none known: an election is on) */
	const uint64_t *voters;   /**< the members that may lead it (borrowed) */
	size_t n_voters;
	bool movable;             /**< false: leave it where it is now (e.g. a transaction holds it) */
};

/**
 * @brief Which group, if any, member @p self should hand over now, and to whom.
 * Nothing while any group has no known leader (the counts are not settled).
 * @param members every member of the world (@p n_members of them); counts are
 * kept for these only.
 * @param groups the groups (@p n of them).
 * @param group receives the group to hand over (the highest id among the
 * movable ones @p self leads whose voters include @p to).
 * @param to receives the member that leads the fewest groups (the lowest id
 * among equals).
 * @return true if @p self leads at least two more groups than @p to and has
 * one to give.
 */
bool balance_pick(uint64_t self, const uint64_t *members, size_t n_members, const struct balance_group *groups,
		  size_t n, uint64_t *group, uint64_t *to);

#endif
