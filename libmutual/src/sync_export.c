/*
 * sync_export.c - the export phase of a sync: this device's events after
 * its last exported segment are cut into segments, sealed with the group
 * key, and written as commits into the store's repository, then named in
 * the `segments` table (sync.c NOTES 1: the rows follow the objects).
 *
 * NOTES ON THE DESIGN
 *  1. Own events are cut into segments once; each segment ends in a signed
 *     event (the exporter signs the last one if its append did not), so a
 *     segment is covered by its device's signature on its own (asserted
 *     in flush_segment: ends_signed).
 *  2. Which key seals a segment is rotation.c's (NOTES 2 and 3 there): an
 *     own rotation ends its segment, sealed with the key it follows; the
 *     events after the last are sealed with the current key, or, when no
 *     key may seal them (a removal known, no key excluding it yet), stay
 *     unexported, and the sync says why.
 */
#include "sync_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "rotation.h"
#include "segment.h"
#include "store.h"

typedef struct {
	sync_ctx *c;
	mutual_repo *memory; /* new segment commits gather here, then go as one pack */
	mutual_buf plain, wire, sealed;
	uint64_t first, count, bytes_events;
	mutual_event_rec last; /* the segment's last event, kept for signing */
	uint8_t last_sig[MUTUAL_SIG_SIZE];
	int last_has_sig;
	size_t last_offset; /* where the last event's wire form starts in `plain` */
	int have_parent;
	mutual_oid parent;
	struct exported {
		uint64_t first, last;
		mutual_oid oid;
	} *done;
	size_t n_done;
	uint64_t exported;
	uint64_t until; /* the last seq to export */
	mutual_seal_plan plan; /* which key seals which events (rotation.h) */
	size_t next_own;       /* the plan's first own rotation not yet passed */
} export_ctx;

#ifndef NDEBUG
/* NOTES 1, asserted: the segment's last event carries this device's
 * signature (judged by the chain rule, as every reader will). */
static int ends_signed(const export_ctx *x)
{
	mutual_chain chain;
	mutual__chain_start(&chain, x->c->s->self, x->last.seq, x->last.prev);
	return x->last.has_sig && mutual__chain_next(&chain, &x->last, NULL) == MUTUAL_CHAIN_OK;
}
#endif

static int flush_segment(export_ctx *x)
{
	sync_ctx *c = x->c;
	mutual_store *s = c->s;
	mutual_oid oid;
	char message[96];
	struct exported *grown;
	const mutual_group_key *key;
	int rc;

	if (x->count == 0)
		return 0;
	/* The segment must end signed: sign its last event now if its append
	 * did not (the signature covers the chain, as an append's would). */
	if (!x->last_has_sig) {
		uint8_t msg[MUTUAL_SIG_MSG_SIZE];
		x->plain.len = x->last_offset;
		x->last.has_sig = 1;
		mutual__event_sig_message(msg, x->last.hash);
		mutual__sign(x->last.sig, msg, sizeof(msg), s->secret);
		x->wire.len = 0;
		if ((rc = mutual__event_encode(&x->wire, &x->last)) < 0 ||
		    (rc = mutual__buf_put(&x->plain, x->wire.data, x->wire.len)) < 0)
			return rc;
	}
	assert(ends_signed(x)); /* NOTES 1 */
	mutual__segment_finish(&x->plain, (uint32_t)x->count);
	/* NOTES 2: up to an own rotation, the key it follows; after the last,
	 * the current key (the export stops before events no key may seal). */
	key = x->next_own < x->plan.n_own ? &x->plan.own[x->next_own].sealed_with : &x->plan.current;
	assert(x->next_own < x->plan.n_own || x->plan.has_current);
	if ((rc = mutual__segment_seal(&x->sealed, &x->plain, s->group_id_raw, s->self, key->id, key->key)) < 0)
		return rc;
	snprintf(message, sizeof(message), "segment %" PRIu64 "..%" PRIu64 "\n", x->first, x->first + x->count - 1);
	if ((rc = mutual__segment_commit_write(&oid, x->memory, x->have_parent ? &x->parent : NULL, x->sealed.data,
		x->sealed.len, message)) < 0)
		return rc;
	if (!(grown = mutual__realloc(x->done, (x->n_done + 1) * sizeof(*x->done))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	x->done = grown;
	x->done[x->n_done].first = x->first;
	x->done[x->n_done].last = x->first + x->count - 1;
	x->done[x->n_done].oid = oid;
	x->n_done++;
	x->exported += x->count;
	x->parent = oid;
	x->have_parent = 1;
	x->first += x->count;
	x->count = 0;
	return mutual__sync_report(c, MUTUAL_SYNC_EXPORTING, x->exported, 0);
}

static int export_event(const mutual_event_rec *ev, void *payload)
{
	export_ctx *x = payload;
	int rc;

	if (ev->seq > x->until)
		return 1; /* stops the walk */
	if (x->count == 0 && (rc = mutual__segment_begin(&x->plain, x->c->s->group_id_raw, x->c->s->self, ev->seq)) < 0)
		return rc;
	if (x->count == 0)
		x->first = ev->seq;
	x->last_offset = x->plain.len;
	x->wire.len = 0;
	if ((rc = mutual__event_encode(&x->wire, ev)) < 0 || (rc = mutual__buf_put(&x->plain, x->wire.data, x->wire.len)) < 0)
		return rc;
	/* Keep what signing the last event would need: its fields, pointing
	 * into `plain`, which holds a copy of the row. */
	x->last_has_sig = ev->has_sig;
	{
		const uint8_t *w = x->plain.data + x->last_offset;
		size_t used;
		if ((rc = mutual__event_decode(&x->last, w, x->plain.len - x->last_offset, &used)) < 0)
			return rc;
	}
	x->count++;
	if (x->next_own < x->plan.n_own && ev->seq == x->plan.own[x->next_own].seq) {
		rc = flush_segment(x); /* NOTES 2: a rotation ends its segment */
		x->next_own++;
		return rc;
	}
	if (x->count >= MUTUAL_SEGMENT_EVENTS || x->plain.len >= MUTUAL_SEGMENT_BYTES)
		return flush_segment(x);
	return 0;
}

int mutual__sync_export_own(sync_ctx *c)
{
	mutual_store *s = c->s;
	export_ctx x;
	uint64_t head, last = 0;
	uint8_t head_hash[MUTUAL_HASH_SIZE];
	int rc;

	assert(c->store_locked); /* sync.c NOTES 2 */
	memset(&x, 0, sizeof(x));
	x.c = c;
	rc = mutual__db_segment_tip(s->db, s->self, &last, x.parent.id);
	if (rc == 0)
		x.have_parent = 1;
	else if (rc != MUTUAL_ENOTFOUND)
		return rc;
	if ((rc = mutual__db_head(s->db, s->self, &head, head_hash)) < 0)
		return rc;
	{
		/* A forked key exports nothing of its quarantined part (and a
		 * fork that cannot be read is no reason to export it). */
		uint64_t fork_seq;
		rc = mutual__db_fork_get(s->db, s->self, &fork_seq, NULL);
		if (rc < 0 && rc != MUTUAL_ENOTFOUND)
			return rc;
		if (rc == 0 && head >= fork_seq)
			head = fork_seq - 1;
	}
	if (head <= last)
		return 0;
	if ((rc = mutual__rotation_seal_plan(&x.plan, s, last + 1)) < 0)
		return rc;
	if (!x.plan.has_current) {
		/* Nothing after its last rotation may be sealed yet: say why. */
		uint64_t sealable = x.plan.n_own ? x.plan.own[x.plan.n_own - 1].seq : last;
		if (head > sealable)
			mutual__sync_hold_own(c, head - sealable, x.plan.hold_reason);
		head = sealable;
	}
	if (head <= last) {
		mutual__rotation_seal_plan_free(&x.plan);
		return 0;
	}
	if ((rc = mutual__store_load_secret(s)) < 0 ||
	    (rc = mutual__repo_open_memory(&x.memory, mutual__repo_path(c->local))) < 0)
		return rc;
	/* Only events up to the head read above: appends racing with us wait
	 * for the next sync. */
	x.until = head;
	rc = mutual__db_chain(s->db, s->self, last + 1, export_event, &x);
	if (rc == 1)
		rc = 0;
	if (rc == 0)
		rc = flush_segment(&x);
	if (rc == 0 && x.n_done)
		rc = mutual__repo_flush_memory(x.memory, c->local);
	if (rc == 0 && x.n_done) {
		if ((rc = mutual__db_begin_write(s->db)) == 0) {
			for (size_t i = 0; i < x.n_done && rc == 0; i++)
				rc = mutual__db_segment_add(s->db, s->self, x.done[i].first, x.done[i].last, x.done[i].oid.id);
			if (rc == 0)
				rc = mutual__db_commit(s->db);
			else
				mutual__db_rollback(s->db);
		}
	}
	mutual__repo_free(x.memory);
	mutual__rotation_seal_plan_free(&x.plan);
	mutual__buf_free(&x.plain);
	mutual__buf_free(&x.wire);
	mutual__buf_free(&x.sealed);
	mutual__free(x.done);
	return rc;
}
