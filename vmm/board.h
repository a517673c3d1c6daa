/*
 * board.h — internal to vmm/: the virt-like board of one VM.
 *
 * struct vm is the board: RAM (a pmap), the harts, the devices at QEMU
 * virt's addresses, the built-in SBI state, HTIF and the exit status.
 * board.c implements vm.h's board half and vmm.h on top of it; each
 * device lives in its own dev_*.c and is reached through the MMIO table.
 *
 * Memory map (docs/board.md is the reference):
 *   0x00100000  test / poweroff device (sifive,test0)   0x1000
 *   0x02000000  CLINT                                  0x10000
 *   0x0c000000  PLIC                                   0x600000
 *   0x10000000  ns16550a UART, PLIC source 10           0x100
 *   0x10001000  virtio-mmio slot i (0..7), source 1+i   0x1000 each
 *   0x80000000  RAM
 *
 * Everything runs in the node's one thread; nothing here locks.
 */
#ifndef DISCO_VMM_BOARD_H
#define DISCO_VMM_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vm.h"
#include "vmm/dev_clint.h"
#include "vmm/dev_plic.h"
#include "vmm/dev_uart.h"
#include "vmm/dev_test.h"
#include "vmm/dev_virtio_mmio.h"

/* Limits of the board (docs/board.md). */
#define VM_MAX_HARTS		64	/* PLIC contexts are 2 per hart */
#define VM_MMIO_MAX		16	/* regions in the MMIO table */
#define VM_PHASES_MAX		256	/* disco SBI phase marks kept */

/* Addresses, as on QEMU's virt board. */
#define VM_TEST_BASE		0x100000ull
#define VM_TEST_SIZE		0x1000ull
#define VM_CLINT_BASE		0x2000000ull
#define VM_CLINT_SIZE		0x10000ull
#define VM_PLIC_BASE		0xc000000ull
#define VM_PLIC_SIZE		0x600000ull
#define VM_UART_BASE		0x10000000ull
#define VM_UART_SIZE		0x100ull
#define VM_UART_IRQ		10
#define VM_UART_CLOCK		3686400u
#define VM_VIRTIO_BASE		0x10001000ull
#define VM_VIRTIO_STRIDE	0x1000ull
#define VM_VIRTIO_SLOTS		8
#define VM_VIRTIO_IRQ		1	/* slot i raises source VM_VIRTIO_IRQ + i */
#define VM_DISK_SLOT		0	/* virtio-blk */
#define VM_KERNEL_OFFSET	0x200000ull	/* kernel after firmware: 0x80200000 */

#define VM_TIMEBASE_HZ		10000000ull	/* mtime: 10 MHz */
#define VM_NS_PER_TICK		100ull

/*
 * One MMIO region. Offsets passed to read/write are relative to base.
 * max_size: widest access the device handles (4 or 8); wider accesses are
 * split into naturally aligned halves by the dispatcher.
 */
struct vm_mmio_region {
	const char *name;
	uint64_t base, size;
	unsigned max_size;
	void *opaque;
	int (*read)(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val);
	int (*write)(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val);
};

/* Built-in SBI: per-hart state (sbi.c). */
struct sbi_hart {
	uint64_t timer;		/* SBI set_timer deadline (mtime), UINT64_MAX = none */
	bool timer_used;	/* STIP is driven by the SBI timer */
	bool sti;		/* level last given to IRQ_STI */
	bool nonret_suspend;	/* HSM non-retentive suspend: resume at resume_addr */
	uint64_t resume_addr, resume_opaque;
};

/* HTIF (htif.c): Spike's tohost/fromhost words, when the ELF has them. */
struct htif {
	bool on;
	uint64_t tohost, fromhost;	/* guest-physical addresses */
};

struct vm_span;	/* span.c: a VM whose harts run on several nodes */

struct vm {
	char name[64];
	struct vm_span *span;		/* NULL: the VM runs on this node alone */
	struct coh_mem *coh;		/* on one node: set once it maps another node's page (vm_coh_enter) */
	unsigned nharts;
	struct hart *harts[VM_MAX_HARTS];
	struct pmap *pmap;
	uint64_t ram_base, ram_size;
	uint64_t quantum;
	unsigned rr_next;		/* the hart whose turn it is; turns span vmm_vm_run calls */
	uint64_t quantum_left;		/* of rr_next's turn, 0 = a fresh turn */
	struct vmm_console_ops console;
	uint64_t start_ns;		/* CLOCK_MONOTONIC at mtime 0 */

	struct vm_mmio_region mmio[VM_MMIO_MAX];
	unsigned n_mmio;
	struct clint clint;
	struct plic plic;
	struct uart uart;
	struct testdev test;
	struct virtio_mmio *virtio[VM_VIRTIO_SLOTS];	/* NULL: empty slot */

	bool sbi;			/* the monitor provides SBI (S-mode boot) */
	struct sbi_hart sbi_hart[VM_MAX_HARTS];
	struct htif htif;

	uint64_t dtb_addr, dtb_size;
	uint64_t initrd_start, initrd_end;	/* 0, 0: none */

	bool exited;
	int exit_code;

	uint64_t run_ns;
	struct vmm_vm_phase phases[VM_PHASES_MAX];	/* disco SBI phase marks */
	unsigned n_phases;
};

/* vmm.h's handle is the board itself. */
struct vmm_vm {
	struct vm vm;
};

/* ---- board.c ---- */

/* Host CLOCK_MONOTONIC in ns. */
uint64_t vm_now_ns(void);
/* The guest powered off (test device, HTIF, SBI): first call wins. */
void vm_power_off(struct vm *vm, int code, const char *why);
/* Drive PLIC source irq to level (devices' interrupt lines). */
void vm_irq_set(struct vm *vm, unsigned irq, bool level);
/* True when [gpa, gpa+len) lies inside guest RAM. */
bool vm_gpa_is_ram(const struct vm *vm, uint64_t gpa, uint64_t len);
/*
 * Copy between guest RAM and the host, page by page through vm_ram_page().
 * Return 0, or -EFAULT when the range leaves RAM (nothing is copied then),
 * -ENOMEM when a page cannot be allocated.
 */
int vm_gpa_read(struct vm *vm, uint64_t gpa, void *buf, size_t len);
int vm_gpa_write(struct vm *vm, uint64_t gpa, const void *buf, size_t len);
/* Add an MMIO region (board set-up). Returns 0 or -ENOSPC. */
int vm_mmio_add(struct vm *vm, const struct vm_mmio_region *r);
/* Update MTI (CLINT) and STI (SBI timer) of hart i from the current mtime. */
void vm_timers_update(struct vm *vm, unsigned i);

/* ---- fdt.c ---- */

/*
 * board_fdt_build - the device tree of exactly this board. On success
 * *blob is malloc'd (caller frees) and *size its total size. Returns 0 or
 * -errno with a message in err.
 */
int board_fdt_build(struct vm *vm, const char *bootargs, void **blob, size_t *size,
		    char *err, size_t errlen);

/* ---- sbi.c ---- */

void sbi_init(struct vm *vm);
/* The per-hart SBI timer: level of IRQ_STI now (called by vm_timers_update). */
void sbi_timer_update(struct vm *vm, unsigned i, uint64_t mtime);
/* Before a hart's turn: complete an HSM non-retentive suspend once it woke. */
void sbi_hart_resume_check(struct vm *vm, unsigned i);

/* ---- htif.c ---- */

/* Look at tohost and act on it (exit, console, syscall proxy). */
void htif_poll(struct vm *vm);

/* ---- register access helpers for devices ---- */

/* Read `size` bytes at byte offset `off` of a little-endian 64-bit register. */
static inline uint64_t reg_read_part(uint64_t reg, unsigned off, unsigned size)
{
	uint64_t v = reg >> (8 * off);

	return size >= 8 ? v : v & ((1ull << (8 * size)) - 1);
}

/* Write `size` bytes of val at byte offset `off` of a 64-bit register. */
static inline uint64_t reg_write_part(uint64_t reg, unsigned off, unsigned size, uint64_t val)
{
	uint64_t mask = size >= 8 ? ~0ull : ((1ull << (8 * size)) - 1);

	return (reg & ~(mask << (8 * off))) | ((val & mask) << (8 * off));
}

#endif
