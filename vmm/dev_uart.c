/*
 * dev_uart.c — a 16550A as Linux's 8250 driver, OpenSBI and bare-metal
 * programs drive it. See dev_uart.h for the model and its simplifications.
 *
 * Interrupt identification, by priority as on the chip: receive data
 * available (IIR 0x04) when IER.ERBFI and the RX FIFO holds data; THR empty
 * (0x02) when IER.ETBEI and thr_ipending. The PLIC line follows
 * "any interrupt identified". FIFOs-enabled bits (0xC0) are reported in
 * IIR once FCR bit 0 was set.
 */
#include "vmm/dev_uart.h"

#include <string.h>

#include "common/log.h"
#include "vmm/board.h"

#define IER_ERBFI	0x01
#define IER_ETBEI	0x02
#define IIR_NONE	0x01
#define IIR_THRE	0x02
#define IIR_RDA		0x04
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define LCR_DLAB	0x80
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MCR_LOOP	0x10

static uint8_t iir(const struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->ier & IER_ERBFI) && u->rx_count)
		return fifo | IIR_RDA;
	if ((u->ier & IER_ETBEI) && u->thr_ipending)
		return fifo | IIR_THRE;
	return fifo | IIR_NONE;
}

static void update(struct uart *u)
{
	vm_irq_set(u->vm, u->irq, !(iir(u) & IIR_NONE));
}

void uart_init(struct uart *u, struct vm *vm, unsigned irq)
{
	memset(u, 0, sizeof(*u));
	u->vm = vm;
	u->irq = irq;
}

size_t uart_rx_push(struct uart *u, const char *buf, size_t len)
{
	size_t n = 0;

	for (; n < len && u->rx_count < UART_RX_FIFO; n++) {
		u->rx[(u->rx_head + u->rx_count) % UART_RX_FIFO] = buf[n];
		u->rx_count++;
	}
	u->rx_dropped += len - n;
	update(u);
	return n;
}

static void tx(struct uart *u, uint8_t c)
{
	if (u->mcr & MCR_LOOP) {
		uart_rx_push(u, (const char *)&c, 1);
		return;
	}
	if (u->vm->console.write)
		u->vm->console.write(u->vm->console.opaque, (const char *)&c, 1);
}

int uart_read(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t *val)
{
	struct uart *u = opaque;
	uint8_t v = 0;

	switch (off) {
	case 0:
		if (u->lcr & LCR_DLAB) {
			v = u->dll;
		} else if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % UART_RX_FIFO;
			u->rx_count--;
			update(u);
		}
		break;
	case 1:
		v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
		break;
	case 2:
		v = iir(u);
		if ((v & 0x0f) == IIR_THRE) {
			u->thr_ipending = false;
			update(u);
		}
		break;
	case 3:
		v = u->lcr;
		break;
	case 4:
		v = u->mcr;
		break;
	case 5:
		v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
		break;
	case 6:
		if (u->mcr & MCR_LOOP)	/* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
			v = ((u->mcr & 1) << 5) | ((u->mcr & 2) << 3) | ((u->mcr & 4) << 4) | ((u->mcr & 8) << 4);
		else
			v = 0xb0;	/* DCD, DSR, CTS */
		break;
	case 7:
		v = u->scr;
		break;
	}
	*val = v;
	return 0;
}

int uart_write(void *opaque, struct hart *h, uint64_t off, unsigned size, uint64_t val)
{
	struct uart *u = opaque;
	uint8_t v = val;

	switch (off) {
	case 0:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			break;
		}
		tx(u, v);
		u->thr_ipending = true;	/* sent at once: THR is empty again */
		update(u);
		break;
	case 1:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			break;
		}
		/* Enabling ETBEI while THR is empty raises THRE at once. */
		if ((v & IER_ETBEI) && !(u->ier & IER_ETBEI))
			u->thr_ipending = true;
		u->ier = v & 0x0f;
		update(u);
		break;
	case 2:
		u->fcr = v;
		if (v & FCR_CLEAR_RX) {
			u->rx_head = 0;
			u->rx_count = 0;
		}
		update(u);
		break;
	case 3:
		u->lcr = v;
		break;
	case 4:
		u->mcr = v & 0x1f;
		break;
	case 7:
		u->scr = v;
		break;
	}
	return 0;
}
