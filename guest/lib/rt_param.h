/*
 * rt_param.h: the guest runtime's limits and the board addresses it assumes,
 * in one place (xv6's param.h). Included by C and by assembly, so only
 * preprocessor definitions live here.
 *
 * The board is QEMU's riscv64 `virt` (and disco's copy of it): RAM at
 * 0x80000000, CLINT at 0x2000000, ns16550a UART at 0x10000000, the
 * "sifive,test0" finisher at 0x100000.
 */
#ifndef RT_PARAM_H
#define RT_PARAM_H

#define RT_MAX_HARTS     64          /* harts with a higher id are parked forever */
#define RT_STACK_SIZE    32768       /* bytes of stack per hart (M and S traps share it) */

#define RT_UART_BASE     0x10000000UL
#define RT_CLINT_BASE    0x02000000UL
#define RT_CLINT_MSIP    (RT_CLINT_BASE + 0x0)      /* 4 bytes per hart */
#define RT_CLINT_MTIMECMP (RT_CLINT_BASE + 0x4000)  /* 8 bytes per hart */
#define RT_CLINT_MTIME   (RT_CLINT_BASE + 0xbff8)
#define RT_TEST_BASE     0x100000UL
#define RT_TIMEBASE_HZ   10000000UL  /* virt's mtime frequency, if the DTB says nothing */

/* How long the boot hart waits for the others to check in (in mtime ticks). */
#define RT_CHECKIN_TIMEOUT (RT_TIMEBASE_HZ * 2)
/* Without a device tree: how long to wait for harts nobody announced. */
#define RT_CHECKIN_NODTB   (RT_TIMEBASE_HZ / 20)

/* Trap frame layout (struct rt_frame in rt.h), shared with trap.S. */
#define RT_FRAME_EPC     (32 * 8)
#define RT_FRAME_CAUSE   (33 * 8)
#define RT_FRAME_TVAL    (34 * 8)
#define RT_FRAME_STATUS  (35 * 8)
#define RT_FRAME_SIZE    (36 * 8)

/* a7 value of the ecall with which code run by rt_run_in_mode() returns to M. */
#define RT_ECALL_RETURN  0x52544d52  /* "RTMR" */

/* Exit codes the runtime itself uses; tests use 1..199 for their checks. */
#define RT_EXIT_TRAP     254         /* unexpected trap */
#define RT_EXIT_PANIC    253         /* broken invariant in the runtime */
#define RT_EXIT_TIMEOUT  252         /* a wait timed out (e.g. a hart never checked in) */

#endif
