/*
 * test_vdisk_share.c — the global disk cache: three VMs on one node read
 * the same base-image blocks through virtio-blk (temporary overlays, the
 * node's io_uring server and cache, as disco-node sets them up) and hold
 * one copy of them; a store into one VM's copy breaks the sharing for that
 * VM alone; a block the VM wrote to its overlay is its own. The requests go
 * through the real transport and complete from a loop that polls the
 * server, as the node's does.
 *
 * Links the real pmap and harts: must not include test_board_harts.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_board_util.h"
#include "vdisk/vdisk.h"
#include "vmm/board.h"
#include "vmm/dev_virtio_blk.h"

#define BASE		(VM_VIRTIO_BASE + VM_DISK_SLOT * VM_VIRTIO_STRIDE)
#define QNUM		8
#define DESC		(VM_RAM_BASE + 0x100000)
#define AVAIL		(VM_RAM_BASE + 0x101000)
#define USED		(VM_RAM_BASE + 0x102000)
#define HDR		(VM_RAM_BASE + 0x103000)
#define STATUS		(VM_RAM_BASE + 0x104000)
#define DATA		(VM_RAM_BASE + 0x110000)	/* page-aligned */
#define NBLK		8
#define NVM		3

struct t_vm {
	struct t_console con;
	struct vmm_vm *v;
	struct vm *vm;
	uint16_t avail_idx, used_seen;
};

static unsigned t_vm_pages, t_vm_allocs;	/* private pages the VMs hold now, and have taken */

static void *t_vm_alloc(void *opaque)
{
	void *p = t_alloc_page(opaque);

	t_vm_pages += p != NULL;
	t_vm_allocs += p != NULL;
	return p;
}

static void t_vm_free(void *opaque, void *page)
{
	t_vm_pages--;
	t_free_page(opaque, page);
}

static struct vdisk_server *t_srv;
static struct vdisk_cache *t_cache;
static char t_base[64];

static void wr(struct t_vm *t, uint64_t off, uint32_t v)
{
	assert_int_equal(vm_mmio_write(t->vm, NULL, BASE + off, 4, v), 0);
}

static void gw(struct t_vm *t, uint64_t gpa, const void *buf, size_t len)
{
	assert_int_equal(vm_gpa_write(t->vm, gpa, buf, len), 0);
}

static void gr(struct t_vm *t, uint64_t gpa, void *buf, size_t len)
{
	assert_int_equal(vm_gpa_read(t->vm, gpa, buf, len), 0);
}

static void t_vm_up(struct t_vm *t)
{
	static const uint8_t loop[4] = { 0x6f };
	struct vmm_vm_config cfg = t_config(1, 16 << 20, t_tmpfile(0, loop, sizeof(loop)), &t->con);
	uint8_t zero[0x1000] = {0};
	char err[256];

	cfg.disk = t_base;
	cfg.mem = (struct vmm_mem_ops){ .alloc_page = t_vm_alloc, .free_page = t_vm_free };
	cfg.disk_cfg = (struct vmm_disk_config){ .server = t_srv, .mode = VMM_DISK_TEMP, .cache = t_cache };
	t->v = vmm_vm_create(&cfg, err, sizeof(err));
	unlink(cfg.kernel);
	if (!t->v)
		fail_msg("vmm_vm_create: %s", err);
	t->vm = &t->v->vm;
	wr(t, VIRTIO_MMIO_STATUS, 0);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, 1);	/* VIRTIO_F_VERSION_1 */
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	gw(t, AVAIL, zero, sizeof(zero));
	gw(t, USED, zero, sizeof(zero));
	wr(t, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(t, VIRTIO_MMIO_QUEUE_NUM, QNUM);
	wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
	wr(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, DESC >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)AVAIL);
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, AVAIL >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)USED);
	wr(t, VIRTIO_MMIO_QUEUE_USED_HIGH, USED >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
	   VIRTIO_STATUS_DRIVER_OK);
}

/* One request, completed by polling the server as the node's loop does; returns the status byte. */
static uint8_t t_req(struct t_vm *t, uint32_t type, uint64_t sector, uint64_t data, uint32_t len, bool *at_once)
{
	struct { uint32_t type, reserved; uint64_t sector; } hdr = { type, 0, sector };
	struct { uint64_t addr; uint32_t len; uint16_t flags, next; } d[3] = {
		{ HDR, sizeof(hdr), VIRTQ_DESC_F_NEXT, 1 },
		{ data, len, VIRTQ_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0), 2 },
		{ STATUS, 1, VIRTQ_DESC_F_WRITE, 0 },
	};
	uint16_t head = 0, used;
	uint8_t status = 0xee;

	gw(t, HDR, &hdr, sizeof(hdr));
	gw(t, STATUS, &status, 1);
	gw(t, DESC, d, sizeof(d));
	gw(t, AVAIL + 4 + 2 * (t->avail_idx % QNUM), &head, 2);
	t->avail_idx++;
	gw(t, AVAIL + 2, &t->avail_idx, 2);
	wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	gr(t, USED + 2, &used, 2);
	*at_once = used == (uint16_t)(t->used_seen + 1);
	for (int i = 0; i < 5000 && used != (uint16_t)(t->used_seen + 1); i++) {
		vdisk_server_poll(t_srv);
		usleep(1000);
		gr(t, USED + 2, &used, 2);
	}
	assert_int_equal(used, (uint16_t)(t->used_seen + 1));
	t->used_seen++;
	gr(t, STATUS, &status, 1);
	return status;
}

/* Block b of the base: every byte is (b * 7 + offset / 512) & 0xff. */
static void t_expect_block(struct t_vm *t, uint64_t gpa, unsigned b)
{
	uint8_t buf[4096];

	gr(t, gpa, buf, sizeof(buf));
	for (unsigned i = 0; i < sizeof(buf); i += 511)
		if (buf[i] != (uint8_t)(b * 7 + i / 512))
			fail_msg("block %u byte %u: %#x", b, i, buf[i]);
}

/* The base image (img, len bytes: the block pattern t_expect_block knows when pattern), the server and the cache. */
static void t_base_up(uint8_t *img, size_t len, bool pattern)
{
	char err[256];

	for (size_t i = 0; pattern && i < len; i++)
		img[i] = (uint8_t)((i / 4096) * 7 + (i % 4096) / 512);
	snprintf(t_base, sizeof(t_base), "%s", t_tmpfile(1, img, len));
	t_srv = vdisk_server_new(64, err, sizeof(err));
	if (!t_srv)
		fail_msg("vdisk_server_new: %s", err);
	t_cache = vdisk_cache_new(t_alloc_page, t_free_page, NULL);
	assert_non_null(t_cache);
}

static void t_base_down(void)
{
	vdisk_cache_free(t_cache);
	vdisk_server_free(t_srv);
	unlink(t_base);
}

static void test_shared_reads(void **state)
{
	static struct t_vm vms[NVM];
	struct vdisk_cache_stats cs;
	struct vmm_disk_stats ds;
	uint8_t img[NBLK * 4096], mine[512];
	bool at_once;

	t_base_up(img, sizeof(img), true);
	for (int i = 0; i < NVM; i++)
		t_vm_up(&vms[i]);

	/* the first VM reads the 8 blocks from the disk; they become cache pages */
	assert_int_equal(t_req(&vms[0], VIRTIO_BLK_T_IN, 0, DATA, sizeof(img), &at_once), VIRTIO_BLK_S_OK);
	assert_false(at_once);	/* the vCPU did not wait: the request completed later */
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.pages, NBLK);
	assert_int_equal(cs.refs, NBLK);
	/* the others get the same machine pages, without I/O */
	for (int i = 1; i < NVM; i++) {
		assert_int_equal(t_req(&vms[i], VIRTIO_BLK_T_IN, 0, DATA, sizeof(img), &at_once), VIRTIO_BLK_S_OK);
		assert_true(at_once);
		assert_true(vmm_vm_disk_stats(vms[i].v, &ds));
		assert_int_equal(ds.bytes_from_cache, sizeof(img));
		assert_int_equal(ds.bytes_from_base, 0);
		assert_int_equal(ds.shared_bytes, sizeof(img));
	}
	for (unsigned b = 0; b < NBLK; b++) {
		for (int i = 0; i < NVM; i++)
			t_expect_block(&vms[i], DATA + b * 4096, b);
		assert_ptr_equal(vm_ram_page(vms[0].vm, DATA + b * 4096), vm_ram_page(vms[2].vm, DATA + b * 4096));
	}
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.pages, NBLK);		/* one copy ... */
	assert_int_equal(cs.refs, NVM * NBLK);		/* ... mapped by every VM: (NVM - 1) * NBLK pages saved */

	/* a store into VM 1's block 3 breaks the sharing for VM 1 alone */
	memset(mine, 0xab, sizeof(mine));
	gw(&vms[1], DATA + 3 * 4096, mine, sizeof(mine));
	assert_ptr_not_equal(vm_ram_page(vms[1].vm, DATA + 3 * 4096), vm_ram_page(vms[0].vm, DATA + 3 * 4096));
	t_expect_block(&vms[0], DATA + 3 * 4096, 3);
	t_expect_block(&vms[2], DATA + 3 * 4096, 3);
	gr(&vms[1], DATA + 3 * 4096, mine, sizeof(mine));
	assert_int_equal(mine[0], 0xab);
	gr(&vms[1], DATA + 3 * 4096 + 512, mine, 1);
	assert_int_equal(mine[0], (uint8_t)(3 * 7 + 1));	/* the rest of the page was copied */
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.refs, NVM * NBLK - 1);

	/* VM 2 writes block 5 to its overlay: its next read of it is its own, not the cache's */
	memset(mine, 0x5c, sizeof(mine));
	gw(&vms[2], DATA + 0x20000, mine, sizeof(mine));
	assert_int_equal(t_req(&vms[2], VIRTIO_BLK_T_OUT, 5 * 8, DATA + 0x20000, 512, &at_once), VIRTIO_BLK_S_OK);
	assert_int_equal(t_req(&vms[2], VIRTIO_BLK_T_IN, 5 * 8, DATA + 0x30000, 4096, &at_once), VIRTIO_BLK_S_OK);
	assert_false(at_once);
	gr(&vms[2], DATA + 0x30000, mine, 2);
	assert_int_equal(mine[0], 0x5c);
	assert_ptr_not_equal(vm_ram_page(vms[2].vm, DATA + 0x30000), vm_ram_page(vms[0].vm, DATA + 5 * 4096));
	/* ... while VM 0 reading it again still gets the base's, shared */
	assert_int_equal(t_req(&vms[0], VIRTIO_BLK_T_IN, 5 * 8, DATA + 0x30000, 4096, &at_once), VIRTIO_BLK_S_OK);
	assert_true(at_once);
	t_expect_block(&vms[0], DATA + 0x30000, 5);

	/* a 512-byte read is not a whole page: copied, not shared */
	assert_int_equal(t_req(&vms[0], VIRTIO_BLK_T_IN, 1, DATA + 0x40000, 512, &at_once), VIRTIO_BLK_S_OK);
	assert_false(at_once);

	for (int i = 0; i < NVM; i++)
		vmm_vm_destroy(vms[i].v);
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.refs, 0);
	assert_int_equal(cs.pages, 0);	/* pages go back to the node with the last mapping */
	t_base_down();
}

/* Bad requests on the asynchronous path are answered at once with IOERR; a reset drops requests in flight. */
static void test_async_errors_and_reset(void **state)
{
	static struct t_vm vm;
	static uint8_t img[16 * 4096];
	bool at_once;
	uint16_t used;

	t_base_up(img, sizeof(img), false);
	t_vm_up(&vm);
	/* past the end, straddling it, not whole sectors, a buffer outside RAM */
	assert_int_equal(t_req(&vm, VIRTIO_BLK_T_IN, 16 * 8, DATA, 512, &at_once), VIRTIO_BLK_S_IOERR);
	assert_true(at_once);
	assert_int_equal(t_req(&vm, VIRTIO_BLK_T_IN, 16 * 8 - 1, DATA, 1024, &at_once), VIRTIO_BLK_S_IOERR);
	assert_int_equal(t_req(&vm, VIRTIO_BLK_T_OUT, 0, DATA, 100, &at_once), VIRTIO_BLK_S_IOERR);
	assert_int_equal(t_req(&vm, VIRTIO_BLK_T_OUT, 0, 0x1000, 512, &at_once), VIRTIO_BLK_S_IOERR);
	assert_true(at_once);
	/* write-zeroes (one segment) zeroes; discard is accepted; discard with unmap is UNSUPP */
	{
		struct { uint64_t sector; uint32_t num, flags; } seg = { 3, 9, 0 };
		uint8_t ones[9 * 512], back[9 * 512];

		memset(ones, 0xff, sizeof(ones));
		gw(&vm, DATA + 0x10000, ones, sizeof(ones));
		assert_int_equal(t_req(&vm, VIRTIO_BLK_T_OUT, 3, DATA + 0x10000, sizeof(ones), &at_once), VIRTIO_BLK_S_OK);
		gw(&vm, DATA, &seg, sizeof(seg));
		assert_int_equal(t_req(&vm, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA, sizeof(seg), &at_once), VIRTIO_BLK_S_OK);
		assert_false(at_once);
		gw(&vm, DATA + 0x10000, ones, sizeof(ones));
		assert_int_equal(t_req(&vm, VIRTIO_BLK_T_IN, 2, DATA + 0x10000, sizeof(back), &at_once), VIRTIO_BLK_S_OK);
		gr(&vm, DATA + 0x10000, back, sizeof(back));
		for (unsigned i = 0; i < sizeof(back); i++)
			if (back[i] != 0)	/* sector 2: the (zero) base; 3..10: written 0xff, then zeroed */
				fail_msg("byte %u after write-zeroes: %#x", i, back[i]);
		seg = (typeof(seg)){ 0, 8, 0 };
		gw(&vm, DATA, &seg, sizeof(seg));
		assert_int_equal(t_req(&vm, VIRTIO_BLK_T_DISCARD, 0, DATA, sizeof(seg), &at_once), VIRTIO_BLK_S_OK);
		seg.flags = 1;
		gw(&vm, DATA, &seg, sizeof(seg));
		assert_int_equal(t_req(&vm, VIRTIO_BLK_T_DISCARD, 0, DATA, sizeof(seg), &at_once), VIRTIO_BLK_S_UNSUPP);
		seg = (typeof(seg)){ 16 * 8 - 1, 2, 0 };
		gw(&vm, DATA, &seg, sizeof(seg));
		assert_int_equal(t_req(&vm, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA, sizeof(seg), &at_once), VIRTIO_BLK_S_IOERR);
	}
	/* a good read, then the driver resets the device before it completes */
	{
		struct { uint32_t type, reserved; uint64_t sector; } hdr = { VIRTIO_BLK_T_IN, 0, 0 };
		struct { uint64_t addr; uint32_t len; uint16_t flags, next; } d[3] = {
			{ HDR, sizeof(hdr), VIRTQ_DESC_F_NEXT, 1 },
			{ DATA, 8192, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 },
			{ STATUS, 1, VIRTQ_DESC_F_WRITE, 0 },
		};
		uint16_t head = 0;

		gw(&vm, HDR, &hdr, sizeof(hdr));
		gw(&vm, DESC, d, sizeof(d));
		gw(&vm, AVAIL + 4 + 2 * (vm.avail_idx % QNUM), &head, 2);
		vm.avail_idx++;
		gw(&vm, AVAIL + 2, &vm.avail_idx, 2);
		wr(&vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		wr(&vm, VIRTIO_MMIO_STATUS, 0);		/* reset with the read in flight */
		assert_int_equal(vdisk_server_drain(t_srv), 0);
		vdisk_server_poll(t_srv);
		gr(&vm, USED + 2, &used, 2);
		assert_int_equal(used, vm.used_seen);	/* the old request never reached the used ring */
	}
	vmm_vm_destroy(vm.v);
	t_base_down();
}

/*
 * [machine] disk_cache_max: blocks no VM maps any more stay (up to the
 * limit, the oldest out first), and a VM that reads them later maps them
 * without I/O.
 */
static void test_retained_blocks(void **state)
{
	static struct t_vm a, b;
	struct vdisk_cache_stats cs;
	struct vmm_disk_stats ds;
	uint8_t img[NBLK * 4096];
	bool at_once;

	t_base_up(img, sizeof(img), true);
	vdisk_cache_set_max(t_cache, 6 * 4096);

	t_vm_up(&a);
	assert_int_equal(t_req(&a, VIRTIO_BLK_T_IN, 0, DATA, sizeof(img), &at_once), VIRTIO_BLK_S_OK);
	assert_false(at_once);
	vmm_vm_destroy(a.v);	/* its 8 mappings end, block 0 first: 6 blocks stay, 0 and 1 leave */
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.refs, 0);
	assert_int_equal(cs.pages, 6);
	assert_int_equal(cs.unmapped, 6);
	assert_int_equal(cs.evictions, 2);

	t_vm_up(&b);
	assert_int_equal(t_req(&b, VIRTIO_BLK_T_IN, 2 * 8, DATA, 6 * 4096, &at_once), VIRTIO_BLK_S_OK);
	assert_true(at_once);	/* blocks 2..7: mapped from the cache, no I/O */
	for (unsigned k = 0; k < 6; k++)
		t_expect_block(&b, DATA + k * 4096, 2 + k);
	assert_true(vmm_vm_disk_stats(b.v, &ds));
	assert_int_equal(ds.bytes_from_cache, 6 * 4096);
	assert_int_equal(ds.bytes_from_base, 0);
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.unmapped, 0);
	assert_int_equal(cs.refs, 6);
	/* block 0 left: read from the disk again */
	assert_int_equal(t_req(&b, VIRTIO_BLK_T_IN, 0, DATA + 0x20000, 4096, &at_once), VIRTIO_BLK_S_OK);
	assert_false(at_once);
	t_expect_block(&b, DATA + 0x20000, 0);
	/* a lower limit evicts at once; 0 keeps nothing unmapped */
	vmm_vm_destroy(b.v);
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.unmapped, 6);
	vdisk_cache_set_max(t_cache, 2 * 4096);
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.unmapped, 2);
	assert_int_equal(cs.pages, 2);
	assert_int_equal(vdisk_cache_evict(t_cache, 100), 2);
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.pages, 0);
	t_base_down();
}

/*
 * A read into a buffer that maps cache pages from the guest's previous read
 * (a guest streaming through one buffer) maps the new blocks' pages in
 * place of those, without copying them into private pages first; a read
 * with parts that are not whole blocks gets those parts copied around the
 * pages it maps.
 */
static void test_reread_same_buffer(void **state)
{
	static struct t_vm a, b;
	struct vdisk_cache_stats cs;
	struct vmm_disk_stats ds;
	uint8_t img[NBLK * 4096], got[0x200 + 2 * 4096 + 0x200];
	const uint64_t odd = DATA + 0x40e00;	/* as misaligned as sector 7 is in its block */
	bool at_once;
	unsigned before;

	t_base_up(img, sizeof(img), true);
	t_vm_up(&a);
	t_vm_up(&b);

	assert_int_equal(t_req(&a, VIRTIO_BLK_T_IN, 0, DATA, 4 * 4096, &at_once), VIRTIO_BLK_S_OK);
	before = t_vm_allocs;
	assert_int_equal(t_req(&a, VIRTIO_BLK_T_IN, 4 * 8, DATA, 4 * 4096, &at_once), VIRTIO_BLK_S_OK);
	assert_int_equal(t_vm_allocs, before);	/* no private copy of the old pages was made */
	for (unsigned k = 0; k < 4; k++)
		t_expect_block(&a, DATA + k * 4096, 4 + k);
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.pages, 4);		/* blocks 0..3 left with their last mapping */
	assert_int_equal(cs.refs, 4);
	assert_true(vmm_vm_disk_stats(a.v, &ds));
	assert_int_equal(ds.shared_bytes, 4 * 4096);
	/* the same again from the cache, and VM b's buffer maps the very pages */
	assert_int_equal(t_req(&b, VIRTIO_BLK_T_IN, 4 * 8, DATA, 4 * 4096, &at_once), VIRTIO_BLK_S_OK);
	assert_true(at_once);
	assert_ptr_equal(vm_ram_page(a.vm, DATA + 4096), vm_ram_page(b.vm, DATA + 4096));

	/* sectors 7..24: the last sector of block 0, blocks 1 and 2 whole, the first of block 3 */
	memset(got, 0xee, sizeof(got));
	gw(&a, odd, got, sizeof(got));
	assert_int_equal(t_req(&a, VIRTIO_BLK_T_IN, 7, odd, sizeof(got), &at_once), VIRTIO_BLK_S_OK);
	gr(&a, odd, got, sizeof(got));
	assert_memory_equal(got, img + 7 * 512, sizeof(got));
	assert_true(vmm_vm_disk_stats(a.v, &ds));
	assert_int_equal(ds.shared_bytes, 6 * 4096);	/* blocks 1 and 2 are mapped */
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.pages, 6);

	vmm_vm_destroy(a.v);
	vmm_vm_destroy(b.v);
	assert_int_equal(t_vm_pages, 0);
	vdisk_cache_get_stats(t_cache, &cs);
	assert_int_equal(cs.pages, 0);
	t_base_down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_reads),
		cmocka_unit_test(test_retained_blocks),
		cmocka_unit_test(test_reread_same_buffer),
		cmocka_unit_test(test_async_errors_and_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
