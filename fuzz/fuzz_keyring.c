/*
 * fuzz_keyring.c - group.key's lines (keyring.c) on hostile bytes: no
 * out-of-bounds reads, and an accepted file holds 1 to
 * MUTUAL_GROUP_KEYS_MAX keys, no two alike, each of which re-reads alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mutual_group_key *keys, *again;
	size_t n, m;
	char line[96], hex[MUTUAL_GROUP_KEY_HEX_SIZE];

	if (mutual__keyring_parse(&keys, &n, (const char *)data, size, "group.key") != 0)
		return 0;
	if (n < 1 || n > MUTUAL_GROUP_KEYS_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++)
			if (keys[i].id == keys[j].id && memcmp(keys[i].key, keys[j].key, MUTUAL_GROUP_KEY_SIZE) == 0)
				abort();
		mutual__hex(hex, keys[i].key, MUTUAL_GROUP_KEY_SIZE);
		snprintf(line, sizeof(line), "%u %s\n", keys[i].id, hex);
		if (mutual__keyring_parse(&again, &m, line, strlen(line), "group.key") != 0 || m != 1 ||
		    again[0].id != keys[i].id || memcmp(again[0].key, keys[i].key, MUTUAL_GROUP_KEY_SIZE) != 0)
			abort();
		mutual__keyring_free(again, MUTUAL_GROUP_KEYS_MAX);
	}
	mutual__keyring_free(keys, MUTUAL_GROUP_KEYS_MAX);
	return 0;
}
