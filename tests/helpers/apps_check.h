/*
 * apps_check.h - what the reference apps' C tests (test_apps.c,
 * test_rota.c) share on top of check.h: checks that print apps_error(),
 * the apps' own message, rather than the library's; stores with the apps
 * registered; a stick (a folder) to sync two of them through; and counting
 * events and rows.
 */
#ifndef MUTUAL_APPS_CHECK_H
#define MUTUAL_APPS_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apps.h"
#include "check.h"

/* An apps call that must succeed. */
#define CHECK_APP(call)                                                                        \
	do {                                                                                   \
		int rc_ = (call);                                                              \
		if (rc_ != 0) {                                                                \
			fprintf(stderr, "%s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #call,  \
				rc_, apps_error());                                             \
			exit(1);                                                               \
		}                                                                              \
	} while (0)

/* A refusal: the code expected and a message that says why. */
#define CHECK_REFUSED(call, code, words)                                                       \
	do {                                                                                   \
		int rc_ = (call);                                                              \
		if (rc_ != (code) || !strstr(apps_error(), (words))) {                         \
			fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d and \"%s\"\n",    \
				__FILE__, __LINE__, #call, rc_, apps_error(), (int)(code),       \
				(words));                                                       \
			exit(1);                                                               \
		}                                                                              \
	} while (0)

/* Defines `name`, a foreach callback over `row_type` rows that counts them
 * into the int its payload points to. */
#define COUNTING_CALLBACK(name, row_type)                                                      \
	static int name(const row_type *row, void *payload)                                    \
	{                                                                                      \
		(void)row;                                                                     \
		(*(int *)payload)++;                                                           \
		return 0;                                                                      \
	}

/* A store at tmp_path(name) with the apps registered, as the front ends
 * open it: a new group's, or (with `inviter`) joined to inviter's group. */
static inline mutual_store *apps_store(const char *name, const char *device, mutual_store *inviter)
{
	mutual_store *s = inviter ? check_store_join(inviter, name, device) : check_store_create(name, device);
	CHECK_APP(apps_open(s));
	return s;
}

static inline const char *stick(void)
{
	mkdir(tmp_path("stick"), 0700);
	return tmp_path("stick");
}

/* Through the stick until both hold every event: a, b, then a again for
 * what b brought. */
static inline void sync_both(mutual_store *a, mutual_store *b)
{
	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, b, stick(), NULL));
	CHECK_OK(mutual_sync(NULL, a, stick(), NULL));
}

/* The events of `type` in the store's log (NULL: all of them). */
static inline uint64_t count_events(mutual_store *s, const char *type)
{
	mutual_iter_options opts = MUTUAL_ITER_OPTIONS_INIT;
	const mutual_event *ev;
	mutual_iter *it;
	uint64_t n = 0;
	opts.type = type;
	CHECK_OK(mutual_iter_new(&it, s, &opts));
	while (mutual_iter_next(&ev, it) == 0)
		n++;
	mutual_iter_free(it);
	return n;
}

#endif
