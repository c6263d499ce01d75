/*
 * main.c - `mutual-web`: the three reference apps (pantry, board, rota)
 * and stick sync as local web pages, served from one process.
 *
 * Reads the options, opens the store, decides who may connect (every
 * browser logs in: this laptop's with the one-time URL, other devices
 * with the passphrase or the PIN printed here; beyond loopback over HTTPS
 * unless --insecure-http), starts the server and turns its loop until
 * SIGINT or SIGTERM, then stops it and closes the store. Tests learn the
 * port from the one line "mutual-web: listening on http(s)://ADDR:PORT/"
 * on stdout, and the login URL from `mutual-web --url`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "web.h"

static const char usage[] =
	"usage: mutual-web --store DIR [--listen ADDR:PORT] [--stick DIR]... [--passphrase-file FILE]\n"
	"                  [--insecure-http]\n"
	"       mutual-web --url --store DIR\n"
	"\n"
	"Serves the pantry, the board, the rota and stick sync as web pages.\n"
	"\n"
	"  --store DIR             the store folder (made with `mutual init` or `mutual join`)\n"
	"  --listen ADDR:PORT      where to listen (default 127.0.0.1:8080: this laptop only;\n"
	"                          port 0 picks a free one). Any other address is served over\n"
	"                          HTTPS and needs a passphrase: from --passphrase-file, or a\n"
	"                          PIN printed here\n"
	"  --stick DIR             a folder to offer on the Sync page (repeatable); USB sticks\n"
	"                          mounted under /media or /run/media are offered too\n"
	"  --passphrase-file FILE  the passphrase (mode 0600, at least 8 characters)\n"
	"  --insecure-http         plain HTTP beyond loopback: anyone on the network can read\n"
	"                          the pages, the PIN and the session (every page says so)\n"
	"  --url                   print the address that logs this laptop's browser in (each\n"
	"                          works once) and the PIN of the mutual-web running for DIR\n";

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

int web_read_private(const char *path, const char *what, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char *text = NULL;
	size_t n = 0;
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0) {
		fprintf(stderr, "mutual-web: %s %s: %s\n", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "mutual-web: %s %s: not a regular file\n", what, path);
		goto fail;
	}
	/* Anyone else who can read it holds what it holds. */
	if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
		fprintf(stderr, "mutual-web: %s %s: must be yours and mode 0600 (it is %03o): "
			"chmod 600 %s\n", what, path, (unsigned)(st.st_mode & 0777), path);
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		fprintf(stderr, "mutual-web: %s %s: larger than %zu bytes\n", what, path, max);
		goto fail;
	}
	if (!(text = malloc((size_t)st.st_size + 1)))
		goto fail;
	while (n < (size_t)st.st_size) {
		ssize_t got = read(fd, text + n, (size_t)st.st_size - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fprintf(stderr, "mutual-web: %s %s: %s\n", what, path, strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	text[n] = '\0';
	close(fd);
	*out = text;
	*len = n;
	return 0;
fail:
	if (text)
		explicit_bzero(text, (size_t)st.st_size + 1);
	free(text);
	close(fd);
	return -1;
}

const char *web_scheme(const web *w)
{
	return w->tls ? "https" : "http";
}

int web_write_private(web *w, const char *name, const void *data, size_t len)
{
	char path[4096], tmp[4200];
	snprintf(path, sizeof(path), "%s/%s", w->store_dir, name);
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	int fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0)
		return -1;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
		goto fail;
	int closed = close(fd);
	fd = -1;
	if (closed != 0 || rename(tmp, path) != 0)
		goto fail;
	/* The rename itself is durable once the folder is synced. */
	int dir = open(w->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -1;
	int rc = fsync(dir);
	close(dir);
	return rc;
fail:
	if (fd >= 0)
		close(fd);
	int saved = errno;
	unlink(tmp);
	errno = saved;
	return -1;
}

void web_random_hex(char *out, size_t n)
{
	unsigned char raw[64];
	size_t got = 0;
	if (n > sizeof(raw))
		abort();
	while (got < n) {
		ssize_t k = getrandom(raw + got, n - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			abort(); /* the kernel's random source does not fail on Linux >= 3.17 */
		got += (size_t)k;
	}
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

int64_t web_monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* "127.0.0.1:8080" or "[::1]:8080" into w's host, family, port and
 * loopback flag. Only IP addresses: a name could resolve elsewhere later. */
static int parse_listen(web *w, const char *text)
{
	char host[64];
	const char *port_text;
	if (text[0] == '[') {
		const char *close = strstr(text, "]:");
		if (!close || (size_t)(close - text - 1) >= sizeof(host))
			return -1;
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port_text = close + 2;
		w->ipv6 = 1;
	} else {
		const char *colon = strrchr(text, ':');
		if (!colon || (size_t)(colon - text) >= sizeof(host))
			return -1;
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		port_text = colon + 1;
		w->ipv6 = 0;
	}
	unsigned int port;
	if (web_parse_count(port_text, 65535, &port) != 0 || strchr(port_text, ' '))
		return -1;
	w->port = port;
	if (w->ipv6) {
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return -1;
		w->loopback = IN6_IS_ADDR_LOOPBACK(&a6);
		inet_ntop(AF_INET6, &a6, w->listen_host, sizeof(w->listen_host));
	} else {
		struct in_addr a4;
		if (inet_pton(AF_INET, host, &a4) != 1)
			return -1;
		w->loopback = (ntohl(a4.s_addr) >> 24) == 127;
		inet_ntop(AF_INET, &a4, w->listen_host, sizeof(w->listen_host));
	}
	return 0;
}

/* The value of option `name` at argv[*i] ("--name VALUE" or "--name=VALUE"),
 * advancing *i; NULL when argv[*i] is not that option. */
static const char *option_value(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

/* What the person at the laptop needs: the fingerprint to compare, and
 * (on a terminal only: a service's log would keep them) the login URL and
 * the PIN; `mutual-web --url` prints those later. */
static void print_start(web *w)
{
	int terminal = isatty(STDOUT_FILENO);
	if (w->pin && terminal)
		printf("mutual-web: PIN for other devices: %.5s %s\n", w->passphrase,
			w->passphrase + 5);
	if (w->tls)
		printf("mutual-web: certificate fingerprint (SHA-256): %s\n", w->fingerprint);
	if (w->insecure_http)
		printf("mutual-web: warning: plain HTTP: anyone on this network can read the pages, "
			"the PIN and the sessions\n");
	printf("mutual-web: listening on %s://%s%s%s:%u/\n", web_scheme(w), w->ipv6 ? "[" : "",
		w->listen_host, w->ipv6 ? "]" : "", w->port);
	char text[512];
	if (terminal && auth_read_login_file(w->store_dir, text, sizeof(text)) == 0)
		printf("mutual-web: open %.*s on this laptop (it works once)\n",
			(int)strcspn(text, "\n"), text);
	else
		printf("mutual-web: to log in on this laptop%s: mutual-web --url --store %s\n",
			w->pin ? ", and for the PIN" : "", w->store_dir);
	fflush(stdout);
}

static void unlink_login_url(web *w)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/web-url", w->store_dir);
	unlink(path);
}

int main(int argc, char **argv)
{
	static web w;
	const char *store_dir = NULL, *listen = "127.0.0.1:8080", *pass_file = NULL;
	char **sticks = calloc((size_t)argc, sizeof(*sticks));
	char *cert_pem = NULL, *key_pem = NULL;
	size_t n_sticks = 0;
	int status = 1, started = 0, print_url = 0;

	if (!sticks) {
		fprintf(stderr, "mutual-web: out of memory\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *v;
		int missing = 0;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			status = 0;
			goto done;
		} else if ((v = option_value(argc, argv, &i, "--store", &missing))) {
			store_dir = v;
		} else if ((v = option_value(argc, argv, &i, "--listen", &missing))) {
			listen = v;
		} else if ((v = option_value(argc, argv, &i, "--stick", &missing))) {
			sticks[n_sticks++] = (char *)v;
		} else if ((v = option_value(argc, argv, &i, "--passphrase-file", &missing))) {
			pass_file = v;
		} else if (strcmp(argv[i], "--insecure-http") == 0) {
			w.insecure_http = 1;
		} else if (strcmp(argv[i], "--url") == 0) {
			print_url = 1;
		} else {
			fprintf(stderr, missing ? "mutual-web: %s needs a value\n%s"
						: "mutual-web: unknown argument %s\n%s", argv[i], usage);
			status = 2;
			goto done;
		}
	}
	if (!store_dir) {
		fprintf(stderr, "mutual-web: --store DIR is required\n%s", usage);
		status = 2;
		goto done;
	}
	if (print_url) {
		char text[512];
		if (auth_read_login_file(store_dir, text, sizeof(text)) != 0) {
			fprintf(stderr, "mutual-web: no mutual-web is running for %s (or it runs as "
				"another user)\n", store_dir);
			goto done;
		}
		fputs(text, stdout);
		status = 0;
		goto done;
	}
	if (parse_listen(&w, listen) != 0) {
		fprintf(stderr, "mutual-web: --listen %s: give an IP address and a port, like "
			"127.0.0.1:8080 or [::1]:8080\n", listen);
		status = 2;
		goto done;
	}
	for (size_t i = 0; i < n_sticks; i++) {
		struct stat st;
		if (stat(sticks[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "mutual-web: --stick %s: no such folder (plug the stick in, "
				"or make the folder)\n", sticks[i]);
			goto done;
		}
	}
	w.stick_dirs = sticks;
	w.n_stick_dirs = n_sticks;
	w.store_dir = store_dir;
	w.tls = !w.loopback && !w.insecure_http;
	w.insecure_http = !w.loopback && w.insecure_http; /* loopback is never on the wire */
	if (auth_setup(&w, pass_file, !w.loopback) != 0)
		goto done;

	int rc = mutual_store_open(&w.store, store_dir, MUTUAL_OPEN_DEFAULT);
	if (rc != 0) {
		fprintf(stderr, "mutual-web: %s\n", mutual_error_last());
		goto done;
	}
	if (apps_open(w.store) != 0) {
		fprintf(stderr, "mutual-web: %s\n", apps_error());
		goto done;
	}
	last_sync_load(&w);
	if (w.tls && tls_load_or_create(&w, &cert_pem, &key_pem) != 0)
		goto done;

	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (http_start(&w, cert_pem, key_pem) != 0)
		goto done;
	started = 1;
	if (auth_new_login_url(&w) != 0)
		goto done;
	print_start(&w);

	while (!stop_signal)
		http_run(1000);
	printf("mutual-web: stopping\n");
	fflush(stdout);
	status = 0;
done:
	if (started) {
		http_stop();
		unlink_login_url(&w);
	}
	if (key_pem)
		explicit_bzero(key_pem, strlen(key_pem));
	free(key_pem);
	free(cert_pem);
	explicit_bzero(w.passphrase, sizeof(w.passphrase));
	mutual_store_free(w.store);
	free(sticks);
	return status;
}
