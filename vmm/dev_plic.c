/*
 * dev_plic.c — the platform-level interrupt controller.
 *
 * See dev_plic.h for the layout and the claim/complete protocol. After any
 * change the output of every context is recomputed and given to its hart
 * with hart_set_irq() (MEI for even contexts, SEI for odd ones); with at
 * most 96 sources and 128 contexts that costs little, and changes happen
 * only on device events and guest PLIC accesses.
 *
 * All registers are 32-bit; the dispatcher splits 8-byte accesses.
 */
#include "vmm/dev_plic.h"

#include <string.h>

#include "common/log.h"
#include "vmm/board.h"

static bool bit(const uint32_t *w, unsigned i)
{
	return (w[i / 32] >> (i % 32)) & 1;
}

static void bit_set(uint32_t *w, unsigned i, bool v)
{
	if (v)
		w[i / 32] |= 1u << (i % 32);
	else
		w[i / 32] &= ~(1u << (i % 32));
}

/* Best source for ctx: highest priority above threshold, lowest id; 0 if none. */
static unsigned best(const struct plic *p, unsigned ctx)
{
	unsigned id = 0, prio = p->threshold[ctx];

	for (unsigned w = 0; w < PLIC_WORDS; w++) {
		uint32_t cand = p->pending[w] & ~p->claimed[w] & p->enable[ctx][w];

		while (cand) {
			unsigned i = w * 32 + __builtin_ctz(cand);

			cand &= cand - 1;
			if (i > 0 && i < PLIC_NSRC && p->prio[i] > prio) {
				prio = p->prio[i];
				id = i;
			}
		}
	}
	return id;
}

static void update(struct plic *p)
{
	for (unsigned ctx = 0; ctx < p->nctx; ctx++)
		hart_set_irq(p->vm->harts[ctx / 2], ctx & 1 ? IRQ_SEI : IRQ_MEI, best(p, ctx) != 0);
}

void plic_init(struct plic *p, struct vm *vm, unsigned nharts)
{
	BUG_ON(2 * nharts > PLIC_CTX_MAX);
	memset(p, 0, sizeof(*p));
	p->vm = vm;
	p->nctx = 2 * nharts;
}

void plic_set_irq(struct plic *p, unsigned irq, bool level)
{
	BUG_ON(irq == 0 || irq >= PLIC_NSRC);
	bit_set(p->level, irq, level);
	if (bit(p->pending, irq) == level)
		return;
	bit_set(p->pending, irq, level);
	update(p);
}

int plic_read(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val)
{
	struct plic *p = opaque;

	*val = 0;
	if (size != 4)
		return 0;
	if (off < 4ull * PLIC_NSRC) {
		*val = p->prio[off / 4];
	} else if (off >= PLIC_PENDING && off < PLIC_PENDING + 4 * PLIC_WORDS) {
		*val = p->pending[(off - PLIC_PENDING) / 4];
	} else if (off >= PLIC_ENABLE && off < PLIC_ENABLE + (uint64_t)PLIC_ENABLE_STRIDE * p->nctx) {
		unsigned ctx = (off - PLIC_ENABLE) / PLIC_ENABLE_STRIDE;
		unsigned w = (off - PLIC_ENABLE) % PLIC_ENABLE_STRIDE / 4;

		if (w < PLIC_WORDS)
			*val = p->enable[ctx][w];
	} else if (off >= PLIC_CONTEXT && off < PLIC_CONTEXT + (uint64_t)PLIC_CONTEXT_STRIDE * p->nctx) {
		unsigned ctx = (off - PLIC_CONTEXT) / PLIC_CONTEXT_STRIDE;
		unsigned reg = (off - PLIC_CONTEXT) % PLIC_CONTEXT_STRIDE;

		if (reg == 0) {
			*val = p->threshold[ctx];
		} else if (reg == 4) {
			unsigned id = best(p, ctx);

			if (id) {
				bit_set(p->pending, id, false);
				bit_set(p->claimed, id, true);
				update(p);
			}
			*val = id;
		}
	}
	return 0;
}

int plic_write(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val)
{
	struct plic *p = opaque;

	if (size != 4) {
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: %u-byte PLIC write at +%#llx ignored",
				p->vm->name, size, (unsigned long long)off);
		return 0;
	}
	if (off < 4ull * PLIC_NSRC) {
		if (off / 4 != 0)
			p->prio[off / 4] = val & PLIC_PRIO_MASK;
	} else if (off >= PLIC_ENABLE && off < PLIC_ENABLE + (uint64_t)PLIC_ENABLE_STRIDE * p->nctx) {
		unsigned ctx = (off - PLIC_ENABLE) / PLIC_ENABLE_STRIDE;
		unsigned w = (off - PLIC_ENABLE) % PLIC_ENABLE_STRIDE / 4;

		if (w < PLIC_WORDS)
			p->enable[ctx][w] = val & (w == 0 ? ~1u : ~0u);	/* source 0 does not exist */
		if (w == PLIC_WORDS - 1 && PLIC_NSRC % 32)
			p->enable[ctx][w] &= (1u << (PLIC_NSRC % 32)) - 1;
	} else if (off >= PLIC_CONTEXT && off < PLIC_CONTEXT + (uint64_t)PLIC_CONTEXT_STRIDE * p->nctx) {
		unsigned ctx = (off - PLIC_CONTEXT) / PLIC_CONTEXT_STRIDE;
		unsigned reg = (off - PLIC_CONTEXT) % PLIC_CONTEXT_STRIDE;

		if (reg == 0) {
			p->threshold[ctx] = val & PLIC_PRIO_MASK;
		} else if (reg == 4) {
			unsigned id = val;

			/* Completing a source the context does not enable is ignored (spec). */
			if (id == 0 || id >= PLIC_NSRC || !bit(p->enable[ctx], id))
				return 0;
			bit_set(p->claimed, id, false);
		}
	} else {
		return 0;
	}
	update(p);
	return 0;
}
