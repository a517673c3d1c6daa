/*
 * micro_lock: a contended lock. N harts (default all) each take the lock
 * `iters` times around a short critical section (check nobody is inside,
 * claim it, bump a counter in the lock's line and one in another line,
 * release), first with the runtime's test-and-set spin lock (AMOSWAP), then
 * with its ticket lock (AMOADD, FIFO). A one-hart run of each gives the
 * uncontended cost. The lock's line is migratory under contention.
 *
 * Check: the counters end at N x iters and the in-section flag was never
 * found set on entry (mutual exclusion).
 * Parameters: iters (500 per hart), harts (all).
 * Exit: 1 + 2k / 2 + 2k: lock k's count / exclusion wrong (k = 0 spin
 * uncontended, 1 spin, 2 ticket uncontended, 3 ticket).
 */
#include "micro.h"
#include "../workloads/workload.h"

struct lk {
	int ticket;
	long iters;
	/* the lock and what it guards, one line; a second counter a page away */
	struct {
		rt_spinlock_t spin;
		rt_ticketlock_t ticket;
		volatile uint64_t inside, count;
	} *l;
	volatile uint64_t *far;
	volatile uint64_t violations;
	uint64_t t0[RT_MAX_HARTS], t1[RT_MAX_HARTS];
	rt_barrier_t bar;
};

static void worker(void *arg)
{
	struct lk *k = arg;
	unsigned me = rt_hartid();
	rt_barrier_wait(&k->bar);
	k->t0[me] = rt_rdtime();
	for (long i = 0; i < k->iters; i++) {
		if (k->ticket)
			rt_ticket_lock(&k->l->ticket);
		else
			rt_spin_lock(&k->l->spin);
		if (k->l->inside)
			k->violations++;
		k->l->inside = 1;
		k->l->count++;
		*k->far += 1;
		k->l->inside = 0;
		if (k->ticket)
			rt_ticket_unlock(&k->l->ticket);
		else
			rt_spin_unlock(&k->l->spin);
	}
	k->t1[me] = rt_rdtime();
}

static void run(struct lk *k, int ticket, unsigned harts, int idx)
{
	memset((void *)k->l, 0, sizeof(*k->l));
	*k->far = 0;
	k->violations = 0;
	k->ticket = ticket;
	rt_barrier_init(&k->bar, harts);
	rt_run_on_harts(harts, worker, k);
	uint64_t first = k->t0[0], last = k->t1[0];   /* from the first start to the last finish */
	for (unsigned h = 1; h < harts; h++) {
		if (k->t0[h] < first)
			first = k->t0[h];
		if (k->t1[h] > last)
			last = k->t1[h];
	}
	uint64_t t = last - first;
	uint64_t ops = (uint64_t)harts * k->iters;
	CHECK_EQ(1 + 2 * idx, k->l->count, ops);
	CHECK_EQ(1 + 2 * idx, *k->far, ops);
	CHECK_EQ(2 + 2 * idx, k->violations, 0);
	char ns[32];
	rt_printf("MICRO name=lock case=%s harts=%u iters=%ld ops=%lu ticks=%lu ns_per_op=%s result=ok\n",
		  ticket ? "ticket" : "spin", harts, k->iters, (unsigned long)ops, (unsigned long)t,
		  micro_ns(ns, sizeof(ns), t, ops));
}

int main(void)
{
	struct lk k;
	k.iters = rt_bootarg_long("iters", 500);
	unsigned harts = workload_harts();
	if (k.iters < 1)
		rt_panic("micro_lock: bad iters\n");
	k.l = micro_alloc(4096, 4096);
	k.far = micro_alloc(4096, 4096);
	run(&k, 0, 1, 0);
	run(&k, 0, harts, 1);
	run(&k, 1, 1, 2);
	run(&k, 1, harts, 3);
	return 0;
}
