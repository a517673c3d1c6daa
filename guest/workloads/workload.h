/*
 * workload.h: the report line of the scaling workloads.
 *
 *   WORKLOAD name=NAME harts=H size=N steps=S ticks=T instret=I checksum=0xC result=ok|FAIL
 *
 * ticks is mtime (10 MHz on virt) spent in the parallel part only; instret
 * is hart 0's. Parameters come from /chosen/bootargs ("n=", "steps=",
 * "harts="; harts=0 or absent means every hart that checked in).
 */
#ifndef WORKLOAD_H
#define WORKLOAD_H
#include "rt.h"

static inline unsigned workload_harts(void)
{
	long h = rt_bootarg_long("harts", 0);
	if (h <= 0 || h > (long)rt_nharts())
		h = rt_nharts();
	return (unsigned)h;
}

static inline int workload_report(const char *name, unsigned harts, long size, long steps,
				  uint64_t ticks, uint64_t instret, uint64_t checksum, int ok)
{
	rt_printf("WORKLOAD name=%s harts=%u size=%ld steps=%ld ticks=%lu instret=%lu checksum=0x%lx result=%s\n",
		  name, harts, size, steps, (unsigned long)ticks, (unsigned long)instret,
		  (unsigned long)checksum, ok ? "ok" : "FAIL");
	return ok ? 0 : 1;
}
#endif
