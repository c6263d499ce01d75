/*
 * forge.h - what a group member's modified software can sign: the next
 * event of its own device with the clock, frontier and payload it
 * chooses, chained and signed into its own log through the library's
 * internal write path. A real sync then carries it to the others, who
 * verify it as any member's event.
 */
#ifndef MUTUAL_FORGE_H
#define MUTUAL_FORGE_H

#include <stddef.h>
#include <stdint.h>

#include "mutual.h"

/* Append to `h`'s own log; a failure fails the test (check.h). */
void forge_event(mutual_store *h, uint64_t hlc, const uint8_t *frontier, size_t n, const char *type,
	const char *payload);

/* The next event of any `device` stored straight into `into`, as an
 * import stores it once verified; signed when `secret` is given. */
void forge_event_of(mutual_store *into, const uint8_t device[32], const uint8_t *secret, uint64_t hlc,
	const uint8_t *frontier, size_t n, const char *type, const char *payload);

/* What `h` holds of the others, as an honest append would claim it:
 * entries of MUTUAL_FRONTIER_ENTRY bytes in `*out` (malloc'd), `*n` of them. */
void forge_frontier(mutual_store *h, uint8_t **out, size_t *n);

#endif
