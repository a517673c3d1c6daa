/*
 * fdt.c — the device tree of one VM, built with libfdt's sequential-write
 * API (fdt_create, fdt_begin_node, fdt_property..., fdt_finish).
 *
 * It describes exactly what board.c built, in the shape QEMU's virt uses
 * (ref/qemu-virt-smp2-256M.dts): cpus with their interrupt controllers,
 * memory, soc { clint, plic, uart, test device, virtio_mmio slots that hold
 * a device }, poweroff/reboot syscon nodes, chosen (bootargs, stdout-path,
 * initrd). Phandles: cpu i's interrupt controller is 1 + i, the PLIC
 * nharts + 1, the test device nharts + 2.
 */
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "vmm/board.h"

#define FDT_ISA		"rv64imac_zicntr_zicsr_zifencei_sstc"
#define FDT_MMU		"riscv,sv48"

/* libfdt calls below return 0 or -FDT_ERR_*; the first failure sticks. */
#define TRY(call) do { if (r == 0) r = (call); } while (0)

static int prop_reg(void *fdt, uint64_t base, uint64_t size)
{
	fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };

	return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int prop_strings(void *fdt, const char *name, const char *list, size_t len)
{
	return fdt_property(fdt, name, list, len);
}

static int build(struct vm *vm, const char *bootargs, void *fdt, size_t size)
{
	const uint32_t ph_intc = 1, ph_plic = vm->nharts + 1, ph_test = vm->nharts + 2;
	static const char clint_compat[] = "sifive,clint0\0riscv,clint0";
	static const char plic_compat[] = "sifive,plic-1.0.0\0riscv,plic0";
	static const char test_compat[] = "sifive,test1\0sifive,test0\0syscon";
	/* riscv,isa implies zicntr; the extension list must name it. */
	static const char isa_ext[] = "i\0m\0a\0c\0zicntr\0zicsr\0zifencei\0sstc";
	char name[64];
	fdt32_t cells[4 * VM_MAX_HARTS];
	int r = 0;

	TRY(fdt_create(fdt, size));
	TRY(fdt_finish_reservemap(fdt));
	TRY(fdt_begin_node(fdt, ""));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	TRY(fdt_property_string(fdt, "compatible", "riscv-virtio"));
	TRY(fdt_property_string(fdt, "model", "riscv-virtio,disco"));

	TRY(fdt_begin_node(fdt, "chosen"));
	if (bootargs && bootargs[0])
		TRY(fdt_property_string(fdt, "bootargs", bootargs));
	snprintf(name, sizeof(name), "/soc/serial@%llx", (unsigned long long)VM_UART_BASE);
	TRY(fdt_property_string(fdt, "stdout-path", name));
	if (vm->initrd_end > vm->initrd_start) {
		TRY(fdt_property_u64(fdt, "linux,initrd-start", vm->initrd_start));
		TRY(fdt_property_u64(fdt, "linux,initrd-end", vm->initrd_end));
	}
	TRY(fdt_end_node(fdt));

	snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)vm->ram_base);
	TRY(fdt_begin_node(fdt, name));
	TRY(fdt_property_string(fdt, "device_type", "memory"));
	TRY(prop_reg(fdt, vm->ram_base, vm->ram_size));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_u32(fdt, "#address-cells", 1));
	TRY(fdt_property_u32(fdt, "#size-cells", 0));
	TRY(fdt_property_u32(fdt, "timebase-frequency", VM_TIMEBASE_HZ));
	for (unsigned i = 0; i < vm->nharts; i++) {
		snprintf(name, sizeof(name), "cpu@%u", i);
		TRY(fdt_begin_node(fdt, name));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_u32(fdt, "reg", i));
		TRY(fdt_property_string(fdt, "status", "okay"));
		TRY(fdt_property_string(fdt, "compatible", "riscv"));
		TRY(fdt_property_string(fdt, "riscv,isa", FDT_ISA));
		TRY(fdt_property_string(fdt, "riscv,isa-base", "rv64i"));
		TRY(prop_strings(fdt, "riscv,isa-extensions", isa_ext, sizeof(isa_ext)));
		TRY(fdt_property_string(fdt, "mmu-type", FDT_MMU));
		TRY(fdt_begin_node(fdt, "interrupt-controller"));
		TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
		TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
		TRY(fdt_property_string(fdt, "compatible", "riscv,cpu-intc"));
		TRY(fdt_property_u32(fdt, "phandle", ph_intc + i));
		TRY(fdt_end_node(fdt));
		TRY(fdt_end_node(fdt));
	}
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "poweroff"));
	TRY(fdt_property_string(fdt, "compatible", "syscon-poweroff"));
	TRY(fdt_property_u32(fdt, "regmap", ph_test));
	TRY(fdt_property_u32(fdt, "offset", 0));
	TRY(fdt_property_u32(fdt, "value", TEST_PASS));
	TRY(fdt_end_node(fdt));
	TRY(fdt_begin_node(fdt, "reboot"));
	TRY(fdt_property_string(fdt, "compatible", "syscon-reboot"));
	TRY(fdt_property_u32(fdt, "regmap", ph_test));
	TRY(fdt_property_u32(fdt, "offset", 0));
	TRY(fdt_property_u32(fdt, "value", TEST_RESET));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "soc"));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	TRY(fdt_property_string(fdt, "compatible", "simple-bus"));
	TRY(fdt_property(fdt, "ranges", NULL, 0));

	snprintf(name, sizeof(name), "test@%llx", (unsigned long long)VM_TEST_BASE);
	TRY(fdt_begin_node(fdt, name));
	TRY(prop_strings(fdt, "compatible", test_compat, sizeof(test_compat)));
	TRY(prop_reg(fdt, VM_TEST_BASE, VM_TEST_SIZE));
	TRY(fdt_property_u32(fdt, "phandle", ph_test));
	TRY(fdt_end_node(fdt));

	snprintf(name, sizeof(name), "serial@%llx", (unsigned long long)VM_UART_BASE);
	TRY(fdt_begin_node(fdt, name));
	TRY(fdt_property_string(fdt, "compatible", "ns16550a"));
	TRY(prop_reg(fdt, VM_UART_BASE, VM_UART_SIZE));
	TRY(fdt_property_u32(fdt, "clock-frequency", VM_UART_CLOCK));
	TRY(fdt_property_u32(fdt, "interrupts", VM_UART_IRQ));
	TRY(fdt_property_u32(fdt, "interrupt-parent", ph_plic));
	TRY(fdt_end_node(fdt));

	for (unsigned i = 0; i < VM_VIRTIO_SLOTS; i++) {
		uint64_t base = VM_VIRTIO_BASE + i * VM_VIRTIO_STRIDE;

		if (!vm->virtio[i])
			continue;
		snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)base);
		TRY(fdt_begin_node(fdt, name));
		TRY(fdt_property_string(fdt, "compatible", "virtio,mmio"));
		TRY(prop_reg(fdt, base, VM_VIRTIO_STRIDE));
		TRY(fdt_property_u32(fdt, "interrupts", VM_VIRTIO_IRQ + i));
		TRY(fdt_property_u32(fdt, "interrupt-parent", ph_plic));
		TRY(fdt_property(fdt, "dma-coherent", NULL, 0));
		TRY(fdt_end_node(fdt));
	}

	/* PLIC: per hart, M-mode external (11) then S-mode external (9). */
	for (unsigned i = 0; i < vm->nharts; i++) {
		cells[4 * i + 0] = cpu_to_fdt32(ph_intc + i);
		cells[4 * i + 1] = cpu_to_fdt32(IRQ_MEI);
		cells[4 * i + 2] = cpu_to_fdt32(ph_intc + i);
		cells[4 * i + 3] = cpu_to_fdt32(IRQ_SEI);
	}
	snprintf(name, sizeof(name), "plic@%llx", (unsigned long long)VM_PLIC_BASE);
	TRY(fdt_begin_node(fdt, name));
	TRY(prop_strings(fdt, "compatible", plic_compat, sizeof(plic_compat)));
	TRY(prop_reg(fdt, VM_PLIC_BASE, VM_PLIC_SIZE));
	TRY(fdt_property_u32(fdt, "#address-cells", 0));
	TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
	TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
	TRY(fdt_property(fdt, "interrupts-extended", cells, 16 * vm->nharts));
	TRY(fdt_property_u32(fdt, "riscv,ndev", PLIC_NDEV));
	TRY(fdt_property_u32(fdt, "phandle", ph_plic));
	TRY(fdt_end_node(fdt));

	/* CLINT: per hart, M-mode software (3) then M-mode timer (7). */
	for (unsigned i = 0; i < vm->nharts; i++) {
		cells[4 * i + 0] = cpu_to_fdt32(ph_intc + i);
		cells[4 * i + 1] = cpu_to_fdt32(IRQ_MSI);
		cells[4 * i + 2] = cpu_to_fdt32(ph_intc + i);
		cells[4 * i + 3] = cpu_to_fdt32(IRQ_MTI);
	}
	snprintf(name, sizeof(name), "clint@%llx", (unsigned long long)VM_CLINT_BASE);
	TRY(fdt_begin_node(fdt, name));
	TRY(prop_strings(fdt, "compatible", clint_compat, sizeof(clint_compat)));
	TRY(prop_reg(fdt, VM_CLINT_BASE, VM_CLINT_SIZE));
	TRY(fdt_property(fdt, "interrupts-extended", cells, 16 * vm->nharts));
	TRY(fdt_end_node(fdt));

	TRY(fdt_end_node(fdt));		/* soc */
	TRY(fdt_end_node(fdt));		/* root */
	TRY(fdt_finish(fdt));
	return r;
}

int board_fdt_build(struct vm *vm, const char *bootargs, void **blob, size_t *size,
		    char *err, size_t errlen)
{
	size_t cap = 16384;

	for (;;) {
		void *fdt = malloc(cap);
		int r;

		if (!fdt) {
			snprintf(err, errlen, "device tree: out of memory");
			return -ENOMEM;
		}
		r = build(vm, bootargs, fdt, cap);
		if (r == 0) {
			*blob = fdt;
			*size = fdt_totalsize(fdt);
			return 0;
		}
		free(fdt);
		if (r != -FDT_ERR_NOSPACE || cap >= (1u << 24)) {
			snprintf(err, errlen, "device tree: %s", fdt_strerror(r));
			return -EINVAL;
		}
		cap *= 2;
	}
}
