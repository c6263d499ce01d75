/*
 * test_roles.c - the group's coordinators (roles.c): the founder, grants
 * and revokes carried by real syncs, cuts, concurrent revokes, forged
 * claims, the API's refusals, and the resolver's result independent of
 * the order it is given the events in.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"
#include "common.h"
#include "crypto.h"
#include "forge.h"
#include "roles.h"
#include "rotation.h"
#include "store.h"

static uint64_t rng = 0x2545f4914f6cdd1du;
static unsigned pick(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* ------------------------------------------------------------- helpers */

static void key_of(uint8_t out[MUTUAL_KEY_SIZE], mutual_store *s)
{
	CHECK(mutual__unhex(out, MUTUAL_KEY_SIZE, mutual_store_device_id(s), MUTUAL_KEY_HEX_LEN) == 0);
}

static int is_coord(mutual_store *s, mutual_store *who)
{
	uint8_t k[MUTUAL_KEY_SIZE];
	key_of(k, who);
	int rc = mutual_is_coordinator(s, k);
	CHECK(rc == 0 || rc == 1);
	return rc;
}

static void sync_all(mutual_store **s, size_t n, const char *stick)
{
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	/* Twice round: everyone ends holding everything. */
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < n; i++)
			CHECK_OK(mutual_sync(&st, s[i], stick, NULL));
}

static const char *make_stick(const char *name)
{
	const char *p = tmp_path(name);
	CHECK(mkdir(p, 0700) == 0);
	return p;
}

/* Three devices of one group that have met: office (the founder),
 * laptop and phone; returns the stick they met through. */
static const char *three_devices(mutual_store *s[3])
{
	const char *stick = make_stick("stick");
	s[0] = check_store_create("a", "office");
	s[1] = check_store_join(s[0], "b", "laptop");
	s[2] = check_store_join(s[0], "c", "phone");
	sync_all(s, 3, stick);
	return stick;
}

static void grant(mutual_store *by, mutual_store *to)
{
	uint8_t k[MUTUAL_KEY_SIZE];
	key_of(k, to);
	CHECK_OK(mutual_coordinator_grant(NULL, by, k));
}

static void revoke(mutual_store *by, mutual_store *of, uint64_t cut)
{
	uint8_t k[MUTUAL_KEY_SIZE];
	key_of(k, of);
	CHECK_OK(mutual_coordinator_revoke(NULL, by, k, cut));
}

static uint64_t head_of(mutual_store *in, mutual_store *of)
{
	uint8_t k[MUTUAL_KEY_SIZE], h[MUTUAL_HASH_SIZE];
	uint64_t seq;
	key_of(k, of);
	CHECK_OK(mutual__db_head(in->db, k, &seq, h));
	return seq;
}

typedef struct {
	int n, in_force, found, grants, revokes;
	char last_refused[200];
} action_count;

static int count_action(const mutual_role_action *a, void *payload)
{
	action_count *c = payload;
	c->n++;
	c->in_force += a->in_force;
	c->found += strcmp(a->action, "found") == 0;
	c->grants += strcmp(a->action, "grant") == 0;
	c->revokes += strcmp(a->action, "revoke") == 0;
	CHECK(a->in_force == (a->refused == NULL));
	if (a->refused)
		snprintf(c->last_refused, sizeof(c->last_refused), "%s", a->refused);
	return 0;
}

static action_count actions(mutual_store *s)
{
	action_count c;
	memset(&c, 0, sizeof(c));
	CHECK_OK(mutual_role_action_foreach(s, count_action, &c));
	return c;
}

static void digests_equal(mutual_store **s, size_t n)
{
	uint8_t first[MUTUAL_HASH_SIZE], d[MUTUAL_HASH_SIZE];
	CHECK_OK(mutual_state_digest(first, s[0]));
	for (size_t i = 1; i < n; i++) {
		CHECK_OK(mutual_state_digest(d, s[i]));
		CHECK(memcmp(first, d, sizeof(d)) == 0);
	}
	/* A rebuild decides the same from the same events. */
	CHECK_OK(mutual_rebuild(s[0]));
	CHECK_OK(mutual_state_digest(d, s[0]));
	CHECK(memcmp(first, d, sizeof(d)) == 0);
}

/* The devices agree (and a rebuild with them); then they are freed. */
static void agree_and_free(mutual_store **s, size_t n)
{
	digests_equal(s, n);
	for (size_t i = 0; i < n; i++)
		mutual_store_free(s[i]);
}

/* --------------------------------------------------------------- cases */

static void test_founder(void)
{
	mutual_store *a = check_store_create("a", "office");
	mutual_store *b = check_store_join(a, "b", "laptop");
	mutual_store *s[] = { a, b };
	const char *stick = make_stick("stick");

	CHECK(is_coord(a, a) == 1);
	CHECK(is_coord(b, a) == 0); /* b holds nothing of a's yet */
	sync_all(s, 2, stick);
	CHECK(is_coord(b, a) == 1 && is_coord(a, b) == 0 && is_coord(b, b) == 0);
	action_count c = actions(b);
	CHECK(c.n == 1 && c.found == 1 && c.in_force == 1);
	/* The group id is the founder's: its key and the salt its creation carries. */
	mutual_event *ev = NULL;
	mutual_event_id id;
	uint8_t salt[MUTUAL_GROUP_SALT_SIZE], gid[MUTUAL_GROUP_ID_SIZE];
	key_of(id.device, a);
	id.seq = 1;
	CHECK_OK(mutual_event_lookup(&ev, b, &id));
	const char *p = strstr(mutual_event_payload(ev), "\"salt\":\"");
	CHECK(p && mutual__unhex(salt, sizeof(salt), p + 8, 2 * sizeof(salt)) == 0);
	mutual__group_id_bind(gid, id.device, salt);
	CHECK(memcmp(gid, b->group_id_raw, sizeof(gid)) == 0);
	mutual_event_free(ev);
	digests_equal(s, 2);
	mutual_store_free(a);
	mutual_store_free(b);
}

static void test_grant_and_revoke(void)
{
	mutual_store *s[3];
	const char *stick = three_devices(s);
	mutual_store *a = s[0], *b = s[1], *c = s[2];
	uint8_t kc[MUTUAL_KEY_SIZE];

	key_of(kc, c);
	CHECK_RC(mutual_coordinator_grant(NULL, b, kc), MUTUAL_EPERM);
	grant(a, b);
	sync_all(s, 3, stick);
	CHECK(is_coord(c, b) == 1);
	grant(b, c); /* b acts as a coordinator */
	sync_all(s, 3, stick);
	CHECK(is_coord(a, c) == 1);
	/* a takes b's role back, after all b did: c stays a coordinator. */
	revoke(a, b, MUTUAL_CUT_HELD);
	sync_all(s, 3, stick);
	for (size_t i = 0; i < 3; i++)
		CHECK(is_coord(s[i], a) && !is_coord(s[i], b) && is_coord(s[i], c));
	CHECK_RC(mutual_coordinator_grant(NULL, b, kc), MUTUAL_EPERM);
	action_count n = actions(c);
	CHECK(n.n == 4 && n.in_force == 4 && n.grants == 2 && n.revokes == 1);
	agree_and_free(s, 3);
}

/* b grants c while a, not having seen it, takes b's role back: the cut
 * a names is before b's grant, so the grant never counts, anywhere. */
static void test_cut_voids_what_follows(void)
{
	mutual_store *s[3];
	const char *stick = three_devices(s);
	mutual_store *a = s[0], *b = s[1], *c = s[2];
	grant(a, b);
	sync_all(s, 3, stick);
	revoke(a, b, head_of(a, b)); /* offline, at once */
	grant(b, c);                 /* offline, the same day */
	sync_all(s, 3, stick);
	for (size_t i = 0; i < 3; i++)
		CHECK(is_coord(s[i], a) && !is_coord(s[i], b) && !is_coord(s[i], c));
	action_count n = actions(a);
	CHECK(n.n == 4 && n.in_force == 3);
	CHECK(strstr(n.last_refused, "after the cut") != NULL);
	agree_and_free(s, 3);
}

/* Two coordinators take the role from each other offline: both lose it
 * (NOTES 4), on every device. */
static void test_concurrent_revokes_both_stand(void)
{
	mutual_store *s[3];
	const char *stick = three_devices(s);
	mutual_store *a = s[0], *b = s[1], *c = s[2];
	grant(a, b);
	grant(a, c);
	sync_all(s, 3, stick);
	revoke(a, b, MUTUAL_CUT_HELD);
	revoke(b, a, MUTUAL_CUT_HELD);
	sync_all(s, 3, stick);
	for (size_t i = 0; i < 3; i++)
		CHECK(!is_coord(s[i], a) && !is_coord(s[i], b) && is_coord(s[i], c));
	/* c, still a coordinator, makes b one again: b counts from then on. */
	grant(c, b);
	sync_all(s, 3, stick);
	for (size_t i = 0; i < 3; i++)
		CHECK(!is_coord(s[i], a) && is_coord(s[i], b));
	grant(b, a);
	sync_all(s, 3, stick);
	for (size_t i = 0; i < 3; i++)
		CHECK(is_coord(s[i], a) && is_coord(s[i], b) && is_coord(s[i], c));
	agree_and_free(s, 3);
}

/* A member's modified software writes role events the API would refuse:
 * a grant and a revoke from a device that is no coordinator, and a second
 * creation of the group by a key of its own. None counts. */
static void test_forged_claims(void)
{
	mutual_store *a = check_store_create("a", "office");
	mutual_store *b = check_store_join(a, "b", "laptop");
	mutual_store *s[] = { a, b };
	const char *stick = make_stick("stick");
	uint8_t *f = NULL, seed[MUTUAL_SEED_SIZE] = { 7 }, pk[MUTUAL_KEY_SIZE], sk[MUTUAL_SECRET_SIZE];
	char payload[256], ha[MUTUAL_KEY_HEX_SIZE], hb[MUTUAL_KEY_HEX_SIZE];
	size_t n = 0;

	sync_all(s, 2, stick);
	snprintf(ha, sizeof(ha), "%s", mutual_store_device_id(a));
	snprintf(hb, sizeof(hb), "%s", mutual_store_device_id(b));
	forge_frontier(b, &f, &n);
	snprintf(payload, sizeof(payload), "{\"device\":\"%s\",\"role\":\"coordinator\"}", hb);
	forge_event(b, 0, f, n, "mutual.role.grant", payload);
	snprintf(payload, sizeof(payload), "{\"cut\":0,\"device\":\"%s\",\"role\":\"coordinator\"}", ha);
	forge_event(b, 0, f, n, "mutual.role.revoke", payload);
	free(f);
	/* A founder of its own: a salt that does not give this group's id
	 * (stored as an import stores it: only a device's own log is
	 * exported, so it goes straight into a). */
	sync_all(s, 2, stick);
	CHECK_OK(mutual__sign_keypair(pk, sk, seed));
	forge_event_of(a, pk, sk, 0, NULL, 0, "mutual.group.create",
		"{\"group\":\"Food\",\"salt\":\"000102030405060708090a0b0c0d0e0f\",\"name\":\"boss\"}");
	snprintf(payload, sizeof(payload), "{\"device\":\"%s\",\"role\":\"coordinator\"}", hb);
	{
		uint8_t own[MUTUAL_FRONTIER_ENTRY];
		key_of(own, a);
		mutual__set_u64(own + MUTUAL_KEY_SIZE, 1);
		forge_event_of(a, pk, sk, 0, own, 1, "mutual.role.grant", payload);
	}
	for (size_t i = 0; i < 2; i++) {
		action_count c = actions(s[i]);
		CHECK(is_coord(s[i], a) && !is_coord(s[i], b));
		CHECK(c.n == (i == 0 ? 5 : 3) && c.in_force == 1 && c.found == (i == 0 ? 2 : 1));
	}
	/* What a resolves to, it resolves to again from its events alone. */
	{
		uint8_t d[MUTUAL_HASH_SIZE], e[MUTUAL_HASH_SIZE];
		CHECK_OK(mutual_state_digest(d, a));
		CHECK_OK(mutual_rebuild(a));
		CHECK_OK(mutual_state_digest(e, a));
		CHECK(memcmp(d, e, sizeof(d)) == 0);
	}
	mutual_store_free(a);
	mutual_store_free(b);
}

static void test_refusals(void)
{
	mutual_store *a = check_store_create("a", "office");
	mutual_store *b = check_store_join(a, "b", "laptop");
	mutual_store *s[] = { a, b };
	const char *stick = make_stick("stick");
	uint8_t ka[MUTUAL_KEY_SIZE], kb[MUTUAL_KEY_SIZE], nobody[MUTUAL_KEY_SIZE] = { 1, 2, 3 };

	key_of(ka, a);
	key_of(kb, b);
	CHECK_RC(mutual_coordinator_grant(NULL, a, nobody), MUTUAL_ENOTFOUND);
	CHECK_RC(mutual_coordinator_grant(NULL, a, ka), MUTUAL_EEXISTS);
	CHECK_RC(mutual_coordinator_revoke(NULL, a, ka, MUTUAL_CUT_HELD), MUTUAL_EINVALID); /* the last one */
	CHECK(strstr(mutual_error_last(), "no coordinator") != NULL);
	CHECK_RC(mutual_coordinator_grant(NULL, NULL, ka), MUTUAL_EINVALID);
	CHECK_RC(mutual_coordinator_grant(NULL, a, NULL), MUTUAL_EINVALID);
	CHECK_RC(mutual_is_coordinator(NULL, ka), MUTUAL_EINVALID);
	CHECK_RC(mutual_coordinator_foreach(a, NULL, NULL), MUTUAL_EINVALID);
	CHECK_RC(mutual_role_action_foreach(NULL, count_action, NULL), MUTUAL_EINVALID);
	sync_all(s, 2, stick);
	CHECK_RC(mutual_coordinator_revoke(NULL, a, kb, MUTUAL_CUT_HELD), MUTUAL_ENOTFOUND); /* not one */
	grant(a, b);
	CHECK_RC(mutual_coordinator_revoke(NULL, a, kb, head_of(a, b) + 1), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "past the last event") != NULL);
	/* Stepping down, once another coordinator exists. */
	CHECK_OK(mutual_coordinator_revoke(NULL, a, ka, MUTUAL_CUT_HELD));
	CHECK(!is_coord(a, a) && is_coord(a, b));
	CHECK_RC(mutual_coordinator_grant(NULL, a, ka), MUTUAL_EPERM);
	mutual_store_free(a);
	mutual_store_free(b);
}

/* ---------------------------------------------------------------- removal */

static void removal(mutual_store *by, mutual_store *of, uint64_t cut)
{
	uint8_t k[MUTUAL_KEY_SIZE];
	key_of(k, of);
	CHECK_OK(mutual_device_remove(NULL, by, k, cut));
}

/* Whether `s` holds `key` (its bytes) among its group keys. */
static int holds_key(mutual_store *s, const mutual_group_key *key)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (memcmp(s->keys[i].key, key->key, MUTUAL_GROUP_KEY_SIZE) == 0)
			return 1;
	return 0;
}

/* 1 if `s` shows the entity item/`id` (not deleted). */
static int has_item(mutual_store *s, const char *id)
{
	char *json = NULL;
	int rc = mutual_state_json(&json, s, "item", id);
	int shown = rc == 0 && json && strstr(json, "\"n\"") != NULL;
	CHECK(rc == 0 || rc == MUTUAL_ENOTFOUND);
	mutual_free(json);
	return shown;
}

typedef struct {
	uint64_t refused, total;
} refused_count;

static int count_refused(const mutual_event *ev, void *payload)
{
	refused_count *c = payload;
	c->total++;
	c->refused += (uint64_t)mutual_event_refused(ev);
	return 0;
}

/* How many of `of`'s events `in` holds, and how many of them it refuses. */
static refused_count refused_of(mutual_store *in, mutual_store *of)
{
	mutual_iter_options o = MUTUAL_ITER_OPTIONS_INIT;
	mutual_iter *it = NULL;
	const mutual_event *ev;
	refused_count c = { 0, 0 };
	uint8_t k[MUTUAL_KEY_SIZE];
	int rc;
	key_of(k, of);
	o.device = k;
	CHECK_OK(mutual_iter_new(&it, in, &o));
	while ((rc = mutual_iter_next(&ev, it)) == 0)
		count_refused(ev, &c);
	CHECK(rc == MUTUAL_ITEROVER);
	mutual_iter_free(it);
	return c;
}

/* The stolen laptop: what it wrote before the cut stays, what it writes
 * after is refused everywhere, in either arrival order, and it can write
 * no more once it learns; a later removal moves the cut after review. */
static void test_remove_refuses_after_cut(void)
{
	mutual_store *s[3];
	const char *stick = three_devices(s), *side = make_stick("side");
	mutual_store *a = s[0], *b = s[1], *c = s[2];
	mutual_store *bc[] = { b, c };
	uint8_t kb[MUTUAL_KEY_SIZE];

	key_of(kb, b);
	CHECK_OK(mutual_entity_put(NULL, b, "item", "before", "{\"n\":1}"));
	sync_all(s, 3, stick);
	uint64_t cut = head_of(a, b);
	/* The thief writes on, offline; c meets it first, before the removal. */
	CHECK_OK(mutual_entity_put(NULL, b, "item", "after", "{\"n\":2}"));
	CHECK_OK(mutual_entity_put(NULL, b, "item", "before", "{\"n\":3}"));
	sync_all(bc, 2, side);
	CHECK(has_item(c, "after"));
	removal(a, b, MUTUAL_CUT_HELD);
	CHECK(head_of(a, b) == cut);
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	CHECK_OK(mutual_sync(&st, a, stick, NULL));
	CHECK_OK(mutual_sync(&st, c, stick, NULL)); /* c learns: what it applied is undone */
	CHECK(!has_item(c, "after") && has_item(c, "before"));
	char *json = NULL;
	CHECK_OK(mutual_state_json(&json, c, "item", "before"));
	CHECK(strstr(json, "\"n\":1") != NULL);
	mutual_free(json);
	sync_all(s, 3, stick);
	for (size_t i = 0; i < 3; i++) {
		refused_count rc = refused_of(s[i], b);
		CHECK(rc.refused == 2 && rc.total == cut + 2); /* kept as evidence, refused */
		CHECK(!has_item(s[i], "after"));
	}
	/* b learned too: it can write nothing more. */
	CHECK_RC(mutual_entity_put(NULL, b, "item", "more", "{\"n\":4}"), MUTUAL_EPERM);
	CHECK(strstr(mutual_error_last(), "removed this device") != NULL);
	/* The device list says so. */
	digests_equal(s, 3);
	/* After review: the coordinator lets the first of those events count.
	 * The removed laptop no longer reads what the group writes: the key
	 * the first removal rotated to was never sealed to it. */
	removal(a, b, cut + 1);
	sync_all(s, 3, stick);
	mutual_store *ac[] = { a, c };
	for (size_t i = 0; i < 2; i++)
		CHECK(has_item(ac[i], "after") && refused_of(ac[i], b).refused == 1);
	CHECK(!is_coord(c, b));
	CHECK_OK(mutual_sync(&st, b, stick, NULL));
	CHECK(st.segments_without_key >= 1 && st.events_received == 0 && !has_item(b, "after"));
	agree_and_free(ac, 2);
	mutual_store_free(b);
}

static int find_removed(const mutual_device_info *info, void *payload)
{
	const char *want = payload;
	if (strcmp(info->id, want) != 0)
		return 0;
	return info->removed ? (int)info->removed_cut + 1 : -1;
}

/* Concurrent removals: two coordinators removing different devices, a
 * device removed while it removes another, and two coordinators removing
 * each other (both stand: docs/membership.md). */
static void test_remove_concurrent(void)
{
	mutual_store *s[3];
	const char *stick = three_devices(s);
	mutual_store *a = s[0], *b = s[1], *c = s[2];
	mutual_store *d = check_store_join(a, "d", "tablet");
	mutual_store *all[] = { a, b, c, d };

	sync_all(all, 4, stick);
	grant(a, b);
	sync_all(all, 4, stick);
	/* Offline at once: a removes c; b (about to be removed by a, unseen)
	 * removes d. */
	removal(a, c, MUTUAL_CUT_HELD);
	removal(b, d, MUTUAL_CUT_HELD);
	sync_all(all, 4, stick);
	for (size_t i = 0; i < 4; i++)
		CHECK(mutual_device_foreach(all[i], find_removed, (void *)mutual_store_device_id(c)) > 0 &&
		      mutual_device_foreach(all[i], find_removed, (void *)mutual_store_device_id(d)) > 0);
	digests_equal(all, 4);
	/* Now a removes b while b, offline, removes a. */
	mutual_store *ab[] = { a, b };
	mutual_store_free(c);
	mutual_store_free(d);
	removal(a, b, MUTUAL_CUT_HELD);
	removal(b, a, MUTUAL_CUT_HELD);
	sync_all(ab, 2, stick);
	for (size_t i = 0; i < 2; i++) {
		CHECK(mutual_device_foreach(ab[i], find_removed, (void *)mutual_store_device_id(a)) > 0);
		CHECK(mutual_device_foreach(ab[i], find_removed, (void *)mutual_store_device_id(b)) > 0);
		CHECK(!is_coord(ab[i], a) && !is_coord(ab[i], b));
	}
	agree_and_free(ab, 2);
}

/* Whoever removed B while B removed C: B's removal came after its cut. */
static void test_removed_while_removing(void)
{
	mutual_store *s[3];
	const char *stick = three_devices(s);
	mutual_store *a = s[0], *b = s[1], *c = s[2];

	grant(a, b);
	sync_all(s, 3, stick);
	removal(a, b, MUTUAL_CUT_HELD);
	removal(b, c, MUTUAL_CUT_HELD);
	sync_all(s, 3, stick);
	for (size_t i = 0; i < 3; i++) {
		CHECK(mutual_device_foreach(s[i], find_removed, (void *)mutual_store_device_id(c)) == -1);
		CHECK(mutual_device_foreach(s[i], find_removed, (void *)mutual_store_device_id(b)) > 0);
		CHECK(!is_coord(s[i], c) && !is_coord(s[i], b) && is_coord(s[i], a));
	}
	action_count n = actions(a);
	CHECK(strstr(n.last_refused, "after the cut") != NULL);
	agree_and_free(s, 3);
}

static void test_remove_refusals(void)
{
	mutual_store *s[3];
	const char *stick = three_devices(s);
	mutual_store *a = s[0], *b = s[1], *c = s[2];
	uint8_t ka[MUTUAL_KEY_SIZE], kb[MUTUAL_KEY_SIZE], nobody[MUTUAL_KEY_SIZE] = { 1, 2, 3 };

	key_of(ka, a);
	key_of(kb, b);
	CHECK_RC(mutual_device_remove(NULL, NULL, kb, MUTUAL_CUT_HELD), MUTUAL_EINVALID);
	CHECK_RC(mutual_device_remove(NULL, a, NULL, MUTUAL_CUT_HELD), MUTUAL_EINVALID);
	CHECK_RC(mutual_device_remove(NULL, c, kb, MUTUAL_CUT_HELD), MUTUAL_EPERM);
	CHECK_RC(mutual_device_remove(NULL, a, ka, MUTUAL_CUT_HELD), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "cannot remove itself") != NULL);
	CHECK_RC(mutual_device_remove(NULL, a, nobody, MUTUAL_CUT_HELD), MUTUAL_ENOTFOUND);
	CHECK_RC(mutual_device_remove(NULL, a, kb, head_of(a, b) + 1), MUTUAL_EINVALID);
	grant(a, b);
	CHECK_RC(mutual_device_remove(NULL, b, ka, MUTUAL_CUT_HELD), MUTUAL_EPERM); /* b has not seen its grant */
	sync_all(s, 3, stick);
	/* b may remove a now; a may not remove the last coordinator after that. */
	CHECK_OK(mutual_device_remove(NULL, a, kb, 0)); /* none of b's events count */
	CHECK_RC(mutual_device_remove(NULL, a, kb, 0), MUTUAL_EEXISTS);
	CHECK_RC(mutual_coordinator_grant(NULL, a, kb), MUTUAL_EINVALID);
	sync_all(s, 3, stick);
	CHECK(refused_of(c, b).refused == head_of(c, b));
	CHECK_RC(mutual_device_remove(NULL, c, ka, MUTUAL_CUT_HELD), MUTUAL_EPERM);
	agree_and_free(s, 3);
}

/* ------------------------------------------- removal, the whole feature */

#define PROP_DEVICES_MAX 8
#define PROP_STICKS 3
#define PROP_STEPS 60
#define PROP_PUTS_MAX PROP_STEPS

static unsigned prop_seeds = 10; /* test_roles removal_property [SEEDS], or $TEST_ROLES_SEEDS */

typedef struct {
	char id[32];
	int dev;
	uint64_t seq;
} prop_put;

typedef struct {
	char text[PROP_DEVICES_MAX * 96];
	size_t len;
} removal_list;

static int list_removal(const mutual_device_info *d, void *payload)
{
	removal_list *l = payload;
	if (d->removed && l->len + 96 < sizeof(l->text))
		l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s:%" PRIu64 " ", d->id,
			d->removed_cut);
	return 0;
}

static int removed_cut_of(mutual_store *in, mutual_store *of, uint64_t *cut)
{
	uint8_t k[MUTUAL_KEY_SIZE];
	key_of(k, of);
	int rc = mutual__db_removal_get(in->db, k, cut);
	CHECK(rc == 0 || rc == MUTUAL_ENOTFOUND);
	return rc == 0;
}

static int sum_events(const mutual_device_info *d, void *payload)
{
	*(uint64_t *)payload += d->events;
	return 0;
}

typedef struct {
	const uint8_t *device;
	int found;
} excluded_ctx;

static int find_excluded(const mutual_db_rotation_row *r, void *payload)
{
	excluded_ctx *ex = payload;
	for (size_t i = 0; i < r->n_excludes; i++)
		ex->found |= memcmp(r->excludes + i * MUTUAL_KEY_SIZE, ex->device, MUTUAL_KEY_SIZE) == 0;
	return 0;
}

static int count_coordinator(const char *id, void *payload)
{
	(void)id;
	++*(size_t *)payload;
	return 0;
}


/* One random history: 4..8 devices, 2..3 coordinators, puts, grants,
 * revokes and removals (each rotating the key) by whoever tries, syncs
 * through three sticks in random order; then everyone meets. 0 when every
 * device that remains holds the same state and the same removals, no
 * removed device's event after its cut shows anywhere (while every other
 * put does), and none of them seals with a key a removed device holds;
 * 2 (no coordinator left) or 3 (a device left out by a removal that did
 * not stand) when those hold for the others (see below); else 1.
 * `*removed` counts the removals that stood. */
static int removal_history(uint64_t seed, unsigned *removed)
{
	mutual_store *s[PROP_DEVICES_MAX];
	const char *sticks[PROP_STICKS];
	prop_put puts[PROP_PUTS_MAX];
	size_t n_puts = 0;
	char name[48];
	int bad = 0;

	rng = seed * 0x9e3779b97f4a7c15u + 0x2545f4914f6cdd1du;
	unsigned n = 4 + pick(PROP_DEVICES_MAX - 3);
	snprintf(name, sizeof(name), "p%" PRIu64 "-0", seed);
	s[0] = check_store_create(name, "d0");
	for (unsigned i = 1; i < n; i++) {
		char dev[16];
		snprintf(name, sizeof(name), "p%" PRIu64 "-%u", seed, i);
		snprintf(dev, sizeof(dev), "d%u", i);
		s[i] = check_store_join(s[0], name, dev);
	}
	for (unsigned k = 0; k < PROP_STICKS; k++) {
		snprintf(name, sizeof(name), "p%" PRIu64 "-stick%u", seed, k);
		sticks[k] = make_stick(name);
	}
	sync_all(s, n, sticks[0]);
	grant(s[0], s[1]);
	if (pick(2))
		grant(s[0], s[2]);
	sync_all(s, n, sticks[0]);

	for (unsigned step = 0; step < PROP_STEPS; step++) {
		unsigned d = pick(n), t = pick(n), op = pick(10);
		uint8_t kt[MUTUAL_KEY_SIZE];
		mutual_event_id id;
		int rc;
		key_of(kt, s[t]);
		if (op <= 4) {
			prop_put *p = &puts[n_puts];
			snprintf(p->id, sizeof(p->id), "s%u", step);
			rc = mutual_entity_put(&id, s[d], "item", p->id, "{\"n\":1}");
			CHECK(rc == 0 || rc == MUTUAL_EPERM); /* EPERM: it learned it was removed */
			if (rc == 0) {
				p->dev = (int)d;
				p->seq = id.seq;
				n_puts++;
			}
		} else if (op <= 7) {
			mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
			CHECK_OK(mutual_sync(&st, s[d], sticks[pick(PROP_STICKS)], NULL));
		} else if (op == 8) {
			uint64_t head = head_of(s[d], s[t]);
			uint64_t cut = pick(2) ? MUTUAL_CUT_HELD : head ? pick((unsigned)head + 1) : 0;
			rc = mutual_device_remove(NULL, s[d], kt, cut);
			CHECK(rc == 0 || rc == MUTUAL_EPERM || rc == MUTUAL_EINVALID || rc == MUTUAL_EEXISTS);
		} else {
			rc = pick(2) ? mutual_coordinator_grant(NULL, s[d], kt)
				     : mutual_coordinator_revoke(NULL, s[d], kt, MUTUAL_CUT_HELD);
			CHECK(rc == 0 || rc == MUTUAL_EPERM || rc == MUTUAL_EINVALID || rc == MUTUAL_EEXISTS ||
			      rc == MUTUAL_ENOTFOUND);
		}
	}
	/* Everyone meets, round after round: a coordinator that finds the
	 * keys need it rotates again (rotation.c NOTES 5), the others follow. */
	for (int round = 0; round < 3; round++)
		sync_all(s, n, sticks[0]);

	/* The devices that remain (a removed one no longer reads what the
	 * group writes after its removal): one state, one list of removals. */
	/* A removed device stops learning, and so does one left without a
	 * key: the view to judge by is the one holding the most events. */
	unsigned live[PROP_DEVICES_MAX], n_live = 0, most = 0, seer = 0;
	uint64_t most_events = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t events = 0;
		CHECK_OK(mutual_device_foreach(s[i], sum_events, &events));
		if (events > most_events) {
			most_events = events;
			seer = i;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t cut;
		most += (unsigned)removed_cut_of(s[seer], s[i], &cut);
	}
	/* A device a rotation left out for a removal that did not stand (two
	 * coordinators removing each other at once) cannot read what was
	 * sealed with that key: a known limit (docs/membership.md), counted
	 * apart and left out of the comparison. */
	int left_out = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t cut;
		excluded_ctx ex = { s[i]->self, 0 };
		if (removed_cut_of(s[seer], s[i], &cut))
			continue;
		CHECK_OK(mutual__db_rotation_rows(s[seer]->db, find_excluded, &ex));
		if (ex.found) { /* and it cannot open part of what the others wrote */
			mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
			CHECK_OK(mutual_sync(&st, s[i], sticks[0], NULL));
			ex.found = st.segments_without_key > 0 || st.own_events_waiting > 0;
		}
		if (ex.found)
			left_out = 1;
		else
			live[n_live++] = i;
	}
	CHECK(n_live > 0);
	/* A group left with no coordinator after a removal (two removing each
	 * other at once) has nobody to rotate: its devices hold their new
	 * events back rather than seal them with a key a removed device
	 * holds (rotation.c NOTES 2). Only the refusals are checked then. */
	size_t coordinators = 0;
	CHECK_OK(mutual_coordinator_foreach(s[seer], count_coordinator, &coordinators));
	int stuck = coordinators == 0 && most > 0;
	uint8_t first[MUTUAL_HASH_SIZE], dg[MUTUAL_HASH_SIZE];
	removal_list l0, li;
	memset(&l0, 0, sizeof(l0));
	CHECK_OK(mutual_state_digest(first, s[live[0]]));
	CHECK_OK(mutual_device_foreach(s[live[0]], list_removal, &l0));
	for (unsigned j = 1; j < n_live && !stuck; j++) {
		unsigned i = live[j];
		memset(&li, 0, sizeof(li));
		CHECK_OK(mutual_state_digest(dg, s[i]));
		CHECK_OK(mutual_device_foreach(s[i], list_removal, &li));
		bad |= memcmp(first, dg, sizeof(dg)) != 0 || li.len != l0.len || memcmp(li.text, l0.text, l0.len) != 0;
	}
	for (size_t p = 0; p < n_puts; p++) {
		uint64_t cut;
		int refused = removed_cut_of(s[seer], s[puts[p].dev], &cut) && puts[p].seq > cut;
		for (unsigned j = 0; j < n_live; j++)
			bad |= stuck ? refused && has_item(s[live[j]], puts[p].id) : has_item(s[live[j]], puts[p].id) == refused;
	}
	/* No device that remains seals with a key a removed device holds
	 * (the key its next segments would be sealed with, if any). */
	for (unsigned i = 0; i < n; i++) {
		uint64_t cut;
		if (!removed_cut_of(s[seer], s[i], &cut))
			continue;
		*removed += 1;
		for (unsigned j = 0; j < n_live; j++) {
			mutual_seal_plan plan;
			CHECK_OK(mutual__rotation_seal_plan(&plan, s[live[j]], UINT64_MAX));
			bad |= plan.has_current && holds_key(s[i], &plan.current);
			mutual__rotation_seal_plan_free(&plan);
		}
	}
	if ((stuck || left_out) && !bad)
		bad = stuck ? 2 : 3;
	for (unsigned i = 0; i < n; i++)
		mutual_store_free(s[i]);
	return bad;
}

static void test_removal_property(void)
{
	unsigned removed = 0, bad = 0, stuck = 0, left_out = 0;
	for (unsigned k = 0; k < prop_seeds; k++) {
		int b = removal_history(k, &removed);
		if (b == 1)
			fprintf(stderr, "seed %u: the devices disagree\n", k);
		bad += b == 1;
		stuck += b == 2;
		left_out += b == 3;
	}
	fprintf(stderr, "%u seeds, %u removals stood, %u seeds left without a coordinator, %u with a device left out"
		" by a removal that did not stand, %u seeds disagreed\n", prop_seeds, removed, stuck, left_out, bad);
	CHECK(bad == 0 && removed > 0 && stuck + left_out < prop_seeds);
}

#ifdef MUTUAL_TEST_HOOKS
/* With the rebuild after a removal skipped (a test hook), a device that
 * applied a removed device's events before it learned keeps them: the
 * same histories must find it. */
static void test_removal_property_detects_no_rebuild(void)
{
	unsigned removed = 0, bad = 0;
	CHECK(setenv("MUTUAL_TEST_REMOVAL_NO_REBUILD", "1", 1) == 0);
	for (unsigned k = 0; k < prop_seeds && bad == 0; k++)
		bad += removal_history(k, &removed) == 1;
	CHECK(unsetenv("MUTUAL_TEST_REMOVAL_NO_REBUILD") == 0);
	fprintf(stderr, "the skipped rebuild was found (%u seed)\n", bad);
	CHECK(bad > 0);
}

/* With the key sealed to the removed devices too (a test hook), a removed
 * device holds the key the others seal with: the same histories must find
 * it. */
static void test_removal_property_detects_key_to_removed(void)
{
	unsigned removed = 0, bad = 0;
	CHECK(setenv("MUTUAL_TEST_ROTATION_SEAL_TO_REMOVED", "1", 1) == 0);
	for (unsigned k = 0; k < prop_seeds && bad == 0; k++)
		bad += removal_history(k, &removed) == 1;
	CHECK(unsetenv("MUTUAL_TEST_ROTATION_SEAL_TO_REMOVED") == 0);
	fprintf(stderr, "the key sealed to a removed device was found (%u seed)\n", bad);
	CHECK(bad > 0);
}
#endif


/* ------------------------------------------------------------- rotation */

static uint64_t sync_once(mutual_store *s, const char *stick, mutual_sync_stats *st)
{
	mutual_sync_stats fresh = MUTUAL_SYNC_STATS_INIT;
	*st = fresh;
	CHECK_OK(mutual_sync(st, s, stick, NULL));
	return st->events_received;
}

/* A coordinator rotates: everyone takes the new key and seals with it.
 * An invite made before the rotation (the old key only) lets a device
 * join but read nothing sealed after it; one made after carries every
 * key, so its device reads the history too. */
static void test_rotate_seals_new_key(void)
{
	mutual_store *s[3];
	const char *stick = three_devices(s);
	mutual_store *a = s[0], *b = s[1], *c = s[2];
	char *old_invite = NULL, *new_invite = NULL;
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	mutual_store *d = NULL, *e = NULL;
	mutual_event_id id;
	mutual_sync_stats st;

	CHECK_OK(mutual_entity_put(NULL, c, "item", "before", "{\"n\":1}"));
	sync_all(s, 3, stick);
	CHECK_OK(mutual_invite_text(&old_invite, a));
	CHECK(strncmp(old_invite, "MUTUAL-INVITE-1:", 16) == 0); /* one key: any libmutual joins */
	CHECK_RC(mutual_key_rotate(NULL, b), MUTUAL_EPERM);
	CHECK_OK(mutual_key_rotate(&id, a));
	CHECK(id.seq == head_of(a, a));
	CHECK(a->n_keys == 2 && a->keys[0].id != 1); /* the new key is current */
	sync_all(s, 3, stick);
	for (size_t i = 1; i < 3; i++)
		CHECK(s[i]->n_keys == 2 && memcmp(s[i]->keys[0].key, a->keys[0].key, MUTUAL_GROUP_KEY_SIZE) == 0);
	CHECK_OK(mutual_entity_put(NULL, c, "item", "after", "{\"n\":1}"));
	sync_all(s, 3, stick);
	CHECK(has_item(a, "after") && has_item(b, "after"));

	opts.device_name = "van";
	CHECK_OK(mutual_store_join_text(&d, tmp_path("d"), old_invite, &opts));
	sync_once(d, stick, &st);
	CHECK(st.segments_without_key >= 1 && has_item(d, "before") && !has_item(d, "after"));
	CHECK_OK(mutual_invite_text(&new_invite, a));
	CHECK(strncmp(new_invite, "MUTUAL-INVITE-2:", 16) == 0);
	opts.device_name = "bike";
	CHECK_OK(mutual_store_join_text(&e, tmp_path("e"), new_invite, &opts));
	CHECK_OK(mutual__store_load_group_key(e));
	CHECK(e->n_keys == 2);
	sync_once(e, stick, &st);
	CHECK(st.segments_without_key == 0 && has_item(e, "before") && has_item(e, "after"));
	mutual_free(old_invite);
	mutual_free(new_invite);
	mutual_store_free(d);
	mutual_store *all[] = { a, b, c, e };
	sync_all(all, 4, stick);
	agree_and_free(all, 4);
}

/* Two coordinators remove two devices at once: neither key excludes both,
 * so a member that learns of both holds its new events back (and says
 * why) until a coordinator that holds both rotates again; then they go,
 * sealed with a key neither removed device holds. */
static void test_rotate_after_concurrent_removals(void)
{
	mutual_store *s[5];
	const char *stick = make_stick("stick");
	s[0] = check_store_create("a", "office");
	s[1] = check_store_join(s[0], "b", "laptop");
	s[2] = check_store_join(s[0], "c", "phone");
	s[3] = check_store_join(s[0], "d", "stolen");
	s[4] = check_store_join(s[0], "e", "departed");
	mutual_store *a = s[0], *b = s[1], *c = s[2], *d = s[3], *e = s[4];
	mutual_sync_stats st;

	sync_all(s, 5, stick);
	grant(a, b);
	sync_all(s, 5, stick);
	removal(a, d, MUTUAL_CUT_HELD); /* offline, at once */
	removal(b, e, MUTUAL_CUT_HELD);
	sync_once(a, stick, &st);
	CHECK(st.own_events_waiting == 0);
	sync_once(c, stick, &st); /* c learns of the first, and takes its key */
	CHECK_OK(mutual_entity_put(NULL, c, "item", "beans", "{\"n\":1}"));
	sync_once(b, stick, &st); /* b sends its removal (under the key before) and learns of a's */
	sync_once(c, stick, &st); /* beans go (a sync exports first); then c learns of both */
	CHECK(st.own_events_waiting == 0);
	CHECK_OK(mutual_entity_put(NULL, c, "item", "peas", "{\"n\":1}"));
	sync_once(c, stick, &st); /* no key excludes both removed devices: peas wait */
	CHECK(st.own_events_waiting == 1);
	sync_once(b, stick, &st); /* b, a coordinator holding both, rotates again */
	sync_once(c, stick, &st); /* takes the key */
	sync_once(c, stick, &st);
	CHECK(st.own_events_waiting == 0);
	sync_once(a, stick, &st);
	CHECK(has_item(a, "beans") && has_item(a, "peas"));
	mutual_store *live[] = { a, b, c };
	sync_all(live, 3, stick);
	sync_all(live, 3, stick);
	for (size_t i = 0; i < 3; i++)
		CHECK(!holds_key(d, &live[i]->keys[0]) && !holds_key(e, &live[i]->keys[0]));
	agree_and_free(live, 3);
	mutual_store_free(d);
	mutual_store_free(e);
}

/* A member that was never a coordinator writes a rotation (its own
 * software): nobody takes its key or seals with it. */
static void test_rotate_by_member_ignored(void)
{
	mutual_store *s[3];
	const char *stick = three_devices(s);
	mutual_store *a = s[0], *b = s[1], *c = s[2];
	mutual_buf payload = { 0 };
	uint8_t *frontier = NULL;
	size_t n = 0;

	CHECK_OK(mutual__rotation_payload(&payload, c, NULL));
	forge_frontier(c, &frontier, &n);
	forge_event(c, 0, frontier, n, "mutual.key.rotate", (const char *)payload.data);
	free(frontier);
	mutual__buf_free(&payload);
	sync_all(s, 3, stick);
	for (size_t i = 0; i < 2; i++)
		CHECK(s[i]->n_keys == 1 && s[i]->keys[0].id == 1);
	CHECK_OK(mutual_entity_put(NULL, b, "item", "rice", "{\"n\":1}"));
	sync_all(s, 3, stick);
	CHECK(has_item(a, "rice"));
	agree_and_free(s, 3);
}

/* ------------------------------------------------ the resolver on its own */

#define DEVICES 5
#define STEPS 40

typedef struct {
	mutual_role_event ev[STEPS + 1];
	uint8_t saws[STEPS + 1][DEVICES * MUTUAL_FRONTIER_ENTRY];
	size_t n;
} history;

/* Random role events of DEVICES devices meeting at random; device 0 found
 * the group (bound, or `founding` for another kind of creation). Every
 * event's seen vector is what its device had seen. */
static void random_history(history *h, int founding)
{
	uint64_t seen[DEVICES][DEVICES], seq[DEVICES];
	memset(h, 0, sizeof(*h));
	memset(seen, 0, sizeof(seen));
	memset(seq, 0, sizeof(seq));
	for (int i = 0; i < STEPS + 1; i++) {
		unsigned d = i == 0 ? 0 : pick(DEVICES);
		if (i > 0 && pick(3) == 0) { /* d takes in what e had seen */
			unsigned e = pick(DEVICES);
			for (int k = 0; k < DEVICES; k++)
				seen[d][k] = seen[d][k] > seen[e][k] ? seen[d][k] : seen[e][k];
			seen[d][e] = seen[d][e] > seq[e] ? seen[d][e] : seq[e];
			continue;
		}
		mutual_role_event *ev = &h->ev[h->n];
		uint8_t *saw = h->saws[h->n];
		size_t m = 0;
		seen[d][d] = seq[d]; /* its own earlier events */
		for (int k = 0; k < DEVICES; k++)
			if (seen[d][k]) {
				memset(saw + m * MUTUAL_FRONTIER_ENTRY, 0, MUTUAL_KEY_SIZE);
				saw[m * MUTUAL_FRONTIER_ENTRY] = (uint8_t)(k + 1);
				mutual__set_u64(saw + m * MUTUAL_FRONTIER_ENTRY + MUTUAL_KEY_SIZE, seen[d][k]);
				m++;
			}
		ev->device[0] = (uint8_t)(d + 1);
		ev->seq = ++seq[d];
		ev->saw = saw;
		ev->saw_n = m;
		unsigned t = pick(DEVICES);
		ev->target[0] = (uint8_t)(t + 1);
		if (i == 0) {
			ev->action = founding;
			ev->target[0] = 1;
		} else if (pick(3) == 0) {
			ev->action = pick(3) == 0 ? MUTUAL_ROLE_REMOVE : MUTUAL_ROLE_REVOKE;
			ev->cut = pick(2) ? seen[d][t] : pick((unsigned)seen[d][t] + 1);
		} else {
			ev->action = MUTUAL_ROLE_GRANT;
		}
		h->n++;
	}
}

static void resolve_shuffled(const history *h, int *status_by_event, mutual_buf *coordinators, mutual_buf *removals)
{
	mutual_role_event copy[STEPS + 1];
	size_t where[STEPS + 1];
	for (size_t i = 0; i < h->n; i++)
		where[i] = i;
	for (size_t i = h->n; i > 1; i--) {
		size_t j = pick((unsigned)i), t = where[i - 1];
		where[i - 1] = where[j];
		where[j] = t;
	}
	for (size_t i = 0; i < h->n; i++)
		copy[i] = h->ev[where[i]];
	CHECK_OK(mutual__roles_resolve(copy, h->n, coordinators, removals));
	for (size_t i = 0; i < h->n; i++)
		status_by_event[where[i]] = copy[i].status;
}

/* `rounds` random histories, each resolved in 6 orders: the number whose
 * statuses or coordinators differed between orders. */
static int order_mismatches(int rounds)
{
	history h;
	int first[STEPS + 1], again[STEPS + 1], mismatches = 0, coordinators_seen = 0, refused_seen = 0,
	    removals_seen = 0;
	mutual_buf c1 = { 0 }, c2 = { 0 }, r1 = { 0 }, r2 = { 0 };

	for (int round = 0; round < rounds; round++) {
		int differ = 0;
		random_history(&h, MUTUAL_ROLE_FOUND);
		resolve_shuffled(&h, first, &c1, &r1);
		for (int k = 0; k < 5; k++) {
			resolve_shuffled(&h, again, &c2, &r2);
			differ |= memcmp(first, again, h.n * sizeof(int)) != 0 || c1.len != c2.len ||
				  memcmp(c1.data, c2.data, c1.len) != 0 || r1.len != r2.len ||
				  (r1.len && memcmp(r1.data, r2.data, r1.len) != 0);
		}
		removals_seen += r1.len > 0;
		/* A removed device is no coordinator. */
		for (size_t at = 0; at < r1.len; at += MUTUAL_REMOVAL_ENTRY)
			for (size_t c = 0; c < c1.len; c += MUTUAL_KEY_SIZE)
				CHECK(memcmp(c1.data + c, r1.data + at, MUTUAL_KEY_SIZE) != 0);
		mismatches += differ;
		/* Every writer never granted the role is refused. */
		for (size_t i = 1; i < h.n; i++) {
			int granted = h.ev[i].device[0] == 1;
			for (size_t j = 0; j < h.n && !granted; j++)
				granted = h.ev[j].action == MUTUAL_ROLE_GRANT && h.ev[j].target[0] == h.ev[i].device[0];
			if (!granted)
				CHECK(first[i] == MUTUAL_ROLE_NOT_COORDINATOR);
			refused_seen += first[i] != MUTUAL_ROLE_IN_FORCE;
		}
		coordinators_seen += c1.len > 0;
	}
	CHECK(coordinators_seen > 0 && refused_seen > 0 && removals_seen > 0);
	mutual__buf_free(&c1);
	mutual__buf_free(&c2);
	mutual__buf_free(&r1);
	mutual__buf_free(&r2);
	return mismatches;
}

static void test_resolver_order_independent(void)
{
	CHECK(order_mismatches(300) == 0);
}

#ifdef MUTUAL_TEST_HOOKS
/* With revokes applied as met instead of in rounds (a test hook), the
 * same check finds orders that disagree: it can fail. */
static void test_resolver_detects_no_rounds(void)
{
	CHECK(setenv("MUTUAL_TEST_ROLES_NO_ROUNDS", "1", 1) == 0);
	int bad = order_mismatches(300);
	CHECK(unsetenv("MUTUAL_TEST_ROLES_NO_ROUNDS") == 0);
	fprintf(stderr, "%d of 300 histories resolved differently in another order\n", bad);
	CHECK(bad > 0);
}
#endif

/* A group made before roles: its one unsalted creation founds it, two
 * found nothing, and a bound one wins over an unsalted forgery. */
static void test_resolver_founding(void)
{
	mutual_role_event ev[2];
	mutual_buf c = { 0 }, r = { 0 };
	memset(ev, 0, sizeof(ev));
	ev[0].device[0] = 1;
	ev[0].seq = 1;
	ev[0].action = MUTUAL_ROLE_FOUND_UNBOUND;
	ev[0].target[0] = 1;
	ev[1] = ev[0];
	ev[1].device[0] = ev[1].target[0] = 2;
	CHECK_OK(mutual__roles_resolve(ev, 1, &c, &r));
	CHECK(c.len == MUTUAL_KEY_SIZE && c.data[0] == 1 && ev[0].status == MUTUAL_ROLE_IN_FORCE);
	CHECK_OK(mutual__roles_resolve(ev, 2, &c, &r));
	CHECK(c.len == 0 && ev[0].status == MUTUAL_ROLE_NOT_FOUNDER && ev[1].status == MUTUAL_ROLE_NOT_FOUNDER);
	ev[1].action = MUTUAL_ROLE_FOUND;
	CHECK_OK(mutual__roles_resolve(ev, 2, &c, &r));
	CHECK(c.len == MUTUAL_KEY_SIZE && c.data[0] == 2 && ev[1].status == MUTUAL_ROLE_IN_FORCE);
	ev[1].action = MUTUAL_ROLE_FOUND_FALSE;
	CHECK_OK(mutual__roles_resolve(ev, 2, &c, &r));
	CHECK(c.len == MUTUAL_KEY_SIZE && c.data[0] == 1 && r.len == 0);
	mutual__buf_free(&c);
	mutual__buf_free(&r);

	/* docs/format.md's example ("Group id"), which test_vectors.py recomputes. */
	uint8_t key[MUTUAL_KEY_SIZE], salt[MUTUAL_GROUP_SALT_SIZE], id[MUTUAL_GROUP_ID_SIZE];
	char hexid[2 * MUTUAL_GROUP_ID_SIZE + 1];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	mutual__group_id_bind(id, key, salt);
	mutual__hex(hexid, id, sizeof(id));
	CHECK(strcmp(hexid, "758eadbfba384a03a699a9a968f7bcea") == 0);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "founder", test_founder },
		{ "grant_and_revoke", test_grant_and_revoke },
		{ "cut_voids_what_follows", test_cut_voids_what_follows },
		{ "concurrent_revokes_both_stand", test_concurrent_revokes_both_stand },
		{ "forged_claims", test_forged_claims },
		{ "refusals", test_refusals },
		{ "remove_refuses_after_cut", test_remove_refuses_after_cut },
		{ "remove_concurrent", test_remove_concurrent },
		{ "removed_while_removing", test_removed_while_removing },
		{ "remove_refusals", test_remove_refusals },
		{ "removal_property", test_removal_property },
		{ "rotate_seals_new_key", test_rotate_seals_new_key },
		{ "rotate_after_concurrent_removals", test_rotate_after_concurrent_removals },
		{ "rotate_by_member_ignored", test_rotate_by_member_ignored },
#ifdef MUTUAL_TEST_HOOKS
		{ "removal_property_detects_no_rebuild", test_removal_property_detects_no_rebuild },
		{ "removal_property_detects_key_to_removed", test_removal_property_detects_key_to_removed },
#endif
		{ "resolver_order_independent", test_resolver_order_independent },
#ifdef MUTUAL_TEST_HOOKS
		{ "resolver_detects_no_rounds", test_resolver_detects_no_rounds },
#endif
		{ "resolver_founding", test_resolver_founding },
	};
	const char *seeds = argc > 2 ? argv[2] : getenv("TEST_ROLES_SEEDS");
	if (seeds && atoi(seeds) > 0)
		prop_seeds = (unsigned)atoi(seeds);
	return run_cases(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
