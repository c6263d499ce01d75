/*
 * util.c - what the three apps share: errors, a string builder with the
 * escapes the front ends need (JSON, HTML, CSV), time in UTC and the local
 * zone, exact quantities, and cleaning names typed into a form.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "apps_private.h"
#include "term.h"

static _Thread_local char last_error[256];

const char *apps_error(void)
{
	return last_error;
}

int apps__fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return code;
}

int apps__lib(int code)
{
	return apps__fail(code, "%s", mutual_error_last());
}

int apps_open(mutual_store *store)
{
	int rc = pantry__register(store);
	if (rc == 0)
		rc = rota__register(store);
	return rc;
}

void apps__new_id(char out[17])
{
	unsigned char raw[8];
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort(); /* the kernel's random source never fails on Linux >= 3.17 */
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* The library gives the form to show, which tells colliding names apart
 * (a second "laptop" is not the laptop), and keeps it per store handle: a
 * history or CSV of thousands of rows computes no name twice. */
const char *apps__device_name(mutual_store *store, const char *hex)
{
	static _Thread_local char unknown[9];
	const char *name;
	if (mutual_device_display_name(&name, store, hex) == 0 && *name)
		return name;
	snprintf(unknown, sizeof(unknown), "%.8s", hex);
	return unknown;
}

/* ------------------------------------------------------------ buffers */

void apps_buf_free(apps_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int grow(apps_buf *b, size_t more)
{
	if (b->failed)
		return -1;
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1) {
		if (cap > ((size_t)-1) / 2)
			goto fail;
		cap *= 2;
	}
	char *data = realloc(b->data, cap);
	if (!data)
		goto fail;
	b->data = data;
	b->cap = cap;
	return 0;
fail:
	b->failed = 1;
	return -1;
}

void apps_buf_add(apps_buf *b, const char *s, size_t n)
{
	if (grow(b, n) != 0)
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void apps_buf_puts(apps_buf *b, const char *s)
{
	apps_buf_add(b, s, strlen(s));
}

void apps_buf_printf(apps_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || grow(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* A control character (term.h: C0, DEL, C1, bidi) as visible text, \xNN
 * or \uNNNN: what a person reading a page or a spreadsheet should see
 * instead of a character that acts. */
static void buf_visible(apps_buf *b, uint32_t cp)
{
	if (cp == '\n' || cp == '\t' || cp == '\r')
		apps_buf_puts(b, cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : "\\r");
	else
		apps_buf_printf(b, cp < 0x80 ? "\\x%02x" : "\\u%04x", (unsigned int)cp);
}

/* U+FFFD, which stands for a byte that is not valid UTF-8. */
#define REPLACEMENT "\xef\xbf\xbd"

static void put_apps_buf(void *to, const char *s, size_t n)
{
	apps_buf_add(to, s, n);
}

void apps_buf_json(apps_buf *b, const char *s)
{
	if (s)
		term_json_quote(put_apps_buf, b, s);
	else
		apps_buf_puts(b, "null");
}

void apps_buf_html(apps_buf *b, const char *s)
{
	if (!s)
		return;
	for (size_t i = 0, n = strlen(s), len; i < n; i += len ? len : 1) {
		uint32_t cp;
		len = term_utf8(&cp, s + i, n - i);
		if (len == 0)
			apps_buf_puts(b, REPLACEMENT);
		else if (term_is_control(cp))
			/* No caller shows preformatted text, so even a newline is
			 * shown, not kept: the page says what the value holds. */
			buf_visible(b, cp);
		else if (cp == '&')
			apps_buf_puts(b, "&amp;");
		else if (cp == '<')
			apps_buf_puts(b, "&lt;");
		else if (cp == '>')
			apps_buf_puts(b, "&gt;");
		else if (cp == '"')
			apps_buf_puts(b, "&quot;");
		else if (cp == '\'')
			apps_buf_puts(b, "&#39;");
		else
			apps_buf_add(b, s + i, len);
	}
}

void apps_buf_csv(apps_buf *b, const char *s)
{
	if (!s)
		s = "";
	/* A cell starting with one of these is a formula to a spreadsheet. */
	int formula = strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0';
	int quote = formula || strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		apps_buf_add(b, "\"", 1);
	if (formula)
		apps_buf_add(b, "'", 1);
	for (size_t i = 0, n = strlen(s), len; i < n; i += len ? len : 1) {
		uint32_t cp;
		len = term_utf8(&cp, s + i, n - i);
		if (len == 0)
			apps_buf_puts(b, REPLACEMENT);
		else if (cp == '"')
			apps_buf_add(b, "\"\"", 2);
		else if (cp == '\n')
			/* inside quotes: a cell of several lines, valid CSV */
			apps_buf_add(b, "\n", 1);
		else if (term_is_control(cp))
			buf_visible(b, cp);
		else
			apps_buf_add(b, s + i, len);
	}
	if (quote)
		apps_buf_add(b, "\"", 1);
}

/* --------------------------------------------------------------- time */

/* A test build (-Dtest_hooks=true) lets $MUTUAL_APPS_NOW_MS fix "now", so
 * workloads and default windows can be checked to the day; the shipped
 * apps never read it and always show the real clock. */
int64_t apps_now_ms(void)
{
#ifdef MUTUAL_TEST_HOOKS
	const char *fixed = getenv("MUTUAL_APPS_NOW_MS");
	if (fixed && *fixed)
		return strtoll(fixed, NULL, 10);
#endif
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t apps_hlc_ms(uint64_t hlc)
{
	return (int64_t)(hlc >> 16);
}

const char *apps_zone_name(void)
{
	static _Thread_local char zone[128];
	const char *tz = getenv("TZ");
	if (tz && *tz) {
		if (*tz == ':')
			tz++;
		const char *z = strstr(tz, "zoneinfo/");
		snprintf(zone, sizeof(zone), "%s", z ? z + 9 : tz);
		return zone;
	}
	char link[256];
	ssize_t n = readlink("/etc/localtime", link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		const char *z = strstr(link, "zoneinfo/");
		if (z) {
			snprintf(zone, sizeof(zone), "%s", z + 9);
			return zone;
		}
	}
	return "UTC";
}

static void format_local(char *out, size_t size, int64_t ms, int with_zone)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	tzset();
	if (!localtime_r(&t, &tm) || strftime(out, size, with_zone ? "%Y-%m-%d %H:%M %Z" : "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, size, "?");
}

void apps_time_local(char out[32], int64_t ms)
{
	format_local(out, 32, ms, 0);
}

void apps_time_local_zone(char out[48], int64_t ms)
{
	format_local(out, 48, ms, 1);
}

void apps_time_utc(char out[32], int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "?");
}

/* Exactly `digits` decimal digits at s, as a number. -1 if not. */
static int digits_at(const char *s, int digits)
{
	int v = 0;
	for (int i = 0; i < digits; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int apps_local_to_utc(int64_t *out, const char *date, const char *hhmm)
{
	if (!date || !hhmm || strlen(date) != 10 || date[4] != '-' || date[7] != '-')
		return apps__fail(MUTUAL_EINVALID, "date must look like 2026-11-26");
	int y = digits_at(date, 4), mo = digits_at(date + 5, 2), d = digits_at(date + 8, 2);
	if (strlen(hhmm) != 5 || hhmm[2] != ':')
		return apps__fail(MUTUAL_EINVALID, "time must look like 17:30");
	int h = digits_at(hhmm, 2), mi = digits_at(hhmm + 3, 2);
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31)
		return apps__fail(MUTUAL_EINVALID, "no such date: %s", date);
	if (h < 0 || h > 23 || mi < 0 || mi > 59)
		return apps__fail(MUTUAL_EINVALID, "no such time: %s", hhmm);

	struct tm want = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
		.tm_hour = h, .tm_min = mi };
	/* Try standard time, then daylight time: the earlier that reads back as
	 * the same wall clock is the first occurrence. mktime normalises a
	 * time in the spring gap to one that reads back differently. */
	int found = 0;
	time_t best = 0;
	tzset();
	for (int isdst = 0; isdst <= 1; isdst++) {
		struct tm tm = want;
		tm.tm_isdst = isdst;
		time_t t = mktime(&tm);
		struct tm back;
		if (t == (time_t)-1 || !localtime_r(&t, &back))
			continue;
		if (back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
			back.tm_mday != want.tm_mday || back.tm_hour != h || back.tm_min != mi)
			continue;
		if (!found || t < best)
			best = t;
		found = 1;
	}
	if (!found) {
		struct tm tm = want;
		tm.tm_isdst = -1;
		if (mktime(&tm) != (time_t)-1 && tm.tm_mday == d && tm.tm_mon == mo - 1)
			return apps__fail(MUTUAL_EINVALID,
				"%s %s does not exist in %s (the clocks go forward then)", date, hhmm,
				apps_zone_name());
		return apps__fail(MUTUAL_EINVALID, "no such date: %s", date);
	}
	*out = (int64_t)best * 1000;
	return 0;
}

/* ---------------------------------------------------------- quantities */

#define QTY_MAX_MILLI INT64_C(1000000000) /* 1,000,000 units */

int apps_qty_parse(int64_t *out, const char *text, int allow_negative)
{
	const char *p = text ? text : "";
	while (*p == ' ')
		p++;
	int negative = 0;
	if (*p == '-' || *p == '+') {
		negative = *p == '-';
		p++;
	}
	int64_t whole = 0, frac = 0;
	int int_digits = 0, frac_digits = 0;
	for (; isdigit((unsigned char)*p); p++, int_digits++) {
		if (whole > QTY_MAX_MILLI / 1000)
			goto bad;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.' || *p == ',') {
		for (p++; isdigit((unsigned char)*p); p++, frac_digits++) {
			if (frac_digits == 3)
				return apps__fail(MUTUAL_EINVALID,
					"\"%s\": at most 3 decimals", text);
			frac = frac * 10 + (*p - '0');
		}
	}
	while (*p == ' ')
		p++;
	if (*p != '\0' || int_digits + frac_digits == 0)
		goto bad;
	for (int i = frac_digits; i < 3; i++)
		frac *= 10;
	int64_t milli = whole * 1000 + frac;
	if (milli == 0)
		return apps__fail(MUTUAL_EINVALID, "the quantity must not be zero");
	if (milli > QTY_MAX_MILLI)
		return apps__fail(MUTUAL_EINVALID, "\"%s\" is more than 1,000,000", text);
	if (negative && !allow_negative)
		return apps__fail(MUTUAL_EINVALID, "the quantity must be more than zero");
	*out = negative ? -milli : milli;
	return 0;
bad:
	return apps__fail(MUTUAL_EINVALID, "\"%s\" is not a quantity (like 12 or 2.5)",
		text ? text : "");
}

void apps_qty_format(char out[32], int64_t milli)
{
	uint64_t mag = milli < 0 ? (uint64_t)0 - (uint64_t)milli : (uint64_t)milli;
	int n = snprintf(out, 32, "%s%llu", milli < 0 ? "-" : "",
		(unsigned long long)(mag / 1000));
	unsigned frac = (unsigned)(mag % 1000);
	if (frac) {
		char f[5];
		snprintf(f, sizeof(f), ".%03u", frac);
		for (int i = 3; f[i] == '0'; i--)
			f[i] = '\0';
		snprintf(out + n, 32 - (size_t)n, "%s", f);
	}
}

/* ----------------------------------------------------------------- text */

char *apps_clean_text(const char *text, size_t max, const char *what)
{
	if (!text) {
		apps__fail(MUTUAL_EINVALID, "%s is missing", what);
		return NULL;
	}
	size_t in = strlen(text);
	char *out = malloc(in + 1);
	if (!out) {
		apps__fail(MUTUAL_ERROR, "out of memory");
		return NULL;
	}
	size_t len = 0;
	int space = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p;) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			space = 1;
			p++;
			continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			apps__fail(MUTUAL_EINVALID, "%s has a control character", what);
			goto fail;
		}
		uint32_t cp;
		size_t n = term_utf8(&cp, (const char *)p, in - (size_t)((const char *)p - text));
		if (n == 0) {
			apps__fail(MUTUAL_EINVALID, "%s is not valid UTF-8 text", what);
			goto fail;
		}
		if (space && len > 0)
			out[len++] = ' ';
		space = 0;
		memcpy(out + len, p, n);
		len += n;
		p += n;
	}
	out[len] = '\0';
	if (len == 0) {
		apps__fail(MUTUAL_EINVALID, "%s is empty", what);
		goto fail;
	}
	if (len > max) {
		apps__fail(MUTUAL_EINVALID, "%s is longer than %zu bytes", what, max);
		goto fail;
	}
	return out;
fail:
	free(out);
	return NULL;
}
