/*
 * mmio_smp: every hart reaches the board's devices (a VM spanning nodes
 * forwards MMIO from harts off its home node to the home).
 *  1     every hart writes a line to the UART (in turn, under a lock) and
 *        reads the UART's line status register back: THR empty;
 *  2     every hart reads its own PLIC claim register (nothing pending: 0)
 *        and writes and reads back a PLIC source priority (the last hart
 *        to write wins: the value read after the barrier is one of theirs);
 *  3     every hart reads the CLINT's mtime, which advances;
 *  4     the last hart, not the boot hart, powers the machine off through
 *        the test device with status 0 (so the run's exit proves that a
 *        hart off the home node reached it).
 */
#include "rt.h"

#define UART_LSR	((volatile uint8_t *)0x10000005)
#define PLIC_PRIO(s)	((volatile uint32_t *)(0x0c000000ul + 4ul * (s)))
#define PLIC_CLAIM(ctx)	((volatile uint32_t *)(0x0c200004ul + 0x1000ul * (ctx)))
#define CLINT_MTIME	((volatile uint64_t *)0x0200bff8)
#define TEST_DEV	((volatile uint32_t *)0x00100000)

static rt_spinlock_t lock = RT_SPINLOCK_INIT;
static rt_barrier_t bar;
static volatile uint64_t lsr_bad, claim_bad, time_bad, printed;

static void worker(void *arg)
{
	unsigned me = rt_hartid();
	(void)arg;

	rt_spin_lock(&lock);
	rt_printf("mmio_smp: hart %u reaches the UART\n", me);
	if (!(*UART_LSR & 0x20))
		lsr_bad++;
	printed++;
	rt_spin_unlock(&lock);

	if (*PLIC_CLAIM(2 * me) != 0)	/* the M-mode context of this hart: nothing pending */
		rt_fetch_add64(&claim_bad, 1);
	*PLIC_PRIO(5) = me + 1;

	uint64_t t0 = *CLINT_MTIME;
	rt_delay_ticks(100);
	if (*CLINT_MTIME <= t0)
		rt_fetch_add64(&time_bad, 1);
	rt_barrier_wait(&bar);
}

static void power_off(void *arg)
{
	(void)arg;
	if (rt_hartid() == rt_nharts() - 1) {
		rt_printf("mmio_smp: ok, hart %u powers off\n", rt_hartid());
		*TEST_DEV = 0x5555;	/* sifive,test0: pass */
	}
}

int main(void)
{
	unsigned n = rt_nharts();

	rt_printf("mmio_smp: %u harts\n", n);
	rt_barrier_init(&bar, n);
	rt_run_on_all(worker, NULL);
	CHECK_EQ(1, printed, n);
	CHECK_EQ(1, lsr_bad, 0);
	CHECK_EQ(2, claim_bad, 0);
	{
		uint32_t p = *PLIC_PRIO(5);
		CHECK_EQ(2, p >= 1 && p <= n, 1);
	}
	CHECK_EQ(3, time_bad, 0);
	if (n > 1) {
		/* the last hart powers off; the boot hart never does */
		rt_run_on_all(power_off, NULL);
		for (;;)
			__asm__ volatile("wfi");
	}
	rt_printf("mmio_smp: ok\n");
	return 0;
}
