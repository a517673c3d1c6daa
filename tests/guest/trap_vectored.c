/*
 * trap_vectored: vectored trap mode (xtvec.MODE = 1) and a few WARL fields.
 *  1-3   misa says RV64 (MXL = 2) with I, M, A, C, S and U; mstatus.SXL and
 *        UXL read 2 (64-bit);
 *  10-13 mtvec = table | 1 reads back; a machine software interrupt enters
 *        at base + 4 * 3, a machine timer interrupt at base + 4 * 7, and an
 *        exception (EBREAK) at base itself;
 *  20-22 stvec = table | 1: a delegated supervisor software interrupt
 *        enters at base + 4 * 1, a delegated exception at base.
 */
#include "rt.h"

/* each table slot jumps to a stub that records its index, then to the runtime's entry */
#define STUB(lvl, n) \
	"vec" #lvl "_" #n ":\n addi sp, sp, -16\n sd t0, 0(sp)\n li t0, " #n "\n j vec" #lvl "_common\n"
#define SLOT(lvl, n) "j vec" #lvl "_" #n "\n"
#define TABLE(lvl, entry) \
	".text\n.balign 256\n.globl vec" #lvl "_table\nvec" #lvl "_table:\n.option push\n.option norvc\n" \
	SLOT(lvl, 0) SLOT(lvl, 1) SLOT(lvl, 2) SLOT(lvl, 3) SLOT(lvl, 4) SLOT(lvl, 5) SLOT(lvl, 6) \
	SLOT(lvl, 7) SLOT(lvl, 8) SLOT(lvl, 9) SLOT(lvl, 10) SLOT(lvl, 11) \
	".option pop\n" \
	STUB(lvl, 0) STUB(lvl, 1) STUB(lvl, 2) STUB(lvl, 3) STUB(lvl, 4) STUB(lvl, 5) STUB(lvl, 6) \
	STUB(lvl, 7) STUB(lvl, 8) STUB(lvl, 9) STUB(lvl, 10) STUB(lvl, 11) \
	"vec" #lvl "_common:\n sd t1, 8(sp)\n la t1, vec" #lvl "_last\n sd t0, 0(t1)\n" \
	" ld t1, 8(sp)\n ld t0, 0(sp)\n addi sp, sp, 16\n j " entry "\n"

__asm__(TABLE(m, "rt_mtrap_entry"));
__asm__(TABLE(s, "rt_strap_entry"));
extern char vecm_table[], vecs_table[];
volatile uint64_t vecm_last = ~0UL, vecs_last = ~0UL;

static volatile unsigned intr_count;
static int intr_hook(struct rt_frame *f, int level)
{
	if (!(f->cause & CAUSE_INTR))
		return 0;
	intr_count++;
	switch (f->cause & ~CAUSE_INTR) {
	case IRQ_M_SOFT:
		rt_mmio_w32(RT_CLINT_MSIP + 4 * rt_hartid(), 0);
		break;
	case IRQ_M_TIMER:
		rt_mmio_w64(RT_CLINT_MTIMECMP + 8 * rt_hartid(), ~0UL);
		break;
	case IRQ_S_SOFT:
		rt_csr_clear(sip, 1UL << IRQ_S_SOFT);
		break;
	default:
		return 0;
	}
	return 1;
}

static void take_m_interrupts(void)
{
	rt_csr_set(mstatus, MSTATUS_MIE);
	for (volatile int i = 0; i < 100; i++)
		;
	rt_csr_clear(mstatus, MSTATUS_MIE);
}

static long s_part(long unused)
{
	rt_csr_write(stvec, (uintptr_t)vecs_table | 1);
	CHECK_EQ(20, rt_csr_read(stvec), (uintptr_t)vecs_table | 1);
	vecs_last = ~0UL;
	rt_csr_write(sie, 1UL << IRQ_S_SOFT);
	rt_csr_set(sip, 1UL << IRQ_S_SOFT);
	rt_csr_set(sstatus, MSTATUS_SIE);
	for (volatile int i = 0; i < 100; i++)
		;
	rt_csr_clear(sstatus, MSTATUS_SIE);
	CHECK_EQ(21, vecs_last, 1);
	rt_catch_begin();
	__asm__ volatile("ebreak");
	struct rt_caught t = rt_catch_end();
	CHECK(22, t.n == 1 && t.level == PRV_S && vecs_last == 0);
	rt_csr_write(stvec, (uintptr_t)rt_strap_entry);
	return 0;
}

int main(void)
{
	uint64_t misa = rt_csr_read(misa);
	CHECK_EQ(1, misa >> 62, 2);
	for (const char *e = "IMACSU"; *e; e++)
		CHECK(2, misa & (1UL << (*e - 'A')));
	uint64_t st = rt_csr_read(mstatus);
	CHECK(3, ((st >> 32) & 3) == 2 && ((st >> 34) & 3) == 2);

	rt_set_trap_hook(PRV_M, intr_hook);
	rt_set_trap_hook(PRV_S, intr_hook);
	rt_csr_write(mtvec, (uintptr_t)vecm_table | 1);
	CHECK_EQ(10, rt_csr_read(mtvec), (uintptr_t)vecm_table | 1);
	rt_csr_write(mie, 1UL << IRQ_M_SOFT);
	rt_mmio_w32(RT_CLINT_MSIP + 4 * rt_hartid(), 1);
	take_m_interrupts();
	CHECK_EQ(11, vecm_last, 3);
	rt_csr_write(mie, 1UL << IRQ_M_TIMER);
	rt_mmio_w64(RT_CLINT_MTIMECMP + 8 * rt_hartid(), 0);
	take_m_interrupts();
	CHECK_EQ(12, vecm_last, 7);
	rt_csr_write(mie, 0);
	rt_catch_begin();
	__asm__ volatile("ebreak");
	struct rt_caught t = rt_catch_end();
	CHECK(13, t.n == 1 && vecm_last == 0);
	rt_printf("  vectored mtvec ok\n");

	rt_csr_write(mideleg, 1UL << IRQ_S_SOFT);
	rt_csr_write(medeleg, 1UL << EXC_BREAKPOINT);
	rt_run_in_mode(PRV_S, s_part, 0);
	rt_csr_write(mideleg, 0);
	rt_csr_write(medeleg, 0);
	rt_csr_write(mtvec, (uintptr_t)rt_mtrap_entry);
	rt_printf("  vectored stvec ok\ntrap_vectored: ok\n");
	return 0;
}
