/*
 * pages_pantry.c - the Pantry page: donations in, hand-outs out, low-stock
 * thresholds, the stock with the low items marked, recent history, and the
 * two CSV downloads for the group's spreadsheet.
 *
 * A hand-out records households and bags, never who was served: the form
 * says so next to its free-text note.
 */
#include <stdio.h>
#include <string.h>

#include "web.h"

#define HISTORY_ROWS 20

static int stock_row(const pantry_stock_row *row, void *payload)
{
	apps_buf *b = payload;
	char on_hand[32], min[32];
	apps_qty_format(on_hand, row->on_hand);
	apps_qty_format(min, row->threshold);
	apps_buf_puts(b, row->low ? "<tr class=\"low\"><td>" : "<tr><td>");
	apps_buf_html(b, row->item);
	apps_buf_puts(b, "</td><td>");
	apps_buf_html(b, row->unit);
	apps_buf_printf(b, "</td><td class=\"num\">%s</td><td class=\"num\">%s</td><td>%s</td></tr>",
		on_hand, row->has_threshold ? min : "",
		row->low ? "<strong class=\"low-mark\">LOW</strong>" : "");
	return 0;
}

static const char *history_kind(const char *kind)
{
	if (strcmp(kind, "donation") == 0)
		return "Donation in";
	if (strcmp(kind, "distribution") == 0)
		return "Hand-out";
	if (strcmp(kind, "adjustment") == 0)
		return "Shelf check";
	return "Threshold";
}

static int history_row(const pantry_history_row *row, void *payload)
{
	apps_buf *b = payload;
	char when[48], qty[32];
	apps_time_local_zone(when, row->at);
	apps_buf_puts(b, "<tr><td>");
	apps_buf_html(b, when);
	apps_buf_printf(b, "</td><td>%s</td><td>", history_kind(row->kind));
	if (row->item) {
		int threshold = strcmp(row->kind, "threshold") == 0;
		apps_qty_format(qty, row->qty);
		if (threshold)
			apps_buf_puts(b, row->qty ? "low at " : "cleared for ");
		if (!threshold || row->qty) {
			apps_buf_printf(b, "%s%s ", !threshold && row->qty > 0 ? "+" : "", qty);
			apps_buf_html(b, row->unit);
			apps_buf_puts(b, " ");
		}
		apps_buf_html(b, row->item);
		if (threshold && !row->qty) {
			apps_buf_puts(b, " (");
			apps_buf_html(b, row->unit);
			apps_buf_puts(b, ")");
		}
	}
	if (strcmp(row->kind, "distribution") == 0) {
		apps_buf_printf(b, "%s%u household%s", row->item ? "; " : "", row->households,
			row->households == 1 ? "" : "s");
		if (row->bags)
			apps_buf_printf(b, ", %u bag%s", row->bags, row->bags == 1 ? "" : "s");
	}
	apps_buf_puts(b, "</td><td>");
	apps_buf_html(b, row->text);
	apps_buf_puts(b, "</td><td>");
	apps_buf_html(b, row->device);
	apps_buf_puts(b, "</td></tr>");
	return 0;
}

static void render(web *w, const web_request *rq, web_reply *r, unsigned int status,
	const char *alert, const char *kept_form)
{
	page p;
	r->status = status;
	page_begin(&p, w, rq, r, "Pantry", "Pantry", alert);
	p.kept = alert ? rq->form : NULL;
	p.kept_form = kept_form;
	apps_buf *b = p.b;
	apps_buf_puts(b, "<h1>Pantry</h1><div class=\"forms\">");

	apps_buf_puts(b, "<section><h2>Donation in</h2>");
	html_form_begin(&p, "/pantry/donate", NULL);
	html_field(&p, "donate", "item", "Item", "autocomplete=\"off\"");
	html_field(&p, "donate", "qty", "Quantity", "inputmode=\"decimal\" autocomplete=\"off\"");
	html_field(&p, "donate", "unit", "Unit", "placeholder=\"kg, tins, bags\"");
	html_field(&p, "donate", "source", "From (optional)", "autocomplete=\"off\"");
	html_button(&p, "Record donation");
	html_form_end(&p);
	apps_buf_puts(b, "</section>");

	apps_buf_puts(b, "<section><h2>Hand-out</h2><p class=\"hint\">Never write names: "
		"record how many households and what went out, nothing about who.</p>");
	html_form_begin(&p, "/pantry/hand-out", NULL);
	html_field(&p, "handout", "households", "Households", "inputmode=\"numeric\"");
	html_field(&p, "handout", "bags", "Bags", "inputmode=\"numeric\" placeholder=\"0\"");
	apps_buf_puts(b, "<fieldset><legend>One item (optional)</legend>");
	html_field(&p, "handout", "item", "Item", "autocomplete=\"off\"");
	html_field(&p, "handout", "qty", "Quantity", "inputmode=\"decimal\" autocomplete=\"off\"");
	html_field(&p, "handout", "unit", "Unit", NULL);
	apps_buf_puts(b, "</fieldset>");
	html_field(&p, "handout", "note", "Note", "autocomplete=\"off\"");
	html_button(&p, "Record hand-out");
	html_form_end(&p);
	apps_buf_puts(b, "</section>");

	apps_buf_puts(b, "<section><h2>Low-stock threshold</h2>");
	html_form_begin(&p, "/pantry/threshold", NULL);
	html_field(&p, "threshold", "item", "Item", "autocomplete=\"off\"");
	html_field(&p, "threshold", "unit", "Unit", NULL);
	html_field(&p, "threshold", "min", "Minimum", "inputmode=\"decimal\" placeholder=\"0 clears it\"");
	html_button(&p, "Set threshold");
	html_form_end(&p);
	apps_buf_puts(b, "</section></div>");

	apps_buf_puts(b, "<section><h2>Stock</h2><div class=\"table\"><table><thead><tr>"
		"<th>Item</th><th>Unit</th><th>On hand</th><th>Low at</th><th></th></tr></thead><tbody>");
	int rc = pantry_stock_foreach(w->store, 0, stock_row, b);
	apps_buf_puts(b, "</tbody></table></div><p class=\"downloads\">"
		"<a href=\"/pantry/stock.csv\" download>Download stock (CSV)</a> "
		"<a href=\"/pantry/distributions.csv\" download>Download hand-outs (CSV)</a></p>"
		"</section>");
	apps_buf_puts(b, "<section><h2>Recent history</h2><div class=\"table\"><table><thead><tr>"
		"<th>When</th><th>What</th><th>Amount</th><th>Note</th><th>Device</th></tr></thead>"
		"<tbody>");
	if (rc == 0)
		rc = pantry_history_foreach(w->store, HISTORY_ROWS, history_row, b);
	apps_buf_puts(b, "</tbody></table></div></section>");
	page_end(&p);
	if (rc != 0)
		page_error(w, rq, r, web_status_for(rc), "Cannot read the pantry", apps_error());
}

void page_pantry(web *w, const web_request *rq, web_reply *r)
{
	render(w, rq, r, 200, NULL, NULL);
}

void act_pantry_donate(web *w, const web_request *rq, web_reply *r)
{
	const form *f = rq->form;
	int rc = pantry_donate(w->store, form_get(f, "item"), form_get(f, "qty"),
		form_get(f, "unit"), form_get(f, "source"));
	web_finish(w, rq, r, render, "/pantry", rc, "donate", "Donation recorded.");
}

void act_pantry_hand_out(web *w, const web_request *rq, web_reply *r)
{
	const form *f = rq->form;
	unsigned int households = 0, bags = 0;
	char message[96];
	int rc = web_parse_count(form_get(f, "households"), 100000, &households);
	if (rc != 0) {
		render(w, rq, r, 400, rc == -1 ? "Say how many households (1 or more)."
					       : "Households must be a whole number, like 2.", "handout");
		return;
	}
	rc = web_parse_count(form_get(f, "bags"), 100000, &bags);
	if (rc == -2) {
		render(w, rq, r, 400, "Bags must be a whole number, like 3.", "handout");
		return;
	}
	/* The item line counts when any of its fields was filled in. */
	pantry_line line = { form_get(f, "item"), form_get(f, "unit"), form_get(f, "qty") };
	int has_line = 0;
	const char *parts[] = { line.item, line.unit, line.qty };
	for (size_t i = 0; i < 3; i++)
		if (parts[i] && strspn(parts[i], " \t") != strlen(parts[i]))
			has_line = 1;
	rc = pantry_distribute(w->store, households, bags, has_line ? &line : NULL,
		has_line ? 1 : 0, form_get(f, "note"));
	snprintf(message, sizeof(message), "Hand-out to %u household%s recorded.", households,
		households == 1 ? "" : "s");
	web_finish(w, rq, r, render, "/pantry", rc, "handout", message);
}

void act_pantry_threshold(web *w, const web_request *rq, web_reply *r)
{
	const form *f = rq->form;
	int rc = pantry_set_threshold(w->store, form_get(f, "item"), form_get(f, "unit"),
		form_get(f, "min"));
	web_finish(w, rq, r, render, "/pantry", rc, "threshold", "Threshold set.");
}

static void csv(web *w, const web_request *rq, web_reply *r,
	int (*make)(apps_buf *, mutual_store *), const char *filename)
{
	int rc = make(&r->body, w->store);
	if (rc != 0) {
		page_error(w, rq, r, web_status_for(rc), "Cannot make the CSV", apps_error());
		return;
	}
	r->content_type = "text/csv; charset=utf-8";
	snprintf(r->filename, sizeof(r->filename), "%s", filename);
}

void csv_pantry_stock(web *w, const web_request *rq, web_reply *r)
{
	csv(w, rq, r, pantry_stock_csv, "pantry-stock.csv");
}

void csv_pantry_distributions(web *w, const web_request *rq, web_reply *r)
{
	csv(w, rq, r, pantry_distributions_csv, "pantry-hand-outs.csv");
}
