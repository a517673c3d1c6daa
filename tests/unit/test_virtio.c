/*
 * test_virtio.c — virtio-mmio transport and virtio-blk: feature
 * negotiation, a real split virtqueue laid out in guest RAM carrying
 * write/read/flush/get-id requests to a raw image file, and a driver that
 * breaks the rules getting VIRTIO_BLK_S_IOERR or DEVICE_NEEDS_RESET (never
 * a crash). Stand-in harts: test_board_harts.h.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libfdt.h>

#include "test_board_harts.h"
#include "vmm/board.h"
#include "vmm/dev_virtio_blk.h"

#define SLOT		VM_DISK_SLOT
#define BASE		(VM_VIRTIO_BASE + SLOT * VM_VIRTIO_STRIDE)
#define IRQ		(VM_VIRTIO_IRQ + SLOT)
#define QNUM		8
#define DESC		(VM_RAM_BASE + 0x100000)
#define AVAIL		(VM_RAM_BASE + 0x101000)
#define USED		(VM_RAM_BASE + 0x102000)
#define HDR		(VM_RAM_BASE + 0x103000)
#define DATA		(VM_RAM_BASE + 0x110000)
#define STATUS		(VM_RAM_BASE + 0x104000)
#define DISK_BYTES	(1 << 20)

struct t_vio {
	struct t_console con;
	struct vmm_vm *v;
	struct vm *vm;
	char disk[64];
	uint16_t avail_idx, used_seen;
};

static uint32_t rd(struct t_vio *t, uint64_t off)
{
	uint64_t v;

	assert_int_equal(vm_mmio_read(t->vm, NULL, BASE + off, 4, &v), 0);
	return v;
}

static void wr(struct t_vio *t, uint64_t off, uint32_t v)
{
	assert_int_equal(vm_mmio_write(t->vm, NULL, BASE + off, 4, v), 0);
}

static void gw(struct t_vio *t, uint64_t gpa, const void *buf, size_t len)
{
	assert_int_equal(vm_gpa_write(t->vm, gpa, buf, len), 0);
}

static void gr(struct t_vio *t, uint64_t gpa, void *buf, size_t len)
{
	assert_int_equal(vm_gpa_read(t->vm, gpa, buf, len), 0);
}

static struct t_vio *t_vio_new(void)
{
	static const uint8_t loop[4] = { 0x6f };
	struct t_vio *t = calloc(1, sizeof(*t));
	struct vmm_vm_config cfg;
	uint8_t *img = malloc(DISK_BYTES);
	char err[256];

	for (unsigned i = 0; i < DISK_BYTES; i++)
		img[i] = i / 512;	/* each sector filled with its number */
	snprintf(t->disk, sizeof(t->disk), "%s", t_tmpfile(1, img, DISK_BYTES));
	free(img);
	cfg = t_config(1, 16 << 20, t_tmpfile(0, loop, sizeof(loop)), &t->con);
	cfg.disk = t->disk;
	t->v = vmm_vm_create(&cfg, err, sizeof(err));
	unlink(cfg.kernel);
	if (!t->v)
		fail_msg("vmm_vm_create: %s", err);
	t->vm = &t->v->vm;
	/* Route the device's interrupt to hart 0's S context. */
	vm_mmio_write(t->vm, NULL, VM_PLIC_BASE + 4 * IRQ, 4, 1);
	vm_mmio_write(t->vm, NULL, VM_PLIC_BASE + PLIC_ENABLE + PLIC_ENABLE_STRIDE, 4, 1u << IRQ);
	return t;
}

static void t_vio_free(struct t_vio *t)
{
	vmm_vm_destroy(t->v);
	unlink(t->disk);
	free(t);
}

/* The driver's initialisation sequence; returns the final Status. */
static uint32_t t_negotiate(struct t_vio *t, uint64_t features)
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

static void t_queue(struct t_vio *t, uint64_t desc, uint32_t num)
{
	uint8_t zero[0x1000] = {0};

	gw(t, AVAIL, zero, sizeof(zero));
	gw(t, USED, zero, sizeof(zero));
	wr(t, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_SIZE_MAX);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 0);
	wr(t, VIRTIO_MMIO_QUEUE_NUM, num);
	wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, desc >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)AVAIL);
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, AVAIL >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)USED);
	wr(t, VIRTIO_MMIO_QUEUE_USED_HIGH, USED >> 32);
	wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	t->avail_idx = t->used_seen = 0;
}

static void t_up(struct t_vio *t, uint64_t extra)
{
	uint32_t st = t_negotiate(t, (1ull << VIRTIO_F_VERSION_1) | extra);

	assert_true(st & VIRTIO_STATUS_FEATURES_OK);
	t_queue(t, DESC, QNUM);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(t, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
}

struct t_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

/* Put descriptors at indices 0..n-1 (chained unless told), offer head 0, notify. */
static void t_submit_at(struct t_vio *t, uint64_t table, const struct t_desc *d, unsigned n, uint16_t head)
{
	gw(t, table, d, n * sizeof(*d));
	gw(t, AVAIL + 4 + 2 * (t->avail_idx % QNUM), &head, 2);
	t->avail_idx++;
	gw(t, AVAIL + 2, &t->avail_idx, 2);
	wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/* A request hdr + data + status; returns the status byte (0xee when not completed). */
static uint8_t t_blk(struct t_vio *t, uint32_t type, uint64_t sector, uint64_t data, uint32_t len, bool data_write)
{
	struct { uint32_t type, reserved; uint64_t sector; } hdr = { type, 0, sector };
	uint8_t status = 0xee;
	struct t_desc d[3];
	unsigned n = 0;
	uint16_t used_idx;

	gw(t, HDR, &hdr, sizeof(hdr));
	gw(t, STATUS, &status, 1);
	d[n++] = (struct t_desc){ HDR, sizeof(hdr), VIRTQ_DESC_F_NEXT, 1 };
	if (len)
		d[n++] = (struct t_desc){ data, len, VIRTQ_DESC_F_NEXT | (data_write ? VIRTQ_DESC_F_WRITE : 0), 2 };
	d[n] = (struct t_desc){ STATUS, 1, VIRTQ_DESC_F_WRITE, 0 };
	d[n - 1].next = n;
	n++;
	t_submit_at(t, DESC, d, n, 0);
	gr(t, USED + 2, &used_idx, 2);
	if (used_idx != (uint16_t)(t->used_seen + 1))
		return 0xee;
	{
		uint32_t elem[2];

		gr(t, USED + 4 + 8 * (t->used_seen % QNUM), elem, 8);
		assert_int_equal(elem[0], 0);
		assert_int_equal(elem[1], (data_write ? len : 0) + 1);
	}
	t->used_seen++;
	gr(t, STATUS, &status, 1);
	return status;
}

static void test_negotiation(void **state)
{
	struct t_vio *t = t_vio_new();
	uint64_t feat, cap;
	uint64_t v;

	assert_int_equal(rd(t, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(t, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(t, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	assert_int_equal(rd(t, VIRTIO_MMIO_VENDOR_ID), 0x554d4551);	/* "QEMU", which xv6 checks */
	/* Empty slots answer with device ID 0. */
	assert_int_equal(vm_mmio_read(t->vm, NULL, VM_VIRTIO_BASE + 0x7000, 4, &v), 0);
	assert_int_equal(v, 0x74726976);
	assert_int_equal(vm_mmio_read(t->vm, NULL, VM_VIRTIO_BASE + 0x7000 + VIRTIO_MMIO_DEVICE_ID, 4, &v), 0);
	assert_int_equal(v, 0);

	wr(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	feat = rd(t, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	feat |= (uint64_t)rd(t, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
	assert_true(feat & (1ull << VIRTIO_BLK_F_FLUSH));
	assert_true(feat & (1ull << VIRTIO_BLK_F_BLK_SIZE));
	assert_true(feat & (1ull << VIRTIO_BLK_F_SEG_MAX));
	assert_true(feat & (1ull << VIRTIO_BLK_F_SIZE_MAX));
	assert_false(feat & (1ull << VIRTIO_BLK_F_RO));
	/* Configuration: capacity in sectors, 8 bytes or two halves. */
	assert_int_equal(vm_mmio_read(t->vm, NULL, BASE + 0x100, 8, &cap), 0);
	assert_int_equal(cap, DISK_BYTES / 512);
	assert_int_equal(vm_mmio_read(t->vm, NULL, BASE + 0x100, 4, &cap), 0);
	assert_int_equal(cap, DISK_BYTES / 512);
	assert_int_equal(vm_mmio_read(t->vm, NULL, BASE + 0x100 + 20, 4, &v), 0);
	assert_int_equal(v, 512);
	/* A driver without VERSION_1 is served anyway, as QEMU does (xv6 writes only the low word). */
	assert_true(t_negotiate(t, 1ull << VIRTIO_BLK_F_FLUSH) & VIRTIO_STATUS_FEATURES_OK);
	/* So is one that accepts a feature not offered. */
	assert_false(t_negotiate(t, (1ull << VIRTIO_F_VERSION_1) | (1ull << 40)) & VIRTIO_STATUS_FEATURES_OK);
	/* Legacy registers are ignored. */
	wr(t, VIRTIO_MMIO_QUEUE_PFN, 0x80000);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_PFN), 0);
	/* A modern driver is accepted; features are frozen after FEATURES_OK. */
	assert_true(t_negotiate(t, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_FLUSH)) &
		    VIRTIO_STATUS_FEATURES_OK);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	assert_int_equal(t->vm->virtio[SLOT]->drv_features,
			 (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_FLUSH));
	/* Bad queues are not enabled: size not a power of two, ring outside RAM. */
	t_queue(t, DESC, 6);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 0);
	t_queue(t, 0x1000, 8);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 0);
	t_queue(t, VM_RAM_BASE + (16 << 20) - 64, 8);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 0);
	t_queue(t, DESC, 512);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 0);
	/* Reset clears everything. */
	wr(t, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(t, VIRTIO_MMIO_STATUS), 0);
	t_vio_free(t);
}

static void test_fdt_virtio_node(void **state)
{
	struct t_vio *t = t_vio_new();
	void *fdt = malloc(t->vm->dtb_size);
	int node;
	const fdt32_t *p;

	gr(t, t->vm->dtb_addr, fdt, t->vm->dtb_size);
	node = fdt_path_offset(fdt, "/soc/virtio_mmio@10001000");
	assert_true(node >= 0);
	assert_int_equal(fdt_node_check_compatible(fdt, node, "virtio,mmio"), 0);
	p = fdt_getprop(fdt, node, "interrupts", NULL);
	assert_int_equal(fdt32_to_cpu(*p), 1);
	assert_true(fdt_path_offset(fdt, "/soc/virtio_mmio@10002000") < 0);
	free(fdt);
	t_vio_free(t);
}

static void test_blk_io(void **state)
{
	struct t_vio *t = t_vio_new();
	uint8_t buf[1024], back[1024], file[1024];
	int fd;

	t_up(t, 1ull << VIRTIO_BLK_F_FLUSH);
	/* Read sectors 5..6: filled with 5 and 6. */
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, 5, DATA, 1024, true), VIRTIO_BLK_S_OK);
	gr(t, DATA, back, sizeof(back));
	assert_int_equal(back[0], 5);
	assert_int_equal(back[511], 5);
	assert_int_equal(back[512], 6);
	/* The used-buffer interrupt went through the PLIC. */
	assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS), 1);
	assert_true(t->vm->harts[0]->mip & (1ull << IRQ_SEI));
	wr(t, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_false(t->vm->harts[0]->mip & (1ull << IRQ_SEI));

	/* Write sectors 3..4, read them back, and find them in the file. */
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = i * 7 + 1;
	gw(t, DATA + 0x10000, buf, sizeof(buf));
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_OUT, 3, DATA + 0x10000, 1024, false), VIRTIO_BLK_S_OK);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, 3, DATA, 1024, true), VIRTIO_BLK_S_OK);
	gr(t, DATA, back, sizeof(back));
	assert_memory_equal(buf, back, sizeof(buf));
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false), VIRTIO_BLK_S_OK);
	fd = open(t->disk, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, file, sizeof(file), 3 * 512), sizeof(file));
	close(fd);
	assert_memory_equal(buf, file, sizeof(file));

	/* GET_ID and an unknown type. */
	memset(back, 0, 32);
	gw(t, DATA, back, 32);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_GET_ID, 0, DATA, 20, true), VIRTIO_BLK_S_OK);
	gr(t, DATA, back, 20);
	assert_string_equal((char *)back, "t");
	assert_int_equal(t_blk(t, 99, 0, 0, 0, false), VIRTIO_BLK_S_UNSUPP);

	/* A request across a page boundary and the last sector of the disk. */
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, DISK_BYTES / 512 - 1, DATA + 0xf00, 512, true), VIRTIO_BLK_S_OK);
	gr(t, DATA + 0xf00, back, 512);
	assert_int_equal(back[0], (DISK_BYTES / 512 - 1) & 0xff);
	assert_int_equal(back[511], (DISK_BYTES / 512 - 1) & 0xff);
	assert_int_equal(t->vm->virtio[SLOT]->errors, 0);
	t_vio_free(t);
}

static void test_blk_bad_requests(void **state)
{
	struct t_vio *t = t_vio_new();

	t_up(t, 0);
	/* Past the end, straddling the end, not whole sectors, buffer outside RAM. */
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, DISK_BYTES / 512, DATA, 512, true), VIRTIO_BLK_S_IOERR);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, DISK_BYTES / 512 - 1, DATA, 1024, true), VIRTIO_BLK_S_IOERR);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, UINT64_MAX, DATA, 512, true), VIRTIO_BLK_S_IOERR);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, 0, DATA, 100, true), VIRTIO_BLK_S_IOERR);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_OUT, 0, DATA, 100, false), VIRTIO_BLK_S_IOERR);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, 0, 0x40000000, 512, true), VIRTIO_BLK_S_IOERR);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_OUT, 0, VM_RAM_BASE + (16 << 20) - 256, 512, false),
			 VIRTIO_BLK_S_IOERR);
	/* A header too short. */
	{
		struct t_desc d[2] = {
			{ HDR, 8, VIRTQ_DESC_F_NEXT, 1 },
			{ STATUS, 1, VIRTQ_DESC_F_WRITE, 0 },
		};
		uint8_t st;

		t_submit_at(t, DESC, d, 2, 0);
		t->used_seen++;
		gr(t, STATUS, &st, 1);
		assert_int_equal(st, VIRTIO_BLK_S_IOERR);
	}
	/* Still working. */
	assert_int_equal(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, 1, DATA, 512, true), VIRTIO_BLK_S_OK);
	t_vio_free(t);
}

/* Submit a broken chain and check the device needs a reset, then recovers after one. */
static void t_expect_needs_reset(struct t_vio *t, const struct t_desc *d, unsigned n, uint16_t head)
{
	uint16_t used_idx;

	t_submit_at(t, DESC, d, n, head);
	assert_true(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS) & 2);
	gr(t, USED + 2, &used_idx, 2);
	assert_int_equal(used_idx, t->used_seen);
	/* Nothing more is done until reset. */
	wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	t_up(t, 1ull << VIRTIO_F_INDIRECT_DESC);
	assert_int_equal(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, 1, DATA, 512, true), VIRTIO_BLK_S_OK);
}

static void test_blk_broken_rings(void **state)
{
	struct t_vio *t = t_vio_new();
	const uint16_t W = VIRTQ_DESC_F_WRITE, N = VIRTQ_DESC_F_NEXT, I = VIRTQ_DESC_F_INDIRECT;

	t_up(t, 1ull << VIRTIO_F_INDIRECT_DESC);
	/* Head out of range. */
	{
		struct t_desc d[1] = { { STATUS, 1, W, 0 } };

		t_expect_needs_reset(t, d, 1, QNUM + 3);
	}
	/* next out of range. */
	{
		struct t_desc d[2] = { { HDR, 16, N, 1 }, { STATUS, 1, W | N, 200 } };

		t_expect_needs_reset(t, d, 2, 0);
	}
	/* A loop. */
	{
		struct t_desc d[3] = { { HDR, 16, N, 1 }, { DATA, 512, W | N, 2 }, { STATUS, 1, W | N, 1 } };

		t_expect_needs_reset(t, d, 3, 0);
	}
	/* Readable after writable. */
	{
		struct t_desc d[3] = { { HDR, 16, N, 1 }, { DATA, 512, W | N, 2 }, { STATUS, 1, N & 0, 0 } };

		t_expect_needs_reset(t, d, 3, 0);
	}
	/* No writable status byte at all. */
	{
		struct t_desc d[1] = { { HDR, 16, 0, 0 } };

		t_expect_needs_reset(t, d, 1, 0);
	}
	/* Avail index running ahead. */
	{
		uint16_t idx = t->avail_idx + QNUM + 5;

		gw(t, AVAIL + 2, &idx, 2);
		wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		assert_true(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
		t_up(t, 1ull << VIRTIO_F_INDIRECT_DESC);
	}
	/* Indirect table: works, then broken ways. */
	{
		struct { uint32_t type, reserved; uint64_t sector; } hdr = { VIRTIO_BLK_T_IN, 0, 9 };
		struct t_desc ind[3] = { { HDR, 16, N, 1 }, { DATA, 512, W | N, 2 }, { STATUS, 1, W, 0 } };
		struct t_desc d[1] = { { DESC + 0x800, sizeof(ind), I, 0 } };
		uint8_t st = 0xee, back[512];
		uint16_t used_idx;

		gw(t, HDR, &hdr, sizeof(hdr));
		gw(t, STATUS, &st, 1);
		gw(t, DESC + 0x800, ind, sizeof(ind));
		t_submit_at(t, DESC, d, 1, 0);
		gr(t, USED + 2, &used_idx, 2);
		assert_int_equal(used_idx, 1);
		t->used_seen = 1;
		gr(t, STATUS, &st, 1);
		assert_int_equal(st, VIRTIO_BLK_S_OK);
		gr(t, DATA, back, 512);
		assert_int_equal(back[0], 9);

		/* nested indirect */
		ind[1] = (struct t_desc){ DESC + 0x800, 48, I | N, 2 };
		gw(t, DESC + 0x800, ind, sizeof(ind));
		t_expect_needs_reset(t, d, 1, 0);
		/* bad length */
		d[0].len = 20;
		t_expect_needs_reset(t, d, 1, 0);
		/* table outside RAM */
		d[0] = (struct t_desc){ 0x1000, 48, I, 0 };
		t_expect_needs_reset(t, d, 1, 0);
	}
	/* Indirect without having negotiated it. */
	t_up(t, 0);
	{
		struct t_desc d[1] = { { DESC + 0x800, 48, I, 0 } };

		t_submit_at(t, DESC, d, 1, 0);
		assert_true(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	}
	assert_true(t->vm->virtio[SLOT]->errors >= 8);
	t_vio_free(t);
}

static void test_blk_readonly(void **state)
{
	struct t_vio *t = t_vio_new();
	struct blk_backend be;
	char err[256];
	uint64_t feat;

	/* Swap in a read-only back end on the same file. */
	virtio_mmio_free(t->vm->virtio[SLOT]);
	assert_int_equal(blk_backend_file_open(t->disk, &be, err, sizeof(err)), 0);
	be.ro = true;
	t->vm->virtio[SLOT] = virtio_blk_new(t->vm, IRQ, &be, "ro", err, sizeof(err));
	assert_non_null(t->vm->virtio[SLOT]);
	for (unsigned i = 0; i < t->vm->n_mmio; i++)
		if (t->vm->mmio[i].base == BASE)
			t->vm->mmio[i].opaque = t->vm->virtio[SLOT];
	wr(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	feat = rd(t, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(feat & (1ull << VIRTIO_BLK_F_RO));
	t_up(t, 1ull << VIRTIO_BLK_F_RO);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_OUT, 0, DATA, 512, false), VIRTIO_BLK_S_IOERR);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, 0, DATA, 512, true), VIRTIO_BLK_S_OK);
	t_vio_free(t);
}

static void test_bad_disk(void **state)
{
	static const uint8_t loop[4] = { 0x6f };
	struct t_console con = {0};
	struct vmm_vm_config cfg = t_config(1, 16 << 20, t_tmpfile(0, loop, 4), &con);
	char err[256] = "";

	cfg.disk = "/nonexistent/disk.img";
	assert_null(vmm_vm_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/disk.img"));
	cfg.disk = "/tmp";
	assert_null(vmm_vm_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "disk /tmp: "));
	unlink(cfg.kernel);
}

/* xv6-riscv's driver: low feature word only (no VERSION_1), queue of 8, 1024-byte blocks. */
static void test_blk_xv6_style(void **state)
{
	struct t_vio *t = t_vio_new();
	uint32_t features, st;
	uint8_t back[1024];

	wr(t, VIRTIO_MMIO_STATUS, 0);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	features = rd(t, VIRTIO_MMIO_DEVICE_FEATURES);
	features &= ~((1u << VIRTIO_BLK_F_RO) | (1u << 7) | (1u << 11) | (1u << 12) | (1u << 27) |
		      (1u << 28) | (1u << 29));
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, features);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	st = rd(t, VIRTIO_MMIO_STATUS);
	assert_true(st & VIRTIO_STATUS_FEATURES_OK);
	t_queue(t, DESC, QNUM);
	assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(t, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(t_blk(t, VIRTIO_BLK_T_IN, 2 * 7, DATA, 1024, true), VIRTIO_BLK_S_OK);
	gr(t, DATA, back, sizeof(back));
	assert_int_equal(back[0], 14);
	assert_int_equal(back[1023], 15);
	/* xv6 acknowledges what it reads. */
	wr(t, VIRTIO_MMIO_INTERRUPT_ACK, rd(t, VIRTIO_MMIO_INTERRUPT_STATUS) & 3);
	assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	t_vio_free(t);
}

static uint64_t t_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * Random rings and descriptors (biased towards almost-valid ones) and
 * random register writes: the device completes requests, reports errors
 * or needs a reset, and the process never crashes (run under ASan/UBSan).
 */
static void test_fuzz(void **state)
{
	struct t_vio *t = t_vio_new();
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned completed = 0, resets = 0;

	for (unsigned iter = 0; iter < 3000; iter++) {
		struct t_desc d[QNUM];
		uint16_t head = t_rand(&x) % (QNUM + 2);
		uint64_t r = t_rand(&x);

		if (iter % 50 == 0 || (rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET)) {
			if (rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET)
				resets++;
			t_up(t, (r & 1) ? 1ull << VIRTIO_F_INDIRECT_DESC : 0);
		}
		for (unsigned i = 0; i < QNUM; i++) {
			uint64_t a = t_rand(&x);
			static const uint64_t addrs[] = { HDR, DATA, STATUS, DESC + 0x800, 0x1000,
							  VM_RAM_BASE + (16 << 20) - 8, ~0ull - 4 };

			d[i].addr = addrs[a % 7] + (a >> 60);
			d[i].len = (a >> 8) % 3 == 0 ? (uint32_t)(a >> 16) : ((a >> 24) % 4) * 512 + ((a >> 30) % 2) * 16 + 1;
			d[i].flags = (a >> 40) & 7;
			d[i].next = (a >> 44) % (QNUM + 1);
		}
		/* Header for whatever points at HDR: a random type and sector. */
		{
			uint32_t hdr[4] = { (uint32_t)(r % 10), 0, (uint32_t)((r >> 8) % 3000), 0 };

			gw(t, HDR, hdr, sizeof(hdr));
		}
		gw(t, DESC + 0x800, d, sizeof(d));	/* an indirect table too */
		t_submit_at(t, DESC, d, QNUM, head);
		if ((r >> 32) % 16 == 0) {
			uint16_t idx = (uint16_t)(r >> 40);

			gw(t, AVAIL + 2, &idx, 2);
			t->avail_idx = idx;
			wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, (r >> 56) % 3);
		}
		if ((r >> 20) % 64 == 0)
			wr(t, (r >> 24) % 0x100 & ~3u, (uint32_t)(r >> 32));
		wr(t, VIRTIO_MMIO_INTERRUPT_ACK, 3);
		{
			uint16_t used;

			gr(t, USED + 2, &used, 2);
			completed = used;
		}
	}
	print_message("fuzz: %u resets, used index %u, %llu requests\n", resets, completed,
		      (unsigned long long)t->vm->virtio[SLOT]->requests);
	assert_true(t->vm->virtio[SLOT]->requests > 0);
	assert_true(resets > 0);
	t_vio_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiation),
		cmocka_unit_test(test_fdt_virtio_node),
		cmocka_unit_test(test_blk_io),
		cmocka_unit_test(test_blk_xv6_style),
		cmocka_unit_test(test_blk_bad_requests),
		cmocka_unit_test(test_blk_broken_rings),
		cmocka_unit_test(test_blk_readonly),
		cmocka_unit_test(test_bad_disk),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
