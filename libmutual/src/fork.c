/*
 * fork.c - building and checking fork proofs (see fork.h, docs/format.md).
 *
 * proof = "mutual.fork.v1\n" | device (32) | seq (u64)
 *       | count A (u32) | A's events in wire form
 *       | count B (u32) | B's events in wire form
 */
#include "fork.h"

#include <string.h>

#include "crypto.h"
#include "event.h"

static int put_branch(mutual_buf *out, const mutual_fork_branch *br)
{
	if (mutual__buf_put_u32(out, br->count) < 0 || mutual__buf_put(out, br->wire, br->len) < 0)
		return MUTUAL_ERROR;
	return 0;
}

/* The hash of a branch's first event, for ordering. */
static int first_hash(uint8_t hash[MUTUAL_HASH_SIZE], const mutual_fork_branch *br)
{
	mutual_event_rec ev;
	size_t used;
	int rc = mutual__event_decode(&ev, br->wire, br->len, &used);
	if (rc == 0)
		memcpy(hash, ev.hash, MUTUAL_HASH_SIZE);
	return rc;
}

int mutual__fork_proof_build(mutual_buf *out, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq,
	const mutual_fork_branch *a, const mutual_fork_branch *b)
{
	uint8_t ha[MUTUAL_HASH_SIZE], hb[MUTUAL_HASH_SIZE];
	int rc;

	if ((rc = first_hash(ha, a)) < 0 || (rc = first_hash(hb, b)) < 0)
		return rc;
	if (memcmp(ha, hb, MUTUAL_HASH_SIZE) > 0) {
		const mutual_fork_branch *t = a;
		a = b;
		b = t;
	}
	out->len = 0;
	if (mutual__buf_put(out, MUTUAL_FORK_MAGIC, 15) < 0 || mutual__buf_put(out, device, MUTUAL_KEY_SIZE) < 0 ||
	    mutual__buf_put_u64(out, seq) < 0 || put_branch(out, a) < 0 || put_branch(out, b) < 0)
		return MUTUAL_ERROR;
	return mutual__fork_proof_verify(&seq, out->data, out->len, device);
}

/* Check one branch starting at `*pos`; `first` gets its first event. */
static int check_branch(mutual_event_rec *first, const uint8_t *p, size_t len, size_t *pos,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq)
{
	mutual_chain chain;
	uint32_t count;

	if (len - *pos < 4)
		return mutual__fail(MUTUAL_EINVALID, "fork proof is truncated");
	count = mutual__get_u32(p + *pos);
	*pos += 4;
	if (count == 0 || count > (len - *pos) / 100)
		return mutual__fail(MUTUAL_EINVALID, "fork proof has a bad branch length");
	for (uint32_t i = 0; i < count; i++) {
		mutual_event_rec ev;
		size_t used;
		int rc = mutual__event_decode(&ev, p + *pos, len - *pos, &used);
		if (rc < 0)
			return rc;
		*pos += used;
		if (i == 0) {
			/* Where the branch starts from is the proof's claim, checked
			 * against the other branch by the caller. */
			*first = ev;
			mutual__chain_start(&chain, device, seq, ev.prev);
		}
		switch (mutual__chain_next(&chain, &ev, NULL)) {
		case MUTUAL_CHAIN_OK:
			break;
		case MUTUAL_CHAIN_DEVICE:
		case MUTUAL_CHAIN_SEQ:
			return mutual__fail(MUTUAL_EVERIFY, "fork proof event belongs elsewhere");
		case MUTUAL_CHAIN_PREV:
		case MUTUAL_CHAIN_HASH:
			return mutual__fail(MUTUAL_EVERIFY, "fork proof branch is not chained");
		case MUTUAL_CHAIN_SIG:
			return mutual__fail(MUTUAL_EVERIFY, "fork proof signature is not the device's");
		case MUTUAL_CHAIN_ERROR:
			return MUTUAL_ERROR;
		}
		if (ev.has_sig) {
			if (i != count - 1)
				return mutual__fail(MUTUAL_EINVALID, "fork proof branch goes past its signature");
			return 0;
		}
	}
	return mutual__fail(MUTUAL_EVERIFY, "fork proof branch is not signed");
}

int mutual__fork_proof_verify(uint64_t *seq, const uint8_t *p, size_t len, const uint8_t device[MUTUAL_KEY_SIZE])
{
	mutual_event_rec a, b;
	size_t pos = 15 + MUTUAL_KEY_SIZE + 8;
	int rc;

	if (len < pos || memcmp(p, MUTUAL_FORK_MAGIC, 15) != 0)
		return mutual__fail(MUTUAL_EINVALID, "not a fork proof");
	if (memcmp(p + 15, device, MUTUAL_KEY_SIZE) != 0)
		return mutual__fail(MUTUAL_EVERIFY, "fork proof names another device");
	*seq = mutual__get_u64(p + 15 + MUTUAL_KEY_SIZE);
	if (*seq == 0)
		return mutual__fail(MUTUAL_EINVALID, "fork proof at seq 0");
	if ((rc = check_branch(&a, p, len, &pos, device, *seq)) < 0 ||
	    (rc = check_branch(&b, p, len, &pos, device, *seq)) < 0)
		return rc;
	if (pos != len)
		return mutual__fail(MUTUAL_EINVALID, "fork proof has trailing bytes");
	if (memcmp(a.prev, b.prev, MUTUAL_HASH_SIZE) != 0)
		return mutual__fail(MUTUAL_EVERIFY, "fork proof branches do not start from the same event");
	if (memcmp(a.hash, b.hash, MUTUAL_HASH_SIZE) >= 0)
		return mutual__fail(MUTUAL_EVERIFY, "fork proof branches are the same (or out of order)");
	return 0;
}
