/*
 * auth.c - who may use the pages: every browser logs in, this laptop's
 * own included (another account on the same PC reaches 127.0.0.1 too).
 *
 * - This laptop's user: a one-time token in a URL, printed at start on a
 *   terminal and kept in <store>/web-url (0600) for `mutual-web --url`
 *   (with the PIN, so neither lands in a service's log).
 *   Its first use trades it for a session and a new token replaces it, so
 *   a URL left in a browser's history or a terminal's scrollback is spent.
 * - Other devices: a passphrase (from a file of mode 0600) or a PIN of
 *   WEB_PIN_DIGITS random digits printed on the laptop's terminal.
 *
 * Guessing is bounded twice. One address gets WEB_LOGIN_FREE_TRIES wrong
 * tries, then waits 1 s, 2 s, 4 s, ... up to WEB_LOGIN_WAIT_MAX_S between
 * tries. All addresses together get WEB_LOGIN_FAILS_PER_HOUR wrong tries
 * in any hour; past that, PIN logins are refused until the hour's count
 * falls. Neither touches a browser that holds a session or the token, so
 * an attacker can delay phones that are not logged in yet but never
 * lock out the laptop. At 60 tries an hour, a year gives at most 527,040
 * guesses against 10^10 PINs: a chance below 1 in 10,000 (5.3e-5) of
 * finding it, however many addresses the attacker has; docs/security.md.
 *
 * Sessions are 32 random bytes in an HttpOnly, SameSite=Strict cookie
 * (Secure over HTTPS), each with its own CSRF token, and end after
 * WEB_SESSION_IDLE_S seconds unused. Comparisons of secrets take the same
 * time whatever the guess has in common with them.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "web.h"

#define WEB_SESSION_IDLE_S (12 * 3600)
#define WEB_LOGIN_FORGET_S (24 * 3600) /* an address's wrong tries are forgotten */
#define PASSPHRASE_MIN 8
#define URL_FILE "web-url"

static int read_passphrase(web *w, const char *path)
{
	char *text;
	size_t len;
	int rc = web_read_private(path, "--passphrase-file", 4096, &text, &len);
	if (rc == 1)
		fprintf(stderr, "mutual-web: --passphrase-file %s: %s\n", path, strerror(ENOENT));
	if (rc != 0)
		return -1;
	size_t n = len;
	rc = -1;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	if (n > WEB_PASSPHRASE_MAX || memchr(text, '\0', n) || memchr(text, '\n', n)) {
		fprintf(stderr, "mutual-web: --passphrase-file %s: one line of at most %d bytes, "
			"please\n", path, WEB_PASSPHRASE_MAX);
	} else if (n < PASSPHRASE_MIN) {
		fprintf(stderr, "mutual-web: --passphrase-file %s: the passphrase needs at least "
			"%d characters\n", path, PASSPHRASE_MIN);
	} else {
		memcpy(w->passphrase, text, n);
		w->passphrase[n] = '\0';
		rc = 0;
	}
	explicit_bzero(text, len);
	free(text);
	return rc;
}

/* WEB_PIN_DIGITS uniformly random digits. */
static void make_pin(web *w)
{
	const uint64_t range = 10000000000ull; /* 10^WEB_PIN_DIGITS */
	const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
	uint64_t r;
	do {
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = UINT64_MAX; /* interrupted: draw again */
	} while (r >= limit);
	snprintf(w->passphrase, sizeof(w->passphrase), "%0*llu", WEB_PIN_DIGITS,
		(unsigned long long)(r % range));
}

int auth_setup(web *w, const char *file, int pin)
{
	for (size_t i = 0; i < WEB_LOGIN_FAILS_PER_HOUR; i++)
		w->login_fails[i] = INT64_MIN / 2; /* long before any hour we count */
	if (file) {
		w->has_passphrase = 1;
		return read_passphrase(w, file);
	}
	if (pin) {
		w->has_passphrase = w->pin = 1;
		make_pin(w);
	}
	return 0;
}

/* ------------------------------------------------------------- sessions */

web_session *auth_session_find(web *w, const char *cookie)
{
	int64_t now = web_monotonic_s();
	web_session *found = NULL;
	if (!cookie || strlen(cookie) != 64)
		return NULL;
	for (size_t i = 0; i < WEB_SESSIONS_MAX; i++) {
		web_session *s = &w->sessions[i];
		if (!s->token[0])
			continue;
		if (now - s->last_used > WEB_SESSION_IDLE_S) {
			explicit_bzero(s, sizeof(*s));
			continue;
		}
		if (web_equal(s->token, cookie)) {
			s->last_used = now;
			found = s;
		}
	}
	return found;
}

/* A new session in a free slot, or in place of the least recently used,
 * and its cookie in `r`. */
static void start_session(web *w, web_reply *r)
{
	web_session *slot = &w->sessions[0];
	for (size_t i = 0; i < WEB_SESSIONS_MAX; i++) {
		web_session *s = &w->sessions[i];
		if (!s->token[0]) {
			slot = s;
			break;
		}
		if (s->last_used < slot->last_used)
			slot = s;
	}
	web_random_hex(slot->token, 32);
	web_random_hex(slot->csrf, 32);
	slot->last_used = web_monotonic_s();
	snprintf(r->set_cookie, sizeof(r->set_cookie),
		"%s=%s; HttpOnly; SameSite=Strict; Path=/%s", w->session_cookie, slot->token,
		w->tls ? "; Secure" : "");
}

/* ---------------------------------------------------- the one-time URL */

int auth_new_login_url(web *w)
{
	char url[320];
	/* Listening on every address, this laptop reaches itself on loopback. */
	const char *host = strcmp(w->listen_host, "0.0.0.0") == 0 ? "127.0.0.1" :
		strcmp(w->listen_host, "::") == 0 ? "::1" : w->listen_host;
	int bracket = strchr(host, ':') != NULL;
	web_random_hex(w->login_token, 32);
	int n = snprintf(url, sizeof(url), "%s://%s%s%s:%u/?token=%s\n", web_scheme(w),
		bracket ? "[" : "", host, bracket ? "]" : "", w->port, w->login_token);
	/* The PIN is kept beside it, for `mutual-web --url`, rather than
	 * printed where a service's log would keep it. */
	if (n > 0 && (size_t)n < sizeof(url) && w->pin)
		n += snprintf(url + n, sizeof(url) - (size_t)n, "PIN for other devices: %.5s %s\n",
			w->passphrase, w->passphrase + 5);
	if (n < 0 || (size_t)n >= sizeof(url) || web_write_private(w, URL_FILE, url, (size_t)n)) {
		fprintf(stderr, "mutual-web: cannot write %s/%s: %s\n", w->store_dir, URL_FILE,
			strerror(errno));
		return -1;
	}
	return 0;
}

int auth_read_login_file(const char *store_dir, char *out, size_t size)
{
	char path[4096], *text;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", store_dir, URL_FILE);
	if (web_read_private(path, "the login file", size - 1, &text, &len) != 0)
		return -1;
	memcpy(out, text, len + 1);
	explicit_bzero(text, len);
	free(text);
	return out[0] ? 0 : -1;
}

int auth_use_login_token(web *w, const char *token, web_reply *r)
{
	if (!w->login_token[0] || strlen(token) != 64 || !web_equal(w->login_token, token))
		return 0;
	start_session(w, r);
	if (auth_new_login_url(w) != 0)
		w->login_token[0] = '\0'; /* spent all the same */
	return 1;
}

/* -------------------------------------------------- wrong-login limits */

void auth_client_key(const struct sockaddr *addr, unsigned char key[17])
{
	memset(key, 0, 17);
	if (!addr)
		return;
	key[0] = (unsigned char)addr->sa_family;
	if (addr->sa_family == AF_INET)
		memcpy(key + 1, &((const struct sockaddr_in *)addr)->sin_addr, 4);
	else if (addr->sa_family == AF_INET6)
		memcpy(key + 1, &((const struct sockaddr_in6 *)addr)->sin6_addr, 8); /* its /64 */
}

/* The record of this client's wrong logins, made in a free slot or in
 * place of the one that failed longest ago. */
static web_login_client *login_client(web *w, const unsigned char *key, int64_t now)
{
	web_login_client *slot = &w->login_clients[0];
	for (size_t i = 0; i < WEB_LOGIN_CLIENTS; i++) {
		web_login_client *c = &w->login_clients[i];
		if (memcmp(c->key, key, sizeof(c->key)) == 0) {
			if (now - c->last_failure > WEB_LOGIN_FORGET_S)
				c->failures = 0, c->next_try = 0;
			return c;
		}
		if (c->last_failure < slot->last_failure)
			slot = c;
	}
	memset(slot, 0, sizeof(*slot));
	memcpy(slot->key, key, sizeof(slot->key));
	return slot;
}

static void login_failed(web *w, web_login_client *c, int64_t now)
{
	c->last_failure = now;
	if (++c->failures > WEB_LOGIN_FREE_TRIES) {
		unsigned int doublings = c->failures - WEB_LOGIN_FREE_TRIES - 1;
		int64_t wait = doublings >= 10 ? WEB_LOGIN_WAIT_MAX_S : (int64_t)1 << doublings;
		c->next_try = now + (wait < WEB_LOGIN_WAIT_MAX_S ? wait : WEB_LOGIN_WAIT_MAX_S);
	}
	w->login_fails[w->login_fails_next] = now;
	w->login_fails_next = (w->login_fails_next + 1) % WEB_LOGIN_FAILS_PER_HOUR;
}

/* 1 when the last WEB_LOGIN_FAILS_PER_HOUR wrong logins all fell within
 * the last hour: the ring's oldest entry is the one about to be replaced. */
static int login_cap_reached(const web *w, int64_t now)
{
	return now - w->login_fails[w->login_fails_next] < 3600;
}

/* The guess as typed, with the spaces and dashes a PIN is grouped by gone. */
static void normalise_pin(const char *guess, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = guess; *p && n + 1 < size; p++)
		if (*p != ' ' && *p != '-')
			out[n++] = *p;
	out[n] = '\0';
}

/* ----------------------------------------------------------- the pages */

static void login_form(web *w, const web_request *rq, web_reply *r, unsigned int status,
	const char *alert)
{
	page p;
	r->status = status;
	page_begin(&p, w, rq, r, "Log in", NULL, alert);
	apps_buf_puts(p.b, "<h1>Log in</h1><p>On the laptop where <code>mutual-web</code> runs, "
		"open the address it printed when it started (each address works once; "
		"<code>mutual-web --url --store FOLDER</code> prints a fresh one).</p>");
	if (w->has_passphrase) {
		apps_buf_puts(p.b, "<p>On another device, type the passphrase, or the PIN that "
			"<code>mutual-web</code> printed on the laptop.</p>");
		html_form_begin(&p, "/login", "login");
		apps_buf_puts(p.b, "<div class=\"field\"><label for=\"login-passphrase\">Passphrase "
			"or PIN</label><input type=\"password\" id=\"login-passphrase\" "
			"name=\"passphrase\" autocomplete=\"current-password\"></div>");
		html_button(&p, "Log in");
		html_form_end(&p);
	}
	page_end(&p);
}

void page_login(web *w, const web_request *rq, web_reply *r)
{
	if (rq->signed_in) {
		web_redirect(w, r, "/", NULL);
		return;
	}
	login_form(w, rq, r, 200, NULL);
}

void page_login_link_spent(web *w, const web_request *rq, web_reply *r)
{
	login_form(w, rq, r, 403, "That login address was used already or is out of date. "
		"Run mutual-web --url on the laptop for a fresh one.");
}

void act_login(web *w, const web_request *rq, web_reply *r)
{
	int64_t now = web_monotonic_s();
	char wait_text[160], guess[WEB_PASSPHRASE_MAX + 1];
	if (!w->has_passphrase || rq->signed_in) {
		web_redirect(w, r, "/", NULL);
		return;
	}
	web_login_client *c = login_client(w, rq->client, now);
	if (now < c->next_try) {
		snprintf(wait_text, sizeof(wait_text), "Too many wrong tries from this device: "
			"try again in %lld seconds.", (long long)(c->next_try - now));
		login_form(w, rq, r, 429, wait_text);
		return;
	}
	if (login_cap_reached(w, now)) {
		login_form(w, rq, r, 429, "Too many wrong tries from many devices this hour, so "
			"logins by PIN are paused. Log in on the laptop itself, or try again later.");
		return;
	}
	const char *typed = form_get(rq->form, "passphrase");
	if (w->pin && typed)
		normalise_pin(typed, guess, sizeof(guess));
	else
		snprintf(guess, sizeof(guess), "%s", typed ? typed : "");
	int right = typed && web_equal(w->passphrase, guess);
	explicit_bzero(guess, sizeof(guess));
	if (!right) {
		login_failed(w, c, now);
		login_form(w, rq, r, 401, "That is not the passphrase or PIN.");
		return;
	}
	c->failures = 0;
	c->next_try = 0;
	start_session(w, r);
	web_redirect(w, r, "/", "You are logged in.");
}
