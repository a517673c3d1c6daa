/*
 * trapseq.h: "every instruction of this sequence must trap" helper for the
 * guest tests.
 *
 * TS_SEQ(name, "insn\n" "insn\n" ...) emits a function `name` made of the
 * given instructions followed by `ret`. ts_expect(code, name, mode, cause)
 * runs it in privilege mode `mode` (PRV_M, PRV_S or PRV_U, the latter two
 * through rt_run_in_mode) with a hook that records every synchronous trap
 * (at M or, if delegated, at S) and skips the instruction. Then, walking the
 * sequence instruction by instruction, it checks that each one trapped once,
 * in order, with the expected cause, epc = its address and tval = its own
 * bits (16 bits for compressed ones). On a mismatch the exit status is
 * code + index of the instruction in the sequence, and the console shows
 * the encoding. ts_expect_none() checks that nothing trapped.
 */
#ifndef TRAPSEQ_H
#define TRAPSEQ_H
#include "rt.h"

#define TS_SEQ(name, body) \
	void name(void); \
	extern char name##_end[]; \
	__asm__(".text\n.balign 4\n.globl " #name "\n" #name ":\n" \
		".option push\n.option norvc\n" body \
		".globl " #name "_end\n" #name "_end:\n" \
		".option pop\nret\n")

#define TS_MAX 128
struct ts_rec {
	uint64_t cause, tval, epc;
	int level;
};
static struct ts_rec ts_log[TS_MAX];
static volatile unsigned ts_n;

static uint32_t ts_bits(uint64_t pc)
{
	/* two halfword reads: a 4-byte instruction may be only 2-aligned */
	uint32_t lo = *(volatile uint16_t *)pc;
	if ((lo & 3) != 3)
		return lo;
	return lo | (uint32_t)*(volatile uint16_t *)(pc + 2) << 16;
}

static int ts_hook(struct rt_frame *f, int level)
{
	if (f->cause & CAUSE_INTR)
		return 0;
	if (level == PRV_M && (f->cause == EXC_ECALL_S || f->cause == EXC_ECALL_U) &&
	    f->x[17] == RT_ECALL_RETURN)
		return 0;
	if (ts_n < TS_MAX) {
		ts_log[ts_n].cause = f->cause;
		ts_log[ts_n].tval = f->tval;
		ts_log[ts_n].epc = f->epc;
		ts_log[ts_n].level = level;
	}
	ts_n++;
	f->epc += rt_insn_len(f->epc);
	return 1;
}

static long ts_call(long fn)
{
	((void (*)(void))fn)();
	return 0;
}

static void ts_run(void (*fn)(void), int mode)
{
	ts_n = 0;
	rt_set_trap_hook(PRV_M, ts_hook);
	rt_set_trap_hook(PRV_S, ts_hook);
	if (mode == PRV_M)
		fn();
	else
		rt_run_in_mode(mode, ts_call, (long)fn);
	rt_set_trap_hook(PRV_M, NULL);
	rt_set_trap_hook(PRV_S, NULL);
}

static void ts_expect(int code, const char *what, void (*fn)(void), uintptr_t end, int mode,
		      uint64_t cause)
{
	ts_run(fn, mode);
	unsigned i = 0;
	for (uint64_t pc = (uintptr_t)fn; pc < end; pc += rt_insn_len(pc), i++) {
		uint32_t bits = ts_bits(pc);
		if (i >= ts_n || ts_log[i].epc != pc) {
			rt_printf("FAIL check %d: %s[%u] 0x%08x at 0x%lx did not trap (in mode %d)\n",
				  code + i, what, i, bits, (unsigned long)pc, mode);
			rt_exit(code + i);
		}
		if (ts_log[i].cause != cause || ts_log[i].tval != bits) {
			rt_printf("FAIL check %d: %s[%u] 0x%08x: cause %lu tval 0x%lx, want cause %lu tval 0x%x\n",
				  code + i, what, i, bits, (unsigned long)ts_log[i].cause,
				  (unsigned long)ts_log[i].tval, (unsigned long)cause, bits);
			rt_exit(code + i);
		}
	}
	if (ts_n != i) {
		rt_printf("FAIL check %d: %s: %u traps for %u instructions\n", code + i, what, ts_n, i);
		rt_exit(code + i);
	}
	rt_printf("  %-28s in %c mode: %2u instructions trapped as expected\n", what, "US?M"[mode & 3], i);
}

static void ts_expect_none(int code, const char *what, void (*fn)(void), int mode)
{
	ts_run(fn, mode);
	if (ts_n) {
		rt_printf("FAIL check %d: %s: unexpected trap cause %lu at 0x%lx tval 0x%lx\n", code, what,
			  (unsigned long)ts_log[0].cause, (unsigned long)ts_log[0].epc,
			  (unsigned long)ts_log[0].tval);
		rt_exit(code);
	}
	rt_printf("  %-28s in %c mode: ran without traps\n", what, "US?M"[mode & 3]);
}

#define TS_EXPECT(code, name, mode, cause) ts_expect(code, #name, name, (uintptr_t)name##_end, mode, cause)
#define TS_EXPECT_NONE(code, name, mode) ts_expect_none(code, #name, name, mode)

#endif
