/*
 * names.c - how device names are compared and shown (docs/format.md,
 * "Device names"). A name is free text any member chooses, so a second
 * device may join as "laptop", "LAPTOP", "ｌａｐｔｏｐ" or "lаptop" (with
 * a Cyrillic а). Each name has two keys, made with ICU: case-blind, as
 * UTS #39 compares (NFKC with case folding, which also drops
 * default-ignorable characters such as a zero-width space, then the
 * confusable skeleton, then folding again), and as drawn (the skeleton,
 * then folding: a capital I is drawn like an l, which folding first would
 * lose); spaces are trimmed and collapsed in both. Two names collide when
 * either key is equal, and a colliding set is what such collisions chain
 * together. Names that collide are shown with a piece of each device's key.
 *
 * NOTES ON THE DESIGN
 *  1. The display forms are a function of the set of devices a store holds
 *     (key, announced name), never of the order they arrived in: every
 *     store holding the same devices shows the same forms.
 *  2. Every member of a colliding set carries a suffix, "name~" and at
 *     least MUTUAL_NAMES_SUFFIX_HEX hex characters of its key (a prefix of
 *     its id, so `--device` finds it); the first "laptop" does not stay
 *     bare beside an impostor.
 *  3. The display forms of one store's devices are pairwise distinct: a
 *     suffix grows until it differs from every other member's (keys ground
 *     to share a prefix), and a name that ends like a suffix
 *     ("laptop~1a2b...") collides with the name before it, so it cannot
 *     pass for another device's display form.
 *  4. A store handle caches the forms (one ICU pass per device) and remakes
 *     them when SQLite's data version of the store has changed, as of the
 *     handle's last read (the read that gave the caller the device's id),
 *     so a listing of N events costs N binary searches, not N skeletons.
 *  5. The cache's entries are sorted by key, strictly (binary search).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/ustring.h>

#include "names.h"
#include "store.h"

/* What a display suffix is made of; compared as keys, like names. */
#define SUFFIX_SEP "~"
#define SUFFIX_DIGITS "0123456789abcdef"

struct mutual_names {
	uint32_t data_version; /* the store's, when `d` was made */
	size_t n;
	mutual_device_name *d; /* sorted by key (NOTES 5) */
};

static int icu_fail(UErrorCode e)
{
	return mutual__fail(MUTUAL_ERROR, "cannot compare device names (ICU: %s)", u_errorName(e));
}

/* ---------------------------------------------------------------- the key */

typedef struct {
	UChar *p;
	int32_t len, cap;
} ustr;

static int ustr_reserve(ustr *s, int32_t cap)
{
	UChar *p;
	if (cap <= s->cap)
		return 0;
	if (!(p = mutual__realloc(s->p, (size_t)cap * sizeof(UChar))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	s->p = p;
	s->cap = cap;
	return 0;
}

enum step { END, FOLD, SKELETON };
enum { KEY_CASE_BLIND, KEY_AS_DRAWN, KEYS };
static const enum step key_steps[KEYS][4] = { { FOLD, SKELETON, FOLD, END }, { SKELETON, FOLD, END } };

/* Apply one step to `s` through `tmp` (they swap), growing `tmp` when ICU
 * asks for more room: NFKC can make a character eighteen. */
static int apply(ustr *s, ustr *tmp, enum step step, const USpoofChecker *sc)
{
	for (;;) {
		UErrorCode e = U_ZERO_ERROR;
		const UNormalizer2 *fold = unorm2_getNFKCCasefoldInstance(&e);
		int32_t n = 0;
		ustr swap;
		if (U_SUCCESS(e))
			n = step == SKELETON ? uspoof_getSkeleton(sc, 0, s->p, s->len, tmp->p, tmp->cap, &e)
					     : unorm2_normalize(fold, s->p, s->len, tmp->p, tmp->cap, &e);
		if (e == U_BUFFER_OVERFLOW_ERROR) {
			if (ustr_reserve(tmp, n + 1) < 0)
				return MUTUAL_ERROR;
			continue;
		}
		if (U_FAILURE(e))
			return icu_fail(e);
		swap = *s;
		*s = *tmp;
		*tmp = swap;
		s->len = n;
		return 0;
	}
}

/* Trim spaces at both ends and make every run of them one. */
static void squeeze_spaces(mutual_buf *key)
{
	char *k = (char *)key->data;
	size_t w = 0;
	for (size_t r = 0; r < key->len; r++)
		if (k[r] != ' ' || (w > 0 && k[w - 1] != ' '))
			k[w++] = k[r];
	while (w > 0 && k[w - 1] == ' ')
		w--;
	k[w] = '\0';
	key->len = w;
}

/* Drop, again and again, a tail that reads as a display suffix: `sep`
 * and then only bytes of `digits` (both keys), so that "laptop~1a2b"
 * collides with "laptop" (NOTES 3). */
static void strip_suffixes(mutual_buf *key, const char *sep, const char *digits)
{
	for (;;) {
		char *k = (char *)key->data, *last = NULL;
		for (char *p = strstr(k, sep); p; p = strstr(p + 1, sep))
			last = p;
		if (!last || !last[strlen(sep)] || last[strlen(sep) + strspn(last + strlen(sep), digits)])
			return;
		key->len = (size_t)(last - k);
		k[key->len] = '\0';
		squeeze_spaces(key);
	}
}

/* Key `which` of `name` into `out` (NUL-terminated UTF-8), before
 * suffixes are stripped. */
static int key_of(mutual_buf *out, const char *name, int which, const USpoofChecker *sc)
{
	size_t len = strlen(name);
	ustr s = { 0 }, tmp = { 0 };
	UErrorCode e = U_ZERO_ERROR;
	int32_t n = 0;
	int rc;

	out->len = 0;
	if (len > MUTUAL_NAME_MAX * 4) {
		rc = mutual__fail(MUTUAL_ECORRUPT, "the store holds a device name of %zu bytes, longer than any name may be",
			len);
		goto done;
	}
	if ((rc = ustr_reserve(&s, (int32_t)len + 1)) < 0)
		goto done;
	u_strFromUTF8WithSub(s.p, s.cap, &s.len, name, (int32_t)len, 0xFFFD, NULL, &e);
	if (U_FAILURE(e)) {
		rc = icu_fail(e);
		goto done;
	}
	for (const enum step *step = key_steps[which]; *step != END && rc == 0; step++)
		rc = apply(&s, &tmp, *step, sc);
	if (rc < 0 || (rc = mutual__buf_grow(out, (size_t)s.len * 3)) < 0)
		goto done;
	u_strToUTF8((char *)out->data, (int32_t)out->cap, &n, s.p, s.len, &e);
	if (U_FAILURE(e)) {
		rc = icu_fail(e);
		goto done;
	}
	out->len = (size_t)n;
	out->data[out->len] = '\0';
	squeeze_spaces(out);
done:
	mutual__free(s.p);
	mutual__free(tmp.p);
	return rc;
}

/* ------------------------------------------------------------ the display */

typedef struct {
	mutual_device_name *d;
	char *key[KEYS];
	size_t up; /* union-find: the index of a member of the same colliding set */
} keyed;

static int by_case_blind(const void *a, const void *b)
{
	return strcmp((*(keyed *const *)a)->key[KEY_CASE_BLIND], (*(keyed *const *)b)->key[KEY_CASE_BLIND]);
}

static int by_as_drawn(const void *a, const void *b)
{
	return strcmp((*(keyed *const *)a)->key[KEY_AS_DRAWN], (*(keyed *const *)b)->key[KEY_AS_DRAWN]);
}

/* Colliding sets together (their order is that of their first member in
 * k[], which only groups them), then each set by device key. */
static int by_set_then_device(const void *a, const void *b)
{
	const keyed *x = *(keyed *const *)a, *y = *(keyed *const *)b;
	if (x->up != y->up)
		return x->up < y->up ? -1 : 1;
	return memcmp(x->d->key, y->d->key, MUTUAL_KEY_SIZE);
}

static size_t set_of(keyed *k, size_t i)
{
	while (k[i].up != i)
		i = k[i].up = k[k[i].up].up;
	return i;
}

/* Join the sets of the neighbours in p[0..n) (sorted by key `which`)
 * whose key `which` is equal. */
static void join_equal(keyed *k, keyed **p, size_t n, int which)
{
	for (size_t i = 1; i < n; i++) {
		if (strcmp(p[i - 1]->key[which], p[i]->key[which]) == 0) {
			size_t x = set_of(k, (size_t)(p[i - 1] - k)), y = set_of(k, (size_t)(p[i] - k));
			k[x > y ? x : y].up = x < y ? x : y;
		}
	}
}

/* How many hex characters two keys share at their start. */
static size_t shared_hex(const uint8_t *a, const uint8_t *b)
{
	size_t i = 0;
	while (i < MUTUAL_KEY_SIZE && a[i] == b[i])
		i++;
	return i == MUTUAL_KEY_SIZE ? MUTUAL_KEY_HEX_LEN : 2 * i + ((a[i] >> 4) == (b[i] >> 4));
}

/* Suffix every member of the colliding set p[0..n), sorted by device key,
 * with as much of its key as makes it differ from its neighbours. */
static int suffix_set(keyed **p, size_t n)
{
	size_t hex_len = MUTUAL_NAMES_SUFFIX_HEX;
	for (size_t i = 1; i < n; i++) {
		size_t need = shared_hex(p[i - 1]->d->key, p[i]->d->key) + 1;
		hex_len = need > hex_len ? need : hex_len;
	}
	for (size_t i = 0; i < n; i++) {
		mutual_buf b = { 0 };
		char hex[MUTUAL_KEY_HEX_SIZE];
		mutual__hex(hex, p[i]->d->key, MUTUAL_KEY_SIZE);
		if (mutual__buf_printf(&b, "%s" SUFFIX_SEP "%.*s", p[i]->d->name, (int)hex_len, hex) < 0)
			return MUTUAL_ERROR;
		p[i]->d->display = (char *)b.data;
	}
	return 0;
}

/* Both keys of every device into k[], each its own set so far. */
static int keys_of(keyed *k, mutual_device_name *d, size_t n)
{
	mutual_buf sep = { 0 }, digits = { 0 }, b = { 0 };
	UErrorCode e = U_ZERO_ERROR;
	USpoofChecker *sc = uspoof_open(&e);
	int rc = U_FAILURE(e) ? icu_fail(e) : 0;

	for (int w = 0; w < KEYS && rc == 0; w++) {
		if ((rc = key_of(&sep, SUFFIX_SEP, w, sc)) < 0 || (rc = key_of(&digits, SUFFIX_DIGITS, w, sc)) < 0)
			break;
		for (size_t i = 0; i < n && rc == 0; i++) {
			if ((rc = key_of(&b, d[i].name, w, sc)) < 0)
				break;
			strip_suffixes(&b, (const char *)sep.data, (const char *)digits.data);
			k[i].d = &d[i];
			k[i].up = i;
			if (!(k[i].key[w] = mutual__strdup((const char *)b.data)))
				rc = MUTUAL_ERROR;
		}
	}
	uspoof_close(sc);
	mutual__buf_free(&sep);
	mutual__buf_free(&digits);
	mutual__buf_free(&b);
	return rc;
}

/* Group k[0..n) into colliding sets, in p[], and give each its forms. */
static int display_sets(keyed *k, keyed **p, size_t n)
{
	int (*const by_key[KEYS])(const void *, const void *) = { by_case_blind, by_as_drawn };
	int rc = 0;

	for (int w = 0; w < KEYS; w++) {
		qsort(p, n, sizeof(*p), by_key[w]);
		join_equal(k, p, n, w);
	}
	for (size_t i = 0; i < n; i++)
		k[i].up = set_of(k, i);
	qsort(p, n, sizeof(*p), by_set_then_device);
	for (size_t i = 0, j; i < n && rc == 0; i = j) {
		for (j = i + 1; j < n && p[j]->up == p[i]->up; j++)
			;
		if (j - i > 1)
			rc = suffix_set(p + i, j - i);
		else if (!(p[i]->d->display = mutual__strdup(p[i]->d->name)))
			rc = MUTUAL_ERROR;
	}
	return rc;
}

#ifndef NDEBUG
static int by_display(const void *a, const void *b)
{
	return strcmp((*(keyed *const *)a)->d->display, (*(keyed *const *)b)->d->display);
}

/* NOTES 3: no two devices show the same (p[] is reordered). */
static int displays_distinct(keyed **p, size_t n)
{
	qsort(p, n, sizeof(*p), by_display);
	for (size_t i = 1; i < n; i++)
		if (strcmp(p[i - 1]->d->display, p[i]->d->display) == 0)
			return 0;
	return 1;
}
#endif

int mutual__names_display(mutual_device_name *d, size_t n)
{
	keyed *k = mutual__calloc(n ? n : 1, sizeof(*k));
	keyed **p = mutual__calloc(n ? n : 1, sizeof(*p));
	int rc = k && p ? keys_of(k, d, n) : mutual__fail(MUTUAL_ERROR, "out of memory");

	for (size_t i = 0; i < n && p; i++)
		p[i] = &k[i];
	if (rc == 0)
		rc = display_sets(k, p, n);
	assert(rc < 0 || displays_distinct(p, n));
	for (size_t i = 0; i < n && k; i++) {
		for (int w = 0; w < KEYS; w++)
			mutual__free(k[i].key[w]);
		if (rc < 0) {
			mutual__free(d[i].display);
			d[i].display = NULL;
		}
	}
	mutual__free(k);
	mutual__free(p);
	return rc;
}

/* ------------------------------------------------------- the store's cache */

typedef struct {
	mutual_device_name *d;
	size_t n;
} collect_ctx;

static void entries_free(mutual_device_name *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mutual__free(d[i].name);
		mutual__free(d[i].display);
	}
	mutual__free(d);
}

void mutual__names_free(struct mutual_names *cache)
{
	if (!cache)
		return;
	entries_free(cache->d, cache->n);
	mutual__free(cache);
}

static int collect(const mutual_db_device *dev, void *payload)
{
	collect_ctx *x = payload;
	mutual_device_name *grown = mutual__realloc(x->d, (x->n + 1) * sizeof(*grown));
	if (!grown)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	x->d = grown;
	memset(&grown[x->n], 0, sizeof(*grown));
	memcpy(grown[x->n].key, dev->key, MUTUAL_KEY_SIZE);
	if (!(grown[x->n].name = mutual__strdup(dev->name)))
		return MUTUAL_ERROR;
	x->n++;
	return 0;
}

#ifndef NDEBUG
static int cache_ok(const struct mutual_names *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (!c->d[i].display || (i > 0 && memcmp(c->d[i - 1].key, c->d[i].key, MUTUAL_KEY_SIZE) >= 0))
			return 0;
	return 1;
}
#endif

/* Make the store's cache match its devices as of `version`. */
static int rebuild(mutual_store *s, uint32_t version)
{
	collect_ctx x = { NULL, 0 };
	int rc = mutual__db_devices(s->db, collect, &x);

	if (rc == 0)
		rc = mutual__names_display(x.d, x.n);
	if (rc == 0 && !s->names && !(s->names = mutual__calloc(1, sizeof(*s->names))))
		rc = mutual__fail(MUTUAL_ERROR, "out of memory");
	if (rc < 0) {
		entries_free(x.d, x.n);
		return rc;
	}
	entries_free(s->names->d, s->names->n);
	s->names->d = x.d;
	s->names->n = x.n;
	s->names->data_version = version;
	assert(cache_ok(s->names)); /* NOTES 5 */
	return 0;
}

static int by_device(const void *key, const void *entry)
{
	return memcmp(key, ((const mutual_device_name *)entry)->key, MUTUAL_KEY_SIZE);
}

int mutual_device_display_name(const char **out, mutual_store *s, const char *device_id)
{
	MUTUAL_STORE_ENTER(s);
	const mutual_device_name *hit;
	uint8_t key[MUTUAL_KEY_SIZE];
	uint32_t version;
	int rc;

	if (!out || !s || !device_id)
		return mutual__fail(MUTUAL_EINVALID, "no store or device id given");
	*out = NULL;
	mutual__error_clear();
	if (mutual__unhex(key, MUTUAL_KEY_SIZE, device_id, strlen(device_id)) < 0)
		return mutual__fail(MUTUAL_EINVALID, "'%.80s' is not a device id (64 hex characters)", device_id);
	if ((rc = mutual__db_data_version(s->db, &version)) < 0)
		return rc;
	if ((!s->names || s->names->data_version != version) && (rc = rebuild(s, version)) < 0)
		return rc;
	if (!(hit = bsearch(key, s->names->d, s->names->n, sizeof(*hit), by_device)))
		return mutual__fail(MUTUAL_ENOTFOUND, "this store holds no device %.16s", device_id);
	*out = hit->display;
	return 0;
}
