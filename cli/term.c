/*
 * term.c - text from the store or a medium, made safe to show (term.h).
 *
 * Each function builds its result in a growing buffer, then parks it in
 * one of TERM_SLOTS slots, freeing what the slot held before: a caller can
 * pass several results to one printf without owning any of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "term.h"

typedef struct {
	char *data;
	size_t len, cap;
	int failed; /* sticky: once set, adds do nothing */
} buf;

static char *slots[TERM_SLOTS];
static size_t next_slot;
static int out_of_memory;

static void add(buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *grown;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(grown = realloc(b->data, cap))) {
			b->failed = 1;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void add_str(buf *b, const char *s)
{
	add(b, s, strlen(s));
}

/* \xNN (`kind` 'x', for a byte) or \uNNNN (`kind` 'u'). */
static void add_escape(buf *b, char kind, uint32_t cp)
{
	char e[16];
	int n = kind == 'x' ? snprintf(e, sizeof(e), "\\x%02x", (unsigned int)cp)
			    : snprintf(e, sizeof(e), "\\u%04x", (unsigned int)cp);
	add(b, e, (size_t)n);
}

static const char *finish(buf *b)
{
	if (b->failed) {
		free(b->data);
		out_of_memory = 1;
		return "?";
	}
	if (!b->data)
		return "";
	free(slots[next_slot]);
	slots[next_slot] = b->data;
	next_slot = (next_slot + 1) % TERM_SLOTS;
	return b->data;
}

size_t term_utf8(uint32_t *cp, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	/* C0 and C1 lead bytes only start overlong forms of ASCII, F5..FF
	 * only code points past U+10FFFF. */
	size_t len = p[0] < 0x80 ? 1 : p[0] < 0xc2 ? 0 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : p[0] < 0xf5 ? 4 : 0;
	uint32_t c = p[0] & (len == 1 ? 0x7f : len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);

	*cp = p[0];
	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int term_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

const char *term_textn(const char *s, size_t n)
{
	buf b = { 0 };
	uint32_t cp;
	size_t len;

	for (size_t i = 0; i < n; i += len ? len : 1) {
		len = term_utf8(&cp, s + i, n - i);
		if (len == 0)
			add_escape(&b, 'x', cp);
		else if (cp == '\\')
			add_str(&b, "\\\\");
		else if (cp == '\n')
			add_str(&b, "\\n");
		else if (cp == '\t')
			add_str(&b, "\\t");
		else if (cp == '\r')
			add_str(&b, "\\r");
		else if (term_is_control(cp))
			add_escape(&b, cp < 0x80 ? 'x' : 'u', cp);
		else
			add(&b, s + i, len);
	}
	return finish(&b);
}

const char *term_text(const char *s)
{
	return s ? term_textn(s, strlen(s)) : "";
}

const char *term_json(const char *json, size_t n)
{
	buf b = { 0 };
	int in_string = 0;
	uint32_t cp;
	size_t len;

	for (size_t i = 0; i < n; i += len ? len : 1) {
		len = term_utf8(&cp, json + i, n - i);
		if (len == 0) {
			add_str(&b, "\\ufffd");
			continue;
		}
		/* An escape inside a string is copied whole, so its quote or
		 * backslash does not end the string; a control after the
		 * backslash (not JSON) is escaped like any other. */
		if (in_string && cp == '\\' && i + 1 < n && json[i + 1] >= 0x20 && json[i + 1] < 0x7f) {
			add(&b, json + i, 2);
			len = 2;
			continue;
		}
		if (cp == '"')
			in_string = !in_string;
		/* Between tokens only white space can stand; it is layout. */
		if (term_is_control(cp) && (in_string || (cp != '\n' && cp != '\t' && cp != '\r')))
			add_escape(&b, 'u', cp);
		else
			add(&b, json + i, len);
	}
	return finish(&b);
}

void term_json_quote(term_put_fn put, void *to, const char *s)
{
	size_t n = s ? strlen(s) : 0, len;
	uint32_t cp;
	char esc[8];

	put(to, "\"", 1);
	for (size_t i = 0; i < n; i += len ? len : 1) {
		len = term_utf8(&cp, s + i, n - i);
		if (len == 0) {
			put(to, "\\ufffd", 6);
		} else if (cp == '"' || cp == '\\') {
			esc[0] = '\\', esc[1] = (char)cp;
			put(to, esc, 2);
		} else if (cp == '\n' || cp == '\r' || cp == '\t') {
			esc[0] = '\\', esc[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
			put(to, esc, 2);
		} else if (term_is_control(cp)) {
			/* DEL, C1 and bidi controls too: JSON allows them raw,
			 * a terminal showing the document would obey them. */
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned int)cp);
			put(to, esc, 6);
		} else {
			put(to, s + i, len);
		}
	}
	put(to, "\"", 1);
}

static void put_buf(void *to, const char *s, size_t n)
{
	add(to, s, n);
}

const char *term_json_string(const char *s)
{
	buf b = { 0 };
	term_json_quote(put_buf, &b, s);
	return finish(&b);
}

int term_failed(void)
{
	return out_of_memory;
}
