/*
 * check.h - the tiny harness every C test uses.
 *
 * A test program holds several cases; `prog CASE` runs one (meson registers
 * each case as its own test), `prog` alone runs them all, `prog --list`
 * names them (the cases this build compiled in; check_cases.py compares
 * them with what meson registers). A failed check prints where, what, and
 * mutual_error_last(), then exits 1.
 */
#ifndef MUTUAL_CHECK_H
#define MUTUAL_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mutual.h"

#define CHECK(expr)                                                                            \
	do {                                                                                   \
		if (!(expr)) {                                                                 \
			fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__,   \
				__LINE__, #expr, mutual_error_last());                          \
			exit(1);                                                               \
		}                                                                              \
	} while (0)

#define CHECK_RC(call, expected)                                                               \
	do {                                                                                   \
		int check_rc_ = (call);                                                        \
		if (check_rc_ != (expected)) {                                                 \
			fprintf(stderr, "%s:%d: %s returned %d, expected %d (last error: %s)\n",  \
				__FILE__, __LINE__, #call, check_rc_, (int)(expected),          \
				mutual_error_last());                                           \
			exit(1);                                                               \
		}                                                                              \
	} while (0)

#define CHECK_OK(call) CHECK_RC(call, 0)

typedef struct {
	const char *name;
	void (*run)(void);
} test_case;

/* A fresh private folder under $TMPDIR; removed by tmp_cleanup(). */
const char *tmp_dir(void);
/* "tmp_dir()/name" in a static rotating buffer. */
const char *tmp_path(const char *name);
void tmp_cleanup(void);

/* A new group's store at tmp_path(name), device `device`. */
mutual_store *check_store_create(const char *name, const char *device);
/* A store at tmp_path(name) joined through an invite of `inviter`. */
mutual_store *check_store_join(mutual_store *inviter, const char *name, const char *device);
int run_cases(const test_case *cases, size_t n, int argc, char **argv);

#endif
