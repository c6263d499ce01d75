/*
 * fuzz_json.c - the payload validator on hostile bytes: no out-of-bounds
 * reads, no unbounded recursion, and any prefix of an accepted object that
 * cuts it short is refused. What it accepts, the canonical form turns into
 * a valid object that is its own canonical form, and the member walk reads
 * without fault. The strict rules (new appends) accept only what the
 * lenient ones do, and their canonical form too.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_member(const char *key, size_t key_len, const char *value, size_t len, void *payload)
{
	(void)key, (void)key_len, (void)value, (void)len, (void)payload;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t end = size;

	int strict = mutual__json_check_strict(text, size) == 0;

	if (mutual__json_check_object(text, size) != 0) {
		if (strict)
			abort();
		return 0;
	}
	/* The object closes at its last '}'; every shorter prefix must fail. */
	while (end > 0 && text[end - 1] != '}')
		end--;
	if (end == 0)
		abort();
	if (mutual__json_check_object(text, end - 1) == 0)
		abort();
	{
		mutual_buf once = { 0 }, twice = { 0 };
		if (mutual__json_canonical(&once, text, size) != 0 ||
		    mutual__json_check_object((const char *)once.data, once.len) != 0 ||
		    mutual__json_canonical(&twice, (const char *)once.data, once.len) != 0 || twice.len != once.len ||
		    memcmp(once.data, twice.data, once.len) != 0 ||
		    (strict && mutual__json_check_strict((const char *)once.data, once.len) != 0))
			abort();
		mutual__buf_free(&once);
		mutual__buf_free(&twice);
	}
	mutual__json_members(text, size, count_member, NULL);
	return 0;
}
