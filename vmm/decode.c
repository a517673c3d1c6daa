/*
 * decode.c — RV64IMAC + Zicsr + Zifencei instruction words to struct dinsn.
 *
 * Every encoding the hart does not implement (F, D, V, reserved and HINT-less
 * reserved compressed forms, unknown SYSTEM words) becomes OP_ILLEGAL with
 * the instruction bits in imm, so the interpreter raises illegal-instruction
 * with mtval = those bits. 16-bit instructions expand to the operation of
 * their 32-bit equivalent with OP_C set. Pure functions plus the code-page
 * helpers; no allocation.
 */
#include "vmm/cpu.h"
#include "vmm/decode.h"

static inline int32_t sext(uint32_t v, unsigned bits)
{
	return (int32_t)(v << (32 - bits)) >> (32 - bits);
}

static void set(struct dinsn *d, unsigned op, unsigned rd, unsigned rs1, unsigned rs2, int32_t imm)
{
	d->op = (uint8_t)op;
	d->rd = (uint8_t)(rd ? rd : 32);
	d->rs1 = (uint8_t)rs1;
	d->rs2 = (uint8_t)rs2;
	d->imm = imm;
}

static void illegal(struct dinsn *d, uint32_t raw)
{
	set(d, OP_ILLEGAL, 0, 0, 0, (int32_t)raw);
}

static void dec32(uint32_t r, struct dinsn *d)
{
	unsigned rd = (r >> 7) & 31, f3 = (r >> 12) & 7, rs1 = (r >> 15) & 31;
	unsigned rs2 = (r >> 20) & 31, f7 = r >> 25;
	int32_t imm_i = (int32_t)r >> 20;
	int32_t imm_s = (int32_t)(((int32_t)r >> 25) * 32) | (int32_t)rd;
	int32_t imm_b = sext(((r >> 31) << 12) | (((r >> 7) & 1) << 11) |
			     (((r >> 25) & 0x3f) << 5) | (((r >> 8) & 0xf) << 1), 13);
	int32_t imm_u = (int32_t)(r & 0xfffff000u);
	int32_t imm_j = sext(((r >> 31) << 20) | (r & 0xff000) | (((r >> 20) & 1) << 11) |
			     (((r >> 21) & 0x3ff) << 1), 21);
	static const uint8_t br[8] = { OP_BEQ, OP_BNE, 0, 0, OP_BLT, OP_BGE, OP_BLTU, OP_BGEU };
	static const uint8_t ld[8] = { OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU, 0 };
	static const uint8_t st[8] = { OP_SB, OP_SH, OP_SW, OP_SD, 0, 0, 0, 0 };
	static const uint8_t opi[8] = { OP_ADDI, 0, OP_SLTI, OP_SLTIU, OP_XORI, 0, OP_ORI, OP_ANDI };
	static const uint8_t op0[8] = { OP_ADD, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_OR, OP_AND };
	static const uint8_t opm[8] = { OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_DIV, OP_DIVU, OP_REM, OP_REMU };
	static const uint8_t opmw[8] = { OP_MULW, 0, 0, 0, OP_DIVW, OP_DIVUW, OP_REMW, OP_REMUW };
	static const uint8_t csr[8] = { 0, OP_CSRRW, OP_CSRRS, OP_CSRRC, 0, OP_CSRRWI, OP_CSRRSI, OP_CSRRCI };

	switch (r & 0x7f) {
	case 0x37: set(d, OP_LUI, rd, 0, 0, imm_u); return;
	case 0x17: set(d, OP_AUIPC, rd, 0, 0, imm_u); return;
	case 0x6f: set(d, OP_JAL, rd, 0, 0, imm_j); return;
	case 0x67:
		if (f3 != 0)
			break;
		set(d, OP_JALR, rd, rs1, 0, imm_i);
		return;
	case 0x63:
		if (!br[f3])
			break;
		set(d, br[f3], 0, rs1, rs2, imm_b);
		return;
	case 0x03:
		if (!ld[f3])
			break;
		set(d, ld[f3], rd, rs1, 0, imm_i);
		return;
	case 0x23:
		if (!st[f3])
			break;
		set(d, st[f3], 0, rs1, rs2, imm_s);
		return;
	case 0x13:
		if (f3 == 1) {
			if ((r >> 26) != 0)
				break;
			set(d, OP_SLLI, rd, rs1, 0, (int32_t)((r >> 20) & 63));
		} else if (f3 == 5) {
			if ((r >> 26) == 0)
				set(d, OP_SRLI, rd, rs1, 0, (int32_t)((r >> 20) & 63));
			else if ((r >> 26) == 0x10)
				set(d, OP_SRAI, rd, rs1, 0, (int32_t)((r >> 20) & 63));
			else
				break;
		} else {
			set(d, opi[f3], rd, rs1, 0, imm_i);
		}
		return;
	case 0x1b:
		if (f3 == 0) {
			set(d, OP_ADDIW, rd, rs1, 0, imm_i);
		} else if (f3 == 1 && f7 == 0) {
			set(d, OP_SLLIW, rd, rs1, 0, (int32_t)rs2);
		} else if (f3 == 5 && f7 == 0) {
			set(d, OP_SRLIW, rd, rs1, 0, (int32_t)rs2);
		} else if (f3 == 5 && f7 == 0x20) {
			set(d, OP_SRAIW, rd, rs1, 0, (int32_t)rs2);
		} else {
			break;
		}
		return;
	case 0x33:
		if (f7 == 0)
			set(d, op0[f3], rd, rs1, rs2, 0);
		else if (f7 == 1)
			set(d, opm[f3], rd, rs1, rs2, 0);
		else if (f7 == 0x20 && f3 == 0)
			set(d, OP_SUB, rd, rs1, rs2, 0);
		else if (f7 == 0x20 && f3 == 5)
			set(d, OP_SRA, rd, rs1, rs2, 0);
		else
			break;
		return;
	case 0x3b:
		if (f7 == 0 && f3 == 0)
			set(d, OP_ADDW, rd, rs1, rs2, 0);
		else if (f7 == 0 && f3 == 1)
			set(d, OP_SLLW, rd, rs1, rs2, 0);
		else if (f7 == 0 && f3 == 5)
			set(d, OP_SRLW, rd, rs1, rs2, 0);
		else if (f7 == 0x20 && f3 == 0)
			set(d, OP_SUBW, rd, rs1, rs2, 0);
		else if (f7 == 0x20 && f3 == 5)
			set(d, OP_SRAW, rd, rs1, rs2, 0);
		else if (f7 == 1 && opmw[f3])
			set(d, opmw[f3], rd, rs1, rs2, 0);
		else
			break;
		return;
	case 0x2f: {
		unsigned f5 = r >> 27;
		if (f3 != 2 && f3 != 3)
			break;
		switch (f5) {
		case 0x02:	/* LR */
			if (rs2 != 0)
				goto bad;
			/* fallthrough */
		case 0x00: case 0x01: case 0x03: case 0x04: case 0x08:
		case 0x0c: case 0x10: case 0x14: case 0x18: case 0x1c:
			set(d, f3 == 2 ? OP_AMO_W : OP_AMO_D, rd, rs1, rs2, (int32_t)f5);
			return;
		default:
			goto bad;
		}
	}
	case 0x0f:
		if (f3 == 0)
			set(d, OP_FENCE, 0, 0, 0, 0);
		else if (f3 == 1)
			set(d, OP_FENCE_I, 0, 0, 0, 0);
		else
			break;
		return;
	case 0x73:
		if (f3 == 0) {
			if (r == 0x00000073)
				set(d, OP_ECALL, 0, 0, 0, 0);
			else if (r == 0x00100073)
				set(d, OP_EBREAK, 0, 0, 0, 0);
			else if (r == 0x10200073)
				set(d, OP_SRET, 0, 0, 0, 0);
			else if (r == 0x30200073)
				set(d, OP_MRET, 0, 0, 0, 0);
			else if (r == 0x10500073)
				set(d, OP_WFI, 0, 0, 0, 0);
			else if (f7 == 0x09 && rd == 0)
				set(d, OP_SFENCE_VMA, 0, rs1, rs2, 0);
			else
				break;
			return;
		}
		if (!csr[f3])
			break;
		set(d, csr[f3], rd, rs1, 0, (int32_t)(r >> 20));
		return;
	default:
		break;
	}
bad:
	illegal(d, r);
}

static void dec16(uint32_t r, struct dinsn *d)
{
	unsigned f3 = (r >> 13) & 7;
	unsigned rd = (r >> 7) & 31, rs2 = (r >> 2) & 31;
	unsigned rdp = 8 + ((r >> 2) & 7), rs1p = 8 + ((r >> 7) & 7);
	int32_t imm6 = sext(((r >> 2) & 31) | ((r >> 7) & 0x20), 6);
	uint32_t shamt = ((r >> 7) & 0x20) | ((r >> 2) & 31);
	uint32_t u;

	switch (r & 3) {
	case 0:
		switch (f3) {
		case 0:
			u = ((r >> 7) & 0x30) | ((r >> 1) & 0x3c0) | ((r >> 4) & 4) | ((r >> 2) & 8);
			if (!u)
				goto bad;
			set(d, OP_ADDI, rdp, 2, 0, (int32_t)u);
			break;
		case 2:
			u = ((r >> 7) & 0x38) | ((r >> 4) & 4) | ((r << 1) & 0x40);
			set(d, OP_LW, rdp, rs1p, 0, (int32_t)u);
			break;
		case 3:
			u = ((r >> 7) & 0x38) | ((r << 1) & 0xc0);
			set(d, OP_LD, rdp, rs1p, 0, (int32_t)u);
			break;
		case 6:
			u = ((r >> 7) & 0x38) | ((r >> 4) & 4) | ((r << 1) & 0x40);
			set(d, OP_SW, 0, rs1p, rdp, (int32_t)u);
			break;
		case 7:
			u = ((r >> 7) & 0x38) | ((r << 1) & 0xc0);
			set(d, OP_SD, 0, rs1p, rdp, (int32_t)u);
			break;
		default:	/* C.FLD, C.FSD (no D), reserved */
			goto bad;
		}
		break;
	case 1:
		switch (f3) {
		case 0:
			set(d, OP_ADDI, rd, rd, 0, imm6);
			break;
		case 1:
			if (!rd)
				goto bad;
			set(d, OP_ADDIW, rd, rd, 0, imm6);
			break;
		case 2:
			set(d, OP_ADDI, rd, 0, 0, imm6);
			break;
		case 3:
			if (rd == 2) {
				int32_t i = sext(((r >> 3) & 0x200) | ((r >> 2) & 0x10) | ((r << 1) & 0x40) |
						 ((r << 4) & 0x180) | ((r << 3) & 0x20), 10);
				if (!i)
					goto bad;
				set(d, OP_ADDI, 2, 2, 0, i);
			} else {
				if (!imm6)
					goto bad;
				set(d, OP_LUI, rd, 0, 0, (int32_t)((uint32_t)imm6 << 12));
			}
			break;
		case 4:
			switch ((r >> 10) & 3) {
			case 0:
				set(d, OP_SRLI, rs1p, rs1p, 0, (int32_t)shamt);
				break;
			case 1:
				set(d, OP_SRAI, rs1p, rs1p, 0, (int32_t)shamt);
				break;
			case 2:
				set(d, OP_ANDI, rs1p, rs1p, 0, imm6);
				break;
			default: {
				static const uint8_t a[8] = { OP_SUB, OP_XOR, OP_OR, OP_AND, OP_SUBW, OP_ADDW, 0, 0 };
				unsigned k = ((r >> 10) & 4) | ((r >> 5) & 3);
				if (!a[k])
					goto bad;
				set(d, a[k], rs1p, rs1p, rdp, 0);
				break;
			}
			}
			break;
		case 5: {
			int32_t off = sext(((r >> 1) & 0x800) | ((r >> 7) & 0x10) | ((r >> 1) & 0x300) |
					   ((r << 2) & 0x400) | ((r >> 1) & 0x40) | ((r << 1) & 0x80) |
					   ((r >> 2) & 0xe) | ((r << 3) & 0x20), 12);
			set(d, OP_JAL, 0, 0, 0, off);
			break;
		}
		default: {	/* 6: C.BEQZ, 7: C.BNEZ */
			int32_t off = sext(((r >> 4) & 0x100) | ((r >> 7) & 0x18) | ((r << 1) & 0xc0) |
					   ((r >> 2) & 6) | ((r << 3) & 0x20), 9);
			set(d, f3 == 6 ? OP_BEQ : OP_BNE, 0, rs1p, 0, off);
			break;
		}
		}
		break;
	case 2:
		switch (f3) {
		case 0:
			set(d, OP_SLLI, rd, rd, 0, (int32_t)shamt);
			break;
		case 2:
			if (!rd)
				goto bad;
			u = ((r >> 7) & 0x20) | ((r >> 2) & 0x1c) | ((r << 4) & 0xc0);
			set(d, OP_LW, rd, 2, 0, (int32_t)u);
			break;
		case 3:
			if (!rd)
				goto bad;
			u = ((r >> 7) & 0x20) | ((r >> 2) & 0x18) | ((r << 4) & 0x1c0);
			set(d, OP_LD, rd, 2, 0, (int32_t)u);
			break;
		case 4:
			if (!(r & 0x1000)) {
				if (rs2 == 0) {
					if (!rd)
						goto bad;
					set(d, OP_JALR, 0, rd, 0, 0);
				} else {
					set(d, OP_ADD, rd, 0, rs2, 0);
				}
			} else {
				if (rd == 0 && rs2 == 0)
					set(d, OP_EBREAK, 0, 0, 0, 0);
				else if (rs2 == 0)
					set(d, OP_JALR, 1, rd, 0, 0);
				else
					set(d, OP_ADD, rd, rd, rs2, 0);
			}
			break;
		case 6:
			u = ((r >> 7) & 0x3c) | ((r >> 1) & 0xc0);
			set(d, OP_SW, 0, 2, rs2, (int32_t)u);
			break;
		case 7:
			u = ((r >> 7) & 0x38) | ((r >> 1) & 0x1c0);
			set(d, OP_SD, 0, 2, rs2, (int32_t)u);
			break;
		default:	/* C.FLDSP, C.FSDSP */
			goto bad;
		}
		break;
	default:	/* 32-bit: the caller never passes one */
		goto bad;
	}
	d->op |= OP_C;
	return;
bad:
	illegal(d, r);
	d->op |= OP_C;
}

/* Cheaper special cases of a few frequent forms (decode.h). */
static void specialize(struct dinsn *d)
{
	unsigned op = d->op & ~OP_C;

	if (op == OP_ADDI && d->rs1 == 0) {
		op = OP_LI;
	} else if (op == OP_ADDI && d->imm == 0) {
		op = OP_MV;
	} else if (op == OP_ADD && d->rs1 == 0) {
		op = OP_MV;
		d->rs1 = d->rs2;
		d->rs2 = 0;
	} else if (op == OP_BEQ && d->rs2 == 0) {
		op = OP_BEQZ;
	} else if (op == OP_BNE && d->rs2 == 0) {
		op = OP_BNEZ;
	}
	d->op = (uint8_t)(op | (d->op & OP_C));
}

/* decode_insn - one instruction; a 16-bit one in the low half of raw. */
void decode_insn(uint32_t raw, struct dinsn *d)
{
	if ((raw & 3) == 3)
		dec32(raw, d);
	else
		dec16(raw & 0xffff, d);
	specialize(d);
}

void code_page_decode(struct code_page *cp, const uint8_t *host, unsigned off)
{
	uint16_t lo, hi = 0;
	uint32_t raw;
	unsigned len;

	memcpy(&lo, host + off, 2);
	len = (lo & 3) == 3 ? 4 : 2;
	if (len == 4)
		memcpy(&hi, host + off + 2, 2);
	raw = lo | ((uint32_t)hi << 16);
	decode_insn(raw, &cp->slot[off >> 1]);
	memcpy(cp->snap + off, host + off, len);
}

/*
 * code_page_validate - bring a code page in line with memory that may have
 * changed behind the store path (device DMA): every parcel whose bytes
 * differ from the snapshot, and the one before it, is marked undecoded.
 */
void code_page_validate(struct code_page *cp, const uint8_t *host)
{
	for (unsigned o = 0; o < VM_PAGE_SIZE; o += 8) {
		if (memcmp(cp->snap + o, host + o, 8)) {
			code_page_touch(cp, o, 8);
			memcpy(cp->snap + o, host + o, 8);
		}
	}
}
