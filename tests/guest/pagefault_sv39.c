/*
 * pagefault_sv39: Sv39 translation and page faults, checked from S mode by
 * a delegated S handler (medeleg: instruction/load/store page faults).
 *
 * Layout built here (all PTEs have A and D set unless the check is about
 * them): root[0] = 1 GiB identity (MMIO: UART, CLINT, test device), root[2]
 * = 1 GiB identity of RAM (the program itself), root[1] -> l1 -> l0, the
 * test pages at VA 0x40000000 + i * 4 KiB:
 *   0 RW  1 R  2 unmapped  3 X only  4 U RW  5 W without R (reserved)
 *   6 RWX with code  7 R, A=0  8 RW, D=0  9 U X
 * root[3] = a 1 GiB leaf whose physical address is not 1 GiB aligned
 * (misaligned superpage), root[4] = a U alias of RAM for the U-mode part.
 * VA 0x8000000000 is not canonical under Sv39.
 *
 * Each fault must give scause 12/13/15, stval = the faulting VA, sepc = the
 * faulting instruction, sstatus.SPP = 1. Exit code = the check number.
 */
#include "rt.h"

#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_G (1UL << 5)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define PTE_AD (PTE_A | PTE_D)

#define VA_BASE 0x40000000UL
#define VA(i) (VA_BASE + (uint64_t)(i) * 4096)
#define NPAGES 10

static uint64_t root[512] __attribute__((aligned(4096)));
static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l0[512] __attribute__((aligned(4096)));
static uint8_t pages[NPAGES][4096] __attribute__((aligned(4096)));

static uint64_t pte_leaf(uint64_t pa, uint64_t flags) { return ((pa >> 12) << 10) | flags | PTE_V; }
static uint64_t pte_table(void *t) { return (((uintptr_t)t >> 12) << 10) | PTE_V; }

static void map(int i, uint64_t flags)
{
	l0[i] = flags ? pte_leaf((uintptr_t)pages[i], flags) : 0;
}

/* the aliases (VA and identity) are invisible to the compiler: order by hand */
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }
static inline void sfence(void) { __asm__ volatile("sfence.vma" ::: "memory"); }

/* a load/store/fetch that records the pc of the accessing instruction */
static uint64_t load(uint64_t va, uint64_t *pc)
{
	uint64_t v = 0xbad, p;
	__asm__ volatile("la %1, 1f\n1: ld %0, 0(%2)" : "+r"(v), "=&r"(p) : "r"(va) : "memory");
	*pc = p;
	return v;
}
static void store(uint64_t va, uint64_t v, uint64_t *pc)
{
	uint64_t p;
	__asm__ volatile("la %0, 1f\n1: sd %1, 0(%2)" : "=&r"(p) : "r"(v), "r"(va) : "memory");
	*pc = p;
}

/* fetch faults cannot be skipped by epc += len: return to the caller instead */
static volatile int fetch_faults;
static volatile uint64_t fetch_fault_tval, fetch_fault_epc;
static int fetch_hook(struct rt_frame *f, int level)
{
	if (level == PRV_S && f->cause == EXC_INST_PAGE) {
		fetch_faults++;
		fetch_fault_tval = f->tval;
		fetch_fault_epc = f->epc;
		f->epc = f->x[1];
		return 1;
	}
	return 0;
}

/*
 * U-mode probe, run at the U-accessible alias of RAM (root[4]: VA
 * 0x100000000 -> PA 0x80000000, U|R|X). a0 points at three words on a U
 * page: an S-only address it loads from, an address it stores to, and a
 * value it returns. It goes back to M with the runtime's ecall itself (its
 * ra, rt_mode_return, is not on a U page) and never touches the stack.
 */
#define U_ALIAS 0x80000000UL     /* VA - PA of the alias */
void u_probe(void);
extern char u_probe_ld[], u_probe_sd[];
__asm__(".text\n.balign 4\n.globl u_probe\nu_probe:\n"
	"ld a2, 0(a0)\n"
	"ld a1, 8(a0)\n"
	".option push\n.option norvc\n"
	".globl u_probe_ld\nu_probe_ld: ld t0, 0(a2)\n"
	".globl u_probe_sd\nu_probe_sd: sd t0, 0(a1)\n"
	".option pop\n"
	"ld a0, 16(a0)\n"
	"li a7, 0x52544d52\n"      /* RT_ECALL_RETURN */
	"ecall\n");

static volatile unsigned ulog_n;
static volatile uint64_t ulog_cause[4], ulog_tval[4], ulog_epc[4], ulog_status[4];
static int u_hook(struct rt_frame *f, int level)
{
	if (level != PRV_S || (f->cause & CAUSE_INTR))
		return 0;
	unsigned i = ulog_n;
	if (i < 4) {
		ulog_cause[i] = f->cause;
		ulog_tval[i] = f->tval;
		ulog_epc[i] = f->epc;
		ulog_status[i] = f->status;
	}
	ulog_n = i + 1;
	f->epc += 4;
	return 1;
}

static long u_entry(long arg)
{
	/* never called: rt_run_in_mode needs a C type; u_probe is the real code */
	return arg;
}

#define EXPECT_FAULT(code, t, want_cause, want_tval, want_epc) do { \
	CHECK_EQ(code, (t).n, 1); \
	CHECK_EQ(code + 1, (t).level, PRV_S); \
	CHECK_EQ(code + 2, (t).cause, want_cause); \
	CHECK_EQ(code + 3, (t).tval, want_tval); \
	CHECK_EQ(code + 4, (t).epc, want_epc); \
	CHECK(code + 5, (t).status & MSTATUS_SPP); \
	} while (0)

static long s_main(long unused)
{
	struct rt_caught t;
	uint64_t pc, v;

	/* 1: mapped RW page works, through translation */
	pages[0][8] = 0x5a;
	barrier();
	CHECK_EQ(1, *(volatile uint8_t *)(VA(0) + 8), 0x5a);
	*(volatile uint64_t *)(VA(0) + 16) = 0x1234;
	CHECK_EQ(2, *(volatile uint64_t *)&pages[0][16], 0x1234);

	/* store to a read-only page: 15 */
	rt_catch_begin();
	store(VA(1) + 24, 1, &pc);
	t = rt_catch_end();
	EXPECT_FAULT(10, t, EXC_STORE_PAGE, VA(1) + 24, pc);

	/* unmapped: load 13, store 15 */
	rt_catch_begin();
	v = load(VA(2) + 40, &pc);
	t = rt_catch_end();
	EXPECT_FAULT(20, t, EXC_LOAD_PAGE, VA(2) + 40, pc);
	CHECK_EQ(26, v, 0xbad);
	rt_catch_begin();
	store(VA(2) + 48, 1, &pc);
	t = rt_catch_end();
	EXPECT_FAULT(30, t, EXC_STORE_PAGE, VA(2) + 48, pc);

	/* fetch from an unmapped page: 12, sepc = stval = the target */
	rt_set_trap_hook(PRV_S, fetch_hook);
	((void (*)(void))VA(2))();
	CHECK_EQ(40, fetch_faults, 1);
	CHECK_EQ(41, fetch_fault_tval, VA(2));
	CHECK_EQ(42, fetch_fault_epc, VA(2));

	/* fetch from a non-executable page (RW) */
	((void (*)(void))(VA(0) + 64))();
	CHECK_EQ(43, fetch_faults, 2);
	CHECK_EQ(44, fetch_fault_tval, VA(0) + 64);

	/* S fetching from a U page always faults */
	((void (*)(void))VA(9))();
	CHECK_EQ(45, fetch_faults, 3);
	CHECK_EQ(46, fetch_fault_tval, VA(9));
	rt_set_trap_hook(PRV_S, NULL);

	/* executing from an RWX page works: the page holds "li a0, 42; ret" */
	long r = ((long (*)(void))VA(6))();
	CHECK_EQ(47, r, 42);

	/* X-only page: load faults unless sstatus.MXR */
	rt_catch_begin();
	v = load(VA(3), &pc);
	t = rt_catch_end();
	EXPECT_FAULT(50, t, EXC_LOAD_PAGE, VA(3), pc);
	rt_csr_set(sstatus, MSTATUS_MXR);
	rt_catch_begin();
	v = load(VA(3), &pc);
	t = rt_catch_end();
	rt_csr_clear(sstatus, MSTATUS_MXR);
	CHECK_EQ(56, t.n, 0);
	CHECK_EQ(57, v, *(uint64_t *)pages[3]);

	/* U page from S: faults unless sstatus.SUM */
	rt_catch_begin();
	v = load(VA(4) + 8, &pc);
	t = rt_catch_end();
	EXPECT_FAULT(60, t, EXC_LOAD_PAGE, VA(4) + 8, pc);
	rt_catch_begin();
	store(VA(4) + 8, 3, &pc);
	t = rt_catch_end();
	EXPECT_FAULT(66, t, EXC_STORE_PAGE, VA(4) + 8, pc);
	rt_csr_set(sstatus, MSTATUS_SUM);
	rt_catch_begin();
	store(VA(4) + 8, 77, &pc);
	v = load(VA(4) + 8, &pc);
	t = rt_catch_end();
	rt_csr_clear(sstatus, MSTATUS_SUM);
	CHECK_EQ(72, t.n, 0);
	CHECK_EQ(73, v, 77);

	/* W without R is reserved: any access faults */
	rt_catch_begin();
	v = load(VA(5), &pc);
	t = rt_catch_end();
	EXPECT_FAULT(80, t, EXC_LOAD_PAGE, VA(5), pc);
	rt_catch_begin();
	store(VA(5), 1, &pc);
	t = rt_catch_end();
	EXPECT_FAULT(86, t, EXC_STORE_PAGE, VA(5), pc);

	/* non-canonical address */
	rt_catch_begin();
	v = load(0x8000000000UL, &pc);
	t = rt_catch_end();
	EXPECT_FAULT(92, t, EXC_LOAD_PAGE, 0x8000000000UL, pc);

	/* misaligned superpage: root[3] points at 0x80200000 as a 1 GiB leaf */
	rt_catch_begin();
	v = load(0xC0000000UL, &pc);
	t = rt_catch_end();
	EXPECT_FAULT(100, t, EXC_LOAD_PAGE, 0xC0000000UL, pc);

	/* A = 0: the hart either sets A (and the load works) or faults */
	rt_catch_begin();
	v = load(VA(7), &pc);
	t = rt_catch_end();
	if (t.n) {
		EXPECT_FAULT(110, t, EXC_LOAD_PAGE, VA(7), pc);
		rt_printf("  A=0: page fault (software-managed A)\n");
	} else {
		CHECK(116, l0[7] & PTE_A);
		rt_printf("  A=0: hardware set A\n");
	}
	/* D = 0: store either sets D or faults */
	rt_catch_begin();
	store(VA(8), 5, &pc);
	t = rt_catch_end();
	if (t.n) {
		EXPECT_FAULT(120, t, EXC_STORE_PAGE, VA(8), pc);
		rt_printf("  D=0: page fault (software-managed D)\n");
	} else {
		CHECK(126, l0[8] & PTE_D);
		CHECK_EQ(127, *(volatile uint64_t *)pages[8], 5);
		rt_printf("  D=0: hardware set D\n");
	}

	/* misaligned access that spans a mapped and an unmapped page */
	rt_catch_begin();
	v = load(VA(1) + 4092, &pc);
	t = rt_catch_end();
	CHECK_EQ(130, t.n, 1);
	CHECK_EQ(131, t.cause, EXC_LOAD_PAGE);
	CHECK(132, t.tval == VA(1) + 4092 || t.tval == VA(2));
	CHECK_EQ(133, t.epc, pc);
	/* and one that spans two mapped pages works */
	*(volatile uint32_t *)&pages[0][4092] = 0x44332211;
	*(volatile uint32_t *)&pages[1][0] = 0x88776655;
	barrier();
	rt_catch_begin();
	v = load(VA(0) + 4092, &pc);
	t = rt_catch_end();
	CHECK_EQ(134, t.n, 0);
	CHECK_EQ(135, v, 0x8877665544332211UL);

	/* changing a PTE and fencing takes effect */
	map(2, PTE_R | PTE_W | PTE_AD);
	sfence();
	*(volatile uint64_t *)VA(2) = 99;
	CHECK_EQ(140, *(volatile uint64_t *)pages[2], 99);
	return 0;
}

int main(void)
{
	uint64_t flags[NPAGES] = {
		PTE_R | PTE_W | PTE_AD, PTE_R | PTE_AD, 0, PTE_X | PTE_AD, PTE_U | PTE_R | PTE_W | PTE_AD,
		PTE_W | PTE_AD, PTE_R | PTE_W | PTE_X | PTE_AD, PTE_R, PTE_R | PTE_W | PTE_A,
		PTE_U | PTE_X | PTE_R | PTE_AD,
	};
	static const uint32_t code[] = { 0x02a00513 /* li a0, 42 */, 0x00008067 /* ret */ };

	memcpy(pages[6], code, sizeof(code));
	memcpy(pages[9], code, sizeof(code));
	for (int i = 0; i < 8; i++)
		((uint64_t *)pages[3])[i] = 0xc0de0000 + i;
	root[0] = pte_leaf(0, PTE_R | PTE_W | PTE_AD);
	root[1] = pte_table(l1);
	root[2] = pte_leaf(0x80000000UL, PTE_R | PTE_W | PTE_X | PTE_AD);
	root[3] = pte_leaf(0x80200000UL, PTE_R | PTE_W | PTE_AD);
	l1[0] = pte_table(l0);
	for (int i = 0; i < NPAGES; i++)
		map(i, flags[i]);
	__asm__ volatile("fence.i" ::: "memory");

	rt_csr_write(medeleg, (1UL << EXC_INST_PAGE) | (1UL << EXC_LOAD_PAGE) | (1UL << EXC_STORE_PAGE));
	rt_csr_write(stvec, (uintptr_t)rt_strap_entry);
	rt_csr_write(satp, (8UL << 60) | ((uintptr_t)root >> 12));
	CHECK_EQ(3, rt_csr_read(satp) >> 60, 8);
	__asm__ volatile("sfence.vma" ::: "memory");
	long r = rt_run_in_mode(PRV_S, s_main, 0);
	CHECK_EQ(150, r, 0);

	/*
	 * U mode under Sv39: loads and stores to S pages fault (13/15) with
	 * SPP = 0 whatever SUM says, U pages work. a0 = an S-only VA (the
	 * identity map), a1 = the read-only test page, a2 = the U page.
	 */
	(void)u_entry;
	root[4] = pte_leaf(0x80000000UL, PTE_U | PTE_R | PTE_X | PTE_AD);
	__asm__ volatile("sfence.vma" ::: "memory");
	rt_set_trap_hook(PRV_S, u_hook);
	rt_csr_set(mstatus, MSTATUS_SUM);
	uint64_t s_only = (uintptr_t)&pages[0][0];
	((volatile uint64_t *)pages[4])[0] = s_only;
	((volatile uint64_t *)pages[4])[1] = VA(1);
	((volatile uint64_t *)pages[4])[2] = 0x600d;
	r = rt_run_in_mode(PRV_U, (long (*)(long))((uintptr_t)u_probe + U_ALIAS), (long)VA(4));
	rt_csr_clear(mstatus, MSTATUS_SUM);
	rt_set_trap_hook(PRV_S, NULL);
	CHECK_EQ(160, ulog_n, 2);
	CHECK_EQ(161, ulog_cause[0], EXC_LOAD_PAGE);
	CHECK_EQ(162, ulog_tval[0], s_only);
	CHECK_EQ(163, ulog_epc[0], (uintptr_t)u_probe_ld + U_ALIAS);
	CHECK_EQ(164, ulog_cause[1], EXC_STORE_PAGE);
	CHECK_EQ(165, ulog_tval[1], VA(1));
	CHECK_EQ(166, ulog_epc[1], (uintptr_t)u_probe_sd + U_ALIAS);
	CHECK_EQ(167, ulog_status[0] & MSTATUS_SPP, 0);
	CHECK_EQ(168, r, 0x600d);

	rt_csr_write(satp, 0);
	__asm__ volatile("sfence.vma" ::: "memory");
	rt_csr_write(medeleg, 0);
	rt_printf("pagefault_sv39: ok\n");
	return 0;
}
