/*
 * deliver.h - what the store holds and what it applies: the one path an
 * event (or a fork) takes into the store, causal delivery and clock
 * admission (deliver.c).
 */
#ifndef MUTUAL_DELIVER_H
#define MUTUAL_DELIVER_H

#include "common.h"
#include "event.h"

/* hlc = (milliseconds since 1970 << 16) | counter (docs/format.md). */
#define MUTUAL_HLC_MS(ms) ((uint64_t)(ms) << 16)
/* The highest clock ever applied: 2^62 - 1, in the year 4199, so a clock
 * can always grow and never reaches the format's 2^63. */
#define MUTUAL_CLOCK_CAP ((UINT64_C(1) << 62) - 1)
/* How far an event's clock may run past the clocks of its causes. */
#define MUTUAL_CLOCK_SLACK MUTUAL_HLC_MS(UINT64_C(366) * 24 * 3600 * 1000)
/* How far another device's clock may pull this device's clock ahead of
 * its own wall clock. */
#define MUTUAL_CLOCK_DRAG MUTUAL_HLC_MS(UINT64_C(24) * 3600 * 1000)

typedef struct mutual_store mutual_store;

/* One transaction's worth of delivery: caches that hold only while the
 * write transaction that made them is open. */
typedef struct {
	mutual_store *s;
	int rebuilding;           /* events from `cur` on in (device, seq) order are not judged yet */
	uint8_t cur_device[MUTUAL_KEY_SIZE];
	uint64_t cur_seq;
	mutual_buf held_frontier; /* the last frontier found all held (heads only grow) */
	int have_last;            /* the last event applied, the usual cause of the next */
	uint8_t last_device[MUTUAL_KEY_SIZE];
	uint64_t last_seq, last_hlc;
	mutual_buf queue;         /* applied events whose held-back dependents get judged again */
	size_t queue_pos;
	mutual_buf causes, list, scratch;
} mutual_deliver;

void mutual__deliver_init(mutual_deliver *d, mutual_store *s);
void mutual__deliver_free(mutual_deliver *d);

/* The one way an event enters the store, for an append and an import
 * alike, inside the open write transaction: keep `ev` (just signed here,
 * or verified by the chain rule), take its device's announced name from a
 * first event, then apply it if it is ready and admitted, else record it
 * as waiting or held back; then apply whatever was waiting for it. */
int mutual__deliver_insert(mutual_deliver *d, const mutual_event_rec *ev);

/* The one way a fork becomes known, inside the open write transaction:
 * keep the proof that `device` signed two logs from `seq`, and rebuild
 * every projection without its events from there (project.c NOTES 5). */
int mutual__deliver_fork(mutual_store *s, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, const uint8_t *proof, size_t len);

/* Judge every held event afresh (the projections are cleared first). */
int mutual__deliver_rebuild(mutual_store *s);

/* The clock of a new event of this device with `seq` and `frontier`: one
 * every device admits, ahead of every clock it may follow (NOTES 5). */
int mutual__deliver_clock(mutual_store *s, uint64_t seq, const uint8_t *frontier, size_t n, uint64_t *hlc);

#endif
