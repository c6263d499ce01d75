/*
 * bench_project.c - what new events cost the projections of a store that
 * already holds a large log, next to rebuilding every projection.
 *
 * Setup (through the public API only, in a mkdtemp folder):
 *  - store A makes a group; store D joins it from A's invite and, before A
 *    writes anything, writes `new` (N / 10) entity puts: a device that then
 *    goes offline for a week, so its events carry older clocks than A's;
 *  - A writes N events, each its own transaction (mutual_entity_put and
 *    mutual_counter_add have no batch form, so each is one fsync): 9 in 10
 *    are puts on 20,000 entities of kind "item" (ids "i<k>", random), each
 *    setting 1 to 3 of the fields "qty", "status" and "by"; 1 in 10 adds to
 *    one of 50 counters;
 *  - A syncs with a stick folder; store C joins and imports A's log from it
 *    (timed: a full import, for context); store B joins, imports A's log,
 *    writes `new` puts (on random entities, 1 to 3 fields) that sort after
 *    everything, and syncs them to the stick.
 *
 * Measured, in this order:
 *  1. "after": C syncs with the stick and imports B's events, which sort
 *     after all C holds (timed);
 *  2. "middle": D syncs with the stick (it imports everything; not timed),
 *     then C syncs and imports D's events, which sort before A's N events
 *     C already holds and has applied: where a projection that replays from
 *     the first late event would pay for the whole log (timed);
 *  3. the baseline: mutual_rebuild(C), every event C holds re-applied.
 *
 * Each sync's time is everything the sync does: reading the stick,
 * decrypting and verifying segments, inserting the events into SQLite, and
 * applying them to the projections. mutual_projection_stats deltas show the
 * projection part: events applied and field registers (or counters) touched,
 * next to what the new events wrote. Each row also shows the share of its
 * wall time this process spent on CPU (getrusage, user + system): the rest
 * is waiting, mostly for fsync and the disk. The run's own time is mostly
 * setup: N + 2 * new puts, each one fsync.
 *
 * The goal: both cases cost in proportion to the new events, not to the log
 * C holds: per event, within 2x of importing the whole log into an empty
 * store (the same read, verify, insert and project work). The time and the
 * ratio to a full rebuild (projection only) are printed for scale. Correctness, checked (an error exit when it fails): C's
 * mutual_state_digest is the same before and after the rebuild, and the same
 * as D's, which holds the same events but received them in another order.
 *
 * Timings on a shared machine are noisy, so a missed goal is reported, never
 * turned into a failure: the exit status is non-zero only when something
 * actually went wrong (a call failed, a sync moved the wrong number of
 * events, or the digests differ).
 *
 * Usage: bench_project [--events N]   (default 100000). Everything is
 * written under a mkdtemp folder in $TMPDIR (or /tmp), removed at the end.
 */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "mutual.h"

#define DEFAULT_EVENTS 100000
#define ENTITIES 20000     /* entities of kind KIND, ids "i0" .. "i19999" */
#define KIND "item"
#define COUNTER_EVERY 10   /* every 10th event of A is a counter add */
#define COUNTERS 50        /* counters "stock0" .. "stock49" */
#define PER_EVENT_GOAL 2.0 /* per-event cost of a case / per-event cost of a full import into an empty store */

/* What a writer wrote: events, and the field registers and counters they write. */
typedef struct {
	uint64_t puts;
	uint64_t counters;
	uint64_t field_writes; /* per put: its fields + "_deleted"; per counter add: 1 */
} written;

/* A time taken: wall clock, and CPU (user + system) of this process. */
typedef struct {
	double wall, cpu;
} span;

/* One timed import of new events into C. */
typedef struct {
	span took;
	mutual_sync_stats sync;
	mutual_projection_stats before, after;
} measured;

static double cpu_now(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static span mark(void)
{
	span s = { bench_now(), cpu_now() };
	return s;
}

static span since(span start)
{
	span s = mark();
	s.wall -= start.wall;
	s.cpu -= start.cpu;
	return s;
}

/* splitmix64: the writers' choices, the same on every run. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int fail(const char *what)
{
	fprintf(stderr, "bench_project: %s: %s\n", what, mutual_error_last());
	return -1;
}

/* One random put by `who`: entity i<k>, 1 to 3 of qty, status, by. */
static int random_put(written *w, mutual_store *s, uint64_t *rng, const char *who, uint64_t i)
{
	static const char *const statuses[] = { "open", "packed", "sent", "held", "done" };
	uint64_t r = next_random(rng);
	unsigned int n_fields = 1 + (unsigned int)(r % 3), start = (unsigned int)((r >> 8) % 3);
	char id[32], fields[160];
	size_t len = 0;

	snprintf(id, sizeof(id), "i%" PRIu64, (r >> 16) % ENTITIES);
	fields[len++] = '{';
	for (unsigned int f = 0; f < n_fields; f++) {
		const char *sep = f ? "," : "";
		switch ((start + f) % 3) {
		case 0:
			len += (size_t)snprintf(fields + len, sizeof(fields) - len, "%s\"qty\":%" PRIu64, sep,
				1 + (r >> 40) % 500);
			break;
		case 1:
			len += (size_t)snprintf(fields + len, sizeof(fields) - len, "%s\"status\":\"%s\"", sep,
				statuses[(r >> 32) % 5]);
			break;
		default:
			len += (size_t)snprintf(fields + len, sizeof(fields) - len, "%s\"by\":\"%s %" PRIu64 "\"", sep,
				who, i);
			break;
		}
	}
	snprintf(fields + len, sizeof(fields) - len, "}");
	if (mutual_entity_put(NULL, s, KIND, id, fields) < 0)
		return fail("mutual_entity_put");
	w->puts++;
	w->field_writes += n_fields + 1;
	return 0;
}

/* `n` random puts by `who`, each its own transaction; timed. */
static int write_puts(written *w, span *took, mutual_store *s, uint64_t seed, const char *who, uint64_t n)
{
	uint64_t rng = seed;
	span t = mark();
	for (uint64_t i = 0; i < n; i++)
		if (random_put(w, s, &rng, who, i) < 0)
			return -1;
	*took = since(t);
	return 0;
}

/* A's `n` events: puts, and every COUNTER_EVERY-th a counter add; timed. */
static int write_log(written *w, span *took, mutual_store *s, uint64_t n)
{
	static const char *const deltas[] = { "2", "-0.25", "1.5", "12", "-3" };
	uint64_t rng = 1;
	span t = mark();
	for (uint64_t i = 0; i < n; i++) {
		if (i % COUNTER_EVERY == COUNTER_EVERY - 1) {
			char key[32];
			snprintf(key, sizeof(key), "stock%" PRIu64, (i / COUNTER_EVERY) % COUNTERS);
			if (mutual_counter_add(NULL, s, key, deltas[(i / COUNTER_EVERY) % 5]) < 0)
				return fail("mutual_counter_add");
			w->counters++;
			w->field_writes++;
		} else if (random_put(w, s, &rng, "alpha", i) < 0) {
			return -1;
		}
		if (i % 10000 == 9999) {
			printf("  A: %" PRIu64 " of %" PRIu64 " events written (%.1f s)\n", i + 1, n, bench_now() - t.wall);
			fflush(stdout);
		}
	}
	*took = since(t);
	return 0;
}

static mutual_store *join(mutual_store *inviter, const char *dir, const char *name)
{
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	mutual_store *s = NULL;
	char *text = NULL, path[4200];

	opts.device_name = name;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (mutual_invite_text(&text, inviter) < 0) {
		fail("mutual_invite_text");
		return NULL;
	}
	if (mutual_store_join_text(&s, path, text, &opts) < 0) {
		fail("mutual_store_join_text");
		s = NULL;
	}
	mutual_free(text);
	return s;
}

/* mutual_sync(store, stick), timed; -1 (with the reason shown) unless it
 * returns 0 and received `want` events (unless want is UINT64_MAX). */
static int timed_sync(span *took, mutual_sync_stats *stats, mutual_store *store, const char *stick,
	uint64_t want, const char *what)
{
	span t = mark();
	int rc = mutual_sync(stats, store, stick, NULL);
	*took = since(t);
	if (rc != 0) {
		fprintf(stderr, "bench_project: %s: mutual_sync returned %d: %s\n", what, rc, mutual_error_last());
		return -1;
	}
	if (want != UINT64_MAX && stats->events_received != want) {
		fprintf(stderr, "bench_project: %s: received %" PRIu64 " events, expected %" PRIu64 "\n", what,
			stats->events_received, want);
		return -1;
	}
	return 0;
}

/* C's sync importing new events, with its projection stats around it. */
static int measure_import(measured *m, mutual_store *c, const char *stick, uint64_t want, const char *what)
{
	m->before.version = m->after.version = MUTUAL_PROJECTION_STATS_VERSION;
	m->sync.version = MUTUAL_SYNC_STATS_VERSION;
	if (mutual_projection_stats_get(&m->before, c) < 0)
		return fail("mutual_projection_stats_get");
	if (timed_sync(&m->took, &m->sync, c, stick, want, what) < 0)
		return -1;
	if (mutual_projection_stats_get(&m->after, c) < 0)
		return fail("mutual_projection_stats_get");
	if (m->sync.events_sent != 0) {
		fprintf(stderr, "bench_project: %s: sent %" PRIu64 " events, expected none\n", what,
			m->sync.events_sent);
		return -1;
	}
	return 0;
}

static int add_events(const mutual_device_info *info, void *payload)
{
	*(uint64_t *)payload += info->events;
	return 0;
}

static int held_events(uint64_t *out, mutual_store *s)
{
	*out = 0;
	return mutual_device_foreach(s, add_events, out) < 0 ? fail("mutual_device_foreach") : 0;
}

static void hex(char *out, const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
}

static void print_time(double seconds)
{
	if (seconds >= 1)
		printf("%9.2f s ", seconds);
	else
		printf("%9.1f ms", seconds * 1e3);
}

/* One row: what, time, events, events/s, per-event cost in microseconds, share of the time on CPU. */
static void row(const char *what, span took, uint64_t events, const char *note)
{
	printf("  %-46s ", what);
	print_time(took.wall);
	printf(" %9" PRIu64 " %10.0f %9.1f %6.0f%%  %s\n", events, bench_rate(events, took.wall),
		events ? took.wall * 1e6 / (double)events : 0, took.wall > 0 ? 100 * took.cpu / took.wall : 0,
		note ? note : "");
}

/* One row of the projection table: what the stats moved by, next to what was written. */
static void stats_row(const char *what, const mutual_projection_stats *before, const mutual_projection_stats *after,
	uint64_t events, uint64_t field_writes)
{
	printf("  %-46s %14" PRIu64 " %14" PRIu64 " %12" PRIu64 " %14" PRIu64 "\n", what,
		after->events_applied - before->events_applied, after->fields_updated - before->fields_updated, events,
		field_writes);
}

/* A goal line for one case; returns 1 when met. */
/*
 * The goal: new events cost in proportion to themselves, not to the log.
 * The fair yardstick is the same work on an empty store: importing the whole
 * log into a fresh store (read, verify, insert, project, per segment). An
 * import into a store that holds the log should cost about as much per
 * event. A rebuild (projection only) is printed beside it for scale.
 */
static int goal(const char *name, double seconds, uint64_t events, double full, uint64_t full_events, double rebuild,
	uint64_t rebuild_events)
{
	double per = events ? seconds / (double)events : 0;
	double full_per = full_events ? full / (double)full_events : 0;
	double rebuild_per = rebuild_events ? rebuild / (double)rebuild_events : 0;
	double ratio = full_per > 0 ? per / full_per : 0;
	int ok = ratio <= PER_EVENT_GOAL;

	printf("goal: \"%s\" costs in proportion to its new events, not to the log: %s\n", name, ok ? "met" : "NOT met");
	printf("        per event %.1f us vs %.1f us importing the whole log into an empty store: %.2fx (%s %.0fx)\n",
		per * 1e6, full_per * 1e6, ratio, ok ? "<=" : ">", PER_EVENT_GOAL);
	printf("        for scale: %.0f events/s; a full rebuild (projection only) %.1f us/event; this import took "
		"%.3fx a rebuild's time for %.3f of the log\n", events ? (double)events / seconds : 0, rebuild_per * 1e6,
		rebuild > 0 ? seconds / rebuild : 0, rebuild_events ? (double)events / (double)rebuild_events : 0);
	return ok;
}

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	char dir[4096] = "", path[4200], stick[4200], dig_hex[2][2 * MUTUAL_HASH_SIZE + 1];
	uint64_t events = DEFAULT_EVENTS, fresh, c_events = 0, d_events = 0;
	mutual_store *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	written w_a = { 0, 0, 0 }, w_b = { 0, 0, 0 }, w_d = { 0, 0, 0 };
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	mutual_projection_stats rb_before = MUTUAL_PROJECTION_STATS_INIT, rb_after = MUTUAL_PROJECTION_STATS_INIT;
	measured after, middle;
	uint8_t dig_c[MUTUAL_HASH_SIZE], dig_d[MUTUAL_HASH_SIZE], dig_rebuilt[MUTUAL_HASH_SIZE];
	span t_d_write = { 0, 0 }, t_a_write = { 0, 0 }, t_b_write = { 0, 0 }, t_a_send = { 0, 0 }, t_c_full = { 0, 0 };
	span t_b_sync = { 0, 0 }, t_b_send = { 0, 0 }, t_d_sync = { 0, 0 }, t_rebuild = { 0, 0 }, t_start;
	double t_setup;
	int rc = 1;

	if (argc == 3 && strcmp(argv[1], "--events") == 0) {
		char *end;
		events = strtoull(argv[2], &end, 10);
		if (argv[2][0] < '0' || argv[2][0] > '9' || *end || events < 10 || events > 100000000) {
			fprintf(stderr, "bench_project: --events takes a number from 10 to 100000000\n");
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_project [--events N]   (default %d)\n", DEFAULT_EVENTS);
		return 2;
	}
	fresh = events / 10;

	if (!base || !*base)
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/bench_project.XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror(dir);
		dir[0] = '\0';
		goto done;
	}
	snprintf(stick, sizeof(stick), "%s/stick", dir);
	if (mkdir(stick, 0700) < 0) {
		perror(stick);
		goto done;
	}

	printf("bench_project: libmutual %s\n", mutual_version());
	printf("work dir %s (%s)\n", dir, bench_fs_name(dir));
	printf("A writes %" PRIu64 " events, one transaction (fsync) each: puts on %d entities of kind \"%s\"\n"
		"(1-3 of the fields qty, status, by) and, 1 in %d, counter adds; B and D write %" PRIu64 " puts each,\n"
		"B's sorting after A's log, D's (written offline, before A's) in it; C holds A's log and imports them\n\n",
		events, ENTITIES, KIND, COUNTER_EVERY, fresh);
	fflush(stdout);

	/* Setup. D joins and writes before A writes anything: its events have older clocks. */
	t_setup = bench_now();
	snprintf(path, sizeof(path), "%s/alpha", dir);
	{
		mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
		opts.device_name = "alpha";
		if (mutual_store_create(&a, path, "bench items", &opts) < 0) {
			fail("mutual_store_create");
			goto done;
		}
	}
	if (!(d = join(a, dir, "delta")) || write_puts(&w_d, &t_d_write, d, 4, "delta", fresh) < 0)
		goto done;
	printf("  D: %" PRIu64 " puts written offline (%.1f s)\n", fresh, t_d_write.wall);
	fflush(stdout);
	if (write_log(&w_a, &t_a_write, a, events) < 0)
		goto done;
	/* A's log: its mutual.group.create event, then the N written. C imports it all. */
	if (timed_sync(&t_a_send, &st, a, stick, 0, "A -> stick") < 0 || !(c = join(a, dir, "carol")) ||
	    timed_sync(&t_c_full, &st, c, stick, events + 1, "C <- stick (A's log)") < 0)
		goto done;
	/* B sees everything first (A's log and C's join), so its puts sort after all of it. */
	if (!(b = join(a, dir, "bea")) || timed_sync(&t_b_sync, &st, b, stick, events + 2, "B <- stick") < 0 ||
	    write_puts(&w_b, &t_b_write, b, 2, "bea", fresh) < 0 ||
	    timed_sync(&t_b_send, &st, b, stick, 0, "B -> stick") < 0)
		goto done;
	t_setup = bench_now() - t_setup;
	printf("  setup done (%.1f s)\n\n", t_setup);
	fflush(stdout);

	/* 1. "after": B's join and puts. */
	if (measure_import(&after, c, stick, fresh + 1, "C <- stick (B's events, after)") < 0)
		goto done;
	/* 2. "middle": D comes back, syncs (imports A's, B's and C's logs), then C imports D's. */
	if (timed_sync(&t_d_sync, &st, d, stick, events + 1 + fresh + 1 + 1, "D <- stick") < 0 ||
	    measure_import(&middle, c, stick, fresh + 1, "C <- stick (D's events, middle)") < 0)
		goto done;

	/* 3. The baseline, with the digests around it. D holds the same events, received in another order. */
	if (held_events(&c_events, c) < 0 || held_events(&d_events, d) < 0)
		goto done;
	if (c_events != d_events) {
		fprintf(stderr, "bench_project: C holds %" PRIu64 " events, D %" PRIu64 "\n", c_events, d_events);
		goto done;
	}
	if (mutual_state_digest(dig_c, c) < 0 || mutual_state_digest(dig_d, d) < 0) {
		fail("mutual_state_digest");
		goto done;
	}
	if (mutual_projection_stats_get(&rb_before, c) < 0) {
		fail("mutual_projection_stats_get");
		goto done;
	}
	t_start = mark();
	if (mutual_rebuild(c) < 0) {
		fail("mutual_rebuild");
		goto done;
	}
	t_rebuild = since(t_start);
	if (mutual_projection_stats_get(&rb_after, c) < 0 || mutual_state_digest(dig_rebuilt, c) < 0) {
		fail("mutual_state_digest after the rebuild");
		goto done;
	}

	/* ------------------------------------------------------------ report */
	printf("  %-46s %12s %9s %10s %9s %7s\n", "step", "time", "events", "events/s", "us/event", "on CPU");
	row("setup: D writes its puts (offline, first)", t_d_write, fresh, "one transaction each");
	row("setup: A writes its log", t_a_write, events, "one transaction each");
	row("setup: A -> stick", t_a_send, events + 1, NULL);
	row("setup: C <- stick, A's log into a fresh store", t_c_full, events + 1, "full import, for context");
	row("setup: B <- stick", t_b_sync, events + 2, NULL);
	row("setup: B writes its puts", t_b_write, fresh, "one transaction each");
	row("setup: B -> stick", t_b_send, fresh + 1, NULL);
	row("setup: D <- stick (D back online)", t_d_sync, events + fresh + 3, NULL);
	printf("\n");
	row("after: C <- stick, B's events (sort last)", after.took, after.sync.events_received,
		"sync: read + verify + insert + project");
	row("middle: C <- stick, D's events (sort early)", middle.took, middle.sync.events_received,
		"sync: read + verify + insert + project");
	row("rebuild: mutual_rebuild(C), every event", t_rebuild, c_events, "projection only");
	printf("  (segments opened: after %" PRIu64 ", middle %" PRIu64 "; C holds %" PRIu64 " events)\n",
		after.sync.segments_opened, middle.sync.segments_opened, c_events);

	printf("\n  projection stats deltas (events_applied counts entity and counter events;\n"
		"  fields_updated the field registers and counters touched), next to what was written\n");
	printf("  %-46s %14s %14s %12s %14s\n", "", "events_applied", "fields_updated", "puts + adds", "field writes");
	stats_row("after (B's puts)", &after.before, &after.after, w_b.puts, w_b.field_writes);
	stats_row("middle (D's puts)", &middle.before, &middle.after, w_d.puts, w_d.field_writes);
	stats_row("rebuild (everything)", &rb_before, &rb_after, w_a.puts + w_a.counters + w_b.puts + w_d.puts,
		w_a.field_writes + w_b.field_writes + w_d.field_writes);

	printf("\n  ratios to the rebuild              time      per event\n");
	printf("  after  / rebuild               %8.4fx  %8.2fx\n", after.took.wall / t_rebuild.wall,
		(after.took.wall / (double)after.sync.events_received) / (t_rebuild.wall / (double)c_events));
	printf("  middle / rebuild               %8.4fx  %8.2fx\n", middle.took.wall / t_rebuild.wall,
		(middle.took.wall / (double)middle.sync.events_received) / (t_rebuild.wall / (double)c_events));
	printf("  (exactly in proportion to the events would be %.4fx the time and 1x per event; for scale,\n"
		"  the full import of A's log into a fresh C, projection included, cost %.2fx the rebuild per event)\n",
		(double)(fresh + 1) / (double)c_events,
		(t_c_full.wall / (double)(events + 1)) / (t_rebuild.wall / (double)c_events));

	hex(dig_hex[0], dig_c, MUTUAL_HASH_SIZE);
	hex(dig_hex[1], dig_rebuilt, MUTUAL_HASH_SIZE);
	printf("\ndigest of C before the rebuild %s\n", dig_hex[0]);
	printf("digest of C after the rebuild  %s  %s\n", dig_hex[1],
		memcmp(dig_c, dig_rebuilt, MUTUAL_HASH_SIZE) == 0 ? "equal" : "DIFFERENT");
	hex(dig_hex[1], dig_d, MUTUAL_HASH_SIZE);
	printf("digest of D (same events)      %s  %s\n\n", dig_hex[1],
		memcmp(dig_c, dig_d, MUTUAL_HASH_SIZE) == 0 ? "equal" : "DIFFERENT");

	goal("after", after.took.wall, after.sync.events_received, t_c_full.wall, events + 1, t_rebuild.wall, c_events);
	goal("middle", middle.took.wall, middle.sync.events_received, t_c_full.wall, events + 1, t_rebuild.wall, c_events);

	if (memcmp(dig_c, dig_rebuilt, MUTUAL_HASH_SIZE) != 0) {
		fprintf(stderr, "bench_project: C's state differs after a rebuild: the incremental projection is wrong\n");
		goto done;
	}
	if (memcmp(dig_c, dig_d, MUTUAL_HASH_SIZE) != 0) {
		fprintf(stderr, "bench_project: C and D hold the same events but their states differ\n");
		goto done;
	}
	rc = 0;
done:
	mutual_store_free(a);
	mutual_store_free(b);
	mutual_store_free(c);
	mutual_store_free(d);
	if (dir[0])
		bench_remove_tree(dir);
	return rc;
}
