/*
 * hub.h - what stock git would use to reach an http(s) hub: the user's
 * credential helpers (`git credential fill`, `approve`, `reject`) and the
 * http.* settings that apply to a URL (`git config --get-urlmatch`), with
 * the environment variables git reads. The library's one door to the `git`
 * program: it is run with an argument vector, never through a shell, never
 * prompts, and is killed when it takes longer than MUTUAL_HUB_GIT_TIMEOUT_MS.
 * Nothing here includes libgit2; git.c hands what it gets here to libgit2.
 */
#ifndef MUTUAL_HUB_H
#define MUTUAL_HUB_H

#include <stddef.h>

#include "common.h"

#define MUTUAL_HUB_GIT_TIMEOUT_MS 30000 /* one run of `git`: a helper waiting for a desktop unlock gives up */
#define MUTUAL_HUB_VALUE_SIZE 4096      /* bytes of one setting (a path, a proxy's URL) and its NUL */
#define MUTUAL_HUB_CREDENTIAL_SIZE 16384 /* bytes of what `git credential fill` answers */

/* The one rule for a sync target that is a URL: refused (MUTUAL_EINVALID)
 * when it holds a password ("user:pass@", in any scheme) or a control
 * character, or starts with '-'. The message never repeats the URL, so it
 * is called before the URL is used, stored or shown anywhere. */
int mutual__hub_url_check(const char *url);

/* 1 for an http:// or https:// URL (case-insensitive), the URLs whose
 * credentials and certificates come from git's helpers and settings. */
int mutual__hub_is_http(const char *url);

/* What applies to one URL, as git would pick it (docs/hub.md):
 *  - cainfo: $GIT_SSL_CAINFO, else http.<url>.sslCAInfo / http.sslCAInfo,
 *    else $SSL_CERT_FILE; "" when none (libgit2's built-in bundle);
 *  - capath: $GIT_SSL_CAPATH, else http.sslCAPath, else $SSL_CERT_DIR;
 *  - proxy: http.<url>.proxy / http.proxy (an empty value: none), else
 *    $https_proxy / $HTTPS_PROXY (https) or $http_proxy (http), else
 *    $all_proxy / $ALL_PROXY; none when the host is in $no_proxy /
 *    $NO_PROXY; "" when none, and always with a scheme;
 *  - ssl_verify_off: http.sslVerify is false or $GIT_SSL_NO_VERIFY is set.
 *    It is never honoured: it only lets a refusal say so.
 * A leading "~/" of a path is $HOME's. Without git installed, only the
 * environment counts. */
typedef struct {
	char cainfo[MUTUAL_HUB_VALUE_SIZE];
	char capath[MUTUAL_HUB_VALUE_SIZE];
	char proxy[MUTUAL_HUB_VALUE_SIZE];
	char proxy_shown[MUTUAL_HUB_VALUE_SIZE]; /* the proxy's scheme, host and port, for messages (no password) */
	int ssl_verify_off;
} mutual_hub_settings;

int mutual__hub_settings_get(mutual_hub_settings *out, const char *url);

/* A user name and password from the user's credential helpers, for one
 * URL. The memory holding them is wiped when it is freed. */
typedef struct mutual_hub_credential mutual_hub_credential;

/* `git credential fill` for `url` (and `user`, the URL's, may be NULL).
 * MUTUAL_ENOTFOUND when no helper has one (git would have had to prompt:
 * it is told not to); MUTUAL_ERROR (message set) when git cannot be run
 * or does not answer in time. `*out` is the caller's, freed with
 * mutual__hub_credential_free. */
int mutual__hub_credential_fill(mutual_hub_credential **out, const char *url, const char *user);
/* Borrowed: valid until the credential is freed. */
const char *mutual__hub_credential_username(const mutual_hub_credential *c);
const char *mutual__hub_credential_password(const mutual_hub_credential *c);
/* Tell the helpers the hub took it (`git credential approve`: a helper
 * such as `store` or `cache` keeps it) or refused it (`reject`: they
 * forget it). Best effort: a failure changes nothing of the sync. */
void mutual__hub_credential_approve(const mutual_hub_credential *c);
void mutual__hub_credential_reject(const mutual_hub_credential *c);
void mutual__hub_credential_free(mutual_hub_credential *c);

#endif
