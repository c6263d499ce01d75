/*
 * event.c - format version 1 of an event, see docs/format.md.
 *
 * The hash covers a digest of the payload, not the payload, so that a
 * payload can later be redacted on every device while each chain still
 * verifies. Every multi-byte integer is big-endian.
 */
#include "event.h"

#include <string.h>

#include "json.h"

int mutual__event_check_type(const char *type, size_t len, int allow_reserved)
{
	if (len == 0 || len > MUTUAL_TYPE_MAX)
		return mutual__fail(MUTUAL_EINVALID, "event type must be 1 to %d bytes long", MUTUAL_TYPE_MAX);
	if (!(type[0] >= 'a' && type[0] <= 'z'))
		return mutual__fail(MUTUAL_EINVALID, "event type must start with a lowercase letter, like pantry.stock.in");
	for (size_t i = 0; i < len; i++) {
		char c = type[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return mutual__fail(MUTUAL_EINVALID,
				"event type may hold only a-z, 0-9, '.', '_' and '-' (like pantry.stock.in)");
	}
	if (!allow_reserved && len >= 7 && memcmp(type, "mutual.", 7) == 0)
		return mutual__fail(MUTUAL_EINVALID, "event types starting with \"mutual.\" are reserved for the library");
	return 0;
}

int mutual__frontier_check(const uint8_t *f, size_t n, const uint8_t self[MUTUAL_KEY_SIZE])
{
	if (n > MUTUAL_FRONTIER_MAX)
		return mutual__fail(MUTUAL_EINVALID, "frontier has too many devices");
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = f + i * MUTUAL_FRONTIER_ENTRY;
		if (memcmp(e, self, MUTUAL_KEY_SIZE) == 0)
			return mutual__fail(MUTUAL_EINVALID, "frontier names the event's own device");
		if (mutual__get_u64(e + MUTUAL_KEY_SIZE) == 0)
			return mutual__fail(MUTUAL_EINVALID, "frontier entry with seq 0");
		if (i > 0 && memcmp(e - MUTUAL_FRONTIER_ENTRY, e, MUTUAL_KEY_SIZE) >= 0)
			return mutual__fail(MUTUAL_EINVALID, "frontier is not sorted by device");
	}
	return 0;
}

int mutual__event_encode_header(mutual_buf *out, const mutual_event_rec *ev)
{
	if (mutual__buf_put(out, MUTUAL_EVENT_MAGIC, 16) < 0 ||
	    mutual__buf_put(out, ev->device, MUTUAL_KEY_SIZE) < 0 ||
	    mutual__buf_put_u64(out, ev->seq) < 0 ||
	    mutual__buf_put_u64(out, ev->hlc) < 0 ||
	    mutual__buf_put_u8(out, (uint8_t)ev->type_len) < 0 ||
	    mutual__buf_put(out, ev->type, ev->type_len) < 0 ||
	    mutual__buf_put(out, ev->digest, MUTUAL_HASH_SIZE) < 0 ||
	    mutual__buf_put(out, ev->prev, MUTUAL_HASH_SIZE) < 0 ||
	    mutual__buf_put_u32(out, (uint32_t)ev->frontier_n) < 0 ||
	    mutual__buf_put(out, ev->frontier, ev->frontier_n * MUTUAL_FRONTIER_ENTRY) < 0)
		return MUTUAL_ERROR;
	return 0;
}

int mutual__event_compute_hash(mutual_event_rec *ev)
{
	/* Most headers are small: hash from the stack, fall back to the heap. */
	uint8_t stack[16 + MUTUAL_KEY_SIZE + 8 + 8 + 1 + MUTUAL_TYPE_MAX + MUTUAL_HASH_SIZE + MUTUAL_HASH_SIZE + 4 + 8 * MUTUAL_FRONTIER_ENTRY];
	mutual_buf b = { 0 };

	if (ev->type_len > MUTUAL_TYPE_MAX || ev->frontier_n > MUTUAL_FRONTIER_MAX)
		return mutual__fail(MUTUAL_EINVALID, "event field out of bounds");
	if (ev->frontier_n <= 8) {
		uint8_t *p = stack;
		memcpy(p, MUTUAL_EVENT_MAGIC, 16), p += 16;
		memcpy(p, ev->device, MUTUAL_KEY_SIZE), p += MUTUAL_KEY_SIZE;
		mutual__set_u64(p, ev->seq), p += 8;
		mutual__set_u64(p, ev->hlc), p += 8;
		*p++ = (uint8_t)ev->type_len;
		memcpy(p, ev->type, ev->type_len), p += ev->type_len;
		memcpy(p, ev->digest, MUTUAL_HASH_SIZE), p += MUTUAL_HASH_SIZE;
		memcpy(p, ev->prev, MUTUAL_HASH_SIZE), p += MUTUAL_HASH_SIZE;
		p[0] = (uint8_t)(ev->frontier_n >> 24);
		p[1] = (uint8_t)(ev->frontier_n >> 16);
		p[2] = (uint8_t)(ev->frontier_n >> 8);
		p[3] = (uint8_t)ev->frontier_n;
		p += 4;
		if (ev->frontier_n)
			memcpy(p, ev->frontier, ev->frontier_n * MUTUAL_FRONTIER_ENTRY);
		p += ev->frontier_n * MUTUAL_FRONTIER_ENTRY;
		mutual__hash(ev->hash, stack, (size_t)(p - stack));
		return 0;
	}
	if (mutual__event_encode_header(&b, ev) < 0)
		return MUTUAL_ERROR;
	mutual__hash(ev->hash, b.data, b.len);
	mutual__buf_free(&b);
	return 0;
}

void mutual__event_sig_message(uint8_t msg[MUTUAL_SIG_MSG_SIZE], const uint8_t hash[MUTUAL_HASH_SIZE])
{
	memcpy(msg, MUTUAL_SIG_MAGIC, 14);
	memcpy(msg + 14, hash, MUTUAL_HASH_SIZE);
}

void mutual__chain_start(mutual_chain *c, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t next_seq, const uint8_t prev[MUTUAL_HASH_SIZE])
{
	memcpy(c->device, device, MUTUAL_KEY_SIZE);
	c->next_seq = next_seq;
	memcpy(c->prev, prev, MUTUAL_HASH_SIZE);
	c->last_signed = next_seq ? next_seq - 1 : 0; /* what came before was judged already */
}

mutual_chain_result mutual__chain_next(mutual_chain *c, const mutual_event_rec *ev, const uint8_t *claimed_hash)
{
	mutual_event_rec fields;
	const uint8_t *hash = ev->hash;

	if (memcmp(ev->device, c->device, MUTUAL_KEY_SIZE) != 0)
		return MUTUAL_CHAIN_DEVICE;
	if (ev->seq != c->next_seq)
		return MUTUAL_CHAIN_SEQ;
	if (memcmp(ev->prev, c->prev, MUTUAL_HASH_SIZE) != 0)
		return MUTUAL_CHAIN_PREV;
	if (claimed_hash) {
		fields = *ev;
		if (mutual__event_compute_hash(&fields) < 0)
			return MUTUAL_CHAIN_ERROR;
		if (memcmp(fields.hash, claimed_hash, MUTUAL_HASH_SIZE) != 0)
			return MUTUAL_CHAIN_HASH;
		hash = fields.hash;
	}
	if (ev->has_sig) {
		uint8_t msg[MUTUAL_SIG_MSG_SIZE];
		mutual__event_sig_message(msg, hash);
		if (mutual__sign_verify(ev->sig, msg, sizeof(msg), c->device) < 0)
			return MUTUAL_CHAIN_SIG;
		c->last_signed = ev->seq;
	}
	memcpy(c->prev, hash, MUTUAL_HASH_SIZE);
	c->next_seq++;
	return MUTUAL_CHAIN_OK;
}

int mutual__chain_covered(const mutual_chain *c)
{
	return c->last_signed + 1 == c->next_seq;
}

int mutual__event_encode(mutual_buf *out, const mutual_event_rec *ev)
{
	if (mutual__event_encode_header(out, ev) < 0 ||
	    mutual__buf_put_u32(out, (uint32_t)ev->payload_len) < 0 ||
	    mutual__buf_put(out, ev->payload, ev->payload_len) < 0 ||
	    mutual__buf_put_u8(out, ev->has_sig ? 1 : 0) < 0)
		return MUTUAL_ERROR;
	if (ev->has_sig && mutual__buf_put(out, ev->sig, MUTUAL_SIG_SIZE) < 0)
		return MUTUAL_ERROR;
	return 0;
}

/* A bounds-checked reader over untrusted bytes. */
typedef struct {
	const uint8_t *p, *end;
} reader;

static const uint8_t *take(reader *r, size_t n)
{
	const uint8_t *p = r->p;
	if ((size_t)(r->end - r->p) < n)
		return NULL;
	r->p += n;
	return p;
}

#define TAKE(var, r, n)                                                              \
	do {                                                                         \
		if (!((var) = take((r), (n))))                                       \
			return mutual__fail(MUTUAL_EINVALID, "event is truncated");  \
	} while (0)

int mutual__event_decode(mutual_event_rec *out, const uint8_t *buf, size_t len, size_t *used)
{
	reader r = { buf, buf + len };
	const uint8_t *p;
	uint8_t digest[MUTUAL_HASH_SIZE];
	size_t n;

	memset(out, 0, sizeof(*out));
	TAKE(p, &r, 16);
	if (memcmp(p, MUTUAL_EVENT_MAGIC, 16) != 0) {
		if (memcmp(p, "mutual.event.v", 14) == 0)
			return mutual__fail(MUTUAL_EVERSION, "event of a newer format: upgrade libmutual");
		return mutual__fail(MUTUAL_EINVALID, "not a libmutual event");
	}
	TAKE(p, &r, MUTUAL_KEY_SIZE);
	memcpy(out->device, p, MUTUAL_KEY_SIZE);
	TAKE(p, &r, 8);
	out->seq = mutual__get_u64(p);
	if (out->seq == 0)
		return mutual__fail(MUTUAL_EINVALID, "event has seq 0");
	TAKE(p, &r, 8);
	out->hlc = mutual__get_u64(p);
	TAKE(p, &r, 1);
	out->type_len = p[0];
	TAKE(p, &r, out->type_len);
	out->type = (const char *)p;
	if (mutual__event_check_type(out->type, out->type_len, 1) < 0)
		return MUTUAL_EINVALID;
	TAKE(p, &r, MUTUAL_HASH_SIZE);
	memcpy(out->digest, p, MUTUAL_HASH_SIZE);
	TAKE(p, &r, MUTUAL_HASH_SIZE);
	memcpy(out->prev, p, MUTUAL_HASH_SIZE);
	TAKE(p, &r, 4);
	n = mutual__get_u32(p);
	if (n > MUTUAL_FRONTIER_MAX)
		return mutual__fail(MUTUAL_EINVALID, "event frontier too large");
	TAKE(p, &r, n * MUTUAL_FRONTIER_ENTRY);
	out->frontier = p;
	out->frontier_n = n;
	if (mutual__frontier_check(out->frontier, n, out->device) < 0)
		return MUTUAL_EINVALID;
	TAKE(p, &r, 4);
	n = mutual__get_u32(p);
	if (n > MUTUAL_PAYLOAD_MAX)
		return mutual__fail(MUTUAL_EINVALID, "event payload larger than %d bytes", MUTUAL_PAYLOAD_MAX);
	TAKE(p, &r, n);
	out->payload = (const char *)p;
	out->payload_len = n;
	mutual__hash(digest, out->payload, out->payload_len);
	if (memcmp(digest, out->digest, MUTUAL_HASH_SIZE) != 0)
		return mutual__fail(MUTUAL_EVERIFY, "event payload does not match its digest");
	if (mutual__json_check_object(out->payload, out->payload_len) < 0)
		return MUTUAL_EINVALID;
	TAKE(p, &r, 1);
	if (p[0] > 1)
		return mutual__fail(MUTUAL_EINVALID, "bad signature flag");
	out->has_sig = p[0];
	if (out->has_sig) {
		TAKE(p, &r, MUTUAL_SIG_SIZE);
		memcpy(out->sig, p, MUTUAL_SIG_SIZE);
	}
	if (mutual__event_compute_hash(out) < 0)
		return MUTUAL_ERROR;
	*used = (size_t)(r.p - buf);
	return 0;
}

const uint8_t *mutual__frontier_find(const uint8_t *f, size_t n, const uint8_t device[MUTUAL_KEY_SIZE])
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(f + mid * MUTUAL_FRONTIER_ENTRY, device, MUTUAL_KEY_SIZE);
		if (c == 0)
			return f + mid * MUTUAL_FRONTIER_ENTRY;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

uint64_t mutual__frontier_seq(const uint8_t *f, size_t n, const uint8_t device[MUTUAL_KEY_SIZE])
{
	const uint8_t *e = mutual__frontier_find(f, n, device);
	return e ? mutual__get_u64(e + MUTUAL_KEY_SIZE) : 0;
}
