/*
 * illegal_fp: F and D instructions (loads/stores, arithmetic, fused
 * multiply-add, moves, conversions, the FP CSRs, the compressed FP
 * loads/stores) raise illegal-instruction with mtval = their bits. disco
 * has no F/D; on QEMU they trap because mstatus.FS is Off, which this test
 * makes sure of first.
 * Exit codes: 10+i (M mode), 60+i (S mode), i = index in the sequence.
 */
#include "trapseq.h"

TS_SEQ(seq_fp,
	".word 0x00012007\n"   /* flw ft0, 0(sp) */
	".word 0x00012027\n"   /* fsw ft0, 0(sp) */
	".word 0x00013007\n"   /* fld ft0, 0(sp) */
	".word 0x00013027\n"   /* fsd ft0, 0(sp) */
	".word 0x00011007\n"   /* flh ft0, 0(sp) */
	".word 0x00000053\n"   /* fadd.s ft0, ft0, ft0 */
	".word 0x02000053\n"   /* fadd.d ft0, ft0, ft0 */
	".word 0x10000053\n"   /* fmul.s ft0, ft0, ft0 */
	".word 0x5a000053\n"   /* fsqrt.d ft0, ft0 */
	".word 0x00000043\n"   /* fmadd.s */
	".word 0x00000047\n"   /* fmsub.s */
	".word 0x0000004b\n"   /* fnmsub.s */
	".word 0x0200004f\n"   /* fnmadd.d */
	".word 0xe0000553\n"   /* fmv.x.w a0, ft0 */
	".word 0xf0050053\n"   /* fmv.w.x ft0, a0 */
	".word 0xe2000553\n"   /* fmv.x.d a0, ft0 */
	".word 0xc0000553\n"   /* fcvt.w.s a0, ft0 */
	".word 0xd2250053\n"   /* fcvt.d.l ft0, a0 */
	".word 0xa0002553\n"   /* feq.s a0, ft0, ft0 */
	".word 0x00302573\n"   /* frcsr a0 */
	".word 0x00202573\n"   /* frrm a0 */
	".word 0x00151073\n"   /* fsflags a0 */
	".half 0x2000\n"       /* c.fld f8, 0(s0) */
	".half 0xa000\n"       /* c.fsd f8, 0(s0) */
	".half 0x2002\n"       /* c.fldsp f0, 0(sp) */
	".half 0xa002\n"       /* c.fsdsp f0, 0(sp) */
	".half 0x0001\n"       /* c.nop, keeps the sequence 4-aligned */
);


int main(void)
{
	rt_csr_clear(mstatus, MSTATUS_FS);
	CHECK_EQ(1, rt_csr_read(mstatus) & MSTATUS_FS, 0);
	rt_printf("illegal_fp:\n");
	/* the trailing c.nop is excluded by ending the walk 2 bytes early */
	ts_expect(10, "seq_fp", seq_fp, (uintptr_t)seq_fp_end - 2, PRV_M, EXC_ILLEGAL);
	ts_expect(60, "seq_fp", seq_fp, (uintptr_t)seq_fp_end - 2, PRV_S, EXC_ILLEGAL);
	return 0;
}
