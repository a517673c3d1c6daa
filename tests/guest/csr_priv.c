/*
 * csr_priv: privilege checks on CSRs and privileged instructions.
 *  - S mode touching M CSRs (mstatus, misa, medeleg, mie, mtvec, mscratch,
 *    mepc, mcause, mtval, mip, pmpcfg0, pmpaddr0, mcycle, minstret,
 *    mhartid, menvcfg) and executing MRET: illegal instruction;
 *  - U mode touching S CSRs (sstatus, sie, stvec, sscratch, sepc, satp) and
 *    M CSRs, executing SRET, MRET, SFENCE.VMA: illegal instruction;
 *  - mstatus.TVM=1: satp access and SFENCE.VMA from S trap;
 *    mstatus.TSR=1: SRET from S traps;
 *  - counters: with mcounteren = 0, cycle/time/instret trap in S and U;
 *    with mcounteren = 7 and scounteren = 0 they trap in U only.
 * All traps go to M (nothing delegated) with mcause 2, mtval = the bits.
 * The S CSRs and SFENCE.VMA do work from S with TVM = 0 (no trap).
 * Exit codes: one block of 10 per sequence, +i = failing instruction.
 */
#include "trapseq.h"

TS_SEQ(seq_m_csrs,
	"csrr a0, mstatus\n"
	"csrr a0, misa\n"
	"csrr a0, medeleg\n"
	"csrr a0, mie\n"
	"csrr a0, mtvec\n"
	"csrr a0, mscratch\n"
	"csrr a0, mepc\n"
	"csrr a0, mcause\n"
	"csrr a0, mtval\n"
	"csrr a0, mip\n"
	"csrr a0, pmpcfg0\n"
	"csrr a0, pmpaddr0\n"
	"csrr a0, mcycle\n"
	"csrr a0, minstret\n"
	"csrr a0, mhartid\n"
	"csrr a0, 0x30a\n"          /* menvcfg */
	"csrw mscratch, zero\n"
	"csrs mstatus, zero\n"      /* csrs with rs1 = x0 is a read: still M-only */
	"mret\n"
);

TS_SEQ(seq_s_csrs,
	"csrr a0, sstatus\n"
	"csrr a0, sie\n"
	"csrr a0, stvec\n"
	"csrr a0, sscratch\n"
	"csrr a0, sepc\n"
	"csrr a0, satp\n"
	"csrw sscratch, zero\n"
	"sret\n"
	"sfence.vma\n"
);

TS_SEQ(seq_s_ok,
	"csrr a0, sstatus\n"
	"csrr a0, sie\n"
	"csrr a0, stvec\n"
	"csrw sscratch, zero\n"
	"csrr a0, sepc\n"
	"csrr a0, scause\n"
	"csrr a0, stval\n"
	"csrr a0, sip\n"
	"csrr a0, satp\n"
	"sfence.vma\n"
);

TS_SEQ(seq_tvm,
	"csrr a0, satp\n"
	"csrw satp, zero\n"
	"sfence.vma\n"
	"sfence.vma a0, zero\n"
);

TS_SEQ(seq_tsr, "sret\n");

TS_SEQ(seq_counters,
	"rdcycle a0\n"
	"rdtime a0\n"
	"rdinstret a0\n"
);

int main(void)
{
	rt_printf("csr_priv:\n");
	rt_csr_write(medeleg, 0);
	rt_csr_write(mideleg, 0);
	rt_csr_write(satp, 0);
	TS_EXPECT(10, seq_m_csrs, PRV_S, EXC_ILLEGAL);
	TS_EXPECT(40, seq_m_csrs, PRV_U, EXC_ILLEGAL);
	TS_EXPECT(70, seq_s_csrs, PRV_U, EXC_ILLEGAL);
	TS_EXPECT_NONE(80, seq_s_ok, PRV_S);

	rt_csr_set(mstatus, MSTATUS_TVM);
	TS_EXPECT(90, seq_tvm, PRV_S, EXC_ILLEGAL);
	rt_csr_clear(mstatus, MSTATUS_TVM);
	rt_csr_set(mstatus, MSTATUS_TSR);
	TS_EXPECT(100, seq_tsr, PRV_S, EXC_ILLEGAL);
	rt_csr_clear(mstatus, MSTATUS_TSR);

	rt_csr_write(mcounteren, 0);
	rt_csr_write(scounteren, 0);
	TS_EXPECT(110, seq_counters, PRV_S, EXC_ILLEGAL);
	TS_EXPECT(120, seq_counters, PRV_U, EXC_ILLEGAL);
	rt_csr_write(mcounteren, 7);
	TS_EXPECT_NONE(130, seq_counters, PRV_S);
	TS_EXPECT(140, seq_counters, PRV_U, EXC_ILLEGAL);
	rt_csr_write(scounteren, 7);
	TS_EXPECT_NONE(150, seq_counters, PRV_U);
	return 0;
}
