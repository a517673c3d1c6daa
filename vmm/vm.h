/*
 * vm.h — internal to vmm/: the contract between the hart interpreter
 * (cpu*.c, pmap.c: owned by the CPU side) and the board (board.c, devices,
 * loader, SBI, device tree: owned by the board side).
 *
 * Memory path. A hart translates a virtual address with its software TLB;
 * on a miss it walks the guest page tables, then asks vm_ram_page() for the
 * host pointer of the guest-physical page (the pmap: guest-physical page to
 * machine page, allocated on first touch). Addresses that are not RAM go to
 * vm_mmio_read/write(). Later work (coherence) changes what vm_ram_page()
 * returns and adds rights to it; the interpreter's hot loop does not change.
 *
 * Interrupts. Devices raise and lower the hart's mip bits with
 * hart_set_irq(); the hart takes pending, enabled interrupts at instruction
 * boundaries in the priority order of the privileged specification.
 *
 * Everything runs in the node's one thread: no locks, no atomics.
 */
#ifndef DISCO_VMM_VM_H
#define DISCO_VMM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/vmm.h"

#define VM_PAGE_SHIFT	12
#define VM_PAGE_SIZE	(1ull << VM_PAGE_SHIFT)
#define VM_RAM_BASE	0x80000000ull

/* mip / mie bits */
#define IRQ_SSI		1
#define IRQ_MSI		3
#define IRQ_STI		5
#define IRQ_MTI		7
#define IRQ_SEI		9
#define IRQ_MEI		11

enum hart_state {
	HART_RUNNING,
	HART_WFI,	/* waiting for an interrupt */
	HART_STOPPED,	/* SBI HSM: not started / stopped */
};

enum priv { PRIV_U = 0, PRIV_S = 1, PRIV_M = 3 };

struct hart;	/* defined by the CPU side (cpu.h); fields below via accessors */
struct vm;	/* defined by the board side (board.h) */
struct pmap;	/* defined by the CPU side (pmap.c) */
struct coh_mem;	/* coherence/coh_mem.h */

/* ---- provided by the CPU side ---- */

/* hart_new - a hart in reset state (M mode, pc = 0x1000-style reset vector given). */
struct hart *hart_new(struct vm *vm, unsigned hartid);
void hart_free(struct hart *h);
/* Reset to start at pc in priv mode with a0 = a0, a1 = a1 (boot, SBI HSM start). */
void hart_reset(struct hart *h, uint64_t pc, enum priv priv, uint64_t a0, uint64_t a1);
/*
 * hart_run - execute up to `budget` instructions. Stops early on WFI (state
 * becomes HART_WFI), when the hart is stopped, or when vm_exit_requested().
 * Returns the number of instructions retired.
 */
uint64_t hart_run(struct hart *h, uint64_t budget);
/* Set or clear one mip bit (IRQ_*). Wakes a hart in WFI if the interrupt is now pending and enabled per WFI rules. */
void hart_set_irq(struct hart *h, unsigned irq, bool level);
enum hart_state hart_get_state(const struct hart *h);
void hart_set_state(struct hart *h, enum hart_state s);
uint64_t hart_get_reg(const struct hart *h, unsigned r);	/* x0..x31 */
void hart_set_reg(struct hart *h, unsigned r, uint64_t v);
uint64_t hart_get_pc(const struct hart *h);
void hart_set_pc(struct hart *h, uint64_t pc);
enum priv hart_get_priv(const struct hart *h);
uint64_t hart_instret(const struct hart *h);
/* Next host-monotonic ns at which this hart's Sstc stimecmp fires, UINT64_MAX if none. */
uint64_t hart_next_timer_ns(const struct hart *h);
/* Drop every cached translation and decoded instruction (SBI RFENCE, pmap change). */
void hart_flush_tlb(struct hart *h);
void hart_flush_icache(struct hart *h);

/*
 * Additions by the CPU side (not in the first contract):
 * hart_poll_timer - re-evaluate the Sstc timer (stimecmp against vm_mtime)
 * and wake a WFI hart if that makes an enabled interrupt pending; call it
 * when the time given by hart_next_timer_ns() has come. hart_run() on a
 * WFI hart does the same and returns 0 at once if nothing is pending.
 * hart_get_stats - counters for vmm_vm_stats.
 */
void hart_poll_timer(struct hart *h);
struct hart_stats {
	uint64_t tlb_misses;	/* software-TLB misses (page walks or bare fills) */
	uint64_t exceptions;	/* synchronous traps taken */
	uint64_t interrupts;	/* interrupts taken */
	uint64_t direct_fills;	/* a spanning VM: TLB entries made straight to a page of this node */
	uint64_t stall_local_ns, stall_remote_ns, stall_monitor_ns;	/* a spanning VM: time stalled */
};
void hart_get_stats(const struct hart *h, struct hart_stats *st);

/*
 * A VM spanning nodes (span.c, docs/coherence.md "The monitor's memory
 * path"): its harts run on several nodes, every node holds an instance of
 * the VM whose harts that run elsewhere are shadows (stand-ins for the home
 * node's devices), and guest memory is machine memory kept coherent.
 * hart_stalled - the hart waits (a coherence miss, a guest page being
 *   mapped, forwarded MMIO): not runnable until hart_wake().
 * hart_set_span - give the hart the coherent memory (NULL: direct) and mark
 *   it a shadow (it never runs here).
 * hart_code_lost - drop the hart's fetch entries for guest-physical page gpa
 *   (its decoded code must be read again) and end its chunk.
 * hart_line_lost - the line at machine address line is gone: break an LR
 *   reservation on it.
 */
enum hart_stall { STALL_NONE, STALL_MEM, STALL_PMAP, STALL_MMIO };
bool hart_stalled(const struct hart *h);
void hart_stall(struct hart *h, unsigned why);
/* Whether the hart woke from a stall since the last call (a granted line waits for its retry). */
bool hart_take_woke(struct hart *h);
unsigned hart_get_id(const struct hart *h);
/*
 * hart_mmio_forwarded - the state of a forwarded MMIO access: 1 when its
 * answer is in (*val for a load, *rc; the hart forgets it), 0 when it must
 * be sent now (the hart remembers it as sent), 2 when it was sent already.
 */
int hart_mmio_forwarded(struct hart *h, uint64_t gpa, unsigned size, bool write, uint64_t *val, int *rc);
void hart_wake(struct hart *h, unsigned why);
void hart_set_span(struct hart *h, struct coh_mem *coh, bool shadow);
bool hart_is_shadow(const struct hart *h);
void hart_code_lost(struct hart *h, uint64_t gpa);
void hart_line_lost(struct hart *h, uint64_t line, uint64_t line_mask);
/* Drop the hart's direct data entries for page gpa (another node took a line of it). */
void hart_data_lost(struct hart *h, uint64_t gpa);
/* The page at gpa moves: drop every translation of it (data, fetch) and an LR reservation in it. */
void hart_page_unmapped(struct hart *h, uint64_t gpa);
/* Finish a forwarded MMIO access: the home node answered rc and val. */
void hart_mmio_answer(struct hart *h, int rc, uint64_t val);

/*
 * A vCPU moving between nodes (hart_state.c): the hart's architectural
 * state as a flat record. hart_can_move - the hart runs here and waits for
 * nothing (no miss, no page, no forwarded MMIO, no retry due). hart_export
 * fills the record; hart_leave makes the hart a shadow here (its TLB goes,
 * the instructions it ran here stay counted here). hart_import checks a
 * record (-EPROTO wrong magic or size, -EINVAL bad privilege or state; the
 * hart is untouched then) and loads it; hart_arrive makes the hart run
 * here. hart_instret_here - instructions the hart retired on this node.
 */
#define HART_IMG_MAGIC	0x31494844u	/* "DHI1" */
struct hart_img {
	uint32_t magic, size;
	uint64_t x[32];
	uint64_t pc;
	uint32_t priv, state;
	uint64_t mstatus, misa, medeleg, mideleg, mie, mip;
	uint64_t mtvec, stvec, mepc, sepc, mcause, scause, mtval, stval, mscratch, sscratch, satp;
	uint64_t menvcfg, senvcfg;
	uint32_t mcounteren, scounteren, mcountinhibit, seip_line;
	uint64_t minstret, mcycle, stimecmp;
	uint8_t pmpcfg[64];
	uint64_t pmpaddr[64];
};
bool hart_can_move(const struct hart *h);
void hart_export(const struct hart *h, struct hart_img *img);
void hart_leave(struct hart *h);
int hart_import(struct hart *h, const struct hart_img *img);
void hart_arrive(struct hart *h, bool devices_here);
/* A shadow: the interrupt levels last sent to the hart's node (mip bits). */
uint64_t hart_irq_levels(const struct hart *h);
uint64_t hart_instret_here(const struct hart *h);

struct code_page;
/* The decoded code of RAM page gpa, NULL if it has none. */
struct code_page *pmap_code_find(struct pmap *p, uint64_t gpa);
struct pmap *pmap_new(const struct vmm_mem_ops *mem, uint64_t base, uint64_t size);
void pmap_free(struct pmap *p);
/* Host pointer to the page holding gpa, allocated (zeroed) on first touch; NULL if not RAM or memory is exhausted. */
uint8_t *pmap_page(struct pmap *p, uint64_t gpa);
uint64_t pmap_pages_touched(const struct pmap *p);

/*
 * Copy-on-write sharing of machine pages between VMs (addition by the disk
 * side; the disk cache maps base-image blocks with it, and network payload
 * pages may be remapped with it too).
 *
 * pmap_map_shared - map the machine page `page` at RAM page gpa of p,
 * read-only, in place of what was there (a private page goes back to the
 * node, a shared one is put). ops->get(ops->opaque, page) is called once
 * for this mapping and ops->put(ops->opaque, page) when it ends: when a
 * store breaks the sharing, when another page replaces it, or at
 * pmap_free. The attached harts' TLB entries for gpa are dropped. Returns
 * 0, or -EINVAL when gpa is not RAM. Call it between hart runs.
 * Reading a shared page goes through pmap_page() as usual; anything that
 * stores into guest memory uses pmap_page_write(), which first copies a
 * shared page into a fresh private one (the sharing breaks for p alone).
 * A write TLB entry never points at a shared page.
 */
struct pmap_share_ops {
	void *opaque;
	void (*get)(void *opaque, uint8_t *page);
	void (*put)(void *opaque, uint8_t *page);
};
int pmap_map_shared(struct pmap *p, uint64_t gpa, uint8_t *page, const struct pmap_share_ops *ops);
/* Host pointer to the page holding gpa, for a store: never a shared page. NULL as pmap_page. */
uint8_t *pmap_page_write(struct pmap *p, uint64_t gpa);
/* Pages of p that are shared mappings right now. */
uint64_t pmap_pages_shared(const struct pmap *p);
/*
 * pmap_tlb_batch - between pmap_tlb_batch(p, true) and pmap_tlb_batch(p,
 * false), the harts' TLB entries of the pages that remapping calls replace
 * are dropped together at the end, in one pass over each TLB instead of one
 * per page (a disk read that maps 16 cache pages). No hart of the VM may
 * run in between: use it within one device call.
 */
void pmap_tlb_batch(struct pmap *p, bool on);

/*
 * Pages of another node's memory mapped into a VM on one node (the global
 * disk cache across nodes, docs/disk.md): read-only, reached by the harts
 * through the coherence engine (the VM's harts then run with coherent
 * entries: vm_coh_enter), made the VM's own (read into a page of this node)
 * by anything else that touches them: a store, a device, pmap_page().
 * pmap_map_remote - map machine page maddr at RAM page gpa in place of what
 * was there; the caller's reference to it is the mapping's, and
 * ops->put(ops->opaque, maddr) is called when the mapping ends. Returns 0
 * or -EINVAL/-ENOMEM (the reference is then still the caller's).
 */
struct pmap_remote_ops {
	void *opaque;
	struct coh_mem *coh;
	void (*put)(void *opaque, uint64_t maddr);
};
int pmap_map_remote(struct pmap *p, uint64_t gpa, uint64_t maddr, const struct pmap_remote_ops *ops);
/* The machine address gpa's page is mapped from, 0 if it is not a remote mapping. */
uint64_t pmap_remote(const struct pmap *p, uint64_t gpa);
uint64_t pmap_pages_remote(const struct pmap *p);
/* A VM on one node maps pages of other nodes: its harts take the coherent memory path from now on. */
void vm_coh_enter(struct vm *vm, struct coh_mem *coh);
/* Whether the VM spans nodes (most of its data entries may be coherent ones). */
bool vm_coh_spans(const struct vm *vm);

/* ---- provided by the board side ---- */

/* The VM's pmap and RAM range. */
struct pmap *vm_pmap(struct vm *vm);
/* Guest-physical page to host pointer: RAM only, NULL otherwise (same as pmap_page on vm_pmap). */
uint8_t *vm_ram_page(struct vm *vm, uint64_t gpa);
/* The same for a store: a page shared copy-on-write is copied first (pmap_page_write). */
uint8_t *vm_ram_page_write(struct vm *vm, uint64_t gpa);
/*
 * MMIO: size is 1, 2, 4 or 8 and gpa is naturally aligned by the caller.
 * Return 0, or -1 when nothing answers there (the hart raises an access
 * fault), or -EAGAIN when the access went to the VM's home node: the hart
 * stalls and repeats it once hart_mmio_answer() gave the result.
 */
int vm_mmio_read(struct vm *vm, struct hart *h, uint64_t gpa, unsigned size, uint64_t *val);
int vm_mmio_write(struct vm *vm, struct hart *h, uint64_t gpa, unsigned size, uint64_t val);
/* mtime: 10 MHz ticks since the VM started. */
uint64_t vm_mtime(struct vm *vm);
/* Convert an mtime value to host CLOCK_MONOTONIC ns (for sleeping until a timer). */
uint64_t vm_mtime_to_ns(struct vm *vm, uint64_t mtime);
/*
 * vm_sbi_ecall - an ECALL from S mode when the monitor provides SBI (no
 * --bios). Returns true if handled (the hart then resumes after the ECALL
 * with a0/a1 set); false: the hart takes the ordinary environment-call trap.
 */
bool vm_sbi_ecall(struct vm *vm, struct hart *h);
/*
 * A VM spanning nodes: vm_coh() is its coherent memory (NULL for a VM on one
 * node); vm_ram_maddr() gives the machine address of guest-physical page
 * gpa for a read or a write: 0, -EAGAIN (asked the VM's home node, or a
 * write to a replicated page that must collapse first; the hart stalls),
 * -EFAULT (not RAM) or -ENOMEM. vm_code_changed() tells every hart of this node that
 * the decoded code of page gpa is stale; vm_irq_forward() sends an
 * interrupt level to a shadow hart's node.
 */
struct coh_mem *vm_coh(struct vm *vm);
int vm_ram_maddr(struct vm *vm, struct hart *h, uint64_t gpa, bool write, uint64_t *maddr);
void vm_code_changed(struct vm *vm, uint64_t gpa);
/* Drop every direct data entry of page gpa that this node's harts hold. */
void vm_direct_drop(struct vm *vm, uint64_t gpa);
void vm_irq_forward(struct vm *vm, unsigned hartid, unsigned irq, bool level);
/* A TLB (or, icache true, decoded-code) flush of a shadow hart: done on the hart's node. */
void vm_flush_forward(struct vm *vm, unsigned hartid, bool icache);

/* True once the guest powered off: harts return from hart_run promptly. */
bool vm_exit_requested(const struct vm *vm);

#endif
