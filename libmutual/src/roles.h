/*
 * roles.h - the group's coordinators (roles.c): who may grant and revoke
 * the role, decided from the role events alone, the same on every device
 * that holds them (docs/membership.md, "Coordinators").
 */
#ifndef MUTUAL_ROLES_H
#define MUTUAL_ROLES_H
#include "common.h"
#include "crypto.h"
#include "event.h"

typedef struct mutual_store mutual_store;

/* A role event's action (role_events.action: part of every state digest). */
enum {
	MUTUAL_ROLE_FOUND = 1,         /* a mutual.group.create bound to the group id */
	MUTUAL_ROLE_FOUND_UNBOUND = 2, /* a mutual.group.create without a salt (a group made before roles) */
	MUTUAL_ROLE_FOUND_FALSE = 3,   /* a mutual.group.create whose salt does not give the group id */
	MUTUAL_ROLE_GRANT = 4,
	MUTUAL_ROLE_REVOKE = 5,
	MUTUAL_ROLE_REMOVE = 6, /* mutual.device.remove: a revoke that also refuses the device's events after its cut */
};
/* Its status (role_events.status): in force, or why not. */
enum {
	MUTUAL_ROLE_IN_FORCE = 0,
	MUTUAL_ROLE_NOT_COORDINATOR = 1, /* its writer was no coordinator in what it had seen */
	MUTUAL_ROLE_AFTER_CUT = 2,       /* a revoke of its writer cut it off */
	MUTUAL_ROLE_NOT_FOUNDER = 3,     /* a mutual.group.create that does not found the group */
	MUTUAL_ROLE_TOO_MANY = 4,        /* past its writer's MUTUAL_ROLE_EVENTS_MAX */
};
/* Role events of one device that count; later ones are refused. */
#define MUTUAL_ROLE_EVENTS_MAX 256
/* Bytes of the salt a mutual.group.create binds its writer with. */
#define MUTUAL_GROUP_SALT_SIZE MUTUAL_GROUP_ID_SIZE

/* The group id a founder's key and salt give (docs/format.md, "Group id"). */
void mutual__group_id_bind(uint8_t out[MUTUAL_GROUP_ID_SIZE], const uint8_t founder[MUTUAL_KEY_SIZE],
	const uint8_t salt[MUTUAL_GROUP_SALT_SIZE]);

/* One role event as the resolver reads it. */
typedef struct {
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t seq;
	int action;
	uint8_t target[MUTUAL_KEY_SIZE];
	uint64_t cut;
	const uint8_t *saw; /* the writer's seen vector (sorted frontier entries) */
	size_t saw_n;
	int status; /* out */
} mutual_role_event;

/* Decide every event's status, the coordinators (sorted keys, into
 * `coordinators`) and the removed devices (MUTUAL_REMOVAL_ENTRY entries,
 * into `removals`), from the `n` events alone: the same for any order of
 * `ev`. 0, or MUTUAL_ERROR (out of memory). */
int mutual__roles_resolve(mutual_role_event *ev, size_t n, mutual_buf *coordinators, mutual_buf *removals);

/* 1 if `type` names a role event: mutual.group.create, mutual.role.grant,
 * mutual.role.revoke or mutual.device.remove. */
int mutual__roles_is_role_type(const char *type, size_t len);

/* Apply a role event (project.c), whose writer had seen `saw`: keep it,
 * resolve again, store what changed. A malformed one is skipped (0), alike
 * everywhere. During a rebuild it is only kept: mutual__roles_settle
 * resolves once at the end. When the removals change, the store's
 * `removals_changed` is set: what is refused changed, and the caller
 * rebuilds the projections before it commits (project.c NOTES 8). */
int mutual__roles_apply(mutual_store *s, const mutual_event_rec *ev, const uint8_t *saw, size_t saw_n);

/* Resolve every role event held and store the outcome: 1 if the removals
 * changed, 0 if not, or an error. */
int mutual__roles_settle(mutual_store *s);
/* 0 when this store may write membership events: writable, and this
 * device a coordinator (MUTUAL_EPERM, MUTUAL_EREADONLY otherwise). */
int mutual__roles_may_manage(mutual_store *s);

#endif
