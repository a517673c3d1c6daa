/*
 * virtio_blk: a minimal virtio-blk driver over virtio-mmio version 2
 * (modern), checking the device side.
 *  1-3   a slot at 0x10001000 + 0x1000 * i has magic "virt", version 2 and
 *        device id 2 (block);
 *  4-5   VIRTIO_F_VERSION_1 offered; FEATURES_OK sticks;
 *  6     queue 0 offers at least 8 entries;
 *  7     the capacity is at least 64 sectors;
 *  10-14 reading sectors 0 and 5 gives the image's pattern ("disco sector
 *        000005" padded with '.'), status 0, used length >= 512;
 *  20-22 a write to sector 10 then a read of it returns the written data;
 *  23    a read past the capacity returns VIRTIO_BLK_S_IOERR (1).
 * The disk is the image tests/guest/CMakeLists.txt writes at configure
 * time (QEMU: -drive ... -device virtio-blk-device with
 * virtio-mmio.force-legacy=false; disco: --disk).
 */
#include "rt.h"
#include "virtio.h"

static struct virtq_desc descs[VIRTQ_N] __attribute__((aligned(16)));
static struct virtq_avail avail __attribute__((aligned(4)));
static struct virtq_used used __attribute__((aligned(8)));
static struct virtio_blk_hdr hdr;
static uint8_t data[512] __attribute__((aligned(16)));
static volatile uint8_t status;
static uintptr_t base;
static uint16_t last_used;

static uint32_t rd(unsigned off) { return rt_mmio_r32(base + off); }
static void wr(unsigned off, uint32_t v) { rt_mmio_w32(base + off, v); }
static void wr64(unsigned off, uint64_t v) { wr(off, (uint32_t)v); wr(off + 4, (uint32_t)(v >> 32)); }

/* Returns the request's status byte, or -1 if the device never answered. */
static int request(uint32_t type, uint64_t sector, uint32_t *used_len)
{
	hdr.type = type;
	hdr.reserved = 0;
	hdr.sector = sector;
	status = 0xff;
	descs[0] = (struct virtq_desc){ (uintptr_t)&hdr, sizeof(hdr), 1, 1 };
	descs[1] = (struct virtq_desc){ (uintptr_t)data, 512, (uint16_t)(1 | (type == 0 ? 2 : 0)), 2 };
	descs[2] = (struct virtq_desc){ (uintptr_t)&status, 1, 2, 0 };
	avail.ring[avail.idx % VIRTQ_N] = 0;
	__asm__ volatile("fence rw, rw" ::: "memory");
	avail.idx = avail.idx + 1;
	__asm__ volatile("fence rw, rw" ::: "memory");
	wr(R_QUEUE_NOTIFY, 0);
	uint64_t t0 = rt_rdtime();
	while (*(volatile uint16_t *)&used.idx == last_used)
		if (rt_rdtime() - t0 > 5 * rt_timebase_hz())
			return -1;
	__asm__ volatile("fence rw, rw" ::: "memory");
	*used_len = used.ring[last_used % VIRTQ_N].len;
	last_used++;
	wr(R_INT_ACK, rd(R_INT_STATUS));
	return status;
}

static void expect_pattern(int code, uint64_t sector)
{
	char want[512];
	memset(want, '.', sizeof(want));
	int n = rt_snprintf(want, sizeof(want), "disco sector %06lu", (unsigned long)sector);
	want[n] = '.';
	want[511] = '\n';
	if (memcmp(data, want, 512)) {
		rt_printf("FAIL check %d: sector %lu reads \"%.24s\"\n", code, (unsigned long)sector, (const char *)data);
		rt_exit(code);
	}
}

int main(void)
{
	base = virtio_find(2, 0);
	CHECK(1, base);
	CHECK_EQ(2, rd(R_VERSION), 2);
	CHECK_EQ(3, rd(R_DEVICE_ID), 2);
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DEV_FEATURES_SEL, 1);
	CHECK(4, rd(R_DEV_FEATURES) & 1);
	wr(R_DRV_FEATURES_SEL, 0);
	wr(R_DRV_FEATURES, 0);
	wr(R_DRV_FEATURES_SEL, 1);
	wr(R_DRV_FEATURES, 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	CHECK(5, rd(R_STATUS) & S_FEATURES_OK);
	wr(R_QUEUE_SEL, 0);
	CHECK(6, rd(R_QUEUE_NUM_MAX) >= VIRTQ_N);
	wr(R_QUEUE_NUM, VIRTQ_N);
	wr64(R_QUEUE_DESC, (uintptr_t)descs);
	wr64(R_QUEUE_DRIVER, (uintptr_t)&avail);
	wr64(R_QUEUE_DEVICE, (uintptr_t)&used);
	wr(R_QUEUE_READY, 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	uint64_t capacity = rd(R_CONFIG) | (uint64_t)rd(R_CONFIG + 4) << 32;
	CHECK(7, capacity >= 64);
	rt_printf("  virtio-blk at 0x%lx, %lu sectors\n", (unsigned long)base, (unsigned long)capacity);

	uint32_t len;
	int st = request(0, 0, &len);
	CHECK_EQ(10, st, 0);
	CHECK(11, len >= 512);
	expect_pattern(12, 0);
	st = request(0, 5, &len);
	CHECK_EQ(13, st, 0);
	expect_pattern(14, 5);

	for (int i = 0; i < 512; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	st = request(1, 10, &len);
	CHECK_EQ(20, st, 0);
	memset(data, 0, sizeof(data));
	st = request(0, 10, &len);
	CHECK_EQ(21, st, 0);
	for (int i = 0; i < 512; i++)
		CHECK_EQ(22, data[i], (uint8_t)(i * 7 + 3));

	st = request(0, capacity + 10, &len);
	CHECK_EQ(23, st, 1);
	wr(R_STATUS, 0);
	rt_printf("virtio_blk: ok\n");
	return 0;
}
