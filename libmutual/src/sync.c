/*
 * sync.c - two-way sync of device logs with a folder (a stick), a bundle
 * file, or a git remote: the entry point. mutual_sync takes the store's
 * lock, exports this device's new events (sync_export.c), brings sync.git's
 * refs in line with the segments table, and hands the target to its kind
 * (sync_target.c), which imports what the target holds (sync_import.c;
 * sync_fork.c when a log diverges) and sends what it lacks (sync_send.c).
 * Here too are the helpers of the context those files share (sync_int.h):
 * progress, refusals, the list of a peer's refs, and ref names.
 *
 * NOTES ON THE DESIGN
 *  1. SQLite is the truth. The store's own bare repository (DIR/sync.git)
 *     only keeps the exact git objects this device wrote or received, so it
 *     can forward them byte for byte; the `segments` table says which commit
 *     carries which events. Objects are written before the rows that name
 *     them, so a crash leaves at worst unreferenced objects, never a row
 *     pointing at nothing (asserted in sync_import.c's store_segments:
 *     mutual__repo_has before the row; and at every insert, db.c NOTES 2).
 *  2. One sync at a time per store (a lock file in the store) and per medium
 *     (a lock file beside the stick's repository). Both are flock()s,
 *     released by the kernel when a process dies, so a killed sync never
 *     blocks the next. Every file of a medium, and of the store's folder, is
 *     reached through medium.c, which refuses links and files not ours.
 *     Export and import assert they run under the store's lock
 *     (c->store_locked); the medium's lock is checked by the sync tests.
 */
#include "sync_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "rotation.h"
#include "store.h"

#define SYNC_LOCK "sync.lock"

int mutual_sync_options_init(mutual_sync_options *opts, unsigned int version)
{
	mutual_sync_options init = MUTUAL_SYNC_OPTIONS_INIT;
	if (!opts)
		return mutual__fail(MUTUAL_EINVALID, "no sync options given");
	MUTUAL__CHECK_VERSION(version, MUTUAL_SYNC_OPTIONS_VERSION, "sync options");
	*opts = init;
	return 0;
}

/* ---------------------------------------------------------------- helpers */

int mutual__sync_report(sync_ctx *c, unsigned int phase, uint64_t done, uint64_t total)
{
	c->progress.phase = phase;
	c->progress.done = done;
	c->progress.total = total;
	c->progress.events_imported = c->stats->events_received;
	if (c->opts && c->opts->progress && c->opts->progress(&c->progress, c->opts->progress_payload) != 0)
		return mutual__fail(MUTUAL_ECANCELLED, "the sync was cancelled");
	return 0;
}

int mutual__sync_transfer_cb(uint64_t done, uint64_t total, void *payload)
{
	sync_ctx *c = payload;
	return mutual__sync_report(c, c->progress.phase, done, total) < 0 ? -1 : 0;
}

void mutual__sync_refuse(sync_ctx *c, const uint8_t *device, const char *fmt, ...)
{
	char hex[MUTUAL_KEY_HEX_SIZE] = "", reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (device)
		mutual__hex(hex, device, MUTUAL_KEY_SIZE);
	if (c->stats->refused++ == 0)
		snprintf(c->stats->first_refusal, sizeof(c->stats->first_refusal), "%s%.16s%s%.200s",
			device ? "device " : "", hex, device ? ": " : "", reason);
	if (c->opts && c->opts->refusal)
		c->opts->refusal(hex, reason, c->opts->refusal_payload);
}

void mutual__sync_without_key(sync_ctx *c, const uint8_t *device, const char *fmt, ...)
{
	char what[256], reason[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* the thread's last error: keyring.c's message naming the key */
	snprintf(reason, sizeof(reason), "warning: %s is %s", what, mutual_error_last());
	c->stats->segments_without_key++;
	if (c->opts && c->opts->refusal) {
		char hex[MUTUAL_KEY_HEX_SIZE] = "";
		if (device)
			mutual__hex(hex, device, MUTUAL_KEY_SIZE);
		c->opts->refusal(hex, reason, c->opts->refusal_payload);
	}
}

void mutual__sync_hold_own(sync_ctx *c, uint64_t events, const char *why)
{
	char reason[512];
	c->stats->own_events_waiting += events;
	snprintf(reason, sizeof(reason), "warning: %" PRIu64 " of this device's events are not sent: %s", events, why);
	if (c->opts && c->opts->refusal) {
		char hex[MUTUAL_KEY_HEX_SIZE];
		mutual__hex(hex, c->s->self, MUTUAL_KEY_SIZE);
		c->opts->refusal(hex, reason, c->opts->refusal_payload);
	}
}

/* "refs/mutual/v<N>/<name>" with N >= 2: a newer medium format's ref. */
int mutual__sync_is_newer_format_ref(const char *name)
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

int mutual__sync_device_from_ref(uint8_t device[MUTUAL_KEY_SIZE], const char *name)
{
	size_t plen = strlen(MUTUAL_REF_DEVICES);
	const char *hex = name + plen;
	if (strncmp(name, MUTUAL_REF_DEVICES, plen) != 0 || strlen(hex) != MUTUAL_KEY_HEX_LEN ||
	    strspn(hex, "0123456789abcdef") != MUTUAL_KEY_HEX_LEN)
		return -1;
	return mutual__unhex(device, MUTUAL_KEY_SIZE, hex, MUTUAL_KEY_HEX_LEN);
}

void mutual__sync_free_refs(sync_ctx *c)
{
	for (size_t i = 0; i < c->n_refs; i++)
		mutual__free(c->refs[i].name);
	mutual__free(c->refs);
	c->refs = NULL;
	c->n_refs = 0;
}

int mutual__sync_add_ref(sync_ctx *c, const char *name, const mutual_oid *oid)
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

int mutual__sync_collect_ref(const char *name, const mutual_oid *oid, void *payload)
{
	return mutual__sync_add_ref(payload, name, oid);
}

/* ------------------------------------------------------------------ sync */

static int is_url(const char *target)
{
	return strstr(target, "://") != NULL;
}

static int is_bundle(const char *target)
{
	size_t n = strlen(target);
	return n > 7 && strcmp(target + n - 7, ".bundle") == 0;
}

/* The bytes of each version of mutual_sync_stats: a version's are the
 * offset of the next one's first field. */
static const size_t stats_sizes[MUTUAL_SYNC_STATS_VERSION + 1] = { 0, offsetof(mutual_sync_stats, segments_without_key),
	offsetof(mutual_sync_stats, own_events_waiting), sizeof(mutual_sync_stats) };

int mutual_sync(mutual_sync_stats *out, mutual_store *s, const char *target, const mutual_sync_options *opts)
{
	MUTUAL_STORE_ENTER(s);
	mutual_sync_stats stats;
	sync_ctx c;
	char *path = NULL;
	int lock_fd = -1, rc;

	if (!s || !target || !*target)
		return mutual__fail(MUTUAL_EINVALID, "no store or sync target given");
	mutual__error_clear();
	/* Before the URL is used or shown anywhere: never a password in it. */
	if (is_url(target) && (rc = mutual__hub_url_check(target)) < 0)
		return rc;
	if (opts)
		MUTUAL__CHECK_VERSION(opts->version, MUTUAL_SYNC_OPTIONS_VERSION, "sync options");
	if ((rc = mutual__output_check(out, "sync stats")) < 0)
		return rc;
	memset(&stats, 0, sizeof(stats));
	stats.version = MUTUAL_SYNC_STATS_VERSION;
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.opts = opts;
	c.stats = &stats;
	c.store_dir.dirfd = -1;
	if (s->readonly) {
		rc = mutual__fail(MUTUAL_EREADONLY, "the store at %s is read-only: it cannot sync", s->dir);
		goto done;
	}
	/* group.key as it is now: another handle of this store may have
	 * taken a key since this one read it. */
	if ((rc = mutual__store_reload_group_key(s)) < 0 ||
	    (rc = mutual__medium_open(&c.store_dir, s->dir)) < 0 ||
	    (rc = mutual__medium_lock(&lock_fd, &c.store_dir, SYNC_LOCK, "this store")) < 0)
		goto done;
	c.store_locked = 1;
	/* Under the store's lock, a quarantine can only be a killed sync's. */
	mutual__medium_quarantine_drop(&c.store_dir, QUARANTINE);
	if ((rc = mutual__medium_repo(&path, &c.store_dir, SYNC_REPO, MUTUAL_MEDIUM_CREATE)) < 0 || (rc = mutual__repo_open(&c.local, path)) < 0)
		goto done;
	/* The refs follow the export at once, so sync.git holds nothing
	 * unreferenced whatever happens to the target. */
	if ((rc = mutual__sync_report(&c, MUTUAL_SYNC_EXPORTING, 0, 0)) < 0 ||
	    (rc = mutual__rotation_maintain(s)) < 0 ||
	    (rc = mutual__sync_export_own(&c)) < 0 ||
	    (rc = mutual__db_segment_tips(s->db, mutual__sync_set_local_ref, &c)) < 0)
		goto done;
	if (is_url(target))
		rc = mutual__sync_remote(&c, target);
	else if (is_bundle(target))
		rc = mutual__sync_bundle(&c, target);
	else
		rc = mutual__sync_folder(&c, target);
	if (rc == 0)
		rc = mutual__db_segment_tips(s->db, mutual__sync_set_local_ref, &c);
	if (rc == 0)
		rc = mutual__repo_consolidate(c.local, NULL);
	if (rc == 0 && stats.refused)
		rc = mutual__fail(MUTUAL_EREFUSED, "the sync completed but refused %" PRIu64 " log(s): %s",
			stats.refused, stats.first_refusal);
done:
	if (rc < 0 && rc != MUTUAL_EREFUSED)
		stats.safe_to_remove = 0;
	if (out)
		mutual__output_copy(out, &stats, MUTUAL_SYNC_STATS_VERSION, stats_sizes);
	mutual__repo_free(c.peer);
	if (c.quarantined)
		mutual__medium_quarantine_drop(&c.store_dir, QUARANTINE);
	mutual__repo_free(c.local);
	mutual__sync_free_refs(&c);
	mutual__free(c.garbage);
	mutual__free(c.imported);
	mutual__buf_free(&c.blob);
	mutual__buf_free(&c.plain);
	mutual__medium_unlock(lock_fd, &c.store_dir, NULL);
	mutual__medium_close(&c.store_dir);
	mutual__free(path);
	return rc;
}
