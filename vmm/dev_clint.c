/*
 * dev_clint.c — the CLINT: software interrupts (msip) and the machine timer.
 *
 * See dev_clint.h for the register layout. Accesses of 4 or 8 bytes are
 * accepted on mtimecmp and mtime (RV32 firmware writes the halves);
 * msip is 32-bit. A write to mtime is ignored: the VM's clock is the host's
 * monotonic clock and must agree on every node.
 */
#include "vmm/dev_clint.h"

#include "common/log.h"
#include "vmm/board.h"

void clint_init(struct clint *c, struct vm *vm, unsigned nharts)
{
	BUG_ON(nharts > CLINT_HARTS_MAX);
	c->vm = vm;
	c->nharts = nharts;
	for (unsigned i = 0; i < CLINT_HARTS_MAX; i++) {
		c->msip[i] = false;
		c->mtip[i] = false;
		c->mtimecmp[i] = UINT64_MAX;
	}
}

void clint_timer_update(struct clint *c, unsigned i, uint64_t mtime)
{
	c->mtip[i] = mtime >= c->mtimecmp[i];
	hart_set_irq(c->vm->harts[i], IRQ_MTI, c->mtip[i]);
}

int clint_read(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val)
{
	struct clint *c = opaque;

	*val = 0;
	if (off < CLINT_MTIMECMP) {
		unsigned i = off / 4;

		if (i < c->nharts && (off & 3) == 0)
			*val = c->msip[i];
	} else if (off < CLINT_MTIMECMP + 8ull * c->nharts) {
		unsigned i = (off - CLINT_MTIMECMP) / 8;

		*val = reg_read_part(c->mtimecmp[i], off & 7, size);
	} else if (off >= CLINT_MTIME && off < CLINT_MTIME + 8) {
		*val = reg_read_part(vm_mtime(c->vm), off & 7, size);
	}
	return 0;
}

int clint_write(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val)
{
	struct clint *c = opaque;

	if (off < CLINT_MTIMECMP) {
		unsigned i = off / 4;

		if (i < c->nharts && (off & 3) == 0) {
			c->msip[i] = val & 1;
			hart_set_irq(c->vm->harts[i], IRQ_MSI, c->msip[i]);
		}
	} else if (off < CLINT_MTIMECMP + 8ull * c->nharts) {
		unsigned i = (off - CLINT_MTIMECMP) / 8;

		c->mtimecmp[i] = reg_write_part(c->mtimecmp[i], off & 7, size, val);
		clint_timer_update(c, i, vm_mtime(c->vm));
	} else if (off >= CLINT_MTIME && off < CLINT_MTIME + 8) {
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: write to CLINT mtime ignored (the clock is the host's)",
				c->vm->name);
	}
	return 0;
}
