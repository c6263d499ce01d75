/*
 * test_term.c - the escapes of cli/term.h, which every terminal output of
 * `mutual` and `mutual-apps` goes through: each class of character a
 * terminal would obey (C0, DEL, C1, bidi controls) and every kind of byte
 * that is not UTF-8 comes out as a visible escape, ordinary text of any
 * script passes unchanged, and the human form is reversible (random
 * strings decode back to themselves). The JSON forms stay JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "term.h"

/* `got` is `want`, or the test fails saying what `in` gave. */
#define CHECK_SHOWN(got, want, in)                                                              \
	do {                                                                                    \
		const char *got_ = (got);                                                       \
		if (strcmp(got_, (want)) != 0) {                                                \
			fprintf(stderr, "%s:%d: %s gave '%s', expected '%s'\n", __FILE__, __LINE__, \
				#in, got_, (want));                                             \
			exit(1);                                                                \
		}                                                                               \
	} while (0)

#define CHECK_TEXT(in, want) CHECK_SHOWN(term_text(in), want, in)

/* No byte or sequence of `s` that a terminal obeys: C0, DEL, C1 (C2 80..
 * C2 9F), the bidi controls (E2 80 AA..AE, E2 81 A6..A9). Checked on the
 * bytes, apart from term.c's own decoder. */
static int shows_safely(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; p[i]; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
		if (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
			return 0;
		if (p[i] == 0xe2 && p[i + 1] == 0x80 && p[i + 2] >= 0xaa && p[i + 2] <= 0xae)
			return 0;
		if (p[i] == 0xe2 && p[i + 1] == 0x81 && p[i + 2] >= 0xa6 && p[i + 2] <= 0xa9)
			return 0;
	}
	return 1;
}

static void c0_controls(void)
{
	CHECK_TEXT("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07");
	CHECK_TEXT("\x1b[2J", "\\x1b[2J");
	CHECK_TEXT("a\x01z\x1f", "a\\x01z\\x1f");
	CHECK_TEXT("two\nlines", "two\\nlines");
	CHECK_TEXT("a\tb\rc", "a\\tb\\rc");
	CHECK(shows_safely(term_text("\x1b\x07\x08\x0b\x0c\x0e\x1f\n\t\r")));
}

static void del_and_c1(void)
{
	CHECK_TEXT("rub\x7fout", "rub\\x7fout");
	CHECK_TEXT("\xc2\x9b" "31m", "\\u009b31m");       /* CSI in one character */
	CHECK_TEXT("\xc2\x80\xc2\x85\xc2\x9f", "\\u0080\\u0085\\u009f");
	CHECK_TEXT("\xc2\xa0", "\xc2\xa0");                /* U+00A0, past C1: shown */
}

static void bidi_controls(void)
{
	CHECK_TEXT("abc\xe2\x80\xae" "fdp.exe", "abc\\u202efdp.exe");  /* U+202E RLO */
	CHECK_TEXT("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "\\u202a\\u202b\\u202c\\u202d");
	CHECK_TEXT("\xe2\x81\xa6x\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9", "\\u2066x\\u2067\\u2068\\u2069");
	/* neighbours that are not controls pass */
	CHECK_TEXT("\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa", "\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa");
}

static void invalid_utf8(void)
{
	CHECK_TEXT("a\xff" "b", "a\\xffb");
	CHECK_TEXT("\x80", "\\x80");                   /* a stray continuation byte */
	CHECK_TEXT("\xc3", "\\xc3");                   /* truncated at the end */
	CHECK_TEXT("\xe2\x80", "\\xe2\\x80");
	CHECK_TEXT("\xc3(x", "\\xc3(x");               /* truncated, then ASCII */
	CHECK_TEXT("\xf0\x9f\x98", "\\xf0\\x9f\\x98");
	CHECK_TEXT("\xc0\xaf", "\\xc0\\xaf");          /* overlong '/' */
	CHECK_TEXT("\xc1\x9b", "\\xc1\\x9b");          /* overlong '[' */
	CHECK_TEXT("\xe0\x80\xaf", "\\xe0\\x80\\xaf"); /* overlong, 3 bytes */
	CHECK_TEXT("\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf");
	CHECK_TEXT("\xed\xa0\x80", "\\xed\\xa0\\x80"); /* a surrogate */
	CHECK_TEXT("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
	CHECK_TEXT("\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80");
	/* the overlong form of a C1 control is not one, but is no text either */
	CHECK_TEXT("\xe0\x82\x9b", "\\xe0\\x82\\x9b");
}

static void backslash_and_plain_text(void)
{
	CHECK_TEXT("C:\\temp", "C:\\\\temp");
	CHECK_TEXT("\\x1b", "\\\\x1b"); /* typed as text: told apart from an escape */
	CHECK_TEXT("", "");
	CHECK_SHOWN(term_text(NULL), "", NULL);
	static const char *const plain[] = { "Rice (long grain), 12.5 kg", "crème fraîche", "Zoë", "Ελληνικά",
		"Київ", "日本語のテキスト", "עברית", "العربية", "🍚🥫👍🏽", "\xf0\x9f\x87\xac\xf0\x9f\x87\xa7" };
	for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++)
		CHECK_TEXT(plain[i], plain[i]);
	/* a prefix: the cut is escaped, not left half a character */
	CHECK_SHOWN(term_textn("Zoë", 3), "Zo\\xc3", "Zoë");
	CHECK_SHOWN(term_textn("abc\x1b", 4), "abc\\x1b", "abc\x1b");
}

static void json_forms(void)
{
	CHECK_SHOWN(term_json_string("a\"b\\c\nd\x01\x1b\x7f\t\r"), "\"a\\\"b\\\\c\\nd\\u0001\\u001b\\u007f\\t\\r\"", 1);
	CHECK_SHOWN(term_json_string("\xc2\x9b\xe2\x80\xae\xe2\x81\xa6"), "\"\\u009b\\u202e\\u2066\"", 2);
	CHECK_SHOWN(term_json_string("x\xff\xc3"), "\"x\\ufffd\\ufffd\"", 3);
	CHECK_SHOWN(term_json_string("Zoë 🍚"), "\"Zoë 🍚\"", 4);
	CHECK_SHOWN(term_json_string(NULL), "\"\"", 5);

	/* JSON text: raw controls inside strings become escapes, escapes
	 * already there stay, the layout between tokens stays. */
	const char *doc = "{\"t\":\"\\u001b[2J\xc2\x9b" "31m\x7f\",\n\t\"q\":\"a\\\"\xe2\x80\xae\",\"n\":[1, 2]}";
	CHECK_SHOWN(term_json(doc, strlen(doc)),
		"{\"t\":\"\\u001b[2J\\u009b31m\\u007f\",\n\t\"q\":\"a\\\"\\u202e\",\"n\":[1, 2]}", doc);
	const char *bad = "{\"a\":\"\x1b\n\xff\"}\x1b";
	CHECK_SHOWN(term_json(bad, strlen(bad)), "{\"a\":\"\\u001b\\u000a\\ufffd\"}\\u001b", bad);
	const char *plain = "{\"item\":\"crème fraîche\",\"qty\":1500}";
	CHECK_SHOWN(term_json(plain, strlen(plain)), plain, plain);
}

static void utf8_decoder(void)
{
	uint32_t cp;
	CHECK(term_utf8(&cp, "A", 1) == 1 && cp == 'A');
	CHECK(term_utf8(&cp, "\xc3\xab", 2) == 2 && cp == 0xeb);
	CHECK(term_utf8(&cp, "\xe2\x80\xae", 3) == 3 && cp == 0x202e);
	CHECK(term_utf8(&cp, "\xf0\x9f\x8d\x9a", 4) == 4 && cp == 0x1f35a);
	CHECK(term_utf8(&cp, "\xf4\x8f\xbf\xbf", 4) == 4 && cp == 0x10ffff);
	CHECK(term_utf8(&cp, "\xe2\x80\xae", 2) == 0 && cp == 0xe2); /* n cuts it */
	CHECK(term_is_control(0) && term_is_control(0x1f) && term_is_control(0x7f) && term_is_control(0x9f));
	CHECK(!term_is_control(' ') && !term_is_control(0xa0) && !term_is_control(0x2029));
	CHECK(term_is_control(0x202a) && term_is_control(0x202e) && term_is_control(0x2066) && term_is_control(0x2069));
	CHECK(!term_is_control(0x202f) && !term_is_control(0x2065) && !term_is_control(0x206a));
}

/* The human form, decoded: the inverse the notation promises. */
static size_t unescape(char *out, const char *s)
{
	size_t n = 0;
	for (const char *p = s; *p;) {
		if (*p != '\\') {
			out[n++] = *p++;
			continue;
		}
		p++;
		if (*p == '\\' || *p == 'n' || *p == 't' || *p == 'r') {
			out[n++] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : '\\';
			p++;
		} else if (*p == 'x') {
			unsigned int v;
			CHECK(sscanf(p + 1, "%2x", &v) == 1);
			out[n++] = (char)v;
			p += 3;
		} else {
			unsigned int v;
			CHECK(*p == 'u' && sscanf(p + 1, "%4x", &v) == 1);
			if (v < 0x800) {
				out[n++] = (char)(0xc0 | v >> 6);
			} else {
				out[n++] = (char)(0xe0 | v >> 12);
				out[n++] = (char)(0x80 | (v >> 6 & 0x3f));
			}
			out[n++] = (char)(0x80 | (v & 0x3f));
			p += 5;
		}
	}
	out[n] = '\0';
	return n;
}

static void reversible(void)
{
	/* bytes biased towards the interesting ones */
	static const unsigned char pick[] = { 'a', 'Z', ' ', '\\', 'x', 'u', '0', '\n', '\t', '\r', 0x1b, 0x07, 0x7f,
		0x80, 0x9b, 0xbf, 0xc2, 0xc3, 0xab, 0xe2, 0x81, 0xa6, 0xae, 0xed, 0xf0, 0x9f, 0xf4, 0xff };
	uint64_t x = 0x9e3779b97f4a7c15u;
	char in[64], back[64 * 6];

	for (int round = 0; round < 20000; round++) {
		size_t len = 0;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		for (size_t n = x % 24; len < n; len++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			in[len] = (char)pick[x % sizeof(pick)];
		}
		in[len] = '\0';
		const char *shown = term_text(in);
		if (!shows_safely(shown) || unescape(back, shown) != len || memcmp(back, in, len) != 0) {
			fprintf(stderr, "round %d: shown as '%s', which does not read back\n", round, shown);
			exit(1);
		}
	}
	CHECK(!term_failed());
}

/* TERM_SLOTS results stay valid together, as one printf needs them. */
static void slots_live_together(void)
{
	const char *r[TERM_SLOTS];
	char want[32];
	for (int i = 0; i < TERM_SLOTS; i++) {
		snprintf(want, sizeof(want), "%d\x1b", i);
		r[i] = term_text(want);
	}
	for (int i = 0; i < TERM_SLOTS; i++) {
		snprintf(want, sizeof(want), "%d\\x1b", i);
		CHECK(strcmp(r[i], want) == 0);
	}
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "c0_controls", c0_controls },
		{ "del_and_c1", del_and_c1 },
		{ "bidi_controls", bidi_controls },
		{ "invalid_utf8", invalid_utf8 },
		{ "backslash_and_plain_text", backslash_and_plain_text },
		{ "json_forms", json_forms },
		{ "utf8_decoder", utf8_decoder },
		{ "reversible", reversible },
		{ "slots_live_together", slots_live_together },
	};
	return run_cases(cases, sizeof(cases) / sizeof(*cases), argc, argv);
}
