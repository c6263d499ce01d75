/*
 * test_keyring.c - a store's group keys (keyring.c): the one-key file every
 * store in the field has, several keys kept in order across a reopen, keys
 * added as current or as older, damaged files refused with their name and
 * left untouched, mode 0600 kept, and two keys under one id both tried.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "keyring.h"
#include "segment.h"
#include "store.h"

static char *slurp(const char *path)
{
	mutual_buf b = { 0 };
	CHECK_OK(mutual__read_file(&b, path, 1 << 20));
	return (char *)b.data;
}

static void spit(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(fchmod(fd, 0600) == 0 && close(fd) == 0);
}

static mutual_store *reopen(mutual_store *s, const char *name)
{
	mutual_store_free(s);
	CHECK_OK(mutual_store_open(&s, tmp_path(name), 0));
	return s;
}

static void fill(uint8_t key[MUTUAL_GROUP_KEY_SIZE], uint8_t byte)
{
	memset(key, byte, MUTUAL_GROUP_KEY_SIZE);
}

/* A store made today holds one line, and reads as it always did. */
static void test_one_key_file(void)
{
	mutual_store *s = check_store_create("a", "laptop");
	char *text = slurp(tmp_path("a/group.key"));
	unsigned id;
	char hex[65];

	CHECK(sscanf(text, "mutual-group-key 1\n%u %64s\n", &id, hex) == 2 && id == 1);
	CHECK(strlen(text) == strlen("mutual-group-key 1\n1 \n") + 64);
	s = reopen(s, "a");
	CHECK_OK(mutual__store_load_group_key(s));
	CHECK(s->n_keys == 1 && s->key_id == 1 && s->keys[0].id == 1);
	mutual__hex(hex, s->group_key, MUTUAL_GROUP_KEY_SIZE);
	CHECK(strstr(text, hex) != NULL);
	mutual__free(text);
	mutual_store_free(s);
}

/* Added as current or older, the keys come back in that order after a
 * reopen; the current one is what s->key_id and s->group_key say. */
static void test_several_keys_round_trip(void)
{
	mutual_store *s = check_store_create("a", "laptop");
	uint8_t k2[32], k3[32], first[32];
	char *text;

	CHECK_OK(mutual__store_load_group_key(s));
	memcpy(first, s->group_key, 32);
	fill(k2, 0x22);
	fill(k3, 0x33);
	CHECK_OK(mutual__store_add_group_key(s, 7, k2, 0));  /* older: sealing goes on with key 1 */
	CHECK(s->n_keys == 2 && s->key_id == 1 && memcmp(s->group_key, first, 32) == 0);
	CHECK_OK(mutual__store_add_group_key(s, 9, k3, 1));  /* current */
	CHECK(s->n_keys == 3 && s->key_id == 9 && memcmp(s->group_key, k3, 32) == 0);
	s = reopen(s, "a");
	CHECK_OK(mutual__store_load_group_key(s));
	CHECK(s->n_keys == 3 && s->key_id == 9 && memcmp(s->group_key, k3, 32) == 0);
	CHECK(s->keys[1].id == 1 && memcmp(s->keys[1].key, first, 32) == 0);
	CHECK(s->keys[2].id == 7 && memcmp(s->keys[2].key, k2, 32) == 0);
	text = slurp(tmp_path("a/group.key"));
	CHECK(strncmp(text, "mutual-group-key 1\n9 3333", 25) == 0);
	mutual__free(text);
	CHECK(access(tmp_path("a/group.key.new"), F_OK) < 0 && errno == ENOENT);
	/* An invite (version 2) carries every key, in order, the current first. */
	{
		mutual_store *b = check_store_join(s, "b", "phone");
		CHECK_OK(mutual__store_load_group_key(b));
		CHECK(b->n_keys == 3 && b->key_id == 9 && memcmp(b->group_key, k3, 32) == 0);
		CHECK(b->keys[1].id == 1 && memcmp(b->keys[1].key, first, 32) == 0);
		CHECK(b->keys[2].id == 7 && memcmp(b->keys[2].key, k2, 32) == 0);
		mutual_store_free(b);
	}
	mutual_store_free(s);
}

/* A key held already is not added twice; as current it moves to the front. */
static void test_add_current_and_older(void)
{
	mutual_store *s = check_store_create("a", "laptop");
	uint8_t k2[32], first[32];

	CHECK_OK(mutual__store_load_group_key(s));
	memcpy(first, s->group_key, 32);
	fill(k2, 0x22);
	CHECK_OK(mutual__store_add_group_key(s, 2, k2, 0));
	CHECK_OK(mutual__store_add_group_key(s, 2, k2, 0));
	CHECK(s->n_keys == 2 && s->key_id == 1);
	CHECK_OK(mutual__store_add_group_key(s, 2, k2, 1));
	CHECK(s->n_keys == 2 && s->key_id == 2 && s->keys[1].id == 1 && memcmp(s->keys[1].key, first, 32) == 0);
	CHECK_OK(mutual__store_add_group_key(s, 1, first, 1)); /* back to the first */
	CHECK(s->n_keys == 2 && s->key_id == 1 && s->keys[1].id == 2);
	s = reopen(s, "a");
	CHECK_OK(mutual__store_load_group_key(s));
	CHECK(s->n_keys == 2 && s->key_id == 1 && s->keys[1].id == 2);
	mutual_store_free(s);
}

/* Each damaged file is MUTUAL_ECORRUPT naming the file, and is left as it is. */
static void test_damaged_files_refused(void)
{
	static const char *const h = "mutual-group-key 1\n";
	static const char *const k = "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f";
	char bad[16][256];
	mutual_buf many = { 0 };
	size_t n = 0;
	mutual_store *s = check_store_create("a", "laptop");
	char path[4096], *keep;

	snprintf(path, sizeof(path), "%s", tmp_path("a/group.key")); /* tmp_path's buffer rotates */
	keep = slurp(path);

	snprintf(bad[n++], 256, "%s", h);                                  /* no key */
	snprintf(bad[n++], 256, "%sx1 %s\n", h, k);                         /* bad id */
	snprintf(bad[n++], 256, "%s-1 %s\n", h, k);                         /* a sign */
	snprintf(bad[n++], 256, "%s4294967296 %s\n", h, k);                 /* id over 32 bits */
	snprintf(bad[n++], 256, "%s1 %.63sg\n", h, k);                      /* bad hex */
	snprintf(bad[n++], 256, "%s1 %.62s\n", h, k);                       /* short key */
	snprintf(bad[n++], 256, "%s1 %s\n2 %s\n1 %s\n", h, k, k, k);        /* a line repeated */
	snprintf(bad[n++], 256, "%s1 %s\n#\n", h, k);                       /* trailing garbage */
	snprintf(bad[n++], 256, "%s1 %s\n\n", h, k);                        /* a blank line */
	snprintf(bad[n++], 256, "%s1  %s\n", h, k);                         /* two spaces */
	snprintf(bad[n++], 256, "mutual-group-key 2\n1 %s\n", k);           /* another header */
	mutual__buf_printf(&many, "%s", h);
	for (unsigned i = 0; i <= MUTUAL_GROUP_KEYS_MAX; i++)
		mutual__buf_printf(&many, "%u %s\n", i, k);
	CHECK_OK(mutual__buf_cstr(&many));
	for (size_t i = 0; i <= n; i++) {
		const char *text = i < n ? bad[i] : (const char *)many.data;
		char *after;
		s = reopen(s, "a");
		spit(path, text);
		CHECK_RC(mutual__store_load_group_key(s), MUTUAL_ECORRUPT);
		CHECK(strstr(mutual_error_last(), path) != NULL);
		CHECK(!s->have_group_key && s->n_keys == 0);
		after = slurp(path);
		CHECK(strcmp(after, text) == 0);
		mutual__free(after);
	}
	/* Exactly the bound, and a last line without its newline, are fine. */
	many.len = 0;
	mutual__buf_printf(&many, "%s", h);
	for (unsigned i = 0; i < MUTUAL_GROUP_KEYS_MAX; i++)
		mutual__buf_printf(&many, "%u %s%s", i, k, i + 1 < MUTUAL_GROUP_KEYS_MAX ? "\n" : "");
	CHECK_OK(mutual__buf_cstr(&many));
	spit(path, (const char *)many.data);
	s = reopen(s, "a");
	CHECK_OK(mutual__store_load_group_key(s));
	CHECK(s->n_keys == MUTUAL_GROUP_KEYS_MAX && s->key_id == 0);
	CHECK_RC(mutual__store_add_group_key(s, 5000, s->group_key, 0), MUTUAL_EINVALID);
	mutual__buf_free(&many);
	spit(path, keep);
	mutual__free(keep);
	mutual_store_free(s);
}

/* group.key stays 0600 through an add; a readable one is refused. */
static void test_mode_0600(void)
{
	mutual_store *s = check_store_create("a", "laptop");
	struct stat st;
	uint8_t k2[32];

	fill(k2, 0x22);
	umask(0);
	CHECK_OK(mutual__store_add_group_key(s, 2, k2, 1));
	umask(022);
	CHECK(stat(tmp_path("a/group.key"), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(chmod(tmp_path("a/group.key"), 0644) == 0);
	s = reopen(s, "a");
	CHECK_RC(mutual__store_load_group_key(s), MUTUAL_ERROR);
	CHECK(strstr(mutual_error_last(), "chmod 600") != NULL);
	CHECK_RC(mutual__store_add_group_key(s, 3, k2, 1), MUTUAL_ERROR);
	CHECK(chmod(tmp_path("a/group.key"), 0600) == 0);
	mutual_store_free(s);
}

/* Two keys under one id: a segment sealed with either opens; one with an
 * id not held is MUTUAL_ENOTFOUND, saying it waits for its key. */
static void test_duplicate_ids_both_tried(void)
{
	mutual_store *s = check_store_create("a", "laptop");
	uint8_t k2[32], k3[32], k4[32];
	mutual_buf plain = { 0 }, sealed = { 0 }, opened = { 0 };
	const mutual_group_key *g;
	size_t pos = 0;

	fill(k2, 0x22);
	fill(k3, 0x33);
	fill(k4, 0x44);
	CHECK_OK(mutual__store_add_group_key(s, 5, k2, 1));
	CHECK_OK(mutual__store_add_group_key(s, 5, k3, 0));
	CHECK(s->n_keys == 3);
	CHECK((g = mutual__keyring_next(s, 5, &pos)) && memcmp(g->key, k2, 32) == 0);
	CHECK((g = mutual__keyring_next(s, 5, &pos)) && memcmp(g->key, k3, 32) == 0);
	CHECK(!mutual__keyring_next(s, 5, &pos));
	CHECK_OK(mutual__segment_begin(&plain, s->group_id_raw, s->self, 1));
	mutual__segment_finish(&plain, 1);
	CHECK_OK(mutual__buf_check(&plain));
	for (int i = 0; i < 2; i++) {
		CHECK_OK(mutual__segment_seal(&sealed, &plain, s->group_id_raw, s->self, 5, i ? k3 : k2));
		CHECK_OK(mutual__keyring_segment_open(&opened, s, sealed.data, sealed.len, s->self));
		CHECK(opened.len == plain.len && memcmp(opened.data, plain.data, plain.len) == 0);
	}
	CHECK_OK(mutual__segment_seal(&sealed, &plain, s->group_id_raw, s->self, 5, k4));
	CHECK_RC(mutual__keyring_segment_open(&opened, s, sealed.data, sealed.len, s->self), MUTUAL_EVERIFY);
	CHECK_OK(mutual__segment_seal(&sealed, &plain, s->group_id_raw, s->self, 6, k4));
	CHECK_RC(mutual__keyring_segment_open(&opened, s, sealed.data, sealed.len, s->self), MUTUAL_ENOTFOUND);
	CHECK(strstr(mutual_error_last(), "has not received yet (key 6)") != NULL);
	CHECK_OK(mutual__store_add_group_key(s, 6, k4, 0));
	CHECK_OK(mutual__keyring_segment_open(&opened, s, sealed.data, sealed.len, s->self));
	mutual__buf_free(&plain);
	mutual__buf_free(&sealed);
	mutual__buf_free(&opened);
	mutual_store_free(s);
}

typedef struct {
	int warnings, other;
	char last[512];
} reports;

static void on_report(const char *device, const char *reason, void *payload)
{
	reports *r = payload;
	(void)device;
	if (strncmp(reason, "warning: ", 9) == 0 && strstr(reason, "has not received yet"))
		r->warnings++;
	else
		r->other++;
	snprintf(r->last, sizeof(r->last), "%s", reason);
}

static uint64_t events_held(mutual_store *s)
{
	mutual_verify_result vr = MUTUAL_VERIFY_RESULT_INIT;
	CHECK_OK(mutual_verify(&vr, s));
	return vr.events;
}

/* A store holding only key 1 syncs a stick where another device's log goes
 * on under key 2: what came before is imported, the rest is held back
 * (counted, warned of, no refusal, the stick's ref left as it is), and
 * once key 2 is added the next sync imports it. */
static void test_sync_holds_back(void)
{
	mutual_store *a = check_store_create("a", "laptop"), *b = check_store_join(a, "b", "phone");
	mutual_sync_options opts = MUTUAL_SYNC_OPTIONS_INIT;
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	reports r = { 0, 0, "" };
	uint8_t k2[32];
	uint64_t before;
	char stick[4096];

	snprintf(stick, sizeof(stick), "%s", tmp_path("stick"));
	CHECK(mkdir(stick, 0700) == 0);
	opts.refusal = on_report;
	opts.refusal_payload = &r;
	CHECK_OK(mutual_append(NULL, b, "t.x", "{\"n\":1}"));
	CHECK_OK(mutual_sync(&st, b, stick, NULL));            /* under key 1 */
	fill(k2, 0x22);
	CHECK_OK(mutual__store_add_group_key(b, 2, k2, 1));     /* b received a rotation's key */
	CHECK_OK(mutual_append(NULL, b, "t.x", "{\"n\":2}"));
	CHECK_OK(mutual_append(NULL, b, "t.x", "{\"n\":3}"));
	CHECK_OK(mutual_sync(&st, b, stick, NULL));            /* under key 2 */
	CHECK(st.segments_sent == 1);

	before = events_held(a);
	CHECK_OK(mutual_sync(&st, a, stick, &opts));
	CHECK(st.version == MUTUAL_SYNC_STATS_VERSION && st.refused == 0 && st.first_refusal[0] == '\0');
	CHECK(st.segments_without_key == 1 && r.warnings == 1 && r.other == 0);
	CHECK(strstr(r.last, "(key 2): it will be imported once a coordinator's key for this device arrives"));
	CHECK(st.events_received == 2 && events_held(a) == before + 2); /* b's join and n=1 */
	CHECK(st.safe_to_remove == 1);
	/* Again: still held back, nothing refused, nothing lost on the stick. */
	CHECK_OK(mutual_sync(&st, a, stick, &opts));
	CHECK(st.segments_without_key == 1 && st.refused == 0 && st.events_received == 0);

	CHECK_OK(mutual__store_add_group_key(a, 2, k2, 0));
	memset(&r, 0, sizeof(r));
	CHECK_OK(mutual_sync(&st, a, stick, &opts));
	CHECK(st.segments_without_key == 0 && st.refused == 0 && r.warnings == 0);
	CHECK(st.events_received == 2 && events_held(a) == before + 4);
	/* a still seals with key 1 (added as older), and b opens it. */
	CHECK(a->key_id == 1);
	CHECK_OK(mutual_append(NULL, a, "t.x", "{\"n\":4}"));
	CHECK_OK(mutual_sync(&st, a, stick, NULL));
	CHECK_OK(mutual_sync(&st, b, stick, NULL));
	CHECK(st.refused == 0 && st.segments_without_key == 0 && st.events_received >= 1);
	mutual_store_free(a);
	mutual_store_free(b);
}

/* The commitment binds the key to its group and id. */
static void test_key_commit(void)
{
	uint8_t gid[MUTUAL_GROUP_ID_SIZE], key[32], c[MUTUAL_KEY_COMMIT_SIZE];
	memset(gid, 1, sizeof(gid));
	fill(key, 0x22);
	mutual__key_commit(c, gid, 7, key);
	CHECK_OK(mutual__key_commit_check(c, gid, 7, key));
	CHECK_RC(mutual__key_commit_check(c, gid, 8, key), MUTUAL_EVERIFY);
	gid[15] ^= 1;
	CHECK_RC(mutual__key_commit_check(c, gid, 7, key), MUTUAL_EVERIFY);
	gid[15] ^= 1;
	key[0] ^= 1;
	CHECK_RC(mutual__key_commit_check(c, gid, 7, key), MUTUAL_EVERIFY);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "one_key_file", test_one_key_file },
		{ "several_keys_round_trip", test_several_keys_round_trip },
		{ "add_current_and_older", test_add_current_and_older },
		{ "damaged_files_refused", test_damaged_files_refused },
		{ "mode_0600", test_mode_0600 },
		{ "duplicate_ids_both_tried", test_duplicate_ids_both_tried },
		{ "key_commit", test_key_commit },
		{ "sync_holds_back", test_sync_holds_back },
	};
	return run_cases(cases, MUTUAL_ARRAY_SIZE(cases), argc, argv);
}
