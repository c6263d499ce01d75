/*
 * sticks.c - where the Sync page may sync to, and the record of the last
 * sync.
 *
 * The targets are only the --stick folders given at start and removable
 * media mounted under /media or /run/media (read from /proc/self/mounts at
 * each use, since sticks come and go): a page never names a path, so no
 * request can make the server write somewhere else.
 *
 * The last sync is one line in <store>/web-last-sync, "v1 MS RECEIVED SENT
 * LABEL", written to a temporary file of mode 0600, fsynced and renamed over
 * the old one, so a crash leaves the old record or the new, never half.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "web.h"

#define LAST_SYNC_FILE "web-last-sync"

/* The folder's own name, as people know the stick; control characters,
 * which a volume label may hold, become '?'. */
static void make_label(char out[WEB_LABEL_MAX], const char *path)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	size_t start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (start == len) /* "/" */
		start = 0;
	size_t n = len - start < WEB_LABEL_MAX - 1 ? len - start : WEB_LABEL_MAX - 1;
	memcpy(out, path + start, n);
	out[n] = '\0';
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* /proc/self/mounts writes space, tab, newline and backslash as \ooo. */
static void unescape_mount(char *s)
{
	char *out = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
			p[3] >= '0' && p[3] <= '7') {
			*out++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*out++ = *p;
		}
	}
	*out = '\0';
}

static int listed(const web_stick *sticks, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(sticks[i].path, path) == 0)
			return 1;
	return 0;
}

size_t sticks_list(web *w, web_stick *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < w->n_stick_dirs && n < max; i++) {
		snprintf(out[n].path, sizeof(out[n].path), "%s", w->stick_dirs[i]);
		make_label(out[n].label, out[n].path);
		n++;
	}
	FILE *f = fopen("/proc/self/mounts", "re");
	if (!f)
		return n;
	char *line = NULL;
	size_t line_cap = 0;
	while (n < max && getline(&line, &line_cap, f) > 0) {
		char *save = NULL;
		char *device = strtok_r(line, " ", &save);
		char *dir = device ? strtok_r(NULL, " ", &save) : NULL;
		if (!dir)
			continue;
		unescape_mount(dir);
		if (strncmp(dir, "/media/", 7) != 0 && strncmp(dir, "/run/media/", 11) != 0)
			continue;
		if (strlen(dir) >= sizeof(out[n].path) || listed(out, n, dir))
			continue;
		snprintf(out[n].path, sizeof(out[n].path), "%s", dir);
		make_label(out[n].label, dir);
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

void last_sync_load(web *w)
{
	char path[4096], line[512];
	long long at;
	unsigned long long received, sent;
	int label_at = 0;
	memset(&w->last_sync, 0, sizeof(w->last_sync));
	snprintf(path, sizeof(path), "%s/%s", w->store_dir, LAST_SYNC_FILE);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) &&
		sscanf(line, "v1 %lld %llu %llu %n", &at, &received, &sent, &label_at) == 3 &&
		label_at > 0) {
		line[strcspn(line, "\n")] = '\0';
		w->last_sync.known = 1;
		w->last_sync.at = at;
		w->last_sync.received = received;
		w->last_sync.sent = sent;
		make_label(w->last_sync.label, line + label_at);
	}
	fclose(f);
}

int last_sync_save(web *w)
{
	char line[512];
	const web_last_sync *ls = &w->last_sync;
	int n = snprintf(line, sizeof(line), "v1 %" PRId64 " %" PRIu64 " %" PRIu64 " %s\n", ls->at,
		ls->received, ls->sent, ls->label);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return web_write_private(w, LAST_SYNC_FILE, line, (size_t)n);
}
