/*
 * bench_rotation.c - what rotating the group key costs.
 *
 *  1. rotate: in groups of 8, 32 and 128 devices, the coordinator's
 *     mutual_key_rotate (the new key sealed to every other device), its
 *     sync, and the bytes the rotation adds: its event's payload, zlib'd
 *     as its segment carries it (level 6), and what the stick's folder
 *     grew by, against the same sync carrying one ordinary put (the
 *     baseline, measured in the same group just before; git's objects
 *     and packs make this figure coarse). Next to them, the DCGKA
 *     evaluation's bytes per removal (trvedata/key-agreement) for the
 *     same group sizes.
 *  2. import: N entity puts written after a rotation, imported by another
 *     device of the group, against the same N puts in a group that never
 *     rotated (the baseline). The figure is the ratio of the import times.
 *
 * Timings on a shared machine are noisy: the exit status is non-zero only
 * when something went wrong (a device that cannot open the rotated log, a
 * put that does not arrive), never for a slow run.
 *
 * Usage: bench_rotation [--events N]   (default 100000). Everything is
 * written under a mkdtemp folder in $TMPDIR (or /tmp), removed at the end.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "bench_util.h"
#include "mutual.h"

#define DEFAULT_EVENTS 100000
#define GROUPS 3

static const unsigned group_sizes[GROUPS] = { 8, 32, 128 };
/* DCGKA's bytes on the wire for one removal, by group size (the figures
 * the issue quotes from trvedata/key-agreement's evaluation). */
static const unsigned dcgka_bytes[GROUPS] = { 2105, 9738, 40269 };

static int fail(const char *what)
{
	fprintf(stderr, "bench_rotation: %s: %s\n", what, mutual_error_last());
	return 1;
}

static uint64_t tree_bytes;

static int add_size(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		tree_bytes += (uint64_t)st->st_size;
	return 0;
}

/* Bytes of the files under `dir`: what a stick holds. */
static uint64_t dir_bytes(const char *dir)
{
	tree_bytes = 0;
	nftw(dir, add_size, 16, FTW_PHYS);
	return tree_bytes;
}

static int sync_with(mutual_store *s, const char *stick)
{
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	return mutual_sync(&st, s, stick, NULL);
}

/* A group of `n` devices under `dir` that have all met on `stick`: s[0] the
 * founder (the coordinator), the others joined. */
static int make_group(mutual_store **s, unsigned n, const char *dir, const char *stick)
{
	char *invite = NULL, name[4400];
	int rc;
	snprintf(name, sizeof(name), "%s/d0", dir);
	if ((rc = mutual_store_create(&s[0], name, "bench", NULL)) < 0 || (rc = mutual_invite_text(&invite, s[0])) < 0)
		return rc;
	for (unsigned i = 1; rc == 0 && i < n; i++) {
		snprintf(name, sizeof(name), "%s/d%u", dir, i);
		if ((rc = mutual_store_join_text(&s[i], name, invite, NULL)) == 0)
			rc = sync_with(s[i], stick);
	}
	mutual_free(invite);
	if (rc == 0)
		rc = sync_with(s[0], stick);
	return rc;
}

static void free_group(mutual_store **s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		mutual_store_free(s[i]);
}

/* Part 1: one group of `n`; 0, or 1 on a failure. */
static int rotate_in_group(const char *tmpl, unsigned g)
{
	unsigned n = group_sizes[g];
	mutual_store *s[128] = { 0 };
	char dir[4200], stick[4300], *json = NULL;
	int status = 1;

	snprintf(dir, sizeof(dir), "%s/g%u", tmpl, n);
	snprintf(stick, sizeof(stick), "%s/stick", dir);
	if (mkdir(dir, 0700) < 0 || mkdir(stick, 0700) < 0)
		return fail("cannot make the group's folders");
	if (make_group(s, n, dir, stick) < 0) {
		status = fail("cannot make the group");
		goto done;
	}
	/* The baseline: one ordinary put, synced. */
	uint64_t before = dir_bytes(stick);
	double t = bench_now();
	if (mutual_entity_put(NULL, s[0], "item", "rice", "{\"kg\":5}") < 0 || sync_with(s[0], stick) < 0) {
		status = fail("the baseline put failed");
		goto done;
	}
	double put_time = bench_now() - t;
	uint64_t put_bytes = dir_bytes(stick) - before;

	before = dir_bytes(stick);
	mutual_event_id id;
	t = bench_now();
	if (mutual_key_rotate(&id, s[0]) < 0) {
		status = fail("the rotation failed");
		goto done;
	}
	double rotate_time = bench_now() - t;
	/* The payload, and zlib's form of it: what its segment carries. */
	mutual_event *ev = NULL;
	if (mutual_event_lookup(&ev, s[0], &id) < 0) {
		status = fail("cannot read the rotation back");
		goto done;
	}
	size_t payload = mutual_event_payload_len(ev);
	uLongf zlen = compressBound((uLong)payload);
	Bytef *z = malloc(zlen);
	int zrc = z ? compress2(z, &zlen, (const Bytef *)mutual_event_payload(ev), (uLong)payload, 6) : Z_MEM_ERROR;
	free(z);
	mutual_event_free(ev);
	if (zrc != Z_OK) {
		fprintf(stderr, "bench_rotation: cannot compress the payload\n");
		goto done;
	}
	t = bench_now();
	if (sync_with(s[0], stick) < 0) {
		status = fail("the rotation's sync failed");
		goto done;
	}
	double rotate_sync = bench_now() - t;
	uint64_t rotate_bytes = dir_bytes(stick) - before;

	/* The last device takes the key and what it writes reaches the
	 * coordinator: the rotation worked end to end. */
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	if (sync_with(s[n - 1], stick) < 0 || mutual_entity_put(NULL, s[n - 1], "item", "beans", "{\"kg\":2}") < 0 ||
	    mutual_sync(&st, s[n - 1], stick, NULL) < 0 || st.own_events_waiting != 0 || sync_with(s[0], stick) < 0 ||
	    mutual_state_json(&json, s[0], "item", "beans") < 0) {
		status = fail("a device did not seal with the new key");
		goto done;
	}
	printf("  %3u devices: rotate %5.1f ms, its sync %5.1f ms (a put's %5.1f ms); payload %6zu B, zlib'd %6lu B"
	       " (%5.1f B per other device); DCGKA %6u B: %.2fx; the stick grew %6" PRIu64 " B (a put's sync %"
	       PRIu64 " B)\n",
		n, rotate_time * 1e3, rotate_sync * 1e3, put_time * 1e3, payload, (unsigned long)zlen,
		(double)zlen / (n - 1), dcgka_bytes[g], (double)zlen / dcgka_bytes[g], rotate_bytes, put_bytes);
	status = 0;
done:
	mutual_free(json);
	free_group(s, n);
	return status;
}

/* Part 2: `events` puts by a writer, imported by a reader, in a group
 * that rotated before the puts (`rotated`) or never; the import's time. */
static int import_after(double *seconds, const char *tmpl, const char *name, int rotated, uint64_t events)
{
	mutual_store *s[3] = { 0 };
	char dir[4200], stick[4300], last[32], *json = NULL;
	int status = 1;

	snprintf(dir, sizeof(dir), "%s/%s", tmpl, name);
	snprintf(stick, sizeof(stick), "%s/stick", dir);
	if (mkdir(dir, 0700) < 0 || mkdir(stick, 0700) < 0)
		return fail("cannot make the group's folders");
	if (make_group(s, 3, dir, stick) < 0 || sync_with(s[1], stick) < 0 || sync_with(s[2], stick) < 0) {
		status = fail("cannot make the group");
		goto done;
	}
	if (rotated && (mutual_key_rotate(NULL, s[0]) < 0 || sync_with(s[0], stick) < 0 || sync_with(s[1], stick) < 0 ||
			       sync_with(s[2], stick) < 0)) {
		status = fail("cannot rotate");
		goto done;
	}
	if (bench_entity_puts(s[1], events) < 0 || sync_with(s[1], stick) < 0) {
		status = fail("cannot write the puts");
		goto done;
	}
	double t = bench_now();
	if (sync_with(s[2], stick) < 0) {
		status = fail("the import failed");
		goto done;
	}
	*seconds = bench_now() - t;
	snprintf(last, sizeof(last), "item-%" PRIu64, events - 1);
	if (mutual_state_json(&json, s[2], "item", last) < 0 || !strstr(json, "\"qty\"")) {
		status = fail("the last put did not arrive");
		goto done;
	}
	status = 0;
done:
	mutual_free(json);
	free_group(s, 3);
	return status;
}

int main(int argc, char **argv)
{
	uint64_t events = DEFAULT_EVENTS;
	char tmpl[4096];
	const char *tmp = getenv("TMPDIR");
	double plain = 0, rotated = 0;
	int status = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--events") == 0 && i + 1 < argc && atoll(argv[i + 1]) >= BENCH_PUT_BATCH) {
			events = (uint64_t)atoll(argv[++i]);
		} else {
			fprintf(stderr, "usage: bench_rotation [--events N (>= %d)]\n", BENCH_PUT_BATCH);
			return 2;
		}
	}
	snprintf(tmpl, sizeof(tmpl), "%s/bench_rotation.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl)) {
		perror("bench_rotation: mkdtemp");
		return 1;
	}
	printf("bench_rotation: on %s\n", bench_fs_name(tmpl));
	for (unsigned g = 0; g < GROUPS; g++)
		if (rotate_in_group(tmpl, g) != 0)
			goto done;
	if (import_after(&plain, tmpl, "plain", 0, events) != 0 || import_after(&rotated, tmpl, "rotated", 1, events) != 0)
		goto done;
	printf("  import of %" PRIu64 " puts, no rotation:    %8.2f s  (%.0f events/s)\n", events, plain,
		bench_rate(events, plain));
	printf("  import of %" PRIu64 " puts, after one:      %8.2f s  (%.0f events/s)  ratio %.2fx\n", events,
		rotated, bench_rate(events, rotated), rotated / plain);
	status = 0;
done:
	bench_remove_tree(tmpl);
	return status;
}
