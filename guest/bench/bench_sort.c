/*
 * bench_sort: quicksort (median of three, insertion sort for small runs)
 * and a bottom-up mergesort over the same PRNG array of 32-bit keys.
 * Self-check: both results are sorted, equal to each other, and the key
 * sum is unchanged. Checksum: CRC-32 of the sorted arrays of all rounds.
 */
#include "bench.h"

/* checksum for scale=1, recorded from QEMU 7.2 */
#define SORT_WANT 0xf55090aeULL

#define N      (64 * 1024)
#define ROUNDS 6

static void insertion(uint32_t *a, long lo, long hi)
{
	for (long i = lo + 1; i <= hi; i++) {
		uint32_t v = a[i];
		long j = i - 1;
		while (j >= lo && a[j] > v) {
			a[j + 1] = a[j];
			j--;
		}
		a[j + 1] = v;
	}
}

static inline void swap(uint32_t *a, long i, long j)
{
	uint32_t t = a[i];
	a[i] = a[j];
	a[j] = t;
}

static void quicksort(uint32_t *a, long lo, long hi)
{
	while (hi - lo > 16) {
		long mid = lo + (hi - lo) / 2;
		if (a[mid] < a[lo])
			swap(a, mid, lo);
		if (a[hi] < a[lo])
			swap(a, hi, lo);
		if (a[hi] < a[mid])
			swap(a, hi, mid);
		uint32_t pivot = a[mid];
		long i = lo, j = hi;
		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j)
				swap(a, i++, j--);
		}
		/* recurse into the smaller half: the stack stays O(log n) */
		if (j - lo < hi - i) {
			quicksort(a, lo, j);
			lo = i;
		} else {
			quicksort(a, i, hi);
			hi = j;
		}
	}
	insertion(a, lo, hi);
}

static void mergesort(uint32_t *a, uint32_t *tmp, long n)
{
	uint32_t *src = a, *dst = tmp;
	for (long w = 1; w < n; w *= 2) {
		for (long lo = 0; lo < n; lo += 2 * w) {
			long mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			long i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				dst[k++] = src[i] <= src[j] ? src[i++] : src[j++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		uint32_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(uint32_t));
}

int main(void)
{
	long scale = rt_bootarg_long("scale", 1);
	uint32_t *q = rt_malloc(N * 4), *m = rt_malloc(N * 4), *tmp = rt_malloc(N * 4);
	struct bench_rng rng = { 0x243F6A8885A308D3ULL };
	struct bench_run b;
	uint32_t crc = 0;
	int ok = 1;

	if (!q || !m || !tmp)
		rt_panic("bench_sort: out of memory\n");
	bench_start(&b, "sort");
	for (long r = 0; r < ROUNDS * scale; r++) {
		uint64_t sum = 0;
		for (long i = 0; i < N; i++) {
			/* a few duplicates and runs, as real keys have */
			uint64_t x = bench_next(&rng);
			q[i] = (x & 7) == 0 ? (uint32_t)(i / 64) : (uint32_t)(x >> 32);
			sum += q[i];
		}
		memcpy(m, q, N * 4);
		quicksort(q, 0, N - 1);
		mergesort(m, tmp, N);
		uint64_t sum2 = 0;
		for (long i = 0; i < N; i++) {
			sum2 += q[i];
			if ((i && q[i - 1] > q[i]) || q[i] != m[i])
				ok = 0;
		}
		if (sum2 != sum)
			ok = 0;
		crc = bench_crc32(crc, q, N * 4);
	}
	return bench_finish(&b, ROUNDS * scale, crc, ok, scale == 1 ? SORT_WANT : 0);
}
