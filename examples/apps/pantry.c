/*
 * pantry.c - a food pantry's stock: donations in, hand-outs out, counts
 * corrected after a shelf check, low-stock thresholds, history and CSV.
 *
 * Each action is one event whose payload carries quantities as integer
 * thousandths. The projection ("pantry_" tables) adds them up in SQL with
 * integer arithmetic, so two laptops that record offline and sync later
 * reach the same exact counts whatever order the events arrive in. Nothing
 * here stores who was served: a hand-out records households and bags only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps_private.h"

#define ITEM_MAX 80
#define UNIT_MAX 20
#define NOTE_MAX 200
#define LINES_MAX 50
#define COUNT_MAX 100000

/* Payloads come from every device of the group: the SQL only counts
 * well-formed quantities (integers within the app's bounds), so one
 * device's bug cannot make the sums inexact. */
#define QTY_OK(expr) "typeof(" expr ") = 'integer' AND abs(" expr ") <= 1000000000"

static const char schema[] =
	"CREATE TABLE pantry_stock(item_key TEXT NOT NULL, unit TEXT NOT NULL, item TEXT NOT NULL,"
	" on_hand INTEGER NOT NULL, PRIMARY KEY(item_key, unit));"
	"CREATE TABLE pantry_thresholds(item_key TEXT NOT NULL, unit TEXT NOT NULL,"
	" min INTEGER NOT NULL, PRIMARY KEY(item_key, unit));"
	"CREATE TABLE pantry_history(hlc INTEGER NOT NULL, device TEXT NOT NULL, seq INTEGER NOT NULL,"
	" line INTEGER NOT NULL, kind TEXT NOT NULL, item TEXT, unit TEXT, qty INTEGER,"
	" households INTEGER, bags INTEGER, text TEXT, PRIMARY KEY(device, seq, line));"
	"CREATE INDEX pantry_history_time ON pantry_history(hlc);";

static const char reset[] =
	"DELETE FROM pantry_stock; DELETE FROM pantry_thresholds; DELETE FROM pantry_history;";

static const char apply[] =
	/* Donations and adjustments: one item each. */
	"INSERT INTO pantry_stock(item_key, unit, item, on_hand)"
	" SELECT lower(json_extract(:payload, '$.item')), json_extract(:payload, '$.unit'),"
	"  json_extract(:payload, '$.item'), json_extract(:payload, '$.qty')"
	" WHERE :type IN ('pantry.donation', 'pantry.adjustment')"
	"  AND json_type(:payload, '$.item') = 'text' AND json_type(:payload, '$.unit') = 'text'"
	"  AND " QTY_OK("json_extract(:payload, '$.qty')")
	" ON CONFLICT(item_key, unit) DO UPDATE SET on_hand = on_hand + excluded.on_hand;"
	"INSERT INTO pantry_history(hlc, device, seq, line, kind, item, unit, qty, text)"
	" SELECT :hlc, lower(hex(:device)), :seq, 0, substr(:type, 8), json_extract(:payload, '$.item'),"
	"  json_extract(:payload, '$.unit'), json_extract(:payload, '$.qty'),"
	"  coalesce(json_extract(:payload, '$.source'), json_extract(:payload, '$.reason'))"
	" WHERE :type IN ('pantry.donation', 'pantry.adjustment')"
	"  AND json_type(:payload, '$.item') = 'text' AND json_type(:payload, '$.unit') = 'text'"
	"  AND " QTY_OK("json_extract(:payload, '$.qty')") ";"
	/* Hand-outs: every line takes stock out. */
	"INSERT INTO pantry_stock(item_key, unit, item, on_hand)"
	" SELECT lower(json_extract(l.value, '$.item')), json_extract(l.value, '$.unit'),"
	"  json_extract(l.value, '$.item'), -json_extract(l.value, '$.qty')"
	" FROM json_each(:payload, '$.lines') AS l"
	" WHERE :type = 'pantry.distribution'"
	"  AND json_type(l.value, '$.item') = 'text' AND json_type(l.value, '$.unit') = 'text'"
	"  AND " QTY_OK("json_extract(l.value, '$.qty')")
	" ON CONFLICT(item_key, unit) DO UPDATE SET on_hand = on_hand + excluded.on_hand;"
	"INSERT INTO pantry_history(hlc, device, seq, line, kind, item, unit, qty, households, bags, text)"
	" SELECT :hlc, lower(hex(:device)), :seq, l.key, 'distribution', json_extract(l.value, '$.item'),"
	"  json_extract(l.value, '$.unit'), -json_extract(l.value, '$.qty'),"
	"  json_extract(:payload, '$.households'), json_extract(:payload, '$.bags'),"
	"  json_extract(:payload, '$.note')"
	" FROM json_each(:payload, '$.lines') AS l"
	" WHERE :type = 'pantry.distribution'"
	"  AND json_type(l.value, '$.item') = 'text' AND json_type(l.value, '$.unit') = 'text'"
	"  AND " QTY_OK("json_extract(l.value, '$.qty')") ";"
	"INSERT INTO pantry_history(hlc, device, seq, line, kind, households, bags, text)"
	" SELECT :hlc, lower(hex(:device)), :seq, 0, 'distribution',"
	"  json_extract(:payload, '$.households'), json_extract(:payload, '$.bags'),"
	"  json_extract(:payload, '$.note')"
	" WHERE :type = 'pantry.distribution'"
	"  AND coalesce(json_array_length(:payload, '$.lines'), 0) = 0;"
	/* Thresholds: the last in the total order wins; 0 clears. */
	"INSERT INTO pantry_thresholds(item_key, unit, min)"
	" SELECT lower(json_extract(:payload, '$.item')), json_extract(:payload, '$.unit'),"
	"  json_extract(:payload, '$.min')"
	" WHERE :type = 'pantry.threshold'"
	"  AND json_type(:payload, '$.item') = 'text' AND json_type(:payload, '$.unit') = 'text'"
	"  AND " QTY_OK("json_extract(:payload, '$.min')")
	" ON CONFLICT(item_key, unit) DO UPDATE SET min = excluded.min;"
	"INSERT OR IGNORE INTO pantry_stock(item_key, unit, item, on_hand)"
	" SELECT lower(json_extract(:payload, '$.item')), json_extract(:payload, '$.unit'),"
	"  json_extract(:payload, '$.item'), 0"
	" WHERE :type = 'pantry.threshold'"
	"  AND json_type(:payload, '$.item') = 'text' AND json_type(:payload, '$.unit') = 'text';"
	"INSERT INTO pantry_history(hlc, device, seq, line, kind, item, unit, qty)"
	" SELECT :hlc, lower(hex(:device)), :seq, 0, 'threshold', json_extract(:payload, '$.item'),"
	"  json_extract(:payload, '$.unit'), json_extract(:payload, '$.min')"
	" WHERE :type = 'pantry.threshold'"
	"  AND json_type(:payload, '$.item') = 'text' AND json_type(:payload, '$.unit') = 'text'"
	"  AND " QTY_OK("json_extract(:payload, '$.min')") ";";

int pantry__register(mutual_store *store)
{
	mutual_projection_def def = MUTUAL_PROJECTION_DEF_INIT;
	def.name = "pantry";
	def.schema_version = 1;
	def.schema = schema;
	def.reset = reset;
	def.type_prefix = "pantry.";
	def.apply = apply;
	int rc = mutual_projection_register(store, &def);
	return rc == 0 ? 0 : apps__lib(rc);
}

/* The cleaned item name and unit (lower case) of one line; both malloc'd. */
static int clean_item(char **item, char **unit, const char *item_text, const char *unit_text)
{
	*item = apps_clean_text(item_text, ITEM_MAX, "the item");
	*unit = *item ? apps_clean_text(unit_text, UNIT_MAX, "the unit") : NULL;
	if (!*unit) {
		free(*item);
		*item = NULL;
		return MUTUAL_EINVALID;
	}
	for (char *p = *unit; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return 0;
}

/* Optional free text: NULL or "" stays absent. */
static int clean_optional(char **out, const char *text, const char *what)
{
	*out = NULL;
	if (!text || !*text)
		return 0;
	for (const char *p = text; *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			goto some;
	return 0;
some:
	*out = apps_clean_text(text, NOTE_MAX, what);
	return *out ? 0 : MUTUAL_EINVALID;
}

static int append(mutual_store *store, const char *type, apps_buf *payload)
{
	if (payload->failed)
		return apps__fail(MUTUAL_ERROR, "out of memory");
	int rc = mutual_append(NULL, store, type, payload->data);
	return rc == 0 ? 0 : apps__lib(rc);
}

/* A donation or an adjustment: one item, a signed quantity, a note. */
static int record_item(mutual_store *store, const char *type, const char *item_text,
	const char *unit_text, int64_t qty, const char *text_key, const char *text,
	const char *text_what)
{
	char *item = NULL, *unit = NULL, *note = NULL;
	apps_buf payload = {0};
	int rc = clean_item(&item, &unit, item_text, unit_text);
	if (rc == 0)
		rc = clean_optional(&note, text, text_what);
	if (rc != 0)
		goto done;
	apps_buf_puts(&payload, "{\"item\":");
	apps_buf_json(&payload, item);
	apps_buf_printf(&payload, ",\"qty\":%lld", (long long)qty);
	if (note) {
		apps_buf_printf(&payload, ",\"%s\":", text_key);
		apps_buf_json(&payload, note);
	}
	apps_buf_puts(&payload, ",\"unit\":");
	apps_buf_json(&payload, unit);
	apps_buf_puts(&payload, "}");
	rc = append(store, type, &payload);
done:
	free(item);
	free(unit);
	free(note);
	apps_buf_free(&payload);
	return rc;
}

int pantry_donate(mutual_store *store, const char *item, const char *qty, const char *unit,
	const char *source)
{
	int64_t milli;
	int rc = apps_qty_parse(&milli, qty, 0);
	if (rc != 0)
		return rc;
	return record_item(store, "pantry.donation", item, unit, milli, "source", source,
		"the source");
}

int pantry_adjust(mutual_store *store, const char *item, const char *unit, const char *delta,
	const char *reason)
{
	int64_t milli;
	int rc = apps_qty_parse(&milli, delta, 1);
	if (rc != 0)
		return rc;
	return record_item(store, "pantry.adjustment", item, unit, milli, "reason", reason,
		"the reason");
}

int pantry_set_threshold(mutual_store *store, const char *item_text, const char *unit_text,
	const char *min)
{
	int64_t milli = 0; /* "0" clears the threshold */
	int rc = 0;
	int zero = min && strchr(min, '0') && strspn(min, " 0.") == strlen(min);
	if (!zero)
		rc = apps_qty_parse(&milli, min, 0);
	if (rc != 0)
		return rc;
	char *item = NULL, *unit = NULL;
	apps_buf payload = {0};
	rc = clean_item(&item, &unit, item_text, unit_text);
	if (rc != 0)
		goto done;
	apps_buf_puts(&payload, "{\"item\":");
	apps_buf_json(&payload, item);
	apps_buf_printf(&payload, ",\"min\":%lld,\"unit\":", (long long)milli);
	apps_buf_json(&payload, unit);
	apps_buf_puts(&payload, "}");
	rc = append(store, "pantry.threshold", &payload);
done:
	free(item);
	free(unit);
	apps_buf_free(&payload);
	return rc;
}

int pantry_distribute(mutual_store *store, unsigned int households, unsigned int bags,
	const pantry_line *lines, size_t n_lines, const char *note_text)
{
	if (households < 1 || households > COUNT_MAX)
		return apps__fail(MUTUAL_EINVALID, "households must be between 1 and %d", COUNT_MAX);
	if (bags > COUNT_MAX)
		return apps__fail(MUTUAL_EINVALID, "bags must be at most %d", COUNT_MAX);
	if (bags == 0 && n_lines == 0)
		return apps__fail(MUTUAL_EINVALID, "say how many bags, or which items, went out");
	if (n_lines > LINES_MAX)
		return apps__fail(MUTUAL_EINVALID, "at most %d items in one hand-out", LINES_MAX);

	char *note = NULL;
	apps_buf payload = {0};
	int rc = clean_optional(&note, note_text, "the note");
	if (rc != 0)
		goto done;
	apps_buf_printf(&payload, "{\"bags\":%u,\"households\":%u,\"lines\":[", bags, households);
	for (size_t i = 0; i < n_lines; i++) {
		char *item, *unit;
		int64_t milli;
		rc = apps_qty_parse(&milli, lines[i].qty, 0);
		if (rc == 0)
			rc = clean_item(&item, &unit, lines[i].item, lines[i].unit);
		if (rc != 0)
			goto done;
		apps_buf_puts(&payload, i ? ",{\"item\":" : "{\"item\":");
		apps_buf_json(&payload, item);
		apps_buf_printf(&payload, ",\"qty\":%lld,\"unit\":", (long long)milli);
		apps_buf_json(&payload, unit);
		apps_buf_puts(&payload, "}");
		free(item);
		free(unit);
	}
	apps_buf_puts(&payload, "]");
	if (note) {
		apps_buf_puts(&payload, ",\"note\":");
		apps_buf_json(&payload, note);
	}
	apps_buf_puts(&payload, "}");
	rc = append(store, "pantry.distribution", &payload);
done:
	free(note);
	apps_buf_free(&payload);
	return rc;
}

/* ------------------------------------------------------------ reading */

struct stock_walk {
	pantry_stock_cb cb;
	void *payload;
};

static int64_t to_i64(const char *s)
{
	return s ? strtoll(s, NULL, 10) : 0;
}

static int stock_row(int columns, const char *const *names, const char *const *v, void *payload)
{
	(void)columns;
	(void)names;
	struct stock_walk *walk = payload;
	pantry_stock_row row = {
		.item = v[0], .unit = v[1], .on_hand = to_i64(v[2]),
		.has_threshold = v[3] != NULL && to_i64(v[3]) > 0, .threshold = to_i64(v[3]),
	};
	row.low = row.has_threshold && row.on_hand <= row.threshold;
	return walk->cb(&row, walk->payload);
}

int pantry_stock_foreach(mutual_store *store, int low_only, pantry_stock_cb cb, void *payload)
{
	static const char sql[] =
		"SELECT s.item, s.unit, s.on_hand, t.min FROM pantry_stock s"
		" LEFT JOIN pantry_thresholds t USING (item_key, unit)"
		" WHERE ?1 = '0' OR (t.min > 0 AND s.on_hand <= t.min)"
		" ORDER BY s.item_key, s.unit";
	struct stock_walk walk = { cb, payload };
	const char *params[] = { low_only ? "1" : "0" };
	int rc = mutual_query(store, sql, params, 1, stock_row, &walk);
	return rc < 0 ? apps__lib(rc) : rc;
}

struct history_walk {
	mutual_store *store;
	pantry_history_cb cb;
	void *payload;
};

static int history_row(int columns, const char *const *names, const char *const *v, void *payload)
{
	(void)columns;
	(void)names;
	struct history_walk *walk = payload;
	char ref[96];
	snprintf(ref, sizeof(ref), "%s:%s", v[1], v[2]);
	pantry_history_row row = {
		.at = apps_hlc_ms((uint64_t)strtoull(v[0], NULL, 10)),
		.kind = v[3], .item = v[4], .unit = v[5], .qty = to_i64(v[6]),
		.households = (unsigned int)to_i64(v[7]), .bags = (unsigned int)to_i64(v[8]),
		.text = v[9], .device = apps__device_name(walk->store, v[1]), .ref = ref,
	};
	return walk->cb(&row, walk->payload);
}

/* History rows of `kind` ("all" for every kind), in `order`. */
static int history_query(mutual_store *store, const char *kind, const char *order, size_t limit,
	pantry_history_cb cb, void *payload)
{
	char sql[512], lim[32];
	snprintf(sql, sizeof(sql),
		"SELECT hlc, device, seq, kind, item, unit, qty, households, bags, text"
		" FROM pantry_history WHERE ?2 = 'all' OR kind = ?2 ORDER BY %s LIMIT ?1", order);
	snprintf(lim, sizeof(lim), "%lld", limit ? (long long)limit : -1LL);
	const char *params[] = { lim, kind };
	struct history_walk walk = { store, cb, payload };
	int rc = mutual_query(store, sql, params, 2, history_row, &walk);
	return rc < 0 ? apps__lib(rc) : rc;
}

int pantry_history_foreach(mutual_store *store, size_t limit, pantry_history_cb cb, void *payload)
{
	return history_query(store, "all", "hlc DESC, device, seq, line", limit, cb, payload);
}

static int stock_csv_row(const pantry_stock_row *row, void *payload)
{
	apps_buf *out = payload;
	char on_hand[32], min[32];
	apps_qty_format(on_hand, row->on_hand);
	apps_qty_format(min, row->threshold);
	apps_buf_csv(out, row->item);
	apps_buf_puts(out, ",");
	apps_buf_csv(out, row->unit);
	apps_buf_printf(out, ",%s,%s,%s\r\n", on_hand, row->has_threshold ? min : "",
		row->low ? "yes" : "no");
	return 0;
}

int pantry_stock_csv(apps_buf *out, mutual_store *store)
{
	apps_buf_puts(out, "item,unit,on_hand,low_threshold,low\r\n");
	int rc = pantry_stock_foreach(store, 0, stock_csv_row, out);
	if (rc == 0 && out->failed)
		rc = apps__fail(MUTUAL_ERROR, "out of memory");
	return rc;
}

struct csv_walk {
	apps_buf *out;
	char last_ref[96];
};

static int distribution_csv_row(const pantry_history_row *row, void *payload)
{
	struct csv_walk *walk = payload;
	apps_buf *out = walk->out;
	char utc[32], local[48], qty[32] = "";
	apps_time_utc(utc, row->at);
	apps_time_local_zone(local, row->at);
	/* Households and bags once per hand-out, so a column sum is right. */
	int first = strcmp(walk->last_ref, row->ref) != 0;
	snprintf(walk->last_ref, sizeof(walk->last_ref), "%s", row->ref);
	if (row->item)
		apps_qty_format(qty, -row->qty);
	apps_buf_printf(out, "%s,%s,", utc, local);
	apps_buf_csv(out, row->ref);
	if (first)
		apps_buf_printf(out, ",%u,%u,", row->households, row->bags);
	else
		apps_buf_puts(out, ",,,");
	apps_buf_csv(out, row->item);
	apps_buf_printf(out, ",%s,", qty);
	apps_buf_csv(out, row->unit);
	apps_buf_puts(out, ",");
	apps_buf_csv(out, first ? row->text : "");
	apps_buf_puts(out, ",");
	apps_buf_csv(out, row->device);
	apps_buf_puts(out, "\r\n");
	return 0;
}

int pantry_distributions_csv(apps_buf *out, mutual_store *store)
{
	char local[160];
	snprintf(local, sizeof(local), "time_local (%s)", apps_zone_name());
	apps_buf_puts(out, "time_utc,");
	apps_buf_csv(out, local);
	apps_buf_puts(out, ",handout,households,bags,item,quantity,unit,note,device\r\n");
	struct csv_walk walk = { out, "" };
	int rc = history_query(store, "distribution", "hlc, device, seq, line", 0, distribution_csv_row, &walk);
	if (rc == 0 && out->failed)
		rc = apps__fail(MUTUAL_ERROR, "out of memory");
	return rc;
}
