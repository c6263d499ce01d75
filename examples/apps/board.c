/*
 * board.c - requests and offers of help, and who has taken each on.
 *
 * A post is an entity of kind "board.post" whose fields are registers
 * (mutual_entity_put). Claiming writes the fields "status" and "holder";
 * when two volunteers claim the same request offline, both writes survive
 * the merge: the one later in the total order holds it on every device and
 * the other is kept as a conflict on "holder", shown until someone writes
 * again having seen both. The posts come back through the library's
 * typed walk (mutual_entity_foreach), filtered by status: the app needs no
 * JSON parser of its own, and never reads the closed posts to list the
 * open ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps_private.h"

#define KIND "board.post"
#define TITLE_MAX 120
#define AREA_MAX 80
#define CONTACT_MAX 200
#define NAME_MAX_LEN 60
#define HOLDERS_MAX 64 /* conflicting holders shown per post */

static int one_of(const char *value, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (value && strcmp(value, *allowed) == 0)
			return 1;
	return 0;
}

static int put(mutual_store *store, const char *id, apps_buf *fields)
{
	if (fields->failed)
		return apps__fail(MUTUAL_ERROR, "out of memory");
	int rc = mutual_entity_put(NULL, store, KIND, id, fields->data);
	return rc == 0 ? 0 : apps__lib(rc);
}

int board_post(char id_out[17], mutual_store *store, const board_new_post *post)
{
	static const char *const kinds[] = { "request", "offer", NULL };
	static const char *const categories[] = { "groceries", "medicine", "rides", "rent-support",
		"other", NULL };
	static const char *const urgencies[] = { "low", "normal", "urgent", NULL };
	const char *urgency = post->urgency && *post->urgency ? post->urgency : "normal";
	if (!one_of(post->kind, kinds))
		return apps__fail(MUTUAL_EINVALID, "a post is a request or an offer");
	if (!one_of(post->category, categories))
		return apps__fail(MUTUAL_EINVALID, "the category must be one of " BOARD_CATEGORIES);
	if (!one_of(urgency, urgencies))
		return apps__fail(MUTUAL_EINVALID, "the urgency must be one of " BOARD_URGENCIES);

	char *title = NULL, *area = NULL, *contact = NULL;
	apps_buf fields = {0};
	int rc = MUTUAL_EINVALID;
	if (!(title = apps_clean_text(post->title, TITLE_MAX, "the title")) ||
		!(area = apps_clean_text(post->area, AREA_MAX, "the area")))
		goto done;
	if (post->contact && strspn(post->contact, " \t\r\n") != strlen(post->contact) &&
		!(contact = apps_clean_text(post->contact, CONTACT_MAX, "the contact")))
		goto done;

	char id[17];
	apps__new_id(id);
	apps_buf_puts(&fields, "{\"area\":");
	apps_buf_json(&fields, area);
	apps_buf_printf(&fields, ",\"category\":\"%s\",\"contact\":", post->category);
	apps_buf_json(&fields, contact ? contact : "");
	apps_buf_printf(&fields, ",\"holder\":\"\",\"kind\":\"%s\",\"posted\":%lld,"
		"\"status\":\"open\",\"title\":", post->kind, (long long)apps_now_ms());
	apps_buf_json(&fields, title);
	apps_buf_printf(&fields, ",\"urgency\":\"%s\"}", urgency);
	rc = put(store, id, &fields);
	if (rc == 0 && id_out)
		memcpy(id_out, id, sizeof(id));
done:
	free(title);
	free(area);
	free(contact);
	apps_buf_free(&fields);
	return rc;
}

/* ------------------------------------------------------------ reading */

/* A post as listed: its own copies of what the walk lent (the walk's
 * entity is borrowed until its next step, and posts are sorted first). */
typedef struct {
	char *col[9];      /* id, kind, category, title, area, urgency, contact, status, holder:
			      one allocation, at col[0] */
	int64_t posted;
	char **holders;    /* conflicting claims: other names, sorted, each once */
	size_t n_holders;
	int status_conflict;
	int live;          /* open or claimed */
	int urgency_rank;
} post_row;

typedef struct {
	post_row *rows;
	size_t n, cap;
	int failed;
} post_list;

/* A field as text: a string's own text, another JSON value as written
 * (any member can write any field: mutual put), a missing one as "", so
 * front ends never meet a NULL. */
static const char *text_of(const mutual_entity_field *f)
{
	return !f ? "" : f->write.text ? f->write.text : f->write.value;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Losing claims that name someone other than the holder are the conflict
 * a volunteer must see; a concurrent release ("") is not. */
static int keep_holders(post_row *r, const mutual_entity_field *holder)
{
	size_t n = holder ? holder->n_conflicts : 0, kept = 0;
	if (n > HOLDERS_MAX)
		n = HOLDERS_MAX;
	if (n && !(r->holders = calloc(n, sizeof(*r->holders))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *who = holder->conflicts[i].text;
		if (!who || !*who || strcmp(who, r->col[8]) == 0)
			continue;
		if (!(r->holders[kept] = strdup(who)))
			return -1;
		kept++;
	}
	if (kept > 1)
		qsort(r->holders, kept, sizeof(*r->holders), by_name);
	r->n_holders = 0;
	for (size_t i = 0; i < kept; i++) {
		if (r->n_holders && strcmp(r->holders[r->n_holders - 1], r->holders[i]) == 0) {
			free(r->holders[i]);
			continue;
		}
		r->holders[r->n_holders++] = r->holders[i];
	}
	return 0;
}

static void post_row_free(post_row *r)
{
	free(r->col[0]);
	for (size_t i = 0; i < r->n_holders; i++)
		free(r->holders[i]);
	free(r->holders);
}

/* The fields a post shows, in name order (the walk gives fields by name,
 * so one merge finds them all), and where each goes in post_row.col. */
static const struct {
	const char *name;
	int col;
} shown[] = { { "area", 4 }, { "category", 2 }, { "contact", 6 }, { "holder", 8 }, { "kind", 1 },
	{ "posted", -1 }, { "status", 7 }, { "title", 3 }, { "urgency", 5 } };

static int take_post(const mutual_entity *e, void *payload)
{
	post_list *l = payload;
	const mutual_entity_field *found[sizeof(shown) / sizeof(*shown)] = { 0 };
	const char *text[9];
	size_t len[9], total = 0, k = 0;
	post_row *r;
	char *at;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		post_row *rows = realloc(l->rows, cap * sizeof(*rows));
		if (!rows)
			goto fail;
		l->rows = rows;
		l->cap = cap;
	}
	for (size_t i = 0; i < e->n_fields && k < sizeof(shown) / sizeof(*shown);) {
		int c = strcmp(e->fields[i].name, shown[k].name);
		if (c == 0)
			found[k] = &e->fields[i];
		if (c <= 0)
			i++;
		if (c >= 0)
			k++;
	}
	text[0] = e->id;
	for (k = 0; k < sizeof(shown) / sizeof(*shown); k++)
		if (shown[k].col >= 0)
			text[shown[k].col] = text_of(found[k]);
	for (int c = 0; c < 9; c++)
		total += (len[c] = strlen(text[c])) + 1;
	r = &l->rows[l->n];
	memset(r, 0, sizeof(*r));
	/* One allocation per post: col[0] owns them all. */
	if (!(at = malloc(total)))
		goto fail;
	l->n++;
	for (int c = 0; c < 9; c++) {
		memcpy(at, text[c], len[c] + 1);
		r->col[c] = at;
		at += len[c] + 1;
	}
	r->posted = strtoll(text_of(found[5]), NULL, 10);
	r->status_conflict = found[6] && found[6]->n_conflicts > 0;
	r->live = strcmp(r->col[7], "open") == 0 || strcmp(r->col[7], "claimed") == 0;
	r->urgency_rank = strcmp(r->col[5], "urgent") == 0 ? 0 : strcmp(r->col[5], "normal") == 0 ? 1 : 2;
	if (keep_holders(r, found[3]) < 0)
		goto fail;
	return 0;
fail:
	l->failed = 1;
	return apps__fail(MUTUAL_ERROR, "out of memory reading the board");
}

/* Open and claimed posts first, urgent first, then the oldest. */
static int board_order(const void *a, const void *b)
{
	const post_row *x = a, *y = b;
	if (x->live != y->live)
		return y->live - x->live;
	if (x->urgency_rank != y->urgency_rank)
		return x->urgency_rank - y->urgency_rank;
	if (x->posted != y->posted)
		return x->posted < y->posted ? -1 : 1;
	return strcmp(x->col[0], y->col[0]);
}

/* The posts through the library's typed walk: by status when closed
 * posts are left out, so a listing reads the open and claimed posts only,
 * however many were closed (the store keeps an index per field value). */
int board_foreach(mutual_store *store, const char *id, int include_closed, board_item_cb cb,
	void *payload)
{
	static const char *const live[] = { "\"open\"", "\"claimed\"" };
	mutual_entity_options o = MUTUAL_ENTITY_OPTIONS_INIT;
	mutual_entity_where where;
	post_list list = { NULL, 0, 0, 0 };
	int rc = 0;

	o.kind = KIND;
	o.id = id;
	if (id || include_closed) {
		rc = mutual_entity_foreach(store, &o, take_post, &list);
	} else {
		o.where = &where;
		o.n_where = 1;
		for (size_t i = 0; i < sizeof(live) / sizeof(*live) && rc == 0; i++) {
			where.field = "status";
			where.value = live[i];
			rc = mutual_entity_foreach(store, &o, take_post, &list);
		}
	}
	if (rc == 0 && id && list.n == 0)
		rc = apps__fail(MUTUAL_ENOTFOUND, "no post %s on this device", id);
	else if (rc != 0 && !list.failed)
		rc = apps__lib(rc);
	if (rc == 0 && list.n > 1)
		qsort(list.rows, list.n, sizeof(*list.rows), board_order);
	for (size_t i = 0; i < list.n && rc == 0; i++) {
		post_row *r = &list.rows[i];
		board_item item = {
			.id = r->col[0], .kind = r->col[1], .category = r->col[2], .title = r->col[3],
			.area = r->col[4], .urgency = r->col[5], .contact = r->col[6], .status = r->col[7],
			.holder = r->col[8], .posted = r->posted,
			.conflicting_holders = (const char *const *)r->holders, .n_conflicting_holders = r->n_holders,
			.status_conflict = r->status_conflict,
		};
		rc = cb(&item, payload);
	}
	for (size_t i = 0; i < list.n; i++)
		post_row_free(&list.rows[i]);
	free(list.rows);
	return rc;
}

/* What a change needs to know of the post as this device sees it. */
struct current {
	char status[16];
	char holder[NAME_MAX_LEN + 1];
	int has_contact;
	int conflicted;
};

static int keep_current(const board_item *item, void *payload)
{
	struct current *cur = payload;
	snprintf(cur->status, sizeof(cur->status), "%s", item->status ? item->status : "");
	snprintf(cur->holder, sizeof(cur->holder), "%s", item->holder);
	cur->has_contact = item->contact[0] != '\0';
	cur->conflicted = item->n_conflicting_holders > 0 || item->status_conflict;
	return 0;
}

static int current(struct current *out, mutual_store *store, const char *id)
{
	memset(out, 0, sizeof(*out));
	if (!id || strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16)
		return apps__fail(MUTUAL_EINVALID, "\"%s\" is not a post id (16 hex digits)",
			id ? id : "");
	return board_foreach(store, id, 1, keep_current, out);
}

static int is_closed(const struct current *cur)
{
	return strcmp(cur->status, "fulfilled") == 0 || strcmp(cur->status, "cancelled") == 0;
}

int board_claim(mutual_store *store, const char *id, const char *who_text)
{
	struct current cur;
	int rc = current(&cur, store, id);
	if (rc != 0)
		return rc;
	if (is_closed(&cur))
		return apps__fail(MUTUAL_EINVALID, "this post is %s already", cur.status);
	char *who = apps_clean_text(who_text, NAME_MAX_LEN, "your name");
	if (!who)
		return MUTUAL_EINVALID;
	/* Taking over someone's claim silently would hide it from them; after
	 * a conflict, claiming again is how the group settles it. */
	if (strcmp(cur.status, "claimed") == 0 && strcmp(cur.holder, who) != 0 && !cur.conflicted) {
		rc = apps__fail(MUTUAL_EINVALID, "%s has claimed this already; ask them to release it",
			cur.holder);
		goto done;
	}
	apps_buf fields = {0};
	apps_buf_puts(&fields, "{\"holder\":");
	apps_buf_json(&fields, who);
	apps_buf_puts(&fields, ",\"status\":\"claimed\"}");
	rc = put(store, id, &fields);
	apps_buf_free(&fields);
done:
	free(who);
	return rc;
}

int board_release(mutual_store *store, const char *id)
{
	struct current cur;
	int rc = current(&cur, store, id);
	if (rc != 0)
		return rc;
	if (strcmp(cur.status, "claimed") != 0)
		return apps__fail(MUTUAL_EINVALID, "nobody holds this post (it is %s)", cur.status);
	apps_buf fields = {0};
	apps_buf_puts(&fields, "{\"holder\":\"\",\"status\":\"open\"}");
	rc = put(store, id, &fields);
	apps_buf_free(&fields);
	return rc;
}

static int close_post(mutual_store *store, const char *id, const char *status)
{
	struct current cur;
	int rc = current(&cur, store, id);
	if (rc != 0)
		return rc;
	if (is_closed(&cur))
		return apps__fail(MUTUAL_EINVALID, "this post is %s already", cur.status);
	apps_buf fields = {0};
	apps_buf_printf(&fields, "{\"status\":\"%s\"}", status);
	rc = put(store, id, &fields);
	apps_buf_free(&fields);
	return rc;
}

int board_fulfil(mutual_store *store, const char *id)
{
	return close_post(store, id, "fulfilled");
}

int board_cancel(mutual_store *store, const char *id)
{
	return close_post(store, id, "cancelled");
}

int board_clear_contact(mutual_store *store, const char *id)
{
	struct current cur;
	int rc = current(&cur, store, id);
	if (rc != 0)
		return rc;
	if (!is_closed(&cur))
		return apps__fail(MUTUAL_EINVALID,
			"only a fulfilled or cancelled post's contact can be cleared (this one is %s)",
			cur.status);
	if (!cur.has_contact)
		return apps__fail(MUTUAL_EINVALID, "this post has no contact to clear");
	apps_buf fields = {0};
	apps_buf_puts(&fields, "{\"contact\":\"\"}");
	rc = put(store, id, &fields);
	apps_buf_free(&fields);
	return rc;
}
