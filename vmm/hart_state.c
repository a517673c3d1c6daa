/*
 * hart_state.c — a hart's architectural state as a flat record, so that a
 * vCPU can leave one node and resume on another (span.c, docs/coherence.md
 * "vCPUs moving between nodes").
 *
 * The record holds what the guest can observe: registers, pc, privilege,
 * run state and every CSR. It leaves behind what belongs to the node: the
 * software TLB and decoded code (rebuilt on the new node), statistics, an
 * LR reservation (dropped: an SC may fail spuriously, as the ISA allows)
 * and the coherence request (a hart moves only when it has none).
 *
 * Both ends run the same build, but a record is still checked before it is
 * used: a wrong magic, size, privilege or run state is refused by
 * hart_import, which then leaves the hart untouched.
 */
#include <errno.h>
#include <string.h>

#include "vmm/cpu.h"

bool hart_can_move(const struct hart *h)
{
	return !h->shadow && h->stall == STALL_NONE && !h->woke && h->fwd.state == 0;
}

void hart_export(const struct hart *h, struct hart_img *img)
{
	memset(img, 0, sizeof(*img));
	img->magic = HART_IMG_MAGIC;
	img->size = sizeof(*img);
	memcpy(img->x, h->x, sizeof(img->x));
	img->x[0] = 0;
	img->pc = h->pc;
	img->priv = (uint32_t)h->priv;
	img->state = (uint32_t)h->state;
	img->mstatus = h->mstatus;
	img->misa = h->misa;
	img->medeleg = h->medeleg;
	img->mideleg = h->mideleg;
	img->mie = h->mie;
	img->mip = h->mip;
	img->seip_line = h->seip_line;
	img->mtvec = h->mtvec;
	img->stvec = h->stvec;
	img->mepc = h->mepc;
	img->sepc = h->sepc;
	img->mcause = h->mcause;
	img->scause = h->scause;
	img->mtval = h->mtval;
	img->stval = h->stval;
	img->mscratch = h->mscratch;
	img->sscratch = h->sscratch;
	img->satp = h->satp;
	img->mcounteren = h->mcounteren;
	img->scounteren = h->scounteren;
	img->menvcfg = h->menvcfg;
	img->senvcfg = h->senvcfg;
	img->mcountinhibit = h->mcountinhibit;
	img->minstret = h->minstret;
	img->mcycle = h->mcycle;
	img->stimecmp = h->stimecmp;
	memcpy(img->pmpcfg, h->pmpcfg, sizeof(img->pmpcfg));
	memcpy(img->pmpaddr, h->pmpaddr, sizeof(img->pmpaddr));
}

int hart_import(struct hart *h, const struct hart_img *img)
{
	uint64_t mpp = (img->mstatus & MS_MPP) >> MS_MPP_SHIFT;

	if (img->magic != HART_IMG_MAGIC || img->size != sizeof(*img))
		return -EPROTO;
	if ((img->priv != PRIV_U && img->priv != PRIV_S && img->priv != PRIV_M) || mpp == 2 ||
	    img->state > HART_STOPPED || (img->pc & 1))
		return -EINVAL;
	memcpy(h->x, img->x, sizeof(img->x));
	h->x[0] = 0;
	h->x[32] = 0;
	h->pc = img->pc;
	h->pc_set = 1;
	h->priv = (enum priv)img->priv;
	h->state = (enum hart_state)img->state;
	h->mstatus = img->mstatus;
	h->misa = img->misa;
	h->medeleg = img->medeleg;
	h->mideleg = img->mideleg;
	h->mie = img->mie;
	h->mip = img->mip & MIP_ALL;
	h->seip_line = img->seip_line != 0;
	h->mtvec = img->mtvec;
	h->stvec = img->stvec;
	h->mepc = img->mepc;
	h->sepc = img->sepc;
	h->mcause = img->mcause;
	h->scause = img->scause;
	h->mtval = img->mtval;
	h->stval = img->stval;
	h->mscratch = img->mscratch;
	h->sscratch = img->sscratch;
	h->satp = img->satp;
	h->mcounteren = img->mcounteren;
	h->scounteren = img->scounteren;
	h->menvcfg = img->menvcfg;
	h->senvcfg = img->senvcfg;
	h->mcountinhibit = img->mcountinhibit;
	h->minstret = img->minstret;
	h->mcycle = img->mcycle;
	h->stimecmp = img->stimecmp;
	memcpy(h->pmpcfg, img->pmpcfg, sizeof(h->pmpcfg));
	memcpy(h->pmpaddr, img->pmpaddr, sizeof(h->pmpaddr));
	/* the node's own part starts afresh */
	h->resv_valid = false;
	h->fwd.state = 0;
	h->stall = STALL_NONE;
	h->woke = false;
	h->instret_in = h->minstret;
	tlb_flush_all(h);
	if (h->pmap)
		pmap_epoch_bump(h->pmap);	/* decoded code here may predate the hart's last stores elsewhere */
	hart_timer_check(h);
	hart_update_mode(h);
	h->brk = 1;
	return 0;
}

void hart_leave(struct hart *h)
{
	h->instret_done = hart_instret_here(h);
	h->instret_in = h->minstret;
	/* the levels the hart has now: from here on a change of one travels to its node */
	h->irq_fwd = h->mip | (h->seip_line ? MIP_SEIP : 0);
	h->shadow = true;
	h->resv_valid = false;
	tlb_flush_all(h);
	h->brk = 1;
}

void hart_arrive(struct hart *h, bool devices_here)
{
	/*
	 * On the VM's home its devices (the PLIC) gave the shadow their
	 * external-interrupt levels, which are newer than the record's.
	 */
	if (devices_here) {
		h->mip = (h->mip & ~MIP_MEIP) | (h->irq_fwd & MIP_MEIP);
		h->seip_line = (h->irq_fwd & MIP_SEIP) != 0;
	}
	h->shadow = false;
	if (h->state == HART_WFI && (hart_mip(h) & h->mie))
		h->state = HART_RUNNING;
}

uint64_t hart_irq_levels(const struct hart *h)
{
	return h->irq_fwd;
}

uint64_t hart_instret_here(const struct hart *h)
{
	/* (a guest that wrote minstret backwards counts nothing for this stay) */
	return h->instret_done + (h->shadow || h->minstret < h->instret_in ? 0 : h->minstret - h->instret_in);
}
