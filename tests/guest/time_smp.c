/*
 * time_smp: one clock for the whole VM (DESIGN: `time` reads the same on
 * every node that runs the VM's harts). With 4 harts:
 *  1     causality: hart 0 reads time, hands the value to hart k through
 *        memory; hart k's next read is not smaller; and back again
 *        (30 round trips per hart);
 *  3     on every hart the time CSR and the CLINT's mtime agree within 1 ms;
 *  4     time advances on every hart.
 */
#include "rt.h"

#define ROUNDS 30

static volatile uint64_t ball[RT_MAX_HARTS], seq[RT_MAX_HARTS], back_seq[RT_MAX_HARTS];
static volatile uint64_t errors, skew_errors, stuck;
static volatile unsigned partner;

static void pingpong(void *arg)
{
	unsigned me = rt_hartid(), k = partner;
	if (me != 0 && me != k)
		return;
	for (uint64_t r = 1; r <= ROUNDS; r++) {
		if (me == 0) {
			ball[k] = rt_rdtime();
			__asm__ volatile("fence w, w" ::: "memory");
			seq[k] = r;
			while (back_seq[k] != r)
				;
			__asm__ volatile("fence r, r" ::: "memory");
			if (rt_rdtime() < ball[k])
				rt_fetch_add64(&errors, 1);
		} else {
			while (seq[k] != r)
				;
			__asm__ volatile("fence r, r" ::: "memory");
			uint64_t t = rt_rdtime();
			if (t < ball[k])
				rt_fetch_add64(&errors, 1);
			ball[k] = t;
			__asm__ volatile("fence w, w" ::: "memory");
			back_seq[k] = r;
		}
	}
}

static void local_checks(void *arg)
{
	uint64_t t0 = rt_rdtime();
	uint64_t m = rt_mmio_r64(RT_CLINT_MTIME);
	uint64_t t1 = rt_rdtime();
	uint64_t ms = rt_timebase_hz() / 1000;
	if (m + ms < t0 || m > t1 + ms)
		rt_fetch_add64(&skew_errors, 1);
	rt_delay_ticks(100);
	if (rt_rdtime() <= t1)
		rt_fetch_add64(&stuck, 1);
}

int main(void)
{
	unsigned n = rt_nharts();
	for (unsigned k = 1; k < n; k++) {
		partner = k;
		rt_run_on_all(pingpong, NULL);
	}
	CHECK_EQ(1, errors, 0);
	rt_run_on_all(local_checks, NULL);
	CHECK_EQ(3, skew_errors, 0);
	CHECK_EQ(4, stuck, 0);
	rt_printf("time_smp: %u harts, %u round trips each: ok\n", n, ROUNDS);
	return 0;
}
