/*
 * bench_state.c - the typed walk over entities (mutual_entity_iter_*),
 * filtered and paged, next to the same work in raw SQLite.
 *
 * A store holds P posts (default 50,000) of the board's shape, 9 in 10
 * closed: the open ones (P / 10) are all in the area "North", the closed
 * ones spread over five areas, North among them. Timed, each the median
 * of 11:
 *  1. Page 1 of 50 open posts in North (filters status and area, by id).
 *  2. Page 100 of the same walk, resumed from page 99's cursor.
 *  3. Page 100 ordered by a field ("posted", newest first), resumed alike.
 *  4. For scale, the same page 1 as the state API gave it before the walk:
 *     mutual_state_json of the whole kind, filtered with SQLite's JSON
 *     functions through mutual_query, as the board did (one run: it reads
 *     every post).
 * Baseline: the same posts in a raw SQLite table with one column per
 * field and an index on (status, area, id), and (status, area, posted):
 * the same pages by the same keyset conditions. Goal of issue 14: pages 1
 * and 100 each in 10 ms or less.
 *
 * Nothing is asserted about time (the machine is shared); the exit status
 * is non-zero only when a call fails or the pages disagree with the
 * baseline's.
 *
 * Usage: bench_state [--posts P]   (default and least 50000: 100 pages of open posts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "mutual.h"

#define KIND "board.post"
#define PAGE 50
#define RUNS 11

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *t)
{
	qsort(t, RUNS, sizeof(double), cmp_double);
	return t[RUNS / 2];
}

static const char *area_of(uint64_t p)
{
	static const char *const areas[] = { "North", "South", "East", "West", "Harbour" };
	return p % 10 == 0 ? "North" : areas[p % 5];
}

/* A page of the walk: the ids into `ids` (PAGE * 17), the last cursor. */
typedef struct {
	char ids[PAGE][17];
	int n;
	char cursor[256];
} page;

static int take(const mutual_entity *e, void *payload)
{
	page *p = payload;
	snprintf(p->ids[p->n++], 17, "%s", e->id);
	snprintf(p->cursor, sizeof(p->cursor), "%s", e->cursor);
	return 0;
}

static const mutual_entity_where north_open[] = { { "status", "\"open\"" }, { "area", "\"North\"" } };

static int walk_page(mutual_store *s, page *out, const char *after, const char *order_by)
{
	mutual_entity_options o = MUTUAL_ENTITY_OPTIONS_INIT;
	o.kind = KIND;
	o.where = north_open;
	o.n_where = 2;
	o.limit = PAGE;
	o.after = after;
	o.order_by = order_by;
	o.descending = order_by != NULL;
	out->n = 0;
	return mutual_entity_foreach(s, &o, take, out);
}

/* The baseline's page: `sql` binds the last id (and posted) of the page before. */
static int raw_page(sqlite3_stmt *st, page *out, const char *after_id, long long after_posted)
{
	int rc;
	out->n = 0;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, after_id ? after_id : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, after_posted);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* Read every column, as the walk hands over every field. */
		for (int c = 0; c < sqlite3_column_count(st); c++)
			(void)sqlite3_column_text(st, c);
		snprintf(out->ids[out->n++], 17, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

static int same(const page *a, const page *b)
{
	if (a->n != b->n)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->ids[i], b->ids[i]) != 0)
			return 0;
	return 1;
}

typedef struct {
	int n;
} count;

static int count_row(int columns, const char *const *names, const char *const *values, void *payload)
{
	(void)columns;
	(void)names;
	(void)values;
	((count *)payload)->n++;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t posts = 50000;
	char dir[] = "/tmp/bench_state.XXXXXX", path[256];
	mutual_store *store = NULL;
	mutual_batch *batch = NULL;
	sqlite3 *raw = NULL;
	sqlite3_stmt *raw_by_id = NULL, *raw_by_posted = NULL;
	double lib_t[RUNS], raw_t[RUNS];
	page lp, rp, before;
	long long posted_99 = 0;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--posts") == 0 && i + 1 < argc)
			posts = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: bench_state [--posts P]\n");
			return 2;
		}
	}
	if (posts < 100 * PAGE * 10) {
		fprintf(stderr, "bench_state: --posts must be at least %d (100 pages of open posts)\n", 100 * PAGE * 10);
		return 2;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/store", dir);
	if (mutual_store_create(&store, path, "bench", NULL) != 0)
		goto fail_lib;
	snprintf(path, sizeof(path), "%s/raw.db", dir);
	if (sqlite3_open(path, &raw) != SQLITE_OK ||
	    sqlite3_exec(raw, "PRAGMA journal_mode=WAL; CREATE TABLE posts(id TEXT PRIMARY KEY, kind, category,"
		" title, area, urgency, contact, status, holder, posted INTEGER) WITHOUT ROWID;"
		" CREATE INDEX posts_open ON posts(status, area, id);"
		" CREATE INDEX posts_open_posted ON posts(status, area, posted, id); BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_raw;

	double t0 = bench_now();
	if (mutual_batch_new(&batch, store) != 0)
		goto fail_lib;
	for (uint64_t p = 0; p < posts; p++) {
		char id[17], fields[400];
		const char *status = p % 10 == 0 ? "open" : p % 2 ? "fulfilled" : "cancelled";
		uint64_t x = p * 0x9e3779b97f4a7c15u;
		snprintf(id, sizeof(id), "%016llx", (unsigned long long)x);
		snprintf(fields, sizeof(fields), "{\"area\":\"%s\",\"category\":\"groceries\",\"contact\":\"Call the desk\","
			"\"holder\":\"\",\"kind\":\"request\",\"posted\":%llu,\"status\":\"%s\","
			"\"title\":\"Groceries for household %llu\",\"urgency\":\"%s\"}", area_of(p),
			(unsigned long long)(1700000000000ull + p * 1000), status, (unsigned long long)p,
			p % 7 ? "normal" : "urgent");
		if (mutual_batch_entity_put(batch, KIND, id, fields) != 0)
			goto fail_lib;
		char *sql = sqlite3_mprintf("INSERT INTO posts VALUES(%Q, 'request', 'groceries',"
			" 'Groceries for household %llu', %Q, %Q, 'Call the desk', %Q, '', %llu)", id,
			(unsigned long long)p, area_of(p), p % 7 ? "normal" : "urgent", status,
			(unsigned long long)(1700000000000ull + p * 1000));
		int bad = sqlite3_exec(raw, sql, NULL, NULL, NULL) != SQLITE_OK;
		sqlite3_free(sql);
		if (bad)
			goto fail_raw;
		if ((p + 1) % 5000 == 0 || p + 1 == posts) {
			if (mutual_batch_commit(NULL, batch) != 0)
				goto fail_lib;
			mutual_batch_free(batch);
			batch = NULL;
			if (p + 1 < posts && mutual_batch_new(&batch, store) != 0)
				goto fail_lib;
		}
	}
	if (sqlite3_exec(raw, "COMMIT; ANALYZE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(raw, "SELECT * FROM posts WHERE status = 'open' AND area = 'North' AND id > ?1"
		" ORDER BY id LIMIT 50", -1, &raw_by_id, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(raw, "SELECT * FROM posts WHERE status = 'open' AND area = 'North'"
		" AND (posted, id) < (?2, ?1) ORDER BY posted DESC, id DESC LIMIT 50", -1, &raw_by_posted, NULL) != SQLITE_OK)
		goto fail_raw;
	printf("%llu posts (%llu open, in North) written in %.1f s, in batches of 5000\n", (unsigned long long)posts,
		(unsigned long long)(posts / 10), bench_now() - t0);

	/* 1. Page 1. */
	for (int r = 0; r < RUNS; r++) {
		t0 = bench_now();
		if (walk_page(store, &lp, NULL, NULL) != 0)
			goto fail_lib;
		lib_t[r] = bench_now() - t0;
		t0 = bench_now();
		if (raw_page(raw_by_id, &rp, NULL, 0) != 0)
			goto fail_raw;
		raw_t[r] = bench_now() - t0;
		if (lp.n != PAGE || !same(&lp, &rp)) {
			fprintf(stderr, "bench_state: page 1 differs from the baseline's (%d, %d posts)\n", lp.n, rp.n);
			goto done;
		}
	}
	printf("page 1 of 50 open posts in North: libmutual %.3f ms, raw SQLite %.3f ms: %.1fx (median of %d)\n",
		1e3 * median(lib_t), 1e3 * median(raw_t), median(lib_t) / median(raw_t), RUNS);

	/* 2. Page 100, from page 99's cursor (pages 2..99 walked once). */
	for (int pg = 1; pg < 99; pg++) {
		snprintf(before.cursor, sizeof(before.cursor), "%s", lp.cursor);
		if (walk_page(store, &lp, before.cursor, NULL) != 0)
			goto fail_lib;
	}
	before = lp; /* page 99 */
	for (int r = 0; r < RUNS; r++) {
		t0 = bench_now();
		if (walk_page(store, &lp, before.cursor, NULL) != 0)
			goto fail_lib;
		lib_t[r] = bench_now() - t0;
		t0 = bench_now();
		if (raw_page(raw_by_id, &rp, before.ids[PAGE - 1], 0) != 0)
			goto fail_raw;
		raw_t[r] = bench_now() - t0;
		if (lp.n != PAGE || !same(&lp, &rp)) {
			fprintf(stderr, "bench_state: page 100 differs from the baseline's (%d, %d posts)\n", lp.n, rp.n);
			goto done;
		}
	}
	printf("page 100 of 50 open posts in North: libmutual %.3f ms, raw SQLite %.3f ms: %.1fx (median of %d)\n",
		1e3 * median(lib_t), 1e3 * median(raw_t), median(lib_t) / median(raw_t), RUNS);

	/* 3. Page 100 newest first. */
	lp.cursor[0] = '\0';
	for (int pg = 0; pg < 99; pg++) {
		snprintf(before.cursor, sizeof(before.cursor), "%s", lp.cursor);
		if (walk_page(store, &lp, pg ? before.cursor : NULL, "posted") != 0)
			goto fail_lib;
	}
	before = lp;
	{
		/* The baseline resumes from page 99's last (posted, id). */
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(raw, "SELECT posted FROM posts WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
			goto fail_raw;
		sqlite3_bind_text(st, 1, before.ids[PAGE - 1], -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			posted_99 = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	for (int r = 0; r < RUNS; r++) {
		t0 = bench_now();
		if (walk_page(store, &lp, before.cursor, "posted") != 0)
			goto fail_lib;
		lib_t[r] = bench_now() - t0;
		t0 = bench_now();
		if (raw_page(raw_by_posted, &rp, before.ids[PAGE - 1], posted_99) != 0)
			goto fail_raw;
		raw_t[r] = bench_now() - t0;
		if (lp.n != PAGE || !same(&lp, &rp)) {
			fprintf(stderr, "bench_state: page 100 by posted differs from the baseline's (%d, %d posts)\n",
				lp.n, rp.n);
			goto done;
		}
	}
	printf("page 100, newest first: libmutual %.3f ms, raw SQLite %.3f ms: %.1fx (median of %d)\n",
		1e3 * median(lib_t), 1e3 * median(raw_t), median(lib_t) / median(raw_t), RUNS);

	/* 4. The state API before the walk, once. */
	{
		char *state = NULL;
		count c = { 0 };
		const char *params[] = { NULL };
		t0 = bench_now();
		if (mutual_state_json(&state, store, KIND, NULL) != 0)
			goto fail_lib;
		params[0] = state;
		if (mutual_query(store, "SELECT json_extract(value, '$.id') AS id FROM json_each(?1, '$.entities')"
			" WHERE json_extract(value, '$.fields.status') = 'open'"
			" AND json_extract(value, '$.fields.area') = 'North' ORDER BY id LIMIT 50",
			params, 1, count_row, &c) != 0) {
			mutual_free(state);
			goto fail_lib;
		}
		double before_ms = 1e3 * (bench_now() - t0);
		mutual_free(state);
		printf("page 1 through mutual_state_json and mutual_query (the API before the walk): %.1f ms,"
			" %d posts (one run)\n", before_ms, c.n);
		if (c.n != PAGE)
			goto done;
	}
	rc = 0;
	goto done;
fail_lib:
	fprintf(stderr, "bench_state: libmutual: %s\n", mutual_error_last());
	goto done;
fail_raw:
	fprintf(stderr, "bench_state: raw SQLite: %s\n", raw ? sqlite3_errmsg(raw) : "cannot open");
done:
	sqlite3_finalize(raw_by_id);
	sqlite3_finalize(raw_by_posted);
	sqlite3_close(raw);
	mutual_batch_free(batch);
	mutual_store_free(store);
	bench_remove_tree(dir);
	return rc;
}
