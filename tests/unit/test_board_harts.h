/*
 * test_board_harts.h — a stand-in for the CPU side of vmm/ (hart_* and
 * pmap_* of vm.h), shared by the board's unit tests (test_board.c,
 * test_loader.c, test_virtio.c).
 *
 * The board tests drive devices through vm_mmio_read/write and check what
 * reaches the harts, so they need harts that record instead of execute.
 * Every function of the CPU side that the board's objects use is defined
 * here: the linker then takes none of the CPU side's objects from the
 * static library, and the two never define the same symbol twice.
 *
 * Include it from exactly one .c file per test executable.
 */
#ifndef DISCO_TEST_BOARD_HARTS_H
#define DISCO_TEST_BOARD_HARTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/vm.h"
#include "test_board_util.h"

struct hart {
	struct vm *vm;
	unsigned id;
	enum hart_state state;
	enum priv priv;
	uint64_t x[32], pc, instret;
	uint64_t mip;			/* bits set by hart_set_irq */
	unsigned tlb_flushes, icache_flushes;
	uint64_t next_timer_ns;
	/* Scripted behaviour of hart_run: NULL retires the whole budget. */
	uint64_t (*run)(struct hart *h, uint64_t budget);
};

struct hart *hart_new(struct vm *vm, unsigned hartid)
{
	struct hart *h = calloc(1, sizeof(*h));

	if (h) {
		h->vm = vm;
		h->id = hartid;
		h->priv = PRIV_M;
		h->next_timer_ns = UINT64_MAX;
	}
	return h;
}

void hart_free(struct hart *h)
{
	free(h);
}

void hart_reset(struct hart *h, uint64_t pc, enum priv priv, uint64_t a0, uint64_t a1)
{
	memset(h->x, 0, sizeof(h->x));
	h->pc = pc;
	h->priv = priv;
	h->x[10] = a0;
	h->x[11] = a1;
	h->state = HART_RUNNING;
}

uint64_t hart_run(struct hart *h, uint64_t budget)
{
	uint64_t n;

	if (h->state != HART_RUNNING || vm_exit_requested(h->vm))
		return 0;
	n = h->run ? h->run(h, budget) : budget;
	h->instret += n;
	return n;
}

void hart_set_irq(struct hart *h, unsigned irq, bool level)
{
	if (level)
		h->mip |= 1ull << irq;
	else
		h->mip &= ~(1ull << irq);
	if (level && h->state == HART_WFI)
		h->state = HART_RUNNING;
}

enum hart_state hart_get_state(const struct hart *h) { return h->state; }
void hart_set_state(struct hart *h, enum hart_state s) { h->state = s; }
uint64_t hart_get_reg(const struct hart *h, unsigned r) { return r ? h->x[r] : 0; }
void hart_set_reg(struct hart *h, unsigned r, uint64_t v) { if (r) h->x[r] = v; }
uint64_t hart_get_pc(const struct hart *h) { return h->pc; }
void hart_set_pc(struct hart *h, uint64_t pc) { h->pc = pc; }
enum priv hart_get_priv(const struct hart *h) { return h->priv; }
uint64_t hart_instret(const struct hart *h) { return h->instret; }
uint64_t hart_next_timer_ns(const struct hart *h) { return h->next_timer_ns; }
void hart_flush_tlb(struct hart *h) { h->tlb_flushes++; }
void hart_poll_timer(struct hart *h) { }
void hart_get_stats(const struct hart *h, struct hart_stats *st) { memset(st, 0, sizeof(*st)); st->exceptions = h->id; }
void hart_flush_icache(struct hart *h) { h->icache_flushes++; }
/* a VM spanning nodes: these boards run on one node, so no hart is a shadow or stalls */
unsigned hart_get_id(const struct hart *h) { return h->id; }
bool hart_stalled(const struct hart *h) { (void)h; return false; }
void hart_wake(struct hart *h, unsigned why) { (void)h; (void)why; }
void hart_set_span(struct hart *h, struct coh_mem *coh, bool shadow) { (void)h; (void)coh; (void)shadow; }
bool hart_is_shadow(const struct hart *h) { (void)h; return false; }
void hart_code_lost(struct hart *h, uint64_t gpa) { (void)h; (void)gpa; }
void hart_line_lost(struct hart *h, uint64_t line, uint64_t mask) { (void)h; (void)line; (void)mask; }
void hart_data_lost(struct hart *h, uint64_t gpa) { (void)h; (void)gpa; }
void hart_page_unmapped(struct hart *h, uint64_t gpa) { (void)h; (void)gpa; }
void hart_mmio_answer(struct hart *h, int rc, uint64_t val) { (void)h; (void)rc; (void)val; }
void hart_stall(struct hart *h, unsigned why) { (void)h; (void)why; }
bool hart_take_woke(struct hart *h) { (void)h; return false; }
bool hart_can_move(const struct hart *h) { (void)h; return false; }
void hart_export(const struct hart *h, struct hart_img *img) { (void)h; memset(img, 0, sizeof(*img)); }
void hart_leave(struct hart *h) { (void)h; }
int hart_import(struct hart *h, const struct hart_img *img) { (void)h; (void)img; return -1; }
void hart_arrive(struct hart *h, bool devices_here) { (void)h; (void)devices_here; }
uint64_t hart_irq_levels(const struct hart *h) { (void)h; return 0; }
uint64_t hart_instret_here(const struct hart *h) { return h->instret; }
int hart_mmio_forwarded(struct hart *h, uint64_t gpa, unsigned size, bool write, uint64_t *val, int *rc)
{ (void)h; (void)gpa; (void)size; (void)write; (void)val; (void)rc; return 2; }

struct pmap {
	struct vmm_mem_ops mem;
	uint64_t base, size, touched;
	uint8_t **pages;
};

struct pmap *pmap_new(const struct vmm_mem_ops *mem, uint64_t base, uint64_t size)
{
	struct pmap *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->mem = *mem;
	p->base = base;
	p->size = size;
	p->pages = calloc(size / VM_PAGE_SIZE, sizeof(*p->pages));
	if (!p->pages) {
		free(p);
		return NULL;
	}
	return p;
}

void pmap_free(struct pmap *p)
{
	for (uint64_t i = 0; i < p->size / VM_PAGE_SIZE; i++)
		if (p->pages[i])
			p->mem.free_page(p->mem.opaque, p->pages[i]);
	free(p->pages);
	free(p);
}

uint8_t *pmap_page(struct pmap *p, uint64_t gpa)
{
	uint64_t i;

	if (gpa < p->base || gpa - p->base >= p->size)
		return NULL;
	i = (gpa - p->base) / VM_PAGE_SIZE;
	if (!p->pages[i]) {
		p->pages[i] = p->mem.alloc_page(p->mem.opaque);
		if (p->pages[i])
			p->touched++;
	}
	return p->pages[i];
}

struct code_page *pmap_code_find(struct pmap *p, uint64_t gpa) { (void)p; (void)gpa; return NULL; }

uint64_t pmap_pages_touched(const struct pmap *p)
{
	return p->touched;
}

/* The copy-on-write calls (vm.h) the board's disk path makes: this stub pmap never shares. */
uint8_t *pmap_page_write(struct pmap *p, uint64_t gpa) { return pmap_page(p, gpa); }
int pmap_map_shared(struct pmap *p, uint64_t gpa, uint8_t *page, const struct pmap_share_ops *ops)
{
	(void)p; (void)gpa; (void)page; (void)ops;
	return -38;	/* -ENOSYS: the caller copies instead */
}
uint64_t pmap_pages_shared(const struct pmap *p) { (void)p; return 0; }
void pmap_tlb_batch(struct pmap *p, bool on) { (void)p; (void)on; }
uint64_t pmap_remote(const struct pmap *p, uint64_t gpa) { (void)p; (void)gpa; return 0; }
uint64_t pmap_pages_remote(const struct pmap *p) { (void)p; return 0; }
int pmap_map_remote(struct pmap *p, uint64_t gpa, uint64_t maddr, const struct pmap_remote_ops *ops)
{
	(void)p; (void)gpa; (void)maddr; (void)ops;
	return -1;
}

#endif
