/*
 * project.h - projections: deterministic state kept from the events
 * (project.c: entities and counters; apps.c: app-defined SQL projections).
 */
#ifndef MUTUAL_PROJECT_H
#define MUTUAL_PROJECT_H

#include "event.h"
#include "store.h"

/* Apply one stored, non-quarantined event to the built-in projections,
 * inside the caller's write transaction. */
int mutual__project_apply(mutual_store *s, const mutual_event_rec *ev);
/* Empty and re-derive every projection (inside a write transaction). */
int mutual__project_rebuild_locked(mutual_store *s);
/* Before a write transaction that applied events commits: rebuild if
 * what is refused changed (a removal, or its cut moved: NOTES 8). */
int mutual__project_settle(mutual_store *s);
/* Bring the registered app projections up to date with the log. */
int mutual__apps_catch_up(mutual_store *s);
/* `ev` was applied after events that arrived later: the app projections
 * catch up again, from their start if it sorts before their cursor. */
int mutual__apps_note_late(mutual_store *s, const mutual_event_rec *ev);
void mutual__apps_free(mutual_store *s);


/* The event mutual_entity_put, mutual_entity_delete and mutual_counter_add
 * write, built and checked as they check it (MUTUAL_EINVALID for a bad
 * kind, id, fields, key or delta, or a payload the append would refuse):
 * its payload goes into `payload` (the caller's, to free), `*e` points at
 * its type and at `payload`'s bytes, valid until `payload` changes. The
 * single calls and a batch (batch.c) write what these build, unchecked
 * again (mutual__append_write). */
int mutual__project_put_entry(mutual_append_entry *e, mutual_buf *payload, const char *kind, const char *id,
	const char *fields);
int mutual__project_del_entry(mutual_append_entry *e, mutual_buf *payload, const char *kind, const char *id);
int mutual__project_add_entry(mutual_append_entry *e, mutual_buf *payload, const char *key, const char *delta);
/* A JSON number as fixed point with 6 decimals; -1 if not one. */
int mutual__parse_fixed(int64_t *out, const char *text, size_t len);

#endif
