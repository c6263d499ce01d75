/*
 * db_apps.c - the SQLite side of app projections (apps.c decides, this
 * file stores): their cursors in app_projections, the log they are
 * compared with, marking them when an event is applied late, dropping a
 * projection's old tables, and running the SQL the application gave
 * (schema, reset, apply, mutual_query's), which arrives here as data. With
 * db.c it is the SQLite layer: every statement and SQLite code of app
 * projections is here, and apps.c sees only db.h.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "db_sqlite.h"


/* The event's named parameters, in the order apply binds them. */
enum { PARAM_DEVICE, PARAM_SEQ, PARAM_HLC, PARAM_TYPE, PARAM_PAYLOAD, PARAMS };
static const char *const param_names[PARAMS] = { ":device", ":seq", ":hlc", ":type", ":payload" };

struct mutual_db_stmt {
	mutual_db *db;
	size_t n;
	sqlite3_stmt *st[MUTUAL_DB_APPLY_STATEMENTS_MAX];
	int param[MUTUAL_DB_APPLY_STATEMENTS_MAX][PARAMS]; /* each one's index, 0 where it does not appear */
};

static int step_all(sqlite3_stmt *st)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	return rc;
}

int mutual__db_app_exec(mutual_db *db, const char *sql, const char *what)
{
	const char *tail = sql;
	while (tail && *tail) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(db->db, tail, -1, &st, &tail);
		if (rc != SQLITE_OK)
			return mutual__db_fail(db, rc, what);
		if (!st)
			break; /* white space or a comment */
		rc = step_all(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return mutual__db_fail(db, rc, what);
	}
	return 0;
}

/* ---------------------------------------------------------------- cursors */

int mutual__db_app_cursor_get(mutual_db_app_cursor *out, mutual_db *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->schema_version = -1;
	out->forks = -2;
	rc = sqlite3_prepare_v2(db->db, "SELECT schema_version, applied_id, pos_hlc, pos_device, pos_seq, forks,"
		" pending FROM app_projections WHERE name = ?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot read a projection's cursor");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		out->schema_version = sqlite3_column_int(st, 0);
		out->applied_id = sqlite3_column_int64(st, 1);
		out->pos_hlc = (uint64_t)sqlite3_column_int64(st, 2);
		if (sqlite3_column_bytes(st, 3) == MUTUAL_KEY_SIZE) {
			memcpy(out->pos_device, sqlite3_column_blob(st, 3), MUTUAL_KEY_SIZE);
			out->has_pos = 1;
		}
		out->pos_seq = (uint64_t)sqlite3_column_int64(st, 4);
		out->forks = sqlite3_column_int64(st, 5);
		out->late = sqlite3_column_int(st, 6);
		rc = SQLITE_DONE;
	}
	rc = rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "cannot read a projection's cursor");
	sqlite3_finalize(st);
	return rc;
}

int mutual__db_app_cursor_set(mutual_db *db, const char *name, const mutual_db_app_cursor *c)
{
	sqlite3_stmt *st = NULL;
	/* `pending` is left out, so the row's is back to its default, 0. */
	int rc = sqlite3_prepare_v2(db->db, "INSERT OR REPLACE INTO app_projections(name, schema_version, applied_id,"
		" pos_hlc, pos_device, pos_seq, forks) VALUES(?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot save a projection's cursor");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->schema_version);
	sqlite3_bind_int64(st, 3, c->applied_id);
	sqlite3_bind_int64(st, 4, c->has_pos ? (sqlite3_int64)c->pos_hlc : 0);
	sqlite3_bind_blob(st, 5, c->has_pos ? (const void *)c->pos_device : "", c->has_pos ? MUTUAL_KEY_SIZE : 0, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, c->has_pos ? (sqlite3_int64)c->pos_seq : 0);
	sqlite3_bind_int64(st, 7, c->forks);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "cannot save a projection's cursor");
}

int mutual__db_app_log_now(mutual_db *db, int64_t *last_id, int64_t *forks)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db, "SELECT (SELECT COALESCE(MAX(id), 0) FROM events),"
		" (SELECT COUNT(*) FROM forks) + (SELECT COALESCE(MAX(value), 0) FROM meta WHERE key = 'removals_version')"
		" * 4294967296", -1, &st, NULL);
	*last_id = *forks = -1;
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*last_id = sqlite3_column_int64(st, 0);
		*forks = sqlite3_column_int64(st, 1);
		rc = SQLITE_OK;
	}
	rc = rc == SQLITE_OK ? 0 : mutual__db_fail(db, rc, "cannot catch a projection up");
	sqlite3_finalize(st);
	return rc;
}

int mutual__db_app_arrived_before(int *out, mutual_db *db, const mutual_db_app_cursor *c)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db, "SELECT 1 FROM events WHERE id > ? AND (hlc, device, seq) < (?, ?, ?)"
		" AND NOT EXISTS(SELECT 1 FROM event_waiting w WHERE w.device = events.device AND w.seq = events.seq)"
		" AND NOT EXISTS(SELECT 1 FROM event_held_back h WHERE h.device = events.device AND h.seq = events.seq)"
		" LIMIT 1", -1, &st, NULL);
	*out = 0;
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot catch a projection up");
	sqlite3_bind_int64(st, 1, c->applied_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)c->pos_hlc);
	sqlite3_bind_blob(st, 3, c->pos_device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)c->pos_seq);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW;
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "cannot catch a projection up");
	sqlite3_finalize(st);
	return rc;
}

int mutual__db_app_note_late(mutual_db *db, const mutual_event_rec *ev)
{
	sqlite3_stmt *st = NULL;
	/* forks = -1 never matches a count of forks: it forces a replay. */
	int rc = sqlite3_prepare_v2(db->db, "UPDATE app_projections SET pending = 1,"
		" forks = CASE WHEN length(pos_device) = 32 AND (pos_hlc, pos_device, pos_seq) > (?, ?, ?) THEN -1 ELSE forks END",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot note a late event");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ev->hlc);
	sqlite3_bind_blob(st, 2, ev->device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->seq);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "cannot note a late event");
}

int mutual__db_app_drop_tables(mutual_db *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	sqlite3_str *drop;
	char *sql;
	int rc = sqlite3_prepare_v2(db->db, "SELECT name FROM sqlite_master WHERE type = 'table'"
		" AND substr(name, 1, ?2) = ?1 || '_'", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot prepare a projection");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)strlen(name) + 1);
	/* Collect the names first: a table cannot be dropped while a query
	 * of sqlite_master is under way. */
	drop = sqlite3_str_new(db->db);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sqlite3_str_appendf(drop, "DROP TABLE \"%w\";", (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		rc = mutual__db_fail(db, rc, "cannot prepare a projection");
	else if (sqlite3_str_errcode(drop) != SQLITE_OK)
		rc = mutual__fail(MUTUAL_ERROR, "cannot prepare a projection: out of memory");
	else
		rc = 0;
	sqlite3_finalize(st);
	sql = sqlite3_str_finish(drop); /* NULL when there is nothing to drop */
	if (rc == 0 && sql)
		rc = mutual__db_app_exec(db, sql, "cannot drop a projection's old table");
	sqlite3_free(sql);
	return rc;
}

/* -------------------------------------------------------------- apply SQL */

int mutual__db_app_prepare(mutual_db_stmt **out, mutual_db *db, const char *sql)
{
	mutual_db_stmt *p = mutual__calloc(1, sizeof(*p));
	const char *tail = sql;
	int rc = 0;

	*out = NULL;
	if (!p)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	p->db = db;
	while (tail && *tail) {
		sqlite3_stmt *st = NULL;
		if ((rc = sqlite3_prepare_v2(db->db, tail, -1, &st, &tail)) != SQLITE_OK) {
			rc = mutual__db_fail(db, rc, "an app projection's SQL failed");
			goto fail;
		}
		if (!st)
			break; /* white space or a comment */
		if (p->n == MUTUAL_DB_APPLY_STATEMENTS_MAX) {
			sqlite3_finalize(st);
			rc = mutual__fail(MUTUAL_EINVALID, "an app projection's apply SQL has more than %d statements",
				MUTUAL_DB_APPLY_STATEMENTS_MAX);
			goto fail;
		}
		for (int i = 0; i < PARAMS; i++)
			p->param[p->n][i] = sqlite3_bind_parameter_index(st, param_names[i]);
		p->st[p->n++] = st;
	}
	*out = p;
	return 0;
fail:
	mutual__db_app_finalize(p);
	return rc;
}

int mutual__db_app_apply(mutual_db_stmt *p, const mutual_event_rec *ev)
{
	for (size_t i = 0; i < p->n; i++) {
		sqlite3_stmt *st = p->st[i];
		const int *at = p->param[i];
		int rc;
		if (at[PARAM_DEVICE])
			sqlite3_bind_blob(st, at[PARAM_DEVICE], ev->device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
		if (at[PARAM_SEQ])
			sqlite3_bind_int64(st, at[PARAM_SEQ], (sqlite3_int64)ev->seq);
		if (at[PARAM_HLC])
			sqlite3_bind_int64(st, at[PARAM_HLC], (sqlite3_int64)ev->hlc);
		if (at[PARAM_TYPE])
			sqlite3_bind_text(st, at[PARAM_TYPE], ev->type, (int)ev->type_len, SQLITE_STATIC);
		if (at[PARAM_PAYLOAD])
			sqlite3_bind_text(st, at[PARAM_PAYLOAD], ev->payload, (int)ev->payload_len, SQLITE_STATIC);
		rc = step_all(st);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (rc != SQLITE_DONE)
			return mutual__db_fail(p->db, rc, "an app projection's SQL failed");
	}
	return 0;
}

void mutual__db_app_finalize(mutual_db_stmt *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		sqlite3_finalize(p->st[i]);
	mutual__free(p);
}

/* ------------------------------------------------------------------ query */

int mutual__db_app_query(mutual_db *db, const char *sql, const char *const *params, size_t n_params,
	mutual_row_cb cb, void *payload)
{
	sqlite3_stmt *st = NULL;
	const char **names = NULL, **values = NULL;
	int rc, cols, stopped = 0;

	const char *tail = NULL;

	rc = sqlite3_prepare_v2(db->db, sql, -1, &st, &tail);
	if ((rc & 0xff) == SQLITE_ERROR)
		return mutual__fail(MUTUAL_EINVALID, "the query is not valid SQL here: %s", sqlite3_errmsg(db->db));
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "the query failed");
	tail += strspn(tail, " \t\r\n;");
	/* The one rule for the application's reads: projections change only
	 * through events. */
	if (!st || *tail || !sqlite3_stmt_readonly(st) ||
	    n_params != (size_t)sqlite3_bind_parameter_count(st)) {
		rc = !st || *tail ? mutual__fail(MUTUAL_EINVALID, "mutual_query runs exactly one statement")
		   : !sqlite3_stmt_readonly(st)
			? mutual__fail(MUTUAL_EINVALID, "mutual_query only reads; projections change through events")
			: mutual__fail(MUTUAL_EINVALID, "the query takes %d parameters, %zu given",
				sqlite3_bind_parameter_count(st), n_params);
		sqlite3_finalize(st);
		return rc;
	}
	for (size_t i = 0; i < n_params; i++)
		sqlite3_bind_text(st, (int)i + 1, params[i], -1, SQLITE_STATIC);
	cols = sqlite3_column_count(st);
	names = mutual__calloc((size_t)cols + 1, sizeof(*names));
	values = mutual__calloc((size_t)cols + 1, sizeof(*values));
	if (!names || !values) {
		rc = mutual__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	for (int i = 0; i < cols; i++)
		names[i] = sqlite3_column_name(st, i);
	while (!stopped && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < cols; i++)
			values[i] = (const char *)sqlite3_column_text(st, i);
		stopped = cb(cols, names, values, payload);
	}
	if (stopped)
		rc = stopped;
	else
		rc = rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "the query failed");
done:
	mutual__free(names);
	mutual__free(values);
	sqlite3_finalize(st);
	return rc;
}
