/*
 * test_store.c - the public API of stores and logs: create, open, invite and
 * join, append, read, verify, and every refusal, through mutual.h only
 * (SQLite is used directly only to play the attacker who edits the file).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static mutual_store *make_store(const char *name)
{
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	mutual_store *s = NULL;
	opts.device_name = "laptop";
	CHECK_OK(mutual_store_create(&s, tmp_path(name), "Food pantry", &opts));
	return s;
}

static uint64_t count_events(mutual_store *s, const mutual_iter_options *opts)
{
	mutual_iter *it;
	const mutual_event *ev;
	uint64_t n = 0;
	int rc;
	CHECK_OK(mutual_iter_new(&it, s, opts));
	while ((rc = mutual_iter_next(&ev, it)) == 0)
		n++;
	CHECK_RC(rc, MUTUAL_ITEROVER);
	mutual_iter_free(it);
	return n;
}

static void sql(const char *store, const char *statement)
{
	char path[4200];
	sqlite3 *db;
	char *err = NULL;
	snprintf(path, sizeof(path), "%s/mutual.db", store);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	if (sqlite3_exec(db, statement, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "sql failed: %s: %s\n", statement, err);
		exit(1);
	}
	sqlite3_close(db);
}

static int sql_fails(const char *store, const char *statement)
{
	char path[4200];
	sqlite3 *db;
	int rc;
	snprintf(path, sizeof(path), "%s/mutual.db", store);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	rc = sqlite3_exec(db, statement, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc != SQLITE_OK;
}

static void test_create_open(void)
{
	mutual_store *s = make_store("a"), *t = NULL;
	char gid[64], did[80];
	struct stat st;

	CHECK(strlen(mutual_store_group_id(s)) == 32);
	CHECK(strlen(mutual_store_device_id(s)) == 64);
	CHECK(strcmp(mutual_store_group_name(s), "Food pantry") == 0);
	CHECK(strcmp(mutual_store_device_name(s), "laptop") == 0);
	CHECK(!mutual_store_is_readonly(s));
	snprintf(gid, sizeof(gid), "%s", mutual_store_group_id(s));
	snprintf(did, sizeof(did), "%s", mutual_store_device_id(s));
	mutual_store_free(s);

	CHECK_OK(mutual_store_open(&t, tmp_path("a"), 0));
	CHECK(strcmp(mutual_store_group_id(t), gid) == 0);
	CHECK(strcmp(mutual_store_device_id(t), did) == 0);
	CHECK(strcmp(mutual_store_device_name(t), "laptop") == 0);
	CHECK(count_events(t, NULL) == 1); /* the signed mutual.group.create */
	mutual_store_free(t);

	CHECK(stat(tmp_path("a"), &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(stat(tmp_path("a/device.key"), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(tmp_path("a/group.key"), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(tmp_path("a/mutual.db"), &st) == 0 && (st.st_mode & 0777) == 0600);
	mutual_store_free(NULL); /* every free accepts NULL */
}

static void test_create_refusals(void)
{
	mutual_store *s = make_store("a"), *t = (mutual_store *)&s;
	char long_name[300];
	struct stat st;

	CHECK_RC(mutual_store_create(&t, tmp_path("a"), "Again", NULL), MUTUAL_EEXISTS);
	CHECK(t == NULL);
	CHECK(strstr(mutual_error_last(), "not empty"));
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	CHECK_RC(mutual_store_create(&t, tmp_path("b"), "", NULL), MUTUAL_EINVALID);
	CHECK_RC(mutual_store_create(&t, tmp_path("b"), long_name, NULL), MUTUAL_EINVALID);
	CHECK_RC(mutual_store_create(&t, tmp_path("b"), "tab\there", NULL), MUTUAL_EINVALID);
	CHECK_RC(mutual_store_create(&t, tmp_path("b"), "bad \xff utf8", NULL), MUTUAL_EINVALID);
	CHECK(stat(tmp_path("b"), &st) < 0 && errno == ENOENT); /* nothing left behind */
	/* An existing empty folder is fine. */
	CHECK(mkdir(tmp_path("c"), 0755) == 0);
	CHECK_OK(mutual_store_create(&t, tmp_path("c"), "Closet", NULL));
	CHECK(strlen(mutual_store_device_name(t)) > 0); /* defaults to the host name */
	mutual_store_free(t);
	mutual_store_free(s);
}

static void test_open_refusals(void)
{
	mutual_store *s = NULL;
	int fd;

	CHECK_RC(mutual_store_open(&s, tmp_path("missing"), 0), MUTUAL_ENOTFOUND);
	CHECK(strstr(mutual_error_last(), "no store"));
	CHECK(s == NULL);
	CHECK(mkdir(tmp_path("empty"), 0700) == 0);
	CHECK_RC(mutual_store_open(&s, tmp_path("empty"), 0), MUTUAL_ENOTFOUND);

	/* Garbage where the database should be. */
	CHECK(mkdir(tmp_path("garbage"), 0700) == 0);
	fd = open(tmp_path("garbage/mutual.db"), O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	for (int i = 0; i < 64; i++)
		CHECK(write(fd, "this is not a database at all...", 32) == 32);
	close(fd);
	CHECK_RC(mutual_store_open(&s, tmp_path("garbage"), 0), MUTUAL_ECORRUPT);

	/* A real SQLite database, but not ours. */
	CHECK(mkdir(tmp_path("other"), 0700) == 0);
	sql(tmp_path("other"), "CREATE TABLE t(x)");
	CHECK_RC(mutual_store_open(&s, tmp_path("other"), 0), MUTUAL_ECORRUPT);
	CHECK(strstr(mutual_error_last(), "not a libmutual store"));

	/* A store from the future. */
	s = make_store("future");
	mutual_store_free(s);
	sql(tmp_path("future"), "PRAGMA user_version = 99");
	CHECK_RC(mutual_store_open(&s, tmp_path("future"), 0), MUTUAL_EVERSION);
	CHECK(strstr(mutual_error_last(), "newer"));
}

static void test_append_and_lookup(void)
{
	mutual_store *s = make_store("a");
	mutual_event_id id1, id2;
	mutual_event *ev = NULL;
	char buf[MUTUAL_EVENT_ID_STRLEN];
	mutual_event_id parsed;

	CHECK_OK(mutual_append(&id1, s, "pantry.stock.in", "{\"item\":\"rice\",\"qty\":5}"));
	CHECK_OK(mutual_append(&id2, s, "pantry.stock.out", " {\"item\" : \"caf\xc3\xa9\", \"qty\":2} "));
	CHECK(id1.seq == 2 && id2.seq == 3);
	CHECK(memcmp(id1.device, id2.device, 32) == 0);
	CHECK_OK(mutual_event_lookup(&ev, s, &id2));
	CHECK(strcmp(mutual_event_type(ev), "pantry.stock.out") == 0);
	/* Stored byte for byte as given. */
	CHECK(strcmp(mutual_event_payload(ev), " {\"item\" : \"caf\xc3\xa9\", \"qty\":2} ") == 0);
	CHECK(mutual_event_payload_len(ev) == strlen(mutual_event_payload(ev)));
	CHECK(strcmp(mutual_event_device_name(ev), "laptop") == 0);
	CHECK(mutual_event_get_id(ev)->seq == 3);
	mutual_event_free(ev);

	CHECK_OK(mutual_event_id_format(buf, sizeof(buf), &id2));
	CHECK(strncmp(buf, mutual_store_device_id(s), 64) == 0 && strcmp(buf + 64, ":3") == 0);
	CHECK_OK(mutual_event_id_parse(&parsed, buf));
	CHECK(memcmp(&parsed, &id2, sizeof(parsed)) == 0);
	CHECK_RC(mutual_event_id_parse(&parsed, "abc:1"), MUTUAL_EINVALID);
	CHECK_RC(mutual_event_id_parse(&parsed, "nonsense"), MUTUAL_EINVALID);
	buf[65] = '0'; /* seq 0 */
	buf[66] = '\0';
	CHECK_RC(mutual_event_id_parse(&parsed, buf), MUTUAL_EINVALID);
	CHECK_RC(mutual_event_id_format(buf, 10, &id2), MUTUAL_EINVALID);

	parsed = id2;
	parsed.seq = 99;
	ev = (mutual_event *)s;
	CHECK_RC(mutual_event_lookup(&ev, s, &parsed), MUTUAL_ENOTFOUND);
	CHECK(ev == NULL);
	mutual_store_free(s);
}

static void test_append_refusals(void)
{
	static const char *const bad_payloads[] = {
		"", "{", "[1,2]", "\"text\"", "42", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x",
		"{'a':1}", "{\"a\":tru}", "{\"a\":01}", "{\"a\":\"\x01\"}", "{\"a\":\"\xc3\"}",
		"{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\\x\"}", "{\"a\":1.}", "{\"a\":-}", NULL
	};
	static const char *const bad_types[] = { "", "Pantry.in", "pantry in", "9lives", ".x",
		"mutual.group.create", "mutual.anything", "caf\xc3\xa9", NULL };
	mutual_store *s = make_store("a");
	char *big, *deep;
	size_t n;

	for (int i = 0; bad_payloads[i]; i++) {
		CHECK_RC(mutual_append(NULL, s, "t.x", bad_payloads[i]), MUTUAL_EINVALID);
		CHECK(strstr(mutual_error_last(), "payload"));
	}
	for (int i = 0; bad_types[i]; i++)
		CHECK_RC(mutual_append(NULL, s, bad_types[i], "{}"), MUTUAL_EINVALID);
	memset(&n, 0, sizeof(n));
	{
		char type[MUTUAL_TYPE_MAX + 2];
		memset(type, 'a', sizeof(type) - 1);
		type[sizeof(type) - 1] = '\0';
		CHECK_RC(mutual_append(NULL, s, type, "{}"), MUTUAL_EINVALID);
		type[MUTUAL_TYPE_MAX] = '\0';
		CHECK_OK(mutual_append(NULL, s, type, "{}")); /* exactly the limit is fine */
	}
	CHECK_RC(mutual_append(NULL, s, NULL, "{}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_append(NULL, s, "t.x", NULL), MUTUAL_EINVALID);

	/* Exactly the limit passes; one byte more is refused. */
	n = MUTUAL_PAYLOAD_MAX;
	big = malloc(n + 2);
	CHECK(big);
	memset(big, ' ', n + 1);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	CHECK_OK(mutual_append(NULL, s, "t.big", big));
	big[n] = ' ';
	big[n + 1] = '\0';
	CHECK_RC(mutual_append(NULL, s, "t.big", big), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "larger"));
	free(big);

	/* Nesting deeper than the validator allows. */
	deep = malloc(2 * 100 + 16);
	CHECK(deep);
	strcpy(deep, "{\"a\":");
	for (int i = 0; i < 100; i++)
		strcat(deep, "[");
	for (int i = 0; i < 100; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	CHECK_RC(mutual_append(NULL, s, "t.deep", deep), MUTUAL_EINVALID);
	free(deep);

	CHECK(count_events(s, NULL) == 3); /* create + the two accepted */
	CHECK_OK(mutual_verify(NULL, s));
	mutual_store_free(s);
}

static void test_batch(void)
{
	mutual_store *s = make_store("a");
	mutual_append_entry *entries = calloc(1000, sizeof(*entries));
	char (*payloads)[64] = calloc(1000, 64);
	mutual_verify_result res = MUTUAL_VERIFY_RESULT_INIT;
	mutual_event_id first;

	CHECK(entries && payloads);
	for (int i = 0; i < 1000; i++) {
		snprintf(payloads[i], 64, "{\"n\":%d}", i);
		entries[i].type = "t.batch";
		entries[i].payload = payloads[i];
	}
	CHECK_OK(mutual_append_batch(&first, s, entries, 1000));
	CHECK(first.seq == 2);
	CHECK(count_events(s, NULL) == 1001);
	CHECK_OK(mutual_verify(&res, s));
	CHECK(res.ok && res.events == 1001 && res.devices == 1);
	CHECK(res.signatures == 2); /* one for create, one for the whole batch */

	/* One bad entry: nothing of the batch lands. */
	entries[500].payload = "{broken";
	CHECK_RC(mutual_append_batch(&first, s, entries, 1000), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "event 501 of 1000"));
	CHECK(count_events(s, NULL) == 1001);
	CHECK_RC(mutual_append_batch(&first, s, entries, 0), MUTUAL_EINVALID);
	free(entries);
	free(payloads);
	mutual_store_free(s);
}

static void test_iterate(void)
{
	mutual_store *s = make_store("a");
	mutual_iter_options opts = MUTUAL_ITER_OPTIONS_INIT;
	const mutual_event *ev;
	mutual_event_id third;
	mutual_iter *it;
	uint8_t key[32];
	uint64_t last_hlc = 0, n = 0;
	int rc;

	for (int i = 0; i < 10; i++) {
		char p[32];
		snprintf(p, sizeof(p), "{\"i\":%d}", i);
		CHECK_OK(mutual_append(i == 2 ? &third : NULL, s, i % 2 ? "t.odd" : "t.even", p));
	}
	CHECK_OK(mutual_iter_new(&it, s, NULL));
	while ((rc = mutual_iter_next(&ev, it)) == 0) {
		CHECK(mutual_event_hlc(ev) > last_hlc); /* one device: strictly increasing */
		last_hlc = mutual_event_hlc(ev);
		CHECK(mutual_event_get_id(ev)->seq == ++n);
	}
	CHECK_RC(rc, MUTUAL_ITEROVER);
	CHECK_RC(mutual_iter_next(&ev, it), MUTUAL_ITEROVER); /* stays over */
	mutual_iter_free(it);
	CHECK(n == 11);

	opts.type = "t.odd";
	CHECK(count_events(s, &opts) == 5);
	opts.type = "t.none";
	CHECK(count_events(s, &opts) == 0);
	opts.type = NULL;
	opts.limit = 4;
	CHECK(count_events(s, &opts) == 4);
	opts.limit = 0;
	opts.after = &third; /* seq 4: seqs 5..11 follow */
	CHECK(count_events(s, &opts) == 7);
	CHECK_OK(mutual_device_resolve(key, s, "laptop"));
	opts.after = NULL;
	opts.device = key;
	CHECK(count_events(s, &opts) == 11);
	key[0] ^= 1;
	CHECK(count_events(s, &opts) == 0);
	CHECK_OK(mutual_device_resolve(key, s, mutual_store_device_id(s)));
	{
		char prefix[8];
		snprintf(prefix, sizeof(prefix), "%.6s", mutual_store_device_id(s));
		CHECK_OK(mutual_device_resolve(key, s, prefix));
	}
	CHECK_RC(mutual_device_resolve(key, s, "nobody"), MUTUAL_ENOTFOUND);
	third.seq = 500;
	opts.device = NULL;
	opts.after = &third;
	CHECK_RC(mutual_iter_new(&it, s, &opts), MUTUAL_ENOTFOUND);
	opts.version = 99;
	CHECK_RC(mutual_iter_new(&it, s, &opts), MUTUAL_EINVALID);
	mutual_store_free(s);
}

static void test_readonly_flag(void)
{
	mutual_store *s = make_store("a");
	mutual_store_free(s);
	CHECK_OK(mutual_store_open(&s, tmp_path("a"), MUTUAL_OPEN_READONLY));
	CHECK(mutual_store_is_readonly(s));
	CHECK_RC(mutual_append(NULL, s, "t.x", "{}"), MUTUAL_EREADONLY);
	CHECK(strstr(mutual_error_last(), "read-only"));
	CHECK(count_events(s, NULL) == 1);
	CHECK_OK(mutual_verify(NULL, s));
	mutual_store_free(s);
}

static void test_invite_join(void)
{
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	mutual_store *a = make_store("a"), *b = NULL, *c = NULL;
	char *text = NULL, *bad;
	struct stat st;
	const mutual_event *ev;
	mutual_iter *it;
	size_t len;

	CHECK_OK(mutual_invite_write(a, tmp_path("invite")));
	CHECK(stat(tmp_path("invite"), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_RC(mutual_invite_write(a, tmp_path("invite")), MUTUAL_EEXISTS);
	opts.device_name = "phone";
	CHECK_OK(mutual_store_join(&b, tmp_path("b"), tmp_path("invite"), &opts));
	CHECK(strcmp(mutual_store_group_id(a), mutual_store_group_id(b)) == 0);
	CHECK(strcmp(mutual_store_group_name(b), "Food pantry") == 0);
	CHECK(strcmp(mutual_store_device_id(a), mutual_store_device_id(b)) != 0);
	CHECK(strcmp(mutual_store_device_name(b), "phone") == 0);
	CHECK_OK(mutual_iter_new(&it, b, NULL));
	CHECK_OK(mutual_iter_next(&ev, it));
	CHECK(strcmp(mutual_event_type(ev), "mutual.device.join") == 0);
	CHECK(strstr(mutual_event_payload(ev), mutual_store_device_id(a))); /* invited_by */
	CHECK(strstr(mutual_event_payload(ev), "\"name\":\"phone\""));
	mutual_iter_free(it);

	CHECK_OK(mutual_invite_text(&text, a));
	CHECK(strncmp(text, "MUTUAL-INVITE-1:", 16) == 0);
	opts.device_name = "office";
	CHECK_OK(mutual_store_join_text(&c, tmp_path("c"), text, &opts));
	CHECK(strcmp(mutual_store_group_id(a), mutual_store_group_id(c)) == 0);
	mutual_store_free(c);

	/* Every single-character change and every truncation is refused. */
	len = strlen(text);
	bad = malloc(len + 1);
	CHECK(bad);
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, text, len + 1);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		CHECK(mutual_store_join_text(&c, tmp_path("d"), bad, NULL) < 0);
		memcpy(bad, text, len + 1);
		bad[i] = '\0';
		CHECK(mutual_store_join_text(&c, tmp_path("d"), bad, NULL) < 0);
	}
	CHECK(stat(tmp_path("d"), &st) < 0); /* no half store */
	CHECK_RC(mutual_store_join_text(&c, tmp_path("d"), "MUTUAL-INVITE-9:abc", NULL), MUTUAL_EVERSION);
	CHECK_RC(mutual_store_join(&c, tmp_path("d"), tmp_path("no-such-invite"), NULL), MUTUAL_ENOTFOUND);
	free(bad);
	mutual_free(text);
	mutual_store_free(a);
	mutual_store_free(b);
}

static void test_key_permissions(void)
{
	mutual_store *s = make_store("a");
	mutual_store_free(s);
	CHECK(chmod(tmp_path("a/device.key"), 0644) == 0);
	CHECK_OK(mutual_store_open(&s, tmp_path("a"), 0));
	CHECK_RC(mutual_append(NULL, s, "t.x", "{}"), MUTUAL_ERROR);
	CHECK(strstr(mutual_error_last(), "chmod 600"));
	CHECK(count_events(s, NULL) == 1);
	mutual_store_free(s);
	CHECK(chmod(tmp_path("a/device.key"), 0600) == 0);
	CHECK(unlink(tmp_path("a/device.key")) == 0);
	CHECK_OK(mutual_store_open(&s, tmp_path("a"), 0)); /* reading needs no secret */
	CHECK_RC(mutual_append(NULL, s, "t.x", "{}"), MUTUAL_ENOTFOUND);
	mutual_store_free(s);
}

static void test_triggers(void)
{
	mutual_store *s = make_store("a");
	mutual_store_free(s);
	CHECK(sql_fails(tmp_path("a"), "UPDATE events SET payload = '{}'"));
	CHECK(sql_fails(tmp_path("a"), "DELETE FROM events"));
	CHECK_OK(mutual_store_open(&s, tmp_path("a"), 0));
	CHECK(count_events(s, NULL) == 1);
	CHECK_OK(mutual_verify(NULL, s));
	mutual_store_free(s);
}

/* Make a store with seqs 1..6, the last two appended as one batch. */
static void six_events(const char *name)
{
	mutual_store *s = make_store(name);
	mutual_append_entry pair[2] = { { "t.x", "{\"n\":5}" }, { "t.x", "{\"n\":6}" } };
	for (int i = 2; i <= 4; i++) {
		char p[32];
		snprintf(p, sizeof(p), "{\"n\":%d}", i);
		CHECK_OK(mutual_append(NULL, s, "t.x", p));
	}
	CHECK_OK(mutual_append_batch(NULL, s, pair, 2));
	mutual_store_free(s);
}

static void expect_bad(const char *name, uint64_t seq, const char *reason)
{
	mutual_verify_result res = MUTUAL_VERIFY_RESULT_INIT;
	mutual_store *s;
	CHECK_OK(mutual_store_open(&s, tmp_path(name), 0));
	CHECK_RC(mutual_verify(&res, s), MUTUAL_EVERIFY);
	CHECK(!res.ok);
	if (res.bad.seq != seq || !strstr(res.reason, reason)) {
		fprintf(stderr, "%s: expected seq %llu '%s', got seq %llu '%s'\n", name,
			(unsigned long long)seq, reason, (unsigned long long)res.bad.seq, res.reason);
		exit(1);
	}
	CHECK(strstr(mutual_error_last(), "does not verify"));
	mutual_store_free(s);
}

static void test_verify_tamper(void)
{
	mutual_store *s;
	mutual_verify_result res = MUTUAL_VERIFY_RESULT_INIT;

	six_events("ok");
	CHECK_OK(mutual_store_open(&s, tmp_path("ok"), 0));
	CHECK_OK(mutual_verify(&res, s));
	CHECK(res.ok && res.events == 6 && res.signatures == 5);
	mutual_store_free(s);

	six_events("payload");
	sql(tmp_path("payload"), "DROP TRIGGER events_no_update;"
		"UPDATE events SET payload = '{\"n\":300}' WHERE seq = 3");
	expect_bad("payload", 3, "payload was altered");

	/* A careful attacker fixes the digest too: the hash no longer matches. */
	six_events("digest");
	sql(tmp_path("digest"), "DROP TRIGGER events_no_update;"
		"UPDATE events SET payload = '{\"n\":300}', digest = randomblob(32) WHERE seq = 3");
	expect_bad("digest", 3, "payload was altered");

	/* ... and rewrites the stored hash: the next link breaks. */
	six_events("hash");
	sql(tmp_path("hash"), "DROP TRIGGER events_no_update; UPDATE events SET hlc = hlc + 1, hash = randomblob(32) WHERE seq = 3");
	expect_bad("hash", 3, "altered");

	six_events("gap");
	sql(tmp_path("gap"), "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 4");
	expect_bad("gap", 4, "missing");

	six_events("sig");
	sql(tmp_path("sig"), "DROP TRIGGER events_no_update; UPDATE events SET sig = randomblob(64) WHERE seq = 2");
	expect_bad("sig", 2, "signature");

	/* Cutting the signed tail off a batch leaves seq 5 uncovered. */
	six_events("tail");
	sql(tmp_path("tail"), "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 6");
	expect_bad("tail", 5, "not covered by a signature");

	six_events("type");
	sql(tmp_path("type"), "DROP TRIGGER events_no_update; UPDATE events SET type = 't.y' WHERE seq = 6");
	expect_bad("type", 6, "altered");
}

static void test_truncated_db(void)
{
	mutual_store *s = make_store("a");
	mutual_append_entry *entries = calloc(2000, sizeof(*entries));
	char payload[600];
	struct stat st;
	int rc;

	CHECK(entries);
	memset(payload, 'x', sizeof(payload));
	memcpy(payload, "{\"pad\":\"", 8);
	strcpy(payload + sizeof(payload) - 3, "\"}");
	for (int i = 0; i < 2000; i++)
		entries[i] = (mutual_append_entry){ "t.pad", payload };
	CHECK_OK(mutual_append_batch(NULL, s, entries, 2000));
	free(entries);
	mutual_store_free(s); /* the last close checkpoints the WAL into mutual.db */
	CHECK(stat(tmp_path("a/mutual.db"), &st) == 0 && st.st_size > 1000000);
	CHECK(truncate(tmp_path("a/mutual.db"), st.st_size / 2) == 0);
	rc = mutual_store_open(&s, tmp_path("a"), 0);
	if (rc == 0) {
		mutual_verify_result res = MUTUAL_VERIFY_RESULT_INIT;
		rc = mutual_verify(&res, s);
		CHECK(rc == MUTUAL_ECORRUPT || rc == MUTUAL_EVERIFY);
		CHECK(!res.ok && res.reason[0]);
		mutual_store_free(s);
	} else {
		CHECK(rc == MUTUAL_ECORRUPT);
	}
	CHECK(strlen(mutual_error_last()) > 10);
}

#define WORKERS 4
#define PER_WORKER 150

static void *thread_append(void *arg)
{
	mutual_store *s;
	(void)arg;
	CHECK_OK(mutual_store_open(&s, tmp_path("a"), 0));
	for (int i = 0; i < PER_WORKER; i++)
		CHECK_OK(mutual_append(NULL, s, "t.thread", "{\"w\":1}"));
	mutual_store_free(s);
	return NULL;
}

static void check_gapless(uint64_t expected)
{
	mutual_store *s;
	mutual_verify_result res = MUTUAL_VERIFY_RESULT_INIT;
	CHECK_OK(mutual_store_open(&s, tmp_path("a"), 0));
	CHECK_OK(mutual_verify(&res, s)); /* verify checks seqs are gapless */
	CHECK(res.events == expected);
	CHECK(count_events(s, NULL) == expected);
	mutual_store_free(s);
}

static void test_threads(void)
{
	pthread_t t[WORKERS];
	mutual_store_free(make_store("a"));
	for (int i = 0; i < WORKERS; i++)
		CHECK(pthread_create(&t[i], NULL, thread_append, NULL) == 0);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	check_gapless(1 + WORKERS * PER_WORKER);
}

static void test_processes(void)
{
	pid_t pids[WORKERS];
	mutual_store_free(make_store("a"));
	for (int i = 0; i < WORKERS; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			thread_append(NULL);
			_exit(0);
		}
	}
	for (int i = 0; i < WORKERS; i++) {
		int status;
		CHECK(waitpid(pids[i], &status, 0) == pids[i]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	check_gapless(1 + WORKERS * PER_WORKER);
}

static void *thread_error(void *arg)
{
	mutual_store *s = NULL;
	(void)arg;
	CHECK(mutual_store_open(&s, "/nonexistent/store", 0) == MUTUAL_ENOTFOUND);
	return NULL;
}

static void test_error_per_thread(void)
{
	mutual_store *s = make_store("a");
	pthread_t t;
	CHECK_RC(mutual_append(NULL, s, "t.x", "{bad"), MUTUAL_EINVALID);
	CHECK(pthread_create(&t, NULL, thread_error, NULL) == 0);
	pthread_join(t, NULL);
	CHECK(strstr(mutual_error_last(), "payload")); /* not the other thread's message */
	CHECK_OK(mutual_append(NULL, s, "t.x", "{}"));
	CHECK(strcmp(mutual_error_last(), "") == 0); /* cleared by a success */
	mutual_store_free(s);
}

typedef struct {
	int devices, self;
	uint64_t events;
} device_count;

static int count_device(const mutual_device_info *d, void *payload)
{
	device_count *c = payload;
	c->devices++;
	c->self += d->is_self;
	c->events += d->events;
	CHECK(d->events == d->head_seq);
	CHECK(strlen(d->id) == 64);
	return 0;
}

static int stop_at_first(const mutual_device_info *d, void *payload)
{
	(void)d;
	(void)payload;
	return 42;
}

static void test_devices(void)
{
	mutual_store *s = make_store("a");
	device_count c = { 0, 0, 0 };
	CHECK_OK(mutual_append(NULL, s, "t.x", "{}"));
	CHECK_OK(mutual_device_foreach(s, count_device, &c));
	CHECK(c.devices == 1 && c.self == 1 && c.events == 2);
	CHECK_RC(mutual_device_foreach(s, stop_at_first, NULL), 42);
	mutual_store_free(s);
}

static void test_options_init(void)
{
	mutual_create_options c;
	mutual_iter_options i;
	CHECK_OK(mutual_create_options_init(&c, MUTUAL_CREATE_OPTIONS_VERSION));
	CHECK(c.version == MUTUAL_CREATE_OPTIONS_VERSION && c.device_name == NULL);
	CHECK_RC(mutual_create_options_init(&c, 999), MUTUAL_EINVALID);
	CHECK_OK(mutual_iter_options_init(&i, MUTUAL_ITER_OPTIONS_VERSION));
	CHECK(i.type == NULL && i.limit == 0);
	CHECK(strcmp(mutual_version(), MUTUAL_VERSION) == 0);
	/* Every _init refuses no struct, version 0 and a version from the future. */
	CHECK_RC(mutual_create_options_init(NULL, MUTUAL_CREATE_OPTIONS_VERSION), MUTUAL_EINVALID);
	CHECK_RC(mutual_iter_options_init(NULL, MUTUAL_ITER_OPTIONS_VERSION), MUTUAL_EINVALID);
	CHECK_RC(mutual_sync_options_init(NULL, MUTUAL_SYNC_OPTIONS_VERSION), MUTUAL_EINVALID);
	CHECK_RC(mutual_projection_def_init(NULL, MUTUAL_PROJECTION_DEF_VERSION), MUTUAL_EINVALID);
	for (unsigned int v = 0; v < 3; v += 2) {
		mutual_sync_options so;
		mutual_projection_def pd;
		CHECK_RC(mutual_create_options_init(&c, v), MUTUAL_EINVALID);
		CHECK_RC(mutual_iter_options_init(&i, v), MUTUAL_EINVALID);
		CHECK_RC(mutual_sync_options_init(&so, v), MUTUAL_EINVALID);
		CHECK_RC(mutual_projection_def_init(&pd, v), MUTUAL_EINVALID);
		CHECK(strstr(mutual_error_last(), "this library knows 1 to 1") != NULL);
	}
}

/* Options of an unknown version are refused before anything is done. */
static void test_options_versions(void)
{
	mutual_store *s = make_store("a"), *t = NULL;
	mutual_create_options co = MUTUAL_CREATE_OPTIONS_INIT;
	mutual_iter_options io = MUTUAL_ITER_OPTIONS_INIT;
	mutual_sync_options so = MUTUAL_SYNC_OPTIONS_INIT;
	mutual_projection_def pd = MUTUAL_PROJECTION_DEF_INIT;
	mutual_iter *it = NULL;
	struct stat st;

	co.version = io.version = so.version = pd.version = 2;
	CHECK_RC(mutual_store_create(&t, tmp_path("b"), "Other", &co), MUTUAL_EINVALID);
	CHECK(t == NULL && stat(tmp_path("b"), &st) < 0);
	CHECK_RC(mutual_iter_new(&it, s, &io), MUTUAL_EINVALID);
	CHECK(it == NULL);
	CHECK_RC(mutual_sync(NULL, s, tmp_path("stick"), &so), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "sync options version 2") != NULL);
	pd.name = "shelf";
	CHECK_RC(mutual_projection_register(s, &pd), MUTUAL_EINVALID);
	mutual_store_free(s);
}

/* Output structs: version 0 is refused before any work; a caller built
 * against a newer header (a higher version, a bigger struct) gets this
 * library's fields, no byte past them written, and the version filled in. */
static void test_output_versions(void)
{
	mutual_store *s = make_store("a");
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	mutual_verify_result vr = MUTUAL_VERIFY_RESULT_INIT;
	mutual_projection_stats ps = MUTUAL_PROJECTION_STATS_INIT;
	union {
		mutual_sync_stats sync;
		mutual_verify_result verify;
		mutual_projection_stats proj;
		unsigned char bytes[sizeof(mutual_sync_stats) + sizeof(mutual_verify_result) + 64];
	} big;
	size_t n;

	CHECK(mkdir(tmp_path("stick"), 0700) == 0);
	CHECK_OK(mutual_append(NULL, s, "t.x", "{}"));
	st.version = 0;
	CHECK_RC(mutual_sync(&st, s, tmp_path("stick"), NULL), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "_INIT") != NULL);
	CHECK(rmdir(tmp_path("stick")) == 0 && mkdir(tmp_path("stick"), 0700) == 0); /* left empty */
	vr.version = 0;
	CHECK_RC(mutual_verify(&vr, s), MUTUAL_EINVALID);
	ps.version = 0;
	CHECK_RC(mutual_projection_stats_get(&ps, s), MUTUAL_EINVALID);

	memset(&big, 0xAA, sizeof(big));
	big.sync.version = 7;
	CHECK_OK(mutual_sync(&big.sync, s, tmp_path("stick"), NULL));
	CHECK(big.sync.version == MUTUAL_SYNC_STATS_VERSION && big.sync.events_sent == 2 && big.sync.safe_to_remove == 1);
	for (n = sizeof(mutual_sync_stats); n < sizeof(big.bytes); n++)
		CHECK(big.bytes[n] == 0xAA);
	memset(&big, 0xAA, sizeof(big));
	big.verify.version = 7;
	CHECK_OK(mutual_verify(&big.verify, s));
	CHECK(big.verify.version == MUTUAL_VERIFY_RESULT_VERSION && big.verify.ok == 1 && big.verify.events == 2);
	for (n = sizeof(mutual_verify_result); n < sizeof(big.bytes); n++)
		CHECK(big.bytes[n] == 0xAA);
	memset(&big, 0xAA, sizeof(big));
	big.proj.version = 7;
	CHECK_OK(mutual_projection_stats_get(&big.proj, s));
	CHECK(big.proj.version == MUTUAL_PROJECTION_STATS_VERSION);
	for (n = sizeof(mutual_projection_stats); n < sizeof(big.bytes); n++)
		CHECK(big.bytes[n] == 0xAA);
	/* A caller built against version 1 of the sync stats gets version 1:
	 * nothing written from version 2's first field on. */
	memset(&big, 0xAA, sizeof(big));
	big.sync.version = 1;
	CHECK_OK(mutual_sync(&big.sync, s, tmp_path("stick"), NULL));
	CHECK(big.sync.version == 1 && big.sync.safe_to_remove == 1);
	for (n = offsetof(mutual_sync_stats, segments_without_key); n < sizeof(big.bytes); n++)
		CHECK(big.bytes[n] == 0xAA);
	/* and one built against version 2 nothing from version 3's on. */
	memset(&big, 0xAA, sizeof(big));
	big.sync.version = 2;
	CHECK_OK(mutual_sync(&big.sync, s, tmp_path("stick"), NULL));
	CHECK(big.sync.version == 2 && big.sync.segments_without_key == 0);
	for (n = offsetof(mutual_sync_stats, own_events_waiting); n < sizeof(big.bytes); n++)
		CHECK(big.bytes[n] == 0xAA);
	/* The ordinary way: _INIT, filled in. */
	vr.version = MUTUAL_VERIFY_RESULT_VERSION;
	CHECK_OK(mutual_verify(&vr, s));
	CHECK(vr.ok == 1 && vr.events == 2 && vr.devices == 1);
	mutual_store_free(s);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "create_open", test_create_open },
		{ "create_refusals", test_create_refusals },
		{ "open_refusals", test_open_refusals },
		{ "append_and_lookup", test_append_and_lookup },
		{ "append_refusals", test_append_refusals },
		{ "batch", test_batch },
		{ "iterate", test_iterate },
		{ "readonly_flag", test_readonly_flag },
		{ "invite_join", test_invite_join },
		{ "key_permissions", test_key_permissions },
		{ "triggers", test_triggers },
		{ "verify_tamper", test_verify_tamper },
		{ "truncated_db", test_truncated_db },
		{ "threads", test_threads },
		{ "processes", test_processes },
		{ "error_per_thread", test_error_per_thread },
		{ "devices", test_devices },
		{ "options_init", test_options_init },
		{ "options_versions", test_options_versions },
		{ "output_versions", test_output_versions },
	};
	return run_cases(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
