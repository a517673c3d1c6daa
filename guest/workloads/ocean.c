/*
 * ocean: an Ocean-like (SPLASH-2) grid relaxation. An (n+2) x (n+2) grid of
 * fixed-point values with a fixed boundary is relaxed for `steps` Jacobi
 * steps: each interior point becomes (4 c + n + s + w + e) / 8. The rows
 * are split into contiguous bands, one per hart; every hart relaxes its band
 * and all meet at a barrier before the grids are swapped, so the only
 * sharing is the band edges (nearest-neighbour communication, as in Ocean).
 *
 * Check: hart 0 recomputes the same steps serially and the grids must be
 * identical (integer arithmetic, so bit-exact). Parameters: n (default
 * 128), steps (default 20), harts (default all).
 */
#include "workload.h"

struct ocean {
	long n, steps;
	unsigned harts;
	int32_t *a, *b;
	rt_barrier_t bar;
};

#define AT(g, n, i, j) ((g)[(long)(i) * ((n) + 2) + (j)])

static void init(int32_t *g, long n)
{
	uint64_t x = 0x853c49e6748fea9bULL;
	for (long i = 0; i < n + 2; i++)
		for (long j = 0; j < n + 2; j++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			int boundary = i == 0 || j == 0 || i == n + 1 || j == n + 1;
			AT(g, n, i, j) = boundary ? (int32_t)((i * 131 + j * 17) << 8) : (int32_t)((x >> 40) & 0xffff);
		}
}

static void relax(const int32_t *src, int32_t *dst, long n, long row0, long row1)
{
	for (long i = row0; i < row1; i++)
		for (long j = 1; j <= n; j++)
			AT(dst, n, i, j) = (4 * AT(src, n, i, j) + AT(src, n, i - 1, j) + AT(src, n, i + 1, j) +
					    AT(src, n, i, j - 1) + AT(src, n, i, j + 1)) / 8;
}

static void worker(void *arg)
{
	struct ocean *o = arg;
	unsigned me = rt_hartid();
	long rows = o->n, per = (rows + o->harts - 1) / o->harts;
	long r0 = 1 + me * per, r1 = r0 + per;
	if (r1 > rows + 1)
		r1 = rows + 1;
	int32_t *src = o->a, *dst = o->b;
	for (long s = 0; s < o->steps; s++) {
		if (r0 < r1)
			relax(src, dst, o->n, r0, r1);
		rt_barrier_wait(&o->bar);
		int32_t *t = src;
		src = dst;
		dst = t;
	}
}

int main(void)
{
	struct ocean o;
	o.n = rt_bootarg_long("n", 128);
	o.steps = rt_bootarg_long("steps", 20);
	o.harts = workload_harts();
	size_t bytes = (size_t)(o.n + 2) * (o.n + 2) * sizeof(int32_t);
	o.a = rt_malloc(bytes);
	o.b = rt_malloc(bytes);
	int32_t *ra = rt_malloc(bytes), *rb = rt_malloc(bytes);
	if (o.n < 1 || o.steps < 0 || !o.a || !o.b || !ra || !rb)
		rt_panic("ocean: bad parameters or out of memory (n=%ld steps=%ld)\n", o.n, o.steps);
	init(o.a, o.n);
	memcpy(o.b, o.a, bytes);   /* boundaries in both grids */
	memcpy(ra, o.a, bytes);
	memcpy(rb, o.a, bytes);
	rt_barrier_init(&o.bar, o.harts);

	uint64_t t0 = rt_rdtime(), i0 = rt_rdinstret();
	rt_run_on_harts(o.harts, worker, &o);
	uint64_t ticks = rt_rdtime() - t0, instret = rt_rdinstret() - i0;
	int32_t *result = o.steps % 2 ? o.b : o.a;

	/* serial reference */
	int32_t *src = ra, *dst = rb;
	for (long s = 0; s < o.steps; s++) {
		relax(src, dst, o.n, 1, o.n + 1);
		int32_t *t = src;
		src = dst;
		dst = t;
	}
	int ok = !memcmp(result, src, bytes);
	uint64_t sum = 0;
	for (long k = 0; k < (o.n + 2) * (o.n + 2); k++)
		sum = sum * 31 + (uint32_t)result[k];
	return workload_report("ocean", o.harts, o.n, o.steps, ticks, instret, sum, ok);
}
