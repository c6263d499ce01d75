/*
 * medium.h - the one way the library touches a medium: a stick's folder,
 * the folder of a bundle file, and the store's own folder where a sync
 * keeps its lock, repository and quarantine.
 *
 * A stick is written by strangers. Every name on it is opened relative to
 * one directory descriptor, never following a link, and checked to be a
 * plain file or folder with one link that this user owns before anything
 * is read from or written to it; FIFOs and device nodes never make us
 * wait. libgit2 only ever opens a repository that mutual__medium_repo()
 * walked and found to be a real tree of plain files (docs/format.md,
 * "Hostile media", states the rules).
 */
#ifndef MUTUAL_MEDIUM_H
#define MUTUAL_MEDIUM_H

#include "common.h"

/* A folder the person named (their path is trusted, links in it followed:
 * they chose it); what is inside is not. */
typedef struct {
	int dirfd;
	char *path;
} mutual_medium;

/* Open `folder`. MUTUAL_ENOTFOUND when it is not a folder. */
int mutual__medium_open(mutual_medium *m, const char *folder);
/* The folder holding `file` (its last component must be a plain name). */
int mutual__medium_open_parent(mutual_medium *m, const char **base, const char *file);
void mutual__medium_close(mutual_medium *m);

/* Take an exclusive flock on our lock file `name`, creating it, waiting up
 * to 30 s for another sync. A lock that is a link, a special file or
 * another user's is refused and never written. The fd is the lock;
 * `what` names the medium in messages. */
int mutual__medium_lock(int *fd, mutual_medium *m, const char *name, const char *what);
/* Drop the lock; with `name`, also remove the file if it is still the one
 * locked. */
void mutual__medium_unlock(int fd, mutual_medium *m, const char *name);

/* Open our file `name` to read (a bundle): a plain file, one link, ours.
 * MUTUAL_ENOTFOUND when absent; `*size` gets its size. */
int mutual__medium_open_read(int *fd, uint64_t *size, mutual_medium *m, const char *name);
/* Create "<base>.tmp-<pid>" exclusively, mode 0644; `tmp` gets its name. */
int mutual__medium_create_temp(int *fd, mutual_buf *tmp, mutual_medium *m, const char *base);
/* Move the written and fsynced `tmp` over `name` and make it durable. A
 * `name` that exists and is not our plain file is left alone (refused). */
int mutual__medium_replace(mutual_medium *m, const char *tmp, const char *name);
/* Remove the "<base>.tmp-<digits>" files a killed sync left: only plain
 * files of ours with one link, in this folder only. Call under the lock. */
void mutual__medium_remove_stale_temps(mutual_medium *m, const char *base);

#define MUTUAL_MEDIUM_CREATE 1      /* make an empty repository when absent */
#define MUTUAL_MEDIUM_CHECK_ONLY 2  /* a hub not locked by us (file://): walk, write nothing */

/* Get `name` in `m` ready for libgit2, under the lock: create it as an
 * empty bare repository when absent and `flags` has MUTUAL_MEDIUM_CREATE, refuse it unless
 * every entry is a plain folder or file with one link owned by this user
 * (no symlinks, alternates, commondir, gitdir files, worktrees, grafts),
 * remove the lock and temporary files a killed sync left, and write its
 * `config` with fixed content (with MUTUAL_MEDIUM_CHECK_ONLY, only the walk's
 * refusals). `*path`
 * (malloc'd) is what to open.
 * MUTUAL_ENOTFOUND when absent and not created; MUTUAL_EINVALID, with a
 * message naming the entry, when refused (nothing was written then). */
int mutual__medium_repo(char **path, mutual_medium *m, const char *name, unsigned flags);

/* A quarantine: an empty repository `name` in our own folder whose object
 * store reads through to that of `objects_of`, the repository beside it
 * (the store's sync.git), where
 * objects from a bundle or a remote wait until they are verified. Any
 * earlier one of that name is removed first. */
int mutual__medium_quarantine(char **path, mutual_medium *m, const char *name, const char *objects_of);
/* Remove the quarantine `name` and everything in it (our own folder only). */
void mutual__medium_quarantine_drop(mutual_medium *m, const char *name);

#endif
