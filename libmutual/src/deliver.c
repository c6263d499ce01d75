/*
 * deliver.c - what the store holds and what it applies. Every event enters
 * through mutual__deliver_insert (an append's and an import's alike), and
 * every fork through mutual__deliver_fork, so the events, the devices'
 * names, the pending tables and the projections move in step, in the
 * caller's one write transaction. When a held event is applied is decided
 * here: causal delivery and clock admission (docs/format.md, "When an
 * event is applied").
 *
 * NOTES ON THE DESIGN
 *  1. Held means verified and stored (db.c). An event is ready once every
 *     event its frontier names is held, whether applied or not; until then
 *     it waits on the first entry not held and is judged again when that
 *     event arrives. A frontier is a claim; it counts once it is true, and
 *     it can only ever come true for devices whose logs the group holds.
 *  2. A ready event is admitted when its clock is at most MUTUAL_CLOCK_CAP
 *     and at most MUTUAL_CLOCK_SLACK past the clock of an applied cause
 *     (its own previous event, or an event its frontier names). A device's
 *     first event with an empty frontier has no cause and needs only the
 *     cap. Otherwise it is held back, and judged again whenever one of its
 *     causes that was not applied yet is applied.
 *  3. Both rules are monotone in what is applied, so what ends up applied
 *     is their least fixed point: the same on every device that holds the
 *     same events, whatever order they came in. Applied means admitted
 *     here; project.c still skips quarantined and rule-breaking payloads.
 *  4. An event applied after it arrived (it waited, or was held back)
 *     tells the app projections, which replay when it sorts before their
 *     cursor.
 *  5. Appends pick a clock every device admits: another device's clock
 *     pulls this one at most MUTUAL_CLOCK_DRAG past this device's own wall
 *     clock (or its own last event), and never past what rule 2 admits.
 *     So no clock another device chose can make an append fail or stall.
 */
#include "deliver.h"

#include <string.h>
#include <time.h>

#include "json.h"
#include "project.h"
#include "store.h"

#define ENTRY MUTUAL_FRONTIER_ENTRY
#define ID_SIZE (MUTUAL_KEY_SIZE + 8)            /* device | seq (u64) */
#define WAITER_SIZE (MUTUAL_KEY_SIZE + 8 + 4)    /* device | seq (u64) | need_index (u32) */

void mutual__deliver_init(mutual_deliver *d, mutual_store *s)
{
	memset(d, 0, sizeof(*d));
	d->s = s;
}

void mutual__deliver_free(mutual_deliver *d)
{
	mutual__buf_free(&d->held_frontier);
	mutual__buf_free(&d->queue);
	mutual__buf_free(&d->causes);
	mutual__buf_free(&d->list);
	mutual__buf_free(&d->scratch);
}

static uint64_t entry_seq(const uint8_t *f, size_t i)
{
	return mutual__get_u64(f + i * ENTRY + MUTUAL_KEY_SIZE);
}

static int put_id(mutual_buf *b, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq)
{
	return mutual__buf_put(b, device, MUTUAL_KEY_SIZE) < 0 || mutual__buf_put_u64(b, seq) < 0 ? MUTUAL_ERROR : 0;
}

/* The index of the first frontier entry from `from` on that is not held;
 * frontier_n when all are. */
static int first_missing(mutual_deliver *d, const mutual_event_rec *ev, size_t from, size_t *out)
{
	size_t bytes = ev->frontier_n * ENTRY;
	int rc;

	*out = ev->frontier_n;
	if (bytes == 0 || (d->held_frontier.len == bytes && memcmp(d->held_frontier.data, ev->frontier, bytes) == 0))
		return 0;
	for (size_t i = from; i < ev->frontier_n; i++) {
		uint64_t head;
		uint8_t hash[MUTUAL_HASH_SIZE];
		if ((rc = mutual__db_head(d->s->db, ev->frontier + i * ENTRY, &head, hash)) < 0)
			return rc;
		if (head < entry_seq(ev->frontier, i)) {
			*out = i;
			return 0;
		}
	}
	d->held_frontier.len = 0;
	return mutual__buf_put(&d->held_frontier, ev->frontier, bytes);
}

/* A rebuild judges events in (device, seq) order: later ones are not
 * judged yet, whatever their rows say. */
static int not_judged_yet(const mutual_deliver *d, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq)
{
	int c = memcmp(device, d->cur_device, MUTUAL_KEY_SIZE);
	return d->rebuilding && (c > 0 || (c == 0 && seq >= d->cur_seq));
}

static int cause_state(mutual_deliver *d, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, int *state, uint64_t *hlc)
{
	int rc;
	if (d->have_last && seq == d->last_seq && memcmp(device, d->last_device, MUTUAL_KEY_SIZE) == 0) {
		*state = MUTUAL_DB_APPLIED;
		*hlc = d->last_hlc;
		return 0;
	}
	if ((rc = mutual__db_event_state(d->s->db, device, seq, state, hlc)) < 0)
		return rc;
	if (*state == MUTUAL_DB_APPLIED && not_judged_yet(d, device, seq))
		*state = MUTUAL_DB_HELD_BACK;
	return 0;
}

/* NOTES 2: admit `ev`, or hold it back with the causes that may admit it. */
static int judge(mutual_deliver *d, const mutual_event_rec *ev, int *admitted)
{
	size_t n = ev->frontier_n;
	int rc;

	*admitted = 0;
	if (ev->hlc > MUTUAL_CLOCK_CAP)
		return mutual__db_hold_back(d->s->db, ev->device, ev->seq); /* nothing can ever admit it */
	if (ev->seq == 1 && n == 0) {
		*admitted = 1;
		return 0;
	}
	d->causes.len = 0;
	/* Its own previous event first: almost always the cause that admits it. */
	for (size_t i = ev->seq > 1 ? 0 : 1; i <= n; i++) {
		const uint8_t *device = i == 0 ? ev->device : ev->frontier + (i - 1) * ENTRY;
		uint64_t seq = i == 0 ? ev->seq - 1 : entry_seq(ev->frontier, i - 1), hlc;
		int state;
		if ((rc = cause_state(d, device, seq, &state, &hlc)) < 0)
			return rc;
		if (state == MUTUAL_DB_APPLIED && ev->hlc <= hlc + MUTUAL_CLOCK_SLACK) {
			*admitted = 1;
			return 0;
		}
		if (state != MUTUAL_DB_APPLIED && state != MUTUAL_DB_NOT_HELD && (rc = put_id(&d->causes, device, seq)) < 0)
			return rc;
	}
	if ((rc = mutual__db_hold_back(d->s->db, ev->device, ev->seq)) < 0)
		return rc;
	for (size_t off = 0; off < d->causes.len; off += ID_SIZE)
		if ((rc = mutual__db_hold_back_cause(d->s->db, ev->device, ev->seq, d->causes.data + off,
			     mutual__get_u64(d->causes.data + off + MUTUAL_KEY_SIZE))) < 0)
			return rc;
	return 0;
}

static int apply(mutual_deliver *d, const mutual_event_rec *ev, int late)
{
	int rc;
	if ((rc = mutual__project_apply(d->s, ev)) < 0 || (late && (rc = mutual__apps_note_late(d->s, ev)) < 0))
		return rc;
	d->have_last = 1;
	memcpy(d->last_device, ev->device, MUTUAL_KEY_SIZE);
	d->last_seq = ev->seq;
	d->last_hlc = ev->hlc;
	/* Only an event applied late, or judged before its causes in a rebuild,
	 * can be the cause a held-back event waits on. */
	return late || d->rebuilding ? put_id(&d->queue, ev->device, ev->seq) : 0;
}

/* Wait, hold back, or apply a held event, from frontier entry `from` on. */
static int settle(mutual_deliver *d, const mutual_event_rec *ev, size_t from, int late)
{
	size_t missing;
	int admitted, rc;

	if ((rc = first_missing(d, ev, from, &missing)) < 0)
		return rc;
	if (missing < ev->frontier_n)
		return mutual__db_wait(d->s->db, ev->device, ev->seq, (uint32_t)missing, ev->frontier + missing * ENTRY,
			entry_seq(ev->frontier, missing));
	if ((rc = judge(d, ev, &admitted)) < 0 || !admitted)
		return rc;
	return apply(d, ev, late);
}

static int fetch(mutual_deliver *d, mutual_event_rec *ev, const uint8_t *id)
{
	return mutual__db_event_get(ev, &d->scratch, d->s->db, id, mutual__get_u64(id + MUTUAL_KEY_SIZE));
}

/* Judge again the held-back events whose causes were just applied. */
static int drain(mutual_deliver *d)
{
	int rc = 0;
	while (d->queue_pos < d->queue.len && rc == 0) {
		const uint8_t *cause = d->queue.data + d->queue_pos;
		d->list.len = 0;
		rc = mutual__db_held_by(d->s->db, cause, mutual__get_u64(cause + MUTUAL_KEY_SIZE), &d->list);
		d->queue_pos += ID_SIZE;
		for (size_t off = 0; off < d->list.len && rc == 0; off += ID_SIZE) {
			mutual_event_rec ev;
			int admitted;
			if ((rc = fetch(d, &ev, d->list.data + off)) < 0 ||
			    (rc = mutual__db_release(d->s->db, ev.device, ev.seq)) < 0 ||
			    (rc = judge(d, &ev, &admitted)) < 0)
				break;
			if (admitted)
				rc = apply(d, &ev, 1);
		}
	}
	d->queue.len = d->queue_pos = 0;
	return rc;
}

/* A device's first event announces its name (format.md, "The library's
 * own event types"); a name that breaks the rules is not taken. */
static int take_name(mutual_deliver *d, const mutual_event_rec *ev)
{
	mutual_buf name = { 0 };
	int rc = 0;
	if (mutual__json_get_string(&name, ev->payload, ev->payload_len, "name") == 0 &&
	    mutual__check_name((const char *)name.data, name.data ? strlen((const char *)name.data) : 0, "name",
			       MUTUAL_NAME_NEW) == 0)
		rc = mutual__db_device_set_name(d->s->db, ev->device, (const char *)name.data);
	mutual__buf_free(&name);
	return rc;
}

int mutual__deliver_insert(mutual_deliver *d, const mutual_event_rec *ev)
{
	int rc;
	if ((rc = mutual__db_insert_event(d->s->db, ev)) < 0 || (ev->seq == 1 && (rc = take_name(d, ev)) < 0) ||
	    (rc = settle(d, ev, 0, 0)) < 0)
		return rc;
	/* Events that waited for this one. */
	d->list.len = 0;
	if ((rc = mutual__db_waiters(d->s->db, ev->device, ev->seq, &d->list)) < 0)
		return rc;
	if (d->list.len) {
		mutual_buf waiters = d->list; /* settle() and drain() reuse d->list */
		d->list = (mutual_buf){ 0 };
		for (size_t off = 0; off < waiters.len && rc == 0; off += WAITER_SIZE) {
			mutual_event_rec w;
			uint32_t index = (uint32_t)waiters.data[off + 40] << 24 | (uint32_t)waiters.data[off + 41] << 16 |
					 (uint32_t)waiters.data[off + 42] << 8 | waiters.data[off + 43];
			if ((rc = fetch(d, &w, waiters.data + off)) == 0 &&
			    (rc = mutual__db_unwait(d->s->db, w.device, w.seq)) == 0)
				rc = settle(d, &w, (size_t)index + 1, 1);
		}
		mutual__buf_free(&waiters);
		if (rc < 0)
			return rc;
	}
	return drain(d);
}

int mutual__deliver_fork(mutual_store *s, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, const uint8_t *proof, size_t len)
{
	int rc = mutual__db_fork_set(s->db, device, seq, proof, len);
	return rc < 0 ? rc : mutual__project_rebuild_locked(s);
}

static int rebuild_one(const mutual_event_rec *ev, void *payload)
{
	mutual_deliver *d = payload;
	int rc;
	/* From here on this event counts as judged: what it admits in drain()
	 * may name it. (Its own causes never include it.) */
	memcpy(d->cur_device, ev->device, MUTUAL_KEY_SIZE);
	d->cur_seq = ev->seq + 1;
	if ((rc = settle(d, ev, 0, 0)) < 0)
		return rc;
	return drain(d);
}

int mutual__deliver_rebuild(mutual_store *s)
{
	mutual_deliver d;
	int rc;
	if ((rc = mutual__db_pending_clear(s->db)) < 0)
		return rc;
	mutual__deliver_init(&d, s);
	d.rebuilding = 1;
	rc = mutual__db_chains(s->db, rebuild_one, &d);
	mutual__deliver_free(&d);
	return rc;
}

/* The wall clock as an hlc, held under the cap whatever the system says. */
static uint64_t wall_hlc(void)
{
	struct timespec ts;
	uint64_t ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = ts.tv_sec < 0 ? 0 : (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return ms > (MUTUAL_CLOCK_CAP >> 16) ? MUTUAL_CLOCK_CAP & ~UINT64_C(0xffff) : MUTUAL_HLC_MS(ms);
}

int mutual__deliver_clock(mutual_store *s, uint64_t seq, const uint8_t *frontier, size_t n, uint64_t *out)
{
	uint64_t now = wall_hlc(), own = 0, pull, reach = 0, hlc;
	int state, have = 0, rc;

	if (seq > 1) {
		if ((rc = mutual__db_event_state(s->db, s->self, seq - 1, &state, &hlc)) < 0)
			return rc;
		if (state == MUTUAL_DB_APPLIED)
			own = reach = hlc, have = 1;
	}
	if ((rc = mutual__db_max_hlc(s->db, (now > own ? now : own) + MUTUAL_CLOCK_DRAG, &pull)) < 0)
		return rc;
	*out = now > pull ? now : pull + 1;
	for (size_t i = 0; i < n; i++) {
		if ((rc = mutual__db_event_state(s->db, frontier + i * ENTRY, entry_seq(frontier, i), &state, &hlc)) < 0)
			return rc;
		if (state == MUTUAL_DB_APPLIED && (!have || hlc > reach))
			reach = hlc, have = 1;
	}
	if (have && *out > reach + MUTUAL_CLOCK_SLACK)
		*out = reach + MUTUAL_CLOCK_SLACK;
	if (*out > MUTUAL_CLOCK_CAP)
		*out = MUTUAL_CLOCK_CAP;
	return 0;
}
