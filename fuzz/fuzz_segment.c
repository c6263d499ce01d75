/*
 * fuzz_segment.c - a segment envelope from a hostile stick: opened with a
 * fixed group key, parsed, and every event decoded, as sync does before it
 * trusts anything. No out-of-bounds reads, no unbounded allocation (the
 * decompressor is capped), no crash on any input.
 *
 * Inputs whose first byte is 0 are taken as a plaintext segment instead and
 * sealed first, so the fuzzer also reaches the parser and event decoder
 * behind the authentication it cannot forge. Every input is also checked
 * as a newer-format envelope (the outer envelope all versions share).
 */
#include <string.h>

#include "event.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t group[MUTUAL_GROUP_ID_SIZE] = { 0xaa };
static const uint8_t device[32] = { 0xbb };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mutual_buf plain = { 0 }, sealed = { 0 };
	mutual_segment seg;
	size_t pos = 0;

	mutual__crypto_init();
	if (size > 0 && data[0] == 0) {
		mutual_buf in = { 0 };
		mutual__buf_put(&in, data + 1, size - 1);
		if (mutual__segment_seal(&sealed, &in, group, device, 1, key) != 0) {
			mutual__buf_free(&in);
			return 0;
		}
		mutual__buf_free(&in);
		data = sealed.data;
		size = sealed.len;
	}
	if (mutual__envelope_version(data, size) > 1)
		(void)mutual__envelope_check_newer(data, size, group, "refs/mutual/v2/devices/x", key);
	if (mutual__segment_open(&plain, data, size, group, device, key) != 0)
		goto done;
	if (mutual__segment_parse(&seg, plain.data, plain.len) != 0)
		goto done;
	for (uint32_t i = 0; i < seg.count && pos < seg.events_len; i++) {
		mutual_event_rec ev;
		size_t used;
		if (mutual__event_decode(&ev, seg.events + pos, seg.events_len - pos, &used) != 0)
			break;
		pos += used;
	}
done:
	mutual__buf_free(&plain);
	mutual__buf_free(&sealed);
	return 0;
}
