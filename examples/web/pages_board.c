/*
 * pages_board.c - the Board page: requests and offers of help, who has
 * taken each on, and the conflicts left when two volunteers claimed the
 * same post on two devices offline (shown on every device, with every
 * name, until someone claims or releases again having seen them).
 */
#include <stdio.h>
#include <string.h>

#include "web.h"

static const char *const categories[] = {
	"groceries", "Groceries", "medicine", "Medicine", "rides", "Rides",
	"rent-support", "Rent support", "other", "Other", NULL,
};
static const char *const kinds[] = { "request", "Request", "offer", "Offer", NULL };
static const char *const urgencies[] = {
	"low", "Low", "normal", "Normal", "urgent", "Urgent", NULL,
};

/* Each post's own forms; the post id is 16 hex digits, safe in ids. */
static void post_action(page *p, const board_item *item, const char *action, const char *text)
{
	char path[64];
	snprintf(path, sizeof(path), "/board/%s", action);
	html_form_begin(p, path, "inline");
	html_hidden(p, "id", item->id);
	html_button(p, text);
	html_form_end(p);
}

static void conflict_line(apps_buf *b, const board_item *item)
{
	if (item->n_conflicting_holders > 0) {
		apps_buf_puts(b, "<p class=\"conflict\">Conflict: ");
		for (size_t i = 0; i < item->n_conflicting_holders; i++) {
			if (i > 0)
				apps_buf_puts(b, i + 1 == item->n_conflicting_holders ? " and " : ", ");
			apps_buf_html(b, item->conflicting_holders[i]);
		}
		apps_buf_puts(b, " also claimed this while offline. Agree who does it, then claim "
			"again.</p>");
	}
	if (item->status_conflict)
		apps_buf_puts(b, "<p class=\"conflict\">Conflict: two devices changed this post's "
			"status while offline. Check it, then set it again.</p>");
}

static int post_row(const board_item *item, void *payload)
{
	page *p = payload;
	apps_buf *b = p->b;
	int closed = strcmp(item->status, "fulfilled") == 0 || strcmp(item->status, "cancelled") == 0;
	int claimed = strcmp(item->status, "claimed") == 0;
	char posted[48], form_id[32];
	apps_time_local_zone(posted, item->posted);

	apps_buf_puts(b, "<article class=\"post");
	if (item->urgency && strcmp(item->urgency, "urgent") == 0)
		apps_buf_puts(b, " urgent");
	apps_buf_puts(b, "\" data-id=\"");
	apps_buf_html(b, item->id);
	apps_buf_puts(b, "\"><h3>");
	apps_buf_html(b, item->title);
	apps_buf_puts(b, "</h3><p class=\"meta\">");
	html_sentence(b, item->kind);
	apps_buf_puts(b, " · ");
	apps_buf_html(b, item->category);
	apps_buf_puts(b, " · ");
	apps_buf_html(b, item->area);
	apps_buf_puts(b, " · ");
	apps_buf_html(b, item->urgency);
	apps_buf_puts(b, " · posted ");
	apps_buf_html(b, posted);
	apps_buf_puts(b, "</p><p class=\"state\">");
	if (claimed) {
		apps_buf_puts(b, "Claimed by ");
		apps_buf_html(b, item->holder);
	} else {
		html_sentence(b, item->status);
	}
	apps_buf_puts(b, "</p>");
	conflict_line(b, item);
	if (item->contact && item->contact[0]) {
		apps_buf_puts(b, "<p class=\"contact\">Contact: ");
		apps_buf_html(b, item->contact);
		apps_buf_puts(b, "</p>");
	}

	if (!closed) {
		snprintf(form_id, sizeof(form_id), "claim-%.16s", item->id);
		html_form_begin(p, "/board/claim", "claim");
		html_hidden(p, "id", item->id);
		html_field(p, form_id, "who", "Your name", "data-remember=\"name\" autocomplete=\"name\"");
		html_button(p, "Claim");
		html_form_end(p);
		apps_buf_puts(b, "<div class=\"actions\">");
		if (claimed) {
			post_action(p, item, "release", "Release");
			post_action(p, item, "fulfil", "Mark fulfilled");
		}
		post_action(p, item, "cancel", "Cancel");
		apps_buf_puts(b, "</div>");
	} else if (item->contact && item->contact[0]) {
		apps_buf_puts(b, "<div class=\"actions\">");
		post_action(p, item, "clear-contact", "Clear contact");
		apps_buf_puts(b, "</div><p class=\"hint\">Clearing hides the contact here and on "
			"every device after a sync; the log still holds it until redaction exists.</p>");
	}
	apps_buf_puts(b, "</article>");
	return 0;
}

/* Posts open or claimed first, then (after one heading) the closed ones. */
struct listing {
	page *p;
	int in_closed;
	unsigned int shown;
};

static int list_row(const board_item *item, void *payload)
{
	struct listing *l = payload;
	int closed = strcmp(item->status, "fulfilled") == 0 || strcmp(item->status, "cancelled") == 0;
	if (closed && !l->in_closed) {
		if (l->shown == 0)
			apps_buf_puts(l->p->b, "<p>Nothing open right now.</p>");
		apps_buf_puts(l->p->b, "</section><section><h2>Closed</h2>");
		l->in_closed = 1;
	}
	l->shown++;
	return post_row(item, l->p);
}

static void render(web *w, const web_request *rq, web_reply *r, unsigned int status,
	const char *alert, const char *kept_form)
{
	page p;
	r->status = status;
	page_begin(&p, w, rq, r, "Board", "Board", alert);
	p.kept = alert ? rq->form : NULL;
	p.kept_form = kept_form;
	apps_buf *b = p.b;
	apps_buf_puts(b, "<h1>Board</h1><section><h2>New request or offer</h2>");
	html_form_begin(&p, "/board/post", "new-post");
	html_field(&p, "post", "title", "Title", "autocomplete=\"off\"");
	html_field(&p, "post", "area", "Area", "placeholder=\"neighbourhood, never a full address\"");
	html_field(&p, "post", "contact", "Contact (how to reach them)", "autocomplete=\"off\"");
	html_select(&p, "post", "category", "Category", categories, "groceries");
	html_select(&p, "post", "kind", "Kind", kinds, "request");
	html_select(&p, "post", "urgency", "Urgency", urgencies, "normal");
	html_button(&p, "Post");
	html_form_end(&p);
	apps_buf_puts(b, "</section><section><h2>Open and claimed</h2>");
	struct listing l = { &p, 0, 0 };
	int rc = board_foreach(w->store, NULL, 1, list_row, &l);
	if (l.shown == 0)
		apps_buf_puts(b, "<p>Nothing open right now.</p>");
	apps_buf_puts(b, "</section>");
	page_end(&p);
	if (rc != 0)
		page_error(w, rq, r, web_status_for(rc), "Cannot read the board", apps_error());
}

void page_board(web *w, const web_request *rq, web_reply *r)
{
	render(w, rq, r, 200, NULL, NULL);
}

void act_board_post(web *w, const web_request *rq, web_reply *r)
{
	const form *f = rq->form;
	board_new_post post = {
		.kind = form_get(f, "kind"), .category = form_get(f, "category"),
		.title = form_get(f, "title"), .area = form_get(f, "area"),
		.urgency = form_get(f, "urgency"), .contact = form_get(f, "contact"),
	};
	char id[17];
	web_finish(w, rq, r, render, "/board", board_post(id, w->store, &post), "post", "Posted.");
}

void act_board_claim(web *w, const web_request *rq, web_reply *r)
{
	const char *id = form_get(rq->form, "id");
	const char *who = form_get(rq->form, "who");
	char form_id[32], message[128];
	snprintf(form_id, sizeof(form_id), "claim-%.16s", id ? id : "");
	int rc = board_claim(w->store, id, who);
	snprintf(message, sizeof(message), "Claimed by %.60s.", who ? who : "");
	web_finish(w, rq, r, render, "/board", rc, form_id, message);
}

void act_board_release(web *w, const web_request *rq, web_reply *r)
{
	web_finish(w, rq, r, render, "/board", board_release(w->store, form_get(rq->form, "id")), NULL,
		"Released: the post is open again.");
}

void act_board_fulfil(web *w, const web_request *rq, web_reply *r)
{
	web_finish(w, rq, r, render, "/board", board_fulfil(w->store, form_get(rq->form, "id")), NULL,
		"Marked fulfilled.");
}

void act_board_cancel(web *w, const web_request *rq, web_reply *r)
{
	web_finish(w, rq, r, render, "/board", board_cancel(w->store, form_get(rq->form, "id")), NULL, "Cancelled.");
}

void act_board_clear_contact(web *w, const web_request *rq, web_reply *r)
{
	web_finish(w, rq, r, render, "/board", board_clear_contact(w->store, form_get(rq->form, "id")), NULL,
		"Contact cleared here. The log still holds it until redaction exists.");
}
