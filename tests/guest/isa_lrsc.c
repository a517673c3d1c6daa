/*
 * isa_lrsc: load-reserved / store-conditional on one hart.
 *   1-4   LR.D then SC.D succeeds (rd = 0) and writes memory;
 *   5-6   a second SC without a new LR fails (rd != 0), memory untouched;
 *   7-8   SC to an address outside the reservation fails;
 *   9-12  LR.W sign-extends, SC.W writes 32 bits only;
 *   13    LR; store to the same address by this hart; SC: the spec lets the
 *         SC succeed or fail, but memory must then hold the SC's or the
 *         store's value respectively;
 *   14    the same across a trap taken between LR and SC;
 *   15-18 misaligned LR raises a load (4/5) exception, misaligned SC a
 *         store/AMO (6/7) one, both with tval = the address;
 *   19    an LR/SC increment loop gives the exact count.
 */
#include "rt.h"

static volatile uint64_t cell[64] __attribute__((aligned(64)));

static inline uint64_t lr_d(volatile uint64_t *p)
{
	uint64_t v;
	__asm__ volatile("lr.d %0, (%1)" : "=r"(v) : "r"(p) : "memory");
	return v;
}
static inline uint64_t sc_d(volatile uint64_t *p, uint64_t v)
{
	uint64_t r;
	__asm__ volatile("sc.d %0, %2, (%1)" : "=r"(r) : "r"(p), "r"(v) : "memory");
	return r;
}
static inline uint64_t lr_w(volatile void *p)
{
	uint64_t v;
	__asm__ volatile("lr.w %0, (%1)" : "=r"(v) : "r"(p) : "memory");
	return v;
}
static inline uint64_t sc_w(volatile void *p, uint64_t v)
{
	uint64_t r;
	__asm__ volatile("sc.w %0, %2, (%1)" : "=r"(r) : "r"(p), "r"(v) : "memory");
	return r;
}

int main(void)
{
	uint64_t r;

	cell[0] = 100;
	CHECK_EQ(1, lr_d(&cell[0]), 100);
	r = sc_d(&cell[0], 101);
	CHECK_EQ(2, r, 0);
	CHECK_EQ(3, cell[0], 101);
	CHECK_EQ(4, lr_d(&cell[0]), 101);
	CHECK_EQ(4, sc_d(&cell[0], 102), 0);

	r = sc_d(&cell[0], 103);
	CHECK(5, r != 0);
	CHECK_EQ(6, cell[0], 102);

	cell[32] = 7;
	(void)lr_d(&cell[0]);
	r = sc_d(&cell[32], 8);
	CHECK(7, r != 0);
	CHECK_EQ(8, cell[32], 7);

	cell[1] = 0x1122334480000000ULL;
	volatile uint32_t *w = (volatile uint32_t *)&cell[1];
	CHECK_EQ(9, lr_w(w), 0xffffffff80000000ULL);
	CHECK_EQ(10, sc_w(w, 0xdeadbeefcafef00dULL), 0);
	CHECK_EQ(11, cell[1], 0x11223344cafef00dULL);
	CHECK(12, sc_w(w, 5) != 0);

	cell[2] = 1;
	(void)lr_d(&cell[2]);
	cell[2] = 2;
	r = sc_d(&cell[2], 3);
	CHECK(13, r == 0 ? cell[2] == 3 : cell[2] == 2);
	rt_printf("SC after a same-hart store to the reserved address: %s\n", r ? "failed" : "succeeded");

	cell[3] = 1;
	rt_catch_begin();
	(void)lr_d(&cell[3]);
	__asm__ volatile("ebreak");
	r = sc_d(&cell[3], 9);
	struct rt_caught t = rt_catch_end();
	CHECK(14, t.n == 1 && (r == 0 ? cell[3] == 9 : cell[3] == 1));
	rt_printf("SC after a trap between LR and SC: %s\n", r ? "failed" : "succeeded");

	volatile uint64_t *mis = (volatile uint64_t *)((uintptr_t)&cell[4] + 4);
	rt_catch_begin();
	(void)lr_d(mis);
	t = rt_catch_end();
	CHECK_EQ(15, t.n, 1);
	CHECK(16, (t.cause == EXC_LOAD_MISALIGNED || t.cause == EXC_LOAD_ACCESS) && t.tval == (uintptr_t)mis);
	rt_catch_begin();
	(void)sc_d(mis, 1);
	t = rt_catch_end();
	/*
	 * An SC without a reservation may fail without looking at the address,
	 * so "no trap" is allowed too, as long as nothing was written.
	 */
	CHECK(17, t.n <= 1);
	if (t.n)
		CHECK(18, (t.cause == EXC_STORE_MISALIGNED || t.cause == EXC_STORE_ACCESS) &&
			  t.tval == (uintptr_t)mis);
	CHECK(18, cell[4] == 0 && cell[5] == 0);

	cell[8] = 0;
	for (int i = 0; i < 10000; i++) {
		uint64_t v;
		do
			v = lr_d(&cell[8]);
		while (sc_d(&cell[8], v + 1));
	}
	CHECK_EQ(19, cell[8], 10000);
	rt_printf("isa_lrsc: ok\n");
	return 0;
}
