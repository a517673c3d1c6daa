/*
 * rt.c: boot, harts, exit and trap dispatch of the guest runtime.
 *
 * Hart protocol (M-mode build):
 *   boot hart (0):  rt_boot_main: console, device tree, heap, then waits
 *                   until ncpus-1 other harts have checked in (at most
 *                   RT_CHECKIN_TIMEOUT; a hart missing after that is fatal,
 *                   exit RT_EXIT_TIMEOUT). Without a tree it waits
 *                   RT_CHECKIN_NODTB and the harts that came are the
 *                   machine. Then main(), then rt_exit(main's value).
 *   other harts:    rt_secondary_main: check in (amoadd on `checked_in`),
 *                   enable MSIE only, and loop: clear own MSIP, compare the
 *                   work generation with the last one run, WFI if equal.
 *   rt_run_on_harts: stores fn/arg, bumps the generation, then writes MSIP
 *                   of each target hart; clearing MSIP before reading the
 *                   generation makes the wake-up impossible to lose.
 */
#include "rt_internal.h"

__attribute__((section(".stacks"), aligned(16)))
char rt_stacks[RT_MAX_HARTS][RT_STACK_SIZE];

static unsigned nharts = 1, boot_hart;
static volatile uint32_t checked_in;           /* secondaries that arrived */

static struct {
	void (*volatile fn)(void *);
	void *volatile arg;
	volatile uint32_t n;                    /* harts 0..n-1 take part */
	volatile uint64_t gen;                  /* bumped once per rt_run_on_harts */
	volatile uint32_t done;
} work;

static rt_trap_hook hooks[4];                  /* by level: [1] S, [3] M */

struct catch_state {
	volatile int on;
	volatile struct rt_caught rec;
};
static struct catch_state catches[RT_MAX_HARTS];
static volatile int escape[RT_MAX_HARTS];           /* rt_run_in_mode escape pending */
static volatile uint64_t escape_val[RT_MAX_HARTS];

unsigned rt_nharts(void) { return nharts; }
unsigned rt_boot_hart(void) { return boot_hart; }
const void *rt_dtb(void) { return rt_fdt.dtb; }
uint64_t rt_ram_base(void) { return rt_fdt.ram_base; }
uint64_t rt_ram_size(void) { return rt_fdt.ram_size; }
const char *rt_bootargs(void) { return rt_fdt.bootargs ? rt_fdt.bootargs : ""; }
uint64_t rt_timebase_hz(void) { return rt_fdt.timebase ? rt_fdt.timebase : RT_TIMEBASE_HZ; }

void rt_delay_ticks(uint64_t ticks)
{
	uint64_t t0 = rt_rdtime();
	while (rt_rdtime() - t0 < ticks)
		;
}

long rt_bootarg_long(const char *key, long def)
{
	const char *s = rt_bootargs();
	size_t klen = strlen(key);

	while (*s) {
		while (*s == ' ')
			s++;
		if (!strncmp(s, key, klen) && s[klen] == '=') {
			s += klen + 1;
			long v = 0;
			int neg = 0;
			if (*s == '-')
				neg = 1, s++;
			if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
				for (s += 2;; s++) {
					int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10
						: *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;
					if (d < 0)
						break;
					v = v * 16 + d;
				}
			} else {
				while (*s >= '0' && *s <= '9')
					v = v * 10 + (*s++ - '0');
			}
			return neg ? -v : v;
		}
		while (*s && *s != ' ')
			s++;
	}
	return def;
}

/* ---- exit ------------------------------------------------------------------- */

#ifdef RT_SMODE
long rt_sbi_call(long eid, long fid, long a0, long a1, long a2)
{
	register long r_a0 __asm__("a0") = a0;
	register long r_a1 __asm__("a1") = a1;
	register long r_a2 __asm__("a2") = a2;
	register long r_a6 __asm__("a6") = fid;
	register long r_a7 __asm__("a7") = eid;
	__asm__ volatile("ecall" : "+r"(r_a0), "+r"(r_a1) : "r"(r_a2), "r"(r_a6), "r"(r_a7) : "memory");
	return r_a0;
}

void rt_exit(int code)
{
	if (code) {
		/*
		 * SBI SRST cannot carry an exit code, so a failure first goes to
		 * the board's test device directly (S mode may reach it on virt);
		 * SRST with reason "system failure" is the fallback.
		 */
		rt_mmio_w32(RT_TEST_BASE, ((uint32_t)(code & 0xffff) << 16) | 0x3333);
		rt_sbi_call(0x53525354, 0, 0, 1, 0);
	} else {
		rt_sbi_call(0x53525354, 0, 0, 0, 0);
	}
	rt_sbi_call(8, 0, 0, 0, 0);    /* legacy shutdown */
	for (;;)
		__asm__ volatile("wfi");
}
#else
void rt_exit(int code)
{
	uint32_t v = code ? (((uint32_t)(code & 0xffff) << 16) | 0x3333) : 0x5555;
	for (;;) {
		rt_mmio_w32(RT_TEST_BASE, v);
		__asm__ volatile("wfi");
	}
}
#endif

void rt_panic(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	rt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	rt_console_emergency("PANIC: ");
	rt_console_emergency(buf);
	rt_exit(RT_EXIT_PANIC);
}

/* ---- boot -------------------------------------------------------------------------- */

static void wait_for_harts(void)
{
	unsigned want = rt_fdt.ncpus;
	uint64_t timeout = want ? RT_CHECKIN_TIMEOUT : RT_CHECKIN_NODTB;
	uint64_t t0 = rt_rdtime();

	if (want > RT_MAX_HARTS)
		want = RT_MAX_HARTS;
	while ((!want || checked_in + 1 < want) && rt_rdtime() - t0 < timeout)
		;
	nharts = checked_in + 1;
	/*
	 * A hart the tree lists that never arrives is a machine defect, and
	 * going on with fewer would make every SMP test pass vacuously.
	 */
	if (want && nharts < want) {
		rt_printf("rt: only %u of the %u harts in the device tree checked in within %lu ms\n",
			  nharts, want, (unsigned long)(timeout / (rt_timebase_hz() / 1000)));
		rt_exit(RT_EXIT_TIMEOUT);
	}
}

static void call_main(void)
{
	extern char _end[];
	uintptr_t heap_end;

	if (rt_fdt.ram_size)
		heap_end = rt_fdt.ram_base + rt_fdt.ram_size;
	else
		heap_end = (uintptr_t)_end + (16UL << 20);
	/* leave the device tree alone when it sits in RAM above the image */
	if (rt_fdt.dtb && (uintptr_t)rt_fdt.dtb > (uintptr_t)_end && (uintptr_t)rt_fdt.dtb < heap_end)
		heap_end = (uintptr_t)rt_fdt.dtb & ~0xfffUL;
	rt_heap_init((uintptr_t)_end, heap_end);
	rt_exit(main());
}

#ifdef RT_SMODE
extern char rt_secondary_entry[];

void rt_boot_main(unsigned long hartid, const void *dtb)
{
	boot_hart = (unsigned)hartid;
	rt_console_init();
	rt_fdt_scan(dtb);
	/* SBI HSM hart_start for every other hart the tree lists. */
	unsigned want = rt_fdt.ncpus > RT_MAX_HARTS ? RT_MAX_HARTS : rt_fdt.ncpus;
	for (unsigned h = 0; h < want; h++)
		if (h != hartid)
			rt_sbi_call(0x48534d, 0, h, (long)rt_secondary_entry, 0);
	wait_for_harts();
	call_main();
}
#else
void rt_boot_main(unsigned long hartid, const void *dtb)
{
	boot_hart = (unsigned)hartid;
	rt_console_init();
	rt_fdt_scan(dtb);
	wait_for_harts();
	call_main();
}
#endif

static void wake(unsigned h)
{
#ifdef RT_SMODE
	rt_sbi_call(0x735049, 0, 1, h, 0);          /* sbi_send_ipi(mask 1, base h) */
#else
	rt_mmio_w32(RT_CLINT_MSIP + 4 * h, 1);
#endif
}

static void clear_wake(unsigned h)
{
#ifdef RT_SMODE
	(void)h;
	rt_csr_clear(sip, 1UL << IRQ_S_SOFT);
#else
	rt_mmio_w32(RT_CLINT_MSIP + 4 * h, 0);
#endif
	__asm__ volatile("fence rw, rw" ::: "memory");
}

void rt_secondary_main(unsigned long hartid)
{
	uint64_t seen = 0;

#ifdef RT_SMODE
	rt_csr_write(sie, 1UL << IRQ_S_SOFT);
#else
	rt_csr_write(mie, 1UL << IRQ_M_SOFT);
#endif
	rt_fetch_add32(&checked_in, 1);
	for (;;) {
		clear_wake((unsigned)hartid);
		uint64_t g = work.gen;
		if (g == seen) {
			__asm__ volatile("wfi");
			continue;
		}
		seen = g;
		__asm__ volatile("fence r, rw" ::: "memory");
		if (hartid < work.n && hartid < nharts)
			work.fn(work.arg);
		rt_fetch_add32(&work.done, 1);
	}
}

void rt_run_on_harts(unsigned n, void (*fn)(void *), void *arg)
{
	unsigned me = rt_hartid();

	if (n == 0 || n > nharts)
		n = nharts;
	work.fn = fn;
	work.arg = arg;
	work.n = n;
	work.done = 0;
	__asm__ volatile("fence rw, rw" ::: "memory");
	work.gen = work.gen + 1;
	__asm__ volatile("fence rw, rw" ::: "memory");
	for (unsigned h = 0; h < nharts; h++)
		if (h != me)
			wake(h);
	if (me < n)
		fn(arg);
	/* every other checked-in hart acknowledges the generation */
	while (work.done < nharts - 1)
		;
	__asm__ volatile("fence rw, rw" ::: "memory");
}

/* ---- barrier ------------------------------------------------------------------------ */

void rt_barrier_init(rt_barrier_t *b, unsigned n)
{
	b->count = 0;
	b->sense = 0;
	b->n = n;
}

void rt_barrier_wait(rt_barrier_t *b)
{
	uint64_t sense = b->sense;
	uint64_t old;

	do
		old = b->count;
	while (rt_cas64(&b->count, old, old + 1) != old);
	if (old + 1 == b->n) {
		b->count = 0;
		__asm__ volatile("fence rw, rw" ::: "memory");
		b->sense = !sense;
	} else {
		while (b->sense == sense)
			;
	}
	__asm__ volatile("fence rw, rw" ::: "memory");
}

/* ---- traps ---------------------------------------------------------------------------- */

void rt_set_trap_hook(int level, rt_trap_hook hook)
{
	hooks[level & 3] = hook;
}

unsigned rt_insn_len(uint64_t pc)
{
	uint16_t lo = *(volatile uint16_t *)pc;
	return (lo & 3) == 3 ? 4 : 2;
}

void rt_catch_begin(void)
{
	struct catch_state *c = &catches[rt_hartid()];
	c->rec.n = 0;
	c->rec.cause = c->rec.tval = c->rec.epc = c->rec.status = 0;
	c->rec.level = 0;
	__asm__ volatile("" ::: "memory");
	c->on = 1;
	__asm__ volatile("" ::: "memory");
}

struct rt_caught rt_catch_end(void)
{
	struct catch_state *c = &catches[rt_hartid()];
	__asm__ volatile("" ::: "memory");
	c->on = 0;
	struct rt_caught r;
	r.n = c->rec.n;
	r.cause = c->rec.cause;
	r.tval = c->rec.tval;
	r.epc = c->rec.epc;
	r.status = c->rec.status;
	r.level = c->rec.level;
	return r;
}

static const char *const exc_names[16] = {
	"insn misaligned", "insn access fault", "illegal insn", "breakpoint",
	"load misaligned", "load access fault", "store misaligned", "store access fault",
	"ecall from U", "ecall from S", "?", "ecall from M",
	"insn page fault", "load page fault", "?", "store page fault",
};

void rt_trap(struct rt_frame *f, int level)
{
	unsigned h = rt_hartid();

	/*
	 * The return path of rt_run_in_mode(): its ecall normally reaches M.
	 * When the test delegated that ecall to S, the S handler escapes to M
	 * through a machine software interrupt to itself (M interrupts are
	 * always enabled below M, and rt_run_in_mode set MSIE).
	 */
	if ((f->cause == EXC_ECALL_S || f->cause == EXC_ECALL_U) && f->x[17] == RT_ECALL_RETURN) {
		if (level == PRV_M)
			rt_mode_resume((long)f->x[10]);
		escape_val[h] = f->x[10];
		escape[h] = 1;
		__asm__ volatile("fence rw, rw" ::: "memory");
		rt_mmio_w32(RT_CLINT_MSIP + 4 * h, 1);
		for (;;)
			__asm__ volatile("wfi");
	}
	if (level == PRV_M && f->cause == (CAUSE_INTR | IRQ_M_SOFT) && h < RT_MAX_HARTS && escape[h]) {
		escape[h] = 0;
		rt_mmio_w32(RT_CLINT_MSIP + 4 * h, 0);
		rt_mode_resume((long)escape_val[h]);
	}
	if (hooks[level] && hooks[level](f, level))
		return;
	if (!(f->cause & CAUSE_INTR) && h < RT_MAX_HARTS && catches[h].on) {
		struct catch_state *c = &catches[h];
		c->rec.n++;
		c->rec.cause = f->cause;
		c->rec.tval = f->tval;
		c->rec.epc = f->epc;
		c->rec.status = f->status;
		c->rec.level = level;
		f->epc += rt_insn_len(f->epc);
		return;
	}
	char buf[200];
	uint64_t code = f->cause & ~CAUSE_INTR;
	rt_snprintf(buf, sizeof(buf), "\nunexpected trap at level %c on hart %u: cause 0x%lx (%s%s) epc 0x%lx tval 0x%lx\n",
		    level == PRV_M ? 'M' : 'S', h, (unsigned long)f->cause,
		    f->cause & CAUSE_INTR ? "interrupt " : "",
		    f->cause & CAUSE_INTR ? "" : code < 16 ? exc_names[code] : "?",
		    (unsigned long)f->epc, (unsigned long)f->tval);
	rt_console_emergency(buf);
	rt_exit(RT_EXIT_TRAP);
}
