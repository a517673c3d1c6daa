/*
 * isa_control: control transfer and instruction-stream coherence.
 *  1-6   BEQ/BNE/BLT/BGE/BLTU/BGEU over signed/unsigned corner pairs;
 *  10-11 JAL links pc + 4; JALR clears bit 0 of the target;
 *  12    JALR with rd == rs1 jumps to the old rs1 and then writes the link;
 *  20-23 self-modifying code: instructions written to memory run after
 *        FENCE.I, rewritten ones run in their new form (also a 16-bit one
 *        replaced by a different 16-bit one, and code on the page that is
 *        being executed), as the decoded-instruction cache must notice.
 */
#include "rt.h"

static const uint64_t vals[] = {
	0, 1, 2, 0x7fffffffffffffffULL, 0x8000000000000000ULL, 0xffffffffffffffffULL,
	0xfffffffffffffffeULL, 0x80000000ULL, 0xffffffff80000000ULL,
};

#define BR(insn, a, b) ({ uint64_t __r; __asm__ volatile( \
	"li %0, 1\n" insn " %1, %2, 1f\n li %0, 0\n1:" : "=&r"(__r) : "r"(a), "r"(b)); __r; })

static uint32_t code[64] __attribute__((aligned(4096)));

typedef long (*fn_t)(void);

static long run_code(void)
{
	__asm__ volatile("fence.i" ::: "memory");
	return ((fn_t)code)();
}

/* addi a0, zero, imm ; ret */
static uint32_t li_a0(int imm) { return ((uint32_t)(imm & 0xfff) << 20) | (10 << 7) | 0x13; }
#define RET 0x00008067u

int main(void)
{
	unsigned n = sizeof(vals) / sizeof(vals[0]);
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < n; j++) {
			uint64_t a = vals[i], b = vals[j];
			CHECK_EQ(1, BR("beq", a, b), a == b);
			CHECK_EQ(2, BR("bne", a, b), a != b);
			CHECK_EQ(3, BR("blt", a, b), (int64_t)a < (int64_t)b);
			CHECK_EQ(4, BR("bge", a, b), (int64_t)a >= (int64_t)b);
			CHECK_EQ(5, BR("bltu", a, b), a < b);
			CHECK_EQ(6, BR("bgeu", a, b), a >= b);
		}

	uint64_t link, at;
	__asm__ volatile(".option push\n.option norvc\n"
			 "la %1, 1f\n jal %0, 2f\n1: nop\n2:\n.option pop" : "=&r"(link), "=&r"(at));
	CHECK_EQ(10, link, at);
	uint64_t target, reached;
	__asm__ volatile("la %0, 1f\n addi %0, %0, 1\n jalr zero, 0(%0)\n li %1, 0\n j 2f\n"
			 ".balign 4\n1: li %1, 1\n2:" : "=&r"(target), "=&r"(reached));
	CHECK_EQ(11, reached, 1);
	uint64_t r, expect_link;
	__asm__ volatile(".option push\n.option norvc\n"
			 "la %0, 1f\n la %1, 2f\n jalr %0, 0(%0)\n2: j 3f\n1: nop\n3:\n.option pop"
			 : "=&r"(r), "=&r"(expect_link));
	CHECK_EQ(12, r, expect_link);

	code[0] = li_a0(1);
	code[1] = RET;
	CHECK_EQ(20, run_code(), 1);
	code[0] = li_a0(2);
	CHECK_EQ(21, run_code(), 2);
	/* 16-bit code: c.li a0, 5 ; c.jr ra, then c.li a0, 9 */
	uint16_t *c16 = (uint16_t *)code;
	c16[0] = 0x4515;
	c16[1] = 0x8082;
	CHECK_EQ(22, run_code(), 5);
	c16[0] = 0x4525;
	CHECK_EQ(22, run_code(), 9);
	/* a longer function rewritten in the middle: the page is being executed */
	for (int i = 0; i < 40; i++)
		code[i] = 0x00150513;   /* addi a0, a0, 1 */
	code[40] = RET;
	code[0] = li_a0(0);
	CHECK_EQ(23, run_code(), 39);
	code[20] = li_a0(100);
	CHECK_EQ(23, run_code(), 119);
	rt_printf("isa_control: ok\n");
	return 0;
}
