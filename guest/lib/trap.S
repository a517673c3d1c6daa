/*
 * trap.S: trap entries for M (mtvec) and S (stvec), and the mode switch.
 *
 * An entry pushes a struct rt_frame (rt.h) on the interrupted stack, calls
 * rt_trap(frame, level) in C, writes back xepc and xstatus from the frame
 * (so a handler may redirect the return or change the previous mode) and
 * returns with xret. Using the interrupted stack keeps nested traps simple;
 * the runtime always runs S/U code on identity-mapped stacks.
 */
#include "rt_param.h"

.macro SAVE_REGS
	addi	sp, sp, -RT_FRAME_SIZE
	sd	x1, 1*8(sp)
	sd	x3, 3*8(sp)
	sd	x4, 4*8(sp)
	sd	x5, 5*8(sp)
	sd	x6, 6*8(sp)
	sd	x7, 7*8(sp)
	sd	x8, 8*8(sp)
	sd	x9, 9*8(sp)
	sd	x10, 10*8(sp)
	sd	x11, 11*8(sp)
	sd	x12, 12*8(sp)
	sd	x13, 13*8(sp)
	sd	x14, 14*8(sp)
	sd	x15, 15*8(sp)
	sd	x16, 16*8(sp)
	sd	x17, 17*8(sp)
	sd	x18, 18*8(sp)
	sd	x19, 19*8(sp)
	sd	x20, 20*8(sp)
	sd	x21, 21*8(sp)
	sd	x22, 22*8(sp)
	sd	x23, 23*8(sp)
	sd	x24, 24*8(sp)
	sd	x25, 25*8(sp)
	sd	x26, 26*8(sp)
	sd	x27, 27*8(sp)
	sd	x28, 28*8(sp)
	sd	x29, 29*8(sp)
	sd	x30, 30*8(sp)
	sd	x31, 31*8(sp)
	addi	t0, sp, RT_FRAME_SIZE
	sd	t0, 2*8(sp)
	sd	zero, 0(sp)
.endm

.macro RESTORE_REGS
	ld	x1, 1*8(sp)
	ld	x3, 3*8(sp)
	ld	x4, 4*8(sp)
	ld	x5, 5*8(sp)
	ld	x6, 6*8(sp)
	ld	x7, 7*8(sp)
	ld	x8, 8*8(sp)
	ld	x9, 9*8(sp)
	ld	x10, 10*8(sp)
	ld	x11, 11*8(sp)
	ld	x12, 12*8(sp)
	ld	x13, 13*8(sp)
	ld	x14, 14*8(sp)
	ld	x15, 15*8(sp)
	ld	x16, 16*8(sp)
	ld	x17, 17*8(sp)
	ld	x18, 18*8(sp)
	ld	x19, 19*8(sp)
	ld	x20, 20*8(sp)
	ld	x21, 21*8(sp)
	ld	x22, 22*8(sp)
	ld	x23, 23*8(sp)
	ld	x24, 24*8(sp)
	ld	x25, 25*8(sp)
	ld	x26, 26*8(sp)
	ld	x27, 27*8(sp)
	ld	x28, 28*8(sp)
	ld	x29, 29*8(sp)
	ld	x30, 30*8(sp)
	ld	x31, 31*8(sp)
	ld	x2, 2*8(sp)
.endm

	.text
	.balign 4
	.globl rt_mtrap_entry
rt_mtrap_entry:
	SAVE_REGS
	csrr	t0, mepc
	sd	t0, RT_FRAME_EPC(sp)
	csrr	t0, mcause
	sd	t0, RT_FRAME_CAUSE(sp)
	csrr	t0, mtval
	sd	t0, RT_FRAME_TVAL(sp)
	csrr	t0, mstatus
	sd	t0, RT_FRAME_STATUS(sp)
	mv	a0, sp
	li	a1, 3
	call	rt_trap
	ld	t0, RT_FRAME_EPC(sp)
	csrw	mepc, t0
	ld	t0, RT_FRAME_STATUS(sp)
	csrw	mstatus, t0
	RESTORE_REGS
	mret

	.balign 4
	.globl rt_strap_entry
rt_strap_entry:
	SAVE_REGS
	csrr	t0, sepc
	sd	t0, RT_FRAME_EPC(sp)
	csrr	t0, scause
	sd	t0, RT_FRAME_CAUSE(sp)
	csrr	t0, stval
	sd	t0, RT_FRAME_TVAL(sp)
	csrr	t0, sstatus
	sd	t0, RT_FRAME_STATUS(sp)
	mv	a0, sp
	li	a1, 1
	call	rt_trap
	ld	t0, RT_FRAME_EPC(sp)
	csrw	sepc, t0
	ld	t0, RT_FRAME_STATUS(sp)
	csrw	sstatus, t0
	RESTORE_REGS
	sret

/*
 * long rt_run_in_mode(int mode, long (*fn)(long), long arg)
 * Saves ra and s0-s11 on the M stack, records sp in rt_mode_sp[hart], and
 * mrets into fn(arg) with ra = rt_mode_return (an ecall the M handler turns
 * into rt_mode_resume()). mie is saved and MSIE set, for the escape used
 * when that ecall is delegated to S (rt_trap).
 */
	.balign 4
	.globl rt_run_in_mode
rt_run_in_mode:
	addi	sp, sp, -112
	sd	ra, 0(sp)
	sd	s0, 8(sp)
	sd	s1, 16(sp)
	sd	s2, 24(sp)
	sd	s3, 32(sp)
	sd	s4, 40(sp)
	sd	s5, 48(sp)
	sd	s6, 56(sp)
	sd	s7, 64(sp)
	sd	s8, 72(sp)
	sd	s9, 80(sp)
	sd	s10, 88(sp)
	sd	s11, 96(sp)
	la	t1, rt_mode_sp
	slli	t0, tp, 3
	add	t1, t1, t0
	sd	sp, 0(t1)
	/* keep mie; MSIE on for the escape path (see rt_trap) */
	la	t1, rt_mode_mie
	add	t1, t1, t0
	csrr	t2, mie
	sd	t2, 0(t1)
	csrsi	mie, 8
	li	t0, 3 << 11
	csrc	mstatus, t0
	andi	a0, a0, 3
	slli	t0, a0, 11
	csrs	mstatus, t0
	csrw	mepc, a1
	mv	a0, a2
	la	ra, rt_mode_return
	mret

	.balign 4
	.globl rt_mode_return
rt_mode_return:
	li	a7, RT_ECALL_RETURN
	ecall
	j	rt_mode_return

/* void rt_mode_resume(long ret): back on the M stack saved above, mie restored. */
	.balign 4
	.globl rt_mode_resume
rt_mode_resume:
	slli	t0, tp, 3
	la	t1, rt_mode_mie
	add	t1, t1, t0
	ld	t2, 0(t1)
	csrw	mie, t2
	la	t1, rt_mode_sp
	add	t1, t1, t0
	ld	sp, 0(t1)
	ld	ra, 0(sp)
	ld	s0, 8(sp)
	ld	s1, 16(sp)
	ld	s2, 24(sp)
	ld	s3, 32(sp)
	ld	s4, 40(sp)
	ld	s5, 48(sp)
	ld	s6, 56(sp)
	ld	s7, 64(sp)
	ld	s8, 72(sp)
	ld	s9, 80(sp)
	ld	s10, 88(sp)
	ld	s11, 96(sp)
	addi	sp, sp, 112
	ret

	.bss
	.balign 8
	.globl rt_mode_sp
rt_mode_sp:
	.space	8 * RT_MAX_HARTS
rt_mode_mie:
	.space	8 * RT_MAX_HARTS
