/*
 * fault.h - allocation failure on demand, for the fault tests; compiled in
 * only with -Dtest_hooks=true (MUTUAL_TEST_HOOKS), as SQLite compiles its
 * fault simulator out of shipped builds (SQLITE_UNTESTABLE). A shipped
 * build has none of this: the allocator of common.h is plain malloc there.
 *
 * One counter sees every allocation made for libmutual: its own
 * (mutual__malloc and friends), SQLite's (SQLITE_CONFIG_MALLOC, db.c),
 * libgit2's (GIT_OPT_SET_ALLOCATOR, git.c) and zlib's (z_stream's zalloc,
 * segment.c). Armed at N, the Nth allocation counted from the arming
 * fails; persistent, every one after it fails too (SQLite's
 * sqlite3_memdebug_fail with -repeat). Each source also keeps how many
 * blocks it has live, so a test can see a leak at the N that made it.
 *
 * Not thread-safe to arm while another thread allocates; the counts
 * themselves are atomic. Used by tests/library/test_alloc_fail.c.
 */
#ifndef MUTUAL_FAULT_H
#define MUTUAL_FAULT_H

#ifdef MUTUAL_TEST_HOOKS

/* Who asked for the memory. */
enum mutual_alloc_source {
	MUTUAL_ALLOC_SELF,   /* libmutual's own (common.h's allocator) */
	MUTUAL_ALLOC_SQLITE, /* SQLite, through SQLITE_CONFIG_MALLOC */
	MUTUAL_ALLOC_GIT,    /* libgit2, through GIT_OPT_SET_ALLOCATOR */
	MUTUAL_ALLOC_ZLIB,   /* zlib, through z_stream's zalloc */
	MUTUAL_ALLOC_SOURCES
};

/* Count one allocation from `source`, asked for at `file`:`line` when the
 * source names its callers (libgit2 does; else NULL, 0); 1 if it is to
 * fail (then the caller returns NULL without allocating). */
int mutual__fault_alloc_fails(int source, const char *file, int line);
/* One block of `source` became live (+1) or was freed (-1). */
void mutual__fault_alloc_live(int source, int delta);

/* Arm the fault: the `n`th allocation from now fails (n >= 1), and with
 * `persistent` every one after it. n <= 0 disarms. Either way the counts
 * of mutual__test_fault_hits() and mutual__test_fault_count() restart. */
void mutual__test_fault_alloc(long n, int persistent);
/* Allocations made to fail since the last mutual__test_fault_alloc(). */
long mutual__test_fault_hits(void);
/* Allocations counted from `source` since the last mutual__test_fault_alloc(). */
long mutual__test_fault_count(int source);
/* Where the first allocation made to fail since the last
 * mutual__test_fault_alloc() was asked for, if its source said: the file
 * (NULL if none or not known) and, in `*line`, the line. */
const char *mutual__test_fault_site(int *line);
/* A dependency's own bug on a failed allocation (a leak, a crash) is not
 * libmutual's to fix: `spare` (NULL: none) is told of every allocation
 * whose source names its site, in order, with `would_fail` set when the
 * fault is to fail it; when it returns 1 that one succeeds (still
 * counted). */
typedef int (*mutual_fault_spare_cb)(int source, const char *file, int line, const char *region, int would_fail);
void mutual__test_fault_spare(mutual_fault_spare_cb spare);

/* The dependency call libmutual is in, for `spare` (its `region`): set
 * around a call whose own handling of a failed allocation is known to be
 * wrong, and cleared (NULL) where it calls back into libmutual. */
void mutual__fault_region(const char *name);
#define MUTUAL_FAULT_REGION(name) mutual__fault_region(name)
/* Blocks of `source` live now (allocated and not yet freed), counted from
 * the first allocation through the hooks. */
long mutual__test_alloc_live(int source);

#else
#define MUTUAL_FAULT_REGION(name) ((void)0)
#endif

#endif
