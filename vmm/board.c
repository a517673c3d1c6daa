/*
 * board.c — the virt-like board: VM construction, the run loop, MMIO
 * dispatch, guest-memory helpers and the clock. Implements the board half of
 * vm.h and all of vmm.h.
 *
 * Construction, in order (teardown in reverse, vm_free):
 *   RAM (pmap) -> harts -> devices and MMIO table -> images (firmware,
 *   kernel, initrd) -> device tree at the top of RAM -> boot state of harts.
 *
 * Boot rules (docs/board.md):
 *   bios given      firmware (ELF, or raw at 0x80000000) runs in M mode on
 *                   every hart; a kernel, if any, is loaded too (ELF at its
 *                   addresses, raw at 0x80200000) for the firmware to jump to.
 *   no bios, ELF    entry == 0x80000000: M mode on every hart, no SBI;
 *                   any other entry: S mode with the built-in SBI, hart 0
 *                   runs, the others wait for SBI HSM hart_start.
 *   no bios, raw    a RISC-V Linux Image goes to 0x80200000 and starts in S
 *                   mode with the built-in SBI; any other raw binary goes to
 *                   0x80000000 and starts in M mode on every hart.
 * Every started hart gets a0 = hartid, a1 = device tree address; with a
 * bios, a2 points to an OpenSBI fw_dynamic_info block (next stage at the
 * kernel's entry, S mode), so that QEMU's fw_dynamic.bin boots as well as
 * fw_jump.
 *
 * Run loop (vmm_vm_run): round robin over the harts, one quantum each; a
 * budget smaller than a quantum runs part of the current hart's quantum,
 * and the next call goes on with it. Before each turn the hart's timer
 * interrupts are brought up to date, which may wake it from WFI. HTIF's
 * tohost is polled after each turn and after MMIO writes.
 */
#include "vmm/board.h"
#include "vmm/span.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "vmm/dev_virtio_blk.h"
#include "vmm/dev_virtio_net.h"
#include "vmm/loader.h"

#define VM_DEFAULT_QUANTUM	100000ull
#define VM_MIN_RAM		(2ull << 20)
#define VM_DTB_ALIGN		(2ull << 20)	/* as QEMU */
#define VM_DTB_CAP		0xc0000000ull	/* QEMU keeps the DTB below 3 GiB */
#define VM_INITRD_OFFSET_MAX	(128ull << 20)
#define VM_NET_SLOT		1	/* virtio-net: 0x10002000, PLIC source 2 */

/* ---- time ---- */

uint64_t vm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

uint64_t vm_mtime(struct vm *vm)
{
	return (vm_now_ns() - vm->start_ns) / VM_NS_PER_TICK;
}

uint64_t vm_mtime_to_ns(struct vm *vm, uint64_t mtime)
{
	if (mtime > (UINT64_MAX - vm->start_ns) / VM_NS_PER_TICK)
		return UINT64_MAX;
	return vm->start_ns + mtime * VM_NS_PER_TICK;
}

/* ---- memory ---- */

struct pmap *vm_pmap(struct vm *vm)
{
	return vm->pmap;
}

uint8_t *vm_ram_page(struct vm *vm, uint64_t gpa)
{
	if (gpa < vm->ram_base || gpa - vm->ram_base >= vm->ram_size || vm->span)
		return NULL;	/* (a spanning VM's memory is reached through the coherence engine) */
	return pmap_page(vm->pmap, gpa);
}

uint8_t *vm_ram_page_write(struct vm *vm, uint64_t gpa)
{
	if (gpa < vm->ram_base || gpa - vm->ram_base >= vm->ram_size || vm->span)
		return NULL;
	return pmap_page_write(vm->pmap, gpa);	/* a page shared copy-on-write is copied first */
}

bool vm_gpa_is_ram(const struct vm *vm, uint64_t gpa, uint64_t len)
{
	return gpa >= vm->ram_base && gpa - vm->ram_base <= vm->ram_size &&
	       len <= vm->ram_size - (gpa - vm->ram_base);
}

static int gpa_copy(struct vm *vm, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
	uint8_t *p = buf;

	if (!vm_gpa_is_ram(vm, gpa, len))
		return -EFAULT;
	if (vm->span)
		return span_gpa_copy(vm, gpa, buf, len, to_guest);
	while (len) {
		uint64_t in_page = gpa & (VM_PAGE_SIZE - 1);
		size_t chunk = VM_PAGE_SIZE - in_page;
		uint8_t *page = to_guest ? vm_ram_page_write(vm, gpa) : vm_ram_page(vm, gpa);

		if (!page)
			return -ENOMEM;
		if (chunk > len)
			chunk = len;
		if (to_guest)
			memcpy(page + in_page, p, chunk);
		else
			memcpy(p, page + in_page, chunk);
		p += chunk;
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}

int vm_gpa_read(struct vm *vm, uint64_t gpa, void *buf, size_t len)
{
	return gpa_copy(vm, gpa, buf, len, false);
}

int vm_gpa_write(struct vm *vm, uint64_t gpa, const void *buf, size_t len)
{
	return gpa_copy(vm, gpa, (void *)buf, len, true);
}

/* ---- MMIO ---- */

int vm_mmio_add(struct vm *vm, const struct vm_mmio_region *r)
{
	if (vm->n_mmio == VM_MMIO_MAX)
		return -ENOSPC;
	vm->mmio[vm->n_mmio++] = *r;
	return 0;
}

static const struct vm_mmio_region *mmio_find(const struct vm *vm, uint64_t gpa)
{
	for (unsigned i = 0; i < vm->n_mmio; i++)
		if (gpa >= vm->mmio[i].base && gpa - vm->mmio[i].base < vm->mmio[i].size)
			return &vm->mmio[i];
	return NULL;
}

int vm_mmio_read(struct vm *vm, struct hart *h, uint64_t gpa, unsigned size, uint64_t *val)
{
	const struct vm_mmio_region *r = mmio_find(vm, gpa);
	uint64_t off, lo, hi;

	if (!r || gpa + size - r->base > r->size)
		return -1;
	if (span_forwards_mmio(vm, gpa))
		return span_mmio(vm, h, gpa, size, false, val);
	off = gpa - r->base;
	if (size <= r->max_size)
		return r->read(r->opaque, h, off, size, val);
	/* A wide access to a narrow device: two halves, low first. */
	if (r->read(r->opaque, h, off, size / 2, &lo) < 0 || r->read(r->opaque, h, off + size / 2, size / 2, &hi) < 0)
		return -1;
	*val = lo | (hi << (4 * size));
	return 0;
}

int vm_mmio_write(struct vm *vm, struct hart *h, uint64_t gpa, unsigned size, uint64_t val)
{
	const struct vm_mmio_region *r = mmio_find(vm, gpa);
	uint64_t off;
	int rc;

	if (!r || gpa + size - r->base > r->size)
		return -1;
	if (span_forwards_mmio(vm, gpa))
		return span_mmio(vm, h, gpa, size, true, &val);
	off = gpa - r->base;
	if (size <= r->max_size) {
		rc = r->write(r->opaque, h, off, size, val);
	} else {
		uint64_t mask = (1ull << (4 * size)) - 1;

		rc = r->write(r->opaque, h, off, size / 2, val & mask);
		if (rc == 0)
			rc = r->write(r->opaque, h, off + size / 2, size / 2, val >> (4 * size));
	}
	if (vm->htif.on)
		htif_poll(vm);
	return rc;
}

/* ---- interrupts, timers, power ---- */

void vm_irq_set(struct vm *vm, unsigned irq, bool level)
{
	plic_set_irq(&vm->plic, irq, level);
}

void vm_timers_update(struct vm *vm, unsigned i)
{
	uint64_t now = vm_mtime(vm);

	clint_timer_update(&vm->clint, i, now);
	if (vm->sbi)
		sbi_timer_update(vm, i, now);
	hart_poll_timer(vm->harts[i]);	/* the hart's own Sstc timer */
}

void vm_power_off(struct vm *vm, int code, const char *why)
{
	if (vm->exited)
		return;
	vm->exited = true;
	vm->exit_code = code;
	LOG(SUB_VMM, LOG_INFO, "%s: guest powered off (%s), exit code %d", vm->name, why, code);
	span_power_off(vm);
}

bool vm_exit_requested(const struct vm *vm)
{
	return vm->exited;
}

/* ---- construction ---- */

static void vm_free(struct vm *vm)
{
	for (unsigned i = 0; i < VM_VIRTIO_SLOTS; i++)
		virtio_mmio_free(vm->virtio[i]);
	for (unsigned i = 0; i < vm->nharts; i++)
		if (vm->harts[i])
			hart_free(vm->harts[i]);
	span_free(vm);
	if (vm->pmap)
		pmap_free(vm->pmap);
	free(vm);
}

static int board_devices(struct vm *vm, const struct vmm_vm_config *cfg, char *err, size_t errlen)
{
	const struct vm_mmio_region regions[] = {
		{ "test", VM_TEST_BASE, VM_TEST_SIZE, 4, &vm->test, testdev_read, testdev_write },
		{ "clint", VM_CLINT_BASE, VM_CLINT_SIZE, 8, &vm->clint, clint_read, clint_write },
		{ "plic", VM_PLIC_BASE, VM_PLIC_SIZE, 4, &vm->plic, plic_read, plic_write },
		{ "uart", VM_UART_BASE, VM_UART_SIZE, 1, &vm->uart, uart_read, uart_write },
	};

	clint_init(&vm->clint, vm, vm->nharts);
	plic_init(&vm->plic, vm, vm->nharts);
	uart_init(&vm->uart, vm, VM_UART_IRQ);
	testdev_init(&vm->test, vm);
	for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
		BUG_ON(vm_mmio_add(vm, &regions[i]) < 0);
	if (cfg->disk && cfg->disk[0]) {
		struct blk_backend be;

		if (blk_backend_open(cfg, &be, err, errlen) < 0)	/* vdisk: cfg->disk_cfg says how */
			return -EINVAL;
		/* Slot 0 (0x10001000, source 1): where xv6 and QEMU's virtio-mmio-bus.0 have it. */
		vm->virtio[VM_DISK_SLOT] = virtio_blk_new(vm, VM_VIRTIO_IRQ + VM_DISK_SLOT, &be, vm->name,
							  err, errlen);
		if (!vm->virtio[VM_DISK_SLOT])
			return -EINVAL;
	}
	if (cfg->nic.on) {
		vm->virtio[VM_NET_SLOT] = virtio_net_new(vm, VM_VIRTIO_IRQ + VM_NET_SLOT, &cfg->nic, err, errlen);
		if (!vm->virtio[VM_NET_SLOT])
			return -EINVAL;
	}
	for (unsigned i = 0; i < VM_VIRTIO_SLOTS; i++) {
		struct vm_mmio_region r = {
			"virtio", VM_VIRTIO_BASE + i * VM_VIRTIO_STRIDE, VM_VIRTIO_STRIDE, 4,
			vm->virtio[i], virtio_mmio_read, virtio_mmio_write,
		};

		BUG_ON(vm_mmio_add(vm, &r) < 0);
	}
	return 0;
}

/* Load one image file: ELF at its addresses, raw at raw_addr. */
static int load_image(struct vm *vm, const char *what, const char *path, uint64_t raw_addr,
		      bool raw_linux_at_kernel, struct loader_image *img, char *err, size_t errlen)
{
	char label[256];
	void *buf;
	size_t len;
	int r;

	snprintf(label, sizeof(label), "%s %s", what, path);
	r = loader_read_file(path, &buf, &len, err, errlen);
	if (r < 0)
		return r;
	if (loader_is_elf(buf, len)) {
		r = loader_load_elf(vm, label, buf, len, img, err, errlen);
	} else {
		if (raw_linux_at_kernel && loader_is_linux_image(buf, len))
			raw_addr = vm->ram_base + VM_KERNEL_OFFSET;
		r = loader_load_raw(vm, label, buf, len, raw_addr, img, err, errlen);
	}
	free(buf);
	return r;
}

static bool overlaps(uint64_t a_lo, uint64_t a_hi, uint64_t b_lo, uint64_t b_hi)
{
	return a_lo < b_hi && b_lo < a_hi;
}

/*
 * OpenSBI's fw_dynamic hand-off (include/sbi/fw_dynamic.h), as QEMU gives
 * it in a2: where the next stage is and in which mode. fw_jump and other
 * firmware ignore a2. Placed just below the device tree.
 */
#define FW_DYNAMIC_MAGIC	0x4942534full	/* "OSBI" */
#define REG_A1			11
#define REG_A2			12

static int fw_dynamic_info_place(struct vm *vm, uint64_t next, uint64_t used_hi, uint64_t *addr,
				 char *err, size_t errlen)
{
	const uint64_t info[6] = {
		FW_DYNAMIC_MAGIC, 2, next, 1 /* S mode */, 0 /* options */, 0 /* boot hart */,
	};
	uint64_t at = (vm->dtb_addr - sizeof(info)) & ~63ull;

	if (at < used_hi || vm_gpa_write(vm, at, info, sizeof(info)) < 0) {
		snprintf(err, errlen, "guest RAM too small for the firmware hand-off block");
		return -ENOSPC;
	}
	*addr = at;
	return 0;
}

/*
 * Load firmware, kernel and initrd, build and place the device tree, and
 * put the harts in their boot state.
 */
static int board_boot(struct vm *vm, const struct vmm_vm_config *cfg, char *err, size_t errlen)
{
	struct loader_image fw = {0}, kern = {0}, rd = {0};
	const struct loader_image *htif_img = NULL;
	uint64_t base = vm->ram_base, end = vm->ram_base + vm->ram_size;
	uint64_t entry, used_hi, kbase, top, dtb, fw_info = 0;
	enum priv priv = PRIV_M;
	bool have_kernel = cfg->kernel && cfg->kernel[0];
	void *blob = NULL;
	size_t blob_size;
	int r;

	if (cfg->bios && cfg->bios[0]) {
		r = load_image(vm, "bios", cfg->bios, base, false, &fw, err, errlen);
		if (r < 0)
			return r;
		if (have_kernel) {
			r = load_image(vm, "kernel", cfg->kernel, base + VM_KERNEL_OFFSET, false, &kern, err, errlen);
			if (r < 0)
				return r;
			if (overlaps(fw.lo, fw.hi, kern.lo, kern.hi)) {
				snprintf(err, errlen, "kernel %s (%#llx..%#llx) overlaps the bios %s (%#llx..%#llx)",
					 cfg->kernel, (unsigned long long)kern.lo, (unsigned long long)kern.hi,
					 cfg->bios, (unsigned long long)fw.lo, (unsigned long long)fw.hi);
				return -EINVAL;
			}
		}
		entry = fw.entry;
		htif_img = fw.has_tohost ? &fw : NULL;
	} else {
		if (!have_kernel) {
			snprintf(err, errlen, "no kernel given (and no bios)");
			return -EINVAL;
		}
		r = load_image(vm, "kernel", cfg->kernel, base, true, &kern, err, errlen);
		if (r < 0)
			return r;
		entry = kern.entry;
		if (entry != base)
			priv = PRIV_S;
		htif_img = kern.has_tohost ? &kern : NULL;
	}
	if (!vm_gpa_is_ram(vm, entry, 4)) {
		snprintf(err, errlen, "entry point %#llx is outside guest RAM", (unsigned long long)entry);
		return -EINVAL;
	}
	if (htif_img) {
		vm->htif.on = true;
		vm->htif.tohost = htif_img->tohost;
		vm->htif.fromhost = htif_img->fromhost;
	}
	vm->sbi = priv == PRIV_S;
	used_hi = fw.hi > kern.hi ? fw.hi : kern.hi;

	if (cfg->initrd && cfg->initrd[0]) {
		void *buf;
		size_t len;
		char label[256];

		/* As QEMU: the kernel's start plus half of RAM, at most 128 MiB, past the kernel. */
		kbase = have_kernel ? kern.lo : base + VM_KERNEL_OFFSET;
		top = kbase + (vm->ram_size / 2 < VM_INITRD_OFFSET_MAX ? vm->ram_size / 2 : VM_INITRD_OFFSET_MAX);
		if (top < used_hi)
			top = used_hi;
		top = (top + VM_PAGE_SIZE - 1) & ~(VM_PAGE_SIZE - 1);
		r = loader_read_file(cfg->initrd, &buf, &len, err, errlen);
		if (r < 0)
			return r;
		snprintf(label, sizeof(label), "initrd %s", cfg->initrd);
		r = loader_load_raw(vm, label, buf, len, top, &rd, err, errlen);
		free(buf);
		if (r < 0)
			return r;
		vm->initrd_start = rd.lo;
		vm->initrd_end = rd.hi;
		used_hi = rd.hi;
	}

	r = board_fdt_build(vm, cfg->append, &blob, &blob_size, err, errlen);
	if (r < 0)
		return r;
	top = end < VM_DTB_CAP ? end : VM_DTB_CAP;
	dtb = (top - blob_size) & ~(VM_DTB_ALIGN - 1);
	if (top < blob_size || dtb < used_hi || dtb < base)
		dtb = (top - blob_size) & ~(VM_PAGE_SIZE - 1);
	if (top < blob_size || dtb < used_hi || dtb < base) {
		snprintf(err, errlen, "guest RAM (%llu MiB) too small for the images and the device tree",
			 (unsigned long long)(vm->ram_size >> 20));
		free(blob);
		return -ENOSPC;
	}
	r = vm_gpa_write(vm, dtb, blob, blob_size);
	free(blob);
	if (r < 0) {
		snprintf(err, errlen, "out of machine memory placing the device tree");
		return r;
	}
	vm->dtb_addr = dtb;
	vm->dtb_size = blob_size;

	if (cfg->bios && cfg->bios[0]) {
		r = fw_dynamic_info_place(vm, have_kernel ? kern.entry : base + VM_KERNEL_OFFSET, used_hi,
					  &fw_info, err, errlen);
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < vm->nharts; i++) {
		hart_reset(vm->harts[i], entry, priv, i, dtb);
		if (fw_info)
			hart_set_reg(vm->harts[i], REG_A2, fw_info);
		hart_set_state(vm->harts[i], priv == PRIV_S && i != 0 ? HART_STOPPED : HART_RUNNING);
	}
	LOG(SUB_VMM, LOG_INFO, "%s: boot at %#llx in %s mode%s, dtb at %#llx%s", vm->name,
	    (unsigned long long)entry, priv == PRIV_S ? "S" : "M", vm->sbi ? " with the built-in SBI" : "",
	    (unsigned long long)dtb, vm->htif.on ? ", HTIF on" : "");
	return 0;
}

struct vmm_vm *vmm_vm_create(const struct vmm_vm_config *cfg, char *err, size_t errlen)
{
	struct vmm_vm *handle;
	struct vm *vm;

	if (cfg->ncpus == 0 || cfg->ncpus > VM_MAX_HARTS) {
		snprintf(err, errlen, "%u harts: a VM has 1 to %u", cfg->ncpus, VM_MAX_HARTS);
		return NULL;
	}
	if (cfg->mem_bytes < VM_MIN_RAM || cfg->mem_bytes % VM_PAGE_SIZE ||
	    cfg->mem_bytes > (1ull << 40)) {
		snprintf(err, errlen, "guest memory of %llu bytes: use a multiple of 4 KiB from 2 MiB to 1 TiB",
			 (unsigned long long)cfg->mem_bytes);
		return NULL;
	}
	if (!cfg->mem.alloc_page) {
		snprintf(err, errlen, "no machine memory allocator");
		return NULL;
	}
	handle = calloc(1, sizeof(*handle));
	if (!handle) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vm = &handle->vm;
	snprintf(vm->name, sizeof(vm->name), "%s", cfg->name ? cfg->name : "vm");
	vm->ram_base = VM_RAM_BASE;
	vm->ram_size = cfg->mem_bytes;
	vm->quantum = cfg->quantum ? cfg->quantum : VM_DEFAULT_QUANTUM;
	vm->console = cfg->console;
	vm->start_ns = vm_now_ns();

	vm->pmap = pmap_new(&cfg->mem, vm->ram_base, vm->ram_size);
	if (!vm->pmap) {
		snprintf(err, errlen, "cannot create the guest-physical map");
		goto fail;
	}
	for (unsigned i = 0; i < cfg->ncpus; i++) {
		vm->harts[i] = hart_new(vm, i);
		if (!vm->harts[i]) {
			snprintf(err, errlen, "cannot create hart %u", i);
			goto fail;
		}
		vm->nharts = i + 1;
	}
	if (cfg->span && span_create(vm, cfg->span, &cfg->mem, err, errlen) < 0)
		goto fail;
	if (board_devices(vm, cfg, err, errlen) < 0)
		goto fail;
	sbi_init(vm);
	if (!span_is_home(vm)) {
		/* the home node loads the images; harts here start when it says where (vmm_vm_start) */
		for (unsigned i = 0; i < vm->nharts; i++)
			hart_set_state(vm->harts[i], HART_STOPPED);
	} else if (board_boot(vm, cfg, err, errlen) < 0) {
		goto fail;
	}
	span_boot_done(vm);
	return handle;
fail:
	vm_free(vm);
	return NULL;
}

void vmm_vm_destroy(struct vmm_vm *v)
{
	if (v)
		vm_free(&v->vm);
}

/* ---- running ---- */

enum vmm_status vmm_vm_run(struct vmm_vm *v, uint64_t budget)
{
	struct vm *vm = &v->vm;
	uint64_t t0 = vm_now_ns();
	bool ran = true;

	span_serve(vm);		/* home: MMIO that harts on other nodes sent */
	span_policy(vm);	/* the NUMA policy: look at this node's pages, copy pages moved here */
	if (vm->span) {
		/*
		 * A hart whose stall ended goes first: the engine holds its line
		 * for that one retry, and the quantum of a hart spinning on a
		 * lock would otherwise keep the line (and the lock's holder) waiting.
		 */
		for (unsigned i = 0; i < vm->nharts; i++) {
			if (!hart_is_shadow(vm->harts[i]) && hart_take_woke(vm->harts[i])) {
				vm->rr_next = i;
				vm->quantum_left = 0;
				break;
			}
		}
	}
	while (budget && ran && !vm->exited) {
		ran = false;
		/*
		 * The node calls with a small budget (its fabric poll interval),
		 * so a hart's turn (a quantum) usually spans several calls: the
		 * turn and its remainder live in the VM, or hart 0 alone would run.
		 */
		for (unsigned k = 0; k < vm->nharts && budget && !vm->exited; k++) {
			unsigned i = vm->rr_next;
			struct hart *h = vm->harts[i];
			uint64_t q, n, used;

			if (hart_is_shadow(h)) {	/* it runs on another node */
				vm->rr_next = (i + 1) % vm->nharts;
				vm->quantum_left = 0;
				continue;
			}
			if (hart_get_state(h) != HART_STOPPED) {
				vm_timers_update(vm, i);
				if (vm->sbi)
					sbi_hart_resume_check(vm, i);
			}
			if (hart_get_state(h) != HART_RUNNING || hart_stalled(h)) {
				vm->rr_next = (i + 1) % vm->nharts;
				vm->quantum_left = 0;
				continue;
			}
			if (!vm->quantum_left)
				vm->quantum_left = vm->quantum;
			q = vm->quantum_left < budget ? vm->quantum_left : budget;
			n = hart_run(h, q);
			/* Count at least one so that a hart making no progress cannot spin forever here. */
			used = n == 0 ? 1 : (n < q ? n : q);
			budget -= used;
			vm->quantum_left -= used;
			ran = true;
			if (vm->htif.on)
				htif_poll(vm);
			if (vm->quantum_left == 0 || hart_get_state(h) != HART_RUNNING || hart_stalled(h)) {
				vm->rr_next = (i + 1) % vm->nharts;
				vm->quantum_left = 0;
			}
		}
	}
	vm->run_ns += vm_now_ns() - t0;
	if (vm->exited)
		return VMM_EXITED;
	for (unsigned i = 0; i < vm->nharts; i++) {
		if (hart_is_shadow(vm->harts[i]))
			continue;
		vm_timers_update(vm, i);
		if (hart_get_state(vm->harts[i]) == HART_RUNNING && !hart_stalled(vm->harts[i]))
			return VMM_RUNNING;
	}
	return VMM_IDLE;	/* (stalled harts wake when their message arrives: vmm_vm_next_event_ns says 0) */
}

uint64_t vmm_vm_next_event_ns(const struct vmm_vm *v)
{
	struct vm *vm = (struct vm *)&v->vm;	/* reads only; vm_mtime_to_ns() takes no const */
	uint64_t next = UINT64_MAX;

	/*
	 * A deadline counts until its interrupt has been given to the hart,
	 * even if it is already past: the caller must run the VM once more so
	 * that vm_timers_update() delivers it. Once delivered it no longer
	 * counts, so a hart that masks the interrupt does not make its caller
	 * spin.
	 */
	if (span_ready(vm))
		return 0;	/* a hart woke from a stall, or forwarded MMIO waits */
	for (unsigned i = 0; vm->coh && i < vm->nharts; i++)
		if (hart_get_state(vm->harts[i]) == HART_RUNNING && !hart_stalled(vm->harts[i]))
			return 0;	/* on one node, reading other nodes' pages: a hart woke from a miss */
	next = span_next_event_ns(vm);	/* vCPU balancing: report the load, decide */
	for (unsigned i = 0; i < vm->nharts; i++) {
		uint64_t t;

		if (hart_get_state(vm->harts[i]) == HART_STOPPED || hart_is_shadow(vm->harts[i]))
			continue;
		t = vm->clint.mtimecmp[i];
		if (t != UINT64_MAX && !vm->clint.mtip[i] && vm_mtime_to_ns(vm, t) < next)
			next = vm_mtime_to_ns(vm, t);
		if (vm->sbi && vm->sbi_hart[i].timer_used && !vm->sbi_hart[i].sti) {
			t = vm->sbi_hart[i].timer;
			if (t != UINT64_MAX && vm_mtime_to_ns(vm, t) < next)
				next = vm_mtime_to_ns(vm, t);
		}
		t = hart_next_timer_ns(vm->harts[i]);	/* Sstc: UINT64_MAX once pending */
		if (t < next)
			next = t;
	}
	return next;
}

void vmm_vm_console_input(struct vmm_vm *v, const char *buf, size_t len)
{
	struct vm *vm = &v->vm;
	size_t n = uart_rx_push(&vm->uart, buf, len);

	if (n < len)
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: console input: UART receive FIFO full, %zu bytes dropped",
				vm->name, len - n);
}

void vmm_vm_nic_kick(struct vmm_vm *v)
{
	struct virtio_mmio *net = v->vm.virtio[VM_NET_SLOT];

	if (net && net->ops->device_id == VIRTIO_ID_NET)
		virtio_net_kick(net);
}

bool vmm_vm_nic_stats(const struct vmm_vm *v, struct vmm_nic_stats *st)
{
	const struct virtio_mmio *net = v->vm.virtio[VM_NET_SLOT];

	memset(st, 0, sizeof(*st));
	if (!net || net->ops->device_id != VIRTIO_ID_NET)
		return false;
	virtio_net_get_stats(net, st);
	return true;
}

int vmm_vm_exit_code(const struct vmm_vm *v)
{
	return v->vm.exit_code;
}

void vmm_vm_get_stats(const struct vmm_vm *v, struct vmm_vm_stats *st)
{
	const struct vm *vm = &v->vm;

	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < vm->nharts; i++) {
		struct hart_stats hs;

		hart_get_stats(vm->harts[i], &hs);
		st->instret += hart_instret_here(vm->harts[i]);	/* a hart that moved counts where it ran */
		st->tlb_misses += hs.tlb_misses;
		st->stall_local_ns += hs.stall_local_ns;
		st->stall_remote_ns += hs.stall_remote_ns;
		st->stall_monitor_ns += hs.stall_monitor_ns;
		st->exceptions += hs.exceptions;
		st->interrupts += hs.interrupts;
	}
	st->run_ns = vm->run_ns;
	st->pages_touched = vm->span ? span_pages_here(vm) : pmap_pages_touched(vm->pmap);
}

void vmm_vm_handle_msg(struct vmm_vm *v, unsigned src, unsigned type, const void *payload, size_t len)
{
	span_handle(&v->vm, src, type, payload, len);
}

void vmm_vm_line_lost(struct vmm_vm *v, uint64_t line)
{
	span_line_lost(&v->vm, line);
}

void vmm_vm_start(struct vmm_vm *v)
{
	struct vm *vm = &v->vm;

	if (!vm->span || !span_is_home(vm))
		return;
	for (unsigned i = 0; i < vm->nharts; i++) {
		struct hart *h = vm->harts[i];

		if (hart_is_shadow(h))
			span_boot_hart(vm, i, hart_get_pc(h), hart_get_priv(h), hart_get_reg(h, REG_A1),
				       hart_get_reg(h, REG_A2), hart_get_state(h));
	}
}

bool vmm_vm_is_home(const struct vmm_vm *v)
{
	return span_is_home(&v->vm);
}

unsigned vmm_vm_local_harts(const struct vmm_vm *v)
{
	unsigned k = 0;

	for (unsigned i = 0; i < v->vm.nharts; i++)
		k += !hart_is_shadow(v->vm.harts[i]);
	return k;
}

unsigned vmm_vm_runnable_harts(const struct vmm_vm *v)
{
	unsigned k = 0;

	for (unsigned i = 0; i < v->vm.nharts; i++)
		k += !hart_is_shadow(v->vm.harts[i]) && hart_get_state(v->vm.harts[i]) == HART_RUNNING;
	return k;
}

void vmm_vm_get_span_stats(const struct vmm_vm *v, struct vmm_span_stats *st)
{
	span_get_stats(&v->vm, st);
}

size_t vmm_vm_local_pages(const struct vmm_vm *v, uint64_t *gpa, uint64_t *maddr, size_t max)
{
	return span_local_pages(&v->vm, gpa, maddr, max);
}

size_t vmm_vm_get_phases(const struct vmm_vm *v, struct vmm_vm_phase *out, size_t max)
{
	const struct vm *vm = &v->vm;

	for (size_t i = 0; i < max && i < vm->n_phases; i++)
		out[i] = vm->phases[i];
	return vm->n_phases;
}
