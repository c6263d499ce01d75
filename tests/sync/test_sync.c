/*
 * test_sync.c - mutual_sync through the API: figures, cancelling from the
 * progress callback, refusals, and a fork settled the same way on every
 * device, then recovered without losing an event. The black-box scenarios
 * (stock git, servers, killed syncs) are in test_sync.py and
 * test_sync_servers.py.
 */
#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"


static const char *stick(void)
{
	const char *p = tmp_path("stick");
	mkdir(p, 0700);
	return p;
}

static void append_n(mutual_store *s, int n, const char *tag)
{
	for (int i = 0; i < n; i++) {
		char p[64];
		snprintf(p, sizeof(p), "{\"tag\":\"%s\",\"i\":%d}", tag, i);
		CHECK_OK(mutual_append(NULL, s, "fund.pledge", p));
	}
}

typedef struct {
	uint64_t events, quarantined;
} tally;

static tally count(mutual_store *s)
{
	mutual_iter *it;
	const mutual_event *ev;
	tally t = { 0, 0 };
	int rc;
	CHECK_OK(mutual_iter_new(&it, s, NULL));
	while ((rc = mutual_iter_next(&ev, it)) == 0) {
		t.events++;
		t.quarantined += (uint64_t)mutual_event_quarantined(ev);
	}
	CHECK_RC(rc, MUTUAL_ITEROVER);
	mutual_iter_free(it);
	return t;
}

static void test_round_trip_figures(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_join(a, "b", "beta");
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;

	append_n(a, 25, "a");
	CHECK_OK(mutual_sync(&st, a, stick(), NULL));
	CHECK(st.events_sent == 26 && st.segments_sent == 1 && st.events_received == 0);
	CHECK(st.objects_sent == 3 && st.safe_to_remove);
	CHECK_OK(mutual_sync(&st, b, stick(), NULL));
	CHECK(st.events_received == 26 && st.devices_updated == 1 && st.segments_opened == 1);
	CHECK(st.events_sent == 1); /* b's own join event */
	CHECK_OK(mutual_sync(&st, a, stick(), NULL));
	CHECK(st.events_received == 1 && st.events_sent == 0);
	CHECK(count(a).events == 27 && count(b).events == 27);
	/* Nothing new: nothing moves, nothing is opened. */
	CHECK_OK(mutual_sync(&st, b, stick(), NULL));
	CHECK(st.events_received == 0 && st.events_sent == 0 && st.segments_opened == 0 && st.objects_sent == 0);
	CHECK_OK(mutual_verify(NULL, b));
	mutual_store_free(a);
	mutual_store_free(b);
}

static int cancel_at_import(const mutual_sync_progress *p, void *payload)
{
	int *calls = payload;
	(*calls)++;
	return p->phase == MUTUAL_SYNC_IMPORTING;
}

static void test_cancel(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_join(a, "b", "beta");
	mutual_sync_options opts = MUTUAL_SYNC_OPTIONS_INIT;
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	int calls = 0;

	append_n(a, 2500, "a"); /* three segments */
	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	opts.progress = cancel_at_import;
	opts.progress_payload = &calls;
	CHECK_RC(mutual_sync(&st, b, stick(), &opts), MUTUAL_ECANCELLED);
	CHECK(calls > 0 && !st.safe_to_remove);
	/* What was imported before the cancel is whole; the rest comes next time. */
	CHECK_OK(mutual_verify(NULL, b));
	CHECK(count(b).events < 2502);
	CHECK_OK(mutual_sync(&st, b, stick(), NULL));
	CHECK(count(b).events == 2502);
	CHECK_OK(mutual_verify(NULL, b));
	mutual_store_free(a);
	mutual_store_free(b);
}

static void test_refusals_and_targets(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *other = check_store_create("o", "other");
	mutual_sync_options opts = MUTUAL_SYNC_OPTIONS_INIT;
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;

	CHECK_RC(mutual_sync(&st, a, tmp_path("no-such-stick"), NULL), MUTUAL_ENOTFOUND);
	CHECK(strstr(mutual_error_last(), "mounted"));
	CHECK_RC(mutual_sync(&st, a, "", NULL), MUTUAL_EINVALID);
	opts.version = 42;
	CHECK_RC(mutual_sync(&st, a, stick(), &opts), MUTUAL_EINVALID);
	/* Two groups on one stick: separate repositories, nothing crosses. */
	CHECK_OK(mutual_sync(&st, a, stick(), NULL));
	CHECK_OK(mutual_sync(&st, other, stick(), NULL));
	CHECK(st.events_received == 0);
	CHECK(count(other).events == 1);
	mutual_store_free(a);
	CHECK_OK(mutual_store_open(&a, tmp_path("a"), MUTUAL_OPEN_READONLY));
	CHECK_RC(mutual_sync(&st, a, stick(), NULL), MUTUAL_EREADONLY);
	mutual_store_free(a);
	mutual_store_free(other);
}

typedef struct {
	int refusals;
	char last[512];
} refusal_log;

static void on_refusal(const char *device, const char *reason, void *payload)
{
	refusal_log *log = payload;
	log->refusals++;
	snprintf(log->last, sizeof(log->last), "%.16s %s", device, reason);
}

/* Copy a store folder, as restoring one backup onto a second machine would. */
static void copy_store(const char *from, const char *to)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", tmp_path(from), tmp_path(to));
	CHECK(system(cmd) == 0);
}

static void test_fork_and_recover(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *c = check_store_join(a, "c", "carol"), *d = check_store_join(a, "d", "dana"), *a2;
	mutual_sync_options opts = MUTUAL_SYNC_OPTIONS_INIT;
	refusal_log log = { 0, "" };
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	uint64_t n = 0;
	tally tc, td;

	append_n(a, 3, "before");
	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	mutual_store_free(a);
	copy_store("a", "a2");
	CHECK_OK(mutual_store_open(&a, tmp_path("a"), 0));
	CHECK_OK(mutual_store_open(&a2, tmp_path("a2"), 0));
	append_n(a, 1, "branch-a");
	CHECK_OK(mutual_counter_add(NULL, a, "pledged", "5"));
	append_n(a2, 3, "branch-a2");
	CHECK_OK(mutual_counter_add(NULL, a2, "pledged", "7.5"));

	/* c meets branch a first, d meets branch a2 first ... */
	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, c, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, a2, tmp_path("a2-bundle.bundle"), NULL));
	CHECK_OK(mutual_sync(NULL, d, tmp_path("a2-bundle.bundle"), NULL));
	CHECK_OK(mutual_sync(NULL, d, tmp_path("d.bundle"), NULL)); /* d's own, for later */
	/* ... then the branches meet on the stick: the fork is proven. */
	opts.refusal = on_refusal;
	opts.refusal_payload = &log;
	CHECK_RC(mutual_sync(&st, a2, stick(), &opts), MUTUAL_EREFUSED);
	CHECK(log.refusals == 1 && strstr(log.last, "two different logs") && st.forks_found == 1);
	CHECK_RC(mutual_append(NULL, a2, "fund.pledge", "{}"), MUTUAL_EFORK);
	/* The proof travels: c and d make the same cut, whatever they held. */
	CHECK_OK(mutual_sync(&st, c, stick(), NULL));
	CHECK(st.forks_found == 1);
	CHECK_OK(mutual_sync(&st, d, stick(), NULL));
	CHECK(st.forks_found == 1);
	CHECK_OK(mutual_sync(&st, a, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, c, stick(), NULL)); /* c meets d's own events */
	tc = count(c);
	td = count(d);
	/* Applied (not quarantined) events are the same on both, and so is
	 * the state: neither branch's pledge counts. */
	CHECK(tc.events - tc.quarantined == td.events - td.quarantined);
	CHECK(tc.quarantined == 2 && td.quarantined == 4);
	{
		uint8_t dc[32], dd[32];
		char *counters = NULL;
		CHECK_OK(mutual_state_digest(dc, c));
		CHECK_OK(mutual_state_digest(dd, d));
		CHECK(memcmp(dc, dd, 32) == 0);
		CHECK_OK(mutual_counters_json(&counters, c, NULL));
		CHECK(strcmp(counters, "{}") == 0);
		mutual_free(counters);
	}
	CHECK_RC(mutual_append(NULL, a, "fund.pledge", "{}"), MUTUAL_EFORK);

	/* Both owners recover; every event of both branches survives. */
	CHECK_RC(mutual_store_recover(&n, c), MUTUAL_EINVALID);
	CHECK_OK(mutual_store_recover(&n, a));
	CHECK(n == 2);
	CHECK_OK(mutual_store_recover(&n, a2));
	CHECK(n == 4);
	CHECK_OK(mutual_append(NULL, a, "fund.pledge", "{\"after\":\"recover\"}"));
	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, a2, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, c, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, d, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, c, stick(), NULL));
	tc = count(c);
	td = count(d);
	CHECK(tc.events - tc.quarantined == td.events - td.quarantined);
	/* 2 + 4 re-appended, 2 new joins, 1 new event. */
	CHECK(tc.events - tc.quarantined == 1 + 1 + 1 + 3 + 2 + 4 + 2 + 1);
	{
		char *counters = NULL;
		CHECK_OK(mutual_counters_json(&counters, d, NULL));
		CHECK(strcmp(counters, "{\"pledged\":12.5}") == 0); /* both branches' pledges, once each */
		mutual_free(counters);
	}
	CHECK_OK(mutual_verify(NULL, c));
	CHECK_OK(mutual_verify(NULL, d));
	mutual_store_free(a);
	mutual_store_free(a2);
	mutual_store_free(c);
	mutual_store_free(d);
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "command failed: %s\n", cmd);
		exit(1);
	}
}

static void test_foreign_owner_stick(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_join(a, "b", "beta");
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;

	append_n(a, 3, "a");
	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	/* Another user's files on a stick could be links planted for us: the
	 * sync refuses the stick and writes nothing (as git's safe.directory). */
	run("chown -R 65534:65534 '%s'%s", tmp_path("stick"), "");
	CHECK_RC(mutual_sync(&st, b, stick(), NULL), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "another user") && !st.safe_to_remove && st.events_received == 0);
	run("test -z \"$(find '%s' ! -user 65534)\"%s", tmp_path("stick"), "");
	/* Mounted as this user, it syncs. */
	run("chown -R 0:0 '%s'%s", tmp_path("stick"), "");
	CHECK_OK(mutual_sync(&st, b, stick(), NULL));
	CHECK(st.events_received == 4 && st.safe_to_remove);
	mutual_store_free(a);
	mutual_store_free(b);
}

/* Stock git with an identity of its own: a fresh machine has none. */
#define GIT_ID "GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@invalid GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@invalid "

static void test_newer_format_unauthenticated(void)
{
	mutual_store *a = check_store_create("a", "alpha");
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	char repo[4096], repo2[4096];

	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	snprintf(repo, sizeof(repo), "%s/mutual-%s.git", tmp_path("stick"), mutual_store_group_id(a));
	/* A ref of a newer format whose object does not authenticate with the
	 * group key (any stranger can write one): neither kept nor passed on. */
	run("set -e; cd '%s'; b=$(head -c 1000000 /dev/urandom | git hash-object -w --stdin); "
	    "t=$(printf '100644 blob %%s\\tsegment\\n' $b | git mktree); c=$(" GIT_ID "git commit-tree -m junk $t); "
	    "git update-ref refs/mutual/v2/devices/abc $c%s", repo, "");
	CHECK_RC(mutual_sync(&st, a, stick(), NULL), MUTUAL_EREFUSED);
	CHECK(st.newer_format == 0 && st.refused == 1 && strstr(st.first_refusal, "refs/mutual/v2/devices/abc"));
	mkdir(tmp_path("stick2"), 0700);
	CHECK_OK(mutual_sync(&st, a, tmp_path("stick2"), NULL));
	snprintf(repo2, sizeof(repo2), "%s/mutual-%s.git", tmp_path("stick2"), mutual_store_group_id(a));
	run("! git -C '%s' rev-parse -q --verify refs/mutual/v2/devices/abc%s", repo2, "");
	run("test \"$(git -C '%s' count-objects -v | grep -c '^size-pack: [0-9]\\{3,\\}')\" = 0%s", repo2, "");
	mutual_store_free(a);
}

#ifdef MUTUAL_TEST_HOOKS
/* One sync takes at most MUTUAL_IMPORT_SEGMENTS_MAX segments of a device,
 * the oldest first; the next goes on (here the cap is 10, through the
 * test-build hook). */
static void test_import_cap_goes_on(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_join(a, "b", "beta");
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	uint64_t got = 0;
	int syncs = 0;

	for (int i = 0; i < 25; i++) { /* 25 one-event segments, and the first one */
		append_n(a, 1, "a");
		CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	}
	CHECK(setenv("MUTUAL_TEST_IMPORT_SEGMENTS_MAX", "10", 1) == 0);
	do {
		CHECK_OK(mutual_sync(&st, b, stick(), NULL));
		CHECK(st.segments_received <= 10 && (st.segments_received > 0 || got == 26));
		got += st.events_received;
		syncs++;
	} while (st.segments_received > 0);
	unsetenv("MUTUAL_TEST_IMPORT_SEGMENTS_MAX");
	CHECK(got == 26 && syncs == 4); /* 10, 10, 6, then nothing new */
	CHECK_OK(mutual_verify(NULL, b));
	mutual_store_free(a);
	mutual_store_free(b);
}
#endif

static void test_full_stick(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_join(a, "b", "beta");
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	char pad[40000 + 32];

	/* Random text does not compress: 5 events of 40 KB overflow 128 KB. */
	for (int i = 0; i < 5; i++) {
		size_t n = strlen(strcpy(pad, "{\"pad\":\""));
		for (int k = 0; k < 40000; k++)
			pad[n++] = "abcdefghijklmnopqrstuvwxyz234567"[rand() % 32];
		strcpy(pad + n, "\"}");
		CHECK_OK(mutual_append(NULL, a, "fund.scan", pad));
	}
	mkdir(tmp_path("small"), 0700);
	run("mount -t tmpfs -o size=128k tmpfs '%s'%s", tmp_path("small"), "");
	CHECK_RC(mutual_sync(&st, a, tmp_path("small"), NULL), MUTUAL_ERROR);
	CHECK(strstr(mutual_error_last(), "full") && !st.safe_to_remove);
	CHECK_OK(mutual_verify(NULL, a));
	run("umount '%s'%s", tmp_path("small"), "");
	/* A roomier stick then takes everything. */
	CHECK_OK(mutual_sync(&st, a, tmp_path("small"), NULL));
	CHECK(st.events_sent == 6);
	CHECK_OK(mutual_sync(&st, b, tmp_path("small"), NULL));
	CHECK(st.events_received == 6);
	mutual_store_free(a);
	mutual_store_free(b);
}

static int count_packs(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	CHECK(d != NULL);
	while ((e = readdir(d)))
		n += strlen(e->d_name) > 5 && strcmp(e->d_name + strlen(e->d_name) - 5, ".pack") == 0;
	closedir(d);
	return n;
}

static void test_packs_stay_few(void)
{
	mutual_store *a = check_store_create("a", "alpha");
	char packs[4096];
	int most = 0;

	snprintf(packs, sizeof(packs), "%s/mutual-%s.git/objects/pack", stick(), mutual_store_group_id(a));
	/* Each sync writes a pack; consolidation keeps them logarithmic. */
	for (int i = 0; i < 64; i++) {
		int n;
		append_n(a, 1, "a");
		CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
		n = count_packs(packs);
		most = n > most ? n : most;
	}
	CHECK(most <= 8);
	CHECK_OK(mutual_verify(NULL, a));
	mutual_store_free(a);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "round_trip_figures", test_round_trip_figures },
		{ "cancel", test_cancel },
		{ "refusals_and_targets", test_refusals_and_targets },
		{ "fork_and_recover", test_fork_and_recover },
		{ "foreign_owner_stick", test_foreign_owner_stick },
		{ "newer_format_unauthenticated", test_newer_format_unauthenticated },
#ifdef MUTUAL_TEST_HOOKS
		{ "import_cap_goes_on", test_import_cap_goes_on },
#endif
		{ "full_stick", test_full_stick },
		{ "packs_stay_few", test_packs_stay_few },
	};
	return run_cases(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
