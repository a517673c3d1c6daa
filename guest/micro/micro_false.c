/*
 * micro_false: false sharing. Hart 0 and the peer hart (default the last
 * one) each increment their own counter `iters` times with plain loads and
 * stores:
 *   case=same  the two counters are neighbouring doublewords of one line,
 *              so every write takes the line from the other hart (the data
 *              is private, the line is write-shared);
 *   case=apart the counters are `gap` bytes apart (default 4096: another
 *              line at every line size disco allows, and another page).
 * Both harts start together (a barrier) and the time is the slower hart's.
 *
 * Check: each counter ends at iters and the neighbouring words are intact.
 * Parameters: iters (20000), gap (4096, a multiple of 8), peer (last hart).
 * Exit: 1 one hart only, 2/3 case same wrong, 4/5 case apart wrong.
 */
#include "micro.h"

struct fs {
	volatile uint64_t *a, *b;
	long iters;
	unsigned peer;
	uint64_t ticks[2];
	rt_barrier_t bar;
};

static void worker(void *arg)
{
	struct fs *f = arg;
	unsigned me = rt_hartid();
	if (me != 0 && me != f->peer)
		return;
	volatile uint64_t *c = me == 0 ? f->a : f->b;
	rt_barrier_wait(&f->bar);
	uint64_t t0 = rt_rdtime();
	for (long i = 0; i < f->iters; i++)
		*c = *c + 1;
	f->ticks[me == 0 ? 0 : 1] = rt_rdtime() - t0;
}

static uint64_t run(struct fs *f, const char *name, size_t gap, int check)
{
	uint8_t *base = micro_alloc(gap + 64, 4096);
	memset(base, 0x5a, gap + 64);
	f->a = (volatile uint64_t *)base;
	f->b = (volatile uint64_t *)(base + gap);
	*f->a = *f->b = 0;
	rt_barrier_init(&f->bar, 2);
	rt_run_on_all(worker, f);
	CHECK(check, *f->a == (uint64_t)f->iters && *f->b == (uint64_t)f->iters);
	CHECK(check + 1, base[gap + 8] == 0x5a && base[gap + 63] == 0x5a && (gap == 8 || base[8] == 0x5a));
	uint64_t t = f->ticks[0] > f->ticks[1] ? f->ticks[0] : f->ticks[1];
	char ns[32];
	rt_printf("MICRO name=false_sharing case=%s gap=%lu harts=0,%u iters=%ld ops=%ld ticks=%lu ns_per_op=%s result=ok\n",
		  name, (unsigned long)gap, f->peer, f->iters, f->iters, (unsigned long)t,
		  micro_ns(ns, sizeof(ns), t, f->iters));
	return t;
}

int main(void)
{
	struct fs f;
	f.iters = rt_bootarg_long("iters", 20000);
	long gap = rt_bootarg_long("gap", 4096);
	f.peer = micro_peer();
	CHECK(1, rt_nharts() >= 2);
	if (f.iters < 1 || gap < 16 || gap % 8)
		rt_panic("micro_false: bad parameters (iters=%ld gap=%ld)\n", f.iters, gap);
	uint64_t same = run(&f, "same", 8, 2);
	uint64_t apart = run(&f, "apart", (size_t)gap, 4);
	rt_printf("micro_false: same line / apart = %lu%%\n", (unsigned long)(apart ? same * 100 / apart : 0));
	return 0;
}
