/*
 * git.h - the library's one door to libgit2: bare repositories holding
 * segment commits, device refs, moving objects between repositories as
 * packs, git bundles, and fetch/push for remote URLs.
 */
#ifndef MUTUAL_GIT_H
#define MUTUAL_GIT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "medium.h"

#define MUTUAL_REF_DEVICES "refs/mutual/v1/devices/" /* + 64 lowercase hex */
#define MUTUAL_REF_ROOT "refs/mutual/"                /* every format's namespace */
#define MUTUAL_REF_NAME_SIZE 128 /* bytes for a ref name or prefix of ours (a namespace, a key in hex) and its NUL */
_Static_assert(sizeof(MUTUAL_REF_DEVICES) + MUTUAL_KEY_HEX_LEN <= MUTUAL_REF_NAME_SIZE, "a device ref fits MUTUAL_REF_NAME_SIZE");

typedef struct {
	uint8_t id[20];
} mutual_oid;

typedef struct mutual_repo mutual_repo;

/* Whether `name`, a file inside a repository, is one git or libgit2 keeps
 * only while it writes (a lock, a pack or loose object being made), so
 * one found when no writer runs was left by a killed one. */
int mutual__git_is_temp_file(const char *name);

/* Progress of object transfer; return non-zero to cancel. */
typedef int (*mutual_transfer_cb)(uint64_t done, uint64_t total, void *payload);

/* What one sync reads from a medium is bounded by these numbers
 * (docs/format.md, "Limits", promises them): */
#define MUTUAL_COMMIT_MAX (16 * 1024)                /* bytes of one segment commit object */
#define MUTUAL_TREE_MAX 1024                         /* bytes of its tree (one entry) */
#define MUTUAL_ENVELOPE_MAX (16u * 1024 * 1024)      /* bytes of one envelope blob */
#define MUTUAL_WALK_MAX (2u * 1024 * 1024)           /* commits walked back from one ref */
#define MUTUAL_IMPORT_SEGMENTS_MAX 100000            /* segments imported per device per sync */
#define MUTUAL_IMPORT_BYTES_MAX (64ull * 1024 * 1024) /* 64 MiB: verified plaintext imported per device per sync */
#define MUTUAL_PACK_BYTES_MAX (4ull * 1024 * 1024 * 1024) /* bytes of one received pack */
#define MUTUAL_PACK_OBJECTS_MAX (4u * 1024 * 1024)  /* objects one received pack may claim */

int mutual__git_init(void);
/* 1 if libgit2's last failure on this thread was for want of memory: a
 * failure that says nothing of the objects it was reading. */
int mutual__git_out_of_memory(void);
/* Open the bare repository at `path`, which medium.c has walked and
 * prepared (mutual__medium_repo). MUTUAL_ENOTFOUND when it is not one. */
int mutual__repo_open(mutual_repo **out, const char *path);
void mutual__repo_free(mutual_repo *r);
const char *mutual__repo_path(const mutual_repo *r);

/* A second handle on the repository at `path` whose writes stay in memory
 * until mutual__repo_flush_memory() writes them into `into` as one pack:
 * no loose object files, which are slow and fragile. */
int mutual__repo_open_memory(mutual_repo **out, const char *path);
int mutual__repo_flush_memory(mutual_repo *mem, mutual_repo *into);

/* 1 if `r` holds the object; 0 if not, or if it could not tell, which
 * mutual__git_out_of_memory() then says. */
int mutual__repo_has(mutual_repo *r, const mutual_oid *oid);
/* 1 when `commit` has `ancestor` in its history (both held in `r`). */
int mutual__repo_descends(mutual_repo *r, const mutual_oid *commit, const mutual_oid *ancestor);
/* MUTUAL_ENOTFOUND if the ref does not exist. */
int mutual__ref_get(mutual_oid *out, mutual_repo *r, const char *name);
/* Compare-and-swap: `expected` NULL means the ref must not exist yet. */
int mutual__ref_set(mutual_repo *r, const char *name, const mutual_oid *oid, const mutual_oid *expected);
int mutual__ref_delete(mutual_repo *r, const char *name);

/* Every ref under `prefix` (e.g. MUTUAL_REF_ROOT): cb(full name, oid). */
typedef int (*mutual_ref_cb)(const char *name, const mutual_oid *oid, void *payload);
int mutual__refs_foreach(mutual_repo *r, const char *prefix, mutual_ref_cb cb, void *payload);

/* A segment commit: its parent (if any) and its one blob, "segment". */
int mutual__segment_commit_read(mutual_repo *r, const mutual_oid *commit, int *has_parent,
	mutual_oid *parent, mutual_buf *blob);
/* Just a commit's parent, for walking back cheaply. */
int mutual__commit_parent(mutual_repo *r, const mutual_oid *commit, int *has_parent, mutual_oid *parent);
/* Write blob, tree and commit (fixed author, time 0) into `r`. */
int mutual__segment_commit_write(mutual_oid *out, mutual_repo *r, const mutual_oid *parent,
	const uint8_t *blob, size_t len, const char *message);

/* Copy into `dst`, as one pack, every object reachable from `tips` and not
 * from `stops` (stops absent from `src` are ignored). `*copied` (may be
 * NULL) gets the number of objects. */
int mutual__repo_copy(mutual_repo *dst, mutual_repo *src, const mutual_oid *tips, size_t n_tips,
	const mutual_oid *stops, size_t n_stops, uint64_t *copied, mutual_transfer_cb cb, void *payload);

/* Keep the number of packs in `r` logarithmic in its size: merge the
 * smallest packs while the next one is at most twice their sum (as a
 * binary counter does), so each object is rewritten O(log n) times over
 * the repository's life. Merged packs stay under 2 GiB (FAT's limit is 4).
 * `*merged` (may be NULL) gets the number of packs rolled into one. */
int mutual__repo_consolidate(mutual_repo *r, unsigned *merged);

/* A bundle's refs, as read or to write. */
typedef struct {
	char *name;
	mutual_oid oid;
} mutual_bundle_ref;

/* Write a v2 bundle of `refs` with their full history as `name` in the
 * medium's folder, atomically (a temporary file, fsync, rename). */
int mutual__bundle_write(mutual_medium *m, const char *name, mutual_repo *r, const mutual_bundle_ref *refs,
	size_t n);
/* Read the bundle open on `fd` (taken over and closed) into `into`, a
 * quarantine: its pack is bounded (MUTUAL_PACK_*), and `*refs` (freed with
 * mutual__bundle_refs_free) lists its refs under refs/mutual/ only.
 * `what` names it in messages. */
int mutual__bundle_read(mutual_bundle_ref **refs, size_t *n, mutual_repo *into, int fd, const char *what,
	mutual_transfer_cb cb, void *payload);
void mutual__bundle_refs_free(mutual_bundle_ref *refs, size_t n);

/* What a sync's fetch learnt about the remote, for its push: whether
 * reading took a credential (a push then refused one is an account that
 * may only read, not a wrong password). Zero-initialise. */
typedef struct {
	int read_with_credential;
} mutual_remote_session;

/* Fetch the remote's refs/mutual/ namespace into `local` under `into_prefix`.
 * An http(s) URL is reached with the user's git credential helpers, CA
 * and proxy settings (hub.h); `url` has passed mutual__hub_url_check.
 * `session` may be NULL. */
int mutual__remote_fetch(mutual_repo *local, const char *url, mutual_remote_session *session,
	const char *into_prefix, uint64_t *objects, mutual_transfer_cb cb, void *payload);
/* Push refspecs "src:dst" (no force). `rejected` is called for each ref the
 * remote refused. */
typedef int (*mutual_push_reject_cb)(const char *ref, const char *why, void *payload);
int mutual__remote_push(mutual_repo *local, const char *url, mutual_remote_session *session, char **refspecs,
	size_t n, uint64_t *objects, mutual_push_reject_cb rejected, void *payload, mutual_transfer_cb cb,
	void *cb_payload);

/* Test-only fault injection, compiled in only with -Dtest_hooks=true: when
 * $MUTUAL_FAULT_KILL_AT is N, the process kills itself at its Nth write to
 * a sync medium, as a pulled stick would. */
#ifdef MUTUAL_TEST_HOOKS
void mutual__fault_point(void);
#else
#define mutual__fault_point() ((void)0)
#endif

#endif
