/*
 * fuzz_form.c - mutual-web's form parser (examples/web/form.c) on hostile
 * bytes: no out-of-bounds access, and what it accepts keeps its promises:
 * at most FORM_FIELDS_MAX fields, names 1..FORM_NAME_MAX bytes and values
 * at most FORM_VALUE_MAX, no name twice, form_get finds each, and encoding
 * the fields again (every byte escaped) parses back to the same fields.
 * The same bytes as a request's path go through form_uri_check, whose
 * answer must agree with a plain reading of the rule.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *encode(const form *f, size_t *len)
{
	size_t cap = 1;
	for (size_t i = 0; i < f->n; i++)
		cap += 3 * (strlen(f->fields[i].name) + strlen(f->fields[i].value)) + 2;
	char *out = malloc(cap), *p = out;
	if (!out)
		abort();
	for (size_t i = 0; i < f->n; i++) {
		const char *parts[2] = { f->fields[i].name, f->fields[i].value };
		if (i)
			*p++ = '&';
		for (int k = 0; k < 2; k++) {
			if (k)
				*p++ = '=';
			for (const unsigned char *s = (const unsigned char *)parts[k]; *s; s++)
				p += sprintf(p, "%%%02X", *s);
		}
	}
	*len = (size_t)(p - out);
	return out;
}

/* The rule of form_uri_check, read slowly: every '%' starts two hex
 * digits, and they are not "00". */
static int uri_ok_slowly(const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%')
			continue;
		if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
			!isxdigit((unsigned char)s[i + 2]) || (s[i + 1] == '0' && s[i + 2] == '0'))
			return 0;
		i += 2;
	}
	return 1;
}

static void check_uri(const uint8_t *data, size_t size)
{
	char *uri = malloc(size + 1);
	if (!uri)
		abort();
	memcpy(uri, data, size);
	uri[size] = '\0';
	if ((form_uri_check(uri) == 0) != uri_ok_slowly(uri))
		abort();
	free(uri);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	form f = { 0 }, again = { 0 };
	const char *why = NULL;
	check_uri(data, size);
	if (form_parse(&f, (const char *)data, size, &why) != 0) {
		if (!why || f.n != 0 || f.storage)
			abort();
		return 0;
	}
	if (f.n > FORM_FIELDS_MAX)
		abort();
	for (size_t i = 0; i < f.n; i++) {
		size_t name_len = strlen(f.fields[i].name);
		if (name_len == 0 || name_len > FORM_NAME_MAX ||
			strlen(f.fields[i].value) > FORM_VALUE_MAX ||
			form_get(&f, f.fields[i].name) != f.fields[i].value)
			abort();
	}
	size_t len;
	char *text = encode(&f, &len);
	if (form_parse(&again, text, len, &why) != 0 || again.n != f.n)
		abort();
	for (size_t i = 0; i < f.n; i++)
		if (strcmp(f.fields[i].name, again.fields[i].name) != 0 ||
			strcmp(f.fields[i].value, again.fields[i].value) != 0)
			abort();
	free(text);
	form_free(&again);
	form_free(&f);
	return 0;
}
