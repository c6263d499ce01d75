/*
 * test_faults.c - a failed allocation never produces a wrong result, in
 * SQLite's manner: fail the Nth allocation of an operation for
 * N = 1, 2, ... until it succeeds untouched; after each, the operation
 * has either failed with a message or given exactly the result it gives
 * with memory to spare, and the store's state is unchanged.
 *
 * buf/sticky_failure checks mutual_buf's sticky failure flag itself (every
 * build). The project/faults-* cases need the -Dtest_hooks build's fault
 * counter (fault.h), which fails the Nth allocation of any kind: mutual_state_digest, the state and
 * counters JSON, and mutual_rebuild (which applies every event again).
 */
#include <stdint.h>
#include <sys/stat.h>

#include "check.h"
#include "common.h"
#include "fault.h"

static void test_sticky_failure(void)
{
	mutual_buf b = { 0 };

	CHECK_OK(mutual__buf_printf(&b, "kept %d", 1));
	CHECK(!mutual__buf_failed(&b) && mutual__buf_check(&b) == 0);
	/* A size that cannot be: the buffer fails, and stays failed. */
	CHECK_RC(mutual__buf_grow(&b, SIZE_MAX), MUTUAL_ERROR);
	CHECK(mutual__buf_failed(&b));
	CHECK_RC(mutual__buf_put(&b, "x", 1), MUTUAL_ERROR);
	CHECK_RC(mutual__buf_put_u64(&b, 7), MUTUAL_ERROR);
	CHECK_RC(mutual__buf_printf(&b, "%s", "more"), MUTUAL_ERROR);
	CHECK_RC(mutual__buf_cstr(&b), MUTUAL_ERROR);
	CHECK(b.len == 6 && memcmp(b.data, "kept 1", 6) == 0); /* no-ops, all of them */
	b.len = 0; /* reuse keeps the flag */
	CHECK_RC(mutual__buf_put_u8(&b, 'y'), MUTUAL_ERROR);
	CHECK_RC(mutual__buf_check(&b), MUTUAL_ERROR);
	CHECK(strcmp(mutual_error_last(), "out of memory") == 0);
	/* Free clears it: the buffer is usable again. */
	mutual__buf_free(&b);
	CHECK(!mutual__buf_failed(&b) && b.data == NULL && b.len == 0);
	CHECK_OK(mutual__buf_printf(&b, "again"));
	CHECK_OK(mutual__buf_cstr(&b));
	CHECK(strcmp((const char *)b.data, "again") == 0);
	mutual__buf_free(&b);
}

#ifdef MUTUAL_TEST_HOOKS

static const mutual_projection_def *mixed(void)
{
	static mutual_projection_def def = MUTUAL_PROJECTION_DEF_INIT;
	def.name = "mix";
	def.schema = "CREATE TABLE mix_rows(seq INTEGER, t REAL, type TEXT, device BLOB, empty)";
	def.reset = "DELETE FROM mix_rows";
	def.apply = "INSERT INTO mix_rows VALUES(:seq, :hlc / 7.0, :type, :device, NULL)";
	return &def;
}

/* Two devices' concurrent edits, a delete and counters, merged in `b`,
 * with (`with_app`) an app projection whose table holds every SQLite type. */
static mutual_store *make_store(int with_app)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_join(a, "b", "bea");
	const char *stick = tmp_path("stick");

	mkdir(stick, 0700);
	for (int i = 0; i < 4; i++) {
		char id[8];
		snprintf(id, sizeof(id), "i%d", i % 2);
		CHECK_OK(mutual_entity_put(NULL, a, "item", id, "{\"qty\":1,\"by\":\"alpha\",\"x\":[1,{\"z\":2.5}]}"));
		CHECK_OK(mutual_entity_put(NULL, b, "item", id, "{\"qty\":2,\"note\":\"caf\\u00e9\"}"));
		CHECK_OK(mutual_counter_add(NULL, i % 2 ? a : b, "stock", i % 2 ? "-0.25" : "12.000001"));
	}
	CHECK_OK(mutual_entity_delete(NULL, a, "item", "i1"));
	CHECK_OK(mutual_counter_add(NULL, a, "other", "3"));
	CHECK_OK(mutual_sync(NULL, a, stick, NULL));
	CHECK_OK(mutual_sync(NULL, b, stick, NULL));
	if (with_app)
		CHECK_OK(mutual_projection_register(b, mixed()));
	mutual_store_free(a);
	return b;
}

/* One read, whose result is a string (the digest as hex). */
typedef int (*read_fn)(char **out, mutual_store *s);

static int read_digest(char **out, mutual_store *s)
{
	uint8_t d[MUTUAL_HASH_SIZE];
	int rc = mutual_state_digest(d, s);
	*out = NULL;
	if (rc == 0 && (*out = malloc(2 * MUTUAL_HASH_SIZE + 1)))
		for (int i = 0; i < MUTUAL_HASH_SIZE; i++)
			snprintf(*out + 2 * i, 3, "%02x", d[i]);
	return rc;
}

static int read_state(char **out, mutual_store *s)
{
	return mutual_state_json(out, s, "item", NULL);
}

static int read_entity(char **out, mutual_store *s)
{
	return mutual_state_json(out, s, "item", "i0");
}

static int read_counters(char **out, mutual_store *s)
{
	return mutual_counters_json(out, s, NULL);
}

static int read_counter(char **out, mutual_store *s)
{
	return mutual_counters_json(out, s, "stock");
}

/* Fail each allocation of `op` in turn: each time it fails with a
 * message or gives `want`. Returns how many allocations it makes. */
static unsigned long each_fault(mutual_store *s, read_fn op, const char *want, const char *what)
{
	for (unsigned long n = 1;; n++) {
		char *got = NULL;
		int rc, hit;
		mutual__test_fault_alloc((long)n, 0);
		rc = op(&got, s);
		hit = mutual__test_fault_hits() > 0;
		mutual__test_fault_alloc(0, 0);
		if (rc == 0) {
			if (strcmp(got, want) != 0) {
				fprintf(stderr, "%s: allocation %lu failed, and it succeeded with\n  %s\ninstead of\n  %s\n", what,
					n, got, want);
				exit(1);
			}
		} else {
			CHECK(hit && got == NULL && mutual_error_last()[0]);
		}
		mutual_free(got);
		if (!hit) {
			CHECK_OK(rc);
			return n - 1;
		}
	}
}

static void test_reads(void)
{
	static const struct {
		const char *name;
		read_fn op;
	} reads[] = {
		{ "mutual_state_digest", read_digest },
		{ "mutual_state_json (a kind)", read_state },
		{ "mutual_state_json (an entity)", read_entity },
		{ "mutual_counters_json (all)", read_counters },
		{ "mutual_counters_json (one)", read_counter },
	};
	mutual_store *s = make_store(1);

	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(reads); i++) {
		char *want = NULL;
		unsigned long n;
		CHECK_OK(reads[i].op(&want, s));
		n = each_fault(s, reads[i].op, want, reads[i].name);
		printf("%s: each of its %lu allocations failed in turn\n", reads[i].name, n);
		CHECK(n > 0);
		mutual_free(want);
	}
	mutual_store_free(s);
}

/* mutual_rebuild applies every event again: a failed allocation anywhere
 * on the apply path fails it and leaves the state as it was. Without an
 * app projection registered: this is project.c's apply path, not apps.c's
 * catch-up. */
static void test_rebuild(void)
{
	mutual_store *s = make_store(0);
	char *want = NULL, *got = NULL;
	unsigned long n, misses = 0;

	CHECK_OK(read_digest(&want, s));
	for (n = 1;; n++) {
		int rc, hit;
		mutual__test_fault_alloc((long)n, 0);
		rc = mutual_rebuild(s);
		hit = mutual__test_fault_hits() > 0;
		mutual__test_fault_alloc(0, 0);
		if (rc < 0)
			CHECK(hit && mutual_error_last()[0]);
		else if (hit)
			misses++; /* the failed allocation did not matter */
		CHECK_OK(read_digest(&got, s));
		if (strcmp(got, want) != 0) {
			fprintf(stderr, "mutual_rebuild: allocation %lu failed (rc %d), then the digest was\n  %s\n"
				"instead of\n  %s\n", n, rc, got, want);
			exit(1);
		}
		mutual_free(got);
		if (!hit) {
			CHECK_OK(rc);
			break;
		}
	}
	printf("mutual_rebuild: each of its %lu allocations failed in turn (%lu of them harmlessly)\n", n - 1,
		misses);
	CHECK(n > 1);
	mutual_free(want);
	mutual_store_free(s);
}

#endif /* MUTUAL_TEST_HOOKS */

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "sticky_failure", test_sticky_failure },
#ifdef MUTUAL_TEST_HOOKS
		{ "reads", test_reads },
		{ "rebuild", test_rebuild },
#endif
	};
	return run_cases(cases, MUTUAL_ARRAY_SIZE(cases), argc, argv);
}
