/*
 * fuzz_event.c - the event wire decoder on hostile bytes: it must never
 * read out of bounds, and whatever it accepts must re-encode to the exact
 * bytes it consumed and carry a hash recomputed from its fields.
 */
#include <stdlib.h>
#include <string.h>

#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mutual_event_rec ev;
	mutual_buf again = { 0 };
	uint8_t hash[32];
	size_t used = 0;

	mutual__crypto_init();
	if (mutual__event_decode(&ev, data, size, &used) != 0)
		return 0;
	if (used > size)
		abort();
	if (mutual__event_encode(&again, &ev) != 0 || again.len != used || memcmp(again.data, data, used) != 0)
		abort();
	memcpy(hash, ev.hash, 32);
	if (mutual__event_compute_hash(&ev) != 0 || memcmp(hash, ev.hash, 32) != 0)
		abort();
	mutual__buf_free(&again);
	return 0;
}
