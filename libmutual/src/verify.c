/*
 * verify.c - mutual_verify: SQLite's integrity check, then every device's
 * chain walked in seq order through the chain rule (event.c), from the
 * stored fields alone: the payload digest, the hash, every link and every
 * signature recomputed; and every event covered by a signature. A stored
 * hash never vouches for a stored hash.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "store.h"

typedef struct {
	mutual_verify_result *res;
	int have_chain;
	mutual_chain chain; /* the device whose events are being walked */
} verify_ctx;

static int bad(verify_ctx *ctx, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad(verify_ctx *ctx, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, const char *fmt, ...)
{
	char id[MUTUAL_EVENT_ID_STRLEN];
	va_list ap;

	ctx->res->ok = 0;
	memcpy(ctx->res->bad.device, device, MUTUAL_KEY_SIZE);
	ctx->res->bad.seq = seq;
	va_start(ap, fmt);
	vsnprintf(ctx->res->reason, sizeof(ctx->res->reason), fmt, ap);
	va_end(ap);
	mutual_event_id_format(id, sizeof(id), &ctx->res->bad);
	return mutual__fail(MUTUAL_EVERIFY, "event %s does not verify: %s", id, ctx->res->reason);
}

/* The chain just walked must end in a signed event. */
static int close_chain(verify_ctx *ctx)
{
	const mutual_chain *c = &ctx->chain;
	if (ctx->have_chain && !mutual__chain_covered(c))
		return bad(ctx, c->device, c->last_signed + 1,
			"events %" PRIu64 " to %" PRIu64 " are not covered by a signature", c->last_signed + 1,
			c->next_seq - 1);
	return 0;
}

/* Everything is recomputed from the stored fields: the digest here, the
 * hash and the links in mutual__chain_next. Stored hashes are never
 * trusted to vouch for stored hashes. */
static int verify_event(const mutual_event_rec *ev, void *payload)
{
	static const uint8_t no_prev[MUTUAL_HASH_SIZE];
	verify_ctx *ctx = payload;
	uint8_t digest[MUTUAL_HASH_SIZE];
	int rc;

	if (!ctx->have_chain || memcmp(ctx->chain.device, ev->device, MUTUAL_KEY_SIZE) != 0) {
		if ((rc = close_chain(ctx)) < 0)
			return rc;
		ctx->have_chain = 1;
		mutual__chain_start(&ctx->chain, ev->device, 1, no_prev);
		ctx->res->devices++;
	}
	if (mutual__event_check_type(ev->type, ev->type_len, 1) < 0)
		return bad(ctx, ev->device, ev->seq, "bad type: %s", mutual_error_last());
	if (mutual__frontier_check(ev->frontier, ev->frontier_n, ev->device) < 0)
		return bad(ctx, ev->device, ev->seq, "bad frontier: %s", mutual_error_last());
	mutual__hash(digest, ev->payload, ev->payload_len);
	if (memcmp(digest, ev->digest, MUTUAL_HASH_SIZE) != 0)
		return bad(ctx, ev->device, ev->seq, "the payload was altered (it does not match its digest)");
	switch (mutual__chain_next(&ctx->chain, ev, ev->hash)) {
	case MUTUAL_CHAIN_OK:
		break;
	case MUTUAL_CHAIN_SEQ:
		return bad(ctx, ev->device, ctx->chain.next_seq,
			"missing: the log jumps from seq %" PRIu64 " to %" PRIu64, ctx->chain.next_seq - 1, ev->seq);
	case MUTUAL_CHAIN_PREV:
		return bad(ctx, ev->device, ev->seq, "the chain is broken (it does not link to seq %" PRIu64 ")",
			ev->seq - 1);
	case MUTUAL_CHAIN_HASH:
		return bad(ctx, ev->device, ev->seq, "the event was altered (its fields do not match its hash)");
	case MUTUAL_CHAIN_SIG:
		return bad(ctx, ev->device, ev->seq, "the signature is not the device's");
	case MUTUAL_CHAIN_DEVICE: /* the chain was started for this event's device */
		assert(!"verify walked two devices as one");
		return mutual__fail(MUTUAL_ERROR, "verify walked two devices as one");
	case MUTUAL_CHAIN_ERROR:
		return MUTUAL_ERROR;
	}
	if (ev->has_sig)
		ctx->res->signatures++;
	ctx->res->events++;
	return 0;
}

/* The bytes of each version of mutual_verify_result. */
static const size_t result_sizes[MUTUAL_VERIFY_RESULT_VERSION + 1] = { 0, sizeof(mutual_verify_result) };

int mutual_verify(mutual_verify_result *out, mutual_store *s)
{
	MUTUAL_STORE_ENTER(s);
	mutual_verify_result res;
	verify_ctx ctx;
	int rc;

	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	mutual__error_clear();
	if ((rc = mutual__output_check(out, "verify result")) < 0)
		return rc;
	memset(&res, 0, sizeof(res));
	res.version = MUTUAL_VERIFY_RESULT_VERSION;
	memset(&ctx, 0, sizeof(ctx));
	ctx.res = &res;
	if ((rc = mutual__db_integrity(s->db)) < 0) {
		snprintf(res.reason, sizeof(res.reason), "%s", mutual_error_last());
	} else {
		rc = mutual__db_chains(s->db, verify_event, &ctx);
		if (rc == 0)
			rc = close_chain(&ctx);
		if (rc == MUTUAL_ECORRUPT)
			snprintf(res.reason, sizeof(res.reason), "%s", mutual_error_last());
	}
	res.ok = rc == 0;
	if (out)
		mutual__output_copy(out, &res, MUTUAL_VERIFY_RESULT_VERSION, result_sizes);
	return rc;
}
