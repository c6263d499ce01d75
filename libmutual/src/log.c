/*
 * log.c - the log's API: append (single and batched), read in the total
 * order, look up, list devices. Verifying it is verify.c's.
 *
 * Each append takes the device's next seq and previous hash inside one
 * BEGIN IMMEDIATE transaction (see db.c), chains every event to the one
 * before, and signs only the batch's last event: the chain makes that one
 * signature cover the whole batch, which keeps batched appends near raw
 * SQLite speed while every event stays covered by a signature. Every write
 * of the store's own device goes through mutual__append_write: a single
 * append, a batch of either kind (batch.c), entity and counter writes
 * (project.c), and the library's own announcements.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "deliver.h"
#include "event.h"
#include "json.h"
#include "project.h"
#include "store.h"

struct mutual_event {
	mutual_event_id id;
	uint64_t hlc;
	int quarantined, pending, refused;
	uint8_t hash[MUTUAL_HASH_SIZE];
	mutual_buf text; /* type NUL payload NUL device-name NUL */
	size_t payload_off, name_off, payload_len;
};

struct mutual_iter {
	mutual_store *store;
	mutual_db_iter *db_iter;
	mutual_event current;
	uint8_t name_of[MUTUAL_KEY_SIZE]; /* one-entry cache of device names */
	int have_name;
	mutual_buf name;
};

int mutual_iter_options_init(mutual_iter_options *opts, unsigned int version)
{
	mutual_iter_options init = MUTUAL_ITER_OPTIONS_INIT;
	if (!opts)
		return mutual__fail(MUTUAL_EINVALID, "no iterator options given");
	MUTUAL__CHECK_VERSION(version, MUTUAL_ITER_OPTIONS_VERSION, "iterator options");
	*opts = init;
	return 0;
}

int mutual_event_id_format(char *buf, size_t size, const mutual_event_id *id)
{
	char hex[MUTUAL_KEY_HEX_SIZE];
	if (!buf || !id || size < MUTUAL_EVENT_ID_STRLEN)
		return mutual__fail(MUTUAL_EINVALID, "event id buffer too small");
	mutual__hex(hex, id->device, MUTUAL_KEY_SIZE);
	snprintf(buf, size, "%s:%" PRIu64, hex, id->seq);
	return 0;
}

int mutual_event_id_parse(mutual_event_id *out, const char *str)
{
	const char *colon = str ? strchr(str, ':') : NULL;
	char *end;
	unsigned long long seq;

	if (!out || !colon || mutual__unhex(out->device, MUTUAL_KEY_SIZE, str, (size_t)(colon - str)) < 0)
		return mutual__fail(MUTUAL_EINVALID, "an event id looks like <64 hex digits>:<seq>");
	if (colon[1] < '0' || colon[1] > '9')
		return mutual__fail(MUTUAL_EINVALID, "an event id ends in its seq, a number from 1");
	errno = 0;
	seq = strtoull(colon + 1, &end, 10);
	if (errno || *end || seq == 0 || seq > INT64_MAX)
		return mutual__fail(MUTUAL_EINVALID, "an event id ends in its seq, a number from 1");
	out->seq = seq;
	return 0;
}

/* ------------------------------------------------------------------ append */

static int check_entry(const mutual_append_entry *e, size_t index, size_t n, int allow_reserved)
{
	size_t len;
	int rc;

	if (!e->type || !e->payload)
		return mutual__fail(MUTUAL_EINVALID, "event %zu of %zu has no type or payload", index + 1, n);
	if ((rc = mutual__event_check_type(e->type, strlen(e->type), allow_reserved)) < 0)
		goto fail;
	len = strnlen(e->payload, (size_t)MUTUAL_PAYLOAD_MAX + 1);
	if (len > MUTUAL_PAYLOAD_MAX) {
		rc = mutual__fail(MUTUAL_EINVALID, "payload larger than the limit of %d bytes", MUTUAL_PAYLOAD_MAX);
		goto fail;
	}
	if ((rc = mutual__json_check_strict(e->payload, len)) < 0)
		goto fail;
	return 0;
fail:
	if (n > 1)
		mutual__fail_wrap(rc, "event %zu of %zu", index + 1, n);
	return rc;
}

#ifdef MUTUAL_TEST_HOOKS
/* An invariant an append breaks on purpose, so a test sees the assert
 * that guards it fire (tests/library/test_invariants.c): "seq" skips a seq, "tx"
 * writes outside a transaction. */
static int breaks(const char *invariant)
{
	const char *v = getenv("MUTUAL_TEST_BREAK_INVARIANT");
	return v && strcmp(v, invariant) == 0;
}
#else
#define breaks(invariant) 0
#endif

int mutual__append_locked(mutual_event_id *out_first, mutual_store *s, const mutual_append_entry *entries, size_t n)
{
	mutual_buf frontier = { 0 };
	mutual_event_rec ev;
	mutual_deliver d;
	uint64_t seq, hlc;
	size_t frontier_n;
	uint8_t msg[MUTUAL_SIG_MSG_SIZE];
	int rc;

	memset(&ev, 0, sizeof(ev));
	memcpy(ev.device, s->self, MUTUAL_KEY_SIZE);
	mutual__deliver_init(&d, s);
	if ((rc = mutual__db_head(s->db, s->self, &seq, ev.prev)) < 0 ||
	    (rc = mutual__db_frontier(s->db, s->self, &frontier, &frontier_n)) < 0 ||
	    (rc = mutual__deliver_clock(s, seq + 1, frontier.data, frontier_n, &hlc)) < 0)
		goto done;
	ev.frontier = frontier.data;
	ev.frontier_n = frontier_n;
	if (breaks("seq"))
		seq++;
	for (size_t i = 0; i < n; i++) {
		ev.seq = ++seq;
		/* Past the clocks it follows, each event past the one before (deliver.c NOTES 5). */
		ev.hlc = i == 0 || hlc >= MUTUAL_CLOCK_CAP ? hlc : ++hlc;
		ev.type = entries[i].type;
		ev.type_len = strlen(ev.type);
		ev.payload = entries[i].payload;
		ev.payload_len = strlen(ev.payload);
		mutual__hash(ev.digest, ev.payload, ev.payload_len);
		if ((rc = mutual__event_compute_hash(&ev)) < 0)
			goto done;
		ev.has_sig = (i == n - 1);
		if (ev.has_sig) {
			mutual__event_sig_message(msg, ev.hash);
			mutual__sign(ev.sig, msg, sizeof(msg), s->secret);
		}
		if ((rc = mutual__deliver_insert(&d, &ev)) < 0)
			goto done;
		if (i == 0 && out_first) {
			memcpy(out_first->device, s->self, MUTUAL_KEY_SIZE);
			out_first->seq = ev.seq;
		}
		memcpy(ev.prev, ev.hash, MUTUAL_HASH_SIZE);
	}
	rc = mutual__project_settle(s);
done:
	mutual__deliver_free(&d);
	mutual__buf_free(&frontier);
	return rc;
}

int mutual__append_check(const mutual_append_entry *entries, size_t n, int allow_reserved)
{
	int rc;
	if (!entries && n)
		return mutual__fail(MUTUAL_EINVALID, "no events given");
	if (n == 0 || n > MUTUAL_BATCH_MAX)
		return mutual__fail(MUTUAL_EINVALID, "a batch holds 1 to %d events", MUTUAL_BATCH_MAX);
	for (size_t i = 0; i < n; i++)
		if ((rc = check_entry(&entries[i], i, n, allow_reserved)) < 0)
			return rc;
	return 0;
}

int mutual__append_write(mutual_event_id *out_first, mutual_store *s, const mutual_append_entry *entries, size_t n)
{
	uint64_t fork_seq;
	uint64_t cut;
	int rc;

	if (s->readonly)
		return mutual__fail(MUTUAL_EREADONLY, "the store at %s is read-only: it cannot be written", s->dir);
	if ((rc = mutual__store_load_secret(s)) < 0 || (!breaks("tx") && (rc = mutual__db_begin_write(s->db)) < 0))
		return rc;
	rc = mutual__db_fork_get(s->db, s->self, &fork_seq, NULL);
	if (rc == 0)
		rc = mutual__fail(MUTUAL_EFORK, "this device's key was used on two machines (its logs part at seq %"
			PRIu64 "): run 'mutual recover' to go on under a new key", fork_seq);
	else if (rc == MUTUAL_ENOTFOUND && (rc = mutual__db_removal_get(s->db, s->self, &cut)) == 0)
		rc = mutual__fail(MUTUAL_EPERM, "a coordinator removed this device from the group (its events after"
			" seq %" PRIu64 " are refused everywhere): nothing more it writes would count", cut);
	else if (rc == MUTUAL_ENOTFOUND)
		rc = mutual__append_locked(out_first, s, entries, n);
	if (rc == 0)
		return mutual__db_commit(s->db); /* rolls back by itself on failure */
	mutual__db_rollback(s->db);
	return rc;
}

int mutual__append(mutual_event_id *out_first, mutual_store *s,
	const mutual_append_entry *entries, size_t n, int allow_reserved)
{
	int rc;

	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	if ((rc = mutual__append_check(entries, n, allow_reserved)) < 0)
		return rc;
	return mutual__append_write(out_first, s, entries, n);
}

int mutual_append(mutual_event_id *out, mutual_store *s, const char *type, const char *payload)
{
	MUTUAL_STORE_ENTER(s);
	mutual_append_entry e = { type, payload };
	mutual__error_clear();
	return mutual__append(out, s, &e, 1, 0);
}

int mutual_append_batch(mutual_event_id *out_first, mutual_store *s,
	const mutual_append_entry *entries, size_t n)
{
	MUTUAL_STORE_ENTER(s);
	mutual__error_clear();
	return mutual__append(out_first, s, entries, n, 0);
}

/* -------------------------------------------------------------------- read */

static int event_fill(mutual_event *e, const mutual_event_rec *ev, const char *device_name)
{
	e->text.len = 0;
	memcpy(e->id.device, ev->device, MUTUAL_KEY_SIZE);
	e->id.seq = ev->seq;
	e->hlc = ev->hlc;
	e->quarantined = ev->quarantined;
	e->refused = ev->refused;
	e->pending = ev->pending;
	memcpy(e->hash, ev->hash, MUTUAL_HASH_SIZE);
	e->payload_off = ev->type_len + 1;
	e->payload_len = ev->payload_len;
	e->name_off = e->payload_off + ev->payload_len + 1;
	if (mutual__buf_put(&e->text, ev->type, ev->type_len) < 0 || mutual__buf_put_u8(&e->text, 0) < 0 ||
	    mutual__buf_put(&e->text, ev->payload, ev->payload_len) < 0 || mutual__buf_put_u8(&e->text, 0) < 0 ||
	    mutual__buf_put(&e->text, device_name, strlen(device_name) + 1) < 0)
		return MUTUAL_ERROR;
	return 0;
}

const mutual_event_id *mutual_event_get_id(const mutual_event *ev)
{
	return &ev->id;
}

uint64_t mutual_event_hlc(const mutual_event *ev)
{
	return ev->hlc;
}

const char *mutual_event_type(const mutual_event *ev)
{
	return (const char *)ev->text.data;
}

const char *mutual_event_payload(const mutual_event *ev)
{
	return (const char *)ev->text.data + ev->payload_off;
}

size_t mutual_event_payload_len(const mutual_event *ev)
{
	return ev->payload_len;
}

const uint8_t *mutual_event_hash(const mutual_event *ev)
{
	return ev->hash;
}

const char *mutual_event_device_name(const mutual_event *ev)
{
	return (const char *)ev->text.data + ev->name_off;
}

int mutual_event_quarantined(const mutual_event *ev)
{
	return ev->quarantined;
}

int mutual_event_refused(const mutual_event *ev)
{
	return ev->refused;
}

int mutual_event_pending(const mutual_event *ev)
{
	return ev->pending;
}

int mutual_pending_count(mutual_store *s, uint64_t *waiting, uint64_t *held_back)
{
	MUTUAL_STORE_ENTER(s);
	if (!s || !waiting || !held_back)
		return mutual__fail(MUTUAL_EINVALID, "no store or output given");
	mutual__error_clear();
	return mutual__db_pending_counts(s->db, waiting, held_back);
}

void mutual_event_free(mutual_event *ev)
{
	if (!ev)
		return;
	mutual__buf_free(&ev->text);
	mutual__free(ev);
}

int mutual_event_lookup(mutual_event **out, mutual_store *s, const mutual_event_id *id)
{
	MUTUAL_STORE_ENTER(s);
	mutual_buf scratch = { 0 }, name = { 0 };
	mutual_event_rec rec;
	mutual_event *e = NULL;
	int rc;

	if (!out || !s || !id)
		return mutual__fail(MUTUAL_EINVALID, "no store or event id given");
	*out = NULL;
	mutual__error_clear();
	if ((rc = mutual__db_event_get(&rec, &scratch, s->db, id->device, id->seq)) < 0 ||
	    (rc = mutual__db_device_name(s->db, id->device, &name)) < 0)
		goto done;
	if (!(e = mutual__calloc(1, sizeof(*e)))) {
		rc = mutual__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	if ((rc = event_fill(e, &rec, (const char *)name.data)) < 0) {
		mutual_event_free(e);
		goto done;
	}
	*out = e;
done:
	mutual__buf_free(&scratch);
	mutual__buf_free(&name);
	return rc;
}

int mutual_iter_new(mutual_iter **out, mutual_store *s, const mutual_iter_options *opts)
{
	MUTUAL_STORE_ENTER(s);
	mutual_db_filter f;
	mutual_iter *it;
	int rc;

	if (!out || !s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	*out = NULL;
	mutual__error_clear();
	if (opts)
		MUTUAL__CHECK_VERSION(opts->version, MUTUAL_ITER_OPTIONS_VERSION, "iterator options");
	memset(&f, 0, sizeof(f));
	if (opts) {
		f.type = opts->type;
		f.device = opts->device;
		f.limit = opts->limit;
		if (opts->after) {
			mutual_buf scratch = { 0 };
			mutual_event_rec rec;
			rc = mutual__db_event_get(&rec, &scratch, s->db, opts->after->device, opts->after->seq);
			mutual__buf_free(&scratch);
			if (rc < 0)
				return rc;
			f.has_after = 1;
			f.after_hlc = rec.hlc;
			memcpy(f.after_device, rec.device, MUTUAL_KEY_SIZE);
			f.after_seq = rec.seq;
		}
	}
	if (!(it = mutual__calloc(1, sizeof(*it))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	it->store = s;
	if ((rc = mutual__db_iter_new(&it->db_iter, s->db, &f)) < 0) {
		mutual__free(it);
		return rc;
	}
	*out = it;
	return 0;
}

int mutual_iter_next(const mutual_event **out, mutual_iter *it)
{
	mutual_event_rec rec;
	int rc;

	if (!out || !it)
		return mutual__fail(MUTUAL_EINVALID, "no iterator given");
	MUTUAL_STORE_ENTER(it->store); /* the iterator steps the store's connection */
	*out = NULL;
	if ((rc = mutual__db_iter_next(&rec, it->db_iter)) < 0)
		return rc;
	if (!it->have_name || memcmp(it->name_of, rec.device, MUTUAL_KEY_SIZE) != 0) {
		if ((rc = mutual__db_device_name(it->store->db, rec.device, &it->name)) < 0)
			return rc;
		memcpy(it->name_of, rec.device, MUTUAL_KEY_SIZE);
		it->have_name = 1;
	}
	if ((rc = event_fill(&it->current, &rec, (const char *)it->name.data)) < 0)
		return rc;
	*out = &it->current;
	return 0;
}

void mutual_iter_free(mutual_iter *it)
{
	if (!it)
		return;
	mutual__db_iter_free(it->db_iter);
	mutual__buf_free(&it->current.text);
	mutual__buf_free(&it->name);
	mutual__free(it);
}

/* ----------------------------------------------------------------- devices */

typedef struct {
	mutual_store *store;
	mutual_device_cb cb;
	void *payload;
} devices_ctx;

static int device_row(const mutual_db_device *d, void *payload)
{
	devices_ctx *ctx = payload;
	mutual_device_info info;
	char hex[MUTUAL_KEY_HEX_SIZE];

	mutual__hex(hex, d->key, MUTUAL_KEY_SIZE);
	info.id = hex;
	info.name = d->name;
	info.events = d->events;
	info.head_seq = d->head_seq;
	info.is_self = memcmp(d->key, ctx->store->self, MUTUAL_KEY_SIZE) == 0;
	info.fork_seq = d->fork_seq;
	info.removed = d->removed;
	info.removed_cut = d->removed_cut;
	return ctx->cb(&info, ctx->payload);
}

int mutual_device_foreach(mutual_store *s, mutual_device_cb cb, void *payload)
{
	MUTUAL_STORE_ENTER(s);
	devices_ctx ctx = { s, cb, payload };
	if (!s || !cb)
		return mutual__fail(MUTUAL_EINVALID, "no store or callback given");
	mutual__error_clear();
	return mutual__db_devices(s->db, device_row, &ctx);
}

typedef struct {
	mutual_store *store;
	const char *query;
	size_t query_len;
	int by_id; /* the query is a hex prefix */
	int matches;
	uint8_t key[MUTUAL_KEY_SIZE];
} resolve_ctx;

/* 1 if `query` is the display form of the device `hex` ("name~1a2b..."),
 * as a person copies it from a listing. */
static int is_display_form(mutual_store *s, const char *hex, const char *query)
{
	const char *shown;
	return strchr(query, '~') && mutual_device_display_name(&shown, s, hex) == 0 && strcmp(shown, query) == 0;
}

static int resolve_row(const mutual_db_device *d, void *payload)
{
	resolve_ctx *ctx = payload;
	char hex[MUTUAL_KEY_HEX_SIZE];
	int hit;

	mutual__hex(hex, d->key, MUTUAL_KEY_SIZE);
	hit = strcmp(d->name, ctx->query) == 0 ||
	      (ctx->by_id && strncasecmp(hex, ctx->query, ctx->query_len) == 0) ||
	      is_display_form(ctx->store, hex, ctx->query);
	if (hit) {
		if (ctx->matches == 0 || memcmp(ctx->key, d->key, MUTUAL_KEY_SIZE) != 0)
			ctx->matches++;
		memcpy(ctx->key, d->key, MUTUAL_KEY_SIZE);
	}
	return 0;
}

int mutual_device_resolve(uint8_t out[MUTUAL_KEY_SIZE], mutual_store *s, const char *name_or_id)
{
	MUTUAL_STORE_ENTER(s);
	resolve_ctx ctx;
	int rc;

	if (!out || !s || !name_or_id || !*name_or_id)
		return mutual__fail(MUTUAL_EINVALID, "no device name or id given");
	mutual__error_clear();
	memset(&ctx, 0, sizeof(ctx));
	ctx.store = s;
	ctx.query = name_or_id;
	ctx.query_len = strlen(name_or_id);
	ctx.by_id = ctx.query_len >= 4 && ctx.query_len <= MUTUAL_KEY_HEX_LEN &&
		    strspn(name_or_id, "0123456789abcdefABCDEF") == ctx.query_len;
	if ((rc = mutual__db_devices(s->db, resolve_row, &ctx)) < 0)
		return rc;
	if (ctx.matches == 0)
		return mutual__fail(MUTUAL_ENOTFOUND, "no device called or starting with '%s'", name_or_id);
	if (ctx.matches > 1)
		return mutual__fail(MUTUAL_EINVALID, "'%s' names %d devices; give more of the id", name_or_id, ctx.matches);
	memcpy(out, ctx.key, MUTUAL_KEY_SIZE);
	return 0;
}
