/*
 * main.c - `mutual-web`: the three reference apps (pantry, board, rota)
 * and stick sync as local web pages, served from one process.
 *
 * Reads the options, opens the store, decides who may connect (loopback:
 * this laptop only; beyond it: whoever knows the passphrase or the PIN
 * printed here), starts the server and waits for SIGINT or SIGTERM, then
 * stops it and closes the store. Tests learn the port from the one line
 * "mutual-web: listening on http://ADDR:PORT/" on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "web.h"

static const char usage[] =
	"usage: mutual-web --store DIR [--listen ADDR:PORT] [--stick DIR]... [--passphrase-file FILE]\n"
	"\n"
	"Serves the pantry, the board, the rota and stick sync as web pages.\n"
	"\n"
	"  --store DIR             the store folder (made with `mutual init` or `mutual join`)\n"
	"  --listen ADDR:PORT      where to listen (default 127.0.0.1:8080: this laptop only;\n"
	"                          port 0 picks a free one). Any other address needs a\n"
	"                          passphrase: from --passphrase-file, or a PIN printed here\n"
	"  --stick DIR             a folder to offer on the Sync page (repeatable); USB sticks\n"
	"                          mounted under /media or /run/media are offered too\n"
	"  --passphrase-file FILE  the passphrase (mode 0600, at least 8 characters)\n";

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

int main(int argc, char **argv)
{
	static web w;
	const char *store_dir = NULL, *listen = "127.0.0.1:8080", *pass_file = NULL;
	char **sticks = calloc((size_t)argc, sizeof(*sticks));
	size_t n_sticks = 0;
	int status = 1, started = 0;
	sigset_t stop_signals;

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
	w.need_login = !w.loopback || pass_file;
	if (w.need_login && auth_setup(&w, pass_file) != 0)
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
	web_random_hex(w.csrf, 32);
	last_sync_load(&w);

	/* Blocked here, before the server's thread exists, so that thread
	 * inherits the mask and the signals wait for sigwait below. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (http_start(&w) != 0)
		goto done;
	started = 1;
	if (w.need_login && !pass_file)
		printf("mutual-web: PIN for other devices: %s\n", w.passphrase);
	printf("mutual-web: listening on http://%s%s%s:%u/\n", w.ipv6 ? "[" : "", w.listen_host,
		w.ipv6 ? "]" : "", w.port);
	fflush(stdout);

	int sig;
	while (sigwait(&stop_signals, &sig) != 0)
		;
	printf("mutual-web: stopping\n");
	fflush(stdout);
	status = 0;
done:
	if (started)
		http_stop();
	mutual_store_free(w.store);
	free(sticks);
	return status;
}
