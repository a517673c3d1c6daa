/*
 * illegal_rvc: the reserved compressed encodings raise illegal-instruction
 * with mtval = the 16 instruction bits: c.illegal (0x0000), C.ADDI4SPN with
 * a zero immediate, C.LUI and C.ADDI16SP with zero immediates, C.JR x0,
 * C.LWSP/C.LDSP with rd = x0, the reserved quadrant-1 ALU slots, the
 * reserved quadrant-0 funct3=100 slot, C.ADDIW with rd = x0.
 * Exit codes: 10+i (M mode), 60+i (U mode), i = index.
 */
#include "trapseq.h"

TS_SEQ(seq_rvc,
	".half 0x0000\n"   /* c.illegal */
	".half 0x0004\n"   /* c.addi4spn rd', 0 */
	".half 0x6081\n"   /* c.lui ra, 0 */
	".half 0x6101\n"   /* c.addi16sp 0 */
	".half 0x8002\n"   /* c.jr x0 */
	".half 0x4002\n"   /* c.lwsp x0 */
	".half 0x6002\n"   /* c.ldsp x0 */
	".half 0x9c41\n"   /* reserved: 100 1 11 . 10 . 01 */
	".half 0x9c61\n"   /* reserved: 100 1 11 . 11 . 01 */
	".half 0x8000\n"   /* reserved quadrant 0 funct3=100 */
	".half 0x2001\n"   /* c.addiw x0 */
	".half 0x0001\n"   /* c.nop (not checked: ends the sequence aligned) */
);

int main(void)
{
	rt_printf("illegal_rvc:\n");
	ts_expect(10, "seq_rvc", seq_rvc, (uintptr_t)seq_rvc_end - 2, PRV_M, EXC_ILLEGAL);
	ts_expect(60, "seq_rvc", seq_rvc, (uintptr_t)seq_rvc_end - 2, PRV_U, EXC_ILLEGAL);
	return 0;
}
