/*
 * apps.c - app-defined projections: an app names its projection, gives the
 * SQL that creates its tables and the SQL applied per event, and reads its
 * tables with mutual_query(). The library keeps each one a deterministic
 * function of the log: events are applied in the total order from a
 * cursor; when an event arrives that sorts before the cursor (a device back
 * from a week offline), or a fork changes what is applied, the projection
 * is emptied and replayed. Catching up happens before every read, so an
 * app sees events that arrived through the CLI, a sync or another process.
 * This file decides; what is stored, and the app's own SQL, go through the
 * SQLite layer (db.h, "app projections"; db_apps.c).
 *
 * NOTES ON THE DESIGN
 *  1. App projections are SQL run per event in the total order, caught up
 *     from a cursor before they are read; an event that arrives sorting
 *     before the cursor replays that projection from its start.
 *  2. An app sees the applied events of its types, but not a quarantined
 *     one, one a removal refuses, nor one whose payload breaks the rules
 *     for new appends, so every device applies the same ones.
 *  3. The cursor is the last event applied (its position in the total
 *     order), the highest event id there was, and the count of forks (and
 *     of changes to the removals, roles.c NOTES 7). A
 *     catch-up applies what sorts after the position; it replays (reset,
 *     then every event from the start) when an event stored since sorts
 *     before the position, when the count of forks changed, or when the
 *     schema_version did (the tables are first dropped and made afresh).
 *  4. An event applied late (deliver.c admits one that was held) marks
 *     every cursor so the next read looks again, and makes each whose
 *     position sorts after it replay.
 *  5. The apply SQL is prepared once per catch-up, at the first event it
 *     applies to: preparing it for every event cost 8 times more than
 *     running it.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "project.h"

struct mutual_app {
	char *name, *schema, *reset, *type_prefix, *apply;
	unsigned int schema_version;
	struct mutual_app *next;
};

int mutual_projection_def_init(mutual_projection_def *def, unsigned int version)
{
	mutual_projection_def init = MUTUAL_PROJECTION_DEF_INIT;
	if (!def)
		return mutual__fail(MUTUAL_EINVALID, "no projection definition given");
	MUTUAL__CHECK_VERSION(version, MUTUAL_PROJECTION_DEF_VERSION, "projection definition");
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

typedef struct {
	mutual_store *s;
	struct mutual_app *app;
	mutual_db_app_cursor cur; /* its pos_* follow each event applied */
	/* The apply SQL, prepared at the first event it applies to and kept
	 * for the rest of this catch-up (NOTES 5). */
	mutual_db_stmt *apply;
} replay_ctx;

/* NOTES 2; the rules for new appends are docs/format.md, "Payload". */
/* 1 when `a` applies `ev`, 0 when not, or MUTUAL_ERROR when memory ran
 * out deciding (never taken for a payload that breaks the rules, which
 * would leave a good event out of the state). */
static int matches(const struct mutual_app *a, const mutual_event_rec *ev)
{
	size_t n = a->type_prefix ? strlen(a->type_prefix) : 0;
	int rc;
	if (ev->quarantined || ev->refused || (n && (ev->type_len < n || memcmp(ev->type, a->type_prefix, n) != 0)))
		return 0;
	if ((rc = mutual__json_check_strict(ev->payload, ev->payload_len)) < 0) {
		if (rc == MUTUAL_ERROR)
			return rc;
		mutual__error_clear();
		return 0;
	}
	return 1;
}

#ifndef NDEBUG
/* Whether `ev` comes after the cursor's position in the total order. */
static int sorts_after(const mutual_event_rec *ev, const mutual_db_app_cursor *c)
{
	int d;
	if (ev->hlc != c->pos_hlc)
		return ev->hlc > c->pos_hlc;
	if ((d = memcmp(ev->device, c->pos_device, MUTUAL_KEY_SIZE)) != 0)
		return d > 0;
	return ev->seq > c->pos_seq;
}
#endif

static int apply_one(replay_ctx *x, const mutual_event_rec *ev)
{
	int rc = matches(x->app, ev);
	if (rc <= 0)
		return rc;
	assert(!x->cur.has_pos || sorts_after(ev, &x->cur)); /* NOTES 1 */
	if (!x->apply && (rc = mutual__db_app_prepare(&x->apply, x->s->db, x->app->apply)) < 0)
		return rc;
	if ((rc = mutual__db_app_apply(x->apply, ev)) < 0)
		return rc;
	x->s->projection_stats.app_events_applied++;
	x->cur.pos_hlc = ev->hlc;
	memcpy(x->cur.pos_device, ev->device, MUTUAL_KEY_SIZE);
	x->cur.pos_seq = ev->seq;
	x->cur.has_pos = 1;
	return 0;
}

/* Apply what the cursor has not seen, in the total order; replay from the
 * start when something sorts before it (NOTES 3). */
static int catch_up_one(mutual_store *s, struct mutual_app *a)
{
	mutual_db_iter *it = NULL;
	mutual_db_filter f;
	mutual_event_rec ev;
	replay_ctx x;
	int64_t forks_now, max_id;
	int rc, replay = 0;

	memset(&x, 0, sizeof(x));
	x.s = s;
	x.app = a;
	if ((rc = mutual__db_app_cursor_get(&x.cur, s->db, a->name)) < 0 ||
	    (rc = mutual__db_app_log_now(s->db, &max_id, &forks_now)) < 0)
		return rc;
	if ((unsigned int)x.cur.schema_version != a->schema_version) {
		/* New, or its tables changed shape: make them afresh. */
		if ((rc = mutual__db_app_drop_tables(s->db, a->name)) < 0 ||
		    (rc = mutual__db_app_exec(s->db, a->schema, "an app projection's schema SQL failed")) < 0)
			return rc;
		replay = 1;
	} else if (x.cur.forks != forks_now) {
		replay = 1;
	} else if (x.cur.applied_id < max_id && x.cur.has_pos) {
		/* Did anything arrive that sorts before what was applied? */
		if ((rc = mutual__db_app_arrived_before(&replay, s->db, &x.cur)) < 0)
			return rc;
	}
	if (!replay && x.cur.applied_id >= max_id && !x.cur.late)
		return 0;
	if (replay) {
		if (x.cur.schema_version >= 0 &&
		    (rc = mutual__db_app_exec(s->db, a->reset, "an app projection's reset SQL failed")) < 0)
			return rc;
		s->projection_stats.app_replays++;
		x.cur.has_pos = 0;
	}
	memset(&f, 0, sizeof(f));
	f.applied_only = 1;
	if (x.cur.has_pos) {
		f.has_after = 1;
		f.after_hlc = x.cur.pos_hlc;
		memcpy(f.after_device, x.cur.pos_device, MUTUAL_KEY_SIZE);
		f.after_seq = x.cur.pos_seq;
	}
	if ((rc = mutual__db_iter_new(&it, s->db, &f)) < 0)
		return rc;
	while ((rc = mutual__db_iter_next(&ev, it)) == 0)
		if ((rc = apply_one(&x, &ev)) < 0)
			break;
	mutual__db_iter_free(it);
	mutual__db_app_finalize(x.apply);
	if (rc != MUTUAL_ITEROVER)
		return rc;
	x.cur.schema_version = a->schema_version;
	x.cur.applied_id = max_id;
	x.cur.forks = forks_now;
	return mutual__db_app_cursor_set(s->db, a->name, &x.cur);
}

/* NOTES 4. */
int mutual__apps_note_late(mutual_store *s, const mutual_event_rec *ev)
{
	return mutual__db_app_note_late(s->db, ev);
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
	MUTUAL_STORE_ENTER(s);
	struct mutual_app *a;
	size_t n;

	if (!s || !def)
		return mutual__fail(MUTUAL_EINVALID, "no store or projection given");
	mutual__error_clear();
	MUTUAL__CHECK_VERSION(def->version, MUTUAL_PROJECTION_DEF_VERSION, "projection definition");
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
	MUTUAL_STORE_ENTER(s);
	int rc;

	if (!s || !sql || !cb)
		return mutual__fail(MUTUAL_EINVALID, "no store, query or callback given");
	mutual__error_clear();
	if ((rc = mutual__apps_catch_up(s)) < 0)
		return rc;
	return mutual__db_app_query(s->db, sql, params, n_params, cb, payload);
}
