/*
 * test_board_harts.h — a stand-in for the CPU side of vmm/ (hart_* and
 * pmap_* of vm.h), shared by the board's unit tests (test_board.c,
 * test_loader.c, test_virtio.c).
 *
 * The board tests drive devices through vm_mmio_read/write and check what
 * reaches the harts, so they need harts that record instead of execute.
 * Every function of the CPU side that the board's objects use is defined
 * here: the linker then takes none of the CPU side's objects from the
 * static library, and the two never define the same symbol twice.
 *
 * Include it from exactly one .c file per test executable.
 */
#ifndef DISCO_TEST_BOARD_HARTS_H
#define DISCO_TEST_BOARD_HARTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/vm.h"

struct hart {
	struct vm *vm;
	unsigned id;
	enum hart_state state;
	enum priv priv;
	uint64_t x[32], pc, instret;
	uint64_t mip;			/* bits set by hart_set_irq */
	unsigned tlb_flushes, icache_flushes;
	uint64_t next_timer_ns;
	/* Scripted behaviour of hart_run: NULL retires the whole budget. */
	uint64_t (*run)(struct hart *h, uint64_t budget);
};

struct hart *hart_new(struct vm *vm, unsigned hartid)
{
	struct hart *h = calloc(1, sizeof(*h));

	if (h) {
		h->vm = vm;
		h->id = hartid;
		h->priv = PRIV_M;
		h->next_timer_ns = UINT64_MAX;
	}
	return h;
}

void hart_free(struct hart *h)
{
	free(h);
}

void hart_reset(struct hart *h, uint64_t pc, enum priv priv, uint64_t a0, uint64_t a1)
{
	memset(h->x, 0, sizeof(h->x));
	h->pc = pc;
	h->priv = priv;
	h->x[10] = a0;
	h->x[11] = a1;
	h->state = HART_RUNNING;
}

uint64_t hart_run(struct hart *h, uint64_t budget)
{
	uint64_t n;

	if (h->state != HART_RUNNING || vm_exit_requested(h->vm))
		return 0;
	n = h->run ? h->run(h, budget) : budget;
	h->instret += n;
	return n;
}

void hart_set_irq(struct hart *h, unsigned irq, bool level)
{
	if (level)
		h->mip |= 1ull << irq;
	else
		h->mip &= ~(1ull << irq);
	if (level && h->state == HART_WFI)
		h->state = HART_RUNNING;
}

enum hart_state hart_get_state(const struct hart *h) { return h->state; }
void hart_set_state(struct hart *h, enum hart_state s) { h->state = s; }
uint64_t hart_get_reg(const struct hart *h, unsigned r) { return r ? h->x[r] : 0; }
void hart_set_reg(struct hart *h, unsigned r, uint64_t v) { if (r) h->x[r] = v; }
uint64_t hart_get_pc(const struct hart *h) { return h->pc; }
void hart_set_pc(struct hart *h, uint64_t pc) { h->pc = pc; }
enum priv hart_get_priv(const struct hart *h) { return h->priv; }
uint64_t hart_instret(const struct hart *h) { return h->instret; }
uint64_t hart_next_timer_ns(const struct hart *h) { return h->next_timer_ns; }
void hart_flush_tlb(struct hart *h) { h->tlb_flushes++; }
void hart_flush_icache(struct hart *h) { h->icache_flushes++; }

struct pmap {
	struct vmm_mem_ops mem;
	uint64_t base, size, touched;
	uint8_t **pages;
};

struct pmap *pmap_new(const struct vmm_mem_ops *mem, uint64_t base, uint64_t size)
{
	struct pmap *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->mem = *mem;
	p->base = base;
	p->size = size;
	p->pages = calloc(size / VM_PAGE_SIZE, sizeof(*p->pages));
	if (!p->pages) {
		free(p);
		return NULL;
	}
	return p;
}

void pmap_free(struct pmap *p)
{
	for (uint64_t i = 0; i < p->size / VM_PAGE_SIZE; i++)
		if (p->pages[i])
			p->mem.free_page(p->mem.opaque, p->pages[i]);
	free(p->pages);
	free(p);
}

uint8_t *pmap_page(struct pmap *p, uint64_t gpa)
{
	uint64_t i;

	if (gpa < p->base || gpa - p->base >= p->size)
		return NULL;
	i = (gpa - p->base) / VM_PAGE_SIZE;
	if (!p->pages[i]) {
		p->pages[i] = p->mem.alloc_page(p->mem.opaque);
		if (p->pages[i])
			p->touched++;
	}
	return p->pages[i];
}

uint64_t pmap_pages_touched(const struct pmap *p)
{
	return p->touched;
}

/* ---- helpers for the tests ---- */

static void *t_alloc_page(void *opaque)
{
	void *p = aligned_alloc(VM_PAGE_SIZE, VM_PAGE_SIZE);

	if (p)
		memset(p, 0, VM_PAGE_SIZE);
	return p;
}

static void t_free_page(void *opaque, void *page)
{
	free(page);
}

/* Console output collected by the tests. */
struct t_console {
	char buf[65536];
	size_t len;
};

static void t_console_write(void *opaque, const char *buf, size_t len)
{
	struct t_console *c = opaque;

	if (len > sizeof(c->buf) - 1 - c->len)
		len = sizeof(c->buf) - 1 - c->len;
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->buf[c->len] = 0;
}

/* Write a temporary file; returns its path (static buffer per slot). */
static const char *t_tmpfile(unsigned slot, const void *data, size_t len)
{
	static char paths[8][64];
	char *path = paths[slot % 8];
	int fd;

	snprintf(path, 64, "/tmp/disco-board-test-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	if (len && write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
	return path;
}

static struct vmm_vm_config t_config(unsigned ncpus, uint64_t mem, const char *kernel, struct t_console *con)
{
	struct vmm_vm_config cfg = {
		.name = "t",
		.ncpus = ncpus,
		.mem_bytes = mem,
		.kernel = kernel,
		.quantum = 1000,
		.mem = { .alloc_page = t_alloc_page, .free_page = t_free_page },
		.console = { .opaque = con, .write = t_console_write },
	};
	return cfg;
}

/*
 * A minimal ELF64 executable: one PT_LOAD of `code` at paddr, entry at
 * entry, and, with syms, a symbol table defining tohost and fromhost.
 * Returns its size in buf (at least 4096 bytes).
 */
#include <elf.h>

struct t_elf {
	unsigned machine, class, type;
	uint64_t entry, paddr;
	const void *code;
	size_t code_len;
	uint64_t memsz;			/* 0: code_len */
	bool syms;
	uint64_t tohost, fromhost;
};

static __attribute__((unused)) size_t t_make_elf(uint8_t *buf, const struct t_elf *e)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + 64);
	size_t off = 128;
	static const char strtab[] = "\0tohost\0fromhost";

	memset(buf, 0, 4096);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = e->class ? e->class : ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = e->type ? e->type : ET_EXEC;
	eh->e_machine = e->machine ? e->machine : EM_RISCV;
	eh->e_version = EV_CURRENT;
	eh->e_entry = e->entry;
	eh->e_phoff = 64;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 1;
	ph->p_type = PT_LOAD;
	ph->p_flags = PF_R | PF_W | PF_X;
	ph->p_offset = off;
	ph->p_vaddr = ph->p_paddr = e->paddr;
	ph->p_filesz = e->code_len;
	ph->p_memsz = e->memsz ? e->memsz : e->code_len;
	memcpy(buf + off, e->code, e->code_len);
	off += (e->code_len + 7) & ~7ul;
	if (e->syms) {
		Elf64_Sym *sym;
		Elf64_Shdr *sh;
		size_t str_off = off, sym_off;

		memcpy(buf + off, strtab, sizeof(strtab));
		off += (sizeof(strtab) + 7) & ~7ul;
		sym_off = off;
		sym = (Elf64_Sym *)(buf + off);
		sym[1].st_name = 1;
		sym[1].st_value = e->tohost;
		sym[2].st_name = 8;
		sym[2].st_value = e->fromhost;
		off += 3 * sizeof(Elf64_Sym);
		sh = (Elf64_Shdr *)(buf + off);
		sh[1].sh_type = SHT_SYMTAB;
		sh[1].sh_offset = sym_off;
		sh[1].sh_size = 3 * sizeof(Elf64_Sym);
		sh[1].sh_link = 2;
		sh[1].sh_entsize = sizeof(Elf64_Sym);
		sh[2].sh_type = SHT_STRTAB;
		sh[2].sh_offset = str_off;
		sh[2].sh_size = sizeof(strtab);
		eh->e_shoff = off;
		eh->e_shentsize = sizeof(Elf64_Shdr);
		eh->e_shnum = 3;
		off += 3 * sizeof(Elf64_Shdr);
	}
	return off;
}

#endif
