/*
 * apps_cli.h - what the files of mutual-apps share: a command's context,
 * the argument parser, the store's opening and closing, the JSON writer
 * (fields over apps_buf_json, the apps' one JSON escape) and the tables
 * printed for a person. main.c holds them and the dispatch; each app's
 * commands are in their own file (pantry_cmd.c, board_cmd.c, rota_cmd.c),
 * as examples/web/ has one file of pages per app.
 */
#ifndef MUTUAL_APPS_CLI_H
#define MUTUAL_APPS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "apps.h"
#include "exit_status.h" /* the exit statuses, shared with `mutual` */

typedef struct ctx ctx;

typedef struct command {
	const char *words; /* "pantry donate" */
	const char *args;  /* its arguments, for the usage line */
	const char *help;  /* what it does, for a volunteer */
	int (*run)(ctx *c);
} command;

/* One app: its name (the first word of its commands), what it is for,
 * and its commands, in the order the usage lists them. */
typedef struct cli_app {
	const char *name, *about;
	const command *commands;
	size_t n_commands;
} cli_app;

extern const cli_app pantry_app, board_app, rota_app;

struct ctx {
	const char *store;
	int json;
	const command *cmd;
	int argc; /* the command's arguments, after its words */
	char **argv;
	apps_buf out; /* the JSON document, with --json */
};

/* ------------------------------------------------------------ errors */

int cli_out_of_memory(void);
/* "mutual-apps: <message>" and where to find help; returns EXIT_USAGE. */
int cli_usage_error(const ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
int cli_parse(ctx *c, const opt *opts, const char **pos, int min_pos, int max_pos, const char *what);
/* A whole number in [min, max], or a usage error naming `what`. */
int cli_parse_count(const ctx *c, unsigned int *out, const char *text, unsigned int min, unsigned int max,
	const char *what);

/* ------------------------------------------------------------- store */

/* Open c->store for the apps (*s is the caller's until cli_close_apps);
 * EXIT_OK or the status to exit with, the reason printed. */
int cli_open_apps(ctx *c, mutual_store **s);
/* Close the store after the apps call that returned `rc`, saying why it
 * failed if it did. */
int cli_close_apps(mutual_store *s, int rc);

/* ------------------------------------------------------------ output */

/* The JSON document (with --json) is built in c->out, field by field;
 * a NULL string value is null. */
void json_next(apps_buf *b);
void json_str(apps_buf *b, const char *key, const char *value);
/* key, value, key, value... up to a NULL key */
void json_strs(apps_buf *b, ...) __attribute__((sentinel));
void json_list(apps_buf *b, const char *key, const char *const *v, size_t n);
void json_time(apps_buf *b, const char *key, int64_t ms);
void json_qty(apps_buf *b, const char *key, int64_t milli);
/* {"ok":true,"done":what  (the caller adds its fields and closes it) */
void json_ok(ctx *c, const char *what);
/* Close the document with `tail` and print it: the one thing on stdout. */
int json_emit(ctx *c, const char *tail);

/*
 * A table for a person: columns padded to the widest cell (counted in
 * characters, so "crème fraîche" lines up), numbers aligned right. The
 * cells are copied (and escaped for the terminal): the apps' strings are
 * only borrowed for a callback. Zero-initialise, then table_start.
 */
typedef struct table {
	char **cells;
	size_t n, cap, cols;
	const char *align; /* 'l' or 'r' per column */
	int failed;
} table;

/* Columns aligned as `align` says, one per letter, under `header` (one
 * title per column; NULL: no header). */
void table_start(table *t, const char *align, const char *const *header);
void table_cell(table *t, const char *text);
int table_print(table *t);
void table_free(table *t);

#endif
