/*
 * invite.c - the invite: what a new device needs to join a group, as one
 * line of text a person can carry (or a small file holding it).
 *
 * MUTUAL-INVITE-1:<base64url, no padding> of
 *   group id (16) | key id (u32) | group key (32) | inviter key (32) |
 *   name length (u8) | name | check (first 4 bytes of BLAKE2b-256 of all before)
 * MUTUAL-INVITE-2:<base64url, no padding> of
 *   group id (16) | key count (u8, 2..64) | count x (key id (u32) | key (32)) |
 *   inviter key (32) | name length (u8) | name | check
 * Version 2 carries the keys a rotation left (the current first), so a
 * device that joins after one reads what was sealed before it; a store
 * holding one key still writes version 1, which every libmutual reads.
 * The check catches a mistyped or truncated invite before it makes a store.
 */
#include <string.h>

#include "crypto.h"
#include "store.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_value(unsigned char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

#define INVITE_BLOB_MAX (16 + 1 + MUTUAL_INVITE_KEYS_MAX * (4 + MUTUAL_GROUP_KEY_SIZE) + MUTUAL_KEY_SIZE + 1 + \
	MUTUAL_NAME_MAX + 4)

int mutual__invite_encode(char **out, const mutual_invite *inv)
{
	uint8_t blob[INVITE_BLOB_MAX], check[MUTUAL_HASH_SIZE];
	size_t name_len = strlen(inv->name), n = 0;
	int v2 = inv->n_keys > 1;
	const char *prefix = v2 ? MUTUAL_INVITE_PREFIX_V2 : MUTUAL_INVITE_PREFIX;
	mutual_buf b = { 0 };

	if (name_len > MUTUAL_NAME_MAX)
		return mutual__fail(MUTUAL_EINVALID, "group name too long for an invite");
	if (inv->n_keys < 1 || inv->n_keys > MUTUAL_INVITE_KEYS_MAX)
		return mutual__fail(MUTUAL_EINVALID, "an invite carries 1 to %d keys", MUTUAL_INVITE_KEYS_MAX);
	memcpy(blob + n, inv->group_id, 16), n += 16;
	if (v2)
		blob[n++] = (uint8_t)inv->n_keys;
	for (size_t k = 0; k < inv->n_keys; k++) {
		mutual__set_u32(blob + n, inv->keys[k].id), n += 4;
		memcpy(blob + n, inv->keys[k].key, MUTUAL_GROUP_KEY_SIZE), n += MUTUAL_GROUP_KEY_SIZE;
	}
	memcpy(blob + n, inv->inviter, MUTUAL_KEY_SIZE), n += MUTUAL_KEY_SIZE;
	blob[n++] = (uint8_t)name_len;
	memcpy(blob + n, inv->name, name_len), n += name_len;
	mutual__hash(check, blob, n);
	memcpy(blob + n, check, 4), n += 4;

	if (mutual__buf_put(&b, prefix, strlen(prefix)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)blob[i] << 16;
		size_t left = n - i;
		if (left > 1)
			v |= (uint32_t)blob[i + 1] << 8;
		if (left > 2)
			v |= blob[i + 2];
		if (mutual__buf_put_u8(&b, (uint8_t)b64[v >> 18 & 63]) < 0 ||
		    mutual__buf_put_u8(&b, (uint8_t)b64[v >> 12 & 63]) < 0 ||
		    (left > 1 && mutual__buf_put_u8(&b, (uint8_t)b64[v >> 6 & 63]) < 0) ||
		    (left > 2 && mutual__buf_put_u8(&b, (uint8_t)b64[v & 63]) < 0))
			goto fail;
	}
	mutual__wipe(blob, sizeof(blob));
	if (mutual__buf_cstr(&b) < 0)
		goto fail;
	*out = (char *)b.data;
	return 0;
fail:
	mutual__wipe(blob, sizeof(blob));
	mutual__buf_free(&b);
	return MUTUAL_ERROR;
}

/* Find the token line: skip blank and '#' lines, trim spaces and CR. */
static int find_token(const char **tok, size_t *tok_len, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end, *s = p, *e = line_end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (e > s && *s != '#') {
			*tok = s;
			*tok_len = (size_t)(e - s);
			return 0;
		}
		p = eol ? eol + 1 : end;
	}
	return mutual__fail(MUTUAL_EINVALID, "the invite is empty");
}

int mutual__invite_decode(mutual_invite *out, const char *text, size_t len)
{
	uint8_t blob[INVITE_BLOB_MAX + 3], check[MUTUAL_HASH_SIZE];
	size_t prefix = strlen(MUTUAL_INVITE_PREFIX), tok_len = 0, n = 0, name_len, pos, n_keys = 1;
	const char *tok = NULL;
	uint32_t acc = 0;
	int bits = 0, rc = MUTUAL_EINVALID, v2;

	memset(out, 0, sizeof(*out));
	if (find_token(&tok, &tok_len, text, len) < 0)
		return MUTUAL_EINVALID;
	v2 = tok_len >= prefix && memcmp(tok, MUTUAL_INVITE_PREFIX_V2, prefix) == 0;
	if (!v2 && (tok_len < prefix || memcmp(tok, MUTUAL_INVITE_PREFIX, prefix) != 0)) {
		if (tok_len >= 14 && memcmp(tok, "MUTUAL-INVITE-", 14) == 0)
			return mutual__fail(MUTUAL_EVERSION, "this invite was made by a newer libmutual: upgrade to join");
		return mutual__fail(MUTUAL_EINVALID, "this is not a libmutual invite (it should start with %s)",
			MUTUAL_INVITE_PREFIX);
	}
	for (size_t i = prefix; i < tok_len; i++) {
		int v = b64_value((unsigned char)tok[i]);
		if (v < 0) {
			mutual__fail(MUTUAL_EINVALID, "the invite holds a stray character at position %zu", i + 1);
			goto done;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= sizeof(blob)) {
				mutual__fail(MUTUAL_EINVALID, "the invite is too long");
				goto done;
			}
			blob[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Canonical base64url only: the bits past the last byte must be zero,
	 * so exactly one text stands for an invite. */
	if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0) {
		mutual__fail(MUTUAL_EINVALID, "the invite is damaged (its last character is wrong): copy it again");
		goto done;
	}
	pos = 16;
	if (v2) {
		n_keys = n > pos ? blob[pos++] : 0;
		if (n_keys < 2 || n_keys > MUTUAL_INVITE_KEYS_MAX) {
			mutual__fail(MUTUAL_EINVALID, "the invite is truncated or damaged");
			goto done;
		}
	}
	if (n < pos + n_keys * (4 + MUTUAL_GROUP_KEY_SIZE) + MUTUAL_KEY_SIZE + 1 + 1 + 4) {
		mutual__fail(MUTUAL_EINVALID, "the invite is truncated");
		goto done;
	}
	for (size_t k = 0; k < n_keys; k++) {
		out->keys[k].id = mutual__get_u32(blob + pos);
		memcpy(out->keys[k].key, blob + pos + 4, MUTUAL_GROUP_KEY_SIZE);
		pos += 4 + MUTUAL_GROUP_KEY_SIZE;
	}
	out->n_keys = n_keys;
	memcpy(out->inviter, blob + pos, MUTUAL_KEY_SIZE);
	pos += MUTUAL_KEY_SIZE;
	name_len = blob[pos++];
	if (name_len == 0 || name_len > MUTUAL_NAME_MAX || n != pos + name_len + 4) {
		mutual__fail(MUTUAL_EINVALID, "the invite is truncated or damaged");
		goto done;
	}
	mutual__hash(check, blob, pos + name_len);
	if (memcmp(check, blob + pos + name_len, 4) != 0) {
		mutual__fail(MUTUAL_EINVALID, "the invite is damaged (its check does not match): copy it again");
		goto done;
	}
	memcpy(out->group_id, blob, 16);
	memcpy(out->name, blob + pos, name_len);
	out->name[name_len] = '\0';
	if ((rc = mutual__check_name(out->name, strlen(out->name), "the invite's group name", MUTUAL_NAME_NEW)) < 0)
		goto done; /* MUTUAL_EINVALID, or out of memory */
	rc = 0;
done:
	mutual__wipe(blob, sizeof(blob));
	if (rc < 0)
		mutual__wipe(out, sizeof(*out));
	return rc;
}
