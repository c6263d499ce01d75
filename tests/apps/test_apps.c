/*
 * test_apps.c - the pantry and board apps and their shared helpers
 * (examples/apps), through their C API: exact stock under offline merges,
 * conflicting claims, refusals that write nothing, and the escapes and
 * time conversions the front ends rely on. The rota has test_rota.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps_check.h"

/* ------------------------------------------------------------- shared */

static void quantities(void)
{
	static const struct { const char *text; int64_t milli; } good[] = {
		{ "12", 12000 }, { "2.5", 2500 }, { "0.125", 125 }, { " 3 ", 3000 },
		{ "1,5", 1500 }, { "1000000", 1000000000 }, { ".5", 500 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		int64_t v = 0;
		CHECK_APP(apps_qty_parse(&v, good[i].text, 0));
		CHECK(v == good[i].milli);
	}
	static const char *const bad[] = { "", "abc", "1.2345", "0", "0.000", "-1", "1e3",
		"1000000.001", "99999999999999999999", "1.2.3", "--1", NULL };
	for (size_t i = 0; bad[i]; i++) {
		int64_t v = 7;
		CHECK_RC(apps_qty_parse(&v, bad[i], 0), MUTUAL_EINVALID);
		CHECK(v == 7);
		CHECK(apps_error()[0] != '\0');
	}
	int64_t v;
	CHECK_APP(apps_qty_parse(&v, "-2.25", 1));
	CHECK(v == -2250);
	char out[32];
	apps_qty_format(out, 12000);
	CHECK(strcmp(out, "12") == 0);
	apps_qty_format(out, -2250);
	CHECK(strcmp(out, "-2.25") == 0);
	apps_qty_format(out, 125);
	CHECK(strcmp(out, "0.125") == 0);
	apps_qty_format(out, 0);
	CHECK(strcmp(out, "0") == 0);
	apps_qty_format(out, INT64_MIN);
	CHECK(strcmp(out, "-9223372036854775.808") == 0);
}

static void escapes_and_text(void)
{
	apps_buf b = {0};
	apps_buf_json(&b, "a\"b\\c\nd\x01");
	apps_buf_puts(&b, "|");
	apps_buf_html(&b, "<script>&'\"");
	apps_buf_puts(&b, "|");
	apps_buf_csv(&b, "=HYPERLINK(\"x\")");
	apps_buf_puts(&b, "|");
	apps_buf_csv(&b, "beans, tinned");
	apps_buf_puts(&b, "|");
	apps_buf_csv(&b, "-5");
	apps_buf_puts(&b, "|");
	apps_buf_json(&b, NULL);
	CHECK(!b.failed);
	CHECK(strcmp(b.data, "\"a\\\"b\\\\c\\nd\\u0001\"|&lt;script&gt;&amp;&#39;&quot;|"
		"\"'=HYPERLINK(\"\"x\"\")\"|\"beans, tinned\"|\"'-5\"|null") == 0);
	apps_buf_free(&b);

	char *t = apps_clean_text("  Rice \t  (long  grain) ", 80, "the item");
	CHECK(t && strcmp(t, "Rice (long grain)") == 0);
	free(t);
	t = apps_clean_text("Zoë", 80, "the name");
	CHECK(t && strcmp(t, "Zoë") == 0);
	free(t);
	CHECK(apps_clean_text("   ", 80, "the item") == NULL);
	CHECK(strstr(apps_error(), "the item is empty"));
	CHECK(apps_clean_text("a\x01", 80, "the item") == NULL);
	CHECK(apps_clean_text("\xc3\x28", 80, "the item") == NULL);   /* bad UTF-8 */
	CHECK(apps_clean_text("\xed\xa0\x80", 80, "the item") == NULL); /* a surrogate */
	CHECK(apps_clean_text("abcdef", 5, "the item") == NULL);
	CHECK(strstr(apps_error(), "longer than 5"));
}

static void local_times(void)
{
	setenv("TZ", "Europe/London", 1);
	tzset();
	CHECK(strcmp(apps_zone_name(), "Europe/London") == 0);
	int64_t ms;
	/* Summer (BST, UTC+1) and winter (GMT) at the same wall clock. */
	CHECK_APP(apps_local_to_utc(&ms, "2026-07-01", "17:00"));
	CHECK(ms == INT64_C(1782921600000));
	CHECK_APP(apps_local_to_utc(&ms, "2026-12-01", "17:00"));
	CHECK(ms == INT64_C(1796144400000));
	char text[48];
	apps_time_local_zone(text, ms);
	CHECK(strcmp(text, "2026-12-01 17:00 GMT") == 0);
	apps_time_utc(text, ms);
	CHECK(strcmp(text, "2026-12-01T17:00:00Z") == 0);
	/* 01:30 on 29 March 2026 is skipped; 01:30 on 25 October happens twice. */
	CHECK_REFUSED(apps_local_to_utc(&ms, "2026-03-29", "01:30"), MUTUAL_EINVALID, "does not exist");
	CHECK_APP(apps_local_to_utc(&ms, "2026-10-25", "01:30"));
	apps_time_utc(text, ms);
	CHECK(strcmp(text, "2026-10-25T00:30:00Z") == 0);
	static const char *const bad[][2] = { { "2026-02-30", "10:00" }, { "2026-13-01", "10:00" },
		{ "26-1-1", "10:00" }, { "2026-01-01", "24:00" }, { "2026-01-01", "9:00" },
		{ "2026-01-01", "10:60" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CHECK_RC(apps_local_to_utc(&ms, bad[i][0], bad[i][1]), MUTUAL_EINVALID);
}

/* ------------------------------------------------------------- pantry */

struct stock_seen {
	char text[1024];
	int low;
};

static int collect_stock(const pantry_stock_row *row, void *payload)
{
	struct stock_seen *seen = payload;
	char qty[32];
	apps_qty_format(qty, row->on_hand);
	size_t len = strlen(seen->text);
	snprintf(seen->text + len, sizeof(seen->text) - len, "%s/%s=%s%s;", row->item, row->unit,
		qty, row->low ? "!" : "");
	seen->low += row->low;
	return 0;
}

static void stock_text(struct stock_seen *seen, mutual_store *s, int low_only)
{
	memset(seen, 0, sizeof(*seen));
	CHECK_APP(pantry_stock_foreach(s, low_only, collect_stock, seen));
}

static void pantry_exact_after_offline_merge(void)
{
	setenv("TZ", "Europe/London", 1);
	tzset();
	mutual_store *a = apps_store("a", "desk laptop", NULL);
	mutual_store *b = apps_store("b", "van laptop", a);

	/* Both laptops record offline; amounts chosen so floats would drift. */
	for (int i = 0; i < 10; i++) {
		CHECK_APP(pantry_donate(a, "Rice", "0.1", "kg", "school drive"));
		CHECK_APP(pantry_donate(b, "Rice", "0.2", "KG", NULL));
	}
	CHECK_APP(pantry_donate(a, "Beans (tinned)", "24", "tins", "corner shop"));
	pantry_line lines[] = { { "rice", "kg", "1.5" }, { "Beans (tinned)", "tins", "6" } };
	CHECK_APP(pantry_distribute(b, 3, 3, lines, 2, NULL));
	CHECK_APP(pantry_distribute(a, 2, 2, lines, 1, "Thursday table"));
	CHECK_APP(pantry_adjust(a, "rice", "kg", "-0.05", "spilt bag"));
	CHECK_APP(pantry_set_threshold(b, "Beans (tinned)", "tins", "20"));

	sync_both(a, b);
	struct stock_seen sa, sb;
	stock_text(&sa, a, 0);
	stock_text(&sb, b, 0);
	/* 1 + 2 - 1.5 - 1.5 - 0.05 = -0.05 kg; 24 - 6 = 18 tins (<= 20: low). */
	CHECK(strcmp(sa.text, "Beans (tinned)/tins=18!;Rice/kg=-0.05;") == 0);
	CHECK(strcmp(sa.text, sb.text) == 0);
	stock_text(&sa, a, 1);
	CHECK(strcmp(sa.text, "Beans (tinned)/tins=18!;") == 0);

	apps_buf csv_a = {0}, csv_b = {0};
	CHECK_APP(pantry_distributions_csv(&csv_a, a));
	CHECK_APP(pantry_distributions_csv(&csv_b, b));
	CHECK(strcmp(csv_a.data, csv_b.data) == 0);
	CHECK(strncmp(csv_a.data, "time_utc,time_local (Europe/London),handout,households,bags,", 58) == 0);
	/* Three lines from two hand-outs: households counted once per hand-out. */
	int rows = 0, households = 0;
	for (char *line = strchr(csv_a.data, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		rows++;
		char *field = line + 1;
		for (int i = 0; i < 3; i++)
			field = strchr(field, ',') + 1;
		households += atoi(field);
	}
	CHECK(rows == 3);
	CHECK(households == 5);
	CHECK(strstr(csv_a.data, "Thursday table"));
	apps_buf_free(&csv_a);
	apps_buf_free(&csv_b);

	apps_buf stock_csv = {0};
	CHECK_APP(pantry_stock_csv(&stock_csv, b));
	CHECK(strcmp(stock_csv.data, "item,unit,on_hand,low_threshold,low\r\n"
		"Beans (tinned),tins,18,20,yes\r\nRice,kg,-0.05,,no\r\n") == 0);
	apps_buf_free(&stock_csv);
	mutual_store_free(a);
	mutual_store_free(b);
}

COUNTING_CALLBACK(count_history, pantry_history_row)

static void pantry_refusals_write_nothing(void)
{
	mutual_store *a = apps_store("a", "desk", NULL);
	CHECK_APP(pantry_donate(a, "Pasta", "5", "bags", ""));
	uint64_t before = count_events(a, NULL);
	pantry_line ok_line = { "pasta", "bags", "1" };
	pantry_line bad_line = { "pasta", "bags", "lots" };
	CHECK_RC(pantry_donate(a, "Pasta", "abc", "bags", NULL), MUTUAL_EINVALID);
	CHECK_RC(pantry_donate(a, "", "1", "bags", NULL), MUTUAL_EINVALID);
	CHECK_RC(pantry_donate(a, "Pasta", "1", " ", NULL), MUTUAL_EINVALID);
	CHECK_RC(pantry_donate(a, "Pasta", "-1", "bags", NULL), MUTUAL_EINVALID);
	CHECK_REFUSED(pantry_distribute(a, 0, 1, NULL, 0, NULL), MUTUAL_EINVALID, "households");
	CHECK_RC(pantry_distribute(a, 1, 0, NULL, 0, NULL), MUTUAL_EINVALID);
	CHECK_RC(pantry_distribute(a, 1, 1, &bad_line, 1, NULL), MUTUAL_EINVALID);
	CHECK_RC(pantry_distribute(a, 1, 1, &ok_line, 1, "\x02"), MUTUAL_EINVALID);
	CHECK_RC(pantry_set_threshold(a, "Pasta", "bags", "x"), MUTUAL_EINVALID);
	CHECK(count_events(a, NULL) == before);

	/* A member's malformed payloads (a float, a string) never reach the sums. */
	CHECK_OK(mutual_append(NULL, a, "pantry.donation", "{\"item\":\"Pasta\",\"qty\":1.5,\"unit\":\"bags\"}"));
	CHECK_OK(mutual_append(NULL, a, "pantry.donation", "{\"item\":\"Pasta\",\"qty\":\"9\",\"unit\":\"bags\"}"));
	CHECK_OK(mutual_append(NULL, a, "pantry.distribution", "{\"households\":1,\"lines\":[{\"item\":7}]}"));
	struct stock_seen seen;
	stock_text(&seen, a, 0);
	CHECK(strcmp(seen.text, "Pasta/bags=5;") == 0);

	/* Thresholds: set, then cleared with "0"; bags-only hand-outs keep stock. */
	CHECK_APP(pantry_set_threshold(a, "Pasta", "bags", "10"));
	stock_text(&seen, a, 1);
	CHECK(seen.low == 1);
	CHECK_APP(pantry_set_threshold(a, "Pasta", "bags", "0"));
	stock_text(&seen, a, 1);
	CHECK(seen.low == 0);
	CHECK_APP(pantry_distribute(a, 55, 55, NULL, 0, NULL));
	stock_text(&seen, a, 0);
	CHECK(strcmp(seen.text, "Pasta/bags=5;") == 0);
	int rows = 0;
	CHECK_APP(pantry_history_foreach(a, 0, count_history, &rows));
	CHECK(rows == 4); /* the donation, 2 thresholds, the hand-out; never the malformed ones */
	rows = 0;
	CHECK_APP(pantry_history_foreach(a, 2, count_history, &rows));
	CHECK(rows == 2);
	mutual_store_free(a);
}

/* -------------------------------------------------------------- board */

struct post_seen {
	char status[16], holder[64], others[128], contact[128];
	size_t n;
};

static int keep_post(const board_item *item, void *payload)
{
	struct post_seen *seen = payload;
	snprintf(seen->status, sizeof(seen->status), "%s", item->status);
	snprintf(seen->holder, sizeof(seen->holder), "%s", item->holder);
	snprintf(seen->contact, sizeof(seen->contact), "%s", item->contact);
	seen->others[0] = '\0';
	for (size_t i = 0; i < item->n_conflicting_holders; i++) {
		size_t len = strlen(seen->others);
		snprintf(seen->others + len, sizeof(seen->others) - len, "%s;",
			item->conflicting_holders[i]);
	}
	seen->n++;
	return 0;
}

static struct post_seen post(mutual_store *s, const char *id)
{
	struct post_seen seen;
	memset(&seen, 0, sizeof(seen));
	CHECK_APP(board_foreach(s, id, 1, keep_post, &seen));
	CHECK(seen.n == 1);
	return seen;
}

static void board_concurrent_claims(void)
{
	mutual_store *a = apps_store("a", "phone a", NULL);
	mutual_store *b = apps_store("b", "phone b", a);
	board_new_post req = { "request", "groceries", "Groceries for a family of four",
		"North estate", "urgent", "Call the pantry desk" };
	char id[17];
	CHECK_APP(board_post(id, a, &req));
	sync_both(a, b);
	CHECK(strcmp(post(b, id).status, "open") == 0);

	/* Both claim offline. */
	CHECK_APP(board_claim(a, id, "Ana"));
	CHECK_APP(board_claim(b, id, "Ben"));
	sync_both(a, b);
	struct post_seen pa = post(a, id), pb = post(b, id);
	CHECK(strcmp(pa.status, "claimed") == 0);
	CHECK(strcmp(pa.holder, pb.holder) == 0);
	const char *loser = strcmp(pa.holder, "Ana") == 0 ? "Ben;" : "Ana;";
	CHECK(strcmp(pa.others, loser) == 0);
	CHECK(strcmp(pb.others, loser) == 0);

	/* Settled: they agree Ben does it; Ben claims again having seen both. */
	CHECK_APP(board_claim(b, id, "Ben"));
	sync_both(a, b);
	pa = post(a, id);
	CHECK(strcmp(pa.holder, "Ben") == 0 && pa.others[0] == '\0');
	/* Without a conflict, nobody takes over someone's claim silently. */
	CHECK_REFUSED(board_claim(a, id, "Ana"), MUTUAL_EINVALID, "Ben has claimed this already");
	mutual_store_free(a);
	mutual_store_free(b);
}

COUNTING_CALLBACK(count_posts, board_item)

static void board_lifecycle_and_refusals(void)
{
	mutual_store *a = apps_store("a", "phone a", NULL);
	board_new_post req = { "offer", "rides", "Lifts to the clinic on Tuesdays", "Old town",
		NULL, "Ask for Sam at the hall" };
	char id[17], id2[17];
	CHECK_APP(board_post(id, a, &req));
	CHECK(strcmp(post(a, id).status, "open") == 0);
	uint64_t before = count_events(a, NULL);
	board_new_post bad = req;
	bad.category = "weapons";
	CHECK_RC(board_post(id2, a, &bad), MUTUAL_EINVALID);
	bad = req;
	bad.kind = "demand";
	CHECK_RC(board_post(id2, a, &bad), MUTUAL_EINVALID);
	bad = req;
	bad.title = " ";
	CHECK_RC(board_post(id2, a, &bad), MUTUAL_EINVALID);
	bad = req;
	bad.urgency = "now";
	CHECK_RC(board_post(id2, a, &bad), MUTUAL_EINVALID);
	CHECK_RC(board_release(a, id), MUTUAL_EINVALID);
	CHECK_RC(board_claim(a, id, ""), MUTUAL_EINVALID);
	CHECK_RC(board_claim(a, "nonsense", "Ana"), MUTUAL_EINVALID);
	CHECK_RC(board_claim(a, "0123456789abcdef", "Ana"), MUTUAL_ENOTFOUND);
	CHECK_REFUSED(board_clear_contact(a, id), MUTUAL_EINVALID, "only a fulfilled or cancelled");
	CHECK(count_events(a, NULL) == before);

	CHECK_APP(board_claim(a, id, "Ana"));
	CHECK_APP(board_release(a, id));
	struct post_seen seen = post(a, id);
	CHECK(strcmp(seen.status, "open") == 0 && seen.holder[0] == '\0');
	CHECK_APP(board_claim(a, id, "Ana"));
	CHECK_APP(board_fulfil(a, id));
	CHECK_RC(board_cancel(a, id), MUTUAL_EINVALID);
	int open = 0, all = 0;
	CHECK_APP(board_foreach(a, NULL, 0, count_posts, &open));
	CHECK_APP(board_foreach(a, NULL, 1, count_posts, &all));
	CHECK(open == 0 && all == 1);
	CHECK(strcmp(post(a, id).contact, "Ask for Sam at the hall") == 0);
	CHECK_APP(board_clear_contact(a, id));
	CHECK(post(a, id).contact[0] == '\0');
	CHECK_RC(board_clear_contact(a, id), MUTUAL_EINVALID);

	/* The log still holds the old contact: that is what redaction is for. */
	char *state = NULL;
	CHECK_OK(mutual_state_json(&state, a, "board.post", id));
	CHECK(strstr(state, "Ask for Sam") == NULL);
	mutual_free(state);
	mutual_iter *it = NULL;
	const mutual_event *ev;
	int in_log = 0;
	CHECK_OK(mutual_iter_new(&it, a, NULL));
	while (mutual_iter_next(&ev, it) == 0)
		in_log += strstr(mutual_event_payload(ev), "Ask for Sam") != NULL;
	mutual_iter_free(it);
	CHECK(in_log == 1);
	mutual_store_free(a);
}

static int check_strings(const board_item *item, void *payload)
{
	const char *fields[] = { item->id, item->kind, item->category, item->title, item->area,
		item->urgency, item->contact, item->status, item->holder };
	for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++)
		CHECK(fields[i] != NULL);
	(*(int *)payload)++;
	return 0;
}

/* Another program of the group may write any field (mutual put): the board
 * still lists such posts, with no NULL for a front end to print, and can
 * still act on them. */
static void board_odd_fields_from_another_program(void)
{
	mutual_store *a = apps_store("a", "phone a", NULL);
	CHECK_OK(mutual_entity_put(NULL, a, "board.post", "0123456789abcdef",
		"{\"title\":5,\"status\":{\"x\":[1]},\"holder\":[\"Ana\"],\"posted\":\"soon\"}"));
	CHECK_OK(mutual_entity_put(NULL, a, "board.post", "not-an-id", "{\"kind\":\"request\"}"));
	int n = 0;
	CHECK_APP(board_foreach(a, NULL, 1, check_strings, &n));
	CHECK(n == 2);
	CHECK_APP(board_claim(a, "0123456789abcdef", "Ben"));
	struct post_seen seen = post(a, "0123456789abcdef");
	CHECK(strcmp(seen.status, "claimed") == 0 && strcmp(seen.holder, "Ben") == 0);
	mutual_store_free(a);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "quantities", quantities },
		{ "escapes_and_text", escapes_and_text },
		{ "local_times", local_times },
		{ "pantry_exact_after_offline_merge", pantry_exact_after_offline_merge },
		{ "pantry_refusals_write_nothing", pantry_refusals_write_nothing },
		{ "board_concurrent_claims", board_concurrent_claims },
		{ "board_lifecycle_and_refusals", board_lifecycle_and_refusals },
		{ "board_odd_fields_from_another_program", board_odd_fields_from_another_program },
	};
	return run_cases(cases, sizeof(cases) / sizeof(*cases), argc, argv);
}
