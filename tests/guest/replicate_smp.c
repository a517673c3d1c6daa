/*
 * replicate_smp: read-shared pages get replicas and a write collapses them
 * (a VM spanning nodes with the NUMA policy replicating; under one node or
 * QEMU it checks the same things with nothing replicated).
 * A table of 48 pages, zeroed and filled by hart 0, is read by every hart
 * over and over (read phases: replicas are worth making), then each hart
 * adds 1 to its share of it (write phases: every replica must go before a
 * write is visible), several times over.
 *  1     in a read phase every hart sees every word the last write phase left;
 *  2     the sums every hart computes agree with the expected ones;
 *  3     after the last write phase, every word holds its final value.
 */
#include "rt.h"

#define PAGES	48
#define WORDS	512
#define PHASES	6
#define READS	12

static volatile uint64_t table[PAGES][WORDS] __attribute__((aligned(4096)));
static volatile uint64_t stale, badsum;
static rt_barrier_t bar;

static void worker(void *arg)
{
	unsigned me = rt_hartid(), n = rt_nharts();
	(void)arg;

	for (unsigned ph = 0; ph < PHASES; ph++) {
		/* read phase: the table holds p * WORDS + j + ph everywhere */
		for (unsigned r = 0; r < READS; r++) {
			uint64_t sum = 0;
			for (unsigned p = 0; p < PAGES; p++)
				for (unsigned j = 0; j < WORDS; j += 4) {
					uint64_t v = table[p][j];
					if (v != (uint64_t)p * WORDS + j + ph)
						rt_fetch_add64(&stale, 1);
					sum += v;
				}
			uint64_t want = 0;
			for (unsigned p = 0; p < PAGES; p++)
				for (unsigned j = 0; j < WORDS; j += 4)
					want += (uint64_t)p * WORDS + j + ph;
			if (sum != want)
				rt_fetch_add64(&badsum, 1);
		}
		rt_barrier_wait(&bar);
		/* write phase: each hart adds 1 to its pages */
		for (unsigned p = me; p < PAGES; p += n)
			for (unsigned j = 0; j < WORDS; j++)
				table[p][j] = table[p][j] + 1;
		rt_barrier_wait(&bar);
	}
}

int main(void)
{
	unsigned n = rt_nharts();

	for (unsigned p = 0; p < PAGES; p++)
		for (unsigned j = 0; j < WORDS; j++)
			table[p][j] = (uint64_t)p * WORDS + j;
	rt_printf("replicate_smp: %u harts, %u pages, %u phases\n", n, PAGES, PHASES);
	rt_barrier_init(&bar, n);
	rt_run_on_all(worker, NULL);
	CHECK_EQ(1, stale, 0);
	CHECK_EQ(2, badsum, 0);
	for (unsigned p = 0; p < PAGES; p++)
		for (unsigned j = 0; j < WORDS; j++)
			CHECK_EQ(3, table[p][j], (uint64_t)p * WORDS + j + PHASES);
	rt_printf("replicate_smp: ok\n");
	return 0;
}
