/**
 * @file lincheck.h
 * @brief Decides whether a history (history.h) is linearizable, key by key,
 * and when it is not, finds a short excerpt that shows it.
 *
 * Models: a register per key (write v; read returns the last value written,
 * nil before any write) and a grow-only set per key (add e with e unique;
 * read_set returns every element added so far).
 *
 * Linearizability is compositional (Herlihy & Wing's locality), so each key's
 * sub-history is checked on its own; a key's search never sees the others.
 *
 * The search is Wing & Gong's, with Lowe's just-in-time linearization and the
 * memoization of Knossos and Porcupine: the key's invoke and return events are
 * sorted by time (an invoke before a return of the same time: equal times are
 * concurrent) into a doubly linked list. Walking it from the front, an invoked
 * operation whose step the model accepts is linearized (removed with its
 * return from the list, pushed on a stack with the state before it) unless
 * the pair (set of linearized operations, model state) was reached before;
 * meeting the return of an operation that is not linearized means the last
 * choice was wrong: it is popped, put back, and the walk goes on after it. The
 * history is linearizable when the list empties, and not when the stack does.
 * The set of linearized operations is a bitset over the operations in invoke
 * order; the memo stores only the words between its all-ones prefix and its
 * all-zeros suffix, which for histories with bounded concurrency are few.
 * One pruning on top: a read that can take effect now is linearized now and
 * no alternative to it is tried (whatever order places it later can place it
 * here: it changes no state, and all that must precede it already did).
 * Without it, a violation late in a long history sends the search through
 * every subset of the reads pending at every earlier point.
 *
 * What the outcomes mean:
 * - `fail` operations are left out (they did not happen), and so are `info`
 *   reads (an unknown result constrains nothing).
 * - An `info` write or add may take effect at any time after its invoke, or
 *   never: its return is at infinity. Such operations are all taken to take
 *   effect at the end once no operation with a known return is left.
 *   Two exact reductions keep them cheap when the value they wrote is written
 *   by no other operation of the key (always so for adds, and so for
 *   registers when the campaign writes unique values, which it should): if no
 *   read saw that value the operation is left out (taking effect at the end
 *   changes nothing a read saw), and otherwise it must take effect before the
 *   first of those reads returns, which becomes its return.
 *
 * Registers whose every value is written once (after the reductions above)
 * need no search: Gibbons & Korach's zone test decides them in O(n log n)
 * whatever the concurrency (see zones_run() in lincheck.c), while the search
 * grows exponentially with the writes pending at once (on one key, a valid
 * history of 100,000 operations takes ~15M steps with 15 processes and
 * ~560M with 25). The campaign should write unique values. The search stays
 * for sets, for registers with repeated values, and to explain excerpts.
 *
 * A violation's excerpt is found by reductions that each keep a linearizable
 * history linearizable, so the excerpt failing proves the whole key fails:
 * 1. the shortest failing prefix: the key cut at the earliest time T (a
 *    completion time, found by bisection) where it fails; operations pending
 *    at T become `info`, those invoked later are left out;
 * 2. then, greedily (in halving chunks, then one at a time), for a set: leave
 *    out elements (project every add and read onto the remaining elements);
 *    for both models: leave out reads, and writes that no remaining read saw.
 *
 * A step is one move of the walk; each search stops at a step limit and says
 * LIN_UNKNOWN instead of running on (the zone test needs no limit). Memory grows with the steps (one memo
 * entry of about 40 bytes per linearization tried), so the limit also bounds
 * it: the default, about 1 GB at worst. A linearizable history costs a few
 * dozen steps per operation; proving a violation costs more, as the search
 * must exhaust the orders of the concurrent writes before it (about 150
 * steps per operation with 10 processes on one key). Histories with many
 * concurrent `info` writes of non-unique values are the expensive case (the
 * search may try every subset of them); the limit is for them.
 *
 * Final reads (history_final) are checked separately: every final read of a
 * set key must hold every acknowledged (`ok`) add, no failed add and no
 * element never added; when the history has final reads, every member that
 * made one must have made one of every set key.
 */
#ifndef GROVE_TESTS_JEPSEN_LINCHECK_H
#define GROVE_TESTS_JEPSEN_LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tests/jepsen/history.h"

/** Steps one search may take unless told otherwise. */
#define LIN_DEFAULT_MAX_STEPS 20000000ull

/** Steps the minimization of one key may take in all unless told otherwise. */
#define LIN_DEFAULT_MINIMIZE_STEPS 50000000ull

/** Verdicts, ordered from best to worst for a summary. */
enum lin_verdict {
	LIN_OK = 0,         /**< linearizable (or: the final reads hold what they must) */
	LIN_UNKNOWN = 1,    /**< not decided: the step limit was reached, or a final read is missing */
	LIN_VIOLATION = 2   /**< not linearizable (or: a final read lacks or invents an element) */
};

/** Knobs; zeros give the defaults. */
struct lin_options {
	uint64_t max_steps;       /**< per search; 0: LIN_DEFAULT_MAX_STEPS */
	uint64_t minimize_steps;  /**< per violating key, all searches of the minimization; 0: LIN_DEFAULT_MINIMIZE_STEPS */
	bool no_minimize;         /**< report the whole key's history as the excerpt */
	bool search_only;         /**< decide registers by the search even where zones apply (to test one against the other) */
};

/** What a final read got wrong. */
enum lin_final_kind {
	LIN_FINAL_LOST = 0,       /**< an acknowledged add is not in it */
	LIN_FINAL_FAILED = 1,     /**< it holds the element of an add that failed */
	LIN_FINAL_PHANTOM = 2,    /**< it holds an element no add of the key added */
	LIN_FINAL_DUPLICATE = 3,  /**< it holds an element twice */
	LIN_FINAL_MISSING = 4     /**< a member made final reads, but none of this key */
};

struct lin_final_problem {
	enum lin_final_kind kind;
	size_t final;         /**< index into history.finals; SIZE_MAX for LIN_FINAL_MISSING */
	size_t op;            /**< the add (index into history.ops) for LOST and FAILED; else SIZE_MAX */
	size_t elem;          /**< PHANTOM, DUPLICATE: index into the final read's elements; else SIZE_MAX */
	const char *member;   /**< the member (points into the history) */
};

/** One key's result. */
struct lin_key_result {
	size_t key;                 /**< index into history.keys */
	enum history_model model;
	size_t n_all;               /**< operations of the key in the history */
	size_t n_ops;               /**< operations searched (fail and info reads left out) */
	enum lin_verdict verdict;   /**< linearizability of the key */
	bool zones;                 /**< decided by the zone test (a register of unique values), not the search */
	uint64_t steps;             /**< steps of the first, whole-key search (zone test: its operations) */
	char *explanation;          /**< LIN_VIOLATION: one line on the excerpt; LIN_UNKNOWN: why; else NULL */
	/**
	 * LIN_VIOLATION: the excerpt, as a history of its own holding this one
	 * key (owned by the report): copies of its operations with their
	 * original processes, times and line numbers; an operation pending at
	 * the cut stands as `info`; a read_set holds only the elements that
	 * stayed. Else NULL.
	 */
	struct history *excerpt;
	enum lin_verdict final_verdict;        /**< the final reads of this key; LIN_OK when there are none */
	size_t n_finals;                       /**< final reads of this key */
	size_t n_acked;                        /**< acknowledged adds they were checked for */
	struct lin_final_problem *problems;
	size_t n_problems;
};

/** The result of lin_check(). */
struct lin_report {
	struct lin_key_result *keys;  /**< one per history key, in the history's key order */
	size_t n_keys;
	enum lin_verdict verdict;     /**< the worst verdict of any key, linearizability or final */
	size_t n_ok, n_unknown, n_violation; /**< keys by their worse verdict of the two */
};

/**
 * @brief Check every key of @p h.
 * @param opt NULL for the defaults.
 * @param out receives the report; release it with lin_report_free(). It
 * points into @p h, which must outlive it.
 * @return GROVE_OK (the verdicts are in the report), GROVE_ENOMEM,
 * GROVE_ERANGE (a key with 2^31 operations or more).
 */
int lin_check(const struct history *h, const struct lin_options *opt, struct lin_report **out);

/** @brief Free a report. NULL is allowed. */
void lin_report_free(struct lin_report *r);

/**
 * @brief Search one sub-history of key @p key once, without minimizing: the
 * operations @p ops (history.ops indexes, all of that key; fail operations
 * and info reads are skipped), those flagged in @p as_info (may be NULL)
 * counted as `info`. For tests, and to confirm an excerpt.
 * @param verdict receives LIN_OK, LIN_VIOLATION or LIN_UNKNOWN (limit reached).
 * @param steps receives the steps taken (may be NULL).
 * @return GROVE_OK, GROVE_EINVAL (an operation of another key, or no such
 * key), GROVE_ERANGE (2^31 operations or more), GROVE_ENOMEM.
 */
int lin_check_ops(const struct history *h, size_t key, const size_t *ops, const bool *as_info, size_t n,
                  uint64_t max_steps, enum lin_verdict *verdict, uint64_t *steps);

/**
 * @brief Print @p r: one line per key (with @p all_keys, else only the keys
 * that are not LIN_OK), each violation's explanation and excerpt in the
 * history format, each final-read problem, and a summary line.
 * @return 0, or -1 when writing failed.
 */
int lin_report_write(FILE *f, const struct history *h, const struct lin_report *r, bool all_keys);

/** @brief "linearizable", "unknown" or "NOT linearizable". */
const char *lin_verdict_name(enum lin_verdict v);

#endif
