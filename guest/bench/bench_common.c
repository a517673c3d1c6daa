/* bench_common.c: CRC-32, timing and the report line (see bench.h). */
#include "bench.h"

static uint32_t crc_table[256];

uint32_t bench_crc32(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;
	if (!crc_table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			crc_table[i] = c;
		}
	}
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

void bench_start(struct bench_run *b, const char *name)
{
	b->name = name;
	b->time0 = rt_rdtime();
	b->cycle0 = rt_rdcycle();
	b->instret0 = rt_rdinstret();
}

int bench_finish(struct bench_run *b, long size, uint64_t checksum, int self_ok, uint64_t want)
{
	uint64_t instret = rt_rdinstret() - b->instret0;
	uint64_t cycles = rt_rdcycle() - b->cycle0;
	uint64_t ticks = rt_rdtime() - b->time0;
	int ok = self_ok && (!want || checksum == want);
	rt_printf("BENCH name=%s size=%ld checksum=0x%lx instret=%lu cycles=%lu ticks=%lu result=%s\n",
		  b->name, size, (unsigned long)checksum, (unsigned long)instret, (unsigned long)cycles,
		  (unsigned long)ticks, ok ? "ok" : "FAIL");
	if (!self_ok)
		rt_printf("%s: the kernel's own check failed\n", b->name);
	else if (want && checksum != want)
		rt_printf("%s: checksum 0x%lx, recorded 0x%lx\n", b->name, (unsigned long)checksum,
			  (unsigned long)want);
	return ok ? 0 : 1;
}
