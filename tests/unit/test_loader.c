/*
 * test_loader.c — images into guest RAM and the boot rules: ELF segments
 * land at their addresses, bad ELFs (truncated, wrong machine or class,
 * segments outside RAM) are refused with a message naming the problem,
 * raw images go where the boot rules say, and vmm_vm_create reports a
 * missing image or one that does not fit. Stand-in harts:
 * test_board_harts.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_board_harts.h"
#include "vmm/board.h"
#include "vmm/loader.h"

static uint8_t elf[1 << 16];
static const uint8_t code[64] = { 0x13, 0, 0, 0, 0x6f, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 };

/* Create a VM from image bytes (kernel or, with as_bios, bios); NULL and err on refusal. */
static struct vmm_vm *t_vm(const void *img, size_t len, bool as_bios, const void *kimg, size_t klen,
			   uint64_t mem, unsigned ncpus, struct t_console *con, char *err, size_t errlen)
{
	struct vmm_vm_config cfg = t_config(ncpus, mem, NULL, con);
	struct vmm_vm *v;
	const char *p = t_tmpfile(0, img, len), *k = NULL;

	if (as_bios) {
		cfg.bios = p;
		if (kimg)
			cfg.kernel = k = t_tmpfile(1, kimg, klen);
	} else {
		cfg.kernel = p;
	}
	v = vmm_vm_create(&cfg, err, errlen);
	unlink(p);
	if (k)
		unlink(k);
	return v;
}

static void t_refused(const void *img, size_t len, const char *want)
{
	struct t_console con = {0};
	char err[512] = "";
	struct vmm_vm *v = t_vm(img, len, false, NULL, 0, 16 << 20, 1, &con, err, sizeof(err));

	if (v)
		fail_msg("image accepted, expected refusal with \"%s\"", want);
	if (!strstr(err, want))
		fail_msg("message \"%s\" does not say \"%s\"", err, want);
}

static void test_elf_load(void **state)
{
	struct t_console con = {0};
	char err[256];
	struct t_elf e = { .entry = VM_RAM_BASE, .paddr = VM_RAM_BASE + 0x1ff8, .code = code,
			   .code_len = sizeof(code), .memsz = 0x3000 };
	size_t len = t_make_elf(elf, &e);
	struct vmm_vm *v = t_vm(elf, len, false, NULL, 0, 16 << 20, 2, &con, err, sizeof(err));
	uint8_t back[sizeof(code)], z = 0xff;

	assert_non_null(v);
	/* The segment straddles a page boundary. */
	assert_int_equal(vm_gpa_read(&v->vm, VM_RAM_BASE + 0x1ff8, back, sizeof(back)), 0);
	assert_memory_equal(back, code, sizeof(code));
	assert_int_equal(vm_gpa_read(&v->vm, VM_RAM_BASE + 0x1ff8 + sizeof(code), &z, 1), 0);
	assert_int_equal(z, 0);
	/* M-mode boot on every hart at the entry. */
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(v->vm.harts[i]->pc, VM_RAM_BASE);
		assert_int_equal(v->vm.harts[i]->priv, PRIV_M);
		assert_int_equal(v->vm.harts[i]->state, HART_RUNNING);
	}
	assert_false(v->vm.htif.on);
	vmm_vm_destroy(v);
}

static void test_elf_refused(void **state)
{
	struct t_elf e = { .entry = VM_RAM_BASE, .paddr = VM_RAM_BASE, .code = code, .code_len = sizeof(code) };
	size_t len;

	len = t_make_elf(elf, &e);
	t_refused(elf, 40, "truncated ELF header");
	t_refused(elf, 100, "truncated ELF: program headers");
	t_refused(elf, 140, "truncated ELF: segment 0");

	e.machine = EM_X86_64;
	len = t_make_elf(elf, &e);
	t_refused(elf, len, "is not RISC-V");
	e.machine = 0;

	e.class = ELFCLASS32;
	len = t_make_elf(elf, &e);
	t_refused(elf, len, "not a 64-bit ELF");
	e.class = 0;

	e.type = ET_DYN;
	len = t_make_elf(elf, &e);
	t_refused(elf, len, "not an executable");
	e.type = 0;

	e.paddr = 0x1000;
	len = t_make_elf(elf, &e);
	t_refused(elf, len, "outside guest RAM");
	e.paddr = VM_RAM_BASE + (16 << 20) - 16;	/* runs past the end of 16 MiB */
	len = t_make_elf(elf, &e);
	t_refused(elf, len, "outside guest RAM");
	e.paddr = VM_RAM_BASE;
	e.memsz = 32 << 20;				/* BSS larger than RAM */
	len = t_make_elf(elf, &e);
	t_refused(elf, len, "outside guest RAM");
	e.memsz = 0;

	e.entry = 0x1000;
	len = t_make_elf(elf, &e);
	t_refused(elf, len, "entry point 0x1000 is outside guest RAM");
	e.entry = VM_RAM_BASE;

	/* Big-endian */
	len = t_make_elf(elf, &e);
	elf[EI_DATA] = ELFDATA2MSB;
	t_refused(elf, len, "big-endian");

	/* Hostile program-header count. */
	len = t_make_elf(elf, &e);
	((Elf64_Ehdr *)elf)->e_phnum = 0xffff;
	t_refused(elf, len, "program headers past the end");
	/* No loadable segment. */
	len = t_make_elf(elf, &e);
	((Elf64_Phdr *)(elf + 64))->p_type = PT_NOTE;
	t_refused(elf, len, "no loadable segment");
}

static void test_elf_hostile_symtab(void **state)
{
	struct t_console con = {0};
	char err[256];
	struct t_elf e = { .entry = VM_RAM_BASE, .paddr = VM_RAM_BASE, .code = code, .code_len = sizeof(code),
			   .syms = true, .tohost = VM_RAM_BASE + 0x40 };
	size_t len = t_make_elf(elf, &e);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
	Elf64_Shdr *sh = (Elf64_Shdr *)(elf + eh->e_shoff);
	struct vmm_vm *v;

	/* A string table running off the end of the file: symbols ignored, image loads. */
	sh[2].sh_size = 1 << 20;
	v = t_vm(elf, len, false, NULL, 0, 16 << 20, 1, &con, err, sizeof(err));
	assert_non_null(v);
	assert_false(v->vm.htif.on);
	vmm_vm_destroy(v);
	/* Symbol name offsets past the string table. */
	len = t_make_elf(elf, &e);
	((Elf64_Sym *)(elf + sh[1].sh_offset))[1].st_name = 5000;
	v = t_vm(elf, len, false, NULL, 0, 16 << 20, 1, &con, err, sizeof(err));
	assert_non_null(v);
	assert_false(v->vm.htif.on);
	vmm_vm_destroy(v);
	/* Section headers past the end. */
	len = t_make_elf(elf, &e);
	eh->e_shoff = len + 100;
	v = t_vm(elf, len, false, NULL, 0, 16 << 20, 1, &con, err, sizeof(err));
	assert_non_null(v);
	vmm_vm_destroy(v);
	/* The good one finds tohost. */
	len = t_make_elf(elf, &e);
	v = t_vm(elf, len, false, NULL, 0, 16 << 20, 1, &con, err, sizeof(err));
	assert_non_null(v);
	assert_true(v->vm.htif.on);
	assert_int_equal(v->vm.htif.tohost, VM_RAM_BASE + 0x40);
	vmm_vm_destroy(v);
}

static void test_raw_and_bios(void **state)
{
	struct t_console con = {0};
	char err[256];
	uint8_t back[16];
	struct vmm_vm *v;
	static uint8_t linux_img[128];

	/* bios raw at 0x80000000, raw kernel at 0x80200000, M mode everywhere. */
	v = t_vm(code, sizeof(code), true, code + 8, 8, 16 << 20, 2, &con, err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(vm_gpa_read(&v->vm, VM_RAM_BASE, back, 8), 0);
	assert_memory_equal(back, code, 8);
	assert_int_equal(vm_gpa_read(&v->vm, VM_RAM_BASE + 0x200000, back, 8), 0);
	assert_memory_equal(back, code + 8, 8);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(v->vm.harts[i]->pc, VM_RAM_BASE);
		assert_int_equal(v->vm.harts[i]->priv, PRIV_M);
		assert_int_equal(v->vm.harts[i]->x[10], i);
		assert_int_equal(v->vm.harts[i]->x[11], v->vm.dtb_addr);
		assert_int_equal(v->vm.harts[i]->state, HART_RUNNING);
	}
	assert_false(v->vm.sbi);
	vmm_vm_destroy(v);

	/* bios alone is fine. */
	v = t_vm(code, sizeof(code), true, NULL, 0, 16 << 20, 1, &con, err, sizeof(err));
	assert_non_null(v);
	vmm_vm_destroy(v);

	/* A raw Linux Image without bios: 0x80200000, S mode with the built-in SBI. */
	memcpy(linux_img + 56, "RSC\x05", 4);
	v = t_vm(linux_img, sizeof(linux_img), false, NULL, 0, 16 << 20, 2, &con, err, sizeof(err));
	assert_non_null(v);
	assert_true(v->vm.sbi);
	assert_int_equal(v->vm.harts[0]->pc, VM_RAM_BASE + 0x200000);
	assert_int_equal(v->vm.harts[0]->priv, PRIV_S);
	assert_int_equal(v->vm.harts[1]->state, HART_STOPPED);
	vmm_vm_destroy(v);

	/* A bios and an ELF kernel overlapping it. */
	{
		struct t_elf e = { .entry = VM_RAM_BASE, .paddr = VM_RAM_BASE, .code = code, .code_len = sizeof(code) };
		size_t len = t_make_elf(elf, &e);

		v = t_vm(code, sizeof(code), true, elf, len, 16 << 20, 1, &con, err, sizeof(err));
		assert_null(v);
		assert_non_null(strstr(err, "overlaps the bios"));
	}
}

static void test_create_errors(void **state)
{
	struct t_console con = {0};
	struct vmm_vm_config cfg = t_config(1, 16 << 20, "/nonexistent/kernel", &con);
	char err[256] = "";
	static uint8_t big[3 << 20];

	assert_null(vmm_vm_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/kernel"));
	cfg.kernel = NULL;
	assert_null(vmm_vm_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "no kernel"));
	cfg.kernel = t_tmpfile(0, NULL, 0);
	assert_null(vmm_vm_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "empty file"));
	unlink(cfg.kernel);

	/* A raw kernel larger than RAM. */
	assert_null(t_vm(big, sizeof(big), false, NULL, 0, 2 << 20, 1, &con, err, sizeof(err)));
	assert_non_null(strstr(err, "do not fit in guest RAM"));
	/* One that fits but leaves no room for the device tree. */
	assert_null(t_vm(big, (2 << 20) - 100, false, NULL, 0, 2 << 20, 1, &con, err, sizeof(err)));
	assert_non_null(strstr(err, "too small"));
	/* Harts and memory sizes. */
	cfg = t_config(0, 16 << 20, "/dev/null", &con);
	assert_null(vmm_vm_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "harts"));
	cfg = t_config(1, (16 << 20) + 5, "/dev/null", &con);
	assert_null(vmm_vm_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "guest memory"));
	/* A directory. */
	cfg = t_config(1, 16 << 20, "/tmp", &con);
	assert_null(vmm_vm_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));
}

/* vmlinux style: linked at virtual addresses, loaded at p_paddr, entry translated. */
static void test_elf_virtual_entry(void **state)
{
	struct t_console con = {0};
	char err[256];
	struct t_elf e = { .entry = 0xffffffff80000010ull, .paddr = VM_RAM_BASE + 0x200000,
			   .code = code, .code_len = sizeof(code) };
	size_t len = t_make_elf(elf, &e);
	struct vmm_vm *v;

	((Elf64_Phdr *)(elf + 64))->p_vaddr = 0xffffffff80000000ull;
	v = t_vm(elf, len, false, NULL, 0, 16 << 20, 1, &con, err, sizeof(err));
	if (!v)
		fail_msg("%s", err);
	assert_int_equal(v->vm.harts[0]->pc, VM_RAM_BASE + 0x200010);
	assert_int_equal(v->vm.harts[0]->priv, PRIV_S);
	vmm_vm_destroy(v);
}

static void test_sboot_elf(void **state)
{
	struct t_console con = {0};
	char err[256];
	struct t_elf e = { .entry = VM_RAM_BASE + 0x200000, .paddr = VM_RAM_BASE + 0x200000,
			   .code = code, .code_len = sizeof(code) };
	size_t len = t_make_elf(elf, &e);
	struct vmm_vm *v = t_vm(elf, len, false, NULL, 0, 16 << 20, 4, &con, err, sizeof(err));

	assert_non_null(v);
	assert_true(v->vm.sbi);
	assert_int_equal(v->vm.harts[0]->priv, PRIV_S);
	assert_int_equal(v->vm.harts[0]->state, HART_RUNNING);
	for (unsigned i = 1; i < 4; i++)
		assert_int_equal(v->vm.harts[i]->state, HART_STOPPED);
	/* Stopped harts do not run; the VM runs. */
	assert_int_equal(vmm_vm_run(v, 3000), VMM_RUNNING);
	assert_int_equal(v->vm.harts[0]->instret, 3000);
	assert_int_equal(v->vm.harts[1]->instret, 0);
	vmm_vm_destroy(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_load),
		cmocka_unit_test(test_elf_refused),
		cmocka_unit_test(test_elf_hostile_symtab),
		cmocka_unit_test(test_raw_and_bios),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_sboot_elf),
		cmocka_unit_test(test_elf_virtual_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
