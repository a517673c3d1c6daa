/*
 * disk_share: reads the first 8 blocks (32 KiB) of its disk with one
 * virtio-blk request into a page-aligned buffer, so that each 4 KiB block
 * fills one whole guest page: the case the global disk cache shares between
 * VMs (docs/disk.md). Checks every sector's pattern ("disco sector NNNNNN"
 * padded with '.', as tests/guest/CMakeLists.txt writes the image) but
 * sector 10, which guest/virtio_blk writes, on every hart (a VM on several
 * nodes reads the shared pages from each); with bootargs "write=1" its last
 * hart then stores into block 3 (breaking the sharing for this VM alone)
 * and every hart checks that block 3 holds the store and block 2 is still
 * the disk's. With "delay_ms=N" it reads only after N ms.
 *  1-3  a virtio-blk device, FEATURES_OK, a queue;
 *  10   the read's status is 0;
 *  11   a sector does not hold its pattern;
 *  20   the store is not there, or a neighbouring block changed.
 */
#include "rt.h"
#include "virtio.h"

static struct virtq_desc descs[VIRTQ_N] __attribute__((aligned(16)));
static struct virtq_avail avail __attribute__((aligned(4)));
static struct virtq_used used __attribute__((aligned(8)));
static struct virtio_blk_hdr hdr;
static uint8_t blocks[8][4096] __attribute__((aligned(4096)));
static volatile uint8_t status;
static uintptr_t base;

static void wr(unsigned off, uint32_t v) { rt_mmio_w32(base + off, v); }

static void check_sector(int code, unsigned s)
{
	char want[512];
	const uint8_t *got = &blocks[s / 8][(s % 8) * 512];

	memset(want, '.', sizeof(want));
	int n = rt_snprintf(want, sizeof(want), "disco sector %06u", s);
	want[n] = '.';
	want[511] = '\n';
	if (memcmp(got, want, 512)) {
		rt_printf("FAIL check %d: sector %u reads \"%.24s\"\n", code, s, (const char *)got);
		rt_exit(code);
	}
}

static void check_all(void *arg)
{
	(void)arg;
	for (unsigned s = 0; s < 64; s++)
		if (s != 10)	/* the sector guest/virtio_blk writes in place on the shared test image */
			check_sector(11, s);
}

static void store(void *arg)
{
	(void)arg;
	if (rt_hartid() == rt_nharts() - 1)
		blocks[3][0] = 'X';
	__asm__ volatile("fence rw, rw" ::: "memory");
}

static void check_store(void *arg)
{
	(void)arg;
	CHECK_EQ(20, *(volatile uint8_t *)&blocks[3][0], 'X');
	check_sector(20, 2 * 8);
	check_sector(20, 3 * 8 + 1);
}

int main(void)
{
	/* bootargs delay_ms=N: read only after N ms (after another VM read the blocks) */
	uint64_t t_delay = rt_rdtime(), d = (uint64_t)rt_bootarg_long("delay_ms", 0) * rt_timebase_hz() / 1000;
	while (rt_rdtime() - t_delay < d)
		;
	base = virtio_find(2, 0);
	CHECK(1, base);
	int started = virtio_start_v1(base, VIRTQ_N, descs, &avail, &used);
	CHECK(2, started != 2);	/* features accepted */
	CHECK(3, started != 3);	/* queue large enough */

	hdr = (struct virtio_blk_hdr){ 0, 0, 0 };
	status = 0xff;
	descs[0] = (struct virtq_desc){ (uintptr_t)&hdr, sizeof(hdr), 1, 1 };
	descs[1] = (struct virtq_desc){ (uintptr_t)blocks, sizeof(blocks), 1 | 2, 2 };
	descs[2] = (struct virtq_desc){ (uintptr_t)&status, 1, 2, 0 };
	avail.ring[0] = 0;
	__asm__ volatile("fence rw, rw" ::: "memory");
	avail.idx = 1;
	__asm__ volatile("fence rw, rw" ::: "memory");
	wr(R_QUEUE_NOTIFY, 0);
	uint64_t t0 = rt_rdtime();
	while (*(volatile uint16_t *)&used.idx == 0)
		if (rt_rdtime() - t0 > 10 * rt_timebase_hz())
			rt_exit(10);
	__asm__ volatile("fence rw, rw" ::: "memory");
	CHECK_EQ(10, status, 0);
	rt_run_on_all(check_all, NULL);

	if (rt_bootarg_long("write", 0)) {
		rt_run_on_all(store, NULL);
		rt_run_on_all(check_store, NULL);
	}
	wr(R_STATUS, 0);
	rt_printf("disk_share: ok\n");
	return 0;
}
