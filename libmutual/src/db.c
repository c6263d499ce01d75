/*
 * db.c - the local store in SQLite: the connection, the schema and its
 * migrations, transactions, and the tables of what the store holds (the
 * events, the devices, segments, forks, pending events). The projections'
 * tables are db_state.c's and the app projections' db_apps.c's; the three
 * are the one layer that includes sqlite3.h.
 *
 * NOTES ON THE DESIGN
 *  1. The events table is append-only: triggers refuse UPDATE and DELETE,
 *     so no code path, and no sqlite3 shell, can rewrite history silently
 *     (test store/triggers).
 *  2. (device, seq) is unique and, per device, seqs run 1, 2, 3 ... without
 *     gaps, each event's prev the hash of the one before; a device's next
 *     seq and previous hash are read inside the same BEGIN IMMEDIATE
 *     transaction that inserts, so concurrent writers from several
 *     processes can never take the same seq. Asserted in
 *     mutual__db_insert_event: WRITING_OR_FAIL and extends_its_log (broken
 *     on purpose by tests invariants/seq and invariants/tx).
 *  3. Durability: WAL with synchronous=FULL, so a commit returns after the
 *     WAL is fsynced. An acknowledged event survives a power cut (asserted
 *     at open: the pragma reads back FULL).
 *  4. What the store holds is the events, `meta`, `segments` (which commit
 *     carries which events: the sync side's record) and `forks` (proofs
 *     learnt from media). Derived from those, and rebuilt by
 *     mutual_rebuild: `devices` (the announced names), the pending tables
 *     and the projections. `device_sync_bytes` is a history of syncs that
 *     is only advisory (losing it only delays a flood report). Every
 *     writer asserts it runs inside a write transaction (WRITING_OR_FAIL),
 *     so the events and what follows from them change together.
 *  5. PRAGMA user_version is the schema version. A newer one is refused
 *     (MUTUAL_EVERSION); an older one is migrated step by step, each step
 *     in one transaction (asserted: a migrated store reads back
 *     MUTUAL_SCHEMA_VERSION).
 */
#include "db_sqlite.h"
#include "fault.h"

#include <assert.h>
#include <errno.h>
#ifdef MUTUAL_TEST_HOOKS
#include <pthread.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define APPLICATION_ID 0x4d75744c /* "MutL": marks a libmutual store */
#define PRAGMA_SQL_SIZE 64 /* bytes for one "PRAGMA name=<int>" built with snprintf */
#define URI_EXTRA 32 /* bytes a path needs around it as "file:<path>?immutable=1" and the NUL */
_Static_assert(sizeof("file:?immutable=1") <= URI_EXTRA, "URI_EXTRA holds the URI's fixed parts");

struct mutual_db_iter {
	mutual_db *db;
	sqlite3_stmt *stmt;
	int over; /* stepping a finished statement would restart it */
};

/* Translate an SQLite failure once, here, into our codes and words. */
static int db_fail(mutual_db *db, int rc, const char *what)
{
	const char *msg = db && db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc);
	if (db)
		db->failed_rc = rc;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return mutual__fail(MUTUAL_EBUSY,
			"%s: the store is busy (another program kept it locked for %d s); try again",
			what, MUTUAL_BUSY_TIMEOUT_MS / 1000);
	case SQLITE_READONLY:
		return mutual__fail(MUTUAL_EREADONLY, "%s: the store is read-only (%s)", what, msg);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return mutual__fail(MUTUAL_ECORRUPT,
			"%s: the store's database is damaged (%s); restore it from a backup or a fresh join and sync",
			what, msg);
	case SQLITE_FULL:
		return mutual__fail(MUTUAL_ERROR, "%s: the disk is full", what);
	case SQLITE_NOMEM:
		return mutual__fail(MUTUAL_ERROR, "%s: out of memory", what);
	case SQLITE_CANTOPEN:
		return mutual__fail(MUTUAL_ERROR, "%s: cannot open the store's database (%s)", what, msg);
	default:
		return mutual__fail(MUTUAL_ERROR, "%s: %s", what, msg);
	}
}

static int exec(mutual_db *db, const char *sql, const char *what)
{
	int rc = sqlite3_exec(db->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : db_fail(db, rc, what);
}

int mutual__db_sqlite_prepare(mutual_db *db, sqlite3_stmt **stmt, const char *sql, const char *what)
{
	int rc;
	if (*stmt) {
		sqlite3_reset(*stmt);
		sqlite3_clear_bindings(*stmt);
		return 0;
	}
	rc = sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
	return rc == SQLITE_OK ? 0 : db_fail(db, rc, what);
}

static int prepare(mutual_db *db, sqlite3_stmt **stmt, const char *sql)
{
	return mutual__db_sqlite_prepare(db, stmt, sql, "cannot prepare a query");
}

static const char schema_v1[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE events("
	"  id INTEGER PRIMARY KEY," /* arrival order on this device; local only */
	"  device BLOB NOT NULL CHECK(length(device) = 32),"
	"  seq INTEGER NOT NULL CHECK(seq >= 1),"
	"  hlc INTEGER NOT NULL CHECK(hlc >= 0),"
	"  type TEXT NOT NULL,"
	"  payload BLOB NOT NULL,"
	"  digest BLOB NOT NULL CHECK(length(digest) = 32),"
	"  prev BLOB NOT NULL CHECK(length(prev) = 32),"
	"  frontier BLOB NOT NULL,"
	"  hash BLOB NOT NULL CHECK(length(hash) = 32),"
	"  sig BLOB CHECK(sig IS NULL OR length(sig) = 64),"
	"  UNIQUE(device, seq));"
	"CREATE INDEX events_order ON events(hlc, device, seq);"
	"CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
	"  BEGIN SELECT RAISE(ABORT, 'events are append-only: they cannot be changed'); END;"
	"CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
	"  BEGIN SELECT RAISE(ABORT, 'events are append-only: they cannot be deleted'); END;"
	"CREATE TABLE devices(key BLOB PRIMARY KEY, name TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
	/* Which git commit carries which run of a device's events: what this
	 * device holds of each log on the sync side. */
	"CREATE TABLE segments("
	"  device BLOB NOT NULL CHECK(length(device) = 32),"
	"  first_seq INTEGER NOT NULL CHECK(first_seq >= 1),"
	"  last_seq INTEGER NOT NULL CHECK(last_seq >= first_seq),"
	"  commit_id BLOB NOT NULL CHECK(length(commit_id) = 20),"
	"  PRIMARY KEY(device, first_seq)) WITHOUT ROWID;"
	"CREATE UNIQUE INDEX segments_commit ON segments(commit_id);"
	/* Devices proven to have signed two different logs: their events from
	 * `seq` on are quarantined (kept, shown, never applied). */
	"CREATE TABLE forks("
	"  device BLOB PRIMARY KEY CHECK(length(device) = 32),"
	"  seq INTEGER NOT NULL CHECK(seq >= 1),"
	"  proof BLOB NOT NULL) WITHOUT ROWID;"
	/* Projections (project.c), all derived from the events. */
	"CREATE TABLE entity_writes("
	"  kind TEXT NOT NULL, id TEXT NOT NULL, field TEXT NOT NULL,"
	"  device BLOB NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL, value TEXT NOT NULL,"
	"  PRIMARY KEY(kind, id, field, device, seq)) WITHOUT ROWID;"
	"CREATE TABLE entity_seen("
	"  kind TEXT NOT NULL, id TEXT NOT NULL, field TEXT NOT NULL, vec BLOB NOT NULL,"
	"  PRIMARY KEY(kind, id, field)) WITHOUT ROWID;"
	"CREATE TABLE counters(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE app_projections("
	"  name TEXT PRIMARY KEY, schema_version INTEGER NOT NULL, applied_id INTEGER NOT NULL,"
	"  pos_hlc INTEGER NOT NULL, pos_device BLOB NOT NULL, pos_seq INTEGER NOT NULL,"
	"  forks INTEGER NOT NULL) WITHOUT ROWID;";

/* Migrations: entry i brings schema i to i + 1; a new store runs them all
 * after schema_v1, so the two cannot drift. A step that changes derived
 * tables sets meta 'rebuild', and the store rebuilds them when it opens. */
static const char schema_v2[] =
	/* Causal delivery and clock admission (deliver.c): an event that is
	 * held but not applied is in one of these two tables. */
	"CREATE TABLE event_waiting("
	"  device BLOB NOT NULL, seq INTEGER NOT NULL,"
	"  need_index INTEGER NOT NULL, need_device BLOB NOT NULL, need_seq INTEGER NOT NULL,"
	"  PRIMARY KEY(device, seq)) WITHOUT ROWID;"
	"CREATE INDEX event_waiting_need ON event_waiting(need_device, need_seq);"
	"CREATE TABLE event_held_back(device BLOB NOT NULL, seq INTEGER NOT NULL,"
	"  PRIMARY KEY(device, seq)) WITHOUT ROWID;"
	/* Which not-yet-applied cause could still admit a held-back event. */
	"CREATE TABLE held_back_causes("
	"  cause_device BLOB NOT NULL, cause_seq INTEGER NOT NULL, device BLOB NOT NULL, seq INTEGER NOT NULL,"
	"  PRIMARY KEY(cause_device, cause_seq, device, seq)) WITHOUT ROWID;"
	"CREATE INDEX held_back_causes_event ON held_back_causes(device, seq);"
	/* Every applied write of an entity field (project.c NOTES 2). */
	"CREATE TABLE entity_history(kind TEXT NOT NULL, id TEXT NOT NULL, field TEXT NOT NULL,"
	"  event INTEGER NOT NULL, PRIMARY KEY(kind, id, field, event)) WITHOUT ROWID;"
	"ALTER TABLE app_projections ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;"
	"DELETE FROM entity_seen;"
	"INSERT OR REPLACE INTO meta(key, value) VALUES('rebuild', x'01');";

/* Bytes of verified segment plaintext imported from each device, one row
 * per sync that imported any, the last MUTUAL_DB_SYNC_HISTORY kept: what a
 * sudden flood is measured against (sync_import.c). Not derived from the events,
 * but only advisory: losing it only delays a flood report. */
static const char schema_v3[] =
	"CREATE TABLE device_sync_bytes(id INTEGER PRIMARY KEY,"
	"  device BLOB NOT NULL CHECK(length(device) = 32), bytes INTEGER NOT NULL CHECK(bytes > 0));"
	"CREATE INDEX device_sync_bytes_device ON device_sync_bytes(device, id);";

/* Each entity's resolved registers, derived from its kept writes (so the
 * store rebuilds to fill them), for the typed walk (entity.c): all of an
 * entity's fields packed in one row of `entities` (db_state.c has the
 * form), and `entity_values`, an index of every field's value that holds
 * (by kind, field, sort key, canonical JSON, id), through which filters,
 * orders and pages go instead of reading the whole kind. */
static const char schema_v4[] =
	"CREATE TABLE entities(kind TEXT NOT NULL, id TEXT NOT NULL, deleted INTEGER NOT NULL, fields BLOB NOT NULL,"
	"  PRIMARY KEY(kind, id)) WITHOUT ROWID;"
	"CREATE TABLE entity_values(kind TEXT NOT NULL, field TEXT NOT NULL, sort NOT NULL, value TEXT NOT NULL,"
	"  id TEXT NOT NULL, PRIMARY KEY(kind, field, sort, value, id)) WITHOUT ROWID;"
	"INSERT OR REPLACE INTO meta(key, value) VALUES('rebuild', x'01');";

/* The coordinators' role events and the set they resolve to (roles.c,
 * db_roles.c), derived from the events: the store rebuilds to fill them. */
static const char schema_v5[] =
	"CREATE TABLE role_events(device BLOB NOT NULL, seq INTEGER NOT NULL, action INTEGER NOT NULL,"
	"  target BLOB NOT NULL, cut INTEGER NOT NULL, saw BLOB NOT NULL, status INTEGER NOT NULL,"
	"  PRIMARY KEY(device, seq)) WITHOUT ROWID;"
	"CREATE TABLE coordinators(device BLOB PRIMARY KEY) WITHOUT ROWID;"
	"INSERT OR REPLACE INTO meta(key, value) VALUES('rebuild', x'01');";

/* The removed devices and their cuts (roles.c NOTES 7, db_roles.c): what
 * the role events resolve to, kept through a rebuild as its input
 * (project.c NOTES 8); `removals_version` in meta counts their changes,
 * for the app projections' cursors. */
static const char schema_v6[] =
	"CREATE TABLE removals(device BLOB PRIMARY KEY, cut INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT OR REPLACE INTO meta(key, value) VALUES('rebuild', x'01');";

/* The key rotations applied (rotation.c, db_roles.c): each rotation's key
 * id and commitment, the keys it follows, the removed devices it
 * excludes, the devices it seals the key to, and the box sealed to this
 * device if it holds one. Derived
 * from the events: the store rebuilds to fill them. */
static const char schema_v7[] =
	"CREATE TABLE rotations(device BLOB NOT NULL, seq INTEGER NOT NULL, key_id INTEGER NOT NULL,"
	"  key_commit BLOB NOT NULL, after BLOB NOT NULL, excludes BLOB NOT NULL, boxed BLOB NOT NULL, box BLOB,"
	"  PRIMARY KEY(device, seq)) WITHOUT ROWID;"
	"INSERT OR REPLACE INTO meta(key, value) VALUES('rebuild', x'01');";

static const char *const migrations[] = { schema_v2, schema_v3, schema_v4, schema_v5, schema_v6, schema_v7 };
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == MUTUAL_SCHEMA_VERSION - 1,
	"one migration per schema version after the first");

static int create_schema(mutual_db *db)
{
	int rc;
	char sql[2 * PRAGMA_SQL_SIZE]; /* two PRAGMAs */

	if ((rc = exec(db, "PRAGMA journal_mode=WAL", "cannot enable the write-ahead log")) < 0)
		return rc;
	if ((rc = exec(db, "BEGIN IMMEDIATE", "cannot create the store")) < 0)
		return rc;
	snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d;",
		APPLICATION_ID, MUTUAL_SCHEMA_VERSION);
	if ((rc = exec(db, schema_v1, "cannot create the store's tables")) < 0)
		goto fail;
	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(migrations); i++)
		if ((rc = exec(db, migrations[i], "cannot create the store's tables")) < 0)
			goto fail;
	if ((rc = exec(db, "DELETE FROM meta WHERE key = 'rebuild'", "cannot create the store's tables")) < 0 ||
	    (rc = exec(db, sql, "cannot mark the store")) < 0 ||
	    (rc = exec(db, "COMMIT", "cannot create the store")) < 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int pragma_int(mutual_db *db, const char *sql, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : db_fail(db, rc, "cannot read the store");
}

#ifndef NDEBUG
/* For NOTES 3 and 5's asserts: the pragma reads back `want` (or cannot be
 * read, which the caller's next statement reports). */
static int reads_back(mutual_db *db, const char *pragma, int want)
{
	int got = want;
	return pragma_int(db, pragma, &got) < 0 || got == want;
}
#endif

static int check_schema(mutual_db *db)
{
	int app = 0, version = 0, rc;

	if ((rc = pragma_int(db, "PRAGMA application_id", &app)) < 0 ||
	    (rc = pragma_int(db, "PRAGMA user_version", &version)) < 0)
		return rc;
	if (app != APPLICATION_ID)
		return mutual__fail(MUTUAL_ECORRUPT, "%s is not a libmutual store", db->path);
	if (version > MUTUAL_SCHEMA_VERSION)
		return mutual__fail(MUTUAL_EVERSION,
			"the store was written by a newer libmutual (schema %d, this is %d): upgrade libmutual",
			version, MUTUAL_SCHEMA_VERSION);
	if (version < 1)
		return mutual__fail(MUTUAL_ECORRUPT, "%s has no valid schema version", db->path);
	while (version < MUTUAL_SCHEMA_VERSION) {
		char sql[PRAGMA_SQL_SIZE];
		if (db->readonly)
			return mutual__fail(MUTUAL_EREADONLY,
				"the store needs an upgrade to schema %d but is read-only", MUTUAL_SCHEMA_VERSION);
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", version + 1);
		if ((rc = exec(db, "BEGIN IMMEDIATE", "cannot upgrade the store")) < 0)
			return rc;
		if ((rc = exec(db, migrations[version - 1], "cannot upgrade the store")) < 0 ||
		    (rc = exec(db, sql, "cannot upgrade the store")) < 0 ||
		    (rc = exec(db, "COMMIT", "cannot upgrade the store")) < 0) {
			sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
		version++;
	}
	assert(reads_back(db, "PRAGMA user_version", MUTUAL_SCHEMA_VERSION)); /* NOTES 5 */
	return 0;
}

#ifdef MUTUAL_TEST_HOOKS
/* Test builds only: SQLite allocates through the fault counter (fault.h),
 * so a fault test can fail its Nth allocation as it fails ours.
 * SQLITE_CONFIG_MALLOC is process-wide and taken only before
 * sqlite3_initialize, so it is installed once, before this library opens
 * its first database. It wraps SQLite's own methods (read first with
 * SQLITE_CONFIG_GETMALLOC), so xSize, xRoundup and the rest stay SQLite's.
 * A process that initialised SQLite before opening a store keeps SQLite's
 * allocator uncounted; the fault tests check that every source counted. */
static sqlite3_mem_methods sqlite_mem;

static void *fault_sqlite_malloc(int n)
{
	void *p;
	if (mutual__fault_alloc_fails(MUTUAL_ALLOC_SQLITE, NULL, 0))
		return NULL;
	if ((p = sqlite_mem.xMalloc(n)))
		mutual__fault_alloc_live(MUTUAL_ALLOC_SQLITE, 1);
	return p;
}

static void fault_sqlite_free(void *p)
{
	if (p)
		mutual__fault_alloc_live(MUTUAL_ALLOC_SQLITE, -1);
	sqlite_mem.xFree(p);
}

/* SQLite never reallocates NULL: the block stays one block. */
static void *fault_sqlite_realloc(void *p, int n)
{
	if (mutual__fault_alloc_fails(MUTUAL_ALLOC_SQLITE, NULL, 0))
		return NULL;
	return sqlite_mem.xRealloc(p, n);
}

static void install_sqlite_faults(void)
{
	static sqlite3_mem_methods counted;
	if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sqlite_mem) != SQLITE_OK)
		return;
	counted = sqlite_mem;
	counted.xMalloc = fault_sqlite_malloc;
	counted.xFree = fault_sqlite_free;
	counted.xRealloc = fault_sqlite_realloc;
	sqlite3_config(SQLITE_CONFIG_MALLOC, &counted);
}

static pthread_once_t sqlite_faults_once = PTHREAD_ONCE_INIT;
#endif

static int open_handle(mutual_db *db, const char *uri, int flags)
{
	int rc;
#ifdef MUTUAL_TEST_HOOKS
	pthread_once(&sqlite_faults_once, install_sqlite_faults);
#endif
	rc = sqlite3_open_v2(uri, &db->db, flags | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot open the store");
	sqlite3_extended_result_codes(db->db, 1);
	sqlite3_busy_timeout(db->db, MUTUAL_BUSY_TIMEOUT_MS);
	return 0;
}

static void close_handle(mutual_db *db)
{
	sqlite3_stmt **stmts[] = { &db->insert, &db->head, &db->max_hlc, &db->frontier,
		&db->device_add, &db->device_name, &db->device_set_name, &db->meta_get, &db->meta_set,
		&db->seg_tip, &db->seg_by_commit, &db->seg_add, &db->head_of };
	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(stmts); i++) {
		sqlite3_finalize(*stmts[i]);
		*stmts[i] = NULL;
	}
	for (size_t i = 0; i < PENDING_STMTS; i++) {
		sqlite3_finalize(db->pending[i]);
		db->pending[i] = NULL;
	}
	for (size_t i = 0; i < STATE_STMTS; i++) {
		sqlite3_finalize(db->state[i]);
		db->state[i] = NULL;
	}
	sqlite3_close(db->db);
	db->db = NULL;
}

int mutual__db_open(mutual_db **out, const char *path, int flags)
{
	mutual_db *db = mutual__calloc(1, sizeof(*db));
	int rc;

	*out = NULL;
	if (!db)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	if (!(db->path = mutual__strdup(path))) {
		mutual__free(db);
		return MUTUAL_ERROR;
	}
	if (flags & MUTUAL_DB_CREATE) {
		if ((rc = open_handle(db, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) < 0 ||
		    (rc = create_schema(db)) < 0)
			goto fail;
	} else {
		if (access(path, F_OK) != 0) {
			rc = mutual__fail(MUTUAL_ENOTFOUND, "there is no store database at %s", path);
			goto fail;
		}
		rc = open_handle(db, path, (flags & MUTUAL_DB_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
		if (rc == 0)
			rc = check_schema(db);
		if (rc < 0 && rc != MUTUAL_ECORRUPT && rc != MUTUAL_EVERSION && (db->failed_rc & 0xff) != SQLITE_NOMEM) {
			/* Read-only media cannot hold the WAL index: nothing can write
			 * there, so reading the file as immutable is safe. Running out
			 * of memory says nothing of the media: that is reported. */
			char *uri = mutual__malloc(strlen(path) + URI_EXTRA);
			if (!uri) {
				rc = mutual__fail(MUTUAL_ERROR, "out of memory");
				goto fail;
			}
			snprintf(uri, strlen(path) + URI_EXTRA, "file:%s?immutable=1", path);
			close_handle(db);
			rc = open_handle(db, uri, SQLITE_OPEN_READONLY);
			mutual__free(uri);
			if (rc == 0)
				rc = check_schema(db);
			if (rc < 0)
				goto fail;
		}
		if (rc < 0)
			goto fail;
	}
	db->readonly = (flags & MUTUAL_DB_READONLY) || sqlite3_db_readonly(db->db, "main") == 1;
	/* A writable file in a folder we cannot write cannot hold its WAL. */
	if (!db->readonly) {
		char *dir = mutual__strdup(path), *slash;
		if (!dir) {
			rc = MUTUAL_ERROR;
			goto fail;
		}
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		if (access(slash ? dir : ".", W_OK) != 0)
			db->readonly = 1;
		mutual__free(dir);
	}
	if ((rc = exec(db, "PRAGMA synchronous=FULL", "cannot configure the store")) < 0)
		goto fail;
	assert(reads_back(db, "PRAGMA synchronous", 2)); /* NOTES 3: 2 is FULL */
	*out = db;
	return 0;
fail:
	close_handle(db);
	mutual__free(db->path);
	mutual__free(db);
	return rc;
}

void mutual__db_close(mutual_db *db)
{
	if (!db)
		return;
	close_handle(db);
	mutual__free(db->path);
	mutual__free(db);
}

int mutual__db_is_readonly(const mutual_db *db)
{
	return db->readonly;
}

int mutual__db_begin_write(mutual_db *db)
{
	int rc;
	if (db->readonly)
		return mutual__fail(MUTUAL_EREADONLY, "the store is read-only: it cannot be written");
	assert(!db->in_tx); /* transactions do not nest */
	rc = exec(db, "BEGIN IMMEDIATE", "cannot start writing");
	if (rc == 0)
		db->in_tx = 1;
#ifndef NDEBUG
	db->have_last = 0;
#endif
	return rc;
}

int mutual__db_tx_lost(mutual_db *db)
{
	(void)db;
	return mutual__fail(MUTUAL_ERROR, "the store's transaction was rolled back after an error (out of memory, or "
		"the disk): nothing of it was kept; try again");
}

int mutual__db_commit(mutual_db *db)
{
	int rc = exec(db, "COMMIT", "cannot commit");
	if (rc < 0)
		mutual__db_rollback(db);
	db->in_tx = 0;
	return rc;
}

void mutual__db_rollback(mutual_db *db)
{
	if (!sqlite3_get_autocommit(db->db))
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
	db->in_tx = 0;
}

/* Step a statement that returns no rows. */
static int step_done(mutual_db *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, what);
}

int mutual__db_meta_set(mutual_db *db, const char *key, const void *value, size_t len)
{
	WRITING_OR_FAIL(db);
	int rc = prepare(db, &db->meta_set, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(db->meta_set, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(db->meta_set, 2, value, (int)len, SQLITE_STATIC);
	return step_done(db, db->meta_set, "cannot write the store's settings");
}

int mutual__db_meta_delete(mutual_db *db, const char *key)
{
	sqlite3_stmt *st = NULL;
	WRITING_OR_FAIL(db);
	int rc = sqlite3_prepare_v2(db->db, "DELETE FROM meta WHERE key = ?", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db->db);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : db_fail(db, rc, "cannot write the store's settings");
}

static int column_to_buf(mutual_buf *out, sqlite3_stmt *st, int col)
{
	const void *p = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);
	out->len = 0;
	if (mutual__buf_put(out, p, (size_t)n) < 0)
		return MUTUAL_ERROR;
	return mutual__buf_cstr(out);
}

int mutual__db_meta_get(mutual_db *db, const char *key, mutual_buf *out)
{
	int rc = prepare(db, &db->meta_get, "SELECT value FROM meta WHERE key = ?");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(db->meta_get, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(db->meta_get);
	if (rc == SQLITE_ROW)
		rc = column_to_buf(out, db->meta_get, 0);
	else if (rc == SQLITE_DONE)
		rc = mutual__fail(MUTUAL_ENOTFOUND, "the store has no setting '%s'", key);
	else
		rc = db_fail(db, rc, "cannot read the store's settings");
	sqlite3_reset(db->meta_get);
	return rc;
}

int mutual__db_head(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *seq, uint8_t hash[MUTUAL_HASH_SIZE])
{
	int rc = prepare(db, &db->head,
		"SELECT seq, hash FROM events WHERE device = ? ORDER BY seq DESC LIMIT 1");
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(db->head, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	rc = sqlite3_step(db->head);
	*seq = 0;
	memset(hash, 0, MUTUAL_HASH_SIZE);
	if (rc == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(db->head, 0);
		if (sqlite3_column_bytes(db->head, 1) == MUTUAL_HASH_SIZE)
			memcpy(hash, sqlite3_column_blob(db->head, 1), MUTUAL_HASH_SIZE);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = db_fail(db, rc, "cannot read the log's head");
	}
	sqlite3_reset(db->head);
	return rc;
}

int mutual__db_frontier(mutual_db *db, const uint8_t self[MUTUAL_KEY_SIZE], mutual_buf *out, size_t *n)
{
	int rc = prepare(db, &db->frontier,
		"SELECT key, (SELECT MAX(seq) FROM events WHERE device = key) AS head"
		" FROM devices WHERE key != ? AND head IS NOT NULL ORDER BY key");
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(db->frontier, 1, self, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	out->len = 0;
	*n = 0;
	while ((rc = sqlite3_step(db->frontier)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(db->frontier, 0) != MUTUAL_KEY_SIZE)
			continue;
		if (mutual__buf_put(out, sqlite3_column_blob(db->frontier, 0), MUTUAL_KEY_SIZE) < 0 ||
		    mutual__buf_put_u64(out, (uint64_t)sqlite3_column_int64(db->frontier, 1)) < 0) {
			sqlite3_reset(db->frontier);
			return MUTUAL_ERROR;
		}
		(*n)++;
	}
	sqlite3_reset(db->frontier);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, "cannot read the frontier");
}

#ifndef NDEBUG
/* NOTES 2: `ev` is the next event of its device's log. */
static int extends_its_log(mutual_db *db, const mutual_event_rec *ev)
{
	uint64_t seq;
	uint8_t hash[MUTUAL_HASH_SIZE];
	if (db->have_last && memcmp(db->last_device, ev->device, MUTUAL_KEY_SIZE) == 0) {
		seq = db->last_seq;
		memcpy(hash, db->last_hash, MUTUAL_HASH_SIZE);
	} else if (mutual__db_head(db, ev->device, &seq, hash) < 0) {
		return 1; /* the insert below reports the failure */
	}
	return ev->seq == seq + 1 && memcmp(ev->prev, hash, MUTUAL_HASH_SIZE) == 0;
}
#endif

int mutual__db_insert_event(mutual_db *db, const mutual_event_rec *ev)
{
	sqlite3_stmt *st;
	int rc;

	assert(extends_its_log(db, ev)); /* NOTES 2; its read may fail, so check after it: */
	WRITING_OR_FAIL(db);

	if (ev->hlc > INT64_MAX || ev->seq > INT64_MAX)
		return mutual__fail(MUTUAL_EINVALID, "event clock or seq out of range");
	if ((rc = prepare(db, &db->insert,
		"INSERT INTO events(device, seq, hlc, type, payload, digest, prev, frontier, hash, sig)"
		" VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) < 0)
		return rc;
	st = db->insert;
	sqlite3_bind_blob(st, 1, ev->device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ev->seq);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->hlc);
	sqlite3_bind_text(st, 4, ev->type, (int)ev->type_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, ev->payload, (int)ev->payload_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, ev->digest, MUTUAL_HASH_SIZE, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, ev->prev, MUTUAL_HASH_SIZE, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, ev->frontier ? (const void *)ev->frontier : "",
		(int)(ev->frontier_n * MUTUAL_FRONTIER_ENTRY), SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, ev->hash, MUTUAL_HASH_SIZE, SQLITE_STATIC);
	if (ev->has_sig)
		sqlite3_bind_blob(st, 10, ev->sig, MUTUAL_SIG_SIZE, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 10);
	if ((rc = step_done(db, st, "cannot store the event")) < 0)
		return rc;
#ifndef NDEBUG
	db->have_last = 1;
	memcpy(db->last_device, ev->device, MUTUAL_KEY_SIZE);
	db->last_seq = ev->seq;
	memcpy(db->last_hash, ev->hash, MUTUAL_HASH_SIZE);
#endif
	if (ev->seq == 1) {
		if ((rc = prepare(db, &db->device_add, "INSERT OR IGNORE INTO devices(key) VALUES(?)")) < 0)
			return rc;
		sqlite3_bind_blob(db->device_add, 1, ev->device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
		return step_done(db, db->device_add, "cannot record the device");
	}
	return 0;
}

int mutual__db_device_set_name(mutual_db *db, const uint8_t key[MUTUAL_KEY_SIZE], const char *name)
{
	WRITING_OR_FAIL(db);
	int rc = prepare(db, &db->device_set_name,
		"INSERT INTO devices(key, name) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET name = ?2");
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(db->device_set_name, 1, key, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_text(db->device_set_name, 2, name, -1, SQLITE_STATIC);
	return step_done(db, db->device_set_name, "cannot record the device's name");
}

int mutual__db_device_name(mutual_db *db, const uint8_t key[MUTUAL_KEY_SIZE], mutual_buf *out)
{
	int rc = prepare(db, &db->device_name, "SELECT name FROM devices WHERE key = ?");
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(db->device_name, 1, key, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	rc = sqlite3_step(db->device_name);
	if (rc == SQLITE_ROW) {
		rc = column_to_buf(out, db->device_name, 0);
	} else if (rc == SQLITE_DONE) {
		out->len = 0;
		rc = mutual__buf_cstr(out);
	} else {
		rc = db_fail(db, rc, "cannot read the device's name");
	}
	sqlite3_reset(db->device_name);
	return rc;
}

#define EVENT_COLUMNS "device, seq, hlc, type, payload, digest, prev, frontier, hash, sig"
#define QUARANTINED_COLUMN ", EXISTS(SELECT 1 FROM forks f WHERE f.device = events.device AND events.seq >= f.seq)"
#define REFUSED_COLUMN ", EXISTS(SELECT 1 FROM removals r WHERE r.device = events.device AND events.seq > r.cut)"
#define IS_WAITING "EXISTS(SELECT 1 FROM event_waiting w WHERE w.device = events.device AND w.seq = events.seq)"
#define IS_HELD_BACK "EXISTS(SELECT 1 FROM event_held_back h WHERE h.device = events.device AND h.seq = events.seq)"
#define PENDING_COLUMN ", " IS_WAITING " + 2 * " IS_HELD_BACK

/* Fill `ev` from a row of EVENT_COLUMNS; pointers borrow the row's memory. */
static int row_to_event(mutual_event_rec *ev, sqlite3_stmt *st)
{
	int frontier_len;

	memset(ev, 0, sizeof(*ev));
	if (sqlite3_column_bytes(st, 0) != MUTUAL_KEY_SIZE || sqlite3_column_bytes(st, 5) != MUTUAL_HASH_SIZE ||
	    sqlite3_column_bytes(st, 6) != MUTUAL_HASH_SIZE || sqlite3_column_bytes(st, 8) != MUTUAL_HASH_SIZE)
		return mutual__fail(MUTUAL_ECORRUPT, "the store holds a malformed event row");
	memcpy(ev->device, sqlite3_column_blob(st, 0), MUTUAL_KEY_SIZE);
	ev->seq = (uint64_t)sqlite3_column_int64(st, 1);
	ev->hlc = (uint64_t)sqlite3_column_int64(st, 2);
	ev->type = (const char *)sqlite3_column_text(st, 3);
	ev->type_len = (size_t)sqlite3_column_bytes(st, 3);
	ev->payload = sqlite3_column_blob(st, 4);
	ev->payload_len = (size_t)sqlite3_column_bytes(st, 4);
	if (!ev->payload)
		ev->payload = "";
	memcpy(ev->digest, sqlite3_column_blob(st, 5), MUTUAL_HASH_SIZE);
	memcpy(ev->prev, sqlite3_column_blob(st, 6), MUTUAL_HASH_SIZE);
	ev->frontier = sqlite3_column_blob(st, 7);
	frontier_len = sqlite3_column_bytes(st, 7);
	if (frontier_len % MUTUAL_FRONTIER_ENTRY != 0)
		return mutual__fail(MUTUAL_ECORRUPT, "the store holds a malformed frontier");
	ev->frontier_n = (size_t)frontier_len / MUTUAL_FRONTIER_ENTRY;
	memcpy(ev->hash, sqlite3_column_blob(st, 8), MUTUAL_HASH_SIZE);
	if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
		if (sqlite3_column_bytes(st, 9) != MUTUAL_SIG_SIZE)
			return mutual__fail(MUTUAL_ECORRUPT, "the store holds a malformed signature");
		ev->has_sig = 1;
		memcpy(ev->sig, sqlite3_column_blob(st, 9), MUTUAL_SIG_SIZE);
	}
	if (!ev->type)
		return mutual__fail(MUTUAL_ECORRUPT, "the store holds an event without a type");
	if (sqlite3_column_count(st) > 10)
		ev->quarantined = sqlite3_column_int(st, 10);
	if (sqlite3_column_count(st) > 11)
		ev->pending = sqlite3_column_int(st, 11);
	if (sqlite3_column_count(st) > 12)
		ev->refused = sqlite3_column_int(st, 12);
	return 0;
}

int mutual__db_iter_new(mutual_db_iter **out, mutual_db *db, const mutual_db_filter *f)
{
	mutual_buf sql = { 0 };
	mutual_db_iter *it;
	int rc, i = 1;

	*out = NULL;
	if (mutual__buf_printf(&sql, "SELECT " EVENT_COLUMNS QUARANTINED_COLUMN PENDING_COLUMN REFUSED_COLUMN " FROM events WHERE 1") < 0 ||
	    (f->applied_only && mutual__buf_printf(&sql, " AND NOT " IS_WAITING " AND NOT " IS_HELD_BACK) < 0) ||
	    (f->type && mutual__buf_printf(&sql, " AND type = ?") < 0) ||
	    (f->device && mutual__buf_printf(&sql, " AND device = ?") < 0) ||
	    (f->has_after && mutual__buf_printf(&sql, " AND (hlc, device, seq) > (?, ?, ?)") < 0) ||
	    mutual__buf_printf(&sql, " ORDER BY hlc, device, seq") < 0 ||
	    (f->limit && mutual__buf_printf(&sql, " LIMIT ?") < 0)) {
		mutual__buf_free(&sql);
		return MUTUAL_ERROR;
	}
	if (!(it = mutual__calloc(1, sizeof(*it)))) {
		mutual__buf_free(&sql);
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	}
	it->db = db;
	rc = sqlite3_prepare_v2(db->db, (const char *)sql.data, -1, &it->stmt, NULL);
	mutual__buf_free(&sql);
	if (rc != SQLITE_OK) {
		mutual__free(it);
		return db_fail(db, rc, "cannot read the log");
	}
	/* A copy (SQLITE_TRANSIENT) can fail for want of memory; a filter left
	 * unbound would match nothing, silently. */
	rc = SQLITE_OK;
	if (f->type)
		rc = sqlite3_bind_text(it->stmt, i++, f->type, -1, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK && f->device)
		rc = sqlite3_bind_blob(it->stmt, i++, f->device, MUTUAL_KEY_SIZE, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK && f->has_after) {
		sqlite3_bind_int64(it->stmt, i++, (sqlite3_int64)f->after_hlc);
		rc = sqlite3_bind_blob(it->stmt, i++, f->after_device, MUTUAL_KEY_SIZE, SQLITE_TRANSIENT);
		sqlite3_bind_int64(it->stmt, i++, (sqlite3_int64)f->after_seq);
	}
	if (rc == SQLITE_OK && f->limit)
		sqlite3_bind_int64(it->stmt, i++, f->limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)f->limit);
	if (rc != SQLITE_OK) {
		rc = db_fail(db, rc, "cannot read the log");
		mutual__db_iter_free(it);
		return rc;
	}
	*out = it;
	return 0;
}

int mutual__db_iter_next(mutual_event_rec *ev, mutual_db_iter *it)
{
	int rc;
	if (it->over)
		return MUTUAL_ITEROVER;
	rc = sqlite3_step(it->stmt);
	if (rc == SQLITE_ROW)
		return row_to_event(ev, it->stmt);
	it->over = 1;
	if (rc == SQLITE_DONE)
		return MUTUAL_ITEROVER;
	return db_fail(it->db, rc, "cannot read the log");
}

void mutual__db_iter_free(mutual_db_iter *it)
{
	if (!it)
		return;
	sqlite3_finalize(it->stmt);
	mutual__free(it);
}

int mutual__db_event_get(mutual_event_rec *ev, mutual_buf *scratch, mutual_db *db,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db,
		"SELECT " EVENT_COLUMNS QUARANTINED_COLUMN PENDING_COLUMN REFUSED_COLUMN " FROM events WHERE device = ? AND seq = ?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot read the event");
	sqlite3_bind_blob(st, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq > INT64_MAX ? INT64_MAX : (sqlite3_int64)seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		/* Copy type, payload and frontier out of the row before it goes. */
		mutual_event_rec row;
		size_t type_off, payload_off, frontier_off;
		rc = row_to_event(&row, st);
		if (rc == 0) {
			scratch->len = 0;
			type_off = 0;
			payload_off = row.type_len + 1;
			frontier_off = payload_off + row.payload_len + 1;
			if (mutual__buf_put(scratch, row.type, row.type_len) < 0 || mutual__buf_put_u8(scratch, 0) < 0 ||
			    mutual__buf_put(scratch, row.payload, row.payload_len) < 0 || mutual__buf_put_u8(scratch, 0) < 0 ||
			    mutual__buf_put(scratch, row.frontier, row.frontier_n * MUTUAL_FRONTIER_ENTRY) < 0) {
				rc = MUTUAL_ERROR;
			} else {
				*ev = row;
				ev->type = (const char *)scratch->data + type_off;
				ev->payload = (const char *)scratch->data + payload_off;
				ev->frontier = scratch->data + frontier_off;
			}
		}
	} else if (rc == SQLITE_DONE) {
		rc = mutual__fail(MUTUAL_ENOTFOUND, "the store holds no such event");
	} else {
		rc = db_fail(db, rc, "cannot read the event");
	}
	sqlite3_finalize(st);
	return rc;
}

int mutual__db_devices(mutual_db *db, mutual_db_device_cb cb, void *payload)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db,
		"SELECT key, name, (SELECT MAX(seq) FROM events WHERE device = key),"
		" (SELECT COUNT(*) FROM events WHERE device = key),"
		" (SELECT seq FROM forks WHERE forks.device = key), (SELECT cut FROM removals WHERE removals.device = key)"
		" FROM devices ORDER BY key",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot list the devices");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mutual_db_device d;
		int stop;
		if (sqlite3_column_bytes(st, 0) != MUTUAL_KEY_SIZE)
			continue;
		d.key = sqlite3_column_blob(st, 0);
		d.name = (const char *)sqlite3_column_text(st, 1);
		d.head_seq = (uint64_t)sqlite3_column_int64(st, 2);
		d.events = (uint64_t)sqlite3_column_int64(st, 3);
		d.fork_seq = (uint64_t)sqlite3_column_int64(st, 4);
		d.removed = sqlite3_column_type(st, 5) != SQLITE_NULL;
		d.removed_cut = (uint64_t)sqlite3_column_int64(st, 5);
		if (!d.name)
			d.name = "";
		if ((stop = cb(&d, payload)) != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, "cannot list the devices");
}

int mutual__db_chains(mutual_db *db, mutual_db_event_cb cb, void *payload)
{
	return mutual__db_chain(db, NULL, 1, cb, payload);
}

int mutual__db_chain(mutual_db *db, const uint8_t *device, uint64_t from_seq, mutual_db_event_cb cb, void *payload)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db, device
		? "SELECT " EVENT_COLUMNS " FROM events WHERE device = ? AND seq >= ? ORDER BY seq"
		: "SELECT " EVENT_COLUMNS " FROM events ORDER BY device, seq", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot read the log");
	if (device) {
		sqlite3_bind_blob(st, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, from_seq > INT64_MAX ? INT64_MAX : (sqlite3_int64)from_seq);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mutual_event_rec ev;
		int stop = row_to_event(&ev, st);
		if (stop == 0)
			stop = cb(&ev, payload);
		if (stop != 0) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, "cannot read the log");
}

int mutual__db_integrity(mutual_db *db)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db, "PRAGMA integrity_check(1)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot check the store");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *msg = (const char *)sqlite3_column_text(st, 0);
		const char *page = msg ? strstr(msg, "unable to get the page. error code=") : NULL;
		int code;
		/* A page SQLite could not read (out of memory, an I/O error) is
		 * reported as a row, not an error, but says nothing of the
		 * file: only a page that reads and is wrong is damage. */
		if (page && sscanf(page, "unable to get the page. error code=%d", &code) == 1 &&
		    (code & 0xff) != SQLITE_CORRUPT && (code & 0xff) != SQLITE_NOTADB)
			rc = db_fail(db, code, "cannot check the store");
		else if (msg && strcmp(msg, "ok") != 0)
			rc = mutual__fail(MUTUAL_ECORRUPT, "the store's database is damaged: %s", msg);
		else if (!msg)
			rc = db_fail(db, SQLITE_NOMEM, "cannot check the store");
		else
			rc = 0;
	} else {
		rc = db_fail(db, rc, "cannot check the store");
	}
	sqlite3_finalize(st);
	return rc;
}

int mutual__db_segment_tip(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *last_seq, uint8_t commit[20])
{
	int rc = prepare(db, &db->seg_tip,
		"SELECT last_seq, commit_id FROM segments WHERE device = ? ORDER BY first_seq DESC LIMIT 1");
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(db->seg_tip, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	rc = sqlite3_step(db->seg_tip);
	*last_seq = 0;
	if (rc == SQLITE_ROW && sqlite3_column_bytes(db->seg_tip, 1) == 20) {
		*last_seq = (uint64_t)sqlite3_column_int64(db->seg_tip, 0);
		memcpy(commit, sqlite3_column_blob(db->seg_tip, 1), 20);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = MUTUAL_ENOTFOUND;
	} else {
		rc = db_fail(db, rc, "cannot read what was synced");
	}
	sqlite3_reset(db->seg_tip);
	return rc;
}

int mutual__db_segment_find(mutual_db *db, const uint8_t commit[20], uint8_t device[MUTUAL_KEY_SIZE], uint64_t *first_seq,
	uint64_t *last_seq)
{
	int rc = prepare(db, &db->seg_by_commit,
		"SELECT device, first_seq, last_seq FROM segments WHERE commit_id = ?");
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(db->seg_by_commit, 1, commit, 20, SQLITE_STATIC);
	rc = sqlite3_step(db->seg_by_commit);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(db->seg_by_commit, 0) == MUTUAL_KEY_SIZE) {
		memcpy(device, sqlite3_column_blob(db->seg_by_commit, 0), MUTUAL_KEY_SIZE);
		*first_seq = (uint64_t)sqlite3_column_int64(db->seg_by_commit, 1);
		*last_seq = (uint64_t)sqlite3_column_int64(db->seg_by_commit, 2);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = MUTUAL_ENOTFOUND;
	} else {
		rc = db_fail(db, rc, "cannot read what was synced");
	}
	sqlite3_reset(db->seg_by_commit);
	return rc;
}

int mutual__db_segment_add(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t first_seq, uint64_t last_seq,
	const uint8_t commit[20])
{
	WRITING_OR_FAIL(db);
	int rc = prepare(db, &db->seg_add,
		"INSERT INTO segments(device, first_seq, last_seq, commit_id) VALUES(?, ?, ?, ?)");
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(db->seg_add, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(db->seg_add, 2, (sqlite3_int64)first_seq);
	sqlite3_bind_int64(db->seg_add, 3, (sqlite3_int64)last_seq);
	sqlite3_bind_blob(db->seg_add, 4, commit, 20, SQLITE_STATIC);
	return step_done(db, db->seg_add, "cannot record a synced segment");
}

int mutual__db_sync_bytes_recent(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t out[MUTUAL_DB_SYNC_HISTORY],
	size_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db,
		"SELECT bytes FROM device_sync_bytes WHERE device = ? ORDER BY id DESC LIMIT ?", -1, &st, NULL);
	*n = 0;
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot read a device's sync history");
	sqlite3_bind_blob(st, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, MUTUAL_DB_SYNC_HISTORY);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < MUTUAL_DB_SYNC_HISTORY)
		out[(*n)++] = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, "cannot read a device's sync history");
}

int mutual__db_sync_bytes_add(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t bytes)
{
	WRITING_OR_FAIL(db);
	static const char *const sql[] = {
		"INSERT INTO device_sync_bytes(device, bytes) VALUES(?1, ?2)",
		"DELETE FROM device_sync_bytes WHERE device = ?1 AND id NOT IN"
		" (SELECT id FROM device_sync_bytes WHERE device = ?1 ORDER BY id DESC LIMIT ?3)",
	};
	int rc = 0;

	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(sql) && rc == 0; i++) {
		sqlite3_stmt *st = NULL;
		if ((rc = sqlite3_prepare_v2(db->db, sql[i], -1, &st, NULL)) != SQLITE_OK)
			return db_fail(db, rc, "cannot record a device's sync history");
		sqlite3_bind_blob(st, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
		if (i == 0)
			sqlite3_bind_int64(st, 2, (sqlite3_int64)bytes);
		else
			sqlite3_bind_int(st, 3, MUTUAL_DB_SYNC_HISTORY);
		rc = step_done(db, st, "cannot record a device's sync history");
		sqlite3_finalize(st);
	}
	return rc;
}

int mutual__db_segment_tips(mutual_db *db, mutual_db_tip_cb cb, void *payload)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db,
		"SELECT device, last_seq, commit_id FROM segments s WHERE first_seq ="
		" (SELECT MAX(first_seq) FROM segments WHERE device = s.device) ORDER BY device", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot read what was synced");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int stop;
		if (sqlite3_column_bytes(st, 0) != MUTUAL_KEY_SIZE || sqlite3_column_bytes(st, 2) != 20)
			continue;
		stop = cb(sqlite3_column_blob(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
			sqlite3_column_blob(st, 2), payload);
		if (stop) {
			sqlite3_finalize(st);
			return stop;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, "cannot read what was synced");
}

int mutual__db_fork_get(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *seq, mutual_buf *proof)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db, "SELECT seq, proof FROM forks WHERE device = ?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot read forks");
	sqlite3_bind_blob(st, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
		rc = proof ? column_to_buf(proof, st, 1) : 0;
	} else if (rc == SQLITE_DONE) {
		rc = MUTUAL_ENOTFOUND;
	} else {
		rc = db_fail(db, rc, "cannot read forks");
	}
	sqlite3_finalize(st);
	return rc;
}

int mutual__db_fork_set(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, const uint8_t *proof, size_t len)
{
	sqlite3_stmt *st = NULL;
	WRITING_OR_FAIL(db);
	int rc = sqlite3_prepare_v2(db->db, "INSERT OR REPLACE INTO forks(device, seq, proof) VALUES(?, ?, ?)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot record a fork");
	sqlite3_bind_blob(st, 1, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	sqlite3_bind_blob(st, 3, proof, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, "cannot record a fork");
}

int mutual__db_fail(mutual_db *db, int rc, const char *what)
{
	return db_fail(db, rc, what);
}

int mutual__db_sqlite_step_done(mutual_db *db, sqlite3_stmt *st, const char *what)
{
	return step_done(db, st, what);
}

/* ------------------------------------------------------- pending events */

static int pending_stmt(mutual_db *db, int which, const char *sql, sqlite3_stmt **out)
{
	int rc = prepare(db, &db->pending[which], sql);
	*out = db->pending[which];
	return rc;
}

static void bind_id(sqlite3_stmt *st, int col, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq)
{
	sqlite3_bind_blob(st, col, device, MUTUAL_KEY_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(st, col + 1, seq > INT64_MAX ? INT64_MAX : (sqlite3_int64)seq);
}

int mutual__db_event_state(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, int *state, uint64_t *hlc)
{
	sqlite3_stmt *st;
	int rc = pending_stmt(db, PENDING_STATE,
		"SELECT hlc" PENDING_COLUMN " FROM events WHERE device = ? AND seq = ?", &st);
	if (rc < 0)
		return rc;
	bind_id(st, 1, device, seq);
	rc = sqlite3_step(st);
	*state = MUTUAL_DB_NOT_HELD;
	*hlc = 0;
	if (rc == SQLITE_ROW) {
		int pending = sqlite3_column_int(st, 1);
		*hlc = (uint64_t)sqlite3_column_int64(st, 0);
		*state = pending & 1 ? MUTUAL_DB_WAITING : pending ? MUTUAL_DB_HELD_BACK : MUTUAL_DB_APPLIED;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, "cannot read an event's state");
}

int mutual__db_wait(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, uint32_t need_index,
	const uint8_t need_device[MUTUAL_KEY_SIZE], uint64_t need_seq)
{
	sqlite3_stmt *st;
	WRITING_OR_FAIL(db);
	int rc = pending_stmt(db, PENDING_WAIT, "INSERT OR REPLACE INTO event_waiting(device, seq, need_index,"
		" need_device, need_seq) VALUES(?, ?, ?, ?, ?)", &st);
	if (rc < 0)
		return rc;
	bind_id(st, 1, device, seq);
	sqlite3_bind_int64(st, 3, need_index);
	bind_id(st, 4, need_device, need_seq);
	return step_done(db, st, "cannot record a waiting event");
}

int mutual__db_unwait(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq)
{
	sqlite3_stmt *st;
	WRITING_OR_FAIL(db);
	int rc = pending_stmt(db, PENDING_UNWAIT, "DELETE FROM event_waiting WHERE device = ? AND seq = ?", &st);
	if (rc < 0)
		return rc;
	bind_id(st, 1, device, seq);
	return step_done(db, st, "cannot record a waiting event");
}

/* Append each row's device (32) | seq (u64) [| need_index (u32)] to `out`. */
static int collect_ids(mutual_db *db, sqlite3_stmt *st, int with_index, mutual_buf *out, const char *what)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != MUTUAL_KEY_SIZE)
			continue;
		if (mutual__buf_put(out, sqlite3_column_blob(st, 0), MUTUAL_KEY_SIZE) < 0 ||
		    mutual__buf_put_u64(out, (uint64_t)sqlite3_column_int64(st, 1)) < 0 ||
		    (with_index && mutual__buf_put_u32(out, (uint32_t)sqlite3_column_int64(st, 2)) < 0)) {
			sqlite3_reset(st);
			return MUTUAL_ERROR;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, what);
}

int mutual__db_waiters(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, mutual_buf *out)
{
	sqlite3_stmt *st;
	int rc = pending_stmt(db, PENDING_WAITERS, "SELECT device, seq, need_index FROM event_waiting"
		" WHERE need_device = ? AND need_seq = ?", &st);
	if (rc < 0)
		return rc;
	bind_id(st, 1, device, seq);
	return collect_ids(db, st, 1, out, "cannot read the waiting events");
}

int mutual__db_hold_back(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq)
{
	sqlite3_stmt *st;
	WRITING_OR_FAIL(db);
	int rc = pending_stmt(db, PENDING_HOLD, "INSERT OR IGNORE INTO event_held_back(device, seq) VALUES(?, ?)", &st);
	if (rc < 0)
		return rc;
	bind_id(st, 1, device, seq);
	return step_done(db, st, "cannot hold an event back");
}

int mutual__db_hold_back_cause(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq,
	const uint8_t cause_device[MUTUAL_KEY_SIZE], uint64_t cause_seq)
{
	sqlite3_stmt *st;
	WRITING_OR_FAIL(db);
	int rc = pending_stmt(db, PENDING_HOLD_CAUSE, "INSERT OR IGNORE INTO held_back_causes(cause_device, cause_seq,"
		" device, seq) VALUES(?, ?, ?, ?)", &st);
	if (rc < 0)
		return rc;
	bind_id(st, 1, cause_device, cause_seq);
	bind_id(st, 3, device, seq);
	return step_done(db, st, "cannot hold an event back");
}

int mutual__db_held_by(mutual_db *db, const uint8_t cause_device[MUTUAL_KEY_SIZE], uint64_t cause_seq, mutual_buf *out)
{
	sqlite3_stmt *st;
	int rc = pending_stmt(db, PENDING_HELD_BY, "SELECT device, seq FROM held_back_causes"
		" WHERE cause_device = ? AND cause_seq = ?", &st);
	if (rc < 0)
		return rc;
	bind_id(st, 1, cause_device, cause_seq);
	return collect_ids(db, st, 0, out, "cannot read the held-back events");
}

int mutual__db_release(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq)
{
	sqlite3_stmt *st;
	WRITING_OR_FAIL(db);
	int rc = pending_stmt(db, PENDING_RELEASE, "DELETE FROM event_held_back WHERE device = ? AND seq = ?", &st);
	if (rc < 0)
		return rc;
	bind_id(st, 1, device, seq);
	if ((rc = step_done(db, st, "cannot release a held-back event")) < 0 ||
	    (rc = pending_stmt(db, PENDING_RELEASE_CAUSES, "DELETE FROM held_back_causes WHERE device = ? AND seq = ?",
		     &st)) < 0)
		return rc;
	bind_id(st, 1, device, seq);
	return step_done(db, st, "cannot release a held-back event");
}

int mutual__db_pending_clear(mutual_db *db)
{
	WRITING_OR_FAIL(db);
	return exec(db, "DELETE FROM event_waiting; DELETE FROM event_held_back; DELETE FROM held_back_causes;",
		"cannot reset the pending events");
}

int mutual__db_pending_counts(mutual_db *db, uint64_t *waiting, uint64_t *held_back)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->db, "SELECT (SELECT COUNT(*) FROM event_waiting),"
		" (SELECT COUNT(*) FROM event_held_back)", -1, &st, NULL);
	*waiting = *held_back = 0;
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*waiting = (uint64_t)sqlite3_column_int64(st, 0);
		*held_back = (uint64_t)sqlite3_column_int64(st, 1);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : db_fail(db, rc, "cannot count the pending events");
}

int mutual__db_max_hlc(mutual_db *db, uint64_t limit, uint64_t *out)
{
	sqlite3_stmt *st;
	int rc = pending_stmt(db, PENDING_MAX_HLC, "SELECT hlc FROM events WHERE hlc <= ? AND NOT " IS_WAITING
		" AND NOT " IS_HELD_BACK " ORDER BY hlc DESC LIMIT 1", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(db, rc, "cannot read the clock");
}

int mutual__db_data_version(mutual_db *db, uint32_t *out)
{
	int rc = sqlite3_file_control(db->db, "main", SQLITE_FCNTL_DATA_VERSION, out);
	return rc == SQLITE_OK ? 0 : db_fail(db, rc, "cannot tell whether the store changed");
}
