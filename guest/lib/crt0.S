/*
 * crt0.S: M-mode entry. Every hart arrives here at 0x80000000 in M mode with
 * a0 = hartid, a1 = device tree (QEMU virt's reset ROM, disco's loader).
 *
 * Order: mask interrupts, tp = hartid, per-hart stack, open PMP to S/U and
 * counters to S/U (each guarded: a board without PMP just skips), mtvec.
 * Hart 0 zeroes .bss and then sets rt_bss_ready (in .data, so it is not
 * zeroed under the others' feet); the others spin on it and then check in
 * with rt_secondary_main(). Hart 0 goes on to rt_boot_main(hartid, dtb).
 */
#include "rt_param.h"

	.section .text.init, "ax"
	.globl _start
_start:
	csrw	mie, zero
	csrci	mstatus, 0x8			/* MIE off */
	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop
	csrr	tp, mhartid
	li	t0, RT_MAX_HARTS
	bgeu	tp, t0, rt_park_forever

	la	sp, rt_stacks
	addi	t0, tp, 1
	li	t1, RT_STACK_SIZE
	mul	t0, t0, t1
	add	sp, sp, t0

	/* PMP: one NAPOT entry covering everything, RWX, so S and U can run. */
	la	t0, 1f
	csrw	mtvec, t0
	li	t0, -1
	srli	t0, t0, 10
	csrw	pmpaddr0, t0
	li	t0, 0x1f
	csrw	pmpcfg0, t0
	.balign 4
1:	la	t0, 2f
	csrw	mtvec, t0
	li	t0, -1
	csrw	mcounteren, t0
	csrw	scounteren, t0
	.balign 4
2:	la	t0, rt_mtrap_entry
	csrw	mtvec, t0
	csrw	mscratch, zero

	bnez	tp, 5f
	la	t0, __bss_start
	la	t1, __bss_end
3:	bgeu	t0, t1, 4f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	3b
4:	fence	rw, rw
	la	t0, rt_bss_ready
	li	t1, 1
	sw	t1, 0(t0)
	mv	a0, tp
	call	rt_boot_main
	j	rt_park_forever

5:	la	t0, rt_bss_ready
6:	lw	t1, 0(t0)
	beqz	t1, 6b
	fence	rw, rw
	mv	a0, tp
	call	rt_secondary_main

	.globl rt_park_forever
rt_park_forever:
	csrw	mie, zero
7:	wfi
	j	7b

	.data
	.balign 4
	.globl rt_bss_ready
rt_bss_ready:
	.word	0
