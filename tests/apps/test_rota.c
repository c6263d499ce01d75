/*
 * test_rota.c - the volunteer rota (examples/apps/rota.c) through its C
 * API, in Europe/London: weekly shifts that keep their wall clock across a
 * daylight-saving change, overnight shifts, sign-up, drop and swap with
 * their refusals, the workload and its flags, suggestions, malformed
 * events, and two devices that took the same last place offline or
 * signed up and dropped concurrently, and still show the same rota. The
 * front ends' "now" is fixed by a test hook in a -Dtest_hooks=true build
 * (fixed_now) and is the real clock in any other (clock_is_real).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps_check.h"

#define HOUR_MS INT64_C(3600000)

/* Wait until the wall clock has moved on by two milliseconds, so the next
 * event sorts after the last one whichever device writes it. */
static void next_millisecond(void)
{
	struct timespec start, now;
	clock_gettime(CLOCK_REALTIME, &start);
	do
		clock_gettime(CLOCK_REALTIME, &now);
	while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 2);
}

static int64_t at(const char *date, const char *hhmm)
{
	int64_t ms = 0;
	CHECK_APP(apps_local_to_utc(&ms, date, hhmm));
	return ms;
}

static void add_shift(char id[17], mutual_store *s, const char *title, const char *task,
	const char *date, const char *start, const char *end, unsigned int slots)
{
	rota_new_shift sh = { title, task, date, start, end, slots, 1 };
	CHECK_APP(rota_shift_add(id, s, &sh));
}

/* ----------------------------------------------------- copies of rows */

typedef struct {
	char id[17], title[128], task[128];
	int64_t start, end;
	unsigned int slots;
	char volunteers[256]; /* "Ana,Ben" */
	size_t n;
} shift_copy;

typedef struct {
	shift_copy s[16];
	size_t n;
} shift_list;

static int copy_shift(const rota_shift *sh, void *payload)
{
	shift_list *l = payload;
	shift_copy *c;
	CHECK(l->n < 16);
	c = &l->s[l->n++];
	snprintf(c->id, sizeof(c->id), "%s", sh->id);
	snprintf(c->title, sizeof(c->title), "%s", sh->title);
	snprintf(c->task, sizeof(c->task), "%s", sh->task);
	c->start = sh->start;
	c->end = sh->end;
	c->slots = sh->slots;
	c->n = sh->n_volunteers;
	c->volunteers[0] = '\0';
	for (size_t i = 0; i < sh->n_volunteers; i++) {
		if (i)
			strcat(c->volunteers, ",");
		strcat(c->volunteers, sh->volunteers[i]);
	}
	return 0;
}

static shift_list shifts(mutual_store *s, int64_t from, int64_t to)
{
	shift_list l;
	memset(&l, 0, sizeof(l));
	CHECK_APP(rota_shifts_foreach(s, from, to, copy_shift, &l));
	return l;
}

static shift_list all_shifts(mutual_store *s)
{
	return shifts(s, INT64_MIN, INT64_MAX);
}

static const shift_copy *shift_by_id(const shift_list *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->s[i].id, id) == 0)
			return &l->s[i];
	CHECK(!"shift listed");
	return NULL;
}

/* Workload or suggestions as one line: "Dee:720:3:F Cai:180:1 ..." */
static int load_line(const rota_load *load, void *payload)
{
	apps_buf *b = payload;
	apps_buf_printf(b, "%s%s:%lld:%u%s", b->len ? " " : "", load->volunteer,
		(long long)load->minutes, load->shifts, load->flagged ? ":F" : "");
	return 0;
}

static char *workload(mutual_store *s, int64_t now, int64_t *median)
{
	apps_buf b = { 0 };
	apps_buf_puts(&b, "");
	CHECK_APP(rota_workload(s, now, median, load_line, &b));
	CHECK(!b.failed);
	return b.data;
}

static int suggestion_line(const rota_suggestion *sg, void *payload)
{
	apps_buf *b = payload;
	char last[32] = "never";
	if (sg->last_task)
		apps_time_local(last, sg->last_task);
	apps_buf_printf(b, "%s%s:%lld:%s", b->len ? " " : "", sg->volunteer,
		(long long)sg->minutes, last);
	return 0;
}

static char *suggestions(mutual_store *s, const char *shift, int64_t now)
{
	apps_buf b = { 0 };
	apps_buf_puts(&b, "");
	CHECK_APP(rota_suggest(s, shift, now, suggestion_line, &b));
	CHECK(!b.failed);
	return b.data;
}

/* The whole rota as a front end would serve it (shifts, workload,
 * suggestions), as JSON: two devices holding the same events must print
 * the same bytes. */
static int shift_json(const rota_shift *sh, void *payload)
{
	apps_buf *b = payload;
	apps_buf_puts(b, b->data[b->len - 1] == '[' ? "{\"id\":" : ",{\"id\":");
	apps_buf_json(b, sh->id);
	apps_buf_puts(b, ",\"title\":");
	apps_buf_json(b, sh->title);
	apps_buf_puts(b, ",\"task\":");
	apps_buf_json(b, sh->task);
	apps_buf_printf(b, ",\"start\":%lld,\"end\":%lld,\"slots\":%u,\"volunteers\":[",
		(long long)sh->start, (long long)sh->end, sh->slots);
	for (size_t i = 0; i < sh->n_volunteers; i++) {
		if (i)
			apps_buf_puts(b, ",");
		apps_buf_json(b, sh->volunteers[i]);
	}
	apps_buf_puts(b, "]}");
	return 0;
}

static char *rota_json(mutual_store *s, int64_t now)
{
	apps_buf b = { 0 };
	shift_list l = all_shifts(s);
	int64_t median = -1;
	char *load = workload(s, now, &median);

	apps_buf_puts(&b, "{\"shifts\":[");
	CHECK_APP(rota_shifts_foreach(s, INT64_MIN, INT64_MAX, shift_json, &b));
	apps_buf_printf(&b, "],\"median\":%lld,\"workload\":", (long long)median);
	apps_buf_json(&b, load);
	apps_buf_puts(&b, ",\"suggestions\":{");
	for (size_t i = 0; i < l.n; i++) {
		char *sg = suggestions(s, l.s[i].id, now);
		apps_buf_printf(&b, "%s\"%s\":", i ? "," : "", l.s[i].id);
		apps_buf_json(&b, sg);
		free(sg);
	}
	apps_buf_puts(&b, "}}");
	CHECK(!b.failed);
	free(load);
	return b.data;
}

static void check_same_rota(mutual_store *a, mutual_store *b, int64_t now)
{
	char *ja = rota_json(a, now), *jb = rota_json(b, now);
	uint8_t da[MUTUAL_HASH_SIZE], db[MUTUAL_HASH_SIZE];
	if (strcmp(ja, jb) != 0) {
		fprintf(stderr, "the two devices differ:\n%s\n%s\n", ja, jb);
		exit(1);
	}
	CHECK_OK(mutual_state_digest(da, a));
	CHECK_OK(mutual_state_digest(db, b));
	CHECK(memcmp(da, db, sizeof(da)) == 0);
	free(ja);
	free(jb);
}

/* -------------------------------------------------------------- cases */

static int stop_at_first(const rota_shift *sh, void *payload)
{
	(void)sh;
	(*(int *)payload)++;
	return 7;
}

static void weekly_across_dst(void)
{
	mutual_store *s = apps_store("a", "alpha", NULL);
	/* British Summer Time ends on Sunday 2026-10-25. */
	rota_new_shift sh = { "Thursday hand-out", NULL, "2026-10-22", "17:00", "19:00", 2, 3 };
	static const char *const utc[] = { "2026-10-22T16:00:00Z", "2026-10-29T17:00:00Z",
		"2026-11-05T17:00:00Z" };
	static const char *const local[] = { "2026-10-22 17:00", "2026-10-29 17:00",
		"2026-11-05 17:00" };
	mutual_iter_options opts = MUTUAL_ITER_OPTIONS_INIT;
	const mutual_event *ev;
	mutual_iter *it;
	uint64_t seq[3];
	char first[17], buf[32];
	size_t n = 0;
	int calls = 0;

	CHECK_APP(rota_shift_add(first, s, &sh));
	shift_list l = all_shifts(s);
	CHECK(l.n == 3);
	CHECK(strcmp(l.s[0].id, first) == 0);
	CHECK(strcmp(l.s[0].id, l.s[1].id) != 0 && strcmp(l.s[1].id, l.s[2].id) != 0);
	for (size_t i = 0; i < 3; i++) {
		apps_time_utc(buf, l.s[i].start);
		CHECK(strcmp(buf, utc[i]) == 0);
		apps_time_local(buf, l.s[i].start);
		CHECK(strcmp(buf, local[i]) == 0);
		CHECK(l.s[i].end - l.s[i].start == 2 * HOUR_MS);
		CHECK(strcmp(l.s[i].title, "Thursday hand-out") == 0);
		CHECK(strcmp(l.s[i].task, "Thursday hand-out") == 0); /* no task: the title */
		CHECK(l.s[i].slots == 2 && l.s[i].n == 0);
	}
	/* One batch: consecutive seqs, each week's local wall clock and zone. */
	opts.type = "rota.shift";
	CHECK_OK(mutual_iter_new(&it, s, &opts));
	while (mutual_iter_next(&ev, it) == 0) {
		char want[64];
		CHECK(n < 3);
		seq[n] = mutual_event_get_id(ev)->seq;
		snprintf(want, sizeof(want), "\"local\":\"%s\"", local[n]);
		CHECK(strstr(mutual_event_payload(ev), want));
		CHECK(strstr(mutual_event_payload(ev), "\"zone\":\"Europe/London\""));
		n++;
	}
	mutual_iter_free(it);
	CHECK(n == 3 && seq[1] == seq[0] + 1 && seq[2] == seq[1] + 1);
	/* [from, to) by start. */
	l = shifts(s, l.s[1].start, l.s[2].start);
	CHECK(l.n == 1);
	apps_time_utc(buf, l.s[0].start);
	CHECK(strcmp(buf, utc[1]) == 0);
	/* A callback's non-zero return stops the walk and is returned. */
	CHECK_RC(rota_shifts_foreach(s, INT64_MIN, INT64_MAX, stop_at_first, &calls), 7);
	CHECK(calls == 1);
	mutual_store_free(s);
}

static void shift_refusals(void)
{
	mutual_store *s = apps_store("a", "alpha", NULL);
	char long_title[122];
	static const struct {
		rota_new_shift sh;
		const char *words;
	} bad[] = {
		/* The clocks go forward at 01:00 on 2026-03-29: 01:30 never happens. */
		{ { "Early", NULL, "2026-03-29", "01:30", "03:00", 1, 1 }, "does not exist" },
		/* ... nor does it in the second week of this repeat: none is written. */
		{ { "Early", NULL, "2026-03-22", "01:30", "03:00", 1, 2 }, "2026-03-29 01:30 does not exist" },
		/* An overnight shift ending in the gap. */
		{ { "Night", NULL, "2026-03-28", "22:00", "01:30", 1, 1 }, "does not exist" },
		{ { "Hand-out", NULL, "2026-11-26", "17:00", "19:00", 0, 1 }, "1 to 50 people" },
		{ { "Hand-out", NULL, "2026-11-26", "17:00", "19:00", 51, 1 }, "1 to 50 people" },
		{ { "Hand-out", NULL, "2026-11-26", "17:00", "19:00", 1, 0 }, "1 to 52 weeks" },
		{ { "Hand-out", NULL, "2026-11-26", "17:00", "19:00", 1, 53 }, "1 to 52 weeks" },
		{ { "Hand-out", NULL, "2026-11-26", "17:00", "17:00", 1, 1 }, "ends when it starts" },
		{ { "Hand-out", NULL, "2026-11-26", "7:00", "19:00", 1, 1 }, "HH:MM" },
		{ { "Hand-out", NULL, "2026-11-26", "17:00", "24:00", 1, 1 }, "HH:MM" },
		{ { "Hand-out", NULL, "2026-13-01", "17:00", "19:00", 1, 1 }, "no such date" },
		{ { "Hand-out", NULL, "2026-02-30", "17:00", "19:00", 1, 1 }, "no such date" },
		{ { "Hand-out", NULL, "26-11-2026", "17:00", "19:00", 1, 1 }, "date must look like" },
		{ { "   ", NULL, "2026-11-26", "17:00", "19:00", 1, 1 }, "title is empty" },
		{ { NULL, NULL, "2026-11-26", "17:00", "19:00", 1, 1 }, "title is missing" },
		{ { "Hand-out", "a\x01", "2026-11-26", "17:00", "19:00", 1, 1 }, "task has a control" },
	};
	rota_new_shift too_long = { long_title, NULL, "2026-11-26", "17:00", "19:00", 1, 1 };
	rota_new_shift longest = too_long;
	char id[17];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_REFUSED(rota_shift_add(id, s, &bad[i].sh), MUTUAL_EINVALID, bad[i].words);
	memset(long_title, 'x', 121);
	long_title[121] = '\0';
	CHECK_REFUSED(rota_shift_add(id, s, &too_long), MUTUAL_EINVALID, "longer than 120");
	CHECK(count_events(s, "rota.shift") == 0);
	CHECK(all_shifts(s).n == 0);
	/* 120 bytes, 50 people and 52 weeks are allowed. */
	long_title[120] = '\0';
	longest.slots = 50;
	longest.weeks = 52;
	CHECK_APP(rota_shift_add(id, s, &longest));
	CHECK(count_events(s, "rota.shift") == 52);
	mutual_store_free(s);
}

static void overnight(void)
{
	mutual_store *s = apps_store("a", "alpha", NULL);
	char id[17], buf[32];
	shift_list l;

	add_shift(id, s, "Night shelter", "shelter", "2026-11-26", "22:00", "06:00", 2);
	/* The night the clocks go back: 22:00 BST to 06:00 GMT is nine hours. */
	add_shift(id, s, "Night shelter", "shelter", "2026-10-24", "22:00", "06:00", 2);
	l = all_shifts(s);
	CHECK(l.n == 2);
	apps_time_utc(buf, l.s[0].start);
	CHECK(strcmp(buf, "2026-10-24T21:00:00Z") == 0);
	apps_time_utc(buf, l.s[0].end);
	CHECK(strcmp(buf, "2026-10-25T06:00:00Z") == 0);
	CHECK(l.s[0].end - l.s[0].start == 9 * HOUR_MS);
	apps_time_utc(buf, l.s[1].start);
	CHECK(strcmp(buf, "2026-11-26T22:00:00Z") == 0);
	apps_time_local(buf, l.s[1].end);
	CHECK(strcmp(buf, "2026-11-27 06:00") == 0);
	CHECK(l.s[1].end - l.s[1].start == 8 * HOUR_MS);
	CHECK(strcmp(l.s[1].task, "shelter") == 0);
	mutual_store_free(s);
}

static void signup_drop_swap(void)
{
	mutual_store *s = apps_store("a", "alpha", NULL);
	char id[17], *load;
	shift_list l;

	add_shift(id, s, "Thursday hand-out", NULL, "2026-11-26", "17:00", "19:00", 2);
	/* Names are cleaned; the list is sorted whatever the order of signing. */
	CHECK_APP(rota_signup(s, id, "  Ben \t Okafor "));
	CHECK_APP(rota_signup(s, id, "Ana"));
	l = all_shifts(s);
	CHECK(l.s[0].n == 2 && strcmp(l.s[0].volunteers, "Ana,Ben Okafor") == 0);
	CHECK_REFUSED(rota_signup(s, id, " Ana"), MUTUAL_EINVALID, "Ana is already signed up for Thursday hand-out on 2026-11-26 17:00");
	CHECK_REFUSED(rota_signup(s, id, "Cai"), MUTUAL_EINVALID, "is full (2 of 2 places taken)");
	CHECK_REFUSED(rota_signup(s, "0123456789abcdef", "Cai"), MUTUAL_ENOTFOUND, "no shift");
	CHECK_REFUSED(rota_signup(s, id, ""), MUTUAL_EINVALID, "name is empty");
	CHECK_REFUSED(rota_signup(s, id, NULL), MUTUAL_EINVALID, "name is missing");
	CHECK_REFUSED(rota_drop(s, id, "Cai"), MUTUAL_EINVALID, "Cai is not signed up");
	CHECK_REFUSED(rota_drop(s, "0123456789abcdef", "Ana"), MUTUAL_ENOTFOUND, "no shift");
	CHECK_REFUSED(rota_swap(s, id, "Ana", " Ana "), MUTUAL_EINVALID, "two different people");
	CHECK_REFUSED(rota_swap(s, id, "Cai", "Dee"), MUTUAL_EINVALID, "Cai is not signed up");
	CHECK_REFUSED(rota_swap(s, id, "Ana", "Ben Okafor"), MUTUAL_EINVALID, "Ben Okafor is already signed up");
	CHECK_REFUSED(rota_swap(s, id, "Ana", "x\x7f"), MUTUAL_EINVALID, "control character");
	CHECK(count_events(s, "rota.signup") == 2);
	CHECK(count_events(s, "rota.drop") == 0 && count_events(s, "rota.swap") == 0);

	CHECK_APP(rota_drop(s, id, "Ana"));
	l = all_shifts(s);
	CHECK(l.s[0].n == 1 && strcmp(l.s[0].volunteers, "Ben Okafor") == 0);
	CHECK_APP(rota_swap(s, id, "Ben Okafor", "Cai"));
	l = all_shifts(s);
	CHECK(l.s[0].n == 1 && strcmp(l.s[0].volunteers, "Cai") == 0);
	CHECK(count_events(s, "rota.swap") == 1);
	/* A dropped place can be taken again. */
	CHECK_APP(rota_signup(s, id, "Ana"));
	l = all_shifts(s);
	CHECK(strcmp(l.s[0].volunteers, "Ana,Cai") == 0);

	/* Everyone who ever signed up or was swapped in is known, plus the list. */
	CHECK_APP(rota_volunteer_add(s, "  Dee   Lee "));
	CHECK_APP(rota_volunteer_add(s, "Dee Lee")); /* already known: nothing written */
	CHECK(count_events(s, "rota.volunteer") == 1);
	CHECK_REFUSED(rota_volunteer_add(s, "\xff"), MUTUAL_EINVALID, "not valid UTF-8");
	load = workload(s, at("2026-12-01", "12:00"), NULL);
	CHECK(strcmp(load, "Ana:120:1 Cai:120:1 Ben Okafor:0:0 Dee Lee:0:0") == 0);
	free(load);
	mutual_store_free(s);
}

static void workload_flags(void)
{
	mutual_store *s = apps_store("a", "alpha", NULL);
	int64_t now = at("2026-11-30", "12:00"), median = -1;
	char id[17], *load;
	static const struct {
		const char *who, *date, *start, *end;
	} done[] = {
		{ "Ana", "2026-11-10", "10:00", "12:00" },
		{ "Ben", "2026-11-11", "10:00", "12:00" },
		{ "Cai", "2026-11-12", "10:00", "13:00" },
		{ "Dee", "2026-11-13", "08:00", "12:00" },
		{ "Dee", "2026-11-20", "08:00", "12:00" },
		{ "Dee", "2026-11-27", "08:00", "12:00" },
		/* Outside the four weeks: 41 days before, and still to come. */
		{ "Ana", "2026-10-20", "10:00", "20:00" },
		{ "Ben", "2026-12-05", "10:00", "20:00" },
	};

	for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++) {
		add_shift(id, s, "Sorting", NULL, done[i].date, done[i].start, done[i].end, 1);
		CHECK_APP(rota_signup(s, id, done[i].who));
	}
	/* Hours 2, 2, 3 and 12: the median is 2.5 h; 12 h is more than 1.5
	 * times that and 4 h above it. 3 h is neither. */
	load = workload(s, now, &median);
	CHECK(median == 150);
	CHECK(strcmp(load, "Dee:720:3:F Cai:180:1 Ana:120:1 Ben:120:1") == 0);
	free(load);
	/* Mostly idle: with a median of 0, anyone with 4 h or more is flagged
	 * (Dee carries the rota); 3 h is not. */
	CHECK_APP(rota_volunteer_add(s, "Eve"));
	CHECK_APP(rota_volunteer_add(s, "Fay"));
	CHECK_APP(rota_volunteer_add(s, "Gus"));
	CHECK_APP(rota_volunteer_add(s, "Hal"));
	CHECK_APP(rota_volunteer_add(s, "Ivy"));
	load = workload(s, now, &median);
	CHECK(median == 0);
	CHECK(strcmp(load, "Dee:720:3:F Cai:180:1 Ana:120:1 Ben:120:1 Eve:0:0 Fay:0:0 Gus:0:0 Hal:0:0 Ivy:0:0") == 0);
	free(load);
	/* Three weeks on, only Ben's 10 h of 2026-12-05 and Dee's last 4 h
	 * fall in the window: 4 h exactly is flagged over a median of 0. */
	load = workload(s, at("2026-12-20", "12:00"), &median);
	CHECK(median == 0);
	CHECK(strcmp(load, "Ben:600:1:F Dee:240:1:F Ana:0:0 Cai:0:0 Eve:0:0 Fay:0:0 Gus:0:0 Hal:0:0 Ivy:0:0") == 0);
	free(load);
	mutual_store_free(s);
}

static void suggest_order(void)
{
	mutual_store *s = apps_store("a", "alpha", NULL);
	int64_t now = at("2026-11-30", "12:00");
	char target[17], id[17], *sg;
	static const struct {
		const char *who, *task, *date, *start, *end;
	} done[] = {
		{ "Ana", "hand-out", "2026-11-12", "17:00", "19:00" },
		{ "Ben", "hand-out", "2026-11-05", "17:00", "19:00" },
		{ "Cai", "sorting", "2026-11-15", "10:00", "12:00" },
		{ "Gus", "hand-out", "2026-10-01", "17:00", "19:00" }, /* before the four weeks */
		{ "Eve", "sorting", "2026-12-03", "18:00", "20:00" },  /* overlaps the target */
		{ "Ivy", "hand-out", "2026-12-03", "19:00", "21:00" }, /* right after it: free */
	};

	add_shift(target, s, "Thursday hand-out", "hand-out", "2026-12-03", "17:00", "19:00", 3);
	for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++) {
		add_shift(id, s, "Shift", done[i].task, done[i].date, done[i].start, done[i].end, 1);
		CHECK_APP(rota_signup(s, id, done[i].who));
	}
	CHECK_APP(rota_signup(s, target, "Fay")); /* already on it */
	CHECK_APP(rota_volunteer_add(s, "Dee"));
	CHECK_APP(rota_volunteer_add(s, "Hal"));
	/* Fewest hours first; then whoever has not done this task longest
	 * (never first; Ivy's hand-out is still to come); then by name. */
	sg = suggestions(s, target, now);
	CHECK(strcmp(sg, "Dee:0:never Hal:0:never Ivy:0:never Gus:0:2026-10-01 17:00 "
			 "Cai:120:never Ben:120:2026-11-05 17:00 Ana:120:2026-11-12 17:00") == 0);
	free(sg);
	CHECK_REFUSED(rota_suggest(s, "0123456789abcdef", now, suggestion_line, NULL), MUTUAL_ENOTFOUND,
		"no shift");
	mutual_store_free(s);
}

static void malformed_events(void)
{
	mutual_store *s = apps_store("a", "alpha", NULL);
	static const char *const events[][2] = {
		{ "rota.shift", "{\"id\":5,\"title\":\"x\",\"start\":1,\"end\":2,\"slots\":1}" },
		{ "rota.shift", "{\"id\":\"s1\",\"title\":\"x\",\"start\":\"1\",\"end\":2,\"slots\":1}" },
		{ "rota.shift", "{\"id\":\"s2\",\"title\":\"x\",\"start\":1,\"end\":2,\"slots\":1.5}" },
		{ "rota.shift", "{}" },
		{ "rota.signup", "{\"shift\":\"nope\",\"volunteer\":\"Ana\"}" },
		{ "rota.signup", "{\"shift\":\"s3\",\"volunteer\":[\"Ben\"]}" },
		{ "rota.volunteer", "{\"name\":{\"first\":\"Cai\"}}" },
		{ "rota.swap", "{}" },
		{ "rota.drop", "{\"shift\":1}" },
		{ "rota.unknown", "{\"id\":\"s4\"}" },
	};
	char id[17], *load;
	shift_list l;

	/* Written by another program through `mutual append`: skipped, and
	 * the rota still reads and writes. */
	add_shift(id, s, "Thursday hand-out", NULL, "2026-11-26", "17:00", "19:00", 2);
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		CHECK_OK(mutual_append(NULL, s, events[i][0], events[i][1]));
	CHECK_OK(mutual_append(NULL, s, "rota.shift",
		"{\"id\":\"s3\",\"title\":\"Bare\",\"start\":1000,\"end\":2000,\"slots\":1}"));
	CHECK_APP(rota_signup(s, id, "Dee"));
	l = all_shifts(s);
	CHECK(l.n == 2);
	CHECK(strcmp(l.s[0].id, "s3") == 0 && strcmp(l.s[0].task, "Bare") == 0 && l.s[0].n == 0);
	CHECK(strcmp(l.s[1].volunteers, "Dee") == 0);
	/* Ana signed up for a shift that does not exist: known, on nothing. */
	load = workload(s, at("2026-12-01", "12:00"), NULL);
	CHECK(strcmp(load, "Dee:120:1 Ana:0:0") == 0);
	free(load);
	mutual_store_free(s);
}

static void offline_last_place(void)
{
	mutual_store *a = apps_store("a", "alpha", NULL), *b = apps_store("b", "bea", a);
	int64_t now = at("2026-11-27", "12:00");
	char id[17];
	shift_list l;

	add_shift(id, a, "Thursday hand-out", NULL, "2026-11-26", "17:00", "19:00", 2);
	CHECK_APP(rota_signup(a, id, "Ana"));
	sync_both(a, b);
	/* Offline, each device sees one place left and gives it away. */
	CHECK_APP(rota_signup(a, id, "Ben"));
	CHECK_APP(rota_signup(b, id, "Cai"));
	CHECK_REFUSED(rota_signup(b, id, "Dee"), MUTUAL_EINVALID, "full");
	sync_both(a, b);
	/* Nobody is hidden: the shift shows three on two places, on both. */
	l = all_shifts(a);
	CHECK(l.n == 1 && l.s[0].slots == 2 && l.s[0].n == 3);
	CHECK(strcmp(l.s[0].volunteers, "Ana,Ben,Cai") == 0);
	l = all_shifts(b);
	CHECK(l.n == 1 && l.s[0].n == 3 && strcmp(l.s[0].volunteers, "Ana,Ben,Cai") == 0);
	check_same_rota(a, b, now);
	CHECK_REFUSED(rota_signup(b, id, "Dee"), MUTUAL_EINVALID, "3 of 2 places taken");
	/* Someone steps back; everyone sees it after the next sync. */
	CHECK_APP(rota_drop(b, id, "Ben"));
	sync_both(a, b);
	l = all_shifts(a);
	CHECK(strcmp(l.s[0].volunteers, "Ana,Cai") == 0);
	check_same_rota(a, b, now);
	mutual_store_free(a);
	mutual_store_free(b);
}

static void concurrent_signup_drop(void)
{
	mutual_store *a = apps_store("a", "alpha", NULL), *b = apps_store("b", "bea", a);
	int64_t now = at("2026-12-01", "12:00");
	char x[17], y[17];
	shift_list l;
	char *before;

	add_shift(x, a, "Thursday hand-out", NULL, "2026-11-26", "17:00", "19:00", 3);
	add_shift(y, a, "Friday sorting", NULL, "2026-11-27", "10:00", "12:00", 3);
	CHECK_APP(rota_signup(a, x, "Ana"));
	CHECK_APP(rota_signup(a, y, "Ana"));
	sync_both(a, b);
	/* Offline. On x, Ana drops and signs up again on a; then b drops her:
	 * b's drop comes last. On y, b drops her first; then a drops and signs
	 * her up again: a's sign-up comes last. Meanwhile Ben joins x on b. */
	CHECK_APP(rota_drop(a, x, "Ana"));
	CHECK_APP(rota_signup(a, x, "Ana"));
	next_millisecond();
	CHECK_APP(rota_drop(b, x, "Ana"));
	CHECK_APP(rota_drop(b, y, "Ana"));
	CHECK_APP(rota_signup(b, x, "Ben"));
	next_millisecond();
	CHECK_APP(rota_drop(a, y, "Ana"));
	CHECK_APP(rota_signup(a, y, "Ana"));
	sync_both(a, b);
	/* Both devices apply them in the same total order. */
	l = all_shifts(a);
	CHECK(strcmp(shift_by_id(&l, x)->volunteers, "Ben") == 0);
	CHECK(strcmp(shift_by_id(&l, y)->volunteers, "Ana") == 0);
	l = all_shifts(b);
	CHECK(strcmp(shift_by_id(&l, x)->volunteers, "Ben") == 0);
	CHECK(strcmp(shift_by_id(&l, y)->volunteers, "Ana") == 0);
	check_same_rota(a, b, now);
	/* And a replay from the log gives the same rota. */
	before = rota_json(b, now);
	CHECK_OK(mutual_rebuild(b));
	{
		char *after = rota_json(b, now);
		CHECK(strcmp(before, after) == 0);
		free(after);
	}
	free(before);
	mutual_store_free(a);
	mutual_store_free(b);
}

static int64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#ifdef MUTUAL_TEST_HOOKS
/* The front ends' "now", fixed for tests: a test build's hook (meson
 * registers this case only with -Dtest_hooks=true). */
static void fixed_now(void)
{
	int64_t now = at("2026-11-30", "12:00");
	char now_text[32];

	snprintf(now_text, sizeof(now_text), "%lld", (long long)now);
	CHECK(setenv("MUTUAL_APPS_NOW_MS", now_text, 1) == 0);
	CHECK(apps_now_ms() == now);
	unsetenv("MUTUAL_APPS_NOW_MS");
	now = clock_ms();
	CHECK(apps_now_ms() >= now); /* back to the real clock */
}
#else
/* A shipped build has no fixed clock: $MUTUAL_APPS_NOW_MS is never read,
 * so "now" is the real clock whatever the environment says. */
static void clock_is_real(void)
{
	int64_t before = clock_ms(), now, after;

	CHECK(setenv("MUTUAL_APPS_NOW_MS", "12345", 1) == 0);
	now = apps_now_ms();
	after = clock_ms();
	unsetenv("MUTUAL_APPS_NOW_MS");
	CHECK(now >= before && now <= after);
}
#endif

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "weekly_across_dst", weekly_across_dst },
		{ "shift_refusals", shift_refusals },
		{ "overnight", overnight },
		{ "signup_drop_swap", signup_drop_swap },
		{ "workload_flags", workload_flags },
		{ "suggest_order", suggest_order },
		{ "malformed_events", malformed_events },
		{ "offline_last_place", offline_last_place },
		{ "concurrent_signup_drop", concurrent_signup_drop },
#ifdef MUTUAL_TEST_HOOKS
		{ "fixed_now", fixed_now },
#else
		{ "clock_is_real", clock_is_real },
#endif
	};
	/* Every expected time below is British: BST ends on 2026-10-25. */
	setenv("TZ", "Europe/London", 1);
	tzset();
	unsetenv("MUTUAL_APPS_NOW_MS");
	return run_cases(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
