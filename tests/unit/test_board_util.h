/*
 * test_board_util.h — helpers shared by the board's unit tests: machine
 * memory from malloc, a console that collects output, temporary image
 * files, a VM configuration, and a minimal ELF64 writer.
 *
 * Include it from exactly one .c file per test executable (directly, or
 * through test_board_harts.h).
 */
#ifndef DISCO_TEST_BOARD_UTIL_H
#define DISCO_TEST_BOARD_UTIL_H

#include <elf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/vmm.h"
#include "vmm/vm.h"

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
