/*
 * form.c - decoding urlencoded form bodies into at most FORM_FIELDS_MAX
 * bounded fields (see form.h). Everything a browser sends for our forms is
 * accepted; everything else that could surprise the code above (NUL bytes,
 * half escapes, repeated names, which would make "which value counts?" a
 * question) is refused with a sentence for the 400 page.
 */
#include <stdlib.h>
#include <string.h>

#include "form.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode in[0..n) into out (NUL-terminated); returns the decoded length,
 * or -1 with *why set. The output is never longer than the input. */
static long decode(char *out, const char *in, size_t n, const char **why)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = i + 2 < n ? hex_value(in[i + 1]) : -1;
			int lo = i + 2 < n ? hex_value(in[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				*why = "a %-escape in the form is not two hex digits";
				return -1;
			}
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0') {
			*why = "the form holds a NUL byte";
			return -1;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

int form_parse(form *f, const char *body, size_t len, const char **why)
{
	memset(f, 0, sizeof(*f));
	/* Each pair of encoded length L needs at most L + 1 bytes decoded (its
	 * '=' or the '&' after it pays for one NUL), so len + 1 bytes hold all. */
	char *out = f->storage = malloc(len + 1);
	if (!out) {
		*why = "out of memory";
		return -1;
	}
	if (len == 0)
		return 0;
	size_t pos = 0;
	while (pos <= len) {
		const char *pair = body + pos;
		const char *amp = memchr(pair, '&', len - pos);
		size_t pair_len = amp ? (size_t)(amp - pair) : len - pos;
		pos += pair_len + 1;
		if (pair_len == 0)
			continue;
		if (f->n == FORM_FIELDS_MAX) {
			*why = "the form has too many fields";
			goto fail;
		}
		const char *eq = memchr(pair, '=', pair_len);
		size_t name_len = eq ? (size_t)(eq - pair) : pair_len;
		char *name = out;
		long n = decode(name, pair, name_len, why);
		if (n < 0)
			goto fail;
		if (n == 0 || n > FORM_NAME_MAX) {
			*why = n == 0 ? "a form field has no name" : "a form field's name is too long";
			goto fail;
		}
		out += n + 1;
		const char *value = "";
		if (eq) {
			char *v = out;
			n = decode(v, eq + 1, pair_len - name_len - 1, why);
			if (n < 0)
				goto fail;
			if (n > FORM_VALUE_MAX) {
				*why = "a form field is too long";
				goto fail;
			}
			out += n + 1;
			value = v;
		}
		if (form_get(f, name)) {
			*why = "the form gives a field twice";
			goto fail;
		}
		f->fields[f->n].name = name;
		f->fields[f->n].value = value;
		f->n++;
	}
	return 0;
fail:
	form_free(f);
	return -1;
}

const char *form_get(const form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->fields[i].name, name) == 0)
			return f->fields[i].value;
	return NULL;
}

void form_free(form *f)
{
	free(f->storage);
	memset(f, 0, sizeof(*f));
}

int form_uri_check(const char *uri)
{
	for (const char *p = uri; *p; p++) {
		if (*p != '%')
			continue;
		int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -1;
		p += 2;
	}
	return 0;
}
