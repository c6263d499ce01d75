/*
 * term.h - text from the store or a medium, made safe to show.
 *
 * Whatever another member wrote (a post, a device or group name, a ref
 * name quoted in a refusal, an event's payload) can hold characters a
 * terminal obeys rather than shows: ESC starts a sequence that clears the
 * screen or retitles the window, a C1 control (U+0080..U+009F) does the
 * same in one character, and the bidi controls reorder what a person
 * reads. `mutual` and `mutual-apps` print every such value through the
 * functions below; the apps' HTML, CSV and JSON escapes (examples/apps/
 * util.c) use the same rule, term_is_control().
 *
 * The form for a person (term_text; docs/architecture.md, "Text on a
 * terminal"), reversible because the backslash itself is escaped:
 *
 *   \\        a backslash
 *   \n \t \r  newline, tab, carriage return
 *   \xNN      any other C0 control, DEL, or a byte that is not valid UTF-8
 *   \uNNNN    a C1 control or a bidi control (U+202A..U+202E, U+2066..U+2069)
 *
 * Everything else (any script, accents, emoji) passes unchanged. JSON
 * (term_json, term_json_string) uses JSON's own escapes instead (\uNNNN,
 * and \n \t \r in a quoted string), so it stays valid JSON with the same
 * value.
 *
 * The returned strings are borrowed: each stays valid until TERM_SLOTS
 * further calls of these functions, enough for one printf's arguments.
 * They are meant for a single-threaded command line. If memory runs out a
 * call returns "?" and term_failed() says so from then on: the caller
 * checks it once before exiting, so a shortened output never passes as
 * a complete one.
 */
#ifndef MUTUAL_TERM_H
#define MUTUAL_TERM_H

#include <stddef.h>
#include <stdint.h>

#define TERM_SLOTS 16

/* The character at s[0..n) (n >= 1): its length in bytes (1..4), with its
 * code point in *cp; 0 when s does not start with valid UTF-8 (a stray
 * continuation byte, a truncated or overlong sequence, a surrogate, a code
 * point past U+10FFFF), *cp then being the first byte. */
size_t term_utf8(uint32_t *cp, const char *s, size_t n);

/* Whether the code point `cp` must never be shown as is: C0 controls, DEL,
 * C1 controls and the bidi embedding, override and isolate controls. */
int term_is_control(uint32_t cp);

/* `s` (NULL: "") in the escaped form above. */
const char *term_text(const char *s);
/* The first `n` bytes of `s` in the escaped form above. */
const char *term_textn(const char *s, size_t n);

/* The JSON text json[0..n) with every control character and every byte
 * that is not valid UTF-8 inside a string as a \uNNNN escape (U+FFFD for
 * a bad byte); the white space between tokens is kept. Valid JSON stays
 * valid with the same value; anything else still comes out safe. */
const char *term_json(const char *json, size_t n);
/* `s` (NULL: "") as a quoted JSON string, written through `put`: the one
 * JSON string writer of the command lines and the apps (the library's own,
 * json.c, writes the canonical payload bytes docs/format.md fixes). `"`
 * and `\` escaped, newline, tab and carriage return as \n \t \r, every
 * other control of term_is_control() as \uNNNN, and a byte that is not
 * valid UTF-8 as \ufffd: valid JSON a terminal can show. */
typedef void (*term_put_fn)(void *to, const char *s, size_t n);
void term_json_quote(term_put_fn put, void *to, const char *s);
/* term_json_quote() into a borrowed string. */
const char *term_json_string(const char *s);

/* Whether any call above ran out of memory (and returned "?"). */
int term_failed(void);

#endif
