/*
 * dev_plic.h — the PLIC (sifive,plic-1.0.0) of the virt board.
 *
 * Sources 1..PLIC_NDEV, level-triggered. Contexts as on QEMU virt: context
 * 2*hart is the hart's M mode (drives IRQ_MEI), 2*hart+1 its S mode
 * (IRQ_SEI). Register layout (offsets from 0xc000000):
 *   0x000000 + 4*src      priority (0..7; 0 = never)
 *   0x001000              pending bits, 32 sources per word (read-only)
 *   0x002000 + 0x80*ctx   enable bits
 *   0x200000 + 0x1000*ctx threshold; +4: claim (read) / complete (write)
 *
 * Protocol of one source, as QEMU's virt PLIC behaves (the reference the
 * guests are tested against): each assertion by the device (a call with
 * level 1, also when the line was already high) makes the source pending; a
 * deassertion clears a pending source. A claim returns the highest-priority
 * pending enabled source above the context's threshold (ties: lowest id),
 * clears pending and marks it in service; a source in service is not
 * delivered, though a new assertion makes it pending for after completion.
 * Completion ends service without looking at the line again: devices assert
 * again on their next event (a register access or a new completion), as
 * QEMU's do. A hardware gateway would re-pend a line still high at
 * completion; that makes guests which never read the UART's IIR (xv6) take
 * THR-empty interrupts forever.
 */
#ifndef DISCO_VMM_DEV_PLIC_H
#define DISCO_VMM_DEV_PLIC_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct hart;

#define PLIC_NDEV		95	/* sources 1..95, as QEMU virt's riscv,ndev */
#define PLIC_NSRC		(PLIC_NDEV + 1)
#define PLIC_WORDS		((PLIC_NSRC + 31) / 32)
#define PLIC_PRIO_MASK		7u
#define PLIC_CTX_MAX		128	/* 2 per hart */

#define PLIC_PENDING		0x1000
#define PLIC_ENABLE		0x2000
#define PLIC_ENABLE_STRIDE	0x80
#define PLIC_CONTEXT		0x200000
#define PLIC_CONTEXT_STRIDE	0x1000

struct plic {
	struct vm *vm;
	unsigned nctx;
	uint32_t prio[PLIC_NSRC];
	uint32_t level[PLIC_WORDS];	/* the devices' lines */
	uint32_t pending[PLIC_WORDS];
	uint32_t claimed[PLIC_WORDS];	/* in service */
	uint32_t enable[PLIC_CTX_MAX][PLIC_WORDS];
	uint32_t threshold[PLIC_CTX_MAX];
};

void plic_init(struct plic *p, struct vm *vm, unsigned nharts);
/* A device drives source irq (1..PLIC_NDEV) to level. */
void plic_set_irq(struct plic *p, unsigned irq, bool level);
int plic_read(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val);
int plic_write(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val);

#endif
