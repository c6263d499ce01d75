/*
 * bench_util.c - see bench_util.h.
 */
#include "bench_util.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>

/* The baseline's column set, fixed so that ratios stay comparable across
 * releases: the store's events table as of store schema 1, without its
 * triggers (they cost nothing on INSERT). It does not follow the store:
 * tests/api/check_bench_baseline.py fails when the store no longer holds
 * every one of these columns with its type and NOT NULL, and then the
 * benchmarks' baseline needs a deliberate, documented change
 * (bench/README.md). */
static const char baseline_schema[] =
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

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_rate(uint64_t n, double seconds)
{
	return seconds > 0 ? (double)n / seconds : 0;
}

int bench_payload(char *buf, size_t size, uint64_t i)
{
	static const char *const items[] = { "rice", "lentils", "flour", "beans", "oil", "pasta", "sugar", "tea" };
	static const char *const units[] = { "kg", "kg", "kg", "kg", "l", "kg", "kg", "pack" };
	size_t k = i % 8;

	return snprintf(buf, size,
		"{\"item\":\"%s\",\"qty\":%" PRIu64 ",\"unit\":\"%s\",\"source\":\"donation drive %" PRIu64 "\","
		"\"shelf\":\"%c%" PRIu64 "\",\"by\":\"volunteer %" PRIu64 "\"}",
		items[k], 1 + i % 50, units[k], i, (char)('A' + i % 6), 1 + i % 12, 1 + i % 40);
}

void bench_random(uint64_t *state, uint8_t *out, size_t len)
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

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	if (remove(path) < 0)
		perror(path);
	return 0;
}

void bench_remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *bench_fs_name(const char *path)
{
	struct statfs sf;
	if (statfs(path, &sf) < 0)
		return "unknown";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53: return "ext2/3/4";
	case 0x01021994: return "tmpfs (fsync costs nothing)";
	case 0x58465342: return "xfs";
	case 0x9123683EUL: return "btrfs";
	case 0x794c7630: return "overlayfs";
	default: return "other";
	}
}

int raw_log_open(raw_log *log, const char *path, const char *synchronous)
{
	char pragmas[96];
	memset(log, 0, sizeof(*log));
	log->rng = 42;
	bench_random(&log->rng, log->device, sizeof(log->device));
	snprintf(pragmas, sizeof(pragmas), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;", synchronous);
	if (sqlite3_open_v2(path, &log->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    sqlite3_exec(log->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(log->db, baseline_schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(log->db, "BEGIN IMMEDIATE", -1, &log->begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(log->db, "COMMIT", -1, &log->commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(log->db,
		"INSERT INTO events(device, seq, hlc, type, payload, digest, prev, frontier, hash, sig)"
		" VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &log->insert, NULL) != SQLITE_OK) {
		fprintf(stderr, "raw SQLite: %s\n", log->db ? sqlite3_errmsg(log->db) : "out of memory");
		return -1;
	}
	return 0;
}

int raw_log_append(raw_log *log, uint64_t first, size_t n)
{
	char payload[BENCH_PAYLOAD_SIZE];
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
		int len = bench_payload(payload, sizeof(payload), first + j);
		log->hlc = wall > log->hlc ? wall : log->hlc + 1;
		bench_random(&log->rng, digest, sizeof(digest));
		bench_random(&log->rng, prev, sizeof(prev));
		bench_random(&log->rng, hash, sizeof(hash));
		sqlite3_bind_blob(log->insert, 1, log->device, 32, SQLITE_STATIC);
		sqlite3_bind_int64(log->insert, 2, (sqlite3_int64)++log->seq);
		sqlite3_bind_int64(log->insert, 3, (sqlite3_int64)log->hlc);
		sqlite3_bind_text(log->insert, 4, BENCH_TYPE, (int)strlen(BENCH_TYPE), SQLITE_STATIC);
		sqlite3_bind_blob(log->insert, 5, payload, len, SQLITE_STATIC);
		sqlite3_bind_blob(log->insert, 6, digest, 32, SQLITE_STATIC);
		sqlite3_bind_blob(log->insert, 7, prev, 32, SQLITE_STATIC);
		sqlite3_bind_blob(log->insert, 8, "", 0, SQLITE_STATIC);
		sqlite3_bind_blob(log->insert, 9, hash, 32, SQLITE_STATIC);
		if (j == n - 1) {
			bench_random(&log->rng, sig, sizeof(sig));
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

void raw_log_close(raw_log *log)
{
	sqlite3_finalize(log->insert);
	sqlite3_finalize(log->begin);
	sqlite3_finalize(log->commit);
	sqlite3_close(log->db);
	memset(log, 0, sizeof(*log));
}

int bench_entity_puts(mutual_store *s, uint64_t n)
{
	char id[32], fields[96];
	for (uint64_t i = 0; i < n; i += BENCH_PUT_BATCH) {
		mutual_batch *b = NULL;
		int rc = mutual_batch_new(&b, s);
		for (uint64_t k = i; rc == 0 && k < i + BENCH_PUT_BATCH && k < n; k++) {
			snprintf(id, sizeof(id), "item-%" PRIu64, k);
			snprintf(fields, sizeof(fields), "{\"shelf\":\"%c%u\",\"qty\":%u}", (char)('A' + k % 8),
				(unsigned)(k % 40), (unsigned)(k % 997));
			rc = mutual_batch_entity_put(b, "item", id, fields);
		}
		if (rc == 0)
			rc = mutual_batch_commit(NULL, b);
		mutual_batch_free(b);
		if (rc < 0)
			return rc;
	}
	return 0;
}
