/*
 * sync.c - two-way sync of device logs with a folder (a stick), a bundle
 * file, or a git remote.
 *
 * NOTES ON THE DESIGN
 *  1. SQLite is the truth. The store's own bare repository (DIR/sync.git)
 *     only keeps the exact git objects this device wrote or received, so it
 *     can forward them byte for byte; the `segments` table says which commit
 *     carries which events. Objects are written before the rows that name
 *     them, so a crash leaves at worst unreferenced objects, never a row
 *     pointing at nothing.
 *  2. Import is append-only: a peer's device ref must extend the commit this
 *     store holds for that device. A ref that is behind is left to the send
 *     step; one that diverges is refused and nothing of it imported.
 *  3. A segment verifies only against the key its ref names: the events'
 *     device, every signature, and the envelope's associated data must all
 *     agree with the ref, whatever keys the data itself mentions.
 *  4. One sync at a time per store (a lock file in the store) and per medium
 *     (a lock file beside the stick's repository). Both are flock()s,
 *     released by the kernel when a process dies, so a killed sync never
 *     blocks the next. Every file of a medium, and of the store's folder, is
 *     reached through medium.c, which refuses links and files not ours.
 *  5. Own events are cut into segments once; each segment ends in a signed
 *     event (the exporter signs the last one if its append did not), so a
 *     segment is covered by its device's signature on its own.
 *  6. Verify before keeping. Objects are read from the peer: the stick's
 *     repository, or a quarantine in the store's folder where a bundle's or
 *     a remote's pack lands. Only segments that verified are copied into
 *     sync.git, before their rows are stored; the quarantine is dropped
 *     whatever happens. Every object read is bounded (git.h's MUTUAL_*_MAX),
 *     and so is every walk: memory does not grow with what a peer claims.
 *  7. Repair. A device ref that is not a log of this format at all (not a
 *     commit, or a segment that does not open as that device's) is replaced
 *     on the target by the log this store holds, and reported; a ref that
 *     opens (a fork, a rewritten log) or that cannot be judged here (a newer
 *     envelope, another key) is never replaced.
 *  8. Newer formats. A ref under refs/mutual/v<N>/, N >= 2, is kept and
 *     passed on only when every object it adds authenticates with the group
 *     key under its name (the outer envelope is the same for every version);
 *     otherwise it is neither kept nor forwarded, and reported.
 *  9. Floods. One sync imports at most MUTUAL_IMPORT_BYTES_MAX bytes of
 *     verified plaintext from one device, but never less than one segment
 *     (so a log always goes on); the rest stays on the target for the next
 *     sync, and a warning says so. What a device sent is kept per sync, so a
 *     sudden flood is warned of (docs/format.md, "Limits").
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"
#include "event.h"
#include "fork.h"
#include "git.h"
#include "json.h"
#include "medium.h"
#include "project.h"
#include "segment.h"
#include "store.h"

#define SYNC_REPO "sync.git"
#define SYNC_LOCK "sync.lock"
#define QUARANTINE "incoming.git" /* in the store's folder: a bundle's or remote's objects until verified */
#define INCOMING "refs/mutual-incoming/" /* where a remote's refs land before import */
#define FUTURE_MS (24 * 3600 * 1000ull)    /* a clock this far ahead is worth a warning */
#define FLOOD_FACTOR 10                    /* a sync this many times a device's median ... */
#define FLOOD_BYTES_MIN (16u * 1024 * 1024) /* ... and this large is a sudden flood */

typedef struct {
	char *name; /* as on the peer: refs/mutual/... */
	mutual_oid oid;
} peer_ref;

/* What this sync imported of one device's log (NOTES 9). */
typedef struct {
	uint8_t device[32];
	uint64_t bytes;
} imported_bytes;

/* A peer's device ref that is not a log at all (NOTES 7). */
typedef struct {
	uint8_t device[32];
	mutual_oid oid;
} garbage_ref;

typedef struct {
	mutual_store *s;
	mutual_medium store_dir; /* the store's folder: its lock, repository, quarantine */
	mutual_repo *local;
	mutual_repo *peer; /* where the peer's objects are: the stick, or `local` */
	peer_ref *refs;
	size_t n_refs;
	const mutual_sync_options *opts;
	mutual_sync_stats *stats;
	mutual_sync_progress progress;
	mutual_buf blob, plain;
	garbage_ref *garbage;
	size_t n_garbage;
	imported_bytes *imported; /* recorded in one transaction once every ref is imported */
	size_t n_imported;
	uint64_t segments_left; /* beyond what one sync takes (MUTUAL_IMPORT_SEGMENTS_MAX) */
	int quarantined;        /* the peer is our quarantine, dropped at the end */
} sync_ctx;

int mutual_sync_options_init(mutual_sync_options *opts, unsigned int version)
{
	mutual_sync_options init = MUTUAL_SYNC_OPTIONS_INIT;
	if (version != MUTUAL_SYNC_OPTIONS_VERSION)
		return mutual__fail(MUTUAL_EINVALID, "unknown sync options version %u", version);
	*opts = init;
	return 0;
}

/* ---------------------------------------------------------------- helpers */

static int report(sync_ctx *c, unsigned int phase, uint64_t done, uint64_t total)
{
	c->progress.phase = phase;
	c->progress.done = done;
	c->progress.total = total;
	c->progress.events_imported = c->stats->events_received;
	if (c->opts && c->opts->progress && c->opts->progress(&c->progress, c->opts->progress_payload) != 0)
		return mutual__fail(MUTUAL_ECANCELLED, "the sync was cancelled");
	return 0;
}

static int transfer_cb(uint64_t done, uint64_t total, void *payload)
{
	sync_ctx *c = payload;
	return report(c, c->progress.phase, done, total) < 0 ? -1 : 0;
}

static void refuse(sync_ctx *c, const uint8_t *device, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void refuse(sync_ctx *c, const uint8_t *device, const char *fmt, ...)
{
	char hex[65] = "", reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (device)
		mutual__hex(hex, device, 32);
	if (c->stats->refused++ == 0)
		snprintf(c->stats->first_refusal, sizeof(c->stats->first_refusal), "%s%.16s%s%.200s",
			device ? "device " : "", hex, device ? ": " : "", reason);
	if (c->opts && c->opts->refusal)
		c->opts->refusal(hex, reason, c->opts->refusal_payload);
}

/* A report that refuses nothing (a log longer than one sync takes, a
 * sudden flood): through the refusal
 * callback, its reason starting "warning: " (mutual.h), not counted in
 * `refused`. */
static void warn(sync_ctx *c, const uint8_t device[32], const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void warn(sync_ctx *c, const uint8_t device[32], const char *fmt, ...)
{
	char hex[65], reason[512];
	va_list ap;
	int n = snprintf(reason, sizeof(reason), "warning: ");

	va_start(ap, fmt);
	vsnprintf(reason + n, sizeof(reason) - (size_t)n, fmt, ap);
	va_end(ap);
	mutual__hex(hex, device, 32);
	if (c->opts && c->opts->refusal)
		c->opts->refusal(hex, reason, c->opts->refusal_payload);
}

/* A device's name in quotes and a space, as its join event gave it ("" when
 * unknown). A name is free text any member chooses, so a report shows it
 * only beside the device's key (the callback's `device`). */
static void device_label(char *out, size_t size, sync_ctx *c, const uint8_t device[32])
{
	mutual_buf name = { 0 };
	out[0] = '\0';
	if (mutual__db_device_name(c->s->db, device, &name) == 0 && name.len && name.data[0])
		snprintf(out, size, "\"%.64s\" ", (const char *)name.data);
	mutual__buf_free(&name);
}

static const char *size_text(char out[32], uint64_t bytes)
{
	if (bytes < 1024 * 1024)
		snprintf(out, 32, "%.1f KiB", (double)bytes / 1024);
	else
		snprintf(out, 32, "%.1f MiB", (double)bytes / (1024 * 1024));
	return out;
}

/* "refs/mutual/v<N>/<name>" with N >= 2: a newer medium format's ref. */
static int is_newer_format_ref(const char *name)
{
	const char *v = name + strlen(MUTUAL_REF_ROOT), *end;
	size_t digits;
	if (strncmp(name, MUTUAL_REF_ROOT, strlen(MUTUAL_REF_ROOT)) != 0 || *v != 'v')
		return 0;
	digits = strspn(v + 1, "0123456789");
	end = v + 1 + digits;
	if (digits == 0 || digits > 4 || *end != '/' || !end[1] || (digits == 1 && v[1] < '2') || v[1] == '0')
		return 0;
	return strlen(name) < 200 && strspn(end + 1, "abcdefghijklmnopqrstuvwxyz0123456789/_.-") == strlen(end + 1);
}

static int device_from_ref(uint8_t device[32], const char *name)
{
	size_t plen = strlen(MUTUAL_REF_DEVICES);
	const char *hex = name + plen;
	if (strncmp(name, MUTUAL_REF_DEVICES, plen) != 0 || strlen(hex) != 64 ||
	    strspn(hex, "0123456789abcdef") != 64)
		return -1;
	return mutual__unhex(device, 32, hex, 64);
}

static void device_ref(char *out, size_t size, const uint8_t device[32])
{
	char hex[65];
	mutual__hex(hex, device, 32);
	snprintf(out, size, MUTUAL_REF_DEVICES "%s", hex);
}

static void free_refs(sync_ctx *c)
{
	for (size_t i = 0; i < c->n_refs; i++)
		mutual__free(c->refs[i].name);
	mutual__free(c->refs);
	c->refs = NULL;
	c->n_refs = 0;
}

static int add_ref(sync_ctx *c, const char *name, const mutual_oid *oid)
{
	peer_ref *grown = mutual__realloc(c->refs, (c->n_refs + 1) * sizeof(*c->refs));
	if (!grown)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	c->refs = grown;
	if (!(c->refs[c->n_refs].name = mutual__strdup(name)))
		return MUTUAL_ERROR;
	c->refs[c->n_refs].oid = *oid;
	c->n_refs++;
	return 0;
}

static const peer_ref *find_ref(const sync_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->n_refs; i++)
		if (strcmp(c->refs[i].name, name) == 0)
			return &c->refs[i];
	return NULL;
}

static int collect_ref(const char *name, const mutual_oid *oid, void *payload)
{
	return add_ref(payload, name, oid);
}

/* ----------------------------------------------------------------- export */

typedef struct {
	sync_ctx *c;
	mutual_repo *memory; /* new segment commits gather here, then go as one pack */
	mutual_buf plain, wire, sealed;
	uint64_t first, count, bytes_events;
	mutual_event_rec last; /* the segment's last event, kept for signing */
	uint8_t last_sig[MUTUAL_SIG_SIZE];
	int last_has_sig;
	size_t last_offset; /* where the last event's wire form starts in `plain` */
	int have_parent;
	mutual_oid parent;
	struct exported {
		uint64_t first, last;
		mutual_oid oid;
	} *done;
	size_t n_done;
	uint64_t exported;
	uint64_t until; /* the last seq to export */
} export_ctx;

static int flush_segment(export_ctx *x)
{
	sync_ctx *c = x->c;
	mutual_store *s = c->s;
	mutual_oid oid;
	char message[96];
	struct exported *grown;
	int rc;

	if (x->count == 0)
		return 0;
	/* The segment must end signed: sign its last event now if its append
	 * did not (the signature covers the chain, as an append's would). */
	if (!x->last_has_sig) {
		uint8_t msg[MUTUAL_SIG_MSG_SIZE];
		x->plain.len = x->last_offset;
		x->last.has_sig = 1;
		mutual__event_sig_message(msg, x->last.hash);
		mutual__sign(x->last.sig, msg, sizeof(msg), s->secret);
		x->wire.len = 0;
		if ((rc = mutual__event_encode(&x->wire, &x->last)) < 0 ||
		    (rc = mutual__buf_put(&x->plain, x->wire.data, x->wire.len)) < 0)
			return rc;
	}
	mutual__segment_finish(&x->plain, (uint32_t)x->count);
	if ((rc = mutual__segment_seal(&x->sealed, &x->plain, s->group_id_raw, s->self, s->key_id, s->group_key)) < 0)
		return rc;
	snprintf(message, sizeof(message), "segment %" PRIu64 "..%" PRIu64 "\n", x->first, x->first + x->count - 1);
	if ((rc = mutual__segment_commit_write(&oid, x->memory, x->have_parent ? &x->parent : NULL, x->sealed.data,
		x->sealed.len, message)) < 0)
		return rc;
	if (!(grown = mutual__realloc(x->done, (x->n_done + 1) * sizeof(*x->done))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	x->done = grown;
	x->done[x->n_done].first = x->first;
	x->done[x->n_done].last = x->first + x->count - 1;
	x->done[x->n_done].oid = oid;
	x->n_done++;
	x->exported += x->count;
	x->parent = oid;
	x->have_parent = 1;
	x->first += x->count;
	x->count = 0;
	return report(c, MUTUAL_SYNC_EXPORTING, x->exported, 0);
}

static int export_event(const mutual_event_rec *ev, void *payload)
{
	export_ctx *x = payload;
	int rc;

	if (ev->seq > x->until)
		return 1; /* stops the walk */
	if (x->count == 0 && (rc = mutual__segment_begin(&x->plain, x->c->s->group_id_raw, x->c->s->self, ev->seq)) < 0)
		return rc;
	if (x->count == 0)
		x->first = ev->seq;
	x->last_offset = x->plain.len;
	x->wire.len = 0;
	if ((rc = mutual__event_encode(&x->wire, ev)) < 0 || (rc = mutual__buf_put(&x->plain, x->wire.data, x->wire.len)) < 0)
		return rc;
	/* Keep what signing the last event would need: its fields, pointing
	 * into `plain`, which holds a copy of the row. */
	x->last_has_sig = ev->has_sig;
	{
		const uint8_t *w = x->plain.data + x->last_offset;
		size_t used;
		if ((rc = mutual__event_decode(&x->last, w, x->plain.len - x->last_offset, &used)) < 0)
			return rc;
	}
	x->count++;
	if (x->count >= MUTUAL_SEGMENT_EVENTS || x->plain.len >= MUTUAL_SEGMENT_BYTES)
		return flush_segment(x);
	return 0;
}

static int export_own(sync_ctx *c)
{
	mutual_store *s = c->s;
	export_ctx x;
	uint64_t head, last = 0;
	uint8_t head_hash[32];
	int rc;

	memset(&x, 0, sizeof(x));
	x.c = c;
	rc = mutual__db_segment_tip(s->db, s->self, &last, x.parent.id);
	if (rc == 0)
		x.have_parent = 1;
	else if (rc != MUTUAL_ENOTFOUND)
		return rc;
	if ((rc = mutual__db_head(s->db, s->self, &head, head_hash)) < 0)
		return rc;
	{
		/* A forked key exports nothing of its quarantined part. */
		uint64_t fork_seq;
		if (mutual__db_fork_get(s->db, s->self, &fork_seq, NULL) == 0 && head >= fork_seq)
			head = fork_seq - 1;
	}
	if (head <= last)
		return 0;
	if ((rc = mutual__store_load_secret(s)) < 0 ||
	    (rc = mutual__repo_open_memory(&x.memory, mutual__repo_path(c->local))) < 0)
		return rc;
	/* Only events up to the head read above: appends racing with us wait
	 * for the next sync. */
	x.until = head;
	rc = mutual__db_chain(s->db, s->self, last + 1, export_event, &x);
	if (rc == 1)
		rc = 0;
	if (rc == 0)
		rc = flush_segment(&x);
	if (rc == 0 && x.n_done)
		rc = mutual__repo_flush_memory(x.memory, c->local);
	if (rc == 0 && x.n_done) {
		if ((rc = mutual__db_begin_write(s->db)) == 0) {
			for (size_t i = 0; i < x.n_done && rc == 0; i++)
				rc = mutual__db_segment_add(s->db, s->self, x.done[i].first, x.done[i].last, x.done[i].oid.id);
			if (rc == 0)
				rc = mutual__db_commit(s->db);
			else
				mutual__db_rollback(s->db);
		}
	}
	mutual__repo_free(x.memory);
	mutual__buf_free(&x.plain);
	mutual__buf_free(&x.wire);
	mutual__buf_free(&x.sealed);
	mutual__free(x.done);
	return rc;
}

/* ----------------------------------------------------------------- import */

static int is_announcement(const mutual_event_rec *ev)
{
	return (ev->type_len == 19 && memcmp(ev->type, "mutual.group.create", 19) == 0) ||
	       (ev->type_len == 18 && memcmp(ev->type, "mutual.device.join", 18) == 0);
}

/* A segment verified and waiting to be stored; its events point into
 * `plain`, which it owns. */
typedef struct {
	mutual_oid oid;
	mutual_buf plain;
	mutual_event_rec *evs;
	mutual_segment seg;
} verified_segment;

static void verified_free(verified_segment *v)
{
	mutual__buf_free(&v->plain);
	mutual__free(v->evs);
	memset(v, 0, sizeof(*v));
}

/* Verify one segment commit of `device`, read from the peer (nothing of
 * it is kept yet): it must continue the chain at `next_seq` after `prev`.
 * NOTES 3 and 6. */
static int verify_segment(sync_ctx *c, const uint8_t device[32], const mutual_oid *oid, uint64_t next_seq,
	const uint8_t prev[32], verified_segment *v)
{
	mutual_store *s = c->s;
	mutual_segment *seg = &v->seg;
	mutual_oid parent;
	uint32_t key_id;
	size_t pos = 0, max_events;
	int has_parent, rc;
	uint64_t last_signed = 0, now_ms = (uint64_t)time(NULL) * 1000;

	memset(v, 0, sizeof(*v));
	v->oid = *oid;
	c->stats->segments_opened++;
	if ((rc = mutual__segment_commit_read(c->peer, oid, &has_parent, &parent, &c->blob)) < 0)
		return rc;
	if ((rc = mutual__segment_key_id(&key_id, c->blob.data, c->blob.len)) < 0)
		return rc;
	if (key_id != s->key_id)
		return mutual__fail(MUTUAL_EVERIFY, "sealed with group key %u, this store holds key %u", key_id, s->key_id);
	if ((rc = mutual__segment_open(&v->plain, c->blob.data, c->blob.len, s->group_id_raw, device, s->group_key)) < 0 ||
	    (rc = mutual__segment_parse(seg, v->plain.data, v->plain.len)) < 0)
		return rc;
	if (memcmp(seg->group_id, s->group_id_raw, MUTUAL_GROUP_ID_SIZE) != 0 || memcmp(seg->device, device, 32) != 0)
		return mutual__fail(MUTUAL_EVERIFY, "segment names another group or device than its ref");
	if (seg->first_seq != next_seq)
		return mutual__fail(MUTUAL_EVERIFY, "segment starts at seq %" PRIu64 ", expected %" PRIu64,
			seg->first_seq, next_seq);
	max_events = seg->events_len / 100; /* no wire event is shorter */
	if (seg->count > max_events)
		return mutual__fail(MUTUAL_EINVALID, "segment claims more events than it holds");
	if (!(v->evs = mutual__calloc(seg->count, sizeof(*v->evs))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");

	for (uint32_t i = 0; i < seg->count; i++) {
		mutual_event_rec *ev = &v->evs[i];
		size_t used;
		if ((rc = mutual__event_decode(ev, seg->events + pos, seg->events_len - pos, &used)) < 0)
			return rc;
		pos += used;
		if (memcmp(ev->device, device, 32) != 0 || ev->seq != seg->first_seq + i)
			return mutual__fail(MUTUAL_EVERIFY, "event %u of the segment belongs elsewhere", i + 1);
		if (memcmp(ev->prev, i ? v->evs[i - 1].hash : prev, 32) != 0)
			return mutual__fail(MUTUAL_EVERIFY, "the chain breaks at seq %" PRIu64, ev->seq);
		if (ev->seq == 1 && !is_announcement(ev))
			return mutual__fail(MUTUAL_EVERIFY, "the log does not start by joining the group");
		if (ev->hlc > INT64_MAX)
			return mutual__fail(MUTUAL_EVERIFY, "event clock out of range at seq %" PRIu64, ev->seq);
		if ((ev->hlc >> 16) > now_ms + FUTURE_MS)
			c->stats->future_events++;
		if (ev->has_sig) {
			uint8_t msg[MUTUAL_SIG_MSG_SIZE];
			mutual__event_sig_message(msg, ev->hash);
			if (mutual__sign_verify(ev->sig, msg, sizeof(msg), device) < 0)
				return mutual__fail(MUTUAL_EVERIFY, "bad signature at seq %" PRIu64 " (not this device's key)",
					ev->seq);
			last_signed = ev->seq;
		}
	}
	if (pos != seg->events_len)
		return mutual__fail(MUTUAL_EVERIFY, "segment has trailing bytes");
	if (last_signed != seg->first_seq + seg->count - 1)
		return mutual__fail(MUTUAL_EVERIFY, "segment does not end in a signature");
	return 0;
}

/* Store verified segments, whose objects are already in the store's
 * repository (NOTES 1), in one transaction: all or nothing. */
static int store_segments(sync_ctx *c, const uint8_t device[32], verified_segment *batch, size_t n)
{
	mutual_store *s = c->s;
	mutual_deliver d;
	int rc;

	if ((rc = mutual__db_begin_write(s->db)) < 0)
		return rc;
	mutual__deliver_init(&d, s);
	for (size_t k = 0; k < n && rc == 0; k++) {
		verified_segment *v = &batch[k];
		/* NOTES 1: the row follows its objects (or the check itself ran out of memory) */
		assert(mutual__repo_has(c->local, &v->oid) || mutual__git_out_of_memory());
		for (uint32_t i = 0; i < v->seg.count && rc == 0; i++) {
			rc = mutual__db_insert_event(s->db, &v->evs[i]);
			if (rc == 0)
				rc = mutual__deliver_event(&d, &v->evs[i]);
			if (rc == 0 && v->evs[i].seq == 1) {
				mutual_buf name = { 0 };
				if (mutual__json_get_string(&name, v->evs[i].payload, v->evs[i].payload_len, "name") == 0 &&
				    mutual__check_name((const char *)name.data, "name") == 0)
					rc = mutual__db_device_set_name(s->db, device, (const char *)name.data);
				mutual__buf_free(&name);
			}
		}
		if (rc == 0)
			rc = mutual__db_segment_add(s->db, device, v->seg.first_seq, v->seg.first_seq + v->seg.count - 1,
				v->oid.id);
	}
	mutual__deliver_free(&d);
	if (rc == 0)
		rc = mutual__db_commit(s->db);
	else
		mutual__db_rollback(s->db);
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < n; k++) {
		c->stats->events_received += batch[k].seg.count;
		c->stats->segments_received++;
	}
	return 0;
}

/* ------------------------------------------------------------------ forks */

static void fork_ref(char *out, size_t size, const uint8_t device[32])
{
	char hex[65];
	mutual__hex(hex, device, 32);
	snprintf(out, size, MUTUAL_REF_FORKS "%s", hex);
}

typedef struct {
	mutual_buf *wire;
	uint32_t count;
} our_branch;

static int collect_our_branch(const mutual_event_rec *ev, void *payload)
{
	our_branch *b = payload;
	int rc = mutual__event_encode(b->wire, ev);
	if (rc < 0)
		return rc;
	b->count++;
	return ev->has_sig ? 1 : 0; /* 1 stops the walk at the first signature */
}

/* Store `proof` for `device` when it is new or forks earlier than the one
 * held, and keep it as a sealed commit under refs/mutual/v1/forks/ so it
 * travels on every stick. `*adopted` says whether it was. */
static int record_fork(sync_ctx *c, const uint8_t device[32], uint64_t seq, const mutual_buf *proof,
	const mutual_oid *existing_commit, int *adopted)
{
	mutual_store *s = c->s;
	mutual_repo *mem = NULL;
	mutual_buf sealed = { 0 };
	mutual_oid oid, now;
	uint64_t held;
	char name[128], message[96];
	int rc;

	*adopted = 0;
	rc = mutual__db_fork_get(s->db, device, &held, NULL);
	if (rc == 0 && held <= seq)
		return 0;
	if (rc < 0 && rc != MUTUAL_ENOTFOUND)
		return rc;
	fork_ref(name, sizeof(name), device);
	if (existing_commit) {
		oid = *existing_commit; /* forward the proof's commit byte for byte */
	} else {
		snprintf(message, sizeof(message), "fork at seq %" PRIu64 "\n", seq);
		if ((rc = mutual__segment_seal(&sealed, proof, s->group_id_raw, device, s->key_id, s->group_key)) < 0 ||
		    (rc = mutual__repo_open_memory(&mem, mutual__repo_path(c->local))) < 0 ||
		    (rc = mutual__segment_commit_write(&oid, mem, NULL, sealed.data, sealed.len, message)) < 0 ||
		    (rc = mutual__repo_flush_memory(mem, c->local)) < 0)
			goto done;
	}
	if ((rc = mutual__db_begin_write(s->db)) < 0)
		goto done;
	/* What the fork quarantines must leave the state: rebuild it. */
	if ((rc = mutual__db_fork_set(s->db, device, seq, proof->data, proof->len)) < 0 ||
	    (rc = mutual__project_rebuild_locked(s)) < 0) {
		mutual__db_rollback(s->db);
		goto done;
	}
	if ((rc = mutual__db_commit(s->db)) < 0)
		goto done;
	rc = mutual__ref_get(&now, c->local, name);
	if (rc == 0)
		rc = mutual__ref_set(c->local, name, &oid, &now);
	else if (rc == MUTUAL_ENOTFOUND) /* a ref that cannot be read is not missing */
		rc = mutual__ref_set(c->local, name, &oid, NULL);
	*adopted = rc == 0;
	c->stats->forks_found += *adopted;
done:
	mutual__repo_free(mem);
	mutual__buf_free(&sealed);
	return rc;
}

/* The peer's commits chain[n-1] (oldest) .. chain[0] of `device` diverge
 * from the log held here. Find the first seq where their events differ
 * from ours; when the peer's events from there are chained and signed by
 * the device, both are the device's own words: record a fork proof. */
static int try_fork(sync_ctx *c, const uint8_t device[32], const mutual_oid *chain, size_t n, int *forked,
	uint64_t *seq_out)
{
	mutual_store *s = c->s;
	mutual_buf theirs = { 0 }, ours = { 0 }, proof = { 0 }, scratch = { 0 };
	mutual_fork_branch a, b;
	our_branch mine = { &ours, 0 };
	uint64_t fork_seq = 0;
	uint32_t n_theirs = 0, key_id;
	uint8_t prev[32];
	int found = 0, stop = 0, rc = 0;

	*forked = 0;
	for (size_t i = n; i-- > 0 && !stop;) {
		mutual_segment seg;
		mutual_oid parent;
		size_t pos = 0;
		int has_parent;

		if (mutual__segment_commit_read(c->peer, &chain[i], &has_parent, &parent, &c->blob) < 0 ||
		    mutual__segment_key_id(&key_id, c->blob.data, c->blob.len) < 0 || key_id != s->key_id ||
		    mutual__segment_open(&c->plain, c->blob.data, c->blob.len, s->group_id_raw, device, s->group_key) < 0 ||
		    mutual__segment_parse(&seg, c->plain.data, c->plain.len) < 0 || memcmp(seg.device, device, 32) != 0)
			break;
		c->stats->segments_opened++;
		for (uint32_t k = 0; k < seg.count && !stop; k++) {
			mutual_event_rec ev, held;
			size_t used;
			if (mutual__event_decode(&ev, seg.events + pos, seg.events_len - pos, &used) < 0 ||
			    memcmp(ev.device, device, 32) != 0) {
				stop = 1;
				break;
			}
			pos += used;
			if (!fork_seq) {
				rc = mutual__db_event_get(&held, &scratch, s->db, device, ev.seq);
				if (rc == MUTUAL_ENOTFOUND) {
					rc = 0;
					stop = 1; /* no event here to conflict with */
					break;
				}
				if (rc < 0)
					goto done;
				if (memcmp(held.hash, ev.hash, 32) == 0)
					continue;
				if (memcmp(held.prev, ev.prev, 32) != 0) {
					stop = 1; /* not from the same previous event: not the device's chain */
					break;
				}
				fork_seq = ev.seq;
			} else if (memcmp(ev.prev, prev, 32) != 0 || ev.seq != fork_seq + n_theirs) {
				stop = 1;
				break;
			}
			memcpy(prev, ev.hash, 32);
			if ((rc = mutual__event_encode(&theirs, &ev)) < 0)
				goto done;
			n_theirs++;
			if (ev.has_sig) {
				uint8_t msg[MUTUAL_SIG_MSG_SIZE];
				mutual__event_sig_message(msg, ev.hash);
				found = mutual__sign_verify(ev.sig, msg, sizeof(msg), device) == 0;
				stop = 1;
			}
		}
	}
	if (!found)
		goto done;
	rc = mutual__db_chain(s->db, device, fork_seq, collect_our_branch, &mine);
	if (rc < 0)
		goto done;
	if (rc != 1) {
		rc = 0; /* our branch is not signed yet: no proof from our side */
		goto done;
	}
	a = (mutual_fork_branch){ theirs.data, theirs.len, n_theirs };
	b = (mutual_fork_branch){ ours.data, ours.len, mine.count };
	if ((rc = mutual__fork_proof_build(&proof, device, fork_seq, &a, &b)) < 0) {
		rc = 0; /* not a provable fork after all */
		goto done;
	}
	if ((rc = record_fork(c, device, fork_seq, &proof, NULL, forked)) < 0)
		goto done;
	*forked = 1;
	*seq_out = fork_seq;
done:
	mutual__buf_free(&theirs);
	mutual__buf_free(&ours);
	mutual__buf_free(&proof);
	mutual__buf_free(&scratch);
	return rc;
}

/* A peer's fork proof: adopt it when it verifies and forks earlier than
 * what is known here. */
static int import_fork_ref(sync_ctx *c, const peer_ref *r)
{
	size_t plen = strlen(MUTUAL_REF_FORKS);
	const char *hex = r->name + plen;
	uint8_t device[32];
	mutual_oid parent;
	uint64_t seq, held;
	int has_parent, adopted, rc;

	if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64 || mutual__unhex(device, 32, hex, 64) < 0) {
		refuse(c, NULL, "unknown ref %s on the target", r->name);
		return 0;
	}
	if (mutual__db_fork_get(c->s->db, device, &held, NULL) == 0) {
		char name[128];
		mutual_oid ours;
		fork_ref(name, sizeof(name), device);
		if (mutual__ref_get(&ours, c->local, name) == 0 && memcmp(&ours, &r->oid, sizeof(ours)) == 0)
			return 0; /* the same proof */
	}
	if (mutual__segment_commit_read(c->peer, &r->oid, &has_parent, &parent, &c->blob) < 0 ||
	    mutual__segment_open(&c->plain, c->blob.data, c->blob.len, c->s->group_id_raw, device, c->s->group_key) < 0 ||
	    mutual__fork_proof_verify(&seq, c->plain.data, c->plain.len, device) < 0) {
		refuse(c, device, "its fork proof on the target does not verify: %s", mutual_error_last());
		return 0;
	}
	if ((rc = mutual__repo_copy(c->local, c->peer, &r->oid, 1, NULL, 0, &c->stats->objects_received, NULL, NULL)) < 0)
		return rc;
	return record_fork(c, device, seq, &c->plain, &r->oid, &adopted);
}

/* The log of a forked device diverging again is the known fork, not news. */
static int known_fork(sync_ctx *c, const uint8_t device[32])
{
	uint64_t seq;
	if (mutual__db_fork_get(c->s->db, device, &seq, NULL) != 0)
		return 0;
	c->stats->forked_devices++;
	return 1;
}

/* Report a divergence: a fork when provable, else a plain refusal. */
static int diverged(sync_ctx *c, const uint8_t device[32], const mutual_oid *chain, size_t n, const char *what,
	uint64_t after_seq)
{
	uint64_t seq = 0;
	int forked, rc;
	if (known_fork(c, device))
		return 0;
	if ((rc = try_fork(c, device, chain, n, &forked, &seq)) < 0)
		return rc;
	if (forked) {
		c->stats->forked_devices++;
		refuse(c, device, "the same device key signed two different logs (a store copied to a second "
			"machine?): its events from seq %" PRIu64 " on are quarantined on every device until its "
			"owner runs 'mutual recover'", seq);
	} else {
		if (after_seq)
			refuse(c, device, "%s after seq %" PRIu64 ": nothing of it imported", what, after_seq);
		else
			refuse(c, device, "%s: nothing of it imported", what);
	}
	return 0;
}

/* Whether the peer's ref for `device` is not a log of this format at all:
 * it names no commit, a commit not shaped as a segment, or one whose
 * segment does not open as this device's. Such a ref is replaced by the
 * log held here (docs/format.md, "Repair"); a ref that opens (a fork, a
 * rewritten log) or that this store cannot judge (another envelope
 * version, another key id) is never replaced. 1: garbage, 0: not,
 * negative: no verdict (out of memory). */
static int ref_is_garbage(sync_ctx *c, const uint8_t device[32], const mutual_oid *oid)
{
	mutual_segment seg;
	mutual_oid parent;
	uint32_t key_id;
	int has_parent, version, rc;

	rc = mutual__segment_commit_read(c->peer, oid, &has_parent, &parent, &c->blob);
	if (rc < 0)
		return rc == MUTUAL_ERROR ? rc : rc == MUTUAL_EINVALID || rc == MUTUAL_ENOTFOUND;
	if ((version = mutual__envelope_version(c->blob.data, c->blob.len)) < 0)
		return 1;
	if (version != MUTUAL_ENVELOPE_VERSION || mutual__segment_key_id(&key_id, c->blob.data, c->blob.len) < 0 ||
	    key_id != c->s->key_id)
		return 0;
	/* Out of memory (MUTUAL_ERROR) is no verdict on the log: a log taken
	 * for garbage has its ref replaced on the target. */
	if ((rc = mutual__segment_open(&c->plain, c->blob.data, c->blob.len, c->s->group_id_raw, device, c->s->group_key)) < 0 ||
	    (rc = mutual__segment_parse(&seg, c->plain.data, c->plain.len)) < 0)
		return rc == MUTUAL_ERROR ? rc : 1;
	return memcmp(seg.device, device, 32) != 0 || memcmp(seg.group_id, c->s->group_id_raw, MUTUAL_GROUP_ID_SIZE) != 0;
}

static int note_garbage(sync_ctx *c, const uint8_t device[32], const mutual_oid *oid)
{
	garbage_ref *grown = mutual__realloc(c->garbage, (c->n_garbage + 1) * sizeof(*c->garbage));
	if (!grown)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	c->garbage = grown;
	memcpy(grown[c->n_garbage].device, device, 32);
	grown[c->n_garbage].oid = *oid;
	c->n_garbage++;
	return 0;
}

static const garbage_ref *find_garbage(const sync_ctx *c, const uint8_t device[32])
{
	for (size_t i = 0; i < c->n_garbage; i++)
		if (memcmp(c->garbage[i].device, device, 32) == 0)
			return &c->garbage[i];
	return NULL;
}

/* How many segments of one device one sync imports (docs/format.md,
 * "Limits"); a test build can lower it, to show that the next sync goes on
 * where this one stopped. */
static size_t import_segments_max(void)
{
#ifdef MUTUAL_TEST_HOOKS
	const char *v = getenv("MUTUAL_TEST_IMPORT_SEGMENTS_MAX");
	if (v && atol(v) > 0 && atol(v) < MUTUAL_IMPORT_SEGMENTS_MAX)
		return (size_t)atol(v);
#endif
	return MUTUAL_IMPORT_SEGMENTS_MAX;
}

/* Walk back from `tip` in the peer to the commit `ours` this store holds
 * (or to the root), at most MUTUAL_WALK_MAX commits, keeping the oldest
 * MUTUAL_IMPORT_SEGMENTS_MAX of them: `chain[0]` (newest kept) ..
 * `chain[*n - 1]` (oldest). Cost grows with what is new; memory is
 * bounded whatever the peer holds. `*how`: 0 reached `ours`, 1 reached
 * the root, 2 reached another commit of this device held here (rewritten;
 * `*rewritten_after` its last seq), 3 the peer's log is damaged. */
static int walk_back(sync_ctx *c, const mutual_oid *tip, const mutual_oid *ours,
	mutual_oid **chain_out, size_t *n_out, uint64_t *more, int *how, uint64_t *rewritten_after)
{
	mutual_oid *ring = NULL, *chain = NULL, cur = *tip, parent;
	size_t cap = 0, n = 0, m;
	uint8_t found[32];
	uint64_t first, last;
	size_t keep = import_segments_max();
	int has_parent, rc = 0;

	*chain_out = NULL;
	*n_out = 0;
	*more = 0;
	*how = 0;
	for (;;) {
		if (n >= MUTUAL_WALK_MAX) {
			rc = mutual__fail(MUTUAL_EINVALID, "its log on the target is longer than the %u segments one sync "
				"walks", MUTUAL_WALK_MAX);
			*how = 3;
			goto done;
		}
		if (n == cap && cap < keep) {
			size_t grow = cap ? cap * 2 : 64;
			mutual_oid *grown = mutual__realloc(ring, (grow > keep ? keep : grow) *
				sizeof(*ring));
			if (!grown) {
				rc = mutual__fail(MUTUAL_ERROR, "out of memory");
				goto done;
			}
			ring = grown;
			cap = grow > keep ? keep : grow;
		}
		ring[n % keep] = cur;
		n++;
		if ((rc = mutual__commit_parent(c->peer, &cur, &has_parent, &parent)) < 0) {
			if (rc == MUTUAL_ERROR) /* out of memory: no verdict on the log */
				goto done;
			rc = 0;
			*how = 3;
			goto done;
		}
		if (!has_parent) {
			*how = ours ? 1 : 0;
			break;
		}
		if (ours && memcmp(&parent, ours, sizeof(*ours)) == 0)
			break;
		if ((rc = mutual__db_segment_find(c->s->db, parent.id, found, &first, &last)) == 0) {
			*how = 2;
			*rewritten_after = last;
			break;
		}
		if (rc != MUTUAL_ENOTFOUND) /* not read is not absent: it could make the log look rewritten */
			goto done;
		rc = 0;
		cur = parent;
	}
	if ((rc = report(c, MUTUAL_SYNC_IMPORTING, c->stats->events_received, 0)) < 0)
		goto done;
	m = n < keep ? n : keep;
	if (!(chain = mutual__malloc(m * sizeof(*chain)))) {
		rc = mutual__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	for (size_t j = 0; j < m; j++)
		chain[m - 1 - j] = ring[(n - 1 - j) % keep];
	*chain_out = chain;
	*n_out = m;
	*more = n - m;
done:
	mutual__free(ring);
	return rc;
}

/* How many bytes of verified plaintext one sync imports from one device
 * (docs/format.md, "Limits"): what one member can make another device
 * store in one sync. A test build can lower it, so tests of what exceeds
 * it stay small. */
static uint64_t import_bytes_max(void)
{
#ifdef MUTUAL_TEST_HOOKS
	const char *v = getenv("MUTUAL_TEST_IMPORT_BYTES_MAX");
	if (v && atol(v) > 0 && (uint64_t)atol(v) < MUTUAL_IMPORT_BYTES_MAX)
		return (uint64_t)atol(v);
#endif
	return MUTUAL_IMPORT_BYTES_MAX;
}

/* A warning, not a refusal: an honest log longer than the bound (a new
 * device joining a group with years of history) is taken in over several
 * syncs, and nothing in it is wrong. */
static void warn_over_bound(sync_ctx *c, const uint8_t device[32], uint64_t bound, uint64_t imported)
{
	char label[80], bound_text[32], imported_text[32];
	device_label(label, sizeof(label), c, device);
	warn(c, device, "%shas more than %s of new events on the target, the most one sync takes from one "
		"device: %s taken now; sync again to take the rest", label,
		size_text(bound_text, bound), size_text(imported_text, imported));
}

/* Sorts `v` (n <= MUTUAL_DB_SYNC_HISTORY: insertion sort is enough). */
static uint64_t median_of(uint64_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2;
}

/* Warn of a sudden flood: `bytes` imported from `device` in this sync are
 * more than FLOOD_FACTOR times the median of its last syncs that imported
 * anything, and more than FLOOD_BYTES_MIN; then note them for its history
 * (record_imported). A device with no history is never a flood: a store
 * that joins takes whole logs at once. */
static int note_imported_bytes(sync_ctx *c, const uint8_t device[32], uint64_t bytes)
{
	uint64_t recent[MUTUAL_DB_SYNC_HISTORY], median;
	imported_bytes *grown;
	size_t n;
	int rc;

	if ((rc = mutual__db_sync_bytes_recent(c->s->db, device, recent, &n)) < 0)
		return rc;
	if (n && bytes > FLOOD_BYTES_MIN && bytes > FLOOD_FACTOR * (median = median_of(recent, n))) {
		char label[80], bytes_text[32], median_text[32];
		device_label(label, sizeof(label), c, device);
		warn(c, device, "%ssent %s in this sync, more than %u times its median of %s over its last %zu "
			"syncs: a sudden flood (a broken device, or a member filling disks?)", label,
			size_text(bytes_text, bytes), FLOOD_FACTOR, size_text(median_text, median), n);
	}
	if (!(grown = mutual__realloc(c->imported, (c->n_imported + 1) * sizeof(*c->imported))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	c->imported = grown;
	memcpy(grown[c->n_imported].device, device, 32);
	grown[c->n_imported].bytes = bytes;
	c->n_imported++;
	return 0;
}

/* One transaction for every device's history, not one (and one fsync)
 * per device: a stick may carry many devices' logs. */
static int record_imported(sync_ctx *c)
{
	int rc;
	if (c->n_imported == 0)
		return 0;
	if ((rc = mutual__db_begin_write(c->s->db)) < 0)
		return rc;
	for (size_t i = 0; i < c->n_imported && rc == 0; i++)
		rc = mutual__db_sync_bytes_add(c->s->db, c->imported[i].device, c->imported[i].bytes);
	if (rc < 0) {
		mutual__db_rollback(c->s->db);
		return rc;
	}
	return mutual__db_commit(c->s->db);
}

#define VERIFY_BATCH_BYTES (4u * 1024 * 1024) /* plaintext held verified before it is stored */

/* Import what the peer's ref `r` holds beyond this store's copy of that
 * device's log: verify segments from the peer, copy the verified ones
 * into the store's repository, then store them (NOTES 1 and 6). */
static int import_ref(sync_ctx *c, const peer_ref *r)
{
	mutual_store *s = c->s;
	uint8_t device[32], found_device[32], prev[32];
	mutual_oid ours, kept, *chain = NULL;
	verified_segment *batch = NULL;
	uint64_t our_last = 0, first, last, next_seq, more = 0, rewritten_after = 0;
	uint64_t bytes_max = import_bytes_max(), imported = 0;
	size_t n = 0, n_batch = 0, done_count = 0;
	int have_ours, have_kept, how, over = 0, rc;

	if (device_from_ref(device, r->name) < 0) {
		refuse(c, NULL, "unknown ref %s on the target (not a libmutual device log)", r->name);
		return 0;
	}
	rc = mutual__db_segment_find(s->db, r->oid.id, found_device, &first, &last);
	if (rc == 0) {
		if (memcmp(found_device, device, 32) != 0) {
			refuse(c, device, "its ref on the target points at another device's log: replaced with its own "
				"where this store holds it");
			return note_garbage(c, device, &r->oid);
		}
		return 0; /* behind or equal: the send step brings it up to date */
	}
	if (rc != MUTUAL_ENOTFOUND)
		return rc;
	if ((rc = ref_is_garbage(c, device, &r->oid)) < 0)
		return rc;
	if (rc) {
		refuse(c, device, "its ref on the target is not a libmutual log (%s): replaced with its log where this "
			"store holds it", mutual_error_last());
		return note_garbage(c, device, &r->oid);
	}
	rc = mutual__db_segment_tip(s->db, device, &our_last, ours.id);
	if (rc < 0 && rc != MUTUAL_ENOTFOUND)
		return rc;
	have_ours = rc == 0;

	if ((rc = walk_back(c, &r->oid, have_ours ? &ours : NULL, &chain, &n, &more, &how, &rewritten_after)) < 0) {
		if (how == 3) {
			refuse(c, device, "%s: nothing of it imported", mutual_error_last());
			rc = 0;
		}
		goto done;
	}
	if (how == 3) {
		refuse(c, device, "its log on the target is damaged or incomplete: %s", mutual_error_last());
		goto done;
	}
	if (how == 1) {
		rc = diverged(c, device, chain, n, "its log on the target diverges from the one held here", 0);
		goto done;
	}
	if (how == 2) {
		rc = diverged(c, device, chain, n, "its log on the target was rewritten", rewritten_after);
		goto done;
	}
	if (memcmp(device, s->self, 32) == 0) {
		refuse(c, device, "someone else is writing with this device's key (a copied store?): "
			"events this device never wrote; nothing imported");
		goto done;
	}

	if ((rc = mutual__db_head(s->db, device, &next_seq, prev)) < 0)
		goto done;
	next_seq++;
	if (!(batch = mutual__calloc(n, sizeof(*batch)))) {
		rc = mutual__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	kept = ours;
	have_kept = have_ours;
	for (size_t i = n; i > 0;) { /* chain[i - 1] is the next to verify */
		size_t bytes = 0;
		int failed = 0;
		n_batch = 0;
		while (i > 0 && bytes < VERIFY_BATCH_BYTES) {
			verified_segment *v = &batch[n_batch];
			if ((rc = verify_segment(c, device, &chain[i - 1], next_seq, prev, v)) < 0) {
				verified_free(v);
				if (rc == MUTUAL_ECANCELLED || rc == MUTUAL_EBUSY || rc == MUTUAL_ERROR)
					goto done;
				refuse(c, device, "%s; nothing from there on imported", mutual_error_last());
				rc = 0;
				failed = 1;
				break;
			}
			/* Never less than one segment, so a log always goes on. */
			if (done_count + n_batch > 0 && imported + bytes + v->plain.len > bytes_max) {
				verified_free(v);
				over = 1;
				break;
			}
			i--;
			next_seq += v->seg.count;
			memcpy(prev, v->evs[v->seg.count - 1].hash, 32);
			bytes += v->plain.len;
			n_batch++;
		}
		if (n_batch) {
			/* Only verified objects reach the store's repository. */
			c->progress.phase = MUTUAL_SYNC_RECEIVING;
			if ((rc = mutual__repo_copy(c->local, c->peer, &batch[n_batch - 1].oid, 1, have_kept ? &kept : NULL,
				have_kept, &c->stats->objects_received, transfer_cb, c)) < 0) {
				/* Out of memory is no verdict on the log: no refusal. */
				if (rc == MUTUAL_ECANCELLED || mutual__git_out_of_memory())
					goto done;
				refuse(c, device, "its log on the target cannot be read: %s", mutual_error_last());
				rc = 0;
				goto done;
			}
			if ((rc = store_segments(c, device, batch, n_batch)) < 0)
				goto done;
			if (done_count == 0)
				c->stats->devices_updated++;
			done_count += n_batch;
			imported += bytes;
			kept = batch[n_batch - 1].oid;
			have_kept = 1;
			for (size_t k = 0; k < n_batch; k++)
				verified_free(&batch[k]);
			n_batch = 0;
			if ((rc = report(c, MUTUAL_SYNC_IMPORTING, c->stats->events_received, 0)) < 0)
				goto done;
		}
		if (failed || over)
			break;
	}
	assert(imported <= bytes_max || done_count == 1); /* NOTES 9 */
	if (over)
		warn_over_bound(c, device, bytes_max, imported);
	c->segments_left += more; /* the next sync goes on from here */
	if (imported)
		rc = note_imported_bytes(c, device, imported);
done:
	for (size_t k = 0; batch && k < n_batch; k++)
		verified_free(&batch[k]);
	mutual__free(batch);
	mutual__free(chain);
	return rc;
}

/* A ref of a newer medium format is kept, and passed on, only when every
 * object it adds authenticates with the group key under its own name: the
 * outer envelope every version shares (NOTES 8). A newer ref that moved
 * elsewhere than ahead of the one held here is left as it is. */
static int adopt_newer(sync_ctx *c, const peer_ref *r)
{
	mutual_store *s = c->s;
	mutual_oid ours, cur = r->oid, parent;
	size_t n = 0;
	int have_ours, has_parent, rc;

	if ((rc = mutual__ref_get(&ours, c->local, r->name)) < 0 && rc != MUTUAL_ENOTFOUND)
		return rc; /* a ref that cannot be read is not missing */
	have_ours = rc == 0;
	if (have_ours && memcmp(&ours, &r->oid, sizeof(ours)) == 0) {
		c->stats->newer_format++; /* held already */
		return 0;
	}
	for (;;) {
		int version;
		if (++n > MUTUAL_WALK_MAX) {
			refuse(c, NULL, "%s on the target is longer than one sync walks: not kept or passed on", r->name);
			return 0;
		}
		if (mutual__segment_commit_read(c->peer, &cur, &has_parent, &parent, &c->blob) < 0 ||
		    (version = mutual__envelope_version(c->blob.data, c->blob.len)) < 0) {
			refuse(c, NULL, "%s on the target is not a libmutual log (%s): not kept or passed on", r->name,
				mutual_error_last());
			return 0;
		}
		if (mutual__get_u32(c->blob.data + 5) != s->key_id) {
			refuse(c, NULL, "%s on the target is sealed with group key %u, which this store does not hold: not "
				"kept or passed on", r->name, mutual__get_u32(c->blob.data + 5));
			return 0;
		}
		if ((rc = mutual__envelope_check_newer(c->blob.data, c->blob.len, s->group_id_raw, r->name, s->group_key)) < 0) {
			if (rc == MUTUAL_ERROR)
				return rc;
			refuse(c, NULL, "%s on the target does not authenticate (%s): not kept or passed on", r->name,
				mutual_error_last());
			return 0;
		}
		/* Down to what is held under this very name: objects held under
		 * another name were authenticated for that one only. */
		if (!has_parent || (have_ours && memcmp(&parent, &ours, sizeof(ours)) == 0))
			break;
		cur = parent;
	}
	if (have_ours && (!has_parent || memcmp(&parent, &ours, sizeof(ours)) != 0)) {
		refuse(c, NULL, "%s on the target diverges from the one held here: kept as held here", r->name);
		return 0;
	}
	if ((rc = mutual__repo_copy(c->local, c->peer, &r->oid, 1, have_ours ? &ours : NULL, have_ours,
		&c->stats->objects_received, NULL, NULL)) < 0 ||
	    (rc = mutual__ref_set(c->local, r->name, &r->oid, have_ours ? &ours : NULL)) < 0)
		return rc;
	c->stats->newer_format++;
	return 0;
}

static int import_all(sync_ctx *c)
{
	int rc;
	/* Fork proofs first, so a known fork is not taken for news. */
	for (size_t i = 0; i < c->n_refs; i++)
		if (strncmp(c->refs[i].name, MUTUAL_REF_FORKS, strlen(MUTUAL_REF_FORKS)) == 0 &&
		    (rc = import_fork_ref(c, &c->refs[i])) < 0)
			return rc;
	for (size_t i = 0; i < c->n_refs; i++) {
		const char *name = c->refs[i].name;
		if (strncmp(name, MUTUAL_REF_DEVICES, strlen(MUTUAL_REF_DEVICES)) == 0) {
			if ((rc = import_ref(c, &c->refs[i])) < 0)
				return rc;
		} else if (strncmp(name, MUTUAL_REF_FORKS, strlen(MUTUAL_REF_FORKS)) == 0) {
			continue;
		} else if (is_newer_format_ref(name)) {
			if ((rc = adopt_newer(c, &c->refs[i])) < 0)
				return rc;
		} else {
			refuse(c, NULL, "unknown ref %.200s on the target: not kept or passed on", name);
		}
	}
	return record_imported(c);
}

/* ------------------------------------------------------------------- send */

/* One device log to send: its tip, the target's ref it replaces
 * (`expected`, compare-and-swap), and whether that is also where the
 * objects the target holds stop (`has_stop`; not for a garbage ref, which
 * a push replaces by force: NOTES 7). */
typedef struct {
	char *name;
	mutual_oid tip, stop, expected;
	int has_stop, has_expected, force;
} send_entry;

typedef struct {
	sync_ctx *c;
	send_entry *e;
	size_t n, cap;
	uint64_t events;
} send_plan;

static int plan_device(const uint8_t *device, uint64_t last_seq, const uint8_t *commit, void *payload)
{
	send_plan *p = payload;
	sync_ctx *c = p->c;
	char name[128];
	const peer_ref *theirs;
	const garbage_ref *garbage;
	send_entry *e;
	uint8_t found[32];
	uint64_t first, their_last = 0;

	device_ref(name, sizeof(name), device);
	theirs = find_ref(c, name);
	garbage = find_garbage(c, device);
	if (theirs && !garbage) {
		int rc;
		if (memcmp(theirs->oid.id, commit, 20) == 0)
			return 0;
		rc = mutual__db_segment_find(c->s->db, theirs->oid.id, found, &first, &their_last);
		if (rc < 0 && rc != MUTUAL_ENOTFOUND)
			return rc; /* not read is not diverged: the log would silently stay unsent */
		if (rc != 0 || memcmp(found, device, 32) != 0)
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

static void free_plan(send_plan *p)
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

static int plan_send(send_plan *p, sync_ctx *c)
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
static int send_folder(sync_ctx *c)
{
	send_plan p;
	size_t n_stops = 0;
	mutual_oid *tips = NULL, *stops = NULL;
	int rc;

	if ((rc = plan_send(&p, c)) < 0)
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
		transfer_cb, c)) < 0)
		goto done;
	for (size_t i = 0; i < p.n && rc == 0; i++)
		rc = mutual__ref_set(c->peer, p.e[i].name, &p.e[i].tip, p.e[i].has_expected ? &p.e[i].expected : NULL);
done:
	mutual__free(tips);
	mutual__free(stops);
	free_plan(&p);
	return rc;
}

typedef struct {
	sync_ctx *c;
	mutual_oid *tips, *theirs;
	char **names;
	int *has_theirs;
	size_t n;
} fork_plan;

/* This store's fork proofs the target lacks, or holds a later one of. */
static int plan_fork(const char *name, const mutual_oid *oid, void *payload)
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
static int plan_newer(const char *name, const mutual_oid *oid, void *payload)
{
	fork_plan *p = payload;
	const peer_ref *theirs = find_ref(p->c, name);
	if (!is_newer_format_ref(name) ||
	    (theirs && (memcmp(&theirs->oid, oid, sizeof(*oid)) == 0 || !mutual__repo_descends(p->c->local, oid, &theirs->oid))))
		return 0;
	return plan_fork(name, oid, payload);
}

static void free_fork_plan(fork_plan *p)
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
static int send_forks_folder(sync_ctx *c)
{
	fork_plan p;
	int rc;
	memset(&p, 0, sizeof(p));
	p.c = c;
	if ((rc = mutual__refs_foreach(c->local, MUTUAL_REF_FORKS, plan_fork, &p)) == 0 && p.n)
		rc = mutual__repo_copy(c->peer, c->local, p.tips, p.n, NULL, 0, &c->stats->objects_sent, NULL, NULL);
	for (size_t i = 0; i < p.n && rc == 0; i++)
		rc = mutual__ref_set(c->peer, p.names[i], &p.tips[i], p.has_theirs[i] ? &p.theirs[i] : NULL);
	free_fork_plan(&p);
	return rc;
}

/* Pass this store's newer-format refs on to a folder: where the stick has
 * none, or one that the store's extends. */
static int send_newer_folder(sync_ctx *c)
{
	sync_ctx local = *c;
	int rc;

	local.refs = NULL;
	local.n_refs = 0;
	if ((rc = mutual__refs_foreach(c->local, MUTUAL_REF_ROOT, collect_ref, &local)) < 0)
		goto done;
	for (size_t i = 0; i < local.n_refs && rc == 0; i++) {
		const peer_ref *r = &local.refs[i], *theirs;
		if (!is_newer_format_ref(r->name))
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
	free_refs(&local);
	return rc;
}

/* Bring the store repository's refs in line with the segments table. */
static int set_local_ref(const uint8_t *device, uint64_t last_seq, const uint8_t *commit, void *payload)
{
	sync_ctx *c = payload;
	char name[128];
	mutual_oid now, want;
	(void)last_seq;
	int rc;
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

/* ---------------------------------------------------------------- targets */

static int sync_folder(sync_ctx *c, const char *folder)
{
	mutual_medium stick = { -1, NULL };
	mutual_buf repo = { 0 }, lock = { 0 };
	char *path = NULL;
	int lock_fd = -1, rc;

	if ((rc = mutual__medium_open(&stick, folder)) < 0)
		return rc;
	if (mutual__buf_printf(&repo, "mutual-%s.git", c->s->group_id) < 0 ||
	    mutual__buf_printf(&lock, "mutual-%s.lock", c->s->group_id) < 0) {
		rc = MUTUAL_ERROR;
		goto done;
	}
	/* The lock is beside the repository, so even its creation is serialised. */
	if ((rc = mutual__medium_lock(&lock_fd, &stick, (const char *)lock.data, "the stick")) < 0 ||
	    (rc = mutual__medium_repo(&path, &stick, (const char *)repo.data, MUTUAL_MEDIUM_CREATE)) < 0 ||
	    (rc = mutual__repo_open(&c->peer, path)) < 0)
		goto done;
	if ((rc = mutual__refs_foreach(c->peer, MUTUAL_REF_ROOT, collect_ref, c)) < 0 ||
	    (rc = import_all(c)) < 0 || (rc = send_folder(c)) < 0 || (rc = send_forks_folder(c)) < 0 ||
	    (rc = send_newer_folder(c)) < 0 || (rc = mutual__repo_consolidate(c->peer, NULL)) < 0)
		goto done;
	if (syncfs(stick.dirfd) < 0) {
		rc = mutual__fail(MUTUAL_ERROR, "cannot flush %s to the medium: %s", folder, strerror(errno));
		goto done;
	}
	c->stats->safe_to_remove = 1;
done:
	mutual__medium_unlock(lock_fd, &stick, NULL);
	mutual__medium_close(&stick);
	mutual__buf_free(&repo);
	mutual__buf_free(&lock);
	mutual__free(path);
	return rc;
}

/* The quarantine (NOTES 6) as the peer: what a bundle or a remote brings
 * waits there until it is verified, and is dropped with it. */
static int open_quarantine(sync_ctx *c)
{
	char *path = NULL;
	int rc;
	c->quarantined = 1;
	if ((rc = mutual__medium_quarantine(&path, &c->store_dir, QUARANTINE, SYNC_REPO)) == 0)
		rc = mutual__repo_open(&c->peer, path);
	mutual__free(path);
	return rc;
}

static int collect_local_mutual_ref(const char *name, const mutual_oid *oid, void *payload)
{
	mutual_bundle_ref **refs = ((void **)payload)[0];
	size_t *n = ((void **)payload)[1];
	mutual_bundle_ref *grown = mutual__realloc(*refs, (*n + 1) * sizeof(**refs));
	if (!grown)
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	*refs = grown;
	if (!(grown[*n].name = mutual__strdup(name)))
		return MUTUAL_ERROR;
	grown[*n].oid = *oid;
	(*n)++;
	return 0;
}

static int sync_bundle(sync_ctx *c, const char *file)
{
	mutual_bundle_ref *in = NULL, *out = NULL;
	size_t n_in = 0, n_out = 0;
	mutual_medium folder = { -1, NULL };
	mutual_buf lock = { 0 };
	void *collect[2] = { &out, &n_out };
	const char *base;
	send_plan p;
	uint64_t size;
	int lock_fd = -1, fd = -1, rc;

	memset(&p, 0, sizeof(p));
	if ((rc = mutual__medium_open_parent(&folder, &base, file)) < 0)
		return rc;
	if ((rc = mutual__buf_printf(&lock, "%s.lock", base)) < 0 ||
	    (rc = mutual__medium_lock(&lock_fd, &folder, (const char *)lock.data, file)) < 0)
		goto done;
	mutual__medium_remove_stale_temps(&folder, base);
	rc = mutual__medium_open_read(&fd, &size, &folder, base);
	if (rc < 0 && rc != MUTUAL_ENOTFOUND)
		goto done;
	if (rc == 0) {
		c->progress.phase = MUTUAL_SYNC_RECEIVING;
		if ((rc = open_quarantine(c)) < 0) {
			close(fd);
			goto done;
		}
		if ((rc = mutual__bundle_read(&in, &n_in, c->peer, fd, file, transfer_cb, c)) < 0) {
			if (rc == MUTUAL_EINVALID || rc == MUTUAL_ENOTFOUND) {
				refuse(c, NULL, "the bundle cannot be read (%s); it will be rewritten", mutual_error_last());
				rc = 0;
			} else {
				goto done;
			}
		}
		for (size_t i = 0; i < n_in && rc == 0; i++)
			rc = add_ref(c, in[i].name, &in[i].oid);
		if (rc < 0 || (rc = import_all(c)) < 0)
			goto done;
	}
	/* The figures of what the new bundle adds, then the bundle itself:
	 * everything held, full history, written atomically. */
	if ((rc = plan_send(&p, c)) < 0 || (rc = mutual__db_segment_tips(c->s->db, set_local_ref, c)) < 0 ||
	    (rc = mutual__refs_foreach(c->local, MUTUAL_REF_ROOT, collect_local_mutual_ref, collect)) < 0)
		goto done;
	c->progress.phase = MUTUAL_SYNC_SENDING;
	if ((rc = report(c, MUTUAL_SYNC_SENDING, 0, 0)) < 0 ||
	    (rc = mutual__bundle_write(&folder, base, c->local, out, n_out)) < 0)
		goto done;
	c->stats->safe_to_remove = 1;
done:
	free_plan(&p);
	mutual__medium_unlock(lock_fd, &folder, (const char *)lock.data);
	mutual__medium_close(&folder);
	mutual__buf_free(&lock);
	mutual__bundle_refs_free(in, n_in);
	mutual__bundle_refs_free(out, n_out);
	return rc;
}

typedef struct {
	sync_ctx *c;
	const char *prefix;
} incoming_ctx;

static int collect_incoming(const char *name, const mutual_oid *oid, void *payload)
{
	incoming_ctx *x = payload;
	mutual_buf real = { 0 };
	int rc = mutual__buf_printf(&real, MUTUAL_REF_ROOT "%s", name + strlen(x->prefix));
	if (rc == 0)
		rc = add_ref(x->c, (const char *)real.data, oid);
	mutual__buf_free(&real);
	return rc;
}

/* The store's refs, copied into the quarantine: the fetch tells the remote
 * what is held (the objects are there through the quarantine's read-through)
 * so it sends only what is new. */
static int seed_quarantine(const char *name, const mutual_oid *oid, void *payload)
{
	return mutual__ref_set(payload, name, oid, NULL);
}

static int reject_push(const char *ref, const char *why, void *payload)
{
	sync_ctx *c = payload;
	uint8_t device[32];
	int known = device_from_ref(device, ref) == 0;
	refuse(c, known ? device : NULL, "the remote refused %s: %s", known ? "its log" : ref, why);
	return 0;
}

/* A file:// remote is a folder on this machine that libgit2 reads and
 * pushes into directly: it passes the same walk as a stick (NOTES 4). */
static int check_file_url(const char *url)
{
	mutual_medium folder = { -1, NULL };
	mutual_buf path = { 0 };
	const char *base;
	char *repo = NULL;
	int rc;

	if (strncmp(url, "file://", 7) != 0)
		return 0;
	if (strchr(url + 7, '%'))
		return mutual__fail(MUTUAL_EINVALID, "%s: write the folder's path without %%-escapes", url);
	if ((rc = mutual__buf_put(&path, url + 7, strlen(url + 7))) < 0 || (rc = mutual__buf_cstr(&path)) < 0)
		goto done;
	while (path.len > 1 && path.data[path.len - 1] == '/')
		path.data[--path.len] = '\0';
	if ((rc = mutual__medium_open_parent(&folder, &base, (const char *)path.data)) == 0)
		rc = mutual__medium_repo(&repo, &folder, base, MUTUAL_MEDIUM_CHECK_ONLY);
done:
	mutual__free(repo);
	mutual__medium_close(&folder);
	mutual__buf_free(&path);
	return rc;
}

static int sync_remote(sync_ctx *c, const char *url)
{
	uint8_t h[32];
	char hex[65], prefix[128];
	incoming_ctx x = { c, prefix };
	send_plan p;
	fork_plan fp;
	char **specs = NULL;
	size_t n_specs = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	memset(&fp, 0, sizeof(fp));
	mutual__hash(h, url, strlen(url));
	mutual__hex(hex, h, 8);
	snprintf(prefix, sizeof(prefix), INCOMING "%s/", hex);
	c->progress.phase = MUTUAL_SYNC_RECEIVING;
	if ((rc = check_file_url(url)) < 0 || (rc = open_quarantine(c)) < 0 ||
	    (rc = mutual__refs_foreach(c->local, MUTUAL_REF_ROOT, seed_quarantine, c->peer)) < 0 ||
	    (rc = mutual__remote_fetch(c->peer, url, prefix, &c->stats->objects_received, transfer_cb, c)) < 0 ||
	    (rc = mutual__refs_foreach(c->peer, prefix, collect_incoming, &x)) < 0 || (rc = import_all(c)) < 0)
		goto done;
	if ((rc = plan_send(&p, c)) < 0 || (rc = mutual__db_segment_tips(c->s->db, set_local_ref, c)) < 0)
		goto done;
	fp.c = c;
	if ((rc = mutual__refs_foreach(c->local, MUTUAL_REF_FORKS, plan_fork, &fp)) < 0 ||
	    (rc = mutual__refs_foreach(c->local, MUTUAL_REF_ROOT, plan_newer, &fp)) < 0)
		goto done;
	n_specs = p.n + fp.n;
	if (n_specs) {
		if (!(specs = mutual__calloc(n_specs, sizeof(*specs)))) {
			rc = mutual__fail(MUTUAL_ERROR, "out of memory");
			goto done;
		}
		/* Device logs only ever fast-forward, but replace a garbage ref
		 * (NOTES 7); a fork proof replaces a later one; newer-format
		 * refs fast-forward. */
		for (size_t i = 0; i < n_specs; i++) {
			mutual_buf spec = { 0 };
			const char *name = i < p.n ? p.e[i].name : fp.names[i - p.n];
			int force = i < p.n ? p.e[i].force : strncmp(name, MUTUAL_REF_FORKS, strlen(MUTUAL_REF_FORKS)) == 0;
			if (mutual__buf_printf(&spec, "%s%s:%s", force ? "+" : "", name, name) < 0) {
				rc = MUTUAL_ERROR;
				goto done;
			}
			specs[i] = (char *)spec.data;
		}
		c->progress.phase = MUTUAL_SYNC_SENDING;
		if ((rc = mutual__remote_push(c->local, url, specs, n_specs, &c->stats->objects_sent, reject_push, c,
			transfer_cb, c)) < 0)
			goto done;
	}
	c->stats->safe_to_remove = 1;
done:
	for (size_t i = 0; specs && i < n_specs; i++)
		mutual__free(specs[i]);
	mutual__free(specs);
	free_plan(&p);
	free_fork_plan(&fp);
	return rc;
}

static int is_url(const char *target)
{
	return strstr(target, "://") != NULL;
}

static int is_bundle(const char *target)
{
	size_t n = strlen(target);
	return n > 7 && strcmp(target + n - 7, ".bundle") == 0;
}

int mutual_sync(mutual_sync_stats *out, mutual_store *s, const char *target, const mutual_sync_options *opts)
{
	mutual_sync_stats local_stats;
	sync_ctx c;
	char *path = NULL;
	int lock_fd = -1, rc;

	if (!s || !target || !*target)
		return mutual__fail(MUTUAL_EINVALID, "no store or sync target given");
	mutual__error_clear();
	if (opts && opts->version != MUTUAL_SYNC_OPTIONS_VERSION)
		return mutual__fail(MUTUAL_EINVALID, "unknown sync options version %u", opts->version);
	if (!out)
		out = &local_stats;
	memset(out, 0, sizeof(*out));
	out->version = MUTUAL_SYNC_STATS_VERSION;
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.opts = opts;
	c.stats = out;
	c.store_dir.dirfd = -1;
	if (s->readonly)
		return mutual__fail(MUTUAL_EREADONLY, "the store at %s is read-only: it cannot sync", s->dir);
	if ((rc = mutual__store_load_group_key(s)) < 0)
		return rc;
	if ((rc = mutual__medium_open(&c.store_dir, s->dir)) < 0 ||
	    (rc = mutual__medium_lock(&lock_fd, &c.store_dir, SYNC_LOCK, "this store")) < 0)
		goto done;
	/* Under the store's lock, a quarantine can only be a killed sync's. */
	mutual__medium_quarantine_drop(&c.store_dir, QUARANTINE);
	if ((rc = mutual__medium_repo(&path, &c.store_dir, SYNC_REPO, MUTUAL_MEDIUM_CREATE)) < 0 || (rc = mutual__repo_open(&c.local, path)) < 0)
		goto done;
	/* The refs follow the export at once, so sync.git holds nothing
	 * unreferenced whatever happens to the target. */
	if ((rc = report(&c, MUTUAL_SYNC_EXPORTING, 0, 0)) < 0 || (rc = export_own(&c)) < 0 ||
	    (rc = mutual__db_segment_tips(s->db, set_local_ref, &c)) < 0)
		goto done;
	if (is_url(target))
		rc = sync_remote(&c, target);
	else if (is_bundle(target))
		rc = sync_bundle(&c, target);
	else
		rc = sync_folder(&c, target);
	if (rc == 0)
		rc = mutual__db_segment_tips(s->db, set_local_ref, &c);
	if (rc == 0)
		rc = mutual__repo_consolidate(c.local, NULL);
	if (rc == 0 && out->refused)
		rc = mutual__fail(MUTUAL_EREFUSED, "the sync completed but refused %" PRIu64 " log(s): %s",
			out->refused, out->first_refusal);
done:
	if (rc < 0 && rc != MUTUAL_EREFUSED)
		out->safe_to_remove = 0;
	mutual__repo_free(c.peer);
	if (c.quarantined)
		mutual__medium_quarantine_drop(&c.store_dir, QUARANTINE);
	mutual__repo_free(c.local);
	free_refs(&c);
	mutual__free(c.garbage);
	mutual__free(c.imported);
	mutual__buf_free(&c.blob);
	mutual__buf_free(&c.plain);
	mutual__medium_unlock(lock_fd, &c.store_dir, NULL);
	mutual__medium_close(&c.store_dir);
	mutual__free(path);
	return rc;
}
