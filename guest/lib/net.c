/*
 * net.c: the guest's virtio-net driver and datagram protocol (see net.h).
 *
 * Queues: 0 receive, 1 transmit, QN descriptors each. Receive buffer i is
 * the chain of descriptors 2i (virtio header and the first NET_RX_HEAD
 * bytes of the frame: Ethernet and datagram headers) and 2i+1 (the rest,
 * in its own page-aligned buffer, so that a datagram's payload pages are
 * page-aligned and the monitor may map them instead of copying); a used
 * receive buffer is handed to the caller and re-posted at the next
 * net_recv(). Transmit uses descriptor 0
 * and 1: the headers in txbuf, the payload where the caller keeps it; a
 * send returns once the device has used the chain.
 */
#include "net.h"

#include "rt.h"
#include "virtio.h"

#define F_MTU		3
#define F_MAC		5
#define F_STATUS	16
#define F_VERSION_1	32

#define HDR		12		/* virtio_net_hdr with num_buffers */
#define FRAME_MAX	(65535 + NET_ETH_HLEN + 4)
#define BUF_MAX		(HDR + FRAME_MAX)

#define PLIC		0x0c000000UL
#define PLIC_PRIO(i)	(PLIC + 4 * (i))
#define PLIC_ENABLE(c)	(PLIC + 0x2000 + 0x80 * (c))
#define PLIC_THRESH(c)	(PLIC + 0x200000 + 0x1000 * (c))
#define PLIC_CLAIM(c)	(PLIC + 0x200004 + 0x1000 * (c))
#define CLINT_MTIMECMP(h) (0x2004000UL + 8 * (h))
#define MIE_MEIE	(1UL << 11)
#define MIE_MTIE	(1UL << 7)

#define QN		(2 * NET_RXQ)	/* descriptors per queue */

struct avail { uint16_t flags, idx, ring[QN], used_event; };
struct used { uint16_t flags, idx; struct virtq_used_elem ring[QN], avail_event; };

struct vq {
	struct virtq_desc desc[QN] __attribute__((aligned(16)));
	struct avail avail __attribute__((aligned(4)));
	struct used used __attribute__((aligned(8)));
	uint16_t last_used;
};

static struct vq rxq, txq;
static uint8_t rxhead[NET_RXQ][HDR + NET_RX_HEAD] __attribute__((aligned(16)));
#define RXBUF		((FRAME_MAX + 4095) & ~4095)	/* every buffer starts a page */
static uint8_t rxbuf[NET_RXQ][RXBUF] __attribute__((aligned(4096)));
static uint8_t txbuf[HDR + NET_ETH_HLEN + 64] __attribute__((aligned(4096)));
static uintptr_t base;
static unsigned irq, mtu;
static uint8_t mac[6];
static int held = -1;		/* receive descriptor handed to the caller */
static struct net_stats stats;
static int poll_only;

const uint8_t net_broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint32_t rd(unsigned off) { return rt_mmio_r32(base + off); }
static void wr(unsigned off, uint32_t v) { rt_mmio_w32(base + off, v); }
static void wr64(unsigned off, uint64_t v) { wr(off, (uint32_t)v); wr(off + 4, (uint32_t)(v >> 32)); }
static void fence(void) { __asm__ volatile("fence rw, rw" ::: "memory"); }

static int queue_setup(unsigned q, struct vq *v)
{
	wr(R_QUEUE_SEL, q);
	if (rd(R_QUEUE_READY) || rd(R_QUEUE_NUM_MAX) < QN)
		return -1;
	wr(R_QUEUE_NUM, QN);
	wr64(R_QUEUE_DESC, (uintptr_t)v->desc);
	wr64(R_QUEUE_DRIVER, (uintptr_t)&v->avail);
	wr64(R_QUEUE_DEVICE, (uintptr_t)&v->used);
	wr(R_QUEUE_READY, 1);
	return 0;
}

static void rx_post(unsigned i)
{
	rxq.avail.ring[rxq.avail.idx % QN] = (uint16_t)(2 * i);
	fence();
	rxq.avail.idx++;
	fence();
}

int net_init(void)
{
	uint64_t feat, want;
	base = virtio_find(1, 2);
	if (!base) {
		rt_printf("net: no virtio-net device\n");
		return -1;
	}
	irq = 1 + (unsigned)((base - VIRTIO_BASE) / VIRTIO_STRIDE);
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DEV_FEATURES_SEL, 0);
	feat = rd(R_DEV_FEATURES);
	wr(R_DEV_FEATURES_SEL, 1);
	feat |= (uint64_t)rd(R_DEV_FEATURES) << 32;
	want = (1ull << F_VERSION_1) | (1ull << F_MAC) | (1ull << F_STATUS) | (1ull << F_MTU);
	if ((feat & want) != want) {
		rt_printf("net: device lacks features (offers %lx)\n", (unsigned long)feat);
		return -1;
	}
	wr(R_DRV_FEATURES_SEL, 0);
	wr(R_DRV_FEATURES, (uint32_t)want);
	wr(R_DRV_FEATURES_SEL, 1);
	wr(R_DRV_FEATURES, (uint32_t)(want >> 32));
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(R_STATUS) & S_FEATURES_OK)) {
		rt_printf("net: FEATURES_OK refused\n");
		return -1;
	}
	for (int i = 0; i < 6; i++)
		mac[i] = *(volatile uint8_t *)(base + R_CONFIG + i);
	mtu = *(volatile uint16_t *)(base + R_CONFIG + 10);
	if (mtu + NET_ETH_HLEN + 4 > FRAME_MAX)
		mtu = FRAME_MAX - NET_ETH_HLEN - 4;
	if (queue_setup(0, &rxq) || queue_setup(1, &txq)) {
		rt_printf("net: queue set-up failed\n");
		return -1;
	}
	for (unsigned i = 0; i < NET_RXQ; i++) {
		rxq.desc[2 * i] = (struct virtq_desc){ (uintptr_t)rxhead[i], HDR + NET_RX_HEAD, 2 | 1 /* WRITE, NEXT */,
						 (uint16_t)(2 * i + 1) };
		rxq.desc[2 * i + 1] = (struct virtq_desc){ (uintptr_t)rxbuf[i], mtu + NET_ETH_HLEN + 4 - NET_RX_HEAD,
						     2 /* WRITE */, 0 };
		rx_post(i);
	}
	/* the NIC's interrupt to this hart's M context; WFI wakes on it */
	rt_mmio_w32(PLIC_PRIO(irq), 1);
	rt_mmio_w32(PLIC_ENABLE(2 * rt_hartid()), rt_mmio_r32(PLIC_ENABLE(2 * rt_hartid())) | (1u << irq));
	rt_mmio_w32(PLIC_THRESH(2 * rt_hartid()), 0);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	wr(R_QUEUE_NOTIFY, 0);
	return 0;
}

const uint8_t *net_mac(void) { return mac; }
unsigned net_mtu(void) { return mtu; }

void net_get_stats(struct net_stats *st) { *st = stats; }
void net_set_poll(int on) { poll_only = on; }

/* Sleep until the NIC interrupts or the deadline (time CSR) passes. */
static void wait_irq(uint64_t deadline)
{
	unsigned ctx = 2 * rt_hartid();
	uint32_t id;

	if (deadline != NET_FOREVER) {
		rt_mmio_w64(CLINT_MTIMECMP(rt_hartid()), deadline);
		rt_csr_set(mie, MIE_MTIE);
	}
	rt_csr_set(mie, MIE_MEIE);
	__asm__ volatile("wfi");
	rt_csr_clear(mie, MIE_MEIE | MIE_MTIE);
	rt_mmio_w64(CLINT_MTIMECMP(rt_hartid()), UINT64_MAX);
	stats.wakeups++;
	wr(R_INT_ACK, rd(R_INT_STATUS));
	while ((id = rt_mmio_r32(PLIC_CLAIM(ctx))) != 0)
		rt_mmio_w32(PLIC_CLAIM(ctx), id);
}

/* Wait until the device has used every transmit chain offered (-1: it needs a reset). */
static int tx_wait(void)
{
	while (txq.last_used != txq.avail.idx) {
		fence();
		if (txq.used.idx != txq.last_used)
			txq.last_used = txq.used.idx;
		else if (rd(R_STATUS) & S_NEEDS_RESET)
			return -1;
	}
	return 0;
}

/*
 * One frame as a two-buffer chain: virtio header, Ethernet header and
 * proto (proto_len bytes) in txbuf, then the payload where the caller has
 * it, read by the device without a copy here. Returns once the device
 * has used the chain, so the caller may reuse the payload at once.
 */
static int send_chain(const uint8_t dst[6], uint16_t ethertype, const uint8_t *proto, size_t proto_len,
		      const void *payload, size_t len)
{
	uint8_t *f = txbuf + HDR;

	if (proto_len + len > mtu || tx_wait() < 0)
		return -1;
	for (int i = 0; i < HDR; i++)
		txbuf[i] = 0;
	for (int i = 0; i < 6; i++) {
		f[i] = dst[i];
		f[6 + i] = mac[i];
	}
	f[12] = (uint8_t)(ethertype >> 8);
	f[13] = (uint8_t)ethertype;
	for (size_t i = 0; i < proto_len; i++)
		f[NET_ETH_HLEN + i] = proto[i];
	txq.desc[0] = (struct virtq_desc){ (uintptr_t)txbuf, (uint32_t)(HDR + NET_ETH_HLEN + proto_len), 0, 0 };
	if (len) {
		txq.desc[0].flags = 1;	/* NEXT */
		txq.desc[0].next = 1;
		txq.desc[1] = (struct virtq_desc){ (uintptr_t)payload, (uint32_t)len, 0, 0 };
	}
	txq.avail.ring[txq.avail.idx % QN] = 0;
	fence();
	txq.avail.idx++;
	fence();
	wr(R_QUEUE_NOTIFY, 1);
	stats.tx_frames++;
	return tx_wait();
}

int net_send(const uint8_t dst[6], uint16_t ethertype, const void *payload, size_t len)
{
	return send_chain(dst, ethertype, 0, 0, payload, len);
}

long net_recv(const uint8_t **head, const uint8_t **rest, uint64_t timeout)
{
	uint64_t deadline = timeout == NET_FOREVER ? NET_FOREVER : rt_rdtime() + timeout;
	int repost = held >= 0;

	if (held >= 0) {
		rx_post((unsigned)held);
		held = -1;
	}
	if (repost)
		wr(R_QUEUE_NOTIFY, 0);
	for (;;) {
		fence();
		if (rxq.used.idx != rxq.last_used) {
			struct virtq_used_elem e = rxq.used.ring[rxq.last_used % QN];
			unsigned i = e.id / 2;

			rxq.last_used++;
			if (e.id % 2 || i >= NET_RXQ)
				continue;
			stats.rx_frames++;
			if (e.len < HDR + NET_ETH_HLEN) {
				rx_post(i);
				continue;
			}
			held = (int)i;
			*head = rxhead[i] + HDR;
			*rest = rxbuf[i];
			return (long)(e.len - HDR);
		}
		if (deadline != NET_FOREVER && rt_rdtime() >= deadline)
			return -1;
		if (!poll_only)
			wait_irq(deadline);
	}
}

int net_dgram_send(const uint8_t dst[6], uint16_t sport, uint16_t dport, uint32_t seq,
		   const void *data, size_t len)
{
	uint8_t h[12];

	h[0] = (uint8_t)sport; h[1] = (uint8_t)(sport >> 8);
	h[2] = (uint8_t)dport; h[3] = (uint8_t)(dport >> 8);
	for (int i = 0; i < 4; i++) {
		h[4 + i] = (uint8_t)(seq >> (8 * i));
		h[8 + i] = (uint8_t)(len >> (8 * i));
	}
	return send_chain(dst, NET_ETH_DGRAM, h, sizeof(h), data, len);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int net_dgram_recv(struct net_dgram *d, uint64_t timeout)
{
	uint64_t deadline = timeout == NET_FOREVER ? NET_FOREVER : rt_rdtime() + timeout;

	for (;;) {
		const uint8_t *f, *rest;
		uint64_t now = rt_rdtime();
		long n = net_recv(&f, &rest, deadline == NET_FOREVER ? NET_FOREVER : (deadline > now ? deadline - now : 0));

		if (n < 0)
			return -1;
		if (n < NET_RX_HEAD || f[12] != (NET_ETH_DGRAM >> 8) || f[13] != (NET_ETH_DGRAM & 0xff)) {
			stats.rx_skipped++;
			continue;
		}
		const uint8_t *h = f + NET_ETH_HLEN;
		for (int i = 0; i < 6; i++)
			d->src[i] = f[6 + i];
		d->sport = (uint16_t)(h[0] | h[1] << 8);
		d->dport = (uint16_t)(h[2] | h[3] << 8);
		d->seq = le32(h + 4);
		d->len = le32(h + 8);
		if (d->len > (uint64_t)n - NET_ETH_HLEN - 12) {
			stats.rx_skipped++;
			continue;
		}
		d->data = rest;		/* the payload: its own page-aligned buffer */
		return 0;
	}
}
