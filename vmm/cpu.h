/*
 * cpu.h — internal to the CPU side of vmm/: the hart, its software TLB and
 * the decoded-instruction cache. The board sees only vm.h.
 *
 * Hart. Registers live in x[0..32]: x[0] is always zero, x[32] is a sink
 * that the decoder substitutes for rd == x0, so no handler tests rd.
 *
 * Software TLB. Four sets, chosen by the effective privilege of an access
 * (U, S, S with SUM, M), each with three direct-mapped arrays: read, write,
 * fetch. An entry covers one 4 KiB virtual page (superpages are entered a
 * 4 KiB piece at a time). A hit is one compare of
 * (va & (~0xfff | (size - 1))) with the tag — a misaligned access never
 * hits and goes to the slow path — and one add giving the host address.
 * Only RAM is entered; MMIO is never cached. Invariants:
 *  - a write entry exists only for a page whose PTE has D set and allows
 *    the write; a read entry only if A set and readable (MXR counted);
 *  - every write entry whose guest-physical page has decoded code carries
 *    that page's struct code_page (code_page_get shoots the others down);
 *  - the M set is bare (M mode never translates; MPRV picks another set).
 *
 * Decoded-instruction cache. Per guest-physical RAM page that has been
 * executed, a struct code_page holds one 16-byte struct dinsn per 2-byte
 * parcel (op 0 = not decoded yet) and a snapshot of the bytes decoded.
 * A store through a write entry with a code page marks the parcels it
 * covers undecoded; FENCE.I and hart_flush_icache() bump the pmap's epoch,
 * and a page whose epoch is old is compared with its snapshot before it is
 * used again (this catches device DMA into code pages).
 */
#ifndef DISCO_VMM_CPU_H
#define DISCO_VMM_CPU_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "coherence/coh_mem.h"
#include "vmm/vm.h"

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

/* ---- limits ---- */
#define TLB_BITS	8
#define TLB_SIZE	(1u << TLB_BITS)
#define TLB_INVALID	(~0ull)		/* never equals a masked address */
#define HART_CHUNK	4096		/* instructions between exit/timer checks */
#define PMAP_MAX_HARTS	64		/* harts per VM that pmap can shoot down */
#define TLB_SUPER_MAX	8		/* superpage ranges tracked for SFENCE.VMA */

/* ---- exceptions (mcause values) ---- */
enum {
	EXC_INSN_MISALIGNED = 0,
	EXC_INSN_ACCESS = 1,
	EXC_ILLEGAL = 2,
	EXC_BREAKPOINT = 3,
	EXC_LOAD_MISALIGNED = 4,
	EXC_LOAD_ACCESS = 5,
	EXC_STORE_MISALIGNED = 6,
	EXC_STORE_ACCESS = 7,
	EXC_ECALL_U = 8,
	EXC_ECALL_S = 9,
	EXC_ECALL_M = 11,
	EXC_INSN_PAGE = 12,
	EXC_LOAD_PAGE = 13,
	EXC_STORE_PAGE = 15,
};
/* Internal fault return: 0 = none, else EXC_FLAG | cause. */
#define EXC_FLAG	0x100u
/*
 * Not a trap: the access must wait (a coherence miss, a guest page the VM's
 * home node has not mapped for us yet, MMIO forwarded to the home node).
 * The instruction does not retire; hart_run returns with h->stall set and
 * the instruction runs again from the start once the hart is woken.
 */
#define EXC_STALL	0xffu
#define CAUSE_IRQ	(1ull << 63)

/* access kinds, also the index of the TLB array */
enum acc { ACC_R = 0, ACC_W = 1, ACC_X = 2 };

/* TLB set index */
enum { TS_U = 0, TS_S = 1, TS_SUM = 2, TS_M = 3, TS_COUNT = 4 };

/* ---- mstatus ---- */
#define MS_SIE		(1ull << 1)
#define MS_MIE		(1ull << 3)
#define MS_SPIE		(1ull << 5)
#define MS_MPIE		(1ull << 7)
#define MS_SPP		(1ull << 8)
#define MS_MPP_SHIFT	11
#define MS_MPP		(3ull << MS_MPP_SHIFT)
#define MS_FS		(3ull << 13)
#define MS_MPRV		(1ull << 17)
#define MS_SUM		(1ull << 18)
#define MS_MXR		(1ull << 19)
#define MS_TVM		(1ull << 20)
#define MS_TW		(1ull << 21)
#define MS_TSR		(1ull << 22)
#define MS_UXL		(2ull << 32)
#define MS_SXL		(2ull << 34)

#define MENVCFG_FIOM	(1ull << 0)
#define MENVCFG_STCE	(1ull << 63)

#define MIP_SSIP	(1ull << IRQ_SSI)
#define MIP_MSIP	(1ull << IRQ_MSI)
#define MIP_STIP	(1ull << IRQ_STI)
#define MIP_MTIP	(1ull << IRQ_MTI)
#define MIP_SEIP	(1ull << IRQ_SEI)
#define MIP_MEIP	(1ull << IRQ_MEI)
#define MIP_S_MASK	(MIP_SSIP | MIP_STIP | MIP_SEIP)
#define MIP_ALL		(MIP_S_MASK | MIP_MSIP | MIP_MTIP | MIP_MEIP)

/* ---- decoded instructions ---- */
struct dinsn {
	uint8_t op;	/* enum op, | OP_C for a 16-bit instruction */
	uint8_t rd;	/* 32 when the instruction wrote x0 */
	uint8_t rs1;
	uint8_t rs2;
	int32_t imm;	/* immediate; CSR number; AMO funct5; raw bits when illegal */
	/*
	 * The run loop's handler for this slot (direct threading), chosen by
	 * hart_run when it decodes the slot: it depends on op and, for
	 * branches, on whether the target is in the same page. Undecoded
	 * slots and sentinels hold hart_decode_entry.
	 */
	const void *run;
};
#define OP_C		0x80	/* 16-bit encoding: the pc advances by 2 */
#define DINSN_LEN(op)	(4u - (((op) >> 6) & 2u))

/*
 * The run loop's decode handler (a label address inside hart_run, the same
 * for every hart and VM: set by hart_new before any code page exists).
 */
extern const void *hart_decode_entry;

#define CODE_SLOTS	(VM_PAGE_SIZE / 2)
struct jit_block;
struct code_page {
	struct dinsn slot[CODE_SLOTS + 1];	/* + the OP_PAGE_END sentinel */
	uint64_t epoch;			/* pmap epoch at the last check */
	uint64_t gpa;			/* page address */
	/*
	 * Compiled blocks (jit.c): jit[slot] is the block whose first
	 * instruction is that slot (its run is the run loop's block handler).
	 * A write into [jit_lo, jit_hi), the bytes some block covers, bumps
	 * gen; a block compiled under an older gen is dropped when entered.
	 */
	struct jit_block **jit;
	uint32_t gen;
	uint32_t kills;			/* stale blocks dropped: too many, no more blocks */
	uint16_t jit_lo, jit_hi;
	uint8_t snap[VM_PAGE_SIZE];	/* the bytes as last decoded */
};

/* Mark the parcels that a write of [off, off+size) may change undecoded. */
static inline void code_page_touch(struct code_page *cp, unsigned off, unsigned size)
{
	/*
	 * From the instruction that may contain off (up to 3 bytes before)
	 * and the one before that, which may be fused with it (4 more).
	 */
	unsigned s = off >= 6 ? (off - 6) >> 1 : 0;
	unsigned e = (off + size + 1) >> 1;
	if (e > CODE_SLOTS)
		e = CODE_SLOTS;
	for (; s < e; s++) {
		cp->slot[s].op &= OP_C;	/* keeps the length of a running insn */
		cp->slot[s].run = hart_decode_entry;
	}
	if (unlikely(off < cp->jit_hi && off + size > cp->jit_lo))
		cp->gen++;
}

/* ---- TLB ---- */
/*
 * A VM spanning nodes (h->coh set): data entries are tagged page | TLB_COH,
 * which the inline path never matches, and addend holds the page's machine
 * address; every access then checks its line (coh_mem_lookup). Fetch
 * entries are plain and point at the code page's snapshot, read coherently
 * when the entry was filled and shot down when a line of it is lost.
 */
#define TLB_COH		0x800ull
struct tlb_entry {
	uint64_t tag;		/* virtual page, TLB_INVALID when empty */
	uintptr_t addend;	/* host address = va + addend */
	struct code_page *code;	/* write/fetch entries: the page's decoded code */
	uint64_t gpa;		/* guest-physical page */
};

struct tlb_set {
	struct tlb_entry e[3][TLB_SIZE];	/* [enum acc][index] */
};

struct hart {
	uint64_t x[33];			/* x[32]: sink for rd == x0 */
	uint64_t pc;
	struct tlb_set *dset;		/* data accesses: by effective privilege */
	struct tlb_set *fset;		/* fetch: by privilege */
	uint8_t brk;			/* end the current chunk: re-check irqs, exit, mode */
	uint8_t pc_set;			/* pc changed by the board during a call-out */
	enum priv priv;
	enum hart_state state;
	struct vm *vm;
	struct pmap *pmap;
	unsigned hartid;

	/* CSRs */
	uint64_t mstatus;
	uint64_t misa;
	uint64_t medeleg, mideleg;
	uint64_t mie;
	uint64_t mip;			/* software-writable and board-driven bits */
	bool seip_line;			/* PLIC's SEI level, OR-ed into mip.SEIP */
	bool stip_sstc;			/* Sstc: mtime >= stimecmp, OR-ed into STIP */
	uint64_t mtvec, stvec;
	uint64_t mepc, sepc;
	uint64_t mcause, scause;
	uint64_t mtval, stval;
	uint64_t mscratch, sscratch;
	uint64_t satp;
	uint32_t mcounteren, scounteren;
	uint64_t menvcfg, senvcfg;
	uint32_t mcountinhibit;
	uint64_t minstret, mcycle;
	uint64_t stimecmp;
	uint8_t pmpcfg[64];
	uint64_t pmpaddr[64];

	/*
	 * Virtual ranges of the superpages with pieces in the TLB since the
	 * last full flush: SFENCE.VMA of an address inside one flushes all,
	 * elsewhere only that page's entries. More than TLB_SUPER_MAX: all.
	 */
	uint64_t super_base[8], super_mask[8];
	unsigned nsuper;

	/* LR/SC */
	uint64_t resv_addr;
	bool resv_valid;

	/* a VM spanning nodes (NULL / false otherwise) */
	struct coh_mem *coh;		/* machine memory is coherent: check lines */
	bool shadow;			/* runs on another node: a stand-in for its devices */
	uint8_t stall;			/* enum hart_stall: why the hart waits */
	bool woke;			/* a stall ended: the hart should have the next turn */
	bool stall_remote;		/* the stall is on a line of another node's memory */
	uint64_t stall_t0;		/* when the stall began (CLOCK_MONOTONIC ns) */
	uint64_t resv_line;		/* machine address of the reserved line */
	uint64_t irq_fwd;		/* shadow: mip levels last sent to the hart's node */
	struct coh_req creq;		/* the hart's one outstanding coherence miss */
	uint64_t instret_in;		/* minstret when the hart last arrived on this node */
	uint64_t instret_done;		/* instructions retired here before it last left */
	struct {
		uint64_t gpa, val;
		uint8_t size, write, state;	/* state: 0 none, 1 sent, 2 answered */
		int rc;
	} fwd;				/* MMIO forwarded to the VM's home node */

	/* one-off decode of an instruction that crosses a page or is not in RAM */
	/* the fetch page the run loop is in (its slots are a local there) */
	struct code_page *fcode;
	const uint8_t *fhost;
	struct dinsn tmp[3];		/* [1], [2]: OP_PAGE_END sentinels */
	uint32_t tmp_raw;

	struct hart_stats stats;
	struct tlb_set tlb[TS_COUNT];
};

/* ---- cpu.c ---- */
uint64_t hart_trap(struct hart *h, uint64_t pc, uint64_t cause, uint64_t tval);
void hart_update_mode(struct hart *h);
uint64_t hart_mip(const struct hart *h);
void hart_timer_check(struct hart *h);

/* ---- csr.c ---- */
/*
 * hart_csr - the CSR instruction: f3 is funct3 (1..3, 5..7), src the rs1
 * value or zimm, write/read say whether the write/read happens. Returns 0
 * with *old set, or EXC_FLAG | EXC_ILLEGAL.
 */
uint32_t hart_csr(struct hart *h, unsigned csr, unsigned f3, uint64_t src,
		  bool read, bool write, uint64_t *old);

/* ---- mmu.c ---- */
void tlb_flush_all(struct hart *h);
void tlb_flush_va(struct hart *h, uint64_t va);
/*
 * tlb_drop_gpa - drop h's entries for guest-physical page pg from the
 * arrays in accs (1 << ACC_R | ...); keep_coh leaves the coherent data
 * entries (TLB_COH), which check their lines at every access anyway.
 */
#define TLB_ALL		(1u << ACC_R | 1u << ACC_W | 1u << ACC_X)
void tlb_drop_gpa(struct hart *h, uint64_t pg, unsigned accs, bool keep_coh);
/* tlb_drop_gpas - the same for the n pages pgs, all kinds, in one pass over the TLB. */
void tlb_drop_gpas(struct hart *h, const uint64_t *pgs, unsigned n);
/*
 * mmu_load_slow / mmu_store_slow - everything the inline path does not:
 * TLB fill, misaligned accesses, MMIO. The value is zero-extended. Return
 * 0 or EXC_FLAG | cause with h->x_tval set.
 */
uint32_t mmu_load_slow(struct hart *h, uint64_t va, unsigned size, uint64_t *val, uint64_t *tval);
uint32_t mmu_store_slow(struct hart *h, uint64_t va, unsigned size, uint64_t val, uint64_t *tval);
/* Host pointer for an aligned atomic access (needs write permission); faults as stores, or as loads for LR. */
uint32_t mmu_atomic_ptr(struct hart *h, uint64_t va, unsigned size, bool lr, void **host, uint64_t *gpa, uint64_t *tval);
/* Fetch: fill the fetch entry for pc's page. *e set, or e->code NULL / not RAM: *e NULL. */
uint32_t mmu_fetch_slow(struct hart *h, uint64_t pc, struct tlb_entry **e, uint64_t *tval);
/* Read one 16-bit parcel at va for execution, wherever it is (RAM or MMIO). */
uint32_t mmu_fetch_parcel(struct hart *h, uint64_t va, uint16_t *p, uint64_t *tval);

/* ---- decode.c ---- */
void decode_insn(uint32_t raw, struct dinsn *d);
/* Decode the parcel at host[off] of code page cp (off < 0xffe or 16-bit). */
void code_page_decode(struct code_page *cp, const uint8_t *host, unsigned off);
void code_page_validate(struct code_page *cp, const uint8_t *host);

/* ---- jit.c ---- */
/*
 * A compiled block: a straight-line run of 2..JIT_MAX_INSNS instructions
 * (integer ALU ops, AUIPC, loads and stores, ending at most with one
 * conditional branch or JAL) turned into x86-64 code, called as
 * code(x, &dset->e[ACC_R][0], left, pc) with left >= n, the chunk's budget. Blocks of a page chain to each
 * other directly (jit.c) while the budget holds a whole block. The call
 * returns v = ((uint64_t)k << 32) | (uint32_t)delta: k instructions retired
 * and the pc moves by delta (when it stopped at an instruction a block
 * could not run — a TLB miss, a store to a page with decoded code — the
 * interpreter runs that one), or JIT_MISS0 when the very first instruction
 * missed; and patch, the exit jump to point at the next block, or NULL.
 */
#define JIT_MAX_INSNS	32
#define JIT_MAX_KILLS	256		/* stale blocks per page before the page is left to the interpreter */
#define JIT_MISS0	(1ull << 48)
struct jit_ret {
	uint64_t v;
	uint8_t *patch;
};
struct jit_block {
	struct jit_ret (*code)(uint64_t *x, const struct tlb_entry *rtlb, int64_t left, uint64_t pc);
	const uint8_t *chain;		/* the entry for a jump from another block */
	const void *plain;		/* the first slot's interpreter handler */
	uint32_t gen;			/* the code page's gen when compiled */
	uint32_t n;			/* instructions */
};
/*
 * jit_build - compile the block starting at slot off of cp (decoded
 * already; plain is its handler) from the page's bytes host; mem: blocks
 * may hold loads and stores. NULL when there is no block worth compiling
 * there, the host is not x86-64, the JIT is off (DISCO_JIT=0) or its code
 * space is used up.
 */
struct jit_block *jit_build(struct pmap *p, struct code_page *cp, const uint8_t *host, unsigned off,
			    const void *plain, bool mem);
/* Executable memory from the VM's code space (pmap.c), or NULL (size 0: whether there is any). */
void *pmap_jit_alloc(struct pmap *p, size_t size);

/* ---- pmap.c ---- */
struct code_page *pmap_code_get(struct pmap *p, uint64_t gpa, const uint8_t *host);
struct code_page *pmap_code_find(struct pmap *p, uint64_t gpa);
uint64_t pmap_epoch(const struct pmap *p);
void pmap_epoch_bump(struct pmap *p);
int pmap_hart_attach(struct pmap *p, struct hart *h);
void pmap_hart_detach(struct pmap *p, struct hart *h);

#endif
