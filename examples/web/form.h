/*
 * form.h - the web front end's reader of application/x-www-form-urlencoded
 * bodies: the only parser of outside bytes in mutual-web besides
 * libmicrohttpd itself, kept free of everything else so a fuzzer can drive
 * it alone (fuzz/fuzz_form.c).
 */
#ifndef MUTUAL_WEB_FORM_H
#define MUTUAL_WEB_FORM_H

#include <stddef.h>

#define FORM_FIELDS_MAX 64   /* fields in one form */
#define FORM_NAME_MAX 64     /* bytes in a field name, decoded */
#define FORM_VALUE_MAX 4096  /* bytes in a field value, decoded */

typedef struct form_field {
	const char *name;  /* decoded, 1..FORM_NAME_MAX bytes, no NUL inside */
	const char *value; /* decoded, 0..FORM_VALUE_MAX bytes, no NUL inside */
} form_field;

/* Zero-initialise (`form f = {0};`); release with form_free(). */
typedef struct form {
	form_field fields[FORM_FIELDS_MAX];
	size_t n;
	char *storage; /* every name and value, NUL-terminated, in one allocation */
} form;

/*
 * Parse `len` bytes of `body` ("a=1&b=x+y%21"): '+' is a space, %XX a byte.
 * Empty pairs ("a=1&&b=2") are skipped; a pair without '=' has the value "".
 * Refused, returning -1 with `*why` set to a static sentence: a malformed
 * %-escape, a NUL byte (raw or escaped), an empty or overlong name, an
 * overlong value, a name given twice, more than FORM_FIELDS_MAX fields, or
 * no memory. On success returns 0; on failure `f` holds nothing.
 */
int form_parse(form *f, const char *body, size_t len, const char **why);

/* The value of field `name`, or NULL when the form has none. Borrowed from `f`. */
const char *form_get(const form *f, const char *name);

/*
 * Judge a request's path and query as sent, before unescaping: 0 when
 * every '%' starts a two-hex-digit escape and none is %00, else -1.
 * (libmicrohttpd cuts a path at an escaped NUL, so "/%00/../x" would be
 * answered as "/".)
 */
int form_uri_check(const char *uri);

/* Release what form_parse kept; `f` may then be parsed into again. */
void form_free(form *f);

#endif
