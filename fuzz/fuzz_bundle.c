/*
 * fuzz_bundle.c - a bundle file from a hostile channel (an e-mail
 * attachment, a messenger): opened through medium.c as a sync opens it,
 * its header parsed and its pack indexed into a quarantine. Nothing may
 * crash, leak or read out of bounds; a damaged or oversized pack is
 * refused.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "git.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], file[96];
static mutual_medium medium = { -1, NULL };
static mutual_repo *repo;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	mutual__repo_free(repo);
	mutual__medium_close(&medium);
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mutual_bundle_ref *refs = NULL;
	size_t n = 0;
	uint64_t len;
	FILE *f;
	int fd;

	if (!repo) {
		snprintf(dir, sizeof(dir), "/tmp/mutual-fuzz-bundle-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		char *store = NULL, *path = NULL;
		snprintf(file, sizeof(file), "%s/in.bundle", dir);
		if (mutual__medium_open(&medium, dir) != 0 || mutual__medium_repo(&store, &medium, "sync.git", MUTUAL_MEDIUM_CREATE) != 0 ||
		    mutual__medium_quarantine(&path, &medium, "incoming.git", "sync.git") != 0 ||
		    mutual__repo_open(&repo, path) != 0)
			abort();
		free(store);
		free(path);
		atexit(cleanup);
	}
	if (!(f = fopen(file, "wb")))
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if (mutual__medium_open_read(&fd, &len, &medium, "in.bundle") != 0)
		abort();
	if (mutual__bundle_read(&refs, &n, repo, fd, file, NULL, NULL) == 0)
		mutual__bundle_refs_free(refs, n);
	unlink(file);
	return 0;
}
