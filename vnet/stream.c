/*
 * stream.c — a subnet's port to the world outside: one stream socket on
 * loopback in QEMU's `-netdev stream` framing (each frame preceded by its
 * length, 4 bytes big-endian), so that a QEMU guest
 * (`-netdev stream,id=n,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=P`)
 * or a capture tool can join the subnet.
 *
 * Never blocking. The listening socket and the one connection live in an
 * epoll set of the stream's own, whose fd the node adds to its event loop:
 * when it is readable the node calls vnet_stream_poll(). A frame the switch
 * queues for the port (vnet_port_*) is written at once, or, when the socket
 * is full, as soon as it becomes writable (EPOLLOUT); frames wait in the
 * port's bounded queue meanwhile, and while no one is connected, so that
 * the switch's tail drops count what could not be kept. A second client is
 * refused; a client that sends a length outside 14..MTU+18 is disconnected
 * (the framing has no way to resynchronise).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "vnet/vnet.h"

struct vnet_stream {
	struct vnet_port *port;
	int ep, lfd, cfd;
	uint16_t bound;
	unsigned frame_max;
	/* reading: a length, then its frame */
	uint8_t *rbuf;
	size_t rgot;
	/* writing: the head frame of the port's queue, framed */
	uint8_t *wbuf;
	size_t wlen, woff;
	bool wpending;
	uint64_t frames_in, frames_out, connections, refused, bad_lengths;
};

static void want_out(struct vnet_stream *s, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.fd = s->cfd };

	if (s->cfd >= 0)
		epoll_ctl(s->ep, EPOLL_CTL_MOD, s->cfd, &ev);
}

static void disconnect(struct vnet_stream *s, const char *why)
{
	if (s->cfd < 0)
		return;
	LOG(SUB_NET, LOG_INFO, "external port %u: client gone (%s)", s->bound, why);
	epoll_ctl(s->ep, EPOLL_CTL_DEL, s->cfd, NULL);
	close(s->cfd);
	s->cfd = -1;
	s->rgot = 0;
	s->wlen = s->woff = 0;	/* a frame half written is lost with the connection */
}

/* Write queued frames until the queue is empty or the socket is full. */
static void flush_out(struct vnet_stream *s)
{
	while (s->cfd >= 0) {
		if (s->woff == s->wlen) {
			const void *f;
			size_t len = vnet_port_peek(s->port, &f);
			uint32_t be;

			if (!len)
				break;
			be = htonl((uint32_t)len);
			memcpy(s->wbuf, &be, 4);
			memcpy(s->wbuf + 4, f, len);
			s->wlen = 4 + len;
			s->woff = 0;
			vnet_port_pop(s->port, true);
			s->frames_out++;
		}
		ssize_t n = send(s->cfd, s->wbuf + s->woff, s->wlen - s->woff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!s->wpending)
				want_out(s, true);
			s->wpending = true;
			return;
		}
		if (n <= 0) {
			disconnect(s, n < 0 ? strerror(errno) : "closed");
			return;
		}
		s->woff += (size_t)n;
	}
	if (s->wpending)
		want_out(s, false);
	s->wpending = false;
}

static void kick(void *opaque)
{
	flush_out(opaque);
}

static const struct vnet_port_ops stream_ops = { .kick = kick };

static void read_in(struct vnet_stream *s, uint64_t now_ns)
{
	for (;;) {
		size_t want;
		uint32_t len = 0;

		if (s->rgot < 4) {
			want = 4 - s->rgot;
		} else {
			memcpy(&len, s->rbuf, 4);
			len = ntohl(len);
			if (len < VNET_ETH_HLEN || len > s->frame_max) {
				s->bad_lengths++;
				LOG_RATELIMITED(SUB_NET, LOG_WARN, "external port %u: frame length %u outside %d..%u: "
						"disconnecting", s->bound, len, VNET_ETH_HLEN, s->frame_max);
				disconnect(s, "bad frame length");
				return;
			}
			want = 4 + len - s->rgot;
		}
		ssize_t n = recv(s->cfd, s->rbuf + s->rgot, want, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			disconnect(s, n < 0 ? strerror(errno) : "closed");
			return;
		}
		s->rgot += (size_t)n;
		if (s->rgot >= 4 && len && s->rgot == 4 + len) {
			s->frames_in++;
			vnet_port_input(s->port, s->rbuf + 4, len, now_ns);
			s->rgot = 0;
		}
	}
}

struct vnet_stream *vnet_stream_open(struct vnet *n, unsigned subnet, uint16_t port, char *err, size_t errlen)
{
	struct vnet_stream *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct epoll_event ev = { .events = EPOLLIN };
	int one = 1;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->ep = s->lfd = s->cfd = -1;
	s->frame_max = vnet_subnet_mtu(n, subnet) + VNET_ETH_HLEN + 4;
	s->rbuf = malloc(4 + s->frame_max);
	s->wbuf = malloc(4 + s->frame_max);
	if (!s->rbuf || !s->wbuf || !vnet_subnet_mtu(n, subnet)) {
		snprintf(err, errlen, "out of memory or no subnet %u", subnet);
		goto fail;
	}
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->ep < 0 || s->lfd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->lfd, 1) < 0) {
		snprintf(err, errlen, "cannot listen on 127.0.0.1:%u: %s", port, strerror(errno));
		goto fail;
	}
	getsockname(s->lfd, (struct sockaddr *)&a, &alen);
	s->bound = ntohs(a.sin_port);
	ev.data.fd = s->lfd;
	epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev);
	s->port = vnet_port_add(n, subnet, "external", &stream_ops, s);
	if (!s->port) {
		snprintf(err, errlen, "cannot add a port to subnet %u", subnet);
		goto fail;
	}
	LOG(SUB_NET, LOG_INFO, "external port of subnet %u on 127.0.0.1:%u (QEMU -netdev stream framing)",
	    subnet, s->bound);
	return s;
fail:
	vnet_stream_close(s);
	return NULL;
}

void vnet_stream_close(struct vnet_stream *s)
{
	if (!s)
		return;
	if (s->cfd >= 0)
		close(s->cfd);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->ep >= 0)
		close(s->ep);
	free(s->rbuf);
	free(s->wbuf);
	free(s);
}

int vnet_stream_fd(const struct vnet_stream *s)
{
	return s->ep;
}

uint16_t vnet_stream_port(const struct vnet_stream *s)
{
	return s->bound;
}

void vnet_stream_poll(struct vnet_stream *s, uint64_t now_ns)
{
	struct epoll_event ev[4];
	int k = epoll_wait(s->ep, ev, 4, 0);

	for (int i = 0; i < k; i++) {
		if (ev[i].data.fd == s->lfd) {
			int c = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (c < 0)
				continue;
			if (s->cfd >= 0) {
				s->refused++;
				close(c);	/* one client at a time */
				continue;
			}
			s->cfd = c;
			s->connections++;
			struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
			epoll_ctl(s->ep, EPOLL_CTL_ADD, c, &cev);
			LOG(SUB_NET, LOG_INFO, "external port %u: client connected", s->bound);
			flush_out(s);	/* frames that waited for a client */
		} else if (ev[i].data.fd == s->cfd) {
			if (ev[i].events & EPOLLOUT)
				flush_out(s);
			if (s->cfd >= 0 && (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				read_in(s, now_ns);
		}
	}
}
