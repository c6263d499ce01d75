/*
 * http.c - the HTTP side of mutual-web, and the only file that speaks to
 * libmicrohttpd: routing, the checks every request passes before a page
 * sees it, reading form bodies, and turning a web_reply into a response
 * with the security headers.
 *
 * The checks, in order: the request's path and query must be well
 * escaped, with no NUL (400: libmicrohttpd would cut the path at the NUL
 * and answer another page); the Host header must name this server by IP or
 * localhost (421 otherwise: a web page elsewhere whose name was rebound to
 * 127.0.0.1 must not reach the store); a ?token= is traded for a session
 * (auth.c); the path must exist (404) for this method (405); the browser
 * must be logged in (303 to /login, 401 for a POST), loopback included; a
 * POST must come from this server's own pages (Origin, when sent, is this
 * server's; Sec-Fetch-Site, when sent, is same-origin: 403), fit
 * WEB_BODY_MAX (413), be an urlencoded form (415) that parses (400) and
 * carry its session's CSRF token (403; before login, the login cookie's).
 * Only then does a page handler run.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "assets.h"
#include "web.h"

#define CSP "default-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; " \
	"frame-ancestors 'none'"

static struct MHD_Daemon *daemon_handle;

struct route {
	const char *path;
	int post;       /* POST, else GET (and HEAD) */
	web_handler fn;
	int open;       /* reachable before login */
};

static const struct route routes[] = {
	{ "/", 0, page_home, 0 },
	{ "/pantry", 0, page_pantry, 0 },
	{ "/pantry/stock.csv", 0, csv_pantry_stock, 0 },
	{ "/pantry/distributions.csv", 0, csv_pantry_distributions, 0 },
	{ "/pantry/donate", 1, act_pantry_donate, 0 },
	{ "/pantry/hand-out", 1, act_pantry_hand_out, 0 },
	{ "/pantry/threshold", 1, act_pantry_threshold, 0 },
	{ "/board", 0, page_board, 0 },
	{ "/board/post", 1, act_board_post, 0 },
	{ "/board/claim", 1, act_board_claim, 0 },
	{ "/board/release", 1, act_board_release, 0 },
	{ "/board/fulfil", 1, act_board_fulfil, 0 },
	{ "/board/cancel", 1, act_board_cancel, 0 },
	{ "/board/clear-contact", 1, act_board_clear_contact, 0 },
	{ "/rota", 0, page_rota, 0 },
	{ "/rota/shift", 1, act_rota_shift, 0 },
	{ "/rota/signup", 1, act_rota_signup, 0 },
	{ "/rota/drop", 1, act_rota_drop, 0 },
	{ "/rota/swap", 1, act_rota_swap, 0 },
	{ "/sync", 0, page_sync, 0 },
	{ "/sync", 1, act_sync, 0 },
	{ "/login", 0, page_login, 1 },
	{ "/login", 1, act_login, 1 },
};

/* One request between libmicrohttpd's calls: made when its request line
 * arrives (on_uri), then what the first call decided and the body read. */
struct pending {
	int bad_uri;    /* a NUL or a malformed %-escape in the path or query */
	int started;    /* the first call (headers complete) has run */
	const struct route *route;
	web_session *session;
	char login_csrf[65]; /* before login: the login cookie's token */
	int new_login_csrf;  /* ... just made: the reply sets the cookie */
	unsigned char client[17];
	apps_buf body;
};

int web_equal(const char *secret, const char *guess)
{
	/* Time depends on the guess's length only: every byte is compared,
	 * cycling over the secret and its NUL. */
	size_t ls = strlen(secret), lg = strlen(guess);
	unsigned char diff = ls != lg;
	for (size_t i = 0; i < lg; i++)
		diff |= (unsigned char)(secret[i % (ls + 1)] ^ guess[i]);
	return diff == 0;
}

/* ------------------------------------------------------------ replies */

/* Referrers go to this server only: under "no-referrer" a browser sends
 * "Origin: null" with its own forms, and the Origin check needs the real
 * one. The replies to a login URL say no-referrer (web_reply.no_referrer). */
static void add_common_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy", CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, web_reply *r, const char *allow)
{
	conns_phase(conn, WEB_PHASE_REPLY);
	static const char oom[] = "out of memory\n";
	struct MHD_Response *resp;
	int failed = r->body.failed;
	unsigned int status = failed ? 500 : r->location[0] ? 303 : r->status;
	if (failed)
		resp = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
			MHD_RESPMEM_PERSISTENT);
	else
		resp = MHD_create_response_from_buffer(r->body.len, r->body.data,
			MHD_RESPMEM_MUST_COPY);
	apps_buf_free(&r->body);
	if (!resp)
		return MHD_NO;
	add_common_headers(resp);
	MHD_add_response_header(resp, "Referrer-Policy", r->no_referrer ? "no-referrer" : "same-origin");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Content-Type", failed ? "text/plain; charset=utf-8" :
		r->content_type ? r->content_type : "text/html; charset=utf-8");
	if (r->location[0] && !failed)
		MHD_add_response_header(resp, "Location", r->location);
	if (r->filename[0] && !failed) {
		char disposition[128];
		snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"", r->filename);
		MHD_add_response_header(resp, "Content-Disposition", disposition);
	}
	if (r->set_cookie[0] && !failed)
		MHD_add_response_header(resp, "Set-Cookie", r->set_cookie);
	if (allow)
		MHD_add_response_header(resp, "Allow", allow);
	enum MHD_Result ok = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, web *w, int signed_in,
	unsigned int status, const char *heading, const char *text, const char *allow)
{
	web_request rq = { .signed_in = signed_in, .csrf = "" };
	web_reply r = { 0 };
	page_error(w, &rq, &r, status, heading, text);
	return send_reply(conn, &r, allow);
}

static enum MHD_Result send_asset(struct MHD_Connection *conn, const web_asset *a)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(a->len, (void *)a->data,
		MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	conns_phase(conn, WEB_PHASE_REPLY);
	add_common_headers(resp);
	MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
	MHD_add_response_header(resp, "Content-Type", a->type);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ok;
}

/* ------------------------------------------- status messages (flash) */

void web_redirect(web *w, web_reply *r, const char *path, const char *message)
{
	apps_buf_free(&r->body);
	if (!message) {
		snprintf(r->location, sizeof(r->location), "%s", path);
		return;
	}
	/* The message stays here; the URL only names it, so a link cannot make
	 * a page say something this server did not. */
	web_flash *f = &w->flash[w->flash_next];
	w->flash_next = (w->flash_next + 1) % WEB_FLASH_MAX;
	web_random_hex(f->id, 8);
	snprintf(f->text, sizeof(f->text), "%s", message);
	snprintf(r->location, sizeof(r->location), "%s?m=%s", path, f->id);
}

void web_finish(web *w, const web_request *rq, web_reply *r, web_render_fn render,
	const char *path, int rc, const char *form_id, const char *message)
{
	if (rc != 0)
		render(w, rq, r, web_status_for(rc), apps_error(), form_id);
	else
		web_redirect(w, r, path, message);
}

static const char *flash_find(web *w, const char *id)
{
	if (!id || strlen(id) != 16)
		return NULL;
	for (size_t i = 0; i < WEB_FLASH_MAX; i++)
		if (w->flash[i].id[0] && strcmp(w->flash[i].id, id) == 0)
			return w->flash[i].text;
	return NULL;
}

/* ------------------------------------------------------------- checks */

/* The address this connection reached, as a Host would write it. */
static int local_address(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char text[INET6_ADDRSTRLEN];
	if (!info || getsockname(info->connect_fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET &&
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof(text)))
		snprintf(out, size, "%s", text);
	else if (ss.ss_family == AF_INET6 &&
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, sizeof(text)))
		snprintf(out, size, "[%s]", text);
	else
		return -1;
	return 0;
}

/* The Host header names this server: localhost, a loopback address, the
 * listen address or the address the connection reached, with our port.
 * A name (other than localhost) never passes: that is DNS rebinding. */
static int host_ok(web *w, struct MHD_Connection *conn, const char *host)
{
	if (!host)
		return 0;
	size_t name_len;
	if (host[0] == '[') {
		const char *end = strchr(host, ']');
		if (!end)
			return 0;
		name_len = (size_t)(end - host) + 1;
	} else {
		name_len = strcspn(host, ":");
	}
	unsigned int port = 80;
	const char *rest = host + name_len;
	if (*rest == ':' && (web_parse_count(rest + 1, 65535, &port) != 0 || strchr(rest, ' ')))
		return 0;
	if ((*rest != ':' && *rest != '\0') || port != w->port || name_len == 0)
		return 0;

	char listen[80], local[80];
	snprintf(listen, sizeof(listen), w->ipv6 ? "[%s]" : "%s", w->listen_host);
	const char *names[] = { "localhost", "127.0.0.1", "[::1]", listen,
		local_address(conn, local, sizeof(local)) == 0 ? local : NULL };
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (names[i] && strlen(names[i]) == name_len &&
			strncasecmp(names[i], host, name_len) == 0)
			return 1;
	return 0;
}

static const web_asset *find_asset(const char *url)
{
	for (size_t i = 0; i < web_assets_count; i++)
		if (strcmp(web_assets[i].path, url) == 0)
			return &web_assets[i];
	return NULL;
}

/* The route for (url, post); *path_known says whether the path exists
 * under another method. */
static const struct route *find_route(const char *url, int post, int *path_known)
{
	*path_known = 0;
	for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
		if (strcmp(routes[i].path, url) != 0)
			continue;
		*path_known = 1;
		if (routes[i].post == post)
			return &routes[i];
	}
	return NULL;
}

static const char *allowed_methods(const char *url)
{
	int get = 0, post = 0;
	for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++)
		if (strcmp(routes[i].path, url) == 0)
			*(routes[i].post ? &post : &get) = 1;
	return get && post ? "GET, HEAD, POST" : post ? "POST" : "GET, HEAD";
}

/* A state-changing request comes from this server's own page: a browser
 * names the page's origin (Origin) and whether it is this one
 * (Sec-Fetch-Site). A client that sends neither is not a browser a page
 * can drive; the session's CSRF token is the check that holds for it. */
static int same_origin(web *w, struct MHD_Connection *conn)
{
	const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	char own[160];
	if (site && strcmp(site, "same-origin") != 0)
		return 0;
	/* Sec-Fetch-Site is set by the browser alone (no page can), so with
	 * it an opaque "null" origin (a no-referrer page's own form) is ours. */
	if (!origin || (site && strcmp(origin, "null") == 0))
		return 1;
	/* The Host header was checked to name this server already. */
	snprintf(own, sizeof(own), "%s://%s", web_scheme(w), host ? host : "");
	return strcasecmp(origin, own) == 0;
}

static void login_cookie(web *w, const struct pending *p, web_reply *r)
{
	snprintf(r->set_cookie, sizeof(r->set_cookie),
		"%s=%s; HttpOnly; SameSite=Strict; Path=/%s", w->login_cookie, p->login_csrf,
		w->tls ? "; Secure" : "");
}

/* Before login, the login form's CSRF token: the login cookie's when the
 * browser sent one, else a new one, which the reply `r` (or, when NULL,
 * the one last_call sends) sets as the cookie. */
static void start_login_csrf(web *w, struct MHD_Connection *conn, struct pending *p,
	web_reply *r)
{
	const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, w->login_cookie);
	if (cookie && strlen(cookie) == 64 && strspn(cookie, "0123456789abcdef") == 64) {
		snprintf(p->login_csrf, sizeof(p->login_csrf), "%s", cookie);
		return;
	}
	web_random_hex(p->login_csrf, 32);
	p->new_login_csrf = 1;
	if (r)
		login_cookie(w, p, r);
}

/* The first call of a request: everything decided from its headers.
 * Returns 1 to go on reading, or 0 with a response queued in *result. */
static int first_call(web *w, struct MHD_Connection *conn, const char *url, const char *method,
	struct pending *p, enum MHD_Result *result)
{
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;

	conns_phase(conn, WEB_PHASE_BODY);
	if (p->bad_uri) {
		*result = send_error(conn, w, 0, MHD_HTTP_BAD_REQUEST, "Bad address",
			"the address has a NUL or a broken %-escape in it", NULL);
		return 0;
	}
	if (!host_ok(w, conn, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"))) {
		*result = send_error(conn, w, 0, MHD_HTTP_MISDIRECTED_REQUEST, "Wrong address",
			"this server answers only to its IP address or localhost", NULL);
		return 0;
	}
	const union MHD_ConnectionInfo *peer =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	auth_client_key(peer ? peer->client_addr : NULL, p->client);
	p->session = auth_session_find(w, MHD_lookup_connection_value(conn, MHD_COOKIE_KIND,
		w->session_cookie));
	int signed_in = p->session != NULL;

	const web_asset *asset = find_asset(url);
	int path_known = asset != NULL;
	p->route = asset ? NULL : find_route(url, post, &path_known);
	if (asset && get) {
		*result = send_asset(conn, asset);
		return 0;
	}
	const char *token = get && p->route ? MHD_lookup_connection_value(conn,
		MHD_GET_ARGUMENT_KIND, "token") : NULL;
	if (token) {
		/* The URL bar must not keep the token: the page is reached again
		 * without it, with the session's cookie. */
		web_reply r = { .no_referrer = 1 };
		web_request rq = { .signed_in = signed_in, .csrf = "" };
		if (auth_use_login_token(w, token, &r) || signed_in) {
			/* Logged in already, a spent URL (from the history) just
			 * goes on to its page. */
			snprintf(r.location, sizeof(r.location), "%s", p->route->path);
		} else {
			start_login_csrf(w, conn, p, &r);
			rq.csrf = p->login_csrf;
			page_login_link_spent(w, &rq, &r);
		}
		*result = send_reply(conn, &r, NULL);
		return 0;
	}
	if (!path_known) {
		*result = send_error(conn, w, signed_in, MHD_HTTP_NOT_FOUND, "Not found",
			"there is no such page here", NULL);
		return 0;
	}
	if (!p->route || (!get && !post)) {
		*result = send_error(conn, w, signed_in, MHD_HTTP_METHOD_NOT_ALLOWED,
			"Method not allowed", "this page does not take that kind of request",
			asset ? "GET, HEAD" : allowed_methods(url));
		return 0;
	}
	if (!p->route->open && !signed_in) {
		if (get) {
			web_reply r = { 0 };
			web_redirect(w, &r, "/login", NULL);
			*result = send_reply(conn, &r, NULL);
		} else {
			*result = send_error(conn, w, 0, MHD_HTTP_UNAUTHORIZED, "Log in first",
				"log in with the passphrase or PIN, then try again", NULL);
		}
		return 0;
	}
	if (post) {
		const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_CONTENT_LENGTH);
		const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_CONTENT_TYPE);
		static const char urlencoded[] = "application/x-www-form-urlencoded";
		if (length && strtoull(length, NULL, 10) > WEB_BODY_MAX) {
			*result = send_error(conn, w, signed_in, MHD_HTTP_CONTENT_TOO_LARGE,
				"Too large", "the form is larger than this server takes", NULL);
			return 0;
		}
		if (!type || strncasecmp(type, urlencoded, sizeof(urlencoded) - 1) != 0 ||
			(type[sizeof(urlencoded) - 1] != '\0' && type[sizeof(urlencoded) - 1] != ';')) {
			*result = send_error(conn, w, signed_in, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				"Not a form", "send the page's form as it is", NULL);
			return 0;
		}
		if (!same_origin(w, conn)) {
			*result = send_error(conn, w, signed_in, MHD_HTTP_FORBIDDEN,
				"Form from elsewhere", "this form came from another site or page: "
				"open this server's page and try again", NULL);
			return 0;
		}
	}
	if (!signed_in)
		start_login_csrf(w, conn, p, NULL);
	return 1;
}

/* The whole request is in: parse, check the token, run the page. */
static enum MHD_Result last_call(web *w, struct MHD_Connection *conn, struct pending *p)
{
	form f = { 0 };
	/* Looked up again: the session may have ended while the body came. */
	p->session = auth_session_find(w, MHD_lookup_connection_value(conn, MHD_COOKIE_KIND,
		w->session_cookie));
	if (!p->route->open && !p->session)
		return send_error(conn, w, 0, MHD_HTTP_UNAUTHORIZED, "Log in first",
			"log in with the passphrase or PIN, then try again", NULL);
	web_request rq = { .post = p->route->post, .signed_in = p->session != NULL,
		.csrf = p->session ? p->session->csrf : p->login_csrf, .client = p->client,
		.form = &f };
	web_reply r = { .status = 200 };
	enum MHD_Result result;

	if (p->body.failed) {
		r.body.failed = 1;
		return send_reply(conn, &r, NULL);
	}
	if (rq.post) {
		const char *why = NULL;
		if (form_parse(&f, p->body.data ? p->body.data : "", p->body.len, &why) != 0)
			return send_error(conn, w, rq.signed_in, MHD_HTTP_BAD_REQUEST,
				"Form not readable", why, NULL);
		const char *token = form_get(&f, "csrf");
		/* Before login the token is the login cookie's, so a new cookie
		 * (just made) cannot match: the form was not ours. */
		if (!token || !rq.csrf[0] || p->new_login_csrf || !web_equal(rq.csrf, token)) {
			form_free(&f);
			web_request erq = { .signed_in = rq.signed_in, .csrf = rq.csrf };
			web_reply e = { 0 };
			page_error(w, &erq, &e, MHD_HTTP_FORBIDDEN, "Form expired",
				"this form is out of date or came from another site: reload the page "
				"and try again");
			if (p->new_login_csrf)
				login_cookie(w, p, &e);
			return send_reply(conn, &e, NULL);
		}
	} else {
		rq.message = flash_find(w, MHD_lookup_connection_value(conn,
			MHD_GET_ARGUMENT_KIND, "m"));
	}
	if (p->new_login_csrf)
		login_cookie(w, p, &r);
	p->route->fn(w, &rq, &r); /* a login's session cookie replaces the login cookie */
	result = send_reply(conn, &r, NULL);
	form_free(&f);
	return result;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload_data,
	size_t *upload_data_size, void **req_cls)
{
	web *w = cls;
	struct pending *p = *req_cls;
	(void)version;

	if (!p)
		return MHD_NO; /* on_uri had no memory for it */
	if (!p->started) {
		enum MHD_Result result = MHD_YES;
		p->started = 1;
		return first_call(w, conn, url, method, p, &result) ? MHD_YES : result;
	}
	if (*upload_data_size) {
		/* Past the limit without a declared length (chunked): a 413 can
		 * no longer be sent mid-body, so the connection is closed. */
		if (p->body.len + *upload_data_size > WEB_BODY_MAX)
			return MHD_NO;
		apps_buf_add(&p->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return last_call(w, conn, p);
}

/* The request line has arrived, before any header: the raw path and
 * query, as sent, are judged here (libmicrohttpd unescapes them later). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct pending *p = calloc(1, sizeof(*p));
	(void)cls, (void)conn;
	if (p)
		p->bad_uri = form_uri_check(uri) != 0;
	return p;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
	enum MHD_RequestTerminationCode code)
{
	struct pending *p = *req_cls;
	(void)cls, (void)code;
	if (p) {
		apps_buf_free(&p->body);
		free(p);
		*req_cls = NULL;
	}
	/* Kept alive: the next request's headers are due. */
	conns_phase(conn, WEB_PHASE_HEADERS);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
	enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		conns_opened(conn, socket_context);
	else
		conns_closed(socket_context);
}

int http_start(web *w, const char *cert_pem, const char *key_pem)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)w->port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
		.sin6_port = htons((uint16_t)w->port) };
	const struct sockaddr *addr = (const struct sockaddr *)&a4;
	/* No internal thread: main.c turns the loop (http_run), so the
	 * deadlines are enforced between turns, by the same thread. */
	unsigned int flags = MHD_USE_EPOLL;
	if (w->ipv6) {
		inet_pton(AF_INET6, w->listen_host, &a6.sin6_addr);
		addr = (const struct sockaddr *)&a6;
		flags |= MHD_USE_IPv6;
	} else {
		inet_pton(AF_INET, w->listen_host, &a4.sin_addr);
	}
	if (w->tls) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			fprintf(stderr, "mutual-web: this libmicrohttpd has no TLS; use "
				"--insecure-http only on a network you trust\n");
			return -1;
		}
		flags |= MHD_USE_TLS;
	}
	daemon_handle = MHD_start_daemon(flags, (uint16_t)w->port, NULL, NULL, on_request, w,
		MHD_OPTION_SOCK_ADDR, addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)WEB_CONNECTIONS_MAX,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)WEB_CONNECTIONS_PER_ADDRESS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)WEB_IDLE_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
		/* Without TLS the list ends here. */
		w->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, key_pem,
		MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
		MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		MHD_OPTION_END);
	if (!daemon_handle) {
		fprintf(stderr, "mutual-web: cannot listen on %s%s%s:%u (in use, or not an address "
			"of this machine?)\n", w->ipv6 ? "[" : "", w->listen_host, w->ipv6 ? "]" : "",
			w->port);
		return -1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_handle,
		MHD_DAEMON_INFO_BIND_PORT);
	if (info && info->port)
		w->port = info->port;
	snprintf(w->session_cookie, sizeof(w->session_cookie), "mutual_session_%u", w->port);
	snprintf(w->login_cookie, sizeof(w->login_cookie), "mutual_login_%u", w->port);
	return 0;
}

void http_run(int ms)
{
	MHD_run_wait(daemon_handle, ms);
	conns_sweep();
}

void http_stop(void)
{
	MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
}
