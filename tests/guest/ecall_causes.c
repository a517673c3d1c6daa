/*
 * ecall_causes: ECALL from M, S and U raises cause 11, 9, 8 at M with
 * mepc = the ECALL's address, mtval = 0 and mstatus.MPP = the caller's mode;
 * EBREAK and C.EBREAK raise cause 3 (mtval = 0 or the pc, both allowed).
 * With medeleg[8] set, ECALL from U goes to S (scause 8, sstatus.SPP = 0),
 * with medeleg[9] set ECALL from S goes to S (SPP = 1); ECALL from M is
 * never delegated, even with medeleg[11] set.
 */
#include "rt.h"

void do_ecall(void);
void do_ebreak(void);
void do_cebreak(void);
extern char ecall_site[], ebreak_site[], cebreak_site[];
__asm__(".text\n.balign 4\n"
	".globl do_ecall\ndo_ecall:\n li a7, 0\n.globl ecall_site\necall_site: ecall\n ret\n"
	".globl do_ebreak\ndo_ebreak:\n.option push\n.option norvc\n.globl ebreak_site\nebreak_site: ebreak\n.option pop\n ret\n"
	".globl do_cebreak\ndo_cebreak:\n.option push\n.option rvc\n.globl cebreak_site\ncebreak_site: c.ebreak\n.option pop\n ret\n");

static long call(long fn)
{
	((void (*)(void))fn)();
	return 0;
}

static struct rt_caught run(int mode, void (*fn)(void))
{
	rt_catch_begin();
	if (mode == PRV_M)
		fn();
	else
		rt_run_in_mode(mode, call, (long)fn);
	return rt_catch_end();
}

int main(void)
{
	struct rt_caught t;
	static const struct { int mode; uint64_t cause; int base; } cases[] = {
		{ PRV_M, EXC_ECALL_M, 10 }, { PRV_S, EXC_ECALL_S, 20 }, { PRV_U, EXC_ECALL_U, 30 },
	};

	rt_csr_write(medeleg, 0);
	rt_csr_write(stvec, (uintptr_t)rt_strap_entry);
	for (unsigned i = 0; i < 3; i++) {
		t = run(cases[i].mode, do_ecall);
		CHECK_EQ(cases[i].base + 0, t.n, 1);
		CHECK_EQ(cases[i].base + 1, t.cause, cases[i].cause);
		CHECK_EQ(cases[i].base + 2, t.epc, (uintptr_t)ecall_site);
		CHECK_EQ(cases[i].base + 3, t.tval, 0);
		CHECK_EQ(cases[i].base + 4, t.level, PRV_M);
		CHECK_EQ(cases[i].base + 5, (t.status & MSTATUS_MPP) >> 11, cases[i].mode);
	}

	for (int mode = PRV_U; mode <= PRV_M; mode++) {
		if (mode == 2)
			continue;
		t = run(mode, do_ebreak);
		CHECK_EQ(40 + mode, t.n, 1);
		CHECK_EQ(44 + mode, t.cause, EXC_BREAKPOINT);
		CHECK_EQ(48 + mode, t.epc, (uintptr_t)ebreak_site);
		CHECK(52 + mode, t.tval == 0 || t.tval == (uintptr_t)ebreak_site);
		t = run(mode, do_cebreak);
		CHECK_EQ(56 + mode, t.n, 1);
		CHECK_EQ(60 + mode, t.cause, EXC_BREAKPOINT);
		CHECK_EQ(64 + mode, t.epc, (uintptr_t)cebreak_site);
		CHECK(68 + mode, t.tval == 0 || t.tval == (uintptr_t)cebreak_site);
	}

	/* delegation */
	rt_csr_write(medeleg, ~0UL);
	uint64_t deleg = rt_csr_read(medeleg);
	/* "should be read-only zero" in the spec; QEMU 7.2 lets it be set */
	if (deleg & (1UL << EXC_ECALL_M))
		rt_printf("note: medeleg[11] is writable here (harmless: M traps stay in M)\n");
	CHECK(81, deleg & (1UL << EXC_ECALL_U));
	rt_csr_write(medeleg, (1UL << EXC_ECALL_U) | (1UL << EXC_ECALL_S) | (1UL << EXC_ECALL_M));

	t = run(PRV_U, do_ecall);
	CHECK_EQ(82, t.n, 1);
	CHECK_EQ(83, t.level, PRV_S);
	CHECK_EQ(84, t.cause, EXC_ECALL_U);
	CHECK_EQ(85, t.epc, (uintptr_t)ecall_site);
	CHECK_EQ(86, t.status & MSTATUS_SPP, 0);

	if (deleg & (1UL << EXC_ECALL_S)) {
		t = run(PRV_S, do_ecall);
		CHECK_EQ(87, t.n, 1);
		CHECK_EQ(88, t.level, PRV_S);
		CHECK_EQ(89, t.cause, EXC_ECALL_S);
		CHECK(90, t.status & MSTATUS_SPP);
	} else {
		rt_printf("note: medeleg[9] (ecall from S) is not delegable here\n");
	}

	t = run(PRV_M, do_ecall);
	CHECK_EQ(91, t.level, PRV_M);
	CHECK_EQ(92, t.cause, EXC_ECALL_M);
	rt_csr_write(medeleg, 0);
	rt_printf("ecall_causes: ok\n");
	return 0;
}
