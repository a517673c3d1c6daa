/*
 * pmap.c — per VM: guest-physical RAM page to machine page, plus the
 * decoded-code pages and the harts whose TLBs must hear about them.
 *
 * The map is a flat array indexed by page number from `base`; a machine
 * page is taken from the node's vmm_mem_ops on first touch (zeroed by the
 * allocator) and kept until pmap_free. Code pages (struct code_page, cpu.h)
 * are the monitor's own memory (calloc), one per RAM page that has been
 * executed, also kept until pmap_free.
 *
 * Invariant: when a code page is created for a guest-physical page, every
 * attached hart's write-TLB entries for that page are given it, so no store
 * can reach decoded code without invalidating it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "coherence/coh_mem.h"
#include "vmm/cpu.h"
#include "vmm/decode.h"

#define PMAP_TLB_BATCH	64	/* pages a TLB batch gathers before a pass */

struct pmap {
	struct vmm_mem_ops mem;
	uint64_t base, size, npages;
	uint8_t **page;			/* [npages]: machine page or NULL */
	struct code_page **code;	/* [npages]: decoded code or NULL */
	const struct pmap_share_ops **shared;	/* [npages] once anything is shared: its owner, or NULL (private) */
	uint64_t nshared;
	uint64_t *remote;		/* [npages] once anything is mapped from another node: its machine address, or 0 */
	const struct pmap_remote_ops *rops;
	uint64_t nremote;
	uint64_t touched;
	uint64_t epoch;			/* bumped by FENCE.I: code pages re-checked */
	struct hart *harts[PMAP_MAX_HARTS];
	unsigned nharts;
	/* pmap_tlb_batch: pages whose TLB entries are dropped at its end, in one pass */
	uint64_t batch[PMAP_TLB_BATCH];
	unsigned nbatch;
	bool batching;
	/* compiled blocks (jit.c): one mapping, filled from the start, never reused */
	uint8_t *jit_mem;
	size_t jit_used;
	bool jit_off;			/* DISCO_JIT=0, no mapping, or full */
};

#define PMAP_JIT_SIZE	(64ull << 20)	/* reserved address space; pages are touched as used */

static void slot_clear(struct pmap *p, uint64_t i);

/*
 * pmap_new - a pmap for RAM [base, base + size); both page aligned.
 * Returns NULL on bad arguments or no memory.
 */
struct pmap *pmap_new(const struct vmm_mem_ops *mem, uint64_t base, uint64_t size)
{
	struct pmap *p;

	if (!mem || !mem->alloc_page || (base | size) & (VM_PAGE_SIZE - 1) || base + size < base)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->mem = *mem;
	p->base = base;
	p->size = size;
	p->npages = size >> VM_PAGE_SHIFT;
	p->page = calloc(p->npages ? p->npages : 1, sizeof(*p->page));
	p->code = calloc(p->npages ? p->npages : 1, sizeof(*p->code));
	p->epoch = 1;
	p->jit_off = getenv("DISCO_JIT") && !strcmp(getenv("DISCO_JIT"), "0");
	if (!p->page || !p->code) {
		free(p->code);
		free(p->page);
		free(p);
		return NULL;
	}
	return p;
}

void pmap_free(struct pmap *p)
{
	if (!p)
		return;
	for (uint64_t i = 0; i < p->npages; i++) {
		if (p->code[i])
			free(p->code[i]->jit);
		free(p->code[i]);
		slot_clear(p, i);
	}
	free(p->remote);
	free(p->shared);
	free(p->code);
	free(p->page);
	if (p->jit_mem)
		munmap(p->jit_mem, PMAP_JIT_SIZE);
	free(p);
}

void *pmap_jit_alloc(struct pmap *p, size_t size)
{
	void *r;

	if (!p || p->jit_off)
		return NULL;
	if (!p->jit_mem) {
		void *m = mmap(NULL, PMAP_JIT_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED) {
			LOG(SUB_VMM, LOG_WARN, "pmap: no executable memory for compiled blocks (%s): interpreting only",
			    strerror(errno));
			p->jit_off = true;
			return NULL;
		}
		p->jit_mem = m;
	}
	size = (size + 15) & ~(size_t)15;
	if (size > PMAP_JIT_SIZE - p->jit_used) {
		LOG(SUB_VMM, LOG_INFO, "pmap: code space for compiled blocks used up: interpreting new code");
		p->jit_off = true;
		return NULL;
	}
	r = p->jit_mem + p->jit_used;
	p->jit_used += size;
	return r;
}

static inline bool pmap_index(const struct pmap *p, uint64_t gpa, uint64_t *idx)
{
	if (gpa < p->base || gpa - p->base >= p->size)
		return false;
	*idx = (gpa - p->base) >> VM_PAGE_SHIFT;
	return true;
}

static void tlb_drop_page(struct pmap *p, uint64_t pg);

/*
 * A page mapped from another node becomes this VM's own: read through the
 * engine (one RMA read: the page is read-only and clean for good) into a
 * fresh page of this node. Returns the page, or NULL (the mapping stays).
 */
static uint8_t *remote_localize(struct pmap *p, uint64_t i)
{
	uint8_t *copy = p->mem.alloc_page(p->mem.opaque), *base = coh_mem_base(p->rops->coh);
	uint64_t m = p->remote[i], pg = p->base + (i << VM_PAGE_SHIFT);

	if (!copy) {
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "pmap: node memory exhausted copying a remote page at gpa %#llx",
				(unsigned long long)pg);
		return NULL;
	}
	if (coh_mem_page_read_wait(p->rops->coh, m, (uint64_t)(copy - base)) < 0) {
		LOG_RATELIMITED(SUB_VMM, LOG_ERROR, "pmap: cannot read node %u's page for gpa %#llx",
				(unsigned)COH_MADDR_NODE(m), (unsigned long long)pg);
		if (p->mem.free_page)
			p->mem.free_page(p->mem.opaque, copy);
		return NULL;
	}
	p->remote[i] = 0;
	p->nremote--;
	p->rops->put(p->rops->opaque, m);
	p->page[i] = copy;
	p->touched++;
	tlb_drop_page(p, pg);
	return copy;
}

uint8_t *pmap_page(struct pmap *p, uint64_t gpa)
{
	uint64_t i;

	if (!p || !pmap_index(p, gpa, &i))
		return NULL;
	if (likely(p->page[i]))
		return p->page[i];
	if (p->remote && p->remote[i])
		return remote_localize(p, i);	/* (harts read it in place, through coherent entries) */
	p->page[i] = p->mem.alloc_page(p->mem.opaque);
	if (!p->page[i]) {
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "pmap: node memory exhausted at gpa %#llx",
				(unsigned long long)gpa);
		return NULL;
	}
	p->touched++;
	return p->page[i];
}

/* Page i maps nothing any more: a private page goes back to the node, a shared or remote one is put. */
static void slot_clear(struct pmap *p, uint64_t i)
{
	if (p->remote && p->remote[i]) {
		p->rops->put(p->rops->opaque, p->remote[i]);
		p->remote[i] = 0;
		p->nremote--;
	} else if (p->shared && p->shared[i]) {
		p->shared[i]->put(p->shared[i]->opaque, p->page[i]);
		p->shared[i] = NULL;
		p->nshared--;
	} else if (p->page[i]) {
		if (p->mem.free_page)
			p->mem.free_page(p->mem.opaque, p->page[i]);
		p->touched--;
	}
	p->page[i] = NULL;
}

static void tlb_drop_batch(struct pmap *p)
{
	for (unsigned k = 0; k < p->nharts && p->nbatch; k++)
		tlb_drop_gpas(p->harts[k], p->batch, p->nbatch);
	p->nbatch = 0;
}

/* Drop every attached hart's TLB entries (all kinds) for RAM page pg (at the batch's end, in one). */
static void tlb_drop_page(struct pmap *p, uint64_t pg)
{
	if (p->batching) {
		if (p->nbatch == PMAP_TLB_BATCH)
			tlb_drop_batch(p);
		p->batch[p->nbatch++] = pg;
		return;
	}
	for (unsigned k = 0; k < p->nharts; k++)
		tlb_drop_gpa(p->harts[k], pg, TLB_ALL, false);
}

void pmap_tlb_batch(struct pmap *p, bool on)
{
	if (!p)
		return;
	if (!on)
		tlb_drop_batch(p);
	p->batching = on;
}

int pmap_map_shared(struct pmap *p, uint64_t gpa, uint8_t *page, const struct pmap_share_ops *ops)
{
	uint64_t i;

	if (!p || !pmap_index(p, gpa, &i) || !page || !ops)
		return -EINVAL;
	if (!p->shared) {
		p->shared = calloc(p->npages, sizeof(*p->shared));
		if (!p->shared)
			return -ENOMEM;
	}
	if (p->shared[i] && p->page[i] == page)
		return 0;		/* already this mapping */
	ops->get(ops->opaque, page);
	slot_clear(p, i);
	p->page[i] = page;
	p->shared[i] = ops;
	p->nshared++;
	tlb_drop_page(p, gpa & ~(VM_PAGE_SIZE - 1));
	return 0;
}

uint8_t *pmap_page_write(struct pmap *p, uint64_t gpa)
{
	const struct pmap_share_ops *ops;
	uint8_t *copy;
	uint64_t i;

	if (!p || !pmap_index(p, gpa, &i))
		return NULL;
	if (likely(!p->shared || !p->shared[i]))
		return pmap_page(p, gpa);
	/* the first store to a shared page: this VM gets its own copy */
	copy = p->mem.alloc_page(p->mem.opaque);
	if (!copy) {
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "pmap: node memory exhausted breaking a shared page at gpa %#llx",
				(unsigned long long)gpa);
		return NULL;
	}
	memcpy(copy, p->page[i], VM_PAGE_SIZE);
	ops = p->shared[i];
	p->shared[i] = NULL;
	p->nshared--;
	ops->put(ops->opaque, p->page[i]);
	p->page[i] = copy;
	p->touched++;
	tlb_drop_page(p, gpa & ~(VM_PAGE_SIZE - 1));
	return copy;
}

uint64_t pmap_pages_shared(const struct pmap *p)
{
	return p ? p->nshared : 0;
}

int pmap_map_remote(struct pmap *p, uint64_t gpa, uint64_t maddr, const struct pmap_remote_ops *ops)
{
	uint64_t i;

	if (!p || !pmap_index(p, gpa, &i) || !maddr || (maddr & (VM_PAGE_SIZE - 1)) || !ops || !ops->coh ||
	    (p->rops && p->rops != ops))
		return -EINVAL;
	if (!p->remote) {
		p->remote = calloc(p->npages, sizeof(*p->remote));
		if (!p->remote)
			return -ENOMEM;
	}
	p->rops = ops;
	if (p->remote[i] == maddr) {
		ops->put(ops->opaque, maddr);	/* already this mapping: the caller's reference goes */
		return 0;
	}
	slot_clear(p, i);
	p->remote[i] = maddr;
	p->nremote++;
	tlb_drop_page(p, gpa & ~(VM_PAGE_SIZE - 1));
	return 0;
}

uint64_t pmap_remote(const struct pmap *p, uint64_t gpa)
{
	uint64_t i;

	return p && p->remote && pmap_index(p, gpa, &i) ? p->remote[i] : 0;
}

uint64_t pmap_pages_remote(const struct pmap *p)
{
	return p ? p->nremote : 0;
}

uint64_t pmap_pages_touched(const struct pmap *p)
{
	return p ? p->touched : 0;
}

uint64_t pmap_epoch(const struct pmap *p)
{
	return p->epoch;
}

void pmap_epoch_bump(struct pmap *p)
{
	p->epoch++;
}

/* pmap_hart_attach - let code-page creation reach h's TLB. Returns 0 or -ENOSPC. */
int pmap_hart_attach(struct pmap *p, struct hart *h)
{
	for (unsigned i = 0; i < p->nharts; i++)
		if (p->harts[i] == h)
			return 0;
	if (p->nharts == PMAP_MAX_HARTS)
		return -ENOSPC;
	p->harts[p->nharts++] = h;
	return 0;
}

void pmap_hart_detach(struct pmap *p, struct hart *h)
{
	for (unsigned i = 0; i < p->nharts; i++) {
		if (p->harts[i] == h) {
			p->harts[i] = p->harts[--p->nharts];
			return;
		}
	}
}

/*
 * pmap_code_get - the code page of RAM page gpa, created (all parcels
 * undecoded, snapshot = host) on first use. host is the page's current
 * machine page. Returns NULL if gpa is not RAM or memory is short, and the
 * hart then decodes without caching.
 */
struct code_page *pmap_code_get(struct pmap *p, uint64_t gpa, const uint8_t *host)
{
	struct code_page *cp;
	uint64_t i, pg = gpa & ~(VM_PAGE_SIZE - 1);

	if (!p || !pmap_index(p, gpa, &i))
		return NULL;
	cp = p->code[i];
	if (cp) {
		if (cp->epoch != p->epoch) {
			code_page_validate(cp, host);
			cp->epoch = p->epoch;
		}
		return cp;
	}
	cp = calloc(1, sizeof(*cp));
	if (!cp)
		return NULL;
	cp->gpa = pg;
	for (unsigned k = 0; k <= CODE_SLOTS; k++)
		cp->slot[k].run = hart_decode_entry;
	cp->slot[CODE_SLOTS].op = OP_PAGE_END;
	cp->epoch = p->epoch;
	memcpy(cp->snap, host, VM_PAGE_SIZE);
	p->code[i] = cp;
	for (unsigned k = 0; k < p->nharts; k++) {
		struct hart *h = p->harts[k];
		for (unsigned s = 0; s < TS_COUNT; s++) {
			struct tlb_entry *w = h->tlb[s].e[ACC_W];
			for (unsigned j = 0; j < TLB_SIZE; j++)
				if (w[j].tag != TLB_INVALID && w[j].gpa == pg)
					w[j].code = cp;
		}
	}
	return cp;
}

/* The code page of gpa if it has one (no creation, no check). */
struct code_page *pmap_code_find(struct pmap *p, uint64_t gpa)
{
	uint64_t i;

	if (!p || !pmap_index(p, gpa, &i))
		return NULL;
	return p->code[i];
}
