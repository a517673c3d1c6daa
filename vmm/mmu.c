/*
 * mmu.c — the hart's memory slow path: Sv39/Sv48 page walk, TLB fill,
 * misaligned accesses, MMIO, atomics' host pointers and instruction fetch.
 *
 * Choices (docs/cpu.md):
 *  - A/D bits are set by the walker (like QEMU): A on any permitted access,
 *    D on a permitted write, written back into the guest's PTE in RAM.
 *  - PMP registers exist but allow everything.
 *  - Misaligned loads and stores to RAM are performed (also across pages,
 *    after both pages translated); to MMIO they raise an access fault.
 *  - Only RAM is entered into the TLB; MMIO always comes here, and every
 *    MMIO access ends the interpreter's chunk (h->brk) so a board action
 *    (power-off, an interrupt) is seen at once.
 * The host is little-endian, as RISC-V is.
 */
#include <errno.h>

#include "common/log.h"
#include "vmm/cpu.h"

#define PTE_V	(1ull << 0)
#define PTE_R	(1ull << 1)
#define PTE_W	(1ull << 2)
#define PTE_X	(1ull << 3)
#define PTE_U	(1ull << 4)
#define PTE_A	(1ull << 6)
#define PTE_D	(1ull << 7)
#define PPN_MASK ((1ull << 44) - 1)

static const uint32_t page_fault[3] = { EXC_LOAD_PAGE, EXC_STORE_PAGE, EXC_INSN_PAGE };
static const uint32_t access_fault[3] = { EXC_LOAD_ACCESS, EXC_STORE_ACCESS, EXC_INSN_ACCESS };

void tlb_flush_all(struct hart *h)
{
	for (unsigned s = 0; s < TS_COUNT; s++)
		for (unsigned a = 0; a < 3; a++)
			for (unsigned i = 0; i < TLB_SIZE; i++)
				h->tlb[s].e[a][i].tag = TLB_INVALID;
	h->nsuper = 0;
}

void tlb_flush_va(struct hart *h, uint64_t va)
{
	uint64_t tag = va & ~(VM_PAGE_SIZE - 1);
	unsigned i = (unsigned)(va >> VM_PAGE_SHIFT) & (TLB_SIZE - 1);

	for (unsigned k = 0; k < h->nsuper; k++) {
		if ((va & ~h->super_mask[k]) == h->super_base[k]) {
			tlb_flush_all(h);
			return;
		}
	}
	for (unsigned s = 0; s < TS_COUNT; s++)
		for (unsigned a = 0; a < 3; a++)
			if ((h->tlb[s].e[a][i].tag & ~TLB_COH) == tag)
				h->tlb[s].e[a][i].tag = TLB_INVALID;
}

/* ---- a VM spanning nodes: machine memory through the coherence engine ---- */

/*
 * coh_ptr - the host pointer for one access (inside one line) of mode
 * write to machine address m: the engine's inline check, else a miss is
 * started and the hart stalls (EXC_STALL) until the line arrives.
 */
static uint32_t coh_ptr(struct hart *h, uint64_t m, int write, uint8_t **p, enum acc a)
{
	void *q = coh_mem_lookup(h->coh, m, write);
	int rc;

	if (likely(q != NULL)) {
		*p = q;
		return 0;
	}
	if (h->creq.pending) {		/* cannot happen: a stalled hart does not run */
		hart_stall(h, STALL_MEM);
		return EXC_FLAG | EXC_STALL;
	}
	rc = coh_mem_get(h->coh, m, write, &q, &h->creq);
	if (rc == 0) {
		*p = q;
		return 0;
	}
	if (rc == -EAGAIN) {
		h->stall_remote = COH_MADDR_NODE(m) != ((const struct coh_mem_fast *)h->coh)->self;
		hart_stall(h, STALL_MEM);
		return EXC_FLAG | EXC_STALL;
	}
	return EXC_FLAG | access_fault[a];
}

/* The machine address of RAM page gpa, or a stall (the home node maps it) or an access fault. */
static uint32_t coh_maddr(struct hart *h, uint64_t gpa, bool write, uint64_t *m, enum acc a)
{
	int rc = vm_ram_maddr(h->vm, h, gpa & ~(VM_PAGE_SIZE - 1), write, m);

	if (rc == -EAGAIN)
		return EXC_FLAG | EXC_STALL;
	return rc ? EXC_FLAG | access_fault[a] : 0;
}

/* Whether every line of the page at machine address m is this node's with the right (2: write, 1: read). */
static bool coh_page_direct(struct coh_mem *c, uint64_t m, bool write)
{
	const struct coh_mem_fast *f = (const struct coh_mem_fast *)c;
	uint64_t off = COH_MADDR_OFF(m);
	unsigned need = write ? 2 : 1, n = VM_PAGE_SIZE >> f->line_shift;
	const uint8_t *hs;

	if (COH_MADDR_NODE(m) != f->self || off + VM_PAGE_SIZE > f->mem_len)
		return false;
	hs = f->hstate + (off >> f->line_shift);
	for (unsigned i = 0; i < (n ? n : 1); i++)
		if (hs[i] < need)
			return false;
	return true;
}

/*
 * coh_rw - load (write 0) or store (1) size bytes at machine address m,
 * little-endian in *val. An access across lines goes a byte at a time (a
 * stall in the middle of a store repeats the bytes already written: the
 * same values).
 */
static uint32_t coh_rw(struct hart *h, uint64_t m, unsigned size, uint64_t *val, int write)
{
	uint64_t lm = coh_mem_line_size(h->coh) - 1;
	enum acc a = write ? ACC_W : ACC_R;
	uint8_t *p, b[8];
	uint32_t r;

	if ((m & lm) + size <= lm + 1) {
		r = coh_ptr(h, m, write, &p, a);
		if (!r)
			memcpy(write ? p : (uint8_t *)val, write ? (uint8_t *)val : p, size);
		return r;
	}
	memcpy(b, val, 8);
	for (unsigned i = 0; i < size; i++) {
		r = coh_ptr(h, m + i, write, &p, a);
		if (r)
			return r;
		if (write)
			*p = b[i];
		else
			b[i] = *p;
	}
	if (!write)
		memcpy(val, b, 8);
	return 0;
}

/* A PTE read or A/D update by the walker: guest-physical pa, 8 bytes, aligned. */
static uint32_t coh_pte(struct hart *h, uint64_t pa, uint64_t *pte, bool write, enum acc a)
{
	uint64_t m;
	uint8_t *p;
	uint32_t r = coh_maddr(h, pa, write, &m, a);

	if (r)
		return r;
	r = coh_ptr(h, m + (pa & (VM_PAGE_SIZE - 1)), write ? COH_WRITE : COH_READ, &p, a);
	if (r)
		return r;
	if (write) {
		uint64_t cur;
		memcpy(&cur, p, 8);
		cur |= *pte;	/* A/D bits only ever get set */
		memcpy(p, &cur, 8);
		*pte = cur;
	} else {
		memcpy(pte, p, 8);
	}
	return 0;
}

/*
 * coh_fetch_fill - the fetch entry of a spanning VM: the page is read line
 * by line into its code page's snapshot (decoding reads the snapshot), and
 * every line must still be held when the entry is made, so that losing one
 * later (hart_code_lost through the lost-line callback) is heard.
 */
static uint32_t coh_fetch_fill(struct hart *h, struct tlb_entry *t, uint64_t tag, uint64_t page, uint64_t m)
{
	unsigned line = coh_mem_line_size(h->coh);
	uint8_t buf[VM_PAGE_SIZE], *p;
	struct code_page *cp;
	uint32_t r;

	for (int tries = 0;; tries++) {
		bool held = true;

		for (unsigned off = 0; off < VM_PAGE_SIZE; off += line) {
			r = coh_ptr(h, m + off, COH_READ, &p, ACC_X);
			if (r)
				return r;
			memcpy(buf + off, p, line < VM_PAGE_SIZE ? line : VM_PAGE_SIZE);
		}
		for (unsigned off = 0; off < VM_PAGE_SIZE && held; off += line)
			held = coh_mem_lookup(h->coh, m + off, COH_READ) != NULL;
		if (held || tries == 8)
			break;	/* (after 8 tries: a cache too small for a page; decode what was read) */
	}
	cp = pmap_code_get(h->pmap, page, buf);
	if (!cp)
		return EXC_FLAG | EXC_INSN_ACCESS;
	vm_direct_drop(h->vm, page);	/* stores to the page must now reach the snapshot's check */
	code_page_validate(cp, buf);	/* the page may have changed while no line was held */
	t->tag = tag;
	t->addend = (uintptr_t)cp->snap - (uintptr_t)tag;
	t->gpa = page;
	t->code = cp;
	return 0;
}

void tlb_drop_gpa(struct hart *h, uint64_t pg, unsigned accs, bool keep_coh)
{
	for (unsigned s = 0; s < TS_COUNT; s++)
		for (unsigned a = 0; a < 3; a++) {
			struct tlb_entry *x = h->tlb[s].e[a];

			if (!(accs >> a & 1))
				continue;
			for (unsigned j = 0; j < TLB_SIZE; j++)
				if (x[j].tag != TLB_INVALID && x[j].gpa == pg && !(keep_coh && (x[j].tag & TLB_COH)))
					x[j].tag = TLB_INVALID;
		}
}

void tlb_drop_gpas(struct hart *h, const uint64_t *pgs, unsigned n)
{
	uint64_t lo = ~0ull, hi = 0;

	for (unsigned k = 0; k < n; k++) {
		lo = pgs[k] < lo ? pgs[k] : lo;
		hi = pgs[k] > hi ? pgs[k] : hi;
	}
	for (unsigned s = 0; s < TS_COUNT; s++)
		for (unsigned a = 0; a < 3; a++) {
			struct tlb_entry *x = h->tlb[s].e[a];

			for (unsigned j = 0; j < TLB_SIZE; j++) {
				if (x[j].tag == TLB_INVALID || x[j].gpa - lo > hi - lo)
					continue;
				for (unsigned k = 0; k < n; k++)
					if (x[j].gpa == pgs[k]) {
						x[j].tag = TLB_INVALID;
						break;
					}
			}
		}
}

/* Remember that a piece of a level-`level` superpage around va is cached. */
static void tlb_note_super(struct hart *h, uint64_t va, unsigned level)
{
	uint64_t mask = (1ull << (VM_PAGE_SHIFT + 9 * level)) - 1;

	for (unsigned k = 0; k < h->nsuper; k++)
		if (h->super_base[k] == (va & ~mask) && h->super_mask[k] == mask)
			return;
	if (h->nsuper == TLB_SUPER_MAX) {
		/* too many to track: treat every address as inside one */
		h->super_base[0] = 0;
		h->super_mask[0] = ~0ull;
		h->nsuper = 1;
		return;
	}
	h->super_base[h->nsuper] = va & ~mask;
	h->super_mask[h->nsuper] = mask;
	h->nsuper++;
}

/* The privilege an access of kind a is checked at (MPRV for data). */
static enum priv acc_priv(const struct hart *h, enum acc a)
{
	if (a != ACC_X && h->priv == PRIV_M && (h->mstatus & MS_MPRV))
		return (enum priv)((h->mstatus & MS_MPP) >> MS_MPP_SHIFT);
	return h->priv;
}

/*
 * walk - va to guest-physical for an access of kind a at privilege p.
 * Returns 0 with *gpa (and *super when a superpage mapped it), or
 * EXC_FLAG | the page-fault / access-fault cause.
 */
static uint32_t walk(struct hart *h, uint64_t va, enum acc a, enum priv p, uint64_t *gpa, unsigned *super)
{
	unsigned mode = (unsigned)(h->satp >> 60), levels;
	uint64_t ppn = h->satp & PPN_MASK;
	bool sum = h->mstatus & MS_SUM, mxr = h->mstatus & MS_MXR;

	*super = 0;
	if (p == PRIV_M || mode == 0) {
		*gpa = va;
		return 0;
	}
	levels = mode == 8 ? 3 : 4;
	{
		unsigned vabits = 12 + 9 * levels;
		int64_t top = (int64_t)va >> (vabits - 1);
		if (top != 0 && top != -1)
			return EXC_FLAG | page_fault[a];
	}
	for (int i = (int)levels - 1; i >= 0; i--) {
		uint64_t pa = (ppn << VM_PAGE_SHIFT) + ((va >> (12 + 9 * i)) & 511) * 8;
		uint8_t *host = NULL;
		uint64_t pte;

		if (h->coh) {
			uint32_t r = coh_pte(h, pa, &pte, false, a);
			if (r)
				return r;
		} else {
			host = vm_ram_page(h->vm, pa & ~(VM_PAGE_SIZE - 1));
			if (!host)
				return EXC_FLAG | access_fault[a];
			memcpy(&pte, host + (pa & (VM_PAGE_SIZE - 1)), 8);
		}
		if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)) || (pte >> 54))
			return EXC_FLAG | page_fault[a];
		ppn = (pte >> 10) & PPN_MASK;
		if (!(pte & (PTE_R | PTE_X)))
			continue;	/* pointer to the next level */

		/* leaf */
		if (pte & PTE_U) {
			if (p == PRIV_S && (a == ACC_X || !sum))
				return EXC_FLAG | page_fault[a];
		} else if (p == PRIV_U) {
			return EXC_FLAG | page_fault[a];
		}
		if ((a == ACC_R && !((pte & PTE_R) || (mxr && (pte & PTE_X)))) ||
		    (a == ACC_W && !(pte & PTE_W)) || (a == ACC_X && !(pte & PTE_X)))
			return EXC_FLAG | page_fault[a];
		if (i > 0 && (ppn & ((1ull << (9 * i)) - 1)))
			return EXC_FLAG | page_fault[a];	/* misaligned superpage */
		{
			uint64_t need = PTE_A | (a == ACC_W ? PTE_D : 0);
			if ((pte & need) != need) {
				struct code_page *cp;

				if (h->coh) {
					uint64_t set = need;
					uint32_t r = coh_pte(h, pa, &set, true, a);
					if (r)
						return r;
					pte = set;
				} else {
					pte |= need;
					host = vm_ram_page_write(h->vm, pa & ~(VM_PAGE_SIZE - 1));	/* never into a shared page */
					if (!host)
						return EXC_FLAG | access_fault[a];
					memcpy(host + (pa & (VM_PAGE_SIZE - 1)), &pte, 8);
				}
				/* a page table page may also hold code: keep decode honest */
				cp = pmap_code_find(h->pmap, pa);
				if (cp) {
					code_page_touch(cp, (unsigned)(pa & (VM_PAGE_SIZE - 1)), 8);
					if (h->coh)
						vm_code_changed(h->vm, pa);
				}
			}
		}
		if (i > 0) {
			uint64_t m = (1ull << (9 * i)) - 1;
			ppn = (ppn & ~m) | ((va >> 12) & m);
			*super = (unsigned)i;
		}
		*gpa = (ppn << VM_PAGE_SHIFT) | (va & (VM_PAGE_SIZE - 1));
		return 0;
	}
	return EXC_FLAG | page_fault[a];
}

/*
 * xlate - translate and, for RAM, fill the TLB entry of va's page.
 * Returns 0 with *e (RAM) or *e = NULL and *gpa (not RAM), or a fault.
 */
static uint32_t xlate(struct hart *h, uint64_t va, enum acc a, struct tlb_entry **e, uint64_t *gpa)
{
	struct tlb_set *set = a == ACC_X ? h->fset : h->dset;
	unsigned idx = (unsigned)(va >> VM_PAGE_SHIFT) & (TLB_SIZE - 1);
	struct tlb_entry *t = &set->e[a][idx];
	uint64_t tag = va & ~(VM_PAGE_SIZE - 1);
	uint8_t *host;
	unsigned super;
	uint32_t r;

	if (t->tag == tag || (t->tag == (tag | TLB_COH) && h->coh)) {
		*e = t;
		*gpa = t->gpa | (va & (VM_PAGE_SIZE - 1));
		return 0;
	}
	h->stats.tlb_misses++;
	r = walk(h, va, a, acc_priv(h, a), gpa, &super);
	if (r)
		return r;
	if (h->coh) {
		uint64_t m, page = *gpa & ~(VM_PAGE_SIZE - 1);
		int rc = vm_ram_maddr(h->vm, h, page, a == ACC_W, &m);

		if (rc == -EAGAIN)
			return EXC_FLAG | EXC_STALL;
		if (rc == -EFAULT) {
			*e = NULL;	/* not RAM: MMIO */
			return 0;
		}
		if (rc)
			return EXC_FLAG | access_fault[a];
		if (a == ACC_X) {
			r = coh_fetch_fill(h, t, tag, page, m);
			if (r)
				return r;
		} else if (coh_page_direct(h->coh, m, a == ACC_W) &&
			   (a == ACC_R || !pmap_code_find(h->pmap, page))) {
			/*
			 * A page of this node that no other node holds a line of
			 * (for reading: that no other node writes): the entry
			 * points straight at it, as for a VM on one node. The
			 * first line another node takes fires the lost-line
			 * callback, which drops the entry (hart_data_lost).
			 */
			t->tag = tag;
			t->addend = (uintptr_t)coh_mem_base(h->coh) + COH_MADDR_OFF(m) - (uintptr_t)tag;
			t->gpa = page;
			t->code = a == ACC_R ? NULL : pmap_code_find(h->pmap, page);
			h->stats.direct_fills++;
		} else {
			t->tag = tag | TLB_COH;
			t->addend = (uintptr_t)m;
			t->gpa = page;
			t->code = a == ACC_R ? NULL : pmap_code_find(h->pmap, page);
		}
		if (super)
			tlb_note_super(h, va, super);
		*e = t;
		return 0;
	}
	/* a store's entry gets a private page: a page shared copy-on-write is copied now */
	host = a == ACC_W ? vm_ram_page_write(h->vm, *gpa & ~(VM_PAGE_SIZE - 1))
			  : vm_ram_page(h->vm, *gpa & ~(VM_PAGE_SIZE - 1));
	if (!host) {
		*e = NULL;
		return 0;
	}
	t->tag = tag;
	t->addend = (uintptr_t)host - (uintptr_t)tag;
	t->gpa = *gpa & ~(VM_PAGE_SIZE - 1);
	t->code = a == ACC_R ? NULL : pmap_code_find(h->pmap, t->gpa);
	if (super)
		tlb_note_super(h, va, super);
	*e = t;
	return 0;
}

static inline uint8_t *entry_host(const struct tlb_entry *e, uint64_t va)
{
	return (uint8_t *)(uintptr_t)(e->addend + (uintptr_t)va);
}

static uint32_t load_part(struct hart *h, uint64_t va, unsigned size, uint64_t *val, uint64_t *tval)
{
	struct tlb_entry *e;
	uint64_t gpa;
	uint32_t r = xlate(h, va, ACC_R, &e, &gpa);

	if (r) {
		*tval = va;
		return r;
	}
	*val = 0;
	if (e && (e->tag & TLB_COH)) {
		r = coh_rw(h, e->addend + (va & (VM_PAGE_SIZE - 1)), size, val, COH_READ);
		if (r)
			*tval = va;
		return r;
	}
	if (e) {
		memcpy(val, entry_host(e, va), size);
		return 0;
	}
	h->brk = 1;
	if (gpa & (size - 1)) {
		*tval = va;
		return EXC_FLAG | EXC_LOAD_ACCESS;
	}
	{
		int rc = vm_mmio_read(h->vm, h, gpa, size, val);
		if (rc == -EAGAIN)
			return EXC_FLAG | EXC_STALL;
		if (rc < 0) {
			*tval = va;
			return EXC_FLAG | EXC_LOAD_ACCESS;
		}
	}
	if (size < 8)
		*val &= (1ull << (8 * size)) - 1;
	return 0;
}

uint32_t mmu_load_slow(struct hart *h, uint64_t va, unsigned size, uint64_t *val, uint64_t *tval)
{
	unsigned off = (unsigned)(va & (VM_PAGE_SIZE - 1)), n1;
	uint64_t lo = 0, hi = 0, dummy;
	struct tlb_entry *e;
	uint32_t r;

	if (off + size <= VM_PAGE_SIZE)
		return load_part(h, va, size, val, tval);
	/* crosses a page: both halves must translate before either is read */
	n1 = VM_PAGE_SIZE - off;
	r = xlate(h, va, ACC_R, &e, &dummy);
	if (r) {
		*tval = va;
		return r;
	}
	if (!e)
		goto access;
	r = xlate(h, va + n1, ACC_R, &e, &dummy);
	if (r) {
		*tval = va + n1;
		return r;
	}
	if (!e)
		goto access;
	r = load_part(h, va, n1, &lo, tval);
	if (!r)
		r = load_part(h, va + n1, size - n1, &hi, tval);
	if (r)
		return r;
	*val = lo | (hi << (8 * n1));
	return 0;
access:
	*tval = va;
	return EXC_FLAG | EXC_LOAD_ACCESS;
}

static uint32_t store_part(struct hart *h, uint64_t va, unsigned size, uint64_t val, uint64_t *tval)
{
	struct tlb_entry *e;
	uint64_t gpa;
	uint32_t r = xlate(h, va, ACC_W, &e, &gpa);

	if (r) {
		*tval = va;
		return r;
	}
	if (e && (e->tag & TLB_COH)) {
		r = coh_rw(h, e->addend + (va & (VM_PAGE_SIZE - 1)), size, &val, COH_WRITE);
		if (r) {
			*tval = va;
			return r;
		}
		if (e->code) {
			code_page_touch(e->code, (unsigned)(va & (VM_PAGE_SIZE - 1)), size);
			vm_code_changed(h->vm, e->gpa);	/* decode reads the snapshot: read it again */
		}
		return 0;
	}
	if (e) {
		memcpy(entry_host(e, va), &val, size);
		if (e->code)
			code_page_touch(e->code, (unsigned)(va & (VM_PAGE_SIZE - 1)), size);
		return 0;
	}
	h->brk = 1;
	if (gpa & (size - 1)) {
		*tval = va;
		return EXC_FLAG | EXC_STORE_ACCESS;
	}
	{
		int rc = vm_mmio_write(h->vm, h, gpa, size, val);
		if (rc == -EAGAIN)
			return EXC_FLAG | EXC_STALL;
		if (rc < 0) {
			*tval = va;
			return EXC_FLAG | EXC_STORE_ACCESS;
		}
	}
	return 0;
}

uint32_t mmu_store_slow(struct hart *h, uint64_t va, unsigned size, uint64_t val, uint64_t *tval)
{
	unsigned off = (unsigned)(va & (VM_PAGE_SIZE - 1)), n1;
	struct tlb_entry *e;
	uint64_t dummy;
	uint32_t r;

	if (off + size <= VM_PAGE_SIZE)
		return store_part(h, va, size, val, tval);
	n1 = VM_PAGE_SIZE - off;
	r = xlate(h, va, ACC_W, &e, &dummy);
	if (r) {
		*tval = va;
		return r;
	}
	if (!e)
		goto access;
	r = xlate(h, va + n1, ACC_W, &e, &dummy);
	if (r) {
		*tval = va + n1;
		return r;
	}
	if (!e)
		goto access;
	r = store_part(h, va, n1, val, tval);
	if (!r)
		r = store_part(h, va + n1, size - n1, val >> (8 * n1), tval);
	return r;
access:
	*tval = va;
	return EXC_FLAG | EXC_STORE_ACCESS;
}

uint32_t mmu_atomic_ptr(struct hart *h, uint64_t va, unsigned size, bool lr, void **host,
			uint64_t *gpa, uint64_t *tval)
{
	enum acc a = lr ? ACC_R : ACC_W;
	struct tlb_entry *e;
	uint32_t r;

	*tval = va;
	if (va & (size - 1))
		return EXC_FLAG | (lr ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED);
	r = xlate(h, va, a, &e, gpa);
	if (r)
		return r;
	if (!e)		/* no atomics on I/O */
		return EXC_FLAG | (lr ? EXC_LOAD_ACCESS : EXC_STORE_ACCESS);
	if (e->tag & TLB_COH) {
		/* LR too takes the line exclusive, so that its SC does not miss */
		uint64_t m = e->addend + (va & (VM_PAGE_SIZE - 1));
		uint8_t *p;

		r = coh_ptr(h, m, COH_WRITE, &p, a);
		if (r)
			return r;
		*host = p;
		if (lr)
			h->resv_line = m;
		if (!lr && e->code) {
			code_page_touch(e->code, (unsigned)(va & (VM_PAGE_SIZE - 1)), size);
			vm_code_changed(h->vm, e->gpa);
		}
		return 0;
	}
	*host = entry_host(e, va);
	if (!lr && e->code)
		code_page_touch(e->code, (unsigned)(va & (VM_PAGE_SIZE - 1)), size);
	return 0;
}

uint32_t mmu_fetch_slow(struct hart *h, uint64_t pc, struct tlb_entry **e, uint64_t *tval)
{
	uint64_t gpa;
	uint32_t r = xlate(h, pc, ACC_X, e, &gpa);

	if (r) {
		*tval = pc;
		return r;
	}
	if (*e && !h->coh) {	/* (a spanning VM's fetch entry always has its code page) */
		struct tlb_entry *t = *e;
		const uint8_t *host = entry_host(t, pc & ~(VM_PAGE_SIZE - 1));
		/* (re)check against the epoch: FENCE.I flushed the fetch entries */
		t->code = pmap_code_get(h->pmap, t->gpa, host);
	}
	return 0;
}

uint32_t mmu_fetch_parcel(struct hart *h, uint64_t va, uint16_t *p, uint64_t *tval)
{
	struct tlb_entry *e;
	uint64_t gpa, v = 0;
	uint32_t r = xlate(h, va, ACC_X, &e, &gpa);

	*tval = va;
	if (r)
		return r;
	if (e) {
		memcpy(p, entry_host(e, va), 2);
		return 0;
	}
	h->brk = 1;
	{
		int rc = vm_mmio_read(h->vm, h, gpa, 2, &v);
		if (rc == -EAGAIN)
			return EXC_FLAG | EXC_STALL;
		if (rc < 0)
			return EXC_FLAG | EXC_INSN_ACCESS;
	}
	*p = (uint16_t)v;
	return 0;
}
