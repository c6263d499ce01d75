/*
 * keyring.c - the group keys of a store: group.key read whole and checked,
 * a key found by its id, a key added by rewriting the file atomically, and
 * a segment opened with whichever held key its envelope names.
 *
 * NOTES ON THE DESIGN
 *  1. The first key of the file is the current one: s->key_id and
 *     s->group_key are always a copy of s->keys[0], so the code that seals
 *     (export, fork proofs) needs nothing else. Asserted after each load
 *     and add (keyring_ok).
 *  2. A key id names a key, it does not identify one: the file may hold
 *     two keys with one id (rotations made at once), so opening tries each
 *     and the AEAD decides. The same id with the same key twice is a
 *     damaged file.
 *  3. The file changes only as a whole (a new file renamed over the old),
 *     so a reader sees the keys before or after an add, never a part. An
 *     older libmutual reads the first line only, the current key.
 */
#include "keyring.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "segment.h"
#include "store.h"

#define KEY_LINE_MAX (10 + 1 + MUTUAL_GROUP_KEY_HEX_LEN + 1) /* "4294967295 " + hex + "\n" */
#define KEY_FILE_MAX (sizeof(MUTUAL_GROUP_KEY_HEADER) - 1 + MUTUAL_GROUP_KEYS_MAX * KEY_LINE_MAX)

#ifndef NDEBUG
static int keyring_ok(const mutual_store *s)
{
	return !s->have_group_key || (s->n_keys >= 1 && s->n_keys <= MUTUAL_GROUP_KEYS_MAX && s->key_id == s->keys[0].id &&
		memcmp(s->group_key, s->keys[0].key, MUTUAL_GROUP_KEY_SIZE) == 0);
}
#endif

void mutual__keyring_free(mutual_group_key *keys, size_t n)
{
	if (!keys)
		return;
	mutual__wipe(keys, n * sizeof(*keys));
	mutual__free(keys);
}

/* One line "ID HEX" (its end found by the caller): 0, or -1 when malformed. */
static int parse_line(mutual_group_key *out, const char *p, size_t len)
{
	uint64_t id = 0;
	size_t digits = 0;

	while (digits < len && p[digits] >= '0' && p[digits] <= '9' && digits < 10)
		id = id * 10 + (uint64_t)(p[digits++] - '0');
	if (digits == 0 || id > UINT32_MAX || digits + 1 + MUTUAL_GROUP_KEY_HEX_LEN != len || p[digits] != ' ')
		return -1;
	out->id = (uint32_t)id;
	return mutual__unhex(out->key, MUTUAL_GROUP_KEY_SIZE, p + digits + 1, MUTUAL_GROUP_KEY_HEX_LEN);
}

static int same_key(const mutual_group_key *a, const mutual_group_key *b)
{
	return a->id == b->id && memcmp(a->key, b->key, MUTUAL_GROUP_KEY_SIZE) == 0;
}

int mutual__keyring_parse(mutual_group_key **out, size_t *n_out, const char *text, size_t size, const char *path)
{
	const char *end = text + size;
	mutual_group_key *keys = NULL;
	size_t n = 0, line = 1;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	while (text < end) {
		const char *nl = memchr(text, '\n', (size_t)(end - text));
		size_t len = nl ? (size_t)(nl - text) : (size_t)(end - text);
		line++;
		if (n == MUTUAL_GROUP_KEYS_MAX) {
			rc = mutual__fail(MUTUAL_ECORRUPT, "%s is damaged: more than %d keys", path, MUTUAL_GROUP_KEYS_MAX);
			goto done;
		}
		if (!keys && !(keys = mutual__calloc(MUTUAL_GROUP_KEYS_MAX, sizeof(*keys)))) {
			rc = mutual__fail(MUTUAL_ERROR, "out of memory");
			goto done;
		}
		if (parse_line(&keys[n], text, len) < 0) {
			rc = mutual__fail(MUTUAL_ECORRUPT, "%s is damaged: line %zu is not a key id and a key", path, line);
			goto done;
		}
		for (size_t i = 0; i < n; i++)
			if (same_key(&keys[i], &keys[n])) {
				rc = mutual__fail(MUTUAL_ECORRUPT, "%s is damaged: line %zu repeats line %zu", path, line, i + 2);
				goto done;
			}
		n++;
		text += nl ? len + 1 : len;
	}
	if (n == 0)
		rc = mutual__fail(MUTUAL_ECORRUPT, "%s is damaged: it holds no key", path);
done:
	if (rc < 0) {
		mutual__keyring_free(keys, MUTUAL_GROUP_KEYS_MAX);
		return rc;
	}
	*out = keys;
	*n_out = n;
	return 0;
}

/* `keys` (MUTUAL_GROUP_KEYS_MAX long, `n` used) become the handle's. */
static void keyring_set(mutual_store *s, mutual_group_key *keys, size_t n)
{
	mutual__keyring_free(s->keys, MUTUAL_GROUP_KEYS_MAX);
	s->keys = keys;
	s->n_keys = n;
	s->key_id = keys[0].id;
	memcpy(s->group_key, keys[0].key, MUTUAL_GROUP_KEY_SIZE);
	s->have_group_key = 1;
	assert(keyring_ok(s)); /* NOTES 1 */
}

int mutual__store_load_group_key(mutual_store *s)
{
	mutual_buf b = { 0 };
	mutual_group_key *keys;
	const char *rest;
	char *path;
	size_t n;
	int rc;

	if (s->have_group_key)
		return 0;
	if (!(path = mutual__path_join(s->dir, MUTUAL_GROUP_KEY_FILE)))
		return MUTUAL_ERROR;
	rc = mutual__store_read_key_file(&b, &rest, path, MUTUAL_GROUP_KEY_HEADER, KEY_FILE_MAX);
	if (rc == MUTUAL_EINVALID) /* too large */
		rc = mutual__fail(MUTUAL_ECORRUPT, "%s is damaged: more than %d keys", path, MUTUAL_GROUP_KEYS_MAX);
	if (rc == 0 && (rc = mutual__keyring_parse(&keys, &n, rest, b.len - (size_t)(rest - (const char *)b.data), path)) == 0)
		keyring_set(s, keys, n);
	if (b.data)
		mutual__wipe(b.data, b.cap);
	mutual__buf_free(&b);
	mutual__free(path);
	return rc;
}

int mutual__store_reload_group_key(mutual_store *s)
{
	s->have_group_key = 0;
	return mutual__store_load_group_key(s);
}

const mutual_group_key *mutual__keyring_next(const mutual_store *s, uint32_t id, size_t *pos)
{
	for (; *pos < s->n_keys; (*pos)++)
		if (s->keys[*pos].id == id)
			return &s->keys[(*pos)++];
	return NULL;
}

/* group.key holding `keys`, through group.key.new (NOTES 3). */
static int write_keys(const mutual_store *s, const mutual_group_key *keys, size_t n)
{
	mutual_buf text = { 0 };
	char hex[MUTUAL_GROUP_KEY_HEX_SIZE], *path = NULL, *new_path = NULL;
	int rc;

	mutual__buf_printf(&text, MUTUAL_GROUP_KEY_HEADER);
	for (size_t i = 0; i < n; i++) {
		mutual__hex(hex, keys[i].key, MUTUAL_GROUP_KEY_SIZE);
		mutual__buf_printf(&text, "%u %s\n", keys[i].id, hex);
	}
	mutual__wipe(hex, sizeof(hex));
	if ((rc = mutual__buf_check(&text)) < 0)
		goto done;
	if (!(path = mutual__path_join(s->dir, MUTUAL_GROUP_KEY_FILE)) ||
	    !(new_path = mutual__path_join(s->dir, MUTUAL_GROUP_KEY_FILE ".new"))) {
		rc = MUTUAL_ERROR;
		goto done;
	}
	unlink(new_path); /* a leftover of an interrupted add, never read */
	if ((rc = mutual__write_secret_file(new_path, text.data, text.len)) < 0)
		goto done;
	if (rename(new_path, path) < 0) {
		rc = mutual__fail(MUTUAL_ERROR, "cannot replace %s: %s", path, strerror(errno));
		unlink(new_path);
		goto done;
	}
	rc = mutual__fsync_dir(s->dir);
done:
	if (text.data)
		mutual__wipe(text.data, text.cap);
	mutual__buf_free(&text);
	mutual__free(path);
	mutual__free(new_path);
	return rc;
}

int mutual__store_add_group_key(mutual_store *s, uint32_t id, const uint8_t key[MUTUAL_GROUP_KEY_SIZE], int as_current)
{
	mutual_group_key add, *keys;
	size_t n = 0, held = SIZE_MAX;
	int rc;

	if (s->readonly)
		return mutual__fail(MUTUAL_EREADONLY, "the store at %s is read-only", s->dir);
	/* The file as it is now: another handle may have added a key since
	 * this one read it (callers hold the store's write lock). */
	if ((rc = mutual__store_reload_group_key(s)) < 0)
		return rc;
	add.id = id;
	memcpy(add.key, key, MUTUAL_GROUP_KEY_SIZE);
	for (size_t i = 0; i < s->n_keys; i++)
		if (same_key(&s->keys[i], &add))
			held = i;
	if (held != SIZE_MAX && (!as_current || held == 0)) {
		mutual__wipe(&add, sizeof(add));
		return 0;
	}
	if (held == SIZE_MAX && s->n_keys == MUTUAL_GROUP_KEYS_MAX) {
		mutual__wipe(&add, sizeof(add));
		return mutual__fail(MUTUAL_EINVALID, "this store already holds %d group keys, the most it can",
			MUTUAL_GROUP_KEYS_MAX);
	}
	if (!(keys = mutual__calloc(MUTUAL_GROUP_KEYS_MAX, sizeof(*keys)))) {
		mutual__wipe(&add, sizeof(add));
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	}
	if (as_current)
		keys[n++] = add;
	for (size_t i = 0; i < s->n_keys; i++)
		if (i != held)
			keys[n++] = s->keys[i];
	if (!as_current)
		keys[n++] = add;
	mutual__wipe(&add, sizeof(add));
	if ((rc = write_keys(s, keys, n)) < 0) {
		mutual__keyring_free(keys, MUTUAL_GROUP_KEYS_MAX);
		return rc;
	}
	keyring_set(s, keys, n);
	return 0;
}

static void no_key_message(uint32_t id)
{
	mutual__fail(MUTUAL_ENOTFOUND, "sealed with a group key this device has not received yet (key %u): it will be "
		"imported once a coordinator's key for this device arrives", id);
}

int mutual__keyring_segment_open(mutual_buf *plain, const mutual_store *s, const uint8_t *env, size_t len,
	const uint8_t device[MUTUAL_KEY_SIZE])
{
	const mutual_group_key *k;
	size_t pos = 0;
	uint32_t id;
	int rc;

	if ((rc = mutual__segment_key_id(&id, env, len)) < 0)
		return rc;
	if (!(k = mutual__keyring_next(s, id, &pos))) {
		no_key_message(id);
		return MUTUAL_ENOTFOUND;
	}
	do
		rc = mutual__segment_open(plain, env, len, s->group_id_raw, device, k->key);
	while (rc == MUTUAL_EVERIFY && (k = mutual__keyring_next(s, id, &pos)));
	return rc;
}

int mutual__keyring_check_newer(const mutual_store *s, const uint8_t *env, size_t len, const char *ref)
{
	const mutual_group_key *k;
	size_t pos = 0;
	uint32_t id;
	int rc;

	if ((rc = mutual__envelope_version(env, len)) < 0)
		return rc;
	id = mutual__get_u32(env + 5);
	if (!(k = mutual__keyring_next(s, id, &pos))) {
		no_key_message(id);
		return MUTUAL_ENOTFOUND;
	}
	do
		rc = mutual__envelope_check_newer(env, len, s->group_id_raw, ref, k->key);
	while (rc == MUTUAL_EVERIFY && (k = mutual__keyring_next(s, id, &pos)));
	return rc;
}
