/*
 * rt.h: the thin guest runtime that disco's guest programs (tests, benchmark
 * kernels, workloads) link with. No libc: this header is the whole interface.
 *
 * Boot protocol (M-mode build, the default): every hart starts at 0x80000000
 * in M mode with a0 = hartid and a1 = device tree address, as QEMU's `virt`
 * reset ROM and disco's loader do. crt0 gives each hart a stack, hart 0
 * zeroes .bss while the others wait, hart 0 reads the device tree (number
 * of harts under /cpus, RAM size from /memory, /chosen/bootargs), waits for
 * the other harts to check in, and calls main(). The other harts park in WFI
 * until rt_run_on_all() hands them work. main()'s return value is the exit
 * status (rt_exit()).
 *
 * S-mode build (guest_program(... SMODE)): the program is linked at
 * 0x80200000 and entered by an SBI in S mode on one hart with a0 = hartid,
 * a1 = device tree; console output goes through the SBI legacy putchar and
 * power-off through SBI SRST. Other harts are started with SBI HSM.
 *
 * Every hart keeps its hart id in tp, so rt_hartid() works in any mode.
 */
#ifndef RT_H
#define RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "rt_param.h"

/* ---- program entry and exit ------------------------------------------- */

int main(void);

/* Powers the machine off with status `code` (0 = pass). Never returns. */
__attribute__((noreturn)) void rt_exit(int code);
__attribute__((noreturn)) void rt_panic(const char *fmt, ...);

/* ---- harts -------------------------------------------------------------- */

static inline unsigned rt_hartid(void)
{
	unsigned long tp;
	__asm__ volatile("mv %0, tp" : "=r"(tp));
	return (unsigned)tp;
}
unsigned rt_nharts(void);          /* harts that checked in, boot hart included */
unsigned rt_boot_hart(void);

/*
 * Runs fn(arg) on the first `n` harts (ids 0..n-1; n = 0 means all), the
 * caller included (it must be one of them), and returns when all have
 * finished. Harts beyond n stay parked. Not reentrant.
 */
void rt_run_on_harts(unsigned n, void (*fn)(void *), void *arg);
static inline void rt_run_on_all(void (*fn)(void *), void *arg) { rt_run_on_harts(0, fn, arg); }

/* ---- console -------------------------------------------------------------- */

void rt_putc(char c);
void rt_puts(const char *s);     /* no newline added */
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int rt_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- device tree ---------------------------------------------------------- */

const void *rt_dtb(void);         /* NULL if the boot hart got no valid tree */
uint64_t rt_ram_base(void);
uint64_t rt_ram_size(void);
const char *rt_bootargs(void);    /* /chosen/bootargs, "" if none */
/* Value of "key=NUMBER" in bootargs, or def. Decimal or 0x-hex. */
long rt_bootarg_long(const char *key, long def);

/* ---- counters ------------------------------------------------------------- */

static inline uint64_t rt_rdcycle(void)   { uint64_t v; __asm__ volatile("rdcycle %0" : "=r"(v)); return v; }
static inline uint64_t rt_rdtime(void)    { uint64_t v; __asm__ volatile("rdtime %0" : "=r"(v)); return v; }
static inline uint64_t rt_rdinstret(void) { uint64_t v; __asm__ volatile("rdinstret %0" : "=r"(v)); return v; }
uint64_t rt_timebase_hz(void);
void rt_delay_ticks(uint64_t ticks);   /* busy-waits on the time CSR */

/* ---- CSR access ------------------------------------------------------------ */

#define rt_csr_read(csr) ({ unsigned long __v; \
	__asm__ volatile("csrr %0, " #csr : "=r"(__v) :: "memory"); __v; })
#define rt_csr_write(csr, val) ({ unsigned long __v = (unsigned long)(val); \
	__asm__ volatile("csrw " #csr ", %0" :: "rK"(__v) : "memory"); })
#define rt_csr_set(csr, val) ({ unsigned long __v = (unsigned long)(val); \
	__asm__ volatile("csrs " #csr ", %0" :: "rK"(__v) : "memory"); })
#define rt_csr_clear(csr, val) ({ unsigned long __v = (unsigned long)(val); \
	__asm__ volatile("csrc " #csr ", %0" :: "rK"(__v) : "memory"); })
#define rt_csr_swap(csr, val) ({ unsigned long __v = (unsigned long)(val); \
	__asm__ volatile("csrrw %0, " #csr ", %0" : "+r"(__v) :: "memory"); __v; })

#define MSTATUS_SIE   (1UL << 1)
#define MSTATUS_MIE   (1UL << 3)
#define MSTATUS_SPIE  (1UL << 5)
#define MSTATUS_MPIE  (1UL << 7)
#define MSTATUS_SPP   (1UL << 8)
#define MSTATUS_MPP   (3UL << 11)
#define MSTATUS_FS    (3UL << 13)
#define MSTATUS_MPRV  (1UL << 17)
#define MSTATUS_SUM   (1UL << 18)
#define MSTATUS_MXR   (1UL << 19)
#define MSTATUS_TVM   (1UL << 20)
#define MSTATUS_TW    (1UL << 21)
#define MSTATUS_TSR   (1UL << 22)

#define IRQ_S_SOFT    1
#define IRQ_M_SOFT    3
#define IRQ_S_TIMER   5
#define IRQ_M_TIMER   7
#define IRQ_S_EXT     9
#define IRQ_M_EXT     11
#define CAUSE_INTR    (1UL << 63)

#define EXC_INST_MISALIGNED  0
#define EXC_INST_ACCESS      1
#define EXC_ILLEGAL          2
#define EXC_BREAKPOINT       3
#define EXC_LOAD_MISALIGNED  4
#define EXC_LOAD_ACCESS      5
#define EXC_STORE_MISALIGNED 6
#define EXC_STORE_ACCESS     7
#define EXC_ECALL_U          8
#define EXC_ECALL_S          9
#define EXC_ECALL_M          11
#define EXC_INST_PAGE        12
#define EXC_LOAD_PAGE        13
#define EXC_STORE_PAGE       15

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* ---- traps ------------------------------------------------------------------ */

/* What trap.S saves: x0..x31 (x[2] is the interrupted sp), then the CSRs. */
struct rt_frame {
	uint64_t x[32];
	uint64_t epc, cause, tval, status;   /* m* or s* depending on the level */
};

/*
 * A trap hook returns 1 when it handled the trap (it may edit the frame:
 * epc, registers, status), 0 to let the runtime's default handling run.
 * Hooks are global (one program = one test); `level` is PRV_M or PRV_S.
 */
typedef int (*rt_trap_hook)(struct rt_frame *f, int level);
void rt_set_trap_hook(int level, rt_trap_hook hook);

/* Length in bytes (2 or 4) of the instruction at pc (read through the current translation). */
unsigned rt_insn_len(uint64_t pc);

/*
 * Catching expected exceptions: between rt_catch_begin() and rt_catch_end()
 * on this hart, a synchronous exception at either level (M, or S when it is
 * delegated) is recorded and the faulting instruction skipped. Interrupts are
 * not caught. The record of the last caught trap:
 */
struct rt_caught {
	uint64_t n;                     /* traps caught since rt_catch_begin() */
	uint64_t cause, tval, epc;
	uint64_t status;                /* mstatus/sstatus at the trap */
	int level;                      /* PRV_M or PRV_S: who took it */
};
void rt_catch_begin(void);
struct rt_caught rt_catch_end(void);

/*
 * Runs fn(arg) in privilege mode `mode` (PRV_S or PRV_U) with the current
 * stack, interrupts as mstatus says, and returns fn's return value in M
 * mode. fn returns through an ecall with a7 = RT_ECALL_RETURN, which the M
 * handler turns back into a return from rt_run_in_mode(). Call from M only.
 */
long rt_run_in_mode(int mode, long (*fn)(long), long arg);

/* Low-level entries, for tests that point mtvec/stvec elsewhere and back. */
void rt_mtrap_entry(void);
void rt_strap_entry(void);

/* ---- synchronisation ---------------------------------------------------------- */

/* Test-and-set lock on amoswap.w.aq / amoswap.w.rl. */
typedef struct { volatile uint32_t v; } rt_spinlock_t;
#define RT_SPINLOCK_INIT { 0 }
static inline void rt_spin_lock(rt_spinlock_t *l)
{
	uint32_t old;
	for (;;) {
		__asm__ volatile("amoswap.w.aq %0, %2, %1" : "=r"(old), "+A"(l->v) : "r"(1) : "memory");
		if (!old)
			return;
		while (l->v)
			;
	}
}
static inline int rt_spin_trylock(rt_spinlock_t *l)
{
	uint32_t old;
	__asm__ volatile("amoswap.w.aq %0, %2, %1" : "=r"(old), "+A"(l->v) : "r"(1) : "memory");
	return old == 0;
}
static inline void rt_spin_unlock(rt_spinlock_t *l)
{
	__asm__ volatile("amoswap.w.rl zero, zero, %0" : "+A"(l->v) :: "memory");
}

/* Compare-and-swap on LR/SC; returns the value found (== expect on success). */
static inline uint64_t rt_cas64(volatile uint64_t *p, uint64_t expect, uint64_t desired)
{
	uint64_t old, fail;
	__asm__ volatile(
		"1: lr.d.aqrl %0, %2\n"
		"   bne %0, %3, 2f\n"
		"   sc.d.rl %1, %4, %2\n"
		"   bnez %1, 1b\n"
		"2:"
		: "=&r"(old), "=&r"(fail), "+A"(*p)
		: "r"(expect), "r"(desired)
		: "memory");
	return old;
}
static inline uint64_t rt_fetch_add64(volatile uint64_t *p, uint64_t v)
{
	uint64_t old;
	__asm__ volatile("amoadd.d.aqrl %0, %2, %1" : "=r"(old), "+A"(*p) : "r"(v) : "memory");
	return old;
}
static inline uint32_t rt_fetch_add32(volatile uint32_t *p, uint32_t v)
{
	uint32_t old;
	__asm__ volatile("amoadd.w.aqrl %0, %2, %1" : "=r"(old), "+A"(*p) : "r"(v) : "memory");
	return old;
}

/* Ticket lock: FIFO fairness, for the tests that measure contention. */
typedef struct { volatile uint32_t next, serving; } rt_ticketlock_t;
static inline void rt_ticket_lock(rt_ticketlock_t *l)
{
	uint32_t me = rt_fetch_add32(&l->next, 1);
	while (l->serving != me)
		;
	__asm__ volatile("fence r,rw" ::: "memory");
}
static inline void rt_ticket_unlock(rt_ticketlock_t *l)
{
	__asm__ volatile("fence rw,w" ::: "memory");
	l->serving = l->serving + 1;
}

/*
 * Sense-reversing barrier for `n` harts: the count is bumped with an LR/SC
 * compare-and-swap loop, the sense flipped by the last arrival.
 */
typedef struct { volatile uint64_t count; volatile uint64_t sense; uint64_t n; } rt_barrier_t;
void rt_barrier_init(rt_barrier_t *b, unsigned n);
void rt_barrier_wait(rt_barrier_t *b);

/* ---- memory ------------------------------------------------------------------- */

/* Thread-safe allocator over the RAM after the image (16-byte aligned). */
void *rt_malloc(size_t n);
void *rt_calloc(size_t n, size_t size);
void rt_free(void *p);
size_t rt_heap_free(void);      /* bytes never handed out yet */

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* ---- monitor calls (disco's SBI extension, rt_disco.c) ------------------------- */

/*
 * disco's own SBI extension "DISCO" (EID 0x0A00D15C, docs/board.md): only an
 * S-mode program started by disco's built-in SBI can reach it. The runtime
 * probes it once (BASE probe_extension); where it is absent (M-mode builds,
 * OpenSBI on QEMU) every call does nothing and returns RT_DISCO_ABSENT.
 */
#define RT_DISCO_EID      0x0A00D15CUL
#define RT_DISCO_ABSENT   (-2L)          /* SBI_ERR_NOT_SUPPORTED */
/* Phase numbers the workloads use (any number may be marked). */
#define RT_PHASE_INIT     1
#define RT_PHASE_COMPUTE  2
#define RT_PHASE_CHECK    3
#define RT_PHASE_DONE     4
struct rt_disco_stats {
	uint64_t instret;      /* instructions retired by every hart of the VM */
};
int rt_disco_present(void);                       /* 1 if the extension answers */
/* SBI BASE get_impl_id (0 BBL, 1 OpenSBI, 0xD15C disco) in S builds; -1 in M builds. */
#define RT_SBI_IMPL_DISCO 0xD15C
long rt_sbi_impl_id(void);
/* Records (phase, time, VM instret) in the monitor's report: 0 or an SBI error. */
long rt_disco_mark_phase(unsigned long phase);
long rt_disco_stats(struct rt_disco_stats *s);    /* 0 or an SBI error */

/* ---- MMIO ----------------------------------------------------------------------- */

static inline void rt_mmio_w32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint32_t rt_mmio_r32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void rt_mmio_w64(uintptr_t a, uint64_t v) { *(volatile uint64_t *)a = v; }
static inline uint64_t rt_mmio_r64(uintptr_t a) { return *(volatile uint64_t *)a; }

/* ---- test helpers ----------------------------------------------------------------- */

/*
 * CHECK(n, cond): on failure prints the check and exits with status n, so
 * the exit code names the failing check. CHECK_EQ prints both values.
 */
#define CHECK(n, cond) do { if (!(cond)) { \
	rt_printf("FAIL check %d: %s (%s:%d)\n", (int)(n), #cond, __FILE__, __LINE__); \
	rt_exit(n); } } while (0)
#define CHECK_EQ(n, a, b) do { uint64_t __a = (uint64_t)(a), __b = (uint64_t)(b); \
	if (__a != __b) { \
	rt_printf("FAIL check %d: %s == %s: got 0x%lx, want 0x%lx (%s:%d)\n", (int)(n), \
		  #a, #b, (unsigned long)__a, (unsigned long)__b, __FILE__, __LINE__); \
	rt_exit(n); } } while (0)

#endif
