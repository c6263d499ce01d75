/*
 * rotation.h - the group key rotates (rotation.c): a coordinator's
 * `mutual.key.rotate` event seals a new key to each remaining device;
 * applying one records it; settling takes this device's key from it; the
 * exporter asks which key seals which of this device's events.
 * docs/format.md, "Key rotation"; docs/membership.md.
 */
#ifndef MUTUAL_ROTATION_H
#define MUTUAL_ROTATION_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "event.h"
#include "keyring.h"

#define MUTUAL_ROTATION_TYPE "mutual.key.rotate"
#define MUTUAL_ROTATION_DEVICES_MAX 4096 /* boxes (and excluded devices) in one rotation */
#define MUTUAL_ROTATION_AFTER_MAX 64     /* keys one rotation follows */
#define MUTUAL_ROTATION_TAKEN_MAX 256    /* keys taken from one writer's rotations */

int mutual__rotation_is_type(const char *type, size_t len);

/* Record a rotation event (malformed ones are skipped, alike everywhere),
 * keeping the box sealed to this device if it holds one. Whether it counts
 * is judged when settling, once the roles are known. */
int mutual__rotation_apply(mutual_store *s, const mutual_event_rec *ev);

/* After events were applied (under the write lock): open this device's
 * boxes of rotations that count, add their keys to group.key, and make the
 * key new segments are sealed with the current one (group.key's first). */
int mutual__rotation_settle(mutual_store *s);

/* The payload of a rotation by this device: a new key, sealed to every
 * device held that is neither removed, forked, nor `also_excluded` (NULL:
 * none), which is excluded with the removed ones. */
int mutual__rotation_payload(mutual_buf *out, mutual_store *s, const uint8_t *also_excluded);

/* Append a rotation by this device (a coordinator), after `first` (NULL:
 * none; a removal, whose device it also excludes) in one batch:
 * all or nothing. `out` names the first event written. */
int mutual__rotation_write(mutual_event_id *out, mutual_store *s, const mutual_append_entry *first,
	const uint8_t *also_excluded);

/* At the start of a sync: when this device is a coordinator and the keys
 * call for it (rotation.c NOTES 5), rotate. */
int mutual__rotation_maintain(mutual_store *s);

/* Which key seals this device's events from `from_seq` on (the export):
 * each of its own rotations not yet exported ends a segment and is sealed
 * with the key it follows; after the last, `current` (NULL: none may be
 * used: `has_current` 0, `hold_reason` says why, and those events wait). */
typedef struct {
	struct mutual_own_rotation {
		uint64_t seq;
		mutual_group_key sealed_with;
	} *own;
	size_t n_own;
	int has_current;
	mutual_group_key current; /* copies: the keyring may change */
	char hold_reason[200];
} mutual_seal_plan;
int mutual__rotation_seal_plan(mutual_seal_plan *plan, mutual_store *s, uint64_t from_seq);
void mutual__rotation_seal_plan_free(mutual_seal_plan *plan);

#endif
