/*
 * store.h - the mutual_store handle shared by the files that implement it:
 * store.c (create, open, keys), invite.c, log.c (append, read, verify).
 */
#ifndef MUTUAL_STORE_H
#define MUTUAL_STORE_H

#include <stdatomic.h>
#include <stdint.h>

#include "common.h"
#include "crypto.h"
#include "db.h"
#include "keyring.h"

#define MUTUAL_DEVICE_KEY_FILE "device.key"
#define MUTUAL_GROUP_KEY_FILE "group.key"

struct mutual_store {
	char *dir;
	mutual_db *db;
	int readonly;
	uint8_t group_id_raw[MUTUAL_GROUP_ID_SIZE];
	char group_id[2 * MUTUAL_GROUP_ID_SIZE + 1];
	char *group_name;
	uint8_t self[MUTUAL_KEY_SIZE];
	char device_id[MUTUAL_KEY_HEX_SIZE];
	char *device_name;
	/* Loaded on first use, so a read-only viewer needs no secrets. */
	int have_secret;
	uint8_t secret[MUTUAL_SECRET_SIZE];
	int have_group_key;
	mutual_group_key *keys; /* keyring.c: MUTUAL_GROUP_KEYS_MAX slots, n_keys held, the current first */
	size_t n_keys;
	uint32_t key_id;        /* the current key's, a copy of keys[0] (keyring.c NOTES 1) */
	uint8_t group_key[MUTUAL_GROUP_KEY_SIZE];
	struct mutual_app *apps; /* app projections registered on this handle */
	mutual_projection_stats projection_stats;
	int rebuilding;       /* a rebuild is replaying: role events are resolved at its end */
	int removals_changed; /* what is refused changed: rebuild before commit (project.c NOTES 8) */
	int rotations_changed; /* a rotation was applied, or the roles moved: settle the keys (rotation.c) */
	struct mutual_names *names; /* names.c's display names, remade when the devices change */
#ifndef NDEBUG
	_Atomic uintptr_t user; /* NOTES 1: the thread inside the handle, 0 when none */
	unsigned int depth;     /* its nested calls (a callback that calls back) */
#endif
};

/* store.c NOTES 1: a handle is used by one thread at a time (it may move
 * between threads, one at a time). Debug builds check it at every public
 * entry that reaches the database: MUTUAL_STORE_ENTER(s), the first line
 * of such a function, marks `s` in use by this thread until the function
 * returns, and a second thread entering meanwhile fails an assert. */
#ifndef NDEBUG
mutual_store *mutual__store_enter(mutual_store *s);
void mutual__store_leave(mutual_store **entered);
#define MUTUAL_STORE_ENTER(s)                                                                \
	mutual_store *mutual__entered __attribute__((cleanup(mutual__store_leave), unused)) = \
		mutual__store_enter(s)
#else
#define MUTUAL_STORE_ENTER(s) (void)(s)
#endif

/* Load this device's secret key (checking its file's mode) if not yet. */
int mutual__store_load_secret(mutual_store *s);
/* Load the group keys (checking their file's mode) if not yet: keyring.c. */
int mutual__store_load_group_key(mutual_store *s);
/* Read a key file of at most `max` bytes, checking its mode (0600) and its
 * header line; `*rest` points after the header, NUL-terminated, in `out`
 * (the caller wipes and frees it). Errors: MUTUAL_ENOTFOUND, MUTUAL_ERROR
 * (mode, I/O), MUTUAL_EINVALID (larger than `max`), MUTUAL_ECORRUPT. */
int mutual__store_read_key_file(mutual_buf *out, const char **rest, const char *path, const char *header, size_t max);

/* Append events under `s`'s device; reserved "mutual." types allowed only
 * when `allow_reserved` (the library's own announcements). */
int mutual__append(mutual_event_id *out_first, mutual_store *s,
	const mutual_append_entry *entries, size_t n, int allow_reserved);

/* The parts of an append, for callers that hold the write transaction:
 * validate entries, then append them under s->self with s->secret. */
int mutual__append_check(const mutual_append_entry *entries, size_t n, int allow_reserved);
int mutual__append_locked(mutual_event_id *out_first, mutual_store *s, const mutual_append_entry *entries, size_t n);
/* Append `n` (1..MUTUAL_BATCH_MAX) entries that mutual__append_check has
 * passed, in one write transaction of its own: refused on a read-only
 * store or a forked device; all or nothing. */
int mutual__append_write(mutual_event_id *out_first, mutual_store *s, const mutual_append_entry *entries, size_t n);

/* What an invite carries: the group, its keys (the current first; more
 * than one only after a rotation), the inviter and the group's name. */
#define MUTUAL_INVITE_KEYS_MAX 64
typedef struct {
	uint8_t group_id[MUTUAL_GROUP_ID_SIZE];
	mutual_group_key keys[MUTUAL_INVITE_KEYS_MAX];
	size_t n_keys;
	uint8_t inviter[MUTUAL_KEY_SIZE];
	char name[MUTUAL_NAME_MAX + 1];
} mutual_invite;

/* Version 1 carries one key; version 2 (only written when the store holds
 * several) up to MUTUAL_INVITE_KEYS_MAX. */
#define MUTUAL_INVITE_PREFIX "MUTUAL-INVITE-1:"
#define MUTUAL_INVITE_PREFIX_V2 "MUTUAL-INVITE-2:"
/* Encode as one line of text (malloc'd, NUL-terminated). */
int mutual__invite_encode(char **out, const mutual_invite *inv);
/* Decode untrusted text: the token line, optionally among '#' comment lines. */
int mutual__invite_decode(mutual_invite *out, const char *text, size_t len);

/* The one name check, for group and device names, kinds, ids, field names
 * and counter keys: 0 if s[0..len) is 1..MUTUAL_NAME_MAX bytes of valid
 * UTF-8 with no control character (C0 or DEL); `what` names it in the
 * message. That is the rule for new input (MUTUAL_NAME_NEW). A kind, id,
 * field or counter in an event from a log was written under the older
 * rule (no C0 control only) and is applied as it is (MUTUAL_NAME_LOGGED),
 * so every device applies the same events; it is shown escaped. */
enum { MUTUAL_NAME_NEW, MUTUAL_NAME_LOGGED };
int mutual__check_name(const char *s, size_t len, const char *what, int rule);

#endif
