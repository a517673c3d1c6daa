/*
 * dtb_board: the device tree the monitor hands over (a1 at boot) describes
 * the virt board the way QEMU's does (reference: QEMU 7.2's tree for
 * -machine virt), so software built for virt finds its devices.
 *  1     the tree has the FDT magic and version >= 16;
 *  2-3   /memory at 0x80000000 with the size the runtime uses;
 *  4     /cpus/timebase-frequency = 10 MHz;
 *  5     one cpu@N node per hart that checked in (run with --smp 2);
 *  6-9   each cpu has device_type "cpu", reg = its index, a riscv,isa
 *        string starting rv64 with i, m, a and c, and a riscv,cpu-intc child;
 *  10-13 ns16550a at 0x10000000 (interrupt 10), sifive,test0 at 0x100000,
 *        a CLINT (riscv,clint0 or sifive,clint0) at 0x2000000, a PLIC
 *        (riscv,plic0 or sifive,plic-1.0.0) at 0xc000000 with riscv,ndev;
 *  14    virtio,mmio nodes, if any, are 4 KiB slots from 0x10001000;
 *  15    /chosen exists.
 */
#include "rt.h"

static uint32_t be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static uint64_t be64(const void *p) { return (uint64_t)be32(p) << 32 | be32((const uint8_t *)p + 4); }

/* does the NUL-separated string list contain s? */
static int has_str(const char *list, uint32_t len, const char *s)
{
	uint32_t i = 0;
	while (i < len) {
		if (!strcmp(list + i, s))
			return 1;
		i += strlen(list + i) + 1;
	}
	return 0;
}

struct node {
	char name[48];
	const char *compat;
	uint32_t compat_len;
	const uint8_t *reg;
	uint32_t reg_len;
	const char *isa, *device_type;
	int has_intc_child, has_interrupts;
	uint32_t interrupts, ndev;
};

static int cpus_seen, memory_ok, chosen_seen, uart_ok, test_ok, clint_ok, plic_ok, virtio_bad;
static unsigned virtio_count;
static uint64_t timebase;

static void check_cpu(struct node *n, int index)
{
	CHECK(6, n->device_type && !strcmp(n->device_type, "cpu"));
	CHECK(7, n->reg && n->reg_len == 4 && be32(n->reg) == (uint32_t)index);
	const char *isa = n->isa;
	CHECK(8, isa && !strncmp(isa, "rv64", 4));
	int i = 0, m = 0, a = 0, c = 0;
	for (const char *p = isa + 4; *p && *p != '_'; p++) {
		i |= *p == 'i' || *p == 'g';
		m |= *p == 'm' || *p == 'g';
		a |= *p == 'a' || *p == 'g';
		c |= *p == 'c';
	}
	CHECK(8, i && m && a && c);
	CHECK(9, n->has_intc_child);
	rt_printf("  cpu@%d: %s\n", index, isa);
}

static void check_device(struct node *n)
{
	if (!n->compat)
		return;
	uint64_t base = n->reg && n->reg_len >= 16 ? be64(n->reg) : ~0UL;
	uint64_t size = n->reg && n->reg_len >= 16 ? be64(n->reg + 8) : 0;
	if (has_str(n->compat, n->compat_len, "ns16550a")) {
		CHECK_EQ(10, base, 0x10000000);
		CHECK(10, n->has_interrupts && n->interrupts == 10);
		uart_ok = 1;
	}
	if (has_str(n->compat, n->compat_len, "sifive,test0")) {
		CHECK_EQ(11, base, 0x100000);
		test_ok = 1;
	}
	if (has_str(n->compat, n->compat_len, "riscv,clint0") || has_str(n->compat, n->compat_len, "sifive,clint0")) {
		CHECK_EQ(12, base, 0x2000000);
		CHECK(12, size >= 0xc000);
		clint_ok = 1;
	}
	if (has_str(n->compat, n->compat_len, "riscv,plic0") || has_str(n->compat, n->compat_len, "sifive,plic-1.0.0")) {
		CHECK_EQ(13, base, 0xc000000);
		CHECK(13, n->ndev >= 10);
		plic_ok = 1;
	}
	if (has_str(n->compat, n->compat_len, "virtio,mmio")) {
		virtio_count++;
		if (base < 0x10001000 || base >= 0x10001000 + 0x1000 * 32 || (base & 0xfff) || size != 0x1000)
			virtio_bad = 1;
	}
}

int main(void)
{
	const uint8_t *h = rt_dtb();
	CHECK(1, h && be32(h) == 0xd00dfeed && be32(h + 20) >= 16);
	const uint8_t *p = h + be32(h + 8), *end = p + be32(h + 36);
	const char *strings = (const char *)h + be32(h + 12);

	struct node stack[8];
	int depth = -1, cpu_index = 0;
	char path1[48] = "";
	while (p < end) {
		uint32_t tok = be32(p);
		p += 4;
		if (tok == 1) {
			const char *name = (const char *)p;
			p += (strlen(name) + 4) & ~3UL;
			depth++;
			CHECK(1, depth < 8);
			memset(&stack[depth], 0, sizeof(stack[depth]));
			rt_snprintf(stack[depth].name, sizeof(stack[depth].name), "%s", name);
			if (depth == 1)
				rt_snprintf(path1, sizeof(path1), "%s", name);
			if (depth == 1 && !strcmp(name, "chosen"))
				chosen_seen = 1;
		} else if (tok == 2) {
			struct node *n = &stack[depth];
			if (depth == 2 && !strcmp(path1, "cpus") && !strncmp(n->name, "cpu@", 4))
				check_cpu(n, cpu_index++), cpus_seen++;
			if (depth == 3 && !strcmp(path1, "cpus") && n->compat &&
			    has_str(n->compat, n->compat_len, "riscv,cpu-intc"))
				stack[2].has_intc_child = 1;
			if (depth == 1 && !strncmp(n->name, "memory", 6)) {
				CHECK(2, n->reg && n->reg_len >= 16);
				CHECK_EQ(2, be64(n->reg), 0x80000000UL);
				CHECK_EQ(3, be64(n->reg + 8), rt_ram_size());
				memory_ok = 1;
			}
			if (depth >= 1)
				check_device(n);
			depth--;
		} else if (tok == 3) {
			uint32_t len = be32(p);
			const char *pname = strings + be32(p + 4);
			const uint8_t *val = p + 8;
			p += 8 + ((len + 3) & ~3U);
			struct node *n = &stack[depth];
			if (!strcmp(pname, "compatible"))
				n->compat = (const char *)val, n->compat_len = len;
			else if (!strcmp(pname, "reg"))
				n->reg = val, n->reg_len = len;
			else if (!strcmp(pname, "riscv,isa"))
				n->isa = (const char *)val;
			else if (!strcmp(pname, "device_type"))
				n->device_type = (const char *)val;
			else if (!strcmp(pname, "interrupts") && len >= 4)
				n->has_interrupts = 1, n->interrupts = be32(val);
			else if (!strcmp(pname, "riscv,ndev") && len == 4)
				n->ndev = be32(val);
			else if (!strcmp(pname, "timebase-frequency") && depth == 1 && len == 4)
				timebase = be32(val);
		} else if (tok == 4) {
			continue;
		} else {
			break;
		}
	}
	CHECK(2, memory_ok);
	CHECK_EQ(4, timebase, 10000000);
	CHECK_EQ(5, cpus_seen, rt_nharts());
	CHECK(10, uart_ok);
	CHECK(11, test_ok);
	CHECK(12, clint_ok);
	CHECK(13, plic_ok);
	CHECK(14, !virtio_bad);
	CHECK(15, chosen_seen);
	rt_printf("dtb_board: %d cpus, %lu MiB, %u virtio-mmio slots: ok\n", cpus_seen,
		  (unsigned long)(rt_ram_size() >> 20), virtio_count);
	return 0;
}
