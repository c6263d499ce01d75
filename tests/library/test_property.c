/*
 * test_property.c - the projections' guarantee, as a property: any two
 * stores holding the same events show byte-for-byte the same state
 * (mutual_state_digest: entities with their conflicts, counters, forks and
 * app projection tables), whatever order the events arrived in, and that
 * state equals a rebuild from scratch.
 *
 * For each seed: 5..D devices of one group, each with the same
 * order-dependent app projection ("tally": last value in the total order
 * wins, n counts), random puts, deletes, counter adds and app events on
 * small pools (so fields collide), interleaved with syncs through three
 * sticks (two folders, one .bundle) by devices that are sometimes offline
 * for a long stretch (concurrent edits, deletes concurrent with edits, late
 * events that sort before what others already applied). Then every device
 * converges through stick 0, and all of them must agree; each must also
 * agree with its own rebuild.
 *
 *   test_property [--seeds N] [--first S] [--max-devices D] [--expect-mismatch]
 *                 [--jobs J] [--verbose]
 *   test_property_hostile --hostile [the same options]
 *
 * Defaults: 50 seeds from 0, 5..20 devices, one process. --jobs J runs
 * the seeds in J forked workers. The run fails if any seed breaks the
 * guarantee, and, over 20 seeds or more, if no seed left an open conflict
 * or no app projection ever had to replay for a late event (the scenario
 * would not be testing what it claims).
 *
 * --expect-mismatch inverts the verdict: success only if some seed left
 * devices with different digests. It is run with the library's test-only
 * switch MUTUAL_TEST_LAST_ARRIVAL_WINS=1 (a deliberately wrong apply
 * order) to show that this test can fail:
 *   MUTUAL_TEST_LAST_ARRIVAL_WINS=1 test_property --seeds 20 --expect-mismatch
 *
 * Built with -DHOSTILE_MEMBER (test_property_hostile), --hostile makes
 * dev1 a member running modified software: half its actions are validly
 * signed events with claims of its choosing (clocks at 2^63-1, the cap,
 * years ahead or in 1970; frontiers inflated, naming made-up devices, or
 * claiming events another device writes only later). Then the devices
 * must still agree, no honest device's event may be left waiting or held
 * back anywhere, every device must hold the same events back, and after
 * convergence every honest device must still write, at its own clock, an
 * event every other device applies.
 *
 * Stores go under $TMPDIR, or /dev/shm when TMPDIR is unset (every append
 * and sync fsyncs: on a disk the run is several times slower).
 *
 * The random choices are a function of the seed (xorshift64*); the hybrid
 * logical clocks come from the wall clock, so the total order of a rerun
 * may differ in ties and close calls: rerun a failing seed a few times.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#ifdef HOSTILE_MEMBER
#include "deliver.h"
#include "forge.h"
#include "store.h"
#endif

#define MAX_DEVICES 64
#define N_STICKS 3

/* -------------------------------------------------------------- the PRNG */

typedef struct {
	uint64_t s;
} prng;

static void prng_seed(prng *r, uint64_t seed)
{
	/* splitmix64 of the seed: never zero, well spread even for 0, 1, 2 ... */
	uint64_t z = seed + 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	r->s = z ? z : 0x2545F4914F6CDD1Dull;
}

/* xorshift64* */
static uint64_t prng_next(prng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n) (n >= 1; the bias is negligible for small n). */
static unsigned below(prng *r, unsigned n)
{
	return (unsigned)((prng_next(r) >> 11) % n);
}

/* ------------------------------------------------------------ small text */

typedef struct {
	char *p;
	size_t len, cap;
} text;

static void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(text *t, const char *fmt, ...)
{
	va_list ap;
	int n;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		CHECK(n >= 0);
		if (t->p && t->len + (size_t)n < t->cap)
			break;
		t->cap = (t->cap + (size_t)n + 1) * 2;
		CHECK((t->p = realloc(t->p, t->cap)) != NULL);
	}
	t->len += (size_t)n;
}

static void text_free(text *t)
{
	free(t->p);
	t->p = NULL;
	t->len = t->cap = 0;
}

/* ------------------------------------------------------ random payloads */

static const char *const FIELDS[] = { "status", "qty", "by", "note" };
#define N_FIELDS 4
#define N_ITEMS 4
#define N_COUNTERS 3
#define N_APP_KEYS 3

static void random_word(prng *r, text *t)
{
	static const char *const words[] = { "open", "done", "ann", "bob", "x", "caf\\u00e9", "a\\\"q", "" };
	unsigned w = below(r, 8);
	if (w == 6)
		text_add(t, "\"%s\"", words[w]);
	else
		text_add(t, "\"%s%u\"", words[w], below(r, 100));
}

/* A small random JSON value: string, integer, decimal, literal, nested
 * object (keys deliberately unsorted) or array. */
static void random_value(prng *r, text *t, int depth)
{
	unsigned k = below(r, depth > 1 ? 5 : 8);
	switch (k) {
	case 0:
	case 1:
		random_word(r, t);
		break;
	case 2:
		text_add(t, "%d", (int)below(r, 2001) - 1000);
		break;
	case 3:
		text_add(t, "%d.%02u", (int)below(r, 200) - 100, below(r, 100));
		break;
	case 4: {
		static const char *const lit[] = { "true", "false", "null" };
		text_add(t, "%s", lit[below(r, 3)]);
		break;
	}
	case 5:
	case 6: {
		unsigned n = below(r, 3) + 1;
		text_add(t, "{");
		for (unsigned i = 0; i < n; i++) {
			text_add(t, "%s\"%c\":", i ? "," : "", "zyxa"[i]);
			random_value(r, t, depth + 1);
		}
		text_add(t, "}");
		break;
	}
	default: {
		unsigned n = below(r, 4);
		text_add(t, "[");
		for (unsigned i = 0; i < n; i++) {
			if (i)
				text_add(t, ",");
			random_value(r, t, depth + 1);
		}
		text_add(t, "]");
		break;
	}
	}
}

static void random_delta(prng *r, text *t)
{
	unsigned decimals = below(r, 7);
	text_add(t, "%s%u", below(r, 3) == 0 ? "-" : "", below(r, 4) == 0 ? below(r, 100000) : below(r, 100));
	if (decimals) {
		text_add(t, ".");
		for (unsigned i = 0; i < decimals; i++)
			text_add(t, "%u", below(r, 10));
	}
}

/* ------------------------------------------------------------- a device */

static const mutual_projection_def *tally_def(void)
{
	static mutual_projection_def def = MUTUAL_PROJECTION_DEF_INIT;
	def.name = "tally";
	def.schema = "CREATE TABLE tally_last(k TEXT PRIMARY KEY, v TEXT, n INTEGER)";
	def.reset = "DELETE FROM tally_last";
	def.type_prefix = "app.";
	def.apply = "INSERT INTO tally_last(k, v, n) VALUES(json_extract(:payload,'$.k'), json_extract(:payload,'$.v'), 1)"
		    " ON CONFLICT(k) DO UPDATE SET v = excluded.v, n = n + 1";
	return &def;
}

static int on_device(const mutual_device_info *info, void *payload)
{
	text *t = payload;
	text_add(t, "%s:%" PRIu64 ":%" PRIu64 ":%" PRIu64 " ", info->id, info->events, info->head_seq,
		info->fork_seq);
	return 0;
}

static int on_row(int columns, const char *const *names, const char *const *values, void *payload)
{
	text *t = payload;
	(void)names;
	for (int i = 0; i < columns; i++)
		text_add(t, "%s%s", i ? "|" : "", values[i] ? values[i] : "NULL");
	text_add(t, ";");
	return 0;
}

/* Everything compared between devices. */
typedef struct {
	uint8_t digest[MUTUAL_HASH_SIZE];
	char *items, *counters;
	text devices, tally;
	uint64_t events;
} snapshot;

static void snapshot_take(snapshot *out, mutual_store *s)
{
	memset(out, 0, sizeof(*out));
	CHECK_OK(mutual_state_digest(out->digest, s));
	CHECK_OK(mutual_state_json(&out->items, s, "item", NULL));
	CHECK_OK(mutual_counters_json(&out->counters, s, NULL));
	CHECK_OK(mutual_device_foreach(s, on_device, &out->devices));
	CHECK_OK(mutual_query(s, "SELECT k, v, n FROM tally_last ORDER BY k", NULL, 0, on_row, &out->tally));
	{
		mutual_iter *it;
		const mutual_event *ev;
		int rc;
		CHECK_OK(mutual_iter_new(&it, s, NULL));
		while ((rc = mutual_iter_next(&ev, it)) == 0)
			out->events++;
		CHECK_RC(rc, MUTUAL_ITEROVER);
		mutual_iter_free(it);
	}
	if (!out->devices.p)
		text_add(&out->devices, "%s", "");
	if (!out->tally.p)
		text_add(&out->tally, "%s", "");
}

static void snapshot_free(snapshot *s)
{
	mutual_free(s->items);
	mutual_free(s->counters);
	text_free(&s->devices);
	text_free(&s->tally);
}

/* Print where two texts first differ, with a little context. */
static void diff_hint(const char *what, const char *a, const char *b)
{
	size_t i = 0, la = strlen(a), lb = strlen(b);
	while (i < la && i < lb && a[i] == b[i])
		i++;
	size_t from = i > 60 ? i - 60 : 0;
	fprintf(stderr, "    %s differ at byte %zu (lengths %zu, %zu):\n      A: ...%.160s\n      B: ...%.160s\n", what, i,
		la, lb, a + from, b + from);
}

/* Which parts of two snapshots differ; 0 if none. */
static int snapshot_diff(const snapshot *a, const snapshot *b, int print)
{
	int differs = 0;
	if (memcmp(a->digest, b->digest, MUTUAL_HASH_SIZE) != 0) {
		differs = 1;
		if (print)
			fprintf(stderr, "    state digests differ\n");
	}
	if (a->events != b->events || strcmp(a->devices.p, b->devices.p) != 0) {
		differs = 1;
		if (print) {
			fprintf(stderr, "    events held differ: %" PRIu64 " vs %" PRIu64 "\n", a->events, b->events);
			diff_hint("device logs (id:events:head:fork)", a->devices.p, b->devices.p);
		}
	}
	if (strcmp(a->items, b->items) != 0) {
		differs = 1;
		if (print)
			diff_hint("mutual_state_json(item)", a->items, b->items);
	}
	if (strcmp(a->counters, b->counters) != 0) {
		differs = 1;
		if (print)
			diff_hint("mutual_counters_json", a->counters, b->counters);
	}
	if (strcmp(a->tally.p, b->tally.p) != 0) {
		differs = 1;
		if (print)
			diff_hint("app projection tally_last (k|v|n;)", a->tally.p, b->tally.p);
	}
	return differs;
}

/* ---------------------------------------------------------------- a seed */

typedef struct {
	unsigned devices;
	uint64_t hostile_claims; /* events the hostile member signed with claims of its choosing */
	uint64_t not_applied;    /* of its events, held but not applied (on dev0) */
	int honest_pending;      /* an honest device's event waits or is held back somewhere */
	int mismatch;       /* devices disagree */
	int rebuild_diff;   /* some device disagrees with its rebuild */
	int conflicts;      /* the converged state shows open conflicts */
	int delete_conflicts; /* ... among them a delete concurrent with an edit */
	int unsettled;      /* the final passes kept moving events */
	uint64_t events, actions, syncs;
	uint64_t replays;   /* app projection replays for late events, all devices */
	double t_setup, t_random, t_converge, t_check;
} seed_result;

static const char *stick_path(unsigned k)
{
	static const char *const names[N_STICKS] = { "stick0", "stick1", "stick2.bundle" };
	return tmp_path(names[k]);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t current_seed;
static int in_seed;
static unsigned max_devices_arg = 20;

static void on_exit_report(void)
{
	if (in_seed)
		fprintf(stderr, "test_property: stopped during seed %" PRIu64 " (rerun: test_property --first %" PRIu64
				" --seeds 1 --max-devices %u)\n", current_seed, current_seed, max_devices_arg);
}

static uint64_t sync_one(mutual_store *s, unsigned stick)
{
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	CHECK_OK(mutual_sync(&st, s, stick_path(stick), NULL));
	return st.events_received + st.events_sent;
}

static void random_action(prng *r, mutual_store *s)
{
	text t = { 0 };
	char id[8];
	unsigned kind = below(r, 10);
	snprintf(id, sizeof(id), "i%u", below(r, N_ITEMS));
	if (kind < 4) {
		/* put: 1..3 distinct fields */
		unsigned n = below(r, 3) + 1, first = below(r, N_FIELDS);
		text_add(&t, "{");
		for (unsigned i = 0; i < n; i++) {
			text_add(&t, "%s\"%s\":", i ? "," : "", FIELDS[(first + i) % N_FIELDS]);
			random_value(r, &t, 0);
		}
		text_add(&t, "}");
		CHECK_OK(mutual_entity_put(NULL, s, "item", id, t.p));
	} else if (kind < 5) {
		CHECK_OK(mutual_entity_delete(NULL, s, "item", id));
	} else if (kind < 7) {
		char key[8];
		snprintf(key, sizeof(key), "c%u", below(r, N_COUNTERS));
		random_delta(r, &t);
		CHECK_OK(mutual_counter_add(NULL, s, key, t.p));
	} else {
		text_add(&t, "{\"k\":\"k%u\",\"v\":\"v%" PRIx64 "\"}", below(r, N_APP_KEYS), prng_next(r) & 0xffffff);
		CHECK_OK(mutual_append(NULL, s, "app.set", t.p));
	}
	text_free(&t);
}

static int hostile_mode; /* --hostile */
#define HOSTILE 1        /* the index of the member running modified software */

#ifdef HOSTILE_MEMBER
/* Set `device`'s entry of the sorted frontier `*f` (grown as needed). */
static void frontier_set(uint8_t **f, size_t *n, const uint8_t device[32], uint64_t seq)
{
	size_t i = 0;
	while (i < *n && memcmp(*f + i * MUTUAL_FRONTIER_ENTRY, device, 32) < 0)
		i++;
	if (i == *n || memcmp(*f + i * MUTUAL_FRONTIER_ENTRY, device, 32) != 0) {
		CHECK((*f = realloc(*f, (*n + 1) * MUTUAL_FRONTIER_ENTRY)) != NULL);
		memmove(*f + (i + 1) * MUTUAL_FRONTIER_ENTRY, *f + i * MUTUAL_FRONTIER_ENTRY, (*n - i) * MUTUAL_FRONTIER_ENTRY);
		memcpy(*f + i * MUTUAL_FRONTIER_ENTRY, device, 32);
		(*n)++;
	}
	mutual__set_u64(*f + i * MUTUAL_FRONTIER_ENTRY + 32, seq);
}

/* One event of the hostile member's choosing, on the same items, counters
 * and app keys as the honest devices'. */
static void hostile_action(prng *r, mutual_store **dev, unsigned n)
{
	static const uint64_t day = MUTUAL_HLC_MS(UINT64_C(86400000));
	mutual_store *h = dev[HOSTILE];
	uint64_t now_hlc = MUTUAL_HLC_MS((uint64_t)time(NULL) * 1000), hlc = now_hlc, seq;
	uint8_t *f = NULL, other[32], hash[32];
	size_t fn;
	text t = { 0 };
	unsigned k;

	switch (below(r, 8)) {
	case 0: hlc = (UINT64_C(1) << 63) - 1; break;
	case 1: hlc = MUTUAL_CLOCK_CAP; break;
	case 2: hlc = now_hlc + 3650 * day; break;
	case 3: hlc = now_hlc + 200 * day; break;
	case 4: hlc = MUTUAL_HLC_MS(86400000); break; /* 1970 */
	default: break;
	}
	forge_frontier(h, &f, &fn);
	do
		k = below(r, n);
	while (k == HOSTILE);
	memcpy(other, dev[k]->self, 32);
	CHECK_OK(mutual__db_head(dev[k]->db, other, &seq, hash));
	switch (below(r, 6)) {
	case 0: frontier_set(&f, &fn, other, (UINT64_C(1) << 63) - 1); break;  /* never true */
	case 1: frontier_set(&f, &fn, other, seq + 1 + below(r, 3)); break;     /* true once k writes on */
	case 2: mutual__random(other, 32); frontier_set(&f, &fn, other, 1); break; /* a made-up device */
	default: break;
	}
	if (below(r, 3)) {
		text_add(&t, "{\"kind\":\"item\",\"id\":\"i%u\",\"fields\":{\"%s\":", below(r, N_ITEMS),
			FIELDS[below(r, N_FIELDS)]);
		random_value(r, &t, 0);
		text_add(&t, "}}");
		forge_event(h, hlc, f, fn, "mutual.entity.put", t.p);
	} else {
		text_add(&t, "{\"key\":\"c%u\",\"delta\":", below(r, N_COUNTERS));
		random_delta(r, &t);
		text_add(&t, "}");
		forge_event(h, hlc, f, fn, "mutual.counter.add", t.p);
	}
	text_free(&t);
	free(f);
}

/* Every event some device did not apply, with the device that wrote it:
 * the same set on every device, and none of an honest device. */
static void check_pending(seed_result *res, uint64_t seed, mutual_store **dev, unsigned n)
{
	uint64_t waiting0 = 0, held0 = 0;
	for (unsigned i = 0; i < n; i++) {
		mutual_iter *it = NULL;
		const mutual_event *ev;
		uint64_t waiting, held, mine = 0;
		int rc;
		CHECK_OK(mutual_pending_count(dev[i], &waiting, &held));
		if (i == 0) {
			waiting0 = waiting;
			held0 = held;
			res->not_applied = waiting + held;
		}
		res->mismatch += waiting != waiting0 || held != held0;
		CHECK_OK(mutual_iter_new(&it, dev[i], NULL));
		while ((rc = mutual_iter_next(&ev, it)) == 0) {
			if (!mutual_event_pending(ev))
				continue;
			if (memcmp(mutual_event_get_id(ev)->device, dev[HOSTILE]->self, 32) != 0) {
				fprintf(stderr, "seed %" PRIu64 ": an honest event is not applied on dev%u\n", seed, i);
				res->honest_pending = 1;
			}
			mine++;
		}
		CHECK_RC(rc, MUTUAL_ITEROVER);
		mutual_iter_free(it);
		CHECK(mine == waiting + held);
	}
}

/* After the hostile member's claims: every honest device writes on at its
 * own clock, and every device applies what they wrote. */
static void keep_writing(seed_result *res, uint64_t seed, mutual_store **dev, snapshot *snap, unsigned n)
{
	uint64_t wall = MUTUAL_HLC_MS((uint64_t)time(NULL) * 1000);
	check_pending(res, seed, dev, n);
	for (unsigned i = 0; i < n; i++) {
		mutual_event_id id;
		mutual_event *ev = NULL;
		if (i == HOSTILE)
			continue;
		CHECK_OK(mutual_entity_put(&id, dev[i], "item", "after", "{\"by\":\"honest\"}"));
		CHECK_OK(mutual_event_lookup(&ev, dev[i], &id));
		CHECK(mutual_event_hlc(ev) < wall + 2 * MUTUAL_CLOCK_DRAG);
		mutual_event_free(ev);
	}
	for (unsigned pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < n; i++)
			sync_one(dev[pass ? n - 1 - i : i], 0);
	check_pending(res, seed, dev, n);
	for (unsigned i = 0; i < n; i++) {
		snapshot_free(&snap[i]);
		snapshot_take(&snap[i], dev[i]);
		if (i && snapshot_diff(&snap[0], &snap[i], 0))
			res->mismatch++;
	}
}
#endif

static seed_result run_seed(uint64_t seed, unsigned max_devices, int quiet_mismatch)
{
	prng r;
	seed_result res;
	mutual_store *dev[MAX_DEVICES];
	unsigned offline_until[MAX_DEVICES];
	snapshot snap[MAX_DEVICES];
	uint64_t replays_before[MAX_DEVICES];
	mutual_projection_stats stats = MUTUAL_PROJECTION_STATS_INIT;
	char *invite = NULL;
	unsigned n, steps;
	double t = now();

	memset(&res, 0, sizeof(res));
	prng_seed(&r, seed);
	n = 5 + below(&r, max_devices - 4);
	res.devices = n;

	/* The devices: one creates the group, the others join it. */
	for (unsigned i = 0; i < n; i++) {
		mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
		char name[16];
		snprintf(name, sizeof(name), "dev%u", i);
		opts.device_name = name;
		if (i == 0) {
			CHECK_OK(mutual_store_create(&dev[i], tmp_path(name), "property", &opts));
			CHECK_OK(mutual_invite_text(&invite, dev[0]));
		} else {
			CHECK_OK(mutual_store_join_text(&dev[i], tmp_path(name), invite, &opts));
		}
		CHECK_OK(mutual_projection_register(dev[i], tally_def()));
		CHECK_OK(mutual_projection_stats_get(&stats, dev[i]));
		replays_before[i] = stats.app_replays;
	}
	mutual_free(invite);
	CHECK(mkdir(stick_path(0), 0700) == 0);
	CHECK(mkdir(stick_path(1), 0700) == 0);

	/* 6 actions per device up to 8 devices, then 2 more per device (the
	 * final convergence costs devices x events: 72 actions for 20
	 * devices); about one sync per two actions. */
	steps = n <= 8 ? 6 * n : 48 + 2 * (n - 8);
	/* A third of the devices go offline for a long stretch: they keep
	 * writing, unseen and unseeing, and their events arrive late. */
	for (unsigned i = 0; i < n; i++)
		offline_until[i] = below(&r, 3) == 0 ? below(&r, steps + steps / 2) : 0;

	res.t_setup = now() - t;
	t = now();
	for (unsigned step = 0; step < steps; step++) {
		unsigned d = below(&r, n);
		uint8_t digest[MUTUAL_HASH_SIZE];
#ifdef HOSTILE_MEMBER
		if (hostile_mode && d == HOSTILE && below(&r, 2)) {
			hostile_action(&r, dev, n);
			res.hostile_claims++;
		} else
#endif
			random_action(&r, dev[d]);
		res.actions++;
		/* Reads catch the app projection up: its cursor moves on, so a
		 * later event that sorts before it must replay it. */
		if (below(&r, 4) == 0)
			CHECK_OK(mutual_state_digest(digest, dev[d]));
		if (below(&r, 2) == 0) {
			unsigned who = below(&r, n);
			if (offline_until[who] <= step) {
				/* Sticks 1 and 2 carry less traffic: they cross events
				 * between small groups, in other orders than stick 0. */
				unsigned k = below(&r, 4);
				sync_one(dev[who], k < 2 ? 0 : k - 1);
				res.syncs++;
				if (below(&r, 3) != 0)
					CHECK_OK(mutual_state_digest(digest, dev[who]));
			}
		}
	}

	res.t_random = now() - t;
	t = now();
	/* Converge through stick 0: forward, backward, ... until a pass moves nothing. */
	{
		int settled = 0;
		for (unsigned pass = 0; pass < 6 && !settled; pass++) {
			uint64_t moved = 0;
			for (unsigned i = 0; i < n; i++) {
				moved += sync_one(dev[pass % 2 ? n - 1 - i : i], 0);
				res.syncs++;
			}
			settled = pass >= 1 && moved == 0;
		}
		if (!settled) {
			fprintf(stderr, "seed %" PRIu64 ": still moving events after 6 passes through stick 0\n", seed);
			res.unsettled = 1;
		}
	}

	res.t_converge = now() - t;
	t = now();
	/* Every device must show the same state. */
	for (unsigned i = 0; i < n; i++) {
		snapshot_take(&snap[i], dev[i]);
		CHECK_OK(mutual_projection_stats_get(&stats, dev[i]));
		res.replays += stats.app_replays - replays_before[i];
	}
	res.events = snap[0].events;
	for (unsigned i = 1; i < n; i++) {
		if (snapshot_diff(&snap[0], &snap[i], 0)) {
			if (!quiet_mismatch && res.mismatch < 3) {
				fprintf(stderr, "seed %" PRIu64 " (%u devices): dev0 (A) and dev%u (B) disagree:\n", seed, n, i);
				snapshot_diff(&snap[0], &snap[i], 1);
			}
			res.mismatch++;
		}
	}
	if (res.mismatch && !quiet_mismatch)
		fprintf(stderr, "seed %" PRIu64 ": %d of %u devices disagree with dev0\n", seed, res.mismatch, n - 1);
	res.conflicts = strstr(snap[0].items, "\"conflicts\":{\"") != NULL;
	res.delete_conflicts = strstr(snap[0].items, "\"_deleted\":[") != NULL;

	/* ... and the same state after rebuilding it from the log. */
	for (unsigned i = 0; i < n; i++) {
		snapshot after;
		CHECK_OK(mutual_rebuild(dev[i]));
		snapshot_take(&after, dev[i]);
		if (snapshot_diff(&snap[i], &after, 0)) {
			if (!quiet_mismatch && res.rebuild_diff < 3) {
				fprintf(stderr, "seed %" PRIu64 " (%u devices): dev%u before (A) and after (B) mutual_rebuild:\n",
					seed, n, i);
				snapshot_diff(&snap[i], &after, 1);
			}
			res.rebuild_diff++;
		}
		snapshot_free(&after);
	}
	if (res.rebuild_diff && !quiet_mismatch)
		fprintf(stderr, "seed %" PRIu64 ": %d of %u devices changed state on mutual_rebuild\n", seed, res.rebuild_diff, n);

#ifdef HOSTILE_MEMBER
	if (hostile_mode)
		keep_writing(&res, seed, dev, snap, n);
#endif
	for (unsigned i = 0; i < n; i++) {
		snapshot_free(&snap[i]);
		mutual_store_free(dev[i]);
	}
	tmp_cleanup();
	res.t_check = now() - t;
	return res;
}

/* ------------------------------------------------------------------ main */

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -1;
	*out = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

typedef struct {
	uint64_t seed;
	seed_result res;
} seed_record;

typedef struct {
	int verbose;
	uint64_t seeds_done, failed, mismatched, rebuild_bad, with_conflicts, with_delete_conflicts, with_replays;
	uint64_t events, syncs, hostile_claims, not_applied;
} totals;

static void account(totals *t, const seed_record *r)
{
	const seed_result *res = &r->res;
	t->seeds_done++;
	t->events += res->events;
	t->syncs += res->syncs;
	t->mismatched += res->mismatch != 0;
	t->rebuild_bad += res->rebuild_diff != 0;
	t->with_conflicts += res->conflicts != 0;
	t->with_delete_conflicts += res->delete_conflicts != 0;
	t->with_replays += res->replays != 0;
	t->hostile_claims += res->hostile_claims;
	t->not_applied += res->not_applied;
	if (res->mismatch || res->rebuild_diff || res->unsettled || res->honest_pending)
		t->failed++;
	if (t->verbose)
		fprintf(stderr, "seed %" PRIu64 ": %u devices, %" PRIu64 " actions, %" PRIu64 " syncs, %" PRIu64
				" events, conflicts %s%s, %" PRIu64 " app replays, %s (%.2f s: setup %.2f, random %.2f,"
				" converge %.2f, check %.2f)\n", r->seed, res->devices, res->actions, res->syncs, res->events,
			res->conflicts ? "yes" : "no", res->delete_conflicts ? " (delete/edit too)" : "", res->replays,
			res->mismatch || res->rebuild_diff || res->unsettled ? "MISMATCH" : "agree",
			res->t_setup + res->t_random + res->t_converge + res->t_check, res->t_setup, res->t_random,
			res->t_converge, res->t_check);
}

static seed_record run_one(uint64_t seed, unsigned max_devices, int quiet)
{
	seed_record r;
	memset(&r, 0, sizeof(r));
	r.seed = seed;
	current_seed = seed;
	in_seed = 1;
	r.res = run_seed(seed, max_devices, quiet);
	in_seed = 0;
	return r;
}

/* Seeds first + w, first + w + jobs, ... in worker w; records come back
 * through a pipe (each write is smaller than PIPE_BUF, so whole). Returns
 * how many workers failed (a CHECK: their message is already out). */
static int run_parallel(totals *t, uint64_t first, uint64_t seeds, unsigned jobs, unsigned max_devices, int quiet)
{
	int fds[2], bad = 0;
	seed_record r;
	pid_t pids[64];

	CHECK(pipe(fds) == 0);
	for (unsigned w = 0; w < jobs; w++) {
		fflush(NULL);
		CHECK((pids[w] = fork()) >= 0);
		if (pids[w] == 0) {
			close(fds[0]);
			for (uint64_t k = w; k < seeds; k += jobs) {
				r = run_one(first + k, max_devices, quiet);
				CHECK(write(fds[1], &r, sizeof(r)) == (ssize_t)sizeof(r));
			}
			_exit(0);
		}
	}
	close(fds[1]);
	while (read(fds[0], &r, sizeof(r)) == (ssize_t)sizeof(r))
		account(t, &r);
	close(fds[0]);
	for (unsigned w = 0; w < jobs; w++) {
		int status;
		CHECK(waitpid(pids[w], &status, 0) == pids[w]);
		bad += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	return bad;
}

int main(int argc, char **argv)
{
	uint64_t seeds = 50, first = 0, max_dev = 20, jobs = 1, v;
	int expect_mismatch = 0, broken = 0;
	totals t;
	const char *tmp = getenv("TMPDIR");
	struct stat shm;
	double t0 = now();

	memset(&t, 0, sizeof(t));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc && parse_u64(argv[i + 1], &v) == 0) {
			seeds = v;
			i++;
		} else if (strcmp(argv[i], "--first") == 0 && i + 1 < argc && parse_u64(argv[i + 1], &v) == 0) {
			first = v;
			i++;
		} else if (strcmp(argv[i], "--max-devices") == 0 && i + 1 < argc && parse_u64(argv[i + 1], &v) == 0 &&
			   v >= 5 && v <= MAX_DEVICES) {
			max_dev = v;
			i++;
		} else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc && parse_u64(argv[i + 1], &v) == 0 && v >= 1 &&
			   v <= 64) {
			jobs = v;
			i++;
		} else if (strcmp(argv[i], "--expect-mismatch") == 0) {
			expect_mismatch = 1;
#ifdef HOSTILE_MEMBER
		} else if (strcmp(argv[i], "--hostile") == 0) {
			hostile_mode = 1;
#endif
		} else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
			t.verbose = 1;
		} else {
			fprintf(stderr, "usage: %s [--seeds N] [--first S] [--max-devices D (5..%d)] [--expect-mismatch]"
					" [--jobs J] [--verbose]%s\n", argv[0], MAX_DEVICES,
#ifdef HOSTILE_MEMBER
				" [--hostile]"
#else
				""
#endif
			);
			return 2;
		}
	}
	max_devices_arg = (unsigned)max_dev;
	atexit(on_exit_report);
	/* The stores fsync every append and sync; on a disk that is most of
	 * the run time. Unless TMPDIR says where, use memory when there is. */
	if ((!tmp || !*tmp) && stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) && access("/dev/shm", W_OK | X_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	if (t.verbose)
		fprintf(stderr, "stores under %s\n", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");

	if (jobs > 1 && seeds > 1) {
		broken = run_parallel(&t, first, seeds, (unsigned)(jobs < seeds ? jobs : seeds), (unsigned)max_dev,
			expect_mismatch && !t.verbose);
	} else {
		for (uint64_t k = 0; k < seeds; k++) {
			seed_record r = run_one(first + k, (unsigned)max_dev, expect_mismatch && !t.verbose);
			account(&t, &r);
		}
	}

	fprintf(stderr, "test_property: %" PRIu64 " seeds from %" PRIu64 " (5..%" PRIu64 " devices), %" PRIu64
			" events, %" PRIu64 " syncs, %.1f s; devices disagreed in %" PRIu64 " seeds, rebuild differed in %" PRIu64
			"; open conflicts in %" PRIu64 " seeds (delete/edit in %" PRIu64 "), app replays in %" PRIu64 " seeds\n",
		t.seeds_done, first, max_dev, t.events, t.syncs, now() - t0, t.mismatched, t.rebuild_bad, t.with_conflicts,
		t.with_delete_conflicts, t.with_replays);
	if (broken || t.seeds_done != seeds) {
		fprintf(stderr, "test_property: FAIL: %d worker(s) stopped on an error; %" PRIu64 " of %" PRIu64
				" seeds ran\n", broken, t.seeds_done, seeds);
		return 1;
	}
	if (expect_mismatch) {
		if (t.mismatched == 0) {
			fprintf(stderr, "test_property: FAIL: --expect-mismatch, but every seed converged to one state\n");
			return 1;
		}
		fprintf(stderr, "test_property: ok: the wrong order was detected in %" PRIu64 " of %" PRIu64 " seeds\n",
			t.mismatched, seeds);
		return 0;
	}
	if (t.failed) {
		fprintf(stderr, "test_property: FAIL: %" PRIu64 " seeds broke the guarantee\n", t.failed);
		return 1;
	}
	if (hostile_mode) {
		fprintf(stderr, "test_property: the hostile member signed %" PRIu64 " claims; %" PRIu64
				" of its events were held but not applied\n", t.hostile_claims, t.not_applied);
		if (seeds >= 10 && t.not_applied == 0) {
			fprintf(stderr, "test_property: FAIL: no hostile event was ever held back or left waiting\n");
			return 1;
		}
	}
	if (seeds >= 20 && t.with_conflicts == 0) {
		fprintf(stderr, "test_property: FAIL: no seed left an open conflict: the scenario is not concurrent enough\n");
		return 1;
	}
	if (seeds >= 20 && t.with_replays == 0) {
		fprintf(stderr, "test_property: FAIL: no event ever arrived sorting before what an app projection had"
				" applied: the scenario has no late events\n");
		return 1;
	}
	fprintf(stderr, "test_property: ok\n");
	return 0;
}
