/*
 * fuzz_invite.c - the invite decoder on hostile text: no out-of-bounds
 * reads, and an accepted invite re-encodes to a token that decodes to the
 * same fields.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mutual_invite inv, again;
	char *token = NULL;

	mutual__crypto_init();
	if (mutual__invite_decode(&inv, (const char *)data, size) != 0)
		return 0;
	if (mutual__invite_encode(&token, &inv) != 0)
		abort();
	if (mutual__invite_decode(&again, token, strlen(token)) != 0 || memcmp(&inv, &again, sizeof(inv)) != 0)
		abort();
	free(token);
	return 0;
}
