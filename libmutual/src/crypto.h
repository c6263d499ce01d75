/*
 * crypto.h - the library's one door to libsodium: randomness, BLAKE2b-256,
 * Ed25519, XChaCha20-Poly1305 and the sealed key box (X25519). Keeping every primitive here makes the choices auditable in
 * one place and lets the format document name exactly these.
 */
#ifndef MUTUAL_CRYPTO_H
#define MUTUAL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "mutual.h" /* MUTUAL_KEY_SIZE, MUTUAL_HASH_SIZE */

#define MUTUAL_SEED_SIZE MUTUAL_KEY_SIZE /* an Ed25519 seed is as long as its public key */
#define MUTUAL_SECRET_SIZE 64 /* libsodium's secret key: seed || public key */
#define MUTUAL_SIG_SIZE 64
#define MUTUAL_GROUP_KEY_SIZE MUTUAL_KEY_SIZE /* XChaCha20-Poly1305 key */
#define MUTUAL_GROUP_ID_SIZE 16

/* A seed and a group key in hex, as the key files hold them: the characters,
 * and a buffer for them and the NUL. */
#define MUTUAL_SEED_HEX_LEN (MUTUAL_SEED_SIZE * 2)
#define MUTUAL_SEED_HEX_SIZE (MUTUAL_SEED_HEX_LEN + 1)
#define MUTUAL_GROUP_KEY_HEX_LEN (MUTUAL_GROUP_KEY_SIZE * 2)
#define MUTUAL_GROUP_KEY_HEX_SIZE (MUTUAL_GROUP_KEY_HEX_LEN + 1)

int mutual__crypto_init(void);
void mutual__random(void *out, size_t len);

/* BLAKE2b with a 32-byte digest, unkeyed (hashlib.blake2b(digest_size=32)). */
void mutual__hash(uint8_t out[MUTUAL_HASH_SIZE], const void *data, size_t len);


/* Ed25519 key pair from a 32-byte seed. */
int mutual__sign_keypair(uint8_t pk[MUTUAL_KEY_SIZE], uint8_t sk[MUTUAL_SECRET_SIZE], const uint8_t seed[MUTUAL_SEED_SIZE]);
void mutual__sign(uint8_t sig[MUTUAL_SIG_SIZE], const uint8_t *msg, size_t len,
	const uint8_t sk[MUTUAL_SECRET_SIZE]);
/* 0 when `sig` is `pk`'s valid signature of `msg`, -1 otherwise. */
int mutual__sign_verify(const uint8_t sig[MUTUAL_SIG_SIZE], const uint8_t *msg, size_t len,
	const uint8_t pk[MUTUAL_KEY_SIZE]);

/* XChaCha20-Poly1305 (IETF): `out` gets len + MUTUAL_AEAD_TAG bytes. */
#define MUTUAL_AEAD_NONCE 24
#define MUTUAL_AEAD_TAG 16
void mutual__aead_encrypt(uint8_t *out, const uint8_t *msg, size_t len, const uint8_t *ad, size_t ad_len,
	const uint8_t nonce[MUTUAL_AEAD_NONCE], const uint8_t key[MUTUAL_GROUP_KEY_SIZE]);
/* 0 and `out` (len - MUTUAL_AEAD_TAG bytes) when authentic, -1 otherwise. */
int mutual__aead_decrypt(uint8_t *out, const uint8_t *ct, size_t len, const uint8_t *ad, size_t ad_len,
	const uint8_t nonce[MUTUAL_AEAD_NONCE], const uint8_t key[MUTUAL_GROUP_KEY_SIZE]);

/* The sealed key box: a group key for one device, readable only with
 * that device's secret key (docs/format.md, "Sealed key box"). The X25519
 * keys are derived from the device's Ed25519 keys, never announced, so a
 * device that joined before boxes existed can receive one. */
#define MUTUAL_X25519_SIZE 32
#define MUTUAL_KEY_BOX_SIZE (48 + MUTUAL_GROUP_KEY_SIZE) /* crypto_box_SEALBYTES + the key: 80 */
#define MUTUAL_KEY_COMMIT_SIZE MUTUAL_HASH_SIZE
#define MUTUAL_KEY_COMMIT_DOMAIN "mutual.key.commit.v1\n"
/* The X25519 public key derived from an Ed25519 public key. Errors:
 * MUTUAL_EINVALID (`ed_pk` is not a valid point: no box can be made for it). */
int mutual__x25519_public(uint8_t out[MUTUAL_X25519_SIZE], const uint8_t ed_pk[MUTUAL_KEY_SIZE]);
/* crypto_box_seal of `key` to the X25519 key of `device_pk`. Errors:
 * MUTUAL_EINVALID (as mutual__x25519_public). */
int mutual__key_box_seal(uint8_t box[MUTUAL_KEY_BOX_SIZE], const uint8_t key[MUTUAL_GROUP_KEY_SIZE],
	const uint8_t device_pk[MUTUAL_KEY_SIZE]);
/* Open an untrusted box with the device's Ed25519 secret key (seed ||
 * public key); the derived X25519 secret is wiped. `key` is written only
 * when it opens. Errors: MUTUAL_EVERIFY (not a box for this device, or
 * altered). */
int mutual__key_box_open(uint8_t key[MUTUAL_GROUP_KEY_SIZE], const uint8_t box[MUTUAL_KEY_BOX_SIZE],
	const uint8_t device_sk[MUTUAL_SECRET_SIZE]);
/* BLAKE2b-256(MUTUAL_KEY_COMMIT_DOMAIN | group id | key id (u32 BE) | key):
 * binds a key to its group and id, so a box moved to another rotation is
 * caught. */
void mutual__key_commit(uint8_t out[MUTUAL_KEY_COMMIT_SIZE], const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	uint32_t key_id, const uint8_t key[MUTUAL_GROUP_KEY_SIZE]);
/* 0 when `commit` is the commitment of (group id, key id, key), compared
 * in constant time; MUTUAL_EVERIFY otherwise. */
int mutual__key_commit_check(const uint8_t commit[MUTUAL_KEY_COMMIT_SIZE], const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	uint32_t key_id, const uint8_t key[MUTUAL_GROUP_KEY_SIZE]);

/* Wipe secrets from memory. */
void mutual__wipe(void *p, size_t len);

#endif
