/*
 * assets.h - the style sheet and script, built into the binary from
 * examples/web/assets/ by embed.py, so mutual-web is one file to install.
 */
#ifndef MUTUAL_WEB_ASSETS_H
#define MUTUAL_WEB_ASSETS_H

#include <stddef.h>

typedef struct web_asset {
	const char *path; /* "/assets/style.css" */
	const char *type; /* its Content-Type */
	const unsigned char *data;
	size_t len;
} web_asset;

extern const web_asset web_assets[];
extern const size_t web_assets_count;

#endif
