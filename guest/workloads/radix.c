/*
 * radix: a parallel LSD radix sort (SPLASH-2 RADIX style) of n 32-bit keys,
 * 8 bits per pass. In each pass every hart histograms its slice of the
 * keys, a barrier, every hart computes from all histograms where its keys
 * of each digit go (the global prefix sum, read-shared), a barrier, every
 * hart scatters its slice (all-to-all writes), a barrier, then the arrays
 * swap. Check: the output is sorted and has the same key sum and xor as
 * the input. Parameters: n (default 65536), harts (default all).
 */
#include "workload.h"

#define RADIX 256
#define PASSES 4

struct radix {
	long n;
	unsigned harts;
	uint32_t *src, *dst;
	uint32_t (*hist)[RADIX];      /* per hart */
	rt_barrier_t bar;
};

static void worker(void *arg)
{
	struct radix *r = arg;
	unsigned me = rt_hartid();
	long per = (r->n + r->harts - 1) / r->harts;
	long lo = me * per, hi = lo + per < r->n ? lo + per : r->n;
	uint32_t *src = r->src, *dst = r->dst;
	uint32_t offset[RADIX];

	if (lo > hi)
		lo = hi;
	for (int pass = 0; pass < PASSES; pass++) {
		unsigned shift = pass * 8;
		uint32_t *h = r->hist[me];
		for (int d = 0; d < RADIX; d++)
			h[d] = 0;
		for (long i = lo; i < hi; i++)
			h[(src[i] >> shift) & 0xff]++;
		rt_barrier_wait(&r->bar);
		/* my start for digit d = keys with smaller digits + same digit on lower harts */
		uint32_t total = 0;
		for (int d = 0; d < RADIX; d++) {
			uint32_t before = 0;
			for (unsigned k = 0; k < r->harts; k++) {
				if (k == me)
					before = total;
				total += r->hist[k][d];
			}
			offset[d] = before;
		}
		for (long i = lo; i < hi; i++)
			dst[offset[(src[i] >> shift) & 0xff]++] = src[i];
		rt_barrier_wait(&r->bar);
		uint32_t *t = src;
		src = dst;
		dst = t;
	}
}

int main(void)
{
	struct radix r;
	r.n = rt_bootarg_long("n", 65536);
	r.harts = workload_harts();
	r.src = rt_malloc(r.n * sizeof(uint32_t));
	r.dst = rt_malloc(r.n * sizeof(uint32_t));
	r.hist = rt_malloc(r.harts * sizeof(*r.hist));
	if (r.n < 1 || !r.src || !r.dst || !r.hist)
		rt_panic("radix: bad parameters or out of memory (n=%ld)\n", r.n);

	uint64_t x = 0x2545F4914F6CDD1DULL, sum = 0, xr = 0;
	for (long i = 0; i < r.n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		r.src[i] = (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
		sum += r.src[i];
		xr ^= r.src[i];
	}
	rt_barrier_init(&r.bar, r.harts);
	uint64_t t0 = rt_rdtime(), i0 = rt_rdinstret();
	rt_run_on_harts(r.harts, worker, &r);
	uint64_t ticks = rt_rdtime() - t0, instret = rt_rdinstret() - i0;

	/* PASSES is even: the result is back in src */
	const uint32_t *out = r.src;
	uint64_t sum2 = 0, xr2 = 0, ck = 0;
	int ok = 1;
	for (long i = 0; i < r.n; i++) {
		if (i && out[i - 1] > out[i])
			ok = 0;
		sum2 += out[i];
		xr2 ^= out[i];
		ck = ck * 31 + out[i];
	}
	ok = ok && sum == sum2 && xr == xr2;
	return workload_report("radix", r.harts, r.n, PASSES, ticks, instret, ck, ok);
}
