/*
 * rt_disco.c: the monitor-call interface, disco's own SBI extension
 * ("DISCO", EID 0x0A00D15C, docs/board.md): mark a phase of a run, ask for
 * statistics.
 *
 * The extension is reached by an ECALL from S mode, answered by disco's
 * built-in SBI (a VM whose program starts in S mode and has no bios). So:
 *   - S-mode builds probe it once with BASE probe_extension; under other
 *     firmware (OpenSBI on QEMU) the probe answers 0 and every call returns
 *     RT_DISCO_ABSENT without doing anything;
 *   - M-mode builds cannot reach it: disco gives an M-mode program no SBI
 *     (an ECALL from M traps to the program itself), so the calls return
 *     RT_DISCO_ABSENT at once.
 */
#include "rt_internal.h"

#define SBI_EXT_BASE  0x10
#define SBI_EXT_DISCO 0x0A00D15CL

#ifdef RT_SMODE
struct sbiret { long error, value; };

static struct sbiret sbi2(long eid, long fid, long a0)
{
	register long r_a0 __asm__("a0") = a0;
	register long r_a1 __asm__("a1") = 0;
	register long r_a6 __asm__("a6") = fid;
	register long r_a7 __asm__("a7") = eid;
	__asm__ volatile("ecall" : "+r"(r_a0), "+r"(r_a1) : "r"(r_a6), "r"(r_a7) : "memory");
	return (struct sbiret){ r_a0, r_a1 };
}

static volatile int present = -1;   /* -1 = not probed yet */

int rt_disco_present(void)
{
	if (present < 0) {
		struct sbiret r = sbi2(SBI_EXT_BASE, 3, SBI_EXT_DISCO);   /* probe_extension */
		present = r.error == 0 && r.value != 0;
	}
	return present;
}

long rt_sbi_impl_id(void)
{
	struct sbiret r = sbi2(SBI_EXT_BASE, 1, 0);   /* get_impl_id */
	return r.error ? -1 : r.value;
}

long rt_disco_mark_phase(unsigned long phase)
{
	if (!rt_disco_present())
		return RT_DISCO_ABSENT;
	return sbi2(SBI_EXT_DISCO, 0, (long)phase).error;
}

long rt_disco_stats(struct rt_disco_stats *s)
{
	if (!rt_disco_present())
		return RT_DISCO_ABSENT;
	struct sbiret r = sbi2(SBI_EXT_DISCO, 1, 0);
	if (r.error == 0 && s)
		s->instret = (uint64_t)r.value;
	return r.error;
}
#else
int rt_disco_present(void) { return 0; }
long rt_sbi_impl_id(void) { return -1; }
long rt_disco_mark_phase(unsigned long phase) { return RT_DISCO_ABSENT; }
long rt_disco_stats(struct rt_disco_stats *s) { return RT_DISCO_ABSENT; }
#endif
