/*
 * entity.c - the typed walk over entities (mutual_entity_iter_*,
 * mutual_entity_foreach): options checked and canonicalised, the rows of
 * db_state.c's walk gathered into one entity at a time, and the resume
 * cursor.
 *
 * NOTES ON THE DESIGN
 *  1. The walk reads entity_fields, each field's resolved register, kept
 *     by project.c beside the field's writes: the value is the write first
 *     in the total order, descending, as mutual_state_json takes it, and a
 *     field's conflicts (read only for a field that has any) are its other
 *     kept writes that set another value, as mutual_state_json lists
 *     them. tests/test_entities.py checks the walk against
 *     mutual_state_json on states with conflicts and deletes.
 *  2. A filter compares canonical JSON text (json.c), the form values are
 *     stored in: "open" and  "open"  with spaces are one value.
 *  3. A cursor is the position after an entity: its order (by id, or the
 *     name of the order field), the entity's sort key for that order and
 *     its id, as hex of a small versioned binary form, so it survives a
 *     shell, a URL and a form. It is only a position: the walk resumes at
 *     the first entity after it, whatever was written since. Decoding
 *     checks every length against the bytes it has.
 *  4. No statement is left between the rows of one entity and the next
 *     but the walk's own: the lookahead row (the next entity's first
 *     field) stays valid until the walk is stepped again, which only the
 *     next call does, after it copied that row.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "project.h"
#include "store.h"

#define CURSOR_VERSION 1
#define CURSOR_BY_ID 'i'
#define CURSOR_BY_FIELD 'f'

/* A field of the entity being gathered, as offsets into `text` (its
 * strings move while they are gathered) and a run of `conflicts`. */
typedef struct {
	size_t name, value, text; /* SIZE_MAX: no text */
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t seq, hlc;
	size_t first_conflict, n_conflicts;
} gathered_field;

typedef struct {
	size_t value, text;
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t seq, hlc;
} gathered_write;

struct mutual_entity_iter {
	mutual_store *store;
	mutual_db_walk *walk;
	char *kind, *order_field;
	uint64_t limit, given;
	int have_row;             /* `row` is the next entity's first field (NOTES 4) */
	mutual_db_field_row row;
	mutual_buf text;          /* the entity's strings */
	mutual_buf gathered;      /* gathered_field */
	mutual_buf writes;        /* gathered_write: conflicts */
	mutual_buf fields;        /* mutual_entity_field, built last */
	mutual_buf conflicts;     /* mutual_field_write, built last */
	mutual_buf cursor;
	mutual_db_value sort;     /* the entity's sort key; bytes at sort_at in text */
	size_t sort_at, id_at;
	mutual_entity current;
};

int mutual_entity_options_init(mutual_entity_options *opts, unsigned int version)
{
	if (!opts)
		return mutual__fail(MUTUAL_EINVALID, "no options given");
	MUTUAL__CHECK_VERSION(version, MUTUAL_ENTITY_OPTIONS_VERSION, "entity options");
	mutual_entity_options init = MUTUAL_ENTITY_OPTIONS_INIT;
	*opts = init;
	return 0;
}

/* ------------------------------------------------------------------ cursor */

static void put_bytes(mutual_buf *b, const void *data, size_t len)
{
	mutual__buf_put_u32(b, (uint32_t)len);
	mutual__buf_put(b, data, len);
}

/* The cursor after the entity gathered (NOTES 3), into it->cursor. */
static void cursor_make(mutual_entity_iter *it)
{
	mutual_buf raw = { 0 };
	const char *id = (const char *)it->text.data + it->id_at;

	mutual__buf_put_u8(&raw, CURSOR_VERSION);
	if (it->order_field) {
		mutual__buf_put_u8(&raw, CURSOR_BY_FIELD);
		put_bytes(&raw, it->order_field, strlen(it->order_field));
		mutual__buf_put_u8(&raw, (uint8_t)it->sort.type);
		if (it->sort.type == MUTUAL_DB_INTEGER) {
			mutual__buf_put_u64(&raw, (uint64_t)it->sort.integer);
		} else if (it->sort.type == MUTUAL_DB_FLOAT) {
			uint64_t bits;
			memcpy(&bits, &it->sort.real, sizeof(bits));
			mutual__buf_put_u64(&raw, bits);
		} else {
			put_bytes(&raw, it->text.data + it->sort_at, it->sort.len);
		}
	} else {
		mutual__buf_put_u8(&raw, CURSOR_BY_ID);
	}
	put_bytes(&raw, id, strlen(id));
	it->cursor.len = 0;
	if (mutual__buf_check(&raw) == 0 && mutual__buf_grow(&it->cursor, 2 * raw.len + 1) == 0) {
		mutual__hex((char *)it->cursor.data, raw.data, raw.len);
		it->cursor.len = 2 * raw.len + 1;
	}
	mutual__buf_free(&raw);
}

typedef struct {
	const uint8_t *p, *end;
} reader;

static int read_u8(reader *r, uint8_t *out)
{
	if (r->end - r->p < 1)
		return -1;
	*out = *r->p++;
	return 0;
}

static int read_u64(reader *r, uint64_t *out)
{
	if (r->end - r->p < 8)
		return -1;
	*out = mutual__get_u64(r->p);
	r->p += 8;
	return 0;
}

static int read_bytes(reader *r, const uint8_t **out, size_t *len)
{
	if (r->end - r->p < 4)
		return -1;
	*len = mutual__get_u32(r->p);
	r->p += 4;
	if ((size_t)(r->end - r->p) < *len)
		return -1;
	*out = r->p;
	r->p += *len;
	return 0;
}

/* `after` into q's resume position; `raw` keeps the bytes q points into. */
static int cursor_read(mutual_db_entity_query *q, mutual_buf *raw, mutual_buf *id, const char *after)
{
	static const char bad[] = "the cursor is not one of this walk's (it was made for another order, or is damaged)";
	size_t hexlen = strnlen(after, MUTUAL_ENTITY_CURSOR_MAX + 1), len;
	const uint8_t *bytes;
	uint8_t version, mode, type;
	reader r;

	if (hexlen > MUTUAL_ENTITY_CURSOR_MAX || hexlen % 2 || mutual__buf_grow(raw, hexlen / 2 + 1) < 0)
		return mutual__fail(hexlen > MUTUAL_ENTITY_CURSOR_MAX || hexlen % 2 ? MUTUAL_EINVALID : MUTUAL_ERROR,
			"%s", hexlen > MUTUAL_ENTITY_CURSOR_MAX || hexlen % 2 ? bad : "out of memory");
	if (mutual__unhex(raw->data, hexlen / 2, after, hexlen) < 0)
		return mutual__fail(MUTUAL_EINVALID, "%s", bad);
	raw->len = hexlen / 2;
	r.p = raw->data;
	r.end = raw->data + raw->len;
	if (read_u8(&r, &version) < 0 || version != CURSOR_VERSION || read_u8(&r, &mode) < 0 ||
	    mode != (q->order_field ? CURSOR_BY_FIELD : CURSOR_BY_ID))
		return mutual__fail(MUTUAL_EINVALID, "%s", bad);
	memset(&q->after_sort, 0, sizeof(q->after_sort));
	q->after_sort.type = MUTUAL_DB_NULL;
	if (mode == CURSOR_BY_FIELD) {
		if (read_bytes(&r, &bytes, &len) < 0 || len != strlen(q->order_field) ||
		    memcmp(bytes, q->order_field, len) != 0 || read_u8(&r, &type) < 0)
			return mutual__fail(MUTUAL_EINVALID, "%s", bad);
		q->after_sort.type = type;
		if (type == MUTUAL_DB_INTEGER || type == MUTUAL_DB_FLOAT) {
			uint64_t v;
			if (read_u64(&r, &v) < 0)
				return mutual__fail(MUTUAL_EINVALID, "%s", bad);
			if (type == MUTUAL_DB_INTEGER)
				q->after_sort.integer = (int64_t)v;
			else
				memcpy(&q->after_sort.real, &v, sizeof(v));
		} else if (type == MUTUAL_DB_TEXT || type == MUTUAL_DB_BLOB) {
			if (read_bytes(&r, &bytes, &len) < 0)
				return mutual__fail(MUTUAL_EINVALID, "%s", bad);
			q->after_sort.bytes = bytes;
			q->after_sort.len = len;
		} else {
			return mutual__fail(MUTUAL_EINVALID, "%s", bad);
		}
	}
	if (read_bytes(&r, &bytes, &len) < 0 || r.p != r.end || len == 0 ||
	    mutual__check_name((const char *)bytes, len, "cursor's id", MUTUAL_NAME_LOGGED) < 0)
		return mutual__fail(MUTUAL_EINVALID, "%s", bad);
	if (mutual__buf_put(id, bytes, len) < 0 || mutual__buf_cstr(id) < 0)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	q->after_id = (const char *)id->data;
	q->has_after = 1;
	return 0;
}

/* ------------------------------------------------------------------ options */

/* A field a filter or the order names: an app's field, not "_deleted". */
static int check_field(const char *field, const char *what)
{
	if (!field)
		return mutual__fail(MUTUAL_EINVALID, "no field given for %s", what);
	if (field[0] == '_')
		return mutual__fail(MUTUAL_EINVALID, "%s names '%s': fields starting with '_' are the library's"
			" (include_deleted lists deleted entities)", what, field);
	return mutual__check_name(field, strlen(field), "field", MUTUAL_NAME_LOGGED);
}

typedef struct {
	const char *fields[MUTUAL_ENTITY_WHERE_MAX];
	const char *values[MUTUAL_ENTITY_WHERE_MAX];
	mutual_buf canon[MUTUAL_ENTITY_WHERE_MAX];
	mutual_buf cursor_raw, cursor_id;
} query_room;

static void query_room_free(query_room *room)
{
	for (size_t i = 0; i < MUTUAL_ENTITY_WHERE_MAX; i++)
		mutual__buf_free(&room->canon[i]);
	mutual__buf_free(&room->cursor_raw);
	mutual__buf_free(&room->cursor_id);
}

static int make_query(mutual_db_entity_query *q, query_room *room, const mutual_entity_options *o)
{
	int rc;
	memset(q, 0, sizeof(*q));
	if (!o->kind)
		return mutual__fail(MUTUAL_EINVALID, "no kind given");
	if ((rc = mutual__check_name(o->kind, strlen(o->kind), "kind", MUTUAL_NAME_LOGGED)) < 0 ||
	    (o->id && (rc = mutual__check_name(o->id, strlen(o->id), "id", MUTUAL_NAME_LOGGED)) < 0) ||
	    (o->order_by && (rc = check_field(o->order_by, "the order")) < 0))
		return rc;
	if (o->n_where > MUTUAL_ENTITY_WHERE_MAX || (o->n_where && !o->where))
		return mutual__fail(MUTUAL_EINVALID, o->n_where > MUTUAL_ENTITY_WHERE_MAX
			? "at most %d filters in one walk" : "no filters given (n_where is %d)",
			o->n_where > MUTUAL_ENTITY_WHERE_MAX ? MUTUAL_ENTITY_WHERE_MAX : (int)o->n_where);
	for (size_t i = 0; i < o->n_where; i++) {
		const char *v = o->where[i].value;
		if ((rc = check_field(o->where[i].field, "a filter")) < 0)
			return rc;
		if (!v || mutual__json_canonical(&room->canon[i], v, strlen(v)) < 0 ||
		    mutual__buf_cstr(&room->canon[i]) < 0)
			return mutual__buf_failed(&room->canon[i])
				? mutual__fail(MUTUAL_ERROR, "out of memory")
				: mutual__fail(MUTUAL_EINVALID, "the filter on '%s' is not a JSON value"
					" (a string is quoted: \"\\\"open\\\"\")", o->where[i].field);
		room->fields[i] = o->where[i].field;
		room->values[i] = (const char *)room->canon[i].data;
	}
	q->kind = o->kind;
	q->id = o->id;
	q->where_field = room->fields;
	q->where_value = room->values;
	q->n_where = o->n_where;
	q->order_field = o->order_by;
	q->descending = o->descending != 0;
	q->include_deleted = o->include_deleted != 0;
	return o->after ? cursor_read(q, &room->cursor_raw, &room->cursor_id, o->after) : 0;
}

/* ------------------------------------------------------------------ the walk */

void mutual_entity_iter_free(mutual_entity_iter *it)
{
	if (!it)
		return;
	mutual__db_entity_walk_free(it->walk);
	mutual__free(it->kind);
	mutual__free(it->order_field);
	mutual__buf_free(&it->text);
	mutual__buf_free(&it->gathered);
	mutual__buf_free(&it->writes);
	mutual__buf_free(&it->fields);
	mutual__buf_free(&it->conflicts);
	mutual__buf_free(&it->cursor);
	mutual__free(it);
}

static char *copy_string(const char *s)
{
	size_t n = strlen(s) + 1;
	char *c = mutual__malloc(n);
	if (c)
		memcpy(c, s, n);
	return c;
}

int mutual_entity_iter_new(mutual_entity_iter **out, mutual_store *s, const mutual_entity_options *opts)
{
	MUTUAL_STORE_ENTER(s);
	mutual_db_entity_query q;
	query_room room;
	mutual_entity_iter *it = NULL;
	int rc;

	if (!out || !s || !opts)
		return mutual__fail(MUTUAL_EINVALID, "no store, output or options given");
	*out = NULL;
	mutual__error_clear();
	MUTUAL__CHECK_VERSION(opts->version, MUTUAL_ENTITY_OPTIONS_VERSION, "entity options");
	memset(&room, 0, sizeof(room));
	if ((rc = make_query(&q, &room, opts)) < 0 || (rc = mutual__apps_catch_up(s)) < 0)
		goto done;
	if (!(it = mutual__calloc(1, sizeof(*it))) || !(it->kind = copy_string(opts->kind)) ||
	    (opts->order_by && !(it->order_field = copy_string(opts->order_by)))) {
		rc = mutual__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	it->store = s;
	it->limit = opts->limit;
	if ((rc = mutual__db_entity_walk_new(&it->walk, s->db, &q)) < 0)
		goto done;
	*out = it;
	it = NULL;
done:
	mutual_entity_iter_free(it);
	query_room_free(&room);
	return rc;
}

/* `s` into the entity's strings; its offset. */
static size_t keep(mutual_entity_iter *it, const void *s, size_t len)
{
	size_t at = it->text.len;
	mutual__buf_put(&it->text, s, len);
	mutual__buf_put_u8(&it->text, '\0');
	return at;
}

typedef struct {
	mutual_entity_iter *it;
	const mutual_db_field_row *winner;
	int first;
} conflict_walk;

/* A kept write of a field with conflicts: the first is the value (NOTES 1). */
static int keep_conflict(const mutual_db_entity_row *row, void *payload)
{
	conflict_walk *c = payload;
	gathered_write w;
	if (c->first) {
		c->first = 0;
		return 0;
	}
	if (strcmp(row->value, c->winner->value) == 0)
		return 0; /* the same value: it disagrees with nobody */
	memset(&w, 0, sizeof(w));
	w.value = keep(c->it, row->value, strlen(row->value));
	w.text = row->text ? keep(c->it, row->text, strlen(row->text)) : SIZE_MAX;
	memcpy(w.device, row->device, MUTUAL_KEY_SIZE);
	w.seq = row->seq;
	w.hlc = row->hlc;
	return mutual__buf_put(&c->it->writes, &w, sizeof(w));
}

static int gather_field(mutual_entity_iter *it, const mutual_db_field_row *row)
{
	gathered_field f;
	int rc;
	memset(&f, 0, sizeof(f));
	f.name = keep(it, row->field, strlen(row->field));
	f.value = keep(it, row->value, strlen(row->value));
	f.text = row->text ? keep(it, row->text, strlen(row->text)) : SIZE_MAX;
	memcpy(f.device, row->device, MUTUAL_KEY_SIZE);
	f.seq = row->seq;
	f.hlc = row->hlc;
	f.first_conflict = it->writes.len / sizeof(gathered_write);
	if (row->n_conflicts) {
		conflict_walk c = { it, row, 1 };
		if ((rc = mutual__db_field_conflicts(it->store->db, it->kind, row->id, row->field, keep_conflict, &c)) < 0)
			return rc;
	}
	f.n_conflicts = it->writes.len / sizeof(gathered_write) - f.first_conflict;
	return mutual__buf_put(&it->gathered, &f, sizeof(f));
}

static const char *text_at(const mutual_entity_iter *it, size_t at)
{
	return at == SIZE_MAX ? NULL : (const char *)it->text.data + at;
}

static void write_of(mutual_field_write *w, const mutual_entity_iter *it, const uint8_t device[MUTUAL_KEY_SIZE],
	uint64_t seq, uint64_t hlc, size_t value, size_t text)
{
	memcpy(w->device, device, MUTUAL_KEY_SIZE);
	w->seq = seq;
	w->hlc = hlc;
	w->value = text_at(it, value);
	w->text = text_at(it, text);
}

static int by_gathered_name(const void *a, const void *b, void *strings)
{
	const char *text = strings;
	return strcmp(text + ((const gathered_field *)a)->name, text + ((const gathered_field *)b)->name);
}

/* The public entity from what was gathered; nothing moves after this. */
static int build(mutual_entity_iter *it)
{
	gathered_field *g = (gathered_field *)it->gathered.data;
	const gathered_write *w = (const gathered_write *)it->writes.data;
	size_t n = it->gathered.len / sizeof(*g), nw = it->writes.len / sizeof(*w);
	mutual_field_write *cw;
	mutual_entity *e = &it->current;

	if (mutual__buf_check(&it->text) < 0 || mutual__buf_check(&it->gathered) < 0 ||
	    mutual__buf_check(&it->writes) < 0 || mutual__buf_grow(&it->conflicts, nw * sizeof(*cw) + 1) < 0 ||
	    mutual__buf_grow(&it->fields, n * sizeof(mutual_entity_field) + 1) < 0)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	/* The rows came in no promised order (db_state.c walk_sql). */
	qsort_r(g, n, sizeof(*g), by_gathered_name, it->text.data);
	cw = (mutual_field_write *)it->conflicts.data;
	for (size_t i = 0; i < nw; i++)
		write_of(&cw[i], it, w[i].device, w[i].seq, w[i].hlc, w[i].value, w[i].text);
	memset(e, 0, sizeof(*e));
	e->kind = it->kind;
	e->id = text_at(it, it->id_at);
	e->fields = (const mutual_entity_field *)it->fields.data;
	e->deletion.name = "_deleted";
	e->deletion.write.value = "false";
	for (size_t i = 0; i < n; i++) {
		mutual_entity_field *f = strcmp(text_at(it, g[i].name), "_deleted") == 0
			? &e->deletion : &((mutual_entity_field *)it->fields.data)[e->n_fields++];
		f->name = text_at(it, g[i].name);
		write_of(&f->write, it, g[i].device, g[i].seq, g[i].hlc, g[i].value, g[i].text);
		f->conflicts = g[i].n_conflicts ? &cw[g[i].first_conflict] : NULL;
		f->n_conflicts = g[i].n_conflicts;
	}
	e->deleted = strcmp(e->deletion.write.value, "true") == 0;
	cursor_make(it);
	if (mutual__buf_failed(&it->cursor) || !it->cursor.len)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	e->cursor = (const char *)it->cursor.data;
	return 0;
}

int mutual_entity_iter_next(const mutual_entity **out, mutual_entity_iter *it)
{
	int rc;
	if (!out || !it)
		return mutual__fail(MUTUAL_EINVALID, "no iterator or output given");
	MUTUAL_STORE_ENTER(it->store); /* the walk steps the store's connection */
	*out = NULL;
	if (it->limit && it->given >= it->limit)
		return MUTUAL_ITEROVER;
	if (!it->have_row) {
		if ((rc = mutual__db_entity_walk_next(&it->row, it->walk)) < 0)
			return rc;
		it->have_row = 1;
	}
	it->text.len = it->gathered.len = it->writes.len = 0;
	it->id_at = keep(it, it->row.id, strlen(it->row.id));
	it->sort = it->row.sort;
	if (it->sort.type == MUTUAL_DB_TEXT || it->sort.type == MUTUAL_DB_BLOB) {
		it->sort_at = keep(it, it->row.sort.bytes, it->row.sort.len);
		it->sort.bytes = NULL; /* at sort_at, once the strings stop moving */
	}
	/* This entity's fields, until the next one's first (NOTES 4). */
	do {
		if ((rc = gather_field(it, &it->row)) < 0)
			return rc;
		rc = mutual__db_entity_walk_next(&it->row, it->walk);
		if (rc == MUTUAL_ITEROVER)
			it->have_row = 0;
		else if (rc < 0)
			return rc;
	} while (it->have_row && mutual__buf_check(&it->text) == 0 &&
		 strcmp(it->row.id, (const char *)it->text.data + it->id_at) == 0);
	if ((rc = build(it)) < 0)
		return rc;
	it->given++;
	*out = &it->current;
	return 0;
}

int mutual_entity_foreach(mutual_store *s, const mutual_entity_options *opts, mutual_entity_cb cb, void *payload)
{
	mutual_entity_iter *it;
	const mutual_entity *e;
	int rc;
	if (!cb)
		return mutual__fail(MUTUAL_EINVALID, "no callback given");
	if ((rc = mutual_entity_iter_new(&it, s, opts)) < 0)
		return rc;
	while ((rc = mutual_entity_iter_next(&e, it)) == 0)
		if ((rc = cb(e, payload)) != 0)
			break;
	mutual_entity_iter_free(it);
	return rc == MUTUAL_ITEROVER ? 0 : rc;
}
