/*
 * git.c - libgit2 behind the small interface of git.h.
 *
 * Sticks are slow and fragile (FAT, exFAT), so objects always move as
 * packs, never as loose files, and libgit2 is told to fsync everything it
 * writes into a repository. Sticks are often mounted as another user, so
 * repository ownership checks are off: what we read is verified anyway.
 */
#include "fault.h"
#include "git.h"
#include "hub.h"
#include "medium.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#ifdef MUTUAL_TEST_HOOKS
#include <git2/sys/alloc.h>
#endif
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct mutual_repo {
	git_repository *repo;
	char *path;
	git_odb_backend *memory; /* set for mutual__repo_open_memory handles */
	mutual_oid *written;     /* the commits written to `memory` since its last flush */
	size_t n_written;
};

static int git_fail(int code, const char *what)
{
	const git_error *e = git_error_last();
	const char *msg = e && e->message ? e->message : "unknown libgit2 error";
	if (strstr(msg, "No space left on device"))
		return mutual__fail(MUTUAL_ERROR, "%s: the disk or stick is full: free some space or use a larger stick "
			"(nothing was lost; sync again after) (%s)", what, msg);
	return mutual__fail(code, "%s: %s", what, msg);
}

/* A libgit2 failure: a callback's cancel, or an error in words. */
static int translate(int rc, const char *what)
{
	if (rc == GIT_EUSER)
		return mutual__fail(MUTUAL_ECANCELLED, "%s: cancelled", what);
	if (rc == GIT_ENOTFOUND)
		return git_fail(MUTUAL_ENOTFOUND, what);
	return git_fail(MUTUAL_ERROR, what);
}

/* Packs are read through mmap windows, and every page touched stays
 * resident while mapped: with libgit2's defaults (1 GiB windows, 8 GiB in
 * all) a sync that reads a whole stick's pack holds all of it. Small
 * windows under a small limit keep the mapped part of RSS bounded. */
#define MWINDOW_SIZE (1024 * 1024)
#define MWINDOW_MAPPED_LIMIT (8 * 1024 * 1024)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

#ifdef MUTUAL_TEST_HOOKS
/* alloc-sed: off (libgit2's blocks, from libc, counted by fault.h) */
/* Test builds only: libgit2 allocates through the fault counter (fault.h),
 * set with GIT_OPT_SET_ALLOCATOR before git_libgit2_init, which keeps an
 * allocator set before it. libgit2 1.5 expects its allocator to report a
 * failure itself (git_error_set_oom), as its stdalloc does. */
static void *git_fault_malloc(size_t n, const char *file, int line)
{
	void *p;
	if (mutual__fault_alloc_fails(MUTUAL_ALLOC_GIT, file, line) || !(p = malloc(n))) {
		git_error_set_oom();
		return NULL;
	}
	mutual__fault_alloc_live(MUTUAL_ALLOC_GIT, 1);
	return p;
}

static void *git_fault_calloc(size_t n, size_t size, const char *file, int line)
{
	void *p;
	if (mutual__fault_alloc_fails(MUTUAL_ALLOC_GIT, file, line) || !(p = calloc(n, size))) {
		git_error_set_oom();
		return NULL;
	}
	mutual__fault_alloc_live(MUTUAL_ALLOC_GIT, 1);
	return p;
}

static void *git_fault_realloc(void *ptr, size_t size, const char *file, int line)
{
	void *p;
	if (mutual__fault_alloc_fails(MUTUAL_ALLOC_GIT, file, line) || !(p = realloc(ptr, size))) {
		git_error_set_oom();
		return NULL;
	}
	if (!ptr)
		mutual__fault_alloc_live(MUTUAL_ALLOC_GIT, 1);
	return p;
}

static void *git_fault_mallocarray(size_t n, size_t size, const char *file, int line)
{
	if (size && n > SIZE_MAX / size) {
		git_error_set_oom();
		return NULL;
	}
	return git_fault_malloc(n * size, file, line);
}

static void *git_fault_reallocarray(void *ptr, size_t n, size_t size, const char *file, int line)
{
	if (size && n > SIZE_MAX / size) {
		git_error_set_oom();
		return NULL;
	}
	return git_fault_realloc(ptr, n * size, file, line);
}

/* Exactly `n` bytes of `str`, then a NUL. */
static char *git_fault_substrdup(const char *str, size_t n, const char *file, int line)
{
	char *p;
	if (n == SIZE_MAX) {
		git_error_set_oom();
		return NULL;
	}
	if ((p = git_fault_malloc(n + 1, file, line))) {
		memcpy(p, str, n);
		p[n] = '\0';
	}
	return p;
}

static char *git_fault_strndup(const char *str, size_t n, const char *file, int line)
{
	return git_fault_substrdup(str, strnlen(str, n), file, line);
}

static char *git_fault_strdup(const char *str, const char *file, int line)
{
	return git_fault_substrdup(str, strlen(str), file, line);
}

static void git_fault_free(void *ptr)
{
	if (ptr)
		mutual__fault_alloc_live(MUTUAL_ALLOC_GIT, -1);
	free(ptr);
}

static git_allocator git_fault_allocator = { git_fault_malloc, git_fault_calloc, git_fault_strdup,
	git_fault_strndup, git_fault_substrdup, git_fault_realloc, git_fault_reallocarray,
	git_fault_mallocarray, git_fault_free };
/* alloc-sed: on */
#endif

/* Ownership is checked by medium.c (every entry ours), before libgit2
 * opens anything. Objects are hash-checked as they are read, and the
 * object cache is kept small: memory stays bounded whatever a medium holds
 * (blobs are never cached, libgit2's default). */
static void init_git(void)
{
#ifdef MUTUAL_TEST_HOOKS
	if (git_libgit2_opts(GIT_OPT_SET_ALLOCATOR, &git_fault_allocator) < 0) {
		init_result = -1;
		return;
	}
#endif
	if (git_libgit2_init() < 0 || git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0) < 0 ||
	    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)(16 * 1024 * 1024)) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)MWINDOW_SIZE) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)MWINDOW_MAPPED_LIMIT) < 0)
		init_result = -1;
}

int mutual__git_out_of_memory(void)
{
	const git_error *e = git_error_last();
	return e && e->klass == GIT_ERROR_NOMEMORY;
}

int mutual__git_init(void)
{
	pthread_once(&init_once, init_git);
	return init_result < 0 ? git_fail(MUTUAL_ERROR, "cannot initialise libgit2") : 0;
}

#ifdef MUTUAL_TEST_HOOKS
void mutual__fault_point(void)
{
	static long countdown = -1;
	if (countdown == -1) {
		const char *at = getenv("MUTUAL_FAULT_KILL_AT");
		countdown = at && *at ? atol(at) : 0;
	}
	if (countdown > 0 && --countdown == 0)
		kill(getpid(), SIGKILL);
}
#endif

int mutual__git_is_temp_file(const char *name)
{
	size_t len = strlen(name);
	return (len > 5 && strcmp(name + len - 5, ".lock") == 0) || strncmp(name, "pack_git2_", 10) == 0 ||
	       strncmp(name, "tmp_object_git2_", 16) == 0;
}

/* Whether `path` holds a HEAD. libgit2 1.5 answers GIT_ENOTFOUND, "could
 * not find repository", also when it ran out of memory while looking at a
 * repository that is there; one with a HEAD was not missing. */
static int has_head(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), found;
	if (fd < 0)
		return 0;
	found = fstatat(fd, "HEAD", &st, AT_SYMLINK_NOFOLLOW) == 0;
	close(fd);
	return found;
}

int mutual__repo_open(mutual_repo **out, const char *path)
{
	mutual_repo *r;
	int rc;

	*out = NULL;
	if ((rc = mutual__git_init()) < 0)
		return rc;
	if (!(r = mutual__calloc(1, sizeof(*r))) || !(r->path = mutual__strdup(path))) {
		mutual__free(r);
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	}
	/* Exactly this folder: no search upwards, no .git, no $GIT_DIR. */
	rc = git_repository_open_ext(&r->repo, path,
		GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE | GIT_REPOSITORY_OPEN_NO_DOTGIT, NULL);
	if (rc < 0) {
		rc = rc == GIT_ENOTFOUND && !has_head(path) ? mutual__fail(MUTUAL_ENOTFOUND, "no repository at %s", path)
							    : git_fail(MUTUAL_ERROR, "cannot open the repository");
		mutual__repo_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* The memory backend is the only one written: the repository's own
 * objects are read through alternates, which libgit2 never writes. Were
 * they ordinary backends, an object the memory backend failed to take (out
 * of memory) would be written as a loose file into the repository instead,
 * and be missing from the pack the flush makes. */
int mutual__repo_open_memory(mutual_repo **out, const char *path)
{
	git_odb *odb = NULL;
	char *objects = NULL;
	int rc, owned = 0; /* the odb owns the memory backend */

	if ((rc = mutual__repo_open(out, path)) < 0)
		return rc;
	if (!(objects = mutual__path_join(path, "objects"))) {
		rc = MUTUAL_ERROR;
		goto fail;
	}
	if (git_mempack_new(&(*out)->memory) < 0 || git_odb_new(&odb) < 0 ||
	    git_odb_add_backend(odb, (*out)->memory, 1000) < 0)
		goto fail_git;
	owned = 1;
	if (git_odb_add_disk_alternate(odb, objects) < 0 || git_repository_set_odb((*out)->repo, odb) < 0)
		goto fail_git;
	git_odb_free(odb);
	mutual__free(objects);
	return 0;
fail_git:
	rc = git_fail(MUTUAL_ERROR, "cannot prepare an in-memory object store");
fail:
	if (!owned && (*out)->memory)
		(*out)->memory->free((*out)->memory);
	git_odb_free(odb);
	mutual__free(objects);
	mutual__repo_free(*out);
	*out = NULL;
	return rc;
}

int mutual__repo_flush_memory(mutual_repo *mem, mutual_repo *into)
{
	git_buf pack = { 0 };
	git_odb *odb = NULL;
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats;
	int rc;

	memset(&stats, 0, sizeof(stats));
	if ((rc = git_mempack_dump(&pack, mem->repo, mem->memory)) < 0 || (rc = git_repository_odb(&odb, into->repo)) < 0 ||
	    (rc = git_odb_write_pack(&wp, odb, NULL, NULL)) < 0)
		rc = git_fail(MUTUAL_ERROR, "cannot store new segments");
	/* Fed to the indexer a window at a time, as a fetch feeds it: given a
	 * flood's whole pack (hundreds of MB) in one append, libgit2 1.5's
	 * indexer now and then stopped short of its end ("unexpected data at
	 * the end of the pack", 1 run in 6 of sync-flood/flood_memory). */
	for (size_t at = 0; rc == 0 && at < pack.size; at += MWINDOW_SIZE)
		if (wp->append(wp, pack.ptr + at, pack.size - at < MWINDOW_SIZE ? pack.size - at : MWINDOW_SIZE, &stats) < 0)
			rc = git_fail(MUTUAL_ERROR, "cannot store new segments");
	if (rc == 0 && wp->commit(wp, &stats) < 0)
		rc = git_fail(MUTUAL_ERROR, "cannot store new segments");
	/* Every commit written must be in the pack before a caller records
	 * it (sync.c, NOTES 1). libgit2 1.5's memory backend can lose one: if
	 * it runs out of memory listing a commit it has just stored, the
	 * write fails, libgit2 retries it, the backend finds the object
	 * there and says yes, and the dump, which packs the listed commits,
	 * leaves it out. */
	for (size_t i = 0; rc == 0 && i < mem->n_written; i++)
		if (!git_odb_exists(odb, (const git_oid *)&mem->written[i]))
			rc = mutual__fail(MUTUAL_ERROR, "cannot store new segments: a commit did not reach the "
				"repository (out of memory?); nothing was recorded, sync again");
	if (rc == 0) {
		git_mempack_reset(mem->memory);
		mem->n_written = 0;
	}
	if (wp)
		wp->free(wp);
	git_odb_free(odb);
	git_buf_dispose(&pack);
	return rc;
}

void mutual__repo_free(mutual_repo *r)
{
	if (!r)
		return;
	git_repository_free(r->repo);
	mutual__free(r->written);
	mutual__free(r->path);
	mutual__free(r);
}

const char *mutual__repo_path(const mutual_repo *r)
{
	return r->path;
}

int mutual__repo_has(mutual_repo *r, const mutual_oid *oid)
{
	git_odb *odb;
	int has;
	git_error_clear(); /* so that mutual__git_out_of_memory() speaks of this call */
	if (git_repository_odb(&odb, r->repo) < 0)
		return 0;
	has = git_odb_exists(odb, (const git_oid *)oid);
	git_odb_free(odb);
	return has;
}

int mutual__repo_descends(mutual_repo *r, const mutual_oid *commit, const mutual_oid *ancestor)
{
	int rc = git_graph_descendant_of(r->repo, (const git_oid *)commit, (const git_oid *)ancestor);
	git_error_clear();
	return rc == 1;
}

int mutual__ref_get(mutual_oid *out, mutual_repo *r, const char *name)
{
	int rc = git_reference_name_to_id((git_oid *)out, r->repo, name);
	if (rc == GIT_ENOTFOUND)
		return mutual__fail(MUTUAL_ENOTFOUND, "no ref %s", name);
	return rc < 0 ? git_fail(MUTUAL_ERROR, "cannot read a ref") : 0;
}

int mutual__ref_set(mutual_repo *r, const char *name, const mutual_oid *oid, const mutual_oid *expected)
{
	git_reference *ref = NULL;
	int rc;

	mutual__fault_point();
	if (expected)
		rc = git_reference_create_matching(&ref, r->repo, name, (const git_oid *)oid, 1,
			(const git_oid *)expected, "mutual sync");
	else
		rc = git_reference_create(&ref, r->repo, name, (const git_oid *)oid, 0, "mutual sync");
	git_reference_free(ref);
	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS)
		return git_fail(MUTUAL_EBUSY, "the ref changed under us (another sync?)");
	return rc < 0 ? git_fail(MUTUAL_ERROR, "cannot update a ref") : 0;
}

int mutual__ref_delete(mutual_repo *r, const char *name)
{
	git_reference *ref = NULL;
	int rc = git_reference_lookup(&ref, r->repo, name);
	if (rc == 0)
		rc = git_reference_delete(ref);
	git_reference_free(ref);
	return rc < 0 && rc != GIT_ENOTFOUND ? git_fail(MUTUAL_ERROR, "cannot delete a ref") : 0;
}

typedef struct {
	mutual_repo *r;
	size_t prefix_len;
	const char *prefix;
	mutual_ref_cb cb;
	void *payload;
	int result;
} foreach_ctx;

static int foreach_ref_one(foreach_ctx *ctx, const char *name);

/* Test builds name the iteration (fault.h): libgit2 1.5's ref iterator
 * skips, with success, a loose ref it failed to read, out of memory too. */
static int foreach_ref(const char *name, void *payload)
{
	int rc;
	MUTUAL_FAULT_REGION(NULL);
	rc = foreach_ref_one(payload, name);
	MUTUAL_FAULT_REGION("git_reference_foreach_glob");
	return rc;
}

static int foreach_ref_one(foreach_ctx *ctx, const char *name)
{
	mutual_oid oid;
	int rc;
	if (strncmp(name, ctx->prefix, ctx->prefix_len) != 0)
		return 0;
	if (git_reference_name_to_id((git_oid *)&oid, ctx->r->repo, name) < 0) {
		if (!mutual__git_out_of_memory())
			return 0; /* a symbolic or broken ref is not ours */
		/* A ref left out for want of memory would be a wrong list. */
		ctx->result = git_fail(MUTUAL_ERROR, "cannot list refs");
		return GIT_EUSER;
	}
	rc = ctx->cb(name, &oid, ctx->payload);
	if (rc != 0) {
		ctx->result = rc;
		return GIT_EUSER;
	}
	return 0;
}

int mutual__refs_foreach(mutual_repo *r, const char *prefix, mutual_ref_cb cb, void *payload)
{
	foreach_ctx ctx = { r, strlen(prefix), prefix, cb, payload, 0 };
	char glob[256];
	int rc;
	snprintf(glob, sizeof(glob), "%s*", prefix);
	MUTUAL_FAULT_REGION("git_reference_foreach_glob");
	rc = git_reference_foreach_glob(r->repo, glob, foreach_ref, &ctx);
	MUTUAL_FAULT_REGION(NULL);
	if (rc == GIT_EUSER)
		return ctx.result;
	return rc < 0 ? git_fail(MUTUAL_ERROR, "cannot list refs") : 0;
}

/* A peer's object that could not be read: damaged or missing
 * (MUTUAL_EINVALID, which refuses or repairs its log), unless libgit2 only
 * ran out of memory, which says nothing of the object. */
static int object_fail(const char *what)
{
	return git_fail(mutual__git_out_of_memory() ? MUTUAL_ERROR : MUTUAL_EINVALID, what);
}

/* Check an untrusted object's type and size before reading it, so a
 * medium's huge object is never inflated into memory. */
static int object_fits(git_repository *repo, const git_oid *id, git_object_t want, size_t max, const char *what)
{
	git_odb *odb = NULL;
	git_object_t type;
	size_t size;
	int rc;

	if (git_repository_odb(&odb, repo) < 0)
		return git_fail(MUTUAL_ERROR, "cannot read objects");
	rc = git_odb_read_header(&size, &type, odb, id);
	/* libgit2 1.5 also answers "not found" when rescanning the packs for
	 * an object it does not know runs out of memory: missing is believed
	 * only after a rescan that worked. */
	if (rc == GIT_ENOTFOUND && (rc = git_odb_refresh(odb)) == 0)
		rc = git_odb_read_header(&size, &type, odb, id);
	git_odb_free(odb);
	if (rc < 0)
		return object_fail(what);
	if (type != want)
		return mutual__fail(MUTUAL_EINVALID, "%s: it is a %s", what, git_object_type2string(type));
	if (size > max)
		return mutual__fail(MUTUAL_EINVALID, "%s: it is %zu bytes, more than the %zu this format allows", what,
			size, max);
	return 0;
}

int mutual__segment_commit_read(mutual_repo *r, const mutual_oid *commit_id, int *has_parent,
	mutual_oid *parent, mutual_buf *blob_out)
{
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	git_blob *blob = NULL;
	const git_tree_entry *entry;
	int rc = MUTUAL_EINVALID;

	if ((rc = object_fits(r->repo, (const git_oid *)commit_id, GIT_OBJECT_COMMIT, MUTUAL_COMMIT_MAX,
		"a segment commit is missing or damaged")) < 0)
		return rc;
	rc = MUTUAL_EINVALID;
	if (git_commit_lookup(&commit, r->repo, (const git_oid *)commit_id) < 0) {
		rc = object_fail("a segment commit is missing or damaged");
		goto done;
	}
	if (git_commit_parentcount(commit) > 1) {
		mutual__fail(MUTUAL_EINVALID, "a segment commit has several parents");
		goto done;
	}
	*has_parent = git_commit_parentcount(commit) == 1;
	if (*has_parent)
		memcpy(parent, git_commit_parent_id(commit, 0), sizeof(*parent));
	if ((rc = object_fits(r->repo, git_commit_tree_id(commit), GIT_OBJECT_TREE, MUTUAL_TREE_MAX,
		"a segment's tree is missing or damaged")) < 0)
		goto done;
	rc = MUTUAL_EINVALID;
	if (git_commit_tree(&tree, commit) < 0) {
		rc = object_fail("a segment's tree is missing or damaged");
		goto done;
	}
	entry = git_tree_entry_byname(tree, "segment");
	if (git_tree_entrycount(tree) != 1 || !entry || git_tree_entry_type(entry) != GIT_OBJECT_BLOB) {
		mutual__fail(MUTUAL_EINVALID, "a segment commit does not hold exactly one segment");
		goto done;
	}
	if ((rc = object_fits(r->repo, git_tree_entry_id(entry), GIT_OBJECT_BLOB, MUTUAL_ENVELOPE_MAX,
		"a segment is missing or damaged")) < 0)
		goto done;
	rc = MUTUAL_EINVALID;
	if (git_blob_lookup(&blob, r->repo, git_tree_entry_id(entry)) < 0) {
		rc = object_fail("a segment is missing or damaged");
		goto done;
	}
	blob_out->len = 0;
	rc = mutual__buf_put(blob_out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
done:
	git_blob_free(blob);
	git_tree_free(tree);
	git_commit_free(commit);
	return rc;
}

int mutual__commit_parent(mutual_repo *r, const mutual_oid *commit_id, int *has_parent, mutual_oid *parent)
{
	git_commit *commit = NULL;
	int rc;
	if ((rc = object_fits(r->repo, (const git_oid *)commit_id, GIT_OBJECT_COMMIT, MUTUAL_COMMIT_MAX,
		"a segment commit is missing or damaged")) < 0)
		return rc;
	if (git_commit_lookup(&commit, r->repo, (const git_oid *)commit_id) < 0)
		return object_fail("a segment commit is missing or damaged");
	if (git_commit_parentcount(commit) > 1)
		rc = mutual__fail(MUTUAL_EINVALID, "a segment commit has several parents");
	*has_parent = git_commit_parentcount(commit) == 1;
	if (*has_parent)
		memcpy(parent, git_commit_parent_id(commit, 0), sizeof(*parent));
	git_commit_free(commit);
	return rc;
}

int mutual__segment_commit_write(mutual_oid *out, mutual_repo *r, const mutual_oid *parent_id,
	const uint8_t *blob, size_t len, const char *message)
{
	git_oid blob_id, tree_id;
	git_treebuilder *tb = NULL;
	git_tree *tree = NULL;
	git_commit *parent = NULL;
	git_signature *who = NULL;
	const git_commit *parents[1];
	int rc = MUTUAL_ERROR;

	/* Fixed author and time: a commit says nothing about who or where. */
	if (git_blob_create_from_buffer(&blob_id, r->repo, blob, len) < 0 ||
	    git_treebuilder_new(&tb, r->repo, NULL) < 0 ||
	    git_treebuilder_insert(NULL, tb, "segment", &blob_id, GIT_FILEMODE_BLOB) < 0 ||
	    git_treebuilder_write(&tree_id, tb) < 0 || git_tree_lookup(&tree, r->repo, &tree_id) < 0 ||
	    git_signature_new(&who, "mutual", "mutual@invalid", 0, 0) < 0 ||
	    (parent_id && git_commit_lookup(&parent, r->repo, (const git_oid *)parent_id) < 0)) {
		git_fail(MUTUAL_ERROR, "cannot write a segment");
		goto done;
	}
	parents[0] = parent;
	if (git_commit_create((git_oid *)out, r->repo, NULL, who, who, NULL, message, tree,
		parent ? 1 : 0, parents) < 0) {
		git_fail(MUTUAL_ERROR, "cannot write a segment commit");
		goto done;
	}
	if (r->memory) { /* checked by mutual__repo_flush_memory */
		mutual_oid *grown = mutual__realloc(r->written, (r->n_written + 1) * sizeof(*grown));
		if (!grown) {
			mutual__fail(MUTUAL_ERROR, "out of memory");
			goto done;
		}
		r->written = grown;
		r->written[r->n_written++] = *out;
	}
	rc = 0;
done:
	git_commit_free(parent);
	git_signature_free(who);
	git_tree_free(tree);
	git_treebuilder_free(tb);
	return rc;
}

typedef struct {
	git_odb_writepack *wp;
	git_indexer_progress stats;
	mutual_transfer_cb cb;
	void *payload;
} copy_ctx;

static int copy_chunk(void *buf, size_t size, void *payload)
{
	copy_ctx *ctx = payload;
	mutual__fault_point();
	return ctx->wp->append(ctx->wp, buf, size, &ctx->stats);
}

static int copy_progress(const git_indexer_progress *stats, void *payload)
{
	copy_ctx *ctx = payload;
	return ctx->cb ? ctx->cb(stats->indexed_objects, stats->total_objects, ctx->payload) : 0;
}

/* Build a pack of what `walk` yields and stream it into `dst`'s odb. */
static int pack_into(mutual_repo *dst, git_repository *src, git_revwalk *walk, uint64_t *copied,
	mutual_transfer_cb cb, void *payload)
{
	git_packbuilder *pb = NULL;
	git_odb *odb = NULL;
	copy_ctx ctx;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cb = cb;
	ctx.payload = payload;
	if ((rc = git_packbuilder_new(&pb, src)) < 0 || (rc = git_packbuilder_insert_walk(pb, walk)) < 0)
		goto done;
	if (copied)
		*copied += git_packbuilder_object_count(pb);
	if (git_packbuilder_object_count(pb) == 0)
		goto done;
	if ((rc = git_repository_odb(&odb, dst->repo)) < 0 ||
	    (rc = git_odb_write_pack(&ctx.wp, odb, copy_progress, &ctx)) < 0)
		goto done;
	if ((rc = git_packbuilder_foreach(pb, copy_chunk, &ctx)) < 0)
		goto done;
	mutual__fault_point();
	rc = ctx.wp->commit(ctx.wp, &ctx.stats);
done:
	if (ctx.wp)
		ctx.wp->free(ctx.wp);
	git_odb_free(odb);
	git_packbuilder_free(pb);
	return rc;
}

/* Every commit from each tip back to a stop (or to the root) is in `dst`,
 * following first parents: what is copied here is linear (a device's log,
 * a fork proof, a newer format's chain). libgit2 1.5's revwalk can end
 * early, without an error, when it runs out of memory (a commit-list node
 * it cannot allocate), and the pack it builds is then short: the caller
 * would record, or point a ref on a medium at, a commit whose history
 * is not there. */
static int copy_complete(mutual_repo *dst, mutual_repo *src, const mutual_oid *tips, size_t n_tips,
	const mutual_oid *stops, size_t n_stops)
{
	git_odb *odb = NULL;
	int rc = 0;

	if (git_repository_odb(&odb, dst->repo) < 0)
		return git_fail(MUTUAL_ERROR, "cannot check the objects copied");
	for (size_t i = 0; i < n_tips && rc == 0; i++) {
		git_oid cur = *(const git_oid *)&tips[i];
		for (;;) {
			git_commit *commit = NULL;
			int stop = 0;
			for (size_t k = 0; k < n_stops && !stop; k++)
				stop = git_oid_equal(&cur, (const git_oid *)&stops[k]);
			if (stop)
				break;
			if (!git_odb_exists(odb, &cur)) {
				/* Only memory makes the walk end early: say so to
				 * mutual__git_out_of_memory() too (sync.c refuses
				 * a log for other copy failures). */
				git_error_set_oom();
				rc = mutual__fail(MUTUAL_ERROR, "cannot copy objects: the pack written lacks a commit "
					"(out of memory); nothing refers to it, sync again");
				break;
			}
			if (git_commit_lookup(&commit, src->repo, &cur) < 0) {
				rc = git_fail(MUTUAL_ERROR, "cannot check the objects copied");
				break;
			}
			stop = git_commit_parentcount(commit) == 0;
			if (!stop)
				git_oid_cpy(&cur, git_commit_parent_id(commit, 0));
			git_commit_free(commit);
			if (stop)
				break;
		}
	}
	git_odb_free(odb);
	return rc;
}

int mutual__repo_copy(mutual_repo *dst, mutual_repo *src, const mutual_oid *tips, size_t n_tips,
	const mutual_oid *stops, size_t n_stops, uint64_t *copied, mutual_transfer_cb cb, void *payload)
{
	git_revwalk *walk = NULL;
	int rc;

	if (n_tips == 0)
		return 0;
	if ((rc = git_revwalk_new(&walk, src->repo)) < 0)
		goto done;
	for (size_t i = 0; i < n_tips && rc == 0; i++)
		rc = git_revwalk_push(walk, (const git_oid *)&tips[i]);
	for (size_t i = 0; i < n_stops && rc == 0; i++)
		if (mutual__repo_has(src, &stops[i]))
			rc = git_revwalk_hide(walk, (const git_oid *)&stops[i]);
	if (rc == 0)
		rc = pack_into(dst, src->repo, walk, copied, cb, payload);
done:
	git_revwalk_free(walk);
	if (rc < 0)
		return translate(rc, "cannot copy objects");
	return copy_complete(dst, src, tips, n_tips, stops, n_stops);
}

/* ------------------------------------------------------------ consolidate */

typedef struct {
	char *base; /* ".../objects/pack/pack-<hash>" */
	uint64_t objects, bytes;
} pack_info;

static int by_objects(const void *a, const void *b)
{
	const pack_info *x = a, *y = b;
	return x->objects < y->objects ? -1 : x->objects > y->objects;
}

/* The object count of a version 2 pack index: the last fanout entry. */
static int idx_count(const char *idx_path, uint64_t *count)
{
	uint8_t head[8 + 256 * 4];
	int fd = open(idx_path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	if (fd < 0)
		return -1;
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n != (ssize_t)sizeof(head) || memcmp(head, "\377tOc\0\0\0\2", 8) != 0)
		return -1;
	*count = mutual__get_u32(head + 8 + 255 * 4);
	return 0;
}

/* Insert every object of a version 2 pack index into `pb`. */
static int insert_idx_objects(git_packbuilder *pb, const char *idx_path, uint64_t count)
{
	uint8_t oid[20];
	FILE *f = fopen(idx_path, "rb");
	int rc = 0;
	if (!f || fseek(f, 8 + 256 * 4, SEEK_SET) != 0) {
		if (f)
			fclose(f);
		return -1;
	}
	for (uint64_t i = 0; i < count && rc == 0; i++) {
		if (fread(oid, 1, 20, f) != 20)
			rc = -1;
		else
			rc = git_packbuilder_insert(pb, (const git_oid *)oid, NULL);
	}
	fclose(f);
	return rc;
}

static void free_packs(pack_info *packs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mutual__free(packs[i].base);
	mutual__free(packs);
}

static int list_packs(pack_info **out, size_t *n_out, const char *repo_path)
{
	mutual_buf dir = { 0 };
	pack_info *packs = NULL;
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	*out = NULL;
	*n_out = 0;
	if (mutual__buf_printf(&dir, "%s/objects/pack", repo_path) < 0)
		return MUTUAL_ERROR;
	if (!(d = opendir((const char *)dir.data))) {
		mutual__buf_free(&dir);
		return 0;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char path[4096];
		struct stat st;
		pack_info *grown;
		uint64_t count;
		if (len < 10 || strncmp(e->d_name, "pack-", 5) != 0 || strcmp(e->d_name + len - 4, ".idx") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%.*s.pack", (const char *)dir.data, (int)(len - 4), e->d_name);
		if (stat(path, &st) < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", (const char *)dir.data, e->d_name);
		if (idx_count(path, &count) < 0)
			continue;
		if (!(grown = mutual__realloc(packs, (n + 1) * sizeof(*packs)))) {
			free_packs(packs, n);
			closedir(d);
			mutual__buf_free(&dir);
			return mutual__fail(MUTUAL_ERROR, "out of memory");
		}
		packs = grown;
		path[strlen(path) - 4] = '\0';
		packs[n].base = mutual__strdup(path);
		packs[n].objects = count;
		packs[n].bytes = (uint64_t)st.st_size;
		if (!packs[n].base) {
			free_packs(packs, n);
			closedir(d);
			mutual__buf_free(&dir);
			return MUTUAL_ERROR;
		}
		n++;
	}
	closedir(d);
	mutual__buf_free(&dir);
	qsort(packs, n, sizeof(*packs), by_objects);
	*out = packs;
	*n_out = n;
	return 0;
}

#define CONSOLIDATE_MAX_BYTES (2ull << 30)

int mutual__repo_consolidate(mutual_repo *r, unsigned *merged)
{
	pack_info *packs = NULL;
	size_t n = 0, take = 0;
	uint64_t acc = 0, bytes = 0;
	git_packbuilder *pb = NULL;
	git_odb *odb = NULL;
	int rc;

	if (merged)
		*merged = 0;
	if ((rc = list_packs(&packs, &n, r->path)) < 0)
		return rc;
	/* Roll up the smallest packs while each next one is at most twice
	 * what has been gathered. */
	for (; take < n; take++) {
		if (take > 0 && packs[take].objects > 2 * acc)
			break;
		if (bytes + packs[take].bytes > CONSOLIDATE_MAX_BYTES)
			break;
		acc += packs[take].objects;
		bytes += packs[take].bytes;
	}
	if (take < 2)
		goto done;
	if ((rc = git_packbuilder_new(&pb, r->repo)) < 0)
		goto fail;
	for (size_t i = 0; i < take; i++) {
		char idx[4096];
		snprintf(idx, sizeof(idx), "%s.idx", packs[i].base);
		if ((rc = insert_idx_objects(pb, idx, packs[i].objects)) < 0)
			goto fail;
	}
	{
		copy_ctx ctx;
		memset(&ctx, 0, sizeof(ctx));
		if ((rc = git_repository_odb(&odb, r->repo)) < 0 || (rc = git_odb_write_pack(&ctx.wp, odb, NULL, NULL)) < 0)
			goto fail;
		rc = git_packbuilder_foreach(pb, copy_chunk, &ctx);
		if (rc == 0) {
			mutual__fault_point();
			rc = ctx.wp->commit(ctx.wp, &ctx.stats);
		}
		ctx.wp->free(ctx.wp);
		if (rc < 0)
			goto fail;
	}
	/* The merged pack is durable (fsync is on): drop the old ones, index
	 * first so no reader sees an index without its pack. A merged pack
	 * with the same objects as one of its inputs has that input's name:
	 * then that input is the result, and stays. */
	{
		pack_info *after = NULL;
		size_t n_after = 0, keep = take;
		int grew = 0;
		if ((rc = list_packs(&after, &n_after, r->path)) < 0)
			goto done;
		for (size_t i = 0; i < n_after && !grew; i++) {
			int known = 0;
			for (size_t k = 0; k < n && !known; k++)
				known = strcmp(after[i].base, packs[k].base) == 0;
			grew = !known;
		}
		free_packs(after, n_after);
		if (!grew) {
			keep = 0;
			for (size_t i = 1; i < take; i++)
				if (packs[i].objects > packs[keep].objects)
					keep = i;
		}
		for (size_t i = 0; i < take; i++) {
			static const char *const exts[] = { ".idx", ".rev", ".keep", ".pack" };
			if (i == keep)
				continue;
			for (size_t k = 0; k < MUTUAL_ARRAY_SIZE(exts); k++) {
				char path[4096];
				snprintf(path, sizeof(path), "%s%s", packs[i].base, exts[k]);
				unlink(path);
			}
		}
	}
	if (merged)
		*merged = (unsigned)take;
	git_odb_refresh(odb);
	rc = 0;
	goto done;
fail:
	rc = git_fail(MUTUAL_ERROR, "cannot consolidate packs");
done:
	git_odb_free(odb);
	git_packbuilder_free(pb);
	free_packs(packs, n);
	return rc;
}

/* ----------------------------------------------------------------- bundles */

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int bundle_chunk(void *buf, size_t size, void *payload)
{
	mutual__fault_point();
	return write_all(*(int *)payload, buf, size) < 0 ? -1 : 0;
}

/* Put `tip` and its first-parent history into `pb`. The refs a bundle
 * carries are linear (device logs, fork proofs, newer formats' chains:
 * sync.c keeps no other), and this walk reports every failure, where
 * git_packbuilder_insert_walk's revwalk ends early, without an error, when
 * it runs out of memory: the bundle would have named commits it did not
 * hold, and replaced the good one on the medium. */
static int insert_history(git_packbuilder *pb, git_repository *repo, const git_oid *tip)
{
	git_oid cur = *tip;
	for (;;) {
		git_commit *commit = NULL;
		int more;
		if (git_packbuilder_insert_commit(pb, &cur) < 0 || git_commit_lookup(&commit, repo, &cur) < 0)
			return -1;
		more = git_commit_parentcount(commit) > 0;
		if (more)
			git_oid_cpy(&cur, git_commit_parent_id(commit, 0));
		git_commit_free(commit);
		if (!more)
			return 0;
	}
}

int mutual__bundle_write(mutual_medium *m, const char *name, mutual_repo *r, const mutual_bundle_ref *refs, size_t n)
{
	git_packbuilder *pb = NULL;
	mutual_buf header = { 0 }, tmp = { 0 };
	char hex[GIT_OID_HEXSZ + 1];
	int fd = -1, rc = MUTUAL_ERROR;

	if (mutual__buf_printf(&header, "# v2 git bundle\n") < 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		git_oid_tostr(hex, sizeof(hex), (const git_oid *)&refs[i].oid);
		if (mutual__buf_printf(&header, "%s %s\n", hex, refs[i].name) < 0)
			goto done;
	}
	if (mutual__buf_put_u8(&header, '\n') < 0)
		goto done;
	if (git_packbuilder_new(&pb, r->repo) < 0) {
		git_fail(MUTUAL_ERROR, "cannot write the bundle");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		if (insert_history(pb, r->repo, (const git_oid *)&refs[i].oid) < 0) {
			git_fail(MUTUAL_ERROR, "cannot write the bundle");
			goto done;
		}
	}
	mutual__fault_point();
	if ((rc = mutual__medium_create_temp(&fd, &tmp, m, name)) < 0)
		goto done;
	rc = MUTUAL_ERROR;
	if (write_all(fd, header.data, header.len) < 0 || git_packbuilder_foreach(pb, bundle_chunk, &fd) < 0) {
		mutual__fail(MUTUAL_ERROR, "cannot write the bundle %s: %s", name, strerror(errno));
		goto done;
	}
	if (fsync(fd) < 0) {
		mutual__fail(MUTUAL_ERROR, "cannot sync the bundle %s: %s", name, strerror(errno));
		goto done;
	}
	close(fd);
	fd = -1;
	mutual__fault_point();
	rc = mutual__medium_replace(m, (const char *)tmp.data, name);
done:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp.len)
		unlinkat(m->dirfd, (const char *)tmp.data, 0);
	git_packbuilder_free(pb);
	mutual__buf_free(&header);
	mutual__buf_free(&tmp);
	return rc;
}

void mutual__bundle_refs_free(mutual_bundle_ref *refs, size_t n)
{
	for (size_t i = 0; refs && i < n; i++)
		mutual__free(refs[i].name);
	mutual__free(refs);
}

/* Read one header line of at most `max` bytes into `line` (no '\n'). */
static int read_line(FILE *f, char *line, size_t max)
{
	size_t n = 0;
	int c;
	while ((c = getc(f)) != EOF && c != '\n') {
		if (n + 1 >= max)
			return -1;
		line[n++] = (char)c;
	}
	line[n] = '\0';
	return c == EOF ? -1 : 0;
}

#define BUNDLE_REFS_MAX 100000

/* A pack's header: "PACK", version 2 or 3, object count. */
static int pack_header_fits(const uint8_t head[12], const char *what)
{
	uint32_t count = mutual__get_u32(head + 8), version = mutual__get_u32(head + 4);
	if (memcmp(head, "PACK", 4) != 0 || (version != 2 && version != 3))
		return mutual__fail(MUTUAL_EINVALID, "%s does not hold a git pack", what);
	if (count > MUTUAL_PACK_OBJECTS_MAX)
		return mutual__fail(MUTUAL_EINVALID, "%s claims %u objects, more than the %u one sync takes", what, count,
			MUTUAL_PACK_OBJECTS_MAX);
	return 0;
}

int mutual__bundle_read(mutual_bundle_ref **refs_out, size_t *n_out, mutual_repo *into, int fd, const char *what,
	mutual_transfer_cb cb, void *payload)
{
	FILE *f = fdopen(fd, "rb");
	mutual_bundle_ref *refs = NULL;
	size_t n = 0, cap = 0;
	uint64_t bytes = 0;
	char line[1024];
	git_odb *odb = NULL;
	copy_ctx ctx;
	int rc = MUTUAL_EINVALID;

	*refs_out = NULL;
	*n_out = 0;
	memset(&ctx, 0, sizeof(ctx));
	ctx.cb = cb;
	ctx.payload = payload;
	if (!f) {
		close(fd);
		return mutual__fail(MUTUAL_ERROR, "cannot read %s: %s", what, strerror(errno));
	}
	if (read_line(f, line, sizeof(line)) < 0 || strcmp(line, "# v2 git bundle") != 0) {
		mutual__fail(MUTUAL_EINVALID, "%s is not a git bundle (version 2)", what);
		goto done;
	}
	for (size_t lines = 0;; lines++) {
		git_oid oid;
		if (read_line(f, line, sizeof(line)) < 0) {
			mutual__fail(MUTUAL_EINVALID, "the bundle %s is truncated or damaged", what);
			goto done;
		}
		if (!line[0])
			break;
		if (line[0] == '-') {
			mutual__fail(MUTUAL_EINVALID, "the bundle %s is incomplete (it needs history it does not hold)", what);
			goto done;
		}
		if (strlen(line) < GIT_OID_HEXSZ + 2 || line[GIT_OID_HEXSZ] != ' ' ||
		    git_oid_fromstrn(&oid, line, GIT_OID_HEXSZ) < 0 || lines >= BUNDLE_REFS_MAX) {
			mutual__fail(MUTUAL_EINVALID, "the bundle %s has a damaged header", what);
			goto done;
		}
		/* Only libmutual's refs are read, kept or passed on. */
		if (strncmp(line + GIT_OID_HEXSZ + 1, MUTUAL_REF_ROOT, strlen(MUTUAL_REF_ROOT)) != 0)
			continue;
		if (n == cap) {
			mutual_bundle_ref *grown = mutual__realloc(refs, (cap = cap ? cap * 2 : 16) * sizeof(*refs));
			if (!grown) {
				rc = mutual__fail(MUTUAL_ERROR, "out of memory");
				goto done;
			}
			refs = grown;
		}
		memcpy(&refs[n].oid, &oid, sizeof(oid));
		if (!(refs[n].name = mutual__strdup(line + GIT_OID_HEXSZ + 1))) {
			rc = MUTUAL_ERROR;
			goto done;
		}
		n++;
	}
	if (git_repository_odb(&odb, into->repo) < 0 || git_odb_write_pack(&ctx.wp, odb, copy_progress, &ctx) < 0) {
		rc = git_fail(MUTUAL_ERROR, "cannot read the bundle");
		goto done;
	}
	for (;;) {
		uint8_t buf[65536];
		size_t got = fread(buf, 1, sizeof(buf), f);
		int arc;
		if (got == 0)
			break;
		if (bytes == 0 && (got < 12 || (rc = pack_header_fits(buf, what)) < 0)) {
			if (got < 12)
				mutual__fail(MUTUAL_EINVALID, "the bundle %s is truncated", what);
			rc = MUTUAL_EINVALID;
			goto done;
		}
		if ((bytes += got) > MUTUAL_PACK_BYTES_MAX) {
			rc = mutual__fail(MUTUAL_EINVALID, "the bundle %s is larger than the %llu bytes one sync takes", what,
				(unsigned long long)MUTUAL_PACK_BYTES_MAX);
			goto done;
		}
		if ((arc = ctx.wp->append(ctx.wp, buf, got, &ctx.stats)) < 0) {
			rc = arc == GIT_EUSER ? translate(arc, "reading the bundle") : object_fail("the bundle's pack is damaged");
			goto done;
		}
	}
	if (ferror(f)) {
		rc = mutual__fail(MUTUAL_ERROR, "cannot read %s: %s", what, strerror(errno));
		goto done;
	}
	if (n && ctx.wp->commit(ctx.wp, &ctx.stats) < 0) {
		rc = object_fail("the bundle's pack is truncated or damaged");
		goto done;
	}
	*refs_out = refs;
	*n_out = n;
	refs = NULL;
	rc = 0;
done:
	if (ctx.wp)
		ctx.wp->free(ctx.wp);
	git_odb_free(odb);
	mutual__bundle_refs_free(refs, n);
	fclose(f);
	return rc;
}

/* ----------------------------------------------------------------- remotes */

/* An http(s) remote is reached with what git itself would use (hub.c):
 * the user's credential helpers, their CA and proxy settings. libgit2
 * (mbedTLS in Debian) reads CA certificates from one process-wide place,
 * GIT_OPT_SET_SSL_CERT_LOCATIONS, so one http(s) fetch or push runs at a
 * time in a process, under tls_lock, with the locations its URL calls
 * for; a URL that names none gets libgit2's built-in bundle back. */
#define DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt" /* Debian's libgit2 1.5's own */
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
	mutual_transfer_cb cb;
	void *payload;
	int ssh_tries;
	char ssh_tried[512]; /* what was offered, for the message when all fail */
	uint64_t pushed;
	mutual_push_reject_cb rejected;
	void *reject_payload;
	int reject_result;
	int too_big; /* the remote sent more than one sync takes */
	/* http(s): */
	const char *url;                   /* as the person gave it (never with a password: mutual__hub_url_check) */
	const mutual_hub_settings *hub;    /* NULL for other schemes */
	mutual_hub_credential *credential; /* the helpers' answer offered to the hub */
	int pushing;
	int read_with_credential; /* the fetch before this push took a credential */
	int no_credential;        /* the hub asked and no helper had one */
	int credential_refused;   /* the hub asked again after the helpers' answer */
	int credential_failed;    /* git could not be asked: the message is set */
} remote_ctx;

static int remote_progress(const git_indexer_progress *stats, void *payload)
{
	remote_ctx *ctx = payload;
	if (stats->received_bytes > MUTUAL_PACK_BYTES_MAX || stats->total_objects > MUTUAL_PACK_OBJECTS_MAX) {
		ctx->too_big = 1;
		return -1;
	}
	return ctx->cb ? ctx->cb(stats->received_objects, stats->total_objects, ctx->payload) : 0;
}

static int push_progress(unsigned int current, unsigned int total, size_t bytes, void *payload)
{
	remote_ctx *ctx = payload;
	(void)bytes;
	ctx->pushed = total;
	return ctx->cb ? ctx->cb(current, total, ctx->payload) : 0;
}

/* SSH: the agent first, then the usual key files in ~/.ssh. */
static const char *const ssh_keys[] = { "id_ed25519", "id_ecdsa", "id_rsa" };
#define SSH_ATTEMPTS (1 + (int)MUTUAL_ARRAY_SIZE(ssh_keys)) /* the agent, then each file */

/* http(s): the helpers' user name and password, once. When the hub asks
 * again it refused them: a second answer would be the same, so the
 * operation stops there (never a loop, never a prompt). */
static int http_credentials(git_credential **out, remote_ctx *ctx, const char *user)
{
	int rc;
	if (ctx->credential) {
		ctx->credential_refused = 1;
		return GIT_EUSER;
	}
	rc = mutual__hub_credential_fill(&ctx->credential, ctx->url, user);
	if (rc == MUTUAL_ENOTFOUND) {
		ctx->no_credential = 1;
		return GIT_EUSER;
	}
	if (rc < 0) {
		ctx->credential_failed = 1;
		return GIT_EUSER;
	}
	if (git_credential_userpass_plaintext_new(out, mutual__hub_credential_username(ctx->credential),
		    mutual__hub_credential_password(ctx->credential)) < 0) {
		ctx->credential_failed = 1;
		git_fail(MUTUAL_ERROR, "cannot hand the credential to libgit2");
		return GIT_EUSER;
	}
	return 0;
}

static int credentials(git_credential **out, const char *url, const char *user, unsigned int allowed,
	void *payload)
{
	remote_ctx *ctx = payload;
	const char *home = getenv("HOME");
	(void)url;
	if (ctx->hub && (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
		return http_credentials(out, ctx, user);
	if (!(allowed & GIT_CREDENTIAL_SSH_KEY))
		return GIT_PASSTHROUGH;
	if (!user)
		user = "git";
	while (ctx->ssh_tries < SSH_ATTEMPTS) {
		int i = ctx->ssh_tries++;
		char path[4096];
		size_t used = strlen(ctx->ssh_tried);
		if (i == 0) {
			if (getenv("SSH_AUTH_SOCK") && git_credential_ssh_key_from_agent(out, user) == 0) {
				snprintf(ctx->ssh_tried + used, sizeof(ctx->ssh_tried) - used, "%sssh-agent", used ? ", " : "");
				return 0;
			}
			continue;
		}
		snprintf(path, sizeof(path), "%s/.ssh/%s", home ? home : "", ssh_keys[i - 1]);
		if (access(path, R_OK) == 0) {
			snprintf(ctx->ssh_tried + used, sizeof(ctx->ssh_tried) - used, "%s~/.ssh/%s", used ? ", " : "",
				ssh_keys[i - 1]);
			return git_credential_ssh_key_new(out, user, NULL, path, NULL);
		}
	}
	ctx->ssh_tries++; /* remember that every key was tried */
	return GIT_PASSTHROUGH;
}

static int push_update(const char *ref, const char *status, void *payload)
{
	remote_ctx *ctx = payload;
	if (status && ctx->rejected)
		ctx->reject_result = ctx->rejected(ref, status, ctx->reject_payload);
	return 0;
}

/* A failed http(s) fetch or push, in words that say what to do: which of
 * the password, the account's rights or the certificate was refused. */
static int http_fail(int rc, remote_ctx *ctx, const char *what)
{
	const git_error *e = git_error_last();
	const char *msg = e && e->message ? e->message : "unknown libgit2 error";

	if (ctx->credential_failed)
		return mutual__fail_wrap(MUTUAL_ERROR, "%s: cannot ask git's credential helpers for %s's password",
			what, ctx->url);
	if (ctx->no_credential)
		return mutual__fail(MUTUAL_ERROR, "%s: %s asks for a user name and password, and no git credential "
			"helper has them (mutual never prompts): set a helper once (git config --global credential.helper "
			"store, or cache, or libsecret) and run 'git ls-remote %s' once in a terminal to give them "
			"(docs/hub.md)", what, ctx->url, ctx->url);
	if (ctx->credential_refused && ctx->pushing && ctx->read_with_credential)
		return mutual__fail(MUTUAL_ERROR, "%s: %s took the user name and password for reading but refused "
			"them for writing: this account may only read this repository (ask the hub's admin for write "
			"access); nothing was sent, and this store keeps everything for the next sync", what, ctx->url);
	if (ctx->credential_refused) {
		mutual__hub_credential_reject(ctx->credential);
		return mutual__fail(MUTUAL_ERROR, "%s: %s refused the user name and password from git's credential "
			"helper (a wrong password, or an account that may not reach this group's repository); the helper "
			"was told to forget them: run 'git ls-remote %s' in a terminal to give the right ones", what,
			ctx->url, ctx->url);
	}
	if (rc == GIT_ECERTIFICATE && strstr(msg, "expired"))
		return mutual__fail(MUTUAL_ERROR, "%s: the TLS certificate of %s has expired (%s): the hub's admin "
			"must renew it; nothing was sent (docs/hub.md)", what, ctx->url, msg);
	if (rc == GIT_ECERTIFICATE)
		return mutual__fail(MUTUAL_ERROR, "%s: the TLS certificate of %s was not accepted (%s): if the hub's "
			"certificate comes from the group's own CA, name that CA's file once with 'git config --global "
			"http.sslCAInfo FILE' (docs/hub.md)%s", what, ctx->url, msg,
			ctx->hub->ssl_verify_off ? "; http.sslVerify=false (or GIT_SSL_NO_VERIFY) is never honoured" : "");
	if (strstr(msg, "failed to connect") || strstr(msg, "failed to resolve") || strstr(msg, "timed out")) {
		if (ctx->hub->proxy_shown[0])
			return mutual__fail(MUTUAL_ERROR, "%s: cannot reach %s through the proxy %s (from http.proxy or "
				"$https_proxy; $no_proxy bypasses it) (%s): nothing was lost; sync again later", what,
				ctx->url, ctx->hub->proxy_shown, msg);
		return mutual__fail(MUTUAL_ERROR, "%s: cannot reach the hub %s (%s): it may be down, or this device "
			"offline; nothing was lost: sync again later, or carry a stick meanwhile", what, ctx->url, msg);
	}
	if (strstr(msg, "status code: 403"))
		return mutual__fail(MUTUAL_ERROR, "%s: %s refused this account (HTTP 403)%s", what, ctx->url,
			ctx->pushing ? ": it may only read this repository (ask the hub's admin for write access); "
				       "nothing was sent, and this store keeps everything for the next sync"
				     : ": it may not read this repository");
	if (strstr(msg, "status code: 404"))
		return mutual__fail(MUTUAL_ERROR, "%s: %s has no such repository (HTTP 404): check the URL, or ask "
			"the hub's admin to create it (docs/hub.md)", what, ctx->url);
	return translate(rc, what);
}

/* Translate a failed fetch or push, naming the ssh keys refused. */
static int remote_fail(int rc, remote_ctx *ctx, const char *what)
{
	if (ctx->too_big)
		return mutual__fail(MUTUAL_EINVALID, "%s: the remote sent more than one sync takes (%u objects or %llu "
			"bytes); nothing of it was kept", what, MUTUAL_PACK_OBJECTS_MAX,
			(unsigned long long)MUTUAL_PACK_BYTES_MAX);
	if (rc != GIT_EUSER && ctx->ssh_tries > SSH_ATTEMPTS)
		return mutual__fail(MUTUAL_ERROR, "%s: ssh authentication failed: the server refused %s%s: put this device's public key on the "
			"server, or a key in ~/.ssh (or an ssh-agent)", what,
			ctx->ssh_tried[0] ? "the ssh keys tried: " : "to log in: no ssh key was found",
			ctx->ssh_tried);
	if (ctx->hub && (rc != GIT_EUSER || ctx->no_credential || ctx->credential_refused || ctx->credential_failed))
		return http_fail(rc, ctx, what);
	return translate(rc, what);
}

static void remote_callbacks(git_remote_callbacks *cbs, remote_ctx *ctx)
{
	cbs->transfer_progress = remote_progress;
	cbs->push_transfer_progress = push_progress;
	cbs->credentials = credentials;
	cbs->push_update_reference = push_update;
	cbs->payload = ctx;
}

/* For an http(s) URL: its settings read, the process's TLS lock taken
 * and libgit2 given the CA locations and the proxy. */
static int http_begin(remote_ctx *ctx, mutual_hub_settings *hub, git_proxy_options *proxy, const char *url)
{
	const char *file, *path;
	int rc;

	ctx->url = url;
	if (!mutual__hub_is_http(url))
		return 0;
	if ((rc = mutual__hub_settings_get(hub, url)) < 0)
		return rc;
	ctx->hub = hub;
	if (hub->proxy[0]) {
		proxy->type = GIT_PROXY_SPECIFIED;
		proxy->url = hub->proxy;
	} else {
		proxy->type = GIT_PROXY_NONE;
	}
	file = hub->cainfo[0] ? hub->cainfo : (hub->capath[0] ? NULL : DEFAULT_CA_FILE);
	path = hub->capath[0] ? hub->capath : NULL;
	pthread_mutex_lock(&tls_lock);
	if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, path) < 0) {
		const git_error *e = git_error_last();
		pthread_mutex_unlock(&tls_lock);
		ctx->hub = NULL;
		return mutual__fail(MUTUAL_ERROR, "cannot read the CA certificates in %s%s%s (from GIT_SSL_CAINFO, "
			"http.sslCAInfo, SSL_CERT_FILE or their CAPath forms): %s", file ? file : "", file && path ? " and " : "",
			path ? path : "", e && e->message ? e->message : "unknown libgit2 error");
	}
	return 0;
}

/* Connect before fetching or pushing: libgit2 1.5's git_remote_fetch and
 * git_remote_push lose their copy of the proxy's URL when the connection
 * fails (a proxy or hub that is down); connected first, they only hand
 * the options to the transport, which frees them. */
static int connect_first(git_remote *remote, git_direction direction, const git_remote_callbacks *cbs,
	const git_proxy_options *proxy)
{
	git_remote_connect_options copts;
	int rc;
	if ((rc = git_remote_connect_options_init(&copts, GIT_REMOTE_CONNECT_OPTIONS_VERSION)) < 0)
		return rc;
	copts.callbacks = *cbs;
	copts.proxy_opts = *proxy;
	return git_remote_connect_ext(remote, direction, &copts);
}

/* The lock released; the helpers told whether the hub took their answer. */
static void http_end(remote_ctx *ctx, int ok)
{
	if (!ctx->hub)
		return;
	pthread_mutex_unlock(&tls_lock);
	if (ok && ctx->credential)
		mutual__hub_credential_approve(ctx->credential);
	mutual__hub_credential_free(ctx->credential);
	ctx->credential = NULL;
}

int mutual__remote_fetch(mutual_repo *local, const char *url, mutual_remote_session *session,
	const char *into_prefix, uint64_t *objects, mutual_transfer_cb cb, void *payload)
{
	git_fetch_options opts;
	git_remote *remote = NULL;
	mutual_hub_settings hub;
	remote_ctx ctx;
	char spec[512], *specs[1] = { spec };
	git_strarray refspecs = { specs, 1 };
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cb = cb;
	ctx.payload = payload;
	snprintf(spec, sizeof(spec), "+" MUTUAL_REF_ROOT "*:%s*", into_prefix);
	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	remote_callbacks(&opts.callbacks, &ctx);
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.update_fetchhead = 0;
	if ((rc = http_begin(&ctx, &hub, &opts.proxy_opts, url)) < 0)
		return rc;
	if ((rc = git_remote_create_anonymous(&remote, local->repo, url)) == 0 &&
	    (rc = connect_first(remote, GIT_DIRECTION_FETCH, &opts.callbacks, &opts.proxy_opts)) == 0)
		rc = git_remote_fetch(remote, &refspecs, &opts, NULL);
	if (rc == 0 && objects)
		*objects += git_remote_stats(remote)->indexed_objects;
	git_remote_free(remote);
	if (rc < 0)
		rc = remote_fail(rc, &ctx, "cannot fetch");
	if (rc == 0 && session && ctx.credential)
		session->read_with_credential = 1;
	http_end(&ctx, rc == 0);
	return rc;
}

int mutual__remote_push(mutual_repo *local, const char *url, mutual_remote_session *session, char **refspecs,
	size_t n, uint64_t *objects, mutual_push_reject_cb rejected, void *payload, mutual_transfer_cb cb,
	void *cb_payload)
{
	git_push_options opts;
	git_remote *remote = NULL;
	mutual_hub_settings hub;
	remote_ctx ctx;
	git_strarray specs = { refspecs, n };
	int rc;

	if (n == 0)
		return 0;
	memset(&ctx, 0, sizeof(ctx));
	ctx.cb = cb;
	ctx.payload = cb_payload;
	ctx.rejected = rejected;
	ctx.reject_payload = payload;
	ctx.pushing = 1;
	ctx.read_with_credential = session && session->read_with_credential;
	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	remote_callbacks(&opts.callbacks, &ctx);
	if ((rc = http_begin(&ctx, &hub, &opts.proxy_opts, url)) < 0)
		return rc;
	if ((rc = git_remote_create_anonymous(&remote, local->repo, url)) == 0 &&
	    (rc = connect_first(remote, GIT_DIRECTION_PUSH, &opts.callbacks, &opts.proxy_opts)) == 0)
		rc = git_remote_push(remote, &specs, &opts);
	git_remote_free(remote);
	if (rc < 0)
		rc = remote_fail(rc, &ctx, "cannot push");
	http_end(&ctx, rc == 0);
	if (rc < 0)
		return rc;
	if (objects)
		*objects += ctx.pushed;
	return ctx.reject_result;
}
