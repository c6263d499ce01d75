/*
 * pages_rota.c - the Rota page: new shifts (once or weekly), the shifts of
 * today and the next 14 days with who signed up, a suggestion of who could
 * take each, and the last four weeks' workload with the people carrying
 * far more than the rest marked.
 *
 * Dates and times are typed as local wall-clock text (YYYY-MM-DD, HH:MM)
 * and shown in local time with the zone; the apps store UTC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web.h"

#define DAY_MS INT64_C(86400000)
#define UPCOMING_DAYS 14
#define SUGGESTIONS 3

struct suggest_walk {
	apps_buf *b;
	unsigned int n;
};

static int suggestion(const rota_suggestion *s, void *payload)
{
	struct suggest_walk *walk = payload;
	if (walk->n == SUGGESTIONS)
		return 1;
	apps_buf_puts(walk->b, walk->n ? ", " : "");
	apps_buf_html(walk->b, s->volunteer);
	apps_buf_puts(walk->b, " (");
	html_hours(walk->b, s->minutes);
	apps_buf_puts(walk->b, " in 4 weeks)");
	walk->n++;
	return 0;
}

struct shift_walk {
	page *p;
	int64_t now;
	unsigned int shown;
	int rc;
};

/* "Can't make it? Hand your place to someone": a swap in one step. */
static void hand_over_form(page *p, const rota_shift *shift)
{
	const char **options = calloc(2 * shift->n_volunteers + 1, sizeof(*options));
	char form_id[32];
	if (!options) {
		p->b->failed = 1; /* answered as a 500 */
		return;
	}
	for (size_t i = 0; i < shift->n_volunteers; i++)
		options[2 * i] = options[2 * i + 1] = shift->volunteers[i];
	snprintf(form_id, sizeof(form_id), "swap-%.16s", shift->id);
	html_form_begin(p, "/rota/swap", "swap");
	html_hidden(p, "shift", shift->id);
	html_select(p, form_id, "from", "Whose place", options, shift->volunteers[0]);
	html_field(p, form_id, "to", "Hand it to", "autocomplete=\"off\"");
	html_button(p, "Hand over");
	html_form_end(p);
	free(options);
}

static int shift_row(const rota_shift *shift, void *payload)
{
	struct shift_walk *walk = payload;
	page *p = walk->p;
	apps_buf *b = p->b;
	char form_id[32];
	walk->shown++;
	apps_buf_puts(b, "<article class=\"shift\" data-id=\"");
	apps_buf_html(b, shift->id);
	apps_buf_puts(b, "\"><h3>");
	apps_buf_html(b, shift->title);
	apps_buf_puts(b, "</h3><p class=\"when\">");
	html_time_range(b, shift->start, shift->end);
	apps_buf_printf(b, "</p><p class=\"places\">%zu of %u place%s filled", shift->n_volunteers,
		shift->slots, shift->slots == 1 ? "" : "s");
	if (shift->n_volunteers > shift->slots)
		apps_buf_puts(b, " (more signed up on separate devices than it needs: agree who "
			"goes, and the others drop)");
	apps_buf_puts(b, "</p><ul class=\"names\">");
	for (size_t i = 0; i < shift->n_volunteers; i++) {
		apps_buf_puts(b, "<li><span class=\"name\">");
		apps_buf_html(b, shift->volunteers[i]);
		apps_buf_puts(b, "</span> ");
		html_form_begin(p, "/rota/drop", "inline");
		html_hidden(p, "shift", shift->id);
		html_hidden(p, "volunteer", shift->volunteers[i]);
		html_button(p, "Drop");
		html_form_end(p);
		apps_buf_puts(b, "</li>");
	}
	apps_buf_puts(b, "</ul>");
	if (shift->n_volunteers > 0)
		hand_over_form(p, shift);
	snprintf(form_id, sizeof(form_id), "signup-%.16s", shift->id);
	html_form_begin(p, "/rota/signup", "signup");
	html_hidden(p, "shift", shift->id);
	html_field(p, form_id, "who", "Your name", "data-remember=\"name\" autocomplete=\"name\"");
	html_button(p, "Sign up");
	html_form_end(p);

	struct suggest_walk sw = { b, 0 };
	apps_buf_puts(b, "<p class=\"suggest\">Who could take it: ");
	int rc = rota_suggest(p->w->store, shift->id, walk->now, suggestion, &sw);
	if (rc < 0) {
		walk->rc = rc;
		return rc;
	}
	if (sw.n == 0)
		apps_buf_puts(b, "nobody else known yet");
	apps_buf_puts(b, "</p></article>");
	return 0;
}

static int load_row(const rota_load *load, void *payload)
{
	apps_buf *b = payload;
	apps_buf_puts(b, load->flagged ? "<tr class=\"flagged\"><td>" : "<tr><td>");
	apps_buf_html(b, load->volunteer);
	apps_buf_puts(b, "</td><td class=\"num\">");
	html_hours(b, load->minutes);
	apps_buf_printf(b, "</td><td class=\"num\">%u</td><td>%s</td></tr>", load->shifts,
		load->flagged ? "<strong>carrying a lot</strong>" : "");
	return 0;
}

/* Local midnight at the start of today, so this morning's shifts still show. */
static int64_t start_of_today(int64_t now)
{
	time_t t = (time_t)(now / 1000);
	struct tm tm;
	char date[16];
	int64_t out;
	tzset();
	if (!localtime_r(&t, &tm) || strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0 ||
		apps_local_to_utc(&out, date, "00:00") != 0)
		return now - DAY_MS;
	return out;
}

static void render(web *w, const web_request *rq, web_reply *r, unsigned int status,
	const char *alert, const char *kept_form)
{
	page p;
	int64_t now = apps_now_ms(), median = 0;
	r->status = status;
	page_begin(&p, w, rq, r, "Rota", "Rota", alert);
	p.kept = alert ? rq->form : NULL;
	p.kept_form = kept_form;
	apps_buf *b = p.b;
	apps_buf_puts(b, "<h1>Rota</h1><section><h2>New shift</h2>");
	html_form_begin(&p, "/rota/shift", "new-shift");
	html_field(&p, "shift", "title", "Title", "autocomplete=\"off\"");
	html_field(&p, "shift", "date", "Date", "placeholder=\"YYYY-MM-DD\" inputmode=\"numeric\"");
	html_field(&p, "shift", "start", "Start", "placeholder=\"HH:MM\" inputmode=\"numeric\"");
	html_field(&p, "shift", "end", "End", "placeholder=\"HH:MM\" inputmode=\"numeric\"");
	html_field(&p, "shift", "slots", "People needed", "inputmode=\"numeric\"");
	html_field(&p, "shift", "weeks", "Repeat weekly for (weeks)",
		"inputmode=\"numeric\" placeholder=\"1\"");
	html_button(&p, "Add shift");
	html_form_end(&p);
	apps_buf_puts(b, "<p class=\"hint\">Times are ");
	apps_buf_html(b, apps_zone_name());
	apps_buf_puts(b, " wall-clock time; a weekly shift keeps its hours across a "
		"daylight-saving change.</p></section>");

	apps_buf_printf(b, "<section><h2>Today and the next %d days</h2>", UPCOMING_DAYS);
	struct shift_walk sw = { &p, now, 0, 0 };
	int rc = rota_shifts_foreach(w->store, start_of_today(now), now + UPCOMING_DAYS * DAY_MS,
		shift_row, &sw);
	if (sw.rc)
		rc = sw.rc;
	if (rc == 0 && sw.shown == 0)
		apps_buf_puts(b, "<p>No shifts yet.</p>");
	apps_buf_puts(b, "</section><section><h2>Workload (last 4 weeks)</h2>"
		"<div class=\"table\"><table><thead><tr><th>Volunteer</th><th>Hours</th>"
		"<th>Shifts</th><th></th></tr></thead><tbody>");
	if (rc == 0)
		rc = rota_workload(w->store, now, &median, load_row, b);
	apps_buf_puts(b, "</tbody></table></div><p class=\"median\">Median: ");
	html_hours(b, median);
	apps_buf_puts(b, ". Someone with at least 1.5 times the median and 4 hours more is "
		"marked as carrying a lot: ask who could take a shift off them.</p></section>");
	page_end(&p);
	if (rc != 0)
		page_error(w, rq, r, web_status_for(rc), "Cannot read the rota", apps_error());
}

void page_rota(web *w, const web_request *rq, web_reply *r)
{
	render(w, rq, r, 200, NULL, NULL);
}

void act_rota_shift(web *w, const web_request *rq, web_reply *r)
{
	const form *f = rq->form;
	unsigned int slots = 0, weeks = 1;
	int rc = web_parse_count(form_get(f, "slots"), 1000, &slots);
	if (rc != 0 || slots == 0) {
		render(w, rq, r, 400, "People needed must be a whole number, 1 or more.", "shift");
		return;
	}
	if (web_parse_count(form_get(f, "weeks"), 52, &weeks) == -2 || weeks == 0) {
		render(w, rq, r, 400, "Repeat weekly for: a number of weeks from 1 to 52.", "shift");
		return;
	}
	rota_new_shift shift = {
		.title = form_get(f, "title"), .date = form_get(f, "date"),
		.start = form_get(f, "start"), .end = form_get(f, "end"),
		.slots = slots, .weeks = weeks,
	};
	char id[17], message[64];
	if (weeks == 1)
		snprintf(message, sizeof(message), "Shift added.");
	else
		snprintf(message, sizeof(message), "%u weekly shifts added.", weeks);
	web_finish(w, rq, r, render, "/rota", rota_shift_add(id, w->store, &shift), "shift", message);
}

void act_rota_signup(web *w, const web_request *rq, web_reply *r)
{
	const char *id = form_get(rq->form, "shift");
	char form_id[32];
	snprintf(form_id, sizeof(form_id), "signup-%.16s", id ? id : "");
	web_finish(w, rq, r, render, "/rota", rota_signup(w->store, id, form_get(rq->form, "who")), form_id,
		"Signed up.");
}

void act_rota_swap(web *w, const web_request *rq, web_reply *r)
{
	const char *id = form_get(rq->form, "shift");
	char form_id[32];
	snprintf(form_id, sizeof(form_id), "swap-%.16s", id ? id : "");
	web_finish(w, rq, r, render, "/rota", rota_swap(w->store, id, form_get(rq->form, "from"),
		form_get(rq->form, "to")), form_id, "Place handed over.");
}

void act_rota_drop(web *w, const web_request *rq, web_reply *r)
{
	web_finish(w, rq, r, render, "/rota", rota_drop(w->store, form_get(rq->form, "shift"),
		form_get(rq->form, "volunteer")), NULL, "Dropped from the shift.");
}
