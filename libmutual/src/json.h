/*
 * json.h - strict JSON (RFC 8259) checking and string quoting.
 *
 * Payloads come from apps, the CLI and other devices, so the validator is
 * strict and bounded: UTF-8 only, no control characters in strings, nesting
 * at most MUTUAL_JSON_DEPTH_MAX deep, no trailing garbage.
 *
 * Every function here returns MUTUAL_ERROR when memory ran out, and for
 * nothing else (a callback's own return aside): what the text holds
 * (malformed, not an object, no such member) is MUTUAL_EINVALID or
 * MUTUAL_ENOTFOUND, so a caller that skips bad input can tell it from a
 * failure.
 */
#ifndef MUTUAL_JSON_H
#define MUTUAL_JSON_H

#include <stddef.h>

#include "common.h"


/* 0 if `text[0..len)` is one JSON object; MUTUAL_EINVALID with a message
 * naming the byte offset otherwise (MUTUAL_ERROR: out of memory). */
int mutual__json_check_object(const char *text, size_t len);
/* The same, with the rules every new append follows (docs/format.md,
 * "Payload"): no lone surrogate escape (\\ud800 alone), and no key twice
 * in one object, at any depth. An imported event that breaks them is
 * stored and forwarded as signed, and ignored by every projection. */
int mutual__json_check_strict(const char *text, size_t len);

/* The top-level string member `key` of the JSON object `text` (already
 * checked), unescaped into `out` (NUL-terminated). MUTUAL_ENOTFOUND if the
 * object has no such string member. */
int mutual__json_get_string(mutual_buf *out, const char *text, size_t len, const char *key);

/* Call `cb` for each top-level member of the JSON object `text` (already
 * checked): its key unescaped (NUL-terminated; `key_len` differs from
 * strlen(key) when the key holds a \u0000) and its value's raw text.
 * A non-zero return from `cb` stops and is returned. */
typedef int (*mutual_json_member_cb)(const char *key, size_t key_len, const char *value, size_t value_len,
	void *payload);
int mutual__json_members(const char *text, size_t len, mutual_json_member_cb cb, void *payload);

/* Append the canonical form of the (checked) JSON value `text`: no
 * insignificant white space, object members sorted by key; strings and
 * numbers as written. The same value gives the same bytes everywhere. */
int mutual__json_canonical(mutual_buf *out, const char *text, size_t len);

/* Append `s` as a quoted JSON string (escaping as RFC 8259 requires). */
int mutual__json_put_string(mutual_buf *b, const char *s);
/* 1 if s[0..len) is valid UTF-8 (RFC 3629), by the decoder the checks use. */
int mutual__json_utf8_valid(const char *s, size_t len);

#endif
