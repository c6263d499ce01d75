/*
 * test_entities.c - the typed walk (mutual_entity_iter_*, _foreach): it
 * shows what mutual_state_json shows, on states with concurrent writes and
 * deletes from three devices; filters, orders and cursors list each entity
 * once and in order; bad options are refused with EINVALID.
 */
#include <stdint.h>
#include <sys/stat.h>

#include "check.h"

#define KIND "post"

static uint64_t rng = 0x9e3779b97f4a7c15u;
static unsigned pick(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void put(mutual_store *s, const char *id, const char *fields)
{
	CHECK_OK(mutual_entity_put(NULL, s, KIND, id, fields));
}

/* ------------------------------------------- the same as mutual_state_json */

typedef struct {
	char *data;
	size_t len, cap;
} text;

static void add(text *t, const char *s)
{
	size_t n = strlen(s);
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		CHECK((t->data = realloc(t->data, t->cap)) != NULL);
	}
	memcpy(t->data + t->len, s, n + 1);
	t->len += n;
}

/* Names and ids here are plain ASCII: quoting is adding quotes. */
static void add_quoted(text *t, const char *s)
{
	add(t, "\"");
	add(t, s);
	add(t, "\"");
}

static void add_write(text *t, const mutual_field_write *w, int with_value)
{
	char hex[2 * MUTUAL_KEY_SIZE + 1], num[64];
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < MUTUAL_KEY_SIZE; i++) {
		hex[2 * i] = digits[w->device[i] >> 4];
		hex[2 * i + 1] = digits[w->device[i] & 15];
	}
	hex[2 * MUTUAL_KEY_SIZE] = '\0';
	add(t, "{\"device\":");
	add_quoted(t, hex);
	snprintf(num, sizeof(num), ",\"hlc\":%llu,\"seq\":%llu", (unsigned long long)w->hlc, (unsigned long long)w->seq);
	add(t, num);
	if (with_value) {
		add(t, ",\"value\":");
		add(t, w->value);
	}
	add(t, "}");
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(const mutual_entity_field *const *)a)->name, (*(const mutual_entity_field *const *)b)->name);
}

/* The entity in mutual_state_json's canonical form. */
static int as_state_json(const mutual_entity *e, void *payload)
{
	text *t = payload;
	const mutual_entity_field *all[64];
	size_t n = 0;
	int first;

	CHECK(e->n_fields < 63);
	for (size_t i = 0; i < e->n_fields; i++)
		all[n++] = &e->fields[i];
	all[n++] = &e->deletion;
	qsort(all, n, sizeof(all[0]), by_name);
	CHECK(e->cursor && strlen(e->cursor) > 0);
	if (t->data[t->len - 1] != '[')
		add(t, ",");
	add(t, "{\"conflicts\":{");
	first = 1;
	for (size_t i = 0; i < n; i++) {
		if (!all[i]->n_conflicts)
			continue;
		add(t, first ? "" : ",");
		first = 0;
		add_quoted(t, all[i]->name);
		add(t, ":[");
		for (size_t c = 0; c < all[i]->n_conflicts; c++) {
			add(t, c ? "," : "");
			add_write(t, &all[i]->conflicts[c], 1);
		}
		add(t, "]");
	}
	add(t, e->deleted ? "},\"deleted\":true,\"fields\":{" : "},\"deleted\":false,\"fields\":{");
	for (size_t i = 0; i < e->n_fields; i++) {
		add(t, i ? "," : "");
		add_quoted(t, e->fields[i].name);
		add(t, ":");
		add(t, e->fields[i].write.value);
		if (i)
			CHECK(strcmp(e->fields[i - 1].name, e->fields[i].name) < 0);
	}
	add(t, "},\"id\":");
	add_quoted(t, e->id);
	add(t, ",\"writers\":{");
	for (size_t i = 0; i < n; i++) {
		add(t, i ? "," : "");
		add_quoted(t, all[i]->name);
		add(t, ":");
		add_write(t, &all[i]->write, 0);
	}
	add(t, "}}");
	return 0;
}

static void check_same_as_state_json(mutual_store *s)
{
	mutual_entity_options o = MUTUAL_ENTITY_OPTIONS_INIT;
	text t = { 0 };
	char *want = NULL;
	o.kind = KIND;
	o.include_deleted = 1;
	add(&t, "{\"entities\":[");
	CHECK_OK(mutual_entity_foreach(s, &o, as_state_json, &t));
	add(&t, "],\"kind\":\"" KIND "\"}");
	CHECK_OK(mutual_state_json(&want, s, KIND, NULL));
	if (strcmp(want, t.data) != 0) {
		fprintf(stderr, "state_json: %s\nwalk:       %s\n", want, t.data);
		CHECK(!"the walk shows what mutual_state_json shows");
	}
	mutual_free(want);
	free(t.data);
}

static void random_op(mutual_store *s)
{
	static const char *const fields[] = { "status", "area", "n", "Zed", "note" };
	static const char *const values[] = { "\"open\"", "\"closed\"", "3", "3.5", "\"3\"", "true", "null",
		"[1,2]", "{\"a\":1}", "\"caf\\u00e9\"", "\"\"" };
	char id[16], json[128];
	snprintf(id, sizeof(id), "e%u", pick(12));
	if (pick(8) == 0) {
		CHECK_OK(mutual_entity_delete(NULL, s, KIND, id));
		return;
	}
	unsigned f = pick(5), g = pick(5);
	if (f == g)
		snprintf(json, sizeof(json), "{\"%s\":%s}", fields[f], values[pick(11)]);
	else
		snprintf(json, sizeof(json), "{\"%s\":%s,\"%s\":%s}", fields[f < g ? f : g], values[pick(11)],
			fields[f < g ? g : f], values[pick(11)]);
	put(s, id, json);
}

static void test_matches_state_json(void)
{
	mutual_store *st[3];
	mutual_sync_stats stats = MUTUAL_SYNC_STATS_INIT;
	const char *stick = tmp_path("stick");
	st[0] = check_store_create("a", "alpha");
	st[1] = check_store_join(st[0], "b", "beta");
	st[2] = check_store_join(st[0], "c", "gamma");
	CHECK(mkdir(stick, 0700) == 0);
	for (int round = 0; round < 30; round++) {
		for (int d = 0; d < 3; d++) {
			for (unsigned k = pick(4); k > 0; k--)
				random_op(st[d]);
			if (pick(3) == 0)
				CHECK_OK(mutual_sync(&stats, st[d], stick, NULL));
			check_same_as_state_json(st[d]);
		}
	}
	for (int pass = 0; pass < 2; pass++)
		for (int d = 0; d < 3; d++)
			CHECK_OK(mutual_sync(&stats, st[d], stick, NULL));
	for (int d = 0; d < 3; d++) {
		check_same_as_state_json(st[d]);
		CHECK_OK(mutual_rebuild(st[d]));
		check_same_as_state_json(st[d]);
	}
	for (int d = 0; d < 3; d++)
		mutual_store_free(st[d]);
}

/* --------------------------------------------------- filters and paging */

#define POSTS 300

static const char *area_of(int i)
{
	return i % 3 == 0 ? "North" : i % 3 == 1 ? "South" : "East";
}

static int is_open(int i)
{
	return i % 4 != 0;
}

static mutual_store *board(void)
{
	mutual_store *s = check_store_create("board", "desk");
	mutual_batch *b;
	CHECK_OK(mutual_batch_new(&b, s));
	for (int i = 0; i < POSTS; i++) {
		char id[16], json[160];
		snprintf(id, sizeof(id), "p%03d", i);
		snprintf(json, sizeof(json), "{\"area\":\"%s\",\"n\":%d,\"status\":\"%s\",\"title\":\"Post %d\"}",
			area_of(i), (i * 37) % 50, is_open(i) ? "open" : "closed", i);
		CHECK_OK(mutual_batch_entity_put(b, KIND, id, json));
	}
	CHECK_OK(mutual_batch_entity_delete(b, KIND, "p001")); /* an open post, in the South */
	CHECK_OK(mutual_batch_commit(NULL, b));
	mutual_batch_free(b);
	return s;
}

typedef struct {
	int seen[POSTS];
	int count;
	char last_id[16];
	long last_n;
	char cursor[256];
	int descending, by_n;
} page_walk;

static const char *field(const mutual_entity *e, const char *name)
{
	for (size_t i = 0; i < e->n_fields; i++)
		if (strcmp(e->fields[i].name, name) == 0)
			return e->fields[i].write.value;
	return NULL;
}

static int take(const mutual_entity *e, void *payload)
{
	page_walk *w = payload;
	int i = atoi(e->id + 1);
	long n = strtol(field(e, "n"), NULL, 10);
	CHECK(i >= 0 && i < POSTS && !w->seen[i]);
	if (w->count) {
		int c = w->by_n && n != w->last_n ? (n > w->last_n) - (n < w->last_n) : strcmp(e->id, w->last_id);
		CHECK(w->descending ? c < 0 : c > 0);
	}
	w->seen[i] = 1;
	w->count++;
	snprintf(w->last_id, sizeof(w->last_id), "%s", e->id);
	w->last_n = n;
	CHECK(strlen(e->cursor) < sizeof(w->cursor));
	snprintf(w->cursor, sizeof(w->cursor), "%s", e->cursor);
	return 0;
}

/* Walk `o` in pages of `page`, resuming at each page's last cursor. */
static void walk_pages(mutual_store *s, mutual_entity_options *o, page_walk *w, uint64_t page)
{
	int before;
	o->limit = page;
	o->after = NULL;
	do {
		before = w->count;
		CHECK_OK(mutual_entity_foreach(s, o, take, w));
		CHECK((uint64_t)(w->count - before) <= page);
		o->after = w->cursor;
	} while ((uint64_t)(w->count - before) == page);
}

static void test_filters_and_pages(void)
{
	mutual_store *s = board();
	mutual_entity_where where[2] = { { "status", "\"open\"" }, { "area", " \"North\" " } };
	mutual_entity_options o = MUTUAL_ENTITY_OPTIONS_INIT;
	const mutual_entity *e;
	mutual_entity_iter *it;

	o.kind = KIND;
	for (int descending = 0; descending < 2; descending++) {
		for (int by_n = 0; by_n < 2; by_n++) {
			page_walk w;
			memset(&w, 0, sizeof(w));
			w.descending = o.descending = descending;
			w.by_n = by_n;
			o.order_by = by_n ? "n" : NULL;
			o.where = where;
			o.n_where = 2;
			walk_pages(s, &o, &w, 7);
			for (int i = 0; i < POSTS; i++)
				CHECK(w.seen[i] == (is_open(i) && i % 3 == 0 && i != 1));
			/* No filter: every live post, once. */
			memset(&w, 0, sizeof(w));
			w.descending = descending;
			w.by_n = by_n;
			o.n_where = 0;
			walk_pages(s, &o, &w, 50);
			CHECK(w.count == POSTS - 1);
			CHECK(!w.seen[1]);
		}
	}

	/* One entity, deleted ones, and a limit. */
	memset(&o, 0, sizeof(o));
	CHECK_OK(mutual_entity_options_init(&o, MUTUAL_ENTITY_OPTIONS_VERSION));
	o.kind = KIND;
	o.id = "p001";
	CHECK_OK(mutual_entity_iter_new(&it, s, &o));
	CHECK_RC(mutual_entity_iter_next(&e, it), MUTUAL_ITEROVER);
	mutual_entity_iter_free(it);
	o.include_deleted = 1;
	CHECK_OK(mutual_entity_iter_new(&it, s, &o));
	CHECK_OK(mutual_entity_iter_next(&e, it));
	CHECK(strcmp(e->id, "p001") == 0 && e->deleted && strcmp(e->deletion.write.value, "true") == 0);
	CHECK(strcmp(field(e, "title"), "\"Post 1\"") == 0);
	CHECK(strcmp(e->fields[e->n_fields - 1].write.text, "Post 1") == 0);
	CHECK_RC(mutual_entity_iter_next(&e, it), MUTUAL_ITEROVER);
	CHECK_RC(mutual_entity_iter_next(&e, it), MUTUAL_ITEROVER);
	mutual_entity_iter_free(it);

	/* Values compare as JSON: 3 is not "3". */
	mutual_entity_where three[1] = { { "n", "3" } };
	page_walk w;
	memset(&w, 0, sizeof(w));
	o.id = NULL;
	o.include_deleted = 0;
	o.where = three;
	o.n_where = 1;
	CHECK_OK(mutual_entity_foreach(s, &o, take, &w));
	for (int i = 0; i < POSTS; i++)
		CHECK(w.seen[i] == ((i * 37) % 50 == 3 && i != 1));
	CHECK(w.count > 0);
	three[0].value = "\"3\"";
	memset(&w, 0, sizeof(w));
	CHECK_OK(mutual_entity_foreach(s, &o, take, &w));
	CHECK(w.count == 0);
	mutual_store_free(s);
}

/* ----------------------------------------------------- conflicts, typed */

static void test_conflicts(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_join(a, "b", "beta");
	mutual_sync_stats stats = MUTUAL_SYNC_STATS_INIT;
	mutual_entity_options o = MUTUAL_ENTITY_OPTIONS_INIT;
	const char *stick = tmp_path("stick");
	const mutual_entity *e;
	mutual_entity_iter *it;

	CHECK(mkdir(stick, 0700) == 0);
	put(a, "r1", "{\"holder\":\"\",\"status\":\"open\"}");
	CHECK_OK(mutual_sync(&stats, a, stick, NULL));
	CHECK_OK(mutual_sync(&stats, b, stick, NULL));
	/* Both claim it offline; b also deletes another at once with a's edit. */
	put(a, "r1", "{\"holder\":\"Ana\",\"status\":\"claimed\"}");
	put(b, "r1", "{\"holder\":\"Ben\",\"status\":\"claimed\"}");
	put(a, "r2", "{\"status\":\"open\"}");
	CHECK_OK(mutual_sync(&stats, a, stick, NULL));
	CHECK_OK(mutual_sync(&stats, b, stick, NULL));
	put(a, "r2", "{\"status\":\"done\"}");
	CHECK_OK(mutual_entity_delete(NULL, b, KIND, "r2"));
	CHECK_OK(mutual_sync(&stats, a, stick, NULL));
	CHECK_OK(mutual_sync(&stats, b, stick, NULL));
	CHECK_OK(mutual_sync(&stats, a, stick, NULL));

	for (int d = 0; d < 2; d++) {
		mutual_store *s = d ? b : a;
		const mutual_entity_field *holder = NULL, *status = NULL;
		o.kind = KIND;
		o.include_deleted = 1;
		CHECK_OK(mutual_entity_iter_new(&it, s, &o));
		CHECK_OK(mutual_entity_iter_next(&e, it));
		CHECK(strcmp(e->id, "r1") == 0 && !e->deleted && e->n_fields == 2);
		holder = &e->fields[0];
		status = &e->fields[1];
		CHECK(strcmp(holder->name, "holder") == 0 && strcmp(status->name, "status") == 0);
		/* One claim holds, the other is its open conflict; both say claimed. */
		CHECK(holder->n_conflicts == 1 && status->n_conflicts == 0);
		CHECK((strcmp(holder->write.text, "Ana") == 0 && strcmp(holder->conflicts[0].text, "Ben") == 0) ||
		      (strcmp(holder->write.text, "Ben") == 0 && strcmp(holder->conflicts[0].text, "Ana") == 0));
		CHECK(holder->conflicts[0].seq > 0 && holder->conflicts[0].hlc <= holder->write.hlc);
		CHECK(strcmp(status->write.value, "\"claimed\"") == 0);
		CHECK_OK(mutual_entity_iter_next(&e, it));
		CHECK(strcmp(e->id, "r2") == 0);
		CHECK(e->deletion.n_conflicts == 1); /* deleted and edited at once */
		CHECK_RC(mutual_entity_iter_next(&e, it), MUTUAL_ITEROVER);
		mutual_entity_iter_free(it);
		check_same_as_state_json(s);
	}
	mutual_store_free(a);
	mutual_store_free(b);
}

/* ------------------------------------------------------------ refusals */

static void check_refused(mutual_store *s, const mutual_entity_options *o)
{
	mutual_entity_iter *it = (mutual_entity_iter *)&it;
	CHECK_RC(mutual_entity_iter_new(&it, s, o), MUTUAL_EINVALID);
	CHECK(it == NULL);
	CHECK(strlen(mutual_error_last()) > 0);
}

static int first_cursor(const mutual_entity *e, void *payload)
{
	snprintf(payload, 256, "%s", e->cursor);
	return 1;
}

static void test_bad_options(void)
{
	mutual_store *s = board();
	mutual_entity_options o = MUTUAL_ENTITY_OPTIONS_INIT, zero;
	mutual_entity_where where[MUTUAL_ENTITY_WHERE_MAX + 1];
	mutual_entity_iter *it;
	const mutual_entity *e;
	char by_id[256], by_n[256], cut[512];

	memset(&zero, 0, sizeof(zero));
	zero.kind = KIND;
	check_refused(s, &zero); /* version 0 */
	CHECK_RC(mutual_entity_iter_new(&it, s, NULL), MUTUAL_EINVALID);
	CHECK_RC(mutual_entity_options_init(&o, 99), MUTUAL_EINVALID);
	CHECK_RC(mutual_entity_foreach(s, &o, NULL, NULL), MUTUAL_EINVALID);
	CHECK_RC(mutual_entity_iter_next(NULL, NULL), MUTUAL_EINVALID);
	check_refused(s, &o); /* no kind */
	o.kind = "";
	check_refused(s, &o);
	o.kind = KIND;
	o.order_by = "_deleted";
	check_refused(s, &o);
	o.order_by = NULL;
	for (int i = 0; i <= MUTUAL_ENTITY_WHERE_MAX; i++)
		where[i] = (mutual_entity_where){ "status", "\"open\"" };
	o.where = where;
	o.n_where = MUTUAL_ENTITY_WHERE_MAX + 1;
	check_refused(s, &o);
	o.n_where = MUTUAL_ENTITY_WHERE_MAX; /* the most: all the same filter */
	CHECK_OK(mutual_entity_iter_new(&it, s, &o));
	CHECK_OK(mutual_entity_iter_next(&e, it));
	mutual_entity_iter_free(it);
	o.n_where = 1;
	where[0].value = "open"; /* not JSON: a string is quoted */
	check_refused(s, &o);
	where[0].value = NULL;
	check_refused(s, &o);
	where[0] = (mutual_entity_where){ "_deleted", "true" };
	check_refused(s, &o);
	where[0] = (mutual_entity_where){ NULL, "true" };
	check_refused(s, &o);
	o.n_where = 0;

	/* Cursors: only this order's, whole. */
	CHECK_RC(mutual_entity_foreach(s, &o, first_cursor, by_id), 1);
	o.order_by = "n";
	CHECK_RC(mutual_entity_foreach(s, &o, first_cursor, by_n), 1);
	o.after = by_id;
	check_refused(s, &o);
	o.order_by = "title";
	o.after = by_n;
	check_refused(s, &o);
	o.order_by = NULL;
	o.after = by_n;
	check_refused(s, &o);
	snprintf(cut, sizeof(cut), "%.*s", (int)strlen(by_id) - 2, by_id);
	o.after = cut;
	check_refused(s, &o);
	snprintf(cut, sizeof(cut), "%s00", by_id);
	check_refused(s, &o);
	snprintf(cut, sizeof(cut), "%sz", by_id);
	check_refused(s, &o);
	o.after = "zz";
	check_refused(s, &o);
	o.after = "";
	check_refused(s, &o);
	o.after = by_id;
	CHECK_OK(mutual_entity_iter_new(&it, s, &o));
	CHECK_OK(mutual_entity_iter_next(&e, it));
	CHECK(strcmp(e->id, "p002") == 0); /* after p000 (p001 is deleted) */
	mutual_entity_iter_free(it);
	mutual_store_free(s);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "matches_state_json", test_matches_state_json },
		{ "filters_and_pages", test_filters_and_pages },
		{ "conflicts", test_conflicts },
		{ "bad_options", test_bad_options },
	};
	return run_cases(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
