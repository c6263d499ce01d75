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

#include "bench_util.h"
#include "mutual.h"

#define DEFAULT_EVENTS 200000
#define BATCH 1000
#define BENCH_PAYLOAD_SIZE 160 /* room for the longest payload bench_payload() writes */


/* Events (or rows) per second of one target, for each mode. */
typedef struct {
	double single;
	double batched;
} rates;


/* ---------------------------------------------------------------- libmutual */

/* Append `single` events one by one, then `batched` in batches, to a new store in `dir`. */
static int run_mutual(rates *out, const char *dir, uint64_t single, uint64_t batched)
{
	static char payloads[BATCH][BENCH_PAYLOAD_SIZE];
	mutual_append_entry entries[BATCH];
	mutual_store *store = NULL;
	mutual_event_id id;
	uint64_t i, last = 0;
	double t;
	int rc;

	if ((rc = mutual_store_create(&store, dir, "bench", NULL)) < 0)
		goto fail;

	t = bench_now();
	for (i = 0; i < single; i++) {
		bench_payload(payloads[0], BENCH_PAYLOAD_SIZE, i);
		if ((rc = mutual_append(&id, store, BENCH_TYPE, payloads[0])) < 0)
			goto fail;
		last = id.seq;
	}
	out->single = bench_rate(single, bench_now() - t);

	t = bench_now();
	for (i = 0; i < batched; i += BATCH) {
		size_t n = batched - i < BATCH ? (size_t)(batched - i) : BATCH;
		for (size_t j = 0; j < n; j++) {
			bench_payload(payloads[j], BENCH_PAYLOAD_SIZE, single + i + j);
			entries[j].type = BENCH_TYPE;
			entries[j].payload = payloads[j];
		}
		if ((rc = mutual_append_batch(&id, store, entries, n)) < 0)
			goto fail;
		last = id.seq + n - 1;
	}
	out->batched = bench_rate(batched, bench_now() - t);

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

/* As run_mutual(), with rows in a new SQLite database at `path` in the given synchronous mode. */
static int run_raw(rates *out, const char *path, const char *synchronous, uint64_t single, uint64_t batched)
{
	raw_log log;
	uint64_t i;
	double t;
	int rc = -1;

	if (raw_log_open(&log, path, synchronous) < 0)
		goto done;

	t = bench_now();
	for (i = 0; i < single; i++)
		if (raw_log_append(&log, i, 1) < 0)
			goto done;
	out->single = bench_rate(single, bench_now() - t);

	t = bench_now();
	for (i = 0; i < batched; i += BATCH)
		if (raw_log_append(&log, single + i, batched - i < BATCH ? (size_t)(batched - i) : BATCH) < 0)
			goto done;
	out->batched = bench_rate(batched, bench_now() - t);
	rc = 0;
done:
	if (rc < 0)
		fprintf(stderr, "bench_append: raw SQLite (synchronous=%s) failed: %s\n", synchronous,
			log.db ? sqlite3_errmsg(log.db) : "out of memory");
	raw_log_close(&log);
	return rc;
}

/* ------------------------------------------------------------------- main */

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
		char buf[BENCH_PAYLOAD_SIZE];
		payload_bytes += (uint64_t)bench_payload(buf, sizeof(buf), i);
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
		single, events, BATCH, BENCH_TYPE, payload_bytes / BATCH);
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
		bench_remove_tree(dir);
	return rc;
}
