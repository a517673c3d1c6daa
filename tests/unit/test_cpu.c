/*
 * test_cpu.c — unit tests of the hart interpreter (vmm/cpu*.c, mmu.c,
 * csr.c, decode.c, pmap.c) on a tiny fake board defined here.
 *
 * The fake board defines every vm_* function of vm.h (and so the linker
 * takes nothing from the real board.c): RAM through a pmap at 0x80000000,
 * one MMIO device at T_DEV (a register, and a write to T_EXIT requests
 * exit), a ROM at 0x1000, an mtime the test sets, and an SBI hook.
 * Programs are hand-assembled with the enc_* helpers below (compressed
 * words come from riscv64-linux-gnu-as, embedded as numbers), put into RAM
 * and run with hart_run; results are read back from registers and RAM.
 *
 * Convention: a program ends with WFI (M mode, mie = 0: hart_run returns
 * with HART_WFI) or with a store to T_EXIT.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm/cpu.h"
#include "vmm/decode.h"

#define T_RAM		0x80000000ull
#define T_RAM_SIZE	(16ull << 20)
#define T_DEV		0x10000000ull
#define T_EXIT		(T_DEV + 8)
#define T_ROM		0x1000ull
#define T_MHANDLER	(T_RAM + 0x1000)	/* mcause->t0, mtval->t1, mepc->t2, wfi */
#define T_SHANDLER	(T_RAM + 0x2000)	/* same with s CSRs */

/* ---------------------------------------------------------------- fake board */

struct vm {
	struct pmap *pmap;
	uint64_t mtime;
	bool exit;
	bool sbi;
	unsigned sbi_calls;
	uint64_t dev_reg;
	unsigned mmio_reads, mmio_writes;
	uint32_t rom[16];
};

struct pmap *vm_pmap(struct vm *vm) { return vm->pmap; }
uint8_t *vm_ram_page(struct vm *vm, uint64_t gpa) { return pmap_page(vm->pmap, gpa); }
uint8_t *vm_ram_page_write(struct vm *vm, uint64_t gpa) { return pmap_page_write(vm->pmap, gpa); }

int vm_mmio_read(struct vm *vm, struct hart *h, uint64_t gpa, unsigned size, uint64_t *val)
{
	(void)h;
	vm->mmio_reads++;
	if (gpa >= T_DEV && gpa < T_DEV + 0x100) {
		*val = vm->dev_reg;
		return 0;
	}
	if (gpa >= T_ROM && gpa + size <= T_ROM + sizeof(vm->rom)) {
		uint64_t v = 0;
		memcpy(&v, (uint8_t *)vm->rom + (gpa - T_ROM), size);
		*val = v;
		return 0;
	}
	return -1;
}

int vm_mmio_write(struct vm *vm, struct hart *h, uint64_t gpa, unsigned size, uint64_t val)
{
	(void)h;
	(void)size;
	vm->mmio_writes++;
	if (gpa == T_EXIT) {
		vm->exit = true;
		return 0;
	}
	if (gpa >= T_DEV && gpa < T_DEV + 0x100) {
		vm->dev_reg = val;
		return 0;
	}
	return -1;
}

uint64_t vm_mtime(struct vm *vm) { return vm->mtime; }
uint64_t vm_mtime_to_ns(struct vm *vm, uint64_t mtime) { (void)vm; return mtime * 100; }

bool vm_sbi_ecall(struct vm *vm, struct hart *h)
{
	if (!vm->sbi)
		return false;
	vm->sbi_calls++;
	hart_set_reg(h, 10, 0x1234);
	hart_set_reg(h, 11, hart_get_reg(h, 17));
	return true;
}

bool vm_exit_requested(const struct vm *vm) { return vm->exit; }
/* the VM runs on one node here: no coherent memory, no shadows */
struct coh_mem *vm_coh(struct vm *vm) { (void)vm; return NULL; }
bool vm_coh_spans(const struct vm *vm) { (void)vm; return false; }
int vm_ram_maddr(struct vm *vm, struct hart *h, uint64_t gpa, bool write, uint64_t *maddr)
{ (void)vm; (void)h; (void)gpa; (void)write; (void)maddr; return -EFAULT; }
void vm_code_changed(struct vm *vm, uint64_t gpa) { (void)vm; (void)gpa; }
void vm_direct_drop(struct vm *vm, uint64_t gpa) { (void)vm; (void)gpa; }
void vm_flush_forward(struct vm *vm, unsigned hartid, bool icache) { (void)vm; (void)hartid; (void)icache; }
void vm_irq_forward(struct vm *vm, unsigned hartid, unsigned irq, bool level)
{ (void)vm; (void)hartid; (void)irq; (void)level; }

static void *t_alloc_page(void *opaque)
{
	void *p = aligned_alloc(4096, 4096);
	(void)opaque;
	if (p)
		memset(p, 0, 4096);
	return p;
}

static void t_free_page(void *opaque, void *p)
{
	(void)opaque;
	free(p);
}

struct t_ctx {
	struct vm vm;
	struct hart *h;
};

static int t_setup(void **state)
{
	struct t_ctx *c = calloc(1, sizeof(*c));
	struct vmm_mem_ops ops = { .alloc_page = t_alloc_page, .free_page = t_free_page };

	c->vm.pmap = pmap_new(&ops, T_RAM, T_RAM_SIZE);
	c->h = hart_new(&c->vm, 0);
	if (!c->vm.pmap || !c->h)
		return -1;
	*state = c;
	return 0;
}

static int t_teardown(void **state)
{
	struct t_ctx *c = *state;
	hart_free(c->h);
	pmap_free(c->vm.pmap);
	free(c);
	return 0;
}

/* ---------------------------------------------------------------- encoders */

enum { ZERO, RA, SP, GP, TP, T0, T1, T2, S0, S1, A0, A1, A2, A3, A4, A5, A6, A7,
       S2, S3, S4, S5, S6, S7, S8, S9, S10, S11, T3, T4, T5, T6 };

static uint32_t enc_r(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op)
{
	return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static uint32_t enc_i(int32_t imm, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op)
{
	return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static uint32_t enc_s(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3)
{
	uint32_t u = (uint32_t)imm;
	return ((u >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 0x1f) << 7 | 0x23;
}

static uint32_t enc_b(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3)
{
	uint32_t u = (uint32_t)imm;
	return ((u >> 12) & 1) << 31 | ((u >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
	       ((u >> 1) & 0xf) << 8 | ((u >> 11) & 1) << 7 | 0x63;
}

static uint32_t enc_j(int32_t imm, uint32_t rd)
{
	uint32_t u = (uint32_t)imm;
	return ((u >> 20) & 1) << 31 | ((u >> 1) & 0x3ff) << 21 | ((u >> 11) & 1) << 20 |
	       ((u >> 12) & 0xff) << 12 | rd << 7 | 0x6f;
}

#define ADDI(rd, rs, i)		enc_i(i, rs, 0, rd, 0x13)
#define ADDIW(rd, rs, i)	enc_i(i, rs, 0, rd, 0x1b)
#define SLLIW(rd, rs, sh)	enc_i(sh, rs, 1, rd, 0x1b)
#define SRAIW(rd, rs, sh)	enc_i(0x400 | (sh), rs, 5, rd, 0x1b)
#define SRAI(rd, rs, sh)	enc_i(0x400 | (sh), rs, 5, rd, 0x13)
#define LUI(rd, imm)		(((uint32_t)(imm) & 0xfffff000u) | (uint32_t)(rd) << 7 | 0x37)
#define AUIPC(rd, imm)		(((uint32_t)(imm) & 0xfffff000u) | (uint32_t)(rd) << 7 | 0x17)
#define OP(f7, f3, rd, a, b)	enc_r(f7, b, a, f3, rd, 0x33)
#define OPW(f7, f3, rd, a, b)	enc_r(f7, b, a, f3, rd, 0x3b)
#define ADD(rd, a, b)		OP(0, 0, rd, a, b)
#define SUB(rd, a, b)		OP(0x20, 0, rd, a, b)
#define SRA(rd, a, b)		OP(0x20, 5, rd, a, b)
#define SLT(rd, a, b)		OP(0, 2, rd, a, b)
#define SLTU(rd, a, b)		OP(0, 3, rd, a, b)
#define MUL(rd, a, b)		OP(1, 0, rd, a, b)
#define MULH(rd, a, b)		OP(1, 1, rd, a, b)
#define MULHSU(rd, a, b)	OP(1, 2, rd, a, b)
#define MULHU(rd, a, b)		OP(1, 3, rd, a, b)
#define DIV(rd, a, b)		OP(1, 4, rd, a, b)
#define DIVU(rd, a, b)		OP(1, 5, rd, a, b)
#define REM(rd, a, b)		OP(1, 6, rd, a, b)
#define REMU(rd, a, b)		OP(1, 7, rd, a, b)
#define ADDW(rd, a, b)		OPW(0, 0, rd, a, b)
#define SUBW(rd, a, b)		OPW(0x20, 0, rd, a, b)
#define SLLW(rd, a, b)		OPW(0, 1, rd, a, b)
#define SRLW(rd, a, b)		OPW(0, 5, rd, a, b)
#define SRAW(rd, a, b)		OPW(0x20, 5, rd, a, b)
#define MULW(rd, a, b)		OPW(1, 0, rd, a, b)
#define DIVW(rd, a, b)		OPW(1, 4, rd, a, b)
#define DIVUW(rd, a, b)		OPW(1, 5, rd, a, b)
#define REMW(rd, a, b)		OPW(1, 6, rd, a, b)
#define REMUW(rd, a, b)		OPW(1, 7, rd, a, b)
#define LB(rd, rs, i)		enc_i(i, rs, 0, rd, 3)
#define LH(rd, rs, i)		enc_i(i, rs, 1, rd, 3)
#define LW(rd, rs, i)		enc_i(i, rs, 2, rd, 3)
#define LD(rd, rs, i)		enc_i(i, rs, 3, rd, 3)
#define LBU(rd, rs, i)		enc_i(i, rs, 4, rd, 3)
#define LHU(rd, rs, i)		enc_i(i, rs, 5, rd, 3)
#define LWU(rd, rs, i)		enc_i(i, rs, 6, rd, 3)
#define SB(rs2, rs1, i)		enc_s(i, rs2, rs1, 0)
#define SH(rs2, rs1, i)		enc_s(i, rs2, rs1, 1)
#define SW(rs2, rs1, i)		enc_s(i, rs2, rs1, 2)
#define SD(rs2, rs1, i)		enc_s(i, rs2, rs1, 3)
#define BEQ(a, b, off)		enc_b(off, b, a, 0)
#define BNE(a, b, off)		enc_b(off, b, a, 1)
#define BLT(a, b, off)		enc_b(off, b, a, 4)
#define JAL(rd, off)		enc_j(off, rd)
#define JALR(rd, rs, i)		enc_i(i, rs, 0, rd, 0x67)
#define AMO(f5, f3, rd, rs1, rs2) ((uint32_t)(f5) << 27 | (uint32_t)(rs2) << 20 | (uint32_t)(rs1) << 15 | \
				   (uint32_t)(f3) << 12 | (uint32_t)(rd) << 7 | 0x2f)
#define CSRRW(rd, csr, rs)	enc_i(csr, rs, 1, rd, 0x73)
#define CSRRS(rd, csr, rs)	enc_i(csr, rs, 2, rd, 0x73)
#define CSRRC(rd, csr, rs)	enc_i(csr, rs, 3, rd, 0x73)
#define CSRRWI(rd, csr, z)	enc_i(csr, z, 5, rd, 0x73)
#define CSRRSI(rd, csr, z)	enc_i(csr, z, 6, rd, 0x73)
#define CSRR(rd, csr)		CSRRS(rd, csr, 0)
#define CSRW(csr, rs)		CSRRW(0, csr, rs)
#define ECALL			0x00000073u
#define EBREAK			0x00100073u
#define MRET			0x30200073u
#define SRET			0x10200073u
#define WFI			0x10500073u
#define FENCE_I			0x0000100fu
#define SFENCE_VMA(a, b)	enc_r(0x09, b, a, 0, 0, 0x73)

/* ---------------------------------------------------------------- helpers */

static void t_put(struct t_ctx *c, uint64_t gpa, const uint32_t *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t a = gpa + 4 * i;
		uint8_t *p = pmap_page(c->vm.pmap, a);
		assert_non_null(p);
		memcpy(p + (a & 4095), &w[i], 4);
	}
}

static void t_put64(struct t_ctx *c, uint64_t gpa, uint64_t v)
{
	uint8_t *p = pmap_page(c->vm.pmap, gpa);
	assert_non_null(p);
	memcpy(p + (gpa & 4095), &v, 8);
}

static uint64_t t_get64(struct t_ctx *c, uint64_t gpa)
{
	uint64_t v;
	uint8_t *p = pmap_page(c->vm.pmap, gpa);
	assert_non_null(p);
	memcpy(&v, p + (gpa & 4095), 8);
	return v;
}

/* Handlers that report cause/tval/epc in t0/t1/t2 and stop. */
static void t_handlers(struct t_ctx *c)
{
	const uint32_t m[] = { CSRR(T0, 0x342), CSRR(T1, 0x343), CSRR(T2, 0x341), WFI };
	const uint32_t s[] = { CSRR(T0, 0x142), CSRR(T1, 0x143), CSRR(T2, 0x141), WFI };
	t_put(c, T_MHANDLER, m, 4);
	t_put(c, T_SHANDLER, s, 4);
}

/*
 * Enter `priv` at `entry` through MRET from an M-mode prologue at RAM base,
 * with satp, medeleg, mstatus extra bits from the registers given.
 */
static void t_prologue(struct t_ctx *c, enum priv priv, uint64_t entry, uint64_t satp,
		       uint64_t medeleg, uint64_t mstatus_extra)
{
	const uint32_t p[] = {
		CSRW(0x180, T3), CSRW(0x302, T4), CSRW(0x105, T5), CSRW(0x341, T6),
		CSRW(0x300, S11), CSRW(0x305, S10), MRET,
	};
	t_handlers(c);
	t_put(c, T_RAM, p, 7);
	hart_reset(c->h, T_RAM, PRIV_M, 0, 0);
	hart_set_reg(c->h, T3, satp);
	hart_set_reg(c->h, T4, medeleg);
	hart_set_reg(c->h, T5, T_SHANDLER);
	hart_set_reg(c->h, T6, entry);
	hart_set_reg(c->h, S11, ((uint64_t)priv << MS_MPP_SHIFT) | mstatus_extra);
	hart_set_reg(c->h, S10, T_MHANDLER);
}

/* ---------------------------------------------------------------- tests */

static void test_alu_corners(void **state)
{
	struct t_ctx *c = *state;
	const uint32_t p[] = {
		DIV(S2, A0, ZERO),	/* -1 */
		DIVU(S3, A0, ZERO),	/* ~0 */
		REM(S4, A0, ZERO),	/* a0 */
		REMU(S5, A0, ZERO),	/* a0 */
		DIV(S6, A1, A2),	/* INT64_MIN / -1 = INT64_MIN */
		REM(S7, A1, A2),	/* 0 */
		DIVW(S8, A3, A2),	/* INT32_MIN / -1 = INT32_MIN, sign-extended */
		REMW(S9, A3, A2),	/* 0 */
		DIVUW(S10, A3, ZERO),	/* ~0 */
		REMUW(S11, A3, ZERO),	/* sext(a3[31:0]) */
		MULH(T3, A1, A1),	/* 2^126 >> 64 = 2^62 */
		MULHU(T4, A2, A2),	/* (2^64-1)^2 >> 64 = 2^64 - 2 */
		MULHSU(T5, A2, A2),	/* -1 * (2^64-1) >> 64 = -1 */
		ADDW(T6, A4, A4),	/* 0x7fffffff*2 = -2 sext */
		WFI,
	};
	struct hart *h = c->h;

	t_handlers(c);
	t_put(c, T_RAM, p, sizeof(p) / 4);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	hart_set_reg(h, A0, 12345);
	hart_set_reg(h, A1, 0x8000000000000000ull);
	hart_set_reg(h, A2, ~0ull);
	hart_set_reg(h, A3, 0xdeadbeef80000000ull);
	hart_set_reg(h, A4, 0x7fffffff);
	assert_int_equal(hart_run(h, 1000), sizeof(p) / 4);
	assert_int_equal(hart_get_state(h), HART_WFI);
	assert_int_equal(hart_get_reg(h, S2), ~0ull);
	assert_int_equal(hart_get_reg(h, S3), ~0ull);
	assert_int_equal(hart_get_reg(h, S4), 12345);
	assert_int_equal(hart_get_reg(h, S5), 12345);
	assert_int_equal(hart_get_reg(h, S6), 0x8000000000000000ull);
	assert_int_equal(hart_get_reg(h, S7), 0);
	assert_int_equal(hart_get_reg(h, S8), 0xffffffff80000000ull);
	assert_int_equal(hart_get_reg(h, S9), 0);
	assert_int_equal(hart_get_reg(h, S10), ~0ull);
	assert_int_equal(hart_get_reg(h, S11), 0xffffffff80000000ull);
	assert_int_equal(hart_get_reg(h, T3), 1ull << 62);
	assert_int_equal(hart_get_reg(h, T4), ~0ull - 1);
	assert_int_equal(hart_get_reg(h, T5), ~0ull);
	assert_int_equal(hart_get_reg(h, T6), ~0ull - 1);
	assert_int_equal(hart_instret(h), sizeof(p) / 4);
}

static void test_alu_wforms(void **state)
{
	struct t_ctx *c = *state;
	const uint32_t p[] = {
		ADDIW(S2, A0, 1),	/* 0x7fffffff + 1 -> 0xffffffff80000000 */
		SLLIW(S3, A1, 31),	/* 1 << 31 sext */
		SRAIW(S4, A2, 4),	/* 0x80000000 >> 4 arith = 0xf8000000 sext */
		SRLW(S5, A2, A3),	/* shift amount a3 & 31 = 1 */
		SRAW(S6, A2, A3),
		SLLW(S7, A1, A4),	/* a4 = 32+3: shift 3 */
		SUBW(S8, ZERO, A1),	/* -1 */
		MULW(S9, A0, A0),	/* low 32 bits of 0x3fffffff00000001 = 1 */
		SRAI(S10, A2, 63),	/* a2 positive 64-bit: 0 */
		SLT(S11, A5, ZERO),	/* -5 < 0 */
		SLTU(T3, ZERO, A5),
		ADDI(ZERO, A0, 5),	/* x0 stays 0 */
		ADD(T4, ZERO, ZERO),
		LUI(T5, 0x80000000u),	/* sext: 0xffffffff80000000 */
		AUIPC(T6, 0x1000),
		WFI,
	};
	struct hart *h = c->h;

	t_handlers(c);
	t_put(c, T_RAM, p, sizeof(p) / 4);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	hart_set_reg(h, A0, 0x7fffffff);
	hart_set_reg(h, A1, 1);
	hart_set_reg(h, A2, 0x80000000);
	hart_set_reg(h, A3, 33);
	hart_set_reg(h, A4, 35);
	hart_set_reg(h, A5, (uint64_t)-5);
	hart_run(h, 1000);
	assert_int_equal(hart_get_reg(h, S2), 0xffffffff80000000ull);
	assert_int_equal(hart_get_reg(h, S3), 0xffffffff80000000ull);
	assert_int_equal(hart_get_reg(h, S4), 0xfffffffff8000000ull);
	assert_int_equal(hart_get_reg(h, S5), 0x40000000ull);
	assert_int_equal(hart_get_reg(h, S6), 0xffffffffc0000000ull);
	assert_int_equal(hart_get_reg(h, S7), 8);
	assert_int_equal(hart_get_reg(h, S8), ~0ull);
	assert_int_equal(hart_get_reg(h, S9), 1);
	assert_int_equal(hart_get_reg(h, S10), 0);
	assert_int_equal(hart_get_reg(h, S11), 1);
	assert_int_equal(hart_get_reg(h, T3), 1);
	assert_int_equal(hart_get_reg(h, ZERO), 0);
	assert_int_equal(hart_get_reg(h, T4), 0);
	assert_int_equal(hart_get_reg(h, T5), 0xffffffff80000000ull);
	assert_int_equal(hart_get_reg(h, T6), T_RAM + 14 * 4 + 0x1000);
}

static void test_loads_stores(void **state)
{
	struct t_ctx *c = *state;
	const uint64_t data = T_RAM + 0x300000;
	const uint32_t p[] = {
		LB(S2, S1, 7), LBU(S3, S1, 7), LH(S4, S1, 6), LHU(S5, S1, 6),
		LW(S6, S1, 4), LWU(S7, S1, 4), LD(S8, S1, 0),
		LD(S9, S1, 3),		/* misaligned, same page */
		LD(S10, A0, 0),		/* misaligned across the page boundary */
		SD(A1, A0, 2),		/* misaligned store across the page boundary */
		LD(S11, A0, 2),
		SH(A1, S1, 17),		/* misaligned halfword */
		LHU(T3, S1, 17),
		WFI,
	};
	struct hart *h = c->h;

	t_put64(c, data, 0x80706050f0e0d0c0ull);
	t_put64(c, data + 8, 0x1122334455667788ull);
	t_put64(c, data + 4088, 0x0706050403020100ull);
	t_put64(c, data + 4096, 0x0f0e0d0c0b0a0908ull);
	t_handlers(c);
	t_put(c, T_RAM, p, sizeof(p) / 4);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	hart_set_reg(h, S1, data);
	hart_set_reg(h, A0, data + 4092);
	hart_set_reg(h, A1, 0xa1a2a3a4a5a6a7a8ull);
	hart_run(h, 1000);
	assert_int_equal(hart_get_reg(h, S2), 0xffffffffffffff80ull);
	assert_int_equal(hart_get_reg(h, S3), 0x80);
	assert_int_equal(hart_get_reg(h, S4), 0xffffffffffff8070ull);
	assert_int_equal(hart_get_reg(h, S5), 0x8070);
	assert_int_equal(hart_get_reg(h, S6), 0xffffffff80706050ull);
	assert_int_equal(hart_get_reg(h, S7), 0x80706050ull);
	assert_int_equal(hart_get_reg(h, S8), 0x80706050f0e0d0c0ull);
	assert_int_equal(hart_get_reg(h, S9), 0x66778880706050f0ull);
	assert_int_equal(hart_get_reg(h, S10), 0x0b0a090807060504ull);
	assert_int_equal(hart_get_reg(h, S11), 0xa1a2a3a4a5a6a7a8ull);
	assert_int_equal(t_get64(c, data + 4096), 0x0f0ea1a2a3a4a5a6ull);
	assert_int_equal(hart_get_reg(h, T3), 0xa7a8);
	assert_int_equal(h->mcause, 0);
}

static void test_amo_lrsc(void **state)
{
	struct t_ctx *c = *state;
	const uint64_t data = T_RAM + 0x300000;
	const uint32_t p[] = {
		AMO(0x00, 3, S2, S1, A0),	/* amoadd.d s2, a0, (s1) */
		AMO(0x01, 2, S3, A1, A2),	/* amoswap.w s3, a2, (a1): old sign-extended */
		AMO(0x10, 2, S4, A3, A2),	/* amomin.w: min(5, -1) = -1 */
		AMO(0x18, 2, S5, A4, A2),	/* amominu.w: min(5, 0xffffffff) = 5 */
		AMO(0x02, 3, S6, S1, 0),	/* lr.d */
		AMO(0x03, 3, S7, S1, A5),	/* sc.d: succeeds, 0 */
		AMO(0x03, 3, S8, S1, A5),	/* sc.d again: fails, 1 */
		AMO(0x0c, 3, S9, S1, ZERO),	/* amoand.d with 0: old to s9 */
		WFI,
	};
	struct hart *h = c->h;

	t_put64(c, data, 100);
	t_put64(c, data + 8, 0x00000000fffffff0ull);
	t_put64(c, data + 16, 5);
	t_put64(c, data + 24, 5);
	t_handlers(c);
	t_put(c, T_RAM, p, sizeof(p) / 4);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	hart_set_reg(h, S1, data);
	hart_set_reg(h, A0, 23);
	hart_set_reg(h, A1, data + 8);
	hart_set_reg(h, A2, ~0ull);
	hart_set_reg(h, A3, data + 16);
	hart_set_reg(h, A4, data + 24);
	hart_set_reg(h, A5, 777);
	hart_run(h, 1000);
	assert_int_equal(hart_get_reg(h, S2), 100);
	assert_int_equal(hart_get_reg(h, S3), 0xfffffffffffffff0ull);
	assert_int_equal(t_get64(c, data + 8), 0x00000000ffffffffull);
	assert_int_equal(hart_get_reg(h, S4), 5);
	assert_int_equal(t_get64(c, data + 16), 0xffffffffull);
	assert_int_equal(t_get64(c, data + 24), 5);
	assert_int_equal(hart_get_reg(h, S6), 123);
	assert_int_equal(hart_get_reg(h, S7), 0);
	assert_int_equal(hart_get_reg(h, S8), 1);
	assert_int_equal(hart_get_reg(h, S9), 777);
	assert_int_equal(t_get64(c, data), 0);
}

static void test_lrsc_broken(void **state)
{
	struct t_ctx *c = *state;
	const uint64_t data = T_RAM + 0x300000;
	const uint32_t p[] = {
		AMO(0x02, 3, S6, S1, 0),	/* lr.d */
		AMO(0x03, 3, S7, S1, A5),	/* sc.d in a later hart_run: fails */
		AMO(0x02, 2, S6, S1, 0),	/* lr.w */
		ECALL,				/* trap ... */
	};
	const uint32_t m[] = {			/* handler: sc.w, then stop */
		AMO(0x03, 2, S8, S1, A5), CSRR(T0, 0x342), WFI,
	};
	struct hart *h = c->h;

	t_put64(c, data, 1);
	t_put(c, T_RAM, p, 4);
	t_put(c, T_MHANDLER, m, 3);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	h->mtvec = T_MHANDLER;
	hart_set_reg(h, S1, data);
	hart_set_reg(h, A5, 9);
	assert_int_equal(hart_run(h, 1), 1);
	hart_run(h, 1000);
	assert_int_equal(hart_get_reg(h, S7), 1);
	assert_int_equal(hart_get_reg(h, S8), 1);
	assert_int_equal(hart_get_reg(h, T0), EXC_ECALL_M);
	assert_int_equal(t_get64(c, data), 1);
}

static void test_amo_misaligned(void **state)
{
	struct t_ctx *c = *state;
	const uint32_t p[] = { AMO(0x00, 2, S2, S1, A0) };
	struct hart *h = c->h;

	t_handlers(c);
	t_put(c, T_RAM, p, 1);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	h->mtvec = T_MHANDLER;
	hart_set_reg(h, S1, T_RAM + 0x300002);
	hart_run(h, 100);
	assert_int_equal(hart_get_reg(h, T0), EXC_STORE_MISALIGNED);
	assert_int_equal(hart_get_reg(h, T1), T_RAM + 0x300002);
	assert_int_equal(hart_get_reg(h, T2), T_RAM);
	/* LR misaligned is a load fault */
	{
		const uint32_t q[] = { AMO(0x02, 3, S2, S1, 0) };
		t_put(c, T_RAM, q, 1);
		hart_reset(h, T_RAM, PRIV_M, 0, 0);
		h->mtvec = T_MHANDLER;
		hart_set_reg(h, S1, T_RAM + 0x300004);
		hart_run(h, 100);
		assert_int_equal(hart_get_reg(h, T0), EXC_LOAD_MISALIGNED);
	}
}

static void test_illegal(void **state)
{
	struct t_ctx *c = *state;
	static const uint32_t bad[] = {
		0x00000000u,		/* all zero: illegal 16-bit */
		0x02b57553u,		/* fadd.d */
		0x0005b007u,		/* fld */
		0xffffffffu,
		0x0000700fu,		/* MISC-MEM funct3 7 */
		0x00002073u | (0x7c0u << 20),	/* csrrs x0, 0x7c0 (absent CSR), rs1 = 0 */
		0x10400073u,		/* reserved SYSTEM */
		0x0000a0e3u & ~0x7fu,	/* opcode 0 with 4-byte length bits clear: C.ADDI4SPN nzuimm=0 */
		0x3c0027f3u & 0u,	/* (placeholder, all zero again) */
		0x0000202fu | (0x05u << 27),	/* AMO with bad funct5 */
		0x0010202fu | (0x02u << 27),	/* LR.W with rs2 != 0 */
		0x00003067u,		/* JALR funct3 3 */
		0x0000200fu,		/* fence funct3 2 */
	};
	struct hart *h = c->h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t expect = (bad[i] & 3) == 3 ? bad[i] : (bad[i] & 0xffff);
		t_handlers(c);
		t_put(c, T_RAM, &bad[i], 1);
		hart_reset(h, T_RAM, PRIV_M, 0, 0);
		h->mtvec = T_MHANDLER;
		hart_run(h, 100);
		assert_int_equal(hart_get_reg(h, T0), EXC_ILLEGAL);
		assert_int_equal(hart_get_reg(h, T1), expect);
		assert_int_equal(hart_get_reg(h, T2), T_RAM);
	}
	/* compressed FP load: 16-bit tval */
	{
		uint32_t w = 0x2008u | (0x13u << 16);	/* c.fld f10,0(s0)?; then addi */
		t_put(c, T_RAM, &w, 1);
		hart_reset(h, T_RAM, PRIV_M, 0, 0);
		h->mtvec = T_MHANDLER;
		hart_run(h, 100);
		assert_int_equal(hart_get_reg(h, T0), EXC_ILLEGAL);
		assert_int_equal(hart_get_reg(h, T1), 0x2008);
	}
}

static void test_compressed_decode(void **state)
{
	static const struct { uint16_t c; uint32_t e; } pairs[] = {
	{ 0x1fe0, 0x3fc10413 }, { 0x5fe8, 0x07c7a503 }, { 0x7f6c, 0x0f873583 }, { 0xc0b0, 0x04c4a023 },
	{ 0xe054, 0x08d43023 }, { 0x0001, 0x00000013 }, { 0x1501, 0xfe050513 }, { 0x02fd, 0x01f28293 },
	{ 0x35fd, 0xfff5859b }, { 0x563d, 0xfef00613 }, { 0x7101, 0xe0010113 }, { 0x617d, 0x1f010113 },
	{ 0x7685, 0xfffe16b7 }, { 0x637d, 0x0001f337 }, { 0x937d, 0x03f75713 }, { 0x8785, 0x4017d793 },
	{ 0x98f5, 0xffd4f493 }, { 0x8c1d, 0x40f40433 }, { 0x8d2d, 0x00b54533 }, { 0x8e55, 0x00d66633 },
	{ 0x8f7d, 0x00f77733 }, { 0x9c89, 0x40a484bb }, { 0x9da1, 0x008585bb }, { 0x1386, 0x02139393 },
	{ 0x50fe, 0x0fc12083 }, { 0x797e, 0x1f813903 }, { 0x8e02, 0x000e0067 }, { 0x8efa, 0x01e00eb3 },
	{ 0x9002, 0x00100073 }, { 0x9802, 0x000800e7 }, { 0x99d2, 0x014989b3 }, { 0xdfd6, 0x0f512e23 },
	{ 0xffda, 0x1f613c23 }, { 0xaffd, 0x7fe0006f }, { 0xb001, 0x801ff06f }, { 0xa899, 0x0560006f },
	{ 0xcd7d, 0x0e050f63 }, { 0xf081, 0xf00490e3 }, { 0xc789, 0x00078563 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct dinsn a, b;
		decode_insn(pairs[i].c, &a);
		decode_insn(pairs[i].e, &b);
		assert_true(a.op & OP_C);
		assert_false(b.op & OP_C);
		if ((a.op & ~OP_C) != b.op || a.rd != b.rd || a.rs1 != b.rs1 || a.imm != b.imm ||
		    a.rs2 != b.rs2)
			fail_msg("pair %zu: c %#x vs %#x: op %u/%u rd %u/%u rs1 %u/%u rs2 %u/%u imm %d/%d", i,
				 pairs[i].c, pairs[i].e, a.op & ~OP_C, b.op, a.rd, b.rd, a.rs1, b.rs1,
				 a.rs2, b.rs2, a.imm, b.imm);
	}
}

/*
 * Every 16-bit parcel decodes to an illegal instruction, EBREAK, or an op
 * whose handler has a 2-byte copy (OPS_C in cpu.c): the interpreter
 * relies on it to advance the pc by the right length.
 */
static void test_compressed_all(void **state)
{
	static const uint8_t ok[] = {
		OP_JAL, OP_JALR, OP_BEQ, OP_BNE, OP_LW, OP_LD, OP_SW, OP_SD, OP_LUI, OP_ADDI, OP_ANDI,
		OP_SLLI, OP_SRLI, OP_SRAI, OP_ADD, OP_SUB, OP_XOR, OP_OR, OP_AND, OP_ADDIW, OP_ADDW,
		OP_SUBW, OP_EBREAK, OP_ILLEGAL, OP_LI, OP_MV, OP_BEQZ, OP_BNEZ,
	};
	unsigned illegal = 0;
	(void)state;
	for (uint32_t w = 0; w < 0x10000; w++) {
		struct dinsn d;
		bool found = false;
		if ((w & 3) == 3)
			continue;
		decode_insn(w, &d);
		assert_true(d.op & OP_C);
		for (size_t i = 0; i < sizeof(ok); i++)
			found |= (d.op & ~OP_C) == ok[i];
		if (!found)
			fail_msg("c %#x decodes to op %u", w, d.op & ~OP_C);
		if ((d.op & ~OP_C) == OP_ILLEGAL) {
			assert_int_equal((uint32_t)d.imm, w);
			illegal++;
		}
		assert_true(d.rd <= 32 && d.rs1 < 32 && d.rs2 < 32);
	}
	/* C.FLD/FSD/FLDSP/FSDSP (4 x 2048) and the reserved forms */
	assert_true(illegal > 4 * 2048);
}

static void test_compressed_run(void **state)
{
	struct t_ctx *c = *state;
	/* c.li a0,5; c.addi a0,-1 (loop); c.bnez a0,-2; c.li a1,7; then a 4-byte wfi */
	const uint16_t p[] = { 0x4515, 0x157d, 0xfd7d, 0x459d, 0x0073, 0x1050 };
	struct hart *h = c->h;
	uint8_t *pg = pmap_page(c->vm.pmap, T_RAM);

	memcpy(pg, p, sizeof(p));
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	hart_run(h, 1000);
	assert_int_equal(hart_get_state(h), HART_WFI);
	assert_int_equal(hart_get_reg(h, A0), 0);
	assert_int_equal(hart_get_reg(h, A1), 7);
	assert_int_equal(hart_get_pc(h), T_RAM + 12);
	assert_int_equal(hart_instret(h), 1 + 5 * 2 + 1 + 1);
}

static void test_insn_across_page(void **state)
{
	struct t_ctx *c = *state;
	uint32_t addi = ADDI(A0, ZERO, 99), wfi = WFI;
	uint16_t cnop = 0x0001;
	uint8_t *p0 = pmap_page(c->vm.pmap, T_RAM + 0x5000);
	uint8_t *p1 = pmap_page(c->vm.pmap, T_RAM + 0x6000);
	struct hart *h = c->h;

	memcpy(p0 + 0xffc, &cnop, 2);
	memcpy(p0 + 0xffe, &addi, 2);
	memcpy(p1, (uint8_t *)&addi + 2, 2);
	memcpy(p1 + 2, &wfi, 4);
	hart_reset(h, T_RAM + 0x5ffc, PRIV_M, 0, 0);
	hart_run(h, 100);
	assert_int_equal(hart_get_reg(h, A0), 99);
	assert_int_equal(hart_get_state(h), HART_WFI);
}

static void test_self_modifying(void **state)
{
	struct t_ctx *c = *state;
	const uint32_t p[] = {
		ADDI(A0, A0, 1),
		BNE(A1, ZERO, 16),
		ADDI(A1, ZERO, 1),
		SW(T1, T0, 0),
		JAL(ZERO, -16),
		WFI,
	};
	struct hart *h = c->h;

	t_handlers(c);
	t_put(c, T_RAM, p, sizeof(p) / 4);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	hart_set_reg(h, T0, T_RAM);
	hart_set_reg(h, T1, ADDI(A0, A0, 100));
	hart_run(h, 100);
	assert_int_equal(hart_get_reg(h, A0), 101);

	/* a write behind the store path (DMA) is seen after FENCE.I */
	{
		const uint32_t q[] = { FENCE_I, JAL(ZERO, 0x100 - 4) };
		const uint32_t r1[] = { ADDI(A2, ZERO, 1), WFI };
		const uint32_t r2[] = { ADDI(A2, ZERO, 2), WFI };
		t_put(c, T_RAM + 0x100, r1, 2);
		hart_reset(h, T_RAM + 0x100, PRIV_M, 0, 0);
		hart_run(h, 100);
		assert_int_equal(hart_get_reg(h, A2), 1);
		t_put(c, T_RAM + 0x100, r2, 2);		/* host write: no invalidation */
		t_put(c, T_RAM + 0x800, q, 2);
		hart_reset(h, T_RAM + 0x800, PRIV_M, 0, 0);
		/* the jal goes from 0x804 to 0x100 */
		{
			uint32_t j = JAL(ZERO, (int32_t)0x100 - 0x804);
			t_put(c, T_RAM + 0x804, &j, 1);
		}
		hart_run(h, 100);
		assert_int_equal(hart_get_reg(h, A2), 2);
	}
}

/*
 * Compiled blocks (jit.c) against the interpreter alone (DISCO_JIT=0):
 * random straight-line code of every op a block takes — ALU ops with
 * random operands, AUIPC, loads and stores across two data pages (first
 * touches and misaligned ones leave the block for the slow path), forward
 * branches and JALs — in a loop, run on two harts with the same odd budgets. After
 * every call both must have retired the same count and agree on every
 * register, the pc and instret; at the end, on the data.
 */
static uint64_t t_rand(uint64_t *s);	/* below */

static uint32_t t_rand_insn(uint64_t *s)
{
	static const uint8_t rds[] = { ZERO, A0, A1, A2, A3, A4, A5, S2, S3, S4, S5 };
	static const uint8_t rss[] = { ZERO, A0, A1, A2, A3, A4, A5, S2, S3, S4, S5 };
	uint32_t rd = rds[t_rand(s) % sizeof(rds)], a = rss[t_rand(s) % sizeof(rss)];
	uint32_t b = rss[t_rand(s) % sizeof(rss)], k = (uint32_t)(t_rand(s) % 8);
	int32_t imm = (int32_t)(t_rand(s) % 4096) - 2048;
	int32_t mimm = (int32_t)(t_rand(s) % 4000) - 2000;	/* around S1: two pages */

	switch (t_rand(s) % 12) {
	case 0: case 1:	/* OP-IMM */
		if (k == 1 || k == 5)
			return enc_i((int32_t)(t_rand(s) % 64) | (k == 5 && (t_rand(s) & 1) ? 0x400 : 0), a, k, rd, 0x13);
		return enc_i(imm, a, k, rd, 0x13);
	case 2:		/* OP-IMM-32 */
		if (k == 0)
			return ADDIW(rd, a, imm);
		if (k & 1)
			return SLLIW(rd, a, (int32_t)(t_rand(s) % 32));
		return enc_i((int32_t)(t_rand(s) % 32) | (t_rand(s) & 1 ? 0x400 : 0), a, 5, rd, 0x1b);
	case 3: case 4: {	/* OP: f7, f3 */
		static const uint8_t f[][2] = { { 0, 0 }, { 0x20, 0 }, { 0, 1 }, { 0, 2 }, { 0, 3 }, { 0, 4 },
						{ 0, 5 }, { 0x20, 5 }, { 0, 6 }, { 0, 7 }, { 1, 0 } };
		k = (uint32_t)(t_rand(s) % 11);
		return OP(f[k][0], f[k][1], rd, a, b);
	}
	case 5: {		/* OP-32 */
		static const uint8_t f[][2] = { { 0, 0 }, { 0x20, 0 }, { 0, 1 }, { 0, 5 }, { 0x20, 5 }, { 1, 0 } };
		k = (uint32_t)(t_rand(s) % 6);
		return OPW(f[k][0], f[k][1], rd, a, b);
	}
	case 6:
		return t_rand(s) & 1 ? MUL(rd, a, b) : MULW(rd, a, b);
	case 7:
		if (t_rand(s) % 4 == 0)
			return AUIPC(rd, (uint32_t)t_rand(s));
		return LUI(rd, (uint32_t)t_rand(s));
	case 8: case 9: {	/* loads, mostly aligned */
		static const uint32_t f3[] = { 0, 1, 2, 3, 4, 5, 6 };
		uint32_t f = f3[t_rand(s) % 7], sz = 1u << (f & 3);
		if (t_rand(s) % 8)
			mimm &= ~(int32_t)(sz - 1);
		return enc_i(mimm, S1, f, rd, 3);
	}
	case 10: {	/* stores */
		uint32_t f = (uint32_t)(t_rand(s) % 4), sz = 1u << f;
		if (t_rand(s) % 8)
			mimm &= ~(int32_t)(sz - 1);
		return enc_s(mimm, b, S1, f);
	}
	default: {	/* a forward branch or JAL over the next instruction */
		static const uint32_t f3[] = { 0, 1, 4, 5, 6, 7 };
		if (t_rand(s) % 4 == 0)
			return JAL(rd, 8);
		return enc_b(8, b, a, f3[t_rand(s) % 6]);
	}
	}
}

static void test_jit_matches_interpreter(void **state)
{
	struct t_ctx *c = *state, *c2;
	const uint64_t prog = T_RAM + 0x10000, data = T_RAM + 0x20000;
	static const unsigned budgets[] = { 7, 1, 13, 2, 64, 3, 5, 100, 11, 4096 };
	enum { L = 300 };
	uint32_t p[L + 3];
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	/* the second hart interprets only: its pmap is made with DISCO_JIT=0 */
	setenv("DISCO_JIT", "0", 1);
	assert_int_equal(t_setup((void **)&c2), 0);
	unsetenv("DISCO_JIT");

	/* 0: one long loop of random code; 1: one-block loops (their blocks loop inside) */
	for (int kind = 0; kind < 2; kind++) {
		unsigned len = 0;
		int rounds = 0;
		uint64_t i0 = hart_instret(c->h);

		if (kind == 0) {
			for (int i = 0; i < L; i++)
				p[len++] = t_rand_insn(&seed);
			p[len++] = ADDI(S0, S0, -1);
			p[len++] = BNE(S0, ZERO, -4 * (L + 1));
		} else {
			for (int k = 1; k <= 8; k++) {
				p[len++] = ADDI(S0, ZERO, 50);
				for (int i = 0; i < k; i++) {
					uint32_t w;
					do
						w = t_rand_insn(&seed);
					while ((w & 0x7f) == 0x63 || (w & 0x7f) == 0x6f);
					p[len++] = w;
				}
				p[len++] = ADDI(S0, S0, -1);
				p[len++] = BNE(S0, ZERO, -4 * (k + 1));
			}
		}
		p[len++] = WFI;
		t_put(c, prog, p, len);
		t_put(c2, prog, p, len);
		for (struct t_ctx *t = c; t; t = t == c ? c2 : NULL) {
			uint64_t s = 42;
			for (uint64_t a = data; a < data + 0x2000; a += 8)
				t_put64(t, a, t_rand(&s));
			hart_reset(t->h, prog, PRIV_M, 0, 0);
			for (unsigned r = 1; r < 32; r++)
				hart_set_reg(t->h, r, t_rand(&s));
			hart_set_reg(t->h, S1, data + 0x1000);
			hart_set_reg(t->h, S0, 20);
			t->h->mtvec = T_MHANDLER;	/* a trap would end the run there */
			t_handlers(t);
		}
		while (hart_get_state(c->h) != HART_WFI || hart_get_state(c2->h) != HART_WFI) {
			/* every budget up to a block's length, so chunks end at every point of a block */
			unsigned n = rounds % 3 ? (unsigned)(rounds * 7 % 41) + 1 : budgets[rounds / 3 % 10];

			rounds++;
			assert_int_equal(hart_run(c->h, n), hart_run(c2->h, n));
			for (unsigned r = 0; r < 32; r++)
				assert_int_equal(hart_get_reg(c->h, r), hart_get_reg(c2->h, r));
			assert_int_equal(hart_get_pc(c->h), hart_get_pc(c2->h));
			assert_int_equal(hart_instret(c->h), hart_instret(c2->h));
			assert_true(rounds < 100000);
		}
		assert_int_equal(hart_get_pc(c->h), prog + 4 * len);	/* no trap */
		assert_true(hart_instret(c->h) - i0 > (kind == 0 ? 20 * L / 2 : 8 * 50 * 3));
		for (uint64_t a = data; a < data + 0x2000; a += 8)
			assert_int_equal(t_get64(c, a), t_get64(c2, a));
#if defined(__x86_64__)
		assert_non_null(pmap_code_find(c->vm.pmap, prog)->jit);	/* blocks were compiled */
#endif
		assert_null(pmap_code_find(c2->vm.pmap, prog)->jit);
	}
	t_teardown((void **)&c2);
}

/* A store into the middle of a compiled block: the block is dropped and the new instruction runs. */
static void test_jit_store_into_block(void **state)
{
	struct t_ctx *c = *state;
	const uint64_t b = T_RAM + 0x9000;
	const uint32_t p[] = {
		ADDI(A0, A0, 1),
		ADDI(A0, A0, 1),	/* rewritten: addi a0, a0, 100 */
		ADDI(A0, A0, 1),
		BNE(A1, ZERO, 16),
		SW(T1, T0, 4),
		ADDI(A1, ZERO, 1),
		JAL(ZERO, -24),
		WFI,
	};
	struct hart *h = c->h;

	t_put(c, b, p, sizeof(p) / 4);
	hart_reset(h, b, PRIV_M, 0, 0);
	hart_set_reg(h, T0, b);
	hart_set_reg(h, T1, ADDI(A0, A0, 100));
	hart_run(h, 100);
	assert_int_equal(hart_get_state(h), HART_WFI);
	assert_int_equal(hart_get_reg(h, A0), 3 + 102);
}

/*
 * Same-page branches and jumps are linked by slot (hart_run steps the slot
 * pointer by the offset): rewriting a linked branch must take effect, and
 * a branch whose target is in another page must not be linked.
 */
static void test_branch_links(void **state)
{
	struct t_ctx *c = *state;
	const uint64_t b = T_RAM + 0x7000;
	const uint32_t p[] = {
		ADDI(A0, A0, 1),
		BNE(A0, A1, -4),	/* linked, loops until a0 == a1 */
		SW(T1, T0, 0),		/* rewrite it: bne a0, x0, +12 */
		JAL(ZERO, -12),		/* linked, to offset 0 of the page */
		WFI,
	};
	const uint32_t cross[] = { BEQ(ZERO, ZERO, 8) };	/* 0x7ffc -> 0x8004 */
	const uint32_t next[] = { ADDI(A3, ZERO, 1), ADDI(A3, A3, 7), BEQ(ZERO, ZERO, -0x1000), WFI };
	const uint32_t back[] = { ADDI(A4, ZERO, 5), WFI };	/* 0x7008 via the last beq */
	struct hart *h = c->h;
	uint64_t n;

	t_put(c, b, p, sizeof(p) / 4);
	hart_reset(h, b, PRIV_M, 0, 0);
	hart_set_reg(h, A1, 10);
	hart_set_reg(h, T0, b + 4);
	hart_set_reg(h, T1, BNE(A0, ZERO, 12));
	hart_run(h, 1000);
	assert_int_equal(hart_get_reg(h, A0), 11);
	assert_int_equal(hart_get_state(h), HART_WFI);

	/* across pages, both ways */
	t_put(c, b + 0xffc, cross, 1);
	t_put(c, b + 0x1000, next, 4);
	t_put(c, b + 0x8, back, 2);
	hart_reset(h, b + 0xffc, PRIV_M, 0, 0);
	n = hart_instret(h);
	hart_run(h, 1000);
	assert_int_equal(hart_get_reg(h, A3), 7);
	assert_int_equal(hart_get_reg(h, A4), 5);
	assert_int_equal(hart_get_pc(h), b + 0xc + 4);
	assert_int_equal(hart_get_state(h), HART_WFI);
	assert_int_equal(hart_instret(h) - n, 5);
}

/*
 * Fused pairs (hart_run runs a frequent pair with one dispatch): rewriting
 * the second instruction, in either half, must unfuse the first; a budget
 * ending between the two stops there; a fault in the second retires the
 * first and traps at the second's pc.
 */
static void test_fused_pairs(void **state)
{
	struct t_ctx *c = *state;
	const uint64_t b = T_RAM + 0x9100;
	const uint32_t p[] = {
		ADDW(A0, A0, A1),	/* fused with the next */
		ADDW(A2, A2, A1),
		SW(T1, T0, 0),		/* rewrite the second: addw a3, a3, a1 */
		ADDI(A4, A4, 1),
		BNE(A4, A5, -16),
		WFI,
	};
	const uint32_t mul[] = { MULW(A3, A1, A1), ADDW(A2, A2, A1) };
	const uint32_t ld[] = { LW(A0, T0, 0), LW(A2, T0, 0x7ff), WFI };
	struct hart *h = c->h;
	uint64_t n;

	t_handlers(c);
	t_put(c, b, p, sizeof(p) / 4);
	hart_reset(h, b, PRIV_M, 0, 0);
	hart_set_reg(h, A1, 3);
	hart_set_reg(h, A5, 3);
	hart_set_reg(h, T0, b + 4);
	hart_set_reg(h, T1, ADDW(A3, A3, A1));
	hart_run(h, 1000);
	assert_int_equal(hart_get_reg(h, A0), 9);
	assert_int_equal(hart_get_reg(h, A2), 3);
	assert_int_equal(hart_get_reg(h, A3), 6);

	/* the same through the second's upper half (an SH at +6) */
	t_put(c, b, p, sizeof(p) / 4);
	hart_reset(h, b, PRIV_M, 0, 0);
	hart_set_reg(h, A1, 3);
	hart_set_reg(h, A5, 3);
	hart_set_reg(h, T0, b + 6);
	hart_set_reg(h, T1, ADDW(A2, A2, ZERO) >> 16);	/* rs2 = x0 */
	{
		uint32_t sh = SH(T1, T0, 0);
		t_put(c, b + 8, &sh, 1);
	}
	hart_run(h, 1000);
	assert_int_equal(hart_get_reg(h, A0), 9);
	assert_int_equal(hart_get_reg(h, A2), 3);

	/* pc after a linked loop branch followed by a load (pc-relative check) */
	{
		const uint32_t q[] = {
			ADDI(A0, A0, 1),
			BNE(A0, A1, -4),
			LW(A2, T0, 0),
			AUIPC(A3, 0),
			WFI,
		};
		t_put(c, b, q, sizeof(q) / 4);
		hart_reset(h, b, PRIV_M, 0, 0);
		hart_set_reg(h, A1, 5);
		hart_set_reg(h, T0, b);
		hart_run(h, 1000);
		assert_int_equal(hart_get_reg(h, A0), 5);
		assert_int_equal(hart_get_reg(h, A2), q[0]);
		assert_int_equal(hart_get_reg(h, A3), b + 12);
		assert_int_equal(hart_get_pc(h), b + 20);
	}

	/* a budget of one instruction stops inside the pair */
	t_put(c, b, mul, 2);
	hart_reset(h, b, PRIV_M, 0, 0);
	hart_set_reg(h, A1, 3);
	n = hart_instret(h);
	assert_int_equal(hart_run(h, 1), 1);
	assert_int_equal(hart_get_pc(h), b + 4);
	assert_int_equal(hart_get_reg(h, A3), 9);
	assert_int_equal(hart_get_reg(h, A2), 0);
	assert_int_equal(hart_run(h, 1), 1);
	assert_int_equal(hart_get_reg(h, A2), 3);
	assert_int_equal(hart_instret(h) - n, 2);

	/* the second load faults (an access fault just past RAM) */
	t_put(c, b, ld, 3);
	hart_reset(h, b, PRIV_M, 0, 0);
	h->mtvec = T_MHANDLER;
	hart_set_reg(h, T0, b);
	hart_set_reg(h, A2, 77);
	n = hart_instret(h);
	hart_set_reg(h, T0, T_RAM + T_RAM_SIZE - 0x7ff);	/* +0x7ff: past RAM */
	{
		uint32_t first = LW(A0, T0, -4);
		t_put(c, b, &first, 1);
	}
	hart_run(h, 2);			/* the first retires, the second traps */
	assert_int_equal(h->mcause, EXC_LOAD_ACCESS);
	assert_int_equal(h->mepc, b + 4);
	assert_int_equal(hart_get_reg(h, A2), 77);
	assert_int_equal(hart_instret(h) - n, 1);
}

/*
 * A store by another hart whose write-TLB entry predates the decoding of
 * the page still reaches the decoded code (pmap_code_get shoots it down).
 */
static void test_cross_hart_code_write(void **state)
{
	struct t_ctx *c = *state;
	struct hart *a = c->h, *b = hart_new(&c->vm, 1);
	const uint64_t q = T_RAM + 0x10000, p = T_RAM + 0x20000;
	const uint32_t bprog[] = { SW(T1, T0, 0), WFI };
	const uint32_t wfi = WFI;

	assert_non_null(b);
	t_put(c, q, bprog, 2);
	t_put(c, p + 4, &wfi, 1);
	hart_reset(b, q, PRIV_M, 0, 0);
	hart_set_reg(b, T0, p);
	hart_set_reg(b, T1, ADDI(A0, A0, 1));
	hart_run(b, 100);			/* b's write entry for p: no code yet */
	assert_int_equal(hart_get_state(b), HART_WFI);

	hart_reset(a, p, PRIV_M, 0, 0);
	hart_run(a, 100);			/* p becomes code */
	assert_int_equal(hart_get_reg(a, A0), 1);

	hart_set_reg(b, T1, ADDI(A0, A0, 100));
	hart_set_pc(b, q);
	hart_set_state(b, HART_RUNNING);
	hart_run(b, 100);			/* through the old entry */

	hart_set_pc(a, p);
	hart_set_state(a, HART_RUNNING);
	hart_run(a, 100);
	assert_int_equal(hart_get_reg(a, A0), 101);
	hart_free(b);
}

static void test_csr_basic(void **state)
{
	struct t_ctx *c = *state;
	const uint32_t p[] = {
		CSRR(S2, 0x301),		/* misa */
		CSRR(S3, 0xf14),		/* mhartid */
		CSRRWI(S4, 0x340, 21),		/* mscratch <- 21, old 0 */
		CSRRSI(S5, 0x340, 2),		/* old 21, now 23 */
		CSRR(S6, 0x340),
		CSRR(S7, 0x300),		/* mstatus: FS off, UXL/SXL 2 */
		CSRW(0x3b0, A0),		/* pmpaddr0 <- ~0 */
		CSRR(S8, 0x3b0),
		CSRR(S9, 0xb02),		/* minstret = 9 instructions before */
		CSRR(S10, 0xc01),		/* time */
		CSRW(0x305, A1),		/* mtvec mode 3 -> direct */
		CSRR(S11, 0x305),
		WFI,
	};
	struct hart *h = c->h;

	c->vm.mtime = 4242;
	t_handlers(c);
	t_put(c, T_RAM, p, sizeof(p) / 4);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	hart_set_reg(h, A0, ~0ull);
	hart_set_reg(h, A1, T_RAM + 0x1003);
	hart_run(h, 1000);
	assert_int_equal(hart_get_reg(h, S2), (2ull << 62) | 0x141105);	/* I M A C S U */
	assert_int_equal(hart_get_reg(h, S3), 0);
	assert_int_equal(hart_get_reg(h, S4), 0);
	assert_int_equal(hart_get_reg(h, S5), 21);
	assert_int_equal(hart_get_reg(h, S6), 23);
	assert_int_equal(hart_get_reg(h, S7) & MS_FS, 0);
	assert_int_equal(hart_get_reg(h, S7) >> 32, 0xa);
	assert_int_equal(hart_get_reg(h, S8), (1ull << 54) - 1);
	assert_int_equal(hart_get_reg(h, S9), 8);
	assert_int_equal(hart_get_reg(h, S10), 4242);
	assert_int_equal(hart_get_reg(h, S11), T_RAM + 0x1000);
}

/* Run one instruction word in `priv` and return mcause (or ~0 if no trap). */
static uint64_t t_try(struct t_ctx *c, enum priv priv, uint32_t insn, uint64_t mstatus_extra,
		      uint32_t mcounteren)
{
	const uint32_t body[] = { insn, ADDI(T0, ZERO, -1), EBREAK };
	const uint32_t m[] = { CSRR(T0, 0x342), CSRR(T1, 0x343), CSRR(T2, 0x341), WFI };
	struct hart *h = c->h;

	t_prologue(c, priv, T_RAM + 0x400, 0, 0, mstatus_extra);
	t_put(c, T_MHANDLER, m, 4);
	t_put(c, T_RAM + 0x400, body, 3);
	h->mcounteren = mcounteren;
	hart_run(h, 1000);
	assert_int_equal(hart_get_state(h), HART_WFI);
	if (hart_get_reg(h, T0) == EXC_BREAKPOINT)
		return EXC_BREAKPOINT;	/* insn passed, the EBREAK after it trapped */
	if (hart_get_reg(h, T0) == EXC_ILLEGAL)
		assert_int_equal(hart_get_reg(h, T1), insn);
	assert_int_equal(hart_get_reg(h, T2), T_RAM + 0x400);
	return hart_get_reg(h, T0);
}

static void test_csr_permissions(void **state)
{
	struct t_ctx *c = *state;
	const uint64_t ill = EXC_ILLEGAL;

	assert_int_equal(t_try(c, PRIV_U, CSRR(A0, 0x300), 0, 0), ill);	/* mstatus from U */
	assert_int_equal(t_try(c, PRIV_S, CSRR(A0, 0x300), 0, 0), ill);	/* mstatus from S */
	assert_int_equal(t_try(c, PRIV_S, CSRR(A0, 0x100), 0, 0), EXC_BREAKPOINT);
	assert_int_equal(t_try(c, PRIV_M, CSRW(0xf14, A0), 0, 0), ill);	/* read-only */
	assert_int_equal(t_try(c, PRIV_M, CSRR(A0, 0x7c0), 0, 0), ill);	/* absent */
	assert_int_equal(t_try(c, PRIV_M, CSRR(A0, 0x3a1), 0, 0), ill);	/* pmpcfg1 on RV64 */
	assert_int_equal(t_try(c, PRIV_M, CSRR(A0, 0x003), 0, 0), ill);	/* fcsr: no F */
	assert_int_equal(t_try(c, PRIV_U, CSRR(A0, 0xc00), 0, 0), ill);	/* cycle, counteren 0 */
	assert_int_equal(t_try(c, PRIV_S, CSRR(A0, 0xc01), 0, 0), ill);	/* time */
	assert_int_equal(t_try(c, PRIV_S, CSRR(A0, 0xc01), 0, 2), EXC_BREAKPOINT);
	assert_int_equal(t_try(c, PRIV_S, CSRR(A0, 0x180), MS_TVM, 0), ill);	/* satp, TVM */
	assert_int_equal(t_try(c, PRIV_S, CSRR(A0, 0x180), 0, 0), EXC_BREAKPOINT);
	assert_int_equal(t_try(c, PRIV_S, SFENCE_VMA(0, 0), MS_TVM, 0), ill);
	assert_int_equal(t_try(c, PRIV_U, SFENCE_VMA(A0, 0), 0, 0), ill);
	assert_int_equal(t_try(c, PRIV_S, SRET, MS_TSR, 0), ill);
	assert_int_equal(t_try(c, PRIV_U, SRET, 0, 0), ill);
	assert_int_equal(t_try(c, PRIV_S, MRET, 0, 0), ill);
	assert_int_equal(t_try(c, PRIV_S, WFI, MS_TW, 0), ill);
	assert_int_equal(t_try(c, PRIV_U, WFI, 0, 0), ill);
	assert_int_equal(t_try(c, PRIV_S, CSRR(A0, 0x14d), 0, ~0u), ill);	/* stimecmp, STCE 0 */
	assert_int_equal(t_try(c, PRIV_U, ECALL, 0, 0), EXC_ECALL_U);
	assert_int_equal(t_try(c, PRIV_S, ECALL, 0, 0), EXC_ECALL_S);
	assert_int_equal(t_try(c, PRIV_M, ECALL, 0, 0), EXC_ECALL_M);
}

static void test_sbi_ecall(void **state)
{
	struct t_ctx *c = *state;
	const uint32_t body[] = { ECALL, ADDI(A2, A0, 1), WFI };
	struct hart *h = c->h;

	c->vm.sbi = true;
	t_put(c, T_RAM + 0x400, body, 3);
	hart_reset(h, T_RAM + 0x400, PRIV_S, 0, 0);
	hart_set_reg(h, A7, 0x54494d45);
	hart_run(h, 100);
	assert_int_equal(c->vm.sbi_calls, 1);
	assert_int_equal(hart_get_reg(h, A0), 0x1234);
	assert_int_equal(hart_get_reg(h, A1), 0x54494d45);
	assert_int_equal(hart_get_reg(h, A2), 0x1235);
	assert_int_equal(hart_get_state(h), HART_WFI);
	assert_int_equal(hart_instret(h), 3);
	c->vm.sbi = false;
}

static void test_delegation(void **state)
{
	struct t_ctx *c = *state;
	const uint32_t ubody[] = { ECALL };
	struct hart *h = c->h;

	/* ecall from U delegated to S */
	t_prologue(c, PRIV_U, T_RAM + 0x400, 0, 1u << EXC_ECALL_U, 0);
	t_put(c, T_RAM + 0x400, ubody, 1);
	hart_run(h, 1000);
	assert_int_equal(hart_get_priv(h), PRIV_S);
	assert_int_equal(hart_get_reg(h, T0), EXC_ECALL_U);
	assert_int_equal(hart_get_reg(h, T2), T_RAM + 0x400);
	assert_int_equal(h->mstatus & MS_SPP, 0);
	assert_int_equal(h->mcause, 0);

	/* not delegated: goes to M with MPP = U */
	t_prologue(c, PRIV_U, T_RAM + 0x400, 0, 0, 0);
	hart_run(h, 1000);
	assert_int_equal(hart_get_priv(h), PRIV_M);
	assert_int_equal(hart_get_reg(h, T0), EXC_ECALL_U);
	assert_int_equal((h->mstatus & MS_MPP) >> MS_MPP_SHIFT, PRIV_U);

	/* an S-mode exception is never delegated to U and M exceptions never go to S */
	{
		const uint32_t mbody[] = { EBREAK };
		t_put(c, T_RAM, mbody, 1);
		hart_reset(h, T_RAM, PRIV_M, 0, 0);
		h->medeleg = 0xb3ff;
		h->mtvec = T_MHANDLER;
		h->stvec = T_SHANDLER;
		t_handlers(c);
		hart_run(h, 100);
		assert_int_equal(hart_get_priv(h), PRIV_M);
		assert_int_equal(hart_get_reg(h, T0), EXC_BREAKPOINT);
		assert_int_equal(hart_get_reg(h, T1), T_RAM);
	}
}

/* Sv39 tables: root 0x80100000, L1 0x80101000, L0 0x80102000. */
#define PTE_V 1
#define PTE_R 2
#define PTE_W 4
#define PTE_X 8
#define PTE_U 16
#define PTE_A 64
#define PTE_D 128
static uint64_t t_pte(uint64_t pa, uint64_t flags) { return (pa >> 12) << 10 | flags; }

static void t_sv39_tables(struct t_ctx *c)
{
	const uint64_t root = T_RAM + 0x100000, l1 = root + 0x1000, l0 = root + 0x2000;
	for (unsigned i = 0; i < 512; i++) {
		t_put64(c, root + 8 * i, 0);
		t_put64(c, l1 + 8 * i, 0);
		t_put64(c, l0 + 8 * i, 0);
	}
	t_put64(c, root + 2 * 8, t_pte(T_RAM, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D));
	t_put64(c, root + 0 * 8, t_pte(l1, PTE_V));
	t_put64(c, l1 + 0 * 8, t_pte(l0, PTE_V));
	t_put64(c, l0 + 1 * 8, t_pte(T_RAM + 0x200000, PTE_V | PTE_R | PTE_W));
	t_put64(c, l0 + 2 * 8, t_pte(T_RAM + 0x201000, PTE_V | PTE_R | PTE_A));
	/* l0[3] invalid */
	t_put64(c, l0 + 4 * 8, t_pte(T_RAM + 0x202000, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D));
	t_put64(c, l0 + 5 * 8, t_pte(T_RAM + 0x203000, PTE_V | PTE_X | PTE_A));	/* exec-only */
	/* 2 MiB superpage at VA 0x200000 -> 0x80400000 */
	t_put64(c, l1 + 1 * 8, t_pte(T_RAM + 0x400000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
	/* misaligned superpage at VA 0x400000 */
	t_put64(c, l1 + 2 * 8, t_pte(T_RAM + 0x401000, PTE_V | PTE_R | PTE_A));
}

static uint64_t t_sv39_run(struct t_ctx *c, const uint32_t *body, size_t n, uint64_t mstatus_extra)
{
	struct hart *h = c->h;
	t_sv39_tables(c);
	t_prologue(c, PRIV_S, T_RAM + 0x400, (8ull << 60) | ((T_RAM + 0x100000) >> 12),
		   (1u << 12) | (1u << 13) | (1u << 15) | (1u << 5) | (1u << 7), mstatus_extra);
	t_put(c, T_RAM + 0x400, body, n);
	hart_run(h, 10000);
	assert_int_equal(hart_get_state(h), HART_WFI);
	return hart_get_reg(h, T0);
}

static void test_sv39(void **state)
{
	struct t_ctx *c = *state;
	const uint64_t l0 = T_RAM + 0x102000;
	struct hart *h = c->h;

	/* store sets A and D; load back; unmapped load faults with stval */
	{
		const uint32_t b[] = {
			LUI(S1, 0x1000), SD(A1, S1, 8), LD(A2, S1, 8),
			LUI(S3, 0x3000), LD(A3, S3, 8), WFI,
		};
		hart_set_reg(h, A1, 0);
		t_sv39_tables(c);
		t_prologue(c, PRIV_S, T_RAM + 0x400, (8ull << 60) | ((T_RAM + 0x100000) >> 12),
			   (1u << 13) | (1u << 15), 0);
		hart_set_reg(h, A1, 0xfeedfacecafebeefull);
		t_put(c, T_RAM + 0x400, b, 6);
		hart_run(h, 10000);
		assert_int_equal(hart_get_reg(h, T0), EXC_LOAD_PAGE);
		assert_int_equal(hart_get_reg(h, T1), 0x3008);
		assert_int_equal(hart_get_reg(h, T2), T_RAM + 0x400 + 16);
		assert_int_equal(hart_get_reg(h, A2), 0xfeedfacecafebeefull);
		assert_int_equal(t_get64(c, T_RAM + 0x200008), 0xfeedfacecafebeefull);
		assert_int_equal(t_get64(c, l0 + 8) & (PTE_A | PTE_D), PTE_A | PTE_D);
	}
	/* store to a read-only page */
	{
		const uint32_t b[] = { LUI(S2, 0x2000), LD(A0, S2, 0), SD(A0, S2, 16), WFI };
		assert_int_equal(t_sv39_run(c, b, 4, 0), EXC_STORE_PAGE);
		assert_int_equal(hart_get_reg(h, T1), 0x2010);
	}
	/* S access to a U page: fault without SUM, fine with it; fetch never */
	{
		const uint32_t b[] = { LUI(S4, 0x4000), LD(A0, S4, 0), ADDI(T0, ZERO, 77), WFI };
		assert_int_equal(t_sv39_run(c, b, 4, 0), EXC_LOAD_PAGE);
		assert_int_equal(t_sv39_run(c, b, 4, MS_SUM), 77);
		const uint32_t j[] = { LUI(S4, 0x4000), JALR(ZERO, S4, 0) };
		assert_int_equal(t_sv39_run(c, j, 2, MS_SUM), EXC_INSN_PAGE);
		assert_int_equal(hart_get_reg(h, T1), 0x4000);
	}
	/* MXR: load from an execute-only page */
	{
		const uint32_t b[] = { LUI(S4, 0x5000), LD(A0, S4, 0), ADDI(T0, ZERO, 78), WFI };
		assert_int_equal(t_sv39_run(c, b, 4, 0), EXC_LOAD_PAGE);
		assert_int_equal(t_sv39_run(c, b, 4, MS_MXR), 78);
	}
	/* superpage, and a misaligned one */
	{
		const uint32_t b[] = { LUI(S4, 0x2ff000), SD(A1, S4, 0x10), ADDI(T0, ZERO, 79), WFI };
		hart_set_reg(h, A1, 0);
		assert_int_equal(t_sv39_run(c, b, 4, 0), 79);
		const uint32_t m[] = { LUI(S4, 0x400000), LD(A0, S4, 0), WFI };
		assert_int_equal(t_sv39_run(c, m, 3, 0), EXC_LOAD_PAGE);
	}
	/* non-canonical address */
	{
		const uint32_t b[] = { ADDI(S4, ZERO, 1), enc_i(38, S4, 1, S4, 0x13) /* slli s4, s4, 38 */,
				       LD(A0, S4, 0), WFI };
		assert_int_equal(t_sv39_run(c, b, 4, 0), EXC_LOAD_PAGE);
		assert_int_equal(hart_get_reg(h, T1), 1ull << 38);
	}
	/* MPRV: M-mode load through S translation */
	{
		const uint32_t b[] = { LUI(S1, 0x1000), LD(A2, S1, 8), WFI };
		const uint32_t p[] = {
			CSRW(0x180, T3), CSRW(0x300, S11), LUI(S1, 0x1000), LD(A2, S1, 8), WFI,
		};
		(void)b;
		t_sv39_tables(c);
		t_put64(c, T_RAM + 0x200008, 0x5555);
		t_handlers(c);
		t_put(c, T_RAM, p, 5);
		hart_reset(h, T_RAM, PRIV_M, 0, 0);
		hart_set_reg(h, T3, (8ull << 60) | ((T_RAM + 0x100000) >> 12));
		hart_set_reg(h, S11, MS_MPRV | (1ull << MS_MPP_SHIFT));
		hart_run(h, 100);
		assert_int_equal(hart_get_reg(h, A2), 0x5555);
	}
}

/* Sv48: a 4-level walk above Sv39's range; a non-canonical address faults */
static void test_sv48(void **state)
{
	struct t_ctx *c = *state;
	struct hart *h = c->h;
	const uint64_t l3 = T_RAM + 0x110000, l2 = l3 + 0x1000, l1 = l3 + 0x2000, l0 = l3 + 0x3000;
	const uint64_t va = 0x0000008040201000ull;	/* l3[1] l2[1] l1[1] l0[1] */
	const uint32_t b[] = { LD(S2, S1, 8), LD(S3, S4, 0), WFI };

	for (unsigned i = 0; i < 512; i++) {
		t_put64(c, l3 + 8 * i, 0);
		t_put64(c, l2 + 8 * i, 0);
		t_put64(c, l1 + 8 * i, 0);
		t_put64(c, l0 + 8 * i, 0);
	}
	t_put64(c, l3 + 0 * 8, t_pte(l2, PTE_V));
	t_put64(c, l2 + 2 * 8, t_pte(T_RAM, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D));	/* code */
	t_put64(c, l3 + 1 * 8, t_pte(l3 + 0x4000, PTE_V));	/* a second level-2 table */
	for (unsigned i = 0; i < 512; i++)
		t_put64(c, l3 + 0x4000 + 8 * i, 0);
	t_put64(c, l3 + 0x4000 + 1 * 8, t_pte(l1, PTE_V));
	t_put64(c, l1 + 1 * 8, t_pte(l0, PTE_V));
	t_put64(c, l0 + 1 * 8, t_pte(T_RAM + 0x207000, PTE_V | PTE_R | PTE_A));
	t_put64(c, T_RAM + 0x207008, 0x4848);
	t_prologue(c, PRIV_S, T_RAM + 0x400, (9ull << 60) | (l3 >> 12), (1u << 13) | (1u << 15), 0);
	t_put(c, T_RAM + 0x400, b, 3);
	hart_set_reg(h, S1, va);
	hart_set_reg(h, S4, 0x0000800000000000ull);	/* not canonical under Sv48 */
	hart_run(h, 1000);
	assert_int_equal(hart_get_reg(h, S2), 0x4848);
	assert_int_equal(hart_get_reg(h, T0), EXC_LOAD_PAGE);
	assert_int_equal(hart_get_reg(h, T1), 0x0000800000000000ull);
}

static void test_sfence_va(void **state)
{
	struct t_ctx *c = *state;
	struct hart *h = c->h;
	const uint64_t l1 = T_RAM + 0x101000, l0 = T_RAM + 0x102000;
	const uint32_t b[] = {
		LD(S2, S1, 0), SD(A2, A1, 0), SFENCE_VMA(S1, 0), LD(S3, S1, 0),
		LD(S4, A3, 0), SD(A6, A5, 0), SFENCE_VMA(A4, 0), LD(S5, A3, 0),
		WFI,
	};

	t_sv39_tables(c);
	t_put64(c, T_RAM + 0x200000, 111);
	t_put64(c, T_RAM + 0x205000, 222);
	t_put64(c, T_RAM + 0x4ff000, 333);
	t_put64(c, T_RAM + 0x6ff000, 444);
	t_prologue(c, PRIV_S, T_RAM + 0x400, (8ull << 60) | ((T_RAM + 0x100000) >> 12),
		   (1u << 13) | (1u << 15), 0);
	t_put(c, T_RAM + 0x400, b, sizeof(b) / 4);
	hart_set_reg(h, S1, 0x1000);
	hart_set_reg(h, A1, l0 + 8);
	hart_set_reg(h, A2, t_pte(T_RAM + 0x205000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
	hart_set_reg(h, A3, 0x2ff000);		/* inside the 2 MiB superpage at 0x200000 */
	hart_set_reg(h, A4, 0x200000);		/* another 4 KiB piece of it */
	hart_set_reg(h, A5, l1 + 8);
	hart_set_reg(h, A6, t_pte(T_RAM + 0x600000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
	hart_run(h, 1000);
	assert_int_equal(hart_get_state(h), HART_WFI);
	assert_int_equal(hart_get_reg(h, S2), 111);
	assert_int_equal(hart_get_reg(h, S3), 222);
	assert_int_equal(hart_get_reg(h, S4), 333);
	assert_int_equal(hart_get_reg(h, S5), 444);
}

static unsigned t_share_refs;
static void t_share_get(void *opaque, uint8_t *page) { (void)opaque; (void)page; t_share_refs++; }
static void t_share_put(void *opaque, uint8_t *page) { (void)opaque; (void)page; t_share_refs--; }

/* Whether h's entries of kind a in every set for the 16 pages from T_RAM are all there or all gone. */
static void t_expect_tlb(struct hart *h, unsigned j, bool there)
{
	for (unsigned s = 0; s < TS_COUNT; s++)
		for (unsigned a = 0; a < 3; a++)
			if ((h->tlb[s].e[a][j].tag != TLB_INVALID) != there)
				fail_msg("set %u kind %u: the entry of page %u is %s", s, a, j, there ? "gone" : "still there");
}

/*
 * Remapping pages in a batch (pmap_tlb_batch, a disk read mapping its cache
 * pages) drops the harts' entries of exactly those pages, in every set and
 * kind, at the batch's end; tlb_drop_gpas checks each page, not a range.
 */
static void test_tlb_drop_batched(void **state)
{
	struct t_ctx *c = *state;
	struct hart *h = c->h;
	static const struct pmap_share_ops ops = { .get = t_share_get, .put = t_share_put };	/* (pmap_free puts) */
	static uint8_t pages[3][VM_PAGE_SIZE] __attribute__((aligned(VM_PAGE_SIZE)));
	const unsigned named[3] = { 5, 3, 9 };

	tlb_flush_all(h);
	for (unsigned s = 0; s < TS_COUNT; s++)
		for (unsigned a = 0; a < 3; a++)
			for (unsigned j = 0; j < 16; j++) {
				h->tlb[s].e[a][j].tag = (uint64_t)j << VM_PAGE_SHIFT;
				h->tlb[s].e[a][j].gpa = T_RAM + ((uint64_t)j << VM_PAGE_SHIFT);
			}
	pmap_tlb_batch(c->vm.pmap, true);
	for (unsigned k = 0; k < 3; k++)
		assert_int_equal(pmap_map_shared(c->vm.pmap, T_RAM + ((uint64_t)named[k] << VM_PAGE_SHIFT), pages[k], &ops), 0);
	t_expect_tlb(h, 5, true);	/* (dropped at the end: no hart runs in between) */
	pmap_tlb_batch(c->vm.pmap, false);
	for (unsigned j = 0; j < 16; j++)
		t_expect_tlb(h, j, j == 3 || j == 5 || j == 9 ? false : true);
	assert_ptr_equal(pmap_page(c->vm.pmap, T_RAM + 0x9000), pages[2]);
	assert_int_equal(t_share_refs, 3);

	/* without a batch, at once; a private page replaces a shared one when stored into */
	h->tlb[TS_S].e[ACC_R][9].tag = 9ull << VM_PAGE_SHIFT;
	assert_non_null(pmap_page_write(c->vm.pmap, T_RAM + 0x9000));
	assert_int_equal(h->tlb[TS_S].e[ACC_R][9].tag, TLB_INVALID);
	assert_int_equal(t_share_refs, 2);
	tlb_flush_all(h);
}

static void test_mmio(void **state)
{
	struct t_ctx *c = *state;
	const uint32_t p[] = {
		LUI(S1, 0x10000000), SW(A0, S1, 0), LW(A1, S1, 0),
		LUI(S2, 0x20000000), LW(A2, S2, 4), WFI,
	};
	struct hart *h = c->h;

	t_handlers(c);
	t_put(c, T_RAM, p, 6);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	h->mtvec = T_MHANDLER;
	hart_set_reg(h, A0, 0x87654321);
	hart_run(h, 100);
	assert_int_equal(c->vm.dev_reg, 0x87654321);
	assert_int_equal(hart_get_reg(h, A1), 0xffffffff87654321ull);
	assert_int_equal(hart_get_reg(h, T0), EXC_LOAD_ACCESS);
	assert_int_equal(hart_get_reg(h, T1), 0x20000004);

	/* a store to the exit register stops hart_run promptly */
	{
		const uint32_t q[] = { LUI(S1, 0x10000000), SD(A0, S1, 8), ADDI(A3, ZERO, 1), JAL(ZERO, -4) };
		t_put(c, T_RAM, q, 4);
		hart_reset(h, T_RAM, PRIV_M, 0, 0);
		assert_int_equal(hart_run(h, 1000000), 2);
		assert_true(c->vm.exit);
		assert_int_equal(hart_run(h, 1000), 0);
		c->vm.exit = false;
	}
	/* execution from a ROM that is not RAM */
	{
		c->vm.rom[0] = ADDI(A4, ZERO, 31);
		c->vm.rom[1] = WFI;
		hart_reset(h, T_ROM, PRIV_M, 0, 0);
		hart_run(h, 100);
		assert_int_equal(hart_get_reg(h, A4), 31);
		assert_int_equal(hart_get_state(h), HART_WFI);
	}
	/* fetch from nowhere: instruction access fault */
	{
		hart_reset(h, 0x30000000, PRIV_M, 0, 0);
		h->mtvec = T_MHANDLER;
		hart_run(h, 100);
		assert_int_equal(hart_get_reg(h, T0), EXC_INSN_ACCESS);
		assert_int_equal(hart_get_reg(h, T1), 0x30000000);
	}
}

static void test_irq_priority(void **state)
{
	struct t_ctx *c = *state;
	/* main: enable MIE, spin; handler: mcause -> t0, exit */
	const uint32_t p[] = { CSRRSI(ZERO, 0x300, 8), JAL(ZERO, 0) };
	const uint32_t m[] = { CSRR(T0, 0x342), LUI(S1, 0x10000000), SD(ZERO, S1, 8), JAL(ZERO, 0) };
	static const unsigned order[] = { IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI };
	struct hart *h = c->h;

	t_put(c, T_RAM, p, 2);
	t_put(c, T_MHANDLER, m, 4);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	h->mtvec = T_MHANDLER;
	h->mie = MIP_ALL;
	for (unsigned i = 0; i < 6; i++)
		hart_set_irq(h, order[i], true);
	for (unsigned i = 0; i < 6; i++) {
		c->vm.exit = false;
		hart_set_pc(h, T_RAM);
		hart_run(h, 1000);
		assert_true(c->vm.exit);
		assert_int_equal(hart_get_reg(h, T0), CAUSE_IRQ | order[i]);
		hart_set_irq(h, order[i], false);
	}
	c->vm.exit = false;
	/* vectored mtvec: pc = base + 4 * cause */
	{
		hart_reset(h, T_RAM, PRIV_M, 0, 0);
		h->mtvec = (T_RAM + 0x3000) | 1;
		h->mie = MIP_MTIP;
		hart_set_irq(h, IRQ_MTI, true);
		hart_run(h, 2);
		assert_int_equal(hart_get_pc(h), T_RAM + 0x3000 + 4 * IRQ_MTI);
		hart_set_irq(h, IRQ_MTI, false);
	}
}

static void test_irq_delegated(void **state)
{
	struct t_ctx *c = *state;
	const uint32_t s[] = { CSRRSI(ZERO, 0x100, 2), JAL(ZERO, 0) };	/* sstatus.SIE = 1 */
	const uint32_t sh[] = { CSRR(T0, 0x142), LUI(S1, 0x10000000), SD(ZERO, S1, 8), JAL(ZERO, 0) };
	const uint32_t mh[] = { CSRR(T0, 0x342), LUI(S1, 0x10000000), SD(ZERO, S1, 8), JAL(ZERO, 0) };
	struct hart *h = c->h;

	t_prologue(c, PRIV_S, T_RAM + 0x400, 0, 0, 0);
	t_put(c, T_RAM + 0x400, s, 2);
	t_put(c, T_SHANDLER, sh, 4);
	t_put(c, T_MHANDLER, mh, 4);
	h->mideleg = MIP_S_MASK;
	h->mie = MIP_STIP | MIP_MTIP;
	hart_set_irq(h, IRQ_STI, true);
	hart_run(h, 1000);
	assert_int_equal(hart_get_priv(h), PRIV_S);
	assert_int_equal(hart_get_reg(h, T0), CAUSE_IRQ | IRQ_STI);
	assert_int_equal(h->mstatus & MS_SPP, MS_SPP);
	assert_true(c->vm.exit);
	c->vm.exit = false;
	hart_set_irq(h, IRQ_STI, false);
	/* M interrupt taken from S even with mstatus.MIE = 0 */
	hart_set_irq(h, IRQ_MTI, true);
	hart_set_pc(h, T_RAM + 0x404);
	h->state = HART_RUNNING;
	hart_run(h, 1000);
	assert_int_equal(hart_get_priv(h), PRIV_M);
	assert_int_equal(hart_get_reg(h, T0), CAUSE_IRQ | IRQ_MTI);
	assert_true(c->vm.exit);
	c->vm.exit = false;
	hart_set_irq(h, IRQ_MTI, false);
	/* an S interrupt is never taken in M mode */
	hart_set_irq(h, IRQ_STI, true);
	{
		const uint32_t m[] = { CSRRSI(ZERO, 0x300, 8), ADDI(A0, ZERO, 5), WFI };
		t_put(c, T_RAM + 0x500, m, 3);
		hart_set_pc(h, T_RAM + 0x500);
		hart_set_reg(h, T0, 0);
		h->state = HART_RUNNING;
		hart_run(h, 3);
		assert_int_equal(hart_get_reg(h, A0), 5);
		assert_int_equal(hart_get_priv(h), PRIV_M);
		assert_int_equal(hart_get_reg(h, T0), 0);
	}
	hart_set_irq(h, IRQ_STI, false);
}

static void test_wfi(void **state)
{
	struct t_ctx *c = *state;
	const uint32_t p[] = { WFI, ADDI(A0, ZERO, 42), LUI(S1, 0x10000000), SD(ZERO, S1, 8) };
	struct hart *h = c->h;

	t_handlers(c);
	t_put(c, T_RAM, p, 4);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	h->mtvec = T_MHANDLER;
	h->mie = MIP_MTIP;		/* enabled, but mstatus.MIE = 0 */
	assert_int_equal(hart_run(h, 1000), 1);
	assert_int_equal(hart_get_state(h), HART_WFI);
	assert_int_equal(hart_run(h, 1000), 0);	/* still waiting */
	hart_set_irq(h, IRQ_MSI, true);		/* not enabled in mie: no wake */
	assert_int_equal(hart_get_state(h), HART_WFI);
	hart_set_irq(h, IRQ_MTI, true);
	assert_int_equal(hart_get_state(h), HART_RUNNING);
	hart_run(h, 1000);
	assert_true(c->vm.exit);
	assert_int_equal(hart_get_reg(h, A0), 42);
	assert_int_equal(h->mcause, 0);		/* not taken: MIE = 0 */
	c->vm.exit = false;
	hart_set_irq(h, IRQ_MSI, false);
	hart_set_irq(h, IRQ_MTI, false);
}

static void test_sstc(void **state)
{
	struct t_ctx *c = *state;
	/* S mode (reset below M sets STCE): stimecmp <- a0, wfi */
	const uint32_t s[] = { CSRW(0x14d, A0), CSRRSI(ZERO, 0x104, 0), WFI, ADDI(A1, ZERO, 3), WFI };
	struct hart *h = c->h;

	c->vm.mtime = 100;
	t_put(c, T_RAM + 0x400, s, 5);
	hart_reset(h, T_RAM + 0x400, PRIV_S, 0, 0);
	h->mie = MIP_STIP;
	hart_set_reg(h, A0, 500);
	hart_run(h, 100);
	assert_int_equal(hart_get_state(h), HART_WFI);
	assert_int_equal(hart_next_timer_ns(h), 50000);
	c->vm.mtime = 501;
	hart_poll_timer(h);
	assert_int_equal(hart_get_state(h), HART_RUNNING);
	hart_run(h, 100);
	assert_int_equal(hart_get_reg(h, A1), 3);	/* SIE = 0: not taken, WFI wakes */
	assert_true(hart_mip(h) & MIP_STIP);
}

static void test_budget_and_faults_forever(void **state)
{
	struct t_ctx *c = *state;
	struct hart *h = c->h;

	/* mtvec = 0: nothing there, access faults forever; must return */
	hart_reset(h, 0x0, PRIV_M, 0, 0);
	hart_run(h, 10000);
	assert_int_equal(h->mcause, EXC_INSN_ACCESS);
	assert_int_equal(hart_instret(h), 0);
}

/* instret is exact across budgets, chunks, traps and CSR writes */
static void test_instret_exact(void **state)
{
	struct t_ctx *c = *state;
	/* 3-insn loop with a CSR write every iteration, then read minstret */
	const uint32_t p[] = {
		ADDI(A0, A0, 1), CSRRW(ZERO, 0x340, A0), BNE(A0, A1, -8),
		CSRR(S2, 0xb02), CSRR(S3, 0xb00), CSRRWI(ZERO, 0x320, 4), ADDI(A2, ZERO, 1),
		CSRR(S4, 0xb02), CSRRWI(ZERO, 0x320, 0), ECALL,
	};
	struct hart *h = c->h;
	uint64_t n = 0, runs = 0;

	t_handlers(c);
	t_put(c, T_RAM, p, sizeof(p) / 4);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	h->mtvec = T_MHANDLER;
	hart_set_reg(h, A1, 5000);
	while (hart_get_state(h) == HART_RUNNING) {
		n += hart_run(h, 777);
		runs++;
	}
	/* 15000 loop insns, 6 after it, then the handler's 4 (ECALL does not retire) */
	assert_int_equal(n, 15000 + 6 + 4);
	/* not counted: the inhibiting CSRRWI, ADDI, CSRR (the count is frozen) */
	assert_int_equal(hart_instret(h), n - 3);
	assert_int_equal(hart_get_reg(h, S2), 15000);
	assert_int_equal(hart_get_reg(h, S3), 15001);
	assert_int_equal(hart_get_reg(h, S4), 15000 + 2);	/* frozen from the inhibit on */
	assert_int_equal(hart_get_reg(h, T0), EXC_ECALL_M);
	assert_true(runs > 15000 / 777);
}

static uint64_t t_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random words in every mode: nothing a guest does crashes the process. */
static void test_random_words(void **state)
{
	struct t_ctx *c = *state;
	struct hart *h = c->h;
	uint64_t seed = 0x1234567887654321ull;

	for (unsigned round = 0; round < 200; round++) {
		uint32_t w[1024];
		for (unsigned i = 0; i < 1024; i++) {
			uint64_t r = t_rand(&seed);
			w[i] = (uint32_t)r;
			/* bias towards real opcodes */
			if (r >> 62)
				w[i] = (w[i] & ~0x7fu) | ((const uint8_t[]){ 0x13, 0x33, 0x03, 0x23, 0x63,
					0x6f, 0x67, 0x73, 0x2f, 0x1b, 0x3b, 0x37 })[(r >> 40) % 12];
		}
		t_put(c, T_RAM, w, 1024);
		t_put(c, T_RAM + 0x1000, w, 1024);
		hart_reset(h, T_RAM, (enum priv[]){ PRIV_M, PRIV_S, PRIV_U }[round % 3], 0, 0);
		for (unsigned r = 1; r < 32; r++)
			hart_set_reg(h, r, round & 1 ? T_RAM + (t_rand(&seed) & 0xffff) : t_rand(&seed));
		h->mtvec = T_RAM + 0x1000;
		h->stvec = T_RAM + 0x1800;
		for (unsigned k = 0; k < 20 && hart_get_state(h) != HART_STOPPED; k++) {
			c->vm.exit = false;
			if (hart_get_state(h) == HART_WFI)
				hart_set_state(h, HART_RUNNING);
			hart_run(h, 5000);
		}
	}
	c->vm.exit = false;
}

static void test_speed(void **state)
{
	struct t_ctx *c = *state;
	/* loop: ld t0,0(s1); add t0,t0,a0; sd t0,0(s1); addi a0,a0,1; bne a0,a1,loop */
	const uint32_t p[] = {
		LD(T0, S1, 0), ADD(T0, T0, A0), SD(T0, S1, 0), ADDI(A0, A0, 1), BNE(A0, A1, -16), WFI,
	};
	const uint32_t q[] = { ADDI(A0, A0, 1), BNE(A0, A1, -4), WFI };
	struct hart *h = c->h;
	struct timespec t0, t1;
	uint64_t n;
	double s;

	t_put(c, T_RAM, p, 6);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	hart_set_reg(h, S1, T_RAM + 0x300000);
	hart_set_reg(h, A1, 10000000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = 0;
	while (hart_get_state(h) == HART_RUNNING)
		n += hart_run(h, 1000000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	assert_int_equal(n, 10000000ull * 5 + 1);
	printf("# speed: load/add/store loop %.0f M instructions/s\n", (double)n / s / 1e6);

	t_put(c, T_RAM, q, 3);
	hart_reset(h, T_RAM, PRIV_M, 0, 0);
	hart_set_reg(h, A1, 25000000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = 0;
	while (hart_get_state(h) == HART_RUNNING)
		n += hart_run(h, 1000000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	assert_int_equal(n, 25000000ull * 2 + 1);
	printf("# speed: addi/bne loop %.0f M instructions/s\n", (double)n / s / 1e6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_alu_corners, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_alu_wforms, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_loads_stores, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_amo_lrsc, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_lrsc_broken, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_amo_misaligned, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_illegal, t_setup, t_teardown),
		cmocka_unit_test(test_compressed_decode),
		cmocka_unit_test(test_compressed_all),
		cmocka_unit_test_setup_teardown(test_compressed_run, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_insn_across_page, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_self_modifying, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_branch_links, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_jit_matches_interpreter, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_jit_store_into_block, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_fused_pairs, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_cross_hart_code_write, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_csr_basic, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_csr_permissions, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_sbi_ecall, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_delegation, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_sv39, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_sv48, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_sfence_va, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_tlb_drop_batched, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_mmio, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_irq_priority, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_irq_delegated, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_wfi, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_sstc, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_budget_and_faults_forever, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_instret_exact, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_random_words, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_speed, t_setup, t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
