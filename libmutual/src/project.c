/*
 * project.c - deterministic state from the merged logs: entities (a
 * register per field), counters, and app-defined SQL projections. The
 * other half of the SQLite store (db.c is the first).
 *
 * NOTES ON THE DESIGN
 *  1. Entities. Each field of an entity keeps the set of writes that no
 *     other write has seen ("seen" is exact: the writer's frontier, or an
 *     earlier seq of the same device). The value is the write of that set
 *     that is greatest in the total order (hlc, device, seq); the others
 *     are the field's open conflicts. A write that saw them settles them.
 *  2. That set is kept incrementally and order-independently: per field, a
 *     "seen" vector (for each device, the highest seq any write of the
 *     field has seen) only grows, so a write dominated once stays
 *     dominated, and the set after any arrival order is exactly
 *     { writes w : seen[w.device] < w.seq }. The vector keeps only the
 *     devices that wrote the field: when a new one does, its entry is
 *     found once from the field's history (entity_history: every applied
 *     write) and the frontiers of those writes. So an event costs rows in
 *     proportion to its fields plus its frontier, never their product,
 *     and never the log: late events land cheaply.
 *  3. Deletion is the field "_deleted"; a put writes "_deleted": false
 *     too, so a delete concurrent with an edit is an ordinary conflict.
 *  4. Counters are sums of fixed-point deltas (6 decimal places, int64),
 *     exact under any order.
 *  5. Quarantined events (a forked device, from its fork seq) are never
 *     applied; learning of a fork rebuilds every projection.
 *  6. App projections are SQL run per event in the total order, caught up
 *     from a cursor before they are read; an event that arrives sorting
 *     before the cursor replays that projection from its start.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "event.h"
#include "json.h"
#include "project.h"
#include "store.h"

#define SQLITE(s) mutual__db_sqlite((s)->db)

static int fail(mutual_store *s, int rc, const char *what)
{
	return mutual__db_fail(s->db, rc, what);
}

static int exec_sql(mutual_store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(SQLITE(s), sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fail(s, rc, what);
}

/* ------------------------------------------------------ cached statements */

/* Applying runs a few statements per field, for every event: prepare each
 * once per handle (preparing was most of a rebuild's time, measured). */
enum { STMT_SEEN_GET, STMT_SEEN_SET, STMT_WRITES, STMT_WRITE_DEL, STMT_FIELD_DEL, STMT_WRITE_SET,
	STMT_COUNTER_GET, STMT_COUNTER_SET, STMT_COUNT };
_Static_assert(STMT_COUNT == sizeof(((mutual_store *)0)->proj_stmts) / sizeof(void *),
	"store.h must hold one cached statement per STMT_*");

static int cached(sqlite3_stmt **out, mutual_store *s, int which, const char *sql)
{
	if (!s->proj_stmts[which]) {
		int rc = sqlite3_prepare_v3(SQLITE(s), sql, -1, SQLITE_PREPARE_PERSISTENT, &s->proj_stmts[which], NULL);
		if (rc != SQLITE_OK) {
			*out = NULL;
			return rc;
		}
	}
	*out = s->proj_stmts[which];
	return SQLITE_OK;
}

/* Done with a cached statement: ready it for the next use. */
static void release(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

void mutual__project_free(mutual_store *s)
{
	for (int i = 0; i < STMT_COUNT; i++) {
		sqlite3_finalize(s->proj_stmts[i]);
		s->proj_stmts[i] = NULL;
	}
}

/* ------------------------------------------------------------ seen vector */

/* A seen vector: entries device (32) | seq (u64), sorted by device. */
/* The entry for `device`, or NULL. */
static const uint8_t *vec_find(const uint8_t *vec, size_t n, const uint8_t device[32])
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(vec + mid * MUTUAL_FRONTIER_ENTRY, device, 32);
		if (c == 0)
			return vec + mid * MUTUAL_FRONTIER_ENTRY;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static uint64_t vec_get(const uint8_t *vec, size_t n, const uint8_t device[32])
{
	const uint8_t *e = vec_find(vec, n, device);
	return e ? mutual__get_u64(e + 32) : 0;
}

/* out = max(a, b) entry by entry; both sorted. */
static int vec_merge(mutual_buf *out, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	size_t i = 0, j = 0;
	out->len = 0;
	while (i < na || j < nb) {
		const uint8_t *x = i < na ? a + i * MUTUAL_FRONTIER_ENTRY : NULL;
		const uint8_t *y = j < nb ? b + j * MUTUAL_FRONTIER_ENTRY : NULL;
		int c = !x ? 1 : !y ? -1 : memcmp(x, y, 32);
		const uint8_t *take = c <= 0 ? x : y;
		uint64_t seq = mutual__get_u64(take + 32);
		if (c == 0) {
			uint64_t other = mutual__get_u64(y + 32);
			seq = seq > other ? seq : other;
		}
		if (mutual__buf_put(out, take, 32) < 0 || mutual__buf_put_u64(out, seq) < 0)
			return MUTUAL_ERROR;
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	return 0;
}

/* out = a, each entry raised to what `saw` holds for its device: the
 * vector keeps a's devices only, whatever `saw` names. */
static int vec_raise(mutual_buf *out, const uint8_t *a, size_t na, const uint8_t *saw, size_t nsaw)
{
	out->len = 0;
	for (size_t i = 0; i < na; i++) {
		const uint8_t *e = a + i * MUTUAL_FRONTIER_ENTRY;
		uint64_t seq = mutual__get_u64(e + 32), other = vec_get(saw, nsaw, e);
		if (mutual__buf_put(out, e, 32) < 0 || mutual__buf_put_u64(out, seq > other ? seq : other) < 0)
			return MUTUAL_ERROR;
	}
	return 0;
}

/* What the writer of `ev` had seen: its frontier, plus its own earlier events. */
static int writer_saw(mutual_buf *out, const mutual_event_rec *ev)
{
	uint8_t own[MUTUAL_FRONTIER_ENTRY];
	memcpy(own, ev->device, 32);
	mutual__set_u64(own + 32, ev->seq - 1);
	return vec_merge(out, ev->frontier, ev->frontier_n, own, ev->seq > 1 ? 1 : 0);
}

/* --------------------------------------------------------------- entities */

int mutual__project_check_name(const char *s, size_t len, const char *what)
{
	if (len == 0 || len > MUTUAL_NAME_MAX)
		return mutual__fail(MUTUAL_EINVALID, "%s must be 1 to %d bytes long", what, MUTUAL_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20)
			return mutual__fail(MUTUAL_EINVALID, "%s must not hold control characters", what);
	return 0;
}

/* Test-only: in a build with -Dtest_hooks=true,
 * $MUTUAL_TEST_LAST_ARRIVAL_WINS makes the last write applied win, whatever
 * it saw: a deliberately wrong order, which the property test must catch
 * (it shows that test can fail). A shipped build has no such switch: it
 * never reads the variable, so no environment can change its order. */
static int last_arrival_wins(void)
{
#ifdef MUTUAL_TEST_HOOKS
	static int v = -1;
	if (v < 0) {
		const char *e = getenv("MUTUAL_TEST_LAST_ARRIVAL_WINS");
		v = e && *e && *e != '0';
	}
	return v;
#else
	return 0;
#endif
}

/* One write of one field: see NOTES 1 and 2. */
static int apply_field(mutual_store *s, const char *kind, const char *id, const char *field, const char *value,
	size_t value_len, const mutual_event_rec *ev, const uint8_t *saw, size_t saw_n)
{
	sqlite3 *db = SQLITE(s);
	sqlite3_stmt *st = NULL;
	mutual_buf vec = { 0 }, grown = { 0 };
	const uint8_t *old = NULL;
	size_t old_n = 0;
	int rc;

	/* The field's seen vector grows by what this writer saw. */
	rc = cached(&st, s, STMT_SEEN_GET, "SELECT vec FROM entity_seen WHERE kind = ? AND id = ? AND field = ?");
	if (rc != SQLITE_OK)
		return fail(s, rc, "cannot apply an entity write");
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		old = sqlite3_column_blob(st, 0);
		old_n = (size_t)sqlite3_column_bytes(st, 0) / MUTUAL_FRONTIER_ENTRY;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = fail(s, rc, "cannot apply an entity write");
		goto done;
	}
	/* A device new to the field: what the field's writes saw of it. */
	if (!vec_find(old, old_n, ev->device)) {
		uint8_t entry[MUTUAL_FRONTIER_ENTRY];
		uint64_t seen;
		if ((rc = mutual__db_history_seen(s->db, kind, id, field, ev->device, &seen)) < 0)
			goto done;
		memcpy(entry, ev->device, 32);
		mutual__set_u64(entry + 32, seen);
		if ((rc = vec_merge(&grown, old, old_n, entry, 1)) < 0)
			goto done;
		old = grown.data;
		old_n++;
	}
	if ((rc = vec_raise(&vec, old, old_n, saw, saw_n)) < 0 ||
	    (rc = mutual__db_history_add(s->db, kind, id, field, ev->device, ev->seq)) < 0)
		goto done;
	release(st);
	st = NULL;
	rc = cached(&st, s, STMT_SEEN_SET, "INSERT OR REPLACE INTO entity_seen(kind, id, field, vec) VALUES(?, ?, ?, ?)");
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, vec.data ? (const void *)vec.data : "", (int)vec.len, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE) {
		rc = fail(s, rc, "cannot apply an entity write");
		goto done;
	}
	release(st);
	st = NULL;

	/* Drop the writes now seen; keep this one unless it was already seen. */
	rc = cached(&st, s, STMT_WRITES, "SELECT device, seq FROM entity_writes WHERE kind = ? AND id = ? AND field = ?");
	if (rc != SQLITE_OK) {
		rc = fail(s, rc, "cannot apply an entity write");
		goto done;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
	{
		struct gone {
			uint8_t device[32];
			int64_t seq;
		} *gone = NULL;
		size_t n_gone = 0;
		size_t n_vec = vec.len / MUTUAL_FRONTIER_ENTRY;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const uint8_t *dev = sqlite3_column_blob(st, 0);
			uint64_t seq = (uint64_t)sqlite3_column_int64(st, 1);
			struct gone *grown;
			if (sqlite3_column_bytes(st, 0) != 32 || vec_get(vec.data, n_vec, dev) < seq)
				continue;
			if (!(grown = mutual__realloc(gone, (n_gone + 1) * sizeof(*gone)))) {
				mutual__free(gone);
				rc = mutual__fail(MUTUAL_ERROR, "out of memory");
				goto done;
			}
			gone = grown;
			memcpy(gone[n_gone].device, dev, 32);
			gone[n_gone++].seq = (int64_t)seq;
		}
		release(st);
		st = NULL;
		if (rc != SQLITE_DONE) {
			mutual__free(gone);
			rc = fail(s, rc, "cannot apply an entity write");
			goto done;
		}
		rc = cached(&st, s, STMT_WRITE_DEL, "DELETE FROM entity_writes WHERE kind = ? AND id = ? AND field = ? AND device = ? AND seq = ?");
		for (size_t i = 0; i < n_gone && rc == SQLITE_OK; i++) {
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
			sqlite3_bind_blob(st, 4, gone[i].device, 32, SQLITE_STATIC);
			sqlite3_bind_int64(st, 5, gone[i].seq);
			rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
		}
		mutual__free(gone);
		if (rc != SQLITE_OK) {
			rc = fail(s, rc, "cannot apply an entity write");
			goto done;
		}
		release(st);
		st = NULL;
		if (last_arrival_wins()) {
			rc = cached(&st, s, STMT_FIELD_DEL, "DELETE FROM entity_writes WHERE kind = ? AND id = ? AND field = ?");
			if (rc == SQLITE_OK) {
				sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
				rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
			}
			release(st);
			st = NULL;
		} else if (vec_get(vec.data, n_vec, ev->device) >= ev->seq) {
			rc = 0; /* another write of this field saw this one: it is history */
			goto done;
		}
	}
	rc = cached(&st, s, STMT_WRITE_SET, "INSERT OR REPLACE INTO entity_writes(kind, id, field, device, seq, hlc, value)"
		" VALUES(?, ?, ?, ?, ?, ?, ?)");
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, ev->device, 32, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)ev->seq);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)ev->hlc);
		sqlite3_bind_text(st, 7, value, (int)value_len, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	rc = rc == SQLITE_DONE ? 0 : fail(s, rc, "cannot apply an entity write");
	if (rc == 0)
		s->projection_stats.fields_updated++;
done:
	release(st);
	mutual__buf_free(&vec);
	mutual__buf_free(&grown);
	return rc;
}

typedef struct {
	mutual_store *s;
	const mutual_event_rec *ev;
	const char *kind, *id;
	mutual_buf saw, canon;
	mutual_buf kind_buf, id_buf;
} entity_ctx;

static int apply_member(const char *key, size_t klen, const char *value, size_t len, void *payload)
{
	entity_ctx *x = payload;
	int rc;
	if (klen == 0 || key[0] == '_' || klen != strlen(key) || mutual__project_check_name(key, klen, "field") < 0)
		return 0; /* not a field an app may set: ignored, the same way everywhere */
	x->canon.len = 0;
	if ((rc = mutual__json_canonical(&x->canon, value, len)) < 0)
		return rc == MUTUAL_ERROR ? rc : 0; /* out of memory is no malformed value */
	return apply_field(x->s, x->kind, x->id, key, (const char *)x->canon.data, x->canon.len, x->ev,
		x->saw.data, x->saw.len / MUTUAL_FRONTIER_ENTRY);
}

typedef struct {
	const char *fields;
	size_t len;
} fields_ref;

static int find_fields(const char *key, size_t key_len, const char *value, size_t len, void *payload)
{
	(void)key_len;
	fields_ref *f = payload;
	if (strcmp(key, "fields") == 0 && len && value[0] == '{') {
		f->fields = value;
		f->len = len;
		return 1;
	}
	return 0;
}

static int apply_entity(mutual_store *s, const mutual_event_rec *ev, int is_delete)
{
	entity_ctx x;
	fields_ref f = { NULL, 0 };
	int rc;

	memset(&x, 0, sizeof(x));
	x.s = s;
	x.ev = ev;
	/* Malformed entity events are skipped: deterministic, and they cannot
	 * come from this library (its API checks them). Running out of memory
	 * reading one (MUTUAL_ERROR) is an error: skipping it on this device
	 * alone would be a wrong state. */
	if ((rc = mutual__json_get_string(&x.kind_buf, ev->payload, ev->payload_len, "kind")) < 0 ||
	    (rc = mutual__json_get_string(&x.id_buf, ev->payload, ev->payload_len, "id")) < 0 ||
	    (rc = mutual__project_check_name((const char *)x.kind_buf.data, x.kind_buf.len, "kind")) < 0 ||
	    (rc = mutual__project_check_name((const char *)x.id_buf.data, x.id_buf.len, "id")) < 0) {
		rc = rc == MUTUAL_ERROR ? rc : 0;
		goto done;
	}
	x.kind = (const char *)x.kind_buf.data;
	x.id = (const char *)x.id_buf.data;
	if ((rc = writer_saw(&x.saw, ev)) < 0)
		goto done;
	if (!is_delete) {
		if ((rc = mutual__json_members(ev->payload, ev->payload_len, find_fields, &f)) < 0 || !f.fields) {
			rc = rc == MUTUAL_ERROR ? rc : 0;
			goto done;
		}
		if ((rc = mutual__json_members(f.fields, f.len, apply_member, &x)) < 0)
			goto done;
	}
	rc = apply_field(s, x.kind, x.id, "_deleted", is_delete ? "true" : "false", is_delete ? 4 : 5, ev,
		x.saw.data, x.saw.len / MUTUAL_FRONTIER_ENTRY);
done:
	mutual__buf_free(&x.saw);
	mutual__buf_free(&x.canon);
	mutual__buf_free(&x.kind_buf);
	mutual__buf_free(&x.id_buf);
	return rc;
}

/* --------------------------------------------------------------- counters */

/* A JSON number as fixed point with 6 decimals: -12.5 -> -12500000. */
int mutual__parse_fixed(int64_t *out, const char *text, size_t len)
{
	uint64_t whole = 0, frac = 0;
	size_t i = 0;
	int neg = 0, decimals = 0;

	if (i < len && text[i] == '-') {
		neg = 1;
		i++;
	}
	if (i >= len || text[i] < '0' || text[i] > '9')
		return -1;
	for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (uint64_t)(text[i] - '0');
	}
	if (i < len && text[i] == '.') {
		for (i++; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
			if (++decimals > 6)
				return -1;
			frac = frac * 10 + (uint64_t)(text[i] - '0');
		}
		if (decimals == 0)
			return -1;
	}
	if (i != len)
		return -1;
	for (; decimals < 6; decimals++)
		frac *= 10;
	if (whole > (uint64_t)INT64_MAX / 1000000 - 1)
		return -1;
	*out = (int64_t)(whole * 1000000 + frac) * (neg ? -1 : 1);
	return 0;
}

typedef struct {
	mutual_buf key;
	const char *delta;
	size_t delta_len;
} counter_ref;

static int find_delta(const char *key, size_t key_len, const char *value, size_t len, void *payload)
{
	(void)key_len;
	counter_ref *c = payload;
	if (strcmp(key, "delta") == 0) {
		c->delta = value;
		c->delta_len = len;
	}
	return 0;
}

static int apply_counter(mutual_store *s, const mutual_event_rec *ev)
{
	counter_ref c;
	sqlite3_stmt *st = NULL;
	int64_t delta;
	int rc = 0;

	memset(&c, 0, sizeof(c));
	if ((rc = mutual__json_get_string(&c.key, ev->payload, ev->payload_len, "key")) < 0 ||
	    (rc = mutual__project_check_name((const char *)c.key.data, c.key.len, "counter")) < 0 ||
	    (rc = mutual__json_members(ev->payload, ev->payload_len, find_delta, &c)) < 0 || !c.delta ||
	    mutual__parse_fixed(&delta, c.delta, c.delta_len) < 0) {
		/* skipped everywhere alike; out of memory (MUTUAL_ERROR from the
		 * JSON readers) is an error */
		rc = rc == MUTUAL_ERROR ? rc : 0;
		goto done;
	}
	/* Wrapping addition commutes, so the sum is the same in any order and
	 * exact whenever the true total fits. (SQLite's own + would turn an
	 * overflowing intermediate sum into a float.) */
	rc = cached(&st, s, STMT_COUNTER_GET, "SELECT value FROM counters WHERE key = ?");
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, (const char *)c.key.data, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW)
			delta = (int64_t)((uint64_t)sqlite3_column_int64(st, 0) + (uint64_t)delta);
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	release(st);
	st = NULL;
	if (rc == SQLITE_OK)
		rc = cached(&st, s, STMT_COUNTER_SET, "INSERT OR REPLACE INTO counters(key, value) VALUES(?, ?)");
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, (const char *)c.key.data, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, delta);
		rc = sqlite3_step(st);
	}
	rc = rc == SQLITE_DONE ? 0 : fail(s, rc, "cannot apply a counter");
	if (rc == 0)
		s->projection_stats.fields_updated++;
done:
	release(st);
	mutual__buf_free(&c.key);
	return rc;
}

/* ------------------------------------------------------------------ apply */

/* 1 if `ev` is quarantined, 0 if not, negative when the forks cannot be
 * read: taking that for "not forked" would apply a quarantined event, and
 * SQLite has rolled back the transaction after running out of memory. */
static int quarantined(mutual_store *s, const mutual_event_rec *ev)
{
	uint64_t seq;
	int rc = mutual__db_fork_get(s->db, ev->device, &seq, NULL);
	if (rc == MUTUAL_ENOTFOUND)
		return 0;
	return rc < 0 ? rc : ev->seq >= seq;
}

int mutual__project_apply(mutual_store *s, const mutual_event_rec *ev)
{
	int rc = 0;
	if (ev->type_len < 7 || memcmp(ev->type, "mutual.", 7) != 0)
		return 0;
	if ((rc = quarantined(s, ev)) != 0)
		return rc < 0 ? rc : 0;
	/* An event another device's software signed with a payload that new
	 * appends may not have (a duplicate key, a lone surrogate) is kept
	 * and forwarded, and ignored here, alike on every device. */
	if ((rc = mutual__json_check_strict(ev->payload, ev->payload_len)) < 0) {
		if (rc != MUTUAL_EINVALID)
			return rc; /* out of memory: skipping it would be wrong */
		mutual__error_clear();
		return 0;
	}
	if (ev->type_len == 17 && memcmp(ev->type, "mutual.entity.put", 17) == 0)
		rc = apply_entity(s, ev, 0);
	else if (ev->type_len == 17 && memcmp(ev->type, "mutual.entity.del", 17) == 0)
		rc = apply_entity(s, ev, 1);
	else if (ev->type_len == 18 && memcmp(ev->type, "mutual.counter.add", 18) == 0)
		rc = apply_counter(s, ev);
	else
		return 0;
	if (rc == 0)
		s->projection_stats.events_applied++;
	return rc;
}

int mutual__project_rebuild_locked(mutual_store *s)
{
	int rc;
	if ((rc = exec_sql(s, "DELETE FROM entity_writes; DELETE FROM entity_seen; DELETE FROM entity_history;"
			      "DELETE FROM counters;"
			      "UPDATE app_projections SET applied_id = 0, pos_hlc = 0, pos_device = x'', pos_seq = 0, forks = -1",
		"cannot rebuild the projections")) < 0)
		return rc;
	return mutual__deliver_rebuild(s);
}

int mutual_rebuild(mutual_store *s)
{
	int rc;
	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	mutual__error_clear();
	if (s->readonly)
		return mutual__fail(MUTUAL_EREADONLY, "the store at %s is read-only", s->dir);
	if ((rc = mutual__db_begin_write(s->db)) < 0)
		return rc;
	if ((rc = mutual__project_rebuild_locked(s)) < 0) {
		mutual__db_rollback(s->db);
		return rc;
	}
	if ((rc = mutual__db_commit(s->db)) < 0)
		return rc;
	return mutual__apps_catch_up(s);
}

int mutual_projection_stats_get(mutual_projection_stats *out, const mutual_store *s)
{
	if (!out || !s)
		return mutual__fail(MUTUAL_EINVALID, "no store or output given");
	*out = s->projection_stats;
	out->version = MUTUAL_PROJECTION_STATS_VERSION;
	return 0;
}

/* ----------------------------------------------------------------- writes */

static int check_json_object(const char *json, const char *what)
{
	int rc = json ? mutual__json_check_strict(json, strlen(json)) : MUTUAL_EINVALID;
	if (rc == MUTUAL_EINVALID)
		return mutual__fail(MUTUAL_EINVALID, "%s must be a JSON object, like {\"status\":\"open\"}", what);
	return rc; /* 0, or out of memory */
}

static int append_library_event(mutual_event_id *out, mutual_store *s, const char *type, mutual_buf *payload)
{
	mutual_append_entry e = { type, NULL };
	int rc = mutual__buf_cstr(payload);
	if (rc < 0)
		return rc;
	e.payload = (const char *)payload->data;
	return mutual__append(out, s, &e, 1, 1);
}

static int put_kind_id(mutual_buf *b, const char *kind, const char *id)
{
	int rc;
	if ((rc = mutual__project_check_name(kind, kind ? strlen(kind) : 0, "the kind")) < 0 ||
	    (rc = mutual__project_check_name(id, id ? strlen(id) : 0, "the id")) < 0)
		return rc;
	if (mutual__buf_printf(b, "{\"kind\":") < 0 || mutual__json_put_string(b, kind) < 0 ||
	    mutual__buf_printf(b, ",\"id\":") < 0 || mutual__json_put_string(b, id) < 0)
		return MUTUAL_ERROR;
	return 0;
}

typedef struct {
	int bad;
	char key[64];
} fields_check;

static int check_field_name(const char *key, size_t key_len, const char *value, size_t len, void *payload)
{
	fields_check *c = payload;
	(void)value;
	(void)len;
	if (!key[0] || key[0] == '_' || key_len != strlen(key) || mutual__project_check_name(key, key_len, "field") < 0) {
		c->bad = 1;
		snprintf(c->key, sizeof(c->key), "%s", key);
		return 1;
	}
	return 0;
}

int mutual_entity_put(mutual_event_id *out, mutual_store *s, const char *kind, const char *id, const char *fields)
{
	mutual_buf b = { 0 };
	fields_check fc = { 0, "" };
	int rc;

	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	mutual__error_clear();
	if ((rc = check_json_object(fields, "the fields")) < 0)
		return rc;
	if ((rc = mutual__json_members(fields, strlen(fields), check_field_name, &fc)) < 0)
		return rc;
	if (fc.bad)
		return mutual__fail(MUTUAL_EINVALID, "field names are 1 to %d bytes and do not start with '_' (\"%s\")",
			MUTUAL_NAME_MAX, fc.key);
	if ((rc = put_kind_id(&b, kind, id)) == 0 && (rc = mutual__buf_printf(&b, ",\"fields\":%s}", fields)) == 0)
		rc = append_library_event(out, s, "mutual.entity.put", &b);
	mutual__buf_free(&b);
	return rc;
}

int mutual_entity_delete(mutual_event_id *out, mutual_store *s, const char *kind, const char *id)
{
	mutual_buf b = { 0 };
	int rc;
	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	mutual__error_clear();
	if ((rc = put_kind_id(&b, kind, id)) == 0 && (rc = mutual__buf_put_u8(&b, '}')) == 0)
		rc = append_library_event(out, s, "mutual.entity.del", &b);
	mutual__buf_free(&b);
	return rc;
}

int mutual_counter_add(mutual_event_id *out, mutual_store *s, const char *key, const char *delta)
{
	mutual_buf b = { 0 };
	int64_t v;
	int rc;
	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	mutual__error_clear();
	if ((rc = mutual__project_check_name(key, key ? strlen(key) : 0, "the counter")) < 0)
		return rc;
	if (!delta || mutual__parse_fixed(&v, delta, strlen(delta)) < 0)
		return mutual__fail(MUTUAL_EINVALID, "a counter delta is a number with at most 6 decimals, like 12 or -0.25");
	if (mutual__buf_printf(&b, "{\"key\":") < 0 || mutual__json_put_string(&b, key) < 0 ||
	    mutual__buf_printf(&b, ",\"delta\":%s}", delta) < 0)
		rc = MUTUAL_ERROR;
	else
		rc = append_library_event(out, s, "mutual.counter.add", &b);
	mutual__buf_free(&b);
	return rc;
}

/* ------------------------------------------------------------------ reads */

static void put_fixed(mutual_buf *b, int64_t v)
{
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t frac = mag % 1000000;
	char digits[8];
	int n = 6;
	if (v < 0)
		mutual__buf_put_u8(b, '-');
	mutual__buf_printf(b, "%" PRIu64, mag / 1000000);
	if (!frac)
		return;
	snprintf(digits, sizeof(digits), "%06" PRIu64, frac);
	while (n > 0 && digits[n - 1] == '0')
		n--;
	mutual__buf_printf(b, ".%.*s", n, digits);
}

/* Canonical JSON of one entity or all entities of a kind, from the rows of
 * entity_writes ordered by (id, field, total order descending). */
int mutual_state_json(char **out, mutual_store *s, const char *kind, const char *id)
{
	sqlite3_stmt *st = NULL;
	mutual_buf b = { 0 }, fields = { 0 }, writers = { 0 }, conflicts = { 0 };
	char cur_id[MUTUAL_NAME_MAX + 1] = "", cur_field[MUTUAL_NAME_MAX + 1] = "";
	mutual_buf winner = { 0 }; /* the current field's value */
	int rc, have = 0, deleted = 0, n_entities = 0, field_conflicts = 0;

	if (!out || !s || !kind)
		return mutual__fail(MUTUAL_EINVALID, "no store, output or kind given");
	*out = NULL;
	mutual__error_clear();
	if ((rc = mutual__apps_catch_up(s)) < 0)
		return rc;
	rc = sqlite3_prepare_v2(SQLITE(s), id
		? "SELECT id, field, value, device, seq, hlc FROM entity_writes WHERE kind = ?1 AND id = ?2"
		  " ORDER BY id, field, hlc DESC, device DESC, seq DESC"
		: "SELECT id, field, value, device, seq, hlc FROM entity_writes WHERE kind = ?1"
		  " ORDER BY id, field, hlc DESC, device DESC, seq DESC", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "cannot read the state");
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (id)
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	rc = mutual__buf_printf(&b, "{\"entities\":[");

#define FLUSH_ENTITY()                                                                                   \
	do {                                                                                             \
		if (have) {                                                                              \
			if (field_conflicts)                                                             \
				mutual__buf_put_u8(&conflicts, ']');                                   \
			mutual__buf_printf(&b, "%s{\"conflicts\":{", n_entities++ ? "," : "");          \
			mutual__buf_put(&b, conflicts.data, conflicts.len);                              \
			mutual__buf_printf(&b, "},\"deleted\":%s,\"fields\":{", deleted ? "true" : "false"); \
			mutual__buf_put(&b, fields.data, fields.len);                                    \
			mutual__buf_printf(&b, "},\"id\":");                                             \
			mutual__json_put_string(&b, cur_id);                                             \
			mutual__buf_printf(&b, ",\"writers\":{");                                        \
			mutual__buf_put(&b, writers.data, writers.len);                                  \
			mutual__buf_printf(&b, "}}");                                                    \
		}                                                                                        \
		fields.len = writers.len = conflicts.len = 0;                                            \
		deleted = 0;                                                                             \
		field_conflicts = 0;                                                                     \
		cur_field[0] = '\0';                                                                     \
	} while (0)

	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row_id = (const char *)sqlite3_column_text(st, 0);
		const char *field = (const char *)sqlite3_column_text(st, 1);
		const char *value = (const char *)sqlite3_column_text(st, 2);
		char dev[65];
		rc = 0;
		if (!row_id || !field || !value || sqlite3_column_bytes(st, 3) != 32)
			continue;
		mutual__hex(dev, sqlite3_column_blob(st, 3), 32);
		if (!have || strcmp(row_id, cur_id) != 0) {
			FLUSH_ENTITY();
			snprintf(cur_id, sizeof(cur_id), "%s", row_id);
			have = 1;
		}
		if (strcmp(field, cur_field) != 0) {
			/* The first row of a field is its winner. */
			if (field_conflicts)
				mutual__buf_put_u8(&conflicts, ']');
			field_conflicts = 0;
			snprintf(cur_field, sizeof(cur_field), "%s", field);
			winner.len = 0;
			mutual__buf_put(&winner, value, strlen(value));
			mutual__buf_cstr(&winner);
			if (strcmp(field, "_deleted") == 0) {
				deleted = strcmp(value, "true") == 0;
			} else {
				if (fields.len)
					mutual__buf_put_u8(&fields, ',');
				mutual__json_put_string(&fields, field);
				mutual__buf_printf(&fields, ":%s", value);
			}
			if (writers.len)
				mutual__buf_put_u8(&writers, ',');
			mutual__json_put_string(&writers, field);
			mutual__buf_printf(&writers, ":{\"device\":\"%s\",\"hlc\":%lld,\"seq\":%lld}", dev,
				(long long)sqlite3_column_int64(st, 5), (long long)sqlite3_column_int64(st, 4));
			continue;
		}
		/* Later rows of the same field: concurrent writes that lost. One
		 * that set the same value disagrees with nobody. */
		if (strcmp(value, (const char *)winner.data) == 0)
			continue;
		if (!field_conflicts) {
			if (conflicts.len)
				mutual__buf_put_u8(&conflicts, ',');
			mutual__json_put_string(&conflicts, field);
			mutual__buf_put(&conflicts, ":[", 2);
		} else {
			mutual__buf_put_u8(&conflicts, ',');
		}
		field_conflicts++;
		mutual__buf_printf(&conflicts, "{\"device\":\"%s\",\"hlc\":%lld,\"seq\":%lld,\"value\":%s}", dev,
			(long long)sqlite3_column_int64(st, 5), (long long)sqlite3_column_int64(st, 4), value);
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = fail(s, rc, "cannot read the state");
	if (rc == 0) {
		FLUSH_ENTITY();
		rc = mutual__buf_printf(&b, "],\"kind\":");
		rc = rc ? rc : mutual__json_put_string(&b, kind);
		rc = rc ? rc : mutual__buf_put_u8(&b, '}');
		rc = rc ? rc : mutual__buf_cstr(&b);
	}
#undef FLUSH_ENTITY
	sqlite3_finalize(st);
	mutual__buf_free(&winner);
	mutual__buf_free(&fields);
	mutual__buf_free(&writers);
	mutual__buf_free(&conflicts);
	if (rc < 0) {
		mutual__buf_free(&b);
		return rc;
	}
	if (id && n_entities == 0) {
		mutual__buf_free(&b);
		return mutual__fail(MUTUAL_ENOTFOUND, "there is no %s with id '%s'", kind, id);
	}
	*out = (char *)b.data;
	return 0;
}

int mutual_counters_json(char **out, mutual_store *s, const char *key)
{
	sqlite3_stmt *st = NULL;
	mutual_buf b = { 0 };
	int rc, n = 0;

	if (!out || !s)
		return mutual__fail(MUTUAL_EINVALID, "no store or output given");
	*out = NULL;
	mutual__error_clear();
	rc = sqlite3_prepare_v2(SQLITE(s), key ? "SELECT key, value FROM counters WHERE key = ?"
					       : "SELECT key, value FROM counters ORDER BY key", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "cannot read the counters");
	if (key)
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = mutual__buf_put_u8(&b, '{');
	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = 0;
		if (n++)
			mutual__buf_put_u8(&b, ',');
		mutual__json_put_string(&b, (const char *)sqlite3_column_text(st, 0));
		mutual__buf_put_u8(&b, ':');
		put_fixed(&b, sqlite3_column_int64(st, 1));
	}
	rc = rc == SQLITE_DONE || rc == 0 ? 0 : fail(s, rc, "cannot read the counters");
	sqlite3_finalize(st);
	if (rc == 0)
		rc = mutual__buf_put_u8(&b, '}');
	if (rc == 0)
		rc = mutual__buf_cstr(&b);
	if (rc == 0 && key && n == 0)
		rc = mutual__fail(MUTUAL_ENOTFOUND, "there is no counter '%s'", key);
	if (rc < 0) {
		mutual__buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	return 0;
}

/* --------------------------------------------------------------- digest */

/* Hash every row of `sql` (all columns, typed) into the running buffer. */
static int digest_rows(mutual_store *s, mutual_buf *acc, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(SQLITE(s), sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "cannot digest the state");
	mutual__buf_printf(acc, "%s\n", sql);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int n = sqlite3_column_count(st);
		for (int i = 0; i < n; i++) {
			int type = sqlite3_column_type(st, i);
			mutual__buf_put_u8(acc, (uint8_t)type);
			if (type == SQLITE_INTEGER) {
				mutual__buf_put_u64(acc, (uint64_t)sqlite3_column_int64(st, i));
			} else if (type == SQLITE_FLOAT) {
				mutual__buf_printf(acc, "%.17g", sqlite3_column_double(st, i));
			} else if (type != SQLITE_NULL) {
				const void *p = type == SQLITE_BLOB ? sqlite3_column_blob(st, i) : (const void *)sqlite3_column_text(st, i);
				int len = sqlite3_column_bytes(st, i);
				mutual__buf_put_u32(acc, (uint32_t)len);
				mutual__buf_put(acc, p, (size_t)len);
			}
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "cannot digest the state");
}

int mutual_state_digest(uint8_t out[MUTUAL_HASH_SIZE], mutual_store *s)
{
	mutual_buf acc = { 0 };
	sqlite3_stmt *st = NULL;
	int rc;

	if (!out || !s)
		return mutual__fail(MUTUAL_EINVALID, "no store or output given");
	mutual__error_clear();
	if ((rc = mutual__apps_catch_up(s)) < 0)
		return rc;
	if ((rc = digest_rows(s, &acc, "SELECT kind, id, field, device, seq, hlc, value FROM entity_writes"
				      " ORDER BY kind, id, field, device, seq")) < 0 ||
	    (rc = digest_rows(s, &acc, "SELECT key, value FROM counters ORDER BY key")) < 0 ||
	    (rc = digest_rows(s, &acc, "SELECT device, seq FROM forks ORDER BY device")) < 0)
		goto done;
	/* Every app projection's tables, whole, in a fixed order. */
	rc = sqlite3_prepare_v2(SQLITE(s), "SELECT t.name FROM sqlite_master t, app_projections p WHERE t.type = 'table'"
		" AND substr(t.name, 1, length(p.name) + 1) = p.name || '_' ORDER BY t.name", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = fail(s, rc, "cannot digest the state");
		goto done;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mutual_buf sql = { 0 };
		const char *table = (const char *)sqlite3_column_text(st, 0);
		int cols;
		sqlite3_stmt *probe = NULL;
		mutual__buf_printf(&sql, "SELECT * FROM \"%s\"", table);
		mutual__buf_cstr(&sql);
		if (sqlite3_prepare_v2(SQLITE(s), (const char *)sql.data, -1, &probe, NULL) == SQLITE_OK) {
			cols = sqlite3_column_count(probe);
			sqlite3_finalize(probe);
			mutual__buf_printf(&sql, " ORDER BY ");
			for (int i = 1; i <= cols; i++)
				mutual__buf_printf(&sql, "%s%d", i > 1 ? "," : "", i);
			mutual__buf_cstr(&sql);
			rc = digest_rows(s, &acc, (const char *)sql.data);
		}
		mutual__buf_free(&sql);
		if (rc < 0 && rc != SQLITE_ROW)
			goto done;
		rc = SQLITE_ROW;
	}
	rc = rc == SQLITE_DONE ? 0 : fail(s, rc, "cannot digest the state");
done:
	sqlite3_finalize(st);
	if (rc == 0)
		mutual__hash(out, acc.data, acc.len);
	mutual__buf_free(&acc);
	return rc;
}
