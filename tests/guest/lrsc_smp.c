/*
 * lrsc_smp: another hart's store breaks a reservation (2 harts).
 * Hart 0 takes a reservation with LR.D, tells hart 1, waits until hart 1
 * says it has written the reserved doubleword (a plain store, or an AMO),
 * then tries SC.D: the SC must fail (the other hart's store was observed
 * between the LR and the SC) and memory must hold hart 1's value.
 * 20 rounds each (each round is a hand-off between harts, slow on
 * single-threaded emulators). Exit codes: 1 store rounds, 2 AMO rounds, 3 values.
 * Also 4: MSI sent through the CLINT by hart 1 traps on hart 0.
 */
#include "rt.h"

#define ROUNDS 20

static volatile uint64_t cell __attribute__((aligned(64)));
static volatile uint64_t go, done, sc_ok, bad_value;
static volatile uint64_t ipi_seen;

static void worker(void *arg)
{
	int use_amo = (int)(uintptr_t)arg;
	for (uint64_t r = 1; r <= ROUNDS; r++) {
		if (rt_hartid() == 0) {
			uint64_t v, fail;
			__asm__ volatile("lr.d %0, (%1)" : "=r"(v) : "r"(&cell) : "memory");
			go = r;
			while (done != r)
				;
			__asm__ volatile("sc.d %0, %2, (%1)" : "=r"(fail) : "r"(&cell), "r"(v + 1000) : "memory");
			if (!fail)
				sc_ok++;
			if (cell != r * 2)
				bad_value++;
		} else if (rt_hartid() == 1) {
			while (go != r)
				;
			if (use_amo) {
				uint64_t old;
				__asm__ volatile("amoswap.d %0, %2, (%1)" : "=r"(old) : "r"(&cell), "r"(r * 2) : "memory");
			} else {
				cell = r * 2;
			}
			__asm__ volatile("fence w, w" ::: "memory");
			done = r;
		}
	}
}

static int msi_hook(struct rt_frame *f, int level)
{
	if (f->cause != (CAUSE_INTR | IRQ_M_SOFT))
		return 0;
	rt_mmio_w32(RT_CLINT_MSIP, 0);
	ipi_seen++;
	return 1;
}

static void send_ipi(void *arg)
{
	if (rt_hartid() == 1)
		rt_mmio_w32(RT_CLINT_MSIP + 0, 1);
}

int main(void)
{
	CHECK(5, rt_nharts() >= 2);
	go = done = 0;
	rt_run_on_harts(2, worker, (void *)0);
	CHECK_EQ(1, sc_ok, 0);
	CHECK_EQ(3, bad_value, 0);
	go = done = 0;
	rt_run_on_harts(2, worker, (void *)1);
	CHECK_EQ(2, sc_ok, 0);
	CHECK_EQ(3, bad_value, 0);
	rt_printf("  SC after another hart's store / AMO always failed\n");

	rt_set_trap_hook(PRV_M, msi_hook);
	rt_csr_write(mie, 1UL << IRQ_M_SOFT);
	rt_csr_set(mstatus, MSTATUS_MIE);
	rt_run_on_harts(2, send_ipi, NULL);
	uint64_t t0 = rt_rdtime();
	while (!ipi_seen && rt_rdtime() - t0 < rt_timebase_hz())
		;
	rt_csr_clear(mstatus, MSTATUS_MIE);
	rt_csr_write(mie, 0);
	CHECK_EQ(4, ipi_seen, 1);
	rt_printf("lrsc_smp: ok\n");
	return 0;
}
