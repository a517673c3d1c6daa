/* rt_internal.h: what the runtime's files share and programs do not see. */
#ifndef RT_INTERNAL_H
#define RT_INTERNAL_H
#include "rt.h"

void rt_console_init(void);
void rt_console_emergency(const char *s);
void rt_heap_init(uintptr_t start, uintptr_t end);
void rt_fdt_scan(const void *dtb);
void rt_boot_main(unsigned long hartid, const void *dtb);
void rt_secondary_main(unsigned long hartid);
void rt_trap(struct rt_frame *f, int level);
__attribute__((noreturn)) void rt_mode_resume(long ret);
__attribute__((noreturn)) void rt_park_forever(void);
long rt_sbi_call(long eid, long fid, long a0, long a1, long a2);

/* Filled by rt_fdt_scan(). */
struct rt_fdt_info {
	const void *dtb;
	unsigned ncpus;
	uint64_t ram_base, ram_size;
	uint64_t timebase;
	const char *bootargs;
};
extern struct rt_fdt_info rt_fdt;

extern char __bss_start[], __bss_end[], _end[];
#endif
