/*
 * test_board.c — the board's devices and run loop, driven through
 * vm_mmio_read/write with stand-in harts (test_board_harts.h): PLIC
 * claim/complete with priority and threshold, UART transmit, receive and
 * interrupts, CLINT timer and software interrupts, the test device's exit
 * codes, the run loop's RUNNING/IDLE/EXITED, the device tree, the built-in
 * SBI and HTIF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libfdt.h>

#include "test_board_harts.h"
#include "vmm/board.h"

struct t_board {
	struct t_console con;
	struct vmm_vm *v;
	struct vm *vm;
	char err[256];
};

/* An M-mode VM: a raw binary at 0x80000000 (4 bytes: a jump to itself). */
static struct t_board *t_board_new(unsigned ncpus, const char *append)
{
	static const uint8_t loop[4] = { 0x6f, 0, 0, 0 };
	struct t_board *b = calloc(1, sizeof(*b));
	struct vmm_vm_config cfg;

	assert_non_null(b);
	cfg = t_config(ncpus, 64 << 20, t_tmpfile(0, loop, sizeof(loop)), &b->con);
	cfg.append = append;
	b->v = vmm_vm_create(&cfg, b->err, sizeof(b->err));
	unlink(cfg.kernel);
	if (!b->v)
		fail_msg("vmm_vm_create: %s", b->err);
	b->vm = &b->v->vm;
	return b;
}

static void t_board_free(struct t_board *b)
{
	vmm_vm_destroy(b->v);
	free(b);
}

static uint64_t rd(struct vm *vm, uint64_t gpa, unsigned size)
{
	uint64_t v = ~0ull;

	assert_int_equal(vm_mmio_read(vm, vm->harts[0], gpa, size, &v), 0);
	return v;
}

static void wr(struct vm *vm, uint64_t gpa, unsigned size, uint64_t v)
{
	assert_int_equal(vm_mmio_write(vm, vm->harts[0], gpa, size, v), 0);
}

static bool irq(struct vm *vm, unsigned hart, unsigned bit)
{
	return (vm->harts[hart]->mip >> bit) & 1;
}

#define PLIC_PRIO(i)		(VM_PLIC_BASE + 4 * (i))
#define PLIC_EN(ctx)		(VM_PLIC_BASE + PLIC_ENABLE + PLIC_ENABLE_STRIDE * (ctx))
#define PLIC_THR(ctx)		(VM_PLIC_BASE + PLIC_CONTEXT + PLIC_CONTEXT_STRIDE * (ctx))
#define PLIC_CLAIM(ctx)		(PLIC_THR(ctx) + 4)

static void test_boot_state(void **state)
{
	struct t_board *b = t_board_new(2, NULL);

	for (unsigned i = 0; i < 2; i++) {
		struct hart *h = b->vm->harts[i];

		assert_int_equal(h->pc, VM_RAM_BASE);
		assert_int_equal(h->priv, PRIV_M);
		assert_int_equal(h->x[10], i);
		assert_int_equal(h->x[11], b->vm->dtb_addr);
		assert_int_equal(h->state, HART_RUNNING);
	}
	assert_false(b->vm->sbi);
	/* DTB at the top of RAM, 2 MiB aligned, as QEMU puts it. */
	assert_int_equal(b->vm->dtb_addr & ((2 << 20) - 1), 0);
	assert_true(b->vm->dtb_addr + b->vm->dtb_size <= VM_RAM_BASE + (64 << 20));
	assert_true(b->vm->dtb_addr >= VM_RAM_BASE + (62 << 20));
	/* Nothing answers outside the devices. */
	{
		uint64_t v;

		assert_int_equal(vm_mmio_read(b->vm, NULL, 0x3000000, 4, &v), -1);
		assert_int_equal(vm_mmio_write(b->vm, NULL, 0x40000000, 4, 0), -1);
	}
	t_board_free(b);
}

static void *t_dtb(struct t_board *b)
{
	void *fdt = malloc(b->vm->dtb_size);

	assert_non_null(fdt);
	assert_int_equal(vm_gpa_read(b->vm, b->vm->dtb_addr, fdt, b->vm->dtb_size), 0);
	assert_int_equal(fdt_check_header(fdt), 0);
	return fdt;
}

static void test_fdt(void **state)
{
	struct t_board *b = t_board_new(3, "console=ttyS0 earlycon");
	void *fdt = t_dtb(b);
	const char *s;
	const fdt32_t *p;
	int node, len;

	assert_true(fdt_path_offset(fdt, "/cpus/cpu@2") >= 0);
	assert_true(fdt_path_offset(fdt, "/cpus/cpu@3") < 0);
	node = fdt_path_offset(fdt, "/cpus/cpu@0");
	s = fdt_getprop(fdt, node, "riscv,isa", NULL);
	assert_string_equal(s, "rv64imac_zicntr_zicsr_zifencei_sstc");
	s = fdt_getprop(fdt, node, "mmu-type", NULL);
	assert_string_equal(s, "riscv,sv48");
	assert_true(fdt_subnode_offset(fdt, node, "interrupt-controller") >= 0);
	s = fdt_getprop(fdt, node, "riscv,isa-extensions", &len);
	assert_non_null(s);
	assert_true(fdt_stringlist_contains(s, len, "zicntr"));
	assert_true(fdt_stringlist_contains(s, len, "zifencei"));
	assert_true(fdt_stringlist_contains(s, len, "sstc"));
	assert_false(fdt_stringlist_contains(s, len, "f"));
	p = fdt_getprop(fdt, fdt_path_offset(fdt, "/cpus"), "timebase-frequency", NULL);
	assert_int_equal(fdt32_to_cpu(*p), 10000000);
	assert_true(fdt_path_offset(fdt, "/memory@80000000") >= 0);
	node = fdt_path_offset(fdt, "/soc/plic@c000000");
	assert_true(node >= 0);
	assert_int_equal(fdt_node_check_compatible(fdt, node, "riscv,plic0"), 0);
	p = fdt_getprop(fdt, node, "interrupts-extended", &len);
	assert_int_equal(len, 3 * 16);
	assert_int_equal(fdt32_to_cpu(p[1]), 11);
	assert_int_equal(fdt32_to_cpu(p[3]), 9);
	node = fdt_path_offset(fdt, "/soc/clint@2000000");
	assert_int_equal(fdt_node_check_compatible(fdt, node, "sifive,clint0"), 0);
	node = fdt_path_offset(fdt, "/soc/serial@10000000");
	assert_int_equal(fdt_node_check_compatible(fdt, node, "ns16550a"), 0);
	p = fdt_getprop(fdt, node, "interrupts", NULL);
	assert_int_equal(fdt32_to_cpu(*p), 10);
	node = fdt_path_offset(fdt, "/soc/test@100000");
	assert_int_equal(fdt_node_check_compatible(fdt, node, "sifive,test0"), 0);
	assert_int_equal(fdt_node_check_compatible(fdt, node, "syscon"), 0);
	assert_true(fdt_path_offset(fdt, "/poweroff") >= 0);
	assert_true(fdt_path_offset(fdt, "/reboot") >= 0);
	/* No disk: no virtio node. */
	assert_true(fdt_path_offset(fdt, "/soc/virtio_mmio@10008000") < 0);
	node = fdt_path_offset(fdt, "/chosen");
	assert_string_equal(fdt_getprop(fdt, node, "bootargs", NULL), "console=ttyS0 earlycon");
	assert_string_equal(fdt_getprop(fdt, node, "stdout-path", NULL), "/soc/serial@10000000");
	assert_null(fdt_getprop(fdt, node, "linux,initrd-start", NULL));
	free(fdt);
	t_board_free(b);
}

static void test_fdt_initrd(void **state)
{
	static const uint8_t loop[4] = { 0x6f, 0, 0, 0 };
	static uint8_t rdimg[10000];
	struct t_console con = {0};
	struct vmm_vm_config cfg = t_config(1, 64 << 20, t_tmpfile(0, loop, 4), &con);
	struct vmm_vm *v;
	char err[256];
	void *fdt;
	const fdt64_t *p;
	int node;

	memset(rdimg, 0xab, sizeof(rdimg));
	cfg.initrd = t_tmpfile(1, rdimg, sizeof(rdimg));
	v = vmm_vm_create(&cfg, err, sizeof(err));
	unlink(cfg.kernel);
	unlink(cfg.initrd);
	assert_non_null(v);
	fdt = malloc(v->vm.dtb_size);
	assert_int_equal(vm_gpa_read(&v->vm, v->vm.dtb_addr, fdt, v->vm.dtb_size), 0);
	node = fdt_path_offset(fdt, "/chosen");
	p = fdt_getprop(fdt, node, "linux,initrd-start", NULL);
	assert_non_null(p);
	/* kernel start + half of 64 MiB */
	assert_int_equal(fdt64_ld(p), VM_RAM_BASE + (32 << 20));
	p = fdt_getprop(fdt, node, "linux,initrd-end", NULL);
	assert_int_equal(fdt64_ld(p), VM_RAM_BASE + (32 << 20) + sizeof(rdimg));
	{
		uint8_t c;

		assert_int_equal(vm_gpa_read(&v->vm, VM_RAM_BASE + (32 << 20) + 9999, &c, 1), 0);
		assert_int_equal(c, 0xab);
	}
	free(fdt);
	vmm_vm_destroy(v);
}

static void test_plic(void **state)
{
	struct t_board *b = t_board_new(2, NULL);
	struct vm *vm = b->vm;

	/* Context 3 = hart 1, S mode. */
	wr(vm, PLIC_PRIO(5), 4, 3);
	wr(vm, PLIC_PRIO(6), 4, 5);
	assert_int_equal(rd(vm, PLIC_PRIO(6), 4), 5);
	wr(vm, PLIC_PRIO(7), 4, 0xff);
	assert_int_equal(rd(vm, PLIC_PRIO(7), 4), 7);	/* 3 priority bits */
	wr(vm, PLIC_EN(3), 4, (1 << 5) | (1 << 6));
	vm_irq_set(vm, 5, true);
	assert_true(rd(vm, VM_PLIC_BASE + PLIC_PENDING, 4) & (1 << 5));
	assert_true(irq(vm, 1, IRQ_SEI));
	assert_false(irq(vm, 1, IRQ_MEI));
	assert_false(irq(vm, 0, IRQ_SEI));
	assert_false(irq(vm, 0, IRQ_MEI));

	/* Threshold at the source's priority masks it. */
	wr(vm, PLIC_THR(3), 4, 3);
	assert_false(irq(vm, 1, IRQ_SEI));
	vm_irq_set(vm, 6, true);
	assert_true(irq(vm, 1, IRQ_SEI));
	/* Claim gives the highest priority above the threshold. */
	assert_int_equal(rd(vm, PLIC_CLAIM(3), 4), 6);
	assert_false(irq(vm, 1, IRQ_SEI));
	assert_int_equal(rd(vm, PLIC_CLAIM(3), 4), 0);
	wr(vm, PLIC_THR(3), 4, 0);
	assert_true(irq(vm, 1, IRQ_SEI));
	assert_int_equal(rd(vm, PLIC_CLAIM(3), 4), 5);
	assert_false(irq(vm, 1, IRQ_SEI));
	/*
	 * As QEMU: completion does not look at the line again; the device's
	 * next assertion makes the source pending.
	 */
	wr(vm, PLIC_CLAIM(3), 4, 6);
	assert_false(irq(vm, 1, IRQ_SEI));
	vm_irq_set(vm, 6, true);
	assert_true(irq(vm, 1, IRQ_SEI));
	assert_int_equal(rd(vm, PLIC_CLAIM(3), 4), 6);
	vm_irq_set(vm, 6, false);
	wr(vm, PLIC_CLAIM(3), 4, 6);
	assert_false(irq(vm, 1, IRQ_SEI));
	/* An assertion while in service is delivered after completion. */
	vm_irq_set(vm, 5, true);
	assert_true(rd(vm, VM_PLIC_BASE + PLIC_PENDING, 4) & (1 << 5));
	assert_false(irq(vm, 1, IRQ_SEI));
	wr(vm, PLIC_CLAIM(3), 4, 5);
	assert_true(irq(vm, 1, IRQ_SEI));
	/* Deassertion clears a pending source. */
	vm_irq_set(vm, 5, false);
	assert_int_equal(rd(vm, VM_PLIC_BASE + PLIC_PENDING, 4), 0);
	assert_false(irq(vm, 1, IRQ_SEI));
	/* Priority 0 never interrupts. */
	wr(vm, PLIC_PRIO(5), 4, 0);
	vm_irq_set(vm, 5, true);
	assert_false(irq(vm, 1, IRQ_SEI));
	/* M-mode context of hart 0 gets MEI. */
	wr(vm, PLIC_PRIO(5), 4, 1);
	wr(vm, PLIC_EN(0), 4, 1 << 5);
	assert_true(irq(vm, 0, IRQ_MEI));
	assert_int_equal(rd(vm, PLIC_CLAIM(0), 4), 5);
	/* The other context still sees it pending? No: it was claimed. */
	assert_false(irq(vm, 1, IRQ_SEI));
	/* Odd sizes and out-of-range contexts are harmless. */
	wr(vm, PLIC_THR(200), 4, 1);
	wr(vm, VM_PLIC_BASE + 1, 1, 0xff);
	assert_int_equal(rd(vm, PLIC_EN(1), 8), 0);
	t_board_free(b);
}

#define UART(r)	(VM_UART_BASE + (r))

static void t_plic_route_uart(struct vm *vm)
{
	wr(vm, PLIC_PRIO(VM_UART_IRQ), 4, 1);
	wr(vm, PLIC_EN(1), 4, 1 << VM_UART_IRQ);
}

static void test_uart(void **state)
{
	struct t_board *b = t_board_new(1, NULL);
	struct vm *vm = b->vm;

	t_plic_route_uart(vm);
	/* Transmit. */
	assert_int_equal(rd(vm, UART(5), 1) & 0x60, 0x60);
	wr(vm, UART(0), 1, 'h');
	wr(vm, UART(0), 1, 'i');
	assert_string_equal(b->con.buf, "hi");
	/* Divisor latch does not transmit. */
	wr(vm, UART(3), 1, 0x80);
	wr(vm, UART(0), 1, 0x01);
	wr(vm, UART(1), 1, 0x00);
	assert_int_equal(rd(vm, UART(0), 1), 1);
	wr(vm, UART(3), 1, 0x03);
	assert_string_equal(b->con.buf, "hi");
	assert_int_equal(rd(vm, UART(2), 1) & 0x0f, 0x01);	/* no interrupt */
	assert_false(irq(vm, 0, IRQ_SEI));

	/* Receive without interrupts: LSR.DR. */
	vmm_vm_console_input(b->v, "ab", 2);
	assert_int_equal(rd(vm, UART(5), 1) & 1, 1);
	assert_false(irq(vm, 0, IRQ_SEI));
	/* Enabling the RX interrupt raises it. */
	wr(vm, UART(1), 1, 0x01);
	assert_true(irq(vm, 0, IRQ_SEI));
	assert_int_equal(rd(vm, UART(2), 1) & 0x0f, 0x04);
	assert_int_equal(rd(vm, PLIC_CLAIM(1), 4), VM_UART_IRQ);
	assert_int_equal(rd(vm, UART(0), 1), 'a');
	assert_int_equal(rd(vm, UART(0), 1), 'b');
	assert_int_equal(rd(vm, UART(5), 1) & 1, 0);
	wr(vm, PLIC_CLAIM(1), 4, VM_UART_IRQ);
	assert_false(irq(vm, 0, IRQ_SEI));

	/* THR empty interrupt: on enabling, cleared by reading IIR, back after a write. */
	wr(vm, UART(1), 1, 0x02);
	assert_true(irq(vm, 0, IRQ_SEI));
	assert_int_equal(rd(vm, UART(2), 1) & 0x0f, 0x02);
	assert_false(irq(vm, 0, IRQ_SEI));
	wr(vm, UART(0), 1, '!');
	assert_true(irq(vm, 0, IRQ_SEI));
	wr(vm, UART(1), 1, 0x00);
	assert_false(irq(vm, 0, IRQ_SEI));

	/* FIFO enable shows in IIR; clearing the RX FIFO. */
	wr(vm, UART(2), 1, 0x01);
	assert_int_equal(rd(vm, UART(2), 1) & 0xc0, 0xc0);
	vmm_vm_console_input(b->v, "xyz", 3);
	wr(vm, UART(2), 1, 0x03);
	assert_int_equal(rd(vm, UART(5), 1) & 1, 0);

	/* Loopback: transmit comes back. */
	wr(vm, UART(4), 1, 0x10);
	wr(vm, UART(0), 1, 'L');
	assert_int_equal(rd(vm, UART(0), 1), 'L');
	assert_string_equal(b->con.buf, "hi!");

	/* Overflowing input is dropped, not a crash. */
	{
		static char big[UART_RX_FIFO + 100];

		memset(big, 'q', sizeof(big));
		vmm_vm_console_input(b->v, big, sizeof(big));
		assert_int_equal(vm->uart.rx_count, UART_RX_FIFO);
	}
	t_board_free(b);
}

static void test_clint(void **state)
{
	struct t_board *b = t_board_new(2, NULL);
	struct vm *vm = b->vm;
	uint64_t t0, t1;

	t0 = rd(vm, VM_CLINT_BASE + CLINT_MTIME, 8);
	usleep(2000);
	t1 = rd(vm, VM_CLINT_BASE + CLINT_MTIME, 8);
	assert_true(t1 - t0 >= 20000);		/* 2 ms at 10 MHz */
	assert_true(t1 - t0 < 10000000);
	assert_int_equal(rd(vm, VM_CLINT_BASE + CLINT_MTIME + 4, 4), t1 >> 32);

	/* No timer at reset. */
	assert_false(irq(vm, 1, IRQ_MTI));
	assert_int_equal(rd(vm, VM_CLINT_BASE + CLINT_MTIMECMP + 8, 8), UINT64_MAX);
	/* A past deadline fires at once; only on that hart. */
	wr(vm, VM_CLINT_BASE + CLINT_MTIMECMP + 8, 8, t1);
	assert_true(irq(vm, 1, IRQ_MTI));
	assert_false(irq(vm, 0, IRQ_MTI));
	/* Written by halves (RV32 style): high first to all ones, then low. */
	wr(vm, VM_CLINT_BASE + CLINT_MTIMECMP + 12, 4, 0xffffffff);
	assert_false(irq(vm, 1, IRQ_MTI));
	wr(vm, VM_CLINT_BASE + CLINT_MTIMECMP + 8, 4, 0);
	assert_int_equal(rd(vm, VM_CLINT_BASE + CLINT_MTIMECMP + 8, 8), 0xffffffff00000000ull);
	/* A deadline 5 ms ahead: not yet, then fires at the next turn after it. */
	t1 = rd(vm, VM_CLINT_BASE + CLINT_MTIME, 8);
	wr(vm, VM_CLINT_BASE + CLINT_MTIMECMP, 8, t1 + 50000);
	assert_false(irq(vm, 0, IRQ_MTI));
	{
		uint64_t ns = vmm_vm_next_event_ns(b->v);

		assert_int_equal(ns, vm_mtime_to_ns(vm, t1 + 50000));
	}
	usleep(6000);
	/* Past but not yet delivered: still the next event, so the caller runs the VM. */
	assert_int_equal(vmm_vm_next_event_ns(b->v), vm_mtime_to_ns(vm, t1 + 50000));
	assert_true(vmm_vm_next_event_ns(b->v) < vm_now_ns());
	vm_timers_update(vm, 0);
	assert_true(irq(vm, 0, IRQ_MTI));
	/* Delivered: no longer an event (a hart that masks it must not make the node spin). */
	assert_int_equal(vmm_vm_next_event_ns(b->v), UINT64_MAX);

	/* msip */
	wr(vm, VM_CLINT_BASE + 4, 4, 1);
	assert_true(irq(vm, 1, IRQ_MSI));
	assert_int_equal(rd(vm, VM_CLINT_BASE + 4, 4), 1);
	wr(vm, VM_CLINT_BASE + 4, 4, 0);
	assert_false(irq(vm, 1, IRQ_MSI));
	/* mtime is read-only; harts past the last are ignored. */
	wr(vm, VM_CLINT_BASE + CLINT_MTIME, 8, 0);
	assert_true(rd(vm, VM_CLINT_BASE + CLINT_MTIME, 8) >= t1);
	wr(vm, VM_CLINT_BASE + 4 * 10, 4, 1);
	t_board_free(b);
}

static void test_testdev(void **state)
{
	static const struct { uint32_t val; bool exits; int code; } cases[] = {
		{ 0x5555, true, 0 },
		{ 0x3333 | (7 << 16), true, 7 },
		{ 0x3333, true, 1 },
		{ 0x7777, true, 0 },
		{ 0x1234, false, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct t_board *b = t_board_new(1, NULL);

		wr(b->vm, VM_TEST_BASE, 4, cases[i].val);
		assert_int_equal(vm_exit_requested(b->vm), cases[i].exits);
		if (cases[i].exits) {
			assert_int_equal(vmm_vm_exit_code(b->v), cases[i].code);
			assert_int_equal(vmm_vm_run(b->v, 1000), VMM_EXITED);
		}
		t_board_free(b);
	}
}

/* A hart program: the first run writes 0x5555 to the test device. */
static uint64_t t_run_poweroff(struct hart *h, uint64_t budget)
{
	vm_mmio_write(h->vm, h, VM_TEST_BASE, 4, 0x3333 | (42 << 16));
	return 10;
}

static uint64_t t_run_wfi(struct hart *h, uint64_t budget)
{
	h->state = HART_WFI;
	return 3;
}

static void test_run_loop(void **state)
{
	struct t_board *b = t_board_new(2, NULL);
	struct vm *vm = b->vm;
	struct vmm_vm_stats st;
	uint64_t now;

	/* Both harts run: quanta alternate and the budget is shared. */
	assert_int_equal(vmm_vm_run(b->v, 5000), VMM_RUNNING);
	assert_int_equal(vm->harts[0]->instret, 3000);
	assert_int_equal(vm->harts[1]->instret, 2000);
	vmm_vm_get_stats(b->v, &st);
	assert_int_equal(st.instret, 5000);
	assert_true(st.pages_touched >= 2);	/* kernel and device tree */

	/* Every hart waits: IDLE, and the next event is the nearest timer. */
	vm->harts[0]->run = t_run_wfi;
	vm->harts[1]->run = t_run_wfi;
	assert_int_equal(vmm_vm_run(b->v, 5000), VMM_IDLE);
	assert_int_equal(vmm_vm_next_event_ns(b->v), UINT64_MAX);
	now = vm_mtime(vm);
	wr(vm, VM_CLINT_BASE + CLINT_MTIMECMP + 8, 8, now + 1000000);
	vm->harts[0]->next_timer_ns = vm_now_ns() + 5000000;
	assert_int_equal(vmm_vm_next_event_ns(b->v), vm->harts[0]->next_timer_ns);
	vm->harts[0]->next_timer_ns = UINT64_MAX;
	assert_int_equal(vmm_vm_next_event_ns(b->v), vm_mtime_to_ns(vm, now + 1000000));
	/* A due timer wakes its hart at the next run. */
	wr(vm, VM_CLINT_BASE + CLINT_MTIMECMP + 8, 8, UINT64_MAX);
	vm->harts[1]->run = t_run_poweroff;
	wr(vm, VM_CLINT_BASE + CLINT_MTIMECMP + 8, 8, 0);
	assert_int_equal(vm->harts[1]->state, HART_RUNNING);
	assert_int_equal(vmm_vm_run(b->v, 5000), VMM_EXITED);
	assert_int_equal(vmm_vm_exit_code(b->v), 42);
	t_board_free(b);
}

/* ---- S-mode boot and the built-in SBI ---- */

static struct t_board *t_sboot(unsigned ncpus)
{
	static uint8_t elf[8192];
	static const uint8_t code[16] = { 0x6f };
	struct t_elf e = { .entry = VM_RAM_BASE + 0x200000, .paddr = VM_RAM_BASE + 0x200000,
			   .code = code, .code_len = sizeof(code) };
	struct t_board *b = calloc(1, sizeof(*b));
	struct vmm_vm_config cfg;
	size_t len = t_make_elf(elf, &e);

	cfg = t_config(ncpus, 64 << 20, t_tmpfile(0, elf, len), &b->con);
	b->v = vmm_vm_create(&cfg, b->err, sizeof(b->err));
	unlink(cfg.kernel);
	if (!b->v)
		fail_msg("vmm_vm_create: %s", b->err);
	b->vm = &b->v->vm;
	return b;
}

/* An SBI call from hart h; returns a0 (error), *val = a1. */
static long t_sbi(struct t_board *b, unsigned h, uint64_t eid, uint64_t fid,
		  uint64_t a0, uint64_t a1, uint64_t a2, uint64_t *val)
{
	struct hart *hart = b->vm->harts[h];

	hart->x[17] = eid;
	hart->x[16] = fid;
	hart->x[10] = a0;
	hart->x[11] = a1;
	hart->x[12] = a2;
	assert_true(vm_sbi_ecall(b->vm, hart));
	if (val)
		*val = hart->x[11];
	return (long)hart->x[10];
}

static void test_sbi(void **state)
{
	struct t_board *b = t_sboot(3);
	struct vm *vm = b->vm;
	uint64_t v, now;

	assert_true(vm->sbi);
	assert_int_equal(vm->harts[0]->priv, PRIV_S);
	assert_int_equal(vm->harts[0]->pc, VM_RAM_BASE + 0x200000);
	assert_int_equal(vm->harts[0]->x[11], vm->dtb_addr);
	assert_int_equal(vm->harts[0]->state, HART_RUNNING);
	assert_int_equal(vm->harts[1]->state, HART_STOPPED);
	assert_int_equal(vm->harts[2]->state, HART_STOPPED);

	/* BASE */
	assert_int_equal(t_sbi(b, 0, 0x10, 0, 0, 0, 0, &v), 0);
	assert_int_equal(v, 2u << 24);
	assert_int_equal(t_sbi(b, 0, 0x10, 3, 0x54494d45, 0, 0, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(t_sbi(b, 0, 0x10, 3, 0x0a00d15c, 0, 0, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(t_sbi(b, 0, 0x10, 3, 0x12345678, 0, 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(t_sbi(b, 0, 0x12345678, 0, 0, 0, 0, NULL), -2);

	/* TIME: a past deadline raises STI, a future one clears it, and wakes later. */
	assert_int_equal(t_sbi(b, 0, 0x54494d45, 0, 0, 0, 0, NULL), 0);
	assert_true(irq(vm, 0, IRQ_STI));
	now = vm_mtime(vm);
	assert_int_equal(t_sbi(b, 0, 0x54494d45, 0, now + 30000, 0, 0, NULL), 0);
	assert_false(irq(vm, 0, IRQ_STI));
	assert_int_equal(vmm_vm_next_event_ns(b->v), vm_mtime_to_ns(vm, now + 30000));
	usleep(4000);
	vm_timers_update(vm, 0);
	assert_true(irq(vm, 0, IRQ_STI));
	/* legacy set_timer answers in a0 only */
	vm->harts[0]->x[11] = 77;
	assert_int_equal(t_sbi(b, 0, 0x00, 0, UINT64_MAX, 77, 0, &v), 0);
	assert_int_equal(v, 77);
	assert_false(irq(vm, 0, IRQ_STI));

	/* HSM */
	assert_int_equal(t_sbi(b, 0, 0x48534d, 2, 1, 0, 0, &v), 0);
	assert_int_equal(v, 1);		/* stopped */
	assert_int_equal(t_sbi(b, 0, 0x48534d, 0, 1, VM_RAM_BASE + 0x200100, 0xabc, NULL), 0);
	assert_int_equal(vm->harts[1]->state, HART_RUNNING);
	assert_int_equal(vm->harts[1]->pc, VM_RAM_BASE + 0x200100);
	assert_int_equal(vm->harts[1]->priv, PRIV_S);
	assert_int_equal(vm->harts[1]->x[10], 1);
	assert_int_equal(vm->harts[1]->x[11], 0xabc);
	assert_int_equal(t_sbi(b, 0, 0x48534d, 0, 1, VM_RAM_BASE, 0, NULL), -6);	/* already started */
	assert_int_equal(t_sbi(b, 0, 0x48534d, 0, 2, 0x1000, 0, NULL), -5);	/* bad address */
	assert_int_equal(t_sbi(b, 0, 0x48534d, 0, 9, VM_RAM_BASE, 0, NULL), -3);	/* no such hart */
	assert_int_equal(t_sbi(b, 0, 0x48534d, 2, 1, 0, 0, &v), 0);
	assert_int_equal(v, 0);		/* started */
	assert_int_equal(t_sbi(b, 1, 0x48534d, 1, 0, 0, 0, NULL), 0);
	assert_int_equal(vm->harts[1]->state, HART_STOPPED);
	/* retentive suspend = wait for an interrupt */
	assert_int_equal(t_sbi(b, 0, 0x48534d, 3, 0, 0, 0, NULL), 0);
	assert_int_equal(vm->harts[0]->state, HART_WFI);
	vm->harts[0]->state = HART_RUNNING;
	/* non-retentive suspend: after the wake-up, restart at resume_addr with a0 = hartid, a1 = opaque */
	assert_int_equal(t_sbi(b, 0, 0x48534d, 0, 2, VM_RAM_BASE + 0x200000, 0, NULL), 0);
	assert_int_equal(t_sbi(b, 2, 0x48534d, 3, 0x80000000u, VM_RAM_BASE + 0x200200, 0x77, NULL), 0);
	assert_int_equal(vm->harts[2]->state, HART_WFI);
	assert_int_equal(t_sbi(b, 0, 0x48534d, 2, 2, 0, 0, &v), 0);
	assert_int_equal(v, 4);		/* suspended */
	assert_int_equal(t_sbi(b, 2, 0x48534d, 3, 0x80000000u, 0x1000, 0, NULL), -5);
	assert_int_equal(t_sbi(b, 2, 0x48534d, 3, 7, 0, 0, NULL), -3);
	hart_set_irq(vm->harts[2], IRQ_SSI, true);	/* wakes it */
	assert_int_equal(vmm_vm_run(b->v, 3000), VMM_RUNNING);
	assert_int_equal(vm->harts[2]->pc, VM_RAM_BASE + 0x200200);
	assert_int_equal(vm->harts[2]->x[10], 2);
	assert_int_equal(vm->harts[2]->x[11], 0x77);
	assert_int_equal(vm->harts[2]->priv, PRIV_S);
	assert_int_equal(t_sbi(b, 0, 0x48534d, 2, 2, 0, 0, &v), 0);
	assert_int_equal(v, 0);		/* started */
	hart_set_irq(vm->harts[2], IRQ_SSI, false);
	assert_int_equal(t_sbi(b, 2, 0x48534d, 1, 0, 0, 0, NULL), 0);

	/* IPI and RFENCE */
	assert_int_equal(t_sbi(b, 0, 0x735049, 0, 0x3, 1, 0, NULL), 0);	/* harts 1, 2 */
	assert_false(irq(vm, 0, IRQ_SSI));
	assert_true(irq(vm, 1, IRQ_SSI));
	assert_true(irq(vm, 2, IRQ_SSI));
	assert_int_equal(t_sbi(b, 0, 0x735049, 0, 0x1, 5, 0, NULL), -3);
	assert_int_equal(t_sbi(b, 0, 0x52464e43, 1, 0, UINT64_MAX, 0, NULL), 0);	/* all harts */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vm->harts[i]->tlb_flushes, 1);
	assert_int_equal(t_sbi(b, 0, 0x52464e43, 0, 0x4, 0, 0, NULL), 0);
	assert_int_equal(vm->harts[2]->icache_flushes, 1);
	assert_int_equal(vm->harts[0]->icache_flushes, 0);

	/* Console: legacy putchar and DBCN write. */
	t_sbi(b, 0, 0x01, 0, 'o', 0, 0, NULL);
	assert_int_equal(vm_gpa_write(vm, VM_RAM_BASE + 0x300000, "k!", 2), 0);
	assert_int_equal(t_sbi(b, 0, 0x4442434e, 0, 2, VM_RAM_BASE + 0x300000, 0, &v), 0);
	assert_int_equal(v, 2);
	assert_string_equal(b->con.buf, "ok!");
	assert_int_equal(t_sbi(b, 0, 0x4442434e, 0, 2, 0x1000, 0, NULL), -3);
	/* legacy getchar: -1 when nothing, then the byte */
	assert_int_equal(t_sbi(b, 0, 0x02, 0, 0, 0, 0, NULL), -1);
	vmm_vm_console_input(b->v, "z", 1);
	assert_int_equal(t_sbi(b, 0, 0x02, 0, 0, 0, 0, NULL), 'z');

	/* DISCO: phases and statistics */
	vm->harts[0]->instret = 1234;
	vm->harts[1]->instret = vm->harts[2]->instret = 0;
	assert_int_equal(t_sbi(b, 0, 0x0a00d15c, 0, 7, 0, 0, NULL), 0);
	assert_int_equal(vm->n_phases, 1);
	assert_int_equal(vm->phases[0].phase, 7);
	assert_int_equal(vm->phases[0].instret, 1234);
	assert_int_equal(t_sbi(b, 0, 0x0a00d15c, 1, 0, 0, 0, &v), 0);
	assert_int_equal(v, 1234);
	assert_int_equal(t_sbi(b, 0, 0x0a00d15c, 0, 8, 0, 0, NULL), 0);
	{
		struct vmm_vm_phase ph[4];

		assert_int_equal(vmm_vm_get_phases(b->v, ph, 1), 2);
		assert_int_equal(ph[0].phase, 7);
		assert_int_equal(vmm_vm_get_phases(b->v, ph, 4), 2);
		assert_int_equal(ph[1].phase, 8);
		assert_true(ph[1].ns >= ph[0].ns);
	}
	assert_int_equal(t_sbi(b, 0, 0x0a00d15c, 9, 0, 0, 0, NULL), -2);
	/* legacy remote calls are refused, a1 untouched */
	vm->harts[0]->x[11] = 55;
	assert_int_equal(t_sbi(b, 0, 0x04, 0, 0, 55, 0, &v), -2);
	assert_int_equal(v, 55);

	/* SRST: system failure -> 1 */
	assert_int_equal(t_sbi(b, 0, 0x53525354, 0, 0, 1, 0, NULL), 0);
	assert_true(vm_exit_requested(vm));
	assert_int_equal(vmm_vm_exit_code(b->v), 1);
	t_board_free(b);

	/* SRST shutdown -> 0; a bad reset type is refused. */
	b = t_sboot(1);
	assert_int_equal(t_sbi(b, 0, 0x53525354, 0, 9, 0, 0, NULL), -3);
	assert_false(vm_exit_requested(b->vm));
	assert_int_equal(t_sbi(b, 0, 0x53525354, 0, 0, 0, 0, NULL), 0);
	assert_int_equal(vmm_vm_exit_code(b->v), 0);
	assert_int_equal(vmm_vm_run(b->v, 100), VMM_EXITED);
	t_board_free(b);
}

static void test_sbi_not_in_mmode(void **state)
{
	struct t_board *b = t_board_new(1, NULL);

	assert_false(vm_sbi_ecall(b->vm, b->vm->harts[0]));
	t_board_free(b);
}

/* ---- HTIF ---- */

static uint64_t t_run_htif(struct hart *h, uint64_t budget)
{
	/* tohost at 0x80001000: the first turn prints "H" through dev 1, then exits with 3. */
	uint64_t v = h->instret == 0 ? (1ull << 56 | 1ull << 48 | 'H') : (3 << 1 | 1);

	vm_gpa_write(h->vm, VM_RAM_BASE + 0x1000, &v, 8);
	return 100;
}

/* riscv-tests' syscall proxy: tohost = &magic_mem, SYS_write then SYS_exit. */
static uint64_t t_run_htif_syscall(struct hart *h, uint64_t budget)
{
	const uint64_t magic = VM_RAM_BASE + 0x2000, text = VM_RAM_BASE + 0x3000;
	uint64_t m[8] = {0};

	if (h->instret == 0) {
		m[0] = 64;		/* SYS_write(1, text, 6) */
		m[1] = 1;
		m[2] = text;
		m[3] = 6;
		vm_gpa_write(h->vm, text, "proxy\n", 6);
	} else {
		m[0] = 93;		/* SYS_exit(9) */
		m[1] = 9;
	}
	vm_gpa_write(h->vm, magic, m, sizeof(m));
	vm_gpa_write(h->vm, VM_RAM_BASE + 0x1000, &magic, 8);
	return 100;
}

static void test_htif(void **state)
{
	static uint8_t elf[8192];
	static const uint8_t code[0x1010] = { 0x6f };
	struct t_elf e = { .entry = VM_RAM_BASE, .paddr = VM_RAM_BASE, .code = code,
			   .code_len = sizeof(code), .syms = true,
			   .tohost = VM_RAM_BASE + 0x1000, .fromhost = VM_RAM_BASE + 0x1008 };
	struct t_console con = {0};
	struct vmm_vm_config cfg;
	struct vmm_vm *v;
	char err[256];
	uint64_t from;
	size_t len = t_make_elf(elf, &e);

	cfg = t_config(1, 16 << 20, t_tmpfile(0, elf, len), &con);
	v = vmm_vm_create(&cfg, err, sizeof(err));
	unlink(cfg.kernel);
	assert_non_null(v);
	assert_true(v->vm.htif.on);
	assert_int_equal(v->vm.htif.tohost, VM_RAM_BASE + 0x1000);
	v->vm.harts[0]->run = t_run_htif;
	assert_int_equal(vmm_vm_run(v, 100), VMM_RUNNING);
	assert_string_equal(con.buf, "H");
	assert_int_equal(vm_gpa_read(&v->vm, VM_RAM_BASE + 0x1008, &from, 8), 0);
	assert_int_equal(from, 1ull << 56 | 1ull << 48);
	assert_int_equal(vmm_vm_run(v, 100), VMM_EXITED);
	assert_int_equal(vmm_vm_exit_code(v), 3);
	vmm_vm_destroy(v);

	/* The syscall proxy. */
	cfg.kernel = t_tmpfile(0, elf, len);
	con.len = 0;
	con.buf[0] = 0;
	v = vmm_vm_create(&cfg, err, sizeof(err));
	unlink(cfg.kernel);
	assert_non_null(v);
	v->vm.harts[0]->run = t_run_htif_syscall;
	assert_int_equal(vmm_vm_run(v, 100), VMM_RUNNING);
	assert_string_equal(con.buf, "proxy\n");
	{
		uint64_t m0, tohost;

		assert_int_equal(vm_gpa_read(&v->vm, VM_RAM_BASE + 0x2000, &m0, 8), 0);
		assert_int_equal(m0, 6);	/* bytes written */
		assert_int_equal(vm_gpa_read(&v->vm, VM_RAM_BASE + 0x1008, &from, 8), 0);
		assert_int_equal(from, 1);
		assert_int_equal(vm_gpa_read(&v->vm, VM_RAM_BASE + 0x1000, &tohost, 8), 0);
		assert_int_equal(tohost, 0);	/* acknowledged */
	}
	assert_int_equal(vmm_vm_run(v, 100), VMM_EXITED);
	assert_int_equal(vmm_vm_exit_code(v), 9);
	vmm_vm_destroy(v);
}

/* Random accesses of every size to every device: nothing crashes, nothing unexpected ends the run. */
static void test_mmio_fuzz(void **state)
{
	struct t_board *b = t_board_new(2, NULL);
	static const uint64_t bases[][2] = {
		{ VM_CLINT_BASE, VM_CLINT_SIZE }, { VM_PLIC_BASE, VM_PLIC_SIZE },
		{ VM_UART_BASE, VM_UART_SIZE }, { VM_VIRTIO_BASE, VM_VIRTIO_STRIDE * VM_VIRTIO_SLOTS },
	};
	uint64_t x = 88172645463325252ull;

	for (unsigned i = 0; i < 200000; i++) {
		uint64_t r, v;
		unsigned size, k;
		uint64_t gpa;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = x;
		k = r % 4;
		size = 1u << ((r >> 4) % 4);
		gpa = (bases[k][0] + (r >> 8) % bases[k][1]) & ~(uint64_t)(size - 1);
		if (r >> 63)
			assert_int_equal(vm_mmio_write(b->vm, b->vm->harts[(r >> 62) & 1], gpa, size, r * 31), 0);
		else
			assert_int_equal(vm_mmio_read(b->vm, b->vm->harts[(r >> 62) & 1], gpa, size, &v), 0);
	}
	assert_false(vm_exit_requested(b->vm));
	t_board_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_state),
		cmocka_unit_test(test_fdt),
		cmocka_unit_test(test_fdt_initrd),
		cmocka_unit_test(test_plic),
		cmocka_unit_test(test_uart),
		cmocka_unit_test(test_clint),
		cmocka_unit_test(test_testdev),
		cmocka_unit_test(test_run_loop),
		cmocka_unit_test(test_sbi),
		cmocka_unit_test(test_sbi_not_in_mmode),
		cmocka_unit_test(test_htif),
		cmocka_unit_test(test_mmio_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
