/*
 * entity.c - the typed walk over entities (mutual_entity_iter_*,
 * mutual_entity_foreach): options checked and canonicalised, the rows of
 * db_state.c's walk unpacked into one entity at a time, and the resume
 * cursor.
 *
 * NOTES ON THE DESIGN
 *  1. The walk reads each entity's resolved registers, kept beside the
 *     fields' writes (all of one entity packed in one row of `entities`,
 *     and the value index `entity_values`: db_state.c): a field's value is the
 *     write first in the total order, descending, as mutual_state_json
 *     takes it, and its conflicts (read only for a field that has any) are
 *     its other kept writes that set another value, as mutual_state_json
 *     lists them. tests/library/test_entities.c checks the walk against
 *     mutual_state_json on random concurrent states of three devices.
 *  2. A filter compares canonical JSON text (json.c), the form values are
 *     stored in: "open" and  "open"  with spaces are one value.
 *  3. A cursor is the position after an entity: its order (by id, or the
 *     name of the order field), the entity's value of that field and its
 *     id, as hex of a small versioned binary form, so it survives a
 *     shell, a URL and a form. It is only a position: the walk resumes at
 *     the first entity after it, whatever was written since. Decoding
 *     checks every length against the bytes it has.
 *  4. An entity's row is copied before it is handed out: SQLite's row is
 *     only lent until the walk steps, and a write through the same store
 *     meanwhile could change the page it lies on.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "project.h"
#include "store.h"

#define CURSOR_VERSION 1
#define PACKED_FIELD_MIN (1 + 1 + 1 + 52) /* name, value, flag, writer (db_state.c) */
#define CURSOR_BY_ID 'i'
#define CURSOR_BY_FIELD 'f'

/* A conflict gathered, as offsets into `ctext` (which moves meanwhile). */
typedef struct {
	size_t value, text; /* SIZE_MAX: no text */
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t seq, hlc;
} gathered_write;

struct mutual_entity_iter {
	mutual_store *store;
	mutual_db_walk *walk;
	char *kind, *order_field;
	uint64_t limit, given;
	mutual_buf text;          /* the entity's id, order value and packed row */
	mutual_buf fields;        /* mutual_entity_field */
	mutual_buf firsts;        /* each field's first conflict in `writes` */
	mutual_buf writes;        /* gathered_write: the conflicts */
	mutual_buf ctext;         /* the conflicts' strings */
	mutual_buf conflicts;     /* mutual_field_write, built last */
	mutual_buf cursor, cursor_raw; /* the entity's cursor, and its bytes before hex */
	size_t id_at, value_at;   /* in text: the id, the order field's value */
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
	mutual_buf raw = it->cursor_raw; /* reused: one per entity walked */
	const char *id = (const char *)it->text.data + it->id_at;

	raw.len = 0;

	mutual__buf_put_u8(&raw, CURSOR_VERSION);
	if (it->order_field) {
		const char *value = (const char *)it->text.data + it->value_at;
		mutual__buf_put_u8(&raw, CURSOR_BY_FIELD);
		put_bytes(&raw, it->order_field, strlen(it->order_field));
		put_bytes(&raw, value, strlen(value));
	} else {
		mutual__buf_put_u8(&raw, CURSOR_BY_ID);
	}
	put_bytes(&raw, id, strlen(id));
	it->cursor_raw = raw;
	it->cursor.len = 0;
	if (mutual__buf_check(&raw) == 0 && mutual__buf_grow(&it->cursor, 2 * raw.len + 1) == 0) {
		mutual__hex((char *)it->cursor.data, raw.data, raw.len);
		it->cursor.len = 2 * raw.len + 1;
	}
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

/* `after` into q's resume position; `id` and `value` keep the strings q
 * points at, `raw` the bytes. */
static int cursor_read(mutual_db_entity_query *q, mutual_buf *raw, mutual_buf *id, mutual_buf *value,
	const char *after)
{
	static const char bad[] = "the cursor is not one of this walk's (it was made for another order, or is damaged)";
	size_t hexlen = strnlen(after, MUTUAL_ENTITY_CURSOR_MAX + 1), len;
	const uint8_t *bytes;
	uint8_t version, mode;
	reader r;

	if (hexlen > MUTUAL_ENTITY_CURSOR_MAX || hexlen % 2)
		return mutual__fail(MUTUAL_EINVALID, "%s", bad);
	if (mutual__buf_grow(raw, hexlen / 2 + 1) < 0)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	if (mutual__unhex(raw->data, hexlen / 2, after, hexlen) < 0)
		return mutual__fail(MUTUAL_EINVALID, "%s", bad);
	raw->len = hexlen / 2;
	r.p = raw->data;
	r.end = raw->data + raw->len;
	if (read_u8(&r, &version) < 0 || version != CURSOR_VERSION || read_u8(&r, &mode) < 0 ||
	    mode != (q->order_field ? CURSOR_BY_FIELD : CURSOR_BY_ID))
		return mutual__fail(MUTUAL_EINVALID, "%s", bad);
	if (mode == CURSOR_BY_FIELD) {
		/* The order field's value, canonical JSON as the store holds it. */
		if (read_bytes(&r, &bytes, &len) < 0 || len != strlen(q->order_field) ||
		    memcmp(bytes, q->order_field, len) != 0 || read_bytes(&r, &bytes, &len) < 0)
			return mutual__fail(MUTUAL_EINVALID, "%s", bad);
		if (mutual__json_canonical(value, (const char *)bytes, len) < 0 || mutual__buf_cstr(value) < 0)
			return mutual__buf_failed(value) ? mutual__fail(MUTUAL_ERROR, "out of memory")
							 : mutual__fail(MUTUAL_EINVALID, "%s", bad);
		if (value->len != len || memcmp(value->data, bytes, len) != 0)
			return mutual__fail(MUTUAL_EINVALID, "%s", bad);
		q->after_value = (const char *)value->data;
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
	mutual_buf cursor_raw, cursor_id, cursor_value;
} query_room;

static void query_room_free(query_room *room)
{
	for (size_t i = 0; i < MUTUAL_ENTITY_WHERE_MAX; i++)
		mutual__buf_free(&room->canon[i]);
	mutual__buf_free(&room->cursor_raw);
	mutual__buf_free(&room->cursor_id);
	mutual__buf_free(&room->cursor_value);
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
	return o->after ? cursor_read(q, &room->cursor_raw, &room->cursor_id, &room->cursor_value, o->after) : 0;
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
	mutual__buf_free(&it->firsts);
	mutual__buf_free(&it->ctext);
	mutual__buf_free(&it->writes);
	mutual__buf_free(&it->fields);
	mutual__buf_free(&it->conflicts);
	mutual__buf_free(&it->cursor);
	mutual__buf_free(&it->cursor_raw);
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

/* `s` into `b`, NUL-terminated; its offset. */
static size_t keep(mutual_buf *b, const void *s, size_t len)
{
	size_t at = b->len;
	mutual__buf_put(b, s, len);
	mutual__buf_put_u8(b, '\0');
	return at;
}

typedef struct {
	mutual_entity_iter *it;
	const char *winner; /* the value that holds */
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
	if (strcmp(row->value, c->winner) == 0)
		return 0; /* the same value: it disagrees with nobody */
	memset(&w, 0, sizeof(w));
	w.value = keep(&c->it->ctext, row->value, strlen(row->value));
	w.text = row->text ? keep(&c->it->ctext, row->text, strlen(row->text)) : SIZE_MAX;
	memcpy(w.device, row->device, MUTUAL_KEY_SIZE);
	w.seq = row->seq;
	w.hlc = row->hlc;
	return mutual__buf_put(&c->it->writes, &w, sizeof(w));
}

/* The packed field `pf` as a public field; its conflicts' run in `writes`
 * starts at *first (they are pointed at once all are in). */
static int unpack_field(mutual_entity_iter *it, mutual_entity_field *f, size_t *first,
	const mutual_db_packed_field *pf)
{
	int rc;
	memset(f, 0, sizeof(*f));
	f->name = pf->name;
	memcpy(f->write.device, pf->device, MUTUAL_KEY_SIZE);
	f->write.seq = pf->seq;
	f->write.hlc = pf->hlc;
	f->write.value = pf->value;
	f->write.text = pf->text;
	*first = it->writes.len / sizeof(gathered_write);
	if (pf->n_conflicts) {
		conflict_walk c = { it, pf->value, 1 };
		const char *id = (const char *)it->text.data + it->id_at;
		if ((rc = mutual__db_field_conflicts(it->store->db, it->kind, id, pf->name, keep_conflict, &c)) < 0)
			return rc;
	}
	f->n_conflicts = it->writes.len / sizeof(gathered_write) - *first;
	return 0;
}

/* The entity from its packed row (copied into `text`, which then stays
 * put): its fields point into the copy, its conflicts into `ctext`. */
static int unpack(mutual_entity_iter *it, size_t packed_at, size_t packed_len)
{
	const uint8_t *packed = it->text.data + packed_at;
	mutual_entity *e = &it->current;
	mutual_db_packed_field pf;
	mutual_field_write *cw;
	size_t pos = 0, first, deletion_first = 0, n;
	const size_t *firsts;
	int rc;

	memset(e, 0, sizeof(*e));
	e->kind = it->kind;
	e->id = (const char *)it->text.data + it->id_at;
	e->deletion.name = "_deleted";
	e->deletion.write.value = "false";
	it->fields.len = it->firsts.len = it->writes.len = it->ctext.len = 0;
	/* Room for as many fields as the row can hold, once per entity (a
	 * packed field is at least PACKED_FIELD_MIN bytes). */
	n = packed_len / PACKED_FIELD_MIN + 1;
	if (mutual__buf_grow(&it->fields, n * sizeof(mutual_entity_field)) < 0 ||
	    mutual__buf_grow(&it->firsts, n * sizeof(size_t)) < 0)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	while ((rc = mutual__db_packed_next(&pf, packed, packed_len, &pos)) == 1) {
		mutual_entity_field *f = (mutual_entity_field *)it->fields.data + e->n_fields;
		if ((rc = unpack_field(it, f, &first, &pf)) < 0)
			return rc;
		if (strcmp(f->name, "_deleted") == 0) {
			e->deletion = *f;
			deletion_first = first;
		} else {
			((size_t *)it->firsts.data)[e->n_fields++] = first;
		}
	}
	if (rc < 0)
		return rc;
	if (mutual__buf_check(&it->writes) < 0 || mutual__buf_check(&it->ctext) < 0 ||
	    mutual__buf_grow(&it->conflicts, it->writes.len / sizeof(gathered_write) * sizeof(*cw)) < 0)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	/* Nothing moves now: point the conflicts at their writes. */
	cw = (mutual_field_write *)it->conflicts.data;
	n = it->writes.len / sizeof(gathered_write);
	for (size_t i = 0; i < n; i++) {
		const gathered_write *w = &((const gathered_write *)it->writes.data)[i];
		memcpy(cw[i].device, w->device, MUTUAL_KEY_SIZE);
		cw[i].seq = w->seq;
		cw[i].hlc = w->hlc;
		cw[i].value = (const char *)it->ctext.data + w->value;
		cw[i].text = w->text == SIZE_MAX ? NULL : (const char *)it->ctext.data + w->text;
	}
	e->fields = (const mutual_entity_field *)it->fields.data;
	firsts = (const size_t *)it->firsts.data;
	for (size_t i = 0; i < e->n_fields; i++) {
		mutual_entity_field *f = &((mutual_entity_field *)it->fields.data)[i];
		f->conflicts = f->n_conflicts ? &cw[firsts[i]] : NULL;
	}
	e->deletion.conflicts = e->deletion.n_conflicts ? &cw[deletion_first] : NULL;
	e->deleted = strcmp(e->deletion.write.value, "true") == 0;
	return 0;
}

int mutual_entity_iter_next(const mutual_entity **out, mutual_entity_iter *it)
{
	mutual_db_entity_packed row;
	size_t packed_at;
	int rc;
	if (!out || !it)
		return mutual__fail(MUTUAL_EINVALID, "no iterator or output given");
	MUTUAL_STORE_ENTER(it->store); /* the walk steps the store's connection */
	*out = NULL;
	if (it->limit && it->given >= it->limit)
		return MUTUAL_ITEROVER;
	if ((rc = mutual__db_entity_walk_next(&row, it->walk)) < 0)
		return rc;
	/* Copied: the row is SQLite's only until the walk steps (NOTES 4). */
	it->text.len = 0;
	it->id_at = keep(&it->text, row.id, strlen(row.id));
	if (it->order_field)
		it->value_at = keep(&it->text, row.sort_value ? row.sort_value : "null",
			strlen(row.sort_value ? row.sort_value : "null"));
	packed_at = keep(&it->text, row.fields, row.fields_len);
	if (mutual__buf_check(&it->text) < 0)
		return MUTUAL_ERROR;
	if ((rc = unpack(it, packed_at, row.fields_len)) < 0)
		return rc;
	cursor_make(it);
	if (mutual__buf_failed(&it->cursor) || !it->cursor.len)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	it->current.cursor = (const char *)it->cursor.data;
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
