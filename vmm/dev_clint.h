/*
 * dev_clint.h — the CLINT (sifive,clint0) of the virt board.
 *
 * Layout (offsets from 0x2000000): msip[hart] at 0x0000 + 4*hart (bit 0
 * drives the hart's MSIP), mtimecmp[hart] at 0x4000 + 8*hart, mtime at
 * 0xbff8. mtime is the VM's clock (vm_mtime) and is read-only here: every
 * node that runs the VM's harts must read the same time (DESIGN.md "Time").
 * MTIP is level: mtime >= mtimecmp, re-evaluated after each mtimecmp write
 * and before each hart's turn (vm_timers_update).
 */
#ifndef DISCO_VMM_DEV_CLINT_H
#define DISCO_VMM_DEV_CLINT_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct hart;

#define CLINT_MSIP		0x0000
#define CLINT_MTIMECMP		0x4000
#define CLINT_MTIME		0xbff8
#define CLINT_HARTS_MAX		64

struct clint {
	struct vm *vm;
	unsigned nharts;
	bool msip[CLINT_HARTS_MAX];
	uint64_t mtimecmp[CLINT_HARTS_MAX];	/* reset: UINT64_MAX (no interrupt) */
	bool mtip[CLINT_HARTS_MAX];		/* level last given to the hart */
};

void clint_init(struct clint *c, struct vm *vm, unsigned nharts);
int clint_read(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val);
int clint_write(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val);
/* Set hart i's MTIP from mtime. */
void clint_timer_update(struct clint *c, unsigned i, uint64_t mtime);

#endif
