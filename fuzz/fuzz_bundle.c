/*
 * fuzz_bundle.c - a bundle file from a hostile channel (an e-mail
 * attachment, a messenger): its header parsed and its pack indexed into a
 * scratch repository. Nothing may crash, leak or read out of bounds; a
 * damaged pack is refused.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "git.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], repo_path[96], file[96];
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
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mutual_bundle_ref *refs = NULL;
	size_t n = 0;
	FILE *f;

	if (!repo) {
		snprintf(dir, sizeof(dir), "/tmp/mutual-fuzz-bundle-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(repo_path, sizeof(repo_path), "%s/repo.git", dir);
		snprintf(file, sizeof(file), "%s/in.bundle", dir);
		if (mutual__repo_open(&repo, repo_path, 1) != 0)
			abort();
		atexit(cleanup);
	}
	if (!(f = fopen(file, "wb")))
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if (mutual__bundle_read(&refs, &n, repo, file, NULL, NULL) == 0)
		mutual__bundle_refs_free(refs, n);
	unlink(file);
	return 0;
}
