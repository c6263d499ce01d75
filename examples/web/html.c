/*
 * html.c - the page layout every page shares (nav, status message, footer
 * with the last sync) and the small builders of labelled form fields.
 *
 * Every piece of text that did not come from this file goes through
 * apps_buf_html. Fields are always <label for=...> + <input id=...> and
 * actions real <button>s: people using a screen reader, and the browser
 * test, find them by their words. No field carries `required` or a
 * pattern: the server says what is wrong, in the page, with the values kept.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "web.h"

static const char *const nav[][2] = {
	{ "/", "Home" }, { "/pantry", "Pantry" }, { "/board", "Board" },
	{ "/rota", "Rota" }, { "/sync", "Sync" },
};

void page_begin(page *p, web *w, const web_request *rq, web_reply *r, const char *title,
	const char *current, const char *alert)
{
	memset(p, 0, sizeof(*p));
	p->w = w;
	p->rq = rq;
	p->b = &r->body;
	apps_buf *b = p->b;
	apps_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
	apps_buf_html(b, title);
	if (rq->signed_in) {
		apps_buf_puts(b, " – ");
		apps_buf_html(b, mutual_store_group_name(w->store));
	}
	apps_buf_puts(b, "</title><link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">"
		"<link rel=\"stylesheet\" href=\"/assets/style.css\">"
		"<script src=\"/assets/app.js\" defer></script></head><body>"
		"<header><nav aria-label=\"Main\"><ul>");
	for (size_t i = 0; i < sizeof(nav) / sizeof(*nav); i++) {
		int here = current && strcmp(current, nav[i][1]) == 0;
		apps_buf_printf(b, "<li><a href=\"%s\"%s>%s</a></li>", nav[i][0],
			here ? " aria-current=\"page\"" : "", nav[i][1]);
	}
	apps_buf_puts(b, "</ul></nav></header>");
	if (w->insecure_http)
		apps_buf_puts(b, "<p class=\"alert insecure\" role=\"alert\">This connection is not "
			"encrypted: anyone on this network can read these pages and the PIN. Ask the "
			"person at the laptop to start mutual-web without --insecure-http.</p>");
	apps_buf_puts(b, "<main>");
	if (rq->message) {
		apps_buf_puts(b, "<p class=\"status\" role=\"status\">");
		apps_buf_html(b, rq->message);
		apps_buf_puts(b, "</p>");
	}
	if (alert) {
		/* The apps' messages are mid-sentence ("the item is empty"): they
		 * are shown word for word after a lead-in. */
		apps_buf_puts(b, "<p class=\"alert\" role=\"alert\">");
		if (islower((unsigned char)alert[0]))
			apps_buf_puts(b, "Not saved: ");
		apps_buf_html(b, alert);
		apps_buf_puts(b, "</p>");
	}
}

void page_end(page *p)
{
	apps_buf *b = p->b;
	apps_buf_puts(b, "</main><footer>");
	/* On every page, the login included: that is where it is compared. */
	if (p->w->tls)
		apps_buf_printf(b, "<p class=\"fingerprint\">This server's certificate (SHA-256): "
			"<code>%s</code>. It must match what the laptop's screen shows, and what "
			"your browser shows for this page.</p>", p->w->fingerprint);
	/* Before login the footer says nothing about the group's activity. */
	if (p->rq->signed_in) {
		const web_last_sync *ls = &p->w->last_sync;
		apps_buf_puts(b, "<p class=\"last-sync\">Last sync: ");
		if (ls->known) {
			char when[48];
			apps_time_local_zone(when, ls->at);
			apps_buf_html(b, when);
			apps_buf_puts(b, " with ");
			apps_buf_html(b, ls->label);
		} else {
			apps_buf_puts(b, "never");
		}
		apps_buf_puts(b, "</p>");
	}
	apps_buf_puts(b, "</footer></body></html>\n");
}

void page_error(web *w, const web_request *rq, web_reply *r, unsigned int status,
	const char *heading, const char *text)
{
	page p;
	apps_buf_free(&r->body);
	r->status = status;
	page_begin(&p, w, rq, r, heading, NULL, NULL);
	apps_buf_puts(p.b, "<h1>");
	apps_buf_html(p.b, heading);
	apps_buf_puts(p.b, "</h1><p class=\"alert\" role=\"alert\">");
	html_sentence(p.b, text);
	apps_buf_puts(p.b, "</p>");
	page_end(&p);
}

void html_form_begin(page *p, const char *action, const char *cls)
{
	apps_buf_printf(p->b, "<form method=\"post\" action=\"%s\"", action);
	if (cls)
		apps_buf_printf(p->b, " class=\"%s\"", cls);
	apps_buf_puts(p->b, ">");
	html_hidden(p, "csrf", p->rq->csrf ? p->rq->csrf : "");
}

void html_form_end(page *p)
{
	apps_buf_puts(p->b, "</form>");
}

void html_hidden(page *p, const char *name, const char *value)
{
	apps_buf_printf(p->b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	apps_buf_html(p->b, value);
	apps_buf_puts(p->b, "\">");
}

/* The value sent for this field, when the page puts a refused form back. */
static const char *kept_value(const page *p, const char *form_id, const char *name)
{
	if (!p->kept || !p->kept_form || strcmp(p->kept_form, form_id) != 0)
		return NULL;
	return form_get(p->kept, name);
}

static void field_id(apps_buf *b, const char *form_id, const char *name)
{
	apps_buf_html(b, form_id);
	apps_buf_puts(b, "-");
	apps_buf_html(b, name);
}

void html_field(page *p, const char *form_id, const char *name, const char *label,
	const char *attrs)
{
	apps_buf *b = p->b;
	const char *value = kept_value(p, form_id, name);
	apps_buf_puts(b, "<div class=\"field\"><label for=\"");
	field_id(b, form_id, name);
	apps_buf_puts(b, "\">");
	apps_buf_html(b, label);
	apps_buf_puts(b, "</label><input type=\"text\" id=\"");
	field_id(b, form_id, name);
	apps_buf_printf(b, "\" name=\"%s\"", name);
	if (attrs)
		apps_buf_printf(b, " %s", attrs);
	if (value) {
		apps_buf_puts(b, " value=\"");
		apps_buf_html(b, value);
		apps_buf_puts(b, "\"");
	}
	apps_buf_puts(b, "></div>");
}

void html_select(page *p, const char *form_id, const char *name, const char *label,
	const char *const *options, const char *selected)
{
	apps_buf *b = p->b;
	const char *kept = kept_value(p, form_id, name);
	if (kept)
		selected = kept;
	apps_buf_puts(b, "<div class=\"field\"><label for=\"");
	field_id(b, form_id, name);
	apps_buf_puts(b, "\">");
	apps_buf_html(b, label);
	apps_buf_puts(b, "</label><select id=\"");
	field_id(b, form_id, name);
	apps_buf_printf(b, "\" name=\"%s\">", name);
	for (size_t i = 0; options[i]; i += 2) {
		apps_buf_puts(b, "<option value=\"");
		apps_buf_html(b, options[i]);
		apps_buf_puts(b, strcmp(options[i], selected) == 0 ? "\" selected>" : "\">");
		apps_buf_html(b, options[i + 1]);
		apps_buf_puts(b, "</option>");
	}
	apps_buf_puts(b, "</select></div>");
}

void html_button(page *p, const char *text)
{
	apps_buf_puts(p->b, "<button type=\"submit\">");
	apps_buf_html(p->b, text);
	apps_buf_puts(p->b, "</button>");
}

void html_sentence(apps_buf *b, const char *text)
{
	if (!text || !*text)
		return;
	if (islower((unsigned char)text[0])) {
		char first[2] = { (char)toupper((unsigned char)text[0]), '\0' };
		apps_buf_puts(b, first);
		text++;
	}
	apps_buf_html(b, text);
}

void html_time_range(apps_buf *b, int64_t start, int64_t end)
{
	time_t s = (time_t)(start / 1000), e = (time_t)(end / 1000);
	struct tm ts, te;
	char from[64] = "?", to[64] = "?";
	tzset();
	if (localtime_r(&s, &ts) && localtime_r(&e, &te)) {
		int same_day = ts.tm_year == te.tm_year && ts.tm_yday == te.tm_yday;
		strftime(from, sizeof(from), "%a %Y-%m-%d %H:%M", &ts);
		strftime(to, sizeof(to), same_day ? "%H:%M %Z" : "%a %Y-%m-%d %H:%M %Z", &te);
	}
	apps_buf_html(b, from);
	apps_buf_puts(b, "–");
	apps_buf_html(b, to);
}

void html_hours(apps_buf *b, int64_t minutes)
{
	if (minutes % 60)
		apps_buf_printf(b, "%lld h %lld min", (long long)(minutes / 60),
			(long long)(minutes % 60));
	else
		apps_buf_printf(b, "%lld h", (long long)(minutes / 60));
}

unsigned int web_status_for(int rc)
{
	switch (rc) {
	case MUTUAL_EINVALID: return 400;
	case MUTUAL_ENOTFOUND: return 404;
	case MUTUAL_EBUSY:
	case MUTUAL_EREADONLY: return 503;
	default: return 500;
	}
}

int web_parse_count(const char *text, unsigned int max, unsigned int *out)
{
	if (!text)
		return -1;
	while (*text == ' ')
		text++;
	size_t n = strspn(text, "0123456789");
	if (n == 0 || text[n + strspn(text + n, " ")] != '\0')
		return *text ? -2 : -1;
	unsigned long long v = 0;
	for (size_t i = 0; i < n; i++) {
		v = v * 10 + (unsigned)(text[i] - '0');
		if (v > max)
			return -2;
	}
	*out = (unsigned int)v;
	return 0;
}
