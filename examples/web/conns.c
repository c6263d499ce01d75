/*
 * conns.c - deadlines for connections, so that slow clients cannot hold
 * the server's connection slots (slowloris).
 *
 * libmicrohttpd closes a connection idle for WEB_IDLE_S, but a client that
 * sends one byte every few seconds is never idle. So each connection also
 * has a deadline for the phase it is in (headers, body, reading the
 * reply), and conns_sweep, run by the one server thread between turns of
 * libmicrohttpd's loop, shuts down the socket of any connection past it;
 * libmicrohttpd then sees the end of the stream and closes it.
 *
 * Invariants:
 * 1. A `conn_deadline` is on the list exactly while libmicrohttpd holds
 *    its connection open: added when it is told the connection started,
 *    removed when told it closed, which it does before closing the socket.
 * 2. So the socket a listed entry names is open and is that connection's:
 *    shutting it down never touches another file.
 */
#include <microhttpd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "web.h"

struct conn_deadline {
	struct MHD_Connection *conn;
	int fd;
	int64_t deadline_ms; /* monotonic */
	struct conn_deadline *prev, *next;
};

static struct conn_deadline *conns;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void conns_opened(struct MHD_Connection *conn, void **socket_context)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct conn_deadline *c = calloc(1, sizeof(*c));
	if (!c || !info) {
		/* Without a deadline it would only be closed when idle: close it
		 * now instead, as if the slot were taken. */
		free(c);
		if (info)
			shutdown(info->connect_fd, SHUT_RDWR);
		return;
	}
	c->conn = conn;
	c->fd = info->connect_fd;
	c->deadline_ms = now_ms() + WEB_HEADER_S * 1000;
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	*socket_context = c;
}

void conns_closed(void **socket_context)
{
	struct conn_deadline *c = *socket_context;
	if (!c)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	*socket_context = NULL;
}

void conns_phase(struct MHD_Connection *conn, enum web_phase phase)
{
	static const int seconds[] = {
		[WEB_PHASE_HEADERS] = WEB_IDLE_S + WEB_HEADER_S,
		[WEB_PHASE_BODY] = WEB_BODY_S,
		[WEB_PHASE_REPLY] = WEB_REPLY_S,
	};
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_deadline *c = info ? info->socket_context : NULL;
	if (c)
		c->deadline_ms = now_ms() + seconds[phase] * 1000;
}

void conns_sweep(void)
{
	int64_t now = now_ms();
	for (struct conn_deadline *c = conns; c; c = c->next)
		if (now > c->deadline_ms) {
			shutdown(c->fd, SHUT_RDWR);
			c->deadline_ms = INT64_MAX; /* once is enough */
		}
}
