/*
 * main.c - mutual-apps, the reference apps' command line: the pantry
 * inventory, the requests-and-offers board and the volunteer rota, over
 * the apps library (examples/apps/apps.h) and nothing else. This file is
 * what the apps' commands share (apps_cli.h) and the dispatch; each app's
 * commands are in its own file (pantry_cmd.c, board_cmd.c, rota_cmd.c).
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
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps_cli.h"
#include "term.h"

/* ------------------------------------------------------------ errors */

/* An apps_* call failed: say why, in its words. */
static int report(int rc)
{
	fprintf(stderr, "mutual-apps: %s\n", term_text(apps_error()));
	return exit_status_of(rc);
}

int cli_out_of_memory(void)
{
	fprintf(stderr, "mutual-apps: out of memory\n");
	return EXIT_FAIL;
}

int cli_usage_error(const ctx *c, const char *fmt, ...)
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

/* Read the arguments: options, then positionals into pos[0..max_pos)
 * (a lone "--" ends the options). Returns EXIT_OK or a usage error. */
int cli_parse(ctx *c, const opt *opts, const char **pos, int min_pos, int max_pos, const char *what)
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
				return cli_usage_error(c, "unexpected '%s'", a);
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
			return cli_usage_error(c, "unknown option '%.*s'", (int)len, a);
		if (o->flag) {
			if (eq)
				return cli_usage_error(c, "%s takes no value", o->name);
			*o->flag = 1;
			continue;
		}
		if (eq)
			inline_value = eq + 1;
		if (o->take) {
			int rc;
			if (eq || i + o->nargs >= c->argc)
				return cli_usage_error(c, "%s needs %d values", o->name, o->nargs);
			if ((rc = o->take(c, c->argv + i + 1, o->payload)) != EXIT_OK)
				return rc;
			i += o->nargs;
			continue;
		}
		if (*o->value)
			return cli_usage_error(c, "%s is given twice", o->name);
		if (!inline_value) {
			if (i + 1 >= c->argc)
				return cli_usage_error(c, "%s needs a value", o->name);
			inline_value = c->argv[++i];
		}
		*o->value = inline_value;
	}
	if (n < min_pos)
		return cli_usage_error(c, "%s needs %s", c->cmd->words, what);
	return EXIT_OK;
}

/* A whole number in [min, max], or a usage error naming `what`. */
int cli_parse_count(const ctx *c, unsigned int *out, const char *text, unsigned int min, unsigned int max,
	const char *what)
{
	unsigned long v = 0;
	const char *p = text;

	if (!*p)
		return cli_usage_error(c, "%s needs a whole number", what);
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > max)
			return cli_usage_error(c, "%s must be a whole number from %u to %u, not '%s'", what, min, max,
				text);
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < min || v > max)
		return cli_usage_error(c, "%s must be a whole number from %u to %u, not '%s'", what, min, max, text);
	*out = (unsigned int)v;
	return EXIT_OK;
}

/* ------------------------------------------------------------- store */

/*
 * Every command that reads or writes opens the store, makes one apps call
 * and closes the store again before it prints: what it prints was copied
 * out during the call (the apps' strings are only borrowed for a callback),
 * and a failure's message is the apps' own, kept per thread.
 */
int cli_open_apps(ctx *c, mutual_store **s)
{
	int rc;
	*s = NULL;
	if (!c->store || !*c->store)
		return cli_usage_error(c, "%s needs --store DIR (or MUTUAL_STORE set)", c->cmd->words);
	if ((rc = mutual_store_open(s, c->store, MUTUAL_OPEN_DEFAULT)) < 0) {
		fprintf(stderr, "mutual-apps: %s\n", term_text(mutual_error_last()));
		return exit_status_of(rc);
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
int cli_close_apps(mutual_store *s, int rc)
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
void json_next(apps_buf *b)
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

void json_str(apps_buf *b, const char *key, const char *value)
{
	json_key(b, key);
	apps_buf_json(b, value);
}

/* Several string fields: the arguments are key, value, key, value... up
 * to a NULL key; a NULL value is null. */
void json_strs(apps_buf *b, ...)
{
	const char *key;
	va_list ap;
	va_start(ap, b);
	while ((key = va_arg(ap, const char *)) != NULL)
		json_str(b, key, va_arg(ap, const char *));
	va_end(ap);
}

/* "key":["a","b"] */
void json_list(apps_buf *b, const char *key, const char *const *v, size_t n)
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
void json_time(apps_buf *b, const char *key, int64_t ms)
{
	char utc[32], local[48];
	apps_time_utc(utc, ms);
	apps_time_local_zone(local, ms);
	json_key(b, key);
	apps_buf_printf(b, "\"%s\",\"%s_ms\":%" PRId64 ",\"%s_local\":", utc, key, ms, key);
	apps_buf_json(b, local);
}

void json_qty(apps_buf *b, const char *key, int64_t milli)
{
	char q[32];
	apps_qty_format(q, milli);
	json_key(b, key);
	apps_buf_printf(b, "\"%s\"", q);
}

/* The result of a write, with --json: {"ok":true,"done":what,...}; the
 * caller adds its fields. */
void json_ok(ctx *c, const char *what)
{
	apps_buf_puts(&c->out, "{\"ok\":true");
	json_str(&c->out, "done", what);
}

/* Close the JSON document with `tail` and print it: the one thing on
 * stdout. */
int json_emit(ctx *c, const char *tail)
{
	apps_buf_puts(&c->out, tail);
	if (c->out.failed)
		return cli_out_of_memory();
	printf("%s\n", c->out.data ? c->out.data : "{}");
	return EXIT_OK;
}

/* ------------------------------------------------------------ tables */

void table_cell(table *t, const char *text)
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
void table_start(table *t, const char *align, const char *const *header)
{
	t->align = align;
	t->cols = strlen(align);
	for (size_t i = 0; header && i < t->cols; i++)
		table_cell(t, header[i]);
}

static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

int table_print(table *t)
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
	return t->failed ? cli_out_of_memory() : EXIT_OK;
}

void table_free(table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* ---------------------------------------------------------- commands */

/* The apps, in the order the usage shows them. */
static const cli_app *const apps[] = { &pantry_app, &board_app, &rota_app };

#define N_APPS (sizeof(apps) / sizeof(apps[0]))

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
	for (size_t i = 0; i < N_APPS; i++)
		if (strncmp(words, apps[i]->name, strlen(apps[i]->name)) == 0)
			return apps[i]->about;
	return "";
}

/* The commands that start with the words argv[0..n). */
static void print_commands(FILE *f, char **argv, int n)
{
	int complete;
	for (size_t a = 0; a < N_APPS; a++) {
		const command *cmds = apps[a]->commands;
		for (size_t i = 0; i < apps[a]->n_commands; i++)
			if (match_words(cmds[i].words, argv, n, &complete) == n)
				fprintf(f, "  %s %s\n", cmds[i].words, cmds[i].args);
	}
}

static void print_usage(FILE *f)
{
	fprintf(f, "usage: mutual-apps [--store DIR] [--json] APP COMMAND [ARGS]\n"
		   "\n"
		   "The reference apps of libmutual, over one store that syncs through a USB stick.\n");
	for (size_t i = 0; i < N_APPS; i++) {
		char *name = (char *)apps[i]->name;
		fprintf(f, "\n%s: %s\n", apps[i]->name, apps[i]->about);
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
			return cli_usage_error(&c, "unknown option '%s'", argv[i]);
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
	for (size_t a = 0; a < N_APPS && !found; a++) {
		for (size_t k = 0; k < apps[a]->n_commands && !found; k++) {
			n = match_words(apps[a]->commands[k].words, argv + i, argc - i, &complete);
			if (complete)
				found = &apps[a]->commands[k];
			if (n > best || complete)
				best = n;
		}
	}
	if (!found && best == 0)
		return cli_usage_error(&c, "unknown app '%s' (the apps are pantry, board and rota)", argv[i]);
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
