/*
 * crt0_s.S: S-mode entry, for kernels started by an SBI (OpenSBI, or disco's
 * own SBI) at 0x80200000 with a0 = hartid, a1 = device tree, on one hart.
 * That hart need not be hart 0. It zeroes .bss and runs rt_boot_main, which
 * starts the other harts at rt_secondary_entry through SBI HSM.
 */
#include "rt_param.h"

	.section .text.init, "ax"
	.globl _start
_start:
	csrw	sie, zero
	csrci	sstatus, 0x2
	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop
	mv	tp, a0
	li	t0, RT_MAX_HARTS
	bgeu	tp, t0, 9f
	call	set_stack
	la	t0, rt_strap_entry
	csrw	stvec, t0
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:	fence	rw, rw
	mv	a0, tp
	call	rt_boot_main
9:	wfi
	j	9b

	.globl rt_secondary_entry
rt_secondary_entry:
	csrw	sie, zero
	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop
	mv	tp, a0
	li	t0, RT_MAX_HARTS
	bgeu	tp, t0, 9b
	call	set_stack
	la	t0, rt_strap_entry
	csrw	stvec, t0
	mv	a0, tp
	call	rt_secondary_main
	j	9b

/* sp = rt_stacks + (tp + 1) * RT_STACK_SIZE; uses t0, t1 */
set_stack:
	la	sp, rt_stacks
	addi	t0, tp, 1
	li	t1, RT_STACK_SIZE
	mul	t0, t0, t1
	add	sp, sp, t0
	ret
