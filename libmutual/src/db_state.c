/*
 * db_state.c - the built-in projections' tables in SQLite: each entity
 * field's kept writes (entity_writes), its seen vector (entity_seen) and
 * its history (entity_history), its resolved register (entity_fields) and
 * the typed walk over those, the counters, the rows mutual_state_digest
 * hashes, and rebuild's emptying of them all. project.c decides what is
 * written and what the rows mean (its NOTES ON THE DESIGN); this file only
 * stores and reads them, with typed arguments, and translates SQLite's
 * failures into our codes once, here. Applying runs these statements per
 * field of every event, so each is prepared once per handle (db->state,
 * SQLITE_PREPARE_PERSISTENT) and finalized when the database closes; the
 * reads of whole tables (state, counters, digest) are prepared per call.
 */
#include <stdlib.h>
#include <string.h>

#include "db_sqlite.h"

_Static_assert(MUTUAL_DB_INTEGER == SQLITE_INTEGER && MUTUAL_DB_FLOAT == SQLITE_FLOAT &&
	MUTUAL_DB_TEXT == SQLITE_TEXT && MUTUAL_DB_BLOB == SQLITE_BLOB && MUTUAL_DB_NULL == SQLITE_NULL,
	"every digest hashes SQLite's own storage class numbers");

#define ENTITY_WRITE "cannot apply an entity write"
#define COUNTER_WRITE "cannot apply a counter"

/* The handle's statement `which`, ready to bind. */
static int stmt(sqlite3_stmt **out, mutual_db *db, int which, const char *sql, const char *what)
{
	int rc = mutual__db_sqlite_prepare(db, &db->state[which], sql, what);
	*out = db->state[which];
	return rc;
}

static void bind_field(sqlite3_stmt *st, const char *kind, const char *id, const char *field)
{
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
}

/* ------------------------------------------------------ the apply path */

int mutual__db_seen_get(mutual_db *db, const char *kind, const char *id, const char *field, mutual_buf *out)
{
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_SEEN_GET, "SELECT vec FROM entity_seen WHERE kind = ? AND id = ? AND field = ?",
		ENTITY_WRITE);
	if (rc < 0)
		return rc;
	bind_field(st, kind, id, field);
	out->len = 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *vec = sqlite3_column_blob(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		rc = mutual__buf_put(out, vec, len - len % MUTUAL_FRONTIER_ENTRY);
	} else {
		rc = rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, ENTITY_WRITE);
	}
	sqlite3_reset(st);
	return rc;
}

int mutual__db_seen_set(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t *vec, size_t n)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_SEEN_SET, "INSERT OR REPLACE INTO entity_seen(kind, id, field, vec) VALUES(?, ?, ?, ?)",
		ENTITY_WRITE);
	if (rc < 0)
		return rc;
	bind_field(st, kind, id, field);
	sqlite3_bind_blob(st, 4, vec ? (const void *)vec : "", (int)(n * MUTUAL_FRONTIER_ENTRY), SQLITE_STATIC);
	return mutual__db_sqlite_step_done(db, st, ENTITY_WRITE);
}

int mutual__db_field_writes_list(mutual_db *db, const char *kind, const char *id, const char *field,
	mutual_buf *out)
{
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_WRITES, "SELECT device, seq FROM entity_writes WHERE kind = ? AND id = ? AND field = ?",
		ENTITY_WRITE);
	if (rc < 0)
		return rc;
	bind_field(st, kind, id, field);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *device = sqlite3_column_blob(st, 0);
		if (sqlite3_column_bytes(st, 0) != 32)
			continue;
		mutual__buf_put(out, device, 32);
		mutual__buf_put_u64(out, (uint64_t)sqlite3_column_int64(st, 1));
	}
	rc = rc == SQLITE_DONE ? mutual__buf_check(out) : mutual__db_fail(db, rc, ENTITY_WRITE);
	sqlite3_reset(st);
	return rc;
}

int mutual__db_field_write_add(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[32], uint64_t seq, uint64_t hlc, const char *value, size_t value_len)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_WRITE_SET, "INSERT OR REPLACE INTO entity_writes(kind, id, field, device, seq, hlc,"
		" value) VALUES(?, ?, ?, ?, ?, ?, ?)", ENTITY_WRITE);
	if (rc < 0)
		return rc;
	bind_field(st, kind, id, field);
	sqlite3_bind_blob(st, 4, device, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)hlc);
	sqlite3_bind_text(st, 7, value, (int)value_len, SQLITE_STATIC);
	return mutual__db_sqlite_step_done(db, st, ENTITY_WRITE);
}

int mutual__db_field_write_drop(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[32], uint64_t seq)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_WRITE_DEL, "DELETE FROM entity_writes WHERE kind = ? AND id = ? AND field = ?"
		" AND device = ? AND seq = ?", ENTITY_WRITE);
	if (rc < 0)
		return rc;
	bind_field(st, kind, id, field);
	sqlite3_bind_blob(st, 4, device, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)seq);
	return mutual__db_sqlite_step_done(db, st, ENTITY_WRITE);
}

int mutual__db_field_writes_clear(mutual_db *db, const char *kind, const char *id, const char *field)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_FIELD_DEL, "DELETE FROM entity_writes WHERE kind = ? AND id = ? AND field = ?",
		ENTITY_WRITE);
	if (rc < 0)
		return rc;
	bind_field(st, kind, id, field);
	return mutual__db_sqlite_step_done(db, st, ENTITY_WRITE);
}

/* A value's sort key (entity_fields.sort): numbers and strings as SQLite's
 * own numbers and text, so they order as such; null, booleans, arrays and
 * objects as the bytes of their canonical JSON. SQLite orders the classes
 * numbers < text < blobs. */
#define SORT_KEY(v) \
	"CASE json_type(" v ") WHEN 'integer' THEN json_extract(" v ", '$') WHEN 'real' THEN json_extract(" v ", '$')" \
	" WHEN 'text' THEN json_extract(" v ", '$') ELSE CAST(" v " AS BLOB) END"

int mutual__db_field_settle(mutual_db *db, const char *kind, const char *id, const char *field)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_FIELD_SETTLE, "INSERT OR REPLACE INTO entity_fields(kind, id, field, value, sort,"
		" device, seq, hlc, conflicts) SELECT kind, id, field, value, " SORT_KEY("value") ", device, seq, hlc,"
		" (SELECT count(*) FROM entity_writes o WHERE o.kind = w.kind AND o.id = w.id AND o.field = w.field"
		"  AND o.value <> w.value)"
		" FROM entity_writes w WHERE kind = ?1 AND id = ?2 AND field = ?3"
		" ORDER BY hlc DESC, device DESC, seq DESC LIMIT 1", ENTITY_WRITE);
	if (rc < 0)
		return rc;
	bind_field(st, kind, id, field);
	if ((rc = mutual__db_sqlite_step_done(db, st, ENTITY_WRITE)) < 0 || sqlite3_changes(db->db) > 0)
		return rc;
	/* No write kept: no register either. */
	if ((rc = stmt(&st, db, STATE_FIELD_UNSET, "DELETE FROM entity_fields WHERE kind = ? AND id = ? AND field = ?",
		     ENTITY_WRITE)) < 0)
		return rc;
	bind_field(st, kind, id, field);
	return mutual__db_sqlite_step_done(db, st, ENTITY_WRITE);
}

static int event_rowid(mutual_db *db, const uint8_t device[32], uint64_t seq, sqlite3_int64 *out)
{
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_ROWID, "SELECT id FROM events WHERE device = ? AND seq = ?", "cannot prepare a query");
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(st, 1, device, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq > INT64_MAX ? INT64_MAX : (sqlite3_int64)seq);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return mutual__fail(MUTUAL_ENOTFOUND, "the store holds no such event");
	return rc == SQLITE_ROW ? 0 : mutual__db_fail(db, rc, "cannot read the event");
}

int mutual__db_history_add(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[32], uint64_t seq)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	sqlite3_int64 rowid;
	int rc;
	if ((rc = event_rowid(db, device, seq, &rowid)) < 0 ||
	    (rc = stmt(&st, db, STATE_HISTORY_ADD, "INSERT OR IGNORE INTO entity_history(kind, id, field, event)"
		     " VALUES(?, ?, ?, ?)", "cannot prepare a query")) < 0)
		return rc;
	bind_field(st, kind, id, field);
	sqlite3_bind_int64(st, 4, rowid);
	return mutual__db_sqlite_step_done(db, st, "cannot record an entity write");
}

/* Binary search of a stored frontier for `want`, reading only the entries
 * it visits: a frontier may be 65,536 entries long. */
static int frontier_lookup(mutual_db *db, sqlite3_int64 rowid, const uint8_t want[32], uint64_t *seq)
{
	sqlite3_blob *blob = NULL;
	size_t lo = 0, hi;
	int rc = sqlite3_blob_open(db->db, "main", "events", "frontier", rowid, 0, &blob);
	*seq = 0;
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot read a frontier");
	hi = (size_t)sqlite3_blob_bytes(blob) / MUTUAL_FRONTIER_ENTRY;
	while (lo < hi && rc == SQLITE_OK) {
		size_t mid = lo + (hi - lo) / 2;
		uint8_t entry[MUTUAL_FRONTIER_ENTRY];
		int c;
		if ((rc = sqlite3_blob_read(blob, entry, sizeof(entry), (int)(mid * MUTUAL_FRONTIER_ENTRY))) != SQLITE_OK)
			break;
		c = memcmp(entry, want, 32);
		if (c == 0) {
			*seq = mutual__get_u64(entry + 32);
			break;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	sqlite3_blob_close(blob);
	return rc == SQLITE_OK ? 0 : mutual__db_fail(db, rc, "cannot read a frontier");
}

int mutual__db_history_seen(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[32], uint64_t *out)
{
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_HISTORY, "SELECT e.id, e.device, e.seq FROM entity_history h"
		" JOIN events e ON e.id = h.event WHERE h.kind = ? AND h.id = ? AND h.field = ?", "cannot prepare a query");
	mutual_buf rows = { 0 };
	if (rc < 0)
		return rc;
	*out = 0;
	bind_field(st, kind, id, field);
	/* Collect the rows first, then read their frontiers one by one. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t row[2] = { (uint64_t)sqlite3_column_int64(st, 0), (uint64_t)sqlite3_column_int64(st, 2) };
		if (sqlite3_column_bytes(st, 1) != 32)
			continue;
		if (memcmp(sqlite3_column_blob(st, 1), device, 32) == 0) {
			if (row[1] - 1 > *out)
				*out = row[1] - 1; /* its own earlier events: a writer sees those */
			continue;
		}
		if (mutual__buf_put(&rows, row, sizeof(row)) < 0) {
			sqlite3_reset(st);
			mutual__buf_free(&rows);
			return MUTUAL_ERROR;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		mutual__buf_free(&rows);
		return mutual__db_fail(db, rc, "cannot read an entity's history");
	}
	rc = 0;
	for (size_t i = 0; i + sizeof(uint64_t[2]) <= rows.len && rc == 0; i += sizeof(uint64_t[2])) {
		uint64_t row[2], seq;
		memcpy(row, rows.data + i, sizeof(row));
		if ((rc = frontier_lookup(db, (sqlite3_int64)row[0], device, &seq)) == 0 && seq > *out)
			*out = seq;
	}
	mutual__buf_free(&rows);
	return rc;
}

int mutual__db_counter_get(mutual_db *db, const char *key, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_COUNTER_GET, "SELECT value FROM counters WHERE key = ?", COUNTER_WRITE);
	*out = 0;
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, COUNTER_WRITE);
	sqlite3_reset(st);
	return rc;
}

int mutual__db_counter_set(mutual_db *db, const char *key, int64_t value)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_COUNTER_SET, "INSERT OR REPLACE INTO counters(key, value) VALUES(?, ?)",
		COUNTER_WRITE);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	return mutual__db_sqlite_step_done(db, st, COUNTER_WRITE);
}

/* ------------------------------------------------------------- reads */

int mutual__db_entity_rows(mutual_db *db, const char *kind, const char *id, mutual_db_entity_cb cb,
	void *payload)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db, id
		? "SELECT id, field, value, device, seq, hlc FROM entity_writes WHERE kind = ?1 AND id = ?2"
		  " ORDER BY id, field, hlc DESC, device DESC, seq DESC"
		: "SELECT id, field, value, device, seq, hlc FROM entity_writes WHERE kind = ?1"
		  " ORDER BY id, field, hlc DESC, device DESC, seq DESC", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot read the state");
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (id)
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mutual_db_entity_row row;
		int stop;
		row.text = NULL;
		row.id = (const char *)sqlite3_column_text(st, 0);
		row.field = (const char *)sqlite3_column_text(st, 1);
		row.value = (const char *)sqlite3_column_text(st, 2);
		if (!row.id || !row.field || !row.value || sqlite3_column_bytes(st, 3) != 32)
			continue;
		row.device = sqlite3_column_blob(st, 3);
		row.seq = (uint64_t)sqlite3_column_int64(st, 4);
		row.hlc = (uint64_t)sqlite3_column_int64(st, 5);
		if ((stop = cb(&row, payload)) != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "cannot read the state");
	sqlite3_finalize(st);
	return rc;
}

int mutual__db_counter_rows(mutual_db *db, const char *key, mutual_db_counter_cb cb, void *payload)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db, key ? "SELECT key, value FROM counters WHERE key = ?"
						: "SELECT key, value FROM counters ORDER BY key", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot read the counters");
	if (key)
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mutual_db_counter_row row;
		int stop;
		if (!(row.key = (const char *)sqlite3_column_text(st, 0)))
			continue;
		row.value = sqlite3_column_int64(st, 1);
		if ((stop = cb(&row, payload)) != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "cannot read the counters");
	sqlite3_finalize(st);
	return rc;
}

/* ------------------------------------------------------- the typed walk */

/* An entity's resolved fields packed in one row (entities.fields), so the
 * walk reads one row per entity: each field in name order as
 *   name NUL | value NUL | has_text (u8) [ text NUL ] | device (32) |
 *   seq (u64) | hlc (u64) | conflicts (u32),
 * the numbers big-endian. Derived (rebuild remakes it), never on a medium. */
static void pack_field(mutual_buf *b, sqlite3_stmt *st)
{
	const char *text = (const char *)sqlite3_column_text(st, 2);
	int has_text = text && strlen(text) == (size_t)sqlite3_column_bytes(st, 2);
	mutual__buf_put(b, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0) + 1);
	mutual__buf_put(b, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1) + 1);
	mutual__buf_put_u8(b, (uint8_t)has_text);
	if (has_text)
		mutual__buf_put(b, text, strlen(text) + 1);
	mutual__buf_put(b, sqlite3_column_blob(st, 3), 32);
	mutual__buf_put_u64(b, (uint64_t)sqlite3_column_int64(st, 4));
	mutual__buf_put_u64(b, (uint64_t)sqlite3_column_int64(st, 5));
	mutual__buf_put_u32(b, (uint32_t)sqlite3_column_int64(st, 6));
}

int mutual__db_entity_pack(mutual_db *db, const char *kind, const char *id, mutual_buf *scratch)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_ENTITY_FIELDS, "SELECT field, value, CASE WHEN typeof(sort) = 'text' THEN sort END,"
		" device, seq, hlc, conflicts FROM entity_fields WHERE kind = ?1 AND id = ?2 ORDER BY field", ENTITY_WRITE);
	int deleted = 0;
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	scratch->len = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *field = (const char *)sqlite3_column_text(st, 0);
		if (!field || !sqlite3_column_text(st, 1) || sqlite3_column_bytes(st, 3) != 32)
			continue;
		if (strcmp(field, "_deleted") == 0)
			deleted = strcmp((const char *)sqlite3_column_text(st, 1), "true") == 0;
		pack_field(scratch, st);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return mutual__db_fail(db, rc, ENTITY_WRITE);
	if (mutual__buf_check(scratch) < 0)
		return MUTUAL_ERROR;
	if (!scratch->len) {
		if ((rc = stmt(&st, db, STATE_ENTITY_DEL, "DELETE FROM entities WHERE kind = ? AND id = ?", ENTITY_WRITE)) < 0)
			return rc;
	} else {
		if ((rc = stmt(&st, db, STATE_ENTITY_PUT, "INSERT OR REPLACE INTO entities(kind, id, deleted, fields)"
			     " VALUES(?, ?, ?, ?)", ENTITY_WRITE)) < 0)
			return rc;
		sqlite3_bind_int(st, 3, deleted);
		sqlite3_bind_blob(st, 4, scratch->data, (int)scratch->len, SQLITE_STATIC);
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	return mutual__db_sqlite_step_done(db, st, ENTITY_WRITE);
}

/* A NUL-terminated string at *pos, within `len`. */
static const char *packed_string(const uint8_t *p, size_t len, size_t *pos)
{
	const uint8_t *nul = *pos < len ? memchr(p + *pos, '\0', len - *pos) : NULL;
	const char *s = (const char *)p + *pos;
	if (!nul)
		return NULL;
	*pos = (size_t)(nul - p) + 1;
	return s;
}

int mutual__db_packed_next(mutual_db_packed_field *out, const uint8_t *p, size_t len, size_t *pos)
{
	uint8_t has_text;
	if (*pos == len)
		return 0;
	if (!(out->name = packed_string(p, len, pos)) || !(out->value = packed_string(p, len, pos)) || *pos >= len)
		goto bad;
	has_text = p[(*pos)++];
	out->text = NULL;
	if (has_text && !(out->text = packed_string(p, len, pos)))
		goto bad;
	if (len - *pos < 32 + 8 + 8 + 4)
		goto bad;
	out->device = p + *pos;
	out->seq = mutual__get_u64(p + *pos + 32);
	out->hlc = mutual__get_u64(p + *pos + 40);
	out->n_conflicts = mutual__get_u32(p + *pos + 48);
	*pos += 52;
	return 1;
bad:
	return mutual__fail(MUTUAL_ECORRUPT, "an entity's packed fields are damaged: run mutual rebuild");
}

struct mutual_db_walk {
	mutual_db *db;
	sqlite3_stmt *st;
	int over;
};

/* Bind a typed value (a cursor's sort key) as the column held it. */
static void bind_value(sqlite3_stmt *st, int i, const mutual_db_value *v)
{
	switch (v->type) {
	case MUTUAL_DB_INTEGER:
		sqlite3_bind_int64(st, i, v->integer);
		break;
	case MUTUAL_DB_FLOAT:
		sqlite3_bind_double(st, i, v->real);
		break;
	case MUTUAL_DB_TEXT:
		sqlite3_bind_text(st, i, v->bytes, (int)v->len, SQLITE_TRANSIENT);
		break;
	case MUTUAL_DB_BLOB:
		sqlite3_bind_blob(st, i, v->len ? v->bytes : "", (int)v->len, SQLITE_TRANSIENT);
		break;
	default:
		sqlite3_bind_null(st, i);
	}
}

/* The walk's query: one row per listed entity, its packed fields. Without
 * filters or an order, `entities` is read by its key. Otherwise `d`, the
 * order field's row (else the first filter's), drives the walk through
 * the index entity_fields_sort, in the walk's order, and every other
 * table is a primary-key lookup of the same entity. SQLite without
 * statistics guesses this plan wrong (a scan of the whole kind by id, and
 * range scans per lookup: measured), so it is fixed: INDEXED BY, CROSS
 * JOIN for the join order, and +d.id so no range is carried over. */
static int walk_sql(mutual_buf *sql, const mutual_db_entity_query *q)
{
	const char *dir = q->descending ? " DESC" : "", *cmp = q->descending ? "<" : ">";
	const char *live = q->include_deleted ? "" : " AND e.deleted = 0";
	size_t joined = q->order_field ? 0 : 1; /* the filters not driving */

	if (!q->order_field && !q->n_where) {
		mutual__buf_printf(sql, "SELECT e.id, e.fields, NULL FROM entities e WHERE e.kind = ?1%s", live);
		if (q->id)
			mutual__buf_printf(sql, " AND e.id = ?3");
		if (q->has_after)
			mutual__buf_printf(sql, " AND e.id %s ?5", cmp);
		mutual__buf_printf(sql, " ORDER BY e.id%s", dir);
		return mutual__buf_cstr(sql);
	}
	mutual__buf_printf(sql, "SELECT e.id, e.fields, %s FROM entity_fields d INDEXED BY entity_fields_sort",
		q->order_field ? "d.sort" : "NULL");
	for (size_t i = joined; i < q->n_where; i++)
		mutual__buf_printf(sql, " CROSS JOIN entity_fields w%zu ON w%zu.kind = +d.kind AND w%zu.id = +d.id"
			" AND w%zu.field = ?%zu AND w%zu.value = ?%zu", i, i, i, i, 10 + 2 * i, i, 11 + 2 * i);
	mutual__buf_printf(sql, " CROSS JOIN entities e ON e.kind = +d.kind AND e.id = +d.id%s WHERE d.kind = ?1", live);
	if (q->order_field)
		mutual__buf_printf(sql, " AND d.field = ?2");
	else
		mutual__buf_printf(sql, " AND d.field = ?10 AND d.sort = " SORT_KEY("?11") " AND d.value = ?11");
	if (q->id)
		mutual__buf_printf(sql, " AND d.id = ?3");
	if (q->has_after)
		mutual__buf_printf(sql, q->order_field ? " AND (d.sort, d.id) %s (?4, ?5)" : " AND d.id %s ?5", cmp);
	if (q->order_field)
		mutual__buf_printf(sql, " ORDER BY d.sort%s, d.id%s", dir, dir);
	else
		mutual__buf_printf(sql, " ORDER BY d.id%s", dir);
	return mutual__buf_cstr(sql);
}

int mutual__db_entity_walk_new(mutual_db_walk **out, mutual_db *db, const mutual_db_entity_query *q)
{
	mutual_buf sql = { 0 };
	mutual_db_walk *w;
	int rc;

	*out = NULL;
	if (walk_sql(&sql, q) < 0)
		return MUTUAL_ERROR;
	if (!(w = mutual__calloc(1, sizeof(*w)))) {
		mutual__buf_free(&sql);
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	}
	w->db = db;
	rc = sqlite3_prepare_v2(db->db, (const char *)sql.data, -1, &w->st, NULL);
	mutual__buf_free(&sql);
	if (rc != SQLITE_OK) {
		mutual__free(w);
		return mutual__db_fail(db, rc, "cannot read the state");
	}
	sqlite3_bind_text(w->st, 1, q->kind, -1, SQLITE_TRANSIENT);
	if (q->order_field)
		sqlite3_bind_text(w->st, 2, q->order_field, -1, SQLITE_TRANSIENT);
	if (q->id)
		sqlite3_bind_text(w->st, 3, q->id, -1, SQLITE_TRANSIENT);
	if (q->has_after) {
		bind_value(w->st, 4, &q->after_sort);
		sqlite3_bind_text(w->st, 5, q->after_id, -1, SQLITE_TRANSIENT);
	}
	for (size_t i = 0; i < q->n_where; i++) {
		sqlite3_bind_text(w->st, 10 + 2 * (int)i, q->where_field[i], -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(w->st, 11 + 2 * (int)i, q->where_value[i], -1, SQLITE_TRANSIENT);
	}
	*out = w;
	return 0;
}

int mutual__db_entity_walk_next(mutual_db_entity_packed *row, mutual_db_walk *w)
{
	int rc;
	for (;;) {
		if (w->over)
			return MUTUAL_ITEROVER;
		rc = sqlite3_step(w->st);
		if (rc != SQLITE_ROW) {
			w->over = 1;
			return rc == SQLITE_DONE ? MUTUAL_ITEROVER : mutual__db_fail(w->db, rc, "cannot read the state");
		}
		row->id = (const char *)sqlite3_column_text(w->st, 0);
		row->fields = sqlite3_column_blob(w->st, 1);
		row->fields_len = (size_t)sqlite3_column_bytes(w->st, 1);
		if (!row->id || !row->fields_len)
			continue;
		memset(&row->sort, 0, sizeof(row->sort));
		row->sort.type = sqlite3_column_type(w->st, 2);
		if (row->sort.type == SQLITE_INTEGER) {
			row->sort.integer = sqlite3_column_int64(w->st, 2);
		} else if (row->sort.type == SQLITE_FLOAT) {
			row->sort.real = sqlite3_column_double(w->st, 2);
		} else if (row->sort.type != SQLITE_NULL) {
			row->sort.bytes = row->sort.type == SQLITE_BLOB ? sqlite3_column_blob(w->st, 2)
									: (const void *)sqlite3_column_text(w->st, 2);
			row->sort.len = (size_t)sqlite3_column_bytes(w->st, 2);
		}
		return 0;
	}
}

void mutual__db_entity_walk_free(mutual_db_walk *w)
{
	if (!w)
		return;
	sqlite3_finalize(w->st);
	mutual__free(w);
}

int mutual__db_field_conflicts(mutual_db *db, const char *kind, const char *id, const char *field,
	mutual_db_entity_cb cb, void *payload)
{
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_FIELD_CONFLICTS, "SELECT value, CASE json_type(value) WHEN 'text' THEN"
		" json_extract(value, '$') END, device, seq, hlc FROM entity_writes"
		" WHERE kind = ?1 AND id = ?2 AND field = ?3 ORDER BY hlc DESC, device DESC, seq DESC",
		"cannot read the state");
	if (rc < 0)
		return rc;
	bind_field(st, kind, id, field);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mutual_db_entity_row row = { id, field, NULL, NULL, NULL, 0, 0 };
		int stop;
		row.value = (const char *)sqlite3_column_text(st, 0);
		row.text = (const char *)sqlite3_column_text(st, 1);
		if (row.text && strlen(row.text) != (size_t)sqlite3_column_bytes(st, 1))
			row.text = NULL;
		if (!row.value || sqlite3_column_bytes(st, 2) != 32)
			continue;
		row.device = sqlite3_column_blob(st, 2);
		row.seq = (uint64_t)sqlite3_column_int64(st, 3);
		row.hlc = (uint64_t)sqlite3_column_int64(st, 4);
		if ((stop = cb(&row, payload)) != 0) {
			sqlite3_reset(st);
			return stop;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "cannot read the state");
	sqlite3_reset(st);
	return rc;
}

/* ------------------------------------------------------------ digest */

/* Hand every row of `sql` to `cb`, each column typed, after `sql` itself. */
static int state_query(mutual_db *db, const char *sql, mutual_db_digest_cb cb, void *payload)
{
	sqlite3_stmt *st = NULL;
	mutual_db_value *values = NULL;
	size_t n;
	int rc = sqlite3_prepare_v2(db->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot digest the state");
	n = (size_t)sqlite3_column_count(st);
	if (!(values = mutual__calloc(n ? n : 1, sizeof(*values)))) {
		sqlite3_finalize(st);
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	}
	if ((rc = cb(sql, NULL, 0, payload)) != 0)
		goto done;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (size_t i = 0; i < n; i++) {
			mutual_db_value *v = &values[i];
			v->type = sqlite3_column_type(st, (int)i);
			if (v->type == SQLITE_INTEGER) {
				v->integer = sqlite3_column_int64(st, (int)i);
			} else if (v->type == SQLITE_FLOAT) {
				v->real = sqlite3_column_double(st, (int)i);
			} else if (v->type != SQLITE_NULL) {
				v->bytes = v->type == SQLITE_BLOB ? sqlite3_column_blob(st, (int)i)
								  : (const void *)sqlite3_column_text(st, (int)i);
				v->len = (size_t)sqlite3_column_bytes(st, (int)i);
			}
		}
		if ((rc = cb(sql, values, n, payload)) != 0)
			goto done;
	}
	rc = rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "cannot digest the state");
done:
	sqlite3_finalize(st);
	mutual__free(values);
	return rc;
}

/* Into `sql`, the query that reads all of `table` ordered by every
 * column; left empty when the table cannot be read. */
static int app_table_query(mutual_db *db, mutual_buf *sql, const char *table)
{
	sqlite3_stmt *probe = NULL;
	int cols, rc;

	sql->len = 0;
	mutual__buf_printf(sql, "SELECT * FROM \"%s\"", table);
	if (mutual__buf_cstr(sql) < 0)
		return MUTUAL_ERROR;
	if ((rc = sqlite3_prepare_v2(db->db, (const char *)sql->data, -1, &probe, NULL)) != SQLITE_OK) {
		sqlite3_finalize(probe);
		sql->len = 0;
		/* Out of memory is no verdict on the table: leaving it out
		 * would give another digest. */
		return (rc & 0xff) == SQLITE_NOMEM ? mutual__db_fail(db, rc, "cannot digest the state") : 0;
	}
	cols = sqlite3_column_count(probe);
	sqlite3_finalize(probe);
	mutual__buf_printf(sql, " ORDER BY ");
	for (int i = 1; i <= cols; i++)
		mutual__buf_printf(sql, "%s%d", i > 1 ? "," : "", i);
	return mutual__buf_cstr(sql);
}

int mutual__db_state_rows(mutual_db *db, mutual_db_digest_cb cb, void *payload)
{
	static const char *const builtin[] = {
		"SELECT kind, id, field, device, seq, hlc, value FROM entity_writes ORDER BY kind, id, field, device, seq",
		"SELECT key, value FROM counters ORDER BY key",
		"SELECT device, seq FROM forks ORDER BY device",
	};
	sqlite3_stmt *st = NULL;
	mutual_buf sql = { 0 };
	int rc;

	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(builtin); i++)
		if ((rc = state_query(db, builtin[i], cb, payload)) != 0)
			return rc;
	/* Every app projection's tables, whole, in a fixed order. */
	rc = sqlite3_prepare_v2(db->db, "SELECT t.name FROM sqlite_master t, app_projections p WHERE t.type = 'table'"
		" AND substr(t.name, 1, length(p.name) + 1) = p.name || '_' ORDER BY t.name", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot digest the state");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int q = app_table_query(db, &sql, (const char *)sqlite3_column_text(st, 0));
		if (q == 0 && sql.len)
			q = state_query(db, (const char *)sql.data, cb, payload);
		if (q != 0) {
			rc = q;
			goto done;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "cannot digest the state");
done:
	sqlite3_finalize(st);
	mutual__buf_free(&sql);
	return rc;
}

/* ----------------------------------------------------------- rebuild */

int mutual__db_state_clear(mutual_db *db)
{
	WRITING_OR_FAIL(db);
	int rc = sqlite3_exec(db->db, "DELETE FROM entity_writes; DELETE FROM entity_fields; DELETE FROM entities;"
				      "DELETE FROM entity_seen;"
				      "DELETE FROM entity_history;"
				      "DELETE FROM counters;"
				      "UPDATE app_projections SET applied_id = 0, pos_hlc = 0, pos_device = x'', pos_seq = 0,"
				      " forks = -1", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : mutual__db_fail(db, rc, "cannot rebuild the projections");
}
