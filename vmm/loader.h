/*
 * loader.h — internal to vmm/: putting guest images into guest RAM.
 *
 * ELF64 RISC-V executables are loaded by their PT_LOAD segments (at
 * p_paddr, as QEMU does); anything else is a raw binary loaded at the
 * address the boot rules give (board.c, docs/board.md). Every byte goes
 * through vm_ram_page(), so loading is first touch like any guest store.
 * Parts of a segment beyond p_filesz are left to the zero-on-first-touch
 * of the pmap, except the tail of the last file-backed page, which is
 * cleared: loading happens once, into fresh RAM.
 */
#ifndef DISCO_VMM_LOADER_H
#define DISCO_VMM_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

struct loader_image {
	bool elf;
	bool linux_image;	/* raw RISC-V Linux "Image" (header magic RSC\x05) */
	uint64_t entry;
	uint64_t lo, hi;	/* guest-physical range written: [lo, hi) */
	bool has_tohost;	/* the ELF defines tohost (and maybe fromhost): HTIF */
	uint64_t tohost, fromhost;
};

/*
 * loader_read_file - the whole file in a malloc'd buffer (*buf, *len).
 * Returns 0, or -errno with a message naming the file in err.
 */
int loader_read_file(const char *path, void **buf, size_t *len, char *err, size_t errlen);

/* True if buf starts with the ELF magic (it is then loaded as ELF or refused). */
bool loader_is_elf(const void *buf, size_t len);
/* True if buf is a raw RISC-V Linux kernel Image (header at offset 0). */
bool loader_is_linux_image(const void *buf, size_t len);

/*
 * loader_load_elf - load an ELF64 RISC-V executable. Refuses (-ENOEXEC,
 * message in err naming `what`) a wrong class, byte order, machine or
 * type, a truncated file, and segments outside guest RAM.
 */
int loader_load_elf(struct vm *vm, const char *what, const void *buf, size_t len,
		    struct loader_image *img, char *err, size_t errlen);

/* loader_load_raw - copy buf to guest-physical addr; -ENOEXEC if it does not fit in RAM. */
int loader_load_raw(struct vm *vm, const char *what, const void *buf, size_t len, uint64_t addr,
		    struct loader_image *img, char *err, size_t errlen);

#endif
