/*
 * names.h - a device name's collision key and its display form (names.c),
 * the only file with ICU's headers. A name is free text that any member
 * can choose, so it is never an identity: names that a reader could take
 * for one another are shown with a piece of each device's key.
 */
#ifndef MUTUAL_NAMES_H
#define MUTUAL_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* The shortest key suffix of a colliding name: 12 hex characters, 48 bits. */
#define MUTUAL_NAMES_SUFFIX_HEX 12

/* One device as the display rule sees it: `key` and `name` in, `display`
 * out (malloc'd, the caller's to free). */
typedef struct {
	uint8_t key[MUTUAL_KEY_SIZE];
	char *name;
	char *display;
} mutual_device_name;

/* Fill d[i].display for every device of the set d[0..n): the name itself
 * when no other device's name collides with it, else "name~" and at least
 * MUTUAL_NAMES_SUFFIX_HEX hex characters of its key, enough to differ from
 * every other member of the colliding set. The result depends on the set,
 * never on its order. On failure no display is set. */
int mutual__names_display(mutual_device_name *d, size_t n);

/* Release a store's cache of display names (NULL is fine). */
struct mutual_names;
void mutual__names_free(struct mutual_names *cache);

#endif
