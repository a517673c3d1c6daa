/*
 * jit.c — compiled blocks: straight-line runs of guest instructions turned
 * into x86-64 code from fixed templates, entered from the run loop.
 *
 * A block starts at a slot the run loop decodes (the first time execution
 * reaches it) and takes the following instructions while they are integer
 * ALU operations, loads or stores, up to JIT_MAX_INSNS, ending after a
 * conditional branch if one comes. Anything else (jumps, AUIPC, which
 * depend on the virtual pc, M-extension divisions, AMOs, SYSTEM) ends it
 * before. Guest registers stay in h->x (rdi); the only state carried from
 * one instruction to the next in a host register is the last value
 * written, kept in rax so that a following read of it skips the load.
 *
 * Memory. Loads and stores do the run loop's inline TLB test against the
 * data TLB set (rsi: its read array; the write array follows it). A miss —
 * not cached, misaligned, a coherent (TLB_COH) entry of a spanning VM, a
 * store to a page that has decoded code — leaves the block before the
 * instruction has any effect: the block returns how many instructions
 * retired and the interpreter runs the missing one through the slow path
 * (fills, MMIO, traps, EXC_STALL retries are all its business).
 *
 * Invalidation. The block's first slot keeps its decoded instruction; the
 * others are left undecoded (so a branch into the middle of a block
 * starts a block there). A store into the bytes any block of the page
 * covers bumps the page's gen (code_page_touch), and code_page_validate
 * goes through the same path; a block of an older gen is dropped when next
 * entered and its slot decoded again.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/cpu.h"
#include "vmm/decode.h"

#if defined(__x86_64__)

_Static_assert(sizeof(struct tlb_entry) == 32, "the block's TLB index scales by 32");
_Static_assert(TLB_SIZE == 256, "the block's TLB index is one byte");
_Static_assert(offsetof(struct tlb_entry, tag) == 0 && offsetof(struct tlb_entry, addend) == 8 &&
	       offsetof(struct tlb_entry, code) == 16, "tlb_entry layout");
_Static_assert(offsetof(struct tlb_set, e[ACC_W]) - offsetof(struct tlb_set, e[ACC_R]) ==
	       TLB_SIZE * sizeof(struct tlb_entry), "write array follows the read array");

/* a store is at most 83 bytes and two miss exits of 35; the rest of a block is under 200 */
#define BUF_MAX		(JIT_MAX_INSNS * 160 + 256)

struct emit {
	uint8_t buf[BUF_MAX];
	unsigned len;
	int rax;		/* guest register whose value rax holds, or -1 */
	struct { unsigned at, k; } miss[2 * JIT_MAX_INSNS];	/* jne rel32 to patch; its insn */
	unsigned nmiss;
};

static void b1(struct emit *e, unsigned v)
{
	e->buf[e->len++] = (uint8_t)v;
}

static void b4(struct emit *e, uint32_t v)
{
	memcpy(e->buf + e->len, &v, 4);
	e->len += 4;
}

static void b8(struct emit *e, uint64_t v)
{
	memcpy(e->buf + e->len, &v, 8);
	e->len += 8;
}

/* ModRM (+ disp) for [rdi + 8 * xr], reg field `reg` */
static void xmem(struct emit *e, unsigned reg, unsigned xr)
{
	unsigned disp = 8 * xr;

	if (disp < 128) {
		b1(e, 0x40 | reg << 3 | 7);
		b1(e, disp);
	} else {
		b1(e, 0x80 | reg << 3 | 7);
		b4(e, disp);
	}
}

/* rax = x[r] */
static void ld_rax(struct emit *e, unsigned r)
{
	if (e->rax == (int)r)
		return;
	b1(e, 0x48), b1(e, 0x8b), xmem(e, 0, r);
	e->rax = (int)r;
}

/* x[r] = rax */
static void st_rax(struct emit *e, unsigned r)
{
	b1(e, 0x48), b1(e, 0x89), xmem(e, 0, r);
	e->rax = (int)r;
}

/* rcx = x[r] (64-bit) */
static void ld_rcx(struct emit *e, unsigned r)
{
	b1(e, 0x48), b1(e, 0x8b), xmem(e, 1, r);
}

static void movsxd_rax_eax(struct emit *e)
{
	b1(e, 0x48), b1(e, 0x63), b1(e, 0xc0);
}

/* setcc al; movzx eax, al */
static void setcc_rax(struct emit *e, unsigned cc)
{
	b1(e, 0x0f), b1(e, 0x90 | cc), b1(e, 0xc0);
	b1(e, 0x0f), b1(e, 0xb6), b1(e, 0xc0);
}

/*
 * The TLB test of an access of `size` bytes at rax = x[rs1] + imm, in the
 * array at rsi + arr: leaves rdx = the entry, jumps to insn k's miss exit
 * when the tag does not match (and for a store, when the page has code).
 */
static void tlb_test(struct emit *e, const struct dinsn *d, unsigned size, unsigned arr, bool store, unsigned k)
{
	ld_rax(e, d->rs1);
	if (d->imm) {
		b1(e, 0x48), b1(e, 0x05), b4(e, (uint32_t)d->imm);	/* add rax, imm32 */
	}
	e->rax = -1;
	b1(e, 0x48), b1(e, 0x89), b1(e, 0xc2);			/* mov rdx, rax */
	b1(e, 0x48), b1(e, 0xc1), b1(e, 0xea), b1(e, VM_PAGE_SHIFT);	/* shr rdx, 12 */
	b1(e, 0x0f), b1(e, 0xb6), b1(e, 0xd2);			/* movzx edx, dl */
	b1(e, 0xc1), b1(e, 0xe2), b1(e, 5);			/* shl edx, 5 */
	b1(e, 0x48), b1(e, 0x01), b1(e, 0xf2);			/* add rdx, rsi */
	b1(e, 0x48), b1(e, 0x89), b1(e, 0xc1);			/* mov rcx, rax */
	b1(e, 0x48), b1(e, 0x81), b1(e, 0xe1);			/* and rcx, imm32 */
	b4(e, (uint32_t)(~(VM_PAGE_SIZE - 1) | (size - 1)));
	b1(e, 0x48), b1(e, 0x3b), b1(e, 0x8a), b4(e, arr);	/* cmp rcx, [rdx + arr] */
	b1(e, 0x0f), b1(e, 0x85);				/* jne miss */
	e->miss[e->nmiss].at = e->len;
	e->miss[e->nmiss++].k = k;
	b4(e, 0);
	if (store) {
		b1(e, 0x48), b1(e, 0x83), b1(e, 0xba), b4(e, arr + 16), b1(e, 0);	/* cmp qword [rdx + code], 0 */
		b1(e, 0x0f), b1(e, 0x85);
		e->miss[e->nmiss].at = e->len;
		e->miss[e->nmiss++].k = k;
		b4(e, 0);
	}
	b1(e, 0x48), b1(e, 0x03), b1(e, 0x82), b4(e, arr + 8);	/* add rax, [rdx + addend] */
}

/* rax = the pc of the block's start + v (r11: the call's first pc, r10: this block's offset from it) */
static void pc_plus(struct emit *e, uint32_t v)
{
	b1(e, 0x4b), b1(e, 0x8d), b1(e, 0x84), b1(e, 0x13), b4(e, v);	/* lea rax, [r11 + r10 + v] */
}

/*
 * What a block does with an op: 0 ends it before, 1 takes it, 2 takes it
 * and ends. Without mem, loads and stores end it (a spanning VM's data
 * entries are all coherent ones, which a block would only leave at).
 */
static int op_kind(unsigned op, bool mem)
{
	switch (op) {
	case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU:
	case OP_SB: case OP_SH: case OP_SW: case OP_SD:
		return mem;
	case OP_LUI: case OP_LI: case OP_MV: case OP_NOP: case OP_FENCE:
	case OP_ADDI: case OP_SLTI: case OP_SLTIU: case OP_XORI: case OP_ORI: case OP_ANDI:
	case OP_SLLI: case OP_SRLI: case OP_SRAI:
	case OP_ADD: case OP_SUB: case OP_SLL: case OP_SLT: case OP_SLTU: case OP_XOR:
	case OP_SRL: case OP_SRA: case OP_OR: case OP_AND:
	case OP_ADDIW: case OP_SLLIW: case OP_SRLIW: case OP_SRAIW:
	case OP_ADDW: case OP_SUBW: case OP_SLLW: case OP_SRLW: case OP_SRAW:
	case OP_MUL: case OP_MULW:
		return 1;
	case OP_AUIPC:
		return 1;
	case OP_JAL:
	case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE: case OP_BLTU: case OP_BGEU:
	case OP_BEQZ: case OP_BNEZ:
		return 2;
	default:
		return 0;
	}
}

/* Emit instruction k (d); the block so far covers off_k bytes. */
static void emit_insn(struct emit *e, const struct dinsn *d, unsigned k, uint32_t at_k)
{
	unsigned op = d->op & ~OP_C;
	uint32_t imm = (uint32_t)d->imm;

	switch (op) {
	case OP_NOP: case OP_FENCE:
		return;
	case OP_LUI: case OP_LI:
		b1(e, 0x48), b1(e, 0xc7), b1(e, 0xc0), b4(e, imm);	/* mov rax, simm32 */
		break;
	case OP_AUIPC:
		pc_plus(e, at_k + imm);
		break;
	case OP_MV:
		ld_rax(e, d->rs1);
		break;
	case OP_ADDI: case OP_XORI: case OP_ORI: case OP_ANDI: {
		static const uint8_t opc[OP_COUNT] = {
			[OP_ADDI] = 0x05, [OP_XORI] = 0x35, [OP_ORI] = 0x0d, [OP_ANDI] = 0x25,
		};
		ld_rax(e, d->rs1);
		b1(e, 0x48), b1(e, opc[op]), b4(e, imm);		/* op rax, simm32 */
		break;
	}
	case OP_SLTI: case OP_SLTIU:
		ld_rax(e, d->rs1);
		b1(e, 0x48), b1(e, 0x3d), b4(e, imm);			/* cmp rax, simm32 */
		setcc_rax(e, op == OP_SLTI ? 0xc : 0x2);		/* setl / setb */
		break;
	case OP_SLLI: case OP_SRLI: case OP_SRAI:
		ld_rax(e, d->rs1);
		b1(e, 0x48), b1(e, 0xc1), b1(e, op == OP_SLLI ? 0xe0 : op == OP_SRLI ? 0xe8 : 0xf8), b1(e, imm & 63);
		break;
	case OP_ADDIW:
		ld_rax(e, d->rs1);
		b1(e, 0x05), b4(e, imm);				/* add eax, imm32 */
		movsxd_rax_eax(e);
		break;
	case OP_SLLIW: case OP_SRLIW: case OP_SRAIW:
		ld_rax(e, d->rs1);
		b1(e, 0xc1), b1(e, op == OP_SLLIW ? 0xe0 : op == OP_SRLIW ? 0xe8 : 0xf8), b1(e, imm & 31);
		movsxd_rax_eax(e);
		break;
	case OP_ADD: case OP_SUB: case OP_XOR: case OP_OR: case OP_AND: {
		static const uint8_t opc[OP_COUNT] = {
			[OP_ADD] = 0x03, [OP_SUB] = 0x2b, [OP_XOR] = 0x33, [OP_OR] = 0x0b, [OP_AND] = 0x23,
		};
		ld_rax(e, d->rs1);
		b1(e, 0x48), b1(e, opc[op]), xmem(e, 0, d->rs2);	/* op rax, [x + rs2] */
		break;
	}
	case OP_ADDW: case OP_SUBW:
		ld_rax(e, d->rs1);
		b1(e, op == OP_ADDW ? 0x03 : 0x2b), xmem(e, 0, d->rs2);	/* op eax, [x + rs2] */
		movsxd_rax_eax(e);
		break;
	case OP_SLT: case OP_SLTU:
		ld_rax(e, d->rs1);
		b1(e, 0x48), b1(e, 0x3b), xmem(e, 0, d->rs2);		/* cmp rax, [x + rs2] */
		setcc_rax(e, op == OP_SLT ? 0xc : 0x2);
		break;
	case OP_SLL: case OP_SRL: case OP_SRA:
		ld_rax(e, d->rs1);
		ld_rcx(e, d->rs2);
		b1(e, 0x48), b1(e, 0xd3), b1(e, op == OP_SLL ? 0xe0 : op == OP_SRL ? 0xe8 : 0xf8);	/* shift rax, cl */
		break;
	case OP_SLLW: case OP_SRLW: case OP_SRAW:
		ld_rax(e, d->rs1);
		ld_rcx(e, d->rs2);
		b1(e, 0xd3), b1(e, op == OP_SLLW ? 0xe0 : op == OP_SRLW ? 0xe8 : 0xf8);	/* shift eax, cl */
		movsxd_rax_eax(e);
		break;
	case OP_MUL:
		ld_rax(e, d->rs1);
		b1(e, 0x48), b1(e, 0x0f), b1(e, 0xaf), xmem(e, 0, d->rs2);	/* imul rax, [x + rs2] */
		break;
	case OP_MULW:
		ld_rax(e, d->rs1);
		b1(e, 0x0f), b1(e, 0xaf), xmem(e, 0, d->rs2);		/* imul eax, [x + rs2] */
		movsxd_rax_eax(e);
		break;
	case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU: {
		unsigned size = op == OP_LB || op == OP_LBU ? 1 : op == OP_LH || op == OP_LHU ? 2 :
				op == OP_LD ? 8 : 4;

		tlb_test(e, d, size, 0, false, k);
		switch (op) {
		case OP_LB:  b1(e, 0x48), b1(e, 0x0f), b1(e, 0xbe), b1(e, 0x00); break;	/* movsx rax, byte [rax] */
		case OP_LBU: b1(e, 0x0f), b1(e, 0xb6), b1(e, 0x00); break;		/* movzx eax, byte [rax] */
		case OP_LH:  b1(e, 0x48), b1(e, 0x0f), b1(e, 0xbf), b1(e, 0x00); break;	/* movsx rax, word [rax] */
		case OP_LHU: b1(e, 0x0f), b1(e, 0xb7), b1(e, 0x00); break;		/* movzx eax, word [rax] */
		case OP_LW:  b1(e, 0x48), b1(e, 0x63), b1(e, 0x00); break;		/* movsxd rax, [rax] */
		case OP_LWU: b1(e, 0x8b), b1(e, 0x00); break;			/* mov eax, [rax] */
		default:     b1(e, 0x48), b1(e, 0x8b), b1(e, 0x00); break;		/* mov rax, [rax] */
		}
		break;
	}
	case OP_SB: case OP_SH: case OP_SW: case OP_SD: {
		unsigned size = op == OP_SB ? 1 : op == OP_SH ? 2 : op == OP_SW ? 4 : 8;

		tlb_test(e, d, size, TLB_SIZE * sizeof(struct tlb_entry), true, k);
		ld_rcx(e, d->rs2);
		switch (op) {
		case OP_SB: b1(e, 0x88), b1(e, 0x08); break;			/* mov [rax], cl */
		case OP_SH: b1(e, 0x66), b1(e, 0x89), b1(e, 0x08); break;	/* mov [rax], cx */
		case OP_SW: b1(e, 0x89), b1(e, 0x08); break;			/* mov [rax], ecx */
		default:    b1(e, 0x48), b1(e, 0x89), b1(e, 0x08); break;	/* mov [rax], rcx */
		}
		e->rax = -1;
		return;	/* no register result */
	}
	default:
		abort();	/* op_kind() said yes */
	}
	st_rax(e, d->rd);
}

/*
 * Exits and chaining. Inside a call, r8 holds the budget left, r9 the
 * instructions retired by the blocks run before this one, r10 the pc of
 * this block's start relative to the pc the call began at. A block's
 * exit adds its own and jumps on: at first to a stub that returns
 * { (r9 << 32) | r10, the address of the jump's rel32 }; the run loop then
 * points that jump at the next block's chained entry when the next slot
 * starts a block of the same page (same gen, so equally valid), and later
 * rounds go from block to block without leaving the host code. The chained
 * entry checks that the budget holds the whole block, else returns.
 */
static void budget_ret(struct emit *e)
{
	b1(e, 0x4c), b1(e, 0x89), b1(e, 0xc8);		/* mov rax, r9 */
	b1(e, 0x48), b1(e, 0xc1), b1(e, 0xe0), b1(e, 32);	/* shl rax, 32 */
	b1(e, 0x44), b1(e, 0x89), b1(e, 0xd1);		/* mov ecx, r10d */
	b1(e, 0x48), b1(e, 0x09), b1(e, 0xc8);		/* or rax, rcx */
}

/* leave with n retired and the pc at delta from the block's start; returns the rel32's offset */
static unsigned exit_jmp(struct emit *e, unsigned n, int32_t delta)
{
	b1(e, 0x49), b1(e, 0x83), b1(e, 0xc1), b1(e, n);	/* add r9, n */
	b1(e, 0x49), b1(e, 0x83), b1(e, 0xe8), b1(e, n);	/* sub r8, n */
	b1(e, 0x49), b1(e, 0x81), b1(e, 0xc2), b4(e, (uint32_t)delta);	/* add r10, delta */
	b1(e, 0xe9), b4(e, 0);				/* jmp rel32: the return stub, or the next block */
	return e->len - 4;
}

static void patch_rel32(struct emit *e, unsigned at, unsigned target)
{
	uint32_t rel = (uint32_t)((int)target - (int)(at + 4));

	memcpy(e->buf + at, &rel, 4);
}

/* the return stub of the exit whose rel32 is at `at` */
static void exit_ret(struct emit *e, unsigned at)
{
	patch_rel32(e, at, e->len);
	b1(e, 0x48), b1(e, 0x8d), b1(e, 0x15);		/* lea rdx, [rip + disp32]: the rel32 */
	b4(e, (uint32_t)((int)at - (int)(e->len + 4)));
	budget_ret(e);
	b1(e, 0xc3);
}

/* instruction k missed: return with k more retired; JIT_MISS0 if nothing retired at all */
static void miss_ret(struct emit *e, unsigned k, uint32_t at_k)
{
	if (k) {
		b1(e, 0x49), b1(e, 0x83), b1(e, 0xc1), b1(e, k);	/* add r9, k */
	}
	b1(e, 0x49), b1(e, 0x8d), b1(e, 0x82), b4(e, at_k);	/* lea rax, [r10 + at_k] */
	b1(e, 0x89), b1(e, 0xc0);				/* mov eax, eax */
	b1(e, 0x49), b1(e, 0xc1), b1(e, 0xe1), b1(e, 32);		/* shl r9, 32 */
	b1(e, 0x31), b1(e, 0xd2);				/* xor edx, edx: no patch */
	b1(e, 0x4c), b1(e, 0x09), b1(e, 0xc8);			/* or rax, r9 */
	if (!k) {
		b1(e, 0x75), b1(e, 10);				/* jnz ret */
		b1(e, 0x48), b1(e, 0xb8), b8(e, JIT_MISS0);	/* mov rax, JIT_MISS0 */
	}
	b1(e, 0xc3);
}

static unsigned branch_cc(const struct dinsn *d)
{
	switch (d->op & ~OP_C) {
	case OP_BEQ: case OP_BEQZ: return 0x4;	/* e */
	case OP_BNE: case OP_BNEZ: return 0x5;	/* ne */
	case OP_BLT: return 0xc;		/* l */
	case OP_BGE: return 0xd;		/* ge */
	case OP_BLTU: return 0x2;		/* b */
	default: return 0x3;			/* ae */
	}
}

struct jit_block *jit_build(struct pmap *p, struct code_page *cp, const uint8_t *host, unsigned off,
			    const void *plain, bool memops)
{
	struct dinsn ins[JIT_MAX_INSNS];
	uint16_t at[JIT_MAX_INSNS + 1];	/* byte offset of insn k from the block's start */
	unsigned n = 0, o = off, chain, budget_jl, jcc = 0, x_nt, x_t = 0;
	bool branch = false, jal;
	struct emit *e;
	struct jit_block *b;
	uint8_t *mem;

	if (cp->kills > JIT_MAX_KILLS || !pmap_jit_alloc(p, 0))
		return NULL;
	at[0] = 0;
	while (n < JIT_MAX_INSNS && o < VM_PAGE_SIZE) {
		uint16_t lo, hi = 0;
		unsigned len;
		int kind;

		memcpy(&lo, host + o, 2);
		len = (lo & 3) == 3 ? 4 : 2;
		if (o + len > VM_PAGE_SIZE)
			break;
		if (n == 0) {
			ins[0] = cp->slot[off >> 1];
		} else {
			if (len == 4)
				memcpy(&hi, host + o + 2, 2);
			decode_insn(lo | (uint32_t)hi << 16, &ins[n]);
		}
		kind = op_kind(ins[n].op & ~OP_C, memops);
		if (!kind)
			break;
		o += len;
		at[++n] = (uint16_t)(o - off);
		if (kind == 2) {
			branch = true;
			break;
		}
	}
	if (n < 2 && !branch)
		return NULL;	/* (a lone branch is worth a block: it chains) */
	if (!cp->jit) {
		cp->jit = calloc(CODE_SLOTS, sizeof(*cp->jit));
		if (!cp->jit)
			return NULL;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	e->len = 0;
	e->rax = -1;
	e->nmiss = 0;

	/* entry from the run loop: nothing retired yet, at the start */
	b1(e, 0x49), b1(e, 0x89), b1(e, 0xd0);		/* mov r8, rdx */
	b1(e, 0x45), b1(e, 0x31), b1(e, 0xc9);		/* xor r9d, r9d */
	b1(e, 0x45), b1(e, 0x31), b1(e, 0xd2);		/* xor r10d, r10d */
	b1(e, 0x49), b1(e, 0x89), b1(e, 0xcb);		/* mov r11, rcx: the pc */
	chain = e->len;					/* entry from another block */
	b1(e, 0x49), b1(e, 0x83), b1(e, 0xf8), b1(e, n);	/* cmp r8, n */
	b1(e, 0x0f), b1(e, 0x8c), b4(e, 0);		/* jl budget */
	budget_jl = e->len - 4;
	for (unsigned k = 0; k < n - (branch ? 1 : 0); k++)
		emit_insn(e, &ins[k], k, at[k]);
	jal = branch && (ins[n - 1].op & ~OP_C) == OP_JAL;
	if (jal) {
		/* rd = the pc after it; always taken: the only exit */
		pc_plus(e, at[n]);
		st_rax(e, ins[n - 1].rd);
		x_nt = exit_jmp(e, n, (int32_t)at[n - 1] + ins[n - 1].imm);
		exit_ret(e, x_nt);
		goto tail;
	}
	if (branch) {
		const struct dinsn *d = &ins[n - 1];

		ld_rax(e, d->rs1);
		b1(e, 0x48), b1(e, 0x3b), xmem(e, 0, d->rs2);	/* cmp rax, [x + rs2] (x0 reads 0) */
		b1(e, 0x0f), b1(e, 0x80 | branch_cc(d)), b4(e, 0);	/* jcc taken */
		jcc = e->len - 4;
	}
	x_nt = exit_jmp(e, n, at[n]);
	if (branch) {
		patch_rel32(e, jcc, e->len);
		x_t = exit_jmp(e, n, (int32_t)at[n - 1] + ins[n - 1].imm);
	}
	exit_ret(e, x_nt);
	if (branch)
		exit_ret(e, x_t);
tail:
	patch_rel32(e, budget_jl, e->len);
	b1(e, 0x31), b1(e, 0xd2);			/* xor edx, edx */
	budget_ret(e);
	b1(e, 0xc3);
	for (unsigned i = 0; i < e->nmiss; i++) {
		patch_rel32(e, e->miss[i].at, e->len);
		miss_ret(e, e->miss[i].k, at[e->miss[i].k]);
	}
	mem = pmap_jit_alloc(p, sizeof(*b) + 16 + e->len);
	if (!mem) {
		free(e);
		return NULL;
	}
	b = (struct jit_block *)mem;
	mem += (sizeof(*b) + 15) & ~(size_t)15;
	memcpy(mem, e->buf, e->len);
	free(e);
	b->code = (struct jit_ret (*)(uint64_t *, const struct tlb_entry *, int64_t, uint64_t))(void *)mem;
	b->chain = mem + chain;
	b->plain = plain;
	b->gen = cp->gen;
	b->n = n;
	/* the bytes compiled are the bytes decoded: FENCE.I's check compares them */
	memcpy(cp->snap + off, host + off, at[n]);
	if (cp->jit_hi == 0 || off < cp->jit_lo)
		cp->jit_lo = (uint16_t)off;
	if (off + at[n] > cp->jit_hi)
		cp->jit_hi = (uint16_t)(off + at[n]);
	cp->jit[off >> 1] = b;
	return b;
}

#else	/* not x86-64: the interpreter alone */

struct jit_block *jit_build(struct pmap *p, struct code_page *cp, const uint8_t *host, unsigned off,
			    const void *plain, bool mem)
{
	(void)p, (void)cp, (void)host, (void)off, (void)plain, (void)mem;
	return NULL;
}

#endif
