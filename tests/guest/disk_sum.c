/*
 * disk_sum: reads its whole disk front to back, `chunk` KiB per virtio-blk
 * request (bootargs chunk=N, default 64; into a page-aligned buffer), and
 * prints the POSIX cksum of its contents (the CRC and length `cksum`
 * prints for the image file) and the time spent waiting for the reads:
 *     disk_sum: cksum CRC BYTES, T us, R KiB/s
 * so that a test can compare the guest's view of a disk with the file's,
 * and a measurement can compare disk paths (docs/disk.md, "Disks across
 * nodes").
 *  1-3  a virtio-blk device, FEATURES_OK, a queue;
 *  10   a read's status is not 0, or it never completes.
 */
#include "rt.h"
#include "virtio.h"

#define MAXCHUNK	(256 * 1024)

static struct virtq_desc descs[VIRTQ_N] __attribute__((aligned(16)));
static struct virtq_avail avail __attribute__((aligned(4)));
static struct virtq_used used __attribute__((aligned(8)));
static struct virtio_blk_hdr hdr;
static uint8_t buf[MAXCHUNK] __attribute__((aligned(4096)));
static volatile uint8_t status;
static uintptr_t base;
static uint32_t crc_table[256];

static uint32_t rd(unsigned off) { return rt_mmio_r32(base + off); }
static void wr(unsigned off, uint32_t v) { rt_mmio_w32(base + off, v); }

/* POSIX cksum: CRC-32, polynomial 0x04c11db7, most significant bit first. */
static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i << 24;

		for (int k = 0; k < 8; k++)
			c = c & 0x80000000u ? (c << 1) ^ 0x04c11db7u : c << 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_add(uint32_t crc, const uint8_t *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		crc = (crc << 8) ^ crc_table[(crc >> 24) ^ p[i]];
	return crc;
}

static void read_chunk(uint64_t sector, uint32_t len)
{
	static uint16_t idx;

	hdr = (struct virtio_blk_hdr){ 0, 0, sector };
	status = 0xff;
	descs[0] = (struct virtq_desc){ (uintptr_t)&hdr, sizeof(hdr), 1, 1 };
	descs[1] = (struct virtq_desc){ (uintptr_t)buf, len, 1 | 2, 2 };
	descs[2] = (struct virtq_desc){ (uintptr_t)&status, 1, 2, 0 };
	avail.ring[idx % VIRTQ_N] = 0;
	__asm__ volatile("fence rw, rw" ::: "memory");
	avail.idx = ++idx;
	__asm__ volatile("fence rw, rw" ::: "memory");
	wr(R_QUEUE_NOTIFY, 0);
	uint64_t t0 = rt_rdtime();
	while (*(volatile uint16_t *)&used.idx != idx)
		if (rt_rdtime() - t0 > 20 * rt_timebase_hz()) {
			rt_printf("FAIL check 10: the read of sector %lu never completed\n", (unsigned long)sector);
			rt_exit(10);
		}
	__asm__ volatile("fence rw, rw" ::: "memory");
	if (status != 0) {
		rt_printf("FAIL check 10: reading sector %lu: status %u\n", (unsigned long)sector, status);
		rt_exit(10);
	}
}

int main(void)
{
	long kib = rt_bootarg_long("chunk", 64);
	uint32_t chunk = (uint32_t)(kib < 1 ? 1 : kib > MAXCHUNK / 1024 ? MAXCHUNK / 1024 : kib) * 1024;
	uint32_t crc = 0;

	crc_init();
	base = virtio_find(2, 0);
	CHECK(1, base);
	int started = virtio_start_v1(base, VIRTQ_N, descs, &avail, &used);
	CHECK(2, started != 2);	/* features accepted */
	CHECK(3, started != 3);	/* queue large enough */
	uint64_t bytes = (rd(R_CONFIG) | (uint64_t)rd(R_CONFIG + 4) << 32) * 512;

	uint64_t ticks = 0;	/* in the reads only: the sum's own time is not the disk's */
	for (uint64_t off = 0; off < bytes; off += chunk) {
		uint32_t n = bytes - off < chunk ? (uint32_t)(bytes - off) : chunk;
		uint64_t t0 = rt_rdtime();

		read_chunk(off / 512, n);
		ticks += rt_rdtime() - t0;
		crc = crc_add(crc, buf, n);
	}
	uint64_t us = ticks * 1000000 / rt_timebase_hz();
	for (uint64_t n = bytes; n; n >>= 8) {
		uint8_t b = (uint8_t)n;

		crc = crc_add(crc, &b, 1);
	}
	wr(R_STATUS, 0);
	rt_printf("disk_sum: cksum %u %lu, %lu us, %lu KiB/s\n", ~crc, (unsigned long)bytes, (unsigned long)us,
		  (unsigned long)(us ? bytes * 1000000 / 1024 / us : 0));
	return 0;
}
