/*
 * mutual.h - the public API of libmutual, an offline-first sync library.
 *
 * Every device keeps its own append-only, hash-chained, signed log of events
 * in a local store (a folder holding an SQLite database and the device's
 * keys). Devices of one group exchange their logs; state is a deterministic
 * projection of the union of the logs.
 *
 * Conventions (read once, they hold everywhere):
 *  - Functions return int: 0 on success, one of the negative MUTUAL_E* codes
 *    on failure. mutual_error_last() then gives a one-line message, in words
 *    a person can act on, for the calling thread.
 *  - Errors: every function returning a status lists its codes. Two sets
 *    recur and are named so: "the store's read errors" are MUTUAL_EBUSY
 *    (another process held the store longer than MUTUAL_BUSY_TIMEOUT_MS),
 *    MUTUAL_ECORRUPT (its database is damaged) and MUTUAL_ERROR (out of
 *    memory, I/O, a full disk); "the store's write errors" are those and
 *    MUTUAL_EREADONLY. A function that returns no status cannot fail.
 *  - Outputs come first. A `T **out` is the caller's and is released with the
 *    matching mutual_T_free(); every free function accepts NULL. A returned
 *    `const T *` is borrowed: its doc comment says until when it stays valid.
 *  - Options structs start with `unsigned int version`; initialise them with
 *    the MUTUAL_X_OPTIONS_INIT macro or mutual_x_options_init(). NULL options
 *    mean defaults. A version this library does not know is MUTUAL_EINVALID.
 *  - Output structs (mutual_sync_stats, mutual_verify_result,
 *    mutual_projection_stats) start with `unsigned int version` too, which
 *    says how much room the caller has: initialise them with their _INIT
 *    macro. The library writes no more than that version's fields, and sets
 *    `version` to the version it filled in (lower when the library is older
 *    than the header the caller was built with). Version 0 is
 *    MUTUAL_EINVALID, before anything is done.
 *  - Threads: a mutual_store handle, and everything obtained from it, must be
 *    used by one thread at a time. Separate handles on the same store may be
 *    used from separate threads and separate processes at the same time;
 *    writes are serialised by the store and a busy store is waited for (up to
 *    MUTUAL_BUSY_TIMEOUT_MS) rather than reported.
 */
#ifndef MUTUAL_H
#define MUTUAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(MUTUAL_STATIC_BUILD)
#define MUTUAL_EXTERN __attribute__((visibility("default")))
#else
#define MUTUAL_EXTERN
#endif

#define MUTUAL_VERSION "0.1.0"
#define MUTUAL_VERSION_MAJOR 0
#define MUTUAL_VERSION_MINOR 1
#define MUTUAL_VERSION_PATCH 0

/** The library's version string, e.g. "0.1.0". Static storage. */
MUTUAL_EXTERN const char *mutual_version(void);

/* ------------------------------------------------------------------ errors */

/** Status codes. 0 is success; every failure is negative. */
enum mutual_status {
	MUTUAL_OK = 0,
	MUTUAL_ERROR = -1,      /* generic failure (I/O, out of memory, ...) */
	MUTUAL_ENOTFOUND = -3,  /* no such store, file, event or device */
	MUTUAL_EEXISTS = -4,    /* the store or file already exists */
	MUTUAL_EINVALID = -5,   /* bad input: bad JSON, bad type, bad id, too big */
	MUTUAL_EREADONLY = -6,  /* the store cannot be written */
	MUTUAL_EBUSY = -7,      /* another process held the store too long */
	MUTUAL_ECORRUPT = -8,   /* the store's files are damaged */
	MUTUAL_EVERIFY = -9,    /* a hash, chain or signature does not verify */
	MUTUAL_EVERSION = -10,  /* made by a newer libmutual: upgrade */
	MUTUAL_EREFUSED = -11,  /* a sync completed but refused some device logs */
	MUTUAL_ECANCELLED = -12, /* cancelled by a callback; nothing is half done */
	MUTUAL_EFORK = -13,     /* this device's key wrote two logs: run mutual_store_recover() */
	MUTUAL_EPERM = -14,     /* this device may not do that: it is not a coordinator, or it was removed */
	MUTUAL_ITEROVER = -31   /* an iterator has no more items (not an error) */
};

/**
 * The message of the calling thread's last failure: one line, never NULL
 * (an empty string when nothing failed yet). Valid until the thread's next
 * call into libmutual.
 */
MUTUAL_EXTERN const char *mutual_error_last(void);

/** Free memory that libmutual returned as `char **out`. Accepts NULL. */
MUTUAL_EXTERN void mutual_free(void *ptr);

/* ------------------------------------------------------------------ limits */

#define MUTUAL_TYPE_MAX 128             /* bytes in an event type */
#define MUTUAL_PAYLOAD_MAX (1024 * 1024) /* bytes in an event payload */
#define MUTUAL_NAME_MAX 200             /* bytes in a group or device name */
#define MUTUAL_JSON_DEPTH_MAX 64        /* nesting levels in a payload */
#define MUTUAL_BATCH_MAX 1000000        /* events in one batch append, entries in a mutual_batch */
#define MUTUAL_BATCH_BYTES_MAX (64 * 1024 * 1024) /* bytes of types and payloads in a mutual_batch */
#define MUTUAL_BUSY_TIMEOUT_MS 15000    /* how long a busy store is waited for */

/* ------------------------------------------------------------------ stores */

/** A device's handle on its local store. Opaque. */
typedef struct mutual_store mutual_store;

typedef struct mutual_create_options {
	unsigned int version;
	/** This device's name, shown to the group (default: the host name). */
	const char *device_name;
} mutual_create_options;

#define MUTUAL_CREATE_OPTIONS_VERSION 1
#define MUTUAL_CREATE_OPTIONS_INIT { MUTUAL_CREATE_OPTIONS_VERSION, NULL }

/**
 * Initialise `opts` to defaults.
 * Errors: MUTUAL_EINVALID (no `opts`, or a version this library does not know).
 */
MUTUAL_EXTERN int mutual_create_options_init(mutual_create_options *opts, unsigned int version);

/**
 * Create a new group and this device's store for it in `dir` (created if
 * missing, mode 0700; it must not already hold a store).
 *
 * Makes a random group id, a random group key, and this device's Ed25519
 * key pair (secret key written 0600), then appends the signed
 * `mutual.group.create` event. `group_name`: 1..MUTUAL_NAME_MAX bytes.
 *
 * Errors: MUTUAL_EEXISTS (a store is there), MUTUAL_EINVALID (no output or
 * folder, a bad name, an unknown options version), MUTUAL_ERROR (I/O, out of
 * memory). On failure nothing usable is left behind.
 * The handle is the caller's: release it with mutual_store_free().
 */
MUTUAL_EXTERN int mutual_store_create(mutual_store **out, const char *dir,
	const char *group_name, const mutual_create_options *opts);

/** Flags for mutual_store_open(). */
enum mutual_open_flags {
	MUTUAL_OPEN_DEFAULT = 0,
	MUTUAL_OPEN_READONLY = 1 /* never write, even if the store is writable */
};

/**
 * Open the store in `dir`. A store on read-only media (or one this user
 * cannot write) opens read-only by itself: reads work, writes fail with
 * MUTUAL_EREADONLY.
 *
 * Errors: MUTUAL_EINVALID (no output or folder), MUTUAL_ENOTFOUND (no store
 * there), MUTUAL_ECORRUPT (the database is damaged or is not a libmutual
 * store, a key file is damaged), MUTUAL_EVERSION (made by a newer
 * libmutual), MUTUAL_EBUSY, MUTUAL_ERROR.
 */
MUTUAL_EXTERN int mutual_store_open(mutual_store **out, const char *dir, unsigned int flags);

/** Close the store. Accepts NULL. Iterators of the store must be freed first. */
MUTUAL_EXTERN void mutual_store_free(mutual_store *store);

/**
 * 1 if writes to this handle will be refused, else 0.
 * Errors: none (a NULL store gives 1).
 */
MUTUAL_EXTERN int mutual_store_is_readonly(const mutual_store *store);

/** The group id, 32 lowercase hex characters. Valid until the store is freed. */
MUTUAL_EXTERN const char *mutual_store_group_id(const mutual_store *store);
/** The group's name. Valid until the store is freed. */
MUTUAL_EXTERN const char *mutual_store_group_name(const mutual_store *store);
/** This device's id (its public key), 64 lowercase hex characters. Valid until the store is freed. */
MUTUAL_EXTERN const char *mutual_store_device_id(const mutual_store *store);
/** This device's name. Valid until the store is freed. */
MUTUAL_EXTERN const char *mutual_store_device_name(const mutual_store *store);

/* ----------------------------------------------------------------- invites */

/**
 * Write an invite to `path` (mode 0600; refused with MUTUAL_EEXISTS if the
 * file exists). The invite holds the group id, name and key: it is a
 * SECRET. Whoever holds it can read and write the group's data, so it must
 * never travel on the stick that carries the data.
 * Errors: MUTUAL_EINVALID (no store or path), MUTUAL_EEXISTS (the file exists),
 * MUTUAL_ERROR (I/O); the store's read errors.
 */
MUTUAL_EXTERN int mutual_invite_write(mutual_store *store, const char *path);

/**
 * The invite as one line of text a person can carry (same secret as the
 * file). `*out` is the caller's, freed with mutual_free().
 * Errors: MUTUAL_EINVALID (no store or output), MUTUAL_ERROR (out of memory).
 */
MUTUAL_EXTERN int mutual_invite_text(char **out, mutual_store *store);

/**
 * Create this device's store in `dir` from the invite file at `invite_path`:
 * a new key pair, then the signed `mutual.device.join` event.
 * Errors: as mutual_store_create(), plus MUTUAL_EINVALID (a damaged or
 * unknown invite), MUTUAL_EVERSION (an invite of a newer format: upgrade)
 * and MUTUAL_ENOTFOUND (no invite file).
 */
MUTUAL_EXTERN int mutual_store_join(mutual_store **out, const char *dir,
	const char *invite_path, const mutual_create_options *opts);

/**
 * As mutual_store_join(), from the invite's text (mutual_invite_text()).
 * Errors: as mutual_store_join(), without MUTUAL_ENOTFOUND.
 */
MUTUAL_EXTERN int mutual_store_join_text(mutual_store **out, const char *dir,
	const char *invite_text, const mutual_create_options *opts);

/**
 * Go on after this device's key was found used on two machines (a store
 * copied and used on both: a fork, MUTUAL_EFORK on append). Makes a new key
 * pair for this device, announces it, and re-appends under it, in one
 * transaction, every event of this device that the fork quarantined, so
 * nothing it wrote is lost. The other machine does the same for its own.
 * `reappended` (may be NULL) gets how many events were re-appended.
 * Errors: MUTUAL_EINVALID (no store, or this device is not forked); the store's write
 * errors. On failure nothing changed.
 */
MUTUAL_EXTERN int mutual_store_recover(uint64_t *reappended, mutual_store *store);

/* ------------------------------------------------------------------ events */

#define MUTUAL_KEY_SIZE 32
#define MUTUAL_HASH_SIZE 32
/** Room for a formatted event id: 64 hex, ':', up to 20 digits, NUL. */
#define MUTUAL_EVENT_ID_STRLEN 88

/** An event's identity: the device that wrote it and its seq (1, 2, ...). */
typedef struct mutual_event_id {
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t seq;
} mutual_event_id;

/**
 * Write `id` as "<64 hex device>:<seq>" into `buf` (at least MUTUAL_EVENT_ID_STRLEN bytes).
 * Errors: MUTUAL_EINVALID (no id or buffer, or `size` below MUTUAL_EVENT_ID_STRLEN).
 */
MUTUAL_EXTERN int mutual_event_id_format(char *buf, size_t size, const mutual_event_id *id);
/**
 * Parse "<64 hex device>:<seq>".
 * Errors: MUTUAL_EINVALID (no output or text, or not "<64 hex>:<seq from 1>").
 */
MUTUAL_EXTERN int mutual_event_id_parse(mutual_event_id *out, const char *str);

/** One entry of a batch append. */
typedef struct mutual_append_entry {
	const char *type;    /* see mutual_append() */
	const char *payload; /* see mutual_append() */
} mutual_append_entry;

/**
 * Append one event to this device's log and return once it is durable
 * (fsynced): an acknowledged event survives a power cut.
 *
 * `type`: 1..MUTUAL_TYPE_MAX bytes of [a-z0-9._-], starting with a letter,
 * e.g. "pantry.stock.in"; types starting with "mutual." are the library's
 * own and refused here. `payload`: a JSON object (RFC 8259, UTF-8), at most
 * MUTUAL_PAYLOAD_MAX bytes and MUTUAL_JSON_DEPTH_MAX levels of nesting,
 * stored byte for byte as given.
 *
 * `out` (may be NULL) receives the new event's id.
 * Errors: MUTUAL_EINVALID (no store, a bad type or payload), MUTUAL_EFORK
 * (this device's key was used on two machines: mutual_store_recover()); the
 * store's write errors. On any error the log is unchanged.
 */
MUTUAL_EXTERN int mutual_append(mutual_event_id *out, mutual_store *store,
	const char *type, const char *payload);

/**
 * Append `n` events (1..MUTUAL_BATCH_MAX) in one transaction: all or none.
 * Their seqs are consecutive; `out_first` (may be NULL) receives the first
 * id. The batch's last event carries the device's signature, which covers
 * the whole batch through the hash chain.
 * Errors: as mutual_append(), plus MUTUAL_EINVALID for `n` of 0 or above
 * MUTUAL_BATCH_MAX (the message names the first bad entry). On any error no event of the
 * batch is written.
 */
MUTUAL_EXTERN int mutual_append_batch(mutual_event_id *out_first, mutual_store *store,
	const mutual_append_entry *entries, size_t n);

/** One event read from a store. Opaque; read it through the accessors. */
typedef struct mutual_event mutual_event;

/** Accessors. Returned pointers live as long as the event does. */
MUTUAL_EXTERN const mutual_event_id *mutual_event_get_id(const mutual_event *ev);
/** Hybrid logical clock: milliseconds since 1970 << 16 | a logical counter. */
MUTUAL_EXTERN uint64_t mutual_event_hlc(const mutual_event *ev);
MUTUAL_EXTERN const char *mutual_event_type(const mutual_event *ev);
/** The payload, NUL-terminated JSON text. */
MUTUAL_EXTERN const char *mutual_event_payload(const mutual_event *ev);
MUTUAL_EXTERN size_t mutual_event_payload_len(const mutual_event *ev);
/** The event's hash (MUTUAL_HASH_SIZE bytes), see docs/format.md. */
MUTUAL_EXTERN const uint8_t *mutual_event_hash(const mutual_event *ev);
/** The name the writing device announced, or "" if not known. */
MUTUAL_EXTERN const char *mutual_event_device_name(const mutual_event *ev);
/**
 * 1 if the event is quarantined: its device was proven to have signed two
 * different logs (the same key on two machines) at or before this seq. A
 * quarantined event is kept and shown but must not be applied to state
 * until its owner re-appends it under a new key (mutual_store_recover()).
 * Errors: none (returns 0 or 1).
 */
MUTUAL_EXTERN int mutual_event_quarantined(const mutual_event *ev);
/**
 * 1 if the event is refused: a coordinator removed its device
 * (mutual_device_remove()) and it comes after the removal's cut. A refused
 * event is kept and forwarded as evidence, shown, and never applied.
 * Errors: none (returns 0 or 1).
 */
MUTUAL_EXTERN int mutual_event_refused(const mutual_event *ev);

/** mutual_event_pending(): why a held event is not applied yet. */
enum {
	MUTUAL_EVENT_APPLIED = 0,   /* applied (or quarantined, see above) */
	MUTUAL_EVENT_WAITING = 1,   /* its frontier names an event this store does not hold yet */
	MUTUAL_EVENT_HELD_BACK = 2  /* its clock runs too far past the clocks it follows */
};
/**
 * Whether the event is applied. A waiting or held-back event is kept,
 * shown and forwarded like any other, and applied, the same way on every
 * device, once what it waits for is held (docs/format.md, "When an event
 * is applied").
 * Errors: none (returns one of the values above).
 */
MUTUAL_EXTERN int mutual_event_pending(const mutual_event *ev);
/**
 * How many held events wait for a cause, and how many are held back.
 * Errors: MUTUAL_EINVALID (no store or outputs); the store's read errors.
 */
MUTUAL_EXTERN int mutual_pending_count(mutual_store *store, uint64_t *waiting, uint64_t *held_back);

/**
 * Fetch one event. `*out` is the caller's, freed with mutual_event_free().
 * Errors: MUTUAL_EINVALID (no store, id or output), MUTUAL_ENOTFOUND (the
 * store does not hold it); the store's read errors.
 */
MUTUAL_EXTERN int mutual_event_lookup(mutual_event **out, mutual_store *store,
	const mutual_event_id *id);
MUTUAL_EXTERN void mutual_event_free(mutual_event *ev);

/** Filters for reading the log. All-zero / NULL fields mean "no filter". */
typedef struct mutual_iter_options {
	unsigned int version;
	const char *type;          /* only events of this exact type */
	const uint8_t *device;     /* only events of this device (MUTUAL_KEY_SIZE bytes) */
	const mutual_event_id *after; /* only events after this one in the total order */
	uint64_t limit;            /* at most this many events; 0: all */
} mutual_iter_options;

#define MUTUAL_ITER_OPTIONS_VERSION 1
#define MUTUAL_ITER_OPTIONS_INIT { MUTUAL_ITER_OPTIONS_VERSION, NULL, NULL, NULL, 0 }
/** Errors: MUTUAL_EINVALID (no `opts`, or an unknown version). */
MUTUAL_EXTERN int mutual_iter_options_init(mutual_iter_options *opts, unsigned int version);

/** An iterator over events in the total order (hlc, device, seq). Opaque. */
typedef struct mutual_iter mutual_iter;

/**
 * Start reading events in the total order (hlc, device, seq), the same on
 * every device holding the same events. The iterator sees the store as it
 * was when the iterator was made.
 * Errors: MUTUAL_EINVALID (no store or output, an unknown options version),
 * MUTUAL_ENOTFOUND (`after` is not held); the store's read errors.
 */
MUTUAL_EXTERN int mutual_iter_new(mutual_iter **out, mutual_store *store,
	const mutual_iter_options *opts);
/**
 * The next event: 0 and `*out` set, or MUTUAL_ITEROVER at the end. `*out` is
 * borrowed: valid until the next call on this iterator or its free.
 * Errors: MUTUAL_ITEROVER (the end, not an error), MUTUAL_EINVALID (no iterator or
 * output); the store's read errors.
 */
MUTUAL_EXTERN int mutual_iter_next(const mutual_event **out, mutual_iter *iter);
MUTUAL_EXTERN void mutual_iter_free(mutual_iter *iter);

/* ----------------------------------------------------------------- devices */

/** What a store knows of one device. Borrowed: valid during the callback only. */
typedef struct mutual_device_info {
	const char *id;       /* 64 lowercase hex: the public key */
	const char *name;     /* as announced, or "" */
	uint64_t events;      /* events held from it */
	uint64_t head_seq;    /* its highest seq held (gapless: == events) */
	int is_self;          /* 1 for this store's own device */
	uint64_t fork_seq;    /* 0, or the seq from which its events are quarantined */
	int removed;          /* 1 if a coordinator removed it from the group */
	uint64_t removed_cut; /* then: its last event that counts; those after it are refused */
} mutual_device_info;

/** Called once per device; return non-zero to stop (that value is returned). */
typedef int (*mutual_device_cb)(const mutual_device_info *info, void *payload);

/**
 * Call `cb` for every device the store holds events of, ordered by id.
 * Errors: MUTUAL_EINVALID (no store or callback), the callback's non-zero value; the
 * store's read errors.
 */
MUTUAL_EXTERN int mutual_device_foreach(mutual_store *store, mutual_device_cb cb, void *payload);

/**
 * Resolve `name_or_id` (a device name, a hex prefix of at least 4
 * characters of its id, or its display form "name~1a2b..." as
 * mutual_device_display_name() shows it) to the device's key.
 * MUTUAL_ENOTFOUND if none matches, MUTUAL_EINVALID if several do.
 * Errors: MUTUAL_EINVALID (nothing given, or several devices match), MUTUAL_ENOTFOUND
 * (none matches); the store's read errors.
 */
MUTUAL_EXTERN int mutual_device_resolve(uint8_t out[MUTUAL_KEY_SIZE], mutual_store *store,
	const char *name_or_id);

/**
 * The name to show for the device `device_id` (64 hex characters, as in
 * mutual_device_info.id or mutual_store_device_id()). A name is free text
 * any member chooses, so names never identify a device on their own: the
 * display form is the announced name when no other device the store holds
 * has a name that collides with it (equal after NFKC, case folding and
 * Unicode's confusable skeletons: "laptop", "LAPTOP", "ｌａｐｔｏｐ" and
 * "lаptop" with a Cyrillic а all collide), and otherwise, for every member
 * of the colliding set, "name~" and the first 12 or more hex characters of
 * the device's id (48 bits; more when that is needed to tell the set
 * apart). It depends only on the devices held, so every store holding the
 * same devices shows the same forms, and no two held devices show the
 * same. Show it wherever a person reads a device's name; the raw names
 * stay in mutual_event_device_name() and mutual_device_info.name.
 *
 * Cheap to call per event: the forms are kept per handle and remade when
 * the store changes. `*out` is borrowed: valid until the next call on this
 * store handle.
 * Errors: MUTUAL_EINVALID (no store or output, not a device id),
 * MUTUAL_ENOTFOUND (the store holds no such device); the store's read errors.
 */
MUTUAL_EXTERN int mutual_device_display_name(const char **out, mutual_store *store, const char *device_id);

/* ------------------------------------------------------------ coordinators */

/*
 * Coordinators manage the group's membership. The device that created the
 * group is one; a coordinator can make another device a coordinator or take
 * the role back. Whether a role event counts is decided from the role
 * events alone, the same on every device that holds them, whatever order
 * they arrived in (docs/membership.md, "Coordinators", gives the rules).
 */

/** mutual_coordinator_revoke()'s cut: the last event of the device this store holds. */
#define MUTUAL_CUT_HELD UINT64_MAX

/**
 * Make the device `device` (a key, as mutual_device_resolve() gives) a
 * coordinator: a signed `mutual.role.grant` of this device.
 * Errors: MUTUAL_EINVALID (no store or device), MUTUAL_EPERM (this device is
 * not a coordinator), MUTUAL_ENOTFOUND (the store holds no such device),
 * MUTUAL_EEXISTS (it is a coordinator already), MUTUAL_EFORK; the store's
 * read/write errors.
 */
MUTUAL_EXTERN int mutual_coordinator_grant(mutual_event_id *out, mutual_store *store,
	const uint8_t device[MUTUAL_KEY_SIZE]);

/**
 * Take the coordinator role back from `device` (this device's own, to step
 * down): a signed `mutual.role.revoke` naming a cut, the last of that
 * device's events whose role actions stay valid; its role actions after
 * the cut never count, on any device, whatever it had seen. `cut` is a seq
 * of that device this store holds, or MUTUAL_CUT_HELD for the last one.
 * Refused when it would leave the group with no coordinator.
 * Errors: MUTUAL_EINVALID (no store or device, a cut past what this store
 * holds, or no coordinator would be left), MUTUAL_EPERM (this device is not a
 * coordinator), MUTUAL_ENOTFOUND (`device` is not a coordinator),
 * MUTUAL_EFORK; the store's read/write errors.
 */
MUTUAL_EXTERN int mutual_coordinator_revoke(mutual_event_id *out, mutual_store *store,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t cut);

/**
 * 1 if `device` is a coordinator in what this store holds, 0 if not.
 * Errors: MUTUAL_EINVALID (no store or device); the store's read errors.
 */
MUTUAL_EXTERN int mutual_is_coordinator(mutual_store *store, const uint8_t device[MUTUAL_KEY_SIZE]);

/** Called once per coordinator with its id (64 hex); non-zero stops (and is returned). */
typedef int (*mutual_coordinator_cb)(const char *device_id, void *payload);

/**
 * Call `cb` for every coordinator, ordered by id.
 * Errors: MUTUAL_EINVALID (no store or callback), the callback's non-zero
 * value; the store's read errors.
 */
MUTUAL_EXTERN int mutual_coordinator_foreach(mutual_store *store, mutual_coordinator_cb cb, void *payload);

/** A role event and whether it counts. Borrowed: valid during the callback only. */
typedef struct mutual_role_action {
	mutual_event_id id;  /* the event */
	const char *action;  /* "found", "grant" or "revoke" */
	const char *target;  /* 64 hex: the device it makes or unmakes a coordinator */
	uint64_t cut;        /* a revoke's cut; 0 otherwise */
	int in_force;        /* 1 if it counts */
	const char *refused; /* why it does not, one line; NULL when it counts */
} mutual_role_action;

typedef int (*mutual_role_action_cb)(const mutual_role_action *action, void *payload);

/**
 * Call `cb` for every role event the store holds (the group's creation
 * included), by writer and seq, with whether it counts and why not.
 * Errors: MUTUAL_EINVALID (no store or callback), the callback's non-zero
 * value; the store's read errors.
 */
MUTUAL_EXTERN int mutual_role_action_foreach(mutual_store *store, mutual_role_action_cb cb, void *payload);

/* ---------------------------------------------------------------- removal */

/**
 * Remove `device` from the group (a lost or stolen laptop, a volunteer who
 * left): a signed `mutual.device.remove` naming a cut, the last event of
 * that device that stays valid, by seq and hash. Its events after the cut
 * are refused on every device that knows of the removal (kept and
 * forwarded as evidence, shown by mutual_event_refused(), never applied),
 * and it is no coordinator any more, for good. `cut` is a seq of that
 * device this store holds, or MUTUAL_CUT_HELD for the last one; removing it
 * again with another cut (after review) moves the cut.
 * Only a coordinator may remove; a device cannot remove itself, and the
 * group's last coordinator cannot be removed. Sync to tell the group.
 * The group key rotates in the same batch (mutual_key_rotate(), excluding
 * the removed device); `out` names the removal.
 * Errors: MUTUAL_EINVALID (no store or device, a cut past what this store
 * holds, this device itself, or the last coordinator), MUTUAL_EPERM (this
 * device is not a coordinator), MUTUAL_ENOTFOUND (the store holds no such
 * device), MUTUAL_EEXISTS (it is removed already, and `cut` is its cut or
 * MUTUAL_CUT_HELD: moving a cut takes a chosen seq),
 * MUTUAL_EREADONLY, MUTUAL_EFORK; the store's read/write errors.
 */
MUTUAL_EXTERN int mutual_device_remove(mutual_event_id *out, mutual_store *store,
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t cut);

/**
 * Rotate the group key: a new key, sealed to each device of the group this
 * store holds that is not removed or forked (docs/membership.md, "Keys").
 * From the sync that carries it on, every device that receives it seals
 * its new events with it; old keys stay, to read what they sealed. Use it
 * after a stick or laptop was lost without removing anyone. Only a
 * coordinator may rotate. Errors: MUTUAL_EINVALID (no store; more devices
 * than one rotation seals to, MUTUAL_ROTATION_DEVICES_MAX in
 * docs/format.md), MUTUAL_EPERM (this device is not a coordinator),
 * MUTUAL_EREADONLY, MUTUAL_EFORK; the store's read/write errors.
 */
MUTUAL_EXTERN int mutual_key_rotate(mutual_event_id *out, mutual_store *store);

/* ------------------------------------------------------------------ verify */

typedef struct mutual_verify_result {
	unsigned int version;
	uint64_t events;       /* events checked */
	uint64_t devices;      /* device chains checked */
	uint64_t signatures;   /* signatures checked */
	int ok;                /* 1 when everything verified */
	mutual_event_id bad;   /* the first bad event (lowest seq of the first bad chain) */
	char reason[256];      /* why it is bad, one line */
} mutual_verify_result;

#define MUTUAL_VERIFY_RESULT_VERSION 1
#define MUTUAL_VERIFY_RESULT_INIT { MUTUAL_VERIFY_RESULT_VERSION, 0, 0, 0, 0, { { 0 }, 0 }, { 0 } }

/**
 * Check the whole store: the database's own integrity, then for every device
 * recompute every event's payload digest and hash from the stored fields,
 * check every chain link, seq gap and signature, and that every event is
 * covered by a signature. `out` (may be NULL) gets the figures and the first
 * bad event. Returns 0 when all is well, MUTUAL_EVERIFY when an event is bad,
 * MUTUAL_ECORRUPT when the database itself is damaged.
 * Errors: MUTUAL_EVERIFY (an event is bad: `out` says which), MUTUAL_ECORRUPT (the
 * database itself is damaged), MUTUAL_EINVALID (no store, or `out` with version 0); the
 * store's read errors.
 */
MUTUAL_EXTERN int mutual_verify(mutual_verify_result *out, mutual_store *store);

/* ------------------------------------------------------------- projections */

/*
 * State is a deterministic projection of the merged logs: any two stores
 * holding the same events show the same state, byte for byte, whatever
 * order the events arrived in. Quarantined events are never applied.
 *
 * Entities: records of a `kind` with an `id` (each 1..MUTUAL_NAME_MAX
 * bytes). Each field is a register: its value is the latest write in the
 * total order among the writes no other write of that field has seen;
 * concurrent writes that lost (neither writer had seen the other) stay as
 * the field's conflicts until a write that saw them settles them. A delete
 * concurrent with an edit is such a conflict too (on the field "_deleted").
 */

/** Set the fields given in the JSON object `fields` ({"status":"open"}).
 *  Field names: 1..MUTUAL_NAME_MAX bytes, not starting with '_'.
 * Errors: MUTUAL_EINVALID (a bad kind, id, field name or JSON object), MUTUAL_EFORK (as
 * mutual_append()); the store's write errors. On any error the log is unchanged.
 */
MUTUAL_EXTERN int mutual_entity_put(mutual_event_id *out, mutual_store *store, const char *kind,
	const char *id, const char *fields);
/**
 * Delete the entity (a later put restores it).
 * Errors: MUTUAL_EINVALID (a bad kind or id), MUTUAL_EFORK; the store's write errors.
 */
MUTUAL_EXTERN int mutual_entity_delete(mutual_event_id *out, mutual_store *store, const char *kind,
	const char *id);

/**
 * The canonical JSON of the entities of `kind` (all, or the one `id`):
 * {"entities":[{"conflicts":{F:[{"device","hlc","seq","value"}...]},
 * "deleted":B,"fields":{F:V},"id":I,"writers":{F:{"device","hlc","seq"}}}],
 * "kind":K}; keys sorted, no white space: the same state prints the same
 * bytes on every device. `*out` is the caller's (mutual_free()).
 * MUTUAL_ENOTFOUND when `id` is given and unknown.
 * Errors: MUTUAL_EINVALID (no store or output, a bad kind), MUTUAL_ENOTFOUND (`id` given
 * and unknown); the store's read errors.
 */
MUTUAL_EXTERN int mutual_state_json(char **out, mutual_store *store, const char *kind, const char *id);

/*
 * Typed state, filtered and paged: a walk over the entities of one kind
 * in libgit2's manner (an iterator, or mutual_entity_foreach), giving each
 * entity's fields with the write that holds each and its open conflicts,
 * as mutual_state_json shows them, without JSON to parse again.
 *
 *     mutual_entity_where open[] = { { "status", "\"open\"" }, { "area", "\"North\"" } };
 *     mutual_entity_options o = MUTUAL_ENTITY_OPTIONS_INIT;
 *     const mutual_entity *e;
 *     mutual_entity_iter *it;
 *     o.kind = "board.post";
 *     o.where = open;
 *     o.n_where = 2;
 *     o.limit = 50;          // a page of 50; o.after = the last one's cursor resumes
 *     if (mutual_entity_iter_new(&it, store, &o) == 0) {
 *             while (mutual_entity_iter_next(&e, it) == 0)
 *                     printf("%s\n", e->id);
 *             mutual_entity_iter_free(it);
 *     }
 *
 * The walk reads the store's resolved fields (an index per field value),
 * so a filter or a page costs what it returns, not the kind's size.
 */

/** One write of a field: the one that holds, or an open conflict. */
typedef struct mutual_field_write {
	uint8_t device[MUTUAL_KEY_SIZE]; /* its writer */
	uint64_t seq;                    /* the writer's event */
	uint64_t hlc;                    /* the event's clock (ms << 16 | counter) */
	const char *value;               /* canonical JSON */
	const char *text;                /* the value decoded when it is a JSON string
					    (without U+0000), else NULL */
} mutual_field_write;

/** A field: its name, the write that holds, and the concurrent writes
 *  that set another value (newest first in the total order). */
typedef struct mutual_entity_field {
	const char *name;
	mutual_field_write write;
	const mutual_field_write *conflicts;
	size_t n_conflicts;
} mutual_entity_field;

/** An entity as the walk gives it; borrowed until the next call on the
 *  iterator (or the foreach callback's return). */
typedef struct mutual_entity {
	const char *kind;
	const char *id;
	int deleted;                   /* the entity's delete holds */
	mutual_entity_field deletion;  /* its register "_deleted" (conflicts: a
					  delete concurrent with an edit) */
	const mutual_entity_field *fields; /* by name; "_deleted" is not among them */
	size_t n_fields;
	const char *cursor;            /* give as `after` to resume after this entity */
} mutual_entity;

/** A field-equality filter: the field's value equals `value` (JSON text,
 *  compared in canonical form: "\"open\"", "3", "true"). */
typedef struct mutual_entity_where {
	const char *field;
	const char *value;
} mutual_entity_where;

#define MUTUAL_ENTITY_WHERE_MAX 8 /* filters in one walk */
#define MUTUAL_ENTITY_CURSOR_MAX (2 * (MUTUAL_PAYLOAD_MAX + 2 * MUTUAL_NAME_MAX + 16)) /* chars in a cursor */

/** What to walk. All-zero / NULL fields mean "no filter". */
typedef struct mutual_entity_options {
	unsigned int version;
	const char *kind;                  /* required */
	const char *id;                    /* only this entity */
	const mutual_entity_where *where;  /* all of these hold */
	size_t n_where;                    /* at most MUTUAL_ENTITY_WHERE_MAX */
	const char *order_by;              /* NULL: by id; a field: by its value, then by id
					      (numbers, then strings, then other JSON by its text;
					      equal numbers written apart, 1 and 1.0, by their text;
					      an entity without that field is not listed) */
	int descending;                    /* the order reversed */
	uint64_t limit;                    /* at most this many entities; 0: all */
	const char *after;                 /* a cursor of this order: resume after it */
	int include_deleted;               /* deleted entities too */
} mutual_entity_options;

#define MUTUAL_ENTITY_OPTIONS_VERSION 1
#define MUTUAL_ENTITY_OPTIONS_INIT { MUTUAL_ENTITY_OPTIONS_VERSION, NULL, NULL, NULL, 0, NULL, 0, 0, NULL, 0 }
/** Errors: MUTUAL_EINVALID (no `opts`, or an unknown version). */
MUTUAL_EXTERN int mutual_entity_options_init(mutual_entity_options *opts, unsigned int version);

/** A walk over entities. Opaque. */
typedef struct mutual_entity_iter mutual_entity_iter;

/**
 * Start a walk. Writes made through the same store while a walk is open
 * may or may not be seen by it; a cursor resumes correctly after them.
 * Errors: MUTUAL_EINVALID (no store, output or options; an unknown options
 * version; no kind, a bad kind, id or field name, a field starting with '_',
 * a filter value that is not JSON, more than MUTUAL_ENTITY_WHERE_MAX filters,
 * a cursor that is not one of this order's); the store's read errors.
 */
MUTUAL_EXTERN int mutual_entity_iter_new(mutual_entity_iter **out, mutual_store *store,
	const mutual_entity_options *opts);
/**
 * The next entity: 0 and `*out` set, or MUTUAL_ITEROVER at the end (or at
 * the limit). `*out` is borrowed until the next call on this iterator.
 * Errors: MUTUAL_ITEROVER (the end, not an error), MUTUAL_EINVALID (no
 * iterator or output); the store's read errors.
 */
MUTUAL_EXTERN int mutual_entity_iter_next(const mutual_entity **out, mutual_entity_iter *iter);
MUTUAL_EXTERN void mutual_entity_iter_free(mutual_entity_iter *iter);

/** An entity handed to mutual_entity_foreach; non-zero stops the walk. */
typedef int (*mutual_entity_cb)(const mutual_entity *entity, void *payload);
/**
 * The same walk with a callback: `cb` gets each entity in turn.
 * Errors: MUTUAL_EINVALID (no callback, or options mutual_entity_iter_new
 * refuses); the store's read errors; the callback's non-zero value.
 */
MUTUAL_EXTERN int mutual_entity_foreach(mutual_store *store, const mutual_entity_options *opts,
	mutual_entity_cb cb, void *payload);

/** Add `delta` (a number with at most 6 decimals, like "12" or "-0.25") to
 *  counter `key`. Sums are exact under any order (fixed point, never floats).
 * Errors: MUTUAL_EINVALID (a bad key, or a delta that is not a number with at most 6
 * decimals), MUTUAL_EFORK; the store's write errors.
 */
MUTUAL_EXTERN int mutual_counter_add(mutual_event_id *out, mutual_store *store, const char *key,
	const char *delta);
/**
 * Canonical JSON {"key":value,...} of all counters, or of one `key`.
 * Errors: MUTUAL_EINVALID (no store or output), MUTUAL_ENOTFOUND (`key` given and
 * unknown); the store's read errors.
 */
MUTUAL_EXTERN int mutual_counters_json(char **out, mutual_store *store, const char *key);

/** A digest (BLAKE2b-256) of every projection: entities and their
 *  conflicts, counters, forks and every app projection's tables.
 * Errors: MUTUAL_EINVALID (no store or output); the store's read errors.
 */
MUTUAL_EXTERN int mutual_state_digest(uint8_t out[MUTUAL_HASH_SIZE], mutual_store *store);
/**
 * Regenerate every projection from the log.
 * Errors: MUTUAL_EINVALID (no store); the store's write errors. On failure the
 * projections are as before.
 */
MUTUAL_EXTERN int mutual_rebuild(mutual_store *store);

/** What this handle's projections have done, to see what an event costs. */
typedef struct mutual_projection_stats {
	unsigned int version;
	uint64_t events_applied;      /* entity and counter events applied */
	uint64_t fields_updated;      /* field registers and counters touched */
	uint64_t app_events_applied;  /* events run through app projections' SQL */
	uint64_t app_replays;         /* app projections emptied and replayed */
} mutual_projection_stats;
#define MUTUAL_PROJECTION_STATS_VERSION 1
#define MUTUAL_PROJECTION_STATS_INIT { MUTUAL_PROJECTION_STATS_VERSION, 0, 0, 0, 0 }
/** Errors: MUTUAL_EINVALID (no store or output, or `out` with version 0). */
MUTUAL_EXTERN int mutual_projection_stats_get(mutual_projection_stats *out, const mutual_store *store);

/**
 * An app-defined projection, in SQL. `schema` creates its tables, which
 * must be named `<name>_...`; `reset` empties them; `apply` (one or more
 * statements) runs for each applicable event in the total order, with the
 * parameters :device (blob), :seq, :hlc, :type and :payload (JSON text, use
 * SQLite's json_extract). `type_prefix` (may be NULL) limits it to events
 * whose type starts so. Bump `schema_version` when the schema changes: the
 * tables are remade and replayed. The SQL runs with the store's authority:
 * it must only touch its own tables.
 */
typedef struct mutual_projection_def {
	unsigned int version;
	const char *name;
	unsigned int schema_version;
	const char *schema;
	const char *reset;
	const char *type_prefix;
	const char *apply;
} mutual_projection_def;
#define MUTUAL_PROJECTION_DEF_VERSION 1
#define MUTUAL_PROJECTION_DEF_INIT { MUTUAL_PROJECTION_DEF_VERSION, NULL, 1, NULL, NULL, NULL, NULL }
/** Errors: MUTUAL_EINVALID (no `def`, or an unknown version). */
MUTUAL_EXTERN int mutual_projection_def_init(mutual_projection_def *def, unsigned int version);

/**
 * Register an app projection on this handle and bring it up to date. Each
 * read (mutual_query, mutual_state_json, mutual_state_digest) first
 * applies what arrived since, from any process; an event that sorts before
 * what was applied replays the projection, so its tables are always the
 * same function of the log.
 * Errors: MUTUAL_EEXISTS (the name is registered on this handle),
 * MUTUAL_EINVALID (no store or definition, an unknown version, a bad name,
 * SQL that does not compile or writes tables not named `<name>_...`); the
 * store's write errors. On failure the projection is not registered.
 */
MUTUAL_EXTERN int mutual_projection_register(mutual_store *store, const mutual_projection_def *def);

/** One row of a query: `values[i]` is NULL for SQL NULL. Borrowed for the call. */
typedef int (*mutual_row_cb)(int columns, const char *const *names, const char *const *values, void *payload);
/**
 * Run a read-only SQL query (on app projection tables, typically) with
 * `params` bound as text to ?1..?n; `cb` gets each row (non-zero stops:
 * that value is returned). Statements that would write are refused.
 * Errors: MUTUAL_EINVALID (no store, SQL or callback; SQL that is not valid,
 * is not exactly one statement, would write, or takes another number of
 * parameters than `n_params`), the callback's non-zero value; the store's
 * read errors (bringing app projections up to date first can also give the
 * store's write errors).
 */
MUTUAL_EXTERN int mutual_query(mutual_store *store, const char *sql, const char *const *params, size_t n_params,
	mutual_row_cb cb, void *payload);

/* ----------------------------------------------------------------- batches */

/*
 * A batch of typed writes committed as one: app events and the library's
 * entity and counter writes, in the order added, as consecutive events of
 * this device in one transaction (one fsync). The state afterwards is what
 * the same single calls (mutual_append, mutual_entity_put, ...) one by one
 * would make. Each entry is checked as its single call checks it when it
 * is added, so a commit fails only for the store's reasons. A batch holds
 * at most MUTUAL_BATCH_MAX entries and MUTUAL_BATCH_BYTES_MAX bytes of
 * event types and payloads (an entity or counter write counts its payload
 * as stored: {"kind":..,"id":..,"fields":..}).
 *
 *     mutual_batch *b;
 *     if (mutual_batch_new(&b, store) == 0 &&
 *         mutual_batch_entity_put(b, "item", "rice", "{\"shelf\":\"A3\"}") == 0 &&
 *         mutual_batch_counter_add(b, "rice-kg", "12.5") == 0)
 *             rc = mutual_batch_commit(NULL, b);
 *     mutual_batch_free(b);
 *
 * A batch belongs to its store's thread and must be freed before the store.
 */
typedef struct mutual_batch mutual_batch;

/**
 * A new, empty batch of writes to `store`. `*out` is the caller's, freed
 * with mutual_batch_free(); it keeps a pointer to `store`, which must
 * outlive it.
 * Errors: MUTUAL_EINVALID (no output or store), MUTUAL_EREADONLY (the store
 * cannot be written: no batch could ever commit), MUTUAL_ERROR (out of memory).
 */
MUTUAL_EXTERN int mutual_batch_new(mutual_batch **out, mutual_store *store);

/**
 * Add an app event, as mutual_append() would write it: the same `type`
 * (not "mutual.") and `payload` (a JSON object, NUL-terminated) rules.
 * Both are copied.
 * Errors: MUTUAL_EINVALID (no batch, a bad type or payload, the batch full:
 * MUTUAL_BATCH_MAX entries or MUTUAL_BATCH_BYTES_MAX bytes), MUTUAL_ERROR
 * (out of memory). On any error the batch is unchanged.
 */
MUTUAL_EXTERN int mutual_batch_append(mutual_batch *b, const char *type, const char *payload);

/**
 * Add an entity put, as mutual_entity_put() would write it.
 * Errors: MUTUAL_EINVALID (no batch, a bad kind, id, field name or JSON
 * object, the batch full), MUTUAL_ERROR (out of memory). On any error the
 * batch is unchanged.
 */
MUTUAL_EXTERN int mutual_batch_entity_put(mutual_batch *b, const char *kind, const char *id, const char *fields);

/**
 * Add an entity delete, as mutual_entity_delete() would write it.
 * Errors: MUTUAL_EINVALID (no batch, a bad kind or id, the batch full),
 * MUTUAL_ERROR (out of memory). On any error the batch is unchanged.
 */
MUTUAL_EXTERN int mutual_batch_entity_delete(mutual_batch *b, const char *kind, const char *id);

/**
 * Add a counter add, as mutual_counter_add() would write it.
 * Errors: MUTUAL_EINVALID (no batch, a bad key or delta, the batch full),
 * MUTUAL_ERROR (out of memory). On any error the batch is unchanged.
 */
MUTUAL_EXTERN int mutual_batch_counter_add(mutual_batch *b, const char *key, const char *delta);

/**
 * How many entries the batch holds (0 for NULL).
 * Errors: none.
 */
MUTUAL_EXTERN size_t mutual_batch_count(const mutual_batch *b);

/**
 * Write every entry of the batch, in the order added, as consecutive
 * events of this device in one transaction, and return once they are
 * durable: all or nothing. `out_first` (may be NULL) receives the first
 * event's id; the others follow it seq by seq. As mutual_append_batch(),
 * only the last event carries the device's signature, which covers the
 * batch through the hash chain. On success the batch is empty and may be
 * filled again; an empty batch commits nothing and returns 0 (`out_first`
 * then gets this device and seq 0).
 * Errors: MUTUAL_EINVALID (no batch), MUTUAL_EFORK (as mutual_append());
 * the store's write errors. On any error the log is unchanged and the
 * batch keeps its entries: commit again (after MUTUAL_EBUSY, say) or free it.
 */
MUTUAL_EXTERN int mutual_batch_commit(mutual_event_id *out_first, mutual_batch *b);

/** Free the batch and what it holds, writing nothing. Accepts NULL. */
MUTUAL_EXTERN void mutual_batch_free(mutual_batch *b);

/* -------------------------------------------------------------------- sync */

/** What a sync is doing, for progress reports. */
enum mutual_sync_phase {
	MUTUAL_SYNC_EXPORTING = 1, /* sealing this device's new events into segments */
	MUTUAL_SYNC_RECEIVING = 2, /* reading objects from the target */
	MUTUAL_SYNC_IMPORTING = 3, /* verifying and storing other devices' events */
	MUTUAL_SYNC_SENDING = 4    /* writing objects to the target */
};

typedef struct mutual_sync_progress {
	unsigned int phase;        /* enum mutual_sync_phase */
	uint64_t done;             /* objects (receiving, sending) or events (exporting, importing) */
	uint64_t total;            /* 0 when not known yet */
	uint64_t events_imported;  /* so far in this sync */
} mutual_sync_progress;

/** Progress callback: return non-zero to cancel the sync cleanly. */
typedef int (*mutual_sync_progress_cb)(const mutual_sync_progress *progress, void *payload);
/**
 * Called once for each device log the sync refuses (counted in `refused`),
 * and for each warning that refuses nothing: a log longer than one sync
 * takes (the rest stays on the target for the next sync), or a device
 * that sent a sudden flood. A warning's `reason` starts with "warning: "
 * and it is not counted. `device` is 64 hex (or "" when
 * none applies).
 */
typedef void (*mutual_sync_refusal_cb)(const char *device, const char *reason, void *payload);

typedef struct mutual_sync_options {
	unsigned int version;
	mutual_sync_progress_cb progress; /* may be NULL */
	void *progress_payload;
	mutual_sync_refusal_cb refusal;   /* may be NULL */
	void *refusal_payload;
} mutual_sync_options;

#define MUTUAL_SYNC_OPTIONS_VERSION 1
#define MUTUAL_SYNC_OPTIONS_INIT { MUTUAL_SYNC_OPTIONS_VERSION, NULL, NULL, NULL, NULL }
/** Errors: MUTUAL_EINVALID (no `opts`, or an unknown version). */
MUTUAL_EXTERN int mutual_sync_options_init(mutual_sync_options *opts, unsigned int version);

typedef struct mutual_sync_stats {
	unsigned int version;
	uint64_t events_sent;      /* events the target did not hold before */
	uint64_t events_received;  /* events this store did not hold before */
	uint64_t segments_sent;
	uint64_t segments_received;
	uint64_t devices_updated;  /* devices whose log grew in this store */
	uint64_t refused;          /* device logs (or refs) refused */
	uint64_t newer_format;     /* refs of a newer format, kept and forwarded */
	uint64_t objects_received; /* git objects read from the target into the store */
	uint64_t objects_sent;     /* git objects written to the target */
	uint64_t segments_opened;  /* segments decrypted and verified (the cost of an import) */
	uint64_t forks_found;      /* fork proofs learnt in this sync (made here or read from the target) */
	uint64_t forked_devices;   /* forked devices whose diverging log the target holds (quarantined) */
	uint64_t future_events;    /* imported events stamped more than a day ahead of this clock */
	int safe_to_remove;        /* 1 once everything written to the target is on it, fsynced */
	char first_refusal[256];   /* the first refusal, one line ("" if none) */
	/* Version 2: */
	uint64_t segments_without_key; /* segments held back: sealed with a group key this
	                                  store has not received yet (imported once it has) */
	/* Version 3: */
	uint64_t own_events_waiting; /* this device's events not sent: no group key may seal
	                                them yet (a removal known, no key excluding the removed
	                                device received); sent once one is */
} mutual_sync_stats;

#define MUTUAL_SYNC_STATS_VERSION 3
#define MUTUAL_SYNC_STATS_INIT { MUTUAL_SYNC_STATS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, { 0 }, 0, 0 }

/**
 * Sync this store with `target`, both ways: seal this device's new events
 * into segments, read the target's logs, verify and import every device's
 * new events, then write everything this store holds that the target lacks
 * (its own and others' logs: store and forward).
 *
 * `target` is one of:
 *  - a folder (a mounted stick, or any existing folder): the group's bare
 *    repository `mutual-<group id>.git` inside it is used, made on first use;
 *  - a path ending in `.bundle`: a single git bundle file, read if present
 *    and rewritten atomically with everything held;
 *  - a URL libgit2 speaks (file://, ssh://, https://, git://): fetch, then push.
 *    An http(s) URL is reached as stock git reaches it (docs/hub.md): the
 *    user name and password from the user's git credential helpers (`git
 *    credential fill`, then `approve` or `reject`), the CA from
 *    $GIT_SSL_CAINFO, http.sslCAInfo or $SSL_CERT_FILE, the proxy from
 *    http.proxy or $https_proxy (less $no_proxy). It never prompts and
 *    never honours http.sslVerify=false: a missing or refused password, a
 *    read-only account or a certificate that does not verify fails at
 *    once with MUTUAL_ERROR and a message saying which. A URL holding a
 *    password (`user:pass@`) is refused with MUTUAL_EINVALID before it is
 *    used, and the message does not repeat it.
 *
 * What is refused (a log that diverges from what this store holds, bad
 * hashes, signatures or encryption, another group's data) is reported through
 * `opts->refusal` and counted; nothing of a refused log is imported, and all
 * other devices still sync. `out` (may be NULL) receives the figures.
 *
 * Returns 0 when everything synced. After any return the store is
 * consistent and loses nothing; running the sync again completes it.
 * Errors: MUTUAL_EREFUSED (the sync completed but refused something),
 * MUTUAL_ECANCELLED (the progress callback asked to stop), MUTUAL_EBUSY
 * (another sync holds the store or the target), MUTUAL_ENOTFOUND (the target
 * folder does not exist), MUTUAL_EINVALID (no store or target, an unknown
 * options version, `out` with version 0, a target that is not a group's:
 * another group's stick, a URL holding a password),
 * MUTUAL_EREADONLY (a read-only store, or a target that cannot be written),
 * MUTUAL_ECORRUPT, MUTUAL_ERROR (I/O, a
 * full stick, the network, a hub's refused credentials or certificate).
 */
MUTUAL_EXTERN int mutual_sync(mutual_sync_stats *out, mutual_store *store, const char *target,
	const mutual_sync_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* MUTUAL_H */
