/*
 * fuzz_cpu.c — libFuzzer target: random instruction words on one hart.
 *
 * Not part of the CMake build (it needs clang's -fsanitize=fuzzer); build
 * and run with tests/fuzz/run.sh. The input is: one byte of mode
 * (M, S or U, and whether paging is on), 31 register values, then
 * instruction words placed at the start of RAM, which is also where every
 * trap vector points, so traps re-enter the fuzzed code. Every exception
 * is a guest exception: the process must never crash, hang or trip a
 * sanitizer. A small fake board (as in tests/unit/test_cpu.c) gives RAM at
 * 0x80000000, one MMIO register page and an SBI hook that sometimes
 * handles ECALLs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/cpu.h"

#define F_RAM		0x80000000ull
#define F_RAM_SIZE	(1ull << 20)
#define F_DEV		0x10000000ull

struct vm {
	struct pmap *pmap;
	uint64_t mtime;
	bool exit;
	uint64_t reg;
};

struct pmap *vm_pmap(struct vm *vm) { return vm->pmap; }
uint8_t *vm_ram_page(struct vm *vm, uint64_t gpa) { return pmap_page(vm->pmap, gpa); }

int vm_mmio_read(struct vm *vm, struct hart *h, uint64_t gpa, unsigned size, uint64_t *val)
{
	(void)h;
	if (gpa < F_DEV || gpa >= F_DEV + 0x1000 || (gpa & (size - 1)))
		return -1;
	*val = vm->reg;
	return 0;
}

int vm_mmio_write(struct vm *vm, struct hart *h, uint64_t gpa, unsigned size, uint64_t val)
{
	(void)h;
	if (gpa < F_DEV || gpa >= F_DEV + 0x1000 || (gpa & (size - 1)))
		return -1;
	if (gpa == F_DEV + 8)
		vm->exit = true;
	vm->reg = val;
	return 0;
}

uint64_t vm_mtime(struct vm *vm) { return vm->mtime += 7; }
uint64_t vm_mtime_to_ns(struct vm *vm, uint64_t mtime) { (void)vm; return mtime * 100; }

bool vm_sbi_ecall(struct vm *vm, struct hart *h)
{
	(void)vm;
	if (hart_get_reg(h, 17) & 1)
		return false;
	hart_set_reg(h, 10, 0);
	return true;
}

bool vm_exit_requested(const struct vm *vm) { return vm->exit; }

/* one node: no coherent memory, no shadows (never called with h->coh NULL) */
uint8_t *vm_ram_page_write(struct vm *vm, uint64_t gpa) { return pmap_page_write(vm->pmap, gpa); }
int vm_ram_maddr(struct vm *vm, struct hart *h, uint64_t gpa, bool write, uint64_t *maddr)
{ (void)vm; (void)h; (void)gpa; (void)write; (void)maddr; return -1; }
void vm_code_changed(struct vm *vm, uint64_t gpa) { (void)vm; (void)gpa; }
void vm_direct_drop(struct vm *vm, uint64_t gpa) { (void)vm; (void)gpa; }
void vm_flush_forward(struct vm *vm, unsigned hartid, bool icache) { (void)vm; (void)hartid; (void)icache; }
void vm_irq_forward(struct vm *vm, unsigned hartid, unsigned irq, bool level)
{ (void)vm; (void)hartid; (void)irq; (void)level; }
unsigned coh_mem_line_size(const struct coh_mem *m) { (void)m; return 64; }
void *coh_mem_base(const struct coh_mem *m) { (void)m; return NULL; }
int coh_mem_get(struct coh_mem *m, coh_maddr_t a, int mode, void **ptr, struct coh_req *req)
{ (void)m; (void)a; (void)mode; (void)ptr; (void)req; return -1; }

static void *f_alloc(void *o)
{
	(void)o;
	return calloc(1, 4096);
}

static void f_free(void *o, void *p)
{
	(void)o;
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum priv modes[4] = { PRIV_M, PRIV_S, PRIV_U, PRIV_S };
	struct vmm_mem_ops ops = { .alloc_page = f_alloc, .free_page = f_free };
	struct vm vm = { 0 };
	struct hart *h;
	uint8_t mode;

	if (size < 1 + 31 * 8 + 4)
		return 0;
	vm.pmap = pmap_new(&ops, F_RAM, F_RAM_SIZE);
	h = hart_new(&vm, 0);
	mode = data[0];
	data++, size--;
	hart_reset(h, F_RAM, modes[mode & 3], 0, 0);
	for (unsigned r = 1; r < 32; r++) {
		uint64_t v;
		memcpy(&v, data, 8);
		/* half the registers point into RAM, so loads and stores hit */
		if ((mode >> 2) & 1 && (r & 1))
			v = F_RAM + (v & (F_RAM_SIZE - 1));
		hart_set_reg(h, r, v);
		data += 8, size -= 8;
	}
	if (size > F_RAM_SIZE)
		size = F_RAM_SIZE;
	memcpy(pmap_page(vm.pmap, F_RAM), data, size < 4096 ? size : 4096);
	if (size > 4096)
		memcpy(pmap_page(vm.pmap, F_RAM + 4096), data + 4096, size - 4096 < 4096 ? size - 4096 : 4096);
	h->mtvec = F_RAM | ((mode >> 3) & 1);
	h->stvec = F_RAM + 64;
	if (mode & 0x10) {	/* identity Sv39 gigapage over RAM + the device, tables in RAM */
		uint8_t *pt = pmap_page(vm.pmap, F_RAM + 0xf0000);
		uint64_t pte_ram = ((F_RAM >> 12) << 10) | 0xdf, pte_dev = 0 | 0xcf;
		memcpy(pt + 2 * 8, &pte_ram, 8);
		memcpy(pt + 0 * 8, &pte_dev, 8);
		h->satp = (8ull << 60) | ((F_RAM + 0xf0000) >> 12);
		tlb_flush_all(h);
	}
	if (mode & 0x20)
		hart_flush_icache(h);
	for (unsigned k = 0; k < 8; k++) {
		if (hart_get_state(h) == HART_WFI) {
			hart_set_irq(h, IRQ_MTI, true);
			hart_set_irq(h, IRQ_SEI, (k & 1) != 0);
		}
		if (hart_get_state(h) == HART_STOPPED)
			break;
		vm.exit = false;
		hart_run(h, 2000);
	}
	hart_free(h);
	pmap_free(vm.pmap);
	return 0;
}
