/**
 * @file history.h
 * @brief Histories of concurrent client operations, and the text format in
 * which a fault campaign records them for the linearizability checker
 * (lincheck.h) to read back.
 *
 * A campaign's clients log what they asked and what they were told, not what
 * the servers did: an operation is an invoke event and, later, one completion
 * event from the same process. Writing one line per event as it happens (and
 * not one line per finished operation) keeps a history that a crash of the
 * campaign cut short readable, and keeps the times of both ends of every
 * operation, which is all the real-time order is made of.
 *
 * # The text format
 *
 * UTF-8 text, one event per line; empty lines and lines whose first non-blank
 * character is `#` are ignored. Fields are separated by spaces or tabs.
 *
 *     <process> <type> <f> <key> <value> <time_ns>
 *     final <member> <key> <set>
 *
 * - `process`: a decimal unsigned 64-bit integer naming a client thread. A
 *   process is sequential: it invokes one operation, then completes it, then
 *   may invoke the next. It may invoke again after an `info` completion
 *   (Jepsen instead retires such a process; either is fine here, because an
 *   `info` operation may take effect at any later time whatever its process
 *   does next).
 * - `type`: `invoke`; or one of the completions `ok` (it took effect and
 *   observed `value`), `fail` (it definitely did not take effect: the server
 *   refused it before proposing it) or `info` (unknown: a timeout, a lost
 *   connection; it may have taken effect at any moment after its invoke,
 *   even after the info line, or never). An invoke without a completion by
 *   the end of the file counts as `info`.
 * - `f`: the operation. A key is either a register or a set, never both:
 *   - `write`: set the register to `value`;
 *   - `read`: read the register; `value` is what was seen;
 *   - `add`: add the element `value` (an integer or a string) to a grow-only
 *     set. Each element is added at most once per key (the checker leans on
 *     it: an add is then identified by its element);
 *   - `read_set`: read the whole set; `value` is a set.
 * - `key`: a run of printable non-blank bytes (`x`, `/root/World/Player`) of
 *   at most HISTORY_MAX_KEY bytes.
 * - `value`:
 *   - `nil`: no value; the initial value of every register, and the value of
 *     a read's invoke and of a read that ended in `fail` or `info`;
 *   - an integer: `-12`, `42` (signed 64-bit decimal);
 *   - a string: `"text"`, with the escapes `\\`, `\"`, `\n`, `\r`, `\t` and
 *     `\xHH` (not `\x00`); other control bytes must be escaped. `"42"` and
 *     `42` are different values;
 *   - a set (read_set and final only): `[1, 2, "a"]`, elements are integers or
 *     strings, `[]` is empty. Spaces inside brackets and strings are allowed.
 *   A write's or add's completion repeats the value of its invoke (a mismatch
 *   is refused: it is a bug of the campaign). A write may write `nil`.
 * - `time_ns`: a decimal unsigned 64-bit time in nanoseconds from one
 *   monotonic clock shared by all processes, below UINT64_MAX. Within a
 *   process times never go back; lines of different processes may appear in
 *   any order. Two events at the same time are taken as concurrent.
 *
 * `final` lines hold the whole-set read of a set `key` from one cluster
 * `member` (a token like `1` or `n2`), taken after the campaign healed the
 * cluster and let it settle. They are not part of the concurrent history:
 * the checker verifies that each of them holds every acknowledged add of the
 * key, no add that failed, and no element that was never added.
 *
 * Example:
 *
 *     # two clients, one register
 *     1 invoke write x 1 1000
 *     2 invoke read x nil 1100
 *     1 ok write x 1 1500
 *     2 ok read x 1 1700
 *     3 invoke add s "a" 2000
 *     3 ok add s "a" 2400
 *     final n1 s ["a"]
 *
 * A malformed line is refused with its line number and the reason; the
 * parser checks each process's sequencing and value rules, so a history that
 * reads back is one the checker can trust.
 */
#ifndef GROVE_TESTS_JEPSEN_HISTORY_H
#define GROVE_TESTS_JEPSEN_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** Longest key, in bytes. */
#define HISTORY_MAX_KEY 1024

/** The operations. */
enum history_f {
	HISTORY_WRITE = 0,    /**< register: set the value */
	HISTORY_READ = 1,     /**< register: read the value */
	HISTORY_ADD = 2,      /**< set: add one unique element */
	HISTORY_READ_SET = 3  /**< set: read every element */
};

/** Event types; the last three are the completions. */
enum history_type {
	HISTORY_INVOKE = 0,
	HISTORY_OK = 1,    /**< took effect, observed its value */
	HISTORY_FAIL = 2,  /**< definitely did not take effect */
	HISTORY_INFO = 3   /**< may or may not have taken effect, at any time after its invoke */
};

/** Kinds of values. */
enum history_kind {
	HISTORY_NIL = 0,
	HISTORY_INT = 1,
	HISTORY_STR = 2,
	HISTORY_SET = 3
};

/** A value. Strings are NUL-terminated (`\x00` cannot be written). */
struct history_value {
	enum history_kind kind;
	int64_t i;                    /**< HISTORY_INT */
	char *s;                      /**< HISTORY_STR: owned by whoever holds the value */
	struct history_value *elems;  /**< HISTORY_SET: INT or STR elements, as read (duplicates kept) */
	size_t n_elems;
};

/** One operation: an invoke and its completion. */
struct history_op {
	uint64_t process;
	enum history_f f;
	size_t key;                  /**< index into history.keys */
	enum history_type status;    /**< OK, FAIL or INFO (INFO also for an invoke never completed) */
	struct history_value value;  /**< write/add: what it wrote; read/read_set with OK: what it saw; else nil */
	uint64_t invoke_ns;
	uint64_t complete_ns;        /**< UINT64_MAX when the file ends before its completion */
	size_t invoke_line;          /**< 1-based line numbers in the file */
	size_t complete_line;        /**< 0 when there is no completion line */
};

/** One member's final read of a set key. */
struct history_final {
	char *member;
	size_t key;                  /**< index into history.keys */
	struct history_value set;    /**< HISTORY_SET */
	size_t line;
};

/** How a key is used. */
enum history_model {
	HISTORY_REGISTER = 0,  /**< write / read */
	HISTORY_GSET = 1       /**< add / read_set */
};

/** A whole history. Operations are in the order of their invoke lines. */
struct history {
	char **keys;                  /**< distinct keys, in order of first use */
	enum history_model *models;   /**< per key */
	size_t n_keys;
	struct history_op *ops;
	size_t n_ops;
	struct history_final *finals;
	size_t n_finals;
};

/** Why a history was refused. */
struct history_error {
	size_t line;      /**< 1-based line of the problem (0: not tied to a line, e.g. the file could not be opened) */
	char msg[256];    /**< what is wrong, for a human */
};

/**
 * @brief Parse a history from @p len bytes of @p text (need not be
 * NUL-terminated).
 * @param out receives the history; release it with history_free().
 * @param err receives the line and reason when the text is refused (may be NULL).
 * @return GROVE_OK, GROVE_EPARSE (malformed: see @p err), GROVE_ENOMEM.
 */
int history_parse(const char *text, size_t len, struct history **out, struct history_error *err);

/**
 * @brief Read and parse the history in file @p path ("-" reads stdin).
 * @return as history_parse(), and GROVE_EIO when the file cannot be read
 * (@p err says why, with line 0).
 */
int history_read_file(const char *path, struct history **out, struct history_error *err);

/** @brief Free a history and everything it owns. NULL is allowed. */
void history_free(struct history *h);

/** @brief The format's name of @p f ("write", "read", "add", "read_set"). */
const char *history_f_name(enum history_f f);

/** @brief The format's name of @p t ("invoke", "ok", "fail", "info"). */
const char *history_type_name(enum history_type t);

/**
 * @brief Write @p v in the text format (strings quoted and escaped).
 * @return 0, or -1 when writing to @p f failed.
 */
int history_write_value(FILE *f, const struct history_value *v);

/**
 * @brief Write one event line, for a campaign recording a history. The caller
 * keeps the rules of the format (a process completes what it invoked, a
 * completion repeats the value of a write or an add); @p key must be a
 * non-empty run of printable non-blank bytes.
 * @return 0, or -1 when writing to @p f failed or @p key cannot be written.
 */
int history_write_event(FILE *f, uint64_t process, enum history_type type, enum history_f fn, const char *key,
                        const struct history_value *v, uint64_t time_ns);

/**
 * @brief Write one `final` line: @p member's read of the whole set @p key.
 * @return 0, or -1 when writing to @p f failed or @p member or @p key cannot be written.
 */
int history_write_final(FILE *f, const char *member, const char *key, const struct history_value *set);

/**
 * @brief Write the operations @p ops (indexes into @p h->ops) as event lines
 * in time order, so that the output reads back as a history of just them.
 * @param as_info NULL, or per entry of @p ops: write the completion as `info`
 * (a read so marked is left out: an unknown read says nothing).
 * @return 0, or -1 when writing to @p f failed.
 */
int history_write_ops(FILE *f, const struct history *h, const size_t *ops, const bool *as_info, size_t n);

/**
 * @brief Deep-copy @p src into @p dst (which owns the copy afterwards).
 * @return GROVE_OK, GROVE_ENOMEM (@p dst is then nil).
 */
int history_value_copy(struct history_value *dst, const struct history_value *src);

/** @brief Free what @p v owns and make it nil. */
void history_value_free(struct history_value *v);

/** @brief Whether @p a and @p b are the same value (kind and contents; sets element by element, in order). */
bool history_value_equal(const struct history_value *a, const struct history_value *b);

/** @brief A total order on INT and STR values (NIL first, then integers, then strings); for sorting. */
int history_value_cmp(const struct history_value *a, const struct history_value *b);

#endif
