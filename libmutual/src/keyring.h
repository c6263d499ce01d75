/*
 * keyring.h - the group keys a store holds (group.key): the current one,
 * which new segments are sealed with, and the older ones a rotation left,
 * which still open what was sealed before it. docs/format.md, "Key files".
 */
#ifndef MUTUAL_KEYRING_H
#define MUTUAL_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "crypto.h"

#define MUTUAL_GROUP_KEY_HEADER "mutual-group-key 1\n" /* group.key's first line */
#define MUTUAL_GROUP_KEYS_MAX 1024 /* keys one group.key holds at most */

/* One group key and its 32-bit id. Ids are not unique: two rotations made
 * at once may pick the same one, so a reader tries every key of an id. */
typedef struct mutual_group_key {
	uint32_t id;
	uint8_t key[MUTUAL_GROUP_KEY_SIZE];
} mutual_group_key;

/* Parse the `size` bytes after group.key's header line, untrusted (a NUL
 * byte is a malformed line): one "ID HEX\n"
 * per key (ID decimal, at most UINT32_MAX; HEX 64 hex digits), the current
 * key first, 1 to MUTUAL_GROUP_KEYS_MAX lines, no line twice. `*out` is
 * the caller's (mutual__keyring_free). Errors: MUTUAL_ECORRUPT naming
 * `path` and the line; MUTUAL_ERROR (out of memory). */
int mutual__keyring_parse(mutual_group_key **out, size_t *n_out, const char *text, size_t size, const char *path);
/* Wipe and free `n` keys (NULL accepted). */
void mutual__keyring_free(mutual_group_key *keys, size_t n);

/* The next key held under `id` at or after `*pos` (start with 0), moving
 * `*pos` past it; NULL when there is none. Loaded keys only
 * (mutual__store_load_group_key). Borrowed: valid until the store's keys
 * change (mutual__store_add_group_key) or it is freed. */
const mutual_group_key *mutual__keyring_next(const mutual_store *s, uint32_t id, size_t *pos);

/* Read group.key again (another handle of the store may have added a key
 * since): pointers into the keys held become invalid. Errors as
 * mutual__store_load_group_key. */
int mutual__store_reload_group_key(mutual_store *s);

/* Add a key to the store's group.key, as the current key (`as_current`:
 * new segments are sealed with it from now on) or as an older one (after
 * those held), and to the handle. A key already held (same id and bytes)
 * is not added twice: as current it moves to the front, else nothing
 * changes. The file is read again first, then rewritten whole: group.key.new (0600, fsynced),
 * renamed over group.key, the folder fsynced, so a crash leaves the old
 * file or the new one. Errors: MUTUAL_EREADONLY, MUTUAL_EINVALID (already
 * MUTUAL_GROUP_KEYS_MAX keys), a load's errors, MUTUAL_ERROR (I/O). */
int mutual__store_add_group_key(mutual_store *s, uint32_t id, const uint8_t key[MUTUAL_GROUP_KEY_SIZE], int as_current);

/* Open an untrusted envelope of version 1 found under `device`'s ref with
 * every key held under its key id, until one authenticates
 * (mutual__segment_open). MUTUAL_ENOTFOUND when no key of that id is held
 * (held back, not refused: sync_import.c NOTES 6); otherwise as
 * mutual__segment_open, MUTUAL_EVERIFY when none of them opens it. */
int mutual__keyring_segment_open(mutual_buf *plain, const mutual_store *s, const uint8_t *env, size_t len,
	const uint8_t device[MUTUAL_KEY_SIZE]);
/* The same for a newer format's envelope under `ref`
 * (mutual__envelope_check_newer); MUTUAL_ENOTFOUND when no key of its id
 * is held. The caller has checked it is an envelope (its length). */
int mutual__keyring_check_newer(const mutual_store *s, const uint8_t *env, size_t len, const char *ref);

#endif
