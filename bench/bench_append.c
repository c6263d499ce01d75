/*
 * bench_append.c - how fast events go into a store, next to raw SQLite.
 *
 * Appends small JSON events (~100 bytes, type pantry.stock.in) to a fresh
 * store through the public API, first one event per transaction
 * (mutual_append: one fsync each, as the store runs WAL with
 * synchronous=FULL), then in batches of 1,000 (mutual_append_batch). In the
 * same run, and in the same order, it inserts rows of the same sizes into a
 * plain SQLite database holding a copy of the store's events table and
 * index, with one prepared statement: first with synchronous=FULL (what the
 * store uses, so the fair comparison), then with synchronous=NORMAL (to show
 * what durability costs). The ratio libmutual/raw is what the library costs
 * on top of SQLite: reading the log's head and clock, checking the JSON,
 * hashing, chaining and signing. The goal is that batched appends reach at
 * least half of the raw batched rate. Timings on a shared machine are noisy,
 * so a missed goal is reported, never turned into a failure: the exit status
 * is non-zero only when something actually went wrong.
 *
 * Usage: bench_append [--events N]   (N batched events, default 200000;
 * N / 100 single ones). Everything is written under a mkdtemp folder in
 * $TMPDIR (or /tmp), removed at the end.
 */
#include <ftw.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mutual.h"

#define DEFAULT_EVENTS 200000
#define BATCH 1000
#define TYPE "pantry.stock.in"
#define PAYLOAD_SIZE 160 /* room for the longest payload make_payload() writes */

/*
 * The events table and its index exactly as in libmutual/src/db.c (schema
 * version 1), without the triggers that refuse UPDATE and DELETE: they cost
 * nothing on INSERT.
 */
static const char schema[] =
	"CREATE TABLE events("
	"  id INTEGER PRIMARY KEY,"
	"  device BLOB NOT NULL CHECK(length(device) = 32),"
	"  seq INTEGER NOT NULL CHECK(seq >= 1),"
	"  hlc INTEGER NOT NULL CHECK(hlc >= 0),"
	"  type TEXT NOT NULL,"
	"  payload BLOB NOT NULL,"
	"  digest BLOB NOT NULL CHECK(length(digest) = 32),"
	"  prev BLOB NOT NULL CHECK(length(prev) = 32),"
	"  frontier BLOB NOT NULL,"
	"  hash BLOB NOT NULL CHECK(length(hash) = 32),"
	"  sig BLOB CHECK(sig IS NULL OR length(sig) = 64),"
	"  UNIQUE(device, seq));"
	"CREATE INDEX events_order ON events(hlc, device, seq);";

/* Events (or rows) per second of one target, for each mode. */
typedef struct {
	double single;
	double batched;
} rates;

/* What a raw SQLite "device" needs to write its rows. */
typedef struct {
	sqlite3 *db;
	sqlite3_stmt *insert, *begin, *commit;
	uint8_t device[32];
	uint64_t seq, hlc, rng;
} raw_log;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rate(uint64_t n, double seconds)
{
	return seconds > 0 ? (double)n / seconds : 0;
}

/* Event i's payload: a small pantry record, different for every i. */
static int make_payload(char *buf, size_t size, uint64_t i)
{
	static const char *const items[] = { "rice", "lentils", "flour", "beans", "oil", "pasta", "sugar", "tea" };
	static const char *const units[] = { "kg", "kg", "kg", "kg", "l", "kg", "kg", "pack" };
	size_t k = i % 8;

	return snprintf(buf, size,
		"{\"item\":\"%s\",\"qty\":%" PRIu64 ",\"unit\":\"%s\",\"source\":\"donation drive %" PRIu64 "\","
		"\"shelf\":\"%c%" PRIu64 "\",\"by\":\"volunteer %" PRIu64 "\"}",
		items[k], 1 + i % 50, units[k], i, (char)('A' + i % 6), 1 + i % 12, 1 + i % 40);
}

/* splitmix64: cheap random bytes that stand in for digests, hashes and signatures. */
static void fill_random(uint64_t *state, uint8_t *out, size_t len)
{
	while (len > 0) {
		uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
		size_t n = len < 8 ? len : 8;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		memcpy(out, &z, n);
		out += n;
		len -= n;
	}
}

/* ---------------------------------------------------------------- libmutual */

/* Append `single` events one by one, then `batched` in batches, to a new store in `dir`. */
static int run_mutual(rates *out, const char *dir, uint64_t single, uint64_t batched)
{
	static char payloads[BATCH][PAYLOAD_SIZE];
	mutual_append_entry entries[BATCH];
	mutual_store *store = NULL;
	mutual_event_id id;
	uint64_t i, last = 0;
	double t;
	int rc;

	if ((rc = mutual_store_create(&store, dir, "bench", NULL)) < 0)
		goto fail;

	t = now();
	for (i = 0; i < single; i++) {
		make_payload(payloads[0], PAYLOAD_SIZE, i);
		if ((rc = mutual_append(&id, store, TYPE, payloads[0])) < 0)
			goto fail;
		last = id.seq;
	}
	out->single = rate(single, now() - t);

	t = now();
	for (i = 0; i < batched; i += BATCH) {
		size_t n = batched - i < BATCH ? (size_t)(batched - i) : BATCH;
		for (size_t j = 0; j < n; j++) {
			make_payload(payloads[j], PAYLOAD_SIZE, single + i + j);
			entries[j].type = TYPE;
			entries[j].payload = payloads[j];
		}
		if ((rc = mutual_append_batch(&id, store, entries, n)) < 0)
			goto fail;
		last = id.seq + n - 1;
	}
	out->batched = rate(batched, now() - t);

	/* Seq 1 is the store's own mutual.group.create event. */
	if (last != 1 + single + batched) {
		fprintf(stderr, "bench_append: the log ends at seq %" PRIu64 ", expected %" PRIu64 "\n",
			last, 1 + single + batched);
		rc = MUTUAL_ERROR;
	}
	goto done;
fail:
	fprintf(stderr, "bench_append: libmutual failed: %s\n", mutual_error_last());
done:
	mutual_store_free(store);
	return rc;
}

/* ---------------------------------------------------------------- raw SQLite */

/* Insert rows first .. first + n - 1 in one transaction, as one batch append would. */
static int raw_append(raw_log *log, uint64_t first, size_t n)
{
	char payload[PAYLOAD_SIZE];
	uint8_t digest[32], prev[32], hash[32], sig[64];
	struct timespec ts;
	uint64_t wall;
	int rc;

	if (sqlite3_step(log->begin) != SQLITE_DONE)
		return -1;
	sqlite3_reset(log->begin);
	/* The store's hybrid clock: the wall clock in ms << 16, always moving forward. */
	clock_gettime(CLOCK_REALTIME, &ts);
	wall = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) << 16;
	for (size_t j = 0; j < n; j++) {
		int len = make_payload(payload, sizeof(payload), first + j);
		log->hlc = wall > log->hlc ? wall : log->hlc + 1;
		fill_random(&log->rng, digest, sizeof(digest));
		fill_random(&log->rng, prev, sizeof(prev));
		fill_random(&log->rng, hash, sizeof(hash));
		sqlite3_bind_blob(log->insert, 1, log->device, 32, SQLITE_STATIC);
		sqlite3_bind_int64(log->insert, 2, (sqlite3_int64)++log->seq);
		sqlite3_bind_int64(log->insert, 3, (sqlite3_int64)log->hlc);
		sqlite3_bind_text(log->insert, 4, TYPE, (int)strlen(TYPE), SQLITE_STATIC);
		sqlite3_bind_blob(log->insert, 5, payload, len, SQLITE_STATIC);
		sqlite3_bind_blob(log->insert, 6, digest, 32, SQLITE_STATIC);
		sqlite3_bind_blob(log->insert, 7, prev, 32, SQLITE_STATIC);
		sqlite3_bind_blob(log->insert, 8, "", 0, SQLITE_STATIC);
		sqlite3_bind_blob(log->insert, 9, hash, 32, SQLITE_STATIC);
		if (j == n - 1) {
			fill_random(&log->rng, sig, sizeof(sig));
			sqlite3_bind_blob(log->insert, 10, sig, 64, SQLITE_STATIC);
		} else {
			sqlite3_bind_null(log->insert, 10);
		}
		rc = sqlite3_step(log->insert);
		sqlite3_reset(log->insert);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	rc = sqlite3_step(log->commit);
	sqlite3_reset(log->commit);
	if (rc == SQLITE_DONE)
		return 0;
fail:
	sqlite3_exec(log->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* As run_mutual(), with rows in a new SQLite database at `path` in the given synchronous mode. */
static int run_raw(rates *out, const char *path, const char *synchronous, uint64_t single, uint64_t batched)
{
	raw_log log = { 0 };
	char pragmas[96];
	uint64_t i;
	double t;
	int rc = -1;

	log.rng = 42;
	fill_random(&log.rng, log.device, sizeof(log.device));
	snprintf(pragmas, sizeof(pragmas), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;", synchronous);
	if (sqlite3_open_v2(path, &log.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    sqlite3_exec(log.db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(log.db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(log.db, "BEGIN IMMEDIATE", -1, &log.begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(log.db, "COMMIT", -1, &log.commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(log.db,
		"INSERT INTO events(device, seq, hlc, type, payload, digest, prev, frontier, hash, sig)"
		" VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &log.insert, NULL) != SQLITE_OK)
		goto done;

	t = now();
	for (i = 0; i < single; i++)
		if (raw_append(&log, i, 1) < 0)
			goto done;
	out->single = rate(single, now() - t);

	t = now();
	for (i = 0; i < batched; i += BATCH)
		if (raw_append(&log, single + i, batched - i < BATCH ? (size_t)(batched - i) : BATCH) < 0)
			goto done;
	out->batched = rate(batched, now() - t);
	rc = 0;
done:
	if (rc < 0)
		fprintf(stderr, "bench_append: raw SQLite (synchronous=%s) failed: %s\n", synchronous,
			log.db ? sqlite3_errmsg(log.db) : "out of memory");
	sqlite3_finalize(log.insert);
	sqlite3_finalize(log.begin);
	sqlite3_finalize(log.commit);
	sqlite3_close(log.db);
	return rc;
}

/* ------------------------------------------------------------------- main */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	if (remove(path) < 0)
		perror(path);
	return 0;
}

static void print_row(const char *mode, double lib, double full, double normal)
{
	printf("%-22s %12.0f %16.0f %12.2fx %18.0f\n", mode, lib, full, full > 0 ? lib / full : 0, normal);
}

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	char dir[4096] = "", path[4200];
	uint64_t events = DEFAULT_EVENTS, single, payload_bytes = 0;
	rates lib = { 0 }, full = { 0 }, normal = { 0 };
	double ratio;
	int rc = 1;

	if (argc == 3 && strcmp(argv[1], "--events") == 0) {
		char *end;
		events = strtoull(argv[2], &end, 10);
		if (argv[2][0] < '0' || argv[2][0] > '9' || *end || events == 0 || events > 100000000) {
			fprintf(stderr, "bench_append: --events takes a number from 1 to 100000000\n");
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_append [--events N]   (default %d)\n", DEFAULT_EVENTS);
		return 2;
	}
	single = events / 100 ? events / 100 : 1;
	for (uint64_t i = 0; i < BATCH; i++) {
		char buf[PAYLOAD_SIZE];
		payload_bytes += (uint64_t)make_payload(buf, sizeof(buf), i);
	}

	if (!base || !*base)
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/bench_append.XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror(dir);
		dir[0] = '\0';
		goto done;
	}

	printf("bench_append: libmutual %s, SQLite %s, in %s\n", mutual_version(), sqlite3_libversion(), dir);
	printf("%" PRIu64 " events one per transaction, then %" PRIu64 " in batches of %d;"
		" type %s, JSON payloads of ~%" PRIu64 " bytes\n\n",
		single, events, BATCH, TYPE, payload_bytes / BATCH);
	fflush(stdout);

	snprintf(path, sizeof(path), "%s/store", dir);
	if (run_mutual(&lib, path, single, events) < 0)
		goto done;
	snprintf(path, sizeof(path), "%s/raw-full.db", dir);
	if (run_raw(&full, path, "FULL", single, events) < 0)
		goto done;
	snprintf(path, sizeof(path), "%s/raw-normal.db", dir);
	if (run_raw(&normal, path, "NORMAL", single, events) < 0)
		goto done;

	printf("%-22s %12s %16s %13s %18s\n", "", "libmutual", "raw SQLite", "libmutual /", "raw SQLite");
	printf("%-22s %12s %16s %13s %18s\n", "mode", "events/s", "FULL rows/s", "raw FULL", "NORMAL rows/s");
	print_row("one per transaction", lib.single, full.single, normal.single);
	print_row("batches of 1000", lib.batched, full.batched, normal.batched);

	ratio = full.batched > 0 ? lib.batched / full.batched : 0;
	printf("\ngoal: batched appends reach at least half of the raw SQLite batched rate"
		" (synchronous=FULL): %s (%.2fx %s 0.50x)\n",
		ratio >= 0.5 ? "met" : "NOT met", ratio, ratio >= 0.5 ? ">=" : "<");
	rc = 0;
done:
	if (dir[0])
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
