/*
 * bench.h: shared pieces of the CPU benchmark kernels run by `disco bench
 * cpu` (and on QEMU for reference). Each kernel is integer-only and
 * deterministic: the same input gives the same checksum on any machine, so
 * a kernel checks its own work and compares the checksum with the value
 * recorded for the default size.
 *
 * Output, one line the launcher can parse:
 *   BENCH name=NAME size=N checksum=0xHEX instret=N cycles=N ticks=N result=ok|FAIL
 * Exit status 0 when the kernel's own checks and the checksum agree.
 * Parameters come from /chosen/bootargs: "scale=N" multiplies the work
 * (the recorded checksum applies to scale=1 only).
 */
#ifndef BENCH_H
#define BENCH_H
#include "rt.h"

struct bench_rng { uint64_t s; };
static inline uint64_t bench_next(struct bench_rng *r)
{
	/* xorshift64* */
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

uint32_t bench_crc32(uint32_t crc, const void *p, size_t n);

struct bench_run {
	const char *name;
	uint64_t instret0, cycle0, time0;
};
void bench_start(struct bench_run *b, const char *name);
/* Prints the BENCH line; returns the exit status. */
int bench_finish(struct bench_run *b, long size, uint64_t checksum, int self_ok, uint64_t want);
#endif
