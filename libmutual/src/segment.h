/*
 * segment.h - a segment: a run of consecutive events of one device, the
 * unit that travels in one git commit. Sealed (zlib, then XChaCha20-Poly1305
 * with the group key) before it leaves the device; docs/format.md is the
 * normative description.
 */
#ifndef MUTUAL_SEGMENT_H
#define MUTUAL_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "crypto.h"

#define MUTUAL_SEGMENT_MAGIC "mutual.segment.v1\n" /* 18 bytes */
#define MUTUAL_ENVELOPE_MAGIC "mseg"               /* 4 bytes */
#define MUTUAL_ENVELOPE_VERSION 1
#define MUTUAL_ENVELOPE_HEADER (4 + 1 + 4 + MUTUAL_AEAD_NONCE)
#define MUTUAL_SEGMENT_EVENTS 1000            /* export cuts after this many events */
#define MUTUAL_SEGMENT_BYTES (4 * 1024 * 1024) /* ... or this many bytes */
#define MUTUAL_SEGMENT_PLAIN_MAX (16u * 1024 * 1024) /* hard cap when opening (honest: < 8 MiB) */

/* A parsed segment; `events` points into the plaintext buffer. */
typedef struct {
	uint8_t group_id[MUTUAL_GROUP_ID_SIZE];
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t first_seq;
	uint32_t count;
	const uint8_t *events; /* `count` events in wire form, back to back */
	size_t events_len;
} mutual_segment;

/* Start a plaintext segment in `out` (then append wire-form events and
 * finish with mutual__segment_finish). */
int mutual__segment_begin(mutual_buf *out, const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t first_seq);
void mutual__segment_finish(mutual_buf *plain, uint32_t count);

/* Compress and encrypt `plain` into an envelope. */
int mutual__segment_seal(mutual_buf *out, const mutual_buf *plain, const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	const uint8_t device[MUTUAL_KEY_SIZE], uint32_t key_id, const uint8_t key[MUTUAL_GROUP_KEY_SIZE]);

/* The key id an envelope names; MUTUAL_EVERSION for a newer envelope. */
int mutual__segment_key_id(uint32_t *out, const uint8_t *env, size_t len);

/* Decrypt and decompress an untrusted envelope found under `device`'s ref of
 * group `group_id` into `plain` (bounded by MUTUAL_SEGMENT_PLAIN_MAX).
 * MUTUAL_EVERIFY when it does not authenticate with `key` (another group, a
 * wrong key, or tampering); MUTUAL_EINVALID when malformed. */
int mutual__segment_open(mutual_buf *plain, const uint8_t *env, size_t len,
	const uint8_t group_id[MUTUAL_GROUP_ID_SIZE], const uint8_t device[MUTUAL_KEY_SIZE], const uint8_t key[MUTUAL_GROUP_KEY_SIZE]);

/* The outer envelope is the same for every medium version, so this one
 * can check a newer version's objects before it keeps or forwards them:
 * "mseg" | version | key id | nonce | ciphertext, and for versions 2 and
 * later the associated data is the 33 header bytes | group id | the full
 * name of the ref the object is found under. 0 when `env` authenticates
 * with `key` (its plaintext is not read, and wiped); MUTUAL_EVERIFY when
 * it does not; MUTUAL_EINVALID when it is not an envelope of version 2 or
 * later. The caller checks the key id (bytes 5..8) names `key`. */
int mutual__envelope_check_newer(const uint8_t *env, size_t len, const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	const char *ref, const uint8_t key[MUTUAL_GROUP_KEY_SIZE]);
/* The envelope's version (byte 4, never 0); MUTUAL_EINVALID when not an
 * envelope. */
int mutual__envelope_version(const uint8_t *env, size_t len);

/* Parse the plaintext's header. Events are decoded one by one by the caller
 * with mutual__event_decode. */
int mutual__segment_parse(mutual_segment *out, const uint8_t *plain, size_t len);

#endif
