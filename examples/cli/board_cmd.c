/*
 * board_cmd.c - mutual-apps board: requests for help and offers, posted,
 * claimed, released, fulfilled or cancelled, with two offline claims shown
 * as a conflict, over examples/apps/board.c.
 */
#include <stdio.h>
#include <string.h>

#include "apps_cli.h"
#include "term.h"

/* `word` is one of the ", "-separated `list` (BOARD_CATEGORIES). */
static int one_of(const char *word, const char *list)
{
	size_t n = strlen(word);
	for (const char *p = list; n && (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

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

	if ((status = cli_parse(c, opts, pos, 1, 1, "request or offer")) != EXIT_OK)
		return status;
	if (strcmp(pos[0], "request") != 0 && strcmp(pos[0], "offer") != 0)
		return cli_usage_error(c, "posts a request or an offer, not '%s'", pos[0]);
	if (!category || !title || !area)
		return cli_usage_error(c, "%s needs --category, --title and --area", c->cmd->words);
	if (!one_of(category, BOARD_CATEGORIES))
		return cli_usage_error(c, "--category is one of: %s (not '%s')", BOARD_CATEGORIES, category);
	if (urgency && !one_of(urgency, BOARD_URGENCIES))
		return cli_usage_error(c, "--urgency is one of: %s (not '%s')", BOARD_URGENCIES, urgency);
	post = (board_new_post){ pos[0], category, title, area, urgency, contact };
	if ((status = cli_open_apps(c, &s)) || (status = cli_close_apps(s, board_post(id, s, &post))))
		return status;
	if (c->json) {
		json_ok(c, "post");
		json_str(&c->out, "id", id);
		return json_emit(c, "}");
	}
	printf("%s\n", id);
	return EXIT_OK;
}

static int show_posts(ctx *c, const char *id, int all)
{
	board_ctx bc = { c, id != NULL, 0, 0 };
	mutual_store *s;
	int status;

	if ((status = cli_open_apps(c, &s)) != EXIT_OK)
		return status;
	if (c->json && !id)
		apps_buf_puts(&c->out, "{\"posts\":[");
	if ((status = cli_close_apps(s, board_foreach(s, id, all || id, print_post, &bc))) != EXIT_OK)
		return status;
	if (bc.failed)
		return cli_out_of_memory();
	if (c->json)
		return json_emit(c, id ? "" : "]}");
	if (bc.n == 0)
		printf("%s\n", all ? "No posts yet." : "No open posts.");
	return EXIT_OK;
}

static int cmd_board_list(ctx *c)
{
	int all = 0, status;
	const opt opts[] = { { .name = "--all", .flag = &all }, { 0 } };
	if ((status = cli_parse(c, opts, NULL, 0, 0, "")) != EXIT_OK)
		return status;
	return show_posts(c, NULL, all);
}

static int cmd_board_show(ctx *c)
{
	const char *pos[1];
	int status;
	if ((status = cli_parse(c, NULL, pos, 1, 1, "the post's ID (as 'board list' shows it)")) != EXIT_OK)
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

	if ((status = cli_parse(c, claim ? opts : NULL, pos, 1, 1, "the post's ID (as 'board list' shows it)")))
		return status;
	if (claim && !as)
		return cli_usage_error(c, "%s needs --as NAME: who takes it on", c->cmd->words);
	if ((status = cli_open_apps(c, &s)) != EXIT_OK)
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
	if ((status = cli_close_apps(s, rc)) != EXIT_OK)
		return status;
	if (c->json) {
		json_ok(c, verb);
		json_str(&c->out, "id", pos[0]);
		if (claim)
			json_str(&c->out, "holder", as);
		if (clear)
			json_str(&c->out, "note", clear_contact_note);
		return json_emit(c, "}");
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

static const command commands[] = {
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
};

const cli_app board_app = {
	"board",
	"Requests for help and offers, claimed by volunteers. Two claims made offline on\n"
	"two devices are shown as a conflict on both, until someone claims again.",
	commands, sizeof(commands) / sizeof(commands[0]),
};
