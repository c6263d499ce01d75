/*
 * web.h - what the files of mutual-web share: the server's state, one
 * request and its reply as the pages see them, and each file's entry points.
 *
 * Threading: one thread. main.c runs libmicrohttpd's loop (MHD_run_wait)
 * and, between its turns, closes connections past their deadline
 * (conns.c), so the store handle and everything in `struct web` are only
 * ever touched by that thread and need no locks.
 */
#ifndef MUTUAL_WEB_H
#define MUTUAL_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "apps.h"
#include "form.h"

#define WEB_BODY_MAX (64 * 1024)   /* bytes in a request body; more is a 413 */
#define WEB_STICKS_MAX 32          /* sync targets offered at once */
#define WEB_SESSIONS_MAX 32        /* logged-in browsers remembered */
#define WEB_FLASH_MAX 32           /* status messages waiting for their redirect */
#define WEB_PIN_DIGITS 10          /* see auth.c for why ten */
#define WEB_LOGIN_FREE_TRIES 3     /* wrong logins from one address before it waits */
#define WEB_LOGIN_WAIT_MAX_S 900   /* the longest wait one address is given */
#define WEB_LOGIN_FAILS_PER_HOUR 60 /* wrong logins from all addresses, then PIN logins stop */
#define WEB_LOGIN_CLIENTS 256      /* addresses whose wrong logins are remembered */
#define WEB_PASSPHRASE_MAX 256
#define WEB_LABEL_MAX 128

/* A place to sync with: a --stick folder or a mounted removable medium. */
typedef struct web_stick {
	char path[4096];
	char label[WEB_LABEL_MAX]; /* its folder's name, as the person knows the stick */
} web_stick;

/* The last sync, kept in <store>/web-last-sync so a restart still shows it. */
typedef struct web_last_sync {
	int known;
	int64_t at; /* UTC ms */
	uint64_t received, sent;
	char label[WEB_LABEL_MAX];
} web_last_sync;

typedef struct web_session {
	char token[65]; /* "" when the slot is free */
	char csrf[65];  /* every form of this session carries it */
	int64_t last_used; /* monotonic seconds */
} web_session;

/* Wrong logins from one address (an IPv6 client by its /64: one device
 * there holds a whole /64). */
typedef struct web_login_client {
	unsigned char key[17]; /* family byte + address; all zero when free */
	unsigned int failures;
	int64_t next_try;      /* monotonic seconds: no login before this */
	int64_t last_failure;
} web_login_client;

typedef struct web_flash {
	char id[17];
	char text[512];
} web_flash;

typedef struct web {
	mutual_store *store;
	const char *store_dir;
	char listen_host[64]; /* as bound, without brackets: "127.0.0.1", "::1", "0.0.0.0" */
	int ipv6;
	unsigned int port;    /* the bound port (the chosen one when 0 was asked for) */
	int loopback;         /* bound to 127.0.0.0/8 or ::1 only */
	int tls;              /* HTTPS (the default beyond loopback) */
	int insecure_http;    /* plain HTTP beyond loopback, asked for: every page says so */
	int has_passphrase;   /* a PIN or a passphrase logs in (beyond loopback, or a file) */
	int pin;              /* the passphrase is the printed PIN */
	char passphrase[WEB_PASSPHRASE_MAX + 1];
	char fingerprint[96]; /* the certificate's SHA-256, "AB:CD:..." (when tls) */
	char login_token[65]; /* the one-time token of the URL in <store>/web-url */
	char session_cookie[32]; /* "mutual_session_<port>": cookies are shared by every */
	char login_cookie[32];   /* port of a host, and two servers must not log each other out */
	char *const *stick_dirs; /* --stick folders, in the order given */
	size_t n_stick_dirs;
	web_last_sync last_sync;
	web_session sessions[WEB_SESSIONS_MAX];
	web_flash flash[WEB_FLASH_MAX];
	size_t flash_next;
	web_login_client login_clients[WEB_LOGIN_CLIENTS];
	int64_t login_fails[WEB_LOGIN_FAILS_PER_HOUR]; /* a ring: when the last ones were */
	size_t login_fails_next;
} web;

/* One request, as a page handler sees it. */
typedef struct web_request {
	int post;
	int signed_in;         /* holds a live session: may see the group's data */
	const char *csrf;      /* the token its forms carry: the session's, or
	                        * before login the login cookie's; "" when none */
	const unsigned char *client; /* the client's address key (auth.c), 17 bytes */
	const form *form;      /* the POST's fields (empty for GET) */
	const char *message;   /* the status message named by ?m=, or NULL */
} web_request;

/* What a handler answers. A `location` makes it a 303 redirect. */
typedef struct web_reply {
	unsigned int status;
	apps_buf body;
	const char *content_type; /* static; NULL: an HTML page */
	char location[160];
	char filename[64];        /* when set, sent as an attachment */
	char set_cookie[200];
	int no_referrer;          /* Referrer-Policy: no-referrer (a login URL's reply) */
} web_reply;

typedef void (*web_handler)(web *w, const web_request *rq, web_reply *r);

/* ------------------------------------------------------------ main.c */

/* Random bytes from the kernel, as lowercase hex (2 * n digits + NUL). */
void web_random_hex(char *out, size_t n);
/* Monotonic seconds, for sessions and the login waits. */
int64_t web_monotonic_s(void);
/* Write `len` bytes to <store>/<name>, mode 0600, atomically and durably.
 * 0, or -1 with errno set. */
int web_write_private(web *w, const char *name, const void *data, size_t len);
/* The text of a file only this user may read: a regular file (not a
 * link), this user's, mode 0600, at most `max` bytes. 0 with the text in
 * *out (NUL-terminated, *len bytes; the caller wipes and frees it), 1 when
 * there is no such file, -1 with a message on stderr naming it as `what`. */
int web_read_private(const char *path, const char *what, size_t max, char **out, size_t *len);
/* "http" or "https", as this server is reached. */
const char *web_scheme(const web *w);

/* ------------------------------------------------------------ http.c */

/* How a page draws itself: `alert` (may be NULL) is a refusal shown above
 * the form `form_id`, whose typed values are kept. */
typedef void (*web_render_fn)(web *w, const web_request *rq, web_reply *r, unsigned int status,
	const char *alert, const char *form_id);
/* After an action: a refusal (`rc` != 0) redraws the page with the reason
 * and the form as typed; success goes back to `path` with `message`, so a
 * reload does not repeat the action. */
void web_finish(web *w, const web_request *rq, web_reply *r, web_render_fn render,
	const char *path, int rc, const char *form_id, const char *message);

/* Start serving on w->listen_host:w->port (sets w->port when 0), with
 * TLS when w->tls (`cert_pem`, `key_pem`). 0 or -1 with a message on stderr. */
int http_start(web *w, const char *cert_pem, const char *key_pem);
/* One turn of the server: wait at most `ms` for the network, answer what
 * came, close connections past their deadline. */
void http_run(int ms);
void http_stop(void);
/* Answer with a 303 to `path`, showing `message` (may be NULL) there. */
void web_redirect(web *w, web_reply *r, const char *path, const char *message);
/* Constant-time comparison of two strings (their lengths are not secret). */
int web_equal(const char *a, const char *b);

/* ------------------------------------------------------------ html.c */

/* One HTML page being written into a reply. `kept`/`kept_form`: after a
 * refused form, the values sent, put back into the form named kept_form. */
typedef struct page {
	web *w;
	const web_request *rq;
	apps_buf *b;
	const form *kept;
	const char *kept_form;
} page;

/* Start a page: head, nav (`current` is the nav entry to mark), the status
 * message of the redirect and `alert` (may be NULL; one starting in lower
 * case, as apps_error() does, gets "Not saved: " before it), then <main>. */
void page_begin(page *p, web *w, const web_request *rq, web_reply *r, const char *title,
	const char *current, const char *alert);
/* Close <main>, write the footer with the last sync, close the page. */
void page_end(page *p);
/* A page with a heading and one sentence: the 4xx/5xx answers. */
void page_error(web *w, const web_request *rq, web_reply *r, unsigned int status,
	const char *heading, const char *text);

/* <form method="post" action=...> with the CSRF token; html_form_end closes it. */
void html_form_begin(page *p, const char *action, const char *cls);
void html_form_end(page *p);
void html_hidden(page *p, const char *name, const char *value);
/* A labelled text field; its id is "<form_id>-<name>". `attrs` (may be
 * NULL) is copied into the tag as is: a literal, never user text. */
void html_field(page *p, const char *form_id, const char *name, const char *label,
	const char *attrs);
/* A labelled select: `options` is value, text, value, text, ..., NULL. */
void html_select(page *p, const char *form_id, const char *name, const char *label,
	const char *const *options, const char *selected);
void html_button(page *p, const char *text);
/* Text escaped for HTML, with its first letter a capital (library messages
 * start in lower case, mid-sentence style). */
void html_sentence(apps_buf *b, const char *text);
/* "Thu 2026-11-26 17:00–20:00 GMT" in local time. */
void html_time_range(apps_buf *b, int64_t start, int64_t end);
/* "3 h" or "3 h 30 min". */
void html_hours(apps_buf *b, int64_t minutes);
/* The HTTP status for a failed apps_* call's code. */
unsigned int web_status_for(int rc);
/* A whole number 0..max from a form: 0, or -1 when missing (NULL, empty
 * or blank), -2 when not a whole number or above max. */
int web_parse_count(const char *text, unsigned int max, unsigned int *out);

/* ------------------------------------------------------------ auth.c */

struct sockaddr;

/* The passphrase: from `file` (must be this user's, mode 0600, >= 8
 * characters) or, when NULL and `pin`, a fresh PIN (w->passphrase). */
int auth_setup(web *w, const char *file, int pin);
/* A new one-time login token, and the URL holding it written to
 * <store>/web-url (0600). -1 with a message on stderr when it cannot be. */
int auth_new_login_url(web *w);
/* <store>/web-url (the URL's line, then the PIN's when there is one)
 * into `out`; -1 when there is none. */
int auth_read_login_file(const char *store_dir, char *out, size_t size);
/* The session the cookie value names (refreshed), or NULL. */
web_session *auth_session_find(web *w, const char *cookie);
/* Trade the URL's token for a session: 1 and a Set-Cookie in `r` when
 * it is the current one (a new token then replaces it), else 0. */
int auth_use_login_token(web *w, const char *token, web_reply *r);
/* The key under which a client's wrong logins are counted. */
void auth_client_key(const struct sockaddr *addr, unsigned char key[17]);
void page_login(web *w, const web_request *rq, web_reply *r);
/* The login page, saying the URL's token was not (or no longer) good. */
void page_login_link_spent(web *w, const web_request *rq, web_reply *r);
void act_login(web *w, const web_request *rq, web_reply *r);

/* ------------------------------------------------------------- tls.c */

/* The server's certificate: <store>/web-tls.pem (0600), made on first
 * start for `w`'s addresses. Sets w->fingerprint; the PEM texts are the
 * caller's to free. 0, or -1 with a message on stderr. */
int tls_load_or_create(web *w, char **cert_pem, char **key_pem);

/* ----------------------------------------------------------- conns.c */

/* Each connection's deadline: a connection that has not sent its request
 * headers WEB_HEADER_S after it opened (TLS handshake included), or its
 * body WEB_BODY_S after its headers, or read our answer WEB_REPLY_S after
 * it was queued, is closed. */
#define WEB_HEADER_S 10
#define WEB_BODY_S 30
#define WEB_REPLY_S 60
#define WEB_IDLE_S 15            /* keep-alive: idle this long, closed */
#define WEB_CONNECTIONS_MAX 256
#define WEB_CONNECTIONS_PER_ADDRESS 12
struct MHD_Connection;
enum web_phase { WEB_PHASE_HEADERS, WEB_PHASE_BODY, WEB_PHASE_REPLY };
void conns_opened(struct MHD_Connection *conn, void **socket_context);
void conns_closed(void **socket_context);
void conns_phase(struct MHD_Connection *conn, enum web_phase phase);
/* Shut down every connection past its deadline. */
void conns_sweep(void);

/* ---------------------------------------------------------- sticks.c */

/* The sync targets now: the --stick folders, then removable media mounted
 * under /media or /run/media. Returns how many were written to `out`. */
size_t sticks_list(web *w, web_stick *out, size_t max);
/* Read / write <store>/web-last-sync (written 0600, atomically). */
void last_sync_load(web *w);
int last_sync_save(web *w);

/* ---------------------------------------------------------- the pages */

void page_home(web *w, const web_request *rq, web_reply *r);
void page_sync(web *w, const web_request *rq, web_reply *r);
void act_sync(web *w, const web_request *rq, web_reply *r);

void page_pantry(web *w, const web_request *rq, web_reply *r);
void act_pantry_donate(web *w, const web_request *rq, web_reply *r);
void act_pantry_hand_out(web *w, const web_request *rq, web_reply *r);
void act_pantry_threshold(web *w, const web_request *rq, web_reply *r);
void csv_pantry_stock(web *w, const web_request *rq, web_reply *r);
void csv_pantry_distributions(web *w, const web_request *rq, web_reply *r);

void page_board(web *w, const web_request *rq, web_reply *r);
void act_board_post(web *w, const web_request *rq, web_reply *r);
void act_board_claim(web *w, const web_request *rq, web_reply *r);
void act_board_release(web *w, const web_request *rq, web_reply *r);
void act_board_fulfil(web *w, const web_request *rq, web_reply *r);
void act_board_cancel(web *w, const web_request *rq, web_reply *r);
void act_board_clear_contact(web *w, const web_request *rq, web_reply *r);

void page_rota(web *w, const web_request *rq, web_reply *r);
void act_rota_shift(web *w, const web_request *rq, web_reply *r);
void act_rota_signup(web *w, const web_request *rq, web_reply *r);
void act_rota_drop(web *w, const web_request *rq, web_reply *r);
void act_rota_swap(web *w, const web_request *rq, web_reply *r);

#endif
