/*
 * test_alloc_fail.c - allocation failure, SQLite's way (STYLE.md, "Fault
 * tests in SQLite's manner"): for N = 1, 2, ... the Nth allocation made
 * for libmutual fails (its own, SQLite's, libgit2's and zlib's: one
 * counter, fault.h) while one operation runs on a fresh copy of a small
 * fixture: create, join, append, a batch, sync with a folder and with a bundle, an
 * import, the projections, a rebuild, a verify. Each run must succeed or
 * fail cleanly: MUTUAL_ERROR with a message (never a claim about the data,
 * such as MUTUAL_EVERIFY, MUTUAL_ECORRUPT, a refusal, "read-only" or "not
 * found"), no crash, and no block of any source left live once the
 * handles are freed. After a failure, the store, reopened with faults
 * off, must verify, hold every event it held, have projections equal to
 * their rebuild, and complete the operation when it runs again (then a
 * stick or bundle must also carry every log whole to a fourth device). A
 * success after a fault was met (a "benign" fault, SQLite's own mostly)
 * must have made the same result as a clean run. The loop ends at the
 * first N the operation no longer reaches; that N is printed, with each
 * source's allocations.
 *
 * Both of SQLite's fault modes run (malloc_common.tcl's oom-transient and
 * oom-persistent): only the Nth allocation fails, or it and every one
 * after it. Transient shows that what follows a failure does not build on
 * what it left; persistent, that the error paths need no memory.
 *
 *   test_alloc_fail OP [--runs R]   both modes, every N (CI: about R of them)
 *   test_alloc_fail OP --at N [--persistent] [--verbose]      one N
 *   test_alloc_fail OP --from N [--to M] --transient|--persistent [--verbose]
 *   test_alloc_fail OP --survey [--spare FILE] ...    find dependencies' bugs
 *
 * Allocation counts differ by a few from one process to the next (random
 * keys make records and compressed segments differ in size), so --from a
 * little before the N a failure names finds it again more surely than --at.
 * Compiled only in a test build (-Dtest_hooks=true): a shipped library has
 * no fault counter.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "fault.h"

#define N_MAX 200000 /* a bug that never lets an operation finish cannot hang CI */
#define DEVICES_MAX 8

static int verbose;

/* The N being run, named when a check fails in it (see at_exit). */
static long current_n;
static int current_persistent;
static char current_site[512]; /* where the fault hit, when libgit2 said */

static void at_exit(void)
{
	if (current_n)
		fprintf(stderr, "(the failure above came at N=%ld, %s, first fault at %s: rerun with --from %ld --%s)\n",
			current_n, current_persistent ? "persistent" : "transient", current_site,
			current_n > 20 ? current_n - 20 : 1, current_persistent ? "persistent" : "transient");
}

/* ------------------------------------------------------------- files */

static void copy_tree(const char *src, const char *dst)
{
	struct stat st;
	CHECK(lstat(src, &st) == 0);
	if (S_ISDIR(st.st_mode)) {
		DIR *d;
		struct dirent *e;
		CHECK(mkdir(dst, 0700) == 0);
		CHECK((d = opendir(src)) != NULL);
		while ((e = readdir(d))) {
			char s[4096], t[4096];
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(s, sizeof(s), "%s/%s", src, e->d_name);
			snprintf(t, sizeof(t), "%s/%s", dst, e->d_name);
			copy_tree(s, t);
		}
		closedir(d);
	} else {
		char buf[65536];
		ssize_t n;
		int in, out;
		CHECK(S_ISREG(st.st_mode));
		CHECK((in = open(src, O_RDONLY)) >= 0);
		CHECK((out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
		while ((n = read(in, buf, sizeof(buf))) > 0)
			CHECK(write(out, buf, (size_t)n) == n);
		CHECK(n == 0);
		close(in);
		close(out);
	}
	CHECK(chmod(dst, st.st_mode & 07777) == 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		CHECK(nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* tmp_path("work/<name>"), emptied, and the fixture's "fx/<name>" copied there if given. */
static const char *work(const char *name, int copy)
{
	static char paths[4][4096];
	static int next;
	char *p = paths[next++ % 4];
	char rel[256];
	snprintf(rel, sizeof(rel), "work/%s", name);
	snprintf(p, sizeof(paths[0]), "%s", tmp_path(rel));
	rm_tree(p);
	if (copy) {
		snprintf(rel, sizeof(rel), "fx/%s", name);
		copy_tree(tmp_path(rel), p);
	}
	return p;
}

/* ------------------------------------------------------------ stores */

typedef struct {
	size_t n;
	char id[DEVICES_MAX][65];
	uint64_t head[DEVICES_MAX];
	uint64_t events; /* in all */
} heads;

static int add_head(const mutual_device_info *info, void *payload)
{
	heads *h = payload;
	CHECK(h->n < DEVICES_MAX);
	snprintf(h->id[h->n], sizeof(h->id[0]), "%s", info->id);
	CHECK(info->events == info->head_seq);
	h->head[h->n++] = info->head_seq;
	h->events += info->events;
	return 0;
}

static heads heads_of(mutual_store *s)
{
	heads h;
	memset(&h, 0, sizeof(h));
	CHECK_OK(mutual_device_foreach(s, add_head, &h));
	return h;
}

static uint64_t head_of(const heads *h, const char *id)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->id[i], id))
			return h->head[i];
	return 0;
}

/* Every event of `was` is still held (logs are gapless: a head says it all). */
static void check_kept(const heads *now, const heads *was)
{
	for (size_t i = 0; i < was->n; i++)
		CHECK(head_of(now, was->id[i]) >= was->head[i]);
}

static void check_equal(const heads *now, const heads *want)
{
	check_kept(now, want);
	CHECK(now->n == want->n && now->events == want->events);
}

/* An app projection over the fixture's pantry.* events (as test_project.c's). */
static const mutual_projection_def *shelf(void)
{
	static mutual_projection_def def = MUTUAL_PROJECTION_DEF_INIT;
	def.name = "shelf";
	def.schema = "CREATE TABLE shelf_last(item TEXT PRIMARY KEY, qty INTEGER, updates INTEGER)";
	def.reset = "DELETE FROM shelf_last";
	def.type_prefix = "pantry.";
	def.apply = "INSERT INTO shelf_last(item, qty, updates)"
		    " VALUES(json_extract(:payload, '$.item'), json_extract(:payload, '$.qty'), 1)"
		    " ON CONFLICT(item) DO UPDATE SET qty = excluded.qty, updates = updates + 1";
	return &def;
}

static int count_row(int cols, const char *const *names, const char *const *values, void *payload)
{
	(void)cols;
	(void)names;
	(void)values;
	(*(int *)payload)++;
	return 0;
}

/* Opened with faults off, the store verifies, holds all of `was`, and its
 * projections (entities, counters, forks, the app projection) are what a
 * rebuild makes of its log. Returns what it holds. */
static heads check_store(const char *dir, const heads *was)
{
	mutual_store *s = NULL;
	mutual_verify_result v = MUTUAL_VERIFY_RESULT_INIT;
	uint8_t before[MUTUAL_HASH_SIZE], after[MUTUAL_HASH_SIZE];
	heads now;

	CHECK_OK(mutual_store_open(&s, dir, 0));
	CHECK(!mutual_store_is_readonly(s));
	CHECK_OK(mutual_verify(&v, s));
	CHECK(v.ok);
	now = heads_of(s);
	if (was)
		check_kept(&now, was);
	CHECK(v.events == now.events);
	CHECK_OK(mutual_projection_register(s, shelf()));
	CHECK_OK(mutual_state_digest(before, s));
	CHECK_OK(mutual_rebuild(s));
	CHECK_OK(mutual_state_digest(after, s));
	CHECK(memcmp(before, after, sizeof(before)) == 0);
	mutual_store_free(s);
	return now;
}

/* What the store holds, opened with faults off: the cheap check, after
 * a rerun that check_store() has already judged the start of. */
static heads heads_at(const char *dir)
{
	mutual_store *s = NULL;
	heads h;
	CHECK_OK(mutual_store_open(&s, dir, 0));
	h = heads_of(s);
	mutual_store_free(s);
	return h;
}

/* No store at `dir`, and no half-made one beside it. */
static void check_no_store(const char *dir)
{
	char parent[4096], *slash;
	const char *base;
	struct stat st;
	DIR *d;
	struct dirent *e;

	CHECK(lstat(dir, &st) < 0 && errno == ENOENT);
	snprintf(parent, sizeof(parent), "%s", dir);
	CHECK((slash = strrchr(parent, '/')) != NULL);
	*slash = '\0';
	base = slash + 1;
	CHECK((d = opendir(parent)) != NULL);
	while ((e = readdir(d)))
		CHECK(strncmp(e->d_name, base, strlen(base)) != 0);
	closedir(d);
}

/* ----------------------------------------------------------- fixture */

/*
 * Four devices of one group (a founded it; b, c and d joined); a, b and c
 * wrote a few events and met on a stick and a bundle; then b and c wrote
 * one more each and left them on both, and a wrote one it has not synced.
 * d holds only its own join. What each operation starts from:
 *   fx/a       a's store
 *   fx/d       d's store
 *   fx/stick   a folder holding the group's repository
 *   fx/x.bundle  the same, as a bundle
 */
static struct {
	heads a, d;         /* what fx/a and fx/d hold */
	char *invite;       /* a's invite text */
	uint8_t digest[MUTUAL_HASH_SIZE]; /* fx/a's state, the app projection registered */
} fx;

static void sync_ok(mutual_store *s, const char *target)
{
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	CHECK_OK(mutual_sync(&st, s, target, NULL));
	CHECK(st.refused == 0);
}

static void fixture(void)
{
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	mutual_store *a, *b, *c, *d, *x;
	const char *stick = tmp_path("fx/stick"), *bundle = tmp_path("fx/x.bundle");

	CHECK(mkdir(tmp_path("fx"), 0700) == 0 && mkdir(tmp_path("work"), 0700) == 0);
	a = check_store_create("fx/a", "alpha");
	b = check_store_join(a, "fx/b", "beta");
	c = check_store_join(a, "fx/c", "carol");
	CHECK_OK(mutual_append(NULL, a, "pantry.count", "{\"item\":\"rice\",\"qty\":7}"));
	CHECK_OK(mutual_entity_put(NULL, a, "item", "rice", "{\"status\":\"open\",\"shelf\":\"top\"}"));
	CHECK_OK(mutual_counter_add(NULL, a, "rice", "2.5"));
	CHECK_OK(mutual_append(NULL, b, "pantry.count", "{\"item\":\"beans\",\"qty\":3}"));
	CHECK_OK(mutual_entity_put(NULL, b, "item", "beans", "{\"status\":\"low\"}"));
	CHECK_OK(mutual_append(NULL, c, "pantry.count", "{\"item\":\"oil\",\"qty\":1}"));
	CHECK(mkdir(stick, 0700) == 0);
	mutual_store *round[] = { a, b, c, a };
	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(round); i++) {
		sync_ok(round[i], stick);
		sync_ok(round[i], bundle);
	}
	CHECK_OK(mutual_append(NULL, b, "pantry.count", "{\"item\":\"rice\",\"qty\":5}"));
	sync_ok(b, stick);
	sync_ok(b, bundle);
	CHECK_OK(mutual_entity_put(NULL, c, "item", "rice", "{\"status\":\"low\"}"));
	sync_ok(c, stick);
	sync_ok(c, bundle);
	CHECK_OK(mutual_append(NULL, a, "pantry.count", "{\"item\":\"salt\",\"qty\":1}"));
	CHECK_OK(mutual_invite_text(&fx.invite, a));
	opts.device_name = "dave";
	CHECK_OK(mutual_store_join_text(&d, tmp_path("fx/d"), fx.invite, &opts));
	fx.a = heads_of(a);
	fx.d = heads_of(d);
	mutual_store_free(a);
	mutual_store_free(b);
	mutual_store_free(c);
	mutual_store_free(d);
	rm_tree(tmp_path("fx/b"));
	rm_tree(tmp_path("fx/c"));
	/* The reference state: what a rebuild of fx/a makes. */
	CHECK_OK(mutual_store_open(&x, tmp_path("fx/a"), 0));
	CHECK_OK(mutual_projection_register(x, shelf()));
	CHECK_OK(mutual_state_digest(fx.digest, x));
	mutual_store_free(x);
	check_store(tmp_path("fx/a"), &fx.a);
	CHECK(fx.a.n == 3 && fx.d.n == 1);
}

/* ------------------------------------------------------ the operations */

/*
 * One operation: `prepare` copies what it starts from into work/, with
 * faults off; `run` is the operation, from opening the store to freeing
 * it, as one command of the CLI would do it (it must free all it opened,
 * whatever happens); `failed` checks, with faults off, what a failed run
 * left and runs the operation again, which must succeed; `done` checks
 * what a successful run made.
 */
typedef struct {
	const char *name;
	void (*prepare)(void);
	int (*run)(void);
	void (*failed)(void);
	void (*done)(void);
} operation;

static const char *path_a, *path_d, *path_stick, *path_bundle, *path_new;

/* create: a new group's store; join: a new device's store from a's
 * invite (the test fault/alloc-create runs both). */
static int create_phase; /* 0: mutual_store_create, 1: mutual_store_join_text */

static void create_prepare(void)
{
	path_new = work("new", 0);
}

static int create_run(void)
{
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	mutual_store *s = NULL;
	int rc;
	opts.device_name = "eve";
	rc = create_phase ? mutual_store_join_text(&s, path_new, fx.invite, &opts)
			  : mutual_store_create(&s, path_new, "Fault group", &opts);
	CHECK(rc == 0 ? s != NULL : s == NULL);
	mutual_store_free(s);
	return rc;
}

static void create_done(void)
{
	heads h = check_store(path_new, NULL);
	CHECK(h.n == 1 && h.events == 1);
}

static void create_failed(void)
{
	heads h;
	check_no_store(path_new);
	CHECK_OK(create_run());
	h = heads_at(path_new);
	CHECK(h.n == 1 && h.events == 1);
}

/* append: one event to a's log. */
static void append_prepare(void)
{
	path_a = work("a", 1);
}

static int append_run(void)
{
	mutual_store *s;
	int rc = mutual_store_open(&s, path_a, 0);
	if (rc == 0)
		rc = mutual_append(NULL, s, "pantry.count", "{\"item\":\"flour\",\"qty\":2}");
	mutual_store_free(s);
	return rc;
}

static void append_done(void)
{
	heads h = check_store(path_a, &fx.a);
	CHECK(h.events == fx.a.events + 1);
}

static void append_failed(void)
{
	heads h = check_store(path_a, &fx.a);
	CHECK(h.events == fx.a.events); /* all or nothing */
	CHECK_OK(append_run());
	CHECK(heads_at(path_a).events == fx.a.events + 1);
}

/* batch: an entity put, a counter add and an app event committed as one
 * batch to a's log; all three or none. */
static int batch_run(void)
{
	mutual_store *s;
	mutual_batch *b = NULL;
	int rc = mutual_store_open(&s, path_a, 0);
	if (rc == 0)
		rc = mutual_batch_new(&b, s);
	if (rc == 0)
		rc = mutual_batch_entity_put(b, "item", "flour", "{\"shelf\":\"low\"}");
	if (rc == 0)
		rc = mutual_batch_counter_add(b, "flour-kg", "2.5");
	if (rc == 0)
		rc = mutual_batch_append(b, "pantry.count", "{\"item\":\"flour\",\"qty\":2}");
	if (rc == 0)
		rc = mutual_batch_commit(NULL, b);
	mutual_batch_free(b);
	mutual_store_free(s);
	return rc;
}

static void batch_done(void)
{
	heads h = check_store(path_a, &fx.a);
	CHECK(h.events == fx.a.events + 3);
}

static void batch_failed(void)
{
	heads h = check_store(path_a, &fx.a);
	CHECK(h.events == fx.a.events); /* all or nothing */
	CHECK_OK(batch_run());
	CHECK(heads_at(path_a).events == fx.a.events + 3);
}

/* sync: a meets the stick (or the bundle): it sends its new event and
 * takes b's and c's; the medium is then read by d, which must find it
 * whole. */
static heads sync_want; /* what a holds after a clean sync */
static const char *sync_target(int bundle)
{
	return bundle ? path_bundle : path_stick;
}

static void sync_prepare(int bundle)
{
	path_a = work("a", 1);
	if (bundle)
		path_bundle = work("x.bundle", 1);
	else
		path_stick = work("stick", 1);
}

static void sync_folder_prepare(void)
{
	sync_prepare(0);
}

static void sync_bundle_prepare(void)
{
	sync_prepare(1);
}

static int sync_run_on(const char *store, const char *target)
{
	mutual_store *s;
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	int rc = mutual_store_open(&s, store, 0);
	if (rc == 0)
		rc = mutual_sync(&st, s, target, NULL);
	mutual_store_free(s);
	return rc;
}

static int sync_folder_run(void)
{
	return sync_run_on(path_a, path_stick);
}

static int sync_bundle_run(void)
{
	return sync_run_on(path_a, path_bundle);
}

/* The medium holds every log whole: d takes them all from it (and
 * verifies each segment as it imports it). */
static void check_medium(const char *target)
{
	const char *d = work("d", 1);
	CHECK_OK(sync_run_on(d, target));
	CHECK(heads_at(d).events == sync_want.events + 1);
}

static void sync_done_on(int bundle)
{
	heads h = check_store(path_a, &fx.a);
	check_equal(&h, &sync_want);
	check_medium(sync_target(bundle));
}

static void sync_failed_on(int bundle)
{
	heads h;
	check_store(path_a, &fx.a);
	CHECK_OK(sync_run_on(path_a, sync_target(bundle)));
	h = heads_at(path_a);
	check_equal(&h, &sync_want);
	check_medium(sync_target(bundle));
}

static void sync_folder_done(void)
{
	sync_done_on(0);
}

static void sync_bundle_done(void)
{
	sync_done_on(1);
}

static void sync_folder_failed(void)
{
	sync_failed_on(0);
}

static void sync_bundle_failed(void)
{
	sync_failed_on(1);
}

/* import: d, holding only its own join, takes the whole group's logs from
 * the stick (and sends its join). */
static heads import_want;

static void import_prepare(void)
{
	path_d = work("d", 1);
	path_stick = work("stick", 1);
}

static int import_run(void)
{
	return sync_run_on(path_d, path_stick);
}

static void import_done(void)
{
	heads h = check_store(path_d, &fx.d);
	check_equal(&h, &import_want);
}

static void import_failed(void)
{
	heads h;
	check_store(path_d, &fx.d);
	CHECK_OK(import_run());
	h = heads_at(path_d);
	check_equal(&h, &import_want);
}

/* projection: register the app projection (a replay of a's log through
 * its SQL), put an entity, read the entities, the counters and the app's
 * table. */
static int found_flour;

static int find_flour(const mutual_entity *e, void *payload)
{
	(void)payload;
	if (strcmp(e->id, "flour") == 0) {
		CHECK(e->n_fields == 2 && strcmp(e->fields[0].name, "shelf") == 0 &&
		      strcmp(e->fields[0].write.text, "low") == 0 && e->cursor[0]);
		found_flour++;
	}
	return 0;
}

static int projection_run(void)
{
	mutual_store *s;
	char *json = NULL;
	int rows = 0;
	int rc = mutual_store_open(&s, path_a, 0);
	if (rc == 0)
		rc = mutual_projection_register(s, shelf());
	if (rc == 0)
		rc = mutual_entity_put(NULL, s, "item", "flour", "{\"status\":\"open\",\"shelf\":\"low\"}");
	if (rc == 0)
		rc = mutual_state_json(&json, s, "item", NULL);
	if (rc == 0) {
		CHECK(strstr(json, "\"id\":\"flour\"") && strstr(json, "\"shelf\":\"low\"") &&
		      strstr(json, "\"id\":\"beans\""));
		mutual_free(json);
		json = NULL;
		rc = mutual_counters_json(&json, s, NULL);
	}
	if (rc == 0) {
		CHECK(strstr(json, "\"rice\":2.5"));
		rc = mutual_query(s, "SELECT item FROM shelf_last", NULL, 0, count_row, &rows);
	}
	if (rc == 0)
		CHECK(rows == 4); /* rice, beans, oil, salt */
	if (rc == 0) {
		/* The typed walk, filtered, ordered and paged (entity.c). */
		mutual_entity_where open = { "status", "\"open\"" };
		mutual_entity_options o = MUTUAL_ENTITY_OPTIONS_INIT;
		found_flour = 0;
		o.kind = "item";
		o.where = &open;
		o.n_where = 1;
		o.order_by = "shelf";
		o.limit = 10;
		rc = mutual_entity_foreach(s, &o, find_flour, NULL);
		if (rc == 0)
			CHECK(found_flour == 1);
	}
	mutual_free(json);
	mutual_store_free(s);
	return rc;
}

static void projection_done(void)
{
	heads h = check_store(path_a, &fx.a);
	CHECK(h.events == fx.a.events + 1);
}

static void projection_failed(void)
{
	heads h = check_store(path_a, &fx.a);
	CHECK(h.events <= fx.a.events + 1); /* the put is there or not, once */
	if (h.events == fx.a.events)
		CHECK_OK(projection_run());
	else {
		/* It failed after the put: the rest must work now. */
		mutual_store *s;
		char *json = NULL;
		CHECK_OK(mutual_store_open(&s, path_a, 0));
		CHECK_OK(mutual_projection_register(s, shelf()));
		CHECK_OK(mutual_state_json(&json, s, "item", "flour"));
		CHECK(strstr(json, "\"shelf\":\"low\""));
		mutual_free(json);
		mutual_store_free(s);
	}
	CHECK(heads_at(path_a).events == fx.a.events + 1);
}

/* rebuild: every projection remade from a's log. */
static int rebuild_run(void)
{
	mutual_store *s;
	int rc = mutual_store_open(&s, path_a, 0);
	if (rc == 0)
		rc = mutual_projection_register(s, shelf());
	if (rc == 0)
		rc = mutual_rebuild(s);
	mutual_store_free(s);
	return rc;
}

/* The state is what a rebuild of the fixture makes. */
static void rebuild_same_digest(void)
{
	mutual_store *s;
	uint8_t digest[MUTUAL_HASH_SIZE];
	CHECK_OK(mutual_store_open(&s, path_a, 0));
	CHECK_OK(mutual_projection_register(s, shelf()));
	CHECK_OK(mutual_state_digest(digest, s));
	CHECK(memcmp(digest, fx.digest, sizeof(digest)) == 0);
	mutual_store_free(s);
}

static void rebuild_done(void)
{
	heads h = check_store(path_a, &fx.a);
	check_equal(&h, &fx.a);
	rebuild_same_digest();
}

static void rebuild_failed(void)
{
	heads h = check_store(path_a, &fx.a);
	check_equal(&h, &fx.a);
	CHECK_OK(rebuild_run());
	rebuild_same_digest();
}

/* verify: a's whole store checked. A failed allocation must never look
 * like a bad event. */
static int verify_run(void)
{
	mutual_store *s;
	mutual_verify_result v = MUTUAL_VERIFY_RESULT_INIT;
	int rc = mutual_store_open(&s, path_a, MUTUAL_OPEN_READONLY);
	if (rc == 0) {
		rc = mutual_verify(&v, s);
		if (rc == 0)
			CHECK(v.ok && v.events == fx.a.events && v.devices == fx.a.n);
	}
	mutual_store_free(s);
	return rc;
}

static void verify_done(void)
{
	heads h = check_store(path_a, &fx.a);
	check_equal(&h, &fx.a);
}

static void verify_failed(void)
{
	CHECK_OK(verify_run());
}

static const operation operations[] = {
	{ "create", create_prepare, create_run, create_failed, create_done },
	{ "join", create_prepare, create_run, create_failed, create_done },
	{ "append", append_prepare, append_run, append_failed, append_done },
	{ "batch", append_prepare, batch_run, batch_failed, batch_done },
	{ "sync-folder", sync_folder_prepare, sync_folder_run, sync_folder_failed, sync_folder_done },
	{ "sync-bundle", sync_bundle_prepare, sync_bundle_run, sync_bundle_failed, sync_bundle_done },
	{ "import", import_prepare, import_run, import_failed, import_done },
	{ "projection", append_prepare, projection_run, projection_failed, projection_done },
	{ "rebuild", append_prepare, rebuild_run, rebuild_failed, rebuild_done },
	{ "verify", append_prepare, verify_run, verify_failed, verify_done },
};

/* ------------------------------------------------------------ the loop */

/*
 * A dependency's own bug when one of its allocations fails is not
 * libmutual's to fix. Each one found is listed here by the site libgit2
 * names (Debian 12's libgit2 1.5.1: the end of the path, a line or 0 for
 * any), and when that site serves many callers, by the site of the
 * allocation just before it; `via_util` also spares what that file asks
 * of libgit2's containers (src/util/: strings, vectors, pools; and the
 * *map.c hash maps) until another file allocates; `region` spares every allocation libgit2 makes
 * inside one call of libmutual's (git.c names it, MUTUAL_FAULT_REGION,
 * test builds only). A spared allocation is still counted but never
 * made to fail, so the N that would fail it runs as a success, and every
 * other N runs as usual. A libgit2 of another version has other lines:
 * its bugs then show again, to be checked and listed anew
 * (test_alloc_fail OP --survey, see main()).
 */
static struct {
	int source;
	const char *file; /* part of the path libgit2 gives */
	int line;         /* 0: any */
	int via_util;
	const char *after_file; /* NULL, or the previous allocation's site */
	int after_line;
	const char *region;     /* or every allocation inside this call (MUTUAL_FAULT_REGION) */
	const char *bug;
	long spared;
} dependency_bugs[] = {
	{ MUTUAL_ALLOC_GIT, "/libgit2/config_", 0, 1, NULL, 0, NULL,
		"the config file backend (config_file.c, config_entries.c, config_parse.c), which every "
		"git_repository_open_ext runs, dereferences NULL (SIGSEGV in git_config_add_backend), "
		"leaks what it parsed, or keeps a value it could not copy as NULL and later fails "
		"'to parse (null) as an integer', when an allocation fails", 0 },
	{ MUTUAL_ALLOC_GIT, "/libgit2/repository.c", 286, 0, NULL, 0, NULL,
		"git_repository_open_ext leaks the paths find_repo made when repository_alloc cannot "
		"allocate the repository (LeakSanitizer: 2 blocks from git_repository_open_ext)", 0 },
	{ MUTUAL_ALLOC_GIT, "/libgit2/oidmap.c", 0, 0, NULL, 0, NULL,
		"git_oidmap (khash): repository_alloc's error path calls git_cache_dispose on an object "
		"map it could not allocate, and git_object_lookup crashes when the object cache's map "
		"cannot grow (NULL dereferences, SIGSEGV)", 0 },
	{ MUTUAL_ALLOC_GIT, "/libgit2/tree.c", 396, 0, NULL, 0, NULL,
		"parsing a tree: after this allocation failed, git_commit_tree returned a tree without its "
		"entry (a segment commit looked malformed, and its ref would have been replaced)", 0 },
	{ MUTUAL_ALLOC_GIT, "/libgit2/repository.c", 292, 0, NULL, 0, NULL,
		"git_repository_open_ext leaks the paths find_repo made when repository_alloc cannot "
		"allocate its reserved names (as at repository.c:286)", 0 },
	{ MUTUAL_ALLOC_GIT, "/libgit2/refs.c", 42, 0, NULL, 0, NULL,
		"git_reference__alloc: refdb_fs's loose_lookup returns success with a NULL reference when "
		"it fails, and git_reference_name_to_id dereferences it (SIGSEGV)", 0 },
	{ MUTUAL_ALLOC_GIT, "/libgit2/mwindow.c", 0, 1, NULL, 0, NULL,
		"pack windows: one it cannot allocate makes git_indexer_append report 'unexpected data at "
		"the end of the pack' (a damaged pack: the bundle would be refused and rewritten without "
		"what this store had not taken)", 0 },
	{ MUTUAL_ALLOC_GIT, "", 0, 0, NULL, 0, "git_reference_foreach_glob",
		"the ref iterator lists fewer refs, with success: refdb_fs's iterator_next skips a loose ref "
		"it failed to read (git_error_clear), and iter_load_loose_paths takes a failed "
		"git_iterator_advance for the end of the folder", 0 },
};

/*
 * libgit2 1.5 also leaks on most of its own failure paths: a call that
 * runs out of memory returns its error (which libmutual handles, and these
 * Ns still test) without freeing what it had allocated. A libgit2 leak is
 * therefore accepted at an N where an allocation made to fail was in one of
 * these files (or in src/util/ on their behalf); LeakSanitizer's full
 * stacks showed, for each, blocks allocated inside the failing call:
 * git_repository_odb building the default backends (odb.c, odb_loose.c,
 * odb_pack.c, commit_graph.c: the odb is owned by the repository before it
 * is stored); git_odb_add_disk_alternate; git_odb_write_pack's indexer
 * (indexer.c, pack.c, offmap.c); git_signature_new (signature.c);
 * git_mempack_dump and git_packbuilder_insert_commit (pack-objects.c, and
 * the commit they looked up when parsing it or its tree fails: object.c,
 * tree.c; the tag iterator: iterator.c); the revwalk (revwalk.c,
 * commit_list.c, commit.c); pack windows under git_indexer_append and
 * git_odb_read (mwindow.c); the reflog's signature in
 * git_reference_create_matching (refs.c, filebuf.c). A libgit2 leak
 * anywhere else, and any leak of libmutual's, SQLite's or zlib's blocks,
 * still fails the test. What this lets pass: libmutual forgetting a
 * libgit2 object on the error path of such a failure (the memory backend's
 * leak, fixed in git.c, was one); the suppressions for these tests
 * (tests/library/lsan-alloc-fail.supp) cannot tell them apart either.
 */
static const char *const libgit2_leaky[] = { "/libgit2/odb.c", "/libgit2/odb_loose.c", "/libgit2/odb_pack.c",
	"/libgit2/commit_graph.c",
	"/libgit2/indexer.c", "/libgit2/pack.c", "/libgit2/offmap.c", "/libgit2/signature.c",
	"/libgit2/pack-objects.c", "/libgit2/iterator.c", "/libgit2/commit_list.c", "/libgit2/commit.c",
	"/libgit2/revwalk.c", "/libgit2/mwindow.c", "/libgit2/refs.c", "/libgit2/object.c", "/libgit2/tree.c",
	"/util/filebuf.c" };
static int libgit2_leak_expected; /* this N failed an allocation in libgit2_leaky */
static const char *fault_major;   /* the file the first failed libgit2 allocation was for */

static int site_is(const char *file, int line, const char *want_file, int want_line)
{
	return file && (!want_line || line == want_line) && strstr(file, want_file);
}

/* --survey, to find a dependency's bugs (not for CI): each allocation made
 * to fail is named on stderr before it fails, so a crash names its site;
 * a libgit2 leak is named and counted from anew rather than fatal (its
 * LeakSanitizer report at exit says whose it is); --spare FILE adds sites
 * not to fail, one "file line previous-file previous-line" a line. */
static int survey;
static char survey_spares[64][2][128]; /* --spare FILE: more sites to spare while surveying */
static int survey_lines[64][2], n_survey_spares;

static int spare_dependency_bug(int source, const char *file, int line, const char *region, int would_fail)
{
	static const char *prev_file, *major_file; /* the last allocation's site, and the last outside src/util/ */
	static int prev_line;
	/* libgit2's containers (src/util/, and its hash maps) allocate on
	 * behalf of the last other file that did */
	int spare = 0, util = strstr(file, "/src/util/") || strstr(file, "map.c");
	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(dependency_bugs) && !spare; i++) {
		if (source != dependency_bugs[i].source)
			continue;
		if (dependency_bugs[i].region) {
			if (region && !strcmp(region, dependency_bugs[i].region)) {
				spare = 1;
				dependency_bugs[i].spared += would_fail;
			}
			continue;
		}
		if ((site_is(file, line, dependency_bugs[i].file, dependency_bugs[i].line) &&
			    (!dependency_bugs[i].after_file ||
				    site_is(prev_file, prev_line, dependency_bugs[i].after_file, dependency_bugs[i].after_line))) ||
		    (dependency_bugs[i].via_util && util && major_file && strstr(major_file, dependency_bugs[i].file))) {
			spare = 1;
			dependency_bugs[i].spared += would_fail;
		}
	}
	for (int i = 0; i < n_survey_spares && !spare; i++)
		spare = site_is(file, line, survey_spares[i][0], survey_lines[i][0]) &&
			(!survey_spares[i][1][0] || site_is(prev_file, prev_line, survey_spares[i][1], survey_lines[i][1]));
	if (would_fail && !spare && !fault_major)
		fault_major = util && major_file ? major_file : file;
	if (would_fail && !spare)
		for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(libgit2_leaky); i++)
			if (strstr(file, libgit2_leaky[i]) || (util && major_file && strstr(major_file, libgit2_leaky[i])))
				libgit2_leak_expected = 1;
	if (survey && would_fail && !spare)
		fprintf(stderr, "survey: failing %s %d after %s %d (in %s, %s)\n", file, line, prev_file ? prev_file : "-",
			prev_line, major_file ? major_file : "-", region ? region : "-");
	prev_file = file;
	prev_line = line;
	if (!util)
		major_file = file;
	return spare && would_fail;
}

static const char *const source_names[MUTUAL_ALLOC_SOURCES] = { "libmutual", "SQLite", "libgit2", "zlib" };

typedef struct {
	long live[MUTUAL_ALLOC_SOURCES];
} live_counts;

static live_counts live_now(void)
{
	live_counts l;
	for (int i = 0; i < MUTUAL_ALLOC_SOURCES; i++)
		l.live[i] = mutual__test_alloc_live(i);
	return l;
}

/* Every block allocated during the run and the checks has been freed:
 * each source has as many live as before (libmutual and zlib: none). */
static long libgit2_leaks, libgit2_leak_ns; /* libgit2's own leaks accepted (libgit2_leaky) */

static void check_no_leak(live_counts *base, long n, int persistent)
{
	live_counts now = live_now();
	for (int i = 0; i < MUTUAL_ALLOC_SOURCES; i++) {
		if (i == MUTUAL_ALLOC_GIT && now.live[i] > base->live[i] && libgit2_leak_expected) {
			libgit2_leaks += now.live[i] - base->live[i];
			libgit2_leak_ns++;
			base->live[i] = now.live[i];
			continue;
		}
		if (survey && i == MUTUAL_ALLOC_GIT && now.live[i] != base->live[i]) {
			fprintf(stderr, "survey: N=%ld %s: libgit2 %+ld blocks, first fault at %s (for %s)\n", n,
				persistent ? "persistent" : "transient", now.live[i] - base->live[i], current_site,
				fault_major ? fault_major : "-");
			base->live[i] = now.live[i];
			continue;
		}
		if (now.live[i] != base->live[i]) {
			fprintf(stderr, "N=%ld (%s): %s has %ld blocks live, %ld before: a leak (LeakSanitizer names it in the ASan build)\n",
				n, persistent ? "persistent" : "transient", source_names[i], now.live[i], base->live[i]);
			exit(1);
		}
	}
}

/* The codes an allocation failure may give: the generic one. Anything
 * else (EVERIFY, ECORRUPT, EREFUSED, EINVALID, EREADONLY ...) would tell
 * the caller something false about the data or the store. */
static void check_clean_error(int rc, long n, int persistent)
{
	const char *msg = mutual_error_last();
	if (rc != MUTUAL_ERROR || !msg[0]) {
		fprintf(stderr, "N=%ld (%s): returned %d with message '%s': not a clean out-of-memory error\n", n,
			persistent ? "persistent" : "transient", rc, msg);
		exit(1);
	}
	if (verbose)
		fprintf(stderr, "N=%ld: %s\n", n, msg);
}

typedef struct {
	long reached;       /* the first N the operation never met */
	long first_success; /* the first N at which it succeeded */
	long failures;      /* clean failures */
	long benign;        /* successes although a fault was met */
	long runs;          /* values of N run */
	long count[MUTUAL_ALLOC_SOURCES];
} outcome;

/* One N: returns 1 when the operation succeeded without meeting the fault. */
static int one_n(const operation *op, long n, int persistent, live_counts *base, outcome *out)
{
	long hits, total;
	const char *site;
	int rc, line;

	current_n = n;
	current_persistent = persistent;
	libgit2_leak_expected = 0;
	fault_major = NULL;
	if (survey)
		fprintf(stderr, "survey: N=%ld %s\n", n, persistent ? "persistent" : "transient");
	op->prepare();
	mutual__error_clear();
	if (verbose)
		fprintf(stderr, "N=%ld %s\n", n, persistent ? "persistent" : "transient");
	mutual__test_fault_alloc(n, persistent);
	rc = op->run();
	hits = mutual__test_fault_hits();
	total = 0;
	for (int i = 0; i < MUTUAL_ALLOC_SOURCES; i++)
		total += out->count[i] = mutual__test_fault_count(i);
	site = mutual__test_fault_site(&line);
	snprintf(current_site, sizeof(current_site), "%s:%d", site ? site : "-", line);
	mutual__test_fault_alloc(0, 0);
	if (verbose && hits)
		fprintf(stderr, "N=%ld: first failure at %s\n", n, current_site);
	if (rc == 0) {
		if (!out->first_success)
			out->first_success = n;
		op->done();
		check_no_leak(base, n, persistent);
		current_n = 0;
		/* Done when the operation no longer reaches N (a spared
		 * allocation at N does not end the loop). */
		if (total < n)
			return 1;
		if (hits)
			out->benign++;
		return 0;
	}
	if (hits == 0) {
		fprintf(stderr, "N=%ld: failed (%d) without meeting the fault: %s\n", n, rc, mutual_error_last());
		exit(1);
	}
	check_clean_error(rc, n, persistent);
	out->failures++;
	op->failed();
	check_no_leak(base, n, persistent);
	current_n = 0;
	return 0;
}

static long survey_from = 1, survey_to = N_MAX; /* --from N, --to N */
static int only_mode = -1; /* --transient, --persistent with no --at: run that mode only */

/* --runs R: about R values of N per mode rather than every one (CI's
 * time), for an operation that made `total` allocations in its clean run:
 * every N up to R/4, where the opening of the store fails, then a stride
 * over the rest. 0: every N. */
static long runs_max;
static long first_every, stride = 1;

static void plan_runs(long total)
{
	first_every = runs_max / 4;
	stride = 1;
	if (runs_max > 0 && total > runs_max)
		stride = (total - first_every + (runs_max - first_every) - 1) / (runs_max - first_every);
}

static outcome fault_loop(const operation *op, int persistent, live_counts *base)
{
	outcome o;
	memset(&o, 0, sizeof(o));
	for (long n = survey_from;; n += n < first_every ? 1 : stride) {
		CHECK(n <= N_MAX);
		if (n > survey_to) {
			o.reached = n;
			return o;
		}
		o.runs++;
		if (one_n(op, n, persistent, base, &o)) {
			o.reached = n;
			return o;
		}
	}
}

static double seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void report(const operation *op, int persistent, const outcome *o, double took)
{
	printf("alloc-%s (%s): succeeded at N=%ld after %ld clean failures", op->name,
		persistent ? "persistent" : "transient", o->reached, o->failures);
	if (stride > 1)
		printf(" (sampled: %ld values of N, every N to %ld, then one in %ld)", o->runs, first_every, stride);
	if (o->benign)
		printf(" and %ld benign faults (met, yet the operation succeeded, first at N=%ld)", o->benign,
			o->first_success);
	printf("; its allocations: libmutual %ld, SQLite %ld, libgit2 %ld, zlib %ld; %.1f s\n", o->count[0],
		o->count[1], o->count[2], o->count[3], took);
	if (libgit2_leaks)
		printf("  libgit2's own leaks after its failures (libgit2_leaky): %ld blocks at %ld values of N\n",
			libgit2_leaks, libgit2_leak_ns);
	libgit2_leaks = libgit2_leak_ns = 0;
	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(dependency_bugs); i++) {
		if (dependency_bugs[i].spared)
			printf("  not failed, %ld times, at %s:%d: %s\n", dependency_bugs[i].spared,
				dependency_bugs[i].file, dependency_bugs[i].line, dependency_bugs[i].bug);
		dependency_bugs[i].spared = 0;
	}
	fflush(stdout);
}

static int run_op(const operation *op, long at, int persistent)
{
	live_counts base;
	outcome o;

	fixture();
	/* A clean run first: what a clean outcome is, how many allocations it
	 * makes, and warm caches. */
	op->prepare();
	mutual__test_fault_alloc(0, 0);
	CHECK_OK(op->run());
	{
		long total = 0;
		for (int i = 0; i < MUTUAL_ALLOC_SOURCES; i++)
			total += mutual__test_fault_count(i);
		plan_runs(total);
	}
	if (op->run == sync_folder_run || op->run == sync_bundle_run) {
		mutual_store *s;
		CHECK_OK(mutual_store_open(&s, path_a, 0));
		sync_want = heads_of(s);
		mutual_store_free(s);
	}
	if (op->run == import_run) {
		mutual_store *s;
		CHECK_OK(mutual_store_open(&s, path_d, 0));
		import_want = heads_of(s);
		mutual_store_free(s);
		sync_want = import_want; /* unused */
	}
	op->done();
	base = live_now();
	CHECK(base.live[MUTUAL_ALLOC_ZLIB] == 0);

	if (at > 0) {
		memset(&o, 0, sizeof(o));
		int done = one_n(op, at, persistent, &base, &o);
		printf("alloc-%s N=%ld (%s): %s; allocations: libmutual %ld, SQLite %ld, libgit2 %ld, zlib %ld\n",
			op->name, at, persistent ? "persistent" : "transient",
			done ? "succeeded, fault not met" : o.failures ? "failed cleanly" : "succeeded, fault met",
			o.count[0], o.count[1], o.count[2], o.count[3]);
	} else {
		for (persistent = 0; persistent < 2; persistent++) {
			double t0 = seconds();
			if (only_mode >= 0 && persistent != only_mode)
				continue;
			o = fault_loop(op, persistent, &base);
			report(op, persistent, &o, seconds() - t0);
			/* The hooks are in place: every source this operation
			 * reaches was counted. */
			CHECK(o.count[MUTUAL_ALLOC_SELF] > 0 && o.count[MUTUAL_ALLOC_SQLITE] > 0);
		}
	}
	mutual_free(fx.invite);
	fx.invite = NULL;
	/* The invite was the last of the library's blocks the test held. */
	CHECK(mutual__test_alloc_live(MUTUAL_ALLOC_SELF) == 0);
	return 0;
}

int main(int argc, char **argv)
{
	const operation *op = NULL;
	long at = 0;
	int persistent = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--at") && i + 1 < argc)
			at = atol(argv[++i]);
		else if (!strcmp(argv[i], "--persistent"))
			persistent = only_mode = 1;
		else if (!strcmp(argv[i], "--transient"))
			only_mode = 0;
		else if (!strcmp(argv[i], "--survey"))
			survey = 1;
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs_max = atol(argv[++i]);
		else if (!strcmp(argv[i], "--from") && i + 1 < argc)
			survey_from = atol(argv[++i]);
		else if (!strcmp(argv[i], "--to") && i + 1 < argc)
			survey_to = atol(argv[++i]);
		else if (!strcmp(argv[i], "--spare") && i + 1 < argc) {
			FILE *f = fopen(argv[++i], "r");
			CHECK(f != NULL);
			while (n_survey_spares < 64 &&
			       fscanf(f, "%127s %d %127s %d", survey_spares[n_survey_spares][0], &survey_lines[n_survey_spares][0],
				       survey_spares[n_survey_spares][1], &survey_lines[n_survey_spares][1]) == 4) {
				if (!strcmp(survey_spares[n_survey_spares][1], "-"))
					survey_spares[n_survey_spares][1][0] = '\0';
				n_survey_spares++;
			}
			fclose(f);
		}
		else if (!strcmp(argv[i], "--verbose"))
			verbose = 1;
		else
			for (size_t k = 0; k < MUTUAL_ARRAY_SIZE(operations); k++)
				if (!strcmp(argv[i], operations[k].name))
					op = &operations[k];
	}
	atexit(at_exit);
	mutual__test_fault_spare(spare_dependency_bug);
	/* Every run fsyncs many times: on a disk that is most of the time.
	 * Unless TMPDIR says where, use memory when there is (as
	 * test_property does). */
	{
		const char *tmp = getenv("TMPDIR");
		struct stat shm;
		if ((!tmp || !*tmp) && stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) &&
		    access("/dev/shm", W_OK | X_OK) == 0)
			setenv("TMPDIR", "/dev/shm", 1);
	}
	/* libgit2 reads ~/.gitconfig and its XDG twin into every repository
	 * it opens: without them the allocations counted are the same on
	 * every machine (only /etc/gitconfig is left to the machine). */
	setenv("HOME", "/nonexistent/mutual-test-alloc-fail", 1);
	unsetenv("XDG_CONFIG_HOME");
	if (!op) {
		fprintf(stderr, "usage: test_alloc_fail OP [--at N [--persistent]] [--verbose]\nOP:");
		for (size_t k = 0; k < MUTUAL_ARRAY_SIZE(operations); k++)
			fprintf(stderr, " %s", operations[k].name);
		fprintf(stderr, "\n");
		return 2;
	}
	create_phase = !strcmp(op->name, "join");
	rc = run_op(op, at, persistent);
	tmp_cleanup();
	if (rc == 0 && op->run == create_run && !create_phase && at == 0) {
		/* fault/alloc-create: a new group, then a device joining one. */
		create_phase = 1;
		rc = run_op(&operations[1], 0, 0);
		tmp_cleanup();
	}
	return rc;
}
