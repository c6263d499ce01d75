/*
 * project.c - deterministic state from the merged logs: entities (a
 * register per field) and counters, their JSON, the state digest, and
 * rebuild. This file holds the rules; the rows they keep are stored and
 * read through db.h (the SQL is db_state.c's), and app-defined SQL
 * projections are apps.c's.
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
 *     and never the log: late events land cheaply. Asserted in
 *     apply_field (vec_grew); the property tests (project/property-*)
 *     check the whole of NOTES 1 and 2 against every arrival order.
 *  3. Deletion is the field "_deleted"; a put writes "_deleted": false
 *     too, so a delete concurrent with an edit is an ordinary conflict.
 *  4. Counters are sums of fixed-point deltas (6 decimal places, int64),
 *     exact under any order.
 *  5. Quarantined events (a forked device, from its fork seq) are never
 *     applied; learning of a fork rebuilds every projection.
 *  6. Reads are functions of the kept rows alone, so every device that
 *     applied the same events reads the same bytes: mutual_state_json
 *     takes a field's first row in the total order, descending, as its
 *     value and lists the others that set another value as conflicts;
 *     mutual_state_digest hashes the rows of every projection (entity
 *     writes, counters, forks, each app projection's tables) in a fixed
 *     order, each column with its type.
 *  7. A failed allocation never gives a wrong result: a buffer's failure
 *     is sticky (common.h), and each builder checks its buffers once,
 *     before the result is used; an event or field is skipped as
 *     malformed only when json.c says so (MUTUAL_EINVALID, ENOTFOUND),
 *     never when memory ran out (MUTUAL_ERROR fails the apply).
 *  8. Refused events (a removed device's, after its cut: roles.c NOTES 7)
 *     are never applied, like quarantined ones. Role events are applied
 *     whatever the removals say, so the removals (what the role events
 *     resolve to) never depend on themselves. When a write transaction
 *     changes them, it rebuilds every projection before it commits
 *     (mutual__project_settle), so what was applied before a removal
 *     arrived is taken out again. A rebuild applies the removals held; if
 *     its role events resolve to others, one more pass with those settles.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "event.h"
#include "json.h"
#include "project.h"
#include "roles.h"
#include "rotation.h"
#include "store.h"

#define BAD_FIELD_SHOWN 64 /* bytes of a refused field name an error message shows */

/* ------------------------------------------------------------ seen vector */

/* A seen vector: entries device (32) | seq (u64), sorted by device, as a
 * frontier (mutual__frontier_find and _seq read one). */
/* out = max(a, b) entry by entry; both sorted. */
static int vec_merge(mutual_buf *out, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	size_t i = 0, j = 0;
	out->len = 0;
	while (i < na || j < nb) {
		const uint8_t *x = i < na ? a + i * MUTUAL_FRONTIER_ENTRY : NULL;
		const uint8_t *y = j < nb ? b + j * MUTUAL_FRONTIER_ENTRY : NULL;
		int c = !x ? 1 : !y ? -1 : memcmp(x, y, MUTUAL_KEY_SIZE);
		const uint8_t *take = c <= 0 ? x : y;
		uint64_t seq = mutual__get_u64(take + MUTUAL_KEY_SIZE);
		if (c == 0) {
			uint64_t other = mutual__get_u64(y + MUTUAL_KEY_SIZE);
			seq = seq > other ? seq : other;
		}
		mutual__buf_put(out, take, MUTUAL_KEY_SIZE);
		mutual__buf_put_u64(out, seq);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	return mutual__buf_check(out);
}

/* out = a, each entry raised to what `saw` holds for its device: the
 * vector keeps a's devices only, whatever `saw` names. */
static int vec_raise(mutual_buf *out, const uint8_t *a, size_t na, const uint8_t *saw, size_t nsaw)
{
	out->len = 0;
	for (size_t i = 0; i < na; i++) {
		const uint8_t *e = a + i * MUTUAL_FRONTIER_ENTRY;
		uint64_t seq = mutual__get_u64(e + MUTUAL_KEY_SIZE), other = mutual__frontier_seq(saw, nsaw, e);
		mutual__buf_put(out, e, MUTUAL_KEY_SIZE);
		mutual__buf_put_u64(out, seq > other ? seq : other);
	}
	return mutual__buf_check(out);
}

/* What the writer of `ev` had seen: its frontier, plus its own earlier events. */
static int writer_saw(mutual_buf *out, const mutual_event_rec *ev)
{
	uint8_t own[MUTUAL_FRONTIER_ENTRY];
	memcpy(own, ev->device, MUTUAL_KEY_SIZE);
	mutual__set_u64(own + MUTUAL_KEY_SIZE, ev->seq - 1);
	return vec_merge(out, ev->frontier, ev->frontier_n, own, ev->seq > 1 ? 1 : 0);
}

/* --------------------------------------------------------------- entities */

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

/* A malformed event, or field, is skipped alike on every device; running
 * out of memory is no reason to skip one, so that fails the apply. json.c
 * reports that, and only that, as MUTUAL_ERROR (json.h). */
static int skipped(int rc)
{
	return rc == MUTUAL_ERROR ? rc : 0;
}

/* An entity event being applied, with scratch buffers its fields reuse. */
typedef struct {
	mutual_store *s;
	const mutual_event_rec *ev;
	const char *kind, *id;
	mutual_buf saw, canon;
	mutual_buf kind_buf, id_buf;
	mutual_buf old, grown, vec, kept; /* apply_field's */
	int settled;                      /* kept writes changed: resolve the entity anew */
} entity_ctx;

#ifndef NDEBUG
/* NOTES 2, asserted: a seen vector only grows. Every entry of `old` is at
 * most what `now` holds for its device. */
static int vec_grew(const mutual_buf *now, const mutual_buf *old)
{
	size_t n_now = now->len / MUTUAL_FRONTIER_ENTRY;
	for (size_t i = 0; i < old->len / MUTUAL_FRONTIER_ENTRY; i++) {
		const uint8_t *e = old->data + i * MUTUAL_FRONTIER_ENTRY;
		if (mutual__frontier_seq(now->data, n_now, e) < mutual__get_u64(e + MUTUAL_KEY_SIZE))
			return 0;
	}
	return 1;
}
#endif

/* One write of one field: see NOTES 1 and 2. */
static int apply_field(entity_ctx *x, const char *field, const char *value, size_t value_len)
{
	mutual_db *db = x->s->db;
	const mutual_event_rec *ev = x->ev;
	const char *kind = x->kind, *id = x->id;
	const uint8_t *old;
	size_t old_n, n_vec;
	int rc, dropped = 0;

	/* The field's seen vector grows by what this writer saw. */
	if ((rc = mutual__db_seen_get(db, kind, id, field, &x->old)) < 0)
		return rc;
	old = x->old.data;
	old_n = x->old.len / MUTUAL_FRONTIER_ENTRY;
	/* A device new to the field: what the field's writes saw of it. */
	if (!mutual__frontier_find(old, old_n, ev->device)) {
		uint8_t entry[MUTUAL_FRONTIER_ENTRY];
		uint64_t seen;
		if ((rc = mutual__db_history_seen(db, kind, id, field, ev->device, &seen)) < 0)
			return rc;
		memcpy(entry, ev->device, MUTUAL_KEY_SIZE);
		mutual__set_u64(entry + MUTUAL_KEY_SIZE, seen);
		if ((rc = vec_merge(&x->grown, old, old_n, entry, 1)) < 0)
			return rc;
		old = x->grown.data;
		old_n++;
	}
	if ((rc = vec_raise(&x->vec, old, old_n, x->saw.data, x->saw.len / MUTUAL_FRONTIER_ENTRY)) < 0 ||
	    (rc = mutual__db_history_add(db, kind, id, field, ev->device, ev->seq)) < 0 ||
	    (rc = mutual__db_seen_set(db, kind, id, field, x->vec.data, x->vec.len / MUTUAL_FRONTIER_ENTRY)) < 0)
		return rc;
	assert(vec_grew(&x->vec, &x->old)); /* NOTES 2 */

	/* Drop the writes now seen; keep this one unless it was already seen. */
	n_vec = x->vec.len / MUTUAL_FRONTIER_ENTRY;
	x->kept.len = 0;
	if ((rc = mutual__db_field_writes_list(db, kind, id, field, &x->kept)) < 0)
		return rc;
	for (size_t i = 0; i < x->kept.len / MUTUAL_FRONTIER_ENTRY; i++) {
		const uint8_t *w = x->kept.data + i * MUTUAL_FRONTIER_ENTRY;
		uint64_t seq = mutual__get_u64(w + MUTUAL_KEY_SIZE);
		if (mutual__frontier_seq(x->vec.data, n_vec, w) < seq)
			continue;
		if ((rc = mutual__db_field_write_drop(db, kind, id, field, w, seq)) < 0)
			return rc;
		dropped = 1;
	}
	if (last_arrival_wins()) {
		if ((rc = mutual__db_field_writes_clear(db, kind, id, field)) < 0)
			return rc;
	} else if (mutual__frontier_seq(x->vec.data, n_vec, ev->device) >= ev->seq) {
		/* another write of this field saw this one: it is history */
		x->settled |= dropped;
		return 0;
	}
	x->settled = 1;
	if ((rc = mutual__db_field_write_add(db, kind, id, field, ev->device, ev->seq, ev->hlc, value, value_len)) < 0)
		return rc;
	x->s->projection_stats.fields_updated++;
	return 0;
}

static int apply_member(const char *key, size_t klen, const char *value, size_t len, void *payload)
{
	entity_ctx *x = payload;
	int rc;
	if (klen == 0 || key[0] == '_' || klen != strlen(key) || mutual__check_name(key, klen, "field", MUTUAL_NAME_LOGGED) < 0)
		return 0; /* not a field an app may set: ignored, the same way everywhere */
	x->canon.len = 0;
	if ((rc = mutual__json_canonical(&x->canon, value, len)) < 0)
		return skipped(rc);
	return apply_field(x, key, (const char *)x->canon.data, x->canon.len);
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
	 * come from this library (its API checks them). */
	if ((rc = mutual__json_get_string(&x.kind_buf, ev->payload, ev->payload_len, "kind")) < 0 ||
	    (rc = mutual__json_get_string(&x.id_buf, ev->payload, ev->payload_len, "id")) < 0 ||
	    (rc = mutual__check_name((const char *)x.kind_buf.data, x.kind_buf.len, "kind", MUTUAL_NAME_LOGGED)) < 0 ||
	    (rc = mutual__check_name((const char *)x.id_buf.data, x.id_buf.len, "id", MUTUAL_NAME_LOGGED)) < 0) {
		rc = skipped(rc);
		goto done;
	}
	x.kind = (const char *)x.kind_buf.data;
	x.id = (const char *)x.id_buf.data;
	if ((rc = writer_saw(&x.saw, ev)) < 0)
		goto done;
	if (!is_delete) {
		if ((rc = mutual__json_members(ev->payload, ev->payload_len, find_fields, &f)) < 0 || !f.fields) {
			rc = skipped(rc);
			goto done;
		}
		if ((rc = mutual__json_members(f.fields, f.len, apply_member, &x)) < 0)
			goto done;
	}
	rc = apply_field(&x, "_deleted", is_delete ? "true" : "false", is_delete ? 4 : 5);
	/* Once per event, not per field: the entity's resolved registers
	 * (db.c schema 4), what the typed walk reads. */
	if (rc == 0 && x.settled)
		rc = mutual__db_entity_resolve(s->db, x.kind, x.id, &x.old, &x.grown);
done:
	mutual__buf_free(&x.saw);
	mutual__buf_free(&x.canon);
	mutual__buf_free(&x.kind_buf);
	mutual__buf_free(&x.id_buf);
	mutual__buf_free(&x.old);
	mutual__buf_free(&x.grown);
	mutual__buf_free(&x.vec);
	mutual__buf_free(&x.kept);
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
	int64_t delta, sum;
	int rc = 0;

	memset(&c, 0, sizeof(c));
	if ((rc = mutual__json_get_string(&c.key, ev->payload, ev->payload_len, "key")) < 0 ||
	    (rc = mutual__check_name((const char *)c.key.data, c.key.len, "counter", MUTUAL_NAME_LOGGED)) < 0 ||
	    (rc = mutual__json_members(ev->payload, ev->payload_len, find_delta, &c)) < 0 || !c.delta ||
	    (rc = mutual__parse_fixed(&delta, c.delta, c.delta_len)) < 0) {
		rc = skipped(rc); /* skipped everywhere alike */
		goto done;
	}
	/* Wrapping addition commutes, so the sum is the same in any order and
	 * exact whenever the true total fits. (SQLite's own + would turn an
	 * overflowing intermediate sum into a float.) */
	if ((rc = mutual__db_counter_get(s->db, (const char *)c.key.data, &sum)) < 0 ||
	    (rc = mutual__db_counter_set(s->db, (const char *)c.key.data,
		     (int64_t)((uint64_t)sum + (uint64_t)delta))) < 0)
		goto done;
	s->projection_stats.fields_updated++;
done:
	mutual__buf_free(&c.key);
	return rc;
}

/* ------------------------------------------------------------------ roles */

/* roles.c judges a role event in its writer's view: what it had seen. */
static int apply_role(mutual_store *s, const mutual_event_rec *ev)
{
	mutual_buf saw = { 0 };
	int rc = writer_saw(&saw, ev);
	if (rc == 0)
		rc = mutual__roles_apply(s, ev, saw.data, saw.len / MUTUAL_FRONTIER_ENTRY);
	mutual__buf_free(&saw);
	return rc;
}

/* ------------------------------------------------------------------ apply */

int mutual__project_apply(mutual_store *s, const mutual_event_rec *ev)
{
	int rc = 0;
	if (ev->type_len < 7 || memcmp(ev->type, "mutual.", 7) != 0)
		return 0;
	/* A fork's events from its seq on are quarantined; a removed device's
	 * after its cut are refused (NOTES 8). A failed read fails the apply:
	 * never taken for "neither". */
	uint64_t fork_seq, removed_cut;
	if ((rc = mutual__db_device_limits(s->db, ev->device, &fork_seq, &removed_cut)) != 0)
		return rc;
	if (fork_seq != 0 && ev->seq >= fork_seq)
		return 0;
	/* An event another device's software signed with a payload that new
	 * appends may not have (a duplicate key, a lone surrogate) is kept
	 * and forwarded, and ignored here, alike on every device. */
	if ((rc = mutual__json_check_strict(ev->payload, ev->payload_len)) < 0) {
		if (rc == MUTUAL_ERROR)
			return rc; /* out of memory: not the payload's fault */
		mutual__error_clear();
		return 0;
	}
	/* Role events first: what they decide never depends on a removal
	 * (NOTES 8), and one after a cut is kept to be shown as void. */
	if (mutual__roles_is_role_type(ev->type, ev->type_len))
		rc = apply_role(s, ev);
	else if (mutual__rotation_is_type(ev->type, ev->type_len))
		return mutual__rotation_apply(s, ev); /* recorded whatever the cut: rotation.c NOTES 1 */
	else if (ev->seq > removed_cut)
		return 0;
	else if (ev->type_len == 17 && memcmp(ev->type, "mutual.entity.put", 17) == 0)
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
	/* NOTES 8: a pass refuses what the removals held say; the role events
	 * it applies decide them again, and no removal holds a role event
	 * back, so a second pass, if one is needed, settles. */
	for (int pass = 0; pass < 2; pass++) {
		int rc;
		s->rebuilding = 1;
		if ((rc = mutual__db_state_clear(s->db)) == 0)
			rc = mutual__deliver_rebuild(s);
		s->rebuilding = 0;
		if (rc == 0)
			rc = mutual__roles_settle(s);
		if (rc <= 0) {
			if (rc == 0) {
				s->removals_changed = 0;
				s->rotations_changed = 1; /* the rotations were applied again */
				rc = mutual__rotation_settle(s);
			}
			return rc;
		}
	}
	return mutual__fail(MUTUAL_ERROR, "the removals did not settle after a rebuild (a bug): run mutual rebuild");
}

/* Test-only: in a build with -Dtest_hooks=true, $MUTUAL_TEST_REMOVAL_NO_REBUILD
 * skips the rebuild a changed removal needs, so what a device applied
 * before it learned of a removal stays: a deliberate bug that
 * roles/removal_property_detects_no_rebuild must catch. A shipped build
 * never reads the variable. */
static int skip_settle(void)
{
#ifdef MUTUAL_TEST_HOOKS
	const char *e = getenv("MUTUAL_TEST_REMOVAL_NO_REBUILD");
	return e && *e && *e != '0';
#else
	return 0;
#endif
}

int mutual__project_settle(mutual_store *s)
{
	if (s->removals_changed) {
		s->rotations_changed = 1; /* which key may seal changed too (a rebuild says so itself) */
		if (skip_settle())
			s->removals_changed = 0;
		else
			return mutual__project_rebuild_locked(s); /* it settles the keys */
	}
	return mutual__rotation_settle(s);
}

int mutual_rebuild(mutual_store *s)
{
	MUTUAL_STORE_ENTER(s);
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

/* The bytes of each version of mutual_projection_stats. */
static const size_t stats_sizes[MUTUAL_PROJECTION_STATS_VERSION + 1] = { 0, sizeof(mutual_projection_stats) };

int mutual_projection_stats_get(mutual_projection_stats *out, const mutual_store *s)
{
	int rc;

	if (!out || !s)
		return mutual__fail(MUTUAL_EINVALID, "no store or output given");
	if ((rc = mutual__output_check(out, "projection stats")) < 0)
		return rc;
	mutual__output_copy(out, &s->projection_stats, MUTUAL_PROJECTION_STATS_VERSION, stats_sizes);
	return 0;
}

/* ----------------------------------------------------------------- writes */

static int check_json_object(const char *json, const char *what)
{
	int rc = json ? mutual__json_check_strict(json, strlen(json)) : MUTUAL_EINVALID;
	if (rc == MUTUAL_ERROR)
		return rc; /* out of memory: no verdict on the text (NOTES 7) */
	if (rc < 0)
		return mutual__fail(MUTUAL_EINVALID, "%s must be a JSON object, like {\"status\":\"open\"}", what);
	return 0;
}

/* The entry builders below give the event a single write appends
 * (mutual_entity_put and the rest) and a batch holds (batch.c), so both
 * build and check it one way: the type, the payload in `payload`
 * (NUL-terminated; `e->payload` points into it) and the append's own
 * check of the entry, reserved type allowed. */
static int library_entry(mutual_append_entry *e, const char *type, mutual_buf *payload)
{
	int rc = mutual__buf_cstr(payload);
	if (rc < 0)
		return rc;
	e->type = type;
	e->payload = (const char *)payload->data;
	return mutual__append_check(e, 1, 1);
}

static int put_kind_id(mutual_buf *b, const char *kind, const char *id)
{
	int rc;
	if ((rc = mutual__check_name(kind, kind ? strlen(kind) : 0, "the kind", MUTUAL_NAME_NEW)) < 0 ||
	    (rc = mutual__check_name(id, id ? strlen(id) : 0, "the id", MUTUAL_NAME_NEW)) < 0)
		return rc;
	if (mutual__buf_printf(b, "{\"kind\":") < 0 || mutual__json_put_string(b, kind) < 0 ||
	    mutual__buf_printf(b, ",\"id\":") < 0 || mutual__json_put_string(b, id) < 0)
		return MUTUAL_ERROR;
	return 0;
}

typedef struct {
	int bad;
	char key[BAD_FIELD_SHOWN];
} fields_check;

static int check_field_name(const char *key, size_t key_len, const char *value, size_t len, void *payload)
{
	fields_check *c = payload;
	(void)value;
	(void)len;
	if (!key[0] || key[0] == '_' || key_len != strlen(key) || mutual__check_name(key, key_len, "field", MUTUAL_NAME_NEW) < 0) {
		c->bad = 1;
		snprintf(c->key, sizeof(c->key), "%s", key);
		return 1;
	}
	return 0;
}

int mutual__project_put_entry(mutual_append_entry *e, mutual_buf *payload, const char *kind, const char *id,
	const char *fields)
{
	fields_check fc = { 0, "" };
	int rc;

	if ((rc = check_json_object(fields, "the fields")) < 0)
		return rc;
	if ((rc = mutual__json_members(fields, strlen(fields), check_field_name, &fc)) < 0)
		return rc;
	if (fc.bad)
		return mutual__fail(MUTUAL_EINVALID, "field names are 1 to %d bytes and do not start with '_' (\"%s\")",
			MUTUAL_NAME_MAX, fc.key);
	if ((rc = put_kind_id(payload, kind, id)) < 0 || (rc = mutual__buf_printf(payload, ",\"fields\":%s}", fields)) < 0)
		return rc;
	return library_entry(e, "mutual.entity.put", payload);
}

int mutual__project_del_entry(mutual_append_entry *e, mutual_buf *payload, const char *kind, const char *id)
{
	int rc;
	if ((rc = put_kind_id(payload, kind, id)) < 0 || (rc = mutual__buf_put_u8(payload, '}')) < 0)
		return rc;
	return library_entry(e, "mutual.entity.del", payload);
}

int mutual__project_add_entry(mutual_append_entry *e, mutual_buf *payload, const char *key, const char *delta)
{
	int64_t v;
	int rc;
	if ((rc = mutual__check_name(key, key ? strlen(key) : 0, "the counter", MUTUAL_NAME_NEW)) < 0)
		return rc;
	if (!delta || mutual__parse_fixed(&v, delta, strlen(delta)) < 0)
		return mutual__fail(MUTUAL_EINVALID, "a counter delta is a number with at most 6 decimals, like 12 or -0.25");
	if (mutual__buf_printf(payload, "{\"key\":") < 0 || mutual__json_put_string(payload, key) < 0 ||
	    mutual__buf_printf(payload, ",\"delta\":%s}", delta) < 0)
		return MUTUAL_ERROR;
	return library_entry(e, "mutual.counter.add", payload);
}

int mutual_entity_put(mutual_event_id *out, mutual_store *s, const char *kind, const char *id, const char *fields)
{
	MUTUAL_STORE_ENTER(s);
	mutual_append_entry e;
	mutual_buf b = { 0 };
	int rc;

	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	mutual__error_clear();
	if ((rc = mutual__project_put_entry(&e, &b, kind, id, fields)) == 0)
		rc = mutual__append_write(out, s, &e, 1);
	mutual__buf_free(&b);
	return rc;
}

int mutual_entity_delete(mutual_event_id *out, mutual_store *s, const char *kind, const char *id)
{
	MUTUAL_STORE_ENTER(s);
	mutual_append_entry e;
	mutual_buf b = { 0 };
	int rc;

	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	mutual__error_clear();
	if ((rc = mutual__project_del_entry(&e, &b, kind, id)) == 0)
		rc = mutual__append_write(out, s, &e, 1);
	mutual__buf_free(&b);
	return rc;
}

int mutual_counter_add(mutual_event_id *out, mutual_store *s, const char *key, const char *delta)
{
	MUTUAL_STORE_ENTER(s);
	mutual_append_entry e;
	mutual_buf b = { 0 };
	int rc;

	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	mutual__error_clear();
	if ((rc = mutual__project_add_entry(&e, &b, key, delta)) == 0)
		rc = mutual__append_write(out, s, &e, 1);
	mutual__buf_free(&b);
	return rc;
}

/* ------------------------------------------------------------------ reads */

/* A fixed-point value as a JSON number; the caller checks `b` once. */
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

/* mutual_state_json's builder: canonical JSON of the entities, from the
 * rows of mutual__db_entity_rows (by id, field, total order descending).
 * Its writes are not checked one by one: its buffers' failures are sticky,
 * and state_json_check looks at them all once, before b is used. */
typedef struct {
	mutual_buf b, fields, writers, conflicts;
	mutual_buf winner; /* the current field's value */
	char cur_id[MUTUAL_NAME_MAX + 1], cur_field[MUTUAL_NAME_MAX + 1];
	int have, deleted, n_entities, field_conflicts;
} state_json;

/* 0, or "out of memory" when any of the builder's buffers failed. */
static int state_json_check(const state_json *x)
{
	if (mutual__buf_failed(&x->b) || mutual__buf_failed(&x->fields) || mutual__buf_failed(&x->writers) ||
	    mutual__buf_failed(&x->conflicts) || mutual__buf_failed(&x->winner))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	return 0;
}

/* The entity gathered so far, if any, onto b; ready for the next. */
static void state_end_entity(state_json *x)
{
	if (x->have) {
		if (x->field_conflicts)
			mutual__buf_put_u8(&x->conflicts, ']');
		mutual__buf_printf(&x->b, "%s{\"conflicts\":{", x->n_entities++ ? "," : "");
		mutual__buf_put(&x->b, x->conflicts.data, x->conflicts.len);
		mutual__buf_printf(&x->b, "},\"deleted\":%s,\"fields\":{", x->deleted ? "true" : "false");
		mutual__buf_put(&x->b, x->fields.data, x->fields.len);
		mutual__buf_printf(&x->b, "},\"id\":");
		mutual__json_put_string(&x->b, x->cur_id);
		mutual__buf_printf(&x->b, ",\"writers\":{");
		mutual__buf_put(&x->b, x->writers.data, x->writers.len);
		mutual__buf_printf(&x->b, "}}");
	}
	x->fields.len = x->writers.len = x->conflicts.len = 0;
	x->deleted = 0;
	x->field_conflicts = 0;
	x->cur_field[0] = '\0';
}

static int state_row(const mutual_db_entity_row *row, void *payload)
{
	state_json *x = payload;
	char dev[MUTUAL_KEY_HEX_SIZE];

	mutual__hex(dev, row->device, MUTUAL_KEY_SIZE);
	if (!x->have || strcmp(row->id, x->cur_id) != 0) {
		state_end_entity(x);
		snprintf(x->cur_id, sizeof(x->cur_id), "%s", row->id);
		x->have = 1;
	}
	if (strcmp(row->field, x->cur_field) != 0) {
		/* The first row of a field is its winner. */
		if (x->field_conflicts)
			mutual__buf_put_u8(&x->conflicts, ']');
		x->field_conflicts = 0;
		snprintf(x->cur_field, sizeof(x->cur_field), "%s", row->field);
		x->winner.len = 0;
		mutual__buf_put(&x->winner, row->value, strlen(row->value));
		if (mutual__buf_cstr(&x->winner) < 0)
			return MUTUAL_ERROR; /* compared with at once: no use going on */
		if (strcmp(row->field, "_deleted") == 0) {
			x->deleted = strcmp(row->value, "true") == 0;
		} else {
			if (x->fields.len)
				mutual__buf_put_u8(&x->fields, ',');
			mutual__json_put_string(&x->fields, row->field);
			mutual__buf_printf(&x->fields, ":%s", row->value);
		}
		if (x->writers.len)
			mutual__buf_put_u8(&x->writers, ',');
		mutual__json_put_string(&x->writers, row->field);
		mutual__buf_printf(&x->writers, ":{\"device\":\"%s\",\"hlc\":%lld,\"seq\":%lld}", dev,
			(long long)row->hlc, (long long)row->seq);
		return 0;
	}
	/* Later rows of the same field: concurrent writes that lost. One
	 * that set the same value disagrees with nobody. */
	if (strcmp(row->value, (const char *)x->winner.data) == 0)
		return 0;
	if (!x->field_conflicts) {
		if (x->conflicts.len)
			mutual__buf_put_u8(&x->conflicts, ',');
		mutual__json_put_string(&x->conflicts, row->field);
		mutual__buf_put(&x->conflicts, ":[", 2);
	} else {
		mutual__buf_put_u8(&x->conflicts, ',');
	}
	x->field_conflicts++;
	mutual__buf_printf(&x->conflicts, "{\"device\":\"%s\",\"hlc\":%lld,\"seq\":%lld,\"value\":%s}", dev,
		(long long)row->hlc, (long long)row->seq, row->value);
	return 0;
}

/* Canonical JSON of one entity or all entities of a kind. */
int mutual_state_json(char **out, mutual_store *s, const char *kind, const char *id)
{
	MUTUAL_STORE_ENTER(s);
	state_json x;
	int rc;

	if (!out || !s || !kind)
		return mutual__fail(MUTUAL_EINVALID, "no store, output or kind given");
	*out = NULL;
	mutual__error_clear();
	if ((rc = mutual__apps_catch_up(s)) < 0)
		return rc;
	memset(&x, 0, sizeof(x));
	rc = mutual__buf_printf(&x.b, "{\"entities\":[");
	if (rc == 0)
		rc = mutual__db_entity_rows(s->db, kind, id, state_row, &x);
	if (rc == 0) {
		state_end_entity(&x);
		mutual__buf_printf(&x.b, "],\"kind\":");
		mutual__json_put_string(&x.b, kind);
		mutual__buf_put_u8(&x.b, '}');
		mutual__buf_cstr(&x.b);
		rc = state_json_check(&x);
	}
	mutual__buf_free(&x.winner);
	mutual__buf_free(&x.fields);
	mutual__buf_free(&x.writers);
	mutual__buf_free(&x.conflicts);
	if (rc < 0) {
		mutual__buf_free(&x.b);
		return rc;
	}
	if (id && x.n_entities == 0) {
		mutual__buf_free(&x.b);
		return mutual__fail(MUTUAL_ENOTFOUND, "there is no %s with id '%s'", kind, id);
	}
	*out = (char *)x.b.data;
	return 0;
}

typedef struct {
	mutual_buf b;
	int n;
} counters_json;

static int counter_row(const mutual_db_counter_row *row, void *payload)
{
	counters_json *x = payload;
	if (x->n++)
		mutual__buf_put_u8(&x->b, ',');
	mutual__json_put_string(&x->b, row->key);
	mutual__buf_put_u8(&x->b, ':');
	put_fixed(&x->b, row->value);
	return 0;
}

int mutual_counters_json(char **out, mutual_store *s, const char *key)
{
	MUTUAL_STORE_ENTER(s);
	counters_json x = { { 0 }, 0 };
	int rc;

	if (!out || !s)
		return mutual__fail(MUTUAL_EINVALID, "no store or output given");
	*out = NULL;
	mutual__error_clear();
	rc = mutual__buf_put_u8(&x.b, '{');
	if (rc == 0)
		rc = mutual__db_counter_rows(s->db, key, counter_row, &x);
	if (rc == 0) {
		mutual__buf_put_u8(&x.b, '}');
		mutual__buf_cstr(&x.b);
		rc = mutual__buf_check(&x.b); /* counter_row's writes too */
	}
	if (rc == 0 && key && x.n == 0)
		rc = mutual__fail(MUTUAL_ENOTFOUND, "there is no counter '%s'", key);
	if (rc < 0) {
		mutual__buf_free(&x.b);
		return rc;
	}
	*out = (char *)x.b.data;
	return 0;
}

/* --------------------------------------------------------------- digest */

/* What the digest hashes, in mutual__db_state_rows's order: each table's
 * query text and a newline, then per row each column as its type (one
 * byte) and its value: an integer as u64, a float as "%.17g", text and
 * blobs as a u32 length and their bytes, NULL as nothing more. */
static int digest_row(const char *query, const mutual_db_value *values, size_t n, void *payload)
{
	mutual_buf *acc = payload;
	if (!values)
		return mutual__buf_printf(acc, "%s\n", query);
	for (size_t i = 0; i < n; i++) {
		const mutual_db_value *v = &values[i];
		mutual__buf_put_u8(acc, (uint8_t)v->type);
		if (v->type == MUTUAL_DB_INTEGER) {
			mutual__buf_put_u64(acc, (uint64_t)v->integer);
		} else if (v->type == MUTUAL_DB_FLOAT) {
			mutual__buf_printf(acc, "%.17g", v->real);
		} else if (v->type != MUTUAL_DB_NULL) {
			mutual__buf_put_u32(acc, (uint32_t)v->len);
			mutual__buf_put(acc, v->bytes, v->len);
		}
	}
	return mutual__buf_check(acc); /* a failed buffer stops the read */
}

int mutual_state_digest(uint8_t out[MUTUAL_HASH_SIZE], mutual_store *s)
{
	MUTUAL_STORE_ENTER(s);
	mutual_buf acc = { 0 };
	int rc;

	if (!out || !s)
		return mutual__fail(MUTUAL_EINVALID, "no store or output given");
	mutual__error_clear();
	if ((rc = mutual__apps_catch_up(s)) < 0)
		return rc;
	/* Never the digest of a truncated input: acc is checked before it is hashed. */
	rc = mutual__db_state_rows(s->db, digest_row, &acc);
	if (rc == 0)
		rc = mutual__buf_check(&acc);
	if (rc == 0)
		mutual__hash(out, acc.data, acc.len);
	mutual__buf_free(&acc);
	return rc;
}
