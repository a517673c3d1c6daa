/*
 * kv: a key-value server and client in two VMs on one subnet (net.h's
 * datagrams). The server (bootarg server=1) keeps a table of up to 4096
 * keys, values up to 256 bytes; the client (n= keys, vlen= value bytes)
 * finds it by a broadcast hello, puts n keys, gets them all back and checks
 * every value, checks that a key never put is missing, then says bye; both
 * power off with 0, or the client with the number of the failed check.
 *
 * Requests (to port 20): byte 0 the operation (1 put, 2 get), bytes 1..4
 * the key (little-endian), then the value for a put. Answers (from port
 * 20) carry the request's sequence number: byte 0 the status (0 ok,
 * 1 missing, 2 full or malformed), then the value for a get. The client
 * resends a request whose answer does not come within 20 ms (a put or get
 * is idempotent), so a dropped datagram costs time, not correctness.
 * Prints "KV puts=N gets=N us_per_op=U".
 */
#include "net.h"
#include "rt.h"

#define PORT_HELLO	1
#define PORT_KV		20
#define PORT_BYE	9
#define SLOTS		4096
#define VMAX		256

struct slot {
	uint32_t key;
	uint16_t len;
	uint8_t used;
	uint8_t val[VMAX];
};

static struct slot table[SLOTS];
static uint64_t ms;
static uint8_t peer[6];

static struct slot *find(uint32_t key, int insert)
{
	uint32_t h = (key * 2654435761u) % SLOTS;

	for (unsigned k = 0; k < SLOTS; k++) {
		struct slot *s = &table[(h + k) % SLOTS];

		if (s->used && s->key == key)
			return s;
		if (!s->used)
			return insert ? s : 0;
	}
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int server(void)
{
	struct net_dgram d;
	uint8_t out[1 + VMAX];

	for (;;) {
		if (net_dgram_recv(&d, NET_FOREVER) < 0)
			continue;
		if (d.dport == PORT_HELLO) {
			net_dgram_send(d.src, PORT_HELLO, d.sport, d.seq, 0, 0);
			continue;
		}
		if (d.dport == PORT_BYE) {
			net_dgram_send(d.src, PORT_BYE, d.sport, d.seq, 0, 0);
			return 0;
		}
		if (d.dport != PORT_KV)
			continue;
		size_t olen = 1;
		out[0] = 2;
		if (d.len >= 5) {
			uint32_t key = le32(d.data + 1);
			struct slot *s;

			if (d.data[0] == 1 && d.len - 5 <= VMAX && (s = find(key, 1))) {
				s->used = 1;
				s->key = key;
				s->len = (uint16_t)(d.len - 5);
				for (unsigned i = 0; i < s->len; i++)
					s->val[i] = d.data[5 + i];
				out[0] = 0;
			} else if (d.data[0] == 2) {
				s = find(key, 0);
				out[0] = s ? 0 : 1;
				for (unsigned i = 0; s && i < s->len; i++)
					out[1 + i] = s->val[i];
				olen += s ? s->len : 0;
			}
		}
		net_dgram_send(d.src, PORT_KV, d.sport, d.seq, out, olen);
	}
}

/* Send a request until its answer (same seq, from port) comes; returns 0 and the answer in *a. */
static int call(const uint8_t *dst, uint16_t port, uint32_t seq, const uint8_t *req, size_t len,
		struct net_dgram *a, int tries)
{
	for (int t = 0; t < tries; t++) {
		net_dgram_send(dst, 200, port, seq, req, len);
		uint64_t end = rt_rdtime() + 20 * ms;
		while (rt_rdtime() < end) {
			if (net_dgram_recv(a, end - rt_rdtime()) < 0)
				break;
			if (a->sport == port && a->seq == seq)
				return 0;
		}
	}
	return -1;
}

static void value_of(uint32_t key, uint8_t *v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		v[i] = (uint8_t)(key * 13 + i * 7);
}

static int client(void)
{
	long n = rt_bootarg_long("n", 500), vlen = rt_bootarg_long("vlen", 64);
	uint8_t req[5 + VMAX], want[VMAX];
	struct net_dgram a;
	uint32_t seq = 1;

	if (n < 1 || n > SLOTS - 1 || vlen < 0 || vlen > VMAX) {
		rt_printf("kv: n=%ld (1..%d) or vlen=%ld (0..%d) out of range\n", n, SLOTS - 1, vlen, VMAX);
		return 2;
	}
	if (call(net_broadcast, PORT_HELLO, 0, 0, 0, &a, 500) < 0) {
		rt_printf("kv: no server answered\n");
		return 3;
	}
	for (int i = 0; i < 6; i++)
		peer[i] = a.src[i];
	uint64_t t0 = rt_rdtime();
	for (long k = 0; k < n; k++) {
		uint32_t key = (uint32_t)(k * 7919 + 1);

		req[0] = 1;
		for (int i = 0; i < 4; i++)
			req[1 + i] = (uint8_t)(key >> (8 * i));
		value_of(key, req + 5, (unsigned)vlen);
		if (call(peer, PORT_KV, seq++, req, 5 + (size_t)vlen, &a, 50) < 0 || a.len < 1 || a.data[0] != 0) {
			rt_printf("kv: put of key %u failed\n", key);
			return 4;
		}
	}
	for (long k = 0; k <= n; k++) {
		uint32_t key = k < n ? (uint32_t)(k * 7919 + 1) : 0xdead;	/* the last was never put */

		req[0] = 2;
		for (int i = 0; i < 4; i++)
			req[1 + i] = (uint8_t)(key >> (8 * i));
		if (call(peer, PORT_KV, seq++, req, 5, &a, 50) < 0 || a.len < 1) {
			rt_printf("kv: get of key %u got no answer\n", key);
			return 5;
		}
		if (k == n) {
			if (a.data[0] != 1) {
				rt_printf("kv: a key never put was found\n");
				return 6;
			}
			break;
		}
		value_of(key, want, (unsigned)vlen);
		if (a.data[0] != 0 || a.len != 1 + (uint32_t)vlen) {
			rt_printf("kv: get of key %u: status %u, %u bytes\n", key, a.data[0], a.len);
			return 7;
		}
		for (long i = 0; i < vlen; i++)
			if (a.data[1 + i] != want[i]) {
				rt_printf("kv: key %u: wrong value\n", key);
				return 8;
			}
	}
	uint64_t us = (rt_rdtime() - t0) / (rt_timebase_hz() / 1000000);
	rt_printf("KV puts=%ld gets=%ld us_per_op=%lu\n", n, n + 1, (unsigned long)(us / (uint64_t)(2 * n + 1)));
	if (call(peer, PORT_BYE, 0, 0, 0, &a, 500) < 0) {
		rt_printf("kv: the server did not say bye\n");
		return 9;
	}
	return 0;
}

int main(void)
{
	ms = rt_timebase_hz() / 1000;
	if (net_init() < 0)
		return 1;
	return rt_bootarg_long("server", 0) ? server() : client();
}
