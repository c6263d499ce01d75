/*
 * sync_send.c - the send phase of a sync: planning which device logs a
 * target lacks or holds behind, and sending them to a folder with the fork
 * proofs and newer-format refs it lacks; bringing the store repository's
 * refs in line with the segments table. A bundle or a remote is written
 * from the same plan (sync_target.c).
 *
 * NOTES ON THE DESIGN
 *  1. Repair. A device ref that is not a log of this format at all (not a
 *     commit, or a segment that does not open as that device's) is replaced
 *     on the target by the log this store holds, and reported; a ref that
 *     opens (a fork, a rewritten log) or that cannot be judged here (a newer
 *     envelope, another key) is never replaced.
 */
#include "sync_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fork.h"
#include "store.h"

static void device_ref(char *out, size_t size, const uint8_t device[MUTUAL_KEY_SIZE])
{
	char hex[MUTUAL_KEY_HEX_SIZE];
	mutual__hex(hex, device, MUTUAL_KEY_SIZE);
	snprintf(out, size, MUTUAL_REF_DEVICES "%s", hex);
}

static const peer_ref *find_ref(const sync_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->n_refs; i++)
		if (strcmp(c->refs[i].name, name) == 0)
			return &c->refs[i];
	return NULL;
}

static int plan_device(const uint8_t *device, uint64_t last_seq, const uint8_t *commit, void *payload)
{
	send_plan *p = payload;
	sync_ctx *c = p->c;
	char name[MUTUAL_REF_NAME_SIZE];
	const peer_ref *theirs;
	const garbage_ref *garbage;
	send_entry *e;
	uint8_t found[MUTUAL_KEY_SIZE];
	uint64_t first, their_last = 0;

	device_ref(name, sizeof(name), device);
	theirs = find_ref(c, name);
	garbage = mutual__sync_find_garbage(c, device);
	if (theirs && !garbage) {
		if (memcmp(theirs->oid.id, commit, 20) == 0)
			return 0;
		int rc = mutual__db_segment_find(c->s->db, theirs->oid.id, found, &first, &their_last);
		if (rc < 0 && rc != MUTUAL_ENOTFOUND)
			return rc; /* not read is not diverged: the log would silently stay unsent */
		if (rc != 0 || memcmp(found, device, MUTUAL_KEY_SIZE) != 0)
			return 0; /* diverged: refused on import, never overwritten */
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		send_entry *grown = mutual__realloc(p->e, cap * sizeof(*grown));
		if (!grown)
			return mutual__fail(MUTUAL_ERROR, "out of memory");
		p->e = grown;
		p->cap = cap;
	}
	e = &p->e[p->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->tip.id, commit, 20);
	e->has_stop = theirs != NULL && !garbage;
	e->has_expected = theirs != NULL;
	e->force = garbage != NULL;
	if (theirs)
		e->stop = e->expected = theirs->oid;
	if (!(e->name = mutual__strdup(name)))
		return MUTUAL_ERROR;
	p->n++;
	p->events += last_seq - their_last;
	return 0;
}

void mutual__sync_free_plan(send_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		mutual__free(p->e[i].name);
	mutual__free(p->e);
}

/* Count the segments between a tip and a stop, walking back locally. */
static uint64_t count_segments(sync_ctx *c, const mutual_oid *tip, const mutual_oid *stop)
{
	mutual_oid cur = *tip, parent;
	uint64_t n = 0;
	int has_parent;
	while (!stop || memcmp(&cur, stop, sizeof(cur)) != 0) {
		n++;
		if (mutual__commit_parent(c->local, &cur, &has_parent, &parent) < 0 || !has_parent)
			break;
		cur = parent;
	}
	return n;
}

int mutual__sync_plan_send(send_plan *p, sync_ctx *c)
{
	int rc;
	memset(p, 0, sizeof(*p));
	p->c = c;
	if ((rc = mutual__db_segment_tips(c->s->db, plan_device, p)) < 0)
		return rc;
	for (size_t i = 0; i < p->n; i++)
		c->stats->segments_sent += count_segments(c, &p->e[i].tip, p->e[i].has_stop ? &p->e[i].stop : NULL);
	c->stats->events_sent += p->events;
	return 0;
}

/* Send to a folder: one pack into the stick's object store, then the refs. */
int mutual__sync_send_folder(sync_ctx *c)
{
	send_plan p;
	size_t n_stops = 0;
	mutual_oid *tips = NULL, *stops = NULL;
	int rc;

	if ((rc = mutual__sync_plan_send(&p, c)) < 0)
		goto done;
	if (p.n == 0)
		goto done;
	if (!(tips = mutual__calloc(p.n, sizeof(*tips))) || !(stops = mutual__calloc(p.n, sizeof(*stops)))) {
		rc = mutual__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < p.n; i++) {
		tips[i] = p.e[i].tip;
		if (p.e[i].has_stop)
			stops[n_stops++] = p.e[i].stop;
	}
	c->progress.phase = MUTUAL_SYNC_SENDING;
	if ((rc = mutual__repo_copy(c->peer, c->local, tips, p.n, stops, n_stops, &c->stats->objects_sent,
		mutual__sync_transfer_cb, c)) < 0)
		goto done;
	for (size_t i = 0; i < p.n && rc == 0; i++)
		rc = mutual__ref_set(c->peer, p.e[i].name, &p.e[i].tip, p.e[i].has_expected ? &p.e[i].expected : NULL);
done:
	mutual__free(tips);
	mutual__free(stops);
	mutual__sync_free_plan(&p);
	return rc;
}

/* This store's fork proofs the target lacks, or holds a later one of. */
int mutual__sync_plan_fork(const char *name, const mutual_oid *oid, void *payload)
{
	fork_plan *p = payload;
	const peer_ref *theirs = find_ref(p->c, name);
	size_t i = p->n;
	if (theirs && memcmp(&theirs->oid, oid, sizeof(*oid)) == 0)
		return 0;
	if (!(p->tips = mutual__realloc(p->tips, (i + 1) * sizeof(*p->tips))) ||
	    !(p->theirs = mutual__realloc(p->theirs, (i + 1) * sizeof(*p->theirs))) ||
	    !(p->names = mutual__realloc(p->names, (i + 1) * sizeof(*p->names))) ||
	    !(p->has_theirs = mutual__realloc(p->has_theirs, (i + 1) * sizeof(*p->has_theirs))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	p->tips[i] = *oid;
	p->has_theirs[i] = theirs != NULL;
	if (theirs)
		p->theirs[i] = theirs->oid;
	if (!(p->names[i] = mutual__strdup(name)))
		return MUTUAL_ERROR;
	p->n++;
	return 0;
}

/* This store's newer-format refs the remote lacks or holds behind. */
int mutual__sync_plan_newer(const char *name, const mutual_oid *oid, void *payload)
{
	fork_plan *p = payload;
	const peer_ref *theirs = find_ref(p->c, name);
	if (!mutual__sync_is_newer_format_ref(name) ||
	    (theirs && (memcmp(&theirs->oid, oid, sizeof(*oid)) == 0 || !mutual__repo_descends(p->c->local, oid, &theirs->oid))))
		return 0;
	return mutual__sync_plan_fork(name, oid, payload);
}

void mutual__sync_free_fork_plan(fork_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		mutual__free(p->names[i]);
	mutual__free(p->names);
	mutual__free(p->tips);
	mutual__free(p->theirs);
	mutual__free(p->has_theirs);
}

/* Import adopted any earlier fork proof the target had, so every proof
 * that differs here is the earlier (or only) one: it replaces theirs. */
int mutual__sync_send_forks_folder(sync_ctx *c)
{
	fork_plan p;
	int rc;
	memset(&p, 0, sizeof(p));
	p.c = c;
	if ((rc = mutual__refs_foreach(c->local, MUTUAL_REF_FORKS, mutual__sync_plan_fork, &p)) == 0 && p.n)
		rc = mutual__repo_copy(c->peer, c->local, p.tips, p.n, NULL, 0, &c->stats->objects_sent, NULL, NULL);
	for (size_t i = 0; i < p.n && rc == 0; i++)
		rc = mutual__ref_set(c->peer, p.names[i], &p.tips[i], p.has_theirs[i] ? &p.theirs[i] : NULL);
	mutual__sync_free_fork_plan(&p);
	return rc;
}

/* Pass this store's newer-format refs on to a folder: where the stick has
 * none, or one that the store's extends. */
int mutual__sync_send_newer_folder(sync_ctx *c)
{
	sync_ctx local = *c;
	int rc;

	local.refs = NULL;
	local.n_refs = 0;
	if ((rc = mutual__refs_foreach(c->local, MUTUAL_REF_ROOT, mutual__sync_collect_ref, &local)) < 0)
		goto done;
	for (size_t i = 0; i < local.n_refs && rc == 0; i++) {
		const peer_ref *r = &local.refs[i], *theirs;
		if (!mutual__sync_is_newer_format_ref(r->name))
			continue;
		theirs = find_ref(c, r->name);
		if (theirs && (memcmp(&theirs->oid, &r->oid, sizeof(r->oid)) == 0 ||
				      !mutual__repo_descends(c->local, &r->oid, &theirs->oid)))
			continue;
		if ((rc = mutual__repo_copy(c->peer, c->local, &r->oid, 1, theirs ? &theirs->oid : NULL, theirs != NULL,
			&c->stats->objects_sent, NULL, NULL)) == 0)
			rc = mutual__ref_set(c->peer, r->name, &r->oid, theirs ? &theirs->oid : NULL);
	}
done:
	mutual__sync_free_refs(&local);
	return rc;
}

/* Bring the store repository's refs in line with the segments table. */
int mutual__sync_set_local_ref(const uint8_t *device, uint64_t last_seq, const uint8_t *commit, void *payload)
{
	sync_ctx *c = payload;
	char name[MUTUAL_REF_NAME_SIZE];
	mutual_oid now, want;
	int rc;
	(void)last_seq;
	device_ref(name, sizeof(name), device);
	memcpy(want.id, commit, 20);
	if ((rc = mutual__ref_get(&now, c->local, name)) == 0) {
		if (memcmp(&now, &want, sizeof(now)) == 0)
			return 0;
		return mutual__ref_set(c->local, name, &want, &now);
	}
	if (rc != MUTUAL_ENOTFOUND) /* a ref that cannot be read is not missing */
		return rc;
	return mutual__ref_set(c->local, name, &want, NULL);
}
