/*
 * exit_status.h - the exit statuses of both command lines, `mutual` and
 * `mutual-apps`, and the one mapping from a library status to them, so a
 * script sees the same number for the same trouble from either.
 */
#ifndef MUTUAL_EXIT_STATUS_H
#define MUTUAL_EXIT_STATUS_H

#include "mutual.h"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,       /* the message on stderr says what and what to do */
	EXIT_USAGE = 2,      /* bad usage */
	EXIT_UNVERIFIED = 3, /* a bad event or a damaged store */
	EXIT_BUSY = 4,       /* the store or the stick stayed busy; try again */
	EXIT_REFUSED = 5,    /* a sync completed but refused a device's log */
	EXIT_DENIED = 6,     /* this device may not do that (it is not a coordinator) */
};

/* The exit status for the failed library status `rc`. */
static inline int exit_status_of(int rc)
{
	if (rc == MUTUAL_EREFUSED)
		return EXIT_REFUSED;
	if (rc == MUTUAL_EVERIFY || rc == MUTUAL_ECORRUPT)
		return EXIT_UNVERIFIED;
	if (rc == MUTUAL_EBUSY)
		return EXIT_BUSY;
	if (rc == MUTUAL_EPERM)
		return EXIT_DENIED;
	return EXIT_FAIL;
}

#endif
