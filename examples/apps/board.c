/*
 * board.c - requests and offers of help, and who has taken each on.
 *
 * A post is an entity of kind "board.post" whose fields are registers
 * (mutual_entity_put). Claiming writes the fields "status" and "holder";
 * when two volunteers claim the same request offline, both writes survive
 * the merge: the one later in the total order holds it on every device and
 * the other is kept as a conflict on "holder", shown until someone writes
 * again having seen both. The state comes back as canonical JSON
 * (mutual_state_json), which SQLite's JSON functions read through
 * mutual_query: the app needs no JSON parser of its own.
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

/* Rows come one per post and conflicting holder (typed rows, never names
 * joined by a separator: another member's software can write any
 * character into a name); a post is handed on once its rows are in. */
struct walk {
	board_item_cb cb;
	void *payload;
	int have;          /* a post is being gathered */
	char *col[12];     /* its columns, copied ("" for NULL); col[10] unused */
	char *holders[HOLDERS_MAX];
	size_t n;
};

static void walk_clear(struct walk *w)
{
	for (size_t i = 0; i < sizeof(w->col) / sizeof(*w->col); i++)
		free(w->col[i]);
	for (size_t i = 0; i < w->n; i++)
		free(w->holders[i]);
	memset(w->col, 0, sizeof(w->col));
	w->n = 0;
	w->have = 0;
}

static int walk_flush(struct walk *w)
{
	char **v = w->col;
	int rc;
	if (!w->have)
		return 0;
	/* Any member can write any field (mutual put): a missing one reads as
	 * "", so front ends never meet a NULL. */
	board_item item = {
		.id = v[0], .kind = v[1], .category = v[2], .title = v[3], .area = v[4], .urgency = v[5],
		.contact = v[6], .status = v[7], .holder = v[8], .posted = strtoll(v[9], NULL, 10),
		.conflicting_holders = (const char *const *)w->holders, .n_conflicting_holders = w->n,
		.status_conflict = strcmp(v[11], "1") == 0,
	};
	rc = w->cb(&item, w->payload);
	walk_clear(w);
	return rc;
}

static int item_row(int columns, const char *const *names, const char *const *v, void *payload)
{
	(void)columns;
	(void)names;
	struct walk *w = payload;
	int rc;

	if (w->have && strcmp(w->col[0], v[0] ? v[0] : "") != 0 && (rc = walk_flush(w)) != 0)
		return rc;
	if (!w->have) {
		for (size_t i = 0; i < sizeof(w->col) / sizeof(*w->col); i++)
			if (i != 10 && !(w->col[i] = strdup(v[i] ? v[i] : "")))
				return apps__fail(MUTUAL_ERROR, "out of memory reading the board");
		w->have = 1;
	}
	/* Sorted, so a holder named by several losing writes comes once. */
	if (v[10] && w->n < HOLDERS_MAX && (w->n == 0 || strcmp(w->holders[w->n - 1], v[10]) != 0)) {
		if (!(w->holders[w->n] = strdup(v[10])))
			return apps__fail(MUTUAL_ERROR, "out of memory reading the board");
		w->n++;
	}
	return 0;
}

int board_foreach(mutual_store *store, const char *id, int include_closed, board_item_cb cb,
	void *payload)
{
	/* Losing claims that name someone other than the holder are the
	 * conflict a volunteer must see; a concurrent release ("") is not. */
	/* Each entity's JSON is parsed once into its small parts (the CTE is
	 * materialized, so they are not re-extracted per use): json_extract
	 * re-reads the whole text every time, writers and all. */
	static const char sql[] =
		"WITH e AS MATERIALIZED (SELECT json_extract(value, '$.id') AS id,"
		"   json_extract(value, '$.fields') AS f, json_extract(value, '$.conflicts') AS conflicts"
		"  FROM json_each(?1, '$.entities') WHERE NOT json_extract(value, '$.deleted')),"
		" p AS MATERIALIZED (SELECT id, conflicts,"
		"   json_extract(f, '$.kind') AS kind, json_extract(f, '$.category') AS category,"
		"   json_extract(f, '$.title') AS title, json_extract(f, '$.area') AS area,"
		"   json_extract(f, '$.urgency') AS urgency, json_extract(f, '$.contact') AS contact,"
		"   json_extract(f, '$.status') AS status,"
		"   coalesce(json_extract(f, '$.holder'), '') AS holder,"
		"   json_extract(f, '$.posted') AS posted FROM e)"
		"SELECT p.id, kind, category, title, area, urgency, contact, status, holder, posted,"
		" json_extract(h.value, '$.value'),"
		" EXISTS (SELECT 1 FROM json_each(p.conflicts, '$.status') AS c"
		"   WHERE json_extract(c.value, '$.value') <> p.status)"
		" FROM p LEFT JOIN json_each(p.conflicts, '$.holder') AS h"
		"  ON json_extract(h.value, '$.value') <> '' AND json_extract(h.value, '$.value') <> p.holder"
		" WHERE ?2 = '1' OR status IN ('open', 'claimed')"
		" ORDER BY status IN ('open', 'claimed') DESC,"
		"  CASE urgency WHEN 'urgent' THEN 0 WHEN 'normal' THEN 1 ELSE 2 END, posted, p.id, 11";
	char *state = NULL;
	int rc = mutual_state_json(&state, store, KIND, id);
	if (rc != 0)
		return rc == MUTUAL_ENOTFOUND ? apps__fail(rc, "no post %s on this device", id)
					      : apps__lib(rc);
	const char *params[] = { state, include_closed || id ? "1" : "0" };
	struct walk walk;
	memset(&walk, 0, sizeof(walk));
	walk.cb = cb;
	walk.payload = payload;
	rc = mutual_query(store, sql, params, 2, item_row, &walk);
	if (rc == 0)
		rc = walk_flush(&walk);
	walk_clear(&walk);
	mutual_free(state);
	return rc < 0 ? apps__lib(rc) : rc;
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
