/*
 * rota_cmd.c - mutual-apps rota: shifts in local time, volunteers signing
 * up, dropping and swapping, the workload over four weeks and who could
 * take a shift next, over examples/apps/rota.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apps_cli.h"
#include "term.h"

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

	if ((status = cli_parse(c, opts, NULL, 0, 0, "")) != EXIT_OK)
		return status;
	if (!title || !date || !start || !end)
		return cli_usage_error(c, "%s needs --title, --date YYYY-MM-DD, --start HH:MM and --end HH:MM",
			c->cmd->words);
	if ((slots_text && (status = cli_parse_count(c, &slots, slots_text, 1, 1000, "--slots"))) ||
		(weeks_text && (status = cli_parse_count(c, &weeks, weeks_text, 1, 52, "--weeks"))))
		return status;
	if (apps_local_to_utc(&first, date, start) < 0)
		return cli_usage_error(c, "%s", apps_error());
	if (!valid_hhmm(end))
		return cli_usage_error(c, "--end must look like 19:30, not '%s'", end);
	shift = (rota_new_shift){ title, task, date, start, end, slots, weeks };
	if ((status = cli_open_apps(c, &s)) || (status = cli_close_apps(s, rota_shift_add(id, s, &shift))))
		return status;
	if (c->json) {
		json_ok(c, "shift");
		json_str(&c->out, "id", id);
		apps_buf_printf(&c->out, ",\"weeks\":%u", weeks);
		json_time(&c->out, "start", first);
		return json_emit(c, "}");
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

	if ((status = cli_parse(c, NULL, pos, n, n, c->cmd->args)) || (status = cli_open_apps(c, &s)))
		return status;
	if (add)
		rc = rota_volunteer_add(s, pos[0]);
	else if (swap)
		rc = rota_swap(s, pos[0], pos[1], pos[2]);
	else if (strcmp(verb, "signup") == 0)
		rc = rota_signup(s, pos[0], pos[1]);
	else
		rc = rota_drop(s, pos[0], pos[1]);
	if ((status = cli_close_apps(s, rc)) != EXIT_OK)
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
		return json_emit(c, "}");
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
	table_cell(&l->t, when);
	if (strcmp(sh->title, sh->task) != 0) {
		apps_buf title = { 0 };
		apps_buf_printf(&title, "%s [%s]", sh->title, sh->task);
		table_cell(&l->t, title.data);
		l->t.failed |= title.failed;
		apps_buf_free(&title);
	} else {
		table_cell(&l->t, sh->title);
	}
	table_cell(&l->t, people);
	table_cell(&l->t, sh->id);
	table_cell(&l->t, who.data);
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

	if ((status = cli_parse(c, opts, NULL, 0, 0, "")) ||
		(days_text && (status = cli_parse_count(c, &days, days_text, 1, 366, "--days"))))
		return status;
	if (from_text) {
		if (apps_local_to_utc(&from, from_text, "12:00") < 0)
			return cli_usage_error(c, "--from: %s", apps_error());
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
	if ((status = cli_open_apps(c, &s)) != EXIT_OK)
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
	if ((status = cli_close_apps(s, rota_shifts_foreach(s, from, to, shift_row, &l))) != EXIT_OK)
		goto done;
	if (c->json) {
		status = json_emit(c, "]}");
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
	table_cell(&l->t, load->volunteer);
	table_cell(&l->t, h);
	table_cell(&l->t, n);
	table_cell(&l->t, load->flagged ? "FLAGGED: far more than the median; hand some shifts on" : "");
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

	if ((status = cli_parse(c, NULL, NULL, 0, 0, "")) || (status = cli_open_apps(c, &s)))
		return status;
	if (c->json) {
		apps_buf_puts(&c->out, "{");
		json_time(&c->out, "now", now);
		apps_buf_puts(&c->out, ",\"volunteers\":[");
	} else {
		table_start(&l.t, "lrrl", header);
	}
	if ((status = cli_close_apps(s, rota_workload(s, now, &median, load_row, &l))) != EXIT_OK)
		goto done;
	if (c->json) {
		apps_buf_printf(&c->out, "],\"median_minutes\":%" PRId64, median);
		status = json_emit(c, "}");
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
	table_cell(&l->t, rank);
	table_cell(&l->t, sg->volunteer);
	table_cell(&l->t, h);
	table_cell(&l->t, last);
	return 0;
}

static int cmd_rota_suggest(ctx *c)
{
	const char *pos[1];
	listing l = { .c = c };
	mutual_store *s;
	int status;

	if ((status = cli_parse(c, NULL, pos, 1, 1, "the SHIFT id (as 'rota shifts' shows it)")) ||
		(status = cli_open_apps(c, &s)))
		return status;
	if (c->json) {
		apps_buf_puts(&c->out, "{");
		json_str(&c->out, "shift", pos[0]);
		apps_buf_puts(&c->out, ",\"suggestions\":[");
	} else {
		table_start(&l.t, "rlrl", NULL);
	}
	if ((status = cli_close_apps(s, rota_suggest(s, pos[0], apps_now_ms(), suggestion_row, &l))) != EXIT_OK)
		goto done;
	if (c->json) {
		status = json_emit(c, "]}");
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

static const command commands[] = {
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

const cli_app rota_app = {
	"rota",
	"Volunteer shifts in local time, who is on them, who could take one, and who\n"
	"carries too much.",
	commands, sizeof(commands) / sizeof(commands[0]),
};
