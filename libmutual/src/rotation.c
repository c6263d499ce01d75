/*
 * rotation.c - the group key rotates. A coordinator writes one
 * `mutual.key.rotate` event: a new key (a random id, and its commitment),
 * sealed to each remaining device in a sealed box, the keys it follows, and
 * the removed devices it excludes. Every device records it; a device whose
 * box it holds takes the key once the rotation counts; the key new
 * segments are sealed with is chosen from what the store holds.
 *
 * NOTES ON THE DESIGN
 *  1. Two questions: whose keys are taken, and which rotations count.
 *     A key boxed to this device is taken from a rotation by any device
 *     that was ever made coordinator (it founded the group, or a
 *     coordinator granted it the role, even if a later cut voids that
 *     grant), whatever its cut, at most MUTUAL_ROTATION_TAKEN_MAX from
 *     one writer: a device that sealed with it before it learned of a
 *     removal must stay readable by all. A member never made coordinator
 *     cannot fill group.key. A rotation counts (may be sealed with) when
 *     its writer is a coordinator now and it seals the key to every
 *     coordinator now, so a removed thief's rotation, or one that leaves
 *     out a coordinator, is never sealed with once it is known for what
 *     it is. The keys taken stay, to read what was sealed with them.
 *  2. The key to seal with: among the rotations that count and that no
 *     other that counts follows (the heads), one that excludes every
 *     removed device this store knows of and whose key is held; of several
 *     (concurrent rotations) the lowest commitment, the same everywhere.
 *     No rotation at all and no removal: the key the store began with.
 *     Otherwise nothing: this device's new events wait (held back, and
 *     the sync says why) until a coordinator's key arrives. So from the
 *     moment a device knows of a removal it seals only with a key whose
 *     rotation excluded the removed device: one it never received.
 *  3. A rotation event is sealed with the key it follows (`after`'s
 *     first), and ends its segment: whoever lacks the new key reads its box
 *     with the old one. Its writer's events before it are sealed with that
 *     key too (an event cannot wait on a key written after it).
 *  4. The current key is group.key's first line, so invites, fork proofs
 *     and older readers of the file see it; settling moves it there.
 *  5. A coordinator rotates again on its own, at the start of a sync,
 *     when no key may seal, when rotations were concurrent (several
 *     heads: the new one follows them all), or when the key in use
 *     excludes a device whose removal did not stand. Each condition ends
 *     once the new rotation is seen, so coordinators meeting in turn
 *     settle on one key. A device that joins later is not sealed a key on
 *     its own: its invite carries the keys (invite.c), and joining is not
 *     yet approved by a coordinator (that is what would let a rotation
 *     also reach a device whose invite predates it).
 */
#include "rotation.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "json.h"
#include "roles.h"
#include "store.h"

#define BOX_ENTRY (MUTUAL_KEY_SIZE + MUTUAL_KEY_BOX_SIZE) /* device | sealed box */

/* Test-only: in a build with -Dtest_hooks=true,
 * $MUTUAL_TEST_ROTATION_SEAL_TO_REMOVED=1 seals a rotation's key to the
 * removed devices too (and lets such a rotation be applied): a deliberate
 * bug that roles/removal_property_detects_key_to_removed must catch. A
 * shipped build never reads the variable. */
static int seals_to_removed(void)
{
#ifdef MUTUAL_TEST_HOOKS
	const char *e = getenv("MUTUAL_TEST_ROTATION_SEAL_TO_REMOVED");
	return e && strcmp(e, "1") == 0;
#else
	return 0;
#endif
}

int mutual__rotation_is_type(const char *type, size_t len)
{
	return len == strlen(MUTUAL_ROTATION_TYPE) && memcmp(type, MUTUAL_ROTATION_TYPE, len) == 0;
}

/* ------------------------------------------------------------------ parse */

/* A top-level string member of lowercase hex, decoded into `out`; its
 * length in bytes a multiple of `unit`, at most `max` units. */
static int hex_member(mutual_buf *out, size_t *n, const mutual_event_rec *ev, const char *key, size_t unit, size_t max)
{
	mutual_buf text = { 0 };
	int rc = mutual__json_get_string(&text, ev->payload, ev->payload_len, key);
	if (rc == 0) {
		size_t bytes = text.len / 2;
		rc = MUTUAL_EINVALID;
		if (text.len % 2 == 0 && bytes % unit == 0 && bytes / unit <= max &&
		    strspn((const char *)text.data, "0123456789abcdef") == text.len && mutual__buf_grow(out, bytes + 1) == 0 &&
		    mutual__unhex(out->data, bytes, (const char *)text.data, text.len) == 0) {
			out->len = bytes;
			*n = bytes / unit;
			rc = 0;
		}
	}
	mutual__buf_free(&text);
	return rc;
}

static int contains(const uint8_t *set, size_t n, size_t unit, const uint8_t *item)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(set + i * unit, item, unit) == 0)
			return 1;
	return 0;
}

int mutual__rotation_apply(mutual_store *s, const mutual_event_rec *ev)
{
	mutual_buf commit = { 0 }, key = { 0 }, after = { 0 }, excludes = { 0 }, boxes = { 0 }, boxed = { 0 };
	mutual_db_rotation_row row;
	size_t n, n_boxes;
	int rc;

	memset(&row, 0, sizeof(row));
	row.device = ev->device;
	row.seq = ev->seq;
	if ((rc = hex_member(&key, &n, ev, "key", 4, 1)) == 0 && (rc = n == 1 ? 0 : MUTUAL_EINVALID) == 0 &&
	    (rc = hex_member(&commit, &n, ev, "commit", MUTUAL_HASH_SIZE, 1)) == 0 && (rc = n == 1 ? 0 : MUTUAL_EINVALID) == 0 &&
	    (rc = hex_member(&after, &row.n_after, ev, "after", MUTUAL_HASH_SIZE, MUTUAL_ROTATION_AFTER_MAX)) == 0 &&
	    (rc = row.n_after ? 0 : MUTUAL_EINVALID) == 0 &&
	    (rc = hex_member(&excludes, &row.n_excludes, ev, "excludes", MUTUAL_KEY_SIZE, MUTUAL_ROTATION_DEVICES_MAX)) == 0 &&
	    (rc = hex_member(&boxes, &n_boxes, ev, "boxes", BOX_ENTRY, MUTUAL_ROTATION_DEVICES_MAX)) == 0) {
		row.key_id = mutual__get_u32(key.data);
		row.commit = commit.data;
		row.after = after.data;
		row.excludes = excludes.data;
		/* A rotation that boxes a device it excludes, or excludes its own
		 * writer, contradicts itself: skipped. */
		if (contains(row.excludes, row.n_excludes, MUTUAL_KEY_SIZE, ev->device))
			rc = MUTUAL_EINVALID;
		for (size_t i = 0; rc == 0 && i < n_boxes; i++) {
			const uint8_t *entry = boxes.data + i * BOX_ENTRY;
			if (contains(row.excludes, row.n_excludes, MUTUAL_KEY_SIZE, entry) && !seals_to_removed())
				rc = MUTUAL_EINVALID;
			else if (mutual__buf_put(&boxed, entry, MUTUAL_KEY_SIZE) < 0)
				rc = MUTUAL_ERROR;
			else if (!row.box && memcmp(entry, s->self, MUTUAL_KEY_SIZE) == 0)
				row.box = entry + MUTUAL_KEY_SIZE;
		}
		row.boxed = boxed.data;
		row.n_boxed = n_boxes;
	}
	if (rc < 0 && rc != MUTUAL_ERROR) {
		mutual__error_clear();
		rc = 0; /* malformed: skipped everywhere alike */
	} else if (rc == 0 && (rc = mutual__db_rotation_add(s->db, &row)) == 0) {
		s->rotations_changed = 1;
	}
	mutual__buf_free(&commit);
	mutual__buf_free(&key);
	mutual__buf_free(&after);
	mutual__buf_free(&excludes);
	mutual__buf_free(&boxes);
	mutual__buf_free(&boxed);
	return rc;
}

/* ------------------------------------------------------------------- view */

/* What the choice of a key reads: the rotations, the coordinators and the
 * removed devices, copied out of the store. */
typedef struct {
	struct rotation {
		uint8_t device[MUTUAL_KEY_SIZE];
		uint64_t seq;
		uint32_t key_id;
		uint8_t commit[MUTUAL_HASH_SIZE];
		uint8_t *after;
		size_t n_after;
		uint8_t *excludes;
		size_t n_excludes;
		uint8_t *boxed;
		size_t n_boxed;
		int has_box;
		uint8_t box[MUTUAL_KEY_BOX_SIZE];
		int counts, head;
	} *rot;
	size_t n_rot;
	mutual_buf coordinators, removed, ever; /* ever: devices ever made coordinator */
} view;

static void view_free(view *v)
{
	for (size_t i = 0; i < v->n_rot; i++) {
		free(v->rot[i].after);
		free(v->rot[i].excludes);
		free(v->rot[i].boxed);
	}
	free(v->rot);
	mutual__buf_free(&v->coordinators);
	mutual__buf_free(&v->removed);
	mutual__buf_free(&v->ever);
	memset(v, 0, sizeof(*v));
}

static int copy_rotation(const mutual_db_rotation_row *row, void *payload)
{
	view *v = payload;
	struct rotation *grown = realloc(v->rot, (v->n_rot + 1) * sizeof(*grown)), *r;
	if (!grown)
		return mutual__fail(MUTUAL_ERROR, "out of memory reading the key rotations");
	v->rot = grown;
	r = &v->rot[v->n_rot];
	memset(r, 0, sizeof(*r));
	r->after = malloc(row->n_after * MUTUAL_HASH_SIZE + 1);
	r->excludes = malloc(row->n_excludes * MUTUAL_KEY_SIZE + 1);
	r->boxed = malloc(row->n_boxed * MUTUAL_KEY_SIZE + 1);
	if (!r->after || !r->excludes || !r->boxed) {
		free(r->after);
		free(r->excludes);
		free(r->boxed);
		return mutual__fail(MUTUAL_ERROR, "out of memory reading the key rotations");
	}
	v->n_rot++;
	memcpy(r->device, row->device, MUTUAL_KEY_SIZE);
	r->seq = row->seq;
	r->key_id = row->key_id;
	memcpy(r->commit, row->commit, MUTUAL_HASH_SIZE);
	memcpy(r->after, row->after, row->n_after * MUTUAL_HASH_SIZE);
	r->n_after = row->n_after;
	/* SQLite gives NULL for an empty blob: nothing to copy then. */
	if ((r->n_excludes = row->n_excludes) > 0)
		memcpy(r->excludes, row->excludes, row->n_excludes * MUTUAL_KEY_SIZE);
	if ((r->n_boxed = row->n_boxed) > 0)
		memcpy(r->boxed, row->boxed, row->n_boxed * MUTUAL_KEY_SIZE);
	if ((r->has_box = row->box != NULL))
		memcpy(r->box, row->box, MUTUAL_KEY_BOX_SIZE);
	return 0;
}

static int copy_key(const uint8_t key[MUTUAL_KEY_SIZE], void *payload)
{
	return mutual__buf_put(payload, key, MUTUAL_KEY_SIZE) < 0 ? MUTUAL_ERROR : 0;
}

static int copy_removed(const uint8_t key[MUTUAL_KEY_SIZE], uint64_t cut, void *payload)
{
	(void)cut;
	return copy_key(key, payload);
}

/* NOTES 1: a device a founding or a grant made coordinator, even one a
 * later cut voids: what it sealed while it seemed one must stay readable. */
static int copy_ever(const mutual_db_role_row *row, void *payload)
{
	int founder = row->action == MUTUAL_ROLE_FOUND || row->action == MUTUAL_ROLE_FOUND_UNBOUND;
	if ((row->status != MUTUAL_ROLE_IN_FORCE && row->status != MUTUAL_ROLE_AFTER_CUT) ||
	    (!founder && row->action != MUTUAL_ROLE_GRANT))
		return 0;
	return copy_key(founder ? row->device : row->target, payload);
}

/* Every coordinator now is among the devices the rotation seals to. */
static int boxes_every_coordinator(const view *v, const struct rotation *r)
{
	for (size_t i = 0; i < v->coordinators.len / MUTUAL_KEY_SIZE; i++)
		if (!contains(r->boxed, r->n_boxed, MUTUAL_KEY_SIZE, v->coordinators.data + i * MUTUAL_KEY_SIZE))
			return 0;
	return 1;
}

/* NOTES 1 and 2: which rotations count, and which no counting one follows. */
static int view_load(view *v, mutual_store *s)
{
	int rc;
	memset(v, 0, sizeof(*v));
	if ((rc = mutual__db_rotation_rows(s->db, copy_rotation, v)) < 0 ||
	    (rc = mutual__db_coordinator_rows(s->db, copy_key, &v->coordinators)) < 0 ||
	    (rc = mutual__db_removal_rows(s->db, copy_removed, &v->removed)) < 0 ||
	    (rc = mutual__db_role_rows(s->db, copy_ever, &v->ever)) < 0) {
		view_free(v);
		return rc;
	}
	for (size_t i = 0; i < v->n_rot; i++)
		v->rot[i].counts = contains(v->coordinators.data, v->coordinators.len / MUTUAL_KEY_SIZE, MUTUAL_KEY_SIZE,
					   v->rot[i].device) &&
				   boxes_every_coordinator(v, &v->rot[i]);
	for (size_t i = 0; i < v->n_rot; i++) {
		v->rot[i].head = v->rot[i].counts;
		for (size_t j = 0; v->rot[i].head && j < v->n_rot; j++)
			if (j != i && v->rot[j].counts &&
			    contains(v->rot[j].after, v->rot[j].n_after, MUTUAL_HASH_SIZE, v->rot[i].commit))
				v->rot[i].head = 0;
	}
	return 0;
}

/* Every removed device is among those the rotation excludes. */
static int excludes_all_removed(const view *v, const struct rotation *r)
{
	for (size_t i = 0; i < v->removed.len / MUTUAL_KEY_SIZE; i++)
		if (!contains(r->excludes, r->n_excludes, MUTUAL_KEY_SIZE, v->removed.data + i * MUTUAL_KEY_SIZE))
			return 0;
	return 1;
}

/* The held key whose commitment is `commit` (the commitment binds the
 * key id too), or NULL. */
static const mutual_group_key *held_key(mutual_store *s, const uint8_t commit[MUTUAL_HASH_SIZE])
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (mutual__key_commit_check(commit, s->group_id_raw, s->keys[i].id, s->keys[i].key) == 0)
			return &s->keys[i];
	return NULL;
}

/* NOTES 2: the key to seal with, or NULL and why not; `*chosen` its
 * rotation (NULL for the key the store began with). */
static const mutual_group_key *choose(const view *v, mutual_store *s, const struct rotation **chosen, char *why,
	size_t why_size)
{
	const mutual_group_key *best = NULL;
	int any_counts = 0, clean_head = 0;

	*chosen = NULL;
	for (size_t i = 0; i < v->n_rot; i++) {
		const struct rotation *r = &v->rot[i];
		const mutual_group_key *k;
		any_counts |= r->counts;
		if (!r->head || !excludes_all_removed(v, r))
			continue;
		clean_head = 1;
		if ((k = held_key(s, r->commit)) != NULL &&
		    (!*chosen || memcmp(r->commit, (*chosen)->commit, MUTUAL_HASH_SIZE) < 0)) {
			best = k;
			*chosen = r;
		}
	}
	if (best)
		return best;
	if (!any_counts && v->removed.len == 0)
		return &s->keys[0]; /* no rotation yet: the key the store began with */
	if (clean_head)
		snprintf(why, why_size, "a coordinator sealed a new group key this device has not received yet");
	else
		snprintf(why, why_size, "a device was removed and no group key excludes it yet: a coordinator must"
			" run 'mutual rotate'");
	return NULL;
}

/* ----------------------------------------------------------------- settle */

/* A key sealed to this device, added to group.key unless held already. A
 * box that does not open, or a key that is not the one committed to, is
 * not taken (the rotation is its writer's fault, not an error here). */
static int take_key(mutual_store *s, uint32_t id, const uint8_t commit[MUTUAL_HASH_SIZE],
	const uint8_t box[MUTUAL_KEY_BOX_SIZE])
{
	uint8_t key[MUTUAL_GROUP_KEY_SIZE];
	int rc;
	if (held_key(s, commit))
		return 0;
	if ((rc = mutual__store_load_secret(s)) < 0)
		return rc;
	if (mutual__key_box_open(key, box, s->secret) == 0 && mutual__key_commit_check(commit, s->group_id_raw, id, key) == 0)
		rc = mutual__store_add_group_key(s, id, key, 0);
	else
		mutual__error_clear();
	mutual__wipe(key, sizeof(key));
	return rc;
}

int mutual__rotation_settle(mutual_store *s)
{
	view v;
	const mutual_group_key *current;
	const struct rotation *chosen;
	char why[200];
	size_t taken = 0;
	int rc;

	if (!s->rotations_changed)
		return 0;
	s->rotations_changed = 0;
	if ((rc = mutual__store_reload_group_key(s)) < 0 || (rc = view_load(&v, s)) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < v.n_rot; i++) {
		const struct rotation *r = &v.rot[i];
		/* NOTES 1: rows come by writer, so `taken` counts this one's. */
		if (i == 0 || memcmp(r->device, v.rot[i - 1].device, MUTUAL_KEY_SIZE) != 0)
			taken = 0;
		if (!contains(v.ever.data, v.ever.len / MUTUAL_KEY_SIZE, MUTUAL_KEY_SIZE, r->device))
			continue;
		if (r->has_box && taken++ < MUTUAL_ROTATION_TAKEN_MAX)
			rc = take_key(s, r->key_id, r->commit, r->box);
	}
	if (rc == 0 && (current = choose(&v, s, &chosen, why, sizeof(why))) != NULL && current != &s->keys[0]) {
		mutual_group_key copy = *current;
		rc = mutual__store_add_group_key(s, copy.id, copy.key, 1); /* NOTES 4 */
		mutual__wipe(&copy, sizeof(copy));
	}
	view_free(&v);
	return rc;
}

/* ---------------------------------------------------------------- devices */

static int put_hex(mutual_buf *b, const uint8_t *data, size_t len)
{
	char hex[2 * MUTUAL_HASH_SIZE + 1];
	for (size_t i = 0; i < len; i += MUTUAL_HASH_SIZE) {
		size_t n = len - i < MUTUAL_HASH_SIZE ? len - i : MUTUAL_HASH_SIZE;
		mutual__hex(hex, data + i, n);
		if (mutual__buf_put(b, hex, 2 * n) < 0)
			return MUTUAL_ERROR;
	}
	return 0;
}

/* A device that holds a place in the group: not removed, not forked, not
 * about to be, with a key a box can be sealed to. */
static int is_live(const mutual_db_device *d, const uint8_t *also_excluded)
{
	uint8_t x[MUTUAL_X25519_SIZE];
	int excluded = d->removed || (also_excluded && memcmp(d->key, also_excluded, MUTUAL_KEY_SIZE) == 0);
	if (d->fork_seq || (excluded && !seals_to_removed()))
		return 0;
	if (mutual__x25519_public(x, d->key) < 0) {
		mutual__error_clear();
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ write */

typedef struct {
	mutual_buf *boxes;
	const uint8_t *key;
	const uint8_t *also_excluded;
	size_t n;
} box_ctx;

static int box_device(const mutual_db_device *d, void *payload)
{
	box_ctx *b = payload;
	uint8_t box[MUTUAL_KEY_BOX_SIZE];
	char hex[2 * BOX_ENTRY + 1];

	if (!is_live(d, b->also_excluded))
		return 0;
	if (++b->n > MUTUAL_ROTATION_DEVICES_MAX)
		return mutual__fail(MUTUAL_EINVALID, "a rotation seals the key to at most %d devices",
			MUTUAL_ROTATION_DEVICES_MAX);
	if (mutual__key_box_seal(box, b->key, d->key) < 0)
		return MUTUAL_ERROR;
	mutual__hex(hex, d->key, MUTUAL_KEY_SIZE);
	mutual__hex(hex + 2 * MUTUAL_KEY_SIZE, box, MUTUAL_KEY_BOX_SIZE);
	return mutual__buf_put(b->boxes, hex, 2 * BOX_ENTRY) < 0 ? MUTUAL_ERROR : 0;
}

int mutual__rotation_payload(mutual_buf *out, mutual_store *s, const uint8_t *also_excluded)
{
	mutual_group_key fresh;
	mutual_buf boxes = { 0 }, after = { 0 };
	uint8_t commit[MUTUAL_HASH_SIZE], id_be[4];
	view v;
	box_ctx b;
	int rc;

	if ((rc = mutual__store_reload_group_key(s)) < 0 || (rc = view_load(&v, s)) < 0)
		return rc;
	/* A random id, one no held key has when it can be (readers try every
	 * key of an id, so two rotations choosing one id still both open). */
	for (int tries = 0; tries < 8; tries++) {
		size_t pos = 0;
		mutual__random(&fresh.id, sizeof(fresh.id));
		if (!mutual__keyring_next(s, fresh.id, &pos))
			break;
	}
	mutual__random(fresh.key, sizeof(fresh.key));
	mutual__key_commit(commit, s->group_id_raw, fresh.id, fresh.key);

	/* NOTES 3: it follows the key its segment is sealed with (the current
	 * one), then every other head, so it ends concurrent rotations. */
	rc = 0;
	{
		uint8_t current[MUTUAL_HASH_SIZE];
		mutual__key_commit(current, s->group_id_raw, s->keys[0].id, s->keys[0].key);
		rc = mutual__buf_put(&after, current, sizeof(current));
		for (size_t i = 0; rc == 0 && i < v.n_rot; i++)
			if (v.rot[i].head && memcmp(v.rot[i].commit, current, sizeof(current)) != 0)
				rc = mutual__buf_put(&after, v.rot[i].commit, MUTUAL_HASH_SIZE);
		if (rc == 0 && after.len / MUTUAL_HASH_SIZE > MUTUAL_ROTATION_AFTER_MAX)
			after.len = MUTUAL_ROTATION_AFTER_MAX * MUTUAL_HASH_SIZE;
	}
	b.boxes = &boxes;
	b.key = fresh.key;
	b.also_excluded = also_excluded;
	b.n = 0;
	if (rc == 0)
		rc = mutual__db_devices(s->db, box_device, &b);
	mutual__set_u32(id_be, fresh.id);
	out->len = 0;
	if (rc == 0 && (rc = mutual__buf_cstr(&boxes)) == 0 &&
	    (mutual__buf_printf(out, "{\"after\":\"") < 0 || put_hex(out, after.data, after.len) < 0 ||
		    mutual__buf_printf(out, "\",\"boxes\":\"%s\",\"commit\":\"", (const char *)boxes.data) < 0 ||
		    put_hex(out, commit, sizeof(commit)) < 0 || mutual__buf_printf(out, "\",\"excludes\":\"") < 0 ||
		    put_hex(out, v.removed.data, v.removed.len) < 0 ||
		    (also_excluded && !contains(v.removed.data, v.removed.len / MUTUAL_KEY_SIZE, MUTUAL_KEY_SIZE, also_excluded) &&
			    put_hex(out, also_excluded, MUTUAL_KEY_SIZE) < 0) ||
		    mutual__buf_printf(out, "\",\"key\":\"") < 0 || put_hex(out, id_be, 4) < 0 ||
		    mutual__buf_printf(out, "\"}") < 0 ||
		    mutual__buf_cstr(out) < 0))
		rc = MUTUAL_ERROR;
	mutual__wipe(&fresh, sizeof(fresh));
	mutual__buf_free(&boxes);
	mutual__buf_free(&after);
	view_free(&v);
	return rc;
}

/* ------------------------------------------------------------------- seal */

int mutual__rotation_seal_plan(mutual_seal_plan *plan, mutual_store *s, uint64_t from_seq)
{
	const mutual_group_key *current;
	const struct rotation *chosen;
	view v;
	int rc;

	memset(plan, 0, sizeof(*plan));
	if ((rc = mutual__store_reload_group_key(s)) < 0 || (rc = view_load(&v, s)) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < v.n_rot; i++) {
		const struct rotation *r = &v.rot[i];
		const mutual_group_key *k;
		struct mutual_own_rotation *grown;
		if (memcmp(r->device, s->self, MUTUAL_KEY_SIZE) != 0 || r->seq < from_seq)
			continue;
		/* NOTES 3: its writer held the key it follows when it wrote it. */
		if ((k = held_key(s, r->after)) == NULL) {
			rc = mutual__fail(MUTUAL_ECORRUPT, "group.key lacks the key this device's rotation at seq %" PRIu64
				" follows: its events cannot be sealed", r->seq);
			break;
		}
		if (!(grown = realloc(plan->own, (plan->n_own + 1) * sizeof(*grown)))) {
			rc = mutual__fail(MUTUAL_ERROR, "out of memory planning the export");
			break;
		}
		plan->own = grown;
		plan->own[plan->n_own].seq = r->seq;
		plan->own[plan->n_own++].sealed_with = *k;
	}
	if (rc == 0 && (current = choose(&v, s, &chosen, plan->hold_reason, sizeof(plan->hold_reason))) !=
			       NULL) {
		plan->current = *current;
		plan->has_current = 1;
	}
	view_free(&v);
	if (rc < 0)
		mutual__rotation_seal_plan_free(plan);
	return rc;
}

void mutual__rotation_seal_plan_free(mutual_seal_plan *plan)
{
	if (plan->own)
		mutual__wipe(plan->own, plan->n_own * sizeof(*plan->own));
	free(plan->own);
	mutual__wipe(plan, sizeof(*plan));
}

/* ---------------------------------------------------------------- maintain */

/* NOTES 5: what makes a coordinator rotate again on its own. */
static int needs_rotation(const view *v, mutual_store *s, int *need)
{
	const struct rotation *chosen;
	char why[200];
	size_t heads = 0;

	*need = 0;
	if (!contains(v->coordinators.data, v->coordinators.len / MUTUAL_KEY_SIZE, MUTUAL_KEY_SIZE, s->self))
		return 0;
	for (size_t i = 0; i < v->n_rot; i++)
		heads += (size_t)v->rot[i].head;
	if (!choose(v, s, &chosen, why, sizeof(why)) || heads > 1) {
		*need = 1; /* no key may seal, or concurrent rotations */
		return 0;
	}
	if (!chosen)
		return 0; /* no rotation, no removal */
	for (size_t i = 0; i < chosen->n_excludes; i++)
		if (!contains(v->removed.data, v->removed.len / MUTUAL_KEY_SIZE, MUTUAL_KEY_SIZE,
			    chosen->excludes + i * MUTUAL_KEY_SIZE)) {
			*need = 1; /* it excluded a device whose removal did not stand */
			return 0;
		}
	return 0;
}

int mutual__rotation_maintain(mutual_store *s)
{
	view v;
	int rc, need;

	if (s->readonly)
		return 0;
	if ((rc = mutual__store_reload_group_key(s)) < 0 || (rc = view_load(&v, s)) < 0)
		return rc;
	rc = needs_rotation(&v, s, &need);
	view_free(&v);
	if (rc == 0 && need && (rc = mutual__rotation_write(NULL, s, NULL, NULL)) == MUTUAL_EFORK) {
		mutual__error_clear();
		rc = 0; /* a forked key writes nothing more: another coordinator must */
	}
	return rc;
}

int mutual__rotation_write(mutual_event_id *out, mutual_store *s, const mutual_append_entry *first,
	const uint8_t *also_excluded)
{
	mutual_append_entry e[2];
	mutual_buf payload = { 0 };
	size_t n = 0;
	int rc;

	if (first)
		e[n++] = *first;
	if ((rc = mutual__rotation_payload(&payload, s, also_excluded)) == 0) {
		e[n].type = MUTUAL_ROTATION_TYPE;
		e[n++].payload = (const char *)payload.data;
		if ((rc = mutual__append_check(e, n, 1)) == 0)
			rc = mutual__append_write(out, s, e, n);
	}
	mutual__buf_free(&payload);
	return rc;
}

int mutual_key_rotate(mutual_event_id *out, mutual_store *s)
{
	MUTUAL_STORE_ENTER(s);
	int rc;
	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	mutual__error_clear();
	if ((rc = mutual__roles_may_manage(s)) < 0)
		return rc;
	return mutual__rotation_write(out, s, NULL, NULL);
}
