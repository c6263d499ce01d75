/*
 * common.h - what every file of the library shares: the error model, a
 * growable byte buffer, hex and big-endian helpers, and file helpers that
 * write secrets safely. Nothing here touches a dependency.
 */
#ifndef MUTUAL_COMMON_H
#define MUTUAL_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mutual.h"

/* Set the calling thread's last error; returns `code` so callers can
 * `return mutual__fail(MUTUAL_EINVALID, "...")`. */
int mutual__fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with context, keeping the code. */
int mutual__fail_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mutual__error_clear(void);

/* Refuse an options struct (or an _init() call) of a version this library
 * does not know, as libgit2's GIT_ERROR_CHECK_VERSION does. */
#define MUTUAL__CHECK_VERSION(version, known, what)                                          \
	do {                                                                                  \
		if ((version) == 0 || (version) > (known))                                    \
			return mutual__fail(MUTUAL_EINVALID, "unknown %s version %u (this library " \
				"knows 1 to %u)", (what), (unsigned int)(version), (unsigned int)(known)); \
	} while (0)

/* Output structs: the caller's `version` says how much room it has.
 * mutual__output_check refuses version 0 (an uninitialised struct), before
 * any work; mutual__output_copy writes the library's filled struct of
 * version `known` into `out`, no more than `sizes[v]` bytes for the version
 * v both know, and sets out->version to v. `sizes` has known + 1 entries. */
int mutual__output_check(const void *out, const char *what);
void mutual__output_copy(void *out, const void *filled, unsigned int known, const size_t *sizes);

/* A growable byte buffer. Zero-initialise; release with mutual__buf_free.
 *
 * Its failure is sticky (as sds's and SQLite's StrAccum are): once an
 * allocation for it fails, the buffer is failed, and every later write to
 * it (put, printf, cstr, grow) is a no-op returning MUTUAL_ERROR. So a
 * builder may write without checking each call, and checks once, with
 * mutual__buf_failed or mutual__buf_check, before it uses what it built:
 * the contents of a failed buffer are a truncated prefix, never a result.
 * Setting len to 0 reuses a buffer and keeps the flag; mutual__buf_free
 * clears it. */
typedef struct {
	uint8_t *data;
	size_t len;
	size_t cap;
	int failed;
} mutual_buf;

int mutual__buf_grow(mutual_buf *b, size_t extra);
int mutual__buf_put(mutual_buf *b, const void *data, size_t len);
int mutual__buf_put_u8(mutual_buf *b, uint8_t v);
int mutual__buf_put_u16(mutual_buf *b, uint16_t v);
int mutual__buf_put_u32(mutual_buf *b, uint32_t v);
int mutual__buf_put_u64(mutual_buf *b, uint64_t v);
int mutual__buf_printf(mutual_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminate without counting the NUL in len. */
int mutual__buf_cstr(mutual_buf *b);
/* Nonzero when an allocation for `b` failed since it was last freed. */
int mutual__buf_failed(const mutual_buf *b);
/* A builder's one check: 0, or MUTUAL_ERROR with "out of memory" as the
 * thread's last error when `b` failed. */
int mutual__buf_check(const mutual_buf *b);
/* Release the memory and clear the failure: `b` is empty and usable again. */
void mutual__buf_free(mutual_buf *b);

/* Big-endian reads; the caller has checked the bounds. */
uint16_t mutual__get_u16(const uint8_t *p);
uint32_t mutual__get_u32(const uint8_t *p);
uint64_t mutual__get_u64(const uint8_t *p);
void mutual__set_u32(uint8_t *p, uint32_t v);
void mutual__set_u64(uint8_t *p, uint64_t v);

/* A key (MUTUAL_KEY_SIZE bytes) in hex: its characters, and a buffer for
 * them and the NUL (a device id). */
#define MUTUAL_KEY_HEX_LEN (MUTUAL_KEY_SIZE * 2)
#define MUTUAL_KEY_HEX_SIZE (MUTUAL_KEY_HEX_LEN + 1)

/* Lowercase hex. `out` holds 2*len+1 bytes. */
void mutual__hex(char *out, const uint8_t *data, size_t len);
/* Exactly 2*len hex characters (either case) to bytes; -1 otherwise. */
int mutual__unhex(uint8_t *out, size_t len, const char *hex, size_t hexlen);

/* The library's one allocator: every block libmutual allocates comes from
 * these and goes back through mutual__free (so does what it hands out to
 * be freed with mutual_free()). Memory a dependency hands out goes back
 * through that dependency's own release (sqlite3_free, git_buf_dispose):
 * never mix the two. In a shipped build they are malloc, calloc, realloc
 * and free, inlined; a test build (-Dtest_hooks=true) counts them and can
 * make the Nth allocation fail (fault.h). mutual__realloc is never given
 * size 0. */
#ifdef MUTUAL_TEST_HOOKS
void *mutual__malloc(size_t n);
void *mutual__calloc(size_t n, size_t size);
void *mutual__realloc(void *p, size_t n);
void mutual__free(void *p);
#else
/* alloc-sed: off (scripts/alloc-sed.sh leaves these calls to libc alone) */
static inline void *mutual__malloc(size_t n)
{
	return malloc(n);
}
static inline void *mutual__calloc(size_t n, size_t size)
{
	return calloc(n, size);
}
static inline void *mutual__realloc(void *p, size_t n)
{
	return realloc(p, n);
}
static inline void mutual__free(void *p)
{
	free(p);
}
/* alloc-sed: on */
#endif
/* A copy of `s` from mutual__malloc; NULL when out of memory (error set). */
char *mutual__strdup(const char *s);

/* Create `path` with mode 0600 and `data`, fsync it and its folder.
 * Refuses (MUTUAL_EEXISTS) if it exists. */
int mutual__write_secret_file(const char *path, const void *data, size_t len);
/* Read a whole small file (at most `max` bytes) into `out`, NUL-terminated. */
int mutual__read_file(mutual_buf *out, const char *path, size_t max);
/* mkdir -p for one level with mode 0700; 0 if made, MUTUAL_EEXISTS if there. */
int mutual__mkdir_private(const char *path);
/* fsync a folder so a new name in it is durable. */
int mutual__fsync_dir(const char *path);
/* "dir/name", malloc'd; NULL when out of memory (error set). */
char *mutual__path_join(const char *dir, const char *name);

#define MUTUAL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
