/*
 * net_ping: two VMs on one subnet, a client and a server (bootarg server=1),
 * talking in the datagram protocol of net.h. The client finds the server
 * by broadcasting hello datagrams, then, by mode=:
 *   0  round trips: n datagrams of size bytes, each echoed and checked;
 *      prints "NET rtt size=S n=N avg_ns=A min_ns=M median_ns=D" (the median
 *      of the first 4096);
 *   1  stream: n datagrams of size bytes with at most win unacknowledged,
 *      each acknowledged by the server; none may be lost (with win no more
 *      than the receive buffers and the switch queue hold);
 *      prints "NET stream size=S n=N ns=T gbps=G";
 *   2  burst: n datagrams sent back to back while the server stalls for
 *      stall= milliseconds, then asks how many arrived;
 *      prints "NET burst sent=N received=R".
 * poll=1 makes either side poll its receive ring instead of sleeping in
 * WFI between frames (a busy VM, a shorter round trip).
 * Then it says bye and both power off with 0; any check that fails powers
 * off with its number. Datagram ports: 1 hello, 2 echo, 4 acknowledge,
 * 5 count only, 3 how many, 9 bye.
 */
#include "net.h"
#include "rt.h"

#define P_HELLO	1
#define P_ECHO	2
#define P_HOWMANY 3
#define P_ACK	4
#define P_COUNT	5
#define P_BYE	9

static uint8_t payload[65536] __attribute__((aligned(4096)));	/* page-aligned: the monitor may remap it */
static uint64_t samples[4096];	/* round-trip times, for the median */
static uint8_t peer[6];
static uint64_t ms;	/* time CSR ticks per millisecond */

static void fill(uint32_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(seq * 31 + i);
}

static int same(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static int server(void)
{
	long stall = rt_bootarg_long("stall", 0);
	uint32_t counted = 0;
	int stalled = 0;
	struct net_dgram d;

	for (;;) {
		if (net_dgram_recv(&d, NET_FOREVER) < 0)
			continue;
		switch (d.dport) {
		case P_HELLO:
			net_dgram_send(d.src, P_HELLO, d.sport, d.seq, 0, 0);
			if (stall && !stalled) {
				stalled = 1;
				rt_delay_ticks((uint64_t)stall * ms);	/* not reading: the queues fill */
			}
			break;
		case P_ECHO:
			net_dgram_send(d.src, P_ECHO, d.sport, d.seq, d.data, d.len);
			break;
		case P_ACK:
			net_dgram_send(d.src, P_ACK, d.sport, d.seq, 0, 0);
			break;
		case P_COUNT:
			counted++;
			break;
		case P_HOWMANY:
			net_dgram_send(d.src, P_HOWMANY, d.sport, counted, 0, 0);
			break;
		case P_BYE:
			net_dgram_send(d.src, P_BYE, d.sport, d.seq, 0, 0);
			rt_printf("net_ping server: bye\n");
			return 0;
		}
	}
}

/* Send (dport, seq) until a datagram from port dport comes back; returns its seq or -1. */
static long ask(const uint8_t *dst, uint16_t dport, uint32_t seq, int tries)
{
	struct net_dgram d;

	for (int t = 0; t < tries; t++) {
		net_dgram_send(dst, 100, dport, seq, 0, 0);
		uint64_t end = rt_rdtime() + 20 * ms;
		while (rt_rdtime() < end) {
			if (net_dgram_recv(&d, end - rt_rdtime()) < 0)
				break;
			if (d.sport == dport) {
				for (int i = 0; i < 6; i++)
					peer[i] = d.src[i];
				return d.seq;
			}
		}
	}
	return -1;
}

static int client(void)
{
	long mode = rt_bootarg_long("mode", 0), n = rt_bootarg_long("n", 100);
	long size = rt_bootarg_long("size", 64), win = rt_bootarg_long("win", 8);
	struct net_dgram d;

	if (size < 0 || size + 12 > (long)net_mtu() || win < 1) {
		rt_printf("net_ping: size=%ld is over the MTU %u less 12, or win=%ld < 1\n", size, net_mtu(), win);
		return 2;
	}
	if (ask(net_broadcast, P_HELLO, 0, 500) < 0) {
		rt_printf("net_ping: no server answered\n");
		return 3;
	}
	if (mode == 0) {
		uint64_t total = 0, min = UINT64_MAX;

		for (long i = 0; i < n; i++) {
			fill((uint32_t)i, (size_t)size);
			uint64_t t0 = rt_rdtime();
			net_dgram_send(peer, P_ECHO, P_ECHO, (uint32_t)i, payload, (size_t)size);
			if (net_dgram_recv(&d, 1000 * ms) < 0) {
				rt_printf("net_ping: echo %ld lost\n", i);
				return 4;
			}
			uint64_t dt = rt_rdtime() - t0;
			if (d.seq != (uint32_t)i || d.len != (uint32_t)size || !same(d.data, payload, (size_t)size)) {
				rt_printf("net_ping: echo %ld came back wrong (seq %u, %u bytes)\n", i, d.seq, d.len);
				return 5;
			}
			total += dt;
			if (i < 4096)
				samples[i] = dt;
			if (dt < min)
				min = dt;
		}
		uint64_t ns_tick = 1000000000ull / rt_timebase_hz();
		long m = n < 4096 ? n : 4096;
		for (long i = 1; i < m; i++)	/* insertion sort: a few thousand samples at most */
			for (long j = i; j > 0 && samples[j - 1] > samples[j]; j--) {
				uint64_t t = samples[j];
				samples[j] = samples[j - 1];
				samples[j - 1] = t;
			}
		rt_printf("NET rtt size=%ld n=%ld avg_ns=%lu min_ns=%lu median_ns=%lu\n", size, n,
			  (unsigned long)(total * ns_tick / (uint64_t)(n ? n : 1)), (unsigned long)(min * ns_tick),
			  (unsigned long)(m ? samples[m / 2] * ns_tick : 0));
	} else if (mode == 1) {
		uint32_t next = 0, acked = 0;
		uint64_t t0 = rt_rdtime();

		fill(7, (size_t)size);
		while (acked < (uint32_t)n) {
			while (next < (uint32_t)n && next - acked < (uint32_t)win) {
				net_dgram_send(peer, P_ACK, P_ACK, next, payload, (size_t)size);
				next++;
			}
			if (net_dgram_recv(&d, 1000 * ms) < 0) {
				rt_printf("net_ping: stream: datagram %u was never acknowledged\n", acked);
				return 6;
			}
			if (d.sport != P_ACK)
				continue;
			if (d.seq != acked) {
				rt_printf("net_ping: stream: acknowledgement %u, expected %u (a datagram was lost)\n", d.seq, acked);
				return 7;
			}
			acked++;
		}
		uint64_t ns = (rt_rdtime() - t0) * (1000000000ull / rt_timebase_hz());
		uint64_t mbit = ns ? (uint64_t)n * (uint64_t)size * 8 * 1000 / ns : 0;	/* Mbit/s */
		rt_printf("NET stream size=%ld n=%ld ns=%lu gbps=%lu.%03lu\n", size, n, (unsigned long)ns,
			  (unsigned long)(mbit / 1000), (unsigned long)(mbit % 1000));
	} else {
		fill(9, (size_t)size);
		for (long i = 0; i < n; i++)
			net_dgram_send(peer, P_COUNT, P_COUNT, (uint32_t)i, payload, (size_t)size);
		long got = ask(peer, P_HOWMANY, 0, 500);
		if (got < 0) {
			rt_printf("net_ping: burst: the server never said how many arrived\n");
			return 8;
		}
		rt_printf("NET burst sent=%ld received=%ld\n", n, got);
	}
	if (ask(peer, P_BYE, 0, 500) < 0) {
		rt_printf("net_ping: the server did not say bye\n");
		return 9;
	}
	return 0;
}

int main(void)
{
	ms = rt_timebase_hz() / 1000;
	if (net_init() < 0)
		return 1;
	net_set_poll((int)rt_bootarg_long("poll", 0));
	return rt_bootarg_long("server", 0) ? server() : client();
}
