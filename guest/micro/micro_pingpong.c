/*
 * micro_pingpong: one line handed back and forth between two harts, the
 * cost of a coherence round trip (a migratory line: each write needs the
 * line exclusive, taking it from the other side).
 *
 * Hart 0 and the peer hart (default the last one) share one counter in a
 * line of its own. Hart 0 waits for an even value and writes the next odd
 * one, the peer waits for odd and writes the next even one, `rounds` times
 * each; one round is a full round trip of the line.
 *
 * Check: the counter ends at 2 x rounds, and each side saw exactly the
 * values it waited for (it counts its turns).
 * Parameters: rounds (2000), peer (last hart). Exit: 1 one hart only,
 * 2 wrong final value, 3 wrong turn count.
 */
#include "micro.h"

struct pp {
	volatile uint64_t *line;
	long rounds;
	unsigned peer;
	uint64_t turns[2];
	uint64_t ticks;
};

static void worker(void *arg)
{
	struct pp *p = arg;
	unsigned me = rt_hartid();
	if (me != 0 && me != p->peer)
		return;
	uint64_t parity = me == 0 ? 0 : 1, turns = 0, t0 = rt_rdtime();
	for (long i = 0; i < p->rounds; i++) {
		uint64_t want = 2 * (uint64_t)i + parity;
		while (*p->line != want)
			;
		*p->line = want + 1;
		turns++;
	}
	if (me == 0) {
		while (*p->line != 2 * (uint64_t)p->rounds)   /* the peer's last write */
			;
		p->ticks = rt_rdtime() - t0;
	}
	p->turns[me == 0 ? 0 : 1] = turns;
}

int main(void)
{
	struct pp p;
	p.rounds = rt_bootarg_long("rounds", 2000);
	p.peer = micro_peer();
	CHECK(1, rt_nharts() >= 2);
	if (p.rounds < 1)
		rt_panic("micro_pingpong: bad rounds\n");
	p.line = micro_alloc(4096, 4096);     /* alone in its line (any line size) and page */
	*p.line = 0;
	rt_run_on_all(worker, &p);
	CHECK_EQ(2, *p.line, 2 * (uint64_t)p.rounds);
	CHECK(3, p.turns[0] == (uint64_t)p.rounds && p.turns[1] == (uint64_t)p.rounds);
	char ns[32];
	rt_printf("MICRO name=pingpong case=harts0-%u rounds=%ld ops=%ld ticks=%lu ns_per_op=%s result=ok\n",
		  p.peer, p.rounds, p.rounds, (unsigned long)p.ticks, micro_ns(ns, sizeof(ns), p.ticks, p.rounds));
	return 0;
}
