/*
 * sync_int.h - what the files of mutual_sync share among themselves
 * (sync.c, sync_export.c, sync_import.c, sync_fork.c, sync_send.c,
 * sync_target.c): the context of one sync, the small types its phases
 * pass on, and the functions one of those files calls in another, each
 * with its contract. Only those files include it; the rest of the library
 * knows mutual_sync from mutual.h alone.
 *
 * Every function here takes the context of a sync that mutual_sync set up
 * (sync.c): the store's lock held, c->local open, and, once a target is
 * read, c->peer open and c->refs its refs. Errors are a mutual__fail() code
 * with the error set; what a target holds that is refused is reported
 * through mutual__sync_refuse() and is no error (the sync goes on).
 */
#ifndef MUTUAL_SYNC_INT_H
#define MUTUAL_SYNC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "git.h"
#include "medium.h"

#define SYNC_REPO "sync.git"
#define QUARANTINE "incoming.git" /* in the store's folder: a bundle's or remote's objects until verified */

typedef struct {
	char *name; /* as on the peer: refs/mutual/... */
	mutual_oid oid;
	int without_key; /* its import stopped at a key this store lacked (sync_import.c NOTES 6) */
} peer_ref;

/* What this sync imported of one device's log (sync_import.c NOTES 5). */
typedef struct {
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t bytes;
} imported_bytes;

/* A peer's device ref that is not a log at all (sync_send.c NOTES 1). */
typedef struct {
	uint8_t device[MUTUAL_KEY_SIZE];
	mutual_oid oid;
} garbage_ref;

typedef struct {
	mutual_store *s;
	mutual_medium store_dir; /* the store's folder: its lock, repository, quarantine */
	mutual_repo *local;
	mutual_repo *peer; /* where the peer's objects are: the stick, or `local` */
	peer_ref *refs;
	size_t n_refs;
	const mutual_sync_options *opts;
	mutual_sync_stats *stats;
	mutual_sync_progress progress;
	mutual_buf blob, plain;
	garbage_ref *garbage;
	size_t n_garbage;
	imported_bytes *imported; /* recorded in one transaction once every ref is imported */
	size_t n_imported;
	uint64_t segments_left; /* beyond what one sync takes (MUTUAL_IMPORT_SEGMENTS_MAX) */
	int quarantined;        /* the peer is our quarantine, dropped at the end */
	int quiet_without_key;  /* a pass that may be tried again: a key lacked is not reported yet */
	int store_locked;       /* sync.c NOTES 2: this sync holds the store's lock */
} sync_ctx;

/* ---------------------------------------------- sync.c: the context's helpers */

/* Tell the progress callback that the sync is at `phase`, `done` of `total`;
 * MUTUAL_ECANCELLED when the callback asks to stop. */
int mutual__sync_report(sync_ctx *c, unsigned int phase, uint64_t done, uint64_t total);

/* A mutual_transfer_cb whose payload is the sync_ctx: mutual__sync_report
 * in the current phase; -1 (cancel) when that fails. */
int mutual__sync_transfer_cb(uint64_t done, uint64_t total, void *payload);

/* Refuse something the target holds: counted in stats->refused, the first
 * kept in stats->first_refusal, passed to the refusal callback. `device` is
 * NULL for a ref that names no device. */
void mutual__sync_refuse(sync_ctx *c, const uint8_t *device, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Not a refusal: what the peer holds from here on is sealed with a group
 * key this store does not hold yet (sync_import.c NOTES 6). Counted in
 * segments_without_key and reported through the refusal callback as a
 * warning ("warning: WHAT is sealed with ..."), the thread's last error
 * (keyring.c's message) giving the key. */
void mutual__sync_without_key(sync_ctx *c, const uint8_t *device, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Not a refusal: `events` of this device's own are not exported, since no
 * group key may seal them yet (`why`, rotation.c NOTES 2). Counted in
 * own_events_waiting and reported as a warning through the refusal
 * callback, under this device's key. */
void mutual__sync_hold_own(sync_ctx *c, uint64_t events, const char *why);

/* Whether `name` is "refs/mutual/v<N>/<name>" with N >= 2: a newer medium
 * format's ref (sync_import.c NOTES 4). */
int mutual__sync_is_newer_format_ref(const char *name);

/* The device a device ref names (MUTUAL_REF_DEVICES + 64 lowercase hex)
 * into `device`; -1 when `name` is not such a ref. */
int mutual__sync_device_from_ref(uint8_t device[MUTUAL_KEY_SIZE], const char *name);

/* Append (`name`, `oid`) to c->refs, copying the name; MUTUAL_ERROR when
 * out of memory. */
int mutual__sync_add_ref(sync_ctx *c, const char *name, const mutual_oid *oid);

/* A mutual_ref_cb: mutual__sync_add_ref into the sync_ctx `payload`. */
int mutual__sync_collect_ref(const char *name, const mutual_oid *oid, void *payload);

/* Free c->refs and leave the list empty. */
void mutual__sync_free_refs(sync_ctx *c);

/* ------------------------------------------------------- sync_export.c */

/* Cut this device's events after its last exported segment into segments
 * (sync_export.c NOTES 1) written into c->local, then their rows; setting
 * the refs is the caller's (mutual__sync_set_local_ref). */
int mutual__sync_export_own(sync_ctx *c);

/* ------------------------------------------------------- sync_import.c */

/* Import every ref in c->refs from c->peer: fork proofs first, then device
 * logs and newer-format refs; any other ref is refused. Then what each
 * device sent is recorded, in one transaction. */
int mutual__sync_import_all(sync_ctx *c);

/* The garbage ref (sync_send.c NOTES 1) import noted for `device`, or NULL;
 * borrowed from `c` for the rest of the sync. */
const garbage_ref *mutual__sync_find_garbage(const sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE]);

/* --------------------------------------------------------- sync_fork.c */

/* A peer's fork proof `r` (under MUTUAL_REF_FORKS): adopted, its commit
 * copied byte for byte and its fork stored, when it verifies and forks
 * earlier than what is known here; else refused, or ignored when held. */
int mutual__sync_import_fork_ref(sync_ctx *c, const peer_ref *r);

/* The peer's commits chain[n-1] (oldest) .. chain[0] of `device` diverge
 * from the log held here: record a fork proof when the device signed both
 * logs, else refuse with `what` (and "after seq `after_seq`" when it is not
 * 0). Nothing of the chain is imported either way. */
int mutual__sync_diverged(sync_ctx *c, const uint8_t device[MUTUAL_KEY_SIZE], const mutual_oid *chain, size_t n, const char *what,
	uint64_t after_seq);

/* --------------------------------------------------------- sync_send.c */

/* One device log to send: its tip, the target's ref it replaces
 * (`expected`, compare-and-swap), and whether that is also where the
 * objects the target holds stop (`has_stop`; not for a garbage ref, which
 * a push replaces by force: sync_send.c NOTES 1). */
typedef struct {
	char *name;
	mutual_oid tip, stop, expected;
	int has_stop, has_expected, force;
} send_entry;

typedef struct {
	sync_ctx *c;
	send_entry *e;
	size_t n, cap;
	uint64_t events;
} send_plan;

typedef struct {
	sync_ctx *c;
	mutual_oid *tips, *theirs;
	char **names;
	int *has_theirs;
	size_t n;
} fork_plan;

/* Plan the device logs the target (its refs in c->refs) lacks or holds
 * behind, or holds as garbage; never one whose ref there diverged. Adds the
 * plan's segments and events to the stats. `*p` is the caller's, to free
 * with mutual__sync_free_plan whatever this returns. */
int mutual__sync_plan_send(send_plan *p, sync_ctx *c);
void mutual__sync_free_plan(send_plan *p);

/* Send to a folder (c->peer is the stick's repository): the planned logs
 * as one pack, then their refs, compare-and-swapped. */
int mutual__sync_send_folder(sync_ctx *c);

/* Send to a folder this store's fork proofs that the stick lacks or holds
 * a later one of; each replaces theirs. */
int mutual__sync_send_forks_folder(sync_ctx *c);

/* Send to a folder this store's newer-format refs where the stick has none,
 * or one that the store's extends. */
int mutual__sync_send_newer_folder(sync_ctx *c);

/* mutual_ref_cbs into the fork_plan `payload` (zeroed, its `c` set; freed
 * with mutual__sync_free_fork_plan): a fork proof of this store's that the
 * target lacks or holds another of; a newer-format ref of this store's that
 * the target lacks or holds behind. */
int mutual__sync_plan_fork(const char *name, const mutual_oid *oid, void *payload);
int mutual__sync_plan_newer(const char *name, const mutual_oid *oid, void *payload);
void mutual__sync_free_fork_plan(fork_plan *p);

/* A mutual_db_tip_cb whose payload is the sync_ctx: set c->local's ref of
 * `device` to `commit`, its tip in the segments table. */
int mutual__sync_set_local_ref(const uint8_t *device, uint64_t last_seq, const uint8_t *commit, void *payload);

/* ------------------------------------------------------- sync_target.c */

/* Sync with a target of each kind: import what it holds, then send to it.
 * stats->safe_to_remove is set once everything written to it is there. */
int mutual__sync_folder(sync_ctx *c, const char *folder);
int mutual__sync_bundle(sync_ctx *c, const char *file);
int mutual__sync_remote(sync_ctx *c, const char *url);

#endif
