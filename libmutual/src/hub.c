/*
 * hub.c - the user's git credential helpers and http.* settings for an
 * http(s) hub, read by running stock `git` (see hub.h): a group's hub is an
 * ordinary git host, and its volunteers already told git how to reach it.
 *
 * NOTES ON THE DESIGN
 *  1. `git` is started with posix_spawnp and an argument vector: no shell
 *     ever sees the URL. Its working folder is "/" (no repository's config
 *     applies, as none would to a sync), its stderr is /dev/null, and its
 *     environment is the caller's with every way to prompt closed:
 *     GIT_TERMINAL_PROMPT=0, GCM_INTERACTIVE=never, no GIT_ASKPASS or
 *     SSH_ASKPASS, and core.askPass set empty on its command line. A sync
 *     never prompts and never hangs: a run that takes longer than
 *     MUTUAL_HUB_GIT_TIMEOUT_MS is killed.
 *  2. Its stdin and stdout are one socket, written with MSG_NOSIGNAL, so
 *     a `git` that exits before reading cannot raise SIGPIPE in the caller.
 *     What it answers is bounded (MUTUAL_HUB_CREDENTIAL_SIZE, or
 *     SETTINGS_MAX); more fails the run rather than being cut.
 *  3. A password is only ever in a mutual_hub_credential, which is one
 *     fixed block (no realloc leaves a copy behind) wiped when freed, and
 *     in the socket's buffers. It is never put in a message.
 *  4. A URL holding a password is refused by mutual__hub_url_check, the
 *     one place that rule lives, before a sync uses the URL at all.
 */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"

extern char **environ;

#define SETTINGS_MAX (64 * 1024) /* bytes of `git config --get-urlmatch http URL`'s answer */
#define POLL_SLICE_MS 200        /* how often a run checks whether git has exited */

/* ------------------------------------------------------------------ URLs */

int mutual__hub_url_check(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *at = NULL;

	if (url[0] == '-')
		return mutual__fail(MUTUAL_EINVALID, "a sync URL cannot start with '-'");
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return mutual__fail(MUTUAL_EINVALID, "the sync URL holds a control character: type it again");
	if (!auth)
		return 0;
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at && memchr(auth, ':', (size_t)(at - auth)))
		return mutual__fail(MUTUAL_EINVALID,
			"the sync URL holds a password (user:password@...): nothing was synced and the URL was not kept; "
			"give the URL without the password, and the password to a git credential helper "
			"(git config --global credential.helper store; docs/hub.md)");
	return 0;
}

int mutual__hub_is_http(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* The host of `url` (no user, no port, no brackets) in `out`. */
static void url_host(char *out, size_t size, const char *url)
{
	const char *auth = strstr(url, "://"), *end, *host, *stop;
	size_t n;

	out[0] = '\0';
	if (!auth)
		return;
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	host = auth;
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			host = p + 1;
	if (*host == '[') {
		host++;
		stop = memchr(host, ']', (size_t)(end - host));
		if (!stop)
			stop = end;
	} else {
		stop = memchr(host, ':', (size_t)(end - host));
		if (!stop)
			stop = end;
	}
	n = (size_t)(stop - host);
	if (n >= size)
		n = size - 1;
	memcpy(out, host, n);
	out[n] = '\0';
}

/* `url` without its user name and password, path or query: what a
 * message may show of a proxy's URL, which may hold a password. */
static void shown(char *out, size_t size, const char *url)
{
	const char *auth = strstr(url, "://"), *end, *host;
	int n;
	if (!auth) {
		snprintf(out, size, "(a proxy)");
		return;
	}
	end = auth + 3 + strcspn(auth + 3, "/?#");
	host = auth + 3;
	for (const char *p = host; p < end; p++)
		if (*p == '@')
			host = p + 1;
	n = snprintf(out, size, "%.*s%.*s", (int)(auth + 3 - url), url, (int)(end - host), host);
	if (n < 0)
		out[0] = '\0';
}

/* Whether $no_proxy names `host`, as curl reads it: "*" is every host; an
 * entry (a leading dot optional) is that host and every host under it. */
static int no_proxy_matches(const char *list, const char *host)
{
	size_t hlen = strlen(host);
	const char *p = list;

	while (p && *p) {
		size_t n;
		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == 1 && *p == '*')
			return 1;
		if (n && *p == '.') {
			p++;
			n--;
		}
		if (n && (hlen == n || (hlen > n && host[hlen - n - 1] == '.')) &&
		    strncasecmp(host + hlen - n, p, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* ------------------------------------------------------------ running git */

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int env_dropped(const char *entry)
{
	static const char *const dropped[] = { "GIT_ASKPASS=", "SSH_ASKPASS=", "GIT_TERMINAL_PROMPT=",
		"GCM_INTERACTIVE=", "GIT_DIR=", "GIT_WORK_TREE=" };
	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(dropped); i++)
		if (strncmp(entry, dropped[i], strlen(dropped[i])) == 0)
			return 1;
	return 0;
}

/* Run `git ARGS` (NOTES 1, 2) with `input` on its stdin; its stdout in
 * `out` (at most `cap` - 1 bytes, then a NUL), its exit status in
 * `*status`. MUTUAL_ENOTFOUND when git is not installed; MUTUAL_ERROR
 * (message set) when it cannot run, overflows `out` or runs out of time. */
static int run_git(char *out, size_t cap, size_t *out_len, int *status, char *const argv[], const char *input,
	size_t in_len)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, defaults;
	char **envp = NULL;
	size_t n_env = 0, k = 0, sent = 0, got = 0;
	long long deadline = now_ms() + MUTUAL_HUB_GIT_TIMEOUT_MS;
	int sv[2] = { -1, -1 }, fa_made = 0, attr_made = 0, exited = 0, overflow = 0, timed_out = 0, rc, wst = 0;
	pid_t pid = -1;

	*out_len = 0;
	*status = -1;
	out[0] = '\0';
	while (environ && environ[n_env])
		n_env++;
	if (!(envp = mutual__calloc(n_env + 3, sizeof(*envp)))) {
		rc = mutual__fail(MUTUAL_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n_env; i++)
		if (!env_dropped(environ[i]))
			envp[k++] = environ[i];
	envp[k++] = "GIT_TERMINAL_PROMPT=0";
	envp[k++] = "GCM_INTERACTIVE=never";
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = mutual__fail(MUTUAL_ERROR, "cannot run git: %s", strerror(errno));
		goto done;
	}
	sigemptyset(&mask);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGHUP);
	sigaddset(&defaults, SIGQUIT);
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0 || !(fa_made = 1) ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, sv[1], 0)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, sv[1], 1)) != 0 ||
	    (rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0)) != 0 ||
	    (rc = posix_spawn_file_actions_addchdir_np(&fa, "/")) != 0 || (rc = posix_spawnattr_init(&attr)) != 0 ||
	    !(attr_made = 1) || (rc = posix_spawnattr_setsigmask(&attr, &mask)) != 0 ||
	    (rc = posix_spawnattr_setsigdefault(&attr, &defaults)) != 0 ||
	    (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (rc = posix_spawnp(&pid, "git", &fa, &attr, argv, envp)) != 0) {
		pid = -1;
		rc = rc == ENOENT ? mutual__fail(MUTUAL_ENOTFOUND, "git is not installed (Debian: apt-get install git)")
				  : mutual__fail(MUTUAL_ERROR, "cannot run git: %s", strerror(rc));
		goto done;
	}
	close(sv[1]);
	sv[1] = -1;
	while (sent < in_len) {
		struct pollfd pfd = { sv[0], POLLOUT, 0 };
		ssize_t w;
		if (now_ms() >= deadline) {
			timed_out = 1;
			break;
		}
		if (poll(&pfd, 1, POLL_SLICE_MS) <= 0)
			continue;
		if ((w = send(sv[0], input + sent, in_len - sent, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break; /* it stopped reading: what it says is in its answer and status */
		}
		sent += (size_t)w;
	}
	shutdown(sv[0], SHUT_WR);
	/* Until end of file, or until git has exited and what it left is
	 * read: a helper's daemon that keeps the socket open is not waited for. */
	while (!timed_out) {
		struct pollfd pfd = { sv[0], POLLIN, 0 };
		char chunk[4096];
		ssize_t r;
		int ready;
		if (now_ms() >= deadline) {
			timed_out = 1;
			break;
		}
		ready = poll(&pfd, 1, exited ? 0 : POLL_SLICE_MS);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0) {
			if (exited)
				break;
			if (waitpid(pid, &wst, WNOHANG) == pid)
				exited = 1;
			continue;
		}
		if ((r = recv(sv[0], chunk, sizeof(chunk), MSG_DONTWAIT)) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break;
		}
		if (r == 0)
			break;
		if (got + (size_t)r >= cap) {
			overflow = 1;
			mutual__wipe(chunk, sizeof(chunk));
			continue;
		}
		memcpy(out + got, chunk, (size_t)r);
		got += (size_t)r;
		mutual__wipe(chunk, (size_t)r);
	}
	if (timed_out && !exited)
		kill(pid, SIGKILL);
	if (!exited)
		while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
			;
	out[got] = '\0';
	*out_len = got;
	if (timed_out) {
		rc = mutual__fail(MUTUAL_ERROR, "git %s did not answer within %d s and was stopped: "
			"a credential helper may be waiting for something (a keyring to unlock?)", argv[3],
			MUTUAL_HUB_GIT_TIMEOUT_MS / 1000);
		goto done;
	}
	if (overflow) {
		rc = mutual__fail(MUTUAL_ERROR, "git %s answered more than %zu bytes", argv[3], cap - 1);
		goto done;
	}
	*status = WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
	rc = 0;
done:
	if (rc < 0)
		mutual__wipe(out, cap);
	if (attr_made)
		posix_spawnattr_destroy(&attr);
	if (fa_made)
		posix_spawn_file_actions_destroy(&fa);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	mutual__free(envp);
	return rc;
}

/* ------------------------------------------------------------- settings */

static int copy_value(char *dst, const char *value, const char *what)
{
	const char *home = getenv("HOME");
	int n;
	if (strncmp(value, "~/", 2) == 0 && home && *home)
		n = snprintf(dst, MUTUAL_HUB_VALUE_SIZE, "%s/%s", home, value + 2);
	else
		n = snprintf(dst, MUTUAL_HUB_VALUE_SIZE, "%s", value);
	if (n < 0 || n >= MUTUAL_HUB_VALUE_SIZE)
		return mutual__fail(MUTUAL_EINVALID, "%s is longer than %d bytes", what, MUTUAL_HUB_VALUE_SIZE - 1);
	return 0;
}

static const char *env_of(const char *a, const char *b)
{
	const char *v = getenv(a);
	if ((!v || !*v) && b)
		v = getenv(b);
	return v && *v ? v : NULL;
}

static int false_value(const char *v)
{
	return !*v || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 || strcasecmp(v, "off") == 0 ||
	       strcmp(v, "0") == 0;
}

int mutual__hub_settings_get(mutual_hub_settings *out, const char *url)
{
	char *argv[] = { "git", "-c", "core.askPass=", "config", "-z", "--get-urlmatch", "http", (char *)url, NULL };
	char *answer = NULL;
	const char *v;
	int https = strncasecmp(url, "https://", 8) == 0;
	char cfg_cainfo[MUTUAL_HUB_VALUE_SIZE] = "", cfg_capath[MUTUAL_HUB_VALUE_SIZE] = "",
	     cfg_proxy[MUTUAL_HUB_VALUE_SIZE] = "", host[256];
	size_t len = 0;
	int status = -1, has_proxy = 0, rc;

	memset(out, 0, sizeof(*out));
	if (!(answer = mutual__malloc(SETTINGS_MAX)))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	rc = run_git(answer, SETTINGS_MAX, &len, &status, argv, "", 0);
	if (rc == MUTUAL_ENOTFOUND) {
		mutual__error_clear(); /* no git, no git settings: the environment's still count */
		rc = 0;
		status = 1;
	}
	if (rc < 0)
		goto done;
	/* -z: each entry is "key\nvalue\0", or "key\0" for a bare boolean. */
	for (size_t at = 0; status == 0 && at < len;) {
		char *key = answer + at, *val;
		size_t n = strnlen(key, len - at);
		at += n + 1;
		val = strchr(key, '\n');
		if (val)
			*val++ = '\0';
		if (strcasecmp(key, "http.sslcainfo") == 0 && val)
			rc = copy_value(cfg_cainfo, val, "http.sslCAInfo");
		else if (strcasecmp(key, "http.sslcapath") == 0 && val)
			rc = copy_value(cfg_capath, val, "http.sslCAPath");
		else if (strcasecmp(key, "http.proxy") == 0) {
			has_proxy = 1;
			rc = copy_value(cfg_proxy, val ? val : "", "http.proxy");
		} else if (strcasecmp(key, "http.sslverify") == 0)
			out->ssl_verify_off = val && false_value(val);
		if (rc < 0)
			goto done;
	}
	if (env_of("GIT_SSL_NO_VERIFY", NULL))
		out->ssl_verify_off = 1;
	if ((v = env_of("GIT_SSL_CAINFO", NULL)) || (v = cfg_cainfo[0] ? cfg_cainfo : NULL) ||
	    (v = env_of("SSL_CERT_FILE", NULL)))
		if ((rc = copy_value(out->cainfo, v, "the CA file")) < 0)
			goto done;
	if ((v = env_of("GIT_SSL_CAPATH", NULL)) || (v = cfg_capath[0] ? cfg_capath : NULL) ||
	    (v = env_of("SSL_CERT_DIR", NULL)))
		if ((rc = copy_value(out->capath, v, "the CA folder")) < 0)
			goto done;
	if (has_proxy)
		v = cfg_proxy[0] ? cfg_proxy : NULL;
	else if (!(v = https ? env_of("https_proxy", "HTTPS_PROXY") : env_of("http_proxy", NULL)))
		v = env_of("all_proxy", "ALL_PROXY");
	url_host(host, sizeof(host), url);
	if (v && !no_proxy_matches(env_of("no_proxy", "NO_PROXY"), host)) {
		int n = snprintf(out->proxy, sizeof(out->proxy), "%s%s", strstr(v, "://") ? "" : "http://", v);
		if (n < 0 || (size_t)n >= sizeof(out->proxy)) {
			rc = mutual__fail(MUTUAL_EINVALID, "the proxy's URL is longer than %d bytes",
				MUTUAL_HUB_VALUE_SIZE - 1);
			goto done;
		}
		shown(out->proxy_shown, sizeof(out->proxy_shown), out->proxy);
	}
	rc = 0;
done:
	mutual__free(answer);
	return rc;
}

/* ----------------------------------------------------------- credentials */

struct mutual_hub_credential {
	char answer[MUTUAL_HUB_CREDENTIAL_SIZE]; /* what fill said, given back to approve and reject */
	size_t len;
	char fields[MUTUAL_HUB_CREDENTIAL_SIZE]; /* a copy, its lines cut into strings */
	const char *username, *password;
};

int mutual__hub_credential_fill(mutual_hub_credential **out, const char *url, const char *user)
{
	char *argv[] = { "git", "-c", "core.askPass=", "credential", "fill", NULL };
	mutual_hub_credential *c;
	mutual_buf in = { 0 };
	int status, rc;

	*out = NULL;
	(void)user; /* git reads it from the URL */
	if (!(c = mutual__calloc(1, sizeof(*c))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	if ((rc = mutual__buf_printf(&in, "url=%s\n\n", url)) < 0)
		goto done;
	if ((rc = run_git(c->answer, sizeof(c->answer), &c->len, &status, argv, (const char *)in.data, in.len)) < 0)
		goto done;
	if (status != 0) {
		rc = MUTUAL_ENOTFOUND;
		goto done;
	}
	memcpy(c->fields, c->answer, c->len + 1);
	for (char *line = c->fields; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "username=", 9) == 0)
			c->username = line + 9;
		else if (strncmp(line, "password=", 9) == 0)
			c->password = line + 9;
		line = next;
	}
	rc = c->username && c->password ? 0 : MUTUAL_ENOTFOUND;
done:
	mutual__buf_free(&in);
	if (rc < 0) {
		mutual__hub_credential_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

const char *mutual__hub_credential_username(const mutual_hub_credential *c)
{
	return c->username;
}

const char *mutual__hub_credential_password(const mutual_hub_credential *c)
{
	return c->password;
}

static void tell(const mutual_hub_credential *c, char *verb)
{
	char *argv[] = { "git", "-c", "core.askPass=", "credential", verb, NULL };
	char answer[256];
	size_t len;
	int status;
	if (c && run_git(answer, sizeof(answer), &len, &status, argv, c->answer, c->len) < 0)
		mutual__error_clear();
}

void mutual__hub_credential_approve(const mutual_hub_credential *c)
{
	tell(c, "approve");
}

void mutual__hub_credential_reject(const mutual_hub_credential *c)
{
	tell(c, "reject");
}

void mutual__hub_credential_free(mutual_hub_credential *c)
{
	if (!c)
		return;
	mutual__wipe(c, sizeof(*c));
	mutual__free(c);
}
