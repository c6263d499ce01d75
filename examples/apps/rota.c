/*
 * rota.c - the volunteer rota: shifts entered in local wall-clock time and
 * kept in UTC, sign-ups, drops and swaps, who carries the load, and who
 * could take a shift next.
 *
 * State is the app projection "rota", a function of the log in its total
 * order (the library replays it when a late event arrives, so every device
 * holding the same events shows the same rota):
 *
 *  1. rota_shifts holds one row per rota.shift event id; the first event
 *     in the total order with that id wins.
 *  2. rota_volunteers holds every name ever announced (rota.volunteer),
 *     signed up or swapped in: the "known volunteers".
 *  3. rota_signups holds (shift, volunteer) pairs of shifts that exist;
 *     signup, drop and swap apply in the total order.
 *  4. No apply statement can fail on a payload: a malformed event (written
 *     by another program through `mutual append`) is skipped, never allowed
 *     to stop the projection for everyone.
 *
 * Validation happens here, in C, against this device's view before an
 * event is written. Two devices offline can both take a shift's last
 * place, so after a merge a shift may hold more names than it has slots:
 * readers report that (n_volunteers > slots) rather than hide anyone.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps_private.h"

#define TITLE_MAX 120
#define NAME_MAX_BYTES 60
#define SLOTS_MAX 50
#define WEEKS_MAX 52
#define MINUTE_MS INT64_C(60000)
#define DAY_MS (24 * 60 * MINUTE_MS)
#define WINDOW_MS (28 * DAY_MS)
/* Flagging: at least 1.5 times the median and 4 hours above it. */
#define FLAG_MARGIN_MINUTES 240

static const char schema_sql[] =
	"CREATE TABLE rota_shifts(id TEXT PRIMARY KEY, title TEXT NOT NULL, task TEXT NOT NULL,"
	" start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, slots INTEGER NOT NULL);"
	"CREATE INDEX rota_shifts_by_start ON rota_shifts(start_ms);"
	"CREATE TABLE rota_volunteers(name TEXT PRIMARY KEY);"
	"CREATE TABLE rota_signups(shift TEXT NOT NULL, volunteer TEXT NOT NULL,"
	" PRIMARY KEY(shift, volunteer));"
	"CREATE INDEX rota_signups_by_volunteer ON rota_signups(volunteer);";

static const char reset_sql[] =
	"DELETE FROM rota_signups; DELETE FROM rota_volunteers; DELETE FROM rota_shifts;";

/* Each statement runs for every rota.* event and acts only on its own
 * type; the json_type guards skip payloads of the wrong shape (invariant 4). */
static const char apply_sql[] =
	"INSERT OR IGNORE INTO rota_shifts(id, title, task, start_ms, end_ms, slots)"
	" SELECT json_extract(:payload, '$.id'), json_extract(:payload, '$.title'),"
	"  CASE json_type(:payload, '$.task') WHEN 'text' THEN json_extract(:payload, '$.task')"
	"   ELSE json_extract(:payload, '$.title') END,"
	"  json_extract(:payload, '$.start'), json_extract(:payload, '$.end'),"
	"  json_extract(:payload, '$.slots')"
	" WHERE :type = 'rota.shift' AND json_type(:payload, '$.id') = 'text'"
	"  AND json_type(:payload, '$.title') = 'text' AND json_type(:payload, '$.start') = 'integer'"
	"  AND json_type(:payload, '$.end') = 'integer' AND json_type(:payload, '$.slots') = 'integer';"
	"INSERT OR IGNORE INTO rota_volunteers(name) SELECT json_extract(:payload, '$.name')"
	" WHERE :type = 'rota.volunteer' AND json_type(:payload, '$.name') = 'text';"
	"INSERT OR IGNORE INTO rota_volunteers(name) SELECT json_extract(:payload, '$.volunteer')"
	" WHERE :type = 'rota.signup' AND json_type(:payload, '$.volunteer') = 'text';"
	"INSERT OR IGNORE INTO rota_signups(shift, volunteer)"
	" SELECT id, json_extract(:payload, '$.volunteer') FROM rota_shifts"
	" WHERE :type = 'rota.signup' AND id = json_extract(:payload, '$.shift')"
	"  AND json_type(:payload, '$.volunteer') = 'text';"
	"DELETE FROM rota_signups WHERE :type = 'rota.drop'"
	" AND shift = json_extract(:payload, '$.shift') AND volunteer = json_extract(:payload, '$.volunteer');"
	/* A swap whose `from` already left (a drop made concurrently) still
	 * puts `to` on the shift: `to` agreed to do it, whatever the order. */
	"DELETE FROM rota_signups WHERE :type = 'rota.swap'"
	" AND shift = json_extract(:payload, '$.shift') AND volunteer = json_extract(:payload, '$.from');"
	"INSERT OR IGNORE INTO rota_volunteers(name) SELECT json_extract(:payload, '$.to')"
	" WHERE :type = 'rota.swap' AND json_type(:payload, '$.to') = 'text';"
	"INSERT OR IGNORE INTO rota_signups(shift, volunteer)"
	" SELECT id, json_extract(:payload, '$.to') FROM rota_shifts"
	" WHERE :type = 'rota.swap' AND id = json_extract(:payload, '$.shift')"
	"  AND json_type(:payload, '$.to') = 'text';";

int rota__register(mutual_store *store)
{
	mutual_projection_def def = MUTUAL_PROJECTION_DEF_INIT;
	int rc;
	def.name = "rota";
	def.schema_version = 1;
	def.schema = schema_sql;
	def.reset = reset_sql;
	def.type_prefix = "rota.";
	def.apply = apply_sql;
	if ((rc = mutual_projection_register(store, &def)) < 0)
		return apps__lib(rc);
	return 0;
}

/* ------------------------------------------------------------ queries */

/* A query's result held in memory, so the caller's callbacks run after the
 * query has finished and may read the store themselves. */
typedef struct table {
	size_t cols, rows, cap;
	char **cells; /* rows * cols; NULL for SQL NULL */
	int failed;
} table;

static void table_free(table *t)
{
	for (size_t i = 0; i < t->rows * t->cols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static int collect(int cols, const char *const *names, const char *const *values, void *payload)
{
	table *t = payload;
	(void)names;
	t->cols = (size_t)cols;
	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cells = realloc(t->cells, cap * t->cols * sizeof(*cells));
		if (!cells) {
			t->failed = 1;
			return 1;
		}
		t->cells = cells;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->cols; i++) {
		char **cell = &t->cells[t->rows * t->cols + i];
		*cell = NULL;
		if (values[i] && !(*cell = strdup(values[i]))) {
			for (size_t j = 0; j < i; j++)
				free(t->cells[t->rows * t->cols + j]);
			t->failed = 1;
			return 1;
		}
	}
	t->rows++;
	return 0;
}

static int query(table *out, mutual_store *store, const char *sql, const char *const *params, size_t n)
{
	int rc;
	memset(out, 0, sizeof(*out));
	rc = mutual_query(store, sql, params, n, collect, out);
	if (out->failed) {
		table_free(out);
		return apps__fail(MUTUAL_ERROR, "out of memory reading the rota");
	}
	if (rc < 0) {
		table_free(out);
		return apps__lib(rc);
	}
	return 0;
}

static const char *cell(const table *t, size_t row, size_t col)
{
	return t->cells[row * t->cols + col];
}

static int64_t cell_int(const table *t, size_t row, size_t col)
{
	const char *v = cell(t, row, col);
	return v ? strtoll(v, NULL, 10) : 0;
}

/* ------------------------------------------------------------- writing */

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard
 * Hinnant's civil calendar algorithms): week N of a repeat is the first
 * date plus 7 N days whatever the month lengths. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(char out[16], int64_t z)
{
	int64_t era, doe, yoe, y, doy, mp, d, m;
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	snprintf(out, 16, "%04d-%02d-%02d", (int)(y + (m <= 2)), (int)m, (int)d);
}

/* Minutes after midnight of a wall-clock "HH:MM", or -1. Parsed here, not
 * only by apps_local_to_utc, because whether the end is on the next day
 * must be known before the end's own date is. */
static int wall_minutes(const char *hhmm)
{
	int h, m;
	if (strlen(hhmm) != 5 || hhmm[2] != ':' || strspn(hhmm, "0123456789") != 2 ||
	    strspn(hhmm + 3, "0123456789") != 2)
		return -1;
	h = (hhmm[0] - '0') * 10 + (hhmm[1] - '0');
	m = (hhmm[3] - '0') * 10 + (hhmm[4] - '0');
	return h < 24 && m < 60 ? h * 60 + m : -1;
}

static int shift_payload(apps_buf *b, const char *id, const char *title, const char *task,
	int64_t start, int64_t end, unsigned int slots)
{
	char local[32];
	apps_time_local(local, start);
	apps_buf_puts(b, "{\"id\":");
	apps_buf_json(b, id);
	apps_buf_puts(b, ",\"title\":");
	apps_buf_json(b, title);
	apps_buf_puts(b, ",\"task\":");
	apps_buf_json(b, task);
	apps_buf_printf(b, ",\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"slots\":%u,\"local\":", start,
		end, slots);
	apps_buf_json(b, local);
	apps_buf_puts(b, ",\"zone\":");
	apps_buf_json(b, apps_zone_name());
	apps_buf_puts(b, "}");
	return b->failed ? apps__fail(MUTUAL_ERROR, "out of memory") : 0;
}

int rota_shift_add(char first_id[17], mutual_store *store, const rota_new_shift *shift)
{
	char *title = NULL, *task = NULL, ids[WEEKS_MAX][17], date[16];
	apps_buf payloads[WEEKS_MAX];
	mutual_append_entry entries[WEEKS_MAX];
	int64_t first_day, start, end;
	int y, m, d, start_min, end_min, rc = 0;

	memset(payloads, 0, sizeof(payloads));
	if (!store || !shift || !shift->date || !shift->start || !shift->end)
		return apps__fail(MUTUAL_EINVALID, "a shift needs a date, a start and an end time");
	if (shift->slots < 1 || shift->slots > SLOTS_MAX)
		return apps__fail(MUTUAL_EINVALID, "a shift needs 1 to %d people", SLOTS_MAX);
	if (shift->weeks < 1 || shift->weeks > WEEKS_MAX)
		return apps__fail(MUTUAL_EINVALID, "a shift repeats for 1 to %d weeks", WEEKS_MAX);
	if ((start_min = wall_minutes(shift->start)) < 0 || (end_min = wall_minutes(shift->end)) < 0)
		return apps__fail(MUTUAL_EINVALID, "a shift's times are HH:MM, like 09:30 or 17:00");
	if (start_min == end_min)
		return apps__fail(MUTUAL_EINVALID, "the shift ends when it starts: give a different end time");
	/* The date is checked before the arithmetic below relies on its shape. */
	if ((rc = apps_local_to_utc(&start, shift->date, shift->start)) < 0)
		return rc;
	if (!(title = apps_clean_text(shift->title, TITLE_MAX, "the shift's title"))) {
		rc = MUTUAL_EINVALID;
		goto done;
	}
	if (shift->task && *shift->task) {
		if (!(task = apps_clean_text(shift->task, TITLE_MAX, "the shift's task"))) {
			rc = MUTUAL_EINVALID;
			goto done;
		}
	} else if (!(task = strdup(title))) {
		rc = apps__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	sscanf(shift->date, "%d-%d-%d", &y, &m, &d);
	first_day = days_from_civil(y, m, d);
	/* Each week from the same wall clock: 17:00 stays 17:00 in local
	 * time when the clocks change between two weeks. */
	for (unsigned int w = 0; w < shift->weeks; w++) {
		civil_from_days(date, first_day + 7 * (int64_t)w);
		if ((rc = apps_local_to_utc(&start, date, shift->start)) < 0)
			goto done;
		if (end_min < start_min)
			civil_from_days(date, first_day + 7 * (int64_t)w + 1);
		if ((rc = apps_local_to_utc(&end, date, shift->end)) < 0)
			goto done;
		apps__new_id(ids[w]);
		if ((rc = shift_payload(&payloads[w], ids[w], title, task, start, end, shift->slots)) < 0)
			goto done;
		entries[w].type = "rota.shift";
		entries[w].payload = payloads[w].data;
	}
	if ((rc = mutual_append_batch(NULL, store, entries, shift->weeks)) < 0) {
		rc = apps__lib(rc);
		goto done;
	}
	if (first_id)
		memcpy(first_id, ids[0], 17);
done:
	for (unsigned int w = 0; w < WEEKS_MAX; w++)
		apps_buf_free(&payloads[w]);
	free(title);
	free(task);
	return rc;
}

static int append(mutual_store *store, const char *type, apps_buf *payload)
{
	int rc;
	if (payload->failed)
		return apps__fail(MUTUAL_ERROR, "out of memory");
	if ((rc = mutual_append(NULL, store, type, payload->data)) < 0)
		return apps__lib(rc);
	return 0;
}

int rota_volunteer_add(mutual_store *store, const char *name)
{
	const char *params[1];
	apps_buf payload = { 0 };
	char *clean = NULL;
	table known;
	int rc;

	if (!store)
		return apps__fail(MUTUAL_EINVALID, "no store given");
	if (!(clean = apps_clean_text(name, NAME_MAX_BYTES, "the volunteer's name")))
		return MUTUAL_EINVALID;
	params[0] = clean;
	if ((rc = query(&known, store, "SELECT 1 FROM rota_volunteers WHERE name = ?1", params, 1)) < 0)
		goto done;
	/* Already on the list: nothing to add, and nothing written. */
	if (known.rows == 0) {
		apps_buf_puts(&payload, "{\"name\":");
		apps_buf_json(&payload, clean);
		apps_buf_puts(&payload, "}");
		rc = append(store, "rota.volunteer", &payload);
	}
	table_free(&known);
done:
	apps_buf_free(&payload);
	free(clean);
	return rc;
}

/* What signup, drop and swap check against: the shift, how full it is,
 * and whether the names `a` and `b` are on it. */
typedef struct shift_view {
	char label[192]; /* "Thursday hand-out on 2026-11-26 17:00" */
	unsigned int slots, taken;
	int has_a, has_b;
} shift_view;

static int shift_view_get(shift_view *out, mutual_store *store, const char *id, const char *a,
	const char *b)
{
	const char *params[3] = { id, a, b };
	char when[32];
	table t;
	int rc;

	if ((rc = query(&t, store,
		     "SELECT s.title, s.start_ms, s.slots,"
		     " (SELECT COUNT(*) FROM rota_signups WHERE shift = s.id),"
		     " EXISTS(SELECT 1 FROM rota_signups WHERE shift = s.id AND volunteer = ?2),"
		     " EXISTS(SELECT 1 FROM rota_signups WHERE shift = s.id AND volunteer = ?3)"
		     " FROM rota_shifts s WHERE s.id = ?1",
		     params, 3)) < 0)
		return rc;
	if (t.rows == 0) {
		table_free(&t);
		return apps__fail(MUTUAL_ENOTFOUND, "there is no shift %s on the rota", id);
	}
	apps_time_local(when, cell_int(&t, 0, 1));
	snprintf(out->label, sizeof(out->label), "%.120s on %s", cell(&t, 0, 0), when);
	out->slots = (unsigned int)cell_int(&t, 0, 2);
	out->taken = (unsigned int)cell_int(&t, 0, 3);
	out->has_a = cell_int(&t, 0, 4) != 0;
	out->has_b = cell_int(&t, 0, 5) != 0;
	table_free(&t);
	return 0;
}

/* Append `type` with the payload {"shift":id,"<k1>":v1[,"<k2>":v2]}. */
static int append_place(mutual_store *store, const char *type, const char *shift_id,
	const char *k1, const char *v1, const char *k2, const char *v2)
{
	apps_buf payload = { 0 };
	apps_buf_puts(&payload, "{\"shift\":");
	apps_buf_json(&payload, shift_id);
	apps_buf_printf(&payload, ",\"%s\":", k1);
	apps_buf_json(&payload, v1);
	if (k2) {
		apps_buf_printf(&payload, ",\"%s\":", k2);
		apps_buf_json(&payload, v2);
	}
	apps_buf_puts(&payload, "}");
	int rc = append(store, type, &payload);
	apps_buf_free(&payload);
	return rc;
}

/* What signup and drop start with: the cleaned name (`*name`, the
 * caller's to free) and the shift as this device sees it. */
static int one_person(char **name, shift_view *v, mutual_store *store, const char *shift_id,
	const char *volunteer)
{
	*name = NULL;
	if (!store || !shift_id)
		return apps__fail(MUTUAL_EINVALID, "no store or shift given");
	if (!(*name = apps_clean_text(volunteer, NAME_MAX_BYTES, "the volunteer's name")))
		return MUTUAL_EINVALID;
	return shift_view_get(v, store, shift_id, *name, *name);
}

int rota_signup(mutual_store *store, const char *shift_id, const char *volunteer)
{
	char *name;
	shift_view v;
	int rc = one_person(&name, &v, store, shift_id, volunteer);
	if (rc == 0 && v.has_a)
		rc = apps__fail(MUTUAL_EINVALID, "%s is already signed up for %s", name, v.label);
	else if (rc == 0 && v.taken >= v.slots)
		rc = apps__fail(MUTUAL_EINVALID, "%s is full (%u of %u places taken): pick another shift",
			v.label, v.taken, v.slots);
	else if (rc == 0)
		rc = append_place(store, "rota.signup", shift_id, "volunteer", name, NULL, NULL);
	free(name);
	return rc;
}

int rota_drop(mutual_store *store, const char *shift_id, const char *volunteer)
{
	char *name;
	shift_view v;
	int rc = one_person(&name, &v, store, shift_id, volunteer);
	if (rc == 0 && !v.has_a)
		rc = apps__fail(MUTUAL_EINVALID, "%s is not signed up for %s", name, v.label);
	else if (rc == 0)
		rc = append_place(store, "rota.drop", shift_id, "volunteer", name, NULL, NULL);
	free(name);
	return rc;
}

int rota_swap(mutual_store *store, const char *shift_id, const char *from, const char *to)
{
	char *from_name = NULL, *to_name = NULL;
	shift_view v;
	int rc;

	if (!store || !shift_id)
		return apps__fail(MUTUAL_EINVALID, "no store or shift given");
	if (!(from_name = apps_clean_text(from, NAME_MAX_BYTES, "the name of who hands over")) ||
	    !(to_name = apps_clean_text(to, NAME_MAX_BYTES, "the name of who takes over")))
		rc = MUTUAL_EINVALID;
	else if (strcmp(from_name, to_name) == 0)
		rc = apps__fail(MUTUAL_EINVALID, "a swap needs two different people");
	else if ((rc = shift_view_get(&v, store, shift_id, from_name, to_name)) == 0) {
		if (!v.has_a)
			rc = apps__fail(MUTUAL_EINVALID, "%s is not signed up for %s", from_name, v.label);
		else if (v.has_b)
			rc = apps__fail(MUTUAL_EINVALID, "%s is already signed up for %s", to_name, v.label);
		else
			rc = append_place(store, "rota.swap", shift_id, "from", from_name, "to", to_name);
	}
	free(from_name);
	free(to_name);
	return rc;
}

/* ------------------------------------------------------------- reading */

int rota_shifts_foreach(mutual_store *store, int64_t from, int64_t to, rota_shift_cb cb,
	void *payload)
{
	char from_s[24], to_s[24];
	const char *params[2] = { from_s, to_s };
	const char **names = NULL;
	table t;
	int rc;

	if (!store || !cb)
		return apps__fail(MUTUAL_EINVALID, "no store or callback given");
	snprintf(from_s, sizeof(from_s), "%" PRId64, from);
	snprintf(to_s, sizeof(to_s), "%" PRId64, to);
	/* One row per shift and volunteer, never names joined by a separator:
	 * a name another member's software wrote can hold any character. */
	if ((rc = query(&t, store,
		     "SELECT s.id, s.title, s.task, s.start_ms, s.end_ms, s.slots, g.volunteer"
		     " FROM rota_shifts s LEFT JOIN rota_signups g ON g.shift = s.id"
		     " WHERE s.start_ms >= CAST(?1 AS INTEGER) AND s.start_ms < CAST(?2 AS INTEGER)"
		     " ORDER BY s.start_ms, s.id, g.volunteer",
		     params, 2)) < 0)
		return rc;
	if (t.rows && !(names = malloc(t.rows * sizeof(*names))))
		rc = apps__fail(MUTUAL_ERROR, "out of memory reading the rota");
	for (size_t r = 0; r < t.rows && rc == 0;) {
		rota_shift sh;
		size_t n = 0, first = r;

		for (; r < t.rows && strcmp(cell(&t, r, 0), cell(&t, first, 0)) == 0; r++)
			if (t.cells[r * t.cols + 6])
				names[n++] = t.cells[r * t.cols + 6];
		sh.id = cell(&t, first, 0);
		sh.title = cell(&t, first, 1);
		sh.task = cell(&t, first, 2);
		sh.start = cell_int(&t, first, 3);
		sh.end = cell_int(&t, first, 4);
		sh.slots = (unsigned int)cell_int(&t, first, 5);
		sh.volunteers = names;
		sh.n_volunteers = n;
		rc = cb(&sh, payload);
	}
	free(names);
	table_free(&t);
	return rc;
}

int rota_workload(mutual_store *store, int64_t now, int64_t *median_minutes, rota_load_cb cb,
	void *payload)
{
	char from_s[24], to_s[24];
	const char *params[2] = { from_s, to_s };
	int64_t median = 0;
	table t;
	int rc;

	if (!store || !cb)
		return apps__fail(MUTUAL_EINVALID, "no store or callback given");
	snprintf(from_s, sizeof(from_s), "%" PRId64, now - WINDOW_MS);
	snprintf(to_s, sizeof(to_s), "%" PRId64, now);
	if ((rc = query(&t, store,
		     "SELECT v.name, COALESCE(SUM((s.end_ms - s.start_ms) / 60000), 0) AS minutes,"
		     " COUNT(s.id) FROM rota_volunteers v"
		     " LEFT JOIN rota_signups g ON g.volunteer = v.name"
		     " LEFT JOIN rota_shifts s ON s.id = g.shift"
		     "  AND s.start_ms >= CAST(?1 AS INTEGER) AND s.start_ms < CAST(?2 AS INTEGER)"
		     " GROUP BY v.name ORDER BY minutes DESC, v.name",
		     params, 2)) < 0)
		return rc;
	/* The rows are sorted by minutes, so the middle ones are the median's;
	 * for an even count, the mean of the two, in whole minutes. */
	if (t.rows % 2)
		median = cell_int(&t, t.rows / 2, 1);
	else if (t.rows)
		median = (cell_int(&t, t.rows / 2 - 1, 1) + cell_int(&t, t.rows / 2, 1)) / 2;
	if (median_minutes)
		*median_minutes = median;
	for (size_t r = 0; r < t.rows && rc == 0; r++) {
		rota_load load;
		load.volunteer = cell(&t, r, 0);
		load.minutes = cell_int(&t, r, 1);
		load.shifts = (unsigned int)cell_int(&t, r, 2);
		/* 1.5 x median, in integers. When the median is 0 (most did
		 * nothing), anyone with 4 hours or more is flagged: that is
		 * meant, they are the few carrying the whole rota. */
		load.flagged = 2 * load.minutes >= 3 * median &&
			       load.minutes >= median + FLAG_MARGIN_MINUTES;
		rc = cb(&load, payload);
	}
	table_free(&t);
	return rc;
}

int rota_suggest(mutual_store *store, const char *shift_id, int64_t now, rota_suggestion_cb cb,
	void *payload)
{
	char from_s[24], to_s[24];
	const char *params[3] = { shift_id, from_s, to_s };
	shift_view v;
	table t;
	int rc;

	if (!store || !shift_id || !cb)
		return apps__fail(MUTUAL_EINVALID, "no store, shift or callback given");
	/* An unknown shift is refused, not answered with nobody. */
	if ((rc = shift_view_get(&v, store, shift_id, "", "")) < 0)
		return rc;
	snprintf(from_s, sizeof(from_s), "%" PRId64, now - WINDOW_MS);
	snprintf(to_s, sizeof(to_s), "%" PRId64, now);
	/* last_task counts shifts of the task that started before now: the
	 * last time they did it, not a sign-up still to come. */
	if ((rc = query(&t, store,
		     "SELECT v.name,"
		     " (SELECT COALESCE(SUM((s.end_ms - s.start_ms) / 60000), 0)"
		     "   FROM rota_signups g JOIN rota_shifts s ON s.id = g.shift WHERE g.volunteer = v.name"
		     "   AND s.start_ms >= CAST(?2 AS INTEGER) AND s.start_ms < CAST(?3 AS INTEGER)) AS minutes,"
		     " (SELECT COALESCE(MAX(s.start_ms), 0)"
		     "   FROM rota_signups g JOIN rota_shifts s ON s.id = g.shift WHERE g.volunteer = v.name"
		     "   AND s.task = t.task AND s.start_ms < CAST(?3 AS INTEGER)) AS last_task"
		     " FROM rota_volunteers v, rota_shifts t WHERE t.id = ?1"
		     " AND NOT EXISTS(SELECT 1 FROM rota_signups g JOIN rota_shifts s ON s.id = g.shift"
		     "   WHERE g.volunteer = v.name"
		     "   AND (s.id = t.id OR (s.start_ms < t.end_ms AND s.end_ms > t.start_ms)))"
		     " ORDER BY minutes, last_task, v.name",
		     params, 3)) < 0)
		return rc;
	for (size_t r = 0; r < t.rows && rc == 0; r++) {
		rota_suggestion s;
		s.volunteer = cell(&t, r, 0);
		s.minutes = cell_int(&t, r, 1);
		s.last_task = cell_int(&t, r, 2);
		rc = cb(&s, payload);
	}
	table_free(&t);
	return rc;
}
