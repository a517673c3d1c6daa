/*
 * access_fault: physical addresses with nothing behind them raise access
 * faults, with xtval = the address.
 *  1-4   a load from the first byte after RAM: cause 5 (load access fault);
 *  5-8   a store there: cause 7 (store/AMO access fault);
 *  9-12  an AMO there: cause 7 (QEMU 7.2 says 5, accepted with a note);
 *  13-16 a jump there: cause 1 (instruction access fault), mepc = mtval =
 *        the address;
 *  17    the same from S mode (bare translation) for a load: cause 5.
 */
#include "rt.h"

static volatile int fetch_faults;
static volatile uint64_t fetch_tval, fetch_epc, fetch_cause;

static int fetch_hook(struct rt_frame *f, int level)
{
	if (f->cause != EXC_INST_ACCESS)
		return 0;
	fetch_faults++;
	fetch_tval = f->tval;
	fetch_epc = f->epc;
	fetch_cause = f->cause;
	f->epc = f->x[1];   /* back to the caller */
	return 1;
}

static long s_load(long addr)
{
	rt_catch_begin();
	(void)*(volatile uint64_t *)addr;
	struct rt_caught t = rt_catch_end();
	return t.n == 1 && t.cause == EXC_LOAD_ACCESS && t.tval == (uint64_t)addr;
}

int main(void)
{
	uint64_t hole = rt_ram_base() + rt_ram_size();
	struct rt_caught t;
	uint64_t v;

	CHECK(1, rt_ram_size() != 0);
	rt_catch_begin();
	v = *(volatile uint64_t *)hole;
	t = rt_catch_end();
	(void)v;
	CHECK_EQ(2, t.n, 1);
	CHECK_EQ(3, t.cause, EXC_LOAD_ACCESS);
	CHECK_EQ(4, t.tval, hole);

	rt_catch_begin();
	*(volatile uint64_t *)(hole + 8) = 1;
	t = rt_catch_end();
	CHECK_EQ(5, t.n, 1);
	CHECK_EQ(6, t.cause, EXC_STORE_ACCESS);
	CHECK_EQ(7, t.tval, hole + 8);

	rt_catch_begin();
	__asm__ volatile("amoadd.d %0, %2, (%1)" : "=r"(v) : "r"(hole + 16), "r"(1UL) : "memory");
	t = rt_catch_end();
	CHECK_EQ(9, t.n, 1);
	/* QEMU 7.2 reports AMO faults as load faults (fixed in later QEMU) */
	if (t.cause == EXC_LOAD_ACCESS)
		rt_printf("note: AMO access fault reported as a load fault (QEMU 7.2 behaviour)\n");
	else
		CHECK_EQ(10, t.cause, EXC_STORE_ACCESS);
	CHECK_EQ(11, t.tval, hole + 16);

	rt_set_trap_hook(PRV_M, fetch_hook);
	((void (*)(void))hole)();
	rt_set_trap_hook(PRV_M, NULL);
	CHECK_EQ(13, fetch_faults, 1);
	CHECK_EQ(14, fetch_cause, EXC_INST_ACCESS);
	CHECK_EQ(15, fetch_epc, hole);
	CHECK_EQ(16, fetch_tval, hole);

	rt_csr_write(satp, 0);
	rt_csr_write(medeleg, 0);
	CHECK(17, rt_run_in_mode(PRV_S, s_load, (long)hole + 24));
	rt_printf("access_fault: ok (hole at 0x%lx)\n", (unsigned long)hole);
	return 0;
}
