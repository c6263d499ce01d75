/*
 * test_payload_rules.c - the payload rules made stricter for new appends
 * (no duplicate key, no lone surrogate escape; docs/format.md, "Payload")
 * and what happens to an imported event that breaks them: stored,
 * verified and forwarded as signed, ignored by every projection alike.
 *
 * The hostile member is a device of the group whose modified software
 * skips the checks: it appends through the library's internal write path,
 * so its events are validly chained and signed, as such a client's are.
 */
#include <sys/stat.h>

#include "check.h"
#include "db.h"
#include "store.h"

static const char *const broken[] = {
	"{\"kind\":\"shelf\",\"id\":\"s1\",\"fields\":{\"count\":1,\"count\":2}}",
	"{\"a\":1,\"\\u0061\":2}",
	"{\"note\":\"\\ud800\"}",
	"{\"note\":\"\\udfff x\"}",
	"{\"o\":[{\"k\":1,\"k\":2}]}",
};

static void test_strict_appends(void)
{
	mutual_store *a = check_store_create("a", "alpha");
	char *json = NULL;

	for (size_t i = 0; i < sizeof(broken) / sizeof(*broken); i++)
		CHECK_RC(mutual_append(NULL, a, "pantry.note", broken[i]), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "duplicate key"));
	CHECK_RC(mutual_entity_put(NULL, a, "shelf", "s1", "{\"count\":1,\"count\":2}"), MUTUAL_EINVALID);
	/* A surrogate pair is one character; other keys may repeat across objects. */
	CHECK_OK(mutual_append(NULL, a, "pantry.note", "{\"note\":\"\\ud83d\\ude00\",\"o\":[{\"k\":1},{\"k\":2}]}"));
	CHECK_OK(mutual_entity_put(NULL, a, "shelf", "s1", "{\"count\":3}"));
	CHECK_OK(mutual_state_json(&json, a, "shelf", "s1"));
	CHECK(strstr(json, "\"count\":3"));
	mutual_free(json);
	mutual_store_free(a);
}

/* What a modified client does: append without the checks, signed. */
static void hostile_append(mutual_store *s, const char *type, const char *payload)
{
	mutual_append_entry e = { type, payload };
	CHECK_OK(mutual__store_load_secret(s));
	CHECK_OK(mutual__db_begin_write(s->db));
	CHECK_OK(mutual__append_locked(NULL, s, &e, 1));
	CHECK_OK(mutual__db_commit(s->db));
}

static void test_imported_breaks_are_kept_and_ignored(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_join(a, "b", "beta");
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	char *json = NULL, stick2[4096];

	CHECK_OK(mutual_entity_put(NULL, a, "shelf", "s1", "{\"count\":1}"));
	mkdir(tmp_path("stick"), 0700);
	CHECK_OK(mutual_sync(NULL, a, tmp_path("stick"), NULL));
	CHECK_OK(mutual_sync(NULL, b, tmp_path("stick"), NULL));
	hostile_append(b, "mutual.entity.put", broken[0]);
	hostile_append(b, "mutual.counter.add", "{\"key\":\"rice\",\"delta\":5,\"delta\":7}");
	hostile_append(b, "mutual.entity.put", "{\"kind\":\"shelf\",\"id\":\"s1\",\"fields\":{\"count\":\"\\ud800\"}}");
	CHECK_OK(mutual_counter_add(NULL, b, "rice", "2"));
	CHECK_OK(mutual_sync(NULL, b, tmp_path("stick"), NULL));
	CHECK_OK(mutual_sync(&st, a, tmp_path("stick"), NULL));
	CHECK(st.events_received == 5); /* its join, three broken events, one honest */
	CHECK_OK(mutual_verify(NULL, a));

	/* Ignored the same way on both devices: only honest writes count. */
	for (int i = 0; i < 2; i++) {
		mutual_store *s = i ? b : a;
		CHECK_OK(mutual_state_json(&json, s, "shelf", "s1"));
		CHECK(strstr(json, "\"count\":1") && !strstr(json, "conflicts\":{\"count\""));
		mutual_free(json);
		CHECK_OK(mutual_counters_json(&json, s, NULL));
		CHECK(strcmp(json, "{\"rice\":2}") == 0);
		mutual_free(json);
		CHECK_OK(mutual_rebuild(s));
		CHECK_OK(mutual_counters_json(&json, s, NULL));
		CHECK(strcmp(json, "{\"rice\":2}") == 0);
		mutual_free(json);
	}
	/* Kept and forwarded byte for byte: a third device gets all of it. */
	snprintf(stick2, sizeof(stick2), "%s", tmp_path("stick2"));
	mkdir(stick2, 0700);
	CHECK_OK(mutual_sync(NULL, a, stick2, NULL));
	{
		mutual_store *c = check_store_join(a, "c", "gamma");
		CHECK_OK(mutual_sync(&st, c, stick2, NULL));
		CHECK(st.events_received >= 6);
		CHECK_OK(mutual_counters_json(&json, c, NULL));
		CHECK(strcmp(json, "{\"rice\":2}") == 0);
		mutual_free(json);
		mutual_store_free(c);
	}
	mutual_store_free(a);
	mutual_store_free(b);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "strict_appends", test_strict_appends },
		{ "imported_breaks_are_kept_and_ignored", test_imported_breaks_are_kept_and_ignored },
	};
	return run_cases(cases, sizeof(cases) / sizeof(*cases), argc, argv);
}
