/*
 * sync_target.c - the three kinds of target, each reading its peer and
 * then running the import and send phases against it: a folder (a stick:
 * its lock and its repository, read and written in place), a bundle file
 * (read into the quarantine, then rewritten whole), and a URL (fetched
 * into the quarantine, then pushed to). The quarantine is the store's
 * incoming.git, whose objects read through to sync.git.
 */
#include "sync_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fork.h"
#include "store.h"

#define INCOMING "refs/mutual-incoming/" /* where a remote's refs land before import */

int mutual__sync_folder(sync_ctx *c, const char *folder)
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
	if ((rc = mutual__refs_foreach(c->peer, MUTUAL_REF_ROOT, mutual__sync_collect_ref, c)) < 0 ||
	    (rc = mutual__sync_import_all(c)) < 0 || (rc = mutual__sync_send_folder(c)) < 0 ||
	    (rc = mutual__sync_send_forks_folder(c)) < 0 || (rc = mutual__sync_send_newer_folder(c)) < 0 ||
	    (rc = mutual__repo_consolidate(c->peer, NULL)) < 0)
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

/* The quarantine (sync_import.c NOTES 3) as the peer: what a bundle or a
 * remote brings waits there until it is verified, and is dropped with it. */
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

int mutual__sync_bundle(sync_ctx *c, const char *file)
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
		if ((rc = mutual__bundle_read(&in, &n_in, c->peer, fd, file, mutual__sync_transfer_cb, c)) < 0) {
			if (rc == MUTUAL_EINVALID || rc == MUTUAL_ENOTFOUND) {
				mutual__sync_refuse(c, NULL, "the bundle cannot be read (%s); it will be rewritten",
					mutual_error_last());
				rc = 0;
			} else {
				goto done;
			}
		}
		for (size_t i = 0; i < n_in && rc == 0; i++)
			rc = mutual__sync_add_ref(c, in[i].name, &in[i].oid);
		if (rc < 0 || (rc = mutual__sync_import_all(c)) < 0)
			goto done;
	}
	/* The figures of what the new bundle adds, then the bundle itself:
	 * everything held, full history, written atomically. */
	if ((rc = mutual__sync_plan_send(&p, c)) < 0 ||
	    (rc = mutual__db_segment_tips(c->s->db, mutual__sync_set_local_ref, c)) < 0 ||
	    (rc = mutual__refs_foreach(c->local, MUTUAL_REF_ROOT, collect_local_mutual_ref, collect)) < 0)
		goto done;
	c->progress.phase = MUTUAL_SYNC_SENDING;
	if ((rc = mutual__sync_report(c, MUTUAL_SYNC_SENDING, 0, 0)) < 0 ||
	    (rc = mutual__bundle_write(&folder, base, c->local, out, n_out)) < 0)
		goto done;
	c->stats->safe_to_remove = 1;
done:
	mutual__sync_free_plan(&p);
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
		rc = mutual__sync_add_ref(x->c, (const char *)real.data, oid);
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
	uint8_t device[MUTUAL_KEY_SIZE];
	int known = mutual__sync_device_from_ref(device, ref) == 0;
	mutual__sync_refuse(c, known ? device : NULL, "the remote refused %s: %s", known ? "its log" : ref, why);
	return 0;
}

/* A file:// remote is a folder on this machine that libgit2 reads and
 * pushes into directly: it passes the same walk as a stick (sync.c NOTES 2). */
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

int mutual__sync_remote(sync_ctx *c, const char *url)
{
	uint8_t h[MUTUAL_HASH_SIZE];
	char hex[2 * MUTUAL_HASH_SIZE + 1], prefix[MUTUAL_REF_NAME_SIZE];
	incoming_ctx x = { c, prefix };
	mutual_remote_session session = { 0 };
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
	    (rc = mutual__remote_fetch(c->peer, url, &session, prefix, &c->stats->objects_received, mutual__sync_transfer_cb,
		    c)) < 0 ||
	    (rc = mutual__refs_foreach(c->peer, prefix, collect_incoming, &x)) < 0 ||
	    (rc = mutual__sync_import_all(c)) < 0)
		goto done;
	if ((rc = mutual__sync_plan_send(&p, c)) < 0 ||
	    (rc = mutual__db_segment_tips(c->s->db, mutual__sync_set_local_ref, c)) < 0)
		goto done;
	fp.c = c;
	if ((rc = mutual__refs_foreach(c->local, MUTUAL_REF_FORKS, mutual__sync_plan_fork, &fp)) < 0 ||
	    (rc = mutual__refs_foreach(c->local, MUTUAL_REF_ROOT, mutual__sync_plan_newer, &fp)) < 0)
		goto done;
	n_specs = p.n + fp.n;
	if (n_specs) {
		if (!(specs = mutual__calloc(n_specs, sizeof(*specs)))) {
			rc = mutual__fail(MUTUAL_ERROR, "out of memory");
			goto done;
		}
		/* Device logs only ever fast-forward, but replace a garbage ref
		 * (sync_send.c NOTES 1); a fork proof replaces a later one;
		 * newer-format refs fast-forward. */
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
		if ((rc = mutual__remote_push(c->local, url, &session, specs, n_specs, &c->stats->objects_sent, reject_push, c,
			mutual__sync_transfer_cb, c)) < 0)
			goto done;
	}
	c->stats->safe_to_remove = 1;
done:
	for (size_t i = 0; specs && i < n_specs; i++)
		mutual__free(specs[i]);
	mutual__free(specs);
	mutual__sync_free_plan(&p);
	mutual__sync_free_fork_plan(&fp);
	return rc;
}
