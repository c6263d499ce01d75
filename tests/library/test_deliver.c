/*
 * test_deliver.c - no member can stop the others through the claims its
 * events make: clocks far ahead or behind, frontiers that name events
 * nobody holds, frontiers as long as the format allows (deliver.c,
 * docs/format.md "When an event is applied").
 *
 * The hostile member is a device of the group whose modified software
 * signs events with fields it chooses: forge_event() chains and signs them into
 * its own store, and a real sync carries them to the others, verified as
 * any member's events are.
 */
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "crypto.h"
#include "db.h"
#include "deliver.h"
#include "forge.h"
#include "store.h"

#define YEAR MUTUAL_HLC_MS(UINT64_C(365) * 24 * 3600 * 1000)

static uint64_t now_hlc(void)
{
	return MUTUAL_HLC_MS((uint64_t)time(NULL) * 1000);
}


static void sync_via(mutual_store *s, const char *stick)
{
	mkdir(tmp_path(stick), 0700);
	CHECK_OK(mutual_sync(NULL, s, tmp_path(stick), NULL));
}

static void expect_pending(mutual_store *s, uint64_t waiting, uint64_t held_back)
{
	uint64_t w, h;
	CHECK_OK(mutual_pending_count(s, &w, &h));
	if (w != waiting || h != held_back)
		fprintf(stderr, "pending: %llu waiting, %llu held back\n", (unsigned long long)w, (unsigned long long)h);
	CHECK(w == waiting && h == held_back);
}

static void expect_field(mutual_store *s, const char *kind, const char *id, const char *want)
{
	char *json = NULL;
	CHECK_OK(mutual_state_json(&json, s, kind, id));
	if (!strstr(json, want))
		fprintf(stderr, "state %s/%s: %s (want %s)\n", kind, id, json, want);
	CHECK(strstr(json, want));
	mutual_free(json);
}

/* The hlc of the newest event of `s`'s own device. */
static uint64_t own_head_hlc(mutual_store *s)
{
	uint64_t seq, hlc;
	uint8_t hash[32];
	int state;
	CHECK_OK(mutual__db_head(s->db, s->self, &seq, hash));
	CHECK_OK(mutual__db_event_state(s->db, s->self, seq, &state, &hlc));
	CHECK(state == MUTUAL_DB_APPLIED);
	return hlc;
}

/* Two members who have synced once: a is honest, b will be hostile. */
static void two_members(mutual_store **a, mutual_store **b)
{
	*a = check_store_create("a", "alpha");
	*b = check_store_join(*a, "b", "beta");
	CHECK_OK(mutual_entity_put(NULL, *a, "shelf", "s1", "{\"count\":1}"));
	sync_via(*a, "stick");
	sync_via(*b, "stick");
	sync_via(*a, "stick");
}

static void test_clock_far_ahead(void)
{
	mutual_store *a, *b, *c;
	uint8_t *f = NULL;
	size_t n;

	two_members(&a, &b);
	forge_frontier(b, &f, &n);
	forge_event(b, (UINT64_C(1) << 63) - 1, f, n, "mutual.entity.put",
		"{\"kind\":\"shelf\",\"id\":\"s1\",\"fields\":{\"count\":99}}");
	forge_event(b, now_hlc() + 10 * YEAR, f, n, "mutual.entity.put",
		"{\"kind\":\"shelf\",\"id\":\"s2\",\"fields\":{\"count\":7}}");
	sync_via(b, "stick");
	sync_via(a, "stick");

	/* Held back: kept and forwarded, not applied, not followed. */
	expect_pending(a, 0, 2);
	expect_field(a, "shelf", "s1", "\"count\":1");
	CHECK_OK(mutual_entity_put(NULL, a, "shelf", "s1", "{\"count\":2}"));
	expect_field(a, "shelf", "s1", "\"count\":2");
	CHECK(own_head_hlc(a) < now_hlc() + MUTUAL_CLOCK_DRAG);
	CHECK_OK(mutual_rebuild(a));
	expect_pending(a, 0, 2);
	expect_field(a, "shelf", "s1", "\"count\":2");

	/* A third device that gets it all from a writes on as well. */
	sync_via(a, "stick2");
	c = check_store_join(a, "c", "gamma");
	sync_via(c, "stick2");
	expect_pending(c, 0, 2);
	CHECK_OK(mutual_entity_put(NULL, c, "shelf", "s1", "{\"count\":3}"));
	CHECK(own_head_hlc(c) < now_hlc() + MUTUAL_CLOCK_DRAG);

	/* b's clock fixed (honest software again): its next events apply. */
	CHECK_OK(mutual_entity_put(NULL, b, "shelf", "s3", "{\"count\":4}"));
	CHECK(own_head_hlc(b) < now_hlc() + MUTUAL_CLOCK_DRAG);
	sync_via(b, "stick");
	sync_via(a, "stick");
	expect_field(a, "shelf", "s3", "\"count\":4");
	expect_pending(a, 0, 2);
	free(f);
	mutual_store_free(a);
	mutual_store_free(b);
	mutual_store_free(c);
}

static void test_clock_far_behind(void)
{
	mutual_store *a, *b;
	uint8_t *f = NULL;
	size_t n;

	/* A laptop whose clock says 1970: its events apply, and sort early. */
	two_members(&a, &b);
	forge_frontier(b, &f, &n);
	forge_event(b, MUTUAL_HLC_MS(86400000), f, n, "mutual.entity.put",
		"{\"kind\":\"shelf\",\"id\":\"s1\",\"fields\":{\"count\":5}}");
	sync_via(b, "stick");
	sync_via(a, "stick");
	expect_pending(a, 0, 0);
	expect_field(a, "shelf", "s1", "\"count\":5"); /* it saw a's write: it is the newer one */
	CHECK_OK(mutual_entity_put(NULL, a, "shelf", "s1", "{\"count\":6}"));
	expect_field(a, "shelf", "s1", "\"count\":6");
	CHECK(own_head_hlc(a) > now_hlc() - YEAR);
	free(f);
	mutual_store_free(a);
	mutual_store_free(b);
}

/* One entry claiming `seq` of device `of`. */
static void claim(uint8_t entry[MUTUAL_FRONTIER_ENTRY], const mutual_store *of, uint64_t seq)
{
	memcpy(entry, of->self, 32);
	mutual__set_u64(entry + 32, seq);
}

static void test_inflated_frontier(void)
{
	mutual_store *a, *b;
	uint8_t entry[MUTUAL_FRONTIER_ENTRY];

	two_members(&a, &b);
	CHECK_OK(mutual_entity_put(NULL, a, "post", "p1", "{\"title\":\"rice\",\"area\":\"north\"}"));
	sync_via(a, "stick");
	sync_via(b, "stick");
	claim(entry, a, (UINT64_C(1) << 63) - 1);
	forge_event(b, now_hlc(), entry, 1, "mutual.entity.put", "{\"kind\":\"post\",\"id\":\"p1\",\"fields\":{\"title\":\"\"}}");
	sync_via(b, "stick");
	sync_via(a, "stick");

	/* It waits for an event nobody will ever hold, and changes nothing. */
	expect_pending(a, 1, 0);
	expect_field(a, "post", "p1", "\"title\":\"rice\"");
	CHECK_OK(mutual_entity_put(NULL, a, "post", "p1", "{\"title\":\"beans\"}"));
	expect_field(a, "post", "p1", "\"title\":\"beans\"");
	CHECK_OK(mutual_entity_put(NULL, b, "post", "p1", "{\"area\":\"south\"}"));
	sync_via(b, "stick");
	sync_via(a, "stick");
	expect_field(a, "post", "p1", "\"area\":\"south\"");
	CHECK_OK(mutual_entity_delete(NULL, a, "post", "p1"));
	expect_field(a, "post", "p1", "\"deleted\":true");
	mutual_store_free(a);
	mutual_store_free(b);
}

/* An app projection that keeps every post put it was given. */
static void register_titles(mutual_store *s)
{
	mutual_projection_def def = MUTUAL_PROJECTION_DEF_INIT;
	def.name = "titles";
	def.schema = "CREATE TABLE titles_put(payload TEXT)";
	def.reset = "DELETE FROM titles_put";
	def.type_prefix = "mutual.entity.put";
	def.apply = "INSERT INTO titles_put SELECT :payload WHERE json_extract(:payload, '$.kind') = 'post'";
	CHECK_OK(mutual_projection_register(s, &def));
}

static int count_row(int cols, const char *const *names, const char *const *values, void *payload)
{
	(void)cols;
	(void)names;
	*(long *)payload = strtol(values[0], NULL, 10);
	return 0;
}

static long titles(mutual_store *s)
{
	long n = -1;
	CHECK_OK(mutual_query(s, "SELECT COUNT(*) FROM titles_put", NULL, 0, count_row, &n));
	return n;
}

static void test_waits_then_applies(void)
{
	mutual_store *a, *b, *c;
	uint8_t entry[MUTUAL_FRONTIER_ENTRY], da[MUTUAL_HASH_SIZE], dc[MUTUAL_HASH_SIZE];
	uint64_t seq;
	uint8_t hash[32];

	two_members(&a, &b);
	/* b claims an event of a that a wrote but has not passed on yet: a
	 * claim that comes true later. */
	CHECK_OK(mutual_entity_put(NULL, a, "post", "p1", "{\"title\":\"rice\"}"));
	CHECK_OK(mutual__db_head(a->db, a->self, &seq, hash));
	claim(entry, a, seq);
	forge_event(b, now_hlc(), entry, 1, "mutual.entity.put", "{\"kind\":\"post\",\"id\":\"p1\",\"fields\":{\"title\":\"beans\"}}");
	sync_via(b, "stick3");
	c = check_store_join(b, "c", "gamma");
	register_titles(c);
	sync_via(c, "stick3");
	expect_pending(c, 1, 0);
	CHECK(titles(c) == 0);

	/* a's event arrives: b's applies after it, and saw it. */
	sync_via(a, "stick3");
	sync_via(c, "stick3");
	expect_pending(c, 0, 0);
	expect_field(c, "post", "p1", "\"title\":\"beans\"");
	CHECK(titles(c) == 2); /* the app projection took the late event in too */
	register_titles(a);
	sync_via(a, "stick3");
	expect_field(a, "post", "p1", "\"title\":\"beans\"");
	CHECK_OK(mutual_state_digest(da, a));
	CHECK_OK(mutual_state_digest(dc, c));
	CHECK(memcmp(da, dc, sizeof(da)) == 0);
	CHECK_OK(mutual_rebuild(c));
	CHECK_OK(mutual_state_digest(dc, c));
	CHECK(memcmp(da, dc, sizeof(da)) == 0);
	mutual_store_free(a);
	mutual_store_free(b);
	mutual_store_free(c);
}

/* Store an event of `device` straight into `s`, as an import does once
 * it has verified it: what the projections then keep is the subject here
 * (the sync tests cover the verification). */
static void put_event(mutual_store *s, const uint8_t device[32], uint64_t hlc, const uint8_t *frontier, size_t n,
	const char *type, const char *payload)
{
	forge_event_of(s, device, NULL, hlc, frontier, n, type, payload);
}

static int by_device(const void *x, const void *y)
{
	return memcmp(x, y, 32);
}

static long query_long(mutual_store *s, const char *sql)
{
	long n = -1;
	CHECK_OK(mutual_query(s, sql, NULL, 0, count_row, &n));
	return n;
}

#define SYBILS 2000
#define FIELDS 200

/* One member, SYBILS devices it made, FIELDS fields: what the receiving
 * store keeps grows with fields plus frontier, never their product. The
 * late device shows a write seen by the big one, applied after it. */
static void sybil_flood(mutual_store *s, uint8_t (*sybil)[MUTUAL_FRONTIER_ENTRY], uint64_t t, int late_first)
{
	uint8_t hostile[32], missing[MUTUAL_FRONTIER_ENTRY], *all = malloc(SYBILS * MUTUAL_FRONTIER_ENTRY);
	char payload[FIELDS * 16 + 64];
	size_t len;

	memset(hostile, 0x7f, 32);
	memset(missing, 0x01, 32);
	mutual__set_u64(missing + 32, 1);
	put_event(s, hostile, t, NULL, 0, "mutual.device.join", "{\"name\":\"h\"}");
	for (int i = 0; i < SYBILS; i++) {
		put_event(s, sybil[i], t, NULL, 0, "mutual.device.join", "{\"name\":\"s\"}");
		memcpy(all + i * MUTUAL_FRONTIER_ENTRY, sybil[i], MUTUAL_FRONTIER_ENTRY);
		mutual__set_u64(all + i * MUTUAL_FRONTIER_ENTRY + 32, i == 7 ? 2 : 1);
	}
	/* Each field written once first, each with a frontier of its own. */
	for (int i = 0; i < FIELDS; i++) {
		snprintf(payload, sizeof(payload), "{\"kind\":\"post\",\"id\":\"p\",\"fields\":{\"f%d\":%d}}", i, i);
		put_event(s, hostile, t + 1 + (uint64_t)i, sybil[i], 1, "mutual.entity.put", payload);
	}
	/* Sybil 7 writes f3; its write waits for an event of a device nobody holds. */
	if (late_first)
		put_event(s, sybil[7], t, missing, 1, "mutual.entity.put",
			"{\"kind\":\"post\",\"id\":\"p\",\"fields\":{\"f3\":\"late\"}}");
	len = (size_t)snprintf(payload, sizeof(payload), "{\"kind\":\"post\",\"id\":\"p\",\"fields\":{");
	for (int i = 0; i < FIELDS; i++)
		len += (size_t)snprintf(payload + len, sizeof(payload) - len, "%s\"f%d\":\"x\"", i ? "," : "", i);
	snprintf(payload + len, sizeof(payload) - len, "}}");
	if (!late_first) {
		uint8_t *claim7 = all + 7 * MUTUAL_FRONTIER_ENTRY;
		/* Stored first here: the big write must wait for sybil 7's event. */
		put_event(s, hostile, t + 1000, all, SYBILS, "mutual.entity.put", payload);
		CHECK(mutual__get_u64(claim7 + 32) == 2);
		put_event(s, sybil[7], t, missing, 1, "mutual.entity.put",
			"{\"kind\":\"post\",\"id\":\"p\",\"fields\":{\"f3\":\"late\"}}");
	} else {
		put_event(s, hostile, t + 1000, all, SYBILS, "mutual.entity.put", payload);
	}
	/* The device nobody held turns up: sybil 7's write applies, already seen. */
	put_event(s, missing, t, NULL, 0, "mutual.device.join", "{\"name\":\"m\"}");
	free(all);
}

static void test_cost_frontier_by_fields(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_create("b", "beta");
	uint8_t (*sybil)[MUTUAL_FRONTIER_ENTRY] = malloc(SYBILS * sizeof(*sybil));
	uint8_t *made_up = malloc((size_t)MUTUAL_FRONTIER_MAX * MUTUAL_FRONTIER_ENTRY);
	uint8_t da[MUTUAL_HASH_SIZE], db[MUTUAL_HASH_SIZE];
	char *json = NULL;
	uint64_t t = now_hlc();
	long before;

	for (int i = 0; i < SYBILS; i++) {
		mutual__random(sybil[i], 32);
		sybil[i][0] |= 0x80; /* sorted after the hostile device and the missing one */
		mutual__set_u64(sybil[i] + 32, 1);
	}
	qsort(sybil, SYBILS, sizeof(*sybil), by_device);
	sybil_flood(a, sybil, t, 1);
	sybil_flood(b, sybil, t, 0);
	expect_pending(a, 0, 0);
	expect_pending(b, 0, 0);

	/* One vector entry per writer of a field, not per device it names. */
	CHECK(query_long(a, "SELECT SUM(length(vec)) FROM entity_seen") <= 2 * (FIELDS + 1) * MUTUAL_FRONTIER_ENTRY);
	CHECK(query_long(a, "SELECT COUNT(*) FROM entity_history") <= 3 * FIELDS + 8);
	/* Sybil 7's write was seen by the big one: no conflict, in either order. */
	CHECK_OK(mutual_state_json(&json, a, "post", "p"));
	CHECK(strstr(json, "\"f3\":\"x\"") && strstr(json, "\"conflicts\":{}"));
	mutual_free(json);
	/* a and b are two groups, each with its own founder (which the digest
	 * covers): their entities are what must agree. */
	{
		char *ja = NULL, *jb = NULL;
		CHECK_OK(mutual_state_json(&ja, a, "post", NULL));
		CHECK_OK(mutual_state_json(&jb, b, "post", NULL));
		CHECK(strcmp(ja, jb) == 0);
		mutual_free(ja);
		mutual_free(jb);
	}
	CHECK_OK(mutual_state_digest(da, b));
	CHECK_OK(mutual_rebuild(b));
	CHECK_OK(mutual_state_digest(db, b));
	CHECK(memcmp(da, db, sizeof(da)) == 0);

	/* A frontier as long as the format allows, of devices nobody holds:
	 * it waits, and costs what it weighs. */
	for (size_t i = 0; i < MUTUAL_FRONTIER_MAX; i++) {
		uint8_t *e = made_up + i * MUTUAL_FRONTIER_ENTRY;
		mutual__random(e, 32);
		mutual__set_u64(e + 32, 1);
	}
	qsort(made_up, MUTUAL_FRONTIER_MAX, MUTUAL_FRONTIER_ENTRY, by_device);
	before = query_long(a, "SELECT SUM(length(vec)) FROM entity_seen");
	put_event(a, a->self, now_hlc(), made_up, MUTUAL_FRONTIER_MAX, "mutual.entity.put",
		"{\"kind\":\"post\",\"id\":\"p\",\"fields\":{\"f1\":\"y\"}}");
	expect_pending(a, 1, 0);
	CHECK(query_long(a, "SELECT SUM(length(vec)) FROM entity_seen") == before);
	free(made_up);
	free(sybil);
	mutual_store_free(a);
	mutual_store_free(b);
}

/* A rebuild judges events in (device, seq) order, so a cause may come
 * later than what it admits; two devices that wait on the same such cause
 * (their own previous events wait for good) must both apply once it is. */
static void test_rebuild_admits_all_it_held_back(void)
{
	mutual_store *a = check_store_create("a", "alpha");
	uint8_t h[32], g[32], z[32], never[MUTUAL_FRONTIER_ENTRY], zclaim[MUTUAL_FRONTIER_ENTRY];
	uint64_t t = now_hlc();
	uint8_t before[MUTUAL_HASH_SIZE], after[MUTUAL_HASH_SIZE];

	memset(h, 0x10, 32);
	memset(g, 0x20, 32);
	memset(z, 0xf0, 32);
	memset(never, 0x05, 32);
	mutual__set_u64(never + 32, 1);
	memcpy(zclaim, z, 32);
	mutual__set_u64(zclaim + 32, 1);
	put_event(a, z, t, NULL, 0, "mutual.device.join", "{\"name\":\"z\"}");
	for (int i = 0; i < 2; i++) {
		const uint8_t *dev = i ? g : h;
		put_event(a, dev, t, NULL, 0, "mutual.device.join", "{\"name\":\"d\"}");
		put_event(a, dev, t + 1, never, 1, "mutual.counter.add", "{\"key\":\"never\",\"delta\":1}");
		/* Far enough from its own join that only z's event admits it. */
		put_event(a, dev, t + 2, zclaim, 1, "mutual.counter.add", "{\"key\":\"rice\",\"delta\":1}");
	}
	expect_pending(a, 2, 0);
	CHECK_OK(mutual_state_digest(before, a));
	CHECK_OK(mutual_rebuild(a));
	expect_pending(a, 2, 0);
	CHECK_OK(mutual_state_digest(after, a));
	CHECK(memcmp(before, after, sizeof(before)) == 0);
	mutual_store_free(a);
}

/* One name rule for new input (no DEL, valid UTF-8), while a kind, id,
 * field or counter an older library let through (DEL was allowed there)
 * is still applied from the log on every device, and read back. */
static void test_names_old_and_new(void)
{
	mutual_store *a, *b;
	uint8_t *f = NULL;
	size_t n;

	two_members(&a, &b);
	CHECK_RC(mutual_entity_put(NULL, a, "sh\x7f" "elf", "s9", "{\"count\":1}"), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "the kind must not hold control characters") != NULL);
	CHECK_RC(mutual_entity_put(NULL, a, "shelf", "s\x7f", "{\"count\":1}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_entity_put(NULL, a, "shelf", "s\xc3", "{\"count\":1}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_entity_put(NULL, a, "shelf", "s9", "{\"co\x7funt\":1}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_entity_delete(NULL, a, "shelf", "\x7f"), MUTUAL_EINVALID);
	CHECK_RC(mutual_counter_add(NULL, a, "rice\x7f", "1"), MUTUAL_EINVALID);
	CHECK_RC(mutual_counter_add(NULL, a, "rice\xff", "1"), MUTUAL_EINVALID);

	forge_frontier(b, &f, &n);
	forge_event(b, now_hlc(), f, n, "mutual.entity.put",
		"{\"kind\":\"sh\x7f" "elf\",\"id\":\"s\x7f\",\"fields\":{\"co\x7funt\":5}}");
	free(f);
	forge_frontier(b, &f, &n);
	forge_event(b, now_hlc(), f, n, "mutual.counter.add", "{\"key\":\"rice\x7f\",\"delta\":2}");
	sync_via(b, "stick");
	sync_via(a, "stick");
	expect_field(a, "sh\x7f" "elf", "s\x7f", "\"co\x7funt\":5");
	expect_field(b, "sh\x7f" "elf", "s\x7f", "\"co\x7funt\":5");
	{
		char *json = NULL;
		CHECK_OK(mutual_counters_json(&json, a, NULL));
		CHECK(strstr(json, "\"rice\x7f\":2") != NULL);
		mutual_free(json);
	}
	free(f);
	mutual_store_free(a);
	mutual_store_free(b);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "names_old_and_new", test_names_old_and_new },
		{ "clock_far_ahead", test_clock_far_ahead },
		{ "clock_far_behind", test_clock_far_behind },
		{ "inflated_frontier", test_inflated_frontier },
		{ "waits_then_applies", test_waits_then_applies },
		{ "cost_frontier_by_fields", test_cost_frontier_by_fields },
		{ "rebuild_admits_all_it_held_back", test_rebuild_admits_all_it_held_back },
	};
	return run_cases(cases, sizeof(cases) / sizeof(*cases), argc, argv);
}
