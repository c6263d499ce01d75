/*
 * sync_fork.c - forks met during a sync. When a peer's log of a device
 * diverges from the one held here, the first seq where they differ is
 * found and, when the device signed both branches, a fork proof is built
 * (fork.c) and recorded; a peer's own fork proofs are verified and
 * adopted when they fork earlier. A proof held is kept as a sealed commit
 * under refs/mutual/v1/forks/, so it travels on every medium (the send
 * step passes it on: sync_send.c).
 */
#include "sync_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "deliver.h"
#include "event.h"
#include "fork.h"
#include "segment.h"
#include "store.h"

_Static_assert(sizeof(MUTUAL_REF_FORKS) + MUTUAL_KEY_HEX_LEN <= MUTUAL_REF_NAME_SIZE, "a fork ref fits MUTUAL_REF_NAME_SIZE");

static void fork_ref(char *out, size_t size, const uint8_t device[MUTUAL_KEY_SIZE])
{
	char hex[MUTUAL_KEY_HEX_SIZE];
	mutual__hex(hex, device, MUTUAL_KEY_SIZE);
	snprintf(out, size, MUTUAL_REF_FORKS "%s", hex);
}

typedef struct {
	mutual_buf *wire;
	uint32_t count;
} our_branch;

static int collect_our_branch(const mutual_event_rec *ev, void *payload)
{
	our_branch *b = payload;
	int rc = mutual__event_encode(b->wire, ev);
	if (rc < 0)
		return rc;
	b->count++;
	return ev->has_sig ? 1 : 0; /* 1 stops the walk at the first signature */
}

/* Store `proof` for `device` when it is new or forks earlier than the one
 * held, and keep it as a sealed commit under refs/mutual/v1/forks/ so it
 * travels on every stick. `*adopted` says whether it was. */
static int record_fork(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq, const mutual_buf *proof,
	const mutual_oid *existing_commit, int *adopted)
{
	mutual_store *s = c->s;
	mutual_repo *mem = NULL;
	mutual_buf sealed = { 0 };
	mutual_oid oid, now;
	uint64_t held;
	char name[MUTUAL_REF_NAME_SIZE], message[96];
	int rc;

	*adopted = 0;
	rc = mutual__db_fork_get(s->db, device, &held, NULL);
	if (rc == 0 && held <= seq)
		return 0;
	if (rc < 0 && rc != MUTUAL_ENOTFOUND)
		return rc;
	fork_ref(name, sizeof(name), device);
	if (existing_commit) {
		oid = *existing_commit; /* forward the proof's commit byte for byte */
	} else {
		snprintf(message, sizeof(message), "fork at seq %" PRIu64 "\n", seq);
		if ((rc = mutual__segment_seal(&sealed, proof, s->group_id_raw, device, s->key_id, s->group_key)) < 0 ||
		    (rc = mutual__repo_open_memory(&mem, mutual__repo_path(c->local))) < 0 ||
		    (rc = mutual__segment_commit_write(&oid, mem, NULL, sealed.data, sealed.len, message)) < 0 ||
		    (rc = mutual__repo_flush_memory(mem, c->local)) < 0)
			goto done;
	}
	if ((rc = mutual__db_begin_write(s->db)) < 0)
		goto done;
	if ((rc = mutual__deliver_fork(s, device, seq, proof->data, proof->len)) < 0) {
		mutual__db_rollback(s->db);
		goto done;
	}
	if ((rc = mutual__db_commit(s->db)) < 0)
		goto done;
	rc = mutual__ref_get(&now, c->local, name);
	if (rc == 0)
		rc = mutual__ref_set(c->local, name, &oid, &now);
	else if (rc == MUTUAL_ENOTFOUND) /* a ref that cannot be read is not missing */
		rc = mutual__ref_set(c->local, name, &oid, NULL);
	*adopted = rc == 0;
	c->stats->forks_found += *adopted;
done:
	mutual__repo_free(mem);
	mutual__buf_free(&sealed);
	return rc;
}

/* The peer's commits chain[n-1] (oldest) .. chain[0] of `device` diverge
 * from the log held here. Find the first seq where their events differ
 * from ours; when the peer's events from there are chained and signed by
 * the device, both are the device's own words: record a fork proof. */
static int try_fork(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], const mutual_oid *chain, size_t n, int *forked,
	uint64_t *seq_out)
{
	mutual_store *s = c->s;
	mutual_buf theirs = { 0 }, ours = { 0 }, proof = { 0 }, scratch = { 0 };
	mutual_fork_branch a, b;
	our_branch mine = { &ours, 0 };
	uint64_t fork_seq = 0;
	mutual_chain branch;
	uint32_t n_theirs = 0;
	int found = 0, stop = 0, rc = 0;

	*forked = 0;
	for (size_t i = n; i-- > 0 && !stop;) {
		mutual_segment seg;
		mutual_oid parent;
		size_t pos = 0;
		int has_parent;

		if (mutual__segment_commit_read(c->peer, &chain[i], &has_parent, &parent, &c->blob) < 0 ||
		    mutual__keyring_segment_open(&c->plain, s, c->blob.data, c->blob.len, device) < 0 ||
		    mutual__segment_parse(&seg, c->plain.data, c->plain.len) < 0 || memcmp(seg.device, device, MUTUAL_KEY_SIZE) != 0)
			break;
		c->stats->segments_opened++;
		for (uint32_t k = 0; k < seg.count && !stop; k++) {
			mutual_event_rec ev, held;
			size_t used;
			if (mutual__event_decode(&ev, seg.events + pos, seg.events_len - pos, &used) < 0 ||
			    memcmp(ev.device, device, MUTUAL_KEY_SIZE) != 0) {
				stop = 1;
				break;
			}
			pos += used;
			if (!fork_seq) {
				rc = mutual__db_event_get(&held, &scratch, s->db, device, ev.seq);
				if (rc == MUTUAL_ENOTFOUND) {
					rc = 0;
					stop = 1; /* no event here to conflict with */
					break;
				}
				if (rc < 0)
					goto done;
				if (memcmp(held.hash, ev.hash, MUTUAL_HASH_SIZE) == 0)
					continue;
				/* Their branch must start from our event before it. */
				mutual__chain_start(&branch, device, ev.seq, held.prev);
				fork_seq = ev.seq;
			}
			if (mutual__chain_next(&branch, &ev, NULL) != MUTUAL_CHAIN_OK) {
				stop = 1; /* not the device's own chain: no proof */
				break;
			}
			if ((rc = mutual__event_encode(&theirs, &ev)) < 0)
				goto done;
			n_theirs++;
			if (ev.has_sig) {
				found = 1;
				stop = 1;
			}
		}
	}
	if (!found)
		goto done;
	rc = mutual__db_chain(s->db, device, fork_seq, collect_our_branch, &mine);
	if (rc < 0)
		goto done;
	if (rc != 1) {
		rc = 0; /* our branch is not signed yet: no proof from our side */
		goto done;
	}
	a = (mutual_fork_branch){ theirs.data, theirs.len, n_theirs };
	b = (mutual_fork_branch){ ours.data, ours.len, mine.count };
	if ((rc = mutual__fork_proof_build(&proof, device, fork_seq, &a, &b)) < 0) {
		rc = 0; /* not a provable fork after all */
		goto done;
	}
	if ((rc = record_fork(c, device, fork_seq, &proof, NULL, forked)) < 0)
		goto done;
	*forked = 1;
	*seq_out = fork_seq;
done:
	mutual__buf_free(&theirs);
	mutual__buf_free(&ours);
	mutual__buf_free(&proof);
	mutual__buf_free(&scratch);
	return rc;
}

/* A peer's fork proof: adopt it when it verifies and forks earlier than
 * what is known here. */
int mutual__sync_import_fork_ref(sync_ctx *c, const peer_ref *r)
{
	size_t plen = strlen(MUTUAL_REF_FORKS);
	const char *hex = r->name + plen;
	uint8_t device[MUTUAL_KEY_SIZE];
	mutual_oid parent;
	uint64_t seq, held;
	int has_parent, adopted, rc;

	if (strlen(hex) != MUTUAL_KEY_HEX_LEN || strspn(hex, "0123456789abcdef") != MUTUAL_KEY_HEX_LEN || mutual__unhex(device, MUTUAL_KEY_SIZE, hex, MUTUAL_KEY_HEX_LEN) < 0) {
		mutual__sync_refuse(c, NULL, "unknown ref %s on the target", r->name);
		return 0;
	}
	if (mutual__db_fork_get(c->s->db, device, &held, NULL) == 0) {
		char name[MUTUAL_REF_NAME_SIZE];
		mutual_oid ours;
		fork_ref(name, sizeof(name), device);
		if (mutual__ref_get(&ours, c->local, name) == 0 && memcmp(&ours, &r->oid, sizeof(ours)) == 0)
			return 0; /* the same proof */
	}
	if ((rc = mutual__segment_commit_read(c->peer, &r->oid, &has_parent, &parent, &c->blob)) == 0 &&
	    (rc = mutual__keyring_segment_open(&c->plain, c->s, c->blob.data, c->blob.len, device)) == MUTUAL_ENOTFOUND) {
		mutual__sync_without_key(c, device, "its fork proof on the target"); /* sync_import.c NOTES 6 */
		return 0;
	}
	if (rc < 0 || mutual__fork_proof_verify(&seq, c->plain.data, c->plain.len, device) < 0) {
		mutual__sync_refuse(c, device, "its fork proof on the target does not verify: %s", mutual_error_last());
		return 0;
	}
	if ((rc = mutual__repo_copy(c->local, c->peer, &r->oid, 1, NULL, 0, &c->stats->objects_received, NULL, NULL)) < 0)
		return rc;
	return record_fork(c, device, seq, &c->plain, &r->oid, &adopted);
}

/* The log of a forked device diverging again is the known fork, not news. */
static int known_fork(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE])
{
	uint64_t seq;
	if (mutual__db_fork_get(c->s->db, device, &seq, NULL) != 0)
		return 0;
	c->stats->forked_devices++;
	return 1;
}

/* Report a divergence: a fork when provable, else a plain refusal. */
int mutual__sync_diverged(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], const mutual_oid *chain, size_t n, const char *what,
	uint64_t after_seq)
{
	uint64_t seq = 0;
	int forked, rc;
	if (known_fork(c, device))
		return 0;
	if ((rc = try_fork(c, device, chain, n, &forked, &seq)) < 0)
		return rc;
	if (forked) {
		c->stats->forked_devices++;
		mutual__sync_refuse(c, device, "the same device key signed two different logs (a store copied to a "
			"second machine?): its events from seq %" PRIu64 " on are quarantined on every device until "
			"its owner runs 'mutual recover'", seq);
	} else {
		if (after_seq)
			mutual__sync_refuse(c, device, "%s after seq %" PRIu64 ": nothing of it imported", what,
				after_seq);
		else
			mutual__sync_refuse(c, device, "%s: nothing of it imported", what);
	}
	return 0;
}
