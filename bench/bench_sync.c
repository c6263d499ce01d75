/*
 * bench_sync.c - how fast logs travel through a stick, next to stock git.
 *
 * Store A makes a group and appends N events (~100-byte JSON payloads of
 * type pantry.stock.in, batches of 1,000). Then, through stick folders
 * (fresh folders in the work dir):
 *
 *  - full sync, 3 times, each with a fresh stick and a fresh store B that
 *    joined from A's invite text: mutual_sync(A -> stick) (the first time
 *    export, sealing A's events into segments, then send, one pack into the
 *    stick's repository; later only send), then mutual_sync(B <- stick)
 *    (receive, decrypt and verify every segment, import N events into B's
 *    fresh store; as many syncs as 64 MiB a sync takes, timed together).
 *    Medians are reported;
 *  - incremental sync: A appends 10 events and syncs; B's sync of those 10
 *    events into a store that holds N is timed. 60 rounds (a month of syncs
 *    twice a day), so that what the library does now and then, such as
 *    consolidating packs, shows: median, mean and slowest are reported;
 *  - no-op sync: B syncs with nothing new anywhere (5 rounds, median).
 *
 * Baselines in the same run, interleaved with what they are compared to:
 * stock git, run as a child process with an argument vector (no shell),
 * fetching the stick repository's refs into a bare repository of its own
 * (`git init --bare`, then `git fetch STICK REFSPEC`, REFSPEC copying every
 * ref under refs/mutual/; the same fetch again after each incremental
 * round, and with nothing new), and raw SQLite inserting N rows of the same
 * size into a copy of the store's events table and index, in batches of
 * 1,000, with journal_mode=WAL and synchronous=FULL: the cost of merely
 * storing the rows. The goals:
 *
 *  - an incremental sync of 10 events takes at most 3x a no-op `git fetch`,
 *    and under 100 ms (both on the median; the slow rounds are counted);
 *  - a full import takes at most 3x (full `git fetch` + raw SQLite insert).
 *
 * It also prints the bytes per event on the stick (its repository's objects
 * folder / N) next to the zlib (level 6, one stream) size of the same N
 * payloads concatenated, and peak memory: the process's ru_maxrss after a
 * first run of N/10 events (its own stores, one import) and after the
 * N-event imports, the peak RSS of each import alone (Linux VmHWM, reset
 * through /proc/self/clear_refs just before it), and what the import added
 * to anonymous memory (the heap) and to file-backed pages (mapped packs and
 * databases), sampled from /proc/self/statm at each progress report of the
 * import. So a reader sees whether memory grows with the log.
 *
 * Timings on a shared machine are noisy, so a missed goal is reported, never
 * turned into a failure: the exit status is non-zero only when something
 * actually went wrong (a sync or git failed, or moved the wrong number of
 * events).
 *
 * Usage: bench_sync [--events N]   (default 100000). Everything is written
 * under a mkdtemp folder in $TMPDIR (or /tmp), removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <spawn.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bench_util.h"
#include "mutual.h"

extern char **environ;

#define DEFAULT_EVENTS 100000
#define BATCH 1000
#define REPEATS 3      /* full imports, each from a fresh stick into a fresh store; medians reported */
#define NEW_EVENTS 10  /* events of each incremental round */
#define INCR_ROUNDS 60 /* incremental rounds: a month of syncs twice a day; median, mean and max reported */
#define NOOP_ROUNDS 5  /* no-op rounds; median reported */
#define BENCH_PAYLOAD_SIZE 160 /* room for the longest payload bench_payload() writes */
#define REFSPEC "refs/mutual/*:refs/mutual/*"


/* One full import and its baselines. */
typedef struct {
	double send;      /* seconds: mutual_sync(A -> fresh stick) */
	double import;    /* seconds: mutual_sync(B <- stick), B fresh */
	double git;       /* seconds: git init --bare + git fetch of that stick */
	double raw;       /* seconds: raw SQLite insert of N rows */
	uint64_t opened;  /* segments B decrypted and verified */
	int syncs;        /* B's syncs of the full import */
	long before_kib;  /* RSS just before the import */
	long hwm_kib;     /* peak RSS (VmHWM) while B imported; -1 when unknown */
	long anon_kib;    /* growth of anonymous RSS during the import: sampled peak - before */
	long file_kib;    /* growth of file-backed RSS during the import: sampled peak - before */
} repetition;


static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of `n` timings (sorts them, so spread() can be used after). */
static double median(double *t, size_t n)
{
	qsort(t, n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static double mean(const double *t, size_t n)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += t[i];
	return n ? sum / n : 0;
}

/* ---------------------------------------------------------------- memory */

static long maxrss_kib(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); 0 on success. */
static int reset_peak(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC), rc = -1;
	if (fd >= 0) {
		rc = write(fd, "5", 1) == 1 ? 0 : -1;
		close(fd);
	}
	return rc;
}

/* VmHWM of this process in KiB, -1 when unknown. */
static long peak_since_reset(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Peaks of anonymous and file-backed RSS, sampled from /proc/self/statm. */
typedef struct {
	long anon_kib, file_kib;
} rss_peaks;

static void sample_rss(rss_peaks *peaks)
{
	static long page_kib;
	char buf[256];
	long size, resident, shared;
	ssize_t len;
	int fd;

	if (!page_kib)
		page_kib = sysconf(_SC_PAGESIZE) / 1024;
	if ((fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) < 0)
		return;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return;
	buf[len] = '\0';
	/* resident = anonymous + file-backed + shared memory; "shared" = the last two */
	if (sscanf(buf, "%ld %ld %ld", &size, &resident, &shared) != 3)
		return;
	if ((resident - shared) * page_kib > peaks->anon_kib)
		peaks->anon_kib = (resident - shared) * page_kib;
	if (shared * page_kib > peaks->file_kib)
		peaks->file_kib = shared * page_kib;
}

/* mutual_sync progress callback: sample memory, never cancel. */
static int on_progress(const mutual_sync_progress *progress, void *payload)
{
	(void)progress;
	sample_rss(payload);
	return 0;
}

/* ------------------------------------------------------------- file sizes */

static uint64_t walked_bytes;

static int add_size(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path, (void)ftw;
	if (flag == FTW_F)
		walked_bytes += (uint64_t)st->st_size;
	return 0;
}

/* Total size of the regular files under `dir`. */
static uint64_t tree_bytes(const char *dir)
{
	walked_bytes = 0;
	if (nftw(dir, add_size, 16, FTW_PHYS) < 0)
		perror(dir);
	return walked_bytes;
}

/* zlib (compress2, level 6, one stream) size of payloads 0 .. n - 1 concatenated; 0 on failure. */
static uint64_t zlib_bytes(uint64_t n, uint64_t *raw_out)
{
	char *all = malloc((size_t)n * BENCH_PAYLOAD_SIZE + 1);
	unsigned char *packed = NULL;
	size_t len = 0;
	uLongf packed_len;
	uint64_t result = 0;

	*raw_out = 0;
	if (!all)
		return 0;
	for (uint64_t i = 0; i < n; i++)
		len += (size_t)bench_payload(all + len, BENCH_PAYLOAD_SIZE, i);
	*raw_out = len;
	packed_len = compressBound((uLong)len);
	if ((packed = malloc(packed_len)) &&
	    compress2(packed, &packed_len, (const Bytef *)all, (uLong)len, 6) == Z_OK)
		result = packed_len;
	free(packed);
	free(all);
	return result;
}

/* ------------------------------------------------------------------- git */

/* Run `git argv...` with stdin from /dev/null and stdout + stderr into
 * `log`; time it. 0 when git exits 0, else -1 (its output is shown). */
static int run_git(double *seconds, const char *log, char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, rc;
	double t;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	t = bench_now();
	rc = posix_spawnp(&pid, "git", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "bench_sync: cannot run git: %s\n", strerror(rc));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("bench_sync: waitpid");
			return -1;
		}
	if (seconds)
		*seconds = bench_now() - t;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		FILE *f = fopen(log, "r");
		char line[512];
		fprintf(stderr, "bench_sync: git %s failed (status %d):\n", argv[1], status);
		while (f && fgets(line, sizeof(line), f))
			fprintf(stderr, "  %s", line);
		if (f)
			fclose(f);
		return -1;
	}
	return 0;
}

/* The first line git printed into `log`, into `out`. */
static void first_line(char *out, size_t size, const char *log)
{
	FILE *f = fopen(log, "r");
	out[0] = '\0';
	if (f) {
		if (fgets(out, (int)size, f))
			out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

/* ---------------------------------------------------------------- libmutual */

/* Append payloads first .. first + n - 1 to `store` in batches of BATCH. */
static int append_events(mutual_store *store, uint64_t first, uint64_t n)
{
	static char payloads[BATCH][BENCH_PAYLOAD_SIZE];
	mutual_append_entry entries[BATCH];

	for (uint64_t i = 0; i < n; i += BATCH) {
		size_t k = n - i < BATCH ? (size_t)(n - i) : BATCH;
		for (size_t j = 0; j < k; j++) {
			bench_payload(payloads[j], BENCH_PAYLOAD_SIZE, first + i + j);
			entries[j].type = BENCH_TYPE;
			entries[j].payload = payloads[j];
		}
		if (mutual_append_batch(NULL, store, entries, k) < 0) {
			fprintf(stderr, "bench_sync: append failed: %s\n", mutual_error_last());
			return -1;
		}
	}
	return 0;
}

/* mutual_sync(store, stick), timed; -1 (with the reason shown) unless it returns 0. */
static int timed_sync(double *seconds, mutual_sync_stats *stats, mutual_store *store, const char *stick,
	const mutual_sync_options *opts, const char *what)
{
	double t = bench_now();
	int rc = mutual_sync(stats, store, stick, opts);
	*seconds = bench_now() - t;
	if (rc != 0) {
		fprintf(stderr, "bench_sync: %s: mutual_sync returned %d: %s\n", what, rc, mutual_error_last());
		return -1;
	}
	return 0;
}

/* B's full import, timed: one sync per 64 MiB of the log (what one sync
 * takes from one device), each after the first going on where the last
 * stopped; `*syncs` counts them, `stats` sums what they received. */
static int timed_full_import(double *seconds, mutual_sync_stats *stats, int *syncs, mutual_store *store,
	const char *stick, const mutual_sync_options *opts)
{
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	double t = bench_now();
	int rc;

	memset(stats, 0, sizeof(*stats));
	*syncs = 0;
	do {
		rc = mutual_sync(&st, store, stick, opts);
		stats->events_received += st.events_received;
		stats->segments_opened += st.segments_opened;
		(*syncs)++;
	} while (rc == MUTUAL_EREFUSED && st.events_received > 0);
	*seconds = bench_now() - t;
	if (rc != 0) {
		fprintf(stderr, "bench_sync: B <- stick (full): mutual_sync returned %d: %s\n", rc, mutual_error_last());
		return -1;
	}
	return 0;
}

static int expect(const char *what, const char *field, uint64_t got, uint64_t want)
{
	if (got == want)
		return 0;
	fprintf(stderr, "bench_sync: %s: %s is %" PRIu64 ", expected %" PRIu64 "\n", what, field, got, want);
	return -1;
}

/* `dir` and store `dir`/a making a new group, with `n` events appended (timed). */
static int make_group(mutual_store **a, double *append_seconds, const char *dir, uint64_t n)
{
	char path[4200];
	double t;

	*a = NULL;
	if (mkdir(dir, 0700) < 0) {
		perror(dir);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/a", dir);
	if (mutual_store_create(a, path, "bench pantry", NULL) < 0) {
		fprintf(stderr, "bench_sync: cannot create store A: %s\n", mutual_error_last());
		return -1;
	}
	t = bench_now();
	if (append_events(*a, 0, n) < 0)
		return -1;
	*append_seconds = bench_now() - t;
	return 0;
}

static int raw_insert(double *seconds, const char *path, uint64_t n);

/*
 * Full import number `r` of A's `n` events: a fresh stick `dir`/stick-R, a
 * fresh store `dir`/b-R joined from A's invite, A -> stick then B <- stick,
 * timed. With `baselines`, then git init --bare `dir`/git-R.git + git fetch
 * of the stick, and raw SQLite into `dir`/raw-R.db, timed. B is left open
 * in *b when b is not NULL, else closed.
 */
static int import_pass(repetition *rep, mutual_store *a, mutual_store **b, const char *dir, int r, uint64_t n,
	int baselines)
{
	char stick[4200], path[4400], repo[4400];
	char *invite = NULL;
	mutual_store *store = NULL;
	mutual_sync_options opts = MUTUAL_SYNC_OPTIONS_INIT;
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	rss_peaks peaks = { 0, 0 }, before;
	int rc = -1, have_hwm;

	memset(rep, 0, sizeof(*rep));
	if (b)
		*b = NULL;
	snprintf(stick, sizeof(stick), "%s/stick-%d", dir, r);
	if (mkdir(stick, 0700) < 0) {
		perror(stick);
		return -1;
	}
	if (mutual_invite_text(&invite, a) < 0) {
		fprintf(stderr, "bench_sync: cannot make an invite: %s\n", mutual_error_last());
		return -1;
	}
	snprintf(path, sizeof(path), "%s/b-%d", dir, r);
	if (mutual_store_join_text(&store, path, invite, NULL) < 0) {
		fprintf(stderr, "bench_sync: store B cannot join: %s\n", mutual_error_last());
		goto done;
	}

	/* A's log on a fresh stick: its mutual.group.create event, then the n appended. */
	if (timed_sync(&rep->send, &st, a, stick, NULL, "A -> stick (full)") < 0 ||
	    expect("A -> stick (full)", "events_sent", st.events_sent, n + 1) < 0)
		goto done;
	opts.progress = on_progress;
	opts.progress_payload = &peaks;
	have_hwm = reset_peak() == 0;
	sample_rss(&peaks);
	before = peaks;
	rep->before_kib = peaks.anon_kib + peaks.file_kib;
	if (timed_full_import(&rep->import, &st, &rep->syncs, store, stick, &opts) < 0 ||
	    expect("B <- stick (full)", "events_received", st.events_received, n + 1) < 0)
		goto done;
	rep->hwm_kib = have_hwm ? peak_since_reset() : -1;
	rep->anon_kib = peaks.anon_kib - before.anon_kib;
	rep->file_kib = peaks.file_kib - before.file_kib;
	rep->opened = st.segments_opened;

	if (baselines) {
		char stick_repo[4400], log[4400];
		double t_init, t_fetch;
		snprintf(stick_repo, sizeof(stick_repo), "%s/mutual-%s.git", stick, mutual_store_group_id(a));
		snprintf(repo, sizeof(repo), "%s/git-%d.git", dir, r);
		snprintf(log, sizeof(log), "%s/git.log", dir);
		{
			char *const init[] = { "git", "init", "--quiet", "--bare", repo, NULL };
			char *const fetch[] = { "git", "-C", repo, "fetch", "--quiet", stick_repo, REFSPEC, NULL };
			if (run_git(&t_init, log, init) < 0 || run_git(&t_fetch, log, fetch) < 0)
				goto done;
		}
		rep->git = t_init + t_fetch;
		snprintf(path, sizeof(path), "%s/raw-%d.db", dir, r);
		if (raw_insert(&rep->raw, path, n) < 0)
			goto done;
	}
	rc = 0;
done:
	mutual_free(invite);
	if (b && rc == 0)
		*b = store;
	else
		mutual_store_free(store);
	return rc;
}

/* ---------------------------------------------------------------- raw SQLite */

/* N rows into a new database at `path` (WAL, synchronous=FULL), batches of BATCH; timed. */
static int raw_insert(double *seconds, const char *path, uint64_t n)
{
	raw_log log;
	double t;
	int rc = -1;

	t = bench_now();
	if (raw_log_open(&log, path, "FULL") < 0)
		goto done;
	for (uint64_t i = 0; i < n; i += BATCH)
		if (raw_log_append(&log, i, n - i < BATCH ? (size_t)(n - i) : BATCH) < 0)
			goto done;
	*seconds = bench_now() - t;
	rc = 0;
done:
	if (rc < 0)
		fprintf(stderr, "bench_sync: raw SQLite failed: %s\n", log.db ? sqlite3_errmsg(log.db) : "out of memory");
	raw_log_close(&log);
	return rc;
}

/* ------------------------------------------------------------------- main */

static void print_time(double seconds)
{
	if (seconds >= 1)
		printf("%9.2f s ", seconds);
	else
		printf("%9.1f ms", seconds * 1e3);
}

/* One row: what, time, events moved (0: none shown), and a note. */
static void row(const char *what, double seconds, uint64_t events, const char *note)
{
	printf("  %-44s ", what);
	print_time(seconds);
	if (events)
		printf(" %9" PRIu64 " %11.0f", events, bench_rate(events, seconds));
	else
		printf(" %9s %11s", "", "");
	printf("  %s\n", note ? note : "");
}

/* The range of `n` sorted timings, as a note. */
static void spread(char *out, size_t size, const double *t, size_t n)
{
	snprintf(out, size, "median of %zu (%.1f .. %.1f ms)", n, t[0] * 1e3, t[n - 1] * 1e3);
}

/* The median of the first `n` of `reps`' field at `offset`, and its range in `note`. */
static double rep_median(const repetition *reps, size_t n, size_t offset, char *note, size_t size)
{
	double t[REPEATS];
	for (size_t i = 0; i < n; i++)
		memcpy(&t[i], (const char *)&reps[i] + offset, sizeof(double));
	double m = median(t, n);
	spread(note, size, t, n);
	return m;
}

/* One row of the memory table: the run, then what `rep` measured of its import. */
static void print_memory(uint64_t events, const char *import, long maxrss, const repetition *rep)
{
	printf("  %9" PRIu64 " events %-12s %8ld KiB %11ld KiB %11ld KiB %10ld KiB %10ld KiB\n", events, import, maxrss,
		rep->before_kib, rep->hwm_kib, rep->anon_kib, rep->file_kib);
}

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	char dir[4096] = "", path[4400], stick[4200], stick_repo[4300], git_repo[4200], git_log[4200];
	char git_version[128], note[128], what[64];
	uint64_t events = DEFAULT_EVENTS, small_events, payload_bytes = 0, stick_bytes, zipped, raw_bytes;
	uint64_t store_b_bytes, git_bytes;
	mutual_store *a = NULL, *b = NULL;
	repetition small, reps[REPEATS];
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	long small_maxrss, full_maxrss;
	double t_small_append, t_append, t_a_incr[INCR_ROUNDS], t_b_incr[INCR_ROUNDS], t_git_incr[INCR_ROUNDS];
	double t_b_noop[NOOP_ROUNDS], t_git_noop[NOOP_ROUNDS];
	double import, git, raw, b_incr, git_noop, import_ratio, incr_ratio, m, a_incr_mean, b_incr_mean, git_incr_mean;
	int slow = 0, rc = 1;

	if (argc == 3 && strcmp(argv[1], "--events") == 0) {
		char *end;
		events = strtoull(argv[2], &end, 10);
		if (argv[2][0] < '0' || argv[2][0] > '9' || *end || events == 0 || events > 100000000) {
			fprintf(stderr, "bench_sync: --events takes a number from 1 to 100000000\n");
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_sync [--events N]   (default %d)\n", DEFAULT_EVENTS);
		return 2;
	}
	small_events = events / 10 ? events / 10 : 1;
	for (uint64_t i = 0; i < BATCH; i++) {
		char buf[BENCH_PAYLOAD_SIZE];
		payload_bytes += (uint64_t)bench_payload(buf, sizeof(buf), i);
	}

	if (!base || !*base)
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/bench_sync.XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror(dir);
		dir[0] = '\0';
		goto done;
	}
	snprintf(git_log, sizeof(git_log), "%s/git.log", dir);
	{
		char *const version[] = { "git", "--version", NULL };
		if (run_git(NULL, git_log, version) < 0)
			goto done;
		first_line(git_version, sizeof(git_version), git_log);
	}

	printf("bench_sync: libmutual %s, SQLite %s, zlib %s, %s\n", mutual_version(), sqlite3_libversion(),
		zlibVersion(), git_version);
	printf("work dir %s (%s)\n", dir, bench_fs_name(dir));
	printf("%" PRIu64 " events of type %s, JSON payloads of ~%" PRIu64 " bytes, appended in batches of %d;\n"
		"first a run of %" PRIu64 " events in stores of its own (memory), then %d full imports of %" PRIu64
		" events,\neach from a fresh stick into a fresh store, interleaved with the baselines\n\n",
		events, BENCH_TYPE, payload_bytes / BATCH, BATCH, small_events, REPEATS, events);
	fflush(stdout);

	/* 1. The small run first, in stores of its own: memory after N/10. */
	snprintf(path, sizeof(path), "%s/small", dir);
	if (make_group(&a, &t_small_append, path, small_events) < 0 ||
	    import_pass(&small, a, NULL, path, 0, small_events, 0) < 0)
		goto done;
	small_maxrss = maxrss_kib();
	mutual_store_free(a);
	a = NULL;
	printf("run of %" PRIu64 " events: B's import %.2f s, ru_maxrss %ld KiB\n", small_events, small.import,
		small_maxrss);
	fflush(stdout);

	/* 2. The full imports, each followed by its baselines. B of the first is kept. */
	snprintf(path, sizeof(path), "%s/full", dir);
	if (make_group(&a, &t_append, path, events) < 0)
		goto done;
	for (int r = 0; r < REPEATS; r++) {
		if (import_pass(&reps[r], a, r == 0 ? &b : NULL, path, r, events, 1) < 0)
			goto done;
		printf("import %d of %" PRIu64 " events: %.2f s; git init + fetch %.2f s; raw SQLite %.2f s\n", r + 1,
			events, reps[r].import, reps[r].git, reps[r].raw);
		fflush(stdout);
	}
	full_maxrss = maxrss_kib();
	snprintf(stick, sizeof(stick), "%s/full/stick-0", dir);
	snprintf(stick_repo, sizeof(stick_repo), "%s/mutual-%s.git", stick, mutual_store_group_id(a));
	snprintf(git_repo, sizeof(git_repo), "%s/full/git-0.git", dir);

	/* Sizes after the full sync (N events and B's join), of the first stick, its git copy and its store B. */
	snprintf(path, sizeof(path), "%s/objects", stick_repo);
	stick_bytes = tree_bytes(path);
	snprintf(path, sizeof(path), "%s/objects", git_repo);
	git_bytes = tree_bytes(path);
	snprintf(path, sizeof(path), "%s/full/b-0", dir);
	store_b_bytes = tree_bytes(path);
	zipped = zlib_bytes(events, &raw_bytes);

	/* 3. Incremental rounds: A appends and syncs, then B and git fetch the new segment. */
	for (int r = 0; r < INCR_ROUNDS; r++) {
		char *const fetch[] = { "git", "-C", git_repo, "fetch", "--quiet", stick_repo, REFSPEC, NULL };
		if (append_events(a, events + (uint64_t)r * NEW_EVENTS, NEW_EVENTS) < 0 ||
		    timed_sync(&t_a_incr[r], &st, a, stick, NULL, "A -> stick (incremental)") < 0 ||
		    expect("A -> stick (incremental)", "events_sent", st.events_sent, NEW_EVENTS) < 0 ||
		    timed_sync(&t_b_incr[r], &st, b, stick, NULL, "B <- stick (incremental)") < 0 ||
		    expect("B <- stick (incremental)", "events_received", st.events_received, NEW_EVENTS) < 0 ||
		    run_git(&t_git_incr[r], git_log, fetch) < 0)
			goto done;
	}
	/* 4. No-op rounds: nothing new anywhere. */
	for (int r = 0; r < NOOP_ROUNDS; r++) {
		char *const fetch[] = { "git", "-C", git_repo, "fetch", "--quiet", stick_repo, REFSPEC, NULL };
		if (timed_sync(&t_b_noop[r], &st, b, stick, NULL, "B <- stick (nothing new)") < 0 ||
		    expect("B <- stick (nothing new)", "events_received", st.events_received, 0) < 0 ||
		    expect("B <- stick (nothing new)", "events_sent", st.events_sent, 0) < 0 ||
		    run_git(&t_git_noop[r], git_log, fetch) < 0)
			goto done;
	}

	/* ------------------------------------------------------------ report */
	printf("\n  %-44s %12s %9s %11s\n", "step", "time", "events", "events/s");
	row("A: append (batches of 1000)", t_append, events, NULL);
	row("A -> stick, full (export + send)", reps[0].send, events + 1, NULL);
	if (REPEATS > 1) {
		m = rep_median(reps + 1, REPEATS - 1, offsetof(repetition, send), note, sizeof(note));
		row("A -> fresh stick, full (send only)", m, events + 1, note);
	}
	import = rep_median(reps, REPEATS, offsetof(repetition, import), note, sizeof(note));
	row("B <- stick, full (receive + verify + import)", import, events + 1, note);
	git = rep_median(reps, REPEATS, offsetof(repetition, git), note, sizeof(note));
	row("git init --bare + fetch, full", git, events, note);
	raw = rep_median(reps, REPEATS, offsetof(repetition, raw), note, sizeof(note));
	row("raw SQLite insert (WAL, synchronous=FULL)", raw, events, note);
	row("git fetch + raw SQLite insert (medians)", git + raw, events, NULL);
	a_incr_mean = mean(t_a_incr, INCR_ROUNDS);
	b_incr_mean = mean(t_b_incr, INCR_ROUNDS);
	git_incr_mean = mean(t_git_incr, INCR_ROUNDS);
	for (int r = 0; r < INCR_ROUNDS; r++)
		slow += t_b_incr[r] >= 0.1;
	m = median(t_a_incr, INCR_ROUNDS);
	spread(note, sizeof(note), t_a_incr, INCR_ROUNDS);
	snprintf(what, sizeof(what), "A -> stick, %d new events", NEW_EVENTS);
	row(what, m, NEW_EVENTS, note);
	b_incr = median(t_b_incr, INCR_ROUNDS);
	spread(note, sizeof(note), t_b_incr, INCR_ROUNDS);
	snprintf(what, sizeof(what), "B <- stick, %d new events (holds N)", NEW_EVENTS);
	row(what, b_incr, NEW_EVENTS, note);
	m = median(t_git_incr, INCR_ROUNDS);
	spread(note, sizeof(note), t_git_incr, INCR_ROUNDS);
	snprintf(what, sizeof(what), "git fetch, %d new events", NEW_EVENTS);
	row(what, m, NEW_EVENTS, note);
	m = median(t_b_noop, NOOP_ROUNDS);
	spread(note, sizeof(note), t_b_noop, NOOP_ROUNDS);
	row("B <- stick, nothing new", m, 0, note);
	git_noop = median(t_git_noop, NOOP_ROUNDS);
	spread(note, sizeof(note), t_git_noop, NOOP_ROUNDS);
	row("git fetch, nothing new", git_noop, 0, note);
	printf("  (means of the %d incremental rounds, slow ones included: A %.1f ms, B %.1f ms, git fetch %.1f ms;\n"
		"  B's sync took 100 ms or more in %d of them, the slowest %.1f ms)\n", INCR_ROUNDS, a_incr_mean * 1e3,
		b_incr_mean * 1e3, git_incr_mean * 1e3, slow, t_b_incr[INCR_ROUNDS - 1] * 1e3);
	printf("  (B opened %" PRIu64 " segments in each full import, in %d syncs)\n", reps[0].opened, reps[0].syncs);

	printf("\n  bytes per event, after the full sync\n");
	printf("  %-44s %9.1f  (%" PRIu64 " bytes)\n", "on the stick (repository objects / N)",
		(double)stick_bytes / events, stick_bytes);
	printf("  %-44s %9.1f  (%" PRIu64 " bytes)\n", "payloads, zlib -6 in one stream", (double)zipped / events,
		zipped);
	printf("  %-44s %9.1f  (%" PRIu64 " bytes)\n", "payloads, raw", (double)raw_bytes / events, raw_bytes);
	printf("  %-44s %9.1f  (%" PRIu64 " bytes)\n", "git's copy of the stick (objects / N)",
		(double)git_bytes / events, git_bytes);
	printf("  %-44s %9.1f  (%" PRIu64 " bytes)\n", "store B (SQLite + its sync.git) / N",
		(double)store_b_bytes / events, store_b_bytes);

	printf("\n  memory: the process's ru_maxrss after the run; its RSS just before B's import and its peak\n"
		"  RSS during it (VmHWM); what the import added to anonymous (heap) and to file-backed (mapped\n"
		"  files) RSS, sampled at its progress reports (so short peaks can be missed)\n");
	printf("  %-29s %12s %15s %15s %14s %14s\n", "run", "ru_maxrss", "RSS before", "import peak", "+anon",
		"+file-backed");
	print_memory(small_events, "(import 1)", small_maxrss, &small);
	for (int r = 0; r < REPEATS; r++) {
		snprintf(what, sizeof(what), "(import %d)", r + 1);
		print_memory(events, what, full_maxrss, &reps[r]);
	}

	incr_ratio = git_noop > 0 ? b_incr / git_noop : 0;
	import_ratio = git + raw > 0 ? import / (git + raw) : 0;
	printf("\ngoal: incremental sync (%d events into a store of N, median) within 3x a no-op git fetch: %s (%.2fx %s 3x)\n",
		NEW_EVENTS, incr_ratio <= 3 ? "met" : "NOT met", incr_ratio, incr_ratio <= 3 ? "<=" : ">");
	printf("goal: incremental sync under 100 ms (median): %s (%.1f ms; %d of %d rounds took 100 ms or more)\n",
		b_incr < 0.1 ? "met" : "NOT met", b_incr * 1e3, slow, INCR_ROUNDS);
	printf("goal: full import within 3x (git fetch + raw SQLite insert): %s (%.2fx %s 3x)\n",
		import_ratio <= 3 ? "met" : "NOT met", import_ratio, import_ratio <= 3 ? "<=" : ">");
	rc = 0;
done:
	mutual_store_free(a);
	mutual_store_free(b);
	if (dir[0])
		bench_remove_tree(dir);
	return rc;
}
