/*
 * test_batch.c - mutual_batch: typed writes committed as one transaction.
 * A batch makes the state the same calls one by one make (the digest,
 * byte for byte, with a negative control that must differ); a bad entry
 * changes nothing; a read-only store has no batch; an empty commit writes
 * nothing; the bounds hold; the ids are consecutive; and a sync carries a
 * batch's state to another device.
 *
 * Two stores compare equal only if their events carry the same clocks.
 * The fixture's last event is stamped an hour ahead (forge.h), so every
 * later append follows it (the clock "pull", deliver.c NOTES 5) at +1,
 * +2, ... whatever the wall clock says: one by one and batched alike.
 */
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "deliver.h"
#include "forge.h"

/* The app projection both sides register, so app events reach the digest too. */
static const mutual_projection_def *notes_def(void)
{
	static mutual_projection_def def = MUTUAL_PROJECTION_DEF_INIT;
	def.name = "notes";
	def.schema = "CREATE TABLE notes_seen(n INTEGER PRIMARY KEY, text TEXT)";
	def.reset = "DELETE FROM notes_seen";
	def.type_prefix = "note.";
	def.apply = "INSERT INTO notes_seen(text) VALUES(json_extract(:payload, '$.text'))";
	return &def;
}

static mutual_store *open_at(const char *name)
{
	mutual_store *s;
	CHECK_OK(mutual_store_open(&s, tmp_path(name), 0));
	CHECK_OK(mutual_projection_register(s, notes_def()));
	return s;
}

static void copy_store(const char *from, const char *to)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", tmp_path(from), tmp_path(to));
	CHECK(system(cmd) == 0);
}

static uint64_t head_of(mutual_store *s)
{
	mutual_iter_options o = MUTUAL_ITER_OPTIONS_INIT;
	mutual_iter *it;
	const mutual_event *ev;
	uint8_t self[MUTUAL_KEY_SIZE];
	uint64_t head = 0;
	int rc;

	CHECK_OK(mutual_device_resolve(self, s, mutual_store_device_id(s)));
	o.device = self;
	CHECK_OK(mutual_iter_new(&it, s, &o));
	while ((rc = mutual_iter_next(&ev, it)) == 0)
		if (mutual_event_get_id(ev)->seq > head)
			head = mutual_event_get_id(ev)->seq;
	CHECK_RC(rc, MUTUAL_ITEROVER);
	mutual_iter_free(it);
	return head;
}

static void digest_of(uint8_t out[MUTUAL_HASH_SIZE], mutual_store *s)
{
	CHECK_OK(mutual_state_digest(out, s));
}

/* A store whose device wrote an entity and a counter, its last event an
 * hour ahead of the wall clock: the base every comparison copies. */
static void fixture(const char *name)
{
	mutual_store *s = check_store_create(name, "alpha");
	struct timespec ts;
	CHECK_OK(mutual_entity_put(NULL, s, "item", "rice", "{\"shelf\":\"A1\",\"unit\":\"kg\"}"));
	CHECK_OK(mutual_counter_add(NULL, s, "rice-kg", "3"));
	clock_gettime(CLOCK_REALTIME, &ts);
	forge_event(s, MUTUAL_HLC_MS((uint64_t)ts.tv_sec * 1000 + 3600 * 1000), NULL, 0, "note.clock", "{\"text\":\"ahead\"}");
	mutual_store_free(s);
}

/* The writes every comparison makes, one kind of each and a field
 * written twice (so their order matters). */
typedef enum { PUT, DEL, ADD, APPEND } op_kind;
typedef struct {
	op_kind kind;
	const char *a, *b, *c;
} op;

static const op script[] = {
	{ PUT, "item", "beans", "{\"shelf\":\"B2\",\"unit\":\"tin\"}" },
	{ ADD, "beans-tins", "24", NULL },
	{ APPEND, "note.stock", "{\"text\":\"beans arrived\"}", NULL },
	{ PUT, "item", "rice", "{\"shelf\":\"A2\"}" },
	{ ADD, "rice-kg", "-0.25", NULL },
	{ DEL, "item", "beans", NULL },
	{ PUT, "item", "rice", "{\"shelf\":\"A3\"}" },
	{ APPEND, "note.stock", "{\"text\":\"rice moved\"}", NULL },
};
#define SCRIPT_N (sizeof(script) / sizeof(script[0]))

static void run_single(mutual_store *s, const op *o)
{
	switch (o->kind) {
	case PUT: CHECK_OK(mutual_entity_put(NULL, s, o->a, o->b, o->c)); break;
	case DEL: CHECK_OK(mutual_entity_delete(NULL, s, o->a, o->b)); break;
	case ADD: CHECK_OK(mutual_counter_add(NULL, s, o->a, o->b)); break;
	case APPEND: CHECK_OK(mutual_append(NULL, s, o->a, o->b)); break;
	}
}

static void add_to(mutual_batch *b, const op *o)
{
	switch (o->kind) {
	case PUT: CHECK_OK(mutual_batch_entity_put(b, o->a, o->b, o->c)); break;
	case DEL: CHECK_OK(mutual_batch_entity_delete(b, o->a, o->b)); break;
	case ADD: CHECK_OK(mutual_batch_counter_add(b, o->a, o->b)); break;
	case APPEND: CHECK_OK(mutual_batch_append(b, o->a, o->b)); break;
	}
}

/* The digest after the same writes one by one and as one batch is the
 * same; a batch in another order (the negative control) is not. */
static void test_digest_equals_single(void)
{
	mutual_store *one, *many, *swapped;
	mutual_batch *b;
	uint8_t d_one[MUTUAL_HASH_SIZE], d_many[MUTUAL_HASH_SIZE], d_swapped[MUTUAL_HASH_SIZE], d_rebuilt[MUTUAL_HASH_SIZE];
	char *s_one = NULL, *s_many = NULL;

	fixture("base");
	copy_store("base", "one");
	copy_store("base", "many");
	copy_store("base", "swapped");
	one = open_at("one");
	many = open_at("many");
	swapped = open_at("swapped");

	for (size_t i = 0; i < SCRIPT_N; i++)
		run_single(one, &script[i]);
	CHECK_OK(mutual_batch_new(&b, many));
	for (size_t i = 0; i < SCRIPT_N; i++)
		add_to(b, &script[i]);
	CHECK(mutual_batch_count(b) == SCRIPT_N);
	CHECK_OK(mutual_batch_commit(NULL, b));
	CHECK(mutual_batch_count(b) == 0);
	mutual_batch_free(b);

	digest_of(d_one, one);
	digest_of(d_many, many);
	CHECK(memcmp(d_one, d_many, sizeof(d_one)) == 0);
	CHECK(head_of(one) == head_of(many));
	CHECK_OK(mutual_state_json(&s_one, one, "item", NULL));
	CHECK_OK(mutual_state_json(&s_many, many, "item", NULL));
	CHECK(strcmp(s_one, s_many) == 0 && strstr(s_many, "\"shelf\":\"A3\"") && strstr(s_many, "\"deleted\":true"));
	mutual_free(s_one);
	mutual_free(s_many);
	CHECK_OK(mutual_rebuild(many));
	digest_of(d_rebuilt, many);
	CHECK(memcmp(d_rebuilt, d_many, sizeof(d_many)) == 0);

	/* The control: the two puts of rice's shelf swapped. */
	CHECK_OK(mutual_batch_new(&b, swapped));
	for (size_t i = 0; i < SCRIPT_N; i++)
		add_to(b, &script[i == 3 ? 6 : i == 6 ? 3 : i]);
	CHECK_OK(mutual_batch_commit(NULL, b));
	mutual_batch_free(b);
	digest_of(d_swapped, swapped);
	CHECK(memcmp(d_swapped, d_one, sizeof(d_one)) != 0);

	CHECK_OK(mutual_verify(NULL, many));
	mutual_store_free(one);
	mutual_store_free(many);
	mutual_store_free(swapped);
}

/* A bad entry is refused as its single call refuses it, naming its place,
 * and the batch is as it was; the good ones commit, and only they. */
static void test_all_or_nothing(void)
{
	mutual_store *s = check_store_create("a", "alpha");
	mutual_batch *b;
	uint64_t head = head_of(s);
	char *counters = NULL;

	CHECK_OK(mutual_batch_new(&b, s));
	CHECK_OK(mutual_batch_entity_put(b, "item", "rice", "{\"shelf\":\"A1\"}"));
	CHECK_OK(mutual_batch_counter_add(b, "rice-kg", "12.5"));
	CHECK_RC(mutual_batch_append(b, "mutual.entity.put", "{\"kind\":\"item\",\"id\":\"x\",\"fields\":{}}"),
		MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "batch entry 3"));
	CHECK_RC(mutual_batch_append(b, "Bad type", "{}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_append(b, "note.x", "[1]"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_append(b, "note.x", "{\"a\":1,\"a\":2}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_append(b, "note.x", NULL), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_entity_put(b, "item", "rice", "{\"_deleted\":true}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_entity_put(b, "item", "", "{\"a\":1}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_entity_put(b, "item", "rice", "not json"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_entity_delete(b, NULL, "rice"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_counter_add(b, "rice-kg", "1.0000001"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_counter_add(b, "rice-kg", "12kg"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_counter_add(b, "", "1"), MUTUAL_EINVALID);
	/* The single calls refuse the same. */
	CHECK_RC(mutual_append(NULL, s, "mutual.entity.put", "{\"kind\":\"item\",\"id\":\"x\",\"fields\":{}}"),
		MUTUAL_EINVALID);
	CHECK_RC(mutual_entity_put(NULL, s, "item", "rice", "{\"_deleted\":true}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_counter_add(NULL, s, "rice-kg", "1.0000001"), MUTUAL_EINVALID);
	CHECK(mutual_batch_count(b) == 2);
	CHECK(head_of(s) == head); /* nothing is written before the commit */
	CHECK_OK(mutual_batch_append(b, "note.x", "{\"text\":\"ok\"}"));
	CHECK_OK(mutual_batch_commit(NULL, b));
	CHECK(head_of(s) == head + 3);
	CHECK_OK(mutual_counters_json(&counters, s, NULL));
	CHECK(strcmp(counters, "{\"rice-kg\":12.5}") == 0);
	mutual_free(counters);

	/* NULLs are refused, never followed. */
	CHECK_RC(mutual_batch_new(NULL, s), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_new(&b, NULL), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_append(NULL, "note.x", "{}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_entity_put(NULL, "item", "x", "{}"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_entity_delete(NULL, "item", "x"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_counter_add(NULL, "k", "1"), MUTUAL_EINVALID);
	CHECK_RC(mutual_batch_commit(NULL, NULL), MUTUAL_EINVALID);
	CHECK(mutual_batch_count(NULL) == 0);
	mutual_batch_free(NULL);
	mutual_batch_free(b);
	mutual_store_free(s);
}

/* A read-only store has no batch: nothing could ever commit. */
static void test_readonly(void)
{
	mutual_store *s = check_store_create("a", "alpha");
	static int not_a_batch;
	mutual_batch *b = (mutual_batch *)&not_a_batch;
	mutual_store_free(s);
	CHECK_OK(mutual_store_open(&s, tmp_path("a"), MUTUAL_OPEN_READONLY));
	CHECK_RC(mutual_batch_new(&b, s), MUTUAL_EREADONLY);
	CHECK(b == NULL);
	CHECK(strstr(mutual_error_last(), "read-only"));
	mutual_store_free(s);
}

/* An empty commit writes nothing and succeeds; a committed batch is empty
 * and takes new entries, which follow on. */
static void test_empty_commit(void)
{
	mutual_store *s = check_store_create("a", "alpha");
	mutual_batch *b;
	mutual_event_id first;
	uint64_t head = head_of(s);

	CHECK_OK(mutual_batch_new(&b, s));
	memset(&first, 0xff, sizeof(first));
	CHECK_OK(mutual_batch_commit(&first, b));
	CHECK(first.seq == 0);
	CHECK_OK(mutual_batch_commit(NULL, b));
	CHECK(head_of(s) == head);
	CHECK_OK(mutual_batch_counter_add(b, "k", "1"));
	CHECK_OK(mutual_batch_commit(&first, b));
	CHECK(first.seq == head + 1 && mutual_batch_count(b) == 0);
	CHECK_OK(mutual_batch_commit(&first, b));
	CHECK(first.seq == 0 && head_of(s) == head + 1);
	CHECK_OK(mutual_batch_counter_add(b, "k", "2"));
	CHECK_OK(mutual_batch_counter_add(b, "k", "3"));
	CHECK_OK(mutual_batch_commit(&first, b));
	CHECK(first.seq == head + 2 && head_of(s) == head + 3);
	mutual_batch_free(b);
	mutual_store_free(s);
}

/* MUTUAL_BATCH_MAX entries and MUTUAL_BATCH_BYTES_MAX bytes: the one past
 * either is refused and the batch keeps what it held. */
static void test_bounds(void)
{
	mutual_store *s = check_store_create("a", "alpha");
	mutual_batch *b;
	size_t big_len = MUTUAL_PAYLOAD_MAX, fit;
	char *big = malloc(big_len + 1);

	CHECK(big != NULL);
	CHECK_OK(mutual_batch_new(&b, s));
	for (size_t i = 0; i < MUTUAL_BATCH_MAX; i++)
		CHECK_OK(mutual_batch_append(b, "n", "{}"));
	CHECK_RC(mutual_batch_append(b, "n", "{}"), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "at most"));
	CHECK_RC(mutual_batch_counter_add(b, "k", "1"), MUTUAL_EINVALID);
	CHECK(mutual_batch_count(b) == MUTUAL_BATCH_MAX);
	mutual_batch_free(b);

	/* A payload of exactly MUTUAL_PAYLOAD_MAX bytes, type "n": as many fit
	 * as MUTUAL_BATCH_BYTES_MAX holds, and one more is refused. */
	memset(big, 'a', big_len);
	memcpy(big, "{\"x\":\"", 6);
	memcpy(big + big_len - 2, "\"}", 3);
	CHECK_RC(mutual_batch_append(NULL, "n", big), MUTUAL_EINVALID);
	CHECK_OK(mutual_batch_new(&b, s));
	fit = MUTUAL_BATCH_BYTES_MAX / (big_len + 1);
	for (size_t i = 0; i < fit; i++)
		CHECK_OK(mutual_batch_append(b, "n", big));
	CHECK_RC(mutual_batch_append(b, "n", big), MUTUAL_EINVALID);
	CHECK(strstr(mutual_error_last(), "bytes"));
	CHECK(mutual_batch_count(b) == fit);
	/* A payload over the event limit is refused as mutual_append refuses it. */
	big = realloc(big, big_len + 2);
	CHECK(big != NULL);
	memcpy(big + big_len - 2, "a\"}", 4);
	CHECK_RC(mutual_batch_append(b, "n", big), MUTUAL_EINVALID);
	CHECK_RC(mutual_append(NULL, s, "n", big), MUTUAL_EINVALID);
	CHECK(mutual_batch_count(b) == fit);
	mutual_batch_free(b);
	free(big);
	mutual_store_free(s);
}

/* A batch's events are consecutive, in the order added, after the head;
 * only the last is signed, and the whole log verifies. */
static void test_ids_consecutive(void)
{
	static const char *const types[] = { "mutual.entity.put", "note.a", "mutual.counter.add", "mutual.entity.del",
		"note.b" };
	mutual_store *s = check_store_create("a", "alpha");
	mutual_iter_options o = MUTUAL_ITER_OPTIONS_INIT;
	mutual_verify_result v = MUTUAL_VERIFY_RESULT_INIT;
	mutual_event_id first, after;
	mutual_batch *b;
	mutual_iter *it;
	const mutual_event *ev;
	uint8_t self[MUTUAL_KEY_SIZE];
	uint64_t head = head_of(s), signatures;
	size_t i = 0;
	int rc;

	CHECK_OK(mutual_verify(&v, s));
	signatures = v.signatures;
	CHECK_OK(mutual_batch_new(&b, s));
	CHECK_OK(mutual_batch_entity_put(b, "item", "rice", "{\"shelf\":\"A1\"}"));
	CHECK_OK(mutual_batch_append(b, "note.a", "{\"text\":\"a\"}"));
	CHECK_OK(mutual_batch_counter_add(b, "rice-kg", "1"));
	CHECK_OK(mutual_batch_entity_delete(b, "item", "rice"));
	CHECK_OK(mutual_batch_append(b, "note.b", "{\"text\":\"b\"}"));
	CHECK_OK(mutual_batch_commit(&first, b));
	mutual_batch_free(b);
	CHECK(first.seq == head + 1);
	CHECK_OK(mutual_device_resolve(self, s, mutual_store_device_id(s)));
	CHECK(memcmp(first.device, self, sizeof(self)) == 0);

	memcpy(after.device, self, sizeof(self));
	after.seq = head;
	o.device = self;
	o.after = &after;
	CHECK_OK(mutual_iter_new(&it, s, &o));
	while ((rc = mutual_iter_next(&ev, it)) == 0) {
		CHECK(i < 5);
		CHECK(mutual_event_get_id(ev)->seq == first.seq + i);
		CHECK(strcmp(mutual_event_type(ev), types[i]) == 0);
		i++;
	}
	CHECK_RC(rc, MUTUAL_ITEROVER);
	CHECK(i == 5);
	mutual_iter_free(it);
	CHECK_OK(mutual_verify(&v, s));
	CHECK(v.ok && v.signatures == signatures + 1);
	mutual_store_free(s);
}

/* A batch synced to another device makes the same state there. */
static void test_sync(void)
{
	mutual_store *a = check_store_create("a", "alpha"), *b = check_store_join(a, "b", "beta");
	mutual_batch *batch;
	uint8_t da[MUTUAL_HASH_SIZE], db[MUTUAL_HASH_SIZE];
	char *ja = NULL, *jb = NULL;
	const char *stick = tmp_path("stick");
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;

	CHECK(mkdir(stick, 0700) == 0);
	CHECK_OK(mutual_projection_register(a, notes_def()));
	CHECK_OK(mutual_projection_register(b, notes_def()));
	CHECK_OK(mutual_batch_new(&batch, a));
	for (int i = 0; i < 200; i++) {
		char id[32], fields[64];
		snprintf(id, sizeof(id), "r%d", i);
		snprintf(fields, sizeof(fields), "{\"status\":\"open\",\"n\":%d}", i);
		CHECK_OK(mutual_batch_entity_put(batch, "request", id, fields));
		CHECK_OK(mutual_batch_counter_add(batch, "open", "1"));
		if (i % 10 == 0)
			CHECK_OK(mutual_batch_append(batch, "note.x", "{\"text\":\"tenth\"}"));
	}
	CHECK_OK(mutual_batch_entity_delete(batch, "request", "r7"));
	CHECK_OK(mutual_batch_commit(NULL, batch));
	mutual_batch_free(batch);

	CHECK_OK(mutual_sync(&st, a, stick, NULL));
	CHECK_OK(mutual_sync(&st, b, stick, NULL));
	CHECK(st.events_received == 1 + 200 * 2 + 20 + 1); /* a's creation, then the batch */
	CHECK_OK(mutual_sync(&st, a, stick, NULL)); /* a takes b's join */
	digest_of(da, a);
	digest_of(db, b);
	CHECK(memcmp(da, db, sizeof(da)) == 0);
	CHECK_OK(mutual_state_json(&ja, a, "request", NULL));
	CHECK_OK(mutual_state_json(&jb, b, "request", NULL));
	CHECK(strcmp(ja, jb) == 0);
	mutual_free(ja);
	mutual_free(jb);
	CHECK_OK(mutual_counters_json(&ja, b, "open"));
	CHECK(strcmp(ja, "{\"open\":200}") == 0);
	mutual_free(ja);
	mutual_store_free(a);
	mutual_store_free(b);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "digest_equals_single", test_digest_equals_single },
		{ "all_or_nothing", test_all_or_nothing },
		{ "readonly", test_readonly },
		{ "empty_commit", test_empty_commit },
		{ "bounds", test_bounds },
		{ "ids_consecutive", test_ids_consecutive },
		{ "sync", test_sync },
	};
	return run_cases(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
