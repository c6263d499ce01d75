/*
 * json.c - a strict, bounded JSON validator and a string quoter.
 *
 * The validator walks the text once with recursion bounded by
 * MUTUAL_JSON_DEPTH_MAX, so hostile input can neither overflow the stack
 * nor make it read past `len`.
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	const unsigned char *p, *start, *end;
	const char *why;
	int strict; /* the rules for new appends: no lone surrogate escape, no duplicate key */
} cursor;

/* The one reason that is not about the text: check_object tells it apart. */
static const char out_of_memory[] = "out of memory";

static int fail(cursor *c, const char *why)
{
	if (!c->why)
		c->why = why;
	return -1;
}

static void skip_ws(cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int literal(cursor *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return fail(c, "unexpected character");
	c->p += n;
	return 0;
}

static int digits(cursor *c)
{
	const unsigned char *s = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > s ? 0 : fail(c, "malformed number");
}

static int number(cursor *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (digits(c) < 0)
		return -1;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (digits(c) < 0)
			return -1;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (digits(c) < 0)
			return -1;
	}
	return 0;
}

/* One UTF-8 sequence starting at c->p (RFC 3629: no overlongs, no surrogates). */
static int utf8_char(cursor *c)
{
	const unsigned char *p = c->p;
	size_t avail = (size_t)(c->end - p);
	unsigned char b = p[0];
	size_t n;
	unsigned int cp;

	if (b < 0x80) {
		c->p++;
		return 0;
	} else if (b >= 0xc2 && b <= 0xdf) {
		n = 2;
		cp = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		cp = b & 0x0f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		cp = b & 0x07;
	} else {
		return fail(c, "invalid UTF-8");
	}
	if (avail < n)
		return fail(c, "truncated UTF-8");
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return fail(c, "invalid UTF-8");
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return fail(c, "invalid UTF-8");
	c->p += n;
	return 0;
}

int mutual__json_utf8_valid(const char *s, size_t len)
{
	cursor c = { (const unsigned char *)s, (const unsigned char *)s, (const unsigned char *)s + len, NULL, 1 };
	while (c.p < c.end)
		if (utf8_char(&c) < 0)
			return 0;
	return 1;
}

static unsigned int hex4(const unsigned char *p);

/* Strict: a \\uD800-\\uDBFF escape (at `hex`, already checked) must be
 * followed by a \\uDC00-\\uDFFF one, which this consumes; a low one alone
 * is refused. A lone surrogate names no character: readers disagree on it. */
static int surrogate_escape(cursor *c, const unsigned char *hex)
{
	unsigned int cp = hex4(hex), lo;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(c, "lone surrogate escape");
	if (cp < 0xd800 || cp > 0xdbff)
		return 0;
	if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u')
		return fail(c, "lone surrogate escape");
	for (int i = 2; i < 6; i++)
		if (!strchr("0123456789abcdefABCDEF", c->p[i]) || !c->p[i])
			return fail(c, "bad \\u escape");
	lo = hex4(c->p + 2);
	if (lo < 0xdc00 || lo > 0xdfff)
		return fail(c, "lone surrogate escape");
	c->p += 6;
	return 0;
}

static int string(cursor *c)
{
	c->p++; /* the opening quote */
	while (c->p < c->end) {
		unsigned char ch = *c->p;
		if (ch == '"') {
			c->p++;
			return 0;
		}
		if (ch < 0x20)
			return fail(c, "control character in string");
		if (ch == '\\') {
			c->p++;
			if (c->p >= c->end)
				break;
			ch = *c->p;
			if (ch == 'u') {
				const unsigned char *hex = c->p + 1;
				c->p++;
				for (int i = 0; i < 4; i++, c->p++) {
					if (c->p >= c->end || !strchr("0123456789abcdefABCDEF", *c->p) || !*c->p)
						return fail(c, "bad \\u escape");
				}
				if (c->strict && surrogate_escape(c, hex) < 0)
					return -1;
				continue;
			}
			if (!strchr("\"\\/bfnrt", ch) || !ch)
				return fail(c, "bad escape");
			c->p++;
			continue;
		}
		if (utf8_char(c) < 0)
			return -1;
	}
	return fail(c, "unterminated string");
}

static int value(cursor *c, int depth);
static int container_walk(cursor *c, int depth, unsigned char close, int is_object, const unsigned char ***keys,
	size_t *n_keys, size_t *cap);
static int no_duplicate_keys(cursor *c, const unsigned char *const *keys, size_t n);

static int container(cursor *c, int depth, unsigned char close, int is_object)
{
	const unsigned char **keys = NULL; /* strict: where each key starts */
	size_t n_keys = 0, cap = 0;
	int rc = container_walk(c, depth, close, is_object, &keys, &n_keys, &cap);
	if (rc == 0 && n_keys > 1)
		rc = no_duplicate_keys(c, keys, n_keys);
	mutual__free(keys);
	return rc;
}

static int container_walk(cursor *c, int depth, unsigned char close, int is_object, const unsigned char ***keys,
	size_t *n_keys, size_t *cap)
{
	if (depth >= MUTUAL_JSON_DEPTH_MAX)
		return fail(c, "nested too deeply");
	c->p++;
	skip_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return 0;
	}
	for (;;) {
		if (is_object) {
			skip_ws(c);
			if (c->p >= c->end || *c->p != '"')
				return fail(c, "expected a string key");
			if (c->strict) {
				if (*n_keys == *cap) {
					const unsigned char **grown = mutual__realloc(*keys, (*cap = *cap ? *cap * 2 : 16) * sizeof(**keys));
					if (!grown)
						return fail(c, out_of_memory);
					*keys = grown;
				}
				(*keys)[(*n_keys)++] = c->p;
			}
			if (string(c) < 0)
				return -1;
			skip_ws(c);
			if (c->p >= c->end || *c->p != ':')
				return fail(c, "expected ':'");
			c->p++;
		}
		if (value(c, depth + 1) < 0)
			return -1;
		skip_ws(c);
		if (c->p >= c->end)
			return fail(c, "unexpected end");
		if (*c->p == ',') {
			c->p++;
			continue;
		}
		if (*c->p == close) {
			c->p++;
			return 0;
		}
		return fail(c, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int value(cursor *c, int depth)
{
	skip_ws(c);
	if (c->p >= c->end)
		return fail(c, "unexpected end");
	switch (*c->p) {
	case '{':
		return container(c, depth, '}', 1);
	case '[':
		return container(c, depth, ']', 0);
	case '"':
		return string(c);
	case 't':
		return literal(c, "true");
	case 'f':
		return literal(c, "false");
	case 'n':
		return literal(c, "null");
	default:
		if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
			return number(c);
		return fail(c, "unexpected character");
	}
}

static int check_object(const char *text, size_t len, int strict)
{
	cursor c = { (const unsigned char *)text, (const unsigned char *)text,
		     (const unsigned char *)text + len, NULL, strict };

	skip_ws(&c);
	if (c.p >= c.end || *c.p != '{')
		return mutual__fail(MUTUAL_EINVALID, "payload must be a JSON object, like {\"item\":\"rice\"}");
	if (container(&c, 0, '}', 1) == 0) {
		skip_ws(&c);
		if (c.p == c.end)
			return 0;
		fail(&c, "unexpected text after the object");
	}
	if (c.why == out_of_memory)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	return mutual__fail(MUTUAL_EINVALID, "payload is not valid JSON: %s at byte %zu",
		c.why, (size_t)(c.p - c.start));
}

int mutual__json_check_object(const char *text, size_t len)
{
	return check_object(text, len, 0);
}

int mutual__json_check_strict(const char *text, size_t len)
{
	return check_object(text, len, 1);
}

static int put_utf8(mutual_buf *b, unsigned int cp)
{
	uint8_t u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | cp >> 18);
		u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return mutual__buf_put(b, u, n);
}

static unsigned int hex4(const unsigned char *p)
{
	unsigned int v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];
		v = v << 4 | (unsigned int)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/* Unescape the string (the text was validated first, so escapes are whole) starting at c->p's quote into `out`. */
static int unescape(cursor *c, mutual_buf *out)
{
	c->p++;
	out->len = 0;
	while (c->p < c->end && *c->p != '"') {
		if (*c->p != '\\') {
			const unsigned char *run = c->p;
			while (c->p < c->end && *c->p != '"' && *c->p != '\\')
				c->p++;
			if (mutual__buf_put(out, run, (size_t)(c->p - run)) < 0)
				return -1;
			continue;
		}
		c->p++;
		if (*c->p == 'u') {
			unsigned int cp = hex4(c->p + 1);
			c->p += 5;
			if (cp >= 0xd800 && cp <= 0xdbff && c->end - c->p >= 6 && c->p[0] == '\\' && c->p[1] == 'u') {
				unsigned int lo = hex4(c->p + 2);
				if (lo >= 0xdc00 && lo <= 0xdfff) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					c->p += 6;
				}
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd; /* a lone surrogate cannot be UTF-8 */
			if (put_utf8(out, cp) < 0)
				return -1;
			continue;
		}
		{
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			const char *k = strchr(from, *c->p);
			if (mutual__buf_put_u8(out, (uint8_t)(k ? to[k - from] : *c->p)) < 0)
				return -1;
			c->p++;
		}
	}
	c->p++;
	return mutual__buf_cstr(out);
}

typedef struct {
	size_t off, len;
	const uint8_t *base;
} key_span;

static int by_span(const void *a, const void *b)
{
	const key_span *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int d = memcmp(x->base + x->off, y->base + y->off, n);
	return d ? d : (x->len > y->len) - (x->len < y->len);
}

/* Strict: the object's keys, unescaped ("a" and "\\u0061" are one key),
 * are all different. Sorting makes it n log n whatever the object holds. */
static int no_duplicate_keys(cursor *c, const unsigned char *const *keys, size_t n)
{
	mutual_buf all = { 0 }, one = { 0 };
	key_span *spans = mutual__calloc(n, sizeof(*spans));
	int rc = 0;

	if (!spans)
		return fail(c, out_of_memory);
	for (size_t i = 0; i < n && rc == 0; i++) {
		cursor k = *c;
		k.p = keys[i];
		spans[i].off = all.len;
		if (unescape(&k, &one) < 0 || mutual__buf_put(&all, one.data, one.len) < 0)
			rc = fail(c, out_of_memory);
		spans[i].len = one.len;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		spans[i].base = all.data;
	if (rc == 0) {
		qsort(spans, n, sizeof(*spans), by_span);
		for (size_t i = 1; i < n && rc == 0; i++)
			if (by_span(&spans[i - 1], &spans[i]) == 0)
				rc = fail(c, "duplicate key");
	}
	mutual__free(spans);
	mutual__buf_free(&all);
	mutual__buf_free(&one);
	return rc;
}

int mutual__json_members(const char *text, size_t len, mutual_json_member_cb cb, void *payload)
{
	cursor c = { (const unsigned char *)text, (const unsigned char *)text,
		     (const unsigned char *)text + len, NULL, 0 };
	mutual_buf name = { 0 };
	int rc = 0;

	skip_ws(&c);
	if (c.p >= c.end || *c.p != '{')
		return mutual__fail(MUTUAL_EINVALID, "not a JSON object");
	c.p++;
	for (;;) {
		const unsigned char *v;
		skip_ws(&c);
		if (c.p >= c.end || *c.p != '"')
			break;
		if (unescape(&c, &name) < 0) {
			rc = MUTUAL_ERROR;
			break;
		}
		skip_ws(&c);
		if (c.p >= c.end || *c.p != ':')
			break;
		c.p++;
		skip_ws(&c);
		v = c.p;
		if (value(&c, 1) < 0) {
			rc = mutual__fail(MUTUAL_EINVALID, "not a valid JSON object");
			break;
		}
		if ((rc = cb((const char *)name.data, name.len, (const char *)v, (size_t)(c.p - v), payload)) != 0)
			break;
		skip_ws(&c);
		if (c.p >= c.end || *c.p != ',')
			break;
		c.p++;
	}
	mutual__buf_free(&name);
	return rc;
}

typedef struct {
	const char *key;
	mutual_buf *out;
	int found;
} get_string_ctx;

static int get_string_member(const char *key, size_t key_len, const char *value, size_t len, void *payload)
{
	get_string_ctx *ctx = payload;
	if (key_len != strlen(key))
		return 0;
	cursor c = { (const unsigned char *)value, (const unsigned char *)value,
		     (const unsigned char *)value + len, NULL, 0 };
	if (strcmp(key, ctx->key) != 0 || len == 0 || value[0] != '"')
		return 0;
	ctx->found = 1;
	return unescape(&c, ctx->out) < 0 ? MUTUAL_ERROR : 1;
}

int mutual__json_get_string(mutual_buf *out, const char *text, size_t len, const char *key)
{
	get_string_ctx ctx = { key, out, 0 };
	int rc = mutual__json_members(text, len, get_string_member, &ctx);
	if (rc < 0)
		return rc;
	if (!ctx.found)
		return mutual__fail(MUTUAL_ENOTFOUND, "no string member \"%s\"", key);
	return 0;
}

typedef struct {
	char *key;       /* unescaped, for sorting */
	mutual_buf text; /* "key":canonical-value */
} canon_member;

static int by_key(const void *a, const void *b)
{
	return strcmp(((const canon_member *)a)->key, ((const canon_member *)b)->key);
}

static int canon(mutual_buf *out, cursor *c, int depth)
{
	const unsigned char *start;
	skip_ws(c);
	if (depth > MUTUAL_JSON_DEPTH_MAX || c->p >= c->end)
		return mutual__fail(MUTUAL_EINVALID, "malformed JSON");
	if (*c->p == '{') {
		canon_member *m = NULL;
		size_t n = 0;
		mutual_buf key = { 0 };
		int rc = 0;
		c->p++;
		for (;;) {
			const unsigned char *kstart;
			canon_member *grown;
			skip_ws(c);
			if (c->p < c->end && *c->p == '}') {
				c->p++;
				break;
			}
			if (c->p < c->end && *c->p == ',') {
				c->p++;
				continue;
			}
			kstart = c->p;
			if ((rc = unescape(c, &key)) < 0 || !(grown = mutual__realloc(m, (n + 1) * sizeof(*m)))) {
				rc = rc < 0 ? rc : mutual__fail(MUTUAL_ERROR, "out of memory");
				break;
			}
			m = grown;
			memset(&m[n], 0, sizeof(m[n]));
			if (!(m[n].key = mutual__strdup((const char *)key.data))) {
				rc = MUTUAL_ERROR;
				break;
			}
			n++;
			if ((rc = mutual__buf_put(&m[n - 1].text, kstart, (size_t)(c->p - kstart))) < 0 ||
			    (rc = mutual__buf_put_u8(&m[n - 1].text, ':')) < 0)
				break;
			skip_ws(c);
			c->p++; /* the ':' */
			if ((rc = canon(&m[n - 1].text, c, depth + 1)) < 0)
				break;
		}
		if (rc == 0) {
			if (n > 1)
				qsort(m, n, sizeof(*m), by_key);
			rc = mutual__buf_put_u8(out, '{');
			for (size_t i = 0; i < n && rc == 0; i++) {
				if (i)
					rc = mutual__buf_put_u8(out, ',');
				if (rc == 0)
					rc = mutual__buf_put(out, m[i].text.data, m[i].text.len);
			}
			if (rc == 0)
				rc = mutual__buf_put_u8(out, '}');
		}
		for (size_t i = 0; i < n; i++) {
			mutual__free(m[i].key);
			mutual__buf_free(&m[i].text);
		}
		mutual__free(m);
		mutual__buf_free(&key);
		return rc;
	}
	if (*c->p == '[') {
		int first = 1, rc = mutual__buf_put_u8(out, '[');
		c->p++;
		for (;;) {
			skip_ws(c);
			if (rc < 0 || c->p >= c->end)
				return rc < 0 ? rc : mutual__fail(MUTUAL_EINVALID, "malformed JSON");
			if (*c->p == ']') {
				c->p++;
				return mutual__buf_put_u8(out, ']');
			}
			if (*c->p == ',') {
				c->p++;
				continue;
			}
			if (!first && (rc = mutual__buf_put_u8(out, ',')) < 0)
				return rc;
			first = 0;
			rc = canon(out, c, depth + 1);
		}
	}
	start = c->p;
	if (value(c, depth) < 0)
		return mutual__fail(MUTUAL_EINVALID, "malformed JSON");
	return mutual__buf_put(out, start, (size_t)(c->p - start));
}

int mutual__json_canonical(mutual_buf *out, const char *text, size_t len)
{
	cursor c = { (const unsigned char *)text, (const unsigned char *)text,
		     (const unsigned char *)text + len, NULL, 0 };
	return canon(out, &c, 0);
}

int mutual__json_put_string(mutual_buf *b, const char *s)
{
	if (mutual__buf_put_u8(b, '"') < 0)
		return MUTUAL_ERROR;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int rc;
		if (*p == '"' || *p == '\\') {
			unsigned char esc[2] = { '\\', *p };
			rc = mutual__buf_put(b, esc, 2);
		} else if (*p < 0x20) {
			rc = mutual__buf_printf(b, "\\u%04x", *p);
		} else {
			rc = mutual__buf_put_u8(b, *p);
		}
		if (rc < 0)
			return rc;
	}
	return mutual__buf_put_u8(b, '"');
}
