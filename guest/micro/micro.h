/*
 * micro.h: what the memory-path microbenchmarks share.
 *
 * Each prints one or more lines
 *
 *   MICRO name=NAME case=CASE <parameters> ops=N ticks=T ns_per_op=X.YY result=ok|FAIL
 *
 * ticks are mtime ticks (10 MHz on virt) of the timed loop; ns_per_op is
 * ticks converted with the device tree's timebase, divided by ops. Each
 * checks that it did what it claims (the chase walked one cycle through
 * every element, counters hold the right totals, the lock excluded) and
 * exits with the number of the failing check.
 */
#ifndef MICRO_H
#define MICRO_H
#include "rt.h"

/* "X.YY" nanoseconds per operation into buf. */
static inline const char *micro_ns(char *buf, size_t len, uint64_t ticks, uint64_t ops)
{
	uint64_t hz = rt_timebase_hz() ? rt_timebase_hz() : RT_TIMEBASE_HZ;
	/* hundredths of a ns: ticks * 1e11 / hz / ops, without overflowing for ticks < 1.8e8 */
	uint64_t c = ops ? ticks * 100000ULL / (hz / 1000000ULL ? hz / 1000000ULL : 1) / ops : 0;
	rt_snprintf(buf, len, "%lu.%02lu", (unsigned long)(c / 100), (unsigned long)(c % 100));
	return buf;
}

/* The hart that plays "the other side": bootarg peer=, default the last hart. */
static inline unsigned micro_peer(void)
{
	long p = rt_bootarg_long("peer", (long)rt_nharts() - 1);
	if (p < 1 || p >= (long)rt_nharts())
		p = rt_nharts() - 1;
	return (unsigned)p;
}

/* An allocation (not zeroed) aligned to `align` (a power of two), never freed. */
static inline void *micro_alloc(size_t n, size_t align)
{
	uint8_t *p = rt_malloc(n + align);
	if (!p)
		rt_panic("micro: out of memory (%lu bytes)\n", (unsigned long)n);
	p = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	return p;
}
#endif
