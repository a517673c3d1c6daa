/*
 * fft: a SPLASH-2 FFT-style parallel transform, made exact: a number-
 * theoretic transform (the DFT over the integers modulo the prime
 * p = 998244353 = 119 * 2^23 + 1, generator 3) of n = 2^logn points, by the
 * six-step method SPLASH-2's FFT uses. The points form an m x m matrix
 * (m = sqrt(n)); every hart owns a contiguous band of rows:
 *
 *   transpose -> m-point transforms of the rows -> twiddle w^(r*c) ->
 *   transpose -> m-point transforms of the rows -> transpose
 *
 * The row transforms touch only the hart's own rows (private); the three
 * transposes read every other hart's rows (all-to-all communication), with
 * a barrier after each step. The root tables are read-shared.
 *
 * Check: hart 0 recomputes the transform serially with an iterative
 * radix-2 NTT of length n; the results must be identical. The checksum is
 * a hash of the output. Phases are marked through disco's monitor calls
 * where available (fft_s, an S-mode build, reaches them under disco, and
 * there they must be present: the SBI's implementation id says disco).
 * Parameters: logn (even, default 16), harts (default all).
 * Exit: 0 pass, 1 result differs, 2 monitor calls misbehave.
 */
#include "workload.h"

#define P 998244353u
#define G 3u

static inline uint32_t mulm(uint32_t a, uint32_t b) { return (uint32_t)((uint64_t)a * b % P); }
static inline uint32_t addm(uint32_t a, uint32_t b) { uint32_t s = a + b; return s >= P ? s - P : s; }
static inline uint32_t subm(uint32_t a, uint32_t b) { return a >= b ? a - b : a + P - b; }

static uint32_t powm(uint32_t b, uint64_t e)
{
	uint32_t r = 1;
	while (e) {
		if (e & 1)
			r = mulm(r, b);
		b = mulm(b, b);
		e >>= 1;
	}
	return r;
}

/*
 * In-place iterative NTT of length len = 2^lg (bit-reversal, then
 * butterflies). roots[k] = w^k for the len-th root of unity w, k < len/2.
 */
static void ntt(uint32_t *a, unsigned lg, const uint32_t *roots)
{
	unsigned long len = 1UL << lg;
	for (unsigned long i = 1, j = 0; i < len; i++) {
		unsigned long bit = len >> 1;
		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			uint32_t t = a[i];
			a[i] = a[j];
			a[j] = t;
		}
	}
	for (unsigned long half = 1; half < len; half <<= 1) {
		unsigned long step = len / (2 * half);
		for (unsigned long i = 0; i < len; i += 2 * half)
			for (unsigned long k = 0; k < half; k++) {
				uint32_t u = a[i + k], v = mulm(a[i + k + half], roots[k * step]);
				a[i + k] = addm(u, v);
				a[i + k + half] = subm(u, v);
			}
	}
}

struct fft {
	unsigned logn, logm, harts;
	unsigned long n, m;
	uint32_t *x, *y;          /* the data, ping-ponged between transposes */
	uint32_t *roots_m;        /* m-th root powers, m/2 entries (read-shared) */
	uint32_t w_n;             /* the n-th root of unity */
	rt_barrier_t bar;
};

static void transpose(const uint32_t *src, uint32_t *dst, unsigned long m, unsigned long r0, unsigned long r1)
{
	/* dst rows r0..r1 (mine) gather column r of src: all-to-all reads */
	for (unsigned long r = r0; r < r1; r++)
		for (unsigned long c = 0; c < m; c++)
			dst[r * m + c] = src[c * m + r];
}

static void worker(void *arg)
{
	struct fft *f = arg;
	unsigned me = rt_hartid();
	unsigned long per = (f->m + f->harts - 1) / f->harts;
	unsigned long r0 = me * per, r1 = r0 + per;
	if (r0 > f->m)
		r0 = f->m;
	if (r1 > f->m)
		r1 = f->m;

	transpose(f->x, f->y, f->m, r0, r1);
	rt_barrier_wait(&f->bar);
	for (unsigned long r = r0; r < r1; r++) {
		uint32_t *row = f->y + r * f->m;
		ntt(row, f->logm, f->roots_m);
		uint32_t wr = powm(f->w_n, r), t = 1;   /* twiddle w_n^(r*c) */
		for (unsigned long c = 0; c < f->m; c++) {
			row[c] = mulm(row[c], t);
			t = mulm(t, wr);
		}
	}
	rt_barrier_wait(&f->bar);
	transpose(f->y, f->x, f->m, r0, r1);
	rt_barrier_wait(&f->bar);
	for (unsigned long r = r0; r < r1; r++)
		ntt(f->x + r * f->m, f->logm, f->roots_m);
	rt_barrier_wait(&f->bar);
	transpose(f->x, f->y, f->m, r0, r1);
}

static int monitor_calls(unsigned long phase)
{
	long r = rt_disco_mark_phase(phase);
	if (rt_disco_present())
		return r == 0;
	return r == RT_DISCO_ABSENT;
}

int main(void)
{
	struct fft f;
	int mon_ok = 1;
	mon_ok &= monitor_calls(RT_PHASE_INIT);
	f.logn = (unsigned)rt_bootarg_long("logn", 16);
	if (f.logn < 2 || f.logn > 22 || f.logn % 2)
		rt_panic("fft: logn must be even, 2..22 (got %u)\n", f.logn);
	f.logm = f.logn / 2;
	f.n = 1UL << f.logn;
	f.m = 1UL << f.logm;
	f.harts = workload_harts();
	f.x = rt_malloc(f.n * 4);
	f.y = rt_malloc(f.n * 4);
	uint32_t *ref = rt_malloc(f.n * 4);
	uint32_t *roots_n = rt_malloc(f.n / 2 * 4);
	f.roots_m = rt_malloc(f.m / 2 * 4 + 4);
	if (!f.x || !f.y || !ref || !roots_n || !f.roots_m)
		rt_panic("fft: out of memory (logn=%u)\n", f.logn);

	f.w_n = powm(G, (P - 1) >> f.logn);
	uint32_t w_m = powm(f.w_n, f.m), t = 1;
	for (unsigned long k = 0; k < f.n / 2; k++, t = mulm(t, f.w_n))
		roots_n[k] = t;
	t = 1;
	for (unsigned long k = 0; k < f.m / 2; k++, t = mulm(t, w_m))
		f.roots_m[k] = t;
	uint64_t s = 0x9E3779B97F4A7C15ULL;
	for (unsigned long i = 0; i < f.n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		f.x[i] = ref[i] = (uint32_t)(s % P);
	}
	rt_barrier_init(&f.bar, f.harts);

	struct rt_disco_stats st0 = { 0 }, st1 = { 0 };
	long sr0 = rt_disco_stats(&st0);
	mon_ok &= monitor_calls(RT_PHASE_COMPUTE);
	uint64_t t0 = rt_rdtime(), i0 = rt_rdinstret();
	rt_run_on_harts(f.harts, worker, &f);
	uint64_t ticks = rt_rdtime() - t0, instret = rt_rdinstret() - i0;
	mon_ok &= monitor_calls(RT_PHASE_CHECK);
	long sr1 = rt_disco_stats(&st1);

	ntt(ref, f.logn, roots_n);
	int ok = !memcmp(ref, f.y, f.n * 4);
	uint64_t ck = 0;
	for (unsigned long i = 0; i < f.n; i++)
		ck = ck * 1000003 + f.y[i];
	if (!ok)
		for (unsigned long i = 0; i < f.n; i++)
			if (ref[i] != f.y[i]) {
				rt_printf("fft: X[%lu] = %u, serial NTT says %u\n", i, f.y[i], ref[i]);
				break;
			}
	long impl = rt_sbi_impl_id();
	if (impl == RT_SBI_IMPL_DISCO && !rt_disco_present()) {
		rt_printf("fft: disco's SBI does not offer its DISCO extension\n");
		mon_ok = 0;
	}
	if (rt_disco_present()) {
		/* the VM's retired instructions must cover at least hart 0's */
		mon_ok &= sr0 == 0 && sr1 == 0 && st1.instret >= st0.instret + instret;
		rt_printf("fft: monitor calls present: phases marked, VM instret %lu over the parallel part\n",
			  (unsigned long)(st1.instret - st0.instret));
	} else {
		mon_ok &= sr0 == RT_DISCO_ABSENT && sr1 == RT_DISCO_ABSENT;
		rt_printf("fft: monitor calls absent (%s)\n",
#ifdef RT_SMODE
			  "the SBI has no DISCO extension"
#else
			  "M-mode program: no SBI"
#endif
		);
	}
	monitor_calls(RT_PHASE_DONE);
	int rc = workload_report("fft", f.harts, (long)f.n, 6, ticks, instret, ck, ok && mon_ok);
	if (!ok)
		return 1;
	if (!mon_ok)
		return 2;
	return rc;
}
