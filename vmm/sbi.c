/*
 * sbi.c — the built-in SBI: the monitor as S-mode guests' firmware.
 *
 * Used when a VM boots in S mode without a bios (board.c): an ECALL from S
 * mode arrives here (vm_sbi_ecall) with a7 = extension, a6 = function,
 * a0..a5 = arguments; the answer goes back in a0 (error) and a1 (value),
 * legacy extensions answer in a0 only.
 *
 * Extensions: BASE (spec 2.0), TIME, IPI, RFENCE, HSM, SRST, DBCN, the
 * legacy ones (set_timer, console_putchar/getchar, clear_ipi, shutdown)
 * and DISCO (EID 0x0A00D15C): fid 0 marks a phase (a0 = phase number),
 * fid 1 returns the VM's retired instructions in a1.
 *
 * The S-mode timer: set_timer records a per-hart deadline (in mtime ticks)
 * and clears STIP; before each of the hart's turns vm_timers_update() sets
 * IRQ_STI to mtime >= deadline. STIP is only ever driven from here once the
 * guest used set_timer, so an Sstc guest (stimecmp, handled by the hart)
 * is not disturbed.
 *
 * HSM: a stopped hart is HART_STOPPED; hart_start resets it at the given
 * address in S mode with a0 = hartid, a1 = opaque. Retentive suspend is a
 * WFI; non-retentive suspend waits the same way, then restarts the hart at
 * resume_addr (a0 = hartid, a1 = opaque) once an interrupt woke it.
 */
#include <string.h>

#include "common/log.h"
#include "vmm/board.h"
#include "vmm/span.h"

#define SBI_SUCCESS		0
#define SBI_ERR_FAILED		(-1)
#define SBI_ERR_NOT_SUPPORTED	(-2)
#define SBI_ERR_INVALID_PARAM	(-3)
#define SBI_ERR_DENIED		(-4)
#define SBI_ERR_INVALID_ADDRESS	(-5)
#define SBI_ERR_ALREADY_AVAILABLE (-6)

#define SBI_EXT_LEGACY_SET_TIMER	0x00
#define SBI_EXT_LEGACY_PUTCHAR		0x01
#define SBI_EXT_LEGACY_GETCHAR		0x02
#define SBI_EXT_LEGACY_CLEAR_IPI	0x03
#define SBI_EXT_LEGACY_SHUTDOWN		0x08
#define SBI_EXT_BASE			0x10
#define SBI_EXT_TIME			0x54494d45
#define SBI_EXT_IPI			0x735049
#define SBI_EXT_RFENCE			0x52464e43
#define SBI_EXT_HSM			0x48534d
#define SBI_EXT_SRST			0x53525354
#define SBI_EXT_DBCN			0x4442434e
#define SBI_EXT_DISCO			0x0a00d15c

#define SBI_SPEC_VERSION		(2u << 24)	/* 2.0 */
#define SBI_IMPL_ID_DISCO		0xd15c

#define HSM_STARTED		0
#define HSM_STOPPED		1
#define HSM_SUSPENDED		4

#define REG_A0	10

void sbi_init(struct vm *vm)
{
	for (unsigned i = 0; i < VM_MAX_HARTS; i++) {
		memset(&vm->sbi_hart[i], 0, sizeof(vm->sbi_hart[i]));
		vm->sbi_hart[i].timer = UINT64_MAX;
	}
}

void sbi_timer_update(struct vm *vm, unsigned i, uint64_t mtime)
{
	struct sbi_hart *s = &vm->sbi_hart[i];
	bool level = mtime >= s->timer;

	if (!s->timer_used || level == s->sti)
		return;
	s->sti = level;
	hart_set_irq(vm->harts[i], IRQ_STI, level);
}

void sbi_hart_resume_check(struct vm *vm, unsigned i)
{
	struct sbi_hart *s = &vm->sbi_hart[i];

	if (!s->nonret_suspend || hart_get_state(vm->harts[i]) != HART_RUNNING)
		return;
	s->nonret_suspend = false;
	hart_reset(vm->harts[i], s->resume_addr, PRIV_S, i, s->resume_opaque);
	hart_set_state(vm->harts[i], HART_RUNNING);
}

static unsigned hart_index(struct vm *vm, struct hart *h)
{
	unsigned i = 0;

	while (i < vm->nharts && vm->harts[i] != h)
		i++;
	BUG_ON(i == vm->nharts);	/* an ECALL from a hart of another VM */
	return i;
}

static void set_timer(struct vm *vm, unsigned i, uint64_t deadline)
{
	struct sbi_hart *s = &vm->sbi_hart[i];

	s->timer = deadline;
	s->timer_used = true;
	s->sti = vm_mtime(vm) >= deadline;	/* clears STIP unless already due */
	hart_set_irq(vm->harts[i], IRQ_STI, s->sti);
}

/* Apply fn to every hart of (mask, base); base == -1 means all harts. */
static long for_harts(struct vm *vm, uint64_t mask, uint64_t base, void (*fn)(struct vm *, unsigned))
{
	if (base == UINT64_MAX) {
		for (unsigned i = 0; i < vm->nharts; i++)
			fn(vm, i);
		return SBI_SUCCESS;
	}
	for (unsigned b = 0; b < 64; b++) {
		if (!(mask >> b & 1))
			continue;
		if (base + b >= vm->nharts || base + b < base)
			return SBI_ERR_INVALID_PARAM;
	}
	for (unsigned b = 0; b < 64; b++)
		if (mask >> b & 1)
			fn(vm, base + b);
	return SBI_SUCCESS;
}

static void do_ipi(struct vm *vm, unsigned i)
{
	hart_set_irq(vm->harts[i], IRQ_SSI, true);
}

static void do_fence_i(struct vm *vm, unsigned i)
{
	hart_flush_icache(vm->harts[i]);
}

static void do_sfence(struct vm *vm, unsigned i)
{
	hart_flush_tlb(vm->harts[i]);
}

static void console_out(struct vm *vm, const char *buf, size_t len)
{
	if (vm->console.write)
		vm->console.write(vm->console.opaque, buf, len);
}

static long console_getchar(struct vm *vm)
{
	uint64_t lsr, c;

	/* Read through the UART so that the FIFO and its interrupt stay consistent. */
	uart_read(&vm->uart, NULL, 5, 1, &lsr);
	if (!(lsr & 1))
		return -1;
	uart_read(&vm->uart, NULL, 0, 1, &c);
	return (long)c;
}

static long hsm(struct vm *vm, unsigned self, unsigned long fid, const uint64_t *a, uint64_t *val)
{
	switch (fid) {
	case 0: {	/* hart_start(hartid, start_addr, opaque) */
		if (a[0] >= vm->nharts)
			return SBI_ERR_INVALID_PARAM;
		if (hart_get_state(vm->harts[a[0]]) != HART_STOPPED)
			return SBI_ERR_ALREADY_AVAILABLE;
		if (!vm_gpa_is_ram(vm, a[1], 4))
			return SBI_ERR_INVALID_ADDRESS;
		vm->sbi_hart[a[0]].nonret_suspend = false;
		hart_reset(vm->harts[a[0]], a[1], PRIV_S, a[0], a[2]);
		hart_set_state(vm->harts[a[0]], HART_RUNNING);
		span_hart_start(vm, (unsigned)a[0], a[1], a[2]);	/* a hart on another node starts there */
		return SBI_SUCCESS;
	}
	case 1:		/* hart_stop() */
		hart_set_state(vm->harts[self], HART_STOPPED);
		return SBI_SUCCESS;
	case 2:		/* hart_get_status(hartid) */
		if (a[0] >= vm->nharts)
			return SBI_ERR_INVALID_PARAM;
		if (hart_get_state(vm->harts[a[0]]) == HART_STOPPED)
			*val = HSM_STOPPED;
		else if (vm->sbi_hart[a[0]].nonret_suspend)
			*val = HSM_SUSPENDED;
		else
			*val = HSM_STARTED;
		return SBI_SUCCESS;
	case 3:		/* hart_suspend(type, resume_addr, opaque) */
		if (a[0] == 0) {
			hart_set_state(vm->harts[self], HART_WFI);
			return SBI_SUCCESS;
		}
		if (a[0] == 0x80000000u) {
			if (!vm_gpa_is_ram(vm, a[1], 4))
				return SBI_ERR_INVALID_ADDRESS;
			vm->sbi_hart[self].nonret_suspend = true;
			vm->sbi_hart[self].resume_addr = a[1];
			vm->sbi_hart[self].resume_opaque = a[2];
			hart_set_state(vm->harts[self], HART_WFI);
			return SBI_SUCCESS;
		}
		return SBI_ERR_INVALID_PARAM;
	}
	return SBI_ERR_NOT_SUPPORTED;
}

static bool ext_present(unsigned long eid)
{
	switch (eid) {
	case SBI_EXT_LEGACY_SET_TIMER: case SBI_EXT_LEGACY_PUTCHAR: case SBI_EXT_LEGACY_GETCHAR:
	case SBI_EXT_LEGACY_CLEAR_IPI: case SBI_EXT_LEGACY_SHUTDOWN:
	case SBI_EXT_BASE: case SBI_EXT_TIME: case SBI_EXT_IPI: case SBI_EXT_RFENCE:
	case SBI_EXT_HSM: case SBI_EXT_SRST: case SBI_EXT_DBCN: case SBI_EXT_DISCO:
		return true;
	}
	return false;
}

static long dbcn(struct vm *vm, unsigned long fid, const uint64_t *a, uint64_t *val)
{
	char buf[256];
	uint64_t done = 0;

	switch (fid) {
	case 0:		/* console_write(num_bytes, base_lo, base_hi): physical address */
		if (!vm_gpa_is_ram(vm, a[1], a[0]) || a[2])
			return SBI_ERR_INVALID_PARAM;
		while (done < a[0]) {
			size_t n = a[0] - done > sizeof(buf) ? sizeof(buf) : a[0] - done;

			if (vm_gpa_read(vm, a[1] + done, buf, n) < 0)
				return SBI_ERR_FAILED;
			console_out(vm, buf, n);
			done += n;
		}
		*val = done;
		return SBI_SUCCESS;
	case 1: {	/* console_read(num_bytes, base_lo, base_hi) */
		long c;

		if (!vm_gpa_is_ram(vm, a[1], a[0]) || a[2])
			return SBI_ERR_INVALID_PARAM;
		while (done < a[0] && (c = console_getchar(vm)) >= 0) {
			uint8_t b = c;

			if (vm_gpa_write(vm, a[1] + done, &b, 1) < 0)
				return SBI_ERR_FAILED;
			done++;
		}
		*val = done;
		return SBI_SUCCESS;
	}
	case 2: {	/* console_write_byte(byte) */
		char c = a[0];

		console_out(vm, &c, 1);
		return SBI_SUCCESS;
	}
	}
	return SBI_ERR_NOT_SUPPORTED;
}

static long disco_ext(struct vm *vm, unsigned long fid, const uint64_t *a, uint64_t *val)
{
	uint64_t instret = 0;

	for (unsigned i = 0; i < vm->nharts; i++)
		instret += hart_instret_here(vm->harts[i]);
	switch (fid) {
	case 0:		/* mark_phase(phase) */
		if (vm->n_phases < VM_PHASES_MAX) {
			struct vmm_vm_phase *m = &vm->phases[vm->n_phases++];

			m->phase = a[0];
			m->ns = vm_now_ns() - vm->start_ns;
			m->instret = instret;
		}
		LOG(SUB_VMM, LOG_INFO, "%s: phase %llu at %llu instructions", vm->name,
		    (unsigned long long)a[0], (unsigned long long)instret);
		return SBI_SUCCESS;
	case 1:		/* get_stats(): a1 = instructions retired by the VM */
		*val = instret;
		return SBI_SUCCESS;
	}
	return SBI_ERR_NOT_SUPPORTED;
}

bool vm_sbi_ecall(struct vm *vm, struct hart *h)
{
	unsigned long eid = hart_get_reg(h, 17), fid = hart_get_reg(h, 16);
	unsigned self;
	uint64_t a[6], val = 0;
	long ret = SBI_ERR_NOT_SUPPORTED;

	if (!vm->sbi)
		return false;
	self = hart_index(vm, h);
	for (unsigned i = 0; i < 6; i++)
		a[i] = hart_get_reg(h, REG_A0 + i);

	switch (eid) {
	case SBI_EXT_LEGACY_SET_TIMER:
		set_timer(vm, self, a[0]);
		hart_set_reg(h, REG_A0, 0);
		return true;
	case SBI_EXT_LEGACY_PUTCHAR: {
		char c = a[0];

		console_out(vm, &c, 1);
		hart_set_reg(h, REG_A0, 0);
		return true;
	}
	case SBI_EXT_LEGACY_GETCHAR:
		hart_set_reg(h, REG_A0, (uint64_t)console_getchar(vm));
		return true;
	case SBI_EXT_LEGACY_CLEAR_IPI:
		hart_set_irq(h, IRQ_SSI, false);
		hart_set_reg(h, REG_A0, 0);
		return true;
	case 0x04: case 0x05: case 0x06: case 0x07:
		/* Legacy IPI and fences pass a virtual address; spec 0.2+ guests use IPI/RFENCE. */
		hart_set_reg(h, REG_A0, (uint64_t)SBI_ERR_NOT_SUPPORTED);
		return true;
	case SBI_EXT_LEGACY_SHUTDOWN:
		vm_power_off(vm, 0, "SBI legacy shutdown");
		hart_set_reg(h, REG_A0, 0);
		return true;
	case SBI_EXT_BASE:
		ret = SBI_SUCCESS;
		switch (fid) {
		case 0: val = SBI_SPEC_VERSION; break;
		case 1: val = SBI_IMPL_ID_DISCO; break;
		case 2: val = 1; break;	/* implementation version */
		case 3: val = ext_present(a[0]); break;
		case 4: case 5: case 6: val = 0; break;	/* mvendorid, marchid, mimpid */
		default: ret = SBI_ERR_NOT_SUPPORTED; break;
		}
		break;
	case SBI_EXT_TIME:
		if (fid == 0) {
			set_timer(vm, self, a[0]);
			ret = SBI_SUCCESS;
		}
		break;
	case SBI_EXT_IPI:
		if (fid == 0)
			ret = for_harts(vm, a[0], a[1], do_ipi);
		break;
	case SBI_EXT_RFENCE:
		if (fid == 0)
			ret = for_harts(vm, a[0], a[1], do_fence_i);
		else if (fid <= 2)	/* remote_sfence_vma, _asid: flush everything */
			ret = for_harts(vm, a[0], a[1], do_sfence);
		break;
	case SBI_EXT_HSM:
		ret = hsm(vm, self, fid, a, &val);
		break;
	case SBI_EXT_SRST:
		if (fid == 0) {
			if (a[0] > 2 || a[1] > 1) {
				ret = SBI_ERR_INVALID_PARAM;
				break;
			}
			/* Shutdown, and reboot too: the board does not reboot, it stops. */
			vm_power_off(vm, a[1] == 1 ? 1 : 0,
				     a[1] == 1 ? "SBI system reset: system failure" : "SBI system reset");
			ret = SBI_SUCCESS;
		}
		break;
	case SBI_EXT_DBCN:
		ret = dbcn(vm, fid, a, &val);
		break;
	case SBI_EXT_DISCO:
		ret = disco_ext(vm, fid, a, &val);
		break;
	default:
		LOG_RATELIMITED(SUB_VMM, LOG_DEBUG, "%s: SBI extension %#lx fid %lu not supported",
				vm->name, eid, fid);
		break;
	}
	hart_set_reg(h, REG_A0, (uint64_t)ret);
	hart_set_reg(h, REG_A0 + 1, val);
	return true;
}
