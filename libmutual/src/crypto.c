/*
 * crypto.c - libsodium behind the small interface of crypto.h.
 */
#include "crypto.h"

#include <sodium.h>
#include <string.h>

#include "common.h"

/* Our names for libsodium's sizes must be libsodium's sizes. */
_Static_assert(MUTUAL_KEY_SIZE == crypto_sign_PUBLICKEYBYTES, "Ed25519 public key size");
_Static_assert(MUTUAL_SEED_SIZE == crypto_sign_SEEDBYTES, "Ed25519 seed size");
_Static_assert(MUTUAL_SECRET_SIZE == crypto_sign_SECRETKEYBYTES, "Ed25519 secret key size");
_Static_assert(MUTUAL_SIG_SIZE == crypto_sign_BYTES, "Ed25519 signature size");
_Static_assert(MUTUAL_HASH_SIZE == crypto_generichash_BYTES, "BLAKE2b-256 digest size");
_Static_assert(MUTUAL_GROUP_KEY_SIZE == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "AEAD key size");
_Static_assert(MUTUAL_AEAD_NONCE == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "AEAD nonce size");
_Static_assert(MUTUAL_AEAD_TAG == crypto_aead_xchacha20poly1305_ietf_ABYTES, "AEAD tag size");
_Static_assert(MUTUAL_X25519_SIZE == crypto_box_PUBLICKEYBYTES && MUTUAL_X25519_SIZE == crypto_box_SECRETKEYBYTES,
	"X25519 key size");
_Static_assert(MUTUAL_KEY_BOX_SIZE == crypto_box_SEALBYTES + MUTUAL_GROUP_KEY_SIZE, "sealed key box size");

int mutual__crypto_init(void)
{
	/* sodium_init is thread-safe and idempotent: 1 means already done. */
	if (sodium_init() < 0)
		return mutual__fail(MUTUAL_ERROR, "cannot initialise libsodium");
	return 0;
}

void mutual__random(void *out, size_t len)
{
	randombytes_buf(out, len);
}

void mutual__hash(uint8_t out[MUTUAL_HASH_SIZE], const void *data, size_t len)
{
	crypto_generichash(out, MUTUAL_HASH_SIZE, data, len, NULL, 0);
}

int mutual__sign_keypair(uint8_t pk[MUTUAL_KEY_SIZE], uint8_t sk[MUTUAL_SECRET_SIZE], const uint8_t seed[MUTUAL_SEED_SIZE])
{
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0)
		return mutual__fail(MUTUAL_ERROR, "cannot derive the device key pair");
	return 0;
}

void mutual__sign(uint8_t sig[MUTUAL_SIG_SIZE], const uint8_t *msg, size_t len,
	const uint8_t sk[MUTUAL_SECRET_SIZE])
{
	crypto_sign_detached(sig, NULL, msg, len, sk);
}

int mutual__sign_verify(const uint8_t sig[MUTUAL_SIG_SIZE], const uint8_t *msg, size_t len,
	const uint8_t pk[MUTUAL_KEY_SIZE])
{
	return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : -1;
}

void mutual__wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
}

void mutual__aead_encrypt(uint8_t *out, const uint8_t *msg, size_t len, const uint8_t *ad, size_t ad_len,
	const uint8_t nonce[MUTUAL_AEAD_NONCE], const uint8_t key[MUTUAL_GROUP_KEY_SIZE])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, msg, len, ad, ad_len, NULL, nonce, key);
}

int mutual__aead_decrypt(uint8_t *out, const uint8_t *ct, size_t len, const uint8_t *ad, size_t ad_len,
	const uint8_t nonce[MUTUAL_AEAD_NONCE], const uint8_t key[MUTUAL_GROUP_KEY_SIZE])
{
	if (len < MUTUAL_AEAD_TAG)
		return -1;
	return crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, ad, ad_len, nonce, key) == 0 ? 0 : -1;
}

int mutual__x25519_public(uint8_t out[MUTUAL_X25519_SIZE], const uint8_t ed_pk[MUTUAL_KEY_SIZE])
{
	if (crypto_sign_ed25519_pk_to_curve25519(out, ed_pk) != 0)
		return mutual__fail(MUTUAL_EINVALID, "not a device key a group key can be sealed to");
	return 0;
}

int mutual__key_box_seal(uint8_t box[MUTUAL_KEY_BOX_SIZE], const uint8_t key[MUTUAL_GROUP_KEY_SIZE],
	const uint8_t device_pk[MUTUAL_KEY_SIZE])
{
	uint8_t xpk[MUTUAL_X25519_SIZE];
	int rc = mutual__x25519_public(xpk, device_pk);
	if (rc == 0 && crypto_box_seal(box, key, MUTUAL_GROUP_KEY_SIZE, xpk) != 0)
		rc = mutual__fail(MUTUAL_ERROR, "cannot seal a group key");
	return rc;
}

int mutual__key_box_open(uint8_t key[MUTUAL_GROUP_KEY_SIZE], const uint8_t box[MUTUAL_KEY_BOX_SIZE],
	const uint8_t device_sk[MUTUAL_SECRET_SIZE])
{
	uint8_t xpk[MUTUAL_X25519_SIZE], xsk[MUTUAL_X25519_SIZE], out[MUTUAL_GROUP_KEY_SIZE];
	int rc = MUTUAL_EVERIFY;

	/* libsodium's secret key ends with the public key. */
	if (crypto_sign_ed25519_sk_to_curve25519(xsk, device_sk) == 0 &&
	    crypto_sign_ed25519_pk_to_curve25519(xpk, device_sk + MUTUAL_SEED_SIZE) == 0 &&
	    crypto_box_seal_open(out, box, MUTUAL_KEY_BOX_SIZE, xpk, xsk) == 0) {
		memcpy(key, out, MUTUAL_GROUP_KEY_SIZE);
		rc = 0;
	}
	sodium_memzero(xsk, sizeof(xsk));
	sodium_memzero(out, sizeof(out));
	if (rc < 0)
		return mutual__fail(MUTUAL_EVERIFY, "the group key box does not open with this device's key "
			"(another device's box, or altered)");
	return 0;
}

void mutual__key_commit(uint8_t out[MUTUAL_KEY_COMMIT_SIZE], const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	uint32_t key_id, const uint8_t key[MUTUAL_GROUP_KEY_SIZE])
{
	crypto_generichash_state st;
	uint8_t id[4];

	mutual__set_u32(id, key_id);
	crypto_generichash_init(&st, NULL, 0, MUTUAL_KEY_COMMIT_SIZE);
	crypto_generichash_update(&st, (const uint8_t *)MUTUAL_KEY_COMMIT_DOMAIN, strlen(MUTUAL_KEY_COMMIT_DOMAIN));
	crypto_generichash_update(&st, group_id, MUTUAL_GROUP_ID_SIZE);
	crypto_generichash_update(&st, id, sizeof(id));
	crypto_generichash_update(&st, key, MUTUAL_GROUP_KEY_SIZE);
	crypto_generichash_final(&st, out, MUTUAL_KEY_COMMIT_SIZE);
	sodium_memzero(&st, sizeof(st));
}

int mutual__key_commit_check(const uint8_t commit[MUTUAL_KEY_COMMIT_SIZE], const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	uint32_t key_id, const uint8_t key[MUTUAL_GROUP_KEY_SIZE])
{
	uint8_t want[MUTUAL_KEY_COMMIT_SIZE];
	int same;

	mutual__key_commit(want, group_id, key_id, key);
	same = sodium_memcmp(want, commit, MUTUAL_KEY_COMMIT_SIZE) == 0;
	sodium_memzero(want, sizeof(want));
	if (!same)
		return mutual__fail(MUTUAL_EVERIFY, "the group key does not match its commitment (a key box moved from "
			"another rotation, or altered)");
	return 0;
}
