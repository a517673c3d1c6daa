/*
 * plic_uart: external interrupts from the ns16550a through the PLIC.
 * The UART's THR-empty interrupt (IER.ETBEI) is source 10 on virt.
 *  1-2   with priority 1, enabled for context 0 (hart 0 M) and threshold
 *        0, the source becomes pending and mip.MEIP rises;
 *  3-4   claim returns 10, a second claim returns 0;
 *  5     once the UART stops asserting and the claim is completed, MEIP
 *        falls;
 *  6     with threshold >= priority nothing is delivered (the request stays
 *        pending in the PLIC and is drained by a claim afterwards);
 *  7-9   with MEIE and MIE set, the trap has mcause = interrupt | 11 and the
 *        handler's claim returns 10, once;
 *  10-11 enabled for context 1 (hart 0 S) instead, mip.SEIP rises and a
 *        claim on context 1 returns 10.
 */
#include "rt.h"

#define PLIC            0x0c000000UL
#define PRIO(irq)       (PLIC + 4 * (irq))
#define ENABLE(ctx)     (PLIC + 0x2000 + 0x80 * (ctx))
#define THRESHOLD(ctx)  (PLIC + 0x200000 + 0x1000 * (ctx))
#define CLAIM(ctx)      (PLIC + 0x200004 + 0x1000 * (ctx))
#define UART_IRQ        10
#define UART_IER        (RT_UART_BASE + 1)
#define MEIP            (1UL << IRQ_M_EXT)
#define SEIP            (1UL << IRQ_S_EXT)

static void uart_ier(uint8_t v) { *(volatile uint8_t *)UART_IER = v; }

static int wait_mip(uint64_t bit, int want)
{
	uint64_t t0 = rt_rdtime();
	while (!!(rt_csr_read(mip) & bit) != want)
		if (rt_rdtime() - t0 > rt_timebase_hz() / 2)
			return 0;
	return 1;
}

static volatile unsigned ext_count;
static volatile uint32_t ext_claimed, ext_late;
static int ext_hook(struct rt_frame *f, int level)
{
	if (f->cause != (CAUSE_INTR | IRQ_M_EXT))
		return 0;
	uint32_t id = rt_mmio_r32(CLAIM(0));
	if (!ext_count++)
		ext_claimed = id;
	else if (id)
		ext_late = id;
	uart_ier(0);
	if (id)
		rt_mmio_w32(CLAIM(0), id);
	return 1;
}

int main(void)
{
	rt_csr_write(mie, 0);
	rt_csr_write(mideleg, 0);
	rt_mmio_w32(ENABLE(0), 0);
	rt_mmio_w32(ENABLE(1), 0);
	rt_mmio_w32(PRIO(UART_IRQ), 1);
	rt_mmio_w32(THRESHOLD(0), 0);
	rt_mmio_w32(ENABLE(0), 1u << UART_IRQ);

	/* quiet console while the UART interrupt is being played with */
	uart_ier(0x02);
	CHECK(1, wait_mip(MEIP, 1));
	CHECK(2, rt_mmio_r32(PLIC + 0x1000) & (1u << UART_IRQ));
	uint32_t id = rt_mmio_r32(CLAIM(0));
	uint32_t id2 = rt_mmio_r32(CLAIM(0));
	uart_ier(0);
	rt_mmio_w32(CLAIM(0), id);
	CHECK_EQ(3, id, UART_IRQ);
	CHECK_EQ(4, id2, 0);
	CHECK(5, wait_mip(MEIP, 0));

	rt_mmio_w32(THRESHOLD(0), 1);
	uart_ier(0x02);
	int seen = wait_mip(MEIP, 1);
	uart_ier(0);
	rt_mmio_w32(THRESHOLD(0), 0);
	CHECK(6, !seen);
	/* the gateway latched that request: drain it, it stays pending until claimed */
	id = rt_mmio_r32(CLAIM(0));
	if (id)
		rt_mmio_w32(CLAIM(0), id);
	CHECK(6, wait_mip(MEIP, 0));
	rt_printf("  claim/complete and threshold ok\n");

	rt_set_trap_hook(PRV_M, ext_hook);
	rt_csr_write(mie, MEIP);
	rt_csr_set(mstatus, MSTATUS_MIE);
	uart_ier(0x02);
	uint64_t t0 = rt_rdtime();
	while (!ext_count && rt_rdtime() - t0 < rt_timebase_hz() / 2)
		;
	rt_csr_clear(mstatus, MSTATUS_MIE);
	uart_ier(0);
	rt_csr_write(mie, 0);
	rt_set_trap_hook(PRV_M, NULL);
	if (ext_count > 1)
		rt_printf("  %u external traps, later claims %u\n", ext_count, ext_late);
	CHECK_EQ(7, ext_count, 1);
	CHECK_EQ(8, ext_claimed, UART_IRQ);
	CHECK(9, wait_mip(MEIP, 0));
	rt_printf("  machine external interrupt ok\n");

	rt_mmio_w32(ENABLE(0), 0);
	rt_mmio_w32(THRESHOLD(1), 0);
	rt_mmio_w32(ENABLE(1), 1u << UART_IRQ);
	uart_ier(0x02);
	CHECK(10, wait_mip(SEIP, 1));
	id = rt_mmio_r32(CLAIM(1));
	uart_ier(0);
	rt_mmio_w32(CLAIM(1), id);
	rt_mmio_w32(ENABLE(1), 0);
	CHECK_EQ(11, id, UART_IRQ);
	CHECK(12, wait_mip(SEIP, 0));
	rt_printf("  supervisor context ok\nplic_uart: ok\n");
	return 0;
}
