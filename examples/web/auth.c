/*
 * auth.c - who may use the pages when they are reachable beyond this
 * laptop: a passphrase (from a file of mode 0600) or a random 8-digit PIN
 * printed on the laptop's terminal, a login page, and session cookies.
 *
 * Guessing is slowed by locking logins for WEB_LOGIN_LOCK_S seconds after
 * WEB_LOGIN_TRIES wrong answers (for everyone: an attacker has many
 * addresses, the laptop's user can wait a minute). The comparison takes
 * the same time whatever the guess has in common with the passphrase.
 * Sessions are 32 random bytes in an HttpOnly, SameSite=Strict cookie and
 * end after WEB_SESSION_IDLE_S seconds unused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web.h"

#define WEB_SESSION_IDLE_S (12 * 3600)
#define PASSPHRASE_MIN 8

static int read_passphrase(web *w, const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int rc = -1;
	if (fd < 0) {
		fprintf(stderr, "mutual-web: --passphrase-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "mutual-web: --passphrase-file %s: not a regular file\n", path);
		goto done;
	}
	/* Anyone else who can read it could log in as the group. */
	if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
		fprintf(stderr, "mutual-web: --passphrase-file %s: must be yours and mode 0600 "
			"(it is %03o): chmod 600 %s\n", path, (unsigned)(st.st_mode & 0777), path);
		goto done;
	}
	char buf[WEB_PASSPHRASE_MAX + 2];
	ssize_t n, len = 0;
	while (len < (ssize_t)sizeof(buf) &&
		(n = read(fd, buf + len, sizeof(buf) - (size_t)len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "mutual-web: --passphrase-file %s: %s\n", path,
				strerror(errno));
			goto done;
		}
		len += n;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len > WEB_PASSPHRASE_MAX || memchr(buf, '\0', (size_t)len) ||
		memchr(buf, '\n', (size_t)len)) {
		fprintf(stderr, "mutual-web: --passphrase-file %s: one line of at most %d bytes, "
			"please\n", path, WEB_PASSPHRASE_MAX);
		goto done;
	}
	if (len < PASSPHRASE_MIN) {
		fprintf(stderr, "mutual-web: --passphrase-file %s: the passphrase needs at least "
			"%d characters\n", path, PASSPHRASE_MIN);
		goto done;
	}
	memcpy(w->passphrase, buf, (size_t)len);
	w->passphrase[len] = '\0';
	rc = 0;
done:
	close(fd);
	return rc;
}

/* Eight uniformly random digits. */
static void make_pin(web *w)
{
	uint32_t r;
	do {
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = UINT32_MAX; /* interrupted: draw again */
	} while (r >= 4000000000u); /* the largest multiple of 10^8 that fits */
	snprintf(w->passphrase, sizeof(w->passphrase), "%08u", (unsigned)(r % 100000000u));
}

int auth_setup(web *w, const char *file)
{
	if (file)
		return read_passphrase(w, file);
	make_pin(w);
	return 0;
}

int auth_session_ok(web *w, const char *cookie)
{
	int64_t now = web_monotonic_s();
	int ok = 0;
	if (!cookie || strlen(cookie) != 64)
		return 0;
	for (size_t i = 0; i < WEB_SESSIONS_MAX; i++) {
		web_session *s = &w->sessions[i];
		if (!s->token[0])
			continue;
		if (now - s->last_used > WEB_SESSION_IDLE_S) {
			memset(s, 0, sizeof(*s));
			continue;
		}
		if (web_equal(s->token, cookie)) {
			s->last_used = now;
			ok = 1;
		}
	}
	return ok;
}

/* A new session in a free slot, or in place of the least recently used. */
static const char *new_session(web *w)
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
	slot->last_used = web_monotonic_s();
	return slot->token;
}

static void login_form(web *w, const web_request *rq, web_reply *r, unsigned int status,
	const char *alert)
{
	page p;
	r->status = status;
	page_begin(&p, w, rq, r, "Log in", NULL, alert);
	apps_buf_puts(p.b, "<h1>Log in</h1><p>This page is open to the network. Type the "
		"passphrase, or the PIN that <code>mutual-web</code> printed on the laptop "
		"where it runs.</p>");
	html_form_begin(&p, "/login", "login");
	apps_buf_puts(p.b, "<div class=\"field\"><label for=\"login-passphrase\">Passphrase or "
		"PIN</label><input type=\"password\" id=\"login-passphrase\" name=\"passphrase\" "
		"autocomplete=\"current-password\"></div>");
	html_button(&p, "Log in");
	html_form_end(&p);
	page_end(&p);
}

void page_login(web *w, const web_request *rq, web_reply *r)
{
	if (!w->need_login || rq->signed_in) {
		web_redirect(w, r, "/", NULL);
		return;
	}
	login_form(w, rq, r, 200, NULL);
}

void act_login(web *w, const web_request *rq, web_reply *r)
{
	int64_t now = web_monotonic_s();
	if (!w->need_login) {
		web_redirect(w, r, "/", NULL);
		return;
	}
	if (now < w->login_locked_until) {
		login_form(w, rq, r, 429, "Too many wrong tries: logins are locked for a minute.");
		return;
	}
	const char *guess = form_get(rq->form, "passphrase");
	if (!guess || !web_equal(guess, w->passphrase)) {
		if (++w->login_failures >= WEB_LOGIN_TRIES) {
			w->login_failures = 0;
			w->login_locked_until = now + WEB_LOGIN_LOCK_S;
		}
		login_form(w, rq, r, 401, "That is not the passphrase or PIN.");
		return;
	}
	w->login_failures = 0;
	snprintf(r->set_cookie, sizeof(r->set_cookie),
		"mutual_session=%s; HttpOnly; SameSite=Strict; Path=/", new_session(w));
	web_redirect(w, r, "/", "You are logged in.");
}
