/*
 * crypto.c - libsodium behind the small interface of crypto.h.
 */
#include "crypto.h"

#include <sodium.h>

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
