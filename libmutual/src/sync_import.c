/*
 * sync_import.c - the import phase of a sync: every ref a peer holds is
 * judged. A device log is walked back from its tip to what this store
 * holds, its new segments verified against the device its ref names,
 * copied into the store's repository and stored, within the bound one sync
 * takes from one device, which is reported; a ref that is not a log at all
 * is noted for the send step to replace; a newer format's ref is adopted
 * when it authenticates. A log that diverges goes to sync_fork.c.
 *
 * NOTES ON THE DESIGN
 *  1. Import is append-only: a peer's device ref must extend the commit this
 *     store holds for that device. A ref that is behind is left to the send
 *     step; one that diverges is refused and nothing of it imported. Each
 *     event stored must extend its log (asserted at the insert, db.c
 *     NOTES 2).
 *  2. A segment verifies only against the key its ref names: the events'
 *     device, every signature, and the envelope's associated data must all
 *     agree with the ref, whatever keys the data itself mentions.
 *  3. Verify before keeping. Objects are read from the peer: the stick's
 *     repository, or a quarantine in the store's folder where a bundle's or
 *     a remote's pack lands. Only segments that verified are copied into
 *     sync.git, before their rows are stored (asserted in store_segments);
 *     the quarantine is dropped whatever happens. Every object read is
 *     bounded (git.h's MUTUAL_*_MAX), and so is every walk: memory does
 *     not grow with what a peer claims.
 *  4. Newer formats. A ref under refs/mutual/v<N>/, N >= 2, is kept and
 *     passed on only when every object it adds authenticates with the group
 *     key under its name (the outer envelope is the same for every version);
 *     otherwise it is neither kept nor forwarded, and reported.
 *  5. Floods. One sync imports at most MUTUAL_IMPORT_BYTES_MAX bytes of
 *     verified plaintext from one device, but never less than one segment
 *     (so a log always goes on); the rest stays on the target for the next
 *     sync, and a warning says so. What a device sent is kept per sync, so a
 *     sudden flood is warned of (docs/format.md, "Limits"). Asserted in
 *     import_ref after each batch.
 *  6. A key this store lacks holds back, never refuses. A segment (or a
 *     fork proof, or a newer format's object) sealed with a key id that
 *     group.key does not hold was sealed after a rotation this device has
 *     not yet received the key of: nothing of that log from there on is
 *     imported in this sync, no refusal is reported, the ref is left as
 *     it is (not garbage), `segments_without_key` counts it and a warning
 *     says why. The next sync after the key arrives imports it. A key id
 *     held opens with each key of that id (keyring.c NOTES 2). A rotation
 *     imported in the same sync may bring the key: so the logs that
 *     stopped at a missing key are walked again while keys arrive (at
 *     most three passes), and only what still lacks one is reported. A
 *     log taken again has the per-sync bound again (NOTES 5), so one sync
 *     imports at most three times the bound from a device.
 */
#include "sync_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver.h"
#include "event.h"
#include "fork.h"
#include "keyring.h"
#include "project.h"
#include "segment.h"
#include "store.h"

#define FUTURE_MS (24 * 3600 * 1000ull)    /* a clock this far ahead is worth a warning */
#define FLOOD_FACTOR 10                    /* a sync this many times a device's median ... */
#define FLOOD_BYTES_MIN (16u * 1024 * 1024) /* ... and this large is a sudden flood */
#define SIZE_TEXT_SIZE 32                  /* bytes for size_text()'s "%.1f MiB" of any uint64_t */
#define RING_FIRST_CAP 64                  /* segments walk_back()'s ring first holds */

/* A report that refuses nothing (a log longer than one sync takes, a
 * sudden flood): through the refusal
 * callback, its reason starting "warning: " (mutual.h), not counted in
 * `refused`. */
static void warn(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void warn(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], const char *fmt, ...)
{
	char hex[MUTUAL_KEY_HEX_SIZE], reason[512];
	va_list ap;
	int n = snprintf(reason, sizeof(reason), "warning: ");

	va_start(ap, fmt);
	vsnprintf(reason + n, sizeof(reason) - (size_t)n, fmt, ap);
	va_end(ap);
	mutual__hex(hex, device, MUTUAL_KEY_SIZE);
	if (c->opts && c->opts->refusal)
		c->opts->refusal(hex, reason, c->opts->refusal_payload);
}

/* A device's name in quotes and a space, as its join event gave it ("" when
 * unknown). A name is free text any member chooses, so a report shows it
 * only beside the device's key (the callback's `device`). */
static void device_label(char *out, size_t size, sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE])
{
	mutual_buf name = { 0 };
	out[0] = '\0';
	if (mutual__db_device_name(c->s->db, device, &name) == 0 && name.len && name.data[0])
		snprintf(out, size, "\"%.64s\" ", (const char *)name.data);
	mutual__buf_free(&name);
}

static const char *size_text(char out[SIZE_TEXT_SIZE], uint64_t bytes)
{
	if (bytes < 1024 * 1024)
		snprintf(out, SIZE_TEXT_SIZE, "%.1f KiB", (double)bytes / 1024);
	else
		snprintf(out, SIZE_TEXT_SIZE, "%.1f MiB", (double)bytes / (1024 * 1024));
	return out;
}
static int is_announcement(const mutual_event_rec *ev)
{
	return (ev->type_len == 19 && memcmp(ev->type, "mutual.group.create", 19) == 0) ||
	       (ev->type_len == 18 && memcmp(ev->type, "mutual.device.join", 18) == 0);
}

/* A segment verified and waiting to be stored; its events point into
 * `plain`, which it owns. */
typedef struct {
	mutual_oid oid;
	mutual_buf plain;
	mutual_event_rec *evs;
	mutual_segment seg;
} verified_segment;

static void verified_free(verified_segment *v)
{
	mutual__buf_free(&v->plain);
	mutual__free(v->evs);
	memset(v, 0, sizeof(*v));
}

/* Verify one segment commit of `device`, read from the peer (nothing of
 * it is kept yet): it must continue the chain at `next_seq` after `prev`.
 * NOTES 2 and 3. MUTUAL_ENOTFOUND when it is sealed with a key this store
 * does not hold (NOTES 6). */
static int verify_segment(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], const mutual_oid *oid, uint64_t next_seq,
	const uint8_t prev[MUTUAL_HASH_SIZE], verified_segment *v)
{
	mutual_store *s = c->s;
	mutual_segment *seg = &v->seg;
	mutual_oid parent;
	mutual_chain chain;
	size_t pos = 0, max_events;
	int has_parent, rc;
	uint64_t now_ms = (uint64_t)time(NULL) * 1000;

	memset(v, 0, sizeof(*v));
	v->oid = *oid;
	c->stats->segments_opened++;
	if ((rc = mutual__segment_commit_read(c->peer, oid, &has_parent, &parent, &c->blob)) < 0)
		return rc == MUTUAL_ENOTFOUND ? MUTUAL_EINVALID : rc; /* ENOTFOUND says: no key */
	if ((rc = mutual__keyring_segment_open(&v->plain, s, c->blob.data, c->blob.len, device)) < 0 ||
	    (rc = mutual__segment_parse(seg, v->plain.data, v->plain.len)) < 0)
		return rc;
	if (memcmp(seg->group_id, s->group_id_raw, MUTUAL_GROUP_ID_SIZE) != 0 || memcmp(seg->device, device, MUTUAL_KEY_SIZE) != 0)
		return mutual__fail(MUTUAL_EVERIFY, "segment names another group or device than its ref");
	if (seg->first_seq != next_seq)
		return mutual__fail(MUTUAL_EVERIFY, "segment starts at seq %" PRIu64 ", expected %" PRIu64,
			seg->first_seq, next_seq);
	max_events = seg->events_len / 100; /* no wire event is shorter */
	if (seg->count > max_events)
		return mutual__fail(MUTUAL_EINVALID, "segment claims more events than it holds");
	if (!(v->evs = mutual__calloc(seg->count, sizeof(*v->evs))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");

	mutual__chain_start(&chain, device, next_seq, prev);
	for (uint32_t i = 0; i < seg->count; i++) {
		mutual_event_rec *ev = &v->evs[i];
		size_t used;
		if ((rc = mutual__event_decode(ev, seg->events + pos, seg->events_len - pos, &used)) < 0)
			return rc;
		pos += used;
		switch (mutual__chain_next(&chain, ev, NULL)) {
		case MUTUAL_CHAIN_OK:
			break;
		case MUTUAL_CHAIN_DEVICE:
		case MUTUAL_CHAIN_SEQ:
			return mutual__fail(MUTUAL_EVERIFY, "event %u of the segment belongs elsewhere", i + 1);
		case MUTUAL_CHAIN_PREV:
		case MUTUAL_CHAIN_HASH:
			return mutual__fail(MUTUAL_EVERIFY, "the chain breaks at seq %" PRIu64, ev->seq);
		case MUTUAL_CHAIN_SIG:
			return mutual__fail(MUTUAL_EVERIFY, "bad signature at seq %" PRIu64 " (not this device's key)",
				ev->seq);
		case MUTUAL_CHAIN_ERROR:
			return MUTUAL_ERROR;
		}
		if (ev->seq == 1 && !is_announcement(ev))
			return mutual__fail(MUTUAL_EVERIFY, "the log does not start by joining the group");
		if (ev->hlc > INT64_MAX)
			return mutual__fail(MUTUAL_EVERIFY, "event clock out of range at seq %" PRIu64, ev->seq);
		if ((ev->hlc >> 16) > now_ms + FUTURE_MS)
			c->stats->future_events++;
	}
	if (pos != seg->events_len)
		return mutual__fail(MUTUAL_EVERIFY, "segment has trailing bytes");
	if (!mutual__chain_covered(&chain))
		return mutual__fail(MUTUAL_EVERIFY, "segment does not end in a signature");
	return 0;
}

/* Store verified segments, whose objects are already in the store's
 * repository (sync.c NOTES 1), in one transaction: all or nothing. */
static int store_segments(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], verified_segment *batch, size_t n)
{
	mutual_store *s = c->s;
	mutual_deliver d;
	int rc;

	if ((rc = mutual__db_begin_write(s->db)) < 0)
		return rc;
	mutual__deliver_init(&d, s);
	for (size_t k = 0; k < n && rc == 0; k++) {
		verified_segment *v = &batch[k];
		/* sync.c NOTES 1: the row follows its objects (or the check itself ran out of memory) */
		assert(mutual__repo_has(c->local, &v->oid) || mutual__git_out_of_memory());
		for (uint32_t i = 0; i < v->seg.count && rc == 0; i++)
			rc = mutual__deliver_insert(&d, &v->evs[i]);
		if (rc == 0)
			rc = mutual__db_segment_add(s->db, device, v->seg.first_seq, v->seg.first_seq + v->seg.count - 1,
				v->oid.id);
	}
	mutual__deliver_free(&d);
	if (rc == 0)
		rc = mutual__project_settle(s);
	if (rc == 0)
		rc = mutual__db_commit(s->db);
	else
		mutual__db_rollback(s->db);
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < n; k++) {
		c->stats->events_received += batch[k].seg.count;
		c->stats->segments_received++;
	}
	return 0;
}

/* Whether the peer's ref for `device` is not a log of this format at all:
 * it names no commit, a commit not shaped as a segment, or one whose
 * segment does not open as this device's. Such a ref is replaced by the
 * log held here (docs/format.md, "Repair"); a ref that opens (a fork, a
 * rewritten log) or that this store cannot judge (another envelope
 * version, a key id it does not hold: NOTES 6) is never replaced.
 * 1: garbage, 0: not, negative: no verdict (out of memory). */
static int ref_is_garbage(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], const mutual_oid *oid)
{
	mutual_segment seg;
	mutual_oid parent;
	int has_parent, version, rc;

	rc = mutual__segment_commit_read(c->peer, oid, &has_parent, &parent, &c->blob);
	if (rc < 0)
		return rc == MUTUAL_ERROR ? rc : rc == MUTUAL_EINVALID || rc == MUTUAL_ENOTFOUND;
	if ((version = mutual__envelope_version(c->blob.data, c->blob.len)) < 0)
		return 1;
	if (version != MUTUAL_ENVELOPE_VERSION)
		return 0;
	/* Out of memory (MUTUAL_ERROR) is no verdict on the log: a log taken
	 * for garbage has its ref replaced on the target. */
	if ((rc = mutual__keyring_segment_open(&c->plain, c->s, c->blob.data, c->blob.len, device)) < 0 ||
	    (rc = mutual__segment_parse(&seg, c->plain.data, c->plain.len)) < 0)
		return rc == MUTUAL_ERROR ? rc : rc != MUTUAL_ENOTFOUND;
	return memcmp(seg.device, device, MUTUAL_KEY_SIZE) != 0 || memcmp(seg.group_id, c->s->group_id_raw, MUTUAL_GROUP_ID_SIZE) != 0;
}

static int note_garbage(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], const mutual_oid *oid)
{
	garbage_ref *grown = mutual__realloc(c->garbage, (c->n_garbage + 1) * sizeof(*c->garbage));
	if (!grown)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	c->garbage = grown;
	memcpy(grown[c->n_garbage].device, device, MUTUAL_KEY_SIZE);
	grown[c->n_garbage].oid = *oid;
	c->n_garbage++;
	return 0;
}

const garbage_ref *mutual__sync_find_garbage(const sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE])
{
	for (size_t i = 0; i < c->n_garbage; i++)
		if (memcmp(c->garbage[i].device, device, MUTUAL_KEY_SIZE) == 0)
			return &c->garbage[i];
	return NULL;
}

/* How many segments of one device one sync imports (docs/format.md,
 * "Limits"); a test build can lower it, to show that the next sync goes on
 * where this one stopped. */
static size_t import_segments_max(void)
{
#ifdef MUTUAL_TEST_HOOKS
	const char *v = getenv("MUTUAL_TEST_IMPORT_SEGMENTS_MAX");
	if (v && atol(v) > 0 && atol(v) < MUTUAL_IMPORT_SEGMENTS_MAX)
		return (size_t)atol(v);
#endif
	return MUTUAL_IMPORT_SEGMENTS_MAX;
}

/* Walk back from `tip` in the peer to the commit `ours` this store holds
 * (or to the root), at most MUTUAL_WALK_MAX commits, keeping the oldest
 * MUTUAL_IMPORT_SEGMENTS_MAX of them: `chain[0]` (newest kept) ..
 * `chain[*n - 1]` (oldest). Cost grows with what is new; memory is
 * bounded whatever the peer holds. `*how`: 0 reached `ours`, 1 reached
 * the root, 2 reached another commit of this device held here (rewritten;
 * `*rewritten_after` its last seq), 3 the peer's log is damaged. */
static int walk_back(sync_ctx *c, const mutual_oid *tip, const mutual_oid *ours,
	mutual_oid **chain_out, size_t *n_out, uint64_t *more, int *how, uint64_t *rewritten_after)
{
	mutual_oid *ring = NULL, *chain = NULL, cur = *tip, parent;
	size_t cap = 0, n = 0, m;
	uint8_t found[MUTUAL_KEY_SIZE];
	uint64_t first, last;
	size_t keep = import_segments_max();
	int has_parent, rc = 0;

	*chain_out = NULL;
	*n_out = 0;
	*more = 0;
	*how = 0;
	for (;;) {
		if (n >= MUTUAL_WALK_MAX) {
			rc = mutual__fail(MUTUAL_EINVALID, "its log on the target is longer than the %u segments one sync "
				"walks", MUTUAL_WALK_MAX);
			*how = 3;
			goto done;
		}
		if (n == cap && cap < keep) {
			size_t grow = cap ? cap * 2 : RING_FIRST_CAP;
			mutual_oid *grown = mutual__realloc(ring, (grow > keep ? keep : grow) *
				sizeof(*ring));
			if (!grown) {
				rc = mutual__fail(MUTUAL_ERROR, "out of memory");
				goto done;
			}
			ring = grown;
			cap = grow > keep ? keep : grow;
		}
		ring[n % keep] = cur;
		n++;
		if ((rc = mutual__commit_parent(c->peer, &cur, &has_parent, &parent)) < 0) {
			if (rc == MUTUAL_ERROR) /* out of memory: no verdict on the log */
				goto done;
			rc = 0;
			*how = 3;
			goto done;
		}
		if (!has_parent) {
			*how = ours ? 1 : 0;
			break;
		}
		if (ours && memcmp(&parent, ours, sizeof(*ours)) == 0)
			break;
		if ((rc = mutual__db_segment_find(c->s->db, parent.id, found, &first, &last)) == 0) {
			*how = 2;
			*rewritten_after = last;
			break;
		}
		if (rc != MUTUAL_ENOTFOUND) /* not read is not absent: it could make the log look rewritten */
			goto done;
		rc = 0;
		cur = parent;
	}
	if ((rc = mutual__sync_report(c, MUTUAL_SYNC_IMPORTING, c->stats->events_received, 0)) < 0)
		goto done;
	m = n < keep ? n : keep;
	if (!(chain = mutual__malloc(m * sizeof(*chain)))) {
		rc = mutual__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	for (size_t j = 0; j < m; j++)
		chain[m - 1 - j] = ring[(n - 1 - j) % keep];
	*chain_out = chain;
	*n_out = m;
	*more = n - m;
done:
	mutual__free(ring);
	return rc;
}

/* How many bytes of verified plaintext one sync imports from one device
 * (docs/format.md, "Limits"): what one member can make another device
 * store in one sync. A test build can lower it, so tests of what exceeds
 * it stay small. */
static uint64_t import_bytes_max(void)
{
#ifdef MUTUAL_TEST_HOOKS
	const char *v = getenv("MUTUAL_TEST_IMPORT_BYTES_MAX");
	if (v && atol(v) > 0 && (uint64_t)atol(v) < MUTUAL_IMPORT_BYTES_MAX)
		return (uint64_t)atol(v);
#endif
	return MUTUAL_IMPORT_BYTES_MAX;
}

/* A warning, not a refusal: an honest log longer than the bound (a new
 * device joining a group with years of history) is taken in over several
 * syncs, and nothing in it is wrong. */
static void warn_over_bound(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t bound, uint64_t imported)
{
	char label[80], bound_text[SIZE_TEXT_SIZE], imported_text[SIZE_TEXT_SIZE];
	device_label(label, sizeof(label), c, device);
	warn(c, device, "%shas more than %s of new events on the target, the most one sync takes from one "
		"device: %s taken now; sync again to take the rest", label,
		size_text(bound_text, bound), size_text(imported_text, imported));
}

/* Sorts `v` (n <= MUTUAL_DB_SYNC_HISTORY: insertion sort is enough). */
static uint64_t median_of(uint64_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2;
}

/* Warn of a sudden flood: `bytes` imported from `device` in this sync are
 * more than FLOOD_FACTOR times the median of its last syncs that imported
 * anything, and more than FLOOD_BYTES_MIN; then note them for its history
 * (record_imported). A device with no history is never a flood: a store
 * that joins takes whole logs at once. */
static int note_imported_bytes(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t bytes)
{
	uint64_t recent[MUTUAL_DB_SYNC_HISTORY], median;
	imported_bytes *grown;
	size_t n;
	int rc;

	if ((rc = mutual__db_sync_bytes_recent(c->s->db, device, recent, &n)) < 0)
		return rc;
	if (n && bytes > FLOOD_BYTES_MIN && bytes > FLOOD_FACTOR * (median = median_of(recent, n))) {
		char label[80], bytes_text[SIZE_TEXT_SIZE], median_text[SIZE_TEXT_SIZE];
		device_label(label, sizeof(label), c, device);
		warn(c, device, "%ssent %s in this sync, more than %u times its median of %s over its last %zu "
			"syncs: a sudden flood (a broken device, or a member filling disks?)", label,
			size_text(bytes_text, bytes), FLOOD_FACTOR, size_text(median_text, median), n);
	}
	if (!(grown = mutual__realloc(c->imported, (c->n_imported + 1) * sizeof(*c->imported))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	c->imported = grown;
	memcpy(grown[c->n_imported].device, device, MUTUAL_KEY_SIZE);
	grown[c->n_imported].bytes = bytes;
	c->n_imported++;
	return 0;
}

/* One transaction for every device's history, not one (and one fsync)
 * per device: a stick may carry many devices' logs. */
static int record_imported(sync_ctx *c)
{
	int rc;
	if (c->n_imported == 0)
		return 0;
	if ((rc = mutual__db_begin_write(c->s->db)) < 0)
		return rc;
	for (size_t i = 0; i < c->n_imported && rc == 0; i++)
		rc = mutual__db_sync_bytes_add(c->s->db, c->imported[i].device, c->imported[i].bytes);
	if (rc < 0) {
		mutual__db_rollback(c->s->db);
		return rc;
	}
	return mutual__db_commit(c->s->db);
}

#define VERIFY_BATCH_BYTES (4u * 1024 * 1024) /* plaintext held verified before it is stored */

/* Import what the peer's ref `r` holds beyond this store's copy of that
 * device's log: verify segments from the peer, copy the verified ones
 * into the store's repository, then store them (sync.c NOTES 1; NOTES 3). */
static int import_ref(sync_ctx *c, peer_ref *r)
{
	mutual_store *s = c->s;
	uint8_t device[MUTUAL_KEY_SIZE], found_device[MUTUAL_KEY_SIZE], prev[MUTUAL_HASH_SIZE];
	mutual_oid ours, kept, *chain = NULL;
	verified_segment *batch = NULL;
	uint64_t our_last = 0, first, last, next_seq, more = 0, rewritten_after = 0;
	uint64_t bytes_max = import_bytes_max(), imported = 0;
	size_t n = 0, n_batch = 0, done_count = 0;
	int have_ours, have_kept, how, over = 0, rc;

	if (mutual__sync_device_from_ref(device, r->name) < 0) {
		mutual__sync_refuse(c, NULL, "unknown ref %s on the target (not a libmutual device log)", r->name);
		return 0;
	}
	rc = mutual__db_segment_find(s->db, r->oid.id, found_device, &first, &last);
	if (rc == 0) {
		if (memcmp(found_device, device, MUTUAL_KEY_SIZE) != 0) {
			mutual__sync_refuse(c, device, "its ref on the target points at another device's log: replaced "
				"with its own where this store holds it");
			return note_garbage(c, device, &r->oid);
		}
		return 0; /* behind or equal: the send step brings it up to date */
	}
	if (rc != MUTUAL_ENOTFOUND)
		return rc;
	if ((rc = ref_is_garbage(c, device, &r->oid)) < 0)
		return rc;
	if (rc) {
		mutual__sync_refuse(c, device, "its ref on the target is not a libmutual log (%s): replaced with its "
			"log where this store holds it", mutual_error_last());
		return note_garbage(c, device, &r->oid);
	}
	rc = mutual__db_segment_tip(s->db, device, &our_last, ours.id);
	if (rc < 0 && rc != MUTUAL_ENOTFOUND)
		return rc;
	have_ours = rc == 0;

	if ((rc = walk_back(c, &r->oid, have_ours ? &ours : NULL, &chain, &n, &more, &how, &rewritten_after)) < 0) {
		if (how == 3) {
			mutual__sync_refuse(c, device, "%s: nothing of it imported", mutual_error_last());
			rc = 0;
		}
		goto done;
	}
	if (how == 3) {
		mutual__sync_refuse(c, device, "its log on the target is damaged or incomplete: %s",
			mutual_error_last());
		goto done;
	}
	if (how == 1) {
		rc = mutual__sync_diverged(c, device, chain, n, "its log on the target diverges from the one held here",
			0);
		goto done;
	}
	if (how == 2) {
		rc = mutual__sync_diverged(c, device, chain, n, "its log on the target was rewritten", rewritten_after);
		goto done;
	}
	if (memcmp(device, s->self, MUTUAL_KEY_SIZE) == 0) {
		mutual__sync_refuse(c, device, "someone else is writing with this device's key (a copied store?): "
			"events this device never wrote; nothing imported");
		goto done;
	}

	if ((rc = mutual__db_head(s->db, device, &next_seq, prev)) < 0)
		goto done;
	next_seq++;
	if (!(batch = mutual__calloc(n, sizeof(*batch)))) {
		rc = mutual__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	kept = ours;
	have_kept = have_ours;
	for (size_t i = n; i > 0;) { /* chain[i - 1] is the next to verify */
		size_t bytes = 0;
		int failed = 0;
		n_batch = 0;
		while (i > 0 && bytes < VERIFY_BATCH_BYTES) {
			verified_segment *v = &batch[n_batch];
			if ((rc = verify_segment(c, device, &chain[i - 1], next_seq, prev, v)) < 0) {
				verified_free(v);
				if (rc == MUTUAL_ECANCELLED || rc == MUTUAL_EBUSY || rc == MUTUAL_ERROR)
					goto done;
				if (rc == MUTUAL_ENOTFOUND && c->quiet_without_key) /* NOTES 6: tried again */
					r->without_key = 1;
				else if (rc == MUTUAL_ENOTFOUND)
					mutual__sync_without_key(c, device, "its log on the target from seq %" PRIu64, next_seq);
				else
					mutual__sync_refuse(c, device, "%s; nothing from there on imported", mutual_error_last());
				rc = 0;
				failed = 1;
				break;
			}
			/* Never less than one segment, so a log always goes on. */
			if (done_count + n_batch > 0 && imported + bytes + v->plain.len > bytes_max) {
				verified_free(v);
				over = 1;
				break;
			}
			i--;
			next_seq += v->seg.count;
			memcpy(prev, v->evs[v->seg.count - 1].hash, MUTUAL_HASH_SIZE);
			bytes += v->plain.len;
			n_batch++;
		}
		if (n_batch) {
			/* Only verified objects reach the store's repository. */
			c->progress.phase = MUTUAL_SYNC_RECEIVING;
			if ((rc = mutual__repo_copy(c->local, c->peer, &batch[n_batch - 1].oid, 1, have_kept ? &kept : NULL,
				have_kept, &c->stats->objects_received, mutual__sync_transfer_cb, c)) < 0) {
				/* Out of memory is no verdict on the log: no refusal. */
				if (rc == MUTUAL_ECANCELLED || mutual__git_out_of_memory())
					goto done;
				mutual__sync_refuse(c, device, "its log on the target cannot be read: %s",
					mutual_error_last());
				rc = 0;
				goto done;
			}
			if ((rc = store_segments(c, device, batch, n_batch)) < 0)
				goto done;
			if (done_count == 0)
				c->stats->devices_updated++;
			done_count += n_batch;
			imported += bytes;
			kept = batch[n_batch - 1].oid;
			have_kept = 1;
			for (size_t k = 0; k < n_batch; k++)
				verified_free(&batch[k]);
			n_batch = 0;
			if ((rc = mutual__sync_report(c, MUTUAL_SYNC_IMPORTING, c->stats->events_received, 0)) < 0)
				goto done;
		}
		if (failed || over)
			break;
	}
	assert(imported <= bytes_max || done_count == 1); /* NOTES 5 */
	if (over)
		warn_over_bound(c, device, bytes_max, imported);
	c->segments_left += more; /* the next sync goes on from here */
	if (imported)
		rc = note_imported_bytes(c, device, imported);
done:
	for (size_t k = 0; batch && k < n_batch; k++)
		verified_free(&batch[k]);
	mutual__free(batch);
	mutual__free(chain);
	return rc;
}

/* A ref of a newer medium format is kept, and passed on, only when every
 * object it adds authenticates with the group key under its own name: the
 * outer envelope every version shares (NOTES 4). A newer ref that moved
 * elsewhere than ahead of the one held here is left as it is; one sealed
 * with a key not held here is held back (NOTES 6). */
static int adopt_newer(sync_ctx *c, const peer_ref *r)
{
	mutual_store *s = c->s;
	mutual_oid ours, cur = r->oid, parent;
	size_t n = 0;
	int have_ours, has_parent, rc;

	if ((rc = mutual__ref_get(&ours, c->local, r->name)) < 0 && rc != MUTUAL_ENOTFOUND)
		return rc; /* a ref that cannot be read is not missing */
	have_ours = rc == 0;

	if (have_ours && memcmp(&ours, &r->oid, sizeof(ours)) == 0) {
		c->stats->newer_format++; /* held already */
		return 0;
	}
	for (;;) {
		int version;
		if (++n > MUTUAL_WALK_MAX) {
			mutual__sync_refuse(c, NULL, "%s on the target is longer than one sync walks: not kept or passed on",
				r->name);
			return 0;
		}
		if (mutual__segment_commit_read(c->peer, &cur, &has_parent, &parent, &c->blob) < 0 ||
		    (version = mutual__envelope_version(c->blob.data, c->blob.len)) < 0) {
			mutual__sync_refuse(c, NULL, "%s on the target is not a libmutual log (%s): not kept or passed on",
				r->name, mutual_error_last());
			return 0;
		}
		if ((rc = mutual__keyring_check_newer(s, c->blob.data, c->blob.len, r->name)) < 0) {
			if (rc == MUTUAL_ERROR)
				return rc;
			if (rc == MUTUAL_ENOTFOUND) {
				mutual__sync_without_key(c, NULL, "%.200s on the target", r->name);
				return 0;
			}
			mutual__sync_refuse(c, NULL, "%s on the target does not authenticate (%s): not kept or passed on",
				r->name, mutual_error_last());
			return 0;
		}
		/* Down to what is held under this very name: objects held under
		 * another name were authenticated for that one only. */
		if (!has_parent || (have_ours && memcmp(&parent, &ours, sizeof(ours)) == 0))
			break;
		cur = parent;
	}
	if (have_ours && (!has_parent || memcmp(&parent, &ours, sizeof(ours)) != 0)) {
		mutual__sync_refuse(c, NULL, "%s on the target diverges from the one held here: kept as held here",
			r->name);
		return 0;
	}
	if ((rc = mutual__repo_copy(c->local, c->peer, &r->oid, 1, have_ours ? &ours : NULL, have_ours,
		&c->stats->objects_received, NULL, NULL)) < 0 ||
	    (rc = mutual__ref_set(c->local, r->name, &r->oid, have_ours ? &ours : NULL)) < 0)
		return rc;
	c->stats->newer_format++;
	return 0;
}

int mutual__sync_import_all(sync_ctx *c)
{
	int rc;
	assert(c->store_locked); /* sync.c NOTES 2 */
	/* Fork proofs first, so a known fork is not taken for news. */
	for (size_t i = 0; i < c->n_refs; i++)
		if (strncmp(c->refs[i].name, MUTUAL_REF_FORKS, strlen(MUTUAL_REF_FORKS)) == 0 &&
		    (rc = mutual__sync_import_fork_ref(c, &c->refs[i])) < 0)
			return rc;
	/* NOTES 6: a pass that stopped at a key this store lacked, while it
	 * took keys (a rotation imported), goes again over those logs. */
	c->quiet_without_key = 1;
	for (int pass = 0; pass < 3; pass++) {
		size_t keys_before = c->s->n_keys;
		int held = 0;
		if (pass == 2)
			c->quiet_without_key = 0; /* the last: what still lacks a key is reported */
		for (size_t i = 0; i < c->n_refs; i++) {
			peer_ref *r = &c->refs[i];
			if (strncmp(r->name, MUTUAL_REF_DEVICES, strlen(MUTUAL_REF_DEVICES)) != 0 ||
			    (pass > 0 && !r->without_key))
				continue;
			r->without_key = 0;
			if ((rc = import_ref(c, r)) < 0)
				return rc;
			held |= r->without_key;
		}
		if (!held)
			break;
		if (c->s->n_keys == keys_before)
			pass = 1; /* no key came: the next pass is the last, and reports */
	}
	c->quiet_without_key = 0;
	for (size_t i = 0; i < c->n_refs; i++) {
		const char *name = c->refs[i].name;
		if (strncmp(name, MUTUAL_REF_DEVICES, strlen(MUTUAL_REF_DEVICES)) == 0) {
			continue;
		} else if (strncmp(name, MUTUAL_REF_FORKS, strlen(MUTUAL_REF_FORKS)) == 0) {
			continue;
		} else if (mutual__sync_is_newer_format_ref(name)) {
			if ((rc = adopt_newer(c, &c->refs[i])) < 0)
				return rc;
		} else {
			mutual__sync_refuse(c, NULL, "unknown ref %.200s on the target: not kept or passed on", name);
		}
	}
	return record_imported(c);
}
