/*
 * test_names.c - a name is not an identity (docs/format.md, "Device
 * names"): names that collide after NFKC, case folding and confusable
 * skeletons are shown with a key suffix, on every member of the colliding
 * set, the same whatever order the devices arrived in; distinct names stay
 * as they are. The rule itself through names.c, then through stores that
 * meet on a stick.
 */
#include <sys/stat.h>

#include "check.h"
#include "names.h"

/* Device i of a set gets a key that starts with `first` (so tests can
 * order the keys) and differs from every other device's. */
static void key_for(uint8_t key[32], uint8_t first, size_t i)
{
	for (size_t b = 0; b < 32; b++)
		key[b] = (uint8_t)(0x5a ^ (b * 7) ^ i);
	key[0] = first;
}

static void set_names(mutual_device_name *d, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		key_for(d[i].key, (uint8_t)(0x10 * (i + 1)), i);
		CHECK((d[i].name = strdup(names[i])) != NULL);
	}
	CHECK_OK(mutual__names_display(d, n));
}

static void free_names(mutual_device_name *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].name);
		free(d[i].display);
	}
}

/* `d` shows as its name, then "~" and the first `hex_len` hex of its key. */
static int suffixed(const mutual_device_name *d, size_t hex_len)
{
	char hex[65], want[MUTUAL_NAME_MAX + 80];
	for (size_t b = 0; b < 32; b++)
		snprintf(hex + 2 * b, 3, "%02x", d->key[b]);
	snprintf(want, sizeof(want), "%s~%.*s", d->name, (int)hex_len, hex);
	return strcmp(d->display, want) == 0;
}

/* Two names collide: both carry a suffix of 48 bits, and they differ. */
static void check_collide(const char *a, const char *b)
{
	const char *names[] = { a, b };
	mutual_device_name d[2];
	set_names(d, names, 2);
	if (!suffixed(&d[0], MUTUAL_NAMES_SUFFIX_HEX) || !suffixed(&d[1], MUTUAL_NAMES_SUFFIX_HEX) ||
	    strcmp(d[0].display, d[1].display) == 0) {
		fprintf(stderr, "'%s' and '%s' should collide: shown '%s' and '%s'\n", a, b, d[0].display, d[1].display);
		exit(1);
	}
	free_names(d, 2);
}

static void test_ascii_case(void)
{
	check_collide("laptop", "LAPTOP");
	check_collide("Laptop", "lapTOP");
	/* Spaces at the ends, or doubled, are not seen either. */
	check_collide("office pc", " office  pc ");
}

static void test_cyrillic_homoglyph(void)
{
	check_collide("laptop", "l\xd0\xb0ptop");         /* Cyrillic а */
	check_collide("laptop", "\xd0\x86" "aptop");         /* Cyrillic І for l */
	check_collide("pantry", "p\xd0\xb0ntr\xd1\x83"); /* Cyrillic а and у */
	check_collide("laptop", "1aptop");                /* the digit one */
	check_collide("laptop", "Iaptop");                /* a capital I, drawn as an l */
	check_collide("ILIAD", "iliad");                  /* and still case-blind */
}

static void test_fullwidth(void)
{
	check_collide("laptop", "\xef\xbd\x8c\xef\xbd\x81\xef\xbd\x90\xef\xbd\x94\xef\xbd\x8f\xef\xbd\x90");
	check_collide("LAPTOP", "\xef\xbd\x8c\xef\xbd\x81\xef\xbd\x90\xef\xbd\x94\xef\xbd\x8f\xef\xbd\x90");
}

static void test_nfkc_ligature(void)
{
	check_collide("\xef\xac\x81le-server", "file-server"); /* ﬁ */
	check_collide("laptop\xe2\x80\x8b", "laptop");         /* a zero-width space */
	check_collide("Stra\xc3\x9f" "e", "strasse");         /* ß folds to ss */
}

static void test_no_false_collision(void)
{
	const char *names[] = { "laptop", "office-pc", "Ana's phone", "tablet", "laptop 2", "", "Ana" };
	mutual_device_name d[MUTUAL_ARRAY_SIZE(names)];
	set_names(d, names, MUTUAL_ARRAY_SIZE(names));
	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(names); i++)
		CHECK(strcmp(d[i].display, d[i].name) == 0);
	free_names(d, MUTUAL_ARRAY_SIZE(names));
}

/* The same set in every order shows the same forms: arrival order, and so
 * which of two devices was "there first", changes nothing. */
static void test_order_independent(void)
{
	const char *names[] = { "laptop", "l\xd0\xb0ptop", "office", "LAPTOP" };
	static const size_t orders[][4] = { { 0, 1, 2, 3 }, { 3, 2, 1, 0 }, { 1, 3, 0, 2 }, { 2, 0, 3, 1 } };
	mutual_device_name first[4];

	set_names(first, names, 4);
	CHECK(strcmp(first[2].display, "office") == 0);
	CHECK(suffixed(&first[0], 12) && suffixed(&first[1], 12) && suffixed(&first[3], 12));
	for (size_t o = 0; o < MUTUAL_ARRAY_SIZE(orders); o++) {
		mutual_device_name d[4];
		for (size_t i = 0; i < 4; i++) {
			d[i] = first[orders[o][i]];
			CHECK((d[i].name = strdup(d[i].name)) != NULL);
			d[i].display = NULL;
		}
		CHECK_OK(mutual__names_display(d, 4));
		for (size_t i = 0; i < 4; i++)
			CHECK(strcmp(d[i].display, first[orders[o][i]].display) == 0);
		free_names(d, 4);
	}
	free_names(first, 4);
}

/* At least 48 bits (over the 40 asked for), and more when two keys were
 * ground to share them, so that no two devices ever show the same. */
static void test_suffix_bits(void)
{
	const char *names[] = { "laptop", "laptop", "laptop" };
	mutual_device_name d[3];

	CHECK(MUTUAL_NAMES_SUFFIX_HEX * 4 >= 40);
	for (size_t i = 0; i < 3; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		key_for(d[i].key, 0xab, 0);
		CHECK((d[i].name = strdup(names[i])) != NULL);
	}
	d[1].key[7] ^= 0x01; /* shares 15 hex with d[0] */
	d[2].key[20] ^= 0x10; /* shares 40 hex with d[0] */
	CHECK_OK(mutual__names_display(d, 3));
	for (size_t i = 0; i < 3; i++)
		CHECK(suffixed(&d[i], 41));
	CHECK(strcmp(d[0].display, d[2].display) != 0);
	free_names(d, 3);
}

/* A device named like another's display form ("laptop~<its hex>", even
 * with a lookalike tilde) collides with "laptop" and shows differently. */
static void test_suffix_lookalike(void)
{
	const char *names[] = { "laptop", "LAPTOP", NULL, NULL, "office\xe2\x88\xbc" "0011" };
	char copy[MUTUAL_NAME_MAX + 80], lookalike[MUTUAL_NAME_MAX + 80];
	mutual_device_name d[5];

	set_names(d, names, 2);
	snprintf(copy, sizeof(copy), "%s", d[0].display);
	snprintf(lookalike, sizeof(lookalike), "laptop\xe2\x88\xbc%s", d[0].display + strlen("laptop~"));
	free_names(d, 2);
	names[2] = copy;
	names[3] = lookalike;
	set_names(d, names, 5);
	for (size_t i = 0; i < 4; i++) {
		CHECK(suffixed(&d[i], MUTUAL_NAMES_SUFFIX_HEX));
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(d[i].display, d[j].display) != 0);
	}
	CHECK(strcmp(d[4].display, d[4].name) == 0); /* alone: nothing to collide with */
	free_names(d, 5);
}

static int count_device(const mutual_device_info *info, void *payload)
{
	(void)info;
	(void)payload;
	return 0;
}

static const char *shown(mutual_store *s, const char *id)
{
	const char *name = NULL;
	CHECK_OK(mutual_device_display_name(&name, s, id));
	return name;
}

/* Through stores: a second device joins as "lаptop"; before they meet each
 * store shows its own name bare, after one stick both show the same two
 * distinct suffixed forms, and a second handle on the store sees the
 * change too (its cache follows the store, not the handle's own writes). */
static void test_stores_agree(void)
{
	mutual_store *a = check_store_create("a", "laptop"), *b = check_store_join(a, "b", "l\xd0\xb0ptop");
	mutual_store *a2 = NULL;
	char ida[65], idb[65], shown_a[MUTUAL_NAME_MAX + 80], shown_b[MUTUAL_NAME_MAX + 80];
	const char *name;

	snprintf(ida, sizeof(ida), "%s", mutual_store_device_id(a));
	snprintf(idb, sizeof(idb), "%s", mutual_store_device_id(b));
	CHECK_OK(mutual_store_open(&a2, tmp_path("a"), MUTUAL_OPEN_DEFAULT));
	CHECK(strcmp(shown(a, ida), "laptop") == 0);
	CHECK(strcmp(shown(a2, ida), "laptop") == 0);
	CHECK_RC(mutual_device_display_name(&name, a, idb), MUTUAL_ENOTFOUND);
	CHECK_RC(mutual_device_display_name(&name, a, "laptop"), MUTUAL_EINVALID);

	mkdir(tmp_path("stick"), 0700);
	CHECK_OK(mutual_append(NULL, b, "pantry.stock.out", "{\"item\":\"rice\",\"qty\":2}"));
	CHECK_OK(mutual_sync(NULL, a, tmp_path("stick"), NULL));
	CHECK_OK(mutual_sync(NULL, b, tmp_path("stick"), NULL));
	CHECK_OK(mutual_sync(NULL, a, tmp_path("stick"), NULL));

	CHECK(mutual_device_foreach(a2, count_device, NULL) == 0); /* a read: what a caller got the id from */
	snprintf(shown_a, sizeof(shown_a), "laptop~%.12s", ida);
	snprintf(shown_b, sizeof(shown_b), "l\xd0\xb0ptop~%.12s", idb);
	for (int i = 0; i < 3; i++) {
		mutual_store *s = i == 0 ? a : i == 1 ? b : a2;
		CHECK(strcmp(shown(s, ida), shown_a) == 0);
		CHECK(strcmp(shown(s, idb), shown_b) == 0);
	}
	/* A display form copied from a listing names its device; the raw
	 * name alone still names the device that announced exactly it. */
	{
		uint8_t key[MUTUAL_KEY_SIZE];
		char hex[65];
		CHECK_OK(mutual_device_resolve(key, a, shown_b));
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", key[i]);
		CHECK(strcmp(hex, idb) == 0);
		CHECK_OK(mutual_device_resolve(key, a, "laptop"));
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", key[i]);
		CHECK(strcmp(hex, ida) == 0);
		CHECK_RC(mutual_device_resolve(key, a, "laptop~000000000000"), MUTUAL_ENOTFOUND);
	}
	/* The raw names stay as announced. */
	CHECK(strcmp(mutual_store_device_name(a), "laptop") == 0);
	{
		mutual_iter_options opts = MUTUAL_ITER_OPTIONS_INIT;
		mutual_iter *it;
		const mutual_event *ev;
		opts.type = "pantry.stock.out";
		CHECK_OK(mutual_iter_new(&it, a, &opts));
		CHECK_OK(mutual_iter_next(&ev, it));
		CHECK(strcmp(mutual_event_device_name(ev), "l\xd0\xb0ptop") == 0);
		mutual_iter_free(it);
	}
	mutual_store_free(a2);
	mutual_store_free(a);
	mutual_store_free(b);
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "ascii_case", test_ascii_case },
		{ "cyrillic_homoglyph", test_cyrillic_homoglyph },
		{ "fullwidth", test_fullwidth },
		{ "nfkc_ligature", test_nfkc_ligature },
		{ "no_false_collision", test_no_false_collision },
		{ "order_independent", test_order_independent },
		{ "suffix_bits", test_suffix_bits },
		{ "suffix_lookalike", test_suffix_lookalike },
		{ "stores_agree", test_stores_agree },
	};
	return run_cases(cases, sizeof(cases) / sizeof(*cases), argc, argv);
}
