/*
 * micro_chase: pointer chasing, the latency of dependent loads, over a
 * buffer that is local and over one that will be remote.
 *
 * A buffer of `kib` KiB holds one element every `stride` bytes; each
 * element's first doubleword points to the next element of one random
 * cycle through all of them (Sattolo's shuffle), so every load depends on
 * the one before and the prefetch-free walk touches a new element each
 * time. Two buffers are walked by hart 0:
 *   local   built (first touched) by hart 0 itself;
 *   remote  built by the peer hart (default the last one): when disco
 *           places the VM's harts on several nodes and pages where they are
 *           first touched, its pages are at home on another node.
 * One untimed lap warms up, then `laps` laps are timed.
 *
 * Check: the walk comes back to its start after exactly elems steps (one
 * cycle through every element), on both buffers.
 * Parameters: kib (256), stride (bytes, multiple of 8, default 128), laps
 * (32), peer (last hart). Exit: 1/2 local walk wrong, 3/4 remote walk wrong.
 */
#include "micro.h"

struct chase {
	size_t bytes, stride, elems;
	uint64_t *remote;
};

static void build(uint64_t *buf, size_t stride, size_t elems, uint64_t seed)
{
	size_t w = stride / 8;
	uint32_t *perm = rt_malloc(elems * sizeof(uint32_t));
	if (!perm)
		rt_panic("micro_chase: out of memory\n");
	for (size_t i = 0; i < elems; i++)
		perm[i] = (uint32_t)i;
	for (size_t i = elems - 1; i > 0; i--) {         /* Sattolo: one cycle */
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		size_t j = seed % i;
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	/* element i points to element perm[i] */
	for (size_t i = 0; i < elems; i++)
		buf[i * w] = (uint64_t)(uintptr_t)&buf[perm[i] * w];
	rt_free(perm);
}

static void build_remote(void *arg)
{
	struct chase *c = arg;
	if (rt_hartid() != micro_peer())
		return;
	c->remote = micro_alloc(c->bytes, 4096);
	build(c->remote, c->stride, c->elems, 0xD1B54A32D192ED03ULL);
}

/* Steps until the walk from p returns to p (at most limit). */
static size_t cycle_length(uint64_t *p, size_t limit)
{
	uint64_t *q = p;
	size_t n = 0;
	do {
		q = (uint64_t *)(uintptr_t)*q;
		n++;
	} while (q != p && n <= limit);
	return n;
}

static uint64_t *walk(uint64_t *p, size_t steps)
{
	while (steps >= 4) {
		p = (uint64_t *)(uintptr_t)*p;
		p = (uint64_t *)(uintptr_t)*p;
		p = (uint64_t *)(uintptr_t)*p;
		p = (uint64_t *)(uintptr_t)*p;
		steps -= 4;
	}
	while (steps--)
		p = (uint64_t *)(uintptr_t)*p;
	return p;
}

static uint64_t measure(const char *where, uint64_t *buf, struct chase *c, long laps, int check)
{
	CHECK_EQ(check, cycle_length(buf, c->elems), c->elems);      /* also the warm-up lap */
	size_t ops = (size_t)laps * c->elems;
	uint64_t t0 = rt_rdtime();
	uint64_t *end = walk(buf, ops);
	uint64_t ticks = rt_rdtime() - t0;
	CHECK(check + 1, end == buf);
	char ns[32];
	rt_printf("MICRO name=chase case=%s kib=%lu stride=%lu elems=%lu ops=%lu ticks=%lu ns_per_op=%s result=ok\n",
		  where, (unsigned long)(c->bytes / 1024), (unsigned long)c->stride, (unsigned long)c->elems,
		  (unsigned long)ops, (unsigned long)ticks, micro_ns(ns, sizeof(ns), ticks, ops));
	return ticks;
}

int main(void)
{
	struct chase c;
	c.bytes = (size_t)rt_bootarg_long("kib", 256) * 1024;
	c.stride = (size_t)rt_bootarg_long("stride", 128);
	long laps = rt_bootarg_long("laps", 32);
	if (c.stride < 8 || c.stride % 8 || c.bytes < 2 * c.stride || laps < 1)
		rt_panic("micro_chase: bad parameters (kib=%lu stride=%lu laps=%ld)\n",
			  (unsigned long)(c.bytes / 1024), (unsigned long)c.stride, laps);
	c.elems = c.bytes / c.stride;
	if (c.elems > 0xffffffffUL)
		rt_panic("micro_chase: too many elements\n");

	uint64_t *local = micro_alloc(c.bytes, 4096);
	build(local, c.stride, c.elems, 0x9E3779B97F4A7C15ULL);
	uint64_t tl = measure("local", local, &c, laps, 1);
	if (rt_nharts() < 2) {
		rt_printf("micro_chase: one hart, no remote buffer\n");
		return 0;
	}
	rt_run_on_all(build_remote, &c);
	uint64_t tr = measure("remote", c.remote, &c, laps, 3);
	rt_printf("micro_chase: remote/local = %lu%% (peer hart %u built the remote buffer)\n",
		  (unsigned long)(tl ? tr * 100 / tl : 0), micro_peer());
	return 0;
}
