/*
 * isa_rvc: the compressed instructions compute what their 32-bit
 * expansions do (immediate sign extension of C.LI/C.LUI/C.ADDI/C.ANDI,
 * C.SLLI/C.SRLI/C.SRAI with 6-bit shifts, C.ADDIW/C.ADDW/C.SUBW sign
 * extension, SP-relative and register-relative loads and stores with
 * C.LW sign extension, C.ADDI4SPN/C.ADDI16SP, branches, C.J, C.JALR's link
 * = pc + 2, C.JR) and C.EBREAK traps with a 2-byte epc step.
 * Exit code = 1 + index of the wrong result, 30+ for C.EBREAK.
 */
#include "rt.h"

void rvc_run(uint64_t *out);

static const uint64_t want[21] = {
	0xffffffffffffffe0ULL, 0xfffffffffffff000ULL, 0xf000000000000000ULL, 0xf, 16, 32, 17, 1, 15, 0,
	0xffffffff80000000ULL, 0, 0xffffffff80000001ULL, 0, 0xf000000000000000ULL,
	0xffffffff80000000ULL, 0xffffffff80000000ULL, 0xf000000000000000ULL, 10, 0,
	0xffffffffffffffffULL,
};

int main(void)
{
	uint64_t out[21];

	memset(out, 0x5a, sizeof(out));
	rvc_run(out);
	for (int i = 0; i < 21; i++) {
		if (out[i] != want[i]) {
			rt_printf("FAIL check %d: rvc result %d = 0x%lx, want 0x%lx\n", i + 1, i,
				  (unsigned long)out[i], (unsigned long)want[i]);
			rt_exit(i + 1);
		}
	}
	uint64_t pc;
	rt_catch_begin();
	__asm__ volatile(".option push\n.option rvc\nla %0, 1f\n1: c.ebreak\n.option pop" : "=r"(pc));
	struct rt_caught t = rt_catch_end();
	CHECK_EQ(30, t.n, 1);
	CHECK_EQ(31, t.cause, EXC_BREAKPOINT);
	CHECK_EQ(32, t.epc, pc);
	CHECK_EQ(33, rt_insn_len(pc), 2);
	rt_printf("isa_rvc: ok\n");
	return 0;
}
