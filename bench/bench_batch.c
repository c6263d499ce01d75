/*
 * bench_batch.c - entity puts one by one against puts in a mutual_batch.
 *
 * One mutual_entity_put is one transaction and one fsync (WAL with
 * synchronous=FULL), so a script or an import that writes many records
 * runs at the disk's fsync rate. A mutual_batch commits its entries as one
 * append: one fsync for all of them, the same projections kept. In one
 * run, on one fresh store: first puts one per transaction, then the same
 * kind of puts in batches of 1,000, then batches of pantry-style actions
 * (a put and a counter add each, half as many actions as puts); the
 * figures are puts (or events) per second and the batched/single ratio.
 * Timings on a shared machine are noisy: the exit status is non-zero only
 * when something went wrong, never for a slow run.
 *
 * Usage: bench_batch [--puts N]   (N batched puts, default 100000; N / 50
 * single ones). Everything is written under a mkdtemp folder in $TMPDIR
 * (or /tmp), removed at the end.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "mutual.h"

#define DEFAULT_PUTS 100000
#define BATCH 1000

/* Entity i's id and fields: a small pantry item, different for every i. */
static void item(char id[32], char fields[96], uint64_t i)
{
	snprintf(id, 32, "item-%" PRIu64, i);
	snprintf(fields, 96, "{\"shelf\":\"%c%u\",\"qty\":%u,\"unit\":\"kg\"}", (char)('A' + i % 8),
		(unsigned)(i % 40), (unsigned)(i % 997));
}

typedef struct {
	double single, batched, actions; /* puts/s, puts/s, events/s */
} rates;

static int run(rates *out, const char *dir, uint64_t single, uint64_t batched)
{
	mutual_store *store = NULL;
	mutual_batch *b = NULL;
	mutual_event_id id;
	char eid[32], fields[96];
	uint64_t i, last = 0, want;
	double t;
	int rc;

	if ((rc = mutual_store_create(&store, dir, "bench", NULL)) < 0 || (rc = mutual_batch_new(&b, store)) < 0)
		goto fail;

	t = bench_now();
	for (i = 0; i < single; i++) {
		item(eid, fields, i);
		if ((rc = mutual_entity_put(&id, store, "item", eid, fields)) < 0)
			goto fail;
		last = id.seq;
	}
	out->single = bench_rate(single, bench_now() - t);

	t = bench_now();
	for (i = 0; i < batched; i++) {
		item(eid, fields, single + i);
		if ((rc = mutual_batch_entity_put(b, "item", eid, fields)) < 0)
			goto fail;
		if (mutual_batch_count(b) == BATCH || i + 1 == batched) {
			size_t n = mutual_batch_count(b);
			if ((rc = mutual_batch_commit(&id, b)) < 0)
				goto fail;
			last = id.seq + n - 1;
		}
	}
	out->batched = bench_rate(batched, bench_now() - t);

	/* Pantry-style actions: the item's record and its stock counter. */
	t = bench_now();
	for (i = 0; i < batched / 2; i++) {
		item(eid, fields, i);
		if ((rc = mutual_batch_entity_put(b, "item", eid, fields)) < 0 ||
		    (rc = mutual_batch_counter_add(b, eid, "1.5")) < 0)
			goto fail;
		if (mutual_batch_count(b) == BATCH || i + 1 == batched / 2) {
			size_t n = mutual_batch_count(b);
			if ((rc = mutual_batch_commit(&id, b)) < 0)
				goto fail;
			last = id.seq + n - 1;
		}
	}
	out->actions = bench_rate(batched / 2 * 2, bench_now() - t);

	/* Seq 1 is the store's own mutual.group.create event. */
	want = 1 + single + batched + batched / 2 * 2;
	if (last != want) {
		fprintf(stderr, "bench_batch: the log ends at seq %" PRIu64 ", expected %" PRIu64 "\n", last, want);
		rc = MUTUAL_ERROR;
	}
	goto done;
fail:
	fprintf(stderr, "bench_batch: libmutual failed: %s\n", mutual_error_last());
done:
	mutual_batch_free(b);
	mutual_store_free(store);
	return rc;
}

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	char dir[4096] = "", path[4200];
	uint64_t puts = DEFAULT_PUTS, single;
	rates r = { 0, 0, 0 };
	int rc = 1;

	if (argc == 3 && strcmp(argv[1], "--puts") == 0) {
		char *end;
		puts = strtoull(argv[2], &end, 10);
		if (argv[2][0] < '0' || argv[2][0] > '9' || *end || puts < 2 || puts > 10000000) {
			fprintf(stderr, "bench_batch: --puts takes a number from 2 to 10000000\n");
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_batch [--puts N]   (default %d)\n", DEFAULT_PUTS);
		return 2;
	}
	single = puts / 50 ? puts / 50 : 1;

	if (!base || !*base)
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/bench_batch.XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror(dir);
		dir[0] = '\0';
		goto done;
	}
	printf("bench_batch: libmutual %s, in %s (%s)\n", mutual_version(), dir, bench_fs_name(dir));
	printf("%" PRIu64 " entity puts one per transaction, then %" PRIu64 " in batches of %d,"
		" then %" PRIu64 " actions of a put and a counter add in batches of %d events\n\n",
		single, puts, BATCH, puts / 2, BATCH);
	fflush(stdout);

	snprintf(path, sizeof(path), "%s/store", dir);
	if (run(&r, path, single, puts) < 0)
		goto done;
	printf("%-40s %14s\n", "mode", "per second");
	printf("%-40s %14.0f puts\n", "mutual_entity_put, one by one", r.single);
	printf("%-40s %14.0f puts\n", "mutual_batch_entity_put, 1000 a commit", r.batched);
	printf("%-40s %14.0f events\n", "put + counter add, 1000 events a commit", r.actions);
	printf("\nbatched / one by one: %.1fx\n", r.single > 0 ? r.batched / r.single : 0);
	rc = 0;
done:
	if (dir[0])
		bench_remove_tree(dir);
	return rc;
}
