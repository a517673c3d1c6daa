/*
 * pagefault_sv48: four-level translation (satp.MODE = 9).
 *  1     satp accepts MODE 9 (Sv48);
 *  2     a write of a reserved MODE (5) leaves satp unchanged;
 *  10-13 a 4 KiB page at VA 0x400000000000 (VPN[3] = 0x80) reads and writes
 *        through to its physical page; its unmapped neighbour faults (13)
 *        with stval = the full 48-bit VA;
 *  20    0x0000800000000000 (bit 47 set, bits 63:48 clear) is not canonical:
 *        load page fault;
 *  30    the canonical negative VA 0xffff800000000000 walks root[256], which
 *        is empty: load page fault with stval = that VA;
 *  40    a 512 GiB leaf in the root whose PPN is not 512 GiB aligned faults;
 *  50    an aligned 512 GiB leaf (root[2] -> PA 0) maps RAM at
 *        0x10000000000 + PA: a variable reads the same through it.
 * All faults go to a delegated S handler; each checks scause, stval, sepc.
 */
#include "rt.h"

#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define LEAF_RW (PTE_R | PTE_W | PTE_A | PTE_D)
#define SATP_SV48 (9UL << 60)

#define VA_HIGH 0x400000000000UL

static uint64_t root[512] __attribute__((aligned(4096)));
static uint64_t l2_low[512] __attribute__((aligned(4096)));
static uint64_t l2_high[512] __attribute__((aligned(4096)));
static uint64_t l1_high[512] __attribute__((aligned(4096)));
static uint64_t l0_high[512] __attribute__((aligned(4096)));
static uint8_t page[4096] __attribute__((aligned(4096)));
static volatile uint64_t marker = 0x5e48;

static uint64_t leaf(uint64_t pa, uint64_t flags) { return ((pa >> 12) << 10) | flags | PTE_V; }
static uint64_t table(void *t) { return (((uintptr_t)t >> 12) << 10) | PTE_V; }

static uint64_t load(uint64_t va, uint64_t *pc)
{
	uint64_t v = 0xbad, p;
	__asm__ volatile("la %1, 1f\n1: ld %0, 0(%2)" : "+r"(v), "=&r"(p) : "r"(va) : "memory");
	*pc = p;
	return v;
}

#define EXPECT_LOAD_FAULT(code, va) do { uint64_t __pc; \
	rt_catch_begin(); \
	(void)load((va), &__pc); \
	struct rt_caught __t = rt_catch_end(); \
	CHECK_EQ(code, __t.n, 1); \
	CHECK_EQ(code + 1, __t.level, PRV_S); \
	CHECK_EQ(code + 2, __t.cause, EXC_LOAD_PAGE); \
	CHECK_EQ(code + 3, __t.tval, (va)); \
	CHECK_EQ(code + 4, __t.epc, __pc); \
	} while (0)

static long s_main(long unused)
{
	page[16] = 0x77;
	__asm__ volatile("" ::: "memory");
	CHECK_EQ(10, *(volatile uint8_t *)(VA_HIGH + 16), 0x77);
	*(volatile uint64_t *)(VA_HIGH + 24) = 0xabcdef;
	CHECK_EQ(11, *(volatile uint64_t *)&page[24], 0xabcdef);
	EXPECT_LOAD_FAULT(12, VA_HIGH + 4096 + 8);
	EXPECT_LOAD_FAULT(20, 0x0000800000000000UL);
	EXPECT_LOAD_FAULT(30, 0xffff800000000000UL);
	EXPECT_LOAD_FAULT(40, 0x8000000000UL);
	CHECK_EQ(50, *(volatile uint64_t *)(0x10000000000UL + (uintptr_t)&marker), 0x5e48);
	return 0;
}

int main(void)
{
	rt_csr_write(satp, 0);
	rt_csr_write(satp, SATP_SV48 | ((uintptr_t)root >> 12));
	if (rt_csr_read(satp) >> 60 != 9) {
		rt_printf("FAIL check 1: satp does not accept Sv48\n");
		return 1;
	}
	rt_csr_write(satp, (5UL << 60) | 123);
	CHECK_EQ(2, rt_csr_read(satp), SATP_SV48 | ((uintptr_t)root >> 12));
	rt_csr_write(satp, 0);

	root[0] = table(l2_low);
	l2_low[0] = leaf(0, LEAF_RW);                       /* MMIO */
	l2_low[2] = leaf(0x80000000UL, LEAF_RW | PTE_X);    /* RAM, the program */
	root[1] = leaf(0x80000000UL, LEAF_RW);              /* misaligned 512 GiB leaf */
	root[2] = leaf(0, LEAF_RW);                         /* aligned 512 GiB leaf */
	root[0x80] = table(l2_high);
	l2_high[0] = table(l1_high);
	l1_high[0] = table(l0_high);
	l0_high[0] = leaf((uintptr_t)page, LEAF_RW);

	rt_csr_write(medeleg, (1UL << EXC_INST_PAGE) | (1UL << EXC_LOAD_PAGE) | (1UL << EXC_STORE_PAGE));
	rt_csr_write(stvec, (uintptr_t)rt_strap_entry);
	rt_csr_write(satp, SATP_SV48 | ((uintptr_t)root >> 12));
	__asm__ volatile("sfence.vma" ::: "memory");
	long r = rt_run_in_mode(PRV_S, s_main, 0);
	rt_csr_write(satp, 0);
	__asm__ volatile("sfence.vma" ::: "memory");
	rt_csr_write(medeleg, 0);
	CHECK_EQ(60, r, 0);
	rt_printf("pagefault_sv48: ok\n");
	return 0;
}
