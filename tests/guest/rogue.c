/*
 * rogue: a guest that does what a guest should not, on every hart at once,
 * and checks that it harmed no one but itself. Run beside other VMs it
 * shows that they keep their memory and the node keeps running
 * (tests/mpi/span_isolation.sh); alone (disco or QEMU) it checks the
 * answers it gets. Every hart, ROUNDS times:
 *  1     fills a private buffer of its own RAM with a pseudo-random pattern
 *        and reads it back after the rest of the round: nothing else wrote it;
 *  2-4   loads, stores, AMOs and LR at pseudo-random physical addresses in
 *        the 256 MiB after RAM: each raises an access fault (load faults
 *        for loads and LR, store/AMO faults for stores and AMOs; QEMU 7.2
 *        says load for an AMO) with tval = the address;
 *  5     jumps to such an address: an instruction access fault;
 *  6     executes an all-zero parcel: an illegal-instruction exception;
 *  7     writes pseudo-random values into the PLIC (priorities, its own
 *        enables and threshold, claims and completions of made-up sources),
 *        then puts it back (nothing pending is enabled);
 *  8     on the boot hart, when slot 0 holds a virtio device: sets it up
 *        with its rings outside RAM and notifies it, then with a ring in
 *        RAM whose descriptor points outside RAM; after each a reset (status
 *        0) brings the device back to status 0.
 * "rogue: ok" and exit 0 when every answer was right.
 */
#include "rt.h"
#include "virtio.h"

#define ROUNDS	24
#define PROBES	64
#define OWN	4096		/* doublewords per hart: 32 KiB */
#define HARTS	8

static uint64_t own[HARTS][OWN] __attribute__((aligned(4096)));
static volatile uint64_t wrong[16];
static rt_barrier_t bar;

static uint64_t next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* one access that must fault: kind 0 load, 1 store, 2 AMO, 3 LR */
static void probe(unsigned kind, uint64_t a)
{
	struct rt_caught t;
	uint64_t v = 0;

	rt_catch_begin();
	switch (kind) {
	case 0:
		v = *(volatile uint64_t *)a;
		break;
	case 1:
		*(volatile uint64_t *)a = a;
		break;
	case 2:
		__asm__ volatile("amoswap.d %0, %2, (%1)" : "=r"(v) : "r"(a), "r"(a) : "memory");
		break;
	default:
		__asm__ volatile("lr.d %0, (%1)" : "=r"(v) : "r"(a) : "memory");
		break;
	}
	t = rt_catch_end();
	(void)v;
	if (t.n != 1 || t.tval != a) {
		wrong[2]++;
		return;
	}
	if (kind == 0 || kind == 3) {
		if (t.cause != EXC_LOAD_ACCESS)
			wrong[3]++;
	} else if (t.cause != EXC_STORE_ACCESS && !(kind == 2 && t.cause == EXC_LOAD_ACCESS)) {
		wrong[4]++;
	}
}

static volatile int fetch_faults;
static volatile uint64_t fetch_tval[HARTS];

static int fetch_hook(struct rt_frame *f, int level)
{
	(void)level;
	if (f->cause != EXC_INST_ACCESS)
		return 0;
	__atomic_fetch_add(&fetch_faults, 1, __ATOMIC_RELAXED);
	fetch_tval[rt_hartid() % HARTS] = f->tval;
	f->epc = f->x[1];	/* back to the caller */
	return 1;
}

#define PLIC		0x0c000000UL
#define PLIC_ENABLE(ctx)	(PLIC + 0x2000 + 0x80 * (ctx))
#define PLIC_CTX(ctx)		(PLIC + 0x200000 + 0x1000 * (ctx))

static void plic_abuse(uint64_t *s)
{
	unsigned ctx = 2 * rt_hartid();	/* this hart's M context */

	for (unsigned k = 0; k < 16; k++) {
		unsigned src = 1 + (unsigned)(next(s) % 31);
		rt_mmio_w32(PLIC + 4 * src, (uint32_t)next(s));
		rt_mmio_w32(PLIC_ENABLE(ctx), (uint32_t)next(s));
		rt_mmio_w32(PLIC_CTX(ctx), (uint32_t)next(s));	/* threshold */
		(void)rt_mmio_r32(PLIC_CTX(ctx) + 4);		/* claim */
		rt_mmio_w32(PLIC_CTX(ctx) + 4, (uint32_t)next(s));	/* complete of anything */
	}
	rt_mmio_w32(PLIC_ENABLE(ctx), 0);
	rt_mmio_w32(PLIC_CTX(ctx), 0);
}

static uint8_t ring[3][4096] __attribute__((aligned(4096)));

static void virtio_abuse(uint64_t hole)
{
	uintptr_t b = VIRTIO_BASE;
	struct virtq_desc *d = (struct virtq_desc *)ring[0];

	if (rt_mmio_r32(b + R_MAGIC) != VIRTIO_MAGIC || rt_mmio_r32(b + R_VERSION) != 2 ||
	    !rt_mmio_r32(b + R_DEVICE_ID))
		return;
	for (int round = 0; round < 2; round++) {
		uint64_t desc = round ? (uint64_t)(uintptr_t)ring[0] : hole;
		uint64_t drv = round ? (uint64_t)(uintptr_t)ring[1] : hole + 0x1000;
		uint64_t dev = round ? (uint64_t)(uintptr_t)ring[2] : hole + 0x2000;

		rt_mmio_w32(b + R_STATUS, 0);
		rt_mmio_w32(b + R_STATUS, S_ACK | S_DRIVER);
		rt_mmio_w32(b + R_DRV_FEATURES_SEL, 1);
		rt_mmio_w32(b + R_DRV_FEATURES, 1);	/* VIRTIO_F_VERSION_1 */
		rt_mmio_w32(b + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
		rt_mmio_w32(b + R_QUEUE_SEL, 0);
		rt_mmio_w32(b + R_QUEUE_NUM, 8);
		rt_mmio_w32(b + R_QUEUE_DESC, (uint32_t)desc);
		rt_mmio_w32(b + R_QUEUE_DESC + 4, (uint32_t)(desc >> 32));
		rt_mmio_w32(b + R_QUEUE_DRIVER, (uint32_t)drv);
		rt_mmio_w32(b + R_QUEUE_DRIVER + 4, (uint32_t)(drv >> 32));
		rt_mmio_w32(b + R_QUEUE_DEVICE, (uint32_t)dev);
		rt_mmio_w32(b + R_QUEUE_DEVICE + 4, (uint32_t)(dev >> 32));
		if (round) {
			/* one request of 3 descriptors, every buffer outside RAM */
			for (unsigned i = 0; i < 3; i++) {
				d[i].addr = hole + 0x10000 * (i + 1);
				d[i].len = i == 1 ? 512 : 16;
				d[i].flags = (uint16_t)((i < 2 ? 1 : 0) | (i ? 2 : 0));	/* NEXT, WRITE */
				d[i].next = (uint16_t)(i + 1);
			}
			volatile uint16_t *avail = (volatile uint16_t *)ring[1];
			avail[0] = 0;
			avail[2] = 0;
			__asm__ volatile("fence w, w" ::: "memory");
			avail[1] = 1;
		}
		rt_mmio_w32(b + R_QUEUE_READY, 1);
		rt_mmio_w32(b + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
		rt_mmio_w32(b + R_QUEUE_NOTIFY, 0);
		for (int spin = 0; spin < 1000; spin++)
			(void)rt_mmio_r32(b + R_STATUS);
		rt_mmio_w32(b + R_STATUS, 0);	/* reset: the device must come back */
		if (rt_mmio_r32(b + R_STATUS) != 0)
			wrong[8]++;
	}
	rt_printf("rogue: virtio device %u abused and reset\n", rt_mmio_r32(b + R_DEVICE_ID));
}

static void worker(void *arg)
{
	unsigned me = rt_hartid();
	uint64_t hole = rt_ram_base() + rt_ram_size(), s = 0x9e3779b97f4a7c15ull * (me + 1);
	(void)arg;

	for (unsigned r = 0; r < ROUNDS; r++) {
		uint64_t seed = s, *buf = own[me % HARTS];
		int mine = me < HARTS;

		for (unsigned i = 0; mine && i < OWN; i++)
			buf[i] = next(&s);
		for (unsigned k = 0; k < PROBES; k++)
			probe(k & 3, hole + ((next(&s) % (256u << 20)) & ~7ull));
		uint64_t a = hole + ((next(&s) % (256u << 20)) & ~3ull);
		((void (*)(void))a)();
		if (fetch_tval[me % HARTS] != a)
			wrong[5]++;
		rt_catch_begin();
		__asm__ volatile(".2byte 0" ::: "memory");	/* c.unimp */
		struct rt_caught t = rt_catch_end();
		if (t.n != 1 || t.cause != EXC_ILLEGAL)
			wrong[6]++;
		plic_abuse(&s);
		for (unsigned i = 0; mine && i < OWN; i++)
			if (buf[i] != next(&seed))
				wrong[1]++;
		rt_barrier_wait(&bar);
	}
}

int main(void)
{
	unsigned n = rt_nharts();

	rt_printf("rogue: %u harts, %u rounds\n", n, ROUNDS);
	rt_barrier_init(&bar, n);
	rt_set_trap_hook(PRV_M, fetch_hook);
	rt_run_on_all(worker, NULL);
	rt_set_trap_hook(PRV_M, NULL);
	virtio_abuse(rt_ram_base() + rt_ram_size());
	CHECK_EQ(5, fetch_faults, (int)(n * ROUNDS));
	for (unsigned k = 1; k < 16; k++)
		CHECK_EQ(k, wrong[k], 0);
	rt_printf("rogue: ok\n");
	return 0;
}
