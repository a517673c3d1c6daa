/*
 * htif.c — Spike's host-target interface, for programs that have a `tohost`
 * symbol (riscv-tests, riscv-pk style bare-metal code).
 *
 * The guest writes a 64-bit command to tohost: device (bits 63:56), command
 * (55:48), payload (47:0). The monitor polls the word at quantum boundaries
 * and after MMIO writes, clears it when it has acted, and answers in
 * fromhost (when the program has that symbol) as Spike does:
 *   dev 0, cmd 0, payload bit 0 = 1   exit, code = payload >> 1 (0 = pass)
 *   dev 0, cmd 0, payload bit 0 = 0   syscall proxy: payload is the address
 *                                     of magic_mem[8] = {n, a0, a1, a2, ...};
 *                                     SYS_write (64) to the console and
 *                                     SYS_exit (93) are served, the result
 *                                     goes to magic_mem[0], fromhost = 1
 *   dev 1, cmd 1                      console putchar (payload & 0xff)
 * Anything else is acknowledged (tohost cleared) and ignored.
 */
#include <errno.h>
#include <limits.h>

#include "common/log.h"
#include "vmm/board.h"

#define SYS_write	64
#define SYS_exit	93

static void respond(struct vm *vm, uint64_t dev, uint64_t cmd, uint64_t payload)
{
	uint64_t v = dev << 56 | cmd << 48 | (payload & 0xffffffffffffull);

	if (vm->htif.fromhost)
		vm_gpa_write(vm, vm->htif.fromhost, &v, sizeof(v));
}

static int exit_code(uint64_t code)
{
	return code > INT_MAX ? INT_MAX : (int)code;
}

static void syscall_proxy(struct vm *vm, uint64_t addr)
{
	uint64_t m[8];
	char buf[256];

	if (vm_gpa_read(vm, addr, m, sizeof(m)) < 0) {
		LOG_RATELIMITED(SUB_VMM, LOG_WARN, "%s: HTIF syscall block at %#llx outside RAM",
				vm->name, (unsigned long long)addr);
		return;
	}
	switch (m[0]) {
	case SYS_write: {
		uint64_t done = 0;

		if (m[1] != 1 && m[1] != 2) {
			m[0] = (uint64_t)-EBADF;
			break;
		}
		while (done < m[3]) {
			size_t n = m[3] - done > sizeof(buf) ? sizeof(buf) : m[3] - done;

			if (vm_gpa_read(vm, m[2] + done, buf, n) < 0)
				break;
			if (vm->console.write)
				vm->console.write(vm->console.opaque, buf, n);
			done += n;
		}
		m[0] = done;
		break;
	}
	case SYS_exit:
		vm_power_off(vm, exit_code(m[1]), "HTIF exit syscall");
		m[0] = 0;
		break;
	default:
		m[0] = (uint64_t)-ENOSYS;
		break;
	}
	vm_gpa_write(vm, addr, &m[0], sizeof(m[0]));
	respond(vm, 0, 0, 1);
}

void htif_poll(struct vm *vm)
{
	uint64_t v, dev, cmd, payload, zero = 0;

	if (!vm->htif.on || vm->exited)
		return;
	if (vm_gpa_read(vm, vm->htif.tohost, &v, sizeof(v)) < 0) {
		LOG(SUB_VMM, LOG_WARN, "%s: tohost at %#llx is outside RAM: HTIF off",
		    vm->name, (unsigned long long)vm->htif.tohost);
		vm->htif.on = false;
		return;
	}
	if (v == 0)
		return;
	vm_gpa_write(vm, vm->htif.tohost, &zero, sizeof(zero));
	dev = v >> 56;
	cmd = (v >> 48) & 0xff;
	payload = v & 0xffffffffffffull;
	if (dev == 0 && cmd == 0) {
		if (payload & 1)
			vm_power_off(vm, exit_code(payload >> 1), "HTIF tohost exit");
		else
			syscall_proxy(vm, payload);
	} else if (dev == 1 && cmd == 1) {
		char c = payload & 0xff;

		if (vm->console.write)
			vm->console.write(vm->console.opaque, &c, 1);
		respond(vm, 1, 1, 0);
	} else {
		LOG_RATELIMITED(SUB_VMM, LOG_DEBUG, "%s: HTIF command %#llx ignored", vm->name,
				(unsigned long long)v);
	}
}
