/*
 * check.c - temp folders and the case runner for the C tests.
 */
#define _XOPEN_SOURCE 700
#include "check.h"

#include <ftw.h>
#include <unistd.h>

static char dir[4096];

const char *tmp_dir(void)
{
	if (!dir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/mutual-test-XXXXXX", base && *base ? base : "/tmp");
		CHECK(mkdtemp(dir) != NULL);
	}
	return dir;
}

const char *tmp_path(const char *name)
{
	static char bufs[8][4096];
	static int next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", tmp_dir(), name);
	return b;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tmp_cleanup(void)
{
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	dir[0] = '\0';
}

int run_cases(const test_case *cases, size_t n, int argc, char **argv)
{
	int ran = 0;
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		fprintf(stderr, "-- %s\n", cases[i].name);
		cases[i].run();
		tmp_cleanup();
		ran++;
	}
	if (!ran) {
		fprintf(stderr, "no test case named '%s'\n", argc > 1 ? argv[1] : "");
		return 1;
	}
	return 0;
}

mutual_store *check_store_create(const char *name, const char *device)
{
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	mutual_store *s = NULL;
	opts.device_name = device;
	CHECK_OK(mutual_store_create(&s, tmp_path(name), "Test group", &opts));
	return s;
}

mutual_store *check_store_join(mutual_store *inviter, const char *name, const char *device)
{
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	mutual_store *s = NULL;
	char *text = NULL;
	opts.device_name = device;
	CHECK_OK(mutual_invite_text(&text, inviter));
	CHECK_OK(mutual_store_join_text(&s, tmp_path(name), text, &opts));
	mutual_free(text);
	return s;
}
