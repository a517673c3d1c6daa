/*
 * rt_selftest: checks the runtime itself on several harts (--smp 4):
 * printf formatting, the allocator, counters, rt_run_on_all, the spin and
 * ticket locks, the LR/SC barrier, and a trap caught and skipped.
 */
#include "rt.h"

#define ITERS 2000

static rt_spinlock_t lock = RT_SPINLOCK_INIT;
static rt_ticketlock_t tlock;
static rt_barrier_t bar;
static volatile uint64_t counter_spin, counter_ticket, counter_amo, ran_mask;
static volatile uint64_t phase_seen[RT_MAX_HARTS];
static volatile uint64_t phase_errors;

static void check_fmt(int n, const char *want, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	va_start(ap, fmt);
	rt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (strcmp(buf, want)) {
		rt_printf("FAIL check %d: format \"%s\" gave \"%s\", want \"%s\"\n", n, fmt, buf, want);
		rt_exit(n);
	}
}

static void worker(void *arg)
{
	unsigned me = rt_hartid();
	(void)arg;
	rt_fetch_add64(&ran_mask, 1UL << me);
	for (int i = 0; i < ITERS; i++) {
		rt_spin_lock(&lock);
		counter_spin = counter_spin + 1;
		rt_spin_unlock(&lock);
		rt_ticket_lock(&tlock);
		counter_ticket = counter_ticket + 1;
		rt_ticket_unlock(&tlock);
		rt_fetch_add64(&counter_amo, 1);
	}
	/* phases: nobody may enter phase p+1 before everyone finished phase p */
	for (uint64_t p = 1; p <= 50; p++) {
		phase_seen[me] = p;
		rt_barrier_wait(&bar);
		for (unsigned h = 0; h < rt_nharts(); h++)
			if (phase_seen[h] < p)
				rt_fetch_add64(&phase_errors, 1);
		rt_barrier_wait(&bar);
	}
}

int main(void)
{
	unsigned n = rt_nharts();
	rt_printf("rt_selftest: %u harts, boot hart %u, heap %lu KiB free\n", n, rt_boot_hart(),
		  (unsigned long)(rt_heap_free() >> 10));

	check_fmt(1, "42 -7 ff FF 0x1f", "%d %i %x %X %p", 42, -7, 255, 255, (void *)0x1f);
	check_fmt(2, "[   12][12   ][00012]", "[%5d][%-5d][%05d]", 12, 12, 12);
	check_fmt(3, "18446744073709551615 -9223372036854775808", "%lu %ld", ~0UL, (long)(1UL << 63));
	check_fmt(4, "[ab   ][  abc][abc]", "[%-5.2s][%5s][%s]", "abc", "abc", "abc");
	check_fmt(5, "c% 777", "%c%% %o", 'c', 511);

	/* allocator: distinct, aligned, reusable */
	void *a = rt_malloc(100), *b = rt_malloc(100), *c = rt_calloc(10, 1000);
	CHECK(6, a && b && c && a != b);
	CHECK(7, !((uintptr_t)a & 15) && !((uintptr_t)c & 15));
	for (int i = 0; i < 10000; i++)
		CHECK(8, ((uint8_t *)c)[i] == 0);
	memset(a, 0xaa, 100);
	memset(b, 0x55, 100);
	CHECK(9, ((uint8_t *)a)[99] == 0xaa && ((uint8_t *)b)[0] == 0x55);
	rt_free(a);
	void *d = rt_malloc(90);
	CHECK(10, d == a);
	rt_free(b);
	rt_free(c);
	rt_free(d);

	/* counters move forward */
	uint64_t c0 = rt_rdcycle(), i0 = rt_rdinstret(), t0 = rt_rdtime();
	rt_delay_ticks(100);
	CHECK(11, rt_rdcycle() > c0 && rt_rdinstret() > i0 && rt_rdtime() >= t0 + 100);

	/* a caught trap is recorded and skipped */
	rt_catch_begin();
	__asm__ volatile("ebreak");
	struct rt_caught t = rt_catch_end();
	CHECK_EQ(12, t.n, 1);
	CHECK_EQ(13, t.cause, EXC_BREAKPOINT);

	rt_barrier_init(&bar, n);
	rt_run_on_all(worker, NULL);
	CHECK_EQ(14, ran_mask, n >= 64 ? ~0UL : (1UL << n) - 1);
	CHECK_EQ(15, counter_spin, (uint64_t)n * ITERS);
	CHECK_EQ(16, counter_ticket, (uint64_t)n * ITERS);
	CHECK_EQ(17, counter_amo, (uint64_t)n * ITERS);
	CHECK_EQ(18, phase_errors, 0);

	/* a second round, on 1 hart only */
	ran_mask = 0;
	rt_barrier_init(&bar, 1);
	rt_run_on_harts(1, worker, NULL);
	CHECK_EQ(19, ran_mask, 1);
	rt_printf("rt_selftest: ok\n");
	return 0;
}
