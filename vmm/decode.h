/*
 * decode.h — internal to the CPU side: the operations a decoded instruction
 * (struct dinsn, cpu.h) can name. One list, expanded into the enum here and
 * into the interpreter's dispatch table in cpu.c, so the two never disagree.
 *
 * Operand conventions, fixed by decode.c and relied on by cpu.c:
 *  - rd is 32 (the sink) when the instruction names x0;
 *  - branches, JAL: imm is the pc offset; JALR, loads, stores, OP-IMM: imm
 *    is the sign-extended 12-bit immediate; LUI/AUIPC: imm is the
 *    sign-extended upper immediate (already shifted); shifts: imm = shamt;
 *  - CSR ops: imm = CSR number, rs1 = register or zimm;
 *  - AMO_W/AMO_D: imm = funct5;
 *  - ILLEGAL: imm = the instruction bits (mtval);
 *  - LI (ADDI from x0), MV (ADDI 0, ADD from x0: rs1 = the source), BEQZ,
 *    BNEZ (rs2 = x0): forms common enough in compiled code to save an
 *    operand load;
 *  - PAGE_END: the sentinel after a page's last slot: sequential flow
 *    reaching it continues with a fetch-TLB lookup of the next page.
 * The raw bits of SYSTEM instructions that may trap as illegal are rebuilt
 * from these fields (decode_raw_system in cpu.c).
 */
#ifndef DISCO_VMM_DECODE_H
#define DISCO_VMM_DECODE_H

#define OP_LIST(X) \
	X(DECODE) X(ILLEGAL) \
	X(LUI) X(AUIPC) X(JAL) X(JALR) \
	X(BEQ) X(BNE) X(BLT) X(BGE) X(BLTU) X(BGEU) \
	X(LB) X(LH) X(LW) X(LD) X(LBU) X(LHU) X(LWU) \
	X(SB) X(SH) X(SW) X(SD) \
	X(ADDI) X(SLTI) X(SLTIU) X(XORI) X(ORI) X(ANDI) X(SLLI) X(SRLI) X(SRAI) \
	X(ADD) X(SUB) X(SLL) X(SLT) X(SLTU) X(XOR) X(SRL) X(SRA) X(OR) X(AND) \
	X(ADDIW) X(SLLIW) X(SRLIW) X(SRAIW) \
	X(ADDW) X(SUBW) X(SLLW) X(SRLW) X(SRAW) \
	X(MUL) X(MULH) X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU) \
	X(MULW) X(DIVW) X(DIVUW) X(REMW) X(REMUW) \
	X(AMO_W) X(AMO_D) \
	X(FENCE) X(FENCE_I) X(ECALL) X(EBREAK) X(MRET) X(SRET) X(WFI) X(SFENCE_VMA) \
	X(CSRRW) X(CSRRS) X(CSRRC) X(CSRRWI) X(CSRRSI) X(CSRRCI) \
	X(NOP) X(PAGE_END) \
	X(LI) X(MV) X(BEQZ) X(BNEZ)

#define OP_ENUM(n) OP_##n,
enum op { OP_LIST(OP_ENUM) OP_COUNT };
#undef OP_ENUM

_Static_assert(OP_COUNT <= 0x80, "ops must fit below OP_C");

#endif
