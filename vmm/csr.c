/*
 * csr.c — the hart's control and status registers (Zicsr, Zicntr, Sstc,
 * machine and supervisor CSRs of the privileged specification).
 *
 * Access rules, checked in hart_csr before any side effect: the privilege
 * in CSR bits 9:8, read-only CSRs (bits 11:10 == 3) never written, counter
 * enables (mcounteren, scounteren) for cycle/time/instret/hpmcounter,
 * mstatus.TVM for satp, menvcfg.STCE and mcounteren.TM for stimecmp.
 * Anything else, and every CSR not listed here, is illegal-instruction.
 *
 * F/D are absent: mstatus.FS is hardwired Off, fflags/frm/fcsr are illegal.
 * PMP: pmpcfg0..14 (even) and pmpaddr0..63 hold what is written (WARL,
 * locked entries kept) but nothing is checked against them.
 * hpm counters and events read zero and ignore writes.
 */
#include "vmm/cpu.h"

#define MSTATUS_WMASK	(MS_SIE | MS_MIE | MS_SPIE | MS_MPIE | MS_SPP | MS_MPP | MS_MPRV | \
			 MS_SUM | MS_MXR | MS_TVM | MS_TW | MS_TSR)
#define SSTATUS_RMASK	(MS_SIE | MS_SPIE | MS_SPP | MS_FS | (3ull << 15) | MS_SUM | MS_MXR | \
			 (3ull << 32) | (1ull << 63))
#define SSTATUS_WMASK	(MS_SIE | MS_SPIE | MS_SPP | MS_SUM | MS_MXR)
#define MEDELEG_MASK	0xb3ffull	/* not ecall-from-M, not reserved causes */
#define SATP_MODE_SHIFT	60

#define MISA_VALUE	((2ull << 62) | (1u << ('I' - 'A')) | (1u << ('M' - 'A')) | \
			 (1u << ('A' - 'A')) | (1u << ('C' - 'A')) | (1u << ('S' - 'A')) | \
			 (1u << ('U' - 'A')))

static bool counter_ok(const struct hart *h, unsigned idx)
{
	if (h->priv == PRIV_M)
		return true;
	if (!((h->mcounteren >> idx) & 1))
		return false;
	if (h->priv == PRIV_U && !((h->scounteren >> idx) & 1))
		return false;
	return true;
}

/* Read csr; rmw: the value a read-modify-write starts from (mip without lines). */
static bool csr_read(struct hart *h, unsigned csr, bool rmw, uint64_t *v)
{
	switch (csr) {
	/* unprivileged counters */
	case 0xc00:
		if (!counter_ok(h, 0))
			return false;
		*v = h->mcycle;
		return true;
	case 0xc01:
		if (!counter_ok(h, 1))
			return false;
		*v = vm_mtime(h->vm);
		return true;
	case 0xc02:
		if (!counter_ok(h, 2))
			return false;
		*v = h->minstret;
		return true;
	case 0xc03 ... 0xc1f:
		if (!counter_ok(h, csr - 0xc00))
			return false;
		*v = 0;
		return true;

	/* supervisor */
	case 0x100: *v = h->mstatus & SSTATUS_RMASK; return true;
	case 0x104: *v = h->mie & h->mideleg; return true;
	case 0x105: *v = h->stvec; return true;
	case 0x106: *v = h->scounteren; return true;
	case 0x10a: *v = h->senvcfg; return true;
	case 0x140: *v = h->sscratch; return true;
	case 0x141: *v = h->sepc; return true;
	case 0x142: *v = h->scause; return true;
	case 0x143: *v = h->stval; return true;
	case 0x144: *v = (rmw ? h->mip : hart_mip(h)) & h->mideleg; return true;
	case 0x14d:
		if (h->priv < PRIV_M && (!(h->menvcfg & MENVCFG_STCE) || !(h->mcounteren & 2)))
			return false;
		*v = h->stimecmp;
		return true;
	case 0x180:
		if (h->priv == PRIV_S && (h->mstatus & MS_TVM))
			return false;
		*v = h->satp;
		return true;

	/* machine information */
	case 0xf11: case 0xf12: case 0xf13: case 0xf15:
		*v = 0;
		return true;
	case 0xf14: *v = h->hartid; return true;

	/* machine trap setup and handling */
	case 0x300: *v = h->mstatus; return true;
	case 0x301: *v = MISA_VALUE; return true;
	case 0x302: *v = h->medeleg; return true;
	case 0x303: *v = h->mideleg; return true;
	case 0x304: *v = h->mie; return true;
	case 0x305: *v = h->mtvec; return true;
	case 0x306: *v = h->mcounteren; return true;
	case 0x30a: *v = h->menvcfg; return true;
	case 0x320: *v = h->mcountinhibit; return true;
	case 0x323 ... 0x33f: *v = 0; return true;
	case 0x340: *v = h->mscratch; return true;
	case 0x341: *v = h->mepc; return true;
	case 0x342: *v = h->mcause; return true;
	case 0x343: *v = h->mtval; return true;
	case 0x344: *v = rmw ? h->mip : hart_mip(h); return true;
	case 0x3a0 ... 0x3af:
		if (csr & 1)
			return false;	/* odd pmpcfg do not exist on RV64 */
		memcpy(v, &h->pmpcfg[(csr - 0x3a0) * 4], 8);
		return true;
	case 0x3b0 ... 0x3ef: *v = h->pmpaddr[csr - 0x3b0]; return true;
	case 0x747: *v = 0; return true;	/* mseccfg */
	case 0xb00: *v = h->mcycle; return true;
	case 0xb02: *v = h->minstret; return true;
	case 0xb03 ... 0xb1f: *v = 0; return true;
	default:
		return false;
	}
}

static void csr_write(struct hart *h, unsigned csr, uint64_t v)
{
	switch (csr) {
	case 0x100:
		v = (h->mstatus & ~SSTATUS_WMASK) | (v & SSTATUS_WMASK);
		goto mstatus;
	case 0x104:
		h->mie = (h->mie & ~h->mideleg) | (v & h->mideleg);
		break;
	case 0x105:
	case 0x305:
		if ((v & 3) >= 2)
			v &= ~3ull;
		if (csr == 0x105)
			h->stvec = v;
		else
			h->mtvec = v;
		break;
	case 0x106: h->scounteren = (uint32_t)v; break;
	case 0x10a: h->senvcfg = v & MENVCFG_FIOM; break;
	case 0x140: h->sscratch = v; break;
	case 0x141: h->sepc = v & ~1ull; break;
	case 0x142: h->scause = v; break;
	case 0x143: h->stval = v; break;
	case 0x144: {
		uint64_t m = MIP_SSIP & h->mideleg;
		h->mip = (h->mip & ~m) | (v & m);
		break;
	}
	case 0x14d:
		h->stimecmp = v;
		hart_timer_check(h);
		break;
	case 0x180: {
		unsigned mode = (unsigned)(v >> SATP_MODE_SHIFT);
		if (mode != 0 && mode != 8 && mode != 9)
			break;	/* unsupported mode: the write has no effect */
		h->satp = v & ((0xfull << 60) | (0xffffull << 44) | ((1ull << 44) - 1));
		tlb_flush_all(h);
		break;
	}
	case 0x300:
	mstatus: {
		uint64_t old = h->mstatus;
		if (((v & MS_MPP) >> MS_MPP_SHIFT) == 2)
			v = (v & ~MS_MPP) | (old & MS_MPP);
		h->mstatus = (old & ~MSTATUS_WMASK) | (v & MSTATUS_WMASK);
		if ((old ^ h->mstatus) & MS_MXR)
			tlb_flush_all(h);
		hart_update_mode(h);
		break;
	}
	case 0x301: break;	/* misa is fixed */
	case 0x302: h->medeleg = v & MEDELEG_MASK; break;
	case 0x303: h->mideleg = v & MIP_S_MASK; break;
	case 0x304: h->mie = v & MIP_ALL; break;
	case 0x306: h->mcounteren = (uint32_t)v; break;
	case 0x30a:
		h->menvcfg = v & (MENVCFG_FIOM | MENVCFG_STCE);
		hart_timer_check(h);
		break;
	case 0x320: h->mcountinhibit = (uint32_t)v & ~2u; break;
	case 0x340: h->mscratch = v; break;
	case 0x341: h->mepc = v & ~1ull; break;
	case 0x342: h->mcause = v; break;
	case 0x343: h->mtval = v; break;
	case 0x344: {
		uint64_t m = MIP_SSIP | MIP_SEIP | ((h->menvcfg & MENVCFG_STCE) ? 0 : MIP_STIP);
		h->mip = (h->mip & ~m) | (v & m);
		break;
	}
	case 0x3a0 ... 0x3af:
		for (unsigned i = 0; i < 8; i++) {
			unsigned k = (csr - 0x3a0) * 4 + i;
			uint8_t b = (uint8_t)(v >> (8 * i)) & 0x9f;
			if (h->pmpcfg[k] & 0x80)
				continue;	/* locked */
			if ((b & 3) == 2)
				b &= (uint8_t)~2;	/* W without R is reserved */
			h->pmpcfg[k] = b;
		}
		break;
	case 0x3b0 ... 0x3ef:
		if (!(h->pmpcfg[csr - 0x3b0] & 0x80))
			h->pmpaddr[csr - 0x3b0] = v & ((1ull << 54) - 1);
		break;
	case 0xb00:
		/* the value written is what the next instruction reads */
		h->mcycle = (h->mcountinhibit & 1) ? v : v - 1;
		break;
	case 0xb02:
		h->minstret = (h->mcountinhibit & 4) ? v : v - 1;
		break;
	default:
		break;	/* read-zero, write-ignored registers */
	}
}

uint32_t hart_csr(struct hart *h, unsigned csr, unsigned f3, uint64_t src,
		  bool read, bool write, uint64_t *old)
{
	uint64_t v = 0;

	if (h->priv < ((csr >> 8) & 3))
		return EXC_FLAG | EXC_ILLEGAL;
	if (write && (csr >> 10) == 3)
		return EXC_FLAG | EXC_ILLEGAL;
	/* CSRRW with rd = x0 does not read, but the CSR must still exist */
	if (!csr_read(h, csr, write && (f3 & 3) != 1, &v))
		return EXC_FLAG | EXC_ILLEGAL;
	*old = v;
	if (read && write && (f3 & 3) != 1 && (csr == 0x344 || csr == 0x144))
		csr_read(h, csr, false, old);	/* rd sees the lines too */
	if (write) {
		uint64_t nv;
		switch (f3 & 3) {
		case 1: nv = src; break;
		case 2: nv = v | src; break;
		default: nv = v & ~src; break;
		}
		csr_write(h, csr, nv);
		h->brk = 1;
	}
	return 0;
}
