/*
 * bench_apps.c - what the reference apps' reads cost, next to the same work
 * done in raw SQLite without libmutual.
 *
 *  1. Pantry catch-up: a store holds N pantry events (9 in 10 donations,
 *     1 in 10 hand-outs of 1 to 3 lines, over 200 items), appended in
 *     batches with the payloads pantry.c writes. A new handle's apps_open()
 *     applies all of them to the pantry projection (timed), against the
 *     baseline: the same payloads already in a raw SQLite table, summed into
 *     a stock table by one INSERT ... SELECT with json_extract.
 *  2. Stock list: pantry_stock_foreach() (median of 21), against a raw
 *     SELECT of the same stock table.
 *  3. Board list: P posts (mutual_entity_put, one fsync each), listed with
 *     board_foreach() (median of 11): state JSON, then SQLite's JSON
 *     functions through mutual_query. Baseline: the same rows from a plain
 *     raw SQLite table, ordered alike.
 *
 * The figures are printed with their ratios; nothing is asserted about time
 * (the machine is shared). The exit status is non-zero only when a call
 * fails or the counts disagree with the baseline's.
 *
 * Usage: bench_apps [--events N] [--posts P]   (defaults 50000 and 1000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps.h"
#include "bench_util.h"

#define ITEMS 200
#define BATCH 1000

static int fail(const char *what)
{
	fprintf(stderr, "bench_apps: %s: %s %s\n", what, apps_error(), mutual_error_last());
	return 1;
}

/* Event i's type and payload, as pantry.c writes them. */
static const char *pantry_payload(char *buf, size_t size, uint64_t i)
{
	uint64_t item = (i * 2654435761u) % ITEMS;
	if (i % 10 != 9) {
		snprintf(buf, size, "{\"item\":\"Item %llu\",\"qty\":%llu,\"source\":\"drive\",\"unit\":\"kg\"}",
			(unsigned long long)item, (unsigned long long)(250 + i % 5000));
		return "pantry.donation";
	}
	int n = snprintf(buf, size, "{\"bags\":1,\"households\":1,\"lines\":[");
	for (uint64_t l = 0; l <= i % 3; l++)
		n += snprintf(buf + n, size - (size_t)n, "%s{\"item\":\"Item %llu\",\"qty\":%llu,\"unit\":\"kg\"}",
			l ? "," : "", (unsigned long long)((item + l) % ITEMS), (unsigned long long)(100 + l));
	snprintf(buf + n, size - (size_t)n, "]}");
	return "pantry.distribution";
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int count_stock(const pantry_stock_row *row, void *payload)
{
	(void)row;
	(*(int *)payload)++;
	return 0;
}

static int count_post(const board_item *item, void *payload)
{
	(void)item;
	(*(int *)payload)++;
	return 0;
}

static int exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "bench_apps: sqlite: %s\n", err);
		sqlite3_free(err);
		return 1;
	}
	return 0;
}

/* Seconds of one run of `sql` on `db` that steps every row; rows in *rows. */
static double raw_select(sqlite3 *db, const char *sql, int *rows)
{
	sqlite3_stmt *st;
	double t0 = bench_now();
	*rows = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW)
		(*rows)++;
	sqlite3_finalize(st);
	return bench_now() - t0;
}

int main(int argc, char **argv)
{
	uint64_t events = 50000, posts = 1000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--events") == 0)
			events = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--posts") == 0)
			posts = strtoull(argv[i + 1], NULL, 10);
	}
	if (events < BATCH || posts < 1) {
		fprintf(stderr, "usage: bench_apps [--events N (>= %d)] [--posts P]\n", BATCH);
		return 2;
	}
	char dir[] = "/tmp/bench-apps-XXXXXX";
	if (!mkdtemp(dir))
		return fail("mkdtemp");
	char path[512];
	int rc = 1;
	mutual_store *store = NULL, *reader = NULL;
	sqlite3 *raw = NULL;
	mutual_append_entry *batch = calloc(BATCH, sizeof(*batch));
	char (*payloads)[256] = calloc(BATCH, 256);
	if (!batch || !payloads)
		goto done;

	snprintf(path, sizeof(path), "%s/store", dir);
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	opts.device_name = "bench";
	if (mutual_store_create(&store, path, "Bench pantry", &opts) != 0)
		goto fail_lib;
	snprintf(path, sizeof(path), "%s/raw.db", dir);
	if (sqlite3_open(path, &raw) != SQLITE_OK ||
		exec(raw, "PRAGMA journal_mode=WAL; CREATE TABLE events(type TEXT, payload TEXT);"
			  "CREATE TABLE stock(item_key TEXT, unit TEXT, item TEXT, on_hand INTEGER,"
			  " PRIMARY KEY(item_key, unit)); BEGIN"))
		goto done;
	sqlite3_stmt *ins;
	if (sqlite3_prepare_v2(raw, "INSERT INTO events VALUES(?1, ?2)", -1, &ins, NULL) != SQLITE_OK)
		goto done;
	for (uint64_t first = 0; first < events; first += BATCH) {
		size_t n = events - first < BATCH ? (size_t)(events - first) : BATCH;
		for (size_t k = 0; k < n; k++) {
			batch[k].type = pantry_payload(payloads[k], 256, first + k);
			batch[k].payload = payloads[k];
			sqlite3_bind_text(ins, 1, batch[k].type, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 2, payloads[k], -1, SQLITE_STATIC);
			sqlite3_step(ins);
			sqlite3_reset(ins);
		}
		if (mutual_append_batch(NULL, store, batch, n) != 0)
			goto fail_lib;
	}
	sqlite3_finalize(ins);
	if (exec(raw, "COMMIT"))
		goto done;

	/* 1. Catch-up of the pantry projection over the whole log. */
	snprintf(path, sizeof(path), "%s/store", dir);
	if (mutual_store_open(&reader, path, 0) != 0)
		goto fail_lib;
	double t0 = bench_now();
	if (apps_open(reader) != 0)
		goto fail_apps;
	int stock_rows = 0;
	if (pantry_stock_foreach(reader, 0, count_stock, &stock_rows) != 0)
		goto fail_apps;
	double catch_up = bench_now() - t0;
	t0 = bench_now();
	if (exec(raw,
		"BEGIN;"
		"INSERT INTO stock SELECT lower(json_extract(payload, '$.item')), json_extract(payload, '$.unit'),"
		" json_extract(payload, '$.item'), json_extract(payload, '$.qty') FROM events"
		" WHERE type = 'pantry.donation' ORDER BY rowid"
		" ON CONFLICT(item_key, unit) DO UPDATE SET on_hand = on_hand + excluded.on_hand;"
		"INSERT INTO stock SELECT lower(json_extract(l.value, '$.item')), json_extract(l.value, '$.unit'),"
		" json_extract(l.value, '$.item'), -json_extract(l.value, '$.qty')"
		" FROM events AS e, json_each(e.payload, '$.lines') AS l WHERE e.type = 'pantry.distribution'"
		" ON CONFLICT(item_key, unit) DO UPDATE SET on_hand = on_hand + excluded.on_hand;"
		"COMMIT"))
		goto done;
	double raw_catch_up = bench_now() - t0;
	int raw_rows = 0;
	raw_select(raw, "SELECT * FROM stock", &raw_rows);
	if (raw_rows != stock_rows) {
		fprintf(stderr, "bench_apps: %d stock rows, the baseline has %d\n", stock_rows, raw_rows);
		goto done;
	}
	printf("pantry catch-up, %llu events: libmutual %.3f s (%.1f us/event), raw SQLite %.3f s: %.2fx\n",
		(unsigned long long)events, catch_up, 1e6 * catch_up / (double)events, raw_catch_up,
		catch_up / raw_catch_up);

	/* 2. The stock list, once caught up. */
	double lib_t[21], raw_t[21];
	for (int r = 0; r < 21; r++) {
		int n = 0;
		t0 = bench_now();
		if (pantry_stock_foreach(reader, 0, count_stock, &n) != 0)
			goto fail_apps;
		lib_t[r] = bench_now() - t0;
		raw_t[r] = raw_select(raw, "SELECT s.item, s.unit, s.on_hand FROM stock s ORDER BY item_key, unit", &n);
	}
	qsort(lib_t, 21, sizeof(double), cmp_double);
	qsort(raw_t, 21, sizeof(double), cmp_double);
	printf("pantry stock list, %d rows: libmutual %.3f ms, raw SQLite %.3f ms: %.1fx (median of 21)\n",
		stock_rows, 1e3 * lib_t[10], 1e3 * raw_t[10], lib_t[10] / raw_t[10]);

	/* 3. The board list. */
	if (exec(raw, "CREATE TABLE posts(id TEXT PRIMARY KEY, kind, category, title, area, urgency,"
		      " contact, status, holder, posted INTEGER); BEGIN"))
		goto done;
	for (uint64_t p = 0; p < posts; p++) {
		char title[64], id[17];
		snprintf(title, sizeof(title), "Groceries for household %llu", (unsigned long long)p);
		board_new_post post = { "request", "groceries", title, "North estate",
			p % 7 ? "normal" : "urgent", "Call the desk" };
		if (board_post(id, store, &post) != 0)
			goto fail_apps;
		char *sql = sqlite3_mprintf("INSERT INTO posts VALUES(%Q, 'request', 'groceries', %Q,"
			" 'North estate', %Q, 'Call the desk', 'open', '', %llu)", id, title,
			post.urgency, (unsigned long long)p);
		int bad = exec(raw, sql);
		sqlite3_free(sql);
		if (bad)
			goto done;
	}
	if (exec(raw, "COMMIT"))
		goto done;
	for (int r = 0; r < 11; r++) {
		int n = 0, m = 0;
		t0 = bench_now();
		if (board_foreach(reader, NULL, 0, count_post, &n) != 0)
			goto fail_apps;
		lib_t[r] = bench_now() - t0;
		raw_t[r] = raw_select(raw, "SELECT * FROM posts WHERE status IN ('open', 'claimed') ORDER BY"
			" CASE urgency WHEN 'urgent' THEN 0 WHEN 'normal' THEN 1 ELSE 2 END, posted, id", &m);
		if ((uint64_t)n != posts || (uint64_t)m != posts) {
			fprintf(stderr, "bench_apps: listed %d posts (baseline %d) of %llu\n", n, m,
				(unsigned long long)posts);
			goto done;
		}
	}
	qsort(lib_t, 11, sizeof(double), cmp_double);
	qsort(raw_t, 11, sizeof(double), cmp_double);
	printf("board list, %llu posts: libmutual %.2f ms, raw SQLite %.2f ms: %.1fx (median of 11)\n",
		(unsigned long long)posts, 1e3 * lib_t[5], 1e3 * raw_t[5], lib_t[5] / raw_t[5]);
	rc = 0;
	goto done;
fail_lib:
	rc = fail("libmutual");
	goto done;
fail_apps:
	rc = fail("apps");
done:
	mutual_store_free(reader);
	mutual_store_free(store);
	sqlite3_close(raw);
	free(batch);
	free(payloads);
	bench_remove_tree(dir);
	return rc;
}
