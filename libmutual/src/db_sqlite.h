/*
 * db_sqlite.h - what the files of the SQLite layer share, and nothing
 * outside it includes: the handle's struct, with every statement the layer
 * keeps prepared, and the helpers that prepare, step and translate. db.c
 * holds the store (schema, events, sync bookkeeping, pending events),
 * db_state.c the built-in projections' tables, db_apps.c the app
 * projections'. Everyone else sees db.h only, so sqlite3.h has one door.
 */
#ifndef MUTUAL_DB_SQLITE_H
#define MUTUAL_DB_SQLITE_H

#include <assert.h>
#include <sqlite3.h>

#include "db.h"

/* The pending-event queries (deliver.c's), prepared once per handle. */
enum { PENDING_STATE, PENDING_WAIT, PENDING_UNWAIT, PENDING_WAITERS, PENDING_HOLD, PENDING_HOLD_CAUSE,
	PENDING_HELD_BY, PENDING_RELEASE, PENDING_RELEASE_CAUSES, PENDING_MAX_HLC, PENDING_STMTS };

/* db_state.c's queries: applying runs a few per field, for every event,
 * so each is prepared once per handle (preparing was most of a rebuild's
 * time, measured). */
enum { STATE_SEEN_GET, STATE_SEEN_SET, STATE_WRITES, STATE_WRITE_DEL, STATE_FIELD_DEL, STATE_WRITE_SET,
	STATE_ROWID, STATE_HISTORY_ADD, STATE_HISTORY, STATE_COUNTER_GET, STATE_COUNTER_SET, STATE_FIELD_CONFLICTS,
	STATE_ENTITY_GET, STATE_ENTITY_WRITES, STATE_VALUE_ADD, STATE_VALUE_DEL, STATE_ENTITY_PUT, STATE_ENTITY_DEL, STATE_STMTS };

struct mutual_db {
	sqlite3 *db;
	char *path;
	int readonly;
	int in_tx; /* inside mutual__db_begin_write .. commit or rollback (db.c NOTES 2) */
	int failed_rc; /* the SQLite code mutual__db_fail translated last */
#ifndef NDEBUG
	/* The last event inserted in this transaction, so db.c NOTES 2's
	 * assert reads the head once per run of a device's events. */
	int have_last;
	uint8_t last_device[MUTUAL_KEY_SIZE];
	uint64_t last_seq;
	uint8_t last_hash[MUTUAL_HASH_SIZE];
#endif
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

/* Translate the SQLite result code `rc` into ours, once, where it was
 * met, with `what` and SQLite's own message (read at once) in the error;
 * returns our code. */
int mutual__db_fail(mutual_db *db, int rc, const char *what);

/* db.c NOTES 2 and 4: a row is written only inside a write transaction,
 * so the events and what derives from them change together or not at all.
 * Asserted of our own code (in_tx), and checked of SQLite's state: after
 * an out-of-memory or I/O error SQLite may have rolled the transaction
 * back by itself, and a write then would commit on its own. */
int mutual__db_tx_lost(mutual_db *db);
#define WRITING_OR_FAIL(db)                                    \
	do {                                                  \
		assert((db)->in_tx);                          \
		if (sqlite3_get_autocommit((db)->db))         \
			return mutual__db_tx_lost(db);        \
	} while (0)

#endif
