/*
 * db.h - the library's one door to SQLite: the local store's schema, its
 * migrations, transactions, and every query (db.c; the built-in
 * projections' tables in db_state.c, the app projections' in db_apps.c,
 * the last two sections here). Callers see events as mutual_event_rec,
 * rows as typed structs, and never a statement or an SQLite code.
 */
#ifndef MUTUAL_DB_H
#define MUTUAL_DB_H

#include <stdint.h>

#include "common.h"
#include "event.h"

#define MUTUAL_SCHEMA_VERSION 7
#define MUTUAL_DB_FILE "mutual.db"

typedef struct mutual_db mutual_db;

enum { MUTUAL_DB_CREATE = 1, MUTUAL_DB_READONLY = 2 };

/* Open (or with MUTUAL_DB_CREATE, create with the current schema) the
 * database at `path`. An existing store of an older schema is migrated. */
int mutual__db_open(mutual_db **out, const char *path, int flags);
void mutual__db_close(mutual_db *db);
int mutual__db_is_readonly(const mutual_db *db);

/* A write transaction that takes the write lock at once (BEGIN IMMEDIATE),
 * waiting up to MUTUAL_BUSY_TIMEOUT_MS for other processes. */
int mutual__db_begin_write(mutual_db *db);
int mutual__db_commit(mutual_db *db);
void mutual__db_rollback(mutual_db *db);

int mutual__db_meta_set(mutual_db *db, const char *key, const void *value, size_t len);
int mutual__db_meta_delete(mutual_db *db, const char *key);
/* MUTUAL_ENOTFOUND if unset. The value is NUL-terminated in `out`. */
int mutual__db_meta_get(mutual_db *db, const char *key, mutual_buf *out);

/* The device's highest seq and that event's hash (0 and zeros if none). */
int mutual__db_head(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *seq, uint8_t hash[MUTUAL_HASH_SIZE]);
/* The highest HLC of an applied event at most `limit` (0 if none). */
int mutual__db_max_hlc(mutual_db *db, uint64_t limit, uint64_t *out);
/* Every device except `self` with its highest seq, as frontier entries. */
int mutual__db_frontier(mutual_db *db, const uint8_t self[MUTUAL_KEY_SIZE], mutual_buf *out, size_t *n);

/* Insert one event (inside a write transaction). */
int mutual__db_insert_event(mutual_db *db, const mutual_event_rec *ev);
int mutual__db_device_set_name(mutual_db *db, const uint8_t key[MUTUAL_KEY_SIZE], const char *name);
/* "" when unknown; `out` is NUL-terminated. */
int mutual__db_device_name(mutual_db *db, const uint8_t key[MUTUAL_KEY_SIZE], mutual_buf *out);

/* Read events in the total order (hlc, device, seq). */
typedef struct mutual_db_iter mutual_db_iter;
typedef struct {
	const char *type;
	const uint8_t *device;
	int has_after;
	uint64_t after_hlc;
	uint8_t after_device[MUTUAL_KEY_SIZE];
	uint64_t after_seq;
	uint64_t limit;
	int applied_only; /* leave out waiting and held-back events */
} mutual_db_filter;
int mutual__db_iter_new(mutual_db_iter **out, mutual_db *db, const mutual_db_filter *f);
/* 0 with `ev` filled (borrowed until the next call), or MUTUAL_ITEROVER. */
int mutual__db_iter_next(mutual_event_rec *ev, mutual_db_iter *it);
void mutual__db_iter_free(mutual_db_iter *it);

/* One event by id; `ev` points into `scratch`, MUTUAL_ENOTFOUND if absent. */
int mutual__db_event_get(mutual_event_rec *ev, mutual_buf *scratch, mutual_db *db,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq);

typedef struct {
	const uint8_t *key;
	const char *name;
	uint64_t head_seq;
	uint64_t events;
	uint64_t fork_seq; /* 0 when not forked */
	int removed;          /* a coordinator removed it: its events after removed_cut are refused */
	uint64_t removed_cut;
} mutual_db_device;
typedef int (*mutual_db_device_cb)(const mutual_db_device *d, void *payload);
int mutual__db_devices(mutual_db *db, mutual_db_device_cb cb, void *payload);

/* Every event ordered by (device, seq), for verification. */
typedef int (*mutual_db_event_cb)(const mutual_event_rec *ev, void *payload);
int mutual__db_chains(mutual_db *db, mutual_db_event_cb cb, void *payload);

/* The events of one device from `from_seq` on, in seq order. */
int mutual__db_chain(mutual_db *db, const uint8_t *device, uint64_t from_seq, mutual_db_event_cb cb, void *payload);

/* Sync bookkeeping: which commit carries which run of a device's events. */
int mutual__db_segment_tip(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *last_seq, uint8_t commit[20]);
int mutual__db_segment_find(mutual_db *db, const uint8_t commit[20], uint8_t device[MUTUAL_KEY_SIZE], uint64_t *first_seq,
	uint64_t *last_seq);
int mutual__db_segment_add(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t first_seq, uint64_t last_seq,
	const uint8_t commit[20]);
typedef int (*mutual_db_tip_cb)(const uint8_t *device, uint64_t last_seq, const uint8_t *commit, void *payload);
/* Each device's latest segment, ordered by device. */
int mutual__db_segment_tips(mutual_db *db, mutual_db_tip_cb cb, void *payload);

/* Per device, the bytes each of its last MUTUAL_DB_SYNC_HISTORY syncs that
 * imported any of its events imported (sync_import.c's flood report):
 * `out[0..*n)`, newest first. _add records one sync (inside a write
 * transaction) and forgets what is older than the last
 * MUTUAL_DB_SYNC_HISTORY. */
#define MUTUAL_DB_SYNC_HISTORY 10
int mutual__db_sync_bytes_recent(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t out[MUTUAL_DB_SYNC_HISTORY],
	size_t *n);
int mutual__db_sync_bytes_add(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t bytes);

/* Forks: MUTUAL_ENOTFOUND when the device has none; `proof` may be NULL. */
int mutual__db_fork_get(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *seq, mutual_buf *proof);
int mutual__db_fork_set(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, const uint8_t *proof, size_t len);

/* Pending events: what deliver.c decides, stored. An event held but not
 * applied either waits for a cause it names (need_index: which frontier
 * entry) or is held back for its clock. */
enum { MUTUAL_DB_NOT_HELD, MUTUAL_DB_APPLIED, MUTUAL_DB_WAITING, MUTUAL_DB_HELD_BACK };
int mutual__db_event_state(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, int *state, uint64_t *hlc);
int mutual__db_wait(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, uint32_t need_index,
	const uint8_t need_device[MUTUAL_KEY_SIZE], uint64_t need_seq);
int mutual__db_unwait(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq);
/* The events waiting for (device, seq), appended to `out` as
 * device (32) | seq (u64) | need_index (u32). */
int mutual__db_waiters(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, mutual_buf *out);
int mutual__db_hold_back(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq);
/* A cause, held but not applied, whose admission may admit (device, seq). */
int mutual__db_hold_back_cause(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq,
	const uint8_t cause_device[MUTUAL_KEY_SIZE], uint64_t cause_seq);
/* The held-back events that wait on this cause, as device (32) | seq (u64). */
int mutual__db_held_by(mutual_db *db, const uint8_t cause_device[MUTUAL_KEY_SIZE], uint64_t cause_seq, mutual_buf *out);
/* No longer held back (it is applied, or about to be judged again). */
int mutual__db_release(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq);
int mutual__db_pending_clear(mutual_db *db);
int mutual__db_pending_counts(mutual_db *db, uint64_t *waiting, uint64_t *held_back);

/* SQLite's own integrity check; MUTUAL_ECORRUPT with its first complaint. */
int mutual__db_integrity(mutual_db *db);

/* A number that changes whenever the database changed, through this handle
 * or any other process (the pager's data version, as of this handle's last
 * read): caches of derived data compare it to see whether they are stale. */
int mutual__db_data_version(mutual_db *db, uint32_t *out);

/* ------------------------------------------------------------------------
 * The built-in projections' tables (db_state.c), for project.c, which
 * holds the rules (its NOTES ON THE DESIGN); these only store and read.
 * kind, id, field and counter keys are NUL-terminated names; a device is
 * its 32-byte key; a seen vector is frontier entries, device (32) | seq
 * (u64), sorted by device. Writes run inside the caller's write
 * transaction. Errors: MUTUAL_EBUSY, MUTUAL_EREADONLY, MUTUAL_ECORRUPT,
 * MUTUAL_ERROR (out of memory, a full disk, ...), with a message.
 */

/* A field's seen vector into `out` (emptied first; left empty when the
 * field has none yet), and its replacement. */
int mutual__db_seen_get(mutual_db *db, const char *kind, const char *id, const char *field, mutual_buf *out);
int mutual__db_seen_set(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t *vec, size_t n);

/* Entity field history (project.c NOTES 2): record an applied write (the
 * event must be stored: MUTUAL_ENOTFOUND otherwise), and the highest seq
 * of `device` that any recorded write of the field saw. */
int mutual__db_history_add(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq);
int mutual__db_history_seen(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *out);

/* The writes a field keeps (its value and open conflicts): _list appends
 * each one's id to `out` as device (32) | seq (u64), in no order; _add
 * keeps one (replacing the same write), _drop forgets one, _clear forgets
 * every write of the field (only the test hook MUTUAL_TEST_LAST_ARRIVAL_WINS
 * does that). `value` is canonical JSON, `value_len` bytes. */
int mutual__db_field_writes_list(mutual_db *db, const char *kind, const char *id, const char *field,
	mutual_buf *out);
int mutual__db_field_write_add(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, uint64_t hlc, const char *value, size_t value_len);
int mutual__db_field_write_drop(mutual_db *db, const char *kind, const char *id, const char *field,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq);
int mutual__db_field_writes_clear(mutual_db *db, const char *kind, const char *id, const char *field);

/* After an event changed an entity's kept writes: its resolved registers
 * anew (its packed row in `entities`, and the value index entity_values
 * for the fields whose value changed). `old` and `now` are the caller's
 * scratch buffers, reused. */
int mutual__db_entity_resolve(mutual_db *db, const char *kind, const char *id, mutual_buf *old, mutual_buf *now);
/* One field of a packed row: its strings and writer point into the row. */
typedef struct {
	const char *name, *value, *text; /* text: the decoded string, or NULL */
	const uint8_t *device;           /* 32 bytes */
	uint64_t seq, hlc;
	uint32_t n_conflicts;
} mutual_db_packed_field;
/* The field at *pos of a packed row of `len` bytes, *pos moved past it:
 * 1, or 0 at the end; MUTUAL_ECORRUPT when the row is damaged. */
int mutual__db_packed_next(mutual_db_packed_field *out, const uint8_t *row, size_t len, size_t *pos);

/* A counter's value (0 when it has none yet), and its replacement. */
int mutual__db_counter_get(mutual_db *db, const char *key, int64_t *out);
int mutual__db_counter_set(mutual_db *db, const char *key, int64_t value);

/* One kept write of an entity field, as mutual__db_entity_rows reads it.
 * Every pointer is borrowed for the callback only. */
typedef struct {
	const char *id, *field;
	const char *value;     /* canonical JSON, NUL-terminated */
	const char *text;      /* the value decoded when a string (no U+0000), else NULL;
				  only mutual__db_field_conflicts reads it */
	const uint8_t *device; /* 32 bytes */
	uint64_t seq, hlc;
} mutual_db_entity_row;
typedef int (*mutual_db_entity_cb)(const mutual_db_entity_row *row, void *payload);
/* The kept writes of every entity of `kind` (of the one entity `id`, when
 * not NULL), ordered by id, then field, then the total order (hlc, device,
 * seq) descending: a field's first row is its value, the rest its
 * concurrent writes. A callback's non-zero return stops the read and is
 * returned. */
int mutual__db_entity_rows(mutual_db *db, const char *kind, const char *id, mutual_db_entity_cb cb,
	void *payload);

/* Every kept write of one field, as mutual__db_entity_rows orders them
 * (its value first), each with `text`. */
int mutual__db_field_conflicts(mutual_db *db, const char *kind, const char *id, const char *field,
	mutual_db_entity_cb cb, void *payload);

/* A column's value as the state digest reads it: SQLite's storage class
 * (the numbers are part of every digest, so they are fixed) and content. */
enum { MUTUAL_DB_INTEGER = 1, MUTUAL_DB_FLOAT = 2, MUTUAL_DB_TEXT = 3, MUTUAL_DB_BLOB = 4, MUTUAL_DB_NULL = 5 };
typedef struct {
	int type;          /* MUTUAL_DB_* */
	int64_t integer;   /* MUTUAL_DB_INTEGER */
	double real;       /* MUTUAL_DB_FLOAT */
	const void *bytes; /* MUTUAL_DB_TEXT, MUTUAL_DB_BLOB: `len` bytes */
	size_t len;
} mutual_db_value;

/* The typed walk's query (entity.c checks and canonicalises it first). */
typedef struct {
	const char *kind;
	const char *id;                     /* or NULL */
	const char *const *where_field;     /* n_where fields, each not starting with '_' */
	const char *const *where_value;     /* their values, canonical JSON */
	size_t n_where;
	const char *order_field;            /* or NULL: by id */
	int descending, include_deleted;
	int has_after;                      /* resume after (after_sort, after_id) */
	const char *after_value;            /* the order field's value, canonical JSON (by a field) */
	const char *after_id;
} mutual_db_entity_query;
/* A listed entity: its id and packed fields (db_state.c), and its order
 * field's value; borrowed until the next step. Ordered by a field,
 * entities go by (sort key, canonical JSON, id). */
typedef struct {
	const char *id;
	const uint8_t *fields;
	size_t fields_len;
	const char *sort_value; /* the order field's value, canonical JSON (NULL by id) */
} mutual_db_entity_packed;
typedef struct mutual_db_walk mutual_db_walk;
/* The entities `q` lists, in its order; _next gives MUTUAL_ITEROVER at the end. */
int mutual__db_entity_walk_new(mutual_db_walk **out, mutual_db *db, const mutual_db_entity_query *q);
int mutual__db_entity_walk_next(mutual_db_entity_packed *row, mutual_db_walk *w);
void mutual__db_entity_walk_free(mutual_db_walk *w);

/* Each counter (only `key`, when not NULL) by key, as mutual__db_entity_rows. */
typedef struct {
	const char *key; /* borrowed for the callback */
	int64_t value;   /* fixed point, 6 decimals */
} mutual_db_counter_row;
typedef int (*mutual_db_counter_cb)(const mutual_db_counter_row *row, void *payload);
int mutual__db_counter_rows(mutual_db *db, const char *key, mutual_db_counter_cb cb, void *payload);

/* Called once with `values` NULL when a table's rows begin (`query` is
 * the SELECT that reads them, whose text the digest covers too), then
 * once per row with its `n` columns; all borrowed for the call. */
typedef int (*mutual_db_digest_cb)(const char *query, const mutual_db_value *values, size_t n, void *payload);
/* Every row mutual_state_digest covers, in its fixed order: the kept
 * entity writes, the counters, the forks, then each app projection's
 * tables whole, by table name. A table that cannot be read as a whole is
 * left out. A callback's non-zero return stops the read and is returned. */
int mutual__db_state_rows(mutual_db *db, mutual_db_digest_cb cb, void *payload);

/* Rebuild's first step: empty every projection table (entity writes, seen
 * vectors, history, counters) and set every app projection back to its
 * start, so it replays (inside a write transaction). */
int mutual__db_state_clear(mutual_db *db);
/* The coordinators' role events (db_roles.c; roles.c decides what they
 * mean): one row per role event applied, with its writer's seen vector
 * and its status (0 in force, else why not: roles.h). */
typedef struct {
	const uint8_t *device; /* MUTUAL_KEY_SIZE bytes, the writer */
	uint64_t seq;
	int action;            /* MUTUAL_ROLE_* (roles.h) */
	const uint8_t *target; /* MUTUAL_KEY_SIZE bytes */
	uint64_t cut;          /* a revoke's cut; 0 otherwise */
	const uint8_t *saw;    /* the writer's seen vector, saw_n entries */
	size_t saw_n;
	int status;
} mutual_db_role_row;
typedef int (*mutual_db_role_cb)(const mutual_db_role_row *row, void *payload);
typedef int (*mutual_db_key_cb)(const uint8_t key[MUTUAL_KEY_SIZE], void *payload);
int mutual__db_role_add(mutual_db *db, const mutual_db_role_row *row);
/* Every role event, by (device, seq); borrowed for the callback. */
int mutual__db_role_rows(mutual_db *db, mutual_db_role_cb cb, void *payload);
int mutual__db_role_status_set(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, int status);
/* The coordinators: replaced whole by `keys` (n sorted keys), read by key. */
int mutual__db_coordinators_set(mutual_db *db, const uint8_t *keys, size_t n);
int mutual__db_coordinator_rows(mutual_db *db, mutual_db_key_cb cb, void *payload);
/* A removal: the device, and the last of its events that stays valid. */
#define MUTUAL_REMOVAL_ENTRY (MUTUAL_KEY_SIZE + 8) /* device | cut (u64) */
/* The removed devices: replaced whole by `entries` (n entries sorted by
 * device, as roles.c resolves them), read by device; _get gives one device's cut
 * (MUTUAL_ENOTFOUND when it was not removed). */
typedef int (*mutual_db_removal_cb)(const uint8_t key[MUTUAL_KEY_SIZE], uint64_t cut, void *payload);
int mutual__db_removals_set(mutual_db *db, const uint8_t *entries, size_t n);
int mutual__db_removal_rows(mutual_db *db, mutual_db_removal_cb cb, void *payload);
int mutual__db_removal_get(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *cut);
/* What limits applying a device's events: the seq its fork starts at (0:
 * not forked) and its removal's cut (UINT64_MAX: not removed). */
int mutual__db_device_limits(mutual_db *db, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t *fork_seq,
                             uint64_t *removed_cut);

/* A key rotation applied (rotation.c): its event, the new key's id and
 * commitment, the commitments of the keys it follows (`after`, the first
 * the one its segment is sealed with), the removed devices it excludes,
 * the devices it seals the key to, and the box sealed to this device
 * (NULL when it holds none). */
typedef struct {
	const uint8_t *device; /* MUTUAL_KEY_SIZE bytes, the writer */
	uint64_t seq;
	uint32_t key_id;
	const uint8_t *commit; /* MUTUAL_HASH_SIZE bytes */
	const uint8_t *after;  /* n_after commitments */
	size_t n_after;
	const uint8_t *excludes; /* n_excludes device keys */
	size_t n_excludes;
	const uint8_t *boxed; /* n_boxed device keys: those it seals the key to */
	size_t n_boxed;
	const uint8_t *box; /* MUTUAL_KEY_BOX_SIZE (80) bytes, or NULL */
} mutual_db_rotation_row;
typedef int (*mutual_db_rotation_cb)(const mutual_db_rotation_row *row, void *payload);
int mutual__db_rotation_add(mutual_db *db, const mutual_db_rotation_row *row);
/* Every rotation, by (device, seq); borrowed for the callback. */
int mutual__db_rotation_rows(mutual_db *db, mutual_db_rotation_cb cb, void *payload);


/* ------------------------------------------------------- app projections */

/*
 * What apps.c keeps in the store (db_apps.c). The SQL of an app projection
 * (its schema, reset and apply SQL) and mutual_query's SQL come from the
 * application through the public API and are handed over as data; every
 * other statement here is the layer's own. Errors are ours, with SQLite's
 * message in mutual_error_last().
 */

/* An app projection's cursor (a row of app_projections): how far it was
 * applied. A projection with no row has schema_version -1 and forks -2,
 * so neither matches a real one. */
typedef struct {
	int64_t schema_version;
	int64_t applied_id; /* the highest events.id there was when it was saved */
	int has_pos;        /* pos_*: the last event applied, in the total order */
	uint64_t pos_hlc;
	uint8_t pos_device[MUTUAL_KEY_SIZE];
	uint64_t pos_seq;
	int64_t forks; /* the count of forks then; -1 forces a replay */
	int late;      /* an event was applied late since: look again */
} mutual_db_app_cursor;

/* The cursor of projection `name`, or a projection's without one. */
int mutual__db_app_cursor_get(mutual_db_app_cursor *out, mutual_db *db, const char *name);
/* Save `c` as the cursor of `name` (inside a write transaction); `late`
 * is cleared whatever `c` says. */
int mutual__db_app_cursor_set(mutual_db *db, const char *name, const mutual_db_app_cursor *c);
/* What a cursor is compared with: the highest events.id (0 with no
 * events) and the count of forks. */
int mutual__db_app_log_now(mutual_db *db, int64_t *last_id, int64_t *forks);
/* *out = 1 when an applied event stored after c->applied_id sorts before
 * c's position, else 0. `c` has a position (has_pos). */
int mutual__db_app_arrived_before(int *out, mutual_db *db, const mutual_db_app_cursor *c);
/* `ev` was applied after events that arrived later: mark every cursor
 * late, and make each whose position sorts after `ev` replay. */
int mutual__db_app_note_late(mutual_db *db, const mutual_event_rec *ev);
/* Drop every table named `<name>_...` (a projection whose schema changed). */
int mutual__db_app_drop_tables(mutual_db *db, const char *name);

/* Run the application's `sql`, one or more statements, each prepared when
 * the one before it has run (so a schema may index the table it just
 * made); `what` starts the message of an error. */
int mutual__db_app_exec(mutual_db *db, const char *sql, const char *what);

/* The apply SQL of an app projection, prepared once and run per event. */
typedef struct mutual_db_stmt mutual_db_stmt;
#define MUTUAL_DB_APPLY_STATEMENTS_MAX 64
/* Prepare `sql` (at most MUTUAL_DB_APPLY_STATEMENTS_MAX statements; none
 * is fine). `*out` is the caller's, freed with mutual__db_app_finalize;
 * it holds `db`, so it must be freed before `db` is closed. Errors:
 * MUTUAL_EINVALID when there are too many statements, else SQLite's. */
int mutual__db_app_prepare(mutual_db_stmt **out, mutual_db *db, const char *sql);
/* Run each statement of `st` once, in order, with :device (blob), :seq,
 * :hlc, :type and :payload (text) bound from `ev` where they appear; the
 * rows any of them returns are ignored. */
int mutual__db_app_apply(mutual_db_stmt *st, const mutual_event_rec *ev);
/* Accepts NULL. */
void mutual__db_app_finalize(mutual_db_stmt *st);

/* mutual_query's work: run the first statement of the application's
 * `sql` (SQLite's prepare ignores the rest), which must only read (else
 * MUTUAL_EINVALID), with `params` bound as text to ?1..?n, handing each row to `cb` (its names and values borrowed for the
 * call, a value NULL for SQL NULL). A non-zero return from `cb` stops and
 * is returned. */
int mutual__db_app_query(mutual_db *db, const char *sql, const char *const *params, size_t n_params,
	mutual_row_cb cb, void *payload);

#endif
