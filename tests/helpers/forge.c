/*
 * forge.c - a member's modified software, for the tests (forge.h).
 */
#include "forge.h"

#include <string.h>

#include "check.h"
#include "crypto.h"
#include "db.h"
#include "deliver.h"
#include "store.h"

void forge_event_of(mutual_store *into, const uint8_t device[32], const uint8_t *secret, uint64_t hlc,
	const uint8_t *frontier, size_t n, const char *type, const char *payload)
{
	mutual_event_rec ev;
	mutual_deliver d;
	uint8_t msg[MUTUAL_SIG_MSG_SIZE];

	memset(&ev, 0, sizeof(ev));
	memcpy(ev.device, device, 32);
	CHECK_OK(mutual__db_begin_write(into->db));
	CHECK_OK(mutual__db_head(into->db, device, &ev.seq, ev.prev));
	ev.seq++;
	ev.hlc = hlc;
	ev.type = type;
	ev.type_len = strlen(type);
	ev.payload = payload;
	ev.payload_len = strlen(payload);
	ev.frontier = frontier;
	ev.frontier_n = n;
	mutual__hash(ev.digest, payload, ev.payload_len);
	CHECK_OK(mutual__event_compute_hash(&ev));
	if (secret) {
		ev.has_sig = 1;
		mutual__event_sig_message(msg, ev.hash);
		mutual__sign(ev.sig, msg, sizeof(msg), secret);
	}
	mutual__deliver_init(&d, into);
	CHECK_OK(mutual__deliver_insert(&d, &ev));
	mutual__deliver_free(&d);
	CHECK_OK(mutual__db_commit(into->db));
}

void forge_event(mutual_store *h, uint64_t hlc, const uint8_t *frontier, size_t n, const char *type,
	const char *payload)
{
	CHECK_OK(mutual__store_load_secret(h));
	forge_event_of(h, h->self, h->secret, hlc, frontier, n, type, payload);
}

void forge_frontier(mutual_store *h, uint8_t **out, size_t *n)
{
	mutual_buf f = { 0 };
	CHECK_OK(mutual__db_frontier(h->db, h->self, &f, n));
	*out = f.data; /* the buffer's bytes, now the caller's */
}
