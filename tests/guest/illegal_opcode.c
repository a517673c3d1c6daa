/*
 * illegal_opcode: reserved major opcodes and bad funct fields of RV64IMA
 * raise illegal-instruction (mcause 2) with mtval = the instruction bits,
 * in M, S and U mode alike. Encodings were chosen to be illegal on both
 * disco (RV64IMAC) and QEMU 7.2's default rv64 CPU (which has Zb*, Zicbo*,
 * H and V-off): see docs/guest.md.
 * Exit codes: 10+i (M mode), 60+i (S mode), 110+i (U mode), i = index.
 */
#include "trapseq.h"

TS_SEQ(seq_illegal,
	".word 0x0000000b\n"   /* custom-0 */
	".word 0x0000002b\n"   /* custom-1 */
	".word 0x0000005b\n"   /* custom-2 */
	".word 0x0000007b\n"   /* custom-3 */
	".word 0x0000006b\n"   /* reserved major opcode */
	".word 0x00000077\n"   /* reserved major opcode (OP-P) */
	".word 0x00000057\n"   /* OP-V: no vector unit */
	".word 0x04000033\n"   /* OP funct7=0000010 */
	".word 0x80000033\n"   /* OP funct7=1000000 */
	".word 0x40002033\n"   /* OP funct7=0100000 funct3=SLT */
	".word 0x0200103b\n"   /* OP-32 M-group funct3=1 (no such op) */
	".word 0x4000103b\n"   /* OP-32 funct7=0100000 funct3=SLLW */
	".word 0x0000201b\n"   /* OP-IMM-32 funct3=2 */
	".word 0x0200101b\n"   /* SLLIW with shamt[5]=1 */
	".word 0x40001013\n"   /* SLLI with funct6=010000 */
	".word 0x00002063\n"   /* BRANCH funct3=2 */
	".word 0x00003063\n"   /* BRANCH funct3=3 */
	".word 0x00007003\n"   /* LOAD funct3=7 */
	".word 0x00004023\n"   /* STORE funct3=4 */
	".word 0x00007023\n"   /* STORE funct3=7 */
	".word 0x00001067\n"   /* JALR funct3=1 */
	".word 0x0000700f\n"   /* MISC-MEM funct3=7 */
	".word 0x0000002f\n"   /* AMO funct3=0 */
	".word 0x3000202f\n"   /* AMO funct5=00110 */
	".word 0x3800302f\n"   /* AMO funct5=00111 .D */
	".word 0x00004073\n"   /* SYSTEM funct3=4 funct7=0 */
	".word 0x00300073\n"   /* SYSTEM PRIV funct12=3 */
	".word 0x7b200073\n"   /* DRET outside debug mode */
	".word 0x80002573\n"   /* csrr a0, 0x800 (custom U CSR, absent) */
	".word 0x5c002573\n"   /* csrr a0, 0x5c0 (custom S CSR, absent) */
	".word 0x7c002573\n"   /* csrr a0, 0x7c0 (custom M CSR, absent) */
);

int main(void)
{
	rt_printf("illegal_opcode:\n");
	TS_EXPECT(10, seq_illegal, PRV_M, EXC_ILLEGAL);
	TS_EXPECT(60, seq_illegal, PRV_S, EXC_ILLEGAL);
	TS_EXPECT(110, seq_illegal, PRV_U, EXC_ILLEGAL);
	return 0;
}
