/*
 * db_sqlite.h - what the files of the SQLite layer share, and nothing
 * outside it includes: the handle's struct, with every statement the layer
 * keeps prepared, and the helpers that prepare and step them. db.c holds
 * the store (schema, events, sync bookkeeping, pending events), db_state.c
 * the built-in projections' tables. Everyone else sees db.h only, so
 * sqlite3.h has one door.
 */
#ifndef MUTUAL_DB_SQLITE_H
#define MUTUAL_DB_SQLITE_H

#include <sqlite3.h>

#include "db.h"

/* The pending-event queries (deliver.c's), prepared once per handle. */
enum { PENDING_STATE, PENDING_WAIT, PENDING_UNWAIT, PENDING_WAITERS, PENDING_HOLD, PENDING_HOLD_CAUSE,
	PENDING_HELD_BY, PENDING_RELEASE, PENDING_RELEASE_CAUSES, PENDING_MAX_HLC, PENDING_STMTS };

/* db_state.c's queries: applying runs a few per field, for every event,
 * so each is prepared once per handle (preparing was most of a rebuild's
 * time, measured). */
enum { STATE_SEEN_GET, STATE_SEEN_SET, STATE_WRITES, STATE_WRITE_DEL, STATE_FIELD_DEL, STATE_WRITE_SET,
	STATE_ROWID, STATE_HISTORY_ADD, STATE_HISTORY, STATE_COUNTER_GET, STATE_COUNTER_SET, STATE_STMTS };

struct mutual_db {
	sqlite3 *db;
	char *path;
	int readonly;
	int in_tx;
	sqlite3_stmt *insert, *head, *max_hlc, *frontier, *device_add, *device_name,
		*device_set_name, *meta_get, *meta_set, *seg_tip, *seg_by_commit, *seg_add, *head_of;
	sqlite3_stmt *pending[PENDING_STMTS]; /* the pending-event queries, by PENDING_* */
	sqlite3_stmt *state[STATE_STMTS];     /* the projections' queries, by STATE_* */
};

/* `*stmt` ready to bind: prepared now (SQLITE_PREPARE_PERSISTENT) if it is
 * NULL, else reset with its bindings cleared; `what` names a failure. The
 * statement stays the handle's, finalized when the database closes, so
 * `*stmt` is one of struct mutual_db's. */
int mutual__db_sqlite_prepare(mutual_db *db, sqlite3_stmt **stmt, const char *sql, const char *what);
/* Step a statement that returns no rows, then reset it: 0, or our code. */
int mutual__db_sqlite_step_done(mutual_db *db, sqlite3_stmt *st, const char *what);

/* An SQLite failure is translated once, where it was met, with
 * mutual__db_fail (db.h, where apps.c still calls it; its declaration
 * belongs here once apps.c no longer does). */

#endif
