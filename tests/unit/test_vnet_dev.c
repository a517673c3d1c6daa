/*
 * test_vnet_dev.c — the virtio-net device model: identity, features and
 * configuration (MAC, status, MTU), frames transmitted in any descriptor
 * layout, receive chains filled as frames arrive (12-byte header with
 * num_buffers = 1) with the interrupt raised, drops counted for frames over
 * the MTU and receive buffers too small; and a fuzzer that fills the queues
 * with random descriptors, rings and frames for many iterations, checking
 * that the device never crashes, never hands the back end a frame outside
 * its limits, and ends each bad request in a dropped frame or NEEDS_RESET.
 * Run it under the ASan build too. Stand-in harts: test_board_harts.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libfdt.h>

#include "test_board_harts.h"
#include "vmm/board.h"
#include "vmm/dev_virtio_net.h"

#define SLOT		1
#define BASE		(VM_VIRTIO_BASE + SLOT * VM_VIRTIO_STRIDE)
#define IRQ		(VM_VIRTIO_IRQ + SLOT)
#define QNUM		8
#define RAM		(16u << 20)
/* queue q's rings */
#define DESC(q)		(VM_RAM_BASE + 0x100000 + (q) * 0x10000)
#define AVAIL(q)	(DESC(q) + 0x1000)
#define USED(q)		(DESC(q) + 0x2000)
#define BUF		(VM_RAM_BASE + 0x200000)
#define MTU		1500
#define FEAT		((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC) | \
			 (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MTU))

/* ---- a stand-in back end: frames for the guest, frames from it ---- */

struct t_be {
	uint8_t rx[64][8192];
	size_t rx_len[64];
	unsigned rx_head, rx_n;
	unsigned delivered, dropped;
	uint8_t tx_last[2048];
	size_t tx_last_len;
	unsigned tx_n;
	size_t tx_max_seen, tx_min_seen;
	unsigned tx_last_phase;
	int refs;			/* pages of rx[] the device mapped (the stand-in pmap maps none) */
	struct vmm_share_ops share;
};

static void be_get(void *opaque, uint8_t *page) { ((struct t_be *)opaque)->refs++; }
static void be_put(void *opaque, uint8_t *page) { ((struct t_be *)opaque)->refs--; }

static const struct vmm_share_ops *be_share(void *opaque)
{
	struct t_be *b = opaque;

	b->share = (struct vmm_share_ops){ .opaque = b, .get = be_get, .put = be_put };
	return &b->share;
}

static void be_tx(void *opaque, const void *frame, size_t len, unsigned phase)
{
	struct t_be *b = opaque;

	b->tx_n++;
	b->tx_last_phase = phase;
	if (len > b->tx_max_seen)
		b->tx_max_seen = len;
	if (!b->tx_min_seen || len < b->tx_min_seen)
		b->tx_min_seen = len;
	if (len <= sizeof(b->tx_last)) {
		memcpy(b->tx_last, frame, len);
		b->tx_last_len = len;
	}
}

static size_t be_peek(void *opaque, const void **frame)
{
	struct t_be *b = opaque;

	if (!b->rx_n)
		return 0;
	*frame = b->rx[b->rx_head % 64];
	return b->rx_len[b->rx_head % 64];
}

static void be_pop(void *opaque, bool delivered, size_t remapped)
{
	struct t_be *b = opaque;

	assert_true(b->rx_n > 0);
	b->rx_head++;
	b->rx_n--;
	if (delivered)
		b->delivered++;
	else
		b->dropped++;
}

static void be_push(struct t_be *b, const void *f, size_t len)
{
	assert_true(b->rx_n < 64 && len <= sizeof(b->rx[0]));
	memcpy(b->rx[(b->rx_head + b->rx_n) % 64], f, len);
	b->rx_len[(b->rx_head + b->rx_n) % 64] = len;
	b->rx_n++;
}

struct t_net {
	struct t_console con;
	struct t_be be;
	struct vmm_vm *v;
	struct vm *vm;
	uint16_t avail_idx[2], used_seen[2];
};

static uint32_t rd(struct t_net *t, uint64_t off)
{
	uint64_t v;

	assert_int_equal(vm_mmio_read(t->vm, NULL, BASE + off, 4, &v), 0);
	return v;
}

static void wr(struct t_net *t, uint64_t off, uint32_t v)
{
	assert_int_equal(vm_mmio_write(t->vm, NULL, BASE + off, 4, v), 0);
}

static void gw(struct t_net *t, uint64_t gpa, const void *buf, size_t len)
{
	assert_int_equal(vm_gpa_write(t->vm, gpa, buf, len), 0);
}

static void gr(struct t_net *t, uint64_t gpa, void *buf, size_t len)
{
	assert_int_equal(vm_gpa_read(t->vm, gpa, buf, len), 0);
}

static struct t_net *t_net_new(void)
{
	static const uint8_t loop[4] = { 0x6f };
	struct t_net *t = calloc(1, sizeof(*t));
	struct vmm_vm_config cfg;
	char err[256];

	cfg = t_config(1, RAM, t_tmpfile(0, loop, sizeof(loop)), &t->con);
	cfg.nic = (struct vmm_nic_config){
		.on = true, .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 }, .mtu = MTU,
		.ops = { .opaque = &t->be, .tx = be_tx, .rx_peek = be_peek, .rx_share = be_share, .rx_pop = be_pop },
	};
	t->v = vmm_vm_create(&cfg, err, sizeof(err));
	unlink(cfg.kernel);
	if (!t->v)
		fail_msg("vmm_vm_create: %s", err);
	t->vm = &t->v->vm;
	vm_mmio_write(t->vm, NULL, VM_PLIC_BASE + 4 * IRQ, 4, 1);
	vm_mmio_write(t->vm, NULL, VM_PLIC_BASE + PLIC_ENABLE + PLIC_ENABLE_STRIDE, 4, 1u << IRQ);
	return t;
}

static void t_net_free(struct t_net *t)
{
	vmm_vm_destroy(t->v);
	free(t);
}

static uint32_t t_negotiate(struct t_net *t, uint64_t features)
{
	wr(t, VIRTIO_MMIO_STATUS, 0);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, features >> 32);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return rd(t, VIRTIO_MMIO_STATUS);
}

static void t_queue(struct t_net *t, unsigned q)
{
	static const uint8_t zero[0x1000];

	gw(t, AVAIL(q), zero, sizeof(zero));
	gw(t, USED(q), zero, sizeof(zero));
	wr(t, VIRTIO_MMIO_QUEUE_SEL, q);
	wr(t, VIRTIO_MMIO_QUEUE_NUM, QNUM);
	wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC(q));
	wr(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, DESC(q) >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)AVAIL(q));
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, AVAIL(q) >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)USED(q));
	wr(t, VIRTIO_MMIO_QUEUE_USED_HIGH, USED(q) >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	t->avail_idx[q] = t->used_seen[q] = 0;
}

static void t_up(struct t_net *t, uint64_t features)
{
	uint32_t st = t_negotiate(t, features);

	assert_true(st & VIRTIO_STATUS_FEATURES_OK);
	t_queue(t, 0);
	t_queue(t, 1);
	wr(t, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
}

struct t_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

/* Descriptors d[0..n-1] at table slots base..base+n-1, chained; offer the head. */
static void t_offer(struct t_net *t, unsigned q, unsigned slot, const struct t_desc *d, unsigned n, bool notify)
{
	uint16_t head = (uint16_t)slot;

	for (unsigned i = 0; i < n; i++) {
		struct t_desc x = d[i];

		if (i + 1 < n) {
			x.flags |= VIRTQ_DESC_F_NEXT;
			x.next = (uint16_t)(slot + i + 1);
		}
		gw(t, DESC(q) + 16 * (slot + i), &x, sizeof(x));
	}
	gw(t, AVAIL(q) + 4 + 2 * (t->avail_idx[q] % QNUM), &head, 2);
	t->avail_idx[q]++;
	gw(t, AVAIL(q) + 2, &t->avail_idx[q], 2);
	if (notify)
		wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static uint16_t t_used_idx(struct t_net *t, unsigned q)
{
	uint16_t i;

	gr(t, USED(q) + 2, &i, 2);
	return i;
}

static void t_frame(uint8_t *f, size_t len, uint8_t seed)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, seed }, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(i ^ seed);
}

static void test_identity(void **state)
{
	struct t_net *t = t_net_new();
	uint64_t feat, v;
	void *fdt = NULL;
	size_t size;
	char err[128];

	assert_int_equal(rd(t, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	wr(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	feat = rd(t, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	feat |= (uint64_t)rd(t, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	assert_true((feat & FEAT) == FEAT);
	assert_false(feat & (1ull << 15));	/* no mergeable receive buffers */
	assert_false(feat & 1);			/* no checksum offload */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(vm_mmio_read(t->vm, NULL, BASE + 0x100 + i, 1, &v), 0);
		assert_int_equal(v, ((uint8_t[]){ 0x52, 0x54, 0, 0x12, 0x34, 0x56 })[i]);
	}
	assert_int_equal(vm_mmio_read(t->vm, NULL, BASE + 0x100 + 6, 2, &v), 0);
	assert_int_equal(v, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(vm_mmio_read(t->vm, NULL, BASE + 0x100 + 10, 2, &v), 0);
	assert_int_equal(v, MTU);
	wr(t, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_SIZE_MAX);
	wr(t, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* the device tree has its node, with its interrupt */
	assert_int_equal(board_fdt_build(t->vm, NULL, &fdt, &size, err, sizeof(err)), 0);
	int node = fdt_path_offset(fdt, "/soc/virtio_mmio@10002000");
	assert_true(node >= 0);
	const fdt32_t *irq = fdt_getprop(fdt, node, "interrupts", NULL);
	assert_non_null(irq);
	assert_int_equal(fdt32_to_cpu(*irq), IRQ);
	free(fdt);
	t_net_free(t);
}

static void test_tx(void **state)
{
	struct t_net *t = t_net_new();
	uint8_t hdr[12] = {0}, f[1514], big[1600];
	struct vmm_nic_stats st;

	t_up(t, FEAT);
	t_frame(f, sizeof(f), 1);
	/* header and frame in one buffer */
	gw(t, BUF, hdr, 12);
	gw(t, BUF + 12, f, sizeof(f));
	t_offer(t, 1, 0, (struct t_desc[]){ { BUF, 12 + sizeof(f), 0, 0 } }, 1, true);
	assert_int_equal(t->be.tx_n, 1);
	assert_int_equal(t->be.tx_last_len, sizeof(f));
	assert_memory_equal(t->be.tx_last, f, sizeof(f));
	/* the same frame cut in odd pieces: header split, then 3 + rest */
	t_offer(t, 1, 1, (struct t_desc[]){ { BUF, 5, 0, 0 }, { BUF + 5, 10, 0, 0 },
					     { BUF + 15, sizeof(f) - 3, 0, 0 } }, 3, true);
	assert_int_equal(t->be.tx_n, 2);
	assert_memory_equal(t->be.tx_last, f, sizeof(f));
	assert_int_equal(t_used_idx(t, 1), 2);
	/* the frame's page phase, from its largest buffer: byte 0 at BUF + 12 */
	assert_int_equal(t->be.tx_last_phase, 12);
	/* over the MTU, and a runt: dropped and counted, the chains still returned */
	t_frame(big, sizeof(big), 2);
	gw(t, BUF + 0x10000, hdr, 12);
	gw(t, BUF + 0x10000 + 12, big, sizeof(big));
	t_offer(t, 1, 4, (struct t_desc[]){ { BUF + 0x10000, 12 + sizeof(big), 0, 0 } }, 1, true);
	t_offer(t, 1, 5, (struct t_desc[]){ { BUF, 12 + 10, 0, 0 } }, 1, true);
	/* a buffer outside RAM */
	t_offer(t, 1, 6, (struct t_desc[]){ { 0x1000, 1000, 0, 0 } }, 1, true);
	assert_int_equal(t->be.tx_n, 2);
	assert_int_equal(t_used_idx(t, 1), 5);
	vmm_vm_nic_stats(t->v, &st);
	assert_int_equal(st.tx_frames, 2);
	assert_int_equal(st.tx_bytes, 2 * sizeof(f));
	assert_int_equal(st.tx_drop_too_big, 1);
	assert_int_equal(st.tx_drop_runt, 1);
	assert_int_equal(st.tx_drop_fault, 1);
	assert_false(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	t_net_free(t);
}

static void test_rx(void **state)
{
	struct t_net *t = t_net_new();
	uint8_t f[1514], got[1514], hdr[12];
	uint32_t elem[2];
	struct vmm_nic_stats st;

	t_up(t, FEAT);
	/* two receive chains: one buffer, and header + data split */
	t_offer(t, 0, 0, (struct t_desc[]){ { BUF, 12 + 1514, VIRTQ_DESC_F_WRITE, 0 } }, 1, true);
	t_offer(t, 0, 1, (struct t_desc[]){ { BUF + 0x1000, 12, VIRTQ_DESC_F_WRITE, 0 },
					     { BUF + 0x2000, 1514, VIRTQ_DESC_F_WRITE, 0 } }, 2, true);
	/* nothing to receive: the chains stay available, no interrupt */
	assert_int_equal(t_used_idx(t, 0), 0);
	assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	t_frame(f, sizeof(f), 3);
	be_push(&t->be, f, sizeof(f));
	be_push(&t->be, f, 60);
	vmm_vm_nic_kick(t->v);
	assert_int_equal(t_used_idx(t, 0), 2);
	assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS) & 1, 1);
	gr(t, USED(0) + 4, elem, 8);
	assert_int_equal(elem[0], 0);
	assert_int_equal(elem[1], 12 + sizeof(f));
	gr(t, BUF, hdr, 12);
	assert_int_equal(hdr[10] | hdr[11] << 8, 1);	/* num_buffers */
	assert_int_equal(hdr[0], 0);
	gr(t, BUF + 12, got, sizeof(f));
	assert_memory_equal(got, f, sizeof(f));
	gr(t, USED(0) + 12, elem, 8);
	assert_int_equal(elem[0], 1);
	assert_int_equal(elem[1], 12 + 60);
	gr(t, BUF + 0x2000, got, 60);
	assert_memory_equal(got, f, 60);
	wr(t, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	/* a frame too large for the chain it meets is dropped; the chain waits for the next */
	t_offer(t, 0, 3, (struct t_desc[]){ { BUF, 12 + 100, VIRTQ_DESC_F_WRITE, 0 } }, 1, true);
	be_push(&t->be, f, 1000);
	be_push(&t->be, f, 80);
	vmm_vm_nic_kick(t->v);
	assert_int_equal(t_used_idx(t, 0), 3);
	gr(t, USED(0) + 4 + 8 * 2, elem, 8);
	assert_int_equal(elem[1], 12 + 80);
	vmm_vm_nic_stats(t->v, &st);
	assert_int_equal(st.rx_frames, 3);
	assert_int_equal(st.rx_drop_small_buffer, 1);
	assert_int_equal(t->be.delivered, 3);
	assert_int_equal(t->be.dropped, 1);
	/* a receive chain with nothing writable: the device needs a reset, frames stay queued */
	t_offer(t, 0, 4, (struct t_desc[]){ { BUF, 100, 0, 0 } }, 1, true);
	be_push(&t->be, f, 80);
	vmm_vm_nic_kick(t->v);
	assert_true(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(t->be.rx_n, 1);
	/* a legacy driver (no VERSION_1) gets the 10-byte header */
	t_up(t, FEAT & ~(1ull << VIRTIO_F_VERSION_1));
	t_offer(t, 0, 0, (struct t_desc[]){ { BUF, 10 + 80, VIRTQ_DESC_F_WRITE, 0 } }, 1, true);
	assert_int_equal(t_used_idx(t, 0), 1);
	gr(t, USED(0) + 4, elem, 8);
	assert_int_equal(elem[1], 10 + 80);
	gr(t, BUF + 10, got, 80);
	assert_memory_equal(got, f, 80);
	t_net_free(t);
}

/* ---- the fuzzer ---- */

static uint64_t t_rng;

static uint64_t t_rand(void)
{
	t_rng ^= t_rng << 13;
	t_rng ^= t_rng >> 7;
	t_rng ^= t_rng << 17;
	return t_rng;
}

/* An address: mostly in the buffer area, sometimes at RAM's end, outside RAM or wild. */
static uint64_t t_addr(void)
{
	switch (t_rand() % 8) {
	case 0: return VM_RAM_BASE + RAM - (t_rand() % 4096);
	case 1: return t_rand() % 0x20000000;
	case 2: return t_rand();
	default: return BUF + (t_rand() % 0x40000);
	}
}

static uint32_t t_len(void)
{
	switch (t_rand() % 6) {
	case 0: return 0;
	case 1: return (uint32_t)t_rand();
	case 2: return t_rand() % 16;
	case 3: return 4096 + t_rand() % 8192;	/* room for a frame past a page */
	default: return t_rand() % 2000;
	}
}

static void test_fuzz(void **state)
{
	struct t_net *t = t_net_new();
	unsigned iters = getenv("DISCO_FUZZ_ITERS") ? (unsigned)atoi(getenv("DISCO_FUZZ_ITERS")) : 20000;
	unsigned resets = 0;
	static uint8_t f[8192];	/* frames past a page take the remapping path (the stand-in pmap refuses: copied) */

	t_rng = 0x9e3779b97f4a7c15ull;
	t_up(t, FEAT | (1ull << VIRTIO_F_INDIRECT_DESC));
	for (unsigned it = 0; it < iters; it++) {
		unsigned q = t_rand() % 2, op = t_rand() % 16;

		if (op < 8) {
			/* random descriptors at random table slots, a random head offered */
			unsigned n = 1 + t_rand() % 4;

			for (unsigned i = 0; i < n; i++) {
				struct t_desc d = { t_addr(), t_len(), (uint16_t)(t_rand() % 8), (uint16_t)(t_rand() % 10) };

				if (t_rand() % 4)	/* mostly sane directions for the queue */
					d.flags = (d.flags & ~VIRTQ_DESC_F_WRITE) | (q == 0 ? VIRTQ_DESC_F_WRITE : 0);
				if (d.flags & VIRTQ_DESC_F_INDIRECT && t_rand() % 2)
					d.addr = BUF + 0x30000;
				vm_gpa_write(t->vm, DESC(q) + 16 * (t_rand() % QNUM), &d, sizeof(d));
			}
			/* indirect tables point at random bytes */
			if (t_rand() % 4 == 0) {
				uint64_t junk[8];

				for (int k = 0; k < 8; k++)
					junk[k] = t_rand();
				vm_gpa_write(t->vm, BUF + 0x30000, junk, sizeof(junk));
			}
			uint16_t head = (uint16_t)(t_rand() % (QNUM + 2));

			vm_gpa_write(t->vm, AVAIL(q) + 4 + 2 * (t->avail_idx[q] % QNUM), &head, 2);
			t->avail_idx[q] += t_rand() % 16 == 0 ? (uint16_t)t_rand() : 1;
			vm_gpa_write(t->vm, AVAIL(q) + 2, &t->avail_idx[q], 2);
			if (t_rand() % 4)
				wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
		} else if (op < 12) {
			size_t len = t_rand() % sizeof(f);

			if (t->be.rx_n < 64) {
				t_frame(f, len, (uint8_t)it);
				be_push(&t->be, f, len);
			}
			vmm_vm_nic_kick(t->v);
		} else if (op == 12) {
			wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, (uint32_t)t_rand());
		} else if (op == 13) {
			uint64_t v;

			vm_mmio_read(t->vm, NULL, BASE + 0x100 + t_rand() % 0x40, 1u << (t_rand() % 4), &v);
		} else {
			/* a driver that got NEEDS_RESET (or just felt like it) starts over */
			if ((rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET) || t_rand() % 8 == 0) {
				t_up(t, FEAT | (t_rand() % 2 ? (1ull << VIRTIO_F_INDIRECT_DESC) : 0));
				resets++;
			}
		}
		/* the back end never sees a frame outside the limits */
		if (t->be.tx_n) {
			assert_true(t->be.tx_max_seen <= MTU + 14 + 4);
			assert_true(t->be.tx_min_seen >= 14);
		}
		assert_true(t->be.rx_n <= 64);
	}
	struct vmm_nic_stats st;

	vmm_vm_nic_stats(t->v, &st);
	print_message("fuzz: %u iterations, %u resets, tx %llu (drops %llu/%llu/%llu), rx %llu (drops %llu/%llu), "
		      "device errors %llu\n", iters, resets, (unsigned long long)st.tx_frames,
		      (unsigned long long)st.tx_drop_too_big, (unsigned long long)st.tx_drop_runt,
		      (unsigned long long)st.tx_drop_fault, (unsigned long long)st.rx_frames,
		      (unsigned long long)st.rx_drop_small_buffer, (unsigned long long)st.rx_drop_fault,
		      (unsigned long long)st.device_errors);
	/* the fuzzer reached both the good and the bad paths */
	assert_true(st.tx_frames > 0 && st.rx_frames > 0);
	assert_true(st.device_errors > 0 && resets > 0);
	assert_true(st.tx_drop_fault + st.tx_drop_runt + st.tx_drop_too_big > 0);
	t_net_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_tx),
		cmocka_unit_test(test_rx),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
