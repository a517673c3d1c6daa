/*
 * misaligned: misaligned loads and stores of every size at every offset
 * work (the monitor emulates them if the hart does not) with the right
 * little-endian value and sign extension, leave neighbouring bytes alone,
 * and also work across a 4 KiB page boundary, in M, S and U mode.
 * Exit codes: 1-6 loads, 7-8 stores, 9 page crossing; +20 in S, +40 in U.
 */
#include "rt.h"

static uint8_t buf[3 * 4096] __attribute__((aligned(4096)));

#define LOAD(insn, p) ({ uint64_t __v; __asm__ volatile(insn " %0, 0(%1)" : "=r"(__v) : "r"(p) : "memory"); __v; })
#define STORE(insn, p, v) __asm__ volatile(insn " %1, 0(%0)" :: "r"(p), "r"(v) : "memory")

static uint64_t le(const uint8_t *p, int n, int sign)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	if (sign && n < 8 && (v >> (8 * n - 1)) & 1)
		v |= ~0UL << (8 * n);
	return v;
}

static long check_all(long base)
{
	uint8_t *b = buf + 64;
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(0x81 + 7 * i);
	for (int off = 0; off < 8; off++) {
		uint8_t *p = b + off;
		CHECK_EQ(base + 1, LOAD("lh", p), le(p, 2, 1));
		CHECK_EQ(base + 2, LOAD("lhu", p), le(p, 2, 0));
		CHECK_EQ(base + 3, LOAD("lw", p), le(p, 4, 1));
		CHECK_EQ(base + 4, LOAD("lwu", p), le(p, 4, 0));
		CHECK_EQ(base + 5, LOAD("ld", p), le(p, 8, 0));
	}
	for (int off = 0; off < 8; off++) {
		uint8_t ref[32];
		uint8_t *p = b + off;
		static const struct { const char *name; int n; } st[] = { { "sh", 2 }, { "sw", 4 }, { "sd", 8 } };
		for (unsigned k = 0; k < 3; k++) {
			uint64_t v = 0x0102030405060708ULL * (off + 1) + k;
			memset(b, 0xee, 32);
			memset(ref, 0xee, 32);
			for (int i = 0; i < st[k].n; i++)
				ref[off + i] = (uint8_t)(v >> (8 * i));
			if (k == 0)
				STORE("sh", p, v);
			else if (k == 1)
				STORE("sw", p, v);
			else
				STORE("sd", p, v);
			if (memcmp(b, ref, 32)) {
				rt_printf("FAIL check %ld: %s at offset %d\n", base + 7, st[k].name, off);
				rt_exit(base + 7);
			}
		}
		(void)p;
	}
	/* across the page boundary between buf[0..4095] and buf[4096..] */
	uint8_t *edge = buf + 4096;
	for (int off = 1; off < 8; off++) {
		uint8_t *p = edge - off;
		STORE("sd", p, 0x1122334455667788ULL + off);
		CHECK_EQ(base + 9, LOAD("ld", p), 0x1122334455667788ULL + off);
		CHECK_EQ(base + 9, le(p, 8, 0), 0x1122334455667788ULL + off);
		CHECK_EQ(base + 9, LOAD("lw", edge - 2), le(edge - 2, 4, 1));
	}
	return 0;
}

int main(void)
{
	check_all(0);
	rt_printf("misaligned: M mode ok\n");
	rt_csr_write(satp, 0);
	rt_run_in_mode(PRV_S, check_all, 20);
	rt_printf("misaligned: S mode ok\n");
	rt_run_in_mode(PRV_U, check_all, 40);
	rt_printf("misaligned: U mode ok\n");
	return 0;
}
