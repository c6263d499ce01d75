/*
 * fuzz_json.c - the payload validator on hostile bytes: no out-of-bounds
 * reads, no unbounded recursion, and any prefix of an accepted object that
 * cuts it short is refused.
 */
#include <stdlib.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t end = size;

	if (mutual__json_check_object(text, size) != 0)
		return 0;
	/* The object closes at its last '}'; every shorter prefix must fail. */
	while (end > 0 && text[end - 1] != '}')
		end--;
	if (end == 0)
		abort();
	if (mutual__json_check_object(text, end - 1) == 0)
		abort();
	return 0;
}
