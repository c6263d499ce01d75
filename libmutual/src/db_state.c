/*
 * db_state.c - the built-in projections' tables in SQLite: each entity
 * field's kept writes (entity_writes), its seen vector (entity_seen) and
 * its history (entity_history), the counters, the rows mutual_state_digest
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
	int rc = sqlite3_exec(db->db, "DELETE FROM entity_writes; DELETE FROM entity_seen; DELETE FROM entity_history;"
				      "DELETE FROM counters;"
				      "UPDATE app_projections SET applied_id = 0, pos_hlc = 0, pos_device = x'', pos_seq = 0,"
				      " forks = -1", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : mutual__db_fail(db, rc, "cannot rebuild the projections");
}
