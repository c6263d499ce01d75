/*
 * medium.c - the one way the library touches a medium (see medium.h).
 *
 * NOTES ON THE DESIGN
 *  1. Every name on a medium is reached with an *at() call from the
 *     descriptor of the folder the person named, with O_NOFOLLOW, so no
 *     link on the medium can lead outside it; folders are entered only
 *     through O_DIRECTORY|O_NOFOLLOW descriptors.
 *  2. A file is ours when it is a regular file with one link, owned by this
 *     user: checked with fstatat() before it is opened (so a FIFO or device
 *     node is never opened) and with fstat() after (the same inode). A file
 *     that is not ours is never truncated, written, renamed over or
 *     removed: a hard link to someone's file stays untouched.
 *  3. libgit2 follows symlinks, alternates, gitdir and commondir files and
 *     takes settings from a repository's config. It only opens a
 *     repository this module has walked and found to be plain folders and
 *     files of ours, with none of those, and whose config we just wrote.
 *  4. Cleanup removes only names we (or libgit2 for us) create, and only
 *     when they are plain files of ours; the one recursive removal is of
 *     the quarantine, in the store's own folder, through descriptors.
 */
#include "medium.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "git.h"

#define LOCK_WAIT_MS 30000
#define WALK_DEPTH_MAX 16        /* refs/mutual/v1/devices/<hex> is 5 deep */
#define WALK_ENTRIES_MAX 1000000 /* files and folders in one repository */
#define FILE_MAX (64u << 20)     /* 64 MiB: any file of a repository but its packs (packed-refs, loose objects) */
#define LOCK_NOTE_SIZE 64        /* bytes for the "pid <n>" a lock file holds */

/* What libgit2 reads from a repository besides its objects and refs, and
 * which could point it elsewhere or rewrite history. */
static const char *const forbidden[] = {
	"objects/info/alternates", "objects/info/http-alternates", "commondir", "gitdir", "worktrees",
	"info/grafts", "shallow", "modules",
};

static const char repo_config[] = "[core]\n"
				  "\trepositoryformatversion = 0\n"
				  "\tfilemode = true\n"
				  "\tbare = true\n"
				  "[pack]\n"
				  /* libgit2 searches no deltas in a file bigger than this:
				   * encrypted segments never share bytes (half a sync's CPU) */
				  "\tdeltaCacheSize = 1\n";

int mutual__medium_open(mutual_medium *m, const char *folder)
{
	m->dirfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	m->path = NULL;
	if (m->dirfd < 0)
		return mutual__fail(errno == ENOENT || errno == ENOTDIR ? MUTUAL_ENOTFOUND : MUTUAL_ERROR,
			"%s is not a folder that can be opened (is the stick plugged in and mounted?): %s", folder,
			strerror(errno));
	if (!(m->path = mutual__strdup(folder))) {
		close(m->dirfd);
		m->dirfd = -1;
		return MUTUAL_ERROR;
	}
	return 0;
}

int mutual__medium_open_parent(mutual_medium *m, const char **base, const char *file)
{
	const char *slash = strrchr(file, '/');
	char *dir;
	int rc;

	*base = slash ? slash + 1 : file;
	if (!**base || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
		return mutual__fail(MUTUAL_EINVALID, "%s does not name a file", file);
	if (!slash)
		return mutual__medium_open(m, ".");
	if (!(dir = mutual__strdup(file)))
		return MUTUAL_ERROR;
	dir[slash - file] = '\0';
	rc = mutual__medium_open(m, slash == file ? "/" : dir);
	mutual__free(dir);
	return rc;
}

void mutual__medium_close(mutual_medium *m)
{
	if (m->dirfd >= 0)
		close(m->dirfd);
	m->dirfd = -1;
	mutual__free(m->path);
	m->path = NULL;
}

/* NOTES 2: why `st` is not a file of ours, or NULL when it is. */
static const char *not_ours(const struct stat *st)
{
	static _Thread_local char why[96];
	if (S_ISLNK(st->st_mode))
		return "is a symbolic link";
	if (!S_ISREG(st->st_mode))
		return "is not a plain file (a FIFO, a device or a folder)";
	if (st->st_nlink != 1) {
		snprintf(why, sizeof(why), "has %lu names (a hard link)", (unsigned long)st->st_nlink);
		return why;
	}
	if (st->st_uid != geteuid()) {
		snprintf(why, sizeof(why), "belongs to another user (uid %lu)", (unsigned long)st->st_uid);
		return why;
	}
	return NULL;
}

static int refuse_file(const mutual_medium *m, const char *name, const char *why)
{
	return mutual__fail(MUTUAL_EINVALID, "refusing %s/%s: it %s, so it is not a file libmutual made; nothing was "
		"read or written (remove it if it should not be there)", m->path, name, why);
}

/* Open `name` (existing) with `flags`, refusing anything not ours. */
static int open_ours(int *fd_out, const mutual_medium *m, const char *name, int flags)
{
	struct stat before, after;
	const char *why;
	int fd;

	*fd_out = -1;
	if (fstatat(m->dirfd, name, &before, AT_SYMLINK_NOFOLLOW) < 0)
		return mutual__fail(errno == ENOENT ? MUTUAL_ENOTFOUND : MUTUAL_ERROR, "cannot read %s/%s: %s", m->path,
			name, strerror(errno));
	if ((why = not_ours(&before)))
		return refuse_file(m, name, why);
	fd = openat(m->dirfd, name, flags | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return mutual__fail(errno == EROFS ? MUTUAL_EREADONLY : errno == ENOENT ? MUTUAL_ENOTFOUND : MUTUAL_ERROR,
			"cannot open %s/%s: %s", m->path, name, strerror(errno));
	if (fstat(fd, &after) < 0 || after.st_dev != before.st_dev || after.st_ino != before.st_ino ||
	    (why = not_ours(&after))) {
		close(fd);
		return refuse_file(m, name, why ? why : "changed while it was opened");
	}
	*fd_out = fd;
	return 0;
}

int mutual__medium_lock(int *fd_out, mutual_medium *m, const char *name, const char *what)
{
	char note[LOCK_NOTE_SIZE];
	int fd, rc;

	*fd_out = -1;
	fd = openat(m->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST)
		return mutual__fail(errno == EROFS ? MUTUAL_EREADONLY : MUTUAL_ERROR, "cannot lock %s/%s: %s", m->path,
			name, strerror(errno));
	if (fd < 0 && (rc = open_ours(&fd, m, name, O_RDWR)) < 0)
		return rc;
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; waited += 100) {
		if (errno != EWOULDBLOCK || waited >= LOCK_WAIT_MS) {
			close(fd);
			return mutual__fail(MUTUAL_EBUSY, "%s is busy: another sync is using it; try again", what);
		}
		usleep(100 * 1000);
	}
	/* Say who holds it, for a person looking at the stick. */
	snprintf(note, sizeof(note), "pid %ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, note, strlen(note), 0) < 0) {
		/* only informative */
	}
	*fd_out = fd;
	return 0;
}

void mutual__medium_unlock(int fd, mutual_medium *m, const char *name)
{
	struct stat held, now;
	if (fd < 0)
		return;
	if (name && fstat(fd, &held) == 0 && fstatat(m->dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    held.st_dev == now.st_dev && held.st_ino == now.st_ino)
		unlinkat(m->dirfd, name, 0);
	close(fd); /* closing drops the flock */
}

int mutual__medium_open_read(int *fd, uint64_t *size, mutual_medium *m, const char *name)
{
	struct stat st;
	int rc = open_ours(fd, m, name, O_RDONLY);
	if (rc < 0)
		return rc;
	if (fstat(*fd, &st) < 0) {
		close(*fd);
		*fd = -1;
		return mutual__fail(MUTUAL_ERROR, "cannot read %s/%s: %s", m->path, name, strerror(errno));
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

int mutual__medium_create_temp(int *fd, mutual_buf *tmp, mutual_medium *m, const char *base)
{
	tmp->len = 0;
	if (mutual__buf_printf(tmp, "%s.tmp-%ld", base, (long)getpid()) < 0)
		return MUTUAL_ERROR;
	*fd = openat(m->dirfd, (const char *)tmp->data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
		0644);
	if (*fd < 0)
		return mutual__fail(errno == EROFS ? MUTUAL_EREADONLY : MUTUAL_ERROR, "cannot create %s/%s: %s", m->path,
			(const char *)tmp->data, strerror(errno));
	return 0;
}

int mutual__medium_replace(mutual_medium *m, const char *tmp, const char *name)
{
	struct stat st;
	const char *why;
	if (fstatat(m->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (why = not_ours(&st)))
		return refuse_file(m, name, why);
	if (renameat(m->dirfd, tmp, m->dirfd, name) < 0)
		return mutual__fail(MUTUAL_ERROR, "cannot replace %s/%s: %s", m->path, name, strerror(errno));
	/* The rename is durable once the folder is synced. */
	if (fsync(m->dirfd) < 0 && errno != EINVAL)
		return mutual__fail(MUTUAL_ERROR, "cannot sync folder %s: %s", m->path, strerror(errno));
	return 0;
}

/* Remove `name` from `dirfd` if it is a plain file of ours (NOTES 4). */
static void unlink_ours(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !not_ours(&st))
		unlinkat(dirfd, name, 0);
}

static DIR *open_listing(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d;
	if (fd < 0)
		return NULL;
	if (!(d = fdopendir(fd)))
		close(fd);
	else
		rewinddir(d);
	return d;
}

/* Enter the folder `name` of `dirfd` that fstatat() reported as `st`:
 * never through a link, and only if it is still that folder. -1 if not. */
static int enter_dir(int dirfd, const char *name, const struct stat *st)
{
	struct stat now;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Create `name` in `dirfd` (it must not exist) holding `data`, fsynced.
 * -1 with errno set on failure; nothing half written is left. */
static int create_file(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode), e;
	if (fd < 0)
		return -1;
	if (write(fd, data, len) == (ssize_t)len && fsync(fd) == 0)
		return close(fd);
	e = errno ? errno : EIO;
	close(fd);
	unlinkat(dirfd, name, 0);
	errno = e;
	return -1;
}

void mutual__medium_remove_stale_temps(mutual_medium *m, const char *base)
{
	DIR *d = open_listing(m->dirfd);
	struct dirent *e;
	size_t n = strlen(base);
	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *pid = e->d_name + n + 5;
		if (strncmp(e->d_name, base, n) == 0 && strncmp(e->d_name + n, ".tmp-", 5) == 0 && *pid &&
		    strspn(pid, "0123456789") == strlen(pid))
			unlink_ours(m->dirfd, e->d_name);
	}
	closedir(d);
}

/* ------------------------------------------------------- repository walk */

typedef struct {
	const mutual_medium *m;
	const char *repo;
	size_t entries;
	int clean;      /* remove a killed sync's files (we hold the medium's lock) */
	char rel[1024]; /* the entry's path inside the repository */
} walk_ctx;

static int refuse_entry(const walk_ctx *w, const char *why)
{
	return mutual__fail(MUTUAL_EINVALID, "refusing the repository %s/%s: %s %s; nothing was read or written "
		"(a libmutual repository holds only plain files and folders made by libmutual)", w->m->path, w->repo,
		w->rel, why);
}

static int walk_dir(walk_ctx *w, int dirfd, int depth)
{
	size_t rel_len = strlen(w->rel);
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (depth > WALK_DEPTH_MAX)
		return refuse_entry(w, "is nested too deep");
	if (!(d = open_listing(dirfd)))
		return mutual__fail(MUTUAL_ERROR, "cannot list %s/%s/%s: %s", w->m->path, w->repo, w->rel, strerror(errno));
	while (rc == 0 && (e = readdir(d))) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (rel_len + 1 + strlen(e->d_name) >= sizeof(w->rel)) {
			rc = refuse_entry(w, "holds a name too long");
			break;
		}
		snprintf(w->rel + rel_len, sizeof(w->rel) - rel_len, "%s%s", rel_len ? "/" : "", e->d_name);
		if (++w->entries > WALK_ENTRIES_MAX) {
			rc = refuse_entry(w, "is one entry too many (more than 1,000,000 files)");
			break;
		}
		for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(forbidden) && rc == 0; i++)
			if (strcmp(w->rel, forbidden[i]) == 0)
				rc = refuse_entry(w, "would point libgit2 at other repositories or rewrite history");
		if (rc)
			break;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = mutual__fail(MUTUAL_ERROR, "cannot read %s/%s/%s: %s", w->m->path, w->repo, w->rel,
				strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub;
			if (st.st_uid != geteuid()) {
				rc = refuse_entry(w, "belongs to another user");
				break;
			}
			if ((sub = enter_dir(dirfd, e->d_name, &st)) < 0) {
				rc = refuse_entry(w, "cannot be entered as a folder");
				break;
			}
			rc = walk_dir(w, sub, depth + 1);
			close(sub);
		} else {
			const char *why = not_ours(&st);
			if (why)
				rc = refuse_entry(w, why);
			else if ((uint64_t)st.st_size > FILE_MAX && strncmp(w->rel, "objects/pack/", 13) != 0)
				rc = refuse_entry(w, "is larger than 64 MiB");
			/* Under our lock only a killed sync can have left one. */
			else if (w->clean && mutual__git_is_temp_file(e->d_name))
				unlinkat(dirfd, e->d_name, 0);
		}
		w->rel[rel_len] = '\0';
	}
	closedir(d);
	return rc;
}

/* The layout libgit2 needs (idempotent: it also completes a repository
 * whose creation a pulled stick cut short). */
static int ensure_layout(const mutual_medium *m, int repofd, const char *name)
{
	static const char *const dirs[] = { "objects", "objects/pack", "objects/info", "refs", "refs/heads",
		"refs/tags" };
	struct stat st;
	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(dirs); i++)
		if (mkdirat(repofd, dirs[i], 0777) < 0 && errno != EEXIST)
			return mutual__fail(errno == EROFS ? MUTUAL_EREADONLY : MUTUAL_ERROR, "cannot create %s/%s/%s: %s",
				m->path, name, dirs[i], strerror(errno));
	if (fstatat(repofd, "HEAD", &st, AT_SYMLINK_NOFOLLOW) < 0) {
		static const char head[] = "ref: refs/heads/master\n";
		if (create_file(repofd, "HEAD", head, sizeof(head) - 1, 0666) < 0)
			return mutual__fail(errno == EROFS ? MUTUAL_EREADONLY : MUTUAL_ERROR, "cannot create %s/%s/HEAD: %s",
				m->path, name, strerror(errno));
	}
	return 0;
}

/* NOTES 3: the config is ours, whatever the medium held. */
static int write_config(const mutual_medium *m, int repofd, const char *name)
{
	char held[sizeof(repo_config) + 1];
	ssize_t n = -1;
	int fd = openat(repofd, "config", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	const char *tmp = "config.tmp-mutual";

	if (fd >= 0) {
		n = read(fd, held, sizeof(held));
		close(fd);
	}
	if (n == (ssize_t)sizeof(repo_config) - 1 && memcmp(held, repo_config, (size_t)n) == 0)
		return 0;
	unlinkat(repofd, tmp, 0);
	if (create_file(repofd, tmp, repo_config, sizeof(repo_config) - 1, 0666) < 0) {
		if (errno == EROFS)
			return 0; /* a read-only medium: nothing will be written through its config */
		return mutual__fail(MUTUAL_ERROR, "cannot write %s/%s/config: %s", m->path, name, strerror(errno));
	}
	if (renameat(repofd, tmp, repofd, "config") < 0)
		return mutual__fail(MUTUAL_ERROR, "cannot write %s/%s/config: %s", m->path, name, strerror(errno));
	return 0;
}

int mutual__medium_repo(char **path, mutual_medium *m, const char *name, unsigned flags)
{
	struct stat st;
	walk_ctx w;
	int repofd = -1, rc;

	*path = NULL;
	if (fstatat(m->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return mutual__fail(MUTUAL_ERROR, "cannot read %s/%s: %s", m->path, name, strerror(errno));
		if (!(flags & MUTUAL_MEDIUM_CREATE))
			return mutual__fail(MUTUAL_ENOTFOUND, "no repository at %s/%s", m->path, name);
		if (mkdirat(m->dirfd, name, 0777) < 0 && errno != EEXIST)
			return mutual__fail(errno == EROFS ? MUTUAL_EREADONLY : MUTUAL_ERROR, "cannot create %s/%s: %s",
				m->path, name, strerror(errno));
		if (fstatat(m->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return mutual__fail(MUTUAL_ERROR, "cannot read %s/%s: %s", m->path, name, strerror(errno));
	}
	memset(&w, 0, sizeof(w));
	w.m = m;
	w.repo = name;
	if (!S_ISDIR(st.st_mode))
		return refuse_entry(&w, S_ISLNK(st.st_mode) ? "itself is a symbolic link" : "itself is not a folder");
	if (st.st_uid != geteuid())
		return refuse_entry(&w, "itself belongs to another user (is the stick mounted for another user?)");
	if ((repofd = enter_dir(m->dirfd, name, &st)) < 0) {
		rc = refuse_entry(&w, "itself cannot be entered as a folder");
		goto done;
	}
	/* Check everything first, so a refused repository is left as it was;
	 * then, ours to write, clean it and complete it. */
	if ((rc = walk_dir(&w, repofd, 0)) < 0)
		goto done;
	if (!(flags & MUTUAL_MEDIUM_CHECK_ONLY)) {
		w.clean = 1;
		w.entries = 0;
		if ((rc = walk_dir(&w, repofd, 0)) < 0 || (rc = ensure_layout(m, repofd, name)) < 0 ||
		    (rc = write_config(m, repofd, name)) < 0)
			goto done;
	}
	if (!(*path = mutual__path_join(m->path, name)))
		rc = MUTUAL_ERROR;
done:
	if (repofd >= 0)
		close(repofd);
	return rc;
}

/* ------------------------------------------------------------- quarantine */

/* Remove everything in `dirfd` (our own quarantine), through descriptors. */
static void remove_contents(int dirfd, int depth)
{
	DIR *d = open_listing(dirfd);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d))) {
		int sub;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd, e->d_name, 0) == 0 || errno != EISDIR)
			continue;
		sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0 && depth < WALK_DEPTH_MAX)
			remove_contents(sub, depth + 1);
		if (sub >= 0)
			close(sub);
		unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

void mutual__medium_quarantine_drop(mutual_medium *m, const char *name)
{
	struct stat st;
	int fd;
	if (fstatat(m->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlinkat(m->dirfd, name, 0);
		return;
	}
	if ((fd = openat(m->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		remove_contents(fd, 0);
		close(fd);
	}
	unlinkat(m->dirfd, name, AT_REMOVEDIR);
}

int mutual__medium_quarantine(char **path, mutual_medium *m, const char *name, const char *objects_of)
{
	mutual_buf alt = { 0 };
	int repofd = -1, rc;

	*path = NULL;
	mutual__medium_quarantine_drop(m, name);
	if (mkdirat(m->dirfd, name, 0700) < 0)
		return mutual__fail(MUTUAL_ERROR, "cannot create %s/%s: %s", m->path, name, strerror(errno));
	repofd = openat(m->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (repofd < 0) {
		rc = mutual__fail(MUTUAL_ERROR, "cannot open %s/%s: %s", m->path, name, strerror(errno));
		goto done;
	}
	if ((rc = ensure_layout(m, repofd, name)) < 0 || (rc = write_config(m, repofd, name)) < 0)
		goto done;
	/* Read through to the store's objects, as git's receive-pack quarantine
	 * does: a fetch can then build on what the store holds. Relative to
	 * our objects folder, so a relative store path works too. */
	if ((rc = mutual__buf_printf(&alt, "../../%s/objects\n", objects_of)) < 0)
		goto done;
	if (create_file(repofd, "objects/info/alternates", alt.data, alt.len, 0600) < 0) {
		rc = mutual__fail(MUTUAL_ERROR, "cannot prepare the quarantine %s/%s: %s", m->path, name, strerror(errno));
		goto done;
	}
	if (!(*path = mutual__path_join(m->path, name)))
		rc = MUTUAL_ERROR;
done:
	if (repofd >= 0)
		close(repofd);
	mutual__buf_free(&alt);
	return rc;
}
