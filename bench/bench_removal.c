/*
 * bench_removal.c - what a removal costs a group's devices.
 *
 * A removal changes what is refused, so the device that learns of it
 * rebuilds its projections once (project.c NOTES 8), and from then on
 * every event applied is checked against the removals held. In one run:
 *
 *  1. import: a device of another member writes N entity puts (batches of
 *     1,000); two stores of the group import them from one stick, one
 *     that holds a removal of an unrelated device and one that holds none
 *     (the baseline). The figure is the ratio of their import times.
 *  2. remove: on the store without a removal, removing the writer with its
 *     cut half-way (half its puts refused) against mutual_rebuild of the
 *     other store (the baseline: the same rebuild, nothing refused).
 *
 * Timings on a shared machine are noisy: the exit status is non-zero only
 * when something went wrong (or the refused half still shows), never for
 * a slow run.
 *
 * Usage: bench_removal [--events N]   (default 100000). Everything is
 * written under a mkdtemp folder in $TMPDIR (or /tmp), removed at the end.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "mutual.h"

#define DEFAULT_EVENTS 100000

static int fail(const char *what)
{
	fprintf(stderr, "bench_removal: %s: %s\n", what, mutual_error_last());
	return 1;
}

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int key_of(uint8_t out[MUTUAL_KEY_SIZE], mutual_store *s)
{
	return mutual_device_resolve(out, s, mutual_store_device_id(s));
}

static int sync_with(mutual_store *s, const char *stick)
{
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	return mutual_sync(&st, s, stick, NULL);
}

int main(int argc, char **argv)
{
	uint64_t events = DEFAULT_EVENTS;
	char tmpl[4096];
	const char *tmp = getenv("TMPDIR");
	mutual_store *office = NULL, *writer = NULL, *gone = NULL, *plain = NULL, *with = NULL;
	char *p_office = NULL, *p_writer = NULL, *p_gone = NULL, *p_plain = NULL, *p_with = NULL, *stick = NULL,
	     *side = NULL;
	uint8_t k_writer[MUTUAL_KEY_SIZE], k_gone[MUTUAL_KEY_SIZE];
	char *json = NULL;
	int status = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--events") == 0 && i + 1 < argc && atoll(argv[i + 1]) >= 2 * BENCH_PUT_BATCH) {
			events = (uint64_t)atoll(argv[++i]);
		} else {
			fprintf(stderr, "usage: bench_removal [--events N (>= %d)]\n", 2 * BENCH_PUT_BATCH);
			return 2;
		}
	}
	snprintf(tmpl, sizeof(tmpl), "%s/bench_removal.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl)) {
		perror("bench_removal: mkdtemp");
		return 1;
	}
	p_office = path_in(tmpl, "office");
	p_writer = path_in(tmpl, "writer");
	p_gone = path_in(tmpl, "gone");
	p_plain = path_in(tmpl, "plain");
	p_with = path_in(tmpl, "with");
	stick = path_in(tmpl, "stick");
	side = path_in(tmpl, "side");
	if (!p_office || !p_writer || !p_gone || !p_plain || !p_with || !stick || !side || mkdir(stick, 0700) < 0 ||
	    mkdir(side, 0700) < 0) {
		fprintf(stderr, "bench_removal: out of memory or cannot make the stick\n");
		goto done;
	}

	/* The group: office (a coordinator), the writer, a device to remove,
	 * and the two stores that import. */
	char *invite = NULL;
	if (mutual_store_create(&office, p_office, "bench", NULL) < 0 || mutual_invite_text(&invite, office) < 0 ||
	    mutual_store_join_text(&writer, p_writer, invite, NULL) < 0 ||
	    mutual_store_join_text(&gone, p_gone, invite, NULL) < 0 ||
	    mutual_store_join_text(&plain, p_plain, invite, NULL) < 0) {
		mutual_free(invite);
		status = fail("cannot make the group");
		goto done;
	}
	mutual_free(invite);
	mutual_store *all[] = { writer, gone, plain, office, plain };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (sync_with(all[i], stick) < 0) {
			status = fail("cannot sync the group");
			goto done;
		}
	if (key_of(k_gone, gone) < 0 || key_of(k_writer, writer) < 0) {
		status = fail("cannot read a key");
		goto done;
	}
	/* `with`: a store like `plain`, plus a removal it holds, carried on a
	 * stick of its own: on the main one `plain` would import it with the
	 * puts, and rebuild (the removal's cost, timed below). */
	if (mutual_device_remove(NULL, office, k_gone, MUTUAL_CUT_HELD) < 0 || sync_with(office, side) < 0) {
		status = fail("cannot remove");
		goto done;
	}
	mutual_store_free(plain);
	plain = NULL;
	{
		char *inv2 = NULL;
		int rc = mutual_invite_text(&inv2, office);
		if (rc == 0)
			rc = mutual_store_join_text(&with, p_with, inv2, NULL);
		mutual_free(inv2);
		if (rc < 0 || sync_with(with, side) < 0 || mutual_store_open(&plain, p_plain, 0) < 0) {
			status = fail("cannot make the importing stores");
			goto done;
		}
	}

	if (bench_entity_puts(writer, events) < 0 || sync_with(writer, stick) < 0) {
		status = fail("cannot write the puts");
		goto done;
	}

	double t = bench_now();
	if (sync_with(plain, stick) < 0) {
		status = fail("the baseline import failed");
		goto done;
	}
	double import_plain = bench_now() - t;
	t = bench_now();
	if (sync_with(with, stick) < 0) {
		status = fail("the import after a removal failed");
		goto done;
	}
	double import_with = bench_now() - t;

	/* Removing the writer half-way: the rebuild it needs, against a plain rebuild. */
	t = bench_now();
	if (mutual_rebuild(with) < 0) {
		status = fail("the baseline rebuild failed");
		goto done;
	}
	double rebuild = bench_now() - t;
	/* plain is no coordinator: the office's removal, synced to it, is what
	 * makes it rebuild; so time the office's own removal (it holds the
	 * same events once synced). */
	if (sync_with(office, stick) < 0) {
		status = fail("cannot bring the office up to date");
		goto done;
	}
	uint64_t half = 1 + events / 2; /* its join, then half its puts */
	t = bench_now();
	if (mutual_device_remove(NULL, office, k_writer, half) < 0) {
		status = fail("the removal failed");
		goto done;
	}
	double removal = bench_now() - t;

	/* The refused half shows nowhere on the office. */
	char last[32];
	snprintf(last, sizeof(last), "item-%" PRIu64, events - 1);
	int rc = mutual_state_json(&json, office, "item", last);
	if (rc == 0 && json && strstr(json, "\"qty\"")) {
		fprintf(stderr, "bench_removal: a refused put still shows: %s\n", json);
		goto done;
	}

	printf("bench_removal: %" PRIu64 " entity puts by one device, on %s\n", events, bench_fs_name(tmpl));
	printf("  import, no removal held:       %8.2f s  (%.0f events/s)\n", import_plain,
		bench_rate(events, import_plain));
	printf("  import, a removal held:        %8.2f s  (%.0f events/s)  ratio %.2fx\n", import_with,
		bench_rate(events, import_with), import_with / import_plain);
	printf("  mutual_rebuild (baseline):     %8.2f s\n", rebuild);
	printf("  removing the writer half-way:  %8.2f s  ratio %.2fx of the rebuild (half its puts refused:"
	       " less to apply)\n", removal, removal / rebuild);
	status = 0;
done:
	mutual_free(json);
	mutual_store_free(office);
	mutual_store_free(writer);
	mutual_store_free(gone);
	mutual_store_free(plain);
	mutual_store_free(with);
	bench_remove_tree(tmpl);
	free(p_office);
	free(p_writer);
	free(p_gone);
	free(p_plain);
	free(p_with);
	free(stick);
	free(side);
	return status;
}
