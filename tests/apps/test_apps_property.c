/*
 * test_apps_property.c - the three apps on 3 to 5 devices that work apart
 * and meet through one stick at random moments. Per seed: random pantry,
 * board and rota actions on random devices (board and rota actions are
 * tried against what that device knows, so some are refused, as they
 * would be for a person), random syncs, then two full rounds of syncs.
 * Then every device must show the same pantry stock and hand-out CSV, the
 * same board (with its conflicts), the same rota and workload and the same
 * state digest; and every stock count must equal the exact sum of what was
 * recorded anywhere.
 *
 * Usage: test_apps_property [--first N] [--seeds N] [--expect-mismatch]
 * (default 0 and 20).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "apps_check.h"

#define DEVICES_MAX 5
#define ACTIONS 60
#define ITEMS 4
#define POSTS_MAX 32
#define SHIFTS_MAX 16

/* --expect-mismatch: succeed only if some seed's devices disagree (with
 * MUTUAL_TEST_LAST_ARRIVAL_WINS set, which breaks the library's order). */
static int expect_mismatch;

static const char *const items[ITEMS] = { "Rice", "Beans", "Pasta", "Oil" };
static const char *const names[] = { "Ana", "Ben", "Cy", "Dee", "Eli" };
#define NAMES (sizeof(names) / sizeof(*names))

typedef struct {
	uint64_t rng;
	size_t n_devices;
	mutual_store *dev[DEVICES_MAX];
	int64_t expected[ITEMS]; /* thousandths, every successful record anywhere */
	char posts[POSTS_MAX][17];
	size_t n_posts;
	char shifts[SHIFTS_MAX][17];
	size_t n_shifts;
} world;

static uint64_t next(world *w)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static size_t pick(world *w, size_t n)
{
	return (size_t)(next(w) % n);
}

/* A random quantity of 0.001 to 5 units, as typed. */
static int64_t quantity(world *w, char text[32])
{
	int64_t milli = 1 + (int64_t)pick(w, 5000);
	apps_qty_format(text, milli);
	return milli;
}

static void pantry_action(world *w, mutual_store *s)
{
	char qty[32];
	size_t item = pick(w, ITEMS);
	switch (pick(w, 4)) {
	case 0: {
		int64_t milli = quantity(w, qty);
		CHECK_APP(pantry_donate(s, items[item], qty, "kg", "drive"));
		w->expected[item] += milli;
		break;
	}
	case 1: {
		char qty2[32];
		size_t other = (item + 1 + pick(w, ITEMS - 1)) % ITEMS;
		int64_t a = quantity(w, qty), b = quantity(w, qty2);
		pantry_line lines[] = { { items[item], "KG", qty }, { items[other], "kg", qty2 } };
		size_t n = 1 + pick(w, 2);
		CHECK_APP(pantry_distribute(s, 1 + (unsigned int)pick(w, 3), (unsigned int)pick(w, 3),
			lines, n, NULL));
		w->expected[item] -= a;
		if (n == 2)
			w->expected[other] -= b;
		break;
	}
	case 2: {
		int64_t milli = quantity(w, qty);
		int negative = (int)pick(w, 2);
		char signed_qty[40];
		snprintf(signed_qty, sizeof(signed_qty), "%s%s", negative ? "-" : "", qty);
		CHECK_APP(pantry_adjust(s, items[item], "kg", signed_qty, "shelf count"));
		w->expected[item] += negative ? -milli : milli;
		break;
	}
	default:
		quantity(w, qty);
		CHECK_APP(pantry_set_threshold(s, items[item], "kg", qty));
	}
}

/* Board and rota actions as a person on this device would try them: some
 * are refused (a post or shift not synced here yet, a claim already held). */
static void board_action(world *w, mutual_store *s)
{
	size_t choice = pick(w, 5);
	if (choice == 0 || w->n_posts == 0) {
		if (w->n_posts == POSTS_MAX)
			return;
		char title[32];
		snprintf(title, sizeof(title), "Request %zu", w->n_posts);
		board_new_post post = { pick(w, 2) ? "request" : "offer", "groceries", title, "North",
			pick(w, 2) ? "urgent" : "normal", "ask at the desk" };
		CHECK_APP(board_post(w->posts[w->n_posts], s, &post));
		w->n_posts++;
		return;
	}
	const char *id = w->posts[pick(w, w->n_posts)];
	int rc = choice == 1 || choice == 2 ? board_claim(s, id, names[pick(w, NAMES)])
		: choice == 3 ? board_release(s, id) : board_fulfil(s, id);
	CHECK(rc == 0 || rc == MUTUAL_EINVALID || rc == MUTUAL_ENOTFOUND);
}

static void rota_action(world *w, mutual_store *s)
{
	size_t choice = pick(w, 4);
	if (choice == 0 || w->n_shifts == 0) {
		if (w->n_shifts == SHIFTS_MAX)
			return;
		char date[16];
		snprintf(date, sizeof(date), "2026-10-%02zu", 10 + pick(w, 20));
		rota_new_shift shift = { "Hand-out", pick(w, 2) ? "sorting" : NULL, date, "17:00",
			"19:30", 1 + (unsigned int)pick(w, 2), 1 };
		CHECK_APP(rota_shift_add(w->shifts[w->n_shifts], s, &shift));
		w->n_shifts++;
		return;
	}
	const char *id = w->shifts[pick(w, w->n_shifts)];
	const char *who = names[pick(w, NAMES)], *to = names[pick(w, NAMES)];
	int rc = choice == 1 ? rota_signup(s, id, who) : choice == 2 ? rota_drop(s, id, who)
		: rota_swap(s, id, who, to);
	CHECK(rc == 0 || rc == MUTUAL_EINVALID || rc == MUTUAL_ENOTFOUND);
}

/* ---------------------------------------------- what a device shows */

static int board_text(const board_item *item, void *payload)
{
	apps_buf *b = payload;
	apps_buf_printf(b, "%s|%s|%s|%s|%s|%s|%d|", item->id, item->title, item->status,
		item->holder, item->urgency, item->contact, item->status_conflict);
	for (size_t i = 0; i < item->n_conflicting_holders; i++)
		apps_buf_printf(b, "%s,", item->conflicting_holders[i]);
	apps_buf_puts(b, "\n");
	return 0;
}

static int shift_text(const rota_shift *shift, void *payload)
{
	apps_buf *b = payload;
	apps_buf_printf(b, "%s|%s|%" PRId64 "|%" PRId64 "|%u|", shift->id, shift->task, shift->start,
		shift->end, shift->slots);
	for (size_t i = 0; i < shift->n_volunteers; i++)
		apps_buf_printf(b, "%s,", shift->volunteers[i]);
	apps_buf_puts(b, "\n");
	return 0;
}

static int load_text(const rota_load *load, void *payload)
{
	apps_buf_printf(payload, "%s=%" PRId64 "/%u/%d\n", load->volunteer, load->minutes,
		load->shifts, load->flagged);
	return 0;
}

static void shows(apps_buf *b, mutual_store *s)
{
	int64_t median = 0;
	const int64_t now = INT64_C(1796144400000); /* 2026-12-01: the shifts are in the 4 weeks before */
	CHECK_APP(pantry_stock_csv(b, s));
	CHECK_APP(pantry_distributions_csv(b, s));
	CHECK_APP(board_foreach(s, NULL, 1, board_text, b));
	CHECK_APP(rota_shifts_foreach(s, 0, INT64_MAX, shift_text, b));
	CHECK_APP(rota_workload(s, now, &median, load_text, b));
	apps_buf_printf(b, "median %" PRId64 "\n", median);
	uint8_t digest[MUTUAL_HASH_SIZE];
	CHECK_OK(mutual_state_digest(digest, s));
	for (size_t i = 0; i < sizeof(digest); i++)
		apps_buf_printf(b, "%02x", digest[i]);
	CHECK(!b->failed);
}

struct stock_check {
	const world *w;
	int seen[ITEMS];
};

static int check_stock(const pantry_stock_row *row, void *payload)
{
	struct stock_check *c = payload;
	for (size_t i = 0; i < ITEMS; i++) {
		if (strcmp(row->item, items[i]) != 0)
			continue;
		if (row->on_hand != c->w->expected[i]) {
			fprintf(stderr, "%s: %" PRId64 " on hand, %" PRId64 " recorded\n", row->item,
				row->on_hand, c->w->expected[i]);
			exit(1);
		}
		c->seen[i] = 1;
	}
	return 0;
}

static void run_seed(uint64_t seed)
{
	world w;
	memset(&w, 0, sizeof(w));
	w.rng = seed * 0x2545f4914f6cdd1du + 1;
	w.n_devices = 3 + pick(&w, DEVICES_MAX - 2);
	for (size_t d = 0; d < w.n_devices; d++) {
		char name[32];
		snprintf(name, sizeof(name), "device-%zu", d);
		w.dev[d] = apps_store(name, name, d ? w.dev[0] : NULL);
	}
	for (int step = 0; step < ACTIONS; step++) {
		mutual_store *s = w.dev[pick(&w, w.n_devices)];
		switch (pick(&w, 4)) {
		case 0: pantry_action(&w, s); break;
		case 1: board_action(&w, s); break;
		case 2: rota_action(&w, s); break;
		default: CHECK_OK(mutual_sync(NULL, s, stick(), NULL));
		}
	}
	for (int round = 0; round < 2; round++)
		for (size_t d = 0; d < w.n_devices; d++)
			CHECK_OK(mutual_sync(NULL, w.dev[d], stick(), NULL));

	apps_buf first = {0};
	shows(&first, w.dev[0]);
	for (size_t d = 1; d < w.n_devices; d++) {
		apps_buf other = {0};
		shows(&other, w.dev[d]);
		if (strcmp(first.data, other.data) != 0) {
			if (expect_mismatch) {
				fprintf(stderr, "seed %" PRIu64 ": the devices disagree, as expected\n", seed);
				exit(0);
			}
			fprintf(stderr, "seed %" PRIu64 ": device 0 shows\n%s\ndevice %zu shows\n%s\n", seed,
				first.data, d, other.data);
			exit(1);
		}
		apps_buf_free(&other);
	}
	struct stock_check c = { &w, { 0 } };
	CHECK_APP(pantry_stock_foreach(w.dev[0], 0, check_stock, &c));
	for (size_t i = 0; i < ITEMS; i++)
		CHECK(c.seen[i] || w.expected[i] == 0);
	apps_buf_free(&first);
	for (size_t d = 0; d < w.n_devices; d++)
		mutual_store_free(w.dev[d]);
}

int main(int argc, char **argv)
{
	uint64_t first = 0, seeds = 20;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--first") == 0)
			first = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--seeds") == 0)
			seeds = strtoull(argv[i + 1], NULL, 10);
	}
	expect_mismatch = argc > 1 && strcmp(argv[argc - 1], "--expect-mismatch") == 0;
	setenv("TZ", "Europe/London", 1);
	for (uint64_t seed = first; seed < first + seeds; seed++) {
		run_seed(seed);
		tmp_cleanup();
	}
	if (expect_mismatch) {
		fprintf(stderr, "%" PRIu64 " seeds and no disagreement: this test cannot catch one\n", seeds);
		return 1;
	}
	fprintf(stderr, "%" PRIu64 " seeds: every device shows the same pantry, board and rota\n",
		seeds);
	return 0;
}
