/*
 * dev_test.c — the sifive,test0 poweroff device: see dev_test.h.
 *
 * Linux's syscon-poweroff and syscon-reboot nodes (the device tree points
 * them here with values 0x5555 and 0x7777) and bare-metal tests both end a
 * run through this register.
 */
#include "vmm/dev_test.h"

#include "common/log.h"
#include "vmm/board.h"

void testdev_init(struct testdev *t, struct vm *vm)
{
	t->vm = vm;
}

int testdev_read(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val)
{
	*val = 0;
	return 0;
}

int testdev_write(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val)
{
	struct testdev *t = opaque;
	unsigned code = (val >> 16) & 0xffff;

	/* OpenSBI's sifive_test driver writes 16 bits (no failure code then). */
	if (off != 0 || size < 2)
		goto ignore;
	switch (val & 0xffff) {
	case TEST_PASS:
		vm_power_off(t->vm, 0, "test device: pass");
		return 0;
	case TEST_FAIL:
		vm_power_off(t->vm, code ? (int)code : 1, "test device: fail");
		return 0;
	case TEST_RESET:
		vm_power_off(t->vm, 0, "test device: reset (treated as power-off)");
		return 0;
	}
ignore:
	LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: test device: write %#llx at +%#llx ignored",
			t->vm->name, (unsigned long long)val, (unsigned long long)off);
	return 0;
}
