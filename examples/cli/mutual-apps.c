/*
 * mutual-apps.c - the reference apps' command line: the pantry inventory,
 * the requests-and-offers board and the volunteer rota, over the apps
 * library (examples/apps/apps.h) and nothing else.
 *
 * Like `mutual`, every command opens the store named by --store (or
 * $MUTUAL_STORE), does one thing and exits: 0 on success, non-zero with
 * "mutual-apps: <what went wrong>" on stderr. Arguments are checked before
 * the store is opened, so a typo costs nothing and says how to fix it
 * (exit 2). With --json a command prints exactly one JSON document on
 * stdout, for scripts; otherwise it prints for a person, in local time
 * with the zone's abbreviation, since a pantry's volunteers read the
 * screen, not UTC.
 *
 * Every value printed for a person (a name, a post, an argument echoed
 * back, a message that may quote them) goes through term.h, since another
 * member's events may hold characters a terminal obeys; the JSON escape
 * (apps_buf_json) and the CSV one keep them out of those outputs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apps.h"
#include "term.h"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_UNVERIFIED = 3,
	EXIT_BUSY = 4,
};

typedef struct ctx ctx;

typedef struct command {
	const char *words; /* "pantry donate" */
	const char *args;  /* its arguments, for the usage line */
	const char *help;  /* what it does, for a volunteer */
	int (*run)(ctx *c);
} command;

struct ctx {
	const char *store;
	int json;
	const command *cmd;
	int argc; /* the command's arguments, after its words */
	char **argv;
	apps_buf out; /* the JSON document, with --json */
};

/* ------------------------------------------------------------ errors */

static int fail_status(int rc)
{
	if (rc == MUTUAL_EVERIFY || rc == MUTUAL_ECORRUPT)
		return EXIT_UNVERIFIED;
	if (rc == MUTUAL_EBUSY)
		return EXIT_BUSY;
	return EXIT_FAIL;
}

/* An apps_* call failed: say why, in its words. */
static int report(int rc)
{
	fprintf(stderr, "mutual-apps: %s\n", term_text(apps_error()));
	return fail_status(rc);
}

static int out_of_memory(void)
{
	fprintf(stderr, "mutual-apps: out of memory\n");
	return EXIT_FAIL;
}

static int usage_error(const ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const ctx *c, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	int n;
	/* The message quotes arguments and apps_error(): escaped whole (our
	 * formats hold no character the escape changes). */
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "mutual-apps: %s", n < 0 ? "out of memory" : term_text(msg));
	free(msg);
	fprintf(stderr, "\n(run 'mutual-apps%s%s --help' for usage)\n", c->cmd ? " " : "",
		c->cmd ? c->cmd->words : "");
	return EXIT_USAGE;
}

/* -------------------------------------------------------- arguments */

/*
 * A command's options. Each is a flag, takes one value (given twice is a
 * mistake worth pointing out), or hands `nargs` values to `take` (the
 * repeated --item ITEM QTY UNIT of a hand-out). --json is everyone's.
 */
typedef struct opt {
	const char *name;
	const char **value;
	int *flag;
	int (*take)(ctx *c, char **args, void *payload);
	int nargs;
	void *payload;
} opt;

/* Read the arguments: options, then positionals into pos[0..max_pos)
 * (a lone "--" ends the options). Returns EXIT_OK or a usage error. */
static int parse(ctx *c, const opt *opts, const char **pos, int min_pos, int max_pos, const char *what)
{
	int n = 0, options = 1;

	for (int i = 0; i < c->argc; i++) {
		const char *a = c->argv[i], *eq, *inline_value = NULL;
		const opt *o = NULL;
		size_t len;

		if (options && strcmp(a, "--") == 0) {
			options = 0;
			continue;
		}
		if (!options || strncmp(a, "--", 2) != 0) {
			if (n >= max_pos)
				return usage_error(c, "unexpected '%s'", a);
			pos[n++] = a;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			c->json = 1;
			continue;
		}
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		for (const opt *p = opts; p && p->name; p++)
			if (strlen(p->name) == len && strncmp(p->name, a, len) == 0)
				o = p;
		if (!o)
			return usage_error(c, "unknown option '%.*s'", (int)len, a);
		if (o->flag) {
			if (eq)
				return usage_error(c, "%s takes no value", o->name);
			*o->flag = 1;
			continue;
		}
		if (eq)
			inline_value = eq + 1;
		if (o->take) {
			int rc;
			if (eq || i + o->nargs >= c->argc)
				return usage_error(c, "%s needs %d values", o->name, o->nargs);
			if ((rc = o->take(c, c->argv + i + 1, o->payload)) != EXIT_OK)
				return rc;
			i += o->nargs;
			continue;
		}
		if (*o->value)
			return usage_error(c, "%s is given twice", o->name);
		if (!inline_value) {
			if (i + 1 >= c->argc)
				return usage_error(c, "%s needs a value", o->name);
			inline_value = c->argv[++i];
		}
		*o->value = inline_value;
	}
	if (n < min_pos)
		return usage_error(c, "%s needs %s", c->cmd->words, what);
	return EXIT_OK;
}

/* A whole number in [min, max], or a usage error naming `what`. */
static int parse_count(const ctx *c, unsigned int *out, const char *text, unsigned int min, unsigned int max,
	const char *what)
{
	unsigned long v = 0;
	const char *p = text;

	if (!*p)
		return usage_error(c, "%s needs a whole number", what);
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > max)
			return usage_error(c, "%s must be a whole number from %u to %u, not '%s'", what, min, max,
				text);
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < min || v > max)
		return usage_error(c, "%s must be a whole number from %u to %u, not '%s'", what, min, max, text);
	*out = (unsigned int)v;
	return EXIT_OK;
}

/* A quantity the apps will accept (the same rule they apply), checked
 * here so a typo is a usage error that names the argument. */
static int check_qty(const ctx *c, const char *text, int allow_negative, const char *what)
{
	int64_t milli;
	if (apps_qty_parse(&milli, text, allow_negative) < 0)
		return usage_error(c, "%s: %s", what, apps_error());
	return EXIT_OK;
}

/* `word` is one of the ", "-separated `list` (BOARD_CATEGORIES). */
static int one_of(const char *word, const char *list)
{
	size_t n = strlen(word);
	for (const char *p = list; n && (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

/* ------------------------------------------------------------- store */

/*
 * Every command that reads or writes opens the store, makes one apps call
 * and closes the store again before it prints: what it prints was copied
 * out during the call (the apps' strings are only borrowed for a callback),
 * and a failure's message is the apps' own, kept per thread.
 */
static int open_apps(ctx *c, mutual_store **s)
{
	int rc;
	*s = NULL;
	if (!c->store || !*c->store)
		return usage_error(c, "%s needs --store DIR (or MUTUAL_STORE set)", c->cmd->words);
	if ((rc = mutual_store_open(s, c->store, MUTUAL_OPEN_DEFAULT)) < 0) {
		fprintf(stderr, "mutual-apps: %s\n", term_text(mutual_error_last()));
		return fail_status(rc);
	}
	if ((rc = apps_open(*s)) < 0) {
		mutual_store_free(*s);
		*s = NULL;
		return report(rc);
	}
	return EXIT_OK;
}

/* Close the store after the apps call that returned `rc`, saying why it
 * failed if it did. */
static int close_apps(mutual_store *s, int rc)
{
	mutual_store_free(s);
	return rc < 0 ? report(rc) : EXIT_OK;
}

/* ------------------------------------------------------------ output */

/*
 * The JSON document (with --json) is built in c->out, field by field. A
 * field or an array's element goes after a comma unless it comes first,
 * which the buffer itself tells: its last byte is then '{' or '['.
 */
static void json_next(apps_buf *b)
{
	if (b->len && b->data[b->len - 1] != '{' && b->data[b->len - 1] != '[')
		apps_buf_puts(b, ",");
}

static void json_key(apps_buf *b, const char *key)
{
	json_next(b);
	apps_buf_json(b, key);
	apps_buf_puts(b, ":");
}

static void json_str(apps_buf *b, const char *key, const char *value)
{
	json_key(b, key);
	apps_buf_json(b, value);
}

/* Several string fields: the arguments are key, value, key, value... up
 * to a NULL key; a NULL value is null. */
static void json_strs(apps_buf *b, ...) __attribute__((sentinel));
static void json_strs(apps_buf *b, ...)
{
	const char *key;
	va_list ap;
	va_start(ap, b);
	while ((key = va_arg(ap, const char *)) != NULL)
		json_str(b, key, va_arg(ap, const char *));
	va_end(ap);
}

/* "key":["a","b"] */
static void json_list(apps_buf *b, const char *key, const char *const *v, size_t n)
{
	json_key(b, key);
	apps_buf_puts(b, "[");
	for (size_t i = 0; i < n; i++) {
		json_next(b);
		apps_buf_json(b, v[i]);
	}
	apps_buf_puts(b, "]");
}

/* "key":"2026-11-26T17:00:00Z","key_ms":N,"key_local":"2026-11-26 17:00 GMT" */
static void json_time(apps_buf *b, const char *key, int64_t ms)
{
	char utc[32], local[48];
	apps_time_utc(utc, ms);
	apps_time_local_zone(local, ms);
	json_key(b, key);
	apps_buf_printf(b, "\"%s\",\"%s_ms\":%" PRId64 ",\"%s_local\":", utc, key, ms, key);
	apps_buf_json(b, local);
}

static void json_qty(apps_buf *b, const char *key, int64_t milli)
{
	char q[32];
	apps_qty_format(q, milli);
	json_key(b, key);
	apps_buf_printf(b, "\"%s\"", q);
}

/* The result of a write, with --json: {"ok":true,"done":what,...}; the
 * caller adds its fields. */
static void json_ok(ctx *c, const char *what)
{
	apps_buf_puts(&c->out, "{\"ok\":true");
	json_str(&c->out, "done", what);
}

/* Close the JSON document with `tail` and print it: the one thing on
 * stdout. */
static int emit_json(ctx *c, const char *tail)
{
	apps_buf_puts(&c->out, tail);
	if (c->out.failed)
		return out_of_memory();
	printf("%s\n", c->out.data ? c->out.data : "{}");
	return EXIT_OK;
}

/* An optional text the user may have left empty: NULL then. */
static const char *nonempty(const char *text)
{
	return text && *text ? text : NULL;
}

/* A quantity check_qty accepted, in thousandths, and in `q` as shown. */
static int64_t qty_of(char q[32], const char *text)
{
	int64_t milli = 0;
	apps_qty_parse(&milli, text, 1);
	apps_qty_format(q, milli);
	return milli;
}

/*
 * A table for a person: columns padded to the widest cell (counted in
 * characters, so "crème fraîche" lines up), numbers aligned right. The
 * cells are copied: the apps' strings are only borrowed for a callback.
 */
typedef struct table {
	char **cells;
	size_t n, cap, cols;
	const char *align; /* 'l' or 'r' per column */
	int failed;
} table;

static void cell(table *t, const char *text)
{
	char *copy;
	if (t->failed)
		return;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **grown = realloc(t->cells, cap * sizeof(*grown));
		if (!grown) {
			t->failed = 1;
			return;
		}
		t->cells = grown;
		t->cap = cap;
	}
	/* escaped here, so the widths are those of what is shown */
	if (!(copy = strdup(term_text(text)))) {
		t->failed = 1;
		return;
	}
	t->cells[t->n++] = copy;
}

/* Columns aligned as `align` says, one per letter, under `header` (one
 * title per column; NULL: no header). */
static void table_start(table *t, const char *align, const char *const *header)
{
	t->align = align;
	t->cols = strlen(align);
	for (size_t i = 0; header && i < t->cols; i++)
		cell(t, header[i]);
}

static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static int table_print(table *t)
{
	size_t widths[16] = { 0 };
	apps_buf line = { 0 };

	for (size_t i = 0; i < t->n; i++)
		if (width(t->cells[i]) > widths[i % t->cols])
			widths[i % t->cols] = width(t->cells[i]);
	for (size_t i = 0; i < t->n && !t->failed; i++) {
		size_t col = i % t->cols, pad = widths[col] - width(t->cells[i]);
		if (t->align[col] == 'r')
			apps_buf_printf(&line, "%*s%s", (int)pad, "", t->cells[i]);
		else
			apps_buf_printf(&line, "%s%*s", t->cells[i], (int)pad, "");
		if (col + 1 < t->cols) {
			apps_buf_puts(&line, "  ");
			continue;
		}
		/* no padding at the end of a line */
		while (line.len && line.data[line.len - 1] == ' ')
			line.data[--line.len] = '\0';
		printf("%s\n", line.data ? line.data : "");
		t->failed |= line.failed;
		line.len = 0;
	}
	apps_buf_free(&line);
	return t->failed ? out_of_memory() : EXIT_OK;
}

static void table_free(table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* What a listing's callback fills: the JSON array (with --json) or the
 * table, and how many rows it has given. */
typedef struct listing {
	ctx *c;
	table t;
	size_t n;
} listing;

/* "12:30" from minutes. */
static void hours(char out[32], int64_t minutes)
{
	snprintf(out, 32, "%" PRId64 ":%02" PRId64, minutes / 60, minutes % 60);
}

/* ------------------------------------------------------------ pantry */

static int cmd_pantry_donate(ctx *c)
{
	const char *pos[3], *from = NULL;
	const opt opts[] = { { .name = "--from", .value = &from }, { 0 } };
	mutual_store *s;
	int64_t milli;
	char q[32];
	int status;

	if ((status = parse(c, opts, pos, 3, 3, "ITEM QTY UNIT, like: pantry donate rice 12.5 kg")) ||
		(status = check_qty(c, pos[1], 0, "QTY")) || (status = open_apps(c, &s)) ||
		(status = close_apps(s, pantry_donate(s, pos[0], pos[1], pos[2], from))))
		return status;
	milli = qty_of(q, pos[1]);
	if (c->json) {
		json_ok(c, "donation");
		json_str(&c->out, "item", pos[0]);
		json_qty(&c->out, "qty", milli);
		json_strs(&c->out, "unit", pos[2], "from", nonempty(from), NULL);
		return emit_json(c, "}");
	}
	printf("Recorded a donation: %s %s of %s%s%s.\n", q, term_text(pos[2]), term_text(pos[0]),
		nonempty(from) ? " from " : "", term_text(nonempty(from)));
	return EXIT_OK;
}

typedef struct give_lines {
	pantry_line *v;
	size_t n;
} give_lines;

static int take_item(ctx *c, char **args, void *payload)
{
	give_lines *lines = payload;
	pantry_line *grown;
	int status;

	if ((status = check_qty(c, args[1], 0, "--item QTY")) != EXIT_OK)
		return status;
	if (!(grown = realloc(lines->v, (lines->n + 1) * sizeof(*grown))))
		return out_of_memory();
	lines->v = grown;
	grown[lines->n].item = args[0];
	grown[lines->n].qty = args[1];
	grown[lines->n].unit = args[2];
	lines->n++;
	return EXIT_OK;
}

static int cmd_pantry_give(ctx *c)
{
	const char *households_text = NULL, *bags_text = NULL, *note = NULL;
	give_lines lines = { NULL, 0 };
	const opt opts[] = {
		{ .name = "--households", .value = &households_text },
		{ .name = "--bags", .value = &bags_text },
		{ .name = "--note", .value = &note },
		{ .name = "--item", .take = take_item, .nargs = 3, .payload = &lines },
		{ 0 },
	};
	unsigned int households = 0, bags = 0;
	mutual_store *s;
	int status;

	if ((status = parse(c, opts, NULL, 0, 0, "")) != EXIT_OK)
		goto done;
	if (!households_text) {
		status = usage_error(c, "%s needs --households N (how many households; never their names)",
			c->cmd->words);
		goto done;
	}
	if ((status = parse_count(c, &households, households_text, 1, 100000, "--households")) ||
		(bags_text && (status = parse_count(c, &bags, bags_text, 0, 100000, "--bags"))))
		goto done;
	if (bags == 0 && lines.n == 0) {
		status = usage_error(c, "%s needs --bags N or at least one --item ITEM QTY UNIT", c->cmd->words);
		goto done;
	}
	if ((status = open_apps(c, &s)) ||
		(status = close_apps(s, pantry_distribute(s, households, bags, lines.v, lines.n, note))))
		goto done;
	if (c->json) {
		json_ok(c, "distribution");
		apps_buf_printf(&c->out, ",\"households\":%u,\"bags\":%u,\"items\":[", households, bags);
	} else {
		printf("Recorded a hand-out to %u household%s:", households, households == 1 ? "" : "s");
		if (bags)
			printf(" %u bag%s%s", bags, bags == 1 ? "" : "s", lines.n ? "," : "");
	}
	for (size_t i = 0; i < lines.n; i++) {
		char q[32];
		int64_t milli = qty_of(q, lines.v[i].qty);
		if (c->json) {
			apps_buf_puts(&c->out, i ? ",{" : "{");
			json_str(&c->out, "item", lines.v[i].item);
			json_qty(&c->out, "qty", milli);
			json_str(&c->out, "unit", lines.v[i].unit);
			apps_buf_puts(&c->out, "}");
		} else {
			printf(" %s %s of %s%s", q, term_text(lines.v[i].unit), term_text(lines.v[i].item),
				i + 1 < lines.n ? "," : "");
		}
	}
	if (c->json) {
		apps_buf_puts(&c->out, "]");
		json_str(&c->out, "note", nonempty(note));
		status = emit_json(c, "}");
	} else {
		printf(".\n");
	}
done:
	free(lines.v);
	return status;
}

static int cmd_pantry_adjust(ctx *c)
{
	const char *pos[3], *reason = NULL;
	const opt opts[] = { { .name = "--reason", .value = &reason }, { 0 } };
	mutual_store *s;
	int64_t milli;
	char q[32];
	int status;

	if ((status = parse(c, opts, pos, 3, 3, "ITEM DELTA UNIT, like: pantry adjust rice -2.5 kg")) ||
		(status = check_qty(c, pos[1], 1, "DELTA")) || (status = open_apps(c, &s)) ||
		(status = close_apps(s, pantry_adjust(s, pos[0], pos[2], pos[1], reason))))
		return status;
	milli = qty_of(q, pos[1]);
	if (c->json) {
		json_ok(c, "adjustment");
		json_str(&c->out, "item", pos[0]);
		json_qty(&c->out, "delta", milli);
		json_str(&c->out, "unit", pos[2]);
		return emit_json(c, "}");
	}
	printf("Recorded an adjustment: %s%s %s of %s.\n", milli > 0 ? "+" : "", q, term_text(pos[2]),
		term_text(pos[0]));
	return EXIT_OK;
}

/* "0", "0.0", "0.000": the threshold that clears one. */
static int is_zero(const char *text)
{
	const char *p = text;
	while (*p == '0')
		p++;
	if (*p == '.' || *p == ',')
		for (p++; *p == '0'; p++)
			;
	return p != text && *p == '\0' && text[0] == '0';
}

static int cmd_pantry_threshold(ctx *c)
{
	const char *pos[3];
	mutual_store *s;
	char q[32];
	int status, clear;

	if ((status = parse(c, NULL, pos, 3, 3, "ITEM MIN UNIT, like: pantry threshold rice 5 kg")) != EXIT_OK)
		return status;
	clear = is_zero(pos[1]);
	if ((!clear && (status = check_qty(c, pos[1], 0, "MIN"))) || (status = open_apps(c, &s)) ||
		(status = close_apps(s, pantry_set_threshold(s, pos[0], pos[2], pos[1]))))
		return status;
	if (c->json) {
		json_ok(c, "threshold");
		json_strs(&c->out, "item", pos[0], "unit", pos[2], NULL);
		if (clear)
			json_str(&c->out, "threshold", NULL);
		else
			json_qty(&c->out, "threshold", qty_of(q, pos[1]));
		return emit_json(c, "}");
	}
	if (clear) {
		printf("No low-stock warning for %s (%s) any more.\n", term_text(pos[0]), term_text(pos[2]));
	} else {
		qty_of(q, pos[1]);
		printf("%s (%s) shows as LOW at %s %s or less.\n", term_text(pos[0]), term_text(pos[2]), q,
			term_text(pos[2]));
	}
	return EXIT_OK;
}

typedef struct stock_ctx {
	ctx *c;
	table t;
	size_t rows;
	int negative;
} stock_ctx;

static const char negative_note[] = "more out than recorded in: count the shelf";

static int stock_row(const pantry_stock_row *row, void *payload)
{
	stock_ctx *st = payload;
	apps_buf *b = &st->c->out;
	char q[32], min[32] = "";

	apps_qty_format(q, row->on_hand);
	if (row->has_threshold)
		apps_qty_format(min, row->threshold);
	if (st->c->json) {
		apps_buf_puts(b, st->rows ? ",{" : "{");
		json_strs(b, "item", row->item, "unit", row->unit, NULL);
		json_qty(b, "on_hand", row->on_hand);
		json_str(b, "threshold", row->has_threshold ? min : NULL);
		apps_buf_printf(b, ",\"low\":%s,\"negative\":%s}", row->low ? "true" : "false",
			row->on_hand < 0 ? "true" : "false");
	} else {
		char note[128];
		snprintf(note, sizeof(note), "%s%s%s", row->low ? "LOW" : "",
			row->low && row->on_hand < 0 ? ", " : "", row->on_hand < 0 ? negative_note : "");
		cell(&st->t, row->item);
		cell(&st->t, row->unit);
		cell(&st->t, q);
		cell(&st->t, min);
		cell(&st->t, note);
		st->negative |= row->on_hand < 0;
	}
	st->rows++;
	return 0;
}

static int cmd_pantry_stock(ctx *c)
{
	static const char *const header[] = { "ITEM", "UNIT", "ON HAND", "LOW AT", "" };
	int low = 0, status;
	const opt opts[] = { { .name = "--low", .flag = &low }, { 0 } };
	stock_ctx st = { .c = c };
	mutual_store *s;

	if ((status = parse(c, opts, NULL, 0, 0, "")) || (status = open_apps(c, &s)))
		return status;
	if (c->json)
		apps_buf_printf(&c->out, "{\"low_only\":%s,\"items\":[", low ? "true" : "false");
	else
		table_start(&st.t, "llrrl", header);
	if ((status = close_apps(s, pantry_stock_foreach(s, low, stock_row, &st))) != EXIT_OK)
		goto done;
	if (c->json) {
		status = emit_json(c, "]}");
	} else if (st.rows == 0) {
		printf("%s\n", low ? "Nothing is low." : "No stock recorded yet.");
	} else {
		status = table_print(&st.t);
		if (st.negative)
			printf("\nA negative count means more went out than was recorded in: count the shelf,\n"
			       "then record the difference with 'mutual-apps pantry adjust ITEM DELTA UNIT'.\n");
	}
done:
	table_free(&st.t);
	return status;
}

typedef struct history_ctx {
	ctx *c;
	table t;
	size_t rows;
	char *last_ref; /* the hand-out whose first line was shown */
	int failed;
} history_ctx;

static int history_row(const pantry_history_row *row, void *payload)
{
	history_ctx *h = payload;
	apps_buf *b = &h->c->out;
	apps_buf details = { 0 };
	char when[48], q[40] = "";
	int same = h->last_ref && row->ref && strcmp(h->last_ref, row->ref) == 0;

	if (h->c->json) {
		apps_buf_puts(b, h->rows ? ",{" : "{");
		json_time(b, "at", row->at);
		json_strs(b, "kind", row->kind, "item", row->item, "unit", row->unit, NULL);
		if (row->item)
			json_qty(b, "qty", row->qty);
		else
			json_str(b, "qty", NULL);
		apps_buf_printf(b, ",\"households\":%u,\"bags\":%u", row->households, row->bags);
		json_strs(b, "text", nonempty(row->text), "device", row->device, "ref", row->ref, NULL);
		apps_buf_puts(b, "}");
		h->rows++;
		return 0;
	}
	apps_time_local_zone(when, row->at);
	if (row->item && row->qty > 0 && strcmp(row->kind, "threshold") != 0) {
		q[0] = '+';
		apps_qty_format(q + 1, row->qty);
	} else if (row->item) {
		apps_qty_format(q, row->qty);
	}
	if (strcmp(row->kind, "distribution") == 0 && same) {
		apps_buf_puts(&details, "(the same hand-out)");
	} else if (strcmp(row->kind, "distribution") == 0) {
		apps_buf_printf(&details, "hand-out to %u household%s", row->households,
			row->households == 1 ? "" : "s");
		if (row->bags)
			apps_buf_printf(&details, ", %u bag%s", row->bags, row->bags == 1 ? "" : "s");
		if (nonempty(row->text))
			apps_buf_printf(&details, " (%s)", row->text);
	} else if (strcmp(row->kind, "threshold") == 0) {
		apps_buf_puts(&details, row->qty ? "low-stock warning at this level"
						 : "low-stock warning cleared");
	} else if (nonempty(row->text)) {
		apps_buf_printf(&details, "%s%s", strcmp(row->kind, "donation") == 0 ? "from " : "", row->text);
	}
	cell(&h->t, when);
	cell(&h->t, row->kind);
	cell(&h->t, q);
	cell(&h->t, row->unit);
	cell(&h->t, row->item);
	cell(&h->t, row->device);
	cell(&h->t, details.data);
	h->failed |= details.failed;
	apps_buf_free(&details);
	free(h->last_ref);
	h->last_ref = row->ref ? strdup(row->ref) : NULL;
	h->failed |= row->ref && !h->last_ref;
	h->rows++;
	return 0;
}

static int cmd_pantry_history(ctx *c)
{
	static const char *const header[] = { "WHEN", "WHAT", "QTY", "UNIT", "ITEM", "DEVICE", "DETAILS" };
	const char *limit_text = NULL;
	const opt opts[] = { { .name = "--limit", .value = &limit_text }, { 0 } };
	history_ctx h = { .c = c };
	unsigned int limit = 0;
	mutual_store *s;
	int status;

	if ((status = parse(c, opts, NULL, 0, 0, "")) ||
		(limit_text && (status = parse_count(c, &limit, limit_text, 1, 1000000, "--limit"))) ||
		(status = open_apps(c, &s)))
		return status;
	if (c->json) {
		apps_buf_puts(&c->out, "{");
		json_str(&c->out, "zone", apps_zone_name());
		apps_buf_puts(&c->out, ",\"rows\":[");
	} else {
		table_start(&h.t, "llrllll", header);
	}
	if ((status = close_apps(s, pantry_history_foreach(s, limit, history_row, &h))) != EXIT_OK)
		goto done;
	if (h.failed)
		status = out_of_memory();
	else if (c->json)
		status = emit_json(c, "]}");
	else if (h.rows == 0)
		printf("Nothing recorded yet.\n");
	else
		status = table_print(&h.t);
done:
	free(h.last_ref);
	table_free(&h.t);
	return status;
}

/* Replace `path` in one step: a temporary file beside it, written,
 * flushed to disk and renamed over it, so a spreadsheet never opens half
 * a file. Mode 0644: an export is meant to be opened by other programs
 * (it holds no names of the people served). */
static int write_atomic(const char *path, const char *data, size_t len)
{
	size_t n = strlen(path);
	/* escaped before any failure, so no allocation comes between a failed
	 * call and the strerror(errno) that says why */
	const char *shown = term_text(path);
	char *tmp = malloc(n + 16), *dir = strdup(path), *slash;
	int fd = -1, dirfd = -1, status = EXIT_FAIL;

	if (!tmp || !dir) {
		out_of_memory();
		goto done;
	}
	snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		fprintf(stderr, "mutual-apps: cannot write %s: %s\n", shown, strerror(errno));
		goto done;
	}
	if (fchmod(fd, 0644) < 0)
		goto io_error;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto io_error;
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		goto io_error;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto io_error;
	slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir] = '\0';
	if ((dirfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY)) < 0 || fsync(dirfd) < 0) {
		fprintf(stderr, "mutual-apps: wrote %s but could not flush its folder: %s\n", shown,
			strerror(errno));
		goto done;
	}
	status = EXIT_OK;
	goto done;
io_error:
	fprintf(stderr, "mutual-apps: cannot write %s: %s\n", shown, strerror(errno));
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(tmp);
done:
	if (dirfd >= 0)
		close(dirfd);
	free(tmp);
	free(dir);
	return status;
}


static int cmd_pantry_export(ctx *c)
{
	const char *pos[1], *output = NULL;
	const opt opts[] = { { .name = "--output", .value = &output }, { 0 } };
	apps_buf csv = { 0 };
	mutual_store *s;
	int status, stock;

	if ((status = parse(c, opts, pos, 1, 1, "what to export: stock or distributions")) != EXIT_OK)
		return status;
	stock = strcmp(pos[0], "stock") == 0;
	if (!stock && strcmp(pos[0], "distributions") != 0)
		return usage_error(c, "can export stock or distributions, not '%s'", pos[0]);
	if (c->json && !output)
		return usage_error(c, "writes CSV; --json only goes with --output FILE");
	if ((status = open_apps(c, &s)) != EXIT_OK)
		return status;
	if ((status = close_apps(s, stock ? pantry_stock_csv(&csv, s) : pantry_distributions_csv(&csv, s))))
		goto done;
	if (csv.failed) {
		status = out_of_memory();
	} else if (!output) {
		if ((csv.len && fwrite(csv.data, 1, csv.len, stdout) != csv.len) || fflush(stdout) != 0) {
			fprintf(stderr, "mutual-apps: cannot write the CSV to standard output: %s\n", strerror(errno));
			status = EXIT_FAIL;
		}
	} else if ((status = write_atomic(output, csv.data ? csv.data : "", csv.len)) == EXIT_OK) {
		if (c->json) {
			json_ok(c, "export");
			json_strs(&c->out, "what", pos[0], "output", output, NULL);
			apps_buf_printf(&c->out, ",\"bytes\":%zu", csv.len);
			status = emit_json(c, "}");
		} else {
			printf("Wrote the %s to %s (CSV, %zu bytes%s%s).\n", pos[0], term_text(output), csv.len,
				stock ? "" : "; times in UTC and in ", stock ? "" : term_text(apps_zone_name()));
		}
	}
done:
	apps_buf_free(&csv);
	return status;
}

/* ------------------------------------------------------------- board */

static void json_post(apps_buf *b, const board_item *it)
{
	apps_buf_puts(b, "{");
	json_strs(b, "id", it->id, "kind", it->kind, "category", it->category, "title", it->title, "area",
		it->area, "urgency", it->urgency, "contact", it->contact, "status", it->status, "holder",
		it->holder, NULL);
	json_time(b, "posted", it->posted);
	json_list(b, "conflicting_holders", it->conflicting_holders, it->n_conflicting_holders);
	apps_buf_printf(b, ",\"status_conflict\":%s}", it->status_conflict ? "true" : "false");
}

/* The status line, with a conflict said plainly: who else claimed it and
 * what to do about it. */
static void status_line(apps_buf *b, const board_item *it)
{
	int claimed = strcmp(it->status, "claimed") == 0;

	if (claimed)
		apps_buf_printf(b, "claimed by %s", it->holder);
	else if (*it->holder)
		apps_buf_printf(b, "%s (%s)", it->status, it->holder);
	else
		apps_buf_puts(b, it->status);
	if (it->n_conflicting_holders) {
		apps_buf_puts(b, " \xe2\x80\x94 CONFLICT: ");
		for (size_t i = 0; i < it->n_conflicting_holders; i++)
			apps_buf_printf(b, "%s%s", i == 0 ? "" : i + 1 < it->n_conflicting_holders ? ", " : " and ",
				it->conflicting_holders[i]);
		apps_buf_printf(b, " %sclaimed it offline; agree who does it, then claim again",
			*it->holder ? "also " : "");
	} else if (it->status_conflict) {
		apps_buf_puts(b, " \xe2\x80\x94 CONFLICT: its status was changed on two devices offline; "
				 "claim, release, fulfil or cancel it again to settle it");
	}
}

typedef struct board_ctx {
	ctx *c;
	int with_contact;
	size_t n;
	int failed;
} board_ctx;

static int print_post(const board_item *it, void *payload)
{
	board_ctx *bc = payload;
	apps_buf line = { 0 };
	char posted[48];

	if (bc->c->json) {
		json_next(&bc->c->out);
		json_post(&bc->c->out, it);
		bc->n++;
		return 0;
	}
	apps_time_local_zone(posted, it->posted);
	status_line(&line, it);
	bc->failed |= line.failed;
	printf("%s%s  %s, %s, %s\n", bc->n ? "\n" : "", term_text(it->id), term_text(it->kind),
		term_text(it->category), term_text(it->urgency));
	printf("  %s\n", term_text(it->title));
	printf("  area: %s    posted: %s\n", term_text(it->area), posted);
	if (bc->with_contact)
		printf("  contact: %s\n", *it->contact ? term_text(it->contact) : "(none)");
	/* the line holds the holders' names */
	printf("  status: %s\n", term_text(line.data));
	apps_buf_free(&line);
	bc->n++;
	return 0;
}

static int cmd_board_post(ctx *c)
{
	const char *pos[1], *category = NULL, *title = NULL, *area = NULL, *urgency = NULL, *contact = NULL;
	const opt opts[] = {
		{ .name = "--category", .value = &category },
		{ .name = "--title", .value = &title },
		{ .name = "--area", .value = &area },
		{ .name = "--urgency", .value = &urgency },
		{ .name = "--contact", .value = &contact },
		{ 0 },
	};
	board_new_post post;
	mutual_store *s;
	char id[17];
	int status;

	if ((status = parse(c, opts, pos, 1, 1, "request or offer")) != EXIT_OK)
		return status;
	if (strcmp(pos[0], "request") != 0 && strcmp(pos[0], "offer") != 0)
		return usage_error(c, "posts a request or an offer, not '%s'", pos[0]);
	if (!category || !title || !area)
		return usage_error(c, "%s needs --category, --title and --area", c->cmd->words);
	if (!one_of(category, BOARD_CATEGORIES))
		return usage_error(c, "--category is one of: %s (not '%s')", BOARD_CATEGORIES, category);
	if (urgency && !one_of(urgency, BOARD_URGENCIES))
		return usage_error(c, "--urgency is one of: %s (not '%s')", BOARD_URGENCIES, urgency);
	post = (board_new_post){ pos[0], category, title, area, urgency, contact };
	if ((status = open_apps(c, &s)) || (status = close_apps(s, board_post(id, s, &post))))
		return status;
	if (c->json) {
		json_ok(c, "post");
		json_str(&c->out, "id", id);
		return emit_json(c, "}");
	}
	printf("%s\n", id);
	return EXIT_OK;
}

static int show_posts(ctx *c, const char *id, int all)
{
	board_ctx bc = { c, id != NULL, 0, 0 };
	mutual_store *s;
	int status;

	if ((status = open_apps(c, &s)) != EXIT_OK)
		return status;
	if (c->json && !id)
		apps_buf_puts(&c->out, "{\"posts\":[");
	if ((status = close_apps(s, board_foreach(s, id, all || id, print_post, &bc))) != EXIT_OK)
		return status;
	if (bc.failed)
		return out_of_memory();
	if (c->json)
		return emit_json(c, id ? "" : "]}");
	if (bc.n == 0)
		printf("%s\n", all ? "No posts yet." : "No open posts.");
	return EXIT_OK;
}

static int cmd_board_list(ctx *c)
{
	int all = 0, status;
	const opt opts[] = { { .name = "--all", .flag = &all }, { 0 } };
	if ((status = parse(c, opts, NULL, 0, 0, "")) != EXIT_OK)
		return status;
	return show_posts(c, NULL, all);
}

static int cmd_board_show(ctx *c)
{
	const char *pos[1];
	int status;
	if ((status = parse(c, NULL, pos, 1, 1, "the post's ID (as 'board list' shows it)")) != EXIT_OK)
		return status;
	return show_posts(c, pos[0], 1);
}

static const char clear_contact_note[] =
	"The event log still holds the old contact, on this device and every device that synced it, "
	"until redaction exists.";

/* claim, release, fulfil, cancel, clear-contact: one post, one change. */
static int change_post(ctx *c)
{
	const char *pos[1], *as = NULL, *verb = strchr(c->cmd->words, ' ') + 1;
	int claim = strcmp(verb, "claim") == 0, clear = strcmp(verb, "clear-contact") == 0;
	const opt opts[] = { { .name = "--as", .value = &as }, { 0 } };
	mutual_store *s;
	int rc, status;

	if ((status = parse(c, claim ? opts : NULL, pos, 1, 1, "the post's ID (as 'board list' shows it)")))
		return status;
	if (claim && !as)
		return usage_error(c, "%s needs --as NAME: who takes it on", c->cmd->words);
	if ((status = open_apps(c, &s)) != EXIT_OK)
		return status;
	if (claim)
		rc = board_claim(s, pos[0], as);
	else if (strcmp(verb, "release") == 0)
		rc = board_release(s, pos[0]);
	else if (strcmp(verb, "fulfil") == 0)
		rc = board_fulfil(s, pos[0]);
	else if (strcmp(verb, "cancel") == 0)
		rc = board_cancel(s, pos[0]);
	else
		rc = board_clear_contact(s, pos[0]);
	if ((status = close_apps(s, rc)) != EXIT_OK)
		return status;
	if (c->json) {
		json_ok(c, verb);
		json_str(&c->out, "id", pos[0]);
		if (claim)
			json_str(&c->out, "holder", as);
		if (clear)
			json_str(&c->out, "note", clear_contact_note);
		return emit_json(c, "}");
	}
	if (claim)
		printf("%s is now claimed by %s.\n", term_text(pos[0]), term_text(as));
	else if (clear)
		printf("Cleared the contact of %s.\n%s\n", term_text(pos[0]), clear_contact_note);
	else
		printf("%s: %s.\n", term_text(pos[0]), strcmp(verb, "release") == 0 ? "released, open again"
			: strcmp(verb, "fulfil") == 0 ? "fulfilled" : "cancelled");
	return EXIT_OK;
}

/* -------------------------------------------------------------- rota */

/* HH:MM with real hours and minutes. */
static int valid_hhmm(const char *t)
{
	return strlen(t) == 5 && t[2] == ':' && t[0] >= '0' && t[0] <= '2' && t[1] >= '0' && t[1] <= '9' &&
	       (t[0] < '2' || t[1] <= '3') && t[3] >= '0' && t[3] <= '5' && t[4] >= '0' && t[4] <= '9';
}

static int cmd_rota_shift_add(ctx *c)
{
	const char *title = NULL, *date = NULL, *start = NULL, *end = NULL, *slots_text = NULL,
		   *weeks_text = NULL, *task = NULL;
	const opt opts[] = {
		{ .name = "--title", .value = &title },
		{ .name = "--date", .value = &date },
		{ .name = "--start", .value = &start },
		{ .name = "--end", .value = &end },
		{ .name = "--slots", .value = &slots_text },
		{ .name = "--weeks", .value = &weeks_text },
		{ .name = "--task", .value = &task },
		{ 0 },
	};
	rota_new_shift shift;
	unsigned int slots = 1, weeks = 1;
	mutual_store *s;
	int64_t first;
	char id[17];
	int status;

	if ((status = parse(c, opts, NULL, 0, 0, "")) != EXIT_OK)
		return status;
	if (!title || !date || !start || !end)
		return usage_error(c, "%s needs --title, --date YYYY-MM-DD, --start HH:MM and --end HH:MM",
			c->cmd->words);
	if ((slots_text && (status = parse_count(c, &slots, slots_text, 1, 1000, "--slots"))) ||
		(weeks_text && (status = parse_count(c, &weeks, weeks_text, 1, 52, "--weeks"))))
		return status;
	if (apps_local_to_utc(&first, date, start) < 0)
		return usage_error(c, "%s", apps_error());
	if (!valid_hhmm(end))
		return usage_error(c, "--end must look like 19:30, not '%s'", end);
	shift = (rota_new_shift){ title, task, date, start, end, slots, weeks };
	if ((status = open_apps(c, &s)) || (status = close_apps(s, rota_shift_add(id, s, &shift))))
		return status;
	if (c->json) {
		json_ok(c, "shift");
		json_str(&c->out, "id", id);
		apps_buf_printf(&c->out, ",\"weeks\":%u", weeks);
		json_time(&c->out, "start", first);
		return emit_json(c, "}");
	}
	printf("%s\n", id);
	return EXIT_OK;
}

/* volunteer add, signup, drop, swap: a name or two on the rota. */
static int change_rota(ctx *c)
{
	const char *pos[3], *verb = strrchr(c->cmd->words, ' ') + 1;
	int add = strcmp(verb, "add") == 0, swap = strcmp(verb, "swap") == 0;
	int n = add ? 1 : swap ? 3 : 2;
	mutual_store *s;
	int rc, status;

	if ((status = parse(c, NULL, pos, n, n, c->cmd->args)) || (status = open_apps(c, &s)))
		return status;
	if (add)
		rc = rota_volunteer_add(s, pos[0]);
	else if (swap)
		rc = rota_swap(s, pos[0], pos[1], pos[2]);
	else if (strcmp(verb, "signup") == 0)
		rc = rota_signup(s, pos[0], pos[1]);
	else
		rc = rota_drop(s, pos[0], pos[1]);
	if ((status = close_apps(s, rc)) != EXIT_OK)
		return status;
	if (c->json) {
		json_ok(c, add ? "volunteer" : verb);
		if (add) {
			json_str(&c->out, "volunteer", pos[0]);
		} else {
			json_strs(&c->out, "shift", pos[0], swap ? "from" : "volunteer", pos[1], NULL);
			if (swap)
				json_str(&c->out, "to", pos[2]);
		}
		return emit_json(c, "}");
	}
	if (add)
		printf("%s is on the list of volunteers.\n", term_text(pos[0]));
	else if (swap)
		printf("%s hands shift %s to %s.\n", term_text(pos[1]), term_text(pos[0]), term_text(pos[2]));
	else
		printf("%s is %s shift %s.\n", term_text(pos[1]),
			strcmp(verb, "signup") == 0 ? "signed up for" : "off", term_text(pos[0]));
	return EXIT_OK;
}

/* "Thu 2026-10-15 17:00-19:00 BST", and "(ends 2026-10-16)" past midnight. */
static void shift_when(char out[128], int64_t start, int64_t end)
{
	char from[48], to[32], day[16] = "";
	time_t t = (time_t)(start / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(day, sizeof(day), "%a ", &tm);
	apps_time_local_zone(from, start);
	apps_time_local(to, end);
	if (strlen(from) < 17 || strlen(to) < 16) {
		snprintf(out, 128, "%s", from);
		return;
	}
	snprintf(out, 128, "%s%.16s-%s %s", day, from, to + 11, from + 17);
	if (strncmp(from, to, 10) != 0)
		snprintf(out + strlen(out), 128 - strlen(out), " (ends %.10s)", to);
}

/* Local midnight at the start of y-m-d (plus `days`), in UTC ms. mktime
 * normalises a day past the month's end and a midnight a clock change
 * skips. */
static int64_t local_midnight(int y, int m, int d, int days)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d + days, .tm_isdst = -1 };
	return (int64_t)mktime(&tm) * 1000;
}

static int shift_row(const rota_shift *sh, void *payload)
{
	listing *l = payload;
	apps_buf *b = &l->c->out, who = { 0 };
	char when[128], people[32];
	int over = sh->n_volunteers > sh->slots;

	if (l->c->json) {
		apps_buf_puts(b, l->n ? ",{" : "{");
		json_strs(b, "id", sh->id, "title", sh->title, "task", sh->task, NULL);
		json_time(b, "start", sh->start);
		json_time(b, "end", sh->end);
		apps_buf_printf(b, ",\"slots\":%u", sh->slots);
		json_list(b, "volunteers", sh->volunteers, sh->n_volunteers);
		apps_buf_printf(b, ",\"open\":%zu,\"over\":%s}", over ? 0 : sh->slots - sh->n_volunteers,
			over ? "true" : "false");
		l->n++;
		return 0;
	}
	shift_when(when, sh->start, sh->end);
	snprintf(people, sizeof(people), "%zu/%u", sh->n_volunteers, sh->slots);
	for (size_t i = 0; i < sh->n_volunteers; i++)
		apps_buf_printf(&who, "%s%s", i ? ", " : "", sh->volunteers[i]);
	if (over)
		apps_buf_printf(&who, "  OVER: more signed up (on devices offline) than the %u place%s; someone "
				      "should drop", sh->slots, sh->slots == 1 ? "" : "s");
	else if (sh->n_volunteers < sh->slots)
		apps_buf_printf(&who, "%s(%zu place%s open)", sh->n_volunteers ? " " : "",
			sh->slots - sh->n_volunteers, sh->slots - sh->n_volunteers == 1 ? "" : "s");
	cell(&l->t, when);
	if (strcmp(sh->title, sh->task) != 0) {
		apps_buf title = { 0 };
		apps_buf_printf(&title, "%s [%s]", sh->title, sh->task);
		cell(&l->t, title.data);
		l->t.failed |= title.failed;
		apps_buf_free(&title);
	} else {
		cell(&l->t, sh->title);
	}
	cell(&l->t, people);
	cell(&l->t, sh->id);
	cell(&l->t, who.data);
	l->t.failed |= who.failed;
	apps_buf_free(&who);
	l->n++;
	return 0;
}

static int cmd_rota_shifts(ctx *c)
{
	static const char *const header[] = { "WHEN", "SHIFT", "PEOPLE", "ID", "WHO" };
	const char *from_text = NULL, *days_text = NULL;
	const opt opts[] = { { .name = "--from", .value = &from_text }, { .name = "--days", .value = &days_text },
		{ 0 } };
	listing l = { .c = c };
	unsigned int days = 14;
	int y, m, d, status;
	int64_t from, to;
	mutual_store *s;

	if ((status = parse(c, opts, NULL, 0, 0, "")) ||
		(days_text && (status = parse_count(c, &days, days_text, 1, 366, "--days"))))
		return status;
	if (from_text) {
		if (apps_local_to_utc(&from, from_text, "12:00") < 0)
			return usage_error(c, "--from: %s", apps_error());
		sscanf(from_text, "%4d-%2d-%2d", &y, &m, &d);
	} else {
		time_t now = (time_t)(apps_now_ms() / 1000);
		struct tm tm;
		localtime_r(&now, &tm);
		y = tm.tm_year + 1900;
		m = tm.tm_mon + 1;
		d = tm.tm_mday;
	}
	from = local_midnight(y, m, d, 0);
	to = local_midnight(y, m, d, (int)days);
	if ((status = open_apps(c, &s)) != EXIT_OK)
		return status;
	if (c->json) {
		apps_buf_puts(&c->out, "{");
		json_str(&c->out, "zone", apps_zone_name());
		json_time(&c->out, "from", from);
		json_time(&c->out, "to", to);
		apps_buf_puts(&c->out, ",\"shifts\":[");
	} else {
		table_start(&l.t, "llrll", header);
	}
	if ((status = close_apps(s, rota_shifts_foreach(s, from, to, shift_row, &l))) != EXIT_OK)
		goto done;
	if (c->json) {
		status = emit_json(c, "]}");
	} else {
		printf("Shifts from %04d-%02d-%02d for %u day%s (times in %s):\n", y, m, d, days,
			days == 1 ? "" : "s", term_text(apps_zone_name()));
		if (l.n == 0)
			printf("none.\n");
		else
			status = table_print(&l.t);
	}
done:
	table_free(&l.t);
	return status;
}

static int load_row(const rota_load *load, void *payload)
{
	listing *l = payload;
	char h[32], n[32];

	if (l->c->json) {
		apps_buf_puts(&l->c->out, l->n++ ? ",{" : "{");
		json_str(&l->c->out, "volunteer", load->volunteer);
		apps_buf_printf(&l->c->out, ",\"minutes\":%" PRId64 ",\"shifts\":%u,\"flagged\":%s}", load->minutes,
			load->shifts, load->flagged ? "true" : "false");
		return 0;
	}
	hours(h, load->minutes);
	snprintf(n, sizeof(n), "%u", load->shifts);
	cell(&l->t, load->volunteer);
	cell(&l->t, h);
	cell(&l->t, n);
	cell(&l->t, load->flagged ? "FLAGGED: far more than the median; hand some shifts on" : "");
	l->n++;
	return 0;
}

static int cmd_rota_workload(ctx *c)
{
	static const char *const header[] = { "VOLUNTEER", "HOURS", "SHIFTS", "" };
	listing l = { .c = c };
	int64_t now = apps_now_ms(), median = 0;
	char when[48], m[32];
	mutual_store *s;
	int status;

	if ((status = parse(c, NULL, NULL, 0, 0, "")) || (status = open_apps(c, &s)))
		return status;
	if (c->json) {
		apps_buf_puts(&c->out, "{");
		json_time(&c->out, "now", now);
		apps_buf_puts(&c->out, ",\"volunteers\":[");
	} else {
		table_start(&l.t, "lrrl", header);
	}
	if ((status = close_apps(s, rota_workload(s, now, &median, load_row, &l))) != EXIT_OK)
		goto done;
	if (c->json) {
		apps_buf_printf(&c->out, "],\"median_minutes\":%" PRId64, median);
		status = emit_json(c, "}");
	} else if (l.n == 0) {
		printf("No volunteers yet (add them with 'mutual-apps rota volunteer add NAME').\n");
	} else {
		apps_time_local_zone(when, now);
		hours(m, median);
		printf("Hours on shifts in the four weeks to %s; the group's median is %s.\n", when, m);
		status = table_print(&l.t);
	}
done:
	table_free(&l.t);
	return status;
}

static int suggestion_row(const rota_suggestion *sg, void *payload)
{
	listing *l = payload;
	char rank[16], h[32], last[64] = "never did this task";

	if (l->c->json) {
		apps_buf_puts(&l->c->out, l->n++ ? ",{" : "{");
		json_str(&l->c->out, "volunteer", sg->volunteer);
		apps_buf_printf(&l->c->out, ",\"minutes\":%" PRId64, sg->minutes);
		if (sg->last_task)
			json_time(&l->c->out, "last_task", sg->last_task);
		else
			apps_buf_puts(&l->c->out, ",\"last_task\":null,\"last_task_ms\":null,\"last_task_local\":null");
		apps_buf_puts(&l->c->out, "}");
		return 0;
	}
	snprintf(rank, sizeof(rank), "%zu.", ++l->n);
	hours(h, sg->minutes);
	if (sg->last_task) {
		char when[48];
		apps_time_local_zone(when, sg->last_task);
		snprintf(last, sizeof(last), "last did it %s", when);
	}
	cell(&l->t, rank);
	cell(&l->t, sg->volunteer);
	cell(&l->t, h);
	cell(&l->t, last);
	return 0;
}

static int cmd_rota_suggest(ctx *c)
{
	const char *pos[1];
	listing l = { .c = c };
	mutual_store *s;
	int status;

	if ((status = parse(c, NULL, pos, 1, 1, "the SHIFT id (as 'rota shifts' shows it)")) ||
		(status = open_apps(c, &s)))
		return status;
	if (c->json) {
		apps_buf_puts(&c->out, "{");
		json_str(&c->out, "shift", pos[0]);
		apps_buf_puts(&c->out, ",\"suggestions\":[");
	} else {
		table_start(&l.t, "rlrl", NULL);
	}
	if ((status = close_apps(s, rota_suggest(s, pos[0], apps_now_ms(), suggestion_row, &l))) != EXIT_OK)
		goto done;
	if (c->json) {
		status = emit_json(c, "]}");
	} else if (l.n == 0) {
		printf("Nobody is free for shift %s: everyone known is on it or on an overlapping shift.\n",
			term_text(pos[0]));
	} else {
		printf("Who could take shift %s, best first (hours in the last four weeks, then longest since "
		       "they did this task):\n", term_text(pos[0]));
		status = table_print(&l.t);
	}
done:
	table_free(&l.t);
	return status;
}

/* ---------------------------------------------------------- commands */

static const command commands[] = {
	{ "pantry donate", "ITEM QTY UNIT [--from SOURCE]",
		"Record food coming in: QTY of ITEM in UNIT (kg, tins, bags...). QTY is exact, with at\n"
		"most 3 decimals (12, 2.5, 0.125). --from says where it came from (a shop, a food drive).\n",
		cmd_pantry_donate },
	{ "pantry give", "--households N [--bags N] [--item ITEM QTY UNIT]... [--note TEXT]",
		"Record a hand-out: to how many households (at least 1), with --bags N and/or one\n"
		"--item ITEM QTY UNIT per kind of food.\n"
		"\n"
		"NEVER WRITE NAMES: not of the people served, not in --note, not as an item. The\n"
		"record says how much went out, never to whom.\n"
		"\n"
		"Giving an item that was never recorded in is allowed (the food is real): its count\n"
		"goes below zero until a shelf count ('pantry adjust') puts it right.\n",
		cmd_pantry_give },
	{ "pantry adjust", "ITEM DELTA UNIT [--reason TEXT]",
		"Correct a count after counting the shelf: DELTA is added to what the records say\n"
		"(negative to take away: pantry adjust rice -2.5 kg --reason \"shelf count\").\n",
		cmd_pantry_adjust },
	{ "pantry threshold", "ITEM MIN UNIT",
		"Mark ITEM (in UNIT) LOW when its count is MIN or less; 0 removes the warning.\n",
		cmd_pantry_threshold },
	{ "pantry stock", "[--low] [--json]",
		"What is on the shelf, by item and unit, counted exactly from every device's records.\n"
		"LOW marks an item at or below its threshold; --low shows only those. A count below\n"
		"zero means more went out than was recorded in: count the shelf, then record the\n"
		"difference with 'pantry adjust'.\n",
		cmd_pantry_stock },
	{ "pantry history", "[--limit N] [--json]",
		"What was recorded, newest first, in local time with the zone (--limit N: the last N\n"
		"lines). The lines of one hand-out are shown together.\n",
		cmd_pantry_history },
	{ "pantry export", "stock|distributions [--output FILE]",
		"CSV for a spreadsheet: the stock, or every line of every hand-out with its time in UTC\n"
		"and in local time (the header names the zone). Written to FILE (replaced in one step,\n"
		"mode 0644) or to standard output. A cell that a spreadsheet would run as a formula\n"
		"is prefixed with '.\n",
		cmd_pantry_export },
	{ "board post", "request|offer --category C --title T --area A [--urgency U] [--contact TEXT]",
		"Post a request for help or an offer; prints its id. No names or addresses of the\n"
		"people helped: the title says what is needed, the area roughly where.\n"
		"  --category  one of: " BOARD_CATEGORIES "\n"
		"  --urgency   one of: " BOARD_URGENCIES " (default: normal)\n"
		"  --area      a neighbourhood, NEVER a street address\n"
		"  --contact   how to reach them; clear it once the post is closed (clear-contact)\n",
		cmd_board_post },
	{ "board list", "[--all] [--json]",
		"Open posts, urgent first, then the oldest; --all adds the fulfilled and cancelled\n"
		"ones. A CONFLICT means two people claimed a post on different devices without seeing\n"
		"each other's claim: agree who does it, then claim it again; every device then shows\n"
		"the same holder.\n",
		cmd_board_list },
	{ "board show", "ID [--json]", "One post, with its contact.\n", cmd_board_show },
	{ "board claim", "ID --as NAME", "Take the post on: NAME (a first name or a nickname) holds it.\n",
		change_post },
	{ "board release", "ID", "Give the post back: open again, held by nobody.\n", change_post },
	{ "board fulfil", "ID", "Mark the post done.\n", change_post },
	{ "board cancel", "ID", "Withdraw the post.\n", change_post },
	{ "board clear-contact", "ID",
		"Remove the contact of a fulfilled or cancelled post (refused while it is open or\n"
		"claimed). The board stops showing it, but the event log still holds the old contact,\n"
		"on this device and every device that synced it, until redaction exists.\n",
		change_post },
	{ "rota shift add",
		"--title T --date YYYY-MM-DD --start HH:MM --end HH:MM [--slots N] [--weeks N] [--task TASK]",
		"Add a shift, in local date and wall-clock time (an --end earlier than --start ends\n"
		"the next day); prints its id (the first one's, with --weeks).\n"
		"  --slots N   people needed (default 1)\n"
		"  --weeks N   the same weekday and times for N weeks (at most 52); 17:00 stays 17:00\n"
		"              across a clock change\n"
		"  --task T    the kind of work, to share it out fairly (default: the title)\n",
		cmd_rota_shift_add },
	{ "rota volunteer add", "NAME",
		"Put NAME on the group's list of volunteers (signing up does it too).\n", change_rota },
	{ "rota signup", "SHIFT NAME", "Sign NAME up for the shift.\n", change_rota },
	{ "rota drop", "SHIFT NAME", "Take NAME off the shift.\n", change_rota },
	{ "rota swap", "SHIFT FROM TO", "FROM hands their place on the shift to TO, in one step.\n", change_rota },
	{ "rota shifts", "[--from YYYY-MM-DD] [--days N] [--json]",
		"Shifts starting in the N days (default 14) from the date (default today), in local\n"
		"time with the zone: who is on each and how many places are open. OVER means more\n"
		"people signed up on devices offline than there are places: someone should drop.\n",
		cmd_rota_shifts },
	{ "rota workload", "[--json]",
		"Hours on shifts per volunteer over the last four weeks, most first, with the group's\n"
		"median. FLAGGED is someone carrying far more than the others (at least 1.5 times the\n"
		"median and 4 hours above it): hand some of their shifts on.\n",
		cmd_rota_workload },
	{ "rota suggest", "SHIFT [--json]",
		"Who could take the shift, best first: not on it or on an overlapping shift; the fewest\n"
		"hours in the last four weeks, then the longest since they did this task.\n",
		cmd_rota_suggest },
};

static const struct {
	const char *name, *about;
} apps[] = {
	{ "pantry", "Food in and out, counted exactly on every device: donations, hand-outs (how many\n"
		    "households, never who), shelf counts and low-stock warnings." },
	{ "board", "Requests for help and offers, claimed by volunteers. Two claims made offline on\n"
		   "two devices are shown as a conflict on both, until someone claims again." },
	{ "rota", "Volunteer shifts in local time, who is on them, who could take one, and who\n"
		  "carries too much." },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char usage_tail[] =
	"\n"
	"Options (before the command; --json and --help also after it):\n"
	"  --store DIR   the store folder (default: $MUTUAL_STORE), made with 'mutual init' or\n"
	"                'mutual join'\n"
	"  --json        print one JSON document on stdout (times in UTC and in ms, quantities as\n"
	"                exact decimal strings)\n"
	"  --help        help for any command, like: mutual-apps pantry give --help\n"
	"\n"
	"To pass the records to the other devices, sync with the stick: mutual sync /media/stick\n"
	"\n"
	"Exit status:\n"
	"  0  success\n"
	"  1  failure (the message on stderr says what and what to do)\n"
	"  2  bad usage (the message says which argument, and where to find help)\n"
	"  3  the store is damaged (run 'mutual verify')\n"
	"  4  the store stayed busy (another program is using it); try again\n";

/* How many of argv[0..argc) are the leading words of `words`; *complete
 * when they are all of them. */
static int match_words(const char *words, char **argv, int argc, int *complete)
{
	const char *p = words;
	int n = 0;

	while (*p && n < argc) {
		size_t len = strcspn(p, " ");
		if (strlen(argv[n]) != len || strncmp(argv[n], p, len) != 0)
			break;
		n++;
		p += len + (p[len] == ' ');
	}
	*complete = *p == '\0';
	return n;
}

static const char *about(const char *words)
{
	for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++)
		if (strncmp(words, apps[i].name, strlen(apps[i].name)) == 0)
			return apps[i].about;
	return "";
}

/* The commands that start with the words argv[0..n). */
static void print_commands(FILE *f, char **argv, int n)
{
	int complete;
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (match_words(commands[i].words, argv, n, &complete) == n)
			fprintf(f, "  %s %s\n", commands[i].words, commands[i].args);
}

static void print_usage(FILE *f)
{
	fprintf(f, "usage: mutual-apps [--store DIR] [--json] APP COMMAND [ARGS]\n"
		   "\n"
		   "The reference apps of libmutual, over one store that syncs through a USB stick.\n");
	for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++) {
		char *name = (char *)apps[i].name;
		fprintf(f, "\n%s: %s\n", apps[i].name, apps[i].about);
		print_commands(f, &name, 1);
	}
	fputs(usage_tail, f);
}

static void print_group(FILE *f, char **argv, int n)
{
	fprintf(f, "usage: mutual-apps [--store DIR] [--json] %s COMMAND [ARGS]\n\n%s\n\nCommands:\n", argv[0],
		about(argv[0]));
	print_commands(f, argv, n);
	fprintf(f, "\nMore about one: mutual-apps %s COMMAND --help\n", argv[0]);
}

static int is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

int main(int argc, char **argv)
{
	ctx c = { getenv("MUTUAL_STORE"), 0, NULL, 0, NULL, { 0 } };
	const command *found = NULL;
	int i = 1, best = 0, n, complete, status;

	tzset();
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (is_help(argv[i])) {
			print_usage(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("mutual-apps %s\n", mutual_version());
			return EXIT_OK;
		} else if (strcmp(argv[i], "--json") == 0) {
			c.json = 1;
		} else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
			c.store = argv[++i];
		} else if (strncmp(argv[i], "--store=", 8) == 0) {
			c.store = argv[i] + 8;
		} else {
			return usage_error(&c, "unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		print_usage(stdout);
		return EXIT_OK;
	}
	for (size_t k = 0; k < N_COMMANDS && !found; k++) {
		n = match_words(commands[k].words, argv + i, argc - i, &complete);
		if (complete)
			found = &commands[k];
		if (n > best || complete)
			best = n;
	}
	if (!found && best == 0)
		return usage_error(&c, "unknown app '%s' (the apps are pantry, board and rota)", argv[i]);
	if (!found) {
		if (i + best < argc && is_help(argv[i + best])) {
			print_group(stdout, argv + i, best);
			return EXIT_OK;
		}
		if (i + best == argc) {
			print_group(stderr, argv + i, best);
			return EXIT_USAGE;
		}
		fprintf(stderr, "mutual-apps: %s has no command '%s'\n(run 'mutual-apps %s --help' for usage)\n",
			term_text(argv[i]), term_text(argv[i + best]), term_text(argv[i]));
		return EXIT_USAGE;
	}
	c.cmd = found;
	c.argc = argc - i - best;
	c.argv = argv + i + best;
	for (int k = 0; k < c.argc && strcmp(c.argv[k], "--") != 0; k++) {
		if (is_help(c.argv[k])) {
			printf("usage: mutual-apps [--store DIR] [--json] %s %s\n\n%s\n--json prints one JSON document "
			       "on stdout instead.\n", found->words, found->args, found->help);
			return EXIT_OK;
		}
	}
	status = found->run(&c);
	apps_buf_free(&c.out);
	if (term_failed()) {
		/* a value printed as "?" must not pass for the output */
		fprintf(stderr, "mutual-apps: out of memory while printing: the output above is incomplete\n");
		return EXIT_FAIL;
	}
	return status;
}
