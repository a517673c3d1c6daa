/*
 * numa: a mix of the three page-sharing patterns Disco's NUMA policy tells
 * apart, for studies of migration and replication:
 *   - a read-shared table every hart scans each step (replication
 *     candidates);
 *   - one private array per hart, first touched by hart 0 and afterwards
 *     used only by its owner (migration candidates: their home starts on
 *     the wrong node);
 *   - a small write-shared array bumped with AMOs by everybody (pages the
 *     policy must leave alone).
 * Parameters: kib (per-hart private array, default 256), table (read-shared
 * table in KiB, default 256), steps (default 8), harts (default all).
 * Check: every hart's table sums agree with hart 0's serial sum, the private
 * arrays hold the values the update formula gives, the shared counters add
 * up to harts x steps.
 */
#include "workload.h"

#define NCOUNTERS 64

struct numa {
	unsigned harts;
	long steps, priv_words, table_words;
	uint64_t *table;
	uint64_t **priv;
	volatile uint64_t *counters;
	uint64_t table_sum[RT_MAX_HARTS];
	rt_barrier_t bar;
};

static void worker(void *arg)
{
	struct numa *w = arg;
	unsigned me = rt_hartid();
	uint64_t *mine = w->priv[me];
	uint64_t tsum = 0;

	for (long s = 0; s < w->steps; s++) {
		for (long i = 0; i < w->table_words; i++)
			tsum += w->table[i];
		for (long i = 0; i < w->priv_words; i++)
			mine[i] = mine[i] * 3 + (uint64_t)(i ^ s);
		rt_fetch_add64((volatile uint64_t *)&w->counters[(s + me) % NCOUNTERS], 1);
		rt_barrier_wait(&w->bar);
	}
	w->table_sum[me] = tsum;
}

int main(void)
{
	struct numa w;
	w.harts = workload_harts();
	w.steps = rt_bootarg_long("steps", 8);
	w.priv_words = rt_bootarg_long("kib", 256) * 1024 / 8;
	w.table_words = rt_bootarg_long("table", 256) * 1024 / 8;
	w.table = rt_malloc(w.table_words * 8);
	w.priv = rt_malloc(w.harts * sizeof(uint64_t *));
	w.counters = rt_calloc(NCOUNTERS, sizeof(uint64_t));
	if (w.steps < 1 || w.priv_words < 1 || w.table_words < 1 || !w.table || !w.priv || !w.counters)
		rt_panic("numa: bad parameters or out of memory\n");
	uint64_t serial = 0;
	for (long i = 0; i < w.table_words; i++) {
		w.table[i] = (uint64_t)i * 0x9E3779B97F4A7C15ULL;
		serial += w.table[i];
	}
	for (unsigned h = 0; h < w.harts; h++) {
		w.priv[h] = rt_malloc(w.priv_words * 8);
		if (!w.priv[h])
			rt_panic("numa: out of memory\n");
		for (long i = 0; i < w.priv_words; i++)   /* first touch by hart 0 */
			w.priv[h][i] = h + i;
	}
	rt_barrier_init(&w.bar, w.harts);

	uint64_t t0 = rt_rdtime(), i0 = rt_rdinstret();
	rt_run_on_harts(w.harts, worker, &w);
	uint64_t ticks = rt_rdtime() - t0, instret = rt_rdinstret() - i0;

	int ok = 1;
	uint64_t ck = 0;
	for (unsigned h = 0; h < w.harts; h++) {
		if (w.table_sum[h] != serial * (uint64_t)w.steps)
			ok = 0;
		for (long i = 0; i < w.priv_words; i++) {
			uint64_t v = h + i;
			for (long s = 0; s < w.steps; s++)
				v = v * 3 + (uint64_t)(i ^ s);
			if (w.priv[h][i] != v)
				ok = 0;
			ck = ck * 31 + v;
		}
	}
	uint64_t total = 0;
	for (int c = 0; c < NCOUNTERS; c++)
		total += w.counters[c];
	if (total != (uint64_t)w.harts * w.steps)
		ok = 0;
	return workload_report("numa", w.harts, w.priv_words * 8 / 1024, w.steps, ticks, instret, ck, ok);
}
