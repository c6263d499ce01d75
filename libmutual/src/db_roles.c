/*
 * db_roles.c - the coordinators' role events and what they resolve to, in
 * SQLite: `role_events` keeps every role event applied (its writer's seen
 * vector too, so its view can be judged again) with its status, and
 * `coordinators` the set they resolve to. roles.c decides both; this file
 * stores and reads them. Role events are few (a handful per coordinator),
 * so the statements are prepared per call.
 */
#include <string.h>

#include "crypto.h"
#include "db_sqlite.h"

#define ROLE_WRITE "cannot apply a role event"
#define ROLE_READ "cannot read the group's roles"

int mutual__db_role_add(mutual_db *db, const mutual_db_role_row *row)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db, "INSERT OR IGNORE INTO role_events(device, seq, action, target, cut, saw, status)"
		" VALUES(?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, ROLE_WRITE);
	sqlite3_bind_blob(st, 1, row->device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)row->seq);
	sqlite3_bind_int(st, 3, row->action);
	sqlite3_bind_blob(st, 4, row->target, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)row->cut);
	sqlite3_bind_blob(st, 6, row->saw_n ? (const void *)row->saw : "", (int)(row->saw_n * MUTUAL_FRONTIER_ENTRY),
		SQLITE_STATIC);
	sqlite3_bind_int(st, 7, row->status);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, ROLE_WRITE);
}

int mutual__db_role_rows(mutual_db *db, mutual_db_role_cb cb, void *payload)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db, "SELECT device, seq, action, target, cut, saw, status FROM role_events"
		" ORDER BY device, seq", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, ROLE_READ);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mutual_db_role_row row;
		int stop;
		size_t saw_bytes = (size_t)sqlite3_column_bytes(st, 5);
		if (sqlite3_column_bytes(st, 0) != MUTUAL_KEY_SIZE || sqlite3_column_bytes(st, 3) != MUTUAL_KEY_SIZE ||
		    saw_bytes % MUTUAL_FRONTIER_ENTRY) {
			sqlite3_finalize(st);
			return mutual__fail(MUTUAL_ECORRUPT, "a role event row is damaged: run mutual rebuild");
		}
		row.device = sqlite3_column_blob(st, 0);
		row.seq = (uint64_t)sqlite3_column_int64(st, 1);
		row.action = sqlite3_column_int(st, 2);
		row.target = sqlite3_column_blob(st, 3);
		row.cut = (uint64_t)sqlite3_column_int64(st, 4);
		row.saw = saw_bytes ? sqlite3_column_blob(st, 5) : NULL;
		row.saw_n = saw_bytes / MUTUAL_FRONTIER_ENTRY;
		row.status = sqlite3_column_int(st, 6);
		if (saw_bytes && !row.saw) {
			sqlite3_finalize(st);
			return mutual__fail(MUTUAL_ERROR, "out of memory");
		}
		if ((stop = cb(&row, payload)) != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, ROLE_READ);
}

int mutual__db_role_status_set(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, int status)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db, "UPDATE role_events SET status = ? WHERE device = ? AND seq = ? AND status != ?",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, ROLE_WRITE);
	sqlite3_bind_int(st, 1, status);
	sqlite3_bind_blob(st, 2, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
	sqlite3_bind_int(st, 4, status);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, ROLE_WRITE);
}

/* Replace a whole table by `n` rows of `width` bytes: a key, then (when
 * `width` says so) a cut u64. `clear` empties it first. */
static int replace_rows(mutual_db *db, const char *clear, const char *insert, const uint8_t *rows, size_t n,
	size_t width)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = sqlite3_exec(db->db, clear, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, ROLE_WRITE);
	if ((rc = sqlite3_prepare_v2(db->db, insert, -1, &st, NULL)) != SQLITE_OK)
		return mutual__db_fail(db, rc, ROLE_WRITE);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *row = rows + i * width;
		sqlite3_bind_blob(st, 1, row, MUTUAL_KEY_SIZE, SQLITE_STATIC);
		if (width > MUTUAL_KEY_SIZE)
			sqlite3_bind_int64(st, 2, (sqlite3_int64)mutual__get_u64(row + MUTUAL_KEY_SIZE));
		if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return mutual__db_fail(db, rc, ROLE_WRITE);
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return 0;
}

int mutual__db_coordinators_set(mutual_db *db, const uint8_t *keys, size_t n)
{
	return replace_rows(db, "DELETE FROM coordinators", "INSERT OR IGNORE INTO coordinators(device) VALUES(?)",
		keys, n, MUTUAL_KEY_SIZE);
}

int mutual__db_coordinator_rows(mutual_db *db, mutual_db_key_cb cb, void *payload)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db, "SELECT device FROM coordinators ORDER BY device", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, ROLE_READ);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int stop;
		if (sqlite3_column_bytes(st, 0) != MUTUAL_KEY_SIZE)
			continue;
		if ((stop = cb(sqlite3_column_blob(st, 0), payload)) != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, ROLE_READ);
}

int mutual__db_removals_set(mutual_db *db, const uint8_t *entries, size_t n)
{
	return replace_rows(db, "DELETE FROM removals; INSERT INTO meta(key, value) VALUES('removals_version', 1)"
		" ON CONFLICT(key) DO UPDATE SET value = value + 1",
		"INSERT OR IGNORE INTO removals(device, cut) VALUES(?, ?)", entries, n, MUTUAL_REMOVAL_ENTRY);
}

int mutual__db_removal_rows(mutual_db *db, mutual_db_removal_cb cb, void *payload)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db, "SELECT device, cut FROM removals ORDER BY device", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, ROLE_READ);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int stop;
		if (sqlite3_column_bytes(st, 0) != MUTUAL_KEY_SIZE) {
			sqlite3_finalize(st);
			return mutual__fail(MUTUAL_ECORRUPT, "a removal row is damaged: run mutual rebuild");
		}
		if ((stop = cb(sqlite3_column_blob(st, 0), (uint64_t)sqlite3_column_int64(st, 1), payload)) != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, ROLE_READ);
}

int mutual__db_removal_get(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *cut)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db, "SELECT cut FROM removals WHERE device = ?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, ROLE_READ);
	sqlite3_bind_blob(st, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*cut = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? MUTUAL_ENOTFOUND : mutual__db_fail(db, rc, ROLE_READ);
}

int mutual__db_device_limits(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *fork_seq,
                             uint64_t *removed_cut)
{
	/* Applying an event reads both; one statement instead of two. */
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db,
		"SELECT (SELECT seq FROM forks WHERE device = ?1), (SELECT cut FROM removals WHERE device = ?1)",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, ROLE_READ);
	sqlite3_bind_blob(st, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*fork_seq = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : (uint64_t)sqlite3_column_int64(st, 0);
		*removed_cut = sqlite3_column_type(st, 1) == SQLITE_NULL ? UINT64_MAX : (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : mutual__db_fail(db, rc, ROLE_READ);
}

/* ---------------------------------------------------------------- rotations */


int mutual__db_rotation_add(mutual_db *db, const mutual_db_rotation_row *row)
{
	WRITING_OR_FAIL(db);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db, "INSERT OR IGNORE INTO rotations(device, seq, key_id, key_commit, after,"
		" excludes, boxed, box) VALUES(?, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, "cannot apply a key rotation");
	sqlite3_bind_blob(st, 1, row->device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)row->seq);
	sqlite3_bind_int64(st, 3, row->key_id);
	sqlite3_bind_blob(st, 4, row->commit, MUTUAL_HASH_SIZE, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, row->n_after ? (const void *)row->after : "", (int)(row->n_after * MUTUAL_HASH_SIZE),
		SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, row->n_excludes ? (const void *)row->excludes : "",
		(int)(row->n_excludes * MUTUAL_KEY_SIZE), SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, row->n_boxed ? (const void *)row->boxed : "", (int)(row->n_boxed * MUTUAL_KEY_SIZE),
		SQLITE_STATIC);
	if (row->box)
		sqlite3_bind_blob(st, 8, row->box, MUTUAL_KEY_BOX_SIZE, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, "cannot apply a key rotation");
}

int mutual__db_rotation_rows(mutual_db *db, mutual_db_rotation_cb cb, void *payload)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db, "SELECT device, seq, key_id, key_commit, after, excludes, boxed, box FROM rotations"
		" ORDER BY device, seq", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mutual__db_fail(db, rc, ROLE_READ);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mutual_db_rotation_row row;
		int stop, after = sqlite3_column_bytes(st, 4), excl = sqlite3_column_bytes(st, 5);
		int boxed = sqlite3_column_bytes(st, 6);
		int box = sqlite3_column_type(st, 7) == SQLITE_NULL ? 0 : sqlite3_column_bytes(st, 7);
		if (sqlite3_column_bytes(st, 0) != MUTUAL_KEY_SIZE || sqlite3_column_bytes(st, 3) != MUTUAL_HASH_SIZE ||
		    after % MUTUAL_HASH_SIZE || excl % MUTUAL_KEY_SIZE || boxed % MUTUAL_KEY_SIZE ||
		    (box && box != MUTUAL_KEY_BOX_SIZE)) {
			sqlite3_finalize(st);
			return mutual__fail(MUTUAL_ECORRUPT, "a key rotation row is damaged: run mutual rebuild");
		}
		row.device = sqlite3_column_blob(st, 0);
		row.seq = (uint64_t)sqlite3_column_int64(st, 1);
		row.key_id = (uint32_t)sqlite3_column_int64(st, 2);
		row.commit = sqlite3_column_blob(st, 3);
		row.after = sqlite3_column_blob(st, 4);
		row.n_after = (size_t)after / MUTUAL_HASH_SIZE;
		row.excludes = sqlite3_column_blob(st, 5);
		row.n_excludes = (size_t)excl / MUTUAL_KEY_SIZE;
		row.boxed = sqlite3_column_blob(st, 6);
		row.n_boxed = (size_t)boxed / MUTUAL_KEY_SIZE;
		row.box = box ? sqlite3_column_blob(st, 7) : NULL;
		if ((stop = cb(&row, payload)) != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : mutual__db_fail(db, rc, ROLE_READ);
}
