/*
 * test_vnet.c — the subnet switch: MAC learning, flooding of unknown,
 * broadcast and multicast destinations to every port but the ingress one,
 * aging, tail drop at bounded output queues, MTU and runt checks, and
 * frames (64 KiB ones too) split into messages between two nodes' vnets
 * living in this one process over a stand-in transport.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vnet/vnet.h"

#define MS	1000000ull
#define S	1000000000ull

/* ---- a stand-in transport: messages queued in memory, delivered by t_pump ---- */

struct t_msg {
	unsigned src, dest, type;
	size_t len;
	uint8_t data[4096];
};

struct t_net {
	struct vnet *node[2];
	struct t_msg *q;
	unsigned n, cap;
	unsigned self_of[2];
	int fail_sends;		/* refuse this many sends */
};

struct t_ep {
	struct t_net *net;
	unsigned self;
};

static int t_send(void *opaque, unsigned dest, unsigned type, const void *p, size_t len)
{
	struct t_ep *ep = opaque;
	struct t_net *net = ep->net;

	assert_true(len <= 4096);
	if (net->fail_sends > 0) {
		net->fail_sends--;
		return -ENOMEM;
	}
	if (net->n == net->cap) {
		net->cap = net->cap ? 2 * net->cap : 64;
		net->q = realloc(net->q, net->cap * sizeof(*net->q));
		assert_non_null(net->q);
	}
	net->q[net->n] = (struct t_msg){ .src = ep->self, .dest = dest, .type = type, .len = len };
	memcpy(net->q[net->n].data, p, len);
	net->n++;
	return 0;
}

static unsigned t_pump(struct t_net *net, uint64_t now)
{
	unsigned k = 0;

	/* deliveries may queue more messages: index, not pointer */
	for (unsigned i = 0; i < net->n; i++, k++) {
		struct t_msg m = net->q[i];

		vnet_on_msg(net->node[m.dest], m.src, m.type, m.data, m.len, now);
	}
	net->n = 0;
	return k;
}

struct t_nic {
	unsigned kicks;
};

static void t_kick(void *opaque)
{
	((struct t_nic *)opaque)->kicks++;
}

static const struct vnet_port_ops t_ops = { .kick = t_kick };

static void t_frame(uint8_t *f, size_t len, const uint8_t dst[6], const uint8_t src[6])
{
	memset(f, 0, len);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;	/* local experimental ethertype */
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(i * 7 + len);
}

static const uint8_t MAC_A[6] = { 0x52, 0x54, 0, 0, 0, 0xa };
static const uint8_t MAC_B[6] = { 0x52, 0x54, 0, 0, 0, 0xb };
static const uint8_t MAC_C[6] = { 0x52, 0x54, 0, 0, 0, 0xc };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t MCAST[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };

struct t_sw {
	struct vnet *n;
	struct vnet_port *p[3];
	struct t_nic nic[3];
	int sn;
};

static void t_sw_init(struct t_sw *t, unsigned qlen, uint64_t aging)
{
	struct vnet_transport tr = { .self = 0, .nodes = 1, .msg_max = 4096 };
	struct vnet_subnet_config c = { .name = "lan", .mtu = 1500, .qlen = qlen, .aging_ns = aging };

	memset(t, 0, sizeof(*t));
	t->n = vnet_new(&tr);
	assert_non_null(t->n);
	t->sn = vnet_subnet_add(t->n, &c);
	assert_int_equal(t->sn, 0);
	for (int i = 0; i < 3; i++) {
		t->p[i] = vnet_port_add(t->n, t->sn, "nic", &t_ops, &t->nic[i]);
		assert_non_null(t->p[i]);
	}
}

static void t_drain(struct t_sw *t)
{
	for (int i = 0; i < 3; i++)
		while (vnet_port_queued(t->p[i]))
			vnet_port_pop(t->p[i], true);
}

static void test_learning(void **state)
{
	struct t_sw t;
	uint8_t f[64];
	const void *got;

	t_sw_init(&t, 8, 300 * S);
	/* A -> B, B unknown: flooded to B and C, not back to A */
	t_frame(f, sizeof(f), MAC_B, MAC_A);
	assert_int_equal(vnet_port_input(t.p[0], f, sizeof(f), 1 * MS), 0);
	assert_int_equal(vnet_port_queued(t.p[0]), 0);
	assert_int_equal(vnet_port_queued(t.p[1]), 1);
	assert_int_equal(vnet_port_queued(t.p[2]), 1);
	assert_int_equal(vnet_port_peek(t.p[1], &got), sizeof(f));
	assert_memory_equal(got, f, sizeof(f));
	assert_int_equal(t.nic[1].kicks, 1);
	t_drain(&t);
	/* B -> A: A was learned on port 0, so only port 0 gets it */
	t_frame(f, sizeof(f), MAC_A, MAC_B);
	vnet_port_input(t.p[1], f, sizeof(f), 2 * MS);
	assert_int_equal(vnet_port_queued(t.p[0]), 1);
	assert_int_equal(vnet_port_queued(t.p[2]), 0);
	t_drain(&t);
	/* A -> B again: now unicast to port 1 */
	t_frame(f, sizeof(f), MAC_B, MAC_A);
	vnet_port_input(t.p[0], f, sizeof(f), 3 * MS);
	assert_int_equal(vnet_port_queued(t.p[1]), 1);
	assert_int_equal(vnet_port_queued(t.p[2]), 0);
	assert_int_equal(vnet_subnet_learned(t.n, 0, 3 * MS), 2);
	t_drain(&t);
	/* B moves to port 2: its next frame re-teaches the switch */
	t_frame(f, sizeof(f), MAC_A, MAC_B);
	vnet_port_input(t.p[2], f, sizeof(f), 4 * MS);
	t_drain(&t);
	t_frame(f, sizeof(f), MAC_B, MAC_A);
	vnet_port_input(t.p[0], f, sizeof(f), 5 * MS);
	assert_int_equal(vnet_port_queued(t.p[1]), 0);
	assert_int_equal(vnet_port_queued(t.p[2]), 1);
	t_drain(&t);
	/* a frame to a destination on its own ingress port is filtered */
	t_frame(f, sizeof(f), MAC_A, MAC_C);
	vnet_port_input(t.p[0], f, sizeof(f), 6 * MS);
	assert_int_equal(vnet_port_queued(t.p[0]) + vnet_port_queued(t.p[1]) + vnet_port_queued(t.p[2]), 0);
	vnet_free(t.n);
}

static void test_flooding(void **state)
{
	struct t_sw t;
	uint8_t f[100];

	t_sw_init(&t, 8, 300 * S);
	/* everybody is learned first */
	for (int i = 0; i < 3; i++) {
		const uint8_t *m = i == 0 ? MAC_A : i == 1 ? MAC_B : MAC_C;

		t_frame(f, sizeof(f), BCAST, m);
		vnet_port_input(t.p[i], f, sizeof(f), 1 * MS);
	}
	/* each broadcast reached the other two */
	for (int i = 0; i < 3; i++)
		assert_int_equal(vnet_port_queued(t.p[i]), 2);
	t_drain(&t);
	/* broadcast and multicast still flood although every address is known */
	t_frame(f, sizeof(f), MCAST, MAC_B);
	vnet_port_input(t.p[1], f, sizeof(f), 2 * MS);
	assert_int_equal(vnet_port_queued(t.p[0]), 1);
	assert_int_equal(vnet_port_queued(t.p[1]), 0);
	assert_int_equal(vnet_port_queued(t.p[2]), 1);
	t_drain(&t);
	/* a multicast source is never learned */
	t_frame(f, sizeof(f), MAC_A, MCAST);
	vnet_port_input(t.p[2], f, sizeof(f), 3 * MS);
	assert_int_equal(vnet_subnet_learned(t.n, 0, 3 * MS), 3);
	vnet_free(t.n);
}

static void test_aging(void **state)
{
	struct t_sw t;
	uint8_t f[64];

	t_sw_init(&t, 8, 10 * MS);
	t_frame(f, sizeof(f), MAC_A, MAC_B);
	vnet_port_input(t.p[1], f, sizeof(f), 1 * MS);
	t_drain(&t);
	/* within the aging time: unicast */
	t_frame(f, sizeof(f), MAC_B, MAC_A);
	vnet_port_input(t.p[0], f, sizeof(f), 9 * MS);
	assert_int_equal(vnet_port_queued(t.p[2]), 0);
	assert_int_equal(vnet_port_queued(t.p[1]), 1);
	t_drain(&t);
	/* B silent for longer than the aging time: flooded again */
	vnet_port_input(t.p[0], f, sizeof(f), 12 * MS);
	assert_int_equal(vnet_port_queued(t.p[1]), 1);
	assert_int_equal(vnet_port_queued(t.p[2]), 1);
	assert_int_equal(vnet_subnet_learned(t.n, 0, 12 * MS), 1);	/* A only */
	vnet_free(t.n);
}

static void test_tail_drop(void **state)
{
	struct t_sw t;
	struct vnet_port_stats st;
	uint8_t f[64];
	const void *got;

	t_sw_init(&t, 4, 300 * S);
	for (int i = 0; i < 6; i++) {
		t_frame(f, sizeof(f), MAC_B, MAC_A);
		f[20] = (uint8_t)i;
		vnet_port_input(t.p[0], f, sizeof(f), 1 * MS);
	}
	assert_int_equal(vnet_port_queued(t.p[1]), 4);
	vnet_port_get_stats(t.p[1], &st);
	assert_int_equal(st.drop_queue_full, 2);
	/* the tail was dropped: the queue holds the first four, in order */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(vnet_port_peek(t.p[1], &got), sizeof(f));
		assert_int_equal(((const uint8_t *)got)[20], i);
		vnet_port_pop(t.p[1], true);
	}
	vnet_port_get_stats(t.p[1], &st);
	assert_int_equal(st.out_frames, 4);
	assert_int_equal(st.bytes_copied, 4 * sizeof(f));
	vnet_port_get_stats(t.p[0], &st);
	assert_int_equal(st.in_frames, 6);
	assert_int_equal(st.in_bytes, 6 * sizeof(f));
	vnet_free(t.n);
}

static void test_mtu_runt(void **state)
{
	struct t_sw t;
	struct vnet_port_stats st;
	static uint8_t f[1600];

	t_sw_init(&t, 4, 300 * S);
	t_frame(f, 1514, BCAST, MAC_A);
	assert_int_equal(vnet_port_input(t.p[0], f, 1514, 0), 0);
	assert_int_equal(vnet_port_input(t.p[0], f, 1515, 0), -EMSGSIZE);
	assert_int_equal(vnet_port_input(t.p[0], f, 13, 0), -EINVAL);
	f[12] = 0x81, f[13] = 0x00;	/* an 802.1Q tag may add 4 bytes */
	assert_int_equal(vnet_port_input(t.p[0], f, 1518, 0), 0);
	vnet_port_get_stats(t.p[0], &st);
	assert_int_equal(st.drop_too_big, 1);
	assert_int_equal(st.drop_runt, 1);
	assert_int_equal(st.in_frames, 2);
	vnet_free(t.n);
}

static void test_bad_config(void **state)
{
	struct vnet_transport tr = { .self = 0, .nodes = 1, .msg_max = 4096 };
	struct vnet *n = vnet_new(&tr);
	struct vnet_subnet_config c = { .name = "x", .mtu = 70000, .qlen = 4, .aging_ns = S };

	assert_non_null(n);
	assert_int_equal(vnet_subnet_add(n, &c), -EINVAL);
	c.mtu = 1500;
	c.qlen = 0;
	assert_int_equal(vnet_subnet_add(n, &c), -EINVAL);
	assert_null(vnet_port_add(n, 3, "nic", &t_ops, NULL));
	tr.msg_max = 8;
	assert_null(vnet_new(&tr));
	vnet_free(n);
}

/* ---- two nodes ---- */

struct t_two {
	struct t_net net;
	struct t_ep ep[2];
	struct vnet_port *a, *b;	/* a on node 0, b on node 1 */
	struct t_nic nic[2];
};

static void t_two_init(struct t_two *t, unsigned mtu, unsigned qlen)
{
	struct vnet_subnet_config c = { .name = "lan", .mtu = mtu, .qlen = qlen, .aging_ns = 300 * S };

	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < 2; i++) {
		struct vnet_transport tr = { .opaque = &t->ep[i], .self = i, .nodes = 2, .msg_max = 4096,
					     .send = t_send };

		t->ep[i] = (struct t_ep){ &t->net, i };
		t->net.node[i] = vnet_new(&tr);
		assert_non_null(t->net.node[i]);
		assert_int_equal(vnet_subnet_add(t->net.node[i], &c), 0);
	}
	t->a = vnet_port_add(t->net.node[0], 0, "a", &t_ops, &t->nic[0]);
	t->b = vnet_port_add(t->net.node[1], 0, "b", &t_ops, &t->nic[1]);
}

static void t_two_fini(struct t_two *t)
{
	vnet_free(t->net.node[0]);
	vnet_free(t->net.node[1]);
	free(t->net.q);
}

static void test_two_nodes(void **state)
{
	struct t_two t;
	struct vnet_port_stats st;
	static uint8_t f[65535 + 14];
	const void *got;
	size_t sizes[] = { 60, 1514, 4096, 4080 + 1, 65535 + 14 };

	t_two_init(&t, 65535, 16);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		t_frame(f, sizes[i], i == 0 ? BCAST : MAC_B, MAC_A);
		assert_int_equal(vnet_port_input(t.a, f, sizes[i], 1 * MS), 0);
		assert_true(t_pump(&t.net, 1 * MS) >= (sizes[i] + 4079) / 4080);
		assert_int_equal(vnet_port_peek(t.b, &got), sizes[i]);
		assert_memory_equal(got, f, sizes[i]);
		vnet_port_pop(t.b, true);
	}
	/* b answers; a was learned behind node 0, so node 1 sends to node 0 only */
	t_frame(f, 200, MAC_A, MAC_B);
	vnet_port_input(t.b, f, 200, 2 * MS);
	assert_int_equal(t.net.n, 1);
	assert_int_equal(t.net.q[0].dest, 0);
	t_pump(&t.net, 2 * MS);
	assert_int_equal(vnet_port_queued(t.a), 1);
	vnet_peer_get_stats(t.net.node[0], 0, 1, &st);
	assert_int_equal(st.out_frames, 5);
	assert_int_equal(st.in_frames, 1);
	vnet_peer_get_stats(t.net.node[1], 0, 0, &st);
	assert_int_equal(st.in_frames, 5);
	t_two_fini(&t);
}

static void test_two_nodes_overflow(void **state)
{
	struct t_two t;
	struct vnet_port_stats st;
	uint8_t f[1514];

	t_two_init(&t, 1500, 8);
	for (int i = 0; i < 20; i++) {
		t_frame(f, sizeof(f), MAC_B, MAC_A);
		vnet_port_input(t.a, f, sizeof(f), 1 * MS);
	}
	t_pump(&t.net, 1 * MS);
	assert_int_equal(vnet_port_queued(t.b), 8);
	vnet_port_get_stats(t.b, &st);
	assert_int_equal(st.drop_queue_full, 12);
	/* a refused send is counted at the peer port */
	t.net.fail_sends = 1;
	vnet_port_input(t.a, f, sizeof(f), 1 * MS);
	vnet_peer_get_stats(t.net.node[0], 0, 1, &st);
	assert_int_equal(st.drop_send, 1);
	t_two_fini(&t);
}

static void test_malformed_fragments(void **state)
{
	struct t_two t;
	struct vnet_port_stats st;
	uint8_t m[64] = {0};
	struct { uint16_t subnet, flags; uint32_t id, total, off; } h = { 0, 0, 7, 9000, 0 };
	static uint8_t f[9014];

	t_two_init(&t, 9000, 8);
	/* too short, unknown subnet, past the end: dropped and counted, never delivered */
	vnet_on_msg(t.net.node[1], 0, VNET_MSG_FRAME, m, 8, 0);
	h.subnet = 5;
	memcpy(m, &h, sizeof(h));
	vnet_on_msg(t.net.node[1], 0, VNET_MSG_FRAME, m, sizeof(m), 0);
	h.subnet = 0;
	h.off = 8990;
	memcpy(m, &h, sizeof(h));
	vnet_on_msg(t.net.node[1], 0, VNET_MSG_FRAME, m, sizeof(m), 0);
	/* a fragment that does not continue the partial frame */
	h.off = 4000;
	memcpy(m, &h, sizeof(h));
	vnet_on_msg(t.net.node[1], 0, VNET_MSG_FRAME, m, sizeof(m), 0);
	vnet_peer_get_stats(t.net.node[1], 0, 0, &st);
	assert_int_equal(st.drop_reassembly, 1);
	assert_int_equal(vnet_port_queued(t.b), 0);
	/* a frame cut short by the next one's start: the partial one is counted */
	t_frame(f, sizeof(f), MAC_B, MAC_A);
	vnet_port_input(t.a, f, sizeof(f), 0);
	t.net.n = 1;		/* only its first fragment arrives */
	t_pump(&t.net, 0);
	vnet_port_input(t.a, f, sizeof(f), 0);
	t_pump(&t.net, 0);
	vnet_peer_get_stats(t.net.node[1], 0, 0, &st);
	assert_int_equal(st.drop_reassembly, 2);
	assert_int_equal(vnet_port_queued(t.b), 1);
	t_two_fini(&t);
}

/* ---- the external port: QEMU's -netdev stream framing on loopback ---- */

static int t_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 5 };

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Poll the stream until cond holds (or 5 s pass). */
#define T_POLL_UNTIL(s, cond) do { \
	for (int _i = 0; _i < 5000 && !(cond); _i++) { \
		vnet_stream_poll(s, 1 * MS); \
		if (!(cond)) \
			usleep(1000); \
	} \
	assert_true(cond); \
} while (0)

static void t_read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void test_stream_port(void **state)
{
	struct vnet_transport tr = { .self = 0, .nodes = 1, .msg_max = 4096 };
	struct vnet_subnet_config c = { .name = "lan", .mtu = 1500, .qlen = 8, .aging_ns = 300 * S };
	struct vnet *n = vnet_new(&tr);
	struct t_nic nic = {0};
	struct vnet_port *p;
	struct vnet_stream *st;
	char err[256];
	uint8_t f[300], got[300], buf[4 + 300];
	uint32_t be;
	const void *q;
	int fd, fd2;

	assert_int_equal(vnet_subnet_add(n, &c), 0);
	p = vnet_port_add(n, 0, "nic", &t_ops, &nic);
	st = vnet_stream_open(n, 0, 0, err, sizeof(err));
	if (!st)
		skip();	/* no loopback socket here */
	assert_true(vnet_stream_port(st) > 0);
	assert_true(vnet_stream_fd(st) >= 0);
	fd = t_connect(vnet_stream_port(st));
	/* a framed broadcast from outside reaches the NIC */
	t_frame(f, sizeof(f), BCAST, MAC_C);
	be = htonl(sizeof(f));
	memcpy(buf, &be, 4);
	memcpy(buf + 4, f, sizeof(f));
	assert_int_equal(send(fd, buf, 2, 0), 2);	/* split anywhere: the framing reassembles */
	assert_int_equal(send(fd, buf + 2, sizeof(buf) - 2, 0), sizeof(buf) - 2);
	T_POLL_UNTIL(st, vnet_port_queued(p) == 1);
	assert_int_equal(vnet_port_peek(p, &q), sizeof(f));
	assert_memory_equal(q, f, sizeof(f));
	vnet_port_pop(p, true);
	/* the NIC answers the address learned behind the external port: framed on the socket */
	t_frame(f, 200, MAC_C, MAC_A);
	assert_int_equal(vnet_port_input(p, f, 200, 2 * MS), 0);
	t_read_all(fd, &be, 4);
	assert_int_equal(ntohl(be), 200);
	t_read_all(fd, got, 200);
	assert_memory_equal(got, f, 200);
	/* a second client is refused while the first is connected */
	fd2 = t_connect(vnet_stream_port(st));
	T_POLL_UNTIL(st, recv(fd2, got, 1, MSG_DONTWAIT) == 0);
	close(fd2);
	/* a length outside 14..MTU+18 ends the connection */
	be = htonl(5);
	assert_int_equal(send(fd, &be, 4, 0), 4);
	T_POLL_UNTIL(st, recv(fd, got, 1, MSG_DONTWAIT) == 0);
	close(fd);
	/* frames wait in the port's bounded queue for the next client, then flow */
	t_frame(f, 100, MAC_C, MAC_A);
	vnet_port_input(p, f, 100, 3 * MS);
	fd = t_connect(vnet_stream_port(st));
	T_POLL_UNTIL(st, recv(fd, &be, 4, MSG_DONTWAIT | MSG_PEEK) == 4);
	t_read_all(fd, &be, 4);
	assert_int_equal(ntohl(be), 100);
	t_read_all(fd, got, 100);
	assert_memory_equal(got, f, 100);
	close(fd);
	vnet_stream_close(st);
	vnet_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learning),
		cmocka_unit_test(test_flooding),
		cmocka_unit_test(test_aging),
		cmocka_unit_test(test_tail_drop),
		cmocka_unit_test(test_mtu_runt),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_two_nodes),
		cmocka_unit_test(test_two_nodes_overflow),
		cmocka_unit_test(test_malformed_fragments),
		cmocka_unit_test(test_stream_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
