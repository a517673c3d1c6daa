/*
 * wfi_sstc: the Sstc extension (stimecmp, CSR 0x14D).
 *  1-2   menvcfg.STCE (bit 63) is writable: Sstc is present;
 *  3-4   with STCE = 0, S-mode access to stimecmp is an illegal instruction;
 *  5-6   M can read and write stimecmp; with STCE = 1 mip.STIP follows
 *        stimecmp and ignores writes from M;
 *  10-16 in S (STI delegated, sie.STIE, sstatus.SIE = 0): after stimecmp is
 *        set in the future STIP is clear, WFI returns once time reaches it,
 *        STIP is set, then setting SIE takes the interrupt at S with
 *        scause = interrupt | 5; writing stimecmp to the future clears STIP.
 */
#include "rt.h"

#define STIP (1UL << IRQ_S_TIMER)
#define STCE (1UL << 63)
#define DELAY (rt_timebase_hz() / 200)

#define stimecmp_read() rt_csr_read(0x14d)
#define stimecmp_write(v) rt_csr_write(0x14d, v)

static volatile unsigned fired;
static volatile uint64_t fired_cause;

static int stimer_hook(struct rt_frame *f, int level)
{
	if (level != PRV_S || f->cause != (CAUSE_INTR | IRQ_S_TIMER))
		return 0;
	fired++;
	fired_cause = f->cause;
	stimecmp_write(~0UL);
	return 1;
}

static long s_read_stimecmp(long unused)
{
	return (long)stimecmp_read();
}

static long s_timer(long unused)
{
	uint64_t target = rt_rdtime() + DELAY;
	stimecmp_write(target);
	CHECK_EQ(10, stimecmp_read(), target);
	CHECK_EQ(11, rt_csr_read(sip) & STIP, 0);
	uint64_t t0 = rt_rdtime();
	unsigned n = 0;
	while (!(rt_csr_read(sip) & STIP)) {
		__asm__ volatile("wfi");
		n++;
		CHECK(12, rt_rdtime() - t0 < 10 * rt_timebase_hz());
	}
	CHECK(13, rt_rdtime() >= target);
	rt_printf("  S-mode WFI woke by stimecmp after %u WFI(s)\n", n);
	rt_csr_set(sstatus, MSTATUS_SIE);
	for (volatile int i = 0; i < 100 && !fired; i++)
		;
	rt_csr_clear(sstatus, MSTATUS_SIE);
	CHECK_EQ(14, fired, 1);
	CHECK_EQ(15, fired_cause, CAUSE_INTR | IRQ_S_TIMER);
	CHECK_EQ(16, rt_csr_read(sip) & STIP, 0);
	return 0;
}

int main(void)
{
	rt_csr_write(0x30a, STCE);
	if (!(rt_csr_read(0x30a) & STCE)) {
		rt_printf("FAIL check 1: menvcfg.STCE is not writable: no Sstc\n");
		return 1;
	}
	rt_csr_write(0x30a, 0);
	CHECK_EQ(2, rt_csr_read(0x30a) & STCE, 0);

	rt_csr_write(medeleg, 0);
	rt_catch_begin();
	rt_run_in_mode(PRV_S, s_read_stimecmp, 0);
	struct rt_caught t = rt_catch_end();
	CHECK_EQ(3, t.n, 1);
	CHECK_EQ(4, t.cause, EXC_ILLEGAL);

	rt_csr_write(0x30a, STCE);
	stimecmp_write(~0UL);
	CHECK_EQ(5, stimecmp_read(), ~0UL);
	rt_csr_set(mip, STIP);
	CHECK_EQ(6, rt_csr_read(mip) & STIP, 0);
	stimecmp_write(0);
	CHECK(6, rt_csr_read(mip) & STIP);
	stimecmp_write(~0UL);
	CHECK_EQ(6, rt_csr_read(mip) & STIP, 0);

	rt_set_trap_hook(PRV_S, stimer_hook);
	rt_csr_write(stvec, (uintptr_t)rt_strap_entry);
	rt_csr_write(mideleg, STIP);
	rt_csr_write(mie, STIP);
	rt_csr_clear(sstatus, MSTATUS_SIE);
	rt_run_in_mode(PRV_S, s_timer, 0);
	rt_csr_write(mie, 0);
	rt_csr_write(mideleg, 0);
	rt_printf("wfi_sstc: ok\n");
	return 0;
}
