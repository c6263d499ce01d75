/*
 * event.h - format version 1 of an event: its canonical encoding, its hash,
 * the message its device signs, and the wire form other devices send us.
 * docs/format.md is the normative description; tests check it byte for byte.
 */
#ifndef MUTUAL_EVENT_H
#define MUTUAL_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "crypto.h"

#define MUTUAL_EVENT_FORMAT 1
#define MUTUAL_EVENT_MAGIC "mutual.event.v1\n" /* 16 bytes, starts the hashed encoding */
#define MUTUAL_SIG_MAGIC "mutual.sig.v1\n"     /* 14 bytes, starts the signed message */
#define MUTUAL_SIG_MSG_SIZE (14 + MUTUAL_HASH_SIZE)
#define MUTUAL_FRONTIER_ENTRY (MUTUAL_KEY_SIZE + 8) /* device key (32) + seq (u64) */
#define MUTUAL_FRONTIER_MAX 65536              /* entries */

/* One event's fields. Pointers are borrowed from whoever filled it. */
typedef struct {
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t seq;
	uint64_t hlc;
	const char *type;
	size_t type_len;
	const char *payload; /* JSON text, not NUL-terminated on the wire */
	size_t payload_len;
	uint8_t digest[MUTUAL_HASH_SIZE]; /* BLAKE2b-256 of the payload */
	uint8_t prev[MUTUAL_HASH_SIZE];   /* hash of the device's previous event; zeros for seq 1 */
	const uint8_t *frontier; /* sorted entries of MUTUAL_FRONTIER_ENTRY bytes */
	size_t frontier_n;
	uint8_t hash[MUTUAL_HASH_SIZE];
	int has_sig;
	uint8_t sig[MUTUAL_SIG_SIZE];
	int quarantined; /* local knowledge, never encoded: its device forked before it */
	int pending;     /* local knowledge: 1 waiting for a cause, 2 held back for its clock */
	int refused;     /* local knowledge: its device was removed, and it is after the cut */
} mutual_event_rec;

/* 0 if `type` is a valid event type; reserved "mutual." types only if allowed. */
int mutual__event_check_type(const char *type, size_t len, int allow_reserved);

/* 0 if `f` is `n` well-formed frontier entries: ascending unique devices,
 * none equal to `self`, every seq >= 1. */
int mutual__frontier_check(const uint8_t *f, size_t n, const uint8_t self[MUTUAL_KEY_SIZE]);
/* The entry for `device` in the `n` sorted entries `f`, or NULL; and its
 * seq (0 when `device` has none). */
const uint8_t *mutual__frontier_find(const uint8_t *f, size_t n, const uint8_t device[MUTUAL_KEY_SIZE]);
uint64_t mutual__frontier_seq(const uint8_t *f, size_t n, const uint8_t device[MUTUAL_KEY_SIZE]);

/* The canonical encoding that is hashed (docs/format.md, "Event hash"). */
int mutual__event_encode_header(mutual_buf *out, const mutual_event_rec *ev);
/* Recompute ev->hash from the other fields (digest included, not payload). */
int mutual__event_compute_hash(mutual_event_rec *ev);
/* The message a device signs to cover the chain up to `hash`. */
void mutual__event_sig_message(uint8_t msg[MUTUAL_SIG_MSG_SIZE], const uint8_t hash[MUTUAL_HASH_SIZE]);

/* The chain rule, the one place a device's log is judged (docs/format.md,
 * "Chain"): verify, import, fork detection and fork proofs all walk a log
 * through it. A chain starts at `next_seq` after the event whose hash is
 * `prev` (zeros before seq 1); each event must be the device's, carry the
 * next seq, link to the previous hash, and, when signed, be signed by the
 * device over its hash. */
typedef struct {
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t next_seq;
	uint8_t prev[MUTUAL_HASH_SIZE];
	uint64_t last_signed; /* the last signed event's seq; 0 before any */
} mutual_chain;

/* Why an event does not extend a chain. The callers word the message,
 * since each knows what it was reading. */
typedef enum {
	MUTUAL_CHAIN_OK = 0,
	MUTUAL_CHAIN_DEVICE, /* another device's event */
	MUTUAL_CHAIN_SEQ,    /* not the next seq */
	MUTUAL_CHAIN_PREV,   /* does not link to the previous hash */
	MUTUAL_CHAIN_HASH,   /* its fields do not match the hash it claims */
	MUTUAL_CHAIN_SIG,    /* signed, but not by the device over its hash */
	MUTUAL_CHAIN_ERROR   /* the hash could not be computed (the error is set) */
} mutual_chain_result;

void mutual__chain_start(mutual_chain *c, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t next_seq, const uint8_t prev[MUTUAL_HASH_SIZE]);
/* Judge `ev` and, when it extends the chain, advance past it. An event
 * decoded from the wire has its hash recomputed already (claimed_hash
 * NULL); for one read from storage pass the stored hash, which is then
 * recomputed from the fields and compared after the link and before the
 * signature. A failed event leaves `c` as it was. */
mutual_chain_result mutual__chain_next(mutual_chain *c, const mutual_event_rec *ev, const uint8_t *claimed_hash);
/* Whether every event the chain passed is covered by a signature. */
int mutual__chain_covered(const mutual_chain *c);

/* Wire form: header || u32 payload length || payload || u8 signed || [sig]. */
int mutual__event_encode(mutual_buf *out, const mutual_event_rec *ev);
/* Decode one event from untrusted bytes. Every field is bounds-checked, the
 * digest and hash are recomputed (nothing in the input is trusted), and the
 * payload is checked to be a JSON object. Pointers in `out` point into `buf`.
 * `*used` gets the bytes consumed. Does not check the signature: only the
 * caller knows which key the event must verify against. */
int mutual__event_decode(mutual_event_rec *out, const uint8_t *buf, size_t len, size_t *used);

#endif
