/*
 * apps.c - app-defined projections: an app names its projection, gives the
 * SQL that creates its tables and the SQL applied per event, and reads its
 * tables with mutual_query(). The library keeps each one a deterministic
 * function of the log: events are applied in the total order from a
 * cursor; when an event arrives that sorts before the cursor (a device back
 * from a week offline), or a fork changes what is applied, the projection
 * is emptied and replayed. Catching up happens before every read, so an
 * app sees events that arrived through the CLI, a sync or another process.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "project.h"

#define SQLITE(s) mutual__db_sqlite((s)->db)

struct mutual_app {
	char *name, *schema, *reset, *type_prefix, *apply;
	unsigned int schema_version;
	struct mutual_app *next;
};

int mutual_projection_def_init(mutual_projection_def *def, unsigned int version)
{
	mutual_projection_def init = MUTUAL_PROJECTION_DEF_INIT;
	if (version != MUTUAL_PROJECTION_DEF_VERSION)
		return mutual__fail(MUTUAL_EINVALID, "unknown projection definition version %u", version);
	*def = init;
	return 0;
}

static void app_free(struct mutual_app *a)
{
	if (!a)
		return;
	mutual__free(a->name);
	mutual__free(a->schema);
	mutual__free(a->reset);
	mutual__free(a->type_prefix);
	mutual__free(a->apply);
	mutual__free(a);
}

void mutual__apps_free(mutual_store *s)
{
	while (s->apps) {
		struct mutual_app *next = s->apps->next;
		app_free(s->apps);
		s->apps = next;
	}
}

static int sql_fail(mutual_store *s, int rc, const char *what)
{
	return mutual__db_fail(s->db, rc, what);
}

/* Bind :device :seq :hlc :type :payload from `ev` where they appear. */
static void bind_event(sqlite3_stmt *st, const mutual_event_rec *ev)
{
	int i;
	if ((i = sqlite3_bind_parameter_index(st, ":device")))
		sqlite3_bind_blob(st, i, ev->device, 32, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":seq")))
		sqlite3_bind_int64(st, i, (sqlite3_int64)ev->seq);
	if ((i = sqlite3_bind_parameter_index(st, ":hlc")))
		sqlite3_bind_int64(st, i, (sqlite3_int64)ev->hlc);
	if ((i = sqlite3_bind_parameter_index(st, ":type")))
		sqlite3_bind_text(st, i, ev->type, (int)ev->type_len, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":payload")))
		sqlite3_bind_text(st, i, ev->payload, (int)ev->payload_len, SQLITE_STATIC);
}

static int step_all(sqlite3_stmt *st)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	return rc;
}

/* Run `sql` (one or more statements), binding the event's fields when `ev`
 * is given. */
static int run_sql(mutual_store *s, const char *sql, const mutual_event_rec *ev, const char *what)
{
	const char *tail = sql;
	while (tail && *tail) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(SQLITE(s), tail, -1, &st, &tail);
		if (rc != SQLITE_OK)
			return sql_fail(s, rc, what);
		if (!st)
			break; /* white space or a comment */
		if (ev)
			bind_event(st, ev);
		rc = step_all(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return sql_fail(s, rc, what);
	}
	return 0;
}

#define APPLY_STATEMENTS_MAX 64

typedef struct {
	mutual_store *s;
	struct mutual_app *app;
	uint64_t hlc, seq;
	uint8_t device[32];
	int have_pos;
	/* The apply SQL, prepared once per catch-up: preparing its statements
	 * for every event cost several times more than running them. */
	sqlite3_stmt *apply[APPLY_STATEMENTS_MAX];
	size_t n_apply;
	int prepared;
} replay_ctx;

static int prepare_apply(replay_ctx *x)
{
	const char *tail = x->app->apply;
	x->prepared = 1;
	while (tail && *tail) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(SQLITE(x->s), tail, -1, &st, &tail);
		if (rc != SQLITE_OK)
			return sql_fail(x->s, rc, "an app projection's SQL failed");
		if (!st)
			break; /* white space or a comment */
		if (x->n_apply == APPLY_STATEMENTS_MAX) {
			sqlite3_finalize(st);
			return mutual__fail(MUTUAL_EINVALID, "an app projection's apply SQL has more than %d statements",
				APPLY_STATEMENTS_MAX);
		}
		x->apply[x->n_apply++] = st;
	}
	return 0;
}

static void finalize_apply(replay_ctx *x)
{
	for (size_t i = 0; i < x->n_apply; i++)
		sqlite3_finalize(x->apply[i]);
	x->n_apply = 0;
	x->prepared = 0;
}

/* An app sees the events of its types, but neither a quarantined one nor
 * one whose payload breaks the rules for new appends (docs/format.md,
 * "Payload"): every device skips the same ones. 1 if it sees `ev`, 0 if
 * not, negative when the check itself failed (out of memory): skipping
 * the event then would make this device's tables differ. */
static int matches(const struct mutual_app *a, const mutual_event_rec *ev)
{
	size_t n = a->type_prefix ? strlen(a->type_prefix) : 0;
	int rc;
	if (ev->quarantined || (n && (ev->type_len < n || memcmp(ev->type, a->type_prefix, n) != 0)))
		return 0;
	if ((rc = mutual__json_check_strict(ev->payload, ev->payload_len)) < 0) {
		if (rc != MUTUAL_EINVALID)
			return rc;
		mutual__error_clear();
		return 0;
	}
	return 1;
}

static int apply_one(replay_ctx *x, const mutual_event_rec *ev)
{
	int rc;
	if ((rc = matches(x->app, ev)) <= 0)
		return rc;
	if (!x->prepared && (rc = prepare_apply(x)) < 0)
		return rc;
	for (size_t i = 0; i < x->n_apply; i++) {
		sqlite3_stmt *st = x->apply[i];
		bind_event(st, ev);
		rc = step_all(st);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (rc != SQLITE_DONE)
			return sql_fail(x->s, rc, "an app projection's SQL failed");
	}
	x->s->projection_stats.app_events_applied++;
	x->hlc = ev->hlc;
	memcpy(x->device, ev->device, 32);
	x->seq = ev->seq;
	x->have_pos = 1;
	return 0;
}

static int save_cursor(mutual_store *s, const struct mutual_app *a, const replay_ctx *x, int64_t applied_id, int64_t forks)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(SQLITE(s), "INSERT OR REPLACE INTO app_projections(name, schema_version, applied_id,"
		" pos_hlc, pos_device, pos_seq, forks) VALUES(?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "cannot save a projection's cursor");
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a->schema_version);
	sqlite3_bind_int64(st, 3, applied_id);
	sqlite3_bind_int64(st, 4, x->have_pos ? (sqlite3_int64)x->hlc : 0);
	sqlite3_bind_blob(st, 5, x->have_pos ? (const void *)x->device : "", x->have_pos ? 32 : 0, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, x->have_pos ? (sqlite3_int64)x->seq : 0);
	sqlite3_bind_int64(st, 7, forks);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(s, rc, "cannot save a projection's cursor");
}

static int64_t scalar(mutual_store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(SQLITE(s), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Events not yet applied, in the total order; `late` says one sorts
 * before the cursor, so a replay is needed instead. */
static int catch_up_one(mutual_store *s, struct mutual_app *a)
{
	sqlite3_stmt *st = NULL;
	replay_ctx x;
	int64_t applied_id = 0, forks_then = -2, forks_now, max_id;
	int schema_version = -1, rc, replay = 0, late = 0;

	memset(&x, 0, sizeof(x));
	x.s = s;
	x.app = a;
	rc = sqlite3_prepare_v2(SQLITE(s), "SELECT schema_version, applied_id, pos_hlc, pos_device, pos_seq, forks,"
		" pending FROM app_projections WHERE name = ?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "cannot read a projection's cursor");
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		schema_version = sqlite3_column_int(st, 0);
		applied_id = sqlite3_column_int64(st, 1);
		x.hlc = (uint64_t)sqlite3_column_int64(st, 2);
		if (sqlite3_column_bytes(st, 3) == 32) {
			memcpy(x.device, sqlite3_column_blob(st, 3), 32);
			x.have_pos = 1;
		}
		x.seq = (uint64_t)sqlite3_column_int64(st, 4);
		forks_then = sqlite3_column_int64(st, 5);
		late = sqlite3_column_int(st, 6);
	}
	sqlite3_finalize(st);
	forks_now = scalar(s, "SELECT COUNT(*) FROM forks");
	max_id = scalar(s, "SELECT COALESCE(MAX(id), 0) FROM events");
	if ((unsigned int)schema_version != a->schema_version) {
		/* New, or its tables changed shape: make them afresh. */
		sqlite3_stmt *tables = NULL;
		rc = sqlite3_prepare_v2(SQLITE(s), "SELECT name FROM sqlite_master WHERE type = 'table'"
			" AND substr(name, 1, ?2) = ?1 || '_'", -1, &tables, NULL);
		if (rc != SQLITE_OK)
			return sql_fail(s, rc, "cannot prepare a projection");
		sqlite3_bind_text(tables, 1, a->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(tables, 2, (int)strlen(a->name) + 1);
		while (sqlite3_step(tables) == SQLITE_ROW) {
			mutual_buf drop = { 0 };
			mutual__buf_printf(&drop, "DROP TABLE \"%s\"", (const char *)sqlite3_column_text(tables, 0));
			mutual__buf_cstr(&drop);
			sqlite3_finalize(tables);
			tables = NULL;
			rc = run_sql(s, (const char *)drop.data, NULL, "cannot drop a projection's old table");
			mutual__buf_free(&drop);
			if (rc < 0)
				return rc;
			if (sqlite3_prepare_v2(SQLITE(s), "SELECT name FROM sqlite_master WHERE type = 'table'"
				" AND substr(name, 1, ?2) = ?1 || '_'", -1, &tables, NULL) != SQLITE_OK)
				return sql_fail(s, SQLITE_ERROR, "cannot prepare a projection");
			sqlite3_bind_text(tables, 1, a->name, -1, SQLITE_STATIC);
			sqlite3_bind_int(tables, 2, (int)strlen(a->name) + 1);
		}
		sqlite3_finalize(tables);
		if ((rc = run_sql(s, a->schema, NULL, "an app projection's schema SQL failed")) < 0)
			return rc;
		replay = 1;
	} else if (forks_then != forks_now) {
		replay = 1;
	} else if (applied_id < max_id && x.have_pos) {
		/* Did anything arrive that sorts before what was applied? */
		rc = sqlite3_prepare_v2(SQLITE(s), "SELECT 1 FROM events WHERE id > ? AND (hlc, device, seq) < (?, ?, ?)"
			" AND NOT EXISTS(SELECT 1 FROM event_waiting w WHERE w.device = events.device AND w.seq = events.seq)"
			" AND NOT EXISTS(SELECT 1 FROM event_held_back h WHERE h.device = events.device AND h.seq = events.seq)"
			" LIMIT 1",
			-1, &st, NULL);
		if (rc != SQLITE_OK)
			return sql_fail(s, rc, "cannot catch a projection up");
		sqlite3_bind_int64(st, 1, applied_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)x.hlc);
		sqlite3_bind_blob(st, 3, x.device, 32, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)x.seq);
		replay = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	if (!replay && applied_id >= max_id && !late)
		return 0;
	if (replay) {
		if (schema_version >= 0 && (rc = run_sql(s, a->reset, NULL, "an app projection's reset SQL failed")) < 0)
			return rc;
		s->projection_stats.app_replays++;
		x.have_pos = 0;
	}
	{
		mutual_db_iter *it = NULL;
		mutual_db_filter f;
		mutual_event_rec ev;
		memset(&f, 0, sizeof(f));
		f.applied_only = 1;
		if (x.have_pos) {
			f.has_after = 1;
			f.after_hlc = x.hlc;
			memcpy(f.after_device, x.device, 32);
			f.after_seq = x.seq;
		}
		if ((rc = mutual__db_iter_new(&it, s->db, &f)) < 0)
			return rc;
		while ((rc = mutual__db_iter_next(&ev, it)) == 0)
			if ((rc = apply_one(&x, &ev)) < 0)
				break;
		mutual__db_iter_free(it);
		finalize_apply(&x);
		if (rc != MUTUAL_ITEROVER)
			return rc;
	}
	return save_cursor(s, a, &x, max_id, forks_now);
}

int mutual__apps_note_late(mutual_store *s, const mutual_event_rec *ev)
{
	sqlite3_stmt *st = NULL;
	/* forks = -1 never matches a count of forks: it forces a replay. */
	int rc = sqlite3_prepare_v2(SQLITE(s), "UPDATE app_projections SET pending = 1,"
		" forks = CASE WHEN length(pos_device) = 32 AND (pos_hlc, pos_device, pos_seq) > (?, ?, ?) THEN -1 ELSE forks END",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "cannot note a late event");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ev->hlc);
	sqlite3_bind_blob(st, 2, ev->device, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->seq);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(s, rc, "cannot note a late event");
}

int mutual__apps_catch_up(mutual_store *s)
{
	int rc = 0;
	if (!s->apps || s->readonly)
		return 0; /* a read-only store shows what was applied when it was last writable */
	if ((rc = mutual__db_begin_write(s->db)) < 0)
		return rc;
	for (struct mutual_app *a = s->apps; a && rc == 0; a = a->next)
		rc = catch_up_one(s, a);
	if (rc == 0)
		return mutual__db_commit(s->db);
	mutual__db_rollback(s->db);
	return rc;
}

static char *dup_or_null(const char *s)
{
	return s ? mutual__strdup(s) : NULL;
}

int mutual_projection_register(mutual_store *s, const mutual_projection_def *def)
{
	struct mutual_app *a;
	size_t n;

	if (!s || !def)
		return mutual__fail(MUTUAL_EINVALID, "no store or projection given");
	mutual__error_clear();
	if (def->version != MUTUAL_PROJECTION_DEF_VERSION)
		return mutual__fail(MUTUAL_EINVALID, "unknown projection definition version %u", def->version);
	n = def->name ? strlen(def->name) : 0;
	if (n == 0 || n > 48 || def->name[0] < 'a' || def->name[0] > 'z' ||
	    strspn(def->name, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
		return mutual__fail(MUTUAL_EINVALID, "a projection's name is 1 to 48 of a-z, 0-9 and _, starting with a letter");
	if (!def->schema || !def->reset || !def->apply)
		return mutual__fail(MUTUAL_EINVALID, "a projection needs its schema, reset and apply SQL");
	for (a = s->apps; a; a = a->next)
		if (strcmp(a->name, def->name) == 0)
			return mutual__fail(MUTUAL_EEXISTS, "a projection named %s is already registered", def->name);
	if (!(a = mutual__calloc(1, sizeof(*a))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	a->schema_version = def->schema_version;
	if (!(a->name = mutual__strdup(def->name)) || !(a->schema = mutual__strdup(def->schema)) ||
	    !(a->reset = mutual__strdup(def->reset)) || !(a->apply = mutual__strdup(def->apply)) ||
	    (def->type_prefix && !(a->type_prefix = dup_or_null(def->type_prefix)))) {
		app_free(a);
		return MUTUAL_ERROR;
	}
	a->next = s->apps;
	s->apps = a;
	return mutual__apps_catch_up(s);
}

int mutual_query(mutual_store *s, const char *sql, const char *const *params, size_t n_params,
	mutual_row_cb cb, void *payload)
{
	sqlite3_stmt *st = NULL;
	int rc, cols;

	if (!s || !sql || !cb)
		return mutual__fail(MUTUAL_EINVALID, "no store, query or callback given");
	mutual__error_clear();
	if ((rc = mutual__apps_catch_up(s)) < 0)
		return rc;
	rc = sqlite3_prepare_v2(SQLITE(s), sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "the query failed");
	if (!sqlite3_stmt_readonly(st)) {
		sqlite3_finalize(st);
		return mutual__fail(MUTUAL_EINVALID, "mutual_query only reads; projections change through events");
	}
	for (size_t i = 0; i < n_params; i++)
		sqlite3_bind_text(st, (int)i + 1, params[i], -1, SQLITE_STATIC);
	cols = sqlite3_column_count(st);
	{
		const char **names = mutual__calloc((size_t)cols + 1, sizeof(*names));
		const char **values = mutual__calloc((size_t)cols + 1, sizeof(*values));
		int stopped = 0;
		if (!names || !values) {
			mutual__free(names);
			mutual__free(values);
			sqlite3_finalize(st);
			return mutual__fail(MUTUAL_ERROR, "out of memory");
		}
		for (int i = 0; i < cols; i++)
			names[i] = sqlite3_column_name(st, i);
		while (!stopped && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			for (int i = 0; i < cols; i++)
				values[i] = (const char *)sqlite3_column_text(st, i);
			stopped = cb(cols, names, values, payload);
		}
		mutual__free(names);
		mutual__free(values);
		if (stopped) {
			sqlite3_finalize(st);
			return stopped;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : sql_fail(s, rc, "the query failed");
	sqlite3_finalize(st);
	return rc;
}
