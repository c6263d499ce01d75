/*
 * pages_home_sync.c - the home page (the group, who can reach this page,
 * what needs attention) and the Sync page (one button per stick).
 *
 * A sync runs inside the request: the page answers when the stick is safe
 * to remove, which is what the person at the laptop waits for anyway.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

#define DAY_MS INT64_C(86400000)

struct home_counts {
	unsigned int open, claimed, low, short_shifts;
};

static int count_post(const board_item *item, void *payload)
{
	struct home_counts *c = payload;
	if (strcmp(item->status, "open") == 0)
		c->open++;
	else
		c->claimed++;
	return 0;
}

static int count_low(const pantry_stock_row *row, void *payload)
{
	(void)row;
	((struct home_counts *)payload)->low++;
	return 0;
}

static int count_short(const rota_shift *shift, void *payload)
{
	if (shift->n_volunteers < shift->slots)
		((struct home_counts *)payload)->short_shifts++;
	return 0;
}

void page_home(web *w, const web_request *rq, web_reply *r)
{
	struct home_counts c = { 0 };
	const char *shown;
	int64_t now = apps_now_ms();
	int rc = board_foreach(w->store, NULL, 0, count_post, &c);
	if (rc == 0)
		rc = pantry_stock_foreach(w->store, 1, count_low, &c);
	if (rc == 0)
		rc = rota_shifts_foreach(w->store, now, now + 14 * DAY_MS, count_short, &c);
	if (rc != 0) {
		page_error(w, rq, r, web_status_for(rc), "Cannot read the store", apps_error());
		return;
	}

	page p;
	page_begin(&p, w, rq, r, "Home", "Home", NULL);
	apps_buf *b = p.b;
	apps_buf_puts(b, "<h1>");
	apps_buf_html(b, mutual_store_group_name(w->store));
	apps_buf_printf(b, "</h1><p class=\"reach\">%s (listening on %s",
		w->loopback ? "Only browsers on this laptop that logged in can open this page"
			    : w->tls ? "Devices on this network can open this page with the PIN or "
				       "passphrase, over HTTPS"
				     : "Devices on this network can open this page with the PIN or "
				       "passphrase, unencrypted",
		w->ipv6 ? "[" : "");
	apps_buf_html(b, w->listen_host);
	apps_buf_printf(b, "%s:%u)</p><p>This device: ", w->ipv6 ? "]" : "", w->port);
	if (mutual_device_display_name(&shown, w->store, mutual_store_device_id(w->store)) < 0)
		shown = mutual_store_device_name(w->store);
	apps_buf_html(b, shown);
	apps_buf_puts(b, "</p><ul class=\"summary\">");
	apps_buf_printf(b, "<li><a href=\"/board\">Board</a>: %u open, %u claimed</li>", c.open,
		c.claimed);
	apps_buf_printf(b, "<li><a href=\"/pantry\">Pantry</a>: %u item%s low on stock</li>", c.low,
		c.low == 1 ? "" : "s");
	apps_buf_printf(b, "<li><a href=\"/rota\">Rota</a>: %u shift%s in the next 14 days "
		"still need%s people</li>", c.short_shifts, c.short_shifts == 1 ? "" : "s",
		c.short_shifts == 1 ? "s" : "");
	apps_buf_puts(b, "</ul><p>Times are shown in ");
	apps_buf_html(b, apps_zone_name());
	apps_buf_puts(b, " time.</p>");
	page_end(&p);
}

static void render_sync(web *w, const web_request *rq, web_reply *r, unsigned int status,
	const char *alert)
{
	web_stick *sticks = calloc(WEB_STICKS_MAX, sizeof(*sticks));
	if (!sticks) {
		r->body.failed = 1;
		return;
	}
	size_t n = sticks_list(w, sticks, WEB_STICKS_MAX);
	page p;
	r->status = status;
	page_begin(&p, w, rq, r, "Sync", "Sync", alert);
	apps_buf *b = p.b;
	apps_buf_puts(b, "<h1>Sync</h1><p>Plug in the group's stick and press its button. "
		"This laptop's new records go onto the stick and the stick's come in; the stick "
		"carries them to the group's other devices, encrypted.</p>");
	if (n == 0)
		apps_buf_puts(b, "<p class=\"no-stick\">No stick found. Plug in a USB stick (it "
			"appears under /media or /run/media), or start mutual-web with "
			"<code>--stick FOLDER</code>, e.g. <code>mutual-web --store DIR --stick "
			"/media/pantry-stick</code>.</p>");
	for (size_t i = 0; i < n; i++) {
		char index[24];
		snprintf(index, sizeof(index), "%zu", i);
		html_form_begin(&p, "/sync", "stick");
		html_hidden(&p, "target", index);
		html_hidden(&p, "label", sticks[i].label);
		apps_buf_puts(b, "<p><span class=\"stick-label\">");
		apps_buf_html(b, sticks[i].label);
		apps_buf_puts(b, "</span> <span class=\"stick-path\">");
		apps_buf_html(b, sticks[i].path);
		apps_buf_puts(b, "</span></p>");
		html_button(&p, "Sync with stick");
		html_form_end(&p);
	}
	page_end(&p);
	free(sticks);
}

void page_sync(web *w, const web_request *rq, web_reply *r)
{
	render_sync(w, rq, r, 200, NULL);
}

static void sync_refusal(const char *device, const char *reason, void *payload)
{
	(void)payload;
	fprintf(stderr, "mutual-web: sync refused %s: %s\n", device, reason);
}

void act_sync(web *w, const web_request *rq, web_reply *r)
{
	web_stick *sticks = calloc(WEB_STICKS_MAX, sizeof(*sticks));
	char message[1024], alert[512];
	unsigned int index;
	if (!sticks) {
		r->body.failed = 1;
		return;
	}
	size_t n = sticks_list(w, sticks, WEB_STICKS_MAX);
	const char *label = form_get(rq->form, "label");
	if (web_parse_count(form_get(rq->form, "target"), WEB_STICKS_MAX, &index) != 0 ||
		index >= n) {
		render_sync(w, rq, r, 400, "There is no such stick: reload this page and choose again.");
		goto done;
	}
	/* The list can change between showing the page and pressing a button. */
	if (label && strcmp(label, sticks[index].label) != 0) {
		render_sync(w, rq, r, 409, "The sticks changed since this page was shown: choose again.");
		goto done;
	}

	mutual_sync_options opts = MUTUAL_SYNC_OPTIONS_INIT;
	mutual_sync_stats stats = MUTUAL_SYNC_STATS_INIT;
	opts.refusal = sync_refusal;
	int rc = mutual_sync(&stats, w->store, sticks[index].path, &opts);
	if (rc != 0 && rc != MUTUAL_EREFUSED) {
		snprintf(alert, sizeof(alert), "Sync with %s failed: %s", sticks[index].label,
			mutual_error_last());
		render_sync(w, rq, r, web_status_for(rc), alert);
		goto done;
	}
	int len = snprintf(message, sizeof(message),
		"Synced with %s: received %llu events, sent %llu events. %s", sticks[index].label,
		(unsigned long long)stats.events_received, (unsigned long long)stats.events_sent,
		stats.safe_to_remove ? "Safe to remove the stick."
				     : "Do not remove the stick yet: sync again.");
	if (rc == MUTUAL_EREFUSED && len > 0 && (size_t)len < sizeof(message))
		snprintf(message + len, sizeof(message) - (size_t)len,
			" Refused %llu device log%s: %s", (unsigned long long)stats.refused,
			stats.refused == 1 ? "" : "s", stats.first_refusal);

	w->last_sync.known = 1;
	w->last_sync.at = apps_now_ms();
	w->last_sync.received = stats.events_received;
	w->last_sync.sent = stats.events_sent;
	snprintf(w->last_sync.label, sizeof(w->last_sync.label), "%s", sticks[index].label);
	if (last_sync_save(w) != 0)
		fprintf(stderr, "mutual-web: cannot record the last sync in %s/web-last-sync\n",
			w->store_dir);
	web_redirect(w, r, "/sync", message);
done:
	free(sticks);
}
