/*
 * roles.c - the group's coordinators: the founder, and whoever a
 * coordinator makes one, until a coordinator takes the role back.
 *
 * NOTES ON THE DESIGN (docs/membership.md, "Coordinators", says the same
 * for a coordinator; docs/format.md has the events)
 *  1. The founder is the writer of the mutual.group.create whose salt and
 *     key give the group id (mutual__group_id_bind), so no member can
 *     claim it by writing another. A group made before roles has no salt:
 *     there the writer of its only mutual.group.create founds it, and if a
 *     member forged a second one, nobody does.
 *  2. A grant or revoke is authorised when its writer was a coordinator in
 *     what it had seen (its seen vector: its frontier and its own earlier
 *     events), judged by these same rules over the role events in that
 *     view. No clock and no key byte decides anything.
 *  3. A revoke of T names a cut, the last of T's events whose role actions
 *     stay valid. Every role event of T after the cut is void, whatever
 *     T's frontier says, unless it follows a grant of T that follows the
 *     revoke (T was made a coordinator again).
 *  4. Revokes apply in rounds by depth: those whose writers had seen no
 *     applied revoke first, then those that had seen one, and so on. A
 *     revoke is judged against the cuts of earlier rounds only, so two
 *     coordinators who take the role from each other without having seen
 *     each other's revoke both lose it (both stand: neither seniority nor
 *     a clock can tell a stolen laptop from its owner). A revoke written
 *     after its writer's cut is void.
 *  5. T is a coordinator when a grant of T (the founder's: its create) is
 *     in force and every applied revoke of T came before that grant (a
 *     revoke and a concurrent grant: the revoke wins).
 *  6. Everything is decided again from all role events whenever one is
 *     applied (they are few: MUTUAL_ROLE_EVENTS_MAX per device), so the
 *     result depends only on the events held, not the order they came in.
 *  7. A removal (mutual.device.remove) of T is a revoke that no later grant
 *     undoes: T is never a coordinator again, and T's events after the cut
 *     are refused by every projection (project.c NOTES 8). A revoke or
 *     removal written by T in the same round as a removal of T that cuts
 *     it off is void, unless it answers it (it revokes or removes that
 *     removal's writer, after its cut): so a stolen laptop removing others
 *     while it is being removed removes nobody, and two coordinators who
 *     remove each other both stand, as NOTES 4. T's cut is the lowest of
 *     its applied removals that no other applied removal of T had seen: a
 *     later removal moves the cut (after review), concurrent ones keep
 *     the earliest.
 */
#include "roles.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "json.h"
#include "rotation.h"
#include "store.h"

#define GROUP_BIND_TAG "mutual.group.v1\n"

void mutual__group_id_bind(uint8_t out[MUTUAL_GROUP_ID_SIZE], const uint8_t founder[MUTUAL_KEY_SIZE],
	const uint8_t salt[MUTUAL_GROUP_SALT_SIZE])
{
	uint8_t msg[sizeof(GROUP_BIND_TAG) - 1 + MUTUAL_KEY_SIZE + MUTUAL_GROUP_SALT_SIZE], h[MUTUAL_HASH_SIZE];
	memcpy(msg, GROUP_BIND_TAG, sizeof(GROUP_BIND_TAG) - 1);
	memcpy(msg + sizeof(GROUP_BIND_TAG) - 1, founder, MUTUAL_KEY_SIZE);
	memcpy(msg + sizeof(GROUP_BIND_TAG) - 1 + MUTUAL_KEY_SIZE, salt, MUTUAL_GROUP_SALT_SIZE);
	mutual__hash(h, msg, sizeof(msg));
	memcpy(out, h, MUTUAL_GROUP_ID_SIZE);
}

/* ------------------------------------------------------------ resolving */

typedef struct {
	mutual_role_event *ev;
	size_t n;
	long founder;              /* index of the founding event, or -1 */
	unsigned char *excluded;   /* past its writer's MUTUAL_ROLE_EVENTS_MAX */
	unsigned char *done;       /* authorised[] decided */
	unsigned char *authorised; /* NOTES 2 */
	unsigned *depth;           /* a revoke's round (NOTES 4) */
	unsigned char *view;       /* the events of the view being judged */
	unsigned char *applied;    /* its revokes that apply: 1 (2 while their round is judged, 3 voided in it) */
	signed char *memo;         /* grant_in_force in the view, this round: -1 unknown */
} resolver;

/* 1 if `f` is in the causal past of `e` (its writer had seen it). */
static int in_past(const mutual_role_event *e, const mutual_role_event *f)
{
	return e != f && f->seq <= mutual__frontier_seq(e->saw, e->saw_n, f->device);
}

static int same_key(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, MUTUAL_KEY_SIZE) == 0;
}

/* 1 if event g makes T a coordinator when in force: a grant of T, or T's founding. */
static int grants(const resolver *r, size_t g, const uint8_t *t)
{
	const mutual_role_event *e = &r->ev[g];
	if ((long)g == r->founder)
		return same_key(e->device, t);
	return e->action == MUTUAL_ROLE_GRANT && same_key(e->target, t);
}

/* A revoke or a removal: an event that names a cut (NOTES 3 and 7). */
static int cuts(int action)
{
	return action == MUTUAL_ROLE_REVOKE || action == MUTUAL_ROLE_REMOVE;
}

static int grant_in_force(resolver *r, size_t g);

/* NOTES 3: 1 if an applied revoke or removal of e's writer cuts e off. */
static int beyond_cut(resolver *r, size_t e)
{
	const mutual_role_event *ev = &r->ev[e];
	for (size_t x = 0; x < r->n; x++) {
		const mutual_role_event *rv = &r->ev[x];
		int regranted = 0;
		if (!r->view[x] || r->applied[x] != 1 || !same_key(rv->target, ev->device) || rv->cut >= ev->seq)
			continue;
		if (rv->action == MUTUAL_ROLE_REMOVE)
			return 1; /* NOTES 7: no grant brings a removed device back */
		for (size_t g = 0; g < r->n && !regranted; g++)
			regranted = g != e && r->view[g] && grants(r, g, ev->device) && in_past(ev, &r->ev[g]) &&
				    in_past(&r->ev[g], rv) && grant_in_force(r, g);
		if (!regranted)
			return 1;
	}
	return 0;
}

static int grant_in_force(resolver *r, size_t g)
{
	if (r->memo[g] < 0)
		r->memo[g] = (signed char)(r->view[g] && ((long)g == r->founder || r->authorised[g]) && !beyond_cut(r, g));
	return r->memo[g];
}

static void memo_reset(resolver *r)
{
	memset(r->memo, -1, r->n);
}

/* Test-only: in a build with -Dtest_hooks=true, $MUTUAL_TEST_ROLES_NO_ROUNDS
 * applies each revoke as soon as it is judged, so the revokes of one round
 * cut each other in whatever order they are met: a deliberately wrong rule,
 * which roles/resolver_detects_no_rounds must catch (the order-independence
 * check can fail). A shipped build never reads the variable. */
static int no_rounds(void)
{
#ifdef MUTUAL_TEST_HOOKS
	const char *e = getenv("MUTUAL_TEST_ROLES_NO_ROUNDS");
	return e && *e && *e != '0';
#else
	return 0;
#endif
}

/* NOTES 7: 1 if the revoke or removal x of this round is void because a
 * removal of its writer in the same round cuts it off, and x does not
 * answer that removal (remove or revoke its writer, after its cut). */
static int unanswered_removal(const resolver *r, size_t x)
{
	const mutual_role_event *e = &r->ev[x];
	for (size_t y = 0; y < r->n; y++) {
		const mutual_role_event *rm = &r->ev[y];
		/* Every candidate of the round counts, voided (3) or not: all are judged before any is applied. */
		if (y == x || r->applied[y] == 0 || rm->action != MUTUAL_ROLE_REMOVE ||
		    !same_key(rm->target, e->device) || rm->cut >= e->seq)
			continue;
		if (!(same_key(e->target, rm->device) && e->cut < rm->seq))
			return 1;
	}
	return 0;
}

/* Which revokes and removals of the view apply (NOTES 4 and 7), into r->applied. */
static void judge_view(resolver *r)
{
	unsigned rounds = 0;
	int at_once = no_rounds();
	memset(r->applied, 0, r->n);
	for (size_t x = 0; x < r->n; x++)
		if (r->view[x] && cuts(r->ev[x].action) && r->authorised[x] && r->depth[x] + 1 > rounds)
			rounds = r->depth[x] + 1;
	for (unsigned k = 0; k < rounds; k++) {
		/* Judged against earlier rounds only: decide all, then apply all. */
		memo_reset(r);
		for (size_t x = 0; x < r->n; x++)
			if (r->view[x] && cuts(r->ev[x].action) && r->authorised[x] && r->depth[x] == k)
				r->applied[x] = beyond_cut(r, x) ? 0 : at_once ? 1 : 2;
		for (size_t x = 0; x < r->n; x++)
			if (r->applied[x] == 2 && unanswered_removal(r, x))
				r->applied[x] = 3;
		for (size_t x = 0; x < r->n; x++)
			if (r->applied[x] >= 2)
				r->applied[x] = r->applied[x] == 2;
	}
	memo_reset(r);
}

/* 1 if an applied removal of t is in the view judged last. */
static int is_removed(const resolver *r, const uint8_t *t)
{
	for (size_t x = 0; x < r->n; x++)
		if (r->view[x] && r->applied[x] == 1 && r->ev[x].action == MUTUAL_ROLE_REMOVE && same_key(r->ev[x].target, t))
			return 1;
	return 0;
}

/* NOTES 5 and 7, in the view judged last. */
static int is_coordinator(resolver *r, const uint8_t *t)
{
	if (is_removed(r, t))
		return 0;
	for (size_t g = 0; g < r->n; g++) {
		int after_every_revoke = 1;
		if (!r->view[g] || !grants(r, g, t) || !grant_in_force(r, g))
			continue;
		for (size_t x = 0; x < r->n && after_every_revoke; x++)
			if (r->view[x] && r->applied[x] == 1 && same_key(r->ev[x].target, t) && !in_past(&r->ev[g], &r->ev[x]))
				after_every_revoke = 0;
		if (after_every_revoke)
			return 1;
	}
	return 0;
}

static int by_writer(const void *a, const void *b, void *ctx)
{
	const mutual_role_event *ev = ctx;
	const mutual_role_event *x = &ev[*(const size_t *)a], *y = &ev[*(const size_t *)b];
	int c = memcmp(x->device, y->device, MUTUAL_KEY_SIZE);
	return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct {
	const mutual_role_event *ev;
	const size_t *past_count;
} order_ctx;

/* Causal order: an event's past holds fewer events than it (ties by writer). */
static int by_past(const void *a, const void *b, void *ctx)
{
	const order_ctx *o = ctx;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	if (o->past_count[i] != o->past_count[j])
		return o->past_count[i] < o->past_count[j] ? -1 : 1;
	return by_writer(a, b, (void *)o->ev);
}

/* qsort_r is glibc's; a small insertion sort keeps the library portable
 * and is plenty for the few role events a group writes. */
static void sort_indices(size_t *idx, size_t n, int (*cmp)(const void *, const void *, void *), void *ctx)
{
	for (size_t i = 1; i < n; i++) {
		size_t v = idx[i], j = i;
		while (j > 0 && cmp(&idx[j - 1], &v, ctx) > 0) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = v;
	}
}

static void choose_founder(resolver *r)
{
	long bound = -1, unbound = -1;
	size_t n_unbound = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (r->excluded[i])
			continue;
		if (r->ev[i].action == MUTUAL_ROLE_FOUND &&
		    (bound < 0 || memcmp(r->ev[i].device, r->ev[bound].device, MUTUAL_KEY_SIZE) < 0))
			bound = (long)i;
		if (r->ev[i].action == MUTUAL_ROLE_FOUND_UNBOUND) {
			unbound = (long)i;
			n_unbound++;
		}
	}
	r->founder = bound >= 0 ? bound : n_unbound == 1 ? unbound : -1;
}

static int final_status(resolver *r, size_t i)
{
	const mutual_role_event *e = &r->ev[i];
	if (r->excluded[i])
		return MUTUAL_ROLE_TOO_MANY;
	switch (e->action) {
	case MUTUAL_ROLE_GRANT:
		return !r->authorised[i] ? MUTUAL_ROLE_NOT_COORDINATOR
		       : beyond_cut(r, i) ? MUTUAL_ROLE_AFTER_CUT : MUTUAL_ROLE_IN_FORCE;
	case MUTUAL_ROLE_REVOKE:
	case MUTUAL_ROLE_REMOVE:
		return !r->authorised[i] ? MUTUAL_ROLE_NOT_COORDINATOR
		       : r->applied[i] == 1 ? MUTUAL_ROLE_IN_FORCE : MUTUAL_ROLE_AFTER_CUT;
	default:
		return (long)i != r->founder ? MUTUAL_ROLE_NOT_FOUNDER
		       : beyond_cut(r, i) ? MUTUAL_ROLE_AFTER_CUT : MUTUAL_ROLE_IN_FORCE;
	}
}

/* NOTES 7: the removal of T that event i applies, unless T has one
 * already: T's cut is the lowest of its applied removals that no other
 * applied removal of T had seen (a later one moves the cut, concurrent
 * ones keep the earliest). */
static void put_removal(const resolver *r, size_t i, mutual_buf *removals)
{
	const uint8_t *t = r->ev[i].target;
	uint64_t cut = UINT64_MAX;
	for (size_t at = 0; at + MUTUAL_REMOVAL_ENTRY <= removals->len; at += MUTUAL_REMOVAL_ENTRY)
		if (same_key(removals->data + at, t))
			return;
	for (size_t x = 0; x < r->n; x++) {
		int superseded = 0;
		if (r->ev[x].action != MUTUAL_ROLE_REMOVE || r->applied[x] != 1 || !same_key(r->ev[x].target, t))
			continue;
		for (size_t y = 0; y < r->n && !superseded; y++)
			superseded = r->ev[y].action == MUTUAL_ROLE_REMOVE && r->applied[y] == 1 &&
				     same_key(r->ev[y].target, t) && in_past(&r->ev[y], &r->ev[x]);
		if (!superseded && r->ev[x].cut < cut)
			cut = r->ev[x].cut;
	}
	mutual__buf_put(removals, t, MUTUAL_KEY_SIZE);
	mutual__buf_put_u64(removals, cut);
}

/* Entries of `width` bytes that start with a key, sorted by it in place
 * (an insertion sort: role events and their outcomes are few). */
static void sort_by_key(mutual_buf *b, size_t width)
{
	uint8_t tmp[MUTUAL_REMOVAL_ENTRY];
	assert(width <= sizeof(tmp));
	for (size_t i = width; i + width <= b->len; i += width) {
		size_t j = i;
		memcpy(tmp, b->data + i, width);
		for (; j > 0 && memcmp(b->data + j - width, tmp, MUTUAL_KEY_SIZE) > 0; j -= width)
			memcpy(b->data + j, b->data + j - width, width);
		memcpy(b->data + j, tmp, width);
	}
}

int mutual__roles_resolve(mutual_role_event *ev, size_t n, mutual_buf *coordinators, mutual_buf *removals)
{
	resolver r;
	size_t *idx = NULL, *past_count = NULL;
	unsigned char *bytes = NULL;
	int rc = MUTUAL_ERROR;

	coordinators->len = 0;
	removals->len = 0;
	if (n == 0)
		return 0;
	memset(&r, 0, sizeof(r));
	r.ev = ev;
	r.n = n;
	idx = mutual__calloc(n, sizeof(*idx));
	past_count = mutual__calloc(n, sizeof(*past_count));
	r.depth = mutual__calloc(n, sizeof(*r.depth));
	bytes = mutual__calloc(n, 6);
	if (!idx || !past_count || !r.depth || !bytes) {
		mutual__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	r.excluded = bytes;
	r.done = bytes + n;
	r.authorised = bytes + 2 * n;
	r.view = bytes + 3 * n;
	r.applied = bytes + 4 * n;
	r.memo = (signed char *)(bytes + 5 * n);

	/* Each writer's first MUTUAL_ROLE_EVENTS_MAX count (by seq: its own order). */
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	sort_indices(idx, n, by_writer, ev);
	for (size_t i = 0, run = 0; i < n; i++) {
		run = i > 0 && same_key(ev[idx[i]].device, ev[idx[i - 1]].device) ? run + 1 : 1;
		r.excluded[idx[i]] = run > MUTUAL_ROLE_EVENTS_MAX;
	}
	choose_founder(&r);

	/* NOTES 2, in causal order, so a view's events are judged first. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			past_count[i] += !r.excluded[j] && in_past(&ev[i], &ev[j]);
	order_ctx oc = { ev, past_count };
	sort_indices(idx, n, by_past, &oc);
	for (size_t k = 0; k < n; k++) {
		size_t i = idx[k];
		if (r.excluded[i])
			continue;
		for (size_t j = 0; j < n; j++)
			r.view[j] = r.done[j] && in_past(&ev[i], &ev[j]);
		judge_view(&r);
		if (ev[i].action == MUTUAL_ROLE_GRANT || cuts(ev[i].action))
			r.authorised[i] = (unsigned char)is_coordinator(&r, ev[i].device);
		if (cuts(ev[i].action) && r.authorised[i])
			for (size_t j = 0; j < n; j++)
				if (r.view[j] && cuts(ev[j].action) && r.authorised[j] && r.depth[j] + 1 > r.depth[i])
					r.depth[i] = r.depth[j] + 1;
		r.done[i] = 1;
	}

	/* The whole log's view: every event's status, and the coordinators. */
	for (size_t j = 0; j < n; j++)
		r.view[j] = !r.excluded[j];
	judge_view(&r);
	for (size_t i = 0; i < n; i++)
		ev[i].status = final_status(&r, i);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *t = (long)i == r.founder ? ev[i].device : ev[i].action == MUTUAL_ROLE_GRANT ? ev[i].target : NULL;
		int seen = 0;
		if (!t || r.excluded[i])
			continue;
		for (size_t c = 0; c < coordinators->len && !seen; c += MUTUAL_KEY_SIZE)
			seen = same_key(coordinators->data + c, t);
		if (!seen && is_coordinator(&r, t))
			mutual__buf_put(coordinators, t, MUTUAL_KEY_SIZE);
	}
	for (size_t i = 0; i < n; i++)
		if (ev[i].action == MUTUAL_ROLE_REMOVE && r.applied[i] == 1)
			put_removal(&r, i, removals);
	if ((rc = mutual__buf_check(coordinators)) < 0 || (rc = mutual__buf_check(removals)) < 0)
		goto done;
	/* Sorted, so the stored sets read the same everywhere. */
	sort_by_key(coordinators, MUTUAL_KEY_SIZE);
	sort_by_key(removals, MUTUAL_REMOVAL_ENTRY);
	rc = 0;
done:
	mutual__free(idx);
	mutual__free(past_count);
	mutual__free(r.depth);
	mutual__free(bytes);
	return rc;
}

/* ------------------------------------------------------------- applying */

/* The role events held, loaded for the resolver: their seen vectors
 * copied into one buffer (a row's are borrowed for its callback only). */
typedef struct {
	mutual_role_event *ev;
	size_t n, cap;
	size_t *saw_at; /* each event's offset into `saws` */
	mutual_buf saws;
	int *stored;    /* each event's status as stored */
} role_set;

static int load_row(const mutual_db_role_row *row, void *payload)
{
	role_set *set = payload;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		mutual_role_event *ev;
		size_t *at;
		int *stored;
		if (!(ev = mutual__realloc(set->ev, cap * sizeof(*ev))))
			return mutual__fail(MUTUAL_ERROR, "out of memory");
		set->ev = ev;
		if (!(at = mutual__realloc(set->saw_at, cap * sizeof(*at))))
			return mutual__fail(MUTUAL_ERROR, "out of memory");
		set->saw_at = at;
		if (!(stored = mutual__realloc(set->stored, cap * sizeof(*stored))))
			return mutual__fail(MUTUAL_ERROR, "out of memory");
		set->stored = stored;
		set->cap = cap;
	}
	mutual_role_event *e = &set->ev[set->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->device, row->device, MUTUAL_KEY_SIZE);
	memcpy(e->target, row->target, MUTUAL_KEY_SIZE);
	e->seq = row->seq;
	e->action = row->action;
	e->cut = row->cut;
	e->saw_n = row->saw_n;
	set->saw_at[set->n] = set->saws.len;
	set->stored[set->n] = row->status;
	if (mutual__buf_put(&set->saws, row->saw, row->saw_n * MUTUAL_FRONTIER_ENTRY) < 0)
		return MUTUAL_ERROR;
	set->n++;
	return 0;
}

static void role_set_free(role_set *set)
{
	mutual__free(set->ev);
	mutual__free(set->saw_at);
	mutual__free(set->stored);
	mutual__buf_free(&set->saws);
}

static int role_set_load(role_set *set, mutual_db *db)
{
	int rc;
	memset(set, 0, sizeof(*set));
	if ((rc = mutual__db_role_rows(db, load_row, set)) < 0)
		return rc;
	for (size_t i = 0; i < set->n; i++)
		set->ev[i].saw = set->saws.data ? set->saws.data + set->saw_at[i] : NULL;
	return 0;
}

static int load_removal(const uint8_t key[MUTUAL_KEY_SIZE], uint64_t cut, void *payload)
{
	mutual_buf *b = payload;
	mutual__buf_put(b, key, MUTUAL_KEY_SIZE);
	return mutual__buf_put_u64(b, cut);
}

/* Decide everything again (NOTES 6) and store what changed: 1 if the
 * removals did (and the store's removals_changed is set), else 0. */
static int resolve_store(mutual_store *s)
{
	role_set set;
	mutual_buf keys = { 0 }, removals = { 0 }, stored = { 0 };
	int rc = role_set_load(&set, s->db), changed = 0;
	if (rc == 0)
		rc = mutual__roles_resolve(set.ev, set.n, &keys, &removals);
	for (size_t i = 0; rc == 0 && i < set.n; i++)
		if (set.ev[i].status != set.stored[i])
			rc = mutual__db_role_status_set(s->db, set.ev[i].device, set.ev[i].seq, set.ev[i].status);
	if (rc == 0)
		rc = mutual__db_coordinators_set(s->db, keys.data, keys.len / MUTUAL_KEY_SIZE);
	if (rc == 0 && (rc = mutual__db_removal_rows(s->db, load_removal, &stored)) == 0 &&
	    (rc = mutual__buf_check(&stored)) == 0) {
		changed = stored.len != removals.len || (removals.len && memcmp(stored.data, removals.data, removals.len) != 0);
		if (changed && (rc = mutual__db_removals_set(s->db, removals.data, removals.len / MUTUAL_REMOVAL_ENTRY)) == 0)
			s->removals_changed = 1;
	}
	mutual__buf_free(&keys);
	mutual__buf_free(&removals);
	mutual__buf_free(&stored);
	role_set_free(&set);
	return rc < 0 ? rc : changed;
}

/* A device key in lowercase hex, as the role events name it. */
static int key_of(uint8_t out[MUTUAL_KEY_SIZE], const mutual_buf *hex)
{
	return hex->len == MUTUAL_KEY_HEX_LEN && strspn((const char *)hex->data, "0123456789abcdef") == hex->len &&
	       mutual__unhex(out, MUTUAL_KEY_SIZE, (const char *)hex->data, hex->len) == 0 ? 0 : MUTUAL_EINVALID;
}

typedef struct {
	const char *cut;
	size_t cut_len;
} cut_ref;

static int find_cut(const char *key, size_t key_len, const char *value, size_t len, void *payload)
{
	cut_ref *c = payload;
	(void)key_len;
	if (strcmp(key, "cut") == 0) {
		c->cut = value;
		c->cut_len = len;
	}
	return 0;
}

/* A cut: a JSON integer 0 .. 2^63 - 1, no sign, no leading zero. */
static int parse_cut(uint64_t *out, const char *text, size_t len)
{
	uint64_t v = 0;
	if (!text || len == 0 || len > 19 || (len > 1 && text[0] == '0'))
		return MUTUAL_EINVALID;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return MUTUAL_EINVALID;
		v = v * 10 + (uint64_t)(text[i] - '0');
	}
	if (v > INT64_MAX)
		return MUTUAL_EINVALID;
	*out = v;
	return 0;
}

/* What `ev` says, into `row`; MUTUAL_EINVALID (skipped) if malformed. */
static int parse_role_event(mutual_store *s, const mutual_event_rec *ev, mutual_db_role_row *row, uint8_t target[MUTUAL_KEY_SIZE])
{
	mutual_buf text = { 0 };
	int rc;

	if (ev->type_len == 19 && memcmp(ev->type, "mutual.group.create", 19) == 0) {
		uint8_t salt[MUTUAL_GROUP_SALT_SIZE], id[MUTUAL_GROUP_ID_SIZE];
		memcpy(target, ev->device, MUTUAL_KEY_SIZE);
		rc = mutual__json_get_string(&text, ev->payload, ev->payload_len, "salt");
		if (rc == MUTUAL_ENOTFOUND) {
			row->action = ev->seq == 1 ? MUTUAL_ROLE_FOUND_UNBOUND : MUTUAL_ROLE_FOUND_FALSE;
			rc = 0;
		} else if (rc == 0) {
			int ok = ev->seq == 1 && text.len == 2 * MUTUAL_GROUP_SALT_SIZE &&
				 mutual__unhex(salt, sizeof(salt), (const char *)text.data, text.len) == 0;
			if (ok)
				mutual__group_id_bind(id, ev->device, salt);
			row->action = ok && memcmp(id, s->group_id_raw, MUTUAL_GROUP_ID_SIZE) == 0 ? MUTUAL_ROLE_FOUND
												       : MUTUAL_ROLE_FOUND_FALSE;
		}
	} else {
		cut_ref c = { NULL, 0 };
		uint8_t hash[MUTUAL_HASH_SIZE];
		row->action = ev->type_len == 17 && memcmp(ev->type, "mutual.role.grant", 17) == 0    ? MUTUAL_ROLE_GRANT
			      : ev->type_len == 18 && memcmp(ev->type, "mutual.role.revoke", 18) == 0 ? MUTUAL_ROLE_REVOKE
												       : MUTUAL_ROLE_REMOVE;
		rc = 0;
		if (row->action != MUTUAL_ROLE_REMOVE &&
		    (rc = mutual__json_get_string(&text, ev->payload, ev->payload_len, "role")) == 0 &&
		    strcmp((const char *)text.data, "coordinator") != 0)
			rc = MUTUAL_EINVALID; /* a role a later version knows: not this one's to judge */
		if (rc == 0)
			rc = mutual__json_get_string(&text, ev->payload, ev->payload_len, "device");
		if (rc == 0)
			rc = key_of(target, &text);
		if (rc == 0 && row->action != MUTUAL_ROLE_GRANT &&
		    (rc = mutual__json_members(ev->payload, ev->payload_len, find_cut, &c)) == 0)
			rc = parse_cut(&row->cut, c.cut, c.cut_len);
		/* A removal names its cut's hash too: what a reviewer checks it
		 * against (the rules read the seq; a fork is another matter). */
		if (rc == 0 && row->action == MUTUAL_ROLE_REMOVE && row->cut > 0 &&
		    (rc = mutual__json_get_string(&text, ev->payload, ev->payload_len, "hash")) == 0 &&
		    (text.len != MUTUAL_HASH_SIZE * 2 || strspn((const char *)text.data, "0123456789abcdef") != text.len ||
			    mutual__unhex(hash, sizeof(hash), (const char *)text.data, text.len) < 0))
			rc = MUTUAL_EINVALID;
	}
	mutual__buf_free(&text);
	row->target = target;
	return rc;
}

int mutual__roles_is_role_type(const char *type, size_t len)
{
	return (len == 19 && memcmp(type, "mutual.group.create", 19) == 0) ||
	       (len == 17 && memcmp(type, "mutual.role.grant", 17) == 0) ||
	       (len == 18 && memcmp(type, "mutual.role.revoke", 18) == 0) ||
	       (len == 20 && memcmp(type, "mutual.device.remove", 20) == 0);
}

int mutual__roles_apply(mutual_store *s, const mutual_event_rec *ev, const uint8_t *saw, size_t saw_n)
{
	mutual_db_role_row row;
	uint8_t target[MUTUAL_KEY_SIZE];
	int rc;

	memset(&row, 0, sizeof(row));
	row.device = ev->device;
	row.seq = ev->seq;
	row.saw = saw;
	row.saw_n = saw_n;
	if ((rc = parse_role_event(s, ev, &row, target)) < 0) {
		if (rc == MUTUAL_ERROR)
			return rc;
		mutual__error_clear();
		return 0; /* malformed: skipped everywhere alike */
	}
	if ((rc = mutual__db_role_add(s->db, &row)) < 0)
		return rc;
	if (s->rebuilding)
		return 0; /* resolved once, at the end (mutual__roles_settle) */
	return (rc = resolve_store(s)) < 0 ? rc : 0;
}

int mutual__roles_settle(mutual_store *s)
{
	return resolve_store(s);
}

/* ---------------------------------------------------------------- the API */

static int find_key(const uint8_t key[MUTUAL_KEY_SIZE], void *payload)
{
	return memcmp(key, payload, MUTUAL_KEY_SIZE) == 0;
}

static int count_key(const uint8_t key[MUTUAL_KEY_SIZE], void *payload)
{
	(void)key;
	(*(size_t *)payload)++;
	return 0;
}

int mutual_is_coordinator(mutual_store *s, const uint8_t device[MUTUAL_KEY_SIZE])
{
	MUTUAL_STORE_ENTER(s);
	if (!s || !device)
		return mutual__fail(MUTUAL_EINVALID, "no store or device given");
	mutual__error_clear();
	return mutual__db_coordinator_rows(s->db, find_key, (void *)device);
}

/* Append one role event of this device, a coordinator, naming `device`:
 * a cut when `cut` is not NULL, the cut event's hash when `hash` is not
 * NULL, and the coordinator role unless it is a removal. Keys in order,
 * as canonical JSON has them. */
/* A removal also rotates the group key, excluding the device, in the same
 * batch (rotation.c). */
static int role_write(mutual_event_id *out, mutual_store *s, const char *type, const uint8_t device[MUTUAL_KEY_SIZE],
	const uint64_t *cut, const uint8_t *hash)
{
	mutual_append_entry e;
	mutual_buf payload = { 0 };
	char hex[MUTUAL_HASH_SIZE * 2 + 1];
	int rc;

	mutual__buf_printf(&payload, "{");
	if (cut)
		mutual__buf_printf(&payload, "\"cut\":%" PRIu64 ",", *cut);
	mutual__hex(hex, device, MUTUAL_KEY_SIZE);
	mutual__buf_printf(&payload, "\"device\":\"%s\"", hex);
	if (hash) {
		mutual__hex(hex, hash, MUTUAL_HASH_SIZE);
		mutual__buf_printf(&payload, ",\"hash\":\"%s\"", hex);
	}
	mutual__buf_printf(&payload, strcmp(type, "mutual.device.remove") == 0 ? "}" : ",\"role\":\"coordinator\"}");
	if ((rc = mutual__buf_cstr(&payload)) == 0) {
		e.type = type;
		e.payload = (const char *)payload.data;
		if (strcmp(type, "mutual.device.remove") == 0)
			rc = mutual__rotation_write(out, s, &e, device);
		else if ((rc = mutual__append_check(&e, 1, 1)) == 0)
			rc = mutual__append_write(out, s, &e, 1);
	}
	mutual__buf_free(&payload);
	return rc;
}

/* The checks both writes make first: a store, a device, and this device a coordinator. */
static int may_write_roles(mutual_store *s, const uint8_t *device)
{
	int rc;
	if (!s || !device)
		return mutual__fail(MUTUAL_EINVALID, "no store or device given");
	mutual__error_clear();
	if (s->readonly)
		return mutual__fail(MUTUAL_EREADONLY, "the store at %s is read-only", s->dir);
	if ((rc = mutual__db_coordinator_rows(s->db, find_key, s->self)) < 0)
		return rc;
	if (rc == 0)
		return mutual__fail(MUTUAL_EPERM, "this device is not a coordinator: ask a coordinator of the group"
			" (`mutual coordinators` lists them)");
	return 0;
}

int mutual__roles_may_manage(mutual_store *s)
{
	return may_write_roles(s, s ? s->self : NULL);
}

int mutual_coordinator_grant(mutual_event_id *out, mutual_store *s, const uint8_t device[MUTUAL_KEY_SIZE])
{
	MUTUAL_STORE_ENTER(s);
	uint64_t head;
	uint8_t hash[MUTUAL_HASH_SIZE];
	int rc;

	if ((rc = may_write_roles(s, device)) < 0)
		return rc;
	if ((rc = mutual__db_head(s->db, device, &head, hash)) < 0)
		return rc;
	if (head == 0)
		return mutual__fail(MUTUAL_ENOTFOUND, "this store holds no device with that id: sync with it first");
	if ((rc = mutual__db_coordinator_rows(s->db, find_key, (void *)device)) < 0)
		return rc;
	if (rc)
		return mutual__fail(MUTUAL_EEXISTS, "that device is a coordinator already");
	if ((rc = mutual__db_removal_get(s->db, device, &head)) != MUTUAL_ENOTFOUND)
		return rc < 0 ? rc : mutual__fail(MUTUAL_EINVALID, "that device was removed from the group");
	mutual__error_clear();
	return role_write(out, s, "mutual.role.grant", device, NULL, NULL);
}

/* The cut a revoke or removal of `device` names: `cut`, or the last event
 * held (MUTUAL_CUT_HELD), never past it; and that event's hash. */
static int held_cut(uint64_t *cut, uint8_t hash[MUTUAL_HASH_SIZE], mutual_store *s, const uint8_t device[MUTUAL_KEY_SIZE])
{
	mutual_event_rec ev;
	mutual_buf scratch = { 0 };
	uint64_t head;
	int rc;

	if ((rc = mutual__db_head(s->db, device, &head, hash)) < 0)
		return rc;
	if (*cut == MUTUAL_CUT_HELD)
		*cut = head;
	if (*cut > head)
		return mutual__fail(MUTUAL_EINVALID, "the cut %" PRIu64 " is past the last event this store holds of"
			" that device (%" PRIu64 "): a cut can vouch only for events held", *cut, head);
	if (*cut == 0 || *cut == head)
		return 0;
	if ((rc = mutual__db_event_get(&ev, &scratch, s->db, device, *cut)) == 0)
		memcpy(hash, ev.hash, MUTUAL_HASH_SIZE);
	mutual__buf_free(&scratch);
	return rc;
}

/* The coordinators held: how many, and whether `device` is one. */
static int coordinator_count(size_t *n, int *is_one, mutual_store *s, const uint8_t device[MUTUAL_KEY_SIZE])
{
	int rc;
	*n = 0;
	if ((rc = mutual__db_coordinator_rows(s->db, count_key, n)) < 0 ||
	    (rc = mutual__db_coordinator_rows(s->db, find_key, (void *)device)) < 0)
		return rc;
	*is_one = rc;
	return 0;
}

int mutual_coordinator_revoke(mutual_event_id *out, mutual_store *s, const uint8_t device[MUTUAL_KEY_SIZE],
	uint64_t cut)
{
	MUTUAL_STORE_ENTER(s);
	uint8_t hash[MUTUAL_HASH_SIZE];
	size_t n;
	int rc, is_one;

	if ((rc = may_write_roles(s, device)) < 0 || (rc = coordinator_count(&n, &is_one, s, device)) < 0)
		return rc;
	if (!is_one)
		return mutual__fail(MUTUAL_ENOTFOUND, "that device is not a coordinator");
	if (n < 2)
		return mutual__fail(MUTUAL_EINVALID, "the group would have no coordinator: make another device a"
			" coordinator first");
	if ((rc = held_cut(&cut, hash, s, device)) < 0)
		return rc;
	return role_write(out, s, "mutual.role.revoke", device, &cut, NULL);
}

int mutual_device_remove(mutual_event_id *out, mutual_store *s, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t cut)
{
	MUTUAL_STORE_ENTER(s);
	uint8_t hash[MUTUAL_HASH_SIZE];
	uint64_t removed_cut;
	size_t n;
	int rc, is_one;

	if ((rc = may_write_roles(s, device)) < 0)
		return rc;
	if (memcmp(device, s->self, MUTUAL_KEY_SIZE) == 0)
		return mutual__fail(MUTUAL_EINVALID, "a device cannot remove itself: ask another coordinator to remove it");
	if ((rc = mutual__db_head(s->db, device, &removed_cut, hash)) < 0)
		return rc;
	if (removed_cut == 0)
		return mutual__fail(MUTUAL_ENOTFOUND, "this store holds no device with that id: sync with it first");
	if ((rc = coordinator_count(&n, &is_one, s, device)) < 0)
		return rc;
	if (is_one && n < 2)
		return mutual__fail(MUTUAL_EINVALID, "that device is the group's last coordinator");
	/* Removed already: the default would let in everything held since,
	 * the thief's work too; moving the cut takes a chosen seq. */
	rc = mutual__db_removal_get(s->db, device, &removed_cut);
	if (rc == 0 && (cut == MUTUAL_CUT_HELD || cut == removed_cut))
		return mutual__fail(MUTUAL_EEXISTS, "that device is removed already (its events after #%" PRIu64
			" are refused); to let more of them count, name the last one that should", removed_cut);
	if (rc < 0 && rc != MUTUAL_ENOTFOUND)
		return rc;
	mutual__error_clear();
	if ((rc = held_cut(&cut, hash, s, device)) < 0)
		return rc;
	return role_write(out, s, "mutual.device.remove", device, &cut, cut ? hash : NULL);
}

typedef struct {
	mutual_coordinator_cb cb;
	void *payload;
} coordinator_walk;

static int coordinator_row(const uint8_t key[MUTUAL_KEY_SIZE], void *payload)
{
	coordinator_walk *w = payload;
	char hex[MUTUAL_KEY_HEX_SIZE];
	mutual__hex(hex, key, MUTUAL_KEY_SIZE);
	return w->cb(hex, w->payload);
}

int mutual_coordinator_foreach(mutual_store *s, mutual_coordinator_cb cb, void *payload)
{
	MUTUAL_STORE_ENTER(s);
	coordinator_walk w = { cb, payload };
	if (!s || !cb)
		return mutual__fail(MUTUAL_EINVALID, "no store or callback given");
	mutual__error_clear();
	return mutual__db_coordinator_rows(s->db, coordinator_row, &w);
}

static const char *action_name(int action)
{
	return action == MUTUAL_ROLE_GRANT ? "grant" : action == MUTUAL_ROLE_REVOKE ? "revoke"
	       : action == MUTUAL_ROLE_REMOVE ? "remove" : "found";
}

static const char *refusal(int status)
{
	switch (status) {
	case MUTUAL_ROLE_IN_FORCE:
		return NULL;
	case MUTUAL_ROLE_NOT_COORDINATOR:
		return "its writer was not a coordinator in what it had seen";
	case MUTUAL_ROLE_AFTER_CUT:
		return "its writer's role was taken back before it (after the cut)";
	case MUTUAL_ROLE_NOT_FOUNDER:
		return "it does not found this group (its salt does not give the group id, or two devices claim it)";
	default:
		return "its writer wrote more role events than one device may";
	}
}

typedef struct {
	mutual_role_action_cb cb;
	void *payload;
} action_walk;

static int action_row(const mutual_db_role_row *row, void *payload)
{
	action_walk *w = payload;
	mutual_role_action a;
	char target[MUTUAL_KEY_HEX_SIZE];
	memset(&a, 0, sizeof(a));
	memcpy(a.id.device, row->device, MUTUAL_KEY_SIZE);
	a.id.seq = row->seq;
	a.action = action_name(row->action);
	mutual__hex(target, row->target, MUTUAL_KEY_SIZE);
	a.target = target;
	a.cut = row->cut;
	a.in_force = row->status == MUTUAL_ROLE_IN_FORCE;
	a.refused = refusal(row->status);
	return w->cb(&a, w->payload);
}

int mutual_role_action_foreach(mutual_store *s, mutual_role_action_cb cb, void *payload)
{
	MUTUAL_STORE_ENTER(s);
	action_walk w = { cb, payload };
	if (!s || !cb)
		return mutual__fail(MUTUAL_EINVALID, "no store or callback given");
	mutual__error_clear();
	return mutual__db_role_rows(s->db, action_row, &w);
}
