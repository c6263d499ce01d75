/*
 * apps.h - the reference apps (pantry, board, rota), built on libmutual's
 * public API only (mutual.h), as any outside developer would build them.
 *
 * Every app writes ordinary events (mutual_append) or entity fields
 * (mutual_entity_put) and reads back deterministic state (app SQL
 * projections through mutual_query, or mutual_state_json). The front ends
 * (examples/cli/, examples/web/) only call this.
 *
 * Conventions: functions return 0 or a negative MUTUAL_* code; on error
 * apps_error() says why in one line a volunteer can act on. Strings handed
 * to callbacks are borrowed for the call. Times are milliseconds since
 * 1970 UTC (int64_t) and are shown in the process's local time zone (TZ).
 * Quantities are exact decimals with at most 3 decimals, kept as int64
 * thousandths ("milli"), so sums are exact in any order.
 */
#ifndef MUTUAL_APPS_H
#define MUTUAL_APPS_H

#include <stddef.h>
#include <stdint.h>

#include "mutual.h"

/* ------------------------------------------------------------- shared */

/** The last error of an apps_* / pantry_* / board_* / rota_* call on this thread. */
const char *apps_error(void);

/** Register the three apps' projections on this store handle (once per handle). */
int apps_open(mutual_store *store);

/** A growable string; zero-initialise (`apps_buf b = {0};`). On allocation
 *  failure `failed` is set and later appends do nothing. */
typedef struct apps_buf {
	char *data; /* NUL-terminated once anything was added */
	size_t len;
	size_t cap;
	int failed;
} apps_buf;
void apps_buf_free(apps_buf *b);
void apps_buf_add(apps_buf *b, const char *s, size_t n);
void apps_buf_puts(apps_buf *b, const char *s);
void apps_buf_printf(apps_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The escapes below never pass on a character that acts instead of
 * showing (cli/term.h: C0 controls, DEL, C1 controls, the bidi controls)
 * or a byte that is not valid UTF-8: text from another member's events
 * reaches a browser, a spreadsheet or a terminal through them.
 */
/** A JSON string literal with quotes ("null" for NULL); controls as
 *  \n, \r, \t or \uNNNN, a byte that is not UTF-8 as \ufffd. */
void apps_buf_json(apps_buf *b, const char *s);
/** Text escaped for HTML element content and attribute values; a control
 *  character becomes visible text (\n, \t, \r, \xNN, \uNNNN, as the
 *  command lines show it) and a byte that is not UTF-8 becomes U+FFFD. */
void apps_buf_html(apps_buf *b, const char *s);
/** One CSV field (RFC 4180 quoting; a leading = + - @ is prefixed with '
 *  so a spreadsheet never runs it as a formula). A newline stays, inside
 *  quotes; any other control becomes visible text as in apps_buf_html, a
 *  byte that is not UTF-8 U+FFFD. */
void apps_buf_csv(apps_buf *b, const char *s);

/** Now, milliseconds since 1970 UTC (in a -Dtest_hooks=true build only,
 *  $MUTUAL_APPS_NOW_MS overrides it, for tests). */
int64_t apps_now_ms(void);
/** The wall-clock milliseconds inside an event's hybrid logical clock. */
int64_t apps_hlc_ms(uint64_t hlc);
/** The local time zone's name ("Europe/London"; "UTC" when none is set). */
const char *apps_zone_name(void);
/** "2026-11-26 17:00" in local time. */
void apps_time_local(char out[32], int64_t ms);
/** "2026-11-26 17:00 GMT" in local time, with the zone's abbreviation. */
void apps_time_local_zone(char out[48], int64_t ms);
/** "2026-11-26T17:00:00Z". */
void apps_time_utc(char out[32], int64_t ms);
/** Local wall-clock `date` (YYYY-MM-DD) and `hhmm` (HH:MM) to UTC ms.
 *  MUTUAL_EINVALID for a malformed date, or a time that does not exist that
 *  day (skipped by a daylight-saving change). An ambiguous time (the hour
 *  repeated in autumn) takes its first occurrence. */
int apps_local_to_utc(int64_t *out, const char *date, const char *hhmm);

/** Parse a quantity ("12", "2.5", "0.125") into thousandths; MUTUAL_EINVALID
 *  unless 0 < value <= 1,000,000 with at most 3 decimals (a negative is
 *  allowed when allow_negative, zero never). */
int apps_qty_parse(int64_t *out, const char *text, int allow_negative);
/** Thousandths as the shortest exact decimal ("12", "2.5", "-0.125"). */
void apps_qty_format(char out[32], int64_t milli);

/** A person's or item's name from a form: trimmed, inner runs of white
 *  space made one space, 1..max bytes of valid UTF-8 with no control
 *  characters. Returns a malloc'd copy or NULL (apps_error() says why,
 *  naming `what`). */
char *apps_clean_text(const char *text, size_t max, const char *what);

/* ------------------------------------------------------------- pantry */

/*
 * Events: pantry.donation, pantry.distribution, pantry.adjustment,
 * pantry.threshold. Stock per (item, unit) is the exact sum of donations,
 * minus distributions, plus adjustments: any order of arrival gives the
 * same counts. No names of the people served are ever recorded.
 */

/** Record a donation in: `qty` of `item` in `unit` ("kg", "tins", "bags"...),
 *  from `source` (may be NULL or ""). */
int pantry_donate(mutual_store *store, const char *item, const char *qty, const char *unit,
	const char *source);

/** One line of a distribution. */
typedef struct pantry_line {
	const char *item;
	const char *unit;
	const char *qty;
} pantry_line;

/** Record a hand-out to `households` households (>= 1): `bags` bags and/or
 *  the item lines (at least one of them). `note` may be NULL; it must not
 *  name anyone (the front ends say so). */
int pantry_distribute(mutual_store *store, unsigned int households, unsigned int bags,
	const pantry_line *lines, size_t n_lines, const char *note);

/** Correct the count after a shelf check: `delta` may be negative. */
int pantry_adjust(mutual_store *store, const char *item, const char *unit, const char *delta,
	const char *reason);

/** Set the low-stock threshold of (item, unit); "0" clears it. */
int pantry_set_threshold(mutual_store *store, const char *item, const char *unit, const char *min);

typedef struct pantry_stock_row {
	const char *item; /* as first recorded */
	const char *unit;
	int64_t on_hand;  /* thousandths; negative when more went out than was recorded in */
	int has_threshold;
	int64_t threshold; /* thousandths */
	int low;           /* has_threshold and on_hand <= threshold */
} pantry_stock_row;
typedef int (*pantry_stock_cb)(const pantry_stock_row *row, void *payload);
/** Stock by item name then unit (`low_only`: only the low ones). A non-zero
 *  return from `cb` stops and is returned. */
int pantry_stock_foreach(mutual_store *store, int low_only, pantry_stock_cb cb, void *payload);

typedef struct pantry_history_row {
	int64_t at;             /* when it was recorded (UTC ms) */
	const char *kind;       /* "donation", "distribution", "adjustment", "threshold" */
	const char *item;       /* NULL for a distribution of bags only */
	const char *unit;
	int64_t qty;            /* thousandths: + in, - out */
	unsigned int households; /* distributions */
	unsigned int bags;      /* distributions */
	const char *text;       /* donation source, adjustment reason or distribution note */
	const char *device;     /* the device's name as shown: colliding names carry a key suffix */
	const char *ref;        /* the event, "<device hex>:<seq>": one distribution's lines share it */
} pantry_history_row;
typedef int (*pantry_history_cb)(const pantry_history_row *row, void *payload);
/** History, newest first, at most `limit` rows (0: all). */
int pantry_history_foreach(mutual_store *store, size_t limit, pantry_history_cb cb, void *payload);

/** CSV for a spreadsheet, appended to `out`: stock (item, unit, on_hand,
 *  low_threshold, low) and distributions (one row per line, with both the
 *  UTC time and the local time, whose zone the header names). */
int pantry_stock_csv(apps_buf *out, mutual_store *store);
int pantry_distributions_csv(apps_buf *out, mutual_store *store);

/* -------------------------------------------------------------- board */

/*
 * Posts are entities of kind "board.post" (one register per field), so two
 * claims made offline on two devices both survive the merge: the one that
 * sorts last holds it and the other is shown as a conflict until someone
 * claims or releases again, having seen both.
 */

#define BOARD_CATEGORIES "groceries, medicine, rides, rent-support, other"
#define BOARD_URGENCIES "low, normal, urgent"

typedef struct board_new_post {
	const char *kind;     /* "request" or "offer" */
	const char *category; /* one of BOARD_CATEGORIES */
	const char *title;    /* what is needed or offered */
	const char *area;     /* neighbourhood, never a full address */
	const char *urgency;  /* one of BOARD_URGENCIES; NULL: "normal" */
	const char *contact;  /* how to reach them (may be NULL or "") */
} board_new_post;

/** Post a request or offer; `id_out` receives its id (16 hex). */
int board_post(char id_out[17], mutual_store *store, const board_new_post *post);
/** `who` takes it on (status "claimed", holder `who`). */
int board_claim(mutual_store *store, const char *id, const char *who);
/** Give it back: open again, no holder. */
int board_release(mutual_store *store, const char *id);
int board_fulfil(mutual_store *store, const char *id);
int board_cancel(mutual_store *store, const char *id);
/** Empty the contact field of a fulfilled or cancelled post (MUTUAL_EINVALID
 *  otherwise). The shared state no longer shows it; the event log still
 *  holds the old value on every device that synced it. */
int board_clear_contact(mutual_store *store, const char *id);

typedef struct board_item {
	const char *id, *kind, *category, *title, *area, *urgency, *contact;
	const char *status;  /* "open", "claimed", "fulfilled", "cancelled" (never NULL:
	                      * a field another program left out reads as "") */
	const char *holder;  /* "" when nobody */
	int64_t posted;      /* UTC ms */
	/* Claims that conflicted with `holder` (made without seeing each other). */
	const char *const *conflicting_holders;
	size_t n_conflicting_holders;
	int status_conflict; /* the status itself was set concurrently */
} board_item;
typedef int (*board_item_cb)(const board_item *item, void *payload);
/** Posts, open ones first (urgent first, then oldest); `id` (may be NULL)
 *  limits it to one (MUTUAL_ENOTFOUND when unknown). Closed posts
 *  (fulfilled, cancelled) only when `include_closed`. */
int board_foreach(mutual_store *store, const char *id, int include_closed, board_item_cb cb,
	void *payload);

/* --------------------------------------------------------------- rota */

/*
 * Events: rota.shift, rota.signup, rota.drop, rota.swap, rota.volunteer.
 * A shift is entered as a local date and wall-clock times and stored in
 * UTC; a weekly repeat computes each week's UTC times from the same wall
 * clock, so 17:00 stays 17:00 across a daylight-saving change.
 */

typedef struct rota_new_shift {
	const char *title;       /* "Thursday hand-out" */
	const char *task;        /* what kind of work, to rotate on (NULL: the title) */
	const char *date;        /* local YYYY-MM-DD */
	const char *start;       /* local HH:MM */
	const char *end;         /* local HH:MM; earlier than start means the next day */
	unsigned int slots;      /* people needed, >= 1 */
	unsigned int weeks;      /* 1: once; N: the same weekday and times for N weeks (<= 52) */
} rota_new_shift;

/** Create the shift(s) in one batch; `first_id` receives the first id. */
int rota_shift_add(char first_id[17], mutual_store *store, const rota_new_shift *shift);
/** Add a name to the group's list of volunteers (signing up adds it too). */
int rota_volunteer_add(mutual_store *store, const char *name);
int rota_signup(mutual_store *store, const char *shift_id, const char *volunteer);
int rota_drop(mutual_store *store, const char *shift_id, const char *volunteer);
/** `from` hands their place on the shift to `to`, in one event. */
int rota_swap(mutual_store *store, const char *shift_id, const char *from, const char *to);

typedef struct rota_shift {
	const char *id, *title, *task;
	int64_t start, end;  /* UTC ms */
	unsigned int slots;
	const char *const *volunteers; /* signed up, by name */
	size_t n_volunteers;           /* may exceed slots after an offline merge */
} rota_shift;
typedef int (*rota_shift_cb)(const rota_shift *shift, void *payload);
/** Shifts starting in [from, to), by start time. */
int rota_shifts_foreach(mutual_store *store, int64_t from, int64_t to, rota_shift_cb cb,
	void *payload);

typedef struct rota_load {
	const char *volunteer;
	int64_t minutes;     /* worked in the four weeks before `now` */
	unsigned int shifts;
	int flagged;         /* carrying far more than the median (see rota_workload) */
} rota_load;
typedef int (*rota_load_cb)(const rota_load *load, void *payload);
/** Hours per volunteer over the 28 days before `now` (shifts that started
 *  then), every known volunteer included, most first. Flagged: at least
 *  1.5 times the group's median and at least 4 hours above it.
 *  `median_minutes` (may be NULL) receives the median. */
int rota_workload(mutual_store *store, int64_t now, int64_t *median_minutes, rota_load_cb cb,
	void *payload);

typedef struct rota_suggestion {
	const char *volunteer;
	int64_t minutes;     /* in the last four weeks */
	int64_t last_task;   /* start of their last shift of this task, 0 if never */
} rota_suggestion;
typedef int (*rota_suggestion_cb)(const rota_suggestion *s, void *payload);
/** Who could take this shift next, best first: not already on it, not on
 *  an overlapping shift; fewest hours in the last four weeks, then longest
 *  since they last did this task, then name. */
int rota_suggest(mutual_store *store, const char *shift_id, int64_t now, rota_suggestion_cb cb,
	void *payload);

#endif
