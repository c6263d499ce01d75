/*
 * fuzz_apps_input.c - what the apps' front ends pass on from a form or a
 * command line, on hostile bytes. The first byte picks the parser:
 *  0: a quantity: accepted ones print and parse back to the same value;
 *  1: a name: the cleaned text is within bounds, has no white space at
 *     its ends or doubled inside, and cleaning it again changes nothing;
 *  2: a local date and time ("DATE\nHH:MM", in Europe/London): an
 *     accepted one reads back as the same wall clock;
 *  3: the escapes: HTML output holds no markup characters; none of the
 *     HTML, JSON, CSV and terminal (cli/term.h) outputs holds a character
 *     a terminal obeys (a CSV cell may keep a newline).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps.h"
#include "term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quantity(const char *text, int allow_negative)
{
	int64_t v, again;
	char printed[32];
	if (apps_qty_parse(&v, text, allow_negative) != 0)
		return;
	if (v == 0 || (!allow_negative && v < 0))
		abort();
	apps_qty_format(printed, v);
	if (apps_qty_parse(&again, printed, 1) != 0 || again != v)
		abort();
}

static void name(const char *text)
{
	char *clean = apps_clean_text(text, 80, "the name");
	if (!clean)
		return;
	size_t len = strlen(clean);
	if (len == 0 || len > 80 || clean[0] == ' ' || clean[len - 1] == ' ' || strstr(clean, "  "))
		abort();
	char *again = apps_clean_text(clean, 80, "the name");
	if (!again || strcmp(again, clean) != 0)
		abort();
	free(again);
	free(clean);
}

static void local_time(char *text)
{
	char *nl = strchr(text, '\n');
	if (!nl)
		return;
	*nl = '\0';
	int64_t ms;
	if (apps_local_to_utc(&ms, text, nl + 1) != 0)
		return;
	char expect[40], got[32];
	snprintf(expect, sizeof(expect), "%s %s", text, nl + 1);
	apps_time_local(got, ms);
	if (strcmp(expect, got) != 0)
		abort();
}

/* Whether `s` holds, bytewise, a C0 control (but `allowed`), DEL, a C1
 * control (C2 80..C2 9F) or a bidi control (E2 80 AA..AE, E2 81 A6..A9). */
static int acts(const char *s, int allowed)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; p && p[i]; i++)
		if ((p[i] < 0x20 && p[i] != allowed) || p[i] == 0x7f ||
			(p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) ||
			(p[i] == 0xe2 && p[i + 1] == 0x80 && p[i + 2] >= 0xaa && p[i + 2] <= 0xae) ||
			(p[i] == 0xe2 && p[i + 1] == 0x81 && p[i + 2] >= 0xa6 && p[i + 2] <= 0xa9))
			return 1;
	return 0;
}

static void escapes(const char *text)
{
	apps_buf html = {0}, json = {0}, csv = {0};
	apps_buf_html(&html, text);
	apps_buf_json(&json, text);
	apps_buf_csv(&csv, text);
	if (html.data && strpbrk(html.data, "<>\"'"))
		abort();
	if (acts(html.data, -1) || acts(json.data, -1) || acts(csv.data, '\n') || acts(term_text(text), -1))
		abort();
	if (csv.data && strchr("=+-@", csv.data[0]))
		abort();
	apps_buf_free(&html);
	apps_buf_free(&json);
	apps_buf_free(&csv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	setenv("TZ", "Europe/London", 1);
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0: quantity(text, data[0] & 4); break;
	case 1: name(text); break;
	case 2: local_time(text); break;
	default: escapes(text);
	}
	free(text);
	return 0;
}
