/*
 * crypto.h - the library's one door to libsodium: randomness, BLAKE2b-256
 * and Ed25519. Keeping every primitive here makes the choices auditable in
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

/* Wipe secrets from memory. */
void mutual__wipe(void *p, size_t len);

#endif
