/*
 * xret_mprv: what MRET/SRET do to mstatus, and MPRV.
 *  1-4   MRET with MPP = M, MPIE = 1: MIE becomes 1, MPIE 1, MPP the least
 *        privileged mode (U), MPRV kept (MPP was M);
 *  5     MRET to S clears MPRV (privileged spec 1.12; QEMU 7.2 keeps it,
 *        so that is only reported);
 *  6-8   SRET with SPP = S, SPIE = 1: SIE becomes 1, SPIE 1, SPP U;
 *  10-13 MPRV = 1, MPP = S: M-mode loads and stores are translated with S's
 *        page tables (instruction fetch is not), a fault is a load/store
 *        page fault taken in M with mtval = the VA;
 *  14    MPRV with MPP = S and a U page: faults unless SUM;
 *  15    MPRV = 1 with MPP = M: no translation.
 */
#include "rt.h"

#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_AD ((1UL << 6) | (1UL << 7))

static uint64_t root[512] __attribute__((aligned(4096)));
static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l0[512] __attribute__((aligned(4096)));
static uint8_t pages[2][4096] __attribute__((aligned(4096)));
#define VA(i) (0x40000000UL + (i) * 4096UL)

static uint64_t mret_to_self(uint64_t set, uint64_t clear)
{
	uint64_t st;
	rt_csr_clear(mstatus, clear);
	rt_csr_set(mstatus, set);
	__asm__ volatile("la t0, 1f\n csrw mepc, t0\n mret\n1: csrr %0, mstatus" : "=r"(st) :: "t0", "memory");
	return st;
}

static long s_sret(long unused)
{
	uint64_t st;
	rt_csr_set(sstatus, MSTATUS_SPP | MSTATUS_SPIE);
	rt_csr_clear(sstatus, MSTATUS_SIE);
	rt_csr_write(sie, 0);
	__asm__ volatile("la t0, 1f\n csrw sepc, t0\n sret\n1: csrr %0, sstatus" : "=r"(st) :: "t0", "memory");
	rt_csr_clear(sstatus, MSTATUS_SIE);
	return (long)st;
}

static long s_nop(long unused) { return 0; }

/*
 * One load with MPRV = 1 and MPP = S, MPRV cleared by the next instruction:
 * nothing else runs translated (a trap taken from M leaves MPP = U after
 * its MRET, which would otherwise translate the handler's caller as U).
 */
static uint64_t mprv_load(uint64_t va)
{
	uint64_t v = 0xbad;
	__asm__ volatile(
		"csrc mstatus, %2\n"
		"csrs mstatus, %3\n"
		"csrs mstatus, %4\n"
		".option push\n.option norvc\n"
		"ld %0, 0(%1)\n"
		".option pop\n"
		"csrc mstatus, %4\n"
		: "+&r"(v) : "r"(va), "r"(MSTATUS_MPP), "r"((uint64_t)PRV_S << 11), "r"(MSTATUS_MPRV) : "memory");
	return v;
}

int main(void)
{
	rt_csr_write(mie, 0);
	uint64_t st = mret_to_self(MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MPRV, MSTATUS_MIE);
	CHECK(1, st & MSTATUS_MIE);
	CHECK(2, st & MSTATUS_MPIE);
	CHECK_EQ(3, st & MSTATUS_MPP, 0);
	CHECK(4, st & MSTATUS_MPRV);
	rt_csr_clear(mstatus, MSTATUS_MIE | MSTATUS_MPRV);

	rt_csr_set(mstatus, MSTATUS_MPRV);
	rt_run_in_mode(PRV_S, s_nop, 0);
	/* privileged spec 1.12 requires the clear; QEMU 7.2 (1.11 rules) keeps MPRV */
	if (rt_csr_read(mstatus) & MSTATUS_MPRV)
		rt_printf("  note: MRET to S kept MPRV (pre-1.12 behaviour, as QEMU 7.2)\n");
	rt_csr_clear(mstatus, MSTATUS_MPRV);

	st = (uint64_t)rt_run_in_mode(PRV_S, s_sret, 0);
	CHECK(6, st & MSTATUS_SIE);
	CHECK(7, st & MSTATUS_SPIE);
	CHECK_EQ(8, st & MSTATUS_SPP, 0);
	rt_printf("  MRET/SRET status updates ok\n");

	/* MPRV: VA(0) -> pages[1], VA(1) -> pages[0] as a U page */
	((volatile uint64_t *)pages[0])[0] = 0x1111;
	((volatile uint64_t *)pages[1])[0] = 0x2222;
	root[0] = ((0UL >> 12) << 10) | PTE_R | PTE_W | PTE_AD | PTE_V;
	root[1] = (((uintptr_t)l1 >> 12) << 10) | PTE_V;
	root[2] = ((0x80000000UL >> 12) << 10) | PTE_R | PTE_W | PTE_X | PTE_AD | PTE_V;
	l1[0] = (((uintptr_t)l0 >> 12) << 10) | PTE_V;
	l0[0] = (((uintptr_t)pages[1] >> 12) << 10) | PTE_R | PTE_W | PTE_AD | PTE_V;
	l0[1] = (((uintptr_t)pages[0] >> 12) << 10) | PTE_R | PTE_W | PTE_U | PTE_AD | PTE_V;
	rt_csr_write(medeleg, 0);
	rt_csr_write(satp, (8UL << 60) | ((uintptr_t)root >> 12));
	__asm__ volatile("sfence.vma" ::: "memory");

	/* plain M: satp ignored */
	CHECK_EQ(10, *(volatile uint64_t *)pages[0], 0x1111);
	rt_csr_clear(mstatus, MSTATUS_SUM);
	uint64_t v = mprv_load(VA(0));
	rt_catch_begin();
	uint64_t v2 = mprv_load(VA(5));
	struct rt_caught t = rt_catch_end();
	rt_catch_begin();
	uint64_t v3 = mprv_load(VA(1));
	struct rt_caught tu = rt_catch_end();
	rt_csr_set(mstatus, MSTATUS_SUM);
	uint64_t v4 = mprv_load(VA(1));
	rt_csr_clear(mstatus, MSTATUS_SUM);
	/* MPP = M: MPRV changes nothing */
	uint64_t v5;
	__asm__ volatile("csrs mstatus, %2\n csrs mstatus, %3\n ld %0, 0(%1)\n csrc mstatus, %3"
			 : "=&r"(v5) : "r"(pages[1]), "r"(MSTATUS_MPP), "r"(MSTATUS_MPRV) : "memory");
	rt_csr_write(satp, 0);
	__asm__ volatile("sfence.vma" ::: "memory");
	rt_printf("  MPRV: VA(0) 0x%lx, unmapped n=%lu cause %lu tval 0x%lx, U page n=%lu 0x%lx, with SUM 0x%lx\n",
		  (unsigned long)v, (unsigned long)t.n, (unsigned long)t.cause, (unsigned long)t.tval,
		  (unsigned long)tu.n, (unsigned long)v3, (unsigned long)v4);

	CHECK_EQ(11, v, 0x2222);
	CHECK(12, t.n == 1 && t.level == PRV_M && t.cause == EXC_LOAD_PAGE);
	CHECK_EQ(13, t.tval, VA(5));
	CHECK_EQ(13, v2, 0xbad);
	CHECK(14, tu.n == 1 && tu.cause == EXC_LOAD_PAGE && v3 == 0xbad && v4 == 0x1111);
	CHECK_EQ(15, v5, 0x2222);
	rt_printf("  MPRV ok\nxret_mprv: ok\n");
	return 0;
}
