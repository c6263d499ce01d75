/*
 * pantry_cmd.c - mutual-apps pantry: donations in, hand-outs out (how many
 * households, never who), shelf counts, low-stock thresholds, the stock,
 * the history and the CSV exports, over examples/apps/pantry.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps_cli.h"
#include "term.h"

/* A quantity the apps will accept (the same rule they apply), checked
 * here so a typo is a usage error that names the argument. */
static int check_qty(const ctx *c, const char *text, int allow_negative, const char *what)
{
	int64_t milli;
	if (apps_qty_parse(&milli, text, allow_negative) < 0)
		return cli_usage_error(c, "%s: %s", what, apps_error());
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

static int cmd_pantry_donate(ctx *c)
{
	const char *pos[3], *from = NULL;
	const opt opts[] = { { .name = "--from", .value = &from }, { 0 } };
	mutual_store *s;
	int64_t milli;
	char q[32];
	int status;

	if ((status = cli_parse(c, opts, pos, 3, 3, "ITEM QTY UNIT, like: pantry donate rice 12.5 kg")) ||
		(status = check_qty(c, pos[1], 0, "QTY")) || (status = cli_open_apps(c, &s)) ||
		(status = cli_close_apps(s, pantry_donate(s, pos[0], pos[1], pos[2], from))))
		return status;
	milli = qty_of(q, pos[1]);
	if (c->json) {
		json_ok(c, "donation");
		json_str(&c->out, "item", pos[0]);
		json_qty(&c->out, "qty", milli);
		json_strs(&c->out, "unit", pos[2], "from", nonempty(from), NULL);
		return json_emit(c, "}");
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
		return cli_out_of_memory();
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

	if ((status = cli_parse(c, opts, NULL, 0, 0, "")) != EXIT_OK)
		goto done;
	if (!households_text) {
		status = cli_usage_error(c, "%s needs --households N (how many households; never their names)",
			c->cmd->words);
		goto done;
	}
	if ((status = cli_parse_count(c, &households, households_text, 1, 100000, "--households")) ||
		(bags_text && (status = cli_parse_count(c, &bags, bags_text, 0, 100000, "--bags"))))
		goto done;
	if (bags == 0 && lines.n == 0) {
		status = cli_usage_error(c, "%s needs --bags N or at least one --item ITEM QTY UNIT", c->cmd->words);
		goto done;
	}
	if ((status = cli_open_apps(c, &s)) ||
		(status = cli_close_apps(s, pantry_distribute(s, households, bags, lines.v, lines.n, note))))
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
		status = json_emit(c, "}");
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

	if ((status = cli_parse(c, opts, pos, 3, 3, "ITEM DELTA UNIT, like: pantry adjust rice -2.5 kg")) ||
		(status = check_qty(c, pos[1], 1, "DELTA")) || (status = cli_open_apps(c, &s)) ||
		(status = cli_close_apps(s, pantry_adjust(s, pos[0], pos[2], pos[1], reason))))
		return status;
	milli = qty_of(q, pos[1]);
	if (c->json) {
		json_ok(c, "adjustment");
		json_str(&c->out, "item", pos[0]);
		json_qty(&c->out, "delta", milli);
		json_str(&c->out, "unit", pos[2]);
		return json_emit(c, "}");
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

	if ((status = cli_parse(c, NULL, pos, 3, 3, "ITEM MIN UNIT, like: pantry threshold rice 5 kg")) != EXIT_OK)
		return status;
	clear = is_zero(pos[1]);
	if ((!clear && (status = check_qty(c, pos[1], 0, "MIN"))) || (status = cli_open_apps(c, &s)) ||
		(status = cli_close_apps(s, pantry_set_threshold(s, pos[0], pos[2], pos[1]))))
		return status;
	if (c->json) {
		json_ok(c, "threshold");
		json_strs(&c->out, "item", pos[0], "unit", pos[2], NULL);
		if (clear)
			json_str(&c->out, "threshold", NULL);
		else
			json_qty(&c->out, "threshold", qty_of(q, pos[1]));
		return json_emit(c, "}");
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
		table_cell(&st->t, row->item);
		table_cell(&st->t, row->unit);
		table_cell(&st->t, q);
		table_cell(&st->t, min);
		table_cell(&st->t, note);
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

	if ((status = cli_parse(c, opts, NULL, 0, 0, "")) || (status = cli_open_apps(c, &s)))
		return status;
	if (c->json)
		apps_buf_printf(&c->out, "{\"low_only\":%s,\"items\":[", low ? "true" : "false");
	else
		table_start(&st.t, "llrrl", header);
	if ((status = cli_close_apps(s, pantry_stock_foreach(s, low, stock_row, &st))) != EXIT_OK)
		goto done;
	if (c->json) {
		status = json_emit(c, "]}");
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
	table_cell(&h->t, when);
	table_cell(&h->t, row->kind);
	table_cell(&h->t, q);
	table_cell(&h->t, row->unit);
	table_cell(&h->t, row->item);
	table_cell(&h->t, row->device);
	table_cell(&h->t, details.data);
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

	if ((status = cli_parse(c, opts, NULL, 0, 0, "")) ||
		(limit_text && (status = cli_parse_count(c, &limit, limit_text, 1, 1000000, "--limit"))) ||
		(status = cli_open_apps(c, &s)))
		return status;
	if (c->json) {
		apps_buf_puts(&c->out, "{");
		json_str(&c->out, "zone", apps_zone_name());
		apps_buf_puts(&c->out, ",\"rows\":[");
	} else {
		table_start(&h.t, "llrllll", header);
	}
	if ((status = cli_close_apps(s, pantry_history_foreach(s, limit, history_row, &h))) != EXIT_OK)
		goto done;
	if (h.failed)
		status = cli_out_of_memory();
	else if (c->json)
		status = json_emit(c, "]}");
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
		cli_out_of_memory();
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

	if ((status = cli_parse(c, opts, pos, 1, 1, "what to export: stock or distributions")) != EXIT_OK)
		return status;
	stock = strcmp(pos[0], "stock") == 0;
	if (!stock && strcmp(pos[0], "distributions") != 0)
		return cli_usage_error(c, "can export stock or distributions, not '%s'", pos[0]);
	if (c->json && !output)
		return cli_usage_error(c, "writes CSV; --json only goes with --output FILE");
	if ((status = cli_open_apps(c, &s)) != EXIT_OK)
		return status;
	if ((status = cli_close_apps(s, stock ? pantry_stock_csv(&csv, s) : pantry_distributions_csv(&csv, s))))
		goto done;
	if (csv.failed) {
		status = cli_out_of_memory();
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
			status = json_emit(c, "}");
		} else {
			printf("Wrote the %s to %s (CSV, %zu bytes%s%s).\n", pos[0], term_text(output), csv.len,
				stock ? "" : "; times in UTC and in ", stock ? "" : term_text(apps_zone_name()));
		}
	}
done:
	apps_buf_free(&csv);
	return status;
}

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
};

const cli_app pantry_app = {
	"pantry",
	"Food in and out, counted exactly on every device: donations, hand-outs (how many\n"
	"households, never who), shelf counts and low-stock warnings.",
	commands, sizeof(commands) / sizeof(commands[0]),
};
