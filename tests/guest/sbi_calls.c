/*
 * sbi_calls: the SBI a supervisor kernel is started by (OpenSBI on QEMU,
 * disco's built-in SBI), exercised from an S-mode program (SMODE, 2 harts).
 *  1-2   base: spec version >= 0.2, implementation id and machine ids;
 *  3-4   probe: TIME, IPI, RFENCE, HSM and SRST present, a made-up
 *        extension absent; an unknown EID returns SBI_ERR_NOT_SUPPORTED;
 *  5-9   TIME: set_timer raises sip.STIP when time passes the deadline (WFI
 *        wakes for it), set_timer(-1) clears it, and with SIE the S timer
 *        interrupt is taken (scause = interrupt | 5);
 *  10-11 IPI: send_ipi to itself raises sip.SSIP, which S can clear;
 *  12-14 HSM: hart_get_status is STARTED (0) for itself and for the other
 *        hart the runtime started, SBI_ERR_INVALID_PARAM for a hart that
 *        does not exist;
 *  15    RFENCE: remote FENCE.I and SFENCE.VMA to all harts succeed.
 */
#include "rt.h"

#define EXT_BASE   0x10
#define EXT_TIME   0x54494D45
#define EXT_IPI    0x735049
#define EXT_RFENCE 0x52464E43
#define EXT_HSM    0x48534D
#define EXT_SRST   0x53525354

struct sbiret { long error, value; };

static struct sbiret sbi(long eid, long fid, long a0, long a1, long a2)
{
	register long r0 __asm__("a0") = a0;
	register long r1 __asm__("a1") = a1;
	register long r2 __asm__("a2") = a2;
	register long r6 __asm__("a6") = fid;
	register long r7 __asm__("a7") = eid;
	__asm__ volatile("ecall" : "+r"(r0), "+r"(r1) : "r"(r2), "r"(r6), "r"(r7) : "memory");
	return (struct sbiret){ r0, r1 };
}

#define STIP (1UL << IRQ_S_TIMER)
#define SSIP (1UL << IRQ_S_SOFT)

static volatile unsigned timer_traps;
static int timer_hook(struct rt_frame *f, int level)
{
	if (f->cause != (CAUSE_INTR | IRQ_S_TIMER))
		return 0;
	timer_traps++;
	sbi(EXT_TIME, 0, -1, 0, 0);
	return 1;
}

static int wait_sip(uint64_t bit, int want)
{
	uint64_t t0 = rt_rdtime();
	while (!!(rt_csr_read(sip) & bit) != want)
		if (rt_rdtime() - t0 > rt_timebase_hz())
			return 0;
	return 1;
}

int main(void)
{
	struct sbiret r = sbi(EXT_BASE, 0, 0, 0, 0);
	CHECK_EQ(1, r.error, 0);
	CHECK(1, r.value >= 2);
	rt_printf("  SBI spec version %ld.%ld, ", (r.value >> 24) & 0x7f, r.value & 0xffffff);
	r = sbi(EXT_BASE, 1, 0, 0, 0);
	CHECK_EQ(2, r.error, 0);
	rt_printf("implementation %ld\n", r.value);
	for (long fid = 4; fid <= 6; fid++)
		CHECK_EQ(2, sbi(EXT_BASE, fid, 0, 0, 0).error, 0);

	static const long exts[] = { EXT_TIME, EXT_IPI, EXT_RFENCE, EXT_HSM, EXT_SRST };
	for (unsigned i = 0; i < 5; i++) {
		r = sbi(EXT_BASE, 3, exts[i], 0, 0);
		if (r.error || !r.value)
			rt_printf("FAIL check 3: extension 0x%lx not present\n", exts[i]);
		CHECK(3, !r.error && r.value);
	}
	r = sbi(EXT_BASE, 3, 0x0abcdef0, 0, 0);
	CHECK(4, !r.error && !r.value);
	CHECK_EQ(4, sbi(0x0abcdef0, 0, 0, 0, 0).error, -2);

	/* TIME */
	rt_csr_write(sie, STIP);
	rt_csr_clear(sstatus, MSTATUS_SIE);
	uint64_t target = rt_rdtime() + rt_timebase_hz() / 200;
	CHECK_EQ(5, sbi(EXT_TIME, 0, (long)target, 0, 0).error, 0);
	uint64_t t0 = rt_rdtime();
	while (!(rt_csr_read(sip) & STIP)) {
		__asm__ volatile("wfi");
		CHECK(6, rt_rdtime() - t0 < 10 * rt_timebase_hz());
	}
	CHECK(7, rt_rdtime() >= target);
	sbi(EXT_TIME, 0, -1, 0, 0);
	CHECK(8, wait_sip(STIP, 0));
	rt_set_trap_hook(PRV_S, timer_hook);
	sbi(EXT_TIME, 0, (long)rt_rdtime(), 0, 0);
	rt_csr_set(sstatus, MSTATUS_SIE);
	t0 = rt_rdtime();
	while (!timer_traps && rt_rdtime() - t0 < rt_timebase_hz())
		;
	rt_csr_clear(sstatus, MSTATUS_SIE);
	rt_set_trap_hook(PRV_S, NULL);
	CHECK_EQ(9, timer_traps, 1);
	rt_csr_write(sie, 0);
	rt_printf("  TIME ok\n");

	/* IPI to myself */
	unsigned me = rt_hartid();
	CHECK_EQ(10, sbi(EXT_IPI, 0, 1, me, 0).error, 0);
	CHECK(10, wait_sip(SSIP, 1));
	rt_csr_clear(sip, SSIP);
	CHECK(11, wait_sip(SSIP, 0));
	rt_printf("  IPI ok\n");

	/* HSM */
	r = sbi(EXT_HSM, 2, me, 0, 0);
	CHECK(12, !r.error && r.value == 0);
	if (rt_nharts() > 1) {
		r = sbi(EXT_HSM, 2, me == 0 ? 1 : 0, 0, 0);
		CHECK(13, !r.error && r.value == 0);
	}
	r = sbi(EXT_HSM, 2, 1000, 0, 0);
	CHECK_EQ(14, r.error, -3);
	rt_printf("  HSM ok\n");

	/* RFENCE to every hart (mask base -1 = all) */
	CHECK_EQ(15, sbi(EXT_RFENCE, 0, 0, -1, 0).error, 0);
	CHECK_EQ(15, sbi(EXT_RFENCE, 1, 0, -1, 0).error, 0);
	rt_printf("sbi_calls: ok\n");
	return 0;
}
