/*
 * loader.c — ELF64 RISC-V and raw images into guest RAM (see loader.h).
 *
 * Every header field is checked against the file size before use: a
 * truncated or hostile image gets a message, never an out-of-bounds read.
 * The symbol table, when present, is searched for `tohost` and `fromhost`
 * (Spike's HTIF words, used by riscv-tests and many bare-metal programs).
 */
#include "vmm/loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/board.h"

#define LOADER_MAX_FILE		(1ull << 32)	/* 4 GiB: larger images are refused */

int loader_read_file(const char *path, void **bufp, size_t *lenp, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t done = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > LOADER_MAX_FILE || st.st_size == 0) {
		snprintf(err, errlen, "%s: %s", path, st.st_size ? "larger than 4 GiB" : "empty file");
		r = -EINVAL;
		goto out;
	}
	buf = malloc(st.st_size);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory reading %lld bytes", path, (long long)st.st_size);
		r = -ENOMEM;
		goto out;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "%s: read failed: %s", path, n < 0 ? strerror(errno) : "short file");
			free(buf);
			buf = NULL;
			goto out;
		}
		done += n;
	}
	*bufp = buf;
	*lenp = done;
	r = 0;
out:
	close(fd);
	return r;
}

bool loader_is_elf(const void *buf, size_t len)
{
	return len >= SELFMAG && memcmp(buf, ELFMAG, SELFMAG) == 0;
}

bool loader_is_linux_image(const void *buf, size_t len)
{
	/* riscv Image header: magic2 "RSC\x05" at offset 56 (magic "RISCV\0\0\0" at 48 is deprecated). */
	return len >= 64 && (memcmp((const uint8_t *)buf + 56, "RSC\x05", 4) == 0 ||
			     memcmp((const uint8_t *)buf + 48, "RISCV\0\0\0", 8) == 0);
}

/* Copy len bytes to guest-physical gpa (already checked to be RAM). */
static int copy_in(struct vm *vm, uint64_t gpa, const void *src, size_t len)
{
	return vm_gpa_write(vm, gpa, src, len);
}

static void span_add(struct loader_image *img, uint64_t lo, uint64_t hi)
{
	if (img->lo == img->hi) {
		img->lo = lo;
		img->hi = hi;
		return;
	}
	if (lo < img->lo)
		img->lo = lo;
	if (hi > img->hi)
		img->hi = hi;
}

int loader_load_raw(struct vm *vm, const char *what, const void *buf, size_t len, uint64_t addr,
		    struct loader_image *img, char *err, size_t errlen)
{
	memset(img, 0, sizeof(*img));
	if (!vm_gpa_is_ram(vm, addr, len)) {
		snprintf(err, errlen, "%s: %zu bytes at %#llx do not fit in guest RAM [%#llx, %#llx)",
			 what, len, (unsigned long long)addr, (unsigned long long)vm->ram_base,
			 (unsigned long long)(vm->ram_base + vm->ram_size));
		return -ENOEXEC;
	}
	if (copy_in(vm, addr, buf, len) < 0) {
		snprintf(err, errlen, "%s: out of machine memory while loading", what);
		return -ENOMEM;
	}
	img->entry = addr;
	img->lo = addr;
	img->hi = addr + len;
	img->linux_image = loader_is_linux_image(buf, len);
	return 0;
}

static void find_htif(const uint8_t *b, size_t len, const Elf64_Ehdr *eh, struct loader_image *img)
{
	const Elf64_Shdr *sh;

	if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff > len || (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len - eh->e_shoff)
		return;
	sh = (const Elf64_Shdr *)(b + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		const Elf64_Shdr *st = &sh[i], *str;
		const Elf64_Sym *sym;
		uint64_t nsym;

		if (st->sh_type != SHT_SYMTAB || st->sh_link >= eh->e_shnum)
			continue;
		str = &sh[st->sh_link];
		if (st->sh_offset > len || st->sh_size > len - st->sh_offset ||
		    str->sh_offset > len || str->sh_size > len - str->sh_offset)
			continue;
		sym = (const Elf64_Sym *)(b + st->sh_offset);
		nsym = st->sh_size / sizeof(Elf64_Sym);
		for (uint64_t j = 0; j < nsym; j++) {
			const char *name;
			size_t max;

			if (sym[j].st_name >= str->sh_size)
				continue;
			name = (const char *)b + str->sh_offset + sym[j].st_name;
			max = str->sh_size - sym[j].st_name;
			if (strnlen(name, max) == max)
				continue;
			if (strcmp(name, "tohost") == 0) {
				img->has_tohost = true;
				img->tohost = sym[j].st_value;
			} else if (strcmp(name, "fromhost") == 0) {
				img->fromhost = sym[j].st_value;
			}
		}
	}
}

int loader_load_elf(struct vm *vm, const char *what, const void *buf, size_t len,
		    struct loader_image *img, char *err, size_t errlen)
{
	const uint8_t *b = buf;
	const Elf64_Ehdr *eh = buf;
	const Elf64_Phdr *ph;
	unsigned nload = 0;

	memset(img, 0, sizeof(*img));
	img->elf = true;
	if (len < EI_NIDENT || memcmp(b, ELFMAG, SELFMAG) != 0) {
		snprintf(err, errlen, "%s: not an ELF file", what);
		return -ENOEXEC;
	}
	if (b[EI_CLASS] != ELFCLASS64) {
		snprintf(err, errlen, "%s: not a 64-bit ELF (ELF class %u): disco runs RV64 guests", what, b[EI_CLASS]);
		return -ENOEXEC;
	}
	if (len < sizeof(Elf64_Ehdr)) {
		snprintf(err, errlen, "%s: truncated ELF header (%zu bytes)", what, len);
		return -ENOEXEC;
	}
	if (b[EI_DATA] != ELFDATA2LSB) {
		snprintf(err, errlen, "%s: big-endian ELF: RISC-V is little-endian", what);
		return -ENOEXEC;
	}
	if (eh->e_machine != EM_RISCV) {
		snprintf(err, errlen, "%s: ELF machine %u is not RISC-V (%u)", what, eh->e_machine, EM_RISCV);
		return -ENOEXEC;
	}
	if (eh->e_type != ET_EXEC) {
		snprintf(err, errlen, "%s: ELF type %u is not an executable (ET_EXEC): link it at a fixed address",
			 what, eh->e_type);
		return -ENOEXEC;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > len ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff) {
		snprintf(err, errlen, "%s: truncated ELF: program headers past the end of the file", what);
		return -ENOEXEC;
	}
	ph = (const Elf64_Phdr *)(b + eh->e_phoff);
	/* Check every segment before writing any. */
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		if (ph[i].p_filesz > ph[i].p_memsz || ph[i].p_offset > len || ph[i].p_filesz > len - ph[i].p_offset) {
			snprintf(err, errlen, "%s: truncated ELF: segment %u (%#llx bytes at file offset %#llx) "
				 "past the end of the file (%zu bytes)", what, i, (unsigned long long)ph[i].p_filesz,
				 (unsigned long long)ph[i].p_offset, len);
			return -ENOEXEC;
		}
		if (!vm_gpa_is_ram(vm, ph[i].p_paddr, ph[i].p_memsz)) {
			snprintf(err, errlen, "%s: segment %u at %#llx..%#llx is outside guest RAM [%#llx, %#llx)",
				 what, i, (unsigned long long)ph[i].p_paddr,
				 (unsigned long long)(ph[i].p_paddr + ph[i].p_memsz),
				 (unsigned long long)vm->ram_base, (unsigned long long)(vm->ram_base + vm->ram_size));
			return -ENOEXEC;
		}
		nload++;
	}
	if (nload == 0) {
		snprintf(err, errlen, "%s: ELF has no loadable segment", what);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		uint64_t end_file, tail;
		static const uint8_t zero[VM_PAGE_SIZE];

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (copy_in(vm, p->p_paddr, b + p->p_offset, p->p_filesz) < 0)
			goto nomem;
		/* Clear the rest of the last file-backed page; later pages are fresh (zero). */
		end_file = p->p_paddr + p->p_filesz;
		tail = (VM_PAGE_SIZE - (end_file & (VM_PAGE_SIZE - 1))) & (VM_PAGE_SIZE - 1);
		if (tail > p->p_memsz - p->p_filesz)
			tail = p->p_memsz - p->p_filesz;
		if (tail && p->p_filesz && copy_in(vm, end_file, zero, tail) < 0)
			goto nomem;
		span_add(img, p->p_paddr, p->p_paddr + p->p_memsz);
	}
	/*
	 * A kernel linked at virtual addresses (Linux's vmlinux) has a virtual
	 * e_entry: translate it through the segment that holds it.
	 */
	img->entry = eh->e_entry;
	for (unsigned i = 0; i < eh->e_phnum && !vm_gpa_is_ram(vm, img->entry, 4); i++)
		if (ph[i].p_type == PT_LOAD && eh->e_entry >= ph[i].p_vaddr &&
		    eh->e_entry - ph[i].p_vaddr < ph[i].p_memsz)
			img->entry = ph[i].p_paddr + (eh->e_entry - ph[i].p_vaddr);
	find_htif(b, len, eh, img);
	return 0;
nomem:
	snprintf(err, errlen, "%s: out of machine memory while loading", what);
	return -ENOMEM;
}
