/*
 * bench_util.h - what the benchmarks share: a clock, the pantry payloads
 * they append, stand-in random bytes, a work folder's cleanup, and the raw
 * SQLite baseline (the store's events table, without libmutual).
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "mutual.h"

#define BENCH_TYPE "pantry.stock.in"
#define BENCH_PAYLOAD_SIZE 160 /* room for the longest bench_payload() */

double bench_now(void); /* seconds, CLOCK_MONOTONIC */
double bench_rate(uint64_t n, double seconds);
/* Event i's payload: a small pantry record, different for every i. */
int bench_payload(char *buf, size_t size, uint64_t i);
/* splitmix64: cheap bytes standing in for digests, hashes and signatures. */
void bench_random(uint64_t *state, uint8_t *out, size_t len);
/* `n` entity puts by `s` (item-0 .., a shelf and a quantity each), in
 * mutual_batch commits of BENCH_PUT_BATCH: a member's day of stock-taking. */
#define BENCH_PUT_BATCH 1000
int bench_entity_puts(mutual_store *s, uint64_t n);
/* Remove a work folder and everything in it. */
void bench_remove_tree(const char *dir);
/* The file system a folder is on, for the reader of the figures. */
const char *bench_fs_name(const char *path);

/* A raw SQLite "device": an events table and index with the baseline's
 * fixed column set (bench_util.c, bench/README.md), the store's as of
 * schema 1. */
typedef struct {
	sqlite3 *db;
	sqlite3_stmt *insert, *begin, *commit;
	uint8_t device[32];
	uint64_t seq, hlc, rng;
} raw_log;

/* Open a new database at `path` in WAL mode with PRAGMA synchronous=`synchronous`. */
int raw_log_open(raw_log *log, const char *path, const char *synchronous);
/* Rows first .. first + n - 1 in one transaction, sized as events are. */
int raw_log_append(raw_log *log, uint64_t first, size_t n);
void raw_log_close(raw_log *log);

#endif
