/*
 * dev_test.h — the test / poweroff device of the virt board
 * ("sifive,test1", "sifive,test0", "syscon") at 0x100000.
 *
 * A 16- or 32-bit write at offset 0 ends the run (OpenSBI writes 16 bits):
 *   0x5555              pass           -> exit code 0
 *   0x3333 | code<<16   fail           -> exit code `code` (1 if code is 0)
 *   0x7777              reset          -> the board does not reboot: exit code 0
 * Other values are ignored (with a rate-limited warning); reads return 0.
 */
#ifndef DISCO_VMM_DEV_TEST_H
#define DISCO_VMM_DEV_TEST_H

#include <stdint.h>

struct vm;
struct hart;

#define TEST_FAIL	0x3333
#define TEST_PASS	0x5555
#define TEST_RESET	0x7777

struct testdev {
	struct vm *vm;
};

void testdev_init(struct testdev *t, struct vm *vm);
int testdev_read(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val);
int testdev_write(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val);

#endif
