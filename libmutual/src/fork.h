/*
 * fork.h - the fork proof: evidence that one device key signed two
 * different events at the same seq. Any device holding the group key can
 * check it on its own, so the proof travels on sticks and every device
 * makes the same cut: the device's events from that seq on are quarantined.
 */
#ifndef MUTUAL_FORK_H
#define MUTUAL_FORK_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define MUTUAL_FORK_MAGIC "mutual.fork.v1\n" /* 15 bytes */
#define MUTUAL_REF_FORKS "refs/mutual/v1/forks/" /* + 64 hex of the forked device */

/* One branch's evidence: wire-form events from the fork seq up to and
 * including the first signed one, consecutive and chained. */
typedef struct {
	const uint8_t *wire;
	size_t len;
	uint32_t count;
} mutual_fork_branch;

/* Build the proof (branches ordered by their first event's hash, so every
 * device builds the same bytes from the same two branches). */
int mutual__fork_proof_build(mutual_buf *out, const uint8_t device[MUTUAL_KEY_SIZE], uint64_t seq,
	const mutual_fork_branch *a, const mutual_fork_branch *b);

/* Check an untrusted proof for `device`: both branches start at the same
 * seq from the same previous hash, differ there, are chained, and each ends
 * in a signature of `device`. `*seq` gets the fork seq. */
int mutual__fork_proof_verify(uint64_t *seq, const uint8_t *proof, size_t len, const uint8_t device[MUTUAL_KEY_SIZE]);

#endif
