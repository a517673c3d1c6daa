/*
 * smp_atomics: atomics between harts (--smp 4).
 *  1     every hart has a distinct mhartid equal to the a0 it booted with;
 *  2-3   AMOADD.W / AMOADD.D from all harts lose no update;
 *  4     LR/SC increment loops from all harts lose no update;
 *  5     AMOMAX/AMOMINU from all harts leave the extremes;
 *  6     AMOSWAP-based mutual exclusion protects a plain counter;
 *  7     message passing: data written before a flag (with FENCE) is seen
 *        by a hart that saw the flag;
 *  8     AMOOR of one bit per hart sets them all.
 */
#include "rt.h"

#define ITERS 2000

static volatile uint32_t w_count;
static volatile uint64_t d_count, lrsc_count, plain_count, max_v, minu_v = ~0UL, bits;
static volatile uint64_t ids[RT_MAX_HARTS];
static rt_spinlock_t lock = RT_SPINLOCK_INIT;
static rt_barrier_t bar;
static volatile uint64_t mp_data[8], mp_flag, mp_errors;

static void worker(void *arg)
{
	unsigned me = rt_hartid();
	uint64_t r;
	ids[me] = rt_csr_read(mhartid) + 1;
	for (int i = 0; i < ITERS; i++) {
		__asm__ volatile("amoadd.w zero, %1, %0" : "+A"(w_count) : "r"(1) : "memory");
		__asm__ volatile("amoadd.d zero, %1, %0" : "+A"(d_count) : "r"(1UL) : "memory");
		uint64_t v, fail;
		do {
			__asm__ volatile("lr.d %0, %1" : "=r"(v) : "A"(lrsc_count) : "memory");
			__asm__ volatile("sc.d %0, %2, %1" : "=r"(fail), "+A"(lrsc_count) : "r"(v + 1) : "memory");
		} while (fail);
		rt_spin_lock(&lock);
		plain_count = plain_count + 1;
		rt_spin_unlock(&lock);
		uint64_t mine = (uint64_t)me * 1000003 + i;
		__asm__ volatile("amomax.d %0, %2, %1" : "=r"(r), "+A"(max_v) : "r"(mine) : "memory");
		__asm__ volatile("amominu.d %0, %2, %1" : "=r"(r), "+A"(minu_v) : "r"(mine + 7) : "memory");
	}
	__asm__ volatile("amoor.d zero, %1, %0" : "+A"(bits) : "r"(1UL << me) : "memory");

	/* message passing, 50 rounds, hart 0 produces */
	for (uint64_t round = 1; round <= 50; round++) {
		if (me == 0) {
			for (int k = 0; k < 8; k++)
				mp_data[k] = round * 8 + k;
			__asm__ volatile("fence w, w" ::: "memory");
			mp_flag = round;
		} else {
			while (mp_flag < round)
				;
			__asm__ volatile("fence r, r" ::: "memory");
			for (int k = 0; k < 8; k++)
				if (mp_data[k] != round * 8 + k)
					rt_fetch_add64(&mp_errors, 1);
		}
		rt_barrier_wait(&bar);
	}
}

int main(void)
{
	unsigned n = rt_nharts();
	rt_printf("smp_atomics: %u harts\n", n);
	rt_barrier_init(&bar, n);
	rt_run_on_all(worker, NULL);
	for (unsigned h = 0; h < n; h++)
		CHECK_EQ(1, ids[h], h + 1);
	CHECK_EQ(2, w_count, n * ITERS);
	CHECK_EQ(3, d_count, (uint64_t)n * ITERS);
	CHECK_EQ(4, lrsc_count, (uint64_t)n * ITERS);
	CHECK_EQ(5, max_v, (uint64_t)(n - 1) * 1000003 + ITERS - 1);
	CHECK_EQ(5, minu_v, 7);
	CHECK_EQ(6, plain_count, (uint64_t)n * ITERS);
	CHECK_EQ(7, mp_errors, 0);
	CHECK_EQ(8, bits, n >= 64 ? ~0UL : (1UL << n) - 1);
	if (n < 2)
		rt_printf("note: only one hart, nothing was contended\n");
	rt_printf("smp_atomics: ok\n");
	return 0;
}
