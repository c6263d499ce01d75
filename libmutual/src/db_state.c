/*
 * db_state.c - the built-in projections' tables in SQLite: each entity
 * field's kept writes (entity_writes), its seen vector (entity_seen) and
 * its history (entity_history), the entity's resolved registers (entities,
 * entity_values) and the typed walk over those, the counters, the rows mutual_state_digest
 * hashes, and rebuild's emptying of them all. project.c decides what is
 * written and what the rows mean (its NOTES ON THE DESIGN); this file only
 * stores and reads them, with typed arguments, and translates SQLite's
 * failures into our codes once, here. Applying runs these statements per
 * field of every event, so each is prepared once per handle (db->state,
 * SQLITE_PREPARE_PERSISTENT) and finalized when the database closes; the
 * reads of whole tables (state, counters, digest) are prepared per call.
 */
#include <stdio.h>
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
		if (sqlite3_column_bytes(st, 0) != MUTUAL_KEY_SIZE)
			continue;
		mutual__buf_put(out, device, MUTUAL_KEY_SIZE);
		mutual__buf_put_u64(out, (uint64_t)sqlite3_column_int64(st, 1));
	}
	rc = rc == SQLITE_DONE ? mutual__buf_check(out) : mutual__db_fail(db, rc, ENTITY_WRITE);
	sqlite3_reset(st);
	return rc;
}

int mutual__db_field_write_add(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, uint64_t hlc, const char *value, size_t value_len)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_WRITE_SET, "INSERT OR REPLACE INTO entity_writes(kind, id, field, device, seq, hlc,"
		" value) VALUES(?, ?, ?, ?, ?, ?, ?)", ENTITY_WRITE);
	if (rc < 0)
		return rc;
	bind_field(st, kind, id, field);
	sqlite3_bind_blob(st, 4, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)hlc);
	sqlite3_bind_text(st, 7, value, (int)value_len, SQLITE_STATIC);
	return mutual__db_sqlite_step_done(db, st, ENTITY_WRITE);
}

int mutual__db_field_write_drop(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_WRITE_DEL, "DELETE FROM entity_writes WHERE kind = ? AND id = ? AND field = ?"
		" AND device = ? AND seq = ?", ENTITY_WRITE);
	if (rc < 0)
		return rc;
	bind_field(st, kind, id, field);
	sqlite3_bind_blob(st, 4, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
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

/* A value's sort key (entity_values.sort): numbers and strings as SQLite's
 * own numbers and text, so they order as such; null, booleans, arrays and
 * objects as the bytes of their canonical JSON. SQLite orders the classes
 * numbers < text < blobs. */
#define SORT_KEY(v) \
	"CASE json_type(" v ") WHEN 'integer' THEN json_extract(" v ", '$') WHEN 'real' THEN json_extract(" v ", '$')" \
	" WHEN 'text' THEN json_extract(" v ", '$') ELSE CAST(" v " AS BLOB) END"

static int event_rowid(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, sqlite3_int64 *out)
{
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_ROWID, "SELECT id FROM events WHERE device = ? AND seq = ?", "cannot prepare a query");
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(st, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq > INT64_MAX ? INT64_MAX : (sqlite3_int64)seq);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return mutual__fail(MUTUAL_ENOTFOUND, "the store holds no such event");
	return rc == SQLITE_ROW ? 0 : mutual__db_fail(db, rc, "cannot read the event");
}

int mutual__db_history_add(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq)
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
static int frontier_lookup(mutual_db *db, sqlite3_int64 rowid, const uint8_t want[MUTUAL_KEY_SIZE], uint64_t *seq)
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
		c = memcmp(entry, want, MUTUAL_KEY_SIZE);
		if (c == 0) {
			*seq = mutual__get_u64(entry + MUTUAL_KEY_SIZE);
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
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *out)
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
		if (sqlite3_column_bytes(st, 1) != MUTUAL_KEY_SIZE)
			continue;
		if (memcmp(sqlite3_column_blob(st, 1), device, MUTUAL_KEY_SIZE) == 0) {
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
		if (!row.id || !row.field || !row.value || sqlite3_column_bytes(st, 3) != MUTUAL_KEY_SIZE)
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

/* An entity's resolved registers packed in one row (entities.fields), so
 * the walk reads one row per entity: each field in name order as
 *   name NUL | value NUL | has_text (u8) [ text NUL ] | device (32) |
 *   seq (u64) | hlc (u64) | conflicts (u32),
 * the numbers big-endian: the field's value is its first kept write in the
 * total order, descending (as mutual_state_json takes it), `text` that value
 * decoded when it is a string, `conflicts` its other kept writes that set
 * another value. Derived (rebuild remakes it), never on a medium. */
#define PACKED_WRITER (MUTUAL_KEY_SIZE + 8 + 8 + 4)

/* Column `col` (a JSON string decoded by SQLite) as a C string, or NULL
 * when it is NULL or holds U+0000 (no C string can). */
static const char *column_c_string(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	return text && strlen(text) == (size_t)sqlite3_column_bytes(st, col) ? text : NULL;
}

/* The entity's packed row now, into `old` (left empty when it has none). */
static int packed_get(mutual_db *db, const char *kind, const char *id, mutual_buf *old)
{
	sqlite3_stmt *st;
	int rc = stmt(&st, db, STATE_ENTITY_GET, "SELECT fields FROM entities WHERE kind = ? AND id = ?", ENTITY_WRITE);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	old->len = 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = mutual__buf_put(old, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	else
		rc = rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, ENTITY_WRITE);
	sqlite3_reset(st);
	return rc;
}

/* The entity's packed row from its kept writes, into `out`; `*deleted`
 * whether its delete holds. */
static int packed_make(mutual_db *db, const char *kind, const char *id, mutual_buf *out, int *deleted)
{
	sqlite3_stmt *st;
	size_t field_at = 0, value_at = 0, conflicts_at = 0;
	uint32_t conflicts = 0;
	int have = 0, rc = stmt(&st, db, STATE_ENTITY_WRITES, "SELECT field, value,"
		" CASE json_type(value) WHEN 'text' THEN json_extract(value, '$') END, device, seq, hlc"
		" FROM entity_writes WHERE kind = ?1 AND id = ?2 ORDER BY field, hlc DESC, device DESC, seq DESC",
		ENTITY_WRITE);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	out->len = 0;
	*deleted = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *field = (const char *)sqlite3_column_text(st, 0), *value = (const char *)sqlite3_column_text(st, 1);
		const char *text = column_c_string(st, 2);
		uint8_t writer[PACKED_WRITER];
		if (!field || !value || sqlite3_column_bytes(st, 3) != MUTUAL_KEY_SIZE || mutual__buf_failed(out))
			continue;
		if (have && strcmp(field, (const char *)out->data + field_at) == 0) {
			/* A concurrent write that lost; one of the same value disagrees with nobody. */
			if (strcmp(value, (const char *)out->data + value_at) != 0)
				conflicts++;
			continue;
		}
		if (have)
			mutual__set_u32(out->data + conflicts_at, conflicts);
		have = 1;
		conflicts = 0;
		field_at = out->len;
		mutual__buf_put(out, field, strlen(field) + 1);
		value_at = out->len;
		mutual__buf_put(out, value, strlen(value) + 1);
		if (strcmp(field, "_deleted") == 0)
			*deleted = strcmp(value, "true") == 0;
		mutual__buf_put_u8(out, text != NULL);
		if (text)
			mutual__buf_put(out, text, strlen(text) + 1);
		memcpy(writer, sqlite3_column_blob(st, 3), MUTUAL_KEY_SIZE);
		mutual__set_u64(writer + MUTUAL_KEY_SIZE, (uint64_t)sqlite3_column_int64(st, 4));
		mutual__set_u64(writer + 40, (uint64_t)sqlite3_column_int64(st, 5));
		memset(writer + 48, 0, 4);
		conflicts_at = out->len + 48;
		mutual__buf_put(out, writer, sizeof(writer));
	}
	if (have && !mutual__buf_failed(out))
		mutual__set_u32(out->data + conflicts_at, conflicts);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return mutual__db_fail(db, rc, ENTITY_WRITE);
	return mutual__buf_check(out);
}

/* Add or drop one entry of the value index (entity_values). */
static int value_entry(mutual_db *db, int add, const char *kind, const char *field, const char *value, const char *id)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = add ? stmt(&st, db, STATE_VALUE_ADD, "INSERT OR IGNORE INTO entity_values(kind, field, sort, value, id)"
			   " VALUES(?1, ?2, " SORT_KEY("?3") ", ?3, ?4)", ENTITY_WRITE)
		     : stmt(&st, db, STATE_VALUE_DEL, "DELETE FROM entity_values WHERE kind = ?1 AND field = ?2"
			   " AND sort = " SORT_KEY("?3") " AND value = ?3 AND id = ?4", ENTITY_WRITE);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, value, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	return mutual__db_sqlite_step_done(db, st, ENTITY_WRITE);
}

/* The value index follows the fields whose value changed between the old
 * and the new packed row (both by name). "_deleted" is not indexed: the
 * walk reads entities.deleted. */
static int values_follow(mutual_db *db, const char *kind, const char *id, const mutual_buf *old, const mutual_buf *now)
{
	mutual_db_packed_field a, b;
	size_t pa = 0, pb = 0;
	int ha, hb, rc = 0;
	if ((ha = mutual__db_packed_next(&a, old->data, old->len, &pa)) < 0 ||
	    (hb = mutual__db_packed_next(&b, now->data, now->len, &pb)) < 0)
		return MUTUAL_ECORRUPT;
	while (rc == 0 && (ha || hb)) {
		int c = !ha ? 1 : !hb ? -1 : strcmp(a.name, b.name);
		int same = c == 0 && strcmp(a.value, b.value) == 0;
		if (c <= 0 && !same && strcmp(a.name, "_deleted") != 0)
			rc = value_entry(db, 0, kind, a.name, a.value, id);
		if (rc == 0 && c >= 0 && !same && strcmp(b.name, "_deleted") != 0)
			rc = value_entry(db, 1, kind, b.name, b.value, id);
		if (rc == 0 && c <= 0 && (ha = mutual__db_packed_next(&a, old->data, old->len, &pa)) < 0)
			rc = ha;
		if (rc == 0 && c >= 0 && (hb = mutual__db_packed_next(&b, now->data, now->len, &pb)) < 0)
			rc = hb;
	}
	return rc;
}

int mutual__db_entity_resolve(mutual_db *db, const char *kind, const char *id, mutual_buf *old, mutual_buf *now)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int deleted, rc;
	if ((rc = packed_get(db, kind, id, old)) < 0 || (rc = packed_make(db, kind, id, now, &deleted)) < 0 ||
	    (rc = values_follow(db, kind, id, old, now)) < 0)
		return rc;
	if (!now->len) {
		if ((rc = stmt(&st, db, STATE_ENTITY_DEL, "DELETE FROM entities WHERE kind = ? AND id = ?", ENTITY_WRITE)) < 0)
			return rc;
	} else {
		if ((rc = stmt(&st, db, STATE_ENTITY_PUT, "INSERT OR REPLACE INTO entities(kind, id, deleted, fields)"
			     " VALUES(?, ?, ?, ?)", ENTITY_WRITE)) < 0)
			return rc;
		sqlite3_bind_int(st, 3, deleted);
		sqlite3_bind_blob(st, 4, now->data, (int)now->len, SQLITE_STATIC);
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
	if (len - *pos < PACKED_WRITER)
		goto bad;
	out->device = p + *pos;
	out->seq = mutual__get_u64(p + *pos + MUTUAL_KEY_SIZE);
	out->hlc = mutual__get_u64(p + *pos + 40);
	out->n_conflicts = mutual__get_u32(p + *pos + 48);
	*pos += PACKED_WRITER;
	return 1;
bad:
	return mutual__fail(MUTUAL_ECORRUPT, "an entity's packed fields are damaged: run mutual rebuild");
}

struct mutual_db_walk {
	mutual_db *db;
	sqlite3_stmt *st;
	int over;
};

/* `table`'s entry is filter i's: its field (?10 + 2i) with its value
 * (?11 + 2i, canonical JSON), looked up by the key (sort key, value). */
static void value_is(mutual_buf *sql, const char *table, size_t i)
{
	char v[24];
	snprintf(v, sizeof(v), "?%zu", 11 + 2 * i);
	mutual__buf_printf(sql, " AND %s.field = ?%zu AND %s.sort = " SORT_KEY("%s") " AND %s.value = %s", table,
		10 + 2 * i, table, v, v, v, v, v, table, v);
}

/* The walk's query: one row per listed entity, its packed fields. Without
 * filters or an order, `entities` is read by its key. Otherwise `d`, the
 * order field's entries of entity_values (else the first filter's),
 * drives the walk in the walk's order, each other filter is one more key
 * lookup in entity_values, and the entity's row one in `entities`. SQLite
 * without statistics guessed other plans (measured: a scan of the whole
 * kind), so the join order is fixed (CROSS JOIN), and +d.id keeps a
 * range on d from being carried to the lookups. */
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
	mutual__buf_printf(sql, "SELECT e.id, e.fields, %s FROM entity_values d", q->order_field ? "d.value" : "NULL");
	for (size_t i = joined; i < q->n_where; i++) {
		char t[24];
		snprintf(t, sizeof(t), "w%zu", i);
		mutual__buf_printf(sql, " CROSS JOIN entity_values %s ON %s.kind = +d.kind AND %s.id = +d.id", t, t, t);
		value_is(sql, t, i);
	}
	mutual__buf_printf(sql, " CROSS JOIN entities e ON e.kind = +d.kind AND e.id = +d.id%s WHERE d.kind = ?1", live);
	if (q->order_field)
		mutual__buf_printf(sql, " AND d.field = ?2");
	else
		value_is(sql, "d", 0);
	if (q->id)
		mutual__buf_printf(sql, " AND d.id = ?3");
	if (q->has_after)
		mutual__buf_printf(sql, q->order_field ? " AND (d.sort, d.value, d.id) %s (" SORT_KEY("?6") ", ?6, ?5)"
							: " AND d.id %s ?5", cmp);
	if (q->order_field)
		mutual__buf_printf(sql, " ORDER BY d.sort%s, d.value%s, d.id%s", dir, dir, dir);
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
	if (walk_sql(&sql, q) < 0) {
		mutual__buf_free(&sql);
		return MUTUAL_ERROR;
	}
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
	/* A copy (SQLITE_TRANSIENT) can fail for want of memory, and an unbound
	 * parameter matches nothing: a walk that lists nothing, silently. */
	rc = sqlite3_bind_text(w->st, 1, q->kind, -1, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK && q->order_field)
		rc = sqlite3_bind_text(w->st, 2, q->order_field, -1, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK && q->id)
		rc = sqlite3_bind_text(w->st, 3, q->id, -1, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK && q->has_after)
		rc = sqlite3_bind_text(w->st, 5, q->after_id, -1, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK && q->has_after && q->after_value)
		rc = sqlite3_bind_text(w->st, 6, q->after_value, -1, SQLITE_TRANSIENT);
	for (size_t i = 0; rc == SQLITE_OK && i < q->n_where; i++) {
		rc = sqlite3_bind_text(w->st, 10 + 2 * (int)i, q->where_field[i], -1, SQLITE_TRANSIENT);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(w->st, 11 + 2 * (int)i, q->where_value[i], -1, SQLITE_TRANSIENT);
	}
	if (rc != SQLITE_OK) {
		rc = mutual__db_fail(db, rc, "cannot read the state");
		mutual__db_entity_walk_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int mutual__db_entity_walk_next(mutual_db_entity_packed *row, mutual_db_walk *w)
{
	int rc, by_id;
	if (w->over)
		return MUTUAL_ITEROVER;
	rc = sqlite3_step(w->st);
	if (rc != SQLITE_ROW) {
		w->over = 1;
		return rc == SQLITE_DONE ? MUTUAL_ITEROVER : mutual__db_fail(w->db, rc, "cannot read the state");
	}
	by_id = sqlite3_column_type(w->st, 2) == SQLITE_NULL;
	row->id = (const char *)sqlite3_column_text(w->st, 0);
	row->fields = sqlite3_column_blob(w->st, 1);
	row->fields_len = (size_t)sqlite3_column_bytes(w->st, 1);
	row->sort_value = by_id ? NULL : (const char *)sqlite3_column_text(w->st, 2);
	if (row->id && row->fields_len && (by_id || row->sort_value))
		return 0;
	/* Never skip a row: a column SQLite could not give (out of memory)
	 * or a damaged one ends the walk with an error. */
	w->over = 1;
	if (sqlite3_errcode(w->db->db) == SQLITE_NOMEM)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	return mutual__fail(MUTUAL_ECORRUPT, "an entity row is damaged: run mutual rebuild");
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
		row.text = column_c_string(st, 1);
		if (!row.value || sqlite3_column_bytes(st, 2) != MUTUAL_KEY_SIZE)
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
		"SELECT device, seq, status FROM role_events ORDER BY device, seq",
		"SELECT device FROM coordinators ORDER BY device",
		"SELECT device, cut FROM removals ORDER BY device",
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
	int rc = sqlite3_exec(db->db, "DELETE FROM entity_writes; DELETE FROM entity_values; DELETE FROM entities;"
				      "DELETE FROM entity_seen;"
				      "DELETE FROM entity_history;"
				      "DELETE FROM counters;"
				      "DELETE FROM role_events; DELETE FROM coordinators; DELETE FROM rotations;"
				      "UPDATE app_projections SET applied_id = 0, pos_hlc = 0, pos_device = x'', pos_seq = 0,"
				      " forks = -1", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : mutual__db_fail(db, rc, "cannot rebuild the projections");
}
