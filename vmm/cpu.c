/*
 * cpu.c — the RV64IMAC hart interpreter: hart lifecycle, traps and
 * interrupts, and the run loop.
 *
 * Run loop. hart_run works in chunks of at most HART_CHUNK instructions.
 * Between chunks it checks vm_exit_requested(), the Sstc timer and pending
 * interrupts. Inside a chunk, pc, the chunk limit and the current fetch page
 * (its decoded slots and host address) are locals; dispatch is direct
 * threading: each decoded slot holds its handler's address (chosen when
 * the slot is decoded: same-page branches get slot-linked handlers, the
 * first of a frequent pair a handler that runs both with one dispatch).
 * Anything that can change what the outer checks see — a CSR write, xRET,
 * WFI, MMIO, an SBI call — ends the chunk by setting the limit to the
 * current count (h->brk from out-of-line code).
 *
 * Counting. `w` counts work: retired instructions plus traps taken, so a
 * guest that faults forever still returns to its caller after `budget`.
 * Retired = w - traps; minstret and mcycle (= instret here) are brought up
 * to date before every CSR instruction and at chunk ends.
 *
 * LR/SC. One reservation per hart, on the guest-physical address. It is
 * dropped on every trap and whenever hart_run returns, since only then can
 * another hart or a device (all in this thread) write memory: an SC after
 * a trap, or after another hart ran, fails.
 */
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "vmm/cpu.h"
#include "vmm/decode.h"

const void *hart_decode_entry;

/* ---------------------------------------------------------------- modes */

void hart_update_mode(struct hart *h)
{
	enum priv p = h->priv;

	h->fset = &h->tlb[p == PRIV_U ? TS_U : p == PRIV_S ? TS_S : TS_M];
	if (p == PRIV_M && (h->mstatus & MS_MPRV))
		p = (enum priv)((h->mstatus & MS_MPP) >> MS_MPP_SHIFT);
	if (p == PRIV_U)
		h->dset = &h->tlb[TS_U];
	else if (p == PRIV_S)
		h->dset = &h->tlb[(h->mstatus & MS_SUM) ? TS_SUM : TS_S];
	else
		h->dset = &h->tlb[TS_M];
}

uint64_t hart_mip(const struct hart *h)
{
	return h->mip | (h->seip_line ? MIP_SEIP : 0) | (h->stip_sstc ? MIP_STIP : 0);
}

void hart_timer_check(struct hart *h)
{
	h->stip_sstc = (h->menvcfg & MENVCFG_STCE) && h->stimecmp != UINT64_MAX &&
		       vm_mtime(h->vm) >= h->stimecmp;
}

static inline void hart_count(struct hart *h, uint64_t n)
{
	if (!(h->mcountinhibit & 4))
		h->minstret += n;
	if (!(h->mcountinhibit & 1))
		h->mcycle += n;
}

/* ---------------------------------------------------------------- traps */

/*
 * hart_trap - take exception or interrupt `cause` (CAUSE_IRQ set for an
 * interrupt) at pc. Returns the handler's pc; privilege and mstatus are
 * updated, the reservation dropped.
 */
uint64_t hart_trap(struct hart *h, uint64_t pc, uint64_t cause, uint64_t tval)
{
	bool irq = cause & CAUSE_IRQ;
	unsigned code = (unsigned)(cause & 63);
	uint64_t deleg = irq ? h->mideleg : h->medeleg, vec;

	h->resv_valid = false;
	if (irq)
		h->stats.interrupts++;
	else
		h->stats.exceptions++;
	if (h->priv <= PRIV_S && ((deleg >> code) & 1)) {
		h->scause = cause;
		h->sepc = pc;
		h->stval = tval;
		h->mstatus &= ~(MS_SPIE | MS_SPP);
		if (h->mstatus & MS_SIE)
			h->mstatus |= MS_SPIE;
		if (h->priv == PRIV_S)
			h->mstatus |= MS_SPP;
		h->mstatus &= ~MS_SIE;
		h->priv = PRIV_S;
		vec = h->stvec;
	} else {
		h->mcause = cause;
		h->mepc = pc;
		h->mtval = tval;
		h->mstatus &= ~(MS_MPIE | MS_MPP);
		if (h->mstatus & MS_MIE)
			h->mstatus |= MS_MPIE;
		h->mstatus |= (uint64_t)h->priv << MS_MPP_SHIFT;
		h->mstatus &= ~MS_MIE;
		h->priv = PRIV_M;
		vec = h->mtvec;
	}
	hart_update_mode(h);
	if (irq && (vec & 3) == 1)
		return (vec & ~3ull) + 4ull * code;
	return vec & ~3ull;
}

static const uint8_t irq_order[] = { IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI };

/* The interrupt to take now, or -1. */
static int irq_pick(const struct hart *h)
{
	uint64_t pend = hart_mip(h) & h->mie, m, s;

	if (!pend)
		return -1;
	m = pend & ~h->mideleg;
	if (m && (h->priv < PRIV_M || (h->mstatus & MS_MIE))) {
		for (unsigned i = 0; i < sizeof(irq_order); i++)
			if ((m >> irq_order[i]) & 1)
				return irq_order[i];
	}
	s = pend & h->mideleg;
	if (s && (h->priv < PRIV_S || (h->priv == PRIV_S && (h->mstatus & MS_SIE)))) {
		for (unsigned i = 0; i < sizeof(irq_order); i++)
			if ((s >> irq_order[i]) & 1)
				return irq_order[i];
	}
	return -1;
}

static uint64_t hart_mret(struct hart *h)
{
	enum priv mpp = (enum priv)((h->mstatus & MS_MPP) >> MS_MPP_SHIFT);

	h->mstatus &= ~MS_MIE;
	if (h->mstatus & MS_MPIE)
		h->mstatus |= MS_MIE;
	h->mstatus |= MS_MPIE;
	h->mstatus &= ~MS_MPP;
	if (mpp != PRIV_M)
		h->mstatus &= ~MS_MPRV;
	h->priv = mpp;
	hart_update_mode(h);
	return h->mepc;
}

static uint64_t hart_sret(struct hart *h)
{
	enum priv spp = (h->mstatus & MS_SPP) ? PRIV_S : PRIV_U;

	h->mstatus &= ~MS_SIE;
	if (h->mstatus & MS_SPIE)
		h->mstatus |= MS_SIE;
	h->mstatus |= MS_SPIE;
	h->mstatus &= ~(MS_SPP | MS_MPRV);
	h->priv = spp;
	hart_update_mode(h);
	return h->sepc;
}

/* ---------------------------------------------------------------- API */

/* hart_new - a hart at the reset vector 0x1000 in M mode, running. NULL if out of memory. */
struct hart *hart_new(struct vm *vm, unsigned hartid)
{
	struct hart *h = aligned_alloc(64, (sizeof(struct hart) + 63) & ~(size_t)63);

	if (!h)
		return NULL;
	memset(h, 0, sizeof(*h));
	h->vm = vm;
	h->hartid = hartid;
	h->pmap = vm_pmap(vm);
	if (h->pmap && pmap_hart_attach(h->pmap, h) < 0) {
		LOG(SUB_VMM, LOG_ERROR, "hart %u: more than %d harts in one VM", hartid, PMAP_MAX_HARTS);
		free(h);
		return NULL;
	}
	if (!hart_decode_entry)
		hart_run(NULL, 0);	/* publishes the decode handler */
	h->tmp[1].op = h->tmp[2].op = OP_PAGE_END;
	h->tmp[1].run = h->tmp[2].run = hart_decode_entry;
	hart_reset(h, 0x1000, PRIV_M, hartid, 0);
	return h;
}

void hart_free(struct hart *h)
{
	if (!h)
		return;
	if (h->pmap)
		pmap_hart_detach(h->pmap, h);
	free(h);
}

/*
 * hart_reset - registers zero but a0/a1, pc, privilege; CSRs at reset.
 * Starting below M mode means there is no M-mode software: the hart then
 * delegates every exception but ecall-from-S and every S interrupt to S,
 * enables all counters to S and U, and turns on Sstc (menvcfg.STCE), as
 * SBI firmware would; ecalls from S go to vm_sbi_ecall().
 */
void hart_reset(struct hart *h, uint64_t pc, enum priv priv, uint64_t a0, uint64_t a1)
{
	memset(h->x, 0, sizeof(h->x));
	h->x[10] = a0;
	h->x[11] = a1;
	h->pc = pc;
	h->pc_set = 1;
	h->priv = priv == PRIV_U || priv == PRIV_S ? priv : PRIV_M;
	h->state = HART_RUNNING;
	h->mstatus = MS_UXL | MS_SXL;
	h->mie = 0;
	h->mip &= MIP_MSIP | MIP_MTIP | MIP_MEIP | MIP_STIP;	/* board-driven levels stay */
	h->medeleg = h->mideleg = 0;
	h->mtvec = h->stvec = 0;
	h->mepc = h->sepc = h->mcause = h->scause = h->mtval = h->stval = 0;
	h->mscratch = h->sscratch = 0;
	h->satp = 0;
	h->mcounteren = h->scounteren = 0;
	h->menvcfg = h->senvcfg = 0;
	h->mcountinhibit = 0;
	h->stimecmp = UINT64_MAX;
	h->stip_sstc = false;
	memset(h->pmpcfg, 0, sizeof(h->pmpcfg));
	memset(h->pmpaddr, 0, sizeof(h->pmpaddr));
	h->resv_valid = false;
	h->fwd.state = 0;
	if (h->stall != STALL_MEM)	/* a pending miss still completes into creq */
		h->stall = STALL_NONE;
	if (h->priv != PRIV_M) {
		h->medeleg = 0xb3ffull & ~(1ull << EXC_ECALL_S);
		h->mideleg = MIP_S_MASK;
		h->mcounteren = ~0u;
		h->menvcfg = MENVCFG_STCE;
		h->mstatus |= (uint64_t)PRIV_S << MS_MPP_SHIFT;
	}
	tlb_flush_all(h);
	/* memory may have been loaded behind the store path (images, DMA) */
	if (h->pmap)
		pmap_epoch_bump(h->pmap);
	hart_update_mode(h);
	h->brk = 1;
}

enum hart_state hart_get_state(const struct hart *h) { return h->state; }

void hart_set_state(struct hart *h, enum hart_state s)
{
	h->state = s;
	h->brk = 1;
}

uint64_t hart_get_reg(const struct hart *h, unsigned r) { return r < 32 ? h->x[r] : 0; }

void hart_set_reg(struct hart *h, unsigned r, uint64_t v)
{
	if (r > 0 && r < 32)
		h->x[r] = v;
}

uint64_t hart_get_pc(const struct hart *h) { return h->pc; }

void hart_set_pc(struct hart *h, uint64_t pc)
{
	h->pc = pc & ~1ull;
	h->pc_set = 1;
	h->brk = 1;
}

enum priv hart_get_priv(const struct hart *h) { return h->priv; }
uint64_t hart_instret(const struct hart *h) { return h->minstret; }

void hart_get_stats(const struct hart *h, struct hart_stats *st)
{
	*st = h->stats;
}

void hart_set_irq(struct hart *h, unsigned irq, bool level)
{
	uint64_t bit;

	if (irq > 63 || !((MIP_ALL >> irq) & 1))
		return;
	bit = 1ull << irq;
	if (h->shadow) {
		/*
		 * The hart runs on another node: send the level there when it
		 * changes; software interrupts every time (the hart clears its
		 * MSIP through its own node's CLINT, and SSIP in its own mip,
		 * neither of which this node sees).
		 */
		if (!!(h->irq_fwd & bit) != level || irq == IRQ_MSI || irq == IRQ_SSI) {
			h->irq_fwd = level ? h->irq_fwd | bit : h->irq_fwd & ~bit;
			vm_irq_forward(h->vm, h->hartid, irq, level);
		}
		return;
	}
	if (irq == IRQ_SEI)
		h->seip_line = level;
	else if (level)
		h->mip |= bit;
	else
		h->mip &= ~bit;
	h->brk = 1;
	if (h->state == HART_WFI && (hart_mip(h) & h->mie))
		h->state = HART_RUNNING;
}

/* ---- a VM spanning nodes ---- */

static void hart_coh_done(struct coh_req *req, int status)
{
	struct hart *h = req->opaque;

	(void)status;	/* the retry sees the error again and faults */
	hart_wake(h, STALL_MEM);
}

unsigned hart_get_id(const struct hart *h)
{
	return h->hartid;
}

bool hart_stalled(const struct hart *h)
{
	return h->stall != STALL_NONE;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hart_wake(struct hart *h, unsigned why)
{
	if (h->stall == why) {
		uint64_t d = mono_ns() - h->stall_t0;

		if (why != STALL_MEM)
			h->stats.stall_monitor_ns += d;
		else if (h->stall_remote)
			h->stats.stall_remote_ns += d;
		else
			h->stats.stall_local_ns += d;
		h->stall = STALL_NONE;
		h->woke = true;
	}
}

bool hart_take_woke(struct hart *h)
{
	bool w = h->woke;

	h->woke = false;
	return w;
}

void hart_set_span(struct hart *h, struct coh_mem *coh, bool shadow)
{
	h->coh = coh;
	h->shadow = shadow;
	h->creq.done = hart_coh_done;
	h->creq.opaque = h;
}

bool hart_is_shadow(const struct hart *h)
{
	return h->shadow;
}

void hart_code_lost(struct hart *h, uint64_t gpa)
{
	tlb_drop_gpa(h, gpa & ~(VM_PAGE_SIZE - 1), 1u << ACC_X, false);
	h->brk = 1;
}

void hart_data_lost(struct hart *h, uint64_t gpa)
{
	tlb_drop_gpa(h, gpa & ~(VM_PAGE_SIZE - 1), 1u << ACC_R | 1u << ACC_W, true);
	h->brk = 1;
}

void hart_page_unmapped(struct hart *h, uint64_t gpa)
{
	uint64_t pg = gpa & ~(VM_PAGE_SIZE - 1);

	tlb_drop_gpa(h, pg, TLB_ALL, false);
	if (h->resv_valid && (h->resv_addr & ~(VM_PAGE_SIZE - 1)) == pg)
		h->resv_valid = false;
	h->brk = 1;
}

void hart_line_lost(struct hart *h, uint64_t line, uint64_t line_mask)
{
	if (h->resv_valid && (h->resv_line & ~line_mask) == line)
		h->resv_valid = false;
}

void hart_stall(struct hart *h, unsigned why)
{
	if (h->stall != why)
		h->stall_t0 = mono_ns();
	h->stall = (uint8_t)why;
}

int hart_mmio_forwarded(struct hart *h, uint64_t gpa, unsigned size, bool write, uint64_t *val, int *rc)
{
	if (h->fwd.state == 2) {
		h->fwd.state = 0;
		if (h->fwd.gpa == gpa && h->fwd.size == size && h->fwd.write == write) {
			if (!write)
				*val = h->fwd.val;
			*rc = h->fwd.rc;
			return 1;
		}
		/* an answer for another access (the hart was reset meanwhile): ask again */
	}
	if (h->fwd.state == 1)
		return 2;
	h->fwd.gpa = gpa;
	h->fwd.size = (uint8_t)size;
	h->fwd.write = write;
	h->fwd.state = 1;
	return 0;
}

void hart_mmio_answer(struct hart *h, int rc, uint64_t val)
{
	if (h->fwd.state != 1)
		return;		/* not waiting: a stale or duplicate answer */
	h->fwd.state = 2;
	h->fwd.rc = rc;
	h->fwd.val = val;
	hart_wake(h, STALL_MMIO);
}

void hart_poll_timer(struct hart *h)
{
	hart_timer_check(h);
	if (h->state == HART_WFI && (hart_mip(h) & h->mie))
		h->state = HART_RUNNING;
}

uint64_t hart_next_timer_ns(const struct hart *h)
{
	if (!(h->menvcfg & MENVCFG_STCE) || h->stimecmp == UINT64_MAX || h->stip_sstc ||
	    !(h->mie & MIP_STIP))
		return UINT64_MAX;
	return vm_mtime_to_ns(h->vm, h->stimecmp);
}

void hart_flush_tlb(struct hart *h)
{
	if (h->shadow) {	/* SBI RFENCE for a hart on another node: the flush travels there */
		vm_flush_forward(h->vm, h->hartid, false);
		return;
	}
	tlb_flush_all(h);
	h->brk = 1;
}

void hart_flush_icache(struct hart *h)
{
	if (h->shadow) {
		vm_flush_forward(h->vm, h->hartid, true);
		return;
	}
	if (h->pmap)
		pmap_epoch_bump(h->pmap);
	for (unsigned s = 0; s < TS_COUNT; s++)
		for (unsigned i = 0; i < TLB_SIZE; i++)
			h->tlb[s].e[ACC_X][i].tag = TLB_INVALID;
	h->brk = 1;
}

/* ---------------------------------------------------------------- interpreter */

static inline uint64_t mulhu64(uint64_t a, uint64_t b)
{
	return (uint64_t)(((unsigned __int128)a * b) >> 64);
}

static inline uint64_t mulh64(int64_t a, int64_t b)
{
	return (uint64_t)((__int128)a * b >> 64);
}

static inline uint64_t mulhsu64(int64_t a, uint64_t b)
{
	return (uint64_t)((__int128)a * (__int128)b >> 64);
}

static inline int64_t div64(int64_t a, int64_t b)
{
	if (b == 0)
		return -1;
	if (a == INT64_MIN && b == -1)
		return a;
	return a / b;
}

static inline int64_t rem64(int64_t a, int64_t b)
{
	if (b == 0)
		return a;
	if (a == INT64_MIN && b == -1)
		return 0;
	return a % b;
}

static inline uint64_t sx32(uint64_t v)
{
	return (uint64_t)(int64_t)(int32_t)(uint32_t)v;
}

/* AMO: new memory value from old and the register operand. */
static inline uint64_t amo_op(unsigned f5, uint64_t a, uint64_t b, bool w)
{
	if (w) {
		a = sx32(a);
		b = sx32(b);
	}
	switch (f5) {
	case 0x00: return a + b;
	case 0x01: return b;
	case 0x04: return a ^ b;
	case 0x08: return a | b;
	case 0x0c: return a & b;
	case 0x10: return (int64_t)a < (int64_t)b ? a : b;
	case 0x14: return (int64_t)a > (int64_t)b ? a : b;
	case 0x18: return (w ? (uint32_t)a < (uint32_t)b : a < b) ? a : b;
	default:   return (w ? (uint32_t)a > (uint32_t)b : a > b) ? a : b;
	}
}

/*
 * amo - LR, SC or an AMO at va. Returns 0 with *rd_val, or a fault with *tval.
 */
static uint32_t amo(struct hart *h, const struct dinsn *d, bool w, uint64_t *rd_val, uint64_t *tval)
{
	unsigned f5 = (unsigned)d->imm, size = w ? 4 : 8;
	uint64_t va = h->x[d->rs1], gpa, old = 0;
	void *p;
	uint32_t r;

	r = mmu_atomic_ptr(h, va, size, f5 == 0x02, &p, &gpa, tval);
	if (r)
		return r;
	if (f5 == 0x03) {	/* SC */
		if (h->resv_valid && h->resv_addr == gpa) {
			memcpy(p, &h->x[d->rs2], size);
			*rd_val = 0;
		} else {
			*rd_val = 1;
		}
		h->resv_valid = false;
		return 0;
	}
	memcpy(&old, p, size);
	if (w)
		old = sx32(old);
	if (f5 == 0x02) {	/* LR */
		h->resv_valid = true;
		h->resv_addr = gpa;
	} else {
		uint64_t nv = amo_op(f5, old, h->x[d->rs2], w);
		memcpy(p, &nv, size);
	}
	*rd_val = old;
	return 0;
}

/* Raw bits of a SYSTEM instruction that traps as illegal (mtval). */
static uint32_t system_raw(const struct dinsn *d)
{
	unsigned op = d->op & ~OP_C;
	unsigned rd = d->rd == 32 ? 0 : d->rd;

	switch (op) {
	case OP_MRET: return 0x30200073;
	case OP_SRET: return 0x10200073;
	case OP_WFI: return 0x10500073;
	case OP_SFENCE_VMA: return (0x09u << 25) | ((unsigned)d->rs2 << 20) | ((unsigned)d->rs1 << 15) | 0x73;
	default: {
		static const uint8_t f3[OP_COUNT] = {
			[OP_CSRRW] = 1, [OP_CSRRS] = 2, [OP_CSRRC] = 3,
			[OP_CSRRWI] = 5, [OP_CSRRSI] = 6, [OP_CSRRCI] = 7,
		};
		return ((uint32_t)d->imm << 20) | ((unsigned)d->rs1 << 15) | ((unsigned)f3[op] << 12) |
		       (rd << 7) | 0x73;
	}
	}
}

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
#endif

/*
 * The handlers. Those of operations that have a 16-bit form are written
 * once in HANDLERS_C and instantiated twice, for 4- and 2-byte encodings,
 * so the length is a constant in each copy; the others exist once.
 *
 * Counting inside a chunk: `left` counts down the work left in it; the
 * chunk's work done is `chunk - left`. STOP() makes the current instruction
 * the last of the chunk without losing count.
 */
#define HANDLERS_C(S, L) \
L_JAL##S: { \
		uint64_t t = pc + (L); \
		pc += IMM; \
		RD = t; \
		JUMP(); \
	} \
L_JALR##S: { \
		uint64_t t = pc + (L); \
		pc = (S1 + IMM) & ~1ull; \
		RD = t; \
		JUMP(); \
	} \
L_JAL_L##S: { \
		uint64_t t = pc + (L); \
		pc += IMM; \
		RD = t; \
		LJUMP(); \
	} \
L_BEQ##S:	BRANCH(S1 == S2, L); \
L_BNE##S:	BRANCH(S1 != S2, L); \
L_BEQ_L##S:	LBRANCH(S1 == S2, L); \
L_BNE_L##S:	LBRANCH(S1 != S2, L); \
L_BEQZ_L##S:	LBRANCH(S1 == 0, L); \
L_BNEZ_L##S:	LBRANCH(S1 != 0, L); \
L_LW##S:	LOAD(int32_t, 4, L); \
L_LD##S:	LOAD(uint64_t, 8, L); \
L_SW##S:	STORE(uint32_t, 4, L); \
L_SD##S:	STORE(uint64_t, 8, L); \
L_LUI##S:	RD = IMM; NEXT(L); \
L_LI##S:	RD = IMM; NEXT(L); \
L_MV##S:	RD = S1; NEXT(L); \
L_BEQZ##S:	BRANCH(S1 == 0, L); \
L_BNEZ##S:	BRANCH(S1 != 0, L); \
L_ADDI##S:	RD = S1 + IMM; NEXT(L); \
L_ANDI##S:	RD = S1 & IMM; NEXT(L); \
L_SLLI##S:	RD = S1 << d->imm; NEXT(L); \
L_SRLI##S:	RD = S1 >> d->imm; NEXT(L); \
L_SRAI##S:	RD = (uint64_t)((int64_t)S1 >> d->imm); NEXT(L); \
L_ADD##S:	RD = S1 + S2; NEXT(L); \
L_SUB##S:	RD = S1 - S2; NEXT(L); \
L_XOR##S:	RD = S1 ^ S2; NEXT(L); \
L_OR##S:	RD = S1 | S2; NEXT(L); \
L_AND##S:	RD = S1 & S2; NEXT(L); \
L_ADDIW##S:	RD = sx32(S1 + IMM); NEXT(L); \
L_ADDW##S:	RD = sx32(S1 + S2); NEXT(L); \
L_SUBW##S:	RD = sx32(S1 - S2); NEXT(L);

/* ops with a 16-bit form: two dispatch entries, two handler copies */
#define OPS_C(X) \
	X(JAL) X(JALR) X(BEQ) X(BNE) X(LW) X(LD) X(SW) X(SD) X(LUI) X(ADDI) X(ANDI) \
	X(SLLI) X(SRLI) X(SRAI) X(ADD) X(SUB) X(XOR) X(OR) X(AND) X(ADDIW) X(ADDW) X(SUBW) \
	X(LI) X(MV) X(BEQZ) X(BNEZ)
/* ops with no 16-bit form (or whose handler does not advance the pc) */
#define OPS_4(X) \
	X(DECODE) X(ILLEGAL) X(AUIPC) X(BLT) X(BGE) X(BLTU) X(BGEU) \
	X(LB) X(LH) X(LBU) X(LHU) X(LWU) X(SB) X(SH) \
	X(SLTI) X(SLTIU) X(XORI) X(ORI) X(SLL) X(SLT) X(SLTU) X(SRL) X(SRA) \
	X(SLLIW) X(SRLIW) X(SRAIW) X(SLLW) X(SRLW) X(SRAW) \
	X(MUL) X(MULH) X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU) \
	X(MULW) X(DIVW) X(DIVUW) X(REMW) X(REMUW) X(AMO_W) X(AMO_D) \
	X(FENCE) X(FENCE_I) X(ECALL) X(EBREAK) X(MRET) X(SRET) X(WFI) X(SFENCE_VMA) \
	X(CSRRW) X(CSRRS) X(CSRRC) X(CSRRWI) X(CSRRSI) X(CSRRCI) X(NOP) X(PAGE_END)

#define OP_COUNT_X(n) + 1
_Static_assert(0 OPS_C(OP_COUNT_X) OPS_4(OP_COUNT_X) == OP_COUNT, "every op has a handler");
#undef OP_COUNT_X

/*
 * GCC would merge the handlers' identical dispatch tails back into one
 * indirect jump (cross-jumping), undoing the replication NEXT() does.
 */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-crossjumping", "no-gcse")))
#endif
uint64_t hart_run(struct hart *h, uint64_t budget)
{
#define LABEL_C(n) [OP_##n] = &&L_##n##_4, [OP_##n | OP_C] = &&L_##n##_2,
#define LABEL_4(n) [OP_##n] = &&L_##n, [OP_##n | OP_C] = &&L_##n,
	static const void *const tbl[256] = {
		[0 ... 255] = &&L_ILLEGAL,
		OPS_C(LABEL_C)
		OPS_4(LABEL_4)
	};
	/* branches and JAL whose target is in the same page: linked by slot */
#define LABEL_L(n) [OP_##n] = &&L_##n##_L_4, [OP_##n | OP_C] = &&L_##n##_L_2,
#define LABEL_L4(n) [OP_##n] = &&L_##n##_L,
	static const void *const ltbl[256] = {
		LABEL_L(JAL) LABEL_L(BEQ) LABEL_L(BNE) LABEL_L(BEQZ) LABEL_L(BNEZ)
		LABEL_L4(BLT) LABEL_L4(BGE) LABEL_L4(BLTU) LABEL_L4(BGEU)
	};
#undef LABEL_C
#undef LABEL_4
#undef LABEL_L
#undef LABEL_L4
	/*
	 * Fused pairs: frequent (first op, second handler) pairs in compiled
	 * code. The first slot's handler runs its instruction and jumps
	 * straight (no indirect dispatch) to the second's handler; each still
	 * counts and checks the chunk, so traps, budget and instret are as
	 * for two separate instructions.
	 */
	static const bool fusable[256] = {
		[OP_ADD] = true,
		[OP_ADD | OP_C] = true,
		[OP_ADDI] = true,
		[OP_ADDI | OP_C] = true,
		[OP_ADDW] = true,
		[OP_LBU] = true,
		[OP_LW] = true,
		[OP_LW | OP_C] = true,
		[OP_MULW] = true,
		[OP_MV | OP_C] = true,
		[OP_SB] = true,
		[OP_SLLI] = true,
		[OP_SLLI | OP_C] = true,
		[OP_SUB] = true,
		[OP_SW] = true,
		[OP_ADDIW | OP_C] = true,
		[OP_ANDI] = true,
		[OP_SD] = true,
		[OP_SRLI | OP_C] = true,
		[OP_SW | OP_C] = true,
	};
	/* ops that can start a compiled block (jit.c says whether one is made) */
	static const bool jit_try[256] = {
#define JIT_TRY(n) [OP_##n] = true, [OP_##n | OP_C] = true,
		JIT_TRY(LUI) JIT_TRY(LI) JIT_TRY(MV) JIT_TRY(ADDI) JIT_TRY(SLTI) JIT_TRY(SLTIU)
		JIT_TRY(XORI) JIT_TRY(ORI) JIT_TRY(ANDI) JIT_TRY(SLLI) JIT_TRY(SRLI) JIT_TRY(SRAI)
		JIT_TRY(ADD) JIT_TRY(SUB) JIT_TRY(SLL) JIT_TRY(SLT) JIT_TRY(SLTU) JIT_TRY(XOR)
		JIT_TRY(SRL) JIT_TRY(SRA) JIT_TRY(OR) JIT_TRY(AND) JIT_TRY(ADDIW) JIT_TRY(SLLIW)
		JIT_TRY(SRLIW) JIT_TRY(SRAIW) JIT_TRY(ADDW) JIT_TRY(SUBW) JIT_TRY(SLLW) JIT_TRY(SRLW)
		JIT_TRY(SRAW) JIT_TRY(MUL) JIT_TRY(MULW) JIT_TRY(LB) JIT_TRY(LH) JIT_TRY(LW)
		JIT_TRY(LD) JIT_TRY(LBU) JIT_TRY(LHU) JIT_TRY(LWU) JIT_TRY(SB) JIT_TRY(SH)
		JIT_TRY(SW) JIT_TRY(SD) JIT_TRY(NOP) JIT_TRY(FENCE) JIT_TRY(AUIPC)
		JIT_TRY(BEQ) JIT_TRY(BNE) JIT_TRY(BLT) JIT_TRY(BGE) JIT_TRY(BLTU) JIT_TRY(BGEU)
		JIT_TRY(BEQZ) JIT_TRY(BNEZ) JIT_TRY(JAL)
#undef JIT_TRY
	};
	static const struct { uint8_t a; const void *b, *f; } fuse[] = {
		{ OP_ADDI | OP_C, &&L_ADDI_2, &&L_F_ADDI_2__ADDI_2 },
		{ OP_ADDI | OP_C, &&L_BGE_L, &&L_F_ADDI_2__BGE_L },
		{ OP_ADDI | OP_C, &&L_BLT_L, &&L_F_ADDI_2__BLT_L },
		{ OP_ADDI | OP_C, &&L_BLTU_L, &&L_F_ADDI_2__BLTU_L },
		{ OP_ADDI | OP_C, &&L_BEQ_L_4, &&L_F_ADDI_2__BEQ_L_4 },
		{ OP_ADDI | OP_C, &&L_MULW, &&L_F_ADDI_2__MULW },
		{ OP_ADDI | OP_C, &&L_SW_4, &&L_F_ADDI_2__SW_4 },
		{ OP_ADDI | OP_C, &&L_SB, &&L_F_ADDI_2__SB },
		{ OP_ADDI | OP_C, &&L_ADD_4, &&L_F_ADDI_2__ADD_4 },
		{ OP_ADDI, &&L_ADDI_2, &&L_F_ADDI_4__ADDI_2 },
		{ OP_ADD | OP_C, &&L_LW_2, &&L_F_ADD_2__LW_2 },
		{ OP_ADD | OP_C, &&L_ADD_2, &&L_F_ADD_2__ADD_2 },
		{ OP_ADD | OP_C, &&L_LBU, &&L_F_ADD_2__LBU },
		{ OP_ADD, &&L_SUB_4, &&L_F_ADD_4__SUB_4 },
		{ OP_ADD, &&L_LBU, &&L_F_ADD_4__LBU },
		{ OP_SLLI, &&L_SLLI_4, &&L_F_SLLI_4__SLLI_4 },
		{ OP_SLLI, &&L_ADD_2, &&L_F_SLLI_4__ADD_2 },
		{ OP_SLLI | OP_C, &&L_ADD_2, &&L_F_SLLI_2__ADD_2 },
		{ OP_SLLI | OP_C, &&L_OR_4, &&L_F_SLLI_2__OR_4 },
		{ OP_SUB, &&L_SB, &&L_F_SUB_4__SB },
		{ OP_ADDW, &&L_ADDW_4, &&L_F_ADDW_4__ADDW_4 },
		{ OP_ADDW, &&L_BNE_L_4, &&L_F_ADDW_4__BNE_L_4 },
		{ OP_MULW, &&L_ADDI_4, &&L_F_MULW__ADDI_4 },
		{ OP_MULW, &&L_ADDW_4, &&L_F_MULW__ADDW_4 },
		{ OP_MV | OP_C, &&L_ADDI_2, &&L_F_MV_2__ADDI_2 },
		{ OP_MV | OP_C, &&L_SW_4, &&L_F_MV_2__SW_4 },
		{ OP_LW | OP_C, &&L_LW_2, &&L_F_LW_2__LW_2 },
		{ OP_LW | OP_C, &&L_BGEU_L, &&L_F_LW_2__BGEU_L },
		{ OP_LW | OP_C, &&L_MV_2, &&L_F_LW_2__MV_2 },
		{ OP_LW, &&L_LW_4, &&L_F_LW_4__LW_4 },
		{ OP_LW, &&L_ADDI_2, &&L_F_LW_4__ADDI_2 },
		{ OP_LBU, &&L_LBU, &&L_F_LBU__LBU },
		{ OP_LBU, &&L_ADDI_2, &&L_F_LBU__ADDI_2 },
		{ OP_LBU, &&L_BNEZ_L_2, &&L_F_LBU__BNEZ_L_2 },
		{ OP_SW, &&L_ADDI_2, &&L_F_SW_4__ADDI_2 },
		{ OP_SB, &&L_ADD_2, &&L_F_SB__ADD_2 },
		{ OP_ADD | OP_C, &&L_BNEZ_L_2, &&L_F_ADD_2__BNEZ_L_2 },
		{ OP_ADDI | OP_C, &&L_SUB_4, &&L_F_ADDI_2__SUB_4 },
		{ OP_SUB, &&L_ADD_2, &&L_F_SUB_4__ADD_2 },
		{ OP_SB, &&L_BNE_L_4, &&L_F_SB__BNE_L_4 },
		{ OP_SLLI | OP_C, &&L_OR_2, &&L_F_SLLI_2__OR_2 },
		{ OP_SLLI | OP_C, &&L_SLLI_2, &&L_F_SLLI_2__SLLI_2 },
		{ OP_ANDI, &&L_SLLI_2, &&L_F_ANDI_4__SLLI_2 },
		{ OP_SUB, &&L_BLTU_L, &&L_F_SUB_4__BLTU_L },
		{ OP_MV | OP_C, &&L_MV_2, &&L_F_MV_2__MV_2 },
		{ OP_LBU, &&L_BEQ_L_4, &&L_F_LBU__BEQ_L_4 },
		{ OP_LW | OP_C, &&L_XOR_2, &&L_F_LW_2__XOR_2 },
		{ OP_ADDI | OP_C, &&L_XOR_2, &&L_F_ADDI_2__XOR_2 },
		{ OP_ADDI | OP_C, &&L_SLLI_4, &&L_F_ADDI_2__SLLI_4 },
		{ OP_LW | OP_C, &&L_ADDI_2, &&L_F_LW_2__ADDI_2 },
		{ OP_SLLI, &&L_ADD_4, &&L_F_SLLI_4__ADD_4 },
		{ OP_MV | OP_C, &&L_BGE_L, &&L_F_MV_2__BGE_L },
		{ OP_SW | OP_C, &&L_ADDI_2, &&L_F_SW_2__ADDI_2 },
		{ OP_LW, &&L_BLTU_L, &&L_F_LW_4__BLTU_L },
		{ OP_ADDI | OP_C, &&L_BNE_L_4, &&L_F_ADDI_2__BNE_L_4 },
		{ OP_LW, &&L_SLLI_4, &&L_F_LW_4__SLLI_4 },
		{ OP_ADDI | OP_C, &&L_ADDW_4, &&L_F_ADDI_2__ADDW_4 },
		{ OP_LW, &&L_MULW, &&L_F_LW_4__MULW },
		{ OP_MULW, &&L_ADDI_2, &&L_F_MULW__ADDI_2 },
		{ OP_ADDIW | OP_C, &&L_BNEZ_L_2, &&L_F_ADDIW_2__BNEZ_L_2 },
		{ OP_ANDI, &&L_SRLI_2, &&L_F_ANDI_4__SRLI_2 },
		{ OP_SRLI | OP_C, &&L_BEQZ_L_2, &&L_F_SRLI_2__BEQZ_L_2 },
		{ OP_ADDIW | OP_C, &&L_LD_2, &&L_F_ADDIW_2__LD_2 },
		{ OP_MV | OP_C, &&L_BLT_L, &&L_F_MV_2__BLT_L },
		{ OP_SD, &&L_MV_2, &&L_F_SD_4__MV_2 },
		{ OP_MV | OP_C, &&L_JALR_2, &&L_F_MV_2__JALR_2 },
	};
	uint64_t *const x = h ? h->x : NULL;	/* h is NULL in the publishing call */
	uint64_t pc, work = 0, traps = 0, synced = 0, fpage;
	int64_t chunk = 0, left = 0;
	const struct dinsn *d;
	const struct dinsn *slots = NULL;

	if (unlikely(!h)) {
		/*
		 * A label address outlives the call (it is code): hide it from
		 * GCC's -Wdangling-pointer, which takes it for a local.
		 */
		const void *e = tbl[OP_DECODE];
		__asm__("" : "+r"(e));
		hart_decode_entry = e;
		return 0;
	}
	if (!h->pmap) {
		h->pmap = vm_pmap(h->vm);
		if (h->pmap)
			pmap_hart_attach(h->pmap, h);
	}
	if (h->state == HART_WFI) {
		hart_timer_check(h);
		if (!(hart_mip(h) & h->mie))
			return 0;
		h->state = HART_RUNNING;
	}
	if (h->state != HART_RUNNING || h->stall || h->shadow)
		return 0;
	pc = h->pc;

#define SYNC() do { \
	uint64_t r_ = work + (uint64_t)(chunk - left) - traps; \
	hart_count(h, r_ - synced); \
	synced = r_; \
} while (0)
#define STOP() do { chunk -= left - 1; left = 1; } while (0)
#define TRAP(cause, tval) do { \
	if (unlikely((cause) == EXC_STALL)) \
		goto stall; \
	pc = hart_trap(h, pc, (cause), (tval)); \
	traps++; \
	left--; \
	fpage = TLB_INVALID; \
	goto dispatch; \
} while (0)
/*
 * NEXT: fall through to the following slot (the page's sentinel catches
 * the end of the page); JUMP: pc was set, look the slot up. Each handler
 * gets its own copy of the indirect jump, which the host predicts far
 * better than one shared dispatch point.
 */
#define NEXT(L) do { \
	pc += (L); \
	d += (L) >> 1; \
	if (unlikely(--left == 0)) \
		goto chunk_end; \
	goto *d->run; \
} while (0)
#define JUMP() do { \
	if (unlikely(--left == 0)) \
		goto chunk_end; \
	if (unlikely((pc & ~(VM_PAGE_SIZE - 1)) != fpage)) \
		goto refill; \
	d = slots + ((pc & (VM_PAGE_SIZE - 1)) >> 1); \
	goto *d->run; \
} while (0)
/* LJUMP: pc was set to pc + IMM, a target in the same page: step d by IMM */
#define LJUMP() do { \
	d += d->imm >> 1; \
	if (unlikely(--left == 0)) \
		goto chunk_end; \
	goto *d->run; \
} while (0)
/* NEXT into a known handler: the second half of a fused pair */
#define NEXT_TO(L, label) do { \
	pc += (L); \
	d += (L) >> 1; \
	if (unlikely(--left == 0)) \
		goto chunk_end; \
	goto label; \
} while (0)
/* the instruction retired and the chunk ends: pc already set */
#define RETIRE_AND_STOP() do { \
	STOP(); \
	left = 0; \
	fpage = TLB_INVALID; \
	goto dispatch; \
} while (0)
#define RD x[d->rd]
#define S1 x[d->rs1]
#define S2 x[d->rs2]
#define IMM ((uint64_t)(int64_t)d->imm)
#define SLOWCHECK() do { if (unlikely(h->brk)) STOP(); } while (0)
#define LOAD(type, size, L) LOAD_T(type, size, NEXT(L))
#define STORE(type, size, L) STORE_T(type, size, NEXT(L))
#define LOAD_T(type, size, TAIL) do { \
	uint64_t va_ = S1 + IMM; \
	const struct tlb_entry *e_ = &h->dset->e[ACC_R][(va_ >> VM_PAGE_SHIFT) & (TLB_SIZE - 1)]; \
	type v_; \
	if (likely(e_->tag == (va_ & (~(VM_PAGE_SIZE - 1) | (size - 1))))) { \
		memcpy(&v_, (const void *)(e_->addend + (uintptr_t)va_), size); \
	} else { \
		uint64_t raw_, tv_; \
		uint32_t r_ = mmu_load_slow(h, va_, size, &raw_, &tv_); \
		if (r_) \
			TRAP(r_ & 0xff, tv_); \
		v_ = (type)raw_; \
		SLOWCHECK(); \
	} \
	RD = (uint64_t)v_; \
	TAIL; \
} while (0)
#define STORE_T(type, size, TAIL) do { \
	uint64_t va_ = S1 + IMM; \
	type v_ = (type)S2; \
	const struct tlb_entry *e_ = &h->dset->e[ACC_W][(va_ >> VM_PAGE_SHIFT) & (TLB_SIZE - 1)]; \
	if (likely(e_->tag == (va_ & (~(VM_PAGE_SIZE - 1) | (size - 1))))) { \
		memcpy((void *)(e_->addend + (uintptr_t)va_), &v_, size); \
		if (unlikely(e_->code != NULL)) \
			code_page_touch(e_->code, (unsigned)(va_ & (VM_PAGE_SIZE - 1)), size); \
	} else { \
		uint64_t tv_; \
		uint32_t r_ = mmu_store_slow(h, va_, size, (uint64_t)v_, &tv_); \
		if (r_) \
			TRAP(r_ & 0xff, tv_); \
		SLOWCHECK(); \
	} \
	TAIL; \
} while (0)
#define BRANCH(cond, L) do { \
	if (cond) { pc += IMM; JUMP(); } \
	NEXT(L); \
} while (0)
#define LBRANCH(cond, L) do { \
	if (cond) { pc += IMM; LJUMP(); } \
	NEXT(L); \
} while (0)

	while (work < budget) {
		int irq;

		if (vm_exit_requested(h->vm))
			break;
		if ((h->menvcfg & MENVCFG_STCE) && h->stimecmp != UINT64_MAX)
			hart_timer_check(h);
		h->brk = 0;
		irq = irq_pick(h);
		if (irq >= 0) {
			pc = hart_trap(h, pc, CAUSE_IRQ | (uint64_t)irq, 0);
			traps++;
			work++;
			if (work >= budget)
				break;
		}
		chunk = left = budget - work > HART_CHUNK ? HART_CHUNK : (int64_t)(budget - work);
		fpage = TLB_INVALID;

dispatch:
		if (unlikely(left <= 0))
			goto chunk_end;
		if (unlikely((pc & ~(VM_PAGE_SIZE - 1)) != fpage))
			goto refill;
		d = slots + ((pc & (VM_PAGE_SIZE - 1)) >> 1);
		goto *d->run;

refill: {
		const struct tlb_entry *e = &h->fset->e[ACC_X][(pc >> VM_PAGE_SHIFT) & (TLB_SIZE - 1)];
		struct tlb_entry *fe;
		uint64_t tv;
		uint32_t r;

		if (likely(e->tag == (pc & ~(VM_PAGE_SIZE - 1)) && e->code)) {
			fe = (struct tlb_entry *)e;
		} else {
			r = mmu_fetch_slow(h, pc, &fe, &tv);
			if (r)
				TRAP(r & 0xff, tv);
			SLOWCHECK();
			if (!fe || !fe->code)
				goto fetch_oneoff;
		}
		fpage = pc & ~(VM_PAGE_SIZE - 1);
		h->fcode = fe->code;
		h->fhost = (const uint8_t *)(fe->addend + (uintptr_t)fpage);
		slots = fe->code->slot;
		d = slots + ((pc & (VM_PAGE_SIZE - 1)) >> 1);
		goto *d->run;
	}

fetch_oneoff: {
		/* not RAM (a ROM device), no code page, or an insn across pages */
		uint16_t lo, hi = 0;
		uint64_t tv;
		uint32_t r = mmu_fetch_parcel(h, pc, &lo, &tv);

		if (r)
			TRAP(r & 0xff, tv);
		if ((lo & 3) == 3) {
			r = mmu_fetch_parcel(h, pc + 2, &hi, &tv);
			if (r)
				TRAP(r & 0xff, tv);
		}
		SLOWCHECK();
		h->tmp_raw = lo | ((uint32_t)hi << 16);
		decode_insn(h->tmp_raw, &h->tmp[0]);
		d = &h->tmp[0];
		h->tmp[0].run = tbl[d->op];
		if (fpage != (pc & ~(VM_PAGE_SIZE - 1)))
			fpage = TLB_INVALID;
		goto *d->run;
	}

L_DECODE: {
		/* undecoded slots and the sentinels after a page (and tmp[0]) */
		unsigned off = (unsigned)(pc & (VM_PAGE_SIZE - 1));
		struct dinsn *w;
		int64_t t;

		if (d->op == OP_PAGE_END)
			goto refill;
		if (off == VM_PAGE_SIZE - 2 && (h->fhost[off] & 3) == 3)
			goto fetch_oneoff;
		code_page_decode(h->fcode, h->fhost, off);
		w = &h->fcode->slot[off >> 1];
		t = (int64_t)off + w->imm;
		w->run = ltbl[w->op] && t >= 0 && t < (int64_t)VM_PAGE_SIZE ? ltbl[w->op] : tbl[w->op];
		d = w;
		if (jit_try[w->op]) {
			/* a compiled block from here, if there is one worth it */
			/* (loads and stores too where most data entries are direct: not on a VM spanning nodes) */
			const struct jit_block *b = jit_build(h->pmap, h->fcode, h->fhost, off, w->run,
							      !h->coh || !vm_coh_spans(h->vm));

			if (b) {
				w->run = &&L_JIT;
				goto L_JIT;
			}
		}
		off += DINSN_LEN(w->op);
		if (fusable[w->op] && off <= VM_PAGE_SIZE - 2 &&
		    !(off == VM_PAGE_SIZE - 2 && (h->fhost[off] & 3) == 3)) {
			/* decode the successor now and fuse if the pair is listed */
			struct dinsn *v = &h->fcode->slot[off >> 1];

			const void *vrun;

			if ((v->op & ~OP_C) == OP_DECODE)
				code_page_decode(h->fcode, h->fhost, off);
			/* its own handler: v may be fused with its successor too */
			t = (int64_t)off + v->imm;
			vrun = ltbl[v->op] && t >= 0 && t < (int64_t)VM_PAGE_SIZE ? ltbl[v->op] : tbl[v->op];
			if ((v->op & ~OP_C) == OP_DECODE || v->run == hart_decode_entry)
				v->run = vrun;
			for (unsigned k = 0; k < sizeof(fuse) / sizeof(fuse[0]); k++)
				if (fuse[k].a == w->op && fuse[k].b == vrun)
					w->run = fuse[k].f;
		}
		goto *d->run;
	}

L_JIT: {
		/* a compiled block (jit.c) starts at this slot */
		struct code_page *cp = h->fcode;
		const struct jit_block *b = cp->jit[d - slots];
		struct jit_ret r;

		if (unlikely(b->gen != cp->gen)) {
			/* bytes it covers were written: decode the slot again */
			cp->kills++;
			((struct dinsn *)d)->run = hart_decode_entry;
			goto L_DECODE;
		}
		if (unlikely(left < (int64_t)b->n))
			goto *b->plain;	/* the chunk ends inside: one at a time */
		r = b->code(x, h->dset->e[ACC_R], left, pc);
		if (unlikely(r.v & JIT_MISS0))
			goto *b->plain;
		left -= (int64_t)(r.v >> 32);
		pc += (uint64_t)(int64_t)(int32_t)r.v;
		if (unlikely(left == 0))
			goto chunk_end;
		if (unlikely((pc & ~(VM_PAGE_SIZE - 1)) != fpage))
			goto refill;
		d = slots + ((pc & (VM_PAGE_SIZE - 1)) >> 1);
		if (r.patch && d->run == &&L_JIT) {
			/* chain: the exit jumps straight to the next block from now on */
			const struct jit_block *n = cp->jit[d - slots];

			if (n->gen == cp->gen) {
				uint32_t rel = (uint32_t)(n->chain - (r.patch + 4));
				memcpy(r.patch, &rel, 4);
			}
		}
		goto *d->run;
	}

L_PAGE_END:
		goto refill;
L_ILLEGAL:
		TRAP(EXC_ILLEGAL, (uint32_t)d->imm);

		HANDLERS_C(_4, 4)
		HANDLERS_C(_2, 2)

		/* fused pairs (fuse[] above) */
L_F_ADDI_2__ADDI_2:	RD = S1 + IMM; NEXT_TO(2, L_ADDI_2);
L_F_ADDI_2__BGE_L:	RD = S1 + IMM; NEXT_TO(2, L_BGE_L);
L_F_ADDI_2__BLT_L:	RD = S1 + IMM; NEXT_TO(2, L_BLT_L);
L_F_ADDI_2__BLTU_L:	RD = S1 + IMM; NEXT_TO(2, L_BLTU_L);
L_F_ADDI_2__BEQ_L_4:	RD = S1 + IMM; NEXT_TO(2, L_BEQ_L_4);
L_F_ADDI_2__MULW:	RD = S1 + IMM; NEXT_TO(2, L_MULW);
L_F_ADDI_2__SW_4:	RD = S1 + IMM; NEXT_TO(2, L_SW_4);
L_F_ADDI_2__SB:	RD = S1 + IMM; NEXT_TO(2, L_SB);
L_F_ADDI_2__ADD_4:	RD = S1 + IMM; NEXT_TO(2, L_ADD_4);
L_F_ADDI_4__ADDI_2:	RD = S1 + IMM; NEXT_TO(4, L_ADDI_2);
L_F_ADD_2__LW_2:	RD = S1 + S2; NEXT_TO(2, L_LW_2);
L_F_ADD_2__ADD_2:	RD = S1 + S2; NEXT_TO(2, L_ADD_2);
L_F_ADD_2__LBU:	RD = S1 + S2; NEXT_TO(2, L_LBU);
L_F_ADD_4__SUB_4:	RD = S1 + S2; NEXT_TO(4, L_SUB_4);
L_F_ADD_4__LBU:	RD = S1 + S2; NEXT_TO(4, L_LBU);
L_F_SLLI_4__SLLI_4:	RD = S1 << d->imm; NEXT_TO(4, L_SLLI_4);
L_F_SLLI_4__ADD_2:	RD = S1 << d->imm; NEXT_TO(4, L_ADD_2);
L_F_SLLI_2__ADD_2:	RD = S1 << d->imm; NEXT_TO(2, L_ADD_2);
L_F_SLLI_2__OR_4:	RD = S1 << d->imm; NEXT_TO(2, L_OR_4);
L_F_SUB_4__SB:	RD = S1 - S2; NEXT_TO(4, L_SB);
L_F_ADDW_4__ADDW_4:	RD = sx32(S1 + S2); NEXT_TO(4, L_ADDW_4);
L_F_ADDW_4__BNE_L_4:	RD = sx32(S1 + S2); NEXT_TO(4, L_BNE_L_4);
L_F_MULW__ADDI_4:	RD = sx32(S1 * S2); NEXT_TO(4, L_ADDI_4);
L_F_MULW__ADDW_4:	RD = sx32(S1 * S2); NEXT_TO(4, L_ADDW_4);
L_F_MV_2__ADDI_2:	RD = S1; NEXT_TO(2, L_ADDI_2);
L_F_MV_2__SW_4:	RD = S1; NEXT_TO(2, L_SW_4);
L_F_LW_2__LW_2:	LOAD_T(int32_t, 4, NEXT_TO(2, L_LW_2));
L_F_LW_2__BGEU_L:	LOAD_T(int32_t, 4, NEXT_TO(2, L_BGEU_L));
L_F_LW_2__MV_2:	LOAD_T(int32_t, 4, NEXT_TO(2, L_MV_2));
L_F_LW_4__LW_4:	LOAD_T(int32_t, 4, NEXT_TO(4, L_LW_4));
L_F_LW_4__ADDI_2:	LOAD_T(int32_t, 4, NEXT_TO(4, L_ADDI_2));
L_F_LBU__LBU:	LOAD_T(uint8_t, 1, NEXT_TO(4, L_LBU));
L_F_LBU__ADDI_2:	LOAD_T(uint8_t, 1, NEXT_TO(4, L_ADDI_2));
L_F_LBU__BNEZ_L_2:	LOAD_T(uint8_t, 1, NEXT_TO(4, L_BNEZ_L_2));
L_F_SW_4__ADDI_2:	STORE_T(uint32_t, 4, NEXT_TO(4, L_ADDI_2));
L_F_SB__ADD_2:	STORE_T(uint8_t, 1, NEXT_TO(4, L_ADD_2));
L_F_ADD_2__BNEZ_L_2:	RD = S1 + S2; NEXT_TO(2, L_BNEZ_L_2);
L_F_ADDI_2__SUB_4:	RD = S1 + IMM; NEXT_TO(2, L_SUB_4);
L_F_SUB_4__ADD_2:	RD = S1 - S2; NEXT_TO(4, L_ADD_2);
L_F_SB__BNE_L_4:	STORE_T(uint8_t, 1, NEXT_TO(4, L_BNE_L_4));
L_F_SLLI_2__OR_2:	RD = S1 << d->imm; NEXT_TO(2, L_OR_2);
L_F_SLLI_2__SLLI_2:	RD = S1 << d->imm; NEXT_TO(2, L_SLLI_2);
L_F_ANDI_4__SLLI_2:	RD = S1 & IMM; NEXT_TO(4, L_SLLI_2);
L_F_SUB_4__BLTU_L:	RD = S1 - S2; NEXT_TO(4, L_BLTU_L);
L_F_MV_2__MV_2:	RD = S1; NEXT_TO(2, L_MV_2);
L_F_LBU__BEQ_L_4:	LOAD_T(uint8_t, 1, NEXT_TO(4, L_BEQ_L_4));
L_F_LW_2__XOR_2:	LOAD_T(int32_t, 4, NEXT_TO(2, L_XOR_2));
L_F_ADDI_2__XOR_2:	RD = S1 + IMM; NEXT_TO(2, L_XOR_2);
L_F_ADDI_2__SLLI_4:	RD = S1 + IMM; NEXT_TO(2, L_SLLI_4);
L_F_LW_2__ADDI_2:	LOAD_T(int32_t, 4, NEXT_TO(2, L_ADDI_2));
L_F_SLLI_4__ADD_4:	RD = S1 << d->imm; NEXT_TO(4, L_ADD_4);
L_F_MV_2__BGE_L:	RD = S1; NEXT_TO(2, L_BGE_L);
L_F_SW_2__ADDI_2:	STORE_T(uint32_t, 4, NEXT_TO(2, L_ADDI_2));
L_F_LW_4__BLTU_L:	LOAD_T(int32_t, 4, NEXT_TO(4, L_BLTU_L));
L_F_ADDI_2__BNE_L_4:	RD = S1 + IMM; NEXT_TO(2, L_BNE_L_4);
L_F_LW_4__SLLI_4:	LOAD_T(int32_t, 4, NEXT_TO(4, L_SLLI_4));
L_F_ADDI_2__ADDW_4:	RD = S1 + IMM; NEXT_TO(2, L_ADDW_4);
L_F_LW_4__MULW:	LOAD_T(int32_t, 4, NEXT_TO(4, L_MULW));
L_F_MULW__ADDI_2:	RD = sx32(S1 * S2); NEXT_TO(4, L_ADDI_2);
L_F_ADDIW_2__BNEZ_L_2:	RD = sx32(S1 + IMM); NEXT_TO(2, L_BNEZ_L_2);
L_F_ANDI_4__SRLI_2:	RD = S1 & IMM; NEXT_TO(4, L_SRLI_2);
L_F_SRLI_2__BEQZ_L_2:	RD = S1 >> d->imm; NEXT_TO(2, L_BEQZ_L_2);
L_F_ADDIW_2__LD_2:	RD = sx32(S1 + IMM); NEXT_TO(2, L_LD_2);
L_F_MV_2__BLT_L:	RD = S1; NEXT_TO(2, L_BLT_L);
L_F_SD_4__MV_2:	STORE_T(uint64_t, 8, NEXT_TO(4, L_MV_2));
L_F_MV_2__JALR_2:	RD = S1; NEXT_TO(2, L_JALR_2);

L_NOP:
L_FENCE:
		NEXT(4);
L_AUIPC:
		RD = pc + IMM;
		NEXT(4);
L_BLT:	BRANCH((int64_t)S1 < (int64_t)S2, 4);
L_BGE:	BRANCH((int64_t)S1 >= (int64_t)S2, 4);
L_BLTU:	BRANCH(S1 < S2, 4);
L_BGEU:	BRANCH(S1 >= S2, 4);
L_BLT_L:	LBRANCH((int64_t)S1 < (int64_t)S2, 4);
L_BGE_L:	LBRANCH((int64_t)S1 >= (int64_t)S2, 4);
L_BLTU_L:	LBRANCH(S1 < S2, 4);
L_BGEU_L:	LBRANCH(S1 >= S2, 4);
L_LB:	LOAD(int8_t, 1, 4);
L_LH:	LOAD(int16_t, 2, 4);
L_LBU:	LOAD(uint8_t, 1, 4);
L_LHU:	LOAD(uint16_t, 2, 4);
L_LWU:	LOAD(uint32_t, 4, 4);
L_SB:	STORE(uint8_t, 1, 4);
L_SH:	STORE(uint16_t, 2, 4);
L_SLTI:	RD = (int64_t)S1 < (int64_t)IMM; NEXT(4);
L_SLTIU: RD = S1 < IMM; NEXT(4);
L_XORI:	RD = S1 ^ IMM; NEXT(4);
L_ORI:	RD = S1 | IMM; NEXT(4);
L_SLL:	RD = S1 << (S2 & 63); NEXT(4);
L_SLT:	RD = (int64_t)S1 < (int64_t)S2; NEXT(4);
L_SLTU:	RD = S1 < S2; NEXT(4);
L_SRL:	RD = S1 >> (S2 & 63); NEXT(4);
L_SRA:	RD = (uint64_t)((int64_t)S1 >> (S2 & 63)); NEXT(4);
L_SLLIW: RD = sx32((uint32_t)S1 << d->imm); NEXT(4);
L_SRLIW: RD = sx32((uint32_t)S1 >> d->imm); NEXT(4);
L_SRAIW: RD = (uint64_t)(int64_t)((int32_t)S1 >> d->imm); NEXT(4);
L_SLLW:	RD = sx32((uint32_t)S1 << (S2 & 31)); NEXT(4);
L_SRLW:	RD = sx32((uint32_t)S1 >> (S2 & 31)); NEXT(4);
L_SRAW:	RD = (uint64_t)(int64_t)((int32_t)S1 >> (S2 & 31)); NEXT(4);
L_MUL:	RD = S1 * S2; NEXT(4);
L_MULH:	RD = mulh64((int64_t)S1, (int64_t)S2); NEXT(4);
L_MULHSU: RD = mulhsu64((int64_t)S1, S2); NEXT(4);
L_MULHU: RD = mulhu64(S1, S2); NEXT(4);
L_DIV:	RD = (uint64_t)div64((int64_t)S1, (int64_t)S2); NEXT(4);
L_DIVU:	RD = S2 ? S1 / S2 : UINT64_MAX; NEXT(4);
L_REM:	RD = (uint64_t)rem64((int64_t)S1, (int64_t)S2); NEXT(4);
L_REMU:	RD = S2 ? S1 % S2 : S1; NEXT(4);
L_MULW:	RD = sx32(S1 * S2); NEXT(4);
L_DIVW:	RD = sx32((uint64_t)div64((int32_t)S1, (int32_t)S2)); NEXT(4);
L_DIVUW: {
		uint32_t a = (uint32_t)S1, b = (uint32_t)S2;
		RD = sx32(b ? a / b : UINT32_MAX);
		NEXT(4);
	}
L_REMW:	RD = sx32((uint64_t)rem64((int32_t)S1, (int32_t)S2)); NEXT(4);
L_REMUW: {
		uint32_t a = (uint32_t)S1, b = (uint32_t)S2;
		RD = sx32(b ? a % b : a);
		NEXT(4);
	}
L_AMO_W:
L_AMO_D: {
		uint64_t v, tv;
		uint32_t r = amo(h, d, (d->op & ~OP_C) == OP_AMO_W, &v, &tv);
		if (r)
			TRAP(r & 0xff, tv);
		RD = v;
		NEXT(4);
	}
L_FENCE_I:
		hart_flush_icache(h);
		pc += 4;
		RETIRE_AND_STOP();
L_ECALL:
		if (h->priv == PRIV_S) {
			h->pc = pc;
			h->pc_set = 0;
			SYNC();
			if (vm_sbi_ecall(h->vm, h)) {
				pc = h->pc_set ? h->pc : pc + 4;
				RETIRE_AND_STOP();
			}
		}
		TRAP(EXC_ECALL_U + h->priv, 0);
L_EBREAK:
		TRAP(EXC_BREAKPOINT, pc);
L_MRET:
		if (h->priv != PRIV_M)
			TRAP(EXC_ILLEGAL, system_raw(d));
		pc = hart_mret(h);
		RETIRE_AND_STOP();
L_SRET:
		if (h->priv == PRIV_U || (h->priv == PRIV_S && (h->mstatus & MS_TSR)))
			TRAP(EXC_ILLEGAL, system_raw(d));
		pc = hart_sret(h);
		RETIRE_AND_STOP();
L_WFI:
		if (h->priv == PRIV_U || (h->priv == PRIV_S && (h->mstatus & MS_TW)))
			TRAP(EXC_ILLEGAL, system_raw(d));
		pc += 4;
		hart_timer_check(h);
		if (!(hart_mip(h) & h->mie))
			h->state = HART_WFI;
		RETIRE_AND_STOP();
L_SFENCE_VMA:
		if (h->priv == PRIV_U || (h->priv == PRIV_S && (h->mstatus & MS_TVM)))
			TRAP(EXC_ILLEGAL, system_raw(d));
		if (d->rs1)
			tlb_flush_va(h, S1);
		else
			tlb_flush_all(h);
		pc += 4;
		RETIRE_AND_STOP();
L_CSRRW:
L_CSRRS:
L_CSRRC:
L_CSRRWI:
L_CSRRSI:
L_CSRRCI: {
		unsigned op = d->op & ~OP_C, f3;
		bool imm = op >= OP_CSRRWI;
		uint64_t src = imm ? d->rs1 : S1, old;
		bool wr, rd;
		uint32_t r;

		f3 = (imm ? 4u : 0u) + (op - (imm ? OP_CSRRWI : OP_CSRRW) + 1);
		wr = (f3 & 3) == 1 || d->rs1 != 0;
		rd = (f3 & 3) != 1 || d->rd != 32;
		SYNC();
		r = hart_csr(h, (unsigned)d->imm & 0xfff, f3, src, rd, wr, &old);
		if (r)
			TRAP(EXC_ILLEGAL, system_raw(d));
		RD = old;
		if (wr) {
			pc += 4;
			RETIRE_AND_STOP();
		}
		NEXT(4);
	}

chunk_end:
		work += (uint64_t)(chunk - left);
		chunk = left = 0;
		SYNC();
		if (h->state != HART_RUNNING)
			break;
	}
	if (0) {
stall:
		/* the instruction at pc waits (EXC_STALL): it used a turn but does not retire */
		traps++;
		left--;
		work += (uint64_t)(chunk - left);
		chunk = left = 0;
	}
	SYNC();
	h->pc = pc;
	h->resv_valid = false;
	return work - traps;
#undef SYNC
#undef STOP
#undef TRAP
#undef NEXT
#undef JUMP
#undef LJUMP
#undef LBRANCH
#undef RETIRE_AND_STOP
#undef RD
#undef S1
#undef S2
#undef IMM
#undef SLOWCHECK
#undef LOAD
#undef STORE
#undef LOAD_T
#undef STORE_T
#undef NEXT_TO
#undef BRANCH
}

#if defined(__clang__)
#pragma clang diagnostic pop
#else
#pragma GCC diagnostic pop
#endif
