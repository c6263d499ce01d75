/*
 * fuzz_form.c - mutual-web's form parser (examples/web/form.c) on hostile
 * bytes: no out-of-bounds access, and what it accepts keeps its promises:
 * at most FORM_FIELDS_MAX fields, names 1..FORM_NAME_MAX bytes and values
 * at most FORM_VALUE_MAX, no name twice, form_get finds each, and encoding
 * the fields again (every byte escaped) parses back to the same fields.
 */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	form f = { 0 }, again = { 0 };
	const char *why = NULL;
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
