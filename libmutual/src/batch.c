/*
 * batch.c - mutual_batch: typed writes (app events, entity puts and
 * deletes, counter adds) gathered in memory and committed as consecutive
 * events of this device in one transaction, so a person's one action, or
 * a script's thousand, costs one fsync instead of one each. Nothing here
 * builds a payload or writes a row: an app event is checked as
 * mutual_append checks it (mutual__append_check), the library's own
 * entries are built and checked by project.c's entry builders (the ones
 * mutual_entity_put and the rest use), and the commit is an append like
 * any other (mutual__append_write, log.c), so the projections move as the
 * single calls would move them.
 *
 * NOTES ON THE DESIGN
 *  1. `text` holds exactly `n` entries, "type NUL payload NUL" each,
 *     entry i from off[i]: off[0] is 0, each entry ends where the next
 *     starts and the last where `len` does. `bytes` counts their types
 *     and payloads (without the NULs). Asserted by batch_ok().
 *  2. Every entry held passed the append's check when it was added, with
 *     the reserved "mutual." types allowed only to project.c's builders:
 *     an app's entry can never carry a library type, and a commit checks
 *     nothing again.
 *  3. An add appends one whole entry or leaves the batch as it was: the
 *     bounds are judged and the room is taken (with a plain realloc, not a
 *     sticky mutual_buf, so a failed allocation leaves `text` usable)
 *     before a byte is copied.
 *  4. n <= MUTUAL_BATCH_MAX and bytes <= MUTUAL_BATCH_BYTES_MAX, so a
 *     commit is within what mutual__append_write takes.
 *  5. A batch is emptied only by a commit that succeeded; a failed one
 *     (the store's reasons only, by NOTES 2) leaves it whole to retry.
 */
#include <assert.h>
#include <string.h>

#include "project.h"
#include "store.h"

#define ROOM_FIRST_CAP 64 /* items room() first makes room for */

struct mutual_batch {
	mutual_store *store;
	char *text; /* NOTES 1 */
	size_t len, cap;
	size_t *off;
	size_t n, off_cap;
	size_t bytes;
	mutual_buf scratch; /* a library entry's payload while it is built */
};

#ifndef NDEBUG
static int batch_ok(const mutual_batch *b)
{
	if (b->n == 0)
		return b->len == 0 && b->bytes == 0;
	return b->off[0] == 0 && b->off[b->n - 1] < b->len && b->text[b->len - 1] == '\0' &&
	       b->bytes + 2 * b->n == b->len && b->n <= MUTUAL_BATCH_MAX && b->bytes <= MUTUAL_BATCH_BYTES_MAX;
}
#endif

/* `data` with room for `need` items of `size` bytes (`*cap` updated), or
 * NULL when out of memory: `data` is then as it was. */
static void *room(void *data, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : ROOM_FIRST_CAP;
	void *grown;

	if (need <= *cap)
		return data;
	while (c < need)
		c *= 2;
	if (!(grown = mutual__realloc(data, c * size))) {
		mutual__fail(MUTUAL_ERROR, "out of memory");
		return NULL;
	}
	*cap = c;
	return grown;
}

/* NOTES 3: `e` (checked) at the end of the batch, or nothing. */
static int add(mutual_batch *b, const mutual_append_entry *e)
{
	size_t tl = strlen(e->type), pl = strlen(e->payload), *off;
	char *text;

	if (b->n >= MUTUAL_BATCH_MAX)
		return mutual__fail(MUTUAL_EINVALID, "a batch holds at most %d entries: commit this one and start another",
			MUTUAL_BATCH_MAX);
	if (tl + pl > MUTUAL_BATCH_BYTES_MAX - b->bytes)
		return mutual__fail(MUTUAL_EINVALID,
			"a batch holds at most %d bytes of events: commit this one and start another", MUTUAL_BATCH_BYTES_MAX);
	if (!(text = room(b->text, &b->cap, b->len + tl + pl + 2, 1)))
		return MUTUAL_ERROR;
	b->text = text;
	if (!(off = room(b->off, &b->off_cap, b->n + 1, sizeof(*off))))
		return MUTUAL_ERROR;
	b->off = off;
	b->off[b->n++] = b->len;
	memcpy(b->text + b->len, e->type, tl + 1);
	memcpy(b->text + b->len + tl + 1, e->payload, pl + 1);
	b->len += tl + pl + 2;
	b->bytes += tl + pl;
	assert(batch_ok(b));
	return 0;
}

/* Name the entry a refusal is about: its place in the batch. */
static int refused(const mutual_batch *b, int rc)
{
	return rc == MUTUAL_EINVALID ? mutual__fail_wrap(rc, "batch entry %zu", b->n + 1) : rc;
}

int mutual_batch_new(mutual_batch **out, mutual_store *s)
{
	mutual_batch *b;

	if (!out || !s)
		return mutual__fail(MUTUAL_EINVALID, "no output or store given");
	*out = NULL;
	mutual__error_clear();
	if (s->readonly)
		return mutual__fail(MUTUAL_EREADONLY, "the store at %s is read-only: it cannot be written", s->dir);
	if (!(b = mutual__calloc(1, sizeof(*b))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	b->store = s;
	*out = b;
	return 0;
}

int mutual_batch_append(mutual_batch *b, const char *type, const char *payload)
{
	mutual_append_entry e = { type, payload };
	int rc;

	if (!b)
		return mutual__fail(MUTUAL_EINVALID, "no batch given");
	mutual__error_clear();
	if ((rc = mutual__append_check(&e, 1, 0)) < 0)
		return refused(b, rc);
	return refused(b, add(b, &e));
}

/* A library entry's end: added when `rc` says it was built, and the
 * scratch payload emptied (freed after a failure: its flag is sticky). */
static int add_built(mutual_batch *b, const mutual_append_entry *e, int rc)
{
	if (rc == 0)
		rc = add(b, e);
	if (rc == 0)
		b->scratch.len = 0;
	else
		mutual__buf_free(&b->scratch);
	return refused(b, rc);
}

int mutual_batch_entity_put(mutual_batch *b, const char *kind, const char *id, const char *fields)
{
	mutual_append_entry e;
	if (!b)
		return mutual__fail(MUTUAL_EINVALID, "no batch given");
	mutual__error_clear();
	return add_built(b, &e, mutual__project_put_entry(&e, &b->scratch, kind, id, fields));
}

int mutual_batch_entity_delete(mutual_batch *b, const char *kind, const char *id)
{
	mutual_append_entry e;
	if (!b)
		return mutual__fail(MUTUAL_EINVALID, "no batch given");
	mutual__error_clear();
	return add_built(b, &e, mutual__project_del_entry(&e, &b->scratch, kind, id));
}

int mutual_batch_counter_add(mutual_batch *b, const char *key, const char *delta)
{
	mutual_append_entry e;
	if (!b)
		return mutual__fail(MUTUAL_EINVALID, "no batch given");
	mutual__error_clear();
	return add_built(b, &e, mutual__project_add_entry(&e, &b->scratch, key, delta));
}

size_t mutual_batch_count(const mutual_batch *b)
{
	return b ? b->n : 0;
}

int mutual_batch_commit(mutual_event_id *out_first, mutual_batch *b)
{
	mutual_append_entry *entries;
	mutual_store *s;
	int rc;

	if (!b)
		return mutual__fail(MUTUAL_EINVALID, "no batch given");
	s = b->store;
	MUTUAL_STORE_ENTER(s);
	mutual__error_clear();
	assert(batch_ok(b));
	if (b->n == 0) {
		if (out_first) {
			memcpy(out_first->device, s->self, MUTUAL_KEY_SIZE);
			out_first->seq = 0;
		}
		return 0;
	}
	if (!(entries = mutual__calloc(b->n, sizeof(*entries))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	for (size_t i = 0; i < b->n; i++) {
		entries[i].type = b->text + b->off[i];
		entries[i].payload = entries[i].type + strlen(entries[i].type) + 1;
	}
	rc = mutual__append_write(out_first, s, entries, b->n); /* NOTES 2: checked when added */
	mutual__free(entries);
	if (rc == 0) /* NOTES 5 */
		b->n = b->len = b->bytes = 0;
	return rc;
}

void mutual_batch_free(mutual_batch *b)
{
	if (!b)
		return;
	mutual__free(b->text);
	mutual__free(b->off);
	mutual__buf_free(&b->scratch);
	mutual__free(b);
}
