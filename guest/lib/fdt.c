/*
 * fdt.c: just enough of a flattened device tree reader for the runtime.
 *
 * Walks the structure block once and picks out: the number of nodes under
 * /cpus whose name starts with "cpu@" (the harts), /cpus/timebase-frequency,
 * the first /memory node's reg (root #address-cells/#size-cells are taken
 * to be 2, as on virt), and /chosen/bootargs. A tree with a bad magic is
 * ignored (rt_fdt.dtb stays NULL) and the runtime falls back to counting
 * the harts that check in.
 */
#include "rt_internal.h"

#define FDT_MAGIC      0xd00dfeed
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP        4
#define FDT_END        9

struct rt_fdt_info rt_fdt;

static uint32_t be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

void rt_fdt_scan(const void *dtb)
{
	const uint8_t *h = dtb;

	if (!dtb || ((uintptr_t)dtb & 3) || be32(h) != FDT_MAGIC)
		return;
	uint32_t totalsize = be32(h + 4);
	const uint8_t *p = h + be32(h + 8);
	const uint8_t *end = h + be32(h + 8) + be32(h + 36);
	const char *strings = (const char *)h + be32(h + 12);
	if (totalsize < 40 || totalsize > (64u << 20))
		return;

	/* at_depth1: which depth-1 node we are in; 0 none, 1 cpus, 2 memory, 3 chosen */
	int depth = 0, in = 0, mem_found = 0;
	rt_fdt.dtb = dtb;
	while (p < end) {
		uint32_t tok = be32(p);
		p += 4;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)p;
			size_t n = strlen(name);
			p += (n + 1 + 3) & ~3UL;
			depth++;
			if (depth == 2)
				in = !strcmp(name, "cpus") ? 1 : starts_with(name, "memory") ? 2
				   : (!strcmp(name, "chosen") || starts_with(name, "chosen@")) ? 3 : 0;
			else if (depth == 3 && in == 1 && starts_with(name, "cpu@"))
				rt_fdt.ncpus++;
		} else if (tok == FDT_END_NODE) {
			if (depth == 2)
				in = 0;
			depth--;
		} else if (tok == FDT_PROP) {
			uint32_t len = be32(p), nameoff = be32(p + 4);
			const uint8_t *val = p + 8;
			const char *pname = strings + nameoff;
			p += 8 + ((len + 3) & ~3U);
			if (depth == 2 && in == 1 && !strcmp(pname, "timebase-frequency") && len == 4)
				rt_fdt.timebase = be32(val);
			else if (depth == 2 && in == 2 && !mem_found && !strcmp(pname, "reg") && len >= 16) {
				rt_fdt.ram_base = (uint64_t)be32(val) << 32 | be32(val + 4);
				rt_fdt.ram_size = (uint64_t)be32(val + 8) << 32 | be32(val + 12);
				mem_found = 1;
			} else if (depth == 2 && in == 3 && !strcmp(pname, "bootargs") && len > 0)
				rt_fdt.bootargs = (const char *)val;
		} else if (tok == FDT_NOP) {
			continue;
		} else {
			break;   /* FDT_END or garbage */
		}
	}
}
