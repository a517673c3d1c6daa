/*
 * smode_hello: the S-mode runtime's smoke test. Entered by an SBI at
 * 0x80200000; prints through the SBI console, starts the other harts with
 * SBI HSM, runs a function on all of them and powers off with SBI SRST.
 */
#include "rt.h"

static volatile uint64_t ran_mask;

static void mark(void *arg)
{
	(void)arg;
	rt_fetch_add64(&ran_mask, 1UL << rt_hartid());
}

int main(void)
{
	unsigned n = rt_nharts();
	rt_printf("S-mode hello: boot hart %u, %u harts\n", rt_boot_hart(), n);
	rt_run_on_all(mark, NULL);
	CHECK_EQ(1, ran_mask, (n >= 64 ? ~0UL : (1UL << n) - 1));
	/* S mode sees the counters (the SBI opened mcounteren) */
	uint64_t t0 = rt_rdtime();
	rt_delay_ticks(1000);
	CHECK(2, rt_rdtime() > t0);
	return 0;
}
