/*
 * test_project.c - projections through the API: what one late event costs,
 * app projections caught up and replayed, the clock moving past imports,
 * quarantine leaving the state, and read-only queries. The order-independence
 * property over many random seeds is test_property.c.
 */
#include <sys/stat.h>
#include <time.h>

#include "check.h"


static const char *stick(void)
{
	mkdir(tmp_path("stick"), 0700);
	return tmp_path("stick");
}

static void test_late_event_cost(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *c = check_store_join(a, "c", "carol"), *b;
	mutual_projection_stats before = MUTUAL_PROJECTION_STATS_INIT, after = MUTUAL_PROJECTION_STATS_INIT;
	uint8_t d1[32], d2[32];
	char *s1 = NULL, *s2 = NULL;

	/* c writes first, offline: its event will sort before a's. */
	CHECK_OK(mutual_entity_put(NULL, c, "item", "rice", "{\"qty\":5,\"note\":\"late\"}"));
	for (int i = 0; i < 300; i++) {
		char id[16];
		snprintf(id, sizeof(id), "i%d", i);
		CHECK_OK(mutual_entity_put(NULL, a, "item", id, "{\"qty\":1,\"status\":\"ok\"}"));
	}
	b = check_store_join(a, "b", "bea");
	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, b, stick(), NULL));
	CHECK_OK(mutual_projection_stats_get(&before, b));
	/* The late event arrives: it touches its own fields, not the log. */
	CHECK_OK(mutual_sync(NULL, c, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, b, stick(), NULL));
	CHECK_OK(mutual_projection_stats_get(&after, b));
	CHECK(after.events_applied - before.events_applied == 1);
	CHECK(after.fields_updated - before.fields_updated == 3); /* qty, note, _deleted */
	/* ... and lands exactly as if it had come first: a rebuild agrees. */
	CHECK_OK(mutual_state_digest(d1, b));
	CHECK_OK(mutual_state_json(&s1, b, "item", "rice"));
	CHECK_OK(mutual_rebuild(b));
	CHECK_OK(mutual_state_digest(d2, b));
	CHECK_OK(mutual_state_json(&s2, b, "item", "rice"));
	CHECK(memcmp(d1, d2, 32) == 0 && strcmp(s1, s2) == 0);
	CHECK(strstr(s1, "\"note\":\"late\""));
	mutual_free(s1);
	mutual_free(s2);
	mutual_store_free(a);
	mutual_store_free(b);
	mutual_store_free(c);
}

static const mutual_projection_def *last_wins(void)
{
	static mutual_projection_def def = MUTUAL_PROJECTION_DEF_INIT;
	def.name = "shelf";
	def.schema = "CREATE TABLE shelf_last(item TEXT PRIMARY KEY, qty INTEGER, updates INTEGER)";
	def.reset = "DELETE FROM shelf_last";
	def.type_prefix = "pantry.";
	def.apply = "INSERT INTO shelf_last(item, qty, updates)"
		    " VALUES(json_extract(:payload, '$.item'), json_extract(:payload, '$.qty'), 1)"
		    " ON CONFLICT(item) DO UPDATE SET qty = excluded.qty, updates = updates + 1";
	return &def;
}

typedef struct {
	char qty[32];
	int rows;
} shelf_row;

static int read_row(int cols, const char *const *names, const char *const *values, void *payload)
{
	shelf_row *r = payload;
	CHECK(cols == 2 && strcmp(names[0], "qty") == 0);
	snprintf(r->qty, sizeof(r->qty), "%s", values[0] ? values[0] : "NULL");
	r->rows++;
	return 0;
}

/* Wait until the wall clock has moved on by two milliseconds, so the next
 * event's clock is later than the last one's on any device. */
static void next_millisecond(void)
{
	struct timespec start, now;
	clock_gettime(CLOCK_REALTIME, &start);
	do
		clock_gettime(CLOCK_REALTIME, &now);
	while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 2);
}

static void test_app_projection(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *c = check_store_join(a, "c", "carol"), *b;
	mutual_projection_stats st = MUTUAL_PROJECTION_STATS_INIT;
	const char *item[] = { "rice" };
	shelf_row r = { "", 0 };

	/* c's count sorts first (written first, in an earlier millisecond:
	 * within one, two unaware devices tie and their keys decide); a's
	 * later one must win. */
	CHECK_OK(mutual_append(NULL, c, "pantry.count", "{\"item\":\"rice\",\"qty\":7}"));
	next_millisecond();
	CHECK_OK(mutual_append(NULL, a, "pantry.count", "{\"item\":\"rice\",\"qty\":40}"));
	CHECK_OK(mutual_append(NULL, a, "other.thing", "{\"item\":\"rice\",\"qty\":999}"));
	b = check_store_join(a, "b", "bea");
	CHECK_OK(mutual_projection_register(b, last_wins()));
	CHECK_RC(mutual_projection_register(b, last_wins()), MUTUAL_EEXISTS);
	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, b, stick(), NULL));
	CHECK_OK(mutual_query(b, "SELECT qty, updates FROM shelf_last WHERE item = ?1", item, 1, read_row, &r));
	CHECK(r.rows == 1 && strcmp(r.qty, "40") == 0);
	/* The late count arrives: the projection replays, a's count still wins. */
	CHECK_OK(mutual_sync(NULL, c, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, b, stick(), NULL));
	r.rows = 0;
	CHECK_OK(mutual_query(b, "SELECT qty, updates FROM shelf_last WHERE item = ?1", item, 1, read_row, &r));
	CHECK(r.rows == 1 && strcmp(r.qty, "40") == 0);
	CHECK_OK(mutual_projection_stats_get(&st, b));
	CHECK(st.app_replays >= 2); /* the first fill, then the late event */
	/* Events appended by another handle are caught up before a read. */
	{
		mutual_store *b2;
		CHECK_OK(mutual_store_open(&b2, tmp_path("b"), 0));
		CHECK_OK(mutual_append(NULL, b2, "pantry.count", "{\"item\":\"rice\",\"qty\":3}"));
		mutual_store_free(b2);
	}
	r.rows = 0;
	CHECK_OK(mutual_query(b, "SELECT qty, updates FROM shelf_last WHERE item = ?1", item, 1, read_row, &r));
	CHECK(strcmp(r.qty, "3") == 0);
	/* Reads only. */
	CHECK_RC(mutual_query(b, "DELETE FROM shelf_last", NULL, 0, read_row, &r), MUTUAL_EINVALID);
	/* What is not one valid read with its parameters is the caller's
	 * mistake (EINVALID, with the reason), not a store error. */
	r.rows = 0;
	CHECK_RC(mutual_query(b, "SELEKT qty FROM shelf_last", NULL, 0, read_row, &r), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "not valid SQL") != NULL);
	CHECK_RC(mutual_query(b, "SELECT qty FROM no_such_table", NULL, 0, read_row, &r), MUTUAL_EINVALID);
	CHECK_RC(mutual_query(b, "SELECT qty, updates FROM shelf_last; DELETE FROM shelf_last", NULL, 0,
			 read_row, &r), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "exactly one statement") != NULL);
	CHECK_RC(mutual_query(b, "   ", NULL, 0, read_row, &r), MUTUAL_EINVALID);
	CHECK_RC(mutual_query(b, "SELECT qty, updates FROM shelf_last WHERE item = ?1", NULL, 0, read_row, &r),
		 MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "takes 1 parameters, 0 given") != NULL);
	CHECK_RC(mutual_query(b, "SELECT qty, updates FROM shelf_last", item, 1, read_row, &r), MUTUAL_EINVALID);
	CHECK(r.rows == 0);
	/* A trailing semicolon and white space are still one statement. */
	CHECK_OK(mutual_query(b, "SELECT qty, updates FROM shelf_last WHERE item = ?1;\n ", item, 1, read_row, &r));
	CHECK(r.rows == 1);
	mutual_store_free(a);
	mutual_store_free(b);
	mutual_store_free(c);
}

static void test_clock_moves_past_imports(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_join(a, "b", "bea");
	mutual_iter *it;
	const mutual_event *ev;
	uint64_t a_hlc = 0, b_hlc = 0;
	mutual_event_id id;

	CHECK_OK(mutual_append(&id, a, "t.x", "{}"));
	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, b, stick(), NULL));
	CHECK_OK(mutual_append(NULL, b, "t.y", "{}"));
	CHECK_OK(mutual_iter_new(&it, b, NULL));
	while (mutual_iter_next(&ev, it) == 0) {
		if (strcmp(mutual_event_type(ev), "t.x") == 0)
			a_hlc = mutual_event_hlc(ev);
		if (strcmp(mutual_event_type(ev), "t.y") == 0)
			b_hlc = mutual_event_hlc(ev);
	}
	mutual_iter_free(it);
	CHECK(a_hlc && b_hlc > a_hlc); /* made after seeing it: sorts after it */
	mutual_store_free(a);
	mutual_store_free(b);
}

static void test_entity_refusals(void)
{
	mutual_store *a = check_store_create("a", "alpha");
	char *out = NULL;
	CHECK_RC(mutual_entity_put(NULL, a, "item", "x", "[1]"), MUTUAL_EINVALID);
	CHECK_RC(mutual_entity_put(NULL, a, "item", "x", "{\"_deleted\":true}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_entity_put(NULL, a, "", "x", "{}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_entity_put(NULL, a, "item", "", "{}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_counter_add(NULL, a, "k", "1e5"), MUTUAL_EINVALID);
	CHECK_RC(mutual_counter_add(NULL, a, "k", "0.1234567"), MUTUAL_EINVALID);
	CHECK_RC(mutual_state_json(&out, a, "item", "x"), MUTUAL_ENOTFOUND);
	CHECK_OK(mutual_counter_add(NULL, a, "k", "-0.000001"));
	CHECK_OK(mutual_counter_add(NULL, a, "k", "2"));
	CHECK_OK(mutual_counters_json(&out, a, NULL));
	CHECK(strcmp(out, "{\"k\":1.999999}") == 0);
	mutual_free(out);
	mutual_store_free(a);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "late_event_cost", test_late_event_cost },
		{ "app_projection", test_app_projection },
		{ "clock_moves_past_imports", test_clock_moves_past_imports },
		{ "entity_refusals", test_entity_refusals },
	};
	return run_cases(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
