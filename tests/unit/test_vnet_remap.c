/*
 * test_vnet_remap.c — received payload pages remapped copy-on-write into
 * the VM (the real pmap, not the board tests' stand-in): a frame whose
 * bytes fill a page-aligned receive page is mapped there instead of copied,
 * whether the frame arrives after the buffer (a kick) or before (the
 * guest's notify); the guest reads the frame's bytes; its first store gets
 * it a private copy and leaves the frame alone; a frame out of page phase
 * is copied; every page reference the device took is given back by the
 * time the VM is destroyed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_board_util.h"
#include "vmm/board.h"
#include "vmm/dev_virtio_net.h"

#define BASE		(VM_VIRTIO_BASE + 1 * VM_VIRTIO_STRIDE)
#define QNUM		8
#define DESC(q)		(VM_RAM_BASE + 0x100000 + (q) * 0x10000)
#define AVAIL(q)	(DESC(q) + 0x1000)
#define USED(q)		(DESC(q) + 0x2000)
#define HDRBUF		(VM_RAM_BASE + 0x200000)
#define PAYBUF		(VM_RAM_BASE + 0x210000)	/* page-aligned */
#define FLEN		(26 + 6000)	/* Ethernet + datagram headers, then 6000 bytes */

struct t_be {
	uint8_t *mem, *frame;	/* frame byte 26 is page-aligned */
	bool queued;
	size_t len;
	int refs;		/* pages the VM maps */
	unsigned gets, puts, pops;
	size_t remapped;
	struct vmm_share_ops share;
};

static void be_get(void *opaque, uint8_t *page) { struct t_be *b = opaque; b->refs++; b->gets++; }
static void be_put(void *opaque, uint8_t *page) { struct t_be *b = opaque; b->refs--; b->puts++; }
static void be_tx(void *opaque, const void *f, size_t len, unsigned phase) {}

static size_t be_peek(void *opaque, const void **f)
{
	struct t_be *b = opaque;

	if (!b->queued)
		return 0;
	*f = b->frame;
	return b->len;
}

static const struct vmm_share_ops *be_share(void *opaque)
{
	struct t_be *b = opaque;

	return b->queued ? &b->share : NULL;
}

static void be_pop(void *opaque, bool delivered, size_t remapped)
{
	struct t_be *b = opaque;

	assert_true(delivered);
	b->queued = false;
	b->pops++;
	b->remapped = remapped;
}

struct t_rm {
	struct t_console con;
	struct t_be be;
	struct vmm_vm *v;
	struct vm *vm;
	uint16_t avail_idx;
};

static void wr(struct t_rm *t, uint64_t off, uint32_t v)
{
	assert_int_equal(vm_mmio_write(t->vm, NULL, BASE + off, 4, v), 0);
}

static void gw(struct t_rm *t, uint64_t gpa, const void *buf, size_t len)
{
	assert_int_equal(vm_gpa_write(t->vm, gpa, buf, len), 0);
}

static void gr(struct t_rm *t, uint64_t gpa, void *buf, size_t len)
{
	assert_int_equal(vm_gpa_read(t->vm, gpa, buf, len), 0);
}

static void t_setup(struct t_rm *t)
{
	static const uint8_t loop[4] = { 0x6f };
	static const uint8_t zero[0x1000];
	uint64_t feat = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC);
	struct vmm_vm_config cfg;
	char err[256];

	memset(t, 0, sizeof(*t));
	t->be.mem = aligned_alloc(4096, 3 * 4096);
	t->be.frame = t->be.mem + 4096 - 26;
	t->be.len = FLEN;
	for (unsigned i = 0; i < FLEN; i++)
		t->be.frame[i] = (uint8_t)(i * 3 + 1);
	t->be.share = (struct vmm_share_ops){ .opaque = &t->be, .get = be_get, .put = be_put };
	cfg = t_config(1, 16 << 20, t_tmpfile(0, loop, sizeof(loop)), &t->con);
	cfg.nic = (struct vmm_nic_config){
		.on = true, .mac = { 0x52, 0x54, 0, 1, 2, 3 }, .mtu = 9000,
		.ops = { .opaque = &t->be, .tx = be_tx, .rx_peek = be_peek, .rx_share = be_share, .rx_pop = be_pop },
	};
	t->v = vmm_vm_create(&cfg, err, sizeof(err));
	unlink(cfg.kernel);
	if (!t->v)
		fail_msg("vmm_vm_create: %s", err);
	t->vm = &t->v->vm;
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, feat >> 32);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	gw(t, AVAIL(0), zero, sizeof(zero));
	gw(t, USED(0), zero, sizeof(zero));
	wr(t, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(t, VIRTIO_MMIO_QUEUE_NUM, QNUM);
	wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC(0));
	wr(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, DESC(0) >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)AVAIL(0));
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, AVAIL(0) >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)USED(0));
	wr(t, VIRTIO_MMIO_QUEUE_USED_HIGH, USED(0) >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			       VIRTIO_STATUS_DRIVER_OK);
	/* the guest's data in the payload buffer before anything arrives */
	uint8_t junk[8192];
	memset(junk, 0x5a, sizeof(junk));
	gw(t, PAYBUF, junk, sizeof(junk));
}

/* Offer the two-buffer receive chain (virtio header + 26 bytes, then the payload page), notify. */
static void t_post(struct t_rm *t)
{
	struct { uint64_t addr; uint32_t len; uint16_t flags, next; } d[2] = {
		{ HDRBUF, 12 + 26, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1 },
		{ PAYBUF, 8192, VIRTQ_DESC_F_WRITE, 0 },
	};
	uint16_t head = 0;

	gw(t, DESC(0), d, sizeof(d));
	gw(t, AVAIL(0) + 4 + 2 * (t->avail_idx % QNUM), &head, 2);
	t->avail_idx++;
	gw(t, AVAIL(0) + 2, &t->avail_idx, 2);
	wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static void test_remap(void **state)
{
	struct t_rm t;
	struct vmm_nic_stats st;
	uint8_t got[6000], hdr[26];
	uint16_t used;

	t_setup(&t);
	t_post(&t);				/* nothing to receive yet: the chain waits */
	gr(&t, USED(0) + 2, &used, 2);
	assert_int_equal(used, 0);
	t.be.queued = true;
	vmm_vm_nic_kick(t.v);			/* the frame arrives: a kick fills the chain */
	gr(&t, USED(0) + 2, &used, 2);
	assert_int_equal(used, 1);
	assert_int_equal(t.be.pops, 1);
	assert_int_equal(t.be.remapped, 4096);	/* one whole page mapped, the rest copied */
	assert_int_equal(t.be.gets, 1);
	assert_int_equal(t.be.refs, 1);
	vmm_vm_nic_stats(t.v, &st);
	assert_int_equal(st.bytes_remapped, 4096);
	assert_int_equal(st.bytes_copied, FLEN - 4096);
	/* the guest sees the frame: headers in the first buffer, payload in the second */
	gr(&t, HDRBUF + 12, hdr, 26);
	assert_memory_equal(hdr, t.be.frame, 26);
	gr(&t, PAYBUF, got, 6000);
	assert_memory_equal(got, t.be.frame + 26, 6000);
	/* the page is the frame's own page: no machine page was taken for it */
	assert_ptr_equal(vm_ram_page(t.vm, PAYBUF), t.be.frame + 26);
	/* the guest's first store gives it a private copy; the frame stays as it was */
	uint8_t x = 0xee, orig = t.be.frame[26 + 100];
	gw(&t, PAYBUF + 100, &x, 1);
	assert_int_equal(t.be.frame[26 + 100], orig);
	assert_int_equal(t.be.refs, 0);
	assert_int_equal(t.be.puts, 1);
	assert_ptr_not_equal(vm_ram_page(t.vm, PAYBUF), t.be.frame + 26);
	gr(&t, PAYBUF + 99, got, 3);
	assert_int_equal(got[0], t.be.frame[26 + 99]);
	assert_int_equal(got[1], 0xee);
	/* a frame already waiting when the guest notifies is mapped too */
	t.be.queued = true;
	t_post(&t);
	assert_int_equal(t.be.pops, 2);
	assert_int_equal(t.be.remapped, 4096);
	assert_int_equal(t.be.gets, 2);
	gr(&t, PAYBUF, got, 6000);
	assert_memory_equal(got, t.be.frame + 26, 6000);
	/* a frame whose page-aligned bytes would not land on a page boundary is copied */
	t.be.frame += 1;
	t.be.queued = true;
	t_post(&t);
	assert_int_equal(t.be.pops, 3);
	assert_int_equal(t.be.remapped, 0);
	assert_int_equal(t.be.refs, 0);		/* the earlier mapping was replaced, its reference put */
	gr(&t, PAYBUF, got, 6000);
	assert_memory_equal(got, t.be.frame + 26, 6000);
	t.be.frame -= 1;
	/* map once more, then destroy the VM: the mapping's reference comes back */
	t_post(&t);
	t.be.queued = true;
	vmm_vm_nic_kick(t.v);
	assert_int_equal(t.be.refs, 1);
	vmm_vm_destroy(t.v);
	assert_int_equal(t.be.refs, 0);
	assert_int_equal(t.be.gets, t.be.puts);
	free(t.be.mem);
}

/*
 * Random receive chains (1 to 4 buffers of random lengths, placed at
 * random page offsets, half of them in phase with the frame) and frames at
 * random page phases: whatever was mapped and whatever was copied, the
 * guest reads the virtio header and the frame exactly, and the counters
 * add up.
 */
#define SCRATCH		(VM_RAM_BASE + 0x400000)
#define SLOT		0x10000ull

static uint64_t t_rng = 88172645463325252ull;

static uint64_t t_rand(void)
{
	t_rng ^= t_rng << 13;
	t_rng ^= t_rng >> 7;
	t_rng ^= t_rng << 17;
	return t_rng;
}

static void test_remap_random(void **state)
{
	struct t_rm t;
	unsigned iters = getenv("DISCO_FUZZ_ITERS") ? (unsigned)atoi(getenv("DISCO_FUZZ_ITERS")) : 1000;
	uint8_t **mems = calloc(iters, sizeof(*mems));
	uint64_t remapped = 0, copied = 0;
	static uint8_t want[12 + 9018], got[12 + 9018];

	t_setup(&t);
	for (unsigned it = 0; it < iters; it++) {
		size_t len = 4096 + t_rand() % (9018 - 4096 + 1);
		unsigned phase = (unsigned)(t_rand() % 4096), nseg = 1 + (unsigned)(t_rand() % 4);
		struct { uint64_t addr; uint32_t len; uint16_t flags, next; } d[4];
		uint64_t need = 12 + len, so = 0;

		mems[it] = aligned_alloc(4096, 4 * 4096);
		t.be.frame = mems[it] + phase;
		t.be.len = len;
		for (size_t i = 0; i < len; i++)
			t.be.frame[i] = (uint8_t)t_rand();
		for (unsigned j = 0; j < nseg; j++) {
			uint64_t l = j + 1 == nseg ? (need > so ? need - so : 1) + t_rand() % 64
						   : 1 + t_rand() % (need / nseg + 16);
			uint64_t off = t_rand() % 4096;

			if (t_rand() % 2 && so + 12 <= 12 + len) {
				/* in phase: frame byte (so - 12) at a gpa with the frame's page offset */
				uint64_t k = so >= 12 ? so - 12 : 0, at = so >= 12 ? 0 : 12 - so;
				off = ((phase + k) % 4096 + 4096 - at % 4096) % 4096;
			}
			d[j].addr = SCRATCH + j * SLOT + off;
			d[j].len = (uint32_t)l;
			d[j].flags = VIRTQ_DESC_F_WRITE | (j + 1 < nseg ? VIRTQ_DESC_F_NEXT : 0);
			d[j].next = (uint16_t)(j + 1);
			so += l;
		}
		gw(&t, DESC(0), d, nseg * sizeof(d[0]));
		uint16_t head = 0;
		gw(&t, AVAIL(0) + 4 + 2 * (t.avail_idx % QNUM), &head, 2);
		t.avail_idx++;
		gw(&t, AVAIL(0) + 2, &t.avail_idx, 2);
		t.be.queued = true;
		if (t_rand() % 2)
			wr(&t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		else
			vmm_vm_nic_kick(t.v);
		assert_false(t.be.queued);
		/* read the chain back as one stream */
		memset(want, 0, 12);
		want[10] = 1;
		memcpy(want + 12, t.be.frame, len);
		so = 0;
		for (unsigned j = 0; j < nseg && so < 12 + len; j++) {
			uint64_t l = d[j].len < 12 + len - so ? d[j].len : 12 + len - so;

			gr(&t, d[j].addr, got + so, l);
			so += l;
		}
		assert_memory_equal(got, want, 12 + len);
		remapped += t.be.remapped;
		copied += len - t.be.remapped;
	}
	struct vmm_nic_stats st;

	vmm_vm_nic_stats(t.v, &st);
	assert_int_equal(st.bytes_remapped, remapped);
	assert_int_equal(st.bytes_copied, copied);
	assert_true(remapped > 0 && copied > 0);
	print_message("%u random chains: %llu bytes remapped, %llu copied\n", iters,
		      (unsigned long long)remapped, (unsigned long long)copied);
	vmm_vm_destroy(t.v);
	assert_int_equal(t.be.refs, 0);
	assert_int_equal(t.be.gets, t.be.puts);
	for (unsigned i = 0; i < iters; i++)
		free(mems[i]);
	free(mems);
	free(t.be.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remap),
		cmocka_unit_test(test_remap_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
