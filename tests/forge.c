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

void forge_event(mutual_store *h, uint64_t hlc, const uint8_t *frontier, size_t n, const char *type,
	const char *payload)
{
	mutual_event_rec ev;
	mutual_deliver d;
	uint8_t msg[MUTUAL_SIG_MSG_SIZE];

	memset(&ev, 0, sizeof(ev));
	memcpy(ev.device, h->self, 32);
	CHECK_OK(mutual__store_load_secret(h));
	CHECK_OK(mutual__db_begin_write(h->db));
	CHECK_OK(mutual__db_head(h->db, h->self, &ev.seq, ev.prev));
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
	ev.has_sig = 1;
	mutual__event_sig_message(msg, ev.hash);
	mutual__sign(ev.sig, msg, sizeof(msg), h->secret);
	mutual__deliver_init(&d, h);
	CHECK_OK(mutual__db_insert_event(h->db, &ev));
	CHECK_OK(mutual__deliver_event(&d, &ev));
	mutual__deliver_free(&d);
	CHECK_OK(mutual__db_commit(h->db));
}

void forge_frontier(mutual_store *h, uint8_t **out, size_t *n)
{
	mutual_buf f = { 0 };
	CHECK_OK(mutual__db_frontier(h->db, h->self, &f, n));
	*out = f.data; /* the buffer's bytes, now the caller's */
}
