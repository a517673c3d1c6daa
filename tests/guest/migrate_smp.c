/*
 * migrate_smp: pages move between nodes under the harts' feet (a VM
 * spanning nodes with the NUMA policy on; under one node or QEMU it checks
 * the same things with nothing moving).
 * Hart 0 zeroes the data (so on a spanning VM every page starts on hart
 * 0's node); page p is then written only by hart p mod n, which makes the
 * pages of harts on other nodes candidates for migration to them, while
 * hart 0 keeps reading every page.
 *  1     every word holds exactly the number of increments its hart made
 *        (no update lost by a move);
 *  2     hart 0 never sees a word go backwards (no stale copy exposed);
 *  3     an AMO counter shared by all harts is exact.
 */
#include "rt.h"

#define PAGES	64
#define WORDS	512		/* a page of doublewords */
#define ROUNDS	60

static volatile uint64_t data[PAGES][WORDS] __attribute__((aligned(4096)));
static volatile uint64_t shared_count, backwards;
static uint64_t last_seen[PAGES][8];	/* hart 0's view of 8 words per page */
static rt_barrier_t bar;

static void worker(void *arg)
{
	unsigned me = rt_hartid(), n = rt_nharts();
	(void)arg;

	for (unsigned r = 1; r <= ROUNDS; r++) {
		for (unsigned p = me; p < PAGES; p += n)
			for (unsigned j = 0; j < WORDS; j++)
				data[p][j] = data[p][j] + 1;
		__asm__ volatile("amoadd.d zero, %1, %0" : "+A"(shared_count) : "r"(1UL) : "memory");
		if (me == 0) {
			for (unsigned p = 0; p < PAGES; p++)
				for (unsigned k = 0; k < 8; k++) {
					uint64_t v = data[p][k * (WORDS / 8)];
					if (v < last_seen[p][k])
						backwards++;
					last_seen[p][k] = v;
				}
		}
	}
	rt_barrier_wait(&bar);
}

int main(void)
{
	unsigned n = rt_nharts();

	for (unsigned p = 0; p < PAGES; p++)
		for (unsigned j = 0; j < WORDS; j++)
			data[p][j] = 0;
	rt_printf("migrate_smp: %u harts, %u pages, %u rounds\n", n, PAGES, ROUNDS);
	rt_barrier_init(&bar, n);
	rt_run_on_all(worker, NULL);
	for (unsigned p = 0; p < PAGES; p++)
		for (unsigned j = 0; j < WORDS; j++)
			CHECK_EQ(1, data[p][j], ROUNDS);
	CHECK_EQ(2, backwards, 0);
	CHECK_EQ(3, shared_count, (uint64_t)n * ROUNDS);
	rt_printf("migrate_smp: ok\n");
	return 0;
}
